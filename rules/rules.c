/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rule engine's core: building it from the roster, the timer heap, the
 * clock (jumps, synchronisation, restored state waiting for it), events in,
 * RAISE / CLEAR out with the one-alert-per-subject-and-rule bookkeeping and
 * the repeat rate limit. The rules themselves are in rules-eval.c (safety,
 * welfare, doors) and rules-water.c.
 *
 * Every resident and every building is a "subject" with one entry in a
 * binary heap keyed by the monotonic time at which something about it may
 * change. An event re-evaluates only its subject (a handful of sensors);
 * rules_tick() pops only the subjects that are due; rules_next_wakeup() is
 * the top of the heap. Evaluation is level-based (is the condition true
 * now?), which is what makes restarts, clock jumps and missed ticks safe:
 * whatever was missed is judged at the next evaluation.
 */

#include <stddef.h>

#include "rules/rules-internal.h"

/* A change of wall - mono by more than this is a clock jump, not NTP slewing. */
#define JUMP_TOLERANCE (10 * USEC_PER_SEC)
/* Housekeeping (clock-jump check, water slot boundaries) at least this often. */
#define HOUSEKEEPING_INTERVAL (10 * USEC_PER_MINUTE)
#define POS_NONE UINT32_MAX

static const char *const rule_names[_RULE_ID_MAX] = {
        [RULE_LEAK] = "leak",
        [RULE_PANIC] = "panic",
        [RULE_FALL] = "fall",
        [RULE_SMOKE] = "smoke",
        [RULE_GAS] = "gas",
        [RULE_CO] = "co",
        [RULE_INACTIVITY] = "inactivity",
        [RULE_MORNING_CHECK] = "morning_check",
        [RULE_DOOR_OPEN_NIGHT] = "door_open_night",
        [RULE_NIGHT_WANDERING] = "night_wandering",
        [RULE_BUILDING_DOOR] = "building_door",
        [RULE_SENSOR_OFFLINE] = "sensor_offline",
        [RULE_BATTERY_LOW] = "battery_low",
        [RULE_TAMPER] = "tamper",
        [RULE_COMBINED] = "combined",
        [RULE_WATER_LOW_USE] = "water_low_use",
        [RULE_TAP_RUNNING] = "tap_running",
        [RULE_WATER_ABNORMAL] = "water_abnormal",
};

static const char *const severity_names[_SEVERITY_MAX] = {
        [SEVERITY_INFO] = "info",
        [SEVERITY_WARNING] = "warning",
        [SEVERITY_CRITICAL] = "critical",
};

const char *rule_id_to_string(enum rule_id r)
{
        if ((unsigned)r >= _RULE_ID_MAX)
                return NULL;
        return rule_names[r];
}

int rule_id_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _RULE_ID_MAX; i++)
                if (streq(s, rule_names[i]))
                        return i;
        return -EINVAL;
}

const char *severity_to_string(enum severity s)
{
        if ((unsigned)s >= _SEVERITY_MAX)
                return NULL;
        return severity_names[s];
}

int severity_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _SEVERITY_MAX; i++)
                if (streq(s, severity_names[i]))
                        return i;
        return -EINVAL;
}

/* ---- output -------------------------------------------------------------------------------------------- */

void rule_output_done(struct rule_output *o)
{
        if (!o)
                return;
        free(o->d);
        free(o->slots);
        free(o->states);
        *o = (struct rule_output){ 0 };
}

/* Grow a caller-owned array; the steady state never allocates once it is big enough. */
int grow(void **p, size_t *alloc, size_t need, size_t size)
{
        if (need <= *alloc)
                return 0;
        size_t n = *alloc ? *alloc * 2 : 16;
        while (n < need)
                n *= 2;
        void *q = realloc(*p, n * size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *alloc = n;
        return 0;
}

int out_push(struct rule_output *o, const struct rule_decision *d)
{
        if (grow((void **)&o->d, &o->alloc, o->n + 1, sizeof(*o->d)) < 0)
                return -ENOMEM;
        o->d[o->n++] = *d;
        return 0;
}

int out_push_slot(struct rule_output *o, uint32_t sensor, usec_t slot_wall, double litres)
{
        size_t stop = o->n_slots > RULE_OUTPUT_DEDUP_WINDOW ? o->n_slots - RULE_OUTPUT_DEDUP_WINDOW : 0;

        /* One update per slot and call: a burst of pulses replaces its own entry. */
        for (size_t i = o->n_slots; i > stop; i--)
                if (o->slots[i - 1].sensor == sensor && o->slots[i - 1].slot_wall == slot_wall) {
                        o->slots[i - 1].litres = litres;
                        return 0;
                }
        if (grow((void **)&o->slots, &o->alloc_slots, o->n_slots + 1, sizeof(*o->slots)) < 0)
                return -ENOMEM;
        o->slots[o->n_slots++] = (struct water_slot_update){ .sensor = sensor, .slot_wall = slot_wall, .litres = litres };
        return 0;
}

/* ---- life cycle ---------------------------------------------------------------------------------------- */

Rules *rules_new(const struct rules_settings *defaults)
{
        Rules *r = calloc(1, sizeof(*r));

        if (!r)
                return NULL;
        if (defaults)
                r->defaults = *defaults;
        else
                rules_settings_default(&r->defaults);
        return r;
}

Rules *rules_free(Rules *r)
{
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_custom; i++)
                free((void *)r->custom[i]);
        free(r->custom);
        for (size_t i = 0; i < r->n_buildings; i++)
                free(r->buildings[i].id);
        free(r->buildings);
        free(r->bhash);
        free(r->residents);
        free(r->sensors);
        free(r->by_num);
        free(r->meters);
        free(r->aways);
        free(r->pending);
        free(r->heap);
        free(r);
        return NULL;
}

size_t rules_memory_usage(const Rules *r)
{
        size_t n;

        if (!r)
                return 0;
        n = sizeof(*r) + r->n_custom * (sizeof(struct rules_settings) + sizeof(void *));
        n += r->alloc_residents * sizeof(*r->residents) + r->alloc_buildings * sizeof(*r->buildings);
        for (size_t i = 0; i < r->n_buildings; i++)
                n += strlen(r->buildings[i].id) + 1;
        n += r->bhash_size * sizeof(*r->bhash);
        n += r->alloc_sensors * sizeof(*r->sensors) + r->by_num_size * sizeof(*r->by_num);
        n += r->alloc_meters * sizeof(*r->meters) + r->alloc_aways * sizeof(*r->aways);
        n += r->alloc_pending * sizeof(*r->pending) + r->alloc_heap * sizeof(*r->heap);
        return n;
}

