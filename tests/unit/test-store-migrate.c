/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Forward migrations from every earlier schema version: build a database at
 * version v (0 … latest-1), fill it with data valid at v, open it with the
 * normal store_open() and check it reaches the newest version with the data
 * intact. A new migration gets tested here without touching this file,
 * except for adding the sample data its version introduces.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <string.h>

#include "daemon/store.h"

static char dir[64];

/* Sample rows, each valid from the version given on. */
static const struct {
        int since;
        const char *sql;
} samples[] = {
        { 1, "INSERT INTO buildings (id, created_at) VALUES ('B17', 1)" },
        { 1, "INSERT INTO residents (id, name, building_id, flat, lives_alone, created_at, updated_at) "
             "VALUES ('R201', '沈国强', 'B17', '201', 1, 1, 1)" },
        { 1, "INSERT INTO contacts (id, name, role, created_at, updated_at) VALUES ('C1', '王阿姨', 'neighbour', 1, 1)" },
        { 1, "INSERT INTO resident_contacts (resident_id, contact_id, tier) VALUES ('R201', 'C1', 1)" },
        { 1, "INSERT INTO sensors (id, resident_id, building_id, kind, source, created_at, updated_at) "
             "VALUES ('S1', 'R201', 'B17', 'leak', 'mqtt:z/leak', 1, 1)" },
        { 1, "INSERT INTO away_periods (resident_id, starts_at, ends_at, created_at) VALUES ('R201', 1, 2, 1)" },
        { 1, "INSERT INTO audit (at, actor, action) VALUES (1, 'test', 'seed')" },
        { 2, "INSERT INTO sensor_health (sensor_num, last_seen, updated_at) VALUES (1, 5, 5)" },
        { 2, "INSERT INTO events (sensor_num, at, type, value) VALUES (1, 5, 1, 1.0)" },
        { 2, "INSERT INTO alerts (rule, severity, subject, resident_id, text, opened_at, updated_at) "
             "VALUES ('leak', 'critical', 'R201', 'R201', 'leak', 5, 5)" },
        { 2, "INSERT INTO deliveries (alert_id, contact_id, channel, next_attempt_at, created_at) "
             "VALUES (1, 'C1', 'mqtt', 5, 5)" },
        { 2, "INSERT INTO alert_contacts (alert_id, contact_id, tier, notified_at) VALUES (1, 'C1', 1, 5)" },
        { 2, "INSERT INTO alert_tokens (alert_id, contact_id, token_hash, created_at, expires_at) "
             "VALUES (1, 'C1', x'00', 5, 6)" },
        { 3, "INSERT INTO water_slots (sensor_num, slot, ml) VALUES (1, 983040, 12000)" },
        { 3, "INSERT INTO rule_state (subject, rule, key, value, updated_at) VALUES ('R201', 'tap_running', 'since', 7, 7)" },
};

static int count(sqlite3 *db, const char *table)
{
        char sql[128];
        sqlite3_stmt *st;
        int n = -1;

        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                return -1;
        if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return n;
}

