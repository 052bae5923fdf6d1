/* SPDX-License-Identifier: MIT */
/*
 * unix-dgram - an AF_UNIX SOCK_DGRAM socketpair: one send(2) per message,
 * boundaries kept by the kernel.
 */
#define _GNU_SOURCE
#include "sock_msg.h"

static int setup(void **st, const struct tp_env *env, char *why)
{
	return sockmsg_setup(st, env, why, SOCK_DGRAM, "unix-dgram");
}

const struct transport tp_unix_dgram = {
	.name = "unix-dgram",
	.desc = "AF_UNIX SOCK_DGRAM socketpair",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = sockmsg_init,
	.send = sockmsg_send,
	.recv = sockmsg_recv,
	.fini = sockmsg_fini,
};
