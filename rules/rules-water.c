/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Water (issue 11): meter pulses and cumulative readings turned into use,
 * the half-hour slots the daemon stores, and the water rules — low use
 * (welfare), a tap left running, abnormal use.
 *
 * Use is kept per meter on the monotonic clock: litres per hour for 26
 * hours (the low-use and daily windows) and one bit per half-hour for 24
 * hours (flow in every slot). Storage slots are separate and aligned to the
 * wall clock's half-hours, emitted only while it is synchronised.
 *
 * What a meter did not tell us stays unknown: readings further apart than
 * water_gap break the meter's "known since", and the low-use rule needs a
 * whole known window; a total that goes down is a replaced meter or a stray
 * old reading, never negative use; a duplicate is nothing.
 */

#include <stdlib.h>

#include "rules/rules-internal.h"

#define HOUR 3600
#define HALF 1800
/* A cumulative meter must report at least this often to say a tap is running. */
#define TOTAL_RUN_MAX_INTERVAL 600
/* Readings at most this far apart mark flow in every half-hour they span. */
#define FLOW_SPAN_MAX (HALF + 5 * 60)
/* Readings closer than this with the same total are duplicates (a resent telegram). */
#define DUPLICATE_WITHIN 5

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int ring_index(int64_t bucket, int n)
{
        int64_t i = bucket % n;
        return (int)(i < 0 ? i + n : i);
}

static int64_t min64(int64_t a, int64_t b)
{
        return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
        return a > b ? a : b;
}

int meter_new(Rules *r, uint32_t sensor_index, double litres_per_pulse)
{
        if (r->n_meters >= INT32_MAX / 4)
                return -E2BIG;
        if (r->n_meters == r->alloc_meters) {
                size_t n = r->alloc_meters ? r->alloc_meters * 2 : 16;
                struct meter *m = realloc(r->meters, n * sizeof(*m));
                if (!m)
                        return -ENOMEM;
                r->meters = m;
                r->alloc_meters = n;
        }
        r->meters[r->n_meters] = (struct meter){
                .sensor = (int32_t)sensor_index,
                .litres_per_pulse = litres_per_pulse > 0 && isfinite(litres_per_pulse) ? (float)litres_per_pulse : 0,
                .last_read = SECS_UNKNOWN,
                .known_from = SECS_UNKNOWN,
                .run_start = SECS_UNKNOWN,
                .last_flow = SECS_UNKNOWN,
                .hour_head = SECS_UNKNOWN,
                .half_head = SECS_UNKNOWN,
        };
        return (int)r->n_meters++;
}

static const struct sensor *meter_sensor(Rules *r, const struct meter *m)
{
        return &r->sensors[m->sensor];
}

static const struct rules_settings *meter_settings(Rules *r, const struct meter *m)
{
        return subject_settings(r, sensor_resident(meter_sensor(r, m)));
}

/* ---- the rings ----------------------------------------------------------------------------------------- */

static void ring_advance(struct meter *m, secs_t now)
{
        int64_t h = floor_div(now, HOUR), f = floor_div(now, HALF);

        if (m->hour_head == SECS_UNKNOWN || h - m->hour_head >= WATER_HOURS) {
                memset(m->dl, 0, sizeof(m->dl));
                m->hour_head = (int32_t)h;
        }
        while (m->hour_head < h) {
                m->hour_head++;
                m->dl[ring_index(m->hour_head, WATER_HOURS)] = 0;
        }
        if (m->half_head == SECS_UNKNOWN || f - m->half_head >= 64)
                m->flow = 0;
        else if (f > m->half_head)
                m->flow <<= (unsigned)(f - m->half_head);
        if (m->half_head == SECS_UNKNOWN || f > m->half_head)
                m->half_head = (int32_t)f;
}

static void ring_add(struct meter *m, secs_t at, double litres)
{
        int64_t h = floor_div(at, HOUR);

        if (litres <= 0 || m->hour_head == SECS_UNKNOWN || h > m->hour_head || m->hour_head - h >= WATER_HOURS)
                return;
        uint16_t *b = &m->dl[ring_index(h, WATER_HOURS)];
        double v = *b + litres * 10;
        *b = v >= UINT16_MAX ? UINT16_MAX : (uint16_t)lround(v);
}

