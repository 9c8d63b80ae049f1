/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Emulated GPIO character devices, as an LD_PRELOAD library, so that the
 * real libgpiod 1.6 (and the daemon on top of it) runs its own code against
 * chips that tests create and drive (tests/lib/gpiosim.h).
 *
 * With GPIOSIM_DIR=<dir> in the environment, the /dev/gpiochip* namespace
 * belongs to the simulation in <dir> (real chips, if any, are hidden):
 *
 *  - lstat/stat/fstatat/access/realpath of /dev/gpiochipN report a character
 *    device (major 254, minor N) while the chip exists; /dev is listed with
 *    the chips by scandir(); /sys/bus/gpio/devices/gpiochipN/dev reads
 *    "254:N", which is what libgpiod's is_gpiochip_cdev() checks;
 *  - open(/dev/gpiochipN) gives an fd on <dir>/chip that this library
 *    remembers; ioctl() on it implements the GPIO v1 uAPI (chip info, line
 *    info, line handles, line events) on the shared state <dir>/state;
 *  - a line request is a fifo <dir>/req-<uid>: the requesting process holds
 *    the read end as the request fd (so it is a real fd: poll, epoll and
 *    sd-event work), and, for event requests, a hidden write end so that the
 *    control side's short-lived writers never make it report POLLHUP. The
 *    control side writes struct gpioevent_data records into it; read() on
 *    the fd is checked like the kernel's (whole records, EINVAL below one);
 *  - the fifo having a reader is what "this request is alive" means: a
 *    request whose process exited or was killed is released by whoever looks
 *    at the line next, as the kernel releases it when the last fd closes.
 *
 * Everything else passes through to the next definition (libc, or a
 * sanitizer runtime loaded before us) untouched. Nothing runs at load time:
 * the environment is read and the state mapped on first use of a GPIO path
 * or fd, so the library is inert in programs that never touch GPIO.
 */
#undef _FORTIFY_SOURCE /* we define open(), read()... ourselves */

#define GPIOSIM_INTERNAL
#include "tests/lib/gpiosim.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

/* glibc no longer declares these (or only when fortifying), but programs built against older glibc or with
 * _FORTIFY_SOURCE still call them. */
int __xstat(int ver, const char *path, struct stat *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);

_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat64 differs from stat on this ABI");
_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64), "dirent64 differs from dirent on this ABI");
_Static_assert(sizeof(struct gpioevent_data) == 16, "unexpected struct gpioevent_data");

/* ---- the next definitions of what we interpose ---------------------------------------------------- */

static void *real_sym(void **slot, const char *name)
{
        void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

        if (!p) {
                p = dlsym(RTLD_NEXT, name);
                __atomic_store_n(slot, p, __ATOMIC_RELEASE);
        }
        return p;
}

/* Everything we interpose; each gets a pointer to the next definition. */
#define REAL_SYMBOLS(X) \
        X(open) \
        X(open64) \
        X(openat) \
        X(openat64) \
        X(__open_2) \
        X(__open64_2) \
        X(__openat_2) \
        X(__openat64_2) \
        X(close) \
        X(read) \
        X(__read_chk) \
        X(ioctl) \
        X(stat) \
        X(lstat) \
        X(fstat) \
        X(fstatat) \
        X(stat64) \
        X(lstat64) \
        X(fstat64) \
        X(fstatat64) \
        X(statx) \
        X(getxattr) \
        X(lgetxattr) \
        X(__xstat) \
        X(__lxstat) \
        X(__fxstat) \
        X(__fxstatat) \
        X(__xstat64) \
        X(__lxstat64) \
        X(__fxstat64) \
        X(__fxstatat64) \
        X(access) \
        X(faccessat) \
        X(realpath) \
        X(scandir) \
        X(scandir64)

#define REAL_DECL(fn) static void *real_ptr_##fn;
#define REAL(fn) ((__typeof__(&fn))real_sym(&real_ptr_##fn, #fn))
REAL_SYMBOLS(REAL_DECL)

/*
 * Look the next definitions up once at load time, so that no interposer
 * ever needs dlsym() later (from a signal handler, or from inside a malloc
 * implementation's own initialisation). Lookups only: no I/O, no state.
 */
#define REAL_RESOLVE(fn) (void)REAL(fn);
__attribute__((constructor)) static void resolve_next_definitions(void)
{
        REAL_SYMBOLS(REAL_RESOLVE)
}

/* Our own plumbing: straight to libc, never through our interposers. */
static int sys_open(const char *path, int flags, mode_t mode)
{
        __typeof__(&open) f = REAL(open);

        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(path, flags, mode);
}

static int sys_close(int fd)
{
        __typeof__(&close) f = REAL(close);

        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(fd);
}

static int sys_fstat(int fd, struct stat *st)
{
        __typeof__(&fstat) f = REAL(fstat);

        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(fd, st);
}

/* ---- where the simulation is ---------------------------------------------------------------------- */

static pthread_once_t dir_once = PTHREAD_ONCE_INIT;
static char sim_dir_buf[PATH_MAX];
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gpiosim_shm *sim_shm;

static void dir_init(void)
{
        const char *d = getenv(GPIOSIM_DIR_ENV);
        char cwd[PATH_MAX];
        int n;

        if (!d || !*d)
                return;
        if (d[0] == '/')
                n = snprintf(sim_dir_buf, sizeof(sim_dir_buf), "%s", d);
        else if (getcwd(cwd, sizeof(cwd)))
                n = snprintf(sim_dir_buf, sizeof(sim_dir_buf), "%s/%s", cwd, d);
        else
                n = -1;
        if (n < 0 || (size_t)n >= sizeof(sim_dir_buf))
                sim_dir_buf[0] = 0;
}

static const char *sim_dir(void)
{
        pthread_once(&dir_once, dir_init);
        return sim_dir_buf[0] ? sim_dir_buf : NULL;
}

/* Map a state file if it is complete and of our version; NULL otherwise. */
static struct gpiosim_shm *map_state(const char *path)
{
        struct gpiosim_shm *m = NULL;
        struct stat st;
        void *p;
        int fd;

