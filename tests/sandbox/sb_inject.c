/* sb_inject.c - the answers of chaos faults; see sb_inject.h. */
#include "sb_inject.h"

#include <poll.h>
#include <time.h>

/* How often a hang looks whether its client is still there. */
#define HANG_POLL_MS 50L

typedef enum { HANG_ELAPSED, HANG_STOPPED, HANG_CLIENT_GONE } hang_end;

static long ms_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - start->tv_sec) * 1000 +
           (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* True when the client has closed its side of the connection, or it broke.
 * The request has been read whole, so nothing else is due from the client
 * but a pipelined request, which does not count as leaving. */
static int client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};

    if (fd < 0 || poll(&p, 1, 0) <= 0)
        return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Holds the calling thread ms milliseconds, looking every HANG_POLL_MS
 * whether the client has gone. */
static hang_end hang(sb_state *st, int fd, long ms)
{
    struct timespec start;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        long left = ms - ms_since(&start);

        if (left <= 0)
            return HANG_ELAPSED;
        if (sb_state_sleep_ms(st, left < HANG_POLL_MS ? left
                                                      : HANG_POLL_MS) != 0)
            return HANG_STOPPED;
        if (client_gone(fd))
            return HANG_CLIENT_GONE;
    }
}

/* The error token of an injected 5xx status. */
static const char *error_of(int status)
{
    switch (status) {
    case 500:
        return "internal";
    case 502:
        return "bad_gateway";
    default:
        return "unavailable";
    }
}

int sb_inject_answer(sb_state *st, const sb_chaos_fault *f, int client_fd,
                     sb_reply *out)
{
    switch (f->kind) {
    case SB_CHAOS_5XX:
        sb_reply_error(out, f->status, error_of(f->status),
                       "injected_fault");
        break;
    case SB_CHAOS_429:
        sb_reply_error(out, 429, "rate_limited", "injected_burst");
        out->retry_after_s = f->retry_after_s;
        break;
    case SB_CHAOS_HANG:
        switch (hang(st, client_fd, f->hang_ms)) {
        case HANG_CLIENT_GONE:
            return -1;
        case HANG_STOPPED:
            sb_reply_error(out, 503, "stopping", NULL);
            break;
        case HANG_ELAPSED:
            sb_reply_error(out, 503, "unavailable", "injected_hang");
            break;
        }
        break;
    default:
        sb_reply_error(out, 500, "internal", "no_fault");
        break;
    }
    return 0;
}
