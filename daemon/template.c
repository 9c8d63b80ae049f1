/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message templates (see template.h): the {placeholder} renderer, finding
 * template files (override dir → shipped dir, locale → zh_CN, key → parent
 * key), and building the title and text of one message from them. No
 * logging here; problems are handed back as sentences.
 */

#include "daemon/template.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>

#define DEFAULT_LOCALE "zh_CN"
#define NAME_MAX_LEN 64

/* ---- a growable string ------------------------------------------------------------------------------- */

struct buf {
        char *s;
        size_t len, alloc;
        bool oom;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
        if (b->oom)
                return;
        if (b->len + n + 1 > b->alloc) {
                size_t na = b->alloc ? b->alloc : 256;
                while (na < b->len + n + 1)
                        na *= 2;
                char *ns = realloc(b->s, na);
                if (!ns) {
                        b->oom = true;
                        return;
                }
                b->s = ns;
                b->alloc = na;
        }
        memcpy(b->s + b->len, s, n);
        b->len += n;
        b->s[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
        buf_put(b, s, strlen(s));
}

static void buf_putc(struct buf *b, char c)
{
        buf_put(b, &c, 1);
}

/* Hand the string out (an empty string rather than NULL); NULL only on OOM. */
static char *buf_steal(struct buf *b)
{
        if (!b->oom && !b->s)
                buf_put(b, "", 0);
        if (b->oom) {
                free(b->s);
                b->s = NULL;
        }
        char *s = b->s;
        *b = (struct buf){};
        return s;
}

static void buf_done(struct buf *b)
{
        free(b->s);
        *b = (struct buf){};
}

/* ---- rendering ---------------------------------------------------------------------------------------- */

/* ASCII only, on purpose: placeholder names are ours, not the reader's language. */
static bool is_name_start(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
        return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* p is just after a '{': the length of a placeholder name closed by '}', else 0. */
static size_t placeholder_len(const char *p)
{
        size_t n = 0;

        if (!is_name_start(p[0]))
                return 0;
        while (is_name_char(p[n]) && n <= NAME_MAX_LEN)
                n++;
        return p[n] == '}' && n <= NAME_MAX_LEN ? n : 0;
}

static const struct template_var *find_var(const struct template_var *vars, size_t n_vars, const char *name,
                                           size_t len)
{
        for (size_t i = 0; i < n_vars; i++)
                if (vars[i].name && strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
                        return &vars[i];
        return NULL;
}

static void put_json_escaped(struct buf *b, const char *v)
{
        for (const unsigned char *p = (const unsigned char *)v; *p; p++)
                switch (*p) {
                case '"':
                        buf_puts(b, "\\\"");
                        break;
                case '\\':
                        buf_puts(b, "\\\\");
                        break;
                case '\n':
                        buf_puts(b, "\\n");
                        break;
                case '\r':
                        buf_puts(b, "\\r");
                        break;
                case '\t':
                        buf_puts(b, "\\t");
                        break;
                default:
                        if (*p < 0x20) {
                                char esc[8];
                                snprintf(esc, sizeof(esc), "\\u%04x", *p);
                                buf_puts(b, esc);
                        } else
                                buf_putc(b, (char)*p); /* UTF-8 as it is: JSON is UTF-8 */
                }
}

static void put_url_escaped(struct buf *b, const char *v)
{
        _cleanup_free_ char *e = url_escape(v);

        if (e)
                buf_puts(b, e);
        else
                b->oom = true;
}

static void put_value(struct buf *b, const char *v, unsigned flags)
{
        if (flags & TEMPLATE_ESCAPE_JSON)
                put_json_escaped(b, v);
        else if (flags & TEMPLATE_ESCAPE_URL)
                put_url_escaped(b, v);
        else if (flags & TEMPLATE_ONE_LINE) {
                /* A header value must not be split: that would let a name inject a header. */
                for (const char *p = v; *p; p++)
                        buf_putc(b, *p == '\r' || *p == '\n' ? ' ' : *p);
        } else
                buf_puts(b, v);
}

int template_render(const char *tpl, const struct template_var *vars, size_t n_vars, unsigned flags, char **ret,
                    char **ret_unknown)
{
        struct buf out = {}, unknown = {};
        size_t line_start = 0;
        unsigned line_placeholders = 0, line_filled = 0;
        int n_unknown = 0;

        for (const char *p = strempty(tpl);; p++) {
                if (*p == '\n' || *p == '\0') {
                        if ((flags & TEMPLATE_DROP_EMPTY_LINES) && line_placeholders > 0 && line_filled == 0)
                                out.len = line_start; /* the line and its newline go */
                        else if (*p == '\n')
                                buf_putc(&out, '\n');
                        if (!out.oom && out.s)
                                out.s[out.len] = '\0';
                        if (*p == '\0')
                                break;
                        line_start = out.len;
                        line_placeholders = line_filled = 0;
                        continue;
                }
                if (p[0] == '{' && p[1] == '{') {
                        buf_putc(&out, '{');
                        p++;
                        continue;
                }
                size_t n = p[0] == '{' ? placeholder_len(p + 1) : 0;
                if (n == 0) {
                        buf_putc(&out, *p);
                        continue;
                }
                const struct template_var *v = find_var(vars, n_vars, p + 1, n);
                line_placeholders++;
                if (v) {
                        if (!isempty(v->value)) {
                                line_filled++;
                                put_value(&out, v->value, flags);
                        }
                } else {
                        /* Left visible, so whoever reads the message sees the typo too. */
                        line_filled++;
                        buf_put(&out, p, n + 2);
                        /* Braces delimit names: "{nmae}" cannot match inside another one. */
                        if (!unknown.s || !memmem(unknown.s, unknown.len, p, n + 2)) {
                                if (unknown.len > 0)
                                        buf_puts(&unknown, ", ");
                                buf_put(&unknown, p, n + 2);
                                n_unknown++;
                        }
                }
                p += n + 1;
        }

        if (out.oom || unknown.oom) {
                buf_done(&out);
                buf_done(&unknown);
                return -ENOMEM;
        }
        *ret = buf_steal(&out);
        if (!*ret) {
                buf_done(&unknown);
                return -ENOMEM;
        }
        if (ret_unknown)
                *ret_unknown = n_unknown > 0 ? buf_steal(&unknown) : NULL;
        buf_done(&unknown);
        return n_unknown;
}

/* ---- template files ------------------------------------------------------------------------------------- */

struct Templates {
        char *override_dir; /* NULL: none */
        char *shipped_dir;
};

int templates_new(const char *override_dir, const char *shipped_dir, Templates **ret)
{
        Templates *t = calloc(1, sizeof(*t));
        const char *env = getenv("SHOUWANG_SHIPPED_TEMPLATES_DIR");

        if (!t)
                return -ENOMEM;
        if (!shipped_dir)
                shipped_dir = !isempty(env) ? env : SHOUWANG_DATADIR "/shouwang/templates";
        t->shipped_dir = strdup(shipped_dir);
        t->override_dir = isempty(override_dir) ? NULL : strdup(override_dir);
        if (!t->shipped_dir || (!isempty(override_dir) && !t->override_dir)) {
                templates_free(t);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

Templates *templates_free(Templates *t)
{
        if (!t)
                return NULL;
        free(t->override_dir);
        free(t->shipped_dir);
        free(t);
        return NULL;
}

const char *templates_shipped_dir(const Templates *t)
{
        return t->shipped_dir;
}

const char *templates_override_dir(const Templates *t)
{
        return t->override_dir;
}

const char *templates_locale(const char *locale)
{
        if (isempty(locale) || startswith(locale, "zh_CN") || streq(locale, "zh") || startswith(locale, "zh."))
                return DEFAULT_LOCALE;
        if (streq(locale, "en") || startswith(locale, "en_") || startswith(locale, "en."))
                return "en";
        return locale;
}

static bool template_name_valid(const char *name)
{
        if (isempty(name) || name[0] == '/' || name[0] == '.' || strstr(name, "..") || strstr(name, "//") ||
            strlen(name) > 200)
                return false;
        for (const char *p = name; *p; p++)
                if (!is_name_char(*p) && *p != '/')
                        return false;
        return true;
}

/* Text as an installer's editor may have saved it: BOM, CRLF, trailing blank lines. */
static void normalise_text(char *s)
{
        char *w = s;
        const char *r = s;

        if (startswith(r, "\xEF\xBB\xBF"))
                r += 3;
        for (; *r; r++) {
                if (r[0] == '\r') {
                        if (r[1] != '\n')
                                *w++ = '\n'; /* an old Mac line end */
                        continue;
                }
                *w++ = *r;
        }
        while (w > s && (w[-1] == '\n' || w[-1] == ' ' || w[-1] == '\t'))
                w--;
        *w = '\0';
}

/* "what/leak.alone" → "what/leak", in place: a new variant still gets its rule's words. false: no parent. */
static bool name_to_parent(char *name)
{
        char *base = strrchr(name, '/');
        char *dot = strrchr(base ? base : name, '.');

        if (!dot)
                return false;
        *dot = '\0';
        return true;
}

/* As templates_load(), also saying which locale the file was found in. */
static int load_full(Templates *t, const char *locale, const char *name, char **ret_text, char **ret_path,
                     const char **ret_locale)
{
        const char *locales[2] = { templates_locale(locale), DEFAULT_LOCALE };
        const char *dirs[2] = { t->override_dir, t->shipped_dir };

        if (!template_name_valid(name) || !template_name_valid(locales[0]) || strchr(locales[0], '/'))
                return -EINVAL;
        /* The reader's language first: "Water leak" helps a son abroad more than a precise
         * sentence in Chinese. Within a language the most specific key, then the installer's
         * directory before the shipped one. */
        for (size_t l = 0; l < ELEMENTSOF(locales); l++) {
                _cleanup_free_ char *cur = NULL;

                if (l > 0 && streq(locales[l], locales[0]))
                        continue;
                cur = strdup(name);
                if (!cur)
                        return -ENOMEM;
                for (;;) {
                        for (size_t d = 0; d < ELEMENTSOF(dirs); d++) {
                                _cleanup_free_ char *path = NULL, *text = NULL;
                                int r;

                                if (!dirs[d])
                                        continue;
                                if (asprintf(&path, "%s/%s/%s.txt", dirs[d], locales[l], cur) < 0)
                                        return -ENOMEM;
                                r = read_full_file(path, &text, NULL);
                                if (r == -ENOENT || r == -ENOTDIR)
                                        continue;
                                if (r < 0)
                                        return r;
                                normalise_text(text);
                                *ret_text = TAKE_PTR(text);
                                if (ret_path)
                                        *ret_path = TAKE_PTR(path);
                                if (ret_locale)
                                        *ret_locale = locales[l];
                                return 0;
                        }
                        if (!name_to_parent(cur))
                                break;
                }
        }
        return -ENOENT;
}

int templates_load(Templates *t, const char *locale, const char *name, char **ret_text, char **ret_path)
{
        return load_full(t, locale, name, ret_text, ret_path, NULL);
}

/* ---- words that are not worth a file -------------------------------------------------------------------- */

static bool is_en(const char *locale)
{
        return streq(locale, "en");
}

static const char *urgency_word(const char *severity, bool en)
{
        if (streq_ptr(severity, "critical"))
                return en ? "URGENT" : "紧急";
        if (streq_ptr(severity, "warning"))
                return en ? "Please check" : "请留意";
        return en ? "Notice" : "通知";
}

static const char *outcome_words(const char *outcome, bool en);

const char *templates_outcome_text(const char *outcome, const char *locale)
{
        return outcome_words(outcome, is_en(templates_locale(locale)));
}

static const char *outcome_words(const char *outcome, bool en)
{
        if (isempty(outcome))
                return NULL;
        if (streq(outcome, "ok"))
                return en ? "all is well" : "平安无事";
        if (streq(outcome, "hospital"))
                return en ? "taken to hospital" : "已送医院";
        if (streq(outcome, "false_alarm"))
                return en ? "false alarm" : "误报";
        if (streq(outcome, "other"))
                return en ? "something else (see the note)" : "其他（见说明）";
        return outcome;
}

static void format_duration(char *buf, size_t size, usec_t d, bool en)
{
        uint64_t min = (d + USEC_PER_MINUTE / 2) / USEC_PER_MINUTE, h = min / 60, m = min % 60;

        if (d == 0)
                buf[0] = '\0';
        else if (min < 1)
                snprintf(buf, size, en ? "under a minute" : "不到1分钟");
        else if (min < 60)
                snprintf(buf, size, en ? "%llu min" : "%llu分钟", (unsigned long long)min);
        else if (h < 10 && m > 0)
                snprintf(buf, size, en ? "%llu h %llu min" : "%llu小时%llu分钟", (unsigned long long)h,
                         (unsigned long long)m);
        else if (h < 48)
                snprintf(buf, size, en ? "%llu h" : "%llu小时", (unsigned long long)h);
        else
                snprintf(buf, size, en ? "%llu days" : "%llu天", (unsigned long long)(h / 24));
}

static void format_number(char *buf, size_t size, double v)
{
        if (v < 0)
                buf[0] = '\0';
        else if (v < 10 && v != (double)(long long)v)
                snprintf(buf, size, "%.1f", v);
        else
                snprintf(buf, size, "%.0f", v);
}

static void format_clock(char *time_buf, size_t time_size, char *date_buf, size_t date_size, usec_t wall, bool en)
{
        static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        time_t s = (time_t)(wall / USEC_PER_SEC);
        struct tm tm;

        time_buf[0] = '\0';
        if (date_buf)
                date_buf[0] = '\0';
        if (wall == 0 || !localtime_r(&s, &tm))
                return;
        snprintf(time_buf, time_size, "%02d:%02d", tm.tm_hour, tm.tm_min);
        if (!date_buf)
                return;
        if (en)
                snprintf(date_buf, date_size, "%d %s", tm.tm_mday, months[tm.tm_mon % 12]);
        else
                snprintf(date_buf, date_size, "%d月%d日", tm.tm_mon + 1, tm.tm_mday);
}

/* "00:40" on the day the alert opened; "11月21日 20:00" for an earlier day (inactivity for two days). */
static void format_since(char *buf, size_t size, usec_t since, usec_t opened_at, bool en)
{
        char t[16], d[32], od[32], ot[16];

        format_clock(t, sizeof(t), d, sizeof(d), since, en);
        format_clock(ot, sizeof(ot), od, sizeof(od), opened_at ? opened_at : now_usec(CLOCK_REALTIME), en);
        if (!*t)
                buf[0] = '\0';
        else if (streq(d, od))
                snprintf(buf, size, "%s", t);
        else
                snprintf(buf, size, "%s %s", d, t);
}

static bool ascii_alnum_only(const char *s)
{
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      *s == '-'))
                        return false;
        return true;
}

/* "长乐路17号 201室", "Changle Rd 17, flat 201"; common areas name the building. */
static void format_place(char *buf, size_t size, const char *building, const char *flat, bool common, bool en)
{
        const char *b = strempty(building), *f = strempty(flat);

        if (common || isempty(f))
                snprintf(buf, size, en ? "%s%scommon area" : "%s%s公共区域", b, *b ? (en ? ", " : " ") : "");
        else if (en)
                snprintf(buf, size, "%s%sflat %s", b, *b ? ", " : "", f);
        else
                snprintf(buf, size, "%s%s%s%s", b, *b ? " " : "", f, ascii_alnum_only(f) ? "室" : "");
}

int decision_params_from_json(const char *json, struct decision_params *ret)
{
        struct decision_params p = { .litres = -1, .count = -1, .lives_alone = -1 };
        cJSON *o, *v;

        *ret = p;
        if (isempty(json))
                return 0;
        o = cJSON_Parse(json);
        if (!cJSON_IsObject(o)) {
                cJSON_Delete(o);
                return -EINVAL;
        }
        v = cJSON_GetObjectItemCaseSensitive(o, "since");
        if (cJSON_IsString(v) && parse_time(v->valuestring, 0, &p.since_wall) < 0)
                p.since_wall = 0;
        v = cJSON_GetObjectItemCaseSensitive(o, "duration_s");
        if (cJSON_IsNumber(v) && v->valuedouble > 0)
                p.duration = (usec_t)v->valuedouble * USEC_PER_SEC;
        v = cJSON_GetObjectItemCaseSensitive(o, "litres");
        if (cJSON_IsNumber(v))
                p.litres = v->valuedouble;
        v = cJSON_GetObjectItemCaseSensitive(o, "count");
        if (cJSON_IsNumber(v))
                p.count = v->valueint;
        v = cJSON_GetObjectItemCaseSensitive(o, "lives_alone");
        if (cJSON_IsNumber(v))
                p.lives_alone = v->valueint;
        cJSON_Delete(o);
        *ret = p;
        return 0;
}

/* ---- messages ------------------------------------------------------------------------------------------- */

/*
 * Built-in last resort, used only when neither directory has the file (a
 * broken install, or a build run from the source tree): the message still
 * goes out, and the problem is reported. The shipped files are the words
 * people read; these are plainer. Names as the files': a key without words
 * of its own uses its parent's ("what/leak.common" → "what/leak"), so every
 * rule needs only its bare key here (tests/unit/test-template.c checks).
 */
struct builtin {
        const char *name, *zh, *en;
};

/* Guidance several rules share. */
static const char guide_water_zh[] = "先关总水阀，再拉下电闸；敲门叫人。";
static const char guide_water_en[] = "Shut the stopcock, switch off power at the board; knock and call.";
static const char guide_knock_zh[] = "敲门叫人，打老人电话。";
static const char guide_knock_en[] = "Knock and phone the resident.";

static const struct builtin builtins[] = {
        { "message/alert", "【守望】{urgency}｜{who}：{event}\n{what}\n地址：{place}\n时间：{date} {time}\n{guidance}\n"
                           "已有人去：{going}\n我去看看，请点：{ack_url}",
          "[shouwang] {urgency} | {who}: {event}\n{what}\nWhere: {place}\nWhen: {date} {time}\n{guidance}\n"
          "On the way: {going}\nI'm going — tap: {ack_url}" },
        { "message/ack_info", "【守望】已有人去｜{who}：{event}\n{going} 已经去了（{place}）。您不用再去。",
          "[shouwang] Someone is going | {who}: {event}\n{going} is on the way ({place}). You need not go." },
        { "message/reminder", "【守望】提醒｜{who}：{event}\n您说去看看，现在怎么样了？处理好了请点：{ack_url}",
          "[shouwang] Reminder | {who}: {event}\nYou said you would go. How is it? When done, tap: {ack_url}" },
        { "message/resolved", "【守望】已处理｜{who}：{event}\n结果：{outcome}\n说明：{note}\n处理人：{resolver}",
          "[shouwang] Resolved | {who}: {event}\nOutcome: {outcome}\nNote: {note}\nBy: {resolver}" },
        { "message/test", "【守望】测试｜{who}\n这是测试消息，不用上门。\n我去看看，请点：{ack_url}",
          "[shouwang] TEST | {who}\nThis is a test, no need to go.\nI'm going — tap: {ack_url}" },
        { "summary", "{who_place}：{event}", "{who_place}: {event}" },

        /* What happened: the first line short (the title's {event}), the line after it the explanation. */
        { "what/leak", "家中漏水", "Water leak" },
        { "what/leak.alone", "家中漏水\n老人独居，可能无法应答，请马上去看",
          "Water leak\nLives alone and may be unable to respond — go now" },
        { "what/panic", "按了紧急呼叫按钮", "Pressed the emergency button" },
        { "what/fall", "跌倒报警", "A fall was detected" },
        { "what/smoke", "烟雾报警", "Smoke alarm" },
        { "what/gas", "燃气泄漏报警", "Gas alarm" },
        { "what/co", "一氧化碳报警", "Carbon monoxide alarm" },
        { "what/inactivity", "长时间没有活动\n请上门看看", "No activity for a long time\nPlease check" },
        { "what/inactivity.unknown", "传感器离线\n无法确认老人是否平安，请上门看看",
          "Sensors offline\nCannot tell if all is well — please check" },
        { "what/morning_check", "早上还没有活动\n请上门看看", "No activity this morning\nPlease check" },
        { "what/door_open_night", "夜里家门一直开着", "Flat door open at night" },
        { "what/night_wandering", "夜里反复开门或出门未归", "Door opened at night, maybe wandering" },
        { "what/building_door", "楼道门长时间未关", "Building door held open" },
        { "what/sensor_offline", "传感器离线", "Sensor offline" },
        { "what/battery_low", "传感器电量低", "Sensor battery low" },
        { "what/tamper", "传感器被拆动", "Sensor tampered with" },
        { "what/combined", "多日未开门且未用水\n请马上上门看看",
          "No door and no water use for a long time\nPlease check now" },
        { "what/water_low_use", "用水量异常少\n请上门看看", "Very little water used\nPlease check" },
        { "what/tap_running", "水一直在流\n可能忘关水龙头", "Water running for a long time\nMaybe a tap left on" },
        { "what/tap_running.critical", "水龙头一直在流\n请马上去看", "Water has been running a long time\nGo now" },
        { "what/water_abnormal", "用水量异常\n可能漏水", "Unusual water use\nMaybe a leak" },
        { "what/test", "测试消息\n不用上门", "Test message\nNo need to go" },

        /* What to do on arrival (issue 12). */
        { "guidance/leak", guide_water_zh, guide_water_en },
        { "guidance/tap_running", guide_water_zh, guide_water_en },
        { "guidance/smoke", "门把手发烫不要开门；打119；大声敲门喊人。",
          "Do not open a hot door; call 119; knock and shout." },
        { "guidance/gas", "不要开关电灯、不要在屋里打电话；开窗；关燃气表阀门。",
          "No light switches, no phones inside; open windows; shut the gas valve at the meter." },
        { "guidance/co", "开窗通风，把人带到屋外；打120。", "Open windows, get the person outside; call 120." },
        { "guidance/fall", "敲门叫人，打老人电话；进不去请找楼组长拿备用钥匙或打110。",
          "Knock, phone the resident; if you cannot get in, ask for the spare key or call 110." },
        { "guidance/panic", "敲门叫人，打老人电话；进不去请打110。",
          "Knock, phone the resident; if you cannot get in, call 110." },
        { "guidance/inactivity", guide_knock_zh, guide_knock_en },
        { "guidance/morning_check", guide_knock_zh, guide_knock_en },
        { "guidance/water_low_use", guide_knock_zh, guide_knock_en },
        { "guidance/combined", "敲门叫人，打老人电话；没人应请找居委会。",
          "Knock and phone; if nobody answers, call the committee." },
};

static const char *builtin_text(const char *name, bool en)
{
        char cur[256];

        if (isempty(name) || strlen(name) >= sizeof(cur))
                return NULL;
        strcpy(cur, name);
        do
                for (size_t i = 0; i < ELEMENTSOF(builtins); i++)
                        if (streq(builtins[i].name, cur))
                                return en ? builtins[i].en : builtins[i].zh;
        while (name_to_parent(cur));
        return NULL;
}

const char *templates_builtin(const char *name, const char *locale)
{
        return builtin_text(name, is_en(templates_locale(locale)));
}

struct render_ctx {
        Templates *t;
        const char *locale;
        bool en;
        struct buf problems;
        /* formatted values the vars point into */
        char place[256], who[256], who_place[512], time[16], date[32], since[48], duration[48], litres[32], count[16],
                alert_id[24];
        struct template_var vars[40];
        size_t n_vars;
};

static void add_problem(struct render_ctx *c, const char *fmt, ...) _printf_(2, 3);
static void add_problem(struct render_ctx *c, const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0) {
                c->problems.oom = true;
                return;
        }
        if (c->problems.s && strstr(c->problems.s, s))
                return; /* once is enough */
        if (c->problems.len > 0)
                buf_puts(&c->problems, "; ");
        buf_puts(&c->problems, s);
}

static void add_var(struct render_ctx *c, const char *name, const char *value)
{
        if (c->n_vars < ELEMENTSOF(c->vars))
                c->vars[c->n_vars++] = (struct template_var){ name, value };
}

/* The names a template may use, for messages about typos. */
static void list_vars(struct render_ctx *c, struct buf *b)
{
        for (size_t i = 0; i < c->n_vars; i++) {
                buf_puts(b, i ? ", {" : "{");
                buf_puts(b, c->vars[i].name);
                buf_putc(b, '}');
        }
}

/* Load name (or the built-in words), render it with the vars so far. *ret NULL if there is no such template. */
static int render_file(struct render_ctx *c, const char *name, bool required, unsigned flags, char **ret)
{
        _cleanup_free_ char *text = NULL, *path = NULL, *unknown = NULL;
        const char *found_locale = NULL;
        int r;

        *ret = NULL;
        r = load_full(c->t, c->locale, name, &text, &path, &found_locale);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                const char *b = builtin_text(name, c->en);
                if (required)
                        add_problem(c, "no template %s/%s.txt in %s%s%s (%s)%s", c->locale, name,
                                    c->t->override_dir ? c->t->override_dir : "", c->t->override_dir ? " or " : "",
                                    c->t->shipped_dir, strerror(-r),
                                    b ? ": built-in words used" : "");
                if (!b)
                        return 0;
                text = strdup(b);
                if (!text)
                        return -ENOMEM;
        } else if (required && !streq(found_locale, c->locale) && !startswith(name, "what/combined."))
                add_problem(c, "%s/%s.txt is missing: %s used", c->locale, name, path);

        r = template_render(text, c->vars, c->n_vars, flags, ret, &unknown);
        if (r < 0)
                return r;
        if (r > 0) {
                struct buf known = {};
                list_vars(c, &known);
                add_problem(c, "%s: unknown placeholder %s — known: %s", path ? path : "built-in text", unknown,
                            known.s ? known.s : "");
                buf_done(&known);
        }
        return 0;
}

/* Split "first line\nrest" in place; rest NULL if there is only one line. */
static char *split_first_line(char *s)
{
        char *nl = strchr(s, '\n');

        if (!nl)
                return NULL;
        *nl = '\0';
        while (*++nl == '\n')
                ;
        return nl;
}

static void ctx_init(struct render_ctx *c, Templates *t, const struct message_input *in)
{
        struct decision_params p = { .litres = -1, .count = -1, .lives_alone = -1 };
        bool common = isempty(in->resident_name);

        *c = (struct render_ctx){ .t = t, .locale = templates_locale(in->locale) };
        c->en = is_en(c->locale);
        if (in->params)
                p = *in->params;
        else if (in->params_json && decision_params_from_json(in->params_json, &p) < 0)
                add_problem(c, "the alert's parameters are not JSON: %s", in->params_json);

        format_place(c->place, sizeof(c->place), in->building, in->flat, common, c->en);
        if (!common) {
                snprintf(c->who, sizeof(c->who), "%s", in->resident_name);
                snprintf(c->who_place, sizeof(c->who_place), c->en ? "%s (%s)" : "%s（%s）", in->resident_name,
                         c->place);
        } else {
                snprintf(c->who, sizeof(c->who), "%s", c->place);
                snprintf(c->who_place, sizeof(c->who_place), "%s", c->place);
        }
        format_clock(c->time, sizeof(c->time), c->date, sizeof(c->date), in->opened_at, c->en);
        format_since(c->since, sizeof(c->since), p.since_wall, in->opened_at, c->en);
        format_duration(c->duration, sizeof(c->duration), p.duration, c->en);
        format_number(c->litres, sizeof(c->litres), p.litres);
        if (p.count >= 0)
                snprintf(c->count, sizeof(c->count), "%d", p.count);
        if (in->alert_id > 0)
                snprintf(c->alert_id, sizeof(c->alert_id), "%lld", (long long)in->alert_id);

        int alone = in->lives_alone >= 0 ? in->lives_alone : p.lives_alone;
        add_var(c, "resident_name", common ? NULL : in->resident_name);
        add_var(c, "who", c->who);
        add_var(c, "building", in->building);
        add_var(c, "flat", in->flat);
        add_var(c, "place", c->place);
        add_var(c, "who_place", c->who_place);
        add_var(c, "lives_alone", alone == 1 ? (c->en ? "lives alone" : "独居") : NULL);
        add_var(c, "date", c->date);
        add_var(c, "time", c->time);
        add_var(c, "since", c->since);
        add_var(c, "duration", c->duration);
        add_var(c, "litres", c->litres);
        add_var(c, "count", c->count);
        add_var(c, "urgency", urgency_word(in->severity, c->en));
        add_var(c, "severity", in->severity);
        add_var(c, "alert_id", c->alert_id);
        add_var(c, "contact_name", in->contact_name);
        add_var(c, "going", in->going);
        add_var(c, "acker", in->going);
        add_var(c, "notified", in->notified);
        add_var(c, "ack_url", in->ack_url);
        add_var(c, "resolver", in->resolver);
        add_var(c, "outcome", outcome_words(in->outcome, c->en));
        add_var(c, "note", in->note);
}

/* Hand the problems out (NULL if none) and free what is left. */
static void ctx_problems(struct render_ctx *c, char **ret_problems)
{
        if (ret_problems)
                *ret_problems = c->problems.len > 0 && !c->problems.oom ? buf_steal(&c->problems) : NULL;
        buf_done(&c->problems);
}

/* {event} and {what} from what/<key>: the first line short, the lines after it the explanation. */
static int render_what(struct render_ctx *c, const char *text_key, char **ret_event, char **ret_what)
{
        _cleanup_free_ char *name = NULL, *what = NULL;
        int r;

        if (asprintf(&name, "what/%s", isempty(text_key) ? "unknown" : text_key) < 0)
                return -ENOMEM;
        r = render_file(c, name, true, TEMPLATE_DROP_EMPTY_LINES, &what);
        if (r < 0)
                return r;
        if (!what) {
                /* Nothing anywhere: the key itself says more than nothing. */
                *ret_event = strdup(strempty(text_key));
                *ret_what = strdup(strempty(text_key));
        } else {
                char *rest = split_first_line(what);
                *ret_event = strdup(what);
                *ret_what = strdup(rest ? rest : what);
        }
        if (!*ret_event || !*ret_what) {
                free(*ret_event);
                free(*ret_what);
                return -ENOMEM;
        }
        return 0;
}

int templates_render_message(Templates *t, const struct message_input *in, char **ret_title, char **ret_text,
                             char **ret_problems)
{
        _cleanup_free_ char *event = NULL, *what = NULL, *guidance = NULL, *name = NULL, *msg = NULL;
        struct render_ctx c;
        const char *purpose = isempty(in->purpose) ? "alert" : in->purpose;
        int r;

        ctx_init(&c, t, in);
        if (in->test && streq(purpose, "alert"))
                purpose = "test";
        r = render_what(&c, in->test && isempty(in->text_key) ? "test" : in->text_key, &event, &what);
        if (r >= 0 && asprintf(&name, "guidance/%s", isempty(in->text_key) ? "unknown" : in->text_key) < 0)
                r = -ENOMEM;
        if (r >= 0)
                r = render_file(&c, name, false, TEMPLATE_DROP_EMPTY_LINES, &guidance);
        free(name);
        name = NULL;
        if (r >= 0) {
                add_var(&c, "event", event);
                add_var(&c, "what", what);
                add_var(&c, "guidance", guidance);
                if (asprintf(&name, "message/%s", purpose) < 0)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = render_file(&c, name, true, TEMPLATE_DROP_EMPTY_LINES, &msg);
        if (r >= 0 && !msg) {
                /* An unknown purpose and no file for it: say what happened, plainly. */
                if (asprintf(&msg, "%s %s\n%s", c.who, event, what) < 0)
                        r = -ENOMEM;
        }
        if (r < 0 || c.problems.oom) {
                ctx_problems(&c, NULL);
                return -ENOMEM;
        }

        char *rest = split_first_line(msg);
        *ret_title = strdup(msg);
        *ret_text = strdup(rest ? rest : msg);
        if (!*ret_title || !*ret_text) {
                free(*ret_title);
                free(*ret_text);
                *ret_title = *ret_text = NULL;
                ctx_problems(&c, NULL);
                return -ENOMEM;
        }
        ctx_problems(&c, ret_problems);
        return 0;
}

int templates_render_summary(Templates *t, const struct message_input *in, char **ret_text, char **ret_problems)
{
        _cleanup_free_ char *event = NULL, *what = NULL, *summary = NULL;
        struct render_ctx c;
        int r;

        ctx_init(&c, t, in);
        r = render_what(&c, in->test && isempty(in->text_key) ? "test" : in->text_key, &event, &what);
        if (r >= 0) {
                add_var(&c, "event", event);
                add_var(&c, "what", what);
                r = render_file(&c, "summary", true, TEMPLATE_DROP_EMPTY_LINES, &summary);
        }
        if (r < 0 || !summary || c.problems.oom) {
                ctx_problems(&c, NULL);
                return r < 0 || c.problems.oom ? -ENOMEM : -ENOENT;
        }
        /* One line: lists and the alert JSON have no room for more. */
        for (char *p = summary; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        *ret_text = TAKE_PTR(summary);
        ctx_problems(&c, ret_problems);
        return 0;
}

/* ---- checking ------------------------------------------------------------------------------------------- */

const char *const templates_purposes[] = { "alert", "ack_info", "reminder", "resolved", "test", NULL };

/* Every key the rule engine produces (docs/rules.md, "Text keys for templates"), plus the bare rule names. */
const char *const templates_text_keys[] = {
        "leak",
        "leak.alone",
        "leak.common",
        "panic",
        "panic.common",
        "fall",
        "fall.common",
        "smoke",
        "smoke.common",
        "gas",
        "gas.common",
        "co",
        "co.common",
        "inactivity",
        "inactivity.unknown",
        "morning_check",
        "morning_check.unknown",
        "door_open_night",
        "night_wandering",
        "night_wandering.not_closed",
        "night_wandering.repeated",
        "building_door",
        "building_door.held_open",
        "building_door.lock_fault",
        "sensor_offline",
        "sensor_offline.silent",
        "sensor_offline.unavailable",
        "battery_low",
        "tamper",
        "combined",
        "combined.door_water",
        "water_low_use",
        "tap_running",
        "tap_running.critical",
        "tap_running.leak",
        "tap_running.unattended",
        "water_abnormal",
        "water_abnormal.volume",
        "water_abnormal.every_slot",
        "test",
        NULL,
};

static const char *const check_locales[] = { "zh_CN", "en" };

struct checker {
        templates_problem_cb cb;
        void *userdata;
        struct buf seen; /* problems reported so far, "\n"-separated */
        int n;
};

static void report(struct checker *k, const char *problems)
{
        /* render_* join problems with "; " — report each once. */
        _cleanup_free_ char *copy = problems ? strdup(problems) : NULL;
        char *save = NULL;

        if (!copy)
                return;
        for (char *p = strtok_r(copy, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
                while (*p == ' ')
                        p++;
                if (k->seen.s && strstr(k->seen.s, p))
                        continue;
                buf_puts(&k->seen, p);
                buf_putc(&k->seen, '\n');
                k->n++;
                if (k->cb)
                        k->cb(p, k->userdata);
        }
}

static bool known_text_key(const char *key)
{
        for (size_t i = 0; templates_text_keys[i]; i++)
                if (streq(templates_text_keys[i], key))
                        return true;
        /* A configured combined rule or a new variant of a known rule is fine. */
        for (size_t i = 0; templates_text_keys[i]; i++) {
                size_t n = strlen(templates_text_keys[i]);
                if (!strchr(templates_text_keys[i], '.') && strncmp(key, templates_text_keys[i], n) == 0 &&
                    key[n] == '.')
                        return true;
        }
        return false;
}

/* Render every purpose for one key in one locale, everything filled so no line is dropped. */
static int check_key(Templates *t, struct checker *k, const char *locale, const char *key)
{
        struct decision_params p = {
                .since_wall = 1795000000ULL * USEC_PER_SEC,
                .duration = 14 * USEC_PER_HOUR,
                .litres = 35,
                .count = 3,
                .lives_alone = 1,
        };
        int r;

        for (size_t j = 0; templates_purposes[j]; j++) {
                struct message_input in = {
                        .purpose = templates_purposes[j],
                        .text_key = key,
                        .locale = locale,
                        .severity = "critical",
                        .alert_id = 42,
                        .resident_name = "沈国强",
                        .building = "长乐路17号",
                        .flat = "201",
                        .lives_alone = 1,
                        .opened_at = 1795000000ULL * USEC_PER_SEC,
                        .params = &p,
                        .contact_name = "王阿姨",
                        .going = "李组长",
                        .notified = "张阿姨、居委会",
                        .ack_url = "https://example.org/a/42?c=C1&t=x",
                        .resolver = "李组长",
                        .outcome = "ok",
                        .note = "已关水",
                };
                _cleanup_free_ char *title = NULL, *text = NULL, *problems = NULL;

                r = templates_render_message(t, &in, &title, &text, &problems);
                if (r < 0)
                        return r;
                report(k, problems);
                if (j > 0)
                        continue;
                free(problems);
                free(text);
                problems = text = NULL;
                r = templates_render_summary(t, &in, &text, &problems);
                if (r == -ENOMEM)
                        return r;
                report(k, problems);
        }
        return 0;
}

/*
 * A file in the override directory that no message will ever read is most
 * likely misspelt; an installer's own key (a combined rule) is rendered too.
 */
static int check_override_dir(Templates *t, struct checker *k)
{
        static const char *const subdirs[] = { "message", "what", "guidance" };
        int r = 0;

        if (!t->override_dir)
                return 0;
        for (size_t l = 0; l < ELEMENTSOF(check_locales); l++)
                for (size_t s = 0; s < ELEMENTSOF(subdirs) && r >= 0; s++) {
                        _cleanup_free_ char *dir = NULL;
                        DIR *d;
                        struct dirent *de;

                        if (asprintf(&dir, "%s/%s/%s", t->override_dir, check_locales[l], subdirs[s]) < 0)
                                return -ENOMEM;
                        d = opendir(dir);
                        if (!d)
                                continue;
                        while (r >= 0 && (de = readdir(d))) {
                                _cleanup_free_ char *key = NULL, *msg = NULL;
                                size_t n = strlen(de->d_name);
                                bool ok = false, listed = false;

                                if (de->d_name[0] == '.')
                                        continue;
                                if (n < 5 || !streq(de->d_name + n - 4, ".txt")) {
                                        if (asprintf(&msg, "%s/%s: not read — template files end in .txt", dir,
                                                     de->d_name) >= 0)
                                                report(k, msg);
                                        continue;
                                }
                                key = strndup(de->d_name, n - 4);
                                if (!key) {
                                        r = -ENOMEM;
                                        break;
                                }
                                if (s == 0)
                                        for (size_t i = 0; templates_purposes[i]; i++)
                                                ok = ok || streq(templates_purposes[i], key);
                                else {
                                        for (size_t i = 0; templates_text_keys[i]; i++)
                                                listed = listed || streq(templates_text_keys[i], key);
                                        ok = listed || known_text_key(key);
                                }
                                if (!ok) {
                                        if (asprintf(&msg, "%s/%s: no message uses this file — is the name "
                                                           "misspelt?",
                                                     dir, de->d_name) >= 0)
                                                report(k, msg);
                                } else if (s > 0 && !listed)
                                        r = check_key(t, k, check_locales[l], key);
                        }
                        closedir(d);
                }
        return r;
}

int templates_check(Templates *t, templates_problem_cb cb, void *userdata)
{
        struct checker k = { .cb = cb, .userdata = userdata };
        struct stat st;
        int r = 0;

        if (stat(t->shipped_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "no shipped templates in %s: built-in words will be used — install them, or set "
                                   "SHOUWANG_SHIPPED_TEMPLATES_DIR",
                             t->shipped_dir) < 0)
                        return -ENOMEM;
                report(&k, msg);
        }
        for (size_t l = 0; l < ELEMENTSOF(check_locales) && r >= 0; l++)
                for (size_t i = 0; templates_text_keys[i] && r >= 0; i++)
                        r = check_key(t, &k, check_locales[l], templates_text_keys[i]);
        if (r >= 0)
                r = check_override_dir(t, &k);
        if (r < 0 || k.seen.oom) {
                buf_done(&k.seen);
                return -ENOMEM;
        }
        buf_done(&k.seen);
        return k.n;
}
