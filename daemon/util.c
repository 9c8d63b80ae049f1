/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Time, parsing and string helpers shared by the daemon, the CLI and tests. */

#include "daemon/util.h"

#include <ctype.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>

usec_t now_usec(clockid_t clock)
{
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                abort(); /* only EINVAL for a bad clock id: a programming error */
        return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

char *format_iso8601(char *buf, size_t size, usec_t realtime)
{
        time_t t = (time_t)(realtime / USEC_PER_SEC);
        struct tm tm;
        char off[24];
        long gmtoff;

        if (!localtime_r(&t, &tm)) {
                snprintf(buf, size, "?");
                return buf;
        }
        gmtoff = tm.tm_gmtoff;
        snprintf(off, sizeof(off), "%c%02ld:%02ld", gmtoff < 0 ? '-' : '+', labs(gmtoff) / 3600,
                 (labs(gmtoff) % 3600) / 60);
        size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        if (n == 0 || n + strlen(off) + 1 > size) {
                snprintf(buf, size, "?");
                return buf;
        }
        memcpy(buf + n, off, strlen(off) + 1);
        return buf;
}

int safe_atoi(const char *s, int *ret)
{
        char *end;
        long v;

        if (isempty(s))
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno == ERANGE || v < INT_MIN || v > INT_MAX)
                return -ERANGE;
        if (*end != '\0' || end == s)
                return -EINVAL;
        *ret = (int)v;
        return 0;
}

int safe_atod(const char *s, double *ret)
{
        char *end;
        double v;

        if (isempty(s))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno == ERANGE || !isfinite(v))
                return -ERANGE;
        if (*end != '\0' || end == s)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_duration(const char *s, usec_t *ret)
{
        static const struct {
                const char *suffix;
                usec_t mult;
        } units[] = {
                { "ms", USEC_PER_MSEC },     { "s", USEC_PER_SEC },     { "sec", USEC_PER_SEC },
                { "m", USEC_PER_MINUTE },    { "min", USEC_PER_MINUTE }, { "h", USEC_PER_HOUR },
                { "hour", USEC_PER_HOUR },   { "hours", USEC_PER_HOUR }, { "d", USEC_PER_DAY },
                { "day", USEC_PER_DAY },     { "days", USEC_PER_DAY },   { "", USEC_PER_SEC },
        };
        char *end;
        double v;

        if (isempty(s))
                return -EINVAL;
        while (isspace((unsigned char)*s))
                s++;
        errno = 0;
        v = strtod(s, &end);
        if (end == s || errno == ERANGE || !isfinite(v) || v < 0)
                return -EINVAL;
        while (isspace((unsigned char)*end))
                end++;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcasecmp(end, units[i].suffix) == 0) {
                        double us = v * (double)units[i].mult;
                        if (us > 1e18)
                                return -ERANGE;
                        *ret = (usec_t)llround(us);
                        return 0;
                }
        return -EINVAL;
}

static int parse_offset(const char *s, long *ret_seconds)
{
        int sign, h, m;

        if (*s == 'Z' && s[1] == '\0') {
                *ret_seconds = 0;
                return 0;
        }
        if (*s != '+' && *s != '-')
                return -EINVAL;
        sign = *s == '-' ? -1 : 1;
        if (sscanf(s + 1, "%2d:%2d", &h, &m) != 2 && sscanf(s + 1, "%2d%2d", &h, &m) != 2)
                return -EINVAL;
        if (h > 14 || m > 59)
                return -EINVAL;
        *ret_seconds = sign * (h * 3600L + m * 60L);
        return 0;
}

