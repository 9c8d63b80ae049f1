/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The INI config: one table of keys, inih with line numbers, every error reported. */

#include "daemon/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <ini.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_DATABASE "/var/lib/shouwang/shouwang.db"
/* Debian's inih reads at most this many characters per line. */
#define LINE_MAX_CHARS 199

enum key_type {
        T_STRING,
        T_PATH,     /* an absolute or relative file name */
        T_DURATION, /* 30s, 5min, 12h */
        T_INT,
        T_BOOL,
        T_LOCALE,   /* zh_CN | en */
        T_URI,      /* tcp:// ssl:// mqtt:// mqtts:// */
        T_TOPIC_LEVEL,
        T_LISTEN,   /* host:port */
        T_URL,      /* http:// https:// */
        T_TIMEZONE,
        T_LOG_LEVEL,
};

struct key_def {
        const char *section, *key;
        enum key_type type;
        size_t offset;
        const char *def;
        int min, max;
        const char *description;
};

#define K(sec, name, type, field, def, desc) { sec, name, type, offsetof(Config, field), def, 0, 0, desc }
#define KI(sec, name, field, def, lo, hi, desc) { sec, name, T_INT, offsetof(Config, field), def, lo, hi, desc }

static const struct key_def keys[] = {
        K("general", "gateway", T_TOPIC_LEVEL, gateway, NULL,
          "this gateway's id in MQTT topics (default: the host name); one topic level: no /, +, #"),
        K("general", "database", T_PATH, database, DEFAULT_DATABASE,
          "the SQLite database file (shouwangd --database FILE overrides it)"),
        K("general", "timezone", T_TIMEZONE, timezone, NULL,
          "time zone for time-of-day rules, e.g. Asia/Shanghai (default: the system's); must exist in "
          "/usr/share/zoneinfo"),
        K("general", "locale", T_LOCALE, locale, "zh_CN", "language of messages: zh_CN or en"),
        K("general", "templates_dir", T_PATH, templates_dir, SHOUWANG_SYSCONFDIR "/shouwang/templates",
          "message templates that override the shipped ones"),
        K("general", "log_level", T_LOG_LEVEL, log_level, "info", "debug, info, notice, warning or err"),

        K("mqtt", "enabled", T_BOOL, mqtt_enabled, "yes", "use MQTT sensors and the mqtt channel"),
        K("mqtt", "uri", T_URI, mqtt_uri, "tcp://localhost:1883",
          "the broker: tcp://HOST:PORT or ssl://HOST:PORT (mqtt://, mqtts:// too); ssl:// needs ca_file"),
        K("mqtt", "client_id", T_STRING, mqtt_client_id, NULL, "fixed client id (default: shouwang-GATEWAY)"),
        K("mqtt", "username", T_STRING, mqtt_username, NULL, "user name at the broker"),
        K("mqtt", "password_file", T_PATH, mqtt_password_file, NULL, "file whose first line is the password"),
        K("mqtt", "ca_file", T_PATH, mqtt_ca_file, NULL, "CA certificate for ssl://"),
        K("mqtt", "cert_file", T_PATH, mqtt_cert_file, NULL, "client certificate for ssl://"),
        K("mqtt", "key_file", T_PATH, mqtt_key_file, NULL, "client key for ssl://"),
        K("mqtt", "keepalive", T_DURATION, mqtt_keepalive, "30s", "MQTT keepalive"),
        K("mqtt", "base_topic", T_TOPIC_LEVEL, mqtt_base_topic, "shouwang", "first level of shouwang's topics"),
        K("mqtt", "reconnect_max", T_DURATION, mqtt_reconnect_max, "60s", "longest wait between reconnect attempts"),

        K("http", "listen", T_LISTEN, http_listen, "0.0.0.0:8080",
          "address of the \"I'm going\" pages (ADDRESS:PORT, [::]:8080 for IPv6; no: no pages)"),
        K("http", "public_url", T_URL, http_public_url, NULL,
          "base of the links phones open, e.g. http://192.168.1.20:8080 (default: listen's address, or the "
          "gateway's first IPv4 address when listen is 0.0.0.0 or [::])"),

        K("gpio", "enabled", T_BOOL, gpio_enabled, "yes", "use GPIO sensors"),
        K("gpio", "debounce", T_DURATION, gpio_debounce, "30ms", "default debounce of GPIO sensors"),
        K("gpio", "retry_interval", T_DURATION, gpio_retry_interval, "30s",
          "how often a missing chip or busy line is tried again"),

        K("store", "commit_interval", T_DURATION, store_commit_interval, "1s",
          "events are written in batches this far apart"),
        KI("store", "events_keep_days", store_events_keep_days, "400", 1, 36500, "how long sensor events are kept"),

        K("escalation", "tier_timeout_critical", T_DURATION, tier_timeout_critical, "5min",
          "critical alert: next tier when nobody acknowledged in this time"),
        K("escalation", "tier_timeout_warning", T_DURATION, tier_timeout_warning, "30min",
          "warning: next tier when nobody acknowledged in this time"),
        K("escalation", "reminder_interval", T_DURATION, reminder_interval, "15min",
          "reminders to whoever is going, until resolved"),
        K("escalation", "token_lifetime", T_DURATION, token_lifetime, "3d", "how long an acknowledgement link works"),
};

