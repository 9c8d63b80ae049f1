/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shouwangd and systemd's notify protocol, as a Type=notify unit with
 * WatchdogSec= runs it: a private NOTIFY_SOCKET bound by the test,
 * WATCHDOG_USEC=1000000 and WATCHDOG_PID set to the daemon's own pid (what
 * systemd does), a fresh database in a private directory, MQTT pointed at a
 * port where nobody listens (or at a private Mosquitto). READY=1 only once
 * the database exists and is private; WATCHDOG=1 from the loop; STATUS= that
 * follows the broker; SIGHUP reload, good and broken; SIGTERM → STOPPING=1 and
 * exit 0. Also --check-config on good, bad and missing files.
 * Everything through tests/lib/harness.h.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/stat.h>

#include "tests/lib/harness.h"

#define WAIT (5 * USEC_PER_SEC)
#define WATCHDOG_USEC 1000000 /* generous: the sanitizer build on a busy CI machine must not miss a ping */

struct fixture {
        char *dir, *conf, *db, *log, *bin;
        int closed_port; /* nobody listens there */
        HarnessNotify *notify;
        HarnessChild *daemon;
};

static int write_config(struct fixture *f, const char *gateway, const char *mqtt_uri)
{
        return harness_write_filef(f->conf,
                                   "# shouwangd under test\n"
                                   "[general]\n"
                                   "gateway = %s\n"
                                   "database = %s\n"
                                   "\n"
                                   "[mqtt]\n"
                                   "uri = %s\n"
                                   "reconnect_max = 1s   # come back quickly when the test starts a broker\n"
                                   "\n"
                                   "[gpio]\n"
                                   "retry_interval = 1s\n",
                                   gateway, f->db, mqtt_uri);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char uri[64];

        assert_non_null(f);
        assert_int_equal(harness_tmpdir("daemon-notify", &f->dir), 0);
        f->conf = harness_path(f->dir, "shouwang.conf");
        f->log = harness_path(f->dir, "shouwangd.log");
        /* A directory of its own, as StateDirectory= gives; the database is not there yet. */
        f->db = harness_path(f->dir, "state/shouwang.db");
        f->bin = harness_build_path("shouwangd");
        assert_non_null(f->conf);
        assert_non_null(f->log);
        assert_non_null(f->db);
        assert_non_null(f->bin);
        char *state_dir = harness_path(f->dir, "state");
        assert_int_equal(mkdir(state_dir, 0700), 0);
        free(state_dir);

        f->closed_port = harness_free_port();
        assert_true(f->closed_port > 0);
        snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", f->closed_port);
        assert_int_equal(write_config(f, "notifytest", uri), 0);
        assert_int_equal(harness_notify_new(f->dir, &f->notify), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        harness_child_free(f->daemon);
        harness_notify_free(f->notify);
        free(f->dir);
        free(f->conf);
        free(f->db);
        free(f->log);
        free(f->bin);
        free(f);
        return 0;
}

/* Start shouwangd as systemd would; extra: more arguments (NULL-terminated list, may be NULL). */
static void start_daemon_with(struct fixture *f, const char *watchdog_pid, char *const *extra)
{
        char notify[256], *argv[16], *env[8];
        size_t n = 0, e = 0;

        snprintf(notify, sizeof(notify), "NOTIFY_SOCKET=%s", harness_notify_path(f->notify));
        argv[n++] = f->bin;
        argv[n++] = "-c";
        argv[n++] = f->conf;
        for (; extra && *extra && n < ELEMENTSOF(argv) - 1; extra++)
                argv[n++] = *extra;
        argv[n] = NULL;
        env[e++] = notify;
        env[e++] = "WATCHDOG_USEC=1000000"; /* = WATCHDOG_USEC */
        env[e++] = "SHOUWANG_LOG_LEVEL";   /* removed: the config decides */
        env[e++] = "JOURNAL_STREAM";       /* removed: log to the file, not to a journal */
        env[e++] = (char *)watchdog_pid;   /* NULL (ours), or "WATCHDOG_PID=…" */
        env[e] = NULL;
        struct harness_spawn_args a = {
            .argv = argv, .env = env, .log = f->log, .watchdog_pid = !watchdog_pid};
        assert_int_equal(harness_spawn(&a, &f->daemon), 0);
}

static void start_daemon(struct fixture *f)
{
        start_daemon_with(f, NULL, NULL);
}

static pid_t daemon_pid(struct fixture *f)
{
        return harness_child_pid(f->daemon);
}

static void wait_ready(struct fixture *f, const char **ret_message)
{
        assert_int_equal(harness_notify_wait(f->notify, daemon_pid(f), "READY=1", WAIT, ret_message, NULL),
                         0);
}

static void stop_daemon_expecting_clean_exit(struct fixture *f)
{
        usec_t start = now_usec(CLOCK_MONOTONIC);

        assert_int_equal(kill(daemon_pid(f), SIGTERM), 0);
        assert_int_equal(
            harness_notify_wait(f->notify, daemon_pid(f), "STOPPING=1", 2 * USEC_PER_SEC, NULL, NULL), 0);
        assert_int_equal(harness_child_wait(f->daemon, 2 * USEC_PER_SEC), 0);
        assert_true(now_usec(CLOCK_MONOTONIC) - start < 2 * USEC_PER_SEC);
        assert_int_equal(harness_child_wait_line(f->daemon, "shouwangd stopped", USEC_PER_SEC), 0);
}

static void test_ready_only_once_the_private_database_exists(void **state)
{
        struct fixture *f = *state;
        const char *msg = NULL;
        struct stat st;

        assert_int_equal(stat(f->db, &st), -1);
        start_daemon(f);
        assert_int_equal(harness_child_wait_line(f->daemon, "starting: database", WAIT), 0);
        assert_int_equal(harness_count_lines(f->log, "gateway notifytest"), 1);
        wait_ready(f, &msg);

        /* By the time systemd hears READY=1, the database is there and nobody else may read it. */
        assert_int_equal(stat(f->db, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0600);

        /* READY=1 carries the first STATUS=: what it watches and where MQTT stands. */
        assert_non_null(strstr(msg, "STATUS=Watching 0 residents, 0 sensors"));
        assert_non_null(strstr(msg, "MQTT: connecting"));
        /* READY=1 is said once. */
        assert_int_equal(harness_notify_count(f->notify, "READY=1"), 1);
        stop_daemon_expecting_clean_exit(f);
}

static void test_watchdog_pings_come_from_the_loop_twice_per_interval(void **state)
{
        struct fixture *f = *state;
        usec_t prev = 0, when, longest = 0;

        start_daemon(f);
        wait_ready(f, NULL);
        /* sd-event pings at half of WATCHDOG_USEC; systemd would kill us after a full one without a ping. */
        for (int i = 0; i < 6; i++) {
                assert_int_equal(harness_notify_wait(f->notify, daemon_pid(f), "WATCHDOG=1",
                                                     WATCHDOG_USEC * 2, NULL, &when),
                                 0);
                if (prev && when - prev > longest)
                        longest = when - prev;
                prev = when;
        }
        print_message("longest gap between two WATCHDOG=1: %llu ms\n",
                      (unsigned long long)(longest / USEC_PER_MSEC));
        assert_true(longest < WATCHDOG_USEC);
        assert_true(harness_child_running(f->daemon));
        stop_daemon_expecting_clean_exit(f);
}

static void test_watchdog_meant_for_another_process_is_left_alone(void **state)
{
        struct fixture *f = *state;

        /* WATCHDOG_PID names someone else (a shell that exec'd us would be itself): not our watchdog. */
        start_daemon_with(f, "WATCHDOG_PID=1", NULL);
        wait_ready(f, NULL);
        assert_int_equal(
            harness_notify_expect_none(f->notify, daemon_pid(f), "WATCHDOG=1", 3 * WATCHDOG_USEC / 2), 0);
        stop_daemon_expecting_clean_exit(f);
}

static void test_no_broker_it_keeps_trying_and_says_so(void **state)
{
        struct fixture *f = *state;
        char line[128];

        start_daemon(f);
        wait_ready(f, NULL);
        snprintf(line, sizeof(line), "MQTT: cannot connect to tcp://127.0.0.1:%d", f->closed_port);
        assert_int_equal(harness_child_wait_line(f->daemon, line, WAIT), 0);
        /* ...and again, with reconnect_max = 1s. */
        assert_int_equal(harness_child_wait_line(f->daemon, line, WAIT), 0);
        assert_true(harness_child_running(f->daemon));
        assert_non_null(harness_notify_last(f->notify, "STATUS"));
        assert_non_null(strstr(harness_notify_last(f->notify, "STATUS"), "MQTT: connecting"));
        stop_daemon_expecting_clean_exit(f);
}

static void test_status_follows_the_broker_coming_and_going(void **state)
{
        struct fixture *f = *state;
        _cleanup_(harness_broker_freep) HarnessBroker *b = NULL;

        assert_int_equal(harness_broker_start(f->dir, NULL, &b), 0);
        assert_int_equal(write_config(f, "notifytest", harness_broker_uri(b)), 0);
        start_daemon(f);
        wait_ready(f, NULL);
        assert_int_equal(harness_notify_wait(f->notify, daemon_pid(f), "MQTT: connected", WAIT, NULL, NULL),
                         0);

        assert_int_equal(harness_broker_stop(b), 0);
        assert_int_equal(harness_notify_wait(f->notify, daemon_pid(f), "MQTT: connecting", WAIT, NULL, NULL),
                         0);
        assert_true(harness_child_running(f->daemon));

        assert_int_equal(harness_broker_restart(b), 0);
        assert_int_equal(harness_notify_wait(f->notify, daemon_pid(f), "MQTT: connected", WAIT, NULL, NULL),
                         0);
        stop_daemon_expecting_clean_exit(f);
}

static void test_reload_with_a_good_file_takes_the_new_settings(void **state)
{
        struct fixture *f = *state;
        char uri[64], line[128];
        int other_port = harness_free_port();

        start_daemon(f);
        wait_ready(f, NULL);

        snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", other_port);
        assert_int_equal(write_config(f, "notifytest", uri), 0);
        assert_int_equal(kill(daemon_pid(f), SIGHUP), 0);
        assert_int_equal(harness_notify_wait(f->notify, daemon_pid(f), "RELOADING=1", WAIT, NULL, NULL), 0);
        assert_int_equal(harness_notify_wait(f->notify, daemon_pid(f), "READY=1", WAIT, NULL, NULL), 0);
        assert_int_equal(harness_child_wait_line(f->daemon, "Reloaded", WAIT), 0);
        /* The new broker address is the one it now tries. */
        snprintf(line, sizeof(line), "MQTT: cannot connect to %s", uri);
        assert_int_equal(harness_child_wait_line(f->daemon, line, WAIT), 0);
        assert_int_equal(harness_notify_wait(f->notify, daemon_pid(f), "WATCHDOG=1", WAIT, NULL, NULL), 0);
        stop_daemon_expecting_clean_exit(f);
}

static void test_reload_with_a_broken_file_keeps_running_on_the_old_settings(void **state)
{
        struct fixture *f = *state;

        start_daemon(f);
        wait_ready(f, NULL);

        assert_int_equal(harness_write_file(f->conf, "[general]\n"
                                                     "# someone edited this in a hurry\n"
                                                     "gatway = lane17\n"
                                                     "\n"
                                                     "[mqtt]\n"
                                                     "uri = http://broker\n"
                                                     "keepalive = soon\n"),
                         0);
        assert_int_equal(kill(daemon_pid(f), SIGHUP), 0);
        assert_int_equal(harness_child_wait_line(f->daemon, "Not reloading", WAIT), 0);
        /* The problems follow that line: wait for the last one before counting. */
        assert_int_equal(harness_child_wait_line(f->daemon, "shouwang.conf:7: [mqtt] keepalive = soon", WAIT), 0);
        /* Every problem, each with file and line, in the log an admin reads. */
        assert_int_equal(harness_count_lines(f->log,
                                             "shouwang.conf:3: [general] unknown key 'gatway' — did you "
                                             "mean 'gateway'?"),
                         1);
        assert_int_equal(harness_count_lines(f->log, "shouwang.conf:6: [mqtt] uri = http://broker"), 1);
        assert_int_equal(harness_count_lines(f->log, "shouwang.conf:7: [mqtt] keepalive = soon"), 1);
        /* systemd is told the reload is over, and the daemon lives on with what it had. */
        assert_int_equal(harness_notify_wait(f->notify, daemon_pid(f), "READY=1", WAIT, NULL, NULL), 0);
        assert_int_equal(harness_notify_wait(f->notify, daemon_pid(f), "WATCHDOG=1", WAIT, NULL, NULL), 0);
        assert_true(harness_child_running(f->daemon));
        assert_non_null(strstr(harness_notify_last(f->notify, "STATUS"), "Watching 0 residents"));
        assert_int_equal(harness_count_lines(f->log, "Reloaded"), 0);
        stop_daemon_expecting_clean_exit(f);
}

static void test_sigint_stops_as_cleanly_as_sigterm(void **state)
{
        struct fixture *f = *state;

        start_daemon(f);
        wait_ready(f, NULL);
        assert_int_equal(harness_child_stop(f->daemon, SIGINT, 2 * USEC_PER_SEC), 0);
        assert_int_equal(harness_notify_count(f->notify, "STOPPING=1"), 1);
}

static void test_database_option_overrides_the_config(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *other = harness_path(f->dir, "other.db");
        char *const extra[] = {"--database", other, NULL};
        struct stat st;

        start_daemon_with(f, NULL, extra);
        wait_ready(f, NULL);
        assert_int_equal(stat(other, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(stat(f->db, &st), -1);
        stop_daemon_expecting_clean_exit(f);
}

static void test_unopenable_database_means_no_ready_and_exit_5(void **state)
{
        struct fixture *f = *state;
        char *const extra[] = {"--database", "/nonexistent/shouwang/shouwang.db", NULL};

        start_daemon_with(f, NULL, extra);
        assert_int_equal(harness_child_wait(f->daemon, WAIT), 5);
        assert_int_equal(harness_notify_count(f->notify, "READY=1"), 0);
        assert_int_equal(harness_count_lines(f->log, "/nonexistent/shouwang/shouwang.db"), 2);
}

static void test_broken_config_at_start_means_exit_3_and_every_line(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(
            harness_write_file(f->conf, "[general]\nfoo = bar\n[mqtt]\nkeepalive = 0.5 fortnights\n"), 0);
        start_daemon(f);
        assert_int_equal(harness_child_wait(f->daemon, WAIT), 3);
        assert_int_equal(harness_count_lines(f->log, "shouwang.conf:2: [general] unknown key 'foo'"), 1);
        assert_int_equal(harness_count_lines(f->log, "shouwang.conf:4: [mqtt] keepalive"), 1);
        assert_int_equal(harness_notify_count(f->notify, "READY=1"), 0);
}

/* Run shouwangd --check-config -c path; *output (freed first) gets what it printed. */
static int check_config(struct fixture *f, const char *path, char **output)
{
        char *const argv[] = {f->bin, "--check-config", "-c", (char *)path, NULL};

        free(*output);
        *output = NULL;
        return harness_run(argv, NULL, WAIT, output);
}

static void test_check_config_good_file_exits_0_with_a_summary(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *out = NULL;

        assert_int_equal(check_config(f, f->conf, &out), 0);
        assert_non_null(strstr(out, "shouwang.conf: ok"));
        assert_non_null(strstr(out, "gateway:   notifytest"));
        assert_non_null(strstr(out, f->db));
        /* Checking is only reading: no database appears. */
        assert_int_equal(access(f->db, F_OK), -1);
}

static void test_check_config_bad_file_exits_3_naming_file_and_line(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *out = NULL, *missing = harness_path(f->dir, "missing.conf");

        assert_int_equal(harness_write_file(f->conf, "[general]\n"
                                                     "gateway = a/b\n"
                                                     "\n"
                                                     "[mqtt]\n"
                                                     "  uri = tcp://127.0.0.1:1883\n"
                                                     "  password = hunter2\n"
                                                     "  keepalive = 30s # the default\n"
                                                     "username = gw\n"
                                                     "  more of the user name\n"
                                                     "[htpp]\n"
                                                     "listen = 1\n"),
                         0);
        assert_int_equal(check_config(f, f->conf, &out), 3);
        assert_non_null(strstr(out, "shouwang.conf:2: [general] gateway = a/b: one MQTT topic level"));
        assert_non_null(strstr(out, "shouwang.conf:6: [mqtt] password: passwords do not go in the config"));
        assert_non_null(strstr(out, "password_file"));
        assert_non_null(strstr(out, "shouwang.conf:9: 'more of the user name' is not a [section]"));
        assert_non_null(strstr(out, "shouwang.conf:10: unknown section [htpp] — did you mean [http]?"));
        assert_non_null(strstr(out, "4 problems"));

        assert_int_equal(check_config(f, missing, &out), 3);
        assert_non_null(strstr(out, "missing.conf: cannot read the config: No such file or directory"));
        assert_int_equal(check_config(f, f->dir, &out), 3);
        assert_non_null(strstr(out, "Is a directory"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
            T(test_ready_only_once_the_private_database_exists),
            T(test_watchdog_pings_come_from_the_loop_twice_per_interval),
            T(test_watchdog_meant_for_another_process_is_left_alone),
            T(test_no_broker_it_keeps_trying_and_says_so),
            T(test_status_follows_the_broker_coming_and_going),
            T(test_reload_with_a_good_file_takes_the_new_settings),
            T(test_reload_with_a_broken_file_keeps_running_on_the_old_settings),
            T(test_sigint_stops_as_cleanly_as_sigterm),
            T(test_database_option_overrides_the_config),
            T(test_unopenable_database_means_no_ready_and_exit_5),
            T(test_broken_config_at_start_means_exit_3_and_every_line),
            T(test_check_config_good_file_exits_0_with_a_summary),
            T(test_check_config_bad_file_exits_3_naming_file_and_line),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
