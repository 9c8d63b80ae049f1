/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Paho MQTTAsync bridged onto the sd-event loop: a locked queue of small
 * items filled on Paho's threads, drained on the loop when the eventfd fires.
 */

#include "sensors/mqtt.h"

#include <MQTTAsync.h>
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

/* Beyond this many queued bytes Paho is asked to redeliver later (backpressure, nothing lost). */
#define QUEUE_MAX_BYTES (64u << 20)
#define SUBSCRIBE_CHUNK 256

enum qitem_type {
        Q_MESSAGE,
        Q_CONNECTED,
        Q_CONNECT_FAILED,
        Q_LOST,
        Q_PUBLISHED,
        Q_PUBLISH_FAILED,
        Q_SUBSCRIBE_FAILED,
};

struct qitem {
        struct qitem *next;
        enum qitem_type type;
        int code;
        int token;
        bool retained;
        size_t topic_len, len;
        char data[]; /* topic NUL payload NUL, or a reason NUL */
};

struct pending_publish {
        int token;
        mqtt_publish_cb done;
        void *userdata;
        struct pending_publish *next;
};

struct MqttClient {
        sd_event *event;
        sd_event_source *queue_source;
        sd_event_source *reconnect_timer;
        int efd;
        MQTTAsync handle;

        /* settings, owned copies */
        char *uri, *client_id, *username, *password, *ca_file, *cert_file, *key_file, *status_topic;
        usec_t keepalive, reconnect_max;
        int port;

        char **subs;
        size_t n_subs;

        mqtt_message_cb on_message;
        mqtt_state_cb on_state;
        void *userdata;

        bool connected, connecting, started, freeing;
        unsigned attempt;
        char error[256];

        struct pending_publish *pending;

        pthread_mutex_t lock; /* guards the queue only */
        struct qitem *head, *tail;
        size_t queued_bytes;

        struct mqtt_stats stats;
        _Atomic uint64_t nodelay_set;
        bool no_nodelay; /* SHOUWANG_MQTT_NO_NODELAY=1: benchmark only, see mqtt_client_new() */
};

/* ---- Paho's threads: copy, queue, wake ---------------------------------------------------------------- */

static void queue_push(MqttClient *c, struct qitem *it)
{
        uint64_t one = 1;

        pthread_mutex_lock(&c->lock);
        if (c->tail)
                c->tail->next = it;
        else
                c->head = it;
        c->tail = it;
        c->queued_bytes += sizeof(*it) + it->topic_len + it->len;
        pthread_mutex_unlock(&c->lock);
        /* A full eventfd counter cannot happen with writes of 1; ignore EAGAIN. */
        (void)!write(c->efd, &one, sizeof(one));
}

static struct qitem *qitem_new(enum qitem_type type, int code, const char *reason)
{
        size_t n = reason ? strlen(reason) : 0;
        struct qitem *it = calloc(1, sizeof(*it) + n + 1);

        if (!it)
                return NULL;
        it->type = type;
        it->code = code;
        if (reason)
                memcpy(it->data, reason, n);
        it->len = n;
        return it;
}

static int on_paho_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
        MqttClient *c = context;
        size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
        size_t pl = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
        struct qitem *it;
        bool full;

        pthread_mutex_lock(&c->lock);
        full = c->queued_bytes > QUEUE_MAX_BYTES;
        pthread_mutex_unlock(&c->lock);
        if (full)
                return 0; /* Paho keeps it and offers it again */

        it = malloc(sizeof(*it) + tl + pl + 2);
        if (!it)
                return 0;
        *it = (struct qitem){ .type = Q_MESSAGE, .retained = m->retained, .topic_len = tl, .len = pl };
        memcpy(it->data, topic, tl);
        it->data[tl] = '\0';
        if (pl)
                memcpy(it->data + tl + 1, m->payload, pl);
        it->data[tl + 1 + pl] = '\0';
        queue_push(c, it);
        MQTTAsync_freeMessage(&m);
        MQTTAsync_free(topic);
        return 1;
}

static void on_paho_lost(void *context, char *cause)
{
        MqttClient *c = context;
        struct qitem *it = qitem_new(Q_LOST, 0, cause ? cause : "connection lost");
        if (it)
                queue_push(c, it);
}

/* Paho 1.3.12 never sets TCP_NODELAY. Its socket is the one connected to the
 * broker's port; find it among our fds and set the option. Runs on Paho's
 * thread, touches nothing but that socket and an atomic counter. */
