/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The systemd files as systemd itself reads them (issue 7):
 *
 *   - the unit has what the issue asks for: Type=notify with NotifyAccess=main,
 *     a watchdog, Restart=always without a start limit, reload by SIGHUP, its
 *     own user in the gpio group, state and configuration directories whose
 *     modes agree with tmpfiles.d, the GPIO character devices, ordering after
 *     the broker and time sync;
 *   - `systemd-analyze verify` has nothing to say about it. It checks that
 *     ExecStart= can be executed, so it reads a copy whose ExecStart= is the
 *     built shouwangd (every other line as shipped), and the man pages named in
 *     Documentation= are looked up among the built ones ($BUILD/man);
 *   - `systemd-analyze security --offline=yes --threshold=15`: overall
 *     exposure at most 1.5 (the threshold is the exposure times ten); the
 *     settings that cost most are printed;
 *   - sysusers.d and tmpfiles.d, applied by systemd-sysusers and
 *     systemd-tmpfiles to a scratch root (as root only: tmpfiles chowns).
 *
 * Skipped (77) only when systemd-analyze is not installed. What the sandbox
 * does to a running shouwangd and its exec channel is checked under a real
 * systemd by scripts/check-unit-hardening.sh.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "daemon/util.h"
#include "tests/lib/harness.h"

#define SYSTEMD_ANALYZE "/usr/bin/systemd-analyze"
#define MAX_EXPOSURE 15 /* systemd-analyze's scale: 15 is the "1.5" it prints */

static char *slurp(const char *rel)
{
        _cleanup_free_ char *path = harness_top_path(rel);
        char *text = NULL;

        assert_non_null(path);
        if (read_full_file(path, &text, NULL) < 0)
                fail_msg("cannot read %s", path);
        return text;
}

/*
 * The value of key in [section] of a unit file, as systemd reads list settings: every assignment adds its
 * words, an empty one starts again. NULL if never assigned. malloc'd.
 */
static char *unit_get(const char *text, const char *section, const char *key)
{
        char cur[64] = "", *result = NULL;
        bool found = false;
        size_t klen = strlen(key);

        for (const char *p = text; *p;) {
                const char *eol = strchrnul(p, '\n');
                size_t len = (size_t)(eol - p);

                while (len > 0 && (*p == ' ' || *p == '\t'))
                        p++, len--;
                if (len > 2 && p[0] == '[' && p[len - 1] == ']')
                        snprintf(cur, sizeof(cur), "%.*s", (int)(len - 2), p + 1);
                else if (streq(cur, section) && len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
                        _cleanup_free_ char *old = result;
                        const char *v = p + klen + 1;
                        size_t vlen = len - klen - 1;

                        found = true;
                        if (vlen == 0)
                                result = strdup("");
                        else if (old && *old)
                                assert_true(asprintf(&result, "%s %.*s", old, (int)vlen, v) > 0);
                        else
                                assert_true(asprintf(&result, "%.*s", (int)vlen, v) > 0);
                        assert_non_null(result);
                }
                p = *eol ? eol + 1 : eol;
        }
        if (!found)
                return NULL;
        return result;
}

