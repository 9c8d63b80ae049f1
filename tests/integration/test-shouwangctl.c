/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shouwangctl as committee staff use it: the real binary on a real database.
 * Every subcommand has --help; exit codes say what happened (0 ok, 2 usage,
 * 3 bad input and nothing changed, 4 not found, 5 database); add, edit,
 * remove, away periods, import with errors and --dry-run, export round trip,
 * a water meter's pulse count.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "daemon/util.h"
#include "tests/lib/testutil.h"

static char dir[64], db[128];
static char out[65536];

_printf_(2, 3) static int ctl(bool with_db, const char *fmt, ...)
{
        char bin[256], args[2048], cmd[4096];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(args, sizeof(args), fmt, ap);
        va_end(ap);
        tu_build_path("shouwangctl", bin, sizeof(bin));
        if (with_db)
                snprintf(cmd, sizeof(cmd), "cd %s && %s --db %s %s 2>&1", dir, bin, db, args);
        else
                snprintf(cmd, sizeof(cmd), "cd %s && %s %s 2>&1", dir, bin, args);
        return tu_run(cmd, out, sizeof(out));
}

static void import_examples(void)
{
        char top[256];
        tu_top_path("examples", top, sizeof(top));
        assert_int_equal(ctl(true, "import residents %s/residents.csv", top), 0);
        assert_int_equal(ctl(true, "import contacts %s/contacts.csv", top), 0);
        assert_int_equal(ctl(true, "import links %s/links.csv", top), 0);
        assert_int_equal(ctl(true, "import sensors %s/sensors.csv", top), 0);
}

/* Write to the database as the daemon would (what shouwangctl only reads). */
static void db_exec(const char *sql)
{
        sqlite3 *h = NULL;
        char *err = NULL;

        assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK)
                fail_msg("%s: %s", sql, err);
        sqlite3_close(h);
}

static int setup(void **state)
{
        tu_mkdtemp("ctl", dir, sizeof(dir));
        snprintf(db, sizeof(db), "%s/shouwang.db", dir);
        return 0;
}

static int teardown(void **state)
{
        tu_rmdir(dir);
        return 0;
}

static void test_every_subcommand_has_help(void **state)
{
        static const char *const cmds[] = {
                "--help",          "import --help",        "export --help",        "away --help",
                "alerts --help",   "ack --help",           "resolve --help",       "test-alert --help",
                "residents --help", "contacts --help",     "links --help",         "sensors --help",
                "residents add --help", "residents edit --help", "links remove --help", "sensors list --help",
                "water --help",    "residents settings --help",
        };
        for (size_t i = 0; i < ELEMENTSOF(cmds); i++) {
                int r = ctl(false, "%s", cmds[i]);
                if (r != 0 || !strstr(out, "Usage: shouwangctl"))
                        fail_msg("'%s' → %d: %s", cmds[i], r, out);
        }
        assert_int_equal(ctl(false, "--version"), 0);
        assert_non_null(strstr(out, "shouwangctl "));
        assert_int_equal(ctl(false, "frobnicate"), 2);
        assert_non_null(strstr(out, "Unknown command 'frobnicate'"));
        assert_int_equal(ctl(false, "%s", ""), 2);
}

static void test_missing_database_is_exit_5_with_the_fix(void **state)
{
        assert_int_equal(ctl(false, "--db %s/nope.db residents list", dir), 5);
        assert_non_null(strstr(out, "does not exist"));
}

static void test_import_list_show_and_json(void **state)
{
        import_examples();
        assert_int_equal(ctl(true, "residents list"), 0);
        assert_non_null(strstr(out, "R201  沈国强"));
        assert_int_equal(ctl(true, "residents list --json"), 0);
        assert_non_null(strstr(out, "\"id\":\"R201\",\"name\":\"沈国强\""));
        assert_non_null(strstr(out, "\"lives_alone\":true"));
        assert_int_equal(ctl(true, "links list --json"), 0);
        assert_non_null(strstr(out, "\"tier\":1"));
        assert_int_equal(ctl(true, "sensors show S201-leak"), 0);
        assert_non_null(strstr(out, "health"));
        assert_non_null(strstr(out, "never seen"));
        assert_int_equal(ctl(true, "residents show R999"), 4);
        assert_non_null(strstr(out, "There is no resident R999"));
}

