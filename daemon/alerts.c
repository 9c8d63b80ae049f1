/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The alert lifecycle and escalation ladder, in the store (see alerts.h). */

#include "daemon/alerts.h"

#include <sys/random.h>

#include "daemon/sha256.h"
#include "daemon/store-internal.h"

#define TIER_MAX 3
#define TIER_EVERYONE 4 /* after the last tier: everyone again until someone acknowledges */

struct Alerts {
        Store *store;
        struct alerts_settings settings;
        alerts_planned_cb planned;
        void *userdata;
        alerts_resolved_cb resolved;
        void *resolved_userdata;
        uint64_t tokens_refused;
        struct issued_token *tokens; /* see "tokens" below */
};

/*
 * A contact's acknowledgement token, made in the same transaction as the
 * delivery that will carry it (so an alert costs one durable commit, not one
 * for the alert and another when the outbox first sends it). Only the hash is
 * stored; the token itself waits here until the outbox asks for it with
 * alerts_token_issue(). Dropped when the alert is resolved here or the token
 * expires; a process that never sends (shouwangctl) leaves only unused rows.
 */
struct issued_token {
        int64_t alert_id;
        char *contact_id;
        usec_t expires_at;
        bool staged;     /* inserted by the transaction under way: gone if it rolls back */
        bool handed_out; /* given to the outbox already */
        char token[ALERT_TOKEN_LEN + 1];
        struct issued_token *next;
};

struct candidate {
        char *id;
        char *role;
        char *notify;
        int tier;
        int position;
};

struct candidates {
        struct candidate *c;
        size_t n, alloc;
};

static void candidates_done(struct candidates *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->c[i].id);
                free(l->c[i].role);
                free(l->c[i].notify);
        }
        free(l->c);
        *l = (struct candidates){ 0 };
}

void alerts_settings_default(struct alerts_settings *ret)
{
        *ret = (struct alerts_settings){
                .tier_timeout_critical = 5 * USEC_PER_MINUTE,
                .tier_timeout_warning = 30 * USEC_PER_MINUTE,
                .reminder_interval = 15 * USEC_PER_MINUTE,
                .token_lifetime = 3 * USEC_PER_DAY,
        };
}

int alerts_new(Store *store, const struct alerts_settings *settings, Alerts **ret)
{
        Alerts *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        a->store = store;
        if (settings)
                a->settings = *settings;
        else
                alerts_settings_default(&a->settings);
        *ret = a;
        return 0;
}

static void issued_token_free(struct issued_token *t)
{
        explicit_bzero(t->token, sizeof(t->token));
        free(t->contact_id);
        free(t);
}

/* Drop cached tokens: staged ones only (a rollback), those of one alert (alert_id > 0), or expired ones. */
static void tokens_drop(Alerts *a, bool staged_only, int64_t alert_id, usec_t expired_at)
{
        for (struct issued_token **pp = &a->tokens; *pp;) {
                struct issued_token *t = *pp;
                bool drop = staged_only ? t->staged
                                        : (alert_id > 0 && t->alert_id == alert_id) ||
                                                  (!t->staged && expired_at && t->expires_at <= expired_at);
                if (drop) {
                        *pp = t->next;
                        issued_token_free(t);
                } else
                        pp = &t->next;
        }
}

Alerts *alerts_free(Alerts *a)
{
        if (!a)
                return NULL;
        while (a->tokens) {
                struct issued_token *t = a->tokens;
                a->tokens = t->next;
                issued_token_free(t);
        }
        free(a);
        return NULL;
}

void alerts_set_planned_callback(Alerts *a, alerts_planned_cb cb, void *userdata)
{
        a->planned = cb;
        a->userdata = userdata;
}

void alerts_set_resolved_callback(Alerts *a, alerts_resolved_cb cb, void *userdata)
{
        a->resolved = cb;
        a->resolved_userdata = userdata;
}

uint64_t alerts_tokens_refused(Alerts *a)
{
        return a->tokens_refused;
}

static int severity_rank(const char *s)
{
        return streq_ptr(s, "critical") ? 2 : streq_ptr(s, "warning") ? 1 : 0;
}

static usec_t tier_timeout(Alerts *a, const char *severity)
{
        switch (severity_rank(severity)) {
        case 2:
                return a->settings.tier_timeout_critical;
        case 1:
                return a->settings.tier_timeout_warning;
        default:
                return 0; /* info: committee only, no ladder */
        }
}

/* A transaction that must be on disk before anyone is told: synchronous=FULL is the store's default. */
static int tx_begin(Alerts *a)
{
        return store_begin(a->store);
}

static int tx_end(Alerts *a, int r, bool planned)
{
        if (r >= 0)
                r = store_commit(a->store);
        if (r < 0) {
                (void)store_rollback(a->store);
                tokens_drop(a, true, 0, 0); /* their rows are gone with the rollback */
                return r;
        }
        for (struct issued_token *t = a->tokens; t; t = t->next)
                t->staged = false;
        if (planned && a->planned)
                a->planned(a, a->userdata);
        return r;
}

/* ---- the alert row ----------------------------------------------------------------------------------------- */

struct alert_row {
        int64_t id;
        char *rule, *severity, *state, *resident_id, *building_id;
        unsigned flags;
        int tier;
        usec_t next_escalation_at;
        char *acked_by;
        bool test;
};

static void alert_row_done(struct alert_row *r)
{
        free(r->rule);
        free(r->severity);
        free(r->state);
        free(r->resident_id);
        free(r->building_id);
        free(r->acked_by);
        *r = (struct alert_row){ 0 };
}

