/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Judging one subject at "now": a resident (safety sensors, sensor health,
 * inactivity, morning check, door at night, night wandering, combined
 * rules, water) or a building's common area (smoke in the stairwell, the
 * entrance door, common sensors' health and water). Each evaluation is
 * level-based: it looks at the state, raises what is true (rule_raise()
 * decides whether that is news), clears what ended, and returns the next
 * monotonic time at which anything could change without an event.
 */

#include "rules/rules-internal.h"

static int64_t min64(int64_t a, int64_t b)
{
        return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
        return a > b ? a : b;
}

static usec_t minu(usec_t a, usec_t b)
{
        return a < b ? a : b;
}

/* ---- decisions for sensor-driven rules ----------------------------------------------------------------- */

void alarm_decision(Rules *r, const struct sensor *x, enum rule_id rule, const struct now_ctx *n, struct rule_decision *d)
{
        bool common = x->owner < 0;
        bool alone = !common && r->residents[x->owner].lives_alone;
        enum severity sev = SEVERITY_CRITICAL;
        unsigned flags = 0;
        const char *suffix = common ? ".common" : NULL;

        switch (rule) {
        case RULE_LEAK:
                /* The story: someone who lives alone may be lying on the floor next to the leak. */
                if (alone)
                        suffix = ".alone";
                break;
        case RULE_PANIC:
        case RULE_FALL:
                break;
        case RULE_SMOKE:
        case RULE_GAS:
        case RULE_CO:
                /* Fire and gas skip the tier timeout; in a common area they concern every flat. */
                flags = DECISION_URGENT_ALL | (common ? DECISION_BUILDING_WIDE : 0);
                break;
        case RULE_TAMPER:
        case RULE_BATTERY_LOW:
                sev = SEVERITY_INFO;
                flags = DECISION_COMMITTEE_ONLY;
                suffix = NULL;
                break;
        case RULE_SENSOR_OFFLINE:
                sev = SEVERITY_INFO;
                flags = DECISION_COMMITTEE_ONLY;
                suffix = (x->flags & SF_UNAVAILABLE) ? ".unavailable" : ".silent";
                break;
        case RULE_INACTIVITY:
        case RULE_MORNING_CHECK:
        case RULE_DOOR_OPEN_NIGHT:
        case RULE_NIGHT_WANDERING:
        case RULE_BUILDING_DOOR:
        case RULE_COMBINED:
        case RULE_WATER_LOW_USE:
        case RULE_TAP_RUNNING:
        case RULE_WATER_ABNORMAL:
        case _RULE_ID_MAX:
                break;
        }
        decision_init(r, d, DECISION_RAISE, rule, sev, sensor_resident(x), sensor_building(r, x), x->num);
        d->flags = flags;
        if (suffix)
                snprintf(d->text_key, sizeof(d->text_key), "%s%s", rule_id_to_string(rule), suffix);
        if (rule == RULE_SENSOR_OFFLINE && x->last_seen != SECS_UNKNOWN) {
                d->params.since_wall = wall_of_mono(n, x->last_seen);
                d->params.duration = secs_to_usec((int64_t)n->s - x->last_seen);
        }
}

/* The building door's lock reports a fault: info to the building-group leader, like a door held open. */
void lock_fault_decision(Rules *r, const struct sensor *x, const struct now_ctx *n, struct rule_decision *d)
{
        decision_init(r, d, DECISION_RAISE, RULE_BUILDING_DOOR, SEVERITY_INFO, -1, sensor_building(r, x), x->num);
        decision_key(d, "building_door.lock_fault");
        d->flags = DECISION_GROUP_LEADER;
}

/* ---- safety and sensor health, for residents and common areas alike ------------------------------------ */

static bool kind_is_activity(enum sensor_kind k)
{
        switch (k) {
        case SENSOR_DOOR:
        case SENSOR_MOTION:
        case SENSOR_WATER_FLOW:
        case SENSOR_WATER_METER:
                return true;
        case SENSOR_LEAK:
        case SENSOR_BUTTON: /* pressed rarely: counts when pressed, but alone cannot watch anyone */
        case SENSOR_FALL:
        case SENSOR_SMOKE:
        case SENSOR_GAS:
        case SENSOR_CO:
        case _SENSOR_KIND_MAX:
                break;
        }
        return false;
}

