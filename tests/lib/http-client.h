/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A raw HTTP client for tests of servers that run on the test's own sd-event
 * loop (daemon/http.c, daemon/web.c): the request goes out from a thread of
 * its own over a real loopback socket, byte for byte as given (so a test can
 * send garbage, a half request, or nothing), while this thread runs the loop
 * until the server has answered and closed. Nothing here uses cmocka.
 */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

#include "daemon/util.h"

struct tu_http_answer {
        int status; /* from the status line; 0 if none came */
        char *head; /* the status line and headers, NUL-terminated */
        char *body; /* what followed the empty line, NUL-terminated */
        size_t body_len;
        usec_t took; /* until the server closed */
};
void tu_http_answer_done(struct tu_http_answer *a);

/* The value of a header in a->head ("Location"), malloc'd; NULL if absent. */
char *tu_http_header(const struct tu_http_answer *a, const char *name);

/*
 * Connect to 127.0.0.1:port, send request[0..len) (then, if pause > 0, wait
 * that long with the connection open before reading), read until the server
 * closes, while running e. Gives up after timeout. Returns 0 with *ret
 * filled, or -errno (-ETIMEDOUT).
 */
int tu_http_exchange(sd_event *e, int port, const char *request, size_t len, usec_t timeout,
                     struct tu_http_answer *ret);

/* A GET of target ("/a/1?c=C2&t=…"). */
int tu_http_get(sd_event *e, int port, const char *target, struct tu_http_answer *ret);

/* A POST of a form (application/x-www-form-urlencoded) to target. */
int tu_http_post(sd_event *e, int port, const char *target, const char *form, struct tu_http_answer *ret);
