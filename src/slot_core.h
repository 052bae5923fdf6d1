/* SPDX-License-Identifier: MIT */
/*
 * slot_core.h - the core of the slot engine (ring_slot.c): Vyukov's sequence
 * protocol and our reservation marks, over the atomics.h names only, so that
 * tests/model/model_mpmc.cpp checks this very code under Relacy.
 *
 * A slot's sequence word says whose turn it is at position pos:
 *   seq == pos            the producer of pos may write it
 *   seq == pos + 1        the consumer of pos may read it
 *   seq := pos + nslots   (stored by that consumer) the producer of the next lap
 * Each side claims pos with a CAS on its own position counter; resv names the
 * claim before the CAS publishes it, so a peer can tell a dead claimant's slot
 * from a slow one's (ring_slot.c, "Deaths").
 *
 * SR_MODEL_RELAXED_DONE and SR_MODEL_RELAXED_LOOK weaken one ordering each,
 * for the model check to show it then finds the data race. Never define them
 * in a build of the library.
 */
#ifndef SHMRING_SLOT_CORE_H
#define SHMRING_SLOT_CORE_H

#include "atomics.h"

#ifndef SR_CRASH
#define SR_CRASH(id) ((void)0)
#endif
#ifndef SR_RESV_NONE
#define SR_RESV_NONE UINT64_MAX
#endif

#define SQ_PRODUCER 0u /* a slot is ready for its producer at seq == pos */
#define SQ_CONSUMER 1u /* ... and for its consumer at seq == pos + 1 */

/* Is the slot of pos ready for `side`? 0: yes; -EAGAIN: not yet (the ring is
 * full for a producer, empty for a consumer); 1: the slot is a lap ahead, so
 * pos is stale (or the word is corrupt: the caller tells which). */
static inline int sq_look(sr_a64 *seq, uint64_t pos, unsigned side)
{
#ifndef SR_MODEL_RELAXED_LOOK
	uint64_t s = ld_acquire(seq); /* pairs with the other side's sq_done */
#else
	uint64_t s = ld_relaxed(seq);
#endif
	int64_t d = (int64_t)(s - (pos + side));
	return d == 0 ? 0 : d < 0 ? -EAGAIN : 1;
}

/* Claim pos on a side by CAS on that side's counter. Lock-free. */
static inline bool sq_take(sr_a64 *posp, sr_a64 *resv, uint64_t pos)
{
	st_relaxed(resv, pos);
	SR_CRASH(SLOT_RESV);
	/* acq_rel: resv is visible to whoever sees the new position (release),
	 * and the previous claimant's accesses happen before ours (acquire) */
	if (cas_acq_rel(posp, &pos, pos + 1)) {
		SR_CRASH(SLOT_TAKEN);
		return true;
	}
	st_release(resv, SR_RESV_NONE);
	return false;
}

/* Hand the slot to the other side (seq = pos + 1 after writing it,
 * pos + nslots after reading it), then drop the reservation mark. */
static inline void sq_done(sr_a64 *seq, uint64_t value, sr_a64 *resv)
{
#ifndef SR_MODEL_RELAXED_DONE
	st_release(seq, value); /* pairs with the other side's sq_look */
#else
	st_relaxed(seq, value);
#endif
	SR_CRASH(SLOT_SEQ);
	st_release(resv, SR_RESV_NONE); /* pairs with shmring__resv_held */
}

#endif /* SHMRING_SLOT_CORE_H */
