/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The emulated GPIO chip (tests/preload/gpiosim.c, tests/lib/gpiosim.c)
 * against the real, unmodified libgpiod 1.6: its own tools (gpiodetect,
 * gpioinfo, gpioget, gpiomon) and a small libgpiod client, which is this
 * program re-executed with "--client ..." under the preload library. The
 * test process itself only drives the chips, as the daemon's tests will.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <gpiod.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "daemon/util.h"
#include "tests/lib/gpiosim.h"

#define TIMEOUT_MS 5000

/* ======================================================================================================
 * The client: runs in a child with LD_PRELOAD, talks to the chips only through libgpiod.
 * Prints one line per fact; the parent compares.
 * ==================================================================================================== */

static int client_flags(const char *s)
{
        int f = 0;

        if (strstr(s, "active-low"))
                f |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
        if (strstr(s, "pull-up"))
                f |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
        if (strstr(s, "pull-down"))
                f |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
        if (strstr(s, "bias-disable"))
                f |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
        return f;
}

static int client_type(const char *s)
{
        if (strstr(s, "rising"))
                return GPIOD_LINE_REQUEST_EVENT_RISING_EDGE;
        if (strstr(s, "falling"))
                return GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE;
        if (strstr(s, "both"))
                return GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES;
        if (strstr(s, "output"))
                return GPIOD_LINE_REQUEST_DIRECTION_OUTPUT;
        return GPIOD_LINE_REQUEST_DIRECTION_INPUT;
}

/* Open chip, get line, request it as described by `how`; prints "errno N" and returns NULL on failure. */
static struct gpiod_line *client_request(const char *chip_name, const char *offset, const char *consumer,
                                         const char *how, struct gpiod_chip **ret_chip)
{
        struct gpiod_line_request_config cfg = {
                .consumer = consumer,
                .request_type = client_type(how),
                .flags = client_flags(how),
        };
        struct gpiod_chip *chip = gpiod_chip_open_lookup(chip_name);
        struct gpiod_line *line;

        if (!chip) {
                printf("errno %d\n", errno);
                return NULL;
        }
        line = gpiod_chip_get_line(chip, (unsigned)atoi(offset));
        if (!line || gpiod_line_request(line, &cfg, 1) < 0) {
                printf("errno %d\n", errno);
                gpiod_chip_close(chip);
                return NULL;
        }
        *ret_chip = chip;
        return line;
}

static void client_wait_stdin(void)
{
        char buf[64];

        while (fgets(buf, sizeof(buf), stdin))
                ;
}

static bool client_wait_line(const char *want)
{
        char buf[64];

        while (fgets(buf, sizeof(buf), stdin))
                if (strncmp(buf, want, strlen(want)) == 0)
                        return true;
        return false;
}

static void client_print_event(const struct gpiod_line_event *ev)
{
        printf("%c %lld\n", ev->event_type == GPIOD_LINE_EVENT_RISING_EDGE ? 'R' : 'F',
               (long long)ev->ts.tv_sec * 1000000000LL + ev->ts.tv_nsec);
}

static int client_detect(void)
{
        struct gpiod_chip_iter *iter = gpiod_chip_iter_new();
        struct gpiod_chip *chip;

        if (!iter) {
                printf("errno %d\n", errno);
                return 1;
        }
        gpiod_foreach_chip(iter, chip)
                printf("%s [%s] (%u lines)\n", gpiod_chip_name(chip), gpiod_chip_label(chip),
                       gpiod_chip_num_lines(chip));
        gpiod_chip_iter_free(iter);
        return 0;
}

static int client_lookup(const char *descr)
{
        struct gpiod_chip *chip = gpiod_chip_open_lookup(descr);

        if (!chip) {
                printf("errno %d\n", errno);
                return 0;
        }
        printf("%s %s %u\n", gpiod_chip_name(chip), gpiod_chip_label(chip), gpiod_chip_num_lines(chip));
        gpiod_chip_close(chip);
        return 0;
}

static int client_info(const char *chip_name, const char *offset)
{
        struct gpiod_chip *chip = gpiod_chip_open_lookup(chip_name);
        struct gpiod_line *line;
        static const char *const bias[] = { "?", "as-is", "disable", "pull-up", "pull-down" };
        int b;

        if (!chip || !(line = gpiod_chip_get_line(chip, (unsigned)atoi(offset)))) {
                printf("errno %d\n", errno);
                if (chip)
                        gpiod_chip_close(chip);
                return 0;
        }
        b = gpiod_line_bias(line);
        printf("name=%s consumer=%s used=%d dir=%s active=%s bias=%s\n", strempty(gpiod_line_name(line)),
               strempty(gpiod_line_consumer(line)), gpiod_line_is_used(line),
               gpiod_line_direction(line) == GPIOD_LINE_DIRECTION_OUTPUT ? "output" : "input",
               gpiod_line_active_state(line) == GPIOD_LINE_ACTIVE_STATE_LOW ? "low" : "high",
               b >= 1 && b <= 4 ? bias[b] : "?");
        gpiod_chip_close(chip);
        return 0;
}

/* Request, print "ready" and the value, then print events until n of them, or a timeout. */
static int client_events(const char *chip_name, const char *offset, const char *how, int n)
{
        struct timespec timeout = { .tv_sec = TIMEOUT_MS / 1000 };
        struct gpiod_chip *chip = NULL;
        struct gpiod_line *line = client_request(chip_name, offset, "test-events", how, &chip);
        struct gpiod_line_event ev;
        int got = 0, r = 0;

        if (!line)
                return 0;
        printf("ready %d\n", gpiod_line_get_value(line));
        while (got < n) {
                int w = gpiod_line_event_wait(line, &timeout);
                if (w <= 0) {
                        printf("timeout\n");
                        r = 1;
                        break;
                }
                if (gpiod_line_event_read(line, &ev) < 0) {
                        printf("read errno %d\n", errno);
                        r = 1;
                        break;
                }
                client_print_event(&ev);
                got++;
        }
        printf("value %d\n", gpiod_line_get_value(line));
        gpiod_chip_close(chip);
        return r;
}

