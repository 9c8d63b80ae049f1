/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the integration tests: temp dirs, free loopback ports, files,
 * the built binaries, a private Mosquitto, waiting for text to appear.
 * Functions assert (cmocka) on setup failures rather than return errors:
 * a test that cannot set up must fail loudly, not half run.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A fresh directory /tmp/shouwang-test-NAME-XXXXXX in buf; removed by tu_rmdir() unless KEEP_TEST_DIR is set. */
void tu_mkdtemp(const char *name, char *buf, size_t size);
void tu_rmdir(const char *dir);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int tu_free_port(void);
bool tu_port_open(int port);

void tu_write_file(const char *path, const char *text);
/* $SHOUWANG_TOP/$BUILD/rel (defaults: ".", "build"). */
const char *tu_build_path(const char *rel, char *buf, size_t size);
/* $SHOUWANG_TOP/rel. */
const char *tu_top_path(const char *rel, char *buf, size_t size);

/* Run a shell command, capture up to size-1 bytes of its stdout; returns the exit status (-1 if killed). */
int tu_run(const char *cmd, char *out, size_t size);

/* Wait until the file contains `what` (after byte offset *pos if pos, which then moves past it). */
bool tu_wait_file(const char *path, const char *what, size_t *pos, int timeout_ms);
/* How many times `what` occurs in the file. */
unsigned tu_count_in_file(const char *path, const char *what);

/* A private Mosquitto on a free loopback port, config and persistence in dir. */
struct tu_broker {
        pid_t pid;
        int port;
        char dir[128];
};
void tu_broker_start(struct tu_broker *b, const char *dir, int port /* 0: pick one */);
void tu_broker_stop(struct tu_broker *b);

/* Start a program with stdout and stderr appended to log; env: "NAME=value" strings, NULL-terminated. */
pid_t tu_spawn(const char *log, char *const *env, const char *prog, ...);
/* Send sig and wait up to timeout_ms; returns the exit status, or -1 (it was killed with SIGKILL after the wait). */
int tu_stop(pid_t pid, int sig, int timeout_ms);
