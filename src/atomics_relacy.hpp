/* SPDX-License-Identifier: MIT */
/*
 * atomics_relacy.hpp - atomics.h over the Relacy race detector (Debian
 * relacy-dev), so that tests/model/ checks the very code the library runs.
 * Included by atomics.h when SHMRING_RELACY is defined; C++ only.
 */
#ifndef SHMRING_ATOMICS_RELACY_HPP
#define SHMRING_ATOMICS_RELACY_HPP

#include <relacy/relacy.hpp>
#include <stdint.h>

typedef rl::atomic<uint64_t> sr_a64;
typedef rl::atomic<uint32_t> sr_a32;

#define ld_relaxed(p) (*(p))($).load(rl::mo_relaxed)
#define ld_acquire(p) (*(p))($).load(rl::mo_acquire)
#define st_relaxed(p, v) (*(p))($).store((v), rl::mo_relaxed)
#define st_release(p, v) (*(p))($).store((v), rl::mo_release)
#define fetch_add_relaxed(p, v) (*(p))($).fetch_add((v), rl::mo_relaxed)
#define fetch_add_seqcst(p, v) (*(p))($).fetch_add((v), rl::mo_seq_cst)
#define fetch_sub_seqcst(p, v) (*(p))($).fetch_sub((v), rl::mo_seq_cst)
#define fetch_or_seqcst(p, v) (*(p))($).fetch_or((v), rl::mo_seq_cst)
#define fetch_and_seqcst(p, v) (*(p))($).fetch_and((v), rl::mo_seq_cst)
#define ld_seqcst(p) (*(p))($).load(rl::mo_seq_cst)
#define cas_acq_rel(p, expected, desired)                                                  \
	(*(p))($).compare_exchange_strong(*(expected), (desired), rl::mo_acq_rel)
#define cas_relaxed(p, expected, desired) \
	(*(p))($).compare_exchange_strong(*(expected), (desired), rl::mo_relaxed)
#define fence_full() rl::atomic_thread_fence(rl::mo_seq_cst, $)

static inline void cpu_relax(void)
{
	rl::yield(1, $);
}

#endif
