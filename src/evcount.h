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
 * A waker whose `armed` word (layout.h) reads zero skips all of this; the
 * arming of an endpoint before it sleeps, and the disarming by one that has
 * stayed awake, are here too (evc_arm, evc_disarm; wait.c, "Arming").
 *
 * SR_MODEL_DROP_WAITER_FENCE, SR_MODEL_DROP_WAKER_FENCE,
 * SR_MODEL_NO_RETIRE_REPAIR, SR_MODEL_EPOCH_AFTER_ANNOUNCE,
 * SR_MODEL_NO_ARM_CHECK and SR_MODEL_NO_DISARM_RESTORE exist only for the
 * model check, to show that it finds the lost wakeup when either fence, the
 * repair in evc_retire, the waiter's look at its armed bit or the disarmer's
 * look at the sleep count is missing, or the epoch is read late. Never
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
/* The barrier after an armed bit is set: it must also order the stores of a
 * waker that skips the handshake without any fence while `armed` reads zero.
 * wait.c: membarrier(2) (shmring__fence_heavy); the model check: a full
 * fence, with a full fence in its waker before the load of `armed` standing
 * for the barrier that membarrier forces on the waker's CPU. */
#ifndef EVC_ARM_FENCE
#define EVC_ARM_FENCE() fence_full()
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

/* After evc_announce, before the re-check: make sure that wakers do not
 * skip us. `fenced`: this holder of the endpoint set the bit and passed the
 * barrier itself, and has not given the bit back since (the flag of its
 * handle in wait.c). Another holder (a copy of the handle in a forked
 * process) may have cleared the bit since (evc_disarm), so look at the bit
 * itself, every time. A bit that another holder has just set is not enough
 * either: its barrier may still be on its way, and our re-check could come
 * before it and miss what a skipping waker published; so a holder that has
 * not passed the barrier itself passes it now. Returns true if it did.
 *
 * The look comes after our count in *n (evc_announce's fence): either the
 * disarmer's load of the count, after its clear, sees us and puts the bit
 * back, or this load sees the clear and we set the bit again.
 *
 * A fenced holder can still find a bit that a third holder has set again
 * after a clear, its barrier on the way, and miss in its re-check what a
 * waker published while the bit was clear: then that third holder, which
 * sleeps for the same endpoint, sees it after its barrier, and the endpoint
 * does not stall. (Two holders of a single-side endpoint do not wait at
 * once anyway, API.md; the writers of a stream may.) */
static inline bool evc_arm(sr_a64 *armed, uint64_t bit, bool fenced)
{
#ifndef SR_MODEL_NO_ARM_CHECK
	if (fenced && (ld_seqcst(armed) & bit)) /* pairs with the fetch_and in evc_disarm */
		return false;
#else
	if (fenced)
		return false;
#endif
	fetch_or_seqcst(armed, bit); /* a skipping waker's load of armed sees it... */
	EVC_ARM_FENCE();             /* ...or its publication is seen by our re-check */
	return true;
}

/* An endpoint's holder that has stayed awake gives the bit back, so that
 * wakers skip the handshake again. Another holder of the endpoint may be
 * asleep, or about to sleep, counting on the bit: it counted itself in *n
 * (evc_announce) before it looked at the bit (evc_arm), and a poller has
 * published its pid in *polled before it looked (poll.c). We clear the bit
 * before we look at them. If one is there, the bit goes back, barrier and
 * all, and we return false: a waker may have skipped while it was clear, so
 * the caller bumps the epoch and wakes the line (and signals pollers), and
 * whoever was asleep re-checks the ring. */
static inline bool evc_disarm(sr_a64 *armed, uint64_t bit, sr_a32 *n, sr_a32 *polled)
{
	fetch_and_seqcst(armed, ~bit); /* pairs with the load in evc_arm */
#ifndef SR_MODEL_NO_DISARM_RESTORE
	if (ld_seqcst(n) == 0 && (!polled || ld_seqcst(polled) == 0))
#else
	(void)n, (void)polled;
#endif
		return true;
	fetch_or_seqcst(armed, bit);
	EVC_ARM_FENCE();
	return false;
}

#endif /* SHMRING_EVCOUNT_H */