struct sub_key {
        const char *key;
        const char *description;
};
static const struct sub_key webhook_keys[] = {
        { "url", "where to POST, e.g. https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…" },
        { "method", "POST (default) or PUT" },
        { "content_type", "default application/json" },
        { "template", "a file with the body, with {placeholders} (default: the alert JSON)" },
        { "header", "an extra header \"Name: value\"; may repeat" },
        { "connect_timeout", "default 5s" },
        { "timeout", "default 15s" },
};
static const struct sub_key exec_keys[] = {
        { "command", "the program and its arguments (no shell), e.g. /usr/local/bin/sms-gammu.sh" },
        { "timeout", "default 30s" },
};

static const char *const sections[] = { "general", "mqtt", "http", "gpio", "store", "escalation", "rules" };

const struct config_key_info *config_keys(size_t *ret_n)
{
        static struct config_key_info info[ELEMENTSOF(keys)];
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                info[i] = (struct config_key_info){ keys[i].section, keys[i].key, keys[i].def, keys[i].description };
        *ret_n = ELEMENTSOF(keys);
        return info;
}

/* ---- errors ------------------------------------------------------------------------------------------------ */

_printf_(3, 4) static void add_error(Config *c, unsigned line, const char *fmt, ...)
{
        char *msg = NULL, *full = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return;
        if (line && asprintf(&full, "%s:%u: %s", c->path ? c->path : "(config)", line, msg) < 0)
                full = NULL;
        if (!line && asprintf(&full, "%s: %s", c->path ? c->path : "(config)", msg) < 0)
                full = NULL;
        free(msg);
        if (!full)
                return;
        char **n = realloc(c->errors, (c->n_errors + 1) * sizeof(char *));
        if (!n) {
                free(full);
                return;
        }
        c->errors = n;
        c->errors[c->n_errors++] = full;
}

size_t config_n_errors(Config *c)
{
        return c ? c->n_errors : 0;
}

void config_print_errors(Config *c, FILE *f)
{
        for (size_t i = 0; c && i < c->n_errors; i++)
                fprintf(f, "%s\n", c->errors[i]);
}

/* Edit distance, for "did you mean". */
static unsigned distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        unsigned d[33][33];

        if (la > 32 || lb > 32)
                return 99;
        for (size_t i = 0; i <= la; i++)
                d[i][0] = (unsigned)i;
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = (unsigned)j;
        for (size_t i = 1; i <= la; i++)
                for (size_t j = 1; j <= lb; j++) {
                        unsigned sub = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
                        unsigned del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
                        d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
                }
        return d[la][lb];
}

/* ---- values ------------------------------------------------------------------------------------------------ */

static int set_string(char **slot, const char *v)
{
        char *c = strdup(v);
        if (!c)
                return -ENOMEM;
        free(*slot);
        *slot = c;
        return 0;
}

static bool valid_topic_level(const char *v)
{
        if (isempty(v))
                return false;
        for (const char *p = v; *p; p++)
                if (*p == '/' || *p == '+' || *p == '#' || (unsigned char)*p < ' ')
                        return false;
        return true;
}

/*
 * Check "HOST[:PORT]" at the start of s: HOST a name, an IPv4 address or an
 * [IPv6] address; PORT 1-65535, required if port_required. Returns what
 * follows, or NULL when it is not an address.
 */
