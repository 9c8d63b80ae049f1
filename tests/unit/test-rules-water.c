/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Water with a fake clock: the story's tap left running, pulse meters and
 * cumulative meters (reset, out of order, duplicates, gaps), the low-use
 * welfare check at each street office's threshold (Jing'an 0.01 m³,
 * Jiangsu Road's 12-hour window, Ningbo Haishu's 8 L in 24 h), abnormal use
 * (2 m³ a day, flow in every half-hour: Shenzhen Longgang), the slots the
 * daemon stores, and restarts in the middle of a window.
 */

#include "tests/unit/test-rules.h"

enum {
        S_LEAK = 1,
        S_DOOR,
        S_MOTION,
        S_METER,
        S_MQTT_METER,
        S_FLOW,
        S_COMMON_METER = 20,
};

/* 沈国强's flat: leak sensor under the sink, door contact, a pulse meter (1 L per pulse) on GPIO. */
static int story_flat(struct rt *t, bool alone, bool motion)
{
        int r = rt_resident(t, alone, NULL);
        rt_sensor(t, S_LEAK, SENSOR_LEAK, r);
        rt_sensor(t, S_DOOR, SENSOR_DOOR, r);
        if (motion)
                rt_sensor(t, S_MOTION, SENSOR_MOTION, r);
        rt_sensor_ex(t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_tick(t);
        rt_event(t, S_DOOR, EVENT_CONTACT, 0);
        rt_event(t, S_LEAK, EVENT_LEAK, 0);
        rt_mark(t);
        return r;
}

/* A tap at about 6 L/min on a 1 L/pulse meter: one pulse every 10 s (the GPIO source may batch them). */
static void tap_runs(struct rt *t, usec_t how_long, usec_t every, double litres)
{
        for (usec_t done = 0; done < how_long; done += every) {
                rt_event(t, S_METER, EVENT_WATER_PULSES, litres);
                rt_run(t, every);
        }
}

/* ---- the story ----------------------------------------------------------------------------------------- */

static void test_story_tap_running_warning_at_0140_critical_at_0210(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = story_flat(&t, true, false);

        tap_runs(&t, 29 * MIN + 50 * SEC, 10 * SEC, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_TAP_RUNNING), 0);
        tap_runs(&t, 20 * SEC, 10 * SEC, 1);
        const struct rt_logged *w = rt_first(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_non_null(w);
        rt_assert_at(w, "01:40");
        assert_int_equal(w->d.severity, SEVERITY_WARNING);
        assert_string_equal(w->d.text_key, "tap_running");
        assert_int_equal(w->d.resident, r);
        assert_int_equal(w->d.sensor, S_METER);
        assert_int_equal(w->d.params.since_wall, rt_local("2026-11-22 01:10"));
        assert_int_equal(w->d.params.lives_alone, 1);

        tap_runs(&t, 30 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_TAP_RUNNING), 2);
        const struct rt_logged *c = rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        rt_assert_at(c, "02:10");
        assert_int_equal(c->d.severity, SEVERITY_CRITICAL);
        assert_string_equal(c->d.text_key, "tap_running.critical");
        /* "water has been running since 01:10" */
        char buf[16];
        assert_string_equal(rt_hhmm(c->d.params.since_wall, buf, sizeof(buf), false), "01:10");
        assert_true(c->d.params.litres >= 359 && c->d.params.litres <= 361);
        assert_int_equal(c->d.params.duration, 60 * MIN);
        /* No door movement the whole time, so no CLEAR of inactivity either; and no storm of repeats. */
        tap_runs(&t, 30 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_TAP_RUNNING), 2);
        /* The neighbour shuts the stopcock: the condition ends, the alert stays for a person to close. */
        rt_run(&t, 5 * MIN);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_TAP_RUNNING), 1);
        rt_stop(&t);
}