/* ---- the heap ------------------------------------------------------------------------------------------ */

static uint32_t *subject_pos(Rules *r, uint32_t subject)
{
        if (subject & SUBJECT_BUILDING)
                return &r->buildings[subject & ~SUBJECT_BUILDING].subj.heap_pos;
        return &r->residents[subject].subj.heap_pos;
}

static void heap_place(Rules *r, size_t i, struct heap_entry e)
{
        r->heap[i] = e;
        *subject_pos(r, e.subject) = (uint32_t)i;
}

static void heap_up(Rules *r, size_t i)
{
        struct heap_entry e = r->heap[i];

        while (i > 0) {
                size_t p = (i - 1) / 2;
                if (r->heap[p].due <= e.due)
                        break;
                heap_place(r, i, r->heap[p]);
                i = p;
        }
        heap_place(r, i, e);
}

static void heap_down(Rules *r, size_t i)
{
        struct heap_entry e = r->heap[i];

        for (;;) {
                size_t c = 2 * i + 1;
                if (c >= r->n_heap)
                        break;
                if (c + 1 < r->n_heap && r->heap[c + 1].due < r->heap[c].due)
                        c++;
                if (r->heap[c].due >= e.due)
                        break;
                heap_place(r, i, r->heap[c]);
                i = c;
        }
        heap_place(r, i, e);
}

/* Capacity is reserved when a subject is added, so this never allocates. */
void heap_set(Rules *r, uint32_t subject, usec_t due)
{
        uint32_t *pos = subject_pos(r, subject);

        if (due == USEC_INFINITY) {
                if (*pos == POS_NONE)
                        return;
                size_t i = *pos;
                *pos = POS_NONE;
                r->n_heap--;
                if (i < r->n_heap) {
                        struct heap_entry last = r->heap[r->n_heap];
                        heap_place(r, i, last);
                        heap_up(r, i);
                        heap_down(r, *subject_pos(r, last.subject));
                }
                return;
        }
        if (*pos == POS_NONE) {
                size_t i = r->n_heap++;
                heap_place(r, i, (struct heap_entry){ .due = due, .subject = subject });
                heap_up(r, i);
                return;
        }
        usec_t old = r->heap[*pos].due;
        r->heap[*pos].due = due;
        if (due < old)
                heap_up(r, *pos);
        else
                heap_down(r, *pos);
}

static int heap_reserve(Rules *r)
{
        return grow((void **)&r->heap, &r->alloc_heap, r->n_residents + r->n_buildings + 1, sizeof(*r->heap));
}

/* Everyone is judged at the next tick (clock jump, clock synchronised). Lowering every key to at most
 * `due` keeps the heap ordered, so no sifting is needed. */
static void wake_all(Rules *r, usec_t due)
{
        for (size_t i = 0; i < r->n_heap; i++)
                if (r->heap[i].due > due)
                        r->heap[i].due = due;
        for (size_t i = 0; i < r->n_residents; i++)
                if (r->residents[i].subj.heap_pos == POS_NONE)
                        heap_set(r, (uint32_t)i, due);
        for (size_t i = 0; i < r->n_buildings; i++)
                if (r->buildings[i].subj.heap_pos == POS_NONE)
                        heap_set(r, SUBJECT_BUILDING | (uint32_t)i, due);
}

usec_t rules_next_wakeup(Rules *r)
{
        usec_t t = USEC_INFINITY;

        if (!r)
                return t;
        if (r->n_heap)
                t = r->heap[0].due;
        if (r->n_residents + r->n_buildings > 0 && r->hk_due < t)
                t = r->hk_due;
        return t;
}

/* ---- building the engine ------------------------------------------------------------------------------- */

static uint32_t hash_string(const char *s)
{
        uint32_t h = 2166136261u;
        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 16777619u;
        return h;
}

static int bhash_rebuild(Rules *r, size_t size)
{
        int32_t *t = malloc(size * sizeof(*t));

        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < size; i++)
                t[i] = -1;
        for (size_t b = 0; b < r->n_buildings; b++) {
                size_t k = hash_string(r->buildings[b].id) & (size - 1);
                while (t[k] >= 0)
                        k = (k + 1) & (size - 1);
                t[k] = (int32_t)b;
        }
        free(r->bhash);
        r->bhash = t;
        r->bhash_size = size;
        return 0;
}

int rules_add_building(Rules *r, const char *id)
{
        if (!r || isempty(id))
                return -EINVAL;
        if (r->bhash_size) {
                size_t k = hash_string(id) & (r->bhash_size - 1);
                for (; r->bhash[k] >= 0; k = (k + 1) & (r->bhash_size - 1))
                        if (streq(r->buildings[r->bhash[k]].id, id))
                                return r->bhash[k];
        }
        if (r->n_buildings >= INT32_MAX / 4 || r->n_buildings >= (SUBJECT_BUILDING - 1))
                return -E2BIG;
        if (grow((void **)&r->buildings, &r->alloc_buildings, r->n_buildings + 1, sizeof(*r->buildings)) < 0)
                return -ENOMEM;
        char *copy = strdup(id);
        if (!copy)
                return -ENOMEM;
        size_t b = r->n_buildings;
        r->buildings[b] = (struct building){ .id = copy,
                                             .subj = { .last_repeat = SECS_UNKNOWN, .heap_pos = POS_NONE, .first_sensor = -1 } };
        r->n_buildings++;
        if (heap_reserve(r) < 0) {
                r->n_buildings--;
                free(copy);
                return -ENOMEM;
        }
        if (r->n_buildings * 2 > r->bhash_size) {
                /* The rebuild inserts every building, the new one too. */
                if (bhash_rebuild(r, r->bhash_size ? r->bhash_size * 2 : 64) < 0) {
                        r->n_buildings--;
                        free(copy);
                        return -ENOMEM;
                }
        } else {
                size_t k = hash_string(id) & (r->bhash_size - 1);
                while (r->bhash[k] >= 0)
                        k = (k + 1) & (r->bhash_size - 1);
                r->bhash[k] = (int32_t)b;
        }
        return (int)b;
}