static void test_a_water_meter_shows_its_pulses_and_litres(void **state)
{
        import_examples();
        assert_int_equal(ctl(true, "sensors add --id S301-water --resident_id R301 --kind water_meter "
                                   "--source gpio:gpiochip0:5:litres=0.1"),
                         0);
        /* The daemon's count since each meter was added: S201-water counts a litre a pulse (examples). */
        db_exec("INSERT INTO sensor_health (sensor_num, counter, updated_at) "
                "SELECT num, 1234, 0 FROM sensors WHERE id = 'S201-water';"
                "INSERT INTO sensor_health (sensor_num, counter, updated_at) "
                "SELECT num, 3, 0 FROM sensors WHERE id = 'S301-water';");

        assert_int_equal(ctl(true, "sensors list"), 0);
        assert_non_null(strstr(out, "meter"));
        assert_non_null(strstr(out, "1234 pulses, 1234 L"));
        assert_non_null(strstr(out, "3 pulses, 0.3 L"));
        assert_int_equal(ctl(true, "sensors show S201-water"), 0);
        assert_non_null(strstr(out, "\nmeter        1234 pulses, 1234 L\n"));
        assert_int_equal(ctl(true, "sensors show S301-water --json"), 0);
        assert_non_null(strstr(out, "\"meter\":{\"pulses\":3,\"litres_per_pulse\":0.1,\"litres\":0.3}"));
        assert_int_equal(ctl(true, "sensors list --json"), 0);
        assert_non_null(strstr(out, "\"meter\":{\"pulses\":1234,\"litres_per_pulse\":1,\"litres\":1234}"));

        /* Not a pulse meter: nothing to count. */
        assert_int_equal(ctl(true, "sensors show S201-leak --json"), 0);
        assert_non_null(strstr(out, "\"meter\":null"));
        assert_int_equal(ctl(true, "sensors show S201-leak"), 0);
        assert_null(strstr(out, "meter"));
}

static void test_add_edit_remove_a_resident(void **state)
{
        import_examples();
        assert_int_equal(ctl(true, "residents add --id R401 --name 赵老师 --building B17 --flat 401 --lives-alone 是"),
                         0);
        assert_non_null(strstr(out, "Added resident R401"));
        assert_int_equal(ctl(true, "residents add --id R401 --name x --building B17 --flat 1 --lives_alone 1"), 3);
        assert_non_null(strstr(out, "already exists"));
        assert_int_equal(ctl(true, "residents add --id R402 --name x --building B17 --flat 1 --lives_alone maybe"), 3);
        assert_non_null(strstr(out, "lives_alone: 'maybe' is not yes or no"));
        assert_int_equal(ctl(true, "residents add --id R402 --shoe-size 42"), 2);

        assert_int_equal(ctl(true, "residents edit R401 --flat 402 --phone 13900000401"), 0);
        assert_non_null(strstr(out, "Changed resident R401"));
        assert_int_equal(ctl(true, "residents show R401"), 0);
        assert_non_null(strstr(out, "402"));
        assert_int_equal(ctl(true, "residents edit R401 --id R999"), 2);
        assert_int_equal(ctl(true, "residents edit R401"), 2);
        assert_int_equal(ctl(true, "residents edit R404 --flat 1"), 4);

        /* A resident with sensors is not removed silently. */
        assert_int_equal(ctl(true, "residents remove R201"), 3);
        assert_non_null(strstr(out, "still has sensors"));
        assert_int_equal(ctl(true, "residents remove R401"), 0);
        assert_int_equal(ctl(true, "residents remove R401"), 4);

        assert_int_equal(ctl(true, "links edit R201 C7 --tier 3"), 0);
        assert_int_equal(ctl(true, "links remove R201 C7"), 0);
        assert_int_equal(ctl(true, "links remove R201 C7"), 4);
}

static void test_a_residents_own_rule_settings(void **state)
{
        import_examples();
        assert_int_equal(ctl(true, "residents set R201 night_wandering=yes wake_window=07:00-11:00"), 0);
        assert_int_equal(ctl(true, "residents settings R201"), 0);
        assert_non_null(strstr(out, "night_wandering = yes"));
        assert_non_null(strstr(out, "wake_window = 07:00-11:00"));
        /* A typo or a bad value changes nothing. */
        assert_int_equal(ctl(true, "residents set R201 night_wandring=yes"), 3);
        assert_non_null(strstr(out, "did you mean \"night_wandering\""));
        assert_int_equal(ctl(true, "residents set R201 wake_window=late"), 3);
        assert_int_equal(ctl(true, "residents set R201 nokey"), 2);
        assert_int_equal(ctl(true, "residents set R999 night_wandering=yes"), 4);
        assert_int_equal(ctl(true, "residents unset R201 wake_window"), 0);
        assert_int_equal(ctl(true, "residents settings --json"), 0);
        assert_string_equal(out, "[{\"resident_id\":\"R201\",\"key\":\"night_wandering\",\"value\":\"yes\"}]\n");
        assert_int_equal(ctl(true, "residents unset R201 wake_window"), 4);
}

