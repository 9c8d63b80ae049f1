/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The topic map (see topic-map.h): an open-addressing hash table over the
 * distinct topics, which are kept in insertion order for subscribing. Topic
 * strings live in a few large chunks rather than one malloc each, so a roster
 * of 50,000 sensors (~150,000 topics with the derived ones) builds with a few
 * hundred allocations.
 *
 * The hash is FNV-1a without a secret seed. That is fine here: only the roster
 * inserts keys, so a sender of hostile topics can make lookups miss but cannot
 * lengthen the probe chains.
 */

#include "sensors/topic-map.h"

#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
        struct arena_chunk *next;
        size_t used, size;
        char data[];
};

/* 40 bytes: a street's gateway has 100,000 of these (docs/performance.md figure 4). */
struct topic_entry {
        const char *topic; /* in the arena */
        uint32_t len;      /* at most TOPIC_MAP_TOPIC_MAX */
        uint32_t hash;
        uint32_t n, n_alloc;
        union {
                struct topic_sensor one;   /* when n == 1: most topics have a single sensor */
                struct topic_sensor *many; /* when n > 1 */
        };
};

struct TopicMap {
        struct topic_entry *entries; /* in the order first added */
        size_t n_entries, n_alloc;
        uint32_t *index; /* entry number + 1; 0 is an empty slot */
        size_t index_size; /* a power of two, at least twice n_entries */
        size_t n_sensors;
        struct arena_chunk *arena;
};

static uint32_t hash_topic(const char *s, size_t n)
{
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 0x100000001b3ULL;
        }
        return (uint32_t)(h ^ (h >> 32));
}

static const char *arena_strndup(TopicMap *m, const char *s, size_t n)
{
        struct arena_chunk *c = m->arena;
        char *p;

        if (!c || c->size - c->used < n + 1) {
                size_t size = n + 1 > ARENA_CHUNK ? n + 1 : ARENA_CHUNK;
                c = malloc(sizeof(*c) + size);
                if (!c)
                        return NULL;
                c->next = m->arena;
                c->used = 0;
                c->size = size;
                m->arena = c;
        }
        p = c->data + c->used;
        memcpy(p, s, n);
        p[n] = '\0';
        c->used += n + 1;
        return p;
}

int topic_map_new(TopicMap **ret)
{
        TopicMap *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        *ret = m;
        return 0;
}

TopicMap *topic_map_free(TopicMap *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_entries; i++)
                if (m->entries[i].n > 1)
                        free(m->entries[i].many);
        free(m->entries);
        free(m->index);
        while (m->arena) {
                struct arena_chunk *next = m->arena->next;
                free(m->arena);
                m->arena = next;
        }
        free(m);
        return NULL;
}

static struct topic_entry *find(const TopicMap *m, const char *topic, size_t len, uint32_t hash)
{
        size_t mask, i;

        if (m->index_size == 0)
                return NULL;
        mask = m->index_size - 1;
        for (i = (size_t)hash & mask;; i = (i + 1) & mask) {
                uint32_t slot = m->index[i];
                struct topic_entry *e;

                if (slot == 0)
                        return NULL;
                e = &m->entries[slot - 1];
                if (e->hash == hash && e->len == len && memcmp(e->topic, topic, len) == 0)
                        return e;
        }
}

static void index_put(uint32_t *index, size_t size, uint32_t hash, uint32_t slot)
{
        size_t mask = size - 1, i;

        for (i = (size_t)hash & mask; index[i] != 0; i = (i + 1) & mask)
                ;
        index[i] = slot;
}

/* Room for `want` entries in the array and in the index, without rehashing on the way. */
static int reserve(TopicMap *m, size_t want)
{
        if (want >= UINT32_MAX - 1)
                return -ENOMEM;
        if (want > m->n_alloc) {
                size_t na = m->n_alloc ? m->n_alloc : 64;
                while (na < want)
                        na *= 2;
                struct topic_entry *ne = realloc(m->entries, na * sizeof(*ne));
                if (!ne)
                        return -ENOMEM;
                m->entries = ne;
                m->n_alloc = na;
        }
        /* Load factor at most 1/2: probe chains stay short with linear probing. */
        if (want * 2 > m->index_size) {
                size_t ns = m->index_size ? m->index_size : 128;
                while (ns < want * 2)
                        ns *= 2;
                uint32_t *ni = calloc(ns, sizeof(*ni));
                if (!ni)
                        return -ENOMEM;
                for (size_t i = 0; i < m->n_entries; i++)
                        index_put(ni, ns, m->entries[i].hash, (uint32_t)i + 1);
                free(m->index);
                m->index = ni;
                m->index_size = ns;
        }
        return 0;
}

