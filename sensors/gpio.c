/* SPDX-License-Identifier: GPL-2.0-or-later */
/* GPIO sensors: libgpiod 1.6 lines on the sd-event loop, debounce, retries. */

#include "sensors/gpio.h"

#include <gpiod.h>

#include "daemon/log.h"

enum line_mode {
        MODE_LEVEL,  /* door, leak, motion, smoke…: report the settled level */
        MODE_BUTTON, /* report each press */
        MODE_PULSE,  /* count pulses of a water meter */
};

struct chip_ref {
        char *name;
        struct gpiod_chip *chip;
        unsigned users;
        struct chip_ref *next;
};

struct gpio_line {
        GpioSet *set;
        uint32_t num;
        char *id;
        enum sensor_kind kind;
        enum line_mode mode;
        char *chip_name;
        unsigned offset;
        bool active_low;
        enum gpio_bias bias;
        usec_t debounce;
        double litres_per_pulse;

        struct chip_ref *chip;
        struct gpiod_line *line;
        sd_event_source *io, *timer;
        int settled; /* last reported level, -1 unknown */
        bool locked;
        /* Pulses and presses: the line is inactive, since the edge with this kernel timestamp (INT64_MIN:
         * since before we watched it). */
        bool idle;
        int64_t idle_since_ns;
        bool waiting;      /* not requested; retried */
        int last_error;    /* to log a failure once, not at every retry */
        int available;     /* last reported availability, -1 none yet */
};

struct GpioSet {
        sd_event *event;
        usec_t default_debounce, retry_interval;
        gpio_event_cb cb;
        void *userdata;
        struct gpio_line **lines;
        size_t n_lines;
        struct chip_ref *chips;
        sd_event_source *retry_timer;
};

static enum event_type kind_event_type(enum sensor_kind k)
{
        switch (k) {
        case SENSOR_LEAK:
                return EVENT_LEAK;
        case SENSOR_DOOR:
                return EVENT_CONTACT;
        case SENSOR_MOTION:
                return EVENT_MOTION;
        case SENSOR_BUTTON:
                return EVENT_BUTTON;
        case SENSOR_FALL:
                return EVENT_FALL;
        case SENSOR_WATER_FLOW:
                return EVENT_WATER_FLOW;
        case SENSOR_WATER_METER:
                return EVENT_WATER_PULSES;
        case SENSOR_SMOKE:
                return EVENT_SMOKE;
        case SENSOR_GAS:
                return EVENT_GAS;
        case SENSOR_CO:
                return EVENT_CO;
        case _SENSOR_KIND_MAX:
                break;
        }
        return EVENT_CONTACT;
}

static void emit(struct gpio_line *l, enum event_type type, double value, uint16_t flags)
{
        struct sensor_event e = {
                .sensor = l->num,
                .type = (uint16_t)type,
                .flags = flags,
                .value = value,
                .mono = now_usec(CLOCK_BOOTTIME),
                .wall = now_usec(CLOCK_REALTIME),
        };
        if (l->set->cb)
                l->set->cb(l->set, &e, l->set->userdata);
}

static void report_available(struct gpio_line *l, bool up)
{
        if (l->available == (int)up)
                return;
        l->available = up;
        emit(l, EVENT_AVAILABILITY, up, 0);
}

static void chip_unref(GpioSet *g, struct chip_ref *c)
{
        if (!c || --c->users > 0)
                return;
        for (struct chip_ref **pp = &g->chips; *pp; pp = &(*pp)->next)
                if (*pp == c) {
                        *pp = c->next;
                        break;
                }
        gpiod_chip_close(c->chip);
        free(c->name);
        free(c);
}

static struct chip_ref *chip_get(GpioSet *g, const char *name)
{
        struct chip_ref *c;
        struct gpiod_chip *chip;

        for (c = g->chips; c; c = c->next)
                if (streq(c->name, name)) {
                        c->users++;
                        return c;
                }
        /* Name (gpiochip0), path (/dev/gpiochip0), label (pinctrl-bcm2711) or number. */
        chip = gpiod_chip_open_lookup(name);
        if (!chip)
                return NULL;
        c = calloc(1, sizeof(*c));
        if (!c || !(c->name = strdup(name))) {
                free(c);
                gpiod_chip_close(chip);
                errno = ENOMEM;
                return NULL;
        }
        c->chip = chip;
        c->users = 1;
        c->next = g->chips;
        g->chips = c;
        return c;
}

