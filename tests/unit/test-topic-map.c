/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The topic map: a sensor's own topic, its Zigbee2MQTT availability topic and
 * Tasmota's LWT; several sensors on one topic (a combined smoke and CO
 * detector); unknown topics; the subscription list, exact and grouped; and a
 * building-estate-sized roster.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sensors/topic-map.h"

static TopicMap *map_new(void)
{
        TopicMap *m = NULL;

        assert_int_equal(topic_map_new(&m), 0);
        assert_non_null(m);
        return m;
}

/* The one sensor of a topic, which must be there. */
static const struct topic_sensor *only(TopicMap *m, const char *topic)
{
        const struct topic_sensor *s = NULL;
        size_t n = 0;

        if (topic_map_lookup(m, topic, &s, &n) < 0)
                fail_msg("topic %s not found", topic);
        assert_int_equal(n, 1);
        return s;
}

static void free_strv(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static void test_z2m_sensor_has_data_and_availability_topics(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        const struct topic_sensor *s;

        assert_int_equal(topic_map_add(m, "zigbee2mqtt/r201-kitchen-leak", 7, SENSOR_LEAK), 0);

        s = only(m, "zigbee2mqtt/r201-kitchen-leak");
        assert_int_equal(s->sensor, 7);
        assert_int_equal(s->kind, SENSOR_LEAK);
        assert_int_equal(s->role, PAYLOAD_DATA);

        s = only(m, "zigbee2mqtt/r201-kitchen-leak/availability");
        assert_int_equal(s->sensor, 7);
        assert_int_equal(s->kind, SENSOR_LEAK);
        assert_int_equal(s->role, PAYLOAD_AVAILABILITY);

        assert_int_equal(topic_map_n_topics(m), 2);
        assert_int_equal(topic_map_n_sensors(m), 1);
}

static void test_unknown_topic_is_not_found(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        const struct topic_sensor *s = NULL;
        size_t n = 0;

        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/anything", &s, &n), -ENOENT);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/r201-door", 1, SENSOR_DOOR), 0);
        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/r201-doo", &s, &n), -ENOENT);
        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/r201-door/", &s, &n), -ENOENT);
        /* MQTT compares topics byte for byte. */
        assert_int_equal(topic_map_lookup(m, "Zigbee2MQTT/r201-door", &s, &n), -ENOENT);
        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/r201-door/set", &s, &n), -ENOENT);
        assert_int_equal(topic_map_lookup(m, "", &s, &n), -ENOENT);
        assert_int_equal(topic_map_lookup(NULL, "zigbee2mqtt/r201-door", &s, &n), -ENOENT);
}

static void test_combined_smoke_and_co_detector_is_two_sensors_on_one_topic(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        const struct topic_sensor *s = NULL;
        size_t n = 0;

        assert_int_equal(topic_map_add(m, "zigbee2mqtt/r305-smoke-co", 40, SENSOR_SMOKE), 0);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/r305-smoke-co", 41, SENSOR_CO), 0);

        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/r305-smoke-co", &s, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(s[0].sensor, 40);
        assert_int_equal(s[0].kind, SENSOR_SMOKE);
        assert_int_equal(s[1].sensor, 41);
        assert_int_equal(s[1].kind, SENSOR_CO);

        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/r305-smoke-co/availability", &s, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(s[0].role, PAYLOAD_AVAILABILITY);
        assert_int_equal(s[1].role, PAYLOAD_AVAILABILITY);

        assert_int_equal(topic_map_n_topics(m), 2);
        assert_int_equal(topic_map_n_sensors(m), 2);
}

static void test_many_sensors_on_one_topic(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        const struct topic_sensor *s = NULL;
        size_t n = 0;

        for (uint32_t i = 0; i < 20; i++)
                assert_int_equal(topic_map_add(m, "gateway/all", i, SENSOR_MOTION), 0);
        assert_int_equal(topic_map_lookup(m, "gateway/all", &s, &n), 0);
        assert_int_equal(n, 20);
        for (uint32_t i = 0; i < 20; i++)
                assert_int_equal(s[i].sensor, i);
}

