/* SPDX-License-Identifier: MIT */
/*
 * hist.c - percentiles of the log-linear histogram (hist.h).
 */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

/* Lowest value and width of bucket i: the inverse of hist_index(). */
static void bucket_range(unsigned i, uint64_t *lo, uint64_t *width)
{
	if (i < HIST_EXACT) {
		*lo = i;
		*width = 1;
		return;
	}
	unsigned shift = (i - HIST_EXACT) / HIST_SUB + 1;
	uint64_t top = (i - HIST_EXACT) % HIST_SUB + HIST_SUB;
	*lo = top << shift;
	*width = (uint64_t)1 << shift;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	/* Nearest rank, ceil(p/100 * count), in integers: in doubles 99.9 /
	 * 100 * 1000 comes to 999.0000000000001, one rank too high. p is
	 * taken in millionths of a percent. */
	uint64_t ppm = (uint64_t)llround(p * 1e6), den = 100000000u;
	unsigned __int128 num = (unsigned __int128)ppm * h->count;
	uint64_t target = (uint64_t)((num + den - 1) / den);
	if (target < 1)
		target = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		seen += h->b[i];
		if (seen >= target) {
			uint64_t lo, w;
			bucket_range(i, &lo, &w);
			uint64_t v = lo + (w - 1) / 2;
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}
