/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule settings: the defaults, the table of key names (the config's [rules]
 * section and per-resident overrides use the same names; docs/rules.md
 * documents them), and parsing one key = value with a message for a person.
 */

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>

#include "rules/rules-internal.h"

static const char *const signal_names[_SIGNAL_MAX] = {
        [SIGNAL_ACTIVITY] = "activity",
        [SIGNAL_DOOR] = "door",
        [SIGNAL_MOTION] = "motion",
        [SIGNAL_WATER] = "water",
};

const char *rule_signal_to_string(enum rule_signal s)
{
        if ((unsigned)s >= _SIGNAL_MAX)
                return NULL;
        return signal_names[s];
}

int rule_signal_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _SIGNAL_MAX; i++)
                if (streq(s, signal_names[i]))
                        return i;
        return -EINVAL;
}

void rules_settings_default(struct rules_settings *ret)
{
        *ret = (struct rules_settings){
                .inactivity_after = 12 * USEC_PER_HOUR,
                .morning_check = true,
                .wake_start_min = 6 * 60,
                .wake_end_min = 10 * 60,
                .night_start_min = 22 * 60,
                .night_end_min = 6 * 60,
                .door_open_night_after = 10 * USEC_PER_MINUTE,
                .night_wandering = false,
                .wandering_not_closed_after = 5 * USEC_PER_MINUTE,
                .wandering_max_openings = 3,
                .building_door_held_after = 5 * USEC_PER_MINUTE,
                .offline_safety_after = 6 * USEC_PER_HOUR,
                .offline_other_after = 25 * USEC_PER_HOUR,
                .battery_low_percent = 20,
                .repeat_interval = USEC_PER_MINUTE,
                .water_low_litres = 10,
                .water_low_window = 12 * USEC_PER_HOUR,
                .water_gap = 2 * USEC_PER_HOUR,
                .tap_running_after = 30 * USEC_PER_MINUTE,
                .tap_min_flow = 1,
                .water_abnormal_litres_day = 2000,
                .water_every_slot = true,
                .n_combined = 1,
        };
        struct rules_combined *c = &ret->combined[0];
        snprintf(c->name, sizeof(c->name), "door_water");
        c->quiet[SIGNAL_DOOR] = 24 * USEC_PER_HOUR;
        c->quiet[SIGNAL_WATER] = 12 * USEC_PER_HOUR;
        c->severity = SEVERITY_CRITICAL;
}

/* ---- the table ----------------------------------------------------------------------------------------- */

enum setting_type {
        T_DURATION,
        T_BOOL,
        T_UINT,
        T_PERCENT,
        T_LITRES,
        T_FLOW,
        T_WINDOW,   /* "HH:MM-HH:MM" into two minute fields */
        T_COMBINED, /* a composed rule */
        T_COMBINED_DOOR,
        T_COMBINED_WATER,
};

struct setting {
        struct rules_setting_info info;
        enum setting_type type;
        size_t off, off2;
        usec_t max; /* durations: upper bound, 0 none */
};

#define F(f) offsetof(struct rules_settings, f)