static int alert_get(Alerts *a, int64_t id, struct alert_row *ret)
{
        sqlite3_stmt *st = store_stmt(a->store, "SELECT id, rule, severity, state, resident_id, building_id, flags, "
                                                "tier, next_escalation_at, acked_by, test FROM alerts WHERE id = ?1");
        int rc;

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *ret = (struct alert_row){
                        .id = sqlite3_column_int64(st, 0),
                        .rule = store_col_dup(st, 1),
                        .severity = store_col_dup(st, 2),
                        .state = store_col_dup(st, 3),
                        .resident_id = store_col_dup(st, 4),
                        .building_id = store_col_dup(st, 5),
                        .flags = (unsigned)sqlite3_column_int(st, 6),
                        .tier = sqlite3_column_int(st, 7),
                        .next_escalation_at = (usec_t)sqlite3_column_int64(st, 8),
                        .acked_by = store_col_dup(st, 9),
                        .test = sqlite3_column_int(st, 10),
                };
                sqlite3_reset(st);
                return 0;
        }
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
                store_set_error(a->store, "There is no alert %lld.", (long long)id);
                return -ENOENT;
        }
        return store_fail_sqlite(a->store, rc, "Reading an alert");
}

/* ---- who to tell ----------------------------------------------------------------------------------------- */

static int collect(Alerts *a, const char *sql, const char *p1, const char *p2, int tier, struct candidates *out)
{
        sqlite3_stmt *st = store_stmt(a->store, sql);
        int rc;

        if (!st)
                return -EIO;
        store_bind_text(st, 1, p1);
        if (p2)
                store_bind_text(st, 2, p2);
        if (tier > 0)
                sqlite3_bind_int(st, 3, tier);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *)sqlite3_column_text(st, 0);
                bool dup = false;
                for (size_t i = 0; i < out->n; i++)
                        dup = dup || streq(out->c[i].id, id);
                if (dup)
                        continue;
                if (out->n == out->alloc) {
                        size_t na = out->alloc ? out->alloc * 2 : 16;
                        struct candidate *nc = realloc(out->c, na * sizeof(*nc));
                        if (!nc) {
                                sqlite3_reset(st);
                                return -ENOMEM;
                        }
                        out->c = nc;
                        out->alloc = na;
                }
                struct candidate *c = &out->c[out->n];
                *c = (struct candidate){ .id = store_col_dup(st, 0),
                                         .role = store_col_dup(st, 1),
                                         .notify = store_col_dup(st, 2),
                                         .tier = sqlite3_column_int(st, 3),
                                         .position = sqlite3_column_int(st, 4) };
                if (!c->id || !c->role || !c->notify) {
                        sqlite3_reset(st);
                        return -ENOMEM;
                }
                out->n++;
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : store_fail_sqlite(a->store, rc, "Finding contacts");
}

/* Contacts of one tier: of the resident, or of every resident of the building for a common area. */
static int collect_tier(Alerts *a, const struct alert_row *al, int tier, struct candidates *out)
{
        if (!isempty(al->resident_id) && !(al->flags & ALERT_BUILDING_WIDE))
                return collect(a,
                               "SELECT c.id, c.role, c.notify, rc.tier, rc.position FROM resident_contacts rc "
                               "JOIN contacts c ON c.id = rc.contact_id WHERE rc.resident_id = ?1 AND ?2 = ?2 "
                               "AND rc.tier = ?3 ORDER BY rc.position, c.id",
                               al->resident_id, "", tier, out);
        return collect(a,
                       "SELECT c.id, c.role, c.notify, rc.tier, min(rc.position) FROM resident_contacts rc "
                       "JOIN contacts c ON c.id = rc.contact_id JOIN residents r ON r.id = rc.resident_id "
                       "WHERE r.building_id = ?1 AND ?2 = ?2 AND rc.tier = ?3 GROUP BY c.id "
                       "ORDER BY min(rc.position), c.id",
                       strempty(al->building_id), "", tier, out);
}

/* Contacts with a role linked to the resident (any tier), or to the building's residents;
 * when the roster links none, every contact with that role. */
static int collect_role(Alerts *a, const struct alert_row *al, const char *role, struct candidates *out)
{
        size_t before = out->n;
        int r;

        if (!isempty(al->resident_id))
                r = collect(a,
                            "SELECT c.id, c.role, c.notify, rc.tier, rc.position FROM resident_contacts rc "
                            "JOIN contacts c ON c.id = rc.contact_id WHERE rc.resident_id = ?1 AND c.role = ?2 "
                            "ORDER BY rc.tier, rc.position, c.id",
                            al->resident_id, role, 0, out);
        else
                r = collect(a,
                            "SELECT c.id, c.role, c.notify, min(rc.tier), min(rc.position) FROM resident_contacts rc "
                            "JOIN contacts c ON c.id = rc.contact_id JOIN residents r ON r.id = rc.resident_id "
                            "WHERE r.building_id = ?1 AND c.role = ?2 GROUP BY c.id ORDER BY 4, 5, c.id",
                            strempty(al->building_id), role, 0, out);
        if (r < 0 || out->n > before)
                return r;
        return collect(a, "SELECT id, role, notify, 0, 0 FROM contacts WHERE ?1 = ?1 AND role = ?2 ORDER BY id", "",
                       role, 0, out);
}

/*
 * Fire, gas and CO skip the tier timeout: tier 1, the committee on duty and property
 * at once. The committee on duty is the resident's committee contacts of the first
 * tier they appear in (tier 2 in the usual ladder); the leadership a tier later
 * (tier 3) follows on the ladder, as for any alert. Property: all of them.
 */
static int collect_urgent(Alerts *a, const struct alert_row *al, struct candidates *out)
{
        size_t before = out->n;
        int r = collect_role(a, al, "committee", out);

        if (r < 0)
                return r;
        for (size_t i = before + 1; i < out->n; i++)
                if (out->c[i].tier != out->c[before].tier) {
                        for (size_t j = i; j < out->n; j++) {
                                free(out->c[j].id);
                                free(out->c[j].role);
                                free(out->c[j].notify);
                        }
                        out->n = i;
                        break;
                }
        return collect_role(a, al, "property", out);
}

