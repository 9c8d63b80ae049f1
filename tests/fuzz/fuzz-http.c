/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for what a phone (or anyone on the building's Wi-Fi) can
 * send the "I'm going" pages: http_head_end() and http_parse_head() on the
 * bytes as they arrive, then http_form_get() on the query and on whatever
 * follows the head as a form, for every field the pages read. Checks the
 * parser's promises: a parsed request has a known method, a path that starts
 * with '/', a query inside the head, a body length within the limit; a form
 * value is valid UTF-8 without NUL bytes. tests/unit/test-http.c replays
 * tests/fuzz/corpus/http/ under the sanitizers in make check.
 */

#include <stdint.h>

#include "daemon/http.h"

int fuzz_http_one(const uint8_t *data, size_t size);

int fuzz_http_one(const uint8_t *data, size_t size)
{
        static const char *const fields[] = { "c", "t", "action", "outcome", "note" };
        char *buf = malloc(size + 1), path[HTTP_TARGET_MAX + 1];
        struct http_request req;
        const char *why = NULL;

        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        size_t end = http_head_end(buf, size);
        if (end > size)
                abort();
        if (end > 0 && end <= HTTP_HEAD_MAX) {
                int r = http_parse_head(buf, end, path, sizeof(path), &req, &why);
                if (r < 0) {
                        if (!why || !*why || r > -400 || r < -599)
                                abort();
                } else {
                        if (!streq(req.method, "GET") && !streq(req.method, "HEAD") && !streq(req.method, "POST"))
                                abort();
                        if (req.path[0] != '/' || (*req.query && (req.query < buf || req.query > buf + end)))
                                abort();
                        if (req.content_length > HTTP_BODY_MAX)
                                abort();
                        size_t body_len = size - end < req.content_length ? size - end : req.content_length;
                        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                                char *v = NULL;
                                const char *srcs[] = { req.query, buf + end };
                                size_t lens[] = { strlen(req.query), body_len };
                                for (size_t k = 0; k < 2; k++) {
                                        int q = http_form_get(srcs[k], lens[k], fields[i], &v);
                                        if (q == 0) {
                                                char *e = html_escape(v), *u = url_escape(v);
                                                if (!e || !u || strchr(e, '<') || strchr(e, '"'))
                                                        abort();
                                                free(e);
                                                free(u);
                                                free(v);
                                        } else if (q != -ENOENT && q != -EINVAL && q != -ENOMEM)
                                                abort();
                                }
                        }
                }
        }
        free(buf);
        return 0;
}

#ifndef FUZZ_HTTP_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        return fuzz_http_one(data, size);
}
#endif
