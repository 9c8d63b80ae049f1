/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The acknowledgement pages' HTTP server: a strict request parser and one request per connection. */

#include "daemon/http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#include "daemon/log.h"

/* ---- parsing (pure) ------------------------------------------------------------------------------------------ */

size_t http_head_end(const char *buf, size_t len)
{
        /* CRLF CRLF, or bare LF LF from a hand-typed request (nc, telnet). */
        for (size_t i = 0; i + 1 < len; i++) {
                if (buf[i] != '\n')
                        continue;
                if (buf[i + 1] == '\n')
                        return i + 2;
                if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
                        return i + 3;
        }
        return 0;
}

static bool is_tchar(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decode %XX (and '+' as a space when plus_is_space) from in[0..n) into out (room for n + 1). -EINVAL on a
 * broken escape or a NUL byte. */
static int percent_decode(const char *in, size_t n, bool plus_is_space, char *out)
{
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                char c = in[i];
                if (c == '%') {
                        int hi, lo;
                        if (i + 2 >= n)
                                return -EINVAL;
                        hi = hex_value(in[i + 1]);
                        lo = hex_value(in[i + 2]);
                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        c = (char)(hi << 4 | lo);
                        i += 2;
                } else if (c == '+' && plus_is_space)
                        c = ' ';
                if (c == '\0')
                        return -EINVAL;
                out[o++] = c;
        }
        out[o] = '\0';
        return 0;
}

/* The next line of the head: NUL-terminated in place, without its CR LF. NULL at the end. */
static char *next_line(char **cursor, char *end)
{
        char *line = *cursor, *nl;

        if (line >= end)
                return NULL;
        nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl)
                return NULL;
        *cursor = nl + 1;
        if (nl > line && nl[-1] == '\r')
                nl--;
        *nl = '\0';
        return line;
}

