/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Emulated GPIO chips for tests: the control side.
 *
 * Programs run with LD_PRELOAD=$BUILD/tests/preload/libgpiosim.so and
 * GPIOSIM_DIR=<dir> see the chips of that directory as /dev/gpiochipN, and
 * the real, unmodified libgpiod 1.6 talks to them through the GPIO v1
 * character-device ioctls. The functions here create such a directory, add
 * and remove chips, drive line levels (which become edge events for whoever
 * requested the line, with the kernel's 16-event queue) and look at what the
 * programs under test requested. See docs/testing-gpio.md.
 *
 * Every function returns 0 (or a documented non-negative value) on success
 * and a negative errno on failure; none of them logs. Chip names are
 * "gpiochipN" (N is also the device minor, as in the kernel). Levels are the
 * *physical* levels on the pins (what a sensor drives); a requester with the
 * active-low flag sees them inverted, exactly as with the kernel.
 *
 * The handle is not thread-safe; several processes may drive the same
 * directory at once (all state changes are made under a process-shared lock).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct GpioSim GpioSim;

/* Environment variable naming the directory that holds the emulated chips. */
#define GPIOSIM_DIR_ENV "GPIOSIM_DIR"
/* Overrides where gpiosim_preload_path() finds the preload library. */
#define GPIOSIM_PRELOAD_ENV "GPIOSIM_PRELOAD"

/* Bias requested by the program that holds a line (from its request flags). */
enum gpiosim_bias {
        GPIOSIM_BIAS_AS_IS,
        GPIOSIM_BIAS_DISABLE,
        GPIOSIM_BIAS_PULL_UP,
        GPIOSIM_BIAS_PULL_DOWN,
};

/* What gpiosim_line_get() reports about one line. */
struct gpiosim_line_status {
        int level;               /* physical level now, 0 or 1 */
        int pull;                /* level the test applies (what gpiosim_line_set() set) */
        bool output;             /* direction is output (kept after release, as the kernel does) */
        bool requested;          /* a live request holds the line */
        bool events;             /* ...and it is an edge-event request (else a value handle) */
        bool edge_rising;        /* the event request asked for rising edges */
        bool edge_falling;       /* ...and/or falling edges */
        bool active_low;         /* the requester set the active-low flag */
        bool open_drain, open_source;
        enum gpiosim_bias bias;
        int pid;                 /* process that made the request, 0 when free */
        char name[32];           /* line name, "" when unnamed */
        char consumer[32];       /* requester's label ("?" when it gave none), "" when free */
        unsigned queued;         /* events waiting in the requester's queue (at most 16) */
        uint64_t delivered;      /* events queued for the requester since the request */
        uint64_t dropped;        /* events lost because the queue was full, since the request */
};

/*
 * Create a new emulated-GPIO directory with no chips. dir is created (mode
 * 0700; its parent must exist) and must not already hold a simulation; with
 * dir NULL a fresh directory is made under $TMPDIR (or /tmp). On success
 * *ret owns the handle (free with gpiosim_free() or gpiosim_destroy()).
 * Returns 0, -EEXIST (dir already holds a simulation), -ENOMEM, or the
 * -errno of mkdir/open/mmap.
 */
int gpiosim_new(const char *dir, GpioSim **ret);

/*
 * Attach to an existing directory made by gpiosim_new() (possibly by another
 * process). *ret owns the handle. Returns 0, -ENOENT (no simulation there),
 * -EPROTO (made by an incompatible version), -ENOMEM, or an open/mmap -errno.
 */
int gpiosim_open(const char *dir, GpioSim **ret);

/* Detach: unmap and free the handle; the chips and the directory stay. NULL is fine. Returns NULL. */
GpioSim *gpiosim_free(GpioSim *s);

/*
 * Remove every chip (requesters see the chip vanish: their event fds report
 * ENODEV), delete the directory and free the handle, which is gone even on
 * error. Programs that still have the state mapped keep working on an
 * orphaned copy. Returns 0 or the -errno of removing the directory.
 */
int gpiosim_destroy(GpioSim *s);

/* The directory (owned by s). Put it in GPIOSIM_DIR for programs under test. */
const char *gpiosim_dir(const GpioSim *s);

/*
 * Add chip `name` ("gpiochipN", at most 31 characters) with the given label
 * (NULL or "" gives "unknown", as the kernel) and 1..GPIOSIM_MAX_LINES lines,
 * all unnamed, unrequested inputs at level 0. The chip appears at once to
 * every process. Returns 0, -EINVAL (bad name, label too long, bad number of
 * lines), -EEXIST (a chip of that name or number exists), -ENOSPC (too many
 * chips).
 */
int gpiosim_chip_add(GpioSim *s, const char *name, const char *label, unsigned num_lines);

/*
 * Remove chip `name`, as if its driver was unbound: its lines are released,
 * open chip fds and line handles fail with ENODEV, event fds become readable
 * and their read() fails with ENODEV (then they report POLLHUP). Adding a
 * chip of the same name later makes a new device; old fds stay dead.
 * Returns 0 or -ENOENT.
 */
int gpiosim_chip_remove(GpioSim *s, const char *name);

/*
 * Name a line (as gpioinfo shows it); NULL or "" removes the name.
 * Returns 0, -ENOENT, -EINVAL (offset, name too long).
 */
int gpiosim_line_set_name(GpioSim *s, const char *chip, unsigned offset, const char *name);

/*
 * Put physical level `value` (0 or 1) on an input line. If the level
 * changes and a program requested edge events on the line, one event is
 * queued for it with a CLOCK_MONOTONIC timestamp, typed and filtered as the
 * kernel does (active-low requesters see the inverted edge); if its queue
 * already holds 16 unread events the new one is dropped, as the kernel's v1
 * line-event kfifo does. On a line that a program drives as an output the
 * value is remembered but the level stays what the output drives.
 * Returns 0, -ENOENT (no such chip), -EINVAL (offset or value).
 */
int gpiosim_line_set(GpioSim *s, const char *chip, unsigned offset, int value);

/*
 * Flip the line `n` times, spacing_usec apart in real time (the first flip
 * happens at once; each one as gpiosim_line_set()). A reader that keeps up
 * sees every edge. Returns 0 or the errors of gpiosim_line_set().
 */
int gpiosim_line_toggle(GpioSim *s, const char *chip, unsigned offset, unsigned n, uint64_t spacing_usec);

/*
 * `count` pulses of a water meter or push button: each pulse flips the line
 * away from its current (idle) level and back, half a period each, so
 * 2*count edges over count*period_usec. Returns 0 or the errors of
 * gpiosim_line_set().
 */
int gpiosim_line_pulse(GpioSim *s, const char *chip, unsigned offset, unsigned count, uint64_t period_usec);

/*
 * Contact bounce: `bounces` flips spacing_usec apart, then (if it is not
 * there already) a last flip to `value`, so the line settles at `value`.
 * Returns 0 or the errors of gpiosim_line_set().
 */
int gpiosim_line_bounce(GpioSim *s, const char *chip, unsigned offset, int value, unsigned bounces,
                        uint64_t spacing_usec);

/*
 * `n` flips faster than any reader can follow (as a burst seen by a real
 * interrupt): all events are queued at once, stamped 1 µs apart from the
 * first (whatever the machine's load), so the reader's queue fills to 16 and the rest are dropped
 * deterministically. Returns the number of events dropped (>= 0), or
 * -ENOENT, -EINVAL.
 */
int gpiosim_line_burst(GpioSim *s, const char *chip, unsigned offset, unsigned n);

/*
 * Fill *ret with the line's level and its request (requests of processes
 * that have exited are noticed and released first). Returns 0, -ENOENT,
 * -EINVAL.
 */
int gpiosim_line_get(GpioSim *s, const char *chip, unsigned offset, struct gpiosim_line_status *ret);

/*
 * Wait until the line is (requested=true) or is not (false) held by a live
 * request, polling every few milliseconds, at most timeout_usec. Use it to
 * know a program under test is watching a line before driving it.
 * Returns 0, -ETIMEDOUT, or the errors of gpiosim_line_get().
 */
int gpiosim_wait_requested(GpioSim *s, const char *chip, unsigned offset, bool requested,
                           uint64_t timeout_usec);

/*
 * Wait until the line's event requester has read every queued event.
 * Returns 0, -ETIMEDOUT, -ENODATA (no event request), or the errors of gpiosim_line_get().
 */
int gpiosim_wait_drained(GpioSim *s, const char *chip, unsigned offset, uint64_t timeout_usec);

/*
 * Number of chips, and (if names is not NULL) their names, sorted, into
 * names[0..n_names) (each at least 32 bytes). Returns the count (>= 0).
 */
int gpiosim_list_chips(GpioSim *s, char (*names)[32], size_t n_names);

/* Print the chips and their non-idle lines (every line with all=true) for people to f. Returns 0. */
int gpiosim_dump(GpioSim *s, FILE *f, bool all);

/*
 * Find the preload library: $GPIOSIM_PRELOAD, else
 * $SHOUWANG_TOP/$BUILD/tests/preload/libgpiosim.so (BUILD defaults to
 * "build"), else $BUILD/tests/preload/libgpiosim.so next to the running
 * program (which lives in $BUILD/tests/<kind>/). *ret is malloc'd, the
 * caller frees it. Returns 0, -ENOENT (not built), -ENOMEM.
 */
int gpiosim_preload_path(char **ret);

/*
 * Is this process running with AddressSanitizer (whose runtime must come
 * first in LD_PRELOAD for a sanitized child)?
 */
bool gpiosim_running_with_asan(void);

/*
 * Set GPIOSIM_DIR and put the preload library at the front of LD_PRELOAD in
 * this process's environment, so that programs it executes use the
 * emulated chips. Meant for a child between fork() and exec(). When
 * sanitized_child is true (the program to run is built with the same
 * -fsanitize=address as this one) the ASan runtime of this process is put
 * before it, as ASan insists. Returns 0, -ENOENT (no preload library), -ENOMEM.
 */
int gpiosim_setenv(const GpioSim *s, bool sanitized_child);

/*
 * ---------------------------------------------------------------------------
 * Internal: the layout of the shared state and the rules both sides apply.
 * Shared with tests/preload/gpiosim.c (which defines GPIOSIM_INTERNAL before
 * including this file); tests do not need it.
 * ---------------------------------------------------------------------------
 */
#define GPIOSIM_MAX_CHIPS 16
#define GPIOSIM_MAX_LINES 128
#define GPIOSIM_MAX_REQUESTS 128
#define GPIOSIM_KFIFO_EVENTS 16 /* DECLARE_KFIFO(events, struct gpioevent_data, 16) in the kernel */

#ifdef GPIOSIM_INTERNAL

#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define GPIOSIM_SHM_MAGIC UINT64_C(0x31765f6d69736f67) /* "gosim_v1" */
#define GPIOSIM_SHM_VERSION 1
#define GPIOSIM_DEV_MAJOR 254 /* what a Raspberry Pi's gpiochips get; any number works */
#define GPIOSIM_STATE_FILE "state"
#define GPIOSIM_CHIP_FILE "chip" /* what chip fds are opened on */
#define GPIOSIM_NAME_LEN 32
/* Written into an event fifo when its chip goes away; never a valid event id. */
#define GPIOSIM_TOMBSTONE_ID UINT32_C(0x7f5eadde)

struct gpiosim_shm_line {
        char name[GPIOSIM_NAME_LEN];
        char consumer[GPIOSIM_NAME_LEN];
        uint32_t flags; /* GPIOHANDLE_REQUEST_* of the holder, 0 when free */
        int32_t req;    /* request slot that holds the line, -1 when free */
        uint8_t pull;   /* level the test applies to the pin */
        uint8_t is_out;
        uint8_t out_value; /* physical value driven when is_out */
        uint8_t pad_;
        uint32_t pad2_;
};

struct gpiosim_shm_chip {
        uint32_t in_use;
        uint32_t num; /* N of gpiochipN, the device minor */
        uint64_t uid; /* new for every add: fds of a removed chip never see a re-added one */
        int64_t added_realtime_ns;
        char name[GPIOSIM_NAME_LEN];
        char label[GPIOSIM_NAME_LEN];
        uint32_t num_lines;
        uint32_t pad_;
        struct gpiosim_shm_line lines[GPIOSIM_MAX_LINES];
};

struct gpiosim_shm_req {
        uint32_t in_use;
        uint32_t events; /* 1: line event request (GPIO_GET_LINEEVENT_IOCTL), 0: line handle */
        uint64_t uid;    /* names the fifo: req-<uid> */
        uint64_t chip_uid;
        int32_t chip;
        int32_t pid;
        uint32_t flags;  /* GPIOHANDLE_REQUEST_* */
        uint32_t eflags; /* GPIOEVENT_REQUEST_* */
        uint32_t num_lines;
        uint32_t pad_;
        uint64_t delivered, dropped;
        uint32_t offsets[GPIOHANDLES_MAX];
};

struct gpiosim_shm {
        uint64_t magic;
        uint32_t version;
        uint32_t size;
        pthread_mutex_t lock; /* process-shared, robust */
        uint64_t next_uid;
        struct gpiosim_shm_chip chips[GPIOSIM_MAX_CHIPS];
        struct gpiosim_shm_req reqs[GPIOSIM_MAX_REQUESTS];
};

/* Robust: a process killed while holding the lock must not wedge every other one. */
static inline void gpiosim_shm_lock(struct gpiosim_shm *m)
{
        if (pthread_mutex_lock(&m->lock) == EOWNERDEAD)
                pthread_mutex_consistent(&m->lock);
}

static inline void gpiosim_shm_unlock(struct gpiosim_shm *m)
{
        pthread_mutex_unlock(&m->lock);
}

static inline int gpiosim_chip_find(const struct gpiosim_shm *m, const char *name)
{
        for (int i = 0; i < GPIOSIM_MAX_CHIPS; i++)
                if (m->chips[i].in_use && strncmp(m->chips[i].name, name, GPIOSIM_NAME_LEN) == 0)
                        return i;
        return -ENOENT;
}

static inline int gpiosim_line_phys(const struct gpiosim_shm_line *l)
{
        return l->is_out ? l->out_value : l->pull;
}

static inline int gpiosim_req_path(const char *dir, uint64_t uid, char *buf, size_t size)
{
        int n = snprintf(buf, size, "%s/req-%llu", dir, (unsigned long long)uid);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * Open the request's fifo for writing without blocking. The owner holds the
 * read end for as long as its request fd is open, in any process, so ENXIO
 * ("no reader") means the request is gone even if its process was killed
 * without a chance to tell us. Returns the fd or -errno.
 */
static inline int gpiosim_req_open_writer(const char *dir, const struct gpiosim_shm_req *r)
{
        char path[4096];
        int fd, k;

        k = gpiosim_req_path(dir, r->uid, path, sizeof(path));
        if (k < 0)
                return k;
        fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/*
 * Release request slot i: free its lines (direction and driven value stay, as on hardware) and drop
 * its fifo. Lock held.
 */
static inline void gpiosim_req_release(struct gpiosim_shm *m, const char *dir, int i)
{
        struct gpiosim_shm_req *r = &m->reqs[i];
        char path[4096];

        if (!r->in_use)
                return;
        if (r->chip >= 0 && r->chip < GPIOSIM_MAX_CHIPS && m->chips[r->chip].in_use &&
            m->chips[r->chip].uid == r->chip_uid) {
                struct gpiosim_shm_chip *c = &m->chips[r->chip];
                for (uint32_t k = 0; k < r->num_lines && k < GPIOHANDLES_MAX; k++) {
                        if (r->offsets[k] >= c->num_lines)
                                continue;
                        struct gpiosim_shm_line *l = &c->lines[r->offsets[k]];
                        if (l->req != i)
                                continue;
                        l->req = -1;
                        l->flags = 0;
                        memset(l->consumer, 0, sizeof(l->consumer));
                }
        }
        if (gpiosim_req_path(dir, r->uid, path, sizeof(path)) == 0)
                (void)unlink(path);
        r->in_use = 0;
}

/* Is request i still held by some process? Releases it if not. Lock held. */
static inline bool gpiosim_req_check(struct gpiosim_shm *m, const char *dir, int i)
{
        int fd;

        if (!m->reqs[i].in_use)
                return false;
        fd = gpiosim_req_open_writer(dir, &m->reqs[i]);
        if (fd >= 0) {
                close(fd);
                return true;
        }
        if (fd == -ENXIO || fd == -ENOENT) {
                gpiosim_req_release(m, dir, i);
                return false;
        }
        return true; /* cannot tell (EMFILE...): keep it */
}

/* The request holding a line, after making sure it is alive; -1 when free. Lock held. */
static inline int gpiosim_line_holder(struct gpiosim_shm *m, const char *dir, int chip, unsigned offset)
{
        struct gpiosim_shm_chip *c = &m->chips[chip];
        struct gpiosim_shm_line *l = &c->lines[offset];
        int i = l->req;

        if (i < 0)
                return -1;
        if (i >= GPIOSIM_MAX_REQUESTS || !m->reqs[i].in_use || m->reqs[i].chip != chip ||
            m->reqs[i].chip_uid != c->uid) {
                /* Stale (a process died half-way through an update): repair. */
                l->req = -1;
                l->flags = 0;
                memset(l->consumer, 0, sizeof(l->consumer));
                return -1;
        }
        return gpiosim_req_check(m, dir, i) ? i : -1;
}

#endif /* GPIOSIM_INTERNAL */
