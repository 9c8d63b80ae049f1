/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CSV as committee staff really produce it, and as Excel reads it back.
 *
 * Reading: the bytes of a file are decoded to UTF-8 first (UTF-8 with or
 * without BOM; GBK/GB18030 as Excel on Chinese Windows saves "CSV (逗号分隔)";
 * UTF-16 with BOM as Excel saves "Unicode 文本"), then parsed: RFC 4180
 * quoting (separators, doubled quotes and line breaks inside quotes), CRLF,
 * LF or CR line ends, spaces around unquoted values trimmed, Excel's
 * ="0123" text-forcing form unwrapped, blank lines and rows of empty cells
 * skipped. Every record remembers the physical line it starts on, so a
 * message names the line a person sees in a text editor (header = line 1).
 *
 * Writing: one record at a time, quoted only where needed, CRLF line ends;
 * optionally in the ="…" form for values Excel would otherwise turn into
 * numbers, dates or formulas (phone numbers with a leading 0 or '+').
 *
 * Pure code: no logging. Functions return 0 or a negative errno; messages
 * meant for a person are malloc'd sentences.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CSV_UTF8_BOM "\xef\xbb\xbf"

enum csv_encoding {
        CSV_ENCODING_UTF8,
        CSV_ENCODING_UTF8_BOM,
        CSV_ENCODING_GB18030, /* GBK as Excel saves it; GB18030 is its superset, so we decode with that */
        CSV_ENCODING_UTF16,   /* Excel's "Unicode 文本 (*.txt)": UTF-16 with BOM, usually tab-separated */
        _CSV_ENCODING_MAX,
};

/* "UTF-8", "UTF-8 with BOM", "GBK", "UTF-16". */
const char *csv_encoding_to_string(enum csv_encoding e);

/* A problem with one line (line 0: the file as a whole). */
struct csv_error {
        unsigned line;
        char *message;
};

struct csv_record {
        char **fields; /* n_fields malloc'd UTF-8 strings, never NULL */
        size_t n_fields;
        unsigned line; /* physical line (1-based) on which the record starts */
};

struct csv_table {
        struct csv_record *records; /* with CSV_HEADER, records[0] is the header */
        size_t n_records;
        char separator; /* ',', ';' or '\t' */
        enum csv_encoding encoding;
        struct csv_error *errors; /* in line order; records with errors are not in records[] */
        size_t n_errors;
        bool fatal; /* the file could not be read to the end (encoding, binary data, unterminated quote) */
};

/* Free everything inside; the struct itself is the caller's and is zeroed. Accepts zeroed tables. */
void csv_table_done(struct csv_table *t);

enum {
        /* The first record is a header. Its trailing empty cells are dropped; a later
         * record with more non-empty fields than the header is an error (a comma in an
         * unquoted value, usually); extra empty fields, which Excel writes, are dropped. */
        CSV_HEADER = 1 << 0,
        /* Use ';' or tab as the separator when the first line has no ',' but has those
         * (Excel in locales with a decimal comma; "Unicode text"). */
        CSV_DETECT_SEPARATOR = 1 << 1,
};

/*
 * Decode a file's bytes to NUL-terminated UTF-8 (BOM removed). Returns 0 and
 * sets *ret_text (malloc'd), *ret_size (without the NUL) and *ret_encoding;
 * or -EILSEQ with *ret_error saying the file is neither UTF-8 nor GBK, which
 * line has the first bad bytes and how to save it from Excel; -EMEDIUMTYPE
 * when it is an Excel workbook (.xlsx/.xls) rather than CSV; -ENOMEM.
 * ret_error may be NULL.
 */
int csv_decode(const void *data, size_t size, char **ret_text, size_t *ret_size, enum csv_encoding *ret_encoding,
               char **ret_error);

/*
 * Parse UTF-8 text (not necessarily NUL-terminated) into *ret (zeroed first).
 * Returns 0 when there is nothing to complain about, -EBADMSG when
 * ret->errors is non-empty (records without errors are still in ret->records,
 * unless ret->fatal), -ENOMEM. The errors, each naming its line:
 *   - a quote that is never closed (the line it was opened on; fatal)
 *   - a quote inside a value that does not start with one, text after a closing quote
 *   - more non-empty fields than the header (CSV_HEADER)
 *   - control characters such as NUL bytes (fatal: not a text file)
 */
int csv_parse(const char *text, size_t size, unsigned flags, struct csv_table *ret);

/*
 * csv_decode() then csv_parse(). An encoding problem is returned as
 * -EILSEQ/-EMEDIUMTYPE with one error (line 0 or the bad line) in ret and
 * ret->fatal set; otherwise as csv_parse(). *ret is always initialised.
 */
int csv_parse_bytes(const void *data, size_t size, unsigned flags, struct csv_table *ret);

enum {
        /* Write values Excel would change on opening (0123, +8613800000000, 1-2, -text, =x)
         * as ="…" so it keeps them as text. csv_parse() unwraps the form again. */
        CSV_WRITE_EXCEL_TEXT = 1 << 0,
};

/*
 * Append one record to f: a value is quoted when it holds a comma, quote,
 * line break or leading/trailing space (which the reader would trim); the
 * record ends with CRLF, as Excel writes. NULL fields are written empty.
 * Returns 0 or -EIO/-ENOMEM.
 */
int csv_write_record(FILE *f, const char *const *fields, size_t n, unsigned flags);

/* Does value need CSV_WRITE_EXCEL_TEXT protection? Exposed for tests. */
bool csv_excel_would_change(const char *value);

/*
 * Convert UTF-8 text to GBK for old Excel versions. Returns 0 with a malloc'd
 * buffer, or -EILSEQ with *ret_error naming the first character GBK cannot
 * hold and its line (rare name characters, 生僻字), suggesting UTF-8 instead.
 */
int csv_encode_gbk(const char *text, size_t size, char **ret, size_t *ret_size, char **ret_error);
