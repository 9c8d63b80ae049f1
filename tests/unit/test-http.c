/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pages' HTTP server (daemon/http.c): the request parser as a pure
 * function, the form decoder, and the server itself on a real loopback
 * socket with this test's sd-event loop, fed by a client thread that sends
 * exactly the bytes a test gives: whole requests, garbage, a request cut
 * short, too much.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "daemon/http.h"
#include "tests/lib/http-client.h"

/* The fuzz target's checks, run here on its corpus (tests/fuzz/fuzz-http.c). */
#define FUZZ_HTTP_NO_MAIN
#include "tests/fuzz/fuzz-http.c"

/* ---- the parser ---------------------------------------------------------------------------------------- */

static int parse(const char *text, struct http_request *req, char *path, const char **why)
{
        static char buf[HTTP_HEAD_MAX + 64];
        size_t len = strlen(text);

        assert_true(len < sizeof(buf));
        memcpy(buf, text, len + 1);
        return http_parse_head(buf, len, path, HTTP_TARGET_MAX + 1, req, why);
}

static void test_a_phones_get_is_parsed_with_its_decoded_path_and_raw_query(void **state)
{
        struct http_request req;
        char path[HTTP_TARGET_MAX + 1];
        const char *why;

        assert_int_equal(parse("GET /a/7?c=C2&t=abc HTTP/1.1\r\nHost: 192.168.1.20:8080\r\n"
                               "User-Agent: Mozilla/5.0 (Linux; Android 7.0)\r\n\r\n",
                               &req, path, &why),
                         0);
        assert_string_equal(req.method, "GET");
        assert_string_equal(req.path, "/a/7");
        assert_string_equal(req.query, "c=C2&t=abc");
        assert_int_equal(req.content_length, 0);

        /* An escaped path is decoded; a hand-typed request with bare LFs is fine too. */
        assert_int_equal(parse("GET /%61/7 HTTP/1.0\n\n", &req, path, &why), 0);
        assert_string_equal(req.path, "/a/7");
        assert_string_equal(req.query, "");
}

static void test_a_form_post_has_its_length_type_and_expect(void **state)
{
        struct http_request req;
        char path[HTTP_TARGET_MAX + 1];
        const char *why;

        assert_int_equal(parse("POST /a/7 HTTP/1.1\r\ncontent-length:  42 \r\n"
                               "Content-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\n\r\n",
                               &req, path, &why),
                         0);
        assert_int_equal(req.content_length, 42);
        assert_string_equal(req.content_type, "application/x-www-form-urlencoded");
        assert_true(req.expect_continue);
}

static void test_broken_requests_get_the_right_status_and_a_reason(void **state)
{
        static const struct {
                const char *text;
                int status;
                const char *why;
        } cases[] = {
            {"GARBAGE\r\n\r\n", -400, "METHOD TARGET"},
            {"GET /a/7\r\n\r\n", -400, "METHOD TARGET"},
            {"GET /a/7 HTTP/2.0\r\n\r\n", -505, "HTTP/1.1"},
            {"GET /a/7 FTP/1.0\r\n\r\n", -400, "HTTP/1.1"},
            {"DELETE /a/7 HTTP/1.1\r\n\r\n", -501, "GET, HEAD and POST"},
            {"GET a/7 HTTP/1.1\r\n\r\n", -400, "start with /"},
            {"GET /a/%7 HTTP/1.1\r\n\r\n", -400, "%-escape"},
            {"GET /a/%00 HTTP/1.1\r\n\r\n", -400, "%-escape"},
            {"GET /a\x01 HTTP/1.1\r\n\r\n", -400, "control character"},
            {"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", -400, ""},
            {"GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n", -400, "folded"},
            {"GET / HTTP/1.1\r\nBad Name: a\r\n\r\n", -400, "header name"},
            {"POST /a/7 HTTP/1.1\r\n\r\n", -411, "Content-Length"},
            {"POST /a/7 HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", -413, "too big"},
            {"POST /a/7 HTTP/1.1\r\nContent-Length: -1\r\n\r\n", -400, "not a number"},
            {"POST /a/7 HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", -400, "two different"},
            {"POST /a/7 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", -501, "chunked"},
            {"POST /a/7 HTTP/1.1\r\nContent-Length: 5\r\nExpect: something\r\n\r\n", -417, "100-continue"},
        };
        struct http_request req;
        char path[HTTP_TARGET_MAX + 1];
        const char *why;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = parse(cases[i].text, &req, path, &why);
                if (r != cases[i].status || !strstr(why, cases[i].why))
                        fail_msg("case %zu: %d \"%s\", expected %d with \"%s\"", i, r, why, cases[i].status,
                                 cases[i].why);
        }

        /* A target beyond its limit. */
        char *text = malloc(HTTP_TARGET_MAX + 64);
        assert_non_null(text);
        strcpy(text, "GET /");
        memset(text + 5, 'a', HTTP_TARGET_MAX);
        strcpy(text + 5 + HTTP_TARGET_MAX, " HTTP/1.1\r\n\r\n");
        assert_int_equal(parse(text, &req, path, &why), -414);
        free(text);
}

