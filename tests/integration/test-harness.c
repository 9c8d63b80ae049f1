/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The test harness itself (tests/lib/harness.h): every integration test
 * trusts it to start and clean up processes, to wait without sleeping, to
 * read the notify socket and to run a private Mosquitto, so it gets tests of
 * its own. Where a test needs a fresh process (cleanup at exit, dying with
 * the test program) it runs this program again in a helper mode.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "tests/lib/harness.h"

#define WAIT (5 * USEC_PER_SEC)
#define SH "/bin/sh"

static char *dir;

/* A process that is gone, or a zombie nobody reaped (PID 1 of a container may not). */
static bool process_gone(pid_t pid)
{
        char path[64], *stat = NULL;
        bool gone;

        if (kill(pid, 0) < 0 && errno == ESRCH)
                return true;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (read_full_file(path, &stat, NULL) < 0)
                return true;
        const char *p = strrchr(stat, ')');
        gone = p && p[1] == ' ' && p[2] == 'Z';
        free(stat);
        return gone;
}

static bool wait_gone(pid_t pid, usec_t timeout)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;

        /* Someone else's process: no pidfd-free way to be told, so look every 10 ms. */
        while (!process_gone(pid))
                if (now_usec(CLOCK_MONOTONIC) > end)
                        return false;
                else
                        usleep(10000);
        return true;
}

static void test_spawn_passes_env_and_logs_both_streams(void **state)
{
        _cleanup_free_ char *log = harness_path(dir, "spawn.log");
        char *const argv[] = {SH, "-c",
                              "echo \"foo=$FOO home=${HOME-unset}\"; echo \"wd=$WATCHDOG_PID self=$$\" >&2; "
                              "read line || echo stdin-empty",
                              NULL};
        char *const env[] = {"FOO=bar", "HOME", NULL};
        struct harness_spawn_args a = {.argv = argv, .env = env, .log = log, .watchdog_pid = true};
        _cleanup_(harness_child_freep) HarnessChild *c = NULL;
        char self[64];

        assert_int_equal(harness_spawn(&a, &c), 0);
        assert_int_equal(harness_child_wait_line(c, "foo=bar home=unset", WAIT), 0);
        snprintf(self, sizeof(self), "wd=%d self=%d", (int)harness_child_pid(c), (int)harness_child_pid(c));
        assert_int_equal(harness_child_wait_line(c, self, WAIT), 0);
        assert_int_equal(harness_child_wait_line(c, "stdin-empty", WAIT), 0);
        assert_int_equal(harness_child_wait(c, WAIT), 0);
        assert_false(harness_child_running(c));
}

static void test_a_program_that_cannot_run_is_reported_at_spawn(void **state)
{
        char *const argv[] = {"/nonexistent/shouwangd", NULL};
        struct harness_spawn_args a = {.argv = argv};
        HarnessChild *c = NULL;

        assert_int_equal(harness_spawn(&a, &c), -ENOENT);
        assert_null(c);
}

static void test_waiting_for_a_line_stops_when_the_child_dies(void **state)
{
        _cleanup_free_ char *log = harness_path(dir, "dies.log");
        char *const argv[] = {SH, "-c", "echo first; echo second; exit 3", NULL};
        struct harness_spawn_args a = {.argv = argv, .log = log};
        _cleanup_(harness_child_freep) HarnessChild *c = NULL;
        usec_t start = now_usec(CLOCK_MONOTONIC);

        assert_int_equal(harness_spawn(&a, &c), 0);
        assert_int_equal(harness_child_wait_line(c, "second", WAIT), 0);
        /* The next wait continues after "second": "first" is not found again. */
        assert_int_equal(harness_child_wait_line(c, "first", WAIT), -ECHILD);
        assert_true(now_usec(CLOCK_MONOTONIC) - start < USEC_PER_SEC);
        assert_int_equal(harness_child_wait(c, WAIT), 3);
        assert_int_equal(harness_count_lines(log, "first"), 1);
}

