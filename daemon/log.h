/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one place that writes log lines. Under systemd (JOURNAL_STREAM set and
 * matching stderr) lines go to the journal with structured fields such as
 * ALERT_ID=, RESIDENT_ID=, SENSOR_ID=; otherwise to stderr as plain text.
 * Pure code (rules/, parsers) never logs: it returns errors and messages.
 */
#pragma once

#include <syslog.h>

#include "daemon/util.h"

enum log_target {
        LOG_TARGET_AUTO,    /* journal if our stderr is the journal, else stderr */
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
};

void log_setup(enum log_target target);
void log_set_max_level(int level);
int log_get_max_level(void);
int log_parse_level(const char *s); /* "debug", "info", ... → LOG_*, or -EINVAL */

/*
 * Log a message; returns -abs(error) when error != 0, else 0, so callers can
 * write `return log_error_errno(r, "Failed to open %s: %m", path);`.
 * %m prints strerror(abs(error)).
 * fields: NULL or a NULL-terminated list of "KEY=value" journal fields.
 */
int log_internal(int level, int error, const char *const *fields, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(7, 8);

#define log_full_errno(level, error, ...)                                                                        \
        log_internal(level, error, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

/* With journal fields: log_fields(LOG_WARNING, 0, FIELDS("SENSOR_ID=%s"...)) is
 * awkward in C, so callers build a small array: */
#define log_struct(level, error, fields, ...)                                                                    \
        log_internal(level, error, fields, __FILE__, __LINE__, __func__, __VA_ARGS__)
