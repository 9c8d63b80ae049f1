/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The webhook channel over real HTTP: an sd-event loop driven here, signals
 * blocked as the daemon blocks them, and a local HTTP receiver
 * (tests/lib/http-receiver.c) on a free loopback port that answers 200, 500,
 * 404, a robot's errcode, hangs, or closes the connection. The shipped body
 * templates (examples/webhooks/) are the ones posted, so what installers
 * copy is what is tested.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "daemon/channel.h"
#include "daemon/manager.h"
#include "tests/lib/http-receiver.h"

struct outcome {
        bool done;
        int calls;
        int error;
        bool permanent;
        char detail[512];
        usec_t at;
};

struct fixture {
        sd_event *e;
        HttpReceiver *rx;
        Channel *c[4];
};

static const char *top_dir(void)
{
        const char *t = getenv("SHOUWANG_TOP");
        return t ? t : ".";
}

static char *read_example(const char *name)
{
        char *path, *text = NULL;

        assert_true(asprintf(&path, "%s/examples/webhooks/%s", top_dir(), name) > 0);
        assert_int_equal(read_full_file(path, &text, NULL), 0);
        free(path);
        return text;
}

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

/* Run the loop until every outcome is in, or the deadline. */
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

static void run_for(sd_event *e, usec_t t)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + t;

        while (now_usec(CLOCK_MONOTONIC) < deadline)
                assert_true(sd_event_run(e, 20 * USEC_PER_MSEC) >= 0);
}

/* What the outbox would hand a channel: Chinese, quotes, a backslash, newlines. */
static struct delivery_message sample(void)
{
        return (struct delivery_message){
                .delivery_id = 11,
                .alert_id = 7,
                .purpose = "alert",
                .contact_id = "C2",
                .contact_name = "王秀英",
                .contact_phone = "13800000002",
                .contact_role = "neighbour",
                .locale = "zh_CN",
                .title = "【守望】紧急｜沈国强：家里漏水",
                .text = "家里漏水了。老人一个人住，可能摔倒了没法应答，请马上去看。\n"
                        "地址：长乐路17号 \"201\"室 \\ 后门\n"
                        "我去看看，请点：http://gw.local/a/7?c=C2&t=abc",
                .ack_url = "http://gw.local/a/7?c=C2&t=abc",
                .rule = "leak",
                .severity = "critical",
                .resident_id = "R1",
                .resident_name = "沈国强",
                .building = "长乐路17号",
                .flat = "201",
                .opened_at = "2026-11-23T01:10:00+08:00",
        };
}

static Channel *webhook(struct fixture *f, size_t slot, const char *name, const char *path,
                        const struct webhook_settings *extra)
{
        struct webhook_settings s = extra ? *extra : (struct webhook_settings){};
        _cleanup_free_ char *url = http_receiver_url(f->rx, path);

        s.url = url;
        if (!s.timeout)
                s.timeout = 3 * USEC_PER_SEC;
        if (!s.connect_timeout)
                s.connect_timeout = 2 * USEC_PER_SEC;
        assert_int_equal(channel_webhook_new(f->e, name, &s, &f->c[slot]), 0);
        return f->c[slot];
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(sd_event_new(&f->e), 0);
        assert_int_equal(http_receiver_start(&f->rx), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(f->c); i++)
                channel_free(f->c[i]);
        http_receiver_stop(f->rx);
        sd_event_unref(f->e);
        free(f);
        return 0;
}

static struct http_request get_request(struct fixture *f, size_t i)
{
        struct http_request req;

        assert_int_equal(http_receiver_get(f->rx, i, &req), 0);
        return req;
}

/* ---- success --------------------------------------------------------------------------------------- */

