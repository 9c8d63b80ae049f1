/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging: journal with structured fields under systemd, stderr otherwise. */

#include "daemon/log.h"

#include <stdarg.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

static enum log_target log_target = LOG_TARGET_STDERR;
static int log_max_level = LOG_INFO;

static bool stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(enum log_target target)
{
        const char *lvl = getenv("SHOUWANG_LOG_LEVEL");

        if (target == LOG_TARGET_AUTO)
                target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
        log_target = target;
        if (lvl && log_parse_level(lvl) >= 0)
                log_max_level = log_parse_level(lvl);
}

void log_set_max_level(int level)
{
        log_max_level = level;
}

int log_get_max_level(void)
{
        return log_max_level;
}

int log_parse_level(const char *s)
{
        static const char *const names[] = {
                [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "err",         [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info",       [LOG_DEBUG] = "debug",
        };
        if (!s)
                return -EINVAL;
        for (int i = 0; i < (int)ELEMENTSOF(names); i++)
                if (strcasecmp(s, names[i]) == 0)
                        return i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        if (strcasecmp(s, "warn") == 0)
                return LOG_WARNING;
        return -EINVAL;
}

int log_internal(int level, int error, const char *const *fields, const char *file, int line, const char *func,
                 const char *format, ...)
{
        char msg[2048];
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level > log_max_level)
                return error ? -error : 0;

        /* Make %m print our error, not whatever errno happens to be. */
        errno = error;
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);

        if (log_target == LOG_TARGET_JOURNAL) {
                struct iovec iov[24];
                char *owned[24];
                size_t n = 0, k = 0;

#define ADD(...)                                                                                                 \
        do {                                                                                                     \
                char *_s;                                                                                        \
                if (n < ELEMENTSOF(iov) && asprintf(&_s, __VA_ARGS__) >= 0) {                                    \
                        owned[k++] = _s;                                                                         \
                        iov[n++] = (struct iovec){ _s, strlen(_s) };                                             \
                }                                                                                                \
        } while (0)
                ADD("MESSAGE=%s", msg);
                ADD("PRIORITY=%d", level);
                ADD("CODE_FILE=%s", file);
                ADD("CODE_LINE=%d", line);
                ADD("CODE_FUNC=%s", func);
                if (error)
                        ADD("ERRNO=%d", error);
                for (size_t i = 0; fields && fields[i]; i++)
                        ADD("%s", fields[i]);
#undef ADD
                sd_journal_sendv(iov, (int)n);
                for (size_t i = 0; i < k; i++)
                        free(owned[i]);
        } else {
                static const char *const prefix[] = { "EMERG", "ALERT", "CRIT", "ERROR",
                                                      "WARNING", "NOTICE", "INFO", "DEBUG" };
                if (level <= LOG_WARNING)
                        fprintf(stderr, "%s: %s\n", prefix[level & 7], msg);
                else
                        fprintf(stderr, "%s\n", msg);
        }

        errno = saved;
        return error ? -error : 0;
}
