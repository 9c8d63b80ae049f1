/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The topic map (see topic-map.h): an open-addressing hash table over the
 * topics named in the roster (and Tasmota's derived LWT topics), kept in
 * insertion order for subscribing. Zigbee2MQTT's T/availability topics are
 * not stored: a lookup of X/availability also looks up X, which halves the
 * map of a Zigbee gateway. Topic strings live in one pool addressed by 32-bit
 * offsets, so an entry is 16 bytes and a roster of 50,000 sensors builds with
 * a few dozen allocations (docs/performance.md, figure 4).
 *
 * The hash is hash_bytes() (util.c), without a secret seed. That is fine here: only the roster
 * inserts keys, so a sender of hostile topics can make lookups miss but cannot
 * lengthen the probe chains.
 */

#include "sensors/topic-map.h"

#define AVAILABILITY "/availability"
#define AVAILABILITY_LEN (sizeof(AVAILABILITY) - 1)

/* 16 bytes. */
struct topic_entry {
        uint32_t topic; /* offset in the pool */
        uint16_t len;   /* at most TOPIC_MAP_TOPIC_MAX */
        uint16_t n;     /* sensors on it */
        union {
                struct topic_sensor one;   /* when n == 1: most topics have a single sensor */
                struct topic_sensor *many; /* when n > 1; room for the next power of two >= n */
        };
};

struct TopicMap {
        struct topic_entry *entries; /* in the order first added */
        size_t n_entries, n_alloc;
        uint32_t *index;   /* HASH_SLOT_TAG(hash) | (entry number + 1); 0 is an empty slot */
        size_t index_size; /* a power of two, at least twice n_entries */
        size_t n_sensors;
        struct string_pool pool; /* the topics */
        struct topic_sensor *scratch; /* a lookup's answer when it joins two entries */
        size_t scratch_size;
};

/* The index: hash_slot_put()'s slots (daemon/util.h) over the entries' numbers; each probe that meets another
 * topic moves on without reading its entry or string (13 % of the start-up time of the 10k/50k roster before). */
#define ENTRIES_MAX (HASH_SLOT_MASK - 1)

static const char *entry_topic(const TopicMap *m, const struct topic_entry *e)
{
        return string_pool_get(&m->pool, e->topic);
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
        size_t n = strlen(suffix);

        return len >= n && memcmp(s + len - n, suffix, n) == 0;
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
        string_pool_done(&m->pool);
        free(m->scratch);
        free(m);
        return NULL;
}

static struct topic_entry *find(const TopicMap *m, const char *topic, size_t len)
{
        size_t mask, i;
        uint32_t hash, tag;

        if (m->index_size == 0 || len > TOPIC_MAP_TOPIC_MAX)
                return NULL;
        mask = m->index_size - 1;
        hash = hash_bytes(topic, len);
        tag = HASH_SLOT_TAG(hash);
        for (i = (size_t)hash & mask;; i = (i + 1) & mask) {
                uint32_t slot = m->index[i];
                struct topic_entry *e;

                if (slot == 0)
                        return NULL;
                if (HASH_SLOT_TAG(slot) != tag)
                        continue;
                e = &m->entries[(slot & HASH_SLOT_MASK) - 1];
                if (e->len == len && memcmp(entry_topic(m, e), topic, len) == 0)
                        return e;
        }
}

/* Room for `want` entries in the array and in the index, without rehashing on the way. */
static int reserve(TopicMap *m, size_t want)
{
        if (want > ENTRIES_MAX)
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
                for (size_t i = 0; i < m->n_entries; i++) {
                        const struct topic_entry *e = &m->entries[i];
                        hash_slot_put(ni, ns, hash_bytes(entry_topic(m, e), e->len), (uint32_t)i);
                }
                free(m->index);
                m->index = ni;
                m->index_size = ns;
        }
        return 0;
}

int topic_map_reserve(TopicMap *m, size_t n_sensors)
{
        /* One entry per sensor's topic (its Zigbee2MQTT availability topic takes none). */
        return m ? reserve(m, n_sensors) : -EINVAL;
}

void topic_map_shrink(TopicMap *m)
{
        if (!m)
                return;
        /* Failing to shrink leaves the map as it was, which is fine. */
        string_pool_shrink(&m->pool);
        if (m->n_entries > 0 && m->n_entries < m->n_alloc) {
                struct topic_entry *ne = realloc(m->entries, m->n_entries * sizeof(*ne));
                if (ne) {
                        m->entries = ne;
                        m->n_alloc = m->n_entries;
                }
        }
}

