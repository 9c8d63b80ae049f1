/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MQTT payload normaliser (see payload.h). Which fields are read for which
 * kind, and why, is in docs/sensors.md; the tables below are the code side of
 * that page and should change together with it.
 */

#include "sensors/payload.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <strings.h>

/* Real sensor JSON is flat (Zigbee2MQTT adds one level with include_device_information).
 * cJSON's own limit is 1000 levels of recursion; we stop far earlier so the stack
 * use on the loop thread stays small whatever arrives. */
#define JSON_DEPTH_MAX 16

/* A plain payload is one short word or number. */
#define PLAIN_MAX 40

/* Bounds that keep every value finite after conversion to litres; a household meter
 * reads well under 10⁶ m³ and a household pipe carries a few m³/h. */
#define TOTAL_MAX_M3 1e9
#define FLOW_MAX_M3H 1e6

/* How much of a bad value a reason shows. */
#define SHOW_MAX 40

/* A device's or meter's clock that says it is before this has never been set
 * (wmbusmeters' own test data uses 1111-11-11T11:11:11Z). 2000-01-01T00:00:00Z. */
#define PLAUSIBLE_SINCE_SEC 946684800LL
/* …and one that says it is after this is garbage. 2200-01-01T00:00:00Z. */
#define PLAUSIBLE_UNTIL_SEC 7258118400LL

/* Read results besides 1 (active) and 0 (inactive). */
#define READ_ABSENT (-ENOENT)  /* the field is not there, or null ("not known yet" in Zigbee2MQTT) */
#define READ_NOTHING (-ENODATA) /* a value that is valid but says nothing we use (e.g. "maybe_fall") */
#define READ_BAD (-EINVAL)     /* a value we cannot read: reason written */

struct parser {
        enum sensor_kind kind;
        struct payload_result *ret;
        char *reason;
        size_t reason_size;
        unsigned n_bad;    /* fields whose value we could not read; the reason names the first */
        usec_t source_time; /* 0: the payload carries no usable time of its own */
};

const char *payload_role_to_string(enum payload_role role)
{
        switch (role) {
        case PAYLOAD_DATA:
                return "data";
        case PAYLOAD_AVAILABILITY:
                return "availability";
        case _PAYLOAD_ROLE_MAX:
                break;
        }
        return NULL;
}

/* ---- reasons ------------------------------------------------------------------------------------------------ */

/* Show bytes from a payload so that a log line stays one line of ASCII. */
static void show_bytes(char *buf, size_t size, const char *s, size_t n)
{
        size_t o = 0;

        if (size < 8) {
                if (size > 0)
                        buf[0] = '\0';
                return;
        }
        buf[o++] = '"';
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                char tmp[5];
                size_t l;

                if (c == '"' || c == '\\')
                        l = (size_t)snprintf(tmp, sizeof(tmp), "\\%c", c);
                else if (c >= 0x20 && c < 0x7f)
                        l = (size_t)snprintf(tmp, sizeof(tmp), "%c", c);
                else
                        l = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
                /* keep room for the closing quote, "..." and the NUL */
                if (o + l + 5 > size || i >= SHOW_MAX) {
                        memcpy(buf + o, "\"...", 4);
                        o += 4;
                        buf[o] = '\0';
                        return;
                }
                memcpy(buf + o, tmp, l);
                o += l;
        }
        buf[o++] = '"';
        buf[o] = '\0';
}

static void show_json(char *buf, size_t size, const cJSON *v)
{
        if (cJSON_IsString(v))
                show_bytes(buf, size, v->valuestring, strlen(v->valuestring));
        else if (cJSON_IsNumber(v))
                snprintf(buf, size, "%.10g", v->valuedouble);
        else if (cJSON_IsTrue(v))
                snprintf(buf, size, "true");
        else if (cJSON_IsFalse(v))
                snprintf(buf, size, "false");
        else if (cJSON_IsNull(v))
                snprintf(buf, size, "null");
        else if (cJSON_IsArray(v))
                snprintf(buf, size, "an array");
        else
                snprintf(buf, size, "an object");
}

/* Note a problem; the first one becomes the reason, later ones are only counted. */
_printf_(2, 3) static int fail(struct parser *p, const char *fmt, ...)
{
        va_list ap;

        if (p->n_bad++ == 0 && p->reason && p->reason_size > 0) {
                va_start(ap, fmt);
                vsnprintf(p->reason, p->reason_size, fmt, ap);
                va_end(ap);
        }
        return READ_BAD;
}

static int bad_value(struct parser *p, const char *name, const char *expected, const cJSON *v)
{
        char got[SHOW_MAX * 4 + 8];

        show_json(got, sizeof(got), v);
        return fail(p, "%s: expected %s, got %s", name, expected, got);
}

/* ---- events ------------------------------------------------------------------------------------------------- */

static void emit(struct parser *p, enum event_type type, double value)
{
        struct payload_result *r = p->ret;

        /* Every kind reads a fixed, small set of fields, each giving at most one event, so
         * this cannot fill up; the check is for the day someone adds a field. */
        if (r->n_events >= PAYLOAD_EVENTS_MAX)
                return;
        r->events[r->n_events++] = (struct sensor_event){ .type = (uint16_t)type, .value = value };
}

