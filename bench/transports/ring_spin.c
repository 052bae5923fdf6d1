/* SPDX-License-Identifier: MIT */
/*
 * ring-spin - shmring SPSC ring per direction, busy-polling
 * (shmring_set_spin(-1)): the fastest the library can go, at the price of a
 * core per waiting side.
 */
#define _GNU_SOURCE
#include "shmring_common.h"

static int setup(void **st, const struct tp_env *env, char *why)
{
	return srt_setup(st, env, why, -1);
}

const struct transport tp_ring_spin = {
	.name = "ring-spin",
	.desc = "shmring SPSC ring per direction, busy-polling (spin_ns = -1)",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = srt_init,
	.send = srt_send,
	.recv = srt_recv,
	.wakeups = srt_wakeups,
	.fini = srt_fini,
};