static struct topic_sensor *entry_sensors(struct topic_entry *e)
{
        return e->n <= 1 ? &e->one : e->many;
}

static bool is_power_of_two(size_t n)
{
        return n > 0 && (n & (n - 1)) == 0;
}

static int entry_append(struct topic_entry *e, const struct topic_sensor *s)
{
        if (e->n == UINT16_MAX)
                return -E2BIG;
        if (e->n == 0) {
                e->one = *s;
                e->n = 1;
                return 0;
        }
        if (e->n == 1) {
                /* one and many share their bytes: move the first sensor out before the array goes in */
                struct topic_sensor *nm = malloc(2 * sizeof(*nm));
                if (!nm)
                        return -ENOMEM;
                nm[0] = e->one;
                e->many = nm;
        } else if (is_power_of_two(e->n)) {
                struct topic_sensor *nm = realloc(e->many, 2 * (size_t)e->n * sizeof(*nm));
                if (!nm)
                        return -ENOMEM;
                e->many = nm;
        }
        e->many[e->n++] = *s;
        return 0;
}

static bool entry_has_data(struct topic_entry *e)
{
        const struct topic_sensor *v = entry_sensors(e);

        for (size_t i = 0; i < e->n; i++)
                if (v[i].role == PAYLOAD_DATA)
                        return true;
        return false;
}

/* Does entry e's topic stand for a Zigbee2MQTT availability topic of its own (T/availability, not stored)?
 * Every topic a sensor is named on does, unless it already is an availability topic. */
static bool entry_derives_availability(const TopicMap *m, struct topic_entry *e)
{
        return !ends_with(entry_topic(m, e), e->len, AVAILABILITY) && entry_has_data(e);
}

static int add_one(TopicMap *m, const char *topic, size_t len, uint32_t sensor, enum sensor_kind kind,
                   enum payload_role role)
{
        struct topic_entry *e = find(m, topic, len);
        struct topic_sensor s = { .sensor = sensor, .kind = (uint8_t)kind, .role = (uint8_t)role };
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
                                v[i].kind = (uint8_t)kind;
                                m->n_sensors++;
                        }
                        return 0;
                }
        } else {
                uint32_t off;

                r = reserve(m, m->n_entries + 1);
                if (r < 0)
                        return r;
                r = string_pool_add(&m->pool, topic, len, &off);
                if (r < 0)
                        return r;
                e = &m->entries[m->n_entries];
                *e = (struct topic_entry){ .topic = off, .len = (uint16_t)len };
                m->n_entries++;
                hash_slot_put(m->index, m->index_size, hash_bytes(topic, len), (uint32_t)m->n_entries - 1);
        }
        r = entry_append(e, &s);
        if (r < 0)
                return r;
        if (role == PAYLOAD_DATA)
                m->n_sensors++;
        /* A lookup may join this entry's sensors with those of the topic it is the availability topic of. */
        if (m->scratch_size < 2 * (size_t)e->n) {
                size_t ns = 2 * (size_t)e->n;
                struct topic_sensor *sc = realloc(m->scratch, ns * sizeof(*sc));
                if (!sc)
                        return -ENOMEM;
                m->scratch = sc;
                m->scratch_size = ns;
        }
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

        /* Zigbee2MQTT's <base>/<friendly name>/availability comes with it, looked up through it. */
        r = add_one(m, topic, len, sensor, kind, PAYLOAD_DATA);
        if (r < 0)
                return r;

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

int topic_map_lookup(TopicMap *m, const char *topic, const struct topic_sensor **ret_sensors, size_t *ret_n)
{
        struct topic_entry *e, *base = NULL;
        const struct topic_sensor *v;
        size_t len, n;

        if (!m || !topic)
                return -ENOENT;
        len = strlen(topic);
        e = find(m, topic, len);
        /* X/availability: Zigbee2MQTT's availability of the sensors on X. */
        if (len > AVAILABILITY_LEN && ends_with(topic, len, AVAILABILITY)) {
                base = find(m, topic, len - AVAILABILITY_LEN);
                if (base && !entry_derives_availability(m, base))
                        base = NULL;
        }
        if (!base) {
                if (!e)
                        return -ENOENT;
                *ret_sensors = entry_sensors(e);
                *ret_n = e->n;
                return 0;
        }

        /* Those named on this topic themselves first (a sensor's data topic wins over a derived one), then
         * the base topic's, as availability. The scratch has room for both: add_one() saw to it. */
        n = 0;
        if (e) {
                memcpy(m->scratch, entry_sensors(e), e->n * sizeof(*m->scratch));
                n = e->n;
        }
        v = entry_sensors(base);
        for (size_t i = 0; i < base->n; i++) {
                bool dup = false;
                if (v[i].role != PAYLOAD_DATA)
                        continue;
                for (size_t k = 0; k < n && !dup; k++)
                        dup = m->scratch[k].sensor == v[i].sensor;
                if (dup)
                        continue;
                m->scratch[n] = v[i];
                m->scratch[n].role = PAYLOAD_AVAILABILITY;
                n++;
        }
        if (n == 0)
                return -ENOENT;
        *ret_sensors = m->scratch;
        *ret_n = n;
        return 0;
}

