/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The "I'm going" pages: routes, the token, the alert as HTML, acknowledging and resolving. */

#include "daemon/web.h"

#include "daemon/http.h"
#include "daemon/log.h"
#include "daemon/template.h"

#define NOTE_MAX_BYTES 2000 /* the box takes 500 characters: up to 4 bytes each in UTF-8 */

struct Web {
        sd_event *event;
        Store *store;
        Alerts *alerts;
        Messages *messages;
        char *listen;
        bool en;
        usec_t retry;
        HttpServer *server;
        sd_event_source *retry_timer;
        int last_error; /* of the last try to listen, so a port still busy is not logged every 30 s */
};

/* ---- words ----------------------------------------------------------------------------------------------- */

struct words {
        const char *lang;
        const char *going_button, *going_hint;
        const char *done_heading, *done_hint;
        const char *outcomes[4][2]; /* value, label */
        const char *note_label, *resolve_button;
        const char *nobody, *you_going, *other_going, *resolved, *test, *cleared;
        const char *told, *told_going, *told_went, *told_not_reached, *refresh;
        const char *bad_link_title, *bad_link, *expired_title, *expired, *not_found_title, *not_found;
        const char *home_title, *home;
        const char *form_title, *note_too_long, *bad_form, *busy;
        const char *roles[5][2];
};

static const struct words zh = {
        .lang = "zh-CN",
        .going_button = "我去看看",
        .going_hint = "点了以后，其他人会知道你在路上，不再往上通知。",
        .done_heading = "处理完了？",
        .done_hint = "看过了就在这里关闭提醒。",
        .outcomes = { { "ok", "平安无事" }, { "hospital", "已送医院" }, { "false_alarm", "误报" }, { "other", "其他（写在说明里）" } },
        .note_label = "说明（可不填）",
        .resolve_button = "已处理，关闭提醒",
        .nobody = "还没有人说要去。",
        .you_going = "你已说要去（{when}）。其他人都收到了通知。",
        .other_going = "{who} 已在路上（{when}）。",
        .resolved = "已处理：{who}，{how}（{when}）{note}",
        .test = "这是测试，不用出门。",
        .cleared = "传感器 {when} 起已恢复正常，但还是要有人去看一眼。",
        .told = "已通知",
        .told_going = "在路上",
        .told_went = "去看了",
        .told_not_reached = "还没送达",
        .refresh = "刷新",
        .bad_link_title = "链接不对",
        .bad_link = "这个链接打不开这条提醒。请用最新一条消息里的链接，整段复制，不要改动；还不行请打电话给居委会。",
        .expired_title = "链接已过期",
        .expired = "这个链接已经过期了。提醒如果还没处理，请打电话给居委会或楼组长。",
        .not_found_title = "没有这个页面",
        .not_found = "这里没有这个页面。守望的页面只从提醒消息里的链接打开。",
        .home_title = "守望",
        .home = "守望在运行。提醒消息里的“我去看看”链接会在这里打开。",
        .form_title = "没有提交成功",
        .note_too_long = "说明太长了（最多500字），请写短一些再提交。",
        .bad_form = "提交的内容不完整，请回到提醒页面再点一次。",
        .busy = "暂时没能保存，请稍后再点一次；急事请直接打电话。",
        .roles = { { "neighbour", "结对邻居" }, { "group_leader", "楼组长" }, { "committee", "居委会" }, { "family", "家属" },
                   { "property", "物业" } },
};

