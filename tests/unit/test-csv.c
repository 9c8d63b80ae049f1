/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The CSV layer against files as committee staff produce them: Excel on Chinese
 * Windows (GBK, CRLF), "CSV UTF-8" (BOM), hand-edited text, and broken files. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <iconv.h>

#include "daemon/csv.h"
#include "daemon/util.h"

/* Parse text given as a C string with a header. */
static int parse(const char *text, struct csv_table *t)
{
        return csv_parse_bytes(text, strlen(text), CSV_HEADER | CSV_DETECT_SEPARATOR, t);
}

static void assert_record(const struct csv_table *t, size_t i, unsigned line, size_t n, ...)
{
        va_list ap;

        assert_true(i < t->n_records);
        assert_int_equal(t->records[i].line, line);
        assert_int_equal(t->records[i].n_fields, n);
        va_start(ap, n);
        for (size_t j = 0; j < n; j++)
                assert_string_equal(t->records[i].fields[j], va_arg(ap, const char *));
        va_end(ap);
}

/* Convert UTF-8 to another encoding as Excel would save it. */
static char *to_encoding(const char *to, const char *utf8, size_t *ret_size)
{
        iconv_t cd = iconv_open(to, "UTF-8");
        size_t in_left = strlen(utf8), cap = in_left * 4 + 8, out_left = cap;
        char *out = malloc(cap), *in = (char *)utf8, *o = out;

        assert_true(cd != (iconv_t)-1);
        assert_non_null(out);
        assert_true(iconv(cd, &in, &in_left, &o, &out_left) != (size_t)-1);
        iconv_close(cd);
        *ret_size = cap - out_left;
        return out;
}

static void test_utf8_without_bom_is_read_as_is(void **state)
{
        struct csv_table t;

        assert_int_equal(parse("id,name\nR201,沈国强\n", &t), 0);
        assert_int_equal(t.encoding, CSV_ENCODING_UTF8);
        assert_int_equal(t.n_records, 2);
        assert_record(&t, 0, 1, 2, "id", "name");
        assert_record(&t, 1, 2, 2, "R201", "沈国强");
        csv_table_done(&t);
}

static void test_utf8_bom_from_excel_is_removed(void **state)
{
        struct csv_table t;

        assert_int_equal(parse(CSV_UTF8_BOM "id,name\r\nR201,沈国强\r\n", &t), 0);
        assert_int_equal(t.encoding, CSV_ENCODING_UTF8_BOM);
        assert_record(&t, 0, 1, 2, "id", "name");
        assert_record(&t, 1, 2, 2, "R201", "沈国强");
        csv_table_done(&t);
}

static void test_gbk_file_from_excel_is_decoded(void **state)
{
        struct csv_table t;
        size_t n;
        _cleanup_free_ char *gbk = to_encoding("GBK", "编号,姓名,备注\r\nR201,沈国强,\"独居, 弟弟住浦东\"\r\n", &n);

        assert_int_equal(csv_parse_bytes(gbk, n, CSV_HEADER, &t), 0);
        assert_int_equal(t.encoding, CSV_ENCODING_GB18030);
        assert_string_equal(csv_encoding_to_string(t.encoding), "GBK");
        assert_record(&t, 0, 1, 3, "编号", "姓名", "备注");
        assert_record(&t, 1, 2, 3, "R201", "沈国强", "独居, 弟弟住浦东");
        csv_table_done(&t);
}

static void test_unicode_text_from_excel_is_utf16_with_tabs(void **state)
{
        struct csv_table t;
        size_t n;
        /* Excel's "Unicode 文本": UTF-16LE with BOM, tab-separated. */
        _cleanup_free_ char *u16 = to_encoding("UTF-16", "编号\t姓名\r\nR201\t沈国强\r\n", &n);

        assert_int_equal(csv_parse_bytes(u16, n, CSV_HEADER | CSV_DETECT_SEPARATOR, &t), 0);
        assert_int_equal(t.encoding, CSV_ENCODING_UTF16);
        assert_int_equal(t.separator, '\t');
        assert_record(&t, 1, 2, 2, "R201", "沈国强");
        csv_table_done(&t);
}

