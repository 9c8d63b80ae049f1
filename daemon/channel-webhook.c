/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The webhook channel: one HTTP POST (or PUT) per attempt through libcurl's
 * multi interface, driven by the sd-event loop. curl says which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION → one sd-event io source per socket) and
 * when to wake it (CURLMOPT_TIMERFUNCTION → one sd-event timer); we hand
 * readiness back with curl_multi_socket_action() and collect finished
 * transfers with curl_multi_info_read(). Nothing blocks the loop, so a
 * server that hangs delays nothing but its own request, and that only
 * until the total timeout. (systemd's src/import/curl-util.c is the model.)
 *
 * The body is the alert JSON with the message, or a template with
 * {placeholders} for WeCom/DingTalk group robots, ntfy, Gotify or an SMS
 * gateway's HTTP API (examples/webhooks/). URLs are never logged: they
 * carry robot keys and tokens.
 *
 * libcurl is loaded with dlopen() when the first webhook channel is made: it
 * pulls in some 30 libraries (TLS, Kerberos, LDAP, SSH, HTTP/2 …), and a
 * gateway whose contacts are reached over MQTT and an SMS command never
 * needs them (docs/performance.md, figures 4 and 7).
 */

#include <cjson/cJSON.h>
/* The calls go through function pointers (curl_api below), where curl's
 * type-checking macros cannot follow. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <strings.h>

#include "daemon/channel.h"
#include "daemon/log.h"
#include "daemon/template.h"

#define RESPONSE_MAX 1024
#define DETAIL_MAX 400

struct webhook_channel {
        Channel *channel;
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        char *url, *method, *content_type, *body_template;
        char **headers; /* "Name: value" templates */
        unsigned body_escape;
        usec_t connect_timeout, timeout;
        struct webhook_request *requests;
        struct socket_watch *sockets;
};

struct webhook_request {
        struct webhook_channel *w;
        CURL *easy;
        struct curl_slist *headers;
        char *url, *body;
        char response[RESPONSE_MAX];
        size_t response_len;
        char error[CURL_ERROR_SIZE];
        channel_done_cb done;
        void *userdata;
        struct webhook_request *next;
};

/* One socket curl asked us to watch. */
struct socket_watch {
        struct webhook_channel *w;
        curl_socket_t fd;
        sd_event_source *io;
        struct socket_watch *next;
};

/* The libcurl functions we call. */
static struct {
        void *dl;
        __typeof__(curl_global_init) *global_init;
        __typeof__(curl_easy_init) *easy_init;
        __typeof__(curl_easy_setopt) *easy_setopt;
        __typeof__(curl_easy_getinfo) *easy_getinfo;
        __typeof__(curl_easy_cleanup) *easy_cleanup;
        __typeof__(curl_easy_strerror) *easy_strerror;
        __typeof__(curl_multi_init) *multi_init;
        __typeof__(curl_multi_setopt) *multi_setopt;
        __typeof__(curl_multi_add_handle) *multi_add_handle;
        __typeof__(curl_multi_remove_handle) *multi_remove_handle;
        __typeof__(curl_multi_socket_action) *multi_socket_action;
        __typeof__(curl_multi_assign) *multi_assign;
        __typeof__(curl_multi_info_read) *multi_info_read;
        __typeof__(curl_multi_cleanup) *multi_cleanup;
        __typeof__(curl_slist_append) *slist_append;
        __typeof__(curl_slist_free_all) *slist_free_all;
} curl;

static int curl_load(void)
{
        static const char soname[] = "libcurl.so.4";
#define SYM(name) { "curl_" #name, (void **)&curl.name }
        const struct dl_symbol syms[] = {
                SYM(global_init),      SYM(easy_init),           SYM(easy_setopt),         SYM(easy_getinfo),
                SYM(easy_cleanup),     SYM(easy_strerror),       SYM(multi_init),          SYM(multi_setopt),
                SYM(multi_add_handle), SYM(multi_remove_handle), SYM(multi_socket_action), SYM(multi_assign),
                SYM(multi_info_read),  SYM(multi_cleanup),       SYM(slist_append),        SYM(slist_free_all),
        };
#undef SYM
        char why[256];
        void *dl;
        int r;

        if (curl.dl)
                return 0;
        r = dlopen_symbols(soname, syms, ELEMENTSOF(syms), &dl, why, sizeof(why));
        if (r < 0) {
                log_error("Webhooks need %s: %s — install Debian's libcurl4 (7.68 or newer)", soname, why);
                return r;
        }
        /* libcurl 7.84 and later make this safe while other threads run (the MQTT connect worker may); it
         * is called once, on the loop thread. */
        if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                log_error("%s could not initialise itself", soname);
                dlclose(dl);
                return -EIO;
        }
        curl.dl = dl;
        return 0;
}

