/* SPDX-License-Identifier: MIT */
/*
 * ring_rec.c - the variable-length record engine: SPSC and MPSC rings.
 *
 * In the manner of Agrona's ring buffers. The data area holds records: an
 * 8-byte header word (layout.h: length, type, owner tag) and the payload,
 * 8-byte aligned; one that starts near the end of the area runs on into the
 * spill after it (layout.h), so that no room is lost at the wrap.
 * The header word at the head reads zero until the record there is
 * published, so the consumer polls that one word and nothing else:
 *  - SP: the producer zeroes the word just past its record before it
 *    publishes the record (rc_clear_next), so the next header word the
 *    consumer will look at reads zero, never the previous lap's bytes. The
 *    consumer writes nothing into the data area: each line goes producer ->
 *    consumer and back once per lap (in the manner of a Lamport queue).
 *  - MP: the consumer zeroes what it consumed before it publishes its head,
 *    so all free space reads as zero: a producer reserves by CAS before it
 *    writes, and a zero word is how its hole is told from its record.
 *
 * Producer:  reserve [t, t+need) at the tail  (SP: private; MP: CAS on tail)
 *            write the payload, then the header word with a store-release
 * Consumer:  load-acquire the header word at head; copy; (MP: zero);
 *            store-release the head (the producer's load-acquire pairs with it)
 *
 * An SP producer publishes its tail only after the record, so its death
 * leaves nothing visible. An MP producer makes its reservation visible (the
 * CAS) before the record, so a death can leave a hole the consumer would wait
 * on forever. Two marks let the consumer tell a hole from a slow writer:
 *  - before the CAS, the producer writes the position into resv_pos of its
 *    endpoint (cleared with a store-release after it published);
 *  - right after the CAS, it writes a CLAIMED header carrying its endpoint
 *    index and generation.
 * A CLAIMED record whose owner is dead becomes padding; a zero header inside
 * the reserved range with no live reservation for it is padded up to the next
 * record (everything from a hole to the next record start is still zero,
 * because a producer writes nothing before its CLAIMED header). Both count
 * one message in `dropped`.
 *
 * Concurrency: SPSC - one producer and one consumer, both wait-free. MPSC -
 * producers lock-free (CAS), the consumer wait-free, except for the slow path
 * that clears a dead producer's hole.
 */
#include "internal.h"
#include "rec_core.h"
#include "rec_fast.h"

#include <string.h>

/* Streams always reserve by CAS: a pipe's write end is shared by forks. */
static inline bool multi_producer(const shmring *r)
{
	return r->mode == SHMRING_MPSC || (r->flags & SHMRING_STREAM);
}

/* A payload into its record, out of line (rec_fast.h: sr_copy_in). */
void shmring__rec_copy_in(shmring *r, uint8_t *dst, const uint8_t *src, uint64_t len)
{
	shmring__copy_in(r, dst, src, len, SR_CP_REC_PAYLOAD);
}

void shmring__rec_init(struct sr_header *h, uint8_t *data)
{
	(void)h;
	(void)data; /* a fresh object is zero: an empty record ring */
}

/* ---- producer ---- */

/* Reserve a record of `size` bytes at the tail. A message's record that
 * starts near the end of the area runs on into the spill (layout.h). A
 * stream's is preceded by padding to the end of the area if it would
 * straddle it - unless at least `min` bytes are left before the end, in
 * which case the record shrinks to fit them. On success *start is where the
 * reservation begins, *need its length (padding included) and *size the
 * record's final size. MP producers publish the reservation in resv_pos of
 * their endpoint first (see the top of the file). Lock-free; -EAGAIN when
 * there is no room. */
