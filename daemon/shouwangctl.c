/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shouwangctl: the committee staff's tool. Roster import/export, listing
 * and editing residents, contacts, links and sensors, away periods.
 * Works on the same database file as the daemon (WAL lets both at once).
 *
 * Exit codes (util.h): 0 ok, 1 error, 2 usage, 3 bad input data (nothing
 * changed), 4 not found, 5 database could not be opened.
 */

#include <cjson/cJSON.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <pwd.h>
#include <time.h>

#include "daemon/alert-json.h"
#include "daemon/alerts.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/roster-csv.h"
#include "daemon/roster.h"
#include "daemon/store.h"
#include "daemon/table.h"
#include "daemon/util.h"
#include "daemon/water-report.h"
#include "rules/rules.h"
#include "sensors/health.h"
#include "sensors/source.h"

#define DEFAULT_CONFIG SHOUWANG_SYSCONFDIR "/shouwang/shouwang.conf"
#define DEFAULT_DATABASE "/var/lib/shouwang/shouwang.db"

static const char *arg_config = NULL;
static const char *arg_db = NULL;
static bool arg_json = false;
/* The config's [general] timezone once open_store() read it (it is then also TZ), else NULL. */
static char *config_timezone = NULL;

/* ---- helpers ----------------------------------------------------------------------------------------- */

static char *actor(void)
{
        const char *sudo = getenv("SUDO_USER");
        struct passwd *pw = getpwuid(getuid());
        char *a;

        if (asprintf(&a, "ctl:%s", sudo ? sudo : pw ? pw->pw_name : "?") < 0)
                return NULL;
        return a;
}

static void audit(Store *s, const char *action, const char *object, const char *detail)
{
        _cleanup_free_ char *who = actor();
        int r = store_audit(s, now_usec(CLOCK_REALTIME), who ? who : "ctl", action, object, detail);
        if (r < 0)
                log_warning("Could not write the audit trail: %s", store_error(s));
}

/* Times shown are in the daemon's zone: the config's [general] timezone, as shouwangd sets it. */
static int apply_timezone(const Config *cfg)
{
        char tz[128];

        if (!cfg->timezone)
                return 0;
        free(config_timezone);
        config_timezone = strdup(cfg->timezone);
        if (!config_timezone)
                return -ENOMEM;
        snprintf(tz, sizeof(tz), ":%s", cfg->timezone);
        if (setenv("TZ", tz, 1) < 0)
                return -errno;
        tzset();
        return 0;
}

/* The name of the zone times are shown in ("Asia/Shanghai"), or NULL if it cannot be told. */
static const char *timezone_name(void)
{
        static char buf[256];
        const char *tz = getenv("TZ"), *z;
        ssize_t n;

        if (config_timezone)
                return config_timezone;
        if (tz && *tz) {
                tz += *tz == ':';
                if ((z = strstr(tz, "zoneinfo/")))
                        tz = z + strlen("zoneinfo/");
                snprintf(buf, sizeof(buf), "%s", tz);
                return buf;
        }
        n = readlink("/etc/localtime", buf, sizeof(buf) - 1);
        if (n <= 0)
                return NULL;
        buf[n] = '\0';
        z = strstr(buf, "zoneinfo/");
        return z ? z + strlen("zoneinfo/") : NULL;
}

/* Which database: --db, else the config's [general] database, else the default. */
static int open_store(unsigned flags, Store **ret)
{
        _cleanup_(config_freep) Config *cfg = NULL;
        _cleanup_free_ char *db = NULL;
        const char *path = arg_db;
        int r;

        if (!path) {
                const char *cfgpath = arg_config;
                if (!cfgpath && access(DEFAULT_CONFIG, F_OK) == 0)
                        cfgpath = DEFAULT_CONFIG;
                if (cfgpath) {
                        r = config_load(cfgpath, &cfg);
                        if (r < 0) {
                                config_print_errors(cfg, stderr);
                                if (!cfg || config_n_errors(cfg) == 0)
                                        log_error_errno(r, "Cannot read the config %s: %m", cfgpath);
                                return EXIT_DATA;
                        }
                        db = strdup(config_database(cfg));
                        if (!db)
                                return log_oom(), EXIT_ERROR;
                        path = db;
                        r = apply_timezone(cfg);
                        if (r < 0)
                                return log_oom(), EXIT_ERROR;
                } else
                        path = DEFAULT_DATABASE;
        }
        r = store_open(path, flags, ret);
        if (r < 0) {
                log_error("%s", store_open_error());
                return EXIT_DATABASE;
        }
        return EXIT_OK;
}

static int exit_for(int r)
{
        switch (r) {
        case -ENOENT:
                return EXIT_NOTFOUND;
        case -EINVAL:
        case -EBUSY:
                return EXIT_DATA;
        default:
                return r < 0 ? EXIT_ERROR : EXIT_OK;
        }
}

static const char *fmt_time(usec_t t, char *buf, size_t size)
{
        time_t tt = (time_t)(t / USEC_PER_SEC);
        struct tm tm;

        if (!localtime_r(&tt, &tm))
                return "?";
        strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
        return buf;
}

/* Column index of a column name given as an option ("--lives-alone" or "--lives_alone"). */
static int column_for_option(const struct roster_kind_info *info, const char *opt)
{
        char name[64];
        size_t n = strlen(opt);

        if (n >= sizeof(name))
                return -ENOENT;
        for (size_t i = 0; i <= n; i++)
                name[i] = opt[i] == '-' ? '_' : opt[i];
        for (size_t i = 0; i < info->n_columns; i++)
                if (streq(name, info->columns[i].name))
                        return (int)i;
        return -ENOENT;
}

/* ---- help ------------------------------------------------------------------------------------------- */

static void help_main(FILE *f)
{
        fprintf(f,
                "Usage: shouwangctl [-c CONFIG | --db FILE] [--json] COMMAND ...\n"
                "\n"
                "Keep the shouwang roster: who lives where, who to call, which sensor is where.\n"
                "\n"
                "Roster (KIND is residents, contacts, links or sensors):\n"
                "  import KIND FILE [--dry-run]     Add or update rows from a CSV file (all or nothing)\n"
                "  export KIND [FILE] [--no-bom] [--encoding gbk]\n"
                "                                   Write KIND as CSV (to stdout without FILE)\n"
                "  KIND list [--json]               Show all rows (sensors with health and a meter's count)\n"
                "  KIND show ID [--json]            Show one row\n"
                "  KIND add --COLUMN VALUE ...      Add one row\n"
                "  KIND edit ID --COLUMN VALUE ...  Change some columns of one row\n"
                "  KIND remove ID                   Remove one row (links: RESIDENT CONTACT)\n"
                "  residents set RESIDENT KEY=VALUE ...   A resident's own rule settings (night_wandering=yes)\n"
                "  residents unset RESIDENT KEY ...       Back to the config's defaults\n"
                "  residents settings [RESIDENT]          Show them\n"
                "\n"
                "Alerts:\n"
                "  alerts [--all] [--json]          Open alerts and those resolved in the last 7 days\n"
                "  alerts show ALERT [--json]       One alert with everyone told and every delivery\n"
                "  ack ALERT --as CONTACT [--note TEXT]\n"
                "                                   Someone is going: stops escalation, tells the others\n"
                "  resolve ALERT --as WHO --note TEXT [--outcome ok|hospital|false_alarm|...]\n"
                "  test-alert RESIDENT              Send a marked test through the real chain (tier 1)\n"
                "\n"
                "Water use (did the resident use water yesterday evening?):\n"
                "  water RESIDENT [--days N] [--to DATE] [--json]\n"
                "                                   Litres per hour and per day (default: today and yesterday)\n"
                "\n"
                "Away periods (hospital, staying with family: welfare checks pause):\n"
                "  away RESIDENT --until TIME [--from TIME] [--reason TEXT]\n"
                "  away list [RESIDENT] [--json]\n"
                "  away end RESIDENT                The resident is back now\n"
                "\n"
                "Options:\n"
                "  -c, --config FILE   Config file (default %s); its [general] database and timezone are used\n"
                "      --db FILE       Database file, instead of the config's\n"
                "      --json          JSON output for list/show\n"
                "  -h, --help          This help; COMMAND --help for a command's own\n"
                "      --version       Print the version\n"
                "\n"
                "TIME is 2026-12-01, \"2026-12-01 18:00\", or relative: +3d, +12h.\n"
                "Exit status: 0 ok, 1 error, 2 usage, 3 bad input (nothing changed), 4 not found,\n"
                "5 database could not be opened. See shouwangctl(8) and docs/roster.md.\n",
                DEFAULT_CONFIG);
}