static void line_release(struct gpio_line *l)
{
        l->io = sd_event_source_disable_unref(l->io);
        l->timer = sd_event_source_disable_unref(l->timer);
        if (l->line)
                gpiod_line_release(l->line);
        l->line = NULL;
        chip_unref(l->set, l->chip);
        l->chip = NULL;
        l->locked = false;
}

static void schedule_retry(GpioSet *g);

/* The line went away under us (chip removed, I/O error): report it and retry later. */
static void line_lost(struct gpio_line *l, int error)
{
        log_warning_errno(error, "GPIO: lost %s line %u (sensor %s): %m — retrying every %.1fs", l->chip_name,
                          l->offset, l->id, (double)l->set->retry_interval / USEC_PER_SEC);
        line_release(l);
        l->waiting = true;
        l->last_error = error;
        l->settled = -1;
        report_available(l, false);
        schedule_retry(l->set);
}

static int read_level(struct gpio_line *l)
{
        int v = gpiod_line_get_value(l->line);
        return v < 0 ? -errno : v;
}

static int on_debounce_end(sd_event_source *s, uint64_t usec, void *userdata);

static int start_lockout(struct gpio_line *l)
{
        usec_t now;
        int r;

        l->locked = true;
        sd_event_now(l->set->event, CLOCK_BOOTTIME, &now);
        if (l->timer) {
                r = sd_event_source_set_time(l->timer, now + l->debounce);
                if (r >= 0)
                        r = sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT);
                return r;
        }
        /* Accuracy 1 µs: 0 would mean sd-event's default slack of 250 ms, far longer than a debounce. */
        return sd_event_add_time(l->set->event, &l->timer, CLOCK_BOOTTIME, now + l->debounce, 1, on_debounce_end,
                                 l);
}

static int on_debounce_end(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct gpio_line *l = userdata;
        int v;

        l->locked = false;
        if (!l->line)
                return 0;
        v = read_level(l);
        if (v < 0) {
                line_lost(l, v);
                return 0;
        }
        if (l->mode == MODE_LEVEL && v != l->settled) {
                /* The edges during the lockout left the line somewhere else than we
                 * reported: report where it really is now. */
                l->settled = v;
                emit(l, kind_event_type(l->kind), v, EVENT_RESYNC);
                (void)start_lockout(l);
        } else
                l->settled = v;
        return 0;
}

static int on_line_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct gpio_line *l = userdata;
        struct gpiod_line_event ev[16];
        int n, v;

        if (revents & (EPOLLERR | EPOLLHUP)) {
                line_lost(l, -ENODEV);
                return 0;
        }
        n = gpiod_line_event_read_fd_multiple(fd, ev, ELEMENTSOF(ev));
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                line_lost(l, -errno);
                return 0;
        }

        switch (l->mode) {
        case MODE_LEVEL:
                if (l->locked)
                        return 0; /* the lockout's end reads the level */
                v = read_level(l);
                if (v < 0) {
                        line_lost(l, v);
                        return 0;
                }
                if (v != l->settled) {
                        l->settled = v;
                        emit(l, kind_event_type(l->kind), v, 0);
                }
                (void)start_lockout(l);
                break;
        case MODE_BUTTON:
        case MODE_PULSE:
                /* With active_low the kernel already swapped the edge types:
                 * "rising" is always "became active". A press or pulse is an edge to
                 * active after the line was inactive for at least the debounce time,
                 * judged by the edges' own kernel timestamps, not by when we read
                 * them: edges that waited in the queue while the loop was busy are
                 * each judged right, and bounce when the contact opens again (an edge
                 * to active right after one to inactive) never counts. */
                for (int i = 0; i < n; i++) {
                        int64_t ts = (int64_t)ev[i].ts.tv_sec * 1000000000 + ev[i].ts.tv_nsec;
                        bool counts;

                        if (ev[i].event_type != GPIOD_LINE_EVENT_RISING_EDGE) {
                                l->idle = true;
                                l->idle_since_ns = ts;
                                continue;
                        }
                        counts = l->idle && (l->idle_since_ns == INT64_MIN ||
                                             ts - l->idle_since_ns >= (int64_t)(l->debounce * 1000));
                        l->idle = false;
                        if (!counts)
                                continue;
                        if (l->mode == MODE_BUTTON)
                                emit(l, EVENT_BUTTON, BUTTON_SINGLE, 0);
                        else
                                emit(l, EVENT_WATER_PULSES, l->litres_per_pulse, 0);
                }
                break;
        }
        return 0;
}

