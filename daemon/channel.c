/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What all channels share. */

#include "daemon/channel.h"

Channel *channel_free(Channel *c)
{
        if (!c)
                return NULL;
        if (c->ops && c->ops->free)
                c->ops->free(c);
        free(c->name);
        free(c);
        return NULL;
}
