# docsync: the five stages, docsyncctl (the operators' command) and the
# sandbox in one image; docker-compose.yml runs each stage from it with its
# own command.

# ---- build: compile every binary with the Makefile
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config librdkafka-dev libcurl4-openssl-dev \
      libjansson-dev libhiredis-dev libmicrohttpd-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY common/ common/
COPY ingest/ ingest/
COPY fetcher/ fetcher/
COPY mapper/ mapper/
COPY uploader/ uploader/
COPY verifier/ verifier/
COPY ctl/ ctl/
COPY tests/sandbox/ tests/sandbox/
RUN make -j"$(nproc)" all

# ---- runtime: the shared libraries only, a non-root user
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libcurl4 libjansson4 libhiredis0.14 libmicrohttpd12 libssl3 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/docsync docsync \
 && mkdir -p /var/lib/docsync/blobs /etc/docsync \
 && chown -R docsync:docsync /var/lib/docsync
COPY --from=build /src/bin/ /usr/local/bin/
USER docsync
WORKDIR /var/lib/docsync
ENV BLOB_DIR=/var/lib/docsync/blobs
# Each service names its stage, e.g. `command: ["docsync-fetcher"]`;
# operators run `docker-compose run --rm --no-deps fetcher docsyncctl ...`.
CMD ["docsync-ingest"]
