/* SPDX-License-Identifier: GPL-2.0-or-later */
/* From sensor events to rules to alerts, with health and group commit (see watch.h). */

#include "daemon/watch-internal.h"

#include <inttypes.h>
#include <math.h>

#include "daemon/log.h"
#include "sensors/gpio.h"
#include "sensors/health.h"
#include "sensors/source.h"

#define EVENT_BATCH_MAX 1024
/* Compact a queue's `later` list when it holds this many more entries than it has rows (see save_mark()). */
#define LATER_SLACK 64
#define LOGGED_TOPICS_MAX 1024
/* Water slots given back to the engine at load: its 25 hours of hourly use and 48 half-hours of flow, and a
 * half-hour over (slot = wall seconds / 1800). */
#define RESTORE_SLOTS 53
#define SLOT_SECONDS 1800

/*
 * A sensor as the loop keeps it: 40 bytes, and nothing allocated per sensor (a street's gateway holds 50,000,
 * docs/performance.md figure 4). Its health is what sensor_health says, with the state as a type and a value
 * rather than the "type=value" text the store keeps.
 */
struct sensor_rt {
        usec_t last_seen;       /* 0: never */
        usec_t available_since;
        double state_value;     /* the last normalised value of state_type, e.g. leak 1, contact 0 */
        uint32_t num;           /* its id is read from the store when it is named (sensor_id()) */
        uint16_t meter;         /* a water meter's index in Watch.meters + 1; 0: not a meter */
        int8_t battery;         /* percent, -1 unknown */
        int8_t saved_battery;   /* battery as the store has it; -1: unknown */
        int8_t available;       /* 1 online, 0 offline, -1 unknown */
        uint8_t kind;           /* enum sensor_kind */
        uint8_t state_type;     /* enum event_type of the state; STATE_NONE: no state known */
        bool wired : 1;
        bool seen_saved : 1;    /* the store has a last_seen for it (a first message is written soon) */
};
_Static_assert(sizeof(struct sensor_rt) == 40, "struct sensor_rt grew: 50,000 of these are the gateway's memory");
#define METERS_MAX UINT16_MAX
#define STATE_NONE UINT8_MAX
#define STATE_TEXT_MAX 48 /* "water_total=123456.789012345" */

/* A water meter's pulse count (sensor_health.counter), kept apart: a building has a handful. */
struct pulse_meter {
        double litres_per_pulse;
        int64_t counter; /* its pulses so far */
        bool dirty;
};

/*
 * When a row (a sensor's health, a resident's last activity) must be written: not at all, with the next
 * refresh (only its freshness moved: last seen, last activity, a battery level), or with the next group
 * commit (something a restart needs changed).
 */
enum save {
        SAVE_NONE,
        SAVE_LATER,
        SAVE_SOON,
};

/*
 * The rows waiting for a write, by index (into Watch.sensors, or the resident index), so a group commit
 * looks at those only, not at all 50,000 sensors. An index is in `soon` once while its state is SAVE_SOON;
 * `later` may hold stale entries (a row written early, or marked again): its state says what is true.
 */
struct save_queue {
        uint8_t *state; /* enum save, per index */
        uint32_t *soon, *later;
        size_t n, n_soon, alloc_soon, n_later, alloc_later;
};

struct Watch {
        sd_event *event;
        Store *store;
        Alerts *alerts;
        struct watch_settings st;
        struct rules_settings rules_defaults;

        Rules *rules;
        struct sensor_rt *sensors;
        size_t n_sensors;
        char id_buf[80];        /* sensor_id()'s answer */
        struct pulse_meter *meters;
        size_t n_meters, alloc_meters;
        uint32_t *by_num; /* sensor number → index + 1 */
        size_t by_num_size;

        struct name_table residents, buildings; /* ids, numbered as in the rules engine */
        struct string_pool resident_text;      /* residents' names and flats, for the alert's text */
        uint32_t *resident_name, *resident_flat; /* offsets in resident_text */
        int *resident_building;
        usec_t *last_activity;
        usec_t *saved_activity; /* as the store has it; 0: nothing */

        struct save_queue sensor_q, resident_q;
        usec_t refresh_due; /* CLOCK_BOOTTIME: the rows in a `later` list are written by then; 0: none wait */

        void *topics; /* TopicMap, see watch-mqtt.c */
        char **subs;
        size_t n_subs;
        GpioSet *gpio;

        struct sensor_event *pending;
        size_t n_pending, alloc_pending;
        /* What the rules want kept, until the next group commit (a later update replaces an earlier one). */
        struct store_water_slot *slots;
        size_t n_slots, alloc_slots;
        struct rule_state_update *states;
        size_t n_states, alloc_states;
        sd_event_source *commit_timer, *rules_timer, *refresh_timer;
        struct rule_output out;
        bool synced;

        char **logged_topics;
        size_t n_logged_topics;
        struct watch_stats stats;
};


/* A list that grew for a rare crowd — every resident's morning judged at a start, a burst of messages — is
 * given back once it is empty, so its peak does not stay our size (~1.5 MB with 10,000 residents); the lists of
 * ordinary work stay under this and keep their room. */
#define SCRATCH_KEEP 1024

static void drop_if_big(void *p, size_t *alloc)
{
        void **q = p;

        if (*alloc > SCRATCH_KEEP) {
                free(*q);
                *q = NULL;
                *alloc = 0;
        }
}

/* ---- rows waiting for a write ---------------------------------------------------------------------------------- */

static int save_queue_init(struct save_queue *q, size_t n)
{
        *q = (struct save_queue){ .state = calloc(n + 1, 1), .n = n };
        return q->state ? 0 : -ENOMEM;
}

static void save_queue_done(struct save_queue *q)
{
        free(q->state);
        free(q->soon);
        free(q->later);
        *q = (struct save_queue){ 0 };
}

static bool push_index(uint32_t **v, size_t *n, size_t *alloc, uint32_t i)
{
        if (*n == *alloc) {
                size_t na = *alloc ? *alloc * 2 : 256;
                uint32_t *nv = realloc(*v, na * sizeof(*nv));
                if (!nv)
                        return false;
                *v = nv;
                *alloc = na;
        }
        (*v)[(*n)++] = i;
        return true;
}

/* Drop the stale entries of `later` (and duplicates): it never grows beyond the rows plus a little. */
static void save_queue_compact(struct save_queue *q)
{
        size_t keep = 0;

        for (size_t k = 0; k < q->n_later; k++) {
                uint32_t i = q->later[k];
                if (q->state[i] != SAVE_LATER)
                        continue;
                q->state[i] = SAVE_LATER + 16; /* kept once */
                q->later[keep++] = i;
        }
        for (size_t k = 0; k < keep; k++)
                q->state[q->later[k]] = SAVE_LATER;
        q->n_later = keep;
}

static void arm_refresh(Watch *w);

/* Row i must be written at least as soon as `how` says. */
static void save_mark(Watch *w, struct save_queue *q, uint32_t i, enum save how)
{
        if (i >= q->n || how <= q->state[i])
                return;
        if (how == SAVE_SOON) {
                if (!push_index(&q->soon, &q->n_soon, &q->alloc_soon, i)) {
                        log_oom();
                        return;
                }
                q->state[i] = SAVE_SOON;
                return;
        }
        if (q->n_later >= q->n + LATER_SLACK)
                save_queue_compact(q);
        if (!push_index(&q->later, &q->n_later, &q->alloc_later, i)) {
                log_oom();
                return;
        }
        q->state[i] = SAVE_LATER;
        arm_refresh(w);
}

