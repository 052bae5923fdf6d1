/* SPDX-License-Identifier: MIT */
/*
 * atomics.h - the handful of ordering helpers the algorithms use.
 *
 * Every shared word is an _Atomic fixed-width integer (see layout.h), and every
 * access to one goes through these helpers, so the orderings are spelled out
 * at each call site and a model checker (or another atomics back end) can be
 * slotted in here. Algorithm files use nothing else: no volatile, no raw
 * builtins. Each acquire names its release partner in a comment at its call
 * site, and vice versa.
 */
#ifndef SHMRING_ATOMICS_H
#define SHMRING_ATOMICS_H

#ifdef SHMRING_RELACY
/* The same names over Relacy's atomics, for the model checks in
 * tests/model/: the algorithm code is compiled unchanged against both. */
#include "atomics_relacy.hpp"
#else

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t sr_a64;
typedef _Atomic uint32_t sr_a32;

#define ld_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define ld_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define st_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define st_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define fetch_add_seqcst(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define fetch_sub_seqcst(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_seq_cst)
#define fetch_or_seqcst(p, v) atomic_fetch_or_explicit((p), (v), memory_order_seq_cst)
#define fetch_and_seqcst(p, v) atomic_fetch_and_explicit((p), (v), memory_order_seq_cst)
#define ld_seqcst(p) atomic_load_explicit((p), memory_order_seq_cst)
/* Compare-and-swap that publishes what came before it (release) and sees what
 * the previous winner published (acquire). On failure *expected is refreshed. */
#define cas_acq_rel(p, expected, desired)                                                  \
	atomic_compare_exchange_strong_explicit((p), (expected), (desired),                \
						memory_order_acq_rel, memory_order_acquire)
/* Compare-and-swap of a word that orders nothing (a hint). */
#define cas_relaxed(p, expected, desired)                                                         \
	atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_relaxed, \
						memory_order_relaxed)
/* The full fence of the wait/wake handshake (wait.c): a store before it and a
 * load after it are not reordered. Compiles to one locked instruction on x86. */
#define fence_full() atomic_thread_fence(memory_order_seq_cst)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif /* SHMRING_RELACY */
#endif /* SHMRING_ATOMICS_H */
