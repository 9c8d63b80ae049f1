/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rule engine's core with a fake clock: leak, panic, fall, smoke, gas,
 * CO, sensor health, inactivity, away periods, settings, restarts, flapping
 * sensors, the combined rule, and the timer heap at 10,000 residents.
 * Time-of-day rules are in test-rules-time.c, water in test-rules-water.c.
 */

#include "tests/unit/test-rules.h"

enum {
        S_LEAK = 1,
        S_DOOR,
        S_MOTION,
        S_BUTTON,
        S_FALL,
        S_SMOKE,
        S_GAS,
        S_CO,
        S_METER,
        S_STAIR_SMOKE = 20,
        S_STAIR_GAS,
        S_ENTRANCE,
};

/* 沈国强 lives alone in 201 with a leak sensor under the sink, a door contact and a panic button. */
static int story_flat(struct rt *t, bool alone)
{
        int r = rt_resident(t, alone, NULL);
        rt_sensor(t, S_LEAK, SENSOR_LEAK, r);
        rt_sensor(t, S_DOOR, SENSOR_DOOR, r);
        rt_sensor(t, S_BUTTON, SENSOR_BUTTON, r);
        rt_tick(t);
        rt_event(t, S_DOOR, EVENT_CONTACT, 0); /* the door's state becomes known */
        rt_event(t, S_LEAK, EVENT_LEAK, 0);
        rt_mark(t);
        return r;
}

/* ---- names and settings -------------------------------------------------------------------------------- */

static void test_rule_and_severity_names_round_trip(void **state)
{
        for (int i = 0; i < _RULE_ID_MAX; i++) {
                assert_non_null(rule_id_to_string(i));
                assert_int_equal(rule_id_from_string(rule_id_to_string(i)), i);
        }
        for (int i = 0; i < _SEVERITY_MAX; i++)
                assert_int_equal(severity_from_string(severity_to_string(i)), i);
        assert_string_equal(rule_id_to_string(RULE_TAP_RUNNING), "tap_running");
        assert_int_equal(rule_id_from_string("nonsense"), -EINVAL);
        assert_null(rule_id_to_string(_RULE_ID_MAX));
}

static void test_settings_defaults_are_the_documented_ones(void **state)
{
        struct rules_settings s;
        size_t n;
        const struct rules_setting_info *info = rules_settings_table(&n);

        rules_settings_default(&s);
        assert_int_equal(s.inactivity_after, 12 * HOURS);
        assert_int_equal(s.wake_start_min, 360);
        assert_int_equal(s.wake_end_min, 600);
        assert_int_equal(s.night_start_min, 22 * 60);
        assert_int_equal(s.tap_running_after, 30 * MIN);
        assert_true(s.water_low_litres == 10);
        assert_false(s.night_wandering);
        assert_int_equal(s.n_combined, 1);
        assert_string_equal(s.combined[0].name, "door_water");
        assert_int_equal(s.combined[0].severity, SEVERITY_CRITICAL);

        /* Every documented default, set by its key, gives the built-in defaults back. */
        struct rules_settings t;
        rules_settings_default(&t);
        assert_true(n > 15);
        for (size_t i = 0; i < n; i++) {
                char *err = NULL;
                assert_int_equal(rules_settings_set(&t, info[i].key, info[i].default_value, &err), 0);
                assert_null(err);
                assert_non_null(info[i].description);
        }
        assert_memory_equal(&s.combined[0].quiet, &t.combined[0].quiet, sizeof(s.combined[0].quiet));
        assert_int_equal(t.n_combined, 1);
        assert_int_equal(t.inactivity_after, s.inactivity_after);
        assert_int_equal(t.wake_end_min, s.wake_end_min);
}

static void test_settings_parse_values_and_explain_mistakes(void **state)
{
        struct rules_settings s;
        char *err = NULL;

        rules_settings_default(&s);
        assert_int_equal(rules_settings_set(&s, "inactivity_after", "8h", &err), 0);
        assert_int_equal(s.inactivity_after, 8 * HOURS);
        assert_int_equal(rules_settings_set(&s, "wake_window", "07:30-11:00", &err), 0);
        assert_int_equal(s.wake_start_min, 450);
        assert_int_equal(s.wake_end_min, 660);
        assert_int_equal(rules_settings_set(&s, "night_hours", "23:00 - 05:30", &err), 0);
        assert_int_equal(s.night_start_min, 23 * 60);
        assert_int_equal(s.night_end_min, 330);
        assert_int_equal(rules_settings_set(&s, "night_wandering", "是", &err), 0);
        assert_true(s.night_wandering);
        assert_int_equal(rules_settings_set(&s, "water_low_litres", "0.008 m3", &err), 0);
        assert_true(s.water_low_litres == 8);
        assert_int_equal(rules_settings_set(&s, "water_low_window", "24h", &err), 0);
        assert_int_equal(rules_settings_set(&s, "door_open_night_after", "off", &err), 0);
        assert_int_equal(s.door_open_night_after, 0);

        /* A typo gets the nearest key. */
        assert_int_equal(rules_settings_set(&s, "inactivty_after", "8h", &err), -ENOENT);
        assert_non_null(err);
        assert_non_null(strstr(err, "inactivity_after"));
        free(err);
        err = NULL;
        /* A bad value says what a good one looks like, and changes nothing. */
        struct rules_settings before = s;
        assert_int_equal(rules_settings_set(&s, "inactivity_after", "twelve hours", &err), -EINVAL);
        assert_non_null(strstr(err, "12h"));
        free(err);
        err = NULL;
        assert_int_equal(rules_settings_set(&s, "wake_window", "22:00-02:00", &err), -EINVAL);
        free(err);
        err = NULL;
        assert_int_equal(rules_settings_set(&s, "water_low_window", "36h", &err), -EINVAL);
        free(err);
        err = NULL;
        assert_int_equal(rules_settings_set(&s, "battery_low_percent", "120", &err), -EINVAL);
        free(err);
        assert_memory_equal(&before, &s, sizeof(s));
        /* Without a place for the message it still works. */
        assert_int_equal(rules_settings_set(&s, "nothing_like_it", "1", NULL), -ENOENT);
}

