/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A local HTTP server for tests: started by the test on a free port of
 * 127.0.0.1, in a thread of its own (libmicrohttpd), so the code under test
 * talks real HTTP over real sockets. It records every request (method, path
 * with query, headers, body) and answers as told, per path prefix:
 *
 *   - answer with a status and a body (200, 500, 404, a WeCom-style errcode…),
 *   - hang: read the whole request and never answer (until the receiver
 *     stops), as a server that accepted the connection and then died,
 *   - close: read the whole request, then close the connection without a
 *     single byte of answer.
 *
 * Thread-safe: the test's loop (or a daemon in another process) sends while
 * the receiver's own thread records. All functions abort the test on OOM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "daemon/util.h"

typedef struct HttpReceiver HttpReceiver;

enum http_receiver_mode {
        HTTP_RECEIVER_ANSWER, /* answer with the status and body given */
        HTTP_RECEIVER_HANG,   /* never answer; the connection stays open until http_receiver_stop() */
        HTTP_RECEIVER_CLOSE,  /* close the connection without answering */
};

/* One recorded request; a copy the caller owns (http_request_done()). */
struct http_request {
        char *method;        /* "POST" */
        char *path;          /* as sent, with the query string: "/cgi-bin/webhook/send?key=abc" */
        char **headers;      /* "Name: value" in the order received, NULL-terminated */
        char *body;          /* NUL-terminated (also if the body has none) */
        size_t body_len;
        enum http_receiver_mode mode; /* what the receiver did with it */
        int status;          /* the status answered, 0 for hang and close */
        usec_t received_at;  /* CLOCK_MONOTONIC, when the whole request was in */
};

/*
 * Start listening on 127.0.0.1, on a port the kernel picks. Until told
 * otherwise every request is answered 200 with {"errcode":0,"errmsg":"ok"}
 * (what a WeCom robot says). Returns 0, or -errno if the server cannot start.
 */
int http_receiver_start(HttpReceiver **ret);

/*
 * Stop: hanging connections are let go (closed), the thread joined, and
 * everything freed. Accepts NULL. Returns NULL.
 */
HttpReceiver *http_receiver_stop(HttpReceiver *r);
DEFINE_FREE_FUNC(HttpReceiver, http_receiver_stop);

int http_receiver_port(const HttpReceiver *r);

/* "http://127.0.0.1:<port><path>"; path should start with '/'. malloc'd. */
char *http_receiver_url(const HttpReceiver *r, const char *path);

/*
 * How to treat requests whose path (without the query) starts with
 * path_prefix; NULL or "" for every path. The most recently set matching
 * rule wins, so set the general rule first and the exceptions after.
 * status and body are used for HTTP_RECEIVER_ANSWER (body NULL: empty);
 * the answer's Content-Type is application/json if the body starts with
 * '{', text/plain otherwise.
 */
void http_receiver_respond(HttpReceiver *r, const char *path_prefix, enum http_receiver_mode mode, int status,
                           const char *body);

/* Requests recorded so far (hanging and closed ones included). */
size_t http_receiver_count(HttpReceiver *r);

/*
 * Block until at least n requests are recorded or timeout passes; true if
 * they were. For a client in another process (the daemon): a test driving
 * an sd-event loop in this thread must run its loop instead.
 */
bool http_receiver_wait(HttpReceiver *r, size_t n, usec_t timeout);

/* A copy of request i (0 is the first received). 0, or -ENOENT if there is no such request. */
int http_receiver_get(HttpReceiver *r, size_t i, struct http_request *ret);
/* The value of header name (case-insensitive), or NULL. Points into req. */
const char *http_request_header(const struct http_request *req, const char *name);
void http_request_done(struct http_request *req);

/* Forget the requests recorded so far (rules stay). */
void http_receiver_clear(HttpReceiver *r);

/* A port on 127.0.0.1 where nothing listens (bound, then closed): "connection refused". */
int http_receiver_closed_port(void);