static const char *skip_host_port(const char *s, bool port_required)
{
        const char *p = s;
        int port;

        if (*p == '[') {
                p = strchr(p, ']');
                if (!p || p == s + 1)
                        return NULL;
                p++;
        } else {
                p += strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
                if (p == s)
                        return NULL;
        }
        if (*p != ':')
                return port_required ? NULL : p;
        p++;
        size_t n = strspn(p, "0123456789");
        char digits[8];
        if (n == 0 || n >= sizeof(digits))
                return NULL;
        memcpy(digits, p, n);
        digits[n] = '\0';
        if (safe_atoi(digits, &port) < 0 || port < 1 || port > 65535)
                return NULL;
        return p + n;
}

/* Parse v for key k into c. Returns 0 or -EINVAL with *why set to a static hint. */
static int parse_value(Config *c, const struct key_def *k, const char *v, const char **why)
{
        void *slot = (char *)c + k->offset;
        usec_t d;
        int i, b;

        switch (k->type) {
        case T_STRING:
                return set_string(slot, v);
        case T_PATH:
                if (isempty(v)) {
                        *why = "give a file name";
                        return -EINVAL;
                }
                return set_string(slot, v);
        case T_DURATION:
                if (parse_duration(v, &d) < 0) {
                        *why = "write a duration such as 30s, 5min, 12h or 2d";
                        return -EINVAL;
                }
                *(usec_t *)slot = d;
                return 0;
        case T_INT:
                if (safe_atoi(v, &i) < 0 || i < k->min || i > k->max) {
                        *why = "write a whole number in the allowed range";
                        return -EINVAL;
                }
                *(int *)slot = i;
                return 0;
        case T_BOOL:
                b = parse_yes_no(v);
                if (b < 0 || isempty(v)) {
                        *why = "write yes or no";
                        return -EINVAL;
                }
                *(bool *)slot = b;
                return 0;
        case T_LOCALE:
                if (!streq(v, "zh_CN") && !streq(v, "en")) {
                        *why = "write zh_CN or en";
                        return -EINVAL;
                }
                return set_string(slot, v);
        case T_URI: {
                static const char *const schemes[] = { "tcp://", "ssl://", "mqtt://", "mqtts://" };
                const char *rest = NULL, *end;
                for (size_t j = 0; j < ELEMENTSOF(schemes) && !rest; j++)
                        rest = startswith(v, schemes[j]);
                if (!rest || !(end = skip_host_port(rest, false)) || *end) {
                        *why = "write tcp://HOST:PORT or ssl://HOST:PORT (mqtt:// and mqtts:// work too)";
                        return -EINVAL;
                }
                return set_string(slot, v);
        }
        case T_TOPIC_LEVEL:
                if (!valid_topic_level(v)) {
                        *why = "one MQTT topic level: no '/', '+' or '#'";
                        return -EINVAL;
                }
                return set_string(slot, v);
        case T_LISTEN: {
                /* "no": no pages (phones acknowledge another way, e.g. an app on MQTT). */
                if (streq(v, "no"))
                        return set_string(slot, v);
                const char *end = skip_host_port(v, true);
                if (!end || *end) {
                        *why = "write ADDRESS:PORT with a port from 1 to 65535, e.g. 0.0.0.0:8080, or no for no pages";
                        return -EINVAL;
                }
                return set_string(slot, v);
        }
        case T_URL: {
                const char *rest = startswith(v, "http://"), *end;
                if (!rest)
                        rest = startswith(v, "https://");
                if (!rest || !(end = skip_host_port(rest, false)) || (*end && *end != '/')) {
                        *why = "write a link starting with http:// or https:// and the gateway's address, e.g. "
                               "http://192.168.1.20:8080";
                        return -EINVAL;
                }
                return set_string(slot, v);
        }
        case T_TIMEZONE: {
                char path[256];
                snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", v);
                if (isempty(v) || strstr(v, "..") || access(path, R_OK) < 0) {
                        *why = "not a time zone on this system; write e.g. Asia/Shanghai (see timedatectl list-timezones)";
                        return -EINVAL;
                }
                return set_string(slot, v);
        }
        case T_LOG_LEVEL:
                if (!streq(v, "debug") && !streq(v, "info") && !streq(v, "notice") && !streq(v, "warning") &&
                    !streq(v, "err")) {
                        *why = "write debug, info, notice, warning or err";
                        return -EINVAL;
                }
                return set_string(slot, v);
        }
        return -EINVAL;
}

