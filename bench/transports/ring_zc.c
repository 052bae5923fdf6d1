/* SPDX-License-Identifier: MIT */
/*
 * ring-zc - shmring SPSC ring per direction, zero copy: the sender builds
 * its message in place (shmring_claim / shmring_commit) and the receiver
 * reads it in place (shmring_peek / shmring_release). Default wait. The
 * harness writes only the stamps into a claimed message, as an application
 * writes only its own data: the copy that `ring` makes is what is saved.
 */
#define _GNU_SOURCE
#include "shmring_common.h"

static int setup(void **st, const struct tp_env *env, char *why)
{
	return srt_setup(st, env, why, SRT_DEFAULT_SPIN);
}

static int claim(void *st, size_t len, void **buf)
{
	return shmring_claim(((struct srt *)st)->tx, len, buf, -1);
}

static int commit(void *st, size_t len)
{
	return shmring_commit(((struct srt *)st)->tx, len);
}

static int peek(void *st, const void **msg, size_t *len)
{
	return shmring_peek(((struct srt *)st)->rx, msg, len, -1);
}

static int release(void *st)
{
	return shmring_release(((struct srt *)st)->rx);
}

const struct transport tp_ring_zc = {
	.name = "ring-zc",
	.desc = "shmring SPSC ring per direction, zero copy (claim/commit, peek/release)",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = srt_init,
	.send = srt_send,
	.recv = srt_recv,
	.claim = claim,
	.commit = commit,
	.peek = peek,
	.release = release,
	.wakeups = srt_wakeups,
	.fini = srt_fini,
};
