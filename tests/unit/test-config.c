/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The INI config: defaults, every type, and errors that name file, line and key. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "daemon/config.h"

static char dir[64];

static Config *load(const char *text, int expect)
{
        char path[128];
        Config *c = NULL;
        FILE *f;

        snprintf(path, sizeof(path), "%s/shouwang.conf", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        assert_int_equal(config_load(path, &c), expect);
        assert_non_null(c);
        return c;
}

static bool has_error(Config *c, const char *needle)
{
        for (size_t i = 0; i < c->n_errors; i++)
                if (strstr(c->errors[i], needle))
                        return true;
        for (size_t i = 0; i < c->n_errors; i++)
                print_message("error: %s\n", c->errors[i]);
        return false;
}

static void test_defaults_when_the_file_is_empty(void **state)
{
        Config *c = load("# nothing here\n", 0);
        assert_string_equal(c->database, "/var/lib/shouwang/shouwang.db");
        assert_string_equal(c->mqtt_uri, "tcp://localhost:1883");
        assert_string_equal(c->mqtt_base_topic, "shouwang");
        assert_string_equal(c->locale, "zh_CN");
        assert_true(c->mqtt_enabled);
        assert_true(c->gpio_enabled);
        assert_int_equal(c->gpio_debounce, 30 * USEC_PER_MSEC);
        assert_int_equal(c->tier_timeout_critical, 5 * USEC_PER_MINUTE);
        assert_int_equal(c->tier_timeout_warning, 30 * USEC_PER_MINUTE);
        assert_true(startswith(c->mqtt_client_id, "shouwang-"));
        assert_int_equal(c->rules.inactivity_after, 12 * USEC_PER_HOUR);
        config_free(c);
}

static void test_every_type_is_read(void **state)
{
        Config *c = load("\xef\xbb\xbf[general]\n"
                         "gateway = lane17\n"
                         "locale = en\n"
                         "timezone = Asia/Shanghai\n"
                         "[mqtt]\n"
                         "enabled = no\n"
                         "keepalive = 1min\n"
                         "uri = ssl://broker.local:8883\n"
                         "ca_file = /etc/ssl/ca.crt\n"
                         "[http]\n"
                         "listen = 127.0.0.1:9000\n"
                         "public_url = http://192.168.1.20:9000\n"
                         "[store]\n"
                         "events_keep_days = 30\n"
                         "[rules]\n"
                         "inactivity_after = 8h\n",
                         0);
        assert_string_equal(c->gateway, "lane17");
        assert_string_equal(c->locale, "en");
        assert_false(c->mqtt_enabled);
        assert_int_equal(c->mqtt_keepalive, USEC_PER_MINUTE);
        assert_string_equal(c->mqtt_client_id, "shouwang-lane17");
        assert_int_equal(c->store_events_keep_days, 30);
        assert_int_equal(c->rules.inactivity_after, 8 * USEC_PER_HOUR);
        config_free(c);
}

static void test_unknown_key_names_file_line_and_suggests(void **state)
{
        Config *c = load("[general]\n"
                         "# a comment\n"
                         "\n"
                         "databse = /tmp/x.db\n",
                         -EINVAL);
        assert_true(has_error(c, "shouwang.conf:4: [general] unknown key 'databse' — did you mean 'database'?"));
        config_free(c);
}

static void test_all_errors_are_reported_not_only_the_first(void **state)
{
        Config *c = load("[gpio]\n"
                         "debounce = fast\n"
                         "enabled = perhaps\n"
                         "[store]\n"
                         "events_keep_days = -3\n"
                         "[rules]\n"
                         "inactivty_after = 3h\n",
                         -EINVAL);
        assert_int_equal(c->n_errors, 4);
        assert_true(has_error(c, ":2: [gpio] debounce = fast: write a duration"));
        assert_true(has_error(c, ":3: [gpio] enabled = perhaps: write yes or no"));
        assert_true(has_error(c, ":5: [store] events_keep_days = -3"));
        assert_true(has_error(c, ":7: [rules] inactivty_after"));
        config_free(c);
}

static void test_password_in_the_config_is_refused_with_the_way_to_do_it(void **state)
{
        Config *c = load("[mqtt]\nusername = gw\npassword = hunter2\n", -EINVAL);
        assert_true(has_error(c, ":3: [mqtt] password: passwords do not go in the config"));
        assert_true(has_error(c, "password_file"));
        config_free(c);
}

static void test_bad_uri_and_listen_and_url(void **state)
{
        Config *c = load("[mqtt]\nuri = http://broker\n[http]\nlisten = nowhere\npublic_url = 192.168.1.2\n", -EINVAL);
        assert_true(has_error(c, ":2: [mqtt] uri = http://broker: write tcp://HOST:PORT"));
        assert_true(has_error(c, ":4: [http] listen = nowhere: write ADDRESS:PORT"));
        assert_true(has_error(c, ":5: [http] public_url = 192.168.1.2: write a link starting with http://"));
        config_free(c);
}

static void test_ssl_without_ca_file_is_explained(void **state)
{
        Config *c = load("[mqtt]\nuri = ssl://broker:8883\n", -EINVAL);
        assert_true(has_error(c, "ca_file is not set"));
        config_free(c);
}

static void test_named_channel_sections(void **state)
{
        Config *c = load("[webhook:wecom]\n"
                         "url = https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc\n"
                         "header = X-Token: 1\n"
                         "header = X-Other: 2\n"
                         "timeout = 7s\n"
                         "[exec:sms]\n"
                         "command = /usr/local/bin/sms.sh --modem /dev/ttyUSB0\n",
                         0);
        const struct config_webhook *w = config_find_webhook(c, "webhook:wecom");
        const struct config_exec *x = config_find_exec(c, "exec:sms");
        assert_non_null(w);
        assert_non_null(x);
        assert_int_equal(w->n_headers, 2);
        assert_string_equal(w->headers[1], "X-Other: 2");
        assert_int_equal(w->timeout, 7 * USEC_PER_SEC);
        assert_string_equal(x->command, "/usr/local/bin/sms.sh --modem /dev/ttyUSB0");
        assert_null(config_find_webhook(c, "webhook:dingtalk"));
        config_free(c);

        c = load("[webhook:bad name]\nurl = http://x\n[webhook:ok]\nurl = ftp://x\nretries = 3\n", -EINVAL);
        assert_true(has_error(c, ":2: [webhook:bad name]: channel names use letters"));
        assert_true(has_error(c, ":4: [webhook:ok] url: write a link starting with http://"));
        assert_true(has_error(c, ":5: [webhook:ok] unknown key 'retries'"));
        config_free(c);
}

static void test_unknown_section_and_key_before_section(void **state)
{
        Config *c = load("gateway = x\n[mqqt]\nuri = tcp://a:1\nkeepalive = 1s\n", -EINVAL);
        assert_true(has_error(c, ":1: 'gateway' comes before any [section]"));
        assert_true(has_error(c, ":2: unknown section [mqqt] — did you mean [mqtt]?"));
        assert_int_equal(c->n_errors, 2); /* the section once, not once per key */
        config_free(c);
}

static void test_line_that_is_not_ini_and_overlong_line(void **state)
{
        char text[600];
        snprintf(text, sizeof(text), "[general]\nthis is not a setting\ngateway = %0250d\n", 7);
        Config *c = load(text, -EINVAL);
        assert_true(has_error(c, ":2: 'this is not a setting' is not a [section], a key = value, or a # comment"));
        assert_true(has_error(c, ":3: the line is longer than"));
        config_free(c);
}

static void test_missing_file_says_so(void **state)
{
        Config *c = NULL;
        assert_int_equal(config_load("/nonexistent/shouwang.conf", &c), -ENOENT);
        assert_non_null(c);
        assert_true(has_error(c, "/nonexistent/shouwang.conf: cannot read the config: No such file or directory"));
        config_free(c);
}

static void test_bad_time_zone_and_locale(void **state)
{
        Config *c = load("[general]\ntimezone = Mars/Olympus\nlocale = fr\n", -EINVAL);
        assert_true(has_error(c, ":2: [general] timezone = Mars/Olympus: not a time zone"));
        assert_true(has_error(c, ":3: [general] locale = fr: write zh_CN or en"));
        config_free(c);
}

static void test_key_table_is_documented(void **state)
{
        size_t n;
        const struct config_key_info *k = config_keys(&n);
        assert_true(n > 20);
        for (size_t i = 0; i < n; i++)
                assert_true(!isempty(k[i].description));
}

static void test_line_numbers_stay_right_after_comments_blanks_and_indented_lines(void **state)
{
        /* Indentation is not a continuation: an indented key is a key, and
         * what only an INI "continuation" could mean is an error on its own line. */
        Config *c = load("# shouwang\n"
                         "; also a comment\n"
                         "\n"
                         "[mqtt]\n"
                         "    uri = tcp://broker.lan:1883\n"
                         "    username = gateway\n"
                         "\tkeepalive = 45s\n"
                         "client_id = gw\n"
                         "   17\n"
                         "\n"
                         "   # indented comment\n"
                         "base_topic = a/b\n",
                         -EINVAL);
        assert_string_equal(c->mqtt_uri, "tcp://broker.lan:1883");
        assert_string_equal(c->mqtt_username, "gateway");
        assert_int_equal(c->mqtt_keepalive, 45 * USEC_PER_SEC);
        assert_string_equal(c->mqtt_client_id, "gw");
        assert_int_equal(c->n_errors, 2);
        assert_true(has_error(c, ":9: '17' is not a [section], a key = value, or a # comment — a value cannot go on "
                                 "over several lines"));
        assert_true(has_error(c, ":12: [mqtt] base_topic = a/b: one MQTT topic level"));
        config_free(c);
}

static void test_inline_comments_after_a_value_are_dropped(void **state)
{
        Config *c = load("[mqtt]\nkeepalive = 10s # seconds\nreconnect_max = 2min ; minutes\n"
                         "[webhook:w]\nurl = https://example.org/hook#frag\n",
                         0);
        assert_int_equal(c->mqtt_keepalive, 10 * USEC_PER_SEC);
        assert_int_equal(c->mqtt_reconnect_max, 2 * USEC_PER_MINUTE);
        /* A '#' inside a value (no space before it) stays. */
        assert_string_equal(config_find_webhook(c, "webhook:w")->url, "https://example.org/hook#frag");
        config_free(c);
}

static void test_addresses_need_a_host_and_a_real_port(void **state)
{
        Config *c = load("[mqtt]\nuri = tcp://\n[http]\nlisten = 0.0.0.0:0\npublic_url = http://\n", -EINVAL);
        assert_true(has_error(c, ":2: [mqtt] uri = tcp://: write tcp://HOST:PORT"));
        assert_true(has_error(c, ":4: [http] listen = 0.0.0.0:0: write ADDRESS:PORT with a port from 1 to 65535"));
        assert_true(has_error(c, ":5: [http] public_url = http://: write a link"));
        config_free(c);

        c = load("[mqtt]\nuri = mqtts://[fd00::1]:8883\nca_file = /etc/ssl/ca.crt\n[http]\nlisten = [::]:8080\n"
                 "public_url = https://gw.lane17.example/shouwang\n",
                 0);
        assert_string_equal(c->mqtt_uri, "mqtts://[fd00::1]:8883");
        assert_string_equal(c->http_listen, "[::]:8080");
        config_free(c);

        c = load("[mqtt]\nuri = tcp://broker:99999\n", -EINVAL);
        assert_true(has_error(c, ":2: [mqtt] uri = tcp://broker:99999"));
        config_free(c);
}

static void test_key_under_the_wrong_section_says_where_it_belongs(void **state)
{
        Config *c = load("[general]\nuri = tcp://a:1\n[mqtt]\ndatabase = /tmp/x.db\n", -EINVAL);
        assert_true(has_error(c, ":2: [general] unknown key 'uri' — it belongs under [mqtt]"));
        assert_true(has_error(c, ":4: [mqtt] unknown key 'database' — it belongs under [general]"));
        config_free(c);
}

static void test_set_twice_names_both_lines_and_missing_bracket_is_found(void **state)
{
        Config *c = load("[gpio]\ndebounce = 10ms\n\ndebounce = 20ms\n[store\n", -EINVAL);
        assert_true(has_error(c, ":4: [gpio] debounce is set twice (line 2 too) — keep one"));
        assert_true(has_error(c, ":5: '[store': the section name has no closing ']'"));
        config_free(c);
}

static void test_client_id_follows_the_gateway_unless_set(void **state)
{
        Config *c = load("[general]\ngateway = lane17\n", 0);
        assert_string_equal(c->mqtt_client_id, "shouwang-lane17");
        config_free(c);
        c = load("[mqtt]\nclient_id = fixed\n[general]\ngateway = lane17\n", 0);
        assert_string_equal(c->mqtt_client_id, "fixed");
        config_free(c);
        /* The defaults alone (no file) have one too. */
        c = config_new_default();
        assert_true(startswith(c->mqtt_client_id, "shouwang-"));
        config_free(c);
}

static void test_whole_file_checks_name_the_line_of_the_key(void **state)
{
        Config *c = load("[mqtt]\n\npassword_file = /nonexistent/pw\nkey_file = /etc/k.pem\n", -EINVAL);
        assert_true(has_error(c, ":3: [mqtt] password_file is set but username is not"));
        assert_true(has_error(c, ":3: [mqtt] password_file = /nonexistent/pw: cannot read it"));
        assert_true(has_error(c, ":4: [mqtt] key_file is set but cert_file is not"));
        config_free(c);
}

static void test_a_directory_is_not_a_config_file(void **state)
{
        Config *c = NULL;
        assert_int_equal(config_load(dir, &c), -EISDIR);
        assert_true(has_error(c, "cannot read the config: Is a directory"));
        config_free(c);
}

static void test_public_url_is_derived_from_listen_when_not_set(void **state)
{
        char *u = NULL;
        Config *c = load("[http]\npublic_url = http://192.168.1.20:8080\n", 0);
        assert_int_equal(config_public_url(c, &u), 0);
        assert_string_equal(u, "http://192.168.1.20:8080");
        free(u);
        config_free(c);

        c = load("[http]\nlisten = 10.0.0.5:9000\n", 0);
        assert_int_equal(config_public_url(c, &u), 0);
        assert_string_equal(u, "http://10.0.0.5:9000");
        free(u);
        config_free(c);

        /* Listening everywhere: this machine's address, whatever it is here. */
        c = load("# defaults\n", 0);
        int r = config_public_url(c, &u);
        assert_true(r == 0 || r == -EADDRNOTAVAIL);
        if (r == 0) {
                assert_true(startswith(u, "http://"));
                assert_true(strlen(u) > 12 && streq(u + strlen(u) - 5, ":8080"));
                assert_null(strstr(u, "0.0.0.0"));
                assert_null(strstr(u, "127.0.0.1"));
        }
        free(u);
        config_free(c);
}

static void test_listen_no_turns_the_pages_off(void **state)
{
        char *u = NULL;
        Config *c = load("[http]\nlisten = no\n", 0);

        assert_false(config_http_enabled(c));
        /* No pages and no public_url: no links. */
        assert_int_equal(config_public_url(c, &u), -EADDRNOTAVAIL);
        config_free(c);

        /* Pages served elsewhere: the links still go out. */
        c = load("[http]\nlisten = no\npublic_url = https://shouwang.example.org\n", 0);
        assert_int_equal(config_public_url(c, &u), 0);
        assert_string_equal(u, "https://shouwang.example.org");
        free(u);
        config_free(c);

        c = load("[http]\nlisten = 127.0.0.1:8080\n", 0);
        assert_true(config_http_enabled(c));
        config_free(c);

        c = load("[http]\nlisten = off\n", -EINVAL);
        assert_true(has_error(c, "or no for no pages"));
        config_free(c);
}

static int setup(void **state)
{
        strcpy(dir, "/tmp/shouwang-test-config-XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_when_the_file_is_empty),
                cmocka_unit_test(test_every_type_is_read),
                cmocka_unit_test(test_unknown_key_names_file_line_and_suggests),
                cmocka_unit_test(test_all_errors_are_reported_not_only_the_first),
                cmocka_unit_test(test_password_in_the_config_is_refused_with_the_way_to_do_it),
                cmocka_unit_test(test_bad_uri_and_listen_and_url),
                cmocka_unit_test(test_ssl_without_ca_file_is_explained),
                cmocka_unit_test(test_named_channel_sections),
                cmocka_unit_test(test_unknown_section_and_key_before_section),
                cmocka_unit_test(test_line_that_is_not_ini_and_overlong_line),
                cmocka_unit_test(test_missing_file_says_so),
                cmocka_unit_test(test_bad_time_zone_and_locale),
                cmocka_unit_test(test_key_table_is_documented),
                cmocka_unit_test(test_line_numbers_stay_right_after_comments_blanks_and_indented_lines),
                cmocka_unit_test(test_inline_comments_after_a_value_are_dropped),
                cmocka_unit_test(test_addresses_need_a_host_and_a_real_port),
                cmocka_unit_test(test_key_under_the_wrong_section_says_where_it_belongs),
                cmocka_unit_test(test_set_twice_names_both_lines_and_missing_bracket_is_found),
                cmocka_unit_test(test_client_id_follows_the_gateway_unless_set),
                cmocka_unit_test(test_whole_file_checks_name_the_line_of_the_key),
                cmocka_unit_test(test_a_directory_is_not_a_config_file),
                cmocka_unit_test(test_public_url_is_derived_from_listen_when_not_set),
                cmocka_unit_test(test_listen_no_turns_the_pages_off),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
