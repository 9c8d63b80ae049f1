/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shouwangd as systemd runs it: a private NOTIFY_SOCKET (an AF_UNIX datagram
 * socket bound by the test) and WATCHDOG_USEC. No broker is reachable and
 * the GPIO chip is missing: it must start anyway, say so, send READY=1 once
 * the database exists (mode 0600), keep sending WATCHDOG=1, reload on
 * SIGHUP (and keep the old settings when the new file is broken), and stop
 * cleanly on SIGTERM. Also --check-config, --help, --version.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "daemon/util.h"

struct fixture {
        char dir[64];
        char conf[128], db[128], log[128], sock[128];
        int notify_fd;
        pid_t pid;
        int port;
};

static const char *build_path(const char *rel, char *buf, size_t size)
{
        const char *top = getenv("SHOUWANG_TOP"), *build = getenv("BUILD");
        snprintf(buf, size, "%s/%s/%s", top ? top : ".", build ? build : "build", rel);
        return buf;
}

static int free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
        port = ntohs(a.sin_port);
        close(fd);
        return port;
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void write_good_config(struct fixture *f)
{
        char text[1024];
        snprintf(text, sizeof(text),
                 "# a test gateway\n"
                 "[general]\n"
                 "gateway = test\n"
                 "database = %s\n"
                 "\n"
                 "[mqtt]\n"
                 "uri = tcp://127.0.0.1:%d\n"
                 "reconnect_max = 1s\n"
                 "\n"
                 "[gpio]\n"
                 "retry_interval = 1s\n",
                 f->db, f->port);
        write_file(f->conf, text);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char cmd[512], ctl[256], top[256];

        strcpy(f->dir, "/tmp/shouwang-test-daemon-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->conf, sizeof(f->conf), "%s/shouwang.conf", f->dir);
        snprintf(f->db, sizeof(f->db), "%s/state/shouwang.db", f->dir);
        snprintf(f->log, sizeof(f->log), "%s/shouwangd.log", f->dir);
        snprintf(f->sock, sizeof(f->sock), "%s/notify", f->dir);
        snprintf(cmd, sizeof(cmd), "%s/state", f->dir);
        assert_int_equal(mkdir(cmd, 0700), 0);
        f->port = free_port(); /* nobody listens there */
        write_good_config(f);

        /* A roster with an MQTT sensor and a GPIO sensor on a chip that does not exist. */
        snprintf(top, sizeof(top), "%s", getenv("SHOUWANG_TOP") ? getenv("SHOUWANG_TOP") : ".");
        build_path("shouwangctl", ctl, sizeof(ctl));
        snprintf(cmd, sizeof(cmd),
                 "%s --db %s import residents %s/examples/residents.csv >/dev/null && "
                 "%s --db %s import sensors %s/examples/sensors.csv >/dev/null",
                 ctl, f->db, top, ctl, f->db, top);
        assert_int_equal(system(cmd), 0);
        /* Someone copied the database with loose permissions: the daemon makes it private again. */
        assert_int_equal(chmod(f->db, 0644), 0);

        f->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(f->notify_fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
        assert_int_equal(bind(f->notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        f->pid = -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        if (f->pid > 0) {
                kill(f->pid, SIGKILL);
                waitpid(f->pid, NULL, 0);
        }
        close(f->notify_fd);
        if (!getenv("KEEP_TEST_DIR")) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
                assert_int_equal(system(cmd), 0);
        }
        free(f);
        return 0;
}

static void start_daemon(struct fixture *f)
{
        char bin[256];

        build_path("shouwangd", bin, sizeof(bin));
        f->pid = fork();
        assert_true(f->pid >= 0);
        if (f->pid == 0) {
                int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
                dup2(fd, STDERR_FILENO);
                dup2(fd, STDOUT_FILENO);
                setenv("NOTIFY_SOCKET", f->sock, 1);
                setenv("WATCHDOG_USEC", "200000", 1);
                unsetenv("WATCHDOG_PID");
                execl(bin, "shouwangd", "-c", f->conf, NULL);
                _exit(127);
        }
}

/* Wait for a notification containing `what`; the datagram text goes to buf. */
static bool wait_notify(struct fixture *f, const char *what, int timeout_ms, char *buf, size_t size)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)timeout_ms * USEC_PER_MSEC;
        char tmp[4096];

        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= end)
                        return false;
                struct pollfd p = { .fd = f->notify_fd, .events = POLLIN };
                if (poll(&p, 1, (int)((end - now) / USEC_PER_MSEC) + 1) <= 0)
                        continue;
                ssize_t n = recv(f->notify_fd, tmp, sizeof(tmp) - 1, 0);
                if (n <= 0)
                        continue;
                tmp[n] = '\0';
                if (strstr(tmp, what)) {
                        if (buf)
                                snprintf(buf, size, "%s", tmp);
                        return true;
                }
        }
}

