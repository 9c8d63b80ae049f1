/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule state that outlives the process: the small values the engine hands
 * the daemon to keep (a tap run in progress, tonight's door openings, the
 * morning check judged today) and how they come back after a restart.
 *
 * What is kept is what cannot be worked out again from the other restored
 * state (last activity, each sensor's last known state, water slots, open
 * alerts). Wall-clock values only: the monotonic clock starts again at 0
 * after a reboot. Values that are wall times wait, like water slots, until
 * the wall clock is synchronised and are placed at the first tick or event
 * after that, when each sensor's restored state is known, so that a value
 * the sensor contradicts (a door since closed, a meter whose last reading is
 * not the run's) is dropped instead of believed.
 */

#include "rules/rules-internal.h"

/* A pulse meter's run continues over a restart that took at most this long (plus its own pause). */
#define RESTART_GRACE (10 * 60)

static const struct {
        enum rule_state_subject kind;
        enum rule_id rule;
        const char *key;
        bool wall; /* a wall time (or one tied to it): placed once the clock is synchronised */
} state_keys[_SK_MAX] = {
        [SK_TAP_RUN_START] = { RULE_STATE_SENSOR, RULE_TAP_RUNNING, "run_start", true },
        [SK_TAP_LAST_FLOW] = { RULE_STATE_SENSOR, RULE_TAP_RUNNING, "last_flow", true },
        [SK_TAP_RUN_ML] = { RULE_STATE_SENSOR, RULE_TAP_RUNNING, "run_ml", true },
        [SK_TAP_TOTAL_ML] = { RULE_STATE_SENSOR, RULE_TAP_RUNNING, "total_ml", true },
        [SK_DOOR_OPENED_AT] = { RULE_STATE_SENSOR, RULE_NIGHT_WANDERING, "opened_at", true },
        [SK_NIGHT] = { RULE_STATE_RESIDENT, RULE_NIGHT_WANDERING, "night", false },
        [SK_MORNING_JUDGED] = { RULE_STATE_RESIDENT, RULE_MORNING_CHECK, "judged", false },
};

#define NIGHT_TOLD 500

int out_push_state(struct rule_output *o, enum rule_state_subject kind, uint32_t subject, enum state_key key,
                   int64_t value)
{
        const char *name = state_keys[key].key;
        enum rule_id rule = state_keys[key].rule;
        size_t stop = o->n_states > RULE_OUTPUT_DEDUP_WINDOW ? o->n_states - RULE_OUTPUT_DEDUP_WINDOW : 0;

        /* One update per (subject, key) and call: a burst of pulses replaces its own entry. */
        for (size_t i = o->n_states; i > stop; i--) {
                struct rule_state_update *u = &o->states[i - 1];
                if (u->kind == kind && u->subject == subject && u->key == name && u->rule == rule) {
                        u->value = value;
                        return 0;
                }
        }
        if (grow((void **)&o->states, &o->alloc_states, o->n_states + 1, sizeof(*o->states)) < 0)
                return -ENOMEM;
        o->states[o->n_states++] = (struct rule_state_update){
                .kind = kind, .subject = subject, .rule = rule, .key = name, .value = value
        };
        return 0;
}

int resident_night_told(Rules *r, uint32_t i, struct rule_output *out)
{
        const struct resident *x = &r->residents[i];
        int64_t v = (int64_t)x->night * 1000 + x->openings;

        if (!x->night)
                return 0;
        if (rule_latched(&x->subj, RULE_NIGHT_WANDERING))
                v += NIGHT_TOLD;
        return out_push_state(out, RULE_STATE_RESIDENT, i, SK_NIGHT, v);
}

static bool date_valid(int64_t d)
{
        return d >= 19700101 && d <= 29991231 && d % 100 >= 1 && d % 100 <= 31 && d / 100 % 100 >= 1 &&
               d / 100 % 100 <= 12;
}

int rules_restore_state(Rules *r, enum rule_state_subject kind, uint32_t subject, enum rule_id rule, const char *key,
                        int64_t value)
{
        int sk = -1;

        if (!r || !key || (unsigned)kind >= _RULE_STATE_SUBJECT_MAX)
                return -EINVAL;
        for (int k = 0; k < _SK_MAX; k++)
                if (state_keys[k].kind == kind && state_keys[k].rule == rule && streq(state_keys[k].key, key))
                        sk = k;
        if (sk < 0)
                return -EINVAL;

        switch (kind) {
        case RULE_STATE_RESIDENT: {
                if (subject >= r->n_residents)
                        return -ENOENT;
                struct resident *x = &r->residents[subject];
                if (sk == SK_MORNING_JUDGED) {
                        if (!date_valid(value))
                                return -EINVAL;
                        x->morning_done = (int32_t)value;
                        x->rflags |= RF_MORNING_RESTORED;
                } else if (sk == SK_NIGHT) {
                        int64_t night = value / 1000, rest = value % 1000;
                        if (value < 0 || !date_valid(night) || rest % NIGHT_TOLD > UINT8_MAX)
                                return -EINVAL;
                        /* The evaluation starts a new count when tonight is another night. */
                        x->night = (int32_t)night;
                        x->openings = (uint8_t)(rest % NIGHT_TOLD);
                        /* Told tonight: a person may have resolved it; either way not told again
                         * (an alert still open comes back with rules_restore_open_alert()). */
                        if (rest >= NIGHT_TOLD && !(x->subj.st[RULE_NIGHT_WANDERING] & RS_LATCHED))
                                x->subj.st[RULE_NIGHT_WANDERING] =
                                        (uint8_t)((x->subj.st[RULE_NIGHT_WANDERING] & ~(3u << RS_SEV_SHIFT)) |
                                                  RS_LATCHED | ((unsigned)SEVERITY_WARNING << RS_SEV_SHIFT));
                }
                heap_set(r, subject, 0);
                return 0;
        }
        case RULE_STATE_SENSOR: {
                struct sensor *x = sensor_by_num(r, subject);
                if (!x)
                        return -ENOENT;
                if (value < 0)
                        return -EINVAL;
                if (!state_keys[sk].wall)
                        return 0;
                return push_pending(r, &(struct pending_restore){
                                               .index = (int32_t)(x - r->sensors),
                                               .kind = PENDING_STATE,
                                               .key = (uint8_t)sk,
                                               .wall = (usec_t)value,
                                       });
        }
        case RULE_STATE_BUILDING:
                if (subject >= r->n_buildings)
                        return -ENOENT;
                return -EINVAL; /* nothing kept for buildings yet */
        case _RULE_STATE_SUBJECT_MAX:
                break;
        }
        return -EINVAL;
}

/* ---- placing what waited for the clock ----------------------------------------------------------------- */

struct restored {
        bool have[_SK_MAX];
        int64_t v[_SK_MAX];
};

static void place_tap_run(Rules *r, struct sensor *x, const struct restored *s, const struct now_ctx *n)
{
        struct meter *m = &r->meters[x->meter];
        int64_t start = s->v[SK_TAP_RUN_START];
        bool cont = false;

        if (!s->have[SK_TAP_RUN_START] || start <= 0 || (usec_t)start > n->c->wall || x->owner < 0)
                return;
        /* Told as running: if it cannot be continued, the next evaluation tells the store it ended. */
        m->flags |= MF_RUN_TOLD;

        if (x->kind == SENSOR_WATER_FLOW) {
                /* A flow switch said "flowing" last (its state came back): the same run, from its start. */
                cont = m->flags & MF_RUNNING;
        } else if (x->flags & SF_WIRED) {
                /* Pulses missed while we were down are lost: flow seen shortly before and after a restart is
                 * one run. The meter gets its pause from now to show flow again. */
                int64_t last = s->have[SK_TAP_LAST_FLOW] ? s->v[SK_TAP_LAST_FLOW] : start;
                if (last > 0 && (usec_t)last <= n->c->wall &&
                    (int64_t)((n->c->wall - (usec_t)last) / USEC_PER_SEC) <= meter_pulse_gap(r, m) + RESTART_GRACE) {
                        m->flags |= MF_RUNNING | MF_PULSES;
                        m->last_flow = n->s;
                        cont = true;
                }
        } else if ((m->flags & MF_HAVE_TOTAL) && m->last_read != SECS_UNKNOWN && s->have[SK_TAP_TOTAL_ML] &&
                   llround(m->total * 1000) == s->v[SK_TAP_TOTAL_ML]) {
                /* A cumulative meter: its restored total is the run's last reading, so the next reading
                 * tells whether water kept flowing the whole time we were down. */
                m->flags |= MF_RUNNING;
                m->last_flow = m->last_read;
                cont = true;
        }
        if (!cont)
                return;
        m->flags &= (uint8_t)~MF_ENDED_UNKNOWN;
        m->run_start = mono_of_wall(n, (usec_t)start);
        m->run_litres = s->have[SK_TAP_RUN_ML] ? (float)((double)s->v[SK_TAP_RUN_ML] / 1000) : 0;
}

static void place_door(Rules *r, struct sensor *x, const struct restored *s, const struct now_ctx *n)
{
        int64_t at = s->v[SK_DOOR_OPENED_AT];

        /* Only a door still known open; one that was closed since says so itself. */
        if (!s->have[SK_DOOR_OPENED_AT] || at <= 0 || (usec_t)at > n->c->wall || x->kind != SENSOR_DOOR ||
            x->owner < 0 || (x->flags & (SF_ACTIVE | SF_KNOWN)) != (SF_ACTIVE | SF_KNOWN))
                return;
        x->flags |= SF_NIGHT_OPEN;
        x->since = mono_of_wall(n, (usec_t)at);
}

/* pending[from..to) are PENDING_STATE entries sorted by sensor index. */
void state_place_restored(Rules *r, const struct now_ctx *n, size_t from, size_t to)
{
        size_t i = from;

        while (i < to) {
                struct restored s = { 0 };
                int32_t si = r->pending[i].index;
                for (; i < to && r->pending[i].index == si; i++) {
                        const struct pending_restore *p = &r->pending[i];
                        s.have[p->key] = true;
                        s.v[p->key] = (int64_t)p->wall;
                }
                struct sensor *x = &r->sensors[si];
                if (sensor_is_water(x))
                        place_tap_run(r, x, &s, n);
                else
                        place_door(r, x, &s, n);
                heap_set(r, sensor_subject(x), n->c->mono);
        }
}