static void test_story_leak_sensor_wet_makes_it_critical_at_once(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        story_flat(&t, true, false);
        tap_runs(&t, 40 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING)->d.severity, SEVERITY_WARNING);
        rt_mark(&t);
        /* 01:50: the water reaches the leak sensor under the sink. */
        rt_event(&t, S_LEAK, EVENT_LEAK, 1);
        const struct rt_logged *leak = rt_find(&t, DECISION_RAISE, RULE_LEAK);
        const struct rt_logged *tap = rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_non_null(leak);
        assert_non_null(tap);
        rt_assert_at(tap, "01:50");
        assert_string_equal(leak->d.text_key, "leak.alone");
        assert_int_equal(leak->d.severity, SEVERITY_CRITICAL);
        assert_int_equal(tap->d.severity, SEVERITY_CRITICAL);
        assert_string_equal(tap->d.text_key, "tap_running.leak");
        assert_int_equal(tap->d.params.since_wall, rt_local("2026-11-22 01:10"));
        /* Tier 1 (the group leader, the neighbour downstairs) is the alert layer's ladder: not committee-only. */
        assert_false(tap->d.flags & DECISION_COMMITTEE_ONLY);
        assert_false(leak->d.flags & DECISION_COMMITTEE_ONLY);
        assert_int_equal(rt_count_all(&t), 2);
        rt_stop(&t);
}

static void test_tap_running_nobody_moving_with_motion_sensor_is_critical_at_once(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:00");
        story_flat(&t, true, true);
        rt_event(&t, S_MOTION, EVENT_MOTION, 1);
        rt_run(&t, 10 * MIN);
        tap_runs(&t, 30 * MIN + 10 * SEC, 10 * SEC, 1);
        const struct rt_logged *l = rt_first(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_non_null(l);
        rt_assert_at(l, "01:40");
        assert_int_equal(l->d.severity, SEVERITY_CRITICAL);
        assert_string_equal(l->d.text_key, "tap_running.unattended");
        rt_stop(&t);
}

static void test_tap_running_with_someone_moving_is_a_warning(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 19:00");
        story_flat(&t, true, true);
        for (int i = 0; i < 4; i++) {
                tap_runs(&t, 9 * MIN, 10 * SEC, 1);
                rt_event(&t, S_MOTION, EVENT_MOTION, 1); /* filling the bath, walking about */
        }
        assert_int_equal(rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING)->d.severity, SEVERITY_WARNING);
        rt_stop(&t);
}

/* While a tap runs, whether somebody moved since it started decides the severity: kept at once. */
static void test_activity_while_a_tap_runs_is_worth_saving_at_once(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 19:00");
        int r = story_flat(&t, true, true);
        usec_t saved = t.c.wall;
        rt_run(&t, MIN);
        assert_false(rules_activity_worth_saving(t.r, r, saved, t.c.wall));
        tap_runs(&t, 2 * MIN, 10 * SEC, 1);
        assert_true(rules_activity_worth_saving(t.r, r, saved, t.c.wall));
        rt_run(&t, 30 * MIN); /* the run ended with its pause */
        assert_false(rules_activity_worth_saving(t.r, r, t.c.wall - MIN, t.c.wall));
        rt_stop(&t);
}

static void test_tap_running_not_alone_is_a_warning_until_2n(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:00");
        story_flat(&t, false, true);
        tap_runs(&t, 31 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING)->d.severity, SEVERITY_WARNING);
        tap_runs(&t, 30 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING)->d.severity, SEVERITY_CRITICAL);
        rt_stop(&t);
}

static void test_a_pause_ends_the_run(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 18:00");
        story_flat(&t, true, false);
        /* Washing up: 20 minutes, a 3-minute pause, 20 minutes. */
        tap_runs(&t, 20 * MIN, 10 * SEC, 1);
        rt_run(&t, 3 * MIN);
        tap_runs(&t, 20 * MIN, 10 * SEC, 1);
        rt_run(&t, HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_TAP_RUNNING), 0);
        rt_stop(&t);
}

