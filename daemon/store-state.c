/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the daemon keeps so that the rules survive a restart: water use per
 * meter in half-hour slots (water_slots), the small pieces of rule state the
 * engine hands over (rule_state), pulse meters' counters
 * (sensor_health.counter) — and the group commit that writes them in the
 * same transaction as the events, sensor health and last activity they go
 * with, so a power cut leaves the history and the state that depends on it
 * consistent with each other.
 *
 * water_slots is years of history on an SD card: one row per meter and
 * half-hour at most (a slot is replaced, never appended to), WITHOUT ROWID,
 * about 15 bytes a row; nothing here deletes it.
 *
 * The event insert, the sensor health upsert and the last-activity upsert
 * live only here (store_sensor_health_set() shares the health upsert).
 */

#include "daemon/store-internal.h"

#include "sensors/event.h"

/* The group commit's statements. store_stmt() caches them by the address of these strings. */
static const char sql_event[] = "INSERT INTO events (sensor_num, at, type, value, flags) VALUES (?1, ?2, ?3, ?4, ?5)";
const char store_sql_health_upsert[] =
        "INSERT INTO sensor_health (sensor_num, last_seen, battery, available, available_since, state, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT (sensor_num) DO UPDATE SET last_seen = excluded.last_seen, battery = excluded.battery, "
        "available = excluded.available, available_since = excluded.available_since, state = excluded.state, "
        "updated_at = excluded.updated_at";
static const char sql_activity[] =
        "INSERT INTO resident_state (resident_id, last_activity_at) VALUES (?1, ?2) "
        "ON CONFLICT (resident_id) DO UPDATE SET last_activity_at = max(last_activity_at, excluded.last_activity_at)";
static const char sql_slot[] = "INSERT INTO water_slots (sensor_num, slot, ml) VALUES (?1, ?2, ?3) "
                               "ON CONFLICT (sensor_num, slot) DO UPDATE SET ml = excluded.ml";
static const char sql_state[] =
        "INSERT INTO rule_state (subject, rule, key, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (subject, rule, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
static const char sql_counter[] = "INSERT INTO sensor_health (sensor_num, counter, updated_at) VALUES (?1, ?2, ?3) "
                                  "ON CONFLICT (sensor_num) DO UPDATE SET counter = excluded.counter, "
                                  "updated_at = excluded.updated_at";

/* ---- the group commit ---------------------------------------------------------------------------------- */

static int group_begin(Store *s)
{
        int r = store_exec(s, "PRAGMA synchronous = NORMAL", "Preparing a batch");
        if (r < 0)
                return r;
        r = store_exec(s, "BEGIN IMMEDIATE", "Starting a batch");
        if (r < 0)
                (void)store_exec(s, "PRAGMA synchronous = FULL", "Restoring synchronous");
        return r;
}

static int group_end(Store *s, int r)
{
        if (r >= 0)
                r = store_exec(s, "COMMIT", "Committing a batch");
        if (r < 0)
                (void)store_rollback(s);
        int q = store_exec(s, "PRAGMA synchronous = FULL", "Restoring synchronous");
        return r < 0 ? r : q;
}

typedef void (*bind_fn)(sqlite3_stmt *st, const void *item, usec_t now);

/* One statement per item. A constraint failure (the sensor or resident was removed meanwhile) skips that
 * item when tolerated: it has nowhere to go, the rest is still saved. */
static int run_items(Store *s, const char *sql, const void *items, size_t n, size_t size, bind_fn bind,
                     bool tolerate_constraint, usec_t now, const char *what)
{
        for (size_t i = 0; i < n; i++) {
                sqlite3_stmt *st = store_stmt(s, sql);
                int rc;

                if (!st)
                        return -EIO;
                bind(st, (const char *)items + i * size, now);
                rc = sqlite3_step(st);
                sqlite3_reset(st);
                if (rc != SQLITE_DONE && !(tolerate_constraint && (rc & 0xff) == SQLITE_CONSTRAINT))
                        return store_fail_sqlite(s, rc, what);
        }
        return 0;
}

static void bind_event(sqlite3_stmt *st, const void *item, usec_t now)
{
        const struct sensor_event *e = item;

        sqlite3_bind_int64(st, 1, e->sensor);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)e->wall);
        sqlite3_bind_int(st, 3, e->type);
        sqlite3_bind_double(st, 4, e->value);
        sqlite3_bind_int(st, 5, e->flags);
}

/* Unknown values stay NULL. */
void store_bind_health(sqlite3_stmt *st, const struct store_health_update *u, usec_t now)
{
        const struct sensor_health *h = &u->health;

        sqlite3_bind_int64(st, 1, u->num);
        if (h->last_seen)
                sqlite3_bind_int64(st, 2, (sqlite3_int64)h->last_seen);
        if (h->battery >= 0)
                sqlite3_bind_int(st, 3, h->battery);
        if (h->available >= 0)
                sqlite3_bind_int(st, 4, h->available);
        if (h->available_since)
                sqlite3_bind_int64(st, 5, (sqlite3_int64)h->available_since);
        if (h->state)
                store_bind_text(st, 6, h->state);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)now);
}

static void bind_health(sqlite3_stmt *st, const void *item, usec_t now)
{
        store_bind_health(st, item, now);
}

