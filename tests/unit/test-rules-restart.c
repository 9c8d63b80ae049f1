/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Restarts in the middle of a story, with a fake clock: the daemon is killed
 * (nothing more is stored), the machine reboots (CLOCK_BOOTTIME starts
 * over), the engine is built again and gets back what the store holds —
 * last activity, each sensor's last state and open alerts (as the daemon
 * restores them) and the rule state and water slots the engine asked to be
 * kept (rt_restore()). What must survive (issues 4 and 11):
 *
 *  - a tap run in progress goes on from its real start: "running since
 *    08:10" stays true and the 30-minute warning comes at 08:40;
 *  - the night's door openings and a door opened at night and not closed;
 *  - the morning check: a deadline that passed while the daemon was down is
 *    judged at once; one judged already today is not judged again;
 *  - water use: a low-use window goes on; a gap in the slots stays unknown.
 */

#include "tests/unit/test-rules.h"

enum {
        S_LEAK = 1,
        S_DOOR,
        S_MOTION,
        S_METER,
        S_MQTT_METER,
        S_FLOW,
};

/* What the daemon keeps besides rule state and slots: a sensor's last known state and when it was heard. */
static void restore_state_event(struct rt *t, uint32_t sensor, enum event_type type, double value, const char *heard)
{
        struct sensor_event e = { .sensor = sensor, .type = (uint16_t)type, .flags = EVENT_INITIAL, .value = value,
                                  .mono = t->c.mono, .wall = rt_local(heard) };
        assert_int_equal(rules_restore_event(t->r, &e, &t->c), 0);
}

/* 沈国强's flat: leak sensor, door contact, a 1 L/pulse meter on GPIO. */
static int story_flat(struct rt *t)
{
        int r = rt_resident(t, true, NULL);
        rt_sensor(t, S_LEAK, SENSOR_LEAK, r);
        rt_sensor(t, S_DOOR, SENSOR_DOOR, r);
        rt_sensor_ex(t, S_METER, SENSOR_WATER_METER, r, true, 1);
        return r;
}

static void tap_runs(struct rt *t, usec_t how_long, usec_t every, double litres)
{
        for (usec_t done = 0; done < how_long; done += every) {
                rt_event(t, S_METER, EVENT_WATER_PULSES, litres);
                rt_run(t, every);
        }
}

/* ---- a tap left running ---------------------------------------------------------------------------------- */

static void test_restart_in_the_middle_of_a_tap_run_warns_at_0840(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:10");
        story_flat(&t);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_event(&t, S_LEAK, EVENT_LEAK, 0);
        rt_mark(&t);

        /* 08:10 the kitchen tap runs, a pulse every 10 s. */
        tap_runs(&t, 15 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_state(&t, RULE_STATE_SENSOR, S_METER, RULE_TAP_RUNNING, "run_start", -1),
                         rt_local("2026-11-22 08:10"));
        /* 08:25 the daemon is killed; the Pi reboots and watches again a minute later. */
        rt_reboot(&t, MIN);
        story_flat(&t);
        restore_state_event(&t, S_DOOR, EVENT_CONTACT, 0, "2026-11-22 08:00");
        restore_state_event(&t, S_LEAK, EVENT_LEAK, 0, "2026-11-22 08:00");
        rt_restore(&t);
        rt_tick(&t);
        /* The water never stopped. */
        tap_runs(&t, 13 * MIN + 50 * SEC, 10 * SEC, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_TAP_RUNNING), 0);
        tap_runs(&t, 20 * SEC, 10 * SEC, 1);
        const struct rt_logged *w = rt_first(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_non_null(w);
        rt_assert_at(w, "08:40");
        assert_int_equal(w->d.severity, SEVERITY_WARNING);
        assert_int_equal(w->d.params.since_wall, rt_local("2026-11-22 08:10"));
        /* The litres of the run go on from what was counted before the restart (the minute down is lost). */
        assert_true(w->d.params.litres >= 29 * 6 - 1 && w->d.params.litres <= 30 * 6 + 1);
        /* And the critical one at 09:10, "running since 08:10". */
        tap_runs(&t, 30 * MIN, 10 * SEC, 1);
        const struct rt_logged *c = rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        rt_assert_at(c, "09:10");
        assert_string_equal(c->d.text_key, "tap_running.critical");
        assert_int_equal(c->d.params.since_wall, rt_local("2026-11-22 08:10"));
        /* Stopped: the store hears the run ended, so the next restart starts nothing. */
        rt_run(&t, 5 * MIN);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_TAP_RUNNING), 1);
        assert_int_equal(rt_state(&t, RULE_STATE_SENSOR, S_METER, RULE_TAP_RUNNING, "run_start", -1), 0);
        rt_stop(&t);
}

