// SPDX-License-Identifier: MIT
//
// model_mpmc.cpp - Relacy model check of the slot engine's core
// (src/slot_core.h: sq_look, sq_take, sq_done), the code ring_slot.c runs.
//
// Two producers and two consumers share a queue of two slots; each producer
// sends two items. Relacy explores interleavings and weak-memory reorderings
// and checks: every item arrives exactly once, each producer's items in its
// order to any one consumer, and no data race on a slot's payload (an
// rl::var: a read not ordered after its write, or a write not ordered after
// the previous lap's read, is reported).
//
// Variants, each of which must fail: the sequence store relaxed
// (SR_MODEL_RELAXED_DONE) and the sequence load relaxed (SR_MODEL_RELAXED_LOOK).
#define SHMRING_RELACY 1
#include "atomics.h"
#include <errno.h>
#include "slot_core.h"

enum { NSLOTS = 2, PRODUCERS = 2, CONSUMERS = 2, ITEMS = 2 };

struct mpmc : rl::test_suite<mpmc, PRODUCERS + CONSUMERS> {
	sr_a64 enq, deq;
	sr_a64 seq[NSLOTS];
	rl::var<int> payload[NSLOTS];
	sr_a64 resv[PRODUCERS + CONSUMERS];
	rl::atomic<int> got[PRODUCERS * ITEMS];
	rl::atomic<int> taken;

	void before()
	{
		enq($).store(0, rl::mo_relaxed);
		deq($).store(0, rl::mo_relaxed);
		for (int i = 0; i < NSLOTS; i++)
			seq[i]($).store((uint64_t)i, rl::mo_relaxed);
		for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
			resv[i]($).store(SR_RESV_NONE, rl::mo_relaxed);
		for (int i = 0; i < PRODUCERS * ITEMS; i++)
			got[i]($).store(0, rl::mo_relaxed);
		taken($).store(0, rl::mo_relaxed);
	}

	void after()
	{
		for (int i = 0; i < PRODUCERS * ITEMS; i++)
			RL_ASSERT(got[i]($).load(rl::mo_relaxed) == 1);
	}

	// ring_slot.c take_free(): claim a slot to write
	uint64_t produce_claim(unsigned me)
	{
		for (;;) {
			uint64_t pos = enq($).load(rl::mo_relaxed);
			int rc = sq_look(&seq[pos % NSLOTS], pos, SQ_PRODUCER);
			if (rc < 0) { // full: wait for a consumer
				rl::yield(1, $);
				continue;
			}
			if (rc > 0)
				continue; // stale position
			if (sq_take(&enq, &resv[me], pos))
				return pos;
		}
	}

	// ring_slot.c next_msg(): claim a slot to read; false when all are taken
	bool consume_claim(unsigned me, uint64_t *out)
	{
		for (;;) {
			if (taken($).load(rl::mo_relaxed) >= PRODUCERS * ITEMS)
				return false;
			uint64_t pos = deq($).load(rl::mo_relaxed);
			if (pos >= PRODUCERS * ITEMS)
				return false;
			int rc = sq_look(&seq[pos % NSLOTS], pos, SQ_CONSUMER);
			if (rc < 0) {
				rl::yield(1, $);
				continue;
			}
			if (rc > 0)
				continue;
			if (sq_take(&deq, &resv[me], pos)) {
				*out = pos;
				return true;
			}
		}
	}

	void thread(unsigned id)
	{
		if (id < PRODUCERS) {
			for (int i = 0; i < ITEMS; i++) {
				uint64_t pos = produce_claim(id);
				payload[pos % NSLOTS]($) = (int)(id * ITEMS + i) + 1;
				sq_done(&seq[pos % NSLOTS], pos + 1, &resv[id]);
			}
		} else {
			int last[PRODUCERS] = {-1, -1};
			uint64_t pos;
			while (consume_claim(id, &pos)) {
				int v = payload[pos % NSLOTS]($) - 1;
				sq_done(&seq[pos % NSLOTS], pos + NSLOTS, &resv[id]);
				taken($).fetch_add(1, rl::mo_relaxed);
				RL_ASSERT(v >= 0 && v < PRODUCERS * ITEMS);
				got[v]($).fetch_add(1, rl::mo_relaxed);
				int p = v / ITEMS, seqno = v % ITEMS;
				RL_ASSERT(seqno > last[p]); // per-producer order
				last[p] = seqno;
			}
		}
	}
};

int main()
{
	rl::test_params p;
	p.iteration_count = 300000;
	p.search_type = rl::random_scheduler_type;
	return rl::simulate<mpmc>(p) ? 0 : 1;
}
