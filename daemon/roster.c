/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Roster kinds: their columns (with the headers committee staff type in
 * Excel) and the normalisation of each value to its canonical form.
 */

#include "daemon/roster.h"

#include <ctype.h>
#include <stdarg.h>
#include <strings.h>

#include "daemon/util.h"
#include "sensors/source.h"

#define ALIASES(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const struct roster_column resident_columns[] = {
        { "id", ALIASES("编号", "老人编号", "居民编号", "resident_id", "ID号"), true,
          "short unique id, e.g. R201 (no spaces, '/', '+' or '#')" },
        { "name", ALIASES("姓名", "名字", "老人姓名"), true, "full name as neighbours know it" },
        { "building", ALIASES("楼栋", "楼号", "楼", "楼栋号", "building_id"), true, "building id, e.g. B17" },
        { "flat", ALIASES("门牌", "门牌号", "房号", "室", "房间"), true, "flat / door number, e.g. 201" },
        { "lives_alone", ALIASES("独居", "是否独居", "alone"), true, "是/否, yes/no, 1/0" },
        { "phone", ALIASES("电话", "手机", "联系电话", "手机号"), false, "the resident's own phone" },
        { "notes", ALIASES("备注", "说明", "note"), false, "anything a neighbour at the door should know" },
};

static const struct roster_column contact_columns[] = {
        { "id", ALIASES("编号", "联系人编号", "contact_id", "ID号"), true, "short unique id, e.g. C1" },
        { "name", ALIASES("姓名", "名字", "联系人"), true, "full name" },
        { "phone", ALIASES("电话", "手机", "联系电话", "手机号"), false, "phone number" },
        { "role", ALIASES("角色", "身份", "类别"), true,
          "neighbour (结对邻居), group_leader (楼组长), committee (居委会), family (家属), property (物业)" },
        { "notify", ALIASES("通知方式", "通知", "提醒方式"), false,
          "how to reach them: mqtt, webhook:NAME, exec:NAME; several separated by ';' (default mqtt)" },
};

static const struct roster_column link_columns[] = {
        { "resident_id", ALIASES("老人编号", "居民编号", "resident", "老人"), true, "a resident's id" },
        { "contact_id", ALIASES("联系人编号", "contact", "联系人"), true, "a contact's id" },
        { "tier", ALIASES("层级", "级别", "梯队", "顺序"), true,
          "1: told at once, 2: after the tier timeout, 3: after that" },
};

static const struct roster_column sensor_columns[] = {
        { "id", ALIASES("编号", "传感器编号", "sensor_id", "ID号"), true, "short unique id, e.g. S201-leak" },
        { "resident_id", ALIASES("老人编号", "居民编号", "resident", "老人"), false,
          "the resident whose flat it is in; empty for a common area (stairwell, entrance)" },
        { "building", ALIASES("楼栋", "楼号", "楼", "building_id"), false,
          "building id; required for a common-area sensor, else taken from the resident" },
        { "kind", ALIASES("类型", "种类", "传感器类型"), true,
          "leak, door, motion, button, fall, water_flow, water_meter, smoke, gas, co" },
        { "source", ALIASES("来源", "接入", "地址", "接入方式"), true,
          "mqtt:TOPIC or gpio:CHIP:LINE[:active_low][:litres=N]" },
};

static const struct roster_kind_info kinds[_ROSTER_KIND_MAX] = {
        [ROSTER_RESIDENTS] = { ROSTER_RESIDENTS, "residents", "resident", resident_columns,
                               ELEMENTSOF(resident_columns), 1 },
        [ROSTER_CONTACTS] = { ROSTER_CONTACTS, "contacts", "contact", contact_columns,
                              ELEMENTSOF(contact_columns), 1 },
        [ROSTER_LINKS] = { ROSTER_LINKS, "links", "link", link_columns, ELEMENTSOF(link_columns), 2 },
        [ROSTER_SENSORS] = { ROSTER_SENSORS, "sensors", "sensor", sensor_columns, ELEMENTSOF(sensor_columns),
                             1 },
};

const struct roster_kind_info *roster_kind_info(enum roster_kind kind)
{
        if ((unsigned)kind >= _ROSTER_KIND_MAX)
                return NULL;
        return &kinds[kind];
}

int roster_kind_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int k = 0; k < _ROSTER_KIND_MAX; k++)
                if (streq(s, kinds[k].name) || streq(s, kinds[k].singular))
                        return k;
        return -EINVAL;
}

/* Compare a header cell with a name: case-insensitive for ASCII, spaces around ignored,
 * and '-' / ' ' equal to '_' so "Lives alone" matches lives_alone. */
