/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gpiosim: drive the emulated GPIO chips of tests/lib/gpiosim.h from a
 * shell (the demo, or a person poking at the daemon). A thin wrapper: every
 * command is one call of the C API.
 */
#include <getopt.h>
#include <limits.h>

#include "daemon/util.h"
#include "tests/lib/gpiosim.h"

static const char *arg_dir;

static void help(FILE *f)
{
        fputs("Usage: gpiosim [--dir DIR] COMMAND [ARGS...]\n"
              "\n"
              "Drive emulated GPIO chips. Programs started with\n"
              "  LD_PRELOAD=$BUILD/tests/preload/libgpiosim.so GPIOSIM_DIR=DIR\n"
              "(or through 'gpiosim run') see them as /dev/gpiochipN through the real libgpiod;\n"
              "see docs/testing-gpio.md. Levels are physical pin levels: a program that\n"
              "requests a line active-low sees them inverted, as with the kernel.\n"
              "\n"
              "Options:\n"
              "  -d, --dir DIR      the simulation directory (default: $GPIOSIM_DIR)\n"
              "  -h, --help         show this help\n"
              "\n"
              "Commands:\n"
              "  init               create DIR as a new simulation without chips\n"
              "  add-chip NAME [--label L] [--lines N] [--line-name OFFSET=NAME]...\n"
              "                     add chip NAME (gpiochipN) with N lines (default 54) and\n"
              "                     label L (default pinctrl-bcm2711); creates DIR if needed\n"
              "  remove-chip NAME   remove a chip: its users get ENODEV\n"
              "  name CHIP OFFSET NAME\n"
              "                     name a line\n"
              "  set CHIP OFFSET 0|1\n"
              "                     put a level on a line (an edge event if it changes)\n"
              "  get CHIP OFFSET    print a line's level and who requested it\n"
              "  toggle CHIP OFFSET [--count N] [--spacing-ms MS]\n"
              "                     flip the line N times (default 1), MS apart (default 10)\n"
              "  pulse CHIP OFFSET [--count N] [--period-ms MS]\n"
              "                     N pulses (default 1) away from the idle level and back, one\n"
              "                     per MS (default 100): a water meter, a button\n"
              "  bounce CHIP OFFSET 0|1 [--bounces N] [--spacing-ms MS]\n"
              "                     contact bounce: N flips (default 5) MS apart (default 1),\n"
              "                     then settle at the level\n"
              "  burst CHIP OFFSET [--count N]\n"
              "                     N flips (default 40) faster than any reader: the 16-event\n"
              "                     queue overflows; prints how many events were dropped\n"
              "  wait-requested CHIP OFFSET [--timeout-ms MS] [--released]\n"
              "                     wait until a program requests the line (or releases it)\n"
              "  show [--all]       list the chips and their lines that are not idle (or all)\n"
              "  env [--sanitized]  print export lines for a shell: eval \"$(gpiosim env)\"\n"
              "  run [--sanitized] -- PROGRAM [ARGS...]\n"
              "                     run PROGRAM with the preload library and GPIOSIM_DIR\n"
              "  destroy            remove every chip and DIR itself\n"
              "\n"
              "--sanitized: PROGRAM is built with -fsanitize=address like this tool, so the\n"
              "sanitizer runtime is preloaded first.\n"
              "\n"
              "Examples:\n"
              "  gpiosim --dir /tmp/sim add-chip gpiochip0 --label pinctrl-bcm2711 --lines 54\n"
              "  gpiosim --dir /tmp/sim run -- gpiodetect\n"
              "  gpiosim --dir /tmp/sim set gpiochip0 17 1\n"
              "  gpiosim --dir /tmp/sim pulse gpiochip0 27 --count 100 --period-ms 5\n"
              "  gpiosim --dir /tmp/sim remove-chip gpiochip0\n",
              f);
}

static int fail(int r, const char *what)
{
        fprintf(stderr, "gpiosim: %s: %s\n", what, strerror(-r));
        return EXIT_FAILURE;
}

static int usage(const char *msg)
{
        fprintf(stderr, "gpiosim: %s (see gpiosim --help)\n", msg);
        return 2;
}

