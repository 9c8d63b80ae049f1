/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Emulated GPIO chips: the control side (see gpiosim.h and
 * docs/testing-gpio.md). The state lives in <dir>/state, mapped shared by
 * this code and by every program running with tests/preload/gpiosim.c;
 * events go to the requesting program through its fifo <dir>/req-<uid>.
 */
#define GPIOSIM_INTERNAL
#include "tests/lib/gpiosim.h"

#include <dirent.h>
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "daemon/util.h"

#define MIN_U(a, b) ((unsigned)(a) < (unsigned)(b) ? (unsigned)(a) : (unsigned)(b))
#define MAX_I64(a, b) ((int64_t)(a) > (int64_t)(b) ? (int64_t)(a) : (int64_t)(b))

struct GpioSim {
        char *dir;
        struct gpiosim_shm *m;
};

static int64_t clock_ns(clockid_t clk)
{
        struct timespec ts;

        clock_gettime(clk, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int map_state(const char *path, struct gpiosim_shm **ret)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        void *p;

        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size != (off_t)sizeof(struct gpiosim_shm))
                return -EPROTO;
        p = mmap(NULL, sizeof(struct gpiosim_shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret = p;
        return 0;
}

static int handle_new(const char *dir, struct gpiosim_shm *m, GpioSim **ret)
{
        GpioSim *s = calloc(1, sizeof(*s));

        if (!s || !(s->dir = strdup(dir))) {
                free(s);
                munmap(m, sizeof(*m));
                return -ENOMEM;
        }
        s->m = m;
        *ret = s;
        return 0;
}

int gpiosim_new(const char *dir, GpioSim **ret)
{
        _cleanup_free_ char *d = NULL, *abs = NULL, *state = NULL, *tmp = NULL, *chip = NULL;
        pthread_mutexattr_t attr;
        struct gpiosim_shm *m;
        int fd, r;

        if (dir) {
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        return -errno;
                d = strdup(dir);
        } else {
                const char *t = getenv("TMPDIR");
                if (asprintf(&d, "%s/gpiosim-XXXXXX", isempty(t) ? "/tmp" : t) < 0)
                        return -ENOMEM;
                if (!mkdtemp(d))
                        return -errno;
        }
        if (!d)
                return -ENOMEM;
        /* Programs under test may run in another directory: hand them an absolute path. */
        abs = realpath(d, NULL);
        if (!abs)
                return -errno;
        if (asprintf(&state, "%s/" GPIOSIM_STATE_FILE, abs) < 0 || asprintf(&tmp, "%s.new", state) < 0 ||
            asprintf(&chip, "%s/" GPIOSIM_CHIP_FILE, abs) < 0)
                return -ENOMEM;
        if (access(state, F_OK) == 0)
                return -EEXIST;

        (void)unlink(tmp);
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, sizeof(struct gpiosim_shm)) < 0) {
                r = -errno;
                close(fd);
                unlink(tmp);
                return r;
        }
        m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        r = m == MAP_FAILED ? -errno : 0;
        close(fd);
        if (r < 0) {
                unlink(tmp);
                return r;
        }

        /* ftruncate() zero-filled it: no chips, no requests. */
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
        pthread_mutex_init(&m->lock, &attr);
        pthread_mutexattr_destroy(&attr);
        m->next_uid = 1;
        m->version = GPIOSIM_SHM_VERSION;
        m->size = sizeof(*m);
        __atomic_store_n(&m->magic, GPIOSIM_SHM_MAGIC, __ATOMIC_RELEASE);

        fd = open(chip, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || close(fd) < 0) {
                r = -errno;
                goto fail;
        }
        /* Only a complete state ever appears under its name. */
        if (rename(tmp, state) < 0) {
                r = -errno;
                goto fail;
        }
        return handle_new(abs, m, ret);
fail:
        munmap(m, sizeof(*m));
        unlink(tmp);
        return r;
}

