/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the watch writes to the store, and when (issue 8, figure 6: SD-card
 * writes per event). Every event row goes out with the next group commit;
 * a sensor's health row and a resident's last activity only when something
 * a restart needs changed, and otherwise at most a refresh interval later,
 * or at a clean stop or reload (watch_flush()). So a crash may leave last
 * seen and last activity up to one refresh interval behind, never more: an
 * inactivity alert after the restart comes at most that much earlier.
 *
 * A real store in a temporary directory; the group commit is called
 * directly (watch_commit()) instead of waiting for its timer.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "daemon/watch.h"
#include "tests/lib/roster-put.h"

#define SEC USEC_PER_SEC
#define MIN USEC_PER_MINUTE

struct fixture {
        char dir[64];
        sd_event *event;
        Store *store;
        Alerts *alerts;
        Watch *watch;
        struct rules_settings rules;
        uint32_t door, motion, leak;
        usec_t t0;
};

/* The first column of the first row, or `none`. */
static int64_t q(struct fixture *f, int64_t none, const char *fmt, ...) _printf_(3, 4);
static int64_t q(struct fixture *f, int64_t none, const char *fmt, ...)
{
        char sql[512];
        sqlite3_stmt *st;
        int64_t v = none;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        if (sqlite3_prepare_v2(store_db(f->store), sql, -1, &st, NULL) != SQLITE_OK)
                fail_msg("%s: %s", sql, sqlite3_errmsg(store_db(f->store)));
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

static int64_t last_seen(struct fixture *f, uint32_t num)
{
        return q(f, 0, "SELECT last_seen FROM sensor_health WHERE sensor_num = %u", num);
}

static int64_t last_activity(struct fixture *f)
{
        return q(f, 0, "SELECT last_activity_at FROM resident_state WHERE resident_id = 'R201'");
}

static void start_watch(struct fixture *f, usec_t refresh)
{
        struct watch_settings ws = {
                .commit_interval = SEC,
                .refresh_interval = refresh,
                .gpio_enabled = false,
                .rules = &f->rules,
        };
        assert_int_equal(watch_new(f->event, f->store, f->alerts, &ws, &f->watch), 0);
        assert_int_equal(watch_load(f->watch), 0);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char path[128];

        strcpy(f->dir, "/tmp/shouwang-test-watch-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(path, sizeof(path), "%s/db", f->dir);
        assert_int_equal(store_open(path, STORE_OPEN_CREATE, &f->store), 0);
        tu_roster_put(f->store, ROSTER_RESIDENTS, "R201", "沈国强", "B17", "201", "是", "", "");
        tu_roster_put(f->store, ROSTER_CONTACTS, "C-wang", "王阿姨", "139", "neighbour", "mqtt");
        tu_roster_put(f->store, ROSTER_LINKS, "R201", "C-wang", "1");
        tu_roster_put(f->store, ROSTER_SENSORS, "S201-door", "R201", "", "door", "mqtt:z/201/door");
        tu_roster_put(f->store, ROSTER_SENSORS, "S201-motion", "R201", "", "motion", "mqtt:z/201/motion");
        tu_roster_put(f->store, ROSTER_SENSORS, "S201-leak", "R201", "", "leak", "mqtt:z/201/leak");
        f->door = (uint32_t)q(f, 0, "SELECT num FROM sensors WHERE id = 'S201-door'");
        f->motion = (uint32_t)q(f, 0, "SELECT num FROM sensors WHERE id = 'S201-motion'");
        f->leak = (uint32_t)q(f, 0, "SELECT num FROM sensors WHERE id = 'S201-leak'");
        assert_int_equal(alerts_new(f->store, NULL, &f->alerts), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        /* No morning check: its wake window would make some of this activity worth saving at once. */
        rules_settings_default(&f->rules);
        f->rules.morning_check = false;
        f->t0 = now_usec(CLOCK_REALTIME);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        watch_free(f->watch);
        alerts_free(f->alerts);
        store_free(f->store);
        sd_event_unref(f->event);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* An event heard at t0 + at (wall), now on the monotonic clock. */
static void ev(struct fixture *f, uint32_t sensor, enum event_type type, double value, usec_t at)
{
        struct sensor_event e = {
                .sensor = sensor,
                .type = (uint16_t)type,
                .value = value,
                .mono = now_usec(CLOCK_BOOTTIME),
                .wall = f->t0 + at,
        };
        watch_event(f->watch, &e);
}

static void test_routine_report_is_not_rewritten_within_the_refresh_but_a_state_change_is(void **state)
{
        struct fixture *f = *state;

        start_watch(f, 15 * MIN);
        /* The first time it is heard: at once. */
        ev(f, f->door, EVENT_CONTACT, 0, 0);
        ev(f, f->door, EVENT_BATTERY, 90, 0);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(last_seen(f, f->door), f->t0);
        assert_int_equal(q(f, -1, "SELECT battery FROM sensor_health WHERE sensor_num = %u", f->door), 90);

        /* Zigbee2MQTT's routine report: the same state, the same battery. The events are saved, the
         * health row is not. */
        ev(f, f->door, EVENT_CONTACT, 0, 10 * SEC);
        ev(f, f->door, EVENT_BATTERY, 90, 10 * SEC);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(q(f, 0, "SELECT count(*) FROM events WHERE sensor_num = %u", f->door), 4);
        assert_int_equal(last_seen(f, f->door), f->t0);

        /* The door opens: the state a restart restores changed. */
        ev(f, f->door, EVENT_CONTACT, 1, 20 * SEC);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(last_seen(f, f->door), f->t0 + 20 * SEC);
        assert_int_equal(q(f, 0, "SELECT state = 'contact=1' FROM sensor_health WHERE sensor_num = %u", f->door), 1);

        /* The battery a point lower (it moves a point in days): with the refresh, like last seen. */
        ev(f, f->door, EVENT_BATTERY, 89, 30 * SEC);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(q(f, -1, "SELECT battery FROM sensor_health WHERE sensor_num = %u", f->door), 90);
        assert_int_equal(last_seen(f, f->door), f->t0 + 20 * SEC);
        assert_int_equal(watch_flush(f->watch), 0);
        assert_int_equal(q(f, -1, "SELECT battery FROM sensor_health WHERE sensor_num = %u", f->door), 89);
        assert_int_equal(last_seen(f, f->door), f->t0 + 30 * SEC);
}

static void test_availability_and_a_low_battery_are_written_at_once(void **state)
{
        struct fixture *f = *state;

        start_watch(f, 15 * MIN);
        ev(f, f->leak, EVENT_LEAK, 0, 0);
        ev(f, f->leak, EVENT_BATTERY, 25, 0);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(q(f, -1, "SELECT battery FROM sensor_health WHERE sensor_num = %u", f->leak), 25);
        /* Below the low mark: `shouwangctl sensors` says so, after a restart too. */
        ev(f, f->leak, EVENT_BATTERY, 19, 2 * MIN);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(q(f, -1, "SELECT battery FROM sensor_health WHERE sensor_num = %u", f->leak), 19);
        ev(f, f->leak, EVENT_AVAILABILITY, 0, 3 * MIN);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(q(f, -1, "SELECT available FROM sensor_health WHERE sensor_num = %u", f->leak), 0);
        /* Heard again: available again, at once. */
        ev(f, f->leak, EVENT_LEAK, 0, 4 * MIN);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(q(f, -1, "SELECT available FROM sensor_health WHERE sensor_num = %u", f->leak), 1);
        assert_int_equal(last_seen(f, f->leak), f->t0 + 4 * MIN);
}

static void test_freshness_is_written_when_the_refresh_is_due(void **state)
{
        struct fixture *f = *state;

        start_watch(f, 300 * USEC_PER_MSEC);
        ev(f, f->door, EVENT_CONTACT, 0, 0);
        assert_int_equal(watch_commit(f->watch), 0);
        ev(f, f->door, EVENT_CONTACT, 0, 100 * USEC_PER_MSEC);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(last_seen(f, f->door), f->t0);
        usleep(350 * 1000);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(last_seen(f, f->door), f->t0 + 100 * USEC_PER_MSEC);
}

static void test_a_report_long_after_the_stored_one_still_waits_for_the_refresh(void **state)
{
        struct fixture *f = *state;

        start_watch(f, 15 * MIN);
        ev(f, f->door, EVENT_CONTACT, 0, 0);
        assert_int_equal(watch_commit(f->watch), 0);
        /* Zigbee devices report every 10 to 60 minutes: writing each report at once would be a random
         * page per message. The bound on how far the store lags comes from the refresh timer, which runs
         * from the moment the row began to wait (test_after_a_crash_…). */
        ev(f, f->door, EVENT_CONTACT, 0, 40 * MIN);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(last_seen(f, f->door), f->t0);
        assert_int_equal(watch_flush(f->watch), 0);
        assert_int_equal(last_seen(f, f->door), f->t0 + 40 * MIN);
}

/*
 * A crash at any moment finds last activity in the store at most a refresh interval behind the real last
 * activity; the inactivity timer restored from it fires at most that much early, never late.
 */
static void test_after_a_crash_last_activity_is_at_most_the_refresh_behind(void **state)
{
        struct fixture *f = *state;
        const usec_t refresh = 200 * USEC_PER_MSEC;
        struct {
                usec_t mono, at;
        } seen[40];
        usec_t start, real = 0;
        bool open = false;
        unsigned rewritten = 0;
        int64_t before = 0;

        /* Real time here: the refresh is a timer on CLOCK_BOOTTIME. */
        start_watch(f, refresh);
        ev(f, f->door, EVENT_CONTACT, 0, 0); /* its state becomes known: not activity */
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(last_activity(f), 0);
        start = now_usec(CLOCK_BOOTTIME);
        /* A door opened and closed every 30 ms for over a second, motion with it. */
        for (size_t k = 0; k < ELEMENTSOF(seen); k++) {
                usleep(30 * 1000);
                usec_t at = now_usec(CLOCK_BOOTTIME) - start + SEC;
                open = !open;
                seen[k].mono = now_usec(CLOCK_BOOTTIME);
                ev(f, f->door, EVENT_CONTACT, open, at);
                ev(f, f->motion, EVENT_MOTION, 1, at);
                seen[k].at = real = f->t0 + at;
                usec_t commit_at = now_usec(CLOCK_BOOTTIME);
                assert_int_equal(watch_commit(f->watch), 0);
                /* What a crash now would leave: never ahead of the real last activity, and every activity
                 * that has waited a whole refresh interval is in it (whatever the machine's load). */
                int64_t kept = last_activity(f), must = 0;
                for (size_t i = 0; i <= k; i++)
                        if (seen[i].mono + refresh <= commit_at)
                                must = (int64_t)seen[i].at;
                assert_true(kept > 0);
                assert_true(kept <= (int64_t)real);
                if (kept < must)
                        fail_msg("activity %lld µs old at the commit is not in the store (it has %lld)",
                                 (long long)(commit_at - seen[0].mono), (long long)kept);
                rewritten += kept != before;
                before = kept;
        }
        /* 40 door movements and 40 motions: the row was written once per refresh interval or so, and the
         * first time at once. */
        usec_t elapsed = now_usec(CLOCK_BOOTTIME) - start;
        assert_true(rewritten <= elapsed / refresh + 2);
        /* A routine door report with the battery is not activity (the rules say so): no write, no later. */
        ev(f, f->door, EVENT_CONTACT, open, 60 * MIN);
        assert_int_equal(watch_flush(f->watch), 0);
        assert_int_equal(last_activity(f), real);
}

/* What runtime_free() does at SIGTERM and before a SIGHUP reload: nothing kept only in memory is lost. */
static void test_a_clean_stop_writes_last_seen_and_last_activity(void **state)
{
        struct fixture *f = *state;

        start_watch(f, 15 * MIN);
        ev(f, f->door, EVENT_CONTACT, 0, 0);
        ev(f, f->door, EVENT_BATTERY, 71, 0);
        ev(f, f->motion, EVENT_MOTION, 1, 0);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(last_activity(f), f->t0);
        ev(f, f->motion, EVENT_MOTION, 0, 2 * MIN);
        ev(f, f->motion, EVENT_MOTION, 1, 3 * MIN);
        ev(f, f->door, EVENT_CONTACT, 0, 4 * MIN);
        ev(f, f->door, EVENT_BATTERY, 71, 4 * MIN);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(last_activity(f), f->t0);
        assert_int_equal(last_seen(f, f->door), f->t0);

        f->watch = watch_free(f->watch);
        assert_int_equal(last_activity(f), f->t0 + 3 * MIN);
        assert_int_equal(last_seen(f, f->door), f->t0 + 4 * MIN);
        assert_int_equal(last_seen(f, f->motion), f->t0 + 3 * MIN);

        /* And they come back: a new watch starts from them and has nothing more to write. */
        start_watch(f, 15 * MIN);
        int64_t changes = sqlite3_total_changes(store_db(f->store));
        assert_int_equal(watch_flush(f->watch), 0);
        assert_int_equal(sqlite3_total_changes(store_db(f->store)), changes);
}

/* Sensor ids are not kept on the loop: an alert reads its sensor's id from the store. One removed by
 * shouwangctl before the watch reloaded still gets its alert, naming the sensor by its number. */
static void test_an_alert_names_its_sensor_from_the_store_or_by_number(void **state)
{
        struct fixture *f = *state;
        char want[32], *got = NULL;
        sqlite3_stmt *st;

        start_watch(f, 15 * MIN);
        assert_int_equal(store_roster_delete(f->store, ROSTER_SENSORS, (char *[]){ "S201-leak" }), 0);
        ev(f, f->leak, EVENT_LEAK, 1, 0);
        assert_int_equal(sqlite3_prepare_v2(store_db(f->store), "SELECT sensor_id FROM alerts WHERE rule = 'leak'", -1,
                                            &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        got = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        snprintf(want, sizeof(want), "#%u", f->leak);
        assert_string_equal(got, want);
        free(got);

        /* A sensor still in the roster is named by its id. */
        ev(f, f->door, EVENT_TAMPER, 1, SEC);
        assert_int_equal(q(f, 0, "SELECT count(*) FROM alerts WHERE rule = 'tamper' AND sensor_id = 'S201-door'"), 1);
}

/* One gateway counts the pulses of at most 65,535 water meters (a 16-bit index on the loop's 40-byte sensor): one
 * beyond that is named in the log and not watched, and everything else is loaded as usual. */
static void test_a_meter_beyond_the_last_one_counted_is_skipped_not_the_roster(void **state)
{
        struct fixture *f = *state;
        struct watch_stats st;

        assert_int_equal(sqlite3_exec(store_db(f->store),
                                      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 65536) "
                                      "INSERT INTO sensors (num, id, resident_id, building_id, kind, source, "
                                      "created_at, updated_at) SELECT 100 + i, printf('M%05d', i), 'R201', 'B17', "
                                      "'water_meter', printf('mqtt:wmbusmeters/m%d', i), 0, 0 FROM n",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        start_watch(f, 15 * MIN);
        watch_get_stats(f->watch, &st);
        assert_int_equal(st.sensors, 3 + 65535);
        assert_int_equal(st.mqtt_sensors, 3 + 65535);
        /* The last one loaded still works: its reading is stored. */
        ev(f, 100 + 65535, EVENT_WATER_TOTAL, 12.5, 0);
        assert_int_equal(watch_commit(f->watch), 0);
        assert_int_equal(q(f, 0, "SELECT count(*) FROM events WHERE sensor_num = %d", 100 + 65535), 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(
                        test_routine_report_is_not_rewritten_within_the_refresh_but_a_state_change_is, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(test_availability_and_a_low_battery_are_written_at_once, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_freshness_is_written_when_the_refresh_is_due, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_report_long_after_the_stored_one_still_waits_for_the_refresh,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_after_a_crash_last_activity_is_at_most_the_refresh_behind,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_an_alert_names_its_sensor_from_the_store_or_by_number, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_a_meter_beyond_the_last_one_counted_is_skipped_not_the_roster,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_clean_stop_writes_last_seen_and_last_activity, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
