/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GPIO sensors (sensors/gpio.c) through the real libgpiod against the
 * emulated GPIO character device (tests/preload/gpiosim.c): the same code
 * path as on a Pi. The test re-executes itself with the emulator preloaded;
 * that child runs a GpioSet on an sd-event loop and prints every event on
 * stdout, while the parent drives the emulated lines.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>

#include "daemon/util.h"
#include "sensors/gpio.h"
#include "tests/lib/gpiosim.h"

/* ---- the child: a GpioSet printing events ------------------------------------------------------------------ */

static void child_event(GpioSet *g, const struct sensor_event *e, void *userdata)
{
        printf("E %u %s %g %u\n", e->sensor, event_type_to_string(e->type), e->value, (unsigned)e->flags);
        fflush(stdout);
}

static int child_main(void)
{
        /* SENSORS: "num kind source;num kind source;…" */
        const char *spec = getenv("GPIO_TEST_SENSORS");
        sd_event *e = NULL;
        GpioSet *g = NULL;
        sigset_t ss;
        char *copy, *save = NULL;

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
                char kind[32], source[128];
                struct sensor_source src;
                if (sscanf(tok, "%u %31s %127s", &num, kind, source) != 3 || sensor_source_parse(source, &src, NULL) < 0)
                        return 3;
                if (gpio_set_add(g, num, "S", sensor_kind_from_string(kind), &src) < 0)
                        return 3;
                sensor_source_done(&src);
        }
        free(copy);
        gpio_set_start(g);
        printf("READY\n");
        fflush(stdout);
        sd_event_loop(e);
        gpio_set_free(g);
        sd_event_unref(e);
        return 0;
}

/* ---- the parent ------------------------------------------------------------------------------------------- */

struct child {
        pid_t pid;
        int out;
        char buf[1 << 16];
        size_t len;
};

struct fixture {
        char dir[64];
        GpioSim *sim;
        struct child c;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        strcpy(f->dir, "/tmp/shouwang-test-gpio-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        char sim[96];
        snprintf(sim, sizeof(sim), "%s/sim", f->dir);
        assert_int_equal(gpiosim_new(sim, &f->sim), 0);
        f->c.pid = -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        if (f->c.pid > 0) {
                kill(f->c.pid, SIGKILL);
                waitpid(f->c.pid, NULL, 0);
        }
        if (f->c.out >= 0)
                close(f->c.out);
        gpiosim_destroy(f->sim);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static void start_child(struct fixture *f, const char *sensors)
{
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        f->c.pid = fork();
        assert_true(f->c.pid >= 0);
        if (f->c.pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                setenv("GPIO_TEST_CHILD", "1", 1);
                setenv("GPIO_TEST_SENSORS", sensors, 1);
                if (gpiosim_setenv(f->sim, gpiosim_running_with_asan()) < 0)
                        _exit(99);
                execl("/proc/self/exe", "test-gpio-sensors", NULL);
                _exit(98);
        }
        close(p[1]);
        f->c.out = p[0];
        f->c.len = 0;
}

/* Read child output until `needle` appears after offset *pos, or timeout. Returns true if found. */
static bool wait_output(struct fixture *f, const char *needle, size_t *pos, int timeout_ms)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)timeout_ms * USEC_PER_MSEC;

        for (;;) {
                f->c.buf[f->c.len] = '\0';
                char *hit = strstr(f->c.buf + (pos ? *pos : 0), needle);
                if (hit) {
                        if (pos)
                                *pos = (size_t)(hit - f->c.buf) + strlen(needle);
                        return true;
                }
                usec_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= end)
                        return false;
                struct pollfd pfd = { .fd = f->c.out, .events = POLLIN };
                if (poll(&pfd, 1, (int)((end - now) / USEC_PER_MSEC) + 1) > 0) {
                        ssize_t n = read(f->c.out, f->c.buf + f->c.len, sizeof(f->c.buf) - 1 - f->c.len);
                        if (n <= 0)
                                return false;
                        f->c.len += (size_t)n;
                }
        }
}

