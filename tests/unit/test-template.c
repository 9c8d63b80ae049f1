/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message templates: the {placeholder} renderer (unknown names left visible
 * and reported, "{{", escaping for JSON, forms and headers, lines dropped
 * when all they had to say was empty), finding files (override dir before
 * shipped dir, the reader's language before zh_CN, a key before its
 * parent), and the shipped templates themselves: every key the rule engine
 * produces exists in zh_CN and en and renders without a stray placeholder;
 * so do the built-in words used when a file is missing, which are all the
 * daemon (messages.c) falls back on.
 * Times are rendered in Shanghai time (TZ=CST-8, no tzdata needed).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ftw.h>
#include <sys/stat.h>

#include "daemon/messages.h"
#include "daemon/template.h"
#include "rules/rules.h"

/* 2026-11-23 01:10 in Shanghai; the water has run since 00:00. */
#define OPENED_AT (1795367400ULL * USEC_PER_SEC)
#define SINCE (1795363200ULL * USEC_PER_SEC)

static const char *shipped_dir(void)
{
        static char path[512];
        const char *top = getenv("SHOUWANG_TOP");

        snprintf(path, sizeof(path), "%s/templates", top ? top : ".");
        return path;
}

static char *render(const char *tpl, const struct template_var *vars, size_t n, unsigned flags, int expect_unknown,
                    char **ret_unknown)
{
        char *out = NULL;

        assert_int_equal(template_render(tpl, vars, n, flags, &out, ret_unknown), expect_unknown);
        assert_non_null(out);
        return out;
}

/* ---- rendering --------------------------------------------------------------------------------------- */

static void test_placeholders_are_replaced_and_values_are_not_scanned_again(void **state)
{
        const struct template_var vars[] = { { "name", "{place}" }, { "place", "201室" }, { "none", NULL } };
        _cleanup_free_ char *out = render("{name} 在 {place}{none}。", vars, ELEMENTSOF(vars), 0, 0, NULL);

        /* A resident called "{place}" stays "{place}": values are never templates. */
        assert_string_equal(out, "{place} 在 201室。");
}

static void test_unknown_placeholder_is_left_visible_and_reported_once(void **state)
{
        const struct template_var vars[] = { { "name", "沈国强" } };
        _cleanup_free_ char *unknown = NULL;
        _cleanup_free_ char *out = render("{nmae}：{name} {nmae} {txet}", vars, ELEMENTSOF(vars), 0, 2, &unknown);

        assert_string_equal(out, "{nmae}：沈国强 {nmae} {txet}");
        assert_string_equal(unknown, "{nmae}, {txet}");
}

static void test_double_brace_is_a_brace_and_json_needs_no_escaping(void **state)
{
        const struct template_var vars[] = { { "text", "hi" } };
        _cleanup_free_ char *unknown = NULL;
        _cleanup_free_ char *out = render("{{text} {\"a\":{\"b\":\"{text}\"}} { text} {1x} {} {中文}", vars,
                                          ELEMENTSOF(vars), 0, 0, &unknown);

        assert_string_equal(out, "{text} {\"a\":{\"b\":\"hi\"}} { text} {1x} {} {中文}");
        assert_null(unknown);
}

static void test_values_are_escaped_for_json_forms_and_headers(void **state)
{
        const struct template_var vars[] = { { "v", "说 \"hi\"\\\n\t\x01&=/ ok" } };
        _cleanup_free_ char *json = render("\"{v}\"", vars, 1, TEMPLATE_ESCAPE_JSON, 0, NULL);
        _cleanup_free_ char *form = render("t={v}", vars, 1, TEMPLATE_ESCAPE_URL, 0, NULL);
        _cleanup_free_ char *header = render("Title: {v}", vars, 1, TEMPLATE_ONE_LINE, 0, NULL);

        assert_string_equal(json, "\"说 \\\"hi\\\"\\\\\\n\\t\\u0001&=/ ok\"");
        assert_string_equal(form, "t=%E8%AF%B4%20%22hi%22%5C%0A%09%01%26%3D%2F%20ok");
        assert_string_equal(header, "Title: 说 \"hi\"\\ \t\x01&=/ ok");
}