static int signal_of_kind(enum sensor_kind k)
{
        switch (k) {
        case SENSOR_DOOR:
                return SIGNAL_DOOR;
        case SENSOR_MOTION:
                return SIGNAL_MOTION;
        case SENSOR_WATER_FLOW:
        case SENSOR_WATER_METER:
                return SIGNAL_WATER;
        case SENSOR_LEAK:
        case SENSOR_BUTTON:
        case SENSOR_FALL:
        case SENSOR_SMOKE:
        case SENSOR_GAS:
        case SENSOR_CO:
        case _SENSOR_KIND_MAX:
                break;
        }
        return -1;
}

/* The state rules that come straight from a sensor's state. */
static enum rule_id state_rule(enum sensor_kind k)
{
        switch (k) {
        case SENSOR_LEAK:
                return RULE_LEAK;
        case SENSOR_FALL:
                return RULE_FALL;
        case SENSOR_SMOKE:
                return RULE_SMOKE;
        case SENSOR_GAS:
                return RULE_GAS;
        case SENSOR_CO:
                return RULE_CO;
        case SENSOR_DOOR:
        case SENSOR_MOTION:
        case SENSOR_BUTTON:
        case SENSOR_WATER_FLOW:
        case SENSOR_WATER_METER:
        case _SENSOR_KIND_MAX:
                break;
        }
        return _RULE_ID_MAX;
}

/* A per-sensor condition (offline, battery, tamper) on the subject's one alert for that rule. */
static int sensor_condition(Rules *r, struct subject *subj, struct sensor *x, enum rule_id rule, uint8_t told, bool on,
                            int count, const struct now_ctx *n, struct rule_output *out, bool *any)
{
        struct rule_decision d;

        if (!on) {
                x->flags2 &= (uint8_t)~told;
                return 0;
        }
        *any = true;
        if (x->flags2 & told)
                return 0;
        x->flags2 |= told;
        alarm_decision(r, x, rule, n, &d);
        /* How many of the subject's sensors are in this state: a second sensor's update may be held back
         * by the repeat limit, the count still says there is more than one. */
        d.params.count = count;
        /* Another sensor joining an open alert is a repeat of it (rate-limited). */
        return rule_raise(r, subj, n, &d, true, out);
}