static void ring_flow(struct meter *m, secs_t from, secs_t to)
{
        int64_t a = floor_div(from, HALF), b = floor_div(to, HALF);

        if (m->half_head == SECS_UNKNOWN)
                return;
        for (int64_t f = max64(a, (int64_t)m->half_head - 63); f <= b && f <= m->half_head; f++)
                m->flow |= 1ull << (unsigned)(m->half_head - f);
}

/* Decilitres in hours first_hour..head. */
static uint64_t ring_sum(const struct meter *m, int64_t first_hour)
{
        uint64_t sum = 0;

        if (m->hour_head == SECS_UNKNOWN)
                return 0;
        for (int64_t h = max64(first_hour, (int64_t)m->hour_head - WATER_HOURS + 1); h <= m->hour_head; h++)
                sum += m->dl[ring_index(h, WATER_HOURS)];
        return sum;
}

/* ---- storage slots ------------------------------------------------------------------------------------- */

#define SLOT_USEC (30 * USEC_PER_MINUTE)

/* Storage slots are numbered: wall seconds / 1800 (fits 32 bits until 2106). */
static uint32_t slot_of(usec_t wall)
{
        return (uint32_t)(wall / SLOT_USEC);
}

static usec_t slot_wall(uint32_t slot)
{
        return (usec_t)slot * SLOT_USEC;
}

static secs_t meter_known_from(Rules *r, const struct meter *m)
{
        /* A wired pulse meter is known since we started reading it. */
        if (m->known_from == SECS_UNKNOWN && (meter_sensor(r, m)->flags & SF_WIRED))
                return r->start_s;
        return m->known_from;
}

bool meter_fresh(Rules *r, const struct meter *m, const struct now_ctx *n)
{
        const struct sensor *x = meter_sensor(r, m);

        if (x->flags & SF_UNAVAILABLE)
                return false;
        if ((x->flags & SF_WIRED) || x->kind == SENSOR_WATER_FLOW)
                return true; /* no pulse is "no water"; a flow switch only speaks on change */
        if (m->last_read == SECS_UNKNOWN)
                return false;
        return (int64_t)n->s - m->last_read <= dur_s(meter_settings(r, m)->water_gap);
}

/* The slot ended: if the meter was known for all of it and nothing was emitted, it used 0 litres. */
static int slot_close(Rules *r, struct meter *m, const struct now_ctx *n, struct rule_output *out)
{
        secs_t kf = meter_known_from(r, m);

        if (!m->slot || (m->flags & MF_SLOT_TOLD) || kf == SECS_UNKNOWN || !meter_fresh(r, m, n))
                return 0;
        if (kf > mono_of_wall(n, slot_wall(m->slot)))
                return 0;
        m->flags |= MF_SLOT_TOLD;
        return out_push_slot(out, meter_sensor(r, m)->num, slot_wall(m->slot), 0);
}

static int slot_add(Rules *r, struct meter *m, const struct now_ctx *n, double litres, struct rule_output *out)
{
        uint32_t b;
        int k;

        if (!n->wall_ok)
                return 0; /* no wall time to file it under; the rules still count it */
        b = slot_of(n->c->wall);
        /* Never rewrite an earlier slot after the clock went back: keep adding to the last one. */
        if (!m->slot || b > m->slot) {
                k = slot_close(r, m, n, out);
                if (k < 0)
                        return k;
                m->slot = b;
                m->slot_litres = 0;
                m->flags &= (uint8_t)~MF_SLOT_TOLD;
        }
        m->slot_litres += (float)litres;
        m->flags |= MF_SLOT_TOLD;
        return out_push_slot(out, meter_sensor(r, m)->num, slot_wall(m->slot), m->slot_litres);
}

void water_housekeeping(Rules *r, const struct now_ctx *n, struct rule_output *out)
{
        if (!n->wall_ok)
                return;
        uint32_t b = slot_of(n->c->wall);
        if (b == r->last_hk_slot)
                return;
        r->last_hk_slot = b;
        for (size_t i = 0; i < r->n_meters; i++) {
                struct meter *m = &r->meters[i];
                if (meter_sensor(r, m)->kind != SENSOR_WATER_METER)
                        continue;
                if (m->slot && m->slot < b) {
                        if (slot_close(r, m, n, out) < 0)
                                return; /* out of memory: the next boundary tries again */
                }
                if (!m->slot || m->slot < b) {
                        m->slot = b;
                        m->slot_litres = 0;
                        m->flags &= (uint8_t)~MF_SLOT_TOLD;
                }
        }
}

