/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The schema's forward migrations (store-schema.c), used by store.c only. */
#pragma once

/* Number of migrations = the newest user_version. */
int store_schema_latest(void);
/* SQL that takes the database from from_version to from_version + 1, or NULL. */
const char *store_schema_migration(int from_version);
