/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the rule engine's files share: the compact per-subject state
 * (residents and buildings), sensors, water meters, the timer heap, and the
 * helpers that turn a condition into RAISE / CLEAR decisions.
 *
 * Time inside the engine is "monotonic seconds" (secs_t, int32): whole
 * seconds of the caller's monotonic clock. Seconds are plenty for rules
 * counted in minutes and hours, and halve the state of 50,000 sensors.
 * Times restored from before boot are negative. Wall time stays usec_t and
 * is only used for wall-clock rules and what people read.
 */
#pragma once

#include <math.h>

#include "rules/rules.h"

typedef int32_t secs_t;
#define SUBJECT_BUILDING 0x80000000u /* heap subject ids: resident index, or this | building index */
#define SECS_UNKNOWN INT32_MIN
#define SECS_MAX INT32_MAX

static inline secs_t secs_from_usec(usec_t u)
{
        usec_t s = u / USEC_PER_SEC;
        return s > (usec_t)SECS_MAX ? SECS_MAX : (secs_t)s;
}

/* A duration setting in seconds (rounded up: a rule never fires early). */
static inline int64_t dur_s(usec_t u)
{
        return (int64_t)((u + USEC_PER_SEC - 1) / USEC_PER_SEC);
}

/* The monotonic usec at which secs_t s begins; 0 for the past before boot. */
static inline usec_t secs_to_usec(int64_t s)
{
        return s <= 0 ? 0 : (usec_t)s * USEC_PER_SEC;
}

/* ---- per (subject, rule) state ------------------------------------------------------------------------- */

enum {
        RS_OPEN = 1 << 0,       /* an alert is open for it, as far as we know */
        RS_LATCHED = 1 << 1,    /* the condition is true and was told (or belongs to a restored open alert) */
        RS_RESTORED = 1 << 2,   /* open from the store: the first evaluation continues it silently */
        RS_TOLD_RAISE = 1 << 3, /* the last thing told was a RAISE, so a CLEAR may follow */
        RS_SEV_SHIFT = 4,       /* 2 bits: the severity told for this episode */
        RS_SEV_KNOWN = 1 << 6,  /* restored with the open alert's severity (in the SEV bits) */
};

struct subject {
        uint8_t st[_RULE_ID_MAX];
        secs_t last_repeat;   /* last repeat RAISE (rate limit) */
        uint32_t heap_pos;    /* UINT32_MAX: not in the heap */
        int32_t first_sensor; /* sensors of this subject, linked through sensor.next */
};

/* Quiet rules that start their period again when a person resolves them. */
enum {
        REARM_INACTIVITY,
        REARM_LOW_USE,
        REARM_COMBINED,
        _REARM_MAX,
};

struct resident {
        struct subject subj;
        const struct rules_settings *s;
        int32_t building;
        int32_t first_away;       /* index into Rules.aways, -1 */
        secs_t last_activity;     /* any activity; SECS_UNKNOWN: since the engine started */
        secs_t last_door, last_motion, last_water;
        secs_t rearm[_REARM_MAX]; /* resolved at: the quiet period restarts here */
        int32_t morning_done;     /* yyyymmdd of the last morning deadline judged */
        int32_t night;            /* yyyymmdd of the night the openings count belongs to */
        uint8_t openings;
        bool lives_alone;
        uint8_t rflags;           /* RF_* */
};

enum {
        RF_MORNING_RESTORED = 1 << 0, /* morning_done came from the store: today's deadline may be caught up on */
};

struct building {
        struct subject subj;
        char *id;
};

enum {
        SF_WIRED = 1 << 0,       /* GPIO: read by us, never "silent" */
        SF_ACTIVE = 1 << 1,      /* wet / open / alarm / fall / flowing */
        SF_UNAVAILABLE = 1 << 2, /* availability said offline */
        SF_BATTERY_LOW = 1 << 3,
        SF_TAMPER = 1 << 4,
        SF_TESTING = 1 << 5,     /* a detector's self-test is running (since = its start) */
        SF_NIGHT_OPEN = 1 << 6,  /* the door was opened during night hours (wandering) */
        SF_KNOWN = 1 << 7,       /* the state (SF_ACTIVE) is known */
};