Config *config_new_default(void)
{
        Config *c = calloc(1, sizeof(*c));
        char host[65] = "gateway";

        if (!c)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const char *why = NULL;
                if (keys[i].def && parse_value(c, &keys[i], keys[i].def, &why) < 0)
                        abort(); /* a default that does not parse is a programming error */
        }
        if (gethostname(host, sizeof(host) - 1) < 0 || !valid_topic_level(host))
                strcpy(host, "gateway");
        c->gateway = strdup(host);
        rules_settings_default(&c->rules);
        if (!c->gateway || asprintf(&c->mqtt_client_id, "shouwang-%s", c->gateway) < 0) {
                c->mqtt_client_id = NULL; /* asprintf leaves it undefined on failure */
                return config_free(c);
        }
        return c;
}

Config *config_free(Config *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].type != T_DURATION && keys[i].type != T_INT && keys[i].type != T_BOOL)
                        free(*(char **)((char *)c + keys[i].offset));
        for (size_t i = 0; i < c->n_webhooks; i++) {
                struct config_webhook *w = &c->webhooks[i];
                free(w->name);
                free(w->url);
                free(w->method);
                free(w->content_type);
                free(w->body_template);
                for (size_t k = 0; k < w->n_headers; k++)
                        free(w->headers[k]);
                free(w->headers);
        }
        free(c->webhooks);
        for (size_t i = 0; i < c->n_execs; i++) {
                free(c->execs[i].name);
                free(c->execs[i].command);
        }
        free(c->execs);
        for (size_t i = 0; i < c->n_errors; i++)
                free(c->errors[i]);
        free(c->errors);
        free(c->path);
        free(c);
        return NULL;
}

/* ---- reading ----------------------------------------------------------------------------------------------- */

struct reader {
        FILE *f;
        unsigned line;
        Config *c;
        unsigned *key_line; /* per table entry: where it was set (0: not set); set twice is an error */
        char section[64];
        unsigned section_line;      /* line of the current [section] header */
        unsigned last_header_line;  /* line of the last [header] the reader saw */
        bool section_reported;      /* an unknown section is reported once, not per key */
};

/* Cut an inline "# comment" off a key = value line. inih itself only knows
 * " ;" comments, and "keepalive = 10s # seconds" would otherwise reach the
 * duration parser. Only a '#' after white space counts: no value we accept
 * (topics, URLs, paths) has one there. */
static void strip_inline_hash_comment(char *s)
{
        for (char *p = strpbrk(s, "=:"); p && *p; p++)
                if (*p == '#' && (p[-1] == ' ' || p[-1] == '\t')) {
                        p[0] = '\n';
                        p[1] = '\0';
                        return;
                }
}

/* inih's reader: one line at a time, so we know where we are (Debian builds
 * inih without INI_HANDLER_LINENO). It also takes care of what inih would
 * get wrong or drop silently:
 *  - indentation is dropped, so an indented "key = value" is a setting and
 *    not a continuation of the previous value (inih's Python-style
 *    multi-line values are never what an installer meant here);
 *  - overlong lines, a '[' without ']', lines that are neither a section,
 *    a key = value, nor a comment are errors, each with its line. */
static char *read_line(char *str, int num, void *stream)
{
        struct reader *rd = stream;
        char *s = fgets(str, num, rd->f);
        bool indented;
        size_t n;
        char *p;

        if (!s)
                return NULL;
        rd->line++;
        n = strlen(s);
        if (n > 0 && s[n - 1] != '\n' && !feof(rd->f)) {
                int ch;
                add_error(rd->c, rd->line,
                          "the line is longer than %d characters — shorten it (put a long webhook body in a template "
                          "file and set template = FILE)",
                          LINE_MAX_CHARS);
                while ((ch = fgetc(rd->f)) != EOF && ch != '\n')
                        ;
                s[0] = '\n';
                s[1] = '\0';
                return s;
        }
        p = s;
        if (rd->line == 1 && startswith(p, "\xef\xbb\xbf"))
                p += 3;
        indented = *p == ' ' || *p == '\t';
        p += strspn(p, " \t");
        memmove(s, p, strlen(p) + 1);

        switch (*s) {
        case '\0':
        case '\n':
        case '\r':
        case '#':
        case ';':
                return s;
        case '[':
                rd->last_header_line = rd->line;
                if (!strchr(s, ']')) {
                        add_error(rd->c, rd->line, "'%.*s': the section name has no closing ']'",
                                  (int)strcspn(s, "\r\n"), s);
                        s[0] = '\n';
                        s[1] = '\0';
                }
                return s;
        }
        if (!strpbrk(s, "=:")) {
                add_error(rd->c, rd->line, "'%.*s' is not a [section], a key = value, or a # comment%s",
                          (int)strcspn(s, "\r\n"), s,
                          indented ? " — a value cannot go on over several lines: write it on one line" : "");
                s[0] = '\n';
                s[1] = '\0';
                return s;
        }
        strip_inline_hash_comment(s);
        return s;
}

