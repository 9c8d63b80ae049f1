/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Roster import and export against a real SQLite file in a temporary directory,
 * with the files committee staff really write: the example roster, Excel's GBK,
 * Chinese headers, and every kind of mistake. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "daemon/roster-csv.h"
#include "daemon/store.h"
#include "daemon/util.h"

struct fixture {
        char dir[64];
        char path[128];
        Store *store;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        strcpy(f->dir, "/tmp/shouwang-test-import-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/shouwang.db", f->dir);
        assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &f->store), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[160];
        store_free(f->store);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static Store *store_of(void **state)
{
        return ((struct fixture *)*state)->store;
}

static const char *examples(const char *name)
{
        static char path[4096];
        const char *top = getenv("SHOUWANG_TOP");
        snprintf(path, sizeof(path), "%s/examples/%s", top ? top : ".", name);
        return path;
}

static void print_errors(const struct roster_import_result *res)
{
        for (size_t i = 0; i < res->n_errors; i++)
                print_message("  line %u: %s\n", res->errors[i].line, res->errors[i].message);
}

static int import(Store *s, enum roster_kind kind, const char *text, bool dry_run, struct roster_import_result *res)
{
        return roster_import_data(s, kind, text, strlen(text), dry_run, res);
}

/* Import and expect success; returns nothing, checks the counts. */
static void import_ok(Store *s, enum roster_kind kind, const char *text, size_t created, size_t updated,
                      size_t unchanged)
{
        struct roster_import_result res;
        int r = import(s, kind, text, false, &res);
        if (r < 0)
                print_errors(&res);
        assert_int_equal(r, 0);
        assert_true(res.committed);
        assert_int_equal(res.n_created, created);
        assert_int_equal(res.n_updated, updated);
        assert_int_equal(res.n_unchanged, unchanged);
        roster_import_result_done(&res);
}

static void import_example(Store *s, enum roster_kind kind, const char *name, struct roster_import_result *res)
{
        int r = roster_import_file(s, kind, examples(name), false, res);
        if (r < 0)
                print_errors(res);
        assert_int_equal(r, 0);
}

static void import_examples(Store *s)
{
        static const struct {
                enum roster_kind kind;
                const char *file;
        } files[] = {
                { ROSTER_RESIDENTS, "residents.csv" },
                { ROSTER_CONTACTS, "contacts.csv" },
                { ROSTER_LINKS, "links.csv" },
                { ROSTER_SENSORS, "sensors.csv" },
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                struct roster_import_result res;
                import_example(s, files[i].kind, files[i].file, &res);
                roster_import_result_done(&res);
        }
}

static int64_t count(Store *s, enum roster_kind kind)
{
        int64_t n = -1;
        assert_int_equal(store_roster_count(s, kind, &n), 0);
        return n;
}

/* One stored value, for assertions (static buffer). */
static const char *get(Store *s, enum roster_kind kind, const char *key0, const char *key1, size_t column)
{
        static char buf[1024];
        char *key[2] = { (char *)key0, (char *)key1 };
        char **v = NULL;

        assert_int_equal(store_roster_get(s, kind, key, &v), 0);
        snprintf(buf, sizeof(buf), "%s", v[column]);
        roster_row_clear(v, roster_kind_info(kind)->n_columns);
        free(v);
        return buf;
}

/* The errors as roster_import_result_print() shows them. */
static char *printed(const struct roster_import_result *res, const char *file, bool dry_run, bool errors)
{
        char *out = NULL, *err = NULL;
        size_t n_out = 0, n_err = 0;
        FILE *o = open_memstream(&out, &n_out), *e = open_memstream(&err, &n_err);

        assert_non_null(o);
        assert_non_null(e);
        roster_import_result_print(res, file, dry_run, o, e);
        fclose(o);
        fclose(e);
        if (errors) {
                free(out);
                return err;
        }
        free(err);
        return out;
}

static char *export_text(Store *s, enum roster_kind kind, unsigned flags, size_t *ret_size)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        assert_int_equal(roster_export(s, kind, f, flags), 0);
        assert_int_equal(fclose(f), 0);
        if (ret_size)
                *ret_size = size;
        return buf;
}

/* ---- the example roster ------------------------------------------------------------------------------------ */

