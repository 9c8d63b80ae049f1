/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rule engine: normalised sensor events and the current time go in,
 * alert decisions come out. No I/O, no logging, no clock reads: the caller
 * passes "now" (struct rules_clock), so tests drive a 12-hour rule in
 * microseconds with a fake clock.
 *
 * The daemon owns one Rules object on its loop thread. It
 *   1. builds it from the roster (buildings, residents, sensors, away periods,
 *      per-resident settings) and the configured defaults,
 *   2. restores state from the store (last activity, last known sensor
 *      states, open alerts, water use slots, the rule state the engine asked
 *      to keep) so timers survive a restart,
 *   3. feeds every event (rules_event) and calls rules_tick when the time
 *      from rules_next_wakeup() comes,
 *   4. acts on the decisions: opens or updates an alert (the store keeps one
 *      open alert per subject and rule), notes a cleared condition, and keeps
 *      the water slots and rule state of struct rule_output for the next
 *      restart.
 *
 * Durations are measured on the monotonic clock (CLOCK_BOOTTIME in the
 * daemon), so a wall-clock jump never fires or delays a duration rule.
 * Wall-clock rules (night hours, the morning wake window, daily water) use
 * local time (TZ) and wait while the wall clock is not synchronised.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon/roster.h"
#include "daemon/util.h"
#include "sensors/event.h"

typedef struct Rules Rules;

/* Stored in alerts.rule as text (rule_id_to_string); never renumber. */
enum rule_id {
        RULE_LEAK,              /* water-leak sensor wet */
        RULE_PANIC,             /* panic button pressed */
        RULE_FALL,              /* fall sensor */
        RULE_SMOKE,             /* smoke detector alarm (not a self-test) */
        RULE_GAS,               /* gas detector alarm */
        RULE_CO,                /* carbon monoxide alarm */
        RULE_INACTIVITY,        /* no activity for N hours: welfare check */
        RULE_MORNING_CHECK,     /* no activity in the wake window by its deadline */
        RULE_DOOR_OPEN_NIGHT,   /* flat door open longer than N minutes at night */
        RULE_NIGHT_WANDERING,   /* door opened at night and not closed, or opened again and again */
        RULE_BUILDING_DOOR,     /* entrance door held open / lock fault (common area) */
        RULE_SENSOR_OFFLINE,    /* silent too long, or availability offline */
        RULE_BATTERY_LOW,
        RULE_TAMPER,
        RULE_COMBINED,          /* a composed rule (e.g. door unused 24 h AND no water 12 h) */
        RULE_WATER_LOW_USE,     /* under N litres in a window: welfare check */
        RULE_TAP_RUNNING,       /* water flowing without a pause for N minutes */
        RULE_WATER_ABNORMAL,    /* over N m³ a day, or flow in every half-hour slot of a day */
        _RULE_ID_MAX,
};

enum severity {
        SEVERITY_INFO,
        SEVERITY_WARNING,
        SEVERITY_CRITICAL,
        _SEVERITY_MAX,
};

const char *rule_id_to_string(enum rule_id r);
int rule_id_from_string(const char *s);
const char *severity_to_string(enum severity s);
int severity_from_string(const char *s);

/* ---- settings: defaults from the config's [rules] section, overrides per resident ---------------------- */

/*
 * A composed welfare rule: every listed signal has been quiet for at least
 * its duration (AND). The daemon needs no code for a new combination: add one
 * in the config ("combined = door=72h,severity=warning,name=door_days") and it
 * raises RULE_COMBINED with text key "combined.<name>". docs/rules.md.
 */
enum rule_signal {
        SIGNAL_ACTIVITY, /* any activity signal (door, motion, water started, button, check-in) */
        SIGNAL_DOOR,     /* the flat door moved (opened or closed) */
        SIGNAL_MOTION,   /* a motion sensor saw someone */
        SIGNAL_WATER,    /* any water flowed (meter or flow switch) */
        _SIGNAL_MAX,
};
const char *rule_signal_to_string(enum rule_signal s);
int rule_signal_from_string(const char *s);

