/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Roster import (CSV → checks → one transaction) and export (store → CSV),
 * and the messages that tell committee staff which line to fix and how.
 */

#include "daemon/roster-csv.h"

#include <stdarg.h>

#include "daemon/util.h"

/* ---- result ----------------------------------------------------------------------------------------------- */

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void roster_import_result_done(struct roster_import_result *r)
{
        if (!r)
                return;
        strv_free(r->created, r->n_created);
        strv_free(r->updated, r->n_updated);
        for (size_t i = 0; i < r->n_errors; i++)
                free(r->errors[i].message);
        free(r->errors);
        *r = (struct roster_import_result){ 0 };
}

/* Errors collected in two sorted runs (the CSV layer's, then ours); merged at the end. */
struct error_list {
        struct roster_import_error *v;
        size_t n;
};

static int error_list_add(struct error_list *l, unsigned line, char *message)
{
        struct roster_import_error *e;

        if (!message)
                return -ENOMEM;
        e = realloc(l->v, (l->n + 1) * sizeof(*e));
        if (!e) {
                free(message);
                return -ENOMEM;
        }
        l->v = e;
        l->v[l->n++] = (struct roster_import_error){ line, message };
        return 0;
}

_printf_(3, 4) static int error_list_addf(struct error_list *l, unsigned line, const char *fmt, ...)
{
        char *m;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        return error_list_add(l, line, m);
}

static void error_list_done(struct error_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i].message);
        free(l->v);
        *l = (struct error_list){ 0 };
}

/* Merge two lists sorted by line into ret (stable: a before b on the same line). */
static int merge_errors(struct error_list *a, struct error_list *b, struct roster_import_result *ret)
{
        size_t n = a->n + b->n, i = 0, j = 0, k = 0;

        if (n == 0)
                return 0;
        ret->errors = calloc(n, sizeof(struct roster_import_error));
        if (!ret->errors)
                return -ENOMEM;
        while (i < a->n || j < b->n)
                if (j >= b->n || (i < a->n && a->v[i].line <= b->v[j].line))
                        ret->errors[k++] = a->v[i++];
                else
                        ret->errors[k++] = b->v[j++];
        ret->n_errors = n;
        free(a->v);
        free(b->v);
        *a = *b = (struct error_list){ 0 };
        return 0;
}

static int strv_push(char ***v, size_t *n, const char *s)
{
        char *c = strdup(s);
        char **nv;

        if (!c)
                return -ENOMEM;
        /* The capacity is the smallest power of two above the count: grow at powers of two. */
        if (*n == 0 || (*n & (*n - 1)) == 0) {
                nv = realloc(*v, (*n ? *n * 2 : 1) * sizeof(char *));
                if (!nv) {
                        free(c);
                        return -ENOMEM;
                }
                *v = nv;
        }
        (*v)[(*n)++] = c;
        return 0;
}

/* ---- keys seen in this file ------------------------------------------------------------------------------ */

/* Open addressing; a roster has thousands of rows, not millions. */
struct key_set {
        struct {
                char *key;
                unsigned line;
        } *slots;
        size_t cap;
};

static uint64_t hash_str(const char *s)
{
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        return h;
}

static int key_set_init(struct key_set *k, size_t n)
{
        k->cap = 16;
        while (k->cap < n * 2)
                k->cap *= 2;
        k->slots = calloc(k->cap, sizeof(*k->slots));
        return k->slots ? 0 : -ENOMEM;
}

/* 0 and remembers key on line; or the line it was seen on before (> 0). */
static int key_set_add(struct key_set *k, const char *key, unsigned line, unsigned *ret_prev)
{
        size_t i = hash_str(key) & (k->cap - 1);

        *ret_prev = 0;
        while (k->slots[i].key) {
                if (streq(k->slots[i].key, key)) {
                        *ret_prev = k->slots[i].line;
                        return 0;
                }
                i = (i + 1) & (k->cap - 1);
        }
        k->slots[i].key = strdup(key);
        if (!k->slots[i].key)
                return -ENOMEM;
        k->slots[i].line = line;
        return 0;
}

static void key_set_done(struct key_set *k)
{
        for (size_t i = 0; i < k->cap; i++)
                free(k->slots[i].key);
        free(k->slots);
        *k = (struct key_set){ 0 };
}

/* "R201" or, for links, "R201 → C1": how a person reads a row's key. */
static char *key_text(const struct roster_kind_info *info, char *const *v)
{
        char *s;

        if (info->n_key == 1)
                return strdup(strempty(v[0]));
        return asprintf(&s, "%s → %s", strempty(v[0]), strempty(v[1])) < 0 ? NULL : s;
}