static void test_tasmota_topic_also_has_its_lwt(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        const struct topic_sensor *s;

        assert_int_equal(topic_map_add(m, "stat/r102-flow/POWER", 3, SENSOR_WATER_FLOW), 0);
        assert_int_equal(topic_map_add(m, "tele/r102-meter/SENSOR", 4, SENSOR_WATER_METER), 0);

        s = only(m, "tele/r102-flow/LWT");
        assert_int_equal(s->sensor, 3);
        assert_int_equal(s->role, PAYLOAD_AVAILABILITY);
        s = only(m, "tele/r102-meter/LWT");
        assert_int_equal(s->sensor, 4);
        assert_int_equal(s->role, PAYLOAD_AVAILABILITY);
        /* The Zigbee2MQTT form is derived too (harmless if nobody publishes it). */
        s = only(m, "stat/r102-flow/POWER/availability");
        assert_int_equal(s->role, PAYLOAD_AVAILABILITY);

        /* "tele/x" has no device level under it; "stat//POWER" has an empty one. */
        assert_int_equal(topic_map_add(m, "tele/x", 5, SENSOR_DOOR), 0);
        assert_int_equal(topic_map_add(m, "stat//POWER", 6, SENSOR_DOOR), 0);
        assert_int_equal(topic_map_n_topics(m), 3 + 3 + 2 + 2);
}

static void test_data_role_wins_over_a_derived_availability_topic(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        const struct topic_sensor *s;

        /* A Tasmota device whose roster topic is its LWT itself: derived from
         * tele/dev/SENSOR first, then named as data. */
        assert_int_equal(topic_map_add(m, "tele/dev/SENSOR", 9, SENSOR_DOOR), 0);
        assert_int_equal(only(m, "tele/dev/LWT")->role, PAYLOAD_AVAILABILITY);
        assert_int_equal(topic_map_add(m, "tele/dev/LWT", 9, SENSOR_DOOR), 0);
        s = only(m, "tele/dev/LWT");
        assert_int_equal(s->role, PAYLOAD_DATA);

        /* …and in the other order. */
        assert_int_equal(topic_map_add(m, "tele/dev2/LWT", 10, SENSOR_DOOR), 0);
        assert_int_equal(topic_map_add(m, "tele/dev2/SENSOR", 10, SENSOR_DOOR), 0);
        assert_int_equal(only(m, "tele/dev2/LWT")->role, PAYLOAD_DATA);

        /* An availability topic named as a sensor's topic gets no …/availability/availability. */
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/x/availability", 11, SENSOR_LEAK), 0);
        const struct topic_sensor *none = NULL;
        size_t n = 0;
        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/x/availability/availability", &none, &n), -ENOENT);
}

/* The map stores no …/availability topics of its own: a lookup of X/availability finds X's sensors. A sensor
 * named on X/availability itself comes first, as data, and the subscription names X/availability once. */