/* Per sensor: which of its conditions was told (several sensors share one alert per subject and rule). */
enum {
        SF2_OFFLINE_TOLD = 1 << 0,
        SF2_BATTERY_TOLD = 1 << 1,
        SF2_TAMPER_TOLD = 1 << 2,
        /* The alarm state came from a retained MQTT message: known, but maybe a week
         * old, so it never raises a new alarm (it does keep "cleared" from being
         * said). A live GPIO read, a fresh message and our own stored state are
         * not stale. */
        SF2_STALE = 1 << 3,
        SF2_LOCK_FAULT = 1 << 4, /* a door's lock reports a fault (not fully locked) */
        SF2_LOCK_STALE = 1 << 5, /* ...known from a retained message only: never raised for that alone */
};

struct sensor {
        uint32_t num;
        int32_t owner;    /* >= 0: resident index; common area: -1 - building index */
        int32_t next;     /* next sensor of the same subject, -1 */
        secs_t last_seen; /* last fresh message; SECS_UNKNOWN: not since the engine started */
        union {
                secs_t since;  /* door open since / self-test started (not a water sensor) */
                int32_t meter; /* water meters and flow switches: index into Rules.meters */
        };
        uint8_t kind;     /* enum sensor_kind */
        uint8_t flags;    /* SF_* */
        uint8_t flags2;   /* SF2_* */
};

static inline int sensor_resident(const struct sensor *x)
{
        return x->owner >= 0 ? x->owner : -1;
}

static inline int sensor_building(const Rules *r, const struct sensor *x);

static inline uint32_t sensor_subject(const struct sensor *x)
{
        return x->owner >= 0 ? (uint32_t)x->owner : SUBJECT_BUILDING | (uint32_t)(-1 - x->owner);
}

static inline bool sensor_is_water(const struct sensor *x)
{
        return x->kind == SENSOR_WATER_METER || x->kind == SENSOR_WATER_FLOW;
}

/* ---- water meters (rules-water.c) ---------------------------------------------------------------------- */

#define WATER_HOURS 25        /* hourly use, enough for a 24 h window that starts mid-hour */
#define WATER_HALVES 48       /* half-hours with flow, 24 h */

enum {
        MF_RUNNING = 1 << 0,      /* a run of flow is going on (tap running) */
        MF_SLOT_TOLD = 1 << 1,    /* the current storage slot was emitted */
        MF_HAVE_TOTAL = 1 << 2,
        MF_HAVE_PENDING = 1 << 3, /* a lower total waits for a second reading (reset or stray) */
        MF_SEEN = 1 << 4,         /* the meter produced a reading since the engine started */
};

struct meter {
        int32_t sensor;
        float litres_per_pulse;
        double total;            /* last cumulative reading (litres) */
        double pending;          /* a lower reading: counter reset or an out-of-order one */
        secs_t last_read;        /* last reading or pulse */
        secs_t known_from;       /* use known without a gap since; SECS_UNKNOWN: not known */
        secs_t run_start, last_flow;
        float run_litres;
        float slot_litres;       /* storage slot so far */
        uint32_t slot;           /* the current storage slot: wall seconds / 1800, 0: none yet */
        uint32_t read_wall;      /* source time (wall seconds) of the last reading (EVENT_SOURCE_TIME), 0 */
        int32_t hour_head;       /* hour number (secs / 3600) of the newest hourly bucket */
        int32_t half_head;       /* half-hour number of the newest flow bit */
        uint16_t dl[WATER_HOURS];/* decilitres per hour, saturating */
        uint64_t flow;           /* bit i: flow in half-hour half_head - i */
        uint8_t flags;
};

/* ---- away periods -------------------------------------------------------------------------------------- */

struct away {
        usec_t from, until;
        int32_t next;
};

/* ---- restored before the clock was synchronised -------------------------------------------------------- */

enum {
        PENDING_ACTIVITY, /* placed as soon as the clock is synchronised */
        PENDING_SLOT,     /* these two at the first tick or event with a synchronised clock */
        PENDING_STATE,
};

struct pending_restore {
        int32_t index;  /* resident (activity), meter (slot), sensor (state) */
        uint8_t kind;   /* PENDING_* */
        uint8_t key;    /* state: enum state_key */
        usec_t wall;    /* activity, the slot's start, or the state's value */
        double litres;  /* slot */
};

