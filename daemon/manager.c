/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon object: sd-event loop, wiring, reload, notify, watchdog (see manager.h). */

#include "daemon/manager.h"

#include <malloc.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "daemon/ack.h"
#include "daemon/alerts.h"
#include "daemon/channel.h"
#include "daemon/clock.h"
#include "daemon/config.h"
#include "daemon/db-watch.h"
#include "daemon/log.h"
#include "daemon/messages.h"
#include "daemon/outbox.h"
#include "daemon/store.h"
#include "daemon/watch.h"
#include "daemon/web.h"
#include "sensors/mqtt.h"

#define DEFAULT_CONFIG SHOUWANG_SYSCONFDIR "/shouwang/shouwang.conf"

struct Manager {
        sd_event *event;
        char *config_path, *database_override;
        Config *config;
        Store *store;
        Alerts *alerts;
        Outbox *outbox;
        Watch *watch;
        MqttClient *mqtt;
        DbWatch *dbwatch;
        Web *web;
        int64_t roster_version; /* as last loaded */
        ClockWatch *clock;
        Messages *messages;
        sd_event_source *alerts_timer;
        sd_event_source *prune_timer;
        sd_event_source *links_timer; /* the links' base could not be known at start: tried again */
        uint64_t pruned; /* events deleted in the current run of batches */
        char *ack_topic, *status_topic;
        char mqtt_state[160];
        char status[320];
        bool ready;
};

int manager_block_signals(void)
{
        sigset_t ss;

        /* Before any library starts a thread (Paho), so no thread but the loop's
         * ever gets these; the loop takes them through signalfd. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        sigaddset(&ss, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return -errno;
        /* A broker or webhook that hangs up must not kill us on write. */
        signal(SIGPIPE, SIG_IGN);
        return 0;
}

static void update_status(Manager *m)
{
        struct watch_stats ws = { 0 };
        char s[sizeof(m->status)];

        if (m->watch)
                watch_get_stats(m->watch, &ws);
        snprintf(s, sizeof(s), "Watching %u residents, %u sensors (%u GPIO lines%s%s); MQTT: %s", ws.residents,
                 ws.sensors, ws.gpio_active, ws.gpio_waiting ? ", waiting for " : "",
                 ws.gpio_waiting ? "some" : "", m->config && m->config->mqtt_enabled ? m->mqtt_state : "disabled");
        if (streq(s, m->status))
                return;
        snprintf(m->status, sizeof(m->status), "%s", s);
        if (m->ready)
                (void)sd_notifyf(false, "STATUS=%s", m->status);
}

/* ---- alerts timer --------------------------------------------------------------------------------------------- */

static int on_alerts_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void arm_alerts_timer(Manager *m)
{
        usec_t next, now_wall, mono, delay;
        int r;

        if (!m->alerts)
                return;
        next = alerts_next_wakeup(m->alerts);
        if (next == USEC_INFINITY) {
                if (m->alerts_timer)
                        (void)sd_event_source_set_enabled(m->alerts_timer, SD_EVENT_OFF);
                return;
        }
        /* Escalation times are stored in wall time; we wait on the monotonic clock, at
         * most a minute at a time, so a clock step neither fires nor holds back a tier. */
        now_wall = now_usec(CLOCK_REALTIME);
        delay = next > now_wall ? next - now_wall : 0;
        if (delay > USEC_PER_MINUTE)
                delay = USEC_PER_MINUTE;
        sd_event_now(m->event, CLOCK_BOOTTIME, &mono);
        if (m->alerts_timer) {
                r = sd_event_source_set_time(m->alerts_timer, mono + delay);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->alerts_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(m->event, &m->alerts_timer, CLOCK_BOOTTIME, mono + delay, 100 * USEC_PER_MSEC,
                                      on_alerts_timer, m);
        if (r < 0)
                log_error_errno(r, "Cannot arm the escalation timer: %m");
}

static int on_alerts_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;
        int r = alerts_tick(m->alerts, now_usec(CLOCK_REALTIME));

        if (r < 0)
                log_error("Escalation failed: %s — retrying", store_error(m->store));
        arm_alerts_timer(m);
        return 0;
}