static void test_example_roster_imports_in_order(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        import_example(s, ROSTER_RESIDENTS, "residents.csv", &res);
        assert_int_equal(res.n_rows, 3);
        assert_int_equal(res.n_created, 3);
        roster_import_result_done(&res);
        import_example(s, ROSTER_CONTACTS, "contacts.csv", &res);
        assert_int_equal(res.n_created, 8);
        roster_import_result_done(&res);
        import_example(s, ROSTER_LINKS, "links.csv", &res);
        assert_int_equal(res.n_created, 14);
        roster_import_result_done(&res);
        import_example(s, ROSTER_SENSORS, "sensors.csv", &res);
        assert_int_equal(res.n_created, 8);
        roster_import_result_done(&res);

        /* The story: 沈国强 lives alone in 201; his brother is his first family contact. */
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 1), "沈国强");
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 4), "1");
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R302", NULL, 4), "0");
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R301", NULL, 6), "82 岁, 耳背: 请用力敲门并喊\"王阿婆\"");
        assert_string_equal(get(s, ROSTER_CONTACTS, "C7", NULL, 3), "family");
        assert_string_equal(get(s, ROSTER_LINKS, "R201", "C7", 2), "2");
        /* A flat's sensor takes the resident's building; the stairwell smoke detector is the building's. */
        assert_string_equal(get(s, ROSTER_SENSORS, "S201-leak", NULL, 2), "B17");
        assert_string_equal(get(s, ROSTER_SENSORS, "S17-smoke", NULL, 1), "");
        assert_string_equal(get(s, ROSTER_SENSORS, "S201-water", NULL, 4), "gpio:gpiochip0:27:litres=1");
}

static void test_gbk_file_from_excel_imports_chinese_names(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        /* Chinese headers, 是/否, CRLF, GBK: Excel's "CSV (逗号分隔)" on Chinese Windows. */
        import_example(s, ROSTER_RESIDENTS, "residents-gbk-excel.csv", &res);
        assert_int_equal(res.encoding, CSV_ENCODING_GB18030);
        assert_int_equal(res.n_created, 3);
        roster_import_result_done(&res);
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 1), "沈国强");
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R302", NULL, 1), "张志明");
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R302", NULL, 4), "0");

        /* It says the same as the UTF-8 example: importing that changes nothing. */
        import_example(s, ROSTER_RESIDENTS, "residents.csv", &res);
        assert_int_equal(res.n_unchanged, 3);
        assert_int_equal(res.n_created + res.n_updated, 0);
        roster_import_result_done(&res);
}

static void test_utf8_with_bom_and_crlf_imports(void **state)
{
        Store *s = store_of(state);

        import_ok(s, ROSTER_RESIDENTS,
                  CSV_UTF8_BOM "id,name,building,flat,lives_alone,phone,notes\r\n"
                               "R201,沈国强,B17,201,是,13800000201,\r\n",
                  1, 0, 0);
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 1), "沈国强");
}

static void test_chinese_headers_in_any_order(void **state)
{
        Store *s = store_of(state);

        import_ok(s, ROSTER_RESIDENTS,
                  "门牌,姓名,编号,独居,楼栋,电话,备注\n"
                  "201,沈国强,R201,是,B17,=\"013800000201\",\"独居, 弟弟住浦东\"\n",
                  1, 0, 0);
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 3), "201");
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 2), "B17");
        /* Excel's ="…" kept the leading zero. */
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 5), "013800000201");
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 6), "独居, 弟弟住浦东");
}

static void test_semicolon_file_from_european_excel_imports(void **state)
{
        Store *s = store_of(state);

        import_ok(s, ROSTER_CONTACTS, "id;name;phone;role;notify\nC1;李梅;13900000101;结对邻居;mqtt\n", 1, 0, 0);
        assert_string_equal(get(s, ROSTER_CONTACTS, "C1", NULL, 3), "neighbour");
}

/* ---- the header ------------------------------------------------------------------------------------------ */

static void test_missing_required_column_is_named(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        assert_int_equal(import(s, ROSTER_RESIDENTS, "id,name,building,flat\nR201,沈国强,B17,201\n", false, &res),
                         -EINVAL);
        assert_int_equal(res.n_errors, 1);
        assert_int_equal(res.errors[0].line, 1);
        assert_non_null(strstr(res.errors[0].message, "no lives_alone (独居) column"));
        roster_import_result_done(&res);
        assert_int_equal(count(s, ROSTER_RESIDENTS), 0);
}

