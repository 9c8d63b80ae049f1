/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Wall-clock rules with a fake clock: the morning check, the door at night,
 * night wandering, the building entrance door; and time itself — DST in
 * Berlin (2026-03-29 and 2026-10-25) and none in Shanghai, an unsynchronised
 * boot, clock jumps forward (a year) and back.
 */

#include "tests/unit/test-rules.h"

enum {
        S_DOOR = 1,
        S_MOTION,
        S_LEAK,
        S_ENTRANCE = 20,
};

/* A resident with a door contact; he last moved it at `last`. */
static int flat_with_door(struct rt *t, const struct rules_settings *s, const char *last)
{
        int r = rt_resident(t, true, s);
        rt_sensor(t, S_DOOR, SENSOR_DOOR, r);
        rt_sensor(t, S_MOTION, SENSOR_MOTION, r);
        rt_tick(t);
        rt_event(t, S_DOOR, EVENT_CONTACT, 0);
        if (last) {
                rt_run_until(t, last);
                rt_event(t, S_MOTION, EVENT_MOTION, 1);
        }
        rt_mark(t);
        return r;
}

/* ---- morning check ------------------------------------------------------------------------------------- */

static void test_morning_check_warns_at_the_deadline(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        int r = flat_with_door(&t, NULL, "2026-11-22 23:30");
        rt_run_until(&t, "2026-11-23 09:59");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        rt_run_until(&t, "2026-11-23 10:01");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_MORNING_CHECK);
        assert_non_null(l);
        rt_assert_at(l, "10:00");
        assert_int_equal(l->d.severity, SEVERITY_WARNING);
        assert_int_equal(l->d.resident, r);
        assert_string_equal(l->d.text_key, "morning_check");
        assert_int_equal(l->d.params.since_wall, rt_local("2026-11-22 23:30"));
        /* Up at last: the condition ended. */
        rt_run(&t, 20 * MIN);
        rt_event(&t, S_MOTION, EVENT_MOTION, 1);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_MORNING_CHECK), 1);
        rt_stop(&t);
}

static void test_morning_activity_in_the_window_means_no_warning(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        flat_with_door(&t, NULL, "2026-11-22 23:30");
        rt_run_until(&t, "2026-11-23 07:15");
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run_until(&t, "2026-11-23 12:00");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        rt_stop(&t);
}

static void test_morning_check_every_day_is_its_own(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        int r = flat_with_door(&t, NULL, "2026-11-22 21:00");
        rt_run_until(&t, "2026-11-23 10:01");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 1);
        rules_alert_resolved(t.r, r, t.building, RULE_MORNING_CHECK, &t.c);
        /* Active in the afternoon, then nothing the next morning either. */
        rt_run_until(&t, "2026-11-23 15:00");
        rt_event(&t, S_MOTION, EVENT_MOTION, 1);
        rt_run_until(&t, "2026-11-24 10:01");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 2);
        rt_assert_at(rt_find(&t, DECISION_RAISE, RULE_MORNING_CHECK), "10:00");
        rt_stop(&t);
}

static void test_morning_check_uses_the_residents_wake_window(void **state)
{
        struct rt t;
        struct rules_settings late = rt_settings("wake_window", "08:00-11:30");
        rt_start(&t, NULL, "2026-11-22 20:00");
        flat_with_door(&t, &late, "2026-11-22 21:00");
        rt_run_until(&t, "2026-11-23 11:29");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        rt_run_until(&t, "2026-11-23 11:31");
        rt_assert_at(rt_find(&t, DECISION_RAISE, RULE_MORNING_CHECK), "11:30");
        rt_stop(&t);
}

static void test_away_silences_the_morning_check(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        int r = flat_with_door(&t, NULL, "2026-11-22 21:00");
        assert_int_equal(rules_add_away(t.r, r, rt_local("2026-11-22 21:30"), rt_local("2026-11-23 09:00")), 0);
        rt_run_until(&t, "2026-11-23 12:00");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        rt_stop(&t);
}

static void test_morning_check_waits_while_the_clock_is_unsynced(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        usec_t real = t.c.wall;
        t.c.wall = 60 * USEC_PER_SEC; /* booted without RTC or network */
        t.c.synced = false;
        rt_resident(&t, true, NULL);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, 0);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        rt_run(&t, 15 * HOURS); /* past 10:00 of the 23rd */
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        /* Synchronised at 11:00: today's deadline is past and is not caught up on. */
        t.c.wall = real + 15 * HOURS;
        t.c.synced = true;
        rt_tick(&t);
        rt_run(&t, 2 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        /* The inactivity rule ran on the monotonic clock all along. */
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 1);
        /* Tomorrow's deadline is judged as usual. */
        rt_run_until(&t, "2026-11-24 10:01");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 1);
        rt_stop(&t);
}