/* ---- small readers ------------------------------------------------------------------------------------------ */

struct word {
        const char *word;
        int value;
};

static int word_lookup(const struct word *table, const char *s)
{
        for (; table->word; table++)
                if (strcasecmp(table->word, s) == 0)
                        return table->value;
        return READ_BAD;
}

/* The spellings of a boolean we accept inside JSON (Tuya converters send "ON"/"OFF"). */
static const struct word bool_words[] = {
        { "true", 1 }, { "false", 0 }, { "on", 1 }, { "off", 0 }, { "1", 1 }, { "0", 0 }, { NULL, 0 },
};

/* The field's value, or NULL when absent or null. */
static const cJSON *field(const cJSON *obj, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

        return cJSON_IsNull(v) ? NULL : v;
}

static int read_bool(struct parser *p, const cJSON *obj, const char *name)
{
        const cJSON *v = field(obj, name);
        int b;

        if (!v)
                return READ_ABSENT;
        if (cJSON_IsBool(v))
                return cJSON_IsTrue(v);
        if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1))
                return v->valuedouble == 1;
        if (cJSON_IsString(v) && (b = word_lookup(bool_words, v->valuestring)) >= 0)
                return b;
        return bad_value(p, name, "true/false", v);
}

/* Zigbee2MQTT's "contact" is true when the magnet is near: the door is closed. */
static int read_contact_open(struct parser *p, const cJSON *obj, const char *name)
{
        int b = read_bool(p, obj, name);

        return b >= 0 ? !b : b;
}

static int read_enum(struct parser *p, const cJSON *obj, const char *name, const struct word *table,
                     const char *expected)
{
        const cJSON *v = field(obj, name);
        int r;

        if (!v)
                return READ_ABSENT;
        if (cJSON_IsString(v) && (r = word_lookup(table, v->valuestring)) != READ_BAD)
                return r;
        return bad_value(p, name, expected, v);
}

/* A decimal number, strictly: no hex, inf, nan or surrounding space (strtod takes all of those). */
static int parse_decimal(const char *s, double *ret)
{
        char *end;
        double d;

        if (isempty(s) || strspn(s, "0123456789.eE+-") != strlen(s))
                return -EINVAL;
        errno = 0;
        d = strtod(s, &end);
        if (*end != '\0' || end == s)
                return -EINVAL;
        if (errno == ERANGE || !isfinite(d))
                return -ERANGE;
        *ret = d;
        return 0;
}

/* A number (wmbusmeters writes some as strings, e.g. "0.000"), finite and in [min, max]. */
static int read_number(struct parser *p, const cJSON *obj, const char *name, double min, double max,
                       const char *expected, double *ret)
{
        const cJSON *v = field(obj, name);
        double d;

        if (!v)
                return READ_ABSENT;
        if (cJSON_IsNumber(v))
                d = v->valuedouble;
        else if (!cJSON_IsString(v) || parse_decimal(v->valuestring, &d) < 0)
                return bad_value(p, name, expected, v);
        if (!isfinite(d) || d < min || d > max)
                return bad_value(p, name, expected, v);
        *ret = d;
        return 0;
}

/* Litres from m³, rounded to the millilitre so that 123.456 m³ is exactly 123456 L. */
static double m3_to_litres(double m3)
{
        return round(m3 * 1000.0 * 1000.0) / 1000.0;
}

/* ---- time --------------------------------------------------------------------------------------------------- */

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
        /* Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar. */
        y -= m <= 2;
        long long era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (long long)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *ret)
{
        unsigned v = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        *ret = v;
        return true;
}

/*
 * "2024-03-03T18:37:00Z", "2019-10-23T11:36:05.063+02:00", "…+0800", "…+08", a space
 * instead of the T. A time without a zone is refused: wmbusmeters and Zigbee2MQTT
 * always write one, and guessing the gateway's zone for a meter would be wrong.
 */
static int parse_iso8601(const char *s, usec_t *ret)
{
        unsigned year, mon, day, hour, min, sec = 0, oh = 0, om = 0;
        usec_t frac = 0;
        long long t, offset = 0;

        if (strlen(s) < 16 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) ||
            s[7] != '-' || !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
            !digits(s + 11, 2, &hour) || s[13] != ':' || !digits(s + 14, 2, &min))
                return -EINVAL;
        s += 16;
        if (*s == ':') {
                if (!digits(s + 1, 2, &sec))
                        return -EINVAL;
                s += 3;
                if (*s == '.' || *s == ',') {
                        usec_t scale = 100000;
                        s++;
                        if (*s < '0' || *s > '9')
                                return -EINVAL;
                        for (; *s >= '0' && *s <= '9'; s++) {
                                frac += (usec_t)(*s - '0') * scale;
                                scale /= 10;
                        }
                }
        }
        if (*s == 'Z' || *s == 'z')
                s++;
        else if (*s == '+' || *s == '-') {
                int sign = *s == '-' ? -1 : 1;
                if (!digits(s + 1, 2, &oh))
                        return -EINVAL;
                s += 3;
                if (*s == ':')
                        s++;
                if (*s >= '0' && *s <= '9') {
                        if (!digits(s, 2, &om))
                                return -EINVAL;
                        s += 2;
                }
                if (oh > 14 || om > 59)
                        return -EINVAL;
                offset = sign * ((long long)oh * 3600 + (long long)om * 60);
        } else
                return -EINVAL; /* no zone */
        if (*s != '\0')
                return -EINVAL;

        static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour > 23 || min > 59 || sec > 60)
                return -EINVAL;
        t = days_from_civil(year, mon, day) * 86400 + hour * 3600LL + min * 60LL + sec - offset;
        if (t < PLAUSIBLE_SINCE_SEC || t >= PLAUSIBLE_UNTIL_SEC)
                return -ERANGE;
        *ret = (usec_t)t * USEC_PER_SEC + frac;
        return 0;
}