/* ---- header ----------------------------------------------------------------------------------------------- */

struct header_map {
        int *col_of;                        /* per header cell: column index, or -1 (empty header cell) */
        size_t n_cells;
        int field_of[ROSTER_MAX_COLUMNS];   /* per column: header cell, or -1 when the file has none */
};

/* "id (编号), name (姓名), …": the columns of a kind as a list for messages. */
static char *columns_list(const struct roster_kind_info *info, bool required_only)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        bool first = true;

        if (!f)
                return NULL;
        for (size_t i = 0; i < info->n_columns; i++) {
                const struct roster_column *c = &info->columns[i];
                if (required_only && !c->required)
                        continue;
                fprintf(f, "%s%s", first ? "" : ", ", c->name);
                if (!required_only && c->aliases && c->aliases[0])
                        fprintf(f, " (%s)", c->aliases[0]);
                first = false;
        }
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(buf);
}

/* If the header names the columns of another kind exactly, the person picked the wrong file. */
static const struct roster_kind_info *other_kind_matching(enum roster_kind kind, const struct csv_record *h)
{
        for (int k = 0; k < _ROSTER_KIND_MAX; k++) {
                const struct roster_kind_info *o = roster_kind_info(k);
                size_t known = 0, cells = 0;
                if ((enum roster_kind)k == kind)
                        continue;
                for (size_t i = 0; i < h->n_fields; i++) {
                        if (isempty(h->fields[i]))
                                continue;
                        cells++;
                        if (roster_column_lookup(o, h->fields[i]) >= 0)
                                known++;
                }
                if (cells > 0 && known == cells)
                        return o;
        }
        return NULL;
}

static int map_header(const struct roster_kind_info *info, const struct csv_record *h, struct header_map *m,
                      struct error_list *errors)
{
        _cleanup_free_ char *unknown = NULL, *missing = NULL;
        size_t unknown_size = 0, missing_size = 0, n_unknown = 0, n_known = 0, n_missing = 0;
        bool fullwidth_comma = false;
        unsigned line = h->line;
        int r;

        m->n_cells = h->n_fields;
        m->col_of = calloc(h->n_fields ? h->n_fields : 1, sizeof(int));
        if (!m->col_of)
                return -ENOMEM;
        for (size_t c = 0; c < ROSTER_MAX_COLUMNS; c++)
                m->field_of[c] = -1;

        FILE *uf = open_memstream(&unknown, &unknown_size);
        if (!uf)
                return -ENOMEM;
        for (size_t i = 0; i < h->n_fields; i++) {
                const char *cell = h->fields[i];
                m->col_of[i] = -1;
                if (isempty(cell))
                        continue; /* values under it are checked row by row */
                int c = roster_column_lookup(info, cell);
                if (c < 0) {
                        fprintf(uf, "%s'%s'", n_unknown ? ", " : "", cell);
                        n_unknown++;
                        if (strstr(cell, "，"))
                                fullwidth_comma = true;
                        continue;
                }
                n_known++;
                if (m->field_of[c] >= 0) {
                        r = error_list_addf(errors, line,
                                            "header: columns %d ('%s') and %zu ('%s') both mean %s — keep one of them",
                                            m->field_of[c] + 1, h->fields[m->field_of[c]], i + 1, cell,
                                            info->columns[c].name);
                        if (r < 0) {
                                fclose(uf);
                                return r;
                        }
                        continue;
                }
                m->field_of[c] = (int)i;
                m->col_of[i] = c;
        }
        if (fclose(uf) != 0)
                return -ENOMEM;

        if (n_unknown > 0) {
                const struct roster_kind_info *other = other_kind_matching(info->kind, h);
                _cleanup_free_ char *list = columns_list(info, false);
                if (!list)
                        return -ENOMEM;
                if (other)
                        r = error_list_addf(errors, line,
                                            "header: these are the columns of %s, not %s — import this file with "
                                            "'shouwangctl import %s FILE', or choose the %s file",
                                            other->name, info->name, other->name, info->name);
                else if (fullwidth_comma)
                        r = error_list_addf(errors, line,
                                            "header: %s has a Chinese comma (，) — separate columns with the "
                                            "English comma (,), or save the sheet from Excel as CSV",
                                            unknown);
                else if (n_known == 0)
                        r = error_list_addf(errors, line,
                                            "this line should be the header naming the columns, but none of %s is "
                                            "a %s column — the first line is the header (delete any title rows "
                                            "above it); the columns are: %s",
                                            unknown, info->singular, list);
                else
                        r = error_list_addf(errors, line,
                                            "header: unknown column%s %s — %s columns are: %s (English or Chinese "
                                            "names, any order)",
                                            n_unknown > 1 ? "s" : "", unknown, info->name, list);
                if (r < 0)
                        return r;
                if (other || n_known == 0)
                        return 0; /* which columns are missing is beside the point */
        }