static void test_a_long_reboot_does_not_continue_a_pulse_meters_run(void **state)
{
        /* Down for 20 minutes: the pulses in between are lost, so what runs after is a run of its own. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:10");
        story_flat(&t);
        rt_tick(&t);
        tap_runs(&t, 15 * MIN, 10 * SEC, 1);
        rt_reboot(&t, 20 * MIN);
        story_flat(&t);
        rt_restore(&t);
        rt_tick(&t);
        rt_mark(&t);
        tap_runs(&t, 29 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_TAP_RUNNING), 0);
        tap_runs(&t, 2 * MIN, 10 * SEC, 1);
        const struct rt_logged *w = rt_first(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_non_null(w);
        rt_assert_at(w, "09:15");
        assert_int_equal(w->d.params.since_wall, rt_local("2026-11-22 08:45"));
        rt_stop(&t);
}

static void test_restart_with_a_cumulative_meter_continues_the_run(void **state)
{
        /* wmbusmeters every 2 minutes, 12 L more each time; the daemon is down 01:25-01:27. */
        struct rt t;
        double total = 1000;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MQTT_METER, SENSOR_WATER_METER, r);
        rt_tick(&t);
        for (int i = 0; i <= 7; i++) { /* 01:10 … 01:24 */
                rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, total);
                total += 12;
                rt_run(&t, 2 * MIN);
        }
        rt_reboot(&t, MIN);
        rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MQTT_METER, SENSOR_WATER_METER, r);
        /* The daemon's sensor_health: the last reading (01:24) as the meter's baseline. */
        restore_state_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, total - 12, "2026-11-22 01:24");
        rt_restore(&t);
        rt_tick(&t);
        rt_mark(&t);
        /* 01:27: the meter shows the water kept flowing while we were down. */
        for (int i = 0; i < 7; i++) {
                rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, total + 12);
                total += 24;
                rt_run(&t, 2 * MIN);
        }
        const struct rt_logged *w = rt_first(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_non_null(w);
        rt_assert_at(w, "01:40");
        assert_int_equal(w->d.params.since_wall, rt_local("2026-11-22 01:10"));
        rt_stop(&t);
}

