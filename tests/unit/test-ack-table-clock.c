/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small pieces with their own promises: an MQTT ack message that is wrong in
 * any way is refused with a reason naming the field and changes nothing; the
 * terminal tables line up Chinese names; the clock override for tests.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "daemon/ack.h"
#include "daemon/clock.h"
#include "daemon/table.h"

static char dir[64];

static void put(Store *s, enum roster_kind kind, char **v)
{
        char *err = NULL;
        assert_int_equal(roster_row_normalise(kind, v, &err), 0);
        assert_int_equal(store_roster_upsert(s, kind, v, NULL), 0);
        roster_row_clear(v, roster_kind_info(kind)->n_columns);
}

static void test_bad_ack_messages_are_refused_with_the_field_named(void **state)
{
        char path[128], reason[256], token[ALERT_TOKEN_LEN + 1], msg[256];
        Store *s = NULL;
        Alerts *a = NULL;
        int64_t id;

        snprintf(path, sizeof(path), "%s/db", dir);
        assert_int_equal(store_open(path, STORE_OPEN_CREATE, &s), 0);
        put(s, ROSTER_RESIDENTS, (char *[]){ strdup("R1"), strdup("x"), strdup("B1"), strdup("1"), strdup("1"), NULL, NULL });
        put(s, ROSTER_CONTACTS, (char *[]){ strdup("C1"), strdup("y"), NULL, strdup("neighbour"), NULL });
        assert_int_equal(alerts_new(s, NULL, &a), 0);
        struct alert_request req = { .rule = "leak", .severity = "critical", .resident_id = "R1", .building_id = "B1",
                                     .text_key = "leak", .text = "leak" };
        assert_int_equal(alerts_raise(a, &req, 1000, &id, NULL), 0);
        assert_int_equal(alerts_token_issue(a, id, "C1", 1000, token), 0);

        static const struct {
                const char *msg, *field;
                int r;
        } bad[] = {
                { "not json", "not a JSON object", -EBADMSG },
                { "[1,2]", "not a JSON object", -EBADMSG },
                { "{\"contact\":\"C1\",\"token\":\"x\"}", "field alert", -EBADMSG },
                { "{\"alert\":-3,\"contact\":\"C1\",\"token\":\"x\"}", "field alert", -EBADMSG },
                { "{\"alert\":1.5,\"contact\":\"C1\",\"token\":\"x\"}", "field alert", -EBADMSG },
                { "{\"alert\":1,\"token\":\"x\"}", "field contact", -EBADMSG },
                { "{\"alert\":1,\"contact\":\"C1\"}", "field token", -EBADMSG },
                { "{\"alert\":1,\"contact\":\"C1\",\"token\":\"x\",\"action\":\"delete\"}", "field action", -EBADMSG },
                { "{\"alert\":1,\"contact\":\"C1\",\"token\":\"x\",\"note\":5}", "note and outcome", -EBADMSG },
                { "{\"alert\":1,\"contact\":\"C1\",\"token\":\"00000000000000000000000000000000\"}", "token not valid",
                  -EACCES },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = ack_handle_message(a, bad[i].msg, strlen(bad[i].msg), 2000, reason, sizeof(reason));
                if (r != bad[i].r || !strstr(reason, bad[i].field))
                        fail_msg("%s → %d '%s'", bad[i].msg, r, reason);
        }
        char big[5000];
        memset(big, ' ', sizeof(big));
        assert_int_equal(ack_handle_message(a, big, sizeof(big), 2000, reason, sizeof(reason)), -EBADMSG);

        /* Nothing changed: the alert is still open. */
        struct alert_info info;
        assert_int_equal(store_alert_info_get(s, id, &info), 0);
        assert_string_equal(info.state, "open");
        alert_info_done(&info);

        /* The right message works; the alert number may come as text too. */
        snprintf(msg, sizeof(msg), "{\"alert\":\"%lld\",\"contact\":\"C1\",\"token\":\"%s\"}", (long long)id, token);
        assert_int_equal(ack_handle_message(a, msg, strlen(msg), 3000, reason, sizeof(reason)), ACK_DONE);
        assert_non_null(strstr(reason, "acknowledged by C1"));
        alerts_free(a);
        store_free(s);
}

static void test_tables_line_up_chinese_names(void **state)
{
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        Table *t = table_new(2, (const char *[]){ "name", "flat" });

        assert_int_equal(utf8_display_width("沈国强"), 6);
        assert_int_equal(utf8_display_width("R201"), 4);
        assert_int_equal(table_add_row(t, (const char *[]){ "沈国强", "201" }), 0);
        assert_int_equal(table_add_row(t, (const char *[]){ "Li\nMei", "101" }), 0);
        assert_int_equal(table_rows(t), 2);
        table_print(t, f);
        fclose(f);
        assert_string_equal(out, "name    flat\n沈国强  201\nLi Mei  101\n");
        free(out);
        table_free(t);
}

static void test_clock_override_for_machines_without_ntp(void **state)
{
        setenv("SHOUWANG_CLOCK_SYNCED", "1", 1);
        assert_true(clock_is_synced());
        setenv("SHOUWANG_CLOCK_SYNCED", "0", 1);
        assert_false(clock_is_synced());
        unsetenv("SHOUWANG_CLOCK_SYNCED");
}

static int setup(void **state)
{
        strcpy(dir, "/tmp/shouwang-test-ack-XXXXXX");
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
                cmocka_unit_test(test_bad_ack_messages_are_refused_with_the_field_named),
                cmocka_unit_test(test_tables_line_up_chinese_names),
                cmocka_unit_test(test_clock_override_for_machines_without_ntp),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
