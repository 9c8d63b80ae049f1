/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A commit by another connection (shouwangctl) is noticed; our own commits are not. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <systemd/sd-event.h>

#include "daemon/db-watch.h"

static int calls;

static void on_change(DbWatch *w, void *userdata)
{
        calls++;
}

/* Run the loop until a change is seen or 1 s passes. */
static void run(sd_event *e)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + USEC_PER_SEC;
        int before = calls;
        while (calls == before && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(e, 50 * USEC_PER_MSEC) >= 0);
}

static void put_resident(Store *s, const char *id)
{
        char *v[7] = { strdup(id), strdup("x"), strdup("B1"), strdup("1"), strdup("1"), NULL, NULL };
        char *err = NULL;
        assert_int_equal(roster_row_normalise(ROSTER_RESIDENTS, v, &err), 0);
        assert_int_equal(store_roster_upsert(s, ROSTER_RESIDENTS, v, NULL), 0);
        roster_row_clear(v, 7);
}

static void test_commit_by_shouwangctl_is_noticed_own_commit_is_not(void **state)
{
        char dir[] = "/tmp/shouwang-test-dbwatch-XXXXXX", path[96], cmd[128];
        Store *daemon_store = NULL, *ctl_store = NULL;
        DbWatch *w = NULL;
        sd_event *e = NULL;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/db", dir);
        assert_int_equal(store_open(path, STORE_OPEN_CREATE, &daemon_store), 0);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(db_watch_new(e, daemon_store, 20 * USEC_PER_MSEC, on_change, e, &w), 0);

        put_resident(daemon_store, "R1");
        run(e);
        assert_int_equal(calls, 0);

        /* shouwangctl: open, write, close (as the process does when it exits). */
        assert_int_equal(store_open(path, 0, &ctl_store), 0);
        put_resident(ctl_store, "R2");
        ctl_store = store_free(ctl_store);
        run(e);
        assert_int_equal(calls, 1);

        db_watch_free(w);
        store_free(ctl_store);
        store_free(daemon_store);
        sd_event_unref(e);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_commit_by_shouwangctl_is_noticed_own_commit_is_not),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
