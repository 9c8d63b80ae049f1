/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The payload normaliser against a corpus of real-looking messages
 * (tests/data/payloads/: Zigbee2MQTT messages as Aqara, Tuya, Heiman, Sonoff…
 * devices send them, wmbusmeters JSON, availability and LWT messages, plain
 * payloads, and broken ones), plus the stories that matter: a door contact's
 * inverted meaning, a smoke detector's self-test, a button's empty action.
 *
 * Every payload is handed to the parser in a buffer of exactly its size, so
 * the sanitizer build catches a read past the end.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sensors/payload.h"

/* ---- helpers ------------------------------------------------------------------------------------------------ */

static int parse_bytes(enum sensor_kind kind, enum payload_role role, const void *data, size_t len,
                       struct payload_result *res, char *reason, size_t reason_size)
{
        /* An exact-size heap copy without a trailing NUL. */
        void *copy = malloc(len ? len : 1);
        int r;

        assert_non_null(copy);
        if (len > 0)
                memcpy(copy, data, len);
        r = payload_parse(kind, role, copy, len, res, reason, reason_size);
        free(copy);
        return r;
}

static int parse(enum sensor_kind kind, const char *s, struct payload_result *res, char *reason)
{
        return parse_bytes(kind, PAYLOAD_DATA, s, strlen(s), res, reason, PAYLOAD_REASON_MAX);
}

static int parse_avail(const char *s, struct payload_result *res, char *reason)
{
        return parse_bytes(SENSOR_LEAK, PAYLOAD_AVAILABILITY, s, strlen(s), res, reason, PAYLOAD_REASON_MAX);
}

/* "leak=1 battery=100": the events in order, for comparing with a table. */
static const char *events_str(const struct payload_result *res)
{
        static char buf[512];
        size_t o = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < res->n_events; i++)
                o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s=%.10g", i ? " " : "",
                                      event_type_to_string(res->events[i].type), res->events[i].value);
        return buf;
}

static const char *top_dir(void)
{
        const char *t = getenv("SHOUWANG_TOP");
        return t ? t : ".";
}

static int read_corpus_file(const char *name, char **ret, size_t *ret_size)
{
        char path[512];

        snprintf(path, sizeof(path), "%s/tests/data/payloads/%s", top_dir(), name);
        return read_full_file(path, ret, ret_size);
}

#define assert_events(res, expected) assert_string_equal(events_str(res), expected)
#define assert_contains(haystack, needle)                                                                        \
        do {                                                                                                     \
                if (!strstr(haystack, needle))                                                                   \
                        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);                           \
        } while (0)

/* ---- the corpus --------------------------------------------------------------------------------------------- */

struct corpus_case {
        const char *file;
        enum sensor_kind kind;
        enum payload_role role;
        int error;          /* 0, or the negative errno expected */
        const char *events; /* when error is 0 */
        bool partial;
        const char *reason; /* substring of the reason, when there must be one */
};

#define D PAYLOAD_DATA
#define A PAYLOAD_AVAILABILITY
#define OK(file, kind, role, events) { file, kind, role, 0, events, false, NULL }
#define PARTIAL(file, kind, role, events, reason) { file, kind, role, 0, events, true, reason }
#define ERR(file, kind, role, error, reason) { file, kind, role, error, NULL, false, reason }