static const struct key_def *find_key(const char *section, const char *key)
{
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (streq(keys[i].section, section) && streq(keys[i].key, key))
                        return &keys[i];
        return NULL;
}

static void unknown_key(struct reader *rd, const char *section, const char *key, const char *const *known, size_t n)
{
        const char *best = NULL;
        unsigned best_d = 4;
        char list[512] = "";

        for (size_t i = 0; i < n; i++) {
                unsigned d = distance(key, known[i]);
                if (d < best_d) {
                        best_d = d;
                        best = known[i];
                }
                if (strlen(list) + strlen(known[i]) + 3 < sizeof(list)) {
                        if (*list)
                                strcat(list, ", ");
                        strcat(list, known[i]);
                }
        }
        if (streq(key, "password") && streq(section, "mqtt"))
                add_error(rd->c, rd->line,
                          "[mqtt] password: passwords do not go in the config — put it in a file readable only by "
                          "the shouwang user and set password_file = /etc/shouwang/mqtt.password");
        else if (best)
                add_error(rd->c, rd->line, "[%s] unknown key '%s' — did you mean '%s'? Known keys: %s", section, key,
                          best, list);
        else
                add_error(rd->c, rd->line, "[%s] unknown key '%s' — known keys: %s", section, key, list);
}

static struct config_webhook *webhook_for(Config *c, const char *name, unsigned line)
{
        for (size_t i = 0; i < c->n_webhooks; i++)
                if (streq(c->webhooks[i].name, name))
                        return &c->webhooks[i];
        struct config_webhook *n = realloc(c->webhooks, (c->n_webhooks + 1) * sizeof(*n));
        if (!n)
                return NULL;
        c->webhooks = n;
        n = &c->webhooks[c->n_webhooks];
        *n = (struct config_webhook){ .name = strdup(name), .line = line, .connect_timeout = 5 * USEC_PER_SEC,
                                      .timeout = 15 * USEC_PER_SEC };
        if (!n->name)
                return NULL;
        c->n_webhooks++;
        return n;
}

static struct config_exec *exec_for(Config *c, const char *name, unsigned line)
{
        for (size_t i = 0; i < c->n_execs; i++)
                if (streq(c->execs[i].name, name))
                        return &c->execs[i];
        struct config_exec *n = realloc(c->execs, (c->n_execs + 1) * sizeof(*n));
        if (!n)
                return NULL;
        c->execs = n;
        n = &c->execs[c->n_execs];
        *n = (struct config_exec){ .name = strdup(name), .line = line, .timeout = 30 * USEC_PER_SEC };
        if (!n->name)
                return NULL;
        c->n_execs++;
        return n;
}

static bool valid_channel_name(const char *n)
{
        if (isempty(n))
                return false;
        for (const char *p = n; *p; p++)
                if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
                        return false;
        return true;
}

