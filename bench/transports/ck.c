/* SPDX-License-Identifier: MIT */
/*
 * ck - Concurrency Kit's ck_ring (SPSC) per direction, in shared memory:
 * struct ck_ring holds only counters, and its ck_ring_buffer_t array of
 * pointer-sized entries sits beside it, so both work across processes. An
 * entry carries the message (8 bytes or less) or a slot index into a
 * payload slab (slab.h). Busy-polling.
 */
#define _GNU_SOURCE
#include "slab.h"

#include <ck_ring.h>
#include <stdlib.h>

struct dir {
	struct ck_ring *ring;
	ck_ring_buffer_t *buf;
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
	for (int i = 0; i < 2; i++) {
		struct dir *d = &s->d[i];
		/* the ring's counters on their own page, the entries after it */
		unsigned char *m = bench_shared_alloc(4096 + count * sizeof(ck_ring_buffer_t));
		if (!m || slab_make(&d->slab, env->size, count) < 0)
			return tp_fail(why, -ENOMEM, "out of shared memory");
		d->ring = (struct ck_ring *)m;
		d->buf = (ck_ring_buffer_t *)(m + 4096);
		ck_ring_init(d->ring, count);
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
	while (!ck_ring_enqueue_spsc(d->ring, d->buf, (const void *)e))
		bench_relax();
	return 0;
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	struct st *s = st;
	struct dir *d = s->rx;
	void *e;
	while (!ck_ring_dequeue_spsc(d->ring, d->buf, &e))
		bench_relax();
	size_t len = s->size < cap ? s->size : cap;
	int rc = slab_get(&d->slab, (uintptr_t)e, buf, len);
	return rc < 0 ? rc : (ssize_t)len;
}

const struct transport tp_ck = {
	.name = "ck",
	.desc = "Concurrency Kit ck_ring SPSC per direction in shared memory, busy-polling",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
};