#define RULES_COMBINED_MAX 4
#define RULES_COMBINED_NAME_MAX 24

struct rules_combined {
        char name[RULES_COMBINED_NAME_MAX]; /* text key "combined.<name>" */
        usec_t quiet[_SIGNAL_MAX];          /* 0: not part of this rule; else quiet for at least this long */
        enum severity severity;
};

/*
 * Every tunable of every rule, with its default. One table in
 * rules-settings.c maps key names (as written in the config's [rules] section
 * and in resident_settings) to fields; docs/rules.md documents the same keys.
 * A duration of 0 switches that rule off.
 */
struct rules_settings {
        usec_t inactivity_after;          /* inactivity: 12h */
        bool morning_check;               /* on */
        unsigned wake_start_min;          /* minutes after local midnight: 06:00 = 360 */
        unsigned wake_end_min;            /* deadline: 10:00 = 600 */
        unsigned night_start_min;         /* night hours: 22:00 = 1320 */
        unsigned night_end_min;           /* 06:00 = 360 */
        usec_t door_open_night_after;     /* 10min */
        bool night_wandering;             /* off by default; on per resident in the roster */
        usec_t wandering_not_closed_after;/* 5min */
        unsigned wandering_max_openings;  /* more than 3 openings in one night */
        usec_t building_door_held_after;  /* 5min */
        usec_t offline_safety_after;      /* leak, smoke, gas, co, fall, button: 6h */
        usec_t offline_other_after;       /* door, motion, water: 25h */
        unsigned battery_low_percent;     /* 20 (cleared again at 5 points above) */
        usec_t repeat_interval;           /* 1min: at most one repeat RAISE of an open alert per subject */
        /* water (issue 11) */
        double water_low_litres;          /* 10 */
        usec_t water_low_window;          /* 12h, at most 24h */
        usec_t water_gap;                 /* 2h: meter readings further apart leave the time between unknown */
        usec_t tap_running_after;         /* 30min; critical at 2x */
        double tap_min_flow;              /* 1 litre/min: the least a running tap lets through */
        double water_abnormal_litres_day; /* 2000 (2 m³) in 24 h; 0 = off */
        bool water_every_slot;            /* flow in every half-hour slot of 24 h: on */
        /* composed rules; default: door unused 24h AND no water 12h → critical "combined.door_water" */
        struct rules_combined combined[RULES_COMBINED_MAX];
        unsigned n_combined;
};

/* Fill with the defaults above. */
void rules_settings_default(struct rules_settings *ret);

/*
 * Set one setting by name ("inactivity_after", "wake_window" = "06:00-10:00",
 * "night_hours" = "22:00-06:00", ...). Returns 0, -ENOENT for an unknown key
 * (with *ret_error suggesting the nearest known key), -EINVAL for a bad value
 * (with *ret_error saying what a good value looks like). *ret_error malloc'd
 * (may be NULL if the caller does not want it; on -ENOMEM it stays NULL).
 * On error *s is unchanged.
 */
int rules_settings_set(struct rules_settings *s, const char *key, const char *value, char **ret_error);

/* Iterate the known keys (for docs and --help): name, default as text, one-line description. */
struct rules_setting_info {
        const char *key;
        const char *default_value;
        const char *description;
};
const struct rules_setting_info *rules_settings_table(size_t *ret_n);

/* ---- building the engine ------------------------------------------------------------------------------- */

Rules *rules_new(const struct rules_settings *defaults);
Rules *rules_free(Rules *r);
DEFINE_FREE_FUNC(Rules, rules_free);

/* Returns the building's index (>= 0) or -errno. Adding the same id twice returns the same index. */
int rules_add_building(Rules *r, const char *id);

struct rules_resident {
        const char *id;
        int building;          /* index from rules_add_building */
        bool lives_alone;
        const struct rules_settings *settings; /* NULL: the engine's defaults; else copied */
};
/* Returns the resident's index (>= 0) or -errno. */
int rules_add_resident(Rules *r, const struct rules_resident *res);

