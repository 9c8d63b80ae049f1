/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Robustness of the payload normaliser without a fuzzer: every file in
 * tests/data/payloads/ and tests/fuzz/corpus/payload/ (the fuzzer's seeds and
 * any crash it found), for every sensor kind and role, whole, cut at every
 * length, and with single bytes changed. Nothing is expected of the result
 * but its invariants; the sanitizer build (make check SANITIZE=address,undefined)
 * makes "no crash" mean "no out-of-bounds access and no undefined behaviour".
 */

#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sensors/payload.h"

static unsigned long n_parses;

static void check_one(enum sensor_kind kind, enum payload_role role, const char *data, size_t len,
                      const char *what)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];
        char *copy = malloc(len ? len : 1); /* exact size, no NUL: ASan sees any read past the end */
        int r;

        assert_non_null(copy);
        if (len > 0)
                memcpy(copy, data, len);
        r = payload_parse(kind, role, copy, len, &res, reason, sizeof(reason));
        free(copy);
        n_parses++;

        if (r < 0) {
                if (r != -EINVAL && r != -EBADMSG && r != -EMSGSIZE)
                        fail_msg("%s: kind %d role %d: unexpected error %d", what, kind, role, r);
                assert_int_equal(res.n_events, 0);
                assert_false(res.partial);
                if (reason[0] == '\0')
                        fail_msg("%s: kind %d role %d: error %d without a reason", what, kind, role, r);
        } else {
                assert_int_equal((size_t)r, res.n_events);
                assert_true(res.n_events <= PAYLOAD_EVENTS_MAX);
                if (res.partial)
                        assert_true(res.n_events > 0 && reason[0] != '\0');
                else
                        assert_string_equal(reason, "");
        }
        assert_true(strlen(reason) < sizeof(reason));
        for (size_t i = 0; i < res.n_events; i++) {
                const struct sensor_event *e = &res.events[i];
                assert_non_null(event_type_to_string(e->type));
                if (!isfinite(e->value))
                        fail_msg("%s: kind %d role %d: %s=%g", what, kind, role,
                                 event_type_to_string(e->type), e->value);
                assert_int_equal(e->sensor, 0);
                assert_int_equal(e->mono, 0);
                assert_int_equal(e->flags & ~EVENT_SOURCE_TIME, 0);
                assert_true((e->flags & EVENT_SOURCE_TIME) ? e->wall > 0 : e->wall == 0);
                if (role == PAYLOAD_AVAILABILITY)
                        assert_int_equal(e->type, EVENT_AVAILABILITY);
        }
}

static void check_all_kinds(const char *data, size_t len, const char *what)
{
        for (int k = 0; k < _SENSOR_KIND_MAX; k++)
                for (int role = 0; role < _PAYLOAD_ROLE_MAX; role++)
                        check_one(k, role, data, len, what);
}

static size_t run_dir(const char *sub)
{
        const char *top = getenv("SHOUWANG_TOP");
        char dir[512];
        struct dirent *de;
        size_t n_files = 0;
        DIR *d;

        snprintf(dir, sizeof(dir), "%s/%s", top ? top : ".", sub);
        d = opendir(dir);
        if (!d) {
                print_message("no %s: skipped\n", dir);
                return 0;
        }
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL, *data = NULL;
                size_t size;

                if (de->d_name[0] == '.')
                        continue;
                path = path_join(dir, de->d_name);
                assert_non_null(path);
                if (read_full_file(path, &data, &size) < 0)
                        continue;
                n_files++;

                check_all_kinds(data, size, de->d_name);
                /* Every cut: truncated messages are what a broken bridge sends. */
                for (size_t l = 0; l < size && l < 4096; l++)
                        check_one(n_files % _SENSOR_KIND_MAX, PAYLOAD_DATA, data, l, de->d_name);
                /* Every byte changed once, three ways, for small files. */
                if (size <= 512)
                        for (size_t i = 0; i < size; i++) {
                                static const unsigned char repl[] = { 0x00, '"', 0xff };
                                char saved = data[i];
                                for (size_t j = 0; j < ELEMENTSOF(repl); j++) {
                                        data[i] = (char)repl[j];
                                        check_one((i + j) % _SENSOR_KIND_MAX, (i + j) % _PAYLOAD_ROLE_MAX,
                                                  data, size, de->d_name);
                                }
                                data[i] = saved;
                        }
        }
        closedir(d);
        return n_files;
}

