/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading alerts and deliveries, recording delivery attempts (see store.h). */

#include "daemon/store-internal.h"

void alert_info_done(struct alert_info *a)
{
        char **strings[] = { &a->rule,        &a->severity,  &a->state,       &a->subject,      &a->resident_id,
                             &a->resident_name, &a->building_id, &a->flat,     &a->sensor_id,    &a->text_key,
                             &a->params,      &a->text,      &a->acked_by,    &a->acked_by_name, &a->resolved_by,
                             &a->outcome,     &a->note };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                free(*strings[i]);
                *strings[i] = NULL;
        }
}

#define ALERT_COLUMNS                                                                                            \
        "a.id, a.rule, a.severity, a.state, a.subject, a.resident_id, r.name, a.building_id, r.flat, "          \
        "a.sensor_id, coalesce(r.lives_alone, -1), a.text_key, a.params, a.text, a.flags, a.test, a.opened_at, " \
        "a.updated_at, a.cleared_at, a.repeats, a.tier, a.next_escalation_at, a.acked_at, a.acked_by, "         \
        "coalesce(c.name, a.acked_by), a.resolved_at, a.resolved_by, a.outcome, a.note "                         \
        "FROM alerts a LEFT JOIN residents r ON r.id = a.resident_id LEFT JOIN contacts c ON c.id = a.acked_by "

static int alert_from_row(sqlite3_stmt *st, struct alert_info *a)
{
        *a = (struct alert_info){
                .id = sqlite3_column_int64(st, 0),
                .rule = store_col_dup(st, 1),
                .severity = store_col_dup(st, 2),
                .state = store_col_dup(st, 3),
                .subject = store_col_dup(st, 4),
                .resident_id = store_col_dup(st, 5),
                .resident_name = store_col_dup(st, 6),
                .building_id = store_col_dup(st, 7),
                .flat = store_col_dup(st, 8),
                .sensor_id = store_col_dup(st, 9),
                .lives_alone = sqlite3_column_int(st, 10),
                .text_key = store_col_dup(st, 11),
                .params = store_col_dup(st, 12),
                .text = store_col_dup(st, 13),
                .flags = (unsigned)sqlite3_column_int(st, 14),
                .test = sqlite3_column_int(st, 15),
                .opened_at = store_col_usec(st, 16),
                .updated_at = store_col_usec(st, 17),
                .cleared_at = store_col_usec(st, 18),
                .repeats = sqlite3_column_int(st, 19),
                .tier = sqlite3_column_int(st, 20),
                .next_escalation_at = store_col_usec(st, 21),
                .acked_at = store_col_usec(st, 22),
                .acked_by = store_col_dup(st, 23),
                .acked_by_name = store_col_dup(st, 24),
                .resolved_at = store_col_usec(st, 25),
                .resolved_by = store_col_dup(st, 26),
                .outcome = store_col_dup(st, 27),
                .note = store_col_dup(st, 28),
        };
        if (!a->rule || !a->severity || !a->state || !a->subject) {
                alert_info_done(a);
                return -ENOMEM;
        }
        return 0;
}

int store_alert_info_get(Store *s, int64_t id, struct alert_info *ret)
{
        sqlite3_stmt *st = store_stmt(s, "SELECT " ALERT_COLUMNS "WHERE a.id = ?1");
        int rc, r;

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                r = alert_from_row(st, ret);
                sqlite3_reset(st);
                return r;
        }
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
                store_set_error(s, "There is no alert %lld — see shouwangctl alerts for the open ones.",
                                (long long)id);
                return -ENOENT;
        }
        return store_fail_sqlite(s, rc, "Reading an alert");
}

