/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The alert and notify JSON of the external contract. */

#include "daemon/alert-json.h"

#include <cjson/cJSON.h>

static void add_str(cJSON *o, const char *k, const char *v)
{
        if (v)
                cJSON_AddStringToObject(o, k, v);
        else
                cJSON_AddNullToObject(o, k);
}

static void add_time(cJSON *o, const char *k, usec_t t)
{
        char buf[ISO8601_MAX];
        if (t)
                cJSON_AddStringToObject(o, k, format_iso8601(buf, sizeof(buf), t));
        else
                cJSON_AddNullToObject(o, k);
}

static char *print_and_free(cJSON *o)
{
        char *s = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        return s;
}

char *alert_json(const struct alert_info *a, const char *gateway)
{
        cJSON *o = cJSON_CreateObject(), *res;

        if (!o)
                return NULL;
        cJSON_AddNumberToObject(o, "id", (double)a->id);
        add_str(o, "rule", a->rule);
        add_str(o, "severity", a->severity);
        add_str(o, "state", a->state);
        if (a->resident_id && (res = cJSON_AddObjectToObject(o, "resident"))) {
                add_str(res, "id", a->resident_id);
                add_str(res, "name", a->resident_name);
                add_str(res, "building", a->building_id);
                add_str(res, "flat", a->flat);
                if (a->lives_alone >= 0)
                        cJSON_AddBoolToObject(res, "lives_alone", a->lives_alone);
        } else
                cJSON_AddNullToObject(o, "resident");
        add_str(o, "building", a->building_id);
        add_str(o, "sensor", a->sensor_id);
        add_time(o, "opened_at", a->opened_at);
        add_time(o, "updated_at", a->updated_at);
        add_str(o, "text", a->text);
        cJSON_AddNumberToObject(o, "tier", a->tier);
        cJSON_AddNumberToObject(o, "repeats", a->repeats);
        cJSON_AddBoolToObject(o, "test", a->test);
        add_str(o, "gateway", gateway);
        add_str(o, "acked_by", a->acked_by);
        add_str(o, "acked_by_name", a->acked_by_name);
        add_time(o, "acked_at", a->acked_at);
        add_time(o, "cleared_at", a->cleared_at);
        add_time(o, "resolved_at", a->resolved_at);
        add_str(o, "resolved_by", a->resolved_by);
        add_str(o, "outcome", a->outcome);
        add_str(o, "note", a->note);
        return print_and_free(o);
}

char *notify_json(const struct delivery_message *m, const char *token, usec_t sent_at)
{
        cJSON *o = cJSON_CreateObject(), *res;

        if (!o)
                return NULL;
        cJSON_AddNumberToObject(o, "alert", (double)m->alert_id);
        add_str(o, "purpose", m->purpose);
        add_str(o, "severity", m->severity);
        add_str(o, "rule", m->rule);
        add_str(o, "contact", m->contact_id);
        add_str(o, "title", m->title);
        add_str(o, "text", m->text);
        add_str(o, "ack_url", isempty(m->ack_url) ? NULL : m->ack_url);
        add_str(o, "token", token);
        if ((res = cJSON_AddObjectToObject(o, "resident"))) {
                add_str(res, "id", isempty(m->resident_id) ? NULL : m->resident_id);
                add_str(res, "name", m->resident_name);
                add_str(res, "building", m->building);
                add_str(res, "flat", m->flat);
        }
        add_str(o, "opened_at", m->opened_at);
        add_time(o, "sent_at", sent_at);
        return print_and_free(o);
}
