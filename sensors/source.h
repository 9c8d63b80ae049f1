/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a sensor's signal comes from, as written in the roster's `source`
 * column:
 *
 *   mqtt:TOPIC                         e.g. mqtt:zigbee2mqtt/flat201-leak
 *   gpio:CHIP:LINE[:OPTION]...         e.g. gpio:gpiochip0:17:active_low
 *
 * CHIP is a name (gpiochip0), a label (pinctrl-bcm2711) or a path
 * (/dev/gpiochip0). OPTIONs, in any order:
 *   active_low              the contact pulls the line low when "on"
 *   pull_up | pull_down | bias_off   bias, where the kernel supports it
 *   debounce=DURATION       e.g. debounce=20ms (overrides [gpio] debounce)
 *   litres=N  or  NL        litres per pulse of a water meter's pulse output
 *
 * Pure code: parsing and formatting only.
 */
#pragma once

#include <stdbool.h>

#include "daemon/util.h"

enum sensor_source_type {
        SOURCE_MQTT,
        SOURCE_GPIO,
};

enum gpio_bias {
        GPIO_BIAS_AS_IS,
        GPIO_BIAS_PULL_UP,
        GPIO_BIAS_PULL_DOWN,
        GPIO_BIAS_DISABLE,
};

struct sensor_source {
        enum sensor_source_type type;
        char *topic; /* mqtt */
        char *chip;  /* gpio */
        unsigned line;
        bool active_low;
        enum gpio_bias bias;
        usec_t debounce;          /* 0: use the configured default */
        double litres_per_pulse;  /* 0: not a pulse meter */
};

/*
 * Parse a source string. On success fills *ret (caller frees with
 * sensor_source_done()) and returns 0. On error returns -EINVAL and, if
 * ret_error is non-NULL, a malloc'd message saying what is wrong and what
 * a correct source looks like.
 */
int sensor_source_parse(const char *s, struct sensor_source *ret, char **ret_error);

/* Free the strings inside; the struct itself is the caller's. Accepts zeroed structs. */
void sensor_source_done(struct sensor_source *s);

/* The canonical text form (what export writes). malloc'd, NULL on OOM. */
char *sensor_source_format(const struct sensor_source *s);
