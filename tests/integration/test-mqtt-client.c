/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MQTT transport (sensors/mqtt.c: Paho's synchronous client on sd-event) against a
 * real, private Mosquitto on a free loopback port, with its own config: no
 * broker at start, reconnect after a broker restart with QoS 1 messages sent
 * meanwhile delivered (persistent session), retained flag, TCP_NODELAY on
 * Paho's socket, and TLS with a password file where anonymous and wrong
 * passwords are refused (certificates made by the test with openssl); no
 * thread of Paho's while connected, a burst of messages over TCP and TLS,
 * keep-alive with nothing to say, new subscriptions while connected.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "daemon/util.h"
#include "sensors/mqtt.h"

struct broker {
        pid_t pid;
        int port;
        char conf[160];
};

struct fixture {
        char dir[64];
        struct broker b;
        sd_event *e;
        char got[64][256];
        bool got_retained[64];
        int n_got;
        int connected, lost, published_ok, published_err;
        int n_seen; /* every message, also beyond got[] */
        char last_reason[256];
};

static int free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
        port = ntohs(a.sin_port);
        close(fd);
        return port;
}

static bool port_open(int port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        return ok;
}

static void broker_start(struct fixture *f)
{
        char log[160];

        snprintf(log, sizeof(log), "%s/mosquitto.log", f->dir);
        f->b.pid = fork();
        assert_true(f->b.pid >= 0);
        if (f->b.pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
                dup2(fd, 1);
                dup2(fd, 2);
                execl("/usr/sbin/mosquitto", "mosquitto", "-c", f->b.conf, NULL);
                _exit(127);
        }
        for (int i = 0; i < 200 && !port_open(f->b.port); i++)
                usleep(10000);
        assert_true(port_open(f->b.port));
}

static void broker_stop(struct fixture *f)
{
        if (f->b.pid > 0) {
                kill(f->b.pid, SIGTERM);
                waitpid(f->b.pid, NULL, 0);
                f->b.pid = -1;
        }
}

/* A plain broker; persistence in memory survives only the process, so the
 * restart test keeps the broker's on-disk persistence in the temp dir. */
static void write_conf(struct fixture *f, const char *extra)
{
        FILE *c;

        f->b.port = free_port();
        snprintf(f->b.conf, sizeof(f->b.conf), "%s/mosquitto.conf", f->dir);
        c = fopen(f->b.conf, "w");
        assert_non_null(c);
        /* As root, Mosquitto would drop to its own user, which cannot read this
         * test's private directory: a test broker keeps the test's user. */
        fprintf(c, "listener %d 127.0.0.1\nset_tcp_nodelay true\npersistence true\npersistence_location %s/\n%s%s\n",
                f->b.port, f->dir, geteuid() == 0 ? "user root\n" : "", extra ? extra : "allow_anonymous true");
        fclose(c);
}

static void pub(struct fixture *f, const char *topic, const char *msg, bool retain, const char *extra_args)
{
        char cmd[768];
        snprintf(cmd, sizeof(cmd), "mosquitto_pub -h 127.0.0.1 -p %d -q 1 %s -t '%s' -m '%s' %s", f->b.port,
                 retain ? "-r" : "", topic, msg, extra_args ? extra_args : "");
        assert_int_equal(system(cmd), 0);
}

