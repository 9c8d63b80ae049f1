/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Burst ingest (make bench, issue 8 figures 3, 4 and 6): a publisher that
 * sends Zigbee2MQTT sensor messages as fast as the broker takes them, and
 * the bare subscriber that is its baseline.
 *
 * The roster it publishes for is the one bench/bench-burst.sh generates:
 * residents R00001 … RNNNNN, each with one sensor of every kind in --kinds,
 * sensor s = (resident-1)*K + k on topic <prefix>R00001/leak … Messages go to
 * sensor (i * STRIDE) mod S for i = 0 … count-1, so consecutive messages are
 * spread over the whole roster (as real traffic is) and every sensor gets
 * count/S of them.
 *
 *   burst warmup    --uri U --db DB [--residents N --kinds …]
 *       publish the last sensor's message every 300 ms until the daemon has
 *       stored an event (its subscriptions are all in place), then exit.
 *   burst publish   --uri U [--db DB] [--count N] [--window W] …
 *       publish count messages at QoS 1 (what shouwangd subscribes with),
 *       at most W unacknowledged, from a hand-written MQTT 3.1.1 client
 *       (see below why not Paho). Prints
 *       "t_start_ns=… published=… publish_s=… events_expected=…". With --db:
 *       then waits until the daemon has committed every expected event row
 *       (events are written in batches of 1,024 or every 200 ms) and prints
 *       "events=… elapsed_s=… events_per_s=… msgs_per_s=…". With --rate R the
 *       messages are paced at R per second instead (a gateway's ordinary day).
 *   burst subscribe --uri U [--filter 'zigbee2mqtt/#'] --count N
 *       the baseline: our own MqttClient (sensors/mqtt.c, TCP_NODELAY, Paho's
 *       thread → queue → eventfd → sd-event loop, as in shouwangd) counting
 *       messages and nothing else. Prints "ready" once its subscription is
 *       live (it received its own sentinel message), then, after count
 *       messages, "received=… t_first_ns=… t_last_ns=…".
 *
 * Times are CLOCK_MONOTONIC nanoseconds, comparable between processes.
 */

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "sensors/mqtt.h"
#include "sensors/payload.h"

#define STRIDE 7919u /* prime: coprime with any roster size that is not a multiple of it */
#define MAX_KINDS 8

static uint64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct opts {
        const char *uri, *db, *prefix, *filter;
        unsigned residents, count, window, rate;
        enum sensor_kind kinds[MAX_KINDS];
        const char *kind_names[MAX_KINDS];
        unsigned n_kinds;
        unsigned timeout_s;
};

/* ---- the roster and the messages -------------------------------------------------------------------------- */

static unsigned n_sensors(const struct opts *o)
{
        return o->residents * o->n_kinds;
}

static void sensor_topic(const struct opts *o, unsigned s, char *buf, size_t size)
{
        snprintf(buf, size, "%sR%05u/%s", o->prefix, s / o->n_kinds + 1, o->kind_names[s % o->n_kinds]);
}

/* What a Zigbee2MQTT device of that kind sends with a routine report: state (never an alarm), battery,
 * link quality and the extras real devices add. */
static int sensor_payload(const struct opts *o, unsigned s, unsigned i, char *buf, size_t size)
{
        unsigned battery = 60 + (s * 7 + i / 50000) % 41, lq = 40 + (i * 13 + s) % 200;

        switch (o->kinds[s % o->n_kinds]) {
        case SENSOR_LEAK:
                return snprintf(buf, size,
                                "{\"battery\":%u,\"battery_low\":false,\"linkquality\":%u,\"tamper\":false,"
                                "\"voltage\":2995,\"water_leak\":false}",
                                battery, lq);
        case SENSOR_DOOR:
                return snprintf(buf, size, "{\"battery\":%u,\"contact\":true,\"linkquality\":%u,\"voltage\":3005}",
                                battery, lq);
        case SENSOR_MOTION:
                return snprintf(buf, size,
                                "{\"battery\":%u,\"illuminance\":23,\"illuminance_lux\":23,\"linkquality\":%u,"
                                "\"occupancy\":%s,\"voltage\":2985}",
                                battery, lq, i % 2 ? "true" : "false");
        case SENSOR_SMOKE:
                return snprintf(buf, size,
                                "{\"battery\":%u,\"battery_low\":false,\"linkquality\":%u,\"smoke\":false,"
                                "\"tamper\":false,\"test\":false}",
                                battery, lq);
        case SENSOR_GAS:
                return snprintf(buf, size, "{\"gas\":false,\"linkquality\":%u,\"test\":false}", lq);
        case SENSOR_CO:
                return snprintf(buf, size, "{\"battery\":%u,\"carbon_monoxide\":false,\"linkquality\":%u}", battery,
                                lq);
        default:
                return snprintf(buf, size, "{\"linkquality\":%u}", lq);
        }
}

static unsigned message_sensor(const struct opts *o, unsigned i)
{
        return (unsigned)(((uint64_t)i * STRIDE) % n_sensors(o));
}

/* Events the daemon's normaliser makes of one message (what it will store). */
static int events_of(const struct opts *o, unsigned s, const char *payload, size_t len)
{
        struct payload_result res;
        int r = payload_parse(o->kinds[s % o->n_kinds], PAYLOAD_DATA, payload, len, &res, NULL, 0);
        return r < 0 ? 0 : (int)res.n_events;
}

/* ---- the daemon's event rows ------------------------------------------------------------------------------ */

static sqlite3 *open_db(const char *path)
{
        sqlite3 *db = NULL;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
                fprintf(stderr, "burst: %s: %s\n", path, db ? sqlite3_errmsg(db) : "cannot open");
                sqlite3_close(db);
                return NULL;
        }
        sqlite3_busy_timeout(db, 1000);
        return db;
}