static int already_notified(Alerts *a, int64_t alert_id, const char *contact_id)
{
        sqlite3_stmt *st = store_stmt(a->store, "SELECT 1 FROM alert_contacts WHERE alert_id = ?1 AND contact_id = ?2");
        int rc;

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, alert_id);
        store_bind_text(st, 2, contact_id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store_fail_sqlite(a->store, rc, "Reading who was told");
}

static int insert_delivery(Alerts *a, int64_t alert_id, const char *contact_id, const char *channel,
                           const char *purpose, usec_t now)
{
        sqlite3_stmt *st = store_stmt(a->store, "INSERT INTO deliveries (alert_id, contact_id, channel, purpose, "
                                                "next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)");
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, alert_id);
        store_bind_text(st, 2, contact_id);
        store_bind_text(st, 3, channel);
        store_bind_text(st, 4, purpose);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
        return store_step_done(a->store, st, "Planning a delivery");
}

static int token_insert(Alerts *a, int64_t alert_id, const char *contact_id, usec_t now, char *ret_token);

/* The contact will need a token to acknowledge this alert: make it in the transaction under way. */
static int token_plan(Alerts *a, int64_t alert_id, const char *contact_id, usec_t now)
{
        struct issued_token *t;
        int r;

        tokens_drop(a, false, 0, now);
        for (t = a->tokens; t; t = t->next)
                if (t->alert_id == alert_id && streq(t->contact_id, contact_id))
                        return 0; /* one per contact and alert, shared by all channels and messages */
        t = calloc(1, sizeof(*t));
        if (!t || !(t->contact_id = strdup(contact_id))) {
                free(t);
                return -ENOMEM;
        }
        r = token_insert(a, alert_id, contact_id, now, t->token);
        if (r < 0) {
                issued_token_free(t);
                return r;
        }
        t->alert_id = alert_id;
        t->expires_at = now + a->settings.token_lifetime;
        t->staged = true;
        t->next = a->tokens;
        a->tokens = t;
        return 0;
}

/* One delivery per channel in the contact's notify list ("mqtt;exec:sms"): each listed channel is used. */
static int plan_deliveries(Alerts *a, int64_t alert_id, const char *contact_id, const char *notify,
                           const char *purpose, usec_t now)
{
        _cleanup_free_ char *copy = strdup(isempty(notify) ? "mqtt" : notify);
        char *save = NULL;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        /* The messages that carry an ack link or token (as the outbox sends them). */
        if (!isempty(contact_id) && (streq(purpose, "alert") || streq(purpose, "reminder"))) {
                r = token_plan(a, alert_id, contact_id, now);
                if (r < 0)
                        return r;
        }
        for (char *ch = strtok_r(copy, ";", &save); ch && r >= 0; ch = strtok_r(NULL, ";", &save))
                r = insert_delivery(a, alert_id, contact_id, ch, purpose, now);
        return r;
}

/* Record that the contact is told, and plan the deliveries. Returns 1 if newly planned, 0 if already told. */
static int tell(Alerts *a, int64_t alert_id, const struct candidate *c, int tier, const char *reason, usec_t now)
{
        sqlite3_stmt *st;
        int r = already_notified(a, alert_id, c->id);

        if (r != 0)
                return r < 0 ? r : 0;
        st = store_stmt(a->store, "INSERT INTO alert_contacts (alert_id, contact_id, tier, reason, notified_at) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5)");
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, alert_id);
        store_bind_text(st, 2, c->id);
        sqlite3_bind_int(st, 3, tier);
        store_bind_text(st, 4, reason);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
        r = store_step_done(a->store, st, "Recording who is told");
        if (r < 0)
                return r;
        r = plan_deliveries(a, alert_id, c->id, c->notify, "alert", now);
        return r < 0 ? r : 1;
}

/*
 * Tell a list of candidates. Family contacts are tried one after another:
 * only the first family contact not yet told is told now, unless all_family.
 * Returns how many were newly told.
 */
static int tell_all(Alerts *a, int64_t alert_id, const struct candidates *l, int tier, const char *reason,
                    bool all_family, usec_t now)
{
        bool family_done = false;
        int told = 0, r;

        for (size_t i = 0; i < l->n; i++) {
                const struct candidate *c = &l->c[i];
                if (streq(c->role, "family") && !all_family) {
                        if (family_done)
                                continue;
                        r = already_notified(a, alert_id, c->id);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                continue;
                        family_done = true;
                }
                r = tell(a, alert_id, c, tier, reason, now);
                if (r < 0)
                        return r;
                told += r;
        }
        return told;
}

static int plan_broadcast(Alerts *a, int64_t alert_id, usec_t now)
{
        /* The alert JSON on <base>/<gateway>/alerts/<id>: the outbox renders the
         * row's state at send time, so one pending broadcast is enough. */
        sqlite3_stmt *st;
        int rc;

        /* Without MQTT there is no alerts topic: planning a broadcast would only
         * leave a failed delivery in every alert's history. */
        if (a->settings.no_broadcast)
                return 0;
        st = store_stmt(a->store, "SELECT 1 FROM deliveries WHERE alert_id = ?1 AND contact_id = '' "
                                  "AND state = 'pending'");
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, alert_id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
                return 0;
        if (rc != SQLITE_DONE)
                return store_fail_sqlite(a->store, rc, "Planning the alert broadcast");
        return insert_delivery(a, alert_id, "", "mqtt", "alert_json", now);
}

static int set_tier(Alerts *a, int64_t alert_id, int tier, usec_t next_escalation_at)
{
        sqlite3_stmt *st = store_stmt(a->store, "UPDATE alerts SET tier = ?2, next_escalation_at = ?3 WHERE id = ?1");

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, alert_id);
        sqlite3_bind_int(st, 2, tier);
        if (next_escalation_at)
                sqlite3_bind_int64(st, 3, (sqlite3_int64)next_escalation_at);
        return store_step_done(a->store, st, "Recording the escalation");
}

