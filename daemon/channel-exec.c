/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The exec channel: run a configured command with the alert in environment
 * variables and as JSON on stdin (like NUT's NOTIFYCMD), e.g. a script that
 * sends an SMS through a GSM modem with gammu-smsd-inject. No shell is
 * involved. The child is reaped through sd-event and killed if it takes too
 * long (SIGTERM, then SIGKILL 5 s later). Exit status 0 means sent.
 */

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "daemon/channel.h"
#include "daemon/log.h"

#define OUTPUT_MAX 512

struct exec_channel {
        sd_event *event;
        char **argv;
        usec_t timeout;
        struct exec_run *runs;
};

struct exec_run {
        Channel *channel;
        channel_done_cb done;
        void *userdata;
        pid_t pid;
        sd_event_source *child, *timer, *in, *out;
        int in_fd, out_fd;
        char *input;
        size_t input_len, input_off;
        char output[OUTPUT_MAX];
        size_t output_len;
        bool killed;
        struct exec_run *next;
};

extern char **environ;

/* Split "prog 'an arg' \"another\"" into argv: spaces separate, quotes group, no other expansion. */
static int split_command(const char *cmd, char ***ret)
{
        char **argv = NULL, *word = NULL;
        size_t n = 0, len = 0;
        char quote = 0;

        for (const char *p = cmd;; p++) {
                bool end = *p == '\0';
                if (!end && quote && *p != quote) {
                        char *w = realloc(word, len + 2);
                        if (!w)
                                goto oom;
                        word = w;
                        word[len++] = *p;
                        continue;
                }
                if (!end && (*p == '\'' || *p == '"')) {
                        quote = quote ? 0 : *p;
                        if (!word && !(word = calloc(1, 1)))
                                goto oom;
                        continue;
                }
                if (end || *p == ' ' || *p == '\t') {
                        if (word) {
                                word[len] = '\0';
                                char **a = realloc(argv, (n + 2) * sizeof(char *));
                                if (!a)
                                        goto oom;
                                argv = a;
                                argv[n++] = word;
                                argv[n] = NULL;
                                word = NULL;
                                len = 0;
                        }
                        if (end)
                                break;
                        continue;
                }
                char *w = realloc(word, len + 2);
                if (!w)
                        goto oom;
                word = w;
                word[len++] = *p;
        }
        if (quote || n == 0) {
                for (size_t i = 0; i < n; i++)
                        free(argv[i]);
                free(argv);
                return -EINVAL;
        }
        *ret = argv;
        return 0;
oom:
        free(word);
        for (size_t i = 0; i < n; i++)
                free(argv[i]);
        free(argv);
        return -ENOMEM;
}

static void run_free(struct exec_run *run)
{
        sd_event_source_disable_unref(run->child);
        sd_event_source_disable_unref(run->timer);
        sd_event_source_disable_unref(run->in);
        sd_event_source_disable_unref(run->out);
        if (run->in_fd >= 0)
                close(run->in_fd);
        if (run->out_fd >= 0)
                close(run->out_fd);
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

static void drain_output(struct exec_run *run)
{
        char buf[512];
        ssize_t n;

        while (run->out_fd >= 0 && (n = read(run->out_fd, buf, sizeof(buf))) > 0) {
                size_t room = OUTPUT_MAX - 1 - run->output_len;
                size_t k = (size_t)n < room ? (size_t)n : room;
                memcpy(run->output + run->output_len, buf, k);
                run->output_len += k;
                run->output[run->output_len] = '\0';
        }
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        struct exec_run *run = userdata;
        struct exec_channel *x = run->channel->data;
        char detail[OUTPUT_MAX + 96];
        int error = 0;
        bool permanent = false;

        drain_output(run);
        /* Keep the command's own words, on one line, for the delivery log. */
        for (char *p = run->output; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        if (run->killed) {
                snprintf(detail, sizeof(detail), "timed out after %llus and was stopped",
                         (unsigned long long)(x->timeout / USEC_PER_SEC));
                error = -ETIMEDOUT;
        } else if (si->si_code == CLD_EXITED && si->si_status == 0)
                snprintf(detail, sizeof(detail), "exit status 0%s%s", run->output_len ? ": " : "",
                         strstrip(run->output));
        else if (si->si_code == CLD_EXITED && si->si_status == 127) {
                snprintf(detail, sizeof(detail), "cannot run %s: %s — check command = in [%s]", x->argv[0],
                         run->output_len ? strstrip(run->output) : "not found or not executable", run->channel->name);
                error = -ENOENT;
                permanent = true;
        } else if (si->si_code == CLD_EXITED) {
                snprintf(detail, sizeof(detail), "exit status %d%s%s", si->si_status, run->output_len ? ": " : "",
                         strstrip(run->output));
                error = -EIO;
        } else {
                snprintf(detail, sizeof(detail), "killed by signal %d", si->si_status);
                error = -EIO;
        }
        run_unlink(x, run);
        channel_done_cb done = run->done;
        void *ud = run->userdata;
        Channel *c = run->channel;
        run_free(run);
        done(c, error, permanent, detail, ud);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct exec_run *run = userdata;
        usec_t now;

        if (!run->killed) {
                run->killed = true;
                (void)kill(-run->pid, SIGTERM);
                sd_event_now(sd_event_source_get_event(s), CLOCK_BOOTTIME, &now);
                (void)sd_event_source_set_time(s, now + 5 * USEC_PER_SEC);
                (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        } else
                (void)kill(-run->pid, SIGKILL);
        return 0;
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct exec_run *run = userdata;

        while (run->input_off < run->input_len) {
                ssize_t n = write(fd, run->input + run->input_off, run->input_len - run->input_off);
                if (n < 0) {
                        if (errno == EAGAIN)
                                return 0;
                        break; /* the command does not read its input: fine */
                }
                run->input_off += (size_t)n;
        }
        run->in = sd_event_source_disable_unref(run->in);
        close(run->in_fd);
        run->in_fd = -1;
        return 0;
}

static int on_stdout(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct exec_run *run = userdata;
        char buf[512];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n > 0) {
                size_t room = OUTPUT_MAX - 1 - run->output_len;
                size_t k = (size_t)n < room ? (size_t)n : room;
                memcpy(run->output + run->output_len, buf, k);
                run->output_len += k;
                run->output[run->output_len] = '\0';
                return 0;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
                run->out = sd_event_source_disable_unref(run->out);
                close(run->out_fd);
                run->out_fd = -1;
        }
        return 0;
}

static char *message_json(const struct delivery_message *m)
{
        cJSON *o = m->alert_json ? cJSON_Parse(m->alert_json) : NULL;
        char *s;

        if (!o)
                o = cJSON_CreateObject();
        if (!o)
                return NULL;
        cJSON *msg = cJSON_AddObjectToObject(o, "message");
        if (msg) {
                cJSON_AddNumberToObject(msg, "alert", (double)m->alert_id);
                cJSON_AddStringToObject(msg, "purpose", strempty(m->purpose));
                cJSON_AddStringToObject(msg, "contact", strempty(m->contact_id));
                cJSON_AddStringToObject(msg, "contact_name", strempty(m->contact_name));
                cJSON_AddStringToObject(msg, "contact_phone", strempty(m->contact_phone));
                cJSON_AddStringToObject(msg, "title", strempty(m->title));
                cJSON_AddStringToObject(msg, "text", strempty(m->text));
                cJSON_AddStringToObject(msg, "ack_url", strempty(m->ack_url));
                cJSON_AddStringToObject(msg, "locale", strempty(m->locale));
        }
        s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return s;
}

static int exec_send(Channel *c, const struct delivery_message *m, channel_done_cb done, void *userdata)
{
        struct exec_channel *x = c->data;
        struct exec_run *run;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int in[2] = { -1, -1 }, out[2] = { -1, -1 }, r;
        char **env = NULL;
        size_t n_env = 0;
        usec_t now;

        run = calloc(1, sizeof(*run));
        if (!run)
                return -ENOMEM;
        *run = (struct exec_run){ .channel = c, .done = done, .userdata = userdata, .in_fd = -1, .out_fd = -1 };
        run->input = message_json(m);
        if (!run->input) {
                free(run);
                return -ENOMEM;
        }
        run->input_len = strlen(run->input);
        run->input[run->input_len] = '\0';

        /* The alert in the environment: our own variables first, then the daemon's, minus any stale SHOUWANG_*. */
        const struct {
                const char *name, *value;
        } vars[] = {
                { "SHOUWANG_ALERT_ID", NULL },
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
                { "SHOUWANG_TITLE", m->title },
                { "SHOUWANG_TEXT", m->text },
                { "SHOUWANG_ACK_URL", m->ack_url },
                { "SHOUWANG_OPENED_AT", m->opened_at },
                { "SHOUWANG_LOCALE", m->locale },
        };
        size_t n_environ = 0;
        while (environ[n_environ])
                n_environ++;
        env = calloc(ELEMENTSOF(vars) + n_environ + 1, sizeof(char *));
        if (!env) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                if (i == 0)
                        r = asprintf(&env[n_env], "%s=%lld", vars[i].name, (long long)m->alert_id);
                else
                        r = asprintf(&env[n_env], "%s=%s", vars[i].name, strempty(vars[i].value));
                if (r < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                n_env++;
        }
        for (size_t i = 0; i < n_environ; i++)
                if (!startswith(environ[i], "SHOUWANG_") && !startswith(environ[i], "NOTIFY_SOCKET=") &&
                    !startswith(environ[i], "WATCHDOG_"))
                        env[n_env++] = strdup(environ[i]);

        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
                r = -errno;
                goto fail;
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, out[1], STDERR_FILENO);
        posix_spawnattr_init(&attr);
        /* The daemon blocks signals for its loop: the command must start with none
         * blocked and default dispositions, in a process group of its own so a
         * timeout stops its children too. */
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
        r = -posix_spawn(&run->pid, x->argv[0], &fa, &attr, x->argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        close(in[0]);
        close(out[1]);
        in[0] = out[1] = -1;
        run->in_fd = in[1];
        run->out_fd = out[0];
        if (r < 0) {
                close(run->in_fd);
                close(run->out_fd);
                run->in_fd = run->out_fd = -1;
                goto fail;
        }
        (void)fcntl(run->in_fd, F_SETFL, O_NONBLOCK);
        (void)fcntl(run->out_fd, F_SETFL, O_NONBLOCK);

        r = sd_event_add_child(x->event, &run->child, run->pid, WEXITED, on_child, run);
        if (r >= 0)
                r = sd_event_add_io(x->event, &run->in, run->in_fd, EPOLLOUT, on_stdin, run);
        if (r >= 0)
                r = sd_event_add_io(x->event, &run->out, run->out_fd, EPOLLIN, on_stdout, run);
        sd_event_now(x->event, CLOCK_BOOTTIME, &now);
        if (r >= 0)
                r = sd_event_add_time(x->event, &run->timer, CLOCK_BOOTTIME, now + x->timeout, USEC_PER_MSEC * 100,
                                      on_timeout, run);
        if (r < 0) {
                (void)kill(-run->pid, SIGKILL);
                (void)waitpid(run->pid, NULL, 0);
                goto fail;
        }
        for (size_t i = 0; i < n_env; i++)
                free(env[i]);
        free(env);
        run->next = x->runs;
        x->runs = run;
        return 0;

fail:
        for (size_t i = 0; i < n_env; i++)
                free(env[i]);
        free(env);
        if (in[0] >= 0)
                close(in[0]);
        if (in[1] >= 0 && in[1] != run->in_fd)
                close(in[1]);
        if (out[0] >= 0 && out[0] != run->out_fd)
                close(out[0]);
        if (out[1] >= 0)
                close(out[1]);
        run_free(run);
        return r;
}

static void exec_free(Channel *c)
{
        struct exec_channel *x = c->data;

        if (!x)
                return;
        for (struct exec_run *run = x->runs; run;) {
                struct exec_run *next = run->next;
                /* A message half-sent at shutdown: the outbox retries it after the restart. */
                (void)kill(-run->pid, SIGKILL);
                (void)waitpid(run->pid, NULL, 0);
                run_free(run);
                run = next;
        }
        for (char **a = x->argv; a && *a; a++)
                free(*a);
        free(x->argv);
        sd_event_unref(x->event);
        free(x);
}

static const struct channel_ops exec_ops = {
        .type = "exec",
        .send = exec_send,
        .available = NULL,
        .free = exec_free,
};

int channel_exec_new(sd_event *e, const char *name, const struct exec_settings *s, Channel **ret)
{
        Channel *c = calloc(1, sizeof(*c));
        struct exec_channel *x = calloc(1, sizeof(*x));
        int r;

        if (!c || !x) {
                free(c);
                free(x);
                return -ENOMEM;
        }
        r = split_command(strempty(s->command), &x->argv);
        if (r < 0) {
                free(c);
                free(x);
                return r;
        }
        x->event = sd_event_ref(e);
        x->timeout = s->timeout ? s->timeout : 30 * USEC_PER_SEC;
        c->ops = &exec_ops;
        c->data = x;
        c->name = strdup(name);
        if (!c->name) {
                channel_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}