static void test_pulse_gap_follows_the_meters_litres_per_pulse(void **state)
{
        /* 10 L per pulse: a tap at 1.6 L/min gives a pulse every 6 minutes and is still running. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 10);
        rt_tick(&t);
        tap_runs(&t, 36 * MIN + SEC, 6 * MIN, 10);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_non_null(l);
        assert_int_equal(l->d.params.since_wall, rt_local("2026-11-22 01:10"));

        /* The same pulses on a 1 L meter would be a trickle of 1 L every 6 minutes: no running tap. */
        struct rt u;
        rt_start(&u, NULL, "2026-11-22 01:10");
        r = rt_resident(&u, true, NULL);
        rt_sensor_ex(&u, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_tick(&u);
        tap_runs(&u, 2 * HOURS, 6 * MIN, 1);
        assert_int_equal(rt_count(&u, DECISION_RAISE, RULE_TAP_RUNNING), 0);
        rt_stop(&t);
        rt_stop(&u);
}

static void test_tap_running_from_cumulative_readings(void **state)
{
        /* wmbusmeters every 2 minutes, 12 L more each time. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MQTT_METER, SENSOR_WATER_METER, r);
        rt_tick(&t);
        double total = 123456;
        rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, total);
        for (int i = 0; i < 16; i++) {
                rt_run(&t, 2 * MIN);
                total += 12;
                rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, total);
        }
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_non_null(l);
        rt_assert_at(l, "01:40");
        /* The readings stop rising: stopped. */
        rt_run(&t, 2 * MIN);
        rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, total);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_TAP_RUNNING), 1);
        rt_stop(&t);
}

static void test_two_readings_in_one_second_keep_the_run(void **state)
{
        /* A meter that sends a second telegram right after the first (or a reading resent after a
         * restart): no rate to judge by, and no reason to think the tap stopped. */
        struct rt t;
        double total = 500;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MQTT_METER, SENSOR_WATER_METER, r);
        rt_tick(&t);
        for (int i = 0; i < 18; i++) {
                rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, total);
                total += 1;
                rt_run(&t, 300 * USEC_PER_MSEC);
                rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, total);
                total += 12;
                rt_run(&t, 2 * MIN - 300 * USEC_PER_MSEC);
        }
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_non_null(l);
        rt_assert_at(l, "01:40");
        assert_int_equal(l->d.params.since_wall, rt_local("2026-11-22 01:10"));
        rt_stop(&t);
}

static void test_flow_switch_running_for_30_min(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_FLOW, SENSOR_WATER_FLOW, r);
        rt_tick(&t);
        rt_event(&t, S_FLOW, EVENT_WATER_FLOW, 1);
        rt_run(&t, 30 * MIN + SEC);
        rt_assert_at(rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING), "01:40");
        rt_event(&t, S_FLOW, EVENT_WATER_FLOW, 0);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_TAP_RUNNING), 1);
        rt_stop(&t);
}

static void test_away_never_silences_a_running_tap(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = story_flat(&t, true, false);
        assert_int_equal(rules_add_away(t.r, r, rt_local("2026-11-21 09:00"), rt_local("2026-11-30 09:00")), 0);
        tap_runs(&t, 31 * MIN, 10 * SEC, 1);
        assert_non_null(rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING));
        rt_stop(&t);
}

/* ---- low use ------------------------------------------------------------------------------------------- */

/* A wired pulse meter that has been read since `start`; use `litres` at 08:30. */
static void low_use_day(struct rt *t, const struct rules_settings *s, double litres, const char *until)
{
        rt_start(t, NULL, "2026-11-22 08:00");
        int r = rt_resident(t, true, s);
        rt_sensor_ex(t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_tick(t);
        rt_run_until(t, "2026-11-22 08:30");
        for (double l = litres; l > 0; l -= 1)
                rt_event(t, S_METER, EVENT_WATER_PULSES, l >= 1 ? 1 : l);
        rt_run_until(t, until);
}

static void test_low_use_under_10_litres_in_12h_jingan(void **state)
{
        struct rt t;
        /* 9 L (0.009 m³) since the meter is known from 08:00: at 20:00 the window is complete. */
        low_use_day(&t, NULL, 9, "2026-11-22 19:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        rt_run_until(&t, "2026-11-22 20:01");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_WATER_LOW_USE);
        assert_non_null(l);
        rt_assert_at(l, "20:00");
        assert_int_equal(l->d.severity, SEVERITY_WARNING);
        assert_true(l->d.params.litres == 9);
        assert_int_equal(l->d.params.duration, 12 * HOURS);
        assert_false(l->d.flags & DECISION_COMMITTEE_ONLY);
        /* Water again: the condition ends once the window holds 10 L. */
        for (int i = 0; i < 10; i++)
                rt_event(&t, S_METER, EVENT_WATER_PULSES, 1);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_WATER_LOW_USE), 1);
        rt_stop(&t);
}