static void test_stop_times_out_on_a_stubborn_child_and_free_kills_its_group(void **state)
{
        _cleanup_free_ char *log = harness_path(dir, "stubborn.log");
        char *const argv[] = {SH, "-c", "trap '' TERM; sleep 30 & echo \"grandchild $!\"; wait", NULL};
        struct harness_spawn_args a = {.argv = argv, .log = log};
        HarnessChild *c = NULL;
        _cleanup_free_ char *text = NULL;
        int grandchild = 0;

        assert_int_equal(harness_spawn(&a, &c), 0);
        assert_int_equal(harness_child_wait_line(c, "grandchild", WAIT), 0);
        assert_int_equal(read_full_file(log, &text, NULL), 0);
        assert_int_equal(sscanf(strstr(text, "grandchild"), "grandchild %d", &grandchild), 1);

        assert_int_equal(harness_child_stop(c, SIGTERM, 100 * USEC_PER_MSEC), -ETIMEDOUT);
        assert_true(harness_child_running(c));
        pid_t pid = harness_child_pid(c);
        harness_child_free(c);
        assert_true(wait_gone(pid, WAIT));
        assert_true(wait_gone(grandchild, WAIT));
}

static void test_signal_death_is_reported_like_a_shell_does(void **state)
{
        char *const argv[] = {SH, "-c", "kill -KILL $$", NULL};
        struct harness_spawn_args a = {.argv = argv};
        _cleanup_(harness_child_freep) HarnessChild *c = NULL;

        assert_int_equal(harness_spawn(&a, &c), 0);
        assert_int_equal(harness_child_wait(c, WAIT), 128 + SIGKILL);
}

static void test_run_collects_output_status_and_kills_on_timeout(void **state)
{
        char *const argv[] = {SH, "-c", "echo out; echo err >&2; exit 4", NULL};
        char *const slow[] = {SH, "-c", "sleep 30", NULL};
        _cleanup_free_ char *out = NULL;
        usec_t start;

        assert_int_equal(harness_run(argv, NULL, WAIT, &out), 4);
        assert_non_null(strstr(out, "out\n"));
        assert_non_null(strstr(out, "err\n"));

        start = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(harness_run(slow, NULL, 100 * USEC_PER_MSEC, NULL), -ETIMEDOUT);
        assert_true(now_usec(CLOCK_MONOTONIC) - start < USEC_PER_SEC);
}

static void test_wait_line_sees_a_file_that_appears_later(void **state)
{
        _cleanup_free_ char *file = harness_path(dir, "later.txt"), *script = NULL;
        size_t offset = 0;

        /* The file does not exist yet; the writer then appends one line in two pieces. */
        assert_true(asprintf(&script, "sleep 0.05; printf 'part' >> %s; sleep 0.05; echo 'ial line' >> %s",
                             file, file) > 0);
        char *const argv[] = {SH, "-c", script, NULL};
        struct harness_spawn_args a = {.argv = argv};
        _cleanup_(harness_child_freep) HarnessChild *c = NULL;
        assert_int_equal(harness_spawn(&a, &c), 0);
        assert_int_equal(harness_wait_line(file, "ial line", &offset, 0, WAIT), 0);
        assert_int_equal(offset, strlen("partial line\n"));
        assert_int_equal(harness_wait_line(file, "ial line", &offset, 0, 50 * USEC_PER_MSEC), -ETIMEDOUT);
}

static void test_ports_free_and_listening(void **state)
{
        int port = harness_free_port();

        assert_true(port > 0);
        assert_int_equal(harness_wait_port(port, 0, 50 * USEC_PER_MSEC), -ETIMEDOUT);
}

