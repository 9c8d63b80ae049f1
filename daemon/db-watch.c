/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Commits by other processes, noticed through inotify and PRAGMA data_version. */

#include "daemon/db-watch.h"

#include <libgen.h>
#include <sys/inotify.h>

#include "daemon/log.h"

struct DbWatch {
        sd_event *event;
        Store *store;
        usec_t interval;
        db_watch_cb cb;
        void *userdata;
        sd_event_source *inotify, *timer;
        char *base;      /* file name of the database */
        int64_t version;
};

static int on_check(sd_event_source *s, uint64_t usec, void *userdata)
{
        DbWatch *w = userdata;
        int64_t v = store_data_version(w->store);

        if (v >= 0 && v != w->version) {
                w->version = v;
                if (w->cb)
                        w->cb(w, w->userdata);
        }
        return 0;
}

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
        DbWatch *w = userdata;
        usec_t now;

        if (ev->len == 0 || !startswith(ev->name, w->base))
                return 0;
        /* One check per interval however many files were closed. */
        int enabled = SD_EVENT_OFF;
        if (w->timer && sd_event_source_get_enabled(w->timer, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                return 0;
        sd_event_now(w->event, CLOCK_BOOTTIME, &now);
        if (w->timer) {
                (void)sd_event_source_set_time(w->timer, now + w->interval);
                (void)sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
        } else
                (void)sd_event_add_time(w->event, &w->timer, CLOCK_BOOTTIME, now + w->interval, w->interval / 4,
                                        on_check, w);
        return 0;
}

int db_watch_new(sd_event *e, Store *store, usec_t interval, db_watch_cb cb, void *userdata, DbWatch **ret)
{
        _cleanup_free_ char *dir = NULL, *base = NULL;
        DbWatch *w;
        int r;

        dir = strdup(store_path(store));
        base = strdup(store_path(store));
        if (!dir || !base)
                return -ENOMEM;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->event = sd_event_ref(e);
        w->store = store;
        w->interval = interval ? interval : 200 * USEC_PER_MSEC;
        w->cb = cb;
        w->userdata = userdata;
        w->base = strdup(basename(base));
        w->version = store_data_version(store);
        if (!w->base) {
                db_watch_free(w);
                return -ENOMEM;
        }
        /* shouwangctl closes its connection when it exits; the daemon never closes
         * its own. So IN_CLOSE_WRITE on the database or its WAL means another
         * process wrote, and our own commits cost no wakeup at all. */
        r = sd_event_add_inotify(e, &w->inotify, dirname(dir), IN_CLOSE_WRITE | IN_MOVED_TO, on_inotify, w);
        if (r < 0) {
                db_watch_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

DbWatch *db_watch_free(DbWatch *w)
{
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->inotify);
        sd_event_source_disable_unref(w->timer);
        sd_event_unref(w->event);
        free(w->base);
        free(w);
        return NULL;
}