/* ---- DST ----------------------------------------------------------------------------------------------- */

static void deadline_at_local_ten(const char *tz, const char *midnight, const char *deadline, usec_t mono_from_midnight)
{
        struct rt t;
        rt_tz(tz);
        rt_start(&t, NULL, midnight);
        flat_with_door(&t, NULL, NULL);
        usec_t m0 = t.c.mono;
        rt_run(&t, 13 * HOURS);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_MORNING_CHECK);
        assert_non_null(l);
        assert_int_equal(l->wall, rt_local(deadline));
        assert_int_equal(l->mono - m0, mono_from_midnight);
        rt_stop(&t);
        rt_tz("Asia/Shanghai");
}

static void test_dst_spring_forward_berlin_deadline_is_local_ten(void **state)
{
        /* 2026-03-29: 02:00 CET becomes 03:00 CEST, so 10:00 comes 9 hours after midnight. */
        deadline_at_local_ten("Europe/Berlin", "2026-03-29 00:00", "2026-03-29 10:00", 9 * HOURS);
}

static void test_dst_fall_back_berlin_deadline_is_local_ten(void **state)
{
        /* 2026-10-25: 03:00 CEST becomes 02:00 CET, 11 hours after midnight. */
        deadline_at_local_ten("Europe/Berlin", "2026-10-25 00:00", "2026-10-25 10:00", 11 * HOURS);
}

static void test_shanghai_has_no_dst(void **state)
{
        deadline_at_local_ten("Asia/Shanghai", "2026-03-29 00:00", "2026-03-29 10:00", 10 * HOURS);
        deadline_at_local_ten("Asia/Shanghai", "2026-10-25 00:00", "2026-10-25 10:00", 10 * HOURS);
}

static void test_dst_night_hours_follow_the_local_clock(void **state)
{
        /* The door is left open on the night the clocks go forward: the night still ends at 06:00 local. */
        struct rt t;
        rt_tz("Europe/Berlin");
        rt_start(&t, NULL, "2026-03-28 21:00");
        flat_with_door(&t, NULL, NULL);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run_until(&t, "2026-03-28 22:09");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT), 0);
        rt_run_until(&t, "2026-03-28 22:11");
        rt_assert_at(rt_find(&t, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT), "22:10");
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        /* Opened again at 05:55 CEST (7 real hours after 22:00 CET): night ends at 06:00, no alert. */
        rt_run_until(&t, "2026-03-29 05:55");
        rt_mark(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run_until(&t, "2026-03-29 07:00");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT), 0);
        rt_stop(&t);
        rt_tz("Asia/Shanghai");
}

/* ---- clock jumps --------------------------------------------------------------------------------------- */

static void test_clock_jump_of_a_year_fires_nothing(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 06:00");
        flat_with_door(&t, NULL, "2026-11-22 07:00");
        rt_run_until(&t, "2026-11-22 08:00");
        rt_mark(&t);
        /* Someone sets the date a year ahead (or NTP corrects a year-old fake-hwclock). */
        t.c.wall += 365 * USEC_PER_DAY;
        rt_tick(&t);
        rt_run(&t, MIN);
        assert_int_equal(rt_count_all(&t), 0);
        /* The hour since his last activity is still an hour: inactivity fires 12 h after it, not now. */
        rt_run(&t, 10 * HOURS + 58 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        rt_run(&t, 3 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 1);
        rt_stop(&t);
}

static void test_clock_jump_forward_recomputes_the_deadline(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        flat_with_door(&t, NULL, "2026-11-22 21:00");
        rt_run_until(&t, "2026-11-23 05:00");
        /* The wall clock jumps 3 hours ahead at what was 05:00: the 10:00 deadline is now 2 hours away. */
        t.c.wall += 3 * HOURS;
        rt_tick(&t);
        rt_run(&t, 1 * HOURS + 59 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        rt_run(&t, 2 * MIN);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_MORNING_CHECK);
        assert_non_null(l);
        rt_assert_at(l, "10:00");
        rt_stop(&t);
}

static void test_clock_jump_back_does_not_fire_twice_or_early(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        flat_with_door(&t, NULL, "2026-11-22 21:00");
        rt_run_until(&t, "2026-11-23 10:01");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 1);
        /* He gets up at 10:30; then the clock goes back two hours (to 08:31). */
        rt_run_until(&t, "2026-11-23 10:30");
        rt_event(&t, S_MOTION, EVENT_MOTION, 1);
        rt_mark(&t);
        t.c.wall -= 2 * HOURS;
        rt_tick(&t);
        /* 10:00 comes round again on the wall clock: his activity (30 real minutes ago) counts. */
        rt_run(&t, 3 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_MORNING_CHECK), 0);
        /* Inactivity is measured on the monotonic clock: 12 real hours after 10:30. */
        rt_run(&t, 8 * HOURS + 58 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        rt_run(&t, 3 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 1);
        rt_stop(&t);
}

