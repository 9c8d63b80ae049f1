/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sensor health in words for people ("ok", "offline since …", "battery 12%",
 * "never seen") and the default silence limits per kind. A sensor that has
 * gone quiet is "unknown", never "all is well". Pure code.
 */
#pragma once

#include "daemon/roster.h"
#include "daemon/store.h"

/* How long a sensor of this kind may stay silent before it counts as offline
 * (defaults; the config may override). Safety sensors get less than
 * Zigbee2MQTT's 25 h availability timeout. */
usec_t sensor_kind_silence_limit(enum sensor_kind kind);

/* Below this battery percentage the committee is told. */
#define SENSOR_BATTERY_LOW_PERCENT 20

enum sensor_condition {
        SENSOR_OK,
        SENSOR_NEVER_SEEN,
        SENSOR_OFFLINE,     /* availability says offline */
        SENSOR_SILENT,      /* nothing heard for longer than the silence limit */
        SENSOR_BATTERY_LOW,
};

/* Judge a sensor's health. wired: a GPIO sensor (read by us, never "silent"). */
enum sensor_condition sensor_condition(enum sensor_kind kind, bool wired, const struct sensor_health *h,
                                       usec_t now);

/* Describe it for a list column, e.g. "offline since 11-21 23:05". Returns buf. */
char *sensor_health_describe(enum sensor_kind kind, bool wired, const struct sensor_health *h, usec_t now,
                             char *buf, size_t size);
