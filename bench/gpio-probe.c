/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GPIO edge → alert latency (make bench, issue 8 figure 2), and the bare
 * libgpiod program it is compared with.
 *
 * Probe mode (default): the control side of the emulated GPIO chip
 * (tests/lib/gpiosim.h; see docs/testing-gpio.md) and an MQTT client (our
 * MqttClient, TCP_NODELAY). For each step it puts a leak on line L (the
 * physical level goes 0 → 1: one edge event, time-stamped with
 * CLOCK_MONOTONIC as the kernel does) and measures, with the same clock,
 * the time until the alert JSON of line L's resident (R0001 for line 0 …)
 * arrives on <base>/<gateway>/alerts/#. Then the line goes dry again.
 * Against shouwangd (--resolve) it also resolves the alert the way a
 * neighbour's app does — {"alert":ID,"contact":…,"token":…,"action":"resolve"}
 * on <base>/<gateway>/ack, the token taken from the notify message on
 * <base>/<gateway>/notify/# — and waits for the "resolved" alert JSON, so
 * that the next leak on that line is a new alert, not a repeat. Lines are
 * used in turn (step i uses line i mod --lines), one step at a time, with
 * --gap-ms between steps so each edge meets an idle program (and the
 * daemon's 30 ms debounce of the previous edge has ended). Prints
 *
 *   n=1000 lost=0 p50_ms=… p90_ms=… p99_ms=… max_ms=… mean_ms=…
 *
 * Relay mode (--relay), run with the emulator's LD_PRELOAD: the floor. A
 * bare libgpiod 1.6 program: requests --lines lines of the chip for both
 * edges, reads each event when its fd is readable (an sd-event io source,
 * as in shouwangd), records edge → read (now − the event's timestamp), and
 * on a rising edge publishes a minimal alert JSON naming the line's
 * resident, QoS 1, through the same MqttClient. On SIGTERM it prints
 *
 *   read: n=… p50_ms=… p99_ms=… max_ms=…
 *
 * for the rising edges it read (the GPIO floor: the emulated interrupt to
 * user space), and writes them to --samples.
 */

#include <cjson/cJSON.h>
#include <getopt.h>
#include <gpiod.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "sensors/mqtt.h"
#include "tests/lib/gpiosim.h"

#define MAX_LINES 128
#define MAX_COUNT 100000

struct probe {
        sd_event *event;
        MqttClient *mqtt;
        sd_event_source *timer;
        const char *base, *gateway, *chip;
        unsigned lines, count, warmup;
        usec_t gap, timeout;
        bool resolve, relay;

        /* probe */
        GpioSim *sim;
        unsigned step;
        int line;         /* line of the step under way, -1 when none */
        char expect[16];  /* resident of that line */
        int phase;        /* 0 idle, 1 waiting for the alert, 2 waiting for the resolved alert */
        int64_t alert_id; /* the open alert of the step */
        uint64_t t0_ns;
        double *samples;
        unsigned n_samples, lost;
        struct token {
                int64_t alert_id;
                char contact[64];
                char token[80];
        } tokens[64];
        unsigned n_tokens, tok_next;

        /* relay */
        struct gpiod_chip *gchip;
        struct gpiod_line *glines[MAX_LINES];
        sd_event_source *io[MAX_LINES];
        double *reads;
        unsigned n_reads, max_reads;
        uint64_t relayed;
};

static uint64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, unsigned n, double q)
{
        unsigned k = (unsigned)ceil(q * n);
        if (k < 1)
                k = 1;
        if (k > n)
                k = n;
        return sorted[k - 1];
}

static void write_samples(const char *path, const double *v, unsigned n)
{
        FILE *f;

        if (!path || !(f = fopen(path, "we")))
                return;
        for (unsigned i = 0; i < n; i++)
                fprintf(f, "%.4f\n", v[i]);
        fclose(f);
}

/* ---- probe ------------------------------------------------------------------------------------------------ */

static int arm(struct probe *p, usec_t after, sd_event_time_handler_t cb)
{
        usec_t now;

        sd_event_now(p->event, CLOCK_MONOTONIC, &now);
        p->timer = sd_event_source_disable_unref(p->timer);
        return sd_event_add_time(p->event, &p->timer, CLOCK_MONOTONIC, now + after, 1, cb, p);
}

static int on_step(sd_event_source *s, uint64_t usec, void *userdata);
static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata);