static bool header_matches(const char *cell, const char *name)
{
        while (*cell == ' ' || *cell == '\t')
                cell++;
        for (; *name; cell++, name++) {
                char a = *cell, b = *name;
                if (a == '-' || a == ' ')
                        a = '_';
                if (tolower((unsigned char)a) != tolower((unsigned char)b))
                        return false;
        }
        while (*cell == ' ' || *cell == '\t')
                cell++;
        return *cell == '\0';
}

int roster_column_lookup(const struct roster_kind_info *info, const char *header)
{
        if (!info || !header)
                return -ENOENT;
        for (size_t i = 0; i < info->n_columns; i++) {
                if (header_matches(header, info->columns[i].name))
                        return (int)i;
                for (const char *const *a = info->columns[i].aliases; a && *a; a++)
                        if (header_matches(header, *a))
                                return (int)i;
        }
        return -ENOENT;
}

void roster_row_clear(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i]);
                v[i] = NULL;
        }
}

/* Case-insensitive match of s against a NULL-terminated list. */
static bool in_list(const char *s, const char *const *list)
{
        for (; *list; list++)
                if (strcasecmp(s, *list) == 0)
                        return true;
        return false;
}

int parse_yes_no(const char *s)
{
        if (!s)
                return -EINVAL;
        if (in_list(s, ALIASES("1", "yes", "y", "true", "t", "on", "是", "独居", "√", "✓", "x")))
                return 1;
        if (in_list(s, ALIASES("0", "no", "n", "false", "f", "off", "否", "不是", "非独居", "")))
                return 0;
        return -EINVAL;
}

static const char *const role_names[_ROLE_MAX] = {
        [ROLE_NEIGHBOUR] = "neighbour", [ROLE_GROUP_LEADER] = "group_leader", [ROLE_COMMITTEE] = "committee",
        [ROLE_FAMILY] = "family",       [ROLE_PROPERTY] = "property",
};

const char *contact_role_to_string(enum contact_role r)
{
        return (unsigned)r < _ROLE_MAX ? role_names[r] : NULL;
}

int contact_role_from_string(const char *s)
{
        static const struct {
                const char *name;
                enum contact_role role;
        } aliases[] = {
                { "neighbor", ROLE_NEIGHBOUR },      { "邻居", ROLE_NEIGHBOUR },
                { "结对邻居", ROLE_NEIGHBOUR },      { "志愿者", ROLE_NEIGHBOUR },
                { "group-leader", ROLE_GROUP_LEADER }, { "group leader", ROLE_GROUP_LEADER },
                { "楼组长", ROLE_GROUP_LEADER },     { "楼长", ROLE_GROUP_LEADER },
                { "居委会", ROLE_COMMITTEE },        { "居委", ROLE_COMMITTEE },
                { "社工", ROLE_COMMITTEE },          { "居委会社工", ROLE_COMMITTEE },
                { "家属", ROLE_FAMILY },             { "亲属", ROLE_FAMILY },
                { "家人", ROLE_FAMILY },             { "物业", ROLE_PROPERTY },
                { "物业公司", ROLE_PROPERTY },
        };
        if (!s)
                return -EINVAL;
        for (int r = 0; r < _ROLE_MAX; r++)
                if (strcasecmp(s, role_names[r]) == 0)
                        return r;
        for (size_t i = 0; i < ELEMENTSOF(aliases); i++)
                if (strcasecmp(s, aliases[i].name) == 0)
                        return aliases[i].role;
        return -EINVAL;
}

static const char *const sensor_kind_names[_SENSOR_KIND_MAX] = {
        [SENSOR_LEAK] = "leak",         [SENSOR_DOOR] = "door",
        [SENSOR_MOTION] = "motion",     [SENSOR_BUTTON] = "button",
        [SENSOR_FALL] = "fall",         [SENSOR_WATER_FLOW] = "water_flow",
        [SENSOR_WATER_METER] = "water_meter", [SENSOR_SMOKE] = "smoke",
        [SENSOR_GAS] = "gas",           [SENSOR_CO] = "co",
};

const char *sensor_kind_to_string(enum sensor_kind k)
{
        return (unsigned)k < _SENSOR_KIND_MAX ? sensor_kind_names[k] : NULL;
}