        fd = sys_open(path, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0)
                return NULL;
        if (sys_fstat(fd, &st) == 0 && st.st_size == (off_t)sizeof(struct gpiosim_shm)) {
                p = mmap(NULL, sizeof(struct gpiosim_shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (p != MAP_FAILED) {
                        m = p;
                        if (__atomic_load_n(&m->magic, __ATOMIC_ACQUIRE) != GPIOSIM_SHM_MAGIC ||
                            m->version != GPIOSIM_SHM_VERSION || m->size != sizeof(struct gpiosim_shm)) {
                                munmap(p, sizeof(struct gpiosim_shm));
                                m = NULL;
                        }
                }
        }
        sys_close(fd);
        return m;
}

/*
 * Map <dir>/state on first need. Until the control side has created it the
 * simulation simply has no chips; we try again next time.
 */
static struct gpiosim_shm *shm_get(void)
{
        struct gpiosim_shm *m = __atomic_load_n(&sim_shm, __ATOMIC_ACQUIRE);
        char path[PATH_MAX + 16];
        const char *dir;

        if (m)
                return m;
        dir = sim_dir();
        if (!dir)
                return NULL;
        pthread_mutex_lock(&map_lock);
        m = sim_shm;
        if (!m) {
                snprintf(path, sizeof(path), "%s/" GPIOSIM_STATE_FILE, dir);
                m = map_state(path);
                if (m)
                        __atomic_store_n(&sim_shm, m, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&map_lock);
        return m;
}

/* ---- fds we handed out ---------------------------------------------------------------------------- */

enum {
        FD_NONE,
        FD_CHIP,
        FD_HANDLE,
        FD_EVENT,
};

/* Indexed by fd; our fds are moved below FD_MAX. Pages are only touched for fds we use. */
#define FD_MAX 65536

struct fd_entry {
        uint8_t kind;
        uint8_t dead; /* event fd whose chip went away */
        int16_t slot; /* chip slot, or request slot */
        uint32_t chip_num;
        int32_t wfd; /* hidden write end of an event fifo, -1 */
        uint64_t uid; /* chip uid or request uid */
        uint64_t ino, dev;
};

static struct fd_entry *fd_table;
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fd_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
        pthread_mutex_lock(&map_lock);
        pthread_mutex_lock(&fd_lock);
}

static void atfork_release(void)
{
        pthread_mutex_unlock(&fd_lock);
        pthread_mutex_unlock(&map_lock);
}

static void fd_table_init(void)
{
        void *p = mmap(NULL, FD_MAX * sizeof(struct fd_entry), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

        if (p == MAP_FAILED)
                return;
        /* A fork while another thread holds our locks must not leave the child wedged. */
        pthread_atfork(atfork_prepare, atfork_release, atfork_release);
        __atomic_store_n(&fd_table, (struct fd_entry *)p, __ATOMIC_RELEASE);
}

/* The fast path of every read()/close()/ioctl() in the process: one load and a compare. */
static inline bool fd_maybe_ours(int fd)
{
        struct fd_entry *t = __atomic_load_n(&fd_table, __ATOMIC_ACQUIRE);

        return t && fd >= 0 && fd < FD_MAX && __atomic_load_n(&t[fd].kind, __ATOMIC_RELAXED) != FD_NONE;
}

/* Move an fd we are about to hand out below FD_MAX. Returns the fd or -errno (the original is closed). */
static int fd_lower(int fd, bool cloexec)
{
        int nfd;

        if (fd < FD_MAX)
                return fd;
        nfd = fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 3);
        sys_close(fd);
        if (nfd < 0)
                return -errno;
        if (nfd >= FD_MAX) {
                sys_close(nfd);
                return -EMFILE;
        }
        return nfd;
}

static int fd_track(int fd, const struct fd_entry *e)
{
        struct stat st;
        struct fd_entry x = *e;

        pthread_once(&fd_once, fd_table_init);
        if (!fd_table)
                return -ENOMEM;
        if (sys_fstat(fd, &st) < 0)
                return -errno;
        x.ino = st.st_ino;
        x.dev = st.st_dev;
        pthread_mutex_lock(&fd_lock);
        fd_table[fd] = x;
        __atomic_store_n(&fd_table[fd].kind, e->kind, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&fd_lock);
        return 0;
}

/*
 * Copy the entry of an fd we track. The fd is checked to still be the file
 * we gave out: a program may have replaced it behind our back (dup2 onto
 * it, close_range), in which case the entry is dropped and the call passes
 * through to libc.
 */
static bool fd_get(int fd, struct fd_entry *ret)
{
        struct stat st;
        bool ok;

        if (!fd_maybe_ours(fd))
                return false;
        pthread_mutex_lock(&fd_lock);
        *ret = fd_table[fd];
        pthread_mutex_unlock(&fd_lock);
        if (ret->kind == FD_NONE)
                return false;
        ok = sys_fstat(fd, &st) == 0 && (uint64_t)st.st_ino == ret->ino && (uint64_t)st.st_dev == ret->dev;
        if (!ok) {
                pthread_mutex_lock(&fd_lock);
                if (fd_table[fd].uid == ret->uid && fd_table[fd].kind == ret->kind)
                        memset(&fd_table[fd], 0, sizeof(fd_table[fd]));
                pthread_mutex_unlock(&fd_lock);
        }
        return ok;
}

/* Forget an fd (it is being closed). Returns whether it was ours, with its entry. */
static bool fd_untrack(int fd, struct fd_entry *ret)
{
        if (!fd_maybe_ours(fd))
                return false;
        pthread_mutex_lock(&fd_lock);
        *ret = fd_table[fd];
        memset(&fd_table[fd], 0, sizeof(fd_table[fd]));
        pthread_mutex_unlock(&fd_lock);
        return ret->kind != FD_NONE;
}

/* ---- paths we own --------------------------------------------------------------------------------- */

enum {
        PATH_OTHER,
        PATH_DEV_CHIP, /* /dev/gpiochipN */
        PATH_SYS_DEV,  /* /sys/bus/gpio/devices/gpiochipN/dev */
};

/* Cheap for every other path: two prefix compares before anything else. */
static int classify(const char *path, char name[GPIOSIM_NAME_LEN])
{
        const char *p, *q;
        int kind;
        size_t n;

        if (!path)
                return PATH_OTHER;
        if (strncmp(path, "/dev/gpiochip", 13) == 0) {
                p = path + 5;
                kind = PATH_DEV_CHIP;
        } else if (strncmp(path, "/sys/bus/gpio/devices/gpiochip", 30) == 0) {
                p = path + 22;
                kind = PATH_SYS_DEV;
        } else
                return PATH_OTHER;

        q = p + 8;
        if (*q < '0' || *q > '9')
                return PATH_OTHER;
        while (*q >= '0' && *q <= '9')
                q++;
        n = (size_t)(q - p);
        if (n >= GPIOSIM_NAME_LEN)
                return PATH_OTHER;
        if (kind == PATH_DEV_CHIP ? *q != 0 : strcmp(q, "/dev") != 0)
                return PATH_OTHER;
        if (!sim_dir())
                return PATH_OTHER;
        memcpy(name, p, n);
        name[n] = 0;
        return kind;
}

struct chip_ref {
        int slot;
        uint32_t num;
        uint64_t uid;
        int64_t added_ns;
};

static int chip_lookup(const char *name, struct chip_ref *ret)
{
        struct gpiosim_shm *m = shm_get();
        int i;

        if (!m)
                return -ENOENT;
        gpiosim_shm_lock(m);
        i = gpiosim_chip_find(m, name);
        if (i >= 0) {
                ret->slot = i;
                ret->num = m->chips[i].num;
                ret->uid = m->chips[i].uid;
                ret->added_ns = m->chips[i].added_realtime_ns;
        }
        gpiosim_shm_unlock(m);
        return i < 0 ? i : 0;
}

static void fill_stat(struct stat *st, int kind, uint32_t num, int64_t added_ns)
{
        memset(st, 0, sizeof(*st));
        st->st_dev = makedev(0, 5); /* devtmpfs / sysfs: not a real device of this machine either way */
        st->st_ino = 0x6770000 + (kind == PATH_DEV_CHIP ? 0 : 0x10000) + num;
        st->st_nlink = 1;
        st->st_uid = getuid();
        st->st_gid = getgid();
        st->st_blksize = 4096;
        if (kind == PATH_DEV_CHIP) {
                st->st_mode = S_IFCHR | 0660;
                st->st_rdev = makedev(GPIOSIM_DEV_MAJOR, num);
        } else {
                st->st_mode = S_IFREG | 0444;
                st->st_size = 4096;
        }
        st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = added_ns / 1000000000;
        st->st_atim.tv_nsec = st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = added_ns % 1000000000;
}

/* stat() of one of our paths. */
static int path_stat(int kind, const char *name, struct stat *st)
{
        struct chip_ref c;
        int r = chip_lookup(name, &c);

        if (r < 0) {
                errno = -r;
                return -1;
        }
        fill_stat(st, kind, c.num, c.added_ns);
        return 0;
}

/* fstat() of a chip fd: the character device, even after the chip went away (as for the kernel's inode). */
static bool fd_stat(int fd, struct stat *st)
{
        struct fd_entry e;

        if (!fd_get(fd, &e) || e.kind != FD_CHIP)
                return false;
        fill_stat(st, PATH_DEV_CHIP, e.chip_num, 0);
        return true;
}

/* ---- open ----------------------------------------------------------------------------------------- */

static int chip_open(const char *name, int flags)
{
        const char *dir = sim_dir();
        char path[PATH_MAX + 16];
        struct chip_ref c;
        struct fd_entry e = { .kind = FD_CHIP, .wfd = -1 };
        int fd, r;

        r = chip_lookup(name, &c);
        if (r < 0)
                goto fail;
        snprintf(path, sizeof(path), "%s/" GPIOSIM_CHIP_FILE, dir);
        fd = sys_open(path, O_RDWR | (flags & (O_CLOEXEC | O_NONBLOCK)), 0);
        if (fd < 0) {
                r = -errno;
                goto fail;
        }
        fd = fd_lower(fd, flags & O_CLOEXEC);
        if (fd < 0) {
                r = fd;
                goto fail;
        }
        e.slot = (int16_t)c.slot;
        e.chip_num = c.num;
        e.uid = c.uid;
        r = fd_track(fd, &e);
        if (r < 0) {
                sys_close(fd);
                goto fail;
        }
        return fd;
fail:
        errno = -r;
        return -1;
}

/* The sysfs "dev" attribute: "MAJOR:MINOR\n", from a memfd (or a pipe where memfd is not allowed). */
static int sysattr_open(const char *name, int flags)
{
        char buf[32];
        struct chip_ref c;
        int r, fd, p[2], n;

        r = chip_lookup(name, &c);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        if ((flags & O_ACCMODE) != O_RDONLY) {
                errno = EACCES;
                return -1;
        }
        n = snprintf(buf, sizeof(buf), "%u:%u\n", GPIOSIM_DEV_MAJOR, c.num);
        fd = memfd_create("gpiosim-sysfs-dev", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
        if (fd >= 0) {
                if (write(fd, buf, (size_t)n) != n || lseek(fd, 0, SEEK_SET) != 0) {
                        r = errno ? -errno : -EIO;
                        sys_close(fd);
                        errno = -r;
                        return -1;
                }
                return fd;
        }
        if (pipe2(p, flags & O_CLOEXEC) < 0)
                return -1;
        if (write(p[1], buf, (size_t)n) != n) {
                sys_close(p[0]);
                sys_close(p[1]);
                errno = EIO;
                return -1;
        }
        sys_close(p[1]);
        return p[0];
}

static int open_managed(int kind, const char *name, int flags)
{
        return kind == PATH_DEV_CHIP ? chip_open(name, flags) : sysattr_open(name, flags);
}

static mode_t open_mode(int flags, va_list ap)
{
        return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_BODY(fn, ...)                                                                                       \
        do {                                                                                                     \
                char name_[GPIOSIM_NAME_LEN];                                                                    \
                int kind_ = classify(path, name_);                                                               \
                __typeof__(&fn) f_;                                                                              \
                if (kind_ != PATH_OTHER)                                                                         \
                        return open_managed(kind_, name_, flags);                                                \
                f_ = REAL(fn);                                                                                   \
                if (!f_) {                                                                                       \
                        errno = ENOSYS;                                                                          \
                        return -1;                                                                               \
                }                                                                                                \
                return f_(__VA_ARGS__);                                                                          \
        } while (0)

EXPORT int open(const char *path, int flags, ...)
{
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = open_mode(flags, ap);
        va_end(ap);
        OPEN_BODY(open, path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = open_mode(flags, ap);
        va_end(ap);
        OPEN_BODY(open64, path, flags, mode);
}

/* Our paths are absolute, so dirfd never matters for them. */
EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = open_mode(flags, ap);
        va_end(ap);
        OPEN_BODY(openat, dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = open_mode(flags, ap);
        va_end(ap);
        OPEN_BODY(openat64, dirfd, path, flags, mode);
}

EXPORT int __open_2(const char *path, int flags)
{
        OPEN_BODY(__open_2, path, flags);
}

EXPORT int __open64_2(const char *path, int flags)
{
        OPEN_BODY(__open64_2, path, flags);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
        OPEN_BODY(__openat_2, dirfd, path, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
        OPEN_BODY(__openat64_2, dirfd, path, flags);
}

/* ---- stat, access, realpath ----------------------------------------------------------------------- */

#define PATH_STAT_BODY(fn, st_, ...)                                                                             \
        do {                                                                                                     \
                char name_[GPIOSIM_NAME_LEN];                                                                    \
                int kind_ = classify(path, name_);                                                               \
                __typeof__(&fn) f_;                                                                              \
                if (kind_ != PATH_OTHER)                                                                         \
                        return path_stat(kind_, name_, (struct stat *)(void *)(st_));                            \
                f_ = REAL(fn);                                                                                   \
                if (!f_) {                                                                                       \
                        errno = ENOSYS;                                                                          \
                        return -1;                                                                               \
                }                                                                                                \
                return f_(__VA_ARGS__);                                                                          \
        } while (0)

#define FD_STAT_BODY(fn, st_, ...)                                                                               \
        do {                                                                                                     \
                __typeof__(&fn) f_;                                                                              \
                if (fd_stat(fd, (struct stat *)(void *)(st_)))                                                   \
                        return 0;                                                                                \
                f_ = REAL(fn);                                                                                   \
                if (!f_) {                                                                                       \
                        errno = ENOSYS;                                                                          \
                        return -1;                                                                               \
                }                                                                                                \
                return f_(__VA_ARGS__);                                                                          \
        } while (0)

EXPORT int stat(const char *path, struct stat *st)
{
        PATH_STAT_BODY(stat, st, path, st);
}

/* No symlinks among our paths: lstat is stat. */
EXPORT int lstat(const char *path, struct stat *st)
{
        PATH_STAT_BODY(lstat, st, path, st);
}

EXPORT int stat64(const char *path, struct stat64 *st)
{
        PATH_STAT_BODY(stat64, st, path, st);
}

EXPORT int lstat64(const char *path, struct stat64 *st)
{
        PATH_STAT_BODY(lstat64, st, path, st);
}

EXPORT int fstat(int fd, struct stat *st)
{
        FD_STAT_BODY(fstat, st, fd, st);
}

EXPORT int fstat64(int fd, struct stat64 *st)
{
        FD_STAT_BODY(fstat64, st, fd, st);
}

EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
        if ((flags & AT_EMPTY_PATH) && !*path && fd_stat(dirfd, st))
                return 0;
        PATH_STAT_BODY(fstatat, st, dirfd, path, st, flags);
}

EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
        if ((flags & AT_EMPTY_PATH) && !*path && fd_stat(dirfd, (struct stat *)(void *)st))
                return 0;
        PATH_STAT_BODY(fstatat64, st, dirfd, path, st, flags);
}

EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
        PATH_STAT_BODY(__xstat, st, ver, path, st);
}

EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
        PATH_STAT_BODY(__lxstat, st, ver, path, st);
}

EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
        PATH_STAT_BODY(__xstat64, st, ver, path, st);
}

EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
        PATH_STAT_BODY(__lxstat64, st, ver, path, st);
}

EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
        FD_STAT_BODY(__fxstat, st, ver, fd, st);
}

EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
        FD_STAT_BODY(__fxstat64, st, ver, fd, st);
}

EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
        PATH_STAT_BODY(__fxstatat, st, ver, dirfd, path, st, flags);
}

EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
        PATH_STAT_BODY(__fxstatat64, st, ver, dirfd, path, st, flags);
}

static void stat_to_statx(const struct stat *st, struct statx *stx)
{
        memset(stx, 0, sizeof(*stx));
        stx->stx_mask = STATX_BASIC_STATS;
        stx->stx_blksize = (uint32_t)st->st_blksize;
        stx->stx_nlink = (uint32_t)st->st_nlink;
        stx->stx_uid = st->st_uid;
        stx->stx_gid = st->st_gid;
        stx->stx_mode = (uint16_t)st->st_mode;
        stx->stx_ino = st->st_ino;
        stx->stx_size = (uint64_t)st->st_size;
        stx->stx_atime.tv_sec = stx->stx_mtime.tv_sec = stx->stx_ctime.tv_sec = st->st_mtim.tv_sec;
        stx->stx_atime.tv_nsec = (uint32_t)st->st_mtim.tv_nsec;
        stx->stx_mtime.tv_nsec = stx->stx_ctime.tv_nsec = stx->stx_atime.tv_nsec;
        stx->stx_rdev_major = major(st->st_rdev);
        stx->stx_rdev_minor = minor(st->st_rdev);
        stx->stx_dev_major = major(st->st_dev);
        stx->stx_dev_minor = minor(st->st_dev);
}

