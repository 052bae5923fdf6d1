/* SPDX-License-Identifier: MIT */
/*
 * slotring.h - the trivial SPSC queue that `floor` and `eventfd` use:
 * fixed slots, each a sequence word followed by the message, in the manner
 * of FastForward (Giacomoni et al.): the producer fills slot `pos`, then
 * stores pos + 1 into its word (store-release); the consumer waits for that
 * value (load-acquire), copies the message out, and stores 0 (store-release)
 * to hand the slot back; the producer waits for 0 before it reuses the slot.
 * There are no shared head and tail indices at all: the flag travels in the
 * same cache line as the first bytes of the message, so a message costs the
 * fewest cache-line transfers any shared-memory queue can manage. No record
 * headers, lengths, wrap records, liveness or waiting: `floor` marks the
 * physical limit of moving a message from one core to another.
 */
#ifndef SHMRING_BENCH_SLOTRING_H
#define SHMRING_BENCH_SLOTRING_H

#include "../bench.h"

#include <stdalign.h>
#include <stdatomic.h>

struct slotring {
	alignas(128) _Atomic uint32_t prod_waiting; /* eventfd only: producer asleep for room */
	alignas(128) unsigned char data[];          /* slots */
};

struct slot {
	_Atomic uint64_t seq; /* 0: empty; pos + 1: holds message pos */
	unsigned char msg[];
};

/* One process's view of one direction (process-local after fork). */
struct slotq {
	struct slotring *r;
	uint64_t mask;
	size_t slot;  /* 8 + message size, rounded up to 64 */
	uint64_t pos; /* producer: next to fill; consumer: next to take */
};

/* About 1 MiB of slots (like a default shmring), 8 to 16384 of them: at
 * least 8 messages in flight however large, as a ring holds at least 7. */
static inline int slotq_make(struct slotq *q, size_t size)
{
	size_t slot = (8 + size + 63) & ~(size_t)63;
	uint64_t n = 8;
	while (n < 16384 && n * 2 * slot <= ((size_t)1 << 20))
		n *= 2;
	struct slotring *r = (struct slotring *)bench_shared_alloc(sizeof(*r) + n * slot);
	if (!r)
		return -ENOMEM;
	q->r = r;
	q->mask = n - 1;
	q->slot = slot;
	q->pos = 0;
	return 0;
}

static inline struct slot *slotq_at(const struct slotq *q, uint64_t i)
{
	return (struct slot *)(q->r->data + (i & q->mask) * q->slot);
}

/* Producer: where to write the next message, or NULL when the queue is full. */
static inline void *slotq_room(struct slotq *q)
{
	struct slot *s = slotq_at(q, q->pos);
	/* pairs with the consumer's store-release of 0 in slotq_consume */
	if (atomic_load_explicit(&s->seq, memory_order_acquire) != 0)
		return NULL;
	return s->msg;
}

static inline void slotq_publish(struct slotq *q)
{
	struct slot *s = slotq_at(q, q->pos);
	q->pos++;
	/* pairs with the consumer's load-acquire in slotq_next */
	atomic_store_explicit(&s->seq, q->pos, memory_order_release);
}

/* Consumer: the next message, or NULL when the queue is empty. */
static inline const void *slotq_next(struct slotq *q)
{
	struct slot *s = slotq_at(q, q->pos);
	/* pairs with the producer's store-release in slotq_publish */
	if (atomic_load_explicit(&s->seq, memory_order_acquire) != q->pos + 1)
		return NULL;
	return s->msg;
}

static inline void slotq_consume(struct slotq *q)
{
	struct slot *s = slotq_at(q, q->pos);
	q->pos++;
	/* pairs with the producer's load-acquire in slotq_room: the slot is free */
	atomic_store_explicit(&s->seq, 0, memory_order_release);
}

#endif /* SHMRING_BENCH_SLOTRING_H */
