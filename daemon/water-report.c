/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A resident's water use per local day and hour, for shouwangctl water (issue 11). */

#include "daemon/water-report.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdarg.h>

#include "daemon/roster.h"
#include "daemon/store.h"
#include "daemon/table.h"
#include "sensors/source.h"

#define SLOT_SECS 1800

static const char *const state_names[] = {
        [WATER_KNOWN] = "known",
        [WATER_PARTIAL] = "partial",
        [WATER_UNKNOWN] = "unknown",
        [WATER_NOT_YET] = "not_yet",
        [WATER_SKIPPED] = "skipped",
};

const char *water_state_to_string(enum water_state s)
{
        return (unsigned)s < ELEMENTSOF(state_names) ? state_names[s] : "?";
}

/* ---- building the report ------------------------------------------------------------------------------- */

static int local_hour(int64_t wall_s)
{
        time_t t = (time_t)wall_s;
        struct tm tm;

        return localtime_r(&t, &tm) ? tm.tm_hour : 0;
}

/* First slot whose half-hour starts at or after t (seconds). */
static int64_t slot_at_or_after(int64_t t)
{
        return t >= 0 ? (t + SLOT_SECS - 1) / SLOT_SECS : -((-t) / SLOT_SECS);
}

int water_report_new(usec_t last_day, unsigned n_days, usec_t now, WaterReport **ret)
{
        _cleanup_(water_report_freep) WaterReport *w = NULL;
        time_t t = (time_t)(last_day / USEC_PER_SEC);
        struct tm base;

        if (n_days < 1 || n_days > WATER_REPORT_MAX_DAYS || !localtime_r(&t, &base))
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->days = calloc(n_days, sizeof(*w->days));
        if (!w->days)
                return -ENOMEM;
        w->n_days = n_days;
        w->now = now;

        for (unsigned i = 0; i < n_days; i++) {
                struct water_day *d = &w->days[i];
                struct tm a = { .tm_year = base.tm_year, .tm_mon = base.tm_mon,
                                .tm_mday = base.tm_mday - (int)(n_days - 1 - i), .tm_isdst = -1 };
                struct tm b = { .tm_year = base.tm_year, .tm_mon = base.tm_mon,
                                .tm_mday = base.tm_mday - (int)(n_days - 1 - i) + 1, .tm_isdst = -1 };
                time_t ta = mktime(&a), tb = mktime(&b);

                if (ta == (time_t)-1 || tb == (time_t)-1 || tb <= ta)
                        return -EINVAL;
                d->start = (usec_t)ta * USEC_PER_SEC;
                d->end = (usec_t)tb * USEC_PER_SEC;
                d->wday = a.tm_wday;
                strftime(d->date, sizeof(d->date), "%Y-%m-%d", &a);
                for (int h = 0; h < 24; h++)
                        d->hours[h].hour = h;
                /* Which local hour each half-hour of the day starts in, and whether it has ended. */
                for (int64_t s = slot_at_or_after(ta); s * SLOT_SECS < (int64_t)tb; s++) {
                        struct water_hour *hr = &d->hours[local_hour(s * SLOT_SECS)];
                        hr->n_half++;
                        if ((usec_t)(s + 1) * SLOT_SECS * USEC_PER_SEC <= now)
                                hr->n_half_ended++;
                }
        }
        *ret = TAKE_PTR(w);
        return 0;
}

WaterReport *water_report_free(WaterReport *w)
{
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_meters; i++) {
                free(w->meters[i].id);
                free(w->meters[i].kind);
                free(w->meters[i].source);
        }
        free(w->meters);
        free(w->days);
        free(w->resident_id);
        free(w->resident_name);
        free(w->building_id);
        free(w->flat);
        free(w);
        return NULL;
}

static int set_string(char **slot, const char *v)
{
        char *c = strdup(strempty(v));

        if (!c)
                return -ENOMEM;
        free(*slot);
        *slot = c;
        return 0;
}

int water_report_set_resident(WaterReport *w, const char *id, const char *name, const char *building,
                              const char *flat)
{
        if (set_string(&w->resident_id, id) < 0 || set_string(&w->resident_name, name) < 0 ||
            set_string(&w->building_id, building) < 0 || set_string(&w->flat, flat) < 0)
                return -ENOMEM;
        return 0;
}

