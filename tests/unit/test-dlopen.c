/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dlopen_symbols(), which loads Paho and libcurl only when the configuration
 * needs them: every symbol found, a library that is not there, a symbol it
 * does not have — the last two with a message that names what is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dlfcn.h>

#include <cmocka.h>

#include "daemon/util.h"

static void test_every_symbol_is_found(void **state)
{
        double (*cosine)(double) = NULL, (*square_root)(double) = NULL;
        const struct dl_symbol syms[] = { { "cos", (void **)&cosine }, { "sqrt", (void **)&square_root } };
        char why[256] = "";
        void *dl = NULL;

        assert_int_equal(dlopen_symbols("libm.so.6", syms, ELEMENTSOF(syms), &dl, why, sizeof(why)), 0);
        assert_non_null(dl);
        assert_true(cosine(0) == 1.0);
        assert_true(square_root(16) == 4.0);
        dlclose(dl);
}

static void test_a_missing_library_says_so(void **state)
{
        void *p = NULL, *dl = NULL;
        const struct dl_symbol syms[] = { { "anything", &p } };
        char why[256] = "";

        assert_int_equal(dlopen_symbols("libshouwang-not-there.so.9", syms, ELEMENTSOF(syms), &dl, why, sizeof(why)),
                         -ELIBACC);
        assert_null(dl);
        assert_non_null(strstr(why, "libshouwang-not-there.so.9"));
}

static void test_a_missing_symbol_is_named(void **state)
{
        void *p = NULL, *q = NULL, *dl = NULL;
        const struct dl_symbol syms[] = { { "cos", &p }, { "MQTTClient_nothing", &q } };
        char why[256] = "";

        assert_int_equal(dlopen_symbols("libm.so.6", syms, ELEMENTSOF(syms), &dl, why, sizeof(why)), -ELIBBAD);
        assert_null(dl);
        assert_string_equal(why, "libm.so.6 has no MQTTClient_nothing");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_symbol_is_found),
                cmocka_unit_test(test_a_missing_library_says_so),
                cmocka_unit_test(test_a_missing_symbol_is_named),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
