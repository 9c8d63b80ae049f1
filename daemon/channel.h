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
        const char *alert_json;    /* the alert as published on <base>/<gw>/alerts/<id>; pass it for every
                                    * message: webhook bodies and exec stdin carry it (NULL: a smaller
                                    * alert object is built from the fields below) */
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
/* The callback may start new sends on the same channel, but must not free it:
 * the channel is still walking its own list when it calls back. */

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

/*
 * Settings of a [webhook:NAME] section. Everything is copied.
 *
 * The body is channel_message_json() unless body_template is set: then the
 * template with {placeholders} (channel_message_vars()), the values escaped
 * for the content type (JSON string contents for a JSON type, percent-encoding
 * for application/x-www-form-urlencoded, as they are otherwise). Header
 * values may hold placeholders too (ntfy's "Title: {title}"); CR/LF in
 * values become spaces there. A 2xx answer is success, except a JSON answer
 * with a non-zero "errcode" (WeCom and DingTalk robots answer 200 to a bad
 * key or a rejected message). 408, 429, 5xx, timeouts and network errors
 * are worth retrying; other 4xx are permanent.
 */
struct webhook_settings {
        const char *url;           /* http:// or https:// only; may hold placeholders; never logged (keys) */
        const char *method;        /* POST (default) or PUT */
        const char *content_type;  /* default application/json; charset=utf-8 */
        const char *body_template; /* NULL: the alert JSON with a "message" object; else a template */
        char *const *headers;      /* "Name: value" (value may hold placeholders), NULL-terminated, may be NULL */
        usec_t connect_timeout;    /* default 5s */
        usec_t timeout;            /* the whole request, default 15s */
};

/*
 * Settings of an [exec:NAME] section. The command is split into words
 * (spaces separate; '…' and "…" group; \ escapes the next character; no
 * other expansion, no shell), and each word may hold {placeholders}
 * (channel_message_vars()), each rendered into exactly one argument:
 *   command = /usr/bin/gammu-smsd-inject TEXT {contact_phone} -unicode -text {message}
 * The program is looked up in PATH if it has no '/'. It gets the alert in
 * SHOUWANG_* environment variables and channel_message_json() on stdin;
 * stdout and stderr (the first 400 bytes) go into the delivery detail.
 * Exit 0 is success. Permanent failures: a command that cannot be run, exit
 * 126/127 (a wrapper's program missing), and exit 64–78 from sysexits.h
 * except 75 (EX_TEMPFAIL) — e.g. 67 EX_NOUSER for "no phone number". Any
 * other exit status, a signal or the timeout is worth retrying.
 */
struct exec_settings {
        const char *command;
        usec_t timeout;            /* default 30s; then SIGTERM to its process group */
        usec_t kill_timeout;       /* after SIGTERM, SIGKILL this much later: default 5s */
};

/*
 * Returns 0; -EINVAL for a command with an unterminated quote or no words,
 * or a url that is not http(s); -ENOMEM. Unknown placeholders and a JSON
 * body template that does not render valid JSON are logged as warnings
 * naming the section: the channel still works, with the placeholder left
 * visible, so nothing is lost to a typo.
 */
int channel_webhook_new(sd_event *e, const char *name, const struct webhook_settings *s, Channel **ret);
int channel_exec_new(sd_event *e, const char *name, const struct exec_settings *s, Channel **ret);
/* Load libcurl (dlopen) and set it up, once; channel_webhook_new() calls it. 0, or -ELIBACC / -ELIBBAD / -EIO
 * after logging why (libcurl4 missing or too old). */
int channel_webhook_global_init(void);

/* The mqtt channel publishes through the daemon's MQTT connection (not owned):
 * to <base>/<gateway>/notify/<contact_id>, or — for a message with an empty
 * contact_id — the alert JSON to <base>/<gateway>/alerts/<alert_id>. QoS 1,
 * never retained. Available while the connection is up. */
struct MqttClient;
int channel_mqtt_new(struct MqttClient *client, const char *base_topic, const char *gateway, Channel **ret);

Channel *channel_free(Channel *c);
DEFINE_FREE_FUNC(Channel, channel_free);

/* ---- shared by the channel implementations --------------------------------------------------------- */

struct template_var;

/*
 * The JSON a webhook posts by default and a command gets on stdin: the
 * alert JSON (m->alert_json; when NULL, the alert fields the message
 * carries: id, rule, severity, resident{id,name,building,flat}, opened_at)
 * with a "message" object added: {delivery, alert, purpose, contact,
 * contact_name, contact_phone, contact_role, locale, title, text, ack_url}.
 * malloc'd, NULL on OOM.
 */
char *channel_message_json(const struct delivery_message *m);

/*
 * The {placeholders} of webhook bodies, headers, urls and exec arguments:
 * alert_id, delivery_id, purpose, rule, severity, priority (ntfy 1–5: 5
 * critical, 4 warning, 3 info), priority_gotify (10/8/5), title, text,
 * message (title, newline, text), ack_url, contact_id, contact_name,
 * contact_phone, contact_role, resident_id, resident_name, building, flat,
 * opened_at, locale. Fills vars (room for CHANNEL_MESSAGE_VARS_MAX) and
 * returns how many. The values point into m and into scratch, which must
 * outlive the vars.
 */
#define CHANNEL_MESSAGE_VARS_MAX 24
struct channel_vars_scratch {
        char alert_id[24], delivery_id[24];
        char *message; /* malloc'd: free with channel_vars_scratch_done() */
};
size_t channel_message_vars(const struct delivery_message *m, struct template_var *vars,
                            struct channel_vars_scratch *scratch);
void channel_vars_scratch_done(struct channel_vars_scratch *scratch);

/* A message as it would look, for checking templates when a channel is set up. */
extern const struct delivery_message channel_sample_message;

/* Cut s to at most max bytes without splitting a UTF-8 character (also one cut short already);
 * newlines and tabs become spaces. In place. */
void channel_detail_clean(char *s, size_t max);
/* How many bytes of s to keep for at most max bytes without splitting a UTF-8 character. */
size_t channel_utf8_cut(const char *s, size_t max);

static inline int channel_send(Channel *c, const struct delivery_message *m, channel_done_cb done, void *userdata)
{
        return c->ops->send(c, m, done, userdata);
}
static inline bool channel_available(Channel *c)
{
        return !c->ops->available || c->ops->available(c);
}
