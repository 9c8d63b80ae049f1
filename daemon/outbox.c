/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sending pending deliveries through the channels, recording, retrying. */

#include "daemon/outbox.h"

#include <sys/random.h>

#include "daemon/alert-json.h"
#include "daemon/log.h"

#define PASS_LIMIT 64

struct inflight {
        Outbox *outbox;
        int64_t delivery_id;
        int64_t alert_id;
        char *purpose;
        char *channel;
        char *contact_id;
        int attempts;
        bool finished; /* recorded already (timed out); the late answer is ignored */
        sd_event_source *timeout;
        struct inflight *next;
};

struct token_entry {
        int64_t alert_id;
        char *contact_id;
        usec_t issued_at;
        char token[ALERT_TOKEN_LEN + 1];
        struct token_entry *next;
};

struct Outbox {
        sd_event *event;
        Store *store;
        Alerts *alerts;
        char *gateway, *public_url, *locale;
        usec_t retry_min, retry_max, attempt_timeout;
        unsigned info_attempts;
        Channel **channels;
        size_t n_channels;
        outbox_render_cb render;
        void *render_userdata;
        sd_event_source *defer, *timer;
        struct inflight *inflight;
        struct token_entry *tokens;
        struct outbox_stats stats;
        bool freeing;
};

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);
static int on_defer(sd_event_source *s, void *userdata);