static void test_availability_topic_named_in_the_roster_and_derived(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        const struct topic_sensor *s = NULL;
        char **subs = NULL;
        size_t n = 0;

        assert_int_equal(topic_map_add(m, "zigbee2mqtt/hall/availability", 1, SENSOR_DOOR), 0);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/hall", 2, SENSOR_MOTION), 0);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/hall", 3, SENSOR_LEAK), 0);

        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/hall/availability", &s, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(s[0].sensor, 1);
        assert_int_equal(s[0].role, PAYLOAD_DATA);
        assert_int_equal(s[1].sensor, 2);
        assert_int_equal(s[1].role, PAYLOAD_AVAILABILITY);
        assert_int_equal(s[1].kind, SENSOR_MOTION);
        assert_int_equal(s[2].sensor, 3);
        assert_int_equal(s[2].role, PAYLOAD_AVAILABILITY);
        /* The base topic is unchanged by the lookup that borrowed its sensors. */
        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/hall", &s, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(s[0].role, PAYLOAD_DATA);
        assert_int_equal(s[1].role, PAYLOAD_DATA);

        /* The same sensor on both: its data role wins, once. */
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/hall", 1, SENSOR_DOOR), 0);
        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/hall/availability", &s, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(s[0].sensor, 1);
        assert_int_equal(s[0].role, PAYLOAD_DATA);

        assert_int_equal(topic_map_n_topics(m), 2);
        assert_int_equal(topic_map_subscriptions(m, 0, &subs, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(subs[0], "zigbee2mqtt/hall/availability");
        assert_string_equal(subs[1], "zigbee2mqtt/hall");
        free_strv(subs, n);

        /* Only Tasmota's LWT on a topic: no availability topic is derived from a derived one. */
        assert_int_equal(topic_map_add(m, "tele/plug/SENSOR", 4, SENSOR_WATER_FLOW), 0);
        assert_int_equal(topic_map_lookup(m, "tele/plug/LWT/availability", &s, &n), -ENOENT);
        assert_int_equal(topic_map_lookup(m, "/availability", &s, &n), -ENOENT);
        assert_int_equal(topic_map_lookup(m, "availability", &s, &n), -ENOENT);
}

/* Shrunk once the roster is in: everything is still found, and the map still grows. */
static void test_shrink_after_loading(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        const struct topic_sensor *s = NULL;
        char name[64];
        size_t n = 0;

        assert_int_equal(topic_map_reserve(m, 5000), 0);
        for (uint32_t i = 0; i < 1000; i++) {
                snprintf(name, sizeof(name), "zigbee2mqtt/r%u", i);
                assert_int_equal(topic_map_add(m, name, i, SENSOR_DOOR), 0);
        }
        topic_map_shrink(m);
        topic_map_shrink(m);
        for (uint32_t i = 1000; i < 1100; i++) {
                snprintf(name, sizeof(name), "zigbee2mqtt/r%u", i);
                assert_int_equal(topic_map_add(m, name, i, SENSOR_DOOR), 0);
        }
        for (uint32_t i = 0; i < 1100; i++) {
                snprintf(name, sizeof(name), "zigbee2mqtt/r%u/availability", i);
                assert_int_equal(topic_map_lookup(m, name, &s, &n), 0);
                assert_int_equal(n, 1);
                assert_int_equal(s->sensor, i);
        }
        assert_int_equal(topic_map_n_topics(m), 2200);
}

static void test_adding_the_same_sensor_twice_is_harmless(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();

        assert_int_equal(topic_map_add(m, "zigbee2mqtt/a", 1, SENSOR_LEAK), 0);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/a", 1, SENSOR_LEAK), 0);
        assert_int_equal(topic_map_n_topics(m), 2);
        assert_int_equal(topic_map_n_sensors(m), 1);
        only(m, "zigbee2mqtt/a");
        /* The same sensor number with another kind is a mistake somewhere upstream. */
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/a", 1, SENSOR_DOOR), -EEXIST);
}

static void test_bad_topics_are_refused(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        char long_topic[TOPIC_MAP_TOPIC_MAX + 2];

        assert_int_equal(topic_map_add(m, "", 1, SENSOR_LEAK), -EINVAL);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/+", 1, SENSOR_LEAK), -EINVAL);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/#", 1, SENSOR_LEAK), -EINVAL);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/a\nb", 1, SENSOR_LEAK), -EINVAL);
        assert_int_equal(topic_map_add(m, NULL, 1, SENSOR_LEAK), -EINVAL);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/a", 1, _SENSOR_KIND_MAX), -EINVAL);
        memset(long_topic, 'a', sizeof(long_topic) - 1);
        long_topic[sizeof(long_topic) - 1] = '\0';
        assert_int_equal(topic_map_add(m, long_topic, 1, SENSOR_LEAK), -EINVAL);
        long_topic[TOPIC_MAP_TOPIC_MAX] = '\0';
        assert_int_equal(topic_map_add(m, long_topic, 1, SENSOR_LEAK), 0);
        assert_int_equal(topic_map_n_topics(m), 2);
        /* Non-ASCII names are fine: MQTT topics are UTF-8. */
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/201室/漏水", 2, SENSOR_LEAK), 0);
        assert_int_equal(only(m, "zigbee2mqtt/201室/漏水")->sensor, 2);
}

static void test_free_accepts_null(void **state)
{
        assert_null(topic_map_free(NULL));
        assert_int_equal(topic_map_n_topics(NULL), 0);
        topic_map_shrink(NULL);
}

