/* SPDX-License-Identifier: MIT */
/*
 * ring-batch - shmring SPSC ring, messages moved in batches of up to 32
 * (shmring_sendv / shmring_recvv, the harness's --batch). Default wait.
 * Throughput only: a batch has no meaning in a ping-pong.
 */
#define _GNU_SOURCE
#include "shmring_common.h"

static int setup(void **st, const struct tp_env *env, char *why)
{
	return srt_setup(st, env, why, SRT_DEFAULT_SPIN);
}

static int sendv(void *st, const struct iovec *msgs, int n)
{
	return shmring_sendv(((struct srt *)st)->tx, msgs, n, -1);
}

static int recvv(void *st, struct iovec *bufs, int n)
{
	return shmring_recvv(((struct srt *)st)->rx, bufs, n, -1);
}

const struct transport tp_ring_batch = {
	.name = "ring-batch",
	.desc = "shmring SPSC ring, sendv/recvv of up to 32 messages (throughput)",
	.caps = TP_THR,
	.setup = setup,
	.init = srt_init,
	.send = srt_send,
	.recv = srt_recv,
	.sendv = sendv,
	.recvv = recvv,
	.wakeups = srt_wakeups,
	.fini = srt_fini,
};
