/* SPDX-License-Identifier: MIT */
/*
 * copy.h - payload copies: small ones by word moves (both sides), and a
 * producer's into the ring (ring_rec.c, ring_stream.c, ring_slot.c).
 */
#ifndef SHMRING_COPY_H
#define SHMRING_COPY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__SSE2__)
#include <x86intrin.h>
#endif

/* Small messages (the common case on a fast ring), up to SR_COPY_SMALL_MAX
 * bytes, are copied by overlapping moves rather than a call into the C
 * library, and with as few stores as their length allows: a producer's
 * stores queue behind the one whose line the consumer holds, so each extra
 * one shows in a busy ring's rate. (Up to 64 bytes by four 16-byte moves
 * was slower than memcpy at 64: 12.9 against 17.6 M msgs/s.) */
#define SR_COPY_SMALL_MAX 32u

static inline void shmring__copy_small(uint8_t *dst, const uint8_t *src, uint64_t len)
{
	if (len >= 8 && len <= 16) {
		uint64_t a, b;
		memcpy(&a, src, 8);
		memcpy(&b, src + len - 8, 8);
		memcpy(dst, &a, 8);
		if (len > 8)
			memcpy(dst + len - 8, &b, 8);
	} else if (len > 16) { /* up to 32: two 16-byte moves, overlapping */
		uint8_t a[16], b[16];
		memcpy(a, src, 16);
		memcpy(b, src + len - 16, 16);
		memcpy(dst, a, 16);
		memcpy(dst + len - 16, b, 16);
	} else if (len >= 4) {
		uint32_t a, b;
		memcpy(&a, src, 4);
		memcpy(&b, src + len - 4, 4);
		memcpy(dst, &a, 4);
		memcpy(dst + len - 4, &b, 4);
	} else if (len) { /* 1 to 3 */
		dst[0] = src[0];
		dst[len / 2] = src[len / 2];
		dst[len - 1] = src[len - 1];
	}
}

static inline void shmring__copy_bytes(uint8_t *dst, const uint8_t *src, uint64_t len)
{
	if (len <= SR_COPY_SMALL_MAX)
		shmring__copy_small(dst, src, len);
	else
		memcpy(dst, src, len);
}

/* A large copy into the ring whose destination lies 1 to 63 bytes past its
 * source within a 4 KiB page is slow: each load of the source matches, by
 * the low 12 bits of its address, a store still in flight, and a store into
 * a line the consumer holds stays in flight long. glibc's `rep movsb` then
 * loses its fast mode: 5x as long for 64 KiB here, 2x for 4 and 16 KiB
 * (AMD EPYC; in a 1 MiB ring, 7 of every 15 records of a 64 KiB stream).
 * Streaming stores need no line from the consumer and stay clear of the
 * loads: such a copy goes at the speed of a well-placed one from 16 KiB on.
 * The record stays where it is, so the ring's room is untouched (moving it
 * on by 64 bytes of padding did as well, but takes room that the capacity
 * guarantee of API.md counts on). */
#define SR_NT_MIN 4096u

static inline bool shmring__copy_aliases(const uint8_t *dst, const uint8_t *src, uint64_t len)
{
	return len >= SR_NT_MIN && ((((uintptr_t)dst - (uintptr_t)src) & 4095) - 1) < 63;
}

static inline void shmring__copy_streaming(uint8_t *dst, const uint8_t *src, uint64_t len)
{
#ifdef __SSE2__
	uint64_t head = (16 - ((uintptr_t)dst & 15)) & 15, i;
	if (head > len)
		head = len;
	memcpy(dst, src, head); /* then dst + i is 16-byte aligned */
	i = head;
	for (; i + 64 <= len; i += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)(src + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
		__m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
		_mm_stream_si128((__m128i *)(dst + i), a);
		_mm_stream_si128((__m128i *)(dst + i + 16), b);
		_mm_stream_si128((__m128i *)(dst + i + 32), c);
		_mm_stream_si128((__m128i *)(dst + i + 48), d);
	}
	/* Streaming stores are weakly ordered: the header's store-release
	 * (rc_publish) must not pass them. */
	_mm_sfence();
	memcpy(dst + i, src + i, len - i);
#else
	memcpy(dst, src, len);
#endif
}

/* Streaming stores cost their own: the consumer then reads the bytes from
 * memory rather than from the producer's cache. Where the two sides' caches
 * are close (here, in the runs where the two vCPUs behaved as siblings of one
 * core: floor 47 GB/s at 64 KiB) memcpy stalled less than it cost, and the
 * ring moved 64 KiB messages 20% faster with memcpy (43.5 against 34.7 GB/s;
 * cross-core, 15 against 27). So each handle learns which of the two is
 * cheaper for its stalling copies: it times them (TSC cycles per KiB, a
 * moving average), takes the cheaper one, and every SR_COPY_PROBE-th time
 * the other, to notice when the placement changes. */
#define SR_COPY_PROBE 128u

struct sr_copy_tune {
	uint32_t cost[2]; /* [0] memcpy, [1] streaming; 0: not measured yet */
	uint32_t n;       /* stalling copies so far */
};

static inline void shmring__copy_tuned(struct sr_copy_tune *k, uint8_t *dst, const uint8_t *src,
				       uint64_t len)
{
#if defined(__x86_64__) && defined(__SSE2__)
	unsigned m;
	if (!k->cost[1])
		m = 1;
	else if (!k->cost[0])
		m = 0;
	else
		m = (k->cost[1] <= k->cost[0]) ^ (++k->n % SR_COPY_PROBE == 0);
	uint64_t t0 = __rdtsc();
	if (m)
		shmring__copy_streaming(dst, src, len);
	else
		memcpy(dst, src, len);
	uint64_t c = (__rdtsc() - t0) * 1024 / len + 1, old = k->cost[m];
	if (old && c > 4 * old) /* a preemption or an interrupt, most likely */
		c = 4 * old;
	if (c > UINT32_MAX / 8)
		c = UINT32_MAX / 8;
	k->cost[m] = (uint32_t)(old ? (7 * old + c) / 8 : c);
#else
	(void)k;
	memcpy(dst, src, len);
#endif
}

/* A copy of a producer's bytes into the ring: shmring__copy_bytes, or for a
 * copy that would stall (above), the cheaper of memcpy and streaming stores. */
static inline void shmring__copy_to_ring(struct sr_copy_tune *k, uint8_t *dst, const uint8_t *src,
					 uint64_t len)
{
	if (__builtin_expect(shmring__copy_aliases(dst, src, len), 0))
		shmring__copy_tuned(k, dst, src, len);
	else
		shmring__copy_bytes(dst, src, len);
}

#endif /* SHMRING_COPY_H */