static void bind_activity(sqlite3_stmt *st, const void *item, usec_t now)
{
        const struct store_activity *a = item;

        store_bind_text(st, 1, a->resident_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)a->at);
}

static void bind_slot(sqlite3_stmt *st, const void *item, usec_t now)
{
        const struct store_water_slot *w = item;

        sqlite3_bind_int64(st, 1, w->sensor_num);
        sqlite3_bind_int64(st, 2, w->slot);
        sqlite3_bind_int64(st, 3, w->ml < 0 ? 0 : w->ml);
}

static void bind_state(sqlite3_stmt *st, const void *item, usec_t now)
{
        const struct store_rule_state *x = item;

        store_bind_text(st, 1, x->subject);
        store_bind_text(st, 2, x->rule);
        store_bind_text(st, 3, x->key);
        sqlite3_bind_int64(st, 4, x->value);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
}

static void bind_counter(sqlite3_stmt *st, const void *item, usec_t now)
{
        const struct store_counter *c = item;

        sqlite3_bind_int64(st, 1, c->sensor_num);
        sqlite3_bind_int64(st, 2, c->counter);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
}

int store_group_commit(Store *s, const struct store_group *g)
{
        usec_t now = now_usec(CLOCK_REALTIME);
        int r;

        if (g->n_events + g->n_health + g->n_activity + g->n_slots + g->n_states + g->n_counters == 0)
                return 0;
        r = group_begin(s);
        if (r < 0)
                return r;
        r = run_items(s, sql_event, g->events, g->n_events, sizeof(*g->events), bind_event, false, now,
                      "Saving events");
        if (r >= 0)
                r = run_items(s, store_sql_health_upsert, g->health, g->n_health, sizeof(*g->health), bind_health,
                              true, now, "Saving sensor health");
        /* After the health rows: a counter of a sensor heard for the first time updates the row just made. */
        if (r >= 0)
                r = run_items(s, sql_counter, g->counters, g->n_counters, sizeof(*g->counters), bind_counter, true,
                              now, "Saving a water meter's counter");
        if (r >= 0)
                r = run_items(s, sql_activity, g->activity, g->n_activity, sizeof(*g->activity), bind_activity, true,
                              now, "Saving the last activity");
        if (r >= 0)
                r = run_items(s, sql_slot, g->slots, g->n_slots, sizeof(*g->slots), bind_slot, false, now,
                              "Saving water use");
        if (r >= 0)
                r = run_items(s, sql_state, g->states, g->n_states, sizeof(*g->states), bind_state, false, now,
                              "Saving rule state");
        return group_end(s, r);
}

/* ---- reading back -------------------------------------------------------------------------------------- */

int store_water_slots_foreach(Store *s, int64_t sensor_num, int64_t from_slot, int64_t to_slot,
                              store_water_slot_cb cb, void *userdata)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        /* Prepared per call (not cached): the callback may use the store. */
        rc = sqlite3_prepare_v2(s->db,
                                "SELECT slot, ml FROM water_slots WHERE sensor_num = ?1 AND slot BETWEEN ?2 AND ?3 "
                                "ORDER BY slot",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading water use");
        sqlite3_bind_int64(st, 1, sensor_num);
        sqlite3_bind_int64(st, 2, from_slot);
        sqlite3_bind_int64(st, 3, to_slot);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct store_water_slot w = {
                        .sensor_num = sensor_num,
                        .slot = sqlite3_column_int64(st, 0),
                        .ml = sqlite3_column_int64(st, 1),
                };
                r = cb(&w, userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading water use");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

int store_water_slot_last(Store *s, int64_t sensor_num, int64_t *ret_slot)
{
        sqlite3_stmt *st = store_stmt(s, "SELECT max(slot) FROM water_slots WHERE sensor_num = ?1");
        int rc, r = -ENOENT;

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, sensor_num);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
                *ret_slot = sqlite3_column_int64(st, 0);
                r = 0;
        } else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading water use");
        sqlite3_reset(st);
        return r;
}

int store_rule_state_foreach(Store *s, store_rule_state_cb cb, void *userdata)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(s->db, "SELECT subject, rule, key, value FROM rule_state", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading rule state");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct store_rule_state x = {
                        .subject = (const char *)sqlite3_column_text(st, 0),
                        .rule = (const char *)sqlite3_column_text(st, 1),
                        .key = (const char *)sqlite3_column_text(st, 2),
                        .value = sqlite3_column_int64(st, 3),
                };
                if (!x.subject || !x.rule || !x.key)
                        continue;
                r = cb(&x, userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading rule state");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

int store_sensor_counter_get(Store *s, const char *sensor_id, int64_t *ret)
{
        return store_sensor_int64(s,
                                  "SELECT coalesce(h.counter, 0) FROM sensors s "
                                  "LEFT JOIN sensor_health h ON h.sensor_num = s.num WHERE s.id = ?1",
                                  sensor_id, ret, "Reading a meter's counter");
}

int store_open_alerts_severity_foreach(Store *s, store_open_alert_severity_cb cb, void *userdata)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(s->db,
                                "SELECT resident_id, building_id, rule, severity FROM alerts WHERE state <> 'resolved'",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading open alerts");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
                       (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3), userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading open alerts");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}