/* ---- events -------------------------------------------------------------------------------------------- */

/* The longest pause between pulses while a tap runs at the least flow we count as running. */
static int64_t pulse_gap(const struct meter *m, const struct rules_settings *s)
{
        double lpp = m->litres_per_pulse > 0 ? m->litres_per_pulse : 1;
        double gap = 1.5 * lpp / s->tap_min_flow * 60;
        return gap < 60 ? 60 : gap > 24 * 3600 ? 24 * 3600 : (int64_t)ceil(gap);
}

int64_t meter_pulse_gap(Rules *r, const struct meter *m)
{
        return pulse_gap(m, meter_settings(r, m));
}

/*
 * Tell the store about a flat's run of flow (rule_state), so that a restart
 * continues it from its real start: while it runs, at every flow (the daemon
 * writes the last value of each key per group commit); once when it ends.
 */
int meter_run_told(Rules *r, struct meter *m, const struct now_ctx *n, bool flowed, struct rule_output *out)
{
        const struct sensor *x = meter_sensor(r, m);
        int k;

        if (x->owner < 0)
                return 0; /* no tap rule for a common-area meter */
        if (!(m->flags & MF_RUNNING)) {
                if (!(m->flags & MF_RUN_TOLD))
                        return 0;
                m->flags &= (uint8_t)~MF_RUN_TOLD;
                return out_push_state(out, RULE_STATE_SENSOR, x->num, SK_TAP_RUN_START, 0);
        }
        if (!flowed || !n->wall_ok)
                return 0; /* wall times only from a synchronised clock; the next flow tells it */
        uint32_t num = x->num;
        int64_t start = (int64_t)wall_of_mono(n, m->run_start), last = (int64_t)wall_of_mono(n, m->last_flow);
        k = out_push_state(out, RULE_STATE_SENSOR, num, SK_TAP_RUN_START, start);
        if (k >= 0)
                k = out_push_state(out, RULE_STATE_SENSOR, num, SK_TAP_LAST_FLOW, last);
        if (k >= 0)
                k = out_push_state(out, RULE_STATE_SENSOR, num, SK_TAP_RUN_ML, llround((double)m->run_litres * 1000));
        if (k >= 0 && (m->flags & MF_HAVE_TOTAL) && !(m->flags & MF_PULSES))
                k = out_push_state(out, RULE_STATE_SENSOR, num, SK_TAP_TOTAL_ML, llround(m->total * 1000));
        if (k < 0)
                return k;
        m->flags |= MF_RUN_TOLD;
        return 0;
}

static void run_flow(struct meter *m, secs_t start, secs_t now, double litres, bool *activity)
{
        if (!(m->flags & MF_RUNNING)) {
                m->flags |= MF_RUNNING;
                m->flags &= (uint8_t)~MF_ENDED_UNKNOWN;
                m->run_start = start;
                m->run_litres = 0;
                /* Turning water on is a person; water that keeps running is not news of one. */
                *activity = true;
        }
        m->last_flow = now;
        m->run_litres += (float)litres;
}

static void run_end(struct meter *m, bool unknown)
{
        if (!(m->flags & MF_RUNNING))
                return;
        m->flags &= (uint8_t)~MF_RUNNING;
        if (unknown)
                m->flags |= MF_ENDED_UNKNOWN;
        else
                m->flags &= (uint8_t)~MF_ENDED_UNKNOWN;
}

void meter_restore_total(Rules *r, struct meter *m, double total, secs_t at)
{
        m->total = total;
        m->flags |= MF_HAVE_TOTAL;
        m->flags &= (uint8_t)~MF_HAVE_PENDING;
        m->last_read = at;
}