struct rules_sensor {
        uint32_t num;          /* sensors.num: matches sensor_event.sensor */
        enum sensor_kind kind;
        int resident;          /* index, or -1 for a common area */
        int building;          /* index */
        bool wired;            /* GPIO: never "silent", its health comes from the line */
        double litres_per_pulse;
};
int rules_add_sensor(Rules *r, const struct rules_sensor *s);

/*
 * Away periods in wall time; several per resident allowed. They silence the
 * welfare rules (inactivity, morning check, door at night, night wandering,
 * water low use, combined), never leak, panic, fall, smoke, gas, CO or a tap
 * left running, and expire by themselves. Judged only while the wall clock
 * is synchronised. Returns 0, -ENOENT (no such resident), -EINVAL (until <= from).
 */
int rules_add_away(Rules *r, int resident, usec_t from_wall, usec_t until_wall);

/*
 * Optional: room for this many residents, buildings and sensors (the daemon
 * counts the roster first), so loading allocates once instead of doubling.
 * Returns 0 or -ENOMEM.
 */
int rules_reserve(Rules *r, size_t residents, size_t buildings, size_t sensors);

/* Bytes the engine holds (for the memory budget; tests and `shouwangd --stats`). */
size_t rules_memory_usage(const Rules *r);

/* ---- time ---------------------------------------------------------------------------------------------- */

struct rules_clock {
        usec_t mono;    /* CLOCK_BOOTTIME */
        usec_t wall;    /* CLOCK_REALTIME */
        bool synced;    /* wall clock synchronised (NTP); wall-clock rules wait until it is */
};

/* ---- decisions ----------------------------------------------------------------------------------------- */

enum decision_kind {
        DECISION_RAISE,   /* open an alert, or update the open one for (subject, rule) */
        DECISION_CLEAR,   /* the condition ended (leak dried, door closed): note it; never closes the alert */
};

enum {
        DECISION_URGENT_ALL = 1 << 0,    /* fire/gas/CO: tier 1, committee on duty and property at once */
        DECISION_BUILDING_WIDE = 1 << 1, /* common-area smoke: every flat's tier 1 in the building */
        DECISION_UNKNOWN_STATE = 1 << 2, /* inactivity etc. could not be judged: the sensors it relies on are offline */
        DECISION_COMMITTEE_ONLY = 1 << 3,/* info for the committee (sensor health, abnormal water) */
        DECISION_PROPERTY = 1 << 4,      /* property management too (water) */
        DECISION_FAMILY_LEADER = 1 << 5, /* family and the building-group leader first (night wandering); = ALERT_FAMILY_LEADER */
        DECISION_GROUP_LEADER = 1 << 6,  /* the building-group leader (building door held open) */
};

/*
 * Template parameters, filled as the rule needs them: since_wall and duration
 * 0 when unused (since_wall is also 0 while the wall clock is not
 * synchronised), litres and count -1 when unused.
 */
struct decision_params {
        usec_t since_wall;     /* when the condition began, e.g. water running since 01:10 */
        usec_t duration;       /* how long (inactive for 14h, door open for 12min) */
        double litres;         /* water used in the window / today */
        int count;             /* door openings tonight; sensors in that state (offline, battery, tamper) */
        int lives_alone;       /* 1/0 for the resident, -1 for common areas */
};

struct rule_decision {
        enum decision_kind kind;
        enum rule_id rule;
        enum severity severity;
        int resident;          /* index, -1 for common area */
        int building;          /* index */
        int64_t sensor;        /* sensors.num, or -1 */
        unsigned flags;        /* DECISION_* */
        char text_key[40];     /* template key, e.g. "leak.alone", "tap_running.critical" */
        struct decision_params params;
};

/* Water use the daemon must store (use per meter in half-hour slots, issue 11). */
struct water_slot_update {
        uint32_t sensor;       /* sensors.num */
        usec_t slot_wall;      /* start of the half-hour slot, wall time */
        double litres;         /* total for that slot so far (replace, not add) */
};