static void test_settings_combined_rules_are_configuration(void **state)
{
        struct rules_settings s;
        char *err = NULL;

        rules_settings_default(&s);
        assert_int_equal(rules_settings_set(&s, "combined", "door=72h,severity=warning,name=door_days", &err), 0);
        assert_int_equal(s.n_combined, 2);
        assert_string_equal(s.combined[1].name, "door_days");
        assert_int_equal(s.combined[1].quiet[SIGNAL_DOOR], 72 * HOURS);
        assert_int_equal(s.combined[1].quiet[SIGNAL_WATER], 0);
        assert_int_equal(s.combined[1].severity, SEVERITY_WARNING);
        /* The same name replaces (a resident's override). */
        assert_int_equal(rules_settings_set(&s, "combined", "door=48h,name=door_days", &err), 0);
        assert_int_equal(s.n_combined, 2);
        assert_int_equal(s.combined[1].quiet[SIGNAL_DOOR], 48 * HOURS);
        /* The old keys tune the default rule. */
        assert_int_equal(rules_settings_set(&s, "combined_water_quiet", "18h", &err), 0);
        assert_int_equal(s.combined[0].quiet[SIGNAL_WATER], 18 * HOURS);
        assert_int_equal(rules_settings_set(&s, "combined", "stairs=3h", &err), -EINVAL);
        assert_non_null(strstr(err, "door"));
        free(err);
        assert_int_equal(rules_settings_set(&s, "combined", "off", NULL), 0);
        assert_int_equal(s.n_combined, 0);
}

/* ---- leak, panic, fall --------------------------------------------------------------------------------- */

static void test_leak_alone_raises_critical_at_once(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = story_flat(&t, true);

        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_LEAK);
        assert_non_null(l);
        assert_int_equal(rt_count_all(&t), 1);
        assert_int_equal(l->d.severity, SEVERITY_CRITICAL);
        assert_string_equal(l->d.text_key, "leak.alone");
        assert_int_equal(l->d.resident, r);
        assert_int_equal(l->d.building, t.building);
        assert_int_equal(l->d.sensor, S_LEAK);
        assert_int_equal(l->d.params.lives_alone, 1);
        assert_int_equal(l->d.flags & DECISION_COMMITTEE_ONLY, 0);
        rt_stop(&t);
}

static void test_leak_for_family_household_has_plain_text(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        story_flat(&t, false);
        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_LEAK);
        assert_non_null(l);
        assert_string_equal(l->d.text_key, "leak");
        assert_int_equal(l->d.params.lives_alone, 0);
        rt_stop(&t);
}

static void test_leak_dried_gives_clear_never_close(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        story_flat(&t, true);

        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        rt_run(&t, 20 * MIN);
        rt_event(&t, S_LEAK, EVENT_LEAK, 0);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_LEAK), 1);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_LEAK), 1);
        assert_int_equal(rt_find(&t, DECISION_CLEAR, RULE_LEAK)->d.severity, SEVERITY_CRITICAL);
        /* Dry stays quiet. */
        rt_run(&t, 2 * HOURS);
        rt_event(&t, S_LEAK, EVENT_LEAK, 0);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_LEAK), 1);
        /* Wet again while nobody resolved the alert: an update of the same alert. */
        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_LEAK), 2);
        rt_stop(&t);
}

static void test_leak_report_repeated_updates_open_alert_once_a_minute(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        story_flat(&t, true);
        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        for (int i = 0; i < 10; i++) {
                rt_run(&t, 10 * SEC);
                rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        }
        /* 100 s of reports every 10 s: the first raise and one update after a minute. */
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_LEAK), 2);
        rt_stop(&t);
}

static void test_resolved_leak_still_wet_is_not_raised_again(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = story_flat(&t, true);
        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        rt_run(&t, 30 * MIN);
        rules_alert_resolved(t.r, r, t.building, RULE_LEAK, &t.c);
        rt_mark(&t);
        /* The floor is still wet and the sensor keeps saying so: the neighbour knows. */
        for (int i = 0; i < 5; i++) {
                rt_run(&t, 10 * MIN);
                rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        }
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_LEAK), 0);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_LEAK), 0);
        /* Dried, then wet again: a new leak, a new alert. */
        rt_event(&t, S_LEAK, EVENT_LEAK, 0);
        rt_run(&t, 10 * MIN);
        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_LEAK), 1);
        rt_stop(&t);
}

static void test_panic_button_raises_critical_at_once(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        story_flat(&t, true);
        rt_event(&t, S_BUTTON, EVENT_BUTTON, BUTTON_SINGLE);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_PANIC);
        assert_non_null(l);
        assert_int_equal(l->d.severity, SEVERITY_CRITICAL);
        assert_int_equal(l->d.sensor, S_BUTTON);
        rt_stop(&t);
}

static void test_panic_again_after_resolve_is_a_new_alert(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = story_flat(&t, true);
        rt_event(&t, S_BUTTON, EVENT_BUTTON, BUTTON_SINGLE);
        rt_run(&t, 20 * SEC);
        rules_alert_resolved(t.r, r, t.building, RULE_PANIC, &t.c);
        rt_event(&t, S_BUTTON, EVENT_BUTTON, BUTTON_LONG);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_PANIC), 2);
        rt_stop(&t);
}

static void test_panic_button_held_down_makes_no_storm(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        story_flat(&t, true);
        for (int i = 0; i < 50; i++) {
                rt_event(&t, S_BUTTON, EVENT_BUTTON, BUTTON_OTHER);
                rt_run(&t, SEC / 2);
        }
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_PANIC), 1);
        rt_stop(&t);
}

static void test_fall_raises_critical_and_clear_is_only_a_note(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_FALL, SENSOR_FALL, r);
        rt_tick(&t);
        rt_event(&t, S_FALL, EVENT_FALL, 1);
        assert_int_equal(rt_find(&t, DECISION_RAISE, RULE_FALL)->d.severity, SEVERITY_CRITICAL);
        rt_run(&t, 2 * MIN);
        rt_event(&t, S_FALL, EVENT_FALL, 0);
        assert_non_null(rt_find(&t, DECISION_CLEAR, RULE_FALL));
        /* A sensor that only ever says "fall": after a resolve, the next report is a new fall. */
        rules_alert_resolved(t.r, r, t.building, RULE_FALL, &t.c);
        rt_event(&t, S_FALL, EVENT_FALL, 1);
        rt_run(&t, 3 * MIN);
        rules_alert_resolved(t.r, r, t.building, RULE_FALL, &t.c);
        rt_event(&t, S_FALL, EVENT_FALL, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_FALL), 3);
        rt_stop(&t);
}