static int total_reading(Rules *r, struct meter *m, const struct sensor_event *e, const struct now_ctx *n,
                         struct rule_output *out, bool *activity, secs_t *ret_used_at)
{
        const struct rules_settings *s = meter_settings(r, m);
        double v = e->value;
        secs_t now = n->s, prev = m->last_read;

        if (!isfinite(v) || v < 0)
                return 0;
        /* wmbusmeters gives the telegram's own time: an older or equal one is a late or repeated copy. */
        if (e->flags & EVENT_SOURCE_TIME) {
                uint32_t w = (uint32_t)(e->wall / USEC_PER_SEC);
                if (m->read_wall && w <= m->read_wall)
                        return 0;
                m->read_wall = w;
        }
        m->flags |= MF_SEEN;
        if (!(m->flags & MF_HAVE_TOTAL) || prev == SECS_UNKNOWN) {
                m->total = v;
                m->flags |= MF_HAVE_TOTAL;
                m->last_read = now;
                m->known_from = now;
                return 0;
        }
        if (v < m->total) {
                /* Lower than before: a replaced meter or a wrapped counter if the next reading agrees,
                 * a stray old reading if it does not. Either way no negative use, none invented. */
                if (!(m->flags & MF_HAVE_PENDING)) {
                        m->pending = v;
                        m->flags |= MF_HAVE_PENDING;
                        return 0;
                }
                double used = v >= m->pending ? v - m->pending : 0;
                m->flags &= (uint8_t)~MF_HAVE_PENDING;
                m->total = v;
                m->last_read = now;
                m->known_from = now; /* what happened around the swap is unknown */
                run_end(m, true);
                if (used > 0) {
                        ring_add(m, now, used);
                        *ret_used_at = now;
                        *activity = true;
                        return slot_add(r, m, n, used, out);
                }
                return 0;
        }
        m->flags &= (uint8_t)~MF_HAVE_PENDING;

        double delta = v - m->total;
        int64_t dt = (int64_t)now - prev;
        if (delta == 0 && dt < DUPLICATE_WITHIN)
                return 0;
        bool known = dt <= dur_s(s->water_gap);
        m->total = v;
        m->last_read = now;
        if (!known || m->known_from == SECS_UNKNOWN)
                m->known_from = now; /* the gap before this reading is unknown, never "no water" */

        bool flowing = false;
        if (delta > 0) {
                if (known) {
                        ring_add(m, now, delta);
                        ring_flow(m, dt <= FLOW_SPAN_MAX ? prev : now, now);
                }
                *ret_used_at = now;
                /* Two telegrams in the same second give no rate: a run going on goes on. */
                if (dt > 0)
                        flowing = known && dt <= TOTAL_RUN_MAX_INTERVAL && delta / (double)dt * 60 >= s->tap_min_flow;
                else
                        flowing = (m->flags & MF_RUNNING) && m->last_flow == prev;
        }
        if (flowing) {
                bool continues = (m->flags & MF_RUNNING) && m->last_flow == prev;
                if (!continues)
                        run_end(m, false);
                run_flow(m, prev, now, delta, activity);
        } else {
                run_end(m, false);
                if (delta > 0)
                        *activity = true; /* some use, not a running tap: someone used water */
        }
        /* Filed under the slot of the reading, even after a gap, so daily totals stay right. */
        return delta > 0 ? slot_add(r, m, n, delta, out) : 0;
}