static int count_threads(void)
{
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* mosquitto_pub -l: one message per line of stdin, in one connection. */
static void pub_lines(struct fixture *f, const char *topic, int n, const char *extra_args)
{
        char cmd[768];
        FILE *p;

        snprintf(cmd, sizeof(cmd), "mosquitto_pub -h 127.0.0.1 -p %d -q 1 -t '%s' -l %s", f->b.port, topic,
                 extra_args ? extra_args : "");
        p = popen(cmd, "w");
        assert_non_null(p);
        for (int i = 0; i < n; i++)
                fprintf(p, "{\"seq\":%d}\n", i);
        assert_int_equal(pclose(p), 0);
}

static void on_message(MqttClient *c, const char *topic, const void *payload, size_t len, bool retained,
                       void *userdata)
{
        struct fixture *f = userdata;
        f->n_seen++;
        if (f->n_got < 64) {
                snprintf(f->got[f->n_got], sizeof(f->got[0]), "%s %.*s", topic, (int)len, (const char *)payload);
                f->got_retained[f->n_got] = retained;
                f->n_got++;
        }
}

static void on_state(MqttClient *c, bool connected, const char *reason, void *userdata)
{
        struct fixture *f = userdata;
        if (connected)
                f->connected++;
        else {
                f->lost++;
                snprintf(f->last_reason, sizeof(f->last_reason), "%s", strempty(reason));
        }
}

static void on_published(MqttClient *c, int error, void *userdata)
{
        struct fixture *f = userdata;
        if (error == 0)
                f->published_ok++;
        else
                f->published_err++;
}

/* Run the loop until *counter reaches want or timeout. */
static bool run_until(struct fixture *f, int *counter, int want, int timeout_ms)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)timeout_ms * USEC_PER_MSEC;
        while (*counter < want && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(f->e, 20 * USEC_PER_MSEC) >= 0);
        return *counter >= want;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        sigset_t ss;

        strcpy(f->dir, "/tmp/shouwang-test-mqtt-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        /* As the daemon does: signals blocked before Paho starts its threads. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGPIPE);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        assert_int_equal(sd_event_new(&f->e), 0);
        f->b.pid = -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        broker_stop(f);
        sd_event_unref(f->e);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static MqttClient *client(struct fixture *f, const char *uri, const char *id, const char *user, const char *pass,
                          const char *ca)
{
        MqttClient *c = NULL;
        struct mqtt_settings st = { .uri = uri, .client_id = id, .username = user, .password = pass, .ca_file = ca,
                                    .keepalive = 5 * USEC_PER_SEC, .reconnect_max = USEC_PER_SEC,
                                    .status_topic = "shouwang/test/status" };
        assert_int_equal(mqtt_client_new(f->e, &st, &c), 0);
        mqtt_client_set_callbacks(c, on_message, on_state, f);
        return c;
}

static void test_retained_state_is_flagged_and_fresh_messages_are_not(void **state)
{
        struct fixture *f = *state;
        char uri[64];
        struct mqtt_stats stats;

        write_conf(f, NULL);
        broker_start(f);
        pub(f, "zigbee2mqtt/r201-leak", "{\"water_leak\":true}", true, NULL);
        snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", f->b.port);
        MqttClient *c = client(f, uri, "test-retained", NULL, NULL, NULL);
        char *subs[] = { (char *)"zigbee2mqtt/r201-leak" };
        assert_int_equal(mqtt_client_set_subscriptions(c, subs, 1), 0);
        assert_int_equal(mqtt_client_start(c), 0);
        assert_true(run_until(f, &f->connected, 1, 5000));
        assert_true(run_until(f, &f->n_got, 1, 5000));
        assert_string_equal(f->got[0], "zigbee2mqtt/r201-leak {\"water_leak\":true}");
        assert_true(f->got_retained[0]);

        pub(f, "zigbee2mqtt/r201-leak", "{\"water_leak\":false}", false, NULL);
        assert_true(run_until(f, &f->n_got, 2, 5000));
        assert_false(f->got_retained[1]);

        /* Paho never sets TCP_NODELAY; we did, on its socket to the broker. */
        mqtt_client_get_stats(c, &stats);
        assert_true(stats.nodelay_set >= 1);

        /* Publish with a completion on the loop thread. */
        assert_int_equal(mqtt_client_publish(c, "shouwang/test/alerts/1", "{}", 2, 1, false, on_published, f), 0);
        assert_true(run_until(f, &f->published_ok, 1, 5000));
        /* An alert for a whole building: 200 publishes in one go, more than Paho's
         * default in-flight window, each completed once. */
        for (int i = 0; i < 200; i++)
                assert_int_equal(mqtt_client_publish(c, "shouwang/test/alerts/2", "{}", 2, 1, false, on_published, f),
                                 0);
        assert_true(run_until(f, &f->published_ok, 201, 5000));
        int dummy = 0;
        (void)run_until(f, &dummy, 1, 100);
        assert_int_equal(f->published_ok, 201);
        assert_int_equal(f->published_err, 0);
        mqtt_client_free(c);
}

static void test_no_broker_at_start_then_it_comes(void **state)
{
        struct fixture *f = *state;
        char uri[64];

        write_conf(f, NULL);
        snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", f->b.port);
        MqttClient *c = client(f, uri, "test-late", NULL, NULL, NULL);
        assert_int_equal(mqtt_client_start(c), 0);
        assert_true(run_until(f, &f->lost, 1, 5000)); /* the first attempt fails */
        assert_false(mqtt_client_is_connected(c));
        assert_int_equal(mqtt_client_publish(c, "x", "y", 1, 1, false, NULL, NULL), -ENOTCONN);
        broker_start(f);
        assert_true(run_until(f, &f->connected, 1, 8000));
        assert_true(mqtt_client_is_connected(c));
        mqtt_client_free(c);
}

static void test_broker_restart_loses_no_qos1_message(void **state)
{
        struct fixture *f = *state;
        char uri[64];

        write_conf(f, NULL);
        broker_start(f);
        snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", f->b.port);
        MqttClient *c = client(f, uri, "test-restart", NULL, NULL, NULL);
        char *subs[] = { (char *)"zigbee2mqtt/#" };
        assert_int_equal(mqtt_client_set_subscriptions(c, subs, 1), 0);
        assert_int_equal(mqtt_client_start(c), 0);
        assert_true(run_until(f, &f->connected, 1, 5000));
        /* Give the SUBSCRIBE time to be acknowledged before the broker goes. */
        pub(f, "zigbee2mqtt/probe", "1", false, NULL);
        assert_true(run_until(f, &f->n_got, 1, 5000));

        broker_stop(f);
        assert_true(run_until(f, &f->lost, 1, 5000));
        broker_start(f);
        /* Sent while we are still reconnecting: the persistent session keeps them for us. */
        pub(f, "zigbee2mqtt/r201-door", "{\"contact\":false}", false, NULL);
        pub(f, "zigbee2mqtt/r201-leak", "{\"water_leak\":true}", false, NULL);
        assert_true(run_until(f, &f->connected, 2, 8000));
        /* QoS 1 is at least once: the probe may come again; both new messages must come. */
        bool door = false, leak = false;
        usec_t end = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        while (!(door && leak) && now_usec(CLOCK_MONOTONIC) < end) {
                assert_true(sd_event_run(f->e, 20 * USEC_PER_MSEC) >= 0);
                for (int i = 1; i < f->n_got; i++) {
                        door = door || streq(f->got[i], "zigbee2mqtt/r201-door {\"contact\":false}");
                        leak = leak || streq(f->got[i], "zigbee2mqtt/r201-leak {\"water_leak\":true}");
                }
        }
        assert_true(door);
        assert_true(leak);
        mqtt_client_free(c);
}

static void test_connected_client_has_no_threads_and_survives_keepalive(void **state)
{
        struct fixture *f = *state;
        char uri[64];
        int threads = count_threads(), dummy = 0;

        write_conf(f, NULL);
        broker_start(f);
        snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", f->b.port);
        MqttClient *c = NULL;
        /* A 2 s keep-alive: the broker drops a client silent for 3 s. */
        struct mqtt_settings st = { .uri = uri, .client_id = "test-idle", .keepalive = 2 * USEC_PER_SEC,
                                    .reconnect_max = USEC_PER_SEC };
        assert_int_equal(mqtt_client_new(f->e, &st, &c), 0);
        mqtt_client_set_callbacks(c, on_message, on_state, f);
        char *subs[] = { (char *)"t/#" };
        assert_int_equal(mqtt_client_set_subscriptions(c, subs, 1), 0);
        assert_int_equal(mqtt_client_start(c), 0);
        assert_true(run_until(f, &f->connected, 1, 5000));
        /* The connect worker is gone: no thread polls on an idle gateway
         * (docs/performance.md figure 5 counts the wake-ups). */
        assert_int_equal(count_threads(), threads);

        /* Nothing to say for three keep-alive periods: the loop's timer lets
         * Paho ping, so the broker keeps us and nothing is reported lost. */
        (void)run_until(f, &dummy, 1, 6500);
        assert_int_equal(f->lost, 0);
        assert_true(mqtt_client_is_connected(c));
        pub(f, "t/after-idle", "1", false, NULL);
        assert_true(run_until(f, &f->n_got, 1, 5000));
        assert_string_equal(f->got[0], "t/after-idle 1");

        /* New subscriptions while connected reach the broker too. */
        char *more[] = { (char *)"t/#", (char *)"u/+" };
        assert_int_equal(mqtt_client_set_subscriptions(c, more, 2), 0);
        (void)run_until(f, &dummy, 1, 300);
        pub(f, "u/new", "2", false, NULL);
        assert_true(run_until(f, &f->n_got, 2, 5000));
        assert_string_equal(f->got[1], "u/new 2");
        assert_int_equal(f->lost, 0);
        mqtt_client_free(c);
}

static void test_a_burst_arrives_whole_and_in_order(void **state)
{
        struct fixture *f = *state;
        char uri[64];

        write_conf(f, "allow_anonymous true\nmax_queued_messages 0");
        broker_start(f);
        snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", f->b.port);
        MqttClient *c = client(f, uri, "test-burst", NULL, NULL, NULL);
        char *subs[] = { (char *)"burst/#" };
        assert_int_equal(mqtt_client_set_subscriptions(c, subs, 1), 0);
        assert_int_equal(mqtt_client_start(c), 0);
        assert_true(run_until(f, &f->connected, 1, 5000));
        pub(f, "burst/probe", "0", false, NULL);
        assert_true(run_until(f, &f->n_seen, 1, 5000));
        /* More than one loop iteration's worth (512) in one go. */
        pub_lines(f, "burst/x", 2000, NULL);
        assert_true(run_until(f, &f->n_seen, 2001, 10000));
        assert_string_equal(f->got[1], "burst/x {\"seq\":0}");
        assert_string_equal(f->got[63], "burst/x {\"seq\":62}");
        mqtt_client_free(c);
}

/* A broker that takes the TCP connection and never says CONNACK (a hung
 * Mosquitto, a firewall that half-works): the loop keeps running while the
 * connect waits — GPIO edges, timers and the watchdog cannot wait 10 s. */
static void test_a_broker_that_never_answers_does_not_stall_the_loop(void **state)
{
        struct fixture *f = *state;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        int lfd = socket(AF_INET, SOCK_STREAM, 0), dummy = 0;
        char uri[64];

        assert_true(lfd >= 0);
        assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(lfd, 4), 0); /* never accepted: the kernel completes the handshake */
        assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &l), 0);
        snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", ntohs(a.sin_port));
        MqttClient *c = client(f, uri, "test-hung", NULL, NULL, NULL);
        assert_int_equal(mqtt_client_start(c), 0);

        usec_t t0 = now_usec(CLOCK_MONOTONIC);
        (void)run_until(f, &dummy, 1, 500);
        /* Half a second of loop, not the 10 s connect timeout. */
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 3 * USEC_PER_SEC);
        assert_false(mqtt_client_is_connected(c));
        assert_int_equal(f->connected, 0);

        /* The "broker" goes away: the waiting connect fails, is reported, and is retried. */
        close(lfd);
        assert_true(run_until(f, &f->lost, 1, 15000));
        assert_int_equal(f->connected, 0);
        mqtt_client_free(c);
}

