/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The webhook channel: an HTTP POST (or PUT) through libcurl's multi
 * interface, driven by the sd-event loop — curl tells us which sockets to
 * watch and when to wake it (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION), so
 * nothing ever blocks the loop and a hanging server never delays anything
 * else. The body is the alert JSON with the message added, or a template
 * with {placeholders} for WeCom/DingTalk group robots, ntfy, Gotify or an
 * SMS gateway's HTTP API.
 */

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "daemon/channel.h"
#include "daemon/log.h"

struct webhook_channel {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        char *url, *method, *content_type, *body_template;
        struct curl_slist *headers;
        usec_t connect_timeout, timeout;
        struct webhook_request *requests;
        int running;
};

struct webhook_request {
        Channel *channel;
        CURL *easy;
        char *body;
        char response[256];
        size_t response_len;
        channel_done_cb done;
        void *userdata;
        struct webhook_request *next;
};

struct socket_watch {
        sd_event_source *io;
};

int channel_webhook_global_init(void)
{
        /* Once, before any thread: curl's global state is not thread-safe to set up. */
        return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

static void check_done(struct webhook_channel *w);

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct webhook_channel *w = userdata;
        int action = 0;

        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        (void)curl_multi_socket_action(w->multi, fd, action, &w->running);
        check_done(w);
        return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        struct webhook_channel *w = userp;
        struct socket_watch *sw = socketp;
        uint32_t events = 0;

        if (what == CURL_POLL_REMOVE) {
                if (sw) {
                        sd_event_source_disable_unref(sw->io);
                        free(sw);
                        curl_multi_assign(w->multi, fd, NULL);
                }
                return 0;
        }
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;
        if (!sw) {
                sw = calloc(1, sizeof(*sw));
                if (!sw)
                        return -1;
                if (sd_event_add_io(w->event, &sw->io, fd, events, on_io, w) < 0) {
                        free(sw);
                        return -1;
                }
                curl_multi_assign(w->multi, fd, sw);
                return 0;
        }
        return sd_event_source_set_io_events(sw->io, events) < 0 ? -1 : 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct webhook_channel *w = userdata;

        (void)curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &w->running);
        check_done(w);
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
        struct webhook_channel *w = userp;
        usec_t now;

        if (timeout_ms < 0) {
                if (w->timer)
                        (void)sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
                return 0;
        }
        sd_event_now(w->event, CLOCK_MONOTONIC, &now);
        if (w->timer) {
                if (sd_event_source_set_time(w->timer, now + (usec_t)timeout_ms * USEC_PER_MSEC) < 0 ||
                    sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT) < 0)
                        return -1;
                return 0;
        }
        return sd_event_add_time(w->event, &w->timer, CLOCK_MONOTONIC, now + (usec_t)timeout_ms * USEC_PER_MSEC, 1000,
                                 on_timer, w) < 0
                       ? -1
                       : 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct webhook_request *req = userdata;
        size_t n = size * nmemb, room = sizeof(req->response) - 1 - req->response_len;
        size_t k = n < room ? n : room;

        memcpy(req->response + req->response_len, ptr, k);
        req->response_len += k;
        req->response[req->response_len] = '\0';
        return n;
}

static void request_free(struct webhook_request *req)
{
        free(req->body);
        free(req);
}

