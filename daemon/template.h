/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message templates: the words a neighbour's phone shows, in files an
 * installer can edit.
 *
 *   template_render()          pure: "{name}" placeholders from a list of values
 *   Templates                  finds template files: the reader's language
 *                              first, then zh_CN; the exact text key first,
 *                              then its parents; the installer's override
 *                              directory first, then the shipped one
 *   templates_render_message() the title and text of one delivery
 *
 * Layout (docs/channels.md has the whole story):
 *
 *   <dir>/<locale>/message/<purpose>.txt   alert, ack_info, reminder, resolved, test:
 *                                          first line the title, the rest the text
 *   <dir>/<locale>/what/<text key>.txt     what happened: first line short (for the
 *                                          title), the lines after it the explanation
 *   <dir>/<locale>/guidance/<text key>.txt what to do on arrival (may be absent)
 *   <dir>/<locale>/summary.txt             the alert's one-line text (alert JSON, lists)
 *
 * Nothing here logs: problems (an unknown {placeholder}, a missing file)
 * come back as a sentence for the caller to log, and a message is always
 * produced — from built-in words if no file can be found — because an alert
 * must never be lost to a typo in a template.
 */
#pragma once

#include "daemon/util.h"
#include "rules/rules.h"

/* ---- rendering (pure) ---------------------------------------------------------------------------------- */

struct template_var {
        const char *name;  /* without braces */
        const char *value; /* NULL renders as "" */
};

enum {
        /* Values are escaped for the inside of a JSON string ("…"): a body template for a robot. */
        TEMPLATE_ESCAPE_JSON = 1 << 0,
        /* Values are percent-encoded: an application/x-www-form-urlencoded body or a query string. */
        TEMPLATE_ESCAPE_URL = 1 << 1,
        /* CR and LF in values become spaces: an HTTP header value. */
        TEMPLATE_ONE_LINE = 1 << 2,
        /* A line that has placeholders, all of which rendered empty, is left out entirely
         * ("已有人去：{going}" while nobody is going). For message texts. */
        TEMPLATE_DROP_EMPTY_LINES = 1 << 3,
};

/*
 * Render tpl: "{name}" (a letter or '_', then letters, digits, '_', '.', '-')
 * becomes the value of the var of that name; "{{" is a literal "{"; any other
 * '{' or '}' is copied as it is, so JSON bodies need no escaping. Values are
 * never scanned again. A {name} with no var is copied unchanged, so the
 * reader sees the typo, and named in *ret_unknown ("{nmae}, {txet}"; NULL
 * when every placeholder was known; ret_unknown may be NULL).
 *
 * Returns the number of unknown placeholders (>= 0) with *ret set (malloc'd),
 * or -ENOMEM.
 */
int template_render(const char *tpl, const struct template_var *vars, size_t n_vars, unsigned flags, char **ret,
                    char **ret_unknown);

/* ---- template files -------------------------------------------------------------------------------------- */

typedef struct Templates Templates;

/*
 * override_dir: the installer's tree ([general] templates_dir,
 * /etc/shouwang/templates); NULL or a missing directory simply has no
 * overrides. shipped_dir: NULL for $SHOUWANG_SHIPPED_TEMPLATES_DIR if set
 * (tests, the demo), else SHOUWANG_DATADIR "/shouwang/templates".
 * Nothing is read yet: files are read when a message is rendered, so an
 * installer's edit shows in the next message without a restart.
 * Returns 0 or -ENOMEM.
 */
int templates_new(const char *override_dir, const char *shipped_dir, Templates **ret);
Templates *templates_free(Templates *t);
DEFINE_FREE_FUNC(Templates, templates_free);

const char *templates_shipped_dir(const Templates *t);
const char *templates_override_dir(const Templates *t);

/* "zh_CN.UTF-8", "zh", "" or NULL → "zh_CN"; "en_US", "en_GB.UTF-8" → "en"; anything else as given. */
const char *templates_locale(const char *locale);