int channel_webhook_global_init(void)
{
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        int r;

        pthread_mutex_lock(&lock);
        r = curl_load();
        pthread_mutex_unlock(&lock);
        return r;
}

/* ---- curl ↔ sd-event ----------------------------------------------------------------------------------- */

static void check_finished(struct webhook_channel *w);

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct webhook_channel *w = userdata;
        int action = 0, running = 0;

        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        if (curl.multi_socket_action(w->multi, fd, action, &running) != CURLM_OK)
                log_debug("[%s] curl could not take an I/O event on fd %d", w->channel->name, fd);
        check_finished(w);
        return 0;
}

static void socket_watch_free(struct webhook_channel *w, struct socket_watch *sw)
{
        for (struct socket_watch **pp = &w->sockets; *pp; pp = &(*pp)->next)
                if (*pp == sw) {
                        *pp = sw->next;
                        break;
                }
        sd_event_source_disable_unref(sw->io);
        free(sw);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        struct webhook_channel *w = userp;
        struct socket_watch *sw = socketp;
        uint32_t events = 0;

        if (what == CURL_POLL_REMOVE) {
                if (sw) {
                        curl.multi_assign(w->multi, fd, NULL);
                        socket_watch_free(w, sw);
                }
                return 0;
        }
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (sw) {
                if (sd_event_source_set_io_events(sw->io, events) < 0 ||
                    sd_event_source_set_enabled(sw->io, SD_EVENT_ON) < 0)
                        return -1;
                return 0;
        }
        sw = calloc(1, sizeof(*sw));
        if (!sw)
                return -1;
        *sw = (struct socket_watch){ .w = w, .fd = fd };
        if (sd_event_add_io(w->event, &sw->io, fd, events, on_io, w) < 0) {
                free(sw);
                return -1;
        }
        (void)sd_event_source_set_description(sw->io, "webhook-io");
        if (curl.multi_assign(w->multi, fd, sw) != CURLM_OK) {
                sd_event_source_disable_unref(sw->io);
                free(sw);
                return -1;
        }
        sw->next = w->sockets;
        w->sockets = sw;
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct webhook_channel *w = userdata;
        int running = 0;

        if (curl.multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
                log_debug("[%s] curl could not take a timeout", w->channel->name);
        check_finished(w);
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
        struct webhook_channel *w = userp;
        usec_t now, when;

        if (timeout_ms < 0) {
                if (w->timer && sd_event_source_set_enabled(w->timer, SD_EVENT_OFF) < 0)
                        return -1;
                return 0;
        }
        /* Rounded up: waking a little early would only make curl ask again. */
        if (sd_event_now(w->event, CLOCK_MONOTONIC, &now) < 0)
                now = now_usec(CLOCK_MONOTONIC);
        when = now + (usec_t)timeout_ms * USEC_PER_MSEC + USEC_PER_MSEC - 1;
        if (w->timer) {
                if (sd_event_source_set_time(w->timer, when) < 0 ||
                    sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT) < 0)
                        return -1;
                return 0;
        }
        /* 1 ms accuracy: the default 250 ms would delay every request's start. */
        if (sd_event_add_time(w->event, &w->timer, CLOCK_MONOTONIC, when, USEC_PER_MSEC, on_timer, w) < 0)
                return -1;
        (void)sd_event_source_set_description(w->timer, "webhook-timer");
        return 0;
}

/* ---- one request --------------------------------------------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct webhook_request *req = userdata;
        size_t n = size * nmemb, room = sizeof(req->response) - 1 - req->response_len;
        size_t k = n < room ? n : room;

        /* Only the start is kept, for the delivery log; the rest is read and dropped. */
        memcpy(req->response + req->response_len, ptr, k);
        req->response_len += k;
        req->response[req->response_len] = '\0';
        return n;
}

