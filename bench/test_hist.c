/* SPDX-License-Identifier: MIT */
/*
 * test_hist.c - the histogram's percentiles against the nearest rank,
 * ceil(p/100 x n), computed here by counting: values 1..n each once are
 * exact below 128, so the percentile of those is the rank itself. In
 * doubles p99.9 of 1000 samples came to rank 1000 (99.9 / 100 * 1000 is
 * 999.0000000000001), the maximum.
 */
#include "hist.h"

#include <stdio.h>
#include <stdlib.h>

static int failures;

static void expect(const char *what, uint64_t got, uint64_t want)
{
	if (got != want) {
		printf("FAIL %s: %llu, expected %llu\n", what, (unsigned long long)got,
		       (unsigned long long)want);
		failures++;
	}
}

/* ceil(p/100 * n) for p given in thousandths of a percent, in integers. */
static uint64_t rank(unsigned p_milli, uint64_t n)
{
	return ((uint64_t)p_milli * n + 99999) / 100000;
}

int main(void)
{
	static struct hist h;
	static const unsigned ps[] = { 50000, 90000, 99000, 99900, 99990, 100000 };
	static const uint64_t ns[] = { 1, 7, 100, 125, 127 };
	for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
		uint64_t n = ns[a];
		hist_reset(&h);
		for (uint64_t v = 1; v <= n; v++)
			hist_record(&h, v);
		for (size_t b = 0; b < sizeof(ps) / sizeof(ps[0]); b++) {
			char what[64];
			snprintf(what, sizeof(what), "p%.3f of 1..%llu", ps[b] / 1000.0,
				 (unsigned long long)n);
			uint64_t r = rank(ps[b], n);
			expect(what, hist_percentile(&h, ps[b] / 1000.0), r ? r : 1);
		}
	}
	/* Ranks past the exact range: n samples, all 1 but the top k, which
	 * are 100 (exact): p is 100 exactly when its rank reaches them. */
	static const uint64_t big[] = { 1000, 10000, 20000, 100000, 1000000 };
	for (size_t a = 0; a < sizeof(big) / sizeof(big[0]); a++) {
		uint64_t n = big[a];
		for (size_t b = 0; b < sizeof(ps) / sizeof(ps[0]) - 1; b++) {
			uint64_t r = rank(ps[b], n), k = n - r; /* the top k sit above rank r */
			hist_reset(&h);
			for (uint64_t i = 0; i < n - k; i++)
				hist_record(&h, 1);
			for (uint64_t i = 0; i < k; i++)
				hist_record(&h, 100);
			char what[80];
			snprintf(what, sizeof(what), "p%.3f of %llu samples, top %llu at 100",
				 ps[b] / 1000.0, (unsigned long long)n, (unsigned long long)k);
			expect(what, hist_percentile(&h, ps[b] / 1000.0), 1);
			if (k) { /* one more at the top: the rank now lands on 100 */
				hist_reset(&h);
				for (uint64_t i = 0; i < n - k - 1; i++)
					hist_record(&h, 1);
				for (uint64_t i = 0; i < k + 1; i++)
					hist_record(&h, 100);
				expect(what, hist_percentile(&h, ps[b] / 1000.0), 100);
			}
		}
	}
	printf("%s\n", failures ? "FAILED" : "PASSED");
	return failures != 0;
}
