/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test support for integration tests: temp dirs, children, notify socket, Mosquitto (see harness.h). */

#include "tests/lib/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

extern char **environ;

#define MOSQUITTO "/usr/sbin/mosquitto"
#define MOSQUITTO_PUB "/usr/bin/mosquitto_pub"
#define MOSQUITTO_SUB "/usr/bin/mosquitto_sub"
#define MOSQUITTO_PASSWD "/usr/bin/mosquitto_passwd"
#define STDBUF "/usr/bin/stdbuf"
#define OPENSSL "/usr/bin/openssl"

#define BROKER_START_TIMEOUT (10 * USEC_PER_SEC)

/* ---- what is cleaned up at exit -------------------------------------------------------------- */

/*
 * The only globals: the process groups to kill and the directories to remove
 * when the test program ends, however it ends. An on_exit() handler cannot be
 * given a pointer to a test's state, and a SIGTERM handler cannot either.
 */
#define MAX_GROUPS 64
#define MAX_DIRS 64
static volatile pid_t groups[MAX_GROUPS];
static char *dirs[MAX_DIRS];
static size_t n_dirs;
static bool cleanup_installed;

static void kill_groups(void)
{
        for (size_t i = 0; i < MAX_GROUPS; i++)
                if (groups[i] > 0)
                        (void)kill(-groups[i], SIGKILL);
}

static void on_fatal_signal(int sig)
{
        /* The runner's timeout, or ^C: take the children down too, then die of the same signal. */
        kill_groups();
        signal(sig, SIG_DFL);
        raise(sig);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)(flag == FTW_DP ? rmdir(path) : unlink(path));
        return 0;
}

static void on_exit_cleanup(int status, void *unused)
{
        const char *keep_env = getenv("KEEP_TEST_DIR");
        bool keep = (status != 0 && status != 77) || (!isempty(keep_env) && !streq(keep_env, "0"));

        kill_groups();
        for (size_t i = 0; i < MAX_GROUPS; i++)
                if (groups[i] > 0) {
                        (void)waitpid(groups[i], NULL, WNOHANG);
                        groups[i] = 0;
                }
        for (size_t i = 0; i < n_dirs; i++) {
                if (keep)
                        fprintf(stderr, "harness: kept %s%s\n", dirs[i],
                                status != 0 && status != 77 ? " (a test failed)" : "");
                else
                        (void)nftw(dirs[i], remove_one, 16, FTW_DEPTH | FTW_PHYS);
                free(dirs[i]);
        }
        n_dirs = 0;
}

static void install_cleanup(void)
{
        struct sigaction sa = {.sa_handler = on_fatal_signal};

        if (cleanup_installed)
                return;
        cleanup_installed = true;
        on_exit(on_exit_cleanup, NULL);
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGTERM, &sa, NULL);
        (void)sigaction(SIGINT, &sa, NULL);
}

static void group_add(pid_t pgid)
{
        install_cleanup();
        for (size_t i = 0; i < MAX_GROUPS; i++)
                if (groups[i] <= 0) {
                        groups[i] = pgid;
                        return;
                }
        fprintf(stderr, "harness: more than %d children at once; pid %d is not cleaned up at exit\n",
                MAX_GROUPS, (int)pgid);
}

static void group_remove(pid_t pgid)
{
        for (size_t i = 0; i < MAX_GROUPS; i++)
                if (groups[i] == pgid)
                        groups[i] = 0;
}

/* ---- paths ----------------------------------------------------------------------------------- */

const char *harness_top(void)
{
        const char *top = getenv("SHOUWANG_TOP");
        return isempty(top) ? "." : top;
}

char *harness_build_path(const char *name)
{
        const char *build = getenv("BUILD");
        char *s = NULL;
        int r;

        if (isempty(build))
                build = "build";
        if (build[0] == '/')
                r = asprintf(&s, "%s/%s", build, name);
        else
                r = asprintf(&s, "%s/%s/%s", harness_top(), build, name);
        return r < 0 ? NULL : s;
}

char *harness_top_path(const char *rel)
{
        return harness_path(harness_top(), rel);
}

char *harness_path(const char *dir, const char *name)
{
        char *s = NULL;
        return asprintf(&s, "%s/%s", dir, name) < 0 ? NULL : s;
}

/* ---- temp dirs and files --------------------------------------------------------------------- */

