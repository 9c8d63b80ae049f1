/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The disk under the figures (make bench): how long fdatasync() of one
 * freshly written 4 KiB page takes in the bench's work directory, which is
 * what one durable SQLite WAL commit (synchronous=FULL) waits for. Measured
 * in every run because on a shared virtual machine it changes from one hour
 * to the next (0.2 ms one day, 2 ms the next), and every latency figure
 * that commits first carries it.
 *
 *   disk-probe DIR [COUNT]
 *
 * Prints "n=… p50_ms=… p90_ms=… p99_ms=… max_ms=…". Pauses 2 ms between
 * syncs, as the bench's commits come one at a time.
 */

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double percentile(const double *v, int n, double q)
{
        int k = (int)ceil(q * n);
        return v[(k < 1 ? 1 : k > n ? n : k) - 1];
}

int main(int argc, char **argv)
{
        char path[4096], page[4096];
        int n = argc > 2 ? atoi(argv[2]) : 200, fd;
        double *v;

        if (argc < 2 || n < 1 || n > 100000) {
                fprintf(stderr, "usage: disk-probe DIR [COUNT]\n");
                return 2;
        }
        snprintf(path, sizeof(path), "%s/disk-probe-%d", argv[1], (int)getpid());
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        v = calloc((size_t)n, sizeof(double));
        if (fd < 0 || !v) {
                perror("disk-probe");
                return 1;
        }
        memset(page, 0x5a, sizeof(page));
        for (int i = 0; i < n; i++) {
                page[0] = (char)i;
                if (pwrite(fd, page, sizeof(page), (off_t)(i % 256) * (off_t)sizeof(page)) != (ssize_t)sizeof(page)) {
                        perror("disk-probe: write");
                        return 1;
                }
                double t = now_ms();
                if (fdatasync(fd) < 0) {
                        perror("disk-probe: fdatasync");
                        return 1;
                }
                v[i] = now_ms() - t;
                usleep(2000);
        }
        close(fd);
        unlink(path);
        qsort(v, (size_t)n, sizeof(double), cmp_double);
        printf("n=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", n, percentile(v, n, 0.5),
               percentile(v, n, 0.9), percentile(v, n, 0.99), v[n - 1]);
        free(v);
        return 0;
}
