/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the payload normaliser: every input is parsed as an
 * MQTT payload for every sensor kind on both topic roles, so the seeds are
 * plain payload files (tests/data/payloads/) and the fuzzer explores kind and
 * role dispatch for free. Besides "no crash", it checks the invariants a
 * caller relies on and aborts when one breaks. How to run it:
 * tests/fuzz/README.md.
 */

#include <math.h>
#include <stdint.h>

#include "sensors/payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(enum sensor_kind kind, enum payload_role role, const uint8_t *data, size_t size)
{
        struct payload_result res;
        char reason[PAYLOAD_REASON_MAX];
        int r;

        r = payload_parse(kind, role, data, size, &res, reason, sizeof(reason));
        if (r < 0) {
                if ((r != -EINVAL && r != -EBADMSG && r != -EMSGSIZE) || res.n_events != 0 ||
                    reason[0] == '\0')
                        abort();
                return;
        }
        if ((size_t)r != res.n_events || res.n_events > PAYLOAD_EVENTS_MAX)
                abort();
        if (res.partial != (reason[0] != '\0') || (res.partial && res.n_events == 0))
                abort();
        for (size_t i = 0; i < res.n_events; i++) {
                const struct sensor_event *e = &res.events[i];
                bool source_time = (e->flags & EVENT_SOURCE_TIME) != 0;

                if (!event_type_to_string(e->type) || !isfinite(e->value) || e->sensor != 0 ||
                    e->mono != 0 || (e->flags & ~EVENT_SOURCE_TIME) != 0 || source_time != (e->wall != 0))
                        abort();
                if (role == PAYLOAD_AVAILABILITY && e->type != EVENT_AVAILABILITY)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        for (int k = 0; k < _SENSOR_KIND_MAX; k++)
                for (int role = 0; role < _PAYLOAD_ROLE_MAX; role++)
                        check((enum sensor_kind)k, (enum payload_role)role, data, size);
        return 0;
}
