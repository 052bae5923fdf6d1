/* SPDX-License-Identifier: MIT */
/*
 * rec_fast.h - shmring_send and shmring_recv of one message on an SPSC
 * record ring, inlined into their entry points (api.c), and the helpers the
 * record engine (ring_rec.c) shares with them.
 *
 * The common case without the vector, the retry loop and the indirect calls:
 * the same stores in the same order as rec_send/publish and rec_recv/consume.
 * Anything else (no room, padding, a word that fails a check) returns
 * -EAGAIN before any store, and the caller takes the general path, which
 * decides. The caller wakes the other side (shmring__must_wake).
 *
 * Why inline, and why count stores: on a busy ring the consumer reads the
 * line the producer is writing, so the producer's store into it waits for
 * the line to come back, and x86 makes its stores visible in order: every
 * store after it waits too, down to the pushes of a function's prologue.
 * A two-thread loop of 16-byte records lost 1.5 ns a message for each store
 * added to the producer's 4 (62 M/s with none, 30 M/s with 16 more). With
 * the entry point, its checks and the copy in one leaf that ends in a tail
 * call when it must wake someone, a message of up to SR_COPY_SMALL_MAX
 * bytes makes 6 stores: its payload (one for 8 bytes), the word past it,
 * its header, the tail and the two counters; no pushes. (shmring-micro,
 * SPSC at 8 B: 38 M/s before, 57 M/s after.)
 */
#ifndef SHMRING_REC_FAST_H
#define SHMRING_REC_FAST_H

#include "internal.h"
#include "rec_core.h"

/* The header word at a position. Positions come from shared memory: the
 * callers check their alignment (a scribbled one is -EBADMSG), and the mask
 * keeps even an unchecked one inside the area and aligned. */
static inline sr_a64 *sr_word_at(const shmring *r, uint64_t pos)
{
	return (sr_a64 *)(r->data + (pos & r->mask & ~(uint64_t)7));
}

/* What an endpoint moved, for shmring_stat: its owner's counters, relaxed. */
static inline void sr_moved(struct sr_endpoint *e, uint64_t msgs, uint64_t bytes)
{
	st_relaxed(&e->count, ld_relaxed(&e->count) + msgs);
	st_relaxed(&e->bytes, ld_relaxed(&e->bytes) + bytes);
}

/* A producer's payload into its record. Large copies, and every copy of a
 * crash-point build (in two halves, so that a test can stop in between), are
 * out of line. */
void shmring__rec_copy_in(shmring *r, uint8_t *dst, const uint8_t *src, uint64_t len);

static inline void sr_copy_in(shmring *r, uint8_t *dst, const uint8_t *src, uint64_t len)
{
#ifndef SHMRING_CRASHPOINTS
	if (SR_LIKELY(len <= SR_COPY_SMALL_MAX)) {
		shmring__copy_small(dst, src, len);
		return;
	}
#endif
	shmring__rec_copy_in(r, dst, src, len);
}

/* `look`: when the head last seen leaves no room, look at the consumer's
 * head again (rc_room). Without it, the caller's general path does that (a
 * fast path that keeps the values it needs for the look runs out of
 * registers, and saves some on the stack: more stores). */
static inline __attribute__((always_inline)) int sr_sp_send1(shmring *r, const void *msg,
							     size_t len, bool look)
{
	uint64_t t = ld_relaxed(&r->h->prod.pos); /* our own store */
	uint64_t size = SR_ALIGN8(SR_REC_HDR + len), head;
	if (SR_UNLIKELY(t & 7))
		return -EAGAIN;
	/* and the word past it, which rc_clear_next zeroes */
	if (!look && SR_UNLIKELY(t + size + 8 - r->cached_head > r->cap))
		return -EAGAIN;
	if (look &&
	    SR_UNLIKELY(rc_room(&r->h->cons.pos, &r->cached_head, t, size + 8, r->cap, &head) < 0))
		return -EAGAIN;
	SR_CRASH(REC_CAS);
	uint8_t *rec = r->data + (t & r->mask);
	sr_copy_in(r, rec + SR_REC_HDR, msg, len);
	rc_clear_next(sr_word_at(r, t + size));
	SR_CRASH(REC_PAD);
	rc_publish((sr_a64 *)rec, SR_REC_WORD(SR_REC_MSG, len, 0));
	SR_CRASH(REC_MSG);
	st_release(&r->h->prod.pos, t + size); /* pairs as in publish() */
	sr_moved(r->prod.ep, 1, len);
	return 0;
}

/* Messages longer than `inline_max` are left to the caller's general path. */
static inline __attribute__((always_inline)) ssize_t sr_sp_recv1(shmring *r, void *buf, size_t cap,
								 size_t inline_max)
{
	uint64_t h = ld_relaxed(&r->h->cons.pos); /* our own store */
	if (SR_UNLIKELY(h & 7))
		return -EAGAIN;
	uint64_t w = rc_look(sr_word_at(r, h));
	uint64_t len = SR_REC_LEN(w), size = SR_ALIGN8(SR_REC_HDR + len), idx = h & r->mask;
	if (SR_UNLIKELY(SR_REC_TYPE(w) != SR_REC_MSG || SR_REC_TAG(w) || len > r->max_msg ||
			idx + size > r->end || len > cap || len > inline_max))
		return -EAGAIN;
	shmring__copy_bytes(buf, r->data + idx + SR_REC_HDR, len);
	SR_CRASH(REC_COPIED);
	rc_give_back(&r->h->cons.pos, h + size);
	sr_moved(r->cons.ep, 1, len);
	return (ssize_t)len;
}

#endif /* SHMRING_REC_FAST_H */
