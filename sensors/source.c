/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parsing and formatting of a sensor's source string (see source.h). */

#include "sensors/source.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <strings.h>

_printf_(2, 3) static int source_fail(char **ret_error, const char *fmt, ...)
{
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

void sensor_source_done(struct sensor_source *s)
{
        if (!s)
                return;
        free(s->topic);
        free(s->chip);
        s->topic = s->chip = NULL;
}

/* "10", "10L", "10l", "litres=10", "liters=10", "l=10", "0.5L" → litres per pulse. */
static int parse_litres(const char *opt, double *ret)
{
        const char *v;
        char buf[32];
        size_t n;
        double d;

        if ((v = startswith(opt, "litres=")) || (v = startswith(opt, "liters=")) || (v = startswith(opt, "l=")) ||
            (v = startswith(opt, "L=")))
                ;
        else {
                n = strlen(opt);
                if (n < 2 || (opt[n - 1] != 'L' && opt[n - 1] != 'l') || !isdigit((unsigned char)opt[0]))
                        return -ENOENT;
                if (n >= sizeof(buf))
                        return -EINVAL;
                memcpy(buf, opt, n - 1);
                buf[n - 1] = '\0';
                v = buf;
        }
        if (safe_atod(v, &d) < 0 || d <= 0 || d > 1000)
                return -EINVAL;
        *ret = d;
        return 0;
}

int sensor_source_parse(const char *s, struct sensor_source *ret, char **ret_error)
{
        struct sensor_source src = { 0 };
        const char *rest;

        if (ret_error)
                *ret_error = NULL;
        if (isempty(s))
                return source_fail(ret_error, "empty — write mqtt:TOPIC or gpio:CHIP:LINE");

        if ((rest = startswith(s, "mqtt:"))) {
                if (isempty(rest))
                        return source_fail(ret_error, "'%s' has no topic — write e.g. mqtt:zigbee2mqtt/r201-leak", s);
                if (strpbrk(rest, "+#"))
                        return source_fail(ret_error,
                                           "'%s': a sensor's topic cannot contain the wildcards '+' or '#' — "
                                           "give the device's own topic, e.g. zigbee2mqtt/r201-leak",
                                           s);
                for (const unsigned char *p = (const unsigned char *)rest; *p; p++)
                        if (*p < ' ')
                                return source_fail(ret_error, "'%s': the topic contains a control character", s);
                if (strlen(rest) > 512)
                        return source_fail(ret_error, "the topic is longer than 512 bytes");
                src.type = SOURCE_MQTT;
                src.topic = strdup(rest);
                if (!src.topic)
                        return -ENOMEM;
                *ret = src;
                return 0;
        }

        if ((rest = startswith(s, "gpio:"))) {
                _cleanup_free_ char *copy = strdup(rest);
                char *save = NULL, *chip, *line, *opt;
                int l;

                if (!copy)
                        return -ENOMEM;
                chip = strtok_r(copy, ":", &save);
                line = strtok_r(NULL, ":", &save);
                if (!chip || !line)
                        return source_fail(ret_error,
                                           "'%s' needs a chip and a line — write gpio:CHIP:LINE, e.g. "
                                           "gpio:gpiochip0:17 or gpio:gpiochip0:17:active_low",
                                           s);
                if (safe_atoi(line, &l) < 0 || l < 0 || l > 1023)
                        return source_fail(ret_error,
                                           "'%s': line '%s' is not a line number (0–1023); on a Raspberry Pi it "
                                           "is the BCM number, e.g. 17 for GPIO17 (pin 11)",
                                           s, line);
                src.type = SOURCE_GPIO;
                src.line = (unsigned)l;
                src.chip = strdup(chip);
                if (!src.chip)
                        return -ENOMEM;
                while ((opt = strtok_r(NULL, ":", &save))) {
                        const char *v;
                        int r;
                        if (strcasecmp(opt, "active_low") == 0 || strcasecmp(opt, "active-low") == 0)
                                src.active_low = true;
                        else if (strcasecmp(opt, "active_high") == 0)
                                src.active_low = false;
                        else if (strcasecmp(opt, "pull_up") == 0 || strcasecmp(opt, "pull-up") == 0)
                                src.bias = GPIO_BIAS_PULL_UP;
                        else if (strcasecmp(opt, "pull_down") == 0 || strcasecmp(opt, "pull-down") == 0)
                                src.bias = GPIO_BIAS_PULL_DOWN;
                        else if (strcasecmp(opt, "bias_off") == 0 || strcasecmp(opt, "bias_disable") == 0)
                                src.bias = GPIO_BIAS_DISABLE;
                        else if ((v = startswith(opt, "debounce="))) {
                                if (parse_duration(v, &src.debounce) < 0 || src.debounce > 10 * USEC_PER_SEC) {
                                        sensor_source_done(&src);
                                        return source_fail(ret_error,
                                                           "'%s': debounce '%s' is not a duration up to 10s, "
                                                           "e.g. debounce=20ms",
                                                           s, v);
                                }
                        } else if ((r = parse_litres(opt, &src.litres_per_pulse)) != -ENOENT) {
                                if (r < 0) {
                                        sensor_source_done(&src);
                                        return source_fail(ret_error,
                                                           "'%s': '%s' is not a litres-per-pulse value — write "
                                                           "litres=1 or litres=10 as printed on the meter",
                                                           s, opt);
                                }
                        } else {
                                sensor_source_done(&src);
                                return source_fail(ret_error,
                                                   "'%s': unknown option '%s' — options are active_low, pull_up, "
                                                   "pull_down, bias_off, debounce=DURATION, litres=N",
                                                   s, opt);
                        }
                }
                *ret = src;
                return 0;
        }

        return source_fail(ret_error, "'%s' is not a source — write mqtt:TOPIC or gpio:CHIP:LINE[:active_low]", s);
}

char *sensor_source_format(const struct sensor_source *s)
{
        char *out = NULL;
        char litres[48] = "", debounce[48] = "";
        static const char *const bias[] = {
                [GPIO_BIAS_AS_IS] = "", [GPIO_BIAS_PULL_UP] = ":pull_up",
                [GPIO_BIAS_PULL_DOWN] = ":pull_down", [GPIO_BIAS_DISABLE] = ":bias_off",
        };

        switch (s->type) {
        case SOURCE_MQTT:
                if (asprintf(&out, "mqtt:%s", s->topic) < 0)
                        return NULL;
                return out;
        case SOURCE_GPIO:
                if (s->litres_per_pulse > 0)
                        snprintf(litres, sizeof(litres), ":litres=%g", s->litres_per_pulse);
                if (s->debounce > 0) {
                        if (s->debounce % USEC_PER_MSEC == 0)
                                snprintf(debounce, sizeof(debounce), ":debounce=%llums",
                                         (unsigned long long)(s->debounce / USEC_PER_MSEC));
                        else
                                snprintf(debounce, sizeof(debounce), ":debounce=%gms",
                                         (double)s->debounce / USEC_PER_MSEC);
                }
                if (asprintf(&out, "gpio:%s:%u%s%s%s%s", s->chip, s->line, s->active_low ? ":active_low" : "",
                             bias[s->bias], debounce, litres) < 0)
                        return NULL;
                return out;
        }
        return NULL;
}