/* ---- smoke, gas, CO ------------------------------------------------------------------------------------ */

static void test_smoke_notifies_urgent_all(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2024-01-15 11:20");
        int r = rt_resident(&t, false, NULL); /* every resident, living alone or not */
        rt_sensor(&t, S_SMOKE, SENSOR_SMOKE, r);
        rt_sensor(&t, S_GAS, SENSOR_GAS, r);
        rt_sensor(&t, S_CO, SENSOR_CO, r);
        rt_tick(&t);

        rt_event(&t, S_SMOKE, EVENT_SMOKE, 1);
        rt_event(&t, S_GAS, EVENT_GAS, 1);
        rt_event(&t, S_CO, EVENT_CO, 1);
        enum rule_id rules[] = { RULE_SMOKE, RULE_GAS, RULE_CO };
        const char *keys[] = { "smoke", "gas", "co" };
        for (int i = 0; i < 3; i++) {
                const struct rt_logged *l = rt_find(&t, DECISION_RAISE, rules[i]);
                assert_non_null(l);
                assert_int_equal(l->d.severity, SEVERITY_CRITICAL);
                assert_true(l->d.flags & DECISION_URGENT_ALL);
                assert_false(l->d.flags & DECISION_BUILDING_WIDE);
                assert_string_equal(l->d.text_key, keys[i]);
        }
        rt_stop(&t);
}

static void test_stairwell_smoke_is_building_wide(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2024-01-15 11:20");
        rt_resident(&t, true, NULL);
        rt_sensor(&t, S_STAIR_SMOKE, SENSOR_SMOKE, -1);
        rt_sensor(&t, S_STAIR_GAS, SENSOR_GAS, -1);
        rt_tick(&t);
        rt_event(&t, S_STAIR_SMOKE, EVENT_SMOKE, 1);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_SMOKE);
        assert_non_null(l);
        assert_int_equal(l->d.resident, -1);
        assert_int_equal(l->d.building, t.building);
        assert_int_equal(l->d.flags & (DECISION_URGENT_ALL | DECISION_BUILDING_WIDE),
                         DECISION_URGENT_ALL | DECISION_BUILDING_WIDE);
        assert_string_equal(l->d.text_key, "smoke.common");
        assert_int_equal(l->d.params.lives_alone, -1);
        rt_event(&t, S_STAIR_GAS, EVENT_GAS, 1);
        assert_true(rt_find(&t, DECISION_RAISE, RULE_GAS)->d.flags & DECISION_BUILDING_WIDE);
        rt_stop(&t);
}

static void test_smoke_self_test_is_never_an_alarm(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2024-01-15 11:20");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_SMOKE, SENSOR_SMOKE, r);
        rt_tick(&t);
        rt_event(&t, S_SMOKE, EVENT_SELF_TEST, 1);
        rt_event(&t, S_SMOKE, EVENT_SMOKE, 1); /* the test sounds the alarm */
        rt_run(&t, 30 * SEC);
        rt_event(&t, S_SMOKE, EVENT_SMOKE, 0);
        rt_event(&t, S_SMOKE, EVENT_SELF_TEST, 0);
        assert_int_equal(rt_count_all(&t), 0);
        /* After the drill a real alarm is an alarm. */
        rt_run(&t, 5 * MIN);
        rt_event(&t, S_SMOKE, EVENT_SMOKE, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_SMOKE), 1);
        rt_stop(&t);
}

/* Tuya's self_test datapoints (value 2) are cached by Zigbee2MQTT and repeated in
 * every message: recorded, but a fire after them is a fire. A test the detector
 * announces (value 1) does not last for ever either: repeats do not prolong it. */
static void test_cached_tuya_self_test_never_hides_a_fire(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2024-01-15 11:20");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_SMOKE, SENSOR_SMOKE, r);
        rt_tick(&t);
        rt_event(&t, S_SMOKE, EVENT_SELF_TEST, 2);
        rt_run(&t, 2 * SEC);
        rt_event(&t, S_SMOKE, EVENT_SELF_TEST, 2);
        rt_event(&t, S_SMOKE, EVENT_SMOKE, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_SMOKE), 1);
        rt_stop(&t);

        rt_start(&t, NULL, "2024-01-15 11:20");
        r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_SMOKE, SENSOR_SMOKE, r);
        rt_tick(&t);
        rt_event(&t, S_SMOKE, EVENT_SELF_TEST, 1);
        for (int i = 0; i < 11; i++) {
                rt_run(&t, MIN);
                rt_event(&t, S_SMOKE, EVENT_SELF_TEST, 1); /* the test bit repeated, never ended */
        }
        rt_event(&t, S_SMOKE, EVENT_SMOKE, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_SMOKE), 1);
        rt_stop(&t);
}

static void test_cleared_smoke_alarm_gives_clear_and_stays_open(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2024-01-15 11:20");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_SMOKE, SENSOR_SMOKE, r);
        rt_tick(&t);
        rt_event(&t, S_SMOKE, EVENT_SMOKE, 1);
        rt_run(&t, 3 * MIN);
        rt_event(&t, S_SMOKE, EVENT_SMOKE, 0);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_SMOKE), 1);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_SMOKE), 1);
        assert_int_equal(rt_count_all(&t), 2); /* nothing else: no "close" */
        /* The pot flares up again: the open alert is updated. */
        rt_run(&t, 3 * MIN);
        rt_event(&t, S_SMOKE, EVENT_SMOKE, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_SMOKE), 2);
        rt_stop(&t);
}

/* ---- sensor health ------------------------------------------------------------------------------------- */

