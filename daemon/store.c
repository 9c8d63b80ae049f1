/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SQLite store: opening (mode 0600, WAL, foreign keys, busy timeout),
 * migrations, the statement cache, and roster / away / health / audit
 * access. Writing events and the rules' state (store-state.c), alerts and
 * deliveries (store-alerts.c) have their own files.
 */

#include "daemon/store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "daemon/log.h"
#include "daemon/store-internal.h"
#include "daemon/store-schema.h"

static __thread char open_error[512];

const char *store_open_error(void)
{
        return open_error;
}

const char *store_error(Store *s)
{
        return s ? s->error : open_error;
}

_printf_(2, 3) void store_set_error(Store *s, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(s->error, sizeof(s->error), fmt, ap);
        va_end(ap);
}

/* SQLite result code → negative errno, where our code meets SQLite's. */
int store_sqlite_to_errno(int rc)
{
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
                return -EINVAL;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_TOOBIG:
                return -E2BIG;
        default:
                return -EIO;
        }
}

/* Record SQLite's own message with what we were doing, return -errno. */
int store_fail_sqlite(Store *s, int rc, const char *what)
{
        int r = store_sqlite_to_errno(rc);

        if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
                store_set_error(s, "%s: the database %s is busy (another shouwangctl or a stuck process holds it) — "
                             "try again in a moment",
                          what, s->path);
        else if ((rc & 0xff) == SQLITE_FULL)
                store_set_error(s, "%s: the disk holding %s is full — free space, nothing was changed", what, s->path);
        else if ((rc & 0xff) == SQLITE_READONLY)
                store_set_error(s, "%s: %s is read-only for this user — run as the shouwang user or with sudo", what,
                          s->path);
        else
                store_set_error(s, "%s: %s", what, sqlite3_errmsg(s->db));
        return r ? r : -EIO;
}

sqlite3 *store_db(Store *s)
{
        return s->db;
}

/* A prepared statement for a static SQL string, prepared once and reset for reuse. */
sqlite3_stmt *store_stmt(Store *s, const char *sql)
{
        sqlite3_stmt *st = NULL;
        int rc;

        for (size_t i = 0; i < s->n_cache; i++)
                if (s->cache[i].sql == sql) {
                        sqlite3_reset(s->cache[i].stmt);
                        sqlite3_clear_bindings(s->cache[i].stmt);
                        return s->cache[i].stmt;
                }
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK) {
                store_fail_sqlite(s, rc, "Preparing a statement");
                return NULL;
        }
        if (s->n_cache < STMT_CACHE_MAX) {
                s->cache[s->n_cache].sql = sql;
                s->cache[s->n_cache].stmt = st;
                s->n_cache++;
        } else
                abort(); /* the set of statements is fixed at compile time: raise STMT_CACHE_MAX */
        return st;
}

void store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
        sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

/* Empty string binds as NULL (optional references). */
void store_bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
        if (isempty(v))
                sqlite3_bind_null(st, i);
        else
                sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

int store_step_done(Store *s, sqlite3_stmt *st, const char *what)
{
        int rc = sqlite3_step(st);
        int r = 0;

        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                r = store_fail_sqlite(s, rc, what);
        sqlite3_reset(st);
        return r;
}

int store_exec(Store *s, const char *sql, const char *what)
{
        char *msg = NULL;
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

        if (rc != SQLITE_OK) {
                store_set_error(s, "%s: %s", what, msg ? msg : sqlite3_errstr(rc));
                sqlite3_free(msg);
                return store_sqlite_to_errno(rc) ?: -EIO;
        }
        return 0;
}

/*
 * STORE_OPEN_CHECKPOINT_LATER's thread. It owns a connection of its own (SQLite's multi-thread mode: one thread per
 * connection) and sleeps until the loop's WAL hook says a commit left STORE_CHECKPOINT_PAGES or more; then it copies
 * the WAL into the database file as far as readers allow (a PASSIVE checkpoint: it waits for nobody). The loop's
 * commits go on meanwhile, and the first after a complete checkpoint starts the WAL again from its beginning. It
 * touches nothing else of the store; a failure is logged and tried again at the next full commit.
 */
struct checkpointer {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool due, stop;
        char *path;
};

static void *checkpointer_main(void *userdata)
{
        struct checkpointer *c = userdata;
        sqlite3 *db = NULL;
        int rc;

        pthread_mutex_lock(&c->lock);
        for (;;) {
                while (!c->due && !c->stop)
                        pthread_cond_wait(&c->wake, &c->lock);
                if (c->stop)
                        break;
                c->due = false;
                pthread_mutex_unlock(&c->lock);

                if (!db) {
                        rc = sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
                        /* A connection finds the WAL when it first reads; until then a checkpoint does nothing. */
                        if (rc == SQLITE_OK)
                                rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
                } else
                        rc = SQLITE_OK;
                if (rc == SQLITE_OK)
                        rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
                if (rc != SQLITE_OK)
                        log_warning("Cannot copy the write-ahead log into %s: %s — trying again after the next write",
                                    c->path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
                if (rc != SQLITE_OK && db) {
                        sqlite3_close_v2(db);
                        db = NULL;
                }
                pthread_mutex_lock(&c->lock);
        }
        pthread_mutex_unlock(&c->lock);
        if (db)
                sqlite3_close_v2(db);
        return NULL;
}

static void checkpointer_free(struct checkpointer *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->wake);
        free(c->path);
        free(c);
}