/* ---- life cycle --------------------------------------------------------------------------------------------- */

static struct rules_clock clock_now(Watch *w);
static void arm_rules(Watch *w);

/* A person resolved an alert: the rules may raise the condition again if it comes back. */
static void on_resolved(Alerts *a, const char *resident_id, const char *building_id, const char *rule, void *userdata)
{
        Watch *w = userdata;
        struct rules_clock now = clock_now(w);
        int res = resident_id ? name_table_find(&w->residents, resident_id) : -1;
        int b = building_id ? name_table_find(&w->buildings, building_id) : -1;
        int id = rule_id_from_string(rule);

        if (!w->rules || id < 0 || (resident_id && res < 0))
                return;
        rules_alert_resolved(w->rules, res, b, id, &now);
        arm_rules(w);
}

int watch_new(sd_event *e, Store *store, Alerts *alerts, const struct watch_settings *st, Watch **ret)
{
        Watch *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->event = sd_event_ref(e);
        w->store = store;
        w->alerts = alerts;
        w->st = *st;
        if (st->rules)
                w->rules_defaults = *st->rules;
        else
                rules_settings_default(&w->rules_defaults);
        w->st.rules = NULL;
        if (!w->st.commit_interval)
                w->st.commit_interval = USEC_PER_SEC;
        if (!w->st.refresh_interval)
                w->st.refresh_interval = 15 * USEC_PER_MINUTE;
        w->synced = true;
        alerts_set_resolved_callback(alerts, on_resolved, w);
        *ret = w;
        return 0;
}

static void free_roster(Watch *w)
{
        w->gpio = gpio_set_free(w->gpio);
        w->rules = rules_free(w->rules);
        free(w->sensors);
        w->sensors = NULL;
        w->n_sensors = 0;
        free(w->meters);
        w->meters = NULL;
        w->n_meters = w->alloc_meters = 0;
        free(w->by_num);
        w->by_num = NULL;
        w->by_num_size = 0;
        string_pool_done(&w->resident_text);
        free(w->resident_name);
        free(w->resident_flat);
        free(w->resident_building);
        free(w->last_activity);
        free(w->saved_activity);
        w->resident_name = w->resident_flat = NULL;
        w->resident_building = NULL;
        w->last_activity = NULL;
        w->saved_activity = NULL;
        save_queue_done(&w->sensor_q);
        save_queue_done(&w->resident_q);
        w->refresh_due = 0;
        if (w->refresh_timer)
                (void)sd_event_source_set_enabled(w->refresh_timer, SD_EVENT_OFF);
        name_table_done(&w->residents);
        name_table_done(&w->buildings);
        watch_topics_free(w->topics);
        w->topics = NULL;
        for (size_t i = 0; i < w->n_subs; i++)
                free(w->subs[i]);
        free(w->subs);
        w->subs = NULL;
        w->n_subs = 0;
}

Watch *watch_free(Watch *w)
{
        if (!w)
                return NULL;
        (void)watch_flush(w);
        free_roster(w);
        sd_event_source_disable_unref(w->commit_timer);
        sd_event_source_disable_unref(w->rules_timer);
        sd_event_source_disable_unref(w->refresh_timer);
        rule_output_done(&w->out);
        free(w->pending);
        free(w->slots);
        free(w->states);
        for (size_t i = 0; i < w->n_logged_topics; i++)
                free(w->logged_topics[i]);
        free(w->logged_topics);
        sd_event_unref(w->event);
        free(w);
        return NULL;
}

static struct rules_clock clock_now(Watch *w)
{
        return (struct rules_clock){
                .mono = now_usec(CLOCK_BOOTTIME),
                .wall = now_usec(CLOCK_REALTIME),
                .synced = w->synced,
        };
}

static struct sensor_rt *sensor_by_num(Watch *w, uint32_t num)
{
        if (num >= w->by_num_size || !w->by_num[num])
                return NULL;
        return &w->sensors[w->by_num[num] - 1];
}

/* A sensor's id, for an alert or the log: valid until the next call. 50,000 ids in memory were 0.6 MB for the
 * few times one is named; a sensor removed since the roster was read is named by its number. */
static const char *sensor_id(Watch *w, const struct sensor_rt *s)
{
        if (store_sensor_id(w->store, s->num, w->id_buf, sizeof(w->id_buf)) < 0)
                snprintf(w->id_buf, sizeof(w->id_buf), "#%" PRIu32, s->num);
        return w->id_buf;
}

static const char *resident_id(const Watch *w, size_t i)
{
        return name_table_get(&w->residents, i);
}

static const char *building_id(const Watch *w, size_t i)
{
        return name_table_get(&w->buildings, i);
}

static struct pulse_meter *sensor_meter(Watch *w, const struct sensor_rt *s)
{
        return s->meter ? &w->meters[s->meter - 1] : NULL;
}

/* The state as the store keeps it, "type=value" (exact: a meter's total must come back to the millilitre, %g
 * would keep 6 digits), in buf; NULL when none is known. */
static const char *state_text(const struct sensor_rt *s, char buf[static STATE_TEXT_MAX])
{
        if (s->state_type == STATE_NONE)
                return NULL;
        snprintf(buf, STATE_TEXT_MAX, "%s=%.15g", event_type_to_string(s->state_type), s->state_value);
        return buf;
}

/* The store's "type=value" back into s; anything else leaves no state. */
static void state_parse(struct sensor_rt *s, const char *text)
{
        char type[32];
        double value;
        int t;

        s->state_type = STATE_NONE;
        if (!text || sscanf(text, "%31[a-z_]=%lf", type, &value) != 2)
                return;
        t = event_type_from_string(type);
        if (t < 0 || t >= STATE_NONE)
                return;
        s->state_type = (uint8_t)t;
        s->state_value = value;
}

/* What the store's sensor_health row says for s (state_buf holds its text). */
static struct sensor_health health_of(const struct sensor_rt *s, char state_buf[static STATE_TEXT_MAX])
{
        return (struct sensor_health){
                .last_seen = s->last_seen,
                .battery = s->battery,
                .available = s->available,
                .available_since = s->available_since,
                .state = (char *)state_text(s, state_buf),
        };
}

static int8_t battery_percent(double v)
{
        return !(v >= 0) ? -1 : v > 100 ? 100 : (int8_t)v; /* NaN: unknown */
}

/* ---- group commit ------------------------------------------------------------------------------------------- */

/* The text subject of a rule state row: 'R201', 'building:B17', 'sensor:12'. NULL if the index is unknown or
 * on OOM. */
static char *state_subject(Watch *w, const struct rule_state_update *u)
{
        char *t = NULL;

        switch (u->kind) {
        case RULE_STATE_RESIDENT:
                return u->subject < w->residents.n ? strdup(resident_id(w, u->subject)) : NULL;
        case RULE_STATE_BUILDING:
                if (u->subject >= w->buildings.n || asprintf(&t, "building:%s", building_id(w, u->subject)) < 0)
                        return NULL;
                return t;
        case RULE_STATE_SENSOR:
                if (asprintf(&t, "sensor:%" PRIu32, u->subject) < 0)
                        return NULL;
                return t;
        case _RULE_STATE_SUBJECT_MAX:
                break;
        }
        return NULL;
}

