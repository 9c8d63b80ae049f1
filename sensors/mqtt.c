/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Paho's synchronous client (MQTTClient, no callbacks, so no threads of its
 * own) driven from the sd-event loop: Paho's socket is an io source, a timer
 * at a quarter of the keep-alive lets Paho send its PINGREQ, and nothing else
 * wakes the process while nothing happens. MQTTAsync polled with fixed 1 s
 * timeouts and a 100 ms sleep on two threads (~3 wake-ups/s on an idle Pi,
 * docs/performance.md figure 5).
 *
 * The calls that wait for the broker — connecting, and the SUBSCRIBEs that
 * follow — run on a short-lived worker thread, so a broker that does not
 * answer never stalls the loop (GPIO edges, timers, the watchdog). Every Paho
 * call, on either thread, holds paho_lock: Paho's cycle reads whichever of
 * its sockets is ready, and two threads cycling at once could take each
 * other's packets.
 *
 * Paho is loaded with dlopen(), in the build the broker address needs: the
 * plain libpaho-mqtt3c for tcp://, libpaho-mqtt3cs for ssl:// (both come in
 * Debian's libpaho-mqtt1.3). The TLS build initialises OpenSSL when its first
 * client is made, which alone touches ~2 MiB of libcrypto's and libssl's
 * pages; a gateway that talks to its own Mosquitto in plain TCP on loopback
 * never pays that (docs/performance.md, figure 4).
 */

#include "sensors/mqtt.h"

#include <MQTTClient.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "daemon/log.h"

#define SUBSCRIBE_CHUNK 256
/* Messages handled per loop iteration before timers get their turn. */
#define DRAIN_BUDGET 512
/* Paho reads one packet per cycle. Over TCP a cycle that finds nothing means
 * the socket is empty (and epoll tells us when it is not); over TLS, OpenSSL
 * may hold decrypted packets the socket no longer shows, so try a few more. */
#define IDLE_CYCLES_TCP 1
#define IDLE_CYCLES_TLS 8
#define CONNECT_TIMEOUT_S 10

static pthread_mutex_t paho_lock = PTHREAD_MUTEX_INITIALIZER;

/* The Paho functions we call, from one of its two builds. */
struct paho {
        const char *soname;
        void *dl;
        __typeof__(MQTTClient_createWithOptions) *createWithOptions;
        __typeof__(MQTTClient_connect) *connect;
        __typeof__(MQTTClient_disconnect) *disconnect;
        __typeof__(MQTTClient_destroy) *destroy;
        __typeof__(MQTTClient_isConnected) *isConnected;
        __typeof__(MQTTClient_subscribeMany) *subscribeMany;
        __typeof__(MQTTClient_publishMessage) *publishMessage;
        __typeof__(MQTTClient_waitForCompletion) *waitForCompletion;
        __typeof__(MQTTClient_getPendingDeliveryTokens) *getPendingDeliveryTokens;
        __typeof__(MQTTClient_receive) *receive;
        __typeof__(MQTTClient_freeMessage) *freeMessage;
        __typeof__(MQTTClient_free) *free;
        __typeof__(MQTTClient_strerror) *strerror;
};

static struct paho paho_builds[2] = {
        { .soname = "libpaho-mqtt3c.so.1" },
        { .soname = "libpaho-mqtt3cs.so.1" },
};

/* Load the build for plain TCP or for TLS, once (the libraries stay loaded for the life of the process: Paho
 * keeps global state). Called with paho_lock held. Returns NULL after logging why. */
static const struct paho *paho_load(bool tls)
{
        struct paho *p = &paho_builds[tls];
#define SYM(name) { "MQTTClient_" #name, (void **)&p->name }
        const struct dl_symbol syms[] = {
                SYM(createWithOptions), SYM(connect),        SYM(disconnect),        SYM(destroy),
                SYM(isConnected),       SYM(subscribeMany),  SYM(publishMessage),    SYM(waitForCompletion),
                SYM(getPendingDeliveryTokens), SYM(receive), SYM(freeMessage),       SYM(free),
                SYM(strerror),
        };
#undef SYM
        char why[256];

        if (p->dl)
                return p;
        /* Both builds export the same names, and each must call its own (RTLD_LOCAL). */
        if (dlopen_symbols(p->soname, syms, ELEMENTSOF(syms), &p->dl, why, sizeof(why)) < 0) {
                log_error("MQTT: cannot load %s: %s — install Debian's libpaho-mqtt1.3 (Paho 1.3 or newer)",
                          p->soname, why);
                return NULL;
        }
        return p;
}

