/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Message wording for alerts and deliveries (see messages.h). */

#include "daemon/messages.h"

#include <time.h>

#include "daemon/log.h"
#include "daemon/template.h"

struct Messages {
        bool en;
        char *locale;
        Templates *templates; /* NULL: no template files found, the built-in wording below is used */
        bool problems_logged;
};

struct what {
        const char *key;
        const char *zh, *en;
};

/* What happened, by the rule's text key; the longest matching prefix wins. */
static const struct what whats[] = {
        { "leak.alone", "家中漏水，老人独居，可能无法应答，请马上去看", "water leak; lives alone and may be unable to respond — go now" },
        { "leak", "家中漏水", "water leak" },
        { "panic", "按了紧急呼叫按钮", "pressed the emergency button" },
        { "fall", "跌倒报警", "a fall was detected" },
        { "smoke", "烟雾报警", "smoke alarm" },
        { "gas", "燃气泄漏报警", "gas alarm" },
        { "co", "一氧化碳报警", "carbon monoxide alarm" },
        { "inactivity.unknown", "传感器离线，无法确认老人是否平安，请上门看看", "sensors offline: cannot tell if all is well — please check" },
        { "inactivity", "长时间没有活动，请上门看看", "no activity for a long time — please check" },
        { "morning_check", "早上还没有活动，请上门看看", "no activity this morning — please check" },
        { "door_open_night", "夜里家门一直开着", "flat door open at night" },
        { "night_wandering", "夜里反复开门或出门未归", "door opened at night, maybe wandering" },
        { "building_door", "楼道门长时间未关", "building door held open" },
        { "sensor_offline", "传感器离线", "sensor offline" },
        { "battery_low", "传感器电量低", "sensor battery low" },
        { "tamper", "传感器被拆动", "sensor tampered with" },
        { "combined", "多日未开门且未用水，请马上上门看看", "no door and no water use for a long time — please check now" },
        { "water_low_use", "用水量异常少，请上门看看", "very little water used — please check" },
        { "tap_running.critical", "水龙头一直在流，请马上去看", "water has been running a long time — go now" },
        { "tap_running", "水一直在流，可能忘关水龙头", "water running for a long time" },
        { "water_abnormal", "用水量异常，可能漏水", "unusual water use, maybe a leak" },
        { "test", "测试消息，不用上门", "test message, no need to go" },
};

/* Short guidance for the person who goes (issue 12). */
static const struct what guidance[] = {
        { "leak", "先关总水阀，再拉下电闸；敲门叫人。", "Shut the stopcock, switch off power at the board; knock and call." },
        { "tap_running", "先关总水阀，再拉下电闸；敲门叫人。", "Shut the stopcock, switch off power at the board; knock and call." },
        { "smoke", "门把手发烫不要开门；打119；大声敲门喊人。", "Do not open a hot door; call 119; knock and shout." },
        { "gas", "不要开关电灯、不要在屋里打电话；开窗；关燃气表阀门。", "No light switches, no phones inside; open windows; shut the gas valve at the meter." },
        { "co", "开窗通风，把人带到屋外；打120。", "Open windows, get the person outside; call 120." },
        { "fall", "敲门叫人，打老人电话；进不去请找楼组长拿备用钥匙或打110。", "Knock, phone the resident; if you cannot get in, ask for the spare key or call 110." },
        { "panic", "敲门叫人，打老人电话；进不去请打110。", "Knock, phone the resident; if you cannot get in, call 110." },
        { "inactivity", "敲门叫人，打老人电话。", "Knock and phone the resident." },
        { "morning_check", "敲门叫人，打老人电话。", "Knock and phone the resident." },
        { "combined", "敲门叫人，打老人电话；没人应请找居委会。", "Knock and phone; if nobody answers, call the committee." },
        { "water_low_use", "敲门叫人，打老人电话。", "Knock and phone the resident." },
};

int messages_new(const char *locale, const char *templates_dir, Messages **ret)
{
        Messages *m = calloc(1, sizeof(*m));
        const char *shipped = getenv("SHOUWANG_SHIPPED_TEMPLATES_DIR");
        char path[512];

        if (!m)
                return -ENOMEM;
        m->en = streq_ptr(locale, "en");
        m->locale = strdup(isempty(locale) ? "zh_CN" : locale);
        if (!m->locale) {
                free(m);
                return -ENOMEM;
        }
        snprintf(path, sizeof(path), "%s", shipped ? shipped : SHOUWANG_DATADIR "/shouwang/templates");
        /* Installed templates (or an installer's own) are the words people read; without any
         * files at all (a build run from the source tree) the built-in wording still works. */
        if (access(path, R_OK) == 0 || (templates_dir && access(templates_dir, R_OK) == 0)) {
                if (templates_new(templates_dir, shipped, &m->templates) < 0) {
                        messages_free(m);
                        return -ENOMEM;
                }
        } else
                log_notice("No message templates in %s: using the built-in wording", path);
        *ret = m;
        return 0;
}

Messages *messages_free(Messages *m)
{
        if (!m)
                return NULL;
        templates_free(m->templates);
        free(m->locale);
        free(m);
        return NULL;
}

static void log_problems(Messages *m, char *problems)
{
        /* A typo in an installer's template is said once, not in every message. */
        if (problems && !m->problems_logged) {
                log_warning("Message templates: %s", problems);
                m->problems_logged = true;
        }
        free(problems);
}

static const struct what *lookup(const struct what *table, size_t n, const char *key)
{
        const struct what *best = NULL;
        size_t best_len = 0;

        for (size_t i = 0; key && i < n; i++) {
                size_t l = strlen(table[i].key);
                if (strncmp(key, table[i].key, l) == 0 && (key[l] == '\0' || key[l] == '.') && l > best_len) {
                        best = &table[i];
                        best_len = l;
                }
        }
        return best;
}