static void test_the_head_ends_at_the_first_empty_line(void **state)
{
        assert_int_equal(http_head_end("GET / HTTP/1.1\r\nHost: x\r\n", 25), 0);
        assert_int_equal(http_head_end("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", 31), 27);
        assert_int_equal(http_head_end("GET / HTTP/1.1\n\nbody", 20), 16);
}

/* ---- forms ---------------------------------------------------------------------------------------------- */

static void test_form_fields_are_decoded_chinese_and_spaces_included(void **state)
{
        const char *form = "c=C%262&t=abc&note=%E5%B7%B2%E9%80%81%E5%8C%BB+ok&empty=&flag";
        char *v = NULL;

        assert_int_equal(http_form_get(form, strlen(form), "c", &v), 0);
        assert_string_equal(v, "C&2");
        free(v);
        assert_int_equal(http_form_get(form, strlen(form), "note", &v), 0);
        assert_string_equal(v, "已送医 ok");
        free(v);
        assert_int_equal(http_form_get(form, strlen(form), "empty", &v), 0);
        assert_string_equal(v, "");
        free(v);
        assert_int_equal(http_form_get(form, strlen(form), "flag", &v), 0);
        assert_string_equal(v, "");
        free(v);
        assert_int_equal(http_form_get(form, strlen(form), "missing", &v), -ENOENT);
        /* Only the form's own bytes are read: "t=abc" cut at "t=a". */
        assert_int_equal(http_form_get(form, 11, "t", &v), 0);
        assert_string_equal(v, "a");
        free(v);
}

static void test_broken_form_values_are_refused_not_guessed(void **state)
{
        char *v = NULL;

        assert_int_equal(http_form_get("note=%E5%B7", 11, "note", &v), -EINVAL); /* cut inside a character */
        assert_int_equal(http_form_get("note=%zz", 8, "note", &v), -EINVAL);
        assert_int_equal(http_form_get("note=%4", 7, "note", &v), -EINVAL);
        assert_int_equal(http_form_get("note=a%00b", 10, "note", &v), -EINVAL);
        assert_int_equal(http_form_get("note=%C0%AF", 11, "note", &v), -EINVAL); /* overlong */
}