/* [store] events_keep_days: old sensor events go, a batch at a time (a year's
 * backlog on a Pi's SD card is millions of rows), once a day after the first
 * minute. Only with a synchronised clock: a Pi that boots with a clock years
 * ahead must not throw its history away. */
#define PRUNE_BATCH 5000

static int on_prune_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;
        usec_t keep = (usec_t)m->config->store_events_keep_days * USEC_PER_DAY, now = now_usec(CLOCK_REALTIME);
        usec_t next = USEC_PER_DAY;
        int64_t n = 0;

        if (m->clock && clock_watch_synced(m->clock) && now > keep) {
                n = store_events_prune(m->store, now - keep, PRUNE_BATCH);
                if (n < 0) {
                        log_warning("Cannot delete sensor events older than %d days: %s — trying again in an hour",
                                    m->config->store_events_keep_days, store_error(m->store));
                        next = USEC_PER_HOUR;
                } else if (n == PRUNE_BATCH)
                        next = USEC_PER_SEC; /* more to go: the next batch in a second */
                m->pruned += n > 0 ? (uint64_t)n : 0;
                if (n >= 0 && n < PRUNE_BATCH && m->pruned > 0) {
                        log_info("Deleted %" PRIu64 " sensor events older than %d days ([store] events_keep_days)",
                                 m->pruned, m->config->store_events_keep_days);
                        m->pruned = 0;
                }
        }
        if (sd_event_source_set_time_relative(s, next) < 0 || sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0)
                log_warning("Cannot rearm the timer that deletes old sensor events");
        return 0;
}

static void on_planned(Alerts *a, void *userdata)
{
        Manager *m = userdata;

        if (m->outbox)
                outbox_kick(m->outbox);
        arm_alerts_timer(m);
}

/* ---- MQTT -------------------------------------------------------------------------------------------------- */

static void on_mqtt_message(MqttClient *c, const char *topic, const void *payload, size_t len, bool retained,
                            void *userdata)
{
        Manager *m = userdata;
        char reason[256];

        if (m->ack_topic && streq(topic, m->ack_topic)) {
                /* A retained ack would replay on every reconnect: acks are never state. */
                if (retained)
                        return;
                int r = ack_handle_message(m->alerts, payload, len, now_usec(CLOCK_REALTIME), reason, sizeof(reason));
                if (r >= 0)
                        log_notice("MQTT ack: %s", reason);
                else
                        log_warning("MQTT ack refused: %s (%u refused so far)", reason,
                                    (unsigned)alerts_tokens_refused(m->alerts));
                return;
        }
        watch_mqtt_message(m->watch, topic, payload, len, retained);
}

static void on_mqtt_state(MqttClient *c, bool connected, const char *reason, void *userdata)
{
        Manager *m = userdata;

        if (connected) {
                snprintf(m->mqtt_state, sizeof(m->mqtt_state), "connected");
                /* Deliveries deferred while the broker was away go now. */
                if (m->outbox)
                        outbox_channel_up(m->outbox, "mqtt");
        } else
                snprintf(m->mqtt_state, sizeof(m->mqtt_state), "connecting (%s)", strempty(reason));
        update_status(m);
}

