/*
 * sb_inject.h - what a chaos fault answers in place of the handler: the
 * 5xx and 429 replies, and the hang that holds a request until its client
 * leaves, its time is up or the sandbox stops.
 */
#ifndef SB_INJECT_H
#define SB_INJECT_H

#include "sb_call.h"
#include "sb_chaos.h"
#include "sb_state.h"

/* Sets in out the answer of f, a fault of kind SB_CHAOS_5XX, SB_CHAOS_429
 * or SB_CHAOS_HANG:
 *   5xx:  f->status with {"error":"internal"|"bad_gateway"|"unavailable",
 *         "reason":"injected_fault"};
 *   429:  {"error":"rate_limited","reason":"injected_burst"} and
 *         Retry-After f->retry_after_s;
 *   hang: first holds the calling thread up to f->hang_ms, then 503
 *         {"error":"unavailable","reason":"injected_hang"}; 503
 *         {"error":"stopping"} at once when sb_state_stop is called.
 * client_fd is the client's socket, watched during a hang (-1: not
 * watched). Returns 0, or -1 with out untouched when the client closed the
 * connection during the hang: nobody is left to answer. */
int sb_inject_answer(sb_state *st, const sb_chaos_fault *f, int client_fd,
                     sb_reply *out);

#endif