/* What ls and other coreutils use. */
EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
        char name[GPIOSIM_NAME_LEN];
        int kind = classify(path, name);
        __typeof__(&statx) f;
        struct stat st;

        if (kind != PATH_OTHER || ((flags & AT_EMPTY_PATH) && !*path && fd_stat(dirfd, &st))) {
                if (kind != PATH_OTHER && path_stat(kind, name, &st) < 0)
                        return -1;
                stat_to_statx(&st, stx);
                return 0;
        }
        f = REAL(statx);
        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(dirfd, path, flags, mask, stx);
}

/* ls -l asks for the SELinux label and ACLs: our files have none. */
static ssize_t path_xattr(int kind, const char *name)
{
        struct chip_ref c;
        int r = chip_lookup(name, &c);

        errno = r < 0 ? -r : ENODATA;
        return -1;
}

EXPORT ssize_t getxattr(const char *path, const char *attr, void *value, size_t size)
{
        char name[GPIOSIM_NAME_LEN];
        int kind = classify(path, name);
        __typeof__(&getxattr) f;

        if (kind != PATH_OTHER)
                return path_xattr(kind, name);
        f = REAL(getxattr);
        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(path, attr, value, size);
}

EXPORT ssize_t lgetxattr(const char *path, const char *attr, void *value, size_t size)
{
        char name[GPIOSIM_NAME_LEN];
        int kind = classify(path, name);
        __typeof__(&lgetxattr) f;

        if (kind != PATH_OTHER)
                return path_xattr(kind, name);
        f = REAL(lgetxattr);
        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(path, attr, value, size);
}

static int path_access(int kind, const char *name, int mode)
{
        struct chip_ref c;
        int r = chip_lookup(name, &c);

        if (r < 0) {
                errno = -r;
                return -1;
        }
        /* crw-rw---- for the chip (we are "in the gpio group"), r--r--r-- for the attribute. */
        if ((mode & X_OK) || (kind == PATH_SYS_DEV && (mode & W_OK))) {
                errno = EACCES;
                return -1;
        }
        return 0;
}

EXPORT int access(const char *path, int mode)
{
        char name[GPIOSIM_NAME_LEN];
        int kind = classify(path, name);
        __typeof__(&access) f;

        if (kind != PATH_OTHER)
                return path_access(kind, name, mode);
        f = REAL(access);
        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(path, mode);
}

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
        char name[GPIOSIM_NAME_LEN];
        int kind = classify(path, name);
        __typeof__(&faccessat) f;

        if (kind != PATH_OTHER)
                return path_access(kind, name, mode);
        f = REAL(faccessat);
        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(dirfd, path, mode, flags);
}

/* Our paths are already canonical (classify() accepts nothing else). */
EXPORT char *realpath(const char *path, char *resolved)
{
        char name[GPIOSIM_NAME_LEN];
        int kind = classify(path, name);
        __typeof__(&realpath) f;
        struct chip_ref c;
        int r;

        if (kind != PATH_OTHER) {
                r = chip_lookup(name, &c);
                if (r < 0) {
                        errno = -r;
                        return NULL;
                }
                if (!resolved)
                        return strdup(path);
                return strcpy(resolved, path); /* shorter than PATH_MAX by construction */
        }
        f = REAL(realpath);
        if (!f) {
                errno = ENOSYS;
                return NULL;
        }
        return f(path, resolved);
}