static void test_every_earlier_version_migrates_to_the_newest_keeping_data(void **state)
{
        int latest = store_schema_latest();

        assert_true(latest >= 1);
        for (int v = 0; v < latest; v++) {
                char path[128];
                Store *s = NULL;

                snprintf(path, sizeof(path), "%s/v%d.db", dir, v);
                assert_int_equal(store_open_at_version(path, v, &s), 0);
                assert_int_equal(store_schema_version(s), v);
                for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
                        if (samples[i].since <= v) {
                                char *err = NULL;
                                int rc = sqlite3_exec(store_db(s), samples[i].sql, NULL, NULL, &err);
                                if (rc != SQLITE_OK)
                                        fail_msg("v%d: %s: %s", v, samples[i].sql, err);
                        }
                store_free(s);

                s = NULL;
                assert_int_equal(store_open(path, 0, &s), 0);
                assert_int_equal(store_schema_version(s), latest);
                if (v >= 1) {
                        assert_int_equal(count(store_db(s), "residents"), 1);
                        assert_int_equal(count(store_db(s), "resident_contacts"), 1);
                        assert_int_equal(count(store_db(s), "sensors"), 1);
                }
                if (v >= 2)
                        assert_int_equal(count(store_db(s), "alerts"), 1);
                /* The migrated database passes SQLite's own checks. */
                assert_int_equal(sqlite3_exec(store_db(s), "PRAGMA foreign_key_check", NULL, NULL, NULL), SQLITE_OK);
                sqlite3_stmt *st;
                assert_int_equal(sqlite3_prepare_v2(store_db(s), "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
                sqlite3_finalize(st);
                store_free(s);
        }
}

static void test_migrated_schema_equals_fresh_schema(void **state)
{
        /* A database migrated step by step must end with the same tables and
         * indexes as one created at the newest version in one go. */
        int latest = store_schema_latest();
        char a[128], b[128];
        Store *sa = NULL, *sb = NULL;

        snprintf(a, sizeof(a), "%s/stepwise.db", dir);
        snprintf(b, sizeof(b), "%s/fresh.db", dir);
        for (int v = 0; v <= latest; v++) {
                assert_int_equal(store_open_at_version(a, v, &sa), 0);
                store_free(sa);
        }
        assert_int_equal(store_open_at_version(a, latest, &sa), 0);
        assert_int_equal(store_open(b, STORE_OPEN_CREATE, &sb), 0);

        const char *q = "SELECT group_concat(type || ' ' || name || ' ' || coalesce(sql, ''), char(10)) FROM "
                        "(SELECT * FROM sqlite_schema ORDER BY name)";
        sqlite3_stmt *x, *y;
        assert_int_equal(sqlite3_prepare_v2(store_db(sa), q, -1, &x, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(store_db(sb), q, -1, &y, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(x), SQLITE_ROW);
        assert_int_equal(sqlite3_step(y), SQLITE_ROW);
        assert_string_equal(sqlite3_column_text(x, 0), sqlite3_column_text(y, 0));
        sqlite3_finalize(x);
        sqlite3_finalize(y);
        store_free(sa);
        store_free(sb);
}

static void test_v3_events_lose_their_indexes_and_keep_their_rows(void **state)
{
        char path[128];
        Store *s = NULL;

        snprintf(path, sizeof(path), "%s/v3-events.db", dir);
        assert_int_equal(store_open_at_version(path, 3, &s), 0);
        assert_int_equal(sqlite3_exec(store_db(s),
                                      "INSERT INTO events (sensor_num, at, type, value) VALUES (1, 5, 1, 1.0), "
                                      "(2, 6, 1, 0.0), (1, 7, 2, 80.0)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        store_free(s);

        s = NULL;
        assert_int_equal(store_open(path, 0, &s), 0);
        assert_true(store_schema_version(s) >= 5);
        assert_int_equal(count(store_db(s), "events"), 3);
        /* No index on events: each one cost a rewritten leaf per group commit on the SD card. */
        assert_int_equal(count(store_db(s), "sqlite_schema WHERE type = 'index' AND tbl_name = 'events'"), 0);
        /* In steps: at most max rows a call, the oldest first. */
        assert_int_equal(store_events_prune(s, 8, 1), 1);
        assert_int_equal(count(store_db(s), "events WHERE at = 5"), 0);
        assert_int_equal(store_events_prune(s, 7, 10), 1);
        assert_int_equal(store_events_prune(s, 7, 10), 0);
        assert_int_equal(count(store_db(s), "events"), 1);
        store_free(s);
}

/* The retention's boundary without an index: a binary search over the ids, gaps and all, never taking an
 * event that is not older than the limit. */
static void test_retention_finds_its_boundary_among_100000_events(void **state)
{
        char path[128];
        Store *s = NULL;
        int64_t deleted = 0, n;

        snprintf(path, sizeof(path), "%s/retention.db", dir);
        assert_int_equal(store_open(path, STORE_OPEN_CREATE, &s), 0);
        /* 100,000 events a second apart from t = 1000 s, with every seventh missing (pruned, say). */
        assert_int_equal(sqlite3_exec(store_db(s),
                                      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999) "
                                      "INSERT INTO events (id, sensor_num, at, type, value) "
                                      "SELECT i + 1, 1, (1000 + i) * 1000000, 1, 0 FROM n WHERE i % 7 <> 3",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        n = count(store_db(s), "events WHERE at >= 51000000000");
        /* Everything before t = 51,000 s goes: ids 1 … 50,000 minus the gaps. */
        while ((deleted = store_events_prune(s, (usec_t)51000 * 1000000, 5000)) > 0)
                assert_true(deleted <= 5000);
        assert_int_equal(deleted, 0);
        assert_int_equal(count(store_db(s), "events WHERE at < 51000000000"), 0);
        assert_int_equal(count(store_db(s), "events"), n);
        assert_int_equal(count(store_db(s), "events WHERE at = 51000000000"), 1);
        /* A limit before every event takes nothing; one after every event takes them all. */
        assert_int_equal(store_events_prune(s, 1, 5000), 0);
        while (store_events_prune(s, INT64_MAX, 100000) > 0)
                ;
        assert_int_equal(count(store_db(s), "events"), 0);
        assert_int_equal(store_events_prune(s, INT64_MAX, 10), 0);
        store_free(s);
}

static int setup(void **state)
{
        strcpy(dir, "/tmp/shouwang-test-migrate-XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_earlier_version_migrates_to_the_newest_keeping_data),
                cmocka_unit_test(test_migrated_schema_equals_fresh_schema),
                cmocka_unit_test(test_v3_events_lose_their_indexes_and_keep_their_rows),
                cmocka_unit_test(test_retention_finds_its_boundary_among_100000_events),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