/* The availability topic entry i stands for and does not store (written to buf), or NULL when it has none or
 * the roster names that topic itself. */
static const char *virtual_availability(const TopicMap *m, size_t i, char *buf, size_t size)
{
        struct topic_entry *e = &m->entries[i];

        if (!entry_derives_availability(m, e) || (size_t)e->len + sizeof(AVAILABILITY) > size)
                return NULL;
        memcpy(buf, entry_topic(m, e), e->len);
        memcpy(buf + e->len, AVAILABILITY, sizeof(AVAILABILITY));
        if (find(m, buf, (size_t)e->len + AVAILABILITY_LEN))
                return NULL;
        return buf;
}

size_t topic_map_n_topics(const TopicMap *m)
{
        char buf[TOPIC_MAP_TOPIC_MAX + sizeof(AVAILABILITY)];
        size_t n;

        if (!m)
                return 0;
        n = m->n_entries;
        for (size_t i = 0; i < m->n_entries; i++)
                if (virtual_availability(m, i, buf, sizeof(buf)))
                        n++;
        return n;
}

size_t topic_map_n_sensors(const TopicMap *m)
{
        return m ? m->n_sensors : 0;
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
        char buf[TOPIC_MAP_TOPIC_MAX + sizeof(AVAILABILITY)];
        size_t n = m ? m->n_entries : 0, n_out = 0;
        char **out;

        out = calloc(2 * n + 1, sizeof(char *));
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
                        const char *t = entry_topic(m, &m->entries[i]), *slash = strchr(t, '/');
                        refs[i] = (struct prefix_ref){
                                .topic = t,
                                .len = slash ? (size_t)(slash - t) : m->entries[i].len,
                                .entry = i,
                        };
                        group[i] = -1;
                }
                qsort(refs, n, sizeof(*refs), prefix_cmp);
                for (size_t i = 0, j; i < n; i = j) {
                        size_t topics;
                        for (j = i; j < n && refs[j].len == refs[i].len &&
                                    memcmp(refs[j].topic, refs[i].topic, refs[i].len) == 0;
                             j++)
                                ;
                        /* An entry that stands for an availability topic too is two topics to subscribe; that
                         * look-up is needed only when the entries alone do not make the group. */
                        topics = j - i;
                        for (size_t k = i; k < j && topics < group_min; k++)
                                topics += virtual_availability(m, refs[k].entry, buf, sizeof(buf)) != NULL;
                        /* "$SYS/…" must be named exactly; an empty first level ("/x") is odd enough
                         * to leave alone. */
                        if (topics >= group_min && refs[i].len > 0 && refs[i].topic[0] != '$')
                                for (size_t k = i; k < j; k++)
                                        group[refs[k].entry] = (ssize_t)i;
                }
        }

        for (size_t i = 0; i < n; i++) {
                const char *t = entry_topic(m, &m->entries[i]);
                char *f = NULL, *a = NULL;

                if (group && group[i] >= 0) {
                        const struct prefix_ref *g = &refs[group[i]];
                        if (done[group[i]])
                                continue;
                        done[group[i]] = true;
                        if (asprintf(&f, "%.*s/#", (int)g->len, g->topic) < 0)
                                f = NULL;
                } else {
                        f = strdup(t);
                        if (f && virtual_availability(m, i, buf, sizeof(buf)) && !(a = strdup(buf))) {
                                free(f);
                                f = NULL;
                        }
                }
                if (!f) {
                        strv_free_n(out, n_out);
                        return -ENOMEM;
                }
                out[n_out++] = f;
                if (a)
                        out[n_out++] = a;
        }
        /* Room was made for every topic and its availability topic; a wildcard may stand for thousands. */
        char **shrunk = realloc(out, (n_out + 1) * sizeof(char *));
        *ret_filters = shrunk ? shrunk : out;
        *ret_n = n_out;
        return 0;
}