static const struct rules_settings *settings_intern(Rules *r, const struct rules_settings *s)
{
        if (!s || rules_settings_equal(s, &r->defaults))
                return &r->defaults;
        /* Overrides are few and mostly alike (night wandering on): share one copy each. */
        for (size_t i = r->n_custom; i > 0 && r->n_custom - i < 256; i--)
                if (rules_settings_equal(s, r->custom[i - 1]))
                        return r->custom[i - 1];
        struct rules_settings *copy = malloc(sizeof(*copy));
        const struct rules_settings **n = realloc(r->custom, (r->n_custom + 1) * sizeof(*n));
        if (!copy || !n) {
                free(copy);
                if (n)
                        r->custom = n;
                return NULL;
        }
        *copy = *s;
        r->custom = n;
        r->custom[r->n_custom++] = copy;
        return copy;
}

int rules_add_resident(Rules *r, const struct rules_resident *res)
{
        if (!r || !res || res->building < 0 || (size_t)res->building >= r->n_buildings)
                return -EINVAL;
        if (r->n_residents >= INT32_MAX / 4)
                return -E2BIG;
        if (grow((void **)&r->residents, &r->alloc_residents, r->n_residents + 1, sizeof(*r->residents)) < 0)
                return -ENOMEM;
        size_t i = r->n_residents;
        if (heap_reserve(r) < 0)
                return -ENOMEM;
        const struct rules_settings *s = settings_intern(r, res->settings);
        if (!s)
                return -ENOMEM;
        struct resident *x = &r->residents[i];
        *x = (struct resident){
                .subj = { .last_repeat = SECS_UNKNOWN, .heap_pos = POS_NONE, .first_sensor = -1 },
                .s = s,
                .building = res->building,
                .first_away = -1,
                .last_activity = SECS_UNKNOWN,
                .last_door = SECS_UNKNOWN,
                .last_motion = SECS_UNKNOWN,
                .last_water = SECS_UNKNOWN,
                .lives_alone = res->lives_alone,
        };
        for (int k = 0; k < _REARM_MAX; k++)
                x->rearm[k] = SECS_UNKNOWN;
        r->n_residents++;
        heap_set(r, (uint32_t)i, 0);
        return (int)i;
}

int rules_add_sensor(Rules *r, const struct rules_sensor *s)
{
        if (!r || !s || (unsigned)s->kind >= _SENSOR_KIND_MAX || s->building < 0 || (size_t)s->building >= r->n_buildings)
                return -EINVAL;
        if (s->resident >= 0 && (size_t)s->resident >= r->n_residents)
                return -EINVAL;
        if (s->num >= UINT32_MAX / 2)
                return -ERANGE;
        if (s->num < r->by_num_size && r->by_num[s->num])
                return -EEXIST;
        if (s->num >= r->by_num_size) {
                size_t ns = r->by_num_size ? r->by_num_size : 64;
                while (ns <= s->num)
                        ns *= 2;
                uint32_t *nb = realloc(r->by_num, ns * sizeof(*nb));
                if (!nb)
                        return -ENOMEM;
                memset(nb + r->by_num_size, 0, (ns - r->by_num_size) * sizeof(*nb));
                r->by_num = nb;
                r->by_num_size = ns;
        }
        if (grow((void **)&r->sensors, &r->alloc_sensors, r->n_sensors + 1, sizeof(*r->sensors)) < 0)
                return -ENOMEM;

        size_t i = r->n_sensors;
        struct subject *subj = subject_get(r, s->resident, s->building);
        struct sensor *x = &r->sensors[i];
        *x = (struct sensor){
                .num = s->num,
                .owner = s->resident >= 0 ? s->resident : -1 - s->building,
                .next = subj->first_sensor,
                .last_seen = SECS_UNKNOWN,
                .since = SECS_UNKNOWN,
                .kind = (uint8_t)s->kind,
                .flags = s->wired ? SF_WIRED : 0,
        };
        if (sensor_is_water(x)) {
                int m = meter_new(r, (uint32_t)i, s->litres_per_pulse);
                if (m < 0)
                        return m;
                x->meter = m;
        }
        subj->first_sensor = (int32_t)i;
        r->by_num[s->num] = (uint32_t)i + 1;
        r->n_sensors++;
        heap_set(r, sensor_subject(x), 0);
        return (int)i;
}

int rules_add_away(Rules *r, int resident, usec_t from_wall, usec_t until_wall)
{
        if (!r)
                return -EINVAL;
        if (resident < 0 || (size_t)resident >= r->n_residents)
                return -ENOENT;
        if (until_wall <= from_wall)
                return -EINVAL;
        if (grow((void **)&r->aways, &r->alloc_aways, r->n_aways + 1, sizeof(*r->aways)) < 0)
                return -ENOMEM;
        struct resident *x = &r->residents[resident];
        r->aways[r->n_aways] = (struct away){ .from = from_wall, .until = until_wall, .next = x->first_away };
        x->first_away = (int32_t)r->n_aways++;
        heap_set(r, (uint32_t)resident, 0);
        return 0;
}

int rules_reserve(Rules *r, size_t residents, size_t buildings, size_t sensors)
{
        if (!r)
                return -EINVAL;
        /* Exact sizes: with 10,000 residents doubling would waste a megabyte or two of a Pi's memory. */
#define RESERVE(arr, alloc, n)                                                                                   \
        do {                                                                                                     \
                if ((n) > (alloc)) {                                                                             \
                        void *q = realloc((arr), (n) * sizeof(*(arr)));                                          \
                        if (!q)                                                                                  \
                                return -ENOMEM;                                                                  \
                        (arr) = q;                                                                               \
                        (alloc) = (n);                                                                           \
                }                                                                                                \
        } while (0)
        RESERVE(r->residents, r->alloc_residents, residents);
        RESERVE(r->buildings, r->alloc_buildings, buildings);
        RESERVE(r->sensors, r->alloc_sensors, sensors);
        RESERVE(r->heap, r->alloc_heap, residents + buildings + 1);
#undef RESERVE
        return 0;
}

/* ---- subjects, settings -------------------------------------------------------------------------------- */