static int parse_uint(const char *s, unsigned *ret)
{
        char *end;
        unsigned long v;

        if (isempty(s) || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > UINT_MAX)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static int parse_level(const char *s, int *ret)
{
        if (streq(s, "0") || streq(s, "low") || streq(s, "inactive"))
                *ret = 0;
        else if (streq(s, "1") || streq(s, "high") || streq(s, "active"))
                *ret = 1;
        else
                return -EINVAL;
        return 0;
}

static int open_sim(GpioSim **ret)
{
        int r;

        if (isempty(arg_dir)) {
                fprintf(stderr, "gpiosim: no simulation directory: use --dir DIR or set $%s\n",
                        GPIOSIM_DIR_ENV);
                return -EINVAL;
        }
        r = gpiosim_open(arg_dir, ret);
        if (r == -ENOENT)
                fprintf(stderr, "gpiosim: %s holds no simulation; create one with 'gpiosim --dir %s init'\n",
                        arg_dir, arg_dir);
        else if (r < 0)
                fprintf(stderr, "gpiosim: cannot open the simulation in %s: %s\n", arg_dir, strerror(-r));
        return r;
}

DEFINE_FREE_FUNC(GpioSim, gpiosim_free);

/* Options of a subcommand: argv[0] is the command. */
struct opts {
        unsigned count, lines, bounces, timeout_ms;
        uint64_t ms;
        bool has_count, has_ms, all, released, sanitized;
        const char *label;
        const char *line_names[GPIOSIM_MAX_LINES];
        size_t n_line_names;
};

enum {
        OPT_LABEL = 256,
        OPT_LINES,
        OPT_LINE_NAME,
        OPT_COUNT,
        OPT_MS,
        OPT_BOUNCES,
        OPT_TIMEOUT,
        OPT_RELEASED,
        OPT_ALL,
        OPT_SANITIZED,
};

static int parse_opts(int argc, char **argv, struct opts *o, int *ret_optind)
{
        static const struct option options[] = {
                { "label", required_argument, NULL, OPT_LABEL },
                { "lines", required_argument, NULL, OPT_LINES },
                { "line-name", required_argument, NULL, OPT_LINE_NAME },
                { "count", required_argument, NULL, OPT_COUNT },
                { "spacing-ms", required_argument, NULL, OPT_MS },
                { "period-ms", required_argument, NULL, OPT_MS },
                { "bounces", required_argument, NULL, OPT_BOUNCES },
                { "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
                { "released", no_argument, NULL, OPT_RELEASED },
                { "all", no_argument, NULL, OPT_ALL },
                { "sanitized", no_argument, NULL, OPT_SANITIZED },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        unsigned v;
        int c;

        optind = 0; /* glibc: start over on this argv; options may follow the arguments, up to "--" */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                if (c == 'h') {
                        help(stdout);
                        exit(EXIT_SUCCESS);
                }
                if (c == '?')
                        return -EINVAL;
                if (c == OPT_RELEASED)
                        o->released = true;
                else if (c == OPT_ALL)
                        o->all = true;
                else if (c == OPT_SANITIZED)
                        o->sanitized = true;
                else if (c == OPT_LABEL)
                        o->label = optarg;
                else if (c == OPT_LINE_NAME) {
                        if (o->n_line_names >= ELEMENTSOF(o->line_names))
                                return -E2BIG;
                        o->line_names[o->n_line_names++] = optarg;
                } else {
                        if (parse_uint(optarg, &v) < 0) {
                                fprintf(stderr, "gpiosim: %s: not a number: %s\n", argv[optind - 1], optarg);
                                return -EINVAL;
                        }
                        if (c == OPT_LINES)
                                o->lines = v;
                        else if (c == OPT_COUNT) {
                                o->count = v;
                                o->has_count = true;
                        } else if (c == OPT_MS) {
                                o->ms = v;
                                o->has_ms = true;
                        } else if (c == OPT_BOUNCES)
                                o->bounces = v;
                        else if (c == OPT_TIMEOUT)
                                o->timeout_ms = v;
                }
        }
        *ret_optind = optind;
        return 0;
}

/* CHIP OFFSET at args[0], args[1]. */
static int chip_offset(char **args, int n, unsigned *ret_offset)
{
        if (n < 2)
                return usage("expected CHIP OFFSET");
        if (parse_uint(args[1], ret_offset) < 0)
                return usage("OFFSET must be a number");
        return 0;
}

static int cmd_init(void)
{
        GpioSim *s = NULL;
        int r;

        if (isempty(arg_dir))
                return usage("init needs --dir DIR");
        r = gpiosim_new(arg_dir, &s);
        if (r < 0)
                return fail(r, arg_dir);
        printf("%s\n", gpiosim_dir(s));
        gpiosim_free(s);
        return 0;
}

static int cmd_add_chip(struct opts *o, char **args, int n)
{
        _cleanup_(gpiosim_freep) GpioSim *s = NULL;
        int r;

        if (n != 1)
                return usage("add-chip takes one NAME");
        if (isempty(arg_dir))
                return usage("no simulation directory: use --dir DIR or set $GPIOSIM_DIR");
        r = gpiosim_new(arg_dir, &s);
        if (r == -EEXIST)
                r = gpiosim_open(arg_dir, &s);
        if (r < 0)
                return fail(r, arg_dir);
        r = gpiosim_chip_add(s, args[0], o->label ? o->label : "pinctrl-bcm2711", o->lines ? o->lines : 54);
        if (r == -EINVAL)
                return usage("NAME must be gpiochipN, the label under 32 characters, 1 to 128 lines");
        if (r < 0)
                return fail(r, args[0]);
        for (size_t i = 0; i < o->n_line_names; i++) {
                _cleanup_free_ char *x = strdup(o->line_names[i]);
                char *eq = x ? strchr(x, '=') : NULL;
                unsigned off;

                if (!eq)
                        return usage("--line-name takes OFFSET=NAME");
                *eq = 0;
                if (parse_uint(x, &off) < 0)
                        return usage("--line-name takes OFFSET=NAME");
                r = gpiosim_line_set_name(s, args[0], off, eq + 1);
                if (r < 0)
                        return fail(r, o->line_names[i]);
        }
        return 0;
}

static int cmd_show(struct opts *o)
{
        _cleanup_(gpiosim_freep) GpioSim *s = NULL;

        if (open_sim(&s) < 0)
                return EXIT_FAILURE;
        gpiosim_dump(s, stdout, o->all);
        return 0;
}

static int cmd_get(char **args, int n)
{
        _cleanup_(gpiosim_freep) GpioSim *s = NULL;
        struct gpiosim_line_status st;
        unsigned off;
        int r;

        if (n != 2)
                return usage("get takes CHIP OFFSET");
        r = chip_offset(args, n, &off);
        if (r)
                return r;
        if (open_sim(&s) < 0)
                return EXIT_FAILURE;
        r = gpiosim_line_get(s, args[0], off, &st);
        if (r < 0)
                return fail(r, args[0]);
        printf("%d", st.level);
        if (st.requested)
                printf(" requested by \"%s\" (pid %d)%s%s", st.consumer, st.pid,
                       st.active_low ? " active-low" : "", st.events ? " for events" : "");
        else
                printf(" free");
        printf(" %s\n", st.output ? "output" : "input");
        return 0;
}

static int cmd_line(const char *cmd, struct opts *o, char **args, int n)
{
        _cleanup_(gpiosim_freep) GpioSim *s = NULL;
        unsigned off;
        int r, level = 0;

        r = chip_offset(args, n, &off);
        if (r)
                return r;
        if (streq(cmd, "set") || streq(cmd, "bounce") || streq(cmd, "name")) {
                if (n != 3)
                        return usage(streq(cmd, "name") ? "name takes CHIP OFFSET NAME"
                                                        : "expected CHIP OFFSET LEVEL");
                if (!streq(cmd, "name") && parse_level(args[2], &level) < 0)
                        return usage("LEVEL is 0 or 1");
        } else if (n != 2)
                return usage("expected CHIP OFFSET");
        if (open_sim(&s) < 0)
                return EXIT_FAILURE;

        if (streq(cmd, "set"))
                r = gpiosim_line_set(s, args[0], off, level);
        else if (streq(cmd, "name"))
                r = gpiosim_line_set_name(s, args[0], off, args[2]);
        else if (streq(cmd, "toggle"))
                r = gpiosim_line_toggle(s, args[0], off, o->has_count ? o->count : 1,
                                        (o->has_ms ? o->ms : 10) * 1000);
        else if (streq(cmd, "pulse"))
                r = gpiosim_line_pulse(s, args[0], off, o->has_count ? o->count : 1,
                                       (o->has_ms ? o->ms : 100) * 1000);
        else if (streq(cmd, "bounce"))
                r = gpiosim_line_bounce(s, args[0], off, level, o->bounces ? o->bounces : 5,
                                        (o->has_ms ? o->ms : 1) * 1000);
        else if (streq(cmd, "burst")) {
                r = gpiosim_line_burst(s, args[0], off, o->has_count ? o->count : 40);
                if (r >= 0) {
                        printf("%d events dropped\n", r);
                        r = 0;
                }
        } else {
                bool released = o->released;
                r = gpiosim_wait_requested(s, args[0], off, !released,
                                           (uint64_t)(o->timeout_ms ? o->timeout_ms : 10000) * 1000);
                if (r == -ETIMEDOUT) {
                        fprintf(stderr, "gpiosim: %s line %u was not %s in time\n", args[0], off,
                                released ? "released" : "requested");
                        return EXIT_FAILURE;
                }
        }
        if (r == -EINVAL)
                fprintf(stderr, "gpiosim: %s has no line %s\n", args[0], args[1]);
        return r < 0 ? fail(r, args[0]) : 0;
}

static int cmd_env(struct opts *o, char **args, int n)
{
        _cleanup_(gpiosim_freep) GpioSim *s = NULL;
        int r;

        if (open_sim(&s) < 0)
                return EXIT_FAILURE;
        r = gpiosim_setenv(s, o->sanitized);
        if (r < 0)
                return fail(r, "cannot find the preload library (build it with make tests)");
        if (n > 0) {
                /* run: exec the program with that environment. */
                execvp(args[0], args);
                fprintf(stderr, "gpiosim: %s: %s\n", args[0], strerror(errno));
                return 127;
        }
        printf("export LD_PRELOAD='%s'\nexport %s='%s'\n", getenv("LD_PRELOAD"), GPIOSIM_DIR_ENV,
               getenv(GPIOSIM_DIR_ENV));
        return 0;
}

static int cmd_destroy(void)
{
        GpioSim *s = NULL;
        int r;

        if (open_sim(&s) < 0)
                return EXIT_FAILURE;
        r = gpiosim_destroy(s);
        return r < 0 ? fail(r, arg_dir) : 0;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "dir", required_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct opts o = {};
        const char *cmd;
        char **args;
        int c, n, k;

        arg_dir = getenv(GPIOSIM_DIR_ENV);
        while ((c = getopt_long(argc, argv, "+d:h", options, NULL)) >= 0) {
                if (c == 'd')
                        arg_dir = optarg;
                else if (c == 'h') {
                        help(stdout);
                        return 0;
                } else
                        return usage("unknown option");
        }
        if (optind >= argc) {
                help(stderr);
                return 2;
        }
        cmd = argv[optind];
        argc -= optind;
        argv += optind;
        if (parse_opts(argc, argv, &o, &k) < 0)
                return usage("bad option");
        args = argv + k;
        n = argc - k;

        if (streq(cmd, "init"))
                return n == 0 ? cmd_init() : usage("init takes no arguments");
        if (streq(cmd, "add-chip"))
                return cmd_add_chip(&o, args, n);
        if (streq(cmd, "remove-chip")) {
                _cleanup_(gpiosim_freep) GpioSim *s = NULL;
                int r;

                if (n != 1)
                        return usage("remove-chip takes one NAME");
                if (open_sim(&s) < 0)
                        return EXIT_FAILURE;
                r = gpiosim_chip_remove(s, args[0]);
                return r < 0 ? fail(r, args[0]) : 0;
        }
        if (streq(cmd, "show"))
                return n == 0 ? cmd_show(&o) : usage("show takes no arguments");
        if (streq(cmd, "get"))
                return cmd_get(args, n);
        if (streq(cmd, "set") || streq(cmd, "name") || streq(cmd, "toggle") || streq(cmd, "pulse") ||
            streq(cmd, "bounce") || streq(cmd, "burst") || streq(cmd, "wait-requested"))
                return cmd_line(cmd, &o, args, n);
        if (streq(cmd, "env"))
                return n == 0 ? cmd_env(&o, NULL, 0) : usage("env takes no arguments");
        if (streq(cmd, "run"))
                return n > 0 ? cmd_env(&o, args, n) : usage("run takes -- PROGRAM [ARGS...]");
        if (streq(cmd, "destroy"))
                return n == 0 ? cmd_destroy() : usage("destroy takes no arguments");
        return usage("unknown command");
}
