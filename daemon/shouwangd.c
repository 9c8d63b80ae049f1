/* SPDX-License-Identifier: GPL-2.0-or-later */
/* shouwangd: the gateway daemon. */

#include <getopt.h>
#include <locale.h>

#include "daemon/channel.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/manager.h"
#include "daemon/util.h"

#define DEFAULT_CONFIG SHOUWANG_SYSCONFDIR "/shouwang/shouwang.conf"

static void help(void)
{
        printf("Usage: shouwangd [-c FILE] [--database FILE] [--check-config]\n"
               "\n"
               "Watch over residents who live alone: read sensors (GPIO, MQTT), apply the rules,\n"
               "and get a neighbour to the door.\n"
               "\n"
               "  -c, --config FILE    Config file (default %s)\n"
               "      --database FILE  Use this database instead of [general] database\n"
               "      --check-config   Check the config, list every problem, and exit\n"
               "                       (0: fine, 3: problems)\n"
               "  -h, --help           This help\n"
               "      --version        Print the version\n"
               "\n"
               "Signals: SIGHUP reloads the config (a broken file keeps the old settings),\n"
               "SIGTERM and SIGINT stop cleanly. See shouwangd(8) and shouwang.conf(5).\n",
               DEFAULT_CONFIG);
}

/* path NULL: the default file, which may be missing (then the daemon runs on the built-in defaults). */
static int check_config(const char *path)
{
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        if (!path && access(DEFAULT_CONFIG, F_OK) < 0 && errno == ENOENT) {
                c = config_new_default();
                if (!c)
                        return log_oom(), EXIT_ERROR;
                printf("No %s: shouwangd runs on the built-in defaults.\n", DEFAULT_CONFIG);
                config_print_summary(c, stdout);
                return EXIT_OK;
        }
        if (!path)
                path = DEFAULT_CONFIG;
        r = config_load(path, &c);

        if (r < 0) {
                config_print_errors(c, stderr);
                if (c && c->n_errors)
                        fprintf(stderr, "%s: %zu problem%s — nothing was started.\n", path, c->n_errors,
                                c->n_errors == 1 ? "" : "s");
                return r == -ENOMEM ? EXIT_ERROR : EXIT_DATA;
        }
        printf("%s: ok\n", path);
        config_print_summary(c, stdout);
        return EXIT_OK;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "database", required_argument, NULL, 'd' },
                { "check-config", no_argument, NULL, 'k' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        _cleanup_(manager_freep) Manager *m = NULL;
        const char *config = NULL, *database = NULL;
        bool check = false;
        int c, r;

        setlocale(LC_ALL, "");
        log_setup(LOG_TARGET_AUTO);
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config = optarg;
                        break;
                case 'd':
                        database = optarg;
                        break;
                case 'k':
                        check = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case 'V':
                        printf("shouwangd %s\n", SHOUWANG_VERSION);
                        return EXIT_OK;
                default:
                        fprintf(stderr, "Try shouwangd --help\n");
                        return EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "shouwangd takes no arguments ('%s'); try shouwangd --help\n", argv[optind]);
                return EXIT_USAGE;
        }
        if (check)
                return check_config(config);

        /* Before any thread exists: the signal mask the MQTT connect worker inherits. */
        r = manager_block_signals();
        if (r < 0)
                return log_error_errno(r, "Cannot block signals: %m"), EXIT_ERROR;
        r = manager_new(config, database, &m);
        if (r < 0)
                return r == -EINVAL ? EXIT_DATA : EXIT_ERROR;
        r = manager_run(m);
        if (r < 0)
                return r == -ENOENT || r == -EACCES || r == -EPROTO || r == -EBADMSG ? EXIT_DATABASE : EXIT_ERROR;
        return EXIT_OK;
}