static void test_neither_utf8_nor_gbk_says_how_to_save_from_excel(void **state)
{
        struct csv_table t;
        const char bad[] = "id,name\nR201,ok\nR202,\xff\xfe\xff\n";

        assert_int_equal(csv_parse_bytes(bad, sizeof(bad) - 1, CSV_HEADER, &t), -EILSEQ);
        assert_true(t.fatal);
        assert_int_equal(t.n_errors, 1);
        assert_non_null(strstr(t.errors[0].message, "neither UTF-8 nor GBK"));
        assert_non_null(strstr(t.errors[0].message, "line 3"));
        assert_non_null(strstr(t.errors[0].message, "CSV UTF-8 (逗号分隔)"));
        csv_table_done(&t);
}

static void test_utf8_file_with_one_bad_byte_names_that_line(void **state)
{
        struct csv_table t;
        /* Good UTF-8 Chinese first, then a Latin-1 é pasted in on line 4. */
        const char bad[] = "id,name\nR201,沈国强\nR202,王秀英\nR203,Ren\xe9\n";

        assert_int_equal(csv_parse_bytes(bad, sizeof(bad) - 1, CSV_HEADER, &t), -EILSEQ);
        assert_non_null(strstr(t.errors[0].message, "line 4"));
        csv_table_done(&t);
}

static void test_excel_workbook_renamed_to_csv_is_recognised(void **state)
{
        struct csv_table t;
        const char xlsx[] = "PK\x03\x04\x14\x00\x06\x00";

        assert_int_equal(csv_parse_bytes(xlsx, sizeof(xlsx) - 1, CSV_HEADER, &t), -EMEDIUMTYPE);
        assert_non_null(strstr(t.errors[0].message, ".xlsx"));
        csv_table_done(&t);
}

static void test_nul_bytes_are_not_text(void **state)
{
        struct csv_table t;
        const char bin[] = "id,name\nR201,a\0b\n";

        assert_int_equal(csv_parse_bytes(bin, sizeof(bin) - 1, CSV_HEADER, &t), -EBADMSG);
        assert_true(t.fatal);
        assert_int_equal(t.errors[0].line, 2);
        assert_non_null(strstr(t.errors[0].message, "0x00"));
        csv_table_done(&t);
}

static void test_crlf_lf_and_cr_line_ends_count_the_same(void **state)
{
        const char *texts[] = { "a,b\r\n1,2\r\n3,4\r\n", "a,b\n1,2\n3,4\n", "a,b\r1,2\r3,4\r", "a,b\n1,2\r\n3,4" };

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                struct csv_table t;
                assert_int_equal(parse(texts[i], &t), 0);
                assert_int_equal(t.n_records, 3);
                assert_record(&t, 1, 2, 2, "1", "2");
                assert_record(&t, 2, 3, 2, "3", "4");
                csv_table_done(&t);
        }
}

static void test_quoted_commas_quotes_and_newlines_keep_line_numbers_right(void **state)
{
        struct csv_table t;

        assert_int_equal(parse("id,notes\r\n"
                               "R201,\"独居, 弟弟住浦东\"\r\n"
                               "R301,\"耳背\r\n请用力敲门\r\n喊\"\"王阿婆\"\"\"\r\n"
                               "R302,\"\"\r\n",
                               &t),
                         0);
        assert_int_equal(t.n_records, 4);
        assert_record(&t, 1, 2, 2, "R201", "独居, 弟弟住浦东");
        /* Line breaks inside a value become \n whatever the file uses. */
        assert_record(&t, 2, 3, 2, "R301", "耳背\n请用力敲门\n喊\"王阿婆\"");
        /* The record after a three-line value starts on line 6. */
        assert_record(&t, 3, 6, 2, "R302", "");
        csv_table_done(&t);
}