static int handle_webhook(struct reader *rd, const char *section, const char *key, const char *value)
{
        struct config_webhook *w = webhook_for(rd->c, section, rd->section_line);
        usec_t d;

        if (!w)
                return 0;
        if (streq(key, "url")) {
                if (!startswith(value, "http://") && !startswith(value, "https://"))
                        add_error(rd->c, rd->line, "[%s] url: write a link starting with http:// or https://", section);
                else
                        set_string(&w->url, value);
        } else if (streq(key, "method")) {
                if (!streq(value, "POST") && !streq(value, "PUT"))
                        add_error(rd->c, rd->line, "[%s] method: write POST or PUT", section);
                else
                        set_string(&w->method, value);
        } else if (streq(key, "content_type"))
                set_string(&w->content_type, value);
        else if (streq(key, "template")) {
                char *body = NULL;
                int r = read_full_file(value, &body, NULL);
                if (r < 0)
                        add_error(rd->c, rd->line, "[%s] template: cannot read %s: %s", section, value, strerror(-r));
                else {
                        free(w->body_template);
                        w->body_template = body;
                }
        } else if (streq(key, "header")) {
                if (!strchr(value, ':'))
                        add_error(rd->c, rd->line, "[%s] header: write \"Name: value\"", section);
                else {
                        char **n = realloc(w->headers, (w->n_headers + 2) * sizeof(char *));
                        if (n) {
                                w->headers = n;
                                n[w->n_headers] = strdup(value);
                                if (n[w->n_headers])
                                        w->n_headers++;
                                n[w->n_headers] = NULL;
                        }
                }
        } else if (streq(key, "connect_timeout") || streq(key, "timeout")) {
                if (parse_duration(value, &d) < 0 || d == 0)
                        add_error(rd->c, rd->line, "[%s] %s: write a duration such as 5s", section, key);
                else if (streq(key, "timeout"))
                        w->timeout = d;
                else
                        w->connect_timeout = d;
        } else {
                const char *known[ELEMENTSOF(webhook_keys)];
                for (size_t i = 0; i < ELEMENTSOF(webhook_keys); i++)
                        known[i] = webhook_keys[i].key;
                unknown_key(rd, section, key, known, ELEMENTSOF(known));
        }
        return 0;
}

static int handle_exec(struct reader *rd, const char *section, const char *key, const char *value)
{
        struct config_exec *x = exec_for(rd->c, section, rd->section_line);
        usec_t d;

        if (!x)
                return 0;
        if (streq(key, "command")) {
                if (isempty(value))
                        add_error(rd->c, rd->line, "[%s] command: give the program to run", section);
                else
                        set_string(&x->command, value);
        } else if (streq(key, "timeout")) {
                if (parse_duration(value, &d) < 0 || d == 0)
                        add_error(rd->c, rd->line, "[%s] timeout: write a duration such as 30s", section);
                else
                        x->timeout = d;
        } else {
                const char *known[ELEMENTSOF(exec_keys)];
                for (size_t i = 0; i < ELEMENTSOF(exec_keys); i++)
                        known[i] = exec_keys[i].key;
                unknown_key(rd, section, key, known, ELEMENTSOF(known));
        }
        return 0;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
        struct reader *rd = user;
        const struct key_def *k;
        const char *why = NULL;
        const char *name;

        if (!streq(rd->section, section)) {
                snprintf(rd->section, sizeof(rd->section), "%s", section);
                rd->section_line = rd->last_header_line;
                rd->section_reported = false;
        }
        if (isempty(section)) {
                add_error(rd->c, rd->line, "'%s' comes before any [section] — put it under [general], [mqtt], …", key);
                return 1;
        }
        if ((name = startswith(section, "webhook:"))) {
                if (!valid_channel_name(name))
                        add_error(rd->c, rd->line, "[%s]: channel names use letters, digits, '_' and '-'", section);
                else
                        handle_webhook(rd, section, key, value);
                return 1;
        }
        if ((name = startswith(section, "exec:"))) {
                if (!valid_channel_name(name))
                        add_error(rd->c, rd->line, "[%s]: channel names use letters, digits, '_' and '-'", section);
                else
                        handle_exec(rd, section, key, value);
                return 1;
        }
        if (streq(section, "rules")) {
                _cleanup_free_ char *err = NULL;
                int r = rules_settings_set(&rd->c->rules, key, value, &err);
                if (r < 0)
                        add_error(rd->c, rd->line, "[rules] %s: %s", key, err ? err : "not a rules setting");
                return 1;
        }

        bool known_section = false;
        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                known_section = known_section || streq(sections[i], section);
        if (!known_section) {
                const char *best = NULL;
                if (rd->section_reported)
                        return 1;
                rd->section_reported = true;
                unsigned best_d = 4;
                for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                        if (distance(section, sections[i]) < best_d) {
                                best_d = distance(section, sections[i]);
                                best = sections[i];
                        }
                add_error(rd->c, rd->section_line,
                          "unknown section [%s]%s%s%s — sections are [general], [mqtt], [http], [gpio], [store], "
                          "[escalation], [rules], [webhook:NAME], [exec:NAME]",
                          section, best ? " — did you mean [" : "", best ? best : "", best ? "]?" : "");
                return 1;
        }
        k = find_key(section, key);
        if (!k) {
                const char *known[ELEMENTSOF(keys)];
                size_t n = 0;

                /* The commonest slip: the right key under the wrong header. */
                const struct key_def *elsewhere = NULL;
                unsigned n_elsewhere = 0;
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (streq(keys[i].key, key)) {
                                elsewhere = &keys[i];
                                n_elsewhere++;
                        }
                if (n_elsewhere == 1) {
                        add_error(rd->c, rd->line, "[%s] unknown key '%s' — it belongs under [%s]: move it there",
                                  section, key, elsewhere->section);
                        return 1;
                }
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (streq(keys[i].section, section))
                                known[n++] = keys[i].key;
                unknown_key(rd, section, key, known, n);
                return 1;
        }
        if (rd->key_line[k - keys])
                add_error(rd->c, rd->line, "[%s] %s is set twice (line %u too) — keep one", section, key,
                          rd->key_line[k - keys]);
        rd->key_line[k - keys] = rd->line;
        if (parse_value(rd->c, k, value, &why) < 0)
                add_error(rd->c, rd->line, "[%s] %s = %s: %s", section, key, value, why ? why : "not a valid value");
        return 1;
}