struct pending_publish {
        int token; /* 0: QoS 0, done once written */
        mqtt_publish_cb done;
        void *userdata;
        struct pending_publish *next;
};

enum job_type {
        JOB_CONNECT,   /* connect, then subscribe */
        JOB_SUBSCRIBE, /* subscribe a new list while connected */
};

/* What the worker thread gets and gives back. The loop does not touch it
 * while the worker runs; the worker touches nothing else of MqttClient but
 * the Paho handle (under paho_lock) and the read-only settings. */
struct job {
        enum job_type type;
        char **subs; /* owned copy */
        size_t n_subs;
        int rc;      /* Paho's code of the connect */
        int fd;      /* Paho's socket, -1: not found */
        unsigned refused, failed_chunks;
        bool lost;   /* the connection died while subscribing */
        char reason[256];
};

struct MqttClient {
        sd_event *event;
        sd_event_source *io_source;       /* Paho's socket, while connected */
        sd_event_source *tick_timer;      /* keep-alive */
        sd_event_source *kick;            /* drain again / complete QoS 0 publishes */
        sd_event_source *reconnect_timer;
        sd_event_source *job_source;      /* job_efd: the worker finished */
        int job_efd;
        const struct paho *paho;
        MQTTClient handle;

        /* settings, owned copies */
        char *uri, *client_id, *username, *password, *ca_file, *cert_file, *key_file, *status_topic;
        usec_t keepalive, reconnect_max;
        int port;
        bool tls;

        char **subs;
        size_t n_subs;
        bool subs_changed; /* set while a job ran with the old list */

        mqtt_message_cb on_message;
        mqtt_state_cb on_state;
        void *userdata;

        bool connected, started, freeing, lost_in_publish;
        unsigned attempt;
        char error[256];
        int fd;

        pthread_t worker;
        bool worker_running;
        struct job job;

        struct pending_publish *pending;
        char *buf; /* payload copy with a NUL after it */
        size_t buf_size;

        struct mqtt_stats stats;
        _Atomic uint64_t nodelay_set;
        bool no_nodelay; /* SHOUWANG_MQTT_NO_NODELAY=1: benchmark only, see mqtt_client_new() */
};

static const char *connack_reason(int code)
{
        switch (code) {
        case 1:
                return "the broker refused our MQTT protocol version";
        case 2:
                return "the broker refused our client id";
        case 3:
                return "the broker is unavailable";
        case 4:
                return "bad user name or password — check [mqtt] username and password_file";
        case 5:
                return "not authorised — the broker refused this user (check the password file and the broker's ACL)";
        default:
                return NULL;
        }
}

static int paho_to_errno(int rc)
{
        switch (rc) {
        case MQTTCLIENT_SUCCESS:
                return 0;
        case MQTTCLIENT_DISCONNECTED:
                return -ENOTCONN;
        case MQTTCLIENT_MAX_MESSAGES_INFLIGHT:
                return -ENOBUFS;
        case MQTTCLIENT_BAD_UTF8_STRING:
        case MQTTCLIENT_NULL_PARAMETER:
        case MQTTCLIENT_TOPICNAME_TRUNCATED:
        case MQTTCLIENT_BAD_STRUCTURE:
        case MQTTCLIENT_BAD_QOS:
        case MQTTCLIENT_BAD_PROTOCOL:
                return -EINVAL;
        case MQTTCLIENT_SSL_NOT_SUPPORTED:
                return -EPROTONOSUPPORT;
        default:
                return -EIO;
        }
}

/* ---- the worker thread -------------------------------------------------------------------------------------- */

/* Paho does not tell us its socket. It is the stream socket connected to the
 * broker's port that was not there before the connect (paho_lock is held
 * across both looks, and only MqttClient opens sockets to that port). */
static size_t broker_sockets(int port, int *fds, size_t max)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        size_t n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)) && n < max) {
                struct sockaddr_storage peer;
                socklen_t pl = sizeof(peer), tl;
                int fd, type;

                if (de->d_name[0] == '.')
                        continue;
                fd = atoi(de->d_name);
                if (fd <= 2 || fd == dirfd(d))
                        continue;
                tl = sizeof(type);
                if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
                        continue;
                if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
                        continue;
                int p = peer.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&peer)->sin_port)
                        : peer.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&peer)->sin6_port)
                                                     : -1;
                if (p == port)
                        fds[n++] = fd;
        }
        closedir(d);
        return n;
}