struct subject *subject_get(Rules *r, int resident, int building)
{
        if (resident >= 0)
                return &r->residents[resident].subj;
        return &r->buildings[building].subj;
}

const struct rules_settings *subject_settings(Rules *r, int resident)
{
        return resident >= 0 ? r->residents[resident].s : &r->defaults;
}

bool sensor_offline(Rules *r, const struct rules_settings *s, const struct sensor *x, secs_t now, int64_t *ret_due)
{
        if (x->flags & SF_UNAVAILABLE)
                return true;
        if (x->flags & SF_WIRED)
                return false;

        /* Safety sensors get less than Zigbee2MQTT's 25 h: a silent smoke alarm is unknown, not fine. */
        usec_t limit = s->offline_other_after;
        switch ((enum sensor_kind)x->kind) {
        case SENSOR_LEAK:
        case SENSOR_SMOKE:
        case SENSOR_GAS:
        case SENSOR_CO:
        case SENSOR_FALL:
        case SENSOR_BUTTON:
                limit = s->offline_safety_after;
                break;
        case SENSOR_DOOR:
        case SENSOR_MOTION:
        case SENSOR_WATER_FLOW:
        case SENSOR_WATER_METER:
        case _SENSOR_KIND_MAX:
                break;
        }
        if (!limit)
                return false;
        int64_t due = (int64_t)resident_last(r, x->last_seen) + dur_s(limit);
        if (now >= due)
                return true;
        if (ret_due && due < *ret_due)
                *ret_due = due;
        return false;
}

/* ---- time conversions ---------------------------------------------------------------------------------- */

secs_t mono_of_wall(const struct now_ctx *n, usec_t wall)
{
        if (wall >= n->c->wall)
                return n->s;
        usec_t back = (n->c->wall - wall) / USEC_PER_SEC;
        int64_t t = (int64_t)n->s - (int64_t)(back > (usec_t)INT32_MAX ? (usec_t)INT32_MAX : back);
        return t < INT32_MIN + 1 ? INT32_MIN + 1 : (secs_t)t;
}

usec_t wall_of_mono(const struct now_ctx *n, secs_t s)
{
        if (!n->wall_ok || s == SECS_UNKNOWN)
                return 0;
        int64_t back = (int64_t)n->c->mono - (int64_t)s * (int64_t)USEC_PER_SEC;
        if (back < 0)
                back = 0;
        return (usec_t)back > n->c->wall ? 0 : n->c->wall - (usec_t)back;
}

usec_t due_of_wall(const struct now_ctx *n, usec_t wall)
{
        if (wall == USEC_INFINITY)
                return USEC_INFINITY;
        if (wall <= n->c->wall)
                return n->c->mono;
        return n->c->mono + (wall - n->c->wall);
}

/* ---- raising and clearing ------------------------------------------------------------------------------ */

static enum severity st_sev(uint8_t st)
{
        return (enum severity)((st >> RS_SEV_SHIFT) & 3);
}

static uint8_t st_with_sev(uint8_t st, enum severity s)
{
        return (uint8_t)((st & ~(3u << RS_SEV_SHIFT)) | ((unsigned)s << RS_SEV_SHIFT));
}

void decision_init(Rules *r, struct rule_decision *d, enum decision_kind kind, enum rule_id rule, enum severity sev,
                   int resident, int building, int64_t sensor)
{
        *d = (struct rule_decision){
                .kind = kind,
                .rule = rule,
                .severity = sev,
                .resident = resident,
                .building = building,
                .sensor = sensor,
                .params = { .litres = -1, .count = -1, .lives_alone = resident >= 0 ? r->residents[resident].lives_alone : -1 },
        };
        snprintf(d->text_key, sizeof(d->text_key), "%s", rule_names[rule]);
}

void decision_key(struct rule_decision *d, const char *key)
{
        snprintf(d->text_key, sizeof(d->text_key), "%s", key);
}

bool rule_latched(const struct subject *subj, enum rule_id rule)
{
        return subj->st[rule] & RS_LATCHED;
}

/*
 * The one place that decides whether a true condition is told. New alerts and
 * higher severities always are; an alert already told for this episode is
 * repeated only for a fresh event (repeat) and at most once per
 * repeat_interval per subject, which is what keeps a flapping sensor from
 * making a storm. An episode a person resolved is not raised again until it
 * ends and starts anew (or gets worse).
 */
int rule_raise(Rules *r, struct subject *subj, const struct now_ctx *n, const struct rule_decision *d, bool repeat,
               struct rule_output *out)
{
        uint8_t *st = &subj->st[d->rule];
        bool limited = false;

        if (*st & RS_RESTORED) {
                /* The alert is open in the store: continue it, do not raise it as new. If we know what it
                 * told, a condition that got worse meanwhile (the tap still running at 2N) is told now. */
                enum severity told = (*st & RS_SEV_KNOWN) ? st_sev(*st) : d->severity;
                *st &= (uint8_t)~(RS_RESTORED | RS_SEV_KNOWN);
                if (!(*st & RS_LATCHED)) {
                        *st = st_with_sev((uint8_t)(*st | RS_LATCHED), told);
                        if (!repeat && d->severity <= told)
                                return 0;
                }
        }
        if (*st & RS_LATCHED) {
                if (d->severity <= st_sev(*st)) {
                        if (!repeat || !(*st & RS_OPEN))
                                return 0;
                        limited = true;
                }
        } else {
                *st = st_with_sev((uint8_t)(*st | RS_LATCHED), d->severity);
                /* A new episode while the last alert is still open is an update of that alert. */
                limited = *st & RS_OPEN;
        }
        if (limited) {
                usec_t every = subject_settings(r, d->resident)->repeat_interval;
                if (subj->last_repeat != SECS_UNKNOWN && (int64_t)n->s - subj->last_repeat < dur_s(every))
                        return 0;
        }
        if (d->severity > st_sev(*st))
                *st = st_with_sev(*st, d->severity);
        *st |= RS_OPEN | RS_TOLD_RAISE;
        subj->last_repeat = n->s;
        return out_push(out, d);
}

