// SPDX-License-Identifier: MIT
//
// model_stream.cpp - Relacy model check of the stream engine's shared last
// record (src/stream_core.h: sc_look, sc_take, sc_publish, sc_close,
// sc_raise_last), in the steps ring_stream.c takes.
//
// Two writers and a reader share a stream whose records hold two words of
// payload. Each writer makes two writes of one word:
//  - append (ring_stream.c append/last_record/take_last): the hint names a
//    record whose word says OPEN and whose end is the tail: take it
//    (OPEN -> BUSY), write, publish OPEN one word longer; a record held BUSY
//    by the other writer is looked at again up to twice;
//  - a full record, or one that cannot take the write, is closed by the
//    writer with the room it does not use given back (close_last: GIVING,
//    the tail moved back by CAS, CLOSED);
//  - otherwise a new record (start_record): CAS the tail, BUSY word, raise
//    the hint, write, publish OPEN.
// The reader (shmring__stream_get) reads the words as they are published,
// closes a drained open record when another lies behind it, and zeroes and
// passes closed ones (the head goes back by store-release).
// The area is long enough for every write to start a record: no lap here
// (the reuse of room a lap later is model_spsc's).
//
// Checks: every write is read exactly once, each writer's in its order, and
// no data race on a payload word (an rl::var): the reader's read and its
// zeroing must be ordered after the write, through whichever writers took
// the record in between.
//
// Variants, each of which must fail: a relaxed publish
// (SR_MODEL_RELAXED_STR_PUBLISH) and a take by a plain store in place of the
// CAS (SR_MODEL_STR_TAKE_BLIND). A relaxed CAS in sc_take passes: the
// sc_look before it acquired the word it expects (see stream_core.h).
#define SHMRING_RELACY 1
#include "atomics.h"
#include "stream_core.h"
#include "model_check.h"

enum { WRITERS = 2, WRITES = 2, CHUNK = 3, AREA = WRITERS * WRITES * CHUNK, SPINS = 2 };
enum { BUSY = 1, OPEN, CLOSED, GIVING };

// The header word, as layout.h's SR_STR_WORD in small: type, length and
// size in words, the tag of the writer that took it last.
static uint64_t word(uint64_t type, uint64_t len, uint64_t size, uint64_t tag)
{
	return type | len << 4 | size << 8 | tag << 12;
}
static uint64_t type_of(uint64_t w)
{
	return w & 15;
}
static uint64_t len_of(uint64_t w)
{
	return (w >> 4) & 15;
}
static uint64_t size_of(uint64_t w)
{
	return (w >> 8) & 15;
}
static uint64_t tag_of(uint64_t w)
{
	return w >> 12;
}

struct stream : rl::test_suite<stream, WRITERS + 1> {
	sr_a64 tail, head, hint;
	sr_a64 hdr[AREA + 1];       // header words at record starts
	rl::var<int> payload[AREA]; // payload words

	void before()
	{
		tail($).store(0, rl::mo_relaxed);
		head($).store(0, rl::mo_relaxed);
		hint($).store(0, rl::mo_relaxed);
		for (int i = 0; i <= AREA; i++)
			hdr[i]($).store(0, rl::mo_relaxed);
		for (int i = 0; i < AREA; i++)
			payload[i]($) = 0;
	}

	// close_last: close the last record (word w at rec), giving back the
	// room it does not use.
	void close_last(uint64_t rec, uint64_t w, uint64_t me)
	{
		uint64_t len = len_of(w), size = size_of(w), fit = 1 + len;
		if (fit >= size) {
			sc_close(&hdr[rec], w, word(CLOSED, len, size, tag_of(w)));
			return;
		}
		if (!sc_take(&hdr[rec], w, word(GIVING, len, size, me)))
			return;
		uint64_t t = rec + size;
		bool back = cas_acq_rel(&tail, &t, rec + fit);
		sc_publish(&hdr[rec], word(CLOSED, len, back ? fit : size, tag_of(w)));
	}

	// append: true when the value went into the last record.
	bool append(int value, uint64_t me)
	{
		for (int spins = 0;; spins++) {
			uint64_t at = ld_relaxed(&hint);
			uint64_t w = sc_look(&hdr[at]);
			uint64_t type = type_of(w), len = len_of(w), size = size_of(w);
			if ((type != OPEN && type != BUSY) || ld_relaxed(&tail) != at + size)
				return false;
			if (type == BUSY) {
				if (spins == SPINS)
					return false;
				rl::yield(1, $);
				continue;
			}
			if (1 + len == size) { // no room for a word
				close_last(at, w, me);
				return false;
			}
			if (sc_take(&hdr[at], w, word(BUSY, len, size, me))) {
				RL_ASSERT(ld_relaxed(&tail) - at <= AREA); // no lap here
				payload[at + 1 + len]($) = value;
				sc_publish(&hdr[at], word(OPEN, len + 1, size, me));
				return true;
			}
			if (spins == SPINS)
				return false;
		}
	}

	// start_record: a new record of a chunk behind the tail.
	void start_record(int value, uint64_t me)
	{
		uint64_t t = ld_relaxed(&tail);
		while (!cas_acq_rel(&tail, &t, t + CHUNK)) {
		}
		RL_ASSERT(t + CHUNK <= AREA);
		st_relaxed(&hdr[t], word(BUSY, 0, CHUNK, me));
		sc_raise_last(&hint, t, AREA);
		payload[t + 1]($) = value;
		sc_publish(&hdr[t], word(OPEN, 1, CHUNK, me));
	}

	void thread(unsigned id)
	{
		if (id < WRITERS) {
			for (int k = 1; k <= WRITES; k++) {
				int value = (int)(id + 1) * 10 + k;
				if (!append(value, id + 1))
					start_record(value, id + 1);
			}
			return;
		}
		// the reader
		int next[WRITERS] = { 1, 1 }, got = 0;
		uint64_t h = 0, off = 0;
		while (got < WRITERS * WRITES) {
			uint64_t w = sc_look(&hdr[h]);
			uint64_t type = type_of(w), len = len_of(w), size = size_of(w);
			if (w == 0) {
				rl::yield(1, $);
				continue;
			}
			if (off < len) {
				int v = payload[h + 1 + off]($);
				int writer = v / 10 - 1;
				RL_ASSERT(writer >= 0 && writer < WRITERS);
				RL_ASSERT(v % 10 == next[writer]);
				next[writer]++;
				got++;
				off++;
				continue;
			}
			if (type == CLOSED) { // pass it: zero it, give the head back
				for (uint64_t i = h + 1; i < h + size; i++)
					payload[i]($) = 0;
				st_relaxed(&hdr[h], 0);
				h += size;
				off = 0;
				st_release(&head, h);
				continue;
			}
			if (type == OPEN && ld_acquire(&tail) - h > size) {
				sc_close(&hdr[h], w, word(CLOSED, len, size, tag_of(w)));
				continue;
			}
			rl::yield(1, $);
		}
	}
};

int main()
{
	return check<stream>(500000) ? 0 : 1;
}