static void test_away_period_for_the_hospital(void **state)
{
        import_examples();
        assert_int_equal(ctl(true, "away R201 --until +3d --reason 住院"), 0);
        assert_non_null(strstr(out, "R201 is away"));
        assert_int_equal(ctl(true, "away list"), 0);
        assert_non_null(strstr(out, "away now"));
        assert_non_null(strstr(out, "住院"));
        assert_int_equal(ctl(true, "away list --json"), 0);
        assert_non_null(strstr(out, "\"current\":true"));
        assert_int_equal(ctl(true, "away R201 --until yesterday"), 2);
        assert_int_equal(ctl(true, "away R201"), 2);
        assert_int_equal(ctl(true, "away R999 --until +1d"), 4);
        assert_int_equal(ctl(true, "away end R201"), 0);
        assert_int_equal(ctl(true, "away list R201"), 0);
        assert_non_null(strstr(out, "Nobody is away"));
}

static void test_bad_file_changes_nothing_and_names_every_line(void **state)
{
        char path[160];

        import_examples();
        snprintf(path, sizeof(path), "%s/bad.csv", dir);
        tu_write_file(path, "id,name,building,flat,lives_alone,phone,notes\r\n"
                            "R501,钱,B17,501,是,,\r\n"
                            "R502,,B17,502,否,,\r\n"
                            "R503,孙,B17,503,也许,,\r\n");
        assert_int_equal(ctl(true, "import residents %s", path), 3);
        assert_non_null(strstr(out, "bad.csv:3"));
        assert_non_null(strstr(out, "bad.csv:4"));
        assert_int_equal(ctl(true, "residents show R501"), 4);

        assert_int_equal(ctl(true, "import residents %s/missing.csv", dir), 4);
        assert_int_equal(ctl(true, "import people %s", path), 2);

        tu_write_file(path, "id,name,building,flat,lives_alone,phone,notes\nR501,钱,B17,501,是,,\n");
        assert_int_equal(ctl(true, "import residents %s --dry-run", path), 0);
        assert_int_equal(ctl(true, "residents show R501"), 4);
        assert_int_equal(ctl(true, "import residents %s", path), 0);
        assert_int_equal(ctl(true, "residents show R501"), 0);
}

static void test_export_round_trips_for_excel(void **state)
{
        char a[160], b[160], cmd[512];

        import_examples();
        snprintf(a, sizeof(a), "%s/a.csv", dir);
        snprintf(b, sizeof(b), "%s/b.csv", dir);
        assert_int_equal(ctl(true, "export residents %s", a), 0);
        /* A file for Excel starts with the UTF-8 byte-order mark. */
        char *data = NULL;
        assert_int_equal(read_full_file(a, &data, NULL), 0);
        assert_true(startswith(data, "\xef\xbb\xbf"));
        free(data);
        assert_int_equal(ctl(true, "import residents %s", a), 0);
        assert_non_null(strstr(out, "3 unchanged"));
        assert_int_equal(ctl(true, "export residents %s", b), 0);
        snprintf(cmd, sizeof(cmd), "cmp -s %s %s", a, b);
        assert_int_equal(system(cmd), 0);
        /* To stdout, for scripts: no BOM. */
        assert_int_equal(ctl(true, "export contacts"), 0);
        assert_true(startswith(out, "id,name,phone,role,notify"));
        assert_int_equal(ctl(true, "export residents %s --encoding latin1", a), 2);
}

static void test_alert_commands_on_an_empty_history(void **state)
{
        import_examples();
        assert_int_equal(ctl(true, "alerts"), 0);
        assert_non_null(strstr(out, "No open alerts"));
        assert_int_equal(ctl(true, "alerts --json"), 0);
        assert_string_equal(out, "[]\n");
        assert_int_equal(ctl(true, "ack 7 --as C1"), 4);
        assert_int_equal(ctl(true, "ack 7"), 2);
        assert_int_equal(ctl(true, "resolve 7 --as C1"), 2);
        assert_int_equal(ctl(true, "test-alert R201"), 0);
        assert_int_equal(ctl(true, "alerts"), 0);
        assert_non_null(strstr(out, "open (test)"));
        assert_int_equal(ctl(true, "ack 1 --as C1"), 0);
        assert_int_equal(ctl(true, "ack 1 --as C2"), 0);
        assert_non_null(strstr(out, "already acknowledged by C1"));
        assert_int_equal(ctl(true, "resolve 1 --as 徐静 --note 测试收到"), 0);
        assert_int_equal(ctl(true, "resolve 1 --as 徐静 --note again"), 3);
        assert_int_equal(ctl(true, "alerts show 1"), 0);
        assert_non_null(strstr(out, "Deliveries:"));
        assert_int_equal(ctl(true, "test-alert R999"), 4);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_every_subcommand_has_help, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_database_is_exit_5_with_the_fix, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_list_show_and_json, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_water_meter_shows_its_pulses_and_litres, setup, teardown),
                cmocka_unit_test_setup_teardown(test_add_edit_remove_a_resident, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_residents_own_rule_settings, setup, teardown),
                cmocka_unit_test_setup_teardown(test_away_period_for_the_hospital, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_file_changes_nothing_and_names_every_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_round_trips_for_excel, setup, teardown),
                cmocka_unit_test_setup_teardown(test_alert_commands_on_an_empty_history, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