#define TIME_EXPECTED "an ISO 8601 time with a zone after 2000, e.g. \"2024-03-03T18:37:00Z\""

/* wmbusmeters "timestamp" (ISO 8601, UTC); Zigbee2MQTT "last_seen" (ISO 8601, or epoch in ms). */
static void read_source_time(struct parser *p, const cJSON *obj)
{
        static const char *const names[] = { "timestamp", "last_seen" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const cJSON *v = field(obj, names[i]);
                usec_t t;

                if (!v)
                        continue;
                if (cJSON_IsString(v) && parse_iso8601(v->valuestring, &t) == 0)
                        p->source_time = t;
                else if (cJSON_IsNumber(v) && v->valuedouble >= PLAUSIBLE_SINCE_SEC * 1000.0 &&
                         v->valuedouble < PLAUSIBLE_UNTIL_SEC * 1000.0)
                        p->source_time = (usec_t)(v->valuedouble * 1000.0);
                else
                        bad_value(p, names[i], TIME_EXPECTED, v);
                return; /* the first one present decides */
        }
}

/* ---- Zigbee2MQTT / wmbusmeters JSON ------------------------------------------------------------------------- */

typedef int (*field_reader)(struct parser *p, const cJSON *obj, const char *name);

struct state_field {
        const char *name;
        field_reader read;
};

static const struct word alarm_normal_words[] = {
        { "alarm", 1 }, { "normal", 0 }, { NULL, 0 },
};

/* Alecto "smoke_state", Lincukoo "gas_sensor_state"/"co_state". */
static int read_alarm_normal(struct parser *p, const cJSON *obj, const char *name)
{
        return read_enum(p, obj, name, alarm_normal_words, "\"alarm\" or \"normal\"");
}

/* Tuya radar (e.g. _TZE204_ztqnh5cg): "maybe_fall" is a pre-alarm the device confirms
 * as "fall" after its tumble_alarm_time; only the confirmed fall counts. */
static int read_fall_down_status(struct parser *p, const cJSON *obj, const char *name)
{
        static const struct word w[] = {
                { "none", 0 }, { "maybe_fall", READ_NOTHING }, { "fall", 1 }, { NULL, 0 },
        };
        return read_enum(p, obj, name, w, "\"none\", \"maybe_fall\" or \"fall\"");
}

/* Heiman radar: "fall_warning" is its pre-alarm, like Tuya's "maybe_fall". */
static int read_fall_status(struct parser *p, const cJSON *obj, const char *name)
{
        static const struct word w[] = {
                { "normal", 0 },      { "fall_warning", READ_NOTHING }, { "fall_alarm", 1 },
                { "unknown", READ_NOTHING }, { NULL, 0 },
        };
        return read_enum(p, obj, name, w, "\"normal\", \"fall_warning\" or \"fall_alarm\"");
}

/* OWON FDS315 "status": the posture it sees; only "falling" is a fall. */
static int read_owon_status(struct parser *p, const cJSON *obj, const char *name)
{
        static const struct word w[] = {
                { "unoccupied", 0 }, { "occupied", 0 },    { "sitting", 0 }, { "on_the_bed", 0 },
                { "low_posture", 0 }, { "falling", 1 }, { NULL, 0 },
        };
        return read_enum(p, obj, name, w, "an OWON status such as \"occupied\" or \"falling\"");
}

/* A flow switch: a boolean, or a rate (Zigbee2MQTT "flow" is m³/h) where > 0 means flowing. */
static int read_flowing(struct parser *p, const cJSON *obj, const char *name)
{
        const cJSON *v = field(obj, name);

        if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= FLOW_MAX_M3H)
                return v->valuedouble > 0;
        if (cJSON_IsNumber(v))
                return bad_value(p, name, "true/false or a flow ≥ 0", v);
        return read_bool(p, obj, name);
}

/*
 * The fields that carry each kind's main state. When several are present they
 * are OR-ed (an IAS device with two zones reports "water_leak_alarm_1" and
 * "…_2"): any active one makes the state active.
 */