int http_parse_head(char *buf, size_t len, char *path, size_t path_size, struct http_request *ret, const char **ret_why)
{
        char *cursor = buf, *end = buf + len, *line, *sp1, *sp2, *q;
        bool have_length = false;

        *ret = (struct http_request){ .query = "" };
        *ret_why = "";
        if (len > HTTP_HEAD_MAX) {
                *ret_why = "the request's headers are too long";
                return -431;
        }
        /* A client may send an empty line before the request line (RFC 9112, 2.2). */
        do
                line = next_line(&cursor, end);
        while (line && !*line && cursor < end);
        if (!line || !*line) {
                *ret_why = "no request line";
                return -400;
        }

        sp1 = strchr(line, ' ');
        sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2 || strchr(sp2 + 1, ' ')) {
                *ret_why = "the request line is not METHOD TARGET HTTP/1.1";
                return -400;
        }
        *sp1 = *sp2 = '\0';
        ret->method = line;
        ret->target = sp1 + 1;
        for (const char *m = line; *m; m++)
                if (!is_tchar(*m)) {
                        *ret_why = "the method is not a word";
                        return -400;
                }
        if (!streq(sp2 + 1, "HTTP/1.1") && !streq(sp2 + 1, "HTTP/1.0")) {
                *ret_why = startswith(sp2 + 1, "HTTP/") ? "only HTTP/1.0 and HTTP/1.1 are spoken here"
                                                        : "the request line does not end in HTTP/1.1";
                return startswith(sp2 + 1, "HTTP/") ? -505 : -400;
        }
        if (!streq(line, "GET") && !streq(line, "HEAD") && !streq(line, "POST")) {
                *ret_why = "only GET, HEAD and POST are answered here";
                return -501;
        }
        if (strlen(ret->target) > HTTP_TARGET_MAX) {
                *ret_why = "the address is too long";
                return -414;
        }
        if (ret->target[0] != '/') {
                *ret_why = "the address must start with /";
                return -400;
        }
        for (const unsigned char *t = (const unsigned char *)ret->target; *t; t++)
                if (*t <= 0x20 || *t == 0x7F) {
                        *ret_why = "the address has a control character";
                        return -400;
                }
        q = strchr(ret->target, '?');
        size_t plen = q ? (size_t)(q - ret->target) : strlen(ret->target);
        if (q)
                ret->query = q + 1;
        if (path_size < plen + 1 || percent_decode(ret->target, plen, false, path) < 0) {
                *ret_why = "the address has a broken %-escape";
                return -400;
        }
        ret->path = path;
        /* A fragment is never sent by a browser; cut it off if a script did. */
        char *hash = strchr(ret->query, '#');
        if (hash)
                *hash = '\0';

        while ((line = next_line(&cursor, end)) && *line) {
                char *colon = strchr(line, ':'), *value;
                if (line[0] == ' ' || line[0] == '\t') {
                        *ret_why = "folded header lines are not accepted";
                        return -400;
                }
                if (!colon || colon == line) {
                        *ret_why = "a header line has no name";
                        return -400;
                }
                *colon = '\0';
                for (const char *n = line; *n; n++)
                        if (!is_tchar(*n)) {
                                *ret_why = "a header name has a space or a strange character";
                                return -400;
                        }
                value = colon + 1;
                value += strspn(value, " \t");
                for (char *e = value + strlen(value); e > value && (e[-1] == ' ' || e[-1] == '\t'); e--)
                        e[-1] = '\0';
                for (const unsigned char *v = (const unsigned char *)value; *v; v++)
                        if ((*v < 0x20 && *v != '\t') || *v == 0x7F) {
                                *ret_why = "a header value has a control character";
                                return -400;
                        }

                if (strcasecmp(line, "Content-Length") == 0) {
                        size_t n = strspn(value, "0123456789");
                        if (n == 0 || value[n] || n > 9) {
                                *ret_why = "Content-Length is not a number";
                                return -400;
                        }
                        size_t v = (size_t)strtoul(value, NULL, 10);
                        if (have_length && v != ret->content_length) {
                                *ret_why = "two different Content-Length headers";
                                return -400;
                        }
                        have_length = true;
                        ret->content_length = v;
                } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
                        *ret_why = "send the form with a Content-Length, not chunked";
                        return -501;
                } else if (strcasecmp(line, "Content-Type") == 0)
                        ret->content_type = value;
                else if (strcasecmp(line, "Expect") == 0) {
                        if (strcasecmp(value, "100-continue") != 0) {
                                *ret_why = "only Expect: 100-continue is understood";
                                return -417;
                        }
                        ret->expect_continue = true;
                }
        }
        if (!line) {
                *ret_why = "the headers do not end with an empty line";
                return -400;
        }
        if (streq(ret->method, "POST") && !have_length) {
                *ret_why = "a POST needs a Content-Length";
                return -411;
        }
        if (ret->content_length > HTTP_BODY_MAX) {
                *ret_why = "the form is too big";
                return -413;
        }
        return 0;
}

int http_form_get(const char *form, size_t len, const char *name, char **ret)
{
        const char *p = form, *end = form + len;
        size_t name_len = strlen(name);

        while (p < end) {
                const char *amp = memchr(p, '&', (size_t)(end - p));
                const char *pair_end = amp ? amp : end;
                const char *eq = memchr(p, '=', (size_t)(pair_end - p));
                const char *key_end = eq ? eq : pair_end;
                char key[64];

                /* Field names here are short ASCII words: compare decoded, but never allocate for them. */
                if ((size_t)(key_end - p) < sizeof(key) && percent_decode(p, (size_t)(key_end - p), true, key) == 0 &&
                    strlen(key) == name_len && streq(key, name)) {
                        const char *v = eq ? eq + 1 : pair_end;
                        size_t vlen = (size_t)(pair_end - v);
                        char *out = malloc(vlen + 1);
                        if (!out)
                                return -ENOMEM;
                        if (percent_decode(v, vlen, true, out) < 0 || !utf8_valid(out)) {
                                free(out);
                                return -EINVAL;
                        }
                        *ret = out;
                        return 0;
                }
                p = pair_end + 1;
        }
        return -ENOENT;
}

