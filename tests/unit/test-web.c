/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "I'm going" pages (daemon/web.c) served for real: a real SQLite file
 * with the story's roster, the real alert lifecycle, the real HTTP server on
 * a loopback port of this test's sd-event loop, and requests from a client
 * thread. (The same pages in real Chromium, tapped as on a phone, are in
 * tests/integration/test-web-pages.c.)
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "daemon/http.h"
#include "daemon/outbox.h"
#include "daemon/web.h"
#include "tests/lib/http-client.h"
#include "tests/lib/roster-put.h"

struct fixture {
        char dir[64];
        sd_event *event;
        Store *store;
        Alerts *alerts;
        Messages *messages;
        Web *web;
        int port;
        int64_t alert;
        char tok_wang[ALERT_TOKEN_LEN + 1], tok_li[ALERT_TOKEN_LEN + 1];
        char target_wang[160], target_li[160];
};

static void story_roster(Store *s)
{
        tu_roster_put(s, ROSTER_RESIDENTS, "R201", "沈国强", "B17", "201", "是", "", "");
        tu_roster_put(s, ROSTER_CONTACTS, "C-wang", "王阿姨", "139", "neighbour", "mqtt");
        tu_roster_put(s, ROSTER_CONTACTS, "C-li", "李楼组长", "138", "group_leader", "mqtt");
        tu_roster_put(s, ROSTER_CONTACTS, "C-duty", "居委值班", "137", "committee", "mqtt");
        tu_roster_put(s, ROSTER_LINKS, "R201", "C-wang", "1");
        tu_roster_put(s, ROSTER_LINKS, "R201", "C-li", "1");
        tu_roster_put(s, ROSTER_LINKS, "R201", "C-duty", "2");
}

static int64_t raise_leak(struct fixture *f, const char *resident)
{
        struct alert_request req = {
            .rule = "leak",
            .severity = "critical",
            .resident_id = resident,
            .building_id = "B17",
            .sensor_id = "S201-leak",
            .text_key = "leak.alone",
            .text = "201 沈国强 家漏水",
        };
        int64_t id = 0;

        assert_int_equal(alerts_raise(f->alerts, &req, now_usec(CLOCK_REALTIME), &id, NULL), 0);
        return id;
}

