/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Water-meter pulses through the emulated GPIO chip (issue 11): a GpioSet
 * (sensors/gpio.c) on an sd-event loop, the real libgpiod 1.6, and
 * tests/preload/gpiosim.c standing in for the kernel. The test re-executes
 * itself with the emulator preloaded; that child runs the GpioSet, adds up
 * the EVENT_WATER_PULSES it gets and prints the running totals ("P count
 * litres") and every other event ("E ..."), while the parent drives the
 * meter's line.
 *
 *  - 100,000 pulses, each with contact bounce on the way in and on the way
 *    out, counted exactly: 100,000 × 10 litres;
 *  - a reed-switch meter whose contact stays closed longer than the debounce
 *    time and bounces when it opens again: one pulse each, not two;
 *  - pulses queued faster than the loop reads them (the child is stopped
 *    while they come): none lost, as long as the kernel's queue held them;
 *    beyond its 16 events the kernel itself drops edges, and the test shows
 *    exactly what is left;
 *  - the chip missing at start: a clear error naming the chip, retries, and
 *    counting once the chip appears (and again after it went away).
 *
 * What the emulation cannot do, and how the test lives with it: the control
 * side stamps each edge with the real CLOCK_MONOTONIC time when it changes
 * the level; a test cannot put an edge "5 ms later" without waiting 5 ms.
 * So the 100,000-pulse train runs in real time with a short debounce
 * (0.5 ms): each pulse is one gpiosim_line_burst() of 8 flips (5 edges of
 * bounce in, 3 out, all within a few microseconds of each other), and the
 * next pulse comes at least a debounce time after the last edge of the one
 * before. That is a faster, more bouncy meter than any real one (1 L/pulse
 * at 30 L/min is 2 Hz), with the same edge pattern. The driver never lets
 * more than 8 edges wait in the 16-event queue, so nothing overflows unless
 * the test means it to.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>

#include "daemon/util.h"
#include "sensors/gpio.h"
#include "tests/lib/gpiosim.h"

/* ---- the child: a GpioSet adding up pulses --------------------------------------------------------------- */

static struct {
        uint64_t pulses, printed;
        double litres;
} counted = { .printed = UINT64_MAX };

static void child_event(GpioSet *g, const struct sensor_event *e, void *userdata)
{
        if (e->type == EVENT_WATER_PULSES) {
                counted.pulses++;
                counted.litres += e->value;
                return;
        }
        printf("E %u %s %g %u\n", e->sensor, event_type_to_string(e->type), e->value, (unsigned)e->flags);
        fflush(stdout);
}

/* The running total, every 10 ms when it changed (a line per pulse would be 100,000 writes). */
static int child_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        if (counted.pulses != counted.printed) {
                printf("P %" PRIu64 " %.0f\n", counted.pulses, counted.litres);
                fflush(stdout);
                counted.printed = counted.pulses;
        }
        sd_event_source_set_time(s, usec + 10 * USEC_PER_MSEC);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int child_main(void)
{
        /* "num kind source;num kind source;…"; sensor ids are S<num>. */
        const char *spec = getenv("WATER_TEST_SENSORS");
        sd_event *e = NULL;
        GpioSet *g = NULL;
        sigset_t ss;
        char *copy, *save = NULL;
        usec_t now;

        unsetenv("JOURNAL_STREAM"); /* log lines on stderr, which the parent reads */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if (sd_event_default(&e) < 0 || sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL) < 0)
                return 2;
        if (gpio_set_new(e, 30 * USEC_PER_MSEC, 100 * USEC_PER_MSEC, &g) < 0)
                return 2;
        gpio_set_set_callback(g, child_event, NULL);
        copy = strdup(spec ? spec : "");
        for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
                unsigned num;
                char kind[32], source[128], id[16];
                struct sensor_source src;
                if (sscanf(tok, "%u %31s %127s", &num, kind, source) != 3 || sensor_source_parse(source, &src, NULL) < 0)
                        return 3;
                snprintf(id, sizeof(id), "S%u", num);
                if (gpio_set_add(g, num, id, sensor_kind_from_string(kind), &src) < 0)
                        return 3;
                sensor_source_done(&src);
        }
        free(copy);
        sd_event_now(e, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(e, NULL, CLOCK_MONOTONIC, now, 1000, child_tick, NULL) < 0)
                return 2;
        gpio_set_start(g);
        printf("READY\n");
        fflush(stdout);
        sd_event_loop(e);
        gpio_set_free(g);
        sd_event_unref(e);
        return 0;
}