static void test_silent_leak_sensor_is_offline_after_6h_for_committee(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        story_flat(&t, true);
        /* The door sensor keeps reporting; the leak sensor went quiet. */
        for (int i = 0; i < 11; i++) {
                rt_run(&t, 30 * MIN);
                rt_event(&t, S_DOOR, EVENT_BATTERY, 90);
                rt_event(&t, S_BUTTON, EVENT_BATTERY, 90);
        }
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_SENSOR_OFFLINE), 0);
        rt_run(&t, 31 * MIN);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_SENSOR_OFFLINE);
        assert_non_null(l);
        rt_assert_at(l, "14:00");
        assert_int_equal(l->d.sensor, S_LEAK);
        assert_int_equal(l->d.severity, SEVERITY_INFO);
        assert_true(l->d.flags & DECISION_COMMITTEE_ONLY);
        assert_string_equal(l->d.text_key, "sensor_offline.silent");
        assert_int_equal(l->d.params.duration, 6 * HOURS);
        assert_int_equal(l->d.params.count, 1);
        /* It speaks again. */
        rt_event(&t, S_LEAK, EVENT_LEAK, 0);
        assert_non_null(rt_find(&t, DECISION_CLEAR, RULE_SENSOR_OFFLINE));
        rt_stop(&t);
}

static void test_door_sensor_offline_after_25h_not_6h(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_run(&t, 24 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_SENSOR_OFFLINE), 0);
        rt_run(&t, 1 * HOURS + SEC);
        assert_non_null(rt_find(&t, DECISION_RAISE, RULE_SENSOR_OFFLINE));
        rt_stop(&t);
}

static void test_availability_offline_is_offline_at_once(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        story_flat(&t, true);
        rt_event(&t, S_LEAK, EVENT_AVAILABILITY, 0);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_SENSOR_OFFLINE);
        assert_non_null(l);
        assert_string_equal(l->d.text_key, "sensor_offline.unavailable");
        rt_event(&t, S_LEAK, EVENT_AVAILABILITY, 1);
        assert_non_null(rt_find(&t, DECISION_CLEAR, RULE_SENSOR_OFFLINE));
        rt_stop(&t);
}

static void test_battery_low_and_tamper_reach_the_committee(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        story_flat(&t, true);
        rt_event(&t, S_LEAK, EVENT_BATTERY, 25);
        assert_int_equal(rt_count_all(&t), 0);
        rt_event(&t, S_LEAK, EVENT_BATTERY, 19);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_BATTERY_LOW);
        assert_non_null(l);
        assert_true(l->d.flags & DECISION_COMMITTEE_ONLY);
        assert_int_equal(l->d.severity, SEVERITY_INFO);
        /* 19, 20, 21, 19 %: no flapping. */
        rt_event(&t, S_LEAK, EVENT_BATTERY, 20);
        rt_event(&t, S_LEAK, EVENT_BATTERY, 21);
        rt_event(&t, S_LEAK, EVENT_BATTERY, 19);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BATTERY_LOW), 1);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_BATTERY_LOW), 0);
        rt_event(&t, S_LEAK, EVENT_BATTERY, 100); /* new battery */
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_BATTERY_LOW), 1);

        rt_event(&t, S_DOOR, EVENT_TAMPER, 1);
        l = rt_find(&t, DECISION_RAISE, RULE_TAMPER);
        assert_non_null(l);
        assert_true(l->d.flags & DECISION_COMMITTEE_ONLY);
        assert_int_equal(l->d.sensor, S_DOOR);
        /* A second sensor joins the open battery alert as an update, at most once a minute. */
        rt_event(&t, S_DOOR, EVENT_BATTERY_LOW, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BATTERY_LOW), 1);
        rt_run(&t, 2 * MIN);
        rt_event(&t, S_BUTTON, EVENT_BATTERY_LOW, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BATTERY_LOW), 2);
        assert_int_equal(rt_find(&t, DECISION_RAISE, RULE_BATTERY_LOW)->d.sensor, S_BUTTON);
        rt_stop(&t);
}

/* ---- inactivity ---------------------------------------------------------------------------------------- */

static void test_inactivity_warns_after_12h_of_nothing(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = story_flat(&t, true);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_run(&t, 12 * HOURS - MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        rt_run(&t, 2 * MIN);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_INACTIVITY);
        assert_non_null(l);
        rt_assert_at(l, "20:00");
        assert_int_equal(l->d.severity, SEVERITY_WARNING);
        assert_int_equal(l->d.resident, r);
        assert_string_equal(l->d.text_key, "inactivity");
        assert_int_equal(l->d.params.duration, 12 * HOURS);
        assert_int_equal(l->d.params.since_wall, rt_local("2026-11-22 08:00"));
        assert_false(l->d.flags & DECISION_UNKNOWN_STATE);
        /* Raised once, not every tick. */
        rt_run(&t, 6 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 1);
        /* He opens the door: the condition ended. */
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_INACTIVITY), 1);
        rt_stop(&t);
}

static void test_activity_keeps_inactivity_quiet(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MOTION, SENSOR_MOTION, r);
        rt_tick(&t);
        for (int i = 0; i < 10; i++) {
                rt_run(&t, 11 * HOURS);
                rt_event(&t, S_MOTION, EVENT_MOTION, 1);
                rt_event(&t, S_MOTION, EVENT_MOTION, 0);
        }
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        rt_stop(&t);
}

static void test_door_report_without_a_change_is_not_activity(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        story_flat(&t, true);
        /* Zigbee2MQTT repeats contact=true (closed) with every battery report. */
        for (int i = 0; i < 13; i++) {
                rt_run(&t, HOURS);
                rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        }
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 1);
        rt_stop(&t);
}

static void test_last_activity_for_the_store_is_the_engines_own(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = story_flat(&t, true);
        assert_int_equal(rules_last_activity(t.r, r, &t.c), 0);
        rt_run(&t, 30 * MIN);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run(&t, HOURS);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1); /* the same state again: not activity */
        assert_int_equal(rules_last_activity(t.r, r, &t.c), rt_local("2026-11-22 08:30"));
        assert_int_equal(rules_last_activity(t.r, 42, &t.c), 0);
        rt_stop(&t);
}

static void test_each_event_says_whose_activity_it_was(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = story_flat(&t, true);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        assert_int_equal(t.out.activity, r);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1); /* the same state with a battery report */
        assert_int_equal(t.out.activity, -1);
        rt_event(&t, S_LEAK, EVENT_LEAK, 0);
        assert_int_equal(t.out.activity, -1);
        rt_event(&t, S_BUTTON, EVENT_BUTTON, 1);
        assert_int_equal(t.out.activity, r);
        rt_stop(&t);
}

