/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rule engine's test fixture: a fake clock (monotonic and wall move
 * together unless a test jumps the wall clock), a building, residents,
 * sensors, and a log of every decision with the local time it came at.
 *
 * rt_run() plays the daemon's timer: it calls rules_tick() exactly at each
 * rules_next_wakeup() on the way, so a rule that fires late because its
 * wake-up time was wrong fails the test.
 *
 * The fixture also plays the daemon's store for what the engine asks to
 * keep (rule state, water slots: the latest value of each), so a test can
 * restart the engine in the middle of a story (rt_reboot(), rebuild the
 * roster, rt_restore()) and see what survives.
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <time.h>

#include "rules/rules.h"

#define MIN USEC_PER_MINUTE
#define HOURS USEC_PER_HOUR
#define SEC USEC_PER_SEC
#define RT_LOG_MAX 8192
#define RT_BOOT (1000 * USEC_PER_SEC) /* CLOCK_BOOTTIME at the test's start */
#define RT_STATE_MAX 256

struct rt_logged {
        struct rule_decision d;
        usec_t wall, mono;
};

struct rt {
        Rules *r;
        struct rules_settings defaults;
        bool own_defaults;
        struct rules_clock c;
        struct rule_output out;
        struct rt_logged log[RT_LOG_MAX];
        size_t n_log, mark;
        struct water_slot_update slots[RT_LOG_MAX];
        size_t n_slots;
        /* The rule_state table as the daemon would keep it: the latest value per subject, rule and key. */
        struct rule_state_update store[RT_STATE_MAX];
        size_t n_store;
        bool store_full;
        int building;
};

static inline void rt_tz(const char *tz)
{
        setenv("TZ", tz, 1);
        tzset();
}

/* "2026-11-22 01:10" or "2026-11-22 01:10:30", local time. */
static inline usec_t rt_local(const char *s)
{
        struct tm tm = { .tm_isdst = -1 };
        const char *e = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
        if (!e) {
                tm = (struct tm){ .tm_isdst = -1 };
                e = strptime(s, "%Y-%m-%d %H:%M", &tm);
        }
        assert_non_null(e);
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        assert_true(t > 0);
        return (usec_t)t * USEC_PER_SEC;
}

/* The local time of a wall clock value, "HH:MM" (or "YYYY-MM-DD HH:MM" with full). */
static inline const char *rt_hhmm(usec_t wall, char *buf, size_t size, bool full)
{
        time_t t = (time_t)(wall / USEC_PER_SEC);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(buf, size, full ? "%Y-%m-%d %H:%M" : "%H:%M", &tm);
        return buf;
}

static inline void rt_collect(struct rt *t)
{
        for (size_t i = 0; i < t->out.n; i++) {
                assert_true(t->n_log < RT_LOG_MAX);
                t->log[t->n_log++] = (struct rt_logged){ .d = t->out.d[i], .wall = t->c.wall, .mono = t->c.mono };
        }
        for (size_t i = 0; i < t->out.n_slots && t->n_slots < RT_LOG_MAX; i++)
                t->slots[t->n_slots++] = t->out.slots[i];
        for (size_t i = 0; i < t->out.n_states; i++) {
                const struct rule_state_update *u = &t->out.states[i];
                size_t j = 0;
                while (j < t->n_store &&
                       !(t->store[j].kind == u->kind && t->store[j].subject == u->subject &&
                         t->store[j].rule == u->rule && strcmp(t->store[j].key, u->key) == 0))
                        j++;
                if (j == t->n_store) {
                        if (t->n_store == RT_STATE_MAX) {
                                t->store_full = true; /* a test of ten thousand residents: not for restarts */
                                continue;
                        }
                        t->n_store++;
                }
                t->store[j] = *u;
        }
        t->out.n = 0;
        t->out.n_slots = 0;
        t->out.n_states = 0;
}

/* The value the store holds for (kind, subject, rule, key), or `none`. */
static inline int64_t rt_state(struct rt *t, enum rule_state_subject kind, uint32_t subject, enum rule_id rule,
                               const char *key, int64_t none)
{
        for (size_t j = 0; j < t->n_store; j++)
                if (t->store[j].kind == kind && t->store[j].subject == subject && t->store[j].rule == rule &&
                    strcmp(t->store[j].key, key) == 0)
                        return t->store[j].value;
        return none;
}

static inline void rt_start(struct rt *t, const struct rules_settings *s, const char *when)
{
        memset(t, 0, sizeof(*t));
        t->c = (struct rules_clock){ .mono = RT_BOOT, .wall = rt_local(when), .synced = true };
        if (s) {
                t->defaults = *s;
                t->own_defaults = true;
        }
        t->r = rules_new(s);
        assert_non_null(t->r);
        t->building = rules_add_building(t->r, "B17");
        assert_int_equal(t->building, 0);
}

static inline void rt_stop(struct rt *t)
{
        t->r = rules_free(t->r);
        rule_output_done(&t->out);
}

/*
 * The daemon dies (kill -9: nothing more is stored) and the machine reboots:
 * `down` later the engine is built again, with CLOCK_BOOTTIME starting over.
 * What was logged and stored stays. The test then adds the roster again (same
 * order, same indices) and calls rt_restore() and whatever else the daemon
 * restores (activity, sensor states, open alerts).
 */
static inline void rt_reboot(struct rt *t, usec_t down)
{
        t->r = rules_free(t->r);
        t->c.wall += down;
        t->c.mono = RT_BOOT / 2; /* a new boot: earlier than before, so nothing can lean on the old one */
        t->r = rules_new(t->own_defaults ? &t->defaults : NULL);
        assert_non_null(t->r);
        assert_int_equal(rules_add_building(t->r, "B17"), t->building);
}

