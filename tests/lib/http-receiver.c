/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tests' HTTP receiver (see http-receiver.h) on libmicrohttpd's
 * internal polling thread. "Hang" suspends the connection after the request
 * is read (MHD_suspend_connection): the thread goes on serving others,
 * which is the point of the parallel tests. "Close" refuses the request
 * (MHD_NO), which makes MHD drop the connection without an answer.
 */

#include "tests/lib/http-receiver.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>

struct rule {
        char *prefix;
        enum http_receiver_mode mode;
        int status;
        char *body;
};

/* One request being received; becomes a struct http_request when complete. */
struct pending {
        char *uri;
        struct http_request req;
        size_t n_headers;
        bool started, recorded, suspended;
        struct MHD_Connection *connection;
        struct pending *next_hung;
};

struct HttpReceiver {
        struct MHD_Daemon *daemon;
        int port;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        struct rule *rules;
        size_t n_rules;
        struct http_request *requests;
        size_t n_requests;
        struct pending *hung; /* suspended connections, resumed at stop */
};

static void *xmalloc0(size_t n)
{
        void *p = calloc(1, n ? n : 1);
        if (!p)
                abort();
        return p;
}

static char *xstrdup(const char *s)
{
        char *p = strdup(s ? s : "");
        if (!p)
                abort();
        return p;
}

static void *xrealloc(void *p, size_t n)
{
        p = realloc(p, n);
        if (!p)
                abort();
        return p;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *connection)
{
        struct pending *p = xmalloc0(sizeof(*p));

        /* The raw request-target, query included: the access handler only gets the path. */
        p->uri = xstrdup(uri);
        p->connection = connection;
        return p;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        struct pending *p = cls;
        char *line;

        if (asprintf(&line, "%s: %s", key, value ? value : "") < 0)
                abort();
        p->req.headers = xrealloc(p->req.headers, (p->n_headers + 2) * sizeof(char *));
        p->req.headers[p->n_headers++] = line;
        p->req.headers[p->n_headers] = NULL;
        return MHD_YES;
}

static const struct rule *match_rule(HttpReceiver *r, const char *uri)
{
        size_t path_len = strcspn(uri, "?");

        for (size_t i = r->n_rules; i > 0; i--) {
                const struct rule *ru = &r->rules[i - 1];
                size_t n = strlen(ru->prefix);
                if (n <= path_len && strncmp(uri, ru->prefix, n) == 0)
                        return ru;
        }
        return NULL;
}