int rule_clear(Rules *r, struct subject *subj, enum rule_id rule, int resident, int building, struct rule_output *out)
{
        uint8_t *st = &subj->st[rule];
        struct rule_decision d;

        if (!(*st & RS_LATCHED))
                return 0;
        *st &= (uint8_t)~RS_LATCHED;
        /* Told once per raise: a flapping sensor whose repeats were held back adds no CLEARs either. */
        if (!(*st & RS_OPEN) || !(*st & RS_TOLD_RAISE))
                return 0;
        *st &= (uint8_t)~RS_TOLD_RAISE;
        decision_init(r, &d, DECISION_CLEAR, rule, st_sev(*st), resident, building, -1);
        return out_push(out, &d);
}

void rule_forget(struct subject *subj, enum rule_id rule)
{
        subj->st[rule] &= (uint8_t)~RS_LATCHED;
}

/* ---- the clock ----------------------------------------------------------------------------------------- */

/*
 * Restored state that needed a trusted wall clock. Activity is placed as soon
 * as the clock is synchronised; water slots wait for the first tick or event,
 * so that all of a meter's slots are placed together and its "known since"
 * comes out of one consecutive run.
 */
static int place_pending(Rules *r, const struct now_ctx *n, bool water)
{
        size_t keep = 0;
        int k = 0;

        for (size_t i = 0; i < r->n_pending; i++) {
                const struct pending_restore *p = &r->pending[i];
                if (p->kind != PENDING_ACTIVITY) {
                        r->pending[keep++] = *p;
                        continue;
                }
                struct resident *x = &r->residents[p->index];
                secs_t t = mono_of_wall(n, p->wall);
                /* Real activity seen since the start wins; no signal can be later than the last activity. */
                secs_t *sig[] = { &x->last_activity, &x->last_door, &x->last_motion, &x->last_water };
                for (size_t j = 0; j < ELEMENTSOF(sig); j++)
                        if (*sig[j] == SECS_UNKNOWN)
                                *sig[j] = t;
                heap_set(r, (uint32_t)p->index, n->c->mono);
        }
        r->n_pending = keep;
        if (water && r->n_pending) {
                /* Sorted by kind: the slots, then the rule state (which needs the meters' known state). */
                k = water_place_restored(r, n);
                size_t from = 0;
                while (from < r->n_pending && r->pending[from].kind != PENDING_STATE)
                        from++;
                if (k >= 0)
                        state_place_restored(r, n, from, r->n_pending);
                r->n_pending = 0;
        }
        if (!r->n_pending) {
                free(r->pending);
                r->pending = NULL;
                r->alloc_pending = 0;
        }
        return k;
}

/* Loading is over when time starts: give back what array doubling left unused. */
static void trim(Rules *r)
{
#define TRIM(arr, alloc, n)                                                                                      \
        do {                                                                                                     \
                if ((n) && (n) < (alloc)) {                                                                      \
                        void *q = realloc((arr), (n) * sizeof(*(arr)));                                          \
                        if (q) {                                                                                 \
                                (arr) = q;                                                                       \
                                (alloc) = (n);                                                                   \
                        }                                                                                        \
                }                                                                                                \
        } while (0)
        TRIM(r->residents, r->alloc_residents, r->n_residents);
        TRIM(r->buildings, r->alloc_buildings, r->n_buildings);
        TRIM(r->sensors, r->alloc_sensors, r->n_sensors);
        TRIM(r->meters, r->alloc_meters, r->n_meters);
        TRIM(r->aways, r->alloc_aways, r->n_aways);
        size_t heap = r->n_residents + r->n_buildings + 1;
        TRIM(r->heap, r->alloc_heap, heap);
        size_t nums = 0;
        for (size_t i = 0; i < r->n_sensors; i++)
                if (r->sensors[i].num >= nums)
                        nums = r->sensors[i].num + 1;
        TRIM(r->by_num, r->by_num_size, nums);
#undef TRIM
}

/*
 * Every entry point passes "now" through here. It notices a wall-clock jump
 * (wall - mono changed) or the clock becoming synchronised: then every
 * subject is judged again at once, wall-clock deadlines are recomputed from
 * the new time, and deadlines that lie before the jump are not "caught up"
 * (trusted_since): a year's jump fires nothing by itself, because durations
 * run on the monotonic clock.
 */
static int clock_observe(Rules *r, const struct rules_clock *c, struct now_ctx *n)
{
        now_ctx_init(n, c);
        if (!r->started) {
                trim(r);
                r->started = true;
                r->start_s = n->s;
                r->hk_due = c->mono;
        }
        if (c->synced) {
                int64_t off = (int64_t)c->wall - (int64_t)c->mono;
                bool jump = !r->offset_known || off - r->offset > (int64_t)JUMP_TOLERANCE ||
                            r->offset - off > (int64_t)JUMP_TOLERANCE;
                bool was_synced = r->synced;
                r->offset = off;
                r->offset_known = true;
                r->synced = true;
                if (jump)
                        r->trusted_since = c->wall;
                if (jump || !was_synced) {
                        wake_all(r, c->mono);
                        r->hk_due = c->mono;
                }
                if (r->n_pending) {
                        int k = place_pending(r, n, false);
                        if (k < 0)
                                return k;
                }
        } else
                r->synced = false;
        return 0;
}

int push_pending(Rules *r, const struct pending_restore *p)
{
        if (grow((void **)&r->pending, &r->alloc_pending, r->n_pending + 1, sizeof(*r->pending)) < 0)
                return -ENOMEM;
        r->pending[r->n_pending++] = *p;
        return 0;
}

/* ---- events -------------------------------------------------------------------------------------------- */

/* A self-test that never says it ended stops counting as one after this. */
#define SELF_TEST_MAX (10 * 60)

static bool testing(const struct sensor *x, secs_t now)
{
        return (x->flags & SF_TESTING) && (int64_t)now - x->since < SELF_TEST_MAX;
}

static void set_flag(struct sensor *x, uint8_t f, bool on)
{
        if (on)
                x->flags |= f;
        else
                x->flags &= (uint8_t)~f;
}

