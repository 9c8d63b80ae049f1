/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The exec channel against real processes: shell scripts written by the
 * test into its temp dir record their environment, arguments, stdin,
 * signal mask and open fds; others exit 3, sleep past the timeout, ignore
 * SIGTERM, or are missing. The loop is driven here with signals blocked as
 * the daemon blocks them (SIGCHLD included, which sd_event_add_child needs),
 * and every test ends with no child process left, running or zombie: the
 * test is a child subreaper, so even what a stopped script had started is
 * reaped here and proven dead.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "daemon/channel.h"
#include "daemon/manager.h"

struct outcome {
        bool done;
        int calls;
        int error;
        bool permanent;
        char detail[1024];
        usec_t at;
};

struct fixture {
        char dir[64];
        sd_event *e;
        Channel *c[3];
};

static void on_done(Channel *c, int error, bool permanent, const char *detail, void *userdata)
{
        struct outcome *o = userdata;

        o->done = true;
        o->calls++;
        o->error = error;
        o->permanent = permanent;
        snprintf(o->detail, sizeof(o->detail), "%s", detail ? detail : "");
        o->at = now_usec(CLOCK_MONOTONIC);
        print_message("      done: error=%d permanent=%d detail=%s\n", error, permanent, o->detail);
}

static void run_until_done(sd_event *e, struct outcome *const *os, size_t n, usec_t timeout)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;

        for (;;) {
                bool all = true;
                for (size_t i = 0; i < n; i++)
                        all = all && os[i]->done;
                if (all || now_usec(CLOCK_MONOTONIC) > deadline)
                        return;
                assert_true(sd_event_run(e, 50 * USEC_PER_MSEC) >= 0);
        }
}

static struct delivery_message sample(void)
{
        return (struct delivery_message){
                .delivery_id = 12,
                .alert_id = 7,
                .purpose = "alert",
                .contact_id = "C3",
                .contact_name = "沈国华",
                .contact_phone = "13900000107",
                .contact_role = "family",
                .locale = "zh_CN",
                .title = "【守望】紧急｜沈国强：家里漏水",
                .text = "家里漏水了。老人一个人住，可能摔倒了没法应答，请马上去看。\n"
                        "地址：长乐路17号 201室 $HOME `id` \"quoted\"\n"
                        "我去看看，请点：http://gw.local/a/7?c=C3&t=abc",
                .ack_url = "http://gw.local/a/7?c=C3&t=abc",
                .alert_json = "{\"id\":7,\"rule\":\"leak\",\"state\":\"open\"}",
                .rule = "leak",
                .severity = "critical",
                .resident_id = "R1",
                .resident_name = "沈国强",
                .building = "长乐路17号",
                .flat = "201",
                .opened_at = "2026-11-23T01:10:00+08:00",
        };
}

/* Write an executable script into the temp dir; returns its path (malloc'd). */
static char *script(struct fixture *f, const char *name, const char *body)
{
        char *path;
        FILE *fp;

        assert_true(asprintf(&path, "%s/%s", f->dir, name) > 0);
        fp = fopen(path, "we");
        assert_non_null(fp);
        fprintf(fp, "#!/bin/sh\n%s\n", body);
        assert_int_equal(fclose(fp), 0);
        assert_int_equal(chmod(path, 0755), 0);
        return path;
}

static char *slurp(struct fixture *f, const char *name)
{
        char *path, *text = NULL;

        assert_true(asprintf(&path, "%s/%s", f->dir, name) > 0);
        if (read_full_file(path, &text, NULL) < 0)
                fail_msg("the script did not write %s", path);
        free(path);
        return text;
}

