/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test support for integration tests: everything a test needs to run the
 * real programs the way systemd and a building's network would.
 *
 *   - a private temp dir per test, removed when the test program exits 0
 *     and kept (its path printed) when a test failed or KEEP_TEST_DIR=1;
 *   - files, free loopback ports, the paths of the built binaries;
 *   - child processes with extra environment and their output in a log
 *     file; waiting for a line in that log, for a port, for an exit — all
 *     driven by inotify/pidfd/poll, not by fixed sleeps;
 *   - a private NOTIFY_SOCKET that records what sd_notify() sent;
 *   - a private Mosquitto (optionally with a password and TLS) and
 *     mosquitto_pub/mosquitto_sub pointed at it.
 *
 * Ownership and cleanup: every child is put in its own process group, gets
 * SIGKILL if the test program dies (PR_SET_PDEATHSIG), and is killed with
 * its group when its handle is freed, when the test program exits, or when
 * it gets SIGTERM/SIGINT (the runner's timeout): a failed or hung test never
 * leaves a daemon or a broker behind.
 *
 * Every function returns 0 (or a documented non-negative value) on success
 * and a negative errno on failure; when a wait fails the function prints
 * what it was waiting for, and the end of the log it watched, to stderr
 * (which the test runner keeps), so a test only has to assert the result.
 * Nothing here uses cmocka: tools and benchmarks link this file too.
 * Not thread-safe: call from the test's main thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemon/util.h"

/* ---- paths ----------------------------------------------------------------------------------- */

/* The source tree: $SHOUWANG_TOP (set by tests/run-tests.sh), else ".". Never NULL; not to be freed. */
const char *harness_top(void);

/* "$SHOUWANG_TOP/$BUILD/name" ($BUILD defaults to "build"; an absolute $BUILD is used as is). malloc'd, NULL
 * on OOM. harness_build_path("shouwangd") is the daemon under test. */
char *harness_build_path(const char *name);

/* "$SHOUWANG_TOP/rel", e.g. harness_top_path("examples/residents.csv"). malloc'd, NULL on OOM. */
char *harness_top_path(const char *rel);

/* "dir/name", malloc'd; NULL on OOM. */
char *harness_path(const char *dir, const char *name);

/* ---- temp dirs and files --------------------------------------------------------------------- */

/*
 * Make a private directory $TMPDIR/shouwang-NAME-XXXXXX (mode 0700; /tmp without TMPDIR) and return its path
 * in *ret_dir (malloc'd, the caller frees the string). The directory itself is removed when the test program
 * exits with status 0 (or 77, skipped) unless KEEP_TEST_DIR=1; otherwise its path is printed so it can be
 * inspected.
 */
int harness_tmpdir(const char *name, char **ret_dir);

/* Replace path with text (mode 0644). 0 or -errno. */
int harness_write_file(const char *path, const char *text);
/* Same, with printf formatting. */
int harness_write_filef(const char *path, const char *fmt, ...) _printf_(2, 3);

/* ---- network --------------------------------------------------------------------------------- */

/* A TCP port on 127.0.0.1 that nobody listened on a moment ago (bound once, then released). Port > 0 or
 * -errno. */
int harness_free_port(void);

/*
 * Wait until 127.0.0.1:port accepts a TCP connection. If pid > 0 and that process exits first, return
 * -ECHILD at once (it will never listen). Returns 0, -ETIMEDOUT or -ECHILD.
 */
int harness_wait_port(int port, pid_t pid, usec_t timeout);

/* ---- waiting for text in a file -------------------------------------------------------------- */

/*
 * Wait until the file at path has a complete line (ending in '\n') that contains needle, looking only at
 * what comes after byte *offset (offset NULL: the whole file); on success *offset moves past that line, so a
 * second wait finds the next occurrence. The file may not exist yet. Woken by inotify, not by polling. If
 * pid > 0 and that process exits before the line appears, the file is read once more and -ECHILD is
 * returned. Returns 0, -ETIMEDOUT or -ECHILD.
 */
int harness_wait_line(const char *path, const char *needle, size_t *offset, pid_t pid, usec_t timeout);

/* How many lines of the file contain needle (0 if it does not exist). */
unsigned harness_count_lines(const char *path, const char *needle);

/* ---- child processes ------------------------------------------------------------------------- */

typedef struct HarnessChild HarnessChild;

struct harness_spawn_args {
        /* argv[0] is the program's path (no $PATH search); NULL-terminated. */
        char *const *argv;
        /* Changes to our environment: "NAME=value" sets, "NAME" removes; NULL-terminated, or NULL. */
        char *const *env;
        /* stdout and stderr are appended to this file; NULL: /dev/null. */
        const char *log;
        /* Set WATCHDOG_PID to the child's own pid, as systemd does with WatchdogSec=. */
        bool watchdog_pid;
};

/*
 * Start a program. stdin is /dev/null; the signal mask and SIGPIPE are reset; it gets its own process group.
 * A program that cannot be executed is reported here (-ENOENT, -EACCES…), not as exit status 127 later.
 * On success *ret owns the process: harness_child_free() kills it if it still runs.
 */
int harness_spawn(const struct harness_spawn_args *args, HarnessChild **ret);

/* The child's pid (also its process group id). */
pid_t harness_child_pid(const HarnessChild *c);

/* The log file given to harness_spawn(), or NULL. */
const char *harness_child_log(const HarnessChild *c);

/* Whether the child is still running (reaps it if it just exited). */
bool harness_child_running(HarnessChild *c);

/*
 * Wait for the next line in the child's log containing needle (each call continues after the previous
 * match). Returns 0; -ETIMEDOUT; -ECHILD when the child exited first (its status is kept for
 * harness_child_wait()).
 */
int harness_child_wait_line(HarnessChild *c, const char *needle, usec_t timeout);

/*
 * Wait up to timeout for the child to exit, without signalling it. Returns its exit status (0-255), 128+N if
 * signal N killed it (as a shell says), or -ETIMEDOUT (it still runs). Can be called again after it exited.
 */
int harness_child_wait(HarnessChild *c, usec_t timeout);

/* Send sig to the child (not its group), then harness_child_wait(c, timeout). */
int harness_child_stop(HarnessChild *c, int sig, usec_t timeout);

/* Kill the child's whole process group with SIGKILL if anything in it still runs, reap the child, free. NULL
 * ok. */
HarnessChild *harness_child_free(HarnessChild *c);
DEFINE_FREE_FUNC(HarnessChild, harness_child_free);

/*
 * Run a program to completion with the same rules as harness_spawn() (env changes, no watchdog), collecting
 * its stdout and stderr together in *ret_output (malloc'd, NUL-terminated; pass NULL to drop it). Returns
 * the exit status as harness_child_wait() does; -ETIMEDOUT after killing it when it ran longer than timeout.
 */
int harness_run(char *const *argv, char *const *env, usec_t timeout, char **ret_output);

/* ---- a private NOTIFY_SOCKET ----------------------------------------------------------------- */

typedef struct HarnessNotify HarnessNotify;

/*
 * Bind an AF_UNIX datagram socket at dir/notify (SO_PASSCRED on, so every message comes with its sender's
 * pid). Give a child NOTIFY_SOCKET=harness_notify_path(n) and what it sends with sd_notify() is kept here.
 */
int harness_notify_new(const char *dir, HarnessNotify **ret);

/* The socket's path, for NOTIFY_SOCKET=. */
const char *harness_notify_path(const HarnessNotify *n);

/*
 * Wait for a message containing what (e.g. "READY=1") from pid (0: from anyone). Messages are kept in the
 * order they came and each call continues after the previous match, so nothing that arrives while waiting
 * for something else is lost. *ret_message (may be NULL) gets the whole message (not to be freed; valid
 * until harness_notify_free()), *ret_when (may be NULL) the CLOCK_MONOTONIC time it was received. Returns 0
 * or -ETIMEDOUT.
 */
int harness_notify_wait(HarnessNotify *n, pid_t pid, const char *what, usec_t timeout,
                        const char **ret_message, usec_t *ret_when);

/*
 * The other way round: watch for duration and make sure no message containing what comes from pid (0:
 * anyone). Returns 0 if none came, -EEXIST (printed) if one did. Moves past what it looked at, like
 * harness_notify_wait().
 */
int harness_notify_expect_none(HarnessNotify *n, pid_t pid, const char *what, usec_t duration);

/* Receive what is queued without waiting, then count the messages so far that contain what. */
unsigned harness_notify_count(HarnessNotify *n, const char *what);

/*
 * The value of the last "FIELD=value" line received so far (e.g. field "STATUS"), after receiving what is
 * queued. NULL if none came. Not to be freed; valid until the next call or harness_notify_free().
 */
const char *harness_notify_last(HarnessNotify *n, const char *field);

HarnessNotify *harness_notify_free(HarnessNotify *n);
DEFINE_FREE_FUNC(HarnessNotify, harness_notify_free);

/* ---- a private Mosquitto --------------------------------------------------------------------- */

typedef struct HarnessBroker HarnessBroker;

struct harness_broker_options {
        int port;             /* 0: a free one */
        const char *username; /* with password: a password file, anonymous clients refused */
        const char *password;
        bool tls;         /* a CA and a server certificate for 127.0.0.1 are made with openssl; ssl:// */
        bool persistence; /* keep retained and queued messages on disk across a restart */
};

/*
 * Start /usr/sbin/mosquitto with a generated config in dir/mosquitto-PORT/ (listener on 127.0.0.1 only,
 * set_tcp_nodelay, its log in mosquitto.log there) and wait until it accepts connections. opts may be NULL.
 * -ENOENT when Mosquitto is not installed (a test may skip then).
 */
int harness_broker_start(const char *dir, const struct harness_broker_options *opts, HarnessBroker **ret);

/* Stop it (SIGTERM, wait) and keep the handle, so harness_broker_restart() brings it back on the same port.
 */
int harness_broker_stop(HarnessBroker *b);

/* Start it again on the same port with the same config, and wait until it accepts connections. */
int harness_broker_restart(HarnessBroker *b);

int harness_broker_port(const HarnessBroker *b);
/* "tcp://127.0.0.1:PORT", or "ssl://…" with tls. */
const char *harness_broker_uri(const HarnessBroker *b);
/* The CA certificate clients must trust (tls), else NULL. */
const char *harness_broker_ca_file(const HarnessBroker *b);
/* The broker's own log. */
const char *harness_broker_log(const HarnessBroker *b);

/* Publish once with mosquitto_pub as the configured user (QoS 1). Returns 0, or -EIO with its output
 * printed. */
int harness_broker_publish(HarnessBroker *b, const char *topic, const char *payload, bool retain);

/*
 * Start mosquitto_sub -v on topic (as the configured user), its output ("topic payload" lines) appended to
 * log; wait for lines with harness_child_wait_line(). Returns once the subscription is acknowledged.
 */
int harness_broker_subscribe(HarnessBroker *b, const char *topic, const char *log, HarnessChild **ret);

/* Stop the broker if it runs and free the handle. NULL ok. */
HarnessBroker *harness_broker_free(HarnessBroker *b);
DEFINE_FREE_FUNC(HarnessBroker, harness_broker_free);
