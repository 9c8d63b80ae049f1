/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shouwangd end to end with real parts: a private Mosquitto, the example
 * roster, the exec channel running a script that records what it was given,
 * the webhook channel posting to a local HTTP receiver, and a subscriber
 * recording everything under shouwang/test/#.
 *
 *  - a retained leak from last week is state, not an alarm; a fresh one opens
 *    an alert, published as the contract's JSON, and tier 1's phones get it;
 *  - a malformed payload is logged once and the other sensors carry on;
 *  - an "I'm going" over MQTT with the right token acknowledges, a wrong one
 *    is refused;
 *  - the broker goes away: exec contacts are still reached, and after a
 *    kill -9 and a restart the MQTT messages still pending go out;
 *  - shouwangctl sensors shows each sensor's health.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "daemon/util.h"
#include "tests/lib/gpiosim.h"
#include "tests/lib/testutil.h"

struct fixture {
        char dir[64];
        char conf[160], db[160], log[160], mqtt_log[160], sms_log[160], web_log[160];
        struct tu_broker broker;
        pid_t daemon, sub, sink;
        int web_port;
};

static struct fixture *F;

static void ctl(const char *args, char *out, size_t size, int expect)
{
        char bin[256], cmd[1024];
        tu_build_path("shouwangctl", bin, sizeof(bin));
        snprintf(cmd, sizeof(cmd), "%s --db %s %s 2>&1", bin, F->db, args);
        int r = tu_run(cmd, out, size);
        if (r != expect)
                fail_msg("shouwangctl %s: exit %d, expected %d: %s", args, r, expect, out ? out : "");
}

static void pub(const char *topic, const char *msg, bool retain)
{
        char cmd[768];
        snprintf(cmd, sizeof(cmd), "mosquitto_pub -h 127.0.0.1 -p %d -q 1 %s -t '%s' -m '%s'", F->broker.port,
                 retain ? "-r" : "", topic, msg);
        assert_int_equal(system(cmd), 0);
}

/* mosquitto_sub exits with the broker: start it again after a broker restart. */
static void restart_subscriber(void)
{
        char cmd[512];

        snprintf(cmd, sizeof(cmd), "exec mosquitto_sub -h 127.0.0.1 -p %d -v -t 'shouwang/test/#' >> %s 2>&1",
                 F->broker.port, F->mqtt_log);
        if (F->sub > 0)
                tu_stop(F->sub, SIGTERM, 500);
        F->sub = fork();
        if (F->sub == 0) {
                execl("/bin/sh", "sh", "-c", cmd, NULL);
                _exit(127);
        }
        usleep(300000);
}