int sensor_kind_from_string(const char *s)
{
        static const struct {
                const char *name;
                enum sensor_kind kind;
        } aliases[] = {
                { "water_leak", SENSOR_LEAK },   { "漏水", SENSOR_LEAK },       { "水浸", SENSOR_LEAK },
                { "浸水", SENSOR_LEAK },         { "contact", SENSOR_DOOR },    { "门磁", SENSOR_DOOR },
                { "门", SENSOR_DOOR },           { "occupancy", SENSOR_MOTION }, { "人体", SENSOR_MOTION },
                { "人体感应", SENSOR_MOTION },   { "移动", SENSOR_MOTION },     { "panic", SENSOR_BUTTON },
                { "按钮", SENSOR_BUTTON },       { "紧急按钮", SENSOR_BUTTON }, { "一键呼叫", SENSOR_BUTTON },
                { "跌倒", SENSOR_FALL },         { "水流", SENSOR_WATER_FLOW }, { "水表", SENSOR_WATER_METER },
                { "meter", SENSOR_WATER_METER }, { "烟感", SENSOR_SMOKE },      { "烟雾", SENSOR_SMOKE },
                { "燃气", SENSOR_GAS },          { "可燃气体", SENSOR_GAS },    { "煤气", SENSOR_GAS },
                { "carbon_monoxide", SENSOR_CO }, { "一氧化碳", SENSOR_CO },
        };
        if (!s)
                return -EINVAL;
        for (int k = 0; k < _SENSOR_KIND_MAX; k++)
                if (strcasecmp(s, sensor_kind_names[k]) == 0)
                        return k;
        for (size_t i = 0; i < ELEMENTSOF(aliases); i++)
                if (strcasecmp(s, aliases[i].name) == 0)
                        return aliases[i].kind;
        return -EINVAL;
}

