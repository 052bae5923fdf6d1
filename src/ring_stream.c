/* SPDX-License-Identifier: MIT */
/*
 * ring_stream.c - the stream engine: byte streams with pipe semantics
 * (SHMRING_STREAM rings, shmring_pipe).
 *
 * A stream is a record ring (ring_rec.c provides reservation, zeroing and
 * hole detection) whose records grow. A writer reserves a record of up to
 * SR_STREAM_CHUNK bytes by CAS on the tail and then appends to it, one CAS
 * on the record's header word per write, while the record stays its open
 * record; the reader copies out bytes as they are published and keeps its
 * offset into the current record in the consumer line (so forked holders of
 * the read end share it). Many small writes therefore share one header and
 * the storage holds bytes, not headers: at least 15/16 of the capacity.
 *
 * Writes of at most PIPE_BUF bytes land in one record with one header store,
 * so they are never interleaved with another writer's (the pipe rule).
 * Longer writes are cut into records and may interleave, as in a pipe.
 *
 * Closing. The reader closes (OPEN -> CLOSED by CAS) an open record it has
 * drained when something waits behind it; the writer's next append then fails
 * its CAS and starts a new record. An append takes the record first (OPEN ->
 * BUSY by CAS), writes, and reopens it with the new length (store-release),
 * so the reader never closes, zeroes and frees a record under a writer's
 * memcpy. A writer closes its own record when the record is full. CAS on the
 * one header word decides every race between the two.
 *
 * Deaths. A writer that dies after reserving leaves a hole (zero word: the
 * generic hole rule of ring_rec.c) or a BUSY record (bytes half written past
 * the published length: closed at that length, counted in `dropped`; the
 * half-written tail is never read).
 *
 * Deaths of readers. The reader passes a record it has read to the end
 * (zeroes it and moves the head, shmring__rec_consume) only after it has
 * written "passing the record that ends at E" into its offset word; it clears
 * the offset after the head moved. A reader that takes over after a death
 * (a forked sibling, or a new one) and finds that mark finishes the pass:
 * the record is neither read twice nor mistaken for a dead writer's hole, and
 * nothing is counted in `dropped` (no byte was lost; bytes the dead reader
 * had copied out went with it, as with a pipe).
 */
#include "internal.h"

#include <limits.h>
#include <string.h>

/* As in ring_rec.c: the mask keeps even a scribbled position aligned and in
 * the area; the reader checks the alignment of its head. */
static inline sr_a64 *word_at(const shmring *r, uint64_t pos)
{
	return (sr_a64 *)(r->data + (pos & r->mask & ~(uint64_t)7));
}

/* The reader's offset word while it passes a record: this bit, and the low
 * 63 bits of the position where the record ends. Offsets proper are below
 * 2^20 (SR_STR_LEN_MAX). */
#define OFF_PASSING ((uint64_t)1 << 63)

/* A SIGKILL stops a process between two stores, and a successor sees a
 * prefix of them in program order; only the compiler could reorder them. */
static inline void cut_order(void)
{
	atomic_signal_fence(memory_order_seq_cst);
}

static uint64_t chunk(const shmring *r)
{
	uint64_t c = r->cap / 4;
	return c > SR_STREAM_CHUNK_MAX ? SR_STREAM_CHUNK_MAX : c;
}

static uint32_t my_tag(const shmring *r)
{
	return SR_TAG(r->prod.idx, r->prod.gen);
}

static void count_out(shmring *r, uint64_t n)
{
	struct sr_endpoint *e = r->prod.ep;
	st_relaxed(&e->count, ld_relaxed(&e->count) + n);
	st_relaxed(&e->bytes, ld_relaxed(&e->bytes) + n);
}

/* Append to this process's open record. Returns bytes appended, 0 when the
 * record cannot take them (closed, full, not ours any more). */
