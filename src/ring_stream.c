/* SPDX-License-Identifier: MIT */
/*
 * ring_stream.c - the stream engine: byte streams with pipe semantics
 * (SHMRING_STREAM rings, shmring_pipe).
 *
 * A stream is a record ring (ring_rec.c provides reservation, zeroing and
 * hole detection) whose records grow. A writer reserves a record of one chunk
 * (a quarter of the area, at most SR_STREAM_CHUNK_MAX) by CAS on the tail and
 * then appends to it, one CAS on the record's header word per write. Writers
 * share the last record, as a pipe merges small writes into its last buffer:
 * any writer appends to it, whoever reserved it, while it is open and the
 * last reservation (bytes appended behind another record would be read
 * before that record's earlier ones). prod.aux names the last record. The
 * reader copies out bytes as they are
 * published and keeps its offset into the current record in the consumer line
 * (so forked holders of the read end share it). Many small writes therefore
 * share one header, from one writer or many.
 *
 * Writes of at most PIPE_BUF bytes land in one record with one header store,
 * so they are never interleaved with another writer's (the pipe rule), and
 * they go in whole or not at all. Longer writes are cut into records and may
 * interleave, as in a pipe.
 *
 * Room. No room is left unused behind a record:
 *  - the last record, when it cannot take the next whole write, is closed by
 *    that write's writer (any writer), who gives back the room it does not
 *    use (CAS on the tail): the next record starts right behind its bytes. A
 *    writer's close does the same when it was the last to write into it;
 *  - with less room than a chunk, a new record takes the room there is (past
 *    the padding at the wrap if need be), as long as that holds the write (a
 *    whole one) or one byte (a longer one).
 * So a writer is refused (-EAGAIN) only when the room left (on either side
 * of the wrap) is less than its write needs: SR_ALIGN8(8 + n) bytes for a
 * write of n <= PIPE_BUF, 16 for a longer one. A record costs at most 15
 * bytes (its header and alignment), and every record but the last holds more than
 * chunk - 8 - PIPE_BUF >= 4088 bytes. The guarantee, with C = stat.capacity
 * (the area: twice the configured capacity, at least 32 KiB): writers that
 * fill an empty ring, one at a time or taking turns, place at least
 * C - C/256 - PIPE_BUF - 16 bytes before the first -EAGAIN, whatever the
 * sizes of their writes - more than 15/16 of the configured capacity
 * (tests/test_pipe.c, stream_fill_guarantee and
 * stream_fill_guarantee_with_several_writers). Writes that race can cost
 * more: a writer that finds the last record held (BUSY) by another's write
 * past APPEND_SPINS looks, or not yet named by the hint, reserves a record
 * behind it, and the record it could not join keeps its unused room until
 * the reader passes it (up to a chunk each time); such races cascade, and
 * with no reader they can fill the ring with little data (README). Each
 * wrap can cost padding of less than one write's need.
 *
 * Closing. The reader closes (OPEN -> CLOSED by CAS) an open record it has
 * drained when something waits behind it; a writer's next append then fails
 * its CAS and starts a new record. An append takes the record first (OPEN ->
 * BUSY by CAS), writes, and reopens it with the new length (store-release),
 * so the reader never closes, zeroes and frees a record under a writer's
 * memcpy. A writer closes the record when it is full. CAS on the
 * one header word decides every race between the writers and the reader. A
 * writer giving back room takes the record (OPEN -> GIVING by CAS), moves the
 * tail back by CAS and closes the record at the size the second CAS decided.
 * BUSY and GIVING carry the tag of the writer that took the record, so that a
 * reader that finds it dead can tell whose death holds the record.
 * The orderings on the word are in stream_core.h, which the Relacy model
 * tests/model/model_stream.cpp checks with two writers and the reader.
 *
 * Deaths of writers. A writer that dies after reserving leaves a hole (zero
 * word: the generic hole rule of ring_rec.c) or a BUSY record (bytes half
 * written past the published length: closed at that length; the half-written
 * tail is never read); each counts one in `dropped`. A writer that dies while
 * it gives back room (GIVING) loses nothing and counts nothing: the reader
 * closes the record at its bytes if the tail moved back, and over the room
 * too if it did not (stream_stuck).
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
#include "stream_core.h"

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


/* The largest size a stream header word can hold. */
#define STR_SIZE_MAX ((uint64_t)0x1ffffu << 3)

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

