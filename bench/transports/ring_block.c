/* SPDX-License-Identifier: MIT */
/*
 * ring-block - shmring SPSC ring per direction that sleeps at once
 * (shmring_set_spin(r, 0)): every wait is a futex sleep and every handoff a
 * wakeup, the case to compare with a pipe.
 */
#define _GNU_SOURCE
#include "shmring_common.h"

static int setup(void **st, const struct tp_env *env, char *why)
{
	return srt_setup(st, env, why, 0);
}

const struct transport tp_ring_block = {
	.name = "ring-block",
	.desc = "shmring SPSC ring per direction, sleeps at once (spin_ns = 0)",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = srt_init,
	.send = srt_send,
	.recv = srt_recv,
	.wakeups = srt_wakeups,
	.fini = srt_fini,
};