int water_event(Rules *r, struct sensor *x, const struct sensor_event *e, const struct now_ctx *n, bool restoring,
                secs_t at, struct rule_output *out, bool *ret_activity)
{
        struct meter *m = &r->meters[x->meter];
        struct resident *res = x->owner >= 0 ? &r->residents[x->owner] : NULL;
        bool fresh = !restoring && !event_is_state_only(e);
        secs_t used_at = SECS_UNKNOWN, last_flow = m->last_flow;
        bool was_running = m->flags & MF_RUNNING;
        int k = 0;

        ring_advance(m, n->s);
        switch ((enum event_type)e->type) {
        case EVENT_WATER_FLOW:
                /* A flow switch: on/off, no litres. */
                if (e->value > 0) {
                        bool dummy = false;
                        run_flow(m, at, n->s, 0, fresh ? ret_activity : &dummy);
                        used_at = n->s;
                        ring_flow(m, n->s, n->s);
                } else
                        run_end(m, false);
                break;
        case EVENT_WATER_PULSES: {
                double litres = e->value;
                if (!fresh || !isfinite(litres) || litres <= 0)
                        break;
                const struct rules_settings *s = meter_settings(r, m);
                m->flags |= MF_PULSES | MF_SEEN;
                m->last_read = n->s;
                if ((m->flags & MF_RUNNING) && (int64_t)n->s - m->last_flow > pulse_gap(m, s))
                        run_end(m, false);
                run_flow(m, n->s, n->s, litres, ret_activity);
                ring_add(m, n->s, litres);
                ring_flow(m, n->s, n->s);
                used_at = n->s;
                k = slot_add(r, m, n, litres, out);
                break;
        }
        case EVENT_WATER_TOTAL:
                if (restoring)
                        meter_restore_total(r, m, e->value, at);
                else if (!fresh) {
                        /* A retained reading is old news: a baseline at most. */
                        if (!(m->flags & MF_HAVE_TOTAL) && isfinite(e->value) && e->value >= 0) {
                                m->total = e->value;
                                m->flags |= MF_HAVE_TOTAL;
                        }
                } else
                        k = total_reading(r, m, e, n, out, ret_activity, &used_at);
                break;
        case EVENT_WATER_FLOW_RATE:
        case EVENT_LEAK:
        case EVENT_CONTACT:
        case EVENT_MOTION:
        case EVENT_BUTTON:
        case EVENT_FALL:
        case EVENT_SMOKE:
        case EVENT_GAS:
        case EVENT_CO:
        case EVENT_SELF_TEST:
        case EVENT_BATTERY:
        case EVENT_BATTERY_LOW:
        case EVENT_TAMPER:
        case EVENT_AVAILABILITY:
        case EVENT_CHECK_IN:
        case EVENT_LOCK_FAULT:
        case _EVENT_TYPE_MAX:
                break;
        }
        if (res && used_at != SECS_UNKNOWN && fresh)
                res->last_water = used_at;
        if (k >= 0 && !restoring)
                k = meter_run_told(r, m, n, (m->flags & MF_RUNNING) && (!was_running || m->last_flow != last_flow),
                                   out);
        return k;
}

/* ---- restored slots ------------------------------------------------------------------------------------ */

static int pending_cmp(const void *a, const void *b)
{
        const struct pending_restore *x = a, *y = b;
        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        if (x->index != y->index)
                return x->index < y->index ? -1 : 1;
        if (x->key != y->key)
                return x->key < y->key ? -1 : 1;
        return x->wall < y->wall ? -1 : x->wall > y->wall;
}

int water_restore_slot(Rules *r, uint32_t meter, usec_t wall, double litres, const struct now_ctx *n)
{
        struct meter *m = &r->meters[meter];
        secs_t mid = mono_of_wall(n, wall + SLOT_USEC / 2);

        ring_advance(m, n->s);
        ring_add(m, mid, litres);
        if (litres > 0)
                ring_flow(m, mid, mid);
        /* The slot we are in continues from what was stored (slots are replaced, not added). */
        uint32_t sn = slot_of(wall);
        if (slot_of(n->c->wall) == sn && (!m->slot || m->slot <= sn)) {
                if (m->slot != sn)
                        m->slot_litres = 0;
                m->slot = sn;
                m->slot_litres = (float)litres > m->slot_litres ? (float)litres : m->slot_litres;
                m->flags |= MF_SLOT_TOLD;
        }
        return 0;
}

/*
 * Stored slots say the meter was known in those half-hours (a stored 0 is
 * "no water"). The run of consecutive slots that reaches up to the present
 * (within water_gap) gives back the meter's "known since", so a low-use
 * window that began before a restart is judged when it ends, not 12 hours
 * after the restart.
 */