static void test_default_body_is_the_alert_json_with_the_message(void **state)
{
        struct fixture *f = *state;
        char *const headers[] = { "X-Token: s3cret", NULL };
        struct webhook_settings s = { .headers = headers };
        Channel *c = webhook(f, 0, "webhook:committee", "/hook", &s);
        struct delivery_message m = sample();
        struct outcome o = {};

        m.alert_json = "{\"id\":7,\"rule\":\"leak\",\"severity\":\"critical\",\"state\":\"open\","
                       "\"resident\":{\"id\":\"R1\",\"name\":\"沈国强\",\"building\":\"长乐路17号\",\"flat\":\"201\"},"
                       "\"text\":\"长乐路17号 201室 沈国强：家里漏水\"}";
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);

        assert_true(o.done);
        assert_int_equal(o.error, 0);
        assert_string_equal(o.detail, "HTTP 200: {\"errcode\":0,\"errmsg\":\"ok\"}");

        struct http_request req = get_request(f, 0);
        assert_string_equal(req.method, "POST");
        assert_string_equal(req.path, "/hook");
        assert_string_equal(http_request_header(&req, "Content-Type"), "application/json; charset=utf-8");
        assert_string_equal(http_request_header(&req, "User-Agent"), "shouwang/" SHOUWANG_VERSION);
        assert_string_equal(http_request_header(&req, "X-Token"), "s3cret");
        assert_null(http_request_header(&req, "Expect"));

        cJSON *j = cJSON_Parse(req.body);
        assert_non_null(j);
        /* The alert as published, untouched… */
        assert_string_equal(cJSON_GetObjectItem(j, "state")->valuestring, "open");
        assert_string_equal(cJSON_GetObjectItem(j, "text")->valuestring, "长乐路17号 201室 沈国强：家里漏水");
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "resident"), "name")->valuestring, "沈国强");
        /* …with what this contact is told. */
        cJSON *msg = cJSON_GetObjectItem(j, "message");
        assert_non_null(msg);
        assert_string_equal(cJSON_GetObjectItem(msg, "title")->valuestring, m.title);
        assert_string_equal(cJSON_GetObjectItem(msg, "text")->valuestring, m.text);
        assert_string_equal(cJSON_GetObjectItem(msg, "ack_url")->valuestring, m.ack_url);
        assert_string_equal(cJSON_GetObjectItem(msg, "contact")->valuestring, "C2");
        assert_string_equal(cJSON_GetObjectItem(msg, "contact_phone")->valuestring, "13800000002");
        assert_int_equal(cJSON_GetObjectItem(msg, "delivery")->valueint, 11);
        cJSON_Delete(j);
        http_request_done(&req);
}

static void test_default_body_without_alert_json_still_says_who_and_where(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:committee", "/hook", NULL);
        struct delivery_message m = sample();
        struct outcome o = {};

        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_int_equal(o.error, 0);

        struct http_request req = get_request(f, 0);
        cJSON *j = cJSON_Parse(req.body);
        assert_non_null(j);
        assert_int_equal(cJSON_GetObjectItem(j, "id")->valueint, 7);
        assert_string_equal(cJSON_GetObjectItem(j, "rule")->valuestring, "leak");
        cJSON *res = cJSON_GetObjectItem(j, "resident");
        assert_string_equal(cJSON_GetObjectItem(res, "flat")->valuestring, "201");
        assert_string_equal(cJSON_GetObjectItem(j, "opened_at")->valuestring, "2026-11-23T01:10:00+08:00");
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "message"), "text")->valuestring, m.text);
        cJSON_Delete(j);
        http_request_done(&req);
}