/* What we subscribe to: every sensor's topics (from the watch) and the ack topic. */
static int update_subscriptions(Manager *m)
{
        size_t n = 0;
        char *const *wsubs = watch_subscriptions(m->watch, &n);
        _cleanup_free_ char **subs = calloc(n + 2, sizeof(char *));

        if (!subs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                subs[i] = wsubs[i];
        subs[n] = m->ack_topic;
        return mqtt_client_set_subscriptions(m->mqtt, subs, n + 1);
}

static int setup_mqtt(Manager *m)
{
        _cleanup_free_ char *password = NULL;
        Config *c = m->config;
        int r;

        if (!c->mqtt_enabled)
                return 0;
        if (c->mqtt_password_file) {
                r = mqtt_read_password_file(c->mqtt_password_file, &password);
                if (r < 0)
                        return log_error_errno(r, "Cannot read [mqtt] password_file %s: %m", c->mqtt_password_file);
        }
        free(m->ack_topic);
        free(m->status_topic);
        if (asprintf(&m->ack_topic, "%s/%s/ack", c->mqtt_base_topic, c->gateway) < 0 ||
            asprintf(&m->status_topic, "%s/%s/status", c->mqtt_base_topic, c->gateway) < 0)
                return log_oom();
        struct mqtt_settings st = {
                .uri = c->mqtt_uri,
                .client_id = c->mqtt_client_id,
                .username = c->mqtt_username,
                .password = password,
                .ca_file = c->mqtt_ca_file,
                .cert_file = c->mqtt_cert_file,
                .key_file = c->mqtt_key_file,
                .keepalive = c->mqtt_keepalive,
                .reconnect_max = c->mqtt_reconnect_max,
                .status_topic = m->status_topic,
        };
        r = mqtt_client_new(m->event, &st, &m->mqtt);
        if (password)
                explicit_bzero(password, strlen(password));
        if (r < 0)
                return r;
        mqtt_client_set_callbacks(m->mqtt, on_mqtt_message, on_mqtt_state, m);

        r = update_subscriptions(m);
        if (r < 0)
                return log_oom();
        snprintf(m->mqtt_state, sizeof(m->mqtt_state), "connecting to %s", c->mqtt_uri);
        return mqtt_client_start(m->mqtt);
}

/* ---- channels ---------------------------------------------------------------------------------------------- */

static int setup_channels(Manager *m)
{
        Config *c = m->config;
        Channel *ch = NULL;
        int r;

        if (m->mqtt) {
                r = channel_mqtt_new(m->mqtt, c->mqtt_base_topic, c->gateway, &ch);
                if (r < 0 || (r = outbox_add_channel(m->outbox, ch)) < 0)
                        return log_oom();
        }
        for (size_t i = 0; i < c->n_webhooks; i++) {
                const struct config_webhook *w = &c->webhooks[i];
                struct webhook_settings ws = {
                        .url = w->url,
                        .method = w->method,
                        .content_type = w->content_type,
                        .body_template = w->body_template,
                        .headers = w->headers,
                        .connect_timeout = w->connect_timeout,
                        .timeout = w->timeout,
                };
                r = channel_webhook_new(m->event, w->name, &ws, &ch);
                if (r < 0)
                        return log_error_errno(r, "Cannot set up [%s]: %m", w->name);
                r = outbox_add_channel(m->outbox, ch);
                if (r < 0)
                        return log_oom();
        }
        for (size_t i = 0; i < c->n_execs; i++) {
                const struct config_exec *x = &c->execs[i];
                struct exec_settings es = { .command = x->command, .timeout = x->timeout };
                r = channel_exec_new(m->event, x->name, &es, &ch);
                if (r < 0)
                        return log_error_errno(r, "Cannot set up [%s]: %m", x->name);
                r = outbox_add_channel(m->outbox, ch);
                if (r < 0)
                        return log_oom();
        }
        return 0;
}

/* ---- rendering --------------------------------------------------------------------------------------------- */

static int render_delivery(const struct outbox_render *in, char **ret_title, char **ret_text, void *userdata)
{
        Manager *m = userdata;
        return messages_render_delivery(m->messages, in, ret_title, ret_text);
}

static char *render_alert_text(const struct rule_decision *d, const char *resident_name, const char *building,
                               const char *flat, void *userdata)
{
        Manager *m = userdata;
        return messages_render_alert_text(m->messages, d, resident_name, building, flat);
}

/* ---- building and tearing down ------------------------------------------------------------------------------ */

static void runtime_free(Manager *m)
{
        if (m->watch)
                (void)watch_flush(m->watch);
        m->dbwatch = db_watch_free(m->dbwatch);
        m->web = web_free(m->web);
        m->outbox = outbox_free(m->outbox);   /* its channels first: they hold the MQTT client */
        m->mqtt = mqtt_client_free(m->mqtt);  /* says "offline" */
        m->watch = watch_free(m->watch);
        m->alerts = alerts_free(m->alerts);
        m->messages = messages_free(m->messages);
        m->alerts_timer = sd_event_source_disable_unref(m->alerts_timer);
        m->prune_timer = sd_event_source_disable_unref(m->prune_timer);
        m->links_timer = sd_event_source_disable_unref(m->links_timer);
}

#define LINKS_RETRY (30 * USEC_PER_SEC)

/* At boot the network may come up after us: once the gateway has an address, messages carry links again. */
static int on_links_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;
        _cleanup_free_ char *url = NULL;

        if (config_public_url(m->config, &url) < 0 || outbox_set_public_url(m->outbox, url) < 0) {
                (void)sd_event_source_set_time_relative(s, LINKS_RETRY);
                (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        log_notice("The gateway has an address now: the \"I'm going\" links start with %s", url);
        return 0;
}

static void on_db_change(DbWatch *w, void *userdata)
{
        Manager *m = userdata;
        int64_t v = store_roster_version(m->store);

        /* Read before loading: a change made during the load is reloaded next time.
         * shouwangctl changed something: the roster (reload what we watch), or an
         * ack or a test alert (send what was planned, rearm the ladder). The
         * roster, with its GPIO lines, is reloaded only when it really moved. */
        if (v < 0 || v != m->roster_version) {
                log_info("The roster was changed by shouwangctl: reloading it");
                if (watch_load(m->watch) < 0)
                        log_error("Reloading the roster failed; keeping what was loaded");
                else
                        m->roster_version = v;
                if (m->mqtt && update_subscriptions(m) < 0)
                        log_oom();
                (void)malloc_trim(0);
        }
        outbox_kick(m->outbox);
        arm_alerts_timer(m);
        update_status(m);
}

static void on_clock(ClockWatch *w, bool synced, bool jumped, void *userdata)
{
        Manager *m = userdata;

        if (jumped)
                log_info("The wall clock was set%s", synced ? " (synchronised)" : "");
        if (m->watch)
                watch_set_clock_synced(m->watch, synced);
        arm_alerts_timer(m);
}

/*
 * Everything a reload rebuilds, in dependency order; each block is where its
 * backend plugs in:
 *   messages   wording of alerts and deliveries (locale, templates)
 *   alerts     alert lifecycle and escalation ladder (fed by the rule engine's decisions)
 *   outbox     delivery channels: mqtt, webhook:NAME, exec:NAME (setup_channels())
 *   watch      sensor sources (GPIO lines via libgpiod, MQTT topics) → events → rules/ → alerts
 *   mqtt       the Paho client: sensor topics, the ack topic, the mqtt channel (setup_mqtt())
 *   web        the "I'm going" pages on [http] listen (daemon/web.c), and the links' base (public_url)
 *   dbwatch    roster changes made by shouwangctl
 */
static int runtime_setup(Manager *m)
{
        Config *c = m->config;
        int r;

        r = messages_new(c->locale, c->templates_dir, &m->messages);
        if (r < 0)
                return log_error_errno(r, "Cannot load the message templates: %m");

        struct alerts_settings as = {
                .tier_timeout_critical = c->tier_timeout_critical,
                .tier_timeout_warning = c->tier_timeout_warning,
                .reminder_interval = c->reminder_interval,
                .token_lifetime = c->token_lifetime,
                .no_broadcast = !c->mqtt_enabled,
        };
        r = alerts_new(m->store, &as, &m->alerts);
        if (r < 0)
                return log_oom();
        alerts_set_planned_callback(m->alerts, on_planned, m);
        /* The first look a few seconds after start, once the roster and MQTT are up. */
        r = sd_event_add_time_relative(m->event, &m->prune_timer, CLOCK_BOOTTIME, 5 * USEC_PER_SEC, USEC_PER_SEC,
                                       on_prune_timer, m);
        if (r < 0)
                log_warning_errno(r, "Cannot arm the timer that deletes old sensor events: %m");

        /* The links in messages: [http] public_url, or else the address the pages are served on. */
        _cleanup_free_ char *public_url = NULL;
        if (c->http_public_url || config_http_enabled(c)) {
                r = config_public_url(c, &public_url);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0) {
                        log_warning_errno(r, "No address for the \"I'm going\" links (the gateway has no network "
                                             "address yet: %m); messages go without a link until it has one "
                                             "(looked for every 30 s). Set [http] public_url to the address phones "
                                             "open, e.g. http://192.168.1.20:8080");
                        if (sd_event_add_time_relative(m->event, &m->links_timer, CLOCK_BOOTTIME, LINKS_RETRY,
                                                       USEC_PER_SEC, on_links_timer, m) < 0)
                                log_warning("Cannot arm the timer to look for the gateway's address again");
                }
        }
        struct outbox_settings os = { .gateway = c->gateway, .public_url = public_url, .locale = c->locale };
        r = outbox_new(m->event, m->store, m->alerts, &os, &m->outbox);
        if (r < 0)
                return log_oom();
        outbox_set_renderer(m->outbox, render_delivery, m);

        struct watch_settings wst = {
                .commit_interval = c->store_commit_interval,
                .gpio_enabled = c->gpio_enabled,
                .gpio_debounce = c->gpio_debounce,
                .gpio_retry = c->gpio_retry_interval,
                .rules = &c->rules,
                .render_text = render_alert_text,
                .render_userdata = m,
        };
        r = watch_new(m->event, m->store, m->alerts, &wst, &m->watch);
        if (r < 0)
                return log_oom();
        if (m->clock)
                watch_set_clock_synced(m->watch, clock_watch_synced(m->clock));
        m->roster_version = store_roster_version(m->store);
        r = watch_load(m->watch);
        if (r < 0)
                return r;

        r = setup_mqtt(m);
        if (r < 0)
                return r;
        r = setup_channels(m);
        if (r < 0)
                return r;
        /* Loading a big roster frees as much as it keeps (rows read, name tables
         * rebuilt): give it back rather than hold it for the gateway's life. */
        (void)malloc_trim(0);

        /* The "I'm going" pages, on this loop. A port that is busy now is tried again later: alerts go out
         * all the same, and the links work once it listens. */
        if (config_http_enabled(c)) {
                struct web_settings ws = { .listen = c->http_listen, .locale = c->locale };
                r = web_new(m->event, m->store, m->alerts, m->messages, &ws, &m->web);
                if (r < 0)
                        return log_error_errno(r, "Cannot serve the \"I'm going\" pages on %s: %m", c->http_listen);
        }

        r = db_watch_new(m->event, m->store, 200 * USEC_PER_MSEC, on_db_change, m, &m->dbwatch);
        if (r < 0)
                log_warning_errno(r, "Cannot watch the database for shouwangctl's changes (%m); they take effect "
                                     "after systemctl reload shouwang");
        /* What was pending when we stopped (a crash, a power cut) goes out now. */
        outbox_kick(m->outbox);
        arm_alerts_timer(m);
        update_status(m);
        return 0;
}

static int apply_environment(Config *c)
{
        if (c->timezone) {
                /* Time-of-day rules use local time: the configured zone, not the system's. */
                char tz[128];
                snprintf(tz, sizeof(tz), ":%s", c->timezone);
                if (setenv("TZ", tz, 1) < 0)
                        return -errno;
                tzset();
        }
        if (!getenv("SHOUWANG_LOG_LEVEL"))
                log_set_max_level(log_parse_level(c->log_level) >= 0 ? log_parse_level(c->log_level) : LOG_INFO);
        return 0;
}

static int on_signal_exit(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Manager *m = userdata;

        log_info("Stopping on %s", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        (void)sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        return sd_event_exit(m->event, 0);
}

static int on_signal_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Manager *m = userdata;
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        /* MONOTONIC_USEC= lets a Type=notify-reload unit (systemd ≥ 253) match this to its SIGHUP. */
        (void)sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading %s",
                         (unsigned long long)now_usec(CLOCK_MONOTONIC), m->config_path);
        r = config_load(m->config_path, &c);
        if (r < 0) {
                log_error("Not reloading: %s has errors; still running with the settings loaded before:", m->config_path);
                for (size_t i = 0; c && i < c->n_errors; i++)
                        log_error("%s", c->errors[i]);
                /* STATUS= again: systemctl status would otherwise say "Reloading" until something changes. */
                (void)sd_notifyf(false, "READY=1\nSTATUS=%s", m->status);
                return 0;
        }
        if (m->database_override) {
                free(c->database);
                c->database = strdup(m->database_override);
                if (!c->database)
                        return log_oom();
        }
        if (!streq(c->database, m->config->database)) {
                /* The open store stays; the config says which one is in use, so the next reload compares right. */
                log_warning("[general] database changed — restart shouwang to use %s", c->database);
                char *in_use = m->config->database;
                m->config->database = c->database;
                c->database = in_use;
        }
        runtime_free(m);
        config_free(m->config);
        m->config = TAKE_PTR(c);
        (void)apply_environment(m->config);
        r = runtime_setup(m);
        if (r < 0) {
                log_error_errno(r, "Reload failed: %m — stopping so systemd restarts shouwang cleanly");
                return sd_event_exit(m->event, r);
        }
        log_info("Reloaded %s", m->config_path);
        (void)sd_notifyf(false, "READY=1\nSTATUS=%s", m->status);
        return 0;
}