static const struct corpus_case corpus[] = {
        /* leak */
        OK("z2m-aqara-SJCGQ11LM-leak-wet.json", SENSOR_LEAK, D, "leak=1 battery=100 battery_low=0"),
        OK("z2m-aqara-SJCGQ11LM-leak-dry.json", SENSOR_LEAK, D, "leak=0 battery=100 battery_low=0"),
        OK("z2m-tuya-TS0207-leak-wet.json", SENSOR_LEAK, D, "leak=1 battery=87 battery_low=0 tamper=0"),
        OK("z2m-heiman-HS1WL-leak-dry.json", SENSOR_LEAK, D, "leak=0 battery=100 battery_low=0 tamper=0"),
        OK("z2m-sonoff-SNZB-05P-leak-wet-retained.json", SENSOR_LEAK, D, "leak=1 battery=100 battery_low=0"),
        OK("z2m-blitzwolf-two-zone-leak.json", SENSOR_LEAK, D, "leak=1 battery=100 battery_low=0 tamper=0"),
        OK("z2m-leak-battery-null.json", SENSOR_LEAK, D, "leak=0"),
        OK("z2m-leak-with-last-seen.json", SENSOR_LEAK, D, "leak=1 battery=97"),
        OK("z2m-leak-last-seen-epoch.json", SENSOR_LEAK, D, "leak=0 battery=97"),
        OK("z2m-leak-with-device-info.json", SENSOR_LEAK, D, "leak=1 battery=88"),
        OK("z2m-aqara-SJCGQ11LM-leak-wet.json", SENSOR_DOOR, D, "battery=100 battery_low=0"),
        /* door */
        OK("z2m-aqara-MCCGQ11LM-closed.json", SENSOR_DOOR, D, "contact=0 battery=91"),
        OK("z2m-aqara-MCCGQ11LM-open.json", SENSOR_DOOR, D, "contact=1 battery=91"),
        OK("z2m-tuya-TS0203-open-tamper.json", SENSOR_DOOR, D, "contact=1 battery=100 battery_low=0 tamper=1"),
        OK("z2m-aqara-MCCGQ11LM-open.json", SENSOR_LEAK, D, "battery=91"),
        /* door locks (an entrance door's lock fault, issue 4) */
        OK("z2m-easyaccess-lock-not-fully-locked.json", SENSOR_DOOR, D, "lock_fault=1 battery=92"),
        OK("z2m-easyaccess-lock-locked.json", SENSOR_DOOR, D, "lock_fault=0 battery=92"),
        OK("z2m-lock-state-not-known-yet.json", SENSOR_DOOR, D, "battery=100"),
        OK("z2m-door-contact-and-lock.json", SENSOR_DOOR, D, "lock_fault=1 contact=1 battery=77"),
        OK("z2m-easyaccess-lock-not-fully-locked.json", SENSOR_LEAK, D, "battery=92"),
        PARTIAL("bad-lock-state.json", SENSOR_DOOR, D, "battery=92",
                "lock_state: expected \"locked\", \"unlocked\" or \"not_fully_locked\", got \"jammed_maybe\""),
        /* motion */
        OK("z2m-aqara-RTCGQ11LM-motion.json", SENSOR_MOTION, D, "motion=1 battery=100"),
        OK("z2m-aqara-RTCGQ11LM-clear.json", SENSOR_MOTION, D, "motion=0 battery=100"),
        OK("z2m-only-linkquality.json", SENSOR_MOTION, D, ""),
        OK("z2m-only-linkquality.json", SENSOR_WATER_METER, D, ""),
        /* buttons */
        OK("z2m-aqara-WXKG11LM-single.json", SENSOR_BUTTON, D, "button=1 battery=100"),
        OK("z2m-aqara-WXKG11LM-double.json", SENSOR_BUTTON, D, "button=2 battery=100"),
        OK("z2m-aqara-WXKG11LM-hold.json", SENSOR_BUTTON, D, "button=3 battery=100"),
        OK("z2m-aqara-WXKG11LM-release.json", SENSOR_BUTTON, D, "battery=100"),
        OK("z2m-action-empty-after-press.json", SENSOR_BUTTON, D, "battery=100"),
        OK("z2m-action-null.json", SENSOR_BUTTON, D, "battery=100"),
        OK("z2m-tuya-TS0215A-sos-emergency.json", SENSOR_BUTTON, D, "button=5 battery=100"),
        OK("z2m-heiman-HS1EB-single.json", SENSOR_BUTTON, D, "button=1 battery=96"),
        OK("z2m-heiman-HS1EB-off.json", SENSOR_BUTTON, D, "battery=96"),
        OK("z2m-climax-panic.json", SENSOR_BUTTON, D, "button=5 battery_low=0 tamper=0"),
        OK("z2m-ias-sos-zone.json", SENSOR_BUTTON, D, "button=5 battery=95 battery_low=0 tamper=0"),
        OK("z2m-multi-button-1-single.json", SENSOR_BUTTON, D, "button=1 battery=78"),
        OK("z2m-action-triple.json", SENSOR_BUTTON, D, "button=4 battery=100"),
        OK("z2m-action-number.json", SENSOR_BUTTON, D, "button=4 battery=90"),
        OK("z2m-action-unicode.json", SENSOR_BUTTON, D, "button=4"),
        OK("z2m-legacy-click.json", SENSOR_BUTTON, D, "button=1 battery=100"),
        OK("z2m-aqara-WXKG11LM-single.json", SENSOR_DOOR, D, "battery=100"),
        /* smoke, gas, CO */
        OK("z2m-heiman-HS1SA-smoke-clear.json", SENSOR_SMOKE, D, "self_test=0 smoke=0 battery=100 battery_low=0 tamper=0"),
        OK("z2m-heiman-HS1SA-smoke-alarm.json", SENSOR_SMOKE, D, "self_test=0 smoke=1 battery=100 battery_low=0 tamper=0"),
        OK("z2m-heiman-HS1SA-self-test.json", SENSOR_SMOKE, D, "self_test=1 battery=100 battery_low=0 tamper=0"),
        OK("z2m-aqara-JTYJ-GD-01LM-smoke.json", SENSOR_SMOKE, D, "smoke=1 battery=100 battery_low=0 tamper=0"),
        OK("z2m-tuya-smoke-battery-state-low.json", SENSOR_SMOKE, D, "smoke=1 battery_low=1 tamper=0"),
        OK("z2m-alecto-smoke-state-alarm.json", SENSOR_SMOKE, D, "smoke=1 battery=65"),
        OK("z2m-heiman-HS1CG-gas.json", SENSOR_GAS, D, "gas=1 battery_low=0 tamper=0"),
        OK("z2m-tuya-gas-self-test-checking.json", SENSOR_GAS, D, "self_test=2 gas=0"),
        OK("z2m-tuya-gas-alarm-stale-checking.json", SENSOR_GAS, D, "self_test=2 gas=1"),
        OK("z2m-heiman-HS1CA-E-co.json", SENSOR_CO, D, "co=1 battery=100 battery_low=0"),
        OK("z2m-tuya-DCR-CO-on.json", SENSOR_CO, D, "co=1"),
        OK("z2m-heiman-smoke-co-combined.json", SENSOR_SMOKE, D, "self_test=0 smoke=1 battery=90 battery_low=0 tamper=0"),
        OK("z2m-heiman-smoke-co-combined.json", SENSOR_CO, D, "self_test=0 co=0 battery=90 battery_low=0 tamper=0"),
        OK("z2m-heiman-HS1CG-gas.json", SENSOR_SMOKE, D, "battery_low=0 tamper=0"),
        /* fall */
        OK("z2m-tuya-radar-fall.json", SENSOR_FALL, D, "fall=1"),
        OK("z2m-tuya-radar-maybe-fall.json", SENSOR_FALL, D, ""),
        OK("z2m-tuya-radar-none.json", SENSOR_FALL, D, "fall=0"),
        OK("z2m-heiman-radar-fall-alarm.json", SENSOR_FALL, D, "fall=1"),
        OK("z2m-owon-FDS315-falling.json", SENSOR_FALL, D, "fall=1"),
        OK("z2m-owon-FDS315-on-the-bed.json", SENSOR_FALL, D, "fall=0"),
        OK("z2m-tuya-radar-fall.json", SENSOR_MOTION, D, "motion=1"),
        /* water */
        OK("wmbusmeters-multical21.json", SENSOR_WATER_METER, D, "water_total=6388 water_flow_rate=125"),
        OK("wmbusmeters-izar.json", SENSOR_WATER_METER, D, "water_total=3488"),
        OK("wmbusmeters-iperl-readme.json", SENSOR_WATER_METER, D, "water_total=123529 water_flow_rate=0"),
        PARTIAL("wmbusmeters-hydrus-test-timestamp.json", SENSOR_WATER_METER, D, "water_total=1174 water_flow_rate=0", "timestamp: expected an ISO 8601 time"),
        OK("wmbusmeters-total-as-string.json", SENSOR_WATER_METER, D, "water_total=3843"),
        ERR("wmbusmeters-negative-total.json", SENSOR_WATER_METER, D, -EINVAL, "total_m3: expected a meter reading ≥ 0, got -3.843"),
        OK("z2m-tuya-TS0601-water-meter.json", SENSOR_WATER_METER, D, "water_total=123456"),
        OK("z2m-frient-ZHEMI101-water.json", SENSOR_WATER_METER, D, "water_total=58207 water_flow_rate=360 battery_low=0"),
        OK("plain-meter-m3.txt", SENSOR_WATER_METER, D, "water_total=123456"),
        OK("plain-meter-m3-newline.txt", SENSOR_WATER_METER, D, "water_total=42500"),
        ERR("plain-meter-negative.txt", SENSOR_WATER_METER, D, -EINVAL, "expected m³ ≥ 0, got \"-1.5\""),
        ERR("plain-meter-nan.txt", SENSOR_WATER_METER, D, -EINVAL, "got \"nan\""),
        OK("z2m-sonoff-SWV-flow.json", SENSOR_WATER_FLOW, D, "water_flow=1 water_flow_rate=12"),
        OK("z2m-water-flow-true.json", SENSOR_WATER_FLOW, D, "water_flow=1"),
        OK("plain-1.txt", SENSOR_WATER_FLOW, D, "water_flow=1"),
        OK("wmbusmeters-multical21.json", SENSOR_LEAK, D, ""),
        /* availability */
        OK("z2m-availability-legacy-online.txt", SENSOR_LEAK, A, "availability=1"),
        OK("z2m-availability-legacy-offline.txt", SENSOR_DOOR, A, "availability=0"),
        OK("z2m-availability-json-online.json", SENSOR_SMOKE, A, "availability=1"),
        OK("z2m-availability-json-offline.json", SENSOR_WATER_METER, A, "availability=0"),
        OK("tasmota-lwt-online.txt", SENSOR_WATER_FLOW, A, "availability=1"),
        OK("tasmota-lwt-offline.txt", SENSOR_BUTTON, A, "availability=0"),
        OK("tasmota-lwt-offline.txt", SENSOR_DOOR, D, "availability=0"),
        ERR("availability-json-bad-state.json", SENSOR_LEAK, A, -EINVAL, "state: expected \"online\" or \"offline\", got \"sleeping\""),
        ERR("z2m-aqara-SJCGQ11LM-leak-wet.json", SENSOR_LEAK, A, -EINVAL, "availability: expected"),
        ERR("plain-maybe.txt", SENSOR_LEAK, A, -EINVAL, "got \"maybe\""),
        /* plain: 1 means active */
        OK("plain-1.txt", SENSOR_LEAK, D, "leak=1"),
        OK("plain-1.txt", SENSOR_DOOR, D, "contact=1"),
        OK("plain-1.txt", SENSOR_MOTION, D, "motion=1"),
        OK("plain-1.txt", SENSOR_BUTTON, D, "button=1"),
        OK("plain-1.txt", SENSOR_FALL, D, "fall=1"),
        OK("plain-1.txt", SENSOR_SMOKE, D, "smoke=1"),
        OK("plain-1.txt", SENSOR_GAS, D, "gas=1"),
        OK("plain-1.txt", SENSOR_CO, D, "co=1"),
        OK("plain-1.txt", SENSOR_WATER_METER, D, "water_total=1000"),
        OK("plain-0.txt", SENSOR_LEAK, D, "leak=0"),
        OK("plain-0.txt", SENSOR_BUTTON, D, ""),
        OK("plain-ON-newline.txt", SENSOR_DOOR, D, "contact=1"),
        OK("plain-off-crlf.txt", SENSOR_LEAK, D, "leak=0"),
        OK("plain-true.txt", SENSOR_MOTION, D, "motion=1"),
        OK("plain-false.txt", SENSOR_GAS, D, "gas=0"),
        OK("plain-open-spaces.txt", SENSOR_DOOR, D, "contact=1"),
        ERR("plain-open-spaces.txt", SENSOR_LEAK, D, -EINVAL, "expected 1/0, ON/OFF, true/false, wet/dry or alarm/clear, got \"open\""),
        OK("plain-closed.txt", SENSOR_DOOR, D, "contact=0"),
        OK("plain-wet.txt", SENSOR_LEAK, D, "leak=1"),
        OK("plain-dry.txt", SENSOR_LEAK, D, "leak=0"),
        OK("plain-alarm.txt", SENSOR_SMOKE, D, "smoke=1"),
        OK("plain-clear.txt", SENSOR_GAS, D, "gas=0"),
        OK("plain-test.txt", SENSOR_SMOKE, D, "self_test=1"),
        OK("plain-test.txt", SENSOR_CO, D, "self_test=1"),
        ERR("plain-test.txt", SENSOR_LEAK, D, -EINVAL, "got \"test\""),
        OK("plain-pressed.txt", SENSOR_BUTTON, D, "button=1"),
        OK("plain-json-string-on.json", SENSOR_DOOR, D, "contact=1"),
        ERR("plain-maybe.txt", SENSOR_LEAK, D, -EINVAL, "got \"maybe\""),
        /* malformed */
        ERR("bad-truncated.json", SENSOR_LEAK, D, -EBADMSG, "JSON"),
        ERR("bad-truncated-2.json", SENSOR_LEAK, D, -EBADMSG, "invalid JSON at byte 31 (truncated?)"),
        ERR("bad-wrong-type-leak.json", SENSOR_LEAK, D, -EINVAL, "water_leak: expected true/false, got \"maybe\""),
        PARTIAL("bad-leak-maybe-battery-ok.json", SENSOR_LEAK, D, "battery=90", "water_leak: expected true/false, got \"maybe\""),
        ERR("bad-contact-number.json", SENSOR_DOOR, D, -EINVAL, "contact: expected true/false, got 1.5"),
        PARTIAL("bad-battery-string.json", SENSOR_LEAK, D, "leak=1", "battery: expected a percentage 0..100, got \"full\""),
        PARTIAL("bad-battery-1e999.json", SENSOR_LEAK, D, "leak=0", "battery: expected a percentage 0..100, got inf"),
        ERR("bad-array.json", SENSOR_LEAK, D, -EBADMSG, "expected a JSON object, got an array"),
        ERR("bad-trailing-garbage.json", SENSOR_LEAK, D, -EBADMSG, "after the end"),
        OK("bad-duplicate-keys.json", SENSOR_LEAK, D, "leak=0"),
        ERR("bad-empty.txt", SENSOR_LEAK, D, -EBADMSG, "empty payload"),
        OK("bad-empty.txt", SENSOR_BUTTON, D, ""),
        ERR("bad-empty.txt", SENSOR_LEAK, A, -EINVAL, "availability"),
        ERR("bad-whitespace.txt", SENSOR_DOOR, D, -EBADMSG, "empty payload"),
        ERR("bad-deep-nesting.json", SENSOR_LEAK, D, -EBADMSG, "nested deeper"),
        ERR("bad-deep-array.json", SENSOR_LEAK, D, -EBADMSG, "nested deeper"),
        ERR("bad-nul-in-json.json", SENSOR_LEAK, D, -EBADMSG, "invalid JSON: NUL at byte 14"),
        PARTIAL("bad-last-seen-garbage.json", SENSOR_LEAK, D, "leak=1", "last_seen: expected an ISO 8601 time"),
        ERR("bad-binary.bin", SENSOR_LEAK, D, -EBADMSG, "binary"),
        ERR("bad-binary.bin", SENSOR_LEAK, A, -EBADMSG, "binary"),
        ERR("bad-invalid-utf8-in-value.json", SENSOR_LEAK, D, -EINVAL, "water_leak: expected true/false, got \"\\xff\\xfe\\xc3(\""),
};

