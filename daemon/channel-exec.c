/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The exec channel: run a configured command for one message, like NUT's
 * NOTIFYCMD — the alert in SHOUWANG_* environment variables and as JSON on
 * stdin, e.g. a script that sends an SMS through a GSM modem with
 * gammu-smsd-inject (examples/exec/sms-gammu.sh). No shell: the command is
 * split into words once, and each {placeholder} in a word becomes exactly
 * one argument, whatever it contains.
 *
 * The daemon blocks its signals and ignores SIGPIPE; the command starts
 * with none blocked, default dispositions, only fds 0–2, and a process group
 * of its own so a timeout stops its children too (SIGTERM, then SIGKILL).
 * It is reaped through sd_event_add_child(); its stdin is written and its
 * output read through non-blocking pipes on the loop. Exit status 0 means
 * sent.
 */

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "daemon/channel.h"
#include "daemon/log.h"
#include "daemon/template.h"

#define OUTPUT_KEEP 400 /* bytes of the command's output kept for the delivery log */
/* Longest environment value or argument: the kernel refuses one over 128 KiB (E2BIG). The
 * whole text is on stdin in any case. */
#define VALUE_MAX (32 * 1024)

struct exec_channel {
        Channel *channel;
        sd_event *event;
        char **words; /* the command, split; words may hold {placeholders} */
        usec_t timeout, kill_timeout;
        struct exec_run *runs;
};

enum run_stop {
        RUN_NOT_STOPPED,
        RUN_TERMINATED, /* SIGTERM sent at the timeout */
        RUN_KILLED,     /* and SIGKILL after kill_timeout */
};

struct exec_run {
        struct exec_channel *x;
        channel_done_cb done;
        void *userdata;
        char *program;
        pid_t pid;
        sd_event_source *child, *timer, *in, *out;
        int in_fd, out_fd;
        char *input;
        size_t input_len, input_off;
        char output[OUTPUT_KEEP + 1];
        size_t output_len;
        enum run_stop stop;
        struct exec_run *next;
};

extern char **environ;

/* ---- the command line ---------------------------------------------------------------------------------- */

static void strv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static int strv_push(char ***v, size_t *n, char *s)
{
        char **nv = realloc(*v, (*n + 2) * sizeof(char *));

        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[(*n)++] = s;
        nv[*n] = NULL;
        return 0;
}

/*
 * Split "prog 'an arg' \"another\" a\ b" into words: blanks separate, quotes
 * group (no escapes inside single quotes), a backslash outside single quotes
 * takes the next character as it is. Nothing else is special: no variables,
 * no globs, no pipes. -EINVAL for an unterminated quote or no words.
 */
static int split_command(const char *cmd, char ***ret)
{
        char **words = NULL;
        size_t n = 0;
        struct {
                char *s;
                size_t len, alloc;
        } w = {};
        bool in_word = false;
        char quote = 0;
        int r = 0;

        for (const char *p = cmd;; p++) {
                char ch = *p;

                if (ch == '\0' || (!quote && (ch == ' ' || ch == '\t'))) {
                        if (quote) {
                                r = -EINVAL;
                                break;
                        }
                        if (in_word) {
                                if (!w.s && !(w.s = strdup("")))
                                        r = -ENOMEM;
                                if (r >= 0)
                                        r = strv_push(&words, &n, w.s);
                                if (r < 0)
                                        break;
                                w.s = NULL;
                                w.len = w.alloc = 0;
                                in_word = false;
                        }
                        if (ch == '\0')
                                break;
                        continue;
                }
                in_word = true;
                if (!quote && (ch == '\'' || ch == '"')) {
                        quote = ch;
                        continue;
                }
                if (quote && ch == quote) {
                        quote = 0;
                        continue;
                }
                if (ch == '\\' && quote != '\'' && p[1])
                        ch = *++p;
                if (w.len + 2 > w.alloc) {
                        size_t na = w.alloc ? w.alloc * 2 : 32;
                        char *ns = realloc(w.s, na);
                        if (!ns) {
                                r = -ENOMEM;
                                break;
                        }
                        w.s = ns;
                        w.alloc = na;
                }
                w.s[w.len++] = ch;
                w.s[w.len] = '\0';
        }
        free(w.s);
        if (r >= 0 && n == 0)
                r = -EINVAL;
        if (r < 0) {
                strv_free(words);
                return r;
        }
        *ret = words;
        return 0;
}

/* ---- environment --------------------------------------------------------------------------------------- */