int shmring__rec_reserve(shmring *r, uint64_t *size, uint64_t min, uint64_t *start,
			 uint64_t *need_out)
{
	sr_a64 *tailp = &r->h->prod.pos;
	bool mp = multi_producer(r);
	uint64_t t = ld_relaxed(tailp); /* SP: our own store; MP: the CAS refreshes it */
	for (;;) {
		if (t & 7)
			return sr_corrupt(r);
		uint64_t idx = t & r->mask, rec = *size, left = r->cap - idx;
		uint64_t need = rec;
		if (idx + rec > r->end) { /* streams only: the end is the area's */
			if (left >= min)
				need = rec = left;
			else
				need = rec + left;
		}
		/* SP: and the word past it, which rc_clear_next zeroes (the
		 * area holds twice the largest record) */
		uint64_t head;
		int rc = rc_room(&r->h->cons.pos, &r->cached_head, t, mp ? need : need + 8,
				 r->cap, &head);
		if (rc == -EBADMSG && mp && (int64_t)(head - t) > 0) {
			uint64_t now = ld_relaxed(tailp);
			if (now != t) { /* our tail was stale, not the head wrong */
				t = now;
				continue;
			}
		}
		if (rc < 0) {
			/* A failed CAS of an earlier round left resv_pos naming
			 * the record another producer won: if that one dies
			 * before writing, the consumer must not think us its
			 * owner and wait on its hole. pairs with the ld_acquire
			 * of resv_pos in shmring__resv_held */
			if (mp)
				st_release(&r->prod.ep->resv_pos, SR_RESV_NONE);
			return rc == -EBADMSG ? sr_corrupt(r) : rc;
		}
		if (mp) {
			struct sr_endpoint *e = r->prod.ep;
			st_relaxed(&e->resv_size, need);
			st_relaxed(&e->resv_pos, t);
			SR_CRASH(REC_RESV);
			/* release: resv_pos is visible to whoever sees the new
			 * tail (the consumer's load-acquire in the hole check) */
			if (!cas_acq_rel(tailp, &t, t + need))
				continue;
		}
		*start = t;
		*need_out = need;
		*size = rec;
		return 0;
	}
}

/* After reserve(): mark the reservation of the record at rec so that the
 * consumer can always tell whose it is. */
static void mark(shmring *r, uint64_t rec, uint64_t len)
{
	SR_CRASH(REC_CAS);
	if (multi_producer(r)) {
		st_relaxed(sr_word_at(r, rec),
			   SR_REC_WORD(SR_REC_CLAIMED, len, SR_TAG(r->prod.idx, r->prod.gen)));
		/* The CLAIMED word must be visible no later than the payload: a
		 * consumer clearing a hole scans for the first non-zero word. */
		atomic_thread_fence(memory_order_release);
		SR_CRASH(REC_CLAIMED);
	}
}

/* Publish the record at rec whose payload is in place. `claimed` is its
 * reserved size; a shorter final length leaves a padding record behind it. */
static void publish(shmring *r, uint64_t rec, uint64_t claimed, uint64_t len)
{
	uint64_t size = SR_ALIGN8(SR_REC_HDR + len);
	bool mp = multi_producer(r);
	if (!mp) /* the next header word reads zero before this one is out */
		rc_clear_next(sr_word_at(r, rec + claimed));
	if (size < claimed)
		st_relaxed(sr_word_at(r, rec + size), SR_REC_WORD(SR_REC_PAD, claimed - size, 0));
	SR_CRASH(REC_PAD);
	rc_publish(sr_word_at(r, rec), SR_REC_WORD(SR_REC_MSG, len, 0));
	SR_CRASH(REC_MSG);
	if (mp) {
		/* pairs with the ld_acquire of resv_pos in shmring__resv_held */
		st_release(&r->prod.ep->resv_pos, SR_RESV_NONE);
	} else {
		/* pairs with ld_acquire(tail) in rec_used and the stat readers */
		st_release(&r->h->prod.pos, rec + claimed);
	}
	sr_moved(r->prod.ep, 1, len);
}