/* The last record reserved, when it is open or held by an append (BUSY) and
 * still the last reservation: its position in *rec and its header word in
 * *w; NULL otherwise.
 *
 * prod.aux names it: each writer that reserves a record raises it to the
 * record's position (sc_raise_last). It is a hint (a writer may be slow to
 * raise it, or a hostile segment may hold anything), so the record is
 * believed only when its header, read after it, says OPEN or BUSY and its
 * end is the tail, read after the header. A position whose record has been
 * passed, or whose bytes another lap reused, cannot pass: its word is zero,
 * or the tail is a lap past it (the tail moves back only inside the last
 * record, which lies past the reuse) while the record would end less than a
 * lap past it. The takers look at the tail again after their CAS on the word
 * (take_last). */
static inline sr_a64 *last_record(const shmring *r, uint64_t *rec, uint64_t *w)
{
	uint64_t at = ld_relaxed(&r->h->prod.aux);
	sr_a64 *hw = word_at(r, at);
	uint64_t x = sc_look(hw);
	uint64_t size = SR_STR_SIZE(x);
	uint32_t type = SR_STR_TYPE(x);
	/* acquire above: the tail is read after the word */
	if ((type != SR_STR_OPEN && type != SR_STR_BUSY) ||
	    ld_relaxed(&r->h->prod.pos) != at + size)
		return NULL;
	if (SR_UNLIKELY((at & 7) || (at & r->mask) + size > r->cap || size > chunk(r) ||
			SR_STR_LEN(x) + SR_REC_HDR > size))
		return NULL; /* a scribble */
	*rec = at;
	*w = x;
	return hw;
}

/* Take the last record from OPEN (word w) to `taken` (BUSY or GIVING, with
 * our tag, so a reader that finds us dead in it can tell). Fails when someone
 * else took it first, or when the tail is now more than a lap past the
 * record: then the word was another lap's, equal to w by chance (see
 * last_record), and it gets back its value. A tail that moved less than that
 * is another writer's reservation behind the record, made since last_record
 * looked: that write overlaps ours, so either order is the pipe's. */
static bool take_last(const shmring *r, sr_a64 *hw, uint64_t rec, uint64_t w, uint64_t taken)
{
	if (!sc_take(hw, w, taken))
		return false;
	if (SR_LIKELY(ld_relaxed(&r->h->prod.pos) - rec <= r->cap))
		return true;
	sc_publish(hw, w); /* ours while BUSY or GIVING: nobody else writes it */
	return false;
}

/* Close the last record, whose header word read w (OPEN), at rec, giving
 * back the room it does not use: the next record starts right behind its
 * bytes (see the top of the file). Any writer may; when the record is full,
 * or another writer or the reader got to the word first, it only closes it
 * (or does nothing). Lock-free. */
static void close_last(shmring *r, sr_a64 *hw, uint64_t rec, uint64_t w)
{
	uint64_t len = SR_STR_LEN(w), size = SR_STR_SIZE(w);
	uint64_t fit = SR_ALIGN8(SR_REC_HDR + len);
	uint32_t tag = SR_STR_TAG(w);
	if (fit >= size) {
		sc_close(hw, w, SR_STR_WORD(SR_STR_CLOSED, len, size, tag));
		return;
	}
	/* GIVING holds the record as BUSY does (the reader neither closes nor
	 * passes it), and tells a reader that finds us dead that all its bytes
	 * are in: the record ends at `fit` or at `size`, by where the tail is. */
	if (!take_last(r, hw, rec, w, SR_STR_WORD(SR_STR_GIVING, len, size, my_tag(r))))
		return;
	SR_CRASH(STR_GIVE_BACK);
	uint64_t t = rec + size;
	bool back = cas_acq_rel(&r->h->prod.pos, &t, rec + fit);
	sc_publish(hw, SR_STR_WORD(SR_STR_CLOSED, len, back ? fit : size, tag));
}

/* How many times a writer looks again at a last record that another
 * writer's append holds (BUSY), before it starts a record of its own behind
 * it: an append holds it for a copy of at most PIPE_BUF bytes, unless its
 * writer was preempted; a record started instead leaves the room the held
 * one does not use until the reader passes it. */