static void start_daemon(void)
{
        char bin[256];
        static char env1[] = "SHOUWANG_CLOCK_SYNCED=1";
        char *env[] = { env1, NULL };

        tu_build_path("shouwangd", bin, sizeof(bin));
        F->daemon = tu_spawn(F->log, env, bin, "-c", F->conf, NULL);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char text[2048], top[256], sink[256], script[192];

        F = f;
        tu_mkdtemp("e2e", f->dir, sizeof(f->dir));
        snprintf(f->conf, sizeof(f->conf), "%s/shouwang.conf", f->dir);
        snprintf(f->db, sizeof(f->db), "%s/shouwang.db", f->dir);
        snprintf(f->log, sizeof(f->log), "%s/shouwangd.log", f->dir);
        snprintf(f->mqtt_log, sizeof(f->mqtt_log), "%s/mqtt.log", f->dir);
        snprintf(f->sms_log, sizeof(f->sms_log), "%s/sms.log", f->dir);
        snprintf(f->web_log, sizeof(f->web_log), "%s/web.log", f->dir);
        snprintf(script, sizeof(script), "%s/sms.sh", f->dir);
        tu_top_path("", top, sizeof(top));

        /* The exec channel's command: records its environment and stdin; the brother's phone is off. */
        snprintf(text, sizeof(text),
                 "#!/bin/sh\n"
                 "if [ \"$SHOUWANG_CONTACT_PHONE\" = 13900000107 ]; then echo 'phone switched off'; exit 1; fi\n"
                 "{ echo \"SMS alert=$SHOUWANG_ALERT_ID purpose=$SHOUWANG_PURPOSE to=$SHOUWANG_CONTACT_ID "
                 "name=$SHOUWANG_CONTACT_NAME title=$SHOUWANG_TITLE\"; cat; echo; } >> %s\n",
                 f->sms_log);
        tu_write_file(script, text);
        assert_int_equal(chmod(script, 0755), 0);

        f->broker.pid = -1;
        tu_broker_start(&f->broker, f->dir, 0);
        f->web_port = tu_free_port();
        tu_build_path("tests/tools/http-sink", sink, sizeof(sink));
        char port[16];
        snprintf(port, sizeof(port), "%d", f->web_port);
        f->sink = tu_spawn("/dev/null", NULL, sink, "--port", port, "--log", f->web_log, NULL);

        snprintf(text, sizeof(text),
                 "[general]\ngateway = test\ndatabase = %s\n"
                 "[mqtt]\nuri = tcp://127.0.0.1:%d\nreconnect_max = 1s\n"
                 "[http]\npublic_url = http://192.168.1.20:8080\n"
                 "[gpio]\nenabled = no\n"
                 "[escalation]\ntier_timeout_critical = %s\n%s"
                 "[exec:sms]\ncommand = %s\ntimeout = 5s\n"
                 "[webhook:wecom]\nurl = http://127.0.0.1:%d/robot\ntimeout = 5s\n",
                 f->db, f->broker.port, getenv("TEST_TIER_TIMEOUT") ? getenv("TEST_TIER_TIMEOUT") : "1h",
                 getenv("TEST_ESCALATION") ? getenv("TEST_ESCALATION") : "", script, f->web_port);
        tu_write_file(f->conf, text);

        for (int i = 0; i < 4; i++) {
                static const char *const kinds[] = { "residents", "contacts", "links", "sensors" };
                char args[512];
                snprintf(args, sizeof(args), "import %s %sexamples/%s.csv", kinds[i], top, kinds[i]);
                ctl(args, NULL, 0, 0);
        }

        /* Everything shouwang publishes, with topics. */
        snprintf(text, sizeof(text), "exec mosquitto_sub -h 127.0.0.1 -p %d -v -t 'shouwang/test/#' >> %s 2>&1",
                 f->broker.port, f->mqtt_log);
        f->sub = fork();
        if (f->sub == 0) {
                execl("/bin/sh", "sh", "-c", text, NULL);
                _exit(127);
        }
        usleep(200000);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        if (f->daemon > 0)
                tu_stop(f->daemon, SIGKILL, 1000);
        if (f->sub > 0)
                tu_stop(f->sub, SIGTERM, 1000);
        if (f->sink > 0)
                tu_stop(f->sink, SIGTERM, 1000);
        tu_broker_stop(&f->broker);
        tu_rmdir(f->dir);
        free(f);
        return 0;
}