static const struct setting settings[] = {
        { { "inactivity_after", "12h", "no activity signal for this long: welfare-check warning (0: off)" },
          T_DURATION, F(inactivity_after), 0, 0 },
        { { "morning_check", "yes", "warn when there is no activity inside the wake window by its end" },
          T_BOOL, F(morning_check), 0, 0 },
        { { "wake_window", "06:00-10:00", "local wake window of the morning check; its end is the deadline" },
          T_WINDOW, F(wake_start_min), F(wake_end_min), 0 },
        { { "night_hours", "22:00-06:00", "local night hours for the door rules (may cross midnight)" },
          T_WINDOW, F(night_start_min), F(night_end_min), 0 },
        { { "door_open_night_after", "10min", "flat door open this long during night hours: warning (0: off)" },
          T_DURATION, F(door_open_night_after), 0, 0 },
        { { "night_wandering", "no", "watch for night wandering (per resident, for people with dementia)" },
          T_BOOL, F(night_wandering), 0, 0 },
        { { "wandering_not_closed_after", "5min", "night wandering: door opened at night and not closed within this" },
          T_DURATION, F(wandering_not_closed_after), 0, 0 },
        { { "wandering_max_openings", "3", "night wandering: more door openings than this in one night" },
          T_UINT, F(wandering_max_openings), 0, 0 },
        { { "building_door_held_after", "5min", "building entrance door held open this long: info (0: off)" },
          T_DURATION, F(building_door_held_after), 0, 0 },
        { { "offline_safety_after", "6h", "leak, smoke, gas, CO, fall, button sensors silent this long are offline" },
          T_DURATION, F(offline_safety_after), 0, 0 },
        { { "offline_other_after", "25h", "door, motion and water sensors silent this long are offline" },
          T_DURATION, F(offline_other_after), 0, 0 },
        { { "battery_low_percent", "20", "battery under this percentage: info to the committee" },
          T_PERCENT, F(battery_low_percent), 0, 0 },
        { { "repeat_interval", "1min", "at most one repeat of an open alert per resident (or building) this often" },
          T_DURATION, F(repeat_interval), 0, 0 },
        { { "water_low_litres", "10", "water low use: under this many litres in the window (Jing'an: 10)" },
          T_LITRES, F(water_low_litres), 0, 0 },
        { { "water_low_window", "12h", "water low use: the window (12h, or 24h as Ningbo uses with 8 L; at most 24h; 0: off)" },
          T_DURATION, F(water_low_window), 0, 24 * USEC_PER_HOUR },
        { { "water_gap", "2h", "meter readings further apart than this leave the time between unknown" },
          T_DURATION, F(water_gap), 0, 0 },
        { { "tap_running_after", "30min", "water flowing without a pause this long: warning; twice as long: critical (0: off)" },
          T_DURATION, F(tap_running_after), 0, 0 },
        { { "tap_min_flow", "1", "litres per minute a running tap lets through at least (sets the pause between pulses)" },
          T_FLOW, F(tap_min_flow), 0, 0 },
        { { "water_abnormal_litres_day", "2000", "abnormal use: over this many litres in 24 hours (2 m³; 0: off)" },
          T_LITRES, F(water_abnormal_litres_day), 0, 0 },
        { { "water_every_slot", "yes", "abnormal use: flow in every half-hour slot of 24 hours" },
          T_BOOL, F(water_every_slot), 0, 0 },
        { { "combined", "door=24h,water=12h,severity=critical,name=door_water",
            "a composed welfare rule: signals (activity, door, motion, water) quiet this long, all at once; \"off\" removes all" },
          T_COMBINED, 0, 0, 0 },
        { { "combined_door_quiet", "24h", "the default combined rule: door unused this long (0: drop the door part)" },
          T_COMBINED_DOOR, 0, 0, 0 },
        { { "combined_water_quiet", "12h", "the default combined rule: no water this long (0: drop the water part)" },
          T_COMBINED_WATER, 0, 0, 0 },
};

const struct rules_setting_info *rules_settings_table(size_t *ret_n)
{
        static struct rules_setting_info infos[ELEMENTSOF(settings)];

        /* Filled once from the one table; constant data, so no race worth a lock. */
        if (!infos[0].key)
                for (size_t i = 0; i < ELEMENTSOF(settings); i++)
                        infos[i] = settings[i].info;
        *ret_n = ELEMENTSOF(settings);
        return infos;
}

/* ---- parsing ------------------------------------------------------------------------------------------- */

_printf_(2, 3) static int fail(char **ret_error, const char *fmt, ...)
{
        va_list ap;

        if (!ret_error)
                return 0;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return 0;
}

static size_t edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

        if (lb >= ELEMENTSOF(prev))
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
                        size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
                        cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
                }
                memcpy(prev, cur, (lb + 1) * sizeof(size_t));
        }
        return prev[lb];
}

static int parse_hhmm(const char *s, unsigned *ret)
{
        unsigned h, m;
        int n = 0;

        if (sscanf(s, "%2u:%2u%n", &h, &m, &n) != 2 || s[n] || h > 24 || m > 59 || (h == 24 && m))
                return -EINVAL;
        *ret = h * 60 + m;
        return 0;
}

