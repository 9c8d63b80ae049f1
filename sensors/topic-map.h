/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which sensors an MQTT topic belongs to, and what the topic means for them.
 * Built from the roster's MQTT sensors; for a sensor on topic T it knows:
 *
 *   T                  PAYLOAD_DATA          the device's own messages
 *   T/availability     PAYLOAD_AVAILABILITY  Zigbee2MQTT availability ("online", {"state":"online"})
 *   tele/DEV/LWT       PAYLOAD_AVAILABILITY  Tasmota last will, when T is tele/DEV/… or stat/DEV/…
 *
 * Several sensors may share a topic (a combined smoke and CO detector is two
 * sensors of different kinds on one topic): a lookup returns all of them.
 * Lookup is one hash and, almost always, one string compare (an
 * availability topic: two).
 *
 * Pure code: no I/O, no logging. Not thread-safe; the loop thread owns it.
 */
#pragma once

#include <stdint.h>

#include "daemon/roster.h"
#include "daemon/util.h"
#include "sensors/payload.h"

typedef struct TopicMap TopicMap;

/* One sensor a topic belongs to. 8 bytes. */
struct topic_sensor {
        uint32_t sensor; /* the daemon's sensor number */
        uint8_t kind;    /* enum sensor_kind */
        uint8_t role;    /* enum payload_role: what the topic means for this sensor */
};

/* An empty map. Returns 0 or -ENOMEM. Free with topic_map_free(). */
int topic_map_new(TopicMap **ret);

/* Make room for a roster of n_sensors at once, so a big roster loads
 * without rehashing. Optional. Returns 0, -ENOMEM or -EINVAL. */
int topic_map_reserve(TopicMap *m, size_t n_sensors);

/* Give back the room reserved and not used, once the roster is in. Adding
 * more later still works. */
void topic_map_shrink(TopicMap *m);

/* Free the map and everything in it. Accepts NULL; returns NULL. */
TopicMap *topic_map_free(TopicMap *m);
DEFINE_FREE_FUNC(TopicMap, topic_map_free);

/*
 * Add a sensor on its topic (copied), with the availability topics derived
 * from it. Adding the same sensor on the same topic again with the same kind
 * is a no-op. When one topic is a sensor's data topic and also derived as its
 * availability topic, the data role wins (the payload parser also understands
 * online/offline on a data topic).
 * Returns 0; -EINVAL for an empty topic, one with the wildcards '+' or '#',
 * a control character, or longer than TOPIC_MAP_TOPIC_MAX bytes; -EEXIST when
 * the sensor is already on this topic with another kind; -ENOMEM (the map is
 * unchanged for this topic, but derived topics added before may remain).
 */
#define TOPIC_MAP_TOPIC_MAX 1024
int topic_map_add(TopicMap *m, const char *topic, uint32_t sensor, enum sensor_kind kind);

/*
 * The sensors of a topic (exact match, case-sensitive, as MQTT compares).
 * On success *ret_sensors points into the map (valid until the next
 * topic_map_add(), topic_map_lookup() or topic_map_free()) and *ret_n > 0;
 * returns 0, or -ENOENT for a topic we do not know.
 */
int topic_map_lookup(TopicMap *m, const char *topic, const struct topic_sensor **ret_sensors, size_t *ret_n);

/* Number of distinct topics (data and availability, derived ones included:
 * what an exact subscription names) and of sensors added. n_topics walks the
 * map: for tests and reports, not per message. */
size_t topic_map_n_topics(const TopicMap *m);
size_t topic_map_n_sensors(const TopicMap *m);

/*
 * The topic filters to subscribe to, as a malloc'd array of malloc'd strings
 * (free each, then the array) for mqtt_client_set_subscriptions().
 *
 * group_min == 0: every topic exactly (the baseline).
 * group_min > 0: the topics whose first level is shared by at least group_min
 * topics are replaced by one "LEVEL/#" filter (e.g. "zigbee2mqtt/#"); the
 * others stay exact. That trades a long SUBSCRIBE for messages about devices
 * not in the roster (and Zigbee2MQTT's bridge/ topics), which the daemon then
 * counts as unknown topics. A first level starting with '$' is never grouped.
 * Returns 0 or -ENOMEM.
 */
int topic_map_subscriptions(const TopicMap *m, size_t group_min, char ***ret_filters, size_t *ret_n);