static void test_wecom_template_renders_valid_json_with_chinese_and_escaped_quotes(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *tpl = read_example("wecom.json");
        struct webhook_settings s = { .body_template = tpl };
        Channel *c = webhook(f, 0, "webhook:wecom", "/cgi-bin/webhook/send?key=abc-123", &s);
        struct delivery_message m = sample();
        struct outcome o = {};
        _cleanup_free_ char *expect = NULL;

        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_int_equal(o.error, 0);

        struct http_request req = get_request(f, 0);
        assert_string_equal(req.path, "/cgi-bin/webhook/send?key=abc-123");
        cJSON *j = cJSON_Parse(req.body);
        assert_non_null(j);
        assert_string_equal(cJSON_GetObjectItem(j, "msgtype")->valuestring, "text");
        cJSON *text = cJSON_GetObjectItem(j, "text");
        assert_true(asprintf(&expect, "%s\n%s", m.title, m.text) > 0);
        /* Quotes, backslash and newlines survive the round trip exactly. */
        assert_string_equal(cJSON_GetObjectItem(text, "content")->valuestring, expect);
        assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(text, "mentioned_mobile_list"), 0)->valuestring,
                            "13800000002");
        /* And the raw body really escaped them (not a lucky parse). */
        assert_non_null(strstr(req.body, "\\\"201\\\"室 \\\\ 后门\\n"));
        cJSON_Delete(j);
        http_request_done(&req);
}

static void test_every_json_example_renders_valid_json(void **state)
{
        struct fixture *f = *state;
        static const char *const examples[] = { "wecom.json", "dingtalk.json", "gotify.json",
                                                "sms-android-gateway.json" };
        struct outcome o[ELEMENTSOF(examples)] = {};
        struct delivery_message m = sample();

        m.severity = "warning";
        for (size_t i = 0; i < ELEMENTSOF(examples); i++) {
                _cleanup_free_ char *tpl = read_example(examples[i]);
                struct webhook_settings s = { .body_template = tpl };
                Channel *c = NULL;
                _cleanup_free_ char *url = http_receiver_url(f->rx, "/x");
                s.url = url;
                assert_int_equal(channel_webhook_new(f->e, examples[i], &s, &c), 0);
                assert_int_equal(channel_send(c, &m, on_done, &o[i]), 0);
                run_until_done(f->e, (struct outcome *[]){ &o[i] }, 1, 5 * USEC_PER_SEC);
                assert_int_equal(o[i].error, 0);
                channel_free(c);

                struct http_request req = get_request(f, i);
                cJSON *j = cJSON_Parse(req.body);
                if (!j)
                        fail_msg("%s rendered invalid JSON: %s", examples[i], req.body);
                if (streq(examples[i], "gotify.json")) {
                        assert_int_equal(cJSON_GetObjectItem(j, "priority")->valueint, 8);
                        assert_string_equal(cJSON_GetObjectItem(j, "title")->valuestring, m.title);
                }
                if (streq(examples[i], "dingtalk.json"))
                        assert_string_equal(
                                cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "at"), "atMobiles"), 0)
                                        ->valuestring,
                                "13800000002");
                cJSON_Delete(j);
                http_request_done(&req);
        }
}

static void test_ntfy_gets_plain_text_and_the_title_in_a_header(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *tpl = read_example("ntfy.txt");
        char *const headers[] = { "Title: {title}", "Priority: {priority}", "Click: {ack_url}", NULL };
        struct webhook_settings s = { .body_template = tpl,
                                      .content_type = "text/plain; charset=utf-8",
                                      .headers = headers,
                                      .method = "PUT" };
        Channel *c = webhook(f, 0, "webhook:ntfy", "/shouwang-secret-{contact_id}", &s);
        struct delivery_message m = sample();
        struct outcome o = {};

        m.title = "【守望】紧急｜沈国强：家里漏水\r\nX-Injected: yes";
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_int_equal(o.error, 0);

        struct http_request req = get_request(f, 0);
        assert_string_equal(req.method, "PUT");
        assert_string_equal(req.path, "/shouwang-secret-C2");
        /* No JSON escaping for text/plain: the text as it is. */
        assert_string_equal(req.body, m.text);
        assert_string_equal(http_request_header(&req, "Priority"), "5");
        assert_string_equal(http_request_header(&req, "Click"), m.ack_url);
        /* A newline in a value cannot smuggle in a header of its own. */
        assert_string_equal(http_request_header(&req, "Title"), "【守望】紧急｜沈国强：家里漏水  X-Injected: yes");
        assert_null(http_request_header(&req, "X-Injected"));
        http_request_done(&req);
}