/* Variables of the daemon's own that must not leak into a command. */
static bool env_private(const char *e)
{
        static const char *const prefixes[] = { "SHOUWANG_",   "NOTIFY_SOCKET=", "WATCHDOG_", "LISTEN_",
                                                "JOURNAL_STREAM=" };
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (startswith(e, prefixes[i]))
                        return true;
        return false;
}

static char **build_env(const struct delivery_message *m, const char *channel, const char *message)
{
        char alert_id[24], delivery_id[24];
        const struct {
                const char *name, *value;
        } vars[] = {
                { "SHOUWANG_ALERT_ID", alert_id },
                { "SHOUWANG_DELIVERY_ID", delivery_id },
                { "SHOUWANG_CHANNEL", channel },
                { "SHOUWANG_PURPOSE", m->purpose },
                { "SHOUWANG_RULE", m->rule },
                { "SHOUWANG_SEVERITY", m->severity },
                { "SHOUWANG_RESIDENT_ID", m->resident_id },
                { "SHOUWANG_RESIDENT_NAME", m->resident_name },
                { "SHOUWANG_BUILDING", m->building },
                { "SHOUWANG_FLAT", m->flat },
                { "SHOUWANG_CONTACT_ID", m->contact_id },
                { "SHOUWANG_CONTACT_NAME", m->contact_name },
                { "SHOUWANG_CONTACT_PHONE", m->contact_phone },
                { "SHOUWANG_CONTACT_ROLE", m->contact_role },
                { "SHOUWANG_LOCALE", m->locale },
                { "SHOUWANG_TITLE", m->title },
                { "SHOUWANG_TEXT", m->text },
                { "SHOUWANG_MESSAGE", message },
                { "SHOUWANG_ACK_URL", m->ack_url },
                { "SHOUWANG_OPENED_AT", m->opened_at },
        };
        size_t n_environ = 0, n = 0;
        bool have_locale = false;
        char **env;

        snprintf(alert_id, sizeof(alert_id), "%lld", (long long)m->alert_id);
        snprintf(delivery_id, sizeof(delivery_id), "%lld", (long long)m->delivery_id);
        while (environ[n_environ])
                n_environ++;
        env = calloc(ELEMENTSOF(vars) + n_environ + 2, sizeof(char *));
        if (!env)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                if (asprintf(&env[n++], "%s=%.*s", vars[i].name,
                             (int)channel_utf8_cut(strempty(vars[i].value), VALUE_MAX), strempty(vars[i].value)) < 0) {
                        env[--n] = NULL;
                        goto oom;
                }
        for (size_t i = 0; i < n_environ; i++) {
                if (env_private(environ[i]))
                        continue;
                have_locale = have_locale || startswith(environ[i], "LANG=") || startswith(environ[i], "LC_ALL=") ||
                              startswith(environ[i], "LC_CTYPE=");
                if (!(env[n++] = strdup(environ[i])))
                        goto oom;
        }
        /* Under systemd there is no LANG: tools like gammu would then mangle Chinese text. */
        if (!have_locale && !(env[n++] = strdup("LANG=C.UTF-8")))
                goto oom;
        return env;
oom:
        strv_free(env);
        return NULL;
}

/* ---- one run ------------------------------------------------------------------------------------------- */

static void run_free(struct exec_run *run)
{
        if (!run)
                return;
        sd_event_source_disable_unref(run->child);
        sd_event_source_disable_unref(run->timer);
        sd_event_source_disable_unref(run->in);
        sd_event_source_disable_unref(run->out);
        if (run->in_fd >= 0)
                close(run->in_fd);
        if (run->out_fd >= 0)
                close(run->out_fd);
        free(run->program);
        free(run->input);
        free(run);
}

static void run_unlink(struct exec_channel *x, struct exec_run *run)
{
        for (struct exec_run **pp = &x->runs; *pp; pp = &(*pp)->next)
                if (*pp == run) {
                        *pp = run->next;
                        return;
                }
}

/*
 * write() that cannot kill us with SIGPIPE when the command has already
 * exited without reading its input. The daemon ignores SIGPIPE anyway; a
 * program embedding this code (a test) may not.
 */