static int checkpointer_new(const char *path, struct checkpointer **ret)
{
        struct checkpointer *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return -ENOMEM;
        c->path = strdup(path);
        if (!c->path) {
                free(c);
                return -ENOMEM;
        }
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->wake, NULL);
        r = -pthread_create(&c->thread, NULL, checkpointer_main, c);
        if (r < 0) {
                pthread_mutex_destroy(&c->lock);
                pthread_cond_destroy(&c->wake);
                free(c->path);
                free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* Called by SQLite after each commit of the store's own connection, in place of its checkpointing hook. */
static int wal_hook(void *userdata, sqlite3 *db, const char *name, int pages)
{
        struct checkpointer *c = userdata;

        if (pages >= STORE_CHECKPOINT_PAGES) {
                pthread_mutex_lock(&c->lock);
                c->due = true;
                pthread_cond_signal(&c->wake);
                pthread_mutex_unlock(&c->lock);
        }
        return SQLITE_OK;
}

Store *store_free(Store *s)
{
        if (!s)
                return NULL;
        if (s->db)
                (void)sqlite3_wal_hook(s->db, NULL, NULL);
        checkpointer_free(s->checkpointer);
        for (size_t i = 0; i < s->n_cache; i++)
                sqlite3_finalize(s->cache[i].stmt);
        if (s->db)
                sqlite3_close_v2(s->db);
        free(s->path);
        free(s);
        return NULL;
}

int store_schema_version(Store *s)
{
        sqlite3_stmt *st = store_stmt(s, "PRAGMA user_version");
        int v = -EIO;

        if (!st)
                return -EIO;
        if (sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int(st, 0);
        sqlite3_reset(st);
        return v;
}

static int migrate(Store *s, int target)
{
        int current, r;

        current = store_schema_version(s);
        if (current < 0)
                return current;
        if (current > store_schema_latest()) {
                store_set_error(s,
                          "%s has schema version %d, but this shouwang only knows up to %d — it was written by a "
                          "newer shouwang; install that version again (downgrading the database is not supported)",
                          s->path, current, store_schema_latest());
                return -EPROTO;
        }
        if (current >= target)
                return 0;

        r = store_exec(s, "BEGIN IMMEDIATE", "Starting the schema migration");
        if (r < 0)
                return r;
        for (int v = current; v < target; v++) {
                char what[96];
                snprintf(what, sizeof(what), "Migrating the schema from version %d to %d", v, v + 1);
                r = store_exec(s, store_schema_migration(v), what);
                if (r < 0) {
                        store_exec(s, "ROLLBACK", "Rolling back");
                        return r;
                }
        }
        /* user_version cannot be bound; target is our own integer. */
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", target);
        r = store_exec(s, pragma, "Recording the schema version");
        if (r < 0) {
                store_exec(s, "ROLLBACK", "Rolling back");
                return r;
        }
        return store_exec(s, "COMMIT", "Committing the schema migration");
}

static int store_open_full(const char *path, unsigned flags, int target_version, Store **ret)
{
        _cleanup_(store_freep) Store *s = NULL;
        struct stat st;
        int rc, r;

        *ret = NULL;
        open_error[0] = '\0';

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->path = strdup(path);
        if (!s->path)
                return -ENOMEM;

        if (!(flags & STORE_OPEN_READONLY)) {
                /* Create the file ourselves so it is 0600 from the first byte; SQLite gives
                 * the -wal and -shm files the same mode. Tighten an existing file too. */
                _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY |
                                                            ((flags & STORE_OPEN_CREATE) ? O_CREAT : 0),
                                              0600);
                if (fd < 0) {
                        r = -errno;
                        if (r == -ENOENT && !(flags & STORE_OPEN_CREATE))
                                snprintf(open_error, sizeof(open_error),
                                         "%s does not exist — check [general] database in the config, or start "
                                         "shouwangd once to create it",
                                         path);
                        else
                                snprintf(open_error, sizeof(open_error), "Cannot open %s: %s", path,
                                         strerror(-r));
                        return r;
                }
                if (fstat(fd, &st) == 0 && (st.st_mode & 0077))
                        (void)fchmod(fd, st.st_mode & 0700);
        } else if (access(path, R_OK) < 0) {
                r = -errno;
                snprintf(open_error, sizeof(open_error), "Cannot read %s: %s", path, strerror(-r));
                return r;
        }

        rc = sqlite3_open_v2(path, &s->db,
                             ((flags & STORE_OPEN_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                                     SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                snprintf(open_error, sizeof(open_error), "Cannot open %s: %s", path,
                         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
                return store_sqlite_to_errno(rc) ?: -EIO;
        }
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

        /* A file that is not a database shows up on the first read. */
        r = store_exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;", "Setting up the database");
        if (r >= 0 && (flags & STORE_OPEN_SMALL_CACHE))
                r = store_exec(s, "PRAGMA cache_size = -512;", "Setting up the database");
        if (r >= 0 && !(flags & STORE_OPEN_READONLY))
                r = store_exec(s, "PRAGMA journal_mode = WAL;", "Switching the database to WAL mode");
        if (r >= 0 && (flags & STORE_OPEN_CHECKPOINT_LATER) && !(flags & STORE_OPEN_READONLY)) {
                r = checkpointer_new(path, &s->checkpointer);
                if (r < 0)
                        snprintf(s->error, sizeof(s->error), "Cannot start the thread that checkpoints %s: %s", path,
                                 strerror(-r));
                else
                        (void)sqlite3_wal_hook(s->db, wal_hook, s->checkpointer);
        }
        if (r >= 0)
                r = store_schema_version(s);
        if (r < 0) {
                snprintf(open_error, sizeof(open_error), "%s: %s%s", path, s->error,
                         r == -EBADMSG ? " — this file is not a shouwang database or is damaged; restore a backup"
                                       : "");
                return r;
        }

        if (!(flags & STORE_OPEN_READONLY)) {
                r = migrate(s, target_version);
                if (r < 0) {
                        snprintf(open_error, sizeof(open_error), "%s", s->error);
                        return r;
                }
        } else if (store_schema_version(s) > store_schema_latest()) {
                snprintf(open_error, sizeof(open_error),
                         "%s was written by a newer shouwang (schema %d, this one knows %d)", path,
                         store_schema_version(s), store_schema_latest());
                return -EPROTO;
        }

        *ret = TAKE_PTR(s);
        return 0;
}

int store_open(const char *path, unsigned flags, Store **ret)
{
        return store_open_full(path, flags, store_schema_latest(), ret);
}

int store_open_at_version(const char *path, int version, Store **ret)
{
        if (version < 0 || version > store_schema_latest())
                return -EINVAL;
        return store_open_full(path, STORE_OPEN_CREATE, version, ret);
}

int store_begin(Store *s)
{
        /* IMMEDIATE: take the write lock now, so a concurrent writer waits at the
         * start (busy timeout) rather than failing half way through an import. */
        return store_exec(s, "BEGIN IMMEDIATE", "Starting a transaction");
}

int store_commit(Store *s)
{
        return store_exec(s, "COMMIT", "Committing");
}

int store_rollback(Store *s)
{
        if (sqlite3_get_autocommit(s->db))
                return 0;
        return store_exec(s, "ROLLBACK", "Rolling back");
}

/* ---- roster ---------------------------------------------------------------------------------------- */

/* Per kind: the SQL for each operation. Columns come back in roster column order. */
struct roster_sql {
        const char *exists;
        const char *get;
        const char *all;
        const char *count;
        const char *upsert;
        const char *del;
};

static const struct roster_sql roster_sql[_ROSTER_KIND_MAX] = {
        [ROSTER_RESIDENTS] = {
                .exists = "SELECT 1 FROM residents WHERE id = ?1",
                .get = "SELECT id, name, building_id, flat, lives_alone, phone, notes FROM residents WHERE id = ?1",
                .all = "SELECT id, name, building_id, flat, lives_alone, phone, notes FROM residents ORDER BY id",
                .count = "SELECT count(*) FROM residents",
                .upsert = "INSERT INTO residents (id, name, building_id, flat, lives_alone, phone, notes, "
                          "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
                          "ON CONFLICT (id) DO UPDATE SET name = excluded.name, building_id = excluded.building_id, "
                          "flat = excluded.flat, lives_alone = excluded.lives_alone, phone = excluded.phone, "
                          "notes = excluded.notes, updated_at = excluded.updated_at "
                          "WHERE name IS NOT excluded.name OR building_id IS NOT excluded.building_id "
                          "OR flat IS NOT excluded.flat OR lives_alone IS NOT excluded.lives_alone "
                          "OR phone IS NOT excluded.phone OR notes IS NOT excluded.notes",
                .del = "DELETE FROM residents WHERE id = ?1",
        },
        [ROSTER_CONTACTS] = {
                .exists = "SELECT 1 FROM contacts WHERE id = ?1",
                .get = "SELECT id, name, phone, role, notify FROM contacts WHERE id = ?1",
                .all = "SELECT id, name, phone, role, notify FROM contacts ORDER BY id",
                .count = "SELECT count(*) FROM contacts",
                .upsert = "INSERT INTO contacts (id, name, phone, role, notify, created_at, updated_at) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) "
                          "ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone = excluded.phone, "
                          "role = excluded.role, notify = excluded.notify, updated_at = excluded.updated_at "
                          "WHERE name IS NOT excluded.name OR phone IS NOT excluded.phone "
                          "OR role IS NOT excluded.role OR notify IS NOT excluded.notify",
                .del = "DELETE FROM contacts WHERE id = ?1",
        },
        [ROSTER_LINKS] = {
                .exists = "SELECT 1 FROM resident_contacts WHERE resident_id = ?1 AND contact_id = ?2",
                .get = "SELECT resident_id, contact_id, tier FROM resident_contacts "
                       "WHERE resident_id = ?1 AND contact_id = ?2",
                .all = "SELECT resident_id, contact_id, tier FROM resident_contacts "
                       "ORDER BY resident_id, tier, position, contact_id",
                .count = "SELECT count(*) FROM resident_contacts",
                /* New links go to the end of their tier, keeping the file's order. */
                .upsert = "INSERT INTO resident_contacts (resident_id, contact_id, tier, position) "
                          "VALUES (?1, ?2, ?3, (SELECT coalesce(max(position), 0) + 1 FROM resident_contacts "
                          "WHERE resident_id = ?1)) "
                          "ON CONFLICT (resident_id, contact_id) DO UPDATE SET tier = excluded.tier "
                          "WHERE tier IS NOT excluded.tier",
                .del = "DELETE FROM resident_contacts WHERE resident_id = ?1 AND contact_id = ?2",
        },
        [ROSTER_SENSORS] = {
                .exists = "SELECT 1 FROM sensors WHERE id = ?1",
                .get = "SELECT id, coalesce(resident_id, ''), building_id, kind, source FROM sensors WHERE id = ?1",
                .all = "SELECT id, coalesce(resident_id, ''), building_id, kind, source FROM sensors ORDER BY id",
                .count = "SELECT count(*) FROM sensors",
                /* A flat's sensor takes its building from the resident. */
                /* A new sensor takes a number never used before (schema v6, sensor_nums). */
                .upsert = "INSERT INTO sensors (num, id, resident_id, building_id, kind, source, created_at, "
                          "updated_at) "
                          "VALUES ((SELECT last + 1 FROM sensor_nums), ?1, ?2, coalesce(nullif(?3, ''), "
                          "(SELECT building_id FROM residents WHERE id = ?2)), ?4, ?5, ?6, ?6) "
                          "ON CONFLICT (id) DO UPDATE SET resident_id = excluded.resident_id, "
                          "building_id = excluded.building_id, kind = excluded.kind, source = excluded.source, "
                          "updated_at = excluded.updated_at "
                          "WHERE resident_id IS NOT excluded.resident_id OR building_id IS NOT excluded.building_id "
                          "OR kind IS NOT excluded.kind OR source IS NOT excluded.source",
                .del = "DELETE FROM sensors WHERE id = ?1",
        },
};

static int row_exists(Store *s, const char *sql, const char *a, const char *b)
{
        sqlite3_stmt *st = store_stmt(s, sql);
        int rc;

        if (!st)
                return -EIO;
        store_bind_text(st, 1, a);
        if (b)
                store_bind_text(st, 2, b);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return store_fail_sqlite(s, rc, "Looking up a row");
}

/* Fetch one text column of one row; *ret NULL if no row. */
static int query_text(Store *s, const char *sql, const char *a, const char *b, char **ret)
{
        sqlite3_stmt *st = store_stmt(s, sql);
        int rc;

        *ret = NULL;
        if (!st)
                return -EIO;
        store_bind_text(st, 1, a);
        if (b)
                store_bind_text(st, 2, b);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                const unsigned char *t = sqlite3_column_text(st, 0);
                *ret = strdup(t ? (const char *)t : "");
                sqlite3_reset(st);
                return *ret ? 1 : -ENOMEM;
        }
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
                return 0;
        return store_fail_sqlite(s, rc, "Looking up a row");
}

_printf_(2, 3) static int check_fail(char **ret_error, const char *fmt, ...)
{
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

/* "gpio:CHIP:LINE" of a canonical gpio source, or the whole string for mqtt. */
static char *source_identity(const char *source)
{
        const char *p = startswith(source, "gpio:");
        if (!p)
                return strdup(source);
        const char *c1 = strchr(p, ':');
        const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        return c2 ? strndup(source, (size_t)(c2 - source)) : strdup(source);
}

static int check_sensor(Store *s, char *const *v, char **ret_error)
{
        _cleanup_free_ char *building = NULL, *identity = NULL;
        sqlite3_stmt *st;
        int r, rc;

        if (!isempty(v[1])) {
                r = query_text(s, "SELECT building_id FROM residents WHERE id = ?1", v[1], NULL, &building);
                if (r < 0)
                        return r;
                if (r == 0)
                        return check_fail(ret_error,
                                          "resident_id: unknown resident %s — import residents first or fix the id",
                                          v[1]);
                if (!isempty(v[2]) && !streq(v[2], building))
                        return check_fail(ret_error,
                                          "building: %s, but resident %s lives in building %s — leave building "
                                          "empty for a sensor in a flat, or fix it",
                                          v[2], v[1], building);
        }

        /* One GPIO line can only be requested once; one MQTT topic may carry several
         * kinds (a combined smoke + CO detector) but not the same kind twice. */
        identity = source_identity(v[4]);
        if (!identity)
                return -ENOMEM;
        /* Both forms find their rows through the sensors_source index (a LIKE or an
         * expression on source would scan every sensor for every imported line);
         * a GPIO line's other spellings ("gpio:chip:17:pull_up") are a range. */
        st = startswith(identity, "gpio:")
                     ? store_stmt(s, "SELECT id, kind FROM sensors WHERE (source = ?2 OR "
                                     "(source >= ?2 || ':' AND source < ?2 || ';')) AND id <> ?1")
                     : store_stmt(s, "SELECT id, kind FROM sensors WHERE source = ?2 AND id <> ?1");
        if (!st)
                return -EIO;
        store_bind_text(st, 1, v[0]);
        store_bind_text(st, 2, identity);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *other = (const char *)sqlite3_column_text(st, 0);
                const char *kind = (const char *)sqlite3_column_text(st, 1);
                if (startswith(identity, "gpio:") || streq_ptr(kind, v[3])) {
                        r = check_fail(ret_error, "source: %s is already used by sensor %s — each %s", v[4], other,
                                       startswith(identity, "gpio:") ? "GPIO line can serve one sensor"
                                                                     : "topic can carry each kind once");
                        sqlite3_reset(st);
                        return r;
                }
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return store_fail_sqlite(s, rc, "Checking sensor sources");
        return 0;
}

int store_roster_check(Store *s, enum roster_kind kind, char *const *v, char **ret_error)
{
        int r;

        if (ret_error)
                *ret_error = NULL;
        switch (kind) {
        case ROSTER_RESIDENTS:
        case ROSTER_CONTACTS:
                return 0;
        case ROSTER_LINKS:
                r = row_exists(s, roster_sql[ROSTER_RESIDENTS].exists, v[0], NULL);
                if (r < 0)
                        return r;
                if (r == 0)
                        return check_fail(ret_error,
                                          "resident_id: unknown resident %s — import residents first or fix the id",
                                          v[0]);
                r = row_exists(s, roster_sql[ROSTER_CONTACTS].exists, v[1], NULL);
                if (r < 0)
                        return r;
                if (r == 0)
                        return check_fail(ret_error,
                                          "contact_id: unknown contact %s — import contacts first or fix the id",
                                          v[1]);
                return 0;
        case ROSTER_SENSORS:
                return check_sensor(s, v, ret_error);
        case _ROSTER_KIND_MAX:
                break;
        }
        return -EINVAL;
}

static int ensure_building(Store *s, const char *id, usec_t now)
{
        sqlite3_stmt *st = store_stmt(s, "INSERT OR IGNORE INTO buildings (id, created_at) VALUES (?1, ?2)");

        if (!st)
                return -EIO;
        store_bind_text(st, 1, id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
        return store_step_done(s, st, "Adding a building");
}

int store_roster_upsert(Store *s, enum roster_kind kind, char *const *v, enum store_change *ret_change)
{
        const struct roster_kind_info *info = roster_kind_info(kind);
        usec_t now = now_usec(CLOCK_REALTIME);
        sqlite3_stmt *st;
        int existed, r, rc;

        if (!info)
                return -EINVAL;
        existed = row_exists(s, roster_sql[kind].exists, v[0], info->n_key > 1 ? v[1] : NULL);
        if (existed < 0)
                return existed;

        if (kind == ROSTER_RESIDENTS && (r = ensure_building(s, v[2], now)) < 0)
                return r;
        if (kind == ROSTER_SENSORS && !isempty(v[2]) && (r = ensure_building(s, v[2], now)) < 0)
                return r;

        st = store_stmt(s, roster_sql[kind].upsert);
        if (!st)
                return -EIO;
        switch (kind) {
        case ROSTER_RESIDENTS:
                for (int i = 0; i < 7; i++)
                        if (i == 4)
                                sqlite3_bind_int(st, 5, streq(v[4], "1"));
                        else
                                store_bind_text(st, i + 1, v[i]);
                sqlite3_bind_int64(st, 8, (sqlite3_int64)now);
                break;
        case ROSTER_CONTACTS:
                for (int i = 0; i < 5; i++)
                        store_bind_text(st, i + 1, v[i]);
                sqlite3_bind_int64(st, 6, (sqlite3_int64)now);
                break;
        case ROSTER_LINKS:
                store_bind_text(st, 1, v[0]);
                store_bind_text(st, 2, v[1]);
                sqlite3_bind_int(st, 3, atoi(v[2]));
                break;
        case ROSTER_SENSORS:
                store_bind_text(st, 1, v[0]);
                store_bind_text_or_null(st, 2, v[1]);
                store_bind_text(st, 3, v[2]);
                store_bind_text(st, 4, v[3]);
                store_bind_text(st, 5, v[4]);
                sqlite3_bind_int64(st, 6, (sqlite3_int64)now);
                break;
        case _ROSTER_KIND_MAX:
                return -EINVAL;
        }
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
                char what[96];
                snprintf(what, sizeof(what), "Saving %s %s", info->singular, v[0]);
                return store_fail_sqlite(s, rc, what);
        }
        if (ret_change)
                *ret_change = !existed ? STORE_CREATED
                                       : (sqlite3_changes(s->db) > 0 ? STORE_UPDATED : STORE_UNCHANGED);
        return 0;
}

int store_roster_delete(Store *s, enum roster_kind kind, char *const *key)
{
        const struct roster_kind_info *info = roster_kind_info(kind);
        sqlite3_stmt *st;
        int r;

        if (!info)
                return -EINVAL;
        r = row_exists(s, roster_sql[kind].exists, key[0], info->n_key > 1 ? key[1] : NULL);
        if (r < 0)
                return r;
        if (r == 0) {
                store_set_error(s, "There is no %s %s%s%s.", info->singular, key[0], info->n_key > 1 ? " – " : "",
                          info->n_key > 1 ? key[1] : "");
                return -ENOENT;
        }

        if (kind == ROSTER_RESIDENTS) {
                _cleanup_free_ char *sensor = NULL, *alert = NULL;
                r = query_text(s, "SELECT id FROM sensors WHERE resident_id = ?1 ORDER BY id LIMIT 1", key[0], NULL,
                               &sensor);
                if (r < 0)
                        return r;
                if (r > 0) {
                        store_set_error(s,
                                  "Resident %s still has sensors (e.g. %s) — remove them or give them to another "
                                  "resident first (shouwangctl sensors remove / edit --resident_id)",
                                  key[0], sensor);
                        return -EBUSY;
                }
                r = query_text(s, "SELECT id FROM alerts WHERE resident_id = ?1 AND state <> 'resolved' LIMIT 1",
                               key[0], NULL, &alert);
                if (r < 0)
                        return r;
                if (r > 0) {
                        store_set_error(s, "Resident %s has an open alert (%s) — resolve it first", key[0], alert);
                        return -EBUSY;
                }
        }

        st = store_stmt(s, roster_sql[kind].del);
        if (!st)
                return -EIO;
        store_bind_text(st, 1, key[0]);
        if (info->n_key > 1)
                store_bind_text(st, 2, key[1]);
        return store_step_done(s, st, "Removing a row");
}

static int row_from_stmt(sqlite3_stmt *st, size_t n, char ***ret)
{
        char **v = calloc(n + 1, sizeof(char *));

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const unsigned char *t = sqlite3_column_text(st, (int)i);
                v[i] = strdup(t ? (const char *)t : "");
                if (!v[i]) {
                        roster_row_clear(v, n);
                        free(v);
                        return -ENOMEM;
                }
        }
        *ret = v;
        return 0;
}

int store_roster_get(Store *s, enum roster_kind kind, char *const *key, char ***ret_values)
{
        const struct roster_kind_info *info = roster_kind_info(kind);
        sqlite3_stmt *st;
        int rc, r;

        if (!info)
                return -EINVAL;
        st = store_stmt(s, roster_sql[kind].get);
        if (!st)
                return -EIO;
        store_bind_text(st, 1, key[0]);
        if (info->n_key > 1)
                store_bind_text(st, 2, key[1]);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                r = row_from_stmt(st, info->n_columns, ret_values);
                sqlite3_reset(st);
                return r;
        }
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
                store_set_error(s, "There is no %s %s.", info->singular, key[0]);
                return -ENOENT;
        }
        return store_fail_sqlite(s, rc, "Reading the roster");
}

int store_roster_foreach(Store *s, enum roster_kind kind, store_roster_cb cb, void *userdata)
{
        const struct roster_kind_info *info = roster_kind_info(kind);
        char *v[ROSTER_MAX_COLUMNS + 1];
        sqlite3_stmt *st;
        int rc, r = 0;

        if (!info)
                return -EINVAL;
        /* Not the cached statement: a callback may itself query the store. */
        rc = sqlite3_prepare_v2(s->db, roster_sql[kind].all, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading the roster");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                for (size_t i = 0; i < info->n_columns; i++) {
                        const unsigned char *t = sqlite3_column_text(st, (int)i);
                        v[i] = (char *)(t ? (const char *)t : "");
                }
                v[info->n_columns] = NULL;
                r = cb(v, userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading the roster");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

int store_roster_count(Store *s, enum roster_kind kind, int64_t *ret)
{
        sqlite3_stmt *st;
        int rc;

        if ((unsigned)kind >= _ROSTER_KIND_MAX)
                return -EINVAL;
        st = store_stmt(s, roster_sql[kind].count);
        if (!st)
                return -EIO;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : store_fail_sqlite(s, rc, "Counting the roster");
}

/* ---- away periods --------------------------------------------------------------------------------- */

void away_period_done(struct away_period *a)
{
        if (!a)
                return;
        free(a->resident_id);
        free(a->reason);
        a->resident_id = a->reason = NULL;
}

int64_t store_away_add(Store *s, const char *resident_id, usec_t starts_at, usec_t ends_at, const char *reason)
{
        sqlite3_stmt *st;
        int r, rc;

        if (ends_at <= starts_at) {
                store_set_error(s, "The away period ends before it starts — check --from and --until");
                return -EINVAL;
        }
        r = row_exists(s, roster_sql[ROSTER_RESIDENTS].exists, resident_id, NULL);
        if (r < 0)
                return r;
        if (r == 0) {
                store_set_error(s, "There is no resident %s.", resident_id);
                return -ENOENT;
        }
        st = store_stmt(s, "INSERT INTO away_periods (resident_id, starts_at, ends_at, reason, created_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)");
        if (!st)
                return -EIO;
        store_bind_text(st, 1, resident_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)starts_at);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)ends_at);
        store_bind_text(st, 4, reason);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)now_usec(CLOCK_REALTIME));
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return store_fail_sqlite(s, rc, "Adding an away period");
        return (int64_t)sqlite3_last_insert_rowid(s->db);
}