static const struct state_field leak_fields[] = {
        { "water_leak", read_bool },
        { "water_leak_alarm_1", read_bool },
        { "water_leak_alarm_2", read_bool },
        {},
};
static const struct state_field door_fields[] = {
        { "contact", read_contact_open },
        {},
};
static const struct state_field motion_fields[] = {
        { "occupancy", read_bool },
        {},
};
static const struct state_field fall_fields[] = {
        { "fall", read_bool },
        { "fall_down_status", read_fall_down_status },
        { "fall_status", read_fall_status },
        { "status", read_owon_status },
        {},
};
static const struct state_field smoke_fields[] = {
        { "smoke", read_bool },
        { "smoke_alarm_1", read_bool },
        { "smoke_alarm_2", read_bool },
        { "smoke_state", read_alarm_normal },
        {},
};
static const struct state_field gas_fields[] = {
        { "gas", read_bool },
        { "gas_alarm_1", read_bool },
        { "gas_alarm_2", read_bool },
        { "gas_sensor_state", read_alarm_normal },
        {},
};
static const struct state_field co_fields[] = {
        { "carbon_monoxide", read_bool },
        { "carbon_monoxide_alarm_1", read_bool },
        { "carbon_monoxide_alarm_2", read_bool },
        { "co_state", read_alarm_normal },
        {},
};
static const struct state_field flow_fields[] = {
        { "water_flow", read_flowing },
        { "flow", read_flowing },
        {},
};

/* The event a kind's state becomes, its fields, and whether it is a detector with a self-test. */
static void kind_state(enum sensor_kind kind, enum event_type *ret_type,
                       const struct state_field **ret_fields, bool *ret_detector)
{
        *ret_fields = NULL;
        *ret_type = 0;
        *ret_detector = false;
        switch (kind) {
        case SENSOR_LEAK:
                *ret_type = EVENT_LEAK;
                *ret_fields = leak_fields;
                *ret_detector = true;
                break;
        case SENSOR_DOOR:
                *ret_type = EVENT_CONTACT;
                *ret_fields = door_fields;
                break;
        case SENSOR_MOTION:
                *ret_type = EVENT_MOTION;
                *ret_fields = motion_fields;
                break;
        case SENSOR_FALL:
                *ret_type = EVENT_FALL;
                *ret_fields = fall_fields;
                break;
        case SENSOR_SMOKE:
                *ret_type = EVENT_SMOKE;
                *ret_fields = smoke_fields;
                *ret_detector = true;
                break;
        case SENSOR_GAS:
                *ret_type = EVENT_GAS;
                *ret_fields = gas_fields;
                *ret_detector = true;
                break;
        case SENSOR_CO:
                *ret_type = EVENT_CO;
                *ret_fields = co_fields;
                *ret_detector = true;
                break;
        case SENSOR_WATER_FLOW:
                *ret_type = EVENT_WATER_FLOW;
                *ret_fields = flow_fields;
                break;
        case SENSOR_BUTTON:      /* presses, not a state: json_button() */
        case SENSOR_WATER_METER: /* readings, not a state: json_water_meter() */
        case _SENSOR_KIND_MAX:
                break;
        }
}

/* Combine a reading into an OR of readings: -1 nothing yet, else 0/1. */
static void or_into(int *acc, int r)
{
        if (r == 0 || r == 1)
                *acc = *acc < 0 ? r : (*acc | r);
}

/*
 * A detector's self-test. Two kinds of signal:
 *  - "test": bit 8 of the IAS zone status, which the device sends in the same report
 *    as the alarm bit. While it is set, an active alarm in the same message is the
 *    test sounding, not smoke: the alarm value is dropped (an inactive one is kept).
 *  - Tuya "self_test" / "self_test_result": separate datapoints that Zigbee2MQTT
 *    caches and repeats in every later message. A stale "checking" must never hide a
 *    real fire, so these only give EVENT_SELF_TEST and suppress nothing.
 * Returns whether the IAS test bit is set.
 */
static bool json_self_test(struct parser *p, const cJSON *obj)
{
        static const struct word result_words[] = {
                { "checking", 1 }, { "success", 0 }, { "failure", 0 }, { "others", 0 }, { NULL, 0 },
        };
        int test, tuya = -1, acc = -1;

        test = read_bool(p, obj, "test");
        or_into(&acc, test);
        or_into(&tuya, read_bool(p, obj, "self_test"));
        or_into(&tuya, read_enum(p, obj, "self_test_result", result_words,
                                 "\"checking\", \"success\", \"failure\" or \"others\""));
        /* 1: a test the rules may trust (an alarm meanwhile is the test); 2: Tuya's cached
         * "testing", recorded but suppressing nothing (see event.h). */
        if (acc != 1 && tuya == 1)
                acc = 2;
        else
                or_into(&acc, tuya);
        if (acc >= 0)
                emit(p, EVENT_SELF_TEST, acc);
        return test == 1;
}

static void json_state(struct parser *p, const cJSON *obj)
{
        const struct state_field *fields;
        enum event_type type;
        bool detector, testing = false;
        int acc = -1;

        kind_state(p->kind, &type, &fields, &detector);
        if (!fields)
                return;
        if (detector)
                testing = json_self_test(p, obj);
        for (const struct state_field *f = fields; f->name; f++)
                or_into(&acc, f->read(p, obj, f->name));
        if (acc < 0)
                return;
        if (testing && acc == 1)
                return; /* the test sounding: see json_self_test() */
        emit(p, type, acc);
}

/* Map a button action string: a button_action, or READ_NOTHING for "no press". Any other
 * string, even one in a language or encoding we do not know, is still a press. */