static void test_every_corpus_file_for_every_kind_and_role(void **state)
{
        size_t n = run_dir("tests/data/payloads");

        n += run_dir("tests/fuzz/corpus/payload");
        print_message("%zu files, %lu parses\n", n, n_parses);
        assert_true(n > 0);
}

static void test_generated_edge_cases(void **state)
{
        char *big = malloc(PAYLOAD_MAX_SIZE + 16);
        size_t o = 0;

        assert_non_null(big);

        /* Deep nesting right at and past the limit, in objects and arrays. */
        for (size_t depth = 1; depth <= 40; depth++) {
                o = 0;
                for (size_t i = 0; i < depth; i++)
                        o += (size_t)sprintf(big + o, "{\"water_leak\":");
                big[o++] = '1';
                for (size_t i = 0; i < depth; i++)
                        big[o++] = '}';
                check_all_kinds(big, o, "nested objects");
                memset(big, '[', depth);
                check_all_kinds(big, depth, "open arrays");
        }

        /* Sizes around the limit. */
        memset(big, ' ', PAYLOAD_MAX_SIZE + 16);
        memcpy(big, "{\"battery\":5}", 13);
        check_all_kinds(big, PAYLOAD_MAX_SIZE, "at the limit");
        check_all_kinds(big, PAYLOAD_MAX_SIZE + 1, "past the limit");

        /* A long string value and a long key. */
        o = (size_t)sprintf(big, "{\"action\":\"");
        memset(big + o, 'x', 60000);
        o += 60000;
        o += (size_t)sprintf(big + o, "\"}");
        check_all_kinds(big, o, "long action");
        big[1] = 'k';
        check_all_kinds(big, o, "long key");

        /* Numbers at the edges of double. */
        static const char *const numbers[] = {
                "1e999", "-1e999", "1e-999", "4.9e-324", "1.7976931348623157e308", "-0", "0.0000000001",
                "99999999999999999999999999999999", "1e-7", "100.0000001",
        };
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++) {
                static const char *const fields[] = {
                        "battery",   "total_m3",  "water_consumed", "flow",         "action",
                        "water_leak", "last_seen", "timestamp",      "max_flow_m3h",
                };
                check_all_kinds(numbers[i], strlen(numbers[i]), numbers[i]);
                for (size_t f = 0; f < ELEMENTSOF(fields); f++) {
                        o = (size_t)snprintf(big, 256, "{\"%s\":%s}", fields[f], numbers[i]);
                        check_all_kinds(big, o, big);
                        o = (size_t)snprintf(big, 256, "{\"%s\":\"%s\"}", fields[f], numbers[i]);
                        check_all_kinds(big, o, big);
                }
        }

        /* Timestamps that are almost right. */
        static const char *const times[] = {
                "2024-02-30T00:00:00Z",
                "2024-13-01T00:00:00Z",
                "2024-12-31T24:00:00Z",
                "2024-12-31T23:59:60Z",
                "2024-12-31T23:59:59.99999999999999999999Z",
                "2024-12-31T23:59Z",
                "2024-12-31T23:59:59+99:00",
                "2024-12-31T23:59:59+",
                "2024-12-31T23:59:59.Z",
                "9999-12-31T23:59:59Z",
                "0000-01-01T00:00:00Z",
                "2024-12-31",
                "",
                "T",
                "2024-12-31T23:59:59+08:00:00",
        };
        for (size_t i = 0; i < ELEMENTSOF(times); i++) {
                o = (size_t)snprintf(big, 256, "{\"total_m3\":1,\"water_leak\":true,\"timestamp\":\"%s\"}",
                                     times[i]);
                check_all_kinds(big, o, times[i]);
                o = (size_t)snprintf(big, 256, "{\"water_leak\":true,\"last_seen\":\"%s\"}", times[i]);
                check_all_kinds(big, o, times[i]);
        }

        /* Every single byte value as a whole payload and inside a value. */
        for (int c = 0; c < 256; c++) {
                char one = (char)c;
                check_all_kinds(&one, 1, "one byte");
                o = (size_t)snprintf(big, 64, "{\"water_leak\":\"%c\"}", c ? c : ' ');
                big[15] = (char)c;
                check_all_kinds(big, o, "one byte in a value");
        }
        free(big);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_corpus_file_for_every_kind_and_role),
                cmocka_unit_test(test_generated_edge_cases),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
