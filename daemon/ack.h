/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Acknowledgements that arrive as MQTT messages on <base>/<gateway>/ack:
 *   {"alert":12,"contact":"C1","token":"…","action":"ack"|"resolve","note":"…","outcome":"…"}
 * The token must be one the contact was sent for that alert; bad, expired or
 * replayed tokens are refused (and counted by Alerts).
 */
#pragma once

#include "daemon/alerts.h"

enum ack_result {
        ACK_DONE,            /* acknowledged or resolved */
        ACK_ALREADY,         /* somebody else acknowledged first: not an error, the reason says who */
};

/*
 * Handle one ack message at time now. Returns ACK_DONE/ACK_ALREADY (>= 0) or
 * -EBADMSG (malformed: reason names the field), -EACCES/-EKEYEXPIRED/-EALREADY
 * (token refused), -ENOENT (no such alert), -ESTALE (already resolved), other
 * -errno. reason is filled for a log line either way.
 */
int ack_handle_message(Alerts *a, const void *payload, size_t len, usec_t now, char *reason, size_t reason_size);
