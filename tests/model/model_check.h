// SPDX-License-Identifier: MIT
//
// model_check.h - how the model checks search: a random scheduler for
// `iterations` runs, then every schedule with at most two preemptions
// (Relacy's fair context-bound search). True when both found nothing.
#ifndef SHMRING_MODEL_CHECK_H
#define SHMRING_MODEL_CHECK_H

template <class T> static bool check(unsigned long iterations)
{
	rl::test_params p;
	p.iteration_count = iterations;
	p.search_type = rl::random_scheduler_type;
	bool ok = rl::simulate<T>(p);
	rl::test_params full;
	full.search_type = rl::fair_context_bound_scheduler_type;
	full.context_bound = 2;
	return rl::simulate<T>(full) && ok;
}

#endif