static void test_escaping_for_links_and_html(void **state)
{
        char *s = url_escape("C&2 王");
        assert_string_equal(s, "C%262%20%E7%8E%8B");
        free(s);
        s = html_escape("<script>alert(\"x\")</script> & '");
        assert_string_equal(s, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;");
        free(s);
}

/* Every file of the fuzzer's corpus, whole and cut at every length, through the parser and the form
 * decoder: under make check SANITIZE=address,undefined this keeps what the fuzzer found fixed. */
static void test_the_fuzz_corpus_parses_within_its_promises(void **state)
{
        const char *top = getenv("SHOUWANG_TOP") ? getenv("SHOUWANG_TOP") : ".";
        char dir[512];
        struct dirent *de;
        unsigned files = 0;

        snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/http", top);
        DIR *d = opendir(dir);
        assert_non_null(d);
        while ((de = readdir(d))) {
                char path[1024];
                char *data = NULL;
                size_t len = 0;
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                assert_int_equal(read_full_file(path, &data, &len), 0);
                for (size_t n = 0; n <= len; n++)
                        (void)fuzz_http_one((const uint8_t *)data, n);
                free(data);
                files++;
        }
        closedir(d);
        assert_true(files >= 4);
}

/* ---- the server on a real socket ------------------------------------------------------------------------- */

struct fixture {
        sd_event *event;
        HttpServer *server;
        int port;
        int calls;
        char last_body[256];
};

static void echo(const struct http_request *req, struct http_response *resp, void *userdata)
{
        struct fixture *f = userdata;

        f->calls++;
        snprintf(f->last_body, sizeof(f->last_body), "%.*s", (int)req->body_len, req->body ? req->body : "");
        if (streq(req->path, "/go")) {
                resp->status = 303;
                resp->location = strdup("/a/1?c=C2");
                return;
        }
        resp->content_type = "text/plain; charset=utf-8";
        if (asprintf(&resp->body, "%s %s [%s] from %s", req->method, req->path, f->last_body, req->remote) < 0)
                resp->body = NULL;
        resp->body_len = resp->body ? strlen(resp->body) : 0;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(http_server_new(f->event, "127.0.0.1:0", echo, f, &f->server), 0);
        f->port = http_server_port(f->server);
        assert_true(f->port > 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        http_server_free(f->server);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

static void test_a_get_is_answered_and_the_connection_closed(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;

        assert_int_equal(tu_http_get(f->event, f->port, "/hello?x=1", &a), 0);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "GET /hello [] from 127.0.0.1");
        _cleanup_free_ char *len = tu_http_header(&a, "Content-Length"), *conn = tu_http_header(&a, "Connection"),
                            *ref = tu_http_header(&a, "Referrer-Policy"),
                            *csp = tu_http_header(&a, "Content-Security-Policy");
        assert_string_equal(len, "28");
        assert_string_equal(conn, "close");
        /* The links carry tokens: never sent on to another site, never framed, no scripts. */
        assert_string_equal(ref, "no-referrer");
        assert_non_null(strstr(csp, "default-src 'none'"));
        assert_non_null(strstr(csp, "frame-ancestors 'none'"));
        tu_http_answer_done(&a);
}

static void test_head_gets_the_headers_without_the_body(void **state)
{
        struct fixture *f = *state;
        static const char req[] = "HEAD /x HTTP/1.1\r\n\r\n";
        struct tu_http_answer a;

        assert_int_equal(tu_http_exchange(f->event, f->port, req, sizeof(req) - 1, 5 * USEC_PER_SEC, &a), 0);
        assert_int_equal(a.status, 200);
        _cleanup_free_ char *len = tu_http_header(&a, "Content-Length");
        assert_string_equal(len, "25"); /* "HEAD /x [] from 127.0.0.1" */
        assert_int_equal(a.body_len, 0);
        tu_http_answer_done(&a);
}

static void test_a_post_body_arrives_whole_even_in_pieces_and_with_expect(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;

        assert_int_equal(tu_http_post(f->event, f->port, "/a/1", "c=C2&action=ack", &a), 0);
        assert_int_equal(a.status, 200);
        assert_string_equal(f->last_body, "c=C2&action=ack");
        tu_http_answer_done(&a);

        /* curl's way for bigger forms: Expect: 100-continue, then the body after "100 Continue". */
        static const char req[] = "POST /a/1 HTTP/1.1\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n";
        assert_int_equal(tu_http_exchange(f->event, f->port, req, sizeof(req) - 1, 300 * USEC_PER_MSEC, &a), 0);
        assert_int_equal(a.status, 100); /* and then nothing: the server waits for the body */
        tu_http_answer_done(&a);
        /* The whole of it at once works too: the interim answer, then the real one. */
        static const char req2[] = "POST /a/1 HTTP/1.1\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\nx=1234";
        assert_int_equal(tu_http_exchange(f->event, f->port, req2, sizeof(req2) - 1, 5 * USEC_PER_SEC, &a), 0);
        assert_int_equal(a.status, 200);
        assert_string_equal(f->last_body, "x=1234");
        tu_http_answer_done(&a);
}

static void test_a_redirect_carries_its_location(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;

        assert_int_equal(tu_http_post(f->event, f->port, "/go", "action=ack", &a), 0);
        assert_int_equal(a.status, 303);
        _cleanup_free_ char *loc = tu_http_header(&a, "Location");
        assert_string_equal(loc, "/a/1?c=C2");
        tu_http_answer_done(&a);
}

static void test_garbage_and_oversize_are_refused_with_a_reason_and_never_reach_the_handler(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;
        struct http_server_stats st;

        static const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"; /* a TLS hello */
        assert_int_equal(tu_http_exchange(f->event, f->port, garbage, sizeof(garbage) - 1, 5 * USEC_PER_SEC, &a), 0);
        assert_int_equal(a.status, 400);
        assert_non_null(strstr(a.body, "400 Bad Request:"));
        tu_http_answer_done(&a);

        /* Headers that never end: refused at the limit, not read forever. */
        size_t n = HTTP_HEAD_MAX + 4096;
        char *big = malloc(n);
        assert_non_null(big);
        memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
        memset(big + 23, 'a', n - 23);
        assert_int_equal(tu_http_exchange(f->event, f->port, big, n, 5 * USEC_PER_SEC, &a), 0);
        assert_int_equal(a.status, 431);
        tu_http_answer_done(&a);
        free(big);

        static const char huge[] = "POST /a/1 HTTP/1.1\r\nContent-Length: 100000\r\n\r\n";
        assert_int_equal(tu_http_exchange(f->event, f->port, huge, sizeof(huge) - 1, 5 * USEC_PER_SEC, &a), 0);
        assert_int_equal(a.status, 413);
        tu_http_answer_done(&a);

        assert_int_equal(f->calls, 0);
        http_server_get_stats(f->server, &st);
        assert_int_equal(st.refused, 3);
        assert_int_equal(st.connections, 0);
}

static void test_a_request_that_stalls_gets_408_and_its_connection_back(void **state)
{
        struct fixture *f = *state;
        struct tu_http_answer a;
        struct http_server_stats st;

        http_server_set_timeout(f->server, 200 * USEC_PER_MSEC);
        static const char half[] = "GET /a/1?c=C2 HTTP/1.1\r\nHost: x\r\n";
        assert_int_equal(tu_http_exchange(f->event, f->port, half, sizeof(half) - 1, 5 * USEC_PER_SEC, &a), 0);
        assert_int_equal(a.status, 408);
        tu_http_answer_done(&a);
        assert_int_equal(f->calls, 0);
        http_server_get_stats(f->server, &st);
        assert_int_equal(st.connections, 0);
}

static int connect_local(int port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

static void test_at_most_32_connections_then_one_is_closed_at_once(void **state)
{
        struct fixture *f = *state;
        struct http_server_stats st;
        int fds[HTTP_CONNECTIONS_MAX], extra;
        char c;

        /* Phones (or a scanner) that connect and say nothing. */
        for (int i = 0; i < HTTP_CONNECTIONS_MAX; i++) {
                fds[i] = connect_local(f->port);
                (void)sd_event_run(f->event, 10 * USEC_PER_MSEC);
        }
        http_server_get_stats(f->server, &st);
        assert_int_equal(st.connections, HTTP_CONNECTIONS_MAX);

        /* One more is accepted and closed at once: it reads the end, not a hang. */
        extra = connect_local(f->port);
        for (int i = 0; i < 10; i++)
                (void)sd_event_run(f->event, 10 * USEC_PER_MSEC);
        assert_int_equal(recv(extra, &c, 1, MSG_DONTWAIT), 0);
        close(extra);
        http_server_get_stats(f->server, &st);
        assert_int_equal(st.refused, 1);

        /* One of them goes away: a real request gets through again. */
        close(fds[0]);
        for (int i = 0; i < 10; i++)
                (void)sd_event_run(f->event, 10 * USEC_PER_MSEC);
        struct tu_http_answer a;
        assert_int_equal(tu_http_get(f->event, f->port, "/after", &a), 0);
        assert_int_equal(a.status, 200);
        tu_http_answer_done(&a);
        for (int i = 1; i < HTTP_CONNECTIONS_MAX; i++)
                close(fds[i]);
}

static void test_a_busy_port_is_reported_and_leaves_nothing_behind(void **state)
{
        struct fixture *f = *state;
        HttpServer *second = NULL;
        char listen_on[32];

        snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", f->port);
        assert_int_equal(http_server_new(f->event, listen_on, echo, f, &second), -EADDRINUSE);
        assert_null(second);
        assert_int_equal(http_server_new(f->event, "no-port", echo, f, &second), -EINVAL);
        /* IPv6 where the machine has it. */
        int r = http_server_new(f->event, "[::1]:0", echo, f, &second);
        assert_true(r == 0 || r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT);
        http_server_free(second);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_phones_get_is_parsed_with_its_decoded_path_and_raw_query),
                cmocka_unit_test(test_a_form_post_has_its_length_type_and_expect),
                cmocka_unit_test(test_broken_requests_get_the_right_status_and_a_reason),
                cmocka_unit_test(test_the_head_ends_at_the_first_empty_line),
                cmocka_unit_test(test_form_fields_are_decoded_chinese_and_spaces_included),
                cmocka_unit_test(test_broken_form_values_are_refused_not_guessed),
                cmocka_unit_test(test_escaping_for_links_and_html),
                cmocka_unit_test(test_the_fuzz_corpus_parses_within_its_promises),
                cmocka_unit_test_setup_teardown(test_a_get_is_answered_and_the_connection_closed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_head_gets_the_headers_without_the_body, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_post_body_arrives_whole_even_in_pieces_and_with_expect, setup,
                                            teardown),
                cmocka_unit_test_setup_teardown(test_a_redirect_carries_its_location, setup, teardown),
                cmocka_unit_test_setup_teardown(
                test_garbage_and_oversize_are_refused_with_a_reason_and_never_reach_the_handler, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_request_that_stalls_gets_408_and_its_connection_back, setup,
                                            teardown),
                cmocka_unit_test_setup_teardown(test_at_most_32_connections_then_one_is_closed_at_once, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_a_busy_port_is_reported_and_leaves_nothing_behind, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