static unsigned line_of(const unsigned *key_line, const char *section, const char *key)
{
        const struct key_def *k = find_key(section, key);
        return k ? key_line[k - keys] : 0;
}

/* Things only the whole file can tell; each names the line of the key that is set. */
static void check_whole(Config *c, const unsigned *key_line)
{
        unsigned pw_line = line_of(key_line, "mqtt", "password_file");

        if (c->mqtt_password_file && !c->mqtt_username)
                add_error(c, pw_line, "[mqtt] password_file is set but username is not — set username = …");
        if (c->mqtt_password_file && access(c->mqtt_password_file, R_OK) < 0)
                add_error(c, pw_line, "[mqtt] password_file = %s: cannot read it: %s — check the path, and that the "
                          "shouwang user may read it", c->mqtt_password_file, strerror(errno));
        if ((startswith(c->mqtt_uri, "ssl://") || startswith(c->mqtt_uri, "mqtts://")) && !c->mqtt_ca_file)
                add_error(c, line_of(key_line, "mqtt", "uri"),
                          "[mqtt] uri is ssl:// but ca_file is not set — set ca_file = the broker's CA certificate");
        /* cert_file alone is fine (the key may be in the same PEM file); a key alone is not. */
        if (c->mqtt_key_file && !c->mqtt_cert_file)
                add_error(c, line_of(key_line, "mqtt", "key_file"),
                          "[mqtt] key_file is set but cert_file is not — set cert_file = the client certificate");
        for (size_t i = 0; i < c->n_webhooks; i++)
                if (!c->webhooks[i].url)
                        add_error(c, c->webhooks[i].line, "[%s] has no url — add url = https://…", c->webhooks[i].name);
        for (size_t i = 0; i < c->n_execs; i++)
                if (!c->execs[i].command)
                        add_error(c, c->execs[i].line, "[%s] has no command — add command = /path/to/program",
                                  c->execs[i].name);
}

int config_load(const char *path, Config **ret)
{
        _cleanup_(config_freep) Config *c = config_new_default();
        struct reader rd = { .c = c };
        unsigned key_line[ELEMENTSOF(keys)] = { 0 };
        int r;

        *ret = NULL;
        if (!c)
                return -ENOMEM;
        c->path = strdup(path);
        if (!c->path)
                return -ENOMEM;
        rd.key_line = key_line;
        rd.f = fopen(path, "re");
        if (rd.f) {
                /* fopen() takes a directory, and reading it would give a silent empty config. */
                struct stat st;
                if (fstat(fileno(rd.f), &st) < 0 || S_ISDIR(st.st_mode)) {
                        fclose(rd.f);
                        rd.f = NULL;
                        errno = EISDIR;
                }
        }
        if (!rd.f) {
                r = -errno;
                add_error(c, 0, "cannot read the config: %s%s", strerror(-r),
                          r == -ENOENT ? " — check the path given with -c, or copy examples/shouwang.conf there" : "");
                *ret = TAKE_PTR(c);
                return r;
        }
        r = ini_parse_stream(read_line, &rd, handler, &rd);
        fclose(rd.f);
        if (r == -2)
                return -ENOMEM;
        if (r > 0 && c->n_errors == 0)
                add_error(c, (unsigned)r, "cannot read this line — check for a missing ']' or '='");
        if (!line_of(key_line, "mqtt", "client_id")) {
                /* The default follows the gateway the file may have set. */
                free(c->mqtt_client_id);
                if (asprintf(&c->mqtt_client_id, "shouwang-%s", c->gateway) < 0) {
                        c->mqtt_client_id = NULL;
                        return -ENOMEM;
                }
        }
        check_whole(c, key_line);
        r = c->n_errors ? -EINVAL : 0;
        *ret = TAKE_PTR(c);
        return r;
}

