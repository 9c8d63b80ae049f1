/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The alert lifecycle, kept in the store: open → acknowledged → resolved.
 *
 * An alert and the deliveries it plans are committed in one transaction
 * (synchronous=FULL) before any channel is tried; the outbox then sends
 * what is pending. Escalation: tier 1 at once; the next tier when nobody
 * acknowledged within the tier timeout (5 min critical, 30 min warning);
 * after the last tier, everyone again until someone acknowledges. Family
 * contacts are tried one after another: a family delivery that fails moves
 * on to the next family contact at once. Info alerts go to the committee
 * only. Acknowledging stops escalation and tells everyone already notified
 * who is on the way; an acknowledged alert that nobody resolves gets
 * reminders.
 *
 * Time is passed in (wall clock, usec) so tests use a fake clock; the daemon
 * arms one timer at alerts_next_wakeup().
 */
#pragma once

#include "daemon/store.h"

typedef struct Alerts Alerts;

struct alerts_settings {
        usec_t tier_timeout_critical; /* 5 min */
        usec_t tier_timeout_warning;  /* 30 min */
        usec_t reminder_interval;     /* 15 min */
        usec_t token_lifetime;        /* 3 days */
        bool no_broadcast;            /* [mqtt] enabled = no: no alert JSON on <base>/<gateway>/alerts/<id> */
};
void alerts_settings_default(struct alerts_settings *ret);

/* Called after deliveries were committed, so the outbox can send them. */
typedef void (*alerts_planned_cb)(Alerts *a, void *userdata);

int alerts_new(Store *store, const struct alerts_settings *settings, Alerts **ret);
Alerts *alerts_free(Alerts *a);
DEFINE_FREE_FUNC(Alerts, alerts_free);
void alerts_set_planned_callback(Alerts *a, alerts_planned_cb cb, void *userdata);

enum {
        ALERT_URGENT_ALL = 1 << 0,     /* tier 1, committee and property at once (fire, gas, CO) */
        ALERT_BUILDING_WIDE = 1 << 1,  /* every flat's tier 1 in the building (stairwell smoke) */
        ALERT_UNKNOWN_STATE = 1 << 2,
        ALERT_COMMITTEE_ONLY = 1 << 3, /* info: committee only */
        ALERT_PROPERTY = 1 << 4,       /* property management too */
        ALERT_FAMILY_LEADER = 1 << 5,  /* family and group leader first (night wandering) */
        ALERT_GROUP_LEADER = 1 << 6,   /* the building-group leader only (entrance door held open) */
};

/* Called after an alert was resolved in this process, so the rules may raise the condition again. */
typedef void (*alerts_resolved_cb)(Alerts *a, const char *resident_id, const char *building_id, const char *rule,
                                   void *userdata);
void alerts_set_resolved_callback(Alerts *a, alerts_resolved_cb cb, void *userdata);

struct alert_request {
        const char *rule;        /* rule_id_to_string() */
        const char *severity;    /* info, warning, critical */
        const char *resident_id; /* NULL or "" for a common area */
        const char *building_id;
        const char *sensor_id;   /* may be NULL */
        const char *text_key;    /* template key */
        const char *params;      /* JSON object with the template parameters, may be NULL */
        const char *text;        /* rendered in the default language, for the alert JSON */
        unsigned flags;          /* ALERT_* */
        bool test;               /* a marked test through the real chain */
};

/*
 * Open an alert, or update the open one for the same subject and rule
 * (repeats + 1; a higher severity replaces a lower one and notifies again).
 * Plans and commits the first deliveries. *ret_id: the alert; *ret_new: true
 * if it was opened now. Returns 0 or -errno (store_error() says why).
 */
int alerts_raise(Alerts *a, const struct alert_request *req, usec_t now, int64_t *ret_id, bool *ret_new);

/* The condition ended (leak dried, door closed): recorded, never closes the alert. */
int alerts_clear(Alerts *a, const char *resident_id, const char *building_id, const char *rule, usec_t now);

/*
 * A person is going. via: "mqtt", "web", "ctl". Returns 0; -ENOENT (no
 * such alert), -ESTALE (already resolved), -EALREADY (already acknowledged:
 * *ret_by, if given, says by whom; malloc'd). Plans "X is on the way" to
 * everyone already notified.
 */
int alerts_ack(Alerts *a, int64_t alert_id, const char *contact_id, const char *via, usec_t now, char **ret_by);

/* Close with an outcome ("ok", "hospital", "false_alarm", …) and a note. -ENOENT, -ESTALE. */
int alerts_resolve(Alerts *a, int64_t alert_id, const char *who, const char *outcome, const char *note, usec_t now);

/* Due escalations and reminders. */
int alerts_tick(Alerts *a, usec_t now);
/* Wall time of the next due escalation or reminder, USEC_INFINITY if none. */
usec_t alerts_next_wakeup(Alerts *a);

/* The outbox reports a failed attempt: a family contact's failure moves on to the next family contact. */
int alerts_delivery_failed(Alerts *a, int64_t delivery_id, usec_t now);

/* ---- tokens: 128 random bits, stored as SHA-256, compared in constant time ---------------------------------- */

#define ALERT_TOKEN_LEN 32 /* hex characters */

/*
 * A token for (alert, contact) to send. ret_token: ALERT_TOKEN_LEN+1 bytes. Hands over the token
 * made with the delivery in the alert's own transaction when one is waiting (no write at all);
 * otherwise makes a new one and commits its hash.
 */
int alerts_token_issue(Alerts *a, int64_t alert_id, const char *contact_id, usec_t now, char *ret_token);
/* How long a token works (the config's [escalation] token_lifetime). */
usec_t alerts_token_lifetime(Alerts *a);

/*
 * Check a token presented with an action ("ack" or "resolve"). Returns 0 and
 * marks it used; -EACCES (no such token for that alert and contact),
 * -EKEYEXPIRED (expired), -EALREADY (this token was already used for this
 * action: a replay).
 */
int alerts_token_check(Alerts *a, int64_t alert_id, const char *contact_id, const char *token, const char *action,
                       usec_t now);

/*
 * Whether a token is good for (alert, contact) now, without using it up: for
 * showing the page a link opens (a phone's link preview must not count as
 * "I'm going"). 0, -EACCES or -EKEYEXPIRED, as alerts_token_check().
 * ret_used (may be NULL): ALERT_TOKEN_USED_* for the actions it was used for.
 */
enum {
        ALERT_TOKEN_USED_ACK = 1 << 0,
        ALERT_TOKEN_USED_RESOLVE = 1 << 1,
};
int alerts_token_verify(Alerts *a, int64_t alert_id, const char *contact_id, const char *token, usec_t now,
                        unsigned *ret_used);

/* Counters: refused tokens since start. */
uint64_t alerts_tokens_refused(Alerts *a);