static void test_corpus_gives_the_documented_events(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(corpus); i++) {
                const struct corpus_case *c = &corpus[i];
                _cleanup_free_ char *data = NULL;
                struct payload_result res;
                char reason[PAYLOAD_REASON_MAX];
                size_t size;
                int r;

                if (read_corpus_file(c->file, &data, &size) < 0)
                        fail_msg("cannot read tests/data/payloads/%s", c->file);
                r = parse_bytes(c->kind, c->role, data, size, &res, reason, sizeof(reason));
                print_message("%-45s %-11s %-12s → %d [%s]%s%s\n", c->file, sensor_kind_to_string(c->kind),
                              payload_role_to_string(c->role), r, events_str(&res), *reason ? " reason: " : "",
                              reason);
                if (c->error) {
                        assert_int_equal(r, c->error);
                        assert_int_equal(res.n_events, 0);
                        assert_true(*reason != '\0');
                } else {
                        assert_true(r >= 0);
                        assert_int_equal((size_t)r, res.n_events);
                        assert_string_equal(events_str(&res), c->events);
                        assert_int_equal(res.partial, c->partial);
                        if (!c->partial)
                                assert_string_equal(reason, "");
                }
                if (c->reason)
                        assert_contains(reason, c->reason);
        }
}

/* ---- stories ------------------------------------------------------------------------------------------------ */

