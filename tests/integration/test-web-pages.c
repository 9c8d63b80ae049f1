/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "I'm going" page end to end, as a neighbour meets it: shouwangd with a
 * private Mosquitto and the example roster; a leak at 沈国强's; the link in
 * the notify message her phone got (no public_url: the daemon derives it
 * from [http] listen); and then
 *
 *  - over plain HTTP: the page, "I'm going", the others told over MQTT;
 *  - in real headless Chromium (Debian's chromium, driven by
 *    tests/browser/cdp.js) at an old phone's 360×640: the page fits the
 *    screen with big type and a big button, has no console errors, and the
 *    taps work: "我去看看", then "已送医院" with a note, and the alert is
 *    resolved in the store.
 *
 * Without chromium (or node) the browser test is skipped on a developer's
 * machine and fails in CI (CI=true), where .ci/run installs it.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <signal.h>
#include <sys/stat.h>

#include "daemon/util.h"
#include "tests/lib/http-client.h"
#include "tests/lib/testutil.h"

struct fixture {
        char dir[64];
        char conf[160], db[160], log[160], mqtt_log[160];
        struct tu_broker broker;
        pid_t daemon, sub;
        int http_port;
        sd_event *event; /* only for the raw client's waiting: the server runs in the daemon */
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

static void pub(const char *topic, const char *msg)
{
        char cmd[768];
        snprintf(cmd, sizeof(cmd), "mosquitto_pub -h 127.0.0.1 -p %d -q 1 -t '%s' -m '%s'", F->broker.port, topic, msg);
        assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char text[2048], top[256], bin[256];
        static char env1[] = "SHOUWANG_CLOCK_SYNCED=1", env2[] = "TZ=Asia/Shanghai";
        char *env[] = { env1, env2, NULL };

        F = f;
        tu_mkdtemp("web", f->dir, sizeof(f->dir));
        snprintf(f->conf, sizeof(f->conf), "%s/shouwang.conf", f->dir);
        snprintf(f->db, sizeof(f->db), "%s/shouwang.db", f->dir);
        snprintf(f->log, sizeof(f->log), "%s/shouwangd.log", f->dir);
        snprintf(f->mqtt_log, sizeof(f->mqtt_log), "%s/mqtt.log", f->dir);
        tu_top_path("", top, sizeof(top));
        assert_int_equal(sd_event_new(&f->event), 0);

        f->broker.pid = -1;
        tu_broker_start(&f->broker, f->dir, 0);
        f->http_port = tu_free_port();
        snprintf(text, sizeof(text),
                 "[general]\ngateway = test\ndatabase = %s\n"
                 "[mqtt]\nuri = tcp://127.0.0.1:%d\n"
                 "[http]\nlisten = 127.0.0.1:%d\n"
                 "[gpio]\nenabled = no\n",
                 f->db, f->broker.port, f->http_port);
        tu_write_file(f->conf, text);
        for (int i = 0; i < 4; i++) {
                static const char *const kinds[] = { "residents", "contacts", "links", "sensors" };
                char args[512];
                snprintf(args, sizeof(args), "import %s %sexamples/%s.csv", kinds[i], top, kinds[i]);
                ctl(args, NULL, 0, 0);
        }

        snprintf(text, sizeof(text), "exec mosquitto_sub -h 127.0.0.1 -p %d -v -t 'shouwang/test/#' >> %s 2>&1",
                 f->broker.port, f->mqtt_log);
        f->sub = fork();
        if (f->sub == 0) {
                execl("/bin/sh", "sh", "-c", text, NULL);
                _exit(127);
        }
        usleep(200000);

        tu_build_path("shouwangd", bin, sizeof(bin));
        f->daemon = tu_spawn(f->log, env, bin, "-c", f->conf, NULL);
        assert_true(tu_wait_file(f->log, "MQTT: connected", NULL, 5000));
        assert_true(tu_wait_file(f->log, "Web: the \"I'm going\" pages are served on 127.0.0.1:", NULL, 5000));
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        if (f->daemon > 0)
                tu_stop(f->daemon, SIGTERM, 3000);
        if (f->sub > 0)
                tu_stop(f->sub, SIGTERM, 1000);
        tu_broker_stop(&f->broker);
        sd_event_unref(f->event);
        tu_rmdir(f->dir);
        free(f);
        return 0;
}

/* The leak, and the link in the message to contact: "http://127.0.0.1:PORT/a/1?c=C2&t=…". */
static void leak_and_link(struct fixture *f, const char *contact, char *url, size_t size)
{
        char needle[64], *data = NULL;
        size_t len = 0;

        pub("zigbee2mqtt/r201-leak", "{\"water_leak\":true,\"battery\":91}");
        snprintf(needle, sizeof(needle), "shouwang/test/notify/%s ", contact);
        assert_true(tu_wait_file(f->mqtt_log, needle, NULL, 5000));
        assert_int_equal(read_full_file(f->mqtt_log, &data, &len), 0);
        const char *line = strstr(data, needle);
        const char *u = line ? strstr(line, "\"ack_url\":\"") : NULL;
        assert_non_null(u);
        u += strlen("\"ack_url\":\"");
        size_t n = strcspn(u, "\"");
        assert_true(n < size);
        memcpy(url, u, n);
        url[n] = '\0';
        free(data);
        /* Derived from [http] listen, as no public_url is set. */
        char base[64];
        snprintf(base, sizeof(base), "http://127.0.0.1:%d/a/1?c=%s&t=", f->http_port, contact);
        if (!startswith(url, base))
                fail_msg("link %s does not start with %s", url, base);
}

static void test_the_link_in_the_message_opens_the_page_and_im_going_tells_the_others(void **state)
{
        struct fixture *f = *state;
        char url[256], form[160], out[16384];
        struct tu_http_answer a;

        leak_and_link(f, "C2", url, sizeof(url));
        const char *target = strstr(url + 7, "/a/");
        assert_int_equal(tu_http_get(f->event, f->http_port, target, &a), 0);
        assert_int_equal(a.status, 200);
        assert_non_null(strstr(a.body, "沈国强"));
        assert_non_null(strstr(a.body, "我去看看"));
        tu_http_answer_done(&a);

        snprintf(form, sizeof(form), "c=C2&t=%s&action=ack", strstr(url, "t=") + 2);
        assert_int_equal(tu_http_post(f->event, f->http_port, "/a/1", form, &a), 0);
        assert_int_equal(a.status, 303);
        tu_http_answer_done(&a);

        /* The others already told hear who is going; the alert JSON says acknowledged. */
        assert_true(tu_wait_file(f->log, "Web: alert 1 acknowledged by C2 (127.0.0.1)", NULL, 5000));
        assert_true(tu_wait_file(f->mqtt_log, "\"state\":\"acknowledged\"", NULL, 5000));
        assert_true(tu_wait_file(f->log, "Delivered ack_info of alert 1 to C1", NULL, 5000));
        ctl("alerts --json", out, sizeof(out), 0);
        assert_non_null(strstr(out, "\"acked_by\":\"C2\""));
}

/* ---- in Chromium ------------------------------------------------------------------------------------------ */

/* Run tests/browser/cdp.js with steps (JSON); the parsed result, or skip/fail when there is no browser. */
static cJSON *browse(const char *steps_json)
{
        char script[256], cmd[8192], steps_path[192];
        static char out[262144];
        const char *chromium = getenv("CHROMIUM") ? getenv("CHROMIUM") : "/usr/bin/chromium";
        struct stat st;

        if (stat(chromium, &st) < 0 || system("command -v node >/dev/null 2>&1") != 0) {
                if (getenv("CI") && streq(getenv("CI"), "true"))
                        fail_msg("no %s or no node: CI must run the browser test (scripts/deps.sh installs them)",
                                 chromium);
                print_message("skipped: no %s or no node (apt-get install chromium)\n", chromium);
                skip();
        }
        tu_top_path("tests/browser/cdp.js", script, sizeof(script));
        snprintf(steps_path, sizeof(steps_path), "%s/steps.json", F->dir);
        tu_write_file(steps_path, steps_json);
        snprintf(cmd, sizeof(cmd), "node %s --timeout-ms 60000 \"$(cat %s)\" 2>%s/cdp.err", script, steps_path,
                 F->dir);
        int r = tu_run(cmd, out, sizeof(out));
        if (r == 2)
                fail_msg("cdp.js could not start chromium: %s", out);
        cJSON *j = cJSON_Parse(out);
        if (!j)
                fail_msg("cdp.js (exit %d) printed no JSON: %.2000s", r, out);
        cJSON *ok = cJSON_GetObjectItem(j, "ok");
        if (r != 0 || !cJSON_IsTrue(ok))
                fail_msg("the browser run failed (exit %d): %.4000s", r, out);
        return j;
}

static cJSON *result(cJSON *j, int i)
{
        cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), i);
        assert_non_null(r);
        return r;
}