/* Give back what the store holds: the rule state, and the latest value of each water slot of the last 26 h. */
static inline void rt_restore(struct rt *t)
{
        assert_false(t->store_full);
        for (size_t j = 0; j < t->n_store; j++)
                assert_int_equal(rules_restore_state(t->r, t->store[j].kind, t->store[j].subject, t->store[j].rule,
                                                     t->store[j].key, t->store[j].value),
                                 0);
        for (size_t i = 0; i < t->n_slots; i++) {
                const struct water_slot_update *u = &t->slots[i];
                bool later = false;
                for (size_t k = i + 1; k < t->n_slots && !later; k++)
                        later = t->slots[k].sensor == u->sensor && t->slots[k].slot_wall == u->slot_wall;
                if (later || u->slot_wall + 53 * 30 * MIN < t->c.wall)
                        continue;
                assert_int_equal(rules_restore_water_slot(t->r, u->sensor, u->slot_wall, u->litres), 0);
        }
}

static inline int rt_resident(struct rt *t, bool alone, const struct rules_settings *s)
{
        struct rules_resident res = { .id = "R", .building = t->building, .lives_alone = alone, .settings = s };
        int i = rules_add_resident(t->r, &res);
        assert_true(i >= 0);
        return i;
}

static inline void rt_sensor_ex(struct rt *t, uint32_t num, enum sensor_kind kind, int resident, bool wired, double lpp)
{
        struct rules_sensor s = { .num = num, .kind = kind, .resident = resident, .building = t->building, .wired = wired,
                                  .litres_per_pulse = lpp };
        assert_true(rules_add_sensor(t->r, &s) >= 0);
}

static inline void rt_sensor(struct rt *t, uint32_t num, enum sensor_kind kind, int resident)
{
        rt_sensor_ex(t, num, kind, resident, false, 0);
}

static inline void rt_tick(struct rt *t)
{
        assert_int_equal(rules_tick(t->r, &t->c, &t->out), 0);
        rt_collect(t);
}

static inline void rt_event_flags(struct rt *t, uint32_t sensor, enum event_type type, double value, uint16_t flags)
{
        struct sensor_event e = { .sensor = sensor, .type = (uint16_t)type, .flags = flags, .value = value,
                                  .mono = t->c.mono, .wall = t->c.wall };
        if (!t->c.synced)
                e.flags |= EVENT_UNSYNCED;
        assert_int_equal(rules_event(t->r, &e, &t->c, &t->out), 0);
        rt_collect(t);
}

static inline void rt_event(struct rt *t, uint32_t sensor, enum event_type type, double value)
{
        rt_event_flags(t, sensor, type, value, 0);
}

/* Let dt pass, ticking exactly when the engine asked to be woken. */
static inline void rt_run(struct rt *t, usec_t dt)
{
        usec_t target = t->c.mono + dt;
        for (unsigned guard = 0; guard < 1000000; guard++) {
                usec_t w = rules_next_wakeup(t->r);
                if (w > target)
                        break;
                if (w > t->c.mono) {
                        t->c.wall += w - t->c.mono;
                        t->c.mono = w;
                }
                rt_tick(t);
                assert_true(rules_next_wakeup(t->r) > t->c.mono); /* never asks to be woken in the past twice */
        }
        t->c.wall += target - t->c.mono;
        t->c.mono = target;
}

static inline void rt_run_until(struct rt *t, const char *when)
{
        usec_t w = rt_local(when);
        assert_true(w >= t->c.wall);
        rt_run(t, w - t->c.wall);
}

/* Forget what was logged so far: the next checks see only what comes after. */
static inline void rt_mark(struct rt *t)
{
        t->mark = t->n_log;
}

static inline size_t rt_count(struct rt *t, enum decision_kind kind, enum rule_id rule)
{
        size_t n = 0;
        for (size_t i = t->mark; i < t->n_log; i++)
                n += t->log[i].d.kind == kind && t->log[i].d.rule == rule;
        return n;
}

static inline size_t rt_count_all(struct rt *t)
{
        return t->n_log - t->mark;
}

/* The last decision of that kind and rule since the mark, or NULL. */
static inline const struct rt_logged *rt_find(struct rt *t, enum decision_kind kind, enum rule_id rule)
{
        for (size_t i = t->n_log; i > t->mark; i--)
                if (t->log[i - 1].d.kind == kind && t->log[i - 1].d.rule == rule)
                        return &t->log[i - 1];
        return NULL;
}

/* The first one since the mark. */
static inline const struct rt_logged *rt_first(struct rt *t, enum decision_kind kind, enum rule_id rule)
{
        for (size_t i = t->mark; i < t->n_log; i++)
                if (t->log[i].d.kind == kind && t->log[i].d.rule == rule)
                        return &t->log[i];
        return NULL;
}

/* Assert the decision came at local time "HH:MM" (to the minute). */
static inline void rt_assert_at(const struct rt_logged *l, const char *hhmm)
{
        char buf[32];
        assert_non_null(l);
        assert_string_equal(rt_hhmm(l->wall, buf, sizeof(buf), strlen(hhmm) > 5), hhmm);
}

static inline struct rules_settings rt_settings(const char *key, const char *value)
{
        struct rules_settings s;
        char *err = NULL;
        rules_settings_default(&s);
        if (key && rules_settings_set(&s, key, value, &err) < 0)
                fail_msg("%s", err);
        return s;
}