const char *config_database(Config *c)
{
        return c->database;
}

bool config_http_enabled(const Config *c)
{
        return !streq_ptr(c->http_listen, "no");
}

int config_public_url(const Config *c, char **ret)
{
        _cleanup_free_ char *host = NULL;
        const char *colon;
        char addr[INET_ADDRSTRLEN] = "";

        if (c->http_public_url) {
                *ret = strdup(c->http_public_url);
                return *ret ? 0 : -ENOMEM;
        }
        if (!config_http_enabled(c))
                return -EADDRNOTAVAIL;
        /* listen was validated as HOST:PORT. */
        colon = strrchr(c->http_listen, ':');
        host = strndup(c->http_listen, (size_t)(colon - c->http_listen));
        if (!host)
                return -ENOMEM;
        if (!streq(host, "0.0.0.0") && !streq(host, "[::]")) {
                if (asprintf(ret, "http://%s", c->http_listen) < 0) {
                        *ret = NULL;
                        return -ENOMEM;
                }
                return 0;
        }

        /* Listening everywhere: the address phones on the building's network
         * most likely reach is the first non-loopback IPv4 address. */
        struct ifaddrs *ifa = NULL;
        if (getifaddrs(&ifa) < 0)
                return -errno;
        for (struct ifaddrs *i = ifa; i && !*addr; i = i->ifa_next)
                if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_UP) &&
                    !(i->ifa_flags & IFF_LOOPBACK))
                        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, addr, sizeof(addr));
        freeifaddrs(ifa);
        if (!*addr)
                return -EADDRNOTAVAIL;
        if (asprintf(ret, "http://%s%s", addr, colon) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

const struct config_webhook *config_find_webhook(Config *c, const char *name)
{
        for (size_t i = 0; i < c->n_webhooks; i++)
                if (streq(c->webhooks[i].name, name))
                        return &c->webhooks[i];
        return NULL;
}

const struct config_exec *config_find_exec(Config *c, const char *name)
{
        for (size_t i = 0; i < c->n_execs; i++)
                if (streq(c->execs[i].name, name))
                        return &c->execs[i];
        return NULL;
}

void config_print_summary(Config *c, FILE *f)
{
        fprintf(f, "gateway:   %s\n", c->gateway);
        fprintf(f, "database:  %s\n", c->database);
        fprintf(f, "mqtt:      %s%s as %s%s%s\n", c->mqtt_enabled ? "" : "(disabled) ", c->mqtt_uri,
                c->mqtt_client_id, c->mqtt_username ? ", user " : "", strempty(c->mqtt_username));
        fprintf(f, "topics:    %s/%s/alerts/…, …/notify/…, …/ack, …/status\n", c->mqtt_base_topic, c->gateway);
        _cleanup_free_ char *links = NULL;
        if (config_public_url(c, &links) < 0)
                links = NULL;
        fprintf(f, "http:      %s; ack links: %s\n", config_http_enabled(c) ? c->http_listen : "no pages",
                links ? links : "none — set [http] public_url");
        fprintf(f, "gpio:      %s, debounce %llums\n", c->gpio_enabled ? "enabled" : "disabled",
                (unsigned long long)(c->gpio_debounce / USEC_PER_MSEC));
        fprintf(f, "ladder:    next tier after %llu min (critical), %llu min (warning)\n",
                (unsigned long long)(c->tier_timeout_critical / USEC_PER_MINUTE),
                (unsigned long long)(c->tier_timeout_warning / USEC_PER_MINUTE));
        for (size_t i = 0; i < c->n_webhooks; i++)
                fprintf(f, "channel:   %s → %s\n", c->webhooks[i].name, strempty(c->webhooks[i].url));
        for (size_t i = 0; i < c->n_execs; i++)
                fprintf(f, "channel:   %s → %s\n", c->execs[i].name, strempty(c->execs[i].command));
}