static int parse_window(const char *value, unsigned *ret_start, unsigned *ret_end)
{
        char a[8], b[8];
        int n = 0;

        if (sscanf(value, " %7[0-9:] - %7[0-9:] %n", a, b, &n) != 2 || value[n])
                return -EINVAL;
        if (parse_hhmm(a, ret_start) < 0 || parse_hhmm(b, ret_end) < 0)
                return -EINVAL;
        if (*ret_start == 24 * 60)
                *ret_start = 0;
        if (*ret_end == 24 * 60)
                *ret_end = 0;
        return 0;
}

static int parse_off_or_duration(const char *value, usec_t *ret)
{
        if (streq(value, "off") || streq(value, "no")) {
                *ret = 0;
                return 0;
        }
        return parse_duration(value, ret);
}

/* "door=24h,water=12h,severity=critical,name=door_water" */
static int parse_combined(const char *value, struct rules_combined *ret, char **ret_error)
{
        _cleanup_free_ char *copy = strdup(value);
        struct rules_combined c = { .severity = SEVERITY_WARNING };
        bool any = false;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *tok = strtok_r(copy, ",;", &save); tok; tok = strtok_r(NULL, ",;", &save)) {
                char *eq = strchr(tok, '=');
                if (!eq) {
                        fail(ret_error, "combined: \"%s\" is not name=value; write e.g. door=24h,water=12h,severity=critical,name=door_water",
                             strstrip(tok));
                        return -EINVAL;
                }
                *eq = 0;
                char *k = strstrip(tok), *v = strstrip(eq + 1);
                int sig = rule_signal_from_string(k);
                if (sig >= 0) {
                        usec_t d;
                        if (parse_duration(v, &d) < 0 || d == 0) {
                                fail(ret_error, "combined: %s=%s is not a duration; write e.g. %s=24h", k, v, k);
                                return -EINVAL;
                        }
                        c.quiet[sig] = d;
                        any = true;
                } else if (streq(k, "severity")) {
                        int s = severity_from_string(v);
                        if (s < 0) {
                                fail(ret_error, "combined: severity=%s: write info, warning or critical", v);
                                return -EINVAL;
                        }
                        c.severity = s;
                } else if (streq(k, "name")) {
                        if (isempty(v) || strlen(v) >= sizeof(c.name) || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(v)) {
                                fail(ret_error, "combined: name=%s: use up to %zu characters a-z, 0-9, _", v, sizeof(c.name) - 1);
                                return -EINVAL;
                        }
                        snprintf(c.name, sizeof(c.name), "%s", v);
                } else {
                        fail(ret_error, "combined: unknown part \"%s\"; the signals are activity, door, motion, water, plus severity= and name=", k);
                        return -EINVAL;
                }
        }
        if (!any) {
                fail(ret_error, "combined: name at least one signal, e.g. door=24h,water=12h");
                return -EINVAL;
        }
        if (!c.name[0]) {
                /* Name it after its signals so the text key is stable. */
                size_t l = 0;
                for (int i = 0; i < _SIGNAL_MAX; i++)
                        if (c.quiet[i] && l + strlen(signal_names[i]) + 2 < sizeof(c.name))
                                l += (size_t)snprintf(c.name + l, sizeof(c.name) - l, "%s%s", l ? "_" : "", signal_names[i]);
        }
        *ret = c;
        return 0;
}

static struct rules_combined *default_combined(struct rules_settings *s)
{
        for (unsigned i = 0; i < s->n_combined; i++)
                if (streq(s->combined[i].name, "door_water"))
                        return &s->combined[i];
        if (s->n_combined >= RULES_COMBINED_MAX)
                return NULL;
        struct rules_combined *c = &s->combined[s->n_combined++];
        *c = (struct rules_combined){ .severity = SEVERITY_CRITICAL };
        snprintf(c->name, sizeof(c->name), "door_water");
        return c;
}

static void drop_empty_combined(struct rules_settings *s)
{
        unsigned k = 0;
        for (unsigned i = 0; i < s->n_combined; i++) {
                bool any = false;
                for (int j = 0; j < _SIGNAL_MAX; j++)
                        any = any || s->combined[i].quiet[j];
                if (any)
                        s->combined[k++] = s->combined[i];
        }
        s->n_combined = k;
}

