/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sensor health judgement and its wording. */

#include "sensors/health.h"

#include <time.h>

usec_t sensor_kind_silence_limit(enum sensor_kind kind)
{
        switch (kind) {
        case SENSOR_LEAK:
        case SENSOR_SMOKE:
        case SENSOR_GAS:
        case SENSOR_CO:
        case SENSOR_FALL:
        case SENSOR_BUTTON:
                return 6 * USEC_PER_HOUR;
        case SENSOR_DOOR:
        case SENSOR_MOTION:
        case SENSOR_WATER_FLOW:
        case SENSOR_WATER_METER:
                return 25 * USEC_PER_HOUR;
        case _SENSOR_KIND_MAX:
                break;
        }
        return 25 * USEC_PER_HOUR;
}

enum sensor_condition sensor_condition(enum sensor_kind kind, bool wired, const struct sensor_health *h,
                                       usec_t now)
{
        if (h->available == 0)
                return SENSOR_OFFLINE;
        if (h->last_seen == 0)
                return SENSOR_NEVER_SEEN;
        if (!wired && now > h->last_seen && now - h->last_seen > sensor_kind_silence_limit(kind))
                return SENSOR_SILENT;
        if (h->battery >= 0 && h->battery < SENSOR_BATTERY_LOW_PERCENT)
                return SENSOR_BATTERY_LOW;
        return SENSOR_OK;
}

static const char *short_time(usec_t t, usec_t now, char *buf, size_t size)
{
        time_t tt = (time_t)(t / USEC_PER_SEC);
        struct tm tm;

        if (!localtime_r(&tt, &tm))
                return "?";
        /* Within the last day the time is enough; older needs the date. */
        strftime(buf, size, now - t < 20 * USEC_PER_HOUR ? "%H:%M" : "%m-%d %H:%M", &tm);
        return buf;
}

char *sensor_health_describe(enum sensor_kind kind, bool wired, const struct sensor_health *h, usec_t now,
                             char *buf, size_t size)
{
        char t[32];

        switch (sensor_condition(kind, wired, h, now)) {
        case SENSOR_OK:
                if (h->battery >= 0)
                        snprintf(buf, size, "ok (battery %d%%)", h->battery);
                else
                        snprintf(buf, size, "ok");
                break;
        case SENSOR_NEVER_SEEN:
                snprintf(buf, size, "never seen");
                break;
        case SENSOR_OFFLINE:
                if (h->available_since)
                        snprintf(buf, size, "offline since %s", short_time(h->available_since, now, t, sizeof(t)));
                else
                        snprintf(buf, size, "offline");
                break;
        case SENSOR_SILENT:
                snprintf(buf, size, "offline: silent since %s", short_time(h->last_seen, now, t, sizeof(t)));
                break;
        case SENSOR_BATTERY_LOW:
                snprintf(buf, size, "battery %d%%", h->battery);
                break;
        }
        return buf;
}