int water_place_restored(Rules *r, const struct now_ctx *n)
{
        const usec_t slot = SLOT_USEC;
        size_t i = 0;

        qsort(r->pending, r->n_pending, sizeof(*r->pending), pending_cmp);
        while (i < r->n_pending && r->pending[i].kind != PENDING_SLOT)
                i++;
        /* A slot after the present (stored while the clock was wrong) is not ours to place. */
        uint32_t now_slot = slot_of(n->c->wall);
        while (i < r->n_pending && r->pending[i].kind == PENDING_SLOT) {
                size_t j = i;
                int32_t mi = r->pending[i].index;
                while (j < r->n_pending && r->pending[j].kind == PENDING_SLOT && r->pending[j].index == mi &&
                       slot_of(r->pending[j].wall) <= now_slot) {
                        int k = water_restore_slot(r, (uint32_t)mi, r->pending[j].wall, r->pending[j].litres, n);
                        if (k < 0)
                                return k;
                        j++;
                }
                if (j == i) {
                        /* Only future slots for this meter: skip them. */
                        while (j < r->n_pending && r->pending[j].kind == PENDING_SLOT && r->pending[j].index == mi)
                                j++;
                        i = j;
                        continue;
                }
                /* Walk back from the newest slot while the slots are consecutive. */
                struct meter *m = &r->meters[mi];
                usec_t end = r->pending[j - 1].wall + slot, start = r->pending[j - 1].wall;
                for (size_t q = j - 1; q > i && r->pending[q - 1].wall + slot >= r->pending[q].wall; q--)
                        start = r->pending[q - 1].wall;
                if (end > n->c->wall)
                        end = n->c->wall;
                secs_t kf = meter_known_from(r, m);
                int64_t reach = kf == SECS_UNKNOWN ? n->s : kf;
                int64_t gap = dur_s(meter_settings(r, m)->water_gap);
                if ((int64_t)mono_of_wall(n, end) >= reach - gap) {
                        secs_t from = mono_of_wall(n, start);
                        if (kf == SECS_UNKNOWN || from < kf)
                                m->known_from = from;
                        /* A reading of the same meter's total restored separately keeps last_read. */
                        if (m->last_read == SECS_UNKNOWN && !(meter_sensor(r, m)->flags & SF_WIRED))
                                m->last_read = mono_of_wall(n, end);
                }
                heap_set(r, sensor_subject(meter_sensor(r, m)), n->c->mono);
                /* Future slots of this meter, if any, are skipped. */
                while (j < r->n_pending && r->pending[j].kind == PENDING_SLOT && r->pending[j].index == mi)
                        j++;
                i = j;
        }
        return 0;
}

/* ---- rules --------------------------------------------------------------------------------------------- */

/* Is the run still going at now? Ends it when the pause says so. */
static bool run_going(Rules *r, struct meter *m, const struct now_ctx *n, int64_t *due)
{
        const struct sensor *x = meter_sensor(r, m);

        if (!(m->flags & MF_RUNNING))
                return false;
        if (x->kind == SENSOR_WATER_FLOW && !(m->flags & (MF_PULSES | MF_HAVE_TOTAL)))
                return true; /* a flow switch says when it stops */
        if (m->flags & MF_PULSES) {
                int64_t gap = pulse_gap(m, meter_settings(r, m));
                if ((int64_t)n->s - m->last_flow > gap) {
                        run_end(m, false);
                        return false;
                }
                *due = min64(*due, (int64_t)m->last_flow + gap + 1);
                return true;
        }
        if ((int64_t)n->s - m->last_flow > TOTAL_RUN_MAX_INTERVAL) {
                run_end(m, true); /* the meter went quiet: we no longer know */
                return false;
        }
        *due = min64(*due, (int64_t)m->last_flow + TOTAL_RUN_MAX_INTERVAL + 1);
        return true;
}

static int tap_evaluate(Rules *r, uint32_t i, const struct resident_view *v, const struct now_ctx *n,
                        struct rule_output *out, int64_t *due)
{
        struct resident *x = &r->residents[i];
        const struct rules_settings *s = x->s;
        int64_t after = dur_s(s->tap_running_after);
        struct meter *best = NULL;
        enum severity best_sev = SEVERITY_INFO;
        const char *best_key = NULL;
        bool any_running = false, unknown_end = false;

