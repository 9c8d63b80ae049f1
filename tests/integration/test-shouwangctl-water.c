/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shouwangctl water (issue 11), the real binary on a real database: the
 * example roster imported as committee staff do, water_slots rows written
 * with SQLite as the daemon files them (half-hour slots, ml; a missing row
 * is "unknown"), and the question staff ask: "did Mr Shen use water
 * yesterday evening?"
 *
 * Days are local days in the daemon's zone, Asia/Shanghai (no DST): the test
 * runs shouwangctl with TZ=UTC in its environment and the config's
 * [general] timezone must win, so a slot at 23:30 Shanghai time (15:30 UTC)
 * belongs to that day.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "daemon/util.h"
#include "tests/lib/testutil.h"

static char dir[64], db[128], conf[128];
static char out[65536];

/* shouwangctl with the config (timezone Asia/Shanghai) while the environment says UTC. */
_printf_(1, 2) static int ctl(const char *fmt, ...)
{
        char bin[256], args[2048], cmd[4096];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(args, sizeof(args), fmt, ap);
        va_end(ap);
        tu_build_path("shouwangctl", bin, sizeof(bin));
        snprintf(cmd, sizeof(cmd), "cd %s && TZ=UTC %s -c %s %s 2>&1", dir, bin, conf, args);
        return tu_run(cmd, out, sizeof(out));
}

/* The same with --db and a TZ of the caller's choosing. */
_printf_(2, 3) static int ctl_tz(const char *tz, const char *fmt, ...)
{
        char bin[256], args[2048], cmd[4096];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(args, sizeof(args), fmt, ap);
        va_end(ap);
        tu_build_path("shouwangctl", bin, sizeof(bin));
        snprintf(cmd, sizeof(cmd), "cd %s && TZ=%s %s --db %s %s 2>&1", dir, tz, bin, db, args);
        return tu_run(cmd, out, sizeof(out));
}

/* Wall seconds of a Shanghai local time (UTC+8 all year since 1991). */
static int64_t shanghai(const char *s)
{
        struct tm tm = { 0 };
        const char *e = strptime(s, "%Y-%m-%d %H:%M", &tm);
        assert_non_null(e);
        assert_int_equal(*e, '\0');
        return (int64_t)timegm(&tm) - 8 * 3600;
}

static int64_t slot_at(const char *local)
{
        return shanghai(local) / 1800;
}

static void sql(const char *statement)
{
        sqlite3 *h = NULL;
        char *err = NULL;

        assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
        sqlite3_busy_timeout(h, 5000);
        if (sqlite3_exec(h, statement, NULL, NULL, &err) != SQLITE_OK)
                fail_msg("%s: %s", statement, err);
        sqlite3_close(h);
}

static int64_t sensor_num(const char *id)
{
        sqlite3 *h = NULL;
        sqlite3_stmt *st = NULL;
        int64_t num;

        assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(h, "SELECT num FROM sensors WHERE id = ?1", -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        num = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(h);
        return num;
}

/* One water_slots row, as the daemon files it. */
static void slot(const char *meter, const char *local, int64_t ml)
{
        char q[256];
        snprintf(q, sizeof(q), "INSERT OR REPLACE INTO water_slots (sensor_num, slot, ml) VALUES (%lld, %lld, %lld)",
                 (long long)sensor_num(meter), (long long)slot_at(local), (long long)ml);
        sql(q);
}

/* Every half-hour of a local day at ml, except those from..to (exclusive) left unknown. */
static void day_of_zeros(const char *meter, const char *day, int gap_from_hour, int gap_to_hour)
{
        char q[128];
        int64_t num = sensor_num(meter), first = slot_at(strcat(strcpy(q, day), " 00:00"));
        char *all = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&all, &n);

        assert_non_null(f);
        fprintf(f, "BEGIN;");
        for (int i = 0; i < 48; i++) {
                if (i >= gap_from_hour * 2 && i < gap_to_hour * 2)
                        continue;
                fprintf(f, "INSERT OR REPLACE INTO water_slots (sensor_num, slot, ml) VALUES (%lld, %lld, 0);",
                        (long long)num, (long long)(first + i));
        }
        fprintf(f, "COMMIT;");
        fclose(f);
        sql(all);
        free(all);
}

static void import_examples(void)
{
        char top[256];
        tu_top_path("examples", top, sizeof(top));
        assert_int_equal(ctl("import residents %s/residents.csv", top), 0);
        assert_int_equal(ctl("import contacts %s/contacts.csv", top), 0);
        assert_int_equal(ctl("import links %s/links.csv", top), 0);
        assert_int_equal(ctl("import sensors %s/sensors.csv", top), 0);
}