/* ---- door at night, building door ---------------------------------------------------------------------- */

static void test_door_open_at_night_warns_after_10_min(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        int r = flat_with_door(&t, NULL, NULL);
        rt_run_until(&t, "2026-11-22 23:00");
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run_until(&t, "2026-11-22 23:09");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT), 0);
        rt_run_until(&t, "2026-11-22 23:11");
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT);
        assert_non_null(l);
        rt_assert_at(l, "23:10");
        assert_int_equal(l->d.severity, SEVERITY_WARNING);
        assert_int_equal(l->d.resident, r);
        assert_int_equal(l->d.sensor, S_DOOR);
        assert_int_equal(l->d.params.since_wall, rt_local("2026-11-22 23:00"));
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_DOOR_OPEN_NIGHT), 1);
        rt_stop(&t);
}

static void test_door_open_in_the_day_is_no_night_alert(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 08:00");
        flat_with_door(&t, NULL, NULL);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run_until(&t, "2026-11-22 21:50");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT), 0);
        /* Left open from the morning: counted from the start of the night. */
        rt_run_until(&t, "2026-11-22 22:11");
        rt_assert_at(rt_find(&t, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT), "22:10");
        rt_stop(&t);
}

static void test_away_silences_the_door_at_night(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 20:00");
        int r = flat_with_door(&t, NULL, NULL);
        assert_int_equal(rules_add_away(t.r, r, rt_local("2026-11-22 20:30"), rt_local("2026-11-24 20:00")), 0);
        rt_run_until(&t, "2026-11-22 23:00");
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run_until(&t, "2026-11-23 01:00");
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT), 0);
        rt_stop(&t);
}

static void test_wall_clock_rules_wait_until_synced(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 23:00");
        usec_t real = t.c.wall;
        t.c.synced = false; /* the wall clock reads right but nobody vouches for it yet */
        flat_with_door(&t, NULL, NULL);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run(&t, 30 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT), 0);
        t.c.synced = true;
        assert_int_equal(t.c.wall, real + 30 * MIN);
        rt_tick(&t);
        rt_assert_at(rt_find(&t, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT), "23:30");
        rt_stop(&t);
}

static void test_building_door_held_open_tells_the_group_leader(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 14:00");
        rt_resident(&t, true, NULL);
        rt_sensor(&t, S_ENTRANCE, SENSOR_DOOR, -1);
        rt_tick(&t);
        rt_event(&t, S_ENTRANCE, EVENT_CONTACT, 0);
        rt_event(&t, S_ENTRANCE, EVENT_CONTACT, 1);
        rt_run(&t, 4 * MIN);
        rt_event(&t, S_ENTRANCE, EVENT_CONTACT, 0);
        rt_event(&t, S_ENTRANCE, EVENT_CONTACT, 1);
        rt_run(&t, 4 * MIN + 59 * SEC);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR), 0);
        rt_run(&t, 2 * SEC);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_BUILDING_DOOR);
        assert_non_null(l);
        assert_int_equal(l->d.severity, SEVERITY_INFO);
        assert_int_equal(l->d.resident, -1);
        assert_true(l->d.flags & DECISION_GROUP_LEADER);
        assert_string_equal(l->d.text_key, "building_door.held_open");
        /* The entrance door is not anyone's activity. */
        rt_run(&t, 13 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_INACTIVITY), 0);
        rt_event(&t, S_ENTRANCE, EVENT_CONTACT, 0);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_BUILDING_DOOR), 1);
        rt_stop(&t);
}

/* The entrance door's lock (a Zigbee lock reporting "not_fully_locked"): info to the group leader, like a door
 * held open; a repeat updates the open alert, locking it again is a CLEAR, a person closes the alert. */