static void test_notify_socket_keeps_every_message_in_order(void **state)
{
        _cleanup_(harness_notify_freep) HarnessNotify *n = NULL;
        const char *msg = NULL;

        assert_int_equal(harness_notify_new(dir, &n), 0);
        assert_int_equal(setenv("NOTIFY_SOCKET", harness_notify_path(n), 1), 0);
        assert_true(sd_notify(false, "STATUS=starting") > 0);
        assert_true(sd_notify(false, "WATCHDOG=1") > 0);
        assert_true(sd_notify(false, "READY=1\nSTATUS=Watching 3 residents") > 0);
        assert_true(sd_notify(false, "WATCHDOG=1") > 0);
        unsetenv("NOTIFY_SOCKET");

        /* Waiting for READY=1 does not lose the WATCHDOG=1 before it, and the sender's pid is known. */
        assert_int_equal(harness_notify_wait(n, getpid(), "READY=1", WAIT, &msg, NULL), 0);
        assert_non_null(strstr(msg, "STATUS=Watching 3 residents"));
        assert_int_equal(harness_notify_count(n, "WATCHDOG=1"), 2);
        assert_string_equal(harness_notify_last(n, "STATUS"), "Watching 3 residents");
        assert_int_equal(harness_notify_wait(n, getpid(), "WATCHDOG=1", WAIT, NULL, NULL), 0);
        assert_int_equal(harness_notify_expect_none(n, 0, "WATCHDOG=1", 20 * USEC_PER_MSEC), 0);
        /* Someone else's messages do not count as ours. */
        assert_int_equal(harness_notify_expect_none(n, 1, "READY=1", 0), 0);
}

static void test_broker_delivers_and_keeps_retained_messages_across_a_restart(void **state)
{
        _cleanup_(harness_broker_freep) HarnessBroker *b = NULL;
        _cleanup_(harness_child_freep) HarnessChild *sub = NULL, *sub2 = NULL;
        _cleanup_free_ char *log = harness_path(dir, "sub.log"), *log2 = harness_path(dir, "sub2.log");
        struct harness_broker_options o = {.persistence = true};

        assert_int_equal(harness_broker_start(dir, &o, &b), 0);
        assert_true(startswith(harness_broker_uri(b), "tcp://127.0.0.1:"));
        assert_null(harness_broker_ca_file(b));
        assert_int_equal(harness_broker_subscribe(b, "shouwang/#", log, &sub), 0);
        assert_int_equal(harness_broker_publish(b, "shouwang/gw/status", "online", true), 0);
        assert_int_equal(harness_child_wait_line(sub, "shouwang/gw/status online", WAIT), 0);
        assert_int_equal(harness_count_lines(harness_broker_log(b), " running"), 1);

        sub = harness_child_free(sub);
        assert_int_equal(harness_broker_restart(b), 0);
        assert_int_equal(harness_broker_subscribe(b, "shouwang/gw/status", log2, &sub2), 0);
        assert_int_equal(harness_child_wait_line(sub2, "shouwang/gw/status online", WAIT), 0);
}

static void test_broker_with_password_and_tls_refuses_strangers(void **state)
{
        _cleanup_(harness_broker_freep) HarnessBroker *b = NULL;
        _cleanup_free_ char *out = NULL;
        struct harness_broker_options o = {.username = "gateway", .password = "s3cret", .tls = true};
        char port[16];

        assert_int_equal(harness_broker_start(dir, &o, &b), 0);
        assert_true(startswith(harness_broker_uri(b), "ssl://127.0.0.1:"));
        assert_non_null(harness_broker_ca_file(b));
        assert_int_equal(harness_broker_publish(b, "t", "with the password", false), 0);

        snprintf(port, sizeof(port), "%d", harness_broker_port(b));
        char *const anonymous[] = {
            "/usr/bin/mosquitto_pub",          "-h", "127.0.0.1", "-p", port, "--cafile",
            (char *)harness_broker_ca_file(b), "-t", "t",         "-m", "x",  NULL};
        assert_int_not_equal(harness_run(anonymous, NULL, WAIT, &out), 0);
        char *const wrong[] = {"/usr/bin/mosquitto_pub",
                               "-h",
                               "127.0.0.1",
                               "-p",
                               port,
                               "--cafile",
                               (char *)harness_broker_ca_file(b),
                               "-u",
                               "gateway",
                               "-P",
                               "guess",
                               "-t",
                               "t",
                               "-m",
                               "x",
                               NULL};
        assert_int_not_equal(harness_run(wrong, NULL, WAIT, NULL), 0);
        char *const plain[] = {"/usr/bin/mosquitto_pub",
                               "-h",
                               "127.0.0.1",
                               "-p",
                               port,
                               "-u",
                               "gateway",
                               "-P",
                               "s3cret",
                               "-t",
                               "t",
                               "-m",
                               "x",
                               NULL};
        assert_int_not_equal(harness_run(plain, NULL, WAIT, NULL), 0);
}