/* Try to open the chip and request the line. 0 on success, -errno otherwise (logged once per cause). */
static int line_request(struct gpio_line *l)
{
        struct gpiod_line_request_config cfg = {
                .consumer = GPIO_CONSUMER,
                .request_type = GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES,
        };
        int r, v;

        l->chip = chip_get(l->set, l->chip_name);
        if (!l->chip) {
                r = -errno;
                if (r != l->last_error)
                        log_warning_errno(r,
                                          "GPIO: cannot open chip %s for sensor %s (line %u): %m — check the "
                                          "chip name with gpiodetect, or that the HAT is seated; retrying every %.1fs",
                                          l->chip_name, l->id, l->offset,
                                          (double)l->set->retry_interval / USEC_PER_SEC);
                goto fail;
        }
        l->line = gpiod_chip_get_line(l->chip->chip, l->offset);
        if (!l->line) {
                r = -errno;
                if (r != l->last_error)
                        log_warning_errno(r, "GPIO: chip %s has no line %u (sensor %s): %m — it has %u lines",
                                          l->chip_name, l->offset, l->id, gpiod_chip_num_lines(l->chip->chip));
                goto fail;
        }

        if (l->active_low)
                cfg.flags |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
        switch (l->bias) {
        case GPIO_BIAS_AS_IS:
                break;
        case GPIO_BIAS_PULL_UP:
                cfg.flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
                break;
        case GPIO_BIAS_PULL_DOWN:
                cfg.flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
                break;
        case GPIO_BIAS_DISABLE:
                cfg.flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
                break;
        }
        r = gpiod_line_request(l->line, &cfg, 0) < 0 ? -errno : 0;
        if (r == -EINVAL && l->bias != GPIO_BIAS_AS_IS) {
                /* Kernels before 5.5 know no bias flags: keep the external resistor's say. */
                log_warning("GPIO: the kernel does not support bias settings on %s line %u (sensor %s); "
                            "using the line as it is — fit an external pull-up resistor",
                            l->chip_name, l->offset, l->id);
                cfg.flags &= ~(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP | GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN |
                               GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE);
                r = gpiod_line_request(l->line, &cfg, 0) < 0 ? -errno : 0;
        }
        if (r < 0) {
                if (r != l->last_error) {
                        if (r == -EBUSY)
                                log_warning("GPIO: %s line %u (sensor %s) is in use by \"%s\" — stop that program "
                                            "or choose another line; retrying",
                                            l->chip_name, l->offset, l->id,
                                            strempty(gpiod_line_consumer(l->line)));
                        else
                                log_warning_errno(r, "GPIO: cannot request %s line %u (sensor %s): %m — retrying",
                                                  l->chip_name, l->offset, l->id);
                }
                l->line = NULL;
                goto fail;
        }

        r = sd_event_add_io(l->set->event, &l->io, gpiod_line_event_get_fd(l->line), EPOLLIN, on_line_event, l);
        if (r < 0) {
                gpiod_line_release(l->line);
                l->line = NULL;
                goto fail;
        }
        /* An edge is an alarm in waiting: handle it before housekeeping timers. */
        (void)sd_event_source_set_priority(l->io, SD_EVENT_PRIORITY_IMPORTANT);

        v = read_level(l);
        if (v < 0) {
                r = v;
                line_release(l);
                goto fail_released;
        }
        if (l->last_error)
                log_info("GPIO: %s line %u (sensor %s) is watched again", l->chip_name, l->offset, l->id);
        l->waiting = false;
        l->last_error = 0;
        l->settled = v;
        l->idle = v == 0;
        l->idle_since_ns = INT64_MIN;
        report_available(l, true);
        /* The level at start is state, not a happening: a door that is open
         * when we start did not "just open". */
        if (l->mode == MODE_LEVEL)
                emit(l, kind_event_type(l->kind), v, EVENT_INITIAL);
        return 0;

fail:
        chip_unref(l->set, l->chip);
        l->chip = NULL;
fail_released:
        l->waiting = true;
        l->last_error = r;
        report_available(l, false);
        return r;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        GpioSet *g = userdata;
        bool still = false;

        g->retry_timer = sd_event_source_disable_unref(g->retry_timer);
        for (size_t i = 0; i < g->n_lines; i++)
                if (g->lines[i]->waiting && line_request(g->lines[i]) < 0)
                        still = true;
        if (still)
                schedule_retry(g);
        return 0;
}