/* ---- rule state for the store (rules-state.c) ----------------------------------------------------------- */

/* The keys of struct rule_state_update (rules.h has the table). */
enum state_key {
        SK_TAP_RUN_START,
        SK_TAP_LAST_FLOW,
        SK_TAP_RUN_ML,
        SK_TAP_TOTAL_ML,
        SK_DOOR_OPENED_AT,
        SK_NIGHT,
        SK_MORNING_JUDGED,
        _SK_MAX,
};

/* ---- the engine ---------------------------------------------------------------------------------------- */

struct heap_entry {
        usec_t due;
        uint32_t subject; /* resident index, or SUBJECT_BUILDING | building index */
};

struct local_cache {
        int date;
        unsigned minute;
        usec_t wall;
};
#define LOCAL_CACHE_N 16

struct Rules {
        struct rules_settings defaults;
        const struct rules_settings **custom; /* distinct per-resident settings, owned */
        size_t n_custom;

        struct resident *residents;
        size_t n_residents, alloc_residents;
        struct building *buildings;
        size_t n_buildings, alloc_buildings;
        int32_t *bhash; /* building id → index, open addressing */
        size_t bhash_size;
        struct sensor *sensors;
        size_t n_sensors, alloc_sensors;
        uint32_t *by_num; /* sensors.num → index + 1 */
        size_t by_num_size;
        struct meter *meters;
        size_t n_meters, alloc_meters;
        struct away *aways;
        size_t n_aways, alloc_aways;
        struct pending_restore *pending;
        size_t n_pending, alloc_pending;

        struct heap_entry *heap;
        size_t n_heap, alloc_heap;

        /* The clock as last seen. */
        bool started;
        secs_t start_s;        /* first call: the baseline for "quiet since" without history */
        bool offset_known;     /* wall - mono while synchronised */
        int64_t offset;
        bool synced;
        usec_t trusted_since;  /* wall from which the wall clock ran without a jump; deadlines before are not judged */
        usec_t hk_due;         /* housekeeping: clock-jump check, water slot boundaries */
        uint32_t last_hk_slot; /* the storage slot boundary last handled */

        struct local_cache cache[LOCAL_CACHE_N];
        unsigned cache_next;
};

static inline int sensor_building(const Rules *r, const struct sensor *x)
{
        return x->owner >= 0 ? r->residents[x->owner].building : -1 - x->owner;
}

/* A call's view of "now". */
struct now_ctx {
        const struct rules_clock *c;
        secs_t s;       /* c->mono in seconds */
        bool wall_ok;   /* synchronised: wall-clock rules may run */
        int date;       /* local date of c->wall, yyyymmdd (when wall_ok) */
        unsigned minute;/* local minutes since midnight */
};

/* What one evaluation gathers about a resident's sensors. */
struct resident_view {
        bool has_activity_sensor, activity_online;
        bool has_signal[_SIGNAL_MAX], signal_online[_SIGNAL_MAX];
        bool has_motion_online;
        bool leak_wet;
        bool has_meter;
};

/* rules-state.c */
int out_push_state(struct rule_output *o, enum rule_state_subject kind, uint32_t subject, enum state_key key,
                   int64_t value);
int resident_night_told(Rules *r, uint32_t i, struct rule_output *out);
void state_place_restored(Rules *r, const struct now_ctx *n, size_t from, size_t to);

/* rules-settings.c */
bool rules_settings_equal(const struct rules_settings *a, const struct rules_settings *b);

/* rules.c */
int grow(void **p, size_t *alloc, size_t need, size_t size);
int push_pending(Rules *r, const struct pending_restore *p);
struct sensor *sensor_by_num(Rules *r, uint32_t num);
struct subject *subject_get(Rules *r, int resident, int building);
const struct rules_settings *subject_settings(Rules *r, int resident);
void heap_set(Rules *r, uint32_t subject, usec_t due);
bool sensor_offline(Rules *r, const struct rules_settings *s, const struct sensor *x, secs_t now, int64_t *ret_due);
int out_push(struct rule_output *o, const struct rule_decision *d);
int out_push_slot(struct rule_output *o, uint32_t sensor, usec_t slot_wall, double litres);
void decision_init(Rules *r, struct rule_decision *d, enum decision_kind kind, enum rule_id rule, enum severity sev,
                   int resident, int building, int64_t sensor);