static void test_low_use_exactly_10_litres_is_enough(void **state)
{
        struct rt t;
        low_use_day(&t, NULL, 10, "2026-11-22 20:29");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        /* The window counts whole hours from the hour it starts in (never less use than there was), so
         * 08:30's 10 litres leave it between 20:30 and 21:30. */
        rt_run_until(&t, "2026-11-22 21:31");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_WATER_LOW_USE);
        assert_non_null(l);
        assert_true(l->wall > rt_local("2026-11-22 20:30") && l->wall <= rt_local("2026-11-22 21:30"));
        assert_true(l->d.params.litres == 0);
        rt_stop(&t);
}

static void test_low_use_ningbo_8_litres_in_24h(void **state)
{
        struct rules_settings s = rt_settings("water_low_window", "24h");
        char *err = NULL;
        assert_int_equal(rules_settings_set(&s, "water_low_litres", "8", &err), 0);

        struct rt t;
        low_use_day(&t, &s, 7.9, "2026-11-23 07:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        rt_run_until(&t, "2026-11-23 08:01");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_WATER_LOW_USE);
        assert_non_null(l);
        rt_assert_at(l, "08:00");
        assert_int_equal(l->d.params.duration, 24 * HOURS);
        rt_stop(&t);

        low_use_day(&t, &s, 8, "2026-11-23 08:20");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        rt_stop(&t);
}

static void test_low_use_is_silenced_by_away(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        assert_int_equal(rules_add_away(t.r, r, rt_local("2026-11-22 07:00"), rt_local("2026-11-24 08:00")), 0);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-24 19:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        /* Back home at 08:00 on the 24th: a whole window after that. */
        rt_run_until(&t, "2026-11-24 20:01");
        rt_assert_at(rt_find(&t, DECISION_RAISE, RULE_WATER_LOW_USE), "20:00");
        rt_stop(&t);
}

static void test_reading_gap_is_unknown_never_low_use(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MQTT_METER, SENSOR_WATER_METER, r);
        rt_tick(&t);
        /* Readings every 30 minutes for 6 hours, no use; then the meter falls silent. */
        for (int i = 0; i <= 12; i++) {
                rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 5000);
                rt_run(&t, 30 * MIN);
        }
        rt_run_until(&t, "2026-11-23 14:00");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        /* What the silent meter raises is sensor_offline, after 25 h. */
        rt_run_until(&t, "2026-11-23 15:31");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_SENSOR_OFFLINE);
        assert_non_null(l);
        assert_int_equal(l->d.sensor, S_MQTT_METER);
        /* It comes back after 2 days with the same total: the gap stays unknown, a new window starts. */
        rt_run_until(&t, "2026-11-24 08:00");
        rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 5000);
        for (int i = 0; i < 24; i++) {
                rt_run(&t, 30 * MIN);
                rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 5000);
        }
        rt_run(&t, 10 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 1);
        rt_assert_at(rt_find(&t, DECISION_RAISE, RULE_WATER_LOW_USE), "20:00");
        rt_stop(&t);
}

static void test_water_counts_as_activity(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        story_flat(&t, true, false);
        rt_run(&t, 11 * HOURS);
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 2);
        rt_run(&t, 11 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0); /* 19:00 is no morning */
        rt_stop(&t);
}

