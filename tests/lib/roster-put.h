/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A roster row straight into a store, as shouwangctl would write it:
 * normalised and checked first, failing the test (cmocka) with the reason
 * if the row is refused. For unit tests that build a roster in code.
 */
#pragma once

#include <stdarg.h>

#include "daemon/roster.h"
#include "daemon/store.h"

/* One row of `kind`: its columns in roster order, as strings (NULL: empty). */
void tu_roster_put(Store *s, enum roster_kind kind, ...);

/* The columns of a row of `kind` from ap (strings, NULL: empty), copied into out (free with
 * roster_row_clear()). */
void tu_roster_row_v(enum roster_kind kind, char **out, va_list ap);