static void test_form_body_is_percent_encoded(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *tpl = read_example("sms-form.txt");
        struct webhook_settings s = { .body_template = tpl, .content_type = "application/x-www-form-urlencoded" };
        Channel *c = webhook(f, 0, "webhook:sms-form", "/send", &s);
        struct delivery_message m = sample();
        struct outcome o = {};
        _cleanup_free_ char *expect = NULL;

        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_int_equal(o.error, 0);

        struct http_request req = get_request(f, 0);
        assert_true(startswith(req.body, "to=13800000002&text="));
        /* & and = inside the text are encoded, so the form has exactly two fields. */
        const char *text = req.body + strlen("to=13800000002&text=");
        assert_null(strchr(text, '&'));
        assert_null(strchr(text, '='));
        char *decoded = curl_easy_unescape(NULL, text, 0, NULL);
        assert_true(asprintf(&expect, "%s\n%s", m.title, m.text) > 0);
        assert_string_equal(decoded, expect);
        curl_free(decoded);
        http_request_done(&req);
}

static void test_large_body_goes_out_without_waiting_for_100_continue(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:committee", "/hook", NULL);
        struct delivery_message m = sample();
        struct outcome o = {};
        char big[6000];
        usec_t start;

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        m.text = big;
        start = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_int_equal(o.error, 0);
        /* curl would wait up to a second for "100 Continue" before a body this size. */
        assert_true(o.at - start < 500 * USEC_PER_MSEC);
}

/* ---- failures -------------------------------------------------------------------------------------- */

static void test_server_error_is_worth_retrying(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:wecom", "/hook", NULL);
        struct delivery_message m = sample();
        struct outcome o = {};

        http_receiver_respond(f->rx, NULL, HTTP_RECEIVER_ANSWER, 500, "internal error");
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_true(o.done);
        assert_true(o.error < 0);
        assert_false(o.permanent);
        assert_string_equal(o.detail, "HTTP 500: internal error");
}

static void test_rate_limit_and_request_timeout_are_worth_retrying(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:wecom", "/hook", NULL);
        struct delivery_message m = sample();
        struct outcome o1 = {}, o2 = {};

        http_receiver_respond(f->rx, "/hook", HTTP_RECEIVER_ANSWER, 429, "slow down");
        assert_int_equal(channel_send(c, &m, on_done, &o1), 0);
        run_until_done(f->e, (struct outcome *[]){ &o1 }, 1, 5 * USEC_PER_SEC);
        http_receiver_respond(f->rx, "/hook", HTTP_RECEIVER_ANSWER, 408, NULL);
        assert_int_equal(channel_send(c, &m, on_done, &o2), 0);
        run_until_done(f->e, (struct outcome *[]){ &o2 }, 1, 5 * USEC_PER_SEC);
        assert_true(o1.error < 0 && !o1.permanent);
        assert_true(o2.error < 0 && !o2.permanent);
        assert_non_null(strstr(o1.detail, "HTTP 429"));
        assert_non_null(strstr(o2.detail, "HTTP 408"));
}

static void test_not_found_is_permanent_and_names_the_section(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:wecom", "/hook", NULL);
        struct delivery_message m = sample();
        struct outcome o = {};

        http_receiver_respond(f->rx, NULL, HTTP_RECEIVER_ANSWER, 404, "no such robot");
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_true(o.error < 0);
        assert_true(o.permanent);
        assert_string_equal(o.detail, "HTTP 404: check the url in [webhook:wecom] — the server said: no such robot");
}

static void test_unauthorised_says_check_the_key(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:gotify", "/message", NULL);
        struct delivery_message m = sample();
        struct outcome o = {};

        http_receiver_respond(f->rx, NULL, HTTP_RECEIVER_ANSWER, 401, "{\"error\":\"Unauthorized\"}");
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_true(o.permanent);
        assert_non_null(strstr(o.detail, "HTTP 401: refused: check the key or token in [webhook:gotify]"));
}

