/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - plain helpers for the tests, with no test framework: the modes,
 * clocks, a random generator, payload patterns and stamped messages. common.h
 * adds the Criterion side; test_threaded.c (which cannot use Criterion under
 * ThreadSanitizer) includes only this.
 *
 * Include it first: it defines _GNU_SOURCE before any system header.
 */
#ifndef SHMRING_TEST_UTIL_H
#define SHMRING_TEST_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"

#define T_UNUSED __attribute__((unused))
#define MS ((int64_t)1000 * 1000)
#define SEC ((int64_t)1000 * 1000 * 1000)

/* ---- Modes ------------------------------------------------------------- */

/* Our own names for failure messages, independent of shmring_mode_name(). */
static inline const char *t_mode(enum shmring_mode m)
{
	switch (m) {
	case SHMRING_SPSC:
		return "SPSC";
	case SHMRING_MPSC:
		return "MPSC";
	case SHMRING_SPMC:
		return "SPMC";
	case SHMRING_MPMC:
		return "MPMC";
	}
	return "mode?";
}

static inline int t_multi_prod(enum shmring_mode m)
{
	return m == SHMRING_MPSC || m == SHMRING_MPMC;
}

static inline int t_multi_cons(enum shmring_mode m)
{
	return m == SHMRING_SPMC || m == SHMRING_MPMC;
}

/* The least number of max_msg-byte messages a ring must hold (API.md). */
static inline size_t t_min_msgs(enum shmring_mode m, size_t capacity, size_t max_msg)
{
	size_t n = capacity / (max_msg + 64);
	return t_multi_cons(m) ? n / 2 : n;
}

/* ---- Time -------------------------------------------------------------- */

static inline int64_t t_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static inline void t_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
	}
}

/* ---- Payload patterns --------------------------------------------------- */

static inline uint64_t t_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* A xorshift generator for test decisions. */
static inline uint64_t t_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static inline void t_fill(void *buf, size_t len, uint64_t seed)
{
	unsigned char *p = (unsigned char *)buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(t_mix(seed * 131 + i / 8) >> (8 * (i % 8)));
}

/* Index of the first byte that differs from t_fill(seed), or -1. */
static inline long t_check(const void *buf, size_t len, uint64_t seed)
{
	const unsigned char *p = (const unsigned char *)buf;
	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)(t_mix(seed * 131 + i / 8) >> (8 * (i % 8))))
			return (long)i;
	return -1;
}

/* A stamped message: a 16-byte header (producer id, sequence, length, a sum
 * over the three) and a payload derived from (id, seq). */
struct t_stamp {
	uint32_t id, seq, len, sum;
};
#define T_STAMP_MIN sizeof(struct t_stamp)

static inline uint32_t t_stamp_sum(uint32_t id, uint32_t seq, uint32_t len)
{
	return (uint32_t)t_mix(((uint64_t)id << 40) ^ ((uint64_t)seq << 8) ^ len ^ 0x5eed);
}

/* Write a stamped message of `len` (>= T_STAMP_MIN) bytes into buf. */
static inline void t_stamp_make(void *buf, size_t len, uint32_t id, uint32_t seq)
{
	struct t_stamp h = { id, seq, (uint32_t)len, t_stamp_sum(id, seq, (uint32_t)len) };
	memcpy(buf, &h, sizeof(h));
	t_fill((char *)buf + sizeof(h), len - sizeof(h), ((uint64_t)id << 32) | seq);
}

/* Check a received message: 0 and its id/seq when whole, -1 when torn. */
static inline int t_stamp_check(const void *buf, size_t n, uint32_t *id, uint32_t *seq)
{
	struct t_stamp h;
	if (n < sizeof(h))
		return -1;
	memcpy(&h, buf, sizeof(h));
	if (h.len != n || h.sum != t_stamp_sum(h.id, h.seq, h.len))
		return -1;
	if (t_check((const char *)buf + sizeof(h), n - sizeof(h), ((uint64_t)h.id << 32) | h.seq) !=
	    -1)
		return -1;
	*id = h.id;
	*seq = h.seq;
	return 0;
}

/* ---- Rings -------------------------------------------------------------- */

/* SHMRING_TEST_FENCE_FREE=1 (ctest's *-fence-free variants): every ring the
 * tests make through t_cfg is a SHMRING_FENCE_FREE ring. */
static inline unsigned t_extra_flags(void)
{
	const char *v = getenv("SHMRING_TEST_FENCE_FREE");
	return v && *v && strcmp(v, "0") ? SHMRING_FENCE_FREE : 0;
}

static inline struct shmring_config t_cfg(enum shmring_mode m, size_t capacity, size_t max_msg)
{
	struct shmring_config c;
	memset(&c, 0, sizeof(c));
	c.flags = t_extra_flags();
	c.mode = m;
	c.capacity = capacity;
	c.max_msg = max_msg;
	return c;
}

/* A readable name for an errno-style return in messages. */
static inline const char *t_err(long rc)
{
	return rc >= 0 ? "ok" : strerror((int)-rc);
}

/* ---- Stamped whole writes of a byte stream (tests of several writers) ----
 * A write of n (5 to PIPE_BUF) bytes holds its length (2 bytes), its writer,
 * its number modulo 2^16 (2 bytes), then the writer's letter. */
static inline void t_stamp_write(char *blk, size_t n, unsigned writer, unsigned i)
{
	blk[0] = (char)(n & 0xff);
	blk[1] = (char)(n >> 8);
	blk[2] = (char)writer;
	blk[3] = (char)(i & 0xff);
	blk[4] = (char)((i >> 8) & 0xff);
	memset(blk + 5, 'A' + (int)writer, n - 5);
}

/* Check the whole writes at the start of buf[0, *have) and remove them,
 * keeping a partial last one; next[w] is the number writer w's next write
 * must have, *writes counts the writes seen. Returns 0, or -1 with the
 * reason in why: a bad length or writer, a write out of its writer's order,
 * or one interleaved with another. */
static inline int t_stamped_writes(uint8_t *buf, size_t *have, unsigned writers, unsigned *next,
				   uint64_t *writes, char *why, size_t whylen)
{
	size_t at = 0;
	while (*have - at >= 5) {
		size_t n = buf[at] | (size_t)buf[at + 1] << 8, w = buf[at + 2];
		unsigned i = buf[at + 3] | (unsigned)buf[at + 4] << 8;
		if (n < 5 || n > PIPE_BUF || w >= writers) {
			snprintf(why, whylen, "write %" PRIu64 ": length %zu, writer %zu", *writes,
				 n, w);
			return -1;
		}
		if (i != (next[w] & 0xffff)) {
			snprintf(why, whylen, "writer %zu's write %u came for %u", w, i, next[w]);
			return -1;
		}
		if (*have - at < n)
			break;
		for (size_t j = 5; j < n; j++)
			if (buf[at + j] != 'A' + w) {
				snprintf(why, whylen, "write %" PRIu64 " interleaved at byte %zu",
					 *writes, j);
				return -1;
			}
		next[w]++;
		(*writes)++;
		at += n;
	}
	memmove(buf, buf + at, *have - at);
	*have -= at;
	return 0;
}

#endif /* SHMRING_TEST_UTIL_H */