static int button_action_from_string(const char *s)
{
        /* Zigbee2MQTT publishes "" after every action (Home Assistant's legacy action sensor);
         * Heiman HS1EB reports zone status 0 as "off"; Aqara sends "release" after "hold". */
        if (isempty(s) || strcasecmp(s, "off") == 0 || strcasestr(s, "release"))
                return READ_NOTHING;
        /* Substrings, because multi-button devices prefix or suffix them: "1_single",
         * "single_left", "button_2_double", "press_long". Emergency first. */
        if (strcasestr(s, "emergency") || strcasestr(s, "sos") || strcasestr(s, "panic"))
                return BUTTON_EMERGENCY;
        if (strcasestr(s, "double"))
                return BUTTON_DOUBLE;
        if (strcasestr(s, "hold") || strcasestr(s, "long"))
                return BUTTON_LONG;
        if (strcasestr(s, "single") || strcasecmp(s, "press") == 0 || strcasecmp(s, "pressed") == 0 ||
            strcasecmp(s, "click") == 0)
                return BUTTON_SINGLE;
        return BUTTON_OTHER; /* "triple", "quadruple", "on", "arm_all_zones"…: still a press */
}

static void json_button(struct parser *p, const cJSON *obj)
{
        /* "click" is the legacy (Zigbee2MQTT < 2.0) name; read it only when there is no
         * "action", since legacy mode sent both for one press. */
        const char *name = field(obj, "action") ? "action" : "click";
        const cJSON *v = field(obj, name);
        bool pressed = false;

        if (v) {
                int a = READ_BAD;
                if (cJSON_IsString(v))
                        a = button_action_from_string(v->valuestring);
                else if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
                        a = BUTTON_OTHER; /* some devices number their buttons: a press all the same */
                if (a == READ_BAD)
                        bad_value(p, name, "an action such as \"single\" or \"emergency\"", v);
                else if (a != READ_NOTHING) {
                        emit(p, EVENT_BUTTON, a);
                        pressed = true;
                }
        }

        /* IAS "sos" zone (e.g. emergency pendants): true while the alarm is raised. One
         * press per message, even when the device also names it in "action". */
        if (read_bool(p, obj, "sos") == 1 && !pressed)
                emit(p, EVENT_BUTTON, BUTTON_EMERGENCY);
}

static void json_water_meter(struct parser *p, const cJSON *obj)
{
        /* Cumulative readings: the first one present wins. water_consumed is m³ in the
         * Zigbee2MQTT definitions of household meters (Tuya TS0601_water_meter, Frient
         * ZHEMI101); see docs/sensors.md for the devices that use litres under that name. */
        static const struct {
                const char *name;
                double litres_per_unit;
        } totals[] = {
                { "total_m3", 1000 },             /* wmbusmeters */
                { "water_consumed", 1000 },       /* Zigbee2MQTT, m³ */
                { "water_consumed_total", 1 },    /* Zigbee2MQTT, L */
                { "water_total", 1 },             /* Zigbee2MQTT (Tuya lib), L */
        }, rates[] = {
                { "flow_m3h", 1000 },             /* wmbusmeters: current flow */
                { "max_flow_m3h", 1000 },         /* wmbusmeters: highest flow in the last period */
                { "flow", 1000 },                 /* Zigbee2MQTT, m³/h */
                { "instantaneous_flow_rate", 1000 }, /* Zigbee2MQTT (Tuya), m³/h */
        };
        double d;

        for (size_t i = 0; i < ELEMENTSOF(totals); i++) {
                int r = read_number(p, obj, totals[i].name, 0, TOTAL_MAX_M3, "a meter reading ≥ 0", &d);
                if (r == READ_ABSENT)
                        continue;
                if (r == 0)
                        emit(p, EVENT_WATER_TOTAL,
                             totals[i].litres_per_unit == 1000 ? m3_to_litres(d)
                                                               : d * totals[i].litres_per_unit);
                break;
        }
        for (size_t i = 0; i < ELEMENTSOF(rates); i++) {
                int r = read_number(p, obj, rates[i].name, 0, FLOW_MAX_M3H, "a flow ≥ 0", &d);
                if (r == READ_ABSENT)
                        continue;
                if (r == 0)
                        emit(p, EVENT_WATER_FLOW_RATE, m3_to_litres(d));
                break;
        }
}

/* A flow switch that reports its rate in m³/h also gives the rate. */
static void json_flow_rate(struct parser *p, const cJSON *obj)
{
        const cJSON *v = field(obj, "flow");

        /* read_flowing() already said what is wrong with a bad number */
        if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= FLOW_MAX_M3H)
                emit(p, EVENT_WATER_FLOW_RATE, m3_to_litres(v->valuedouble));
}

/*
 * A door lock (Zigbee2MQTT's lock expose): "lock_state" is "locked", "unlocked" or
 * "not_fully_locked" (the bolt did not reach its end: a lock fault), and "" before the
 * lock has said anything. "state" (LOCK/UNLOCK) is what was last commanded or seen
 * and says nothing about a fault: not read. Read for doors only, before the contact,
 * so that for a contact-and-lock device the door's own state is the last one told.
 */
static void json_lock(struct parser *p, const cJSON *obj)
{
        static const struct word w[] = {
                { "locked", 0 }, { "unlocked", 0 }, { "not_fully_locked", 1 }, { "", READ_NOTHING }, { NULL, 0 },
        };
        int v = read_enum(p, obj, "lock_state", w, "\"locked\", \"unlocked\" or \"not_fully_locked\"");

        if (v == 0 || v == 1)
                emit(p, EVENT_LOCK_FAULT, v);
}