char *html_escape(const char *s)
{
        size_t n = 0;
        char *out, *o;

        for (const char *p = s; *p; p++)
                n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : (*p == '"' || *p == '\'') ? 5 : 1;
        out = o = malloc(n + 1);
        if (!out)
                return NULL;
        for (const char *p = s; *p; p++) {
                const char *e = *p == '&'    ? "&amp;"
                                : *p == '<'  ? "&lt;"
                                : *p == '>'  ? "&gt;"
                                : *p == '"'  ? "&#34;"
                                : *p == '\'' ? "&#39;"
                                             : NULL;
                if (e)
                        o = stpcpy(o, e);
                else
                        *o++ = *p;
        }
        *o = '\0';
        return out;
}

const char *http_status_text(int status)
{
        switch (status) {
        case 100:
                return "Continue";
        case 200:
                return "OK";
        case 204:
                return "No Content";
        case 303:
                return "See Other";
        case 400:
                return "Bad Request";
        case 403:
                return "Forbidden";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 408:
                return "Request Timeout";
        case 410:
                return "Gone";
        case 411:
                return "Length Required";
        case 413:
                return "Content Too Large";
        case 414:
                return "URI Too Long";
        case 415:
                return "Unsupported Media Type";
        case 417:
                return "Expectation Failed";
        case 431:
                return "Request Header Fields Too Large";
        case 500:
                return "Internal Server Error";
        case 501:
                return "Not Implemented";
        case 503:
                return "Service Unavailable";
        case 505:
                return "HTTP Version Not Supported";
        default:
                return "Unknown";
        }
}

/* ---- the server ------------------------------------------------------------------------------------------ */

#define CONN_BUF (HTTP_HEAD_MAX + HTTP_BODY_MAX)

typedef struct HttpConn HttpConn;

struct HttpServer {
        sd_event *event;
        int fd;
        sd_event_source *accept_source;
        http_handler handler;
        void *userdata;
        HttpConn *conns;
        unsigned n_conns;
        usec_t timeout;
        uint64_t requests, refused;
};

struct HttpConn {
        HttpServer *server;
        HttpConn *prev, *next;
        int fd;
        sd_event_source *io, *timer;
        char remote[INET6_ADDRSTRLEN];
        size_t len, head_len;
        bool head_done, answered;
        struct http_request req;
        char *out;
        size_t out_len, out_off;
        char path[HTTP_TARGET_MAX + 1];
        char buf[CONN_BUF + 1];
};

static void conn_free(HttpConn *c)
{
        HttpServer *s = c->server;

        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_conns--;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        if (c->fd >= 0)
                close(c->fd);
        free(c->out);
        free(c);
}

/* Send what is left of the answer; close once it is all out. */
static void conn_flush(HttpConn *c)
{
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                (void)sd_event_source_set_io_events(c->io, EPOLLOUT);
                                return;
                        }
                        conn_free(c);
                        return;
                }
                c->out_off += (size_t)n;
        }
        /* Everything is sent: say so, and close. One request per connection keeps this simple. */
        (void)shutdown(c->fd, SHUT_WR);
        conn_free(c);
}