static void test_unknown_column_lists_the_accepted_names(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        assert_int_equal(import(s, ROSTER_RESIDENTS,
                                "id,name,building,flat,lives_alone,年龄\nR201,沈国强,B17,201,1,68\n", false, &res),
                         -EINVAL);
        assert_int_equal(res.n_errors, 1);
        assert_non_null(strstr(res.errors[0].message, "unknown column '年龄'"));
        assert_non_null(strstr(res.errors[0].message, "lives_alone (独居)"));
        assert_non_null(strstr(res.errors[0].message, "notes (备注)"));
        roster_import_result_done(&res);
}

static void test_contacts_file_imported_as_residents_says_which_file_it_is(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        assert_int_equal(roster_import_file(s, ROSTER_RESIDENTS, examples("contacts.csv"), false, &res), -EINVAL);
        assert_int_equal(res.n_errors, 1);
        assert_non_null(strstr(res.errors[0].message, "shouwangctl import contacts"));
        roster_import_result_done(&res);
}

static void test_title_row_above_the_header_is_explained(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        assert_int_equal(import(s, ROSTER_RESIDENTS, "长乐路17号独居老人名单,,,\nid,name,building,flat,lives_alone\n",
                                false, &res),
                         -EINVAL);
        assert_int_equal(res.errors[0].line, 1);
        assert_non_null(strstr(res.errors[0].message, "title rows"));
        roster_import_result_done(&res);
}

static void test_chinese_commas_in_the_header_are_pointed_out(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        assert_int_equal(import(s, ROSTER_RESIDENTS, "编号，姓名，楼栋，门牌，独居\nR201，沈国强，B17，201，是\n", false, &res),
                         -EINVAL);
        assert_int_equal(res.n_errors, 1);
        assert_non_null(strstr(res.errors[0].message, "Chinese comma (，)"));
        roster_import_result_done(&res);
}

static void test_values_under_an_empty_header_cell_are_reported(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        /* An empty column in the sheet is fine as long as it stays empty. */
        assert_int_equal(import(s, ROSTER_RESIDENTS,
                                "id,name,,building,flat,lives_alone\nR201,沈国强,,B17,201,1\nR202,王,x,B17,202,1\n",
                                false, &res),
                         -EINVAL);
        assert_int_equal(res.n_errors, 1);
        assert_int_equal(res.errors[0].line, 3);
        assert_non_null(strstr(res.errors[0].message, "'x' is in column 3, which has no header"));
        roster_import_result_done(&res);
}

static void test_empty_file_says_what_the_header_is(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        assert_int_equal(import(s, ROSTER_LINKS, "", false, &res), -EINVAL);
        assert_non_null(strstr(res.errors[0].message, "resident_id"));
        roster_import_result_done(&res);

        /* A header and no rows is fine: nothing to do. */
        import_ok(s, ROSTER_LINKS, "resident_id,contact_id,tier\r\n", 0, 0, 0);
}

/* ---- bad lines ------------------------------------------------------------------------------------------- */

static void test_every_bad_line_is_reported_with_its_number(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;
        _cleanup_free_ char *out = NULL;

        assert_int_equal(import(s, ROSTER_RESIDENTS,
                                "id,name,building,flat,lives_alone,phone,notes\n"
                                "R201,沈国强,B17,201,是,13800000201,\"two\nlines\"\n" /* lines 2-3, fine */
                                "R202,,B17,202,1,,\n"                               /* 4: no name */
                                "R203,王,B17,203,可能,,\n"                          /* 5: not yes/no */
                                "R204,李,B17,204,1,1.38E+10,\n"                     /* 6: Excel number */
                                "R205,张,B17,205,1,,5\" screen\n"                   /* 7: stray quote */
                                "R206,赵,B17,206,0,,\n"                             /* 8: fine */
                                "R 207,钱,B17,207,0,,\n",                           /* 9: id with a space */
                                false, &res),
                         -EINVAL);
        print_errors(&res);
        assert_int_equal(res.n_errors, 5);
        assert_int_equal(res.errors[0].line, 4);
        assert_non_null(strstr(res.errors[0].message, "name is empty"));
        assert_int_equal(res.errors[1].line, 5);
        assert_int_equal(res.errors[2].line, 6);
        assert_non_null(strstr(res.errors[2].message, "设置单元格格式"));
        assert_int_equal(res.errors[3].line, 7);
        assert_non_null(strstr(res.errors[3].message, "quote"));
        assert_int_equal(res.errors[4].line, 9);
        assert_false(res.committed);

        out = printed(&res, "residents.csv", false, true);
        assert_non_null(strstr(out, "residents.csv:5: lives_alone: '可能' is not yes or no — write 是 or 否"));
        assert_non_null(strstr(out, "5 errors — nothing was imported"));
        roster_import_result_done(&res);
        assert_int_equal(count(s, ROSTER_RESIDENTS), 0);
}

