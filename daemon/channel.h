/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Delivery channels: how one message reaches one contact. A small table of
 * functions per channel type (mqtt, webhook, exec); a contact's `notify`
 * column names one or more channel instances ("mqtt", "webhook:wecom",
 * "exec:sms"), and the config's [webhook:NAME] / [exec:NAME] sections
 * configure them.
 *
 * Sends are asynchronous on the sd-event loop and never block it. The
 * outbox (outbox.c) decides what to send when, records every attempt and
 * retries with backoff; a channel only tries once and says how it went.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "daemon/util.h"

typedef struct Channel Channel;

/* What one contact is sent. Every string is valid during send() only; a channel copies what it keeps. */
struct delivery_message {
        int64_t delivery_id;
        int64_t alert_id;
        const char *purpose;       /* "alert", "ack_info", "reminder", "resolved", "test" */
        const char *contact_id;
        const char *contact_name;
        const char *contact_phone;
        const char *contact_role;  /* neighbour, group_leader, committee, family, property */
        const char *locale;        /* zh_CN or en */
        const char *title;         /* one line, e.g. "【守望】漏水 长乐路17号 201 沈国强" */
        const char *text;          /* what the phone shows, several lines, incl. guidance and the link */
        const char *ack_url;       /* the contact's own "I'm going" link, "" if no HTTP server */
        const char *alert_json;    /* the alert as published on <base>/<gw>/alerts/<id> */
        const char *rule;
        const char *severity;
        const char *resident_id;   /* "" for common areas */
        const char *resident_name;
        const char *building;
        const char *flat;
        const char *opened_at;     /* ISO 8601 with offset */
        const char *token;         /* the contact's acknowledgement token (also inside ack_url), or NULL */
};

/*
 * Outcome of one attempt: error 0 = delivered as far as this channel can
 * tell (HTTP 2xx, exit status 0, PUBACK), else a negative errno; detail is a
 * short sentence for the delivery log ("HTTP 500", "exit status 3",
 * "timed out after 10s"). permanent: retrying cannot help (HTTP 4xx other
 * than 408/429, command not found) — the outbox still moves family
 * fallbacks on at once, but stops retrying this one.
 */
typedef void (*channel_done_cb)(Channel *c, int error, bool permanent, const char *detail, void *userdata);

struct channel_ops {
        const char *type; /* "mqtt", "webhook", "exec" */
        /* Start one attempt. 0 if started (done will be called exactly once, maybe
         * before send returns), or -errno if it could not start (done not called). */
        int (*send)(Channel *c, const struct delivery_message *m, channel_done_cb done, void *userdata);
        /* Whether the channel can send now (mqtt: connected). A channel that is
         * down is skipped in favour of the contact's other channels. */
        bool (*available)(Channel *c);
        /* Cancel attempts in flight (their done callbacks are not called) and free. */
        void (*free)(Channel *c);
};

struct Channel {
        const struct channel_ops *ops;
        char *name; /* "mqtt", "webhook:wecom", "exec:sms" */
        void *data;
};

/* Settings of a [webhook:NAME] section. */
struct webhook_settings {
        const char *url;
        const char *method;        /* POST (default) or PUT */
        const char *content_type;  /* default application/json */
        const char *body_template; /* NULL: the alert JSON with "message" fields; else a template with {placeholders} */
        char *const *headers;      /* "Name: value", NULL-terminated, may be NULL */
        usec_t connect_timeout;    /* default 5s */
        usec_t timeout;            /* default 15s */
};

/* Settings of an [exec:NAME] section. */
struct exec_settings {
        const char *command;       /* split into argv on spaces (quotes allowed), run without a shell */
        usec_t timeout;            /* default 30s; then SIGTERM, and SIGKILL 5s later */
};

int channel_webhook_new(sd_event *e, const char *name, const struct webhook_settings *s, Channel **ret);
/* libcurl's global set-up: once, at start, before any thread. 0 or -EIO. */
int channel_webhook_global_init(void);

/* The mqtt channel publishes through the daemon's MQTT connection (not owned):
 * to <base>/<gateway>/notify/<contact_id>, or — for a message with an empty
 * contact_id — the alert JSON to <base>/<gateway>/alerts/<alert_id>. QoS 1,
 * never retained. Available while the connection is up. */
struct MqttClient;
int channel_mqtt_new(struct MqttClient *client, const char *base_topic, const char *gateway, Channel **ret);
int channel_exec_new(sd_event *e, const char *name, const struct exec_settings *s, Channel **ret);

Channel *channel_free(Channel *c);
DEFINE_FREE_FUNC(Channel, channel_free);

static inline int channel_send(Channel *c, const struct delivery_message *m, channel_done_cb done, void *userdata)
{
        return c->ops->send(c, m, done, userdata);
}
static inline bool channel_available(Channel *c)
{
        return !c->ops->available || c->ops->available(c);
}