static void help_kind(FILE *f, const struct roster_kind_info *info, const char *verb)
{
        bool link = info->kind == ROSTER_LINKS;

        if (!verb || streq(verb, "list"))
                fprintf(f, "Usage: shouwangctl %s list [--json]\n", info->name);
        if (!verb || streq(verb, "show"))
                fprintf(f, "Usage: shouwangctl %s show %s [--json]\n", info->name, link ? "RESIDENT CONTACT" : "ID");
        if (!verb || streq(verb, "add"))
                fprintf(f, "Usage: shouwangctl %s add --COLUMN VALUE ...\n", info->name);
        if (!verb || streq(verb, "edit"))
                fprintf(f, "Usage: shouwangctl %s edit %s --COLUMN VALUE ...\n", info->name,
                        link ? "RESIDENT CONTACT" : "ID");
        if (!verb || streq(verb, "remove"))
                fprintf(f, "Usage: shouwangctl %s remove %s\n", info->name, link ? "RESIDENT CONTACT" : "ID");
        fprintf(f, "\nColumns of %s (also the CSV header; * = required):\n", info->name);
        for (size_t i = 0; i < info->n_columns; i++)
                fprintf(f, "  --%-14s %s %s\n", info->columns[i].name, info->columns[i].required ? "*" : " ",
                        info->columns[i].help);
}

static void help_import(FILE *f)
{
        fprintf(f, "Usage: shouwangctl import residents|contacts|links|sensors FILE [--dry-run]\n"
                   "\n"
                   "Adds new rows and updates rows whose id is already known; never removes anything\n"
                   "(use KIND remove). The file is UTF-8 (with or without BOM) or GBK as Excel saves it,\n"
                   "with one header row in English or Chinese. If any line is wrong, nothing is changed\n"
                   "and every wrong line is listed with its number. Import residents and contacts before\n"
                   "links and sensors.\n"
                   "\n"
                   "  --dry-run   Check everything and say what would change, change nothing\n");
}

static void help_export(FILE *f)
{
        fprintf(f, "Usage: shouwangctl export residents|contacts|links|sensors [FILE] [--no-bom] [--encoding gbk]\n"
                   "\n"
                   "Writes the rows as CSV with the English header, ready to edit in Excel and import again.\n"
                   "A file gets a UTF-8 byte-order mark so Excel shows Chinese correctly.\n"
                   "\n"
                   "  --no-bom         No byte-order mark\n"
                   "  --encoding gbk   Write GBK, for old Excel versions\n");
}

static void help_away(FILE *f)
{
        fprintf(f, "Usage: shouwangctl away RESIDENT --until TIME [--from TIME] [--reason TEXT]\n"
                   "       shouwangctl away list [RESIDENT] [--json]\n"
                   "       shouwangctl away end RESIDENT\n"
                   "\n"
                   "While a resident is away (hospital, staying with family), the welfare checks\n"
                   "(inactivity, morning check, door rules, water use) pause. Leak, panic, fall, smoke,\n"
                   "gas and CO alarms never pause. The period ends by itself at --until.\n"
                   "TIME: 2026-12-01, \"2026-12-01 18:00\", +3d, +12h (default --from: now).\n");
}

static void help_water(FILE *f)
{
        fprintf(f, "Usage: shouwangctl water RESIDENT [--days N] [--to DATE] [--json]\n"
                   "\n"
                   "How much water the resident's meters counted, in litres, for each hour and each day\n"
                   "(local time: the config's timezone). By default today and yesterday.\n"
                   "\n"
                   "  ?      unknown: the meter was not reporting. That is not the same as no water.\n"
                   "  12.5+  at least 12.5 litres: part of the hour (or day) is unknown.\n"
                   "  blank  not yet (later today).\n"
                   "\n"
                   "  --days N   N days (1-%d) ending with --to (default 2)\n"
                   "  --to DATE  the last day shown: 2026-11-22, today (default) or yesterday\n"
                   "  --json     for scripts; the shape is in docs/admin.md, \"Water use\"\n"
                   "\n"
                   "Exit status 4 when there is no such resident or the resident has no water meter.\n",
                WATER_REPORT_MAX_DAYS);
}

static bool wants_help(int argc, char **argv)
{
        for (int i = 0; i < argc; i++)
                if (streq(argv[i], "--help") || streq(argv[i], "-h"))
                        return true;
        return false;
}

/* ---- list / show -------------------------------------------------------------------------------------- */

struct list_ctx {
        const struct roster_kind_info *info;
        Store *store;
        Table *table;
        cJSON *array;
        usec_t now;
};

static cJSON *row_to_json(const struct roster_kind_info *info, char *const *v)
{
        cJSON *o = cJSON_CreateObject();

        if (!o)
                return NULL;
        for (size_t i = 0; i < info->n_columns; i++) {
                const char *name = info->columns[i].name;
                if (streq(name, "lives_alone"))
                        cJSON_AddBoolToObject(o, name, streq(v[i], "1"));
                else if (streq(name, "tier"))
                        cJSON_AddNumberToObject(o, name, atoi(v[i]));
                else
                        cJSON_AddStringToObject(o, name, v[i]);
        }
        return o;
}

static void add_health(struct list_ctx *c, char *const *v, cJSON *o, char *buf, size_t size)
{
        struct sensor_health h;
        int kind = sensor_kind_from_string(v[3]);
        bool wired = startswith(v[4], "gpio:") != NULL;
        char iso[ISO8601_MAX];

        buf[0] = '\0';
        if (store_sensor_health_get(c->store, v[0], &h) < 0 || kind < 0)
                return;
        sensor_health_describe(kind, wired, &h, c->now, buf, size);
        if (o) {
                static const char *const cond[] = { "ok", "never_seen", "offline", "silent", "battery_low" };
                cJSON *j = cJSON_AddObjectToObject(o, "health");
                if (j) {
                        cJSON_AddStringToObject(j, "condition", cond[sensor_condition(kind, wired, &h, c->now)]);
                        cJSON_AddStringToObject(j, "text", buf);
                        if (h.last_seen)
                                cJSON_AddStringToObject(j, "last_seen",
                                                        format_iso8601(iso, sizeof(iso), h.last_seen));
                        else
                                cJSON_AddNullToObject(j, "last_seen");
                        if (h.battery >= 0)
                                cJSON_AddNumberToObject(j, "battery", h.battery);
                        else
                                cJSON_AddNullToObject(j, "battery");
                        if (h.available >= 0)
                                cJSON_AddBoolToObject(j, "available", h.available);
                        else
                                cJSON_AddNullToObject(j, "available");
                }
        }
        sensor_health_done(&h);
}

/*
 * A GPIO water meter's count: the pulses since it was added (sensor_health.counter, kept by the daemon)
 * and the litres they make at the source's litres per pulse — "1234 pulses, 1234 L", like the dial on the
 * meter. Any other sensor: "" and, in JSON, "meter": null.
 */
static void add_meter(struct list_ctx *c, char *const *v, cJSON *o, char *buf, size_t size)
{
        struct sensor_source src = {};
        double per_pulse = 0, litres;
        int64_t pulses;

        buf[0] = '\0';
        if (streq(v[3], "water_meter") && sensor_source_parse(v[4], &src, NULL) >= 0 && src.type == SOURCE_GPIO)
                per_pulse = src.litres_per_pulse > 0 ? src.litres_per_pulse : 1; /* as gpio.c counts */
        sensor_source_done(&src);
        if (per_pulse <= 0 || store_sensor_counter_get(c->store, v[0], &pulses) < 0) {
                if (o)
                        cJSON_AddNullToObject(o, "meter");
                return;
        }
        /* To the millilitre: 3 pulses of 0.1 L are 0.3 L, not 0.30000000000000004. */
        litres = round((double)pulses * per_pulse * 1000) / 1000;
        snprintf(buf, size, "%lld %s, %.15g L", (long long)pulses, pulses == 1 ? "pulse" : "pulses", litres);
        if (o) {
                cJSON *j = cJSON_AddObjectToObject(o, "meter");
                if (j) {
                        cJSON_AddNumberToObject(j, "pulses", (double)pulses);
                        cJSON_AddNumberToObject(j, "litres_per_pulse", per_pulse);
                        cJSON_AddNumberToObject(j, "litres", litres);
                }
        }
}

/* What a sensor's row shows beyond its columns: health, and a pulse meter's count. o: JSON, or NULL. */
struct sensor_extra {
        char health[96], meter[64];
};