int store_away_delete(Store *s, int64_t id)
{
        sqlite3_stmt *st = store_stmt(s, "DELETE FROM away_periods WHERE id = ?1");
        int r;

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, id);
        r = store_step_done(s, st, "Removing an away period");
        if (r < 0)
                return r;
        if (sqlite3_changes(s->db) == 0) {
                store_set_error(s, "There is no away period %lld.", (long long)id);
                return -ENOENT;
        }
        return 0;
}

int store_away_end(Store *s, const char *resident_id, usec_t now)
{
        sqlite3_stmt *st;
        int r;

        /* Current periods end now; future ones are dropped (the resident is back). */
        st = store_stmt(s, "DELETE FROM away_periods WHERE resident_id = ?1 AND starts_at >= ?2");
        if (!st)
                return -EIO;
        store_bind_text(st, 1, resident_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
        r = store_step_done(s, st, "Ending away periods");
        if (r < 0)
                return r;
        int n = sqlite3_changes(s->db);
        st = store_stmt(s, "UPDATE away_periods SET ends_at = ?2 WHERE resident_id = ?1 AND starts_at < ?2 AND ends_at > ?2");
        if (!st)
                return -EIO;
        store_bind_text(st, 1, resident_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
        r = store_step_done(s, st, "Ending away periods");
        if (r < 0)
                return r;
        return n + sqlite3_changes(s->db);
}

int store_away_foreach(Store *s, const char *resident_id, usec_t now, store_away_cb cb, void *userdata)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(s->db,
                                "SELECT id, resident_id, starts_at, ends_at, reason FROM away_periods "
                                "WHERE ends_at > ?1 AND (?2 IS NULL OR resident_id = ?2) ORDER BY resident_id, starts_at",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading away periods");
        sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
        if (resident_id)
                store_bind_text(st, 2, resident_id);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct away_period a = {
                        .id = sqlite3_column_int64(st, 0),
                        .resident_id = (char *)sqlite3_column_text(st, 1),
                        .starts_at = (usec_t)sqlite3_column_int64(st, 2),
                        .ends_at = (usec_t)sqlite3_column_int64(st, 3),
                        .reason = (char *)sqlite3_column_text(st, 4),
                };
                r = cb(&a, userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading away periods");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

/* ---- sensor health -------------------------------------------------------------------------------- */

void sensor_health_done(struct sensor_health *h)
{
        if (!h)
                return;
        free(h->state);
        h->state = NULL;
}

int store_sensor_health_get(Store *s, const char *sensor_id, struct sensor_health *ret)
{
        sqlite3_stmt *st = store_stmt(s, "SELECT h.last_seen, h.battery, h.available, h.available_since, h.state, s.num "
                                   "FROM sensors s LEFT JOIN sensor_health h ON h.sensor_num = s.num "
                                   "WHERE s.id = ?1");
        int rc;

        *ret = (struct sensor_health){ .battery = -1, .available = -1 };
        if (!st)
                return -EIO;
        store_bind_text(st, 1, sensor_id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                ret->last_seen = (usec_t)sqlite3_column_int64(st, 0);
                if (sqlite3_column_type(st, 1) != SQLITE_NULL)
                        ret->battery = sqlite3_column_int(st, 1);
                if (sqlite3_column_type(st, 2) != SQLITE_NULL)
                        ret->available = sqlite3_column_int(st, 2);
                ret->available_since = (usec_t)sqlite3_column_int64(st, 3);
                if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
                        ret->state = strdup((const char *)sqlite3_column_text(st, 4));
                        if (!ret->state) {
                                sqlite3_reset(st);
                                return -ENOMEM;
                        }
                }
                sqlite3_reset(st);
                return 0;
        }
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
                store_set_error(s, "There is no sensor %s.", sensor_id);
                return -ENOENT;
        }
        return store_fail_sqlite(s, rc, "Reading sensor health");
}

int store_sensor_int64(Store *s, const char *sql, const char *sensor_id, int64_t *ret, const char *what)
{
        sqlite3_stmt *st = store_stmt(s, sql);
        int rc, r;

        if (!st)
                return -EIO;
        store_bind_text(st, 1, sensor_id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *ret = sqlite3_column_int64(st, 0);
                r = 0;
        } else if (rc == SQLITE_DONE) {
                store_set_error(s, "There is no sensor %s.", sensor_id);
                r = -ENOENT;
        } else
                r = store_fail_sqlite(s, rc, what);
        sqlite3_reset(st);
        return r;
}

/* The same upsert as the group commit's, on its own (synchronous=FULL). */
int store_sensor_id(Store *s, int64_t num, char *buf, size_t size)
{
        sqlite3_stmt *st = store_stmt(s, "SELECT id FROM sensors WHERE num = ?1");
        int rc, r = -ENOENT;

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, num);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
                r = 0;
        } else if (rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Looking up a sensor's id");
        sqlite3_reset(st);
        return r;
}

int store_sensor_health_set(Store *s, const char *sensor_id, const struct sensor_health *h)
{
        struct store_health_update u = { .health = *h };
        sqlite3_stmt *st;
        int r;

        r = store_sensor_int64(s, "SELECT num FROM sensors WHERE id = ?1", sensor_id, &u.num, "Looking up a sensor");
        if (r < 0)
                return r;
        st = store_stmt(s, store_sql_health_upsert);
        if (!st)
                return -EIO;
        store_bind_health(st, &u, now_usec(CLOCK_REALTIME));
        return store_step_done(s, st, "Saving sensor health");
}

/* ---- audit ---------------------------------------------------------------------------------------- */

int store_audit(Store *s, usec_t at, const char *actor, const char *action, const char *object,
                const char *detail)
{
        sqlite3_stmt *st = store_stmt(s, "INSERT INTO audit (at, actor, action, object, detail) VALUES (?1, ?2, ?3, ?4, ?5)");

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)at);
        store_bind_text(st, 2, actor);
        store_bind_text(st, 3, action);
        store_bind_text(st, 4, object);
        store_bind_text(st, 5, detail);
        return store_step_done(s, st, "Writing the audit trail");
}