/* Rows in events: max(id), which is the count in a database the bench made fresh. */
static int64_t events_rows(sqlite3 *db)
{
        sqlite3_stmt *st = NULL;
        int64_t n = -1;

        if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM events", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return n;
}

/* ---- the publisher: MQTT 3.1.1 written by hand on one socket ---------------------------------------------
 *
 * Paho MQTTAsync tops out near 23,000 QoS 1 publishes/s here (each message is a
 * command handed to its send thread), which is about what the daemon takes: a
 * publisher that slow would measure itself. This one writes PUBLISH packets
 * back to back into a 64 KiB buffer and reads the PUBACKs off the same socket,
 * keeping at most --window messages unacknowledged.
 */

struct pub {
        int fd;
        unsigned window;
        uint16_t next_id;
        unsigned long sent, acked;
        unsigned char out[64 * 1024], in[64 * 1024];
        size_t n_out, n_in;
};

static int parse_uri(const char *uri, struct sockaddr_in *sa)
{
        const char *h = startswith(uri, "tcp://") ?: startswith(uri, "mqtt://") ?: uri;
        char host[64];
        int port = 1883;
        const char *colon = strrchr(h, ':');

        snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - h) : (int)strlen(h), h);
        if (colon && safe_atoi(colon + 1, &port) < 0)
                return -EINVAL;
        *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        return inet_pton(AF_INET, streq(host, "localhost") ? "127.0.0.1" : host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static int write_all(int fd, const void *buf, size_t n)
{
        const unsigned char *p = buf;

        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                                (void)poll(&pfd, 1, 1000);
                                continue;
                        }
                        return -errno;
                }
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

static size_t put_varint(unsigned char *b, size_t v)
{
        size_t n = 0;
        do {
                unsigned char d = v % 128;
                v /= 128;
                b[n++] = d | (v ? 0x80 : 0);
        } while (v);
        return n;
}

static int pub_flush(struct pub *p)
{
        int r = write_all(p->fd, p->out, p->n_out);
        p->n_out = 0;
        return r;
}