static void test_running_water_is_not_a_person_moving(void **state)
{
        /* Turning the tap on is someone; a tap that keeps running is not someone up and about. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        story_flat(&t, true, false);
        rt_run_until(&t, "2026-11-22 09:00");
        tap_runs(&t, 11 * HOURS + 59 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        tap_runs(&t, 2 * MIN, 10 * SEC, 1);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_INACTIVITY);
        assert_non_null(l);
        rt_assert_at(l, "21:00");
        rt_stop(&t);
}

/* ---- cumulative meters: resets, order, duplicates ------------------------------------------------------- */

static double slot_total(struct rt *t, uint32_t sensor)
{
        /* Slots are replaced, not added: the total is the sum of each slot's last value. */
        double sum = 0;
        for (size_t i = 0; i < t->n_slots; i++) {
                bool last = true;
                assert_true(t->slots[i].litres >= 0);
                for (size_t j = i + 1; j < t->n_slots; j++)
                        if (t->slots[j].sensor == t->slots[i].sensor && t->slots[j].slot_wall == t->slots[i].slot_wall)
                                last = false;
                if (last && t->slots[i].sensor == sensor)
                        sum += t->slots[i].litres;
        }
        return sum;
}

static void test_counter_reset_gives_no_negative_use(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MQTT_METER, SENSOR_WATER_METER, r);
        rt_tick(&t);
        double readings[] = { 1000, 1005, 3, 5, 9 }; /* the meter was replaced after 1005 */
        for (size_t i = 0; i < ELEMENTSOF(readings); i++) {
                rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, readings[i]);
                rt_run(&t, 10 * MIN);
        }
        assert_true(slot_total(&t, S_MQTT_METER) == 5 + 2 + 4);
        rt_stop(&t);
}

static void test_out_of_order_and_duplicate_readings_invent_nothing(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MQTT_METER, SENSOR_WATER_METER, r);
        rt_tick(&t);
        rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 100);
        rt_run(&t, 5 * MIN);
        rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 105);
        rt_run(&t, 5 * MIN);
        rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 103); /* a late telegram */
        rt_run(&t, 5 * MIN);
        rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 107);
        rt_run(&t, SEC);
        rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 107); /* the same telegram twice */
        assert_true(slot_total(&t, S_MQTT_METER) == 7);

        /* With the telegram's own time (wmbusmeters "timestamp"), an older one is ignored outright. */
        usec_t now = t.c.wall;
        struct sensor_event e = { .sensor = S_MQTT_METER, .type = EVENT_WATER_TOTAL, .flags = EVENT_SOURCE_TIME,
                                  .value = 110, .mono = t.c.mono, .wall = now };
        assert_int_equal(rules_event(t.r, &e, &t.c, &t.out), 0);
        rt_collect(&t);
        e.value = 108;
        e.wall = now - 4 * MIN;
        assert_int_equal(rules_event(t.r, &e, &t.c, &t.out), 0);
        rt_collect(&t);
        e.value = 111;
        e.wall = now + 2 * MIN;
        rt_run(&t, 2 * MIN);
        e.mono = t.c.mono;
        assert_int_equal(rules_event(t.r, &e, &t.c, &t.out), 0);
        rt_collect(&t);
        assert_true(slot_total(&t, S_MQTT_METER) == 11);
        rt_stop(&t);
}

static void test_retained_total_is_a_baseline_not_use(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MQTT_METER, SENSOR_WATER_METER, r);
        rt_tick(&t);
        rt_event_flags(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 4000, EVENT_RETAINED);
        rt_run(&t, MIN);
        rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 4002);
        rt_run(&t, MIN);
        rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 4003);
        assert_true(slot_total(&t, S_MQTT_METER) == 1);
        rt_stop(&t);
}

/* ---- abnormal use -------------------------------------------------------------------------------------- */

