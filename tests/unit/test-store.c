/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The store against a real SQLite file in a temporary directory. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "daemon/store.h"
#include "tests/lib/roster-put.h"

struct fixture {
        char dir[64];
        char path[128];
        Store *store;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        strcpy(f->dir, "/tmp/shouwang-test-store-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/shouwang.db", f->dir);
        assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &f->store), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[160];
        store_free(f->store);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* Upsert a row given as a string literal list; normalises first, like import does. */
static int put(Store *s, enum roster_kind kind, enum store_change *change, ...)
{
        const struct roster_kind_info *info = roster_kind_info(kind);
        char *v[ROSTER_MAX_COLUMNS] = { 0 };
        _cleanup_free_ char *err = NULL;
        va_list ap;
        int r;

        va_start(ap, change);
        tu_roster_row_v(kind, v, ap);
        va_end(ap);
        r = roster_row_normalise(kind, v, &err);
        if (r < 0) {
                print_message("normalise: %s\n", err);
                goto out;
        }
        free(err);
        err = NULL;
        r = store_roster_check(s, kind, v, &err);
        if (r < 0) {
                print_message("check: %s\n", err ? err : store_error(s));
                goto out;
        }
        r = store_roster_upsert(s, kind, v, change);
out:
        roster_row_clear(v, info->n_columns);
        return r;
}

static void add_story_roster(Store *s)
{
        assert_int_equal(put(s, ROSTER_RESIDENTS, NULL, "R201", "沈国强", "B17", "201", "是", "13800000201",
                             "brother in Pudong"),
                         0);
        assert_int_equal(put(s, ROSTER_CONTACTS, NULL, "C101", "王阿姨", "13900000101", "结对邻居", "mqtt"), 0);
        assert_int_equal(put(s, ROSTER_CONTACTS, NULL, "C-leader", "李楼组长", "13900000001", "楼组长",
                             "mqtt; exec:sms"),
                         0);
        assert_int_equal(put(s, ROSTER_LINKS, NULL, "R201", "C101", "1"), 0);
        assert_int_equal(put(s, ROSTER_LINKS, NULL, "R201", "C-leader", "一"), 0);
        assert_int_equal(put(s, ROSTER_SENSORS, NULL, "S201-leak", "R201", "", "漏水", "mqtt:zigbee2mqtt/r201-leak"),
                         0);
        assert_int_equal(put(s, ROSTER_SENSORS, NULL, "S201-door", "R201", NULL, "door", "gpio:gpiochip0:17:active_low"),
                         0);
}

static int64_t one(Store *s, const char *sql)
{
        sqlite3_stmt *q;
        int64_t v = -1;

        assert_int_equal(sqlite3_prepare_v2(store_db(s), sql, -1, &q, NULL), SQLITE_OK);
        if (sqlite3_step(q) == SQLITE_ROW)
                v = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        return v;
}

