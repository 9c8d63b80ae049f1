/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What survives a kill -9 of the real shouwangd (issues 4 and 11), with a
 * private Mosquitto, the example roster and the emulated GPIO chip:
 *
 *  - a tap run fed over MQTT (a cumulative meter) is in rule_state; after a
 *    kill -9 and a restart the run goes on from its real start, so the
 *    warning (tap_running_after = 12 s for this resident) comes 12 s after
 *    the water started, not 12 s after the restart;
 *  - water use is in water_slots (millilitres per half-hour, replaced, not
 *    added), for MQTT and GPIO meters alike;
 *  - a GPIO pulse meter's count is in sensor_health.counter and goes on
 *    counting after a restart;
 *  - the building entrance's lock reporting "not_fully_locked" opens an info
 *    alert for the building, to its group leader.
 *
 * The wall clock is declared synchronised (SHOUWANG_CLOCK_SYNCED=1): slots
 * and rule state hold wall times and are only kept with a trusted clock.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "daemon/store.h"
#include "daemon/util.h"
#include "sensors/event.h"
#include "tests/lib/gpiosim.h"
#include "tests/lib/testutil.h"

struct fixture {
        char dir[64];
        char conf[160], db[160], log[160], simdir[160];
        struct tu_broker broker;
        GpioSim *sim;
        pid_t daemon;
};

static struct fixture *F;

static void ctl(const char *args)
{
        char bin[256], cmd[1024], out[4096];
        tu_build_path("shouwangctl", bin, sizeof(bin));
        snprintf(cmd, sizeof(cmd), "%s --db %s %s 2>&1", bin, F->db, args);
        int r = tu_run(cmd, out, sizeof(out));
        if (r != 0)
                fail_msg("shouwangctl %s: exit %d: %s", args, r, out);
}

static void pub(const char *topic, const char *msg)
{
        char cmd[768];
        snprintf(cmd, sizeof(cmd), "mosquitto_pub -h 127.0.0.1 -p %d -q 1 -t '%s' -m '%s'", F->broker.port, topic, msg);
        assert_int_equal(system(cmd), 0);
}