static void test_retained_leak_is_state_fresh_leak_opens_alert(void **state)
{
        struct fixture *f = *state;
        char out[16384];
        size_t pos = 0;

        /* Last week's wet, still retained at the broker. */
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":true,\"battery\":91}", true);
        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        usleep(500000);
        ctl("alerts --json", out, sizeof(out), 0);
        assert_string_equal(out, "[]\n");

        /* Now it really gets wet. */
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":true,\"battery\":90}", false);
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/alerts/1 ", NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C3 ", NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C1 ", NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C2 ", NULL, 5000));
        /* The contract's fields. */
        assert_true(tu_wait_file(f->mqtt_log, "\"id\":1,\"rule\":\"leak\",\"severity\":\"critical\",\"state\":\"open\"",
                                 NULL, 100));
        assert_true(tu_wait_file(f->mqtt_log,
                                 "\"resident\":{\"id\":\"R201\",\"name\":\"沈国强\",\"building\":\"B17\",\"flat\":\"201\"",
                                 NULL, 100));
        assert_true(tu_wait_file(f->mqtt_log, "\"sensor\":\"S201-leak\"", NULL, 100));
        assert_true(tu_wait_file(f->mqtt_log, "+08:00\"", NULL, 100) || tu_wait_file(f->mqtt_log, "+00:00\"", NULL, 100));
        assert_true(tu_wait_file(f->mqtt_log, "\"ack_url\":\"http://192.168.1.20:8080/a/1?c=C2&t=", NULL, 100));
        /* The group leader also gets an SMS; she is the only exec contact in tier 1. */
        assert_true(tu_wait_file(f->sms_log, "SMS alert=1 purpose=alert to=C3", NULL, 5000));
        assert_true(tu_wait_file(f->sms_log, "\"title\":\"【守望】紧急", NULL, 100));
        /* A repeat of the same wet updates the alert: no new pages. */
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":true,\"battery\":90}", false);
        usleep(300000);
        assert_int_equal(tu_count_in_file(f->mqtt_log, "shouwang/test/notify/C1 "), 1);

        /* Health: the leak sensor reported its battery; the wired door was never read (GPIO off). The
         * first level is written with the next group commit ([store] commit_interval, 1 s); a point's
         * change waits for the refresh (daemon/watch.c health_save()). */
        for (int i = 0; i < 30; i++) {
                ctl("sensors list", out, sizeof(out), 0);
                if (strstr(out, "ok (battery 9"))
                        break;
                usleep(100000);
        }
        assert_non_null(strstr(out, "S201-leak"));
        assert_non_null(strstr(out, "ok (battery 9"));
        assert_non_null(strstr(out, "never seen"));
}

static void test_malformed_payload_is_logged_once_and_others_carry_on(void **state)
{
        struct fixture *f = *state;
        size_t pos = 0;

        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        pub("zigbee2mqtt/r301-leak", "{\"water_leak\":", false);
        pub("zigbee2mqtt/r301-leak", "{\"water_leak\":", false);
        pub("zigbee2mqtt/r301-leak", "\x01\x02garbage", false);
        assert_true(tu_wait_file(f->log, "cannot read the message on zigbee2mqtt/r301-leak for sensor S301-leak", NULL,
                                 5000));
        pub("zigbee2mqtt/r301-leak", "{\"water_leak\":true}", false);
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/alerts/1 ", NULL, 5000));
        assert_int_equal(tu_count_in_file(f->log, "cannot read the message on zigbee2mqtt/r301-leak"), 1);
        assert_int_equal(waitpid(f->daemon, NULL, WNOHANG), 0);
}

/* The daemon copies the WAL into the database file itself, soon after a commit took it past 1,000 pages (its
 * commits never do: tests/unit/test-store.c). Another program's big write fills the WAL here, without
 * checkpointing it (its autocheckpoint off; the daemon's open connection keeps it from checkpointing at
 * close); the daemon's next group commit finds the WAL full, and the database file grows without a restart. */
static void test_the_daemon_checkpoints_a_full_wal(void **state)
{
        struct fixture *f = *state;
        char cmd[1024];
        struct stat st;
        off_t before;
        size_t pos = 0;

        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        assert_int_equal(stat(f->db, &st), 0);
        before = st.st_size;
        snprintf(cmd, sizeof(cmd),
                 "sqlite3 %s 'PRAGMA wal_autocheckpoint = 0; CREATE TABLE filler(x BLOB); "
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) "
                 "INSERT INTO filler SELECT zeroblob(3000) FROM n;' >/dev/null",
                 f->db);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(stat(f->db, &st), 0);
        assert_true(st.st_size < before + 1200 * 3000); /* all of it still in the WAL */

        pub("zigbee2mqtt/r301-leak", "{\"water_leak\":false,\"battery\":88}", false);
        for (int i = 0; i < 50 && st.st_size < before + 1200 * 3000; i++) {
                usleep(100000);
                assert_int_equal(stat(f->db, &st), 0);
        }
        assert_true(st.st_size >= before + 1200 * 3000);
        assert_int_equal(tu_count_in_file(f->log, "write-ahead log"), 0);
        assert_int_equal(waitpid(f->daemon, NULL, WNOHANG), 0);
}