static void test_entrance_lock_fault_tells_the_group_leader(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 14:00");
        rt_resident(&t, true, NULL);
        rt_sensor(&t, S_ENTRANCE, SENSOR_DOOR, -1);
        rt_tick(&t);
        rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 0);
        rt_mark(&t);
        rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 1);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_BUILDING_DOOR);
        assert_non_null(l);
        rt_assert_at(l, "14:00");
        assert_int_equal(l->d.severity, SEVERITY_INFO);
        assert_int_equal(l->d.resident, -1);
        assert_int_equal(l->d.building, t.building);
        assert_int_equal(l->d.sensor, S_ENTRANCE);
        assert_true(l->d.flags & DECISION_GROUP_LEADER);
        assert_false(l->d.flags & DECISION_COMMITTEE_ONLY);
        assert_string_equal(l->d.text_key, "building_door.lock_fault");
        /* It says so again: within a minute nothing, later an update of the open alert. */
        rt_run(&t, 30 * SEC);
        rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR), 1);
        rt_run(&t, 2 * MIN);
        rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR), 2);
        /* Nothing more while it stays so, however long. */
        rt_run(&t, 3 * HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR), 2);
        /* Property fixes the bolt: the condition ended; the alert waits for a person to close it. */
        rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 0);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_BUILDING_DOOR), 1);
        rules_alert_resolved(t.r, -1, t.building, RULE_BUILDING_DOOR, &t.c);
        /* A new fault later is a new alert. */
        rt_run(&t, HOURS);
        rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR), 3);
        /* The entrance lock is nobody's activity. */
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_INACTIVITY), 0);
        rt_stop(&t);
}

static void test_lock_fault_resolved_while_still_jammed_is_not_raised_again(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 14:00");
        rt_resident(&t, true, NULL);
        rt_sensor(&t, S_ENTRANCE, SENSOR_DOOR, -1);
        rt_tick(&t);
        rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR), 1);
        /* The group leader knows, the repair is booked: she closes the alert. */
        rules_alert_resolved(t.r, -1, t.building, RULE_BUILDING_DOOR, &t.c);
        for (int i = 0; i < 10; i++) {
                rt_run(&t, 5 * MIN);
                rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 1);
        }
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR), 1);
        rt_stop(&t);
}

static void test_lock_fault_retained_or_on_a_flat_door_raises_nothing(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 14:00");
        int r = rt_resident(&t, true, NULL);
        rt_sensor(&t, S_ENTRANCE, SENSOR_DOOR, -1);
        rt_sensor(&t, S_DOOR, SENSOR_DOOR, r);
        rt_tick(&t);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        /* The broker's memory of last week's fault: state, not news. */
        rt_event_flags(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 1, EVENT_RETAINED);
        /* A flat's own lock is history only (the flat door's rules are about the door). */
        rt_event(&t, S_DOOR, EVENT_LOCK_FAULT, 1);
        rt_run(&t, HOURS);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR), 0);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_BUILDING_DOOR), 0);
        /* The lock reports afresh that it is still not locked: now it is news. */
        rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 1);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR), 1);
        rt_stop(&t);
}

static void test_entrance_held_open_and_not_locked_is_one_alert(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 14:00");
        rt_resident(&t, true, NULL);
        rt_sensor(&t, S_ENTRANCE, SENSOR_DOOR, -1);
        rt_tick(&t);
        rt_event(&t, S_ENTRANCE, EVENT_CONTACT, 0);
        rt_event(&t, S_ENTRANCE, EVENT_CONTACT, 1);
        rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 1); /* wedged open: the bolt cannot reach */
        rt_run(&t, 6 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_BUILDING_DOOR), 1);
        /* Closed, still not locked: the condition goes on, no CLEAR. */
        rt_event(&t, S_ENTRANCE, EVENT_CONTACT, 0);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_BUILDING_DOOR), 0);
        rt_event(&t, S_ENTRANCE, EVENT_LOCK_FAULT, 0);
        assert_int_equal(rt_count(&t, DECISION_CLEAR, RULE_BUILDING_DOOR), 1);
        rt_stop(&t);
}

/* ---- night wandering ----------------------------------------------------------------------------------- */

static void open_close(struct rt *t, int times, usec_t between)
{
        for (int i = 0; i < times; i++) {
                rt_event(t, S_DOOR, EVENT_CONTACT, 1);
                rt_run(t, MIN);
                rt_event(t, S_DOOR, EVENT_CONTACT, 0);
                rt_run(t, between);
        }
}

static void test_night_wandering_is_off_by_default(void **state)
{
        struct rt t;
        rt_start(&t, NULL, "2026-11-22 23:00");
        flat_with_door(&t, NULL, NULL);
        open_close(&t, 6, 20 * MIN);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run(&t, 8 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 0);
        rt_stop(&t);
}

