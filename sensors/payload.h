/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MQTT payload normaliser: one message for a sensor of a known kind in,
 * normalised events out. It understands Zigbee2MQTT JSON, wmbusmeters JSON,
 * plain payloads (1/0, ON/OFF, true/false, open/closed, a number of m³ for a
 * water meter) and availability messages (Zigbee2MQTT "online"/"offline" or
 * {"state":"online"}, Tasmota LWT "Online"/"Offline"). docs/sensors.md lists
 * every field accepted for every kind, with examples.
 *
 * Pure code: no I/O, no logging, no global state; safe to call from any one
 * thread at a time per result. Any bytes are accepted as input: the work is
 * bounded by PAYLOAD_MAX_SIZE and a JSON nesting limit.
 */
#pragma once

#include <stddef.h>

#include "daemon/roster.h"
#include "sensors/event.h"

/* Larger messages are refused without being parsed (a sensor message is < 1 KiB). */
#define PAYLOAD_MAX_SIZE (64 * 1024)

/* The most events one message can give (state, self-test, battery, battery low,
 * tamper, total, flow rate…: at most 7 today). */
#define PAYLOAD_EVENTS_MAX 12

/* A reason buffer of this size never truncates a field name. */
#define PAYLOAD_REASON_MAX 160

/* What the topic a message came on means for its sensor (see topic-map.h). */
enum payload_role {
        PAYLOAD_DATA,         /* the device's own topic: state, battery… */
        PAYLOAD_AVAILABILITY, /* T/availability (Zigbee2MQTT) or tele/DEV/LWT (Tasmota): online/offline */
        _PAYLOAD_ROLE_MAX,
};

struct payload_result {
        /* Only type, value, and for a payload that carries its own time (wmbusmeters
         * "timestamp", Zigbee2MQTT "last_seen") wall with EVENT_SOURCE_TIME, are set. The
         * caller fills sensor, mono, wall (when not EVENT_SOURCE_TIME) and the
         * RETAINED/UNSYNCED flags: the parser knows nothing about the message's delivery. */
        struct sensor_event events[PAYLOAD_EVENTS_MAX];
        size_t n_events;
        /* Some field had a value we could not use; reason names it. The events come from
         * the message's other fields and are good: a leak sensor's "water_leak" must not be
         * lost because its "battery" was odd. Only set when n_events > 0. */
        bool partial;
};

/*
 * Parse one message of len bytes (any bytes; need not be NUL-terminated) that
 * arrived for a sensor of the given kind on a topic of the given role.
 *
 * Returns the number of events put in *ret (> 0); 0 when the message is
 * well-formed but carries nothing this kind uses (e.g. only "linkquality",
 * or an empty "action" after a button press) — the sensor is still alive, so
 * the caller records "last seen"; or a negative errno with no events:
 *   -EMSGSIZE  larger than PAYLOAD_MAX_SIZE
 *   -EBADMSG   neither JSON nor a plain payload we know (binary, truncated JSON,
 *              too deeply nested, a JSON array…)
 *   -EINVAL    a field this kind uses had a value we cannot read, e.g.
 *              water_leak: expected true/false, got "maybe"
 *   -ENOMEM
 * reason (may be NULL) gets a short sentence for the log whenever the return
 * value is negative or ret->partial is set, and "" otherwise; bytes from the
 * payload are shown escaped, so it is safe to log. *ret is always reset.
 */
int payload_parse(enum sensor_kind kind, enum payload_role role, const void *data, size_t len,
                  struct payload_result *ret, char *reason, size_t reason_size);

const char *payload_role_to_string(enum payload_role role);