/*
 * Read one template: name is "message/alert", "what/leak.alone",
 * "guidance/smoke" or "summary". Tried in this order: the locale, then
 * zh_CN; within each, the name, then its parents ("what/leak.alone" →
 * "what/leak"); for each of those, the override directory, then the
 * shipped one.
 * The text comes without a UTF-8 BOM, with CRLF turned into LF and trailing
 * white space removed. ret_path (optional) says which file it was.
 * Returns 0; -ENOENT if there is none; -EINVAL for a name with "..", or
 * characters other than letters, digits, '_', '-', '.', '/'; -ENOMEM;
 * another -errno if a file exists but cannot be read.
 */
int templates_load(Templates *t, const char *locale, const char *name, char **ret_text, char **ret_path);

/*
 * The built-in words used when no file has a template: every message/<purpose>,
 * summary, what/<rule> and some guidance/<rule>, in zh_CN and en (any other
 * locale gets zh_CN). name as for templates_load(), its parents tried in turn
 * ("what/leak.common" → "what/leak"). A static string, or NULL if there is none.
 */
const char *templates_builtin(const char *name, const char *locale);

/* ---- messages ------------------------------------------------------------------------------------------- */

/*
 * What one message is about. Everything may be NULL/0 except purpose and
 * text_key; the outbox fills it from the alert and the delivery.
 */
struct message_input {
        const char *purpose;       /* "alert", "ack_info", "reminder", "resolved", "test" */
        const char *text_key;      /* the rule's key: "leak.alone", "tap_running.critical" */
        const char *locale;        /* the reader's language: zh_CN (default) or en */
        const char *severity;      /* critical, warning, info */
        bool test;                 /* a marked test alert: rendered with message/test whatever the purpose */
        int64_t alert_id;

        const char *resident_name; /* NULL or "" for a common area */
        const char *building;
        const char *flat;
        int lives_alone;           /* 1, 0; -1 unknown or common area */
        usec_t opened_at;          /* wall clock */

        /* The rule's parameters: params, or else params_json as stored with the alert
         * ({"since":"…","duration_s":…,"litres":…,"count":…}); neither: none. */
        const struct decision_params *params;
        const char *params_json;

        const char *contact_name;  /* the reader */
        const char *going;         /* who is on the way (the acknowledger), NULL while nobody is */
        const char *notified;      /* the others told, "王阿姨、李组长", or NULL */
        const char *ack_url;       /* the reader's "I'm going" link, NULL or "" if none */
        const char *resolver;      /* resolved: who closed it */
        const char *outcome;       /* resolved: "ok", "hospital", "false_alarm" or free text */
        const char *note;          /* resolved: the note */
};

/*
 * The title (one line) and text (several lines: what, where, when, what to
 * do, who is going, the link) of one message. ret_problems (optional) gets
 * NULL, or a sentence naming each file with an unknown placeholder and each
 * template that is missing, for the caller to log; the message is produced
 * all the same. Returns 0 or -ENOMEM.
 */
int templates_render_message(Templates *t, const struct message_input *in, char **ret_title, char **ret_text,
                             char **ret_problems);

/*
 * The alert's one-line text ("长乐路17号 201室 沈国强：漏水（01:10 起）") for
 * the alert JSON and the committee's lists, from summary.txt; purpose and
 * the contact fields of in are not used. Returns 0 or -ENOMEM.
 */
int templates_render_summary(Templates *t, const struct message_input *in, char **ret_text, char **ret_problems);

/* How a resolved alert's outcome reads: "ok" → "平安无事" / "all is well"; free text as it is; NULL if empty. */
const char *templates_outcome_text(const char *outcome, const char *locale);

/* Fill a decision_params from the JSON stored with an alert. Missing fields stay unused. 0 or -EINVAL. */
int decision_params_from_json(const char *json, struct decision_params *ret);

/* ---- checking ------------------------------------------------------------------------------------------- */

/* The purposes and text keys shouwang renders: NULL-terminated lists. */
extern const char *const templates_purposes[];
extern const char *const templates_text_keys[];

/*
 * Render every purpose with every text key in both locales with sample
 * values, and look at every file in the override directory; call cb for each
 * problem (unknown placeholder, template missing from both directories, a
 * file in the override directory that nothing uses — a misspelt name).
 * For `shouwangd --check-config` and at start. Returns the number of
 * problems, or -ENOMEM.
 */
typedef void (*templates_problem_cb)(const char *problem, void *userdata);
int templates_check(Templates *t, templates_problem_cb cb, void *userdata);