static const struct words en = {
        .lang = "en",
        .going_button = "I'm going",
        .going_hint = "The others will know you are on the way, and nobody further is called.",
        .done_heading = "Done?",
        .done_hint = "Once you have looked, close the alert here.",
        .outcomes = { { "ok", "All is well" }, { "hospital", "Taken to hospital" }, { "false_alarm", "False alarm" },
                      { "other", "Something else (say in the note)" } },
        .note_label = "Note (optional)",
        .resolve_button = "Resolved: close the alert",
        .nobody = "Nobody has said they are going yet.",
        .you_going = "You said you are going ({when}). The others were told.",
        .other_going = "{who} is on the way ({when}).",
        .resolved = "Resolved by {who}: {how} ({when}){note}",
        .test = "This is a test: nobody needs to go.",
        .cleared = "The sensor has been back to normal since {when}, but someone should still look in.",
        .told = "Told",
        .told_going = "on the way",
        .told_went = "went",
        .told_not_reached = "not reached yet",
        .refresh = "Refresh",
        .bad_link_title = "This link does not work",
        .bad_link = "This link does not open this alert. Use the link in the newest message, copied whole; if that "
                "fails, call the residents' committee.",
        .expired_title = "This link has expired",
        .expired = "This link has expired. If the alert is still open, call the residents' committee or the "
               "building-group leader.",
        .not_found_title = "No such page",
        .not_found = "There is no such page. shouwang's pages open from the link in an alert message.",
        .home_title = "shouwang",
        .home = "shouwang is running. The \"I'm going\" links in alert messages open here.",
        .form_title = "That did not go through",
        .note_too_long = "The note is too long (at most 500 characters). Please shorten it and send again.",
        .bad_form = "The form arrived incomplete. Go back to the alert and tap again.",
        .busy = "That could not be saved just now. Tap again in a moment; if it is urgent, phone.",
        .roles = { { "neighbour", "neighbour" }, { "group_leader", "building-group leader" },
                   { "committee", "committee" }, { "family", "family" }, { "property", "property" } },
};

static const struct words *W(const Web *w)
{
        return w->en ? &en : &zh;
}

static const char *role_words(const Web *w, const char *role)
{
        for (size_t i = 0; i < ELEMENTSOF(zh.roles); i++)
                if (streq_ptr(role, W(w)->roles[i][0]))
                        return W(w)->roles[i][1];
        return role;
}

/* "01:10" today, "11-22 01:10" another day, local time. */
static void format_when(usec_t t, usec_t now, char *buf, size_t size)
{
        time_t tt = (time_t)(t / USEC_PER_SEC), tn = (time_t)(now / USEC_PER_SEC);
        struct tm tm, tmn;

        if (!t || !localtime_r(&tt, &tm) || !localtime_r(&tn, &tmn)) {
                snprintf(buf, size, "?");
                return;
        }
        strftime(buf, size, tm.tm_yday == tmn.tm_yday && tm.tm_year == tmn.tm_year ? "%H:%M" : "%m-%d %H:%M", &tm);
}

/* ---- HTML ------------------------------------------------------------------------------------------------ */

/* Big type and big buttons, no scripts, no web fonts: an old Android phone, a 70-year-old's eyes. */
static const char style[] =
        "body{margin:0;font:20px/1.5 sans-serif;color:#111;background:#fff}"
        "header{padding:12px 16px;background:#555;color:#fff}"
        ".critical header{background:#b00020}.warning header{background:#b35900}.info header{background:#2f5d8a}"
        "h1{font-size:24px;margin:0;line-height:1.3}h2{font-size:20px;margin:0 0 8px}"
        "main{padding:8px 16px 24px}p{margin:8px 0}"
        ".status{padding:12px;margin:12px 0;border:2px solid #888;border-radius:8px;font-weight:bold}"
        ".status.going{border-color:#1b7f3b;background:#e8f5ec}.status.done{border-color:#555;background:#eee}"
        ".status.test{border-color:#2f5d8a;background:#e8eef5}"
        "button{display:block;width:100%;min-height:56px;margin:12px 0 4px;font-size:22px;font-weight:bold;"
        "border:0;border-radius:8px;color:#fff;background:#1b7f3b}"
        "button.resolve{background:#2f5d8a;font-size:20px}"
        "fieldset{border:1px solid #aaa;border-radius:8px;margin:16px 0;padding:8px 12px}"
        "legend{font-weight:bold;padding:0 4px}"
        "label{display:block;padding:8px 0}input[type=radio]{width:22px;height:22px;vertical-align:middle;"
        "margin:0 8px 0 0}"
        "textarea{width:100%;box-sizing:border-box;min-height:80px;font-size:18px}"
        ".hint{color:#444;font-size:17px}.error{color:#b00020;font-weight:bold}"
        "ul{padding-left:20px}li{margin:4px 0}a{color:#2f5d8a}";