static int setup(void **state)
{
        char text[512];

        tu_mkdtemp("ctl-water", dir, sizeof(dir));
        snprintf(db, sizeof(db), "%s/shouwang.db", dir);
        snprintf(conf, sizeof(conf), "%s/shouwang.conf", dir);
        snprintf(text, sizeof(text), "[general]\ngateway = test\ndatabase = %s\ntimezone = Asia/Shanghai\n", db);
        tu_write_file(conf, text);
        import_examples();
        return 0;
}

static int teardown(void **state)
{
        tu_rmdir(dir);
        return 0;
}

/* The line of the table that starts with `label`, or fail. */
static const char *row(const char *label)
{
        static char text[512];
        char pat[64];
        snprintf(pat, sizeof(pat), "\n%s ", label);
        const char *p = strstr(out, pat);
        if (!p)
                fail_msg("no row '%s' in:\n%s", label, out);
        p++;
        const char *e = strchr(p, '\n');
        snprintf(text, sizeof(text), "%.*s", (int)(e ? e - p : (ptrdiff_t)strlen(p)), p);
        return text;
}

/* A table row as shouwangctl lays it out: the label column is as wide as "hours unknown", each day's column as
 * wide as its header "2026-11-21 周六" (15 terminal columns), numbers right-aligned under it. */
static const char *line(const char *label, const char *day1, const char *day2)
{
        static char buf[256];
        if (day2)
                snprintf(buf, sizeof(buf), "%-13s  %15s  %15s", label, day1, day2);
        else
                snprintf(buf, sizeof(buf), "%-13s  %15s", label, day1);
        return buf;
}

/*
 * Mr Shen's week-end. Saturday: the meter reported every half-hour; he ran
 * 12.5 L at 19:00 and 3 L at 19:30, and 7 L at 23:30. Sunday: the meter was
 * offline from 18:00 to 21:00 (no rows); 20 L at 07:00.
 */
static void story(void)
{
        day_of_zeros("S201-water", "2026-11-21", 0, 0);
        slot("S201-water", "2026-11-21 19:00", 12500);
        slot("S201-water", "2026-11-21 19:30", 3000);
        slot("S201-water", "2026-11-21 23:30", 7000);
        day_of_zeros("S201-water", "2026-11-22", 18, 21);
        slot("S201-water", "2026-11-22 07:00", 20000);
}

static void test_table_litres_per_hour_with_unknown_hours_shown_as_unknown(void **state)
{
        story();
        assert_int_equal(ctl("water R201 --to 2026-11-22"), 0);
        assert_non_null(strstr(out, "沈国强 (R201), B17 201: water used, in litres per hour, Asia/Shanghai time\n"));
        assert_non_null(strstr(out, "  meter S201-water (water_meter)"));
        /* Aligned under the headers, Chinese weekday and all (a CJK character is two columns). */
        assert_string_equal(row("hour"), "hour           2026-11-21 周六  2026-11-22 周日");
        assert_string_equal(row("07:00"), line("07:00", "0.0", "20.0"));
        assert_string_equal(row("18:00"), line("18:00", "0.0", "?"));
        assert_string_equal(row("19:00"), line("19:00", "15.5", "?"));
        assert_string_equal(row("20:00"), line("20:00", "0.0", "?"));
        assert_string_equal(row("21:00"), line("21:00", "0.0", "0.0"));
        assert_string_equal(row("23:00"), line("23:00", "7.0", "0.0"));
        /* Sunday's total is a lower bound: three hours unknown. */
        assert_string_equal(row("total"), line("total", "22.5", "20.0+"));
        assert_string_equal(row("hours unknown"), line("hours unknown", "0", "3"));
        assert_non_null(strstr(out, "  ?      unknown: the meter was not reporting. That is not the same as no water."));
        assert_non_null(strstr(out, "  12.5+  at least 12.5 litres"));
        /* Nothing is "0" where the meter was silent. */
        assert_null(strstr(row("19:00"), " 0.0"));
}

