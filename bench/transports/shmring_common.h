/* SPDX-License-Identifier: MIT */
/*
 * shmring_common.h - what the shmring transports (ring-spin, ring,
 * ring-block, ring-zc, ring-batch) share: one anonymous SPSC ring per
 * direction, made before fork with no role (an observer handle keeps the
 * memfd), then attached after fork with shmring_open_fd(): each side as the
 * producer of its own direction and the consumer of the other. The spin
 * policy is the only difference between ring-spin, ring and ring-block.
 */
#ifndef SHMRING_BENCH_SHMRING_COMMON_H
#define SHMRING_BENCH_SHMRING_COMMON_H

#include "../bench.h"
#include <shmring.h>

#include <stdlib.h>

#define SRT_DEFAULT_SPIN INT64_MIN /* leave the library's default alone */

struct srt {
	shmring *obs[2]; /* before fork: the rings, direction 0 = A->B */
	int fd[2];
	shmring *tx, *rx; /* after init: this side's ends */
	int64_t spin;
};

/* Room for at least four messages, and never less than the default 1 MiB
 * (BENCH_RING_CAP=BYTES overrides it, for experiments). */
static inline size_t srt_capacity(size_t size)
{
	size_t rec = 64 + ((size + 8 + 7) & ~(size_t)7), cap = (size_t)1 << 20;
	while (cap < 4 * rec)
		cap <<= 1;
	return cap;
}

static inline int srt_setup(void **stp, const struct tp_env *env, char *why, int64_t spin)
{
	struct srt *s = (struct srt *)calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	struct shmring_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.mode = SHMRING_SPSC;
	cfg.capacity = srt_capacity(env->size);
	if (getenv("BENCH_RING_CAP"))
		cfg.capacity = strtoull(getenv("BENCH_RING_CAP"), NULL, 0);
	cfg.max_msg = env->size;
	for (int d = 0; d < 2; d++) {
		int rc = shmring_create_anon(&cfg, SHMRING_OBSERVER, &s->obs[d]);
		if (rc < 0)
			return tp_fail(why, rc,
				       "shmring_create_anon(capacity %zu, max_msg %zu): %s",
				       cfg.capacity, cfg.max_msg, strerror(-rc));
		s->fd[d] = shmring_fd(s->obs[d]);
	}
	s->spin = spin;
	*stp = s;
	return 0;
}

static inline int srt_init(void *st, int side)
{
	struct srt *s = (struct srt *)st;
	int rc = shmring_open_fd(s->fd[side], SHMRING_PRODUCER, &s->tx);
	if (rc < 0)
		return rc;
	if ((rc = shmring_open_fd(s->fd[1 - side], SHMRING_CONSUMER, &s->rx)) < 0)
		return rc;
	shmring_close(s->obs[0]);
	shmring_close(s->obs[1]);
	s->obs[0] = s->obs[1] = NULL;
	if (s->spin != SRT_DEFAULT_SPIN) {
		if ((rc = shmring_set_spin(s->tx, s->spin)) < 0 ||
		    (rc = shmring_set_spin(s->rx, s->spin)) < 0)
			return rc;
	}
	return 0;
}

static inline int srt_send(void *st, const void *msg, size_t len)
{
	return shmring_send(((struct srt *)st)->tx, msg, len, -1);
}

static inline ssize_t srt_recv(void *st, void *buf, size_t cap)
{
	return shmring_recv(((struct srt *)st)->rx, buf, cap, -1);
}

static inline int srt_wakeups(void *st, uint64_t *out)
{
	struct shmring_stat sst;
	int rc = shmring_stat(((struct srt *)st)->rx, &sst);
	if (rc < 0)
		return rc;
	*out = sst.wakeups;
	return 0;
}

static inline void srt_fini(void *st, int side)
{
	struct srt *s = (struct srt *)st;
	(void)side;
	if (s->tx)
		shmring_close(s->tx);
	if (s->rx)
		shmring_close(s->rx);
	s->tx = s->rx = NULL;
}

#endif /* SHMRING_BENCH_SHMRING_COMMON_H */
