/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Wall clock synchronisation and jumps. */

#include "daemon/clock.h"

#include <sys/timerfd.h>
#include <sys/timex.h>

#include "daemon/log.h"

struct ClockWatch {
        sd_event *event;
        int tfd;
        sd_event_source *change, *poll;
        clock_cb cb;
        void *userdata;
        bool synced;
};

bool clock_is_synced(void)
{
        const char *e = getenv("SHOUWANG_CLOCK_SYNCED");
        struct timex tx = { 0 };

        if (e)
                return streq(e, "1") || streq(e, "yes");
        if (access("/run/systemd/timesync/synchronized", F_OK) == 0)
                return true;
        return adjtimex(&tx) >= 0 && adjtimex(&tx) != TIME_ERROR;
}

static void check(ClockWatch *w, bool jumped);

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
        check(userdata, false);
        return 0;
}

static int arm_cancel_on_set(int fd)
{
        /* A timer far in the future whose only purpose is to be cancelled when
         * someone sets the wall clock: read() then fails with ECANCELED. */
        struct itimerspec its = { .it_value = { .tv_sec = INT32_MAX } };
        return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0 ? -errno : 0;
}

static int on_change(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        uint64_t v;

        if (read(fd, &v, sizeof(v)) < 0 && errno == ECANCELED) {
                (void)arm_cancel_on_set(fd);
                check(userdata, true);
        }
        return 0;
}

static void check(ClockWatch *w, bool jumped)
{
        bool synced = clock_is_synced();
        usec_t now;

        if ((synced != w->synced || jumped) && w->cb) {
                w->synced = synced;
                w->cb(w, synced, jumped, w->userdata);
        }
        w->synced = synced;
        if (!synced) {
                sd_event_now(w->event, CLOCK_BOOTTIME, &now);
                if (w->poll) {
                        (void)sd_event_source_set_time(w->poll, now + USEC_PER_MINUTE);
                        (void)sd_event_source_set_enabled(w->poll, SD_EVENT_ONESHOT);
                } else
                        (void)sd_event_add_time(w->event, &w->poll, CLOCK_BOOTTIME, now + USEC_PER_MINUTE,
                                                USEC_PER_SEC * 5, on_poll, w);
        }
}

int clock_watch_new(sd_event *e, clock_cb cb, void *userdata, ClockWatch **ret)
{
        ClockWatch *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        w->event = sd_event_ref(e);
        w->cb = cb;
        w->userdata = userdata;
        w->synced = clock_is_synced();
        /* Fires whenever the wall clock is set: NTP's first step after boot, or a person. */
        w->tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
        r = w->tfd < 0 ? -errno : arm_cancel_on_set(w->tfd);
        if (r >= 0)
                r = sd_event_add_io(e, &w->change, w->tfd, EPOLLIN, on_change, w);
        if (r < 0)
                log_warning_errno(r, "Cannot watch for clock changes: %m — checking once a minute instead");
        if (!w->synced)
                check(w, false);
        *ret = w;
        return 0;
}

ClockWatch *clock_watch_free(ClockWatch *w)
{
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->change);
        sd_event_source_disable_unref(w->poll);
        if (w->tfd >= 0)
                close(w->tfd);
        sd_event_unref(w->event);
        free(w);
        return NULL;
}

bool clock_watch_synced(ClockWatch *w)
{
        return w->synced;
}