/* The daemon keeps last activity up to a refresh behind; these it must keep at once. */
static void test_first_activity_of_the_wake_window_is_worth_saving_at_once(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 05:00");
        int r = story_flat(&t, true);
        assert_true(rules_activity_worth_saving(t.r, r, 0, rt_local("2026-11-22 05:50")));
        assert_false(rules_activity_worth_saving(t.r, r, rt_local("2026-11-22 05:40"), rt_local("2026-11-22 05:50")));
        /* 06:00 starts the morning check's window: before a restart it must know she got up. */
        assert_true(rules_activity_worth_saving(t.r, r, rt_local("2026-11-22 05:55"), rt_local("2026-11-22 06:05")));
        assert_false(rules_activity_worth_saving(t.r, r, rt_local("2026-11-22 06:01"), rt_local("2026-11-22 06:10")));
        assert_false(rules_activity_worth_saving(t.r, r, rt_local("2026-11-22 23:55"), rt_local("2026-11-23 00:05")));
        assert_false(rules_activity_worth_saving(t.r, r, rt_local("2026-11-22 06:10"), rt_local("2026-11-22 06:05")));
        rt_stop(&t);

        /* Without a morning check, 06:00 is like any other minute. */
        struct rules_settings s;
        rules_settings_default(&s);
        s.morning_check = false;
        rt_start(&t, &s, "2026-11-22 05:00");
        r = story_flat(&t, true);
        assert_false(rules_activity_worth_saving(t.r, r, rt_local("2026-11-22 05:55"), rt_local("2026-11-22 06:05")));
        rt_stop(&t);
}

static void test_retained_message_is_not_activity(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        story_flat(&t, true);
        rt_run(&t, 11 * HOURS);
        rt_event_flags(&t, S_DOOR, EVENT_CONTACT, 1, EVENT_RETAINED);
        rt_event_flags(&t, S_DOOR, EVENT_CONTACT, 0, EVENT_INITIAL);
        rt_run(&t, 1 * HOURS + MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 1);
        rt_stop(&t);
}

static void test_inactivity_with_only_offline_sensors_says_unknown(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        story_flat(&t, true);
        rt_run(&t, 2 * HOURS);
        rt_event(&t, S_DOOR, EVENT_AVAILABILITY, 0);
        assert_non_null(rt_find(&t, DECISION_RAISE, RULE_SENSOR_OFFLINE));
        rt_run(&t, 10 * HOURS + MIN);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_INACTIVITY);
        assert_non_null(l); /* not silence */
        assert_true(l->d.flags & DECISION_UNKNOWN_STATE);
        assert_string_equal(l->d.text_key, "inactivity.unknown");
        rt_stop(&t);
}

static void test_resident_with_only_a_panic_button_gets_no_inactivity(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_BUTTON, SENSOR_BUTTON, r);
        rt_tick(&t);
        rt_run(&t, 13 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        rt_stop(&t);
}

static void test_door_never_opened_for_a_day_is_inactivitys_job(void **state)
{
        /* Issue 12: "door never opened in the day for N days" — with only a door contact, the inactivity
         * rule catches it after 12 h; with a motion sensor too, a combined rule on the door alone does. */
        struct rt t;
        struct rules_settings s = rt_settings("combined", "door=72h,severity=warning,name=door_days");
        rt_start(&t, NULL, "2026-11-22 08:00");
        int only_door = rt_resident(&t, true, NULL);
        int with_motion = rt_resident(&t, true, &s); /* a per-resident override from the roster */
        rt_sensor(&t, 101, SENSOR_DOOR, only_door);
        rt_sensor(&t, 201, SENSOR_DOOR, with_motion);
        rt_sensor(&t, 202, SENSOR_MOTION, with_motion);
        rt_tick(&t);
        rt_event(&t, 101, EVENT_CONTACT, 0);
        rt_event(&t, 201, EVENT_CONTACT, 0);
        for (int h = 0; h < 72; h++) {
                rt_run(&t, HOURS);
                rt_event(&t, 202, EVENT_MOTION, 1); /* moves about the flat, never goes out */
                if (h == 11) {
                        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_INACTIVITY);
                        assert_non_null(l);
                        assert_int_equal(l->d.resident, only_door);
                }
        }
        rt_run(&t, MIN);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_COMBINED);
        assert_non_null(l);
        assert_int_equal(l->d.resident, with_motion);
        assert_string_equal(l->d.text_key, "combined.door_days");
        assert_int_equal(l->d.severity, SEVERITY_WARNING);
        for (size_t i = 0; i < t.n_log; i++)
                if (t.log[i].d.rule == RULE_INACTIVITY)
                        assert_int_equal(t.log[i].d.resident, only_door);
        rt_stop(&t);
}

/* ---- away ---------------------------------------------------------------------------------------------- */

static void test_away_silences_inactivity_never_leak(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = story_flat(&t, true);
        assert_int_equal(rules_add_away(t.r, r, rt_local("2026-11-22 09:00"), rt_local("2026-11-25 18:00")), 0);
        rt_run(&t, 30 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_COMBINED), 0);
        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_LEAK), 1);
        rt_event(&t, S_BUTTON, EVENT_BUTTON, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_PANIC), 1);
        rt_stop(&t);
}

static void test_away_expires_by_itself_and_the_period_starts_again(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = story_flat(&t, true);
        assert_int_equal(rules_add_away(t.r, r, rt_local("2026-11-22 07:00"), rt_local("2026-11-24 12:00")), 0);
        assert_int_equal(rules_add_away(t.r, r, 5, 5), -EINVAL);
        assert_int_equal(rules_add_away(t.r, 99, 5, 6), -ENOENT);
        rt_run_until(&t, "2026-11-24 23:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        rt_run_until(&t, "2026-11-25 00:01");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_INACTIVITY);
        assert_non_null(l);
        rt_assert_at(l, "2026-11-25 00:00");
        rt_stop(&t);
}

/* ---- restart ------------------------------------------------------------------------------------------- */

static void test_restart_mid_timer_continues_from_last_activity(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 16:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        /* The store says he last opened the door at 08:00; the daemon restarted at 16:00. */
        assert_int_equal(rules_restore_activity(t.r, r, rt_local("2026-11-22 08:00"), &t.c), 0);
        struct sensor_event e = { .sensor = S_DOOR, .type = EVENT_CONTACT, .flags = EVENT_INITIAL, .value = 0,
                                  .mono = t.c.mono, .wall = rt_local("2026-11-22 15:00") };
        assert_int_equal(rules_restore_event(t.r, &e, &t.c), 0);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-22 19:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        rt_run_until(&t, "2026-11-22 20:01");
        rt_assert_at(rt_find(&t, DECISION_RAISE, RULE_INACTIVITY), "20:00");
        rt_stop(&t);
}

static void test_restart_nobody_active_for_14h_fires_at_next_tick(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 22:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        assert_int_equal(rules_restore_activity(t.r, r, rt_local("2026-11-22 08:00"), &t.c), 0);
        rt_tick(&t);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_INACTIVITY);
        assert_non_null(l);
        assert_int_equal(l->d.params.duration, 14 * HOURS);
        rt_stop(&t);
}

