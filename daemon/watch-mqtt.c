/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MQTT messages into sensor events: topic → sensor(s) through the topic map,
 * payload → events through the normaliser. Retained messages that arrive on
 * subscribe are state, never fresh events: a retained water_leak:true from
 * last week updates what we know but raises no new alarm.
 */

#include "daemon/log.h"
#include "daemon/watch-internal.h"
#include "sensors/topic-map.h"

/* Topics shared by this many devices under one first level are subscribed as "LEVEL/#"
 * (zigbee2mqtt/#). A building's roster stays below it and subscribes exact topics; a
 * gateway for a whole street does not hold 100,000 subscription strings three times over
 * (in the map, the client, and Paho's SUBSCRIBE packets), nor make the broker hold them
 * (docs/performance.md figure 4). The price: messages of devices not in the roster
 * arrive and are looked up and dropped. */
#define GROUP_MIN 256

/* Zigbee2MQTT's own topics (zigbee2mqtt/bridge/state, …/bridge/devices) arrive through a
 * wildcard: not a sensor someone forgot to add, so not worth a line in the log. */
static bool is_bridge_topic(const char *topic)
{
        const char *slash = strchr(topic, '/');
        return slash && startswith(slash + 1, "bridge/");
}

int watch_topics_new(size_t n_sensors, void **ret)
{
        TopicMap *m = NULL;
        int r = topic_map_new(&m);
        if (r >= 0)
                r = topic_map_reserve(m, n_sensors);
        if (r < 0) {
                topic_map_free(m);
                m = NULL;
        }
        *ret = m;
        return r;
}

void watch_topics_free(void *map)
{
        topic_map_free(map);
}

int watch_topics_add(void *map, const char *topic, uint32_t num, enum sensor_kind kind)
{
        int r = topic_map_add(map, topic, num, kind);
        if (r == -EINVAL)
                log_warning("Sensor %u: topic '%s' cannot be watched (wildcards or too long) — fix its source", num,
                            topic);
        return r == -EINVAL ? 0 : r;
}

int watch_topics_finish(void *map, char ***ret_subs, size_t *ret_n)
{
        topic_map_shrink(map);
        return topic_map_subscriptions(map, GROUP_MIN, ret_subs, ret_n);
}

void watch_mqtt_message(Watch *w, const char *topic, const void *payload, size_t len, bool retained)
{
        const struct topic_sensor *sensors = NULL;
        char reason[PAYLOAD_REASON_MAX];
        size_t n = 0;
        usec_t mono = now_usec(CLOCK_BOOTTIME), wall = now_usec(CLOCK_REALTIME);

        if (topic_map_lookup(watch_topic_map(w), topic, &sensors, &n) < 0 || n == 0) {
                watch_count_unknown(w, false);
                if (!is_bridge_topic(topic) && watch_topic_first_time(w, topic))
                        log_info("MQTT: message on %s, which no sensor in the roster uses — ignored (add the sensor "
                                 "with shouwangctl sensors add --source mqtt:%s …)",
                                 topic, topic);
                return;
        }

        for (size_t i = 0; i < n; i++) {
                struct payload_result res;
                int r = payload_parse(sensors[i].kind, sensors[i].role, payload, len, &res, reason, sizeof(reason));

                if (r < 0) {
                        watch_count_unknown(w, true);
                        if (watch_topic_first_time(w, topic))
                                log_warning("MQTT: cannot read the message on %s for sensor %s (%s): %s — the sensor's "
                                            "other messages are still used; this is logged once per topic",
                                            topic, watch_sensor_id(w, sensors[i].sensor),
                                            sensor_kind_to_string(sensors[i].kind), reason);
                        continue;
                }
                if (res.partial && watch_topic_first_time(w, topic))
                        log_warning("MQTT: part of the message on %s for sensor %s was not usable: %s", topic,
                                    watch_sensor_id(w, sensors[i].sensor), reason);
                if (r == 0) {
                        watch_sensor_seen(w, sensors[i].sensor, wall);
                        continue;
                }
                for (size_t k = 0; k < res.n_events; k++) {
                        struct sensor_event e = res.events[k];
                        e.sensor = sensors[i].sensor;
                        e.mono = mono;
                        /* A reading carries its own time (wmbusmeters); the rest is "now". */
                        if (!(e.flags & EVENT_SOURCE_TIME))
                                e.wall = wall;
                        if (retained)
                                e.flags |= EVENT_RETAINED;
                        watch_event(w, &e);
                }
        }
}
