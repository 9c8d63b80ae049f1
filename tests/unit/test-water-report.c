/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The water report's arithmetic (daemon/water-report.c) without a database:
 * local days and hours, unknown never shown as 0, an hour known only when
 * every meter reported, today's hours not yet come, and zones with DST.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "daemon/water-report.h"

static void set_tz(const char *tz)
{
        assert_int_equal(setenv("TZ", tz, 1), 0);
        tzset();
}

static usec_t local(const char *s)
{
        struct tm tm = { .tm_isdst = -1 };
        assert_non_null(strptime(s, "%Y-%m-%d %H:%M", &tm));
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        assert_true(t > 0);
        return (usec_t)t * USEC_PER_SEC;
}

static int64_t slot_of(const char *s)
{
        return (int64_t)(local(s) / USEC_PER_SEC / 1800);
}

/* A report with one meter (index 0) for the days ending with `last`, judged at `now`. */
static WaterReport *report(const char *last, unsigned days, const char *now, int n_meters)
{
        WaterReport *w = NULL;
        assert_int_equal(water_report_new(local(last), days, local(now), &w), 0);
        assert_int_equal(water_report_set_resident(w, "R201", "沈国强", "B17", "201"), 0);
        for (int i = 0; i < n_meters; i++)
                assert_int_equal(water_report_add_meter(w, 5 + i, i ? "S201-water2" : "S201-water", "water_meter",
                                                        "gpio:gpiochip0:27:litres=1", true, 0),
                                 i);
        return w;
}

static void fill_day(WaterReport *w, size_t meter, const char *day, int64_t ml)
{
        char when[32];
        for (int h = 0; h < 24; h++)
                for (int m = 0; m < 60; m += 30) {
                        snprintf(when, sizeof(when), "%s %02d:%02d", day, h, m);
                        water_report_add_slot(w, meter, slot_of(when), ml);
                }
}

static void test_a_full_day_of_reports_is_known_and_zero_is_zero(void **state)
{
        set_tz(":Asia/Shanghai");
        WaterReport *w = report("2026-11-21 12:00", 1, "2026-11-23 08:00", 1);
        fill_day(w, 0, "2026-11-21", 0);
        water_report_add_slot(w, 0, slot_of("2026-11-21 19:30"), 12500);
        water_report_finish(w);

        const struct water_day *d = &w->days[0];
        assert_string_equal(d->date, "2026-11-21");
        assert_int_equal(d->wday, 6);
        assert_int_equal(d->state, WATER_KNOWN);
        assert_int_equal(d->ml, 12500);
        assert_int_equal(d->hours[19].ml, 12500);
        assert_int_equal(d->hours[3].state, WATER_KNOWN);
        assert_int_equal(d->hours[3].ml, 0);
        water_report_free(w);
}

static void test_missing_slots_are_unknown_not_zero(void **state)
{
        set_tz(":Asia/Shanghai");
        WaterReport *w = report("2026-11-21 12:00", 1, "2026-11-23 08:00", 1);
        /* The meter went quiet from 18:00 to 20:30; 20:30 itself reported 3 L. */
        fill_day(w, 0, "2026-11-21", 0);
        WaterReport *v = report("2026-11-21 12:00", 1, "2026-11-23 08:00", 1);
        char when[32];
        for (int h = 0; h < 24; h++)
                for (int m = 0; m < 60; m += 30) {
                        if (h == 18 || h == 19 || (h == 20 && m == 0))
                                continue;
                        snprintf(when, sizeof(when), "2026-11-21 %02d:%02d", h, m);
                        water_report_add_slot(v, 0, slot_of(when), h == 20 ? 3000 : 0);
                }
        water_report_finish(v);
        const struct water_day *d = &v->days[0];
        assert_int_equal(d->hours[18].state, WATER_UNKNOWN);
        assert_int_equal(d->hours[19].state, WATER_UNKNOWN);
        assert_int_equal(d->hours[20].state, WATER_PARTIAL);
        assert_int_equal(d->hours[20].ml, 3000);
        assert_int_equal(d->unknown_hours, 2);
        assert_int_equal(d->partial_hours, 1);
        assert_int_equal(d->state, WATER_PARTIAL);

        /* In JSON an unknown hour has litres null, never 0. */
        cJSON *j = water_report_json(v, "Asia/Shanghai");
        assert_non_null(j);
        cJSON *h18 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "days"), 0), "hours"), 18);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(h18, "litres")));
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(h18, "state")), "unknown");
        cJSON_Delete(j);

        /* A day with nothing at all is unknown, not 0 litres. */
        WaterReport *e = report("2026-11-21 12:00", 1, "2026-11-23 08:00", 1);
        water_report_finish(e);
        assert_int_equal(e->days[0].state, WATER_UNKNOWN);
        assert_int_equal(e->days[0].unknown_hours, 24);
        water_report_free(e);
        water_report_free(v);
        water_report_free(w);
}