static enum rule_id alarm_rule(enum event_type t)
{
        switch (t) {
        case EVENT_SMOKE:
                return RULE_SMOKE;
        case EVENT_GAS:
                return RULE_GAS;
        case EVENT_CO:
                return RULE_CO;
        case EVENT_LEAK:
                return RULE_LEAK;
        case EVENT_FALL:
                return RULE_FALL;
        case EVENT_BUTTON:
                return RULE_PANIC;
        case EVENT_TAMPER:
        case EVENT_CONTACT:
        case EVENT_MOTION:
        case EVENT_SELF_TEST:
        case EVENT_WATER_FLOW:
        case EVENT_WATER_TOTAL:
        case EVENT_WATER_PULSES:
        case EVENT_BATTERY:
        case EVENT_BATTERY_LOW:
        case EVENT_AVAILABILITY:
        case EVENT_CHECK_IN:
        case EVENT_WATER_FLOW_RATE:
        case EVENT_LOCK_FAULT:
        case _EVENT_TYPE_MAX:
                break;
        }
        return _RULE_ID_MAX;
}

/*
 * Apply one event to the sensor's and resident's state. Fresh alarms are
 * raised here (with repeat = true, so a repeated report updates the open
 * alert, rate-limited); everything else is judged by the evaluation that
 * follows. State-only events (retained, initial, restored) change what we
 * know but are never activity, never count a door opening and never repeat
 * an alarm.
 */
/* The sensor kind whose state an event type describes; other kinds' events of that type are ignored. */
static int state_kind(enum event_type t)
{
        switch (t) {
        case EVENT_LEAK:
                return SENSOR_LEAK;
        case EVENT_CONTACT:
                return SENSOR_DOOR;
        case EVENT_MOTION:
                return SENSOR_MOTION;
        case EVENT_FALL:
                return SENSOR_FALL;
        case EVENT_SMOKE:
                return SENSOR_SMOKE;
        case EVENT_GAS:
                return SENSOR_GAS;
        case EVENT_CO:
                return SENSOR_CO;
        case EVENT_LOCK_FAULT:
                return SENSOR_DOOR;
        case EVENT_BUTTON:
        case EVENT_SELF_TEST:
        case EVENT_WATER_FLOW:
        case EVENT_WATER_TOTAL:
        case EVENT_WATER_PULSES:
        case EVENT_BATTERY:
        case EVENT_BATTERY_LOW:
        case EVENT_TAMPER:
        case EVENT_AVAILABILITY:
        case EVENT_CHECK_IN:
        case EVENT_WATER_FLOW_RATE:
        case _EVENT_TYPE_MAX:
                break;
        }
        return -1;
}

static int event_apply(Rules *r, struct sensor *x, const struct sensor_event *e, const struct now_ctx *n, bool restoring,
                       struct rule_output *out)
{
        bool fresh = !restoring && !event_is_state_only(e);
        bool on = e->value > 0;
        struct resident *res = x->owner >= 0 ? &r->residents[x->owner] : NULL;
        struct subject *subj = subject_get(r, sensor_resident(x), sensor_building(r, x));
        const struct rules_settings *s = subject_settings(r, sensor_resident(x));
        bool activity = false, was_active = x->flags & SF_ACTIVE, known = x->flags & SF_KNOWN;
        secs_t at = restoring && n->wall_ok && e->wall ? mono_of_wall(n, e->wall) : n->s;
        enum rule_id alarm = _RULE_ID_MAX;
        int k;

        if (fresh) {
                x->last_seen = n->s;
                if (e->type != EVENT_AVAILABILITY && !(x->flags & SF_WIRED))
                        x->flags &= (uint8_t)~SF_UNAVAILABLE; /* heard from it: it is there */
        } else if (restoring && x->last_seen == SECS_UNKNOWN && n->wall_ok && e->wall)
                x->last_seen = at;

        /* A state for another kind (a roster that calls a leak sensor a door) would be misread: keep out. */
        int sk = state_kind(e->type);
        if (sk >= 0 && sk != x->kind)
                return 0;

        if (e->type == EVENT_LEAK || e->type == EVENT_FALL || e->type == EVENT_SMOKE || e->type == EVENT_GAS ||
            e->type == EVENT_CO) {
                /* Retained: maybe a week old. Restored from our own store: we saw it
                         * fresh before the restart, so a leak still wet fires at once. */
                if (on && (e->flags & EVENT_RETAINED))
                        x->flags2 |= SF2_STALE;
                else
                        x->flags2 &= (uint8_t)~SF2_STALE;
        }