static void check_done(struct webhook_channel *w)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(w->multi, &left))) {
                struct webhook_request *req = NULL;
                char detail[400];
                long status = 0;
                int error = 0;
                bool permanent = false;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
                curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
                for (char *p = req->response; *p; p++)
                        if (*p == '\n' || *p == '\r')
                                *p = ' ';
                if (msg->data.result != CURLE_OK) {
                        snprintf(detail, sizeof(detail), "%s", curl_easy_strerror(msg->data.result));
                        error = msg->data.result == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
                        /* A URL curl cannot use will not work next time either. */
                        permanent = msg->data.result == CURLE_URL_MALFORMAT ||
                                    msg->data.result == CURLE_UNSUPPORTED_PROTOCOL;
                } else if (status >= 200 && status < 300)
                        snprintf(detail, sizeof(detail), "HTTP %ld%s%.120s", status, req->response_len ? ": " : "",
                                 req->response);
                else {
                        error = -EIO;
                        /* 4xx means the request is wrong (url, key, body) — except "try later". */
                        permanent = status >= 400 && status < 500 && status != 408 && status != 429;
                        snprintf(detail, sizeof(detail), "HTTP %ld%s%.120s%s", status, req->response_len ? ": " : "",
                                 req->response,
                                 permanent ? " — check the url and key in the channel's section of the config" : "");
                }
                for (struct webhook_request **pp = &w->requests; *pp; pp = &(*pp)->next)
                        if (*pp == req) {
                                *pp = req->next;
                                break;
                        }
                curl_multi_remove_handle(w->multi, msg->easy_handle);
                curl_easy_cleanup(msg->easy_handle);
                channel_done_cb done = req->done;
                void *ud = req->userdata;
                Channel *c = req->channel;
                request_free(req);
                done(c, error, permanent, detail, ud);
        }
}

/* Replace {name} placeholders; JSON-escape values for a JSON body. */
static char *render_template(const char *tpl, const struct delivery_message *m, bool json)
{
        char alert_id[24];
        const struct {
                const char *name, *value;
        } vars[] = {
                { "alert_id", alert_id },         { "purpose", m->purpose },
                { "rule", m->rule },              { "severity", m->severity },
                { "title", m->title },            { "text", m->text },
                { "ack_url", m->ack_url },        { "contact_id", m->contact_id },
                { "contact_name", m->contact_name }, { "contact_phone", m->contact_phone },
                { "resident_id", m->resident_id }, { "resident_name", m->resident_name },
                { "building", m->building },      { "flat", m->flat },
                { "opened_at", m->opened_at },
        };
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);

        if (!f)
                return NULL;
        snprintf(alert_id, sizeof(alert_id), "%lld", (long long)m->alert_id);
        for (const char *p = tpl; *p; p++) {
                const char *close;
                size_t n;
                bool done = false;
                if (*p != '{' || !(close = strchr(p, '}'))) {
                        fputc(*p, f);
                        continue;
                }
                n = (size_t)(close - p - 1);
                for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                        if (strlen(vars[i].name) == n && strncmp(p + 1, vars[i].name, n) == 0) {
                                const char *v = strempty(vars[i].value);
                                if (json) {
                                        /* Escape as a JSON string body, without the quotes. */
                                        char *esc = NULL;
                                        cJSON *s = cJSON_CreateString(v);
                                        if (s && (esc = cJSON_PrintUnformatted(s))) {
                                                size_t l = strlen(esc);
                                                fwrite(esc + 1, 1, l >= 2 ? l - 2 : 0, f);
                                        }
                                        free(esc);
                                        cJSON_Delete(s);
                                } else
                                        fputs(v, f);
                                p = close;
                                done = true;
                                break;
                        }
                if (!done)
                        fputc(*p, f); /* not a placeholder we know: left visible */
        }
        fclose(f);
        return out;
}

static char *default_body(const struct delivery_message *m)
{
        cJSON *o = m->alert_json ? cJSON_Parse(m->alert_json) : NULL;
        char *s;

        if (!o)
                o = cJSON_CreateObject();
        if (!o)
                return NULL;
        cJSON *msg = cJSON_AddObjectToObject(o, "message");
        if (msg) {
                cJSON_AddNumberToObject(msg, "alert", (double)m->alert_id);
                cJSON_AddStringToObject(msg, "purpose", strempty(m->purpose));
                cJSON_AddStringToObject(msg, "contact", strempty(m->contact_id));
                cJSON_AddStringToObject(msg, "contact_name", strempty(m->contact_name));
                cJSON_AddStringToObject(msg, "contact_phone", strempty(m->contact_phone));
                cJSON_AddStringToObject(msg, "title", strempty(m->title));
                cJSON_AddStringToObject(msg, "text", strempty(m->text));
                cJSON_AddStringToObject(msg, "ack_url", strempty(m->ack_url));
        }
        s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return s;
}