static void test_exact_subscriptions_in_roster_order(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        char **subs = NULL;
        size_t n = 0;

        assert_int_equal(topic_map_add(m, "zigbee2mqtt/b", 1, SENSOR_LEAK), 0);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/a", 2, SENSOR_DOOR), 0);
        assert_int_equal(topic_map_add(m, "zigbee2mqtt/a", 3, SENSOR_MOTION), 0);
        assert_int_equal(topic_map_add(m, "stat/plug/POWER", 4, SENSOR_WATER_FLOW), 0);

        assert_int_equal(topic_map_subscriptions(m, 0, &subs, &n), 0);
        assert_int_equal(n, 7);
        assert_string_equal(subs[0], "zigbee2mqtt/b");
        assert_string_equal(subs[1], "zigbee2mqtt/b/availability");
        assert_string_equal(subs[2], "zigbee2mqtt/a");
        assert_string_equal(subs[3], "zigbee2mqtt/a/availability");
        assert_string_equal(subs[4], "stat/plug/POWER");
        assert_string_equal(subs[5], "stat/plug/POWER/availability");
        assert_string_equal(subs[6], "tele/plug/LWT");
        assert_null(subs[7]);
        assert_int_equal(n, topic_map_n_topics(m));
        free_strv(subs, n);

        /* An empty map subscribes to nothing. */
        _cleanup_(topic_map_freep) TopicMap *empty = map_new();
        assert_int_equal(topic_map_subscriptions(empty, 0, &subs, &n), 0);
        assert_int_equal(n, 0);
        free_strv(subs, n);
}

static void test_grouped_subscriptions_use_one_wildcard_per_busy_prefix(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        char name[64], **subs = NULL;
        size_t n = 0;

        for (uint32_t i = 0; i < 300; i++) {
                snprintf(name, sizeof(name), "zigbee2mqtt/r%u-leak", i);
                assert_int_equal(topic_map_add(m, name, i, SENSOR_LEAK), 0);
        }
        assert_int_equal(topic_map_add(m, "stat/plug/POWER", 1000, SENSOR_WATER_FLOW), 0);
        assert_int_equal(topic_map_add(m, "$SYS/odd", 1001, SENSOR_DOOR), 0);
        assert_int_equal(topic_map_add(m, "/leading/slash", 1002, SENSOR_DOOR), 0);

        assert_int_equal(topic_map_subscriptions(m, 100, &subs, &n), 0);
        for (size_t i = 0; i < n; i++)
                print_message("  %s\n", subs[i]);
        assert_int_equal(n, 1 + 3 + 2 + 2);
        assert_string_equal(subs[0], "zigbee2mqtt/#");
        assert_string_equal(subs[1], "stat/plug/POWER");
        assert_string_equal(subs[2], "stat/plug/POWER/availability");
        assert_string_equal(subs[3], "tele/plug/LWT");
        assert_string_equal(subs[4], "$SYS/odd");
        assert_string_equal(subs[5], "$SYS/odd/availability");
        assert_string_equal(subs[6], "/leading/slash");
        assert_string_equal(subs[7], "/leading/slash/availability");
        free_strv(subs, n);

        /* The 300 entries stand for 600 topics with their availability topics: a threshold between the two
         * still makes the wildcard, one above 600 does not. */
        assert_int_equal(topic_map_subscriptions(m, 600, &subs, &n), 0);
        assert_int_equal(n, 1 + 3 + 2 + 2);
        assert_string_equal(subs[0], "zigbee2mqtt/#");
        free_strv(subs, n);
        assert_int_equal(topic_map_subscriptions(m, 601, &subs, &n), 0);
        assert_int_equal(n, topic_map_n_topics(m));
        free_strv(subs, n);

        /* Below the threshold everything stays exact. */
        assert_int_equal(topic_map_subscriptions(m, 1000, &subs, &n), 0);
        assert_int_equal(n, topic_map_n_topics(m));
        free_strv(subs, n);
}

/* Sized for the roster first (what the watch does): the same map, no rehash on the way, and adding
 * more than was reserved still works. */