static void add_sensor_extra(struct list_ctx *c, char *const *v, cJSON *o, struct sensor_extra *ret)
{
        add_health(c, v, o, ret->health, sizeof(ret->health));
        add_meter(c, v, o, ret->meter, sizeof(ret->meter));
}

static int list_row(char *const *v, void *userdata)
{
        struct list_ctx *c = userdata;
        struct sensor_extra x;
        bool sensor = c->info->kind == ROSTER_SENSORS;

        if (c->array) {
                cJSON *o = row_to_json(c->info, v);
                if (!o)
                        return -ENOMEM;
                if (sensor)
                        add_sensor_extra(c, v, o, &x);
                cJSON_AddItemToArray(c->array, o);
                return 0;
        }
        const char *cells[ROSTER_MAX_COLUMNS + 2];
        size_t n = c->info->n_columns;
        for (size_t i = 0; i < n; i++)
                cells[i] = v[i];
        if (c->info->kind == ROSTER_RESIDENTS)
                cells[4] = streq(v[4], "1") ? "yes" : "no";
        if (sensor) {
                /* The meter before the health: mostly empty, it would leave trailing blanks as the last column. */
                add_sensor_extra(c, v, NULL, &x);
                cells[n++] = x.meter;
                cells[n++] = x.health;
        }
        return table_add_row(c->table, cells);
}

static int print_json(cJSON *j)
{
        _cleanup_free_ char *s = cJSON_PrintUnformatted(j);

        if (!s)
                return log_oom();
        puts(s);
        return 0;
}

static int cmd_list(Store *s, const struct roster_kind_info *info)
{
        struct list_ctx c = { .info = info, .store = s, .now = now_usec(CLOCK_REALTIME) };
        const char *headers[ROSTER_MAX_COLUMNS + 2];
        size_t n = info->n_columns;
        int r;

        for (size_t i = 0; i < n; i++)
                headers[i] = info->columns[i].name;
        if (info->kind == ROSTER_SENSORS) {
                headers[n++] = "meter";
                headers[n++] = "health";
        }

        if (arg_json) {
                c.array = cJSON_CreateArray();
                if (!c.array)
                        return log_oom(), EXIT_ERROR;
                r = store_roster_foreach(s, info->kind, list_row, &c);
                if (r >= 0)
                        r = print_json(c.array);
                cJSON_Delete(c.array);
        } else {
                c.table = table_new(n, headers);
                if (!c.table)
                        return log_oom(), EXIT_ERROR;
                r = store_roster_foreach(s, info->kind, list_row, &c);
                if (r >= 0) {
                        if (table_rows(c.table) == 0)
                                printf("No %s yet. Add them with: shouwangctl import %s FILE\n", info->name,
                                       info->name);
                        else
                                table_print(c.table, stdout);
                }
                table_free(c.table);
        }
        if (r < 0) {
                log_error("%s", store_error(s));
                return EXIT_ERROR;
        }
        return EXIT_OK;
}

static int show_away(const struct away_period *a, void *userdata)
{
        usec_t now = *(usec_t *)userdata;
        char from[32], until[32];

        printf("%-12s %s %s until %s%s%s\n", "away", a->starts_at <= now ? "now, from" : "planned, from",
               fmt_time(a->starts_at, from, sizeof(from)), fmt_time(a->ends_at, until, sizeof(until)),
               *a->reason ? ": " : "", a->reason);
        return 0;
}

static int cmd_show(Store *s, const struct roster_kind_info *info, char **key)
{
        char **v = NULL;
        int r = store_roster_get(s, info->kind, key, &v);

        if (r < 0) {
                log_error("%s", store_error(s));
                return exit_for(r);
        }
        struct list_ctx c = { .info = info, .store = s, .now = now_usec(CLOCK_REALTIME) };
        struct sensor_extra x;
        if (arg_json) {
                cJSON *o = row_to_json(info, v);
                if (o && info->kind == ROSTER_SENSORS)
                        add_sensor_extra(&c, v, o, &x);
                r = o ? print_json(o) : log_oom();
                cJSON_Delete(o);
        } else {
                for (size_t i = 0; i < info->n_columns; i++)
                        printf("%-12s %s\n", info->columns[i].name, v[i]);
                if (info->kind == ROSTER_SENSORS) {
                        add_sensor_extra(&c, v, NULL, &x);
                        if (*x.meter)
                                printf("%-12s %s\n", "meter", x.meter);
                        printf("%-12s %s\n", "health", x.health);
                }
                if (info->kind == ROSTER_RESIDENTS)
                        (void)store_away_foreach(s, v[0], c.now, show_away, &c.now);
        }
        roster_row_clear(v, info->n_columns);
        free(v);
        return r < 0 ? EXIT_ERROR : EXIT_OK;
}

/* ---- add / edit / remove ----------------------------------------------------------------------------- */

/* Parse "--column value" / "--column=value" pairs into v (owned strings). */
static int parse_column_options(const struct roster_kind_info *info, int argc, char **argv, char **v, bool *set)
{
        for (int i = 0; i < argc; i++) {
                const char *a = argv[i], *name, *eq, *value;
                char opt[64];
                int col;

                if (!(name = startswith(a, "--"))) {
                        log_error("Unexpected argument '%s' — columns are given as --COLUMN VALUE, e.g. --name 沈国强",
                                  a);
                        return -EINVAL;
                }
                eq = strchr(name, '=');
                if (eq) {
                        snprintf(opt, sizeof(opt), "%.*s", (int)(eq - name), name);
                        value = eq + 1;
                } else {
                        snprintf(opt, sizeof(opt), "%s", name);
                        if (i + 1 >= argc) {
                                log_error("--%s needs a value", opt);
                                return -EINVAL;
                        }
                        value = argv[++i];
                }
                col = column_for_option(info, opt);
                if (col < 0) {
                        log_error("%s have no column '%s'. Columns: see shouwangctl %s add --help", info->name, opt,
                                  info->name);
                        return -EINVAL;
                }
                free(v[col]);
                v[col] = strdup(value);
                if (!v[col])
                        return log_oom();
                set[col] = true;
        }
        return 0;
}

static int save_row(Store *s, const struct roster_kind_info *info, char **v, const char *action)
{
        _cleanup_free_ char *err = NULL;
        enum store_change change = STORE_UNCHANGED;
        int r;

        r = roster_row_normalise(info->kind, v, &err);
        if (r < 0) {
                log_error("%s", err ? err : "invalid value");
                return EXIT_DATA;
        }
        r = store_begin(s);
        if (r >= 0)
                r = store_roster_check(s, info->kind, v, &err);
        if (r < 0) {
                store_rollback(s);
                log_error("%s", err ? err : store_error(s));
                return exit_for(r);
        }
        r = store_roster_upsert(s, info->kind, v, &change);
        if (r >= 0) {
                _cleanup_free_ char *obj = NULL;
                if (asprintf(&obj, "%s:%s%s%s", info->singular, v[0], info->n_key > 1 ? "/" : "",
                             info->n_key > 1 ? v[1] : "") < 0)
                        obj = NULL;
                audit(s, action, obj ? obj : info->singular, NULL);
                r = store_commit(s);
        }
        if (r < 0) {
                store_rollback(s);
                log_error("%s", store_error(s));
                return exit_for(r);
        }
        printf("%s %s %s%s%s\n",
               change == STORE_CREATED   ? "Added"
               : change == STORE_UPDATED ? "Changed"
                                         : "Unchanged:",
               info->singular, v[0], info->n_key > 1 ? " – " : "", info->n_key > 1 ? v[1] : "");
        return EXIT_OK;
}

static int cmd_add(Store *s, const struct roster_kind_info *info, int argc, char **argv)
{
        char *v[ROSTER_MAX_COLUMNS] = { 0 };
        bool set[ROSTER_MAX_COLUMNS] = { 0 };
        char **existing = NULL;
        int r;

        r = parse_column_options(info, argc, argv, v, set);
        if (r < 0) {
                roster_row_clear(v, info->n_columns);
                return EXIT_USAGE;
        }
        for (size_t i = 0; i < info->n_key; i++)
                if (isempty(v[i])) {
                        log_error("--%s is required", info->columns[i].name);
                        roster_row_clear(v, info->n_columns);
                        return EXIT_USAGE;
                }
        if (store_roster_get(s, info->kind, v, &existing) >= 0) {
                log_error("%s %s already exists — use: shouwangctl %s edit %s ...", info->singular, v[0], info->name,
                          v[0]);
                roster_row_clear(existing, info->n_columns);
                free(existing);
                roster_row_clear(v, info->n_columns);
                return EXIT_DATA;
        }
        r = save_row(s, info, v, "add");
        roster_row_clear(v, info->n_columns);
        return r;
}