/* An SP producer's sendv of several messages goes out in groups of up to
 * SR_SEND_GROUP bytes: in each group the first record's header goes out
 * last, and then the tail moves. The consumer
 * cannot pass that record before it is published, so it finds the group
 * written and reads it in one pass, instead of chasing the producer through
 * the lines it is writing (a third of the throughput of 64-byte batches
 * here); groups keep the two sides overlapping on large messages. Every other
 * record goes out as by publish(), the word past it cleared first; a group's
 * first record's next word is the second record's header, published already,
 * or is cleared when it is alone. A producer killed inside a group leaves
 * nothing of it reachable: the tail names the group's first record, whose
 * header reads zero. */
#define SR_SEND_GROUP 4096u

struct sp_group {
	uint64_t rec, word; /* the deferred first record */
	int n;              /* records in the group, 0: none open */
	uint64_t bytes;
};

static void sp_group_close(shmring *r, struct sp_group *g, uint64_t t)
{
	if (g->n == 1) /* alone: its next word is not a published header */
		rc_clear_next(sr_word_at(r, t));
	SR_CRASH(REC_PAD);
	rc_publish(sr_word_at(r, g->rec), g->word);
	SR_CRASH(REC_MSG);
	st_release(&r->h->prod.pos, t); /* pairs as in publish() */
	g->n = 0;
}

static int sp_sendv(shmring *r, const struct iovec *v, int n)
{
	uint64_t t = ld_relaxed(&r->h->prod.pos), bytes = 0; /* our own store */
	struct sp_group g = {.n = 0};
	int i;
	for (i = 0; i < n; i++) {
		uint64_t len = v[i].iov_len, size = SR_ALIGN8(SR_REC_HDR + len);
		if (len > r->max_msg)
			break;
		if (t & 7) {
			sr_corrupt(r);
			break;
		}
		uint64_t head;
		int rc = rc_room(&r->h->cons.pos, &r->cached_head, t, size + 8, r->cap, &head);
		if (rc < 0) {
			if (rc == -EBADMSG)
				sr_corrupt(r);
			break;
		}
		SR_CRASH(REC_CAS);
		if (len)
			sr_copy_in(r, r->data + (t & r->mask) + SR_REC_HDR, v[i].iov_base, len);
		if (g.n == 0) {
			g = (struct sp_group){.rec = t, .word = SR_REC_WORD(SR_REC_MSG, len, 0)};
		} else {
			rc_clear_next(sr_word_at(r, t + size));
			SR_CRASH(REC_PAD);
			rc_publish(sr_word_at(r, t), SR_REC_WORD(SR_REC_MSG, len, 0));
			SR_CRASH(REC_MSG);
		}
		g.n++;
		g.bytes += size;
		bytes += len;
		t += size;
		if (g.bytes >= SR_SEND_GROUP)
			sp_group_close(r, &g, t);
	}
	if (g.n)
		sp_group_close(r, &g, t);
	if (i == 0)
		return r->broken ? r->broken : -EAGAIN;
	sr_moved(r->prod.ep, (uint64_t)i, bytes);
	shmring__wake(r, SR_DATA);
	return i;
}

static int rec_send(shmring *r, const struct iovec *v, int n)
{
	if (n > 1 && !multi_producer(r))
		return sp_sendv(r, v, n);
	int i;
	for (i = 0; i < n; i++) {
		uint64_t len = v[i].iov_len, size = SR_ALIGN8(SR_REC_HDR + len), start, need;
		if (len > r->max_msg)
			break;
		int rc = shmring__rec_reserve(r, &size, size, &start, &need);
		if (rc < 0) {
			if (i == 0)
				return rc;
			break;
		}
		mark(r, start, len); /* need == size: a message's record never pads */
		if (len)
			sr_copy_in(r, r->data + (start & r->mask) + SR_REC_HDR, v[i].iov_base, len);
		publish(r, start, size, len);
	}
	shmring__wake(r, SR_DATA);
	return i;
}

