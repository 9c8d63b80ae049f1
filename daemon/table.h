/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Text tables for the terminal, aligned by display width (a Chinese
 * character takes two columns), as shouwangctl prints lists.
 */
#pragma once

#include <stdio.h>

#include "daemon/util.h"

typedef struct Table Table;

/* A table with the given header cells (copied). NULL on OOM. */
Table *table_new(size_t n_columns, const char *const *headers);
Table *table_free(Table *t);
DEFINE_FREE_FUNC(Table, table_free);

/* Append a row of n_columns cells (copied; NULL prints as empty). 0 or -ENOMEM. */
int table_add_row(Table *t, const char *const *cells);
size_t table_rows(Table *t);

/* Print with two spaces between columns; the last column is not padded. */
void table_print(Table *t, FILE *f);

/* Columns a UTF-8 string takes on a terminal (East Asian wide = 2). */
size_t utf8_display_width(const char *s);