static void test_database_file_is_private_and_in_wal_mode(void **state)
{
        struct fixture *f = *state;
        struct stat st;
        sqlite3_stmt *q;

        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(sqlite3_prepare_v2(store_db(f->store), "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
        sqlite3_finalize(q);
        assert_int_equal(sqlite3_prepare_v2(store_db(f->store), "PRAGMA foreign_keys", -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(q, 0), 1);
        sqlite3_finalize(q);
        assert_int_equal(store_schema_version(f->store), store_schema_latest());
}

/* The daemon's page cache is 512 KiB (figure 4 of docs/performance.md); shouwangctl keeps SQLite's default. */
static void test_small_cache_is_the_daemons_only(void **state)
{
        struct fixture *f = *state;
        _cleanup_(store_freep) Store *small = NULL;

        assert_int_equal(one(f->store, "PRAGMA cache_size"), -2000);
        assert_int_equal(store_open(f->path, STORE_OPEN_SMALL_CACHE, &small), 0);
        assert_int_equal(one(small, "PRAGMA cache_size"), -512);
}

/* The daemon's commits never checkpoint (an alert's commit would pay for it before anyone is told, and the loop
 * would wait): its store's thread copies the WAL into the database file once a commit leaves 1,000 pages, while
 * the commits go on, and the next commit starts the WAL again. Another program's store keeps SQLite's way. */
static void test_the_daemon_checkpoints_on_a_thread_of_its_own(void **state)
{
        struct fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;
        const int commits = STORE_CHECKPOINT_PAGES + 200;
        struct stat st;
        off_t before;

        assert_int_equal(one(f->store, "PRAGMA wal_autocheckpoint"), 1000);
        assert_int_equal(store_open(f->path, STORE_OPEN_CHECKPOINT_LATER, &s), 0);
        assert_int_equal(one(s, "PRAGMA wal_autocheckpoint"), 0); /* SQLite's hook is not there */
        assert_int_equal(sqlite3_exec(store_db(s), "CREATE TABLE filler(x BLOB)", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(stat(f->path, &st), 0);
        before = st.st_size;
        for (int i = 0; i < commits; i++) /* a page each */
                assert_int_equal(sqlite3_exec(store_db(s), "INSERT INTO filler VALUES (zeroblob(3000))", NULL, NULL,
                                              NULL),
                                 SQLITE_OK);
        for (int i = 0; i < 100 && st.st_size < before + (off_t)commits * 3000; i++) {
                usleep(50000);
                assert_int_equal(stat(f->path, &st), 0);
        }
        assert_true(st.st_size >= before + (off_t)commits * 3000);

        /* All copied: the next commit's frames are the only ones in the WAL (wal_checkpoint's column 1). */
        for (int i = 0; i < 100 && one(s, "PRAGMA wal_checkpoint(PASSIVE)") != 0; i++)
                usleep(50000);
        assert_int_equal(sqlite3_exec(store_db(s), "INSERT INTO filler VALUES (1)", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_prepare_v2(store_db(s), "PRAGMA wal_checkpoint(PASSIVE)", -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_in_range(sqlite3_column_int(q, 1), 1, 3);
        sqlite3_finalize(q);
        assert_int_equal(one(f->store, "SELECT count(*) FROM filler"), commits + 1);
}

static void test_existing_world_readable_file_is_tightened(void **state)
{
        struct fixture *f = *state;
        char p[160];
        Store *s = NULL;
        struct stat st;

        snprintf(p, sizeof(p), "%s/loose.db", f->dir);
        int fd = open(p, O_CREAT | O_WRONLY, 0644);
        assert_true(fd >= 0);
        close(fd);
        chmod(p, 0644);
        assert_int_equal(store_open(p, STORE_OPEN_CREATE, &s), 0);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        store_free(s);
}

static void test_missing_file_without_create_says_how_to_fix(void **state)
{
        struct fixture *f = *state;
        char p[160];
        Store *s = NULL;

        snprintf(p, sizeof(p), "%s/nope.db", f->dir);
        assert_int_equal(store_open(p, 0, &s), -ENOENT);
        assert_null(s);
        assert_non_null(strstr(store_open_error(), "does not exist"));
        assert_non_null(strstr(store_open_error(), "[general] database"));
}

static void test_not_a_database_is_reported(void **state)
{
        struct fixture *f = *state;
        char p[160];
        Store *s = NULL;

        snprintf(p, sizeof(p), "%s/junk.db", f->dir);
        FILE *fp = fopen(p, "w");
        assert_non_null(fp);
        for (int i = 0; i < 200; i++)
                fputs("this is not a database, it is a spreadsheet someone renamed\n", fp);
        fclose(fp);
        assert_int_equal(store_open(p, STORE_OPEN_CREATE, &s), -EBADMSG);
        assert_non_null(strstr(store_open_error(), "not a shouwang database"));
}

static void test_newer_schema_is_refused(void **state)
{
        struct fixture *f = *state;
        Store *s = NULL;
        char pragma[64];

        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", store_schema_latest() + 1);
        assert_int_equal(sqlite3_exec(store_db(f->store), pragma, NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(store_open(f->path, 0, &s), -EPROTO);
        assert_non_null(strstr(store_open_error(), "newer shouwang"));
}

static void test_upsert_reports_created_updated_unchanged(void **state)
{
        struct fixture *f = *state;
        enum store_change c;

        assert_int_equal(put(f->store, ROSTER_RESIDENTS, &c, "R1", "张三", "B1", "101", "no", "", ""), 0);
        assert_int_equal(c, STORE_CREATED);
        assert_int_equal(put(f->store, ROSTER_RESIDENTS, &c, "R1", "张三", "B1", "101", "0", "", ""), 0);
        assert_int_equal(c, STORE_UNCHANGED);
        assert_int_equal(put(f->store, ROSTER_RESIDENTS, &c, "R1", "张三", "B1", "102", "0", "", ""), 0);
        assert_int_equal(c, STORE_UPDATED);
}

static void test_roster_round_trips_through_get(void **state)
{
        struct fixture *f = *state;
        char **v = NULL;
        int64_t n;

        add_story_roster(f->store);
        assert_int_equal(store_roster_get(f->store, ROSTER_RESIDENTS, (char *[]){ "R201" }, &v), 0);
        assert_string_equal(v[1], "沈国强");
        assert_string_equal(v[4], "1");
        roster_row_clear(v, 7);
        free(v);

        assert_int_equal(store_roster_get(f->store, ROSTER_CONTACTS, (char *[]){ "C-leader" }, &v), 0);
        assert_string_equal(v[3], "group_leader");
        assert_string_equal(v[4], "mqtt;exec:sms");
        roster_row_clear(v, 5);
        free(v);

        /* A flat's sensor takes the resident's building. */
        assert_int_equal(store_roster_get(f->store, ROSTER_SENSORS, (char *[]){ "S201-leak" }, &v), 0);
        assert_string_equal(v[2], "B17");
        assert_string_equal(v[3], "leak");
        roster_row_clear(v, 5);
        free(v);

        assert_int_equal(store_roster_count(f->store, ROSTER_LINKS, &n), 0);
        assert_int_equal(n, 2);
}

static void test_link_to_unknown_resident_names_the_fix(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *err = NULL;

        add_story_roster(f->store);
        assert_int_equal(store_roster_check(f->store, ROSTER_LINKS, (char *[]){ "R999", "C101", "1" }, &err),
                         -EINVAL);
        assert_non_null(strstr(err, "unknown resident R999"));
        assert_non_null(strstr(err, "import residents first"));
}

static void test_gpio_line_cannot_serve_two_sensors(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *err = NULL;

        add_story_roster(f->store);
        assert_int_equal(store_roster_check(f->store, ROSTER_SENSORS,
                                            (char *[]){ "S-x", "R201", "", "leak", "gpio:gpiochip0:17" }, &err),
                         -EINVAL);
        assert_non_null(strstr(err, "already used by sensor S201-door"));
        free(err);
        err = NULL;
        /* The same line written with options is the same line. */
        assert_int_equal(store_roster_check(f->store, ROSTER_SENSORS,
                                            (char *[]){ "S-x", "R201", "", "leak", "gpio:gpiochip0:17:active_low:10L" },
                                            &err),
                         -EINVAL);
        assert_non_null(strstr(err, "already used by sensor S201-door"));
        free(err);
        err = NULL;
        /* Line 1 is not line 17, nor is line 171; and a sensor does not clash with itself. */
        assert_int_equal(store_roster_check(f->store, ROSTER_SENSORS,
                                            (char *[]){ "S-x", "R201", "", "leak", "gpio:gpiochip0:1" }, &err),
                         0);
        assert_int_equal(store_roster_check(f->store, ROSTER_SENSORS,
                                            (char *[]){ "S-x", "R201", "", "leak", "gpio:gpiochip0:171" }, &err),
                         0);
        assert_int_equal(store_roster_check(f->store, ROSTER_SENSORS,
                                            (char *[]){ "S201-door", "R201", "", "door", "gpio:gpiochip0:17" }, &err),
                         0);
        /* The same topic may carry another kind (a combined smoke and CO detector). */
        assert_int_equal(store_roster_check(f->store, ROSTER_SENSORS,
                                            (char *[]){ "S-x", "R201", "", "co", "mqtt:zigbee2mqtt/r201-leak" }, &err),
                         0);
        assert_int_equal(store_roster_check(f->store, ROSTER_SENSORS,
                                            (char *[]){ "S-y", "R201", "", "leak", "mqtt:zigbee2mqtt/r201-leak" },
                                            &err),
                         -EINVAL);
}

static void test_sensor_building_must_match_resident(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *err = NULL;

        add_story_roster(f->store);
        assert_int_equal(store_roster_check(f->store, ROSTER_SENSORS,
                                            (char *[]){ "S-x", "R201", "B9", "motion", "mqtt:z/m" }, &err),
                         -EINVAL);
        assert_non_null(strstr(err, "lives in building B17"));
}

static void test_resident_with_sensors_is_not_removed_silently(void **state)
{
        struct fixture *f = *state;

        add_story_roster(f->store);
        assert_int_equal(store_roster_delete(f->store, ROSTER_RESIDENTS, (char *[]){ "R201" }), -EBUSY);
        assert_non_null(strstr(store_error(f->store), "still has sensors"));
        assert_int_equal(store_roster_delete(f->store, ROSTER_SENSORS, (char *[]){ "S201-leak" }), 0);
        assert_int_equal(store_roster_delete(f->store, ROSTER_SENSORS, (char *[]){ "S201-door" }), 0);
        assert_int_equal(store_roster_delete(f->store, ROSTER_RESIDENTS, (char *[]){ "R201" }), 0);
        /* Links went with the resident. */
        int64_t n = -1;
        assert_int_equal(store_roster_count(f->store, ROSTER_LINKS, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(store_roster_delete(f->store, ROSTER_RESIDENTS, (char *[]){ "R201" }), -ENOENT);
}


static void exec(Store *s, const char *sql)
{
        assert_int_equal(sqlite3_exec(store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
}

/* Removing the newest sensor and adding another must not hand the newcomer the old one's number (its water use,
 * rule state and events would become the newcomer's); what a removed sensor, resident or building left in
 * rule_state and water_slots goes with it. */
static void test_sensor_numbers_are_never_reused_and_state_goes_with_its_owner(void **state)
{
        struct fixture *f = *state;
        int64_t door, meter;

        add_story_roster(f->store);
        assert_int_equal(put(f->store, ROSTER_SENSORS, NULL, "S201-meter", "R201", NULL, "water_meter",
                             "mqtt:wmbusmeters/r201"),
                         0);
        door = one(f->store, "SELECT num FROM sensors WHERE id = 'S201-door'");
        meter = one(f->store, "SELECT num FROM sensors WHERE id = 'S201-meter'");
        assert_true(meter > door);
        exec(f->store, "INSERT INTO water_slots (sensor_num, slot, ml) VALUES "
                       "((SELECT num FROM sensors WHERE id = 'S201-meter'), 1000, 5000)");
        exec(f->store, "INSERT INTO rule_state (subject, rule, key, value, updated_at) VALUES "
                       "('sensor:' || (SELECT num FROM sensors WHERE id = 'S201-meter'), 'tap', 'since', 1, 1), "
                       "('R201', 'morning', 'done', 1, 1), ('building:B17', 'entrance', 'open', 1, 1)");

        assert_int_equal(store_roster_delete(f->store, ROSTER_SENSORS, (char *[]){ "S201-meter" }), 0);
        assert_int_equal(one(f->store, "SELECT count(*) FROM water_slots"), 0);
        assert_int_equal(one(f->store, "SELECT count(*) FROM rule_state WHERE subject LIKE 'sensor:%'"), 0);

        /* The next sensor gets a new number, not the removed meter's. */
        assert_int_equal(put(f->store, ROSTER_SENSORS, NULL, "S201-meter2", "R201", NULL, "water_meter",
                             "mqtt:wmbusmeters/r201b"),
                         0);
        assert_true(one(f->store, "SELECT num FROM sensors WHERE id = 'S201-meter2'") > meter);
        /* The daemon names a sensor by reading its id from its number; a removed one is not found. */
        char id[65];
        assert_int_equal(store_sensor_id(f->store, door, id, sizeof(id)), 0);
        assert_string_equal(id, "S201-door");
        assert_int_equal(store_sensor_id(f->store, meter, id, sizeof(id)), -ENOENT);
        /* An edit keeps the number. */
        int64_t n2 = one(f->store, "SELECT num FROM sensors WHERE id = 'S201-meter2'");
        assert_int_equal(put(f->store, ROSTER_SENSORS, NULL, "S201-meter2", "R201", NULL, "water_meter",
                             "mqtt:wmbusmeters/r201c"),
                         0);
        assert_int_equal(one(f->store, "SELECT num FROM sensors WHERE id = 'S201-meter2'"), n2);

        /* The resident's and the building's state go with them. */
        assert_int_equal(store_roster_delete(f->store, ROSTER_SENSORS, (char *[]){ "S201-leak" }), 0);
        assert_int_equal(store_roster_delete(f->store, ROSTER_SENSORS, (char *[]){ "S201-door" }), 0);
        assert_int_equal(store_roster_delete(f->store, ROSTER_SENSORS, (char *[]){ "S201-meter2" }), 0);
        assert_int_equal(store_roster_delete(f->store, ROSTER_RESIDENTS, (char *[]){ "R201" }), 0);
        assert_int_equal(one(f->store, "SELECT count(*) FROM rule_state WHERE subject = 'R201'"), 0);
        exec(f->store, "DELETE FROM buildings WHERE id = 'B17'");
        assert_int_equal(one(f->store, "SELECT count(*) FROM rule_state"), 0);
}

static void test_rollback_leaves_nothing_behind(void **state)
{
        struct fixture *f = *state;
        int64_t n = -1;

        assert_int_equal(store_begin(f->store), 0);
        assert_int_equal(put(f->store, ROSTER_RESIDENTS, NULL, "R1", "a", "B1", "1", "1", "", ""), 0);
        assert_int_equal(store_rollback(f->store), 0);
        assert_int_equal(store_roster_count(f->store, ROSTER_RESIDENTS, &n), 0);
        assert_int_equal(n, 0);
}

static int count_away(const struct away_period *a, void *userdata)
{
        (*(int *)userdata)++;
        return 0;
}

static void test_away_period_expires_by_itself(void **state)
{
        struct fixture *f = *state;
        usec_t now = 1700000000 * USEC_PER_SEC;
        int n = 0;

        add_story_roster(f->store);
        assert_true(store_away_add(f->store, "R201", now, now + 3 * USEC_PER_DAY, "hospital") > 0);
        assert_int_equal(store_away_foreach(f->store, "R201", now + USEC_PER_DAY, count_away, &n), 0);
        assert_int_equal(n, 1);
        n = 0;
        assert_int_equal(store_away_foreach(f->store, "R201", now + 4 * USEC_PER_DAY, count_away, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(store_away_add(f->store, "R999", now, now + 1, ""), -ENOENT);
        assert_int_equal(store_away_add(f->store, "R201", now, now, ""), -EINVAL);
}

static void test_away_end_brings_resident_back_now(void **state)
{
        struct fixture *f = *state;
        usec_t now = 1700000000 * USEC_PER_SEC;
        int n = 0;

        add_story_roster(f->store);
        assert_true(store_away_add(f->store, "R201", now - USEC_PER_DAY, now + USEC_PER_DAY, "family") > 0);
        assert_true(store_away_add(f->store, "R201", now + 5 * USEC_PER_DAY, now + 6 * USEC_PER_DAY, "trip") > 0);
        assert_int_equal(store_away_end(f->store, "R201", now), 2);
        assert_int_equal(store_away_foreach(f->store, "R201", now, count_away, &n), 0);
        assert_int_equal(n, 0);
}

static void test_sensor_health_is_stored(void **state)
{
        struct fixture *f = *state;
        struct sensor_health h = { .last_seen = 123, .battery = 12, .available = 0, .available_since = 100,
                                   .state = (char *)"dry" };
        struct sensor_health got;

        add_story_roster(f->store);
        assert_int_equal(store_sensor_health_get(f->store, "S201-leak", &got), 0);
        assert_int_equal(got.last_seen, 0);
        assert_int_equal(got.battery, -1);
        assert_int_equal(store_sensor_health_set(f->store, "S201-leak", &h), 0);
        assert_int_equal(store_sensor_health_get(f->store, "S201-leak", &got), 0);
        assert_int_equal(got.last_seen, 123);
        assert_int_equal(got.battery, 12);
        assert_int_equal(got.available, 0);
        assert_string_equal(got.state, "dry");
        sensor_health_done(&got);
        assert_int_equal(store_sensor_health_set(f->store, "nope", &h), -ENOENT);
}

static void test_roster_version_moves_with_the_roster_only(void **state)
{
        struct fixture *f = *state;
        struct sensor_health h = { .last_seen = 123, .battery = 80, .available = 1, .state = (char *)"dry" };
        int64_t v0 = store_roster_version(f->store), v1, v2;

        assert_true(v0 >= 1);
        add_story_roster(f->store);
        v1 = store_roster_version(f->store);
        assert_true(v1 > v0);
        /* What the daemon records while it watches is not a roster change. */
        assert_int_equal(store_sensor_health_set(f->store, "S201-leak", &h), 0);
        assert_int_equal(store_audit(f->store, 1, "ctl:root", "ack", "alert 1", ""), 0);
        assert_int_equal(store_roster_version(f->store), v1);
        assert_int_equal(put(f->store, ROSTER_CONTACTS, NULL, "C101", "王阿姨", "13900000102", "结对邻居", "mqtt"), 0);
        v2 = store_roster_version(f->store);
        assert_true(v2 > v1);
}

static void test_audit_is_written(void **state)
{
        struct fixture *f = *state;
        assert_int_equal(store_audit(f->store, 1, "ctl:root", "import", "residents", "3 created"), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_database_file_is_private_and_in_wal_mode, setup, teardown),
                cmocka_unit_test_setup_teardown(test_existing_world_readable_file_is_tightened, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_file_without_create_says_how_to_fix, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_a_database_is_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upsert_reports_created_updated_unchanged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_roster_round_trips_through_get, setup, teardown),
                cmocka_unit_test_setup_teardown(test_link_to_unknown_resident_names_the_fix, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gpio_line_cannot_serve_two_sensors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sensor_building_must_match_resident, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resident_with_sensors_is_not_removed_silently, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing_behind, setup, teardown),
                cmocka_unit_test_setup_teardown(test_away_period_expires_by_itself, setup, teardown),
                cmocka_unit_test_setup_teardown(test_away_end_brings_resident_back_now, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sensor_health_is_stored, setup, teardown),
                cmocka_unit_test_setup_teardown(test_roster_version_moves_with_the_roster_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_audit_is_written, setup, teardown),
                cmocka_unit_test_setup_teardown(test_small_cache_is_the_daemons_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_the_daemon_checkpoints_on_a_thread_of_its_own, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sensor_numbers_are_never_reused_and_state_goes_with_its_owner,
                                                setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