        switch ((enum event_type)e->type) {
        case EVENT_LEAK:
        case EVENT_FALL:
                set_flag(x, SF_ACTIVE, on);
                x->flags |= SF_KNOWN;
                if (fresh && on)
                        alarm = alarm_rule(e->type);
                break;
        case EVENT_SMOKE:
        case EVENT_GAS:
        case EVENT_CO:
                /* An alarm during a self-test (or a drill) is the test, never an alarm. */
                if (on && testing(x, n->s))
                        break;
                set_flag(x, SF_ACTIVE, on);
                x->flags |= SF_KNOWN;
                if (fresh && on)
                        alarm = alarm_rule(e->type);
                break;
        case EVENT_SELF_TEST:
                if (sensor_is_water(x))
                        break;
                /* Only a test the detector itself says is running (value 1) makes the next alarm
                 * the test. Tuya's self_test datapoints (value 2) are cached and repeated by
                 * Zigbee2MQTT in every later message: a stale "checking" must never hide a fire.
                 * A repeat does not prolong the test either. */
                if (e->value == 1 && !(x->flags & SF_TESTING))
                        x->since = n->s;
                set_flag(x, SF_TESTING, e->value == 1);
                break;
        case EVENT_BUTTON:
                if (fresh) {
                        activity = true;
                        alarm = RULE_PANIC;
                }
                break;
        case EVENT_CHECK_IN:
                activity = fresh;
                break;
        case EVENT_CONTACT:
                if (on && (!was_active || !known))
                        x->since = at;
                set_flag(x, SF_ACTIVE, on);
                x->flags |= SF_KNOWN;
                if (!on && (x->flags & SF_NIGHT_OPEN)) {
                        x->flags &= (uint8_t)~SF_NIGHT_OPEN;
                        k = out_push_state(out, RULE_STATE_SENSOR, x->num, SK_DOOR_OPENED_AT, 0);
                        if (k < 0)
                                return k;
                }
                /* A report that repeats the state (Zigbee2MQTT sends it with every battery report) is not
                 * someone moving the door; only a change is. */
                if (fresh && known && on != was_active && res) {
                        activity = true;
                        res->last_door = n->s;
                        if (on && res->s->night_wandering) {
                                usec_t ns, ne, next;
                                int id;
                                if (night_now(r, res->s, n, &ns, &ne, &id, &next)) {
                                        if (res->night != id) {
                                                res->night = id;
                                                res->openings = 0;
                                                rule_forget(subj, RULE_NIGHT_WANDERING); /* a new night */
                                        }
                                        if (res->openings < UINT8_MAX)
                                                res->openings++;
                                        x->flags |= SF_NIGHT_OPEN;
                                        /* Kept across a restart: tonight's count, and since when it is open. */
                                        k = resident_night_told(r, (uint32_t)x->owner, out);
                                        if (k >= 0)
                                                k = out_push_state(out, RULE_STATE_SENSOR, x->num, SK_DOOR_OPENED_AT,
                                                                   (int64_t)n->c->wall);
                                        if (k < 0)
                                                return k;
                                }
                        }
                }
                break;
        case EVENT_LOCK_FAULT:
                /* Retained: the broker's memory of the lock, state only (like a retained alarm). */
                if (on) {
                        x->flags2 |= SF2_LOCK_FAULT;
                        if (e->flags & EVENT_RETAINED)
                                x->flags2 |= SF2_LOCK_STALE;
                        else
                                x->flags2 &= (uint8_t)~SF2_LOCK_STALE;
                } else
                        x->flags2 &= (uint8_t)~(SF2_LOCK_FAULT | SF2_LOCK_STALE);
                /* Only an entrance (common-area) door's lock is a rule; a flat's lock is history. */
                if (fresh && on && x->owner < 0) {
                        struct rule_decision d;
                        lock_fault_decision(r, x, n, &d);
                        k = rule_raise(r, subj, n, &d, true, out); /* a repeat report updates the open alert */
                        if (k < 0)
                                return k;
                }
                break;
        case EVENT_MOTION:
                set_flag(x, SF_ACTIVE, on);
                x->flags |= SF_KNOWN;
                if (fresh && on && res) {
                        activity = true;
                        res->last_motion = n->s;
                }
                break;
        case EVENT_WATER_FLOW:
        case EVENT_WATER_TOTAL:
        case EVENT_WATER_PULSES:
        case EVENT_WATER_FLOW_RATE:
                if (sensor_is_water(x)) {
                        k = water_event(r, x, e, n, restoring, at, out, &activity);
                        if (k < 0)
                                return k;
                }
                break;
        case EVENT_BATTERY:
                /* Five points of hysteresis: a battery reading 19, 20, 19 % must not flap. */
                if (e->value < s->battery_low_percent)
                        x->flags |= SF_BATTERY_LOW;
                else if (e->value >= s->battery_low_percent + 5)
                        x->flags &= (uint8_t)~SF_BATTERY_LOW;
                break;
        case EVENT_BATTERY_LOW:
                set_flag(x, SF_BATTERY_LOW, on);
                break;
        case EVENT_TAMPER:
                set_flag(x, SF_TAMPER, on); /* told by the evaluation, like battery and offline */
                break;
        case EVENT_AVAILABILITY:
                set_flag(x, SF_UNAVAILABLE, !on);
                if (fresh && on)
                        x->last_seen = n->s;
                break;
        case _EVENT_TYPE_MAX:
                break;
        }

        if (activity && res) {
                res->last_activity = n->s;
                out->activity = x->owner;
        }

        if (alarm != _RULE_ID_MAX) {
                struct rule_decision d;
                /* A press or a fall after a person resolved the last one is a new episode. */
                if ((alarm == RULE_PANIC || alarm == RULE_FALL) && !(subj->st[alarm] & RS_OPEN))
                        rule_forget(subj, alarm);
                alarm_decision(r, x, alarm, n, &d);
                k = rule_raise(r, subj, n, &d, true, out);
                if (k < 0)
                        return k;
        }
        return 0;
}

struct sensor *sensor_by_num(Rules *r, uint32_t num)
{
        if (num >= r->by_num_size || !r->by_num[num])
                return NULL;
        return &r->sensors[r->by_num[num] - 1];
}

static int subject_evaluate(Rules *r, uint32_t subject, const struct now_ctx *n, struct rule_output *out)
{
        usec_t due = USEC_INFINITY;
        int k;

        if (subject & SUBJECT_BUILDING)
                k = building_evaluate(r, subject & ~SUBJECT_BUILDING, n, out, &due);
        else
                k = resident_evaluate(r, subject, n, out, &due);
        /* A due time in the past would spin the loop; the evaluation just judged "now". */
        if (due <= n->c->mono)
                due = n->c->mono + USEC_PER_SEC;
        heap_set(r, subject, due);
        return k;
}

int rules_event(Rules *r, const struct sensor_event *e, const struct rules_clock *now, struct rule_output *out)
{
        struct now_ctx n;
        struct sensor *x;
        int k;

        if (!r || !e || !now || !out)
                return -EINVAL;
        out->activity = -1;
        k = clock_observe(r, now, &n);
        if (k >= 0 && r->n_pending && n.wall_ok)
                k = place_pending(r, &n, true);
        if (k < 0)
                return k;
        x = sensor_by_num(r, e->sensor);
        if (!x)
                return -ENOENT;
        if (e->type == 0 || e->type >= _EVENT_TYPE_MAX)
                return -EINVAL;
        k = event_apply(r, x, e, &n, false, out);
        if (k < 0)
                return k;
        return subject_evaluate(r, sensor_subject(x), &n, out);
}

static usec_t next_slot_boundary(usec_t wall)
{
        const usec_t slot = 30 * USEC_PER_MINUTE;
        return (wall / slot + 1) * slot;
}