static void test_restart_does_not_raise_an_open_alert_again(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 22:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        rt_sensor(&t, S_LEAK, SENSOR_LEAK, r);
        assert_int_equal(rules_restore_activity(t.r, r, rt_local("2026-11-22 08:00"), &t.c), 0);
        struct sensor_event wet = { .sensor = S_LEAK, .type = EVENT_LEAK, .flags = EVENT_INITIAL, .value = 1,
                                    .mono = t.c.mono, .wall = rt_local("2026-11-22 21:30") };
        assert_int_equal(rules_restore_event(t.r, &wet, &t.c), 0);
        assert_int_equal(rules_restore_open_alert(t.r, r, t.building, RULE_INACTIVITY), 0);
        assert_int_equal(rules_restore_open_alert(t.r, r, t.building, RULE_LEAK), 0);
        assert_int_equal(rules_restore_open_alert(t.r, 7, t.building, RULE_LEAK), -ENOENT);
        rt_tick(&t);
        rt_run(&t, 2 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_LEAK), 0);
        /* The conditions end: the open alerts hear about it. */
        rt_event(&t, S_LEAK, EVENT_LEAK, 0);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_LEAK), 1);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_INACTIVITY), 1);
        rt_stop(&t);
}

static void test_restart_leak_still_wet_fires_at_next_tick(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 02:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_LEAK, SENSOR_LEAK, r);
        struct sensor_event wet = { .sensor = S_LEAK, .type = EVENT_LEAK, .flags = EVENT_INITIAL, .value = 1,
                                    .mono = t.c.mono, .wall = rt_local("2026-11-22 01:55") };
        assert_int_equal(rules_restore_event(t.r, &wet, &t.c), 0);
        assert_int_equal(rt_count_all(&t), 0);
        rt_tick(&t);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_LEAK);
        assert_non_null(l);
        assert_string_equal(l->d.text_key, "leak.alone");
        rt_stop(&t);
}

static void test_retained_wet_from_last_week_raises_nothing(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 02:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_LEAK, SENSOR_LEAK, r);
        struct sensor_event wet = { .sensor = S_LEAK, .type = EVENT_LEAK, .flags = EVENT_RETAINED, .value = 1,
                                    .mono = t.c.mono, .wall = t.c.wall };
        struct rule_output out = { 0 };
        assert_int_equal(rules_event(t.r, &wet, &t.c, &out), 0);
        rt_tick(&t);
        rt_run(&t, 10 * MIN);
        assert_int_equal(out.n, 0);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_LEAK), 0);
        /* It really gets wet now: a fresh message. */
        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_LEAK), 1);
        rule_output_done(&out);
        rt_stop(&t);
}

static void test_restore_while_unsynced_waits_for_the_clock(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 22:00");
        usec_t real = t.c.wall;
        /* A Pi without an RTC boots in 1970. */
        t.c.wall = 90 * USEC_PER_SEC;
        t.c.synced = false;
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        assert_int_equal(rules_restore_activity(t.r, r, rt_local("2026-11-22 08:00"), &t.c), 0);
        rt_tick(&t);
        rt_run(&t, 5 * MIN);
        assert_int_equal(rt_count_all(&t), 0);
        /* NTP: the wall clock jumps to the truth and is trusted. */
        t.c.wall = real + 5 * MIN;
        t.c.synced = true;
        rt_tick(&t);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_INACTIVITY);
        assert_non_null(l);
        assert_int_equal(l->d.params.duration, 14 * HOURS + 5 * MIN);
        rt_stop(&t);
}

static void test_unsynced_boot_runs_duration_rules_on_the_monotonic_clock(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 22:00");
        t.c.wall = 90 * USEC_PER_SEC;
        t.c.synced = false;
        int r = story_flat(&t, true);
        (void)r;
        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        assert_non_null(rt_find(&t, DECISION_RAISE, RULE_LEAK));
        rt_run(&t, 12 * HOURS + MIN);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_INACTIVITY);
        assert_non_null(l);
        assert_int_equal(l->d.params.since_wall, 0); /* no wall time to show while unsynced */
        rt_stop(&t);
}

static void test_resolved_inactivity_raises_again_after_a_full_period(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = story_flat(&t, true);
        rt_run(&t, 12 * HOURS + MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 1);
        rt_run(&t, HOURS);
        rules_alert_resolved(t.r, r, t.building, RULE_INACTIVITY, &t.c);
        rt_run(&t, 12 * HOURS - MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 1);
        rt_run(&t, 2 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 2);
        rt_stop(&t);
}

/* ---- flapping ------------------------------------------------------------------------------------------ */

static void test_flapping_leak_sensor_makes_no_storm(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        story_flat(&t, true);
        /* A wet-dry-wet contact chattering twice a second for five minutes. */
        for (int i = 0; i < 600; i++) {
                rt_event(&t, S_LEAK, EVENT_LEAK, i % 2 == 0);
                rt_run(&t, SEC / 2);
        }
        size_t raises = rt_count(&t, DECISION_RAISE, RULE_LEAK), clears = rt_count(&t, DECISION_CLEAR, RULE_LEAK);
        assert_true(raises >= 1 && raises <= 6);   /* at most one a minute */
        assert_true(clears <= raises);
        rt_stop(&t);
}