static void test_import_is_all_or_nothing(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        import_ok(s, ROSTER_RESIDENTS, "id,name,building,flat,lives_alone\nR201,沈国强,B17,201,1\n", 1, 0, 0);
        /* Two good rows, an update and one bad row: nothing of it lands. */
        assert_int_equal(import(s, ROSTER_RESIDENTS,
                                "id,name,building,flat,lives_alone\n"
                                "R201,沈国强,B17,201,0\n"
                                "R301,王秀英,B17,301,1\n"
                                "R302,张志明,B17,302,maybe\n",
                                false, &res),
                         -EINVAL);
        assert_int_equal(res.n_errors, 1);
        assert_int_equal(res.errors[0].line, 4);
        roster_import_result_done(&res);
        assert_int_equal(count(s, ROSTER_RESIDENTS), 1);
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 4), "1");
}

static void test_duplicate_id_names_both_lines(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        assert_int_equal(import(s, ROSTER_RESIDENTS,
                                "id,name,building,flat,lives_alone\n"
                                "R201,沈国强,B17,201,1\n"
                                "R301,王秀英,B17,301,1\n"
                                "R201,沈国强,B17,202,1\n",
                                false, &res),
                         -EINVAL);
        assert_int_equal(res.n_errors, 1);
        assert_int_equal(res.errors[0].line, 4);
        assert_non_null(strstr(res.errors[0].message, "R201 is also on line 2"));
        roster_import_result_done(&res);

        /* The same for links: a resident and contact pair once. */
        import_examples(s);
        assert_int_equal(import(s, ROSTER_LINKS, "resident_id,contact_id,tier\nR201,C1,1\nR201,C1,2\n", false, &res),
                         -EINVAL);
        assert_int_equal(res.errors[0].line, 3);
        assert_non_null(strstr(res.errors[0].message, "R201 → C1 is also on line 2"));
        roster_import_result_done(&res);
}

static void test_unknown_resident_in_a_link_says_import_residents_first(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;
        _cleanup_free_ char *out = NULL;

        roster_import_file(s, ROSTER_CONTACTS, examples("contacts.csv"), false, &res);
        roster_import_result_done(&res);
        assert_int_equal(roster_import_file(s, ROSTER_LINKS, examples("links.csv"), false, &res), -EINVAL);
        /* Every link names a resident that is not there: every line is reported. */
        assert_int_equal(res.n_errors, 14);
        assert_int_equal(res.errors[0].line, 2);
        assert_int_equal(res.errors[13].line, 15);
        out = printed(&res, "links.csv", false, true);
        assert_non_null(strstr(out, "links.csv:2: resident_id: unknown resident R201 — import residents first or "
                                    "fix the id"));
        roster_import_result_done(&res);
        assert_int_equal(count(s, ROSTER_LINKS), 0);

        import_examples(s);
        assert_int_equal(import(s, ROSTER_LINKS, "resident_id,contact_id,tier\nR201,C99,1\n", false, &res), -EINVAL);
        assert_non_null(strstr(res.errors[0].message, "unknown contact C99 — import contacts first"));
        roster_import_result_done(&res);
}

static void test_bad_tier_says_what_tiers_mean(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        import_examples(s);
        assert_int_equal(import(s, ROSTER_LINKS, "老人编号,联系人编号,层级\nR302,C1,一\nR302,C2,4\n", false, &res),
                         -EINVAL);
        assert_int_equal(res.n_errors, 1);
        assert_int_equal(res.errors[0].line, 3);
        assert_non_null(strstr(res.errors[0].message, "tier: '4' is not 1, 2 or 3"));
        roster_import_result_done(&res);
}

