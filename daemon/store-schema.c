/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The schema, as a list of forward migrations. migration[i] takes a
 * database from user_version i to i+1. Never edit a migration that has
 * shipped: add a new one. tests/unit/test-store-migrate.c builds a database
 * at every earlier version, fills it, and migrates it to the newest.
 *
 * Times are INTEGER microseconds since the epoch (realtime), like usec_t.
 */

#include "daemon/store-schema.h"

#include <stddef.h>

static const char *const migrations[] = {
        /* 0 → 1: the roster committee staff keep. */
        "CREATE TABLE buildings ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  name TEXT NOT NULL DEFAULT '',"
        "  created_at INTEGER NOT NULL"
        ") STRICT;"

        "CREATE TABLE residents ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  name TEXT NOT NULL,"
        "  building_id TEXT NOT NULL REFERENCES buildings(id),"
        "  flat TEXT NOT NULL,"
        "  lives_alone INTEGER NOT NULL CHECK (lives_alone IN (0, 1)),"
        "  phone TEXT NOT NULL DEFAULT '',"
        "  notes TEXT NOT NULL DEFAULT '',"
        "  created_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL"
        ") STRICT;"
        "CREATE INDEX residents_building ON residents(building_id);"

        /* Per-resident rule overrides (key = a rules setting name). */
        "CREATE TABLE resident_settings ("
        "  resident_id TEXT NOT NULL REFERENCES residents(id) ON DELETE CASCADE,"
        "  key TEXT NOT NULL,"
        "  value TEXT NOT NULL,"
        "  PRIMARY KEY (resident_id, key)"
        ") STRICT, WITHOUT ROWID;"

        "CREATE TABLE away_periods ("
        "  id INTEGER PRIMARY KEY,"
        "  resident_id TEXT NOT NULL REFERENCES residents(id) ON DELETE CASCADE,"
        "  starts_at INTEGER NOT NULL,"
        "  ends_at INTEGER NOT NULL CHECK (ends_at > starts_at),"
        "  reason TEXT NOT NULL DEFAULT '',"
        "  created_at INTEGER NOT NULL"
        ") STRICT;"
        "CREATE INDEX away_periods_resident ON away_periods(resident_id, ends_at);"

        "CREATE TABLE contacts ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  name TEXT NOT NULL,"
        "  phone TEXT NOT NULL DEFAULT '',"
        "  role TEXT NOT NULL CHECK (role IN ('neighbour', 'group_leader', 'committee', 'family', 'property')),"
        "  notify TEXT NOT NULL DEFAULT 'mqtt',"
        "  created_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL"
        ") STRICT;"

        /* The escalation ladder; position keeps the file's order inside a tier
         * (the first family contact is tried before the second). */
        "CREATE TABLE resident_contacts ("
        "  resident_id TEXT NOT NULL REFERENCES residents(id) ON DELETE CASCADE,"
        "  contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,"
        "  tier INTEGER NOT NULL CHECK (tier BETWEEN 1 AND 3),"
        "  position INTEGER NOT NULL DEFAULT 0,"
        "  PRIMARY KEY (resident_id, contact_id)"
        ") STRICT, WITHOUT ROWID;"
        "CREATE INDEX resident_contacts_contact ON resident_contacts(contact_id);"

        /* num is a compact key for the events table; id is what people see. */
        "CREATE TABLE sensors ("
        "  num INTEGER PRIMARY KEY,"
        "  id TEXT NOT NULL UNIQUE,"
        "  resident_id TEXT REFERENCES residents(id) ON DELETE RESTRICT,"
        "  building_id TEXT NOT NULL REFERENCES buildings(id),"
        "  kind TEXT NOT NULL CHECK (kind IN ('leak', 'door', 'motion', 'button', 'fall', 'water_flow',"
        "                                     'water_meter', 'smoke', 'gas', 'co')),"
        "  source TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL"
        ") STRICT;"
        "CREATE INDEX sensors_resident ON sensors(resident_id);"
        "CREATE INDEX sensors_source ON sensors(source);"

        "CREATE TABLE audit ("
        "  id INTEGER PRIMARY KEY,"
        "  at INTEGER NOT NULL,"
        "  actor TEXT NOT NULL,"
        "  action TEXT NOT NULL,"
        "  object TEXT NOT NULL DEFAULT '',"
        "  detail TEXT NOT NULL DEFAULT ''"
        ") STRICT;",

        /* 1 → 2: what the daemon records while it watches. */
        "CREATE TABLE sensor_health ("
        "  sensor_num INTEGER PRIMARY KEY REFERENCES sensors(num) ON DELETE CASCADE,"
        "  last_seen INTEGER,"
        "  battery INTEGER,"
        "  available INTEGER,"
        "  available_since INTEGER,"
        "  state TEXT,"
        "  counter INTEGER NOT NULL DEFAULT 0,"
        "  updated_at INTEGER NOT NULL"
        ") STRICT;"

        /* The last real activity of each resident (door, motion, water, button), kept
         * up to date by the daemon's group commit, so an inactivity timer continues
         * across a restart without scanning the events. */
        "CREATE TABLE resident_state ("
        "  resident_id TEXT PRIMARY KEY NOT NULL REFERENCES residents(id) ON DELETE CASCADE,"
        "  last_activity_at INTEGER NOT NULL"
        ") STRICT, WITHOUT ROWID;"

        /* Kept small: one row per normalised event, sensor by number. No foreign
         * key, so removing a sensor does not rewrite its history. */
        "CREATE TABLE events ("
        "  id INTEGER PRIMARY KEY,"
        "  sensor_num INTEGER NOT NULL,"
        "  at INTEGER NOT NULL,"
        "  type INTEGER NOT NULL,"
        "  value REAL,"
        "  flags INTEGER NOT NULL DEFAULT 0"
        ") STRICT;"
        "CREATE INDEX events_sensor_at ON events(sensor_num, at);"

        /* subject is what "one open alert per resident and rule" keys on:
         * the resident's id, or 'building:ID' for common areas. Alerts keep
         * resident and building ids as text without foreign keys so history
         * survives roster changes. text_key + params let the text be rendered
         * again in each contact's language; text is the rendering for the
         * alert JSON. Times are wall clock (usec). */
        "CREATE TABLE alerts ("
        "  id INTEGER PRIMARY KEY,"
        "  rule TEXT NOT NULL,"
        "  severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),"
        "  state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),"
        "  subject TEXT NOT NULL,"
        "  resident_id TEXT,"
        "  building_id TEXT,"
        "  sensor_id TEXT,"
        "  text_key TEXT NOT NULL DEFAULT '',"
        "  params TEXT NOT NULL DEFAULT '{}',"
        "  flags INTEGER NOT NULL DEFAULT 0,"
        "  text TEXT NOT NULL DEFAULT '',"
        "  test INTEGER NOT NULL DEFAULT 0,"
        "  opened_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL,"
        "  repeats INTEGER NOT NULL DEFAULT 0,"
        "  cleared_at INTEGER,"
        "  tier INTEGER NOT NULL DEFAULT 0,"
        "  next_escalation_at INTEGER,"
        "  next_reminder_at INTEGER,"
        "  acked_at INTEGER,"
        "  acked_by TEXT,"
        "  resolved_at INTEGER,"
        "  resolved_by TEXT,"
        "  outcome TEXT,"
        "  note TEXT"
        ") STRICT;"
        "CREATE UNIQUE INDEX alerts_one_open ON alerts(subject, rule) WHERE state <> 'resolved';"
        "CREATE INDEX alerts_state ON alerts(state, opened_at);"

        /* Who was told about an alert, why, and what they did: "tell the others"
         * and "who acknowledged" come from here. */
        "CREATE TABLE alert_contacts ("
        "  alert_id INTEGER NOT NULL REFERENCES alerts(id),"
        "  contact_id TEXT NOT NULL,"
        "  tier INTEGER NOT NULL,"
        "  reason TEXT NOT NULL DEFAULT 'tier',"
        "  notified_at INTEGER NOT NULL,"
        "  acked_at INTEGER,"
        "  PRIMARY KEY (alert_id, contact_id)"
        ") STRICT, WITHOUT ROWID;"

        /* Acknowledgement tokens: 128 random bits each, only their SHA-256 kept.
         * A contact may hold several valid tokens for one alert (each send after
         * a restart makes a new one; the old links keep working until expiry). */
        "CREATE TABLE alert_tokens ("
        "  id INTEGER PRIMARY KEY,"
        "  alert_id INTEGER NOT NULL REFERENCES alerts(id),"
        "  contact_id TEXT NOT NULL,"
        "  token_hash BLOB NOT NULL,"
        "  created_at INTEGER NOT NULL,"
        "  expires_at INTEGER NOT NULL,"
        "  used_ack_at INTEGER,"
        "  used_resolve_at INTEGER"
        ") STRICT;"
        "CREATE INDEX alert_tokens_alert ON alert_tokens(alert_id, contact_id);"

        /* The outbox: every planned delivery (one per contact and channel; contact ''
         * for the alert JSON broadcast), its state and next attempt. */
        "CREATE TABLE deliveries ("
        "  id INTEGER PRIMARY KEY,"
        "  alert_id INTEGER NOT NULL REFERENCES alerts(id),"
        "  contact_id TEXT NOT NULL,"
        "  channel TEXT NOT NULL,"
        "  purpose TEXT NOT NULL DEFAULT 'alert',"
        "  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),"
        "  attempts INTEGER NOT NULL DEFAULT 0,"
        "  next_attempt_at INTEGER NOT NULL,"
        "  created_at INTEGER NOT NULL,"
        "  sent_at INTEGER,"
        "  last_error TEXT"
        ") STRICT;"
        "CREATE INDEX deliveries_pending ON deliveries(next_attempt_at) WHERE state = 'pending';"
        "CREATE INDEX deliveries_alert ON deliveries(alert_id);"

        /* Each attempt, for the audit trail. */
        "CREATE TABLE delivery_attempts ("
        "  id INTEGER PRIMARY KEY,"
        "  delivery_id INTEGER NOT NULL REFERENCES deliveries(id),"
        "  at INTEGER NOT NULL,"
        "  ok INTEGER NOT NULL,"
        "  detail TEXT NOT NULL DEFAULT ''"
        ") STRICT;"
        "CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id);",

        /* 2 → 3: water use, rule state that must outlive a restart, and a roster
         * version so the daemon reloads only when the roster changed. */

        /* Water use per meter in half-hour slots (slot = wall seconds / 1800),
         * in millilitres. A row with 0 says "known: no water"; a missing row
         * says "unknown" (the meter was not reporting). ~15 bytes a row. */
        "CREATE TABLE water_slots ("
        "  sensor_num INTEGER NOT NULL,"
        "  slot INTEGER NOT NULL,"
        "  ml INTEGER NOT NULL CHECK (ml >= 0),"
        "  PRIMARY KEY (sensor_num, slot)"
        ") STRICT, WITHOUT ROWID;"

        /* Small pieces of rule state the engine hands the daemon to keep (a tap
         * run in progress, doors opened tonight, the morning check done today),
         * keyed by subject ('R201', 'building:B17' or 'sensor:12'), rule and key.
         * Values are integers (usually wall-clock usec). */
        "CREATE TABLE rule_state ("
        "  subject TEXT NOT NULL,"
        "  rule TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  value INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL,"
        "  PRIMARY KEY (subject, rule, key)"
        ") STRICT, WITHOUT ROWID;"

        /* Bumped by triggers on every roster table, whoever writes (shouwangctl,
         * the sqlite3 shell): the daemon reloads the roster only when it moved,
         * not on an ack or a test alert. */
        "CREATE TABLE roster_version ("
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  version INTEGER NOT NULL"
        ") STRICT;"
        "INSERT INTO roster_version (id, version) VALUES (1, 1);"
        "CREATE TRIGGER roster_buildings_insert AFTER INSERT ON buildings BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_buildings_update AFTER UPDATE ON buildings BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_buildings_delete AFTER DELETE ON buildings BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_residents_insert AFTER INSERT ON residents BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_residents_update AFTER UPDATE ON residents BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_residents_delete AFTER DELETE ON residents BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_resident_settings_insert AFTER INSERT ON resident_settings BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_resident_settings_update AFTER UPDATE ON resident_settings BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_resident_settings_delete AFTER DELETE ON resident_settings BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_away_periods_insert AFTER INSERT ON away_periods BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_away_periods_update AFTER UPDATE ON away_periods BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_away_periods_delete AFTER DELETE ON away_periods BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_contacts_insert AFTER INSERT ON contacts BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_contacts_update AFTER UPDATE ON contacts BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_contacts_delete AFTER DELETE ON contacts BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_resident_contacts_insert AFTER INSERT ON resident_contacts BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_resident_contacts_update AFTER UPDATE ON resident_contacts BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_resident_contacts_delete AFTER DELETE ON resident_contacts BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_sensors_insert AFTER INSERT ON sensors BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_sensors_update AFTER UPDATE ON sensors BEGIN UPDATE roster_version SET version = version + 1; END;"
        "CREATE TRIGGER roster_sensors_delete AFTER DELETE ON sensors BEGIN UPDATE roster_version SET version = version + 1; END",

        /* 3 → 4: events by time, not by sensor. No query looked events up by sensor; (sensor_num, at) put
         * every message's events on an index page of its own, a random 4 KiB write per message on an SD
         * card. (at) grows at its end, with the rows, and is what the retention's DELETE … WHERE at < ?
         * needs. A sensor's history is a time range filtered by sensor. */
        "DROP INDEX events_sensor_at;"
        "CREATE INDEX events_at ON events(at)",

        /* 4 → 5: no index on events at all. Even (at), appended at its end, cost ~40 % of the bytes
         * written per event (a leaf and its parents rewritten at every group commit). `at` is the
         * arrival time, so it grows with the row id; the retention finds its boundary by a binary
         * search over the ids (store_events_prune()). */
        "DROP INDEX events_at",

        /* 5 → 6: a sensor number is never given out twice. `num` is the rowid, and SQLite gives a new row
         * the highest rowid + 1: removing the newest sensor and adding another handed the newcomer the old
         * one's number, and with it its water use, rule state and events. sensor_nums keeps the highest
         * number ever used (the roster's upsert takes the next); removing a sensor, resident or building
         * removes its rule state, and a sensor its water slots (its events stay, as history). The start
         * value looks at what may still name an old number; events only at their newest 100,000 rows,
         * as they have no index by sensor. */
        "CREATE TABLE sensor_nums ("
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  last INTEGER NOT NULL"
        ") STRICT;"
        "INSERT INTO sensor_nums (id, last) VALUES (1, max("
        "  coalesce((SELECT max(num) FROM sensors), 0),"
        "  coalesce((SELECT max(sensor_num) FROM water_slots), 0),"
        "  coalesce((SELECT max(CAST(substr(subject, 8) AS INTEGER)) FROM rule_state WHERE subject LIKE 'sensor:%'), 0),"
        "  coalesce((SELECT max(sensor_num) FROM (SELECT sensor_num FROM events ORDER BY id DESC LIMIT 100000)), 0)));"
        "CREATE TRIGGER sensor_nums_insert AFTER INSERT ON sensors BEGIN "
        "  UPDATE sensor_nums SET last = max(last, new.num); END;"
        "CREATE TRIGGER sensors_delete_state AFTER DELETE ON sensors BEGIN "
        "  DELETE FROM rule_state WHERE subject = 'sensor:' || old.num;"
        "  DELETE FROM water_slots WHERE sensor_num = old.num; END;"
        "CREATE TRIGGER residents_delete_state AFTER DELETE ON residents BEGIN "
        "  DELETE FROM rule_state WHERE subject = old.id; END;"
        "CREATE TRIGGER buildings_delete_state AFTER DELETE ON buildings BEGIN "
        "  DELETE FROM rule_state WHERE subject = 'building:' || old.id; END;"
        "DELETE FROM rule_state WHERE subject NOT IN (SELECT id FROM residents) "
        "  AND subject NOT IN (SELECT 'building:' || id FROM buildings) "
        "  AND subject NOT IN (SELECT 'sensor:' || num FROM sensors)",
};

int store_schema_latest(void)
{
        return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

const char *store_schema_migration(int from_version)
{
        if (from_version < 0 || from_version >= store_schema_latest())
                return NULL;
        return migrations[from_version];
}
