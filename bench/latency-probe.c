/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Leak → alert latency probe (make bench, issue 8 figure 1), and the floor
 * relay it is compared with.
 *
 * Probe mode (default): connects with our own MqttClient (sensors/mqtt.c on
 * an sd-event loop, so TCP_NODELAY is set on its socket and the probe is not
 * the one paying Nagle), subscribes to <base>/<gateway>/alerts/#, then for
 * each resident in turn publishes a Zigbee2MQTT leak message (QoS 1, as
 * Zigbee2MQTT does for a gateway that asks for it) on <prefix>R0001 … and
 * measures the time until an alert JSON naming that resident arrives. One
 * resident at a time, with a short pause between residents so each leak
 * meets an idle daemon (a real leak does). Prints one line:
 *
 *   n=1000 lost=0 p50_ms=0.412 p90_ms=… p99_ms=… max_ms=… mean_ms=…
 *
 * Warm-up residents (numbers count+1 … count+warmup) go first and are not
 * counted; the first one is re-sent every 500 ms until its alert arrives,
 * which also waits out the subscriptions of whatever is being measured.
 *
 * Relay mode (--relay): the floor. Subscribes to <prefix># with the same
 * MqttClient and republishes each message at once, QoS 1, to
 * <base>/<gateway>/alerts/<n> as a minimal alert JSON naming the resident
 * (the last topic level). No rules, no storage: what any MQTT-in,
 * MQTT-out program pays on this machine with this broker. With
 * --commit-db FILE the relay first commits each message to SQLite (WAL,
 * synchronous=FULL, one transaction per message, as shouwang's alert commit):
 * the floor plus one durable commit.
 */

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "sensors/mqtt.h"

#define MAX_COUNT 100000
#define RETRY_USEC (500 * USEC_PER_MSEC)

struct probe {
        sd_event *event;
        MqttClient *mqtt;
        sd_event_source *timer;

        bool relay;
        const char *base, *gateway, *prefix;
        unsigned count, warmup;
        usec_t timeout, gap;

        /* probe state */
        unsigned step;   /* 0 … warmup+count-1 */
        char expect[32]; /* resident id awaited, "" when none */
        uint64_t t0_ns;
        bool waiting, started;
        double *samples_ms;
        unsigned n_samples, lost;

        /* relay state */
        uint64_t relayed;
        sqlite3 *db;
        sqlite3_stmt *insert;
};

static uint64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned resident_of_step(const struct probe *p, unsigned step)
{
        /* warm-up residents first (count+1 …), then 1 … count */
        return step < p->warmup ? p->count + 1 + step : step - p->warmup + 1;
}

static int arm_timer(struct probe *p, usec_t after, sd_event_time_handler_t cb)
{
        usec_t now;
        int r;

        r = sd_event_now(p->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        p->timer = sd_event_source_disable_unref(p->timer);
        return sd_event_add_time(p->event, &p->timer, CLOCK_MONOTONIC, now + after,
                                 1 /* usec: 0 means 250 ms slack */, cb, p);
}

static int publish_leak(struct probe *p)
{
        static const char payload[] =
            "{\"battery\":91,\"linkquality\":120,\"water_leak\":true,\"tamper\":false}";
        char topic[256];
        int r;

        snprintf(topic, sizeof(topic), "%s%s", p->prefix, p->expect);
        p->t0_ns = mono_ns();
        r = mqtt_client_publish(p->mqtt, topic, payload, sizeof(payload) - 1, 1, false, NULL, NULL);
        if (r < 0)
                log_warning("probe: publishing to %s failed: %s", topic, strerror(-r));
        return r;
}

static int on_step_timer(sd_event_source *s, uint64_t usec, void *userdata);
static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void finish(struct probe *p)
{
        p->waiting = false;
        p->expect[0] = '\0';
        p->timer = sd_event_source_disable_unref(p->timer);
        (void)sd_event_exit(p->event, p->lost > 0 && p->n_samples == 0 ? 1 : 0);
}

/* Send the leak of the current step and wait for its alert. */
static void start_step(struct probe *p)
{
        if (p->step >= p->warmup + p->count) {
                finish(p);
                return;
        }
        snprintf(p->expect, sizeof(p->expect), "R%04u", resident_of_step(p, p->step));
        p->waiting = true;
        (void)publish_leak(p);
        /* The first warm-up leak is sent again until its alert comes (the
         * daemon may still be subscribing); every other one has a timeout. */
        if (p->step == 0 && p->warmup > 0)
                (void)arm_timer(p, RETRY_USEC, on_retry_timer);
        else
                (void)arm_timer(p, p->timeout, on_step_timer);
}

static void next_step(struct probe *p)
{
        p->step++;
        p->waiting = false;
        p->expect[0] = '\0';
        if (p->gap > 0)
                (void)arm_timer(p, p->gap, on_step_timer);
        else {
                p->timer = sd_event_source_disable_unref(p->timer);
                start_step(p);
        }
}

static unsigned retries;

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct probe *p = userdata;

        if (++retries > 60) { /* 30 s: the daemon never answered */
                log_error("probe: no alert for %s after %u tries — is the daemon subscribed to %s%s?",
                          p->expect, retries, p->prefix, p->expect);
                p->lost++;
                p->n_samples = 0;
                (void)sd_event_exit(p->event, 2);
                return 0;
        }
        (void)publish_leak(p);
        (void)arm_timer(p, RETRY_USEC, on_retry_timer);
        return 0;
}

static int on_step_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct probe *p = userdata;

        if (p->waiting) { /* timed out */
                log_warning("probe: no alert for %s within %llu ms", p->expect,
                            (unsigned long long)(p->timeout / USEC_PER_MSEC));
                if (p->step >= p->warmup)
                        p->lost++;
                next_step(p);
                return 0;
        }
        start_step(p);
        return 0;
}