static void test_blank_lines_and_rows_of_empty_cells_are_skipped(void **state)
{
        struct csv_table t;

        assert_int_equal(parse("a,b,,\n1,2,,\n\n  \n,,,\n3,4\n\n\n\r\n", &t), 0);
        assert_int_equal(t.n_records, 3);
        /* Trailing empty header cells are not columns, and extra empty cells go. */
        assert_record(&t, 0, 1, 2, "a", "b");
        assert_record(&t, 1, 2, 2, "1", "2");
        assert_record(&t, 2, 6, 2, "3", "4");
        csv_table_done(&t);
}

static void test_spaces_around_unquoted_values_are_trimmed(void **state)
{
        struct csv_table t;

        /* ASCII spaces, a tab, the ideographic space U+3000 and U+00A0. */
        assert_int_equal(parse("a,b,c,d\n  R201 ,\t沈国强　,\xc2\xa0" "201\xc2\xa0, \" keep \" \n", &t), 0);
        assert_record(&t, 1, 2, 4, "R201", "沈国强", "201", " keep ");
        csv_table_done(&t);
}

static void test_excel_text_form_keeps_leading_zeros(void **state)
{
        struct csv_table t;

        /* As Excel users write it, and as it arrives after CSV quoting. */
        assert_int_equal(parse("phone,b,c\n=\"02154031301\",\"=\"\"0123\"\"\",\"=\"\"a\"\"\"\"b\"\"\"\n", &t), 0);
        assert_record(&t, 1, 2, 3, "02154031301", "0123", "a\"b");
        csv_table_done(&t);
}

static void test_semicolon_and_tab_separated_files_are_understood(void **state)
{
        struct csv_table t;

        assert_int_equal(parse("id;name;notes\nR201;沈国强;\"a;b, c\"\n", &t), 0);
        assert_int_equal(t.separator, ';');
        assert_record(&t, 1, 2, 3, "R201", "沈国强", "a;b, c");
        csv_table_done(&t);

        assert_int_equal(parse("id\tname\nR201\t沈国强\n", &t), 0);
        assert_int_equal(t.separator, '\t');
        assert_record(&t, 1, 2, 2, "R201", "沈国强");
        csv_table_done(&t);

        /* A comma in the header wins: ';' in values stays a character. */
        assert_int_equal(parse("id,notify\nC1,mqtt;exec:sms\n", &t), 0);
        assert_record(&t, 1, 2, 2, "C1", "mqtt;exec:sms");
        csv_table_done(&t);
}

static void test_unterminated_quote_names_the_line_it_started_on(void **state)
{
        struct csv_table t;

        assert_int_equal(parse("id,notes\nR201,ok\nR301,\"never closed\nR302,x\nR303,y\n", &t), -EBADMSG);
        assert_true(t.fatal);
        assert_int_equal(t.n_errors, 1);
        assert_int_equal(t.errors[0].line, 3);
        assert_non_null(strstr(t.errors[0].message, "never closed"));
        csv_table_done(&t);
}

static void test_stray_quotes_are_reported_and_other_lines_still_read(void **state)
{
        struct csv_table t;

        assert_int_equal(parse("id,notes\nR201,5\" screen\nR202,fine\nR203,\"closed\"junk\nR204,ok\n", &t),
                         -EBADMSG);
        assert_false(t.fatal);
        assert_int_equal(t.n_errors, 2);
        assert_int_equal(t.errors[0].line, 2);
        assert_non_null(strstr(t.errors[0].message, "in the middle of a value"));
        assert_int_equal(t.errors[1].line, 4);
        assert_non_null(strstr(t.errors[1].message, "after the closing quote"));
        /* The good lines are there, with their own numbers. */
        assert_int_equal(t.n_records, 3);
        assert_record(&t, 1, 3, 2, "R202", "fine");
        assert_record(&t, 2, 5, 2, "R204", "ok");
        csv_table_done(&t);
}