static int safety_evaluate(Rules *r, struct subject *subj, int resident, int building, const struct rules_settings *s,
                           const struct now_ctx *n, struct resident_view *v, struct rule_output *out, int64_t *due)
{
        struct sensor *alarm[_RULE_ID_MAX] = { 0 };
        bool active[_RULE_ID_MAX] = { 0 };
        bool offline_any = false, battery_any = false, tamper_any = false;
        int n_offline = 0, n_battery = 0, n_tamper = 0, k;

        for (int32_t i = subj->first_sensor; i >= 0; i = r->sensors[i].next) {
                const struct sensor *x = &r->sensors[i];
                n_offline += sensor_offline(r, s, x, n->s, NULL);
                n_battery += !!(x->flags & SF_BATTERY_LOW);
                n_tamper += !!(x->flags & SF_TAMPER);
        }
        for (int32_t i = subj->first_sensor; i >= 0; i = r->sensors[i].next) {
                struct sensor *x = &r->sensors[i];
                enum sensor_kind kind = x->kind;
                bool offline = sensor_offline(r, s, x, n->s, due);

                k = sensor_condition(r, subj, x, RULE_SENSOR_OFFLINE, SF2_OFFLINE_TOLD, offline, n_offline, n, out,
                                     &offline_any);
                if (k >= 0)
                        k = sensor_condition(r, subj, x, RULE_BATTERY_LOW, SF2_BATTERY_TOLD, x->flags & SF_BATTERY_LOW,
                                             n_battery, n, out, &battery_any);
                if (k >= 0)
                        k = sensor_condition(r, subj, x, RULE_TAMPER, SF2_TAMPER_TOLD, x->flags & SF_TAMPER, n_tamper, n,
                                             out, &tamper_any);
                if (k < 0)
                        return k;

                enum rule_id sr = state_rule(kind);
                if (sr != _RULE_ID_MAX && (x->flags & SF_ACTIVE)) {
                        active[sr] = true;
                        if (!(x->flags2 & SF2_STALE) && !alarm[sr])
                                alarm[sr] = x;
                }

                if (v) {
                        int sig = signal_of_kind(kind);
                        bool online = !offline;
                        if (sensor_is_water(x))
                                online = online && meter_fresh(r, &r->meters[x->meter], n);
                        if (kind_is_activity(kind)) {
                                v->has_activity_sensor = true;
                                v->activity_online = v->activity_online || online;
                        }
                        if (sig >= 0) {
                                v->has_signal[sig] = true;
                                v->signal_online[sig] = v->signal_online[sig] || online;
                        }
                        if (kind == SENSOR_MOTION && online)
                                v->has_motion_online = true;
                        if (kind == SENSOR_LEAK && (x->flags & SF_ACTIVE) && !(x->flags2 & SF2_STALE))
                                v->leak_wet = true;
                        if (sensor_is_water(x))
                                v->has_meter = true;
                }
        }
        if (v) {
                v->has_signal[SIGNAL_ACTIVITY] = v->has_activity_sensor;
                v->signal_online[SIGNAL_ACTIVITY] = v->activity_online;
        }

        static const enum rule_id states[] = { RULE_LEAK, RULE_FALL, RULE_SMOKE, RULE_GAS, RULE_CO };
        for (size_t j = 0; j < ELEMENTSOF(states); j++) {
                enum rule_id sr = states[j];
                if (alarm[sr]) {
                        struct rule_decision d;
                        alarm_decision(r, alarm[sr], sr, n, &d);
                        k = rule_raise(r, subj, n, &d, false, out);
                } else if (!active[sr])
                        /* Dried, cleared, smoke gone: told, never closed (a person closes alerts). */
                        k = rule_clear(r, subj, sr, resident, building, out);
                else
                        k = 0; /* still active, but only as last known (retained or restored) state */
                if (k < 0)
                        return k;
        }
        k = 0;
        if (!offline_any)
                k = rule_clear(r, subj, RULE_SENSOR_OFFLINE, resident, building, out);
        if (k >= 0 && !battery_any)
                k = rule_clear(r, subj, RULE_BATTERY_LOW, resident, building, out);
        if (k >= 0 && !tamper_any)
                k = rule_clear(r, subj, RULE_TAMPER, resident, building, out);
        return k;
}

/* ---- away ---------------------------------------------------------------------------------------------- */

/*
 * Is the resident away at any moment of [from_wall, to_wall]? *ret_ended: the
 * latest end of a period that is over at now (quiet rules count from
 * there), *ret_due: when the current period ends. Needs a synchronised clock:
 * without one nobody is away, so welfare rules stay on — a false welfare
 * check costs a phone call, a missed one may cost a life.
 */
bool resident_away(Rules *r, const struct resident *res, const struct now_ctx *n, usec_t from_wall, usec_t to_wall,
                   usec_t *ret_ended, usec_t *ret_due)
{
        bool away = false;

        if (!n->wall_ok)
                return false;
        for (int32_t i = res->first_away; i >= 0; i = r->aways[i].next) {
                const struct away *a = &r->aways[i];
                if (a->from <= to_wall && a->until > from_wall)
                        away = true;
                if (ret_ended && a->until <= n->c->wall && a->until > *ret_ended)
                        *ret_ended = a->until;
                if (ret_due && a->from <= n->c->wall && a->until > n->c->wall)
                        *ret_due = minu(*ret_due, due_of_wall(n, a->until));
                if (ret_due && a->from > n->c->wall)
                        *ret_due = minu(*ret_due, due_of_wall(n, a->from));
        }
        return away;
}

/* ---- welfare ------------------------------------------------------------------------------------------- */

static secs_t latest(secs_t a, secs_t b)
{
        if (a == SECS_UNKNOWN)
                return b;
        if (b == SECS_UNKNOWN)
                return a;
        return a > b ? a : b;
}