int manager_new(const char *config_path, const char *database_override, Manager **ret)
{
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
        int r;

        if (!m)
                return -ENOMEM;
        m->config_path = strdup(config_path ? config_path : DEFAULT_CONFIG);
        if (!m->config_path)
                return -ENOMEM;
        if (database_override && !(m->database_override = strdup(database_override)))
                return -ENOMEM;

        if (!config_path && access(DEFAULT_CONFIG, F_OK) < 0) {
                log_info("No %s: using the built-in defaults", DEFAULT_CONFIG);
                m->config = config_new_default();
                if (!m->config)
                        return -ENOMEM;
        } else {
                r = config_load(m->config_path, &m->config);
                if (r < 0) {
                        for (size_t i = 0; m->config && i < m->config->n_errors; i++)
                                log_error("%s", m->config->errors[i]);
                        return log_error_errno(r, "Not starting: fix %s (shouwangd --check-config -c %s lists the "
                                                  "problems)",
                                               m->config_path, m->config_path);
                }
        }
        if (m->database_override) {
                free(m->config->database);
                m->config->database = strdup(m->database_override);
                if (!m->config->database)
                        return -ENOMEM;
        }
        r = apply_environment(m->config);
        if (r < 0)
                return r;

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_signal_exit, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_signal_exit, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGHUP, on_signal_reload, m);
        if (r < 0)
                return log_error_errno(r, "Cannot handle signals: %m");
        /* WATCHDOG=1 every half of WatchdogSec=, from the loop itself: a stuck loop gets restarted. */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot set up the watchdog: %m");
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        runtime_free(m);
        m->clock = clock_watch_free(m->clock);
        m->store = store_free(m->store);
        config_free(m->config);
        sd_event_unref(m->event);
        free(m->config_path);
        free(m->database_override);
        free(m->ack_topic);
        free(m->status_topic);
        free(m);
        return NULL;
}

int manager_run(Manager *m)
{
        int r;

        log_info("shouwangd %s starting: database %s, gateway %s", SHOUWANG_VERSION, m->config->database,
                 m->config->gateway);
        r = store_open(m->config->database, STORE_OPEN_CREATE | STORE_OPEN_SMALL_CACHE | STORE_OPEN_CHECKPOINT_LATER,
                       &m->store);
        if (r < 0) {
                log_error("%s", store_open_error());
                return r;
        }
        r = clock_watch_new(m->event, on_clock, m, &m->clock);
        if (r < 0)
                return log_oom();
        r = runtime_setup(m);
        if (r < 0)
                return r;

        m->ready = true;
        (void)sd_notifyf(false, "READY=1\nSTATUS=%s", m->status);
        log_info("%s", m->status);

        r = sd_event_loop(m->event);
        runtime_free(m);
        log_info("shouwangd stopped");
        return r;
}