static void test_a_cumulative_meter_whose_total_disagrees_starts_afresh(void **state)
{
        /* The stored run's last reading was not the one the daemon's health kept (a lost batch): not continued. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MQTT_METER, SENSOR_WATER_METER, r);
        rt_tick(&t);
        for (int i = 0; i <= 7; i++) {
                rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 1000 + 12 * i);
                rt_run(&t, 2 * MIN);
        }
        rt_reboot(&t, MIN);
        rt_resident(&t, true, NULL);
        rt_sensor(&t, S_MQTT_METER, SENSOR_WATER_METER, r);
        restore_state_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 1000 + 12 * 5, "2026-11-22 01:20");
        rt_restore(&t);
        rt_tick(&t);
        rt_mark(&t);
        for (int i = 0; i < 20; i++) {
                rt_event(&t, S_MQTT_METER, EVENT_WATER_TOTAL, 1200 + 12 * i);
                rt_run(&t, 2 * MIN);
        }
        /* The meter says water flowed from its 01:20 reading on: a run from then, not the stored one. */
        const struct rt_logged *w = rt_first(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_non_null(w);
        assert_true(w->d.params.since_wall >= rt_local("2026-11-22 01:20"));
        rt_stop(&t);
}

static void test_flow_switch_still_flowing_keeps_its_start(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 01:10");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_FLOW, SENSOR_WATER_FLOW, r);
        rt_tick(&t);
        rt_event(&t, S_FLOW, EVENT_WATER_FLOW, 1);
        rt_run(&t, 20 * MIN);
        rt_reboot(&t, 2 * MIN);
        rt_resident(&t, true, NULL);
        rt_sensor(&t, S_FLOW, SENSOR_WATER_FLOW, r);
        /* Its last state "flowing", last heard with a battery report at 01:25. */
        restore_state_event(&t, S_FLOW, EVENT_WATER_FLOW, 1, "2026-11-22 01:25");
        rt_restore(&t);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-22 01:39");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_TAP_RUNNING), 0);
        rt_run_until(&t, "2026-11-22 01:41");
        const struct rt_logged *w = rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        rt_assert_at(w, "01:40");
        assert_int_equal(w->d.params.since_wall, rt_local("2026-11-22 01:10"));
        rt_stop(&t);
}

static void test_critical_reached_while_down_is_told_at_start(void **state)
{
        /* Warned at 08:40; down 09:05-09:12: the alert is open as a warning, the tap now runs over an hour. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:10");
        int r = story_flat(&t);
        rt_tick(&t);
        tap_runs(&t, 55 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING)->d.severity, SEVERITY_WARNING);
        rt_reboot(&t, 7 * MIN);
        story_flat(&t);
        assert_int_equal(rules_restore_open_alert_severity(t.r, r, t.building, RULE_TAP_RUNNING, SEVERITY_WARNING), 0);
        rt_restore(&t);
        rt_mark(&t);
        rt_tick(&t);
        tap_runs(&t, 2 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_TAP_RUNNING), 1);
        const struct rt_logged *c = rt_find(&t, DECISION_RAISE, RULE_TAP_RUNNING);
        assert_int_equal(c->d.severity, SEVERITY_CRITICAL);
        assert_string_equal(c->d.text_key, "tap_running.critical");
        rt_stop(&t);
}

static void test_open_warning_is_not_told_again_as_new(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:10");
        int r = story_flat(&t);
        rt_tick(&t);
        tap_runs(&t, 35 * MIN, 10 * SEC, 1);
        rt_reboot(&t, MIN);
        story_flat(&t);
        assert_int_equal(rules_restore_open_alert_severity(t.r, r, t.building, RULE_TAP_RUNNING, SEVERITY_WARNING), 0);
        rt_restore(&t);
        rt_mark(&t);
        rt_tick(&t);
        tap_runs(&t, 10 * MIN, 10 * SEC, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_TAP_RUNNING), 0);
        rt_stop(&t);
}

/* ---- night wandering ------------------------------------------------------------------------------------- */

static int wandering_flat(struct rt *t, const struct rules_settings *s)
{
        int r = rt_resident(t, true, s);
        rt_sensor(t, S_DOOR, SENSOR_DOOR, r);
        return r;
}

static void open_close(struct rt *t, int times, usec_t between)
{
        for (int i = 0; i < times; i++) {
                rt_event(t, S_DOOR, EVENT_CONTACT, 1);
                rt_run(t, MIN);
                rt_event(t, S_DOOR, EVENT_CONTACT, 0);
                rt_run(t, between);
        }
}

static void test_night_openings_two_before_restart_two_after(void **state)
{
        struct rt t;
        struct rules_settings s = rt_settings("night_wandering", "yes");
        rt_start(&t, NULL, "2026-11-22 23:00");
        int r = wandering_flat(&t, &s);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        open_close(&t, 2, 20 * MIN); /* 23:00, 23:21 */
        usec_t last_door = rt_local("2026-11-22 23:22");
        rt_reboot(&t, 5 * MIN);
        wandering_flat(&t, &s);
        assert_int_equal(rules_restore_activity(t.r, r, last_door, &t.c), 0);
        restore_state_event(&t, S_DOOR, EVENT_CONTACT, 0, "2026-11-22 23:22");
        rt_restore(&t);
        rt_tick(&t);
        rt_mark(&t);
        open_close(&t, 1, 20 * MIN); /* the third */
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 0);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1); /* the fourth tonight: more than 3 */
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_NIGHT_WANDERING);
        assert_non_null(l);
        assert_string_equal(l->d.text_key, "night_wandering.repeated");
        assert_int_equal(l->d.params.count, 4);
        rt_stop(&t);
}

