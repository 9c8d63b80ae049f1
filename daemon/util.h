/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small helpers every file uses: cleanup attributes, time in microseconds,
 * string helpers. Nothing here does I/O beyond what its name says.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef uint64_t usec_t;
#define USEC_INFINITY ((usec_t)UINT64_MAX)
#define USEC_PER_SEC ((usec_t)1000000ULL)
#define USEC_PER_MSEC ((usec_t)1000ULL)
#define USEC_PER_MINUTE (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR (60ULL * USEC_PER_MINUTE)
#define USEC_PER_DAY (24ULL * USEC_PER_HOUR)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Defines fooP(foo **p) that calls foo_free(*p); for _cleanup_(foo_freep). */
#define DEFINE_FREE_FUNC(type, func)                                                                             \
        static inline void func##p(type **p)                                                                     \
        {                                                                                                        \
                if (*p)                                                                                          \
                        func(*p);                                                                                \
        }

/* Hand ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                              \
        ({                                                                                                       \
                __typeof__(p) _p_ = (p);                                                                         \
                (p) = NULL;                                                                                      \
                _p_;                                                                                             \
        })
#define TAKE_FD(fd)                                                                                              \
        ({                                                                                                       \
                int _fd_ = (fd);                                                                                 \
                (fd) = -1;                                                                                       \
                _fd_;                                                                                            \
        })

static inline bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
static inline bool isempty(const char *s)
{
        return !s || !*s;
}
static inline const char *strempty(const char *s)
{
        return s ? s : "";
}
static inline const char *startswith(const char *s, const char *prefix)
{
        size_t n = strlen(prefix);
        return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Current time of the given clock in microseconds. */
usec_t now_usec(clockid_t clock);

/*
 * Format a realtime timestamp as ISO 8601 with the local offset,
 * e.g. "2026-11-22T01:10:00+08:00". buf must hold at least 32 bytes.
 * Returns buf.
 */
#define ISO8601_MAX 32
char *format_iso8601(char *buf, size_t size, usec_t realtime);

/*
 * Parse a time a person types: "2026-12-01", "2026-12-01 18:00",
 * "2026-12-01T18:00:00+08:00", or relative "+3d", "+12h", "+30m".
 * Local time zone unless an offset is given. Returns 0 or -EINVAL.
 */
int parse_time(const char *s, usec_t now, usec_t *ret);

/* Parse "30s", "5min", "12h", "2d", plain seconds. Returns 0 or -EINVAL/-ERANGE. */
int parse_duration(const char *s, usec_t *ret);

/* strtol with full checking. Returns 0, -EINVAL or -ERANGE. */
int safe_atoi(const char *s, int *ret);
int safe_atod(const char *s, double *ret);

/* Length of the UTF-8 sequence at p (1–4), or 0 if it is not valid UTF-8 (overlong forms, surrogates and
 * code points above U+10FFFF included); left: bytes available at p. */
size_t utf8_char_len(const uint8_t *p, size_t left);
/* Whether the NUL-terminated s is valid UTF-8. */
bool utf8_valid(const char *s);

/* s %XX-encoded for a query value or a form: unreserved characters (A-Z a-z 0-9 - . _ ~) kept. malloc'd,
 * NULL on OOM. */
char *url_escape(const char *s);

/* Trim ASCII white space in place; returns s. */
char *strstrip(char *s);

/* Join a and b with a '/', allocating. NULL on OOM. */
char *path_join(const char *a, const char *b);

/* Read a whole file into a NUL-terminated buffer. 0 or negative errno. */
int read_full_file(const char *path, char **ret_data, size_t *ret_size);

/* A symbol for dlopen_symbols(): its name and where its address goes. */
struct dl_symbol {
        const char *name;
        void **ptr;
};
/* dlopen() soname (RTLD_NOW | RTLD_LOCAL: libraries that export the same names each call their own) and look
 * up every symbol, for a library loaded only when the configuration needs it. 0 with the handle in *ret;
 * -ELIBACC (cannot load) or -ELIBBAD (a symbol is missing) with why in err. */
int dlopen_symbols(const char *soname, const struct dl_symbol *syms, size_t n, void **ret, char *err, size_t size);

/* Many small strings in one buffer, each followed by a NUL and named by its 32-bit offset: a roster's
 * 50,000 topics or ids without a malloc each. Zero-initialise; the offsets stay valid as it grows. */
struct string_pool {
        char *data;
        size_t used, size;
};
/* Append n bytes of s; *ret its offset. 0 or -ENOMEM (also past 4 GiB). */
int string_pool_add(struct string_pool *p, const char *s, size_t n, uint32_t *ret);
static inline const char *string_pool_get(const struct string_pool *p, uint32_t offset)
{
        return p->data + offset;
}
/* Give back the room not used (the pool still grows after). */
void string_pool_shrink(struct string_pool *p);
void string_pool_done(struct string_pool *p);

/* A 32-bit hash of n bytes (eight at a time, mixed by multiplication): the hash of the topic map and the name
 * table, not stored anywhere. No secret seed: only the roster inserts keys, so hostile input can make lookups
 * miss but not lengthen probe chains. */
uint32_t hash_bytes(const char *s, size_t n);

/* The slots of an open-addressing index (a power of two of them, linear probing, 0 empty): an entry's number
 * + 1 in the low 24 bits and 8 bits of its hash above, so a probe that meets another key moves on without
 * reading that key (a cache miss each in a roster of 50,000). */
#define HASH_SLOT_BITS 24
#define HASH_SLOT_MASK ((UINT32_C(1) << HASH_SLOT_BITS) - 1)
#define HASH_SLOT_TAG(hash) ((uint32_t)(hash) & ~HASH_SLOT_MASK)
/* Put number (< HASH_SLOT_MASK) in the first free slot for hash. */
void hash_slot_put(uint32_t *index, size_t size, uint32_t hash, uint32_t number);

/*
 * Names numbered 0, 1, 2… in the order added (a resident's id is its index in the rules engine), found by an
 * open-addressing index. The names live in one string pool and the index slots are 4 bytes: 10,000 ids cost
 * ~240 KB where hsearch_r() and a strdup() each cost ~900 KB (docs/performance.md, figure 4).
 * Zero-initialise.
 */
struct name_table {
        struct string_pool pool;
        uint32_t *offsets;  /* per number: its name's offset in the pool */
        size_t n, alloc;
        uint32_t *index;    /* per slot: 8 bits of the hash above (number + 1); 0: empty */
        size_t index_size;  /* a power of two, at least twice n */
};
/* Room for n names without growing on the way. 0 or -ENOMEM. */
int name_table_reserve(struct name_table *t, size_t n);
/* The number of name, or -ENOENT. */
int name_table_find(const struct name_table *t, const char *name);
/* The number of name, added when new. -ENOMEM, or -E2BIG past 16 million names. */
int name_table_add(struct name_table *t, const char *name);
static inline const char *name_table_get(const struct name_table *t, size_t i)
{
        return string_pool_get(&t->pool, t->offsets[i]);
}
/* Give back the room not used. */
void name_table_shrink(struct name_table *t);
void name_table_done(struct name_table *t);

/* Exit codes shared by shouwangd and shouwangctl (documented in the man pages). */
enum {
        EXIT_OK = 0,
        EXIT_ERROR = 1,     /* runtime failure */
        EXIT_USAGE = 2,     /* bad command line */
        EXIT_DATA = 3,      /* bad input data: CSV lines, config keys; nothing changed */
        EXIT_NOTFOUND = 4,  /* the named resident/contact/sensor/alert does not exist */
        EXIT_DATABASE = 5,  /* database could not be opened or is newer than this program */
};