static void finish(struct probe *p, int code)
{
        p->timer = sd_event_source_disable_unref(p->timer);
        (void)sd_event_exit(p->event, code);
}

static void next_step(struct probe *p)
{
        if (p->line >= 0)
                (void)gpiosim_line_set(p->sim, p->chip, (unsigned)p->line, 0); /* dry again */
        p->line = -1;
        p->phase = 0;
        p->step++;
        (void)arm(p, p->gap, on_step);
}

static int on_step(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct probe *p = userdata;
        int r;

        if (p->step >= p->warmup + p->count) {
                finish(p, 0);
                return 0;
        }
        p->line = (int)(p->step % p->lines);
        snprintf(p->expect, sizeof(p->expect), "R%04d", p->line + 1);
        p->phase = 1;
        p->alert_id = 0;
        p->t0_ns = mono_ns();
        r = gpiosim_line_set(p->sim, p->chip, (unsigned)p->line, 1);
        if (r < 0) {
                log_error("probe: setting %s line %d: %s", p->chip, p->line, strerror(-r));
                finish(p, 2);
                return 0;
        }
        (void)arm(p, p->timeout, on_timeout);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct probe *p = userdata;

        log_warning("probe: no %s alert for %s (line %d) within %llu ms", p->phase == 1 ? "open" : "resolved",
                    p->expect, p->line, (unsigned long long)(p->timeout / USEC_PER_MSEC));
        if (p->phase == 1 && p->step >= p->warmup)
                p->lost++;
        if (p->lost > 20) {
                finish(p, 2);
                return 0;
        }
        next_step(p);
        return 0;
}

static const struct token *token_of(struct probe *p, int64_t alert_id)
{
        for (unsigned i = 0; i < p->n_tokens; i++)
                if (p->tokens[i].alert_id == alert_id)
                        return &p->tokens[i];
        return NULL;
}

static void send_resolve(struct probe *p, const struct token *t)
{
        char topic[256], msg[512];
        int n, r;

        snprintf(topic, sizeof(topic), "%s/%s/ack", p->base, p->gateway);
        n = snprintf(msg, sizeof(msg),
                     "{\"alert\":%lld,\"contact\":\"%s\",\"token\":\"%s\",\"action\":\"resolve\","
                     "\"outcome\":\"false_alarm\",\"note\":\"bench\"}",
                     (long long)t->alert_id, t->contact, t->token);
        r = mqtt_client_publish(p->mqtt, topic, msg, (size_t)n, 1, false, NULL, NULL);
        if (r < 0)
                log_warning("probe: publishing the resolve failed: %s", strerror(-r));
}

static void probe_on_notify(struct probe *p, cJSON *o)
{
        cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "alert"), *c = cJSON_GetObjectItemCaseSensitive(o, "contact"),
              *t = cJSON_GetObjectItemCaseSensitive(o, "token"), *pu = cJSON_GetObjectItemCaseSensitive(o, "purpose");

        if (!cJSON_IsNumber(id) || !cJSON_IsString(c) || !cJSON_IsString(t) || !cJSON_IsString(pu) ||
            !streq(pu->valuestring, "alert"))
                return;
        struct token *k = &p->tokens[p->tok_next++ % ELEMENTSOF(p->tokens)];
        if (p->n_tokens < ELEMENTSOF(p->tokens))
                p->n_tokens++;
        k->alert_id = (int64_t)id->valuedouble;
        snprintf(k->contact, sizeof(k->contact), "%s", c->valuestring);
        snprintf(k->token, sizeof(k->token), "%s", t->valuestring);
        /* The alert JSON came first: resolve now. */
        if (p->phase == 2 && p->alert_id == k->alert_id)
                send_resolve(p, k);
}