static const char *where(char *buf, size_t size, const char *building, const char *flat, const char *name, bool en)
{
        if (name)
                snprintf(buf, size, en ? "%s %s, %s" : "%s %s室 %s", strempty(building), strempty(flat), name);
        else
                snprintf(buf, size, en ? "building %s (common area)" : "%s 公共区域", strempty(building));
        return buf;
}

char *messages_render_alert_text(Messages *m, const struct rule_decision *d, const char *resident_name,
                                 const char *building, const char *flat)
{
        if (m->templates) {
                struct message_input in = {
                        .purpose = "alert",
                        .text_key = d->text_key,
                        .locale = m->locale,
                        .severity = severity_to_string(d->severity),
                        .resident_name = resident_name,
                        .building = building,
                        .flat = flat,
                        .lives_alone = d->params.lives_alone,
                        .params = &d->params,
                };
                char *text = NULL, *problems = NULL;
                if (templates_render_summary(m->templates, &in, &text, &problems) >= 0 && !isempty(text)) {
                        log_problems(m, problems);
                        return text;
                }
                free(text);
                log_problems(m, problems);
        }

        const struct what *w = lookup(whats, ELEMENTSOF(whats), d->text_key);
        char place[192], since[64] = "", *s;

        if (d->params.since_wall) {
                time_t t = (time_t)(d->params.since_wall / USEC_PER_SEC);
                struct tm tm;
                if (localtime_r(&t, &tm))
                        strftime(since, sizeof(since), m->en ? " since %H:%M" : "（%H:%M 起）", &tm);
        }
        if (asprintf(&s, "%s: %s%s", where(place, sizeof(place), building, flat, resident_name, m->en),
                     w ? (m->en ? w->en : w->zh) : d->text_key, since) < 0)
                return NULL;
        return s;
}

int messages_render_delivery(Messages *m, const struct outbox_render *in, char **ret_title, char **ret_text)
{
        const struct alert_info *a = in->alert;
        const struct delivery_info *d = in->delivery;

        if (m->templates) {
                struct message_input mi = {
                        .purpose = d->purpose,
                        .text_key = a->text_key,
                        .locale = in->locale ? in->locale : m->locale,
                        .severity = a->severity,
                        .test = a->test,
                        .alert_id = a->id,
                        .resident_name = a->resident_name,
                        .building = a->building_id,
                        .flat = a->flat,
                        .lives_alone = a->lives_alone,
                        .opened_at = a->opened_at,
                        .params_json = a->params,
                        .contact_name = d->contact_name,
                        .going = a->acked_by_name,
                        .ack_url = in->ack_url,
                        .resolver = a->resolved_by,
                        .outcome = a->outcome,
                        .note = a->note,
                };
                char *problems = NULL;
                int r = templates_render_message(m->templates, &mi, ret_title, ret_text, &problems);
                log_problems(m, problems);
                if (r >= 0 && !isempty(*ret_title) && !isempty(*ret_text))
                        return 0;
                free(*ret_title);
                free(*ret_text);
                *ret_title = *ret_text = NULL;
        }

        const struct what *g = lookup(guidance, ELEMENTSOF(guidance), a->text_key);
        char place[192], when[32] = "";
        time_t t = (time_t)(a->opened_at / USEC_PER_SEC);
        struct tm tm;
        const char *lead;

        if (localtime_r(&t, &tm))
                strftime(when, sizeof(when), "%m-%d %H:%M", &tm);
        where(place, sizeof(place), a->building_id, a->flat, a->resident_name, m->en);

        if (streq(d->purpose, "ack_info"))
                lead = m->en ? "Someone is on the way" : "已有人前往";
        else if (streq(d->purpose, "reminder"))
                lead = m->en ? "Reminder: please report back" : "提醒：请反馈处理结果";
        else if (streq(d->purpose, "resolved"))
                lead = m->en ? "Resolved" : "已处理";
        else if (a->test)
                lead = m->en ? "TEST" : "测试";
        else
                lead = streq(a->severity, "critical") ? (m->en ? "URGENT" : "紧急")
                       : streq(a->severity, "warning") ? (m->en ? "Please check" : "请关注")
                                                       : (m->en ? "Notice" : "通知");

        if (asprintf(ret_title, "【守望】%s %s", lead, place) < 0)
                return -ENOMEM;

        _cleanup_free_ char *going = NULL, *tail = NULL;
        if (a->acked_by_name)
                if (asprintf(&going, m->en ? "\n%s is on the way (%s)." : "\n%s 已经在路上（%s）。", a->acked_by_name,
                             m->en ? "acknowledged" : "已确认") < 0)
                        going = NULL;
        if (streq(d->purpose, "resolved")) {
                if (asprintf(&tail, m->en ? "\nOutcome: %s. %s" : "\n结果：%s。%s", strempty(a->outcome),
                             strempty(a->note)) < 0)
                        tail = NULL;
        } else if (!isempty(in->ack_url)) {
                if (asprintf(&tail, m->en ? "\nI'm going: %s" : "\n我去看看：%s", in->ack_url) < 0)
                        tail = NULL;
        }
        if (asprintf(ret_text, "%s\n%s %s%s%s%s%s", strempty(a->text), m->en ? "Opened" : "时间", when,
                     going ? going : "", g && streq(d->purpose, "alert") ? "\n" : "",
                     g && streq(d->purpose, "alert") ? (m->en ? g->en : g->zh) : "", tail ? tail : "") < 0) {
                free(*ret_title);
                *ret_title = NULL;
                return -ENOMEM;
        }
        return 0;
}
