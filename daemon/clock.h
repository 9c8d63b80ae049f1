/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Is the wall clock to be trusted? A Pi has no RTC: after a power cut it
 * boots with the time it shut down (or 1970) until NTP answers. Until then
 * time-of-day rules wait and timestamps are marked unsynced.
 *
 * Synchronised when systemd-timesyncd says so (/run/systemd/timesync/
 * synchronized exists) or the kernel's NTP state is synchronised
 * (adjtimex() does not return TIME_ERROR). The watcher re-checks when the
 * clock is set (sd_event_add_time_change) and once a minute until synced.
 */
#pragma once

#include <systemd/sd-event.h>

#include "daemon/util.h"

typedef struct ClockWatch ClockWatch;
typedef void (*clock_cb)(ClockWatch *w, bool synced, bool jumped, void *userdata);

/* SHOUWANG_CLOCK_SYNCED=1/0 in the environment overrides the check (tests, demo). */
bool clock_is_synced(void);

int clock_watch_new(sd_event *e, clock_cb cb, void *userdata, ClockWatch **ret);
ClockWatch *clock_watch_free(ClockWatch *w);
DEFINE_FREE_FUNC(ClockWatch, clock_watch_free);
bool clock_watch_synced(ClockWatch *w);
