/*
 * sandbox.h - docsync-sandbox, a test double of the CRM and of the
 * transaction system, on one HTTP port. See docs/sandbox.md.
 *
 * This header holds what the whole program agrees on: its name and exit
 * codes. Each concern lives in its own sb_*.c file.
 */
#ifndef SANDBOX_H
#define SANDBOX_H

#define SB_PROGRAM "docsync-sandbox"

#ifndef DS_VERSION
#define DS_VERSION "unknown"
#endif

#define SB_EXIT_OK 0     /* clean stop on SIGTERM/SIGINT, --help, --version */
#define SB_EXIT_FAIL 1   /* could not start: data dir, port, files */
#define SB_EXIT_USAGE 2  /* bad flags or missing required settings */

#endif
