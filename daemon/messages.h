/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The words people read: an alert's text (for the alert JSON and the
 * committee's lists) and what one contact's phone shows (title and text,
 * with who else is going and the "I'm going" link). zh_CN by default, en.
 * The words themselves are template.c's: the template files, else its
 * built-in words.
 */
#pragma once

#include "daemon/outbox.h"
#include "rules/rules.h"

typedef struct Messages Messages;

int messages_new(const char *locale, const char *templates_dir, Messages **ret);
Messages *messages_free(Messages *m);

/* The alert's one-line text in the default language (summary.txt). malloc'd; NULL on OOM or when the
 * templates rendered nothing (the caller then uses the text key). */
char *messages_render_alert_text(Messages *m, const struct rule_decision *d, const char *resident_name,
                                 const char *building, const char *flat);

/* Title and text of one delivery. 0, -ENOMEM, or -ENODATA when the templates rendered an empty title or
 * text (the outbox then sends the alert's own text). */
int messages_render_delivery(Messages *m, const struct outbox_render *in, char **ret_title, char **ret_text);