int gpiosim_open(const char *dir, GpioSim **ret)
{
        _cleanup_free_ char *abs = NULL, *state = NULL;
        struct gpiosim_shm *m = NULL;
        int r;

        abs = realpath(dir, NULL);
        if (!abs)
                return -errno;
        if (asprintf(&state, "%s/" GPIOSIM_STATE_FILE, abs) < 0)
                return -ENOMEM;
        r = map_state(state, &m);
        if (r < 0)
                return r;
        if (__atomic_load_n(&m->magic, __ATOMIC_ACQUIRE) != GPIOSIM_SHM_MAGIC ||
            m->version != GPIOSIM_SHM_VERSION || m->size != sizeof(*m)) {
                munmap(m, sizeof(*m));
                return -EPROTO;
        }
        return handle_new(abs, m, ret);
}

GpioSim *gpiosim_free(GpioSim *s)
{
        if (!s)
                return NULL;
        if (s->m)
                munmap(s->m, sizeof(*s->m));
        free(s->dir);
        free(s);
        return NULL;
}

const char *gpiosim_dir(const GpioSim *s)
{
        return s->dir;
}

/* ---- chips ---------------------------------------------------------------------------------------- */

/* "gpiochipN": returns N, or -EINVAL. */
static long chip_number(const char *name)
{
        const char *p;
        char *end;
        long n;

        if (!name || strlen(name) >= GPIOSIM_NAME_LEN)
                return -EINVAL;
        p = startswith(name, "gpiochip");
        if (!p || *p < '0' || *p > '9' || (p[0] == '0' && p[1]))
                return -EINVAL; /* the kernel's names have no leading zeros */
        errno = 0;
        n = strtol(p, &end, 10);
        if (errno || *end || n > 65535)
                return -EINVAL;
        return n;
}

int gpiosim_chip_add(GpioSim *s, const char *name, const char *label, unsigned num_lines)
{
        struct gpiosim_shm *m = s->m;
        struct gpiosim_shm_chip *c;
        long num = chip_number(name);
        int slot = -1, r = 0;

        if (num < 0 || num_lines == 0 || num_lines > GPIOSIM_MAX_LINES)
                return -EINVAL;
        if (label && strlen(label) >= GPIOSIM_NAME_LEN)
                return -EINVAL;

        gpiosim_shm_lock(m);
        for (int i = 0; i < GPIOSIM_MAX_CHIPS; i++) {
                if (!m->chips[i].in_use) {
                        if (slot < 0)
                                slot = i;
                } else if (m->chips[i].num == (uint32_t)num || streq(m->chips[i].name, name))
                        r = -EEXIST;
        }
        if (r == 0 && slot < 0)
                r = -ENOSPC;
        if (r == 0) {
                c = &m->chips[slot];
                memset(c, 0, sizeof(*c));
                c->num = (uint32_t)num;
                c->uid = m->next_uid++;
                c->added_realtime_ns = clock_ns(CLOCK_REALTIME);
                snprintf(c->name, sizeof(c->name), "%s", name);
                /* The kernel names a chip without a label "unknown". */
                snprintf(c->label, sizeof(c->label), "%s", isempty(label) ? "unknown" : label);
                c->num_lines = num_lines;
                for (unsigned i = 0; i < num_lines; i++)
                        c->lines[i].req = -1;
                __atomic_store_n(&c->in_use, 1, __ATOMIC_RELEASE);
        }
        gpiosim_shm_unlock(m);
        return r;
}

/* Event fifo of a request whose chip goes away: a record the preload turns into ENODEV. */
static void send_tombstone(GpioSim *s, const struct gpiosim_shm_req *r)
{
        struct gpioevent_data ev = {
                .timestamp = (uint64_t)clock_ns(CLOCK_MONOTONIC),
                .id = GPIOSIM_TOMBSTONE_ID,
        };
        int fd = gpiosim_req_open_writer(s->dir, r);

        if (fd < 0)
                return;
        (void)!write(fd, &ev, sizeof(ev));
        close(fd);
}

static void chip_remove_locked(GpioSim *s, int i)
{
        struct gpiosim_shm *m = s->m;

        for (int k = 0; k < GPIOSIM_MAX_REQUESTS; k++) {
                struct gpiosim_shm_req *r = &m->reqs[k];
                if (!r->in_use || r->chip != i || r->chip_uid != m->chips[i].uid)
                        continue;
                if (r->events)
                        send_tombstone(s, r);
                gpiosim_req_release(m, s->dir, k);
        }
        __atomic_store_n(&m->chips[i].in_use, 0, __ATOMIC_RELEASE);
}