static void test_robot_errcode_in_a_200_answer_is_a_failure(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:wecom", "/hook", NULL);
        struct delivery_message m = sample();
        struct outcome bad_key = {}, too_fast = {}, keyword = {};

        /* What WeCom says to a revoked key: HTTP 200 all the same. */
        http_receiver_respond(f->rx, NULL, HTTP_RECEIVER_ANSWER, 200,
                              "{\"errcode\":93000,\"errmsg\":\"invalid webhook url, hint: [1700000000_1]\"}");
        assert_int_equal(channel_send(c, &m, on_done, &bad_key), 0);
        run_until_done(f->e, (struct outcome *[]){ &bad_key }, 1, 5 * USEC_PER_SEC);
        assert_true(bad_key.error < 0);
        assert_true(bad_key.permanent);
        assert_non_null(strstr(bad_key.detail, "errcode 93000 invalid webhook url"));
        assert_non_null(strstr(bad_key.detail, "[webhook:wecom]"));

        /* Rate limited: try again later. */
        http_receiver_respond(f->rx, NULL, HTTP_RECEIVER_ANSWER, 200,
                              "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}");
        assert_int_equal(channel_send(c, &m, on_done, &too_fast), 0);
        run_until_done(f->e, (struct outcome *[]){ &too_fast }, 1, 5 * USEC_PER_SEC);
        assert_true(too_fast.error < 0);
        assert_false(too_fast.permanent);

        /* DingTalk's keyword security: the detail says what to set. */
        http_receiver_respond(f->rx, NULL, HTTP_RECEIVER_ANSWER, 200,
                              "{\"errcode\":310000,\"errmsg\":\"keywords not in content\"}");
        assert_int_equal(channel_send(c, &m, on_done, &keyword), 0);
        run_until_done(f->e, (struct outcome *[]){ &keyword }, 1, 5 * USEC_PER_SEC);
        assert_true(keyword.permanent);
        assert_non_null(strstr(keyword.detail, "keyword 守望"));
}

static void test_redirect_is_not_followed(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:wecom", "/hook", NULL);
        struct delivery_message m = sample();
        struct outcome o = {};

        http_receiver_respond(f->rx, NULL, HTTP_RECEIVER_ANSWER, 302, NULL);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_true(o.permanent);
        assert_non_null(strstr(o.detail, "HTTP 302: the url redirects elsewhere"));
        assert_int_equal(http_receiver_count(f->rx), 1);
}

static void test_hanging_webhook_times_out_within_its_total_timeout(void **state)
{
        struct fixture *f = *state;
        struct webhook_settings s = { .timeout = USEC_PER_SEC, .connect_timeout = USEC_PER_SEC };
        Channel *c = webhook(f, 0, "webhook:wecom", "/hook", &s);
        struct delivery_message m = sample();
        struct outcome o = {};
        usec_t start = now_usec(CLOCK_MONOTONIC);

        http_receiver_respond(f->rx, NULL, HTTP_RECEIVER_HANG, 0, NULL);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_true(o.done);
        assert_int_equal(o.error, -ETIMEDOUT);
        assert_false(o.permanent);
        assert_true(startswith(o.detail, "timed out: "));
        /* It did reach the server, and gave up at the total timeout, not later. */
        assert_int_equal(http_receiver_count(f->rx), 1);
        assert_true(o.at - start >= 900 * USEC_PER_MSEC);
        assert_true(o.at - start < 1800 * USEC_PER_MSEC);
}

static void test_connection_closed_without_answer_is_worth_retrying(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:wecom", "/hook", NULL);
        struct delivery_message m = sample();
        struct outcome o = {};

        http_receiver_respond(f->rx, NULL, HTTP_RECEIVER_CLOSE, 0, NULL);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_true(o.done);
        assert_true(o.error < 0);
        assert_false(o.permanent);
        assert_string_equal(o.detail, "the server closed the connection without answering");
}