static int setup_locale(void **state, const char *locale)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char path[128];

        assert_non_null(f);
        strcpy(f->dir, "/tmp/shouwang-test-web-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(path, sizeof(path), "%s/db", f->dir);
        assert_int_equal(store_open(path, STORE_OPEN_CREATE, &f->store), 0);
        story_roster(f->store);
        assert_int_equal(alerts_new(f->store, NULL, &f->alerts), 0);
        snprintf(path, sizeof(path), "%s/no-templates", f->dir);
        assert_int_equal(messages_new(locale, path, &f->messages), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        struct web_settings ws = { .listen = "127.0.0.1:0", .locale = locale };
        assert_int_equal(web_new(f->event, f->store, f->alerts, f->messages, &ws, &f->web), 0);
        f->port = web_port(f->web);
        assert_true(f->port > 0);

        f->alert = raise_leak(f, "R201");
        /* The outbox's part: tier 1's messages went out. */
        assert_int_equal(sqlite3_exec(store_db(f->store),
                                      "UPDATE deliveries SET state = 'sent', sent_at = 1 "
                                      "WHERE state = 'pending'",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        usec_t now = now_usec(CLOCK_REALTIME);
        assert_int_equal(alerts_token_issue(f->alerts, f->alert, "C-wang", now, f->tok_wang), 0);
        assert_int_equal(alerts_token_issue(f->alerts, f->alert, "C-li", now, f->tok_li), 0);
        snprintf(f->target_wang, sizeof(f->target_wang), "/a/%lld?c=C-wang&t=%s", (long long)f->alert, f->tok_wang);
        snprintf(f->target_li, sizeof(f->target_li), "/a/%lld?c=C-li&t=%s", (long long)f->alert, f->tok_li);
        *state = f;
        return 0;
}

static int setup(void **state)
{
        return setup_locale(state, "zh_CN");
}

static int setup_en(void **state)
{
        return setup_locale(state, "en");
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        web_free(f->web);
        sd_event_unref(f->event);
        messages_free(f->messages);
        alerts_free(f->alerts);
        store_free(f->store);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static const char *alert_state(struct fixture *f)
{
        static char buf[256];
        sqlite3_stmt *st;

        assert_int_equal(
            sqlite3_prepare_v2(store_db(f->store),
                               "SELECT state || ':' || coalesce(acked_by, '') || ':' || "
                               "coalesce(outcome, '') || ':' || coalesce(note, '') FROM alerts WHERE id = ?1",
                               -1, &st, NULL),
            SQLITE_OK);
        sqlite3_bind_int64(st, 1, f->alert);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return buf;
}

static int count_pending(struct fixture *f, const char *purpose)
{
        sqlite3_stmt *st;
        int n;

        assert_int_equal(sqlite3_prepare_v2(store_db(f->store),
                                            "SELECT count(*) FROM deliveries WHERE state = 'pending' AND purpose = ?1",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, purpose, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return n;
}

static void get(struct fixture *f, const char *target, int status, struct tu_http_answer *a)
{
        assert_int_equal(tu_http_get(f->event, f->port, target, a), 0);
        if (a->status != status)
                fail_msg("GET %s: %d, expected %d:\n%s", target, a->status, status, a->body);
}

static void post(struct fixture *f, const char *form, int status, struct tu_http_answer *a)
{
        char target[32];

        snprintf(target, sizeof(target), "/a/%lld", (long long)f->alert);
        assert_int_equal(tu_http_post(f->event, f->port, target, form, a), 0);
        if (a->status != status)
                fail_msg("POST %s: %d, expected %d:\n%s", form, a->status, status, a->body);
}

static void test_the_link_shows_what_where_and_who_without_using_the_token(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;

        get(f, f->target_wang, 200, &a);
        _cleanup_free_ char *type = tu_http_header(&a, "Content-Type"), *cache = tu_http_header(&a, "Cache-Control");
        assert_string_equal(type, "text/html; charset=utf-8");
        assert_string_equal(cache, "no-store");
        assert_non_null(strstr(a.body, "<html lang=\"zh-CN\">"));
        assert_non_null(strstr(a.body, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
        assert_non_null(strstr(a.body, "沈国强"));
        assert_non_null(strstr(a.body, "B17 201室"));
        assert_non_null(strstr(a.body, "还没有人说要去。"));
        assert_non_null(strstr(a.body, "value=\"ack\" class=\"go\">我去看看</button>"));
        assert_non_null(strstr(a.body, "value=\"resolve\""));
        /* Forms and links relative to the page, so a proxy may serve it under a folder. */
        assert_non_null(strstr(a.body, "<form method=\"post\" action=\"1\">"));
        /* Who else was told, with their role. */
        assert_non_null(strstr(a.body, "李楼组长（楼组长）"));
        /* No scripts: it must work in any phone's browser. */
        assert_null(strstr(a.body, "<script"));
        tu_http_answer_done(&a);

        /* A chat app's link preview fetched it twice more: nobody is "going" because of that. */
        get(f, f->target_wang, 200, &a);
        tu_http_answer_done(&a);
        assert_string_equal(alert_state(f), "open:::");
        assert_int_equal(
            alerts_token_check(f->alerts, f->alert, "C-wang", f->tok_wang, "ack", now_usec(CLOCK_REALTIME)), 0);
}

static void test_im_going_acknowledges_tells_the_others_and_shows_it(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;
        char form[160], expect_loc[192];

        snprintf(form, sizeof(form), "c=C-wang&t=%s&action=ack", f->tok_wang);
        post(f, form, 303, &a);
        _cleanup_free_ char *loc = tu_http_header(&a, "Location");
        /* Relative, so a reverse proxy may serve the pages under a folder. */
        snprintf(expect_loc, sizeof(expect_loc), "%lld?c=C-wang&t=%s", (long long)f->alert, f->tok_wang);
        assert_string_equal(loc, expect_loc);
        snprintf(expect_loc, sizeof(expect_loc), "/a/%s", loc);
        tu_http_answer_done(&a);
        assert_string_equal(alert_state(f), "acknowledged:C-wang::");
        /* The group leader (already told) hears that 王阿姨 is on the way. */
        assert_true(count_pending(f, "ack_info") >= 1);

        get(f, expect_loc, 200, &a);
        assert_non_null(strstr(a.body, "你已说要去（"));
        assert_null(strstr(a.body, "value=\"ack\""));         /* no second "I'm going" for her */
        assert_non_null(strstr(a.body, "value=\"resolve\"")); /* but she can close it */
        assert_non_null(strstr(a.body, "王阿姨（结对邻居）"));
        assert_non_null(strstr(a.body, "<b>在路上</b>"));
        tu_http_answer_done(&a);

        /* The group leader's page says who is going; his "I'm going too" changes nothing. */
        get(f, f->target_li, 200, &a);
        assert_non_null(strstr(a.body, "王阿姨 已在路上（"));
        tu_http_answer_done(&a);
        snprintf(form, sizeof(form), "c=C-li&t=%s&action=ack", f->tok_li);
        post(f, form, 303, &a);
        tu_http_answer_done(&a);
        assert_string_equal(alert_state(f), "acknowledged:C-wang::");

        /* Her double tap (or the back button and tap again): the same page, no error, and not counted
         * as a refused token. */
        snprintf(form, sizeof(form), "c=C-wang&t=%s&action=ack", f->tok_wang);
        post(f, form, 303, &a);
        tu_http_answer_done(&a);
        assert_int_equal(alerts_tokens_refused(f->alerts), 0);
}

static void test_resolved_with_an_outcome_and_a_chinese_note_then_no_more_buttons(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;
        char form[256];

        /* Closed straight away, without "I'm going" first (she phoned and he answered). */
        snprintf(form, sizeof(form),
                 "c=C-wang&t=%s&outcome=hospital&note=%%E5%%B7%%B2%%E9%%80%%81%%E5%%8C%%BB+%%3Cb%%3E&action=resolve",
                 f->tok_wang);
        post(f, form, 303, &a);
        tu_http_answer_done(&a);
        assert_string_equal(alert_state(f), "resolved:C-wang:hospital:已送医 <b>");

        get(f, f->target_li, 200, &a);
        assert_non_null(strstr(a.body, "已处理：王阿姨，已送医院（"));
        /* The note as text, never as markup. */
        assert_non_null(strstr(a.body, "已送医 &lt;b&gt;"));
        assert_null(strstr(a.body, "<form"));
        tu_http_answer_done(&a);

        /* A late tap on a resolved alert: the page, which says it is resolved. */
        snprintf(form, sizeof(form), "c=C-li&t=%s&action=ack", f->tok_li);
        post(f, form, 303, &a);
        tu_http_answer_done(&a);
        assert_string_equal(alert_state(f), "resolved:C-wang:hospital:已送医 <b>");
}

static void test_a_dried_leak_is_said_but_someone_must_still_look_in(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;
        char form[160];

        assert_int_equal(alerts_clear(f->alerts, "R201", "B17", "leak", now_usec(CLOCK_REALTIME)), 0);
        get(f, f->target_li, 200, &a);
        assert_non_null(strstr(a.body, "已恢复正常，但还是要有人去看一眼"));
        assert_non_null(strstr(a.body, "我去看看</button>"));
        tu_http_answer_done(&a);

        /* "Something else": said as such, with the note. */
        snprintf(form, sizeof(form), "c=C-li&t=%s&action=resolve&outcome=other&note=%%E6%%B0%%B4%%E7%%AE%%A1",
                 f->tok_li);
        post(f, form, 303, &a);
        tu_http_answer_done(&a);
        get(f, f->target_li, 200, &a);
        assert_non_null(strstr(a.body, "已处理：李楼组长，其他（见说明）（"));
        assert_non_null(strstr(a.body, "——水管"));
        assert_null(strstr(a.body, "已恢复正常"));
        tu_http_answer_done(&a);
}

static void test_bad_links_say_what_to_do_and_change_nothing(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;
        char target[192], form[160];

        /* Another contact's name with this token. */
        snprintf(target, sizeof(target), "/a/%lld?c=C-li&t=%s", (long long)f->alert, f->tok_wang);
        get(f, target, 403, &a);
        assert_non_null(strstr(a.body, "请用最新一条消息里的链接"));
        tu_http_answer_done(&a);
        /* A link cut short by a chat app. */
        snprintf(target, sizeof(target), "/a/%lld?c=C-wang&t=%.10s", (long long)f->alert, f->tok_wang);
        get(f, target, 403, &a);
        tu_http_answer_done(&a);
        snprintf(target, sizeof(target), "/a/%lld?c=C-wang", (long long)f->alert);
        get(f, target, 403, &a);
        tu_http_answer_done(&a);
        /* Another alert's number. */
        snprintf(target, sizeof(target), "/a/%lld?c=C-wang&t=%s", (long long)f->alert + 1, f->tok_wang);
        get(f, target, 403, &a);
        tu_http_answer_done(&a);
        /* A forged form. */
        snprintf(form, sizeof(form), "c=C-wang&t=%032d&action=ack", 0);
        post(f, form, 403, &a);
        tu_http_answer_done(&a);
        assert_string_equal(alert_state(f), "open:::");
        assert_int_equal(alerts_tokens_refused(f->alerts), 4); /* the link without a token never got that far */

        /* A link from four days ago. */
        char old[ALERT_TOKEN_LEN + 1];
        assert_int_equal(
            alerts_token_issue(f->alerts, f->alert, "C-duty", now_usec(CLOCK_REALTIME) - 4 * USEC_PER_DAY, old), 0);
        snprintf(target, sizeof(target), "/a/%lld?c=C-duty&t=%s", (long long)f->alert, old);
        get(f, target, 410, &a);
        assert_non_null(strstr(a.body, "链接已经过期"));
        tu_http_answer_done(&a);

        get(f, "/etc/passwd", 404, &a);
        tu_http_answer_done(&a);
        get(f, "/a/abc", 404, &a);
        tu_http_answer_done(&a);
        get(f, "/", 200, &a);
        assert_non_null(strstr(a.body, "守望在运行"));
        tu_http_answer_done(&a);
        get(f, "/favicon.ico", 204, &a); /* browsers ask for it: no error in their console */
        tu_http_answer_done(&a);
        assert_int_equal(tu_http_post(f->event, f->port, "/", "x=1", &a), 0);
        assert_int_equal(a.status, 405);
        tu_http_answer_done(&a);

        /* A form that is not a form (a script posting JSON): refused, nothing done. */
        char req[256];
        int n = snprintf(req, sizeof(req),
                         "POST /a/%lld HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                         (long long)f->alert);
        assert_int_equal(tu_http_exchange(f->event, f->port, req, (size_t)n, 5 * USEC_PER_SEC, &a), 0);
        assert_int_equal(a.status, 415);
        assert_non_null(strstr(a.body, "提交的内容不完整"));
        tu_http_answer_done(&a);
        assert_string_equal(alert_state(f), "open:::");
}

static void test_a_form_that_cannot_be_taken_keeps_what_was_typed(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;
        size_t n = 2100; /* bytes: more than the 2,000 a 500-character box can hold */
        _cleanup_free_ char *form = malloc(n + 128);

        /* A note longer than the limit: said, and the note comes back in the box. */
        int k = snprintf(form, n + 128, "c=C-wang&t=%s&action=resolve&note=", f->tok_wang);
        memset(form + k, 'x', n);
        form[k + n] = '\0';
        post(f, form, 400, &a);
        assert_non_null(strstr(a.body, "说明太长了"));
        assert_non_null(strstr(a.body, "xxxxxxxxxxxxxxxxxxxx</textarea>"));
        tu_http_answer_done(&a);

        snprintf(form, n, "c=C-wang&t=%s&action=explode", f->tok_wang);
        post(f, form, 400, &a);
        assert_non_null(strstr(a.body, "提交的内容不完整"));
        tu_http_answer_done(&a);
        snprintf(form, n, "c=C-wang&t=%s&action=resolve&outcome=eaten", f->tok_wang);
        post(f, form, 400, &a);
        tu_http_answer_done(&a);
        snprintf(form, n, "c=C-wang&t=%s&action=resolve&note=%%E5%%B7", f->tok_wang);
        post(f, form, 400, &a);
        tu_http_answer_done(&a);
        assert_string_equal(alert_state(f), "open:::");
}

static void test_names_from_the_roster_are_text_not_markup(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;
        char tok[ALERT_TOKEN_LEN + 1], target[192];

        tu_roster_put(f->store, ROSTER_RESIDENTS, "R301", "<script>alert(1)</script>", "B17", "301", "是", "", "");
        tu_roster_put(f->store, ROSTER_CONTACTS, "C&1", "赵\"老师\"", "131", "neighbour", "mqtt");
        tu_roster_put(f->store, ROSTER_LINKS, "R301", "C&1", "1");
        f->alert = raise_leak(f, "R301");
        assert_int_equal(alerts_token_issue(f->alerts, f->alert, "C&1", now_usec(CLOCK_REALTIME), tok), 0);

        /* The link the message carries escapes the id, and the page gets it back whole. */
        _cleanup_free_ char *url = outbox_ack_url("http://192.168.1.20:8080/", f->alert, "C&1", tok);
        snprintf(target, sizeof(target), "/a/%lld?c=C%%261&t=%s", (long long)f->alert, tok);
        assert_non_null(strstr(url, target));
        get(f, target, 200, &a);
        assert_null(strstr(a.body, "<script>"));
        assert_non_null(strstr(a.body, "&lt;script&gt;"));
        assert_non_null(strstr(a.body, "name=\"c\" value=\"C&amp;1\""));
        tu_http_answer_done(&a);
}

static void test_english_pages_for_an_english_gateway(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;

        get(f, f->target_wang, 200, &a);
        assert_non_null(strstr(a.body, "<html lang=\"en\">"));
        assert_non_null(strstr(a.body, ">I'm going</button>"));
        assert_non_null(strstr(a.body, "Nobody has said they are going yet."));
        tu_http_answer_done(&a);
}

static void test_a_busy_port_is_tried_again_until_it_is_free(void **state)
{
        struct fixture *f = *state;
        Web *second = NULL;
        char listen_on[32];

        snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", f->port);
        struct web_settings ws = { .listen = listen_on, .locale = "zh_CN", .retry = 50 * USEC_PER_MSEC };
        assert_int_equal(web_new(f->event, f->store, f->alerts, f->messages, &ws, &second), 0);
        assert_int_equal(web_port(second), -EADDRNOTAVAIL);

        /* The other program goes away; the next try gets the port. */
        f->web = web_free(f->web);
        for (int i = 0; i < 100 && web_port(second) < 0; i++)
                (void)sd_event_run(f->event, 20 * USEC_PER_MSEC);
        assert_int_equal(web_port(second), f->port);
        struct tu_http_answer a;
        get(f, f->target_wang, 200, &a);
        tu_http_answer_done(&a);
        web_free(second);

        ws.listen = "nonsense";
        assert_int_equal(web_new(f->event, f->store, f->alerts, f->messages, &ws, &second), -EINVAL);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_the_link_shows_what_where_and_who_without_using_the_token),
                T(test_im_going_acknowledges_tells_the_others_and_shows_it),
                T(test_resolved_with_an_outcome_and_a_chinese_note_then_no_more_buttons),
                T(test_a_dried_leak_is_said_but_someone_must_still_look_in),
                T(test_bad_links_say_what_to_do_and_change_nothing),
                T(test_a_form_that_cannot_be_taken_keeps_what_was_typed),
                T(test_names_from_the_roster_are_text_not_markup),
                cmocka_unit_test_setup_teardown(test_english_pages_for_an_english_gateway, setup_en, teardown),
                T(test_a_busy_port_is_tried_again_until_it_is_free),
        };
        setenv("TZ", "Asia/Shanghai", 1);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
