/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The outbox sends what the store says is pending, on the sd-event loop.
 * Every attempt is recorded; a failed one is retried with exponential
 * backoff and jitter (alert pages for as long as the alert is open); a
 * channel that is down (MQTT broker gone) is skipped without counting an
 * attempt and never delays another channel. After a crash or power cut the
 * pending rows are simply still pending: the outbox sends them on start.
 */
#pragma once

#include <systemd/sd-event.h>

#include "daemon/alerts.h"
#include "daemon/channel.h"
#include "daemon/store.h"

typedef struct Outbox Outbox;

struct outbox_settings {
        const char *gateway;
        const char *public_url;   /* base of the ack links; "" for none */
        const char *locale;       /* default zh_CN */
        usec_t retry_min;         /* 10 s */
        usec_t retry_max;         /* 10 min */
        usec_t attempt_timeout;   /* a channel that has not answered in this long has failed: 60 s */
        unsigned info_attempts;   /* give up on non-alert messages (ack info, reminders) after this many: 8 */
};

/*
 * Render the title and text of one message. The daemon renders with the
 * templates; ret_* are malloc'd. Returns 0 or -errno.
 */
struct outbox_render {
        const struct alert_info *alert;
        const struct delivery_info *delivery;
        const char *ack_url;
        const char *locale;
};
typedef int (*outbox_render_cb)(const struct outbox_render *in, char **ret_title, char **ret_text, void *userdata);

int outbox_new(sd_event *e, Store *store, Alerts *alerts, const struct outbox_settings *settings, Outbox **ret);
Outbox *outbox_free(Outbox *o);
DEFINE_FREE_FUNC(Outbox, outbox_free);

/* The outbox owns the channel from now on. A second channel with the same name replaces the first. */
int outbox_add_channel(Outbox *o, Channel *c);
void outbox_set_renderer(Outbox *o, outbox_render_cb cb, void *userdata);

/* The links' base from now on (the network came up after the start). -ENOMEM keeps the old one. */
int outbox_set_public_url(Outbox *o, const char *public_url);

/* Something was planned: look at the pending deliveries soon. */
void outbox_kick(Outbox *o);
/* A channel that was down is back (MQTT reconnected): what waited for it goes now. */
void outbox_channel_up(Outbox *o, const char *channel);

struct outbox_stats {
        uint64_t sent, failed, retried, deferred, in_flight;
};
void outbox_get_stats(Outbox *o, struct outbox_stats *ret);

/* The ack link for a contact: <public_url>/a/<alert>?c=<contact>&t=<token>. malloc'd; "" without public_url. */
char *outbox_ack_url(const char *public_url, int64_t alert_id, const char *contact_id, const char *token);