static void request_free(struct webhook_request *req)
{
        if (!req)
                return;
        if (req->easy) {
                curl.multi_remove_handle(req->w->multi, req->easy);
                curl.easy_cleanup(req->easy);
        }
        curl.slist_free_all(req->headers);
        free(req->url);
        free(req->body);
        free(req);
}

static void request_unlink(struct webhook_channel *w, struct webhook_request *req)
{
        for (struct webhook_request **pp = &w->requests; *pp; pp = &(*pp)->next)
                if (*pp == req) {
                        *pp = req->next;
                        return;
                }
}

/* What to tell the installer for a 4xx: the answer names what is wrong. */
static const char *status_hint(long status)
{
        switch (status) {
        case 400:
        case 422:
                return "the service refused the body: check template and content_type";
        case 401:
        case 403:
                return "refused: check the key or token";
        case 404:
        case 410:
                return "check the url";
        case 405:
                return "check method (POST or PUT)";
        case 413:
                return "the message is too long for this service";
        case 415:
                return "check content_type";
        }
        return "check the url, key and template";
}

/* A short, one-line excerpt of what the server said, for the delivery log. */
static void response_excerpt(struct webhook_request *req, char *buf, size_t size)
{
        snprintf(buf, size, "%s", req->response);
        channel_detail_clean(buf, 160);
        strstrip(buf);
}

/*
 * WeCom and DingTalk robots answer HTTP 200 to everything and put the verdict
 * in {"errcode":…,"errmsg":…}: without this, a revoked key would be "sent".
 * Returns true if the answer carries a non-zero errcode.
 */
static bool robot_refused(struct webhook_request *req, long *ret_code, char *errmsg, size_t size, bool *ret_retry)
{
        cJSON *o = cJSON_Parse(req->response), *code, *msg;
        bool refused = false;

        code = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "errcode") : NULL;
        if (cJSON_IsNumber(code) && code->valuedouble != 0) {
                refused = true;
                *ret_code = (long)code->valuedouble;
                msg = cJSON_GetObjectItemCaseSensitive(o, "errmsg");
                snprintf(errmsg, size, "%s", cJSON_IsString(msg) ? msg->valuestring : "");
                channel_detail_clean(errmsg, 120);
                /* -1 WeCom busy; 45009/45033 WeCom rate limits; 130101/130102 DingTalk "too fast". */
                *ret_retry = *ret_code == -1 || *ret_code == 45009 || *ret_code == 45033 || *ret_code == 130101 ||
                             *ret_code == 130102;
        }
        cJSON_Delete(o);
        return refused;
}

