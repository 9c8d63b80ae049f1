/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The alert lifecycle and escalation ladder against a real SQLite file,
 * driven by a fake clock. No channel runs here: the test plays the outbox's
 * part by reading the planned deliveries and marking them sent or failed,
 * exactly as the outbox records them. (Channels themselves are tested with
 * real Mosquitto, a real HTTP server and real commands elsewhere.)
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "daemon/alerts.h"
#include "tests/lib/roster-put.h"

#define T0 ((usec_t)1795000000 * USEC_PER_SEC)
#define MIN USEC_PER_MINUTE

struct fixture {
        char dir[64];
        Store *store;
        Alerts *alerts;
        int planned;
};

/* The story's building: 沈国强 lives alone in 201; the family in 101 below are his paired
 * neighbours; 李 is the group leader; the committee on duty and its head; his brother
 * and his niece; the property company. */
static void story_roster(Store *s)
{
        tu_roster_put(s, ROSTER_RESIDENTS, "R201", "沈国强", "B17", "201", "是", "", "");
        tu_roster_put(s, ROSTER_RESIDENTS, "R101", "王家", "B17", "101", "否", "", "");
        tu_roster_put(s, ROSTER_CONTACTS, "C-wang", "王阿姨", "139", "neighbour", "mqtt");
        tu_roster_put(s, ROSTER_CONTACTS, "C-li", "李楼组长", "138", "group_leader", "mqtt");
        tu_roster_put(s, ROSTER_CONTACTS, "C-duty", "居委值班", "137", "committee", "mqtt");
        tu_roster_put(s, ROSTER_CONTACTS, "C-head", "居委书记", "136", "committee", "mqtt");
        tu_roster_put(s, ROSTER_CONTACTS, "C-brother", "沈国华", "135", "family", "exec:sms");
        tu_roster_put(s, ROSTER_CONTACTS, "C-niece", "沈丽", "134", "family", "mqtt;exec:sms");
        tu_roster_put(s, ROSTER_CONTACTS, "C-prop", "物业", "133", "property", "webhook:wecom");
        tu_roster_put(s, ROSTER_LINKS, "R201", "C-wang", "1");
        tu_roster_put(s, ROSTER_LINKS, "R201", "C-li", "1");
        tu_roster_put(s, ROSTER_LINKS, "R201", "C-duty", "2");
        tu_roster_put(s, ROSTER_LINKS, "R201", "C-brother", "2");
        tu_roster_put(s, ROSTER_LINKS, "R201", "C-niece", "2");
        tu_roster_put(s, ROSTER_LINKS, "R201", "C-head", "3");
        tu_roster_put(s, ROSTER_LINKS, "R201", "C-prop", "3");
        tu_roster_put(s, ROSTER_LINKS, "R101", "C-li", "1");
}