static int cmd_edit(Store *s, const struct roster_kind_info *info, char **key, int argc, char **argv)
{
        char *v[ROSTER_MAX_COLUMNS] = { 0 };
        bool set[ROSTER_MAX_COLUMNS] = { 0 };
        char **old = NULL;
        int r;

        r = store_roster_get(s, info->kind, key, &old);
        if (r < 0) {
                log_error("%s", store_error(s));
                return exit_for(r);
        }
        memcpy(v, old, info->n_columns * sizeof(char *));
        free(old);
        r = parse_column_options(info, argc, argv, v, set);
        if (r < 0) {
                roster_row_clear(v, info->n_columns);
                return EXIT_USAGE;
        }
        for (size_t i = 0; i < info->n_key; i++)
                if (set[i] && !streq(v[i], key[i])) {
                        log_error("The %s of a row cannot change (it is how alerts and links find it) — add a new "
                                  "one and remove the old one",
                                  info->columns[i].name);
                        roster_row_clear(v, info->n_columns);
                        return EXIT_USAGE;
                }
        bool any = false;
        for (size_t i = 0; i < info->n_columns; i++)
                any = any || set[i];
        if (!any) {
                log_error("Nothing to change — give one or more --COLUMN VALUE (see shouwangctl %s edit --help)",
                          info->name);
                roster_row_clear(v, info->n_columns);
                return EXIT_USAGE;
        }
        /* Shown values of a sensor's building came from its resident: let them follow it. */
        if (info->kind == ROSTER_SENSORS && set[1] && !set[2]) {
                free(v[2]);
                v[2] = strdup("");
        }
        r = save_row(s, info, v, "edit");
        roster_row_clear(v, info->n_columns);
        return r;
}

static int cmd_remove(Store *s, const struct roster_kind_info *info, char **key)
{
        int r = store_begin(s);

        if (r >= 0)
                r = store_roster_delete(s, info->kind, key);
        if (r >= 0) {
                _cleanup_free_ char *obj = NULL;
                if (asprintf(&obj, "%s:%s%s%s", info->singular, key[0], info->n_key > 1 ? "/" : "",
                             info->n_key > 1 ? key[1] : "") < 0)
                        obj = NULL;
                audit(s, "remove", obj ? obj : info->singular, NULL);
                r = store_commit(s);
        }
        if (r < 0) {
                store_rollback(s);
                log_error("%s", store_error(s));
                return exit_for(r);
        }
        printf("Removed %s %s%s%s\n", info->singular, key[0], info->n_key > 1 ? " – " : "",
               info->n_key > 1 ? key[1] : "");
        return EXIT_OK;
}

/* ---- a resident's own rule settings ------------------------------------------------------------------- */

static void help_settings(FILE *f)
{
        size_t n;
        const struct rules_setting_info *t = rules_settings_table(&n);

        fprintf(f, "Usage: shouwangctl residents set RESIDENT KEY=VALUE ...\n"
                   "       shouwangctl residents unset RESIDENT KEY ...\n"
                   "       shouwangctl residents settings [RESIDENT] [--json]\n"
                   "\n"
                   "A resident's own rule settings, instead of the config's [rules] defaults, e.g.\n"
                   "  shouwangctl residents set R201 night_wandering=yes wake_window=07:00-11:00\n"
                   "The running shouwangd uses them within a second. Keys (docs/rules.md):\n");
        for (size_t i = 0; i < n; i++)
                fprintf(f, "  %-28s %-14s %s\n", t[i].key, t[i].default_value, t[i].description);
}

static int print_setting(const char *resident_id, const char *key, const char *value, void *userdata)
{
        cJSON *array = userdata;

        if (array) {
                cJSON *o = cJSON_CreateObject();
                if (!o)
                        return -ENOMEM;
                cJSON_AddStringToObject(o, "resident_id", resident_id);
                cJSON_AddStringToObject(o, "key", key);
                cJSON_AddStringToObject(o, "value", value);
                cJSON_AddItemToArray(array, o);
        } else
                printf("%-8s %s = %s\n", resident_id, key, value);
        return 0;
}

static int cmd_settings(Store *s, const char *verb, int argc, char **argv)
{
        int r;

        if (streq(verb, "settings")) {
                const char *resident = NULL;
                for (int i = 0; i < argc; i++)
                        if (streq(argv[i], "--json"))
                                arg_json = true;
                        else
                                resident = argv[i];
                cJSON *array = arg_json ? cJSON_CreateArray() : NULL;
                if (arg_json && !array)
                        return log_oom(), EXIT_ERROR;
                r = store_resident_settings_foreach(s, resident, print_setting, array);
                if (r >= 0 && array)
                        r = print_json(array);
                cJSON_Delete(array);
                if (r < 0) {
                        log_error("%s", store_error(s));
                        return EXIT_ERROR;
                }
                return EXIT_OK;
        }

        if (argc < 2) {
                help_settings(stderr);
                return EXIT_USAGE;
        }
        const char *resident = argv[0];
        /* Check every setting first: all or nothing, like an import. */
        struct rules_settings scratch;
        rules_settings_default(&scratch);
        for (int i = 1; i < argc && streq(verb, "set"); i++) {
                _cleanup_free_ char *key = NULL, *err = NULL;
                const char *eq = strchr(argv[i], '=');
                if (!eq) {
                        log_error("'%s': write KEY=VALUE, e.g. night_wandering=yes", argv[i]);
                        return EXIT_USAGE;
                }
                key = strndup(argv[i], (size_t)(eq - argv[i]));
                if (!key)
                        return log_oom(), EXIT_ERROR;
                if (rules_settings_set(&scratch, key, eq + 1, &err) < 0) {
                        log_error("%s: %s", argv[i], err ? err : "not a rules setting");
                        return EXIT_DATA;
                }
        }
        r = store_begin(s);
        for (int i = 1; i < argc && r >= 0; i++) {
                _cleanup_free_ char *key = NULL;
                const char *eq = streq(verb, "set") ? strchr(argv[i], '=') : NULL;
                key = eq ? strndup(argv[i], (size_t)(eq - argv[i])) : strdup(argv[i]);
                if (!key)
                        r = -ENOMEM;
                else
                        r = store_resident_setting_set(s, resident, key, eq ? eq + 1 : NULL);
        }
        if (r >= 0) {
                audit(s, verb, resident, argc > 1 ? argv[1] : NULL);
                r = store_commit(s);
        }
        if (r < 0) {
                store_rollback(s);
                log_error("%s", store_error(s));
                return exit_for(r);
        }
        printf("%s: %s.\n", resident, streq(verb, "set") ? "own settings saved" : "back to the defaults for these");
        return EXIT_OK;
}

static int cmd_kind(const struct roster_kind_info *info, int argc, char **argv)
{
        _cleanup_(store_freep) Store *s = NULL;
        const char *verb = argc > 0 ? argv[0] : "list";
        size_t nk = info->n_key;
        int r;

        if (argc > 0 && (streq(argv[0], "--help") || streq(argv[0], "-h"))) {
                help_kind(stdout, info, NULL);
                return EXIT_OK;
        }
        if (wants_help(argc, argv)) {
                if (info->kind == ROSTER_RESIDENTS &&
                    (streq(verb, "set") || streq(verb, "unset") || streq(verb, "settings")))
                        help_settings(stdout);
                else
                        help_kind(stdout, info, verb);
                return EXIT_OK;
        }
        if (streq(verb, "--json")) {
                arg_json = true;
                verb = "list";
        }
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--json") && (streq(verb, "list") || streq(verb, "show"))) {
                        arg_json = true;
                        memmove(argv + i, argv + i + 1, (size_t)(argc - i - 1) * sizeof(char *));
                        argc--;
                        i--;
                }

        if (info->kind == ROSTER_RESIDENTS &&
            (streq(verb, "set") || streq(verb, "unset") || streq(verb, "settings"))) {
                if (wants_help(argc, argv)) {
                        help_settings(stdout);
                        return EXIT_OK;
                }
                r = open_store(0, &s);
                return r != EXIT_OK ? r : cmd_settings(s, verb, argc - 1, argv + 1);
        }
        if (!streq(verb, "list") && !streq(verb, "show") && !streq(verb, "add") && !streq(verb, "edit") &&
            !streq(verb, "remove")) {
                log_error("Unknown command '%s %s' — use list, show, add, edit or remove", info->name, verb);
                return EXIT_USAGE;
        }
        bool needs_key = streq(verb, "show") || streq(verb, "edit") || streq(verb, "remove");
        if (needs_key && (size_t)(argc - 1) < nk) {
                log_error("shouwangctl %s %s needs %s", info->name, verb,
                          nk > 1 ? "RESIDENT CONTACT" : "an ID");
                return EXIT_USAGE;
        }
        if ((streq(verb, "list") && argc > 1) || ((streq(verb, "show") || streq(verb, "remove")) &&
                                                   (size_t)(argc - 1) > nk)) {
                log_error("Too many arguments for shouwangctl %s %s", info->name, verb);
                return EXIT_USAGE;
        }

        r = open_store(0, &s);
        if (r != EXIT_OK)
                return r;

        if (streq(verb, "list"))
                return cmd_list(s, info);
        if (streq(verb, "show"))
                return cmd_show(s, info, argv + 1);
        if (streq(verb, "add"))
                return cmd_add(s, info, argc - 1, argv + 1);
        if (streq(verb, "edit"))
                return cmd_edit(s, info, argv + 1, argc - 1 - (int)nk, argv + 1 + nk);
        return cmd_remove(s, info, argv + 1);
}