static void job_subscribe(MqttClient *c, struct job *j)
{
        for (size_t i = 0; i < j->n_subs; i += SUBSCRIBE_CHUNK) {
                size_t n = j->n_subs - i < SUBSCRIBE_CHUNK ? j->n_subs - i : SUBSCRIBE_CHUNK;
                int qos[SUBSCRIBE_CHUNK];
                int rc;

                for (size_t k = 0; k < n; k++)
                        qos[k] = 1;
                rc = c->paho->subscribeMany(c->handle, (int)n, j->subs + i, qos);
                if (rc != MQTTCLIENT_SUCCESS) {
                        j->failed_chunks++;
                        if (!c->paho->isConnected(c->handle)) {
                                j->lost = true;
                                return;
                        }
                        continue;
                }
                for (size_t k = 0; k < n; k++)
                        if (qos[k] == 0x80)
                                j->refused++;
        }
}

static void *worker_main(void *userdata)
{
        MqttClient *c = userdata;
        struct job *j = &c->job;
        uint64_t one = 1;

        pthread_mutex_lock(&paho_lock);
        if (j->type == JOB_CONNECT) {
                MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
                MQTTClient_willOptions will = MQTTClient_willOptions_initializer;
                MQTTClient_SSLOptions ssl = MQTTClient_SSLOptions_initializer;
                int before[16], after[16];
                size_t nb, na;

                co.keepAliveInterval = (int)(c->keepalive / USEC_PER_SEC);
                co.cleansession = 0;
                co.reliable = 0;
                /* Paho's default of 10 unacknowledged publishes would make the 11th
                 * wait in the loop (100 ms at a time) when an alert goes to many. */
                co.maxInflightMessages = 1000;
                co.connectTimeout = CONNECT_TIMEOUT_S;
                co.MQTTVersion = MQTTVERSION_3_1_1;
                co.username = c->username;
                co.password = c->password;
                if (c->status_topic) {
                        will.topicName = c->status_topic;
                        will.message = "offline";
                        will.retained = 1;
                        will.qos = 1;
                        co.will = &will;
                }
                if (c->tls) {
                        ssl.trustStore = c->ca_file;
                        ssl.keyStore = c->cert_file;
                        ssl.privateKey = c->key_file;
                        ssl.enableServerCertAuth = 1;
                        ssl.verify = 1;
                        co.ssl = &ssl;
                }
                nb = broker_sockets(c->port, before, 16);
                j->rc = c->paho->connect(c->handle, &co);
                j->fd = -1;
                if (j->rc == MQTTCLIENT_SUCCESS) {
                        na = broker_sockets(c->port, after, 16);
                        for (size_t a = 0; a < na && j->fd < 0; a++) {
                                bool old = false;
                                for (size_t b = 0; b < nb; b++)
                                        old = old || after[a] == before[b];
                                if (!old)
                                        j->fd = after[a];
                        }
                        if (j->fd >= 0 && !c->no_nodelay) {
                                int on = 1;
                                /* Paho 1.3 never sets it: without it every small
                                 * packet waits ~40 ms for Nagle (docs/performance.md). */
                                if (setsockopt(j->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0)
                                        atomic_fetch_add(&c->nodelay_set, 1);
                        }
                        if (j->fd < 0) {
                                snprintf(j->reason, sizeof(j->reason),
                                         "connected, but cannot find the connection's socket (port %d)", c->port);
                                (void)c->paho->disconnect(c->handle, 0);
                        } else
                                job_subscribe(c, j);
                } else {
                        const char *why = connack_reason(j->rc);
                        if (why)
                                snprintf(j->reason, sizeof(j->reason), "%s", why);
                        else if (j->rc == MQTTCLIENT_FAILURE)
                                snprintf(j->reason, sizeof(j->reason),
                                         "no MQTT broker answered (connection refused, TLS failed, or no CONNACK "
                                         "within %d s) — is Mosquitto running and listening there?",
                                         CONNECT_TIMEOUT_S);
                        else
                                snprintf(j->reason, sizeof(j->reason), "%s (code %d)", c->paho->strerror(j->rc),
                                         j->rc);
                }
        } else
                job_subscribe(c, j);
        pthread_mutex_unlock(&paho_lock);
        (void)!write(c->job_efd, &one, sizeof(one));
        return NULL;
}

/* ---- the loop thread ---------------------------------------------------------------------------------------- */

static void free_strv(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int copy_strv(char *const *v, size_t n, char ***ret)
{
        char **copy = calloc(n + 1, sizeof(char *));

        if (!copy)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                copy[i] = strdup(v[i]);
                if (!copy[i]) {
                        free_strv(copy, i);
                        return -ENOMEM;
                }
        }
        *ret = copy;
        return 0;
}

static int start_job(MqttClient *c, enum job_type type)
{
        int r;

        if (c->worker_running)
                return -EBUSY;
        c->job = (struct job){ .type = type, .fd = -1 };
        r = copy_strv(c->subs, c->n_subs, &c->job.subs);
        if (r < 0)
                return r;
        c->job.n_subs = c->n_subs;
        c->subs_changed = false;
        /* Paho's socket is the worker's until it is done. */
        if (c->io_source)
                (void)sd_event_source_set_enabled(c->io_source, SD_EVENT_OFF);
        r = -pthread_create(&c->worker, NULL, worker_main, c);
        if (r < 0) {
                free_strv(c->job.subs, c->job.n_subs);
                c->job.subs = NULL;
                if (c->io_source)
                        (void)sd_event_source_set_enabled(c->io_source, SD_EVENT_ON);
                return r;
        }
        c->worker_running = true;
        return 0;
}

static void join_worker(MqttClient *c)
{
        if (!c->worker_running)
                return;
        pthread_join(c->worker, NULL);
        c->worker_running = false;
        free_strv(c->job.subs, c->job.n_subs);
        c->job.subs = NULL;
}

static int connect_now(MqttClient *c);

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        MqttClient *c = userdata;

        c->reconnect_timer = sd_event_source_disable_unref(c->reconnect_timer);
        (void)connect_now(c);
        return 0;
}

