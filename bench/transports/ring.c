/* SPDX-License-Identifier: MIT */
/*
 * ring - shmring SPSC ring per direction with the library's default wait:
 * spin for SHMRING_DEFAULT_SPIN_NS, then sleep on the futex. What a user gets
 * without tuning anything.
 */
#define _GNU_SOURCE
#include "shmring_common.h"

static int setup(void **st, const struct tp_env *env, char *why)
{
	return srt_setup(st, env, why, SRT_DEFAULT_SPIN);
}

const struct transport tp_ring = {
	.name = "ring",
	.desc = "shmring SPSC ring per direction, default wait (spin, then futex)",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = srt_init,
	.send = srt_send,
	.recv = srt_recv,
	.wakeups = srt_wakeups,
	.fini = srt_fini,
};