static uint64_t append(shmring *r, const uint8_t *buf, uint64_t n, bool whole)
{
	if (!r->w_open || r->w_forkgen != shmring__forkgen())
		return 0;
	sr_a64 *hw = word_at(r, r->w_rec);
	uint64_t w = ld_acquire(hw);
	uint64_t len = SR_STR_LEN(w), size = SR_STR_SIZE(w);
	if (SR_STR_TYPE(w) != SR_STR_OPEN || SR_STR_TAG(w) != my_tag(r) || size < 16 ||
	    (r->w_rec & r->mask) + size > r->cap || len + SR_REC_HDR > size) {
		r->w_open = false;
		return 0;
	}
	uint64_t space = size - SR_REC_HDR - len;
	if (space == 0 || (whole && space < n)) {
		/* full for this write: close it so the reader need not */
		atomic_compare_exchange_strong(
			hw, &w, SR_STR_WORD(SR_STR_CLOSED, len, size, SR_STR_TAG(w)));
		r->w_open = false;
		return 0;
	}
	/* Take the record (BUSY) before touching its bytes: once the reader
	 * has closed it, it zeroes and frees it, and a late write would leave
	 * garbage in free space. pairs with the reader's CAS that closes it. */
	uint64_t busy = SR_STR_WORD(SR_STR_BUSY, len, size, SR_STR_TAG(w));
	if (!cas_acq_rel(hw, &w, busy)) {
		r->w_open = false;
		return 0;
	}
	SR_CRASH(STR_BUSY);
	uint64_t c = n < space ? n : space;
	uint8_t *dst = r->data + (r->w_rec & r->mask) + SR_REC_HDR + len;
	memcpy(dst, buf, c / 2);
	SR_CRASH(STR_PAYLOAD);
	memcpy(dst + c / 2, buf + c / 2, c - c / 2);
	/* release: the bytes before the length that covers them; pairs with
	 * the reader's ld_acquire of the header word */
	st_release(hw, SR_STR_WORD(SR_STR_OPEN, len + c, size, SR_STR_TAG(w)));
	return c;
}

/* Start a new record with the first bytes of buf. */
static int start_record(shmring *r, const uint8_t *buf, uint64_t n, bool whole)
{
	uint64_t need_min = SR_ALIGN8(SR_REC_HDR + (whole ? n : 1));
	uint64_t size = chunk(r), start, need;
	if (size < need_min)
		size = need_min;
	int rc = shmring__rec_reserve(r, &size, need_min, &start, &need);
	if (rc == -EAGAIN && !whole) {
		/* Not a whole chunk of room: take what there is, as a pipe would. */
		uint64_t used = ld_relaxed(&r->h->prod.pos) - r->cached_head;
		uint64_t room = used < r->cap ? r->cap - used : 0;
		uint64_t left = r->cap - (ld_relaxed(&r->h->prod.pos) & r->mask);
		size = room < left ? room : left;
		size &= ~(uint64_t)7;
		if (size < need_min)
			return -EAGAIN;
		rc = shmring__rec_reserve(r, &size, need_min, &start, &need);
	}
	if (rc < 0)
		return rc;
	uint64_t rec = start + (need - size);
	uint32_t tag = my_tag(r);
	SR_CRASH(STR_CAS);
	sr_a64 *hw = word_at(r, rec);
	st_relaxed(hw, SR_STR_WORD(SR_STR_BUSY, 0, size, tag));
	/* The BUSY word is visible no later than the bytes (hole rule), and
	 * before the padding that leads the reader to it. */
	atomic_thread_fence(memory_order_release);
	if (need > size)
		st_release(word_at(r, start), SR_STR_WORD(SR_STR_PAD, 0, need - size, 0));
	SR_CRASH(STR_BUSY);
	uint64_t c = n < size - SR_REC_HDR ? n : size - SR_REC_HDR;
	uint8_t *dst = r->data + (rec & r->mask) + SR_REC_HDR;
	memcpy(dst, buf, c / 2);
	SR_CRASH(STR_PAYLOAD);
	memcpy(dst + c / 2, buf + c / 2, c - c / 2);
	/* pairs with the reader's ld_acquire of the header word */
	st_release(hw, SR_STR_WORD(SR_STR_OPEN, c, size, tag));
	/* pairs with the ld_acquire of resv_pos in shmring__resv_held */
	st_release(&r->prod.ep->resv_pos, SR_RESV_NONE);
	r->w_rec = rec;
	r->w_open = true;
	r->w_forkgen = shmring__forkgen();
	return (int)c;
}