static int inactivity_evaluate(Rules *r, uint32_t i, const struct resident_view *v, const struct now_ctx *n, bool away,
                               secs_t away_end, struct rule_output *out, int64_t *due)
{
        struct resident *x = &r->residents[i];
        int64_t after = dur_s(x->s->inactivity_after);
        secs_t last = resident_last(r, x->last_activity);

        if (!after || !v->has_activity_sensor)
                return rule_clear(r, &x->subj, RULE_INACTIVITY, (int)i, x->building, out);
        /* Activity within the period ends it; an away period or a resolve only moves the start. */
        if ((int64_t)n->s - last < after) {
                int k = rule_clear(r, &x->subj, RULE_INACTIVITY, (int)i, x->building, out);
                if (k < 0)
                        return k;
        }
        if (away)
                return 0;

        secs_t origin = latest(latest(last, away_end), x->rearm[REARM_INACTIVITY]);
        if ((int64_t)n->s - origin < after) {
                *due = min64(*due, (int64_t)origin + after);
                return 0;
        }

        struct rule_decision d;
        decision_init(r, &d, DECISION_RAISE, RULE_INACTIVITY, SEVERITY_WARNING, (int)i, x->building, -1);
        d.params.duration = secs_to_usec((int64_t)n->s - last);
        d.params.since_wall = x->last_activity == SECS_UNKNOWN ? 0 : wall_of_mono(n, last);
        if (!v->activity_online) {
                /* Offline is never "all is well": say the state is unknown rather than stay silent. */
                d.flags |= DECISION_UNKNOWN_STATE;
                decision_key(&d, "inactivity.unknown");
        }
        return rule_raise(r, &x->subj, n, &d, false, out);
}

static int morning_evaluate(Rules *r, uint32_t i, const struct resident_view *v, const struct now_ctx *n,
                            struct rule_output *out, usec_t *due)
{
        struct resident *x = &r->residents[i];
        const struct rules_settings *s = x->s;
        int k;

        if (!s->morning_check || !v->has_activity_sensor || !n->wall_ok || s->wake_start_min >= s->wake_end_min)
                return 0;

        usec_t w_today = local_time_at(r, n->date, s->wake_end_min);
        if (w_today == USEC_INFINITY)
                return 0;
        int day = n->c->wall >= w_today ? n->date : date_add_days(n->date, -1);
        usec_t w = day == n->date ? w_today : local_time_at(r, day, s->wake_end_min);
        usec_t next = day == n->date ? local_time_at(r, date_add_days(n->date, 1), s->wake_end_min) : w_today;
        secs_t last = resident_last(r, x->last_activity);
        usec_t act_wall = wall_of_mono(n, last);

        *due = minu(*due, due_of_wall(n, next));

        /* Up and about since the alert: the morning check's condition has ended. */
        if (x->morning_done && rule_latched(&x->subj, RULE_MORNING_CHECK) &&
            act_wall >= local_time_at(r, x->morning_done, s->wake_start_min)) {
                k = rule_clear(r, &x->subj, RULE_MORNING_CHECK, (int)i, x->building, out);
                if (k < 0)
                        return k;
        }
        usec_t start = local_time_at(r, day, s->wake_start_min);
        if (x->morning_done == day) {
                /* Judged already (before a restart, too). An alert of this morning still open in the store
                 * is continued, so that getting up later gives its CLEAR. */
                if ((x->subj.st[RULE_MORNING_CHECK] & RS_RESTORED) && act_wall < start) {
                        struct rule_decision d;
                        decision_init(r, &d, DECISION_RAISE, RULE_MORNING_CHECK, SEVERITY_WARNING, (int)i,
                                      x->building, -1);
                        return rule_raise(r, &x->subj, n, &d, false, out);
                }
                return 0;
        }
        /* The store said which day was judged last, and today's deadline passed while we were down:
         * judge it now, from the activity we know of. */
        bool catch_up = (x->rflags & RF_MORNING_RESTORED) && x->morning_done && x->morning_done < day &&
                        day == n->date;
        x->rflags &= (uint8_t)~RF_MORNING_RESTORED;
        x->morning_done = day;
        k = out_push_state(out, RULE_STATE_RESIDENT, i, SK_MORNING_JUDGED, day);
        if (k < 0)
                return k;

        /* A deadline from before the clock could be trusted (boot, jump) is not caught up on, unless the
         * store vouches that the day before was watched. */
        if (w <= r->trusted_since && !catch_up)
                return 0;
        if (catch_up)
                /* No activity known at all is no activity in the window; the start of the engine is not one. */
                act_wall = x->last_activity == SECS_UNKNOWN ? 0 : wall_of_mono(n, x->last_activity);
        if (resident_away(r, x, n, start, w, NULL, NULL))
                return 0;
        if (act_wall >= start)
                return 0;