/* Everyone already told about the alert hears about it again (still open, or worse now). */
static int retell_notified(Alerts *a, int64_t alert_id, usec_t before, usec_t now)
{
        sqlite3_stmt *st = store_stmt(a->store, "SELECT ac.contact_id, c.notify FROM alert_contacts ac JOIN contacts c "
                                                "ON c.id = ac.contact_id WHERE ac.alert_id = ?1 AND ac.notified_at < ?2 "
                                                "ORDER BY ac.contact_id");
        struct candidates again = { 0 };
        int rc, r = 0;

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, alert_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)before);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct candidate c = { .id = store_col_dup(st, 0), .notify = store_col_dup(st, 1) };
                struct candidate *nc = c.id && c.notify ? realloc(again.c, (again.n + 1) * sizeof(*nc)) : NULL;
                if (!nc) {
                        free(c.id);
                        free(c.notify);
                        r = -ENOMEM;
                        break;
                }
                again.c = nc;
                again.c[again.n++] = c;
        }
        sqlite3_reset(st);
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(a->store, rc, "Finding who was told");
        for (size_t i = 0; i < again.n && r >= 0; i++)
                r = plan_deliveries(a, alert_id, again.c[i].id, again.c[i].notify, "alert", now);
        candidates_done(&again);
        return r;
}

/* After the last tier: everyone linked, all family included, and those told before once more. */
static int tell_everyone(Alerts *a, const struct alert_row *al, usec_t now)
{
        struct candidates l = { 0 };
        int r = 0, told;

        for (int t = 1; t <= TIER_MAX && r >= 0; t++)
                r = collect_tier(a, al, t, &l);
        if (r < 0) {
                candidates_done(&l);
                return r;
        }
        r = retell_notified(a, al->id, now, now);
        told = r < 0 ? r : tell_all(a, al->id, &l, TIER_EVERYONE, "everyone", true, now);
        candidates_done(&l);
        return told;
}

/*
 * Tell the next tier that has anyone in it. Returns the tier reached, or
 * TIER_EVERYONE when the ladder is exhausted.
 */
static int escalate_from(Alerts *a, struct alert_row *al, int from_tier, usec_t now)
{
        for (int t = from_tier + 1; t <= TIER_MAX; t++) {
                struct candidates l = { 0 };
                int r = collect_tier(a, al, t, &l);
                if (r >= 0)
                        r = tell_all(a, al->id, &l, t, "tier", false, now);
                candidates_done(&l);
                if (r < 0)
                        return r;
                if (r > 0)
                        return t;
        }
        int r = tell_everyone(a, al, now);
        return r < 0 ? r : TIER_EVERYONE;
}

/* The first deliveries of a new alert. */
static int plan_first(Alerts *a, struct alert_row *al, usec_t now)
{
        struct candidates l = { 0 };
        int r = 0, tier = 1, told = 0;

        if (al->flags & ALERT_GROUP_LEADER) {
                r = collect_role(a, al, "group_leader", &l);
                if (r >= 0)
                        r = tell_all(a, al->id, &l, 1, "group_leader", true, now);
                candidates_done(&l);
                if (r < 0)
                        return r;
                return set_tier(a, al->id, 1, 0);
        }
        if (al->flags & ALERT_COMMITTEE_ONLY) {
                r = collect_role(a, al, "committee", &l);
                if (r >= 0 && (al->flags & ALERT_PROPERTY))
                        r = collect_role(a, al, "property", &l);
                if (r >= 0)
                        r = tell_all(a, al->id, &l, 1, "committee", true, now);
                candidates_done(&l);
                if (r < 0)
                        return r;
                return set_tier(a, al->id, 1, 0);
        }

        r = collect_tier(a, al, 1, &l);
        if (r >= 0 && (al->flags & ALERT_FAMILY_LEADER))
                r = collect_role(a, al, "group_leader", &l);
        if (r >= 0)
                r = told = tell_all(a, al->id, &l, 1, "tier", false, now);
        candidates_done(&l);
        if (r >= 0 && (al->flags & ALERT_FAMILY_LEADER)) {
                r = collect_role(a, al, "family", &l);
                if (r >= 0)
                        r = tell_all(a, al->id, &l, 1, "family", false, now);
                told += r > 0 ? r : 0;
                candidates_done(&l);
        }
        if (r >= 0 && (al->flags & ALERT_URGENT_ALL)) {
                r = collect_urgent(a, al, &l);
                if (r >= 0)
                        r = tell_all(a, al->id, &l, 1, "urgent", false, now);
                told += r > 0 ? r : 0;
                candidates_done(&l);
        } else if (r >= 0 && (al->flags & ALERT_PROPERTY)) {
                r = collect_role(a, al, "property", &l);
                if (r >= 0)
                        r = tell_all(a, al->id, &l, 1, "property", true, now);
                told += r > 0 ? r : 0;
                candidates_done(&l);
        }
        if (r < 0)
                return r;

        /* Nobody in tier 1 (an incomplete roster): go up the ladder now rather
         * than let the alert wait unseen for a timeout. */
        if (told == 0) {
                tier = escalate_from(a, al, 1, now);
                if (tier < 0)
                        return tier;
        }
        /* A test goes through the real first tier but never climbs the ladder. */
        usec_t timeout = al->test ? 0 : tier_timeout(a, al->severity);
        return set_tier(a, al->id, tier, timeout ? now + timeout : 0);
}

/* ---- raise / clear ---------------------------------------------------------------------------------------- */

static const char *subject_of(const char *resident_id, const char *building_id, char *buf, size_t size)
{
        if (!isempty(resident_id))
                return resident_id;
        snprintf(buf, size, "building:%s", strempty(building_id));
        return buf;
}