static void page_begin(FILE *f, const Web *w, const char *severity, const char *title)
{
        _cleanup_free_ char *t = html_escape(strempty(title));

        fprintf(
            f,
            "<!doctype html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"robots\" content=\"noindex\">"
            "<title>%s</title><style>%s</style></head>\n<body class=\"%s\">\n<header><h1>%s</h1></header>\n<main>\n",
            W(w)->lang, strempty(t), style, severity ? severity : "plain", strempty(t));
}

static void page_end(FILE *f)
{
        fputs("</main>\n</body></html>\n", f);
}

/* One line of text as a paragraph. */
static void para(FILE *f, const char *cls, const char *text)
{
        _cleanup_free_ char *t = html_escape(strempty(text));
        if (cls)
                fprintf(f, "<p class=\"%s\">%s</p>\n", cls, strempty(t));
        else
                fprintf(f, "<p>%s</p>\n", strempty(t));
}

/* Close the page's stream (only then are its buffer and length final) and hand the page over. */
static void respond_page(struct http_response *resp, int status, FILE *f, char **buf, size_t *len)
{
        fclose(f);
        resp->status = status;
        resp->body = *buf;
        resp->body_len = *len;
}

/* A page that only says something: errors, the home page. */
static void respond_message(const Web *w, struct http_response *resp, int status, const char *title, const char *text)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f) {
                resp->status = 500;
                return;
        }
        page_begin(f, w, NULL, title);
        para(f, NULL, text);
        page_end(f);
        respond_page(resp, status, f, &buf, &len);
}

/* ---- the alert page -------------------------------------------------------------------------------------- */

struct told {
        const Web *w;
        FILE *f;            /* the list, as HTML */
        const char *viewer; /* contact id */
        const char *want;   /* a contact id whose name is wanted */
        char *want_name;
        char *viewer_name;
        usec_t now;
        bool resolved;
};

static int on_told(const struct alert_contact_info *c, void *userdata)
{
        struct told *t = userdata;

        if (t->want && !t->want_name && streq_ptr(c->contact_id, t->want))
                t->want_name = strdup(strempty(c->name));
        if (!t->viewer_name && streq_ptr(c->contact_id, t->viewer))
                t->viewer_name = strdup(strempty(c->name));
        if (!t->f)
                return 0;
        _cleanup_free_ char *name = html_escape(strempty(c->name));
        _cleanup_free_ char *role = html_escape(strempty(role_words(t->w, c->role)));
        char when[32];
        format_when(c->notified_at, t->now, when, sizeof(when));
        fprintf(t->f, "<li>%s（%s）%s", strempty(name), strempty(role), when);
        if (c->acked_at)
                fprintf(t->f, " — <b>%s</b>", t->resolved ? W(t->w)->told_went : W(t->w)->told_going);
        else if (!c->reached)
                fprintf(t->f, " — %s", W(t->w)->told_not_reached);
        fputs("</li>\n", t->f);
        return 0;
}

static void hidden_fields(FILE *f, const char *contact, const char *token)
{
        _cleanup_free_ char *c = html_escape(contact), *t = html_escape(token);
        fprintf(f, "<input type=\"hidden\" name=\"c\" value=\"%s\"><input type=\"hidden\" name=\"t\" value=\"%s\">\n",
                strempty(c), strempty(t));
}