        struct rule_decision d;
        rule_forget(&x->subj, RULE_MORNING_CHECK); /* each morning is its own episode */
        decision_init(r, &d, DECISION_RAISE, RULE_MORNING_CHECK, SEVERITY_WARNING, (int)i, x->building, -1);
        d.params.since_wall = x->last_activity == SECS_UNKNOWN ? 0 : act_wall;
        d.params.duration = secs_to_usec((int64_t)n->s - last);
        if (!v->activity_online) {
                d.flags |= DECISION_UNKNOWN_STATE;
                decision_key(&d, "morning_check.unknown");
        }
        return rule_raise(r, &x->subj, n, &d, false, out);
}

static int doors_evaluate(Rules *r, uint32_t i, const struct now_ctx *n, bool away, struct rule_output *out,
                          int64_t *due, usec_t *due_us)
{
        struct resident *x = &r->residents[i];
        const struct rules_settings *s = x->s;
        usec_t ns = 0, ne = 0, next = USEC_INFINITY;
        int night_id = 0, k;
        bool night = !away && night_now(r, s, n, &ns, &ne, &night_id, &next);
        int64_t open_after = dur_s(s->door_open_night_after), wander_after = dur_s(s->wandering_not_closed_after);
        struct sensor *open_long = NULL, *wander_open = NULL;
        bool any_open = false;

        if (night && x->night != night_id) {
                x->night = night_id;
                x->openings = 0;
                rule_forget(&x->subj, RULE_NIGHT_WANDERING); /* each night is its own episode */
                if (s->night_wandering) {
                        k = resident_night_told(r, i, out);
                        if (k < 0)
                                return k;
                }
        }
        for (int32_t j = x->subj.first_sensor; j >= 0; j = r->sensors[j].next) {
                struct sensor *d = &r->sensors[j];
                if (d->kind != SENSOR_DOOR || !(d->flags & SF_ACTIVE))
                        continue;
                any_open = true;
                if (!night) {
                        if (!away && open_after && next != USEC_INFINITY)
                                *due_us = minu(*due_us, due_of_wall(n, next) + secs_to_usec(open_after));
                        continue;
                }
                /* Open since the afternoon counts from the start of the night. */
                int64_t from = max64(d->since, mono_of_wall(n, ns));
                if (open_after) {
                        if ((int64_t)n->s - from >= open_after)
                                open_long = open_long ? open_long : d;
                        else
                                *due = min64(*due, from + open_after);
                }
                if (s->night_wandering && (d->flags & SF_NIGHT_OPEN) && wander_after) {
                        if ((int64_t)n->s - d->since >= wander_after)
                                wander_open = wander_open ? wander_open : d;
                        else
                                *due = min64(*due, (int64_t)d->since + wander_after);
                }
        }

        struct rule_decision dd;
        if (open_long) {
                decision_init(r, &dd, DECISION_RAISE, RULE_DOOR_OPEN_NIGHT, SEVERITY_WARNING, (int)i, x->building,
                              open_long->num);
                dd.params.since_wall = wall_of_mono(n, open_long->since);
                dd.params.duration = secs_to_usec((int64_t)n->s - open_long->since);
                k = rule_raise(r, &x->subj, n, &dd, false, out);
        } else if (!any_open)
                k = rule_clear(r, &x->subj, RULE_DOOR_OPEN_NIGHT, (int)i, x->building, out);
        else
                k = 0;
        if (k < 0)
                return k;

        /* Night wandering: one alert per night, to family and the group leader. */
        if (!s->night_wandering || !night) {
                rule_forget(&x->subj, RULE_NIGHT_WANDERING);
                if (s->night_wandering && !away && next != USEC_INFINITY)
                        *due_us = minu(*due_us, due_of_wall(n, next));
                return 0;
        }
        *due_us = minu(*due_us, due_of_wall(n, ne));
        bool repeated = x->openings > s->wandering_max_openings;
        if (!repeated && !wander_open)
                return 0;
        decision_init(r, &dd, DECISION_RAISE, RULE_NIGHT_WANDERING, SEVERITY_WARNING, (int)i, x->building,
                      wander_open ? (int64_t)wander_open->num : -1);
        dd.flags = DECISION_FAMILY_LEADER;
        dd.params.count = x->openings;
        if (wander_open) {
                decision_key(&dd, "night_wandering.not_closed");
                dd.params.since_wall = wall_of_mono(n, wander_open->since);
                dd.params.duration = secs_to_usec((int64_t)n->s - wander_open->since);
        } else
                decision_key(&dd, "night_wandering.repeated");
        bool told = rule_latched(&x->subj, RULE_NIGHT_WANDERING);
        k = rule_raise(r, &x->subj, n, &dd, false, out);
        /* Told tonight: kept, so that a restart does not tell the same night again. */
        if (k >= 0 && !told && rule_latched(&x->subj, RULE_NIGHT_WANDERING))
                k = resident_night_told(r, i, out);
        return k;
}

