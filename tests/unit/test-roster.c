/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Roster value normalisation and sensor source parsing (pure code). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "daemon/roster.h"
#include "daemon/util.h"
#include "tests/lib/roster-put.h"
#include "sensors/source.h"

/* Normalise a row given as literals; returns r, fills out[] (caller clears) and the error. */
static int norm(enum roster_kind kind, char **out, char **err, ...)
{
        va_list ap;

        va_start(ap, err);
        tu_roster_row_v(kind, out, ap);
        va_end(ap);
        return roster_row_normalise(kind, out, err);
}

static void test_lives_alone_accepts_chinese_and_english_yes_no(void **state)
{
        const char *yes[] = { "是", "yes", "Y", "1", "true", "独居" };
        const char *no[] = { "否", "no", "N", "0", "false" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                assert_int_equal(parse_yes_no(yes[i]), 1);
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                assert_int_equal(parse_yes_no(no[i]), 0);
        assert_int_equal(parse_yes_no("可能"), -EINVAL);
}

static void test_resident_row_is_trimmed_and_canonical(void **state)
{
        char *v[ROSTER_MAX_COLUMNS] = { 0 }, *err = NULL;

        assert_int_equal(norm(ROSTER_RESIDENTS, v, &err, " R201 ", "沈国强", "B17", "201", " 是 ", "138 0000 0201", NULL),
                         0);
        assert_string_equal(v[0], "R201");
        assert_string_equal(v[4], "1");
        assert_string_equal(v[6], "");
        roster_row_clear(v, 7);
}

static void test_bad_lives_alone_says_what_to_write(void **state)
{
        char *v[ROSTER_MAX_COLUMNS] = { 0 }, *err = NULL;

        assert_int_equal(norm(ROSTER_RESIDENTS, v, &err, "R1", "a", "B1", "1", "可能", "", ""), -EINVAL);
        assert_non_null(strstr(err, "lives_alone"));
        assert_non_null(strstr(err, "是 or 否"));
        free(err);
        roster_row_clear(v, 7);
}

static void test_excel_scientific_phone_number_is_caught(void **state)
{
        char *v[ROSTER_MAX_COLUMNS] = { 0 }, *err = NULL;

        assert_int_equal(norm(ROSTER_RESIDENTS, v, &err, "R1", "a", "B1", "1", "否", "1.38E+10", ""), -EINVAL);
        assert_non_null(strstr(err, "Text"));
        free(err);
        roster_row_clear(v, 7);
}

static void test_id_with_slash_is_refused(void **state)
{
        char *v[ROSTER_MAX_COLUMNS] = { 0 }, *err = NULL;

        assert_int_equal(norm(ROSTER_CONTACTS, v, &err, "C/1", "a", "", "family", ""), -EINVAL);
        assert_non_null(strstr(err, "'/'"));
        free(err);
        roster_row_clear(v, 5);
}

static void test_roles_in_chinese_and_notify_lists(void **state)
{
        char *v[ROSTER_MAX_COLUMNS] = { 0 }, *err = NULL;

        assert_int_equal(norm(ROSTER_CONTACTS, v, &err, "C1", "李", "139", "楼组长", "mqtt；exec:sms, webhook:wecom"), 0);
        assert_string_equal(v[3], "group_leader");
        assert_string_equal(v[4], "mqtt;exec:sms;webhook:wecom");
        roster_row_clear(v, 5);

        assert_int_equal(norm(ROSTER_CONTACTS, v, &err, "C2", "王", "", "家属", ""), 0);
        assert_string_equal(v[3], "family");
        assert_string_equal(v[4], "mqtt");
        roster_row_clear(v, 5);

        assert_int_equal(norm(ROSTER_CONTACTS, v, &err, "C3", "王", "", "boss", ""), -EINVAL);
        assert_non_null(strstr(err, "role: 'boss'"));
        free(err);
        roster_row_clear(v, 5);

        assert_int_equal(norm(ROSTER_CONTACTS, v, &err, "C3", "王", "", "family", "sms"), -EINVAL);
        assert_non_null(strstr(err, "exec:NAME"));
        free(err);
        roster_row_clear(v, 5);
}

static void test_tier_must_be_one_two_or_three(void **state)
{
        char *v[ROSTER_MAX_COLUMNS] = { 0 }, *err = NULL;

        assert_int_equal(norm(ROSTER_LINKS, v, &err, "R1", "C1", "二"), 0);
        assert_string_equal(v[2], "2");
        roster_row_clear(v, 3);
        assert_int_equal(norm(ROSTER_LINKS, v, &err, "R1", "C1", "4"), -EINVAL);
        assert_non_null(strstr(err, "tier"));
        free(err);
        roster_row_clear(v, 3);
}

static void test_sensor_row_canonical_kind_and_source(void **state)
{
        char *v[ROSTER_MAX_COLUMNS] = { 0 }, *err = NULL;

        assert_int_equal(norm(ROSTER_SENSORS, v, &err, "S1", "R1", "", "水表", "gpio:gpiochip0:27:10L:active-low"), 0);
        assert_string_equal(v[3], "water_meter");
        assert_string_equal(v[4], "gpio:gpiochip0:27:active_low:litres=10");
        roster_row_clear(v, 5);

        assert_int_equal(norm(ROSTER_SENSORS, v, &err, "S2", "", "", "smoke", "mqtt:z/smoke"), -EINVAL);
        assert_non_null(strstr(err, "common-area"));
        free(err);
        roster_row_clear(v, 5);

        assert_int_equal(norm(ROSTER_SENSORS, v, &err, "S3", "R1", "", "leak", "gpio:gpiochip0:5:litres=1"), -EINVAL);
        assert_non_null(strstr(err, "only for water_meter"));
        free(err);
        roster_row_clear(v, 5);
}

static void test_missing_required_value_names_the_column(void **state)
{
        char *v[ROSTER_MAX_COLUMNS] = { 0 }, *err = NULL;

        assert_int_equal(norm(ROSTER_RESIDENTS, v, &err, "R1", "  ", "B1", "1", "1", "", ""), -EINVAL);
        assert_non_null(strstr(err, "name is empty"));
        free(err);
        roster_row_clear(v, 7);
}

static void test_headers_in_chinese_and_english_are_found(void **state)
{
        const struct roster_kind_info *r = roster_kind_info(ROSTER_RESIDENTS);
        assert_int_equal(roster_column_lookup(r, "姓名"), 1);
        assert_int_equal(roster_column_lookup(r, " Lives alone "), 4);
        assert_int_equal(roster_column_lookup(r, "门牌号"), 3);
        assert_int_equal(roster_column_lookup(r, "独居"), 4);
        assert_int_equal(roster_column_lookup(r, "shoe size"), -ENOENT);
        assert_int_equal(roster_kind_from_string("sensor"), ROSTER_SENSORS);
        assert_int_equal(roster_kind_from_string("people"), -EINVAL);
}

static void test_gpio_source_forms(void **state)
{
        struct sensor_source s;
        char *err = NULL, *f;

        assert_int_equal(sensor_source_parse("gpio:gpiochip0:17", &s, &err), 0);
        assert_int_equal(s.type, SOURCE_GPIO);
        assert_string_equal(s.chip, "gpiochip0");
        assert_int_equal(s.line, 17);
        assert_false(s.active_low);
        sensor_source_done(&s);

        assert_int_equal(sensor_source_parse("gpio:pinctrl-bcm2711:4:active_low:pull_up:debounce=20ms", &s, &err), 0);
        assert_true(s.active_low);
        assert_int_equal(s.bias, GPIO_BIAS_PULL_UP);
        assert_int_equal(s.debounce, 20 * USEC_PER_MSEC);
        f = sensor_source_format(&s);
        assert_string_equal(f, "gpio:pinctrl-bcm2711:4:active_low:pull_up:debounce=20ms");
        free(f);
        sensor_source_done(&s);

        assert_int_equal(sensor_source_parse("gpio:/dev/gpiochip0:27:litres=0.5", &s, &err), 0);
        assert_string_equal(s.chip, "/dev/gpiochip0");
        assert_true(s.litres_per_pulse == 0.5);
        sensor_source_done(&s);
}

static void test_bad_sources_explain_themselves(void **state)
{
        struct sensor_source s;
        char *err = NULL;

        assert_int_equal(sensor_source_parse("gpio:gpiochip0", &s, &err), -EINVAL);
        assert_non_null(strstr(err, "gpio:CHIP:LINE"));
        free(err);
        assert_int_equal(sensor_source_parse("gpio:gpiochip0:seventeen", &s, &err), -EINVAL);
        assert_non_null(strstr(err, "BCM"));
        free(err);
        assert_int_equal(sensor_source_parse("gpio:gpiochip0:17:inverted", &s, &err), -EINVAL);
        assert_non_null(strstr(err, "unknown option 'inverted'"));
        free(err);
        assert_int_equal(sensor_source_parse("mqtt:zigbee2mqtt/#", &s, &err), -EINVAL);
        assert_non_null(strstr(err, "wildcards"));
        free(err);
        assert_int_equal(sensor_source_parse("zigbee:0x1234", &s, &err), -EINVAL);
        assert_non_null(strstr(err, "mqtt:TOPIC"));
        free(err);
        assert_int_equal(sensor_source_parse("gpio:gpiochip0:27:litres=-1", &s, &err), -EINVAL);
        free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lives_alone_accepts_chinese_and_english_yes_no),
                cmocka_unit_test(test_resident_row_is_trimmed_and_canonical),
                cmocka_unit_test(test_bad_lives_alone_says_what_to_write),
                cmocka_unit_test(test_excel_scientific_phone_number_is_caught),
                cmocka_unit_test(test_id_with_slash_is_refused),
                cmocka_unit_test(test_roles_in_chinese_and_notify_lists),
                cmocka_unit_test(test_tier_must_be_one_two_or_three),
                cmocka_unit_test(test_sensor_row_canonical_kind_and_source),
                cmocka_unit_test(test_missing_required_value_names_the_column),
                cmocka_unit_test(test_headers_in_chinese_and_english_are_found),
                cmocka_unit_test(test_gpio_source_forms),
                cmocka_unit_test(test_bad_sources_explain_themselves),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
