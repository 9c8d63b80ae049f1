/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Notice when another process (shouwangctl: an import, an ack, a test alert)
 * committed to the database, so the daemon reloads the roster or sends
 * what was planned. inotify on the database's directory wakes us when
 * another process closes the database or its WAL after writing;
 * PRAGMA data_version confirms that another connection committed.
 * At most one check per interval, nothing at all when idle.
 */
#pragma once

#include <systemd/sd-event.h>

#include "daemon/store.h"

typedef struct DbWatch DbWatch;
typedef void (*db_watch_cb)(DbWatch *w, void *userdata);

int db_watch_new(sd_event *e, Store *store, usec_t interval, db_watch_cb cb, void *userdata, DbWatch **ret);
DbWatch *db_watch_free(DbWatch *w);
DEFINE_FREE_FUNC(DbWatch, db_watch_free);
