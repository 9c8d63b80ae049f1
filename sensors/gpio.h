/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GPIO sensors through libgpiod 1.6 on the sd-event loop: each line's event
 * fd is an sd-event io source; debounce timers are sd-event timers.
 *
 * Debounce ("instant on, verified off"): the first edge that changes a
 * line's settled state is reported at once (an alert must not wait for a
 * debounce period), then edges are ignored for the debounce time, and when
 * it ends the level is read again; if it differs from what was reported, the
 * new level is reported (and another debounce period starts). So a bouncing
 * reed switch gives one event, and a burst that overflowed the kernel's
 * 16-event queue still ends in the right state.
 *
 * Buttons report a press per leading edge (a press shorter than the
 * debounce time still counts). Water-meter pulse outputs count leading
 * edges. For both, an edge to active counts only after the line was
 * inactive for at least the debounce time, judged by the kernel's edge
 * timestamps, so contact bounce (closing or opening) never counts twice and
 * edges queued while the loop was busy are each judged right.
 *
 * A chip that is missing or a line that is busy is retried every
 * retry_interval; MQTT sensors are not affected.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "daemon/roster.h"
#include "sensors/event.h"
#include "sensors/source.h"

typedef struct GpioSet GpioSet;

/* Called on the loop thread for each event from a GPIO sensor. */
typedef void (*gpio_event_cb)(GpioSet *g, const struct sensor_event *e, void *userdata);

/* Default debounce suits reed switches and leak probes. */
#define GPIO_DEBOUNCE_DEFAULT (30 * USEC_PER_MSEC)

int gpio_set_new(sd_event *e, usec_t default_debounce, usec_t retry_interval, GpioSet **ret);
GpioSet *gpio_set_free(GpioSet *g);
DEFINE_FREE_FUNC(GpioSet, gpio_set_free);

void gpio_set_set_callback(GpioSet *g, gpio_event_cb cb, void *userdata);

/*
 * Add a sensor (copies what it needs). Nothing is opened until
 * gpio_set_start(). Returns 0, -EINVAL (not a gpio source), -ENOMEM.
 */
int gpio_set_add(GpioSet *g, uint32_t sensor_num, const char *sensor_id, enum sensor_kind kind,
                 const struct sensor_source *src);

/*
 * Open chips and request lines. Lines that cannot be had now are logged
 * (naming chip and line) and retried later. Each line's initial level is
 * reported as an EVENT_INITIAL event. Returns 0 or -ENOMEM; a missing chip is
 * not an error here.
 */
int gpio_set_start(GpioSet *g);

/* How many lines are requested and watched, and how many are waiting for a retry. */
void gpio_set_counts(GpioSet *g, unsigned *ret_active, unsigned *ret_waiting);

/* The consumer label shown by gpioinfo for our lines. */
#define GPIO_CONSUMER "shouwang"