/* A roster with hundreds of topics under zigbee2mqtt/ (a street's gateway) subscribes
 * zigbee2mqtt/# instead of each topic: devices not in the roster then arrive, and are
 * named once in the log and ignored; Zigbee2MQTT's own bridge topics are not even named. */
static void test_a_big_roster_subscribes_a_wildcard_and_ignores_strangers(void **state)
{
        struct fixture *f = *state;
        char path[192], args[256];
        size_t pos = 0;
        FILE *csv;

        snprintf(path, sizeof(path), "%s/hall.csv", f->dir);
        csv = fopen(path, "w");
        assert_non_null(csv);
        fprintf(csv, "id,resident_id,building,kind,source\n");
        for (int i = 0; i < 300; i++)
                fprintf(csv, "S-hall-%03d,,B17,motion,mqtt:zigbee2mqtt/hall-%03d\n", i, i);
        fclose(csv);
        snprintf(args, sizeof(args), "import sensors %s", path);
        ctl(args, NULL, 0, 0);

        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        usleep(300000);
        pub("zigbee2mqtt/bridge/state", "{\"state\":\"online\"}", false);
        pub("zigbee2mqtt/neighbours-plug", "{\"power\":12}", false);
        assert_true(tu_wait_file(f->log, "message on zigbee2mqtt/neighbours-plug, which no sensor in the roster uses",
                                 NULL, 5000));
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":true}", false);
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/alerts/1 ", NULL, 5000));
        assert_int_equal(tu_count_in_file(f->log, "zigbee2mqtt/bridge"), 0);
}

static void test_ack_over_mqtt_needs_the_right_token(void **state)
{
        struct fixture *f = *state;
        char out[16384], msg[256], token[40] = "";
        size_t pos = 0;

        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":true}", false);
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C2 ", NULL, 5000));

        char *data = NULL;
        assert_int_equal(read_full_file(f->mqtt_log, &data, NULL), 0);
        char *line = strstr(data, "shouwang/test/notify/C2 ");
        char *t = line ? strstr(line, "\"token\":\"") : NULL;
        assert_non_null(t);
        snprintf(token, sizeof(token), "%.32s", t + 9);
        free(data);

        /* Someone else's name with C2's token: refused. */
        snprintf(msg, sizeof(msg), "{\"alert\":1,\"contact\":\"C1\",\"token\":\"%s\",\"action\":\"ack\"}", token);
        pub("shouwang/test/ack", msg, false);
        assert_true(tu_wait_file(f->log, "MQTT ack refused: alert 1, contact C1: token not valid", NULL, 5000));
        pub("shouwang/test/ack", "{\"alert\":\"one\"}", false);
        assert_true(tu_wait_file(f->log, "MQTT ack refused: field alert", NULL, 5000));

        snprintf(msg, sizeof(msg), "{\"alert\":1,\"contact\":\"C2\",\"token\":\"%s\",\"action\":\"ack\"}", token);
        pub("shouwang/test/ack", msg, false);
        assert_true(tu_wait_file(f->log, "MQTT ack: alert 1 acknowledged by C2", NULL, 5000));
        /* The others are told who is going. */
        assert_true(tu_wait_file(f->mqtt_log, "\"purpose\":\"ack_info\"", NULL, 5000));
        ctl("alerts --json", out, sizeof(out), 0);
        assert_non_null(strstr(out, "\"state\":\"acknowledged\""));
        assert_non_null(strstr(out, "\"acked_by\":\"C2\""));
        /* The same token again is a replay. */
        pub("shouwang/test/ack", msg, false);
        assert_true(tu_wait_file(f->log, "token already used (replay)", NULL, 5000));

        /* Resolved with a note by the neighbour, over MQTT. */
        snprintf(msg, sizeof(msg),
                 "{\"alert\":1,\"contact\":\"C2\",\"token\":\"%s\",\"action\":\"resolve\",\"note\":\"已送医\"}", token);
        pub("shouwang/test/ack", msg, false);
        assert_true(tu_wait_file(f->log, "alert 1 resolved by C2", NULL, 5000));
}