static int set_one(struct rules_settings *s, const struct setting *t, const char *value, char **ret_error)
{
        void *p = (char *)s + t->off;
        const char *key = t->info.key;
        int r;

        switch (t->type) {
        case T_DURATION: {
                usec_t d;
                if (parse_off_or_duration(value, &d) < 0) {
                        fail(ret_error, "%s = %s: not a duration; write e.g. %s = %s (units s, min, h, d; 0 or off to switch off)",
                             key, value, key, t->info.default_value);
                        return -EINVAL;
                }
                if (t->max && d > t->max) {
                        fail(ret_error, "%s = %s: at most %llu h", key, value, (unsigned long long)(t->max / USEC_PER_HOUR));
                        return -EINVAL;
                }
                if (t->off == F(repeat_interval) && d > USEC_PER_HOUR) {
                        fail(ret_error, "%s = %s: at most 1h, or people would miss repeats", key, value);
                        return -EINVAL;
                }
                *(usec_t *)p = d;
                return 0;
        }
        case T_BOOL:
                r = parse_yes_no(value);
                if (r < 0 && (streq(value, "on") || streq(value, "off")))
                        r = streq(value, "on");
                if (r < 0) {
                        fail(ret_error, "%s = %s: write yes or no", key, value);
                        return -EINVAL;
                }
                *(bool *)p = r;
                return 0;
        case T_UINT:
        case T_PERCENT: {
                int v;
                if (safe_atoi(value, &v) < 0 || v < 0 || (t->type == T_PERCENT && v > 100) || v > 200) {
                        fail(ret_error, "%s = %s: write a whole number%s, e.g. %s", key, value,
                             t->type == T_PERCENT ? " from 0 to 100" : " from 0 to 200", t->info.default_value);
                        return -EINVAL;
                }
                *(unsigned *)p = (unsigned)v;
                return 0;
        }
        case T_LITRES:
        case T_FLOW: {
                double v;
                char *end;
                errno = 0;
                v = strtod(value, &end);
                while (isspace((unsigned char)*end))
                        end++;
                /* Litres may be written as cubic metres, the unit on the meter and in the street offices' rules. */
                if (t->type == T_LITRES && (streq(end, "m3") || streq(end, "m³")))
                        v *= 1000;
                else if (t->type == T_LITRES && (streq(end, "L") || streq(end, "l")))
                        ;
                else if (*end)
                        v = NAN;
                if (errno || !isfinite(v) || v < 0 || v > 1e7 || (t->type == T_FLOW && v <= 0)) {
                        fail(ret_error, "%s = %s: write %s, e.g. %s", key, value,
                             t->type == T_FLOW ? "litres per minute above 0" : "litres (or m3)", t->info.default_value);
                        return -EINVAL;
                }
                *(double *)p = v;
                return 0;
        }
        case T_WINDOW: {
                unsigned a, b;
                if (parse_window(value, &a, &b) < 0) {
                        fail(ret_error, "%s = %s: write local times HH:MM-HH:MM, e.g. %s", key, value, t->info.default_value);
                        return -EINVAL;
                }
                if (a == b) {
                        fail(ret_error, "%s = %s: the start and end must differ", key, value);
                        return -EINVAL;
                }
                /* The wake window is a morning: it may not run over midnight. */
                if (t->off == F(wake_start_min) && a > b) {
                        fail(ret_error, "%s = %s: the window must end after it starts on the same day, e.g. 06:00-10:00",
                             key, value);
                        return -EINVAL;
                }
                *(unsigned *)p = a;
                *(unsigned *)((char *)s + t->off2) = b;
                return 0;
        }
        case T_COMBINED: {
                struct rules_combined c;
                if (streq(value, "off") || streq(value, "none")) {
                        s->n_combined = 0;
                        return 0;
                }
                r = parse_combined(value, &c, ret_error);
                if (r < 0)
                        return r;
                for (unsigned i = 0; i < s->n_combined; i++)
                        if (streq(s->combined[i].name, c.name)) {
                                s->combined[i] = c; /* the same name replaces: a resident override */
                                return 0;
                        }
                if (s->n_combined >= RULES_COMBINED_MAX) {
                        fail(ret_error, "combined: at most %d composed rules; remove one (combined = off clears all)",
                             RULES_COMBINED_MAX);
                        return -EINVAL;
                }
                s->combined[s->n_combined++] = c;
                return 0;
        }
        case T_COMBINED_DOOR:
        case T_COMBINED_WATER: {
                usec_t d;
                if (parse_off_or_duration(value, &d) < 0) {
                        fail(ret_error, "%s = %s: not a duration; write e.g. %s = %s", key, value, key, t->info.default_value);
                        return -EINVAL;
                }
                struct rules_combined *c = default_combined(s);
                if (!c) {
                        fail(ret_error, "%s: no room for the door_water rule; remove a combined rule first", key);
                        return -EINVAL;
                }
                c->quiet[t->type == T_COMBINED_DOOR ? SIGNAL_DOOR : SIGNAL_WATER] = d;
                drop_empty_combined(s);
                return 0;
        }
        }
        return -EINVAL;
}

