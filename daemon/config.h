/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The INI config (/etc/shouwang/shouwang.conf). One table lists every
 * section and key with its type, default and meaning; adding a key is one
 * table line and one struct field. Unknown sections and keys are errors
 * with a did-you-mean; every error names the file, line, section and key
 * and says what to write instead. [rules] keys are the rule engine's own
 * (rules_settings_set). Named sections [webhook:NAME] and [exec:NAME]
 * configure the channels a contact's notify column names.
 */
#pragma once

#include <stdio.h>

#include "daemon/channel.h"
#include "daemon/util.h"
#include "rules/rules.h"

struct config_webhook {
        char *name; /* "webhook:NAME" */
        char *url, *method, *content_type, *body_template;
        char **headers; /* NULL-terminated */
        size_t n_headers;
        usec_t connect_timeout, timeout;
        unsigned line; /* where the section starts, for messages */
};

struct config_exec {
        char *name; /* "exec:NAME" */
        char *command;
        usec_t timeout;
        unsigned line;
};

typedef struct Config {
        char *path;

        /* [general] */
        char *gateway, *database, *timezone, *locale, *templates_dir, *log_level;
        /* [mqtt] */
        bool mqtt_enabled;
        char *mqtt_uri, *mqtt_client_id, *mqtt_username, *mqtt_password_file;
        char *mqtt_ca_file, *mqtt_cert_file, *mqtt_key_file, *mqtt_base_topic;
        usec_t mqtt_keepalive, mqtt_reconnect_max;
        /* [http] */
        char *http_listen, *http_public_url;
        /* [gpio] */
        bool gpio_enabled;
        usec_t gpio_debounce, gpio_retry_interval;
        /* [store] */
        usec_t store_commit_interval;
        int store_events_keep_days;
        /* [escalation] */
        usec_t tier_timeout_critical, tier_timeout_warning, reminder_interval, token_lifetime;
        /* [rules] */
        struct rules_settings rules;

        struct config_webhook *webhooks;
        size_t n_webhooks;
        struct config_exec *execs;
        size_t n_execs;

        char **errors;
        size_t n_errors;
} Config;

/* A config with every default (no file read). NULL on OOM. */
Config *config_new_default(void);

/*
 * Read path over the defaults. Returns 0; or -EINVAL when the file has
 * errors (*ret is still set: config_print_errors() lists them all);
 * -ENOENT/-EACCES when it cannot be read (*ret set, with that error).
 * -ENOMEM with *ret NULL.
 */
int config_load(const char *path, Config **ret);
Config *config_free(Config *c);
DEFINE_FREE_FUNC(Config, config_free);

size_t config_n_errors(Config *c);
void config_print_errors(Config *c, FILE *f);
/* A short summary of the effective settings, for --check-config. */
void config_print_summary(Config *c, FILE *f);

const char *config_database(Config *c);

/*
 * The base of acknowledgement links: [http] public_url if set; otherwise
 * derived from [http] listen — its address when it names one, or this
 * machine's first non-loopback IPv4 address (an "up" interface) when it
 * listens on all of them (0.0.0.0, [::]). Returns 0 with a malloc'd string
 * in *ret; -EADDRNOTAVAIL when no address is known, -ENOMEM.
 */
int config_public_url(const Config *c, char **ret);

/* Whether the "I'm going" pages are served ([http] listen is not "no"). */
bool config_http_enabled(const Config *c);

const struct config_webhook *config_find_webhook(Config *c, const char *name);
const struct config_exec *config_find_exec(Config *c, const char *name);

/* The reference table, for docs and --help. */
struct config_key_info {
        const char *section, *key, *default_value, *description;
};
const struct config_key_info *config_keys(size_t *ret_n);