static void test_flapping_door_sensor_makes_no_storm(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 23:00");
        rt_resident(&t, true, NULL);
        rt_sensor(&t, S_ENTRANCE, SENSOR_DOOR, -1);
        rt_tick(&t);
        rt_event(&t, S_ENTRANCE, EVENT_CONTACT, 1);
        rt_run(&t, 6 * MIN);
        for (int i = 0; i < 1000; i++) {
                rt_event(&t, S_ENTRANCE, EVENT_CONTACT, i % 2);
                rt_run(&t, SEC);
        }
        assert_true(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR) <= 20);
        assert_true(rt_count(&t, DECISION_CLEAR, RULE_BUILDING_DOOR) <= 20);
        rt_stop(&t);
}

/* ---- combined ------------------------------------------------------------------------------------------ */

static void test_combined_door_unused_and_no_water_is_stronger(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        /* Water at 20:00, then nothing. */
        rt_run_until(&t, "2026-11-22 20:00");
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 3);
        rt_run_until(&t, "2026-11-23 07:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_COMBINED), 0);
        /* Inactivity said "welfare check" at 08:00 + 12h... no: water at 20:00 was activity. */
        rt_run_until(&t, "2026-11-23 08:01");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_COMBINED);
        assert_non_null(l);
        rt_assert_at(l, "08:00");
        assert_int_equal(l->d.severity, SEVERITY_CRITICAL);
        assert_string_equal(l->d.text_key, "combined.door_water");
        assert_false(l->d.flags & DECISION_UNKNOWN_STATE);
        const struct rt_logged *w = rt_find(&t, DECISION_RAISE, RULE_INACTIVITY);
        assert_non_null(w);
        assert_int_equal(w->d.severity, SEVERITY_WARNING);
        /* He turns the tap on: the combined condition ends. */
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 1);
        assert_non_null(rt_find(&t, DECISION_CLEAR, RULE_COMBINED));
        rt_stop(&t);
}

static void test_combined_with_offline_sensors_says_unknown(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        rt_sensor(&t, S_METER, SENSOR_WATER_METER, r); /* an MQTT meter */
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_event(&t, S_METER, EVENT_WATER_TOTAL, 100);
        rt_event(&t, S_METER, EVENT_AVAILABILITY, 0); /* the meter's radio is gone */
        rt_run(&t, 24 * HOURS + MIN);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_COMBINED);
        assert_non_null(l);
        assert_true(l->d.flags & DECISION_UNKNOWN_STATE);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        rt_stop(&t);
}

static void test_combined_needs_every_signal_quiet(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        /* Door unused for two days, but water every few hours: no combined alert. */
        for (int i = 0; i < 16; i++) {
                rt_run(&t, 3 * HOURS);
                rt_event(&t, S_METER, EVENT_WATER_PULSES, 2);
        }
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_COMBINED), 0);
        rt_stop(&t);
}

static void test_combined_rule_does_not_apply_without_its_sensors(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r); /* no water meter */
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_run(&t, 30 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_COMBINED), 0);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 1);
        rt_stop(&t);
}

/* ---- scale --------------------------------------------------------------------------------------------- */