static void copy_request(struct http_request *dst, const struct http_request *src)
{
        size_t n = 0;

        *dst = *src;
        dst->method = xstrdup(src->method);
        dst->path = xstrdup(src->path);
        dst->body = xmalloc0(src->body_len + 1);
        memcpy(dst->body, src->body ? src->body : "", src->body_len);
        while (src->headers && src->headers[n])
                n++;
        dst->headers = xmalloc0((n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++)
                dst->headers[i] = xstrdup(src->headers[i]);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        HttpReceiver *r = cls;
        struct pending *p = *con_cls;
        struct rule rule = { .mode = HTTP_RECEIVER_ANSWER, .status = 200 };
        struct MHD_Response *resp;
        enum MHD_Result ret;

        if (!p)
                return MHD_NO;
        if (!p->started) {
                p->started = true;
                p->req.method = xstrdup(method);
                p->req.path = xstrdup(p->uri);
                MHD_get_connection_values(connection, MHD_HEADER_KIND, collect_header, p);
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                p->req.body = xrealloc(p->req.body, p->req.body_len + *upload_data_size + 1);
                memcpy(p->req.body + p->req.body_len, upload_data, *upload_data_size);
                p->req.body_len += *upload_data_size;
                p->req.body[p->req.body_len] = '\0';
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (p->recorded)
                return MHD_NO; /* resumed at stop: just close */

        pthread_mutex_lock(&r->lock);
        const struct rule *ru = match_rule(r, p->uri);
        if (ru)
                rule = (struct rule){ .mode = ru->mode, .status = ru->status, .body = xstrdup(ru->body) };
        else
                rule.body = xstrdup("{\"errcode\":0,\"errmsg\":\"ok\"}");
        p->req.mode = rule.mode;
        p->req.status = rule.mode == HTTP_RECEIVER_ANSWER ? rule.status : 0;
        p->req.received_at = now_usec(CLOCK_MONOTONIC);
        r->requests = xrealloc(r->requests, (r->n_requests + 1) * sizeof(*r->requests));
        copy_request(&r->requests[r->n_requests++], &p->req);
        p->recorded = true;
        if (rule.mode == HTTP_RECEIVER_HANG) {
                p->suspended = true;
                p->next_hung = r->hung;
                r->hung = p;
        }
        pthread_cond_broadcast(&r->changed);
        pthread_mutex_unlock(&r->lock);

        switch (rule.mode) {
        case HTTP_RECEIVER_HANG:
                free(rule.body);
                MHD_suspend_connection(connection);
                return MHD_YES;
        case HTTP_RECEIVER_CLOSE:
                free(rule.body);
                return MHD_NO;
        case HTTP_RECEIVER_ANSWER:
                break;
        }
        resp = MHD_create_response_from_buffer(strlen(rule.body), rule.body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(rule.body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", rule.body[0] == '{' ? "application/json" : "text/plain");
        ret = MHD_queue_response(connection, (unsigned)rule.status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void pending_free(struct pending *p)
{
        http_request_done(&p->req);
        free(p->uri);
        free(p);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        HttpReceiver *r = cls;
        struct pending *p = *con_cls;

        if (!p)
                return;
        pthread_mutex_lock(&r->lock);
        for (struct pending **pp = &r->hung; *pp; pp = &(*pp)->next_hung)
                if (*pp == p) {
                        *pp = p->next_hung;
                        break;
                }
        pthread_mutex_unlock(&r->lock);
        pending_free(p);
        *con_cls = NULL;
}

int http_receiver_start(HttpReceiver **ret)
{
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        HttpReceiver *r = xmalloc0(sizeof(*r));
        const union MHD_DaemonInfo *info;

        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->changed, NULL);
        r->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
                                     on_request, r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                     MHD_OPTION_URI_LOG_CALLBACK, on_uri, r, MHD_OPTION_NOTIFY_COMPLETED,
                                     on_completed, r, MHD_OPTION_END);
        if (!r->daemon) {
                int e = errno ? errno : EIO;
                http_receiver_stop(r);
                return -e;
        }
        info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
        r->port = info ? info->port : 0;
        if (r->port <= 0) {
                http_receiver_stop(r);
                return -EADDRNOTAVAIL;
        }
        *ret = r;
        return 0;
}

HttpReceiver *http_receiver_stop(HttpReceiver *r)
{
        if (!r)
                return NULL;
        if (r->daemon) {
                /* MHD must not be stopped with suspended connections: let them go first. */
                pthread_mutex_lock(&r->lock);
                for (struct pending *p = r->hung; p; p = p->next_hung)
                        if (p->suspended) {
                                p->suspended = false;
                                MHD_resume_connection(p->connection);
                        }
                pthread_mutex_unlock(&r->lock);
                MHD_stop_daemon(r->daemon);
        }
        for (size_t i = 0; i < r->n_requests; i++)
                http_request_done(&r->requests[i]);
        free(r->requests);
        for (size_t i = 0; i < r->n_rules; i++) {
                free(r->rules[i].prefix);
                free(r->rules[i].body);
        }
        free(r->rules);
        pthread_cond_destroy(&r->changed);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

int http_receiver_port(const HttpReceiver *r)
{
        return r->port;
}

char *http_receiver_url(const HttpReceiver *r, const char *path)
{
        char *s;

        if (asprintf(&s, "http://127.0.0.1:%d%s", r->port, path ? path : "/") < 0)
                abort();
        return s;
}

void http_receiver_respond(HttpReceiver *r, const char *path_prefix, enum http_receiver_mode mode, int status,
                           const char *body)
{
        pthread_mutex_lock(&r->lock);
        r->rules = xrealloc(r->rules, (r->n_rules + 1) * sizeof(*r->rules));
        r->rules[r->n_rules++] = (struct rule){
                .prefix = xstrdup(path_prefix),
                .mode = mode,
                .status = status,
                .body = xstrdup(body),
        };
        pthread_mutex_unlock(&r->lock);
}

size_t http_receiver_count(HttpReceiver *r)
{
        size_t n;

        pthread_mutex_lock(&r->lock);
        n = r->n_requests;
        pthread_mutex_unlock(&r->lock);
        return n;
}

bool http_receiver_wait(HttpReceiver *r, size_t n, usec_t timeout)
{
        struct timespec deadline;
        bool ok;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += (time_t)(timeout / USEC_PER_SEC);
        deadline.tv_nsec += (long)(timeout % USEC_PER_SEC) * 1000;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&r->lock);
        while (r->n_requests < n)
                if (pthread_cond_timedwait(&r->changed, &r->lock, &deadline) != 0)
                        break;
        ok = r->n_requests >= n;
        pthread_mutex_unlock(&r->lock);
        return ok;
}

int http_receiver_get(HttpReceiver *r, size_t i, struct http_request *ret)
{
        int e = 0;

        pthread_mutex_lock(&r->lock);
        if (i < r->n_requests)
                copy_request(ret, &r->requests[i]);
        else
                e = -ENOENT;
        pthread_mutex_unlock(&r->lock);
        return e;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
        size_t n = strlen(name);

        for (char **h = req->headers; h && *h; h++)
                if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
                        return (*h)[n + 1] == ' ' ? *h + n + 2 : *h + n + 1;
        return NULL;
}

void http_request_done(struct http_request *req)
{
        for (char **h = req->headers; h && *h; h++)
                free(*h);
        free(req->headers);
        free(req->method);
        free(req->path);
        free(req->body);
        *req = (struct http_request){};
}

void http_receiver_clear(HttpReceiver *r)
{
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n_requests; i++)
                http_request_done(&r->requests[i]);
        r->n_requests = 0;
        pthread_mutex_unlock(&r->lock);
}

int http_receiver_closed_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

        if (fd < 0)
                return -1;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &l) == 0)
                port = ntohs(a.sin_port);
        /* Closed without listen(): connecting is refused until someone else binds it. */
        close(fd);
        return port;
}