/* Battery, low battery and tamper: every kind. */
static void json_health(struct parser *p, const cJSON *obj)
{
        static const struct word level_words[] = {
                { "low", 1 }, { "medium", 0 }, { "middle", 0 }, { "high", 0 }, { NULL, 0 },
        };
        double d;
        int b;

        if (read_number(p, obj, "battery", 0, 100, "a percentage 0..100", &d) == 0)
                emit(p, EVENT_BATTERY, d);

        b = read_bool(p, obj, "battery_low");
        if (b == READ_ABSENT) {
                /* Tuya detectors without a percentage: battery_state (low/medium/high) or
                 * battery_level (low/middle/high). */
                b = read_enum(p, obj, "battery_state", level_words, "\"low\", \"medium\" or \"high\"");
                if (b == READ_ABSENT)
                        b = read_enum(p, obj, "battery_level", level_words,
                                      "\"low\", \"middle\" or \"high\"");
        }
        if (b >= 0)
                emit(p, EVENT_BATTERY_LOW, b);

        b = read_bool(p, obj, "tamper");
        if (b >= 0)
                emit(p, EVENT_TAMPER, b);
}

static void json_data(struct parser *p, const cJSON *obj)
{
        read_source_time(p, obj);
        switch (p->kind) {
        case SENSOR_BUTTON:
                json_button(p, obj);
                break;
        case SENSOR_WATER_METER:
                json_water_meter(p, obj);
                break;
        case SENSOR_WATER_FLOW:
                json_state(p, obj);
                json_flow_rate(p, obj);
                break;
        case SENSOR_DOOR:
                json_lock(p, obj);
                json_state(p, obj);
                break;
        case SENSOR_LEAK:
        case SENSOR_MOTION:
        case SENSOR_FALL:
        case SENSOR_SMOKE:
        case SENSOR_GAS:
        case SENSOR_CO:
                json_state(p, obj);
                break;
        case _SENSOR_KIND_MAX:
                break;
        }
        json_health(p, obj);
}

/* ---- plain payloads ----------------------------------------------------------------------------------------- */

#define WORD_SELF_TEST 2

/* For plain payloads 1 means "active": open door, wet floor, motion, alarm, fall, flowing. */
static const struct word leak_words[] = {
        { "1", 1 },   { "0", 0 },     { "on", 1 },    { "off", 0 },   { "true", 1 }, { "false", 0 },
        { "wet", 1 }, { "dry", 0 },   { "alarm", 1 }, { "clear", 0 }, { NULL, 0 },
};
static const struct word door_words[] = {
        { "1", 1 },    { "0", 0 },      { "on", 1 },     { "off", 0 }, { "true", 1 },
        { "false", 0 }, { "open", 1 }, { "closed", 0 }, { "close", 0 }, { NULL, 0 },
};
static const struct word motion_words[] = {
        { "1", 1 },     { "0", 0 },      { "on", 1 },       { "off", 0 },         { "true", 1 },
        { "false", 0 }, { "motion", 1 }, { "clear", 0 },    { "occupied", 1 }, { "unoccupied", 0 },
        { NULL, 0 },
};
static const struct word alarm_words[] = {
        { "1", 1 },     { "0", 0 },     { "on", 1 },     { "off", 0 },     { "true", 1 },
        { "false", 0 }, { "alarm", 1 }, { "clear", 0 }, { "normal", 0 }, { NULL, 0 },
};
static const struct word detector_words[] = {
        { "1", 1 },     { "0", 0 },      { "on", 1 },     { "off", 0 },                 { "true", 1 },
        { "false", 0 }, { "alarm", 1 }, { "clear", 0 }, { "normal", 0 }, { "test", WORD_SELF_TEST },
        { NULL, 0 },
};
static const struct word flow_words[] = {
        { "1", 1 }, { "0", 0 }, { "on", 1 }, { "off", 0 }, { "true", 1 }, { "false", 0 }, { NULL, 0 },
};
/* Presses map to a button_action; these mean "nothing pressed". */
static const struct word button_release_words[] = {
        { "0", 0 }, { "off", 0 }, { "false", 0 }, { "released", 0 }, { "release", 0 }, { NULL, 0 },
};
static const struct word button_press_words[] = {
        { "1", BUTTON_SINGLE },         { "on", BUTTON_SINGLE },        { "true", BUTTON_SINGLE },
        { "pressed", BUTTON_SINGLE },   { "press", BUTTON_SINGLE },     { "single", BUTTON_SINGLE },
        { "click", BUTTON_SINGLE },     { "double", BUTTON_DOUBLE },    { "long", BUTTON_LONG },
        { "hold", BUTTON_LONG },        { "emergency", BUTTON_EMERGENCY }, { "sos", BUTTON_EMERGENCY },
        { "panic", BUTTON_EMERGENCY },  { NULL, 0 },
};