/* Request, print "ready", wait for "go" on stdin, then drain whatever is queued. */
static int client_overflow(const char *chip_name, const char *offset)
{
        struct timespec zero = {};
        struct gpiod_chip *chip = NULL;
        struct gpiod_line *line = client_request(chip_name, offset, "test-overflow", "both", &chip);
        struct gpiod_line_event evs[16];
        char small[8];
        int fd, n;

        if (!line)
                return 0;
        printf("ready\n");
        if (!client_wait_line("go"))
                return 1;
        fd = gpiod_line_event_get_fd(line);
        /* lineevent_read(): less than one whole record is EINVAL. */
        if (read(fd, small, sizeof(small)) < 0 && errno == EINVAL)
                printf("short read EINVAL\n");
        while (gpiod_line_event_wait(line, &zero) > 0) {
                n = gpiod_line_event_read_multiple(line, evs, ELEMENTSOF(evs));
                if (n < 0) {
                        printf("read errno %d\n", errno);
                        break;
                }
                for (int i = 0; i < n; i++)
                        client_print_event(&evs[i]);
        }
        printf("value %d\n", gpiod_line_get_value(line));
        printf("end\n");
        gpiod_chip_close(chip);
        return 0;
}

/* Request and hold until stdin closes (or the process is killed). */
static int client_hold(const char *chip_name, const char *offset, const char *consumer, const char *how)
{
        struct gpiod_chip *chip = NULL;
        struct gpiod_line *line = client_request(chip_name, offset, consumer, how, &chip);

        if (!line)
                return 0;
        printf("held\n");
        client_wait_stdin();
        gpiod_chip_close(chip);
        return 0;
}

static int client_try_request(const char *chip_name, const char *offset)
{
        struct gpiod_chip *chip = NULL;
        struct gpiod_line *line = client_request(chip_name, offset, "test-try", "both", &chip);

        if (!line)
                return 0;
        printf("ok\n");
        gpiod_chip_close(chip);
        return 0;
}

/* Two chip handles in one process: the second request goes to the "kernel" and gets EBUSY there. */
static int client_busy(const char *chip_name, const char *offset)
{
        struct gpiod_chip *c1 = NULL, *c2 = gpiod_chip_open_lookup(chip_name);
        struct gpiod_line *l1 = client_request(chip_name, offset, "first", "both", &c1), *l2;
        struct gpiod_line_request_config cfg = {
                .consumer = "second",
                .request_type = GPIOD_LINE_REQUEST_DIRECTION_INPUT,
        };

        if (!l1 || !c2)
                return 1;
        l2 = gpiod_chip_get_line(c2, (unsigned)atoi(offset));
        if (!l2)
                return 1;
        printf("second %s\n", gpiod_line_request(l2, &cfg, 0) < 0 ? strerror(errno) : "ok");
        printf("consumer %s\n", strempty(gpiod_line_consumer(l2)));
        gpiod_chip_close(c2);
        gpiod_chip_close(c1);
        return 0;
}

static int client_wait_chip(const char *descr, int timeout_ms)
{
        int64_t deadline = (int64_t)now_usec(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000;
        struct gpiod_chip *chip;
        bool said = false;

        for (;;) {
                chip = gpiod_chip_open_lookup(descr);
                if (chip)
                        break;
                if (!said) {
                        printf("missing errno %d\n", errno);
                        said = true;
                }
                if ((int64_t)now_usec(CLOCK_MONOTONIC) > deadline) {
                        printf("timeout\n");
                        return 1;
                }
                usleep(10 * 1000);
        }
        printf("found %s [%s] (%u lines)\n", gpiod_chip_name(chip), gpiod_chip_label(chip),
               gpiod_chip_num_lines(chip));
        gpiod_chip_close(chip);
        return 0;
}

/* Request events, then report what the chip's removal looks like from here. */
static int client_removed(const char *chip_name, const char *offset)
{
        struct gpiod_chip *chip = NULL, *again;
        struct gpiod_line *line = client_request(chip_name, offset, "test-removed", "both", &chip);
        struct gpiod_line_event ev;
        struct pollfd p;
        int r;

        if (!line)
                return 0;
        printf("ready\n");
        p = (struct pollfd){ .fd = gpiod_line_event_get_fd(line), .events = POLLIN };
        /* One call per statement: the order of evaluation of printf()'s arguments is unspecified. */
        r = poll(&p, 1, TIMEOUT_MS);
        printf("poll %d revents 0x%x\n", r, p.revents);
        r = gpiod_line_event_read(line, &ev);
        printf("read %d errno %d\n", r, errno);
        r = gpiod_line_get_value(line);
        printf("get %d errno %d\n", r, errno);
        p.revents = 0;
        r = poll(&p, 1, 0);
        printf("poll %d revents 0x%x\n", r, p.revents);
        gpiod_chip_close(chip);
        again = gpiod_chip_open_by_name(chip_name);
        printf("reopen %s errno %d\n", again ? "ok" : "failed", again ? 0 : errno);
        if (again)
                gpiod_chip_close(again);
        return 0;
}

/* Drive a line as an output: value 1, then what stdin says, until stdin closes. */
static int client_output(const char *chip_name, const char *offset)
{
        struct gpiod_chip *chip = NULL;
        struct gpiod_line *line = client_request(chip_name, offset, "test-out", "output", &chip);
        char buf[16];

        if (!line)
                return 0;
        printf("ready %d\n", gpiod_line_get_value(line));
        while (fgets(buf, sizeof(buf), stdin)) {
                int r = gpiod_line_set_value(line, atoi(buf));
                printf("set %d value %d\n", r, gpiod_line_get_value(line));
        }
        gpiod_chip_close(chip);
        return 0;
}

/* Paths and calls that are not ours go to libc untouched; /dev is listed with the chips. */
static int client_passthrough(void)
{
        struct dirent **list = NULL;
        struct stat st;
        char buf[64], *rp;
        int n, fd, chips = 0;
        bool null_seen = false, ok;

        fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        printf("open %s\n", fd >= 0 && read(fd, buf, sizeof(buf)) > 0 && close(fd) == 0 ? "ok" : "failed");
        printf("stat-null %s\n", stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) ? "chr" : "bad");
        ok = stat("/dev/gpiochip0", &st) == 0 && S_ISCHR(st.st_mode);
        printf("stat-chip %s %u:%u\n", ok ? "chr" : "bad", major(st.st_rdev), minor(st.st_rdev));
        printf("stat-missing errno %d\n", stat("/dev/gpiochip9", &st) < 0 ? errno : 0);
        printf("access %d\n", access("/dev/gpiochip0", R_OK | W_OK));
        rp = realpath("/dev/gpiochip1", NULL);
        printf("realpath %s\n", strempty(rp));
        free(rp);
        n = scandir("/dev", &list, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                if (startswith(list[i]->d_name, "gpiochip"))
                        chips++;
                if (streq(list[i]->d_name, "null"))
                        null_seen = true;
                free(list[i]);
        }
        free(list);
        printf("scandir chips %d null %s\n", chips, null_seen ? "yes" : "no");
        fd = open("/sys/bus/gpio/devices/gpiochip1/dev", O_RDONLY);
        n = fd >= 0 ? (int)read(fd, buf, sizeof(buf) - 1) : -1;
        if (fd >= 0)
                close(fd);
        buf[n > 0 ? n : 0] = 0;
        printf("sysfs %s", n > 0 ? buf : "failed\n");
        return 0;
}