static secs_t signal_last(const struct resident *x, enum rule_signal sig)
{
        switch (sig) {
        case SIGNAL_ACTIVITY:
                return x->last_activity;
        case SIGNAL_DOOR:
                return x->last_door;
        case SIGNAL_MOTION:
                return x->last_motion;
        case SIGNAL_WATER:
                return x->last_water;
        case _SIGNAL_MAX:
                break;
        }
        return SECS_UNKNOWN;
}

/*
 * The composed rules: every listed signal quiet for its duration. A rule
 * whose signal has no sensor in the flat does not apply; one whose sensors
 * are all offline is raised with UNKNOWN_STATE, like inactivity.
 */
static int combined_evaluate(Rules *r, uint32_t i, const struct resident_view *v, const struct now_ctx *n, bool away,
                             secs_t away_end, struct rule_output *out, int64_t *due)
{
        struct resident *x = &r->residents[i];
        const struct rules_settings *s = x->s;
        const struct rules_combined *best = NULL;
        bool best_unknown = false, any_pure = false;
        int64_t best_quiet = 0;

        for (unsigned c = 0; c < s->n_combined && c < RULES_COMBINED_MAX; c++) {
                const struct rules_combined *rc = &s->combined[c];
                bool applies = true, all = true, pure = true, unknown = false;
                int64_t when = INT64_MIN, quiet_min = INT64_MAX;

                for (int sig = 0; sig < _SIGNAL_MAX; sig++)
                        if (rc->quiet[sig] && !v->has_signal[sig])
                                applies = false;
                if (!applies)
                        continue;
                for (int sig = 0; sig < _SIGNAL_MAX; sig++) {
                        if (!rc->quiet[sig])
                                continue;
                        int64_t need = dur_s(rc->quiet[sig]);
                        secs_t last = resident_last(r, signal_last(x, sig));
                        secs_t origin = latest(latest(last, away_end), x->rearm[REARM_COMBINED]);
                        if ((int64_t)n->s - last < need)
                                pure = false;
                        if ((int64_t)n->s - origin < need)
                                all = false;
                        when = max64(when, (int64_t)origin + need);
                        quiet_min = min64(quiet_min, (int64_t)n->s - last);
                        if (!v->signal_online[sig])
                                unknown = true;
                }
                any_pure = any_pure || pure;
                if (away)
                        continue;
                if (!all) {
                        *due = min64(*due, when);
                        continue;
                }
                if (!best || rc->severity > best->severity) {
                        best = rc;
                        best_unknown = unknown;
                        best_quiet = quiet_min;
                }
        }
        if (!any_pure) {
                int k = rule_clear(r, &x->subj, RULE_COMBINED, (int)i, x->building, out);
                if (k < 0)
                        return k;
        }
        if (!best)
                return 0;

        struct rule_decision d;
        decision_init(r, &d, DECISION_RAISE, RULE_COMBINED, best->severity, (int)i, x->building, -1);
        snprintf(d.text_key, sizeof(d.text_key), "combined.%s", best->name);
        d.params.duration = secs_to_usec(best_quiet);
        if (best_unknown)
                d.flags |= DECISION_UNKNOWN_STATE;
        return rule_raise(r, &x->subj, n, &d, false, out);
}

static void clear_restored(struct subject *subj)
{
        for (int k = 0; k < _RULE_ID_MAX; k++)
                subj->st[k] &= (uint8_t)~RS_RESTORED;
}