static void test_night_told_and_resolved_is_not_told_again_after_restart(void **state)
{
        struct rt t;
        struct rules_settings s = rt_settings("night_wandering", "yes");
        rt_start(&t, NULL, "2026-11-22 23:00");
        int r = wandering_flat(&t, &s);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        open_close(&t, 4, 10 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 1);
        rules_alert_resolved(t.r, r, t.building, RULE_NIGHT_WANDERING, &t.c); /* the family called: all is well */
        rt_reboot(&t, 2 * MIN);
        wandering_flat(&t, &s);
        restore_state_event(&t, S_DOOR, EVENT_CONTACT, 0, "2026-11-22 23:45");
        rt_restore(&t);
        rt_tick(&t);
        rt_mark(&t);
        open_close(&t, 2, 10 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 0);
        /* The next night is a night of its own. */
        rt_run_until(&t, "2026-11-23 23:00");
        open_close(&t, 4, 10 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 1);
        rt_stop(&t);
}

static void test_last_nights_count_does_not_carry_into_tonight(void **state)
{
        struct rt t;
        struct rules_settings s = rt_settings("night_wandering", "yes");
        rt_start(&t, NULL, "2026-11-22 23:00");
        wandering_flat(&t, &s);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        open_close(&t, 3, 10 * MIN);
        /* Down from 23:33 until the next evening. */
        rt_reboot(&t, 22 * HOURS);
        wandering_flat(&t, &s);
        restore_state_event(&t, S_DOOR, EVENT_CONTACT, 0, "2026-11-22 23:33");
        rt_restore(&t);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-23 23:00");
        rt_mark(&t);
        open_close(&t, 3, 10 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 0);
        rt_stop(&t);
}

static void test_door_opened_at_night_and_not_closed_across_a_restart(void **state)
{
        struct rt t;
        struct rules_settings s = rt_settings("night_wandering", "yes");
        rt_start(&t, NULL, "2026-11-23 01:50");
        wandering_flat(&t, &s);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_run_until(&t, "2026-11-23 02:00");
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1); /* 02:00 she goes out */
        rt_run(&t, 2 * MIN);
        rt_reboot(&t, MIN);
        wandering_flat(&t, &s);
        /* The daemon's health says "open", last heard with a battery report at 02:02. */
        restore_state_event(&t, S_DOOR, EVENT_CONTACT, 1, "2026-11-23 02:02");
        rt_restore(&t);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-23 02:04:50");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 0);
        rt_run_until(&t, "2026-11-23 02:05:10");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_NIGHT_WANDERING);
        assert_non_null(l);
        rt_assert_at(l, "02:05");
        assert_string_equal(l->d.text_key, "night_wandering.not_closed");
        assert_int_equal(l->d.params.since_wall, rt_local("2026-11-23 02:00"));
        /* She comes back: the store forgets the opening. */
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        assert_int_equal(rt_state(&t, RULE_STATE_SENSOR, S_DOOR, RULE_NIGHT_WANDERING, "opened_at", -1), 0);
        rt_stop(&t);
}