/* The page for (alert, contact): error (400) shows above the forms, note refills the note. */
static void respond_alert(Web *w, struct http_response *resp, int64_t alert_id, const char *contact, const char *token,
                          int status, const char *error, const char *note)
{
        struct alert_info ai = {0};
        usec_t now = now_usec(CLOCK_REALTIME);
        char *buf = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        r = store_alert_info_get(w->store, alert_id, &ai);
        if (r < 0) {
                /* The token matched, so the alert existed: a store error. */
                log_warning_errno(r, "Web: cannot read alert %lld: %m", (long long)alert_id);
                respond_message(w, resp, 503, W(w)->form_title, W(w)->busy);
                return;
        }

        /* One pass over who was told: the names the page needs first (the viewer's, whoever is going), and
         * the list for the end of the page. */
        bool resolved = streq_ptr(ai.state, "resolved");
        char *list = NULL;
        size_t list_len = 0;
        struct told names = { .w = w, .viewer = contact, .want = ai.acked_by, .now = now, .resolved = resolved };
        names.f = open_memstream(&list, &list_len);
        (void)store_alert_contacts_foreach(w->store, alert_id, on_told, &names);
        if (names.f)
                fclose(names.f);

        /* What happened, where, since when, what to do: the same words as the message, without its link and
         * without "who is going" (the page says that itself, up to date). */
        struct alert_info shown = ai;
        shown.acked_by_name = NULL;
        struct delivery_info d = { .alert_id = alert_id,
                                  .contact_id = (char *)contact,
                                  .contact_name = names.viewer_name,
                                  .purpose = (char *)"alert"};
        struct outbox_render in = { .alert = &shown, .delivery = &d, .ack_url = NULL };
        _cleanup_free_ char *title = NULL, *text = NULL;
        if (messages_render_delivery(w->messages, &in, &title, &text) < 0) {
                free(title);
                free(text);
                title = strdup(strempty(ai.text));
                text = NULL;
        }

        f = open_memstream(&buf, &len);
        if (!f) {
                alert_info_done(&ai);
                free(names.want_name);
                free(names.viewer_name);
                free(list);
                resp->status = 500;
                return;
        }
        page_begin(f, w, ai.severity, title);
        if (error)
                para(f, "error", error);
        /* The message's lines, each a paragraph. */
        for (char *line = text, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (*line)
                        para(f, NULL, line);
        }

        bool mine = ai.acked_by && streq(ai.acked_by, contact);
        char when[32] = "";
        _cleanup_free_ char *status_text = NULL, *note_text = NULL;
        const char *who = NULL, *how = NULL, *tpl;
        if (resolved) {
                format_when(ai.resolved_at, now, when, sizeof(when));
                who = ai.resolved_by && streq(ai.resolved_by, strempty(ai.acked_by)) && names.want_name
                          ? names.want_name
                          : ai.resolved_by;
                how = templates_outcome_text(ai.outcome, w->en ? "en" : "zh_CN");
                if (!isempty(ai.note) && asprintf(&note_text, w->en ? " — %s" : "——%s", ai.note) < 0)
                        note_text = NULL;
                tpl = W(w)->resolved;
        } else if (ai.acked_by) {
                format_when(ai.acked_at, now, when, sizeof(when));
                who = names.want_name ? names.want_name : ai.acked_by;
                tpl = mine ? W(w)->you_going : W(w)->other_going;
        } else
                tpl = W(w)->nobody;
        const struct template_var vars[] = {
            {"who", who},
            {"how", how},
            {"when", when},
            {"note", note_text},
        };
        if (template_render(tpl, vars, ELEMENTSOF(vars), 0, &status_text, NULL) < 0)
                status_text = NULL;
        para(f, resolved ? "status done" : ai.acked_by ? "status going" : "status", status_text);
        if (ai.test)
                para(f, "status test", W(w)->test);
        /* The leak dried, the door closed: said, but it never closes the alert by itself (he may still be
         * lying on the floor). */
        if (ai.cleared_at && !resolved) {
                _cleanup_free_ char *cleared = NULL;
                char since[32];
                format_when(ai.cleared_at, now, since, sizeof(since));
                const struct template_var cv[] = { { "when", since } };
                if (template_render(W(w)->cleared, cv, ELEMENTSOF(cv), 0, &cleared, NULL) >= 0)
                        para(f, "hint", cleared);
        }

        if (!resolved) {
                if (!mine) {
                        fprintf(f, "<form method=\"post\" action=\"%lld\">\n", (long long)alert_id);
                        hidden_fields(f, contact, token);
                        fprintf(f, "<button type=\"submit\" name=\"action\" value=\"ack\" class=\"go\">%s</button>\n",
                                W(w)->going_button);
                        fprintf(f, "<p class=\"hint\">%s</p>\n</form>\n", W(w)->going_hint);
                }
                fprintf(f, "<form method=\"post\" action=\"%lld\">\n", (long long)alert_id);
                hidden_fields(f, contact, token);
                fprintf(f, "<fieldset><legend>%s</legend>\n<p class=\"hint\">%s</p>\n", W(w)->done_heading,
                        W(w)->done_hint);
                for (size_t i = 0; i < ELEMENTSOF(zh.outcomes); i++)
                        fprintf(f, "<label><input type=\"radio\" name=\"outcome\" value=\"%s\"%s>%s</label>\n",
                                W(w)->outcomes[i][0], i == 0 ? " checked" : "", W(w)->outcomes[i][1]);
                _cleanup_free_ char *n = html_escape(strempty(note));
                fprintf(f,
                        "<label for=\"note\">%s</label><textarea id=\"note\" name=\"note\" maxlength=\"500\">%s"
                        "</textarea>\n<button type=\"submit\" name=\"action\" value=\"resolve\" class=\"resolve\">%s"
                        "</button>\n</fieldset>\n</form>\n",
                        W(w)->note_label, strempty(n), W(w)->resolve_button);
        }

        fprintf(f, "<h2>%s</h2>\n<ul>\n%s</ul>\n", W(w)->told, strempty(list));
        _cleanup_free_ char *qc = url_escape(contact), *qt = url_escape(token);
        fprintf(f, "<p><a href=\"%lld?c=%s&amp;t=%s\">%s</a></p>\n", (long long)alert_id, strempty(qc), strempty(qt),
                W(w)->refresh);
        page_end(f);
        respond_page(resp, status, f, &buf, &len);
        alert_info_done(&ai);
        free(names.want_name);
        free(names.viewer_name);
        free(list);
}

