/* SPDX-License-Identifier: MIT */
/*
 * unix-dgram - an AF_UNIX SOCK_DGRAM socketpair: one send(2) per message,
 * boundaries kept by the kernel.
 */
#define _GNU_SOURCE
#include "sockpair.h"

static int setup(void **st, const struct tp_env *env, char *why)
{
	return sockpair_setup_msg(st, env, why, SOCK_DGRAM, "unix-dgram");
}

const struct transport tp_unix_dgram = {
	.name = "unix-dgram",
	.desc = "AF_UNIX SOCK_DGRAM socketpair",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = sockpair_init,
	.send = sockpair_send_msg,
	.recv = sockpair_recv_msg,
	.fini = sockpair_fini,
};