/* Read what is there (waiting at most timeout_ms for something): count PUBACKs. */
static int pub_read(struct pub *p, int timeout_ms)
{
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        int r = poll(&pfd, 1, timeout_ms);

        if (r <= 0)
                return r < 0 && errno != EINTR ? -errno : 0;
        ssize_t k = read(p->fd, p->in + p->n_in, sizeof(p->in) - p->n_in);
        if (k == 0)
                return -ECONNRESET;
        if (k < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        p->n_in += (size_t)k;
        size_t i = 0;
        while (p->n_in - i >= 2) {
                unsigned type = p->in[i] >> 4;
                size_t len = 0, mul = 1, h = 1;
                while (h < 5 && i + h < p->n_in) {
                        len += (p->in[i + h] & 127u) * mul;
                        mul *= 128;
                        if (!(p->in[i + h++] & 128))
                                break;
                }
                if (i + h + len > p->n_in || (p->in[i + h - 1] & 128))
                        break;
                if (type == 4) /* PUBACK */
                        p->acked++;
                i += h + len;
        }
        memmove(p->in, p->in + i, p->n_in - i);
        p->n_in -= i;
        return 0;
}

static int pub_connect(const struct opts *o, struct pub *p)
{
        struct sockaddr_in sa;
        unsigned char b[128];
        char id[32];
        size_t n = 0;
        int one = 1;

        *p = (struct pub){.fd = -1, .window = o->window, .next_id = 1};
        if (parse_uri(o->uri, &sa) < 0)
                return -EINVAL;
        p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (p->fd < 0 || connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        (void)setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        snprintf(id, sizeof(id), "bench-burst-%d", (int)getpid());
        size_t idl = strlen(id), rl = 10 + 2 + idl;
        b[n++] = 0x10;
        n += put_varint(b + n, rl);
        memcpy(b + n, "\x00\x04MQTT\x04\x02\x00\x3c", 10); /* MQTT 3.1.1, clean session, keep-alive 60 s */
        n += 10;
        b[n++] = (unsigned char)(idl >> 8);
        b[n++] = (unsigned char)idl;
        memcpy(b + n, id, idl);
        n += idl;
        if (write_all(p->fd, b, n) < 0)
                return -EIO;
        /* CONNACK: 20 02 00 00 */
        size_t got = 0;
        while (got < 4) {
                ssize_t k = read(p->fd, b + got, 4 - got);
                if (k <= 0)
                        return -ECONNRESET;
                got += (size_t)k;
        }
        if (b[0] != 0x20 || b[3] != 0)
                return -ECONNREFUSED;
        (void)fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
        return 0;
}

static int pub_one(struct pub *p, const char *topic, const char *payload, size_t len)
{
        size_t tl = strlen(topic), rl = 2 + tl + 2 + len;
        int r;

        if (rl > 4096)
                return -EMSGSIZE;
        while (p->sent - p->acked >= p->window) {
                if (p->n_out && (r = pub_flush(p)) < 0)
                        return r;
                if ((r = pub_read(p, 1000)) < 0)
                        return r;
        }
        if (sizeof(p->out) - p->n_out < rl + 5 && (r = pub_flush(p)) < 0)
                return r;
        unsigned char *b = p->out + p->n_out;
        size_t n = 0;
        b[n++] = 0x32; /* PUBLISH, QoS 1 */
        n += put_varint(b + n, rl);
        b[n++] = (unsigned char)(tl >> 8);
        b[n++] = (unsigned char)tl;
        memcpy(b + n, topic, tl);
        n += tl;
        b[n++] = (unsigned char)(p->next_id >> 8);
        b[n++] = (unsigned char)p->next_id;
        p->next_id = p->next_id == 65535 ? 1 : p->next_id + 1;
        memcpy(b + n, payload, len);
        n += len;
        p->n_out += n;
        p->sent++;
        /* Take the PUBACKs that are there, without waiting. */
        return (p->sent % 64) == 0 ? pub_read(p, 0) : 0;
}

static int pub_drain(struct pub *p, unsigned timeout_s)
{
        uint64_t deadline = mono_ns() + (uint64_t)timeout_s * 1000000000ull;
        int r = p->n_out ? pub_flush(p) : 0;

        while (r >= 0 && p->acked < p->sent && mono_ns() < deadline)
                r = pub_read(p, 100);
        return r < 0 ? r : p->acked == p->sent ? 0 : -ETIMEDOUT;
}

static void pub_close(struct pub *p)
{
        static const unsigned char disconnect[2] = {0xe0, 0x00};

        if (p->fd < 0)
                return;
        (void)write_all(p->fd, disconnect, sizeof(disconnect));
        close(p->fd);
        p->fd = -1;
}

static int do_warmup(const struct opts *o)
{
        char topic[256], payload[512];
        unsigned s = n_sensors(o) - 1;
        struct pub p;
        sqlite3 *db;
        int64_t n0;
        int len, r;

        if (!o->db) {
                fprintf(stderr, "burst: warmup needs --db\n");
                return 2;
        }
        db = open_db(o->db);
        if (!db)
                return 1;
        n0 = events_rows(db);
        r = pub_connect(o, &p);
        if (r < 0) {
                fprintf(stderr, "burst: cannot connect to %s: %s\n", o->uri, strerror(-r));
                return 1;
        }
        sensor_topic(o, s, topic, sizeof(topic));
        len = sensor_payload(o, s, 0, payload, sizeof(payload));
        for (unsigned t = 0; t < o->timeout_s * 10; t++) {
                if (t % 3 == 0 && (pub_one(&p, topic, payload, (size_t)len) < 0 || pub_flush(&p) < 0))
                        break;
                (void)pub_read(&p, 100);
                if (events_rows(db) > n0) {
                        (void)pub_drain(&p, 5);
                        pub_close(&p);
                        sqlite3_close(db);
                        printf("warmup: the daemon stored an event for %s after %.1f s\n", topic, t / 10.0);
                        return 0;
                }
        }
        fprintf(stderr, "burst: no event stored for %s within %u s — is the daemon subscribed?\n", topic, o->timeout_s);
        pub_close(&p);
        sqlite3_close(db);
        return 1;
}

static int do_publish(const struct opts *o)
{
        char topic[256], payload[512];
        sqlite3 *db = NULL;
        uint64_t t0, t1, expected = 0, bytes = 0;
        int64_t n0 = 0;
        struct pub p;
        int r;

        if (o->db && !(db = open_db(o->db)))
                return 1;
        if (db)
                n0 = events_rows(db);
        r = pub_connect(o, &p);
        if (r < 0) {
                fprintf(stderr, "burst: cannot connect to %s: %s\n", o->uri, strerror(-r));
                return 1;
        }
        t0 = mono_ns();
        for (unsigned i = 0; i < o->count && r >= 0; i++) {
                unsigned s = message_sensor(o, i);
                int len = sensor_payload(o, s, i, payload, sizeof(payload));
                sensor_topic(o, s, topic, sizeof(topic));
                if (o->rate) {
                        /* Paced: message i leaves at t0 + i/rate. */
                        uint64_t due = t0 + (uint64_t)i * 1000000000ull / o->rate, now = mono_ns();
                        if (due > now)
                                usleep((useconds_t)((due - now) / 1000));
                }
                r = pub_one(&p, topic, payload, (size_t)len);
                if (r >= 0 && o->rate)
                        r = pub_flush(&p);
                expected += (unsigned)events_of(o, s, payload, (size_t)len);
                bytes += (unsigned)len;
        }
        if (r >= 0)
                r = pub_drain(&p, o->timeout_s);
        t1 = mono_ns();
        if (r < 0)
                fprintf(stderr, "burst: publishing failed after %lu messages (%lu acknowledged): %s\n", p.sent, p.acked,
                        strerror(-r));
        printf("t_start_ns=%llu published=%lu failed=%lu publish_s=%.3f events_expected=%llu payload_bytes=%llu\n",
               (unsigned long long)t0, p.acked, (unsigned long)(o->count - p.acked), (t1 - t0) / 1e9,
               (unsigned long long)expected, (unsigned long long)bytes);
        fflush(stdout);
        pub_close(&p);
        if (r < 0 || !db) {
                sqlite3_close(db);
                return r < 0 ? 1 : 0;
        }

        /* Done when every event row is committed. Poll every 5 ms: a short read that never blocks the
         * daemon's writes (WAL). */
        int64_t want = n0 + (int64_t)expected, n = n0;
        uint64_t deadline = t0 + (uint64_t)o->timeout_s * 1000000000ull, t_done = 0;
        while ((n = events_rows(db)) < want && mono_ns() < deadline)
                usleep(5000);
        t_done = mono_ns();
        sqlite3_close(db);
        if (n < want) {
                fprintf(stderr, "burst: only %lld of %llu events stored after %u s\n", (long long)(n - n0),
                        (unsigned long long)expected, o->timeout_s);
                printf("events=%lld elapsed_s=%.3f events_per_s=0 msgs_per_s=0 complete=0\n", (long long)(n - n0),
                       (t_done - t0) / 1e9);
                return 1;
        }
        double el = (t_done - t0) / 1e9;
        printf("events=%lld elapsed_s=%.3f events_per_s=%.0f msgs_per_s=%.0f complete=1\n", (long long)(n - n0), el,
               (double)(n - n0) / el, (double)p.acked / el);
        return 0;
}

/* ---- the bare subscriber (our MqttClient on sd-event) ----------------------------------------------------- */

struct sub {
        sd_event *event;
        MqttClient *mqtt;
        const char *sentinel;
        bool ready;
        unsigned count;
        uint64_t received, t_first, t_last;
};

static void sub_on_message(MqttClient *c, const char *topic, const void *payload, size_t len, bool retained,
                           void *userdata)
{
        struct sub *s = userdata;
        uint64_t t = mono_ns();

        if (streq(topic, s->sentinel)) {
                if (!s->ready) {
                        s->ready = true;
                        printf("ready\n");
                        fflush(stdout);
                }
                return;
        }
        if (!s->received)
                s->t_first = t;
        s->t_last = t;
        if (++s->received >= s->count)
                (void)sd_event_exit(s->event, 0);
}

static void sub_on_state(MqttClient *c, bool connected, const char *reason, void *userdata)
{
        struct sub *s = userdata;

        if (connected)
                (void)mqtt_client_publish(c, s->sentinel, "1", 1, 1, false, NULL, NULL);
}

static int sub_resend(sd_event_source *es, uint64_t usec, void *userdata)
{
        struct sub *s = userdata;

        if (!s->ready && mqtt_client_is_connected(s->mqtt))
                (void)mqtt_client_publish(s->mqtt, s->sentinel, "1", 1, 1, false, NULL, NULL);
        if (!s->ready) {
                (void)sd_event_source_set_time_relative(es, 200 * USEC_PER_MSEC);
                (void)sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
        }
        return 0;
}

static int sub_on_signal(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
        return sd_event_exit(((struct sub *)userdata)->event, 3);
}

static int do_subscribe(const struct opts *o)
{
        struct sub s = {.count = o->count};
        char id[64], sentinel[256];
        char *subs[1] = {(char *)o->filter};
        sigset_t ss;
        int r;

        /* The sentinel must match the filter: <filter without #>bench-sentinel-PID. */
        size_t fl = strlen(o->filter);
        if (fl == 0 || o->filter[fl - 1] != '#') {
                fprintf(stderr, "burst: --filter must end with #\n");
                return 2;
        }
        snprintf(sentinel, sizeof(sentinel), "%.*sbench-sentinel-%d", (int)(fl - 1), o->filter, (int)getpid());
        s.sentinel = sentinel;
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if (sd_event_default(&s.event) < 0)
                return 1;
        (void)sd_event_add_signal(s.event, NULL, SIGINT, sub_on_signal, &s);
        (void)sd_event_add_signal(s.event, NULL, SIGTERM, sub_on_signal, &s);
        snprintf(id, sizeof(id), "bench-sub-%d", (int)getpid());
        struct mqtt_settings st = {.uri = o->uri, .client_id = id};
        r = mqtt_client_new(s.event, &st, &s.mqtt);
        if (r >= 0) {
                mqtt_client_set_callbacks(s.mqtt, sub_on_message, sub_on_state, &s);
                r = mqtt_client_set_subscriptions(s.mqtt, subs, 1);
        }
        if (r >= 0)
                r = mqtt_client_start(s.mqtt);
        if (r < 0) {
                fprintf(stderr, "burst: cannot start the MQTT client: %s\n", strerror(-r));
                return 1;
        }
        (void)sd_event_add_time_relative(s.event, NULL, CLOCK_MONOTONIC, 200 * USEC_PER_MSEC, 1000, sub_resend, &s);
        r = sd_event_loop(s.event);
        printf("received=%llu t_first_ns=%llu t_last_ns=%llu\n", (unsigned long long)s.received,
               (unsigned long long)s.t_first, (unsigned long long)s.t_last);
        fflush(stdout);
        s.mqtt = mqtt_client_free(s.mqtt);
        sd_event_unref(s.event);
        return r == 0 ? 0 : 1;
}

/* ---- main ------------------------------------------------------------------------------------------------ */

static int parse_kinds(struct opts *o, const char *list)
{
        _cleanup_free_ char *copy = strdup(list);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        o->n_kinds = 0;
        for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
                int v = sensor_kind_from_string(k);
                if (v < 0 || o->n_kinds == MAX_KINDS)
                        return -EINVAL;
                o->kinds[o->n_kinds] = (enum sensor_kind)v;
                o->kind_names[o->n_kinds] = sensor_kind_to_string((enum sensor_kind)v);
                o->n_kinds++;
        }
        return o->n_kinds ? 0 : -EINVAL;
}

static void usage(FILE *f)
{
        fputs("usage: burst warmup    --uri U --db DB [--residents N] [--kinds leak,door,…] [--prefix P]\n"
              "       burst publish   --uri U [--db DB] [--count N] [--window W] [--rate MSGS_PER_S] [--residents N]\n"
              "                       [--kinds …]\n"
              "       burst subscribe --uri U --count N [--filter 'zigbee2mqtt/#']\n"
              "       common: [--timeout-s S]\n",
              f);
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"uri", required_argument, NULL, 'u'},
            {"db", required_argument, NULL, 'd'},
            {"count", required_argument, NULL, 'n'},
            {"window", required_argument, NULL, 'w'},
            {"residents", required_argument, NULL, 'r'},
            {"kinds", required_argument, NULL, 'k'},
            {"prefix", required_argument, NULL, 'p'},
            {"filter", required_argument, NULL, 'f'},
            {"timeout-s", required_argument, NULL, 't'},
            {"rate", required_argument, NULL, 'R'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct opts o = {
            .prefix = "zigbee2mqtt/",
            .filter = "zigbee2mqtt/#",
            .residents = 10000,
            .count = 100000,
            .window = 10000,
            .timeout_s = 120,
        };
        const char *mode;
        int c, v;

        if (parse_kinds(&o, "leak,door,motion,smoke,gas") < 0)
                return 1;
        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        mode = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) >= 0) {
                switch (c) {
                case 'u':
                        o.uri = optarg;
                        break;
                case 'd':
                        o.db = optarg;
                        break;
                case 'p':
                        o.prefix = optarg;
                        break;
                case 'f':
                        o.filter = optarg;
                        break;
                case 'k':
                        if (parse_kinds(&o, optarg) < 0) {
                                fprintf(stderr, "burst: bad --kinds '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'n':
                case 'w':
                case 'r':
                case 't':
                case 'R':
                        if (safe_atoi(optarg, &v) < 0 || v < 1) {
                                fprintf(stderr, "burst: bad number '%s'\n", optarg);
                                return 2;
                        }
                        if (c == 'n')
                                o.count = (unsigned)v;
                        else if (c == 'w')
                                o.window = (unsigned)v;
                        else if (c == 'r')
                                o.residents = (unsigned)v;
                        else if (c == 'R')
                                o.rate = (unsigned)v;
                        else
                                o.timeout_s = (unsigned)v;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!o.uri || optind != argc || o.residents > 99999) {
                usage(stderr);
                return 2;
        }
        if (n_sensors(&o) % STRIDE == 0) {
                fprintf(stderr, "burst: the number of sensors must not be a multiple of %u\n", STRIDE);
                return 2;
        }
        log_setup(LOG_TARGET_STDERR);
        if (streq(mode, "warmup"))
                return do_warmup(&o);
        if (streq(mode, "publish"))
                return do_publish(&o);
        if (streq(mode, "subscribe"))
                return do_subscribe(&o);
        usage(stderr);
        return 2;
}