static void test_z2m_contact_true_means_door_closed(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(parse(SENSOR_DOOR, "{\"contact\":true}", &res, reason), 1);
        assert_int_equal(res.events[0].type, EVENT_CONTACT);
        assert_true(res.events[0].value == 0); /* closed */

        assert_int_equal(parse(SENSOR_DOOR, "{\"contact\":false}", &res, reason), 1);
        assert_true(res.events[0].value == 1); /* open */

        /* …while a plain payload's 1 means open, like every plain 1 means "active". */
        assert_int_equal(parse(SENSOR_DOOR, "1", &res, reason), 1);
        assert_true(res.events[0].value == 1);
}

static void test_leak_and_battery_in_one_message_give_two_events(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(parse(SENSOR_LEAK, "{\"water_leak\":true,\"battery\":12}", &res, reason), 2);
        assert_events(&res, "leak=1 battery=12");
}

static void test_leak_sensor_ignores_a_contact_field(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(parse(SENSOR_LEAK, "{\"contact\":false,\"occupancy\":true,\"action\":\"single\"}", &res, reason),
                         0);
        assert_string_equal(reason, "");
}

static void test_smoke_during_self_test_is_not_an_alarm(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        /* Pressing the test button on a Heiman HS1SA: the IAS zone status has both the
         * alarm bit and the test bit. */
        assert_int_equal(parse(SENSOR_SMOKE, "{\"smoke\":true,\"test\":true,\"battery\":100}", &res, reason), 2);
        assert_events(&res, "self_test=1 battery=100");
        for (size_t i = 0; i < res.n_events; i++)
                assert_int_not_equal(res.events[i].type, EVENT_SMOKE);

        /* The same for gas and CO detectors and leak sensors with an IAS test bit. */
        assert_int_equal(parse(SENSOR_GAS, "{\"gas\":true,\"test\":true}", &res, reason), 1);
        assert_events(&res, "self_test=1");
        assert_int_equal(parse(SENSOR_CO, "{\"carbon_monoxide\":true,\"test\":true}", &res, reason), 1);
        assert_events(&res, "self_test=1");
}

