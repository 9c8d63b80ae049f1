/* SPDX-License-Identifier: GPL-2.0-or-later */
/* MQTT acknowledgements: parse, check the token, acknowledge or resolve. */

#include "daemon/ack.h"

#include <cjson/cJSON.h>

#define ACK_MAX_BYTES 4096

int ack_handle_message(Alerts *a, const void *payload, size_t len, usec_t now, char *reason, size_t reason_size)
{
        cJSON *j, *alert, *contact, *token, *action, *note, *outcome;
        int64_t alert_id;
        const char *act;
        int r;

        reason[0] = '\0';
        if (len > ACK_MAX_BYTES) {
                snprintf(reason, reason_size, "message of %zu bytes is too long for an ack", len);
                return -EBADMSG;
        }
        j = cJSON_ParseWithLength(payload, len);
        if (!j || !cJSON_IsObject(j)) {
                snprintf(reason, reason_size,
                         "not a JSON object — expected {\"alert\":ID,\"contact\":\"C1\",\"token\":\"…\",\"action\":\"ack\"}");
                cJSON_Delete(j);
                return -EBADMSG;
        }
        alert = cJSON_GetObjectItemCaseSensitive(j, "alert");
        contact = cJSON_GetObjectItemCaseSensitive(j, "contact");
        token = cJSON_GetObjectItemCaseSensitive(j, "token");
        action = cJSON_GetObjectItemCaseSensitive(j, "action");
        note = cJSON_GetObjectItemCaseSensitive(j, "note");
        outcome = cJSON_GetObjectItemCaseSensitive(j, "outcome");

        if (cJSON_IsNumber(alert) && alert->valuedouble >= 1 && alert->valuedouble < 9e15 &&
            alert->valuedouble == (double)(int64_t)alert->valuedouble)
                alert_id = (int64_t)alert->valuedouble;
        else if (cJSON_IsString(alert) && safe_atoi(alert->valuestring, &r) == 0 && r > 0)
                alert_id = r;
        else {
                snprintf(reason, reason_size, "field alert: expected the alert number");
                cJSON_Delete(j);
                return -EBADMSG;
        }
        if (!cJSON_IsString(contact) || isempty(contact->valuestring) || strlen(contact->valuestring) > 64) {
                snprintf(reason, reason_size, "field contact: expected the contact id, e.g. \"C1\"");
                cJSON_Delete(j);
                return -EBADMSG;
        }
        if (!cJSON_IsString(token)) {
                snprintf(reason, reason_size, "field token: expected the token from the notification");
                cJSON_Delete(j);
                return -EBADMSG;
        }
        act = cJSON_IsString(action) ? action->valuestring : action ? NULL : "ack";
        if (!act || (!streq(act, "ack") && !streq(act, "resolve"))) {
                snprintf(reason, reason_size, "field action: expected \"ack\" or \"resolve\"");
                cJSON_Delete(j);
                return -EBADMSG;
        }
        if ((note && !cJSON_IsString(note) && !cJSON_IsNull(note)) ||
            (outcome && !cJSON_IsString(outcome) && !cJSON_IsNull(outcome))) {
                snprintf(reason, reason_size, "fields note and outcome must be text");
                cJSON_Delete(j);
                return -EBADMSG;
        }

        r = alerts_token_check(a, alert_id, contact->valuestring, token->valuestring, act, now);
        if (r < 0) {
                snprintf(reason, reason_size, "alert %lld, contact %s: token %s", (long long)alert_id,
                         contact->valuestring,
                         r == -EKEYEXPIRED ? "expired"
                         : r == -EALREADY  ? "already used (replay)"
                                           : "not valid");
                cJSON_Delete(j);
                return r;
        }

        if (streq(act, "ack")) {
                _cleanup_free_ char *by = NULL;
                r = alerts_ack(a, alert_id, contact->valuestring, "mqtt", now, &by);
                if (r == -EALREADY) {
                        snprintf(reason, reason_size, "alert %lld is already acknowledged by %s", (long long)alert_id,
                                 strempty(by));
                        cJSON_Delete(j);
                        return ACK_ALREADY;
                }
                if (r >= 0)
                        snprintf(reason, reason_size, "alert %lld acknowledged by %s", (long long)alert_id,
                                 contact->valuestring);
        } else {
                r = alerts_resolve(a, alert_id, contact->valuestring,
                                   cJSON_IsString(outcome) ? outcome->valuestring : "ok",
                                   cJSON_IsString(note) ? note->valuestring : "", now);
                if (r >= 0)
                        snprintf(reason, reason_size, "alert %lld resolved by %s", (long long)alert_id,
                                 contact->valuestring);
        }
        if (r < 0 && !reason[0])
                snprintf(reason, reason_size, "alert %lld: %s", (long long)alert_id,
                         r == -ENOENT ? "no such alert" : r == -ESTALE ? "already resolved" : strerror(-r));
        cJSON_Delete(j);
        return r < 0 ? r : ACK_DONE;
}