static int reserve_entry(TopicMap *m)
{
        return reserve(m, m->n_entries + 1);
}

int topic_map_reserve(TopicMap *m, size_t n_sensors)
{
        /* Each sensor's topic and, for Zigbee2MQTT, its derived …/availability. */
        return m ? reserve(m, n_sensors * 2) : -EINVAL;
}

static struct topic_sensor *entry_sensors(struct topic_entry *e)
{
        return e->n <= 1 ? &e->one : e->many;
}

static int entry_append(struct topic_entry *e, const struct topic_sensor *s)
{
        if (e->n == 0) {
                e->one = *s;
                e->n = 1;
                return 0;
        }
        if (e->n == 1) {
                /* one and many share their bytes: move the first sensor out before the array goes in */
                struct topic_sensor *nm = malloc(4 * sizeof(*nm));
                if (!nm)
                        return -ENOMEM;
                nm[0] = e->one;
                e->many = nm;
                e->n_alloc = 4;
        } else if (e->n == e->n_alloc) {
                uint32_t na = e->n_alloc * 2;
                struct topic_sensor *nm = realloc(e->many, na * sizeof(*nm));
                if (!nm)
                        return -ENOMEM;
                e->many = nm;
                e->n_alloc = na;
        }
        e->many[e->n++] = *s;
        return 0;
}

static int add_one(TopicMap *m, const char *topic, size_t len, uint32_t sensor, enum sensor_kind kind,
                   enum payload_role role)
{
        uint32_t hash = hash_topic(topic, len);
        struct topic_entry *e = find(m, topic, len, hash);
        struct topic_sensor s = { .sensor = sensor, .kind = kind, .role = role };
        int r;

        if (e) {
                struct topic_sensor *v = entry_sensors(e);
                for (size_t i = 0; i < e->n; i++) {
                        if (v[i].sensor != sensor)
                                continue;
                        if (v[i].kind != kind && (role == PAYLOAD_DATA || v[i].role == PAYLOAD_DATA))
                                return -EEXIST;
                        if (role == PAYLOAD_DATA && v[i].role != PAYLOAD_DATA) {
                                v[i].role = PAYLOAD_DATA;
                                v[i].kind = kind;
                                m->n_sensors++;
                        }
                        return 0;
                }
        } else {
                const char *copy;

                r = reserve_entry(m);
                if (r < 0)
                        return r;
                copy = arena_strndup(m, topic, len);
                if (!copy)
                        return -ENOMEM;
                e = &m->entries[m->n_entries];
                *e = (struct topic_entry){ .topic = copy, .len = (uint32_t)len, .hash = hash };
                m->n_entries++;
                index_put(m->index, m->index_size, hash, (uint32_t)m->n_entries);
        }
        r = entry_append(e, &s);
        if (r < 0)
                return r;
        if (role == PAYLOAD_DATA)
                m->n_sensors++;
        return 0;
}

static bool topic_valid(const char *topic, size_t len)
{
        if (len == 0 || len > TOPIC_MAP_TOPIC_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)topic[i];
                if (c == '+' || c == '#' || c < 0x20 || c == 0x7f)
                        return false;
        }
        return true;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
        size_t n = strlen(suffix);

        return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