/* ---- requests -------------------------------------------------------------------------------------------- */

/* "/a/7" → 7; -1 for anything else. The page's own links are relative ("7?c=…" from "/a/7"), so a reverse
 * proxy may serve the pages under a folder of its own (https://example.org/shouwang/a/7). */
static int64_t alert_from_path(const char *path)
{
        const char *p = startswith(path, "/a/");
        int64_t id = 0;

        if (!p || !*p || strlen(p) > 15)
                return -1;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -1;
                id = id * 10 + (*p - '0');
        }
        return id > 0 ? id : -1;
}

/* The token said no: the page that says why. */
static void respond_refused(const Web *w, struct http_response *resp, int r)
{
        if (r == -EKEYEXPIRED)
                respond_message(w, resp, 410, W(w)->expired_title, W(w)->expired);
        else if (r == -EACCES)
                respond_message(w, resp, 403, W(w)->bad_link_title, W(w)->bad_link);
        else
                respond_message(w, resp, 503, W(w)->form_title, W(w)->busy);
}

static void see_other(struct http_response *resp, int64_t alert_id, const char *contact, const char *token)
{
        _cleanup_free_ char *qc = url_escape(contact), *qt = url_escape(token);

        resp->status = 303;
        if (!qc || !qt || asprintf(&resp->location, "%lld?c=%s&t=%s", (long long)alert_id, qc, qt) < 0) {
                resp->location = NULL;
                resp->status = 500;
        }
}