static void test_line_whose_placeholders_are_all_empty_is_dropped(void **state)
{
        const struct template_var vars[] = { { "going", "" }, { "link", NULL }, { "who", "王秀英" } };
        _cleanup_free_ char *out = render("第一行\n已有人去：{going}\n\n{who} {going}\n请点：{link}\n{going}{link}\n末行",
                                          vars, ELEMENTSOF(vars), TEMPLATE_DROP_EMPTY_LINES, 0, NULL);
        _cleanup_free_ char *kept = render("已有人去：{going}", vars, ELEMENTSOF(vars), 0, 0, NULL);
        _cleanup_free_ char *unknown_kept = render("a\n提示：{nope}\nb", vars, ELEMENTSOF(vars),
                                                   TEMPLATE_DROP_EMPTY_LINES, 1, NULL);
        _cleanup_free_ char *last = render("a\n{going}", vars, ELEMENTSOF(vars), TEMPLATE_DROP_EMPTY_LINES, 0, NULL);

        /* Blank lines and lines with one filled placeholder stay. */
        assert_string_equal(out, "第一行\n\n王秀英 \n末行");
        assert_string_equal(kept, "已有人去：");
        /* A typo is never dropped: someone must see it. */
        assert_string_equal(unknown_kept, "a\n提示：{nope}\nb");
        assert_string_equal(last, "a\n");
}

/* ---- finding files ----------------------------------------------------------------------------------- */

struct dirs {
        char root[64], shipped[96], override[96];
};