int topic_map_add(TopicMap *m, const char *topic, uint32_t sensor, enum sensor_kind kind)
{
        char derived[TOPIC_MAP_TOPIC_MAX + 32];
        const char *dev, *slash;
        size_t len;
        int r;

        if (!m || !topic || (unsigned)kind >= _SENSOR_KIND_MAX)
                return -EINVAL;
        len = strnlen(topic, TOPIC_MAP_TOPIC_MAX + 1);
        if (!topic_valid(topic, len))
                return -EINVAL;

        r = add_one(m, topic, len, sensor, kind, PAYLOAD_DATA);
        if (r < 0)
                return r;

        /* Zigbee2MQTT: <base>/<friendly name>/availability. Not derived from a topic that
         * already is an availability topic. */
        if (!ends_with(topic, len, "/availability")) {
                int n = snprintf(derived, sizeof(derived), "%s/availability", topic);
                r = add_one(m, derived, (size_t)n, sensor, kind, PAYLOAD_AVAILABILITY);
                if (r < 0)
                        return r;
        }

        /* Tasmota's default full topic %prefix%/%topic%/: tele/DEV/SENSOR, stat/DEV/POWER…
         * and its last will on tele/DEV/LWT. */
        if ((dev = startswith(topic, "tele/")) || (dev = startswith(topic, "stat/"))) {
                slash = strchr(dev, '/');
                if (slash && slash > dev && slash[1] != '\0') {
                        int n = snprintf(derived, sizeof(derived), "tele/%.*s/LWT", (int)(slash - dev), dev);
                        r = add_one(m, derived, (size_t)n, sensor, kind, PAYLOAD_AVAILABILITY);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int topic_map_lookup(const TopicMap *m, const char *topic, const struct topic_sensor **ret_sensors,
                     size_t *ret_n)
{
        struct topic_entry *e;
        size_t len;

        if (!m || !topic)
                return -ENOENT;
        len = strlen(topic);
        e = find(m, topic, len, hash_topic(topic, len));
        if (!e)
                return -ENOENT;
        *ret_sensors = entry_sensors(e);
        *ret_n = e->n;
        return 0;
}

size_t topic_map_n_topics(const TopicMap *m)
{
        return m ? m->n_entries : 0;
}

size_t topic_map_n_sensors(const TopicMap *m)
{
        return m ? m->n_sensors : 0;
}

const char *topic_map_topic(const TopicMap *m, size_t i)
{
        if (!m || i >= m->n_entries)
                return NULL;
        return m->entries[i].topic;
}

/* ---- subscriptions ------------------------------------------------------------------------------------------ */

struct prefix_ref {
        const char *topic;
        size_t len; /* of the first level */
        size_t entry;
};

static int prefix_cmp(const void *a, const void *b)
{
        const struct prefix_ref *x = a, *y = b;
        size_t n = x->len < y->len ? x->len : y->len;
        int c = memcmp(x->topic, y->topic, n);

        if (c != 0)
                return c;
        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return x->entry < y->entry ? -1 : x->entry > y->entry;
}

static void strv_free_n(char **v, size_t n)
{
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

int topic_map_subscriptions(const TopicMap *m, size_t group_min, char ***ret_filters, size_t *ret_n)
{
        _cleanup_free_ struct prefix_ref *refs = NULL;
        _cleanup_free_ ssize_t *group = NULL; /* per entry: ref index of its group's first member, or -1 */
        _cleanup_free_ bool *done = NULL;
        size_t n = m ? m->n_entries : 0, n_out = 0;
        char **out;

        out = calloc(n + 1, sizeof(char *));
        if (!out)
                return -ENOMEM;

        if (group_min > 0 && n > 0) {
                refs = malloc(n * sizeof(*refs));
                group = malloc(n * sizeof(*group));
                done = calloc(n, sizeof(*done));
                if (!refs || !group || !done) {
                        free(out);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < n; i++) {
                        const char *t = m->entries[i].topic, *slash = strchr(t, '/');
                        refs[i] = (struct prefix_ref){
                                .topic = t,
                                .len = slash ? (size_t)(slash - t) : m->entries[i].len,
                                .entry = i,
                        };
                        group[i] = -1;
                }
                qsort(refs, n, sizeof(*refs), prefix_cmp);
                for (size_t i = 0, j; i < n; i = j) {
                        for (j = i + 1; j < n && refs[j].len == refs[i].len &&
                                        memcmp(refs[j].topic, refs[i].topic, refs[i].len) == 0;
                             j++)
                                ;
                        /* "$SYS/…" must be named exactly; an empty first level ("/x") is odd enough
                         * to leave alone. */
                        if (j - i >= group_min && refs[i].len > 0 && refs[i].topic[0] != '$')
                                for (size_t k = i; k < j; k++)
                                        group[refs[k].entry] = (ssize_t)i;
                }
        }

        for (size_t i = 0; i < n; i++) {
                const struct topic_entry *e = &m->entries[i];
                char *f;

                if (group && group[i] >= 0) {
                        const struct prefix_ref *g = &refs[group[i]];
                        if (done[group[i]])
                                continue;
                        done[group[i]] = true;
                        if (asprintf(&f, "%.*s/#", (int)g->len, g->topic) < 0)
                                f = NULL;
                } else
                        f = strdup(e->topic);
                if (!f) {
                        strv_free_n(out, n_out);
                        return -ENOMEM;
                }
                out[n_out++] = f;
        }
        *ret_filters = out;
        *ret_n = n_out;
        return 0;
}