        FILE *mf = open_memstream(&missing, &missing_size);
        if (!mf)
                return -ENOMEM;
        for (size_t c = 0; c < info->n_columns; c++) {
                if (!info->columns[c].required || m->field_of[c] >= 0)
                        continue;
                fprintf(mf, "%s%s", n_missing ? ", " : "", info->columns[c].name);
                if (info->columns[c].aliases && info->columns[c].aliases[0])
                        fprintf(mf, " (%s)", info->columns[c].aliases[0]);
                n_missing++;
        }
        if (fclose(mf) != 0)
                return -ENOMEM;
        if (n_missing > 0) {
                _cleanup_free_ char *req = columns_list(info, true);
                if (!req)
                        return -ENOMEM;
                r = error_list_addf(errors, line, "header: no %s column%s — %s always need: %s", missing,
                                    n_missing > 1 ? "s" : "", info->name, req);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- import ----------------------------------------------------------------------------------------------- */

struct import {
        Store *store;
        const struct roster_kind_info *info;
        struct header_map map;
        bool has_absent; /* some column is not in the file: known rows keep theirs */
        struct key_set keys;
        struct error_list errors;
        struct roster_import_result *res;
};

/* A column the file does not have keeps what the store has for a known row. */
static int fill_absent(struct import *im, char **v)
{
        char *key[2] = { NULL, NULL };
        char **stored = NULL;
        int r = 0;

        for (size_t i = 0; i < im->info->n_key; i++) {
                key[i] = strdup(strempty(v[i]));
                if (!key[i]) {
                        r = -ENOMEM;
                        goto out;
                }
                char *t = strstrip(key[i]);
                memmove(key[i], t, strlen(t) + 1);
                if (!*key[i])
                        goto out; /* the normaliser will say the key is empty */
        }
        r = store_roster_get(im->store, im->info->kind, key, &stored);
        if (r == -ENOENT) {
                r = 0;
                goto out;
        }
        if (r < 0)
                goto out;
        for (size_t c = 0; c < im->info->n_columns; c++)
                if (im->map.field_of[c] < 0) {
                        free(v[c]);
                        v[c] = strdup(stored[c]);
                        if (!v[c]) {
                                r = -ENOMEM;
                                break;
                        }
                }
        roster_row_clear(stored, im->info->n_columns);
        free(stored);
out:
        free(key[0]);
        free(key[1]);
        return r;
}

/*
 * Check and save one row. Returns 0 (saved, or an error for the row was
 * recorded) or a negative errno that ends the import (store or memory).
 */
static int import_row(struct import *im, const struct csv_record *rec)
{
        const struct roster_kind_info *info = im->info;
        char *v[ROSTER_MAX_COLUMNS] = { 0 };
        _cleanup_free_ char *err = NULL, *key = NULL, *shown = NULL;
        enum store_change change = STORE_UNCHANGED;
        unsigned prev = 0;
        int r;

        for (size_t i = 0; i < rec->n_fields; i++) {
                int c = i < im->map.n_cells ? im->map.col_of[i] : -1;
                if (c >= 0) {
                        v[c] = strdup(rec->fields[i]);
                        if (!v[c]) {
                                r = -ENOMEM;
                                goto out;
                        }
                } else if (!isempty(rec->fields[i])) {
                        /* Under an empty header cell (CSV_HEADER keeps rows no wider than the header). */
                        r = error_list_addf(&im->errors, rec->line,
                                            "'%s' is in column %zu, which has no header — give the column a "
                                            "header or move the value",
                                            rec->fields[i], i + 1);
                        goto out;
                }
        }

        if (im->has_absent && (r = fill_absent(im, v)) < 0)
                goto out;

        r = roster_row_normalise(info->kind, v, &err);
        if (r == -EINVAL) {
                r = error_list_add(&im->errors, rec->line,
                                   TAKE_PTR(err) ?: strdup("this row is not valid"));
                goto out;
        }
        if (r < 0)
                goto out;

        /* The unit separator cannot be in an id (the normaliser allows no control characters). */
        if (info->n_key == 1)
                key = strdup(v[0]);
        else if (asprintf(&key, "%s\x1f%s", v[0], v[1]) < 0)
                key = NULL;
        shown = key_text(info, v);
        if (!key || !shown) {
                r = -ENOMEM;
                goto out;
        }
        r = key_set_add(&im->keys, key, rec->line, &prev);
        if (r < 0)
                goto out;
        if (prev > 0) {
                if (info->n_key == 1)
                        r = error_list_addf(&im->errors, rec->line,
                                            "%s: %s is also on line %u — each %s once per file (keep one of the "
                                            "two lines)",
                                            info->columns[0].name, shown, prev, info->singular);
                else
                        r = error_list_addf(&im->errors, rec->line,
                                            "link %s is also on line %u — each resident and contact once per "
                                            "file (keep one line, with the tier you want)",
                                            shown, prev);
                goto out;
        }

        r = store_roster_check(im->store, info->kind, v, &err);
        if (r == -EINVAL) {
                r = error_list_add(&im->errors, rec->line,
                                   TAKE_PTR(err) ?: strdup(store_error(im->store)));
                goto out;
        }
        if (r < 0)
                goto out;

        r = store_roster_upsert(im->store, info->kind, v, &change);
        if (r == -EINVAL) {
                /* A constraint the checks did not foresee; the statement alone was undone. */
                r = error_list_add(&im->errors, rec->line, strdup(store_error(im->store)));
                goto out;
        }
        if (r < 0)
                goto out;

        switch (change) {
        case STORE_CREATED:
                r = strv_push(&im->res->created, &im->res->n_created, shown);
                break;
        case STORE_UPDATED:
                r = strv_push(&im->res->updated, &im->res->n_updated, shown);
                break;
        case STORE_UNCHANGED:
                im->res->n_unchanged++;
                r = 0;
                break;
        }
out:
        roster_row_clear(v, info->n_columns);
        return r;
}

/* A store failure ends the import: say what the store said. */
static int store_failed(struct import *im, int r)
{
        const char *e = store_error(im->store);
        int k = error_list_addf(&im->errors, 0, "%s", !isempty(e) ? e : strerror(-r));
        return k < 0 ? k : r;
}

int roster_import_data(Store *s, enum roster_kind kind, const void *data, size_t size, bool dry_run,
                       struct roster_import_result *ret)
{
        struct csv_table t = { 0 };
        struct error_list csv_errors = { 0 };
        struct import im = { .store = s, .info = roster_kind_info(kind), .res = ret };
        bool in_tx = false;
        int r, k;

        *ret = (struct roster_import_result){ .kind = kind };
        if (!im.info)
                return -EINVAL;

        r = csv_parse_bytes(data, size, CSV_HEADER | CSV_DETECT_SEPARATOR, &t);
        if (r < 0 && r != -EBADMSG && r != -EILSEQ && r != -EMEDIUMTYPE)
                goto finish;
        ret->encoding = t.encoding;
        /* Take the CSV layer's errors (sorted by line) as the first run. */
        csv_errors.v = calloc(t.n_errors ? t.n_errors : 1, sizeof(struct roster_import_error));
        if (!csv_errors.v) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < t.n_errors; i++) {
                csv_errors.v[i] = (struct roster_import_error){ t.errors[i].line, TAKE_PTR(t.errors[i].message) };
                csv_errors.n++;
        }
        if (r == -EILSEQ || r == -EMEDIUMTYPE) {
                r = -EILSEQ;
                goto finish;
        }
        if (t.fatal) {
                r = -EINVAL;
                goto finish;
        }
        /* Each non-fatal CSV error dropped one row. */
        ret->n_rows = (t.n_records > 0 ? t.n_records - 1 : 0) + t.n_errors;

        if (t.n_records == 0) {
                _cleanup_free_ char *list = columns_list(im.info, false);
                r = error_list_addf(&im.errors, 0,
                                    "the file is empty — the first line is the header naming the columns: %s",
                                    list ? list : "");
                r = r < 0 ? r : -EINVAL;
                goto finish;
        }
        r = map_header(im.info, &t.records[0], &im.map, &im.errors);
        if (r < 0)
                goto finish;
        if (im.errors.n > 0) {
                r = -EINVAL;
                goto finish;
        }
        for (size_t c = 0; c < im.info->n_columns; c++)
                if (im.map.field_of[c] < 0)
                        im.has_absent = true;

        r = key_set_init(&im.keys, t.n_records);
        if (r < 0)
                goto finish;

        /* All rows in one transaction: all or nothing, and fast (one fsync). A dry run
         * does the same work and rolls back, so the store's checks run too. */
        r = store_begin(s);
        if (r < 0) {
                r = store_failed(&im, r);
                goto finish;
        }
        in_tx = true;
        for (size_t i = 1; i < t.n_records; i++) {
                r = import_row(&im, &t.records[i]);
                if (r < 0) {
                        if (r != -ENOMEM)
                                r = store_failed(&im, r);
                        goto finish;
                }
        }

        if (csv_errors.n > 0 || im.errors.n > 0 || dry_run) {
                r = csv_errors.n > 0 || im.errors.n > 0 ? -EINVAL : 0;
                goto finish;
        }
        r = store_commit(s);
        if (r < 0) {
                r = store_failed(&im, r);
                goto finish;
        }
        in_tx = false;
        ret->committed = true;
        r = 0;

finish:
        if (in_tx)
                (void)store_rollback(s);
        k = merge_errors(&csv_errors, &im.errors, ret);
        if (k < 0 && r >= 0)
                r = k;
        error_list_done(&csv_errors);
        error_list_done(&im.errors);
        key_set_done(&im.keys);
        free(im.map.col_of);
        csv_table_done(&t);
        return r;
}

int roster_import_file(Store *s, enum roster_kind kind, const char *path, bool dry_run,
                       struct roster_import_result *ret)
{
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r;