        for (int32_t j = x->subj.first_sensor; j >= 0; j = r->sensors[j].next) {
                if (!sensor_is_water(&r->sensors[j]))
                        continue;
                struct meter *m = &r->meters[r->sensors[j].meter];
                bool going = run_going(r, m, n, due);
                int k = meter_run_told(r, m, n, false, out); /* a run that ended by its pause */
                if (k < 0)
                        return k;
                if (!going) {
                        unknown_end = unknown_end || (m->flags & MF_ENDED_UNKNOWN);
                        continue;
                }
                any_running = true;
                if (!after)
                        continue;
                int64_t ran = (int64_t)n->s - m->run_start;
                if (ran < after) {
                        *due = min64(*due, (int64_t)m->run_start + after);
                        continue;
                }
                enum severity sev = SEVERITY_CRITICAL;
                const char *key;
                secs_t presence = resident_last(r, x->last_door > x->last_motion ? x->last_door : x->last_motion);
                if (ran >= 2 * after)
                        key = "tap_running.critical";
                else if (v->leak_wet)
                        key = "tap_running.leak";
                else if (x->lives_alone && v->has_motion_online && presence < m->run_start)
                        /* Nobody has moved since the water started: a motion sensor would have seen them. */
                        key = "tap_running.unattended";
                else {
                        sev = SEVERITY_WARNING;
                        key = "tap_running";
                        *due = min64(*due, (int64_t)m->run_start + 2 * after);
                }
                if (!best || sev > best_sev) {
                        best = m;
                        best_sev = sev;
                        best_key = key;
                }
        }
        if (best) {
                struct rule_decision d;
                decision_init(r, &d, DECISION_RAISE, RULE_TAP_RUNNING, best_sev, (int)i, x->building,
                              meter_sensor(r, best)->num);
                decision_key(&d, best_key);
                d.params.since_wall = wall_of_mono(n, best->run_start);
                d.params.duration = secs_to_usec((int64_t)n->s - best->run_start);
                d.params.litres = best->run_litres;
                return rule_raise(r, &x->subj, n, &d, false, out);
        }
        if (any_running)
                return 0;
        if (unknown_end) {
                rule_forget(&x->subj, RULE_TAP_RUNNING); /* not "stopped": we do not know */
                return 0;
        }
        return rule_clear(r, &x->subj, RULE_TAP_RUNNING, (int)i, x->building, out);
}

static int low_use_evaluate(Rules *r, uint32_t i, const struct now_ctx *n, bool away, secs_t away_end,
                            struct rule_output *out, int64_t *due)
{
        struct resident *x = &r->residents[i];
        const struct rules_settings *s = x->s;
        int64_t window = dur_s(s->water_low_window);
        double thr = s->water_low_litres * 10; /* decilitres */
        uint64_t sums[WATER_HOURS + 1] = { 0 }; /* sums[k]: use from hour head-k... to head, all meters */
        int64_t origin = INT64_MIN, head = INT64_MIN;
        bool all_known = true, any = false;

        if (!window || thr <= 0)
                return rule_clear(r, &x->subj, RULE_WATER_LOW_USE, (int)i, x->building, out);

        for (int32_t j = x->subj.first_sensor; j >= 0; j = r->sensors[j].next) {
                const struct sensor *sx = &r->sensors[j];
                if (sx->kind != SENSOR_WATER_METER)
                        continue;
                struct meter *m = &r->meters[sx->meter];
                secs_t kf = meter_known_from(r, m);
                ring_advance(m, n->s);
                any = true;
                head = m->hour_head;
                if (kf == SECS_UNKNOWN || !meter_fresh(r, m, n) || sensor_offline(r, s, sx, n->s, NULL))
                        all_known = false;
                else
                        origin = max64(origin, kf);
                for (int k = 0; k < WATER_HOURS; k++)
                        sums[k] += m->dl[ring_index((int64_t)m->hour_head - k, WATER_HOURS)];
        }
        if (!any)
                return 0;

        /* Use in the window, counted in whole hours from the hour the window starts in (never less than the truth). */
        int64_t first = floor_div((int64_t)n->s - window, HOUR);
        uint64_t used = 0;
        for (int64_t h = first; h <= head; h++)
                if (head - h < WATER_HOURS)
                        used += sums[head - h];

        if ((double)used >= thr) {
                int k = rule_clear(r, &x->subj, RULE_WATER_LOW_USE, (int)i, x->building, out);
                if (k < 0)
                        return k;
        }
        if (away || !all_known)
                return 0; /* silenced, or unknown: an offline meter is sensor_offline's news, not low use */

