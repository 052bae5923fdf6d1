/* SPDX-License-Identifier: MIT */
/*
 * ring_slot.c - the slot engine: SPMC and MPMC rings.
 *
 * Dmitry Vyukov's bounded MPMC queue over fixed-size slots, one message of up
 * to max_msg bytes per slot. Each slot carries a sequence number:
 *   seq == pos          free, for the producer of position pos
 *   seq == pos + 1      holds the message of pos
 *   seq := pos + nslots freed by the consumer of pos, for the next lap
 * A producer claims pos with a CAS on the enqueue position, writes, then
 * stores seq = pos + 1 (release; the consumer's load-acquire of seq pairs
 * with it). A consumer claims pos with a CAS on the dequeue position, copies,
 * then stores seq = pos + nslots (release; the producer's load-acquire of seq
 * pairs with it). Consumers never wait for each other's copies, and a slot is
 * never reused before the consumer that took it has finished.
 *
 * Deaths: each side writes the position it is about to claim into resv_pos
 * of its endpoint before the CAS and clears it (release) after its final seq
 * store. A slot whose claim is visible (the enqueue or dequeue position moved
 * past it) but whose seq did not follow, and that no live endpoint holds, was
 * abandoned by a dead peer: a consumer takes a dead producer's slot and frees
 * it unread; a producer frees a dead consumer's slot. Both count in `dropped`.
 *
 * Concurrency: any number of producers and consumers (up to the endpoint
 * table), lock-free, except the slow path that clears a dead peer's slot.
 */
#include "internal.h"
#include "slot_core.h"

#include <string.h>

static inline struct sr_slot *slot_at(const shmring *r, uint64_t pos)
{
	return (struct sr_slot *)(r->data + (pos & r->mask) * r->slot_size);
}

static inline uint8_t *payload(struct sr_slot *s)
{
	return (uint8_t *)s + SR_SLOT_HDR;
}

void shmring__slot_init(struct sr_header *h, uint8_t *data)
{
	uint64_t n = h->cfg.nslots, size = h->cfg.slot_size;
	for (uint64_t i = 0; i < n; i++)
		st_relaxed(&((struct sr_slot *)(data + i * size))->seq, i);
}

/* Claim the next free slot for a producer. Lock-free. */
static int take_free(shmring *r, uint64_t *out)
{
	sr_a64 *enq = &r->h->prod.pos;
	for (;;) {
		uint64_t pos = ld_relaxed(enq);
		int rc = sq_look(&slot_at(r, pos)->seq, pos, SQ_PRODUCER);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			if (ld_relaxed(enq) == pos) /* a seq ahead of every possible position */
				return sr_corrupt(r);
			continue;
		}
		if (sq_take(enq, &r->prod.ep->resv_pos, pos)) {
			*out = pos;
			return 0;
		}
	}
}

static void done(struct sr_slot *s, uint64_t seq, struct sr_endpoint *e)
{
	sq_done(&s->seq, seq, &e->resv_pos);
}

static void count(struct sr_endpoint *e, uint64_t len)
{
	st_relaxed(&e->count, ld_relaxed(&e->count) + 1);
	st_relaxed(&e->bytes, ld_relaxed(&e->bytes) + len);
}

/* ---- producer ---- */

static int slot_send(shmring *r, const struct iovec *v, int n)
{
	int i;
	for (i = 0; i < n; i++) {
		uint64_t pos;
		if (v[i].iov_len > r->max_msg)
			break;
		int rc = take_free(r, &pos);
		if (rc < 0) {
			if (i == 0)
				return rc;
			break;
		}
		struct sr_slot *s = slot_at(r, pos);
		st_relaxed(&s->len, v[i].iov_len);
		if (v[i].iov_len)
			shmring__copy_in(r, payload(s), v[i].iov_base, v[i].iov_len,
					 SR_CP_SLOT_PAYLOAD);
		done(s, pos + 1, r->prod.ep);
		count(r->prod.ep, v[i].iov_len);
	}
	shmring__wake(r, SR_DATA);
	return i;
}