/* ---- import / export --------------------------------------------------------------------------------- */

static int cmd_import(int argc, char **argv)
{
        _cleanup_(store_freep) Store *s = NULL;
        const char *kind_name = NULL, *file = NULL;
        bool dry_run = false;
        int kind, r;

        if (wants_help(argc, argv)) {
                help_import(stdout);
                return EXIT_OK;
        }
        for (int i = 0; i < argc; i++) {
                if (streq(argv[i], "--dry-run") || streq(argv[i], "-n"))
                        dry_run = true;
                else if (startswith(argv[i], "-") && !streq(argv[i], "-")) {
                        log_error("Unknown option '%s' for import (see shouwangctl import --help)", argv[i]);
                        return EXIT_USAGE;
                } else if (!kind_name)
                        kind_name = argv[i];
                else if (!file)
                        file = argv[i];
                else {
                        log_error("Too many arguments for import (see shouwangctl import --help)");
                        return EXIT_USAGE;
                }
        }
        if (!kind_name || !file) {
                help_import(stderr);
                return EXIT_USAGE;
        }
        kind = roster_kind_from_string(kind_name);
        if (kind < 0) {
                log_error("'%s' is not a roster kind — use residents, contacts, links or sensors", kind_name);
                return EXIT_USAGE;
        }
        r = open_store(STORE_OPEN_CREATE, &s);
        if (r != EXIT_OK)
                return r;

        struct roster_import_result res = { 0 };
        r = roster_import_file(s, kind, file, dry_run, &res);
        roster_import_result_print(&res, file, dry_run, stdout, stderr);
        if (r >= 0 && !dry_run) {
                char detail[128];
                snprintf(detail, sizeof(detail), "%zu created, %zu updated, %zu unchanged from %s", res.n_created,
                         res.n_updated, res.n_unchanged, file);
                audit(s, "import", roster_kind_info(kind)->name, detail);
        }
        roster_import_result_done(&res);
        if (r == -EINVAL || r == -EILSEQ || r == -EBADMSG)
                return EXIT_DATA;
        if (r == -ENOENT)
                return EXIT_NOTFOUND;
        return r < 0 ? EXIT_ERROR : EXIT_OK;
}

static int cmd_export(int argc, char **argv)
{
        _cleanup_(store_freep) Store *s = NULL;
        const char *kind_name = NULL, *file = NULL;
        unsigned flags = 0;
        bool no_bom = false, gbk = false;
        int kind, r;

        if (wants_help(argc, argv)) {
                help_export(stdout);
                return EXIT_OK;
        }
        for (int i = 0; i < argc; i++) {
                const char *enc = NULL;
                if (streq(argv[i], "--no-bom"))
                        no_bom = true;
                else if (streq(argv[i], "--encoding") && i + 1 < argc)
                        enc = argv[++i];
                else if ((enc = startswith(argv[i], "--encoding=")))
                        ;
                else if (startswith(argv[i], "-") && !streq(argv[i], "-")) {
                        log_error("Unknown option '%s' for export (see shouwangctl export --help)", argv[i]);
                        return EXIT_USAGE;
                } else if (!kind_name)
                        kind_name = argv[i];
                else if (!file)
                        file = argv[i];
                else {
                        log_error("Too many arguments for export");
                        return EXIT_USAGE;
                }
                if (enc) {
                        if (strcasecmp(enc, "gbk") == 0 || strcasecmp(enc, "gb18030") == 0)
                                gbk = true;
                        else if (strcasecmp(enc, "utf-8") != 0 && strcasecmp(enc, "utf8") != 0) {
                                log_error("--encoding takes utf-8 or gbk, not '%s'", enc);
                                return EXIT_USAGE;
                        }
                }
        }
        if (!kind_name) {
                help_export(stderr);
                return EXIT_USAGE;
        }
        kind = roster_kind_from_string(kind_name);
        if (kind < 0) {
                log_error("'%s' is not a roster kind — use residents, contacts, links or sensors", kind_name);
                return EXIT_USAGE;
        }
        r = open_store(0, &s);
        if (r != EXIT_OK)
                return r;

        /* A file for Excel gets a BOM; a pipe (stdout) is for scripts and gets none. */
        if (file && !streq(file, "-") && !no_bom)
                flags |= ROSTER_EXPORT_BOM;
        if (gbk)
                flags = (flags & ~(unsigned)ROSTER_EXPORT_BOM) | ROSTER_EXPORT_GBK;
        r = roster_export_file(s, kind, file && !streq(file, "-") ? file : NULL, flags);
        if (r < 0) {
                log_error_errno(r, "Export failed: %s", roster_export_error());
                return EXIT_ERROR;
        }
        if (file && !streq(file, "-")) {
                int64_t n = 0;
                store_roster_count(s, kind, &n);
                fprintf(stderr, "Wrote %lld %s to %s\n", (long long)n, roster_kind_info(kind)->name, file);
        }
        return EXIT_OK;
}

/* ---- away -------------------------------------------------------------------------------------------- */

struct away_ctx {
        Table *table;
        cJSON *array;
        usec_t now;
};

static int away_row(const struct away_period *a, void *userdata)
{
        struct away_ctx *c = userdata;
        char from[32], until[32], iso1[ISO8601_MAX], iso2[ISO8601_MAX], id[24];

        if (c->array) {
                cJSON *o = cJSON_CreateObject();
                if (!o)
                        return -ENOMEM;
                cJSON_AddNumberToObject(o, "id", (double)a->id);
                cJSON_AddStringToObject(o, "resident_id", a->resident_id);
                cJSON_AddStringToObject(o, "from", format_iso8601(iso1, sizeof(iso1), a->starts_at));
                cJSON_AddStringToObject(o, "until", format_iso8601(iso2, sizeof(iso2), a->ends_at));
                cJSON_AddStringToObject(o, "reason", a->reason);
                cJSON_AddBoolToObject(o, "current", a->starts_at <= c->now);
                cJSON_AddItemToArray(c->array, o);
                return 0;
        }
        snprintf(id, sizeof(id), "%lld", (long long)a->id);
        return table_add_row(c->table, (const char *[]){ id, a->resident_id, fmt_time(a->starts_at, from, sizeof(from)),
                                                        fmt_time(a->ends_at, until, sizeof(until)),
                                                        a->starts_at <= c->now ? "away now" : "planned", a->reason });
}