/* ---- the parent -------------------------------------------------------------------------------------------- */

struct fixture {
        char dir[64];
        GpioSim *sim;
        pid_t pid;
        int out;
        char *buf; /* everything the child wrote */
        size_t len, alloc;
        uint64_t pulses; /* from its last "P" line */
        double litres;
        size_t parsed; /* how far "P" lines have been parsed */
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char sim[96];

        assert_non_null(f);
        strcpy(f->dir, "/tmp/shouwang-test-water-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(sim, sizeof(sim), "%s/sim", f->dir);
        assert_int_equal(gpiosim_new(sim, &f->sim), 0);
        f->pid = -1;
        f->out = -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        if (f->pid > 0) {
                kill(f->pid, SIGCONT);
                kill(f->pid, SIGKILL);
                waitpid(f->pid, NULL, 0);
        }
        if (f->out >= 0)
                close(f->out);
        gpiosim_destroy(f->sim);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f->buf);
        free(f);
        return 0;
}

static void start_child(struct fixture *f, const char *sensors)
{
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        f->pid = fork();
        assert_true(f->pid >= 0);
        if (f->pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                dup2(p[1], STDERR_FILENO);
                setenv("WATER_TEST_CHILD", "1", 1);
                setenv("WATER_TEST_SENSORS", sensors, 1);
                if (gpiosim_setenv(f->sim, gpiosim_running_with_asan()) < 0)
                        _exit(99);
                execl("/proc/self/exe", "test-water-pulses", NULL);
                _exit(98);
        }
        close(p[1]);
        f->out = p[0];
}

/* Read what the child wrote, for at most timeout_ms (0: only what is there now). False at EOF. */
static bool pump(struct fixture *f, int timeout_ms)
{
        struct pollfd pfd = { .fd = f->out, .events = POLLIN };

        if (poll(&pfd, 1, timeout_ms) <= 0)
                return true;
        if (f->alloc - f->len < 4096) {
                f->alloc = f->alloc ? f->alloc * 2 : 65536;
                f->buf = realloc(f->buf, f->alloc + 1);
                assert_non_null(f->buf);
        }
        ssize_t n = read(f->out, f->buf + f->len, f->alloc - f->len);
        if (n <= 0)
                return false;
        f->len += (size_t)n;
        f->buf[f->len] = '\0';
        /* The newest complete "P" line is the running total. */
        for (char *nl; (nl = memchr(f->buf + f->parsed, '\n', f->len - f->parsed)); f->parsed = (size_t)(nl - f->buf) + 1) {
                unsigned long long p;
                double l;
                if (sscanf(f->buf + f->parsed, "P %llu %lf", &p, &l) == 2) {
                        f->pulses = p;
                        f->litres = l;
                }
        }
        return true;
}

/* Wait until the child's output after *pos contains needle; *pos moves past it. */
static bool wait_output(struct fixture *f, const char *needle, size_t *pos, int timeout_ms)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)timeout_ms * USEC_PER_MSEC;

        for (;;) {
                char *hit = f->buf ? strstr(f->buf + (pos ? *pos : 0), needle) : NULL;
                if (hit) {
                        if (pos)
                                *pos = (size_t)(hit - f->buf) + strlen(needle);
                        return true;
                }
                usec_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= end || !pump(f, (int)((end - now) / USEC_PER_MSEC) + 1))
                        return false;
        }
}