/* ---- listing /dev --------------------------------------------------------------------------------- */

typedef int (*dirent_filter_t)(const struct dirent *);
typedef int (*dirent_compar_t)(const struct dirent **, const struct dirent **);

/* scandir() takes plain function pointers: the caller's are passed to our wrappers through TLS. */
static __thread dirent_filter_t tls_filter;
static __thread dirent_compar_t tls_compar;

static bool is_chip_name(const char *s)
{
        if (strncmp(s, "gpiochip", 8) != 0 || !s[8])
                return false;
        for (s += 8; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* Real gpiochips are hidden: with GPIOSIM_DIR set the namespace is the simulation's. */
static int filter_wrap(const struct dirent *d)
{
        if (is_chip_name(d->d_name))
                return 0;
        return tls_filter ? tls_filter(d) : 1;
}

static int compar_wrap(const void *a, const void *b)
{
        return tls_compar((const struct dirent **)a, (const struct dirent **)b);
}

static bool is_dev_dir(const char *dir)
{
        return dir && (strcmp(dir, "/dev") == 0 || strcmp(dir, "/dev/") == 0) && sim_dir();
}

static int scandir_dev(const char *dir, struct dirent ***namelist, dirent_filter_t filter,
                       dirent_compar_t compar, bool is64)
{
        struct gpiosim_shm *m = shm_get();
        struct dirent **list = NULL, **nl;
        char names[GPIOSIM_MAX_CHIPS][GPIOSIM_NAME_LEN];
        uint32_t nums[GPIOSIM_MAX_CHIPS];
        int n, n_chips = 0;

        tls_filter = filter;
        if (is64) {
                __typeof__(&scandir64) f = REAL(scandir64);
                n = f ? f(dir, (struct dirent64 ***)(void *)&list,
                          (int (*)(const struct dirent64 *))(void *)filter_wrap, NULL)
                      : (errno = ENOSYS, -1);
        } else {
                __typeof__(&scandir) f = REAL(scandir);
                n = f ? f(dir, &list, filter_wrap, NULL) : (errno = ENOSYS, -1);
        }
        tls_filter = NULL;
        if (n < 0)
                return -1;

        if (m) {
                gpiosim_shm_lock(m);
                for (int i = 0; i < GPIOSIM_MAX_CHIPS; i++)
                        if (m->chips[i].in_use) {
                                memcpy(names[n_chips], m->chips[i].name, GPIOSIM_NAME_LEN);
                                nums[n_chips++] = m->chips[i].num;
                        }
                gpiosim_shm_unlock(m);
        }
        for (int i = 0; i < n_chips; i++) {
                struct dirent *d = calloc(1, sizeof(*d));
                if (!d)
                        goto oom;
                d->d_ino = 0x6770000 + nums[i];
                d->d_off = 0;
                d->d_reclen = sizeof(*d);
                d->d_type = DT_CHR;
                memcpy(d->d_name, names[i], GPIOSIM_NAME_LEN);
                if (filter && !filter(d)) {
                        free(d);
                        continue;
                }
                nl = realloc(list, sizeof(*list) * (size_t)(n + 1));
                if (!nl) {
                        free(d);
                        goto oom;
                }
                list = nl;
                list[n++] = d;
        }
        if (compar && n > 1) {
                tls_compar = compar;
                qsort(list, (size_t)n, sizeof(*list), compar_wrap);
                tls_compar = NULL;
        }
        if (!list) {
                /* scandir() gives a freeable array even when empty. */
                list = malloc(sizeof(*list));
                if (!list) {
                        errno = ENOMEM;
                        return -1;
                }
        }
        *namelist = list;
        return n;
oom:
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        errno = ENOMEM;
        return -1;
}

EXPORT int scandir(const char *dir, struct dirent ***namelist, dirent_filter_t filter,
                   dirent_compar_t compar)
{
        __typeof__(&scandir) f;

        if (is_dev_dir(dir))
                return scandir_dev(dir, namelist, filter, compar, false);
        f = REAL(scandir);
        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(dir, namelist, filter, compar);
}

EXPORT int scandir64(const char *dir, struct dirent64 ***namelist, int (*filter)(const struct dirent64 *),
                     int (*compar)(const struct dirent64 **, const struct dirent64 **))
{
        __typeof__(&scandir64) f;

        if (is_dev_dir(dir))
                return scandir_dev(dir, (struct dirent ***)(void *)namelist, (dirent_filter_t)(void *)filter,
                                   (dirent_compar_t)(void *)compar, true);
        f = REAL(scandir64);
        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(dir, namelist, filter, compar);
}

/* ---- the GPIO v1 uAPI ----------------------------------------------------------------------------- */

/* The kernel's GPIOHANDLE_REQUEST_VALID_FLAGS and linehandle_validate_flags() (gpiolib-cdev.c). */
#define HANDLE_VALID_FLAGS                                                                                       \
        (GPIOHANDLE_REQUEST_INPUT | GPIOHANDLE_REQUEST_OUTPUT | GPIOHANDLE_REQUEST_ACTIVE_LOW |                  \
         GPIOHANDLE_REQUEST_BIAS_PULL_UP | GPIOHANDLE_REQUEST_BIAS_PULL_DOWN | GPIOHANDLE_REQUEST_BIAS_DISABLE | \
         GPIOHANDLE_REQUEST_OPEN_DRAIN | GPIOHANDLE_REQUEST_OPEN_SOURCE)
#define BIAS_FLAGS                                                                                          \
        (GPIOHANDLE_REQUEST_BIAS_PULL_UP | GPIOHANDLE_REQUEST_BIAS_PULL_DOWN |                              \
         GPIOHANDLE_REQUEST_BIAS_DISABLE)

static bool one_bias_at_most(uint32_t f)
{
        return !((f & GPIOHANDLE_REQUEST_BIAS_DISABLE) &&
                 (f & (GPIOHANDLE_REQUEST_BIAS_PULL_DOWN | GPIOHANDLE_REQUEST_BIAS_PULL_UP))) &&
               !((f & GPIOHANDLE_REQUEST_BIAS_PULL_DOWN) && (f & GPIOHANDLE_REQUEST_BIAS_PULL_UP));
}

static int handle_validate_flags(uint32_t f)
{
        if (f & ~HANDLE_VALID_FLAGS)
                return -EINVAL;
        if ((f & GPIOHANDLE_REQUEST_INPUT) && (f & GPIOHANDLE_REQUEST_OUTPUT))
                return -EINVAL;
        if ((f & GPIOHANDLE_REQUEST_OPEN_DRAIN) && (f & GPIOHANDLE_REQUEST_OPEN_SOURCE))
                return -EINVAL;
        if (!(f & GPIOHANDLE_REQUEST_OUTPUT) &&
            (f & (GPIOHANDLE_REQUEST_OPEN_DRAIN | GPIOHANDLE_REQUEST_OPEN_SOURCE)))
                return -EINVAL;
        if (!(f & (GPIOHANDLE_REQUEST_INPUT | GPIOHANDLE_REQUEST_OUTPUT)) && (f & BIAS_FLAGS))
                return -EINVAL;
        if (!one_bias_at_most(f))
                return -EINVAL;
        return 0;
}

static int logical(const struct gpiosim_shm_line *l)
{
        return gpiosim_line_phys(l) ^ !!(l->flags & GPIOHANDLE_REQUEST_ACTIVE_LOW);
}

/* What the kernel's gpio_desc_to_lineinfo() reports. */
static void line_info(struct gpiosim_shm *m, const char *dir, int chip, struct gpioline_info *info)
{
        struct gpiosim_shm_line *l = &m->chips[chip].lines[info->line_offset];
        uint32_t f;

        memcpy(info->name, l->name, sizeof(info->name));
        info->name[sizeof(info->name) - 1] = 0;
        info->flags = 0;
        memset(info->consumer, 0, sizeof(info->consumer));
        if (gpiosim_line_holder(m, dir, chip, info->line_offset) >= 0) {
                f = l->flags;
                memcpy(info->consumer, l->consumer, sizeof(info->consumer) - 1);
                info->flags |= GPIOLINE_FLAG_KERNEL;
                if (f & GPIOHANDLE_REQUEST_ACTIVE_LOW)
                        info->flags |= GPIOLINE_FLAG_ACTIVE_LOW;
                if (f & GPIOHANDLE_REQUEST_OPEN_DRAIN)
                        info->flags |= GPIOLINE_FLAG_OPEN_DRAIN | GPIOLINE_FLAG_IS_OUT;
                if (f & GPIOHANDLE_REQUEST_OPEN_SOURCE)
                        info->flags |= GPIOLINE_FLAG_OPEN_SOURCE | GPIOLINE_FLAG_IS_OUT;
                if (f & GPIOHANDLE_REQUEST_BIAS_DISABLE)
                        info->flags |= GPIOLINE_FLAG_BIAS_DISABLE;
                if (f & GPIOHANDLE_REQUEST_BIAS_PULL_DOWN)
                        info->flags |= GPIOLINE_FLAG_BIAS_PULL_DOWN;
                if (f & GPIOHANDLE_REQUEST_BIAS_PULL_UP)
                        info->flags |= GPIOLINE_FLAG_BIAS_PULL_UP;
        }
        if (l->is_out)
                info->flags |= GPIOLINE_FLAG_IS_OUT;
}

/*
 * Make a request: a fifo whose read end becomes the request fd. Lock held.
 * Returns the fd or -errno; on error nothing is left behind.
 */
static int req_create(struct gpiosim_shm *m, const char *dir, int chip, bool events, uint32_t flags,
                      uint32_t eflags, const char *label, const uint32_t *offsets, uint32_t n)
{
        struct gpiosim_shm_chip *c = &m->chips[chip];
        struct fd_entry e = { .kind = events ? FD_EVENT : FD_HANDLE, .wfd = -1 };
        char path[PATH_MAX + 32];
        struct gpiosim_shm_req *r;
        int slot = -1, rfd = -1, wfd = -1, k;
        uint64_t uid;

        for (int i = 0; i < GPIOSIM_MAX_REQUESTS; i++)
                if (!m->reqs[i].in_use) {
                        slot = i;
                        break;
                }
        if (slot < 0)
                return -ENOMEM;
        uid = m->next_uid++;
        k = gpiosim_req_path(dir, uid, path, sizeof(path));
        if (k < 0)
                return k;
        (void)unlink(path);
        if (mkfifo(path, 0600) < 0)
                return -errno;
        /* Non-blocking opens never wait for the other end; reads on the fd block, as on the kernel's. */
        rfd = sys_open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
        if (rfd < 0)
                goto fail_errno;
        if (events) {
                wfd = sys_open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0);
                if (wfd < 0)
                        goto fail_errno;
        }
        if (fcntl(rfd, F_SETFL, O_RDONLY) < 0)
                goto fail_errno;
        rfd = fd_lower(rfd, true);
        if (rfd < 0) {
                k = rfd;
                goto fail;
        }
        e.slot = (int16_t)slot;
        e.uid = uid;
        e.wfd = wfd;
        e.chip_num = c->num;
        k = fd_track(rfd, &e);
        if (k < 0)
                goto fail;

        r = &m->reqs[slot];
        memset(r, 0, sizeof(*r));
        r->events = events;
        r->uid = uid;
        r->chip_uid = c->uid;
        r->chip = chip;
        r->pid = getpid();
        r->flags = flags;
        r->eflags = eflags;
        r->num_lines = n;
        memcpy(r->offsets, offsets, n * sizeof(*offsets));
        for (uint32_t i = 0; i < n; i++) {
                struct gpiosim_shm_line *l = &c->lines[offsets[i]];
                l->req = slot;
                l->flags = flags;
                /* gpiod_request_commit(): a request without a label shows as "?". */
                snprintf(l->consumer, sizeof(l->consumer), "%s", label[0] ? label : "?");
                if (flags & GPIOHANDLE_REQUEST_OUTPUT) {
                        l->is_out = 1;
                        /* default_values are logical; the handle's caller filled them in. */
                } else if (flags & GPIOHANDLE_REQUEST_INPUT)
                        l->is_out = 0;
        }
        r->in_use = 1;
        return rfd;

fail_errno:
        k = -errno;
fail:
        if (rfd >= 0) {
                struct fd_entry dummy;
                (void)fd_untrack(rfd, &dummy);
                sys_close(rfd);
        }
        if (wfd >= 0)
                sys_close(wfd);
        (void)unlink(path);
        return k;
}

/* A line is busy if a live request holds it; dead holders are released on the way. Lock held. */
static int check_free(struct gpiosim_shm *m, const char *dir, int chip, const uint32_t *offsets, uint32_t n)
{
        for (uint32_t i = 0; i < n; i++) {
                if (offsets[i] >= m->chips[chip].num_lines)
                        return -EINVAL;
                for (uint32_t j = 0; j < i; j++)
                        if (offsets[j] == offsets[i])
                                return -EBUSY; /* the kernel's second gpiod_request() of the same desc */
                if (gpiosim_line_holder(m, dir, chip, offsets[i]) >= 0)
                        return -EBUSY;
        }
        return 0;
}

static int linehandle_create(struct gpiosim_shm *m, const char *dir, int chip, struct gpiohandle_request *hr)
{
        struct gpiosim_shm_chip *c = &m->chips[chip];
        int fd, r;

        if (hr->lines == 0 || hr->lines > GPIOHANDLES_MAX)
                return -EINVAL;
        r = handle_validate_flags(hr->flags);
        if (r < 0)
                return r;
        hr->consumer_label[sizeof(hr->consumer_label) - 1] = 0;
        r = check_free(m, dir, chip, hr->lineoffsets, hr->lines);
        if (r < 0)
                return r;
        fd = req_create(m, dir, chip, false, hr->flags, 0, hr->consumer_label, hr->lineoffsets, hr->lines);
        if (fd < 0)
                return fd;
        if (hr->flags & GPIOHANDLE_REQUEST_OUTPUT)
                for (uint32_t i = 0; i < hr->lines; i++)
                        c->lines[hr->lineoffsets[i]].out_value =
                                !!hr->default_values[i] ^ !!(hr->flags & GPIOHANDLE_REQUEST_ACTIVE_LOW);
        hr->fd = fd;
        return 0;
}

static int lineevent_create(struct gpiosim_shm *m, const char *dir, int chip, struct gpioevent_request *er)
{
        uint32_t lf = er->handleflags, ef = er->eventflags;
        int fd, r;

        /* The order of the kernel's lineevent_create() checks. */
        if (er->lineoffset >= m->chips[chip].num_lines)
                return -EINVAL;
        if ((lf & ~HANDLE_VALID_FLAGS) || (ef & ~(uint32_t)GPIOEVENT_REQUEST_BOTH_EDGES))
                return -EINVAL;
        if (lf &
            (GPIOHANDLE_REQUEST_OUTPUT | GPIOHANDLE_REQUEST_OPEN_DRAIN | GPIOHANDLE_REQUEST_OPEN_SOURCE))
                return -EINVAL;
        if (!one_bias_at_most(lf))
                return -EINVAL;
        er->consumer_label[sizeof(er->consumer_label) - 1] = 0;
        r = check_free(m, dir, chip, &er->lineoffset, 1);
        if (r < 0)
                return r;
        /* An event line is an input whatever the flags say (gpiod_direction_input()). */
        fd = req_create(m, dir, chip, true, lf | GPIOHANDLE_REQUEST_INPUT, ef, er->consumer_label,
                        &er->lineoffset, 1);
        if (fd < 0)
                return fd;
        m->chips[chip].lines[er->lineoffset].flags = lf; /* as requested, for line info */
        er->fd = fd;
        return 0;
}

static int chip_ioctl(const struct fd_entry *e, unsigned long req, void *arg)
{
        struct gpiosim_shm *m = shm_get();
        const char *dir = sim_dir();
        struct gpiosim_shm_chip *c;
        int r;

        if (!m)
                return -ENODEV;
        if (!arg && (req == GPIO_GET_CHIPINFO_IOCTL || req == GPIO_GET_LINEINFO_IOCTL ||
                     req == GPIO_GET_LINEHANDLE_IOCTL || req == GPIO_GET_LINEEVENT_IOCTL))
                return -EFAULT;
        gpiosim_shm_lock(m);
        c = &m->chips[e->slot];
        if (!c->in_use || c->uid != e->uid) {
                /* "We fail any subsequent ioctl():s when the chip is gone" */
                r = -ENODEV;
        } else if (req == GPIO_GET_CHIPINFO_IOCTL) {
                struct gpiochip_info *ci = arg;
                memset(ci, 0, sizeof(*ci));
                memcpy(ci->name, c->name, sizeof(ci->name) - 1);
                memcpy(ci->label, c->label, sizeof(ci->label) - 1);
                ci->lines = c->num_lines;
                r = 0;
        } else if (req == GPIO_GET_LINEINFO_IOCTL) {
                struct gpioline_info *li = arg;
                if (li->line_offset >= c->num_lines)
                        r = -EINVAL;
                else {
                        line_info(m, dir, e->slot, li);
                        r = 0;
                }
        } else if (req == GPIO_GET_LINEHANDLE_IOCTL)
                r = linehandle_create(m, dir, e->slot, arg);
        else if (req == GPIO_GET_LINEEVENT_IOCTL)
                r = lineevent_create(m, dir, e->slot, arg);
        else
                r = -EINVAL; /* includes the line-info watch ioctls, which are not emulated */
        gpiosim_shm_unlock(m);
        return r;
}

/* The request behind a handle/event fd, or NULL when its chip went away. Lock held. */
static struct gpiosim_shm_req *req_of(struct gpiosim_shm *m, const struct fd_entry *e)
{
        struct gpiosim_shm_req *r = &m->reqs[e->slot];

        if (!r->in_use || r->uid != e->uid)
                return NULL;
        if (!m->chips[r->chip].in_use || m->chips[r->chip].uid != r->chip_uid)
                return NULL;
        return r;
}

static int handle_ioctl(const struct fd_entry *e, unsigned long req, void *arg)
{
        struct gpiosim_shm *m = shm_get();
        struct gpiosim_shm_req *r;
        struct gpiosim_shm_chip *c;
        int ret = 0;

        if (!m)
                return -ENODEV;
        if (!arg && (req == GPIOHANDLE_GET_LINE_VALUES_IOCTL || req == GPIOHANDLE_SET_LINE_VALUES_IOCTL ||
                     req == GPIOHANDLE_SET_CONFIG_IOCTL))
                return -EFAULT;
        gpiosim_shm_lock(m);
        r = req_of(m, e);
        if (!r) {
                ret = -ENODEV;
                goto out;
        }
        c = &m->chips[r->chip];
        if (req == GPIOHANDLE_GET_LINE_VALUES_IOCTL) {
                struct gpiohandle_data *d = arg;
                memset(d, 0, sizeof(*d));
                for (uint32_t i = 0; i < r->num_lines; i++)
                        d->values[i] = (uint8_t)logical(&c->lines[r->offsets[i]]);
        } else if (req == GPIOHANDLE_SET_LINE_VALUES_IOCTL) {
                const struct gpiohandle_data *d = arg;
                if (!c->lines[r->offsets[0]].is_out) {
                        ret = -EPERM;
                        goto out;
                }
                for (uint32_t i = 0; i < r->num_lines; i++) {
                        struct gpiosim_shm_line *l = &c->lines[r->offsets[i]];
                        l->out_value = !!d->values[i] ^ !!(l->flags & GPIOHANDLE_REQUEST_ACTIVE_LOW);
                }
        } else if (req == GPIOHANDLE_SET_CONFIG_IOCTL) {
                const struct gpiohandle_config *cf = arg;
                ret = handle_validate_flags(cf->flags);
                if (ret < 0)
                        goto out;
                r->flags = cf->flags;
                for (uint32_t i = 0; i < r->num_lines; i++) {
                        struct gpiosim_shm_line *l = &c->lines[r->offsets[i]];
                        l->flags = cf->flags;
                        if (cf->flags & GPIOHANDLE_REQUEST_OUTPUT) {
                                l->is_out = 1;
                                l->out_value = !!cf->default_values[i] ^
                                               !!(cf->flags & GPIOHANDLE_REQUEST_ACTIVE_LOW);
                        } else if (cf->flags & GPIOHANDLE_REQUEST_INPUT)
                                l->is_out = 0;
                }
        } else
                ret = -EINVAL;
out:
        gpiosim_shm_unlock(m);
        return ret;
}

/* lineevent_ioctl(): the value can be read (it is an input by definition), nothing else. */
static int event_ioctl(const struct fd_entry *e, unsigned long req, void *arg)
{
        struct gpiosim_shm *m = shm_get();
        struct gpiosim_shm_req *r;
        int ret = 0;

        if (req != GPIOHANDLE_GET_LINE_VALUES_IOCTL)
                return -EINVAL;
        if (!arg)
                return -EFAULT;
        if (!m || e->dead)
                return -ENODEV;
        gpiosim_shm_lock(m);
        r = req_of(m, e);
        if (!r)
                ret = -ENODEV;
        else {
                struct gpiohandle_data *d = arg;
                memset(d, 0, sizeof(*d));
                d->values[0] = (uint8_t)logical(&m->chips[r->chip].lines[r->offsets[0]]);
        }
        gpiosim_shm_unlock(m);
        return ret;
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
        __typeof__(&ioctl) f;
        struct fd_entry e;
        va_list ap;
        void *arg;
        int r;

        va_start(ap, req);
        arg = va_arg(ap, void *);
        va_end(ap);

        if (!fd_get(fd, &e)) {
                f = REAL(ioctl);
                if (!f) {
                        errno = ENOSYS;
                        return -1;
                }
                return f(fd, req, arg);
        }
        switch (e.kind) {
        case FD_CHIP:
                r = chip_ioctl(&e, req, arg);
                break;
        case FD_HANDLE:
                r = handle_ioctl(&e, req, arg);
                break;
        default:
                r = event_ioctl(&e, req, arg);
                break;
        }
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return r;
}

/* ---- read and close ------------------------------------------------------------------------------- */

/* The chip went away: reads fail from now on, and without the hidden writer poll() reports POLLHUP. */
static void event_fd_mark_dead(int fd, uint64_t uid)
{
        int wfd = -1;

        pthread_mutex_lock(&fd_lock);
        if (fd_table[fd].kind == FD_EVENT && fd_table[fd].uid == uid) {
                fd_table[fd].dead = 1;
                wfd = fd_table[fd].wfd;
                fd_table[fd].wfd = -1;
        }
        pthread_mutex_unlock(&fd_lock);
        if (wfd >= 0)
                sys_close(wfd);
}

/*
 * The control side closes its own write end just after writing the
 * tombstone; wait (briefly, once per removed chip) for that, so that from
 * the ENODEV on, poll() reports POLLHUP as the kernel's fd does.
 */
static void wait_for_hangup(int fd)
{
        struct timespec pause = { .tv_nsec = 200 * 1000 };
        struct pollfd p = { .fd = fd, .events = POLLIN };

        for (int i = 0; i < 250; i++) {
                if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
                        return;
                nanosleep(&pause, NULL);
        }
}

/* lineevent_read(): whole struct gpioevent_data records only, EINVAL for less than one. */
static ssize_t event_read(int fd, const struct fd_entry *e, void *buf, size_t count)
{
        const size_t sz = sizeof(struct gpioevent_data);
        __typeof__(&read) f = REAL(read);
        ssize_t n;

        if (count < sz) {
                errno = EINVAL;
                return -1;
        }
        if (e->dead) {
                errno = ENODEV;
                return -1;
        }
        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        n = f(fd, buf, count - count % sz);
        if (n < 0)
                return n;
        if (n == 0) {
                /* No writer left: only after the chip went away. */
                event_fd_mark_dead(fd, e->uid);
                errno = ENODEV;
                return -1;
        }
        for (size_t i = 0; i < (size_t)n / sz; i++) {
                struct gpioevent_data ev;
                memcpy(&ev, (char *)buf + i * sz, sz);
                if (ev.id == GPIOSIM_TOMBSTONE_ID) {
                        event_fd_mark_dead(fd, e->uid);
                        wait_for_hangup(fd);
                        if (i == 0) {
                                errno = ENODEV;
                                return -1;
                        }
                        return (ssize_t)(i * sz); /* the events before the chip went away */
                }
        }
        return n;
}

static ssize_t read_ours(int fd, const struct fd_entry *e, void *buf, size_t count)
{
        switch (e->kind) {
        case FD_EVENT:
                return event_read(fd, e, buf, count);
        case FD_CHIP:
                /* Line-info watch events are not emulated: there is never anything to read. */
                if (count < sizeof(struct gpioline_info_changed)) {
                        errno = EINVAL;
                        return -1;
                }
                errno = EAGAIN;
                return -1;
        default:
                errno = EINVAL; /* a line handle has no read() */
                return -1;
        }
}

EXPORT ssize_t read(int fd, void *buf, size_t count)
{
        __typeof__(&read) f;
        struct fd_entry e;

        if (fd_get(fd, &e))
                return read_ours(fd, &e, buf, count);
        f = REAL(read);
        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(fd, buf, count);
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen)
{
        __typeof__(&__read_chk) f;
        struct fd_entry e;

        if (nbytes > buflen)
                abort(); /* what __chk_fail() does, minus the message */
        if (fd_get(fd, &e))
                return read_ours(fd, &e, buf, nbytes);
        f = REAL(__read_chk);
        if (!f) {
                errno = ENOSYS;
                return -1;
        }
        return f(fd, buf, nbytes, buflen);
}

/*
 * After the request fd is closed, release the request unless another
 * process still holds a copy of it (inherited over fork), as the kernel
 * releases a line when the last reference to its file goes.
 */
static void req_closed(const struct fd_entry *e)
{
        struct gpiosim_shm *m = shm_get();
        const char *dir = sim_dir();
        struct gpiosim_shm_req *r;

        if (!m || e->slot < 0 || e->slot >= GPIOSIM_MAX_REQUESTS)
                return;
        gpiosim_shm_lock(m);
        r = &m->reqs[e->slot];
        if (r->in_use && r->uid == e->uid)
                (void)gpiosim_req_check(m, dir, e->slot);
        gpiosim_shm_unlock(m);
}

EXPORT int close(int fd)
{
        struct fd_entry e;
        int r, saved;

        if (!fd_untrack(fd, &e))
                return sys_close(fd);
        r = sys_close(fd);
        saved = errno;
        if (e.wfd >= 0)
                sys_close(e.wfd);
        if (e.kind == FD_HANDLE || e.kind == FD_EVENT)
                req_closed(&e);
        errno = saved;
        return r;
}