static int cmd_away(int argc, char **argv)
{
        _cleanup_(store_freep) Store *s = NULL;
        usec_t now = now_usec(CLOCK_REALTIME);
        int r;

        if (argc == 0 || wants_help(argc, argv)) {
                help_away(argc == 0 ? stderr : stdout);
                return argc == 0 ? EXIT_USAGE : EXIT_OK;
        }

        if (streq(argv[0], "list")) {
                const char *resident = NULL;
                for (int i = 1; i < argc; i++)
                        if (streq(argv[i], "--json"))
                                arg_json = true;
                        else if (!resident)
                                resident = argv[i];
                        else {
                                log_error("Too many arguments for away list");
                                return EXIT_USAGE;
                        }
                r = open_store(0, &s);
                if (r != EXIT_OK)
                        return r;
                struct away_ctx c = { .now = now };
                if (arg_json)
                        c.array = cJSON_CreateArray();
                else
                        c.table = table_new(6, (const char *[]){ "id", "resident_id", "from", "until", "state",
                                                                 "reason" });
                if (!c.array && !c.table)
                        return log_oom(), EXIT_ERROR;
                r = store_away_foreach(s, resident, now, away_row, &c);
                if (r >= 0 && c.array)
                        r = print_json(c.array);
                else if (r >= 0) {
                        if (table_rows(c.table) == 0)
                                printf("Nobody is away%s%s.\n", resident ? ": " : "", resident ? resident : "");
                        else
                                table_print(c.table, stdout);
                }
                cJSON_Delete(c.array);
                table_free(c.table);
                if (r < 0) {
                        log_error("%s", store_error(s));
                        return EXIT_ERROR;
                }
                return EXIT_OK;
        }

        if (streq(argv[0], "end")) {
                if (argc != 2) {
                        log_error("Usage: shouwangctl away end RESIDENT");
                        return EXIT_USAGE;
                }
                r = open_store(0, &s);
                if (r != EXIT_OK)
                        return r;
                char **v = NULL;
                r = store_roster_get(s, ROSTER_RESIDENTS, (char *[]){ argv[1] }, &v);
                if (r < 0) {
                        log_error("%s", store_error(s));
                        return exit_for(r);
                }
                roster_row_clear(v, 7);
                free(v);
                r = store_away_end(s, argv[1], now);
                if (r < 0) {
                        log_error("%s", store_error(s));
                        return EXIT_ERROR;
                }
                audit(s, "away-end", argv[1], NULL);
                if (r == 0)
                        printf("%s had no away period; nothing changed.\n", argv[1]);
                else
                        printf("%s is back: welfare checks are on again.\n", argv[1]);
                return EXIT_OK;
        }

        const char *resident = argv[0], *until = NULL, *from = NULL, *reason = "";
        for (int i = 1; i < argc; i++) {
                const char **slot = NULL, *val;
                if (streq(argv[i], "--until"))
                        slot = &until;
                else if (streq(argv[i], "--from"))
                        slot = &from;
                else if (streq(argv[i], "--reason"))
                        slot = &reason;
                else if ((val = startswith(argv[i], "--until=")))
                        until = val;
                else if ((val = startswith(argv[i], "--from=")))
                        from = val;
                else if ((val = startswith(argv[i], "--reason=")))
                        reason = val;
                else {
                        log_error("Unknown argument '%s' (see shouwangctl away --help)", argv[i]);
                        return EXIT_USAGE;
                }
                if (slot) {
                        if (i + 1 >= argc) {
                                log_error("%s needs a value", argv[i]);
                                return EXIT_USAGE;
                        }
                        *slot = argv[++i];
                }
        }
        if (!until) {
                log_error("Say when the resident is back: --until 2026-12-01 or --until +3d");
                return EXIT_USAGE;
        }
        usec_t t_from = now, t_until;
        if (from && parse_time(from, now, &t_from) < 0) {
                log_error("--from '%s' is not a time — write 2026-12-01, \"2026-12-01 18:00\" or +2h", from);
                return EXIT_USAGE;
        }
        if (parse_time(until, t_from, &t_until) < 0) {
                log_error("--until '%s' is not a time — write 2026-12-01, \"2026-12-01 18:00\" or +3d", until);
                return EXIT_USAGE;
        }
        if (t_until <= now) {
                log_error("--until '%s' is in the past", until);
                return EXIT_USAGE;
        }
        r = open_store(0, &s);
        if (r != EXIT_OK)
                return r;
        int64_t id = store_away_add(s, resident, t_from, t_until, reason);
        if (id < 0) {
                log_error("%s", store_error(s));
                return exit_for((int)id);
        }
        char a[32], b[32], detail[128];
        snprintf(detail, sizeof(detail), "%s to %s %s", fmt_time(t_from, a, sizeof(a)),
                 fmt_time(t_until, b, sizeof(b)), reason);
        audit(s, "away", resident, detail);
        printf("%s is away from %s until %s%s%s. Welfare checks pause; leak, panic, fall, smoke and gas alarms "
               "do not.\n",
               resident, a, b, *reason ? ": " : "", reason);
        return EXIT_OK;
}


/* ---- alerts ------------------------------------------------------------------------------------------ */

struct alerts_ctx {
        Store *store;
        Table *table;
        cJSON *array;
        usec_t now;
};

static const char *fmt_short(usec_t t, usec_t now, char *buf, size_t size)
{
        time_t tt = (time_t)(t / USEC_PER_SEC);
        struct tm tm;

        if (!t)
                return "";
        if (!localtime_r(&tt, &tm))
                return "?";
        strftime(buf, size, now - t < 20 * USEC_PER_HOUR ? "%H:%M" : "%m-%d %H:%M", &tm);
        return buf;
}

struct told_ctx {
        char *list;
        size_t n;
        cJSON *array;
};

static int told_row(const struct alert_contact_info *c, void *userdata)
{
        struct told_ctx *t = userdata;
        char iso[ISO8601_MAX];

        if (t->array) {
                cJSON *o = cJSON_CreateObject();
                if (!o)
                        return -ENOMEM;
                cJSON_AddStringToObject(o, "contact", c->contact_id);
                cJSON_AddStringToObject(o, "name", c->name);
                cJSON_AddStringToObject(o, "role", c->role);
                cJSON_AddNumberToObject(o, "tier", c->tier);
                cJSON_AddStringToObject(o, "reason", c->reason);
                cJSON_AddStringToObject(o, "notified_at", format_iso8601(iso, sizeof(iso), c->notified_at));
                cJSON_AddBoolToObject(o, "reached", c->reached);
                if (c->acked_at)
                        cJSON_AddStringToObject(o, "acked_at", format_iso8601(iso, sizeof(iso), c->acked_at));
                cJSON_AddItemToArray(t->array, o);
                return 0;
        }
        char *n;
        if (asprintf(&n, "%s%s%s%s", t->list ? t->list : "", t->list ? ", " : "", c->name, c->reached ? "" : "?") < 0)
                return -ENOMEM;
        free(t->list);
        t->list = n;
        t->n++;
        return 0;
}

static void format_duration(usec_t d, char *buf, size_t size)
{
        if (d < USEC_PER_MINUTE)
                snprintf(buf, size, "%llus", (unsigned long long)(d / USEC_PER_SEC));
        else if (d < USEC_PER_HOUR)
                snprintf(buf, size, "%llum", (unsigned long long)(d / USEC_PER_MINUTE));
        else
                snprintf(buf, size, "%lluh%02llum", (unsigned long long)(d / USEC_PER_HOUR),
                         (unsigned long long)(d % USEC_PER_HOUR / USEC_PER_MINUTE));
}

static int alert_row(const struct alert_info *a, void *userdata)
{
        struct alerts_ctx *c = userdata;
        struct told_ctx told = { 0 };
        char opened[32], tta[32] = "", where[160], tier[16];
        int r;

        if (c->array) {
                _cleanup_free_ char *s = alert_json(a, "");
                cJSON *o = s ? cJSON_Parse(s) : NULL;
                if (!o)
                        return -ENOMEM;
                cJSON_DeleteItemFromObject(o, "gateway");
                told.array = cJSON_AddArrayToObject(o, "told");
                r = store_alert_contacts_foreach(c->store, a->id, told_row, &told);
                if (a->acked_at)
                        cJSON_AddNumberToObject(o, "seconds_to_ack", (double)((a->acked_at - a->opened_at) / USEC_PER_SEC));
                cJSON_AddItemToArray(c->array, o);
                return r;
        }
        r = store_alert_contacts_foreach(c->store, a->id, told_row, &told);
        if (r < 0) {
                free(told.list);
                return r;
        }
        if (a->acked_at)
                format_duration(a->acked_at - a->opened_at, tta, sizeof(tta));
        if (a->resident_id)
                snprintf(where, sizeof(where), "%s %s %s", strempty(a->building_id), strempty(a->flat),
                         strempty(a->resident_name));
        else
                snprintf(where, sizeof(where), "%s (common area)", strempty(a->building_id));
        snprintf(tier, sizeof(tier), a->tier >= 4 ? "all" : "%d", a->tier);
        char id[24], state[48];
        snprintf(id, sizeof(id), "%lld", (long long)a->id);
        snprintf(state, sizeof(state), "%s%s", a->state, a->test ? " (test)" : "");
        r = table_add_row(c->table, (const char *[]){ id, state, a->severity, a->rule, where,
                                                      fmt_short(a->opened_at, c->now, opened, sizeof(opened)), tier,
                                                      told.list ? told.list : "-", strempty(a->acked_by_name), tta });
        free(told.list);
        return r;
}

