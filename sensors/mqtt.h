/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MQTT connection (Eclipse Paho C's synchronous MQTTClient, loaded with
 * dlopen: the plain build for tcp://, the TLS build for ssl://) as the
 * sd-event loop sees it. Paho's socket is read on the loop itself and every
 * callback runs there; only connecting and subscribing use a short-lived
 * worker thread (see mqtt.c).
 *
 * Connection policy:
 *   - clean session off with a fixed client id: the broker keeps QoS 1
 *     messages for our subscriptions while the daemon restarts;
 *   - last will "<base>/<gateway>/status" = "offline" (retained), and
 *     "online" (retained) published on every connect;
 *   - reconnect forever with capped exponential backoff and jitter, from
 *     the loop (also when the very first connect fails);
 *   - TCP_NODELAY on Paho's socket after each connect (Paho 1.3.12 never sets
 *     it; with Nagle plus delayed ACK each hop costs ~40 ms). See
 *     docs/architecture.md "MQTT latency".
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "daemon/util.h"

typedef struct MqttClient MqttClient;

struct mqtt_settings {
        const char *uri;           /* tcp://host:port, ssl://host:port, mqtt://, mqtts:// */
        const char *client_id;
        const char *username;      /* NULL: none */
        const char *password;      /* NULL: none (read from password_file by the caller) */
        const char *ca_file;       /* TLS: trust store */
        const char *cert_file;     /* TLS: client certificate */
        const char *key_file;      /* TLS: client key */
        usec_t keepalive;
        usec_t reconnect_max;      /* cap of the reconnect backoff */
        const char *status_topic;  /* "<base>/<gateway>/status"; NULL: no will / online message */
};

/* A message for one of our subscriptions, on the loop thread. Data is valid during the call only. */
typedef void (*mqtt_message_cb)(MqttClient *c, const char *topic, const void *payload, size_t len, bool retained,
                                void *userdata);
/* Connected (true) or lost/failed (false, with a reason for a person). */
typedef void (*mqtt_state_cb)(MqttClient *c, bool connected, const char *reason, void *userdata);
/* Outcome of a publish: 0 when the broker acknowledged it (QoS 1) or it was written (QoS 0), else -errno. */
typedef void (*mqtt_publish_cb)(MqttClient *c, int error, void *userdata);

/*
 * Create a client bound to the event loop e. Copies the settings. Does not
 * connect yet. Returns 0, -EINVAL (bad URI: message via mqtt_client_error()),
 * -ENOMEM.
 */
int mqtt_client_new(sd_event *e, const struct mqtt_settings *settings, MqttClient **ret);

/* Disconnects cleanly (publishing "offline" first) and frees. Accepts NULL. */
MqttClient *mqtt_client_free(MqttClient *c);
DEFINE_FREE_FUNC(MqttClient, mqtt_client_free);

void mqtt_client_set_callbacks(MqttClient *c, mqtt_message_cb on_message, mqtt_state_cb on_state, void *userdata);

/*
 * Replace the set of topic filters we subscribe to (QoS 1). Takes effect at
 * once when connected, and on every reconnect. The strings are copied.
 */
int mqtt_client_set_subscriptions(MqttClient *c, char *const *topics, size_t n);

/* Start connecting (and keep reconnecting). 0 or -errno. */
int mqtt_client_start(MqttClient *c);

bool mqtt_client_is_connected(MqttClient *c);

/*
 * Publish. done (may be NULL) is called on the loop thread with the outcome;
 * it may never be called if the connection drops at the wrong moment, so a
 * caller that needs certainty keeps its own timeout (the outbox does).
 * Returns 0 if the message was handed to Paho, -ENOTCONN when not connected,
 * -ENOMEM, -EIO.
 */
int mqtt_client_publish(MqttClient *c, const char *topic, const void *payload, size_t len, int qos, bool retain,
                        mqtt_publish_cb done, void *userdata);

/* Forget the done callbacks of publishes still in flight that carry this userdata
 * (their owner is going away). */
void mqtt_client_forget(MqttClient *c, void *userdata);

/* Last error for a person, e.g. "connection refused: not authorised". */
const char *mqtt_client_error(MqttClient *c);

/* Counters for status and tests. */
struct mqtt_stats {
        uint64_t received;
        uint64_t connects;
        uint64_t connection_losses;
        uint64_t published;
        uint64_t nodelay_set; /* sockets we set TCP_NODELAY on */
};
void mqtt_client_get_stats(MqttClient *c, struct mqtt_stats *ret);

/* Read a password file: first line, without the line end. 0 or -errno. */
int mqtt_read_password_file(const char *path, char **ret);