static void schedule_reconnect(MqttClient *c)
{
        usec_t delay, now;
        uint32_t jitter = 0;
        int r;

        if (c->freeing || c->reconnect_timer)
                return;
        /* 0.5 s, 1 s, 2 s … capped; ±25 % jitter so a building full of gateways
         * does not hammer a restarted broker in step. */
        delay = USEC_PER_SEC / 2;
        for (unsigned i = 0; i < c->attempt && delay < c->reconnect_max; i++)
                delay *= 2;
        if (delay > c->reconnect_max)
                delay = c->reconnect_max;
        (void)getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK);
        delay = delay * 3 / 4 + (delay / 2) * (jitter % 1000) / 1000;
        c->attempt++;

        sd_event_now(c->event, CLOCK_BOOTTIME, &now);
        r = sd_event_add_time(c->event, &c->reconnect_timer, CLOCK_BOOTTIME, now + delay, USEC_PER_MSEC * 10,
                              on_reconnect_timer, c);
        if (r < 0)
                log_error_errno(r, "MQTT: cannot schedule a reconnect: %m");
        else
                log_debug("MQTT: next connection attempt in %.1f s", (double)delay / USEC_PER_SEC);
}

static void fail_pending(MqttClient *c, int error)
{
        struct pending_publish *p = c->pending;

        c->pending = NULL;
        while (p) {
                struct pending_publish *next = p->next;
                if (p->done)
                        p->done(c, error, p->userdata);
                free(p);
                p = next;
        }
}

static void kick(MqttClient *c)
{
        if (c->kick)
                (void)sd_event_source_set_enabled(c->kick, SD_EVENT_ONESHOT);
}

/* Publishes Paho no longer holds in flight are done: QoS 0 at once, QoS 1
 * when the PUBACK came. Callbacks run after the list is settled, as one may
 * publish again. */
static void complete_publishes(MqttClient *c)
{
        MQTTClient_deliveryToken *tokens = NULL;
        struct pending_publish *done = NULL, **pp;

        if (!c->pending || !c->connected)
                return;
        pthread_mutex_lock(&paho_lock);
        (void)c->paho->getPendingDeliveryTokens(c->handle, &tokens);
        pthread_mutex_unlock(&paho_lock);
        for (pp = &c->pending; *pp;) {
                struct pending_publish *p = *pp;
                bool in_flight = false;

                for (size_t i = 0; p->token && tokens && tokens[i] != -1; i++)
                        in_flight = in_flight || tokens[i] == p->token;
                if (in_flight) {
                        pp = &p->next;
                        continue;
                }
                *pp = p->next;
                p->next = done;
                done = p;
        }
        if (tokens)
                c->paho->free(tokens);
        while (done) {
                struct pending_publish *next = done->next;
                c->stats.published++;
                if (done->done)
                        done->done(c, 0, done->userdata);
                free(done);
                done = next;
        }
}

static void publish_status(MqttClient *c, const char *state)
{
        if (!c->status_topic)
                return;
        (void)mqtt_client_publish(c, c->status_topic, state, strlen(state), 1, true, NULL, NULL);
}