static const char *plain_expected(enum sensor_kind kind)
{
        switch (kind) {
        case SENSOR_LEAK:
                return "1/0, ON/OFF, true/false, wet/dry or alarm/clear";
        case SENSOR_DOOR:
                return "1/0, ON/OFF, true/false or open/closed";
        case SENSOR_MOTION:
                return "1/0, ON/OFF, true/false, motion/clear or occupied/unoccupied";
        case SENSOR_FALL:
                return "1/0, ON/OFF, true/false or alarm/clear";
        case SENSOR_SMOKE:
        case SENSOR_GAS:
        case SENSOR_CO:
                return "1/0, ON/OFF, true/false, alarm/clear or test";
        case SENSOR_WATER_FLOW:
                return "1/0, ON/OFF or true/false";
        case SENSOR_BUTTON:
                return "1/ON/true/pressed/single/double/hold/emergency, or 0/OFF/released";
        case SENSOR_WATER_METER:
                return "a meter reading in m³, e.g. 123.456";
        case _SENSOR_KIND_MAX:
                break;
        }
        return "a known payload";
}

static const struct word availability_words[] = {
        { "online", 1 }, { "offline", 0 }, { "true", 1 }, { "false", 0 },
        { "1", 1 },      { "0", 0 },       { NULL, 0 },
};

/* s is trimmed, printable ASCII, at most PLAIN_MAX bytes; raw/len are the original payload for reasons. */
static int plain_data(struct parser *p, const char *s)
{
        const struct word *words = NULL;
        char shown[SHOW_MAX * 4 + 8];
        enum event_type type = 0;
        int v;

        /* A device topic that carries its own LWT (Tasmota, ESPHome) says online/offline too. */
        if (strcasecmp(s, "online") == 0 || strcasecmp(s, "offline") == 0) {
                emit(p, EVENT_AVAILABILITY, strcasecmp(s, "online") == 0);
                return 0;
        }

        switch (p->kind) {
        case SENSOR_LEAK:
                words = leak_words;
                type = EVENT_LEAK;
                break;
        case SENSOR_DOOR:
                words = door_words;
                type = EVENT_CONTACT;
                break;
        case SENSOR_MOTION:
                words = motion_words;
                type = EVENT_MOTION;
                break;
        case SENSOR_FALL:
                words = alarm_words;
                type = EVENT_FALL;
                break;
        case SENSOR_SMOKE:
                words = detector_words;
                type = EVENT_SMOKE;
                break;
        case SENSOR_GAS:
                words = detector_words;
                type = EVENT_GAS;
                break;
        case SENSOR_CO:
                words = detector_words;
                type = EVENT_CO;
                break;
        case SENSOR_WATER_FLOW:
                words = flow_words;
                type = EVENT_WATER_FLOW;
                break;
        case SENSOR_BUTTON:
                if (isempty(s) || word_lookup(button_release_words, s) >= 0)
                        return 0; /* "" is what Zigbee2MQTT's attribute output sends after an action */
                v = word_lookup(button_press_words, s);
                if (v >= 0) {
                        emit(p, EVENT_BUTTON, v);
                        return 0;
                }
                break;
        case SENSOR_WATER_METER: {
                double m3;
                int r = parse_decimal(s, &m3);
                if (r == 0 && m3 >= 0 && m3 <= TOTAL_MAX_M3) {
                        emit(p, EVENT_WATER_TOTAL, m3_to_litres(m3));
                        return 0;
                }
                if (r == 0 || r == -ERANGE) {
                        show_bytes(shown, sizeof(shown), s, strlen(s));
                        fail(p, "water meter reading: expected m³ ≥ 0, got %s", shown);
                        return -EINVAL;
                }
                break;
        }
        case _SENSOR_KIND_MAX:
                break;
        }

        if (words && (v = word_lookup(words, s)) >= 0) {
                emit(p, v == WORD_SELF_TEST ? EVENT_SELF_TEST : type, v == WORD_SELF_TEST ? 1 : v);
                return 0;
        }
        show_bytes(shown, sizeof(shown), s, strlen(s));
        fail(p, "expected %s, got %s", plain_expected(p->kind), shown);
        return -EINVAL;
}

/* ---- entry -------------------------------------------------------------------------------------------------- */

static bool json_too_deep(const char *s, size_t n)
{
        unsigned depth = 0;
        bool in_string = false;

        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (in_string) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                in_string = false;
                } else if (c == '"')
                        in_string = true;
                else if (c == '{' || c == '[') {
                        if (++depth > JSON_DEPTH_MAX)
                                return true;
                } else if ((c == '}' || c == ']') && depth > 0)
                        depth--;
        }
        return false;
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int parse_json(struct parser *p, enum payload_role role, const char *s, size_t n)
{
        const char *end = NULL, *nul;
        cJSON *j;

        /* cJSON takes every byte up to 32, NUL included, for white space. */
        nul = memchr(s, '\0', n);
        if (nul) {
                fail(p, "invalid JSON: NUL at byte %zu", (size_t)(nul - s));
                return -EBADMSG;
        }
        if (json_too_deep(s, n)) {
                fail(p, "JSON nested deeper than %d levels", JSON_DEPTH_MAX);
                return -EBADMSG;
        }
        j = cJSON_ParseWithLengthOpts(s, n, &end, false);
        if (!j) {
                /* cJSON reports an error at the end as the last byte. */
                size_t at = end && end >= s && end <= s + n ? (size_t)(end - s) : n;
                fail(p, "invalid JSON at byte %zu%s", at, at + 1 >= n ? " (truncated?)" : "");
                return -EBADMSG;
        }
        /* cJSON stops after the first value; anything but white space after it is not JSON. */
        for (; end && end < s + n; end++)
                if (!is_space(*end)) {
                        fail(p, "invalid JSON: bytes after the end at byte %zu", (size_t)(end - s));
                        cJSON_Delete(j);
                        return -EBADMSG;
                }
        if (!cJSON_IsObject(j)) {
                fail(p, "expected a JSON object, got %s",
                     cJSON_IsArray(j) ? "an array" : "another JSON value");
                cJSON_Delete(j);
                return -EBADMSG;
        }

        if (role == PAYLOAD_AVAILABILITY) {
                int v = read_enum(p, j, "state", availability_words, "\"online\" or \"offline\"");
                if (v >= 0)
                        emit(p, EVENT_AVAILABILITY, v);
                else if (v == READ_ABSENT)
                        fail(p, "availability: expected {\"state\":\"online\"} or {\"state\":\"offline\"}");
        } else
                json_data(p, j);

        cJSON_Delete(j);
        return 0;
}

