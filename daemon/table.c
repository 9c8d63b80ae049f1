/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Terminal tables aligned by display width. */

#include "daemon/table.h"

struct Table {
        size_t n_columns;
        size_t n_cells, alloc;
        char **cells; /* row-major, header first */
};

Table *table_new(size_t n_columns, const char *const *headers)
{
        Table *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->n_columns = n_columns;
        if (table_add_row(t, headers) < 0)
                return table_free(t);
        return t;
}

Table *table_free(Table *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}

int table_add_row(Table *t, const char *const *cells)
{
        if (t->n_cells + t->n_columns > t->alloc) {
                size_t na = t->alloc ? t->alloc * 2 : 64;
                while (na < t->n_cells + t->n_columns)
                        na *= 2;
                char **nc = realloc(t->cells, na * sizeof(char *));
                if (!nc)
                        return -ENOMEM;
                t->cells = nc;
                t->alloc = na;
        }
        for (size_t i = 0; i < t->n_columns; i++) {
                char *c = strdup(cells[i] ? cells[i] : "");
                if (!c)
                        return -ENOMEM;
                /* One line per row: a note with a newline would break the layout. */
                for (char *p = c; *p; p++)
                        if (*p == '\n' || *p == '\r' || *p == '\t')
                                *p = ' ';
                t->cells[t->n_cells++] = c;
        }
        return 0;
}

size_t table_rows(Table *t)
{
        return t->n_cells / t->n_columns - 1;
}

static bool is_wide(uint32_t c)
{
        return (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0x303e) || (c >= 0x3041 && c <= 0x33ff) ||
               (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xa000 && c <= 0xa4cf) ||
               (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) ||
               (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
               (c >= 0x20000 && c <= 0x3fffd);
}

size_t utf8_display_width(const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t w = 0;

        while (*p) {
                uint32_t c;
                int n;
                if (*p < 0x80) {
                        c = *p;
                        n = 1;
                } else if ((*p & 0xe0) == 0xc0) {
                        c = *p & 0x1f;
                        n = 2;
                } else if ((*p & 0xf0) == 0xe0) {
                        c = *p & 0x0f;
                        n = 3;
                } else if ((*p & 0xf8) == 0xf0) {
                        c = *p & 0x07;
                        n = 4;
                } else {
                        p++;
                        w++;
                        continue;
                }
                int i;
                for (i = 1; i < n && (p[i] & 0xc0) == 0x80; i++)
                        c = (c << 6) | (p[i] & 0x3f);
                p += i;
                if (c >= 0x300 && c <= 0x36f) /* combining marks take no column */
                        continue;
                w += is_wide(c) ? 2 : 1;
        }
        return w;
}

void table_print(Table *t, FILE *f)
{
        size_t n_rows = t->n_cells / t->n_columns;
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));

        if (!width)
                return;
        for (size_t r = 0; r < n_rows; r++)
                for (size_t c = 0; c < t->n_columns; c++) {
                        size_t w = utf8_display_width(t->cells[r * t->n_columns + c]);
                        if (w > width[c])
                                width[c] = w;
                }
        for (size_t r = 0; r < n_rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        const char *cell = t->cells[r * t->n_columns + c];
                        fputs(cell, f);
                        if (c + 1 < t->n_columns)
                                fprintf(f, "%*s", (int)(width[c] - utf8_display_width(cell) + 2), "");
                }
                fputc('\n', f);
        }
}