static void test_bad_sensor_source_and_a_gpio_line_used_twice(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        import_examples(s);
        assert_int_equal(import(s, ROSTER_SENSORS,
                                "id,resident_id,building,kind,source\n"
                                "S302-door,R302,,门磁,gpio:gpiochip0\n"              /* 2: no line number */
                                "S302-leak,R302,,漏水,zigbee2mqtt/r302-leak\n"       /* 3: no mqtt: */
                                "S302-motion,R302,,motion,gpio:gpiochip0:17\n"       /* 4: R201's door line */
                                "S302-gas,R999,,gas,mqtt:zigbee2mqtt/r302-gas\n"     /* 5: unknown resident */
                                "S302-smoke,R302,B18,smoke,mqtt:zigbee2mqtt/r302-s\n" /* 6: wrong building */
                                "S302-co,R302,,co,mqtt:zigbee2mqtt/r302-co\n"        /* 7: fine */
                                "S302-co2,R302,,co,mqtt:zigbee2mqtt/r302-co\n",      /* 8: same topic, same kind */
                                false, &res),
                         -EINVAL);
        print_errors(&res);
        assert_int_equal(res.n_errors, 6);
        assert_int_equal(res.errors[0].line, 2);
        assert_non_null(strstr(res.errors[0].message, "source:"));
        assert_int_equal(res.errors[1].line, 3);
        assert_int_equal(res.errors[2].line, 4);
        assert_non_null(strstr(res.errors[2].message, "S201-door"));
        assert_int_equal(res.errors[3].line, 5);
        assert_non_null(strstr(res.errors[3].message, "import residents first"));
        assert_int_equal(res.errors[4].line, 6);
        assert_int_equal(res.errors[5].line, 8);
        assert_non_null(strstr(res.errors[5].message, "S302-co"));
        roster_import_result_done(&res);
        assert_int_equal(count(s, ROSTER_SENSORS), 8);
}

static void test_unterminated_quote_names_the_line_it_started(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;
        _cleanup_free_ char *out = NULL;

        assert_int_equal(import(s, ROSTER_RESIDENTS,
                                "id,name,building,flat,lives_alone,phone,notes\n"
                                "R201,沈国强,B17,201,1,,fine\n"
                                "R301,王秀英,B17,301,1,,\"耳背\n"
                                "R302,张志明,B17,302,0,,\n",
                                false, &res),
                         -EINVAL);
        assert_int_equal(res.n_errors, 1);
        out = printed(&res, "residents.csv", false, true);
        assert_non_null(strstr(out, "residents.csv:3: a quote (\") opens a value here that is never closed"));
        roster_import_result_done(&res);
        assert_int_equal(count(s, ROSTER_RESIDENTS), 0);
}

static void test_line_numbers_stay_right_after_values_with_line_breaks(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        assert_int_equal(import(s, ROSTER_RESIDENTS,
                                "id,name,building,flat,lives_alone,phone,notes\r\n"
                                "R201,沈国强,B17,201,1,,\"第一行\r\n第二行\r\n第三行\"\r\n" /* lines 2-4 */
                                "R301,王秀英,B17,301,不知道,,\r\n",                        /* line 5 */
                                false, &res),
                         -EINVAL);
        assert_int_equal(res.n_errors, 1);
        assert_int_equal(res.errors[0].line, 5);
        roster_import_result_done(&res);
}

static void test_binary_file_is_refused(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;
        const char data[] = "id,name\nR201\0\0\0";

        assert_int_equal(roster_import_data(s, ROSTER_RESIDENTS, data, sizeof(data) - 1, false, &res), -EINVAL);
        assert_int_equal(res.n_errors, 1);
        assert_int_equal(res.errors[0].line, 2);
        assert_non_null(strstr(res.errors[0].message, "not a text file"));
        roster_import_result_done(&res);
}

static void test_file_that_is_neither_utf8_nor_gbk_says_how_to_save_it(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;
        _cleanup_free_ char *out = NULL;
        const char data[] = "id,name\nR201,\xff\xff\n";

        assert_int_equal(roster_import_data(s, ROSTER_RESIDENTS, data, sizeof(data) - 1, false, &res), -EILSEQ);
        out = printed(&res, "residents.csv", false, true);
        assert_non_null(strstr(out, "residents.csv: the file is neither UTF-8 nor GBK"));
        assert_non_null(strstr(out, "CSV UTF-8 (逗号分隔)"));
        roster_import_result_done(&res);
}

static void test_missing_file_is_reported(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;

        assert_int_equal(roster_import_file(s, ROSTER_RESIDENTS, "/nonexistent/residents.csv", false, &res), -ENOENT);
        assert_int_equal(res.n_errors, 1);
        assert_non_null(strstr(res.errors[0].message, "cannot read"));
        roster_import_result_done(&res);
}

/* ---- what import does to the store ----------------------------------------------------------------------- */