static void test_broker_down_exec_still_reached_and_kill9_loses_nothing(void **state)
{
        struct fixture *f = *state;
        char out[16384];
        size_t pos = 0;

        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        tu_broker_stop(&f->broker);
        assert_true(tu_wait_file(f->log, "connection to tcp://127.0.0.1", &pos, 5000));

        /* Committee staff send a test alert while the broker is down. */
        ctl("test-alert R201", out, sizeof(out), 0);
        /* The group leader's SMS goes at once; the app messages wait for the broker. */
        assert_true(tu_wait_file(f->sms_log, "SMS alert=1 purpose=alert to=C3", NULL, 5000));
        /* Recorded as sent before the power cut (else sending it again after the restart is
         * right: delivery is at least once). */
        assert_true(tu_wait_file(f->log, "Delivered alert of alert 1 to C3 by exec:sms", NULL, 5000));

        /* A power cut: no clean stop. */
        assert_int_equal(tu_stop(f->daemon, SIGKILL, 1000), -1);
        f->daemon = -1;
        tu_broker_start(&f->broker, f->dir, f->broker.port);
        restart_subscriber();

        start_daemon();
        /* What was pending is sent after the restart. */
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C1 ", NULL, 8000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C2 ", NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/alerts/1 ", NULL, 5000));
        /* …and the SMS that was already sent is not sent twice. */
        usleep(300000);
        assert_int_equal(tu_count_in_file(f->sms_log, "SMS alert=1 purpose=alert to=C3"), 1);
}