static void test_smoke_after_self_test_is_an_alarm_again(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(parse(SENSOR_SMOKE, "{\"smoke\":false,\"test\":false}", &res, reason), 2);
        assert_events(&res, "self_test=0 smoke=0");
        assert_int_equal(parse(SENSOR_SMOKE, "{\"smoke\":true,\"test\":false}", &res, reason), 2);
        assert_events(&res, "self_test=0 smoke=1");
}

static void test_tuya_cached_self_test_never_hides_a_gas_alarm(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        /* Zigbee2MQTT repeats a Tuya detector's last self_test/self_test_result in every
         * message; a stale "checking" must not swallow a real alarm. */
        assert_int_equal(parse(SENSOR_GAS, "{\"gas\":true,\"self_test\":true,\"self_test_result\":\"checking\"}", &res,
                               reason),
                         2);
        assert_events(&res, "self_test=2 gas=1");
}

static void test_empty_action_after_a_press_is_not_a_press(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(parse(SENSOR_BUTTON, "{\"action\":\"single\"}", &res, reason), 1);
        assert_events(&res, "button=1");
        assert_int_equal(parse(SENSOR_BUTTON, "{\"action\":\"\"}", &res, reason), 0);
        assert_int_equal(parse(SENSOR_BUTTON, "{\"action\":null}", &res, reason), 0);
        /* Zigbee2MQTT's attribute output publishes the empty action on …/action as "". */
        assert_int_equal(parse(SENSOR_BUTTON, "", &res, reason), 0);
        assert_string_equal(reason, "");
}

static void test_sos_button_says_emergency_not_single(void **state)
{
        static const char *const actions[] = { "emergency", "sos", "panic", "SOS", "button_1_sos" };
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX], buf[64];

        for (size_t i = 0; i < ELEMENTSOF(actions); i++) {
                snprintf(buf, sizeof(buf), "{\"action\":\"%s\"}", actions[i]);
                assert_int_equal(parse(SENSOR_BUTTON, buf, &res, reason), 1);
                assert_int_equal(res.events[0].type, EVENT_BUTTON);
                assert_true(res.events[0].value == BUTTON_EMERGENCY);
        }
        assert_int_equal(parse(SENSOR_BUTTON, "emergency", &res, reason), 1);
        assert_true(res.events[0].value == BUTTON_EMERGENCY);

        /* An IAS SOS zone: one press, whatever "action" says next to it. */
        assert_int_equal(parse(SENSOR_BUTTON, "{\"sos\":true,\"action\":\"\"}", &res, reason), 1);
        assert_true(res.events[0].value == BUTTON_EMERGENCY);
        assert_int_equal(parse(SENSOR_BUTTON, "{\"sos\":true,\"action\":\"sos\"}", &res, reason), 1);
        assert_int_equal(parse(SENSOR_BUTTON, "{\"sos\":false}", &res, reason), 0);
}