static void test_connection_refused_is_worth_retrying(void **state)
{
        struct fixture *f = *state;
        int port = http_receiver_closed_port();
        _cleanup_free_ char *url = NULL;
        struct delivery_message m = sample();
        struct outcome o = {};
        usec_t start = now_usec(CLOCK_MONOTONIC);

        assert_true(port > 0);
        assert_true(asprintf(&url, "http://127.0.0.1:%d/hook", port) > 0);
        assert_int_equal(channel_webhook_new(f->e, "webhook:down", &(struct webhook_settings){ .url = url },
                                             &f->c[0]),
                         0);
        assert_int_equal(channel_send(f->c[0], &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_int_equal(o.error, -ECONNREFUSED);
        assert_false(o.permanent);
        assert_true(startswith(o.detail, "cannot connect: "));
        assert_true(o.at - start < USEC_PER_SEC);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        int *ticks = userdata;

        (*ticks)++;
        return sd_event_source_set_time_relative(s, 100 * USEC_PER_MSEC);
}

static void test_hanging_webhook_times_out_and_does_not_delay_others(void **state)
{
        struct fixture *f = *state;
        struct webhook_settings slow = { .timeout = 2 * USEC_PER_SEC };
        Channel *hanging = webhook(f, 0, "webhook:hanging", "/hang", &slow);
        Channel *fine = webhook(f, 1, "webhook:fine", "/ok", NULL);
        struct delivery_message m = sample();
        struct outcome stuck = {}, stuck_too = {}, ok[5] = {};
        sd_event_source *tick = NULL;
        int ticks = 0;
        usec_t start;

        http_receiver_respond(f->rx, "/hang", HTTP_RECEIVER_HANG, 0, NULL);
        assert_int_equal(sd_event_add_time_relative(f->e, &tick, CLOCK_MONOTONIC, 100 * USEC_PER_MSEC, 1000,
                                                    on_tick, &ticks),
                         0);
        assert_int_equal(sd_event_source_set_enabled(tick, SD_EVENT_ON), 0);

        start = now_usec(CLOCK_MONOTONIC);
        /* Two stuck on the hanging server first, then five for the working one. */
        assert_int_equal(channel_send(hanging, &m, on_done, &stuck), 0);
        assert_int_equal(channel_send(hanging, &m, on_done, &stuck_too), 0);
        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                assert_int_equal(channel_send(fine, &m, on_done, &ok[i]), 0);
        run_until_done(f->e, (struct outcome *[]){ &ok[0], &ok[1], &ok[2], &ok[3], &ok[4] }, 5, 5 * USEC_PER_SEC);

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                assert_true(ok[i].done);
                assert_int_equal(ok[i].error, 0);
                assert_true(ok[i].at - start < 700 * USEC_PER_MSEC);
        }
        assert_false(stuck.done);
        assert_false(stuck_too.done);

        run_until_done(f->e, (struct outcome *[]){ &stuck, &stuck_too }, 2, 5 * USEC_PER_SEC);
        assert_int_equal(stuck.error, -ETIMEDOUT);
        assert_int_equal(stuck_too.error, -ETIMEDOUT);
        assert_true(stuck.at - start >= 1900 * USEC_PER_MSEC);
        /* The loop kept turning the whole time: ~20 ticks in 2 s. */
        assert_true(ticks >= 12);
        assert_int_equal(stuck.calls, 1);
        sd_event_source_disable_unref(tick);
}

static void test_freeing_the_channel_with_requests_in_flight_does_not_call_back(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:hanging", "/hang", NULL);
        struct delivery_message m = sample();
        struct outcome o = {};

        http_receiver_respond(f->rx, NULL, HTTP_RECEIVER_HANG, 0, NULL);
        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        while (http_receiver_count(f->rx) < 1)
                assert_true(sd_event_run(f->e, 50 * USEC_PER_MSEC) >= 0);
        f->c[0] = channel_free(c);
        run_for(f->e, 200 * USEC_PER_MSEC);
        assert_false(o.done);
}

struct chain {
        Channel *c;
        struct delivery_message *m;
        struct outcome *second;
        bool first_done;
};

static void on_first(Channel *c, int error, bool permanent, const char *detail, void *userdata)
{
        struct chain *k = userdata;

        k->first_done = true;
        /* What the outbox does: the next pending delivery goes out from here. */
        assert_int_equal(channel_send(k->c, k->m, on_done, k->second), 0);
}

static void test_a_new_send_from_the_done_callback_works(void **state)
{
        struct fixture *f = *state;
        Channel *c = webhook(f, 0, "webhook:wecom", "/hook", NULL);
        struct delivery_message m = sample();
        struct outcome second = {};
        struct chain ch = { c, &m, &second, false };

        assert_int_equal(channel_send(c, &m, on_first, &ch), 0);
        run_until_done(f->e, (struct outcome *[]){ &second }, 1, 5 * USEC_PER_SEC);
        assert_true(ch.first_done);
        assert_int_equal(second.error, 0);
        assert_int_equal(http_receiver_count(f->rx), 2);
}

static void test_settings_that_cannot_work_are_refused_at_setup(void **state)
{
        struct fixture *f = *state;
        Channel *c = NULL;

        assert_int_equal(channel_webhook_new(f->e, "webhook:x", &(struct webhook_settings){ .url = "ftp://x/" }, &c),
                         -EINVAL);
        assert_int_equal(channel_webhook_new(f->e, "webhook:x", &(struct webhook_settings){}, &c), -EINVAL);
        assert_int_equal(channel_webhook_new(f->e, "webhook:x",
                                             &(struct webhook_settings){ .url = "http://x/", .method = "GET" }, &c),
                         -EINVAL);
        assert_null(c);
}

static void test_unknown_placeholder_is_sent_visible(void **state)
{
        struct fixture *f = *state;
        struct webhook_settings s = { .body_template = "{\"text\":\"{txet}: {text}\"}" };
        Channel *c = webhook(f, 0, "webhook:typo", "/hook", &s);
        struct delivery_message m = sample();
        struct outcome o = {};

        assert_int_equal(channel_send(c, &m, on_done, &o), 0);
        run_until_done(f->e, (struct outcome *[]){ &o }, 1, 5 * USEC_PER_SEC);
        assert_int_equal(o.error, 0);
        struct http_request req = get_request(f, 0);
        assert_true(startswith(req.body, "{\"text\":\"{txet}: 家里漏水了"));
        http_request_done(&req);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_default_body_is_the_alert_json_with_the_message, setup, teardown),
                cmocka_unit_test_setup_teardown(test_default_body_without_alert_json_still_says_who_and_where, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_wecom_template_renders_valid_json_with_chinese_and_escaped_quotes,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_every_json_example_renders_valid_json, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ntfy_gets_plain_text_and_the_title_in_a_header, setup, teardown),
                cmocka_unit_test_setup_teardown(test_form_body_is_percent_encoded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_large_body_goes_out_without_waiting_for_100_continue, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_server_error_is_worth_retrying, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rate_limit_and_request_timeout_are_worth_retrying, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_not_found_is_permanent_and_names_the_section, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unauthorised_says_check_the_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_robot_errcode_in_a_200_answer_is_a_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_redirect_is_not_followed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hanging_webhook_times_out_within_its_total_timeout, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_connection_closed_without_answer_is_worth_retrying, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_connection_refused_is_worth_retrying, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hanging_webhook_times_out_and_does_not_delay_others, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_freeing_the_channel_with_requests_in_flight_does_not_call_back,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_new_send_from_the_done_callback_works, setup, teardown),
                cmocka_unit_test_setup_teardown(test_settings_that_cannot_work_are_refused_at_setup, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_placeholder_is_sent_visible, setup, teardown),
        };

        /* As shouwangd's main(): signals blocked before any thread (the receiver's) starts. */
        assert_int_equal(manager_block_signals(), 0);
        assert_int_equal(channel_webhook_global_init(), 0);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
