/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The name table (daemon/util.c): residents' and buildings' ids numbered in the
 * order added, as the rules engine numbers them, and found again by name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/util.h"

static void test_numbers_in_the_order_added(void **state)
{
        struct name_table t = { 0 };

        assert_int_equal(name_table_find(&t, "R0001"), -ENOENT); /* empty: no index yet */
        assert_int_equal(name_table_add(&t, "R0001"), 0);
        assert_int_equal(name_table_add(&t, "R0002"), 1);
        assert_int_equal(name_table_add(&t, "R0001"), 0); /* known: its number again, nothing added */
        assert_int_equal(t.n, 2);
        assert_int_equal(name_table_find(&t, "R0002"), 1);
        assert_string_equal(name_table_get(&t, 0), "R0001");
        assert_string_equal(name_table_get(&t, 1), "R0002");
        assert_int_equal(name_table_find(&t, NULL), -ENOENT);
        name_table_done(&t);
        assert_int_equal(t.n, 0);
}

/* A name that is a prefix of another, or the other way round, is another name; so is the empty one. */
static void test_prefixes_are_other_names(void **state)
{
        struct name_table t = { 0 };

        assert_int_equal(name_table_add(&t, "B1"), 0);
        assert_int_equal(name_table_add(&t, "B12"), 1);
        assert_int_equal(name_table_add(&t, ""), 2);
        assert_int_equal(name_table_find(&t, "B"), -ENOENT);
        assert_int_equal(name_table_find(&t, "B123"), -ENOENT);
        assert_int_equal(name_table_find(&t, "B12"), 1);
        assert_int_equal(name_table_find(&t, ""), 2);
        assert_int_equal(name_table_find(&t, "楼1"), -ENOENT);
        assert_int_equal(name_table_add(&t, "楼1"), 3);
        assert_string_equal(name_table_get(&t, 3), "楼1");
        name_table_done(&t);
}

/* 50,000 names: grown from nothing and from a reservation, rehashed on the way, shrunk, then grown again;
 * every name keeps its number and every other string misses. */
static void check_all(const struct name_table *t, size_t n)
{
        char name[32];

        for (size_t i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "S%05zu-leak", i);
                assert_int_equal(name_table_find(t, name), (int)i);
                assert_string_equal(name_table_get(t, i), name);
                snprintf(name, sizeof(name), "S%05zu-lea", i);
                assert_int_equal(name_table_find(t, name), -ENOENT);
        }
}

static void test_many_names(void **state)
{
        const size_t n = 50000;
        char name[32];

        for (int reserved = 0; reserved <= 1; reserved++) {
                struct name_table t = { 0 };

                if (reserved) {
                        assert_int_equal(name_table_reserve(&t, n), 0);
                        assert_true(t.index_size >= 2 * n);
                }
                for (size_t i = 0; i < n; i++) {
                        snprintf(name, sizeof(name), "S%05zu-leak", i);
                        assert_int_equal(name_table_add(&t, name), (int)i);
                }
                assert_int_equal(t.n, n);
                assert_true(t.index_size >= 2 * t.n); /* load factor at most 1/2 */
                check_all(&t, n);

                name_table_shrink(&t);
                assert_int_equal(t.alloc, n);
                assert_int_equal(t.pool.size, t.pool.used);
                check_all(&t, n);
                snprintf(name, sizeof(name), "S%05zu-leak", n);
                assert_int_equal(name_table_add(&t, name), (int)n); /* grows again after a shrink */
                check_all(&t, n + 1);
                name_table_done(&t);
        }
}

/* The hash spreads ids that differ in one digit, as a roster's do: linear probing at a load of at most 1/2
 * finds a name in ~1.3 probes on average when the hash is uniform; a poor hash shows as long chains. */
static void test_short_probe_chains(void **state)
{
        const size_t n = 50000;
        struct name_table t = { 0 };
        size_t total = 0, longest = 0;
        char name[48];

        for (size_t i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "zigbee2mqtt/R%05zu/%s", i / 5 + 1,
                         (const char *[]){ "leak", "door", "motion", "smoke", "gas" }[i % 5]);
                assert_int_equal(name_table_add(&t, name), (int)i);
        }
        for (size_t i = 0; i < n; i++) {
                const char *s = name_table_get(&t, i);
                size_t mask = t.index_size - 1, at = hash_bytes(s, strlen(s)) & mask, probes = 1;
                while ((t.index[at] & HASH_SLOT_MASK) != i + 1) {
                        at = (at + 1) & mask;
                        probes++;
                }
                total += probes;
                if (probes > longest)
                        longest = probes;
        }
        assert_true((double)total / n < 1.6);
        assert_true(longest < 40);
        name_table_done(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_numbers_in_the_order_added),
                cmocka_unit_test(test_prefixes_are_other_names),
                cmocka_unit_test(test_many_names),
                cmocka_unit_test(test_short_probe_chains),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