/* ---- sensors for the daemon, events ------------------------------------------------------------------ */

int store_sensor_foreach(Store *s, store_sensor_cb cb, void *userdata)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(s->db,
                                "SELECT s.num, s.id, coalesce(s.resident_id, ''), s.building_id, s.kind, s.source, "
                                "h.last_seen, h.battery, h.available, h.available_since, h.state, "
                                "coalesce(h.counter, 0) FROM sensors s LEFT JOIN sensor_health h ON h.sensor_num = s.num "
                                "ORDER BY s.num",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading sensors");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct store_sensor x = {
                        .num = sqlite3_column_int64(st, 0),
                        .id = (const char *)sqlite3_column_text(st, 1),
                        .resident_id = (const char *)sqlite3_column_text(st, 2),
                        .building_id = (const char *)sqlite3_column_text(st, 3),
                        .kind = (const char *)sqlite3_column_text(st, 4),
                        .source = (const char *)sqlite3_column_text(st, 5),
                        .health = {
                                .last_seen = (usec_t)sqlite3_column_int64(st, 6),
                                .battery = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 7),
                                .available = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 8),
                                .available_since = (usec_t)sqlite3_column_int64(st, 9),
                                .state = (char *)sqlite3_column_text(st, 10),
                        },
                        .counter = sqlite3_column_int64(st, 11),
                };
                r = cb(&x, userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading sensors");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

int store_activity_foreach(Store *s, store_activity_cb cb, void *userdata)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(s->db, "SELECT resident_id, last_activity_at FROM resident_state", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading last activity");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb((const char *)sqlite3_column_text(st, 0), (usec_t)sqlite3_column_int64(st, 1), userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading last activity");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

/* The first event id at or after `id`, with its time; 0 when there is none. */
static int event_at_or_after(Store *s, int64_t id, int64_t *ret_id, int64_t *ret_at)
{
        sqlite3_stmt *st = store_stmt(s, "SELECT id, at FROM events WHERE id >= ?1 ORDER BY id LIMIT 1");
        int rc;

        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *ret_id = sqlite3_column_int64(st, 0);
                *ret_at = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return store_fail_sqlite(s, rc, "Reading events");
}

/*
 * events has no index on `at` (it cost ~40 % of the writes per event, store-schema.c v5). `at` is when the
 * event arrived, so it grows with the id; the oldest events to go are those before the first id whose time
 * is not older than `before`, found by a binary search over the ids (each step one rowid lookup). Across a
 * clock step back the order has a dent, and the boundary may fall a few minutes off: for a retention of
 * months that is nothing, and no event younger than the dent goes.
 */
int64_t store_events_prune(Store *s, usec_t before, unsigned max)
{
        sqlite3_stmt *st;
        int64_t lo = 0, hi = 0, first = 0, id, at;
        int r;

        r = event_at_or_after(s, INT64_MIN, &first, &at);
        if (r <= 0)
                return r;
        if (at >= (int64_t)before)
                return 0;
        st = store_stmt(s, "SELECT max(id) FROM events");
        if (!st)
                return -EIO;
        if (sqlite3_step(st) == SQLITE_ROW)
                hi = sqlite3_column_int64(st, 0) + 1;
        sqlite3_reset(st);
        /* The first id whose event is not older than `before`: lo ends there (hi when all are older). */
        lo = first;
        while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                r = event_at_or_after(s, mid, &id, &at);
                if (r < 0)
                        return r;
                if (r == 0 || at >= (int64_t)before)
                        hi = mid;
                else
                        lo = id + 1;
        }
        if (lo - first > (int64_t)max)
                lo = first + (int64_t)max;
        st = store_stmt(s, "DELETE FROM events WHERE id < ?1");
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, lo);
        r = store_step_done(s, st, "Pruning old events");
        return r < 0 ? r : sqlite3_changes(s->db);
}

