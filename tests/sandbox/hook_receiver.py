#!/usr/bin/env python3
"""A webhook receiver for strict.sh: answers the first FAILS deliveries
with 500 and the rest with 202, and appends each delivery (body, the
X-Signature header, the status given) to OUT as one JSON line.

    hook_receiver.py PORT FAILS OUT
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, FAILS, OUT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
seen = [0]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            seen[0] += 1
            status = 500 if seen[0] <= FAILS else 202
            with open(OUT, "a") as f:
                f.write(json.dumps({"body": body.decode(),
                                    "sig": self.headers.get("X-Signature"),
                                    "status": status}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