int rules_tick(Rules *r, const struct rules_clock *now, struct rule_output *out)
{
        struct now_ctx n;
        int k;

        if (!r || !now || !out)
                return -EINVAL;
        k = clock_observe(r, now, &n);
        if (k >= 0 && r->n_pending && n.wall_ok)
                k = place_pending(r, &n, true);
        if (k < 0)
                return k;

        if (now->mono >= r->hk_due) {
                water_housekeeping(r, &n, out);
                r->hk_due = now->mono + HOUSEKEEPING_INTERVAL;
                if (n.wall_ok && r->n_meters) {
                        usec_t b = due_of_wall(&n, next_slot_boundary(now->wall));
                        if (b < r->hk_due)
                                r->hk_due = b;
                }
        }

        while (r->n_heap && r->heap[0].due <= now->mono) {
                k = subject_evaluate(r, r->heap[0].subject, &n, out);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* ---- people resolving, restarts ------------------------------------------------------------------------ */

static struct subject *subject_checked(Rules *r, int resident, int building)
{
        if (resident >= 0)
                return (size_t)resident < r->n_residents ? &r->residents[resident].subj : NULL;
        if (building >= 0 && (size_t)building < r->n_buildings)
                return &r->buildings[building].subj;
        return NULL;
}

static uint32_t subject_id(int resident, int building)
{
        return resident >= 0 ? (uint32_t)resident : SUBJECT_BUILDING | (uint32_t)building;
}

void rules_alert_resolved(Rules *r, int resident, int building, enum rule_id rule, const struct rules_clock *now)
{
        struct subject *subj;
        struct now_ctx n;

        if (!r || (unsigned)rule >= _RULE_ID_MAX || !(subj = subject_checked(r, resident, building)))
                return;
        if (now)
                (void)clock_observe(r, now, &n);
        subj->st[rule] &= (uint8_t)~(RS_OPEN | RS_RESTORED | RS_TOLD_RAISE | RS_SEV_KNOWN);
        if (resident >= 0 && now) {
                /* Quiet rules start their whole period again: if nobody stirs for another 12 h, that is news. */
                int k = rule == RULE_INACTIVITY     ? REARM_INACTIVITY
                        : rule == RULE_WATER_LOW_USE ? REARM_LOW_USE
                        : rule == RULE_COMBINED      ? REARM_COMBINED
                                                     : -1;
                if (k >= 0) {
                        r->residents[resident].rearm[k] = n.s;
                        rule_forget(subj, rule);
                }
        }
        heap_set(r, subject_id(resident, building), now ? now->mono : 0);
}

usec_t rules_last_activity(Rules *r, int resident, const struct rules_clock *now)
{
        struct now_ctx n;

        if (!r || !now || resident < 0 || (size_t)resident >= r->n_residents)
                return 0;
        now_ctx_init(&n, now);
        return wall_of_mono(&n, r->residents[resident].last_activity);
}

bool rules_activity_worth_saving(Rules *r, int resident, usec_t saved, usec_t wall)
{
        const struct resident *x;
        const struct rules_settings *s;
        unsigned minute;
        int date;

        if (!r || resident < 0 || (size_t)resident >= r->n_residents || !saved)
                return true;
        if (wall <= saved)
                return false;
        x = &r->residents[resident];
        s = x->s;
        if (s->morning_check && s->wake_start_min < s->wake_end_min && local_date_minute(wall, &date, &minute) >= 0) {
                usec_t start = local_time_at(r, date, s->wake_start_min);
                if (start > wall)
                        start = local_time_at(r, date_add_days(date, -1), s->wake_start_min);
                if (start != USEC_INFINITY && saved < start && start <= wall)
                        return true;
        }
        for (int32_t j = x->subj.first_sensor; j >= 0; j = r->sensors[j].next)
                if (sensor_is_water(&r->sensors[j]) && (r->meters[r->sensors[j].meter].flags & MF_RUNNING))
                        return true;
        return false;
}

int rules_restore_activity(Rules *r, int resident, usec_t wall, const struct rules_clock *now)
{
        struct now_ctx n;
        int k;

        if (!r || !now)
                return -EINVAL;
        if (resident < 0 || (size_t)resident >= r->n_residents)
                return -ENOENT;
        k = clock_observe(r, now, &n);
        if (k < 0)
                return k;
        k = push_pending(r, &(struct pending_restore){ .index = resident, .kind = PENDING_ACTIVITY, .wall = wall });
        if (k < 0)
                return k;
        if (n.wall_ok)
                k = place_pending(r, &n, false);
        heap_set(r, (uint32_t)resident, 0);
        return k;
}

int rules_restore_event(Rules *r, const struct sensor_event *e, const struct rules_clock *now)
{
        struct rule_output none = { 0 };
        struct now_ctx n;
        struct sensor *x;
        int k;

        if (!r || !e || !now)
                return -EINVAL;
        k = clock_observe(r, now, &n);
        if (k < 0)
                return k;
        x = sensor_by_num(r, e->sensor);
        if (!x)
                return -ENOENT;
        if (e->type == 0 || e->type >= _EVENT_TYPE_MAX)
                return -EINVAL;
        /* State only: whatever it means is decided at the next tick, after the open alerts are known. */
        k = event_apply(r, x, e, &n, true, &none);
        rule_output_done(&none);
        heap_set(r, sensor_subject(x), 0);
        return k;
}

int rules_restore_water_slot(Rules *r, uint32_t sensor, usec_t slot_wall, double litres)
{
        struct sensor *x;

        if (!r)
                return -EINVAL;
        x = sensor_by_num(r, sensor);
        if (!x)
                return -ENOENT;
        if (!sensor_is_water(x) || !isfinite(litres) || litres < 0)
                return -EINVAL;
        /* Placed on the monotonic clock at the next call with a synchronised clock. */
        return push_pending(r, &(struct pending_restore){ .index = x->meter, .kind = PENDING_SLOT, .wall = slot_wall,
                                                           .litres = litres });
}

int rules_restore_open_alert(Rules *r, int resident, int building, enum rule_id rule)
{
        struct subject *subj;

        if (!r || (unsigned)rule >= _RULE_ID_MAX)
                return -EINVAL;
        subj = subject_checked(r, resident, building);
        if (!subj)
                return -ENOENT;
        subj->st[rule] |= RS_OPEN | RS_RESTORED | RS_TOLD_RAISE;
        heap_set(r, subject_id(resident, building), 0);
        return 0;
}

int rules_restore_open_alert_severity(Rules *r, int resident, int building, enum rule_id rule, enum severity sev)
{
        int k;

        if ((unsigned)sev >= _SEVERITY_MAX)
                return -EINVAL;
        k = rules_restore_open_alert(r, resident, building, rule);
        if (k < 0)
                return k;
        struct subject *subj = subject_checked(r, resident, building);
        if (!(subj->st[rule] & RS_LATCHED))
                subj->st[rule] = st_with_sev((uint8_t)(subj->st[rule] | RS_SEV_KNOWN), sev);
        return 0;
}