static void test_json_shape_and_unknown_is_null(void **state)
{
        story();
        assert_int_equal(ctl("water R201 --to 2026-11-22 --json"), 0);
        cJSON *j = cJSON_Parse(out);
        if (!j)
                fail_msg("not JSON: %s", out);
        cJSON *res = cJSON_GetObjectItem(j, "resident");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(res, "id")), "R201");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(res, "name")), "沈国强");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(res, "building")), "B17");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(res, "flat")), "201");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "timezone")), "Asia/Shanghai");
        assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(j, "generated_at")), "+08:00"));

        cJSON *meters = cJSON_GetObjectItem(j, "meters");
        assert_int_equal(cJSON_GetArraySize(meters), 1);
        cJSON *m = cJSON_GetArrayItem(meters, 0);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(m, "id")), "S201-water");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(m, "kind")), "water_meter");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "counted")));
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(m, "reported_until")), "2026-11-23T00:00:00+08:00");

        cJSON *days = cJSON_GetObjectItem(j, "days");
        assert_int_equal(cJSON_GetArraySize(days), 2);
        cJSON *sat = cJSON_GetArrayItem(days, 0), *sun = cJSON_GetArrayItem(days, 1);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(sat, "date")), "2026-11-21");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(sat, "start")), "2026-11-21T00:00:00+08:00");
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(sat, "litres")) == 22.5);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(sat, "state")), "known");
        assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(sat, "unknown_hours")), 0);
        cJSON *hours = cJSON_GetObjectItem(sat, "hours");
        assert_int_equal(cJSON_GetArraySize(hours), 24);
        cJSON *h19 = cJSON_GetArrayItem(hours, 19);
        assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(h19, "hour")), 19);
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(h19, "litres")) == 15.5);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(h19, "state")), "known");
        /* A known zero is 0, not null. */
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetArrayItem(hours, 3), "litres")));
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(hours, 3), "litres")) == 0);

        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(sun, "state")), "partial");
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(sun, "litres")) == 20);
        assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(sun, "unknown_hours")), 3);
        for (int h = 18; h < 21; h++) {
                cJSON *x = cJSON_GetArrayItem(cJSON_GetObjectItem(sun, "hours"), h);
                assert_true(cJSON_IsNull(cJSON_GetObjectItem(x, "litres")));
                assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(x, "state")), "unknown");
        }
        cJSON_Delete(j);
}

static void test_day_boundaries_are_shanghai_midnight(void **state)
{
        /* 23:30 on Saturday is Saturday's, 00:00 on Sunday is Sunday's, whatever TZ the shell has. */
        slot("S201-water", "2026-11-21 23:30", 7000);
        slot("S201-water", "2026-11-22 00:00", 1000);
        assert_int_equal(ctl("water R201 --to 2026-11-22 --json"), 0);
        cJSON *j = cJSON_Parse(out);
        assert_non_null(j);
        cJSON *days = cJSON_GetObjectItem(j, "days");
        cJSON *sat23 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(days, 0), "hours"), 23);
        cJSON *sun0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(days, 1), "hours"), 0);
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(sat23, "litres")) == 7);
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(sun0, "litres")) == 1);
        /* The rest of both days is unknown: partial days, whose litres are what is known. */
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(days, 0), "litres")) == 7);
        assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(days, 0), "unknown_hours")), 23);
        cJSON_Delete(j);

        /* One day only: Saturday's 23:30 is not in Sunday. Sunday's 00:30 is missing: "at least 1 L". */
        assert_int_equal(ctl("water R201 --to 2026-11-22 --days 1"), 0);
        assert_string_equal(row("23:00"), line("23:00", "?", NULL));
        assert_string_equal(row("00:00"), line("00:00", "1.0+", NULL));
        assert_string_equal(row("total"), line("total", "1.0+", NULL));

        /* Without the config, TZ decides: the same as the config's zone... */
        assert_int_equal(ctl_tz("Asia/Shanghai", "water R201 --to 2026-11-22 --days 1"), 0);
        assert_string_equal(row("00:00"), line("00:00", "1.0+", NULL));
        assert_non_null(strstr(out, "Asia/Shanghai time"));
        /* ...and in UTC the 23:30 slot is 15:30 on Saturday. */
        assert_int_equal(ctl_tz("UTC", "water R201 --to 2026-11-21 --days 1"), 0);
        assert_string_equal(row("15:00"), line("15:00", "7.0+", NULL));
        assert_string_equal(row("16:00"), line("16:00", "1.0+", NULL));
}

static void test_default_is_today_and_yesterday_with_later_hours_not_yet(void **state)
{
        char today[16], yesterday[16];
        time_t now = time(NULL), t;
        struct tm tm;

        /* Shanghai's dates now (UTC+8). */
        t = now + 8 * 3600;
        gmtime_r(&t, &tm);
        strftime(today, sizeof(today), "%Y-%m-%d", &tm);
        t -= 24 * 3600;
        gmtime_r(&t, &tm);
        strftime(yesterday, sizeof(yesterday), "%Y-%m-%d", &tm);
        day_of_zeros("S201-water", yesterday, 0, 0);

        assert_int_equal(ctl("water R201 --json"), 0);
        cJSON *j = cJSON_Parse(out);
        assert_non_null(j);
        cJSON *days = cJSON_GetObjectItem(j, "days");
        assert_int_equal(cJSON_GetArraySize(days), 2);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(days, 0), "date")), yesterday);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(days, 0), "state")), "known");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(days, 1), "date")), today);
        /* Hours of today that have not begun are "not yet", never unknown or 0. */
        int hour_now = (int)(((now + 8 * 3600) % 86400) / 3600);
        cJSON *hours = cJSON_GetObjectItem(cJSON_GetArrayItem(days, 1), "hours");
        for (int h = hour_now + 1; h < 24; h++) {
                cJSON *x = cJSON_GetArrayItem(hours, h);
                assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(x, "state")), "not_yet");
                assert_true(cJSON_IsNull(cJSON_GetObjectItem(x, "litres")));
        }
        /* Today has no rows at all: the hours gone by are unknown. */
        if (hour_now > 0)
                assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(hours, 0), "state")),
                                    "unknown");
        cJSON_Delete(j);

        assert_int_equal(ctl("water R201"), 0);
        assert_non_null(strstr(out, yesterday));
        assert_non_null(strstr(out, today));
        assert_int_equal(ctl("water R201 --days 7"), 0);
        assert_int_equal(ctl("water R201 --to yesterday --days 1"), 0);
        assert_non_null(strstr(row("hour"), yesterday));
        assert_null(strstr(row("hour"), today));
}