/* Classify a finished transfer: error, permanent, detail. */
static void request_outcome(struct webhook_request *req, CURLcode result, int *ret_error, bool *ret_permanent,
                            char *detail, size_t size)
{
        const char *name = req->w->channel->name;
        const char *why = !isempty(req->error) ? req->error : curl.easy_strerror(result);
        char excerpt[200];
        long status = 0;

        *ret_error = 0;
        *ret_permanent = false;
        if (result != CURLE_OK) {
                switch (result) {
                case CURLE_OPERATION_TIMEDOUT:
                        *ret_error = -ETIMEDOUT;
                        snprintf(detail, size, "timed out: %s", why);
                        break;
                case CURLE_COULDNT_CONNECT:
                        *ret_error = -ECONNREFUSED;
                        snprintf(detail, size, "cannot connect: %s", why);
                        break;
                case CURLE_COULDNT_RESOLVE_HOST:
                case CURLE_COULDNT_RESOLVE_PROXY:
                        /* DNS or the uplink may come back: worth retrying. */
                        *ret_error = -EHOSTUNREACH;
                        snprintf(detail, size, "cannot find the server: %s — is the gateway online?", why);
                        break;
                case CURLE_GOT_NOTHING:
                        *ret_error = -ECONNRESET;
                        snprintf(detail, size, "the server closed the connection without answering");
                        break;
                case CURLE_SEND_ERROR:
                case CURLE_RECV_ERROR:
                        *ret_error = -ECONNRESET;
                        snprintf(detail, size, "connection broken: %s", why);
                        break;
                case CURLE_URL_MALFORMAT:
                case CURLE_UNSUPPORTED_PROTOCOL:
                        *ret_error = -EINVAL;
                        *ret_permanent = true;
                        snprintf(detail, size, "%s — check the url in [%s]", why, name);
                        break;
                case CURLE_PEER_FAILED_VERIFICATION:
                case CURLE_SSL_CONNECT_ERROR:
                case CURLE_SSL_CERTPROBLEM:
                case CURLE_SSL_CACERT_BADFILE:
                        /* Often the clock of a Pi that booted without network: retry. */
                        *ret_error = -EPROTO;
                        snprintf(detail, size, "TLS: %s — check the gateway's clock and the certificate", why);
                        break;
                default:
                        *ret_error = -EIO;
                        snprintf(detail, size, "%s", why);
                }
                channel_detail_clean(detail, DETAIL_MAX);
                return;
        }

        curl.easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
        response_excerpt(req, excerpt, sizeof(excerpt));
        if (status >= 200 && status < 300) {
                long code = 0;
                char errmsg[160];
                bool retry = false;

                if (robot_refused(req, &code, errmsg, sizeof(errmsg), &retry)) {
                        *ret_error = retry ? -EAGAIN : -EIO;
                        *ret_permanent = !retry;
                        snprintf(detail, size, "HTTP %ld but the service refused it: errcode %ld %s%s%s%s", status,
                                 code, errmsg, retry ? "" : " — check the url, key and template in [",
                                 retry ? "" : name, retry ? "" : "]");
                        if (code == 310000)
                                /* DingTalk's security settings: the most common first-day mistake. */
                                snprintf(detail + strlen(detail), size - strlen(detail),
                                         " (DingTalk: add the keyword 守望 to the robot, or allow this gateway's IP)");
                } else
                        snprintf(detail, size, "HTTP %ld%s%s", status, *excerpt ? ": " : "", excerpt);
        } else if (status == 408 || status == 429 || status >= 500) {
                *ret_error = status == 429 ? -EAGAIN : -EIO;
                snprintf(detail, size, "HTTP %ld%s%s", status, *excerpt ? ": " : "", excerpt);
        } else if (status >= 400) {
                *ret_error = -EIO;
                *ret_permanent = true;
                snprintf(detail, size, "HTTP %ld: %s in [%s]%s%s", status, status_hint(status), name,
                         *excerpt ? " — the server said: " : "", excerpt);
        } else if (status >= 300) {
                char *location = NULL;
                *ret_error = -EIO;
                *ret_permanent = true;
                curl.easy_getinfo(req->easy, CURLINFO_REDIRECT_URL, &location);
                /* Redirects are not followed (a POST must not turn into a GET elsewhere); the
                 * target is not printed, it may hold the key. */
                snprintf(detail, size, "HTTP %ld: the url redirects elsewhere%s — put the final url in [%s]", status,
                         location && startswith(location, "https://") && startswith(req->url, "http://")
                                 ? " (to https://)"
                                 : "",
                         name);
        } else {
                *ret_error = -EIO;
                snprintf(detail, size, "unexpected HTTP status %ld", status);
        }
        channel_detail_clean(detail, DETAIL_MAX);
}

static void check_finished(struct webhook_channel *w)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl.multi_info_read(w->multi, &left))) {
                struct webhook_request *req = NULL;
                char detail[DETAIL_MAX + 96];
                int error;
                bool permanent;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                if (curl.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req) != CURLE_OK || !req)
                        continue;
                request_outcome(req, msg->data.result, &error, &permanent, detail, sizeof(detail));
                log_debug("[%s] %s", w->channel->name, detail);

                channel_done_cb done = req->done;
                void *userdata = req->userdata;
                request_unlink(w, req);
                request_free(req); /* msg is invalid from here */
                done(w->channel, error, permanent, detail, userdata);
        }
}

static unsigned escape_for(const char *content_type)
{
        if (strcasestr(content_type, "json"))
                return TEMPLATE_ESCAPE_JSON;
        if (strcasestr(content_type, "x-www-form-urlencoded"))
                return TEMPLATE_ESCAPE_URL;
        return 0;
}