int64_t store_roster_version(Store *s)
{
        sqlite3_stmt *st = store_stmt(s, "SELECT version FROM roster_version WHERE id = 1");
        int64_t v;

        if (!st)
                return -EIO;
        if (sqlite3_step(st) != SQLITE_ROW) {
                sqlite3_reset(st);
                return -EIO;
        }
        v = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return v;
}

int64_t store_data_version(Store *s)
{
        sqlite3_stmt *st = store_stmt(s, "PRAGMA data_version");
        int64_t v;

        if (!st)
                return -EIO;
        if (sqlite3_step(st) != SQLITE_ROW) {
                sqlite3_reset(st);
                return -EIO;
        }
        v = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return v;
}

const char *store_path(Store *s)
{
        return s->path;
}

int store_resident_setting_set(Store *s, const char *resident_id, const char *key, const char *value)
{
        sqlite3_stmt *st;
        int r;

        r = row_exists(s, roster_sql[ROSTER_RESIDENTS].exists, resident_id, NULL);
        if (r < 0)
                return r;
        if (r == 0) {
                store_set_error(s, "There is no resident %s.", resident_id);
                return -ENOENT;
        }
        if (value) {
                st = store_stmt(s, "INSERT INTO resident_settings (resident_id, key, value) VALUES (?1, ?2, ?3) "
                                   "ON CONFLICT (resident_id, key) DO UPDATE SET value = excluded.value");
                if (!st)
                        return -EIO;
                store_bind_text(st, 3, value);
        } else {
                st = store_stmt(s, "DELETE FROM resident_settings WHERE resident_id = ?1 AND key = ?2");
                if (!st)
                        return -EIO;
        }
        store_bind_text(st, 1, resident_id);
        store_bind_text(st, 2, key);
        r = store_step_done(s, st, "Saving a resident's setting");
        if (r >= 0 && !value && sqlite3_changes(s->db) == 0) {
                store_set_error(s, "%s has no own setting %s.", resident_id, key);
                return -ENOENT;
        }
        return r;
}

int store_resident_settings_foreach(Store *s, const char *resident_id, store_setting_cb cb, void *userdata)
{
        sqlite3_stmt *st;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(s->db,
                                "SELECT resident_id, key, value FROM resident_settings WHERE ?1 IS NULL OR resident_id = ?1 "
                                "ORDER BY resident_id, key",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, "Reading residents' settings");
        if (resident_id)
                store_bind_text(st, 1, resident_id);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
                       (const char *)sqlite3_column_text(st, 2), userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading residents' settings");
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}