static void test_two_meters_an_hour_needs_both(void **state)
{
        /* A second meter in the kitchen, on Zigbee; it reported only in the morning. */
        assert_int_equal(ctl("sensors add --id S201-kitchen --resident_id R201 --kind water_meter "
                             "--source mqtt:wmbusmeters/r201-kitchen"),
                         0);
        day_of_zeros("S201-water", "2026-11-21", 0, 0);
        slot("S201-water", "2026-11-21 19:00", 4000);
        day_of_zeros("S201-kitchen", "2026-11-21", 12, 24);
        slot("S201-kitchen", "2026-11-21 08:00", 1500);
        assert_int_equal(ctl("water R201 --to 2026-11-21 --days 1"), 0);
        assert_non_null(strstr(out, "  meter S201-kitchen (water_meter): nothing reported since 2026-11-21 12:00\n"));
        assert_non_null(strstr(out, "  meter S201-water (water_meter): nothing reported since 2026-11-22 00:00\n"));
        assert_string_equal(row("08:00"), line("08:00", "1.5", NULL));
        /* The bathroom said 0, the kitchen said nothing: unknown, not 0. */
        assert_string_equal(row("13:00"), line("13:00", "?", NULL));
        /* The bathroom said 4 L, the kitchen nothing: at least 4 L. */
        assert_string_equal(row("19:00"), line("19:00", "4.0+", NULL));
        assert_string_equal(row("total"), line("total", "5.5+", NULL));
}

static void test_no_meter_and_unknown_resident_say_so(void **state)
{
        /* 王秀英 has a door contact and a leak sensor, no meter. */
        assert_int_equal(ctl("water R301"), 4);
        assert_non_null(strstr(out, "王秀英 (R301) has no water meter"));
        assert_non_null(strstr(out, "water_meter"));
        assert_int_equal(ctl("water R301 --json"), 4);
        assert_null(strstr(out, "{"));

        /* 张志明 gets a flow switch only: it says whether water runs, not how much. */
        assert_int_equal(ctl("sensors add --id S302-flow --resident_id R302 --kind water_flow "
                             "--source mqtt:zigbee2mqtt/r302-flow"),
                         0);
        assert_int_equal(ctl("water R302"), 4);
        assert_non_null(strstr(out, "only a water-flow switch (S302-flow)"));

        assert_int_equal(ctl("water R999"), 4);
        assert_non_null(strstr(out, "There is no resident R999"));
        assert_non_null(strstr(out, "shouwangctl residents list"));
}

static void test_help_and_usage(void **state)
{
        assert_int_equal(ctl("water --help"), 0);
        assert_non_null(strstr(out, "Usage: shouwangctl water RESIDENT"));
        assert_int_equal(ctl("--help"), 0);
        assert_non_null(strstr(out, "water RESIDENT [--days N]"));
        assert_int_equal(ctl("water"), 2);
        assert_int_equal(ctl("water R201 --days 0"), 2);
        assert_int_equal(ctl("water R201 --days 32"), 2);
        assert_int_equal(ctl("water R201 --days many"), 2);
        assert_int_equal(ctl("water R201 --to someday"), 2);
        assert_int_equal(ctl("water R201 --frobnicate"), 2);
        assert_int_equal(ctl_tz("UTC", "--db %s/nope.db water R201", dir), 5);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_table_litres_per_hour_with_unknown_hours_shown_as_unknown, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_json_shape_and_unknown_is_null, setup, teardown),
                cmocka_unit_test_setup_teardown(test_day_boundaries_are_shanghai_midnight, setup, teardown),
                cmocka_unit_test_setup_teardown(test_default_is_today_and_yesterday_with_later_hours_not_yet, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_two_meters_an_hour_needs_both, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_meter_and_unknown_resident_say_so, setup, teardown),
                cmocka_unit_test_setup_teardown(test_help_and_usage, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