/* Drain output for ms milliseconds. */
static void settle(struct fixture *f, int ms)
{
        (void)wait_output(f, "\x01never\x01", NULL, ms);
}

static unsigned count(struct fixture *f, const char *needle, size_t from)
{
        unsigned n = 0;
        f->c.buf[f->c.len] = '\0';
        for (const char *p = f->c.buf + from; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* The value of the last "E num type value" line for a sensor. */
static double last_value(struct fixture *f, unsigned num, const char *type)
{
        char pat[64];
        double v = -1;
        snprintf(pat, sizeof(pat), "E %u %s ", num, type);
        f->c.buf[f->c.len] = '\0';
        for (const char *p = f->c.buf; (p = strstr(p, pat)); p += strlen(pat))
                v = strtod(p + strlen(pat), NULL);
        return v;
}

static void test_door_open_close_with_active_low_and_initial_level(void **state)
{
        struct fixture *f = *state;
        size_t pos = 0;

        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip0", "pinctrl-bcm2711", 54), 0);
        /* A contact wired active-low (it pulls the line low when "on", i.e. door open): shut = high = inactive. */
        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip0", 17, 1), 0);
        start_child(f, "7 door gpio:gpiochip0:17:active_low");
        /* Available, then the level at start as state (flag EVENT_INITIAL = 2), before READY. */
        assert_true(wait_output(f, "E 7 availability 1 0", &pos, 5000));
        assert_true(wait_output(f, "E 7 contact 0 2", &pos, 2000));
        assert_true(wait_output(f, "READY", &pos, 2000));

        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip0", 17, 0), 0); /* door opens: line pulled low */
        assert_true(wait_output(f, "E 7 contact 1 0", &pos, 2000));
        settle(f, 60);
        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip0", 17, 1), 0);
        assert_true(wait_output(f, "E 7 contact 0 0", &pos, 2000));

        /* The line is ours, with our consumer name, as gpioinfo would show. */
        struct gpiosim_line_status st;
        assert_int_equal(gpiosim_line_get(f->sim, "gpiochip0", 17, &st), 0);
        assert_true(st.requested);
        assert_string_equal(st.consumer, GPIO_CONSUMER);
}

static void test_bouncing_reed_switch_gives_one_event(void **state)
{
        struct fixture *f = *state;
        size_t pos = 0;

        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip0", "pinctrl", 32), 0);
        start_child(f, "3 leak gpio:gpiochip0:5");
        assert_true(wait_output(f, "E 3 leak 0 2", &pos, 5000));
        size_t from = pos;
        /* 12 flips 1 ms apart, settling wet. */
        assert_int_equal(gpiosim_line_bounce(f->sim, "gpiochip0", 5, 1, 12, USEC_PER_MSEC), 0);
        settle(f, 200);
        assert_int_equal(count(f, "E 3 leak", from), 1);
        assert_true(last_value(f, 3, "leak") == 1);
}

static void test_burst_that_overflows_the_kernel_queue_ends_in_the_right_state(void **state)
{
        struct fixture *f = *state;
        size_t pos = 0;
        struct gpiosim_line_status st;

        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip0", "pinctrl", 32), 0);
        start_child(f, "4 door gpio:gpiochip0:6");
        assert_true(wait_output(f, "E 4 contact 0 2", &pos, 5000));
        /* 41 flips at once: the 16-event queue overflows and 25 edges are lost. */
        assert_true(gpiosim_line_burst(f->sim, "gpiochip0", 6, 41) > 0);
        settle(f, 200);
        assert_int_equal(gpiosim_line_get(f->sim, "gpiochip0", 6, &st), 0);
        assert_int_equal(st.level, 1);
        assert_true(last_value(f, 4, "contact") == 1);
}

static void test_flapping_at_1khz_for_10s_stays_bounded_and_ends_right(void **state)
{
        struct fixture *f = *state;
        size_t pos = 0;

        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip0", "pinctrl", 32), 0);
        start_child(f, "5 door gpio:gpiochip0:7");
        assert_true(wait_output(f, "E 5 contact 0 2", &pos, 5000));
        size_t from = pos;
        /* 10,000 flips 1 ms apart: an even count, so it ends where it started... */
        assert_int_equal(gpiosim_line_toggle(f->sim, "gpiochip0", 7, 10000, USEC_PER_MSEC), 0);
        /* ...then one more, so the final state is "open". */
        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip0", 7, 1), 0);
        settle(f, 300);
        /* At most two reports per 30 ms debounce period, not 10,000. */
        assert_true(count(f, "E 5 contact", from) <= 2 * 10000 / 30 + 4);
        assert_true(last_value(f, 5, "contact") == 1);
        /* The child is still alive and well. */
        assert_int_equal(waitpid(f->c.pid, NULL, WNOHANG), 0);
}

static void test_button_presses_count_even_when_short(void **state)
{
        struct fixture *f = *state;
        size_t pos = 0;

        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip0", "pinctrl", 32), 0);
        start_child(f, "9 button gpio:gpiochip0:22:active_low");
        assert_true(wait_output(f, "E 9 availability 1", &pos, 5000));
        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip0", 22, 1), 0);
        settle(f, 50);
        size_t from = f->c.len;
        /* Three presses of 10 ms (shorter than the debounce), 100 ms apart: active low pulses. */
        assert_int_equal(gpiosim_line_pulse(f->sim, "gpiochip0", 22, 3, 100 * USEC_PER_MSEC), 0);
        settle(f, 200);
        assert_int_equal(count(f, "E 9 button 1", from), 3);
}

static void test_chip_missing_at_start_is_retried_until_it_appears(void **state)
{
        struct fixture *f = *state;
        size_t pos = 0;

        start_child(f, "11 leak gpio:gpiochip1:3");
        assert_true(wait_output(f, "E 11 availability 0", &pos, 5000));
        assert_true(wait_output(f, "READY", &pos, 2000));
        settle(f, 250);
        /* The HAT is seated: the chip appears, the next retry takes the line. */
        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip1", "hat", 8), 0);
        assert_true(wait_output(f, "E 11 availability 1", &pos, 3000));
        assert_true(wait_output(f, "E 11 leak 0 2", &pos, 1000));
        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip1", 3, 1), 0);
        assert_true(wait_output(f, "E 11 leak 1 0", &pos, 2000));
}

static void test_chip_by_label_and_by_path(void **state)
{
        struct fixture *f = *state;
        size_t pos = 0;

        assert_int_equal(gpiosim_chip_add(f->sim, "gpiochip0", "pinctrl-bcm2711", 54), 0);
        start_child(f, "1 motion gpio:pinctrl-bcm2711:4;2 smoke gpio:/dev/gpiochip0:8");
        assert_true(wait_output(f, "E 1 motion 0 2", NULL, 5000));
        assert_true(wait_output(f, "E 2 smoke 0 2", NULL, 1000));
        assert_int_equal(gpiosim_line_set(f->sim, "gpiochip0", 8, 1), 0);
        assert_true(wait_output(f, "E 2 smoke 1 0", &pos, 2000));
}

int main(void)
{
        if (getenv("GPIO_TEST_CHILD"))
                return child_main();

        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_door_open_close_with_active_low_and_initial_level, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bouncing_reed_switch_gives_one_event, setup, teardown),
                cmocka_unit_test_setup_teardown(test_burst_that_overflows_the_kernel_queue_ends_in_the_right_state, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_flapping_at_1khz_for_10s_stays_bounded_and_ends_right, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_button_presses_count_even_when_short, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chip_missing_at_start_is_retried_until_it_appears, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chip_by_label_and_by_path, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