static void test_dry_run_changes_nothing(void **state)
{
        Store *s = store_of(state);
        struct roster_import_result res;
        _cleanup_free_ char *out = NULL;

        assert_int_equal(roster_import_file(s, ROSTER_RESIDENTS, examples("residents.csv"), true, &res), 0);
        assert_int_equal(res.n_created, 3);
        assert_false(res.committed);
        out = printed(&res, "residents.csv", true, false);
        assert_non_null(strstr(out, "would create 3"));
        assert_non_null(strstr(out, "would create: R201, R301, R302"));
        assert_non_null(strstr(out, "nothing was changed"));
        roster_import_result_done(&res);
        assert_int_equal(count(s, ROSTER_RESIDENTS), 0);

        /* With rows in the store, a dry run tells updates from unchanged rows. */
        import_examples(s);
        assert_int_equal(import(s, ROSTER_RESIDENTS,
                                "id,name,building,flat,lives_alone\n"
                                "R201,沈国强,B17,201,1\n"
                                "R301,王秀英,B17,301,0\n"
                                "R401,新居民,B17,401,1\n",
                                true, &res),
                         0);
        assert_int_equal(res.n_created, 1);
        assert_int_equal(res.n_updated, 1);
        assert_int_equal(res.n_unchanged, 1);
        assert_string_equal(res.updated[0], "R301");
        roster_import_result_done(&res);
        assert_int_equal(count(s, ROSTER_RESIDENTS), 3);
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R301", NULL, 4), "1");

        /* A dry run runs the store's checks too. */
        assert_int_equal(import(s, ROSTER_LINKS, "resident_id,contact_id,tier\nR999,C1,1\n", true, &res), -EINVAL);
        assert_non_null(strstr(res.errors[0].message, "unknown resident R999"));
        roster_import_result_done(&res);
}

static void test_reimport_updates_and_never_deletes(void **state)
{
        Store *s = store_of(state);

        import_examples(s);
        /* A file with only some of the residents, one of them changed. */
        import_ok(s, ROSTER_RESIDENTS,
                  "id,name,building,flat,lives_alone,phone,notes\n"
                  "R302,张志明,B17,302,1,13800000302,\"老伴住院, 现独居\"\n",
                  0, 1, 0);
        assert_int_equal(count(s, ROSTER_RESIDENTS), 3);
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R302", NULL, 4), "1");
}

static void test_a_column_left_out_keeps_what_is_stored(void **state)
{
        Store *s = store_of(state);

        import_examples(s);
        /* No phone and notes columns: R201 keeps his; an empty cell would empty it. */
        import_ok(s, ROSTER_RESIDENTS, "id,name,building,flat,lives_alone\nR201,沈国强,B17,201,1\nR401,新,B17,401,0\n",
                  1, 0, 1);
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 5), "13800000201");
        assert_non_null(strstr(get(s, ROSTER_RESIDENTS, "R201", NULL, 6), "备用钥匙"));

        import_ok(s, ROSTER_RESIDENTS, "id,name,building,flat,lives_alone,notes\nR201,沈国强,B17,201,1,\n", 0, 1, 0);
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 6), "");
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R201", NULL, 5), "13800000201");
}

/* ---- export ---------------------------------------------------------------------------------------------- */

static const char *const tricky_residents =
        "编号,姓名,楼栋,门牌,独居,电话,备注\r\n"
        "R501,\"欧阳, 秀兰\",B17,501,是,=\"02154031501\",\"多行\n备注, 含\"\"引号\"\"\"\r\n"
        "R502,O'Brien,B17,3-1,否,+8613800000502,-记得敲门\r\n"
        "R503,  前后空格  ,B17,503,1,,\" 保留空格 \"\r\n";

