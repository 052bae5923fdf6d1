/* SPDX-License-Identifier: MIT */
/*
 * unix-seqpacket - an AF_UNIX SOCK_SEQPACKET socketpair: connected,
 * reliable, message boundaries kept.
 */
#define _GNU_SOURCE
#include "sockpair.h"

static int setup(void **st, const struct tp_env *env, char *why)
{
	return sockpair_setup_msg(st, env, why, SOCK_SEQPACKET, "unix-seqpacket");
}

const struct transport tp_unix_seqpacket = {
	.name = "unix-seqpacket",
	.desc = "AF_UNIX SOCK_SEQPACKET socketpair",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = sockpair_init,
	.send = sockpair_send_msg,
	.recv = sockpair_recv_msg,
	.fini = sockpair_fini,
};
