// SPDX-License-Identifier: MIT
//
// model_spsc.cpp - Relacy model check of the record engine's orderings
// (src/rec_core.h: rc_room, rc_clear_next, rc_publish, rc_look,
// rc_give_back), the code ring_rec.c runs for SPSC (and MPSC) rings.
//
// Two suites over a ring of three records of one payload word each; the
// producer sends five messages, so the ring wraps and the producer reuses
// records the consumer has just read.
//  - sp: ring_rec.c's SP protocol. The producer clears the header word past
//    its record (rc_clear_next) before it publishes it, and asks room for the
//    record and that word; the consumer writes nothing into the data area.
//  - zeroing: the MP protocol's consumer side. The consumer zeroes what it
//    consumed before it gives it back; the producer clears nothing.
//  - group: the SP sendv (sp_sendv): messages go out in pairs, the second
//    record published first and the first record's header last, then the
//    tail; the first record's next word is the second's header.
// Checks: every message arrives once and in order (a header of the previous
// lap read as new fails), and no data race on a record's payload (an
// rl::var): the consumer's read must be ordered after the write (rc_publish/
// rc_look), and the next lap's write after the read and the zeroing
// (rc_give_back/rc_room).
//
// Variants, each of which must fail: a relaxed publish, a relaxed give-back,
// no clear of the next word (fails sp), a group's first header published
// first (fails group: the consumer reads the second record's slot stale).
#define SHMRING_RELACY 1
#include "atomics.h"
#include <errno.h>
#include "rec_core.h"
#include "model_check.h"

enum { REC = 2, CAP = 3 * REC, MSGS = 5 }; // positions count words here

enum style { SP_ONE, ZEROING, SP_GROUP };

template <style S> struct spsc : rl::test_suite<spsc<S>, 2> {
	static const bool SP = S != ZEROING;
	sr_a64 head, tail;
	sr_a64 hdr[CAP]; // header words (only even indices used)
	rl::var<int> payload[CAP];

	void before()
	{
		head($).store(0, rl::mo_relaxed);
		tail($).store(0, rl::mo_relaxed);
		for (int i = 0; i < CAP; i++) {
			hdr[i]($).store(0, rl::mo_relaxed);
			payload[i]($) = 0;
		}
	}

	void thread(unsigned id)
	{
		if (id == 0 && S == SP_GROUP) { // producer: ring_rec.c sp_sendv()
			uint64_t cached = 0;
			for (int m = 1; m <= MSGS; m += 2) {
				uint64_t t = tail($).load(rl::mo_relaxed), h;
				int k = m < MSGS ? 2 : 1, rc;
				while ((rc = rc_room(&head, &cached, t, k * REC + 1, CAP, &h)) ==
				       -EAGAIN)
					rl::yield(1, $);
				RL_ASSERT(rc == 0);
				for (int j = 0; j < k; j++)
					payload[(t + j * REC + 1) % CAP]($) = m + j;
				rc_clear_next(&hdr[(t + k * REC) % CAP]);
#ifndef SR_MODEL_GROUP_FIRST_EARLY
				if (k == 2)
					rc_publish(&hdr[(t + REC) % CAP], (uint64_t)(m + 1));
				rc_publish(&hdr[t % CAP], (uint64_t)m);
#else
				rc_publish(&hdr[t % CAP], (uint64_t)m);
				if (k == 2)
					rc_publish(&hdr[(t + REC) % CAP], (uint64_t)(m + 1));
#endif
				tail($).store(t + k * REC, rl::mo_release);
			}
		} else if (id == 0) { // producer: ring_rec.c reserve() + publish()
			uint64_t cached = 0;
			const uint64_t need = SP ? REC + 1 : REC;
			for (int m = 1; m <= MSGS; m++) {
				uint64_t t = tail($).load(rl::mo_relaxed), h;
				int rc;
				while ((rc = rc_room(&head, &cached, t, need, CAP, &h)) == -EAGAIN)
					rl::yield(1, $);
				RL_ASSERT(rc == 0);
				payload[(t + 1) % CAP]($) = m;
				if (SP)
					rc_clear_next(&hdr[(t + REC) % CAP]);
				rc_publish(&hdr[t % CAP], (uint64_t)m);
				tail($).store(t + REC, rl::mo_release);
			}
		} else { // consumer: ring_rec.c next_msg() + consume()
			for (int m = 1; m <= MSGS; m++) {
				uint64_t h = head($).load(rl::mo_relaxed), w;
				while ((w = rc_look(&hdr[h % CAP])) == 0)
					rl::yield(1, $);
				RL_ASSERT(w == (uint64_t)m);
				RL_ASSERT(payload[(h + 1) % CAP]($) == m);
				if (!SP) { // zero what was consumed (the MP memset)
					hdr[h % CAP]($).store(0, rl::mo_relaxed);
					payload[(h + 1) % CAP]($) = 0;
				}
				rc_give_back(&head, h + REC);
			}
		}
	}
};

int main()
{
	bool ok = check<spsc<SP_ONE>>(300000);
	ok = check<spsc<ZEROING>>(300000) && ok;
	ok = check<spsc<SP_GROUP>>(300000) && ok;
	return ok ? 0 : 1;
}