#define APPEND_SPINS 64

/* Append to the last record, whoever reserved it (a pipe merges small
 * writes into its last buffer the same way). Bytes go only behind the last
 * reservation: behind an earlier one they would be read before bytes
 * written earlier into a later record. Returns bytes appended, 0 when there
 * is no open last record, or it cannot take them (then it is closed). */
static uint64_t append(shmring *r, const uint8_t *buf, uint64_t n, bool whole)
{
	uint64_t rec, w, len, size, space;
	sr_a64 *hw;
	for (unsigned spins = 0;; spins++) {
		if (!(hw = last_record(r, &rec, &w)))
			return 0;
		if (SR_STR_TYPE(w) == SR_STR_BUSY) {
			if (spins == APPEND_SPINS)
				return 0;
			cpu_relax();
			continue;
		}
		len = SR_STR_LEN(w);
		size = SR_STR_SIZE(w);
		space = size - SR_REC_HDR - len;
		if (space == 0 || (whole && space < n)) {
			close_last(r, hw, rec, w);
			return 0;
		}
		/* Take the record (BUSY) before touching its bytes: once the
		 * reader has closed it, it zeroes and frees it, and a late write
		 * would leave garbage in free space. */
		if (take_last(r, hw, rec, w, SR_STR_WORD(SR_STR_BUSY, len, size, my_tag(r))))
			break;
		if (spins == APPEND_SPINS)
			return 0;
	}
	SR_CRASH(STR_BUSY);
	uint64_t c = n < space ? n : space;
	uint8_t *dst = r->data + (rec & r->mask) + SR_REC_HDR + len;
	shmring__copy_in(r, dst, buf, c, SR_CP_STR_PAYLOAD);
	sc_publish(hw, SR_STR_WORD(SR_STR_OPEN, len + c, size, my_tag(r)));
	return c;
}

/* Less room than a chunk: the size of a record that takes the room there is
 * (after the padding at the wrap when the rest of the area is too short for
 * need_min), or 0 when that is less than need_min. The head is the one the
 * failed reservation just read. */
static uint64_t room_left(const shmring *r, uint64_t need_min)
{
	uint64_t t = ld_relaxed(&r->h->prod.pos);
	uint64_t used = t - r->cached_head;
	uint64_t room = used < r->cap ? r->cap - used : 0;
	uint64_t left = r->cap - (t & r->mask);
	uint64_t size = left >= need_min ? (room < left ? room : left)
					 : (room > left ? room - left : 0);
	size &= ~(uint64_t)7;
	if (size > chunk(r))
		size = chunk(r);
	return size < need_min ? 0 : size;
}