static void test_leak_that_began_while_down_is_news_even_if_retained(void **state)
{
        struct fixture *f = *state;
        char out[8192];
        size_t pos = 0;

        /* Known dry. */
        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":false}", true);
        /* Wait until the daemon has it (the sensor is no longer "never seen"). */
        bool seen = false;
        for (int i = 0; i < 100 && !seen; i++) {
                ctl("sensors show S201-leak", out, sizeof(out), 0);
                seen = !strstr(out, "never seen");
                if (!seen)
                        usleep(50000);
        }
        assert_true(seen);
        assert_int_equal(tu_stop(f->daemon, SIGTERM, 3000), 0);
        f->daemon = -1;

        /* The broker restarts and forgets our session (no persistence file), so what
         * happened meanwhile reaches us only as a retained message. */
        char path[192];
        tu_broker_stop(&f->broker);
        snprintf(path, sizeof(path), "%s/mosquitto.db", f->dir);
        (void)unlink(path);
        tu_broker_start(&f->broker, f->dir, f->broker.port);
        restart_subscriber();
        /* The daemon is down (or crashed after the broker's PUBACK) when the floor gets wet. */
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":true}", true);
        pos = 0;
        start_daemon();
        assert_true(tu_wait_file(f->log, "S201-leak: leak while shouwang was not watching", NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/alerts/1 ", NULL, 5000));
        ctl("alerts --json", out, sizeof(out), 0);
        assert_non_null(strstr(out, "\"rule\":\"leak\""));
}

static void test_gpio_leak_while_broker_is_down(void **state)
{
        struct fixture *f = *state;
        char out[4096], text[2048], simdir[192], bin[256];
        GpioSim *sim = NULL;
        size_t pos = 0;

        /* A wired leak probe under the sink, on the emulated GPIO chip. */
        snprintf(simdir, sizeof(simdir), "%s/gpio", f->dir);
        assert_int_equal(gpiosim_new(simdir, &sim), 0);
        assert_int_equal(gpiosim_chip_add(sim, "gpiochip0", "pinctrl-bcm2711", 54), 0);
        ctl("sensors add --id S201-probe --resident_id R201 --kind leak --source gpio:gpiochip0:5", out, sizeof(out),
            0);
        char *conf = NULL;
        assert_int_equal(read_full_file(f->conf, &conf, NULL), 0);
        char *g = strstr(conf, "[gpio]\nenabled = no\n");
        assert_non_null(g);
        snprintf(text, sizeof(text), "%.*s[gpio]\nenabled = yes\nretry_interval = 1s\n%s", (int)(g - conf), conf,
                 g + strlen("[gpio]\nenabled = no\n"));
        free(conf);
        tu_write_file(f->conf, text);

        /* The daemon sees the emulated chip through the preloaded library. */
        const char *old_preload = getenv("LD_PRELOAD");
        char *saved = old_preload ? strdup(old_preload) : NULL;
        assert_int_equal(gpiosim_setenv(sim, gpiosim_running_with_asan()), 0);
        static char env1[] = "SHOUWANG_CLOCK_SYNCED=1";
        char *env[] = { env1, NULL };
        tu_build_path("shouwangd", bin, sizeof(bin));
        f->daemon = tu_spawn(f->log, env, bin, "-c", f->conf, NULL);
        if (saved)
                setenv("LD_PRELOAD", saved, 1);
        else
                unsetenv("LD_PRELOAD");
        free(saved);
        unsetenv("GPIOSIM_DIR");

        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        assert_int_equal(gpiosim_wait_requested(sim, "gpiochip0", 5, true, 5 * USEC_PER_SEC), 0);

        /* The broker goes away; then the floor gets wet. */
        tu_broker_stop(&f->broker);
        assert_true(tu_wait_file(f->log, "connection to tcp://127.0.0.1", &pos, 5000));
        assert_int_equal(gpiosim_line_set(sim, "gpiochip0", 5, 1), 0);
        assert_true(tu_wait_file(f->log, "Opened alert 1: critical leak for R201", NULL, 5000));
        /* The group leader's SMS goes at once, broker or not. */
        assert_true(tu_wait_file(f->sms_log, "SMS alert=1 purpose=alert to=C3", NULL, 5000));

        /* The broker comes back: the app messages that waited go out. */
        tu_broker_start(&f->broker, f->dir, f->broker.port);
        restart_subscriber();
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C1 ", NULL, 8000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C2 ", NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/alerts/1 ", NULL, 5000));
        assert_int_equal(tu_count_in_file(f->sms_log, "SMS alert=1 purpose=alert to=C3"), 1);
        gpiosim_destroy(sim);
}

static void test_residents_own_setting_is_used(void **state)
{
        struct fixture *f = *state;
        char out[4096];
        size_t pos = 0;

        /* 王秀英 (R301) gets a much shorter inactivity limit than everyone else's 12 h. */
        ctl("residents set R301 inactivity_after=3s", out, sizeof(out), 0);
        ctl("residents set R301 inactivity_afterr=3s", out, sizeof(out), 3);
        assert_non_null(strstr(out, "did you mean"));
        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        /* Both residents move their doors once. */
        pub("zigbee2mqtt/r301-door", "{\"contact\":false}", false);
        pub("zigbee2mqtt/r301-door", "{\"contact\":true}", false);
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":false}", false);
        assert_true(tu_wait_file(f->log, "alert 1: warning inactivity for R301", NULL, 8000));
        assert_int_equal(tu_count_in_file(f->log, "inactivity for R201"), 0);
}