static void test_an_hour_is_known_only_when_every_meter_reported(void **state)
{
        set_tz(":Asia/Shanghai");
        WaterReport *w = report("2026-11-21 12:00", 1, "2026-11-23 08:00", 2);
        fill_day(w, 0, "2026-11-21", 1000);
        fill_day(w, 1, "2026-11-21", 0);
        water_report_finish(w);
        assert_int_equal(w->days[0].state, WATER_KNOWN);
        assert_int_equal(w->days[0].ml, 48 * 1000);
        water_report_free(w);

        /* The kitchen meter reported all day, the bathroom meter not at all. */
        w = report("2026-11-21 12:00", 1, "2026-11-23 08:00", 2);
        fill_day(w, 0, "2026-11-21", 0);
        water_report_finish(w);
        assert_int_equal(w->days[0].hours[7].state, WATER_UNKNOWN);
        assert_int_equal(w->days[0].state, WATER_UNKNOWN);
        water_report_free(w);

        /* A flow switch (no litres) is listed but does not make anything unknown. */
        w = report("2026-11-21 12:00", 1, "2026-11-23 08:00", 1);
        assert_int_equal(water_report_add_meter(w, 9, "S201-flow", "water_flow", "mqtt:z/flow", false, 0), 1);
        fill_day(w, 0, "2026-11-21", 0);
        water_report_add_slot(w, 1, slot_of("2026-11-21 07:00"), 500); /* ignored: not counted */
        water_report_finish(w);
        assert_int_equal(water_report_n_counted(w), 1);
        assert_int_equal(w->days[0].state, WATER_KNOWN);
        assert_int_equal(w->days[0].ml, 0);
        water_report_free(w);
}

static void test_today_later_hours_are_not_yet_and_the_running_half_hour_is_not_unknown(void **state)
{
        set_tz(":Asia/Shanghai");
        WaterReport *w = report("2026-11-22 09:10", 2, "2026-11-22 09:10", 1);
        fill_day(w, 0, "2026-11-21", 0);
        char when[32];
        for (int h = 0; h < 9; h++)
                for (int m = 0; m < 60; m += 30) {
                        snprintf(when, sizeof(when), "2026-11-22 %02d:%02d", h, m);
                        water_report_add_slot(w, 0, slot_of(when), h == 7 ? 4000 : 0);
                }
        water_report_finish(w);
        const struct water_day *today = &w->days[1];
        assert_string_equal(today->date, "2026-11-22");
        assert_int_equal(today->hours[8].state, WATER_KNOWN);
        /* 09:00-09:30 is still running and nothing stored yet: not yet, not unknown. */
        assert_int_equal(today->hours[9].state, WATER_NOT_YET);
        assert_int_equal(today->hours[15].state, WATER_NOT_YET);
        assert_int_equal(today->state, WATER_KNOWN);
        assert_int_equal(today->ml, 8000);
        assert_int_equal(today->unknown_hours, 0);
        water_report_free(w);

        /* Water already running in the current half-hour is shown. */
        w = report("2026-11-22 09:10", 1, "2026-11-22 09:10", 1);
        water_report_add_slot(w, 0, slot_of("2026-11-22 09:00"), 2000);
        water_report_finish(w);
        assert_int_equal(w->days[0].hours[9].state, WATER_KNOWN);
        assert_int_equal(w->days[0].hours[9].ml, 2000);
        assert_int_equal(w->days[0].hours[8].state, WATER_UNKNOWN);
        water_report_free(w);
}