static void test_abnormal_over_2_cubic_metres_a_day(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 10);
        rt_tick(&t);
        /* A cistern valve stuck open: 100 L an hour for 20 hours = 2000 L: not over. */
        for (int h = 0; h < 20; h++) {
                rt_event(&t, S_METER, EVENT_WATER_PULSES, 100);
                rt_run(&t, HOURS);
        }
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_ABNORMAL), 0);
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 10);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_WATER_ABNORMAL);
        assert_non_null(l);
        assert_int_equal(l->d.severity, SEVERITY_INFO);
        assert_int_equal(l->d.flags & (DECISION_COMMITTEE_ONLY | DECISION_PROPERTY),
                         DECISION_COMMITTEE_ONLY | DECISION_PROPERTY);
        assert_string_equal(l->d.text_key, "water_abnormal.volume");
        assert_true(l->d.params.litres == 2010);
        rt_stop(&t);
}

static void test_abnormal_flow_in_every_half_hour_slot(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_sensor_ex(&t, S_COMMON_METER, SENSOR_WATER_METER, -1, true, 1);
        rt_tick(&t);
        /* A dripping pipe: a litre in every half-hour, 47 of them... */
        for (int i = 0; i < 47; i++) {
                rt_run(&t, 10 * MIN);
                rt_event(&t, S_METER, EVENT_WATER_PULSES, 1);
                rt_event(&t, S_COMMON_METER, EVENT_WATER_PULSES, 1);
                rt_run(&t, 20 * MIN);
        }
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_ABNORMAL), 0);
        /* ...and the 48th: 24 hours without a dry half-hour. */
        rt_run(&t, 10 * MIN);
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 1);
        rt_event(&t, S_COMMON_METER, EVENT_WATER_PULSES, 1);
        rt_run(&t, 21 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_ABNORMAL), 2);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_WATER_ABNORMAL);
        assert_string_equal(l->d.text_key, "water_abnormal.every_slot");
        assert_true(l->d.flags & DECISION_PROPERTY);
        bool common = false;
        for (size_t i = t.mark; i < t.n_log; i++)
                if (t.log[i].d.rule == RULE_WATER_ABNORMAL && t.log[i].d.resident == -1)
                        common = t.log[i].d.sensor == S_COMMON_METER;
        assert_true(common);
        /* A dry half-hour: the condition ends. */
        rt_run(&t, 40 * MIN);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_WATER_ABNORMAL), 2);
        rt_stop(&t);
}

/* ---- slots for the store, restarts --------------------------------------------------------------------- */

static void test_slots_for_the_store(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-22 08:40");
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 3);
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 2);
        assert_true(t.n_slots >= 1);
        struct water_slot_update *u = &t.slots[t.n_slots - 1];
        assert_int_equal(u->sensor, S_METER);
        assert_int_equal(u->slot_wall, rt_local("2026-11-22 08:30"));
        assert_true(u->litres == 5); /* the slot so far: replace, not add */
        size_t n = t.n_slots;
        /* A known half-hour without water is stored as 0 litres (a missing slot means "unknown"). */
        rt_run_until(&t, "2026-11-22 09:31");
        bool zero = false;
        for (size_t i = n; i < t.n_slots; i++)
                if (t.slots[i].slot_wall == rt_local("2026-11-22 09:00"))
                        zero = t.slots[i].litres == 0;
        assert_true(zero);
        /* While the clock is unsynced nothing is filed under a wrong time. */
        n = t.n_slots;
        t.c.synced = false;
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 1);
        rt_run(&t, 2 * HOURS);
        assert_int_equal(t.n_slots, n);
        rt_stop(&t);
}