static void handle_post(Web *w, const struct http_request *req, struct http_response *resp, int64_t alert_id)
{
        _cleanup_free_ char *contact = NULL, *token = NULL, *action = NULL, *outcome = NULL, *note = NULL;
        usec_t now = now_usec(CLOCK_REALTIME);
        int r;

        if (req->content_type && !startswith(req->content_type, "application/x-www-form-urlencoded")) {
                respond_message(w, resp, 415, W(w)->form_title, W(w)->bad_form);
                return;
        }
        if (http_form_get(req->body, req->body_len, "c", &contact) < 0 ||
            http_form_get(req->body, req->body_len, "t", &token) < 0) {
                respond_message(w, resp, 400, W(w)->form_title, W(w)->bad_form);
                return;
        }
        unsigned used = 0;
        r = alerts_token_verify(w->alerts, alert_id, contact, token, now, &used);
        if (r < 0) {
                log_warning("Web: refused a form for alert %lld from %s: token %s (%u refused so far)",
                            (long long)alert_id, req->remote, r == -EKEYEXPIRED ? "expired" : "not valid",
                            (unsigned)alerts_tokens_refused(w->alerts));
                respond_refused(w, resp, r);
                return;
        }
        r = http_form_get(req->body, req->body_len, "action", &action);
        if (r == -EINVAL || (r >= 0 && !streq(action, "ack") && !streq(action, "resolve"))) {
                respond_alert(w, resp, alert_id, contact, token, 400, W(w)->bad_form, NULL);
                return;
        }
        if (r == -ENOENT)
                action = strdup("ack");
        r = http_form_get(req->body, req->body_len, "note", &note);
        if (r == -EINVAL) {
                respond_alert(w, resp, alert_id, contact, token, 400, W(w)->bad_form, NULL);
                return;
        }
        if (note && strlen(note) > NOTE_MAX_BYTES) {
                /* Said, and nothing typed is lost: the note comes back in the form. */
                respond_alert(w, resp, alert_id, contact, token, 400, W(w)->note_too_long, note);
                return;
        }
        r = http_form_get(req->body, req->body_len, "outcome", &outcome);
        if (r == -EINVAL || (r >= 0 && !streq(outcome, "ok") && !streq(outcome, "hospital") &&
                             !streq(outcome, "false_alarm") && !streq(outcome, "other"))) {
                respond_alert(w, resp, alert_id, contact, token, 400, W(w)->bad_form, note);
                return;
        }
        if (!action)
                return (void)(resp->status = 500);

        if (used & (streq(action, "ack") ? ALERT_TOKEN_USED_ACK : ALERT_TOKEN_USED_RESOLVE)) {
                /* The same tap twice (a double tap, the back button): what it asked for is done. Not a
                 * replay to count: the page just shows where things stand. */
                see_other(resp, alert_id, contact, token);
                return;
        }
        r = alerts_token_check(w->alerts, alert_id, contact, token, action, now);
        if (r == -EALREADY)
                r = 0; /* used in the meantime */
        else if (r < 0) {
                respond_refused(w, resp, r);
                return;
        } else if (streq(action, "ack")) {
                _cleanup_free_ char *by = NULL;
                r = alerts_ack(w->alerts, alert_id, contact, "web", now, &by);
                if (r >= 0)
                        log_notice("Web: alert %lld acknowledged by %s (%s)", (long long)alert_id, contact,
                                   req->remote);
                else if (r == -EALREADY)
                        log_info("Web: alert %lld: %s is going too; %s was first", (long long)alert_id, contact,
                                 strempty(by));
        } else {
                r = alerts_resolve(w->alerts, alert_id, contact, outcome ? outcome : "ok", strempty(note), now);
                if (r >= 0)
                        log_notice("Web: alert %lld resolved by %s (%s)", (long long)alert_id, contact, req->remote);
        }
        if (r < 0 && r != -EALREADY && r != -ESTALE && r != -ENOENT) {
                log_warning_errno(r, "Web: alert %lld: %s by %s failed: %m", (long long)alert_id, action, contact);
                respond_alert(w, resp, alert_id, contact, token, 503, W(w)->busy, note);
                return;
        }
        see_other(resp, alert_id, contact, token);
}