int gpiosim_chip_remove(GpioSim *s, const char *name)
{
        int i;

        gpiosim_shm_lock(s->m);
        i = name ? gpiosim_chip_find(s->m, name) : -ENOENT;
        if (i >= 0)
                chip_remove_locked(s, i);
        gpiosim_shm_unlock(s->m);
        return i < 0 ? i : 0;
}

int gpiosim_destroy(GpioSim *s)
{
        DIR *d;
        int r = 0;

        if (!s)
                return 0;
        gpiosim_shm_lock(s->m);
        for (int i = 0; i < GPIOSIM_MAX_CHIPS; i++)
                if (s->m->chips[i].in_use)
                        chip_remove_locked(s, i);
        gpiosim_shm_unlock(s->m);

        /* Only our own files (and fifos left by a process that died half-way through a request). */
        d = opendir(s->dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (streq(de->d_name, GPIOSIM_CHIP_FILE) || streq(de->d_name, GPIOSIM_STATE_FILE) ||
                            streq(de->d_name, GPIOSIM_STATE_FILE ".new") || startswith(de->d_name, "req-"))
                                (void)unlinkat(dirfd(d), de->d_name, 0);
                closedir(d);
        }
        if (rmdir(s->dir) < 0)
                r = -errno;
        gpiosim_free(s);
        return r;
}

/* Chip slot and line, with the lock held by the caller. */
static int find_line(GpioSim *s, const char *chip, unsigned offset, int *ret_chip)
{
        int i = chip ? gpiosim_chip_find(s->m, chip) : -ENOENT;

        if (i < 0)
                return i;
        if (offset >= s->m->chips[i].num_lines)
                return -EINVAL;
        *ret_chip = i;
        return 0;
}

int gpiosim_line_set_name(GpioSim *s, const char *chip, unsigned offset, const char *name)
{
        int i, r;

        if (name && strlen(name) >= GPIOSIM_NAME_LEN)
                return -EINVAL;
        gpiosim_shm_lock(s->m);
        r = find_line(s, chip, offset, &i);
        if (r == 0)
                snprintf(s->m->chips[i].lines[offset].name, GPIOSIM_NAME_LEN, "%s", strempty(name));
        gpiosim_shm_unlock(s->m);
        return r;
}

/* ---- levels and events ---------------------------------------------------------------------------- */

/*
 * The event the kernel's lineevent_irq_thread() would queue for this change
 * of physical level, if any: active-low swaps the trigger edges, and the id
 * says where the (logical) line went.
 */
static bool make_event(const struct gpiosim_shm_req *r, int new_phys, int64_t ts, struct gpioevent_data *ret)
{
        int logical = new_phys ^ !!(r->flags & GPIOHANDLE_REQUEST_ACTIVE_LOW);

        if (!(r->eflags & (logical ? GPIOEVENT_REQUEST_RISING_EDGE : GPIOEVENT_REQUEST_FALLING_EDGE)))
                return false;
        *ret = (struct gpioevent_data){
                .timestamp = (uint64_t)ts,
                .id = logical ? GPIOEVENT_EVENT_RISING_EDGE : GPIOEVENT_EVENT_FALLING_EDGE,
        };
        return true;
}

/* Events already waiting in the requester's queue: the fifo's unread bytes. */
static unsigned queued_events(int fd)
{
        int n = 0;

        if (ioctl(fd, FIONREAD, &n) < 0 || n < 0)
                return 0;
        return (unsigned)n / sizeof(struct gpioevent_data);
}

/*
 * Flip or set the pull of a line (values NULL: flip n times) and queue the
 * events of the resulting edges for the line's event requester. The room in
 * its 16-event queue is looked at once, before the first event, and the
 * events that fit are written with one write(): a change faster than any
 * reader can follow, so a burst overflows deterministically. When the queue
 * is full the *newest* events are lost, because the v1 lineevent
 * kfifo_in() fails when full (a v2 line request would drop the oldest).
 * Lock held. Returns the number of events dropped.
 */