static Channel *exec_channel(struct fixture *f, size_t slot, const char *name, const char *command, usec_t timeout,
                             usec_t kill_timeout)
{
        struct exec_settings s = { .command = command, .timeout = timeout, .kill_timeout = kill_timeout };

        assert_int_equal(channel_exec_new(f->e, name, &s, &f->c[slot]), 0);
        return f->c[slot];
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/shouwang-exec-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_int_equal(sd_event_new(&f->e), 0);
        *state = f;
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

/*
 * The test is a child subreaper: what a stopped script had started comes to
 * us instead of PID 1. Reap every pid listed in the file (one per line), and
 * fail unless each has died within two seconds.
 */
static void reap_orphans(struct fixture *f, const char *name)
{
        _cleanup_free_ char *pids = slurp(f, name);
        int n = 0;

        for (char *p = pids, *end; *p; p = end) {
                pid_t pid = (pid_t)strtol(p, &end, 10);
                if (end == p)
                        break;
                usec_t deadline = now_usec(CLOCK_MONOTONIC) + 2 * USEC_PER_SEC;
                pid_t r;
                while ((r = waitpid(pid, NULL, WNOHANG)) == 0 && now_usec(CLOCK_MONOTONIC) < deadline)
                        usleep(10000);
                if (r != pid)
                        fail_msg("process %d, started by the command, is still running", (int)pid);
                n++;
        }
        assert_true(n > 0);
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        siginfo_t si = {};

        for (size_t i = 0; i < ELEMENTSOF(f->c); i++)
                channel_free(f->c[i]);
        sd_event_unref(f->e);
        /* Nothing left behind: no child running, none unreaped. */
        errno = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
                fail_msg("a child process is left: pid %d", (int)si.si_pid);
        assert_int_equal(errno, ECHILD);
        assert_int_equal(nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
        free(f);
        return 0;
}

/* ---- what the command gets ------------------------------------------------------------------------- */

static void test_script_gets_the_alert_in_its_environment_and_as_json_on_stdin(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *rec = script(f, "record.sh",
                                          "out=$1\n"
                                          "cat > \"$out/stdin.json\"\n"
                                          "env > \"$out/env.txt\"\n"
                                          "printf '%s' \"$SHOUWANG_TEXT\" > \"$out/text.txt\"\n"
                                          "printf '%s' \"$SHOUWANG_MESSAGE\" > \"$out/message.txt\"\n"
                                          "printf '%s' \"$2\" > \"$out/arg2.txt\"\n"
                                          "printf '%s' \"$3\" > \"$out/arg3.txt\"\n"
                                          "echo $# > \"$out/argc.txt\"\n"
                                          /* The shell's own mask, read with builtins only: while it
                                           * forks a command dash blocks every signal for a moment,
                                           * and an outside reader could catch it then. */
                                          "while read -r k v; do case $k in SigBlk:|SigIgn:) echo \"$k $v\";; esac; "
                                          "done < /proc/$$/status > \"$out/signals.txt\"\n"
                                          "pgid=$(cut -d' ' -f5 /proc/$$/stat)\n"
                                          "echo \"$$ $pgid\" > \"$out/pgid.txt\"\n"
                                          "ls /proc/$$/fd > \"$out/fds.txt\"\n"
                                          "echo \"SMS to $SHOUWANG_CONTACT_PHONE queued\"\n");
        _cleanup_free_ char *cmd = NULL;
        struct delivery_message m = sample();
        struct outcome o = {};
        int leak;

        /* A stale variable and the daemon's systemd plumbing must not reach the command. */
        setenv("SHOUWANG_STALE", "1", 1);
        setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
        unsetenv("LANG");
        unsetenv("LC_ALL");
        unsetenv("LC_CTYPE");
        /* An fd without close-on-exec, as libraries leave them: the command must not inherit it. */
        leak = open("/dev/null", O_RDONLY);
        assert_true(leak > 2);

        assert_true(asprintf(&cmd, "%s %s {contact_phone} {message}", rec, f->dir) > 0);
        Channel *c = exec_channel(f, 0, "exec:sms", cmd, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 10 * USEC_PER_SEC);
        close(leak);
        unsetenv("SHOUWANG_STALE");
        unsetenv("NOTIFY_SOCKET");

        assert_true(o.done);
        assert_int_equal(o.error, 0);
        assert_string_equal(o.detail, "exit status 0: SMS to 13900000107 queued");

        _cleanup_free_ char *env = slurp(f, "env.txt"), *text = slurp(f, "text.txt"),
                            *message = slurp(f, "message.txt"), *json = slurp(f, "stdin.json"),
                            *arg2 = slurp(f, "arg2.txt"), *arg3 = slurp(f, "arg3.txt"), *argc = slurp(f, "argc.txt"),
                            *signals = slurp(f, "signals.txt"), *pgid = slurp(f, "pgid.txt"),
                            *fds = slurp(f, "fds.txt"), *expect_message = NULL;
        static const char *const expected[] = {
                "SHOUWANG_ALERT_ID=7\n",
                "SHOUWANG_DELIVERY_ID=12\n",
                "SHOUWANG_CHANNEL=exec:sms\n",
                "SHOUWANG_PURPOSE=alert\n",
                "SHOUWANG_RULE=leak\n",
                "SHOUWANG_SEVERITY=critical\n",
                "SHOUWANG_RESIDENT_ID=R1\n",
                "SHOUWANG_RESIDENT_NAME=沈国强\n",
                "SHOUWANG_BUILDING=长乐路17号\n",
                "SHOUWANG_FLAT=201\n",
                "SHOUWANG_CONTACT_ID=C3\n",
                "SHOUWANG_CONTACT_NAME=沈国华\n",
                "SHOUWANG_CONTACT_PHONE=13900000107\n",
                "SHOUWANG_CONTACT_ROLE=family\n",
                "SHOUWANG_LOCALE=zh_CN\n",
                "SHOUWANG_TITLE=【守望】紧急｜沈国强：家里漏水\n",
                "SHOUWANG_ACK_URL=http://gw.local/a/7?c=C3&t=abc\n",
                "SHOUWANG_OPENED_AT=2026-11-23T01:10:00+08:00\n",
                /* Under systemd there is no LANG; gammu needs one to read Chinese. */
                "LANG=C.UTF-8\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                if (!strstr(env, expected[i]))
                        fail_msg("the environment lacks %s", expected[i]);
        assert_null(strstr(env, "SHOUWANG_STALE"));
        assert_null(strstr(env, "NOTIFY_SOCKET"));
        /* Chinese, quotes and shell syntax arrive as they are: no shell ever saw them. */
        assert_string_equal(text, m.text);
        assert_true(asprintf(&expect_message, "%s\n%s", m.title, m.text) > 0);
        assert_string_equal(message, expect_message);
        /* Each placeholder became exactly one argument, spaces and newlines and all. */
        assert_string_equal(argc, "3\n");
        assert_string_equal(arg2, "13900000107");
        assert_string_equal(arg3, expect_message);

        cJSON *j = cJSON_Parse(json);
        assert_non_null(j);
        assert_string_equal(cJSON_GetObjectItem(j, "state")->valuestring, "open");
        cJSON *msg = cJSON_GetObjectItem(j, "message");
        assert_string_equal(cJSON_GetObjectItem(msg, "text")->valuestring, m.text);
        assert_string_equal(cJSON_GetObjectItem(msg, "contact_phone")->valuestring, "13900000107");
        assert_string_equal(cJSON_GetObjectItem(msg, "title")->valuestring, m.title);
        cJSON_Delete(j);

        /* The daemon blocks SIGCHLD/SIGTERM… and ignores SIGPIPE: the command has none of that. */
        unsigned long long blocked = ~0ULL, ignored = ~0ULL;
        const char *b = strstr(signals, "SigBlk:"), *i = strstr(signals, "SigIgn:");
        assert_true(b && i && sscanf(b, "SigBlk: %llx", &blocked) == 1 && sscanf(i, "SigIgn: %llx", &ignored) == 1);
        /* glibc's posix_spawn leaves its two internal signals (32, 33) ignored; nothing else uses them. */
        if (blocked != 0 || (ignored & ~0x180000000ULL) != 0)
                fail_msg("the command inherited blocked or ignored signals:\n%s", signals);
        /* A process group of its own, so a timeout reaches its children. */
        int pid = 0, group = 0;
        assert_int_equal(sscanf(pgid, "%d %d", &pid, &group), 2);
        assert_int_equal(pid, group);
        /* Only stdin, stdout, stderr (dash keeps the script itself open on 10). */
        char leaked[16];
        snprintf(leaked, sizeof(leaked), "\n%d\n", leak);
        assert_null(strstr(fds, leaked));
}

static void test_shipped_gammu_wrapper_queues_the_whole_text_as_one_unicode_sms(void **state)
{
        struct fixture *f = *state;
        /* A stand-in for gammu-smsd-inject, found first in PATH: records how it was called. */
        _cleanup_free_ char *fake = script(
                f, "gammu-smsd-inject",
                "for a in \"$@\"; do printf '%s\\n--\\n' \"$a\"; done > \"$FAKE_OUT/argv.txt\"\n"
                "printf '%s' \"$LANG\" > \"$FAKE_OUT/lang.txt\"\n"
                "echo 'Written message with ID /var/spool/gammu/outbox/OUTC20261123_011000_00_139_sms0.smsbackup'\n");
        _cleanup_free_ char *wrapper = NULL, *path = NULL, *argv = NULL, *lang = NULL, *expect = NULL;
        const char *old_path = getenv("PATH");
        struct delivery_message m = sample();
        struct outcome o = {}, no_phone = {};

        assert_non_null(fake);
        assert_true(asprintf(&wrapper, "%s/examples/exec/sms-gammu.sh",
                             getenv("SHOUWANG_TOP") ? getenv("SHOUWANG_TOP") : ".") > 0);
        assert_true(asprintf(&path, "%s:%s", f->dir, old_path ? old_path : "/usr/bin:/bin") > 0);
        _cleanup_free_ char *saved_path = old_path ? strdup(old_path) : NULL;
        setenv("PATH", path, 1);
        setenv("FAKE_OUT", f->dir, 1);
        unsetenv("LANG");

        Channel *c = exec_channel(f, 0, "exec:sms", wrapper, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        m.contact_phone = "";
        assert_int_equal(channel_send(c, &m, on_done, &no_phone), 0);
        run_until_done(f->e, (struct outcome *[]){ &o, &no_phone }, 2, 10 * USEC_PER_SEC);
        if (saved_path)
                setenv("PATH", saved_path, 1);
        unsetenv("FAKE_OUT");

        assert_int_equal(o.error, 0);
        assert_true(startswith(o.detail, "exit status 0: Written message with ID"));
        argv = slurp(f, "argv.txt");
        lang = slurp(f, "lang.txt");
        assert_true(asprintf(&expect,
                             "-c\n--\n/etc/gammu-smsdrc\n--\nTEXT\n--\n13900000107\n--\n-unicode\n--\n-len\n--\n"
                             "400\n--\n-text\n--\n%s\n%s\n--\n",
                             sample().title, sample().text) > 0);
        assert_string_equal(argv, expect);
        assert_string_equal(lang, "C.UTF-8");

        /* No number in the roster: final, so the outbox moves on to the next family member. */
        assert_true(no_phone.permanent);
        assert_string_equal(no_phone.detail, "exit status 67: contact C3 (沈国华) has no phone number in the roster");
}

static void test_quoted_words_in_the_command_stay_together(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *rec = script(f, "args.sh",
                                          "out=$1; shift\n"
                                          "for a in \"$@\"; do printf '[%s]' \"$a\"; done > \"$out/args.txt\"\n");
        _cleanup_free_ char *cmd = NULL, *args = NULL;
        struct delivery_message m = sample();
        struct outcome o = {};

        assert_true(asprintf(&cmd, "%s %s 'one two' \"three 'four'\" five\\ six --to={contact_phone} ''", rec,
                             f->dir) > 0);
        Channel *c = exec_channel(f, 0, "exec:args", cmd, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 10 * USEC_PER_SEC);
        assert_int_equal(o.error, 0);
        args = slurp(f, "args.txt");
        assert_string_equal(args, "[one two][three 'four'][five six][--to=13900000107][]");

        Channel *bad = NULL;
        assert_int_equal(channel_exec_new(f->e, "exec:bad", &(struct exec_settings){ .command = "/bin/echo 'oops" },
                                          &bad),
                         -EINVAL);
        assert_int_equal(channel_exec_new(f->e, "exec:bad", &(struct exec_settings){ .command = "   " }, &bad),
                         -EINVAL);
        assert_null(bad);
}

static void test_large_input_is_written_without_blocking(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *rec = script(f, "slowread.sh", "sleep 0.3\ncat > \"$1/stdin.json\"\n");
        _cleanup_free_ char *cmd = NULL, *big = malloc(300001), *json = NULL;
        struct delivery_message m = sample();
        struct outcome o = {};

        /* Far more than a pipe holds (64 KiB): the rest goes out as the command reads. */
        memset(big, 'x', 300000);
        big[300000] = '\0';
        m.text = big;
        assert_true(asprintf(&cmd, "%s %s", rec, f->dir) > 0);
        Channel *c = exec_channel(f, 0, "exec:big", cmd, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 10 * USEC_PER_SEC);
        assert_int_equal(o.error, 0);
        json = slurp(f, "stdin.json");
        cJSON *j = cJSON_Parse(json);
        assert_non_null(j);
        assert_int_equal(strlen(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "message"), "text")->valuestring), 300000);
        cJSON_Delete(j);
}

static void test_command_that_does_not_read_its_input_is_fine_even_without_sigpipe_ignored(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *big = malloc(300001);
        struct delivery_message m = sample();
        struct outcome o = {};

        /* A program embedding the channel may not ignore SIGPIPE as the daemon does. */
        signal(SIGPIPE, SIG_DFL);
        memset(big, 'y', 300000);
        big[300000] = '\0';
        m.text = big;
        Channel *c = exec_channel(f, 0, "exec:true", "true", 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 10 * USEC_PER_SEC);
        signal(SIGPIPE, SIG_IGN);
        assert_true(o.done);
        assert_int_equal(o.error, 0);
        assert_string_equal(o.detail, "exit status 0");
}

/* ---- failures -------------------------------------------------------------------------------------- */

static void test_exit_status_3_is_a_failure_with_what_the_command_said(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *cmd = script(f, "fail.sh", "echo 'modem not ready' >&2\necho '(try later)'\nexit 3");
        struct delivery_message m = sample();
        struct outcome o = {};

        Channel *c = exec_channel(f, 0, "exec:sms", cmd, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 10 * USEC_PER_SEC);
        assert_true(o.error < 0);
        assert_false(o.permanent);
        assert_string_equal(o.detail, "exit status 3: modem not ready (try later)");
}

static void test_sysexits_say_which_failures_are_final(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *nouser = script(f, "nouser.sh", "echo 'contact C9 has no phone number'\nexit 67");
        _cleanup_free_ char *tempfail = script(f, "tempfail.sh", "echo 'modem busy'\nexit 75");
        struct delivery_message m = sample();
        struct outcome final = {}, later = {};

        Channel *c = exec_channel(f, 0, "exec:sms", nouser, 5 * USEC_PER_SEC, 0);
        Channel *c2 = exec_channel(f, 1, "exec:sms2", tempfail, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &final), 0);
        assert_int_equal(channel_send(c2, &m, on_done, &later), 0);
        run_until_done(f->e, (struct outcome *[]){ &final, &later }, 2, 10 * USEC_PER_SEC);
        assert_true(final.permanent);
        assert_string_equal(final.detail, "exit status 67: contact C9 has no phone number");
        assert_false(later.permanent);
        assert_string_equal(later.detail, "exit status 75: modem busy");
}

static void test_long_output_is_cut_without_splitting_a_character(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *cmd = script(f, "chatty.sh",
                                          "i=0; while [ $i -lt 500 ]; do printf '短信'; i=$((i+1)); done\nexit 1");
        struct delivery_message m = sample();
        struct outcome o = {};

        Channel *c = exec_channel(f, 0, "exec:sms", cmd, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 10 * USEC_PER_SEC);
        assert_true(startswith(o.detail, "exit status 1: 短信短信"));
        assert_true(strlen(o.detail) < 450);
        /* Ends on a whole character: 短 or 信, never a part of one. */
        size_t n = strlen(o.detail);
        assert_true(n >= 3);
        assert_true(streq(o.detail + n - 3, "短") || streq(o.detail + n - 3, "信"));
}

static void test_command_that_sleeps_past_the_timeout_is_stopped_with_its_children(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *rec = script(f, "hang.sh",
                                          "sleep 30 &\necho $! >> \"$1/children\"\n"
                                          "sleep 30 &\necho $! >> \"$1/children\"\nwait\n");
        _cleanup_free_ char *cmd = NULL;
        struct delivery_message m = sample();
        struct outcome o = {};
        usec_t start = now_usec(CLOCK_MONOTONIC);

        assert_true(asprintf(&cmd, "%s %s", rec, f->dir) > 0);
        Channel *c = exec_channel(f, 0, "exec:sms", cmd, 500 * USEC_PER_MSEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 10 * USEC_PER_SEC);
        assert_true(o.done);
        assert_int_equal(o.error, -ETIMEDOUT);
        assert_false(o.permanent);
        assert_string_equal(o.detail, "timed out after 0.5s and was stopped (SIGTERM)");
        assert_true(o.at - start >= 450 * USEC_PER_MSEC);
        assert_true(o.at - start < 2 * USEC_PER_SEC);

        /* The script's own children got the SIGTERM too: the whole group was stopped. */
        reap_orphans(f, "children");
}

static void test_command_that_ignores_sigterm_is_killed(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *rec = script(f, "stubborn.sh",
                                          "trap '' TERM\nsleep 30 &\necho $! > \"$1/children\"\nwait\n");
        _cleanup_free_ char *cmd = NULL;
        struct delivery_message m = sample();
        struct outcome o = {};
        usec_t start = now_usec(CLOCK_MONOTONIC);

        assert_true(asprintf(&cmd, "%s %s", rec, f->dir) > 0);
        Channel *c = exec_channel(f, 0, "exec:sms", cmd, 300 * USEC_PER_MSEC, 300 * USEC_PER_MSEC);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 10 * USEC_PER_SEC);
        assert_int_equal(o.error, -ETIMEDOUT);
        assert_string_equal(o.detail, "timed out after 0.3s, ignored SIGTERM and was killed (SIGKILL) 0.3s later");
        assert_true(o.at - start >= 550 * USEC_PER_MSEC);
        assert_true(o.at - start < 2 * USEC_PER_SEC);
        /* Its child ignored SIGTERM as well (inherited); SIGKILL went to the group. */
        reap_orphans(f, "children");
}

