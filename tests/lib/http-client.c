/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A raw HTTP client in a thread, while the test's loop serves. */

#include "tests/lib/http-client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>

struct exchange {
        int port;
        const char *request;
        size_t len;
        usec_t timeout;
        char *out;
        size_t out_len;
        int error;
        atomic_bool done;
};

static void *client(void *userdata)
{
        struct exchange *x = userdata;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)x->port) };
        size_t alloc = 0;
        int fd;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                x->error = -errno;
                goto out;
        }
        for (size_t off = 0; off < x->len;) {
                ssize_t n = send(fd, x->request + off, x->len - off, MSG_NOSIGNAL);
                if (n < 0) {
                        /* The server may answer (413, 431) and close before taking all of it. */
                        break;
                }
                off += (size_t)n;
        }
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r = poll(&p, 1, (int)(x->timeout / USEC_PER_MSEC));
                if (r == 0) {
                        x->error = -ETIMEDOUT;
                        break;
                }
                if (alloc - x->out_len < 4096) {
                        alloc = alloc ? alloc * 2 : 16384;
                        x->out = realloc(x->out, alloc + 1);
                        if (!x->out) {
                                x->error = -ENOMEM;
                                break;
                        }
                }
                ssize_t n = recv(fd, x->out + x->out_len, alloc - x->out_len, 0);
                if (n <= 0)
                        break; /* closed (or reset after the answer) */
                x->out_len += (size_t)n;
        }
out:
        if (fd >= 0)
                close(fd);
        atomic_store(&x->done, true);
        return NULL;
}

void tu_http_answer_done(struct tu_http_answer *a)
{
        free(a->head);
        free(a->body);
        *a = (struct tu_http_answer){0};
}

char *tu_http_header(const struct tu_http_answer *a, const char *name)
{
        size_t n = strlen(name);

        for (const char *l = a->head ? strchr(a->head, '\n') : NULL; l && l[1]; l = strchr(l + 1, '\n')) {
                const char *h = l + 1;
                if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
                        h += n + 1;
                        h += strspn(h, " ");
                        return strndup(h, strcspn(h, "\r\n"));
                }
        }
        return NULL;
}

int tu_http_exchange(sd_event *e, int port, const char *request, size_t len, usec_t timeout, struct tu_http_answer *ret)
{
        struct exchange x = { .port = port, .request = request, .len = len, .timeout = timeout };
        usec_t start = now_usec(CLOCK_MONOTONIC);
        pthread_t t;

        *ret = (struct tu_http_answer){0};
        if (pthread_create(&t, NULL, client, &x) != 0)
                return -EAGAIN;
        while (!atomic_load(&x.done))
                (void)sd_event_run(e, 20 * USEC_PER_MSEC);
        pthread_join(t, NULL);
        ret->took = now_usec(CLOCK_MONOTONIC) - start;
        if (x.error < 0 && x.out_len == 0) {
                free(x.out);
                return x.error;
        }
        if (!x.out)
                x.out = calloc(1, 1);
        x.out[x.out_len] = '\0';
        char *sep = strstr(x.out, "\r\n\r\n");
        size_t head_len = sep ? (size_t)(sep - x.out) : x.out_len;
        ret->head = strndup(x.out, head_len);
        ret->body_len = sep ? x.out_len - head_len - 4 : 0;
        ret->body = malloc(ret->body_len + 1);
        if (ret->body) {
                memcpy(ret->body, sep ? sep + 4 : "", ret->body_len);
                ret->body[ret->body_len] = '\0';
        }
        if (startswith(x.out, "HTTP/1.1 "))
                ret->status = atoi(x.out + 9);
        free(x.out);
        return ret->head && ret->body ? 0 : -ENOMEM;
}

int tu_http_get(sd_event *e, int port, const char *target, struct tu_http_answer *ret)
{
        _cleanup_free_ char *req = NULL;
        int n = asprintf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: test\r\n\r\n", target, port);

        if (n < 0)
                return -ENOMEM;
        return tu_http_exchange(e, port, req, (size_t)n, 5 * USEC_PER_SEC, ret);
}

int tu_http_post(sd_event *e, int port, const char *target, const char *form, struct tu_http_answer *ret)
{
        _cleanup_free_ char *req = NULL;
        int n = asprintf(&req,
                         "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         target, port, strlen(form), form);

        if (n < 0)
                return -ENOMEM;
        return tu_http_exchange(e, port, req, (size_t)n, 5 * USEC_PER_SEC, ret);
}
