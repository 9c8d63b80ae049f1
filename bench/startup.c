/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Start-up time (make bench, issue 8 figure 7): exec → READY=1, measured the
 * way systemd sees a Type=notify service start. A private NOTIFY_SOCKET (a
 * datagram socket bound here, as tests/integration/test-daemon-notify.c
 * does), then for each run: the clock (CLOCK_MONOTONIC), fork + exec of the
 * program, and the time until a datagram with READY=1 arrives; the program
 * is then stopped with SIGTERM and reaped before the next run.
 *
 *   startup [--runs N] [--timeout-s S] -- PROGRAM [ARGS…]
 *   startup --exit [--runs N] -- PROGRAM [ARGS…]    exec → exit instead (the baseline)
 *
 * Prints "runs=N min_ms=… p50_ms=… max_ms=…". The program's stdout and
 * stderr are left as they are (the bench redirects them).
 */

#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/util.h"

static uint64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* Wait for READY=1 on fd until deadline; 0, or -ETIMEDOUT, or -ECHILD when the program exited first. */
static int wait_ready(int fd, pid_t pid, uint64_t deadline)
{
        char buf[4096];

        for (;;) {
                uint64_t now = mono_ns();
                if (now >= deadline)
                        return -ETIMEDOUT;
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                int ms = (int)((deadline - now) / 1000000) + 1;
                int r = poll(&pfd, 1, ms > 100 ? 100 : ms);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0) {
                        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
                        if (n > 0) {
                                buf[n] = '\0';
                                for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
                                        if (streq(l, "READY=1"))
                                                return 0;
                        }
                        continue;
                }
                int status;
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return -ECHILD;
        }
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"runs", required_argument, NULL, 'n'},
            {"timeout-s", required_argument, NULL, 't'},
            {"exit", no_argument, NULL, 'x'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        unsigned runs = 5, timeout_s = 30;
        bool until_exit = false;
        char dir[] = "/tmp/shouwang-bench-notify-XXXXXX", path[128];
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        double *ms;
        int c, v, fd = -1;

        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
                switch (c) {
                case 'n':
                case 't':
                        if (safe_atoi(optarg, &v) < 0 || v < 1 || v > 1000) {
                                fprintf(stderr, "startup: bad number '%s'\n", optarg);
                                return 2;
                        }
                        if (c == 'n')
                                runs = (unsigned)v;
                        else
                                timeout_s = (unsigned)v;
                        break;
                case 'x':
                        until_exit = true;
                        break;
                case 'h':
                        printf("usage: startup [--runs N] [--timeout-s S] [--exit] -- PROGRAM [ARGS…]\n");
                        return 0;
                default:
                        return 2;
                }
        }
        if (optind >= argc) {
                fprintf(stderr, "usage: startup [--runs N] [--timeout-s S] [--exit] -- PROGRAM [ARGS…]\n");
                return 2;
        }
        ms = calloc(runs, sizeof(double));
        if (!ms)
                return 1;

        if (!until_exit) {
                if (!mkdtemp(dir)) {
                        perror("startup: mkdtemp");
                        return 1;
                }
                snprintf(path, sizeof(path), "%s/notify", dir);
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
                fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                        perror("startup: notify socket");
                        return 1;
                }
                setenv("NOTIFY_SOCKET", path, 1);
        } else
                unsetenv("NOTIFY_SOCKET");

        int ret = 0;
        for (unsigned i = 0; i < runs; i++) {
                uint64_t t0 = mono_ns(), t1;
                pid_t pid = fork();
                if (pid < 0) {
                        perror("startup: fork");
                        return 1;
                }
                if (pid == 0) {
                        /* Our stdout carries the result line only. */
                        (void)dup2(STDERR_FILENO, STDOUT_FILENO);
                        execv(argv[optind], argv + optind);
                        _exit(127);
                }
                int status = 0;
                if (until_exit) {
                        (void)waitpid(pid, &status, 0);
                        t1 = mono_ns();
                        if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) {
                                fprintf(stderr, "startup: %s did not run\n", argv[optind]);
                                return 1;
                        }
                } else {
                        int r = wait_ready(fd, pid, t0 + (uint64_t)timeout_s * 1000000000ull);
                        t1 = mono_ns();
                        if (r < 0) {
                                fprintf(stderr, "startup: no READY=1 from %s: %s\n", argv[optind],
                                        r == -ECHILD ? "it exited" : strerror(-r));
                                ret = 1;
                        }
                        kill(pid, SIGTERM);
                        for (int k = 0; k < 100 && waitpid(pid, &status, WNOHANG) == 0; k++)
                                usleep(50 * 1000);
                        if (waitpid(pid, &status, WNOHANG) == 0) {
                                kill(pid, SIGKILL);
                                (void)waitpid(pid, &status, 0);
                        }
                        if (ret)
                                break;
                }
                ms[i] = (double)(t1 - t0) / 1e6;
        }
        if (fd >= 0) {
                close(fd);
                unlink(path);
                rmdir(dir);
        }
        if (ret)
                return ret;
        qsort(ms, runs, sizeof(double), cmp_double);
        printf("runs=%u min_ms=%.2f p50_ms=%.2f max_ms=%.2f\n", runs, ms[0], ms[(runs - 1) / 2], ms[runs - 1]);
        free(ms);
        return 0;
}