void decision_key(struct rule_decision *d, const char *key);
int rule_raise(Rules *r, struct subject *subj, const struct now_ctx *n, const struct rule_decision *d, bool repeat,
               struct rule_output *out);
int rule_clear(Rules *r, struct subject *subj, enum rule_id rule, int resident, int building, struct rule_output *out);
void rule_forget(struct subject *subj, enum rule_id rule);
bool rule_latched(const struct subject *subj, enum rule_id rule);
secs_t mono_of_wall(const struct now_ctx *n, usec_t wall);
usec_t wall_of_mono(const struct now_ctx *n, secs_t s);
usec_t due_of_wall(const struct now_ctx *n, usec_t wall);
static inline secs_t resident_last(const Rules *r, secs_t t)
{
        return t == SECS_UNKNOWN ? r->start_s : t;
}

/* rules-eval.c */
void alarm_decision(Rules *r, const struct sensor *x, enum rule_id rule, const struct now_ctx *n, struct rule_decision *d);
void lock_fault_decision(Rules *r, const struct sensor *x, const struct now_ctx *n, struct rule_decision *d);
int resident_evaluate(Rules *r, uint32_t i, const struct now_ctx *n, struct rule_output *out, usec_t *ret_due);
int building_evaluate(Rules *r, uint32_t b, const struct now_ctx *n, struct rule_output *out, usec_t *ret_due);
bool resident_away(Rules *r, const struct resident *res, const struct now_ctx *n, usec_t from_wall, usec_t to_wall,
                   usec_t *ret_ended, usec_t *ret_due);

/* rules-time.c */
int local_date_minute(usec_t wall, int *ret_date, unsigned *ret_minute);
usec_t local_time_at(Rules *r, int date, unsigned minute);
int date_add_days(int date, int days);
bool minute_in_range(unsigned m, unsigned start, unsigned end);
/*
 * The night (start_min..end_min, may wrap midnight) at n: if n is inside
 * one, its start/end and its id (the date it began); else the next one's start.
 */
bool night_now(Rules *r, const struct rules_settings *s, const struct now_ctx *n, usec_t *ret_start, usec_t *ret_end,
               int *ret_id, usec_t *ret_next_start);
void now_ctx_init(struct now_ctx *n, const struct rules_clock *c);

/* rules-water.c */
int meter_new(Rules *r, uint32_t sensor_index, double litres_per_pulse);
int water_event(Rules *r, struct sensor *x, const struct sensor_event *e, const struct now_ctx *n, bool restoring,
                secs_t at, struct rule_output *out, bool *ret_activity);
int water_evaluate_resident(Rules *r, uint32_t i, const struct resident_view *v, const struct now_ctx *n,
                            bool away, secs_t quiet_origin, struct rule_output *out, int64_t *due);
int water_evaluate_abnormal(Rules *r, struct subject *subj, int resident, int building, const struct now_ctx *n,
                            struct rule_output *out, int64_t *due);
bool meter_fresh(Rules *r, const struct meter *m, const struct now_ctx *n);
void water_housekeeping(Rules *r, const struct now_ctx *n, struct rule_output *out);
int water_place_restored(Rules *r, const struct now_ctx *n);
int meter_run_told(Rules *r, struct meter *m, const struct now_ctx *n, bool flowed, struct rule_output *out);
int64_t meter_pulse_gap(Rules *r, const struct meter *m);
enum {
        MF_PULSES = 1 << 5,        /* counts pulses (a GPIO meter) */
        MF_ENDED_UNKNOWN = 1 << 6, /* the last run ended because the meter fell silent, not because flow stopped */
        MF_RUN_TOLD = 1 << 7,      /* the run's state was emitted for the store and not yet ended there */
};
void meter_restore_total(Rules *r, struct meter *m, double total, secs_t at);
int water_restore_slot(Rules *r, uint32_t meter, usec_t slot_wall, double litres, const struct now_ctx *n);