/*
 * Take the rows a commit writes out of a queue: those marked SAVE_SOON, and with `all` those marked
 * SAVE_LATER too. Their state goes back to SAVE_NONE (an index in both lists is taken once). The indexes are
 * put in ret (room for n_soon + n_later).
 */
static size_t save_queue_take(struct save_queue *q, bool all, uint32_t *ret)
{
        size_t n = 0;

        for (size_t k = 0; k < q->n_soon; k++)
                if (q->state[q->soon[k]] == SAVE_SOON) {
                        q->state[q->soon[k]] = SAVE_NONE;
                        ret[n++] = q->soon[k];
                }
        q->n_soon = 0;
        if (!all)
                return n;
        for (size_t k = 0; k < q->n_later; k++)
                if (q->state[q->later[k]] == SAVE_LATER) {
                        q->state[q->later[k]] = SAVE_NONE;
                        ret[n++] = q->later[k];
                }
        q->n_later = 0;
        return n;
}

/*
 * The group commit: events, pulse counters, water slots and rule state, the sensor health and last
 * activity rows marked SAVE_SOON, and with `all` (a refresh is due, or watch_flush()) those marked
 * SAVE_LATER — in one transaction (store_group_commit()). A batch that cannot be saved is dropped after
 * saying so: events and this state are history and bookkeeping, not alerts, and a full disk must not grow
 * our memory. The rows stay marked as the store has them, so the next change tells again what to write.
 */
static int group_commit(Watch *w, bool all)
{
        struct store_group g = { .events = w->pending, .n_events = w->n_pending };
        _cleanup_free_ uint32_t *si = NULL, *ri = NULL;
        _cleanup_free_ struct store_health_update *u = NULL;
        _cleanup_free_ struct store_activity *a = NULL;
        _cleanup_free_ struct store_counter *c = NULL;
        _cleanup_free_ struct store_rule_state *st = NULL;
        _cleanup_free_ char *state_bufs = NULL;
        size_t n_si, n_ri;
        int r;

        if (!all && w->refresh_due && now_usec(CLOCK_BOOTTIME) >= w->refresh_due)
                all = true;
        if (all) {
                w->refresh_due = 0;
                if (w->refresh_timer)
                        (void)sd_event_source_set_enabled(w->refresh_timer, SD_EVENT_OFF);
        }
        if (!w->n_pending && !w->sensor_q.n_soon && !w->resident_q.n_soon && !w->n_slots && !w->n_states &&
            (!all || (!w->sensor_q.n_later && !w->resident_q.n_later)))
                return 0;

        si = calloc(w->sensor_q.n_soon + (all ? w->sensor_q.n_later : 0) + 1, sizeof(*si));
        ri = calloc(w->resident_q.n_soon + (all ? w->resident_q.n_later : 0) + 1, sizeof(*ri));
        if (!si || !ri)
                return log_oom();
        n_si = save_queue_take(&w->sensor_q, all, si);
        n_ri = save_queue_take(&w->resident_q, all, ri);

        u = calloc(n_si + 1, sizeof(*u));
        c = calloc(n_si + 1, sizeof(*c));
        state_bufs = malloc((n_si + 1) * STATE_TEXT_MAX);
        a = calloc(n_ri + 1, sizeof(*a));
        st = calloc(w->n_states + 1, sizeof(*st));
        if (!u || !a || !c || !st || !state_bufs)
                return log_oom();
        for (size_t k = 0; k < n_si; k++) {
                struct sensor_rt *x = &w->sensors[si[k]];
                struct pulse_meter *pm = sensor_meter(w, x);
                u[g.n_health++] = (struct store_health_update){
                        .num = x->num, .health = health_of(x, state_bufs + k * STATE_TEXT_MAX)
                };
                if (pm && pm->dirty)
                        c[g.n_counters++] = (struct store_counter){ .sensor_num = x->num, .counter = pm->counter };
        }
        for (size_t k = 0; k < n_ri; k++)
                a[g.n_activity++] = (struct store_activity){ .resident_id = resident_id(w, ri[k]),
                                                             .at = w->last_activity[ri[k]] };
        for (size_t i = 0; i < w->n_states; i++) {
                const struct rule_state_update *x = &w->states[i];
                char *subject = state_subject(w, x);
                if (!subject)
                        continue; /* a subject gone with a roster change: nothing to keep */
                st[g.n_states++] = (struct store_rule_state){
                        .subject = subject, .rule = rule_id_to_string(x->rule), .key = x->key, .value = x->value
                };
        }
        g.health = u;
        g.activity = a;
        g.counters = c;
        g.slots = w->slots;
        g.n_slots = w->n_slots;
        g.states = st;

        r = store_group_commit(w->store, &g);
        if (r < 0)
                /* Say it loudly and carry on. */
                log_error("Could not save %zu sensor events and the state that goes with them: %s", w->n_pending,
                          store_error(w->store));
        else {
                for (size_t k = 0; k < n_si; k++) {
                        struct sensor_rt *x = &w->sensors[si[k]];
                        x->seen_saved = x->last_seen != 0;
                        x->saved_battery = x->battery;
                }
                for (size_t k = 0; k < n_ri; k++)
                        if (w->last_activity[ri[k]] > w->saved_activity[ri[k]])
                                w->saved_activity[ri[k]] = w->last_activity[ri[k]]; /* the store keeps the max */
        }

        for (size_t i = 0; i < g.n_states; i++)
                free((char *)st[i].subject);
        for (size_t k = 0; k < n_si; k++) {
                struct pulse_meter *pm = sensor_meter(w, &w->sensors[si[k]]);
                if (pm)
                        pm->dirty = false;
        }
        w->n_pending = w->n_slots = w->n_states = 0;
        drop_if_big(&w->pending, &w->alloc_pending);
        drop_if_big(&w->slots, &w->alloc_slots);
        drop_if_big(&w->states, &w->alloc_states);
        return r;
}

int watch_commit(Watch *w)
{
        return group_commit(w, false);
}

int watch_flush(Watch *w)
{
        return group_commit(w, true);
}

static int on_commit(sd_event_source *s, uint64_t usec, void *userdata)
{
        (void)watch_commit(userdata);
        return 0;
}

static int on_refresh(sd_event_source *s, uint64_t usec, void *userdata)
{
        Watch *w = userdata;

        w->refresh_due = 0; /* due now: the commit writes the `later` rows */
        (void)group_commit(w, true);
        return 0;
}

