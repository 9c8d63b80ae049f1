/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/roster-put.h"

void tu_roster_row_v(enum roster_kind kind, char **out, va_list ap)
{
        const struct roster_kind_info *info = roster_kind_info(kind);

        for (size_t i = 0; i < info->n_columns; i++) {
                const char *x = va_arg(ap, const char *);
                out[i] = x ? strdup(x) : NULL;
        }
}

void tu_roster_put(Store *s, enum roster_kind kind, ...)
{
        const struct roster_kind_info *info = roster_kind_info(kind);
        char *v[ROSTER_MAX_COLUMNS] = { 0 }, *err = NULL;
        va_list ap;

        va_start(ap, kind);
        tu_roster_row_v(kind, v, ap);
        va_end(ap);
        if (roster_row_normalise(kind, v, &err) < 0 || store_roster_check(s, kind, v, &err) < 0)
                fail_msg("%s", err);
        assert_int_equal(store_roster_upsert(s, kind, v, NULL), 0);
        roster_row_clear(v, info->n_columns);
}