static void set_nodelay_on_broker_socket(MqttClient *c)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                struct sockaddr_storage peer;
                socklen_t pl = sizeof(peer);
                int fd, type, one = 1, cur = 0;
                socklen_t tl = sizeof(type), cl = sizeof(cur);

                if (de->d_name[0] == '.')
                        continue;
                fd = atoi(de->d_name);
                if (fd <= 2 || fd == dirfd(d))
                        continue;
                if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
                        continue;
                if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
                        continue;
                int port = peer.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&peer)->sin_port)
                           : peer.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&peer)->sin6_port)
                                                        : -1;
                if (port != c->port)
                        continue;
                if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &cur, &cl) == 0 && cur)
                        continue;
                if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
                        atomic_fetch_add(&c->nodelay_set, 1);
        }
        closedir(d);
}

static void on_paho_connected(void *context, MQTTAsync_successData *response)
{
        MqttClient *c = context;
        struct qitem *it;

        if (!c->no_nodelay)
                set_nodelay_on_broker_socket(c);
        it = qitem_new(Q_CONNECTED, 0, NULL);
        if (it)
                queue_push(c, it);
}

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

static void on_paho_connect_failed(void *context, MQTTAsync_failureData *response)
{
        MqttClient *c = context;
        char reason[256];
        const char *why = response ? connack_reason(response->code) : NULL;

        if (why)
                snprintf(reason, sizeof(reason), "%s", why);
        else if (response && response->message)
                snprintf(reason, sizeof(reason), "%s (code %d)", response->message, response->code);
        else
                snprintf(reason, sizeof(reason), "cannot connect (code %d)", response ? response->code : 0);
        struct qitem *it = qitem_new(Q_CONNECT_FAILED, response ? response->code : -1, reason);
        if (it)
                queue_push(c, it);
}

static void on_paho_published(void *context, MQTTAsync_successData *response)
{
        MqttClient *c = context;
        struct qitem *it = qitem_new(Q_PUBLISHED, 0, NULL);
        if (it) {
                it->token = response ? response->token : 0;
                queue_push(c, it);
        }
}

static void on_paho_publish_failed(void *context, MQTTAsync_failureData *response)
{
        MqttClient *c = context;
        struct qitem *it = qitem_new(Q_PUBLISH_FAILED, response ? response->code : -1,
                                     response && response->message ? response->message : "publish failed");
        if (it) {
                it->token = response ? response->token : 0;
                queue_push(c, it);
        }
}

static void on_paho_subscribe_failed(void *context, MQTTAsync_failureData *response)
{
        MqttClient *c = context;
        struct qitem *it = qitem_new(Q_SUBSCRIBE_FAILED, response ? response->code : -1,
                                     response && response->message ? response->message : "subscribe failed");
        if (it)
                queue_push(c, it);
}

/* ---- the loop thread ----------------------------------------------------------------------------------- */

static int paho_to_errno(int rc)
{
        switch (rc) {
        case MQTTASYNC_SUCCESS:
                return 0;
        case MQTTASYNC_DISCONNECTED:
                return -ENOTCONN;
        case MQTTASYNC_MAX_MESSAGES_INFLIGHT:
        case MQTTASYNC_MAX_BUFFERED_MESSAGES:
                return -ENOBUFS;
        case MQTTASYNC_BAD_UTF8_STRING:
        case MQTTASYNC_NULL_PARAMETER:
        case MQTTASYNC_TOPICNAME_TRUNCATED:
        case MQTTASYNC_BAD_STRUCTURE:
        case MQTTASYNC_BAD_QOS:
        case MQTTASYNC_BAD_PROTOCOL:
                return -EINVAL;
        case MQTTASYNC_SSL_NOT_SUPPORTED:
                return -EPROTONOSUPPORT;
        default:
                return -EIO;
        }
}

