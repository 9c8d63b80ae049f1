/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What all channels share: freeing, the JSON a webhook posts and a command
 * reads on stdin, the {placeholders} of body templates and command words,
 * and tidying a detail for the delivery log.
 */

#include <cjson/cJSON.h>

#include "daemon/channel.h"
#include "daemon/template.h"

Channel *channel_free(Channel *c)
{
        if (!c)
                return NULL;
        if (c->ops && c->ops->free)
                c->ops->free(c);
        free(c->name);
        free(c);
        return NULL;
}

static void add_string(cJSON *o, const char *name, const char *value)
{
        if (value)
                cJSON_AddStringToObject(o, name, value);
        else
                cJSON_AddNullToObject(o, name);
}

/* The alert as far as the message knows it, when the outbox did not pass the alert JSON. */
static cJSON *alert_from_message(const struct delivery_message *m)
{
        cJSON *o = cJSON_CreateObject(), *res;

        if (!o)
                return NULL;
        cJSON_AddNumberToObject(o, "id", (double)m->alert_id);
        add_string(o, "rule", m->rule);
        add_string(o, "severity", m->severity);
        if ((res = cJSON_AddObjectToObject(o, "resident"))) {
                add_string(res, "id", isempty(m->resident_id) ? NULL : m->resident_id);
                add_string(res, "name", isempty(m->resident_name) ? NULL : m->resident_name);
                add_string(res, "building", m->building);
                add_string(res, "flat", isempty(m->flat) ? NULL : m->flat);
        }
        add_string(o, "opened_at", m->opened_at);
        return o;
}

char *channel_message_json(const struct delivery_message *m)
{
        cJSON *o = m->alert_json ? cJSON_Parse(m->alert_json) : NULL, *msg;
        char *s;

        if (o && !cJSON_IsObject(o)) {
                cJSON_Delete(o);
                o = NULL;
        }
        if (!o)
                o = alert_from_message(m);
        if (!o)
                return NULL;
        /* "message", not top-level fields: the alert JSON has its own "text". */
        cJSON_DeleteItemFromObjectCaseSensitive(o, "message");
        msg = cJSON_AddObjectToObject(o, "message");
        if (!msg) {
                cJSON_Delete(o);
                return NULL;
        }
        cJSON_AddNumberToObject(msg, "delivery", (double)m->delivery_id);
        cJSON_AddNumberToObject(msg, "alert", (double)m->alert_id);
        add_string(msg, "purpose", m->purpose);
        add_string(msg, "contact", m->contact_id);
        add_string(msg, "contact_name", m->contact_name);
        add_string(msg, "contact_phone", m->contact_phone);
        add_string(msg, "contact_role", m->contact_role);
        add_string(msg, "locale", m->locale);
        add_string(msg, "title", m->title);
        add_string(msg, "text", m->text);
        add_string(msg, "ack_url", isempty(m->ack_url) ? NULL : m->ack_url);
        s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return s;
}

size_t channel_message_vars(const struct delivery_message *m, struct template_var *vars,
                            struct channel_vars_scratch *scratch)
{
        bool critical = streq_ptr(m->severity, "critical"), warning = streq_ptr(m->severity, "warning");
        size_t n = 0;

        *scratch = (struct channel_vars_scratch){};
        snprintf(scratch->alert_id, sizeof(scratch->alert_id), "%lld", (long long)m->alert_id);
        snprintf(scratch->delivery_id, sizeof(scratch->delivery_id), "%lld", (long long)m->delivery_id);
        /* For a robot or an SMS there is one text field: the title leads it. */
        if (asprintf(&scratch->message, "%s%s%s", strempty(m->title),
                     !isempty(m->title) && !isempty(m->text) ? "\n" : "", strempty(m->text)) < 0)
                scratch->message = NULL;

#define VAR(n_, v_) vars[n++] = (struct template_var){ n_, v_ }
        VAR("alert_id", scratch->alert_id);
        VAR("delivery_id", scratch->delivery_id);
        VAR("purpose", m->purpose);
        VAR("rule", m->rule);
        VAR("severity", m->severity);
        /* ntfy: 5 "max/urgent" rings through do-not-disturb on most phones; Gotify: 8+ pops up. */
        VAR("priority", critical ? "5" : warning ? "4" : "3");
        VAR("priority_gotify", critical ? "10" : warning ? "8" : "5");
        VAR("title", m->title);
        VAR("text", m->text);
        VAR("message", scratch->message ? scratch->message : m->text);
        VAR("ack_url", m->ack_url);
        VAR("contact_id", m->contact_id);
        VAR("contact_name", m->contact_name);
        VAR("contact_phone", m->contact_phone);
        VAR("contact_role", m->contact_role);
        VAR("resident_id", m->resident_id);
        VAR("resident_name", m->resident_name);
        VAR("building", m->building);
        VAR("flat", m->flat);
        VAR("opened_at", m->opened_at);
        VAR("locale", m->locale);
#undef VAR
        return n;
}

void channel_vars_scratch_done(struct channel_vars_scratch *scratch)
{
        free(scratch->message);
        scratch->message = NULL;
}

/* Quotes, a backslash, newlines and Chinese: what a body template must survive. */
const struct delivery_message channel_sample_message = {
        .delivery_id = 7,
        .alert_id = 42,
        .purpose = "alert",
        .contact_id = "C1",
        .contact_name = "王阿姨",
        .contact_phone = "13800000001",
        .contact_role = "neighbour",
        .locale = "zh_CN",
        .title = "【守望】紧急｜沈国强：家里漏水",
        .text = "家里漏水了。\n"
                "地址：长乐路17号 \"201\"室 \\ 后门\n"
                "我去看看，请点：https://example.org/a/42?c=C1&t=x",
        .ack_url = "https://example.org/a/42?c=C1&t=x",
        .rule = "leak",
        .severity = "critical",
        .resident_id = "R1",
        .resident_name = "沈国强",
        .building = "长乐路17号",
        .flat = "201",
        .opened_at = "2026-11-23T01:10:00+08:00",
};

/* Length of s[0..n) without a UTF-8 sequence cut short at its end. */
static size_t utf8_whole(const char *s, size_t n)
{
        size_t i = n, need;
        unsigned char lead;

        /* Step back over at most 3 continuation bytes to the lead byte of the last character. */
        while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
                i--;
        if (i == 0)
                return n;
        lead = (unsigned char)s[i - 1];
        need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        return n - (i - 1) < need ? i - 1 : n;
}

size_t channel_utf8_cut(const char *s, size_t max)
{
        size_t n = strlen(s);

        return utf8_whole(s, n > max ? max : n);
}

void channel_detail_clean(char *s, size_t max)
{
        s[channel_utf8_cut(s, max)] = '\0';
        for (char *p = s; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                        *p = ' ';
}
