// SPDX-License-Identifier: MIT
//
// model_handshake.cpp - Relacy model check of the futex wait/wake handshake.
//
// Compiles src/evcount.h, the code wait.c runs, against Relacy's atomics
// (src/atomics_relacy.hpp) and explores the interleavings and weak-memory
// reorderings of wakers and waiters. The futex is modelled by what the
// kernel guarantees: FUTEX_WAIT compares the word and sleeps atomically with
// respect to FUTEX_WAKE (a mutex and a condition variable), and it may also
// return for no reason (wait.c sleeps in slices, and a signal interrupts
// it): each waiter gets one such spurious return, at a point Relacy picks. A
// lost wakeup shows as a deadlock: a waiter asleep with the data published.
//
// The `armed` word is modelled too: a waker that finds it zero skips the
// handshake. wait.c's waker loads it with no fence at all, and the waiter
// that sets a bit follows with membarrier(2), a barrier on every CPU; the
// model cannot run that, so it puts a full fence in the waker before the
// load and one after the waiter's setting of the bit (EVC_ARM_FENCE): the
// pair of fences that the asymmetric barrier stands for.
//
// Built eight times: as is (must pass), and without the waiter's fence, the
// waker's fence, the barrier after arming, the repair in evc_retire, the
// early epoch read, the waiter's look at its armed bit, or the disarmer's
// look at the sleep count (each must fail: proof that the check can see the
// bug).
#define SHMRING_RELACY 1
#include "atomics.h"
#ifdef SR_MODEL_DROP_ARM_FENCE
#define EVC_ARM_FENCE() ((void)0)
#endif
#include "evcount.h"

struct futex_model {
	rl::mutex m;
	rl::condition_variable cv;

	// spurious: this waiter may still return once without a wakeup
	void wait(sr_a32 *word, uint32_t expect, int *spurious)
	{
		if (*spurious && rl::rand(2)) {
			--*spurious;
			return;
		}
		m.lock($);
		if ((*word)($).load(rl::mo_relaxed) == expect)
			cv.wait(m, $);
		m.unlock($);
	}
	void wake()
	{
		m.lock($);
		cv.notify_all($);
		m.unlock($);
	}
};

// One event count: the mask and epoch of a wait line, and the sleep counts
// of two endpoints (bits 1 and 2).
struct line {
	sr_a64 mask;
	sr_a64 armed;
	sr_a32 epoch;
	sr_a32 n[2];
	futex_model fx;

	void init()
	{
		mask($).store(0, rl::mo_relaxed);
		armed($).store(0, rl::mo_relaxed);
		epoch($).store(0, rl::mo_relaxed);
		n[0]($).store(0, rl::mo_relaxed);
		n[1]($).store(0, rl::mo_relaxed);
	}

	// the waker's half of wait.c, after publishing: shmring__wake skips
	// while armed reads zero (the fence stands for membarrier's)
	void wake()
	{
#ifndef SR_MODEL_DROP_WAKER_FENCE
		fence_full(); /* the waker's side of both pairs: dropped with the other */
#endif
		if (armed($).load(rl::mo_relaxed) == 0)
			return;
		if (evc_must_wake(&mask, false)) {
			evc_bump(&epoch);
			fx.wake();
		}
	}

	// wait.c's reap_sleepers: a waker that woke nobody many times clears
	// the mask and wakes the line
	void reap()
	{
		uint64_t m = mask($).load(rl::mo_relaxed);
		if (!m)
			return;
		fetch_and_seqcst(&mask, ~m);
		evc_bump(&epoch);
		fx.wake();
	}

	// the loop of wait.c, for endpoint ep, until ready() holds
	// fenced: this waiter armed before (wait.c's flag of its handle)
	template <class F> void await(int ep, F ready, bool fenced = false)
	{
		uint64_t bit = (uint64_t)1 << (ep + 1);
		int spurious = 1;
		for (;;) {
			if (ready())
				return;
			uint32_t e = evc_announce(&mask, bit, &n[ep], &epoch, false);
			evc_arm(&armed, bit, fenced);
			fenced = true;
			if (ready()) {
				if (evc_retire(&mask, bit, &n[ep])) {
					evc_bump(&epoch);
					fx.wake();
				}
				return;
			}
			fx.wait(&epoch, e, &spurious);
			if (evc_retire(&mask, bit, &n[ep])) {
				evc_bump(&epoch);
				fx.wake();
			}
		}
	}
};

