// SPDX-License-Identifier: MIT
//
// model_handshake.cpp - Relacy model check of the futex wait/wake handshake.
//
// Compiles src/evcount.h, the code wait.c runs, against Relacy's atomics
// (src/atomics_relacy.hpp) and explores the interleavings and weak-memory
// reorderings of one waker and one waiter. The futex is modelled by what the
// kernel guarantees: FUTEX_WAIT compares the word and sleeps atomically with
// respect to FUTEX_WAKE (a mutex and a condition variable). A lost wakeup
// shows as a deadlock: the waiter asleep with the data published.
//
// Built three times: as is (must pass), and without the waiter's or the
// waker's fence (each must fail: proof the check can see the bug).
#define SHMRING_RELACY 1
#include "atomics.h"
#include "evcount.h"

struct futex_model {
	rl::mutex m;
	rl::condition_variable cv;

	void wait(sr_a32 *word, uint32_t expect)
	{
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

// One message; the waiter sleeps until it sees it.
struct one_wakeup : rl::test_suite<one_wakeup, 2> {
	sr_a32 sleepers, epoch;
	rl::atomic<int> data;
	futex_model fx;

	void before()
	{
		sleepers($).store(0, rl::mo_relaxed);
		epoch($).store(0, rl::mo_relaxed);
		data($).store(0, rl::mo_relaxed);
	}

	void thread(unsigned id)
	{
		if (id == 0) { // waker: publish, then wake if anybody sleeps
			data($).store(1, rl::mo_release);
			if (evc_must_wake(&sleepers)) {
				evc_bump(&epoch);
				fx.wake();
			}
		} else { // waiter: the loop of wait.c
			for (;;) {
				if (data($).load(rl::mo_acquire))
					break;
				uint32_t e = evc_announce(&sleepers, &epoch);
				if (data($).load(rl::mo_acquire)) {
					evc_retire(&sleepers);
					break;
				}
				fx.wait(&epoch, e);
				evc_retire(&sleepers);
			}
		}
	}
};

// Two rounds of ping-pong: each side waits for the other's message, so each
// side is waker and waiter in turn, on two event counts (data and room).
struct ping_pong : rl::test_suite<ping_pong, 2> {
	sr_a32 sleepers[2], epoch[2];
	rl::atomic<int> box[2];
	futex_model fx[2];

	void before()
	{
		for (int i = 0; i < 2; i++) {
			sleepers[i]($).store(0, rl::mo_relaxed);
			epoch[i]($).store(0, rl::mo_relaxed);
			box[i]($).store(0, rl::mo_relaxed);
		}
	}

	void send(int d, int v)
	{
		box[d]($).store(v, rl::mo_release);
		if (evc_must_wake(&sleepers[d])) {
			evc_bump(&epoch[d]);
			fx[d].wake();
		}
	}

	void await(int d, int v)
	{
		for (;;) {
			if (box[d]($).load(rl::mo_acquire) == v)
				return;
			uint32_t e = evc_announce(&sleepers[d], &epoch[d]);
			if (box[d]($).load(rl::mo_acquire) == v) {
				evc_retire(&sleepers[d]);
				return;
			}
			fx[d].wait(&epoch[d], e);
			evc_retire(&sleepers[d]);
		}
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

int main()
{
	rl::test_params p;
	p.iteration_count = 200000;
	p.search_type = rl::random_scheduler_type;
	bool ok = rl::simulate<one_wakeup>(p);
	ok = rl::simulate<ping_pong>(p) && ok;
	rl::test_params full;
	full.search_type = rl::fair_context_bound_scheduler_type;
	full.context_bound = 3;
	ok = rl::simulate<one_wakeup>(full) && ok;
	return ok ? 0 : 1;
}