static void test_round_trip_export_import_export_is_byte_identical(void **state)
{
        struct fixture *second = NULL;
        Store *s = store_of(state);
        const unsigned flags[] = { 0, ROSTER_EXPORT_BOM, ROSTER_EXPORT_GBK };
        struct roster_import_result res;

        import_examples(s);
        import_ok(s, ROSTER_RESIDENTS, tricky_residents, 3, 0, 0);

        for (size_t k = 0; k < ELEMENTSOF(flags); k++) {
                void *st2 = NULL;
                assert_int_equal(setup(&st2), 0);
                second = st2;
                for (enum roster_kind kind = 0; kind < _ROSTER_KIND_MAX; kind++) {
                        size_t n1, n2;
                        _cleanup_free_ char *first = export_text(s, kind, flags[k], &n1);
                        _cleanup_free_ char *again = NULL;

                        /* Importing the export into the same store changes nothing. */
                        assert_int_equal(roster_import_data(s, kind, first, n1, false, &res), 0);
                        assert_int_equal(res.n_created + res.n_updated, 0);
                        roster_import_result_done(&res);

                        /* Into a fresh store and out again: the same bytes. */
                        int r = roster_import_data(second->store, kind, first, n1, false, &res);
                        if (r < 0)
                                print_errors(&res);
                        assert_int_equal(r, 0);
                        roster_import_result_done(&res);
                        again = export_text(second->store, kind, flags[k], &n2);
                        assert_int_equal(n1, n2);
                        assert_memory_equal(first, again, n1);
                }
                assert_string_equal(get(second->store, ROSTER_RESIDENTS, "R501", NULL, 1), "欧阳, 秀兰");
                assert_string_equal(get(second->store, ROSTER_RESIDENTS, "R501", NULL, 5), "02154031501");
                assert_string_equal(get(second->store, ROSTER_RESIDENTS, "R501", NULL, 6), "多行\n备注, 含\"引号\"");
                assert_string_equal(get(second->store, ROSTER_RESIDENTS, "R502", NULL, 5), "+8613800000502");
                assert_string_equal(get(second->store, ROSTER_RESIDENTS, "R502", NULL, 6), "-记得敲门");
                assert_string_equal(get(second->store, ROSTER_RESIDENTS, "R503", NULL, 1), "前后空格");
                /* The normaliser trims every value, quoted or not. */
                assert_string_equal(get(second->store, ROSTER_RESIDENTS, "R503", NULL, 6), "保留空格");
                teardown(&st2);
        }
}

static void test_export_has_the_english_header_bom_and_crlf(void **state)
{
        Store *s = store_of(state);
        _cleanup_free_ char *plain = NULL, *excel = NULL, *gbk = NULL;

        import_examples(s);
        import_ok(s, ROSTER_RESIDENTS, tricky_residents, 3, 0, 0);

        plain = export_text(s, ROSTER_RESIDENTS, 0, NULL);
        assert_true(startswith(plain, "id,name,building,flat,lives_alone,phone,notes\r\nR201,沈国强,B17,201,1,"
                                      "13800000201,\"68 岁, 独居。"));
        assert_non_null(strstr(plain, "\r\nR502,O'Brien,B17,3-1,0,+8613800000502,-记得敲门\r\n"));

        /* For Excel: a BOM, and what Excel would turn into numbers or dates in its ="…" form. */
        excel = export_text(s, ROSTER_RESIDENTS, ROSTER_EXPORT_BOM, NULL);
        assert_true(startswith(excel, CSV_UTF8_BOM "id,name,"));
        assert_non_null(strstr(excel, "\r\nR502,O'Brien,B17,\"=\"\"3-1\"\"\",0,\"=\"\"+8613800000502\"\"\","));

        /* Export in key order. */
        assert_true(strstr(plain, "R201,") < strstr(plain, "R301,"));
        assert_true(strstr(plain, "R302,") < strstr(plain, "R501,"));

        gbk = export_text(s, ROSTER_CONTACTS, ROSTER_EXPORT_GBK, NULL);
        assert_true(startswith(gbk, "id,name,phone,role,notify\r\n"));
}

static void test_export_to_gbk_refuses_a_name_gbk_cannot_hold(void **state)
{
        Store *s = store_of(state);
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        import_ok(s, ROSTER_RESIDENTS, "id,name,building,flat,lives_alone\nR201,𠮷野,B17,201,1\n", 1, 0, 0);
        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(roster_export(s, ROSTER_RESIDENTS, f, ROSTER_EXPORT_GBK), -EILSEQ);
        fclose(f);
        assert_int_equal(size, 0);
        free(buf);
        assert_non_null(strstr(roster_export_error(), "'𠮷' on line 2 cannot be written in GBK"));
        assert_non_null(strstr(roster_export_error(), "UTF-8"));
}

