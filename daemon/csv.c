/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CSV reading (encoding detection, RFC 4180 with Excel's habits, line
 * numbers a person can find) and writing (quoting, CRLF, GBK, Excel's ="…"
 * text form). See csv.h for what is accepted and why.
 */

#include "daemon/csv.h"

#include <iconv.h>
#include <stdarg.h>
#include <stdint.h>

#include "daemon/util.h"

/* How to save a file so that we can read it; part of several messages. */
#define HOW_TO_SAVE "in Excel choose 文件 → 另存为 and the type \"CSV UTF-8 (逗号分隔)(*.csv)\""

const char *csv_encoding_to_string(enum csv_encoding e)
{
        switch (e) {
        case CSV_ENCODING_UTF8:
                return "UTF-8";
        case CSV_ENCODING_UTF8_BOM:
                return "UTF-8 with BOM";
        case CSV_ENCODING_GB18030:
                return "GBK";
        case CSV_ENCODING_UTF16:
                return "UTF-16";
        case _CSV_ENCODING_MAX:
                break;
        }
        return NULL;
}

void csv_table_done(struct csv_table *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->n_records; i++) {
                for (size_t j = 0; j < t->records[i].n_fields; j++)
                        free(t->records[i].fields[j]);
                free(t->records[i].fields);
        }
        free(t->records);
        for (size_t i = 0; i < t->n_errors; i++)
                free(t->errors[i].message);
        free(t->errors);
        *t = (struct csv_table){ 0 };
}

_printf_(2, 3) static char *message(char **ret, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret, fmt, ap) < 0)
                *ret = NULL;
        va_end(ap);
        return *ret;
}

/* Number of the physical line (1-based) that byte `offset` is on; CRLF, LF and CR each end a line. */
static unsigned line_of(const uint8_t *p, size_t offset)
{
        unsigned line = 1;

        for (size_t i = 0; i < offset; i++)
                if (p[i] == '\n' || (p[i] == '\r' && (i + 1 >= offset || p[i + 1] != '\n')))
                        line++;
        return line;
}

/* 0 if valid UTF-8; else -EILSEQ with the offset of the first bad byte and how many
 * multi-byte characters came before it (to tell "UTF-8 with one bad byte" from GBK). */
static int utf8_validate(const uint8_t *p, size_t size, size_t *ret_bad, size_t *ret_n_multibyte)
{
        size_t i = 0, multi = 0;

        while (i < size) {
                size_t n = utf8_char_len(p + i, size - i);
                if (n == 0) {
                        *ret_bad = i;
                        *ret_n_multibyte = multi;
                        return -EILSEQ;
                }
                if (n > 1)
                        multi++;
                i += n;
        }
        return 0;
}

/*
 * Convert with iconv(3) into a malloc'd NUL-terminated buffer. On EILSEQ/EINVAL
 * *ret_bad is the offset in the input where conversion stopped.
 */
static int convert(const char *to, const char *from, const char *in, size_t in_size, char **ret, size_t *ret_size,
                   size_t *ret_bad)
{
        iconv_t cd = iconv_open(to, from);
        size_t cap = in_size * 2 + 16, used = 0;
        char *out = NULL, *inp = (char *)in;
        size_t in_left = in_size;
        int r = 0;

        if (cd == (iconv_t)-1)
                return -errno;
        out = malloc(cap);
        if (!out) {
                iconv_close(cd);
                return -ENOMEM;
        }
        for (;;) {
                char *outp = out + used;
                size_t out_left = cap - used - 1;
                size_t k = iconv(cd, in_left ? &inp : NULL, &in_left, &outp, &out_left);
                used = (size_t)(outp - out);
                if (k != (size_t)-1) {
                        if (in_left == 0)
                                break;
                        continue;
                }
                if (errno == E2BIG) {
                        char *bigger = realloc(out, cap * 2);
                        if (!bigger) {
                                r = -ENOMEM;
                                break;
                        }
                        out = bigger;
                        cap *= 2;
                        continue;
                }
                /* EILSEQ: an invalid sequence; EINVAL: one cut off at the end. */
                r = -EILSEQ;
                if (ret_bad)
                        *ret_bad = (size_t)(inp - in);
                break;
        }
        iconv_close(cd);
        if (r < 0) {
                free(out);
                return r;
        }
        out[used] = '\0';
        *ret = out;
        *ret_size = used;
        return 0;
}