static void probe_on_alert(struct probe *p, cJSON *o, uint64_t t1)
{
        cJSON *res = cJSON_GetObjectItemCaseSensitive(o, "resident");
        cJSON *rid = res ? cJSON_GetObjectItemCaseSensitive(res, "id") : NULL;
        cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id"), *state = cJSON_GetObjectItemCaseSensitive(o, "state");

        if (!cJSON_IsString(rid) || !streq(rid->valuestring, p->expect))
                return;
        if (p->phase == 1 && (!cJSON_IsString(state) || streq(state->valuestring, "open"))) {
                if (p->step >= p->warmup && p->n_samples < p->count)
                        p->samples[p->n_samples++] = (double)(t1 - p->t0_ns) / 1e6;
                if (!p->resolve || !cJSON_IsNumber(id)) {
                        next_step(p);
                        return;
                }
                p->alert_id = (int64_t)id->valuedouble;
                p->phase = 2;
                const struct token *t = token_of(p, p->alert_id);
                if (t)
                        send_resolve(p, t);
                (void)arm(p, p->timeout, on_timeout);
        } else if (p->phase == 2 && cJSON_IsNumber(id) && (int64_t)id->valuedouble == p->alert_id &&
                   cJSON_IsString(state) && streq(state->valuestring, "resolved"))
                next_step(p);
}

static void on_message(MqttClient *c, const char *topic, const void *payload, size_t len, bool retained, void *userdata)
{
        struct probe *p = userdata;
        uint64_t t1 = mono_ns();
        cJSON *o;

        if (p->relay || retained || p->phase == 0)
                return;
        o = cJSON_ParseWithLength(payload, len);
        if (!o)
                return;
        if (strstr(topic, "/notify/"))
                probe_on_notify(p, o);
        else
                probe_on_alert(p, o, t1);
        cJSON_Delete(o);
}

static void on_state(MqttClient *c, bool connected, const char *reason, void *userdata)
{
        struct probe *p = userdata;
        static bool started;

        if (!connected) {
                log_warning("%s: disconnected: %s", p->relay ? "relay" : "probe", strempty(reason));
                return;
        }
        printf("%s: connected\n", p->relay ? "relay" : "probe");
        fflush(stdout);
        if (!p->relay && !started) {
                started = true;
                /* Subscriptions go out right after the connect: give them a moment. */
                (void)arm(p, 300 * USEC_PER_MSEC, on_step);
        }
}

/* ---- relay: the bare libgpiod program ---------------------------------------------------------------------- */

static int on_line(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct probe *p = userdata;
        struct gpiod_line *line = NULL;
        struct gpiod_line_event ev;
        unsigned off = 0;

        for (unsigned i = 0; i < p->lines; i++)
                if (p->io[i] == s) {
                        line = p->glines[i];
                        off = i;
                        break;
                }
        if (!line || gpiod_line_event_read(line, &ev) < 0)
                return 0;
        uint64_t now = mono_ns(), ts = (uint64_t)ev.ts.tv_sec * 1000000000ull + (uint64_t)ev.ts.tv_nsec;
        if (ev.event_type != GPIOD_LINE_EVENT_RISING_EDGE)
                return 0;
        if (p->n_reads < p->max_reads)
                p->reads[p->n_reads++] = now > ts ? (double)(now - ts) / 1e6 : 0;

        char topic[256], out[256];
        int n;
        p->relayed++;
        snprintf(topic, sizeof(topic), "%s/%s/alerts/%llu", p->base, p->gateway, (unsigned long long)p->relayed);
        n = snprintf(out, sizeof(out),
                     "{\"id\":%llu,\"rule\":\"leak\",\"severity\":\"critical\",\"state\":\"open\","
                     "\"resident\":{\"id\":\"R%04u\"},\"sensor\":\"gpio:%s:%u\"}",
                     (unsigned long long)p->relayed, off + 1, p->chip, off);
        (void)mqtt_client_publish(p->mqtt, topic, out, (size_t)n, 1, false, NULL, NULL);
        return 0;
}