static void conn_answer(HttpConn *c, struct http_response *resp, bool head_only)
{
        int status = resp->status ? resp->status : 200;
        char *head = NULL;
        int n;

        c->answered = true;
        n = asprintf(&head,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "%s%s%s"
                     "Connection: close\r\n"
                     "Cache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     /* The links carry a token: never pass them on to another site. */
                     "Referrer-Policy: no-referrer\r\n"
                     "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
                     "\r\n",
                     status, http_status_text(status),
                     resp->content_type ? resp->content_type : "text/html; charset=utf-8", resp->body_len,
                     resp->location ? "Location: " : "", resp->location ? resp->location : "",
                     resp->location ? "\r\n" : "");
        if (n < 0) {
                log_oom();
                free(resp->body);
                free(resp->location);
                conn_free(c);
                return;
        }
        size_t body_len = head_only ? 0 : resp->body_len;
        c->out = realloc(head, (size_t)n + body_len);
        if (!c->out) {
                free(head);
                free(resp->body);
                free(resp->location);
                conn_free(c);
                return;
        }
        if (body_len)
                memcpy(c->out + n, resp->body, body_len);
        c->out_len = (size_t)n + body_len;
        free(resp->body);
        free(resp->location);
        /* Nothing more is read: stop waking for input. */
        (void)sd_event_source_set_io_events(c->io, EPOLLOUT);
        conn_flush(c);
}

static void conn_fail(HttpConn *c, int status, const char *why)
{
        struct http_response resp = { .status = status, .content_type = "text/plain; charset=utf-8" };
        int n;

        c->server->refused++;
        log_debug("HTTP: %s: %d %s: %s", c->remote, status, http_status_text(status), why);
        n = asprintf(&resp.body, "%d %s: %s.\n", status, http_status_text(status), why);
        if (n < 0) {
                conn_free(c);
                return;
        }
        resp.body_len = (size_t)n;
        conn_answer(c, &resp, false);
}

/* Look at what arrived: answer once a whole request is in. */
static void conn_progress(HttpConn *c)
{
        const char *why;
        int r;

        if (!c->head_done) {
                size_t end = http_head_end(c->buf, c->len);
                if (!end) {
                        if (c->len >= HTTP_HEAD_MAX)
                                conn_fail(c, 431, "the request's headers are too long");
                        return;
                }
                if (end > HTTP_HEAD_MAX) {
                        conn_fail(c, 431, "the request's headers are too long");
                        return;
                }
                /* The body, if any, starts at `end`: only the head is parsed (and changed in place). */
                r = http_parse_head(c->buf, end, c->path, sizeof(c->path), &c->req, &why);
                if (r < 0) {
                        conn_fail(c, -r, why);
                        return;
                }
                c->req.remote = c->remote;
                c->head_len = end;
                c->head_done = true;
                if (c->req.expect_continue && c->len < end + c->req.content_length) {
                        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                        (void)send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                }
        }
        if (c->len < c->head_len + c->req.content_length)
                return;
        if (streq(c->req.method, "POST")) {
                c->req.body = c->buf + c->head_len;
                c->req.body_len = c->req.content_length;
        }

        struct http_response resp = {0};
        c->server->requests++;
        c->server->handler(&c->req, &resp, c->server->userdata);
        conn_answer(c, &resp, streq(c->req.method, "HEAD"));
}

static int on_conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        HttpConn *c = userdata;

        if (c->answered) {
                conn_flush(c);
                return 0;
        }
        if (c->len >= CONN_BUF) {
                /* Head and body at their limits and still not whole: a well-formed request never gets here. */
                conn_fail(c, 413, "the request is too big");
                return 0;
        }
        ssize_t n;
        do
                n = recv(fd, c->buf + c->len, CONN_BUF - c->len, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno != EAGAIN)
                        conn_free(c);
                return 0;
        }
        if (n == 0) {
                /* The client went away before its request was whole. */
                conn_free(c);
                return 0;
        }
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
        /* Answers (and frees c) once the request is whole; otherwise the loop wakes us for more. */
        conn_progress(c);
        return 0;
}