// One message on one line: thread 0 publishes it, the others wait for it
// (the suites below say who waits as which endpoint).
template <class Self, int Threads> struct one_message : rl::test_suite<Self, Threads> {
	line l;
	rl::atomic<int> data;

	void before()
	{
		l.init();
		data($).store(0, rl::mo_relaxed);
	}

	void publish()
	{
		data($).store(1, rl::mo_release);
		l.wake();
	}

	void receive(int ep, bool fenced = false)
	{
		l.await(ep, [&] { return data($).load(rl::mo_acquire) != 0; }, fenced);
	}
};

// One message; the waiter sleeps until it sees it.
struct one_wakeup : one_message<one_wakeup, 2> {
	void thread(unsigned id)
	{
		if (id == 0)
			publish();
		else
			receive(0);
	}
};

// Two rounds of ping-pong: each side waits for the other's message, so each
// side is waker and waiter in turn, on two event counts (data and room).
struct ping_pong : rl::test_suite<ping_pong, 2> {
	line l[2];
	rl::atomic<int> box[2];

	void before()
	{
		for (int i = 0; i < 2; i++) {
			l[i].init();
			box[i]($).store(0, rl::mo_relaxed);
		}
	}

	void send(int d, int v)
	{
		box[d]($).store(v, rl::mo_release);
		l[d].wake();
	}

	void await(int d, int v)
	{
		l[d].await(0, [&] { return box[d]($).load(rl::mo_acquire) == v; });
	}

	void thread(unsigned id)
	{
		for (int round = 1; round <= 2; round++) {
			if (id == 0) {
				send(0, round);
				await(1, round);
			} else {
				await(0, round);
				send(1, round);
			}
		}
	}
};

// Two processes that share one endpoint (a single-side end inherited across
// fork) wait at once: one's retire may clear the bit the other has just set.
struct shared_endpoint : one_message<shared_endpoint, 3> {
	void thread(unsigned id)
	{
		if (id == 0)
			publish();
		else
			receive(0);
	}
};

// Two endpoints, each with its own bit: the one that leaves first must not
// take the other's announcement with it.
struct two_endpoints : one_message<two_endpoints, 3> {
	void thread(unsigned id)
	{
		if (id == 0)
			publish();
		else
			receive((int)id - 1);
	}
};

// A third party clears the mask at any moment (wait.c's reap_sleepers): a
// live waiter may lose its bit, never its wakeup.
struct reaper : one_message<reaper, 3> {
	void thread(unsigned id)
	{
		if (id == 0)
			publish();
		else if (id == 1)
			receive(0);
		else
			l.reap();
	}
};

// Two holders of one endpoint (a handle and its copy in a forked process),
// both armed: one has stayed awake and gives the bit back (wait.c's
// disarm) while the other goes to sleep counting on it.
struct disarm_sharer : one_message<disarm_sharer, 3> {
	void before()
	{
		one_message<disarm_sharer, 3>::before();
		l.armed($).store((uint64_t)1 << 1, rl::mo_relaxed);
	}
	void thread(unsigned id)
	{
		if (id == 0) {
			publish();
		} else if (id == 1) {
			if (!evc_disarm(&l.armed, (uint64_t)1 << 1, &l.n[0], nullptr)) {
				evc_bump(&l.epoch);
				l.fx.wake();
			}
		} else {
			receive(0, true);
		}
	}
};

int main()
{
	rl::test_params p;
	p.iteration_count = 200000;
	p.search_type = rl::random_scheduler_type;
	bool ok = rl::simulate<one_wakeup>(p);
	ok = rl::simulate<ping_pong>(p) && ok;
	ok = rl::simulate<shared_endpoint>(p) && ok;
	ok = rl::simulate<two_endpoints>(p) && ok;
	ok = rl::simulate<reaper>(p) && ok;
	ok = rl::simulate<disarm_sharer>(p) && ok;
	rl::test_params full;
	full.search_type = rl::fair_context_bound_scheduler_type;
	full.context_bound = 3;
	ok = rl::simulate<one_wakeup>(full) && ok;
	return ok ? 0 : 1;
}