static int drive_locked(GpioSim *s, int chip, unsigned offset, const int *values, unsigned n)
{
        struct gpiosim_shm_line *l = &s->m->chips[chip].lines[offset];
        struct gpioevent_data evs[GPIOSIM_KFIFO_EVENTS], ev;
        unsigned n_evs = 0, dropped = 0, room = 0;
        int64_t last_ts = 0;
        int k, fd = -1;

        k = gpiosim_line_holder(s->m, s->dir, chip, offset);
        if (k >= 0 && !s->m->reqs[k].events)
                k = -1;
        for (unsigned i = 0; i < n; i++) {
                int old = gpiosim_line_phys(l), v = values ? values[i] : !l->pull;
                int64_t ts;

                l->pull = (uint8_t)v;
                if (k < 0 || gpiosim_line_phys(l) == old)
                        continue;
                /* Distinct, increasing timestamps even for edges closer than the clock's resolution.
                 * A burst (no values given) is one interrupt storm: its edges are stamped 1 µs
                 * apart from the first, so a test process preempted in the middle of this loop
                 * on a busy machine cannot stretch a bounce into two pulses. */
                if (values || last_ts == 0)
                        ts = MAX_I64(clock_ns(CLOCK_MONOTONIC), last_ts + 1);
                else
                        ts = last_ts + 1000;
                last_ts = ts;
                if (!make_event(&s->m->reqs[k], gpiosim_line_phys(l), ts, &ev))
                        continue;
                if (fd < 0) {
                        fd = gpiosim_req_open_writer(s->dir, &s->m->reqs[k]);
                        if (fd < 0) {
                                if (fd == -ENXIO || fd == -ENOENT)
                                        gpiosim_req_release(s->m, s->dir, k); /* its process is gone */
                                k = -1;
                                continue;
                        }
                        room = GPIOSIM_KFIFO_EVENTS - MIN_U(queued_events(fd), GPIOSIM_KFIFO_EVENTS);
                }
                if (n_evs < room)
                        evs[n_evs++] = ev;
                else
                        dropped++;
        }
        if (fd >= 0) {
                if (n_evs > 0 &&
                    write(fd, evs, n_evs * sizeof(evs[0])) != (ssize_t)(n_evs * sizeof(evs[0]))) {
                        /* Cannot happen: a 64 KiB pipe holding at most 16 records. */
                        dropped += n_evs;
                        n_evs = 0;
                }
                close(fd);
                s->m->reqs[k].delivered += n_evs;
                s->m->reqs[k].dropped += dropped;
        }
        return (int)MIN_U(dropped, (unsigned)INT_MAX);
}

static int drive(GpioSim *s, const char *chip, unsigned offset, const int *values, unsigned n)
{
        int i, r;

        gpiosim_shm_lock(s->m);
        r = find_line(s, chip, offset, &i);
        if (r == 0)
                r = drive_locked(s, i, offset, values, n);
        gpiosim_shm_unlock(s->m);
        return r;
}

int gpiosim_line_set(GpioSim *s, const char *chip, unsigned offset, int value)
{
        int r;

        if (value != 0 && value != 1)
                return -EINVAL;
        r = drive(s, chip, offset, &value, 1);
        return r < 0 ? r : 0;
}

static int flip(GpioSim *s, const char *chip, unsigned offset)
{
        int r = drive(s, chip, offset, NULL, 1);

        return r < 0 ? r : 0;
}

int gpiosim_line_burst(GpioSim *s, const char *chip, unsigned offset, unsigned n)
{
        return drive(s, chip, offset, NULL, n);
}