/* One step of a write: place up to n bytes (all of them when `whole`).
 * Returns the count placed, or -EAGAIN, or another negative errno. */
int shmring__stream_put(shmring *r, const void *buf, size_t n, bool whole)
{
	uint64_t c = append(r, buf, n, whole);
	if (c == 0) {
		int rc = start_record(r, buf, n, whole);
		if (rc < 0)
			return rc;
		c = (uint64_t)rc;
	}
	count_out(r, c);
	shmring__wake(r, SR_DATA);
	return (int)c;
}

/* The writer is closing: let the reader pass our record at once. */
void shmring__stream_close_writer(shmring *r)
{
	if (!r->w_open || r->w_forkgen != shmring__forkgen())
		return;
	sr_a64 *hw = word_at(r, r->w_rec);
	uint64_t w = ld_acquire(hw);
	if (SR_STR_TYPE(w) == SR_STR_OPEN && SR_STR_TAG(w) == my_tag(r))
		atomic_compare_exchange_strong(hw, &w,
					       SR_STR_WORD(SR_STR_CLOSED, SR_STR_LEN(w),
							   SR_STR_SIZE(w), my_tag(r)));
	r->w_open = false;
	shmring__wake(r, SR_DATA);
}

/* ---- reader ---- */

/* Pass the record [h, h + size) at the head, read to its end: zero it and
 * move the head (shmring__rec_consume), with the mark in the offset word
 * around it (see the top of the file). */
static void pass(shmring *r, uint64_t h, uint64_t size)
{
	sr_a64 *offp = &r->h->cons.aux;
	st_relaxed(offp, OFF_PASSING | ((h + size) & ~OFF_PASSING));
	cut_order();
	shmring__rec_consume(r, h, size);
	cut_order();
	st_relaxed(offp, 0);
}

/* The offset word holds a pass mark: a reader died passing the record at the
 * head h (or right after, when the head has moved). Finish it. */
static int finish_pass(shmring *r, uint64_t h, uint64_t off)
{
	uint64_t size = (off - h) & ~OFF_PASSING; /* end - h, modulo 2^63 */
	if (size) {
		uint64_t w = ld_acquire(word_at(r, h));
		uint32_t type = SR_STR_TYPE(w);
		/* What a pass leaves: the record still CLOSED, padding, or zero. */
		if (size < SR_REC_HDR || size % 8 || (h & r->mask) + size > r->cap ||
		    (w &&
		     (SR_STR_SIZE(w) != size || (type != SR_STR_CLOSED && type != SR_STR_PAD))))
			return sr_corrupt(r);
		shmring__rec_consume(r, h, size);
		cut_order();
	}
	st_relaxed(&r->h->cons.aux, 0);
	return 0;
}