static int webhook_send(Channel *c, const struct delivery_message *m, channel_done_cb done, void *userdata)
{
        struct webhook_channel *w = c->data;
        struct template_var vars[CHANNEL_MESSAGE_VARS_MAX];
        struct channel_vars_scratch scratch;
        struct webhook_request *req;
        size_t n_vars;
        char *ct = NULL;
        int r = -ENOMEM;

        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        *req = (struct webhook_request){ .w = w, .done = done, .userdata = userdata };
        n_vars = channel_message_vars(m, vars, &scratch);

        if (w->body_template)
                r = template_render(w->body_template, vars, n_vars, w->body_escape, &req->body, NULL);
        else
                r = (req->body = channel_message_json(m)) ? 0 : -ENOMEM;
        if (r >= 0)
                r = template_render(w->url, vars, n_vars, TEMPLATE_ESCAPE_URL, &req->url, NULL);
        if (r >= 0 && asprintf(&ct, "Content-Type: %s", w->content_type) < 0)
                r = -ENOMEM;
        if (r >= 0 && !(req->headers = curl.slist_append(NULL, ct)))
                r = -ENOMEM;
        free(ct);
        /* No "Expect: 100-continue" round trip before larger bodies: many small servers never answer it. */
        if (r >= 0 && !curl.slist_append(req->headers, "Expect:"))
                r = -ENOMEM;
        for (char **h = w->headers; r >= 0 && h && *h; h++) {
                _cleanup_free_ char *line = NULL;
                r = template_render(*h, vars, n_vars, TEMPLATE_ONE_LINE, &line, NULL);
                if (r >= 0 && !curl.slist_append(req->headers, line))
                        r = -ENOMEM;
        }
        channel_vars_scratch_done(&scratch);
        if (r >= 0 && !(req->easy = curl.easy_init()))
                r = -ENOMEM;
        if (r < 0) {
                request_free(req);
                return -ENOMEM;
        }

        CURL *e = req->easy;
        CURLcode cr = CURLE_OK;
#define SET(opt, val)                                                                                            \
        do {                                                                                                     \
                if (cr == CURLE_OK)                                                                              \
                        cr = curl.easy_setopt(e, opt, val);                                                      \
        } while (0)
        SET(CURLOPT_URL, req->url);
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_POST, 1L);
        if (streq(w->method, "PUT"))
                SET(CURLOPT_CUSTOMREQUEST, "PUT");
        SET(CURLOPT_POSTFIELDS, req->body);
        SET(CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
        SET(CURLOPT_HTTPHEADER, req->headers);
        SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(w->connect_timeout / USEC_PER_MSEC));
        SET(CURLOPT_TIMEOUT_MS, (long)(w->timeout / USEC_PER_MSEC));
        /* No SIGALRM for DNS timeouts: signals belong to the loop. */
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_USERAGENT, "shouwang/" SHOUWANG_VERSION);
        SET(CURLOPT_WRITEFUNCTION, write_cb);
        SET(CURLOPT_WRITEDATA, req);
        SET(CURLOPT_ERRORBUFFER, req->error);
        SET(CURLOPT_PRIVATE, req);
#undef SET
        if (cr != CURLE_OK) {
                log_warning("[%s] curl refused an option: %s", c->name, curl.easy_strerror(cr));
                request_free(req);
                return -EIO;
        }
        if (curl.multi_add_handle(w->multi, e) != CURLM_OK) {
                curl.easy_cleanup(e);
                req->easy = NULL;
                request_free(req);
                return -EIO;
        }
        /* curl now asks for a timer at 0 ms: the transfer starts on the next loop iteration. */
        req->next = w->requests;
        w->requests = req;
        return 0;
}

static void webhook_free(Channel *c)
{
        struct webhook_channel *w = c->data;

        if (!w)
                return;
        /* In-flight requests are dropped without calling back (channel.h); the outbox retries them. */
        while (w->requests) {
                struct webhook_request *req = w->requests;
                w->requests = req->next;
                request_free(req);
        }
        if (w->multi)
                curl.multi_cleanup(w->multi);
        while (w->sockets)
                socket_watch_free(w, w->sockets);
        sd_event_source_disable_unref(w->timer);
        for (char **h = w->headers; h && *h; h++)
                free(*h);
        free(w->headers);
        free(w->url);
        free(w->method);
        free(w->content_type);
        free(w->body_template);
        sd_event_unref(w->event);
        free(w);
        c->data = NULL;
}