static void test_long_press_names(void **state)
{
        static const char *const actions[] = { "hold", "long", "press_long", "long_press", "1_hold" };
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX], buf[64];

        for (size_t i = 0; i < ELEMENTSOF(actions); i++) {
                snprintf(buf, sizeof(buf), "{\"action\":\"%s\"}", actions[i]);
                assert_int_equal(parse(SENSOR_BUTTON, buf, &res, reason), 1);
                assert_true(res.events[0].value == BUTTON_LONG);
        }
        /* …but the release after a hold is not another press. */
        assert_int_equal(parse(SENSOR_BUTTON, "{\"action\":\"hold_release\"}", &res, reason), 0);
}

static void test_only_linkquality_is_alive_but_says_nothing(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        for (int k = 0; k < _SENSOR_KIND_MAX; k++) {
                assert_int_equal(parse(k, "{\"linkquality\":87,\"voltage\":3005}", &res, reason), 0);
                assert_int_equal(res.n_events, 0);
                assert_false(res.partial);
                assert_string_equal(reason, "");
        }
}

static void test_retained_flag_is_left_to_the_caller(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        /* Pre-fill to see that everything the caller owns is reset, not left over. */
        memset(&res, 0xaa, sizeof(res));
        assert_int_equal(parse(SENSOR_LEAK, "{\"water_leak\":true,\"battery\":80,\"tamper\":false}", &res, reason), 3);
        for (size_t i = 0; i < res.n_events; i++) {
                assert_int_equal(res.events[i].sensor, 0);
                assert_int_equal(res.events[i].flags, 0);
                assert_int_equal(res.events[i].mono, 0);
                assert_int_equal(res.events[i].wall, 0);
        }
}

static void test_wmbusmeters_timestamp_becomes_source_time(void **state)
{
        _cleanup_free_ char *data = NULL;
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];
        size_t size;

        assert_int_equal(read_corpus_file("wmbusmeters-multical21.json", &data, &size), 0);
        assert_int_equal(parse_bytes(SENSOR_WATER_METER, PAYLOAD_DATA, data, size, &res, reason, sizeof(reason)), 2);
        for (size_t i = 0; i < res.n_events; i++) {
                assert_int_equal(res.events[i].flags, EVENT_SOURCE_TIME);
                assert_int_equal(res.events[i].wall, (usec_t)1732230309 * USEC_PER_SEC); /* 2024-11-21T23:05:09Z */
        }

        /* Offsets, fractions, Zigbee2MQTT's last_seen in both forms. */
        assert_int_equal(parse(SENSOR_WATER_METER, "{\"total_m3\":1,\"timestamp\":\"2024-11-22T07:05:09.5+08:00\"}",
                               &res, reason),
                         1);
        assert_int_equal(res.events[0].wall, (usec_t)1732230309 * USEC_PER_SEC + 500000);
        assert_int_equal(parse(SENSOR_LEAK, "{\"water_leak\":false,\"last_seen\":\"2024-11-21T20:05:09-0300\"}", &res,
                               reason),
                         1);
        assert_int_equal(res.events[0].wall, (usec_t)1732230309 * USEC_PER_SEC);
        assert_int_equal(parse(SENSOR_LEAK, "{\"water_leak\":false,\"last_seen\":1732230309123}", &res, reason), 1);
        assert_int_equal(res.events[0].wall, (usec_t)1732230309123 * USEC_PER_MSEC);
        assert_int_equal(res.events[0].flags, EVENT_SOURCE_TIME);

        /* No zone: we will not guess one; the reading still counts, without a source time. */
        assert_int_equal(parse(SENSOR_WATER_METER, "{\"total_m3\":1,\"timestamp\":\"2024-11-22 07:05:09\"}", &res,
                               reason),
                         1);
        assert_true(res.partial);
        assert_int_equal(res.events[0].flags, 0);
        assert_int_equal(res.events[0].wall, 0);
        assert_contains(reason, "timestamp");
}

static void test_plain_m3_reading_becomes_litres(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(parse(SENSOR_WATER_METER, "123.456", &res, reason), 1);
        assert_int_equal(res.events[0].type, EVENT_WATER_TOTAL);
        assert_true(res.events[0].value == 123456.0);
        assert_int_equal(parse(SENSOR_WATER_METER, "0", &res, reason), 1);
        assert_true(res.events[0].value == 0.0);
        assert_int_equal(parse(SENSOR_WATER_METER, "{\"total_m3\":0.001}", &res, reason), 1);
        assert_true(res.events[0].value == 1.0);
        /* Litre-valued Zigbee2MQTT fields are not multiplied. */
        assert_int_equal(parse(SENSOR_WATER_METER, "{\"water_total\":512.25}", &res, reason), 1);
        assert_true(res.events[0].value == 512.25);
}

static void test_negative_or_nan_total_is_refused(void **state)
{
        static const char *const bad[] = {
                "-0.001", "nan", "NaN", "inf", "-inf", "1e999", "0x10", "12,5", "{\"total_m3\":-1}",
                "{\"total_m3\":1e999}", "{\"total_m3\":\"nan\"}", "{\"total_m3\":\"-1\"}", "{\"total_m3\":true}",
                "{\"water_consumed\":-5}",
        };
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = parse(SENSOR_WATER_METER, bad[i], &res, reason);
                print_message("%-25s → %d %s\n", bad[i], r, reason);
                assert_true(r == -EINVAL || r == -EBADMSG);
                assert_int_equal(res.n_events, 0);
        }
}