/* The first row waiting for a refresh starts the clock: it and all that join it are written by then. */
static void arm_refresh(Watch *w)
{
        usec_t due;
        int r;

        if (w->refresh_due)
                return;
        due = now_usec(CLOCK_BOOTTIME) + w->st.refresh_interval;
        if (w->refresh_timer) {
                r = sd_event_source_set_time(w->refresh_timer, due);
                if (r >= 0)
                        r = sd_event_source_set_enabled(w->refresh_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(w->event, &w->refresh_timer, CLOCK_BOOTTIME, due, USEC_PER_SEC, on_refresh, w);
        if (r < 0) {
                /* Then the next group commit writes them. */
                log_error_errno(r, "Cannot arm the refresh timer: %m");
                due = now_usec(CLOCK_BOOTTIME);
        }
        w->refresh_due = due;
}

static void arm_commit(Watch *w)
{
        usec_t now;
        int enabled = SD_EVENT_OFF;

        if (w->commit_timer && sd_event_source_get_enabled(w->commit_timer, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                return;
        sd_event_now(w->event, CLOCK_BOOTTIME, &now);
        if (w->commit_timer) {
                (void)sd_event_source_set_time(w->commit_timer, now + w->st.commit_interval);
                (void)sd_event_source_set_enabled(w->commit_timer, SD_EVENT_ONESHOT);
        } else if (sd_event_add_time(w->event, &w->commit_timer, CLOCK_BOOTTIME, now + w->st.commit_interval,
                                     w->st.commit_interval / 4, on_commit, w) < 0)
                (void)watch_commit(w);
}

/* ---- decisions → alerts ------------------------------------------------------------------------------------- */

static unsigned alert_flags(unsigned d)
{
        unsigned f = 0;
        if (d & DECISION_URGENT_ALL)
                f |= ALERT_URGENT_ALL;
        if (d & DECISION_BUILDING_WIDE)
                f |= ALERT_BUILDING_WIDE;
        if (d & DECISION_UNKNOWN_STATE)
                f |= ALERT_UNKNOWN_STATE;
        if (d & DECISION_COMMITTEE_ONLY)
                f |= ALERT_COMMITTEE_ONLY;
        if (d & DECISION_PROPERTY)
                f |= ALERT_PROPERTY;
        if (d & DECISION_FAMILY_LEADER)
                f |= ALERT_FAMILY_LEADER;
        if (d & DECISION_GROUP_LEADER)
                f |= ALERT_GROUP_LEADER;
        return f;
}

static char *params_json(const struct decision_params *p)
{
        char since[ISO8601_MAX] = "";
        char *s;

        if (p->since_wall)
                format_iso8601(since, sizeof(since), p->since_wall);
        if (asprintf(&s, "{\"since\":%s%s%s,\"duration_s\":%llu,\"litres\":%.1f,\"count\":%d,\"lives_alone\":%d}",
                     *since ? "\"" : "", *since ? since : "null", *since ? "\"" : "",
                     (unsigned long long)(p->duration / USEC_PER_SEC), p->litres, p->count, p->lives_alone) < 0)
                return NULL;
        return s;
}

static bool grow_array(void **p, size_t *alloc, size_t need, size_t size)
{
        if (need <= *alloc)
                return true;
        size_t n = *alloc ? *alloc * 2 : 64;
        void *q = realloc(*p, n * size);
        if (!q)
                return false;
        *p = q;
        *alloc = n;
        return true;
}

/* Water slots and rule state from the rules, until the group commit; a later update replaces an earlier one
 * among the last RULE_OUTPUT_DEDUP_WINDOW, as in the engine (rules.h): the store writes them in order, each
 * replacing the one before, so a duplicate further back costs a row written twice, nothing else. */
static void keep_for_store(Watch *w)
{
        for (size_t i = 0; i < w->out.n_slots; i++) {
                const struct water_slot_update *x = &w->out.slots[i];
                struct store_water_slot v = {
                        .sensor_num = x->sensor,
                        .slot = (int64_t)(x->slot_wall / (SLOT_SECONDS * USEC_PER_SEC)),
                        .ml = x->litres > 0 ? llround(x->litres * 1000) : 0,
                };
                size_t j = w->n_slots, stop = j > RULE_OUTPUT_DEDUP_WINDOW ? j - RULE_OUTPUT_DEDUP_WINDOW : 0;
                while (j > stop && (w->slots[j - 1].sensor_num != v.sensor_num || w->slots[j - 1].slot != v.slot))
                        j--;
                if (j > stop)
                        w->slots[j - 1] = v;
                else if (grow_array((void **)&w->slots, &w->alloc_slots, w->n_slots + 1, sizeof(*w->slots)))
                        w->slots[w->n_slots++] = v;
                else
                        log_oom();
        }
        for (size_t i = 0; i < w->out.n_states; i++) {
                const struct rule_state_update *x = &w->out.states[i];
                size_t j = w->n_states, stop = j > RULE_OUTPUT_DEDUP_WINDOW ? j - RULE_OUTPUT_DEDUP_WINDOW : 0;
                while (j > stop && (w->states[j - 1].kind != x->kind || w->states[j - 1].subject != x->subject ||
                                    w->states[j - 1].rule != x->rule || w->states[j - 1].key != x->key))
                        j--;
                if (j > stop)
                        w->states[j - 1] = *x;
                else if (grow_array((void **)&w->states, &w->alloc_states, w->n_states + 1, sizeof(*w->states)))
                        w->states[w->n_states++] = *x;
                else
                        log_oom();
        }
        if (w->out.n_slots || w->out.n_states)
                arm_commit(w);
        w->out.n_slots = 0;
        w->out.n_states = 0;
        drop_if_big(&w->out.d, &w->out.alloc);
        drop_if_big(&w->out.slots, &w->out.alloc_slots);
        drop_if_big(&w->out.states, &w->out.alloc_states);
}

static void handle_decisions(Watch *w)
{
        usec_t now = now_usec(CLOCK_REALTIME);

        for (size_t i = 0; i < w->out.n; i++) {
                const struct rule_decision *d = &w->out.d[i];
                const char *resident = d->resident >= 0 && (size_t)d->resident < w->residents.n
                                               ? resident_id(w, d->resident)
                                               : NULL;
                const char *building = d->building >= 0 && (size_t)d->building < w->buildings.n
                                               ? building_id(w, d->building)
                                               : NULL;
                struct sensor_rt *s = d->sensor >= 0 ? sensor_by_num(w, (uint32_t)d->sensor) : NULL;
                const char *rule = rule_id_to_string(d->rule);
                int r;

                w->stats.decisions++;
                if (d->kind == DECISION_CLEAR) {
                        r = alerts_clear(w->alerts, resident, building, rule, now);
                        if (r < 0)
                                log_warning("Could not note that %s ended for %s: %s", rule,
                                            resident ? resident : strempty(building), store_error(w->store));
                        continue;
                }

                _cleanup_free_ char *params = params_json(&d->params), *text = NULL;
                if (w->st.render_text)
                        text = w->st.render_text(
                                d, resident ? string_pool_get(&w->resident_text, w->resident_name[d->resident]) : NULL,
                                building,
                                resident ? string_pool_get(&w->resident_text, w->resident_flat[d->resident]) : NULL,
                                w->st.render_userdata);
                struct alert_request req = {
                        .rule = rule,
                        .severity = severity_to_string(d->severity),
                        .resident_id = resident,
                        .building_id = building,
                        .sensor_id = s ? sensor_id(w, s) : NULL,
                        .text_key = d->text_key,
                        .params = params,
                        .text = text ? text : d->text_key,
                        .flags = alert_flags(d->flags),
                };
                int64_t id = 0;
                bool is_new = false;
                r = alerts_raise(w->alerts, &req, now, &id, &is_new);
                if (r < 0) {
                        /* The one thing that must not happen quietly. */
                        log_struct(LOG_CRIT, r,
                                   ((const char *const[]){ "SHOUWANG_EVENT=alert-not-saved", NULL }),
                                   "COULD NOT SAVE ALERT %s (%s) for %s: %s — check the disk; retrying on the next event",
                                   rule, req.severity, resident ? resident : strempty(building), store_error(w->store));
                        continue;
                }
                char f1[64], f2[64], f3[96];
                snprintf(f1, sizeof(f1), "ALERT_ID=%lld", (long long)id);
                snprintf(f2, sizeof(f2), "RESIDENT_ID=%s", strempty(resident));
                snprintf(f3, sizeof(f3), "SENSOR_ID=%s", s ? sensor_id(w, s) : "");
                log_struct(is_new ? LOG_NOTICE : LOG_INFO, 0, ((const char *const[]){ f1, f2, f3, NULL }),
                           "%s alert %lld: %s %s for %s%s%s", is_new ? "Opened" : "Updated", (long long)id,
                           req.severity, rule, resident ? resident : "building ", resident ? "" : strempty(building),
                           (d->flags & DECISION_UNKNOWN_STATE) ? " (sensors offline: state unknown)" : "");
        }
        w->out.n = 0;
        keep_for_store(w);
}

static int on_rules_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void arm_rules(Watch *w)
{
        usec_t next = w->rules ? rules_next_wakeup(w->rules) : USEC_INFINITY;
        int r;

        if (next == USEC_INFINITY) {
                if (w->rules_timer)
                        (void)sd_event_source_set_enabled(w->rules_timer, SD_EVENT_OFF);
                return;
        }
        if (w->rules_timer) {
                r = sd_event_source_set_time(w->rules_timer, next);
                if (r >= 0)
                        r = sd_event_source_set_enabled(w->rules_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(w->event, &w->rules_timer, CLOCK_BOOTTIME, next, USEC_PER_SEC / 2, on_rules_timer,
                                      w);
        if (r < 0)
                log_error_errno(r, "Cannot arm the rules timer: %m");
}

static int on_rules_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Watch *w = userdata;
        struct rules_clock now = clock_now(w);

        if (rules_tick(w->rules, &now, &w->out) < 0)
                log_oom();
        handle_decisions(w);
        arm_rules(w);
        return 0;
}

/* ---- events ------------------------------------------------------------------------------------------------- */

/*
 * When a sensor's health row must be written, now that it was heard. At once (the next group commit) when
 * something a restart would get wrong changed: its state (restored as state at start), its availability,
 * the first time it is heard, its first battery level, or the battery crossing the low mark (what
 * `shouwangctl sensors` warns about). Otherwise — last_seen moved, the battery a point up or down — with
 * the next refresh, which comes at most a refresh interval after the first row began to wait (a restart
 * after a crash then counts a silence at most that much too early: the offline limits are hours), or at
 * a clean stop or reload (watch_flush()). A sensor that reports every 10 to 60 minutes, as Zigbee devices
 * do, would otherwise cost a random 4 KiB page per message: the batched refresh writes neighbouring rows
 * together (docs/performance.md figure 6).
 */
static enum save health_save(const struct sensor_rt *s, bool changed)
{
        bool low = s->battery >= 0 && s->battery < SENSOR_BATTERY_LOW_PERCENT;
        bool was_low = s->saved_battery >= 0 && s->saved_battery < SENSOR_BATTERY_LOW_PERCENT;

        if (changed || !s->seen_saved || (s->saved_battery < 0 && s->battery >= 0) || low != was_low)
                return SAVE_SOON;
        return SAVE_LATER;
}

/* Heard from: anything heard means it is there, unless it said otherwise (wired: its line says). */
static bool mark_available(struct sensor_rt *s, usec_t wall)
{
        if (s->available == 1)
                return false;
        s->available = 1;
        s->available_since = wall;
        return true;
}

/* True if something a restart needs changed (state, availability). */
static bool update_health(struct sensor_rt *s, const struct sensor_event *e)
{
        bool changed = false;

        s->last_seen = e->wall;
        switch ((enum event_type)e->type) {
        case EVENT_AVAILABILITY:
                if (s->available != (e->value > 0)) {
                        s->available_since = e->wall;
                        changed = true;
                }
                s->available = e->value > 0;
                break;
        case EVENT_BATTERY:
                s->battery = battery_percent(e->value);
                break;
        case EVENT_LEAK:
        case EVENT_CONTACT:
        case EVENT_MOTION:
        case EVENT_FALL:
        case EVENT_SMOKE:
        case EVENT_GAS:
        case EVENT_CO:
        case EVENT_WATER_FLOW:
        case EVENT_WATER_TOTAL:
        case EVENT_LOCK_FAULT:
                /* Restored as a state-only event after a restart. A door that reports its contact and its
                 * lock keeps the contact: whether it is open matters more after a restart. */
                if (e->type == EVENT_LOCK_FAULT && s->state_type == EVENT_CONTACT)
                        break;
                if (s->state_type == e->type && s->state_value == e->value)
                        break;
                s->state_type = (uint8_t)e->type;
                s->state_value = e->value;
                changed = true;
                break;
        case EVENT_BUTTON:
        case EVENT_SELF_TEST:
        case EVENT_WATER_PULSES:
        case EVENT_BATTERY_LOW:
        case EVENT_TAMPER:
        case EVENT_CHECK_IN:
        case EVENT_WATER_FLOW_RATE:
        case _EVENT_TYPE_MAX:
                break;
        }
        if (e->type != EVENT_AVAILABILITY && !s->wired && mark_available(s, e->wall))
                changed = true;
        return changed;
}

static uint32_t sensor_index(Watch *w, const struct sensor_rt *s)
{
        return (uint32_t)(s - w->sensors);
}

/*
 * A resident's real activity. The store's copy may lag up to a refresh interval behind: after a crash an
 * inactivity timer then continues from at most that much before the last real activity (its alert comes
 * at most that much earlier, never later). Written at once the first time, or when the rules say a
 * restart would judge it differently (the morning's first, while a tap runs); otherwise with the refresh.
 */
static void activity_seen(Watch *w, int i, usec_t wall)
{
        usec_t saved = w->saved_activity[i];
        bool soon = !saved || (w->rules && rules_activity_worth_saving(w->rules, i, saved, wall));

        w->last_activity[i] = wall;
        save_mark(w, &w->resident_q, (uint32_t)i, soon ? SAVE_SOON : SAVE_LATER);
}

static bool is_alarm_type(uint16_t t)
{
        return t == EVENT_LEAK || t == EVENT_FALL || t == EVENT_SMOKE || t == EVENT_GAS || t == EVENT_CO;
}

/*
 * A retained message is the broker's memory, maybe a week old: state, not news.
 * Unless we knew this sensor's state and it was different: then it changed while
 * we were not watching (we were down, or crashed after Paho acknowledged the
 * message and before it was stored), and it is news.
 */
static bool retained_is_news(const struct sensor_rt *s, const struct sensor_event *e)
{
        if (!(e->flags & EVENT_RETAINED) || !is_alarm_type(e->type) || e->value <= 0)
                return false;
        return s->state_type == e->type && s->state_value <= 0;
}

void watch_event(Watch *w, const struct sensor_event *ev)
{
        struct sensor_rt *s = sensor_by_num(w, ev->sensor);
        struct sensor_event e = *ev;
        struct rules_clock now = clock_now(w);

        if (!s)
                return;
        if (retained_is_news(s, &e)) {
                char known[STATE_TEXT_MAX];
                e.flags &= (uint16_t)~EVENT_RETAINED;
                log_notice("Sensor %s: %s while shouwang was not watching (last known: %s)", sensor_id(w, s),
                           event_type_to_string(e.type), state_text(s, known));
        }
        if (!w->synced)
                e.flags |= EVENT_UNSYNCED;
        w->stats.events++;
        save_mark(w, &w->sensor_q, sensor_index(w, s), health_save(s, update_health(s, &e)));
        struct pulse_meter *pm = sensor_meter(w, s);
        if (pm && e.type == EVENT_WATER_PULSES && !event_is_state_only(&e) && e.value > 0 && isfinite(e.value)) {
                /* The meter's own count, like the dial on it; kept across restarts in sensor_health.counter. */
                pm->counter += llround(e.value / pm->litres_per_pulse);
                pm->dirty = true;
                save_mark(w, &w->sensor_q, sensor_index(w, s), SAVE_SOON);
        }

        if (w->n_pending == w->alloc_pending) {
                size_t na = w->alloc_pending ? w->alloc_pending * 2 : 256;
                struct sensor_event *np = realloc(w->pending, na * sizeof(*np));
                if (np) {
                        w->pending = np;
                        w->alloc_pending = na;
                }
        }
        if (w->n_pending < w->alloc_pending)
                w->pending[w->n_pending++] = e;
        if (w->n_pending >= EVENT_BATCH_MAX)
                (void)watch_commit(w);
        else
                arm_commit(w);

        if (w->rules) {
                if (rules_event(w->rules, &e, &now, &w->out) < 0)
                        log_debug("Rules: event for sensor %" PRIu32 " not taken", s->num);
                /* What the rules count as activity: a door report repeating "closed" with the battery is not. */
                else if (w->out.activity >= 0 && (size_t)w->out.activity < w->residents.n)
                        activity_seen(w, w->out.activity, e.wall);
                handle_decisions(w);
                arm_rules(w);
        }
}

void watch_set_clock_synced(Watch *w, bool synced)
{
        if (w->synced == synced)
                return;
        w->synced = synced;
        log_info("Wall clock %s: %s", synced ? "synchronised" : "not synchronised",
                 synced ? "time-of-day rules run" : "time-of-day rules wait");
        if (w->rules) {
                struct rules_clock now = clock_now(w);
                (void)rules_tick(w->rules, &now, &w->out);
                handle_decisions(w);
                arm_rules(w);
        }
}

static void gpio_event(GpioSet *g, const struct sensor_event *e, void *userdata)
{
        watch_event(userdata, e);
}

/* ---- loading the roster -------------------------------------------------------------------------------------- */

struct setting {
        char *resident_id, *key, *value;
};

struct load_ctx {
        Watch *w;
        int r;
        size_t max_sensors, skipped; /* room counted before the load; sensors added meanwhile wait */
        struct setting *settings; /* per-resident overrides, ordered by resident id like the residents */
        size_t n_settings, next_setting;
};

static int collect_setting(const char *resident_id, const char *key, const char *value, void *userdata)
{
        struct load_ctx *c = userdata;
        struct setting *n = realloc(c->settings, (c->n_settings + 1) * sizeof(*n));

        if (!n)
                return -ENOMEM;
        c->settings = n;
        n[c->n_settings] = (struct setting){ strdup(resident_id), strdup(key), strdup(value) };
        if (!n[c->n_settings].resident_id || !n[c->n_settings].key || !n[c->n_settings].value)
                return -ENOMEM;
        c->n_settings++;
        return 0;
}

static void settings_done(struct load_ctx *c)
{
        for (size_t i = 0; i < c->n_settings; i++) {
                free(c->settings[i].resident_id);
                free(c->settings[i].key);
                free(c->settings[i].value);
        }
        free(c->settings);
}

static int load_resident(char *const *v, void *userdata)
{
        struct load_ctx *c = userdata;
        Watch *w = c->w;
        int b, i;

        b = name_table_add(&w->buildings, v[2]);
        if (b < 0 || rules_add_building(w->rules, v[2]) != b)
                return -ENOMEM;
        i = name_table_add(&w->residents, v[0]);
        if (i < 0)
                return i;
        struct rules_resident res = { .id = v[0], .building = b, .lives_alone = streq(v[4], "1") };
        struct rules_settings own;
        bool has_own = false;

        /* The resident's own settings over the config's [rules] (night_wandering = yes, a later wake window). */
        while (c->next_setting < c->n_settings && strcmp(c->settings[c->next_setting].resident_id, v[0]) < 0)
                c->next_setting++;
        for (; c->next_setting < c->n_settings && streq(c->settings[c->next_setting].resident_id, v[0]);
             c->next_setting++) {
                const struct setting *x = &c->settings[c->next_setting];
                _cleanup_free_ char *err = NULL;
                if (!has_own) {
                        own = w->rules_defaults;
                        has_own = true;
                }
                if (rules_settings_set(&own, x->key, x->value, &err) < 0)
                        log_warning("Resident %s: setting %s = %s is not used: %s — fix it with shouwangctl residents "
                                    "set %s %s=…",
                                    v[0], x->key, x->value, strempty(err), v[0], x->key);
        }
        if (has_own)
                res.settings = &own;
        if (rules_add_resident(w->rules, &res) != i)
                return -EINVAL;
        w->resident_building[i] = b;
        if (string_pool_add(&w->resident_text, v[1], strlen(v[1]), &w->resident_name[i]) < 0 ||
            string_pool_add(&w->resident_text, v[3], strlen(v[3]), &w->resident_flat[i]) < 0)
                return -ENOMEM;
        return 0;
}

/* A water meter's pulse count; *ret its index + 1. */
static int meter_add(Watch *w, double litres_per_pulse, int64_t counter, uint16_t *ret)
{
        if (w->n_meters >= METERS_MAX)
                return -E2BIG;
        if (!grow_array((void **)&w->meters, &w->alloc_meters, w->n_meters + 1, sizeof(*w->meters)))
                return -ENOMEM;
        w->meters[w->n_meters] = (struct pulse_meter){ .litres_per_pulse = litres_per_pulse, .counter = counter };
        *ret = (uint16_t)++w->n_meters;
        return 0;
}

static int load_sensor(const struct store_sensor *x, void *userdata)
{
        struct load_ctx *c = userdata;
        Watch *w = c->w;
        struct sensor_source src = { 0 };
        _cleanup_free_ char *err = NULL;
        struct sensor_rt *s;
        int kind, r;

        /* Counted first, read second: a sensor shouwangctl adds in between has no room yet. */
        if (w->n_sensors >= c->max_sensors) {
                c->skipped++;
                return 0;
        }
        kind = sensor_kind_from_string(x->kind);
        if (kind < 0 || sensor_source_parse(x->source, &src, &err) < 0) {
                log_warning("Sensor %s: cannot use source '%s' (%s) — fix it with shouwangctl sensors edit %s --source …",
                            x->id, x->source, err ? err : x->kind, x->id);
                return 0;
        }
        if ((size_t)x->num >= w->by_num_size) {
                size_t ns = (size_t)x->num * 2 + 16;
                uint32_t *nb = realloc(w->by_num, ns * sizeof(*nb));
                if (!nb) {
                        sensor_source_done(&src);
                        return -ENOMEM;
                }
                memset(nb + w->by_num_size, 0, (ns - w->by_num_size) * sizeof(*nb));
                w->by_num = nb;
                w->by_num_size = ns;
        }
        s = &w->sensors[w->n_sensors];
        *s = (struct sensor_rt){
                .num = (uint32_t)x->num,
                .kind = (uint8_t)kind,
                .wired = src.type == SOURCE_GPIO,
                .last_seen = x->health.last_seen,
                .battery = battery_percent(x->health.battery),
                .available = x->health.available > 0 ? 1 : x->health.available == 0 ? 0 : -1,
                .available_since = x->health.available_since,
                .seen_saved = x->health.last_seen != 0,
        };
        s->saved_battery = s->battery;
        state_parse(s, x->health.state);
        /* Only a water meter counts pulses (gpio.c). */
        r = kind == SENSOR_WATER_METER
                    ? meter_add(w, src.litres_per_pulse > 0 ? src.litres_per_pulse : 1 /* as gpio.c counts */,
                                x->counter, &s->meter)
                    : 0;
        if (r == -E2BIG) {
                log_warning("Sensor %s: not watched — one gateway counts the pulses of at most %u water meters; "
                            "move some to another gateway",
                            x->id, (unsigned)METERS_MAX);
                sensor_source_done(&src);
                return 0;
        }
        if (r < 0) {
                sensor_source_done(&src);
                return r;
        }
        /* Which resident and building: the rules engine's business, not the loop's. */
        r = isempty(x->resident_id) ? -1 : name_table_find(&w->residents, x->resident_id);
        int resident = r < 0 ? -1 : r, building = name_table_add(&w->buildings, x->building_id);
        /* The engine keeps buildings in the same order and returns a known id's index again. */
        if (building < 0 || rules_add_building(w->rules, x->building_id) != building) {
                sensor_source_done(&src);
                return -ENOMEM;
        }
        struct rules_sensor rs = { .num = s->num, .kind = kind, .resident = resident, .building = building,
                                   .wired = s->wired, .litres_per_pulse = src.litres_per_pulse };
        r = rules_add_sensor(w->rules, &rs);
        if (r >= 0 && src.type == SOURCE_GPIO && w->st.gpio_enabled)
                r = gpio_set_add(w->gpio, s->num, x->id, kind, &src);
        if (r >= 0 && src.type == SOURCE_MQTT) {
                r = watch_topics_add(w->topics, src.topic, s->num, kind);
                w->stats.mqtt_sensors++;
        }
        sensor_source_done(&src);
        if (r < 0)
                return r;
        w->by_num[s->num] = (uint32_t)(w->n_sensors + 1);
        w->n_sensors++;
        return 0;
}

static int load_away(const struct away_period *a, void *userdata)
{
        struct load_ctx *c = userdata;
        int i = name_table_find(&c->w->residents, a->resident_id);
        return i < 0 ? 0 : rules_add_away(c->w->rules, i, a->starts_at, a->ends_at);
}

static int restore_activity(const char *resident_id, usec_t at, void *userdata)
{
        struct load_ctx *c = userdata;
        Watch *w = c->w;
        int i = name_table_find(&w->residents, resident_id);
        struct rules_clock now = clock_now(w);

        if (i < 0)
                return 0;
        w->last_activity[i] = w->saved_activity[i] = at;
        return rules_restore_activity(w->rules, i, at, &now);
}

static int restore_open_alert(const char *resident_id, const char *building_id, const char *rule,
                              const char *severity, void *userdata)
{
        struct load_ctx *c = userdata;
        int res = resident_id ? name_table_find(&c->w->residents, resident_id) : -1;
        int b = building_id ? name_table_find(&c->w->buildings, building_id) : -1;
        int id = rule_id_from_string(rule), sev = severity_from_string(severity);

        if (id < 0 || (resident_id && res < 0))
                return 0; /* a test alert, or a resident no longer in the roster */
        if (sev < 0)
                return rules_restore_open_alert(c->w->rules, res, b, id);
        return rules_restore_open_alert_severity(c->w->rules, res, b, id, sev);
}

struct slot_ctx {
        Watch *w;
        uint32_t num;
};

static int restore_slot(const struct store_water_slot *x, void *userdata)
{
        struct slot_ctx *c = userdata;

        (void)rules_restore_water_slot(c->w->rules, c->num, (usec_t)x->slot * SLOT_SECONDS * USEC_PER_SEC,
                                       (double)x->ml / 1000);
        return 0;
}

/*
 * The water use the rules need: the last RESTORE_SLOTS half-hours of each meter. With a synchronised clock,
 * those before now; without one, the newest stored (the engine places them when the clock is set, and
 * drops what lies in its future). One index range per meter, however many years the table holds.
 */
static int restore_water_slots(Watch *w, const struct rules_clock *now)
{
        for (size_t i = 0; i < w->n_sensors; i++) {
                struct sensor_rt *s = &w->sensors[i];
                struct slot_ctx c = { .w = w, .num = s->num };
                int64_t last;
                int r;

                if (s->kind != SENSOR_WATER_METER)
                        continue;
                if (now->synced)
                        last = (int64_t)(now->wall / (SLOT_SECONDS * USEC_PER_SEC));
                else {
                        r = store_water_slot_last(w->store, s->num, &last);
                        if (r == -ENOENT)
                                continue;
                        if (r < 0)
                                return r;
                }
                r = store_water_slots_foreach(w->store, s->num, last - RESTORE_SLOTS + 1, last, restore_slot, &c);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A rule_state row back into the engine; rows of subjects gone from the roster, or that this version does
 * not know, are left alone. */
static int restore_state(const struct store_rule_state *x, void *userdata)
{
        Watch *w = userdata;
        enum rule_state_subject kind;
        int rule = rule_id_from_string(x->rule), i;
        uint32_t subject;
        const char *p;

        if (rule < 0)
                return 0;
        if ((p = startswith(x->subject, "sensor:"))) {
                char *end;
                unsigned long n;
                errno = 0;
                n = strtoul(p, &end, 10);
                if (errno || end == p || *end || n > UINT32_MAX || !sensor_by_num(w, (uint32_t)n))
                        return 0;
                kind = RULE_STATE_SENSOR;
                subject = (uint32_t)n;
        } else if ((p = startswith(x->subject, "building:"))) {
                i = name_table_find(&w->buildings, p);
                if (i < 0)
                        return 0;
                kind = RULE_STATE_BUILDING;
                subject = (uint32_t)i;
        } else {
                i = name_table_find(&w->residents, x->subject);
                if (i < 0)
                        return 0;
                kind = RULE_STATE_RESIDENT;
                subject = (uint32_t)i;
        }
        i = rules_restore_state(w->rules, kind, subject, rule, x->key, x->value);
        if (i == -ENOMEM)
                return i;
        if (i < 0)
                log_debug("Rule state %s/%s/%s = %" PRId64 " not used", x->subject, x->rule, x->key, x->value);
        return 0;
}

int watch_load(Watch *w)
{
        struct load_ctx c = { .w = w };
        struct rules_clock now;
        int64_t n_res = 0, n_sens64 = 0;
        size_t n_sens = 0;
        int r;

        (void)watch_flush(w);
        free_roster(w);

        r = store_roster_count(w->store, ROSTER_RESIDENTS, &n_res);
        if (r >= 0)
                r = store_roster_count(w->store, ROSTER_SENSORS, &n_sens64);
        n_sens = n_sens64 > 0 ? (size_t)n_sens64 : 0;
        c.max_sensors = n_sens;
        if (r < 0)
                return log_error_errno(r, "Cannot read the roster: %s", store_error(w->store));

        w->rules = rules_new(&w->rules_defaults);
        w->sensors = calloc(n_sens + 1, sizeof(*w->sensors));
        w->resident_name = calloc((size_t)n_res + 1, sizeof(uint32_t));
        w->resident_flat = calloc((size_t)n_res + 1, sizeof(uint32_t));
        w->resident_building = calloc((size_t)n_res + 1, sizeof(int));
        w->last_activity = calloc((size_t)n_res + 1, sizeof(usec_t));
        w->saved_activity = calloc((size_t)n_res + 1, sizeof(usec_t));
        if (w->rules && rules_reserve(w->rules, (size_t)n_res, (size_t)n_res / 8 + 16, n_sens) < 0)
                return log_oom();
        if (!w->rules || !w->sensors || !w->resident_name || !w->resident_flat || !w->resident_building ||
            !w->last_activity || !w->saved_activity || save_queue_init(&w->sensor_q, n_sens) < 0 ||
            save_queue_init(&w->resident_q, (size_t)n_res) < 0)
                return log_oom();
        r = name_table_reserve(&w->residents, (size_t)n_res);
        if (r >= 0)
                r = name_table_reserve(&w->buildings, (size_t)n_res / 8 + 16);
        if (r >= 0)
                r = watch_topics_new(n_sens, &w->topics);
        if (r >= 0)
                r = gpio_set_new(w->event, w->st.gpio_debounce, w->st.gpio_retry, &w->gpio);
        if (r < 0)
                return log_oom();
        gpio_set_set_callback(w->gpio, gpio_event, w);

        r = store_resident_settings_foreach(w->store, NULL, collect_setting, &c);
        if (r >= 0)
                r = store_roster_foreach(w->store, ROSTER_RESIDENTS, load_resident, &c);
        if (r >= 0)
                r = store_sensor_foreach(w->store, load_sensor, &c);
        if (c.skipped > 0)
                log_warning("%zu sensors were added while the roster was being read; they are watched from the next "
                            "reload (the next roster change, or systemctl reload shouwang)",
                            c.skipped);
        now = clock_now(w);
        if (r >= 0)
                r = store_away_foreach(w->store, NULL, now.wall, load_away, &c);
        if (r >= 0)
                r = store_activity_foreach(w->store, restore_activity, &c);
        if (r >= 0)
                r = store_open_alerts_severity_foreach(w->store, restore_open_alert, &c);
        settings_done(&c);
        if (r < 0)
                return log_error_errno(r, "Cannot load the roster: %s", store_error(w->store)[0] ? store_error(w->store) : "%m");

        /* The last known state of each sensor comes back as state, not as news. */
        for (size_t i = 0; i < w->n_sensors; i++) {
                struct sensor_rt *s = &w->sensors[i];
                if (s->state_type == STATE_NONE)
                        continue;
                struct sensor_event e = { .sensor = s->num, .type = s->state_type, .flags = EVENT_INITIAL,
                                          .value = s->state_value, .mono = now.mono, .wall = s->last_seen };
                (void)rules_restore_event(w->rules, &e, &now);
        }
        /* After each sensor's state: a tap run or a door opened at night continues only where the
         * sensor's own state agrees. */
        r = restore_water_slots(w, &now);
        if (r >= 0)
                r = store_rule_state_foreach(w->store, restore_state, w);
        if (r < 0)
                /* Watching without it is better than not watching: timers start again from now. */
                log_error_errno(r, "Cannot restore water use and rule state, the rules start afresh: %s",
                                store_error(w->store));

        /* The pools grew by doubling: give back what the roster did not use. */
        string_pool_shrink(&w->resident_text);
        name_table_shrink(&w->residents);
        name_table_shrink(&w->buildings);
        if (w->n_sensors > 0 && w->sensors[w->n_sensors - 1].num + 1 < w->by_num_size) {
                /* Read in the order of their numbers: the last is the highest. */
                uint32_t *nb = realloc(w->by_num, (w->sensors[w->n_sensors - 1].num + 1) * sizeof(*nb));
                if (nb) {
                        w->by_num = nb;
                        w->by_num_size = w->sensors[w->n_sensors - 1].num + 1;
                }
        }
        r = watch_topics_finish(w->topics, &w->subs, &w->n_subs);
        if (r < 0)
                return log_oom();
        w->stats.residents = (unsigned)w->residents.n;
        w->stats.sensors = (unsigned)w->n_sensors;

        if (w->st.gpio_enabled)
                (void)gpio_set_start(w->gpio);

        /* Conditions already true at start (leak still wet, nobody active for 14 h) are decided now. */
        r = rules_tick(w->rules, &now, &w->out);
        if (r < 0)
                return log_oom();
        handle_decisions(w);
        arm_rules(w);
        return 0;
}

char *const *watch_subscriptions(Watch *w, size_t *ret_n)
{
        *ret_n = w->n_subs;
        return w->subs;
}

void watch_get_stats(Watch *w, struct watch_stats *ret)
{
        *ret = w->stats;
        if (w->gpio)
                gpio_set_counts(w->gpio, &ret->gpio_active, &ret->gpio_waiting);
}

/* ---- MQTT -------------------------------------------------------------------------------------------------------- */

/* Log a problem with a topic once (a broken sensor repeating itself must not flood the journal). */
bool watch_topic_first_time(Watch *w, const char *topic)
{
        for (size_t i = 0; i < w->n_logged_topics; i++)
                if (streq(w->logged_topics[i], topic))
                        return false;
        if (w->n_logged_topics >= LOGGED_TOPICS_MAX)
                return false;
        char **n = realloc(w->logged_topics, (w->n_logged_topics + 1) * sizeof(char *));
        if (!n)
                return false;
        w->logged_topics = n;
        n[w->n_logged_topics] = strdup(topic);
        if (n[w->n_logged_topics])
                w->n_logged_topics++;
        return true;
}

void *watch_topic_map(Watch *w)
{
        return w->topics;
}

void watch_count_unknown(Watch *w, bool bad_payload)
{
        if (bad_payload)
                w->stats.bad_payloads++;
        else
                w->stats.unknown_topics++;
}

const char *watch_sensor_id(Watch *w, uint32_t num)
{
        struct sensor_rt *s = sensor_by_num(w, num);
        return s ? sensor_id(w, s) : "?";
}

/* A message that parsed but carried nothing we use still says the sensor is alive. */
void watch_sensor_seen(Watch *w, uint32_t num, usec_t wall)
{
        struct sensor_rt *s = sensor_by_num(w, num);
        if (!s)
                return;
        s->last_seen = wall;
        save_mark(w, &w->sensor_q, sensor_index(w, s), health_save(s, mark_available(s, wall)));
        arm_commit(w);
}

bool watch_clock_synced(Watch *w)
{
        return w->synced;
}