static void connection_lost(MqttClient *c, const char *why)
{
        c->connected = false;
        c->lost_in_publish = false;
        c->fd = -1;
        c->io_source = sd_event_source_disable_unref(c->io_source);
        c->tick_timer = sd_event_source_disable_unref(c->tick_timer);
        c->stats.connection_losses++;
        snprintf(c->error, sizeof(c->error), "connection lost: %s", why);
        log_warning("MQTT: connection to %s lost (%s) — reconnecting", c->uri, why);
        fail_pending(c, -ECONNRESET);
        if (c->on_state)
                c->on_state(c, false, c->error, c->userdata);
        schedule_reconnect(c);
}

static bool deliver(MqttClient *c, char *topic, int topic_len, MQTTClient_message *m)
{
        size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
        size_t pl = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
        bool retained = m->retained;
        char *t;

        /* Callers get a NUL after the payload and the topic; copy both before
         * Paho's buffers go back, as the callback may publish. */
        if (c->buf_size < tl + pl + 2) {
                size_t want = tl + pl + 2 < 4096 ? 4096 : tl + pl + 2;
                char *nb = realloc(c->buf, want);
                if (!nb) {
                        log_error("MQTT: out of memory for a %zu-byte message on %.*s — dropped", pl, (int)tl,
                                  topic);
                        return false;
                }
                c->buf = nb;
                c->buf_size = want;
        }
        t = c->buf;
        memcpy(t, topic, tl);
        t[tl] = '\0';
        if (pl)
                memcpy(t + tl + 1, m->payload, pl);
        t[tl + 1 + pl] = '\0';
        c->stats.received++;
        if (c->on_message)
                c->on_message(c, t, t + tl + 1, pl, retained, c->userdata);
        return true;
}

/* Hand Paho the socket: read what is there, answer keep-alives, and give each
 * message to the callback (outside paho_lock, so it may publish). */
static void drain(MqttClient *c)
{
        unsigned idle = 0, max_idle = c->tls ? IDLE_CYCLES_TLS : IDLE_CYCLES_TCP;

        if (c->lost_in_publish) {
                c->lost_in_publish = false;
                if (c->connected)
                        connection_lost(c, "the connection broke while publishing");
                return;
        }

        for (unsigned n = 0; c->connected && !c->worker_running;) {
                char *topic = NULL;
                int topic_len = 0, rc;
                MQTTClient_message *m = NULL;
                bool up;

                if (n >= DRAIN_BUDGET) {
                        kick(c); /* more next iteration, after the timers */
                        break;
                }
                pthread_mutex_lock(&paho_lock);
                rc = c->paho->receive(c->handle, &topic, &topic_len, &m, 0);
                up = c->paho->isConnected(c->handle);
                pthread_mutex_unlock(&paho_lock);
                if (m) {
                        (void)deliver(c, topic, topic_len, m);
                        c->paho->freeMessage(&m);
                        c->paho->free(topic);
                        n++;
                        idle = 0;
                        continue;
                }
                if (!up || (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED)) {
                        if (c->connected && !c->freeing)
                                connection_lost(c, up ? c->paho->strerror(rc) : "the broker closed the connection");
                        return;
                }
                if (++idle >= max_idle)
                        break;
        }
        if (!c->worker_running)
                complete_publishes(c);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        drain(userdata);
        return 0;
}

static int on_kick(sd_event_source *s, void *userdata)
{
        drain(userdata);
        return 0;
}

static int arm_tick(MqttClient *c);

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        MqttClient *c = userdata;

        /* A cycle with nothing to read is when Paho checks its keep-alive. */
        drain(c);
        if (c->connected)
                (void)arm_tick(c);
        return 0;
}

static int arm_tick(MqttClient *c)
{
        usec_t period = c->keepalive / 4, now;

        if (period < USEC_PER_SEC)
                period = USEC_PER_SEC;
        sd_event_now(c->event, CLOCK_BOOTTIME, &now);
        if (c->tick_timer) {
                (void)sd_event_source_set_time(c->tick_timer, now + period);
                return sd_event_source_set_enabled(c->tick_timer, SD_EVENT_ONESHOT);
        }
        /* Accuracy of a second lets the kernel batch this wake-up with others. */
        return sd_event_add_time(c->event, &c->tick_timer, CLOCK_BOOTTIME, now + period, USEC_PER_SEC, on_tick, c);
}

static void subscribe_report(MqttClient *c, const struct job *j)
{
        if (j->refused)
                log_warning("MQTT: the broker refused %u of %zu subscriptions — check its ACL for user %s",
                            j->refused, j->n_subs, strempty(c->username));
        if (j->failed_chunks && !j->lost)
                log_warning("MQTT: %u SUBSCRIBE requests got no answer; retrying on reconnect", j->failed_chunks);
}