static bool log_contains(struct fixture *f, const char *what, int timeout_ms)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)timeout_ms * USEC_PER_MSEC;
        do {
                char *data = NULL;
                if (read_full_file(f->log, &data, NULL) == 0) {
                        bool found = strstr(data, what) != NULL;
                        free(data);
                        if (found)
                                return true;
                }
                usleep(20000);
        } while (now_usec(CLOCK_MONOTONIC) < end);
        return false;
}

/* Is a library whose file name contains `name` mapped into process pid? */
static bool maps_contain(pid_t pid, const char *name)
{
        char path[64], *data = NULL;
        bool found;

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        assert_int_equal(read_full_file(path, &data, NULL), 0);
        found = strstr(data, name) != NULL;
        free(data);
        return found;
}

static void test_ready_watchdog_status_without_broker_or_gpio_chip(void **state)
{
        struct fixture *f = *state;
        char msg[4096];
        struct stat st;

        start_daemon(f);
        assert_true(wait_notify(f, "READY=1", 5000, msg, sizeof(msg)));
        /* The database exists, private, by the time READY=1 is sent. */
        assert_int_equal(stat(f->db, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_non_null(strstr(msg, "STATUS=Watching 3 residents, 8 sensors"));

        /* WATCHDOG=1 keeps coming, about every 100 ms for a 200 ms WatchdogSec. */
        assert_true(wait_notify(f, "WATCHDOG=1", 1000, NULL, 0));
        assert_true(wait_notify(f, "WATCHDOG=1", 1000, NULL, 0));
        assert_true(wait_notify(f, "WATCHDOG=1", 1000, NULL, 0));

        /* Only what this configuration needs is loaded (docs/performance.md, figure 4): Paho's plain
         * build for tcp://, and neither libcurl (no webhook) nor OpenSSL (no TLS). */
        assert_true(maps_contain(f->pid, "libpaho-mqtt3c.so"));
        assert_false(maps_contain(f->pid, "libpaho-mqtt3cs.so"));
        assert_false(maps_contain(f->pid, "libcurl.so"));
        assert_false(maps_contain(f->pid, "libcrypto.so"));
        assert_false(maps_contain(f->pid, "libssl.so"));
        assert_false(maps_contain(f->pid, "libmicrohttpd.so"));

        /* It says what is missing, and keeps trying. */
        assert_true(log_contains(f, "MQTT: cannot connect to tcp://127.0.0.1", 3000));
        assert_true(log_contains(f, "GPIO: cannot open chip gpiochip0 for sensor S201-door (line 17)", 3000));
        assert_int_equal(waitpid(f->pid, NULL, WNOHANG), 0);

        kill(f->pid, SIGTERM);
        assert_true(wait_notify(f, "STOPPING=1", 3000, NULL, 0));
        int status;
        assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
        f->pid = -1;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* A webhook channel loads libcurl when it is set up; an ssl:// broker, Paho's TLS build. */
static void test_webhook_and_tls_load_their_libraries(void **state)
{
        struct fixture *f = *state;
        char text[1024], ca[300];

        /* Not a certificate: nobody listens on the port, so it is never read for a handshake. */
        snprintf(ca, sizeof(ca), "%s/ca.crt", f->dir);
        write_file(ca, "not a certificate\n");
        snprintf(text, sizeof(text),
                 "[general]\n"
                 "gateway = test\n"
                 "database = %s\n"
                 "[mqtt]\n"
                 "uri = ssl://127.0.0.1:%d\n"
                 "ca_file = %s\n"
                 "reconnect_max = 1s\n"
                 "[gpio]\n"
                 "enabled = no\n"
                 "[webhook:ntfy]\n"
                 "url = http://127.0.0.1:%d/alerts\n",
                 f->db, f->port, ca, f->port);
        write_file(f->conf, text);
        start_daemon(f);
        assert_true(wait_notify(f, "READY=1", 5000, NULL, 0));
        assert_true(maps_contain(f->pid, "libcurl.so"));
        assert_true(maps_contain(f->pid, "libpaho-mqtt3cs.so"));
        assert_false(maps_contain(f->pid, "libpaho-mqtt3c.so."));
        kill(f->pid, SIGTERM);
        assert_true(wait_notify(f, "STOPPING=1", 3000, NULL, 0));
        assert_int_equal(waitpid(f->pid, NULL, 0), f->pid);
        f->pid = -1;
}

static void test_reload_keeps_old_settings_when_new_file_is_broken(void **state)
{
        struct fixture *f = *state;

        start_daemon(f);
        assert_true(wait_notify(f, "READY=1", 5000, NULL, 0));

        kill(f->pid, SIGHUP);
        assert_true(wait_notify(f, "RELOADING=1", 3000, NULL, 0));
        assert_true(wait_notify(f, "READY=1", 3000, NULL, 0));
        assert_true(log_contains(f, "Reloaded", 2000));

        write_file(f->conf, "[general]\ngatway = oops\n[mqtt]\nuri = http://nope\n");
        kill(f->pid, SIGHUP);
        assert_true(wait_notify(f, "READY=1", 3000, NULL, 0));
        assert_true(log_contains(f, "Not reloading", 2000));
        assert_true(log_contains(f, "shouwang.conf:2: [general] unknown key 'gatway' — did you mean 'gateway'?", 2000));
        assert_true(log_contains(f, "shouwang.conf:4: [mqtt] uri = http://nope", 2000));
        /* Still alive and well. */
        assert_true(wait_notify(f, "WATCHDOG=1", 1000, NULL, 0));
        assert_int_equal(waitpid(f->pid, NULL, WNOHANG), 0);

        kill(f->pid, SIGINT);
        int status;
        assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
        f->pid = -1;
        assert_int_equal(WEXITSTATUS(status), 0);
}

static int run(const char *cmd, char *out, size_t size)
{
        FILE *p = popen(cmd, "r");
        size_t n;
        assert_non_null(p);
        n = fread(out, 1, size - 1, p);
        out[n] = '\0';
        int st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_check_config_names_every_problem_with_its_line(void **state)
{
        struct fixture *f = *state;
        char bin[256], cmd[512], out[8192];

        build_path("shouwangd", bin, sizeof(bin));
        snprintf(cmd, sizeof(cmd), "%s --check-config -c %s 2>&1", bin, f->conf);
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_non_null(strstr(out, ": ok"));
        assert_non_null(strstr(out, "gateway:   test"));

        write_file(f->conf, "[general]\n"
                            "gateway = a/b\n"
                            "[mqtt]\n"
                            "password = hunter2\n"
                            "keepalive = soon\n"
                            "[htp]\n"
                            "listen = 1\n"
                            "[escalation]\n"
                            "tier_timeout_critical = 5min\n"
                            "tier_timeout_critical = 6min\n"
                            "[exec:sms]\n"
                            "timeout = 5s\n");
        assert_int_equal(run(cmd, out, sizeof(out)), 3);
        assert_non_null(strstr(out, "shouwang.conf:2: [general] gateway = a/b: one MQTT topic level"));
        assert_non_null(strstr(out, "shouwang.conf:4: [mqtt] password: passwords do not go in the config"));
        assert_non_null(strstr(out, "shouwang.conf:5: [mqtt] keepalive = soon: write a duration"));
        assert_non_null(strstr(out, "shouwang.conf:6: unknown section [htp] — did you mean [http]?"));
        assert_non_null(strstr(out, "shouwang.conf:10: [escalation] tier_timeout_critical is set twice"));
        assert_non_null(strstr(out, "shouwang.conf:11: [exec:sms] has no command"));
        assert_non_null(strstr(out, "6 problems"));

        snprintf(cmd, sizeof(cmd), "%s --check-config -c %s/missing.conf 2>&1", bin, f->dir);
        assert_int_equal(run(cmd, out, sizeof(out)), 3);
        assert_non_null(strstr(out, "missing.conf: cannot read the config: No such file or directory"));

        snprintf(cmd, sizeof(cmd), "%s --version", bin);
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_non_null(strstr(out, "shouwangd "));
        snprintf(cmd, sizeof(cmd), "%s --help", bin);
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_non_null(strstr(out, "--check-config"));
        snprintf(cmd, sizeof(cmd), "%s --bogus 2>&1", bin);
        assert_int_equal(run(cmd, out, sizeof(out)), 2);
}

static void test_broken_config_at_start_names_the_problem_and_exits(void **state)
{
        struct fixture *f = *state;
        int status;

        write_file(f->conf, "[general]\ndatabase = /tmp/x.db\nfoo = bar\n");
        start_daemon(f);
        assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
        f->pid = -1;
        assert_int_equal(WEXITSTATUS(status), 3);
        assert_true(log_contains(f, "shouwang.conf:3: [general] unknown key 'foo'", 1000));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_ready_watchdog_status_without_broker_or_gpio_chip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_webhook_and_tls_load_their_libraries, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reload_keeps_old_settings_when_new_file_is_broken, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_config_names_every_problem_with_its_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broken_config_at_start_names_the_problem_and_exits, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