static double seconds_since(const struct timespec *a)
{
        struct timespec b;
        clock_gettime(CLOCK_MONOTONIC, &b);
        return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void test_ten_thousand_residents_fit_and_wake_cheaply(void **state)
{
        struct rt t;
        struct timespec t0;
        char id[32];
        const uint32_t N = 10000;

        rt_start(&t, NULL, "2026-11-22 08:00");
        assert_int_equal(rules_reserve(t.r, N, 500, 5 * N), 0);
        for (uint32_t b = 1; b < 500; b++) {
                snprintf(id, sizeof(id), "X%u", b);
                assert_int_equal(rules_add_building(t.r, id), (int)b);
        }
        assert_int_equal(rules_add_building(t.r, "B17"), 0); /* again: the same index */
        assert_int_equal(rules_add_building(t.r, "X42"), 42);
        for (uint32_t i = 0; i < N; i++) {
                struct rules_resident res = { .id = "R", .building = (int)(i % 500), .lives_alone = i % 3 == 0 };
                assert_int_equal(rules_add_resident(t.r, &res), (int)i);
                static const enum sensor_kind kinds[] = { SENSOR_DOOR, SENSOR_LEAK, SENSOR_MOTION, SENSOR_WATER_METER,
                                                          SENSOR_SMOKE };
                for (uint32_t k = 0; k < 5; k++) {
                        struct rules_sensor s = { .num = 1 + i * 5 + k, .kind = kinds[k], .resident = (int)i,
                                                  .building = (int)(i % 500), .wired = kinds[k] == SENSOR_WATER_METER,
                                                  .litres_per_pulse = 1 };
                        assert_true(rules_add_sensor(t.r, &s) >= 0);
                }
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rt_tick(&t); /* everyone judged once */
        print_message("first tick over everyone: %.3f s\n", seconds_since(&t0));
        /* Every flat with a water meter is the worst case; the figure goes into docs/rules.md. */
        size_t mem = rules_memory_usage(t.r);
        print_message("rules engine: %u residents, %u sensors, %u meters: %zu KiB (%zu bytes per resident)\n", N,
                      N * 5, N, mem / 1024, mem / N);
        assert_true(mem < 4 * 1024 * 1024);

        /* A million events: a door, a motion sensor, a pulse each. Timers move in the heap, nothing is scanned. */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (uint32_t k = 0; k < 1000000; k++) {
                uint32_t i = (k * 7919) % N;
                t.c.mono += 50 * USEC_PER_MSEC;
                t.c.wall += 50 * USEC_PER_MSEC;
                uint32_t which = k % 3;
                struct sensor_event e = { .sensor = 1 + i * 5 + (which == 0 ? 0 : which == 1 ? 2 : 3),
                                          .type = which == 0 ? EVENT_CONTACT : which == 1 ? EVENT_MOTION : EVENT_WATER_PULSES,
                                          .value = which == 0 ? (k / 3) % 2 : 1, .mono = t.c.mono, .wall = t.c.wall };
                assert_int_equal(rules_event(t.r, &e, &t.c, &t.out), 0);
                t.out.n = t.out.n_slots = t.out.n_states = 0;
                if (rules_next_wakeup(t.r) <= t.c.mono) {
                        assert_int_equal(rules_tick(t.r, &t.c, &t.out), 0);
                        t.out.n = t.out.n_slots = t.out.n_states = 0;
                }
        }
        double s = seconds_since(&t0);
        print_message("1,000,000 events: %.2f s (%.2f µs each)\n", s, s);
        assert_true(s < 20);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        usec_t sum = 0;
        for (int k = 0; k < 1000000; k++)
                sum += rules_next_wakeup(t.r) & 1;
        s = seconds_since(&t0);
        print_message("1,000,000 rules_next_wakeup(): %.3f s (%llu)\n", s, (unsigned long long)sum);
        assert_true(s < 1);
        assert_true(rules_memory_usage(t.r) < 4 * 1024 * 1024); /* the steady state does not grow */
        rt_stop(&t);
}

static void test_unknown_sensor_and_bad_input_are_refused(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_LEAK, SENSOR_LEAK, r);
        struct sensor_event e = { .sensor = 999, .type = EVENT_LEAK, .value = 1, .mono = t.c.mono, .wall = t.c.wall };
        assert_int_equal(rules_event(t.r, &e, &t.c, &t.out), -ENOENT);
        e.sensor = S_LEAK;
        e.type = 0;
        assert_int_equal(rules_event(t.r, &e, &t.c, &t.out), -EINVAL);
        struct rules_sensor dup = { .num = S_LEAK, .kind = SENSOR_LEAK, .resident = r, .building = 0 };
        assert_int_equal(rules_add_sensor(t.r, &dup), -EEXIST);
        struct rules_sensor bad = { .num = 77, .kind = SENSOR_LEAK, .resident = 5, .building = 0 };
        assert_int_equal(rules_add_sensor(t.r, &bad), -EINVAL);
        struct rules_resident res = { .id = "R", .building = 3 };
        assert_int_equal(rules_add_resident(t.r, &res), -EINVAL);
        assert_int_equal(rules_restore_water_slot(t.r, S_LEAK, t.c.wall, 3), -EINVAL);
        assert_int_equal(rules_next_wakeup(NULL), USEC_INFINITY);
        /* A leak event on a sensor the roster calls a door is not read as a door. */
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        rt_event(&t, S_DOOR, EVENT_LEAK, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_LEAK), 0);
        rt_stop(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rule_and_severity_names_round_trip),
                cmocka_unit_test(test_settings_defaults_are_the_documented_ones),
                cmocka_unit_test(test_settings_parse_values_and_explain_mistakes),
                cmocka_unit_test(test_settings_combined_rules_are_configuration),
                cmocka_unit_test(test_leak_alone_raises_critical_at_once),
                cmocka_unit_test(test_leak_for_family_household_has_plain_text),
                cmocka_unit_test(test_leak_dried_gives_clear_never_close),
                cmocka_unit_test(test_leak_report_repeated_updates_open_alert_once_a_minute),
                cmocka_unit_test(test_resolved_leak_still_wet_is_not_raised_again),
                cmocka_unit_test(test_panic_button_raises_critical_at_once),
                cmocka_unit_test(test_panic_again_after_resolve_is_a_new_alert),
                cmocka_unit_test(test_panic_button_held_down_makes_no_storm),
                cmocka_unit_test(test_fall_raises_critical_and_clear_is_only_a_note),
                cmocka_unit_test(test_smoke_notifies_urgent_all),
                cmocka_unit_test(test_stairwell_smoke_is_building_wide),
                cmocka_unit_test(test_smoke_self_test_is_never_an_alarm),
                cmocka_unit_test(test_cached_tuya_self_test_never_hides_a_fire),
                cmocka_unit_test(test_cleared_smoke_alarm_gives_clear_and_stays_open),
                cmocka_unit_test(test_silent_leak_sensor_is_offline_after_6h_for_committee),
                cmocka_unit_test(test_door_sensor_offline_after_25h_not_6h),
                cmocka_unit_test(test_availability_offline_is_offline_at_once),
                cmocka_unit_test(test_battery_low_and_tamper_reach_the_committee),
                cmocka_unit_test(test_inactivity_warns_after_12h_of_nothing),
                cmocka_unit_test(test_activity_keeps_inactivity_quiet),
                cmocka_unit_test(test_door_report_without_a_change_is_not_activity),
                cmocka_unit_test(test_last_activity_for_the_store_is_the_engines_own),
                cmocka_unit_test(test_each_event_says_whose_activity_it_was),
                cmocka_unit_test(test_first_activity_of_the_wake_window_is_worth_saving_at_once),
                cmocka_unit_test(test_retained_message_is_not_activity),
                cmocka_unit_test(test_inactivity_with_only_offline_sensors_says_unknown),
                cmocka_unit_test(test_resident_with_only_a_panic_button_gets_no_inactivity),
                cmocka_unit_test(test_door_never_opened_for_a_day_is_inactivitys_job),
                cmocka_unit_test(test_away_silences_inactivity_never_leak),
                cmocka_unit_test(test_away_expires_by_itself_and_the_period_starts_again),
                cmocka_unit_test(test_restart_mid_timer_continues_from_last_activity),
                cmocka_unit_test(test_restart_nobody_active_for_14h_fires_at_next_tick),
                cmocka_unit_test(test_restart_does_not_raise_an_open_alert_again),
                cmocka_unit_test(test_restart_leak_still_wet_fires_at_next_tick),
                cmocka_unit_test(test_retained_wet_from_last_week_raises_nothing),
                cmocka_unit_test(test_restore_while_unsynced_waits_for_the_clock),
                cmocka_unit_test(test_unsynced_boot_runs_duration_rules_on_the_monotonic_clock),
                cmocka_unit_test(test_resolved_inactivity_raises_again_after_a_full_period),
                cmocka_unit_test(test_flapping_leak_sensor_makes_no_storm),
                cmocka_unit_test(test_flapping_door_sensor_makes_no_storm),
                cmocka_unit_test(test_combined_door_unused_and_no_water_is_stronger),
                cmocka_unit_test(test_combined_with_offline_sensors_says_unknown),
                cmocka_unit_test(test_combined_needs_every_signal_quiet),
                cmocka_unit_test(test_combined_rule_does_not_apply_without_its_sensors),
                cmocka_unit_test(test_ten_thousand_residents_fit_and_wake_cheaply),
                cmocka_unit_test(test_unknown_sensor_and_bad_input_are_refused),
        };

        rt_tz("Asia/Shanghai");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