int alerts_raise(Alerts *a, const struct alert_request *req, usec_t now, int64_t *ret_id, bool *ret_new)
{
        char subj[160];
        const char *subject = subject_of(req->resident_id, req->building_id, subj, sizeof(subj));
        struct alert_row al = { 0 };
        sqlite3_stmt *st;
        int64_t id = 0;
        bool is_new = false, notify_again = false;
        int r, rc;

        r = tx_begin(a);
        if (r < 0)
                return r;

        st = store_stmt(a->store, "SELECT id, severity FROM alerts WHERE subject = ?1 AND rule = ?2 AND state <> 'resolved'");
        if (!st) {
                r = -EIO;
                goto finish;
        }
        store_bind_text(st, 1, subject);
        store_bind_text(st, 2, req->rule);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                id = sqlite3_column_int64(st, 0);
                notify_again = severity_rank(req->severity) > severity_rank((const char *)sqlite3_column_text(st, 1));
        } else if (rc != SQLITE_DONE)
                r = store_fail_sqlite(a->store, rc, "Looking for an open alert");
        sqlite3_reset(st);
        if (r < 0)
                goto finish;

        if (id > 0) {
                /* One open alert per subject and rule: a repeat updates it. A higher
                 * severity (tap running for 60 min) takes over the text too. */
                st = store_stmt(a->store,
                                "UPDATE alerts SET repeats = repeats + 1, updated_at = ?2, cleared_at = NULL, "
                                "severity = CASE WHEN ?3 THEN ?4 ELSE severity END, "
                                "text_key = CASE WHEN ?3 THEN ?5 ELSE text_key END, "
                                "params = CASE WHEN ?3 THEN ?6 ELSE params END, "
                                "text = CASE WHEN ?3 THEN ?7 ELSE text END, flags = flags | ?8 WHERE id = ?1");
                if (!st) {
                        r = -EIO;
                        goto finish;
                }
                sqlite3_bind_int64(st, 1, id);
                sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
                sqlite3_bind_int(st, 3, notify_again);
                store_bind_text(st, 4, req->severity);
                store_bind_text(st, 5, req->text_key);
                store_bind_text(st, 6, req->params ? req->params : "{}");
                store_bind_text(st, 7, req->text);
                sqlite3_bind_int(st, 8, (int)req->flags);
                r = store_step_done(a->store, st, "Updating an alert");
                if (r < 0)
                        goto finish;
                if (notify_again) {
                        r = alert_get(a, id, &al);
                        if (r >= 0 && !streq(al.state, "resolved")) {
                                /* Everyone told so far hears it is worse now; the ladder restarts its clock. */
                                r = retell_notified(a, id, now + 1, now);
                                if (r >= 0 && streq(al.state, "open")) {
                                        usec_t timeout = tier_timeout(a, req->severity);
                                        r = set_tier(a, id, al.tier, timeout ? now + timeout : 0);
                                }
                        }
                        if (r >= 0 && (req->flags & (ALERT_URGENT_ALL | ALERT_PROPERTY))) {
                                struct candidates l = { 0 };
                                r = collect_urgent(a, &al, &l);
                                if (r >= 0)
                                        r = tell_all(a, id, &l, al.tier, "urgent", false, now);
                                candidates_done(&l);
                        }
                }
                if (r >= 0)
                        r = plan_broadcast(a, id, now);
                goto finish;
        }

        st = store_stmt(a->store, "INSERT INTO alerts (rule, severity, subject, resident_id, building_id, sensor_id, "
                                  "text_key, params, flags, text, test, opened_at, updated_at) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)");
        if (!st) {
                r = -EIO;
                goto finish;
        }
        store_bind_text(st, 1, req->rule);
        store_bind_text(st, 2, req->severity);
        store_bind_text(st, 3, subject);
        store_bind_text_or_null(st, 4, req->resident_id);
        store_bind_text_or_null(st, 5, req->building_id);
        store_bind_text_or_null(st, 6, req->sensor_id);
        store_bind_text(st, 7, req->text_key);
        store_bind_text(st, 8, req->params ? req->params : "{}");
        sqlite3_bind_int(st, 9, (int)req->flags);
        store_bind_text(st, 10, req->text);
        sqlite3_bind_int(st, 11, req->test);
        sqlite3_bind_int64(st, 12, (sqlite3_int64)now);
        r = store_step_done(a->store, st, "Opening an alert");
        if (r < 0)
                goto finish;
        id = sqlite3_last_insert_rowid(store_db(a->store));
        is_new = true;

        r = alert_get(a, id, &al);
        if (r >= 0)
                r = plan_first(a, &al, now);
        if (r >= 0)
                r = plan_broadcast(a, id, now);
        if (r >= 0) {
                char detail[128];
                snprintf(detail, sizeof(detail), "%s %s%s", req->severity, req->rule, req->test ? " (test)" : "");
                char obj[32];
                snprintf(obj, sizeof(obj), "alert:%lld", (long long)id);
                r = store_audit(a->store, now, "daemon", "open", obj, detail);
        }

finish:
        alert_row_done(&al);
        r = tx_end(a, r, r >= 0);
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = id;
        if (ret_new)
                *ret_new = is_new;
        return 0;
}

int alerts_clear(Alerts *a, const char *resident_id, const char *building_id, const char *rule, usec_t now)
{
        char subj[160];
        sqlite3_stmt *st = store_stmt(a->store, "UPDATE alerts SET cleared_at = ?3, updated_at = ?3 "
                                                "WHERE subject = ?1 AND rule = ?2 AND state <> 'resolved'");
        if (!st)
                return -EIO;
        store_bind_text(st, 1, subject_of(resident_id, building_id, subj, sizeof(subj)));
        store_bind_text(st, 2, rule);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
        return store_step_done(a->store, st, "Noting a cleared condition");
}

/* ---- ack / resolve ---------------------------------------------------------------------------------------- */

static int cancel_pending(Alerts *a, int64_t alert_id, const char *purpose, usec_t now)
{
        sqlite3_stmt *st = store_stmt(a->store, "UPDATE deliveries SET state = 'cancelled', last_error = ?3 "
                                                "WHERE alert_id = ?1 AND purpose = ?2 AND state = 'pending'");
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, alert_id);
        store_bind_text(st, 2, purpose);
        store_bind_text(st, 3, "not needed any more");
        (void)now;
        return store_step_done(a->store, st, "Cancelling deliveries");
}