static unsigned count_output(struct fixture *f, const char *needle)
{
        unsigned n = 0;

        for (const char *p = f->buf; p && (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/*
 * Wait until the child has counted `expected` pulses, then a little longer, so a count that goes past it
 * is seen too. Fails with what it got (and the emulator's view of the line) otherwise.
 */
static void expect_pulses(struct fixture *f, const char *chip, unsigned line, uint64_t expected, double litres,
                          int timeout_ms)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)timeout_ms * USEC_PER_MSEC;

        while (f->pulses < expected && now_usec(CLOCK_MONOTONIC) < end)
                if (!pump(f, 20))
                        break;
        /* Two ticks of the child's report and a debounce period or two more. */
        for (int i = 0; i < 10; i++)
                pump(f, 10);
        if (f->pulses != expected || f->litres != litres) {
                struct gpiosim_line_status st = { 0 };
                (void)gpiosim_line_get(f->sim, chip, line, &st);
                fail_msg("counted %" PRIu64 " pulses (%.0f L), expected %" PRIu64 " (%.0f L); the emulator "
                         "delivered %" PRIu64 " edges, dropped %" PRIu64 ", %u still queued",
                         f->pulses, f->litres, expected, litres, st.delivered, st.dropped, st.queued);
        }
}

static int64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_ns(int64_t t)
{
        struct timespec ts = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

/* Until the line's queue has room for `room` more edges (the reader is behind), waiting politely. */
static void wait_room(struct fixture *f, const char *chip, unsigned line, unsigned room)
{
        struct gpiosim_line_status st;
        int64_t deadline = mono_ns() + 10 * (int64_t)1000000000;

        for (;;) {
                assert_int_equal(gpiosim_line_get(f->sim, chip, line, &st), 0);
                if (st.queued + room <= GPIOSIM_KFIFO_EVENTS)
                        return;
                if (mono_ns() > deadline)
                        fail_msg("the reader of %s line %u is stuck with %u events queued", chip, line, st.queued);
                sleep_until_ns(mono_ns() + 50000);
        }
}

/*
 * `n` pulses, each one burst of 8 flips from idle: 5 edges of bounce on the way in (in, out, in, out, in)
 * and 3 on the way out (out, in, out), microseconds apart; the next pulse at least `gap_ns` after the last
 * edge. With flow control: never more than 16 edges queued.
 */
static void bouncy_pulses(struct fixture *f, const char *chip, unsigned line, unsigned n, int64_t gap_ns)
{
        int64_t next = 0;

        for (unsigned i = 0; i < n; i++) {
                wait_room(f, chip, line, 8);
                if (next)
                        sleep_until_ns(next);
                int dropped = gpiosim_line_burst(f->sim, chip, line, 8);
                next = mono_ns() + gap_ns;
                if (dropped != 0)
                        fail_msg("pulse %u: %d edges dropped by the emulated kernel queue", i, dropped);
                /* Keep reading the child's output so it never blocks on a full pipe. */
                if (i % 256 == 0)
                        pump(f, 0);
        }
}

static void start_meter(struct fixture *f, const char *chip, const char *label, unsigned lines, const char *spec,
                        const char *sensor_num)
{
        char avail[64];
        size_t pos = 0;

        assert_int_equal(gpiosim_chip_add(f->sim, chip, label, lines), 0);
        start_child(f, spec);
        snprintf(avail, sizeof(avail), "E %s availability 1 0", sensor_num);
        assert_true(wait_output(f, avail, &pos, 5000));
        assert_true(wait_output(f, "READY", &pos, 2000));
}

static void test_100000_bouncing_pulses_count_exactly(void **state)
{
        struct fixture *f = *state;

        start_meter(f, "gpiochip0", "pinctrl-bcm2711", 54, "21 water_meter gpio:gpiochip0:27:litres=10:debounce=0.5ms",
                    "21");
        usec_t t0 = now_usec(CLOCK_MONOTONIC);
        bouncy_pulses(f, "gpiochip0", 27, 100000, 550 * 1000);
        expect_pulses(f, "gpiochip0", 27, 100000, 1000000, 30000);
        struct gpiosim_line_status st;
        assert_int_equal(gpiosim_line_get(f->sim, "gpiochip0", 27, &st), 0);
        assert_int_equal(st.dropped, 0);
        assert_int_equal(st.delivered, 800000);
        assert_int_equal(st.level, 0);
        print_message("100,000 pulses (800,000 edges) in %.1f s\n",
                      (double)(now_usec(CLOCK_MONOTONIC) - t0) / USEC_PER_SEC);
        /* Nothing but pulses came out: no availability flaps, no errors. */
        assert_int_equal(count_output(f, "GPIO:"), 0);
        assert_int_equal(count_output(f, "availability 0"), 0);
}

static void test_reed_contact_held_closed_and_bouncing_open_is_one_pulse(void **state)
{
        struct fixture *f = *state;

        /* A reed switch to ground with a pull-up: closed = low = active. Debounce 2 ms. */
        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip0", "pinctrl-bcm2711", 54), 0);
        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip0", 27, 1), 0);
        start_child(f, "22 water_meter gpio:gpiochip0:27:active_low:pull_up:10L:debounce=2ms");
        assert_true(wait_output(f, "READY", NULL, 5000));
        for (int i = 0; i < 200; i++) {
                wait_room(f, "gpiochip0", 27, 8);
                /* The magnet comes: the contact closes with bounce and stays closed 5 ms... */
                assert_int_equal(gpiosim_line_burst(f->sim, "gpiochip0", 27, 5), 0);
                sleep_until_ns(mono_ns() + 5000000);
                /* ...and opens again, bouncing (out, in, out), then stays open 5 ms. */
                assert_int_equal(gpiosim_line_burst(f->sim, "gpiochip0", 27, 3), 0);
                sleep_until_ns(mono_ns() + 5000000);
        }
        expect_pulses(f, "gpiochip0", 27, 200, 2000, 10000);
}

static void test_pulses_queued_while_the_loop_is_busy_are_all_counted(void **state)
{
        struct fixture *f = *state;
        struct gpiosim_line_status st;
        uint64_t before;

        start_meter(f, "gpiochip0", "pinctrl-bcm2711", 54, "23 water_meter gpio:gpiochip0:27:litres=10:debounce=1ms",
                    "23");
        bouncy_pulses(f, "gpiochip0", 27, 10, 1100 * 1000);
        expect_pulses(f, "gpiochip0", 27, 10, 100, 5000);

        /* The loop is busy (an fsync on a slow SD card, say) while 8 clean pulses come, 3 ms apart: 16
         * edges wait in the kernel's queue and are read at once. Each is a pulse. */
        assert_int_equal(gpiosim_wait_drained(f->sim, "gpiochip0", 27, 5 * USEC_PER_SEC), 0);
        assert_int_equal(kill(f->pid, SIGSTOP), 0);
        assert_int_equal(gpiosim_line_pulse(f->sim, "gpiochip0", 27, 8, 3 * USEC_PER_MSEC), 0);
        assert_int_equal(gpiosim_line_get(f->sim, "gpiochip0", 27, &st), 0);
        assert_int_equal(st.queued, 16);
        assert_int_equal(kill(f->pid, SIGCONT), 0);
        expect_pulses(f, "gpiochip0", 27, 18, 180, 5000);

        /* The same with two bouncing pulses (8 edges each) behind the busy loop. */
        assert_int_equal(gpiosim_wait_drained(f->sim, "gpiochip0", 27, 5 * USEC_PER_SEC), 0);
        assert_int_equal(kill(f->pid, SIGSTOP), 0);
        assert_int_equal(gpiosim_line_burst(f->sim, "gpiochip0", 27, 8), 0);
        sleep_until_ns(mono_ns() + 1100 * 1000);
        assert_int_equal(gpiosim_line_burst(f->sim, "gpiochip0", 27, 8), 0);
        assert_int_equal(kill(f->pid, SIGCONT), 0);
        expect_pulses(f, "gpiochip0", 27, 20, 200, 5000);

        /* Beyond 16 edges the kernel's v1 queue itself drops the newest ones (the emulator does the same):
         * 12 pulses are 24 edges, the last 8 never reach us. What was delivered is counted, no more and no
         * less, and the pulses after the busy spell count again. */
        assert_int_equal(gpiosim_wait_drained(f->sim, "gpiochip0", 27, 5 * USEC_PER_SEC), 0);
        assert_int_equal(gpiosim_line_get(f->sim, "gpiochip0", 27, &st), 0);
        before = st.dropped;
        assert_int_equal(kill(f->pid, SIGSTOP), 0);
        assert_int_equal(gpiosim_line_pulse(f->sim, "gpiochip0", 27, 12, 3 * USEC_PER_MSEC), 0);
        assert_int_equal(gpiosim_line_get(f->sim, "gpiochip0", 27, &st), 0);
        assert_int_equal(st.dropped - before, 8);
        assert_int_equal(kill(f->pid, SIGCONT), 0);
        expect_pulses(f, "gpiochip0", 27, 28, 280, 5000);
        sleep_until_ns(mono_ns() + 2 * 1000000);
        bouncy_pulses(f, "gpiochip0", 27, 5, 1100 * 1000);
        expect_pulses(f, "gpiochip0", 27, 33, 330, 5000);
}

static void test_chip_missing_at_start_is_named_retried_and_then_counted(void **state)
{
        struct fixture *f = *state;
        size_t pos = 0;

        start_child(f, "24 water_meter gpio:gpiochip1:3:active_low:litres=10:debounce=1ms");
        assert_true(wait_output(f, "E 24 availability 0 0", &pos, 5000));
        assert_true(wait_output(f, "READY", NULL, 2000));
        /* Said once, naming the chip, the sensor and the line, and what to do. */
        assert_true(wait_output(f, "GPIO: cannot open chip gpiochip1 for sensor S24 (line 3)", NULL, 2000));
        assert_true(wait_output(f, "check the chip name with gpiodetect", NULL, 100));
        assert_true(wait_output(f, "retrying every 0.1s", NULL, 100));
        pump(f, 350); /* three retries */
        assert_int_equal(count_output(f, "cannot open chip gpiochip1"), 1);
        assert_int_equal(f->pulses, 0);

        /* The HAT is seated: the chip appears; the meter's output idles high (open collector, pull-up). */
        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip1", "meter-hat", 8), 0);
        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip1", 3, 1), 0);
        assert_true(wait_output(f, "E 24 availability 1 0", &pos, 3000));
        assert_true(wait_output(f, "GPIO: gpiochip1 line 3 (sensor S24) is watched again", NULL, 1000));
        bouncy_pulses(f, "gpiochip1", 3, 50, 1100 * 1000);
        expect_pulses(f, "gpiochip1", 3, 50, 500, 5000);

        /* The HAT is pulled out and put back: lost, retried, counting again from where it was. */
        assert_int_equal(gpiosim_chip_remove(f->sim, "gpiochip1"), 0);
        assert_true(wait_output(f, "E 24 availability 0 0", &pos, 3000));
        assert_true(wait_output(f, "GPIO: lost gpiochip1 line 3 (sensor S24)", NULL, 1000));
        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip1", "meter-hat", 8), 0);
        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip1", 3, 1), 0);
        assert_true(wait_output(f, "E 24 availability 1 0", &pos, 3000));
        bouncy_pulses(f, "gpiochip1", 3, 50, 1100 * 1000);
        expect_pulses(f, "gpiochip1", 3, 100, 1000, 5000);
}

int main(void)
{
        if (getenv("WATER_TEST_CHILD"))
                return child_main();

        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_100000_bouncing_pulses_count_exactly, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reed_contact_held_closed_and_bouncing_open_is_one_pulse, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_pulses_queued_while_the_loop_is_busy_are_all_counted, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_chip_missing_at_start_is_named_retried_and_then_counted, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
