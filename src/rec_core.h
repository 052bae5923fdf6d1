/* SPDX-License-Identifier: MIT */
/*
 * rec_core.h - the orderings of the record engine (ring_rec.c), over the
 * atomics.h names only, so that tests/model/model_spsc.cpp checks this very
 * code under Relacy.
 *
 *   producer: rc_room (load-acquire head when the cached one is not enough)
 *             write payload; SP: rc_clear_next (the word past the record);
 *             rc_publish (store-release of the header word)
 *   consumer: rc_look (load-acquire of the header word); read payload;
 *             MP: zero the record; rc_give_back (store-release of head)
 *
 * rc_publish/rc_look order the payload (and the cleared next word) before
 * their reading; rc_give_back/rc_room order the reading (and the zeroing)
 * before the next lap's writes.
 * Positions are free-running: t - head is the fill level across the 2^64 wrap.
 *
 * SR_MODEL_RELAXED_PUBLISH and SR_MODEL_RELAXED_GIVE_BACK weaken one ordering
 * each, SR_MODEL_NO_CLEAR_NEXT leaves the next word as it was, for the model
 * check to show it then finds the data race or the stale header. Never
 * define them in a build of the library.
 */
#ifndef SHMRING_REC_CORE_H
#define SHMRING_REC_CORE_H

#include "atomics.h"

/* The consumer's mark (ring_rec.c, "Consuming, step by step"): while it
 * consumes a record, resv_pos of its endpoint holds the record's position and
 * resv_size its size and these bits, for a consumer that attaches after its
 * death (peek sets the mark too, without RC_MARK_ZEROING). */
#define RC_MARK_SIZE (((uint64_t)1 << 40) - 1) /* the record's size in bytes */
#define RC_MARK_MSG ((uint64_t)1 << 61)        /* a message: losing it counts as dropped */
#define RC_MARK_SEEN ((uint64_t)1 << 62)       /* handed out by peek */
#define RC_MARK_ZEROING ((uint64_t)1 << 63)    /* being zeroed: its header reads PAD or 0 */

/* Room for `need` more bytes at tail t of a ring of `cap` bytes? Refreshes
 * *cached from the consumer's head only when the cached value is not enough
 * (rigtorp's cached index). Returns 0, -EAGAIN, or -EBADMSG when the head is
 * impossible; *head_out is the head that was judged. */
static inline int rc_room(sr_a64 *headp, uint64_t *cached, uint64_t t, uint64_t need,
			  uint64_t cap, uint64_t *head_out)
{
	uint64_t head = *cached;
	if (t + need - head <= cap) {
		*head_out = head;
		return 0;
	}
	head = ld_acquire(headp); /* pairs with rc_give_back */
	*head_out = head;
	if ((int64_t)(head - t) > 0 || t - head > cap)
		return -EBADMSG; /* ahead of the tail, or further behind than the ring */
	*cached = head;
	return t + need - head <= cap ? 0 : -EAGAIN;
}

/* SP producers, before rc_publish: the word just past the record reads zero
 * (it may hold an earlier lap's bytes), so that the consumer, once past the
 * record, finds "not written" there; the store-release of rc_publish orders
 * the two. */
static inline void rc_clear_next(sr_a64 *next)
{
#ifndef SR_MODEL_NO_CLEAR_NEXT
	st_relaxed(next, 0);
#else
	(void)next;
#endif
}

static inline void rc_publish(sr_a64 *word, uint64_t value)
{
#ifndef SR_MODEL_RELAXED_PUBLISH
	st_release(word, value); /* pairs with rc_look */
#else
	st_relaxed(word, value);
#endif
}

static inline uint64_t rc_look(sr_a64 *word)
{
	return ld_acquire(word); /* pairs with rc_publish */
}

static inline void rc_give_back(sr_a64 *headp, uint64_t head)
{
#ifndef SR_MODEL_RELAXED_GIVE_BACK
	st_release(headp, head); /* pairs with rc_room */
#else
	st_relaxed(headp, head);
#endif
}

#endif /* SHMRING_REC_CORE_H */