static int webhook_send(Channel *c, const struct delivery_message *m, channel_done_cb done, void *userdata)
{
        struct webhook_channel *w = c->data;
        struct webhook_request *req;
        bool json = !w->content_type || strstr(w->content_type, "json");
        CURL *e;

        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        req->channel = c;
        req->done = done;
        req->userdata = userdata;
        req->body = w->body_template ? render_template(w->body_template, m, json) : default_body(m);
        e = curl_easy_init();
        if (!req->body || !e) {
                curl_easy_cleanup(e);
                request_free(req);
                return -ENOMEM;
        }
        req->easy = e;
        curl_easy_setopt(e, CURLOPT_URL, w->url);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, w->method ? w->method : "POST");
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(w->connect_timeout / USEC_PER_MSEC));
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(w->timeout / USEC_PER_MSEC));
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "shouwang/" SHOUWANG_VERSION);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
        curl_easy_setopt(e, CURLOPT_PRIVATE, req);
        if (curl_multi_add_handle(w->multi, e) != CURLM_OK) {
                curl_easy_cleanup(e);
                request_free(req);
                return -EIO;
        }
        req->next = w->requests;
        w->requests = req;
        return 0;
}

static void webhook_free(Channel *c)
{
        struct webhook_channel *w = c->data;

        if (!w)
                return;
        for (struct webhook_request *req = w->requests; req;) {
                struct webhook_request *next = req->next;
                curl_multi_remove_handle(w->multi, req->easy);
                curl_easy_cleanup(req->easy);
                request_free(req);
                req = next;
        }
        curl_multi_cleanup(w->multi);
        sd_event_source_disable_unref(w->timer);
        curl_slist_free_all(w->headers);
        free(w->url);
        free(w->method);
        free(w->content_type);
        free(w->body_template);
        sd_event_unref(w->event);
        free(w);
}

static const struct channel_ops webhook_ops = {
        .type = "webhook",
        .send = webhook_send,
        .available = NULL,
        .free = webhook_free,
};

int channel_webhook_new(sd_event *e, const char *name, const struct webhook_settings *s, Channel **ret)
{
        Channel *c = calloc(1, sizeof(*c));
        struct webhook_channel *w = calloc(1, sizeof(*w));
        char ct[160];

        if (!c || !w) {
                free(c);
                free(w);
                return -ENOMEM;
        }
        c->ops = &webhook_ops;
        c->data = w;
        w->event = sd_event_ref(e);
        w->url = strdup(strempty(s->url));
        w->method = s->method ? strdup(s->method) : NULL;
        w->content_type = strdup(s->content_type ? s->content_type : "application/json");
        w->body_template = s->body_template ? strdup(s->body_template) : NULL;
        w->connect_timeout = s->connect_timeout ? s->connect_timeout : 5 * USEC_PER_SEC;
        w->timeout = s->timeout ? s->timeout : 15 * USEC_PER_SEC;
        c->name = strdup(name);
        w->multi = curl_multi_init();
        snprintf(ct, sizeof(ct), "Content-Type: %s", s->content_type ? s->content_type : "application/json; charset=utf-8");
        w->headers = curl_slist_append(NULL, ct);
        for (char *const *h = s->headers; h && *h; h++)
                w->headers = curl_slist_append(w->headers, *h);
        if (!w->url || !w->content_type || !c->name || !w->multi || !w->headers) {
                channel_free(c);
                return -ENOMEM;
        }
        curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
        curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
        curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
        curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
        *ret = c;
        return 0;
}