static void test_reserved_map_holds_the_roster_and_grows_beyond_it(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        const struct topic_sensor *s = NULL;
        char name[96];
        size_t n = 0;

        assert_int_equal(topic_map_reserve(m, 100), 0);
        assert_int_equal(topic_map_reserve(NULL, 100), -EINVAL);
        for (uint32_t i = 0; i < 300; i++) {
                snprintf(name, sizeof(name), "zigbee2mqtt/r%u-leak", i);
                assert_int_equal(topic_map_add(m, name, i, SENSOR_LEAK), 0);
        }
        assert_int_equal(topic_map_n_topics(m), 600);
        for (uint32_t i = 0; i < 300; i++) {
                snprintf(name, sizeof(name), "zigbee2mqtt/r%u-leak/availability", i);
                assert_int_equal(topic_map_lookup(m, name, &s, &n), 0);
                assert_int_equal(s->sensor, i);
                assert_int_equal(s->role, PAYLOAD_AVAILABILITY);
        }
}

static void test_fifty_thousand_sensors(void **state)
{
        _cleanup_(topic_map_freep) TopicMap *m = map_new();
        const struct topic_sensor *s = NULL;
        char name[96], **subs = NULL;
        size_t n = 0;
        usec_t t0, t1, t2;
        const uint32_t N = 50000;

        t0 = now_usec(CLOCK_MONOTONIC);
        for (uint32_t i = 0; i < N; i++) {
                snprintf(name, sizeof(name), "zigbee2mqtt/b%u/r%u-%s", i / 400, i % 400,
                         sensor_kind_to_string(i % _SENSOR_KIND_MAX));
                assert_int_equal(topic_map_add(m, name, i, i % _SENSOR_KIND_MAX), 0);
        }
        t1 = now_usec(CLOCK_MONOTONIC);
        for (uint32_t i = 0; i < N; i++) {
                snprintf(name, sizeof(name), "zigbee2mqtt/b%u/r%u-%s/availability", i / 400, i % 400,
                         sensor_kind_to_string(i % _SENSOR_KIND_MAX));
                assert_int_equal(topic_map_lookup(m, name, &s, &n), 0);
                assert_int_equal(n, 1);
                assert_int_equal(s->sensor, i);
                assert_int_equal(s->role, PAYLOAD_AVAILABILITY);
        }
        t2 = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(topic_map_lookup(m, "zigbee2mqtt/b0/r0-nothing", &s, &n), -ENOENT);
        assert_int_equal(topic_map_n_topics(m), 2 * N);
        assert_int_equal(topic_map_n_sensors(m), N);
        assert_int_equal(topic_map_subscriptions(m, 0, &subs, &n), 0);
        assert_int_equal(n, 2 * N);
        free_strv(subs, n);

        /* Reported, not asserted: timing depends on the machine and the sanitizers. */
        print_message("built %u sensors in %.1f ms; %u lookups (with snprintf) in %.1f ms\n", N,
                      (double)(t1 - t0) / 1000.0, N, (double)(t2 - t1) / 1000.0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_z2m_sensor_has_data_and_availability_topics),
                cmocka_unit_test(test_unknown_topic_is_not_found),
                cmocka_unit_test(test_combined_smoke_and_co_detector_is_two_sensors_on_one_topic),
                cmocka_unit_test(test_many_sensors_on_one_topic),
                cmocka_unit_test(test_tasmota_topic_also_has_its_lwt),
                cmocka_unit_test(test_data_role_wins_over_a_derived_availability_topic),
                cmocka_unit_test(test_availability_topic_named_in_the_roster_and_derived),
                cmocka_unit_test(test_shrink_after_loading),
                cmocka_unit_test(test_adding_the_same_sensor_twice_is_harmless),
                cmocka_unit_test(test_bad_topics_are_refused),
                cmocka_unit_test(test_free_accepts_null),
                cmocka_unit_test(test_exact_subscriptions_in_roster_order),
                cmocka_unit_test(test_grouped_subscriptions_use_one_wildcard_per_busy_prefix),
                cmocka_unit_test(test_reserved_map_holds_the_roster_and_grows_beyond_it),
                cmocka_unit_test(test_fifty_thousand_sensors),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