/* Plan a message of the given purpose to everyone who got the alert, except one. */
static int tell_those_reached(Alerts *a, int64_t alert_id, const char *except, const char *purpose, usec_t now)
{
        sqlite3_stmt *st;
        struct candidates l = { 0 };
        int rc, r = 0;

        st = store_stmt(a->store, "SELECT DISTINCT ac.contact_id, c.notify FROM alert_contacts ac "
                                  "JOIN contacts c ON c.id = ac.contact_id WHERE ac.alert_id = ?1 AND ac.contact_id <> ?2 "
                                  "AND EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = ac.alert_id "
                                  "AND d.contact_id = ac.contact_id AND d.state = 'sent')");
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, alert_id);
        store_bind_text(st, 2, strempty(except));
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct candidate *nc = realloc(l.c, (l.n + 1) * sizeof(*nc));
                if (!nc) {
                        r = -ENOMEM;
                        break;
                }
                l.c = nc;
                l.c[l.n] = (struct candidate){ .id = store_col_dup(st, 0), .notify = store_col_dup(st, 1) };
                l.n++;
        }
        sqlite3_reset(st);
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(a->store, rc, "Finding who was told");
        for (size_t i = 0; i < l.n && r >= 0; i++)
                r = plan_deliveries(a, alert_id, l.c[i].id, l.c[i].notify, purpose, now);
        candidates_done(&l);
        return r;
}

/* The alert, which a person may still acknowledge or resolve: -ENOENT, -ESTALE (resolved already). */
static int get_unresolved(Alerts *a, int64_t alert_id, struct alert_row *ret)
{
        int r = alert_get(a, alert_id, ret);

        if (r >= 0 && streq(ret->state, "resolved")) {
                store_set_error(a->store, "Alert %lld is already resolved.", (long long)alert_id);
                return -ESTALE;
        }
        return r;
}

int alerts_ack(Alerts *a, int64_t alert_id, const char *contact_id, const char *via, usec_t now, char **ret_by)
{
        struct alert_row al = { 0 };
        sqlite3_stmt *st;
        int r;

        r = tx_begin(a);
        if (r < 0)
                return r;
        r = get_unresolved(a, alert_id, &al);
        if (r < 0)
                goto finish;
        if (streq(al.state, "acknowledged")) {
                store_set_error(a->store, "Alert %lld is already acknowledged by %s.", (long long)alert_id,
                                strempty(al.acked_by));
                if (ret_by)
                        *ret_by = al.acked_by ? strdup(al.acked_by) : NULL;
                r = -EALREADY;
                goto finish;
        }

        st = store_stmt(a->store, "UPDATE alerts SET state = 'acknowledged', acked_at = ?2, acked_by = ?3, "
                                  "updated_at = ?2, next_escalation_at = NULL, next_reminder_at = ?4 WHERE id = ?1");
        if (!st) {
                r = -EIO;
                goto finish;
        }
        sqlite3_bind_int64(st, 1, alert_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
        store_bind_text(st, 3, contact_id);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)(now + a->settings.reminder_interval));
        r = store_step_done(a->store, st, "Acknowledging");
        if (r < 0)
                goto finish;
        st = store_stmt(a->store, "UPDATE alert_contacts SET acked_at = ?3 WHERE alert_id = ?1 AND contact_id = ?2");
        if (!st) {
                r = -EIO;
                goto finish;
        }
        sqlite3_bind_int64(st, 1, alert_id);
        store_bind_text(st, 2, contact_id);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
        r = store_step_done(a->store, st, "Acknowledging");
        /* Someone is going: pages still waiting to go out are not needed; those
         * already reached are told who is on the way. */
        if (r >= 0)
                r = cancel_pending(a, alert_id, "alert", now);
        if (r >= 0)
                r = tell_those_reached(a, alert_id, contact_id, "ack_info", now);
        if (r >= 0)
                r = plan_broadcast(a, alert_id, now);
        if (r >= 0) {
                char obj[32], actor[96];
                snprintf(obj, sizeof(obj), "alert:%lld", (long long)alert_id);
                snprintf(actor, sizeof(actor), "contact:%s", contact_id);
                r = store_audit(a->store, now, actor, "ack", obj, via);
        }

finish:
        alert_row_done(&al);
        return tx_end(a, r, r >= 0);
}

int alerts_resolve(Alerts *a, int64_t alert_id, const char *who, const char *outcome, const char *note, usec_t now)
{
        struct alert_row al = { 0 };
        sqlite3_stmt *st;
        int r;

        r = tx_begin(a);
        if (r < 0)
                return r;
        r = get_unresolved(a, alert_id, &al);
        if (r < 0)
                goto finish;
        st = store_stmt(a->store, "UPDATE alerts SET state = 'resolved', resolved_at = ?2, resolved_by = ?3, "
                                  "outcome = ?4, note = ?5, updated_at = ?2, next_escalation_at = NULL, "
                                  "next_reminder_at = NULL, acked_at = coalesce(acked_at, ?2), "
                                  "acked_by = coalesce(acked_by, ?3) WHERE id = ?1");
        if (!st) {
                r = -EIO;
                goto finish;
        }
        sqlite3_bind_int64(st, 1, alert_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
        store_bind_text(st, 3, who);
        store_bind_text(st, 4, isempty(outcome) ? "ok" : outcome);
        store_bind_text(st, 5, note);
        r = store_step_done(a->store, st, "Resolving");
        if (r >= 0)
                r = cancel_pending(a, alert_id, "alert", now);
        if (r >= 0)
                r = cancel_pending(a, alert_id, "reminder", now);
        if (r >= 0)
                r = tell_those_reached(a, alert_id, who, "resolved", now);
        if (r >= 0)
                r = plan_broadcast(a, alert_id, now);
        if (r >= 0) {
                char obj[32];
                snprintf(obj, sizeof(obj), "alert:%lld", (long long)alert_id);
                r = store_audit(a->store, now, who, "resolve", obj, note);
        }

finish:
        r = tx_end(a, r, r >= 0);
        if (r >= 0)
                tokens_drop(a, false, alert_id, 0); /* nobody acknowledges a resolved alert */
        if (r >= 0 && a->resolved)
                a->resolved(a, al.resident_id, al.building_id, al.rule, a->resolved_userdata);
        alert_row_done(&al);
        return r;
}

/* ---- escalation, reminders, family fallback ---------------------------------------------------------------- */

/* Up to 64 alert ids a query finds due at now. */
static int due_ids(Alerts *a, const char *sql, usec_t now, int64_t ids[64], size_t *ret_n)
{
        sqlite3_stmt *st = store_stmt(a->store, sql);
        size_t n = 0;
        int rc;

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 64)
                ids[n++] = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        *ret_n = n;
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_fail_sqlite(a->store, rc, "Finding due alerts");
}

