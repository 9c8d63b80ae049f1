/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mqtt delivery channel: a contact's phone subscribes to
 * <base>/<gateway>/notify/<contact_id>; everyone may follow
 * <base>/<gateway>/alerts/#. A PUBACK only says the broker has it, not that
 * anyone saw it: only a person's acknowledgement stops escalation.
 */

#include "daemon/alert-json.h"
#include "daemon/channel.h"
#include "daemon/log.h"
#include "sensors/mqtt.h"

struct mqtt_channel {
        MqttClient *client;
        char *base, *gateway;
        struct mqtt_request *inflight;
};

struct mqtt_request {
        Channel *channel;
        channel_done_cb done;
        void *userdata;
        struct mqtt_request *next;
};

static void unlink_request(struct mqtt_channel *m, struct mqtt_request *req)
{
        for (struct mqtt_request **pp = &m->inflight; *pp; pp = &(*pp)->next)
                if (*pp == req) {
                        *pp = req->next;
                        return;
                }
}

static void on_published(MqttClient *client, int error, void *userdata)
{
        struct mqtt_request *req = userdata;
        struct mqtt_channel *m = req->channel->data;
        char detail[64];

        unlink_request(m, req);
        if (error == 0)
                snprintf(detail, sizeof(detail), "broker acknowledged (PUBACK)");
        else
                snprintf(detail, sizeof(detail), "publish failed: %s", strerror(-error));
        req->done(req->channel, error, false, detail, req->userdata);
        free(req);
}

static int mqtt_send(Channel *c, const struct delivery_message *msg, channel_done_cb done, void *userdata)
{
        struct mqtt_channel *m = c->data;
        _cleanup_free_ char *topic = NULL, *payload = NULL;
        struct mqtt_request *req;
        int r;

        if (isempty(msg->contact_id)) {
                if (asprintf(&topic, "%s/%s/alerts/%lld", m->base, m->gateway, (long long)msg->alert_id) < 0)
                        return -ENOMEM;
                payload = strdup(strempty(msg->alert_json));
        } else {
                if (asprintf(&topic, "%s/%s/notify/%s", m->base, m->gateway, msg->contact_id) < 0)
                        return -ENOMEM;
                payload = notify_json(msg, msg->token, now_usec(CLOCK_REALTIME));
        }
        if (!payload)
                return -ENOMEM;
        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        *req = (struct mqtt_request){ .channel = c, .done = done, .userdata = userdata, .next = m->inflight };
        r = mqtt_client_publish(m->client, topic, payload, strlen(payload), 1, false, on_published, req);
        if (r < 0) {
                free(req);
                return r;
        }
        m->inflight = req;
        return 0;
}

static bool mqtt_available(Channel *c)
{
        struct mqtt_channel *m = c->data;
        return mqtt_client_is_connected(m->client);
}

static void mqtt_free(Channel *c)
{
        struct mqtt_channel *m = c->data;

        if (!m)
                return;
        for (struct mqtt_request *req = m->inflight; req;) {
                struct mqtt_request *next = req->next;
                mqtt_client_forget(m->client, req);
                free(req);
                req = next;
        }
        free(m->base);
        free(m->gateway);
        free(m);
}

static const struct channel_ops mqtt_ops = {
        .type = "mqtt",
        .send = mqtt_send,
        .available = mqtt_available,
        .free = mqtt_free,
};

int channel_mqtt_new(MqttClient *client, const char *base_topic, const char *gateway, Channel **ret)
{
        Channel *c = calloc(1, sizeof(*c));
        struct mqtt_channel *m = calloc(1, sizeof(*m));

        if (!c || !m)
                goto oom;
        m->client = client;
        m->base = strdup(base_topic);
        m->gateway = strdup(gateway);
        c->name = strdup("mqtt");
        if (!m->base || !m->gateway || !c->name)
                goto oom;
        c->ops = &mqtt_ops;
        c->data = m;
        *ret = c;
        return 0;
oom:
        if (m) {
                free(m->base);
                free(m->gateway);
        }
        free(m);
        if (c)
                free(c->name);
        free(c);
        return -ENOMEM;
}
