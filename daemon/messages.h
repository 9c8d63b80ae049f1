/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The words people read: an alert's text (for the alert JSON and the
 * committee's lists) and what one contact's phone shows (title and text,
 * with who else is going and the "I'm going" link). zh_CN by default, en.
 */
#pragma once

#include "daemon/outbox.h"
#include "rules/rules.h"

typedef struct Messages Messages;

int messages_new(const char *locale, const char *templates_dir, Messages **ret);
Messages *messages_free(Messages *m);

/* The alert's text in the default language. malloc'd, NULL on OOM. */
char *messages_render_alert_text(Messages *m, const struct rule_decision *d, const char *resident_name,
                                 const char *building, const char *flat);

/* Title and text of one delivery. 0 or -ENOMEM. */
int messages_render_delivery(Messages *m, const struct outbox_render *in, char **ret_title, char **ret_text);