        *ret = (struct roster_import_result){ .kind = kind };
        if (streq(path, "-")) {
                FILE *f = open_memstream(&data, &size);
                char chunk[65536];
                size_t n;
                if (!f)
                        return -ENOMEM;
                while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
                        fwrite(chunk, 1, n, f);
                r = ferror(stdin) ? -EIO : 0;
                if (fclose(f) != 0 && r == 0)
                        r = -ENOMEM;
        } else
                r = read_full_file(path, &data, &size);
        if (r < 0) {
                struct roster_import_error *e = calloc(1, sizeof(*e));
                if (!e || asprintf(&e->message, "cannot read the file: %s", strerror(-r)) < 0) {
                        free(e);
                        return r;
                }
                ret->errors = e;
                ret->n_errors = 1;
                return r;
        }
        return roster_import_data(s, kind, data, size, dry_run, ret);
}

static void print_keys(FILE *out, const char *what, char **keys, size_t n)
{
        const size_t max = 20;

        if (n == 0)
                return;
        fprintf(out, "  %s:", what);
        for (size_t i = 0; i < n && i < max; i++)
                fprintf(out, "%s %s", i ? "," : "", keys[i]);
        if (n > max)
                fprintf(out, " … and %zu more", n - max);
        fputc('\n', out);
}

void roster_import_result_print(const struct roster_import_result *r, const char *file, bool dry_run, FILE *out,
                                FILE *err)
{
        const struct roster_kind_info *info = roster_kind_info(r->kind);
        const char *name = !file || streq(file, "-") ? "(standard input)" : file;
        const char *kinds = info ? info->name : "rows";

        if (r->n_errors > 0) {
                for (size_t i = 0; i < r->n_errors; i++)
                        if (r->errors[i].line > 0)
                                fprintf(err, "%s:%u: %s\n", name, r->errors[i].line, r->errors[i].message);
                        else
                                fprintf(err, "%s: %s\n", name, r->errors[i].message);
                /* One problem with the file as a whole (unreadable, not text): no lines to fix. */
                if (r->n_errors == 1 && r->errors[0].line == 0)
                        fprintf(err, "%s: nothing was %s (未导入任何数据).\n", name, dry_run ? "checked" : "imported");
                else if (dry_run)
                        fprintf(err, "%s: %zu error%s — an import would change nothing until %s fixed.\n", name,
                                r->n_errors, r->n_errors == 1 ? "" : "s", r->n_errors == 1 ? "it is" : "they are");
                else
                        fprintf(err, "%s: %zu error%s — nothing was imported (未导入任何数据). Fix %s and import "
                                     "the file again.\n",
                                name, r->n_errors, r->n_errors == 1 ? "" : "s", r->n_errors == 1 ? "it" : "them");
                return;
        }

        if (dry_run) {
                fprintf(out,
                        "%s (%s): %zu %s checked, no errors. An import would create %zu, update %zu and leave %zu "
                        "unchanged.\n",
                        name, csv_encoding_to_string(r->encoding), r->n_rows, kinds, r->n_created, r->n_updated,
                        r->n_unchanged);
                print_keys(out, "would create", r->created, r->n_created);
                print_keys(out, "would update", r->updated, r->n_updated);
                fprintf(out, "Dry run: nothing was changed. Run the same command without --dry-run to import.\n");
                return;
        }
        fprintf(out, "%s: %zu %s — %zu created, %zu updated, %zu unchanged.\n", name, r->n_rows, kinds, r->n_created,
                r->n_updated, r->n_unchanged);
}

/* ---- export ----------------------------------------------------------------------------------------------- */

static __thread char export_error[512];

_printf_(1, 2) static void set_export_error(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(export_error, sizeof(export_error), fmt, ap);
        va_end(ap);
}

const char *roster_export_error(void)
{
        return export_error;
}

struct export_ctx {
        FILE *f;
        size_t n_columns;
        unsigned csv_flags;
};

static int export_row(char *const *v, void *userdata)
{
        struct export_ctx *c = userdata;
        return csv_write_record(c->f, (const char *const *)v, c->n_columns, c->csv_flags);
}

/* The whole export as the bytes of the file. */
static int export_bytes(Store *s, enum roster_kind kind, unsigned flags, char **ret, size_t *ret_size)
{
        const struct roster_kind_info *info = roster_kind_info(kind);
        const char *header[ROSTER_MAX_COLUMNS];
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        bool for_excel = (flags & (ROSTER_EXPORT_BOM | ROSTER_EXPORT_GBK)) && !(flags & ROSTER_EXPORT_PLAIN);
        struct export_ctx c;
        int r;

        export_error[0] = '\0';
        if (!info)
                return -EINVAL;
        c = (struct export_ctx){
                .f = open_memstream(&text, &size),
                .n_columns = info->n_columns,
                .csv_flags = for_excel ? CSV_WRITE_EXCEL_TEXT : 0,
        };
        if (!c.f)
                return -ENOMEM;
        if (flags & ROSTER_EXPORT_BOM && !(flags & ROSTER_EXPORT_GBK))
                fputs(CSV_UTF8_BOM, c.f);
        for (size_t i = 0; i < info->n_columns; i++)
                header[i] = info->columns[i].name;
        r = csv_write_record(c.f, header, info->n_columns, 0);
        if (r >= 0)
                r = store_roster_foreach(s, kind, export_row, &c);
        if (fclose(c.f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0) {
                const char *e = store_error(s);
                set_export_error("Reading the %s failed: %s", info->name, !isempty(e) ? e : strerror(-r));
                return r;
        }

        if (flags & ROSTER_EXPORT_GBK) {
                _cleanup_free_ char *err = NULL;
                char *gbk;
                size_t n;
                r = csv_encode_gbk(text, size, &gbk, &n, &err);
                if (r < 0) {
                        set_export_error("%s — export in UTF-8 instead (leave out --encoding gbk); Excel 2016 and "
                                         "later open UTF-8 files with a BOM correctly",
                                         err ? err : strerror(-r));
                        return r;
                }
                *ret = gbk;
                *ret_size = n;
                return 0;
        }
        *ret = TAKE_PTR(text);
        *ret_size = size;
        return 0;
}

int roster_export(Store *s, enum roster_kind kind, FILE *f, unsigned flags)
{
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r;

        r = export_bytes(s, kind, flags, &data, &size);
        if (r < 0)
                return r;
        if (fwrite(data, 1, size, f) != size || fflush(f) != 0) {
                r = errno > 0 ? -errno : -EIO;
                set_export_error("Writing the export failed: %s", strerror(-r));
                return r;
        }
        return 0;
}

int roster_export_file(Store *s, enum roster_kind kind, const char *path, unsigned flags)
{
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        if (!path)
                return roster_export(s, kind, stdout, flags);

        /* Everything is ready before the file is touched. */
        r = export_bytes(s, kind, flags, &data, &size);
        if (r < 0)
                return r;
        f = fopen(path, "we");
        if (!f) {
                r = -errno;
                set_export_error("Cannot write %s: %s", path, strerror(-r));
                return r;
        }
        if (fwrite(data, 1, size, f) != size)
                r = errno > 0 ? -errno : -EIO;
        if (fclose(f) != 0 && r >= 0)
                r = errno > 0 ? -errno : -EIO;
        if (r < 0)
                set_export_error("Writing %s failed: %s", path, strerror(-r));
        return r;
}