/*
 * Rule state the daemon must keep so that a restart (or a roster reload)
 * continues what was going on: a tap run in progress, the doors opened
 * tonight, the morning check already judged today. The daemon stores each
 * update (replace, not add) keyed by subject, rule and key, and gives every
 * stored value back with rules_restore_state() when it builds the engine.
 *
 *   subject              rule             key        value
 *   sensor (a meter)     tap_running      run_start  wall usec the run of flow began; 0: no run
 *                                         last_flow  wall usec of the run's last flow
 *                                         run_ml     millilitres in the run so far
 *                                         total_ml   a cumulative meter's total at last_flow (ml)
 *   sensor (a flat door) night_wandering  opened_at  wall usec the door was opened at night; 0: closed
 *   resident             night_wandering  night      yyyymmdd of the night * 1000 + 500 if its alert
 *                                                    was told + door openings that night (0..255)
 *   resident             morning_check    judged     yyyymmdd of the last wake-window deadline judged
 *
 * Values are wall-clock times, dates and counts, never the monotonic clock
 * (which starts again at 0 after a reboot); updates holding a wall time are
 * only emitted while the wall clock is synchronised. The set is bounded: a
 * few keys per meter, door and resident. docs/rules.md, "Restart".
 */
enum rule_state_subject {
        RULE_STATE_RESIDENT, /* subject: resident index */
        RULE_STATE_BUILDING, /* subject: building index */
        RULE_STATE_SENSOR,   /* subject: sensors.num */
        _RULE_STATE_SUBJECT_MAX,
};

struct rule_state_update {
        enum rule_state_subject kind;
        uint32_t subject;
        enum rule_id rule;
        const char *key;       /* a static string of the engine: valid for the program's life */
        int64_t value;
};

/*
 * Growable lists the engine appends to; the caller owns them and resets n /
 * n_slots / n_states between calls. A slot is emitted whenever its use
 * changes, and once with 0 litres when a half-hour passes without use while
 * the meter was known to be reporting: a stored 0 means "no water", a missing
 * slot "unknown". Slots are only emitted while the wall clock is
 * synchronised. Within one list a later update of the same slot or state
 * replaces the earlier one when it is among the last RULE_OUTPUT_DEDUP_WINDOW
 * entries (a burst of pulses updates one entry); further apart both stay, in
 * order, and whoever stores them keeps the later. Looking through the whole
 * list made a tick that judges 10,000 residents' mornings at once 50 million
 * comparisons.
 */
#define RULE_OUTPUT_DEDUP_WINDOW 64
struct rule_output {
        struct rule_decision *d;
        size_t n, alloc;
        struct water_slot_update *slots;
        size_t n_slots, alloc_slots;
        struct rule_state_update *states;
        size_t n_states, alloc_states;
        /* Set by rules_event(): the resident (index) whose real activity the event was — a door that moved,
         * not a repeated report; water that started — or -1. */
        int activity;
};
void rule_output_done(struct rule_output *o);

/* ---- running ------------------------------------------------------------------------------------------- */

/*
 * Feed one event at time now. Appends 0 or more decisions to out.
 * Returns 0, -ENOENT for an unknown sensor, -EINVAL for an unknown event type, -ENOMEM.
 * State-only events (EVENT_RETAINED, EVENT_INITIAL) update the known state but
 * never raise an alarm of their own: they are not activity, do not count a door
 * opening, do not refresh a sensor's "last heard" and do not repeat an open
 * alert. A condition they reveal (a GPIO leak sensor read wet when its line is
 * opened) is judged like any known state: raised unless its alert is open.
 */
int rules_event(Rules *r, const struct sensor_event *e, const struct rules_clock *now, struct rule_output *out);

/* Evaluate the time-based rules that are due at now. */
int rules_tick(Rules *r, const struct rules_clock *now, struct rule_output *out);

/* Monotonic time at which rules_tick must be called next, USEC_INFINITY if nothing is pending. */
usec_t rules_next_wakeup(Rules *r);