/* An ack from shouwangctl is sent on at once, without reloading the roster
 * (which would reopen GPIO lines for nothing); a roster change is reloaded. */
static void test_ack_from_ctl_does_not_reload_roster_change_does(void **state)
{
        struct fixture *f = *state;
        char out[4096];
        size_t pos = 0;

        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":true}", false);
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C2 ", NULL, 5000));
        ctl("ack 1 --as C2", out, sizeof(out), 0);
        assert_true(tu_wait_file(f->mqtt_log, "\"purpose\":\"ack_info\"", NULL, 5000));
        assert_int_equal(tu_count_in_file(f->log, "The roster was changed"), 0);
        ctl("residents set R301 inactivity_after=6h", out, sizeof(out), 0);
        assert_true(tu_wait_file(f->log, "The roster was changed by shouwangctl: reloading it", NULL, 5000));
}

/* Reminders to the one who is going, for an alert open longer than a link lives
 * (3 days; 4 s here): a reminder never carries a dead link. */
static int setup_short_tokens(void **state)
{
        setenv("TEST_ESCALATION", "reminder_interval = 1s\ntoken_lifetime = 4s\n", 1);
        int r = setup(state);
        unsetenv("TEST_ESCALATION");
        return r;
}

static void last_token(const char *log, const char *topic, char *ret, size_t n)
{
        _cleanup_free_ char *data = NULL;
        const char *line = NULL, *t;

        assert_int_equal(read_full_file(log, &data, NULL), 0);
        for (const char *p = data; (p = strstr(p, topic)); p++)
                line = p;
        assert_non_null(line);
        t = strstr(line, "\"token\":\"");
        assert_non_null(t);
        snprintf(ret, n, "%.32s", t + 9);
}

static void test_reminders_for_a_long_alert_carry_a_living_link(void **state)
{
        struct fixture *f = *state;
        char first[40], msg[256], later[40];
        size_t pos = 0;

        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":true}", false);
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C2 ", NULL, 5000));
        last_token(f->mqtt_log, "shouwang/test/notify/C2 ", first, sizeof(first));
        snprintf(msg, sizeof(msg), "{\"alert\":1,\"contact\":\"C2\",\"token\":\"%s\",\"action\":\"ack\"}", first);
        pub("shouwang/test/ack", msg, false);
        assert_true(tu_wait_file(f->log, "MQTT ack: alert 1 acknowledged by C2", NULL, 5000));
        /* Reminders every second; after half the link's life a new link. */
        usleep(3500 * 1000);
        assert_true(tu_wait_file(f->mqtt_log, "\"purpose\":\"reminder\"", NULL, 5000));
        last_token(f->mqtt_log, "shouwang/test/notify/C2 ", later, sizeof(later));
        assert_string_not_equal(first, later);
        /* The new link works (the first has expired by now). */
        snprintf(msg, sizeof(msg),
                 "{\"alert\":1,\"contact\":\"C2\",\"token\":\"%s\",\"action\":\"resolve\",\"note\":\"好了\"}",
                 later);
        pub("shouwang/test/ack", msg, false);
        assert_true(tu_wait_file(f->log, "alert 1 resolved by C2", NULL, 5000));
}

/* The story in DESIGN.md, with a 2-second tier timeout instead of 5 minutes. */
static int setup_story(void **state)
{
        setenv("TEST_TIER_TIMEOUT", "2s", 1);
        int r = setup(state);
        unsetenv("TEST_TIER_TIMEOUT");
        return r;
}

