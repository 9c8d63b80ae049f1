/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Roster import and export: one kind (residents, contacts, links, sensors)
 * from or to a CSV file as committee staff keep it in Excel.
 *
 * Import is all-or-nothing: the header is mapped to the kind's columns
 * (English or Chinese names, any order), every row is normalised
 * (roster_row_normalise()) and checked against the store
 * (store_roster_check()) inside one transaction; every bad line is
 * collected with its number, and the transaction is committed only if there
 * is none. New keys are inserted, known keys updated; rows missing from the
 * file are never deleted (that is `shouwangctl KIND remove`). A column the
 * file does not have keeps the stored value of a known row; an empty cell
 * empties it.
 *
 * Export writes every row in the store's order with the English header of the
 * external contract; importing the export changes nothing.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "daemon/csv.h"
#include "daemon/roster.h"
#include "daemon/store.h"

struct roster_import_error {
        unsigned line; /* 0: about the file as a whole */
        char *message; /* "lives_alone: '可能' is not yes or no — write 是 or 否 (or 1/0)" */
};

struct roster_import_result {
        enum roster_kind kind;
        enum csv_encoding encoding;
        size_t n_rows; /* data rows read (blank lines and rows of empty cells not counted) */
        size_t n_created, n_updated, n_unchanged; /* what happened, or would have (dry run / errors) */
        char **created, **updated;                 /* their keys: "R201", or "R201 → C1" for links */
        struct roster_import_error *errors;        /* in line order */
        size_t n_errors;
        bool committed; /* the store was changed */
};

void roster_import_result_done(struct roster_import_result *r);

/*
 * Import the CSV text in data (any encoding csv_decode() accepts) as rows of
 * kind. *ret is always initialised (free with roster_import_result_done()).
 * Returns:
 *   0          imported (or, with dry_run, would import) without errors
 *   -EINVAL    the file has errors, all in ret->errors; nothing changed
 *   -EILSEQ    the file is not UTF-8/GBK text, or not CSV (ret->errors says so); nothing changed
 *   -EBUSY/-EIO/-ENOMEM/...  the store failed; ret->errors has store_error(); nothing changed
 * With dry_run every check runs, including the store's, in a transaction that
 * is rolled back; the counts and key lists say what an import would do.
 */
int roster_import_data(Store *s, enum roster_kind kind, const void *data, size_t size, bool dry_run,
                       struct roster_import_result *ret);

/* The same for a file; path "-" reads standard input. -ENOENT/-EACCES/... if it cannot be read. */
int roster_import_file(Store *s, enum roster_kind kind, const char *path, bool dry_run,
                       struct roster_import_result *ret);

/*
 * Tell a person what happened: each error as "FILE:LINE: message" on err
 * (then a closing sentence saying nothing was changed), or the counts on
 * out ("residents.csv: 12 rows — 3 created, 2 updated, 7 unchanged."); a dry
 * run also lists the keys that would be created or updated (the first few).
 * file is what the person typed ("-": standard input).
 */
void roster_import_result_print(const struct roster_import_result *r, const char *file, bool dry_run, FILE *out,
                                FILE *err);

enum {
        ROSTER_EXPORT_BOM = 1 << 0,   /* start with a UTF-8 BOM, so Excel shows Chinese correctly */
        ROSTER_EXPORT_GBK = 1 << 1,   /* GBK for old Excel versions (no BOM) */
        ROSTER_EXPORT_PLAIN = 1 << 2, /* no ="…" protection even for Excel (see below) */
};

/*
 * Write every row of kind as CSV (English header, CRLF, quoting as needed) to f.
 * When the file is meant for Excel (ROSTER_EXPORT_BOM or _GBK) values Excel
 * would change on opening — 0123, +8613800000000, 1-2 — are written in its
 * ="…" text form, which import unwraps (unless ROSTER_EXPORT_PLAIN).
 * Returns 0 or negative errno: -EILSEQ when a character cannot be written
 * in GBK; store errors as store_roster_foreach(). roster_export_error()
 * says what went wrong.
 */
int roster_export(Store *s, enum roster_kind kind, FILE *f, unsigned flags);

/*
 * The same into a file (path NULL: standard output). The file is only created
 * or replaced once the whole export is ready, so a failed export leaves an
 * existing file as it was.
 */
int roster_export_file(Store *s, enum roster_kind kind, const char *path, unsigned flags);

/* A sentence about the last failed roster_export*() on this thread ("" if none). */
const char *roster_export_error(void);