int parse_time(const char *s, usec_t now, usec_t *ret)
{
        struct tm tm = { 0 };
        const char *rest;
        usec_t d;

        if (isempty(s))
                return -EINVAL;
        if (*s == '+') {
                if (parse_duration(s + 1, &d) < 0)
                        return -EINVAL;
                *ret = now + d;
                return 0;
        }
        if (streq(s, "now")) {
                *ret = now;
                return 0;
        }

        rest = strptime(s, "%Y-%m-%d", &tm);
        if (!rest)
                return -EINVAL;
        if (*rest == 'T' || *rest == ' ') {
                const char *r = strptime(rest + 1, "%H:%M:%S", &tm);
                if (!r)
                        r = strptime(rest + 1, "%H:%M", &tm);
                if (!r)
                        return -EINVAL;
                rest = r;
        }
        if (*rest) {
                long off;
                if (parse_offset(rest, &off) < 0)
                        return -EINVAL;
                time_t t = timegm(&tm);
                if (t == (time_t)-1)
                        return -EINVAL;
                t -= off;
                *ret = (usec_t)t * USEC_PER_SEC;
                return 0;
        }
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t == (time_t)-1)
                return -EINVAL;
        *ret = (usec_t)t * USEC_PER_SEC;
        return 0;
}

/* Length of the UTF-8 sequence at p (1–4), or 0 if it is not valid UTF-8
 * (overlong forms, surrogates and code points above U+10FFFF included). */
