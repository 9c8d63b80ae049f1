/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A resident's water use as committee staff ask about it ("did Mr Shen use
 * water yesterday evening?"): litres per local day and hour, from the
 * water_slots table (half-hour slots per meter, in ml).
 *
 * Unknown is never shown as 0. A stored slot of 0 ml says "the meter was
 * reporting and no water ran"; a missing slot says "unknown" (the meter was
 * offline or not reporting). An hour is known only when every meter of the
 * flat reported every half-hour of it that has ended; when some did and
 * counted water, the litres shown are what is known, a lower bound
 * ("partial"); "at least 0 litres" is shown as unknown.
 *
 * Local time is the process's time zone (TZ): shouwangctl sets it from the
 * config's [general] timezone, as shouwangd does. Slots are bucketed by the
 * local hour their half-hour starts in, so days with a DST change get 23 or
 * 25 hours' worth of slots and zones off by 15/45 minutes from a half-hour
 * get the slot that starts in the hour.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "daemon/util.h"

struct cJSON;
typedef struct Store Store;

/* Longest report: --days N. */
#define WATER_REPORT_MAX_DAYS 31

enum water_state {
        WATER_KNOWN,   /* every meter reported every half-hour that has ended (or, not ended yet, some water) */
        WATER_PARTIAL, /* some half-hours unknown, but some water known: the litres are a lower bound */
        WATER_UNKNOWN, /* nothing reported */
        WATER_NOT_YET, /* has not ended yet and nothing reported (later today) */
        WATER_SKIPPED, /* no such hour that day (the clocks went forward) */
};

/* "known", "partial", "unknown", "not_yet", "skipped" (as in the JSON). */
const char *water_state_to_string(enum water_state s);

struct water_hour {
        int hour;           /* local hour of day, 0-23 */
        int64_t ml;             /* sum of the stored slots */
        unsigned n_half;        /* half-hours starting in this hour (2; 0 or 4 when the clocks change) */
        unsigned n_half_ended;  /* ...of those, ended by now */
        unsigned n_ended_known; /* stored slots of ended half-hours, over all counted meters */
        unsigned n_stored;      /* stored slots, ended or not, over all counted meters */
        enum water_state state;
};

struct water_day {
        char date[16];  /* YYYY-MM-DD, local */
        int wday;       /* 0 = Sunday */
        usec_t start;   /* local midnight (wall usec) */
        usec_t end;     /* the next local midnight */
        struct water_hour hours[24];
        int64_t ml;
        unsigned unknown_hours, partial_hours;
        enum water_state state;
};

struct water_meter {
        int64_t num;
        char *id, *kind, *source;
        /* Measures litres. A water_flow sensor is a flow switch (on/off, no litres) unless its source gives
         * litres per pulse or it has ever stored a slot; a switch is listed but not counted. */
        bool counted;
        usec_t last_slot_end; /* end of the newest stored slot (wall usec), 0: never reported */
};

typedef struct WaterReport {
        char *resident_id, *resident_name, *building_id, *flat;
        struct water_meter *meters;
        size_t n_meters;
        struct water_day *days; /* oldest first */
        size_t n_days;
        usec_t now;
} WaterReport;

/*
 * An empty report of n_days (1..WATER_REPORT_MAX_DAYS) local days ending with the day that holds last_day
 * (wall usec), judged at `now`. Returns 0, -EINVAL (n_days, or a time mktime() cannot place), -ENOMEM.
 */
int water_report_new(usec_t last_day, unsigned n_days, usec_t now, WaterReport **ret);
WaterReport *water_report_free(WaterReport *w);
DEFINE_FREE_FUNC(WaterReport, water_report_free);

/* Who it is about (copied). 0 or -ENOMEM. */
int water_report_set_resident(WaterReport *w, const char *id, const char *name, const char *building,
                              const char *flat);

/* Add a meter (strings copied); returns its index (>= 0) or -ENOMEM. */
int water_report_add_meter(WaterReport *w, int64_t num, const char *id, const char *kind, const char *source,
                           bool counted, usec_t last_slot_end);

/* Add one stored slot (slot = wall seconds / 1800) of meter index `meter`; slots outside the days are ignored. */
void water_report_add_slot(WaterReport *w, size_t meter, int64_t slot, int64_t ml);

/* Work out the states and totals once every slot is added. */
void water_report_finish(WaterReport *w);

/* Number of counted meters. */
size_t water_report_n_counted(const WaterReport *w);

/*
 * Everything from the store: the resident, their water meters (sensors of kind water_meter or water_flow) and
 * the slots of the days asked for. Returns 0 or:
 *   -ENOENT  no such resident
 *   -ENODEV  the resident has no water meter (or only flow switches, which measure no litres)
 *   -ENOMEM, -EIO… from SQLite
 * On error *ret_error (if not NULL) gets a malloc'd sentence for a person, and *ret is NULL.
 */
int water_report_load(Store *s, const char *resident_id, usec_t last_day, unsigned n_days, usec_t now,
                      WaterReport **ret, char **ret_error);

/*
 * The JSON shape documented in docs/admin.md ("Water use"). timezone may be NULL (then JSON null).
 * NULL on OOM; the caller frees with cJSON_Delete().
 */
struct cJSON *water_report_json(const WaterReport *w, const char *timezone);

/* The table for people, with a legend, to f. timezone may be NULL. 0 or -ENOMEM. */
int water_report_print(const WaterReport *w, const char *timezone, FILE *f);