static int rec_claim(shmring *r, size_t len, void **buf)
{
	uint64_t size = SR_ALIGN8(SR_REC_HDR + len), start, need;
	int rc = shmring__rec_reserve(r, &size, size, &start, &need);
	if (rc < 0)
		return rc;
	mark(r, start, len);
	r->claim_pos = start;
	r->claim_size = size;
	r->claim_len = len;
	*buf = r->data + (start & r->mask) + SR_REC_HDR;
	return 0;
}

static int rec_commit(shmring *r, size_t len)
{
	publish(r, r->claim_pos, r->claim_size, len);
	shmring__wake(r, SR_DATA);
	return 0;
}

static int rec_abort(shmring *r)
{
	if (!multi_producer(r))
		return 0; /* nothing was made visible; the header word at the tail still reads zero */
	/* The reservation is public: turn it into padding. Whatever the caller
	 * wrote into the buffer is zeroed by the consumer as it passes. */
	rc_publish(sr_word_at(r, r->claim_pos), SR_REC_WORD(SR_REC_PAD, r->claim_size, 0));
	st_release(&r->prod.ep->resv_pos, SR_RESV_NONE);
	shmring__wake(r, SR_DATA);
	return 0;
}

/* ---- consumer ---- */

/*
 * Consuming, SP rings. The consumer copies the record out, then moves the
 * head past it with a store-release (rc_give_back): that store is the commit.
 * A consumer killed before it finds the record intact at the head, and
 * delivers it (the dead recv never returned); one killed after it has
 * consumed it. A peek names the record in the endpoint's mark (below) first,
 * so that a successor drops what a dead peeker had handed out.
 *
 * Consuming, MP rings, step by step. The consumer zeroes a record before it
 * moves the head past it (free space reads as zero), and a SIGKILL can stop it between
 * any two of its stores. What a successor consumer then finds at the head
 * must never be a torn record (a header over a half-zeroed body) nor a zero
 * header over a body that is not zero (the hole scan would take the first
 * non-zero payload word for a record). So:
 *   1. mark: resv_pos/resv_size of the consumer's endpoint name the record,
 *      its size, and what it is (RC_MARK_*, rec_core.h) - still intact
 *   2. the header word becomes PAD(size)    - a successor passes it
 *   3. the body is zeroed
 *   4. the header word is zeroed            - [h, h + size) reads as free
 *   5. the head moves past it (store-release: rc_give_back)
 *   6. the mark is cleared
 * A consumer that attaches after a death reads the dead endpoint's mark
 * (rec_drop_peek_of_dead) and finishes steps 2-5 for it when the record was
 * being zeroed, counting a message in `dropped` (it was copied out, but its
 * recv never returned: lost, never delivered twice); a record still intact is
 * left to be delivered, unless a peek had handed it out (counted, as always
 * for a dead peeker). Without the mark, a zero header at the head with the
 * tail past it would look like a dead producer's hole and be counted too,
 * even for padding that held no message.
 *
 * A SIGKILL cuts the process at one instruction: the successor sees a prefix,
 * in program order, of the stores that were made (all of them are visible to
 * it: it learned of the death through a system call on the lock). Only the
 * compiler could change that order, so cut_order() - a signal fence, no
 * instruction - keeps it where it matters.
 */
static inline void cut_order(void)
{
	atomic_signal_fence(memory_order_seq_cst);
}

/* The padding word of a record of `size` bytes (streams frame differently). */
static uint64_t pad_word(const shmring *r, uint64_t size)
{
	if (r->flags & SHMRING_STREAM)
		return SR_STR_WORD(SR_STR_PAD, 0, size, 0);
	return SR_REC_WORD(SR_REC_PAD, size, 0);
}

/* Steps 2-5 above for the record [h, h + size) at the head. */
static void zero_and_pass(shmring *r, uint64_t h, uint64_t size)
{
	sr_a64 *hw = sr_word_at(r, h);
	st_relaxed(hw, pad_word(r, size));
	cut_order();
	SR_CRASH(REC_PADDED);
	memset(r->data + (h & r->mask) + SR_REC_HDR, 0, size - SR_REC_HDR);
	cut_order();
	st_relaxed(hw, 0);
	SR_CRASH(REC_ZEROED);
	rc_give_back(&r->h->cons.pos, h + size); /* release: orders the zeroing too */
}