/* Some tools add a BOM to a file that has one already; a second one would stick to the first header. */
static void strip_boms(char *text, size_t *size)
{
        size_t skip = 0;

        while (*size - skip >= 3 && memcmp(text + skip, CSV_UTF8_BOM, 3) == 0)
                skip += 3;
        if (skip > 0) {
                memmove(text, text + skip, *size - skip + 1);
                *size -= skip;
        }
}

int csv_decode(const void *data, size_t size, char **ret_text, size_t *ret_size, enum csv_encoding *ret_encoding,
               char **ret_error)
{
        const uint8_t *p = data;
        _cleanup_free_ char *dummy = NULL;
        char **err = ret_error ? ret_error : &dummy;
        size_t bad = 0, multi = 0, gb_bad = 0;
        char *text;
        int r;

        *err = NULL;

        /* People rename a workbook to .csv, or pick the workbook in a file dialog. */
        if (size >= 4 && memcmp(p, "PK\x03\x04", 4) == 0) {
                message(err, "this is an Excel workbook (.xlsx), not a CSV file — %s", HOW_TO_SAVE);
                return -EMEDIUMTYPE;
        }
        if (size >= 8 && memcmp(p, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0) {
                message(err, "this is an old Excel workbook (.xls), not a CSV file — %s", HOW_TO_SAVE);
                return -EMEDIUMTYPE;
        }

        if (size >= 2 && ((p[0] == 0xff && p[1] == 0xfe) || (p[0] == 0xfe && p[1] == 0xff))) {
                /* "UTF-16" honours and removes the BOM. */
                r = convert("UTF-8", "UTF-16", data, size, &text, ret_size, &bad);
                if (r == -EILSEQ) {
                        message(err, "the file starts like UTF-16 text but is not — %s", HOW_TO_SAVE);
                        return r;
                }
                if (r < 0)
                        return r;
                strip_boms(text, ret_size);
                *ret_text = text;
                *ret_encoding = CSV_ENCODING_UTF16;
                return 0;
        }

        bool bom = size >= 3 && memcmp(p, CSV_UTF8_BOM, 3) == 0;
        if (bom) {
                p += 3;
                size -= 3;
        }
        if (utf8_validate(p, size, &bad, &multi) == 0) {
                text = malloc(size + 1);
                if (!text)
                        return -ENOMEM;
                memcpy(text, p, size);
                text[size] = '\0';
                strip_boms(text, &size);
                *ret_text = text;
                *ret_size = size;
                *ret_encoding = bom ? CSV_ENCODING_UTF8_BOM : CSV_ENCODING_UTF8;
                return 0;
        }
        if (bom) {
                message(err, "the file says it is UTF-8 but line %u is not valid UTF-8 — %s", line_of(p, bad),
                        HOW_TO_SAVE);
                return -EILSEQ;
        }

        /* Not UTF-8: Excel on Chinese Windows saves "CSV (逗号分隔)" in the ANSI code
         * page, GBK. GB18030 is a superset, so decode with that. */
        r = convert("UTF-8", "GB18030", (const char *)p, size, &text, ret_size, &gb_bad);
        if (r == 0) {
                *ret_text = text;
                *ret_encoding = CSV_ENCODING_GB18030;
                return 0;
        }
        if (r != -EILSEQ)
                return r;
        /* Neither. If there was good UTF-8 before the bad byte, the file is meant to be
         * UTF-8 and that line is the one to fix; otherwise name where GBK broke down. */
        message(err, "the file is neither UTF-8 nor GBK text (line %u has bytes that are neither) — %s",
                multi > 0 ? line_of(p, bad) : line_of(p, gb_bad), HOW_TO_SAVE);
        return -EILSEQ;
}

/* ---- parsing ---------------------------------------------------------------------------------------------- */

struct parser {
        const char *p, *end;
        char sep;
        unsigned line;
        unsigned flags;
        struct csv_table *t;
        size_t n_header; /* columns of the header, once read */
        bool have_header;
};

struct buf {
        char *data;
        size_t len, cap;
};

static int buf_put(struct buf *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *d = realloc(b->data, cap);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

static char *buf_steal(struct buf *b)
{
        char *d = b->data ? b->data : strdup("");
        *b = (struct buf){ 0 };
        return d;
}

_printf_(3, 4) static int add_error(struct csv_table *t, unsigned line, const char *fmt, ...)
{
        struct csv_error *e;
        char *msg;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return -ENOMEM;
        e = realloc(t->errors, (t->n_errors + 1) * sizeof(*e));
        if (!e) {
                free(msg);
                return -ENOMEM;
        }
        t->errors = e;
        t->errors[t->n_errors++] = (struct csv_error){ line, msg };
        return 0;
}

/* Bytes of a white-space character at p that surrounds a value: space, tab (unless it
 * separates), the ideographic space U+3000 a Chinese input method types, and U+00A0. */
static size_t space_at(const char *p, const char *end, char sep)
{
        if (p >= end)
                return 0;
        if (*p == ' ' || (*p == '\t' && sep != '\t'))
                return 1;
        if (end - p >= 3 && memcmp(p, "\xe3\x80\x80", 3) == 0)
                return 3;
        if (end - p >= 2 && memcmp(p, "\xc2\xa0", 2) == 0)
                return 2;
        return 0;
}

static size_t trailing_space(const char *s, size_t len, char sep)
{
        if (len >= 1 && (s[len - 1] == ' ' || (s[len - 1] == '\t' && sep != '\t')))
                return 1;
        if (len >= 3 && memcmp(s + len - 3, "\xe3\x80\x80", 3) == 0)
                return 3;
        if (len >= 2 && memcmp(s + len - 2, "\xc2\xa0", 2) == 0)
                return 2;
        return 0;
}

static bool at_record_end(const struct parser *ps)
{
        return ps->p >= ps->end || *ps->p == '\r' || *ps->p == '\n';
}

/* Excel's ="…" (text that must not become a number) arrives as a quoted value
 * `="0123"`; unwrap it in place, undoubling quotes inside the formula string. */
static void unwrap_excel_text(char *v)
{
        size_t n = strlen(v);
        char *d;

        if (n < 3 || v[0] != '=' || v[1] != '"' || v[n - 1] != '"')
                return;
        /* Inside, a quote must come doubled, else this is not one string literal. */
        for (size_t i = 2; i < n - 1; i++)
                if (v[i] == '"') {
                        if (i + 1 < n - 1 && v[i + 1] == '"')
                                i++;
                        else
                                return;
                }
        d = v;
        for (size_t i = 2; i < n - 1; i++) {
                *d++ = v[i];
                if (v[i] == '"')
                        i++;
        }
        *d = '\0';
}

/*
 * Read a quoted value starting at the opening quote. Line breaks inside become
 * '\n' (Excel's Alt+Enter), whatever the file's line ends are, so that export
 * writes them back the same way. Returns 0, -EBADMSG (never closed) or -ENOMEM.
 */
static int read_quoted(struct parser *ps, struct buf *b)
{
        unsigned start_line = ps->line;

        ps->p++; /* the opening quote */
        while (ps->p < ps->end) {
                const char *q = ps->p;
                /* Copy runs of ordinary bytes at once. */
                while (q < ps->end && *q != '"' && *q != '\r' && *q != '\n')
                        q++;
                if (q > ps->p && buf_put(b, ps->p, (size_t)(q - ps->p)) < 0)
                        return -ENOMEM;
                ps->p = q;
                if (q >= ps->end)
                        break;
                if (*q == '"') {
                        if (q + 1 < ps->end && q[1] == '"') {
                                if (buf_put(b, "\"", 1) < 0)
                                        return -ENOMEM;
                                ps->p = q + 2;
                                continue;
                        }
                        ps->p = q + 1;
                        return buf_put(b, "", 0);
                }
                /* A line break inside the value. */
                if (buf_put(b, "\n", 1) < 0)
                        return -ENOMEM;
                ps->line++;
                ps->p = q + 1;
                if (*q == '\r' && ps->p < ps->end && *ps->p == '\n')
                        ps->p++;
        }
        ps->line = start_line;
        return -EBADMSG;
}

/* Shorten a value for a message, at a character boundary. */
static char *excerpt(const char *s)
{
        size_t n = 0, max = 40;

        while (s[n] && n < max) {
                size_t k = utf8_char_len((const uint8_t *)s + n, strlen(s + n));
                n += k ? k : 1;
        }
        if (!s[n])
                return strdup(s);
        char *e;
        return asprintf(&e, "%.*s…", (int)n, s) < 0 ? NULL : e;
}

static int push_record(struct parser *ps, char **fields, size_t n, unsigned line)
{
        struct csv_table *t = ps->t;
        struct csv_record *rec = realloc(t->records, (t->n_records + 1) * sizeof(*rec));

        if (!rec)
                return -ENOMEM;
        t->records = rec;
        t->records[t->n_records++] = (struct csv_record){ fields, n, line };
        return 0;
}

static void free_fields(char **fields, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(fields[i]);
        free(fields);
}

/*
 * Read one record. Returns 1 when a record was read (kept or dropped with an
 * error), 0 at the end of the text, -EBADMSG on a fatal error, -ENOMEM.
 */
static int read_record(struct parser *ps)
{
        char **fields = NULL;
        size_t n = 0, cap = 0;
        unsigned line = ps->line;
        bool bad = false, all_empty = true;
        int r;

        if (ps->p >= ps->end)
                return 0;

        for (;;) {
                struct buf b = { 0 };
                char *value;
                size_t k;

                while ((k = space_at(ps->p, ps->end, ps->sep)))
                        ps->p += k;

                if (ps->p < ps->end && (*ps->p == '"' || (*ps->p == '=' && ps->p + 1 < ps->end && ps->p[1] == '"'))) {
                        /* A quoted value, or Excel's ="0123" written without quotes around it. */
                        bool excel = *ps->p == '=';
                        unsigned opened = ps->line;
                        ps->p += excel;
                        r = read_quoted(ps, &b);
                        if (r == -EBADMSG) {
                                free(b.data);
                                free_fields(fields, n);
                                ps->t->fatal = true;
                                r = add_error(ps->t, opened,
                                              "a quote (\") opens a value here that is never closed, so the rest "
                                              "of the file became part of it — close the quote, or write a quote "
                                              "inside a value as two (\"\")");
                                return r < 0 ? r : -EBADMSG;
                        }
                        if (r < 0) {
                                free(b.data);
                                free_fields(fields, n);
                                return r;
                        }
                        while ((k = space_at(ps->p, ps->end, ps->sep)))
                                ps->p += k;
                        if (!at_record_end(ps) && *ps->p != ps->sep) {
                                if (!bad && (r = add_error(ps->t, line,
                                                           "text after the closing quote of a value — inside a "
                                                           "quoted value write a quote as two (\"\")")) < 0) {
                                        free(b.data);
                                        free_fields(fields, n);
                                        return r;
                                }
                                bad = true;
                                while (!at_record_end(ps) && *ps->p != ps->sep)
                                        ps->p++;
                        }
                        value = buf_steal(&b);
                        if (!value) {
                                free_fields(fields, n);
                                return -ENOMEM;
                        }
                        if (!excel)
                                unwrap_excel_text(value);
                } else {
                        const char *start = ps->p;
                        while (!at_record_end(ps) && *ps->p != ps->sep) {
                                if (*ps->p == '"' && !bad) {
                                        r = add_error(ps->t, line,
                                                      "a quote (\") in the middle of a value — put the whole value "
                                                      "in quotes and write the quote inside as two: "
                                                      "\"5\"\" screen\"");
                                        if (r < 0) {
                                                free_fields(fields, n);
                                                return r;
                                        }
                                        bad = true;
                                }
                                ps->p++;
                        }
                        size_t len = (size_t)(ps->p - start);
                        while ((k = trailing_space(start, len, ps->sep)))
                                len -= k;
                        value = strndup(start, len);
                        if (!value) {
                                free_fields(fields, n);
                                return -ENOMEM;
                        }
                }
                if (n == cap) {
                        size_t c = cap ? cap * 2 : 8;
                        char **f = realloc(fields, c * sizeof(char *));
                        if (!f) {
                                free(value);
                                free_fields(fields, n);
                                return -ENOMEM;
                        }
                        fields = f;
                        cap = c;
                }
                if (*value)
                        all_empty = false;
                fields[n++] = value;

                if (ps->p < ps->end && *ps->p == ps->sep) {
                        ps->p++;
                        continue;
                }
                /* End of the record: one line end (CRLF, LF or CR), or the end of the text. */
                if (ps->p < ps->end) {
                        if (*ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n')
                                ps->p++;
                        ps->p++;
                        ps->line++;
                }
                break;
        }

        /* Without its header nothing else can be read. */
        if (bad && (ps->flags & CSV_HEADER) && !ps->have_header) {
                free_fields(fields, n);
                ps->t->fatal = true;
                return -EBADMSG;
        }
        /* Blank lines, and rows of empty cells that Excel writes after formatting them, are nothing. */
        if (bad || all_empty) {
                free_fields(fields, n);
                return 1;
        }

        if (ps->flags & CSV_HEADER) {
                if (!ps->have_header) {
                        /* Excel writes empty cells up to the widest row; they are not columns. */
                        while (n > 0 && !*fields[n - 1])
                                free(fields[--n]);
                        ps->n_header = n;
                        ps->have_header = true;
                } else if (n > ps->n_header) {
                        size_t extra = ps->n_header;
                        while (extra < n && !*fields[extra])
                                extra++;
                        if (extra < n) {
                                _cleanup_free_ char *ex = excerpt(fields[extra]);
                                r = add_error(ps->t, line,
                                              "%zu values but the header has %zu columns — '%s' (value %zu) has "
                                              "no column; a value with a comma in it must be in quotes (\"…\")",
                                              n, ps->n_header, ex ? ex : "", extra + 1);
                                free_fields(fields, n);
                                return r < 0 ? r : 1;
                        }
                        for (size_t i = ps->n_header; i < n; i++)
                                free(fields[i]);
                        n = ps->n_header;
                }
        }

        r = push_record(ps, fields, n, line);
        if (r < 0) {
                free_fields(fields, n);
                return r;
        }
        return 1;
}

/* The separator of the first line, for files from Excel in locales that use ';' or
 * from "Unicode text" (tabs): ',' unless the first line has none but has those. */
static char detect_separator(const char *p, const char *end)
{
        size_t comma = 0, semicolon = 0, tab = 0;
        bool in_quotes = false;

        /* The first line with something on it. */
        while (p < end && (*p == '\r' || *p == '\n' || *p == ' '))
                p++;
        for (; p < end; p++) {
                if (*p == '"')
                        in_quotes = !in_quotes;
                else if (in_quotes)
                        continue;
                else if (*p == '\r' || *p == '\n')
                        break;
                else if (*p == ',')
                        comma++;
                else if (*p == ';')
                        semicolon++;
                else if (*p == '\t')
                        tab++;
        }
        if (comma > 0)
                return ',';
        if (tab > 0)
                return '\t';
        if (semicolon > 0)
                return ';';
        return ',';
}

/* Control characters mean this is not a text file (or a damaged one). */
static int check_text(struct csv_table *t, const char *text, size_t size)
{
        for (size_t i = 0; i < size; i++) {
                unsigned char c = (unsigned char)text[i];
                if (c >= 0x20 || c == '\t' || c == '\r' || c == '\n')
                        continue;
                t->fatal = true;
                int r = add_error(t, line_of((const uint8_t *)text, i),
                                  "contains a control character (byte 0x%02x), so this is not a text file — %s", c,
                                  HOW_TO_SAVE);
                return r < 0 ? r : -EBADMSG;
        }
        return 0;
}

int csv_parse(const char *text, size_t size, unsigned flags, struct csv_table *ret)
{
        struct parser ps = {
                .p = text,
                .end = text + size,
                .sep = ',',
                .line = 1,
                .flags = flags,
                .t = ret,
        };
        int r;

        *ret = (struct csv_table){ .separator = ',' };
        r = check_text(ret, text, size);
        if (r < 0)
                return r;
        if (flags & CSV_DETECT_SEPARATOR)
                ps.sep = ret->separator = detect_separator(ps.p, ps.end);

        while ((r = read_record(&ps)) > 0)
                ;
        if (r < 0 && r != -EBADMSG)
                return r;
        return ret->n_errors > 0 ? -EBADMSG : 0;
}

int csv_parse_bytes(const void *data, size_t size, unsigned flags, struct csv_table *ret)
{
        _cleanup_free_ char *text = NULL, *err = NULL;
        enum csv_encoding enc = CSV_ENCODING_UTF8;
        size_t n = 0;
        int r;

        *ret = (struct csv_table){ .separator = ',' };
        r = csv_decode(data, size, &text, &n, &enc, &err);
        if (r < 0) {
                if (!err)
                        return r;
                ret->fatal = true;
                ret->errors = calloc(1, sizeof(struct csv_error));
                if (!ret->errors)
                        return -ENOMEM;
                ret->errors[0] = (struct csv_error){ 0, TAKE_PTR(err) };
                ret->n_errors = 1;
                return r;
        }
        r = csv_parse(text, n, flags, ret);
        ret->encoding = enc;
        return r;
}

/* ---- writing ---------------------------------------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* "1-2", "3/4", "2024-01-01": Excel turns these into dates. */
static bool looks_like_date(const char *s)
{
        size_t parts = 0;

        for (;;) {
                size_t n = strspn(s, "0123456789");
                if (n == 0 || n > 4)
                        return false;
                parts++;
                s += n;
                if (!*s)
                        return parts >= 2;
                if ((*s != '-' && *s != '/') || parts == 3)
                        return false;
                s++;
        }
}

bool csv_excel_would_change(const char *v)
{
        size_t n;

        if (isempty(v))
                return false;
        /* A formula, or a number with a sign (+8613800000000 becomes 8.6138E+12). */
        if (strchr("=+-@", v[0]))
                return true;
        n = strlen(v);
        if (all_digits(v, n))
                /* Leading zeros go; more than 11 digits are shown (and saved) as 1.38E+12. */
                return (v[0] == '0' && n > 1) || n > 11;
        if (looks_like_date(v))
                return true;
        /* 1E5 → 100000; 1.50 → 1.5. */
        size_t lead = strspn(v, "0123456789");
        if (lead > 0 && (v[lead] == 'e' || v[lead] == 'E')) {
                const char *x = v + lead + 1;
                if (*x == '+' || *x == '-')
                        x++;
                if (all_digits(x, strlen(x)))
                        return true;
        }
        if (lead > 0 && v[lead] == '.' && all_digits(v + lead + 1, strlen(v + lead + 1)) && v[n - 1] == '0')
                return true;
        return false;
}

static bool needs_quotes(const char *v)
{
        size_t n = strlen(v);

        if (n == 0)
                return false;
        if (strpbrk(v, ",\"\r\n"))
                return true;
        /* The reader trims unquoted values; quotes keep spaces that belong to the value. */
        return space_at(v, v + n, ',') || trailing_space(v, n, ',');
}

static int put_quoted(FILE *f, const char *v)
{
        if (fputc('"', f) == EOF)
                return -EIO;
        for (; *v; v++) {
                if (*v == '"' && fputc('"', f) == EOF)
                        return -EIO;
                if (fputc(*v, f) == EOF)
                        return -EIO;
        }
        return fputc('"', f) == EOF ? -EIO : 0;
}

int csv_write_record(FILE *f, const char *const *fields, size_t n, unsigned flags)
{
        int r;

        for (size_t i = 0; i < n; i++) {
                const char *v = strempty(fields[i]);

                if (i > 0 && fputc(',', f) == EOF)
                        return -EIO;
                /* Excel formulas hold at most 255 characters and no line breaks. */
                if ((flags & CSV_WRITE_EXCEL_TEXT) && csv_excel_would_change(v) && strlen(v) <= 255 &&
                    !strpbrk(v, "\r\n")) {
                        /* ="…" with quotes doubled for the formula, then quoted again for CSV. */
                        struct buf b = { 0 };
                        if (buf_put(&b, "=\"", 2) < 0)
                                return -ENOMEM;
                        for (const char *c = v; *c; c++)
                                if (buf_put(&b, c, 1) < 0 || (*c == '"' && buf_put(&b, "\"", 1) < 0)) {
                                        free(b.data);
                                        return -ENOMEM;
                                }
                        if (buf_put(&b, "\"", 1) < 0) {
                                free(b.data);
                                return -ENOMEM;
                        }
                        r = put_quoted(f, b.data);
                        free(b.data);
                } else if (needs_quotes(v))
                        r = put_quoted(f, v);
                else
                        r = fputs(v, f) == EOF ? -EIO : 0;
                if (r < 0)
                        return r;
        }
        return fputs("\r\n", f) == EOF ? -EIO : 0;
}

int csv_encode_gbk(const char *text, size_t size, char **ret, size_t *ret_size, char **ret_error)
{
        size_t bad = 0;
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = convert("GBK", "UTF-8", text, size, ret, ret_size, &bad);
        if (r == -EILSEQ && ret_error) {
                size_t k = bad < size ? utf8_char_len((const uint8_t *)text + bad, size - bad) : 0;
                message(ret_error, "'%.*s' on line %u cannot be written in GBK", (int)(k ? k : 1), text + bad,
                        line_of((const uint8_t *)text, bad));
        }
        return r;
}