/* Whether the space-separated list holds word. */
static bool has_word(const char *list, const char *word)
{
        size_t n = strlen(word);

        for (const char *p = list; p && (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

static void expect(const char *unit, const char *section, const char *key, const char *want)
{
        _cleanup_free_ char *v = unit_get(unit, section, key);

        if (!v || !streq(v, want))
                fail_msg("shouwang.service: [%s] %s= is '%s', want '%s'", section, key, v ? v : "(not set)", want);
}

static void expect_words(const char *unit, const char *section, const char *key, const char *const *words)
{
        _cleanup_free_ char *v = unit_get(unit, section, key);

        for (; *words; words++)
                if (!has_word(v, *words))
                        fail_msg("shouwang.service: [%s] %s= is '%s', without %s", section, key, v ? v : "(not set)",
                                 *words);
}

static void test_unit_has_what_the_issue_asks_for(void **state)
{
        _cleanup_free_ char *unit = slurp("systemd/shouwang.service");
        _cleanup_free_ char *sysusers = slurp("systemd/sysusers.conf");
        _cleanup_free_ char *tmpfiles = slurp("systemd/tmpfiles.conf");

        expect(unit, "Service", "Type", "notify");
        expect(unit, "Service", "NotifyAccess", "main");
        expect(unit, "Service", "Restart", "always");
        /* In [Unit]: in [Service] systemd 252 ignores it with only a warning. */
        expect(unit, "Unit", "StartLimitIntervalSec", "0");
        /* Where make install PREFIX=/usr and the Debian package put it. */
        expect(unit, "Service", "ExecStart", "/usr/sbin/shouwangd -c /etc/shouwang/shouwang.conf");
        expect(unit, "Service", "ExecReload", "/bin/kill -HUP $MAINPID");
        expect(unit, "Service", "User", "shouwang");
        expect(unit, "Service", "StateDirectory", "shouwang");
        expect(unit, "Service", "ConfigurationDirectory", "shouwang");
        expect(unit, "Service", "DevicePolicy", "closed");
        expect(unit, "Service", "DeviceAllow", "char-gpiochip rw");
        expect_words(unit, "Service", "SupplementaryGroups", (const char *const[]){"gpio", NULL});
        expect_words(unit, "Unit", "After",
                     (const char *const[]){"mosquitto.service", "time-sync.target", "network-online.target", NULL});
        expect_words(unit, "Unit", "Wants", (const char *const[]){"mosquitto.service", NULL});

        _cleanup_free_ char *wd = unit_get(unit, "Service", "WatchdogSec");
        assert_non_null(wd);
        assert_true(atoi(wd) > 0);
        /* No hard dependency on what shouwang can run without: time-sync.target is ordering only (it must
         * start without a network), and a broker that stops or fails must not stop shouwang with it. */
        _cleanup_free_ char *wants = unit_get(unit, "Unit", "Wants");
        _cleanup_free_ char *requires = unit_get(unit, "Unit", "Requires");
        _cleanup_free_ char *binds = unit_get(unit, "Unit", "BindsTo");
        _cleanup_free_ char *requisite = unit_get(unit, "Unit", "Requisite");
        assert_false(has_word(wants, "time-sync.target"));
        static const char *const soft[] = {"mosquitto.service", "time-sync.target", "network-online.target"};
        for (size_t i = 0; i < ELEMENTSOF(soft); i++)
                if (has_word(requires, soft[i]) || has_word(binds, soft[i]) || has_word(requisite, soft[i]))
                        fail_msg("shouwang.service must not need %s (Requires=/BindsTo=/Requisite=)", soft[i]);

        /* The user and the group of the GPIO devices. */
        assert_non_null(strstr(sysusers, "\nu shouwang "));
        assert_non_null(strstr(sysusers, "\ng gpio "));
        assert_non_null(strstr(sysusers, "\nm shouwang gpio"));

        /* tmpfiles.d and the unit agree on the modes, or systemd warns at every start
         * ("ConfigurationDirectory '/etc/shouwang' already exists but the mode is different"). */
        _cleanup_free_ char *state_mode = unit_get(unit, "Service", "StateDirectoryMode");
        _cleanup_free_ char *conf_mode = unit_get(unit, "Service", "ConfigurationDirectoryMode");
        _cleanup_free_ char *state_line = NULL, *conf_line = NULL;
        assert_true(asprintf(&state_line, "\nd /var/lib/shouwang %s shouwang shouwang", state_mode ?: "0755") > 0);
        assert_true(asprintf(&conf_line, "\nd /etc/shouwang %s root shouwang", conf_mode ?: "0755") > 0);
        if (!strstr(tmpfiles, state_line))
                fail_msg("tmpfiles.conf has no line '%s' (StateDirectoryMode=%s)", state_line + 1, state_mode);
        if (!strstr(tmpfiles, conf_line))
                fail_msg("tmpfiles.conf has no line '%s' (ConfigurationDirectoryMode=%s)", conf_line + 1, conf_mode);
}

/* Rendered man pages named in Documentation=: linked into dir/man/manN/ for MANPATH. false if one is missing. */
static bool man_pages(const char *unit, const char *dir, char **ret_manpath)
{
        _cleanup_free_ char *docs = unit_get(unit, "Unit", "Documentation");
        _cleanup_free_ char *manpath = harness_path(dir, "man");
        bool all = true;

        assert_non_null(manpath);
        assert_int_equal(mkdir(manpath, 0755), 0);
        for (const char *p = docs; p && (p = strstr(p, "man:"));) {
                char name[64], sec[8], rel[96], sub[512], link[640];
                int n = 0;

                if (sscanf(p, "man:%63[^(](%7[^)])%n", name, sec, &n) != 2 || n == 0)
                        fail_msg("Documentation=: cannot read '%s'", p);
                p += n;
                snprintf(rel, sizeof(rel), "man/%s.%s", name, sec);
                _cleanup_free_ char *page = harness_build_path(rel);
                _cleanup_free_ char *source = NULL;
                assert_true(asprintf(&source, "man/%s.%s.scd", name, sec) > 0);
                _cleanup_free_ char *source_path = harness_top_path(source);
                if (access(page, R_OK) < 0) {
                        /* Not built (no scdoc): at least its source must be there. */
                        if (access(source_path, R_OK) < 0)
                                fail_msg("Documentation= names man:%s(%s), but there is neither %s nor %s", name, sec,
                                         page, source_path);
                        print_message("      %s is not built (no scdoc?): man pages not checked by verify\n", page);
                        all = false;
                        continue;
                }
                snprintf(sub, sizeof(sub), "%s/man%.1s", manpath, sec);
                (void)mkdir(sub, 0755);
                snprintf(link, sizeof(link), "%s/%s.%s", sub, name, sec);
                assert_int_equal(symlink(page, link), 0);
        }
        *ret_manpath = TAKE_PTR(manpath);
        return all;
}

static void test_systemd_analyze_verify_says_nothing(void **state)
{
        _cleanup_free_ char *dir = NULL, *unit = slurp("systemd/shouwang.service");
        _cleanup_free_ char *daemon = harness_build_path("shouwangd");
        _cleanup_free_ char *copy = NULL, *manpath = NULL, *output = NULL, *env_manpath = NULL;
        const char *shipped = "ExecStart=/usr/sbin/shouwangd ";
        char *at = strstr(unit, shipped);

        assert_int_equal(harness_tmpdir("unit-verify", &dir), 0);
        assert_non_null(at);
        assert_int_equal(access(daemon, X_OK), 0);

        /* The same unit, with ExecStart= on the built daemon: verify checks that it is executable. */
        copy = harness_path(dir, "shouwang.service");
        assert_non_null(copy);
        assert_int_equal(
            harness_write_filef(copy, "%.*sExecStart=%s %s", (int)(at - unit), unit, daemon, at + strlen(shipped)), 0);

        bool man = man_pages(unit, dir, &manpath) && access("/usr/bin/man", X_OK) == 0;
        assert_true(asprintf(&env_manpath, "MANPATH=%s", manpath) > 0);
        char *env[] = {env_manpath, "SYSTEMD_LOG_COLOR=0", NULL};
        char *argv[] = {SYSTEMD_ANALYZE, "verify", man ? "--man=yes" : "--man=no", copy, NULL};

        int r = harness_run(argv, env, 60 * USEC_PER_SEC, &output);
        print_message("      systemd-analyze verify %s (%s): exit %d\n", copy,
                      man ? "man pages too" : "without man pages", r);
        if (r != 0 || !isempty(output))
                fail_msg("systemd-analyze verify: exit %d, and said:\n%s", r, strempty(output));
}

static void cJSON_Deletep(cJSON **p)
{
        cJSON_Delete(*p);
}

struct cost {
        double exposure;
        char line[256];
};

static int by_cost(const void *a, const void *b)
{
        const struct cost *x = a, *y = b;
        return (x->exposure < y->exposure) - (x->exposure > y->exposure);
}

static void test_security_exposure_at_most_1_5(void **state)
{
        _cleanup_free_ char *unit = harness_top_path("systemd/shouwang.service");
        _cleanup_free_ char *json = NULL, *table = NULL;
        char threshold[32];
        char *env[] = {"SYSTEMD_LOG_COLOR=0", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", NULL};

        snprintf(threshold, sizeof(threshold), "--threshold=%d", MAX_EXPOSURE);
        char *argv_table[] = {SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", threshold, unit, NULL};
        char *argv_json[] = {
            SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", "--json=short", threshold, unit, NULL};

        /* The table's last line is the overall figure; the exit status is the verdict. */
        int r = harness_run(argv_table, env, 60 * USEC_PER_SEC, &table);
        const char *overall = table ? strstr(table, "Overall exposure level") : NULL;
        print_message("      %.*s\n", overall ? (int)strcspn(overall, "\n") : 4, overall ?: "none");

        /* What costs most, from the JSON form. */
        int rj = harness_run(argv_json, env, 60 * USEC_PER_SEC, &json);
        /* Warnings about the unit (test_systemd_analyze_verify_says_nothing fails on them) come first. */
        const char *start = json && json[0] == '[' ? json : json ? strstr(json, "\n[") : NULL;
        _cleanup_(cJSON_Deletep) cJSON *list = start ? cJSON_Parse(start) : NULL;
        if (!cJSON_IsArray(list))
                fail_msg("systemd-analyze security --json=short: exit %d, not JSON:\n%s", rj, strempty(json));
        struct cost costs[128];
        size_t n = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, list)
        {
                const cJSON *x = cJSON_GetObjectItemCaseSensitive(e, "exposure");
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
                const char *desc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "description"));
                double v = cJSON_IsString(x) ? atof(x->valuestring) : cJSON_IsNumber(x) ? x->valuedouble : 0;

                if (v <= 0 || n >= ELEMENTSOF(costs))
                        continue;
                costs[n].exposure = v;
                snprintf(costs[n].line, sizeof(costs[n].line), "%.1f  %-40s %s", v, strempty(name), strempty(desc));
                n++;
        }
        qsort(costs, n, sizeof(costs[0]), by_cost);
        print_message("      what costs most:\n");
        for (size_t i = 0; i < n && i < 8; i++)
                print_message("        %s\n", costs[i].line);

        if (r != 0)
                fail_msg("exposure above %d.%d (systemd-analyze security --offline=yes %s: exit %d): %.*s",
                         MAX_EXPOSURE / 10, MAX_EXPOSURE % 10, threshold, r,
                         overall ? (int)strcspn(overall, "\n") : (int)strlen(strempty(table)),
                         overall ?: strempty(table));
        assert_int_equal(rj, 0);
}

static void test_sysusers_and_tmpfiles_make_the_user_and_directories(void **state)
{
        _cleanup_free_ char *root = NULL, *out = NULL, *passwd = NULL, *group = NULL;
        char path[512];
        struct stat st;

        if (geteuid() != 0) {
                print_message("      not root: systemd-tmpfiles cannot chown, skipped\n");
                skip();
        }
        if (access("/usr/bin/systemd-sysusers", X_OK) < 0 || access("/usr/bin/systemd-tmpfiles", X_OK) < 0) {
                print_message("      systemd-sysusers or systemd-tmpfiles missing, skipped\n");
                skip();
        }
        assert_int_equal(harness_tmpdir("unit-root", &root), 0);
        /* As make install PREFIX=/usr puts them. */
        static const char *const dirs[] = {"usr", "usr/lib", "usr/lib/sysusers.d", "usr/lib/tmpfiles.d", "etc"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
                assert_int_equal(mkdir(path, 0755), 0);
        }
        _cleanup_free_ char *sysusers = slurp("systemd/sysusers.conf");
        _cleanup_free_ char *tmpfiles = slurp("systemd/tmpfiles.conf");
        snprintf(path, sizeof(path), "%s/usr/lib/sysusers.d/shouwang.conf", root);
        assert_int_equal(harness_write_file(path, sysusers), 0);
        snprintf(path, sizeof(path), "%s/usr/lib/tmpfiles.d/shouwang.conf", root);
        assert_int_equal(harness_write_file(path, tmpfiles), 0);

        _cleanup_free_ char *root_opt = NULL;
        assert_true(asprintf(&root_opt, "--root=%s", root) > 0);
        char *sysusers_argv[] = {"/usr/bin/systemd-sysusers", root_opt, NULL};
        char *tmpfiles_argv[] = {"/usr/bin/systemd-tmpfiles", "--create", root_opt, NULL};
        int r = harness_run(sysusers_argv, NULL, 30 * USEC_PER_SEC, &out);
        if (r != 0)
                fail_msg("systemd-sysusers: exit %d:\n%s", r, strempty(out));
        print_message("      %s", strempty(out));
        free(out);
        out = NULL;
        r = harness_run(tmpfiles_argv, NULL, 30 * USEC_PER_SEC, &out);
        if (r != 0 || !isempty(out))
                fail_msg("systemd-tmpfiles --create: exit %d:\n%s", r, strempty(out));

        snprintf(path, sizeof(path), "%s/etc/passwd", root);
        assert_int_equal(read_full_file(path, &passwd, NULL), 0);
        snprintf(path, sizeof(path), "%s/etc/group", root);
        assert_int_equal(read_full_file(path, &group, NULL), 0);
        unsigned uid = 0, gid = 0, gpio_gid = 0;
        const char *u = strstr(passwd, "shouwang:x:");
        assert_non_null(u);
        assert_int_equal(sscanf(u, "shouwang:x:%u:%u:", &uid, &gid), 2);
        assert_true(uid > 0 && uid < 1000);               /* a system user */
        assert_non_null(strstr(u, ":/usr/sbin/nologin")); /* no login */
        char members[256] = "";
        const char *g = strstr(group, "gpio:x:");
        assert_non_null(g);
        assert_true(sscanf(g, "gpio:x:%u:%255[^\n]", &gpio_gid, members) >= 1);
        for (char *c = members; *c; c++)
                if (*c == ',')
                        *c = ' ';
        if (!has_word(members, "shouwang"))
                fail_msg("systemd-sysusers did not put shouwang in the group gpio: '%.*s'", (int)strcspn(g, "\n"), g);

        snprintf(path, sizeof(path), "%s/var/lib/shouwang", root);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(st.st_uid, uid);
        assert_int_equal(st.st_gid, gid);
        snprintf(path, sizeof(path), "%s/etc/shouwang", root);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(st.st_gid, gid);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_unit_has_what_the_issue_asks_for),
            cmocka_unit_test(test_systemd_analyze_verify_says_nothing),
            cmocka_unit_test(test_security_exposure_at_most_1_5),
            cmocka_unit_test(test_sysusers_and_tmpfiles_make_the_user_and_directories),
        };

        if (access(SYSTEMD_ANALYZE, X_OK) < 0) {
                printf("skipped: %s is not installed (Debian: apt-get install systemd)\n", SYSTEMD_ANALYZE);
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
