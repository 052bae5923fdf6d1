/* SPDX-License-Identifier: MIT */
/*
 * unix-seqpacket - an AF_UNIX SOCK_SEQPACKET socketpair: connected,
 * reliable, message boundaries kept.
 */
#define _GNU_SOURCE
#include "sock_msg.h"

static int setup(void **st, const struct tp_env *env, char *why)
{
	return sockmsg_setup(st, env, why, SOCK_SEQPACKET, "unix-seqpacket");
}

const struct transport tp_unix_seqpacket = {
	.name = "unix-seqpacket",
	.desc = "AF_UNIX SOCK_SEQPACKET socketpair",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = sockmsg_init,
	.send = sockmsg_send,
	.recv = sockmsg_recv,
	.fini = sockmsg_fini,
};