static void test_missing_command_is_permanent_and_names_the_path(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *not_exec = NULL;
        struct delivery_message m = sample();
        struct outcome missing = {}, no_x = {}, not_in_path = {};

        Channel *c = exec_channel(f, 0, "exec:sms", "/usr/local/bin/sms-gammu-missing.sh {contact_phone}",
                                  5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &missing), 0);
        /* Known at once: no loop iteration needed. */
        assert_true(missing.done);
        assert_true(missing.permanent);
        assert_int_equal(missing.error, -ENOENT);
        assert_string_equal(missing.detail, "cannot run /usr/local/bin/sms-gammu-missing.sh: No such file or "
                                            "directory — check the command in [exec:sms]");

        not_exec = script(f, "noexec.sh", "exit 0");
        assert_int_equal(chmod(not_exec, 0644), 0);
        Channel *c2 = exec_channel(f, 1, "exec:noexec", not_exec, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c2, &m, on_done, &no_x), 0);
        assert_true(no_x.permanent);
        assert_int_equal(no_x.error, -EACCES);
        assert_non_null(strstr(no_x.detail, not_exec));

        Channel *c3 = exec_channel(f, 2, "exec:path", "sms-gammu-not-in-path", 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c3, &m, on_done, &not_in_path), 0);
        assert_true(not_in_path.permanent);
        assert_non_null(strstr(not_in_path.detail, "not found in PATH"));
}