static void test_a_door_closed_since_is_not_opened_by_the_store(void **state)
{
        struct rt t;
        struct rules_settings s = rt_settings("night_wandering", "yes");
        rt_start(&t, NULL, "2026-11-23 01:50");
        wandering_flat(&t, &s);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run(&t, MIN);
        /* The "closed" event was saved but the state update for it was not (a lost batch): the door's own
         * state wins. */
        rt_reboot(&t, MIN);
        wandering_flat(&t, &s);
        restore_state_event(&t, S_DOOR, EVENT_CONTACT, 0, "2026-11-23 01:51");
        rt_restore(&t);
        rt_tick(&t);
        rt_run(&t, 30 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 0);
        rt_stop(&t);
}

/* ---- the morning check ----------------------------------------------------------------------------------- */

static int morning_flat(struct rt *t)
{
        int r = rt_resident(t, true, NULL);
        rt_sensor(t, S_DOOR, SENSOR_DOOR, r);
        rt_sensor(t, S_MOTION, SENSOR_MOTION, r);
        return r;
}

static void test_morning_deadline_passed_while_down_fires_at_once(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        int r = morning_flat(&t);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_run_until(&t, "2026-11-22 21:00");
        rt_event(&t, S_MOTION, EVENT_MOTION, 1); /* his last movement */
        rt_run_until(&t, "2026-11-23 05:00");
        assert_int_equal(rt_state(&t, RULE_STATE_RESIDENT, (uint32_t)r, RULE_MORNING_CHECK, "judged", 0), 20261122);
        /* A power cut from 05:00 to 11:00: the 10:00 deadline passed with nobody watching. */
        rt_reboot(&t, 6 * HOURS);
        morning_flat(&t);
        assert_int_equal(rules_restore_activity(t.r, r, rt_local("2026-11-22 21:00"), &t.c), 0);
        restore_state_event(&t, S_DOOR, EVENT_CONTACT, 0, "2026-11-22 21:00");
        rt_restore(&t);
        rt_mark(&t);
        rt_tick(&t);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_MORNING_CHECK);
        assert_non_null(l);
        rt_assert_at(l, "11:00");
        assert_int_equal(l->d.params.since_wall, rt_local("2026-11-22 21:00"));
        assert_int_equal(rt_state(&t, RULE_STATE_RESIDENT, (uint32_t)r, RULE_MORNING_CHECK, "judged", 0), 20261123);
        /* Once. */
        rt_run(&t, 2 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 1);
        rt_stop(&t);
}

static void test_morning_up_in_the_window_before_the_crash_is_fine(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        int r = morning_flat(&t);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_run_until(&t, "2026-11-23 07:15");
        rt_event(&t, S_MOTION, EVENT_MOTION, 1);
        rt_run_until(&t, "2026-11-23 09:00");
        rt_reboot(&t, 2 * HOURS);
        morning_flat(&t);
        assert_int_equal(rules_restore_activity(t.r, r, rt_local("2026-11-23 07:15"), &t.c), 0);
        rt_restore(&t);
        rt_mark(&t);
        rt_tick(&t);
        rt_run(&t, HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        rt_stop(&t);
}

static void test_morning_judged_today_is_not_fired_again(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        int r = morning_flat(&t);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_run_until(&t, "2026-11-22 21:00");
        rt_event(&t, S_MOTION, EVENT_MOTION, 1);
        rt_run_until(&t, "2026-11-23 10:01");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 1);
        /* 10:20 the neighbour knocks, he was asleep with his hearing aid out; she resolves it. His motion
         * sensor is in the bedroom and saw nothing. */
        rt_run_until(&t, "2026-11-23 10:20");
        rules_alert_resolved(t.r, r, t.building, RULE_MORNING_CHECK, &t.c);
        rt_run_until(&t, "2026-11-23 10:30");
        rt_reboot(&t, 5 * MIN);
        morning_flat(&t);
        assert_int_equal(rules_restore_activity(t.r, r, rt_local("2026-11-22 21:00"), &t.c), 0);
        rt_restore(&t);
        rt_mark(&t);
        rt_tick(&t);
        rt_run(&t, 3 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        rt_stop(&t);
}

static void test_morning_alert_still_open_gets_its_clear_after_a_restart(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        int r = morning_flat(&t);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_run_until(&t, "2026-11-22 21:00");
        rt_event(&t, S_MOTION, EVENT_MOTION, 1);
        rt_run_until(&t, "2026-11-23 10:30");
        rt_reboot(&t, 5 * MIN);
        morning_flat(&t);
        assert_int_equal(rules_restore_activity(t.r, r, rt_local("2026-11-22 21:00"), &t.c), 0);
        assert_int_equal(rules_restore_open_alert_severity(t.r, r, t.building, RULE_MORNING_CHECK, SEVERITY_WARNING),
                         0);
        rt_restore(&t);
        rt_mark(&t);
        rt_tick(&t);
        rt_run(&t, 20 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        rt_event(&t, S_MOTION, EVENT_MOTION, 1); /* 10:55 up at last */
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_MORNING_CHECK), 1);
        rt_stop(&t);
}