static void write_file(const char *dir, const char *rel, const char *text)
{
        char path[512], *slash;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        for (slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                (void)mkdir(path, 0755);
                *slash = '/';
        }
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static int setup_dirs(void **state)
{
        struct dirs *d = calloc(1, sizeof(*d));

        assert_non_null(d);
        snprintf(d->root, sizeof(d->root), "/tmp/shouwang-tpl-XXXXXX");
        assert_non_null(mkdtemp(d->root));
        snprintf(d->shipped, sizeof(d->shipped), "%s/shipped", d->root);
        snprintf(d->override, sizeof(d->override), "%s/etc", d->root);
        assert_int_equal(mkdir(d->shipped, 0755), 0);
        assert_int_equal(mkdir(d->override, 0755), 0);
        *state = d;
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int teardown_dirs(void **state)
{
        struct dirs *d = *state;

        assert_int_equal(nftw(d->root, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
        free(d);
        return 0;
}

static char *load(Templates *t, const char *locale, const char *name, char **ret_path)
{
        char *text = NULL;

        assert_int_equal(templates_load(t, locale, name, &text, ret_path), 0);
        return text;
}

static void test_override_dir_wins_over_shipped(void **state)
{
        struct dirs *d = *state;
        _cleanup_(templates_freep) Templates *t = NULL;
        _cleanup_free_ char *text = NULL, *path = NULL, *other = NULL;

        write_file(d->shipped, "zh_CN/what/leak.txt", "家里漏水\n");
        write_file(d->override, "zh_CN/what/leak.txt", "厨房漏水\n");
        write_file(d->shipped, "zh_CN/what/fall.txt", "可能摔倒了\n");
        assert_int_equal(templates_new(d->override, d->shipped, &t), 0);

        text = load(t, "zh_CN", "what/leak", &path);
        assert_string_equal(text, "厨房漏水");
        assert_true(startswith(path, d->override));
        /* What the installer did not override still comes from the shipped tree. */
        other = load(t, "zh_CN", "what/fall", NULL);
        assert_string_equal(other, "可能摔倒了");
}

static void test_english_missing_a_key_falls_back_to_chinese(void **state)
{
        struct dirs *d = *state;
        _cleanup_(templates_freep) Templates *t = NULL;
        _cleanup_free_ char *text = NULL, *path = NULL, *en = NULL;

        write_file(d->shipped, "zh_CN/what/gas.txt", "燃气报警");
        write_file(d->shipped, "en/what/leak.txt", "Water leak");
        assert_int_equal(templates_new(NULL, d->shipped, &t), 0);

        text = load(t, "en", "what/gas", &path);
        assert_string_equal(text, "燃气报警");
        assert_non_null(strstr(path, "/zh_CN/what/gas.txt"));
        en = load(t, "en_GB.UTF-8", "what/leak", NULL);
        assert_string_equal(en, "Water leak");
        assert_string_equal(templates_locale("zh_CN.UTF-8"), "zh_CN");
        assert_string_equal(templates_locale(NULL), "zh_CN");
        assert_string_equal(templates_locale("en_US"), "en");
}

static void test_a_variant_without_its_own_file_uses_its_rule(void **state)
{
        struct dirs *d = *state;
        _cleanup_(templates_freep) Templates *t = NULL;
        _cleanup_free_ char *text = NULL, *specific = NULL;
        char *none = NULL;

        write_file(d->shipped, "zh_CN/what/combined.txt", "多日没有动静");
        write_file(d->shipped, "zh_CN/what/leak.alone.txt", "家里漏水（独居）");
        write_file(d->shipped, "en/what/leak.txt", "Water leak");
        assert_int_equal(templates_new(NULL, d->shipped, &t), 0);

        /* A combined rule an installer configured, with no words of its own yet. */
        text = load(t, "zh_CN", "what/combined.still_and_dry", NULL);
        assert_string_equal(text, "多日没有动静");
        /* The reader's language beats the more precise key in another. */
        specific = load(t, "en", "what/leak.alone", NULL);
        assert_string_equal(specific, "Water leak");
        free(specific);
        specific = load(t, "zh_CN", "what/leak.alone", NULL);
        assert_string_equal(specific, "家里漏水（独居）");
        assert_int_equal(templates_load(t, "zh_CN", "what/panic", &none, NULL), -ENOENT);
        assert_null(none);
}

static void test_editor_leftovers_are_cleaned(void **state)
{
        struct dirs *d = *state;
        _cleanup_(templates_freep) Templates *t = NULL;
        _cleanup_free_ char *text = NULL;

        /* Notepad on Windows: BOM, CRLF, a trailing blank line. */
        write_file(d->override, "zh_CN/guidance/leak.txt", "\xEF\xBB\xBF到了以后：\r\n1. 关总阀。\r\n\r\n");
        assert_int_equal(templates_new(d->override, d->shipped, &t), 0);
        text = load(t, "zh_CN", "guidance/leak", NULL);
        assert_string_equal(text, "到了以后：\n1. 关总阀。");
}

static void test_names_that_leave_the_tree_are_refused(void **state)
{
        struct dirs *d = *state;
        _cleanup_(templates_freep) Templates *t = NULL;
        char *text = NULL;

        assert_int_equal(templates_new(d->override, d->shipped, &t), 0);
        assert_int_equal(templates_load(t, "zh_CN", "../../etc/passwd", &text, NULL), -EINVAL);
        assert_int_equal(templates_load(t, "zh_CN", "what/../../x", &text, NULL), -EINVAL);
        assert_int_equal(templates_load(t, "zh_CN", "/etc/passwd", &text, NULL), -EINVAL);
        assert_int_equal(templates_load(t, "../zh_CN", "what/leak", &text, NULL), -EINVAL);
        assert_int_equal(templates_load(t, "zh_CN", "what/leak;rm", &text, NULL), -EINVAL);
        assert_null(text);
}

struct problems_seen {
        int n;
        bool unknown, misspelt, not_txt;
};

static void on_problem(const char *problem, void *userdata)
{
        struct problems_seen *seen = userdata;

        print_message("      problem: %s\n", problem);
        seen->n++;
        seen->unknown = seen->unknown || (strstr(problem, "zh_CN/message/alert.txt: unknown placeholder {ack_link}") &&
                                          strstr(problem, "{ack_url}"));
        seen->misspelt = seen->misspelt || strstr(problem, "leek.txt: no message uses this file");
        seen->not_txt = seen->not_txt || strstr(problem, "smoke.txt.bak: not read");
}

static void print_problem(const char *problem, void *userdata)
{
        print_message("      problem: %s\n", problem);
}

/* Without files every template is missing; anything else is wrong with the built-in words. */
static void on_builtin_problem(const char *problem, void *userdata)
{
        if (!strstr(problem, "no template ") && !strstr(problem, "no shipped templates"))
                fail_msg("built-in words: %s", problem);
}

static void test_check_finds_typos_and_misspelt_files_in_the_override_dir(void **state)
{
        struct dirs *d = *state;
        _cleanup_(templates_freep) Templates *t = NULL;
        struct problems_seen seen = {};

        write_file(d->override, "zh_CN/message/alert.txt", "【守望】{urgency}｜{who}：{event}\n{what}\n请点：{ack_link}");
        write_file(d->override, "zh_CN/what/leek.txt", "漏水");
        write_file(d->override, "zh_CN/guidance/smoke.txt.bak", "旧的");
        write_file(d->override, "zh_CN/what/combined.still_and_dry.txt", "没动静也没用水");
        assert_int_equal(templates_new(d->override, shipped_dir(), &t), 0);

        int n = templates_check(t, on_problem, &seen);
        assert_int_equal(n, seen.n);
        assert_true(seen.unknown);
        assert_true(seen.misspelt);
        assert_true(seen.not_txt);
        assert_int_equal(n, 3);
}

/* ---- the shipped templates --------------------------------------------------------------------------- */

static Templates *shipped(void)
{
        Templates *t = NULL;

        assert_int_equal(templates_new(NULL, shipped_dir(), &t), 0);
        return t;
}

static void test_leak_for_a_resident_living_alone_reads_as_the_neighbour_needs_it(void **state)
{
        _cleanup_(templates_freep) Templates *t = shipped();
        _cleanup_free_ char *title = NULL, *text = NULL, *problems = NULL;
        struct message_input in = {
                .purpose = "alert",
                .text_key = "leak.alone",
                .severity = "critical",
                .alert_id = 7,
                .resident_name = "沈国强",
                .building = "长乐路17号",
                .flat = "201",
                .lives_alone = 1,
                .opened_at = OPENED_AT,
                .params_json = "{\"since\":\"2026-11-23T00:00:00+08:00\",\"duration_s\":4200,\"litres\":-1.0,"
                               "\"count\":-1,\"lives_alone\":1}",
                .contact_name = "王秀英",
                .ack_url = "http://gw.local/a/7?c=C2&t=abc",
        };

        assert_int_equal(templates_render_message(t, &in, &title, &text, &problems), 0);
        assert_null(problems);
        assert_string_equal(title, "【守望】紧急｜沈国强：家里漏水");
        assert_string_equal(text, "家里漏水了。老人一个人住，可能摔倒了没法应答，请马上去看。\n"
                                  "地址：长乐路17号 201室\n"
                                  "时间：11月23日 01:10\n"
                                  "到了以后：\n"
                                  "1. 先关总水阀，再拉下电闸。\n"
                                  "2. 敲门叫人，打老人电话；没人应，找楼组长或居委会开门。\n"
                                  "我去看看，请点：http://gw.local/a/7?c=C2&t=abc");
}

static void test_who_else_is_going_appears_once_someone_is(void **state)
{
        _cleanup_(templates_freep) Templates *t = shipped();
        _cleanup_free_ char *title = NULL, *text = NULL, *title2 = NULL, *text2 = NULL;
        struct message_input in = {
                .purpose = "alert",
                .text_key = "smoke",
                .severity = "critical",
                .resident_name = "沈国强",
                .building = "长乐路17号",
                .flat = "201",
                .opened_at = OPENED_AT,
                .going = "王秀英",
                .notified = "李建国、居委会",
        };

        assert_int_equal(templates_render_message(t, &in, &title, &text, NULL), 0);
        assert_non_null(strstr(text, "\n已有人去：王秀英\n也通知了：李建国、居委会"));
        /* No link without the web server: the line goes rather than dangle. */
        assert_null(strstr(text, "请点"));
        /* The fire guidance of issue 12. */
        assert_non_null(strstr(text, "烫手就不要开门，马上打119"));

        in.going = in.notified = NULL;
        assert_int_equal(templates_render_message(t, &in, &title2, &text2, NULL), 0);
        assert_null(strstr(text2, "已有人去"));
        assert_null(strstr(text2, "也通知了"));
}

static void test_ack_info_reminder_resolved_and_test_messages(void **state)
{
        _cleanup_(templates_freep) Templates *t = shipped();
        struct message_input in = {
                .text_key = "gas",
                .severity = "critical",
                .resident_name = "沈国强",
                .building = "长乐路17号",
                .flat = "201",
                .opened_at = OPENED_AT,
                .going = "王秀英",
                .ack_url = "http://gw.local/a/7?c=C2&t=abc",
                .resolver = "王秀英",
                .outcome = "false_alarm",
                .note = "灶台上的汤溢出来了",
        };
        char *title, *text;

        in.purpose = "ack_info";
        assert_int_equal(templates_render_message(t, &in, &title, &text, NULL), 0);
        assert_string_equal(title, "【守望】有人去了｜沈国强：燃气报警");
        assert_true(startswith(text, "王秀英已经去看了，您不用再去。"));
        free(title);
        free(text);

        in.purpose = "reminder";
        assert_int_equal(templates_render_message(t, &in, &title, &text, NULL), 0);
        assert_string_equal(title, "【守望】提醒｜沈国强：燃气报警");
        assert_non_null(strstr(text, "处理好了，请点这里告诉大家：http://gw.local/a/7?c=C2&t=abc"));
        free(title);
        free(text);

        in.purpose = "resolved";
        assert_int_equal(templates_render_message(t, &in, &title, &text, NULL), 0);
        assert_string_equal(title, "【守望】已处理｜沈国强：燃气报警");
        assert_non_null(strstr(text, "结果：误报\n说明：灶台上的汤溢出来了\n处理人：王秀英"));
        free(title);
        free(text);

        /* A marked test through the real chain: unmistakably a test. */
        in.purpose = "alert";
        in.test = true;
        in.text_key = "test";
        assert_int_equal(templates_render_message(t, &in, &title, &text, NULL), 0);
        assert_string_equal(title, "【守望】测试｜沈国强");
        assert_non_null(strstr(text, "不用上门"));
        free(title);
        free(text);
}

static void test_english_message_for_a_common_area(void **state)
{
        _cleanup_(templates_freep) Templates *t = shipped();
        _cleanup_free_ char *title = NULL, *text = NULL, *problems = NULL;
        struct message_input in = {
                .purpose = "alert",
                .text_key = "smoke.common",
                .locale = "en",
                .severity = "critical",
                .building = "Changle Rd 17",
                .opened_at = OPENED_AT,
        };

        assert_int_equal(templates_render_message(t, &in, &title, &text, &problems), 0);
        assert_null(problems);
        assert_string_equal(title, "[shouwang] URGENT | Changle Rd 17, common area: Smoke in the stairwell");
        assert_true(startswith(text, "The smoke alarm in a common area is sounding"));
        assert_non_null(strstr(text, "\nWhere: Changle Rd 17, common area\nWhen: 23 Nov 01:10\nStay safe:\n"));
        assert_non_null(strstr(text, "Do not use the lift"));
}

static void test_water_parameters_fill_the_text(void **state)
{
        _cleanup_(templates_freep) Templates *t = shipped();
        _cleanup_free_ char *title = NULL, *text = NULL, *summary = NULL;
        struct decision_params p = {
                .since_wall = SINCE, .duration = 70 * USEC_PER_MINUTE, .litres = 312.4, .count = -1, .lives_alone = 1
        };
        struct message_input in = {
                .purpose = "alert",
                .text_key = "tap_running.critical",
                .severity = "critical",
                .resident_name = "沈国强",
                .building = "长乐路17号",
                .flat = "201",
                .opened_at = OPENED_AT,
                .params = &p,
        };

        assert_int_equal(templates_render_message(t, &in, &title, &text, NULL), 0);
        assert_string_equal(title, "【守望】紧急｜沈国强：水流了很久");
        assert_non_null(strstr(text, "已经流了：1小时10分钟\n大约用水：312升\n开始时间：00:00\n"));
        assert_int_equal(templates_render_summary(t, &in, &summary, NULL), 0);
        assert_string_equal(summary, "沈国强（长乐路17号 201室）：水流了很久");

        /* Two days without a sign of life: the day is named, not just the hour. */
        free(text);
        free(title);
        p.since_wall = OPENED_AT - 49 * USEC_PER_HOUR;
        p.duration = 49 * USEC_PER_HOUR;
        in.text_key = "inactivity";
        assert_int_equal(templates_render_message(t, &in, &title, &text, NULL), 0);
        assert_non_null(strstr(text, "已经2天没有动静。\n最后一次有动静：11月21日 00:10\n"));
}

static void test_every_shipped_key_exists_in_both_locales_and_renders_cleanly(void **state)
{
        _cleanup_(templates_freep) Templates *t = shipped();
        static const char *const locales[] = { "zh_CN", "en" };

        for (size_t l = 0; l < ELEMENTSOF(locales); l++) {
                for (size_t i = 0; templates_text_keys[i]; i++) {
                        _cleanup_free_ char *name = NULL, *text = NULL, *path = NULL, *expect = NULL;
                        assert_true(asprintf(&name, "what/%s", templates_text_keys[i]) > 0);
                        assert_true(asprintf(&expect, "/%s/%s.txt", locales[l], name) > 0);
                        if (templates_load(t, locales[l], name, &text, &path) < 0 || !strstr(path, expect))
                                fail_msg("templates/%s/%s.txt is missing", locales[l], name);
                        /* First line short enough for a notification's title. */
                        assert_true(strcspn(text, "\n") < 60);
                }
                for (size_t i = 0; templates_purposes[i]; i++) {
                        _cleanup_free_ char *name = NULL, *text = NULL, *path = NULL;
                        assert_true(asprintf(&name, "message/%s", templates_purposes[i]) > 0);
                        if (templates_load(t, locales[l], name, &text, &path) < 0 || !strstr(path, locales[l]))
                                fail_msg("templates/%s/%s.txt is missing", locales[l], name);
                }
        }
        /* Renders every purpose × key × locale with every value filled in: not one problem. */
        assert_int_equal(templates_check(t, print_problem, NULL), 0);
}

static void test_every_rule_has_words(void **state)
{
        _cleanup_(templates_freep) Templates *t = shipped();

        for (int r = 0; r < _RULE_ID_MAX; r++) {
                _cleanup_free_ char *name = NULL, *text = NULL, *path = NULL, *expect = NULL;
                assert_true(asprintf(&name, "what/%s", rule_id_to_string(r)) > 0);
                assert_true(asprintf(&expect, "/zh_CN/%s.txt", name) > 0);
                if (templates_load(t, "zh_CN", name, &text, &path) < 0 || !strstr(path, expect))
                        fail_msg("a new rule without words: add templates/zh_CN/%s.txt (and en)", name);
        }
}

static void test_without_any_template_file_the_message_still_goes_out(void **state)
{
        _cleanup_(templates_freep) Templates *t = NULL;
        _cleanup_free_ char *title = NULL, *text = NULL, *problems = NULL, *summary = NULL;
        _cleanup_free_ char *title2 = NULL, *text2 = NULL;
        struct message_input in = {
                .purpose = "alert",
                .text_key = "leak.alone",
                .severity = "critical",
                .resident_name = "沈国强",
                .building = "长乐路17号",
                .flat = "201",
                .opened_at = OPENED_AT,
                .ack_url = "http://gw.local/a/7?c=C2&t=abc",
        };

        assert_int_equal(templates_new(NULL, "/nonexistent/shouwang/templates", &t), 0);
        assert_int_equal(templates_render_message(t, &in, &title, &text, &problems), 0);
        /* Plainer words from the code, but nobody misses the alert. */
        assert_string_equal(title, "【守望】紧急｜沈国强：家中漏水");
        assert_string_equal(text, "老人独居，可能无法应答，请马上去看\n"
                                  "地址：长乐路17号 201室\n"
                                  "时间：11月23日 01:10\n"
                                  "先关总水阀，再拉下电闸；敲门叫人。\n"
                                  "我去看看，请点：http://gw.local/a/7?c=C2&t=abc");
        assert_non_null(problems);
        assert_non_null(strstr(problems, "no template zh_CN/what/leak.alone.txt"));
        assert_non_null(strstr(problems, "built-in words used"));
        assert_int_equal(templates_render_summary(t, &in, &summary, NULL), 0);
        assert_string_equal(summary, "沈国强（长乐路17号 201室）：家中漏水");

        /* A key nothing knows: the key itself says more than nothing. */
        in.text_key = "frobnicate";
        in.locale = "en";
        assert_int_equal(templates_render_message(t, &in, &title2, &text2, NULL), 0);
        assert_string_equal(title2, "[shouwang] URGENT | 沈国强: frobnicate");
}

/* What the daemon falls back on for every key the rules produce, in both languages. */
static void test_every_key_has_built_in_words_in_both_languages(void **state)
{
        static const char *const locales[] = { "zh_CN", "en" };
        _cleanup_(templates_freep) Templates *t = NULL;

        for (size_t l = 0; l < ELEMENTSOF(locales); l++) {
                for (size_t i = 0; templates_text_keys[i]; i++) {
                        _cleanup_free_ char *what = NULL, *guidance = NULL;
                        assert_true(asprintf(&what, "what/%s", templates_text_keys[i]) > 0);
                        assert_true(asprintf(&guidance, "guidance/%s", templates_text_keys[i]) > 0);
                        if (!templates_builtin(what, locales[l]))
                                fail_msg("no built-in %s in %s (daemon/template.c)", what, locales[l]);
                        /* Guidance is optional, but never in one language only. */
                        if (!templates_builtin(guidance, "zh_CN") != !templates_builtin(guidance, "en"))
                                fail_msg("built-in %s in one language only", guidance);
                }
                for (int r = 0; r < _RULE_ID_MAX; r++) {
                        _cleanup_free_ char *what = NULL;
                        assert_true(asprintf(&what, "what/%s", rule_id_to_string(r)) > 0);
                        if (!templates_builtin(what, locales[l]))
                                fail_msg("a new rule without built-in words: add %s to daemon/template.c", what);
                }
                for (size_t i = 0; templates_purposes[i]; i++) {
                        _cleanup_free_ char *name = NULL;
                        assert_true(asprintf(&name, "message/%s", templates_purposes[i]) > 0);
                        if (!templates_builtin(name, locales[l]))
                                fail_msg("no built-in %s in %s", name, locales[l]);
                }
                assert_non_null(templates_builtin("summary", locales[l]));
        }
        /* English is English: no entry forgot its translation. */
        for (size_t i = 0; templates_text_keys[i]; i++) {
                _cleanup_free_ char *what = NULL;
                assert_true(asprintf(&what, "what/%s", templates_text_keys[i]) > 0);
                assert_string_not_equal(templates_builtin(what, "zh_CN"), templates_builtin(what, "en"));
        }
        assert_ptr_equal(templates_builtin("what/leak.common", "en_GB.UTF-8"), templates_builtin("what/leak", "en"));
        assert_null(templates_builtin("what/frobnicate", "zh_CN"));

        /* Rendered with no file anywhere: every placeholder in the built-in words is one the renderer knows. */
        assert_int_equal(templates_new(NULL, "/nonexistent/shouwang/templates", &t), 0);
        assert_true(templates_check(t, on_builtin_problem, NULL) > 0);
}

/* The daemon's words (messages.c) are the templates', or their built-in words: one source either way. */
static void test_the_daemon_uses_the_files_or_else_the_built_in_words(void **state)
{
        struct rule_decision d = { .severity = SEVERITY_CRITICAL, .text_key = "leak.alone",
                                   .params = { .litres = -1, .count = -1, .lives_alone = 1 } };
        struct alert_info a = { .id = 7, .rule = (char *)"leak", .severity = (char *)"critical",
                                .resident_name = (char *)"沈国强", .building_id = (char *)"长乐路17号",
                                .flat = (char *)"201", .lives_alone = 1, .text_key = (char *)"leak.alone",
                                .opened_at = OPENED_AT };
        struct delivery_info del = { .purpose = (char *)"alert", .contact_name = (char *)"王秀英" };
        struct outbox_render in = { .alert = &a, .delivery = &del, .ack_url = "http://gw.local/a/7?c=C2&t=abc" };
        const char *const dirs[] = { shipped_dir(), "/nonexistent/shouwang/templates" };
        const char *const events[] = { "家里漏水", "家中漏水" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *text = NULL, *title = NULL, *body = NULL, *expect = NULL;
                Messages *m = NULL;

                assert_int_equal(setenv("SHOUWANG_SHIPPED_TEMPLATES_DIR", dirs[i], 1), 0);
                assert_int_equal(messages_new(NULL, NULL, &m), 0);
                text = messages_render_alert_text(m, &d, "沈国强", "长乐路17号", "201");
                assert_true(asprintf(&expect, "沈国强（长乐路17号 201室）：%s", events[i]) > 0);
                assert_string_equal(text, expect);
                free(expect);
                assert_int_equal(messages_render_delivery(m, &in, &title, &body), 0);
                assert_true(asprintf(&expect, "【守望】紧急｜沈国强：%s", events[i]) > 0);
                assert_string_equal(title, expect);
                assert_non_null(strstr(body, "总水阀"));
                assert_non_null(strstr(body, "http://gw.local/a/7?c=C2&t=abc"));
                messages_free(m);
        }
        unsetenv("SHOUWANG_SHIPPED_TEMPLATES_DIR");
}

static void test_stored_parameters_are_read_back(void **state)
{
        struct decision_params p;

        assert_int_equal(decision_params_from_json("{\"since\":\"2026-11-23T00:00:00+08:00\",\"duration_s\":600,"
                                                   "\"litres\":12.5,\"count\":4,\"lives_alone\":0}",
                                                   &p),
                         0);
        assert_int_equal(p.since_wall, SINCE);
        assert_int_equal(p.duration, 600 * USEC_PER_SEC);
        assert_true(p.litres > 12.4 && p.litres < 12.6);
        assert_int_equal(p.count, 4);
        assert_int_equal(p.lives_alone, 0);

        assert_int_equal(decision_params_from_json("{\"since\":null}", &p), 0);
        assert_int_equal(p.since_wall, 0);
        assert_true(p.litres < 0);
        assert_int_equal(p.count, -1);
        assert_int_equal(decision_params_from_json("not json", &p), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_placeholders_are_replaced_and_values_are_not_scanned_again),
                cmocka_unit_test(test_unknown_placeholder_is_left_visible_and_reported_once),
                cmocka_unit_test(test_double_brace_is_a_brace_and_json_needs_no_escaping),
                cmocka_unit_test(test_values_are_escaped_for_json_forms_and_headers),
                cmocka_unit_test(test_line_whose_placeholders_are_all_empty_is_dropped),
                cmocka_unit_test_setup_teardown(test_override_dir_wins_over_shipped, setup_dirs, teardown_dirs),
                cmocka_unit_test_setup_teardown(test_english_missing_a_key_falls_back_to_chinese, setup_dirs,
                                                teardown_dirs),
                cmocka_unit_test_setup_teardown(test_a_variant_without_its_own_file_uses_its_rule, setup_dirs,
                                                teardown_dirs),
                cmocka_unit_test_setup_teardown(test_editor_leftovers_are_cleaned, setup_dirs, teardown_dirs),
                cmocka_unit_test_setup_teardown(test_names_that_leave_the_tree_are_refused, setup_dirs, teardown_dirs),
                cmocka_unit_test_setup_teardown(test_check_finds_typos_and_misspelt_files_in_the_override_dir,
                                                setup_dirs, teardown_dirs),
                cmocka_unit_test(test_leak_for_a_resident_living_alone_reads_as_the_neighbour_needs_it),
                cmocka_unit_test(test_who_else_is_going_appears_once_someone_is),
                cmocka_unit_test(test_ack_info_reminder_resolved_and_test_messages),
                cmocka_unit_test(test_english_message_for_a_common_area),
                cmocka_unit_test(test_water_parameters_fill_the_text),
                cmocka_unit_test(test_every_shipped_key_exists_in_both_locales_and_renders_cleanly),
                cmocka_unit_test(test_every_rule_has_words),
                cmocka_unit_test(test_without_any_template_file_the_message_still_goes_out),
                cmocka_unit_test(test_every_key_has_built_in_words_in_both_languages),
                cmocka_unit_test(test_the_daemon_uses_the_files_or_else_the_built_in_words),
                cmocka_unit_test(test_stored_parameters_are_read_back),
        };

        setenv("TZ", "CST-8", 1);
        tzset();
        unsetenv("SHOUWANG_SHIPPED_TEMPLATES_DIR");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