static void test_half_past_eleven_belongs_to_that_day(void **state)
{
        set_tz(":Asia/Shanghai");
        WaterReport *w = report("2026-11-22 12:00", 2, "2026-11-23 08:00", 1);
        water_report_add_slot(w, 0, slot_of("2026-11-21 23:30"), 7000);
        water_report_add_slot(w, 0, slot_of("2026-11-22 00:00"), 1000);
        water_report_add_slot(w, 0, slot_of("2026-11-20 23:30"), 99000); /* before the report */
        water_report_add_slot(w, 0, slot_of("2026-11-23 00:00"), 99000); /* after it */
        water_report_finish(w);
        assert_int_equal(w->days[0].hours[23].ml, 7000);
        assert_int_equal(w->days[0].ml, 7000);
        assert_int_equal(w->days[1].hours[0].ml, 1000);
        assert_int_equal(w->days[1].ml, 1000);
        water_report_free(w);
}

static void test_days_with_a_clock_change(void **state)
{
        set_tz(":Europe/Berlin");
        /* 2026-03-29: 02:00 does not exist; the day has 23 hours. */
        WaterReport *w = report("2026-03-29 12:00", 1, "2026-04-02 08:00", 1);
        fill_day(w, 0, "2026-03-29", 100);
        water_report_finish(w);
        assert_int_equal(w->days[0].hours[2].state, WATER_SKIPPED);
        assert_int_equal(w->days[0].state, WATER_KNOWN);
        assert_int_equal(w->days[0].end - w->days[0].start, 23 * USEC_PER_HOUR);
        water_report_free(w);

        /* 2026-10-25: 02:00-03:00 happens twice; four half-hours land in hour 2, all must be known. */
        w = report("2026-10-25 12:00", 1, "2026-10-30 08:00", 1);
        int64_t first = (int64_t)(w->days[0].start / USEC_PER_SEC / 1800);
        int64_t last = (int64_t)(w->days[0].end / USEC_PER_SEC / 1800);
        assert_int_equal(last - first, 50);
        for (int64_t s = first; s < last; s++)
                water_report_add_slot(w, 0, s, 100);
        water_report_finish(w);
        assert_int_equal(w->days[0].hours[2].n_half, 4);
        assert_int_equal(w->days[0].hours[2].ml, 400);
        assert_int_equal(w->days[0].state, WATER_KNOWN);
        assert_int_equal(w->days[0].ml, 5000);
        water_report_free(w);
        set_tz(":Asia/Shanghai");
}

static void test_the_table_lines_up_and_explains_its_signs(void **state)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        set_tz(":Asia/Shanghai");
        WaterReport *w = report("2026-11-22 12:00", 2, "2026-11-22 12:10", 1);
        fill_day(w, 0, "2026-11-21", 0);
        water_report_add_slot(w, 0, slot_of("2026-11-22 07:30"), 2500);
        water_report_finish(w);
        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(water_report_print(w, "Asia/Shanghai", f), 0);
        fclose(f);
        assert_non_null(strstr(buf, "沈国强 (R201), B17 201"));
        assert_non_null(strstr(buf, "Asia/Shanghai time"));
        assert_non_null(strstr(buf, "hour           2026-11-21 周六  2026-11-22 周日\n"));
        assert_non_null(strstr(buf, "07:00                      0.0             2.5+\n"));
        assert_non_null(strstr(buf, "08:00                      0.0                ?\n"));
        assert_non_null(strstr(buf, "total                      0.0             2.5+\n"));
        assert_non_null(strstr(buf, "  ?      unknown"));
        assert_non_null(strstr(buf, "  blank  not yet"));
        free(buf);
        water_report_free(w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_full_day_of_reports_is_known_and_zero_is_zero),
                cmocka_unit_test(test_missing_slots_are_unknown_not_zero),
                cmocka_unit_test(test_an_hour_is_known_only_when_every_meter_reported),
                cmocka_unit_test(test_today_later_hours_are_not_yet_and_the_running_half_hour_is_not_unknown),
                cmocka_unit_test(test_half_past_eleven_belongs_to_that_day),
                cmocka_unit_test(test_days_with_a_clock_change),
                cmocka_unit_test(test_the_table_lines_up_and_explains_its_signs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
