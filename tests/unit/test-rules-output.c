/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rule engine's output lists: a later update of the same state or water
 * slot replaces the one before it within RULE_OUTPUT_DEDUP_WINDOW entries (a
 * burst of pulses is one entry), and beyond it both stay in order, so whoever
 * stores them in order keeps the later. A tick that judges 10,000 mornings
 * stays linear.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rules/rules-internal.h"

static void test_a_burst_replaces_its_own_entry(void **state)
{
        struct rule_output o = { 0 };

        for (int i = 0; i < 1000; i++) {
                assert_int_equal(out_push_state(&o, RULE_STATE_SENSOR, 7, SK_TAP_RUN_ML, i), 0);
                assert_int_equal(out_push_slot(&o, 7, 1800 * USEC_PER_SEC, i), 0);
        }
        assert_int_equal(o.n_states, 1);
        assert_int_equal(o.states[0].value, 999);
        assert_int_equal(o.n_slots, 1);
        assert_true(o.slots[0].litres == 999);
        rule_output_done(&o);
}

static void test_far_apart_both_stay_in_order(void **state)
{
        struct rule_output o = { 0 };

        assert_int_equal(out_push_state(&o, RULE_STATE_RESIDENT, 1, SK_MORNING_JUDGED, 20261122), 0);
        for (uint32_t i = 2; i < 2 + RULE_OUTPUT_DEDUP_WINDOW; i++)
                assert_int_equal(out_push_state(&o, RULE_STATE_RESIDENT, i, SK_MORNING_JUDGED, 20261122), 0);
        assert_int_equal(out_push_state(&o, RULE_STATE_RESIDENT, 1, SK_MORNING_JUDGED, 20261123), 0);
        assert_int_equal(o.n_states, 2 + RULE_OUTPUT_DEDUP_WINDOW);
        assert_int_equal(o.states[0].subject, 1);
        assert_int_equal(o.states[o.n_states - 1].subject, 1);
        assert_int_equal(o.states[o.n_states - 1].value, 20261123);
        rule_output_done(&o);
}

static void test_ten_thousand_mornings_are_ten_thousand_entries(void **state)
{
        struct rule_output o = { 0 };

        for (uint32_t i = 0; i < 10000; i++)
                assert_int_equal(out_push_state(&o, RULE_STATE_RESIDENT, i, SK_MORNING_JUDGED, 20261123), 0);
        assert_int_equal(o.n_states, 10000);
        for (uint32_t i = 0; i < 10000; i++)
                assert_int_equal(o.states[i].subject, i);
        rule_output_done(&o);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_burst_replaces_its_own_entry),
                cmocka_unit_test(test_far_apart_both_stay_in_order),
                cmocka_unit_test(test_ten_thousand_mornings_are_ten_thousand_entries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
