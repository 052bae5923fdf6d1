/* SPDX-License-Identifier: MIT */
/*
 * slab.h - payload slots for the pointer rings (dpdk, ck): the ring carries
 * an 8-byte entry per message, either the message itself (8 bytes or less)
 * or the index of a slot in a slab beside the ring, in shared memory.
 *
 * Why a slot is free when the producer writes it: the ring holds at most
 * count - 1 entries, and the consumer finishes with a slot before it takes
 * the next entry. While the producer fills slot s, the ring holds at most
 * s-count+1 .. s-1, so the consumer has finished with everything up to
 * s-count-1; with count + 1 slots or more, slot s was last used by s-count-1
 * or earlier. The slab has 2 * count slots.
 */
#ifndef SHMRING_BENCH_SLAB_H
#define SHMRING_BENCH_SLAB_H

#include "../bench.h"

struct slab {
	unsigned char *base; /* NULL: entries carry the message itself */
	size_t slot;
	uint64_t mask;
	uint64_t seq; /* producer's next slot (process-local) */
};

/* Ring entries (a power of two) for about 1 MiB of payload, 8..16384. */
static inline unsigned slab_ring_count(size_t size)
{
	size_t slot = (size + 63) & ~(size_t)63;
	unsigned n = 8;
	while (n < 16384 && (size_t)n * 2 * slot <= ((size_t)1 << 20))
		n *= 2;
	return size <= 8 ? 16384 : n;
}

static inline int slab_make(struct slab *s, size_t size, unsigned count)
{
	s->seq = 0;
	if (size <= 8) {
		s->base = NULL;
		return 0;
	}
	s->slot = (size + 63) & ~(size_t)63;
	s->mask = 2 * (uint64_t)count - 1;
	s->base = (unsigned char *)bench_shared_alloc(2 * (size_t)count * s->slot);
	return s->base ? 0 : -ENOMEM;
}

/* Producer: put the message where the entry says; return the entry. */
static inline uintptr_t slab_put(struct slab *s, const void *msg, size_t len)
{
	if (!s->base) {
		uintptr_t v = 0;
		memcpy(&v, msg, len);
		return v;
	}
	uint64_t i = s->seq++ & s->mask;
	memcpy(s->base + i * s->slot, msg, len);
	return (uintptr_t)i;
}

/* Consumer: copy the message an entry stands for. */
static inline int slab_get(const struct slab *s, uintptr_t e, void *buf, size_t len)
{
	if (!s->base) {
		memcpy(buf, &e, len);
		return 0;
	}
	if (e > s->mask)
		return -EBADMSG;
	memcpy(buf, s->base + e * s->slot, len);
	return 0;
}

#endif /* SHMRING_BENCH_SLAB_H */