static void test_more_values_than_header_columns_names_the_value(void **state)
{
        struct csv_table t;

        assert_int_equal(parse("id,name,notes\nR201,沈国强,独居, 弟弟住浦东\nR202,王,x,,\n", &t), -EBADMSG);
        assert_int_equal(t.n_errors, 1);
        assert_int_equal(t.errors[0].line, 2);
        assert_non_null(strstr(t.errors[0].message, "4 values but the header has 3 columns"));
        assert_non_null(strstr(t.errors[0].message, "'弟弟住浦东'"));
        /* Extra empty cells are fine. */
        assert_record(&t, 1, 3, 3, "R202", "王", "x");
        csv_table_done(&t);
}

static void test_fewer_values_than_header_columns_are_kept_short(void **state)
{
        struct csv_table t;

        assert_int_equal(parse("a,b,c\n1\n", &t), 0);
        assert_record(&t, 1, 2, 1, "1");
        csv_table_done(&t);
}

static void test_writer_quotes_only_what_needs_it_and_ends_lines_with_crlf(void **state)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        const char *row[] = { "R201", "沈国强", "a, b", "say \"hi\"", "two\nlines", " padded", "", NULL };

        assert_non_null(f);
        assert_int_equal(csv_write_record(f, row, ELEMENTSOF(row), 0), 0);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(buf, "R201,沈国强,\"a, b\",\"say \"\"hi\"\"\",\"two\nlines\",\" padded\",,\r\n");
}

static void test_excel_would_change_phone_numbers_and_dates(void **state)
{
        assert_true(csv_excel_would_change("02154031301"));
        assert_true(csv_excel_would_change("+8613800000201"));
        assert_true(csv_excel_would_change("008613800000201"));
        assert_true(csv_excel_would_change("3-1"));
        assert_true(csv_excel_would_change("2024/1/2"));
        assert_true(csv_excel_would_change("-记得敲门"));
        assert_true(csv_excel_would_change("=1+1"));
        assert_true(csv_excel_would_change("1E5"));
        assert_true(csv_excel_would_change("1.50"));
        assert_false(csv_excel_would_change("13800000201"));
        assert_false(csv_excel_would_change("201"));
        assert_false(csv_excel_would_change("021-54031301"));
        assert_false(csv_excel_would_change("沈国强"));
        assert_false(csv_excel_would_change("R201"));
        assert_false(csv_excel_would_change(""));
}

static void test_written_records_read_back_identically(void **state)
{
        const char *row[] = { "02154031301", "+8613800000201", "3-1", "-记得敲门", "a \"b\", c", "x\ny",
                              "　全角空格", "=\"0\"", "1.50", "mqtt;exec:sms" };
        const unsigned flags[] = { 0, CSV_WRITE_EXCEL_TEXT };

        for (size_t k = 0; k < ELEMENTSOF(flags); k++) {
                _cleanup_free_ char *buf = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&buf, &size);
                struct csv_table t;

                assert_non_null(f);
                assert_int_equal(csv_write_record(f, row, ELEMENTSOF(row), 0), 0); /* header */
                assert_int_equal(csv_write_record(f, row, ELEMENTSOF(row), flags[k]), 0);
                assert_int_equal(fclose(f), 0);
                if (flags[k])
                        assert_non_null(strstr(buf, "\"=\"\"02154031301\"\"\""));
                assert_int_equal(csv_parse(buf, size, CSV_HEADER | CSV_DETECT_SEPARATOR, &t), 0);
                assert_int_equal(t.n_records, 2);
                assert_int_equal(t.records[1].n_fields, ELEMENTSOF(row));
                for (size_t i = 0; i < ELEMENTSOF(row); i++) {
                        /* A literal ="0" written without protection reads back as 0: Excel's meaning. */
                        if (!flags[k] && streq(row[i], "=\"0\""))
                                continue;
                        assert_string_equal(t.records[1].fields[i], row[i]);
                }
                csv_table_done(&t);
        }
}