int harness_tmpdir(const char *name, char **ret_dir)
{
        const char *tmp = getenv("TMPDIR");
        char *d = NULL, *copy;

        if (n_dirs >= MAX_DIRS)
                return -ENOSPC;
        if (asprintf(&d, "%s/shouwang-%s-XXXXXX", isempty(tmp) ? "/tmp" : tmp, name) < 0)
                return -ENOMEM;
        if (!mkdtemp(d)) {
                int r = -errno;
                fprintf(stderr, "harness: cannot make a temp dir %s: %s\n", d, strerror(errno));
                free(d);
                return r;
        }
        copy = strdup(d);
        if (!copy) {
                rmdir(d);
                free(d);
                return -ENOMEM;
        }
        install_cleanup();
        dirs[n_dirs++] = copy;
        *ret_dir = d;
        return 0;
}

int harness_write_file(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t n = strlen(text);

        if (fd < 0)
                return -errno;
        while (n > 0) {
                ssize_t k = write(fd, text, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                text += k;
                n -= (size_t)k;
        }
        return 0;
}

int harness_write_filef(const char *path, const char *fmt, ...)
{
        _cleanup_free_ char *text = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return harness_write_file(path, text);
}

/* ---- time ------------------------------------------------------------------------------------ */

static usec_t deadline(usec_t timeout)
{
        return now_usec(CLOCK_MONOTONIC) + timeout;
}

/* Milliseconds left until end for poll(): rounded up, so a wait never spins on 0. */
static int ms_left(usec_t end)
{
        usec_t now = now_usec(CLOCK_MONOTONIC);
        if (now >= end)
                return 0;
        usec_t ms = (end - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
        return ms > 60000 ? 60000 : (int)ms;
}

/* ---- network --------------------------------------------------------------------------------- */

int harness_free_port(void)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t l = sizeof(a);
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &l) < 0)
                return -errno;
        return ntohs(a.sin_port);
}

static bool port_accepts(int port)
{
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        return fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
}

/* A pidfd for pid, or -1 (pid <= 0, or a kernel without pidfds: callers then poll on a short period). */
static int pidfd_for(pid_t pid)
{
        return pid > 0 ? pidfd_open(pid, 0) : -1;
}