int rules_settings_set(struct rules_settings *s, const char *key, const char *value, char **ret_error)
{
        const struct setting *best = NULL;
        size_t best_d = SIZE_MAX;

        if (ret_error)
                *ret_error = NULL;
        if (!s || !key || !value)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(settings); i++)
                if (streq(key, settings[i].info.key)) {
                        struct rules_settings copy = *s;
                        _cleanup_free_ char *v = strdup(value);
                        if (!v)
                                return -ENOMEM;
                        int r = set_one(&copy, &settings[i], strstrip(v), ret_error);
                        if (r < 0)
                                return r;
                        *s = copy;
                        return 0;
                }
        for (size_t i = 0; i < ELEMENTSOF(settings); i++) {
                size_t d = edit_distance(key, settings[i].info.key);
                if (d < best_d) {
                        best_d = d;
                        best = &settings[i];
                }
        }
        if (best && best_d <= 4)
                fail(ret_error, "unknown rules setting \"%s\"; did you mean \"%s\"?", key, best->info.key);
        else
                fail(ret_error, "unknown rules setting \"%s\"; the known ones are listed in docs/rules.md", key);
        return -ENOENT;
}

/* Two settings are the same when every field is (padding aside): residents share one copy. */
bool rules_settings_equal(const struct rules_settings *a, const struct rules_settings *b)
{
        if (a->inactivity_after != b->inactivity_after || a->morning_check != b->morning_check ||
            a->wake_start_min != b->wake_start_min || a->wake_end_min != b->wake_end_min ||
            a->night_start_min != b->night_start_min || a->night_end_min != b->night_end_min ||
            a->door_open_night_after != b->door_open_night_after || a->night_wandering != b->night_wandering ||
            a->wandering_not_closed_after != b->wandering_not_closed_after ||
            a->wandering_max_openings != b->wandering_max_openings ||
            a->building_door_held_after != b->building_door_held_after ||
            a->offline_safety_after != b->offline_safety_after || a->offline_other_after != b->offline_other_after ||
            a->battery_low_percent != b->battery_low_percent || a->repeat_interval != b->repeat_interval ||
            a->water_low_litres != b->water_low_litres || a->water_low_window != b->water_low_window ||
            a->water_gap != b->water_gap || a->tap_running_after != b->tap_running_after ||
            a->tap_min_flow != b->tap_min_flow || a->water_abnormal_litres_day != b->water_abnormal_litres_day ||
            a->water_every_slot != b->water_every_slot || a->n_combined != b->n_combined)
                return false;
        for (unsigned i = 0; i < a->n_combined && i < RULES_COMBINED_MAX; i++) {
                if (!streq(a->combined[i].name, b->combined[i].name) || a->combined[i].severity != b->combined[i].severity)
                        return false;
                for (int j = 0; j < _SIGNAL_MAX; j++)
                        if (a->combined[i].quiet[j] != b->combined[i].quiet[j])
                                return false;
        }
        return true;
}