static ssize_t write_no_sigpipe(int fd, const void *buf, size_t n)
{
        sigset_t pipe_set, old, pending;
        bool was_pending;
        ssize_t k;
        int saved;

        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
        was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
        k = write(fd, buf, n);
        saved = errno;
        if (k < 0 && errno == EPIPE && !was_pending) {
                const struct timespec zero = { 0, 0 };
                (void)sigtimedwait(&pipe_set, NULL, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        errno = saved;
        return k;
}

static void close_stdin(struct exec_run *run)
{
        run->in = sd_event_source_disable_unref(run->in);
        if (run->in_fd >= 0)
                close(run->in_fd);
        run->in_fd = -1;
}

/* Write as much of the input as the pipe takes. 0 when done (or the command stopped reading), -EAGAIN for more. */
static int write_input(struct exec_run *run)
{
        while (run->input_off < run->input_len) {
                ssize_t n = write_no_sigpipe(run->in_fd, run->input + run->input_off, run->input_len - run->input_off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return -EAGAIN;
                        break; /* EPIPE: a command that does not read its input is fine */
                }
                run->input_off += (size_t)n;
        }
        close_stdin(run); /* EOF tells the command the JSON is complete */
        return 0;
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        (void)write_input(userdata);
        return 0;
}

/* Read what the command printed; keep the start, drop the rest (it must never block on a full pipe). */
static void read_output(struct exec_run *run)
{
        char buf[4096];

        while (run->out_fd >= 0) {
                ssize_t n = read(run->out_fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        if (n == 0 || errno != EAGAIN) {
                                run->out = sd_event_source_disable_unref(run->out);
                                close(run->out_fd);
                                run->out_fd = -1;
                        }
                        return;
                }
                size_t room = OUTPUT_KEEP - run->output_len, k = (size_t)n < room ? (size_t)n : room;
                memcpy(run->output + run->output_len, buf, k);
                run->output_len += k;
                run->output[run->output_len] = '\0';
        }
}

static int on_stdout(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        read_output(userdata);
        return 0;
}

static void format_seconds(char *buf, size_t size, usec_t t)
{
        if (t % USEC_PER_SEC == 0)
                snprintf(buf, size, "%llus", (unsigned long long)(t / USEC_PER_SEC));
        else
                snprintf(buf, size, "%.1fs", (double)t / (double)USEC_PER_SEC);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        struct exec_run *run = userdata;
        struct exec_channel *x = run->x;
        char detail[OUTPUT_KEEP + 256], out[OUTPUT_KEEP + 1], t1[32], t2[32];
        const char *sep;
        int error = 0;
        bool permanent = false;

        /* Whatever it printed before exiting is in the pipe now (unless a child of it holds it open). */
        read_output(run);
        snprintf(out, sizeof(out), "%s", run->output);
        channel_detail_clean(out, OUTPUT_KEEP);
        strstrip(out);
        sep = *out ? ": " : "";
        format_seconds(t1, sizeof(t1), x->timeout);
        format_seconds(t2, sizeof(t2), x->kill_timeout);

        if (run->stop != RUN_NOT_STOPPED) {
                error = -ETIMEDOUT;
                if (run->stop == RUN_TERMINATED)
                        snprintf(detail, sizeof(detail), "timed out after %s and was stopped (SIGTERM)%s%s", t1,
                                 sep, out);
                else
                        snprintf(detail, sizeof(detail),
                                 "timed out after %s, ignored SIGTERM and was killed (SIGKILL) %s later%s%s", t1, t2,
                                 sep, out);
        } else if (si->si_code == CLD_EXITED && si->si_status == 0)
                snprintf(detail, sizeof(detail), "exit status 0%s%s", sep, out);
        else if (si->si_code == CLD_EXITED && (si->si_status == 126 || si->si_status == 127)) {
                /* The shell's way of saying "not found"/"not executable" inside a wrapper script:
                 * nothing a retry can fix. */
                error = -ENOENT;
                permanent = true;
                snprintf(detail, sizeof(detail), "exit status %d (%s)%s%s — check the command in [%s]",
                         si->si_status,
                         si->si_status == 127 ? "a program it runs was not found" : "a program it runs cannot be run",
                         sep, out, x->channel->name);
        } else if (si->si_code == CLD_EXITED && si->si_status >= 64 && si->si_status <= 78 && si->si_status != 75) {
                /* sysexits.h, as mail delivery programs use it: EX_NOUSER (67) for "no phone
                 * number", EX_CONFIG (78)… are final; EX_TEMPFAIL (75) is worth retrying. */
                error = -EIO;
                permanent = true;
                snprintf(detail, sizeof(detail), "exit status %d%s%s", si->si_status, sep, out);
        } else if (si->si_code == CLD_EXITED) {
                error = -EIO;
                snprintf(detail, sizeof(detail), "exit status %d%s%s", si->si_status, sep, out);
        } else {
                error = -EIO;
                snprintf(detail, sizeof(detail), "killed by signal %d (%s)%s%s", si->si_status,
                         strsignal(si->si_status), sep, out);
        }
        log_debug("[%s] %s (pid %d): %s", x->channel->name, run->program, (int)run->pid, detail);

        channel_done_cb done = run->done;
        void *ud = run->userdata;
        run_unlink(x, run);
        run_free(run); /* sd-event reaps the child after we return */
        done(x->channel, error, permanent, detail, ud);
        return 0;
}

static void signal_run(struct exec_run *run, int sig)
{
        /* The group first: a wrapper script's gammu must stop too. */
        (void)kill(-run->pid, sig);
        (void)kill(run->pid, sig);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct exec_run *run = userdata;

        if (run->stop == RUN_NOT_STOPPED) {
                log_debug("[%s] %s (pid %d) took too long: SIGTERM", run->x->channel->name, run->program,
                          (int)run->pid);
                run->stop = RUN_TERMINATED;
                signal_run(run, SIGTERM);
                (void)sd_event_source_set_time_relative(s, run->x->kill_timeout);
                (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        } else {
                log_debug("[%s] %s (pid %d) ignored SIGTERM: SIGKILL", run->x->channel->name, run->program,
                          (int)run->pid);
                run->stop = RUN_KILLED;
                signal_run(run, SIGKILL);
        }
        return 0;
}

/* Keep pipe ends clear of 0–2, so dup2() onto stdin/stdout/stderr in the child cannot clobber one. */
static int fd_above_stdio(int fd)
{
        int n;

        if (fd > STDERR_FILENO)
                return fd;
        n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        close(fd);
        return n;
}

static int make_pipe(int p[2])
{
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        p[0] = fd_above_stdio(p[0]);
        p[1] = fd_above_stdio(p[1]);
        if (p[0] < 0 || p[1] < 0) {
                if (p[0] >= 0)
                        close(p[0]);
                if (p[1] >= 0)
                        close(p[1]);
                p[0] = p[1] = -1;
                return -EMFILE;
        }
        return 0;
}

static int spawn(struct exec_run *run, char **argv, char **env, int in_fd, int out_fd)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int r;

        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        r = posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
        if (!r)
                r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
        if (!r)
                r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
        /* Not every library marks its fds close-on-exec (curl's sockets, for one): a command
         * must not keep the daemon's connections or the database open. */
        if (!r)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
#endif
        /* The daemon blocks its signals for the loop and ignores SIGPIPE: the
         * command starts with nothing blocked and every signal at its default. */
        sigemptyset(&none);
        sigfillset(&all);
        if (!r)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (!r)
                r = posix_spawnattr_setsigdefault(&attr, &all);
        if (!r)
                r = posix_spawnattr_setpgroup(&attr, 0);
        if (!r)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                            POSIX_SPAWN_SETPGROUP);
        if (!r) {
                if (strchr(argv[0], '/'))
                        r = posix_spawn(&run->pid, argv[0], &fa, &attr, argv, env);
                else
                        r = posix_spawnp(&run->pid, argv[0], &fa, &attr, argv, env);
        }
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        return -r;
}

static bool spawn_error_is_permanent(int r)
{
        return r == -ENOENT || r == -EACCES || r == -ENOEXEC || r == -ENOTDIR || r == -ELOOP ||
               r == -ENAMETOOLONG || r == -EISDIR || r == -EPERM;
}

static int exec_send(Channel *c, const struct delivery_message *m, channel_done_cb done, void *userdata)
{
        struct exec_channel *x = c->data;
        struct template_var vars[CHANNEL_MESSAGE_VARS_MAX];
        struct channel_vars_scratch scratch;
        struct exec_run *run;
        char **argv = NULL, **env = NULL;
        size_t n_vars, n_argv = 0;
        int in[2] = { -1, -1 }, out[2] = { -1, -1 }, r = 0;

        run = calloc(1, sizeof(*run));
        if (!run)
                return -ENOMEM;
        *run = (struct exec_run){ .x = x, .done = done, .userdata = userdata, .in_fd = -1, .out_fd = -1 };

        n_vars = channel_message_vars(m, vars, &scratch);
        for (char **w = x->words; r >= 0 && *w; w++) {
                char *arg = NULL;
                r = template_render(*w, vars, n_vars, 0, &arg, NULL);
                if (r >= 0)
                        arg[channel_utf8_cut(arg, VALUE_MAX)] = '\0';
                if (r >= 0 && (r = strv_push(&argv, &n_argv, arg)) < 0)
                        free(arg);
        }
        if (r >= 0 && !(env = build_env(m, c->name, scratch.message)))
                r = -ENOMEM;
        channel_vars_scratch_done(&scratch);
        if (r >= 0 && !(run->input = channel_message_json(m)))
                r = -ENOMEM;
        if (r >= 0 && !(run->program = strdup(argv[0])))
                r = -ENOMEM;
        if (r >= 0)
                r = make_pipe(in);
        if (r >= 0)
                r = make_pipe(out);
        if (r >= 0)
                r = spawn(run, argv, env, in[0], out[1]);
        strv_free(argv);
        strv_free(env);
        if (in[0] >= 0)
                close(in[0]);
        if (out[1] >= 0)
                close(out[1]);
        run->in_fd = in[1];
        run->out_fd = out[0];
        run->input_len = run->input ? strlen(run->input) : 0;

        if (r < 0 && spawn_error_is_permanent(r) && run->program) {
                /* Not worth a retry, and the installer needs the path: say it through done. */
                char detail[512];
                snprintf(detail, sizeof(detail), "cannot run %s: %s — check the command in [%s]%s", run->program,
                         strerror(-r), c->name,
                         !strchr(run->program, '/') && r == -ENOENT ? " (not found in PATH: write the full path)"
                                                                     : "");
                run_free(run);
                done(c, r, true, detail, userdata);
                return 0;
        }
        if (r < 0) {
                run_free(run);
                return r;
        }

        /* The child holds the blocking ends; ours must never block the loop. */
        if (fcntl(run->in_fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(run->out_fd, F_SETFL, O_NONBLOCK) < 0)
                r = -errno;
        if (r >= 0)
                r = sd_event_add_child(x->event, &run->child, run->pid, WEXITED, on_child, run);
        if (r >= 0)
                r = sd_event_add_io(x->event, &run->out, run->out_fd, EPOLLIN, on_stdout, run);
        if (r >= 0)
                r = sd_event_add_time_relative(x->event, &run->timer, CLOCK_MONOTONIC, x->timeout,
                                               10 * USEC_PER_MSEC, on_timeout, run);
        /* A few KB fit in the pipe at once; the io source is for the rare rest. */
        if (r >= 0 && write_input(run) == -EAGAIN)
                r = sd_event_add_io(x->event, &run->in, run->in_fd, EPOLLOUT, on_stdin, run);
        if (r < 0) {
                /* Started but cannot be watched: stop it rather than leave it unreaped. */
                signal_run(run, SIGKILL);
                run->child = sd_event_source_disable_unref(run->child);
                (void)waitpid(run->pid, NULL, 0);
                run_free(run);
                return r;
        }
        log_debug("[%s] started %s (pid %d) for delivery %lld", c->name, run->program, (int)run->pid,
                  (long long)m->delivery_id);
        run->next = x->runs;
        x->runs = run;
        return 0;
}

static void exec_free(Channel *c)
{
        struct exec_channel *x = c->data;

        if (!x)
                return;
        while (x->runs) {
                struct exec_run *run = x->runs;
                x->runs = run->next;
                /* A message half-sent at shutdown: the outbox sends it again after the restart. */
                signal_run(run, SIGKILL);
                run->child = sd_event_source_disable_unref(run->child);
                (void)waitpid(run->pid, NULL, 0);
                run_free(run);
        }
        strv_free(x->words);
        sd_event_unref(x->event);
        free(x);
        c->data = NULL;
}

static const struct channel_ops exec_ops = {
        .type = "exec",
        .send = exec_send,
        .available = NULL,
        .free = exec_free,
};

int channel_exec_new(sd_event *e, const char *name, const struct exec_settings *s, Channel **ret)
{
        _cleanup_(channel_freep) Channel *c = NULL;
        struct exec_channel *x;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ops = &exec_ops;
        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        c->data = x;
        x->channel = c;
        x->event = sd_event_ref(e);
        x->timeout = s->timeout ? s->timeout : 30 * USEC_PER_SEC;
        x->kill_timeout = s->kill_timeout ? s->kill_timeout : 5 * USEC_PER_SEC;
        c->name = strdup(name);
        if (!c->name)
                return -ENOMEM;
        r = split_command(strempty(s->command), &x->words);
        if (r < 0)
                return r;

        /* Typos in placeholders: say so now, while someone is looking at the log. */
        struct template_var vars[CHANNEL_MESSAGE_VARS_MAX];
        struct channel_vars_scratch scratch;
        size_t n = channel_message_vars(&channel_sample_message, vars, &scratch);
        for (char **w = x->words; *w; w++) {
                _cleanup_free_ char *out = NULL, *unknown = NULL;
                if (template_render(*w, vars, n, 0, &out, &unknown) > 0)
                        log_warning("[%s] command: unknown placeholder %s — it is passed as it is "
                                    "(docs/channels.md lists the placeholders)",
                                    name, unknown);
        }
        channel_vars_scratch_done(&scratch);

        *ret = TAKE_PTR(c);
        return 0;
}