/* Copy out up to n bytes. Returns the count (> 0), -EAGAIN or -EBADMSG. */
int shmring__stream_get(shmring *r, void *buf, size_t n)
{
	sr_a64 *headp = &r->h->cons.pos, *offp = &r->h->cons.aux;
	uint64_t h = ld_relaxed(headp), off = ld_relaxed(offp), got = 0;
	uint8_t *out = buf;
	if (h & 7)
		return sr_corrupt(r);
	if (SR_UNLIKELY(off & OFF_PASSING)) {
		int rc = finish_pass(r, h, off);
		if (rc < 0)
			return rc;
		h = ld_relaxed(headp);
		off = 0;
	}
	while (got < n) {
		uint64_t idx = h & r->mask;
		sr_a64 *hw = word_at(r, h);
		uint64_t w = ld_acquire(hw); /* pairs with the writer's release of the word */
		if (w == 0)
			break;
		uint32_t type = SR_STR_TYPE(w);
		uint64_t len = SR_STR_LEN(w), size = SR_STR_SIZE(w);
		if (size < SR_REC_HDR || idx + size > r->cap || len + SR_REC_HDR > size ||
		    type == 0 || type > SR_STR_PAD || (type == SR_STR_PAD && len) || off > len)
			return sr_corrupt(r);
		if (type == SR_STR_PAD) {
			pass(r, h, size);
			h += size;
			continue;
		}
		if (off < len) {
			uint64_t c = len - off < n - got ? len - off : n - got;
			memcpy(out + got, r->data + idx + SR_REC_HDR + off, c);
			off += c;
			got += c;
			continue;
		}
		if (type == SR_STR_CLOSED) {
			pass(r, h, size);
			off = 0;
			h += size;
			continue;
		}
		if (got || type != SR_STR_OPEN)
			break;
		/* Drained an open record: close it if another waits behind it.
		 * pairs with the writers' CAS on the tail */
		if (ld_acquire(&r->h->prod.pos) - h <= size)
			break;
		atomic_compare_exchange_strong(
			hw, &w, SR_STR_WORD(SR_STR_CLOSED, len, size, SR_STR_TAG(w)));
	}
	if (!got)
		return -EAGAIN;
	st_relaxed(offp, off);
	struct sr_endpoint *e = r->cons.ep;
	st_relaxed(&e->count, ld_relaxed(&e->count) + got);
	st_relaxed(&e->bytes, ld_relaxed(&e->bytes) + got);
	shmring__wake(r, SR_ROOM);
	return (int)got;
}

/* Slow path of a reader that sees nothing: a dead writer's hole or BUSY
 * record at the head. */
static int stream_stuck(shmring *r, enum sr_dir dir)
{
	if (dir != SR_DATA || r->cons.idx < 0)
		return 0;
	uint64_t h = ld_relaxed(&r->h->cons.pos);
	if ((h & 7) || (ld_relaxed(&r->h->cons.aux) & OFF_PASSING))
		return 0; /* shmring__stream_get judges these */
	sr_a64 *hw = word_at(r, h);
	uint64_t w = ld_acquire(hw);
	if (w == 0) {
		uint64_t end = shmring__rec_hole_end(r, h);
		if (end == h)
			return 0;
		if (!atomic_compare_exchange_strong(hw, &w, SR_STR_WORD(SR_STR_PAD, 0, end - h, 0)))
			return 0;
		shmring__drop(r, 1);
		return 1;
	}
	if (SR_STR_TYPE(w) != SR_STR_BUSY || shmring__tag_alive(r, SR_STR_TAG(w)))
		return 0;
	if (!atomic_compare_exchange_strong(hw, &w,
					    SR_STR_WORD(SR_STR_CLOSED, SR_STR_LEN(w),
							SR_STR_SIZE(w), SR_STR_TAG(w))))
		return 0;
	shmring__drop(r, 1);
	return 1;
}

static size_t stream_used(const shmring *r)
{
	return shmring__rec_ops.used(r);
}

/* Unread bytes at the head, a record to pass, or a pass to finish? A look
 * only. */
static bool stream_readable(const shmring *r)
{
	uint64_t h = ld_relaxed(&r->h->cons.pos), off = ld_relaxed(&r->h->cons.aux);
	if (off & OFF_PASSING)
		return true;
	uint64_t w = ld_acquire(word_at(r, h));
	if (w == 0)
		return false;
	uint32_t type = SR_STR_TYPE(w);
	if (type == SR_STR_PAD || type == SR_STR_CLOSED)
		return true;
	if (SR_STR_LEN(w) > off)
		return true;
	return type == SR_STR_OPEN && ld_acquire(&r->h->prod.pos) - h > SR_STR_SIZE(w);
}

/* Message calls never reach a stream: api.c answers -EOPNOTSUPP first. */
const struct sr_ops shmring__stream_ops = {
	.readable = stream_readable,
	.stuck = stream_stuck,
	.used = stream_used,
};