static void on_connected(MqttClient *c, int fd)
{
        int r;

        c->connected = true;
        c->fd = fd;
        c->attempt = 0;
        c->stats.connects++;
        c->error[0] = '\0';
        r = sd_event_add_io(c->event, &c->io_source, fd, EPOLLIN, on_io, c);
        if (r < 0) {
                log_error_errno(r, "MQTT: cannot watch the broker connection: %m");
                pthread_mutex_lock(&paho_lock);
                (void)c->paho->disconnect(c->handle, 0);
                pthread_mutex_unlock(&paho_lock);
                connection_lost(c, "cannot watch the socket");
                return;
        }
        /* A message is news: before timers of the same loop iteration. */
        (void)sd_event_source_set_priority(c->io_source, SD_EVENT_PRIORITY_IMPORTANT);
        (void)arm_tick(c);
        log_info("MQTT: connected to %s as %s", c->uri, c->client_id);
        publish_status(c, "online");
        if (c->on_state)
                c->on_state(c, true, NULL, c->userdata);
}

static int on_job_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        MqttClient *c = userdata;
        uint64_t v;
        struct job j;
        bool up;

        (void)!read(c->job_efd, &v, sizeof(v));
        if (!c->worker_running)
                return 0;
        pthread_join(c->worker, NULL);
        c->worker_running = false;
        j = c->job;
        c->job.subs = NULL;

        pthread_mutex_lock(&paho_lock);
        up = c->paho->isConnected(c->handle);
        pthread_mutex_unlock(&paho_lock);

        if (j.type == JOB_CONNECT) {
                if (j.rc != MQTTCLIENT_SUCCESS || j.fd < 0) {
                        snprintf(c->error, sizeof(c->error), "%s", j.reason);
                        /* Say it loudly once, then quietly while it keeps failing. */
                        log_full_errno(c->attempt <= 1 ? LOG_WARNING : LOG_DEBUG, 0,
                                       "MQTT: cannot connect to %s: %s — retrying", c->uri, j.reason);
                        if (c->on_state)
                                c->on_state(c, false, c->error, c->userdata);
                        schedule_reconnect(c);
                } else if (!up) {
                        c->stats.connects++;
                        c->connected = true; /* so that the loss is counted and reported */
                        connection_lost(c, "the broker closed the connection while we subscribed");
                } else {
                        subscribe_report(c, &j);
                        on_connected(c, j.fd);
                }
        } else {
                subscribe_report(c, &j);
                if (c->io_source)
                        (void)sd_event_source_set_enabled(c->io_source, SD_EVENT_ON);
                if (!up && c->connected)
                        connection_lost(c, "the broker closed the connection while we subscribed");
        }
        free_strv(j.subs, j.n_subs);
        if (c->connected && c->subs_changed)
                (void)start_job(c, JOB_SUBSCRIBE);
        /* Messages that came in while the worker waited for its answers sit in
         * Paho's queue, not on the socket. */
        kick(c);
        return 0;
}

static int connect_now(MqttClient *c)
{
        int r;

        if (c->connected || c->worker_running || c->freeing)
                return 0;
        r = start_job(c, JOB_CONNECT);
        if (r < 0) {
                snprintf(c->error, sizeof(c->error), "cannot start connecting: %s", strerror(-r));
                log_warning("MQTT: %s to %s", c->error, c->uri);
                schedule_reconnect(c);
                return r;
        }
        return 0;
}

/* ---- public ------------------------------------------------------------------------------------------------ */

static int parse_port(const char *uri, int *ret)
{
        const char *rest = strstr(uri, "://");
        const char *colon;
        bool tls = startswith(uri, "ssl://") || startswith(uri, "mqtts://");
        int port;

        if (!rest)
                return -EINVAL;
        rest += 3;
        /* [v6]:port or host:port */
        colon = rest[0] == '[' ? strstr(rest, "]:") : strrchr(rest, ':');
        if (colon && rest[0] == '[')
                colon++;
        if (!colon) {
                *ret = tls ? 8883 : 1883;
                return 0;
        }
        char buf[8];
        size_t n = strcspn(colon + 1, "/");
        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, colon + 1, n);
        buf[n] = '\0';
        if (safe_atoi(buf, &port) < 0 || port <= 0 || port > 65535)
                return -EINVAL;
        *ret = port;
        return 0;
}

static char *strdup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