int water_report_add_meter(WaterReport *w, int64_t num, const char *id, const char *kind, const char *source,
                           bool counted, usec_t last_slot_end)
{
        struct water_meter *nm = realloc(w->meters, (w->n_meters + 1) * sizeof(*nm));
        struct water_meter *m;

        if (!nm)
                return -ENOMEM;
        w->meters = nm;
        m = &w->meters[w->n_meters];
        *m = (struct water_meter){ .num = num, .counted = counted, .last_slot_end = last_slot_end };
        if (set_string(&m->id, id) < 0 || set_string(&m->kind, kind) < 0 || set_string(&m->source, source) < 0) {
                free(m->id);
                free(m->kind);
                free(m->source);
                return -ENOMEM;
        }
        return (int)w->n_meters++;
}

void water_report_add_slot(WaterReport *w, size_t meter, int64_t slot, int64_t ml)
{
        int64_t t = slot * SLOT_SECS;

        if (meter >= w->n_meters || !w->meters[meter].counted || ml < 0 || t < 0)
                return;
        for (size_t i = 0; i < w->n_days; i++) {
                struct water_day *d = &w->days[i];
                if ((usec_t)t * USEC_PER_SEC < d->start || (usec_t)t * USEC_PER_SEC >= d->end)
                        continue;
                struct water_hour *hr = &d->hours[local_hour(t)];
                hr->ml += ml;
                hr->n_stored++;
                if ((usec_t)(t + SLOT_SECS) * USEC_PER_SEC <= w->now)
                        hr->n_ended_known++;
                return;
        }
}

size_t water_report_n_counted(const WaterReport *w)
{
        size_t n = 0;

        for (size_t i = 0; i < w->n_meters; i++)
                n += w->meters[i].counted;
        return n;
}

static enum water_state hour_state(const struct water_hour *hr, size_t n_counted)
{
        unsigned expected = hr->n_half_ended * (unsigned)n_counted;

        if (hr->n_half == 0)
                return WATER_SKIPPED;
        if (expected == 0)
                /* Nothing has ended yet: water already stored is known, the rest is to come. */
                return hr->n_stored > 0 ? WATER_KNOWN : WATER_NOT_YET;
        if (hr->n_ended_known >= expected)
                return WATER_KNOWN;
        /* "At least 0 litres" says nothing: a meter that reported no water next to one that did not
         * report leaves the hour unknown. */
        return hr->ml > 0 ? WATER_PARTIAL : WATER_UNKNOWN;
}

void water_report_finish(WaterReport *w)
{
        size_t n_counted = water_report_n_counted(w);

        for (size_t i = 0; i < w->n_days; i++) {
                struct water_day *d = &w->days[i];
                unsigned known = 0, not_yet = 0;

                d->ml = 0;
                d->unknown_hours = d->partial_hours = 0;
                for (int h = 0; h < 24; h++) {
                        struct water_hour *hr = &d->hours[h];
                        hr->state = hour_state(hr, n_counted);
                        d->ml += hr->ml;
                        switch (hr->state) {
                        case WATER_KNOWN:
                                known++;
                                break;
                        case WATER_PARTIAL:
                                d->partial_hours++;
                                break;
                        case WATER_UNKNOWN:
                                d->unknown_hours++;
                                break;
                        case WATER_NOT_YET:
                                not_yet++;
                                break;
                        case WATER_SKIPPED:
                                break;
                        }
                }
                if (known == 0 && d->partial_hours == 0 && d->unknown_hours == 0)
                        d->state = not_yet > 0 ? WATER_NOT_YET : WATER_UNKNOWN;
                else if (d->partial_hours == 0 && d->unknown_hours == 0)
                        d->state = WATER_KNOWN;
                else if (known == 0 && d->partial_hours == 0)
                        d->state = WATER_UNKNOWN;
                else
                        d->state = WATER_PARTIAL;
        }
}

/* ---- from the store ------------------------------------------------------------------------------------ */

_printf_(2, 3) static void set_error(char **ret_error, const char *fmt, ...)
{
        va_list ap;
        char *m = NULL;

        if (!ret_error)
                return;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free(*ret_error);
        *ret_error = m;
}

static int sqlite_fail(Store *s, int rc, const char *what, char **ret_error)
{
        set_error(ret_error, "Cannot read %s from %s: %s", what, strempty(store_path(s)),
                  sqlite3_errmsg(store_db(s)));
        return rc == SQLITE_NOMEM ? -ENOMEM : rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY : -EIO;
}

static bool measures_litres(const char *kind, const char *source, bool has_slots)
{
        struct sensor_source src = { 0 };
        bool pulses;

        if (streq(kind, "water_meter") || has_slots)
                return true;
        pulses = sensor_source_parse(source, &src, NULL) >= 0 && src.litres_per_pulse > 0;
        sensor_source_done(&src);
        return pulses;
}