/* ---- helper modes: this program run again as a fresh process --------------------------------- */

static char *self_path(void)
{
        char buf[4096];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = '\0';
        return strdup(buf);
}

/* Helper: make a temp dir, print it, exit with status. */
static int helper_tmpdir(int status)
{
        char *d = NULL;
        if (harness_tmpdir("helper", &d) < 0)
                return 99;
        printf("dir %s\n", d);
        fflush(stdout);
        free(d);
        return status;
}

/* Helper: start a long sleep, print its pid, then die at once by SIGKILL (no cleanup code runs). */
static int helper_orphan(void)
{
        char *const argv[] = {"/bin/sleep", "30", NULL};
        struct harness_spawn_args a = {.argv = argv};
        HarnessChild *c = NULL;

        if (harness_spawn(&a, &c) < 0)
                return 99;
        printf("child %d\n", (int)harness_child_pid(c));
        fflush(stdout);
        raise(SIGKILL);
        return 98;
}

static void test_temp_dir_removed_after_success_and_kept_after_failure(void **state)
{
        _cleanup_free_ char *self = self_path(), *out = NULL;
        char d[512];
        struct stat st;

        char *const ok[] = {self, "--helper-tmpdir", "0", NULL};
        char *const env[] = {"KEEP_TEST_DIR", NULL};
        assert_int_equal(harness_run(ok, env, WAIT, &out), 0);
        assert_int_equal(sscanf(out, "dir %511s", d), 1);
        assert_int_equal(stat(d, &st), -1);

        free(out);
        char *const failed[] = {self, "--helper-tmpdir", "1", NULL};
        assert_int_equal(harness_run(failed, env, WAIT, &out), 1);
        assert_int_equal(sscanf(out, "dir %511s", d), 1);
        assert_int_equal(stat(d, &st), 0);
        assert_non_null(strstr(out, "(a test failed)"));
        assert_int_equal(rmdir(d), 0);
}

static void test_children_die_with_the_test_program(void **state)
{
        _cleanup_free_ char *self = self_path(), *out = NULL;
        char *const argv[] = {self, "--helper-orphan", NULL};
        int child = 0;

        assert_int_equal(harness_run(argv, NULL, WAIT, &out), 128 + SIGKILL);
        assert_int_equal(sscanf(out, "child %d", &child), 1);
        assert_true(wait_gone(child, WAIT));
}

static int setup(void **state)
{
        return harness_tmpdir("harness", &dir) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
        free(dir);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 3 && streq(argv[1], "--helper-tmpdir"))
                return helper_tmpdir(atoi(argv[2]));
        if (argc == 2 && streq(argv[1], "--helper-orphan"))
                return helper_orphan();

        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_spawn_passes_env_and_logs_both_streams),
            cmocka_unit_test(test_a_program_that_cannot_run_is_reported_at_spawn),
            cmocka_unit_test(test_waiting_for_a_line_stops_when_the_child_dies),
            cmocka_unit_test(test_stop_times_out_on_a_stubborn_child_and_free_kills_its_group),
            cmocka_unit_test(test_signal_death_is_reported_like_a_shell_does),
            cmocka_unit_test(test_run_collects_output_status_and_kills_on_timeout),
            cmocka_unit_test(test_wait_line_sees_a_file_that_appears_later),
            cmocka_unit_test(test_ports_free_and_listening),
            cmocka_unit_test(test_notify_socket_keeps_every_message_in_order),
            cmocka_unit_test(test_broker_delivers_and_keeps_retained_messages_across_a_restart),
            cmocka_unit_test(test_broker_with_password_and_tls_refuses_strangers),
            cmocka_unit_test(test_temp_dir_removed_after_success_and_kept_after_failure),
            cmocka_unit_test(test_children_die_with_the_test_program),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
