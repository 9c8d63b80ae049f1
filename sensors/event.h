/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The normalised sensor event: what every source (MQTT payload parser, GPIO
 * line, pulse counter) turns its input into, what the rules consume and what
 * the events table stores. One MQTT message may give several events (a
 * Zigbee2MQTT leak sensor reports water_leak, battery and tamper at once).
 *
 * The numeric values of enum event_type are stored in the events table:
 * never renumber, only append.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon/util.h"

enum event_type {
        EVENT_LEAK = 1,         /* value 1 wet, 0 dry */
        EVENT_CONTACT = 2,      /* value 1 open, 0 closed (door; Z2M "contact": true means closed) */
        EVENT_MOTION = 3,       /* value 1 occupancy, 0 clear */
        EVENT_BUTTON = 4,       /* value: enum button_action */
        EVENT_FALL = 5,         /* value 1 fall detected, 0 cleared */
        EVENT_SMOKE = 6,        /* value 1 alarm, 0 clear */
        EVENT_GAS = 7,          /* value 1 alarm, 0 clear */
        EVENT_CO = 8,           /* value 1 alarm, 0 clear */
        EVENT_SELF_TEST = 9,    /* a detector's test: value 1 started (an alarm meanwhile is the test),
                                 * 2 a cached "testing" datapoint (recorded, suppresses nothing), 0 ended */
        EVENT_WATER_FLOW = 10,  /* value 1 flowing, 0 stopped (flow switch) */
        EVENT_WATER_TOTAL = 11, /* value: cumulative meter reading in litres (MQTT meters) */
        EVENT_WATER_PULSES = 12,/* value: litres counted from pulses since the last event (GPIO meters) */
        EVENT_BATTERY = 13,     /* value: percent 0..100 */
        EVENT_BATTERY_LOW = 14, /* value 1 low, 0 ok */
        EVENT_TAMPER = 15,      /* value 1 tampered, 0 ok */
        EVENT_AVAILABILITY = 16,/* value 1 online, 0 offline */
        EVENT_CHECK_IN = 17,    /* a person said "I am fine" (button single press can be mapped to this) */
        EVENT_WATER_FLOW_RATE = 18, /* value: litres per hour as reported (wmbusmeters max_flow_m3h) */
        EVENT_LOCK_FAULT = 19,  /* value 1 the door's lock reports a fault (not fully locked), 0 locked or unlocked */
        _EVENT_TYPE_MAX,
};

enum button_action {
        BUTTON_SINGLE = 1,
        BUTTON_DOUBLE = 2,
        BUTTON_LONG = 3,
        BUTTON_OTHER = 4, /* an action string we do not know: still a press */
        BUTTON_EMERGENCY = 5, /* an SOS button's "emergency"/"sos"/"panic": a call for help, never a check-in */
};

enum {
        EVENT_RETAINED = 1 << 0, /* came from a retained MQTT message: state, not a fresh happening */
        EVENT_INITIAL = 1 << 1,  /* the level read when a GPIO line was opened: state, not a happening */
        EVENT_UNSYNCED = 1 << 2, /* the wall clock was not synchronised when this was received */
        EVENT_RESYNC = 1 << 3,   /* re-read after a kernel event queue overflow or a reconnect */
        EVENT_SOURCE_TIME = 1 << 4, /* wall time came from the payload (wmbusmeters timestamp) */
};

struct sensor_event {
        uint32_t sensor;   /* the daemon's sensor number (sensors.num) */
        uint16_t type;     /* enum event_type */
        uint16_t flags;    /* EVENT_* */
        double value;
        usec_t mono;       /* CLOCK_BOOTTIME when received: durations */
        usec_t wall;       /* CLOCK_REALTIME: what people read, wall-clock rules */
};

const char *event_type_to_string(enum event_type t);
int event_type_from_string(const char *s);

/* True for events that show a person is up and about (inactivity, morning check). */
bool event_is_activity(const struct sensor_event *e);

/* True when the event only restates a known state (retained, initial level). */
static inline bool event_is_state_only(const struct sensor_event *e)
{
        return (e->flags & (EVENT_RETAINED | EVENT_INITIAL)) != 0;
}