static int on_conn_timeout(sd_event_source *src, uint64_t usec, void *userdata)
{
        HttpConn *c = userdata;

        if (c->answered || c->len == 0) {
                /* A reader that stopped reading, or a connection opened and never used (browsers open
                 * spare ones): close quietly. */
                if (!c->answered)
                        c->server->refused++;
                conn_free(c);
                return 0;
        }
        conn_fail(c, 408, "the request did not arrive in time");
        return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        HttpServer *s = userdata;

        for (;;) {
                struct sockaddr_storage sa;
                socklen_t salen = sizeof(sa);
                int cfd = accept4(fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno != EAGAIN)
                                log_debug_errno(errno, "HTTP: cannot accept a connection: %m");
                        return 0;
                }
                if (s->n_conns >= HTTP_CONNECTIONS_MAX) {
                        s->refused++;
                        close(cfd);
                        continue;
                }
                HttpConn *c = malloc(sizeof(*c));
                if (!c) {
                        close(cfd);
                        return 0;
                }
                memset(c, 0, offsetof(HttpConn, path));
                c->path[0] = c->buf[0] = '\0';
                c->server = s;
                c->fd = cfd;
                if (getnameinfo((struct sockaddr *)&sa, salen, c->remote, sizeof(c->remote), NULL, 0, NI_NUMERICHOST) !=
                    0)
                        snprintf(c->remote, sizeof(c->remote), "?");
                c->next = s->conns;
                if (s->conns)
                        s->conns->prev = c;
                s->conns = c;
                s->n_conns++;
                if (sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, on_conn_io, c) < 0 ||
                    sd_event_add_time_relative(s->event, &c->timer, CLOCK_MONOTONIC, s->timeout, USEC_PER_SEC / 10,
                                               on_conn_timeout, c) < 0) {
                        conn_free(c);
                        continue;
                }
        }
}

int http_server_new(sd_event *e, const char *listen_on, http_handler handler, void *userdata, HttpServer **ret)
{
        _cleanup_free_ char *host = NULL;
        const char *colon = strrchr(listen_on, ':'), *port;
        struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM }, *ai = NULL;
        int fd = -1, r = -EADDRNOTAVAIL;

        if (!colon || colon == listen_on || !colon[1])
                return -EINVAL;
        port = colon + 1;
        if (listen_on[0] == '[') {
                if (colon[-1] != ']')
                        return -EINVAL;
                host = strndup(listen_on + 1, (size_t)(colon - listen_on - 2));
        } else
                host = strndup(listen_on, (size_t)(colon - listen_on));
        if (!host)
                return -ENOMEM;
        if (getaddrinfo(isempty(host) ? NULL : host, port, &hints, &ai) != 0)
                return -EADDRNOTAVAIL;
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
                fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
                if (fd < 0) {
                        r = -errno;
                        continue;
                }
                int one = 1;
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 16) == 0)
                        break;
                r = -errno;
                close(fd);
                fd = -1;
        }
        freeaddrinfo(ai);
        if (fd < 0)
                return r;

        HttpServer *s = calloc(1, sizeof(*s));
        if (!s) {
                close(fd);
                return -ENOMEM;
        }
        s->event = sd_event_ref(e);
        s->fd = fd;
        s->handler = handler;
        s->userdata = userdata;
        s->timeout = HTTP_TIMEOUT;
        r = sd_event_add_io(e, &s->accept_source, fd, EPOLLIN, on_accept, s);
        if (r < 0) {
                http_server_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

HttpServer *http_server_free(HttpServer *s)
{
        if (!s)
                return NULL;
        while (s->conns)
                conn_free(s->conns);
        sd_event_source_disable_unref(s->accept_source);
        if (s->fd >= 0)
                close(s->fd);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

void http_server_set_timeout(HttpServer *s, usec_t timeout)
{
        s->timeout = timeout;
}

int http_server_port(HttpServer *s)
{
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);

        if (getsockname(s->fd, (struct sockaddr *)&sa, &len) < 0)
                return -errno;
        if (sa.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *)&sa)->sin_port);
        if (sa.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        return -EAFNOSUPPORT;
}

void http_server_get_stats(HttpServer *s, struct http_server_stats *ret)
{
        *ret = (struct http_server_stats){ .requests = s->requests, .refused = s->refused, .connections = s->n_conns };
}
