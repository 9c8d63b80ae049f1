/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Local time for the wall-clock rules: today's date and minute, "06:00 on
 * that date" as a wall time, and the night hours. Everything goes through
 * localtime_r()/mktime() with tm_isdst = -1, so the time zone's rules (TZ)
 * decide DST: on the night the clocks go forward a 22:00-06:00 night is an
 * hour shorter, and a deadline is always the local time people read.
 *
 * Dates are kept as yyyymmdd integers: compact, readable in a debugger, and
 * compared with ==.
 */

#include <time.h>

#include "rules/rules-internal.h"

int local_date_minute(usec_t wall, int *ret_date, unsigned *ret_minute)
{
        time_t t = (time_t)(wall / USEC_PER_SEC);
        struct tm tm;

        if (!localtime_r(&t, &tm))
                return -EINVAL;
        *ret_date = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
        *ret_minute = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
        return 0;
}

/*
 * The wall time of local date + minute. A time that does not exist (inside
 * the hour skipped in spring) comes out as mktime() normalises it, an hour
 * later; one that exists twice (autumn) as the first. Cached: a tick that
 * judges 10,000 residents' morning checks asks for the same few times.
 */
usec_t local_time_at(Rules *r, int date, unsigned minute)
{
        for (unsigned i = 0; i < LOCAL_CACHE_N; i++)
                if (r->cache[i].wall && r->cache[i].date == date && r->cache[i].minute == minute)
                        return r->cache[i].wall;

        struct tm tm = {
                .tm_year = date / 10000 - 1900,
                .tm_mon = date / 100 % 100 - 1,
                .tm_mday = date % 100,
                .tm_hour = (int)(minute / 60),
                .tm_min = (int)(minute % 60),
                .tm_isdst = -1,
        };
        time_t t = mktime(&tm);
        if (t == (time_t)-1 || t < 0)
                return USEC_INFINITY;

        usec_t w = (usec_t)t * USEC_PER_SEC;
        struct local_cache *c = &r->cache[r->cache_next++ % LOCAL_CACHE_N];
        *c = (struct local_cache){ .date = date, .minute = minute, .wall = w };
        return w;
}

/* Calendar arithmetic only (UTC), so DST cannot move a date. */
int date_add_days(int date, int days)
{
        struct tm tm = {
                .tm_year = date / 10000 - 1900,
                .tm_mon = date / 100 % 100 - 1,
                .tm_mday = date % 100 + days,
                .tm_hour = 12,
        };
        time_t t = timegm(&tm);
        struct tm out;

        if (t == (time_t)-1 || !gmtime_r(&t, &out))
                return date;
        return (out.tm_year + 1900) * 10000 + (out.tm_mon + 1) * 100 + out.tm_mday;
}

bool minute_in_range(unsigned m, unsigned start, unsigned end)
{
        if (start == end)
                return false;
        if (start < end)
                return m >= start && m < end;
        return m >= start || m < end; /* crosses midnight */
}

bool night_now(Rules *r, const struct rules_settings *s, const struct now_ctx *n, usec_t *ret_start, usec_t *ret_end,
               int *ret_id, usec_t *ret_next_start)
{
        unsigned a = s->night_start_min, b = s->night_end_min;

        *ret_next_start = USEC_INFINITY;
        if (!n->wall_ok || a == b)
                return false;

        if (minute_in_range(n->minute, a, b)) {
                int id = (a > b && n->minute < b) ? date_add_days(n->date, -1) : n->date;
                *ret_id = id;
                *ret_start = local_time_at(r, id, a);
                *ret_end = local_time_at(r, a > b ? date_add_days(id, 1) : id, b);
                /* A clock read inside the skipped spring hour may put "start" after now: clamp. */
                if (*ret_start > n->c->wall)
                        *ret_start = n->c->wall;
                return true;
        }
        *ret_next_start = local_time_at(r, n->minute < a ? n->date : date_add_days(n->date, 1), a);
        return false;
}

void now_ctx_init(struct now_ctx *n, const struct rules_clock *c)
{
        *n = (struct now_ctx){ .c = c, .s = secs_from_usec(c->mono), .wall_ok = c->synced };
        if (n->wall_ok && local_date_minute(c->wall, &n->date, &n->minute) < 0)
                n->wall_ok = false;
}