static void test_export_file_is_written_whole(void **state)
{
        struct fixture *f = *state;
        char path[192];
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        import_examples(f->store);
        snprintf(path, sizeof(path), "%s/sensors.csv", f->dir);
        assert_int_equal(roster_export_file(f->store, ROSTER_SENSORS, path, ROSTER_EXPORT_BOM), 0);
        assert_int_equal(read_full_file(path, &data, &size), 0);
        assert_true(startswith(data, CSV_UTF8_BOM "id,resident_id,building,kind,source\r\n"));
        assert_non_null(strstr(data, "\r\nS17-smoke,,B17,smoke,mqtt:zigbee2mqtt/b17-stair-smoke\r\n"));
        assert_non_null(strstr(data, "\r\nS201-water,R201,B17,water_meter,gpio:gpiochip0:27:litres=1\r\n"));

        /* A directory that does not exist: an error that names the path. */
        assert_true(roster_export_file(f->store, ROSTER_SENSORS, "/nonexistent/x.csv", 0) < 0);
        assert_non_null(strstr(roster_export_error(), "/nonexistent/x.csv"));
}

/* ---- size ------------------------------------------------------------------------------------------------ */

static char *thousand_residents(unsigned bad_row)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        fputs("id,name,building,flat,lives_alone,phone,notes\r\n", f);
        for (unsigned i = 1; i <= 1000; i++)
                fprintf(f, "R%04u,居民%04u,B%02u,%u%02u,%s,1380000%04u,\"备注, 第 %u 行\"\r\n", i, i, (i - 1) / 40 + 1,
                        i % 6 + 1, i % 40, i == bad_row ? "也许" : (i % 3 == 0 ? "是" : "否"), i, i);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void test_thousand_row_file_imports_every_row(void **state)
{
        Store *s = store_of(state);
        _cleanup_free_ char *good = thousand_residents(0), *bad = thousand_residents(500);
        _cleanup_free_ char *out = NULL;
        struct roster_import_result res;

        /* One bad row among a thousand: found on its line, nothing stored. */
        assert_int_equal(import(s, ROSTER_RESIDENTS, bad, false, &res), -EINVAL);
        assert_int_equal(res.n_rows, 1000);
        assert_int_equal(res.n_errors, 1);
        assert_int_equal(res.errors[0].line, 501);
        roster_import_result_done(&res);
        assert_int_equal(count(s, ROSTER_RESIDENTS), 0);

        assert_int_equal(import(s, ROSTER_RESIDENTS, good, false, &res), 0);
        assert_int_equal(res.n_rows, 1000);
        assert_int_equal(res.n_created, 1000);
        out = printed(&res, "big.csv", false, false);
        assert_string_equal(out, "big.csv: 1000 residents — 1000 created, 0 updated, 0 unchanged.\n");
        roster_import_result_done(&res);
        assert_int_equal(count(s, ROSTER_RESIDENTS), 1000);
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R0999", NULL, 1), "居民0999");
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R0999", NULL, 4), "1");
        assert_string_equal(get(s, ROSTER_RESIDENTS, "R0999", NULL, 6), "备注, 第 999 行");

        /* Again: all unchanged. */
        import_ok(s, ROSTER_RESIDENTS, good, 0, 0, 1000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_example_roster_imports_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gbk_file_from_excel_imports_chinese_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_utf8_with_bom_and_crlf_imports, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chinese_headers_in_any_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_semicolon_file_from_european_excel_imports, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_required_column_is_named, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_column_lists_the_accepted_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_contacts_file_imported_as_residents_says_which_file_it_is, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_title_row_above_the_header_is_explained, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chinese_commas_in_the_header_are_pointed_out, setup, teardown),
                cmocka_unit_test_setup_teardown(test_values_under_an_empty_header_cell_are_reported, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_empty_file_says_what_the_header_is, setup, teardown),
                cmocka_unit_test_setup_teardown(test_every_bad_line_is_reported_with_its_number, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_is_all_or_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_duplicate_id_names_both_lines, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_resident_in_a_link_says_import_residents_first, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_bad_tier_says_what_tiers_mean, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_sensor_source_and_a_gpio_line_used_twice, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unterminated_quote_names_the_line_it_started, setup, teardown),
                cmocka_unit_test_setup_teardown(test_line_numbers_stay_right_after_values_with_line_breaks, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_binary_file_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_that_is_neither_utf8_nor_gbk_says_how_to_save_it, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_missing_file_is_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dry_run_changes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reimport_updates_and_never_deletes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_column_left_out_keeps_what_is_stored, setup, teardown),
                cmocka_unit_test_setup_teardown(test_round_trip_export_import_export_is_byte_identical, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_export_has_the_english_header_bom_and_crlf, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_to_gbk_refuses_a_name_gbk_cannot_hold, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_file_is_written_whole, setup, teardown),
                cmocka_unit_test_setup_teardown(test_thousand_row_file_imports_every_row, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
