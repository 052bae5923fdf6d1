/* SPDX-License-Identifier: MIT */
/*
 * evcount.h - the two halves of the wait/wake handshake (see wait.c), over
 * the atomics.h names only, so that the model check in tests/model/ runs
 * this code itself against Relacy.
 *
 *   waiter: evc_announce() -> re-check the ring -> FUTEX_WAIT(epoch, e)
 *           -> evc_retire()
 *   waker:  publish (release) -> evc_must_wake() ? evc_bump() + FUTEX_WAKE
 *
 * SR_MODEL_DROP_WAITER_FENCE and SR_MODEL_DROP_WAKER_FENCE exist only for
 * the model check, to show that it finds the lost wakeup when either fence
 * is missing. Never define them in a build of the library.
 */
#ifndef SHMRING_EVCOUNT_H
#define SHMRING_EVCOUNT_H

#include "atomics.h"

/* Announce a sleeper; returns the epoch to sleep on. The caller re-checks
 * its condition after this and sleeps only if it still does not hold. */
static inline uint32_t evc_announce(sr_a32 *sleepers, sr_a32 *epoch)
{
	fetch_add_seqcst(sleepers, 1);
	uint32_t e = ld_acquire(epoch); /* pairs with the waker's evc_bump */
#ifndef SR_MODEL_DROP_WAITER_FENCE
	fence_full(); /* the announcement before the re-check; pairs with evc_must_wake */
#endif
	return e;
}

static inline void evc_retire(sr_a32 *sleepers)
{
	fetch_sub_seqcst(sleepers, 1);
}

/* After publishing: does anybody sleep (or is about to) who must be woken? */
static inline bool evc_must_wake(sr_a32 *sleepers)
{
#ifndef SR_MODEL_DROP_WAKER_FENCE
	fence_full(); /* the publication before the load; pairs with evc_announce */
#endif
	return ld_relaxed(sleepers) != 0;
}

/* Before FUTEX_WAKE: a waiter between announce and FUTEX_WAIT sees a new
 * epoch and does not sleep. */
static inline void evc_bump(sr_a32 *epoch)
{
	fetch_add_seqcst(epoch, 1);
}

#endif /* SHMRING_EVCOUNT_H */