static int delivery_row(const struct delivery_info *d, void *userdata)
{
        struct alerts_ctx *c = userdata;
        char created[32], sent[32], attempts[16];

        if (c->array) {
                cJSON *o = cJSON_CreateObject();
                char iso[ISO8601_MAX];
                if (!o)
                        return -ENOMEM;
                cJSON_AddNumberToObject(o, "id", (double)d->id);
                cJSON_AddStringToObject(o, "contact", d->contact_id);
                cJSON_AddStringToObject(o, "channel", d->channel);
                cJSON_AddStringToObject(o, "purpose", d->purpose);
                cJSON_AddStringToObject(o, "state", d->state);
                cJSON_AddNumberToObject(o, "attempts", d->attempts);
                cJSON_AddStringToObject(o, "created_at", format_iso8601(iso, sizeof(iso), d->created_at));
                if (d->sent_at)
                        cJSON_AddStringToObject(o, "sent_at", format_iso8601(iso, sizeof(iso), d->sent_at));
                if (d->last_error)
                        cJSON_AddStringToObject(o, "last_error", d->last_error);
                cJSON_AddItemToArray(c->array, o);
                return 0;
        }
        snprintf(attempts, sizeof(attempts), "%d", d->attempts);
        return table_add_row(c->table,
                             (const char *[]){ fmt_short(d->created_at, c->now, created, sizeof(created)),
                                               isempty(d->contact_id) ? "(alerts topic)" : d->contact_name,
                                               d->channel, d->purpose, d->state, attempts,
                                               fmt_short(d->sent_at, c->now, sent, sizeof(sent)),
                                               strempty(d->last_error) });
}

static int cmd_alerts(int argc, char **argv)
{
        _cleanup_(store_freep) Store *s = NULL;
        struct alerts_ctx c = { .now = now_usec(CLOCK_REALTIME) };
        usec_t recent = 7 * USEC_PER_DAY;
        const char *show = NULL;
        int r;

        if (wants_help(argc, argv)) {
                printf("Usage: shouwangctl alerts [--all] [--json]\n"
                       "       shouwangctl alerts show ALERT [--json]\n\n"
                       "Open alerts first, then those resolved in the last 7 days (--all: every alert).\n"
                       "Columns: who was told (a '?' after a name: nothing reached them yet), who is going, and\n"
                       "how long it took until someone said so.\n");
                return EXIT_OK;
        }
        for (int i = 0; i < argc; i++) {
                if (streq(argv[i], "--json"))
                        arg_json = true;
                else if (streq(argv[i], "--all"))
                        recent = c.now;
                else if (streq(argv[i], "show") && i + 1 < argc)
                        show = argv[++i];
                else {
                        log_error("Unknown argument '%s' (see shouwangctl alerts --help)", argv[i]);
                        return EXIT_USAGE;
                }
        }
        r = open_store(0, &s);
        if (r != EXIT_OK)
                return r;
        c.store = s;

        if (show) {
                struct alert_info a;
                int id;
                if (safe_atoi(show, &id) < 0) {
                        log_error("'%s' is not an alert number", show);
                        return EXIT_USAGE;
                }
                r = store_alert_info_get(s, id, &a);
                if (r < 0) {
                        log_error("%s", store_error(s));
                        return exit_for(r);
                }
                if (arg_json) {
                        c.array = cJSON_CreateArray();
                        r = c.array ? alert_row(&a, &c) : -ENOMEM;
                        cJSON *o = cJSON_GetArrayItem(c.array, 0);
                        cJSON *dl = o ? cJSON_AddArrayToObject(o, "deliveries") : NULL;
                        if (r >= 0 && dl) {
                                cJSON *saved = c.array;
                                c.array = dl;
                                r = store_deliveries_of_alert(s, id, delivery_row, &c);
                                c.array = saved;
                        }
                        if (r >= 0 && o)
                                r = print_json(o);
                        cJSON_Delete(c.array);
                } else {
                        char t[32];
                        printf("Alert %lld: %s %s, %s%s\n", (long long)a.id, a.severity, a.rule, a.state,
                               a.test ? " (test)" : "");
                        printf("  %s\n", strempty(a.text));
                        printf("  where: %s %s %s\n", strempty(a.building_id), strempty(a.flat), strempty(a.resident_name));
                        printf("  opened: %s", fmt_time(a.opened_at, t, sizeof(t)));
                        printf("   tier: %s\n", a.tier >= 4 ? "everyone" : (snprintf(t, sizeof(t), "%d", a.tier), t));
                        if (a.acked_by)
                                printf("  going: %s at %s\n", strempty(a.acked_by_name), fmt_time(a.acked_at, t, sizeof(t)));
                        if (a.resolved_at)
                                printf("  resolved: %s by %s (%s) %s\n", fmt_time(a.resolved_at, t, sizeof(t)),
                                       strempty(a.resolved_by), strempty(a.outcome), strempty(a.note));
                        printf("\nDeliveries:\n");
                        c.table = table_new(8, (const char *[]){ "planned", "to", "channel", "purpose", "state",
                                                                 "attempts", "sent", "last error" });
                        r = c.table ? store_deliveries_of_alert(s, id, delivery_row, &c) : -ENOMEM;
                        if (r >= 0)
                                table_print(c.table, stdout);
                        table_free(c.table);
                }
                alert_info_done(&a);
                return r < 0 ? EXIT_ERROR : EXIT_OK;
        }

        if (arg_json) {
                c.array = cJSON_CreateArray();
                if (!c.array)
                        return log_oom(), EXIT_ERROR;
                r = store_alerts_foreach(s, c.now, recent, 0, alert_row, &c);
                if (r >= 0)
                        r = print_json(c.array);
                cJSON_Delete(c.array);
        } else {
                c.table = table_new(10, (const char *[]){ "id", "state", "severity", "rule", "where", "opened", "tier",
                                                          "told", "going", "to ack" });
                if (!c.table)
                        return log_oom(), EXIT_ERROR;
                r = store_alerts_foreach(s, c.now, recent, 0, alert_row, &c);
                if (r >= 0) {
                        if (table_rows(c.table) == 0)
                                printf("No open alerts, and none in the last 7 days.\n");
                        else
                                table_print(c.table, stdout);
                }
                table_free(c.table);
        }
        if (r < 0) {
                log_error("%s", store_error(s));
                return EXIT_ERROR;
        }
        return EXIT_OK;
}

/* Options --as, --note, --outcome; returns EXIT_OK or EXIT_USAGE. */
static int parse_alert_action(int argc, char **argv, int *ret_id, const char **ret_as, const char **ret_note,
                              const char **ret_outcome)
{
        const char *id = NULL;

        for (int i = 0; i < argc; i++) {
                const char **slot = NULL;
                if (streq(argv[i], "--as"))
                        slot = ret_as;
                else if (streq(argv[i], "--note"))
                        slot = ret_note;
                else if (streq(argv[i], "--outcome") && ret_outcome)
                        slot = ret_outcome;
                else if (!startswith(argv[i], "-") && !id) {
                        id = argv[i];
                        continue;
                } else {
                        log_error("Unknown argument '%s'", argv[i]);
                        return EXIT_USAGE;
                }
                if (i + 1 >= argc) {
                        log_error("%s needs a value", argv[i]);
                        return EXIT_USAGE;
                }
                *slot = argv[++i];
        }
        if (!id || safe_atoi(id, ret_id) < 0 || *ret_id <= 0) {
                log_error("Give the alert number (see shouwangctl alerts)");
                return EXIT_USAGE;
        }
        if (!*ret_as) {
                log_error("Say who: --as CONTACT (a contact id, or your name for committee staff)");
                return EXIT_USAGE;
        }
        return EXIT_OK;
}

static int cmd_ack(int argc, char **argv)
{
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(alerts_freep) Alerts *a = NULL;
        _cleanup_free_ char *by = NULL;
        const char *as = NULL, *note = NULL;
        int id, r;

        if (wants_help(argc, argv)) {
                printf("Usage: shouwangctl ack ALERT --as CONTACT [--note TEXT]\n\n"
                       "Record that CONTACT is going to the door. Escalation stops and everyone already\n"
                       "told hears who is on the way.\n");
                return EXIT_OK;
        }
        r = parse_alert_action(argc, argv, &id, &as, &note, NULL);
        if (r != EXIT_OK)
                return r;
        r = open_store(0, &s);
        if (r != EXIT_OK)
                return r;
        r = alerts_new(s, NULL, &a);
        if (r < 0)
                return log_oom(), EXIT_ERROR;
        r = alerts_ack(a, id, as, "ctl", now_usec(CLOCK_REALTIME), &by);
        if (r == -EALREADY) {
                printf("Alert %d is already acknowledged by %s.\n", id, strempty(by));
                return EXIT_OK;
        }
        if (r < 0) {
                log_error("%s", store_error(s));
                return r == -ESTALE ? EXIT_DATA : exit_for(r);
        }
        if (note)
                audit(s, "note", "alert", note);
        printf("Alert %d: %s is going. Escalation stopped; the others are being told.\n", id, as);
        return EXIT_OK;
}