/*
 * A person resolved the alert for (resident, or building when resident < 0,
 * rule). The engine raises that rule again only for a new episode: a state
 * (leak wet, smoke) must end and start again, a new button press or fall is a
 * new episode, and a quiet rule (inactivity, water low use, combined) starts
 * its full period again from now.
 */
void rules_alert_resolved(Rules *r, int resident, int building, enum rule_id rule, const struct rules_clock *now);

/*
 * The resident's last activity as the engine counts it (a door that moved, not
 * a repeated report; water that started, not a tap that keeps running), in
 * wall time; 0 if none was seen since the start or the clock is not
 * synchronised. What the daemon should store for rules_restore_activity().
 */
usec_t rules_last_activity(Rules *r, int resident, const struct rules_clock *now);

/*
 * Whether activity of the resident at wall time `wall` must reach the store
 * at once, when the store holds `saved` (0: nothing yet). The daemon saves
 * last activity lazily (at most a few minutes behind): after a crash, a quiet
 * rule (inactivity) then only comes that much earlier. Some things a restart
 * would judge differently, though: the first activity of this morning's wake
 * window (the morning check would say nobody got up), and activity while a
 * tap runs in the flat (whether somebody moved since the water started).
 */
bool rules_activity_worth_saving(Rules *r, int resident, usec_t saved, usec_t wall);

/* ---- restoring after a restart ---------------------------------------------------------------------------- */

/*
 * The resident's last real activity, in wall time (from the events table).
 * With a synchronised clock it is converted to the monotonic clock at once;
 * unsynchronised, it is kept and converted when the clock is synchronised
 * (until then the inactivity timer counts from the engine's start, which can
 * only be later, never earlier, than the truth).
 */
int rules_restore_activity(Rules *r, int resident, usec_t wall, const struct rules_clock *now);
/*
 * The last known state of a sensor (e.g. door open since, leak wet), from the
 * store, replayed as a state-only event; a condition already true (leak still
 * wet, nobody active for 14 h) is decided at the next rules_tick. e->wall is
 * when the sensor was last heard (its silence is counted from there). Health
 * comes back the same way: EVENT_AVAILABILITY 0, EVENT_BATTERY, EVENT_TAMPER;
 * a meter's last EVENT_WATER_TOTAL is its baseline.
 */
int rules_restore_event(Rules *r, const struct sensor_event *e, const struct rules_clock *now);
/*
 * Water used by a meter in the half-hour slot starting at slot_wall (the
 * rows the engine emitted before, zero rows included: they say the meter was
 * known). Placed when the wall clock is (or becomes) synchronised.
 */
int rules_restore_water_slot(Rules *r, uint32_t sensor, usec_t slot_wall, double litres);

/* Which alerts are already open, so a restart does not raise them again as new. */
int rules_restore_open_alert(Rules *r, int resident, int building, enum rule_id rule);
/*
 * The same with the open alert's severity: a condition that got worse while
 * the daemon was down (a tap still running at 2 x tap_running_after) is told
 * at the first evaluation instead of being taken as already told.
 */
int rules_restore_open_alert_severity(Rules *r, int resident, int building, enum rule_id rule, enum severity sev);

/*
 * One stored rule_state value (see struct rule_state_update), given back at
 * start. Call it after rules_restore_event() and rules_restore_open_alert():
 * a tap run continues only if the meter's restored state agrees (a pulse
 * meter that flowed at most its pause + 10 minutes before now, a cumulative
 * meter whose restored total is the run's last reading, a flow switch still
 * "flowing"); a door's night opening only if the door is still known open.
 * Values that hold wall times are placed when the wall clock is (or becomes)
 * synchronised, like water slots. A morning check "judged" before today lets
 * the engine judge today's deadline if it passed while the daemon was down
 * (the usual rule is that a deadline from before the clock was trusted is
 * not caught up on); one judged today is not judged again.
 * Returns 0, -ENOENT (no such subject), -EINVAL (a rule and key the engine
 * does not keep, e.g. from a newer version; the caller ignores the row).
 */
int rules_restore_state(Rules *r, enum rule_state_subject kind, uint32_t subject, enum rule_id rule, const char *key,
                        int64_t value);