static void test_wrapper_whose_program_is_missing_is_permanent(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *cmd = script(f, "wrapper.sh", "gammu-smsd-inject-not-installed TEXT \"$1\"\n");
        struct delivery_message m = sample();
        struct outcome o = {};

        Channel *c = exec_channel(f, 0, "exec:sms", cmd, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 10 * USEC_PER_SEC);
        assert_true(o.permanent);
        assert_true(startswith(o.detail, "exit status 127 (a program it runs was not found): "));
        assert_non_null(strstr(o.detail, "gammu-smsd-inject-not-installed"));
        assert_non_null(strstr(o.detail, "[exec:sms]"));
}

static void test_command_killed_by_a_signal_is_worth_retrying(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *cmd = script(f, "crash.sh", "kill -SEGV $$\n");
        struct delivery_message m = sample();
        struct outcome o = {};

        Channel *c = exec_channel(f, 0, "exec:sms", cmd, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 10 * USEC_PER_SEC);
        assert_true(o.error < 0);
        assert_false(o.permanent);
        assert_true(startswith(o.detail, "killed by signal 11 "));
}

/* ---- the loop ---------------------------------------------------------------------------------------- */

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        int *ticks = userdata;

        (*ticks)++;
        return sd_event_source_set_time_relative(s, 100 * USEC_PER_MSEC);
}