/* Sleep until an absolute CLOCK_MONOTONIC time, so that spacing does not drift with the work done. */
static void sleep_until(int64_t deadline_ns)
{
        struct timespec ts = { .tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000 };

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

int gpiosim_line_toggle(GpioSim *s, const char *chip, unsigned offset, unsigned n, uint64_t spacing_usec)
{
        int64_t t = clock_ns(CLOCK_MONOTONIC);
        int r;

        for (unsigned i = 0; i < n; i++) {
                if (i > 0) {
                        t += (int64_t)spacing_usec * 1000;
                        sleep_until(t);
                }
                r = flip(s, chip, offset);
                if (r < 0)
                        return r;
        }
        return 0;
}

int gpiosim_line_pulse(GpioSim *s, const char *chip, unsigned offset, unsigned count, uint64_t period_usec)
{
        int64_t half = (int64_t)period_usec * 1000 / 2;
        int r;

        /* Each edge at least half a period after the one before, measured after it was made:
         * a test process held up by a busy machine makes the train slower, never two edges
         * closer than a real meter would (catching up on absolute deadlines would). */
        for (unsigned i = 0; i < 2 * count; i++) {
                if (i > 0)
                        sleep_until(clock_ns(CLOCK_MONOTONIC) + half);
                r = flip(s, chip, offset);
                if (r < 0)
                        return r;
        }
        return 0;
}

int gpiosim_line_bounce(GpioSim *s, const char *chip, unsigned offset, int value, unsigned bounces,
                        uint64_t spacing_usec)
{
        struct gpiosim_line_status st;
        int64_t t;
        int r;

        if (value != 0 && value != 1)
                return -EINVAL;
        r = gpiosim_line_toggle(s, chip, offset, bounces, spacing_usec);
        if (r < 0)
                return r;
        r = gpiosim_line_get(s, chip, offset, &st);
        if (r < 0)
                return r;
        if (st.pull == value)
                return 0;
        if (bounces > 0) {
                t = clock_ns(CLOCK_MONOTONIC) + (int64_t)spacing_usec * 1000;
                sleep_until(t);
        }
        return gpiosim_line_set(s, chip, offset, value);
}

/* ---- looking ---------------------------------------------------------------------------------------- */

int gpiosim_line_get(GpioSim *s, const char *chip, unsigned offset, struct gpiosim_line_status *ret)
{
        struct gpiosim_shm *m = s->m;
        struct gpiosim_shm_line *l;
        struct gpiosim_shm_req *rq;
        int i, k, r;

        gpiosim_shm_lock(m);
        r = find_line(s, chip, offset, &i);
        if (r < 0)
                goto out;
        l = &m->chips[i].lines[offset];
        *ret = (struct gpiosim_line_status){
                .level = gpiosim_line_phys(l),
                .pull = l->pull,
                .output = l->is_out,
        };
        memcpy(ret->name, l->name, sizeof(ret->name));
        k = gpiosim_line_holder(m, s->dir, i, offset);
        if (k >= 0) {
                rq = &m->reqs[k];
                ret->requested = true;
                ret->events = rq->events;
                ret->edge_rising = rq->events && (rq->eflags & GPIOEVENT_REQUEST_RISING_EDGE);
                ret->edge_falling = rq->events && (rq->eflags & GPIOEVENT_REQUEST_FALLING_EDGE);
                ret->active_low = l->flags & GPIOHANDLE_REQUEST_ACTIVE_LOW;
                ret->open_drain = l->flags & GPIOHANDLE_REQUEST_OPEN_DRAIN;
                ret->open_source = l->flags & GPIOHANDLE_REQUEST_OPEN_SOURCE;
                ret->bias = (l->flags & GPIOHANDLE_REQUEST_BIAS_DISABLE)     ? GPIOSIM_BIAS_DISABLE
                            : (l->flags & GPIOHANDLE_REQUEST_BIAS_PULL_UP)   ? GPIOSIM_BIAS_PULL_UP
                            : (l->flags & GPIOHANDLE_REQUEST_BIAS_PULL_DOWN) ? GPIOSIM_BIAS_PULL_DOWN
                                                                             : GPIOSIM_BIAS_AS_IS;
                ret->pid = rq->pid;
                memcpy(ret->consumer, l->consumer, sizeof(ret->consumer));
                ret->delivered = rq->delivered;
                ret->dropped = rq->dropped;
                if (rq->events) {
                        int fd = gpiosim_req_open_writer(s->dir, rq);
                        if (fd >= 0) {
                                ret->queued = queued_events(fd);
                                close(fd);
                        }
                }
        }
out:
        gpiosim_shm_unlock(m);
        return r;
}

static void sleep_ms(unsigned ms)
{
        sleep_until(clock_ns(CLOCK_MONOTONIC) + (int64_t)ms * 1000000);
}

int gpiosim_wait_requested(GpioSim *s, const char *chip, unsigned offset, bool requested,
                           uint64_t timeout_usec)
{
        int64_t deadline = clock_ns(CLOCK_MONOTONIC) + (int64_t)timeout_usec * 1000;
        struct gpiosim_line_status st;
        int r;

        for (;;) {
                r = gpiosim_line_get(s, chip, offset, &st);
                if (r < 0)
                        return r;
                if (st.requested == requested)
                        return 0;
                if (clock_ns(CLOCK_MONOTONIC) >= deadline)
                        return -ETIMEDOUT;
                sleep_ms(2);
        }
}

int gpiosim_wait_drained(GpioSim *s, const char *chip, unsigned offset, uint64_t timeout_usec)
{
        int64_t deadline = clock_ns(CLOCK_MONOTONIC) + (int64_t)timeout_usec * 1000;
        struct gpiosim_line_status st;
        int r;

        for (;;) {
                r = gpiosim_line_get(s, chip, offset, &st);
                if (r < 0)
                        return r;
                if (!st.requested || !st.events)
                        return -ENODATA;
                if (st.queued == 0)
                        return 0;
                if (clock_ns(CLOCK_MONOTONIC) >= deadline)
                        return -ETIMEDOUT;
                sleep_ms(2);
        }
}

static int cmp_chip(const void *a, const void *b)
{
        const struct gpiosim_shm_chip *x = *(const struct gpiosim_shm_chip *const *)a;
        const struct gpiosim_shm_chip *y = *(const struct gpiosim_shm_chip *const *)b;

        return x->num < y->num ? -1 : x->num > y->num;
}

/* Chips in use, sorted by number, into slots[]. Lock held. */
static size_t sorted_chips(struct gpiosim_shm *m, struct gpiosim_shm_chip **slots)
{
        size_t n = 0;

        for (int i = 0; i < GPIOSIM_MAX_CHIPS; i++)
                if (m->chips[i].in_use)
                        slots[n++] = &m->chips[i];
        qsort(slots, n, sizeof(*slots), cmp_chip);
        return n;
}

int gpiosim_list_chips(GpioSim *s, char (*names)[32], size_t n_names)
{
        struct gpiosim_shm_chip *slots[GPIOSIM_MAX_CHIPS];
        size_t n;

        gpiosim_shm_lock(s->m);
        n = sorted_chips(s->m, slots);
        for (size_t i = 0; names && i < n && i < n_names; i++)
                memcpy(names[i], slots[i]->name, 32);
        gpiosim_shm_unlock(s->m);
        return (int)n;
}

static const char *bias_str(enum gpiosim_bias b)
{
        switch (b) {
        case GPIOSIM_BIAS_DISABLE:
                return "bias-disabled";
        case GPIOSIM_BIAS_PULL_UP:
                return "pull-up";
        case GPIOSIM_BIAS_PULL_DOWN:
                return "pull-down";
        default:
                return "as-is";
        }
}

int gpiosim_dump(GpioSim *s, FILE *f, bool all)
{
        char names[GPIOSIM_MAX_CHIPS][32];
        int n = gpiosim_list_chips(s, names, GPIOSIM_MAX_CHIPS);

        fprintf(f, "%s: %d chip%s\n", s->dir, n, n == 1 ? "" : "s");
        for (int i = 0; i < n; i++) {
                char label[GPIOSIM_NAME_LEN] = "";
                unsigned num_lines = 0, shown = 0;
                int c;

                gpiosim_shm_lock(s->m);
                c = gpiosim_chip_find(s->m, names[i]);
                if (c >= 0) {
                        memcpy(label, s->m->chips[c].label, sizeof(label));
                        num_lines = s->m->chips[c].num_lines;
                }
                gpiosim_shm_unlock(s->m);
                if (c < 0)
                        continue; /* removed meanwhile */
                fprintf(f, "%s [%s] (%u lines)\n", names[i], label, num_lines);
                for (unsigned o = 0; o < num_lines; o++) {
                        struct gpiosim_line_status st;
                        if (gpiosim_line_get(s, names[i], o, &st) < 0)
                                break;
                        if (!all && !st.requested && !st.level && !st.output && !st.name[0])
                                continue;
                        shown++;
                        fprintf(f, "  line %3u %-12s level %d %-6s", o, st.name[0] ? st.name : "unnamed",
                                st.level, st.output ? "output" : "input");
                        if (st.requested) {
                                fprintf(f, " requested by \"%s\" (pid %d)", st.consumer, st.pid);
                                if (st.events)
                                        fprintf(f, " %s edges", st.edge_rising && st.edge_falling ? "both"
                                                                : st.edge_rising                ? "rising"
                                                                : st.edge_falling               ? "falling"
                                                                                                : "no");
                                if (st.active_low)
                                        fprintf(f, " active-low");
                                if (st.bias != GPIOSIM_BIAS_AS_IS)
                                        fprintf(f, " %s", bias_str(st.bias));
                                if (st.events)
                                        fprintf(f, ", queued %u, delivered %llu, dropped %llu", st.queued,
                                                (unsigned long long)st.delivered,
                                                (unsigned long long)st.dropped);
                        }
                        fputc('\n', f);
                }
                if (!all && shown < num_lines)
                        fprintf(f, "  (%u other lines: unnamed, unrequested inputs at level 0)\n",
                                num_lines - shown);
        }
        return 0;
}

/* ---- running programs against the simulation ------------------------------------------------------ */

static int existing(const char *path, char **ret)
{
        char *p = realpath(path, NULL);

        if (!p)
                return -errno;
        if (access(p, R_OK) < 0) {
                int r = -errno;
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

int gpiosim_preload_path(char **ret)
{
        const char *env = getenv(GPIOSIM_PRELOAD_ENV), *top = getenv("SHOUWANG_TOP"),
                   *build = getenv("BUILD");
        _cleanup_free_ char *p = NULL, *exe = NULL;

        if (!isempty(env))
                return existing(env, ret);
        if (isempty(build))
                build = "build";
        if (build[0] == '/' || isempty(top)) {
                if (asprintf(&p, "%s/tests/preload/libgpiosim.so", build) < 0)
                        return -ENOMEM;
        } else if (asprintf(&p, "%s/%s/tests/preload/libgpiosim.so", top, build) < 0)
                return -ENOMEM;
        if (existing(p, ret) == 0)
                return 0;

        /* $BUILD/tests/<kind>/program -> $BUILD/tests/preload/libgpiosim.so */
        exe = realpath("/proc/self/exe", NULL);
        if (!exe)
                return -ENOENT;
        free(p);
        p = NULL;
        if (asprintf(&p, "%s/../preload/libgpiosim.so", dirname(exe)) < 0)
                return -ENOMEM;
        return existing(p, ret) == 0 ? 0 : -ENOENT;
}

bool gpiosim_running_with_asan(void)
{
        return dlsym(RTLD_DEFAULT, "__asan_init") != NULL;
}

static bool list_has(const char *list, const char *word)
{
        size_t n = strlen(word);

        for (const char *p = list; p && (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ' || p[-1] == ':') && (p[n] == 0 || p[n] == ' ' || p[n] == ':'))
                        return true;
        return false;
}

int gpiosim_setenv(const GpioSim *s, bool sanitized_child)
{
        _cleanup_free_ char *so = NULL, *value = NULL;
        const char *old = getenv("LD_PRELOAD"), *asan = NULL;
        Dl_info info;
        int r;

        r = gpiosim_preload_path(&so);
        if (r < 0)
                return r;
        if (sanitized_child && gpiosim_running_with_asan() &&
            dladdr(dlsym(RTLD_DEFAULT, "__asan_init"), &info) && info.dli_fname &&
            strstr(info.dli_fname, "libasan"))
                asan = info.dli_fname;
        if (asprintf(&value, "%s%s%s%s%s", asan && !list_has(old, asan) ? asan : "",
                     asan && !list_has(old, asan) ? " " : "", so, isempty(old) ? "" : " ",
                     strempty(old)) < 0)
                return -ENOMEM;
        if (setenv("LD_PRELOAD", value, 1) < 0 || setenv(GPIOSIM_DIR_ENV, s->dir, 1) < 0)
                return -errno;
        return 0;
}