size_t utf8_char_len(const uint8_t *p, size_t left)
{
        uint8_t c = p[0];
        size_t n;
        uint32_t cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4, cp = c & 0x07;
        else
                return 0;
        if (left < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

bool utf8_valid(const char *s)
{
        size_t left = strlen(s);

        for (const uint8_t *p = (const uint8_t *)s; left > 0;) {
                size_t n = utf8_char_len(p, left);
                if (n == 0)
                        return false;
                p += n;
                left -= n;
        }
        return true;
}

char *url_escape(const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        char *out = malloc(strlen(s) * 3 + 1), *o = out;

        if (!out)
                return NULL;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~", *p))
                        *o++ = (char)*p;
                else {
                        *o++ = '%';
                        *o++ = hex[*p >> 4];
                        *o++ = hex[*p & 15];
                }
        }
        *o = '\0';
        return out;
}

char *strstrip(char *s)
{
        char *e;

        while (isspace((unsigned char)*s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

char *path_join(const char *a, const char *b)
{
        char *p;

        if (asprintf(&p, "%s/%s", a, b) < 0)
                return NULL;
        return p;
}

int read_full_file(const char *path, char **ret_data, size_t *ret_size)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                if (alloc - size < 4096) {
                        size_t na = alloc ? alloc * 2 : 16384;
                        char *nb = realloc(buf, na + 1);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        alloc = na;
                }
                ssize_t n = read(fd, buf + size, alloc - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t)n;
        }
        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[size] = '\0';
        *ret_data = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int string_pool_add(struct string_pool *p, const char *s, size_t n, uint32_t *ret)
{
        if (p->size - p->used < n + 1) {
                size_t ns = p->size ? p->size : 4096;
                char *d;
                while (ns - p->used < n + 1)
                        ns *= 2;
                if (ns > UINT32_MAX)
                        return -ENOMEM;
                d = realloc(p->data, ns);
                if (!d)
                        return -ENOMEM;
                p->data = d;
                p->size = ns;
        }
        memcpy(p->data + p->used, s, n);
        p->data[p->used + n] = '\0';
        *ret = (uint32_t)p->used;
        p->used += n + 1;
        return 0;
}

void string_pool_shrink(struct string_pool *p)
{
        char *d;

        if (p->used == 0 || p->used == p->size)
                return;
        d = realloc(p->data, p->used);
        if (d) {
                p->data = d;
                p->size = p->used;
        }
}

void string_pool_done(struct string_pool *p)
{
        free(p->data);
        *p = (struct string_pool){ 0 };
}

uint32_t hash_bytes(const char *s, size_t n)
{
        uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

        /* Eight bytes at a time, each block multiplied in; then splitmix64's finaliser, so the low bits (the
         * slot) and the high bits (the tag) both depend on every byte. */
        for (; n >= 8; s += 8, n -= 8) {
                memcpy(&w, s, 8);
                h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
                h ^= h >> 31;
        }
        w = 0;
        memcpy(&w, s, n);
        h ^= w;
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
        h ^= h >> 31;
        return (uint32_t)(h ^ (h >> 32));
}

void hash_slot_put(uint32_t *index, size_t size, uint32_t hash, uint32_t number)
{
        size_t mask = size - 1, i;

        for (i = (size_t)hash & mask; index[i] != 0; i = (i + 1) & mask)
                ;
        index[i] = HASH_SLOT_TAG(hash) | (number + 1);
}

int name_table_reserve(struct name_table *t, size_t n)
{
        if (n >= HASH_SLOT_MASK)
                return -E2BIG;
        if (n > t->alloc) {
                uint32_t *no = realloc(t->offsets, n * sizeof(*no));
                if (!no)
                        return -ENOMEM;
                t->offsets = no;
                t->alloc = n;
        }
        /* Load factor at most 1/2: linear probing stays short. */
        if (n * 2 > t->index_size) {
                size_t ns = t->index_size ? t->index_size : 64;
                uint32_t *ni;
                while (ns < n * 2)
                        ns *= 2;
                ni = calloc(ns, sizeof(*ni));
                if (!ni)
                        return -ENOMEM;
                for (size_t i = 0; i < t->n; i++) {
                        const char *name = name_table_get(t, i);
                        hash_slot_put(ni, ns, hash_bytes(name, strlen(name)), (uint32_t)i);
                }
                free(t->index);
                t->index = ni;
                t->index_size = ns;
        }
        return 0;
}

static int name_table_lookup(const struct name_table *t, const char *name, size_t len, uint32_t hash)
{
        size_t mask;

        if (t->index_size == 0)
                return -ENOENT;
        mask = t->index_size - 1;
        for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
                uint32_t slot = t->index[i];
                if (slot == 0)
                        return -ENOENT;
                if (HASH_SLOT_TAG(slot) != HASH_SLOT_TAG(hash))
                        continue;
                const char *s = name_table_get(t, (slot & HASH_SLOT_MASK) - 1);
                if (memcmp(s, name, len) == 0 && s[len] == '\0')
                        return (int)(slot & HASH_SLOT_MASK) - 1;
        }
}

int name_table_find(const struct name_table *t, const char *name)
{
        size_t len;

        if (!name)
                return -ENOENT;
        len = strlen(name);
        return name_table_lookup(t, name, len, hash_bytes(name, len));
}

int name_table_add(struct name_table *t, const char *name)
{
        size_t len = strlen(name);
        uint32_t hash = hash_bytes(name, len), off;
        int i = name_table_lookup(t, name, len, hash), r;

        if (i >= 0)
                return i;
        /* reserve() keeps the index at least twice the room for numbers. */
        if (t->n == t->alloc) {
                r = name_table_reserve(t, t->alloc ? t->alloc * 2 : 16);
                if (r < 0)
                        return r;
        }
        r = string_pool_add(&t->pool, name, len, &off);
        if (r < 0)
                return r;
        t->offsets[t->n] = off;
        hash_slot_put(t->index, t->index_size, hash, (uint32_t)t->n);
        return (int)t->n++;
}

void name_table_shrink(struct name_table *t)
{
        string_pool_shrink(&t->pool);
        if (t->n > 0 && t->n < t->alloc) {
                uint32_t *no = realloc(t->offsets, t->n * sizeof(*no));
                if (no) {
                        t->offsets = no;
                        t->alloc = t->n;
                }
        }
}

void name_table_done(struct name_table *t)
{
        string_pool_done(&t->pool);
        free(t->offsets);
        free(t->index);
        *t = (struct name_table){ 0 };
}

int dlopen_symbols(const char *soname, const struct dl_symbol *syms, size_t n, void **ret, char *err, size_t size)
{
        void *dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

        if (!dl) {
                snprintf(err, size, "%s", dlerror());
                return -ELIBACC;
        }
        for (size_t i = 0; i < n; i++) {
                *syms[i].ptr = dlsym(dl, syms[i].name);
                if (!*syms[i].ptr) {
                        snprintf(err, size, "%s has no %s", soname, syms[i].name);
                        dlclose(dl);
                        return -ELIBBAD;
                }
        }
        *ret = dl;
        return 0;
}
