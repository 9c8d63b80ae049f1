/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "I'm going" pages: what the link in an alert message opens on a
 * neighbour's phone.
 *
 *   GET  /a/<alert>?c=<contact>&t=<token>   the alert: what happened, where,
 *        since when, what to do, who else was told and who is on the way;
 *        a big "I'm going" button and a "resolved" form. Showing the page
 *        never uses the token up (chat apps fetch links for their previews).
 *   POST /a/<alert>   (form: c, t, action=ack|resolve, outcome, note)
 *        does it, then answers 303 back to the page, so a reload never sends
 *        the form twice.
 *   GET  /            says what this is.
 *
 * Plain HTML forms, no JavaScript, large type: it has to work in an old
 * Android phone's browser and in chat apps' built-in ones. The words are in
 * the gateway's language ([general] locale: zh_CN or en).
 */
#pragma once

#include <systemd/sd-event.h>

#include "daemon/alerts.h"
#include "daemon/messages.h"
#include "daemon/store.h"

typedef struct Web Web;

struct web_settings {
        const char *listen; /* [http] listen, "0.0.0.0:8080" */
        const char *locale; /* zh_CN or en */
        usec_t retry;       /* how often a busy port is tried again: 30 s */
};

/*
 * Start serving on settings->listen. A port that cannot be had now (in use,
 * the address not yet configured at boot) is logged and tried again every
 * settings->retry: alerts go out all the same, only the links wait. Returns
 * 0, -EINVAL for an address that is not HOST:PORT, -ENOMEM.
 */
int web_new(sd_event *e, Store *store, Alerts *alerts, Messages *messages, const struct web_settings *settings,
            Web **ret);
Web *web_free(Web *w);
DEFINE_FREE_FUNC(Web, web_free);

/* The port it listens on, or -EADDRNOTAVAIL while it is waiting to try again. */
int web_port(Web *w);

/* Answer one request (exposed for tests of the pages without a socket). */
struct http_request;
struct http_response;
void web_handle(const struct http_request *req, struct http_response *resp, void *userdata);