static void test_night_wandering_door_opened_again_and_again(void **state)
{
        struct rt t;
        struct rules_settings s = rt_settings("night_wandering", "yes");
        rt_start(&t, NULL, "2026-11-22 23:00");
        int r = flat_with_door(&t, &s, NULL);
        open_close(&t, 3, 20 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 0);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1); /* the fourth time tonight */
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_NIGHT_WANDERING);
        assert_non_null(l);
        assert_int_equal(l->d.resident, r);
        assert_int_equal(l->d.severity, SEVERITY_WARNING);
        assert_true(l->d.flags & DECISION_FAMILY_LEADER);
        assert_string_equal(l->d.text_key, "night_wandering.repeated");
        assert_int_equal(l->d.params.count, 4);
        /* One alert per night. */
        rt_event(&t, S_DOOR, EVENT_CONTACT, 0);
        open_close(&t, 3, 5 * MIN);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 1);
        rt_stop(&t);
}

static void test_night_wandering_door_not_closed(void **state)
{
        struct rt t;
        struct rules_settings s = rt_settings("night_wandering", "yes");
        rt_start(&t, NULL, "2026-11-23 02:00");
        flat_with_door(&t, &s, NULL);
        rt_event(&t, S_DOOR, EVENT_CONTACT, 1);
        rt_run(&t, 4 * MIN + 59 * SEC);
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 0);
        rt_run(&t, 2 * SEC);
        const struct rt_logged *l = rt_find(&t, DECISION_RAISE, RULE_NIGHT_WANDERING);
        assert_non_null(l);
        rt_assert_at(l, "02:05");
        assert_string_equal(l->d.text_key, "night_wandering.not_closed");
        assert_true(l->d.flags & DECISION_FAMILY_LEADER);
        assert_int_equal(l->d.sensor, S_DOOR);
        rt_stop(&t);
}

static void test_night_wandering_counts_per_night_and_not_in_the_day(void **state)
{
        struct rt t;
        struct rules_settings s = rt_settings("night_wandering", "yes");
        rt_start(&t, NULL, "2026-11-22 21:00");
        flat_with_door(&t, &s, NULL);
        open_close(&t, 2, 10 * MIN);        /* 21:00-21:22: evening, not night */
        rt_run_until(&t, "2026-11-22 23:00");
        open_close(&t, 3, 20 * MIN);        /* three at night */
        rt_run_until(&t, "2026-11-23 09:00");
        open_close(&t, 5, 10 * MIN);        /* the day */
        rt_run_until(&t, "2026-11-23 23:00");
        open_close(&t, 3, 20 * MIN);        /* three the next night */
        assert_int_equal(rt_count(&t, DECISION_RAISE, RULE_NIGHT_WANDERING), 0);
        rt_stop(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_morning_check_warns_at_the_deadline),
                cmocka_unit_test(test_morning_activity_in_the_window_means_no_warning),
                cmocka_unit_test(test_morning_check_every_day_is_its_own),
                cmocka_unit_test(test_morning_check_uses_the_residents_wake_window),
                cmocka_unit_test(test_away_silences_the_morning_check),
                cmocka_unit_test(test_morning_check_waits_while_the_clock_is_unsynced),
                cmocka_unit_test(test_dst_spring_forward_berlin_deadline_is_local_ten),
                cmocka_unit_test(test_dst_fall_back_berlin_deadline_is_local_ten),
                cmocka_unit_test(test_shanghai_has_no_dst),
                cmocka_unit_test(test_dst_night_hours_follow_the_local_clock),
                cmocka_unit_test(test_clock_jump_of_a_year_fires_nothing),
                cmocka_unit_test(test_clock_jump_forward_recomputes_the_deadline),
                cmocka_unit_test(test_clock_jump_back_does_not_fire_twice_or_early),
                cmocka_unit_test(test_door_open_at_night_warns_after_10_min),
                cmocka_unit_test(test_door_open_in_the_day_is_no_night_alert),
                cmocka_unit_test(test_away_silences_the_door_at_night),
                cmocka_unit_test(test_wall_clock_rules_wait_until_synced),
                cmocka_unit_test(test_building_door_held_open_tells_the_group_leader),
                cmocka_unit_test(test_entrance_lock_fault_tells_the_group_leader),
                cmocka_unit_test(test_lock_fault_resolved_while_still_jammed_is_not_raised_again),
                cmocka_unit_test(test_lock_fault_retained_or_on_a_flat_door_raises_nothing),
                cmocka_unit_test(test_entrance_held_open_and_not_locked_is_one_alert),
                cmocka_unit_test(test_night_wandering_is_off_by_default),
                cmocka_unit_test(test_night_wandering_door_opened_again_and_again),
                cmocka_unit_test(test_night_wandering_door_not_closed),
                cmocka_unit_test(test_night_wandering_counts_per_night_and_not_in_the_day),
        };

        rt_tz("Asia/Shanghai");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