/* Plain payloads: one word or number, maybe in JSON quotes, surrounding white space ignored. */
static int parse_plain(struct parser *p, enum payload_role role, char *s, size_t n)
{
        char shown[SHOW_MAX * 4 + 8];
        int v;

        if (n >= 2 && s[0] == '"' && s[n - 1] == '"' && !memchr(s + 1, '\\', n - 2)) {
                s[n - 1] = '\0';
                s++;
                n -= 2;
                while (n > 0 && is_space(*s))
                        s++, n--;
                while (n > 0 && is_space(s[n - 1]))
                        s[--n] = '\0';
        }
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f) {
                        fail(p, "expected %s, got %zu bytes of binary or non-ASCII data",
                             role == PAYLOAD_AVAILABILITY ? "online/offline" : plain_expected(p->kind), n);
                        return -EBADMSG;
                }
        if (n > PLAIN_MAX) {
                show_bytes(shown, sizeof(shown), s, n);
                fail(p, "expected %s, got %s (%zu bytes)",
                     role == PAYLOAD_AVAILABILITY ? "online/offline" : plain_expected(p->kind), shown, n);
                return -EBADMSG;
        }

        if (role == PAYLOAD_AVAILABILITY) {
                v = word_lookup(availability_words, s);
                if (v >= 0) {
                        emit(p, EVENT_AVAILABILITY, v);
                        return 0;
                }
                show_bytes(shown, sizeof(shown), s, n);
                fail(p, "availability: expected online/offline or {\"state\":\"online\"}, got %s", shown);
                return -EINVAL;
        }
        if (n == 0 && p->kind != SENSOR_BUTTON) {
                fail(p, "empty payload: expected %s", plain_expected(p->kind));
                return -EBADMSG;
        }
        return plain_data(p, s);
}

int payload_parse(enum sensor_kind kind, enum payload_role role, const void *data, size_t len,
                  struct payload_result *ret, char *reason, size_t reason_size)
{
        struct parser p = {
                .kind = kind,
                .ret = ret,
                .reason = reason,
                .reason_size = reason_size,
        };
        _cleanup_free_ char *copy = NULL;
        char *s;
        size_t n;
        int r;

        *ret = (struct payload_result){};
        if (reason && reason_size > 0)
                reason[0] = '\0';
        if ((unsigned)kind >= _SENSOR_KIND_MAX || (unsigned)role >= _PAYLOAD_ROLE_MAX) {
                fail(&p, "internal error: sensor kind %d or role %d unknown", (int)kind, (int)role);
                return -EINVAL;
        }
        if (!data && len > 0) {
                fail(&p, "internal error: no payload");
                return -EINVAL;
        }
        if (len > PAYLOAD_MAX_SIZE) {
                fail(&p, "payload of %zu bytes is larger than the limit of %d", len, PAYLOAD_MAX_SIZE);
                return -EMSGSIZE;
        }

        /* Our own NUL-terminated copy: cJSON and the string functions never see the
         * sender's buffer end, and plain payloads are trimmed in place. */
        copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        if (len > 0)
                memcpy(copy, data, len);
        copy[len] = '\0';

        s = copy;
        n = len;
        if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 BOM from a hand-made publisher */
                s += 3, n -= 3;
        while (n > 0 && is_space(*s))
                s++, n--;
        while (n > 0 && is_space(s[n - 1]))
                s[--n] = '\0';

        if (n > 0 && (s[0] == '{' || s[0] == '['))
                r = parse_json(&p, role, s, n);
        else
                r = parse_plain(&p, role, s, n);
        if (r < 0) {
                ret->n_events = 0;
                return r;
        }

        if (p.n_bad > 0) {
                if (ret->n_events == 0)
                        return -EINVAL;
                ret->partial = true;
                if (p.n_bad > 1 && reason) {
                        size_t l = strnlen(reason, reason_size);
                        if (l < reason_size)
                                snprintf(reason + l, reason_size - l, " (and %u more)", p.n_bad - 1);
                }
        }
        if (p.source_time > 0)
                for (size_t i = 0; i < ret->n_events; i++) {
                        ret->events[i].wall = p.source_time;
                        ret->events[i].flags |= EVENT_SOURCE_TIME;
                }
        return (int)ret->n_events;
}