static usec_t due_total(int64_t due_s, usec_t due_us)
{
        if (due_s == INT64_MAX)
                return due_us;
        return minu(due_us, secs_to_usec(due_s));
}

int resident_evaluate(Rules *r, uint32_t i, const struct now_ctx *n, struct rule_output *out, usec_t *ret_due)
{
        struct resident *x = &r->residents[i];
        struct resident_view v = { 0 };
        int64_t due = INT64_MAX;
        usec_t due_us = USEC_INFINITY, ended = 0;
        int k;

        k = safety_evaluate(r, &x->subj, (int)i, x->building, x->s, n, &v, out, &due);
        if (k < 0)
                return k;

        bool away = resident_away(r, x, n, n->c->wall, n->c->wall, &ended, &due_us);
        secs_t away_end = ended ? mono_of_wall(n, ended) : SECS_UNKNOWN;

        k = inactivity_evaluate(r, i, &v, n, away, away_end, out, &due);
        if (k >= 0)
                k = morning_evaluate(r, i, &v, n, out, &due_us);
        if (k >= 0)
                k = doors_evaluate(r, i, n, away, out, &due, &due_us);
        if (k >= 0)
                k = combined_evaluate(r, i, &v, n, away, away_end, out, &due);
        if (k >= 0 && v.has_meter)
                k = water_evaluate_resident(r, i, &v, n, away, away_end, out, &due);
        if (k < 0)
                return k;
        clear_restored(&x->subj);
        *ret_due = due_total(due, due_us);
        return 0;
}

int building_evaluate(Rules *r, uint32_t b, const struct now_ctx *n, struct rule_output *out, usec_t *ret_due)
{
        struct building *x = &r->buildings[b];
        const struct rules_settings *s = &r->defaults;
        int64_t due = INT64_MAX, held = dur_s(s->building_door_held_after);
        struct sensor *open_long = NULL, *faulty = NULL;
        bool any_open = false, any_meter = false, any_fault = false;
        int k;

        k = safety_evaluate(r, &x->subj, -1, (int)b, s, n, NULL, out, &due);
        if (k < 0)
                return k;

        for (int32_t j = x->subj.first_sensor; j >= 0; j = r->sensors[j].next) {
                struct sensor *d = &r->sensors[j];
                any_meter = any_meter || sensor_is_water(d);
                if (d->kind == SENSOR_DOOR && (d->flags2 & SF2_LOCK_FAULT)) {
                        any_fault = true; /* a stale one only keeps "cleared" from being said */
                        if (!(d->flags2 & SF2_LOCK_STALE) && !faulty)
                                faulty = d;
                }
                if (d->kind != SENSOR_DOOR || !(d->flags & SF_ACTIVE))
                        continue;
                any_open = true;
                if (!held)
                        continue;
                if ((int64_t)n->s - d->since >= held)
                        open_long = open_long ? open_long : d;
                else
                        due = min64(due, (int64_t)d->since + held);
        }
        if (open_long) {
                struct rule_decision d;
                decision_init(r, &d, DECISION_RAISE, RULE_BUILDING_DOOR, SEVERITY_INFO, -1, (int)b, open_long->num);
                decision_key(&d, "building_door.held_open");
                d.flags = DECISION_GROUP_LEADER;
                d.params.since_wall = wall_of_mono(n, open_long->since);
                d.params.duration = secs_to_usec((int64_t)n->s - open_long->since);
                k = rule_raise(r, &x->subj, n, &d, false, out);
        } else if (faulty) {
                /* Held open says more ("close it"); a lock fault on a shut door is its own news. */
                struct rule_decision d;
                lock_fault_decision(r, faulty, n, &d);
                k = rule_raise(r, &x->subj, n, &d, false, out);
        } else if (!any_open && !any_fault)
                k = rule_clear(r, &x->subj, RULE_BUILDING_DOOR, -1, (int)b, out);
        if (k >= 0 && any_meter)
                k = water_evaluate_abnormal(r, &x->subj, -1, (int)b, n, out, &due);
        if (k < 0)
                return k;
        clear_restored(&x->subj);
        *ret_due = due_total(due, USEC_INFINITY);
        return 0;
}