static void test_slow_command_does_not_block_the_loop(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *cmd = script(f, "slow.sh", "sleep 1\necho sent\n");
        struct delivery_message m = sample();
        struct outcome a = {}, b = {};
        sd_event_source *tick = NULL;
        int ticks = 0;
        usec_t start = now_usec(CLOCK_MONOTONIC);

        assert_int_equal(sd_event_add_time_relative(f->e, &tick, CLOCK_MONOTONIC, 100 * USEC_PER_MSEC, 1000, on_tick,
                                                    &ticks),
                         0);
        assert_int_equal(sd_event_source_set_enabled(tick, SD_EVENT_ON), 0);
        Channel *c = exec_channel(f, 0, "exec:sms", cmd, 5 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &a), 0);
        assert_int_equal(channel_send(c, &m, on_done, &b), 0);
        /* Sending returned at once; the timer ticks while both run. */
        assert_true(now_usec(CLOCK_MONOTONIC) - start < 200 * USEC_PER_MSEC);
        run_until_done(f->e, (struct outcome *[]){ &a, &b }, 2, 10 * USEC_PER_SEC);
        assert_int_equal(a.error, 0);
        assert_int_equal(b.error, 0);
        assert_string_equal(a.detail, "exit status 0: sent");
        assert_true(ticks >= 7);
        /* In parallel: both done after about one second, not two. */
        assert_true(b.at - start < 1800 * USEC_PER_MSEC);
        assert_true(a.at - start < 1800 * USEC_PER_MSEC);
        sd_event_source_disable_unref(tick);
}

