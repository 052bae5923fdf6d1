/* SPDX-License-Identifier: MIT */
/*
 * hist.h - a log-linear latency histogram, in the manner of HdrHistogram:
 * values below 128 are exact; above, each power of two [2^k, 2^(k+1)) is
 * cut into 64 equal buckets, so a recorded value is known to within 1/64
 * (reported at its bucket's midpoint: within 1/128). Recording is a few
 * instructions and percentiles need no sorting. Fixed size (about 30 KiB),
 * no pointers: it lives in the shared control page and is written by the
 * latency client and read by the top-level process.
 */
#ifndef SHMRING_BENCH_HIST_H
#define SHMRING_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS) /* 64 per octave */
#define HIST_EXACT (2u * HIST_SUB)     /* 0..127 exact */
#define HIST_NBUCKETS (HIST_EXACT + (63u - HIST_SUB_BITS) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t min, max;
	double sum;
	uint64_t b[HIST_NBUCKETS];
};

static inline unsigned hist_index(uint64_t v)
{
	if (v < HIST_EXACT)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 7 */
	unsigned shift = msb - HIST_SUB_BITS;              /* >= 1 */
	return HIST_EXACT + (shift - 1) * HIST_SUB + (unsigned)(v >> shift) - HIST_SUB;
}

static inline void hist_record(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += (double)v;
}

void hist_reset(struct hist *h);
/* The value at percentile p (0 < p <= 100): the midpoint of the bucket that
 * holds the ceil(p% * count)-th smallest sample, clamped to [min, max]. */
uint64_t hist_percentile(const struct hist *h, double p);

#endif /* SHMRING_BENCH_HIST_H */