static const struct channel_ops webhook_ops = {
        .type = "webhook",
        .send = webhook_send,
        .available = NULL, /* a webhook is tried; a failure is an attempt */
        .free = webhook_free,
};

/* Render a template with the sample message: warn about typos while the installer is watching. */
static void check_template(Channel *c, const char *what, const char *tpl, unsigned flags, bool want_json)
{
        struct template_var vars[CHANNEL_MESSAGE_VARS_MAX];
        struct channel_vars_scratch scratch;
        _cleanup_free_ char *out = NULL, *unknown = NULL;
        size_t n = channel_message_vars(&channel_sample_message, vars, &scratch);
        int r = template_render(tpl, vars, n, flags, &out, &unknown);

        channel_vars_scratch_done(&scratch);
        if (r > 0)
                log_warning("[%s] %s: unknown placeholder %s — it is sent as it is. Known: {title}, {text}, "
                            "{message}, {ack_url}, {contact_phone}, {contact_name}, {resident_name}, {building}, "
                            "{flat}, {severity}, {priority}, … (docs/channels.md)",
                            c->name, what, unknown);
        if (r >= 0 && want_json) {
                cJSON *j = cJSON_Parse(out);
                if (!j)
                        log_warning("[%s] %s does not make valid JSON (content_type says JSON): check quotes and "
                                    "commas around the {placeholders}",
                                    c->name, what);
                cJSON_Delete(j);
        }
}

int channel_webhook_new(sd_event *e, const char *name, const struct webhook_settings *s, Channel **ret)
{
        _cleanup_(channel_freep) Channel *c = NULL;
        struct webhook_channel *w;
        size_t n_headers = 0;
        int r;

        if (!s->url || (!startswith(s->url, "http://") && !startswith(s->url, "https://")))
                return -EINVAL;
        if (s->method && !streq(s->method, "POST") && !streq(s->method, "PUT"))
                return -EINVAL;
        r = channel_webhook_global_init();
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ops = &webhook_ops;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        c->data = w;
        w->channel = c;
        w->event = sd_event_ref(e);
        w->connect_timeout = s->connect_timeout ? s->connect_timeout : 5 * USEC_PER_SEC;
        w->timeout = s->timeout ? s->timeout : 15 * USEC_PER_SEC;
        c->name = strdup(name);
        w->url = strdup(s->url);
        w->method = strdup(s->method ? s->method : "POST");
        w->content_type = strdup(!isempty(s->content_type) ? s->content_type : "application/json; charset=utf-8");
        w->body_template = s->body_template ? strdup(s->body_template) : NULL;
        for (char *const *h = s->headers; h && *h; h++)
                n_headers++;
        w->headers = calloc(n_headers + 1, sizeof(char *));
        if (!c->name || !w->url || !w->method || !w->content_type || (s->body_template && !w->body_template) ||
            !w->headers)
                return -ENOMEM;
        for (size_t i = 0; i < n_headers; i++)
                if (!(w->headers[i] = strdup(s->headers[i])))
                        return -ENOMEM;
        w->body_escape = escape_for(w->content_type);
        if (w->body_template) {
                /* Saved by an editor: a BOM would break JSON, a final newline a form value. */
                char *b = w->body_template;
                size_t n;
                if (startswith(b, "\xEF\xBB\xBF"))
                        memmove(b, b + 3, strlen(b + 3) + 1);
                n = strlen(b);
                while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
                        b[--n] = '\0';
        }

        w->multi = curl.multi_init();
        if (!w->multi)
                return -ENOMEM;
        if (curl.multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
            curl.multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w) != CURLM_OK ||
            curl.multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
            curl.multi_setopt(w->multi, CURLMOPT_TIMERDATA, w) != CURLM_OK)
                return -EIO;

        check_template(c, "url", w->url, TEMPLATE_ESCAPE_URL, false);
        if (w->body_template)
                check_template(c, "template", w->body_template, w->body_escape,
                               w->body_escape == TEMPLATE_ESCAPE_JSON);
        for (char **h = w->headers; *h; h++)
                check_template(c, "header", *h, TEMPLATE_ONE_LINE, false);

        *ret = TAKE_PTR(c);
        return 0;
}