/* Zero a consumed record and move the head past it (streams: ring_stream.c,
 * whose reader marks the pass in its offset word, cons.aux, so that a
 * successor finishes it: never a torn record, nor a zero header over a body
 * that is not zero, nor a drop counted for it). */
void shmring__rec_consume(shmring *r, uint64_t h, uint64_t size)
{
	zero_and_pass(r, h, size);
}

/* Consume the record at the head, of `size` bytes, that is `what`
 * (RC_MARK_MSG, RC_MARK_SEEN): SP, give it back; MP, steps 1-6 above. A
 * peeker's mark is cleared after either. Wait-free. */
static void consume(shmring *r, uint64_t h, uint64_t size, uint64_t what)
{
	struct sr_endpoint *e = r->cons.ep;
	if (!multi_producer(r)) {
		SR_CRASH(REC_COPIED);
		rc_give_back(&r->h->cons.pos, h + size);
		if (what & RC_MARK_SEEN)
			st_relaxed(&e->resv_pos, SR_RESV_NONE);
		return;
	}
	st_relaxed(&e->resv_size, size | what | RC_MARK_ZEROING);
	cut_order();
	st_relaxed(&e->resv_pos, h);
	cut_order();
	SR_CRASH(REC_MARKED);
	zero_and_pass(r, h, size);
	st_relaxed(&e->resv_pos, SR_RESV_NONE);
}

/* Find the next message at the head, passing over padding (*passed: some,
 * room the producers may be waiting for). Returns 0 with its position and
 * header word, -EAGAIN when there is none yet, -EBADMSG. */
static int next_msg(shmring *r, uint64_t *pos, uint64_t *word, bool *passed)
{
	uint64_t h = ld_relaxed(&r->h->cons.pos), h0 = h; /* written by this side only */
	*passed = false;
	if (h & 7)
		return sr_corrupt(r);
	for (;;) {
		uint64_t idx = h & r->mask;
		uint64_t w = rc_look(sr_word_at(r, h));
		uint32_t type = SR_REC_TYPE(w), len = SR_REC_LEN(w);
		if (w == 0 || type == SR_REC_CLAIMED)
			return -EAGAIN;
		if (type == SR_REC_MSG) {
			if (len > r->max_msg || idx + SR_ALIGN8(SR_REC_HDR + len) > r->end ||
			    SR_REC_TAG(w))
				return sr_corrupt(r);
			*pos = h;
			*word = w;
			return 0;
		}
		/* No more than a lap lies between head and tail: an SP consumer
		 * zeroes nothing, and a hostile lap of padding read as padding
		 * would keep it here for ever. */
		if (type != SR_REC_PAD || len < SR_REC_HDR || len % 8 || idx + len > r->end ||
		    SR_REC_TAG(w) || h - h0 + len > r->cap)
			return sr_corrupt(r);
		consume(r, h, len, 0);
		*passed = true;
		h += len;
	}
}

/* An SP consumer's recv/recvv: copy out up to n messages from the head,
 * passing padding, and give back what was passed with one store-release of
 * the head at the end (SR_CRASH(REC_COPIED) before it). The producer reads
 * that line when the ring looks full: one store per call rather than per
 * message keeps a batch off its cache line. A consumer killed before the
 * store leaves the messages of the call to its successor (they were never
 * returned). */
