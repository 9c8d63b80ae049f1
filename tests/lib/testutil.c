/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers for integration tests (see testutil.h). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "daemon/util.h"
#include "tests/lib/testutil.h"

void tu_mkdtemp(const char *name, char *buf, size_t size)
{
        snprintf(buf, size, "/tmp/shouwang-test-%s-XXXXXX", name);
        assert_non_null(mkdtemp(buf));
}

void tu_rmdir(const char *dir)
{
        char cmd[256];

        if (getenv("KEEP_TEST_DIR"))
                return;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

int tu_free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
        port = ntohs(a.sin_port);
        close(fd);
        return port;
}

bool tu_port_open(int port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        return ok;
}

void tu_write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

/* The repository's top: $SHOUWANG_TOP (set by tests/run-tests.sh), else where the test was started. */
static const char *top_dir(void)
{
        static char cwd[1024];
        const char *top = getenv("SHOUWANG_TOP");

        if (top)
                return top;
        if (!cwd[0] && !getcwd(cwd, sizeof(cwd)))
                strcpy(cwd, ".");
        return cwd;
}

const char *tu_build_path(const char *rel, char *buf, size_t size)
{
        const char *build = getenv("BUILD");
        snprintf(buf, size, "%s/%s/%s", top_dir(), build ? build : "build", rel);
        return buf;
}

const char *tu_top_path(const char *rel, char *buf, size_t size)
{
        snprintf(buf, size, "%s/%s", top_dir(), rel);
        return buf;
}

int tu_run(const char *cmd, char *out, size_t size)
{
        FILE *p = popen(cmd, "r");
        size_t n = 0;
        int st;

        assert_non_null(p);
        if (out && size) {
                n = fread(out, 1, size - 1, p);
                out[n] = '\0';
        } else {
                char sink[4096];
                while (fread(sink, 1, sizeof(sink), p) > 0)
                        ;
        }
        st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool tu_wait_file(const char *path, const char *what, size_t *pos, int timeout_ms)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)timeout_ms * USEC_PER_MSEC;

        do {
                char *data = NULL;
                size_t n = 0;
                if (read_full_file(path, &data, &n) == 0) {
                        size_t from = pos && *pos <= n ? *pos : 0;
                        char *hit = strstr(data + from, what);
                        if (hit && pos)
                                *pos = (size_t)(hit - data) + strlen(what);
                        free(data);
                        if (hit)
                                return true;
                }
                usleep(20000);
        } while (now_usec(CLOCK_MONOTONIC) < end);
        return false;
}

unsigned tu_count_in_file(const char *path, const char *what)
{
        char *data = NULL;
        unsigned n = 0;

        if (read_full_file(path, &data, NULL) < 0)
                return 0;
        for (const char *p = data; (p = strstr(p, what)); p += strlen(what))
                n++;
        free(data);
        return n;
}

void tu_broker_start(struct tu_broker *b, const char *dir, int port)
{
        char conf[192], log[192], text[512];

        snprintf(b->dir, sizeof(b->dir), "%s", dir);
        if (port)
                b->port = port;
        else if (!b->port)
                b->port = tu_free_port();
        snprintf(conf, sizeof(conf), "%s/mosquitto.conf", dir);
        snprintf(log, sizeof(log), "%s/mosquitto.log", dir);
        /* As root, Mosquitto would drop to its own user, which cannot read a
         * test's private directory: a test broker keeps the test's user. */
        snprintf(text, sizeof(text),
                 "listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence true\n"
                 "persistence_location %s/\n%s",
                 b->port, dir, geteuid() == 0 ? "user root\n" : "");
        tu_write_file(conf, text);
        b->pid = fork();
        assert_true(b->pid >= 0);
        if (b->pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                dup2(fd, 1);
                dup2(fd, 2);
                execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, NULL);
                _exit(127);
        }
        for (int i = 0; i < 300 && !tu_port_open(b->port); i++)
                usleep(10000);
        assert_true(tu_port_open(b->port));
}

void tu_broker_stop(struct tu_broker *b)
{
        if (b->pid > 0) {
                kill(b->pid, SIGTERM);
                waitpid(b->pid, NULL, 0);
                b->pid = -1;
        }
}

pid_t tu_spawn(const char *log, char *const *env, const char *prog, ...)
{
        char *argv[32];
        va_list ap;
        size_t n = 0;
        pid_t pid;

        argv[n++] = (char *)prog;
        va_start(ap, prog);
        while (n < ELEMENTSOF(argv) - 1 && (argv[n] = va_arg(ap, char *)))
                n++;
        va_end(ap);
        argv[n] = NULL;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                dup2(fd, 1);
                dup2(fd, 2);
                for (char *const *e = env; e && *e; e++)
                        putenv(*e);
                execv(prog, argv);
                _exit(127);
        }
        return pid;
}

int tu_stop(pid_t pid, int sig, int timeout_ms)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)timeout_ms * USEC_PER_MSEC;
        int status;

        kill(pid, sig);
        while (now_usec(CLOCK_MONOTONIC) < end) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                usleep(10000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
}