static void test_freeing_the_channel_stops_running_commands_without_calling_back(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *cmd = script(f, "long.sh", "exec sleep 30\n");
        struct delivery_message m = sample();
        struct outcome o = {};

        Channel *c = exec_channel(f, 0, "exec:sms", cmd, 30 * USEC_PER_SEC, 0);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        assert_true(sd_event_run(f->e, 100 * USEC_PER_MSEC) >= 0);
        f->c[0] = channel_free(c);
        assert_false(o.done);
        /* teardown checks that no child is left */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_script_gets_the_alert_in_its_environment_and_as_json_on_stdin,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_shipped_gammu_wrapper_queues_the_whole_text_as_one_unicode_sms,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_quoted_words_in_the_command_stay_together, setup, teardown),
                cmocka_unit_test_setup_teardown(test_large_input_is_written_without_blocking, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_command_that_does_not_read_its_input_is_fine_even_without_sigpipe_ignored, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(test_exit_status_3_is_a_failure_with_what_the_command_said, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_sysexits_say_which_failures_are_final, setup, teardown),
                cmocka_unit_test_setup_teardown(test_long_output_is_cut_without_splitting_a_character, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_command_that_sleeps_past_the_timeout_is_stopped_with_its_children,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_command_that_ignores_sigterm_is_killed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_command_is_permanent_and_names_the_path, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_wrapper_whose_program_is_missing_is_permanent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_command_killed_by_a_signal_is_worth_retrying, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slow_command_does_not_block_the_loop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_freeing_the_channel_stops_running_commands_without_calling_back,
                                                setup, teardown),
        };

        /* As shouwangd's main(): SIGCHLD and friends blocked before the loop exists, SIGPIPE ignored. */
        assert_int_equal(manager_block_signals(), 0);
        /* Orphans of stopped scripts come to us, so the tests can reap them and prove they died. */
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
