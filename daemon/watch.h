/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Watch: the daemon's picture of the roster at work. It owns the sensor
 * table, the MQTT topic map, the GPIO lines and the rule engine, takes
 * every normalised event (from MQTT or GPIO), keeps sensor health, writes
 * events with group commit, feeds the rules, and turns their decisions into
 * alerts. Everything runs on the loop thread.
 */
#pragma once

#include <systemd/sd-event.h>

#include "daemon/alerts.h"
#include "daemon/store.h"
#include "rules/rules.h"
#include "sensors/event.h"

typedef struct Watch Watch;

struct watch_settings {
        usec_t commit_interval;     /* group commit of events: 1 s */
        /* Last seen and last activity, when nothing else about a sensor or resident changed, are written at
         * most this much later (and at watch_flush()): 15 min. A restart after a crash may find them that
         * much behind. */
        usec_t refresh_interval;
        bool gpio_enabled;
        usec_t gpio_debounce;
        usec_t gpio_retry;
        const struct rules_settings *rules; /* defaults from the config; NULL: built-in */
        /* Render the default-language text of an alert for its JSON (templates); may be NULL. */
        char *(*render_text)(const struct rule_decision *d, const char *resident_name, const char *building,
                             const char *flat, void *userdata);
        void *render_userdata;
};

int watch_new(sd_event *e, Store *store, Alerts *alerts, const struct watch_settings *settings, Watch **ret);
/* Flushes pending events, then frees. Accepts NULL. */
Watch *watch_free(Watch *w);
DEFINE_FREE_FUNC(Watch, watch_free);

/*
 * (Re)build everything from the store: sensors, topic map, GPIO lines, rule
 * engine, and restore state (health, last activity, open alerts). Used at
 * start and when the roster changed. 0 or -errno.
 */
int watch_load(Watch *w);

/* One MQTT message (loop thread). Unknown topics and bad payloads are counted and logged once per topic. */
void watch_mqtt_message(Watch *w, const char *topic, const void *payload, size_t len, bool retained);

/* One event from any source; e->sensor is the sensor number. */
void watch_event(Watch *w, const struct sensor_event *e);

/* The wall clock is synchronised (or not); wall-clock rules wait until it is. */
void watch_set_clock_synced(Watch *w, bool synced);

/* Topic filters to subscribe to (owned by Watch; valid until the next watch_load). */
char *const *watch_subscriptions(Watch *w, size_t *ret_n);

/*
 * The group commit (every commit_interval, or when a batch is full): events, pulse counters, water use,
 * rule state, and the health and last-activity rows a restart needs now; freshness alone (last seen, last
 * activity, a battery level) waits for the next refresh. 0 or -errno.
 */
int watch_commit(Watch *w);
/* Write everything kept in memory, freshness too: at a clean stop and before a reload. 0 or -errno. */
int watch_flush(Watch *w);

struct watch_stats {
        unsigned residents, sensors, mqtt_sensors, gpio_active, gpio_waiting;
        uint64_t events, unknown_topics, bad_payloads, decisions;
};
void watch_get_stats(Watch *w, struct watch_stats *ret);