static int client_main(int argc, char **argv)
{
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 1)
                return 2;
#define ARGS(n)                                                                                                  \
        if (argc != (n) + 1)                                                                                     \
        return 2
        if (streq(argv[0], "detect"))
                return client_detect();
        if (streq(argv[0], "lookup")) {
                ARGS(1);
                return client_lookup(argv[1]);
        }
        if (streq(argv[0], "info")) {
                ARGS(2);
                return client_info(argv[1], argv[2]);
        }
        if (streq(argv[0], "events")) {
                ARGS(4);
                return client_events(argv[1], argv[2], argv[3], atoi(argv[4]));
        }
        if (streq(argv[0], "overflow")) {
                ARGS(2);
                return client_overflow(argv[1], argv[2]);
        }
        if (streq(argv[0], "hold")) {
                ARGS(4);
                return client_hold(argv[1], argv[2], argv[3], argv[4]);
        }
        if (streq(argv[0], "request")) {
                ARGS(2);
                return client_try_request(argv[1], argv[2]);
        }
        if (streq(argv[0], "busy")) {
                ARGS(2);
                return client_busy(argv[1], argv[2]);
        }
        if (streq(argv[0], "wait-chip")) {
                ARGS(2);
                return client_wait_chip(argv[1], atoi(argv[2]));
        }
        if (streq(argv[0], "removed")) {
                ARGS(2);
                return client_removed(argv[1], argv[2]);
        }
        if (streq(argv[0], "output")) {
                ARGS(2);
                return client_output(argv[1], argv[2]);
        }
        if (streq(argv[0], "passthrough"))
                return client_passthrough();
#undef ARGS
        return 2;
}

/* ======================================================================================================
 * The parent: drives the chips, runs clients and tools, checks what they saw.
 * ==================================================================================================== */

static GpioSim *sim;

struct child {
        pid_t pid;
        int to, from; /* its stdin, its stdout */
        char buf[16384];
        size_t len;
        char line[512];
};

enum spawn_mode {
        SPAWN_CLIENT,  /* this program with --client, preloaded (and sanitized like us) */
        SPAWN_TOOL,    /* a libgpiod tool from PATH, preloaded */
        SPAWN_PLAIN,   /* our own gpiosim tool: it drives the chips, it does not use them */
};