/* The first column of the first row of a query on the daemon's database (read-only, WAL), or `none`. */
static int64_t q(int64_t none, const char *fmt, ...) _printf_(2, 3);
static int64_t q(int64_t none, const char *fmt, ...)
{
        char sql[512];
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int64_t v = none;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        assert_int_equal(sqlite3_open_v2(F->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                fail_msg("%s: %s", sql, sqlite3_errmsg(db));
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return v;
}

/* Wait until the query gives `want` (the group commit comes every second). */
static bool q_wait(int64_t want, int timeout_ms, const char *sql)
{
        for (int waited = 0; waited <= timeout_ms; waited += 50) {
                if (q(INT64_MIN, "%s", sql) == want)
                        return true;
                usleep(50000);
        }
        fprintf(stderr, "waited in vain for %lld from: %s (last: %lld)\n", (long long)want, sql,
                (long long)q(INT64_MIN, "%s", sql));
        return false;
}

static void start_daemon(void)
{
        char bin[256];
        static char env1[] = "SHOUWANG_CLOCK_SYNCED=1";
        char *env[] = { env1, NULL };
        const char *old = getenv("LD_PRELOAD");
        char *saved = old ? strdup(old) : NULL;

        /* The daemon sees the emulated chip through the preloaded library; we do not. */
        assert_int_equal(gpiosim_setenv(F->sim, gpiosim_running_with_asan()), 0);
        tu_build_path("shouwangd", bin, sizeof(bin));
        F->daemon = tu_spawn(F->log, env, bin, "-c", F->conf, NULL);
        if (saved)
                setenv("LD_PRELOAD", saved, 1);
        else
                unsetenv("LD_PRELOAD");
        free(saved);
        unsetenv("GPIOSIM_DIR");
        /* Each start logs its own "connected"; count them rather than search from the top. */
        unsigned before = tu_count_in_file(F->log, "MQTT: connected");
        for (int i = 0; i < 200 && tu_count_in_file(F->log, "MQTT: connected") == before; i++)
                usleep(50000);
        assert_true(tu_count_in_file(F->log, "MQTT: connected") > before);
}

/* A power cut: no clean stop, no last flush. */
static void kill9(void)
{
        assert_int_equal(tu_stop(F->daemon, SIGKILL, 2000), -1);
        F->daemon = -1;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char text[2048], top[256];

        F = f;
        tu_mkdtemp("restore", f->dir, sizeof(f->dir));
        snprintf(f->conf, sizeof(f->conf), "%s/shouwang.conf", f->dir);
        snprintf(f->db, sizeof(f->db), "%s/shouwang.db", f->dir);
        snprintf(f->log, sizeof(f->log), "%s/shouwangd.log", f->dir);
        snprintf(f->simdir, sizeof(f->simdir), "%s/gpio", f->dir);
        tu_top_path("", top, sizeof(top));

        f->broker.pid = -1;
        f->daemon = -1;
        tu_broker_start(&f->broker, f->dir, 0);
        assert_int_equal(gpiosim_new(f->simdir, &f->sim), 0);
        /* The example roster's wired sensors: 201's door contact (line 17) and water meter (line 27). */
        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip0", "pinctrl-bcm2711", 54), 0);
        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip0", 17, 1), 0);

        snprintf(text, sizeof(text),
                 "[general]\ngateway = test\ndatabase = %s\n"
                 "[mqtt]\nuri = tcp://127.0.0.1:%d\nreconnect_max = 1s\n"
                 "[http]\npublic_url = http://192.168.1.20:8080\n"
                 "[gpio]\nenabled = yes\nretry_interval = 1s\n",
                 f->db, f->broker.port);
        tu_write_file(f->conf, text);

        for (int i = 0; i < 4; i++) {
                static const char *const kinds[] = { "residents", "contacts", "links", "sensors" };
                char args[512];
                snprintf(args, sizeof(args), "import %s %sexamples/%s.csv", kinds[i], top, kinds[i]);
                ctl(args);
        }
        /* 王秀英's flat gets a wireless meter (wmbusmeters on MQTT); the building entrance a Zigbee lock. */
        ctl("sensors add --id S301-meter --resident_id R301 --kind water_meter --source mqtt:meters/r301");
        ctl("sensors add --id S17-entrance --building B17 --kind door --source mqtt:zigbee2mqtt/b17-entrance");
        /* Her tap rule waits 12 seconds instead of 30 minutes. */
        ctl("residents set R301 tap_running_after=12s");
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        if (f->daemon > 0)
                tu_stop(f->daemon, SIGKILL, 1000);
        tu_broker_stop(&f->broker);
        gpiosim_destroy(f->sim);
        tu_rmdir(f->dir);
        free(f);
        return 0;
}

/* The meter reports every 2 seconds, whatever happens to the daemon. */
static usec_t next_reading;

static void reading(double m3)
{
        char msg[128];
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (next_reading > now)
                usleep(next_reading - now);
        next_reading = now_usec(CLOCK_MONOTONIC) + 2 * USEC_PER_SEC;
        snprintf(msg, sizeof(msg), "{\"total_m3\":%.3f,\"media\":\"water\",\"meter\":\"iperl\"}", m3);
        pub("meters/r301", msg);
}

static void test_tap_run_survives_kill9_and_warns_on_time(void **state)
{
        struct fixture *f = *state;
        int64_t num = q(-1, "SELECT num FROM sensors WHERE id = 'S301-meter'");
        char sql[256];
        double m3 = 100.0;

        assert_true(num > 0);
        start_daemon();

        /* t0: the tap is turned on; the meter reports every 2 s, 2 litres more each time. */
        usec_t t0 = now_usec(CLOCK_REALTIME);
        next_reading = 0;
        for (int i = 0; i < 4; i++) {
                reading(m3);
                m3 += 0.002;
        }
        /* The run is kept in rule_state, from its real start. */
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM rule_state WHERE subject = 'sensor:%lld' AND rule = 'tap_running' "
                 "AND key = 'run_ml' AND value = 6000",
                 (long long)num);
        assert_true(q_wait(1, 5000, sql));
        int64_t start = q(0, "SELECT value FROM rule_state WHERE subject = 'sensor:%lld' AND rule = 'tap_running' "
                             "AND key = 'run_start'",
                          (long long)num);
        assert_true(start >= (int64_t)t0 - (int64_t)(3 * USEC_PER_SEC / 2));
        assert_true(start <= (int64_t)t0 + (int64_t)(3 * USEC_PER_SEC / 2));
        /* The water used is in water_slots, in millilitres. */
        assert_int_equal(q(-1, "SELECT sum(ml) FROM water_slots WHERE sensor_num = %lld", (long long)num), 6000);

        kill9();
        usec_t restarted = now_usec(CLOCK_REALTIME);
        start_daemon();
        /* The water kept running. */
        bool warned = false;
        for (int i = 0; i < 15 && !warned; i++) {
                reading(m3);
                m3 += 0.002;
                for (int k = 0; k < 18 && !warned; k++) {
                        warned = tu_count_in_file(f->log, "warning tap_running for R301") > 0;
                        if (!warned)
                                usleep(100000);
                }
        }
        assert_true(warned);
        int64_t opened = q(0, "SELECT opened_at FROM alerts WHERE rule = 'tap_running' AND resident_id = 'R301'");
        /* 12 s after the water started (a restart that began the run again would make it 18 s or more). */
        print_message("run started %.1f s before the restart; warned %.1f s after the start\n",
                      (double)(restarted - t0) / 1e6, (double)(opened - (int64_t)t0) / 1e6);
        assert_true(opened - (int64_t)t0 >= 10 * (int64_t)USEC_PER_SEC); /* the run starts on a whole second */
        assert_true(opened - (int64_t)t0 <= 16 * (int64_t)USEC_PER_SEC);
        /* The slot's use went on from what was stored: replaced, not added, and no row per reading. */
        snprintf(sql, sizeof(sql), "SELECT sum(ml) FROM water_slots WHERE sensor_num = %lld", (long long)num);
        assert_true(q_wait(llround((m3 - 0.002 - 100.0) * 1e6), 5000, sql));
        assert_true(q(-1, "SELECT count(*) FROM water_slots WHERE sensor_num = %lld", (long long)num) <= 2);
}

static void test_pulse_counter_and_slots_survive_kill9(void **state)
{
        int64_t num = q(-1, "SELECT num FROM sensors WHERE id = 'S201-water'");
        char sql[256];

        assert_true(num > 0);
        start_daemon();
        assert_int_equal(gpiosim_wait_requested(F->sim, "gpiochip0", 27, true, 5 * USEC_PER_SEC), 0);
        /* Five pulses of the 1 L/pulse meter. */
        assert_int_equal(gpiosim_line_pulse(F->sim, "gpiochip0", 27, 5, 100 * USEC_PER_MSEC), 0);
        snprintf(sql, sizeof(sql), "SELECT counter FROM sensor_health WHERE sensor_num = %lld", (long long)num);
        assert_true(q_wait(5, 5000, sql));
        snprintf(sql, sizeof(sql), "SELECT sum(ml) FROM water_slots WHERE sensor_num = %lld", (long long)num);
        assert_true(q_wait(5000, 5000, sql));

        kill9();
        assert_int_equal(gpiosim_wait_requested(F->sim, "gpiochip0", 27, false, 5 * USEC_PER_SEC), 0);
        start_daemon();
        assert_int_equal(gpiosim_wait_requested(F->sim, "gpiochip0", 27, true, 5 * USEC_PER_SEC), 0);
        assert_int_equal(gpiosim_line_pulse(F->sim, "gpiochip0", 27, 3, 100 * USEC_PER_MSEC), 0);
        snprintf(sql, sizeof(sql), "SELECT counter FROM sensor_health WHERE sensor_num = %lld", (long long)num);
        assert_true(q_wait(8, 5000, sql));
        snprintf(sql, sizeof(sql), "SELECT sum(ml) FROM water_slots WHERE sensor_num = %lld", (long long)num);
        assert_true(q_wait(8000, 5000, sql));

        /* What shouwangctl and other readers get through the store. */
        _cleanup_(store_freep) Store *s = NULL;
        int64_t counter = -1;
        assert_int_equal(store_open(F->db, STORE_OPEN_READONLY, &s), 0);
        assert_int_equal(store_sensor_counter_get(s, "S201-water", &counter), 0);
        assert_int_equal(counter, 8);
        assert_int_equal(store_sensor_counter_get(s, "S201-nothing", &counter), -ENOENT);
}

static void test_entrance_lock_fault_opens_an_info_alert_for_the_building(void **state)
{
        struct fixture *f = *state;

        start_daemon();
        pub("zigbee2mqtt/b17-entrance", "{\"battery\":90,\"lock_state\":\"locked\",\"state\":\"LOCK\"}");
        pub("zigbee2mqtt/b17-entrance", "{\"battery\":90,\"lock_state\":\"not_fully_locked\",\"state\":\"UNLOCK\"}");
        assert_true(tu_wait_file(f->log, "info building_door for building B17", NULL, 5000));
        assert_int_equal(q(-1, "SELECT count(*) FROM alerts WHERE rule = 'building_door' AND building_id = 'B17' "
                               "AND severity = 'info' AND text_key = 'building_door.lock_fault'"),
                         1);
        /* The group leader (陈美华, C3) is told. */
        assert_true(q_wait(1, 5000,
                           "SELECT count(*) > 0 FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
                           "WHERE a.rule = 'building_door' AND d.contact_id = 'C3'"));
        /* The lock is fixed: noted, the alert stays for a person to close. */
        pub("zigbee2mqtt/b17-entrance", "{\"battery\":90,\"lock_state\":\"locked\",\"state\":\"LOCK\"}");
        assert_true(q_wait(1, 5000,
                           "SELECT count(*) FROM alerts WHERE rule = 'building_door' AND cleared_at IS NOT NULL "
                           "AND state <> 'resolved'"));
}

/*
 * Last seen and last activity are written lazily (at most 15 minutes later, unless something a restart
 * needs changed); a clean stop (SIGTERM, and a reload) writes what was kept back.
 */
static void test_sigterm_writes_last_seen_and_last_activity_kept_back(void **state)
{
#define DOOR(col) "SELECT " col " FROM sensor_health h JOIN sensors s ON s.num = h.sensor_num WHERE s.id = 'S301-door'"
#define ACT "SELECT last_activity_at FROM resident_state WHERE resident_id = 'R301'"
        char sql[256];

        start_daemon();
        pub("zigbee2mqtt/r301-door", "{\"battery\":90,\"contact\":true}");
        assert_true(q_wait(1, 5000, DOOR("count(*)")));
        /* The door opens: state and activity, both written at once. */
        pub("zigbee2mqtt/r301-door", "{\"battery\":90,\"contact\":false}");
        assert_true(q_wait(1, 5000, "SELECT count(*) FROM resident_state WHERE resident_id = 'R301'"));
        int64_t opened_seen = q(0, DOOR("last_seen")), opened_act = q(0, ACT);
        assert_true(opened_seen > 0);
        /* It closes: a new state, written; activity a moment after the last, kept back. */
        pub("zigbee2mqtt/r301-door", "{\"battery\":90,\"contact\":true}");
        assert_true(q_wait(1, 5000, DOOR("state = 'contact=0'")));
        int64_t closed_seen = q(0, DOOR("last_seen"));
        if (closed_seen <= opened_seen)
                fail_msg("last seen %lld, then %lld", (long long)opened_seen, (long long)closed_seen);
        /* A routine report: its event is saved, the health row is not. */
        pub("zigbee2mqtt/r301-door", "{\"battery\":90,\"contact\":true}");
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM events e JOIN sensors s ON s.num = e.sensor_num WHERE s.id = 'S301-door' "
                 "AND e.type = %d",
                 EVENT_BATTERY);
        assert_true(q_wait(4, 5000, sql));
        usleep(300000); /* its group commit is done */
        assert_int_equal(q(0, DOOR("last_seen")), closed_seen);
        assert_int_equal(q(0, ACT), opened_act);

        assert_int_equal(tu_stop(F->daemon, SIGTERM, 5000), 0);
        F->daemon = -1;
        assert_true(q(0, DOOR("last_seen")) > closed_seen);
        assert_true(q(0, ACT) > opened_act);
#undef DOOR
#undef ACT
}

