/* SPDX-License-Identifier: MIT */
/*
 * floor - the physical limit: per direction, the trivial slot queue of
 * slotring.h in shared memory (a sequence word in the same cache line as the
 * message's first bytes; no shared indices), both sides busy-polling. A
 * message is copied into a slot and out of it, as with `ring`; nothing else
 * is done. In a ping-pong, one message in flight each way: a cache-line
 * ping-pong of the flag, carrying the payload's lines with it.
 */
#define _GNU_SOURCE
#include "slotring.h"

#include <stdlib.h>

struct st {
	struct slotq q[2]; /* direction 0 = A->B */
	struct slotq *tx, *rx;
	size_t size;
};

static int setup(void **stp, const struct tp_env *env, char *why)
{
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	for (int d = 0; d < 2; d++)
		if (slotq_make(&s->q[d], env->size) < 0)
			return tp_fail(why, -ENOMEM, "out of shared memory");
	s->size = env->size;
	*stp = s;
	return 0;
}

static int init(void *st, int side)
{
	struct st *s = st;
	s->tx = &s->q[side];
	s->rx = &s->q[1 - side];
	return 0;
}

static int send_(void *st, const void *msg, size_t len)
{
	struct st *s = st;
	void *slot;
	while (!(slot = slotq_room(s->tx)))
		bench_relax();
	memcpy(slot, msg, len);
	slotq_publish(s->tx);
	return 0;
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	struct st *s = st;
	const void *slot;
	while (!(slot = slotq_next(s->rx)))
		bench_relax();
	size_t len = s->size < cap ? s->size : cap;
	memcpy(buf, slot, len);
	slotq_consume(s->rx);
	return (ssize_t)len;
}

const struct transport tp_floor = {
	.name = "floor",
	.desc = "trivial SPSC slot queue in shared memory, busy-polling (the physical limit)",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
};