static void test_the_story_leak_tier_by_tier_brother_off_niece_neighbour_goes(void **state)
{
        struct fixture *f = *state;
        char out[32768], msg[256], token[40];
        size_t pos = 0;

        start_daemon();
        assert_true(tu_wait_file(f->log, "MQTT: connected", &pos, 5000));

        /* 01:10: water under 沈国强's sink; he lives alone. */
        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":true}", false);
        /* Tier 1 at once: the two paired neighbours downstairs and the group leader (also by SMS). */
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C1 ", NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C2 ", NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C3 ", NULL, 5000));
        assert_true(tu_wait_file(f->sms_log, "to=C3", NULL, 5000));
        assert_int_equal(tu_count_in_file(f->mqtt_log, "shouwang/test/notify/C4 "), 0);

        /* Nobody acknowledges: tier 2, the committee on duty (app and WeCom group) and the first
         * family contact, the brother, whose phone is off: the niece is told at once. */
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C4 ", NULL, 6000));
        assert_true(tu_wait_file(f->web_log, "徐静", NULL, 5000));
        assert_true(tu_wait_file(f->log, "to C7 by exec:sms: exit status 1", NULL, 5000));
        assert_true(tu_wait_file(f->sms_log, "to=C8", NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "shouwang/test/notify/C8 ", NULL, 5000));
        ctl("alerts show 1 --json", out, sizeof(out), 0);
        assert_non_null(strstr(out, "\"reason\":\"fallback\""));

        /* 周建国 downstairs taps "I'm going". */
        char *data = NULL;
        assert_int_equal(read_full_file(f->mqtt_log, &data, NULL), 0);
        char *t = strstr(strstr(data, "shouwang/test/notify/C2 "), "\"token\":\"");
        snprintf(token, sizeof(token), "%.32s", t + 9);
        free(data);
        snprintf(msg, sizeof(msg), "{\"alert\":1,\"contact\":\"C2\",\"token\":\"%s\",\"action\":\"ack\"}", token);
        size_t mark = 0;
        (void)tu_wait_file(f->mqtt_log, "\n", &mark, 10);
        pub("shouwang/test/ack", msg, false);
        assert_true(tu_wait_file(f->log, "acknowledged by C2", NULL, 5000));
        /* Everyone reached hears who is on the way; the ladder stops. */
        assert_true(tu_wait_file(f->mqtt_log, "\"purpose\":\"ack_info\",\"severity\":\"critical\",\"rule\":\"leak\",\"contact\":\"C1\"",
                                 NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "\"purpose\":\"ack_info\",\"severity\":\"critical\",\"rule\":\"leak\",\"contact\":\"C8\"",
                                 NULL, 5000));
        usleep(2500000);
        assert_int_equal(tu_count_in_file(f->mqtt_log, "shouwang/test/notify/C5 "), 0); /* no tier 3 */

        /* He finds him by the door; resolved with a note. */
        ctl("resolve 1 --as C2 --outcome hospital --note 晕倒在厨房已送医", out, sizeof(out), 0);
        assert_true(tu_wait_file(f->mqtt_log, "\"purpose\":\"resolved\"", NULL, 5000));
        ctl("alerts --json", out, sizeof(out), 0);
        assert_non_null(strstr(out, "\"state\":\"resolved\""));
        assert_non_null(strstr(out, "\"outcome\":\"hospital\""));
        assert_non_null(strstr(out, "\"seconds_to_ack\""));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_retained_leak_is_state_fresh_leak_opens_alert, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed_payload_is_logged_once_and_others_carry_on, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_a_big_roster_subscribes_a_wildcard_and_ignores_strangers, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_the_daemon_checkpoints_a_full_wal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ack_over_mqtt_needs_the_right_token, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broker_down_exec_still_reached_and_kill9_loses_nothing, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_leak_that_began_while_down_is_news_even_if_retained, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_gpio_leak_while_broker_is_down, setup, teardown),
                cmocka_unit_test_setup_teardown(test_residents_own_setting_is_used, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ack_from_ctl_does_not_reload_roster_change_does, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reminders_for_a_long_alert_carry_a_living_link, setup_short_tokens,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_the_story_leak_tier_by_tier_brother_off_niece_neighbour_goes,
                                                setup_story, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