static void test_availability_old_and_json_forms(void **state)
{
        static const struct {
                const char *payload;
                int online;
        } cases[] = {
                { "online", 1 },   { "offline", 0 },  { "{\"state\":\"online\"}", 1 }, { "{\"state\":\"offline\"}", 0 },
                { "Online", 1 },   { "Offline", 0 },  { "online\n", 1 },               { "{ \"state\" : \"OFFLINE\" }", 0 },
                { "\"online\"", 1 }, { "true", 1 },   { "0", 0 },
        };
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(parse_avail(cases[i].payload, &res, reason), 1);
                assert_int_equal(res.events[0].type, EVENT_AVAILABILITY);
                assert_true(res.events[0].value == cases[i].online);
        }
        assert_int_equal(parse_avail("{\"linkquality\":3}", &res, reason), -EINVAL);
        assert_int_equal(parse_avail("{\"state\":true}", &res, reason), -EINVAL);
}

static void test_plain_payloads_are_case_and_space_insensitive(void **state)
{
        static const char *const open[] = { "open", "OPEN", " Open\n", "\topen\r\n", "On", "TRUE", "1\n" };
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        for (size_t i = 0; i < ELEMENTSOF(open); i++) {
                assert_int_equal(parse(SENSOR_DOOR, open[i], &res, reason), 1);
                assert_events(&res, "contact=1");
        }
        assert_int_equal(parse(SENSOR_DOOR, "Closed", &res, reason), 1);
        assert_events(&res, "contact=0");
        /* Only whole words: "10", "opened!" and "o pen" are not "1" and "open". */
        assert_int_equal(parse(SENSOR_DOOR, "10", &res, reason), -EINVAL);
        assert_int_equal(parse(SENSOR_DOOR, "opened!", &res, reason), -EINVAL);
        assert_int_equal(parse(SENSOR_DOOR, "o pen", &res, reason), -EINVAL);
}

static void test_bad_battery_does_not_lose_the_leak(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(parse(SENSOR_LEAK, "{\"water_leak\":true,\"battery\":250,\"tamper\":\"x\"}", &res, reason), 1);
        assert_events(&res, "leak=1");
        assert_true(res.partial);
        assert_string_equal(reason, "battery: expected a percentage 0..100, got 250 (and 1 more)");
}

static void test_malformed_reason_names_field_and_value(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(parse(SENSOR_LEAK, "{\"water_leak\":\"maybe\"}", &res, reason), -EINVAL);
        assert_string_equal(reason, "water_leak: expected true/false, got \"maybe\"");
        assert_int_equal(parse(SENSOR_DOOR, "{\"contact\":{\"a\":1}}", &res, reason), -EINVAL);
        assert_string_equal(reason, "contact: expected true/false, got an object");
        assert_int_equal(parse(SENSOR_FALL, "{\"fall_down_status\":\"lying\"}", &res, reason), -EINVAL);
        assert_string_equal(reason, "fall_down_status: expected \"none\", \"maybe_fall\" or \"fall\", got \"lying\"");
        assert_int_equal(parse(SENSOR_BUTTON, "{\"action\":true}", &res, reason), -EINVAL);
        assert_contains(reason, "action: expected an action");
}

static void test_reason_is_safe_to_log(void **state)
{
        static const char payload[] = "\"\x1b[31mmaybe\x07\n\x7f\xe5\x96\xb5\"";
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_true(parse(SENSOR_LEAK, "{\"water_leak\":\"\\u001b[2J\\\"x\\\\\"}", &res, reason) < 0);
        assert_string_equal(reason, "water_leak: expected true/false, got \"\\x1b[2J\\\"x\\\\\"");
        assert_true(parse_bytes(SENSOR_LEAK, PAYLOAD_DATA, payload, sizeof(payload) - 1, &res, reason,
                                sizeof(reason)) < 0);
        for (const char *c = reason; *c; c++)
                assert_true(*c >= 0x20 && *c < 0x7f);
}

static void test_reason_may_be_null_or_tiny(void **state)
{
        static const char odd_battery[] = "{\"water_leak\":1,\"battery\":-3}";
        struct payload_result res;
        char tiny[6];

        assert_int_equal(payload_parse(SENSOR_LEAK, PAYLOAD_DATA, "maybe", 5, &res, NULL, 0), -EINVAL);
        assert_int_equal(payload_parse(SENSOR_LEAK, PAYLOAD_DATA, odd_battery, strlen(odd_battery), &res, NULL, 0), 1);
        assert_true(res.partial);
        assert_int_equal(payload_parse(SENSOR_LEAK, PAYLOAD_DATA, "maybe", 5, &res, tiny, sizeof(tiny)), -EINVAL);
        assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
        assert_int_equal(payload_parse(SENSOR_LEAK, PAYLOAD_DATA, NULL, 0, &res, tiny, sizeof(tiny)), -EBADMSG);
}