static int slot_claim(shmring *r, size_t len, void **buf)
{
	uint64_t pos;
	int rc = take_free(r, &pos);
	if (rc < 0)
		return rc;
	r->claim_pos = pos;
	r->claim_len = len;
	*buf = payload(slot_at(r, pos));
	return 0;
}

static int slot_commit(shmring *r, size_t len)
{
	struct sr_slot *s = slot_at(r, r->claim_pos);
	st_relaxed(&s->len, len);
	done(s, r->claim_pos + 1, r->prod.ep);
	count(r->prod.ep, len);
	shmring__wake(r, SR_DATA);
	return 0;
}

static int slot_abort(shmring *r)
{
	/* Later positions may be taken already: publish the slot as a skip. */
	struct sr_slot *s = slot_at(r, r->claim_pos);
	st_relaxed(&s->len, SR_SLOT_SKIP);
	done(s, r->claim_pos + 1, r->prod.ep);
	shmring__wake(r, SR_DATA);
	return 0;
}

/* ---- consumer ---- */

/* Take the next message that fits `cap` bytes, passing over skips
 * (*passed: some, freed slots the producers may be waiting for). */
static int next_msg(shmring *r, uint64_t cap, uint64_t *pos_out, uint64_t *len_out, bool *passed)
{
	sr_a64 *deq = &r->h->cons.pos;
	*passed = false;
	for (;;) {
		uint64_t pos = ld_relaxed(deq);
		struct sr_slot *s = slot_at(r, pos);
		int rc = sq_look(&s->seq, pos, SQ_CONSUMER);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			if (ld_relaxed(deq) == pos)
				return sr_corrupt(r);
			continue;
		}
		/* Look before taking, so that -EMSGSIZE leaves the message. */
		uint64_t len = ld_relaxed(&s->len);
		if (len != SR_SLOT_SKIP && len > r->max_msg)
			return sr_corrupt(r);
		if (len != SR_SLOT_SKIP && len > cap)
			return -EMSGSIZE;
		if (!sq_take(deq, &r->cons.ep->resv_pos, pos))
			continue; /* another consumer took it */
		len = ld_relaxed(&s->len); /* re-read: only hostile hands change it now */
		if (len == SR_SLOT_SKIP) {
			done(s, pos + r->cap, r->cons.ep);
			*passed = true;
			continue;
		}
		if (len > r->max_msg || len > cap) { /* changed under us: hostile */
			done(s, pos + r->cap, r->cons.ep);
			return sr_corrupt(r);
		}
		*pos_out = pos;
		*len_out = len;
		return 0;
	}
}

static int slot_recv(shmring *r, struct iovec *v, int n)
{
	int i;
	for (i = 0; i < n; i++) {
		uint64_t pos, len;
		bool passed;
		int rc = next_msg(r, v[i].iov_len, &pos, &len, &passed);
		if (rc < 0) {
			if (i == 0) {
				if (passed) /* skips only: freed slots all the same */
					shmring__wake(r, SR_ROOM);
				return rc;
			}
			break;
		}
		struct sr_slot *s = slot_at(r, pos);
		if (len)
			memcpy(v[i].iov_base, payload(s), len);
		v[i].iov_len = len;
		done(s, pos + r->cap, r->cons.ep);
		count(r->cons.ep, len);
	}
	shmring__wake(r, SR_ROOM);
	return i;
}

static int slot_peek(shmring *r, const void **msg, size_t *len)
{
	uint64_t pos, l;
	bool passed;
	int rc = next_msg(r, UINT64_MAX, &pos, &l, &passed);
	if (passed) /* the slots of the skips it passed */
		shmring__wake(r, SR_ROOM);
	if (rc < 0)
		return rc;
	r->peek_pos = pos;
	r->peek_len = l;
	*msg = payload(slot_at(r, pos));
	*len = l;
	return 0;
}