int mqtt_client_new(sd_event *e, const struct mqtt_settings *st, MqttClient **ret)
{
        _cleanup_(mqtt_client_freep) MqttClient *c = NULL;
        MQTTClient_createOptions opts = MQTTClient_createOptions_initializer;
        int r, rc;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->job_efd = -1;
        c->fd = -1;
        c->event = sd_event_ref(e);
        c->uri = strdup(st->uri);
        c->client_id = strdup(st->client_id);
        if (!c->uri || !c->client_id)
                return -ENOMEM;
        c->username = strdup_or_null(st->username);
        c->password = strdup_or_null(st->password);
        c->ca_file = strdup_or_null(st->ca_file);
        c->cert_file = strdup_or_null(st->cert_file);
        c->key_file = strdup_or_null(st->key_file);
        c->status_topic = strdup_or_null(st->status_topic);
        c->keepalive = st->keepalive ? st->keepalive : 30 * USEC_PER_SEC;
        c->reconnect_max = st->reconnect_max ? st->reconnect_max : 60 * USEC_PER_SEC;
        c->tls = startswith(c->uri, "ssl://") || startswith(c->uri, "mqtts://");
        /* Benchmark-only switch, read once here: SHOUWANG_MQTT_NO_NODELAY=1 leaves Paho's
         * socket as Paho made it (Nagle on), so bench/bench-latency.sh can show the
         * ~40 ms per hop that TCP_NODELAY saves (docs/performance.md). Never set it
         * in production. */
        c->no_nodelay = streq_ptr(getenv("SHOUWANG_MQTT_NO_NODELAY"), "1");
        if (c->no_nodelay)
                log_warning("MQTT: SHOUWANG_MQTT_NO_NODELAY=1, TCP_NODELAY not set (benchmark only)");

        if (parse_port(c->uri, &c->port) < 0) {
                log_error("MQTT: '%s' is not a broker address — write tcp://HOST:PORT or ssl://HOST:PORT", c->uri);
                return -EINVAL;
        }

        c->job_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->job_efd < 0)
                return -errno;
        r = sd_event_add_io(e, &c->job_source, c->job_efd, EPOLLIN, on_job_done, c);
        if (r < 0)
                return r;
        r = sd_event_add_defer(e, &c->kick, on_kick, c);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(c->kick, SD_EVENT_OFF);
        (void)sd_event_source_set_priority(c->kick, SD_EVENT_PRIORITY_IMPORTANT);

        opts.MQTTVersion = MQTTVERSION_3_1_1;
        pthread_mutex_lock(&paho_lock);
        c->paho = paho_load(c->tls);
        if (!c->paho) {
                pthread_mutex_unlock(&paho_lock);
                return -ELIBACC;
        }
        rc = c->paho->createWithOptions(&c->handle, c->uri, c->client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                          &opts);
        pthread_mutex_unlock(&paho_lock);
        if (rc != MQTTCLIENT_SUCCESS) {
                if (rc == MQTTCLIENT_BAD_PROTOCOL)
                        log_error("MQTT: '%s' — the address must start with tcp://, mqtt://, ssl:// or mqtts://",
                                  c->uri);
                else
                        log_error("MQTT: cannot create the client for %s (Paho code %d)", c->uri, rc);
                c->handle = NULL;
                return paho_to_errno(rc) ?: -EIO;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

void mqtt_client_set_callbacks(MqttClient *c, mqtt_message_cb on_message, mqtt_state_cb on_state, void *userdata)
{
        c->on_message = on_message;
        c->on_state = on_state;
        c->userdata = userdata;
}

int mqtt_client_set_subscriptions(MqttClient *c, char *const *topics, size_t n)
{
        char **subs;
        int r;

        r = copy_strv(topics, n, &subs);
        if (r < 0)
                return r;
        /* Topics no longer wanted are not unsubscribed: the broker keeps them with
         * the session (clean session is off, so QoS 1 messages wait for us across a
         * restart). Their messages are unknown topics, logged once per topic,
         * counted and ignored; a removed sensor's device is normally silent. */
        free_strv(c->subs, c->n_subs);
        c->subs = subs;
        c->n_subs = n;
        if (c->worker_running)
                c->subs_changed = true; /* subscribed when the worker is done */
        else if (c->connected)
                return start_job(c, JOB_SUBSCRIBE);
        return 0;
}

int mqtt_client_start(MqttClient *c)
{
        c->started = true;
        return connect_now(c);
}

bool mqtt_client_is_connected(MqttClient *c)
{
        return c && c->connected;
}

int mqtt_client_publish(MqttClient *c, const char *topic, const void *payload, size_t len, int qos, bool retain,
                        mqtt_publish_cb done, void *userdata)
{
        MQTTClient_message m = MQTTClient_message_initializer;
        MQTTClient_deliveryToken token = 0;
        struct pending_publish *p = NULL;
        bool up;
        int rc;

        if (!c->connected)
                return -ENOTCONN;
        if (len > INT32_MAX)
                return -E2BIG;
        m.payload = (void *)payload;
        m.payloadlen = (int)len;
        m.qos = qos;
        m.retained = retain;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        /* While a worker subscribes this waits for it: the broker answers in
         * milliseconds, and the alert goes out right after. */
        pthread_mutex_lock(&paho_lock);
        rc = c->paho->publishMessage(c->handle, topic, &m, &token);
        up = c->paho->isConnected(c->handle);
        pthread_mutex_unlock(&paho_lock);
        if (!up) {
                /* Paho closed the socket while writing: its fd number is free again,
                 * so stop watching it now; the loss is handled on the next iteration,
                 * not inside the caller's publish. */
                free(p);
                c->io_source = sd_event_source_disable_unref(c->io_source);
                c->lost_in_publish = true;
                kick(c);
                return -ECONNRESET;
        }
        if (rc != MQTTCLIENT_SUCCESS) {
                free(p);
                return paho_to_errno(rc) ?: -EIO;
        }
        /* Completion is reported from the loop, never from inside this call. */
        p->token = qos > 0 ? token : 0;
        p->done = done;
        p->userdata = userdata;
        p->next = c->pending;
        c->pending = p;
        /* Publishing lets Paho read the socket too: what it queued, and QoS 0
         * completions, are handled on the next iteration. */
        kick(c);
        return 0;
}

void mqtt_client_forget(MqttClient *c, void *userdata)
{
        for (struct pending_publish *p = c->pending; p; p = p->next)
                if (p->userdata == userdata)
                        p->done = NULL;
}

const char *mqtt_client_error(MqttClient *c)
{
        return c->error;
}

void mqtt_client_get_stats(MqttClient *c, struct mqtt_stats *ret)
{
        *ret = c->stats;
        ret->nodelay_set = atomic_load(&c->nodelay_set);
}

MqttClient *mqtt_client_free(MqttClient *c)
{
        if (!c)
                return NULL;
        c->freeing = true;
        c->reconnect_timer = sd_event_source_disable_unref(c->reconnect_timer);
        /* A worker still connecting ends within the connect timeout. */
        join_worker(c);
        if (c->handle) {
                pthread_mutex_lock(&paho_lock);
                if (c->paho->isConnected(c->handle)) {
                        if (c->status_topic) {
                                /* A clean stop says "offline" itself; the will is only for crashes. */
                                MQTTClient_message m = MQTTClient_message_initializer;
                                MQTTClient_deliveryToken token;
                                m.payload = (void *)"offline";
                                m.payloadlen = 7;
                                m.qos = 1;
                                m.retained = 1;
                                if (c->paho->publishMessage(c->handle, c->status_topic, &m, &token) ==
                                    MQTTCLIENT_SUCCESS)
                                        (void)c->paho->waitForCompletion(c->handle, token, 1000);
                        }
                        /* Waits up to 1 s for messages in flight, then DISCONNECT. */
                        (void)c->paho->disconnect(c->handle, 1000);
                }
                c->paho->destroy(&c->handle);
                pthread_mutex_unlock(&paho_lock);
        }
        for (struct pending_publish *p = c->pending; p;) {
                struct pending_publish *next = p->next;
                free(p);
                p = next;
        }
        c->io_source = sd_event_source_disable_unref(c->io_source);
        c->tick_timer = sd_event_source_disable_unref(c->tick_timer);
        c->kick = sd_event_source_disable_unref(c->kick);
        c->job_source = sd_event_source_disable_unref(c->job_source);
        if (c->job_efd >= 0)
                close(c->job_efd);
        sd_event_unref(c->event);
        free_strv(c->subs, c->n_subs);
        free(c->buf);
        if (c->password)
                explicit_bzero(c->password, strlen(c->password));
        free(c->uri);
        free(c->client_id);
        free(c->username);
        free(c->password);
        free(c->ca_file);
        free(c->cert_file);
        free(c->key_file);
        free(c->status_topic);
        free(c);
        return NULL;
}

int mqtt_read_password_file(const char *path, char **ret)
{
        _cleanup_free_ char *data = NULL;
        size_t n;
        int r;

        r = read_full_file(path, &data, &n);
        if (r < 0)
                return r;
        data[strcspn(data, "\r\n")] = '\0';
        *ret = TAKE_PTR(data);
        return 0;
}