static int load_meters(Store *s, WaterReport *w, char **ret_error)
{
        static const char sql[] = "SELECT s.num, s.id, s.kind, s.source,"
                                  "       (SELECT max(ws.slot) FROM water_slots ws WHERE ws.sensor_num = s.num)"
                                  "  FROM sensors s"
                                  " WHERE s.resident_id = ?1 AND s.kind IN ('water_meter', 'water_flow')"
                                  " ORDER BY s.id";
        sqlite3_stmt *st = NULL;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(s, rc, "the water meters", ret_error);
        sqlite3_bind_text(st, 1, w->resident_id, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *)sqlite3_column_text(st, 1);
                const char *kind = (const char *)sqlite3_column_text(st, 2);
                const char *source = (const char *)sqlite3_column_text(st, 3);
                bool has_slots = sqlite3_column_type(st, 4) != SQLITE_NULL;
                usec_t last = has_slots ? (usec_t)(sqlite3_column_int64(st, 4) + 1) * SLOT_SECS * USEC_PER_SEC : 0;

                r = water_report_add_meter(w, sqlite3_column_int64(st, 0), id, kind, source,
                                           measures_litres(strempty(kind), strempty(source), has_slots), last);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sqlite_fail(s, rc, "the water meters", ret_error);
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

static int load_slots(Store *s, WaterReport *w, char **ret_error)
{
        static const char sql[] = "SELECT slot, ml FROM water_slots WHERE sensor_num = ?1 AND slot >= ?2 AND slot < ?3";
        int64_t from = slot_at_or_after((int64_t)(w->days[0].start / USEC_PER_SEC));
        int64_t to = slot_at_or_after((int64_t)(w->days[w->n_days - 1].end / USEC_PER_SEC));
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(s, rc, "the water use", ret_error);
        for (size_t i = 0; i < w->n_meters; i++) {
                if (!w->meters[i].counted)
                        continue;
                sqlite3_reset(st);
                sqlite3_bind_int64(st, 1, w->meters[i].num);
                sqlite3_bind_int64(st, 2, from);
                sqlite3_bind_int64(st, 3, to);
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        water_report_add_slot(w, i, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
                if (rc != SQLITE_DONE) {
                        int r = sqlite_fail(s, rc, "the water use", ret_error);
                        sqlite3_finalize(st);
                        return r;
                }
        }
        sqlite3_finalize(st);
        return 0;
}

int water_report_load(Store *s, const char *resident_id, usec_t last_day, unsigned n_days, usec_t now,
                      WaterReport **ret, char **ret_error)
{
        _cleanup_(water_report_freep) WaterReport *w = NULL;
        size_t nc = roster_kind_info(ROSTER_RESIDENTS)->n_columns;
        char **v = NULL;
        int r;

        *ret = NULL;
        r = store_roster_get(s, ROSTER_RESIDENTS, (char *[]){ (char *)resident_id }, &v);
        if (r == -ENOENT) {
                set_error(ret_error, "There is no resident %s — shouwangctl residents list shows their ids.",
                          resident_id);
                return r;
        }
        if (r < 0) {
                set_error(ret_error, "%s", store_error(s));
                return r;
        }
        r = water_report_new(last_day, n_days, now, &w);
        if (r >= 0)
                r = water_report_set_resident(w, v[0], v[1], v[2], v[3]);
        roster_row_clear(v, nc);
        free(v);
        if (r < 0) {
                set_error(ret_error, r == -ENOMEM ? "Out of memory" : "Cannot place those days in local time");
                return r;
        }
        r = load_meters(s, w, ret_error);
        if (r < 0)
                return r;
        if (w->n_meters == 0) {
                set_error(ret_error,
                          "%s (%s) has no water meter, so shouwang knows nothing about their water use. A meter "
                          "is a sensor of kind water_meter (水表) in shouwangctl sensors list.",
                          w->resident_name, w->resident_id);
                return -ENODEV;
        }
        if (water_report_n_counted(w) == 0) {
                set_error(ret_error,
                          "%s (%s) has only a water-flow switch (%s), which says whether water runs but not how "
                          "much; it has never reported any litres. Water use needs a water meter (水表).",
                          w->resident_name, w->resident_id, w->meters[0].id);
                return -ENODEV;
        }
        r = load_slots(s, w, ret_error);
        if (r < 0)
                return r;
        water_report_finish(w);
        *ret = TAKE_PTR(w);
        return 0;
}

/* ---- output ---------------------------------------------------------------------------------------------- */

static cJSON *litres_json(int64_t ml, enum water_state state)
{
        if (state == WATER_KNOWN || state == WATER_PARTIAL)
                return cJSON_CreateNumber((double)ml / 1000.0);
        return cJSON_CreateNull();
}

struct cJSON *water_report_json(const WaterReport *w, const char *timezone)
{
        char iso[ISO8601_MAX];
        cJSON *o = cJSON_CreateObject(), *res, *meters, *days;
        bool ok = o != NULL;

        if (!ok)
                return NULL;
        res = cJSON_AddObjectToObject(o, "resident");
        ok = ok && res && cJSON_AddStringToObject(res, "id", strempty(w->resident_id)) &&
             cJSON_AddStringToObject(res, "name", strempty(w->resident_name)) &&
             cJSON_AddStringToObject(res, "building", strempty(w->building_id)) &&
             cJSON_AddStringToObject(res, "flat", strempty(w->flat));
        ok = ok && (timezone ? cJSON_AddStringToObject(o, "timezone", timezone) != NULL
                             : cJSON_AddNullToObject(o, "timezone") != NULL);
        ok = ok && cJSON_AddStringToObject(o, "generated_at", format_iso8601(iso, sizeof(iso), w->now));

        meters = ok ? cJSON_AddArrayToObject(o, "meters") : NULL;
        ok = ok && meters;
        for (size_t i = 0; ok && i < w->n_meters; i++) {
                const struct water_meter *m = &w->meters[i];
                cJSON *j = cJSON_CreateObject();
                ok = j && cJSON_AddItemToArray(meters, j);
                ok = ok && cJSON_AddStringToObject(j, "id", m->id) && cJSON_AddStringToObject(j, "kind", m->kind) &&
                     cJSON_AddBoolToObject(j, "counted", m->counted);
                ok = ok && (m->last_slot_end
                                    ? cJSON_AddStringToObject(j, "reported_until",
                                                              format_iso8601(iso, sizeof(iso), m->last_slot_end)) != NULL
                                    : cJSON_AddNullToObject(j, "reported_until") != NULL);
        }

        days = ok ? cJSON_AddArrayToObject(o, "days") : NULL;
        ok = ok && days;
        for (size_t i = 0; ok && i < w->n_days; i++) {
                const struct water_day *d = &w->days[i];
                cJSON *j = cJSON_CreateObject(), *hours;
                ok = j && cJSON_AddItemToArray(days, j);
                ok = ok && cJSON_AddStringToObject(j, "date", d->date) &&
                     cJSON_AddStringToObject(j, "start", format_iso8601(iso, sizeof(iso), d->start)) &&
                     cJSON_AddItemToObject(j, "litres", litres_json(d->ml, d->state)) &&
                     cJSON_AddStringToObject(j, "state", water_state_to_string(d->state)) &&
                     cJSON_AddNumberToObject(j, "unknown_hours", d->unknown_hours) &&
                     cJSON_AddNumberToObject(j, "partial_hours", d->partial_hours);
                hours = ok ? cJSON_AddArrayToObject(j, "hours") : NULL;
                ok = ok && hours;
                for (int h = 0; ok && h < 24; h++) {
                        const struct water_hour *hr = &d->hours[h];
                        cJSON *k = cJSON_CreateObject();
                        ok = k && cJSON_AddItemToArray(hours, k);
                        ok = ok && cJSON_AddNumberToObject(k, "hour", hr->hour) &&
                             cJSON_AddItemToObject(k, "litres", litres_json(hr->ml, hr->state)) &&
                             cJSON_AddStringToObject(k, "state", water_state_to_string(hr->state));
                }
        }
        if (!ok) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

/* "12.5", "12.5+" (a lower bound), "?" (unknown), "" (not yet), "-" (no such hour). */
static void format_cell(int64_t ml, enum water_state state, char *buf, size_t size)
{
        switch (state) {
        case WATER_KNOWN:
                snprintf(buf, size, "%.1f", (double)ml / 1000.0);
                return;
        case WATER_PARTIAL:
                snprintf(buf, size, "%.1f+", (double)ml / 1000.0);
                return;
        case WATER_UNKNOWN:
                snprintf(buf, size, "?");
                return;
        case WATER_NOT_YET:
                buf[0] = '\0';
                return;
        case WATER_SKIPPED:
                snprintf(buf, size, "-");
                return;
        }
        buf[0] = '\0';
}

/* Right-align a cell under a header `width` columns wide (cells are ASCII). */
static void pad_left(char *buf, size_t size, size_t width)
{
        size_t n = strlen(buf);

        if (n == 0 || n >= width || width >= size)
                return;
        memmove(buf + (width - n), buf, n + 1);
        memset(buf, ' ', width - n);
}

static const char *const weekdays[] = { "周日", "周一", "周二", "周三", "周四", "周五", "周六" };

int water_report_print(const WaterReport *w, const char *timezone, FILE *f)
{
        _cleanup_(table_freep) Table *t = NULL;
        const char *cells[1 + WATER_REPORT_MAX_DAYS];
        char headers[WATER_REPORT_MAX_DAYS][48], values[WATER_REPORT_MAX_DAYS][48], label[32];
        size_t width[WATER_REPORT_MAX_DAYS];
        bool any_partial = false, any_skipped = false, any_not_yet = false;
        size_t n = w->n_days;

        if (n > WATER_REPORT_MAX_DAYS)
                return -EINVAL;
        fprintf(f, "%s (%s), %s %s: water used, in litres per hour, %s time\n", strempty(w->resident_name),
                strempty(w->resident_id), strempty(w->building_id), strempty(w->flat), timezone ? timezone : "local");
        for (size_t i = 0; i < w->n_meters; i++) {
                const struct water_meter *m = &w->meters[i];
                char when[32];
                fprintf(f, "  meter %s (%s)", m->id, m->kind);
                if (!m->counted)
                        fprintf(f, ": a flow switch, it measures no litres; not counted\n");
                else if (!m->last_slot_end)
                        fprintf(f, ": has never reported\n");
                else if (m->last_slot_end + USEC_PER_HOUR < w->now) {
                        time_t tt = (time_t)(m->last_slot_end / USEC_PER_SEC);
                        struct tm tm;
                        if (localtime_r(&tt, &tm))
                                strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
                        else
                                snprintf(when, sizeof(when), "?");
                        fprintf(f, ": nothing reported since %s\n", when);
                } else
                        fputc('\n', f);
        }
        fputc('\n', f);

        cells[0] = "hour";
        for (size_t i = 0; i < n; i++) {
                const struct water_day *d = &w->days[i];
                snprintf(headers[i], sizeof(headers[i]), "%s %s", d->date, weekdays[d->wday % 7]);
                width[i] = utf8_display_width(headers[i]);
                cells[1 + i] = headers[i];
        }
        t = table_new(1 + n, cells);
        if (!t)
                return -ENOMEM;
        for (int h = 0; h < 24; h++) {
                snprintf(label, sizeof(label), "%02d:00", h);
                cells[0] = label;
                for (size_t i = 0; i < n; i++) {
                        const struct water_hour *hr = &w->days[i].hours[h];
                        format_cell(hr->ml, hr->state, values[i], sizeof(values[i]));
                        pad_left(values[i], sizeof(values[i]), width[i]);
                        cells[1 + i] = values[i];
                        any_partial = any_partial || hr->state == WATER_PARTIAL;
                        any_skipped = any_skipped || hr->state == WATER_SKIPPED;
                        any_not_yet = any_not_yet || hr->state == WATER_NOT_YET;
                }
                if (table_add_row(t, cells) < 0)
                        return -ENOMEM;
        }
        cells[0] = "total";
        for (size_t i = 0; i < n; i++) {
                any_partial = any_partial || w->days[i].state == WATER_PARTIAL;
                format_cell(w->days[i].ml, w->days[i].state, values[i], sizeof(values[i]));
                pad_left(values[i], sizeof(values[i]), width[i]);
                cells[1 + i] = values[i];
        }
        if (table_add_row(t, cells) < 0)
                return -ENOMEM;
        cells[0] = "hours unknown";
        for (size_t i = 0; i < n; i++) {
                snprintf(values[i], sizeof(values[i]), "%u", w->days[i].unknown_hours + w->days[i].partial_hours);
                pad_left(values[i], sizeof(values[i]), width[i]);
                cells[1 + i] = values[i];
        }
        if (table_add_row(t, cells) < 0)
                return -ENOMEM;
        table_print(t, f);

        fputc('\n', f);
        fprintf(f, "  ?      unknown: the meter was not reporting. That is not the same as no water.\n");
        if (any_partial)
                fprintf(f, "  12.5+  at least 12.5 litres: part of the hour (or day) is unknown.\n");
        if (any_not_yet)
                fprintf(f, "  blank  not yet; today's total is so far.\n");
        if (any_skipped)
                fprintf(f, "  -      no such hour that day (the clocks changed).\n");
        return 0;
}