static void test_payload_over_limit_is_refused(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];
        size_t n = PAYLOAD_MAX_SIZE + 1;
        char *big = malloc(n);

        assert_non_null(big);
        memset(big, ' ', n);
        memcpy(big, "{\"water_leak\":true}", 19);
        assert_int_equal(parse_bytes(SENSOR_LEAK, PAYLOAD_DATA, big, n, &res, reason, sizeof(reason)), -EMSGSIZE);
        assert_contains(reason, "65537 bytes");
        /* One byte less is parsed (white space after JSON is fine). */
        assert_int_equal(parse_bytes(SENSOR_LEAK, PAYLOAD_DATA, big, n - 1, &res, reason, sizeof(reason)), 1);
        free(big);
}

static void test_wide_object_is_bounded_work(void **state)
{
        /* 60 KiB of keys before the one we use: parsed, not refused, and quickly. */
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];
        size_t cap = 62 * 1024, o = 0;
        char *s = malloc(cap);

        assert_non_null(s);
        o += (size_t)snprintf(s + o, cap - o, "{");
        for (int i = 0; o + 64 < cap; i++)
                o += (size_t)snprintf(s + o, cap - o, "\"k%d\":%d,", i, i);
        o += (size_t)snprintf(s + o, cap - o, "\"water_leak\":true}");
        assert_int_equal(parse_bytes(SENSOR_LEAK, PAYLOAD_DATA, s, o, &res, reason, sizeof(reason)), 1);
        free(s);
}

static void test_fall_radar_presence_is_not_activity(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        /* A person lying still on the floor is "present" to a radar: for a fall sensor,
         * occupancy/presence must not become motion that resets the inactivity rule. */
        assert_int_equal(parse(SENSOR_FALL, "{\"occupancy\":true,\"presence\":true}", &res, reason), 0);
}

static void test_maybe_fall_waits_for_the_device_to_confirm(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(parse(SENSOR_FALL, "{\"fall_down_status\":\"maybe_fall\"}", &res, reason), 0);
        assert_int_equal(parse(SENSOR_FALL, "{\"fall_down_status\":\"fall\"}", &res, reason), 1);
        assert_events(&res, "fall=1");
        assert_int_equal(parse(SENSOR_FALL, "{\"fall_status\":\"fall_warning\"}", &res, reason), 0);
        assert_int_equal(parse(SENSOR_FALL, "{\"fall\":true}", &res, reason), 1);
        assert_events(&res, "fall=1");
}

static void test_tuya_string_booleans_and_battery_state(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(parse(SENSOR_CO, "{\"carbon_monoxide\":\"OFF\",\"battery_state\":\"medium\"}", &res, reason),
                         2);
        assert_events(&res, "co=0 battery_low=0");
        /* battery_low wins over battery_state when both are there. */
        assert_int_equal(parse(SENSOR_SMOKE, "{\"battery_low\":true,\"battery_state\":\"high\"}", &res, reason), 1);
        assert_events(&res, "battery_low=1");
}

static void test_wrong_kind_or_role_is_refused(void **state)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];

        assert_int_equal(payload_parse(_SENSOR_KIND_MAX, PAYLOAD_DATA, "1", 1, &res, reason, sizeof(reason)), -EINVAL);
        assert_int_equal(payload_parse(SENSOR_LEAK, _PAYLOAD_ROLE_MAX, "1", 1, &res, reason, sizeof(reason)),
                         -EINVAL);
        assert_string_equal(payload_role_to_string(PAYLOAD_AVAILABILITY), "availability");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_corpus_gives_the_documented_events),
                cmocka_unit_test(test_z2m_contact_true_means_door_closed),
                cmocka_unit_test(test_leak_and_battery_in_one_message_give_two_events),
                cmocka_unit_test(test_leak_sensor_ignores_a_contact_field),
                cmocka_unit_test(test_smoke_during_self_test_is_not_an_alarm),
                cmocka_unit_test(test_smoke_after_self_test_is_an_alarm_again),
                cmocka_unit_test(test_tuya_cached_self_test_never_hides_a_gas_alarm),
                cmocka_unit_test(test_empty_action_after_a_press_is_not_a_press),
                cmocka_unit_test(test_sos_button_says_emergency_not_single),
                cmocka_unit_test(test_long_press_names),
                cmocka_unit_test(test_only_linkquality_is_alive_but_says_nothing),
                cmocka_unit_test(test_retained_flag_is_left_to_the_caller),
                cmocka_unit_test(test_wmbusmeters_timestamp_becomes_source_time),
                cmocka_unit_test(test_plain_m3_reading_becomes_litres),
                cmocka_unit_test(test_negative_or_nan_total_is_refused),
                cmocka_unit_test(test_availability_old_and_json_forms),
                cmocka_unit_test(test_plain_payloads_are_case_and_space_insensitive),
                cmocka_unit_test(test_bad_battery_does_not_lose_the_leak),
                cmocka_unit_test(test_malformed_reason_names_field_and_value),
                cmocka_unit_test(test_reason_is_safe_to_log),
                cmocka_unit_test(test_reason_may_be_null_or_tiny),
                cmocka_unit_test(test_payload_over_limit_is_refused),
                cmocka_unit_test(test_wide_object_is_bounded_work),
                cmocka_unit_test(test_fall_radar_presence_is_not_activity),
                cmocka_unit_test(test_maybe_fall_waits_for_the_device_to_confirm),
                cmocka_unit_test(test_tuya_string_booleans_and_battery_state),
                cmocka_unit_test(test_wrong_kind_or_role_is_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
