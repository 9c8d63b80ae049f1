/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the store: the Store struct and the statement helpers shared by
 * store.c and the files that hold other tables (store-alerts.c,
 * store-state.c). Nothing outside daemon/store*.c includes this.
 */
#pragma once

#include <sqlite3.h>

#include "daemon/store.h"

#define STMT_CACHE_MAX 96
#define BUSY_TIMEOUT_MS 5000

struct Store {
        sqlite3 *db;
        char *path;
        char error[512];
        struct {
                const char *sql; /* static string: the cache keys on its address */
                sqlite3_stmt *stmt;
        } cache[STMT_CACHE_MAX];
        size_t n_cache;
        struct checkpointer *checkpointer; /* STORE_OPEN_CHECKPOINT_LATER */
};


/* SQLite result code → negative errno. */
int store_sqlite_to_errno(int rc);
/* Record SQLite's message with what we were doing; returns -errno. */
int store_fail_sqlite(Store *s, int rc, const char *what);
_printf_(2, 3) void store_set_error(Store *s, const char *fmt, ...);
/* The prepared statement for a static SQL string (cached by address), reset and unbound. NULL on error. */
sqlite3_stmt *store_stmt(Store *s, const char *sql);
void store_bind_text(sqlite3_stmt *st, int i, const char *v);
void store_bind_text_or_null(sqlite3_stmt *st, int i, const char *v);
/* Step a statement that returns no rows we need; reset it. 0 or -errno. */
int store_step_done(Store *s, sqlite3_stmt *st, const char *what);
int store_exec(Store *s, const char *sql, const char *what);

/* One number about one sensor: the first column of sql's first row, sql taking the sensor's id as ?1. -ENOENT
 * with "There is no sensor …" when it has no row; what names the step in other failures. */
int store_sensor_int64(Store *s, const char *sql, const char *sensor_id, int64_t *ret, const char *what);

/* The group commit's sensor_health upsert (store-state.c), also behind store_sensor_health_set(): ?1 the
 * sensor's number, ?2…?7 its health and the time, bound by store_bind_health(). */
extern const char store_sql_health_upsert[];
void store_bind_health(sqlite3_stmt *st, const struct store_health_update *u, usec_t now);

/* A text column as a malloc'd string (NULL for SQL NULL or OOM). */
static inline char *store_col_dup(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);
        return t ? strdup((const char *)t) : NULL;
}

/* A time column (usec), 0 for SQL NULL. */
static inline usec_t store_col_usec(sqlite3_stmt *st, int i)
{
        return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : (usec_t)sqlite3_column_int64(st, i);
}
