/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Names of event types and which events count as a person's activity. */

#include "sensors/event.h"

static const char *const event_names[_EVENT_TYPE_MAX] = {
        [EVENT_LEAK] = "leak",
        [EVENT_CONTACT] = "contact",
        [EVENT_MOTION] = "motion",
        [EVENT_BUTTON] = "button",
        [EVENT_FALL] = "fall",
        [EVENT_SMOKE] = "smoke",
        [EVENT_GAS] = "gas",
        [EVENT_CO] = "co",
        [EVENT_SELF_TEST] = "self_test",
        [EVENT_WATER_FLOW] = "water_flow",
        [EVENT_WATER_TOTAL] = "water_total",
        [EVENT_WATER_PULSES] = "water_pulses",
        [EVENT_BATTERY] = "battery",
        [EVENT_BATTERY_LOW] = "battery_low",
        [EVENT_TAMPER] = "tamper",
        [EVENT_AVAILABILITY] = "availability",
        [EVENT_CHECK_IN] = "check_in",
        [EVENT_WATER_FLOW_RATE] = "water_flow_rate",
        [EVENT_LOCK_FAULT] = "lock_fault",
};

const char *event_type_to_string(enum event_type t)
{
        if ((unsigned)t >= _EVENT_TYPE_MAX)
                return NULL;
        return event_names[t];
}

int event_type_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int t = 1; t < _EVENT_TYPE_MAX; t++)
                if (event_names[t] && streq(s, event_names[t]))
                        return t;
        return -EINVAL;
}

bool event_is_activity(const struct sensor_event *e)
{
        if (event_is_state_only(e))
                return false;
        switch ((enum event_type)e->type) {
        case EVENT_CONTACT:     /* opening or closing the door: someone moved it */
        case EVENT_BUTTON:
        case EVENT_CHECK_IN:
                return true;
        case EVENT_MOTION:
        case EVENT_WATER_FLOW:
                return e->value > 0;
        case EVENT_WATER_PULSES:
                return e->value > 0;
        case EVENT_WATER_TOTAL: /* only a rise is activity: the water rules know the previous total */
        case EVENT_WATER_FLOW_RATE:
        case EVENT_LEAK:
        case EVENT_FALL:
        case EVENT_SMOKE:
        case EVENT_GAS:
        case EVENT_CO:
        case EVENT_SELF_TEST:
        case EVENT_BATTERY:
        case EVENT_BATTERY_LOW:
        case EVENT_TAMPER:
        case EVENT_AVAILABILITY:
        case EVENT_LOCK_FAULT:  /* the lock says so itself; nobody moved anything */
        case _EVENT_TYPE_MAX:
                break;
        }
        return false;
}