static const char *alert_resident(cJSON *o)
{
        cJSON *res = cJSON_GetObjectItemCaseSensitive(o, "resident");
        cJSON *id = res ? cJSON_GetObjectItemCaseSensitive(res, "id") : NULL;
        return cJSON_IsString(id) ? id->valuestring : NULL;
}

static void probe_on_message(struct probe *p, const char *topic, const void *payload, size_t len,
                             bool retained)
{
        uint64_t t1 = mono_ns();
        cJSON *o;
        const char *rid;

        if (!p->waiting || retained)
                return;
        o = cJSON_ParseWithLength(payload, len);
        if (!o)
                return;
        rid = alert_resident(o);
        if (rid && streq(rid, p->expect)) {
                if (p->step >= p->warmup && p->n_samples < p->count)
                        p->samples_ms[p->n_samples++] = (double)(t1 - p->t0_ns) / 1e6;
                next_step(p);
        }
        cJSON_Delete(o);
}

static void relay_on_message(struct probe *p, const char *topic, const void *payload, size_t len,
                             bool retained)
{
        char out_topic[256], out[512];
        const char *rid = strrchr(topic, '/');
        int n, r;

        if (retained)
                return; /* state, not news */
        rid = rid ? rid + 1 : topic;
        p->relayed++;
        if (p->insert) {
                /* autocommit: one durable transaction per message */
                sqlite3_bind_text(p->insert, 1, rid, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(p->insert, 2, topic, -1, SQLITE_TRANSIENT);
                sqlite3_bind_blob(p->insert, 3, payload, (int)len, SQLITE_TRANSIENT);
                sqlite3_bind_int64(p->insert, 4, (sqlite3_int64)now_usec(CLOCK_REALTIME));
                if (sqlite3_step(p->insert) != SQLITE_DONE)
                        log_warning("relay: commit failed: %s", sqlite3_errmsg(p->db));
                sqlite3_reset(p->insert);
        }
        snprintf(out_topic, sizeof(out_topic), "%s/%s/alerts/%llu", p->base, p->gateway,
                 (unsigned long long)p->relayed);
        n = snprintf(out, sizeof(out),
                     "{\"id\":%llu,\"rule\":\"leak\",\"severity\":\"critical\",\"state\":\"open\","
                     "\"resident\":{\"id\":\"%.64s\"},\"sensor\":\"%.128s\"}",
                     (unsigned long long)p->relayed, rid, topic);
        r = mqtt_client_publish(p->mqtt, out_topic, out, (size_t)n, 1, false, NULL, NULL);
        if (r < 0)
                log_warning("relay: publishing to %s failed: %s", out_topic, strerror(-r));
}

static int open_commit_db(struct probe *p, const char *path)
{
        if (sqlite3_open(path, &p->db) != SQLITE_OK ||
            sqlite3_exec(
                p->db,
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                "CREATE TABLE IF NOT EXISTS relayed (id INTEGER PRIMARY KEY, resident TEXT NOT NULL,"
                " topic TEXT NOT NULL, payload BLOB, at INTEGER NOT NULL)",
                NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(p->db,
                               "INSERT INTO relayed (resident, topic, payload, at) VALUES (?1, ?2, ?3, ?4)",
                               -1, &p->insert, NULL) != SQLITE_OK) {
                fprintf(stderr, "latency-probe: %s: %s\n", path,
                        p->db ? sqlite3_errmsg(p->db) : "cannot open");
                return -EIO;
        }
        return 0;
}

static void on_message(MqttClient *c, const char *topic, const void *payload, size_t len, bool retained,
                       void *userdata)
{
        struct probe *p = userdata;

        if (p->relay)
                relay_on_message(p, topic, payload, len, retained);
        else
                probe_on_message(p, topic, payload, len, retained);
}

static void on_state(MqttClient *c, bool connected, const char *reason, void *userdata)
{
        struct probe *p = userdata;

        if (!connected) {
                log_warning("%s: disconnected: %s", p->relay ? "relay" : "probe", strempty(reason));
                return;
        }
        /* The bench script waits for this line. */
        printf("%s: connected\n", p->relay ? "relay" : "probe");
        fflush(stdout);
        if (!p->relay && !p->started) {
                p->started = true;
                start_step(p);
        }
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, unsigned n, double q)
{
        /* nearest rank */
        unsigned k = (unsigned)ceil(q * n);
        if (k < 1)
                k = 1;
        if (k > n)
                k = n;
        return sorted[k - 1];
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct probe *p = userdata;
        return sd_event_exit(p->event, p->relay ? 0 : 3);
}

static void usage(FILE *f)
{
        fprintf(
            f,
            "usage: latency-probe --uri tcp://127.0.0.1:PORT [--gateway GW] [--count N] [--warmup K]\n"
            "                     [--prefix bench/leak/] [--base shouwang] [--timeout-ms 5000] [--gap-ms "
            "20]\n"
            "                     [--samples FILE]\n"
            "       latency-probe --relay --uri tcp://127.0.0.1:PORT [--gateway GW] [--prefix bench/leak/]\n"
            "                     [--commit-db FILE]\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"uri", required_argument, NULL, 'u'},
            {"gateway", required_argument, NULL, 'g'},
            {"count", required_argument, NULL, 'n'},
            {"warmup", required_argument, NULL, 'w'},
            {"prefix", required_argument, NULL, 'p'},
            {"base", required_argument, NULL, 'b'},
            {"timeout-ms", required_argument, NULL, 't'},
            {"gap-ms", required_argument, NULL, 'G'},
            {"samples", required_argument, NULL, 's'},
            {"relay", no_argument, NULL, 'r'},
            {"commit-db", required_argument, NULL, 'd'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct probe p = {
            .base = "shouwang",
            .gateway = "bench",
            .prefix = "bench/leak/",
            .count = 1000,
            .warmup = 5,
            .timeout = 5 * USEC_PER_SEC,
            .gap = 20 * USEC_PER_MSEC,
        };
        const char *uri = NULL, *samples_file = NULL, *commit_db = NULL;
        char client_id[64], filter[300];
        char *subs[1];
        sigset_t ss;
        int c, r, v;

        while ((c = getopt_long(argc, argv, "hn:", opts, NULL)) >= 0) {
                switch (c) {
                case 'u':
                        uri = optarg;
                        break;
                case 'g':
                        p.gateway = optarg;
                        break;
                case 'b':
                        p.base = optarg;
                        break;
                case 'p':
                        p.prefix = optarg;
                        break;
                case 's':
                        samples_file = optarg;
                        break;
                case 'r':
                        p.relay = true;
                        break;
                case 'd':
                        commit_db = optarg;
                        break;
                case 'n':
                case 'w':
                case 't':
                case 'G':
                        if (safe_atoi(optarg, &v) < 0 || v < 0 || v > MAX_COUNT * 10) {
                                fprintf(stderr, "latency-probe: bad number '%s'\n", optarg);
                                return 2;
                        }
                        if (c == 'n')
                                p.count = (unsigned)v;
                        else if (c == 'w')
                                p.warmup = (unsigned)v;
                        else if (c == 't')
                                p.timeout = (usec_t)v * USEC_PER_MSEC;
                        else
                                p.gap = (usec_t)v * USEC_PER_MSEC;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!uri || optind != argc || (commit_db && !p.relay) || p.count < 1 || p.count > MAX_COUNT ||
            p.count + p.warmup > 9999 || p.timeout == 0) {
                usage(stderr);
                return 2;
        }

        log_setup(LOG_TARGET_STDERR);
        /* Paho's threads must not take our signals. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);

        if (commit_db && open_commit_db(&p, commit_db) < 0)
                return 1;
        if (!p.relay) {
                p.samples_ms = calloc(p.count, sizeof(double));
                if (!p.samples_ms)
                        return 1;
        }
        r = sd_event_default(&p.event);
        if (r < 0) {
                fprintf(stderr, "latency-probe: sd_event_default: %s\n", strerror(-r));
                return 1;
        }
        (void)sd_event_add_signal(p.event, NULL, SIGINT, on_signal, &p);
        (void)sd_event_add_signal(p.event, NULL, SIGTERM, on_signal, &p);

        snprintf(client_id, sizeof(client_id), "bench-%s-%d", p.relay ? "relay" : "probe", (int)getpid());
        struct mqtt_settings st = {.uri = uri, .client_id = client_id};
        r = mqtt_client_new(p.event, &st, &p.mqtt);
        if (r < 0) {
                fprintf(stderr, "latency-probe: cannot create the MQTT client: %s\n", strerror(-r));
                return 1;
        }
        mqtt_client_set_callbacks(p.mqtt, on_message, on_state, &p);
        if (p.relay)
                snprintf(filter, sizeof(filter), "%s#", p.prefix);
        else
                snprintf(filter, sizeof(filter), "%s/%s/alerts/#", p.base, p.gateway);
        subs[0] = filter;
        r = mqtt_client_set_subscriptions(p.mqtt, subs, 1);
        if (r >= 0)
                r = mqtt_client_start(p.mqtt);
        if (r < 0) {
                fprintf(stderr, "latency-probe: cannot start the MQTT client: %s\n", strerror(-r));
                return 1;
        }

        r = sd_event_loop(p.event);

        struct mqtt_stats ms;
        mqtt_client_get_stats(p.mqtt, &ms);
        p.timer = sd_event_source_disable_unref(p.timer);
        p.mqtt = mqtt_client_free(p.mqtt);
        p.event = sd_event_unref(p.event);

        if (p.relay) {
                sqlite3_finalize(p.insert);
                sqlite3_close(p.db);
                fprintf(stderr, "relay: relayed %llu messages\n", (unsigned long long)p.relayed);
                return r < 0 ? 1 : 0;
        }
        if (ms.nodelay_set == 0)
                fprintf(stderr, "probe: warning: TCP_NODELAY was not set on the probe's own socket\n");
        if (r != 0 || p.n_samples == 0) {
                fprintf(stderr, "probe: failed (exit %d, %u samples, %u lost)\n", r, p.n_samples, p.lost);
                free(p.samples_ms);
                return r > 0 ? r : 1;
        }
        if (samples_file) {
                FILE *f = fopen(samples_file, "we");
                if (f) {
                        for (unsigned i = 0; i < p.n_samples; i++)
                                fprintf(f, "%.4f\n", p.samples_ms[i]);
                        fclose(f);
                }
        }
        double sum = 0;
        for (unsigned i = 0; i < p.n_samples; i++)
                sum += p.samples_ms[i];
        qsort(p.samples_ms, p.n_samples, sizeof(double), cmp_double);
        printf("n=%u lost=%u p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f\n", p.n_samples,
               p.lost, percentile(p.samples_ms, p.n_samples, 0.50),
               percentile(p.samples_ms, p.n_samples, 0.90), percentile(p.samples_ms, p.n_samples, 0.99),
               p.samples_ms[p.n_samples - 1], sum / p.n_samples);
        free(p.samples_ms);
        return p.lost > 0 ? 4 : 0;
}
