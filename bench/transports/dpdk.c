/* SPDX-License-Identifier: MIT */
/*
 * dpdk - DPDK's rte_ring (single producer, single consumer) per direction,
 * on our own shared memory: rte_ring_get_memsize() and rte_ring_init() on a
 * MAP_SHARED mapping, no EAL (rte_eal_init is never called; the enqueue and
 * dequeue paths are inline functions of rte_ring.h that use only atomics and
 * the pause instruction). Entries carry the message (8 bytes or less) or a
 * slot index into a payload slab (slab.h). Busy-polling, as DPDK does.
 */
#define _GNU_SOURCE
#include "slab.h"

#include <rte_ring.h>
#include <stdlib.h>

struct dir {
	struct rte_ring *r;
	struct slab slab;
};

struct st {
	struct dir d[2];
	struct dir *tx, *rx;
	size_t size;
};

static int setup(void **stp, const struct tp_env *env, char *why)
{
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	unsigned count = slab_ring_count(env->size);
	ssize_t mem = rte_ring_get_memsize(count);
	if (mem < 0)
		return tp_fail(why, (int)mem, "rte_ring_get_memsize(%u): %s", count,
			       strerror((int)-mem));
	for (int i = 0; i < 2; i++) {
		struct dir *d = &s->d[i];
		d->r = bench_shared_alloc((size_t)mem);
		if (!d->r || slab_make(&d->slab, env->size, count) < 0)
			return tp_fail(why, -ENOMEM, "out of shared memory");
		int rc = rte_ring_init(d->r, i ? "bench-ba" : "bench-ab", count,
				       RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (rc < 0)
			return tp_fail(why, rc, "rte_ring_init: %s", strerror(-rc));
	}
	s->size = env->size;
	*stp = s;
	return 0;
}

static int init(void *st, int side)
{
	struct st *s = st;
	s->tx = &s->d[side];
	s->rx = &s->d[1 - side];
	return 0;
}

static int send_(void *st, const void *msg, size_t len)
{
	struct dir *d = ((struct st *)st)->tx;
	uintptr_t e = slab_put(&d->slab, msg, len);
	while (rte_ring_sp_enqueue(d->r, (void *)e) != 0)
		bench_relax();
	return 0;
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	struct st *s = st;
	struct dir *d = s->rx;
	void *e;
	while (rte_ring_sc_dequeue(d->r, &e) != 0)
		bench_relax();
	size_t len = s->size < cap ? s->size : cap;
	int rc = slab_get(&d->slab, (uintptr_t)e, buf, len);
	return rc < 0 ? rc : (ssize_t)len;
}

const struct transport tp_dpdk = {
	.name = "dpdk",
	.desc = "DPDK rte_ring SP/SC per direction on our shared memory (no EAL), busy-polling",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
};
