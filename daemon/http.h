/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small HTTP/1.1 server on the sd-event loop, for the "I'm going" pages
 * (daemon/web.c). It serves GET, HEAD and POST of a small form, one request
 * per connection (Connection: close), with hard limits on every part of a
 * request and a timeout per connection, so a phone on the building's Wi-Fi
 * that stalls, or a scanner that sends garbage, costs a few kilobytes for ten
 * seconds and nothing else.
 *
 * Why not libmicrohttpd: Debian's build links GnuTLS, p11-kit and eight more
 * libraries; loading it adds 3 MiB to the daemon's resident set (measured, see
 * docs/architecture.md), twice what the pages need in total. These pages
 * need none of HTTP's harder parts (no chunked bodies, no keep-alive, no TLS:
 * a reverse proxy does that where wanted), and the request parser is a pure
 * function tested on its own (tests/unit/test-http.c).
 */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

#include "daemon/util.h"

#define HTTP_HEAD_MAX 8192               /* request line and headers */
#define HTTP_TARGET_MAX 2048             /* the request target ("/a/7?c=C2&t=…") */
#define HTTP_BODY_MAX 8192               /* a POSTed form */
#define HTTP_CONNECTIONS_MAX 32          /* at once; more are closed at once */
#define HTTP_TIMEOUT (10 * USEC_PER_SEC) /* to send a whole request and read the answer */

struct http_request {
        const char *method;       /* "GET", "HEAD" or "POST" */
        const char *target;       /* as sent, e.g. "/a/7?c=C2&t=…" */
        const char *path;         /* percent-decoded, without the query: "/a/7" */
        const char *query;        /* after '?', still encoded; "" if none */
        const char *content_type; /* NULL if not sent */
        const char *body;         /* POST: the body (not NUL-terminated), else NULL */
        size_t body_len;
        size_t content_length; /* from Content-Length; 0 if none */
        bool expect_continue;  /* "Expect: 100-continue" */
        const char *remote;    /* the client's address, for the log */
};

/*
 * Parse a request's head: buf holds exactly the request line and the
 * headers, up to and including the empty line. buf is changed in place (the
 * strings in *ret point into it, or into path, which gets the decoded path;
 * path_size >= len is enough). Returns 0, or a negative HTTP status
 * (-400, -414, -431, -501, -505, -411, -413) with *ret_why saying what was
 * wrong, for the answer's body. Pure: no I/O, no allocation.
 */
int http_parse_head(char *buf, size_t len, char *path, size_t path_size, struct http_request *ret,
                    const char **ret_why);

/* Where the head ends in what arrived so far: the offset just past the empty line, or 0 if not yet. */
size_t http_head_end(const char *buf, size_t len);

/*
 * The value of field `name` in an application/x-www-form-urlencoded text (a
 * query string or a POSTed form; len bytes, no NUL needed): '+' is a space,
 * %XX is decoded. The first occurrence wins. Returns 0 with *ret malloc'd;
 * -ENOENT if the field is absent; -EINVAL for a broken %-escape, a NUL byte,
 * or text that is not UTF-8; -ENOMEM.
 */
int http_form_get(const char *form, size_t len, const char *name, char **ret);

/* s with & < > " ' as entities, for HTML text and attribute values. malloc'd, NULL on OOM. */
char *html_escape(const char *s);

/* The reason phrase of a status: 200 "OK", 404 "Not Found"… */
const char *http_status_text(int status);

/* ---- the server ------------------------------------------------------------------------------------------- */

struct http_response {
        int status;               /* 200 if left 0 */
        const char *content_type; /* default "text/html; charset=utf-8" */
        char *location;           /* for a 303: malloc'd, freed by the server */
        char *body;               /* malloc'd, freed by the server; NULL: empty */
        size_t body_len;
};

/* Answer one request: fill resp. Called on the loop; HEAD is answered as GET without the body. */
typedef void (*http_handler)(const struct http_request *req, struct http_response *resp, void *userdata);

typedef struct HttpServer HttpServer;

/*
 * Listen on "ADDRESS:PORT" ("0.0.0.0:8080", "[::]:8080", "192.168.1.20:8080").
 * Returns 0; -EADDRINUSE, -EADDRNOTAVAIL, -EACCES… when the socket cannot be
 * bound (nothing is left behind: the caller may try again later); -EINVAL for
 * an address that is not HOST:PORT.
 */
int http_server_new(sd_event *e, const char *listen, http_handler handler, void *userdata, HttpServer **ret);
HttpServer *http_server_free(HttpServer *s);
DEFINE_FREE_FUNC(HttpServer, http_server_free);

/* How long a connection may take to send its request and read the answer (HTTP_TIMEOUT). For tests. */
void http_server_set_timeout(HttpServer *s, usec_t timeout);

/* The port it listens on (useful with port 0 in tests). */
int http_server_port(HttpServer *s);

struct http_server_stats {
        uint64_t requests, refused; /* refused: malformed, too big, too slow, too many at once */
        unsigned connections;       /* open now */
};
void http_server_get_stats(HttpServer *s, struct http_server_stats *ret);