static void schedule_retry(GpioSet *g)
{
        usec_t now;
        int r;

        if (g->retry_timer)
                return;
        sd_event_now(g->event, CLOCK_BOOTTIME, &now);
        r = sd_event_add_time(g->event, &g->retry_timer, CLOCK_BOOTTIME, now + g->retry_interval,
                              USEC_PER_SEC / 10, on_retry, g);
        if (r < 0)
                log_error_errno(r, "GPIO: cannot arm the retry timer: %m");
}

int gpio_set_new(sd_event *e, usec_t default_debounce, usec_t retry_interval, GpioSet **ret)
{
        GpioSet *g = calloc(1, sizeof(*g));

        if (!g)
                return -ENOMEM;
        g->event = sd_event_ref(e);
        g->default_debounce = default_debounce ? default_debounce : GPIO_DEBOUNCE_DEFAULT;
        g->retry_interval = retry_interval ? retry_interval : 30 * USEC_PER_SEC;
        *ret = g;
        return 0;
}

GpioSet *gpio_set_free(GpioSet *g)
{
        if (!g)
                return NULL;
        for (size_t i = 0; i < g->n_lines; i++) {
                line_release(g->lines[i]);
                free(g->lines[i]->id);
                free(g->lines[i]->chip_name);
                free(g->lines[i]);
        }
        free(g->lines);
        g->retry_timer = sd_event_source_disable_unref(g->retry_timer);
        sd_event_unref(g->event);
        free(g);
        return NULL;
}

void gpio_set_set_callback(GpioSet *g, gpio_event_cb cb, void *userdata)
{
        g->cb = cb;
        g->userdata = userdata;
}

int gpio_set_add(GpioSet *g, uint32_t sensor_num, const char *sensor_id, enum sensor_kind kind,
                 const struct sensor_source *src)
{
        struct gpio_line *l, **nl;

        if (src->type != SOURCE_GPIO)
                return -EINVAL;
        nl = realloc(g->lines, (g->n_lines + 1) * sizeof(*nl));
        if (!nl)
                return -ENOMEM;
        g->lines = nl;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->set = g;
        l->num = sensor_num;
        l->kind = kind;
        l->mode = kind == SENSOR_BUTTON ? MODE_BUTTON : kind == SENSOR_WATER_METER ? MODE_PULSE : MODE_LEVEL;
        l->offset = src->line;
        l->active_low = src->active_low;
        l->bias = src->bias;
        l->debounce = src->debounce ? src->debounce : g->default_debounce;
        l->litres_per_pulse = src->litres_per_pulse > 0 ? src->litres_per_pulse : 1;
        l->settled = -1;
        l->available = -1;
        l->waiting = true;
        l->id = strdup(sensor_id);
        l->chip_name = strdup(src->chip);
        if (!l->id || !l->chip_name) {
                free(l->id);
                free(l->chip_name);
                free(l);
                return -ENOMEM;
        }
        g->lines[g->n_lines++] = l;
        return 0;
}

int gpio_set_start(GpioSet *g)
{
        bool waiting = false;

        for (size_t i = 0; i < g->n_lines; i++)
                if (g->lines[i]->waiting && line_request(g->lines[i]) < 0)
                        waiting = true;
        if (waiting)
                schedule_retry(g);
        return 0;
}

void gpio_set_counts(GpioSet *g, unsigned *ret_active, unsigned *ret_waiting)
{
        unsigned a = 0, w = 0;

        for (size_t i = 0; i < g->n_lines; i++) {
                if (g->lines[i]->line)
                        a++;
                else
                        w++;
        }
        if (ret_active)
                *ret_active = a;
        if (ret_waiting)
                *ret_waiting = w;
}