/* Start a new record with the first bytes of buf. */
static int start_record(shmring *r, const uint8_t *buf, uint64_t n, bool whole)
{
	uint64_t need_min = SR_ALIGN8(SR_REC_HDR + (whole ? n : 1));
	uint64_t size = chunk(r), start, need;
	if (size < need_min)
		size = need_min;
	int rc = shmring__rec_reserve(r, &size, need_min, &start, &need);
	if (rc == -EAGAIN) {
		/* Not a whole chunk of room: take what there is, as a pipe would,
		 * if it holds this write (all of it, when it is whole). */
		size = room_left(r, need_min);
		rc = size ? shmring__rec_reserve(r, &size, need_min, &start, &need) : -EAGAIN;
	}
	if (rc < 0) {
		/* A reservation that lost its CAS and then found no room leaves
		 * resv_pos naming the winner's record: while we live, a reader
		 * would take that writer's hole, should it die, for ours to be
		 * filled, and wait for us while we wait for room. */
		st_release(&r->prod.ep->resv_pos, SR_RESV_NONE);
		return rc;
	}
	uint64_t rec = start + (need - size);
	uint32_t tag = my_tag(r);
	SR_CRASH(STR_CAS);
	sr_a64 *hw = word_at(r, rec);
	st_relaxed(hw, SR_STR_WORD(SR_STR_BUSY, 0, size, tag));
	sc_raise_last(&r->h->prod.aux, rec, r->cap);
	/* The BUSY word is visible no later than the bytes (hole rule), and
	 * before the padding that leads the reader to it. */
	atomic_thread_fence(memory_order_release);
	if (need > size)
		st_release(word_at(r, start), SR_STR_WORD(SR_STR_PAD, 0, need - size, 0));
	SR_CRASH(STR_BUSY);
	uint64_t c = n < size - SR_REC_HDR ? n : size - SR_REC_HDR;
	uint8_t *dst = r->data + (rec & r->mask) + SR_REC_HDR;
	shmring__copy_in(r, dst, buf, c, SR_CP_STR_PAYLOAD);
	sc_publish(hw, SR_STR_WORD(SR_STR_OPEN, c, size, tag));
	/* pairs with the ld_acquire of resv_pos in shmring__resv_held */
	st_release(&r->prod.ep->resv_pos, SR_RESV_NONE);
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

/* The writer is closing: when the last record is open and we were the
 * last to write into it, let the reader pass it at once, and give back the
 * room it does not use. A forked child that never wrote (never rebound)
 * holds its parent's endpoint and tag: the record is the parent's to close,
 * and a GIVING word with the parent's tag would hold the reader for as long
 * as the parent lives, should the child die in the middle. */
void shmring__stream_close_writer(shmring *r)
{
	if (r->bound_forkgen != shmring__forkgen())
		return;
	uint64_t rec, w;
	sr_a64 *hw = last_record(r, &rec, &w);
	if (hw && SR_STR_TYPE(w) == SR_STR_OPEN && SR_STR_TAG(w) == my_tag(r))
		close_last(r, hw, rec, w);
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
	bool passed = false; /* a record or padding: room the writers may wait for */
	if (h & 7)
		return sr_corrupt(r);
	if (SR_UNLIKELY(off & OFF_PASSING)) {
		int rc = finish_pass(r, h, off);
		if (rc < 0)
			return rc;
		h = ld_relaxed(headp);
		off = 0;
		passed = true;
	}
	while (got < n) {
		uint64_t idx = h & r->mask;
		sr_a64 *hw = word_at(r, h);
		uint64_t w = sc_look(hw);
		if (w == 0)
			break;
		uint32_t type = SR_STR_TYPE(w);
		uint64_t len = SR_STR_LEN(w), size = SR_STR_SIZE(w);
		if (size < SR_REC_HDR || idx + size > r->cap || len + SR_REC_HDR > size ||
		    type == 0 || type > SR_STR_GIVING || (type == SR_STR_PAD && len) || off > len)
			return sr_corrupt(r);
		if (type == SR_STR_PAD) {
			pass(r, h, size);
			passed = true;
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
			passed = true;
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
		sc_close(hw, w, SR_STR_WORD(SR_STR_CLOSED, len, size, SR_STR_TAG(w)));
	}
	if (!got) {
		if (passed)
			shmring__wake(r, SR_ROOM);
		return -EAGAIN;
	}
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
		if (end - h > STR_SIZE_MAX) /* the rest: another hole, counted again */
			end = h + STR_SIZE_MAX;
		if (!atomic_compare_exchange_strong(hw, &w, SR_STR_WORD(SR_STR_PAD, 0, end - h, 0)))
			return 0;
		shmring__drop(r, 1);
		return 1;
	}
	uint32_t type = SR_STR_TYPE(w);
	if ((type != SR_STR_BUSY && type != SR_STR_GIVING) || shmring__tag_alive(r, SR_STR_TAG(w)))
		return 0;
	uint64_t len = SR_STR_LEN(w), size = SR_STR_SIZE(w), idx = h & r->mask;
	if (size < SR_REC_HDR || idx + size > r->cap || len + SR_REC_HDR > size)
		return sr_corrupt(r);
	if (type == SR_STR_GIVING) {
		/* The writer died giving back room, all its bytes in. If the
		 * tail did not move back, the room is still the record's: zero,
		 * and nobody else's, up to the next record. Otherwise another
		 * writer's record may start where our bytes end. */
		uint64_t fit = SR_ALIGN8(SR_REC_HDR + len);
		if (fit < size && (ld_acquire(word_at(r, h + fit)) ||
				   shmring__rec_hole_end(r, h + fit) < h + size))
			size = fit;
	}
	if (!atomic_compare_exchange_strong(hw, &w,
					    SR_STR_WORD(SR_STR_CLOSED, len, size, SR_STR_TAG(w))))
		return 0;
	if (type == SR_STR_BUSY) /* bytes half written: that write is lost */
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
