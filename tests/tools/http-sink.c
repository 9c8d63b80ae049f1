/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny HTTP receiver for the demo and for trying webhooks by hand: it
 * answers every POST/PUT with 200 {"errcode":0} (what a WeCom robot says)
 * and appends one line per request to a log: the path and the message title
 * if the body is shouwang's JSON, else the start of the body.
 *
 *   http-sink --port 8099 --log /tmp/webhooks.log [--label 企业微信群]
 */

#include <cjson/cJSON.h>
#include <getopt.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>

#include "daemon/util.h"

struct request {
        char *body;
        size_t len;
};

static const char *log_path = "/dev/stdout";
static const char *label = "webhook";

static void log_request(const char *url, const char *body)
{
        cJSON *j = cJSON_Parse(body);
        cJSON *msg = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
        cJSON *title = msg ? cJSON_GetObjectItemCaseSensitive(msg, "title") : NULL;
        cJSON *who = msg ? cJSON_GetObjectItemCaseSensitive(msg, "contact_name") : NULL;
        FILE *f = fopen(log_path, "a");

        if (f) {
                if (cJSON_IsString(title))
                        fprintf(f, "  💬 %s ← %s: %s\n", label, cJSON_IsString(who) ? who->valuestring : "?",
                                title->valuestring);
                else
                        fprintf(f, "  💬 %s ← POST %s: %.160s\n", label, url, body);
                fclose(f);
        }
        cJSON_Delete(j);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state)
{
        struct request *req = *state;
        static const char ok[] = "{\"errcode\":0,\"errmsg\":\"ok\"}";

        if (!req) {
                req = calloc(1, sizeof(*req));
                if (!req)
                        return MHD_NO;
                *state = req;
                return MHD_YES;
        }
        if (*size) {
                char *n = realloc(req->body, req->len + *size + 1);
                if (!n)
                        return MHD_NO;
                req->body = n;
                memcpy(req->body + req->len, data, *size);
                req->len += *size;
                req->body[req->len] = '\0';
                *size = 0;
                return MHD_YES;
        }
        log_request(url, req->body ? req->body : "");
        struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(ok) - 1, (void *)ok, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", "application/json");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
}

static void done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode code)
{
        struct request *req = *state;
        if (req) {
                free(req->body);
                free(req);
        }
        *state = NULL;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "port", required_argument, NULL, 'p' },
                { "log", required_argument, NULL, 'l' },
                { "label", required_argument, NULL, 'L' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int port = 0, c;
        sigset_t ss;
        int sig;

        while ((c = getopt_long(argc, argv, "p:l:L:h", options, NULL)) >= 0)
                switch (c) {
                case 'p':
                        port = atoi(optarg);
                        break;
                case 'l':
                        log_path = optarg;
                        break;
                case 'L':
                        label = optarg;
                        break;
                default:
                        printf("Usage: http-sink --port PORT [--log FILE] [--label NAME]\n");
                        return c == 'h' ? 0 : 2;
                }
        if (port <= 0) {
                fprintf(stderr, "http-sink: --port is required\n");
                return 2;
        }
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        /* Loopback only: it is a test and demo tool. */
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, handle,
                                                NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, done,
                                                NULL, MHD_OPTION_END);
        if (!d) {
                fprintf(stderr, "http-sink: cannot listen on port %d\n", port);
                return 1;
        }
        sigwait(&ss, &sig);
        MHD_stop_daemon(d);
        return 0;
}