static int sp_recv(shmring *r, struct iovec *v, int n)
{
	uint64_t h0 = ld_relaxed(&r->h->cons.pos), h = h0, bytes = 0; /* our own store */
	if (h & 7)
		return sr_corrupt(r);
	int i = 0, rc = 0;
	while (i < n) {
		uint64_t idx = h & r->mask, w = rc_look(sr_word_at(r, h));
		uint32_t type = SR_REC_TYPE(w), len = SR_REC_LEN(w);
		if (w == 0) {
			rc = -EAGAIN;
			break;
		}
		if (type == SR_REC_PAD) {
			/* within a lap of the head, as in next_msg */
			if (len < SR_REC_HDR || len % 8 || idx + len > r->end || SR_REC_TAG(w) ||
			    h - h0 + len > r->cap) {
				rc = sr_corrupt(r);
				break;
			}
			h += len;
			continue;
		}
		uint64_t size = SR_ALIGN8(SR_REC_HDR + len);
		if (type != SR_REC_MSG || len > r->max_msg || idx + size > r->end ||
		    SR_REC_TAG(w)) {
			rc = sr_corrupt(r);
			break;
		}
		if (len > v[i].iov_len) {
			rc = -EMSGSIZE;
			break;
		}
		if (len)
			shmring__copy_bytes(v[i].iov_base, r->data + idx + SR_REC_HDR, len);
		v[i].iov_len = len;
		bytes += len;
		h += size;
		i++;
	}
	if (h != h0) {
		SR_CRASH(REC_COPIED);
		rc_give_back(&r->h->cons.pos, h);
		sr_moved(r->cons.ep, (uint64_t)i, bytes);
		shmring__wake(r, SR_ROOM);
	}
	return i > 0 ? i : rc;
}

static int rec_recv(shmring *r, struct iovec *v, int n)
{
	if (!multi_producer(r))
		return sp_recv(r, v, n);
	int i;
	uint64_t h = 0, w = 0;
	bool passed = false;
	for (i = 0; i < n; i++) {
		int rc = next_msg(r, &h, &w, &passed);
		if (rc < 0) {
			if (i == 0) {
				if (passed) /* padding only: room all the same */
					shmring__wake(r, SR_ROOM);
				return rc;
			}
			break;
		}
		uint32_t len = SR_REC_LEN(w);
		if (len > v[i].iov_len) {
			if (i == 0)
				return -EMSGSIZE;
			break;
		}
		if (len)
			shmring__copy_bytes(v[i].iov_base, r->data + (h & r->mask) + SR_REC_HDR,
					    len);
		v[i].iov_len = len;
		consume(r, h, SR_ALIGN8(SR_REC_HDR + len), RC_MARK_MSG);
		sr_moved(r->cons.ep, 1, len);
	}
	shmring__wake(r, SR_ROOM);
	return i;
}

static int rec_peek(shmring *r, const void **msg, size_t *len)
{
	uint64_t h, w;
	bool passed;
	int rc = next_msg(r, &h, &w, &passed);
	if (passed) /* the room of the padding it passed */
		shmring__wake(r, SR_ROOM);
	if (rc < 0)
		return rc;
	r->peek_pos = h;
	r->peek_len = SR_REC_LEN(w);
	r->peek_size = SR_ALIGN8(SR_REC_HDR + r->peek_len);
	/* Remember the held record, so a consumer attaching after our death
	 * drops it rather than delivering it twice (drop_peek_of_dead). */
	st_relaxed(&r->cons.ep->resv_size, r->peek_size | RC_MARK_MSG | RC_MARK_SEEN);
	cut_order();
	st_relaxed(&r->cons.ep->resv_pos, h);
	SR_CRASH(REC_PEEKED);
	*msg = r->data + (h & r->mask) + SR_REC_HDR;
	*len = r->peek_len;
	return 0;
}

static int rec_release(shmring *r)
{
	consume(r, r->peek_pos, r->peek_size, RC_MARK_MSG | RC_MARK_SEEN);
	sr_moved(r->cons.ep, 1, r->peek_len);
	shmring__wake(r, SR_ROOM);
	return 0;
}