int store_alerts_foreach(Store *s, usec_t now, usec_t recent, size_t limit, store_alert_cb cb, void *userdata)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(store_db(s),
                                "SELECT " ALERT_COLUMNS "WHERE a.state <> 'resolved' OR a.resolved_at >= ?1 "
                                "ORDER BY a.state = 'resolved', a.opened_at DESC LIMIT ?2",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading alerts");
        sqlite3_bind_int64(st, 1, (sqlite3_int64)(now > recent ? now - recent : 0));
        sqlite3_bind_int64(st, 2, limit ? (sqlite3_int64)limit : -1);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct alert_info a;
                r = alert_from_row(st, &a);
                if (r >= 0)
                        r = cb(&a, userdata);
                alert_info_done(&a);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading alerts");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

void delivery_info_done(struct delivery_info *d)
{
        free(d->contact_id);
        free(d->contact_name);
        free(d->contact_phone);
        free(d->contact_role);
        free(d->channel);
        free(d->purpose);
        free(d->state);
        free(d->last_error);
        *d = (struct delivery_info){ 0 };
}

#define DELIVERY_COLUMNS                                                                                         \
        "d.id, d.alert_id, d.contact_id, coalesce(c.name, ''), coalesce(c.phone, ''), coalesce(c.role, ''), "    \
        "d.channel, d.purpose, d.state, d.attempts, d.next_attempt_at, d.created_at, d.sent_at, d.last_error "   \
        "FROM deliveries d LEFT JOIN contacts c ON c.id = d.contact_id "

static int delivery_from_row(sqlite3_stmt *st, struct delivery_info *d)
{
        *d = (struct delivery_info){
                .id = sqlite3_column_int64(st, 0),
                .alert_id = sqlite3_column_int64(st, 1),
                .contact_id = store_col_dup(st, 2),
                .contact_name = store_col_dup(st, 3),
                .contact_phone = store_col_dup(st, 4),
                .contact_role = store_col_dup(st, 5),
                .channel = store_col_dup(st, 6),
                .purpose = store_col_dup(st, 7),
                .state = store_col_dup(st, 8),
                .attempts = sqlite3_column_int(st, 9),
                .next_attempt_at = store_col_usec(st, 10),
                .created_at = store_col_usec(st, 11),
                .sent_at = store_col_usec(st, 12),
                .last_error = store_col_dup(st, 13),
        };
        if (!d->contact_id || !d->channel || !d->purpose || !d->state) {
                delivery_info_done(d);
                return -ENOMEM;
        }
        return 0;
}

int store_delivery_get(Store *s, int64_t id, struct delivery_info *ret)
{
        sqlite3_stmt *st = store_stmt(s, "SELECT " DELIVERY_COLUMNS "WHERE d.id = ?1");
        int rc, r;

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                r = delivery_from_row(st, ret);
                sqlite3_reset(st);
                return r;
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? -ENOENT : store_fail_sqlite(s, rc, "Reading a delivery");
}

static int deliveries_query(Store *s, const char *sql, int64_t a, int64_t b, store_delivery_cb cb, void *userdata)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        /* Not cached: the callback may send, record and query again. */
        rc = sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading deliveries");
        sqlite3_bind_int64(st, 1, a);
        sqlite3_bind_int64(st, 2, b);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct delivery_info d;
                r = delivery_from_row(st, &d);
                if (r >= 0)
                        r = cb(&d, userdata);
                delivery_info_done(&d);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading deliveries");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

int store_deliveries_due(Store *s, usec_t now, size_t limit, store_delivery_cb cb, void *userdata)
{
        return deliveries_query(s,
                                "SELECT " DELIVERY_COLUMNS "WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 "
                                "ORDER BY d.next_attempt_at, d.id LIMIT ?2",
                                (int64_t)now, limit ? (int64_t)limit : -1, cb, userdata);
}

int store_deliveries_of_alert(Store *s, int64_t alert_id, store_delivery_cb cb, void *userdata)
{
        return deliveries_query(s, "SELECT " DELIVERY_COLUMNS "WHERE d.alert_id = ?1 AND ?2 = ?2 ORDER BY d.id",
                                alert_id, 0, cb, userdata);
}

usec_t store_deliveries_next(Store *s)
{
        sqlite3_stmt *st = store_stmt(s, "SELECT min(next_attempt_at) FROM deliveries WHERE state = 'pending'");
        usec_t t = USEC_INFINITY;

        if (!st)
                return USEC_INFINITY;
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
                t = (usec_t)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return t;
}

int store_delivery_record(Store *s, int64_t id, enum delivery_outcome outcome, usec_t now, usec_t next_attempt_at,
                          const char *detail)
{
        sqlite3_stmt *st;
        int r;

        r = store_begin(s);
        if (r < 0)
                return r;
        if (outcome != DELIVERY_DEFERRED) {
                st = store_stmt(s, "INSERT INTO delivery_attempts (delivery_id, at, ok, detail) VALUES (?1, ?2, ?3, ?4)");
                if (!st) {
                        r = -EIO;
                        goto finish;
                }
                sqlite3_bind_int64(st, 1, id);
                sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
                sqlite3_bind_int(st, 3, outcome == DELIVERY_SENT);
                store_bind_text(st, 4, detail);
                r = store_step_done(s, st, "Recording a delivery attempt");
                if (r < 0)
                        goto finish;
        }
        switch (outcome) {
        case DELIVERY_SENT:
                st = store_stmt(s, "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = ?2, "
                                   "last_error = NULL WHERE id = ?1 AND state = 'pending'");
                break;
        case DELIVERY_RETRY:
                st = store_stmt(s, "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?3, "
                                   "last_error = ?4 WHERE id = ?1 AND state = 'pending' AND ?2 = ?2");
                break;
        case DELIVERY_FAILED:
                st = store_stmt(s, "UPDATE deliveries SET state = 'failed', attempts = attempts + 1, last_error = ?4 "
                                   "WHERE id = ?1 AND state = 'pending' AND ?2 = ?2 AND ?3 = ?3");
                break;
        case DELIVERY_DEFERRED:
                st = store_stmt(s, "UPDATE deliveries SET next_attempt_at = ?3, last_error = ?4 "
                                   "WHERE id = ?1 AND state = 'pending' AND ?2 = ?2");
                break;
        }
        if (!st) {
                r = -EIO;
                goto finish;
        }
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
        if (outcome != DELIVERY_SENT) {
                sqlite3_bind_int64(st, 3, (sqlite3_int64)next_attempt_at);
                store_bind_text(st, 4, detail);
        }
        r = store_step_done(s, st, "Recording a delivery");
finish:
        if (r >= 0)
                r = store_commit(s);
        if (r < 0)
                (void)store_rollback(s);
        return r;
}

int store_alert_contacts_foreach(Store *s, int64_t alert_id, store_alert_contact_cb cb, void *userdata)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(store_db(s),
                                "SELECT ac.contact_id, coalesce(c.name, ac.contact_id), coalesce(c.role, ''), ac.reason, "
                                "ac.tier, ac.notified_at, ac.acked_at, EXISTS (SELECT 1 FROM deliveries d WHERE "
                                "d.alert_id = ac.alert_id AND d.contact_id = ac.contact_id AND d.state = 'sent') "
                                "FROM alert_contacts ac LEFT JOIN contacts c ON c.id = ac.contact_id "
                                "WHERE ac.alert_id = ?1 ORDER BY ac.notified_at, ac.tier, ac.contact_id",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading who was told");
        sqlite3_bind_int64(st, 1, alert_id);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct alert_contact_info c = {
                        .contact_id = (const char *)sqlite3_column_text(st, 0),
                        .name = (const char *)sqlite3_column_text(st, 1),
                        .role = (const char *)sqlite3_column_text(st, 2),
                        .reason = (const char *)sqlite3_column_text(st, 3),
                        .tier = sqlite3_column_int(st, 4),
                        .notified_at = store_col_usec(st, 5),
                        .acked_at = store_col_usec(st, 6),
                        .reached = sqlite3_column_int(st, 7),
                };
                r = cb(&c, userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading who was told");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

int store_deliveries_wake(Store *s, const char *channel, usec_t now)
{
        sqlite3_stmt *st = store_stmt(s, "UPDATE deliveries SET next_attempt_at = ?2 WHERE state = 'pending' "
                                         "AND channel = ?1 AND last_error = 'channel down' AND next_attempt_at > ?2");
        int r;

        if (!st)
                return -EIO;
        store_bind_text(st, 1, channel);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
        r = store_step_done(s, st, "Waking deferred deliveries");
        return r < 0 ? r : sqlite3_changes(store_db(s));
}
