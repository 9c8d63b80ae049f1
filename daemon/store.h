/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store: one SQLite file (WAL, foreign keys, busy timeout, mode 0600)
 * holding the roster, away periods, sensor health, events, alerts,
 * deliveries and the audit trail. The schema is versioned with
 * PRAGMA user_version and migrated forward on open (store-schema.c).
 *
 * Every statement is prepared; nothing is built from input. SQLite result
 * codes are translated to negative errno where they enter our code, and the
 * last failure is kept as a sentence a person can act on (store_error()).
 *
 * Not thread-safe: one Store per thread (the daemon's loop thread owns its).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon/roster.h"
#include "daemon/util.h"

typedef struct Store Store;

enum {
        STORE_OPEN_CREATE = 1 << 0,   /* create the file if missing (else -ENOENT) */
        STORE_OPEN_READONLY = 1 << 1, /* no migrations, no writes */
        /* The daemon's: a 512 KiB page cache instead of SQLite's 2 MiB. It reads the roster once and then
         * appends; the pages it reads again are in the kernel's page cache (docs/performance.md figure 4). */
        STORE_OPEN_SMALL_CACHE = 1 << 2,
        /* The daemon's: no commit checkpoints the WAL into the database file. SQLite's default does it inside the
         * commit that takes the WAL past 1,000 pages — whichever that is, an alert's too, before anyone is told,
         * and the loop waits for it. Instead a thread of the store's own, with its own connection, does it as
         * soon as a commit leaves that much: the WAL lets it run while the loop goes on writing. */
        STORE_OPEN_CHECKPOINT_LATER = 1 << 3,
};
/* WAL pages after which a checkpoint is due (SQLite's own default). */
#define STORE_CHECKPOINT_PAGES 1000

/*
 * Open (and if needed create, with mode 0600) the database at path, set WAL,
 * foreign keys, busy timeout and synchronous=FULL, and migrate the schema to
 * the newest version. Returns 0, or:
 *   -ENOENT   file missing and no STORE_OPEN_CREATE
 *   -EPROTO   the file was written by a newer shouwang (user_version too high)
 *   -EIO/-EACCES/-EBUSY/... from SQLite
 * On error *ret is NULL; a message is logged by the caller from the return
 * and store_open_error() describes it.
 */
int store_open(const char *path, unsigned flags, Store **ret);
Store *store_free(Store *s);
DEFINE_FREE_FUNC(Store, store_free);

/* A message for a person about the last failure on this store ("" if none). */
const char *store_error(Store *s);
/* Thread-local message about the last failed store_open(). */
const char *store_open_error(void);

/* Version the schema is at, and the newest this program knows. */
int store_schema_version(Store *s);
int store_schema_latest(void);

/* Transactions (not nestable; roster import is all-or-nothing in one). */
int store_begin(Store *s);
int store_commit(Store *s);
int store_rollback(Store *s);

/*
 * Generic roster access, rows as strings in roster column order
 * (see roster.h). Values must already be normalised by
 * roster_row_normalise().
 *
 * store_roster_check(): what roster_row_normalise() cannot know — that a
 * link's resident and contact exist, that a sensor's resident exists and its
 * building matches, that a sensor source is not already used by another
 * sensor. Returns 0 or -EINVAL with a malloc'd message in *ret_error.
 *
 * store_roster_upsert(): insert, or update the row with the same key;
 * creates the building on first mention. *ret_change (optional) says what
 * happened: STORE_CREATED, STORE_UPDATED or STORE_UNCHANGED.
 * Returns 0 or negative errno (-EINVAL with store_error() on constraint).
 *
 * store_roster_delete(): -ENOENT if absent, -EBUSY if still referenced in a
 * way we refuse to cascade (a resident with open alerts).
 *
 * store_roster_get(): *ret_values is a malloc'd array of n_columns malloc'd
 * strings (free with roster_row_clear()+free()). -ENOENT if absent.
 *
 * store_roster_foreach(): calls cb for every row in key order; a negative
 * return from cb stops the walk and is returned.
 */
int store_roster_check(Store *s, enum roster_kind kind, char *const *v, char **ret_error);
enum store_change {
        STORE_UNCHANGED,
        STORE_CREATED,
        STORE_UPDATED,
};
int store_roster_upsert(Store *s, enum roster_kind kind, char *const *v, enum store_change *ret_change);
int store_roster_delete(Store *s, enum roster_kind kind, char *const *key);
int store_roster_get(Store *s, enum roster_kind kind, char *const *key, char ***ret_values);
typedef int (*store_roster_cb)(char *const *v, void *userdata);
int store_roster_foreach(Store *s, enum roster_kind kind, store_roster_cb cb, void *userdata);
int store_roster_count(Store *s, enum roster_kind kind, int64_t *ret);

/* Away periods: a resident is away from starts_at until ends_at (realtime usec). */
struct away_period {
        int64_t id;
        char *resident_id;
        usec_t starts_at;
        usec_t ends_at;
        char *reason;
};
void away_period_done(struct away_period *a);
/* Returns the new row id (> 0) or negative errno (-ENOENT: no such resident, -EINVAL: ends before starts). */
int64_t store_away_add(Store *s, const char *resident_id, usec_t starts_at, usec_t ends_at, const char *reason);
int store_away_delete(Store *s, int64_t id);
/* Ends every away period of the resident that covers now (sets ends_at = now). Returns count or -errno. */
int store_away_end(Store *s, const char *resident_id, usec_t now);
/* Periods that have not ended before `now` (current and future), optionally of one resident (NULL: all). */
typedef int (*store_away_cb)(const struct away_period *a, void *userdata);
int store_away_foreach(Store *s, const char *resident_id, usec_t now, store_away_cb cb, void *userdata);

/* The id of sensor number num into buf (at most 64 bytes and a NUL: roster.c's limit): the daemon keeps only numbers
 * in memory and reads an id when it names the sensor, in an alert or the log. 0, -ENOENT (removed since), -errno. */
int store_sensor_id(Store *s, int64_t num, char *buf, size_t size);

/* Sensor health, as the daemon records it and shouwangctl shows it. */
struct sensor_health {
        usec_t last_seen;      /* 0: never */
        int battery;           /* percent, -1 unknown */
        int available;         /* 1 online, 0 offline, -1 unknown */
        usec_t available_since;
        char *state;           /* last normalised value, e.g. "wet", "closed" */
};
void sensor_health_done(struct sensor_health *h);
int store_sensor_health_get(Store *s, const char *sensor_id, struct sensor_health *ret);
int store_sensor_health_set(Store *s, const char *sensor_id, const struct sensor_health *h);

/* Audit trail: who did what. actor: "ctl:<user>", "contact:<id>", "daemon". */
int store_audit(Store *s, usec_t at, const char *actor, const char *action, const char *object,
                const char *detail);

/* For tests of migrations: create or open path and migrate only up to `version`. */
int store_open_at_version(const char *path, int version, Store **ret);

/* Raw handle for code in daemon/ that needs more (events, alerts); never hand out further. */
struct sqlite3;
struct sqlite3 *store_db(Store *s);

/* ---- sensors as the daemon loads them, events ------------------------------------------------------------ */

struct store_sensor {
        int64_t num;
        const char *id;
        const char *resident_id; /* "" for a common area */
        const char *building_id;
        const char *kind;
        const char *source;
        struct sensor_health health; /* state valid during the call only */
        int64_t counter;             /* pulse count of a water meter */
};
typedef int (*store_sensor_cb)(const struct store_sensor *s, void *userdata);
/* Every sensor with its number and health, in number order. Strings valid during the call. */
int store_sensor_foreach(Store *s, store_sensor_cb cb, void *userdata);

struct sensor_event;

/* Health rows for several sensors, and last real activity per resident (wall usec):
 * parts of a group commit (store_group_commit()). */
struct store_health_update {
        int64_t num;
        struct sensor_health health;
};
struct store_activity {
        const char *resident_id;
        usec_t at;
};
typedef int (*store_activity_cb)(const char *resident_id, usec_t at, void *userdata);
int store_activity_foreach(Store *s, store_activity_cb cb, void *userdata);

/* Remove up to max events older than before (realtime usec), oldest first, so a
 * year's backlog goes in short steps that never hold the loop. Returns rows
 * removed or -errno. */
int64_t store_events_prune(Store *s, usec_t before, unsigned max);

/* ---- alerts and deliveries as the outbox and shouwangctl read them (store-alerts.c) --------------------- */

struct alert_info {
        int64_t id;
        char *rule, *severity, *state, *subject;
        char *resident_id, *resident_name, *building_id, *flat, *sensor_id;
        int lives_alone; /* -1 for a common area */
        char *text_key, *params, *text;
        unsigned flags;
        bool test;
        usec_t opened_at, updated_at, cleared_at;
        int repeats, tier;
        usec_t next_escalation_at;
        usec_t acked_at;
        char *acked_by, *acked_by_name;
        usec_t resolved_at;
        char *resolved_by, *outcome, *note;
};
void alert_info_done(struct alert_info *a);
int store_alert_info_get(Store *s, int64_t id, struct alert_info *ret);
/* Open and recent alerts (resolved within `recent`), newest first; limit 0 = no limit. */
typedef int (*store_alert_cb)(const struct alert_info *a, void *userdata);
int store_alerts_foreach(Store *s, usec_t now, usec_t recent, size_t limit, store_alert_cb cb, void *userdata);

struct delivery_info {
        int64_t id, alert_id;
        char *contact_id, *contact_name, *contact_phone, *contact_role;
        char *channel, *purpose, *state;
        int attempts;
        usec_t next_attempt_at, created_at, sent_at;
        char *last_error;
};
void delivery_info_done(struct delivery_info *d);
int store_delivery_get(Store *s, int64_t id, struct delivery_info *ret);
/* Pending deliveries due at or before `now` (oldest first, at most `limit`). */
typedef int (*store_delivery_cb)(const struct delivery_info *d, void *userdata);
int store_deliveries_due(Store *s, usec_t now, size_t limit, store_delivery_cb cb, void *userdata);
/* All deliveries of one alert, in creation order. */
int store_deliveries_of_alert(Store *s, int64_t alert_id, store_delivery_cb cb, void *userdata);
/* Earliest next_attempt_at of a pending delivery, USEC_INFINITY if none. */
usec_t store_deliveries_next(Store *s);

enum delivery_outcome {
        DELIVERY_SENT,
        DELIVERY_RETRY,    /* failed, try again at next_attempt_at */
        DELIVERY_FAILED,   /* failed for good */
        DELIVERY_DEFERRED, /* not tried (channel down): try again at next_attempt_at, not an attempt */
};
/* Record an attempt (audit row) and the delivery's new state, with synchronous=FULL. */
int store_delivery_record(Store *s, int64_t id, enum delivery_outcome outcome, usec_t now, usec_t next_attempt_at,
                          const char *detail);
/* A channel is back: its deliveries deferred while it was down are due now. Returns how many, or -errno. */
int store_deliveries_wake(Store *s, const char *channel, usec_t now);

/* Contacts told about an alert, with whether they acknowledged. */
struct alert_contact_info {
        const char *contact_id, *name, *role, *reason;
        int tier;
        usec_t notified_at, acked_at;
        bool reached; /* at least one delivery sent */
};
typedef int (*store_alert_contact_cb)(const struct alert_contact_info *c, void *userdata);
int store_alert_contacts_foreach(Store *s, int64_t alert_id, store_alert_contact_cb cb, void *userdata);

/* Changes when another connection (shouwangctl) committed since the last call. -errno on failure. */
int64_t store_data_version(Store *s);
/* Bumped by triggers on any change to the roster tables (buildings, residents,
 * their settings and away periods, contacts, sensors), whoever made it. */
int64_t store_roster_version(Store *s);
/* The database file's path as given to store_open(). */
const char *store_path(Store *s);

/* ---- per-resident rule settings (overrides of the config's [rules]) ----------------------------------------- */

/* Set (value non-NULL) or remove (value NULL) one setting. -ENOENT: no such resident (or setting, on remove). */
int store_resident_setting_set(Store *s, const char *resident_id, const char *key, const char *value);
/* Every setting, of one resident or (resident_id NULL) of all, ordered by resident id then key. */
typedef int (*store_setting_cb)(const char *resident_id, const char *key, const char *value, void *userdata);
int store_resident_settings_foreach(Store *s, const char *resident_id, store_setting_cb cb, void *userdata);

/* ---- what lets the rules survive a restart (store-state.c) ------------------------------------------------- */

/* Water use of a meter in one half-hour slot (slot = wall seconds / 1800), in millilitres. */
struct store_water_slot {
        int64_t sensor_num;
        int64_t slot;
        int64_t ml;
};

/* One piece of rule state: subject 'R201', 'building:B17' or 'sensor:12'; rule and key name the value. */
struct store_rule_state {
        const char *subject, *rule, *key;
        int64_t value;
};

/* A pulse meter's running count of pulses (sensor_health.counter). */
struct store_counter {
        int64_t sensor_num;
        int64_t counter;
};

/*
 * The daemon's group commit: everything batched since the last one, in one
 * transaction with synchronous=NORMAL (a power cut may lose the last batch,
 * never corrupt the file; alerts commit with FULL on their own). Events are
 * appended; health rows, last activity, water slots, rule state and counters
 * replace what is stored (a slot carries its use so far, not a delta). Rows
 * for a sensor or resident removed meanwhile are skipped. Any list may be
 * empty. Returns 0, or -errno with nothing saved (store_error() says why).
 */
struct store_group {
        const struct sensor_event *events;
        size_t n_events;
        const struct store_health_update *health;
        size_t n_health;
        const struct store_activity *activity;
        size_t n_activity;
        const struct store_water_slot *slots;
        size_t n_slots;
        const struct store_rule_state *states;
        size_t n_states;
        const struct store_counter *counters;
        size_t n_counters;
};
int store_group_commit(Store *s, const struct store_group *g);

/* One meter's slots from_slot..to_slot (inclusive), oldest first. A negative return from cb stops the walk
 * and is returned. Reading years of history by meter and range stays an index lookup. */
typedef int (*store_water_slot_cb)(const struct store_water_slot *w, void *userdata);
int store_water_slots_foreach(Store *s, int64_t sensor_num, int64_t from_slot, int64_t to_slot,
                              store_water_slot_cb cb, void *userdata);
/* The newest slot stored for a meter: 0, or -ENOENT when it has none. */
int store_water_slot_last(Store *s, int64_t sensor_num, int64_t *ret_slot);

/* Every rule_state row (strings valid during the call). */
typedef int (*store_rule_state_cb)(const struct store_rule_state *st, void *userdata);
int store_rule_state_foreach(Store *s, store_rule_state_cb cb, void *userdata);

/* A sensor's pulse counter (0 while none was kept); -ENOENT if there is no such sensor. */
int store_sensor_counter_get(Store *s, const char *sensor_id, int64_t *ret);

/* Open alerts' (resident or building, rule, severity), for rules_restore_open_alert_severity(). */
typedef int (*store_open_alert_severity_cb)(const char *resident_id, const char *building_id, const char *rule,
                                            const char *severity, void *userdata);
int store_open_alerts_severity_foreach(Store *s, store_open_alert_severity_cb cb, void *userdata);
