/* SPDX-License-Identifier: MIT */
/*
 * micro_c.c - the producer and consumer loops of shmring-micro for the two
 * peers whose headers do not compile as C++: Concurrency Kit's ck_ring and
 * liburcu's wfcqueue. Each loop is written here, in C, so that the queue
 * operations inline into it as they do in the C++ loops of micro.cc; only
 * the call of a whole loop crosses from C++ to C.
 *
 * Producer loops push items stamped 0, 1, 2, ... until *stop; consumer loops
 * pop n items and check each stamp against *expect (0, or -1 on a mismatch).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline void pause_(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static inline bool stopped(const int *stop)
{
	return __atomic_load_n(stop, __ATOMIC_RELAXED);
}

struct item8 {
	uint64_t seq;
};
struct item64 {
	uint64_t seq;
	char pad[56];
};

/* ---- ck_ring: typed rings, items stored in the ring's buffer ---- */
#ifdef MICRO_HAVE_CK
#include <ck_ring.h>

CK_RING_PROTOTYPE(i8, item8)
CK_RING_PROTOTYPE(i64, item64)

struct mck {
	struct ck_ring ring; /* padded to cache lines by ck itself */
	void *buf;
};

void *micro_ck_new(unsigned entries, size_t item)
{
	struct mck *q = aligned_alloc(128, (sizeof(struct mck) + 127) & ~(size_t)127);
	if (!q)
		return NULL;
	memset(q, 0, sizeof(*q));
	q->buf = aligned_alloc(128, (entries * item + 127) & ~(size_t)127);
	if (!q->buf) {
		free(q);
		return NULL;
	}
	memset(q->buf, 0, entries * item);
	ck_ring_init(&q->ring, entries);
	return q;
}

void micro_ck_free(void *p)
{
	struct mck *q = p;
	free(q->buf);
	free(q);
}

#define CK_LOOPS(mode, T, tag)                                                           \
	int micro_ck_##mode##_##tag##_produce(void *p, const int *stop)                  \
	{                                                                                \
		struct mck *q = p;                                                       \
		struct T it;                                                             \
		memset(&it, 0, sizeof(it));                                              \
		for (uint64_t seq = 0; !stopped(stop); seq++) {                          \
			it.seq = seq;                                                    \
			while (!ck_ring_enqueue_##mode##_##tag(&q->ring, q->buf, &it)) { \
				if (stopped(stop))                                       \
					return 0;                                        \
				pause_();                                                \
			}                                                                \
		}                                                                        \
		return 0;                                                                \
	}                                                                                \
	int micro_ck_##mode##_##tag##_consume(void *p, uint64_t n, uint64_t *expect)     \
	{                                                                                \
		struct mck *q = p;                                                       \
		struct T it;                                                             \
		uint64_t e = *expect;                                                    \
		for (uint64_t i = 0; i < n; i++, e++) {                                  \
			while (!ck_ring_dequeue_##mode##_##tag(&q->ring, q->buf, &it))   \
				pause_();                                                \
			if (it.seq != e)                                                 \
				return -1;                                               \
		}                                                                        \
		*expect = e;                                                             \
		return 0;                                                                \
	}

CK_LOOPS(spsc, item8, i8)
CK_LOOPS(spsc, item64, i64)
CK_LOOPS(mpmc, item8, i8)
CK_LOOPS(mpmc, item64, i64)
#endif /* MICRO_HAVE_CK */

/* ---- liburcu wfcqueue: a linked queue; nodes come from a fixed pool ----
 * The pool makes it a bounded queue like the others: the producer reuses
 * node seq % n only after the consumer has counted seq - n + 1 items done
 * (one counter, store-release by the consumer, load-acquire by the producer,
 * re-read only when the pool looks exhausted). No malloc in the loop. */
#ifdef MICRO_HAVE_URCU
#define _LGPL_SOURCE /* the inline versions of the queue operations */
#include <urcu/wfcqueue.h>

struct node8 {
	struct cds_wfcq_node n;
	struct item8 it;
};
struct node64 {
	struct cds_wfcq_node n;
	struct item64 it;
};

struct mwf {
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	void *nodes;
	uint64_t n;                  /* pool size, a power of two */
	_Alignas(128) uint64_t done; /* items the consumer has finished with */
	_Alignas(128) char pad;
};

void *micro_wfcq_new(unsigned entries, size_t item)
{
	struct mwf *q = aligned_alloc(128, (sizeof(struct mwf) + 127) & ~(size_t)127);
	if (!q)
		return NULL;
	memset(q, 0, sizeof(*q));
	size_t node = item == 8 ? sizeof(struct node8) : sizeof(struct node64);
	q->nodes = aligned_alloc(128, (entries * node + 127) & ~(size_t)127);
	if (!q->nodes) {
		free(q);
		return NULL;
	}
	memset(q->nodes, 0, entries * node);
	q->n = entries;
	cds_wfcq_init(&q->head, &q->tail);
	return q;
}

void micro_wfcq_free(void *p)
{
	struct mwf *q = p;
	cds_wfcq_destroy(&q->head, &q->tail);
	free(q->nodes);
	free(q);
}

#define WFCQ_LOOPS(N, tag)                                                                    \
	int micro_wfcq_##tag##_produce(void *p, const int *stop)                              \
	{                                                                                     \
		struct mwf *q = p;                                                            \
		struct node##N *nodes = q->nodes;                                             \
		struct item##N src;                                                           \
		uint64_t done = 0;                                                            \
		memset(&src, 0, sizeof(src));                                                 \
		for (uint64_t seq = 0; !stopped(stop); seq++) {                               \
			while (seq - done >= q->n) {                                          \
				done = __atomic_load_n(&q->done, __ATOMIC_ACQUIRE);           \
				if (seq - done < q->n)                                        \
					break;                                                \
				if (stopped(stop))                                            \
					return 0;                                             \
				pause_();                                                     \
			}                                                                     \
			struct node##N *nd = &nodes[seq & (q->n - 1)];                        \
			src.seq = seq;                                                        \
			memcpy(&nd->it, &src, sizeof(src));                                   \
			cds_wfcq_node_init(&nd->n);                                           \
			cds_wfcq_enqueue(&q->head, &q->tail, &nd->n);                         \
		}                                                                             \
		return 0;                                                                     \
	}                                                                                     \
	int micro_wfcq_##tag##_consume(void *p, uint64_t n, uint64_t *expect)                 \
	{                                                                                     \
		struct mwf *q = p;                                                            \
		struct item##N it;                                                            \
		uint64_t e = *expect;                                                         \
		for (uint64_t i = 0; i < n; i++, e++) {                                       \
			struct cds_wfcq_node *x;                                              \
			while (!(x = __cds_wfcq_dequeue_blocking(&q->head, &q->tail)))        \
				pause_();                                                     \
			memcpy(&it, &caa_container_of(x, struct node##N, n)->it, sizeof(it)); \
			__atomic_store_n(&q->done, e + 1, __ATOMIC_RELEASE);                  \
			if (it.seq != e)                                                      \
				return -1;                                                    \
		}                                                                             \
		*expect = e;                                                                  \
		return 0;                                                                     \
	}

WFCQ_LOOPS(8, i8)
WFCQ_LOOPS(64, i64)
#endif /* MICRO_HAVE_URCU */