static void spawn(struct child *c, enum spawn_mode mode, const char *const *args)
{
        bool self = mode == SPAWN_CLIENT;
        const char *argv[16];
        int in[2], out[2];
        size_t n = 0;

        memset(c, 0, sizeof(*c));
        if (self) {
                argv[n++] = "test-gpiosim";
                argv[n++] = "--client";
        }
        for (size_t i = 0; args[i]; i++) {
                assert_true(n < ELEMENTSOF(argv) - 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;

        assert_int_equal(pipe2(in, O_CLOEXEC), 0);
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        fflush(NULL);
        c->pid = fork();
        assert_true(c->pid >= 0);
        if (c->pid == 0) {
                if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
                        _exit(126);
                /* A sanitized test program is re-executed sanitized: its runtime must be preloaded first. */
                if (mode != SPAWN_PLAIN && gpiosim_setenv(sim, self) < 0) {
                        fprintf(stderr, "cannot find the gpiosim preload library\n");
                        _exit(126);
                }
                if (self)
                        execv("/proc/self/exe", (char **)argv);
                else
                        execvp(argv[0], (char **)argv);
                fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        c->to = in[1];
        c->from = out[0];
}

static void spawn_client(struct child *c, const char *first, ...)
{
        const char *args[12];
        size_t n = 0;
        va_list ap;

        args[n++] = first;
        va_start(ap, first);
        while ((args[n] = va_arg(ap, const char *)))
                assert_true(++n < ELEMENTSOF(args));
        va_end(ap);
        spawn(c, SPAWN_CLIENT, args);
}

/* Read more output, waiting at most until deadline. false at EOF or timeout. */
static bool child_fill(struct child *c, int64_t deadline_us)
{
        struct pollfd p = { .fd = c->from, .events = POLLIN };
        int64_t left = deadline_us - (int64_t)now_usec(CLOCK_MONOTONIC);
        ssize_t n;

        if (c->from < 0 || left <= 0 || c->len >= sizeof(c->buf) - 1)
                return false;
        if (poll(&p, 1, (int)(left / 1000) + 1) <= 0)
                return false;
        n = read(c->from, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        if (n <= 0)
                return false;
        c->len += (size_t)n;
        c->buf[c->len] = 0;
        return true;
}

/* The next output line (without newline), or NULL after timeout_ms or at EOF. */
static const char *child_line(struct child *c, int timeout_ms)
{
        int64_t deadline = (int64_t)now_usec(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000;
        char *nl;

        for (;;) {
                c->buf[c->len] = 0;
                nl = memchr(c->buf, '\n', c->len);
                if (nl) {
                        size_t k = (size_t)(nl - c->buf);
                        snprintf(c->line, sizeof(c->line), "%.*s", (int)k, c->buf);
                        memmove(c->buf, nl + 1, c->len - k - 1);
                        c->len -= k + 1;
                        return c->line;
                }
                if (!child_fill(c, deadline))
                        return NULL;
        }
}

static void expect_line(struct child *c, const char *want)
{
        const char *l = child_line(c, TIMEOUT_MS);

        if (!l)
                fail_msg("expected \"%s\", got nothing", want);
        assert_string_equal(l, want);
}

static void child_send(struct child *c, const char *s)
{
        assert_int_equal(write(c->to, s, strlen(s)), (ssize_t)strlen(s));
}

/* Close its stdin, collect the rest of its output (in c->buf) and its exit status. */
static int child_finish(struct child *c)
{
        int64_t deadline = (int64_t)now_usec(CLOCK_MONOTONIC) + TIMEOUT_MS * 1000;
        int status;

        if (c->to >= 0)
                close(c->to);
        c->to = -1;
        while (child_fill(c, deadline))
                ;
        for (;;) {
                pid_t p = waitpid(c->pid, &status, WNOHANG);
                if (p == c->pid)
                        break;
                if ((int64_t)now_usec(CLOCK_MONOTONIC) > deadline) {
                        kill(c->pid, SIGKILL);
                        waitpid(c->pid, &status, 0);
                        fail_msg("child %d did not exit", (int)c->pid);
                }
                usleep(2000);
        }
        close(c->from);
        c->from = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Run a tool to the end; its output stays in c->buf. Returns the exit status. */
static int run_mode(struct child *c, enum spawn_mode mode, const char *first, va_list ap)
{
        const char *args[16];
        size_t n = 0;

        args[n++] = first;
        while ((args[n] = va_arg(ap, const char *)))
                assert_true(++n < ELEMENTSOF(args));
        spawn(c, mode, args);
        return child_finish(c);
}

static int run_tool(struct child *c, const char *first, ...)
{
        va_list ap;
        int r;

        va_start(ap, first);
        r = run_mode(c, SPAWN_TOOL, first, ap);
        va_end(ap);
        return r;
}

static int run_plain(struct child *c, const char *first, ...)
{
        va_list ap;
        int r;

        va_start(ap, first);
        r = run_mode(c, SPAWN_PLAIN, first, ap);
        va_end(ap);
        return r;
}

/* The gpioinfo line of one offset. */
static const char *gpioinfo_line(struct child *c, unsigned offset)
{
        char want[32];
        char *p;

        snprintf(want, sizeof(want), "\tline %3u:", offset);
        p = strstr(c->buf, want);
        assert_non_null(p);
        p = strchr(p, '\n');
        assert_non_null(p);
        *p = 0;
        return strstr(c->buf, want);
}

static int setup(void **state)
{
        assert_int_equal(gpiosim_new(NULL, &sim), 0);
        assert_int_equal(gpiosim_chip_add(sim, "gpiochip0", "pinctrl-bcm2711", 54), 0);
        assert_int_equal(gpiosim_chip_add(sim, "gpiochip1", "raspberrypi-exp-gpio", 8), 0);
        return 0;
}

static int teardown(void **state)
{
        assert_int_equal(gpiosim_destroy(sim), 0);
        sim = NULL;
        return 0;
}

/* ---- chips ---------------------------------------------------------------------------------------- */

static void test_gpiodetect_and_iteration_list_the_chips(void **state)
{
        const char *want = "gpiochip0 [pinctrl-bcm2711] (54 lines)\n"
                           "gpiochip1 [raspberrypi-exp-gpio] (8 lines)\n";
        struct child c;

        assert_int_equal(run_tool(&c, "gpiodetect", NULL), 0);
        assert_string_equal(c.buf, want);
        spawn_client(&c, "detect", NULL);
        assert_int_equal(child_finish(&c), 0);
        assert_string_equal(c.buf, want);
}

static void test_chip_lookup_by_name_label_path_and_number(void **state)
{
        static const char *const ways[] = { "gpiochip1", "raspberrypi-exp-gpio", "/dev/gpiochip1", "1" };
        struct child c;

        for (size_t i = 0; i < ELEMENTSOF(ways); i++) {
                spawn_client(&c, "lookup", ways[i], NULL);
                expect_line(&c, "gpiochip1 raspberrypi-exp-gpio 8");
                assert_int_equal(child_finish(&c), 0);
        }
        spawn_client(&c, "lookup", "gpiochip7", NULL);
        expect_line(&c, "errno 2");
        assert_int_equal(child_finish(&c), 0);
        spawn_client(&c, "lookup", "no-such-hat", NULL);
        expect_line(&c, "errno 2");
        assert_int_equal(child_finish(&c), 0);
}

static void test_files_that_are_not_gpio_pass_through(void **state)
{
        struct child c;

        spawn_client(&c, "passthrough", NULL);
        expect_line(&c, "open ok");
        expect_line(&c, "stat-null chr");
        expect_line(&c, "stat-chip chr 254:0");
        expect_line(&c, "stat-missing errno 2");
        expect_line(&c, "access 0");
        expect_line(&c, "realpath /dev/gpiochip1");
        expect_line(&c, "scandir chips 2 null yes");
        expect_line(&c, "sysfs 254:1");
        assert_int_equal(child_finish(&c), 0);
}

/* ---- line info and values ------------------------------------------------------------------------- */

static void test_line_info_follows_requests(void **state)
{
        struct gpiosim_line_status st;
        struct child holder, c;
        const char *l;

        assert_int_equal(gpiosim_line_set_name(sim, "gpiochip0", 17, "DOOR"), 0);
        assert_int_equal(run_tool(&c, "gpioinfo", "gpiochip0", NULL), 0);
        l = gpioinfo_line(&c, 17);
        assert_non_null(strstr(l, "\"DOOR\""));
        assert_non_null(strstr(l, "unused"));
        assert_non_null(strstr(l, "input"));
        assert_non_null(strstr(l, "active-high"));

        spawn_client(&holder, "hold", "gpiochip0", "17", "door-sensor", "both,active-low,pull-up", NULL);
        expect_line(&holder, "held");

        assert_int_equal(run_tool(&c, "gpioinfo", "pinctrl-bcm2711", NULL), 0);
        l = gpioinfo_line(&c, 17);
        assert_non_null(strstr(l, "\"door-sensor\""));
        assert_non_null(strstr(l, "active-low"));
        assert_non_null(strstr(l, "[used pull-up]"));

        spawn_client(&c, "info", "gpiochip0", "17", NULL);
        expect_line(&c, "name=DOOR consumer=door-sensor used=1 dir=input active=low bias=pull-up");
        assert_int_equal(child_finish(&c), 0);

        assert_int_equal(gpiosim_line_get(sim, "gpiochip0", 17, &st), 0);
        assert_true(st.requested && st.events && st.edge_rising && st.edge_falling && st.active_low);
        assert_int_equal(st.bias, GPIOSIM_BIAS_PULL_UP);
        assert_string_equal(st.consumer, "door-sensor");
        assert_int_equal(st.pid, holder.pid);

        /* Releasing the line clears what the request set. */
        assert_int_equal(child_finish(&holder), 0);
        assert_int_equal(gpiosim_wait_requested(sim, "gpiochip0", 17, false, TIMEOUT_MS * 1000), 0);
        spawn_client(&c, "info", "gpiochip0", "17", NULL);
        expect_line(&c, "name=DOOR consumer= used=0 dir=input active=high bias=as-is");
        assert_int_equal(child_finish(&c), 0);

        /* The kernel shows a request without a label as "?". */
        spawn_client(&holder, "hold", "gpiochip1", "3", "", "input,bias-disable", NULL);
        expect_line(&holder, "held");
        spawn_client(&c, "info", "gpiochip1", "3", NULL);
        expect_line(&c, "name= consumer=? used=1 dir=input active=high bias=disable");
        assert_int_equal(child_finish(&c), 0);
        assert_int_equal(child_finish(&holder), 0);
}

static void test_get_value_with_and_without_active_low(void **state)
{
        struct child c;

        assert_int_equal(gpiosim_line_set(sim, "gpiochip0", 22, 1), 0);
        assert_int_equal(run_tool(&c, "gpioget", "gpiochip0", "22", NULL), 0);
        assert_string_equal(c.buf, "1\n");
        assert_int_equal(run_tool(&c, "gpioget", "--active-low", "gpiochip0", "22", NULL), 0);
        assert_string_equal(c.buf, "0\n");
        assert_int_equal(gpiosim_line_set(sim, "gpiochip0", 22, 0), 0);
        assert_int_equal(run_tool(&c, "gpioget", "gpiochip0", "22", "23", NULL), 0);
        assert_string_equal(c.buf, "0 0\n");
}

/* ---- events --------------------------------------------------------------------------------------- */

struct event {
        char type;
        int64_t ts;
};

static void read_events(struct child *c, struct event *evs, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const char *l = child_line(c, TIMEOUT_MS);
                long long ts;

                if (!l)
                        fail_msg("event %zu of %zu missing", i + 1, n);
                if (sscanf(l, "%c %lld", &evs[i].type, &ts) != 2)
                        fail_msg("not an event: %s", l);
                evs[i].ts = ts;
        }
}

static void test_both_edges_in_order_with_monotonic_timestamps(void **state)
{
        struct event evs[4];
        struct child c;
        int64_t t0, t1;

        spawn_client(&c, "events", "gpiochip0", "4", "both", "4", NULL);
        expect_line(&c, "ready 0");
        t0 = (int64_t)now_usec(CLOCK_MONOTONIC) * 1000;
        assert_int_equal(gpiosim_line_toggle(sim, "gpiochip0", 4, 4, 3000), 0);
        t1 = (int64_t)now_usec(CLOCK_MONOTONIC) * 1000 + 1000;
        read_events(&c, evs, 4);
        expect_line(&c, "value 0");
        assert_int_equal(child_finish(&c), 0);

        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(evs[i].type, i % 2 ? 'F' : 'R');
                /* CLOCK_MONOTONIC, like the kernel's ktime_get_ns() since 5.7. */
                assert_true(evs[i].ts >= t0 && evs[i].ts <= t1);
                if (i > 0)
                        assert_true(evs[i].ts > evs[i - 1].ts);
        }
        /* The toggles were 3 ms apart (absolute deadlines: the last one is at least 9 ms after t0). */
        assert_true(evs[3].ts - t0 >= 9000000);
}

static void test_rising_or_falling_only(void **state)
{
        struct event evs[2];
        struct child c;

        spawn_client(&c, "events", "gpiochip0", "5", "rising", "2", NULL);
        expect_line(&c, "ready 0");
        assert_int_equal(gpiosim_line_toggle(sim, "gpiochip0", 5, 4, 1000), 0);
        read_events(&c, evs, 2);
        assert_int_equal(evs[0].type, 'R');
        assert_int_equal(evs[1].type, 'R');
        assert_non_null(child_line(&c, TIMEOUT_MS)); /* its value: 1 or 0, depending on when it looked */
        assert_int_equal(child_finish(&c), 0);

        spawn_client(&c, "events", "gpiochip0", "5", "falling", "2", NULL);
        expect_line(&c, "ready 0");
        assert_int_equal(gpiosim_line_toggle(sim, "gpiochip0", 5, 4, 1000), 0);
        read_events(&c, evs, 2);
        assert_int_equal(evs[0].type, 'F');
        assert_int_equal(evs[1].type, 'F');
        assert_int_equal(child_finish(&c), 0);

        /* And through gpiomon. */
        {
                struct child mon;
                const char *args[] = { "gpiomon", "--num-events=2", "--rising-edge", "gpiochip0", "5",
                                       NULL };
                spawn(&mon, SPAWN_TOOL, args);
                assert_int_equal(gpiosim_wait_requested(sim, "gpiochip0", 5, true, TIMEOUT_MS * 1000), 0);
                assert_int_equal(gpiosim_line_toggle(sim, "gpiochip0", 5, 4, 1000), 0);
                assert_int_equal(child_finish(&mon), 0);
                assert_non_null(strstr(mon.buf, "event:  RISING EDGE offset: 5 timestamp: ["));
                assert_null(strstr(mon.buf, "FALLING"));
        }
}

static void test_active_low_inverts_values_and_edges(void **state)
{
        struct event evs[2];
        struct child c;

        /* A door contact with a pull-up: high when open... read as "not active". */
        assert_int_equal(gpiosim_line_set(sim, "gpiochip0", 6, 1), 0);
        spawn_client(&c, "events", "gpiochip0", "6", "both,active-low,pull-up", "2", NULL);
        expect_line(&c, "ready 0");
        assert_int_equal(gpiosim_line_set(sim, "gpiochip0", 6, 0), 0); /* physical fall = logical rise */
        assert_int_equal(gpiosim_line_set(sim, "gpiochip0", 6, 1), 0);
        read_events(&c, evs, 2);
        assert_int_equal(evs[0].type, 'R');
        assert_int_equal(evs[1].type, 'F');
        expect_line(&c, "value 0");
        assert_int_equal(child_finish(&c), 0);

        /* Rising-only with active-low fires on the physical falling edge (the kernel swaps the trigger). */
        spawn_client(&c, "events", "gpiochip0", "6", "rising,active-low", "1", NULL);
        expect_line(&c, "ready 0");
        assert_int_equal(gpiosim_line_set(sim, "gpiochip0", 6, 0), 0);
        read_events(&c, evs, 1);
        assert_int_equal(evs[0].type, 'R');
        expect_line(&c, "value 1");
        assert_int_equal(child_finish(&c), 0);
}

static void test_pulse_and_bounce_helpers(void **state)
{
        struct gpiosim_line_status st;
        struct event evs[6];
        struct child c;

        spawn_client(&c, "events", "gpiochip0", "10", "both", "6", NULL);
        expect_line(&c, "ready 0");
        assert_int_equal(gpiosim_line_pulse(sim, "gpiochip0", 10, 3, 4000), 0);
        read_events(&c, evs, 6);
        for (size_t i = 0; i < 6; i++)
                assert_int_equal(evs[i].type, i % 2 ? 'F' : 'R');
        expect_line(&c, "value 0");
        assert_int_equal(child_finish(&c), 0);

        spawn_client(&c, "events", "gpiochip0", "11", "both", "5", NULL);
        expect_line(&c, "ready 0");
        assert_int_equal(gpiosim_line_bounce(sim, "gpiochip0", 11, 1, 4, 500), 0);
        read_events(&c, evs, 5);
        for (size_t i = 0; i < 5; i++)
                assert_int_equal(evs[i].type, i % 2 ? 'F' : 'R');
        expect_line(&c, "value 1");
        assert_int_equal(child_finish(&c), 0);
        assert_int_equal(gpiosim_line_get(sim, "gpiochip0", 11, &st), 0);
        assert_int_equal(st.level, 1);
        assert_false(st.requested);
}

/*
 * The v1 line-event queue holds 16 events; lineevent_irq_thread()'s
 * kfifo_in() fails when it is full, so the newest events are lost and the
 * reader sees the first 16 edges of a burst. Here 41 edges from low: the
 * 16 kept are R,F,...,F, while the line ends high.
 */
static void test_queue_overflow_keeps_the_first_16(void **state)
{
        struct gpiosim_line_status st;
        struct event evs[16];
        struct child c;

        spawn_client(&c, "overflow", "gpiochip0", "9", NULL);
        expect_line(&c, "ready");
        assert_int_equal(gpiosim_line_burst(sim, "gpiochip0", 9, 41), 25);
        assert_int_equal(gpiosim_line_get(sim, "gpiochip0", 9, &st), 0);
        assert_int_equal(st.queued, 16);
        assert_int_equal(st.delivered, 16);
        assert_int_equal(st.dropped, 25);
        assert_int_equal(st.level, 1);

        /* Full queue: a single edge more is dropped too. */
        assert_int_equal(gpiosim_line_set(sim, "gpiochip0", 9, 0), 0);
        assert_int_equal(gpiosim_line_set(sim, "gpiochip0", 9, 1), 0);
        assert_int_equal(gpiosim_line_get(sim, "gpiochip0", 9, &st), 0);
        assert_int_equal(st.dropped, 27);

        child_send(&c, "go\n");
        expect_line(&c, "short read EINVAL");
        read_events(&c, evs, 16);
        for (size_t i = 0; i < 16; i++) {
                assert_int_equal(evs[i].type, i % 2 ? 'F' : 'R');
                if (i > 0)
                        assert_true(evs[i].ts > evs[i - 1].ts);
        }
        /* The last event says "fell", the line is high: a reader must re-read the level after a burst. */
        expect_line(&c, "value 1");
        expect_line(&c, "end");
        assert_int_equal(child_finish(&c), 0);
}

/* ---- ownership ------------------------------------------------------------------------------------ */

static void test_double_request_is_ebusy_until_the_holder_dies(void **state)
{
        struct child holder, c;

        spawn_client(&holder, "hold", "gpiochip0", "7", "shouwang", "both", NULL);
        expect_line(&holder, "held");

        spawn_client(&c, "request", "gpiochip0", "7", NULL);
        expect_line(&c, "errno 16");
        assert_int_equal(child_finish(&c), 0);

        assert_int_not_equal(run_tool(&c, "gpioget", "gpiochip0", "7", NULL), 0);

        spawn_client(&c, "busy", "gpiochip1", "1", NULL);
        expect_line(&c, "second Device or resource busy");
        expect_line(&c, "consumer first");
        assert_int_equal(child_finish(&c), 0);

        /* A killed holder cannot clean up: the line is free once its fds are gone, as with the kernel. */
        kill(holder.pid, SIGKILL);
        assert_int_equal(child_finish(&holder), 128 + SIGKILL);
        assert_int_equal(gpiosim_wait_requested(sim, "gpiochip0", 7, false, TIMEOUT_MS * 1000), 0);
        spawn_client(&c, "request", "gpiochip0", "7", NULL);
        expect_line(&c, "ok");
        assert_int_equal(child_finish(&c), 0);
}

static void test_output_lines(void **state)
{
        struct gpiosim_line_status st;
        struct child c;

        spawn_client(&c, "output", "gpiochip1", "5", NULL);
        expect_line(&c, "ready 1");
        assert_int_equal(gpiosim_line_get(sim, "gpiochip1", 5, &st), 0);
        assert_true(st.output && st.requested && !st.events);
        assert_int_equal(st.level, 1);
        assert_string_equal(st.consumer, "test-out");

        /* What the test applies does not override a driven output. */
        assert_int_equal(gpiosim_line_set(sim, "gpiochip1", 5, 0), 0);
        assert_int_equal(gpiosim_line_get(sim, "gpiochip1", 5, &st), 0);
        assert_int_equal(st.level, 1);

        child_send(&c, "0\n");
        expect_line(&c, "set 0 value 0");
        assert_int_equal(gpiosim_line_get(sim, "gpiochip1", 5, &st), 0);
        assert_int_equal(st.level, 0);
        assert_int_equal(child_finish(&c), 0);

        /* Released, the line stays an output (the kernel keeps the direction). */
        assert_int_equal(run_tool(&c, "gpioinfo", "gpiochip1", NULL), 0);
        assert_non_null(strstr(gpioinfo_line(&c, 5), "unused  output"));

        /* gpioset drives, gpioget turns it back into an input that reads the applied level. */
        assert_int_equal(run_tool(&c, "gpioset", "gpiochip1", "5=1", NULL), 0);
        assert_int_equal(gpiosim_line_get(sim, "gpiochip1", 5, &st), 0);
        assert_int_equal(st.level, 1);
        assert_int_equal(run_tool(&c, "gpioget", "gpiochip1", "5", NULL), 0);
        assert_string_equal(c.buf, "0\n");
}

/* ---- chips coming and going ----------------------------------------------------------------------- */

static void test_chip_added_while_a_program_waits_for_it(void **state)
{
        struct child c;

        spawn_client(&c, "wait-chip", "gpiochip3", "5000", NULL);
        expect_line(&c, "missing errno 2");
        assert_null(child_line(&c, 150)); /* still looking */
        assert_int_equal(gpiosim_chip_add(sim, "gpiochip3", "late-hat", 4), 0);
        expect_line(&c, "found gpiochip3 [late-hat] (4 lines)");
        assert_int_equal(child_finish(&c), 0);

        assert_int_equal(run_tool(&c, "gpiodetect", NULL), 0);
        assert_non_null(strstr(c.buf, "gpiochip3 [late-hat] (4 lines)\n"));
}

static void test_removed_chip_fails_its_users(void **state)
{
        char want[64];
        struct child c;

        spawn_client(&c, "removed", "gpiochip1", "2", NULL);
        expect_line(&c, "ready");
        assert_int_equal(gpiosim_chip_remove(sim, "gpiochip1"), 0);
        snprintf(want, sizeof(want), "poll 1 revents 0x%x", POLLIN);
        expect_line(&c, want);
        expect_line(&c, "read -1 errno 19");
        expect_line(&c, "get -1 errno 19");
        snprintf(want, sizeof(want), "poll 1 revents 0x%x", POLLHUP);
        expect_line(&c, want);
        expect_line(&c, "reopen failed errno 2");
        assert_int_equal(child_finish(&c), 0);

        assert_int_equal(run_tool(&c, "gpiodetect", NULL), 0);
        assert_string_equal(c.buf, "gpiochip0 [pinctrl-bcm2711] (54 lines)\n");
        assert_int_equal(gpiosim_chip_remove(sim, "gpiochip1"), -ENOENT);

        /* Back again (a re-seated HAT): a new device, free lines. */
        assert_int_equal(gpiosim_chip_add(sim, "gpiochip1", "raspberrypi-exp-gpio", 8), 0);
        spawn_client(&c, "request", "gpiochip1", "2", NULL);
        expect_line(&c, "ok");
        assert_int_equal(child_finish(&c), 0);
}

/* ---- the control side itself ---------------------------------------------------------------------- */

static void test_control_api_errors(void **state)
{
        struct gpiosim_line_status st;
        char names[4][32];
        GpioSim *other = NULL;

        assert_int_equal(gpiosim_chip_add(sim, "gpiochip0", "again", 4), -EEXIST);
        assert_int_equal(gpiosim_chip_add(sim, "gpio0", "x", 4), -EINVAL);
        assert_int_equal(gpiosim_chip_add(sim, "gpiochip01", "x", 4), -EINVAL);
        assert_int_equal(gpiosim_chip_add(sim, "gpiochip2", "x", 0), -EINVAL);
        assert_int_equal(gpiosim_chip_add(sim, "gpiochip2", "x", GPIOSIM_MAX_LINES + 1), -EINVAL);
        assert_int_equal(gpiosim_chip_add(sim, "gpiochip2", "a label far longer than thirty-one", 4),
                         -EINVAL);
        assert_int_equal(gpiosim_line_set(sim, "gpiochip9", 0, 1), -ENOENT);
        assert_int_equal(gpiosim_line_set(sim, "gpiochip1", 8, 1), -EINVAL);
        assert_int_equal(gpiosim_line_set(sim, "gpiochip1", 0, 2), -EINVAL);
        assert_int_equal(gpiosim_line_get(sim, "gpiochip1", 8, &st), -EINVAL);
        assert_int_equal(gpiosim_wait_requested(sim, "gpiochip1", 0, true, 20000), -ETIMEDOUT);
        assert_int_equal(gpiosim_wait_drained(sim, "gpiochip1", 0, 20000), -ENODATA);
        assert_int_equal(gpiosim_new(gpiosim_dir(sim), &other), -EEXIST);
        assert_int_equal(gpiosim_open("/nonexistent-gpiosim", &other), -ENOENT);

        /* A second handle on the same directory sees the same chips. */
        assert_int_equal(gpiosim_open(gpiosim_dir(sim), &other), 0);
        assert_int_equal(gpiosim_chip_add(other, "gpiochip12", NULL, 2), 0);
        assert_int_equal(gpiosim_list_chips(sim, names, ELEMENTSOF(names)), 3);
        assert_string_equal(names[0], "gpiochip0");
        assert_string_equal(names[2], "gpiochip12");
        gpiosim_free(other);
}

static void test_command_line_tool(void **state)
{
        _cleanup_free_ char *tool = NULL;
        const char *top = getenv("SHOUWANG_TOP"), *build = getenv("BUILD");
        const char *dir = gpiosim_dir(sim);
        struct child c;

        if (isempty(build))
                build = "build";
        assert_true(asprintf(&tool, "%s%s%s/tests/tools/gpiosim", build[0] == '/' || isempty(top) ? "" : top,
                             build[0] == '/' || isempty(top) ? "" : "/", build) > 0);

        assert_int_equal(run_plain(&c, tool, "--help", NULL), 0);
        assert_non_null(strstr(c.buf, "Usage: gpiosim"));
        assert_int_equal(run_plain(&c, tool, "--dir", dir, "frobnicate", NULL), 2);
        assert_int_equal(run_plain(&c, tool, "--dir", dir, "add-chip", "gpiochip2", "--label", "tool-hat",
                                   "--lines", "4", "--line-name", "1=LEAK", NULL),
                         0);
        assert_int_equal(run_plain(&c, tool, "--dir", dir, "set", "gpiochip2", "1", "1", NULL), 0);
        assert_int_equal(run_plain(&c, tool, "--dir", dir, "get", "gpiochip2", "1", NULL), 0);
        assert_string_equal(c.buf, "1 free input\n");
        assert_int_equal(run_plain(&c, tool, "--dir", dir, "show", NULL), 0);
        assert_non_null(strstr(c.buf, "gpiochip2 [tool-hat] (4 lines)\n"));
        assert_non_null(strstr(c.buf, "LEAK"));
        assert_int_equal(run_plain(&c, tool, "--dir", dir, "run", "--", "gpiodetect", NULL), 0);
        assert_non_null(strstr(c.buf, "gpiochip2 [tool-hat] (4 lines)\n"));
        assert_int_equal(run_plain(&c, tool, "--dir", dir, "remove-chip", "gpiochip2", NULL), 0);
        assert_int_equal(run_plain(&c, tool, "--dir", dir, "remove-chip", "gpiochip2", NULL), 1);
}

/* Each test gets fresh chips: gpiochip0 [pinctrl-bcm2711], 54 lines; gpiochip1 [raspberrypi-exp-gpio], 8. */
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                T(test_gpiodetect_and_iteration_list_the_chips),
                T(test_chip_lookup_by_name_label_path_and_number),
                T(test_files_that_are_not_gpio_pass_through),
                T(test_line_info_follows_requests),
                T(test_get_value_with_and_without_active_low),
                T(test_both_edges_in_order_with_monotonic_timestamps),
                T(test_rising_or_falling_only),
                T(test_active_low_inverts_values_and_edges),
                T(test_pulse_and_bounce_helpers),
                T(test_queue_overflow_keeps_the_first_16),
                T(test_double_request_is_ebusy_until_the_holder_dies),
                T(test_output_lines),
                T(test_chip_added_while_a_program_waits_for_it),
                T(test_removed_chip_fails_its_users),
                T(test_control_api_errors),
                T(test_command_line_tool),
        };

        if (argc >= 2 && streq(argv[1], "--client"))
                return client_main(argc - 2, argv + 2);
        /* A client killed by a test must not take us down with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