/* A consumer attaches in place of one that died (peers.c, claim_entry; the
 * caller holds the dead one's lock, so no other consumer runs). Finish what
 * the dead consumer's mark says it left at the head (see "Consuming, step by
 * step"): a record it was zeroing is zeroed and passed, counted in `dropped`
 * if it was a message; a message it had peeked is dropped as well; a message
 * a recv had only marked is left intact, to be delivered once. If this
 * consumer dies in turn before it moves the head, the next one finds the same
 * mark and the same head and does it again; after the head moved, the mark no
 * longer matches (the count may then be lost, never doubled). */
static void rec_drop_peek_of_dead(shmring *r, struct sr_endpoint *dead)
{
	uint64_t h = ld_relaxed(&r->h->cons.pos);
	uint64_t m = ld_relaxed(&dead->resv_size), size = m & RC_MARK_SIZE;
	if (ld_relaxed(&dead->resv_pos) != h || (h & 7) || size < SR_REC_HDR || size % 8 ||
	    (h & r->mask) + size > r->end)
		return;
	uint64_t w = ld_acquire(sr_word_at(r, h));
	uint64_t len = SR_REC_LEN(w);
	bool intact = SR_REC_TYPE(w) == SR_REC_MSG && !SR_REC_TAG(w) && len <= r->max_msg &&
		      SR_ALIGN8(SR_REC_HDR + len) == size;
	if (intact) {
		if (!(m & RC_MARK_SEEN))
			return; /* a recv died before it changed anything: deliver it */
	} else if (!(m & RC_MARK_ZEROING) || (w != 0 && w != pad_word(r, size))) {
		return; /* not what the mark describes: the normal paths judge */
	}
	zero_and_pass(r, h, size);
	if (m & RC_MARK_MSG)
		shmring__drop(r, 1);
	shmring__wake(r, SR_ROOM);
}

/* Slow path for a consumer that sees no message: is the head blocked by a
 * hole or a CLAIMED record of a dead MP producer? Clear it (see the top).
 * An MP consumer that died between zeroing a record and moving the head
 * leaves a hole of another kind, zero words behind the head. A consumer
 * attaching in its place finishes that from the dead one's mark first
 * (uncounted if it was padding); this is left for a dead consumer whose
 * endpoint lives on in a forked sibling, and is counted as one message.
 * SP rings have no holes. */
static int rec_stuck(shmring *r, enum sr_dir dir)
{
	if (dir != SR_DATA || r->cons.idx < 0)
		return 0;
	uint64_t h = ld_relaxed(&r->h->cons.pos), idx = h & r->mask;
	if (h & 7)
		return sr_corrupt(r);
	sr_a64 *hw = sr_word_at(r, h);
	uint64_t w = ld_acquire(hw);
	if (SR_REC_TYPE(w) == SR_REC_CLAIMED) {
		uint64_t size = SR_ALIGN8(SR_REC_HDR + SR_REC_LEN(w));
		if (SR_REC_LEN(w) > r->max_msg || idx + size > r->end)
			return sr_corrupt(r);
		if (shmring__tag_alive(r, SR_REC_TAG(w)))
			return 0;
		if (!atomic_compare_exchange_strong(hw, &w, SR_REC_WORD(SR_REC_PAD, size, 0)))
			return 0;
		shmring__drop(r, 1);
		return 1;
	}
	if (w != 0)
		return 0;
	if (!multi_producer(r)) {
		/* An SP producer publishes its record before it moves the tail,
		 * and nobody else writes a zero at the head: a zero word there
		 * with the tail past it was scribbled. pairs with the store-
		 * release of the tail in publish() */
		uint64_t t = ld_acquire(&r->h->prod.pos);
		if ((int64_t)(t - h) > 0 && t - h <= r->cap && ld_acquire(hw) == 0)
			return sr_corrupt(r);
		return 0;
	}
	uint64_t end = shmring__rec_hole_end(r, h);
	if (end == h)
		return 0;
	w = 0;
	if (!atomic_compare_exchange_strong(hw, &w, SR_REC_WORD(SR_REC_PAD, end - h, 0)))
		return 0;
	shmring__drop(r, 1);
	return 1;
}

