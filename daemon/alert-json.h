/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON of the external contract: an alert as published on
 * <base>/<gateway>/alerts/<id>, and what one contact's phone gets on
 * <base>/<gateway>/notify/<contact_id>. Pure: builds strings.
 */
#pragma once

#include "daemon/channel.h"
#include "daemon/store.h"

/*
 * {"id","rule","severity","state","resident":{id,name,building,flat,lives_alone},"building",
 *  "sensor","opened_at","updated_at","text","tier","repeats","test","gateway","acked_by",
 *  "acked_at","resolved_at","outcome","note"} — times ISO 8601 with offset, absent values null.
 * Returns a malloc'd string or NULL on OOM.
 */
char *alert_json(const struct alert_info *a, const char *gateway);

/* What a phone shows: {"alert","purpose","severity","rule","title","text","ack_url","token",
 * "resident":{…},"opened_at","sent_at"}. token may be NULL. */
char *notify_json(const struct delivery_message *m, const char *token, usec_t sent_at);