_printf_(2, 3) static int fail(char **ret_error, const char *fmt, ...)
{
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

static int replace(char **slot, const char *value)
{
        char *c = strdup(value);
        if (!c)
                return -ENOMEM;
        free(*slot);
        *slot = c;
        return 0;
}

/* Ids end up in MQTT topics and command lines: keep them to one printable token. */
static int check_id(const char *column, const char *v, char **ret_error)
{
        size_t n = strlen(v);

        if (n > 64)
                return fail(ret_error, "%s: '%s' is longer than 64 characters — use a short code such as R201",
                            column, v);
        for (const unsigned char *p = (const unsigned char *)v; *p; p++)
                if (*p <= ' ' || *p == '/' || *p == '+' || *p == '#' || *p == 0x7f)
                        return fail(ret_error,
                                    "%s: '%s' contains a space, '/', '+' or '#' — ids are one word, e.g. R201",
                                    column, v);
        return 0;
}

/* Excel shows long numbers as 1.38E+10 and saves them that way. */
static bool looks_like_excel_number(const char *v)
{
        const char *e = strpbrk(v, "eE");
        return e && (e[1] == '+' || isdigit((unsigned char)e[1])) && strchr(v, '.') && isdigit((unsigned char)v[0]);
}

static int check_phone(const char *v, char **ret_error)
{
        if (looks_like_excel_number(v))
                return fail(ret_error,
                            "phone: '%s' is how Excel shows a long number — format the phone column as Text "
                            "(设置单元格格式 → 文本) and type the number again",
                            v);
        for (const char *p = v; *p; p++)
                if (!isdigit((unsigned char)*p) && !strchr("+-() ", *p))
                        return fail(ret_error, "phone: '%s' has a character that is not a digit, '+', '-' or space",
                                    v);
        return 0;
}

static int normalise_notify(char **slot, char **ret_error)
{
        _cleanup_free_ char *copy = NULL, *out = NULL;
        size_t len = 0;
        char *tok, *save;

        if (isempty(*slot))
                return replace(slot, "mqtt");
        /* Accept ';', ',', '|', spaces and the full-width '；' and '，' as separators. */
        copy = malloc(strlen(*slot) + 1);
        out = calloc(1, strlen(*slot) + 2);
        if (!copy || !out)
                return -ENOMEM;
        {
                const char *s = *slot;
                char *d = copy;
                while (*s) {
                        if (startswith(s, "；") || startswith(s, "，")) {
                                *d++ = ';';
                                s += strlen("；");
                        } else
                                *d++ = *s++;
                }
                *d = '\0';
        }
        for (tok = strtok_r(copy, ";,| \t", &save); tok; tok = strtok_r(NULL, ";,| \t", &save)) {
                const char *name = NULL;
                if (strcasecmp(tok, "mqtt") == 0)
                        tok = (char *)"mqtt";
                else if ((name = startswith(tok, "webhook:")) || (name = startswith(tok, "exec:"))) {
                        if (isempty(name))
                                return fail(ret_error, "notify: '%s' needs a name after the colon, e.g. webhook:wecom",
                                            tok);
                        for (const char *p = name; *p; p++)
                                if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
                                        return fail(ret_error,
                                                    "notify: '%s' — channel names use letters, digits, '_' and '-'",
                                                    tok);
                } else
                        return fail(ret_error,
                                    "notify: '%s' is not a channel — write mqtt, webhook:NAME or exec:NAME "
                                    "(NAME as in a [webhook:NAME] or [exec:NAME] section of the config)",
                                    tok);
                if (len)
                        out[len++] = ';';
                memcpy(out + len, tok, strlen(tok));
                len += strlen(tok);
                out[len] = '\0';
        }
        if (len == 0)
                return replace(slot, "mqtt");
        return replace(slot, out);
}

static int parse_tier(const char *s)
{
        if (in_list(s, ALIASES("1", "一", "tier1", "tier 1", "第一梯队", "一级")))
                return 1;
        if (in_list(s, ALIASES("2", "二", "tier2", "tier 2", "第二梯队", "二级")))
                return 2;
        if (in_list(s, ALIASES("3", "三", "tier3", "tier 3", "第三梯队", "三级")))
                return 3;
        return -EINVAL;
}

int roster_row_normalise(enum roster_kind kind, char **v, char **ret_error)
{
        const struct roster_kind_info *info = roster_kind_info(kind);
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!info)
                return -EINVAL;

        /* Trim every value; a value of only spaces is empty. */
        for (size_t i = 0; i < info->n_columns; i++) {
                if (!v[i])
                        continue;
                char *t = strstrip(v[i]);
                if (t != v[i])
                        memmove(v[i], t, strlen(t) + 1);
        }
        for (size_t i = 0; i < info->n_columns; i++)
                if (info->columns[i].required && isempty(v[i]))
                        return fail(ret_error, "%s is empty — %s", info->columns[i].name, info->columns[i].help);
        for (size_t i = 0; i < info->n_columns; i++)
                if (!v[i] && (r = replace(&v[i], "")) < 0)
                        return r;

        switch (kind) {
        case ROSTER_RESIDENTS: {
                if ((r = check_id("id", v[0], ret_error)) < 0 || (r = check_id("building", v[2], ret_error)) < 0)
                        return r;
                int alone = parse_yes_no(v[4]);
                if (alone < 0)
                        return fail(ret_error, "lives_alone: '%s' is not yes or no — write 是 or 否 (or 1/0)", v[4]);
                if ((r = replace(&v[4], alone ? "1" : "0")) < 0)
                        return r;
                return check_phone(v[5], ret_error);
        }
        case ROSTER_CONTACTS: {
                if ((r = check_id("id", v[0], ret_error)) < 0 || (r = check_phone(v[2], ret_error)) < 0)
                        return r;
                int role = contact_role_from_string(v[3]);
                if (role < 0)
                        return fail(ret_error, "role: '%s' is not a role — write one of %s", v[3],
                                    info->columns[3].help);
                if ((r = replace(&v[3], contact_role_to_string(role))) < 0)
                        return r;
                return normalise_notify(&v[4], ret_error);
        }
        case ROSTER_LINKS: {
                if ((r = check_id("resident_id", v[0], ret_error)) < 0 ||
                    (r = check_id("contact_id", v[1], ret_error)) < 0)
                        return r;
                int tier = parse_tier(v[2]);
                if (tier < 0)
                        return fail(ret_error,
                                    "tier: '%s' is not 1, 2 or 3 — 1 is told at once, 2 if nobody answers, 3 after that",
                                    v[2]);
                char buf[2] = { (char)('0' + tier), 0 };
                return replace(&v[2], buf);
        }
        case ROSTER_SENSORS: {
                if ((r = check_id("id", v[0], ret_error)) < 0)
                        return r;
                if (!isempty(v[1]) && (r = check_id("resident_id", v[1], ret_error)) < 0)
                        return r;
                if (!isempty(v[2]) && (r = check_id("building", v[2], ret_error)) < 0)
                        return r;
                if (isempty(v[1]) && isempty(v[2]))
                        return fail(ret_error, "resident_id and building are both empty — a sensor in a flat names "
                                               "its resident; a common-area sensor (stairwell, entrance) names its "
                                               "building");
                int k = sensor_kind_from_string(v[3]);
                if (k < 0)
                        return fail(ret_error, "kind: '%s' is not a sensor kind — write one of %s", v[3],
                                    info->columns[3].help);
                if ((r = replace(&v[3], sensor_kind_to_string(k))) < 0)
                        return r;

                struct sensor_source src = { 0 };
                _cleanup_free_ char *err = NULL, *canon = NULL;
                if (sensor_source_parse(v[4], &src, &err) < 0)
                        return fail(ret_error, "source: %s", err ? err : "not a valid source");
                if (src.litres_per_pulse > 0 && k != SENSOR_WATER_METER && k != SENSOR_WATER_FLOW) {
                        sensor_source_done(&src);
                        return fail(ret_error, "source: litres= is only for water_meter sensors, this one is %s",
                                    v[3]);
                }
                canon = sensor_source_format(&src);
                sensor_source_done(&src);
                if (!canon)
                        return -ENOMEM;
                return replace(&v[4], canon);
        }
        case _ROSTER_KIND_MAX:
                break;
        }
        return -EINVAL;
}