/* Whether pid has exited, without reaping it (the owner reaps). */
static bool exited(pid_t pid, int pidfd)
{
        if (pid <= 0)
                return false;
        if (pidfd >= 0) {
                struct pollfd p = {.fd = pidfd, .events = POLLIN};
                return poll(&p, 1, 0) > 0;
        }
        siginfo_t si = {0};
        return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

int harness_wait_port(int port, pid_t pid, usec_t timeout)
{
        usec_t end = deadline(timeout);
        _cleanup_close_ int pidfd = pidfd_for(pid);

        /* Nothing announces "now listening" to another process, so this one
         * waits by trying: every 5 ms, or at once when the process dies. */
        for (;;) {
                if (port_accepts(port))
                        return 0;
                if (exited(pid, pidfd))
                        return -ECHILD;
                if (ms_left(end) == 0)
                        break;
                struct pollfd p = {.fd = pidfd, .events = POLLIN};
                (void)poll(&p, pidfd >= 0 ? 1 : 0, ms_left(end) < 5 ? ms_left(end) : 5);
        }
        fprintf(stderr, "harness: nothing accepted connections on 127.0.0.1:%d within %llu ms\n", port,
                (unsigned long long)(timeout / USEC_PER_MSEC));
        return -ETIMEDOUT;
}

/* ---- waiting for text in a file -------------------------------------------------------------- */

/* Look for a complete line containing needle after *offset; on a hit move *offset past it. */
static bool find_line(const char *path, const char *needle, size_t *offset)
{
        _cleanup_free_ char *data = NULL;
        size_t size = 0, from = offset ? *offset : 0;

        if (read_full_file(path, &data, &size) < 0 || from >= size)
                return false;
        for (char *line = data + from; line < data + size;) {
                char *nl = memchr(line, '\n', (size_t)(data + size - line));
                if (!nl)
                        return false; /* a line still being written */
                *nl = '\0';
                if (strstr(line, needle)) {
                        if (offset)
                                *offset = (size_t)(nl + 1 - data);
                        return true;
                }
                line = nl + 1;
        }
        return false;
}

/* The last lines of a file, to stderr: what a failed wait was looking at. */
static void print_tail(const char *path, unsigned lines)
{
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        const char *p;
        unsigned n = 0;

        if (!path || read_full_file(path, &data, &size) < 0) {
                fprintf(stderr, "harness:   (%s: nothing written)\n", strempty(path));
                return;
        }
        for (p = data + size; p > data; p--)
                if (p[-1] == '\n' && p != data + size && ++n >= lines)
                        break;
        fprintf(stderr, "harness:   --- end of %s ---\n", path);
        fprintf(stderr, "%s%s", p, size && data[size - 1] != '\n' ? "\n" : "");
        fprintf(stderr, "harness:   ---\n");
}

int harness_wait_line(const char *path, const char *needle, size_t *offset, pid_t pid, usec_t timeout)
{
        usec_t end = deadline(timeout);
        _cleanup_close_ int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        _cleanup_close_ int pidfd = pidfd_for(pid);
        _cleanup_free_ char *dir = strdup(path);
        char *slash;

        if (!dir)
                return -ENOMEM;
        /* Watch the directory: the file may not exist yet, and appends to it show up as IN_MODIFY there too.
         */
        slash = strrchr(dir, '/');
        if (slash == dir)
                slash[1] = '\0';
        else if (slash)
                *slash = '\0';
        else
                strcpy(dir, ".");
        if (ino >= 0 &&
            inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
                close(ino);
                ino = -1;
        }

        for (;;) {
                bool gone = exited(pid, pidfd);
                if (find_line(path, needle, offset))
                        return 0;
                if (gone) {
                        fprintf(stderr,
                                "harness: process %d exited before a line with \"%s\" appeared in %s\n",
                                (int)pid, needle, path);
                        print_tail(path, 30);
                        return -ECHILD;
                }
                if (ms_left(end) == 0)
                        break;
                struct pollfd p[2] = {{.fd = ino, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
                /* Without inotify (or a pidfd), fall back to looking every 10 ms. */
                int wait = ino < 0 || (pid > 0 && pidfd < 0) ? 10 : ms_left(end);
                (void)poll(p, 2, wait < ms_left(end) ? wait : ms_left(end));
                if (ino >= 0 && (p[0].revents & POLLIN)) {
                        char buf[4096];
                        while (read(ino, buf, sizeof(buf)) > 0)
                                ;
                }
        }
        fprintf(stderr, "harness: no line with \"%s\" in %s within %llu ms\n", needle, path,
                (unsigned long long)(timeout / USEC_PER_MSEC));
        print_tail(path, 30);
        return -ETIMEDOUT;
}

unsigned harness_count_lines(const char *path, const char *needle)
{
        size_t offset = 0;
        unsigned n = 0;

        while (find_line(path, needle, &offset))
                n++;
        return n;
}

/* ---- child processes ------------------------------------------------------------------------- */

struct HarnessChild {
        pid_t pid;
        int pidfd;
        char *log;
        size_t log_offset;
        bool reaped;
        int status; /* as harness_child_wait() returns it, once reaped */
};

/* Our environment with the changes applied: "NAME=value" sets, "NAME" removes. The strings are borrowed. */
static char **make_env(char *const *changes, char *watchdog_slot)
{
        size_t n_env = 0, n_changes = 0, n = 0;
        char **env;

        while (environ[n_env])
                n_env++;
        while (changes && changes[n_changes])
                n_changes++;
        env = calloc(n_env + n_changes + 2, sizeof(char *));
        if (!env)
                return NULL;
        for (size_t i = 0; i < n_env; i++) {
                bool drop = watchdog_slot && startswith(environ[i], "WATCHDOG_PID=");
                for (size_t k = 0; k < n_changes && !drop; k++) {
                        size_t l = strcspn(changes[k], "=");
                        drop = strncmp(environ[i], changes[k], l) == 0 && environ[i][l] == '=';
                }
                if (!drop)
                        env[n++] = environ[i];
        }
        for (size_t k = 0; k < n_changes; k++)
                if (strchr(changes[k], '='))
                        env[n++] = changes[k];
        if (watchdog_slot)
                env[n++] = watchdog_slot;
        env[n] = NULL;
        return env;
}

/* Write "WATCHDOG_PID=<pid>" into slot with nothing but async-signal-safe code (we are between fork and
 * exec). */
static void format_watchdog_pid(char *slot, pid_t pid)
{
        char digits[16];
        size_t n = 0, k;

        do {
                digits[n++] = (char)('0' + pid % 10);
                pid /= 10;
        } while (pid > 0 && n < sizeof(digits));
        memcpy(slot, "WATCHDOG_PID=", 13);
        for (k = 0; k < n; k++)
                slot[13 + k] = digits[n - 1 - k];
        slot[13 + n] = '\0';
}

/*
 * fork + exec with: stdin /dev/null, stdout and stderr to out_fd, a fresh signal mask, its own process
 * group, and SIGKILL when we die. Everything that allocates happens before fork(): a test may have threads
 * (Paho).
 */
static int spawn(char *const *argv, char *const *env_changes, int out_fd, bool watchdog_pid, pid_t *ret_pid)
{
        char watchdog_slot[32] = "";
        _cleanup_free_ char **env = make_env(env_changes, watchdog_pid ? watchdog_slot : NULL);
        _cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        int report[2];
        pid_t parent = getpid(), pid;
        ssize_t n;
        int err = 0;

        if (!env)
                return -ENOMEM;
        if (devnull < 0)
                return -errno;
        if (out_fd < 0)
                out_fd = devnull;
        /* The child tells us through this pipe why exec failed; a successful exec closes it. */
        if (pipe2(report, O_CLOEXEC) < 0)
                return -errno;
        install_cleanup();
        pid = fork();
        if (pid < 0) {
                err = -errno;
                close(report[0]);
                close(report[1]);
                return err;
        }
        if (pid == 0) {
                sigset_t none;

                (void)setpgid(0, 0);
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent) /* we died before the line above took effect */
                        _exit(127);
                sigemptyset(&none);
                (void)sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGPIPE, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                signal(SIGINT, SIG_DFL);
                if (dup2(devnull, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
                    dup2(out_fd, STDERR_FILENO) < 0)
                        goto fail;
                if (watchdog_pid)
                        format_watchdog_pid(watchdog_slot, getpid());
                execve(argv[0], argv, env);
        fail:
                err = errno;
                (void)!write(report[1], &err, sizeof(err));
                _exit(127);
        }
        /* Also here, so the group exists before anyone signals it, whichever side runs first. */
        (void)setpgid(pid, pid);
        group_add(pid);
        close(report[1]);
        do
                n = read(report[0], &err, sizeof(err));
        while (n < 0 && errno == EINTR);
        close(report[0]);
        if (n == sizeof(err)) {
                (void)waitpid(pid, NULL, 0);
                group_remove(pid);
                fprintf(stderr, "harness: cannot run %s: %s\n", argv[0], strerror(err));
                return -err;
        }
        *ret_pid = pid;
        return 0;
}

static int decode_status(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

int harness_spawn(const struct harness_spawn_args *args, HarnessChild **ret)
{
        _cleanup_close_ int log_fd = -1;
        HarnessChild *c;
        int r;

        if (!args || !args->argv || !args->argv[0])
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->pidfd = -1;
        if (args->log) {
                c->log = strdup(args->log);
                log_fd = open(args->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (!c->log || log_fd < 0) {
                        r = c->log ? -errno : -ENOMEM;
                        free(c->log);
                        free(c);
                        return r;
                }
                /* Lines already in a reused log are not this run's. */
                struct stat st;
                if (fstat(log_fd, &st) == 0)
                        c->log_offset = (size_t)st.st_size;
        }
        r = spawn(args->argv, args->env, log_fd, args->watchdog_pid, &c->pid);
        if (r < 0) {
                free(c->log);
                free(c);
                return r;
        }
        c->pidfd = pidfd_for(c->pid);
        *ret = c;
        return 0;
}

pid_t harness_child_pid(const HarnessChild *c)
{
        return c->pid;
}

const char *harness_child_log(const HarnessChild *c)
{
        return c->log;
}

/* Reap if it has exited; true if it has. */
static bool reap(HarnessChild *c, bool block)
{
        int status;
        pid_t r;

        if (c->reaped)
                return true;
        do
                r = waitpid(c->pid, &status, block ? 0 : WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r != c->pid)
                return false;
        c->reaped = true;
        c->status = decode_status(status);
        return true;
}

bool harness_child_running(HarnessChild *c)
{
        return !reap(c, false);
}

int harness_child_wait_line(HarnessChild *c, const char *needle, usec_t timeout)
{
        if (!c->log)
                return -EINVAL;
        return harness_wait_line(c->log, needle, &c->log_offset, c->reaped ? 0 : c->pid, timeout);
}

int harness_child_wait(HarnessChild *c, usec_t timeout)
{
        usec_t end = deadline(timeout);

        for (;;) {
                if (reap(c, false))
                        return c->status;
                if (ms_left(end) == 0)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
                int wait = c->pidfd >= 0 ? ms_left(end) : 5;
                (void)poll(&p, c->pidfd >= 0 ? 1 : 0, wait < ms_left(end) ? wait : ms_left(end));
        }
}

int harness_child_stop(HarnessChild *c, int sig, usec_t timeout)
{
        if (!c->reaped && kill(c->pid, sig) < 0 && errno != ESRCH)
                return -errno;
        return harness_child_wait(c, timeout);
}

HarnessChild *harness_child_free(HarnessChild *c)
{
        if (!c)
                return NULL;
        /* The whole group: whatever the child started (an exec channel's script) goes too. */
        (void)kill(-c->pid, SIGKILL);
        (void)reap(c, true);
        group_remove(c->pid);
        if (c->pidfd >= 0)
                close(c->pidfd);
        free(c->log);
        free(c);
        return NULL;
}

int harness_run(char *const *argv, char *const *env, usec_t timeout, char **ret_output)
{
        _cleanup_free_ char *out = NULL;
        size_t size = 0, alloc = 0;
        usec_t end = deadline(timeout);
        int pipefd[2], status;
        pid_t pid;
        int r;

        if (!argv || !argv[0])
                return -EINVAL;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        r = spawn(argv, env, pipefd[1], false, &pid);
        close(pipefd[1]);
        if (r < 0) {
                close(pipefd[0]);
                return r;
        }
        for (;;) {
                struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
                if (ms_left(end) == 0 || poll(&p, 1, ms_left(end)) == 0) {
                        fprintf(stderr, "harness: %s ran longer than %llu ms: killed\n", argv[0],
                                (unsigned long long)(timeout / USEC_PER_MSEC));
                        close(pipefd[0]);
                        (void)kill(-pid, SIGKILL);
                        (void)waitpid(pid, NULL, 0);
                        group_remove(pid);
                        return -ETIMEDOUT;
                }
                if (size + 4096 + 1 > alloc) {
                        char *n = realloc(out, alloc = alloc * 2 + 8192);
                        if (!n) {
                                close(pipefd[0]);
                                (void)kill(-pid, SIGKILL);
                                (void)waitpid(pid, NULL, 0);
                                group_remove(pid);
                                return -ENOMEM;
                        }
                        out = n;
                }
                ssize_t k = read(pipefd[0], out + size, alloc - size - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break; /* EOF: it (and whatever shared its output) closed the pipe */
                size += (size_t)k;
        }
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        group_remove(pid);
                        return -errno;
                }
        group_remove(pid);
        if (out)
                out[size] = '\0';
        if (ret_output)
                *ret_output = out ? TAKE_PTR(out) : strdup("");
        return decode_status(status);
}

/* ---- a private NOTIFY_SOCKET ----------------------------------------------------------------- */

struct notify_message {
        usec_t when;
        pid_t pid;
        char *text;
};

struct HarnessNotify {
        int fd;
        char *path;
        struct notify_message *messages;
        size_t n_messages, cursor;
        char *last_value; /* what harness_notify_last() returned */
};

int harness_notify_new(const char *dir, HarnessNotify **ret)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        HarnessNotify *n = calloc(1, sizeof(*n));
        int one = 1;

        if (!n)
                return -ENOMEM;
        n->fd = -1;
        n->path = harness_path(dir, "notify");
        if (!n->path || strlen(n->path) >= sizeof(sa.sun_path)) {
                int r = n->path ? -ENAMETOOLONG : -ENOMEM;
                free(n->path);
                free(n);
                return r;
        }
        strcpy(sa.sun_path, n->path);
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (n->fd < 0 || setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
            bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                harness_notify_free(n);
                return r;
        }
        *ret = n;
        return 0;
}

const char *harness_notify_path(const HarnessNotify *n)
{
        return n->path;
}

/* Receive one queued message into the list. 1 if one came, 0 if none was queued, -errno. */
static int notify_receive(HarnessNotify *n)
{
        char buf[4096];
        union {
                struct cmsghdr h;
                char space[CMSG_SPACE(sizeof(struct ucred))];
        } control;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)};
        struct notify_message *m;
        ssize_t k;

        k = recvmsg(n->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (k < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        buf[k] = '\0';
        m = realloc(n->messages, (n->n_messages + 1) * sizeof(*m));
        if (!m)
                return -ENOMEM;
        n->messages = m;
        m = &n->messages[n->n_messages];
        *m = (struct notify_message){.when = now_usec(CLOCK_MONOTONIC)};
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                        struct ucred uc;
                        memcpy(&uc, CMSG_DATA(c), sizeof(uc));
                        m->pid = uc.pid;
                }
        m->text = strdup(buf);
        if (!m->text)
                return -ENOMEM;
        n->n_messages++;
        return 1;
}

static void notify_drain(HarnessNotify *n)
{
        while (notify_receive(n) > 0)
                ;
}

/* Substring match: what is usually a whole line such as "READY=1", but "STATUS=Watching 3" works too. */
static bool notify_matches(const char *text, const char *what)
{
        return strstr(text, what) != NULL;
}

/* The next matching message within timeout, or NULL. */
static struct notify_message *notify_next(HarnessNotify *n, pid_t pid, const char *what, usec_t timeout)
{
        usec_t end = deadline(timeout);

        for (;;) {
                notify_drain(n);
                for (; n->cursor < n->n_messages; n->cursor++) {
                        struct notify_message *m = &n->messages[n->cursor];
                        if ((pid <= 0 || m->pid == pid) && notify_matches(m->text, what)) {
                                n->cursor++;
                                return m;
                        }
                }
                if (ms_left(end) == 0)
                        return NULL;
                struct pollfd p = {.fd = n->fd, .events = POLLIN};
                (void)poll(&p, 1, ms_left(end));
        }
}

int harness_notify_expect_none(HarnessNotify *n, pid_t pid, const char *what, usec_t duration)
{
        struct notify_message *m = notify_next(n, pid, what, duration);

        if (!m)
                return 0;
        fprintf(stderr, "harness: \"%s\" came from %d although it should not have:\n%s\n", what, (int)m->pid,
                m->text);
        return -EEXIST;
}

int harness_notify_wait(HarnessNotify *n, pid_t pid, const char *what, usec_t timeout,
                        const char **ret_message, usec_t *ret_when)
{
        struct notify_message *m = notify_next(n, pid, what, timeout);

        if (m) {
                if (ret_message)
                        *ret_message = m->text;
                if (ret_when)
                        *ret_when = m->when;
                return 0;
        }
        fprintf(stderr, "harness: no \"%s\" on %s within %llu ms; %zu messages came:\n", what, n->path,
                (unsigned long long)(timeout / USEC_PER_MSEC), n->n_messages);
        for (size_t i = n->n_messages > 10 ? n->n_messages - 10 : 0; i < n->n_messages; i++)
                fprintf(stderr, "harness:   from %d: %s\n", (int)n->messages[i].pid, n->messages[i].text);
        return -ETIMEDOUT;
}

unsigned harness_notify_count(HarnessNotify *n, const char *what)
{
        unsigned k = 0;

        notify_drain(n);
        for (size_t i = 0; i < n->n_messages; i++)
                k += notify_matches(n->messages[i].text, what);
        return k;
}

const char *harness_notify_last(HarnessNotify *n, const char *field)
{
        size_t l = strlen(field);

        notify_drain(n);
        for (size_t i = n->n_messages; i > 0; i--)
                for (const char *line = n->messages[i - 1].text; line && *line;) {
                        if (strncmp(line, field, l) == 0 && line[l] == '=') {
                                char *v = strndup(line + l + 1, strcspn(line + l + 1, "\n"));
                                if (!v)
                                        return NULL;
                                free(n->last_value);
                                n->last_value = v;
                                return v;
                        }
                        line = strchr(line, '\n');
                        if (line)
                                line++;
                }
        return NULL;
}

HarnessNotify *harness_notify_free(HarnessNotify *n)
{
        if (!n)
                return NULL;
        if (n->fd >= 0)
                close(n->fd);
        if (n->path)
                unlink(n->path);
        for (size_t i = 0; i < n->n_messages; i++)
                free(n->messages[i].text);
        free(n->messages);
        free(n->last_value);
        free(n->path);
        free(n);
        return NULL;
}

/* ---- a private Mosquitto --------------------------------------------------------------------- */

struct HarnessBroker {
        HarnessChild *child;
        int port;
        char *dir, *conf, *log, *uri, *ca_file;
        char *username, *password;
        unsigned n_subscribers;
};

/* Run a helper program quietly; on failure print what it said. */
static int run_quiet(char *const *argv)
{
        _cleanup_free_ char *out = NULL;
        int r = harness_run(argv, NULL, 30 * USEC_PER_SEC, &out);

        if (r == 0)
                return 0;
        fprintf(stderr, "harness: %s failed (%d):\n%s\n", argv[0], r, strempty(out));
        return r < 0 ? r : -EIO;
}

/* A CA, and a server certificate it signed for 127.0.0.1 and localhost, in dir. EC keys: fast to make. */
static int make_certificates(const char *dir)
{
        _cleanup_free_ char *ca_key = harness_path(dir, "ca.key"), *ca_crt = harness_path(dir, "ca.crt"),
                            *key = harness_path(dir, "server.key"), *csr = harness_path(dir, "server.csr"),
                            *crt = harness_path(dir, "server.crt"), *ext = harness_path(dir, "server.ext"),
                            *serial = harness_path(dir, "ca.srl");
        int r;

        if (!ca_key || !ca_crt || !key || !csr || !crt || !ext || !serial)
                return -ENOMEM;
        r = harness_write_file(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                    "basicConstraints=CA:FALSE\n"
                                    "extendedKeyUsage=serverAuth\n");
        if (r < 0)
                return r;
        char *const ca[] = {OPENSSL,
                            "req",
                            "-x509",
                            "-newkey",
                            "ec",
                            "-pkeyopt",
                            "ec_paramgen_curve:prime256v1",
                            "-nodes",
                            "-days",
                            "2",
                            "-subj",
                            "/CN=shouwang test CA",
                            "-keyout",
                            ca_key,
                            "-out",
                            ca_crt,
                            NULL};
        char *const req[] = {
            OPENSSL,  "req",   "-newkey",       "ec",      "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", key,        "-out",
            csr,      NULL};
        char *const sign[] = {OPENSSL, "x509",   "-req",     "-in",       csr,    "-CA",
                              ca_crt,  "-CAkey", ca_key,     "-CAserial", serial, "-CAcreateserial",
                              "-days", "2",      "-extfile", ext,         "-out", crt,
                              NULL};
        if ((r = run_quiet(ca)) < 0 || (r = run_quiet(req)) < 0 || (r = run_quiet(sign)) < 0)
                return r;
        return 0;
}

static int broker_spawn(HarnessBroker *b)
{
        char *const argv[] = {MOSQUITTO, "-c", b->conf, NULL};
        struct harness_spawn_args a = {.argv = argv, .log = b->log};
        int r;

        r = harness_spawn(&a, &b->child);
        if (r < 0)
                return r;
        r = harness_child_wait_line(b->child, " running", BROKER_START_TIMEOUT);
        if (r < 0) {
                fprintf(stderr, "harness: Mosquitto did not start (see %s)\n", b->log);
                b->child = harness_child_free(b->child);
                return r;
        }
        r = harness_wait_port(b->port, harness_child_pid(b->child), BROKER_START_TIMEOUT);
        if (r < 0) {
                print_tail(b->log, 20);
                b->child = harness_child_free(b->child);
        }
        return r;
}

int harness_broker_start(const char *dir, const struct harness_broker_options *opts, HarnessBroker **ret)
{
        static const struct harness_broker_options none = {0};
        _cleanup_(harness_broker_freep) HarnessBroker *b = NULL;
        _cleanup_free_ char *passwd = NULL, *crt = NULL, *key = NULL, *conf = NULL;
        char name[32];
        int r;

        if (!opts)
                opts = &none;
        if (!!opts->username != !!opts->password)
                return -EINVAL;
        if (access(MOSQUITTO, X_OK) < 0) {
                fprintf(stderr, "harness: %s is not installed (apt install mosquitto mosquitto-clients)\n",
                        MOSQUITTO);
                return -ENOENT;
        }
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->port = opts->port > 0 ? opts->port : harness_free_port();
        if (b->port < 0)
                return b->port;
        snprintf(name, sizeof(name), "mosquitto-%d", b->port);
        b->dir = harness_path(dir, name);
        if (!b->dir)
                return -ENOMEM;
        if (mkdir(b->dir, 0700) < 0 && errno != EEXIST) /* the same port again: a new config over the old */
                return -errno;
        b->conf = harness_path(b->dir, "mosquitto.conf");
        b->log = harness_path(b->dir, "mosquitto.log");
        if (!b->conf || !b->log)
                return -ENOMEM;
        if (opts->username &&
            (!(b->username = strdup(opts->username)) || !(b->password = strdup(opts->password))))
                return -ENOMEM;

        if (opts->username) {
                passwd = harness_path(b->dir, "passwd");
                if (!passwd)
                        return -ENOMEM;
                if ((r = harness_write_file(passwd, "")) < 0 || chmod(passwd, 0600) < 0)
                        return r < 0 ? r : -errno;
                char *const argv[] = {MOSQUITTO_PASSWD, "-b", passwd, b->username, b->password, NULL};
                if ((r = run_quiet(argv)) < 0)
                        return r;
        }
        if (opts->tls) {
                if ((r = make_certificates(b->dir)) < 0)
                        return r;
                b->ca_file = harness_path(b->dir, "ca.crt");
                crt = harness_path(b->dir, "server.crt");
                key = harness_path(b->dir, "server.key");
                if (!b->ca_file || !crt || !key)
                        return -ENOMEM;
        }
        if (asprintf(&b->uri, "%s://127.0.0.1:%d", opts->tls ? "ssl" : "tcp", b->port) < 0) {
                b->uri = NULL;
                return -ENOMEM;
        }

        /* Started as root, Mosquitto would switch to its own user, which cannot
         * read a test's private directory: a test broker keeps the test's user. */
        if (asprintf(&conf,
                     "# made by tests/lib/harness.c\n"
                     "per_listener_settings false\n"
                     "%s"
                     "log_dest stderr\n"
                     "log_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_type "
                     "subscribe\n"
                     "connection_messages true\n"
                     "log_timestamp_format %%H:%%M:%%S\n"
                     "persistence %s\n"
                     "persistence_location %s/\n"
                     "autosave_interval 1\n"
                     "listener %d 127.0.0.1\n"
                     "set_tcp_nodelay true\n"
                     "allow_anonymous %s\n"
                     "%s%s%s"
                     "%s%s%s%s%s%s%s%s%s",
                     geteuid() == 0 ? "user root\n" : "", opts->persistence ? "true" : "false", b->dir,
                     b->port, opts->username ? "false" : "true", opts->username ? "password_file " : "",
                     opts->username ? passwd : "", opts->username ? "\n" : "", opts->tls ? "cafile " : "",
                     opts->tls ? b->ca_file : "", opts->tls ? "\n" : "", opts->tls ? "certfile " : "",
                     opts->tls ? crt : "", opts->tls ? "\n" : "", opts->tls ? "keyfile " : "",
                     opts->tls ? key : "", opts->tls ? "\n" : "") < 0) {
                conf = NULL;
                return -ENOMEM;
        }
        r = harness_write_file(b->conf, conf);
        if (r < 0)
                return r;
        r = broker_spawn(b);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

int harness_broker_stop(HarnessBroker *b)
{
        int r;

        if (!b->child)
                return 0;
        r = harness_child_stop(b->child, SIGTERM, 5 * USEC_PER_SEC);
        b->child = harness_child_free(b->child);
        if (r == -ETIMEDOUT) {
                fprintf(stderr, "harness: Mosquitto did not stop on SIGTERM within 5 s: killed\n");
                return r;
        }
        return 0;
}

int harness_broker_restart(HarnessBroker *b)
{
        int r = harness_broker_stop(b);
        return r < 0 ? r : broker_spawn(b);
}

int harness_broker_port(const HarnessBroker *b)
{
        return b->port;
}

const char *harness_broker_uri(const HarnessBroker *b)
{
        return b->uri;
}

const char *harness_broker_ca_file(const HarnessBroker *b)
{
        return b->ca_file;
}

const char *harness_broker_log(const HarnessBroker *b)
{
        return b->log;
}

/* argv for mosquitto_pub/mosquitto_sub reaching this broker as its user; extra is appended. */
static void client_args(HarnessBroker *b, const char *prog, char *port, size_t port_size, char **argv,
                        size_t *n)
{
        snprintf(port, port_size, "%d", b->port);
        argv[(*n)++] = (char *)prog;
        argv[(*n)++] = "-h";
        argv[(*n)++] = "127.0.0.1";
        argv[(*n)++] = "-p";
        argv[(*n)++] = port;
        if (b->ca_file) {
                argv[(*n)++] = "--cafile";
                argv[(*n)++] = b->ca_file;
        }
        if (b->username) {
                argv[(*n)++] = "-u";
                argv[(*n)++] = b->username;
                argv[(*n)++] = "-P";
                argv[(*n)++] = b->password;
        }
}

int harness_broker_publish(HarnessBroker *b, const char *topic, const char *payload, bool retain)
{
        char *argv[24], port[16];
        size_t n = 0;

        client_args(b, MOSQUITTO_PUB, port, sizeof(port), argv, &n);
        argv[n++] = "-q";
        argv[n++] = "1";
        argv[n++] = "-t";
        argv[n++] = (char *)topic;
        argv[n++] = "-m";
        argv[n++] = (char *)payload;
        if (retain)
                argv[n++] = "-r";
        argv[n] = NULL;
        return run_quiet(argv);
}

int harness_broker_subscribe(HarnessBroker *b, const char *topic, const char *log, HarnessChild **ret)
{
        _cleanup_(harness_child_freep) HarnessChild *c = NULL;
        char *argv[32], port[16], id[48];
        size_t n = 0;
        int r;

        /* -d prints "received SUBACK": from then on nothing published is missed. Its
         * stdout is a file, so stdio would keep lines back: stdbuf -oL (coreutils). */
        snprintf(id, sizeof(id), "harness-sub-%d-%u", (int)getpid(), ++b->n_subscribers);
        argv[n++] = STDBUF;
        argv[n++] = "-oL";
        client_args(b, MOSQUITTO_SUB, port, sizeof(port), argv, &n);
        argv[n++] = "-d";
        argv[n++] = "-v";
        argv[n++] = "-q";
        argv[n++] = "1";
        argv[n++] = "-i";
        argv[n++] = id;
        argv[n++] = "-t";
        argv[n++] = (char *)topic;
        argv[n] = NULL;
        struct harness_spawn_args a = {.argv = argv, .log = log};
        r = harness_spawn(&a, &c);
        if (r < 0)
                return r;
        r = harness_child_wait_line(c, "received SUBACK", BROKER_START_TIMEOUT);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

HarnessBroker *harness_broker_free(HarnessBroker *b)
{
        if (!b)
                return NULL;
        (void)harness_broker_stop(b);
        free(b->dir);
        free(b->conf);
        free(b->log);
        free(b->uri);
        free(b->ca_file);
        if (b->password)
                explicit_bzero(b->password, strlen(b->password));
        free(b->username);
        free(b->password);
        free(b);
        return NULL;
}
