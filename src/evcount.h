/* SPDX-License-Identifier: MIT */
/*
 * evcount.h - the two halves of the wait/wake handshake (see wait.c), over
 * the atomics.h names only, so that the model check in tests/model/ runs
 * this code itself against Relacy.
 *
 *   waiter: evc_announce() -> re-check the ring -> FUTEX_WAIT(epoch, e)
 *           -> evc_retire() (true: evc_bump() + FUTEX_WAKE, see there)
 *   waker:  publish (release) -> evc_must_wake() ? evc_bump() + FUTEX_WAKE
 *
 * Who sleeps is a mask with a bit per endpoint (layout.h), and per endpoint a
 * count of its threads asleep (usually one: a handle is used by one thread,
 * but the processes that share a single-side endpoint after fork may wait
 * at once). A waker loads the mask; the reaper of a dead endpoint clears its
 * bit, which is exact whatever instruction the dead died at.
 *
 * SR_MODEL_DROP_WAITER_FENCE, SR_MODEL_DROP_WAKER_FENCE,
 * SR_MODEL_NO_RETIRE_REPAIR and SR_MODEL_EPOCH_AFTER_ANNOUNCE exist only for
 * the model check, to show that it finds the lost wakeup when either fence
 * or the repair in evc_retire is missing, or the epoch is read late. Never
 * define them in a build of the library.
 */
#ifndef SHMRING_EVCOUNT_H
#define SHMRING_EVCOUNT_H

#include "atomics.h"

/* The two fences of the handshake. They must together order each side's
 * store before its load, as a pair of full fences does (the default, and
 * what the model check runs). On SHMRING_FENCE_FREE rings wait.c makes them
 * asymmetric: nothing but a compiler barrier for the waker (`light`), which
 * runs once per message, and for the waiter (`heavy`), which runs only before
 * it sleeps, membarrier(2) MEMBARRIER_CMD_GLOBAL_EXPEDITED, a full barrier on
 * every CPU that runs a thread of a registered process (folly's asymmetric
 * fences). */
#ifndef EVC_WAITER_FENCE
#define EVC_WAITER_FENCE(heavy) ((void)(heavy), fence_full())
#endif
#ifndef EVC_WAKER_FENCE
#define EVC_WAKER_FENCE(light) ((void)(light), fence_full())
#endif

/* Announce a sleeper of the endpoint that owns `bit` and counts its sleepers
 * in *n; returns the epoch to sleep on. The caller re-checks its condition
 * after this and sleeps only if it still does not hold.
 *
 * The epoch is read first, as an eventcount's ticket: whoever bumps it after
 * that makes the FUTEX_WAIT return at once. Read after the announcement, it
 * could see the bump of a third party that cleared our bit just before
 * (reap_sleepers in wait.c, evc_retire's repair), and we would sleep with
 * no bit set and no wakeup to come. */
static inline uint32_t evc_announce(sr_a64 *mask, uint64_t bit, sr_a32 *n, sr_a32 *epoch,
				    bool heavy)
{
#ifndef SR_MODEL_EPOCH_AFTER_ANNOUNCE
	uint32_t e = ld_acquire(epoch); /* pairs with the waker's evc_bump */
#endif
	fetch_add_seqcst(n, 1);
	fetch_or_seqcst(mask, bit); /* the announcement; a waker's load of mask sees it */
#ifdef SR_MODEL_EPOCH_AFTER_ANNOUNCE
	uint32_t e = ld_acquire(epoch);
#endif
#ifndef SR_MODEL_DROP_WAITER_FENCE
	EVC_WAITER_FENCE(heavy); /* the announcement before the re-check; pairs with evc_must_wake */
#else
	(void)heavy;
#endif
	return e;
}

/* Done waiting. The last sleeper of an endpoint clears its bit; another
 * sharer of the endpoint may have announced between our decrement and the
 * clear, and a waker in that window saw no bit: then set it again and
 * return true, and the caller bumps the epoch and wakes, so that the sharer
 * re-checks the ring (a spurious wakeup at worst, never a lost one). */
static inline bool evc_retire(sr_a64 *mask, uint64_t bit, sr_a32 *n)
{
	if (fetch_sub_seqcst(n, 1) != 1)
		return false;
	fetch_and_seqcst(mask, ~bit);
	/* seq_cst after the clear: sees a sharer's increment that preceded
	 * its fetch_or, if our clear came after that fetch_or */
#ifndef SR_MODEL_NO_RETIRE_REPAIR
	if (ld_seqcst(n) == 0)
#endif
		return false;
	fetch_or_seqcst(mask, bit);
	return true;
}

/* After publishing: does anybody sleep (or is about to) who must be woken?
 * `light`: every waiter makes the heavy barrier (see EVC_WAITER_FENCE). */
static inline bool evc_must_wake(sr_a64 *mask, bool light)
{
#ifndef SR_MODEL_DROP_WAKER_FENCE
	EVC_WAKER_FENCE(light); /* the publication before the load; pairs with evc_announce */
#else
	(void)light;
#endif
	return ld_relaxed(mask) != 0;
}

/* Before FUTEX_WAKE: a waiter between announce and FUTEX_WAIT sees a new
 * epoch and does not sleep. */
static inline void evc_bump(sr_a32 *epoch)
{
	fetch_add_seqcst(epoch, 1);
}

#endif /* SHMRING_EVCOUNT_H */