static void test_restart_in_the_middle_of_a_low_use_window(void **state)
{
        /* The store has 6 hours of slots (3 L in all); the daemon restarts at 14:00. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 14:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        for (usec_t w = rt_local("2026-11-22 08:00"); w < rt_local("2026-11-22 14:00"); w += 30 * MIN)
                assert_int_equal(rules_restore_water_slot(t.r, S_METER, w, w == rt_local("2026-11-22 09:30") ? 3 : 0), 0);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-22 19:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        rt_run_until(&t, "2026-11-22 20:01");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_WATER_LOW_USE);
        assert_non_null(l);
        rt_assert_at(l, "20:00");
        assert_true(l->d.params.litres == 3);
        rt_stop(&t);
}

static void test_restart_without_history_waits_a_whole_window(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 14:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-23 01:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        rt_run_until(&t, "2026-11-23 02:01");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 1);
        rt_stop(&t);
}

static void test_restored_slots_wait_for_the_clock(void **state)
{
        /* Restarted without a synchronised clock: the stored slots are placed once NTP answers. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 14:00");
        usec_t real = t.c.wall;
        t.c.wall = 77 * USEC_PER_SEC;
        t.c.synced = false;
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        for (usec_t w = rt_local("2026-11-22 08:00"); w < rt_local("2026-11-22 14:00"); w += 30 * MIN)
                assert_int_equal(rules_restore_water_slot(t.r, S_METER, w, 0), 0);
        rt_tick(&t);
        rt_run(&t, 2 * MIN);
        t.c.wall = real + 2 * MIN;
        t.c.synced = true;
        rt_tick(&t);
        rt_run_until(&t, "2026-11-22 19:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        rt_run_until(&t, "2026-11-22 20:01");
        /* Known since 08:00 from the store: the window is whole at 20:00, not 12 h after the restart. */
        rt_assert_at(rt_find(&t, DECISION_RAISE, RULE_WATER_LOW_USE), "20:00");
        rt_stop(&t);
}

static void test_restore_continues_the_current_slot(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 14:10");
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        assert_int_equal(rules_restore_water_slot(t.r, S_METER, rt_local("2026-11-22 14:00"), 4), 0);
        rt_tick(&t);
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 1);
        struct water_slot_update *u = &t.slots[t.n_slots - 1];
        assert_int_equal(u->slot_wall, rt_local("2026-11-22 14:00"));
        assert_true(u->litres == 5);
        rt_stop(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_story_tap_running_warning_at_0140_critical_at_0210),
                cmocka_unit_test(test_story_leak_sensor_wet_makes_it_critical_at_once),
                cmocka_unit_test(test_tap_running_nobody_moving_with_motion_sensor_is_critical_at_once),
                cmocka_unit_test(test_tap_running_with_someone_moving_is_a_warning),
                cmocka_unit_test(test_activity_while_a_tap_runs_is_worth_saving_at_once),
                cmocka_unit_test(test_tap_running_not_alone_is_a_warning_until_2n),
                cmocka_unit_test(test_a_pause_ends_the_run),
                cmocka_unit_test(test_pulse_gap_follows_the_meters_litres_per_pulse),
                cmocka_unit_test(test_tap_running_from_cumulative_readings),
                cmocka_unit_test(test_two_readings_in_one_second_keep_the_run),
                cmocka_unit_test(test_flow_switch_running_for_30_min),
                cmocka_unit_test(test_away_never_silences_a_running_tap),
                cmocka_unit_test(test_low_use_under_10_litres_in_12h_jingan),
                cmocka_unit_test(test_low_use_exactly_10_litres_is_enough),
                cmocka_unit_test(test_low_use_ningbo_8_litres_in_24h),
                cmocka_unit_test(test_low_use_is_silenced_by_away),
                cmocka_unit_test(test_reading_gap_is_unknown_never_low_use),
                cmocka_unit_test(test_water_counts_as_activity),
                cmocka_unit_test(test_running_water_is_not_a_person_moving),
                cmocka_unit_test(test_counter_reset_gives_no_negative_use),
                cmocka_unit_test(test_out_of_order_and_duplicate_readings_invent_nothing),
                cmocka_unit_test(test_retained_total_is_a_baseline_not_use),
                cmocka_unit_test(test_abnormal_over_2_cubic_metres_a_day),
                cmocka_unit_test(test_abnormal_flow_in_every_half_hour_slot),
                cmocka_unit_test(test_slots_for_the_store),
                cmocka_unit_test(test_restart_in_the_middle_of_a_low_use_window),
                cmocka_unit_test(test_restart_without_history_waits_a_whole_window),
                cmocka_unit_test(test_restored_slots_wait_for_the_clock),
                cmocka_unit_test(test_restore_continues_the_current_slot),
        };

        rt_tz("Asia/Shanghai");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