static void test_morning_without_stored_state_is_not_caught_up(void **state)
{
        /* A first start (nothing stored) after the deadline: as before, the deadline is not caught up on;
         * inactivity covers the day. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-23 11:00");
        int r = morning_flat(&t);
        assert_int_equal(rules_restore_activity(t.r, r, rt_local("2026-11-22 21:00"), &t.c), 0);
        rt_tick(&t);
        rt_run(&t, HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        rt_stop(&t);
}

static void test_morning_catch_up_waits_for_the_clock(void **state)
{
        /* The Pi has no RTC: it boots at 1970 and NTP answers at 11:00. The store says yesterday was judged. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        int r = morning_flat(&t);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_run_until(&t, "2026-11-23 05:00");
        rt_reboot(&t, 6 * HOURS - 2 * MIN);
        usec_t real = t.c.wall;
        t.c.wall = 30 * USEC_PER_SEC;
        t.c.synced = false;
        morning_flat(&t);
        assert_int_equal(rules_restore_activity(t.r, r, rt_local("2026-11-22 20:00"), &t.c), 0);
        rt_restore(&t);
        rt_mark(&t);
        rt_tick(&t);
        rt_run(&t, 2 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        t.c.wall = real + 2 * MIN;
        t.c.synced = true;
        rt_tick(&t);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_MORNING_CHECK);
        assert_non_null(l);
        rt_assert_at(l, "11:00");
        rt_stop(&t);
}

/* ---- water use ------------------------------------------------------------------------------------------- */

static void test_stored_slots_carry_a_low_use_window_over_a_reboot(void **state)
{
        /* Known from 08:00, 3 litres at 09:30, nothing more; the daemon is killed at 14:00. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-22 09:30");
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 3);
        rt_run_until(&t, "2026-11-22 14:00");
        rt_reboot(&t, 5 * MIN);
        rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_restore(&t);
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

static void test_a_gap_in_the_stored_slots_stays_unknown(void **state)
{
        /* Slots from 08:00; the daemon was down from 10:00 to 13:00 (no slots), so the window must begin again
         * after the restart: no low-use alert at 20:00, the first at 01:00. */
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-22 09:30");
        rt_event(&t, S_METER, EVENT_WATER_PULSES, 3);
        rt_run_until(&t, "2026-11-22 10:00");
        rt_reboot(&t, 3 * HOURS);
        rt_resident(&t, true, NULL);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_restore(&t);
        rt_tick(&t);
        rt_run_until(&t, "2026-11-23 00:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_WATER_LOW_USE), 0);
        rt_run_until(&t, "2026-11-23 01:01");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_WATER_LOW_USE);
        assert_non_null(l);
        rt_assert_at(l, "01:00");
        rt_stop(&t);
}

/* ---- the state itself ------------------------------------------------------------------------------------ */

static void test_state_kept_is_small_and_refuses_what_it_does_not_know(void **state)
{
        struct rt t;
        struct rules_settings s = rt_settings("night_wandering", "yes");
        rt_start(&t, NULL, "2026-11-22 21:00");
        int r = rt_resident(&t, true, &s);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        rt_sensor_ex(&t, S_METER, SENSOR_WATER_METER, r, true, 1);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        /* A day and a night of use: a few keys per meter, door and resident, not one per event. */
        for (int h = 0; h < 24; h++) {
                tap_runs(&t, 5 * MIN, 10 * SEC, 1);
                open_close(&t, 1, 10 * MIN);
                rt_run(&t, 40 * MIN);
        }
        assert_true(t.n_store <= 7);
        assert_int_equal(rules_restore_state(t.r, RULE_STATE_SENSOR, 99, RULE_TAP_RUNNING, "run_start", 1), -ENOENT);
        assert_int_equal(rules_restore_state(t.r, RULE_STATE_RESIDENT, 9, RULE_MORNING_CHECK, "judged", 20261122),
                         -ENOENT);
        assert_int_equal(rules_restore_state(t.r, RULE_STATE_SENSOR, S_METER, RULE_TAP_RUNNING, "flux", 1), -EINVAL);
        assert_int_equal(rules_restore_state(t.r, RULE_STATE_RESIDENT, (uint32_t)r, RULE_LEAK, "judged", 1), -EINVAL);
        assert_int_equal(rules_restore_state(t.r, RULE_STATE_RESIDENT, (uint32_t)r, RULE_MORNING_CHECK, "judged", 7),
                         -EINVAL);
        assert_int_equal(rules_restore_state(t.r, RULE_STATE_RESIDENT, (uint32_t)r, RULE_NIGHT_WANDERING, "night", -1),
                         -EINVAL);
        rt_stop(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_restart_in_the_middle_of_a_tap_run_warns_at_0840),
                cmocka_unit_test(test_a_long_reboot_does_not_continue_a_pulse_meters_run),
                cmocka_unit_test(test_restart_with_a_cumulative_meter_continues_the_run),
                cmocka_unit_test(test_a_cumulative_meter_whose_total_disagrees_starts_afresh),
                cmocka_unit_test(test_flow_switch_still_flowing_keeps_its_start),
                cmocka_unit_test(test_critical_reached_while_down_is_told_at_start),
                cmocka_unit_test(test_open_warning_is_not_told_again_as_new),
                cmocka_unit_test(test_night_openings_two_before_restart_two_after),
                cmocka_unit_test(test_night_told_and_resolved_is_not_told_again_after_restart),
                cmocka_unit_test(test_last_nights_count_does_not_carry_into_tonight),
                cmocka_unit_test(test_door_opened_at_night_and_not_closed_across_a_restart),
                cmocka_unit_test(test_a_door_closed_since_is_not_opened_by_the_store),
                cmocka_unit_test(test_morning_deadline_passed_while_down_fires_at_once),
                cmocka_unit_test(test_morning_up_in_the_window_before_the_crash_is_fine),
                cmocka_unit_test(test_morning_judged_today_is_not_fired_again),
                cmocka_unit_test(test_morning_alert_still_open_gets_its_clear_after_a_restart),
                cmocka_unit_test(test_morning_without_stored_state_is_not_caught_up),
                cmocka_unit_test(test_morning_catch_up_waits_for_the_clock),
                cmocka_unit_test(test_stored_slots_carry_a_low_use_window_over_a_reboot),
                cmocka_unit_test(test_a_gap_in_the_stored_slots_stays_unknown),
                cmocka_unit_test(test_state_kept_is_small_and_refuses_what_it_does_not_know),
        };

        rt_tz("Asia/Shanghai");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