/* [store] events_keep_days (400): a gateway that has run for years does not keep
 * every door report forever. Older events go a batch at a time; newer ones and
 * everything else stay. */
static void test_events_older_than_keep_days_are_deleted_in_batches(void **state)
{
        sqlite3 *db = NULL;
        char sql[512], line[128];
        int64_t now = (int64_t)now_usec(CLOCK_REALTIME), day = (int64_t)USEC_PER_DAY;

        assert_int_equal(sqlite3_open(F->db, &db), SQLITE_OK);
        /* 12,000 events from 500 days ago (more than one batch), 3 from 10 days ago. */
        snprintf(sql, sizeof(sql),
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000) "
                 "INSERT INTO events (sensor_num, at, type, value, flags) "
                 "SELECT (SELECT num FROM sensors WHERE id = 'S301-door'), %lld + i, %d, 1, 0 FROM n; "
                 "INSERT INTO events (sensor_num, at, type, value, flags) "
                 "SELECT num, %lld, %d, 0, 0 FROM sensors WHERE id IN ('S301-door', 'S201-door', 'S301-meter')",
                 (long long)(now - 500 * day), EVENT_CONTACT, (long long)(now - 10 * day), EVENT_CONTACT);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(q(0, "SELECT count(*) FROM events"), 12003);

        start_daemon();
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE at < %lld", (long long)(now - 400 * day));
        assert_true(q_wait(0, 20000, sql));
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE at = %lld", (long long)(now - 10 * day));
        assert_int_equal(q(0, "%s", sql), 3);
        snprintf(line, sizeof(line), "Deleted 12000 sensor events older than 400 days");
        assert_true(tu_wait_file(F->log, line, NULL, 5000));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_tap_run_survives_kill9_and_warns_on_time, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pulse_counter_and_slots_survive_kill9, setup, teardown),
                cmocka_unit_test_setup_teardown(test_entrance_lock_fault_opens_an_info_alert_for_the_building, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_sigterm_writes_last_seen_and_last_activity_kept_back, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_events_older_than_keep_days_are_deleted_in_batches, setup,
                                                teardown),
        };

        if (access("/usr/sbin/mosquitto", X_OK) != 0) {
                printf("mosquitto not installed\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