static const char *result_text(cJSON *j, int i)
{
        cJSON *v = cJSON_GetObjectItem(result(j, i), "value");
        if (!cJSON_IsString(v))
                fail_msg("step %d has no text value", i);
        return v->valuestring;
}

static void test_on_an_old_phone_the_page_fits_and_the_taps_work(void **state)
{
        struct fixture *f = *state;
        char url[256], shot1[160], shot2[160], out[16384];
        _cleanup_free_ char *steps = NULL;

        leak_and_link(f, "C2", url, sizeof(url));
        snprintf(shot1, sizeof(shot1), "%s/page.png", f->dir);
        snprintf(shot2, sizeof(shot2), "%s/resolved.png", f->dir);
        /* The layout figures are read by the page's own script engine, in CSS pixels. */
        assert_true(asprintf(&steps,
                             "["
                             "{\"viewport\":{\"width\":360,\"height\":640,\"deviceScaleFactor\":2,\"mobile\":true}},"
                             "{\"goto\":\"%s\"},"
                             "{\"eval\":\"JSON.stringify({scroll: document.documentElement.scrollWidth, width: "
                             "window.innerWidth, font: parseFloat(getComputedStyle(document.body).fontSize), "
                             "button: document.querySelector('button.go').getBoundingClientRect().height, "
                             "buttonWidth: document.querySelector('button.go').getBoundingClientRect().width, "
                             "buttonTop: document.querySelector('button.go').getBoundingClientRect().top})\"},"
                             "{\"screenshot\":\"%s\"},"
                             "{\"click\":\"button.go\",\"waitNavigation\":true},"
                             "{\"text\":true},"
                             "{\"click\":\"input[value=hospital]\"},"
                             "{\"type\":{\"selector\":\"textarea[name=note]\",\"text\":\"已送医，女儿陪着\"}},"
                             "{\"click\":\"button.resolve\",\"waitNavigation\":true},"
                             "{\"text\":true},"
                             "{\"screenshot\":\"%s\"}"
                             "]",
                             url, shot1, shot2) > 0);
        cJSON *j = browse(steps);

        /* The page itself: 200, and it fits a 360-pixel screen. */
        assert_int_equal(cJSON_GetObjectItem(result(j, 1), "status")->valueint, 200);
        cJSON *m = cJSON_Parse(result_text(j, 2));
        assert_non_null(m);
#define NUM(name) cJSON_GetObjectItem(m, name)->valuedouble
        double scroll = NUM("scroll"), width = NUM("width"), font = NUM("font");
        double button = NUM("button"), bw = NUM("buttonWidth"), top = NUM("buttonTop");
#undef NUM
        print_message("layout: width %.0f, scroll width %.0f, font %.0fpx, button %.0f×%.0f at %.0f\n", width, scroll,
                      font, bw, button, top);
        assert_true(scroll <= width);  /* no sideways scrolling */
        assert_true(font >= 18);       /* big type */
        assert_true(button >= 48);     /* a thumb's target, and more */
        assert_true(bw >= width * 0.8); /* across the screen */
        assert_true(top < 640);        /* the button is on the first screen, no scrolling to find it */
        cJSON_Delete(m);

        /* "我去看看": back on the page, which says so. */
        assert_int_equal(cJSON_GetObjectItem(result(j, 4), "status")->valueint, 200);
        assert_non_null(strstr(result_text(j, 5), "你已说要去"));
        /* "已处理" with hospital and a note. */
        assert_int_equal(cJSON_GetObjectItem(result(j, 8), "status")->valueint, 200);
        assert_non_null(strstr(result_text(j, 9), "已处理：周建国，已送医院"));
        assert_non_null(strstr(result_text(j, 9), "已送医，女儿陪着"));

        /* Nothing went wrong in the page: no script errors, no refused loads (the security policy). */
        cJSON *console = cJSON_GetObjectItem(j, "console"), *failed = cJSON_GetObjectItem(j, "failed");
        if (cJSON_GetArraySize(console) > 0 || cJSON_GetArraySize(failed) > 0) {
                char *s = cJSON_PrintUnformatted(j);
                fail_msg("the page had errors: %s", s);
        }
        cJSON_Delete(j);

        struct stat st;
        assert_int_equal(stat(shot1, &st), 0);
        assert_true(st.st_size > 1000);

        ctl("alerts --json", out, sizeof(out), 0);
        assert_non_null(strstr(out, "\"state\":\"resolved\""));
        assert_non_null(strstr(out, "\"outcome\":\"hospital\""));
        assert_non_null(strstr(out, "\"note\":\"已送医，女儿陪着\""));
        assert_true(tu_wait_file(f->log, "Web: alert 1 resolved by C2 (127.0.0.1)", NULL, 5000));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(
                        test_the_link_in_the_message_opens_the_page_and_im_going_tells_the_others, setup, teardown),
                cmocka_unit_test_setup_teardown(test_on_an_old_phone_the_page_fits_and_the_taps_work, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
