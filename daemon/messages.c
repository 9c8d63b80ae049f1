/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message wording for alerts and deliveries (see messages.h): the daemon's
 * side of the templates. Every word comes from template.c — the template
 * files, or its built-in words where a file is missing — so there is one
 * place to change what people read.
 */

#include "daemon/messages.h"

#include "daemon/log.h"
#include "daemon/template.h"

struct Messages {
        char *locale;
        Templates *templates;
        bool problems_logged;
};

int messages_new(const char *locale, const char *templates_dir, Messages **ret)
{
        Messages *m = calloc(1, sizeof(*m));
        const char *shipped;

        if (!m)
                return -ENOMEM;
        m->locale = strdup(isempty(locale) ? "zh_CN" : locale);
        if (!m->locale || templates_new(templates_dir, NULL, &m->templates) < 0) {
                messages_free(m);
                return -ENOMEM;
        }
        /* Installed templates (or an installer's own) are the words people read; without any
         * files at all (a build run from the source tree) the built-in wording still works. */
        shipped = templates_shipped_dir(m->templates);
        if (access(shipped, R_OK) < 0 && (!templates_dir || access(templates_dir, R_OK) < 0))
                log_notice("No message templates in %s: using the built-in wording", shipped);
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

char *messages_render_alert_text(Messages *m, const struct rule_decision *d, const char *resident_name,
                                 const char *building, const char *flat)
{
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
        int r;

        r = templates_render_summary(m->templates, &in, &text, &problems);
        log_problems(m, problems);
        if (r < 0 || isempty(text)) {
                free(text);
                return NULL;
        }
        return text;
}

int messages_render_delivery(Messages *m, const struct outbox_render *in, char **ret_title, char **ret_text)
{
        const struct alert_info *a = in->alert;
        const struct delivery_info *d = in->delivery;
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
        int r;

        r = templates_render_message(m->templates, &mi, ret_title, ret_text, &problems);
        log_problems(m, problems);
        if (r < 0)
                return r;
        if (isempty(*ret_title) || isempty(*ret_text)) {
                /* An installer's template that renders to nothing: the outbox sends the alert's text. */
                free(*ret_title);
                free(*ret_text);
                *ret_title = *ret_text = NULL;
                return -ENODATA;
        }
        return 0;
}