static void on_planned(Alerts *a, void *userdata)
{
        ((struct fixture *)userdata)->planned++;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char path[128];

        strcpy(f->dir, "/tmp/shouwang-test-alerts-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(path, sizeof(path), "%s/db", f->dir);
        assert_int_equal(store_open(path, STORE_OPEN_CREATE, &f->store), 0);
        story_roster(f->store);
        assert_int_equal(alerts_new(f->store, NULL, &f->alerts), 0);
        alerts_set_planned_callback(f->alerts, on_planned, f);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        alerts_free(f->alerts);
        store_free(f->store);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* Comma-separated "contact/channel/purpose" of pending deliveries, sorted. */
static char *pending(struct fixture *f)
{
        static char buf[2048];
        sqlite3_stmt *st;

        buf[0] = '\0';
        assert_int_equal(sqlite3_prepare_v2(store_db(f->store),
                                            "SELECT contact_id || '/' || channel || '/' || purpose FROM deliveries "
                                            "WHERE state = 'pending' AND contact_id <> '' ORDER BY 1",
                                            -1, &st, NULL),
                         SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                if (buf[0])
                        strcat(buf, ",");
                strcat(buf, (const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        return buf;
}

/* The outbox's part: mark every pending delivery sent, except those of one contact, which fail. */
static void deliver_all(struct fixture *f, const char *failing_contact, usec_t now)
{
        sqlite3_stmt *st;
        int64_t failed[16];
        size_t n = 0;

        if (failing_contact) {
                assert_int_equal(sqlite3_prepare_v2(store_db(f->store),
                                                    "SELECT id FROM deliveries WHERE state = 'pending' AND contact_id = ?1",
                                                    -1, &st, NULL),
                                 SQLITE_OK);
                sqlite3_bind_text(st, 1, failing_contact, -1, SQLITE_STATIC);
                while (sqlite3_step(st) == SQLITE_ROW && n < 16)
                        failed[n++] = sqlite3_column_int64(st, 0);
                sqlite3_finalize(st);
                char q[160];
                snprintf(q, sizeof(q), "UPDATE deliveries SET state = 'failed', attempts = 1 WHERE state = 'pending' "
                         "AND contact_id = '%s'", failing_contact);
                assert_int_equal(sqlite3_exec(store_db(f->store), q, NULL, NULL, NULL), SQLITE_OK);
        }
        char sql[256];
        snprintf(sql, sizeof(sql), "UPDATE deliveries SET state = 'sent', sent_at = %lld WHERE state = 'pending' %s%s%s",
                 (long long)now, failing_contact ? "AND contact_id <> '" : "", failing_contact ? failing_contact : "",
                 failing_contact ? "'" : "");
        assert_int_equal(sqlite3_exec(store_db(f->store), sql, NULL, NULL, NULL), SQLITE_OK);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(alerts_delivery_failed(f->alerts, failed[i], now), 0);
}

static const char *state_of(struct fixture *f, int64_t id)
{
        static char buf[64];
        sqlite3_stmt *st;

        assert_int_equal(sqlite3_prepare_v2(store_db(f->store), "SELECT state || ':' || tier FROM alerts WHERE id = ?1",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(st, 1, id);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return buf;
}

static int64_t raise_leak(struct fixture *f, usec_t now, bool *is_new)
{
        struct alert_request req = {
                .rule = "leak",
                .severity = "critical",
                .resident_id = "R201",
                .building_id = "B17",
                .sensor_id = "S201-leak",
                .text_key = "leak.alone",
                .text = "201 沈国强 家漏水，他独居，可能无法应答，请马上去看",
        };
        int64_t id = 0;
        assert_int_equal(alerts_raise(f->alerts, &req, now, &id, is_new), 0);
        return id;
}

static int64_t count_broadcasts(struct fixture *f)
{
        sqlite3_stmt *st;
        int64_t n;

        assert_int_equal(sqlite3_prepare_v2(store_db(f->store),
                                            "SELECT count(*) FROM deliveries WHERE contact_id = ''", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return n;
}

/* With [mqtt] enabled = no there is no alerts topic: the people are still told, and no broadcast is
 * planned that could only fail and clutter every alert's history. */
static void test_without_mqtt_no_alert_broadcast_is_planned(void **state)
{
        struct fixture *f = *state;
        struct alerts_settings st;
        bool is_new = false;

        assert_int_equal(raise_leak(f, T0, &is_new) > 0, 1);
        assert_int_equal(count_broadcasts(f), 1);

        alerts_free(f->alerts);
        alerts_settings_default(&st);
        st.no_broadcast = true;
        assert_int_equal(alerts_new(f->store, &st, &f->alerts), 0);
        alerts_set_planned_callback(f->alerts, on_planned, f);
        deliver_all(f, NULL, T0 + MIN);
        /* The next tier: people told, still only the first alert's broadcast. */
        assert_int_equal(alerts_tick(f->alerts, T0 + 6 * MIN), 0);
        assert_int_equal(count_broadcasts(f), 1);
        assert_true(pending(f)[0] != '\0');
}

static void test_leak_alone_tells_tier_one_at_once(void **state)
{
        struct fixture *f = *state;
        bool is_new = false;
        int64_t id = raise_leak(f, T0, &is_new);

        assert_true(is_new);
        assert_string_equal(state_of(f, id), "open:1");
        assert_string_equal(pending(f), "C-li/mqtt/alert,C-wang/mqtt/alert");
        assert_true(f->planned >= 1);
        /* The escalation is due 5 minutes later for a critical alert. */
        assert_int_equal(alerts_next_wakeup(f->alerts), T0 + 5 * MIN);
}

static void test_repeat_updates_the_open_alert_without_new_pages(void **state)
{
        struct fixture *f = *state;
        bool is_new = true;
        int64_t id = raise_leak(f, T0, NULL);

        deliver_all(f, NULL, T0);
        assert_int_equal(raise_leak(f, T0 + MIN, &is_new), id);
        assert_false(is_new);
        assert_string_equal(pending(f), "");
}

static void test_the_story_escalates_falls_back_and_is_resolved(void **state)
{
        struct fixture *f = *state;
        int64_t id = raise_leak(f, T0, NULL);

        deliver_all(f, NULL, T0);
        /* Nobody acknowledges for 5 minutes: the committee on duty and the first family contact. */
        assert_int_equal(alerts_tick(f->alerts, T0 + 4 * MIN), 0);
        assert_string_equal(pending(f), "");
        assert_int_equal(alerts_tick(f->alerts, T0 + 5 * MIN), 0);
        assert_string_equal(state_of(f, id), "open:2");
        assert_string_equal(pending(f), "C-brother/exec:sms/alert,C-duty/mqtt/alert");

        /* The brother's phone is switched off: his SMS fails, the niece is told at once. */
        deliver_all(f, "C-brother", T0 + 5 * MIN + 10 * USEC_PER_SEC);
        assert_string_equal(pending(f), "C-niece/exec:sms/alert,C-niece/mqtt/alert");
        deliver_all(f, NULL, T0 + 6 * MIN);

        /* The downstairs neighbour taps "I'm going": escalation stops, the others are told. */
        assert_int_equal(alerts_ack(f->alerts, id, "C-wang", "mqtt", T0 + 7 * MIN, NULL), 0);
        assert_string_equal(state_of(f, id), "acknowledged:2");
        assert_string_equal(pending(f), "C-duty/mqtt/ack_info,C-li/mqtt/ack_info,C-niece/exec:sms/ack_info,"
                                        "C-niece/mqtt/ack_info");
        deliver_all(f, NULL, T0 + 7 * MIN);
        assert_int_equal(alerts_tick(f->alerts, T0 + 11 * MIN), 0);
        assert_string_equal(pending(f), ""); /* no tier 3: somebody is going */

        /* A second "I'm going" says who is already on the way. */
        char *by = NULL;
        assert_int_equal(alerts_ack(f->alerts, id, "C-li", "mqtt", T0 + 8 * MIN, &by), -EALREADY);
        assert_string_equal(by, "C-wang");
        free(by);

        /* Resolved with a note. */
        assert_int_equal(alerts_resolve(f->alerts, id, "C-wang", "hospital", "他晕倒了，已叫120，水已关", T0 + 20 * MIN), 0);
        assert_string_equal(state_of(f, id), "resolved:2");
        assert_int_equal(alerts_resolve(f->alerts, id, "C-wang", "ok", "", T0 + 21 * MIN), -ESTALE);
        assert_int_equal(alerts_ack(f->alerts, id, "C-li", "mqtt", T0 + 21 * MIN, NULL), -ESTALE);
        assert_int_equal(alerts_next_wakeup(f->alerts), USEC_INFINITY);
}

static void test_acknowledged_alert_gets_reminders_until_resolved(void **state)
{
        struct fixture *f = *state;
        int64_t id = raise_leak(f, T0, NULL);

        deliver_all(f, NULL, T0);
        assert_int_equal(alerts_ack(f->alerts, id, "C-wang", "web", T0 + MIN, NULL), 0);
        deliver_all(f, NULL, T0 + MIN);
        assert_int_equal(alerts_next_wakeup(f->alerts), T0 + 16 * MIN);
        assert_int_equal(alerts_tick(f->alerts, T0 + 16 * MIN), 0);
        assert_string_equal(pending(f), "C-wang/mqtt/reminder");
}

static void test_after_the_last_tier_everyone_is_told_again(void **state)
{
        struct fixture *f = *state;
        int64_t id = raise_leak(f, T0, NULL);

        deliver_all(f, NULL, T0);
        assert_int_equal(alerts_tick(f->alerts, T0 + 5 * MIN), 0);
        deliver_all(f, NULL, T0 + 5 * MIN);
        assert_int_equal(alerts_tick(f->alerts, T0 + 10 * MIN), 0);
        assert_string_equal(state_of(f, id), "open:3");
        assert_string_equal(pending(f), "C-head/mqtt/alert,C-prop/webhook:wecom/alert");
        deliver_all(f, NULL, T0 + 10 * MIN);
        assert_int_equal(alerts_tick(f->alerts, T0 + 15 * MIN), 0);
        assert_string_equal(state_of(f, id), "open:4");
        /* The niece was never told (the brother did not fail): now everyone is, and all again. */
        assert_non_null(strstr(pending(f), "C-niece/mqtt/alert"));
        assert_non_null(strstr(pending(f), "C-wang/mqtt/alert"));
        assert_non_null(strstr(pending(f), "C-head/mqtt/alert"));
}

static void test_smoke_tells_tier_one_committee_and_property_at_once(void **state)
{
        struct fixture *f = *state;
        struct alert_request req = { .rule = "smoke", .severity = "critical", .resident_id = "R201",
                                     .building_id = "B17", .text_key = "smoke", .text = "烟雾报警",
                                     .flags = ALERT_URGENT_ALL };
        assert_int_equal(alerts_raise(f->alerts, &req, T0, NULL, NULL), 0);
        /* The committee on duty (tier 2), not its head (tier 3); property at once too.
         * Family are not paged at once, nor the head: they come with the ladder. */
        assert_string_equal(pending(f), "C-duty/mqtt/alert,C-li/mqtt/alert,"
                                        "C-prop/webhook:wecom/alert,C-wang/mqtt/alert");
}

static void test_stairwell_smoke_reaches_every_flats_tier_one(void **state)
{
        struct fixture *f = *state;
        tu_roster_put(f->store, ROSTER_CONTACTS, "C-101", "王先生", "", "neighbour", "mqtt");
        tu_roster_put(f->store, ROSTER_LINKS, "R101", "C-101", "1");
        struct alert_request req = { .rule = "smoke", .severity = "critical", .building_id = "B17",
                                     .sensor_id = "S-stair", .text_key = "smoke", .text = "楼道烟雾",
                                     .flags = ALERT_URGENT_ALL | ALERT_BUILDING_WIDE };
        assert_int_equal(alerts_raise(f->alerts, &req, T0, NULL, NULL), 0);
        const char *p = pending(f);
        assert_non_null(strstr(p, "C-101/mqtt/alert"));
        assert_non_null(strstr(p, "C-wang/mqtt/alert"));
        assert_non_null(strstr(p, "C-li/mqtt/alert"));
        assert_non_null(strstr(p, "C-duty/mqtt/alert"));
}

static void test_info_goes_to_the_committee_only_and_never_escalates(void **state)
{
        struct fixture *f = *state;
        struct alert_request req = { .rule = "battery_low", .severity = "info", .resident_id = "R201",
                                     .building_id = "B17", .sensor_id = "S201-leak", .text_key = "battery_low",
                                     .text = "电量低", .flags = ALERT_COMMITTEE_ONLY };
        assert_int_equal(alerts_raise(f->alerts, &req, T0, NULL, NULL), 0);
        assert_string_equal(pending(f), "C-duty/mqtt/alert,C-head/mqtt/alert");
        assert_int_equal(alerts_next_wakeup(f->alerts), USEC_INFINITY);
}

static void test_worse_severity_tells_everyone_again(void **state)
{
        struct fixture *f = *state;
        struct alert_request req = { .rule = "tap_running", .severity = "warning", .resident_id = "R201",
                                     .building_id = "B17", .text_key = "tap_running", .text = "水一直在流" };
        int64_t id;
        assert_int_equal(alerts_raise(f->alerts, &req, T0, &id, NULL), 0);
        deliver_all(f, NULL, T0);
        req.severity = "critical";
        req.text_key = "tap_running.critical";
        assert_int_equal(alerts_raise(f->alerts, &req, T0 + 30 * MIN, NULL, NULL), 0);
        assert_string_equal(pending(f), "C-li/mqtt/alert,C-wang/mqtt/alert");
        assert_int_equal(alerts_next_wakeup(f->alerts), T0 + 35 * MIN);
}

static void test_cleared_condition_never_closes_the_alert(void **state)
{
        struct fixture *f = *state;
        int64_t id = raise_leak(f, T0, NULL);
        assert_int_equal(alerts_clear(f->alerts, "R201", "B17", "leak", T0 + MIN), 0);
        assert_string_equal(state_of(f, id), "open:1");
}

static void test_tokens_are_checked_expire_and_cannot_be_replayed(void **state)
{
        struct fixture *f = *state;
        char tok[ALERT_TOKEN_LEN + 1], other[ALERT_TOKEN_LEN + 1];
        int64_t id = raise_leak(f, T0, NULL);

        assert_int_equal(alerts_token_issue(f->alerts, id, "C-wang", T0, tok), 0);
        assert_int_equal(strlen(tok), ALERT_TOKEN_LEN);
        assert_int_equal(alerts_token_issue(f->alerts, id, "C-wang", T0, other), 0);
        assert_string_not_equal(tok, other);
        /* Another contact's name with this token, a wrong token, a short one: refused. */
        assert_int_equal(alerts_token_check(f->alerts, id, "C-li", tok, "ack", T0), -EACCES);
        tok[0] = tok[0] == 'a' ? 'b' : 'a';
        assert_int_equal(alerts_token_check(f->alerts, id, "C-wang", tok, "ack", T0), -EACCES);
        assert_int_equal(alerts_token_check(f->alerts, id, "C-wang", "abc", "ack", T0), -EACCES);
        /* Both tokens of the contact work; each once per action. */
        assert_int_equal(alerts_token_check(f->alerts, id, "C-wang", other, "ack", T0 + MIN), 0);
        assert_int_equal(alerts_token_check(f->alerts, id, "C-wang", other, "ack", T0 + MIN), -EALREADY);
        assert_int_equal(alerts_token_check(f->alerts, id, "C-wang", other, "resolve", T0 + 2 * MIN), 0);
        assert_int_equal(alerts_token_issue(f->alerts, id, "C-li", T0, tok), 0);
        assert_int_equal(alerts_token_check(f->alerts, id, "C-li", tok, "ack", T0 + 4 * USEC_PER_DAY), -EKEYEXPIRED);
        assert_int_equal(alerts_tokens_refused(f->alerts), 5);
}

static void test_empty_first_tier_goes_up_the_ladder_at_once(void **state)
{
        struct fixture *f = *state;
        tu_roster_put(f->store, ROSTER_RESIDENTS, "R301", "赵老师", "B17", "301", "是", "", "");
        tu_roster_put(f->store, ROSTER_LINKS, "R301", "C-duty", "2");
        struct alert_request req = { .rule = "panic", .severity = "critical", .resident_id = "R301",
                                     .building_id = "B17", .text_key = "panic", .text = "紧急按钮" };
        int64_t id;
        assert_int_equal(alerts_raise(f->alerts, &req, T0, &id, NULL), 0);
        assert_string_equal(pending(f), "C-duty/mqtt/alert");
        assert_string_equal(state_of(f, id), "open:2");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_without_mqtt_no_alert_broadcast_is_planned, setup, teardown),
                cmocka_unit_test_setup_teardown(test_leak_alone_tells_tier_one_at_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_repeat_updates_the_open_alert_without_new_pages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_the_story_escalates_falls_back_and_is_resolved, setup, teardown),
                cmocka_unit_test_setup_teardown(test_acknowledged_alert_gets_reminders_until_resolved, setup, teardown),
                cmocka_unit_test_setup_teardown(test_after_the_last_tier_everyone_is_told_again, setup, teardown),
                cmocka_unit_test_setup_teardown(test_smoke_tells_tier_one_committee_and_property_at_once, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_stairwell_smoke_reaches_every_flats_tier_one, setup, teardown),
                cmocka_unit_test_setup_teardown(test_info_goes_to_the_committee_only_and_never_escalates, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_worse_severity_tells_everyone_again, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cleared_condition_never_closes_the_alert, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tokens_are_checked_expire_and_cannot_be_replayed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_first_tier_goes_up_the_ladder_at_once, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