int outbox_new(sd_event *e, Store *store, Alerts *alerts, const struct outbox_settings *st, Outbox **ret)
{
        Outbox *o = calloc(1, sizeof(*o));

        if (!o)
                return -ENOMEM;
        o->event = sd_event_ref(e);
        o->store = store;
        o->alerts = alerts;
        o->gateway = strdup(strempty(st->gateway));
        o->public_url = strdup(strempty(st->public_url));
        o->locale = strdup(isempty(st->locale) ? "zh_CN" : st->locale);
        o->retry_min = st->retry_min ? st->retry_min : 10 * USEC_PER_SEC;
        o->retry_max = st->retry_max ? st->retry_max : 10 * USEC_PER_MINUTE;
        o->attempt_timeout = st->attempt_timeout ? st->attempt_timeout : 60 * USEC_PER_SEC;
        o->info_attempts = st->info_attempts ? st->info_attempts : 8;
        if (!o->gateway || !o->public_url || !o->locale) {
                outbox_free(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

static void inflight_free(struct inflight *f)
{
        sd_event_source_disable_unref(f->timeout);
        free(f->purpose);
        free(f->channel);
        free(f->contact_id);
        free(f);
}

Outbox *outbox_free(Outbox *o)
{
        if (!o)
                return NULL;
        o->freeing = true;
        /* Channels first: they cancel what is in flight without calling back. */
        for (size_t i = 0; i < o->n_channels; i++)
                channel_free(o->channels[i]);
        free(o->channels);
        for (struct inflight *f = o->inflight; f;) {
                struct inflight *next = f->next;
                inflight_free(f);
                f = next;
        }
        for (struct token_entry *t = o->tokens; t;) {
                struct token_entry *next = t->next;
                explicit_bzero(t->token, sizeof(t->token));
                free(t->contact_id);
                free(t);
                t = next;
        }
        sd_event_source_disable_unref(o->defer);
        sd_event_source_disable_unref(o->timer);
        sd_event_unref(o->event);
        free(o->gateway);
        free(o->public_url);
        free(o->locale);
        free(o);
        return NULL;
}

int outbox_add_channel(Outbox *o, Channel *c)
{
        for (size_t i = 0; i < o->n_channels; i++)
                if (streq(o->channels[i]->name, c->name)) {
                        channel_free(o->channels[i]);
                        o->channels[i] = c;
                        return 0;
                }
        Channel **n = realloc(o->channels, (o->n_channels + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        o->channels = n;
        o->channels[o->n_channels++] = c;
        return 0;
}

void outbox_set_renderer(Outbox *o, outbox_render_cb cb, void *userdata)
{
        o->render = cb;
        o->render_userdata = userdata;
}

void outbox_get_stats(Outbox *o, struct outbox_stats *ret)
{
        *ret = o->stats;
        ret->in_flight = 0;
        for (struct inflight *f = o->inflight; f; f = f->next)
                ret->in_flight++;
}

void outbox_kick(Outbox *o)
{
        int r;

        if (o->freeing)
                return;
        if (o->defer) {
                (void)sd_event_source_set_enabled(o->defer, SD_EVENT_ONESHOT);
                return;
        }
        r = sd_event_add_defer(o->event, &o->defer, on_defer, o);
        if (r < 0) {
                log_error_errno(r, "Outbox: cannot schedule a pass: %m");
                return;
        }
        (void)sd_event_source_set_enabled(o->defer, SD_EVENT_ONESHOT);
}

void outbox_channel_up(Outbox *o, const char *channel)
{
        int r = store_deliveries_wake(o->store, channel, now_usec(CLOCK_REALTIME));

        if (r < 0)
                log_error("Outbox: %s", store_error(o->store));
        else if (r > 0)
                log_info("Channel %s is back: sending %d waiting deliveries", channel, r);
        outbox_kick(o);
}

int outbox_set_public_url(Outbox *o, const char *public_url)
{
        char *s = strdup(strempty(public_url));

        if (!s)
                return -ENOMEM;
        free(o->public_url);
        o->public_url = s;
        return 0;
}

char *outbox_ack_url(const char *public_url, int64_t alert_id, const char *contact_id, const char *token)
{
        _cleanup_free_ char *c = NULL;
        char *s;
        size_t n;

        if (isempty(public_url) || !token)
                return strdup("");
        /* An id may hold '&' or Chinese: escaped, the page gets it back whole. */
        c = url_escape(contact_id);
        if (!c)
                return NULL;
        n = strlen(public_url);
        if (asprintf(&s, "%.*s/a/%lld?c=%s&t=%s", (int)(n > 0 && public_url[n - 1] == '/' ? n - 1 : n), public_url,
                     (long long)alert_id, c, token) < 0)
                return NULL;
        return s;
}

static Channel *find_channel(Outbox *o, const char *name)
{
        for (size_t i = 0; i < o->n_channels; i++)
                if (streq(o->channels[i]->name, name))
                        return o->channels[i];
        return NULL;
}

static bool is_inflight(Outbox *o, int64_t id)
{
        for (struct inflight *f = o->inflight; f; f = f->next)
                if (f->delivery_id == id)
                        return true;
        return false;
}

/* The contact's token for this alert: one per run, shared by all channels; a new one after a restart,
 * and once half its lifetime has gone, so a reminder for an alert open for days never carries a dead
 * link (the older links keep working until they expire). alerts_token_issue() hands over the token
 * made in the alert's own transaction when there is one, so sending costs no commit of its own; only
 * a delivery planned before a restart, or a renewal, gets a token (and a commit) here. */
static const char *token_for(Outbox *o, int64_t alert_id, const char *contact_id, usec_t now)
{
        struct token_entry *t;
        bool fresh = false;

        for (t = o->tokens; t; t = t->next)
                if (t->alert_id == alert_id && streq(t->contact_id, contact_id))
                        break;
        if (t && now < t->issued_at + alerts_token_lifetime(o->alerts) / 2)
                return t->token;
        if (!t) {
                t = calloc(1, sizeof(*t));
                if (!t || !(t->contact_id = strdup(contact_id))) {
                        free(t);
                        return NULL;
                }
                t->alert_id = alert_id;
                fresh = true;
        }
        if (alerts_token_issue(o->alerts, alert_id, contact_id, now, t->token) < 0) {
                log_error("Outbox: cannot store a token for alert %lld: %s", (long long)alert_id,
                          store_error(o->store));
                if (fresh) {
                        free(t->contact_id);
                        free(t);
                }
                return NULL;
        }
        t->issued_at = now;
        if (fresh) {
                t->next = o->tokens;
                o->tokens = t;
        }
        return t->token;
}

static usec_t backoff(Outbox *o, int attempts)
{
        usec_t d = o->retry_min;
        uint32_t jitter = 0;

        for (int i = 1; i < attempts && d < o->retry_max; i++)
                d *= 2;
        if (d > o->retry_max)
                d = o->retry_max;
        (void)getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK);
        /* ±20 %: many failed deliveries must not all come back in the same second. */
        return d * 4 / 5 + (d * 2 / 5) * (jitter % 1000) / 1000;
}

static void record(Outbox *o, struct inflight *f, int error, bool permanent, const char *detail)
{
        usec_t now = now_usec(CLOCK_REALTIME);
        bool is_alert = streq(f->purpose, "alert") || streq(f->purpose, "alert_json");
        enum delivery_outcome outcome;
        int r;

        if (error == 0) {
                outcome = DELIVERY_SENT;
                o->stats.sent++;
        } else if (permanent || (!is_alert && (unsigned)f->attempts + 1 >= o->info_attempts)) {
                outcome = DELIVERY_FAILED;
                o->stats.failed++;
                log_warning("Could not deliver %s of alert %lld to %s by %s: %s — giving up on this channel",
                            f->purpose, (long long)f->alert_id, f->contact_id, f->channel, detail);
        } else {
                outcome = DELIVERY_RETRY;
                o->stats.retried++;
                log_warning("Could not deliver %s of alert %lld to %s by %s: %s — will retry", f->purpose,
                            (long long)f->alert_id, f->contact_id, f->channel, detail);
        }
        r = store_delivery_record(o->store, f->delivery_id, outcome, now, now + backoff(o, f->attempts + 1), detail);
        if (r < 0)
                log_error("Outbox: cannot record delivery %lld: %s", (long long)f->delivery_id,
                          store_error(o->store));
        else if (outcome == DELIVERY_SENT)
                /* Logged once it is on disk: "Delivered" in the journal means it will not be sent again
                 * after a power cut. */
                log_info("Delivered %s of alert %lld to %s by %s (%s)", f->purpose, (long long)f->alert_id,
                         isempty(f->contact_id) ? "everyone following alerts" : f->contact_id, f->channel, detail);
        /* A family member's phone that fails moves the alert on to the next family contact now. */
        if (error != 0 && streq(f->purpose, "alert") && alerts_delivery_failed(o->alerts, f->delivery_id, now) < 0)
                log_error("Outbox: family fallback failed: %s", store_error(o->store));
}

static void unlink_inflight(Outbox *o, struct inflight *f)
{
        for (struct inflight **pp = &o->inflight; *pp; pp = &(*pp)->next)
                if (*pp == f) {
                        *pp = f->next;
                        return;
                }
}

static void on_channel_done(Channel *c, int error, bool permanent, const char *detail, void *userdata)
{
        struct inflight *f = userdata;
        Outbox *o = f->outbox;

        unlink_inflight(o, f);
        if (!f->finished)
                record(o, f, error, permanent, detail ? detail : "");
        inflight_free(f);
        outbox_kick(o);
}

static int on_attempt_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct inflight *f = userdata;
        char detail[96];

        /* The channel stays responsible for its attempt; we stop waiting for it. */
        snprintf(detail, sizeof(detail), "no answer from the %s channel within %llus", f->channel,
                 (unsigned long long)(f->outbox->attempt_timeout / USEC_PER_SEC));
        f->finished = true;
        record(f->outbox, f, -ETIMEDOUT, false, detail);
        outbox_kick(f->outbox);
        return 0;
}

struct pass {
        Outbox *o;
        usec_t now;
        size_t seen;
        struct alert_info alert;
        bool have_alert;
};

static int send_one(const struct delivery_info *d, void *userdata)
{
        struct pass *p = userdata;
        Outbox *o = p->o;
        _cleanup_free_ char *ack_url = NULL, *title = NULL, *text = NULL, *json = NULL;
        const char *token = NULL;
        char opened[ISO8601_MAX];
        Channel *c;
        int r;

        p->seen++;
        if (is_inflight(o, d->id))
                return 0;
        if (!p->have_alert || p->alert.id != d->alert_id) {
                if (p->have_alert)
                        alert_info_done(&p->alert);
                p->have_alert = false;
                r = store_alert_info_get(o->store, d->alert_id, &p->alert);
                if (r < 0) {
                        log_error("Outbox: delivery %lld: %s", (long long)d->id, store_error(o->store));
                        (void)store_delivery_record(o->store, d->id, DELIVERY_FAILED, p->now, 0, "alert is missing");
                        return 0;
                }
                p->have_alert = true;
        }

        c = find_channel(o, d->channel);
        if (!c) {
                char detail[160];
                snprintf(detail, sizeof(detail), "no channel %s: add a [%s] section to the config, or change the "
                                                 "contact's notify column",
                         d->channel, d->channel);
                log_error("Cannot deliver alert %lld to %s: %s", (long long)d->alert_id, d->contact_id, detail);
                (void)store_delivery_record(o->store, d->id, DELIVERY_FAILED, p->now, 0, detail);
                o->stats.failed++;
                if (streq(d->purpose, "alert"))
                        (void)alerts_delivery_failed(o->alerts, d->id, p->now);
                return 0;
        }
        if (!channel_available(c)) {
                /* Not an attempt: the channel is down. It is looked at again when it
                 * comes back (kick) or at the latest after retry_min. */
                (void)store_delivery_record(o->store, d->id, DELIVERY_DEFERRED, p->now, p->now + o->retry_min,
                                            "channel down");
                o->stats.deferred++;
                return 0;
        }

        if (!isempty(d->contact_id) && (streq(d->purpose, "alert") || streq(d->purpose, "reminder"))) {
                token = token_for(o, d->alert_id, d->contact_id, p->now);
                ack_url = outbox_ack_url(o->public_url, d->alert_id, d->contact_id, token);
        } else
                ack_url = strdup("");
        if (!ack_url)
                return -ENOMEM;

        struct outbox_render in = { .alert = &p->alert, .delivery = d, .ack_url = ack_url, .locale = o->locale };
        /* Every channel gets the whole alert: webhook bodies and exec's stdin carry it too. */
        json = alert_json(&p->alert, o->gateway);
        if (!json)
                return -ENOMEM;
        if (isempty(d->contact_id))
                ;
        else if (o->render && o->render(&in, &title, &text, o->render_userdata) >= 0)
                ;
        else {
                title = strdup(strempty(p->alert.text));
                if (asprintf(&text, "%s%s%s", strempty(p->alert.text), *ack_url ? "\n" : "", ack_url) < 0)
                        text = NULL;
        }
        if (isempty(d->contact_id) ? !json : (!title || !text))
                return -ENOMEM;

        struct delivery_message m = {
                .delivery_id = d->id,
                .alert_id = d->alert_id,
                .purpose = d->purpose,
                .contact_id = d->contact_id,
                .contact_name = d->contact_name,
                .contact_phone = d->contact_phone,
                .contact_role = d->contact_role,
                .locale = o->locale,
                .title = title ? title : "",
                .text = text ? text : "",
                .ack_url = ack_url,
                .alert_json = json,
                .rule = p->alert.rule,
                .severity = p->alert.severity,
                .resident_id = strempty(p->alert.resident_id),
                .resident_name = strempty(p->alert.resident_name),
                .building = strempty(p->alert.building_id),
                .flat = strempty(p->alert.flat),
                .opened_at = format_iso8601(opened, sizeof(opened), p->alert.opened_at),
                .token = token,
        };

        struct inflight *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        *f = (struct inflight){ .outbox = o, .delivery_id = d->id, .alert_id = d->alert_id, .attempts = d->attempts };
        f->purpose = strdup(d->purpose);
        f->channel = strdup(d->channel);
        f->contact_id = strdup(d->contact_id);
        if (!f->purpose || !f->channel || !f->contact_id) {
                inflight_free(f);
                return -ENOMEM;
        }
        f->next = o->inflight;
        o->inflight = f;

        usec_t mono;
        sd_event_now(o->event, CLOCK_BOOTTIME, &mono);
        r = sd_event_add_time(o->event, &f->timeout, CLOCK_BOOTTIME, mono + o->attempt_timeout, USEC_PER_SEC,
                              on_attempt_timeout, f);
        if (r < 0) {
                unlink_inflight(o, f);
                inflight_free(f);
                return r;
        }
        r = channel_send(c, &m, on_channel_done, f);
        if (r < 0) {
                char detail[96];
                snprintf(detail, sizeof(detail), "could not start: %s", strerror(-r));
                unlink_inflight(o, f);
                /* A command that is not there or a URL that cannot work will not work next time either. */
                record(o, f, r, r == -ENOENT || r == -EACCES || r == -EINVAL, detail);
                inflight_free(f);
        }
        return 0;
}

static void arm_timer(Outbox *o)
{
        usec_t next = store_deliveries_next(o->store), now = now_usec(CLOCK_REALTIME), mono, delay;
        int r;

        if (next == USEC_INFINITY) {
                if (o->timer)
                        (void)sd_event_source_set_enabled(o->timer, SD_EVENT_OFF);
                return;
        }
        /* Stored times are wall clock; waiting is done on the monotonic clock, never
         * longer than retry_max, so a clock jump cannot hold a page back. */
        delay = next > now ? next - now : 0;
        if (delay > o->retry_max)
                delay = o->retry_max;
        sd_event_now(o->event, CLOCK_BOOTTIME, &mono);
        if (o->timer) {
                r = sd_event_source_set_time(o->timer, mono + delay);
                if (r >= 0)
                        r = sd_event_source_set_enabled(o->timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(o->event, &o->timer, CLOCK_BOOTTIME, mono + delay, 100 * USEC_PER_MSEC, on_timer,
                                      o);
        if (r < 0)
                log_error_errno(r, "Outbox: cannot arm its timer: %m");
}

static void pass(Outbox *o)
{
        struct pass p = { .o = o, .now = now_usec(CLOCK_REALTIME) };
        int r;

        r = store_deliveries_due(o->store, p.now, PASS_LIMIT, send_one, &p);
        if (p.have_alert)
                alert_info_done(&p.alert);
        if (r < 0)
                log_error("Outbox: %s", store_error(o->store)[0] ? store_error(o->store) : strerror(-r));
        if (p.seen == PASS_LIMIT)
                outbox_kick(o);
        arm_timer(o);
}

static int on_defer(sd_event_source *s, void *userdata)
{
        pass(userdata);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        pass(userdata);
        return 0;
}