static void subscribe_all(MqttClient *c)
{
        for (size_t i = 0; i < c->n_subs; i += SUBSCRIBE_CHUNK) {
                size_t n = c->n_subs - i < SUBSCRIBE_CHUNK ? c->n_subs - i : SUBSCRIBE_CHUNK;
                int qos[SUBSCRIBE_CHUNK];
                MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
                int rc;

                for (size_t k = 0; k < n; k++)
                        qos[k] = 1;
                ro.onFailure = on_paho_subscribe_failed;
                ro.context = c;
                rc = MQTTAsync_subscribeMany(c->handle, (int)n, c->subs + i, qos, &ro);
                if (rc != MQTTASYNC_SUCCESS)
                        log_warning("MQTT: subscribing to %zu topics failed (code %d); retrying on reconnect", n, rc);
        }
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

static void complete_publish(MqttClient *c, int token, int error)
{
        for (struct pending_publish **pp = &c->pending; *pp; pp = &(*pp)->next)
                if ((*pp)->token == token) {
                        struct pending_publish *p = *pp;
                        *pp = p->next;
                        if (p->done)
                                p->done(c, error, p->userdata);
                        free(p);
                        return;
                }
        /* Not found: it was already failed at a connection loss; Paho finished it late. */
}

static void publish_status(MqttClient *c, const char *state)
{
        if (!c->status_topic)
                return;
        (void)mqtt_client_publish(c, c->status_topic, state, strlen(state), 1, true, NULL, NULL);
}

static void handle_item(MqttClient *c, struct qitem *it)
{
        switch (it->type) {
        case Q_MESSAGE:
                c->stats.received++;
                if (c->on_message)
                        c->on_message(c, it->data, it->data + it->topic_len + 1, it->len, it->retained, c->userdata);
                break;
        case Q_CONNECTED:
                c->connected = true;
                c->connecting = false;
                c->attempt = 0;
                c->stats.connects++;
                c->error[0] = '\0';
                log_info("MQTT: connected to %s as %s", c->uri, c->client_id);
                publish_status(c, "online");
                subscribe_all(c);
                if (c->on_state)
                        c->on_state(c, true, NULL, c->userdata);
                break;
        case Q_CONNECT_FAILED:
                c->connecting = false;
                snprintf(c->error, sizeof(c->error), "%s", it->data);
                /* Say it loudly once, then quietly while it keeps failing. */
                log_full_errno(c->attempt <= 1 ? LOG_WARNING : LOG_DEBUG, 0,
                               "MQTT: cannot connect to %s: %s — retrying", c->uri, it->data);
                if (c->on_state)
                        c->on_state(c, false, c->error, c->userdata);
                schedule_reconnect(c);
                break;
        case Q_LOST:
                c->connected = false;
                c->connecting = false;
                c->stats.connection_losses++;
                snprintf(c->error, sizeof(c->error), "connection lost: %s", it->data);
                log_warning("MQTT: connection to %s lost (%s) — reconnecting", c->uri, it->data);
                fail_pending(c, -ECONNRESET);
                if (c->on_state)
                        c->on_state(c, false, c->error, c->userdata);
                schedule_reconnect(c);
                break;
        case Q_PUBLISHED:
                c->stats.published++;
                complete_publish(c, it->token, 0);
                break;
        case Q_PUBLISH_FAILED:
                complete_publish(c, it->token, -EIO);
                break;
        case Q_SUBSCRIBE_FAILED:
                log_warning("MQTT: the broker refused a subscription (%s) — check its ACL for user %s", it->data,
                            strempty(c->username));
                break;
        }
}

static int on_queue(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        MqttClient *c = userdata;
        struct qitem *it;
        uint64_t v;

        (void)!read(c->efd, &v, sizeof(v));
        pthread_mutex_lock(&c->lock);
        it = c->head;
        c->head = c->tail = NULL;
        c->queued_bytes = 0;
        pthread_mutex_unlock(&c->lock);

        while (it) {
                struct qitem *next = it->next;
                handle_item(c, it);
                free(it);
                it = next;
        }
        return 0;
}

static int connect_now(MqttClient *c)
{
        MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
        MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
        MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
        int rc;

        if (c->connected || c->connecting || c->freeing)
                return 0;
        co.keepAliveInterval = (int)(c->keepalive / USEC_PER_SEC);
        co.cleansession = 0;
        co.automaticReconnect = 0; /* we reconnect from the loop, also after a failed first attempt */
        co.connectTimeout = 10;
        co.username = c->username;
        co.password = c->password;
        co.onSuccess = on_paho_connected;
        co.onFailure = on_paho_connect_failed;
        co.context = c;
        if (c->status_topic) {
                will.topicName = c->status_topic;
                will.message = "offline";
                will.retained = 1;
                will.qos = 1;
                co.will = &will;
        }
        if (startswith(c->uri, "ssl://") || startswith(c->uri, "mqtts://")) {
                ssl.trustStore = c->ca_file;
                ssl.keyStore = c->cert_file;
                ssl.privateKey = c->key_file;
                ssl.enableServerCertAuth = 1;
                ssl.verify = 1;
                co.ssl = &ssl;
        }
        c->connecting = true;
        rc = MQTTAsync_connect(c->handle, &co);
        if (rc != MQTTASYNC_SUCCESS) {
                c->connecting = false;
                snprintf(c->error, sizeof(c->error), "cannot start connecting (Paho code %d)", rc);
                log_warning("MQTT: %s to %s", c->error, c->uri);
                schedule_reconnect(c);
                return paho_to_errno(rc);
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
        MQTTAsync_createOptions opts = MQTTAsync_createOptions_initializer;
        int r, rc;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->efd = -1;
        pthread_mutex_init(&c->lock, NULL);
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

        c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->efd < 0)
                return -errno;
        r = sd_event_add_io(e, &c->queue_source, c->efd, EPOLLIN, on_queue, c);
        if (r < 0)
                return r;
        /* Drain Paho's queue before timers of the same loop iteration: a message is news. */
        (void)sd_event_source_set_priority(c->queue_source, SD_EVENT_PRIORITY_IMPORTANT);

        opts.sendWhileDisconnected = 0; /* the outbox keeps undelivered alerts, not Paho */
        opts.MQTTVersion = MQTTVERSION_3_1_1;
        rc = MQTTAsync_createWithOptions(&c->handle, c->uri, c->client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                         &opts);
        if (rc != MQTTASYNC_SUCCESS) {
                if (rc == MQTTASYNC_BAD_PROTOCOL)
                        log_error("MQTT: '%s' — the address must start with tcp://, mqtt://, ssl:// or mqtts://",
                                  c->uri);
                else
                        log_error("MQTT: cannot create the client for %s (Paho code %d)", c->uri, rc);
                c->handle = NULL;
                return paho_to_errno(rc) ?: -EIO;
        }
        rc = MQTTAsync_setCallbacks(c->handle, c, on_paho_lost, on_paho_message, NULL);
        if (rc != MQTTASYNC_SUCCESS)
                return paho_to_errno(rc) ?: -EIO;

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
        char **subs = calloc(n + 1, sizeof(char *));

        if (!subs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                subs[i] = strdup(topics[i]);
                if (!subs[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(subs[k]);
                        free(subs);
                        return -ENOMEM;
                }
        }
        /* Topics no longer wanted stay subscribed until the next session; their
         * messages are then unknown topics, counted and ignored. */
        for (size_t i = 0; i < c->n_subs; i++)
                free(c->subs[i]);
        free(c->subs);
        c->subs = subs;
        c->n_subs = n;
        if (c->connected)
                subscribe_all(c);
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
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        MQTTAsync_message m = MQTTAsync_message_initializer;
        struct pending_publish *p = NULL;
        int rc;

        if (!c->connected)
                return -ENOTCONN;
        if (len > INT32_MAX)
                return -E2BIG;
        m.payload = (void *)payload;
        m.payloadlen = (int)len;
        m.qos = qos;
        m.retained = retain;
        ro.onSuccess = on_paho_published;
        ro.onFailure = on_paho_publish_failed;
        ro.context = c;
        if (done) {
                p = calloc(1, sizeof(*p));
                if (!p)
                        return -ENOMEM;
        }
        rc = MQTTAsync_sendMessage(c->handle, topic, &m, &ro);
        if (rc != MQTTASYNC_SUCCESS) {
                free(p);
                return paho_to_errno(rc) ?: -EIO;
        }
        if (p) {
                /* The completion is queued for this loop thread, so recording the
                 * token after the call cannot miss it. */
                p->token = ro.token;
                p->done = done;
                p->userdata = userdata;
                p->next = c->pending;
                c->pending = p;
        }
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
        if (c->handle) {
                if (c->connected && c->status_topic) {
                        /* A clean stop says "offline" itself; the will is only for crashes. */
                        MQTTAsync_message m = MQTTAsync_message_initializer;
                        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
                        m.payload = (void *)"offline";
                        m.payloadlen = 7;
                        m.qos = 1;
                        m.retained = 1;
                        if (MQTTAsync_sendMessage(c->handle, c->status_topic, &m, &ro) == MQTTASYNC_SUCCESS)
                                (void)MQTTAsync_waitForCompletion(c->handle, ro.token, 1000);
                }
                if (MQTTAsync_isConnected(c->handle)) {
                        MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;
                        dopts.timeout = 1000;
                        if (MQTTAsync_disconnect(c->handle, &dopts) == MQTTASYNC_SUCCESS)
                                for (int i = 0; i < 100 && MQTTAsync_isConnected(c->handle); i++)
                                        usleep(10000);
                }
                MQTTAsync_destroy(&c->handle);
        }
        /* Paho's threads no longer call us: drop what they queued. */
        for (struct qitem *it = c->head; it;) {
                struct qitem *next = it->next;
                free(it);
                it = next;
        }
        for (struct pending_publish *p = c->pending; p;) {
                struct pending_publish *next = p->next;
                free(p);
                p = next;
        }
        c->queue_source = sd_event_source_disable_unref(c->queue_source);
        if (c->efd >= 0)
                close(c->efd);
        sd_event_unref(c->event);
        for (size_t i = 0; i < c->n_subs; i++)
                free(c->subs[i]);
        free(c->subs);
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
        pthread_mutex_destroy(&c->lock);
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