int alerts_tick(Alerts *a, usec_t now)
{
        int64_t ids[64];
        size_t n = 0;
        bool planned = false;
        int r;

        /* Escalations due. A batch at a time: each is its own transaction. */
        r = due_ids(a, "SELECT id FROM alerts WHERE state = 'open' AND next_escalation_at <= ?1 "
                       "ORDER BY next_escalation_at LIMIT 64",
                    now, ids, &n);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                struct alert_row al = { 0 };
                r = tx_begin(a);
                if (r < 0)
                        return r;
                r = alert_get(a, ids[i], &al);
                if (r >= 0) {
                        int tier = escalate_from(a, &al, al.tier, now);
                        if (tier < 0)
                                r = tier;
                        else {
                                usec_t timeout = tier_timeout(a, al.severity);
                                r = set_tier(a, al.id, tier, timeout ? now + timeout : 0);
                        }
                }
                if (r >= 0)
                        r = plan_broadcast(a, ids[i], now);
                if (r >= 0) {
                        char obj[32];
                        snprintf(obj, sizeof(obj), "alert:%lld", (long long)ids[i]);
                        r = store_audit(a->store, now, "daemon", "escalate", obj, "nobody acknowledged in time");
                }
                alert_row_done(&al);
                r = tx_end(a, r, false);
                if (r < 0)
                        return r;
                planned = true;
        }

        /* Reminders to whoever said they were going but has not resolved. */
        r = due_ids(a, "SELECT id FROM alerts WHERE state = 'acknowledged' AND next_reminder_at <= ?1 LIMIT 64", now,
                    ids, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                struct alert_row al = { 0 };
                r = tx_begin(a);
                if (r < 0)
                        return r;
                r = alert_get(a, ids[i], &al);
                if (r >= 0 && al.acked_by) {
                        _cleanup_free_ char *notify = NULL;
                        sqlite3_stmt *q = store_stmt(a->store, "SELECT notify FROM contacts WHERE id = ?1");
                        if (q) {
                                store_bind_text(q, 1, al.acked_by);
                                if (sqlite3_step(q) == SQLITE_ROW)
                                        notify = store_col_dup(q, 0);
                                sqlite3_reset(q);
                        }
                        /* Acknowledged from shouwangctl by staff who are not contacts: no one to remind. */
                        if (notify)
                                r = plan_deliveries(a, al.id, al.acked_by, notify, "reminder", now);
                }
                if (r >= 0) {
                        sqlite3_stmt *u = store_stmt(a->store, "UPDATE alerts SET next_reminder_at = ?2 WHERE id = ?1");
                        if (!u)
                                r = -EIO;
                        else {
                                sqlite3_bind_int64(u, 1, ids[i]);
                                sqlite3_bind_int64(u, 2, (sqlite3_int64)(now + a->settings.reminder_interval));
                                r = store_step_done(a->store, u, "Scheduling a reminder");
                        }
                }
                alert_row_done(&al);
                r = tx_end(a, r, false);
                if (r < 0)
                        return r;
                planned = true;
        }

        if (planned && a->planned)
                a->planned(a, a->userdata);
        return 0;
}

usec_t alerts_next_wakeup(Alerts *a)
{
        sqlite3_stmt *st = store_stmt(a->store,
                                      "SELECT min(t) FROM (SELECT min(next_escalation_at) AS t FROM alerts WHERE state = 'open' "
                                      "UNION ALL SELECT min(next_reminder_at) FROM alerts WHERE state = 'acknowledged')");
        usec_t t = USEC_INFINITY;

        if (!st)
                return USEC_INFINITY;
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
                t = (usec_t)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return t;
}

int alerts_delivery_failed(Alerts *a, int64_t delivery_id, usec_t now)
{
        struct alert_row al = { 0 };
        struct candidates l = { 0 };
        sqlite3_stmt *st;
        int64_t alert_id = 0;
        bool family = false;
        int r, rc;

        st = store_stmt(a->store, "SELECT d.alert_id, c.role = 'family' AND d.purpose = 'alert' FROM deliveries d "
                                  "JOIN contacts c ON c.id = d.contact_id WHERE d.id = ?1");
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, delivery_id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                alert_id = sqlite3_column_int64(st, 0);
                family = sqlite3_column_int(st, 1);
        }
        sqlite3_reset(st);
        if (!family)
                return 0;

        r = tx_begin(a);
        if (r < 0)
                return r;
        r = alert_get(a, alert_id, &al);
        if (r >= 0 && streq(al.state, "open")) {
                /* The next family contact on the whole ladder who was not told yet. */
                for (int t = 1; t <= TIER_MAX && r >= 0; t++)
                        r = collect_tier(a, &al, t, &l);
                if (r >= 0) {
                        struct candidates fam = { 0 };
                        for (size_t i = 0; i < l.n; i++)
                                if (streq(l.c[i].role, "family")) {
                                        int k = already_notified(a, alert_id, l.c[i].id);
                                        if (k < 0) {
                                                r = k;
                                                break;
                                        }
                                        if (k == 0) {
                                                fam.c = &l.c[i];
                                                fam.n = 1;
                                                break;
                                        }
                                }
                        if (r >= 0 && fam.n == 1) {
                                r = tell(a, alert_id, fam.c, fam.c->tier, "fallback", now);
                                if (r >= 0) {
                                        char obj[32];
                                        snprintf(obj, sizeof(obj), "alert:%lld", (long long)alert_id);
                                        r = store_audit(a->store, now, "daemon", "family-fallback", obj, fam.c->id);
                                }
                        }
                }
        }
        candidates_done(&l);
        alert_row_done(&al);
        return tx_end(a, r, r >= 0);
}

