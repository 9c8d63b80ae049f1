/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Between watch.c (sensors, rules, alerts) and watch-mqtt.c (topics and payloads). */
#pragma once

#include "daemon/watch.h"

/* watch-mqtt.c: the topic map behind an opaque pointer. */
int watch_topics_new(size_t n_sensors, void **ret);
void watch_topics_free(void *map);
int watch_topics_add(void *map, const char *topic, uint32_t num, enum sensor_kind kind);
/* The topic filters to subscribe to (malloc'd array of malloc'd strings). */
int watch_topics_finish(void *map, char ***ret_subs, size_t *ret_n);

/* watch.c, for watch-mqtt.c */
void *watch_topic_map(Watch *w);
/* True the first time a problem with this topic is seen (log once per topic). */
bool watch_topic_first_time(Watch *w, const char *topic);
void watch_count_unknown(Watch *w, bool bad_payload);
const char *watch_sensor_id(Watch *w, uint32_t num);
/* A message that parsed but carried nothing we use still says the sensor is alive. */
void watch_sensor_seen(Watch *w, uint32_t num, usec_t wall);
bool watch_clock_synced(Watch *w);