/* The head h reads zero. If that is a hole - reserved (the tail is past it)
 * by a producer that died before its first word, with no live reservation
 * for it - return where the hole ends: at the next non-zero word, the next
 * live reservation, the tail or the end of the area, whichever comes first
 * (everything in it is still zero, because a producer writes nothing before
 * its first header word). Otherwise return h. Slow path: probes locks. */
uint64_t shmring__rec_hole_end(shmring *r, uint64_t h)
{
	uint64_t idx = h & r->mask;
	/* pairs with the producers' CAS (release) on the tail: their resv_pos
	 * stores are visible for every reservation below t */
	uint64_t t = ld_acquire(&r->h->prod.pos);
	/* An SP consumer may read a record before its producer stores the
	 * tail: a head at or past the tail means nothing is reserved beyond it. */
	if ((int64_t)(t - h) <= 0)
		return h;
	if (t - h > r->cap || (t & 7)) {
		sr_corrupt(r);
		return h;
	}
	if (shmring__resv_held(r, SHMRING_PRODUCER, h, NULL))
		return h; /* a live producer is writing it */
	uint64_t end = t - h < r->end - idx ? t : h + (r->end - idx);
	for (uint64_t p = h + 8; p < end; p += 8) {
		if (ld_acquire(sr_word_at(r, p)) || shmring__resv_held(r, SHMRING_PRODUCER, p, NULL))
			return p;
	}
	return end;
}

/* A new SP producer attaches. Its predecessor may have died after publishing
 * a record but before moving the tail: walk the tail past whatever is
 * published, so that no published record is overwritten. Each record zeroed
 * the word past it before it went out, so the chain of valid words from the
 * tail is exactly what the dead producer published, and it ends at a zero. */
static void rec_adopt_tail(shmring *r)
{
	if (multi_producer(r))
		return;
	uint64_t t = ld_relaxed(&r->h->prod.pos), head = ld_acquire(&r->h->cons.pos);
	if ((int64_t)(head - t) > 0)
		t = head; /* the consumer already read past the stored tail */
	if ((t & 7) || (head & 7))
		return;
	while (t - head < r->cap) {
		uint64_t idx = t & r->mask, w = ld_acquire(sr_word_at(r, t));
		if (w == 0)
			break;
		uint32_t type = SR_REC_TYPE(w), len = SR_REC_LEN(w);
		uint64_t size = type == SR_REC_MSG ? SR_ALIGN8(SR_REC_HDR + len) : len;
		if ((type != SR_REC_MSG && type != SR_REC_PAD) ||
		    (type == SR_REC_MSG && len > r->max_msg) || size < SR_REC_HDR || size % 8 ||
		    idx + size > r->end)
			break;
		t += size;
	}
	st_release(&r->h->prod.pos, t);
	r->cached_head = head;
}

static size_t rec_used(const shmring *r)
{
	uint64_t head = ld_acquire(&r->h->cons.pos);
	uint64_t tail = ld_acquire(&r->h->prod.pos);
	uint64_t used = tail - head;
	return (size_t)(used > r->cap ? r->cap : used);
}

static bool rec_readable(const shmring *r)
{
	uint64_t w = ld_acquire(sr_word_at(r, ld_relaxed(&r->h->cons.pos)));
	return w != 0 && SR_REC_TYPE(w) != SR_REC_CLAIMED;
}

const struct sr_ops shmring__rec_ops = {
	.readable = rec_readable,
	.send = rec_send,
	.recv = rec_recv,
	.claim = rec_claim,
	.commit = rec_commit,
	.abort = rec_abort,
	.peek = rec_peek,
	.release = rec_release,
	.stuck = rec_stuck,
	.used = rec_used,
	.drop_peek_of_dead = rec_drop_peek_of_dead,
	.adopt_tail = rec_adopt_tail,
};