/* ---- tokens ------------------------------------------------------------------------------------------------- */

/* A new random token for (alert, contact); its hash goes into alert_tokens (in the transaction under way, if any). */
static int token_insert(Alerts *a, int64_t alert_id, const char *contact_id, usec_t now, char *ret_token)
{
        unsigned char raw[16], hash[32];
        sqlite3_stmt *st;
        ssize_t n;

        n = getrandom(raw, sizeof(raw), 0);
        if (n != (ssize_t)sizeof(raw))
                return n < 0 ? -errno : -EIO;
        for (size_t i = 0; i < sizeof(raw); i++)
                sprintf(ret_token + 2 * i, "%02x", raw[i]);
        explicit_bzero(raw, sizeof(raw));
        sha256(ret_token, strlen(ret_token), hash);
        st = store_stmt(a->store, "INSERT INTO alert_tokens (alert_id, contact_id, token_hash, created_at, expires_at) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5)");
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, alert_id);
        store_bind_text(st, 2, contact_id);
        sqlite3_bind_blob(st, 3, hash, sizeof(hash), SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)(now + a->settings.token_lifetime));
        return store_step_done(a->store, st, "Saving a token");
}

int alerts_token_issue(Alerts *a, int64_t alert_id, const char *contact_id, usec_t now, char *ret_token)
{
        struct issued_token *t;

        /* The token made with the delivery, committed with the alert: no write at all. */
        for (t = a->tokens; t; t = t->next)
                if (t->alert_id == alert_id && streq(t->contact_id, contact_id) && !t->staged && !t->handed_out &&
                    t->expires_at > now) {
                        memcpy(ret_token, t->token, sizeof(t->token));
                        t->handed_out = true;
                        return 0;
                }
        /* None waiting (planned before a restart, or asked for again): a new one, committed on its own. */
        return token_insert(a, alert_id, contact_id, now, ret_token);
}

usec_t alerts_token_lifetime(Alerts *a)
{
        return a->settings.token_lifetime;
}

/* Find the token for (alert, contact), good at now: *ret_id and ALERT_TOKEN_USED_* for the actions it was
 * used for. -EACCES if none matches, -EKEYEXPIRED (both counted), -EIO. */
static int token_find(Alerts *a, int64_t alert_id, const char *contact_id, const char *token, usec_t now,
                      int64_t *ret_id, unsigned *ret_used)
{
        unsigned char hash[32];
        sqlite3_stmt *st;
        int64_t match = 0;
        usec_t expires = 0;
        unsigned used = 0;
        int rc;

        if (isempty(token) || strlen(token) != ALERT_TOKEN_LEN || isempty(contact_id)) {
                a->tokens_refused++;
                return -EACCES;
        }
        sha256(token, strlen(token), hash);
        st = store_stmt(a->store, "SELECT id, token_hash, expires_at, used_ack_at, used_resolve_at FROM alert_tokens "
                                  "WHERE alert_id = ?1 AND contact_id = ?2");
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, alert_id);
        store_bind_text(st, 2, contact_id);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const void *h = sqlite3_column_blob(st, 1);
                /* Every candidate is compared in full, in constant time. */
                if (h && sqlite3_column_bytes(st, 1) == 32 && memeq_const_time(h, hash, 32)) {
                        match = sqlite3_column_int64(st, 0);
                        expires = (usec_t)sqlite3_column_int64(st, 2);
                        used = (sqlite3_column_int64(st, 3) ? ALERT_TOKEN_USED_ACK : 0) |
                               (sqlite3_column_int64(st, 4) ? ALERT_TOKEN_USED_RESOLVE : 0);
                }
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return store_fail_sqlite(a->store, rc, "Checking a token");
        if (!match) {
                a->tokens_refused++;
                return -EACCES;
        }
        if (now >= expires) {
                a->tokens_refused++;
                return -EKEYEXPIRED;
        }
        *ret_id = match;
        *ret_used = used;
        return 0;
}

int alerts_token_verify(Alerts *a, int64_t alert_id, const char *contact_id, const char *token, usec_t now,
                        unsigned *ret_used)
{
        int64_t id;
        unsigned used;
        int r = token_find(a, alert_id, contact_id, token, now, &id, &used);

        if (r >= 0 && ret_used)
                *ret_used = used;
        return r;
}

int alerts_token_check(Alerts *a, int64_t alert_id, const char *contact_id, const char *token, const char *action,
                       usec_t now)
{
        sqlite3_stmt *st;
        int64_t match;
        unsigned used;
        bool is_resolve = streq_ptr(action, "resolve");
        int r;

        r = token_find(a, alert_id, contact_id, token, now, &match, &used);
        if (r < 0)
                return r;
        if (used & (is_resolve ? ALERT_TOKEN_USED_RESOLVE : ALERT_TOKEN_USED_ACK)) {
                a->tokens_refused++;
                return -EALREADY;
        }
        st = store_stmt(a->store, is_resolve ? "UPDATE alert_tokens SET used_resolve_at = ?2 WHERE id = ?1"
                                             : "UPDATE alert_tokens SET used_ack_at = ?2 WHERE id = ?1");
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, match);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
        r = store_step_done(a->store, st, "Marking a token used");
        return r;
}