void web_handle(const struct http_request *req, struct http_response *resp, void *userdata)
{
        Web *w = userdata;
        int64_t alert_id;
        int r;

        if (streq(req->path, "/")) {
                if (streq(req->method, "POST"))
                        return respond_message(w, resp, 405, W(w)->not_found_title, W(w)->not_found);
                return respond_message(w, resp, 200, W(w)->home_title, W(w)->home);
        }
        if (streq(req->path, "/favicon.ico")) {
                resp->status = 204;
                return;
        }
        alert_id = alert_from_path(req->path);
        if (alert_id < 0)
                return respond_message(w, resp, 404, W(w)->not_found_title, W(w)->not_found);
        if (streq(req->method, "POST"))
                return handle_post(w, req, resp, alert_id);

        _cleanup_free_ char *contact = NULL, *token = NULL;
        if (http_form_get(req->query, strlen(req->query), "c", &contact) < 0 ||
            http_form_get(req->query, strlen(req->query), "t", &token) < 0) {
                /* A link cut short by a chat app, or typed by hand. */
                return respond_message(w, resp, 403, W(w)->bad_link_title, W(w)->bad_link);
        }
        r = alerts_token_verify(w->alerts, alert_id, contact, token, now_usec(CLOCK_REALTIME), NULL);
        if (r < 0) {
                log_warning("Web: refused a link for alert %lld from %s: token %s (%u refused so far)",
                            (long long)alert_id, req->remote, r == -EKEYEXPIRED ? "expired" : "not valid",
                            (unsigned)alerts_tokens_refused(w->alerts));
                return respond_refused(w, resp, r);
        }
        respond_alert(w, resp, alert_id, contact, token, 200, NULL, NULL);
}

/* ---- listening ------------------------------------------------------------------------------------------- */

static int try_listen(Web *w);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        Web *w = userdata;

        if (try_listen(w) < 0) {
                (void)sd_event_source_set_time_relative(s, w->retry);
                (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

static int try_listen(Web *w)
{
        int r = http_server_new(w->event, w->listen, web_handle, w, &w->server);

        if (r >= 0) {
                log_info("Web: the \"I'm going\" pages are served on %s", w->listen);
                w->last_error = 0;
                return 0;
        }
        if (r != w->last_error)
                log_warning_errno(r,
                                  "Web: cannot listen on %s ([http] listen): %m — the \"I'm going\" links do "
                                  "not work until it can; trying again every %llu s. Choose a free port if "
                                  "another program has this one.",
                                  w->listen, (unsigned long long)(w->retry / USEC_PER_SEC));
        w->last_error = r;
        if (!w->retry_timer && sd_event_add_time_relative(w->event, &w->retry_timer, CLOCK_BOOTTIME, w->retry,
                                                          USEC_PER_SEC, on_retry, w) < 0)
                log_warning("Web: cannot arm the timer to try again; restart shouwang once the port is free");
        return r;
}

int web_new(sd_event *e, Store *store, Alerts *alerts, Messages *messages, const struct web_settings *settings,
            Web **ret)
{
        Web *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->event = sd_event_ref(e);
        w->store = store;
        w->alerts = alerts;
        w->messages = messages;
        w->en = streq(templates_locale(settings->locale), "en");
        w->retry = settings->retry ? settings->retry : 30 * USEC_PER_SEC;
        w->listen = strdup(settings->listen);
        if (!w->listen) {
                web_free(w);
                return -ENOMEM;
        }
        int r = try_listen(w);
        if (r == -EINVAL || r == -ENOMEM) {
                web_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

Web *web_free(Web *w)
{
        if (!w)
                return NULL;
        http_server_free(w->server);
        sd_event_source_disable_unref(w->retry_timer);
        sd_event_unref(w->event);
        free(w->listen);
        free(w);
        return NULL;
}

int web_port(Web *w)
{
        return w && w->server ? http_server_port(w->server) : -EADDRNOTAVAIL;
}