static void test_gbk_output_round_trips_and_refuses_what_gbk_cannot_hold(void **state)
{
        const char *text = "id,name\r\nR201,沈国强\r\n";
        _cleanup_free_ char *gbk = NULL, *err = NULL;
        size_t n;
        struct csv_table t;

        assert_int_equal(csv_encode_gbk(text, strlen(text), &gbk, &n, &err), 0);
        assert_null(err);
        assert_int_equal(csv_parse_bytes(gbk, n, CSV_HEADER, &t), 0);
        assert_int_equal(t.encoding, CSV_ENCODING_GB18030);
        assert_record(&t, 1, 2, 2, "R201", "沈国强");
        csv_table_done(&t);
        free(gbk);
        gbk = NULL;

        /* 𠮷 (U+20BB7) is outside GBK: a name with it must not turn into '?'. */
        const char *rare = "id,name\r\nR201,沈国强\r\nR202,𠮷野\r\n";
        assert_int_equal(csv_encode_gbk(rare, strlen(rare), &gbk, &n, &err), -EILSEQ);
        assert_non_null(err);
        assert_non_null(strstr(err, "'𠮷' on line 3"));
}

static void test_empty_input_has_no_records(void **state)
{
        struct csv_table t;

        assert_int_equal(parse("", &t), 0);
        assert_int_equal(t.n_records, 0);
        csv_table_done(&t);
        assert_int_equal(parse(CSV_UTF8_BOM "\r\n\r\n", &t), 0);
        assert_int_equal(t.n_records, 0);
        csv_table_done(&t);
        /* A doubled BOM and blank lines before a ';' header. */
        assert_int_equal(parse(CSV_UTF8_BOM CSV_UTF8_BOM "\r\n\r\nid;name\r\nR201;沈国强\r\n", &t), 0);
        assert_int_equal(t.separator, ';');
        assert_record(&t, 0, 3, 2, "id", "name");
        assert_record(&t, 1, 4, 2, "R201", "沈国强");
        csv_table_done(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_utf8_without_bom_is_read_as_is),
                cmocka_unit_test(test_utf8_bom_from_excel_is_removed),
                cmocka_unit_test(test_gbk_file_from_excel_is_decoded),
                cmocka_unit_test(test_unicode_text_from_excel_is_utf16_with_tabs),
                cmocka_unit_test(test_neither_utf8_nor_gbk_says_how_to_save_from_excel),
                cmocka_unit_test(test_utf8_file_with_one_bad_byte_names_that_line),
                cmocka_unit_test(test_excel_workbook_renamed_to_csv_is_recognised),
                cmocka_unit_test(test_nul_bytes_are_not_text),
                cmocka_unit_test(test_crlf_lf_and_cr_line_ends_count_the_same),
                cmocka_unit_test(test_quoted_commas_quotes_and_newlines_keep_line_numbers_right),
                cmocka_unit_test(test_blank_lines_and_rows_of_empty_cells_are_skipped),
                cmocka_unit_test(test_spaces_around_unquoted_values_are_trimmed),
                cmocka_unit_test(test_excel_text_form_keeps_leading_zeros),
                cmocka_unit_test(test_semicolon_and_tab_separated_files_are_understood),
                cmocka_unit_test(test_unterminated_quote_names_the_line_it_started_on),
                cmocka_unit_test(test_stray_quotes_are_reported_and_other_lines_still_read),
                cmocka_unit_test(test_more_values_than_header_columns_names_the_value),
                cmocka_unit_test(test_fewer_values_than_header_columns_are_kept_short),
                cmocka_unit_test(test_writer_quotes_only_what_needs_it_and_ends_lines_with_crlf),
                cmocka_unit_test(test_excel_would_change_phone_numbers_and_dates),
                cmocka_unit_test(test_written_records_read_back_identically),
                cmocka_unit_test(test_gbk_output_round_trips_and_refuses_what_gbk_cannot_hold),
                cmocka_unit_test(test_empty_input_has_no_records),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