static int slot_release(shmring *r)
{
	done(slot_at(r, r->peek_pos), r->peek_pos + r->cap, r->cons.ep);
	count(r->cons.ep, r->peek_len);
	shmring__wake(r, SR_ROOM);
	return 0;
}

/* ---- dead peers (slow path) ---- */

/* A consumer sees no message at pos: did a dead producer take pos? */
static int stuck_data(shmring *r)
{
	sr_a64 *deq = &r->h->cons.pos;
	uint64_t pos = ld_relaxed(deq);
	struct sr_slot *s = slot_at(r, pos);
	if (ld_acquire(&s->seq) != pos)
		return 0;
	/* pairs with the producers' CAS (release): resv_pos of every claim
	 * below enq is visible */
	uint64_t enq = ld_acquire(&r->h->prod.pos);
	if (enq - pos - 1 >= r->cap)
		return 0; /* nobody claimed pos (or nonsense: the fast path judges) */
	if (shmring__resv_held(r, SHMRING_PRODUCER, pos, NULL))
		return 0;
	if (ld_acquire(&s->seq) != pos)
		return 0; /* published meanwhile */
	/* Take the slot as if to consume it, and free it unread. */
	if (!sq_take(deq, &r->cons.ep->resv_pos, pos))
		return 0;
	done(s, pos + r->cap, r->cons.ep);
	shmring__drop(r, 1);
	shmring__wake(r, SR_ROOM);
	return 1;
}

/* A producer sees no room at pos: does a dead consumer hold pos - nslots? */
static int stuck_room(shmring *r)
{
	uint64_t pos = ld_relaxed(&r->h->prod.pos), old = pos - r->cap;
	struct sr_slot *s = slot_at(r, pos);
	uint64_t seq = old + 1;
	if (ld_acquire(&s->seq) != seq)
		return 0;
	uint64_t deq = ld_acquire(&r->h->cons.pos); /* pairs with the consumers' CAS */
	if ((int64_t)(deq - old) <= 0)
		return 0; /* not taken yet: the ring is simply full */
	if (shmring__resv_held(r, SHMRING_CONSUMER, old, NULL))
		return 0;
	if (!atomic_compare_exchange_strong(&s->seq, &seq, pos))
		return 0;
	shmring__drop(r, 1);
	return 1;
}

static int slot_stuck(shmring *r, enum sr_dir dir)
{
	if (dir == SR_DATA)
		return r->cons.idx >= 0 ? stuck_data(r) : 0;
	return r->prod.idx >= 0 ? stuck_room(r) : 0;
}

static size_t slot_used(const shmring *r)
{
	uint64_t deq = ld_acquire(&r->h->cons.pos);
	uint64_t enq = ld_acquire(&r->h->prod.pos);
	uint64_t n = enq - deq;
	return (size_t)((n > r->cap ? r->cap : n) * r->slot_size);
}

/* Room for the producer, by a look only (poll.c): the slot at the enqueue
 * position is free. Not the positions' difference: a consumer moves the
 * dequeue position when it takes a slot, before it has copied the message
 * out and freed it. */
bool shmring__slot_room(const shmring *r)
{
	uint64_t pos = ld_relaxed(&r->h->prod.pos);
	return ld_acquire(&slot_at(r, pos)->seq) == pos; /* pairs with sq_done's release */
}

static bool slot_readable(const shmring *r)
{
	uint64_t pos = ld_relaxed(&r->h->cons.pos);
	return ld_acquire(&slot_at(r, pos)->seq) == pos + 1;
}

const struct sr_ops shmring__slot_ops = {
	.readable = slot_readable,
	.send = slot_send,
	.recv = slot_recv,
	.claim = slot_claim,
	.commit = slot_commit,
	.abort = slot_abort,
	.peek = slot_peek,
	.release = slot_release,
	.stuck = slot_stuck,
	.used = slot_used,
	.drop_peek_of_dead = NULL,
};
