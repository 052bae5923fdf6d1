/* SPDX-License-Identifier: MIT */
/*
 * unix - a SOCK_STREAM socketpair(2) (AF_UNIX), one socket per side, default
 * buffer sizes. A byte stream: messages are written and read whole.
 */
#define _GNU_SOURCE
#include "sockpair.h"

static int setup(void **stp, const struct tp_env *env, char *why)
{
	(void)env;
	struct sockpair *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->sv) < 0)
		return tp_fail(why, -errno, "socketpair: %s", strerror(errno));
	*stp = s;
	return 0;
}

const struct transport tp_unix = {
	.name = "unix",
	.desc = "AF_UNIX SOCK_STREAM socketpair, default buffers",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = sockpair_init,
	.send = sockpair_send_stream,
	.recv = sockpair_recv_stream,
	.fini = sockpair_fini,
};