        int64_t start = max64(max64(origin, away_end == SECS_UNKNOWN ? INT64_MIN : away_end),
                              x->rearm[REARM_LOW_USE] == SECS_UNKNOWN ? INT64_MIN : x->rearm[REARM_LOW_USE]);
        if ((double)used < thr && (int64_t)n->s - window >= start) {
                struct rule_decision d;
                decision_init(r, &d, DECISION_RAISE, RULE_WATER_LOW_USE, SEVERITY_WARNING, (int)i, x->building, -1);
                d.params.litres = (double)used / 10;
                d.params.duration = s->water_low_window;
                return rule_raise(r, &x->subj, n, &d, false, out);
        }

        /* When could it become true without new use: the window must lie after `start`, and enough old use
         * must have left it. */
        int64_t t = max64((int64_t)n->s + 1, start + window);
        uint64_t left = used;
        int64_t f = first;
        while ((double)left >= thr && f <= head) {
                if (head - f < WATER_HOURS)
                        left -= sums[head - f];
                f++;
        }
        t = max64(t, f * HOUR + window);
        *due = min64(*due, t);
        return 0;
}

int water_evaluate_abnormal(Rules *r, struct subject *subj, int resident, int building, const struct now_ctx *n,
                            struct rule_output *out, int64_t *due)
{
        const struct rules_settings *s = subject_settings(r, resident);
        double thr = s->water_abnormal_litres_day * 10;
        const uint64_t every = ((1ull << WATER_HALVES) - 1) << 1; /* the 48 half-hours before the current one */
        struct meter *hit = NULL;
        uint64_t hit_sum = 0;
        bool hit_slots = false;

        for (int32_t j = subj->first_sensor; j >= 0; j = r->sensors[j].next) {
                const struct sensor *sx = &r->sensors[j];
                if (sx->kind != SENSOR_WATER_METER)
                        continue;
                struct meter *m = &r->meters[sx->meter];
                ring_advance(m, n->s);
                uint64_t day = ring_sum(m, (int64_t)m->hour_head - 23);
                bool volume = thr > 0 && (double)day > thr;
                bool slots = s->water_every_slot && (m->flow & every) == every;
                if ((volume || slots) && !hit) {
                        hit = m;
                        hit_sum = day;
                        hit_slots = slots && !volume;
                }
                /* A half-hour boundary settles "every slot" (and ends it); an hour boundary lets old use
                 * leave the day. Only meters with something going on wake up for it. */
                if (s->water_every_slot && (m->flow & 1))
                        *due = min64(*due, (floor_div(n->s, HALF) + 1) * HALF);
                if (volume)
                        *due = min64(*due, (floor_div(n->s, HOUR) + 1) * HOUR);
        }
        if (hit || rule_latched(subj, RULE_WATER_ABNORMAL))
                *due = min64(*due, (floor_div(n->s, HALF) + 1) * HALF);
        if (!hit)
                return rule_clear(r, subj, RULE_WATER_ABNORMAL, resident, building, out);

        struct rule_decision d;
        decision_init(r, &d, DECISION_RAISE, RULE_WATER_ABNORMAL, SEVERITY_INFO, resident, building,
                      meter_sensor(r, hit)->num);
        decision_key(&d, hit_slots ? "water_abnormal.every_slot" : "water_abnormal.volume");
        d.flags = DECISION_COMMITTEE_ONLY | DECISION_PROPERTY;
        d.params.litres = (double)hit_sum / 10;
        d.params.duration = 24 * USEC_PER_HOUR;
        return rule_raise(r, subj, n, &d, false, out);
}

int water_evaluate_resident(Rules *r, uint32_t i, const struct resident_view *v, const struct now_ctx *n, bool away,
                            secs_t away_end, struct rule_output *out, int64_t *due)
{
        struct resident *x = &r->residents[i];
        int k;

        k = tap_evaluate(r, i, v, n, out, due);
        if (k >= 0)
                k = low_use_evaluate(r, i, n, away, away_end, out, due);
        if (k >= 0)
                k = water_evaluate_abnormal(r, &x->subj, (int)i, x->building, n, out, due);
        return k;
}
