/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon object: one sd-event loop owns everything (store, roster and
 * rules, alerts and outbox, MQTT, GPIO, timers, signals, watchdog).
 * READY=1 goes out once the store is open and the sources are armed;
 * STATUS= on changes; SIGHUP reloads the config (a broken file keeps the
 * old one); SIGTERM/SIGINT stop cleanly.
 */
#pragma once

#include "daemon/util.h"

typedef struct Manager Manager;

/* config_path NULL: the default /etc/shouwang/shouwang.conf (defaults if it does not exist). */
int manager_new(const char *config_path, const char *database_override, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_FREE_FUNC(Manager, manager_free);

/* Open the store, arm sources, send READY=1, run until asked to stop. Returns 0 or -errno. */
int manager_run(Manager *m);

/* Signals the daemon handles on its loop; blocked in main() before any library starts a thread. */
int manager_block_signals(void);