static void test_online_status_is_retained_and_clean_stop_says_offline(void **state)
{
        struct fixture *f = *state;
        char uri[64], cmd[256], buf[64] = "";
        FILE *p;

        write_conf(f, NULL);
        broker_start(f);
        snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", f->b.port);
        MqttClient *c = client(f, uri, "test-status", NULL, NULL, NULL);
        assert_int_equal(mqtt_client_start(c), 0);
        assert_true(run_until(f, &f->connected, 1, 5000));
        /* Let "online" reach the broker. */
        int dummy = 0;
        (void)run_until(f, &dummy, 1, 300);
        snprintf(cmd, sizeof(cmd), "mosquitto_sub -h 127.0.0.1 -p %d -t shouwang/test/status -C 1 -W 3", f->b.port);
        p = popen(cmd, "r");
        assert_non_null(fgets(buf, sizeof(buf), p));
        pclose(p);
        assert_string_equal(buf, "online\n");
        mqtt_client_free(c);
        p = popen(cmd, "r");
        assert_non_null(fgets(buf, sizeof(buf), p));
        pclose(p);
        assert_string_equal(buf, "offline\n");
}

static void test_tls_with_password_refuses_anonymous_and_wrong_passwords(void **state)
{
        struct fixture *f = *state;
        char cmd[1024], extra[512], uri[64], ca[128];

        /* A CA and a server certificate for 127.0.0.1, made here. */
        snprintf(cmd, sizeof(cmd),
                 "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key "
                 "-out ca.crt >/dev/null 2>&1 && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
                 "-keyout server.key -out server.csr >/dev/null 2>&1 && printf 'subjectAltName=IP:127.0.0.1\\n' > ext "
                 "&& openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext "
                 "-out server.crt >/dev/null 2>&1 && touch passwd && chmod 0600 passwd && mosquitto_passwd -b passwd "
                 "gateway 's3cret' && chmod 0644 server.key",
                 f->dir);
        assert_int_equal(system(cmd), 0);
        snprintf(extra, sizeof(extra),
                 "allow_anonymous false\npassword_file %s/passwd\ncafile %s/ca.crt\ncertfile %s/server.crt\n"
                 "keyfile %s/server.key\n",
                 f->dir, f->dir, f->dir, f->dir);
        write_conf(f, extra);
        broker_start(f);
        snprintf(uri, sizeof(uri), "ssl://127.0.0.1:%d", f->b.port);
        snprintf(ca, sizeof(ca), "%s/ca.crt", f->dir);

        MqttClient *anon = client(f, uri, "test-anon", NULL, NULL, ca);
        assert_int_equal(mqtt_client_start(anon), 0);
        assert_true(run_until(f, &f->lost, 1, 5000));
        assert_int_equal(f->connected, 0);
        assert_non_null(strstr(f->last_reason, "not authorised"));
        mqtt_client_free(anon);

        f->lost = 0;
        MqttClient *wrong = client(f, uri, "test-wrong", "gateway", "guess", ca);
        assert_int_equal(mqtt_client_start(wrong), 0);
        assert_true(run_until(f, &f->lost, 1, 5000));
        assert_int_equal(f->connected, 0);
        mqtt_client_free(wrong);

        MqttClient *good = client(f, uri, "test-good", "gateway", "s3cret", ca);
        char *subs[] = { (char *)"tls/#" };
        assert_int_equal(mqtt_client_set_subscriptions(good, subs, 1), 0);
        assert_int_equal(mqtt_client_start(good), 0);
        assert_true(run_until(f, &f->connected, 1, 5000));
        /* Over TLS OpenSSL may hold packets the socket no longer shows: all must come. */
        snprintf(extra, sizeof(extra), "--cafile %s -u gateway -P s3cret", ca);
        pub(f, "tls/probe", "0", false, extra);
        assert_true(run_until(f, &f->n_seen, 1, 5000));
        pub_lines(f, "tls/x", 500, extra);
        assert_true(run_until(f, &f->n_seen, 501, 10000));
        mqtt_client_free(good);
}

static void test_password_file_first_line_only(void **state)
{
        struct fixture *f = *state;
        char path[128];
        char *pw = NULL;

        snprintf(path, sizeof(path), "%s/pw", f->dir);
        FILE *p = fopen(path, "w");
        fputs("s3cret\r\nignored\n", p);
        fclose(p);
        assert_int_equal(mqtt_read_password_file(path, &pw), 0);
        assert_string_equal(pw, "s3cret");
        free(pw);
        assert_int_equal(mqtt_read_password_file("/nonexistent/pw", &pw), -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_retained_state_is_flagged_and_fresh_messages_are_not, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_no_broker_at_start_then_it_comes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broker_restart_loses_no_qos1_message, setup, teardown),
                cmocka_unit_test_setup_teardown(test_online_status_is_retained_and_clean_stop_says_offline, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_tls_with_password_refuses_anonymous_and_wrong_passwords, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_password_file_first_line_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_connected_client_has_no_threads_and_survives_keepalive, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_a_burst_arrives_whole_and_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_broker_that_never_answers_does_not_stall_the_loop, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