static int relay_open_lines(struct probe *p)
{
        p->gchip = gpiod_chip_open_lookup(p->chip);
        if (!p->gchip) {
                fprintf(stderr, "relay: cannot open %s: %m\n", p->chip);
                return -errno;
        }
        for (unsigned i = 0; i < p->lines; i++) {
                p->glines[i] = gpiod_chip_get_line(p->gchip, i);
                if (!p->glines[i] || gpiod_line_request_both_edges_events(p->glines[i], "bench-relay") < 0) {
                        fprintf(stderr, "relay: cannot request %s line %u: %m\n", p->chip, i);
                        return -errno;
                }
                int r =
                    sd_event_add_io(p->event, &p->io[i], gpiod_line_event_get_fd(p->glines[i]), EPOLLIN, on_line, p);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct probe *p = userdata;
        return sd_event_exit(p->event, p->relay ? 0 : 3);
}

/* ---- main ------------------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
        fputs("usage: gpio-probe --uri U --sim DIR [--gateway GW] [--chip gpiochip0] [--lines N] [--count N]\n"
              "                  [--warmup K] [--gap-ms MS] [--timeout-ms MS] [--resolve] [--samples FILE]\n"
              "       gpio-probe --relay --uri U [--gateway GW] [--chip gpiochip0] [--lines N] [--samples FILE]\n"
              "                  (with LD_PRELOAD=libgpiosim.so GPIOSIM_DIR=DIR)\n",
              f);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"uri", required_argument, NULL, 'u'},
            {"sim", required_argument, NULL, 'S'},
            {"gateway", required_argument, NULL, 'g'},
            {"chip", required_argument, NULL, 'c'},
            {"lines", required_argument, NULL, 'l'},
            {"count", required_argument, NULL, 'n'},
            {"warmup", required_argument, NULL, 'w'},
            {"gap-ms", required_argument, NULL, 'G'},
            {"timeout-ms", required_argument, NULL, 't'},
            {"resolve", no_argument, NULL, 'R'},
            {"relay", no_argument, NULL, 'r'},
            {"samples", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct probe p = {
            .base = "shouwang",
            .gateway = "bench",
            .chip = "gpiochip0",
            .lines = 100,
            .count = 1000,
            .warmup = 5,
            .gap = 40 * USEC_PER_MSEC,
            .timeout = 5 * USEC_PER_SEC,
            .line = -1,
        };
        const char *uri = NULL, *sim_dir = NULL, *samples = NULL;
        char client_id[64], f_alerts[256], f_notify[256];
        char *subs[2];
        sigset_t ss;
        int c, v, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'u':
                        uri = optarg;
                        break;
                case 'S':
                        sim_dir = optarg;
                        break;
                case 'g':
                        p.gateway = optarg;
                        break;
                case 'c':
                        p.chip = optarg;
                        break;
                case 'R':
                        p.resolve = true;
                        break;
                case 'r':
                        p.relay = true;
                        break;
                case 's':
                        samples = optarg;
                        break;
                case 'l':
                case 'n':
                case 'w':
                case 'G':
                case 't':
                        if (safe_atoi(optarg, &v) < 0 || v < 0 || v > MAX_COUNT) {
                                fprintf(stderr, "gpio-probe: bad number '%s'\n", optarg);
                                return 2;
                        }
                        if (c == 'l')
                                p.lines = (unsigned)v;
                        else if (c == 'n')
                                p.count = (unsigned)v;
                        else if (c == 'w')
                                p.warmup = (unsigned)v;
                        else if (c == 'G')
                                p.gap = (usec_t)v * USEC_PER_MSEC;
                        else
                                p.timeout = (usec_t)v * USEC_PER_MSEC;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!uri || optind != argc || p.lines < 1 || p.lines > MAX_LINES || p.count < 1 || (!p.relay && !sim_dir)) {
                usage(stderr);
                return 2;
        }
        log_setup(LOG_TARGET_STDERR);
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);

        r = sd_event_default(&p.event);
        if (r < 0)
                return 1;
        (void)sd_event_add_signal(p.event, NULL, SIGINT, on_signal, &p);
        (void)sd_event_add_signal(p.event, NULL, SIGTERM, on_signal, &p);

        if (p.relay) {
                p.max_reads = MAX_COUNT;
                p.reads = calloc(p.max_reads, sizeof(double));
                if (!p.reads || relay_open_lines(&p) < 0)
                        return 1;
        } else {
                r = gpiosim_open(sim_dir, &p.sim);
                if (r < 0) {
                        fprintf(stderr, "gpio-probe: %s: %s\n", sim_dir, strerror(-r));
                        return 1;
                }
                for (unsigned i = 0; i < p.lines; i++) {
                        (void)gpiosim_line_set(p.sim, p.chip, i, 0);
                        r = gpiosim_wait_requested(p.sim, p.chip, i, true, 20 * USEC_PER_SEC);
                        if (r < 0) {
                                fprintf(stderr, "gpio-probe: nobody requested %s line %u: %s\n", p.chip, i,
                                        strerror(-r));
                                return 1;
                        }
                }
                p.samples = calloc(p.count, sizeof(double));
                if (!p.samples)
                        return 1;
        }

        snprintf(client_id, sizeof(client_id), "bench-gpio-%s-%d", p.relay ? "relay" : "probe", (int)getpid());
        struct mqtt_settings st = {.uri = uri, .client_id = client_id};
        r = mqtt_client_new(p.event, &st, &p.mqtt);
        if (r < 0)
                return 1;
        mqtt_client_set_callbacks(p.mqtt, on_message, on_state, &p);
        snprintf(f_alerts, sizeof(f_alerts), "%s/%s/alerts/#", p.base, p.gateway);
        snprintf(f_notify, sizeof(f_notify), "%s/%s/notify/#", p.base, p.gateway);
        subs[0] = f_alerts;
        subs[1] = f_notify;
        r = mqtt_client_set_subscriptions(p.mqtt, subs, p.relay ? 0 : 2);
        if (r >= 0)
                r = mqtt_client_start(p.mqtt);
        if (r < 0) {
                fprintf(stderr, "gpio-probe: cannot start the MQTT client: %s\n", strerror(-r));
                return 1;
        }

        r = sd_event_loop(p.event);

        p.timer = sd_event_source_disable_unref(p.timer);
        for (unsigned i = 0; i < MAX_LINES; i++)
                p.io[i] = sd_event_source_disable_unref(p.io[i]);
        p.mqtt = mqtt_client_free(p.mqtt);
        if (p.relay) {
                if (p.gchip)
                        gpiod_chip_close(p.gchip);
                write_samples(samples, p.reads, p.n_reads);
                if (p.n_reads) {
                        qsort(p.reads, p.n_reads, sizeof(double), cmp_double);
                        printf("read: n=%u p50_ms=%.4f p90_ms=%.4f p99_ms=%.4f max_ms=%.4f\n", p.n_reads,
                               percentile(p.reads, p.n_reads, 0.5), percentile(p.reads, p.n_reads, 0.9),
                               percentile(p.reads, p.n_reads, 0.99), p.reads[p.n_reads - 1]);
                }
                fprintf(stderr, "relay: relayed %llu edges\n", (unsigned long long)p.relayed);
                free(p.reads);
                p.event = sd_event_unref(p.event);
                return 0;
        }
        p.event = sd_event_unref(p.event);
        gpiosim_free(p.sim);
        if (r != 0 || p.n_samples == 0) {
                fprintf(stderr, "gpio-probe: failed (exit %d, %u samples, %u lost)\n", r, p.n_samples, p.lost);
                free(p.samples);
                return r > 0 ? r : 1;
        }
        write_samples(samples, p.samples, p.n_samples);
        double sum = 0;
        for (unsigned i = 0; i < p.n_samples; i++)
                sum += p.samples[i];
        qsort(p.samples, p.n_samples, sizeof(double), cmp_double);
        printf("n=%u lost=%u p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f\n", p.n_samples, p.lost,
               percentile(p.samples, p.n_samples, 0.5), percentile(p.samples, p.n_samples, 0.9),
               percentile(p.samples, p.n_samples, 0.99), p.samples[p.n_samples - 1], sum / p.n_samples);
        free(p.samples);
        return p.lost > 0 ? 4 : 0;
}
