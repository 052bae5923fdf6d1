/* SPDX-License-Identifier: MIT */
/*
 * memcpy - the throughput ceiling: one process, one core, memcpy() of each
 * message from a source buffer into the next slot of a destination region
 * about as large as a default ring (1 MiB, at least 8 messages), as a ring
 * copies into its storage. No second process, no synchronisation: no
 * transport that copies the message once can beat it.
 */
#define _GNU_SOURCE
#include "../bench.h"

#include <stdlib.h>

struct st {
	unsigned char *src, *dst;
	size_t size, slot;
	uint64_t mask;
};

static int setup(void **stp, const struct tp_env *env, char *why)
{
	struct st *s = calloc(1, sizeof(*s));
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	s->size = env->size;
	s->slot = (env->size + 63) & ~(size_t)63;
	uint64_t n = 8;
	while (n < 16384 && n * 2 * s->slot <= ((size_t)1 << 20))
		n *= 2;
	s->mask = n - 1;
	s->src = bench_shared_alloc(s->slot);
	s->dst = bench_shared_alloc(n * s->slot);
	if (!s->src || !s->dst)
		return tp_fail(why, -ENOMEM, "out of memory");
	memset(s->src, 0x5a, s->slot);
	memset(s->dst, 0, n * s->slot);
	*stp = s;
	return 0;
}

static int init(void *st, int side)
{
	(void)st;
	(void)side;
	return 0;
}

static int local(void *st, double seconds, uint64_t *msgs, int64_t *ns)
{
	struct st *s = st;
	uint64_t n = 0, step = s->size <= 4096 ? 64 : 1;
	int64_t t0 = bench_now(), end = t0 + (int64_t)(seconds * 1e9), now;
	for (;;) {
		for (uint64_t i = 0; i < step; i++, n++) {
			unsigned char *d = s->dst + (n & s->mask) * s->slot;
			memcpy(d, s->src, s->size);
			/* the copy is observable: keep the compiler from dropping it */
			__asm__ __volatile__("" : : "r"(d) : "memory");
		}
		if ((now = bench_now()) >= end)
			break;
	}
	*msgs = n;
	*ns = now - t0;
	return 0;
}

const struct transport tp_memcpy = {
	.name = "memcpy",
	.desc = "memcpy of each message in one process (the throughput ceiling)",
	.caps = TP_THR | TP_LOCAL,
	.setup = setup,
	.init = init,
	.local = local,
};