static int cmd_resolve(int argc, char **argv)
{
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(alerts_freep) Alerts *a = NULL;
        const char *as = NULL, *note = NULL, *outcome = "ok";
        int id, r;

        if (wants_help(argc, argv)) {
                printf("Usage: shouwangctl resolve ALERT --as WHO --note TEXT [--outcome OUTCOME]\n\n"
                       "Close an alert with what was found. OUTCOME: ok (default), hospital, false_alarm,\n"
                       "not_home, or any word. The note is kept in the history.\n");
                return EXIT_OK;
        }
        r = parse_alert_action(argc, argv, &id, &as, &note, &outcome);
        if (r != EXIT_OK)
                return r;
        if (!note) {
                log_error("Say what was found: --note \"…\"");
                return EXIT_USAGE;
        }
        r = open_store(0, &s);
        if (r != EXIT_OK)
                return r;
        r = alerts_new(s, NULL, &a);
        if (r < 0)
                return log_oom(), EXIT_ERROR;
        r = alerts_resolve(a, id, as, outcome, note, now_usec(CLOCK_REALTIME));
        if (r < 0) {
                log_error("%s", store_error(s));
                return r == -ESTALE ? EXIT_DATA : exit_for(r);
        }
        printf("Alert %d resolved (%s).\n", id, outcome);
        return EXIT_OK;
}

static int cmd_test_alert(int argc, char **argv)
{
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(alerts_freep) Alerts *a = NULL;
        char **v = NULL;
        _cleanup_free_ char *text = NULL;
        int64_t id;
        int r;

        if (argc != 1 || wants_help(argc, argv)) {
                printf("Usage: shouwangctl test-alert RESIDENT\n\n"
                       "Send a test alert, marked as a test, through the real chain: the resident's tier 1\n"
                       "contacts get it on their phones and can tap \"I'm going\". It does not escalate.\n"
                       "The running shouwangd sends it within a second or two.\n");
                return argc == 1 ? EXIT_OK : EXIT_USAGE;
        }
        r = open_store(0, &s);
        if (r != EXIT_OK)
                return r;
        r = store_roster_get(s, ROSTER_RESIDENTS, (char *[]){ argv[0] }, &v);
        if (r < 0) {
                log_error("%s", store_error(s));
                return exit_for(r);
        }
        if (asprintf(&text, "【测试】这是守望系统的测试消息：%s %s %s。不用上门，请点“我去看看”确认收到。", v[2], v[3],
                     v[1]) < 0)
                text = NULL;
        struct alert_request req = { .rule = "test", .severity = "warning", .resident_id = v[0],
                                     .building_id = v[2], .text_key = "test", .text = text ? text : "test",
                                     .test = true };
        r = alerts_new(s, NULL, &a);
        if (r >= 0)
                r = alerts_raise(a, &req, now_usec(CLOCK_REALTIME), &id, NULL);
        roster_row_clear(v, 7);
        free(v);
        if (r < 0) {
                log_error("%s", store_error(s));
                return EXIT_ERROR;
        }
        printf("Test alert %lld planned for %s's tier 1 contacts. Follow it with: shouwangctl alerts show %lld\n",
               (long long)id, argv[0], (long long)id);
        return EXIT_OK;
}

/* ---- water use ------------------------------------------------------------------------------------------ */

static int cmd_water(int argc, char **argv)
{
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(water_report_freep) WaterReport *w = NULL;
        _cleanup_free_ char *err = NULL;
        const char *resident = NULL, *to = NULL, *days = NULL;
        usec_t now = now_usec(CLOCK_REALTIME), last_day = now;
        int n_days = 2, r;

        if (wants_help(argc, argv)) {
                help_water(stdout);
                return EXIT_OK;
        }
        for (int i = 0; i < argc; i++) {
                const char *v;
                if (streq(argv[i], "--json"))
                        arg_json = true;
                else if ((streq(argv[i], "--days") || streq(argv[i], "--to")) && i + 1 < argc) {
                        if (streq(argv[i], "--days"))
                                days = argv[++i];
                        else
                                to = argv[++i];
                } else if ((v = startswith(argv[i], "--days=")))
                        days = v;
                else if ((v = startswith(argv[i], "--to=")))
                        to = v;
                else if (!startswith(argv[i], "-") && !resident)
                        resident = argv[i];
                else {
                        log_error("Unknown argument '%s' (see shouwangctl water --help)", argv[i]);
                        return EXIT_USAGE;
                }
        }
        if (!resident) {
                help_water(stderr);
                return EXIT_USAGE;
        }
        if (days && (safe_atoi(days, &n_days) < 0 || n_days < 1 || n_days > WATER_REPORT_MAX_DAYS)) {
                log_error("--days takes a number of days from 1 to %d, not '%s'", WATER_REPORT_MAX_DAYS, days);
                return EXIT_USAGE;
        }
        /* The store first: it sets the config's time zone, in which --to is read. */
        r = open_store(0, &s);
        if (r != EXIT_OK)
                return r;
        if (to && streq(to, "yesterday"))
                last_day = now - USEC_PER_DAY;
        else if (to && !streq(to, "today") && parse_time(to, now, &last_day) < 0) {
                log_error("--to '%s' is not a day — write 2026-11-22, today or yesterday", to);
                return EXIT_USAGE;
        }

        r = water_report_load(s, resident, last_day, (unsigned)n_days, now, &w, &err);
        if (r < 0) {
                log_error("%s", err ? err : "Cannot read the water use");
                return r == -ENOENT || r == -ENODEV ? EXIT_NOTFOUND : r == -EINVAL ? EXIT_USAGE : EXIT_ERROR;
        }
        if (arg_json) {
                cJSON *j = water_report_json(w, timezone_name());
                r = j ? print_json(j) : log_oom();
                cJSON_Delete(j);
        } else
                r = water_report_print(w, timezone_name(), stdout);
        if (r < 0)
                return log_oom(), EXIT_ERROR;
        return EXIT_OK;
}

/* ---- main -------------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "db", required_argument, NULL, 'd' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int c;

        setlocale(LC_ALL, "");
        log_setup(LOG_TARGET_STDERR);

        /* Options before the command only; the rest belong to the command. */
        while ((c = getopt_long(argc, argv, "+c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 'd':
                        arg_db = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 'h':
                        help_main(stdout);
                        return EXIT_OK;
                case 'V':
                        printf("shouwangctl %s\n", SHOUWANG_VERSION);
                        return EXIT_OK;
                default:
                        fprintf(stderr, "Try shouwangctl --help\n");
                        return EXIT_USAGE;
                }

        if (optind >= argc) {
                help_main(stderr);
                return EXIT_USAGE;
        }
        const char *cmd = argv[optind];
        int n = argc - optind - 1;
        char **args = argv + optind + 1;
        int kind;

        if (streq(cmd, "help")) {
                help_main(stdout);
                return EXIT_OK;
        }
        if (streq(cmd, "version")) {
                printf("shouwangctl %s\n", SHOUWANG_VERSION);
                return EXIT_OK;
        }
        if (streq(cmd, "import"))
                return cmd_import(n, args);
        if (streq(cmd, "export"))
                return cmd_export(n, args);
        if (streq(cmd, "away"))
                return cmd_away(n, args);
        if (streq(cmd, "alerts"))
                return cmd_alerts(n, args);
        if (streq(cmd, "ack"))
                return cmd_ack(n, args);
        if (streq(cmd, "resolve"))
                return cmd_resolve(n, args);
        if (streq(cmd, "test-alert"))
                return cmd_test_alert(n, args);
        if (streq(cmd, "water"))
                return cmd_water(n, args);
        if ((kind = roster_kind_from_string(cmd)) >= 0)
                return cmd_kind(roster_kind_info(kind), n, args);

        log_error("Unknown command '%s' — see shouwangctl --help", cmd);
        return EXIT_USAGE;
}
