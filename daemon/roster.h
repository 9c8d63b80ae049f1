/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The roster kinds committee staff keep: residents, contacts, links
 * (resident ↔ contact with an escalation tier) and sensors. One table
 * describes each kind's columns (English names from the external contract,
 * plus the Chinese headers Excel users write), so CSV import/export,
 * `shouwangctl KIND list|add|edit|remove` and the store share one
 * definition. Rows travel as arrays of strings in column order.
 *
 * Pure code: no I/O, no logging. Validation returns a message for a person.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum roster_kind {
        ROSTER_RESIDENTS,
        ROSTER_CONTACTS,
        ROSTER_LINKS,
        ROSTER_SENSORS,
        _ROSTER_KIND_MAX,
};

#define ROSTER_MAX_COLUMNS 12

struct roster_column {
        const char *name;              /* English header, also the --option name for add/edit */
        const char *const *aliases;    /* other accepted headers (Chinese, spelling variants), NULL-terminated */
        bool required;                 /* must be non-empty */
        const char *help;              /* one line for --help and docs */
};

struct roster_kind_info {
        enum roster_kind kind;
        const char *name;     /* "residents" */
        const char *singular; /* "resident" */
        const struct roster_column *columns;
        size_t n_columns;
        size_t n_key; /* the first n_key columns identify a row (1, or 2 for links) */
};

const struct roster_kind_info *roster_kind_info(enum roster_kind kind);
/* "residents", "resident", "contacts", ... → kind, or -EINVAL. */
int roster_kind_from_string(const char *s);

/*
 * Find which column a header cell names (case-insensitive, surrounding space
 * ignored, English or alias). Returns the column index or -ENOENT.
 */
int roster_column_lookup(const struct roster_kind_info *info, const char *header);

/*
 * Check and normalise one row in place (pure: formats and enums only;
 * references to other rows are the store's job). Values may be replaced by
 * their canonical form (e.g. lives_alone "是" → "1", tier "一" → "1",
 * role "楼组长" → "group_leader"); replaced strings are freed with free().
 * v has info->n_columns entries; NULL means empty.
 * Returns 0, or -EINVAL with *ret_error set to a malloc'd message naming
 * the column and what to write instead.
 */
int roster_row_normalise(enum roster_kind kind, char **v, char **ret_error);

/* Free every value of a row (not the array itself) and set them NULL. */
void roster_row_clear(char **v, size_t n);

/* Helpers the normaliser uses, exposed for the daemon and tests. */
int parse_yes_no(const char *s); /* 1, 0, or -EINVAL: 1/0/yes/no/y/n/true/false/是/否/Y/N */

/* Contact roles. */
enum contact_role {
        ROLE_NEIGHBOUR,
        ROLE_GROUP_LEADER,
        ROLE_COMMITTEE,
        ROLE_FAMILY,
        ROLE_PROPERTY,
        _ROLE_MAX,
};
const char *contact_role_to_string(enum contact_role r);
int contact_role_from_string(const char *s); /* accepts Chinese names too */

/* Sensor kinds (the normaliser and the rules use the same enum). */
enum sensor_kind {
        SENSOR_LEAK,
        SENSOR_DOOR,
        SENSOR_MOTION,
        SENSOR_BUTTON,
        SENSOR_FALL,
        SENSOR_WATER_FLOW,
        SENSOR_WATER_METER,
        SENSOR_SMOKE,
        SENSOR_GAS,
        SENSOR_CO,
        _SENSOR_KIND_MAX,
};
const char *sensor_kind_to_string(enum sensor_kind k);
int sensor_kind_from_string(const char *s);
