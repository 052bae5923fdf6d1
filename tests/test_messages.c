/* SPDX-License-Identifier: MIT */
/*
 * test_messages.c - messages through every mode: sizes, -EMSGSIZE, full and
 * empty rings with and without timeouts, the capacity guarantee, wraparound
 * with padding, sendv/recvv, claim/commit/abort, peek/release, roles,
 * -EINTR, and pollfd readiness.
 *
 * Each test runs the producer and consumer handles of an anonymous ring in one
 * process (a handle per side, as two processes would), except the -EINTR and
 * pollfd tests, which fork a helper.
 */
#include "common.h"
#include "internal.h"

#define TMO .timeout = 30

/* Receive one message and check its length and t_fill(seed) payload. */
#define RECV_EXPECT(c, len, seed, tmo)                                                             \
	do {                                                                                       \
		static char rb_[65536];                                                            \
		ssize_t n_ = shmring_recv((c), rb_, sizeof(rb_), (tmo));                           \
		cr_assert_eq(n_, (ssize_t)(len), "%s: recv: %zd (%s), expected %zu bytes", M, n_,  \
			     t_err(n_), (size_t)(len));                                            \
		long bad_ = t_check(rb_, (size_t)(len), (seed));                                   \
		cr_assert_eq(bad_, -1, "%s: payload of a %zu-byte message differs at byte %ld", M, \
			     (size_t)(len), bad_);                                                 \
	} while (0)

static int send_pattern(shmring *p, size_t len, uint64_t seed, int64_t tmo)
{
	static char sb[65536];
	t_fill(sb, len, seed);
	return shmring_send(p, sb, len, tmo);
}

/* ---- Sizes ------------------------------------------------------------------ */

MODE_TEST(messages, every_size_from_0_to_max_msg, TMO)
{
	T_MODE;
	const size_t max = 1000;
	shmring *p, *c;
	t_pair(mode, 16384, max, &p, &c);
	static const size_t sizes[] = { 0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 999, 1000 };
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			int rc = send_pattern(p, sizes[i], sizes[i] + 1000 * (size_t)round, 0);
			cr_assert_eq(rc, 0, "%s: send %zu bytes: %d (%s)", M, sizes[i], rc,
				     t_err(rc));
			RECV_EXPECT(c, sizes[i], sizes[i] + 1000 * (size_t)round, 0);
		}
	}
	/* Queued back to back, then drained. */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int rc = send_pattern(p, sizes[i], sizes[i] * 3, 0);
		cr_assert_eq(rc, 0, "%s: send %zu bytes: %d (%s)", M, sizes[i], rc, t_err(rc));
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		RECV_EXPECT(c, sizes[i], sizes[i] * 3, 0);
	char b;
	ssize_t n = shmring_recv(c, &b, 1, 0);
	cr_assert_eq(n, -EAGAIN, "%s: recv on a drained ring: %zd (%s)", M, n, t_err(n));
	/* A zero-length message fits a zero-byte buffer, even a NULL one. */
	cr_assert_eq(shmring_send(p, "", 0, 0), 0);
	n = shmring_recv(c, &b, 0, 0);
	cr_assert_eq(n, 0, "%s: recv(cap 0) of an empty message: %zd (%s)", M, n, t_err(n));
	shmring_close(c);
	shmring_close(p);
}

/* Every small length, from sources and into buffers at odd addresses, over
 * several laps: the payload arrives exact, the receiver's buffer is written
 * no further than the message, and shmring_stat counts every message and
 * byte (on SPSC rings these go by the fast path of rec_fast.h). */
MODE_TEST(messages, small_lengths_at_odd_addresses_write_exactly_the_message, TMO)
{
	T_MODE;
	shmring *p, *c;
	t_pair(mode, 4096, 128, &p, &c);
	static uint8_t sb[256], rb[256];
	uint64_t msgs = 0, bytes = 0;
	for (int lap = 0; lap < 4; lap++) {
		for (size_t len = 0; len <= 96; len++) {
			uint8_t *src = sb + 1 + len % 13, *dst = rb + 3 + len % 7;
			t_fill(src, len, len * 7 + (size_t)lap);
			int rc = shmring_send(p, src, len, 0);
			cr_assert_eq(rc, 0, "%s: send %zu bytes: %d (%s)", M, len, rc, t_err(rc));
			memset(rb, 0xa5, sizeof(rb));
			ssize_t n = shmring_recv(c, dst, 128, 0);
			cr_assert_eq(n, (ssize_t)len, "%s: recv: %zd (%s), expected %zu", M, n, t_err(n),
				     len);
			long bad = t_check(dst, len, len * 7 + (size_t)lap);
			cr_assert_eq(bad, -1, "%s: %zu-byte message differs at byte %ld", M, len, bad);
			for (size_t i = 0; i < sizeof(rb); i++)
				if (rb + i < dst || rb + i >= dst + len)
					cr_assert_eq(rb[i], 0xa5, "%s: a %zu-byte recv wrote byte %zd", M,
						     len, (ssize_t)(rb + i - dst));
			msgs++;
			bytes += len;
		}
	}
	struct shmring_stat st;
	cr_assert_eq(shmring_stat(p, &st), 0);
	cr_assert_eq(st.sent, msgs, "%s: sent %llu, expected %llu", M,
		     (unsigned long long)st.sent, (unsigned long long)msgs);
	cr_assert_eq(st.received, msgs, "%s: received %llu, expected %llu", M,
		     (unsigned long long)st.received, (unsigned long long)msgs);
	/* and the payload bytes each endpoint counts (shmring inspect, top) */
	cr_assert_eq(ld_relaxed(&p->prod.ep->bytes), bytes, "%s: producer's bytes", M);
	cr_assert_eq(ld_relaxed(&c->cons.ep->bytes), bytes, "%s: consumer's bytes", M);
	shmring_close(c);
	shmring_close(p);
}

MODE_TEST(messages, over_max_msg_is_emsgsize, TMO)
{
	T_MODE;
	const size_t max = 500;
	shmring *p, *c;
	t_pair(mode, 8192, max, &p, &c);
	static char big[70000];
	static const size_t sizes[] = { 501, 502, 512, 4096, 8192, 65536 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int rc = shmring_send(p, big, sizes[i], 0);
		cr_assert_eq(rc, -EMSGSIZE, "%s: send %zu > max_msg %zu: %d (%s)", M, sizes[i], max,
			     rc, t_err(rc));
		void *buf = (void *)0x1;
		rc = shmring_claim(p, sizes[i], &buf, 0);
		cr_assert_eq(rc, -EMSGSIZE, "%s: claim %zu: %d (%s)", M, sizes[i], rc, t_err(rc));
		cr_assert_eq(buf, (void *)0x1, "%s: claim wrote *buf on failure", M);
	}
	int rc = shmring_send(p, big, (size_t)-1, 0);
	cr_assert_eq(rc, -EMSGSIZE, "%s: send SIZE_MAX: %d (%s)", M, rc, t_err(rc));
	ssize_t n = shmring_recv(c, big, sizeof(big), 0);
	cr_assert_eq(n, -EAGAIN, "%s: something arrived after refused sends: %zd", M, n);
	struct shmring_stat st = t_stat(c);
	cr_assert_eq(st.sent, 0, "%s: sent %llu", M, (unsigned long long)st.sent);
	shmring_close(c);
	shmring_close(p);
}

MODE_TEST(messages, small_buffer_is_emsgsize_and_the_message_stays, TMO)
{
	T_MODE;
	shmring *p, *c;
	t_pair(mode, 8192, 512, &p, &c);
	cr_assert_eq(send_pattern(p, 100, 1, 0), 0);
	cr_assert_eq(send_pattern(p, 5, 2, 0), 0);
	char buf[512];
	static const size_t caps[] = { 99, 1, 0 };
	for (size_t i = 0; i < 3; i++) {
		ssize_t n = shmring_recv(c, buf, caps[i], 0);
		cr_assert_eq(n, -EMSGSIZE, "%s: recv(cap %zu) of 100 bytes: %zd (%s)", M, caps[i],
			     n, t_err(n));
	}
	RECV_EXPECT(c, 100, 1, 0);
	RECV_EXPECT(c, 5, 2, 0);
	shmring_close(c);
	shmring_close(p);
}

/* ---- Full and empty --------------------------------------------------------- */

MODE_TEST(messages, fill_then_eagain_etimedout_then_drain_in_order, TMO)
{
	T_MODE;
	const size_t cap = 16384, max = 256;
	shmring *p, *c;
	t_pair(mode, cap, max, &p, &c);

	size_t n = 0;
	int rc;
	for (;;) {
		size_t len = 1 + (t_mix(n) % max);
		rc = send_pattern(p, len, n, 0);
		if (rc != 0)
			break;
		n++;
		cr_assert_lt(n, cap, "%s: %zu messages went into a %zu-byte ring", M, n, cap);
	}
	cr_assert_eq(rc, -EAGAIN, "%s: send on a full ring: %d (%s)", M, rc, t_err(rc));
	size_t least = t_min_msgs(mode, cap, max);
	cr_assert_geq(n, least, "%s: ring took %zu messages, the contract promises %zu", M, n,
		      least);

	struct shmring_stat st = t_stat(p);
	cr_assert_gt(st.used, 0, "%s: used 0 on a full ring", M);
	cr_assert_leq(st.used, st.capacity, "%s: used %zu > capacity %zu", M, st.used, st.capacity);
	cr_assert_eq(st.sent, n, "%s: sent %llu vs %zu", M, (unsigned long long)st.sent, n);

	void *buf = (void *)0x1;
	rc = shmring_claim(p, max, &buf, 0);
	cr_assert_eq(rc, -EAGAIN, "%s: claim on a full ring: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(buf, (void *)0x1);

	static const int64_t tmos[] = { 1 * MS, 50 * MS, 200 * MS };
	for (size_t i = 0; i < 3; i++) {
		int64_t t0 = t_now();
		rc = send_pattern(p, max, 0, tmos[i]);
		int64_t dt = t_now() - t0;
		cr_assert_eq(rc, -ETIMEDOUT, "%s: send(timeout %lld ns) on a full ring: %d (%s)", M,
			     (long long)tmos[i], rc, t_err(rc));
		cr_assert_geq(dt, tmos[i],
			      "%s: send gave up after %lld ns, before its timeout %lld", M,
			      (long long)dt, (long long)tmos[i]);
		cr_assert_lt(dt, tmos[i] + 2 * SEC, "%s: send(timeout %lld) took %lld ns", M,
			     (long long)tmos[i], (long long)dt);
		rc = shmring_claim(p, max, &buf, tmos[i]);
		cr_assert_eq(rc, -ETIMEDOUT, "%s: claim(timeout) on a full ring: %d (%s)", M, rc,
			     t_err(rc));
	}

	for (size_t i = 0; i < n; i++)
		RECV_EXPECT(c, 1 + (t_mix(i) % max), i, 0);
	char b[300];
	ssize_t got = shmring_recv(c, b, sizeof(b), 0);
	cr_assert_eq(got, -EAGAIN, "%s: recv on the drained ring: %zd (%s)", M, got, t_err(got));
	for (size_t i = 0; i < 3; i++) {
		int64_t t0 = t_now();
		got = shmring_recv(c, b, sizeof(b), tmos[i]);
		int64_t dt = t_now() - t0;
		cr_assert_eq(got, -ETIMEDOUT, "%s: recv(timeout) on an empty ring: %zd (%s)", M,
			     got, t_err(got));
		cr_assert_geq(dt, tmos[i], "%s: recv gave up after %lld ns, before %lld", M,
			      (long long)dt, (long long)tmos[i]);
		cr_assert_lt(dt, tmos[i] + 2 * SEC, "%s: recv(timeout) took %lld ns", M,
			     (long long)dt);
		const void *m;
		size_t l;
		int prc = shmring_peek(c, &m, &l, tmos[i]);
		cr_assert_eq(prc, -ETIMEDOUT, "%s: peek(timeout) on empty: %d (%s)", M, prc,
			     t_err(prc));
	}
	st = t_stat(c);
	cr_assert_eq(st.used, 0, "%s: used %zu on a drained ring", M, st.used);
	cr_assert_eq(st.received, n, "%s: received %llu vs %zu", M, (unsigned long long)st.received,
		     n);

	/* The room came back: the ring takes as many again. */
	size_t n2 = 0;
	while (send_pattern(p, max, n2, 0) == 0)
		n2++;
	cr_assert_geq(n2, least, "%s: after a drain the ring took %zu max_msg messages, < %zu", M,
		      n2, least);
	shmring_close(c);
	shmring_close(p);
}

MODE_TEST(messages, capacity_guarantee_for_max_msg_messages, TMO)
{
	T_MODE;
	static const struct {
		size_t cap, max;
	} geo[] = { { 4096, 2048 },  { 4096, 1000 }, { 4096, 64 },   { 4096, 8 },
		    { 65536, 4096 }, { 65536, 1 },   { 1 << 20, 0 }, { 8192, 4000 } };
	for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++) {
		shmring *p, *c;
		t_pair(mode, geo[g].cap, geo[g].max, &p, &c);
		struct shmring_stat st = t_stat(p);
		size_t max = st.max_msg, cap = geo[g].cap ? geo[g].cap : SHMRING_DEFAULT_CAPACITY;
		size_t least = t_min_msgs(mode, cap, max);
		for (int lap = 0; lap < 3; lap++) {
			size_t n = 0;
			while (send_pattern(p, max, n, 0) == 0)
				n++;
			cr_assert_geq(
				n, least,
				"%s: cap %zu max_msg %zu lap %d: held %zu messages, promised %zu",
				M, cap, max, lap, n, least);
			for (size_t i = 0; i < n; i++)
				RECV_EXPECT(c, max, i, 0);
			/* Shift the start so later laps begin mid-ring. */
			for (int k = 0; k <= lap; k++) {
				cr_assert_eq(send_pattern(p, 1, 1, 0), 0);
				RECV_EXPECT(c, 1, 1, 0);
			}
		}
		shmring_close(c);
		shmring_close(p);
	}
}

/* The guarantee wherever the ring's positions stand when it starts to fill:
 * a record ring once lost one message of it at the wrap (the padding to the
 * end of the area: 14 of 15 with capacity 64 KiB and max_msg 4 KiB from
 * position 3984, 1 of 2 with 8 KiB and 4000 bytes from position 1000).
 * Every start, 8 bytes apart (a 0-byte message moves it so on a record
 * ring, a slot on a slot ring), by send and by claim. */
MODE_TEST(messages, capacity_guarantee_from_every_start, .timeout = 120)
{
	T_MODE;
	static const struct {
		size_t cap, max;
	} geo[] = { { 8192, 4000 }, { 16384, 4088 }, { 65536, 4096 }, { 4096, 2040 } };
	static char big[8192];
	for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++) {
		shmring *p, *c;
		t_pair(mode, geo[g].cap, geo[g].max, &p, &c);
		struct shmring_stat st = t_stat(p);
		size_t max = st.max_msg, cap = st.capacity;
		size_t least = t_min_msgs(mode, cap, max);
		size_t starts = t_multi_cons(mode) ? cap / (max + 64) + 1 : cap / 8;
		for (size_t s = 0; s < starts; s++) {
			int by_claim = (int)(s % 2);
			size_t n = 0;
			for (;;) {
				void *b;
				int rc = by_claim ? shmring_claim(p, max, &b, 0)
						  : shmring_send(p, big, max, 0);
				if (rc == -EAGAIN)
					break;
				cr_assert_eq(rc, 0, "%s: cap %zu max %zu start %zu: %s: %d (%s)", M,
					     cap, max, s, by_claim ? "claim" : "send", rc, t_err(rc));
				if (by_claim)
					cr_assert_eq(shmring_commit(p, max), 0);
				n++;
			}
			cr_assert_geq(n, least,
				      "%s: cap %zu max_msg %zu, start %zu: held %zu messages (by %s), "
				      "promised %zu",
				      M, cap, max, s, n, by_claim ? "claim" : "send", least);
			for (size_t i = 0; i < n; i++) {
				ssize_t got = shmring_recv(c, big, sizeof(big), 0);
				cr_assert_eq(got, (ssize_t)max, "%s: recv %zu of %zu: %zd (%s)", M, i,
					     n, got, t_err(got));
			}
			/* the next start: 8 bytes past this one on a record ring (each
			 * record took (8 + max) rounded up to 8), the next slot else */
			size_t rec = (8 + max + 7) & ~(size_t)7;
			size_t move = t_multi_cons(mode) ? 8 : (8 + cap - (n * rec) % cap) % cap;
			while (move) {
				size_t step = move < rec ? move : rec;
				if (move - step > 0 && move - step < 8)
					step -= 8;
				cr_assert_eq(shmring_send(p, big, step - 8, 0), 0);
				cr_assert_eq(shmring_recv(c, big, sizeof(big), 0), (ssize_t)(step - 8));
				move -= step;
			}
		}
		shmring_close(c);
		shmring_close(p);
	}
}

/* ---- Large copies into the ring (src/copy.h) -------------------------------------- */

#include "copy.h"

/* copy(dst + at, src, len) into a dst of `size` bytes: exactly the source's
 * bytes, and nothing written outside them. */
static void expect_exact_copy(void (*copy)(uint8_t *, const uint8_t *, uint64_t),
			      const uint8_t *src, size_t len, uint8_t *dst, size_t size, size_t at)
{
	memset(dst, 0x5a, size);
	copy(dst + at, src, len);
	cr_assert_eq(memcmp(dst + at, src, len), 0, "src %p dst +%zu len %zu: bytes differ",
		     (const void *)src, at, len);
	for (size_t i = 0; i < size; i++)
		if (i < at || i >= at + len)
			cr_assert_eq(dst[i], 0x5a, "src %p dst +%zu len %zu: byte %zu outside written",
				     (const void *)src, at, len, i);
}

/* The streaming copy that replaces memcpy when the ring's bytes lie just past
 * the source's within a page: exact at every alignment of both ends and
 * every length about its 64-byte loop, and nothing written outside. */
Test(copy, streaming_copy_is_exact_at_every_alignment, TMO)
{
	static uint8_t src[70000], dst[70000 + 128];
	static const size_t lens[] = { 0, 1, 15, 16, 63, 64, 65, 127, 4096, 4097, 4159, 65536 + 13 };
	t_fill(src, sizeof(src), 7);
	for (size_t so = 0; so < 16; so++)
		for (size_t d = 0; d < 16; d++)
			for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
				expect_exact_copy(shmring__copy_streaming, src + so, lens[k], dst,
						  sizeof(dst), 64 + d);
}

/* The word moves of small payloads (both sides of the SPSC fast path, and
 * every record engine's copy out): exact at every length up to and past
 * their limit, from every alignment of both ends, nothing written outside. */
Test(copy, small_copy_is_exact_at_every_length, TMO)
{
	static uint8_t src[256], dst[256];
	t_fill(src, sizeof(src), 11);
	for (size_t len = 0; len <= SR_COPY_SMALL_MAX + 48; len++)
		for (size_t so = 0; so < 16; so++)
			for (size_t d = 0; d < 16; d++)
				expect_exact_copy(shmring__copy_bytes, src + so, len, dst, sizeof(dst),
						  64 + d);
}

/* Which copies stream: 4 KiB or more, 1 to 63 bytes past the source, counted
 * within a page. */
Test(copy, only_large_copies_just_past_their_source_stream, TMO)
{
	static uint8_t buf[3 * 4096];
	const uint8_t *src = buf + 4096;
	static const struct {
		long dist;
		size_t len;
		bool streams;
	} cases[] = {
		{ 1, 4096, true },     { 8, 4096, true },	{ 63, 4096, true },
		{ 8, 4095, false },    { 8, 65536, true },	{ 0, 65536, false },
		{ 64, 65536, false },  { 4095, 65536, false }, { -8, 65536, false },
		{ 4096 + 8, 8192, true }, { -4096 + 8, 8192, true }, { 72, 8192, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(shmring__copy_aliases(src + cases[i].dist, src, cases[i].len),
			     cases[i].streams, "dst = src %+ld, len %zu: expected %s", cases[i].dist,
			     cases[i].len, cases[i].streams ? "streaming" : "memcpy");
}

#if defined(__x86_64__) && defined(__SSE2__)
/* A handle times both copies once, then takes the cheaper one, and the other
 * every SR_COPY_PROBE-th time; every copy is exact whichever it takes. */
Test(copy, the_tuner_takes_the_cheaper_copy_and_probes_the_other, TMO)
{
	static uint8_t src[16384 + 64], dst[16384 + 4096 + 64];
	uint8_t *to = dst + (((uintptr_t)src + 8 - (uintptr_t)dst) & 4095);
	const size_t len = 16384;
	cr_assert(shmring__copy_aliases(to, src, len));
	struct sr_copy_tune k = { { 0, 0 }, 0 };
	uint64_t seed = 1;
	shmring__copy_tuned(&k, to, src, len);
	cr_assert(k.cost[1] != 0 && k.cost[0] == 0, "first: streaming, measured (%u, %u)",
		  k.cost[0], k.cost[1]);
	shmring__copy_tuned(&k, to, src, len);
	cr_assert(k.cost[0] != 0, "second: memcpy, measured");
	for (unsigned cheap = 0; cheap < 2; cheap++) {
		k.cost[cheap] = 100;
		k.cost[1 - cheap] = 1000000;
		k.n = 0;
		for (unsigned i = 1; i <= SR_COPY_PROBE; i++) {
			t_fill(src, len, ++seed);
			shmring__copy_tuned(&k, to, src, len);
			cr_assert_eq(t_check(to, len, seed), -1, "copy %u differs", i);
			if (i < SR_COPY_PROBE)
				cr_assert_eq(k.cost[1 - cheap], 1000000,
					     "copy %u took the dearer %s", i,
					     cheap ? "memcpy" : "streaming copy");
		}
		cr_assert_neq(k.cost[1 - cheap], 1000000, "copy %u did not probe the other",
			      SR_COPY_PROBE);
	}
}
#endif

/* Large messages sent from every 8-byte offset of a page (and some odd
 * ones), so that some land just past their source and take the streaming
 * copy: each arrives whole, in order, across many wraps, by send and by
 * sendv, through records (every mode) and through a stream. */
MODE_TEST(messages, large_messages_from_every_page_offset, .timeout = 60)
{
	T_MODE;
	const size_t cap = 1 << 17, max = 20000;
	static const size_t lens[] = { 4096, 4100, 9000, 20000 };
	static uint8_t src[20000 + 4096 + 64];
	static uint8_t rb[20000];
	shmring *p, *c;
	t_pair(mode, cap, max, &p, &c);
	uint64_t seq = 0;
	for (size_t off = 0; off < 4096 + 24; off += off < 4096 ? 8 : 5) {
		size_t len = lens[(off / 8) % 4];
		/* two in flight, so that the ring's positions keep moving */
		for (int k = 0; k < 2; k++) {
			t_fill(src + off, len, seq + (uint64_t)k);
			if (k == 0) {
				int rc = shmring_send(p, src + off, len, 0);
				cr_assert_eq(rc, 0, "%s: send %zu bytes from +%zu: %d (%s)", M, len,
					     off, rc, t_err(rc));
			} else {
				struct iovec v = { src + off, len };
				int rc = shmring_sendv(p, &v, 1, 0);
				cr_assert_eq(rc, 1, "%s: sendv %zu bytes from +%zu: %d (%s)", M, len,
					     off, rc, t_err(rc));
			}
		}
		for (int k = 0; k < 2; k++, seq++) {
			ssize_t n = shmring_recv(c, rb, sizeof(rb), 0);
			cr_assert_eq(n, (ssize_t)len, "%s: recv: %zd (%s), expected %zu bytes", M, n,
				     t_err(n), len);
			long bad = t_check(rb, len, seq);
			cr_assert_eq(bad, -1, "%s: %zu bytes sent from +%zu differ at byte %ld", M,
				     len, off, bad);
		}
	}
	shmring_close(c);
	shmring_close(p);
}

Test(messages, large_stream_writes_from_every_page_offset, .timeout = 60)
{
	struct shmring_config cfg = t_cfg(SHMRING_SPSC, 1 << 17, 0);
	shmring *ends[2];
	int rc = shmring_pipe(ends, &cfg);
	cr_assert_eq(rc, 0, "shmring_pipe: %d (%s)", rc, t_err(rc));
	static uint8_t src[20000 + 4096 + 64], rb[20000];
	uint64_t seq = 0;
	for (size_t off = 0; off < 4096 + 24; off += off < 4096 ? 8 : 5, seq++) {
		size_t len = 4096 + (off * 37) % 15000;
		t_fill(src + off, len, seq);
		for (size_t done = 0; done < len;) {
			ssize_t n = shmring_write(ends[1], src + off + done, len - done, 0);
			cr_assert_gt(n, 0, "write of %zu bytes from +%zu: %zd (%s)", len, off, n,
				     t_err(n));
			done += (size_t)n;
		}
		for (size_t got = 0; got < len;) {
			ssize_t n = shmring_read(ends[0], rb + got, len - got, 0);
			cr_assert_gt(n, 0, "read: %zd (%s)", n, t_err(n));
			got += (size_t)n;
		}
		long bad = t_check(rb, len, seq);
		cr_assert_eq(bad, -1, "%zu bytes written from +%zu differ at byte %ld", len, off, bad);
	}
	shmring_close(ends[0]);
	shmring_close(ends[1]);
}

/* ---- Wraparound ----------------------------------------------------------------- */

/* One process plays both sides at random over many laps of a small ring, with
 * every API: send/sendv/claim on one side, recv/recvv/peek on the other. */
MODE_TEST(messages, many_laps_with_varying_sizes, .timeout = 60)
{
	T_MODE;
	const size_t cap = 4096, max = 1000;
	const uint64_t total = 40000;
	shmring *p, *c;
	t_pair(mode, cap, max, &p, &c);
	uint64_t sent = 0, recvd = 0, rng = 0x1234567 + (uint64_t)mode;
	static char bufs[8][1024];
	static char rb[1024];
#define LEN_OF(seq) ((size_t)(t_mix((seq) ^ 0xabc) % (max + 1)))

	uint64_t last_progress = 0, rounds = 0;
	while (recvd < total) {
		if (recvd != last_progress) {
			last_progress = recvd;
			rounds = 0;
		}
		cr_assert_lt(++rounds, 100000, "%s: stuck after %llu received, %llu sent", M,
			     (unsigned long long)recvd, (unsigned long long)sent);
		/* Producer: a burst of 1..6 messages by one API. */
		int burst = 1 + (int)(t_rand(&rng) % 6), api = (int)(t_rand(&rng) % 3);
		if (api == 0) {
			for (int k = 0; k < burst && sent < total; k++) {
				int rc = send_pattern(p, LEN_OF(sent), sent, 0);
				if (rc == -EAGAIN)
					break;
				cr_assert_eq(rc, 0, "%s: send #%llu: %d (%s)", M,
					     (unsigned long long)sent, rc, t_err(rc));
				sent++;
			}
		} else if (api == 1 && sent < total) {
			struct iovec iov[8];
			int k = 0;
			for (; k < burst && sent + (uint64_t)k < total; k++) {
				iov[k].iov_base = bufs[k];
				iov[k].iov_len = LEN_OF(sent + (uint64_t)k);
				t_fill(bufs[k], iov[k].iov_len, sent + (uint64_t)k);
			}
			int rc = shmring_sendv(p, iov, k, 0);
			cr_assert(rc == -EAGAIN || (rc >= 1 && rc <= k), "%s: sendv(%d): %d (%s)",
				  M, k, rc, t_err(rc));
			if (rc > 0)
				sent += (uint64_t)rc;
		} else if (sent < total) {
			void *b = NULL;
			size_t len = LEN_OF(sent);
			size_t want = len + (size_t)(t_rand(&rng) % (max - len + 1));
			int rc = shmring_claim(p, want, &b, 0);
			cr_assert(rc == 0 || rc == -EAGAIN, "%s: claim(%zu): %d (%s)", M, want, rc,
				  t_err(rc));
			if (rc == 0 && t_rand(&rng) % 8 == 0) {
				/* An abort, after scribbling over the whole claim. */
				memset(b, 0xee, want);
				cr_assert_eq(shmring_abort(p), 0);
			} else if (rc == 0) {
				/* A commit shorter than the claim. */
				t_fill(b, len, sent);
				cr_assert_eq(shmring_commit(p, len), 0);
				sent++;
			}
		}

		/* Consumer: a burst of 1..6 by one API. */
		burst = 1 + (int)(t_rand(&rng) % 6);
		api = (int)(t_rand(&rng) % 3);
		if (api == 0) {
			for (int k = 0; k < burst; k++) {
				ssize_t n = shmring_recv(c, rb, sizeof(rb), 0);
				if (n == -EAGAIN)
					break;
				cr_assert_eq(n, (ssize_t)LEN_OF(recvd),
					     "%s: message %llu: %zd (%s), expected %zu bytes", M,
					     (unsigned long long)recvd, n, t_err(n), LEN_OF(recvd));
				cr_assert_eq(t_check(rb, (size_t)n, recvd), -1,
					     "%s: message %llu payload", M,
					     (unsigned long long)recvd);
				recvd++;
			}
		} else if (api == 1) {
			struct iovec iov[8];
			for (int k = 0; k < burst; k++)
				iov[k] = (struct iovec){ bufs[k], sizeof(bufs[k]) };
			int rc = shmring_recvv(c, iov, burst, 0);
			cr_assert(rc == -EAGAIN || (rc >= 1 && rc <= burst),
				  "%s: recvv(%d): %d (%s)", M, burst, rc, t_err(rc));
			for (int k = 0; k < rc; k++, recvd++) {
				cr_assert_eq(iov[k].iov_len, LEN_OF(recvd),
					     "%s: recvv message %llu: %zu bytes, expected %zu", M,
					     (unsigned long long)recvd, iov[k].iov_len,
					     LEN_OF(recvd));
				cr_assert_eq(t_check(bufs[k], iov[k].iov_len, recvd), -1,
					     "%s: recvv message %llu payload", M,
					     (unsigned long long)recvd);
			}
		} else {
			const void *m = NULL;
			size_t len = 0;
			int rc = shmring_peek(c, &m, &len, 0);
			cr_assert(rc == 0 || rc == -EAGAIN, "%s: peek: %d (%s)", M, rc, t_err(rc));
			if (rc == 0) {
				cr_assert_eq(len, LEN_OF(recvd), "%s: peek %llu: %zu bytes vs %zu",
					     M, (unsigned long long)recvd, len, LEN_OF(recvd));
				cr_assert_eq(t_check(m, len, recvd), -1, "%s: peeked payload %llu",
					     M, (unsigned long long)recvd);
				cr_assert_eq(shmring_release(c), 0);
				recvd++;
			}
		}
		cr_assert_leq(recvd, sent, "%s: received %llu of %llu sent", M,
			      (unsigned long long)recvd, (unsigned long long)sent);
	}
#undef LEN_OF
	ssize_t n = shmring_recv(c, rb, sizeof(rb), 0);
	cr_assert_eq(n, -EAGAIN, "%s: extra message after %llu: %zd", M, (unsigned long long)total,
		     n);
	struct shmring_stat st = t_stat(c);
	cr_assert_eq(st.used, 0, "%s: used %zu after the drain", M, st.used);
	cr_assert_eq(st.sent, total, "%s: sent %llu", M, (unsigned long long)st.sent);
	cr_assert_eq(st.received, total, "%s: received %llu", M, (unsigned long long)st.received);
	shmring_close(c);
	shmring_close(p);
}

/* ---- sendv / recvv ----------------------------------------------------------------- */

MODE_TEST(messages, sendv_and_recvv_counts, TMO)
{
	T_MODE;
	shmring *p, *c;
	t_pair(mode, 16384, 256, &p, &c);
	static char sb[8][256], rb[8][256];
	struct iovec v[8];
	for (int i = 0; i < 5; i++) {
		t_fill(sb[i], (size_t)(10 + i), (uint64_t)i);
		v[i] = (struct iovec){ sb[i], (size_t)(10 + i) };
	}
	int rc = shmring_sendv(p, v, 5, 0);
	cr_assert_eq(rc, 5, "%s: sendv(5): %d (%s)", M, rc, t_err(rc));

	for (int i = 0; i < 8; i++)
		v[i] = (struct iovec){ rb[i], sizeof(rb[i]) };
	rc = shmring_recvv(c, v, 3, 0);
	cr_assert_eq(rc, 3, "%s: recvv(3) with 5 queued: %d (%s)", M, rc, t_err(rc));
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(v[i].iov_len, (size_t)(10 + i), "%s: iov_len[%d] %zu", M, i,
			     v[i].iov_len);
		cr_assert_eq(t_check(rb[i], v[i].iov_len, (uint64_t)i), -1);
	}
	for (int i = 0; i < 8; i++)
		v[i] = (struct iovec){ rb[i], sizeof(rb[i]) };
	int64_t t0 = t_now();
	rc = shmring_recvv(c, v, 8, 5 * SEC);
	cr_assert_eq(rc, 2, "%s: recvv(8) with 2 queued: %d (%s)", M, rc, t_err(rc));
	cr_assert_lt(t_now() - t0, SEC, "%s: recvv waited for more than the first message", M);
	cr_assert_eq(v[0].iov_len, 13);
	cr_assert_eq(v[1].iov_len, 14);
	cr_assert_eq(t_check(rb[1], 14, 4), -1);

	rc = shmring_recvv(c, v, 8, 0);
	cr_assert_eq(rc, -EAGAIN, "%s: recvv on empty: %d (%s)", M, rc, t_err(rc));
	t0 = t_now();
	rc = shmring_recvv(c, v, 8, 50 * MS);
	cr_assert_eq(rc, -ETIMEDOUT, "%s: recvv(50 ms) on empty: %d (%s)", M, rc, t_err(rc));
	cr_assert_geq(t_now() - t0, 50 * MS);

	/* n <= 0 */
	rc = shmring_recvv(c, v, 0, 0);
	cr_assert_eq(rc, -EINVAL, "%s: recvv(n 0): %d (%s)", M, rc, t_err(rc));
	rc = shmring_recvv(c, v, -1, 0);
	cr_assert_eq(rc, -EINVAL, "%s: recvv(n -1): %d (%s)", M, rc, t_err(rc));
	rc = shmring_sendv(p, v, -1, 0);
	cr_assert_lt(rc, 0, "%s: sendv(n -1): %d", M, rc);
	rc = shmring_sendv(p, v, 0, 0);
	cr_assert(rc == 0 || rc == -EINVAL, "%s: sendv(n 0): %d (%s)", M, rc, t_err(rc));
	rc = shmring_recvv(c, v, 1, 0);
	cr_assert_eq(rc, -EAGAIN, "%s: sendv(n <= 0) sent something: %d", M, rc);
	shmring_close(c);
	shmring_close(p);
}

MODE_TEST(messages, recvv_stops_before_a_message_too_long, TMO)
{
	T_MODE;
	shmring *p, *c;
	t_pair(mode, 16384, 256, &p, &c);
	static char rb[4][256];
	struct iovec v[4];

	/* The first one too long: -EMSGSIZE, and it stays. */
	cr_assert_eq(send_pattern(p, 100, 100, 0), 0);
	v[0] = (struct iovec){ rb[0], 50 };
	v[1] = (struct iovec){ rb[1], 256 };
	int rc = shmring_recvv(c, v, 2, 0);
	cr_assert_eq(rc, -EMSGSIZE, "%s: recvv with a short first buffer: %d (%s)", M, rc,
		     t_err(rc));
	RECV_EXPECT(c, 100, 100, 0);

	/* A later one too long: ends the batch and stays. */
	cr_assert_eq(send_pattern(p, 10, 1, 0), 0);
	cr_assert_eq(send_pattern(p, 100, 2, 0), 0);
	cr_assert_eq(send_pattern(p, 10, 3, 0), 0);
	for (int i = 0; i < 3; i++)
		v[i] = (struct iovec){ rb[i], 64 };
	rc = shmring_recvv(c, v, 3, 0);
	cr_assert_eq(rc, 1, "%s: recvv [10, 100, 10] into 64-byte buffers: %d (%s)", M, rc,
		     t_err(rc));
	cr_assert_eq(v[0].iov_len, 10);
	v[0] = (struct iovec){ rb[0], 256 };
	v[1] = (struct iovec){ rb[1], 256 };
	rc = shmring_recvv(c, v, 2, 0);
	cr_assert_eq(rc, 2, "%s: recvv of the rest: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(v[0].iov_len, 100);
	cr_assert_eq(t_check(rb[0], 100, 2), -1);
	cr_assert_eq(v[1].iov_len, 10);
	cr_assert_eq(t_check(rb[1], 10, 3), -1);
	shmring_close(c);
	shmring_close(p);
}

MODE_TEST(messages, sendv_stops_where_a_message_cannot_go, TMO)
{
	T_MODE;
	const size_t max = 256;
	shmring *p, *c;
	t_pair(mode, 8192, max, &p, &c);
	static char sb[12][300];
	struct iovec v[12];
	for (int i = 0; i < 12; i++) {
		t_fill(sb[i], max, (uint64_t)i);
		v[i] = (struct iovec){ sb[i], 10 };
	}

	/* Too long: first -> -EMSGSIZE; k-th -> k. */
	v[0].iov_len = max + 1;
	int rc = shmring_sendv(p, v, 3, 0);
	cr_assert_eq(rc, -EMSGSIZE, "%s: sendv with a first message too long: %d (%s)", M, rc,
		     t_err(rc));
	v[0].iov_len = 10;
	v[1].iov_len = max + 1;
	rc = shmring_sendv(p, v, 3, 0);
	cr_assert_eq(rc, 1, "%s: sendv [ok, too long, ok]: %d (%s)", M, rc, t_err(rc));
	RECV_EXPECT(c, 10, 0, 0);
	char b[300];
	cr_assert_eq(shmring_recv(c, b, sizeof(b), 0), -EAGAIN);

	/* Fill, free two, sendv ten: some but not all go, and nothing waits. */
	size_t n = 0;
	while (send_pattern(p, max, 1000 + n, 0) == 0)
		n++;
	for (int i = 0; i < 12; i++)
		v[i].iov_len = max;
	rc = shmring_sendv(p, v, 10, 0);
	cr_assert_eq(rc, -EAGAIN, "%s: sendv on a full ring: %d (%s)", M, rc, t_err(rc));
	int64_t t0 = t_now();
	rc = shmring_sendv(p, v, 10, 50 * MS);
	cr_assert_eq(rc, -ETIMEDOUT, "%s: sendv(50 ms) on a full ring: %d (%s)", M, rc, t_err(rc));
	cr_assert_geq(t_now() - t0, 50 * MS);

	RECV_EXPECT(c, max, 1000, 0);
	RECV_EXPECT(c, max, 1001, 0);
	t0 = t_now();
	rc = shmring_sendv(p, v, 10, 5 * SEC);
	cr_assert(rc >= 1 && rc < 10, "%s: sendv(10) with room for about 2: %d (%s)", M, rc,
		  t_err(rc));
	cr_assert_lt(t_now() - t0, SEC, "%s: sendv waited past its first message", M);
	for (size_t i = 2; i < n; i++)
		RECV_EXPECT(c, max, 1000 + i, 0);
	for (int i = 0; i < rc; i++)
		RECV_EXPECT(c, max, (uint64_t)i, 0);
	cr_assert_eq(shmring_recv(c, b, sizeof(b), 0), -EAGAIN);
	shmring_close(c);
	shmring_close(p);
}

/* ---- Zero copy ------------------------------------------------------------------------ */

MODE_TEST(messages, claim_and_commit, TMO)
{
	T_MODE;
	const size_t max = 512;
	shmring *p, *c;
	t_pair(mode, 16384, max, &p, &c);
	void *b = NULL;

	int rc = shmring_claim(p, 100, &b, 0);
	cr_assert_eq(rc, 0, "%s: claim(100): %d (%s)", M, rc, t_err(rc));
	cr_assert_not_null(b);
	t_fill(b, 100, 5);
	rc = shmring_commit(p, 40);
	cr_assert_eq(rc, 0, "%s: commit(40) of a 100-byte claim: %d (%s)", M, rc, t_err(rc));
	RECV_EXPECT(c, 40, 5, 0);

	rc = shmring_claim(p, max, &b, 0);
	cr_assert_eq(rc, 0, "%s: claim(max_msg): %d (%s)", M, rc, t_err(rc));
	t_fill(b, max, 6);
	cr_assert_eq(shmring_commit(p, max), 0);
	RECV_EXPECT(c, max, 6, 0);

	rc = shmring_claim(p, 0, &b, 0);
	cr_assert_eq(rc, 0, "%s: claim(0): %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(shmring_commit(p, 0), 0);
	RECV_EXPECT(c, 0, 0, 0);

	/* Commit longer than the claim: -EINVAL, and the claim is still held. */
	rc = shmring_claim(p, 50, &b, 0);
	cr_assert_eq(rc, 0);
	t_fill(b, 50, 7);
	rc = shmring_commit(p, 51);
	cr_assert_eq(rc, -EINVAL, "%s: commit(51) of a 50-byte claim: %d (%s)", M, rc, t_err(rc));
	rc = shmring_commit(p, 50);
	cr_assert_eq(rc, 0, "%s: commit(50) after a refused commit(51): %d (%s)", M, rc, t_err(rc));
	RECV_EXPECT(c, 50, 7, 0);

	/* One claim at a time; nothing else goes meanwhile. */
	rc = shmring_claim(p, 30, &b, 0);
	cr_assert_eq(rc, 0);
	void *b2 = (void *)0x1;
	rc = shmring_claim(p, 30, &b2, 0);
	cr_assert_eq(rc, -EBUSY, "%s: claim during a claim: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(b2, (void *)0x1);
	rc = shmring_send(p, "x", 1, 0);
	cr_assert_eq(rc, -EBUSY, "%s: send during a claim: %d (%s)", M, rc, t_err(rc));
	struct iovec v = { (void *)"x", 1 };
	rc = shmring_sendv(p, &v, 1, 0);
	cr_assert_eq(rc, -EBUSY, "%s: sendv during a claim: %d (%s)", M, rc, t_err(rc));
	t_fill(b, 30, 8);
	cr_assert_eq(shmring_commit(p, 30), 0);
	RECV_EXPECT(c, 30, 8, 0);

	/* commit / abort with no claim. */
	rc = shmring_commit(p, 0);
	cr_assert_eq(rc, -EINVAL, "%s: commit with no claim: %d (%s)", M, rc, t_err(rc));
	rc = shmring_abort(p);
	cr_assert_eq(rc, -EINVAL, "%s: abort with no claim: %d (%s)", M, rc, t_err(rc));
	char x;
	cr_assert_eq(shmring_recv(c, &x, 1, 0), -EAGAIN);
	shmring_close(c);
	shmring_close(p);
}

MODE_TEST(messages, aborted_claims_deliver_nothing_and_leak_nothing, TMO)
{
	T_MODE;
	const size_t cap = 4096, max = 512;
	shmring *p, *c;
	t_pair(mode, cap, max, &p, &c);
	char buf[600];
	for (int i = 0; i < 3000; i++) {
		void *b = NULL;
		size_t len = (size_t)(t_mix((uint64_t)i) % (max + 1));
		int rc = shmring_claim(p, len, &b, 0);
		cr_assert_eq(rc, 0, "%s: claim #%d (%zu bytes): %d (%s)", M, i, len, rc, t_err(rc));
		memset(b, 0xab, len);
		cr_assert_eq(shmring_abort(p), 0);
		if (i % 3 == 0) {
			ssize_t n = shmring_recv(c, buf, sizeof(buf), 0);
			cr_assert_eq(n, -EAGAIN, "%s: after abort #%d recv gave %zd (%s)", M, i, n,
				     t_err(n));
		}
		if (i % 7 == 0) {
			cr_assert_eq(send_pattern(p, len, (uint64_t)i, 0), 0,
				     "%s: send after abort", M);
			RECV_EXPECT(c, len, (uint64_t)i, 0);
		}
	}
	ssize_t n = shmring_recv(c, buf, sizeof(buf), 0);
	cr_assert_eq(n, -EAGAIN, "%s: %zd", M, n);
	/* The ring still holds what the contract promises. */
	size_t k = 0;
	while (send_pattern(p, max, k, 0) == 0)
		k++;
	cr_assert_geq(k, t_min_msgs(mode, cap, max), "%s: after 3000 aborts, held %zu", M, k);
	for (size_t i = 0; i < k; i++)
		RECV_EXPECT(c, max, i, 0);
	struct shmring_stat st = t_stat(c);
	cr_assert_eq(st.used, 0, "%s: used %zu", M, st.used);
	shmring_close(c);
	shmring_close(p);
}

MODE_TEST(messages, peek_and_release, TMO)
{
	T_MODE;
	shmring *p, *c;
	t_pair(mode, 16384, 512, &p, &c);
	const void *m = NULL;
	size_t len = 99;

	int rc = shmring_peek(c, &m, &len, 0);
	cr_assert_eq(rc, -EAGAIN, "%s: peek on empty: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(len, 99, "%s: peek wrote *len on failure", M);
	rc = shmring_release(c);
	cr_assert_eq(rc, -EINVAL, "%s: release with no peek: %d (%s)", M, rc, t_err(rc));

	cr_assert_eq(send_pattern(p, 30, 30, 0), 0);
	cr_assert_eq(send_pattern(p, 40, 40, 0), 0);
	cr_assert_eq(send_pattern(p, 0, 0, 0), 0);
	rc = shmring_peek(c, &m, &len, 0);
	cr_assert_eq(rc, 0, "%s: peek: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(len, 30, "%s: peek len %zu vs 30", M, len);
	cr_assert_eq(t_check(m, 30, 30), -1, "%s: peeked payload", M);
	struct shmring_stat st = t_stat(c);
	cr_assert_gt(st.used, 0, "%s: used 0 while a peek holds a message", M);

	char buf[512];
	ssize_t n = shmring_recv(c, buf, sizeof(buf), 0);
	cr_assert_eq(n, -EBUSY, "%s: recv during a peek: %zd (%s)", M, n, t_err(n));
	const void *m2 = (const void *)0x1;
	size_t l2 = 7;
	rc = shmring_peek(c, &m2, &l2, 0);
	cr_assert_eq(rc, -EBUSY, "%s: peek during a peek: %d (%s)", M, rc, t_err(rc));
	cr_assert(m2 == (const void *)0x1 && l2 == 7, "%s: out-params written on failure", M);
	struct iovec v = { buf, sizeof(buf) };
	rc = shmring_recvv(c, &v, 1, 0);
	cr_assert_eq(rc, -EBUSY, "%s: recvv during a peek: %d (%s)", M, rc, t_err(rc));
	/* The peeked message stays valid until release. */
	cr_assert_eq(t_check(m, 30, 30), -1, "%s: peeked payload changed", M);
	cr_assert_eq(shmring_release(c), 0);
	rc = shmring_release(c);
	cr_assert_eq(rc, -EINVAL, "%s: second release: %d (%s)", M, rc, t_err(rc));

	RECV_EXPECT(c, 40, 40, 0);
	rc = shmring_peek(c, &m, &len, 0);
	cr_assert_eq(rc, 0, "%s: peek of an empty message: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(len, 0, "%s: peek len %zu vs 0", M, len);
	cr_assert_eq(shmring_release(c), 0);
	rc = shmring_peek(c, &m, &len, 0);
	cr_assert_eq(rc, -EAGAIN, "%s: peek after release of the last: %d (%s)", M, rc, t_err(rc));
	st = t_stat(c);
	cr_assert_eq(st.used, 0, "%s: used %zu after release", M, st.used);
	cr_assert_eq(st.received, 3, "%s: received %llu vs 3", M, (unsigned long long)st.received);
	shmring_close(c);
	shmring_close(p);
}

/* On multi-consumer rings, a consumer's peek does not hold up the others; on
 * multi-producer rings, a producer's claim does not lose anyone's message. */
MODE_TEST(messages, claims_and_peeks_beside_other_endpoints, TMO)
{
	T_MODE;
	shmring *p, *c;
	t_pair(mode, 16384, 512, &p, &c);
	if (t_multi_cons(mode)) {
		shmring *c2 = NULL;
		int rc = shmring_open_fd(shmring_fd(p), SHMRING_CONSUMER, &c2);
		cr_assert_eq(rc, 0, "%s: second consumer: %d (%s)", M, rc, t_err(rc));
		cr_assert_eq(send_pattern(p, 11, 1, 0), 0);
		cr_assert_eq(send_pattern(p, 12, 2, 0), 0);
		const void *m;
		size_t len;
		rc = shmring_peek(c, &m, &len, 0);
		cr_assert_eq(rc, 0, "%s: peek: %d (%s)", M, rc, t_err(rc));
		cr_assert_eq(len, 11);
		static char rb[512];
		ssize_t n = shmring_recv(c2, rb, sizeof(rb), 0);
		cr_assert_eq(n, 12, "%s: second consumer during a peek: %zd (%s)", M, n, t_err(n));
		cr_assert_eq(t_check(rb, 12, 2), -1);
		n = shmring_recv(c2, rb, sizeof(rb), 0);
		cr_assert_eq(n, -EAGAIN, "%s: the peeked message went twice: %zd", M, n);
		cr_assert_eq(shmring_release(c), 0);
		n = shmring_recv(c2, rb, sizeof(rb), 0);
		cr_assert_eq(n, -EAGAIN, "%s: released message delivered again: %zd", M, n);
		shmring_close(c2);
	}
	if (t_multi_prod(mode)) {
		shmring *p2 = NULL;
		int rc = shmring_open_fd(shmring_fd(p), SHMRING_PRODUCER, &p2);
		cr_assert_eq(rc, 0, "%s: second producer: %d (%s)", M, rc, t_err(rc));
		void *b;
		rc = shmring_claim(p, 21, &b, 0);
		cr_assert_eq(rc, 0);
		cr_assert_eq(send_pattern(p2, 22, 22, 0), 0, "%s: send beside a claim", M);
		t_fill(b, 21, 21);
		cr_assert_eq(shmring_commit(p, 21), 0);
		static char rb[512];
		int seen21 = 0, seen22 = 0;
		for (int i = 0; i < 2; i++) {
			ssize_t n = shmring_recv(c, rb, sizeof(rb), 0);
			cr_assert(n == 21 || n == 22, "%s: recv %d: %zd (%s)", M, i, n, t_err(n));
			cr_assert_eq(t_check(rb, (size_t)n, (uint64_t)n), -1);
			n == 21 ? seen21++ : seen22++;
		}
		cr_assert(seen21 == 1 && seen22 == 1, "%s: got %d and %d", M, seen21, seen22);
		/* An aborted claim beside another producer's message. */
		rc = shmring_claim(p, 21, &b, 0);
		cr_assert_eq(rc, 0);
		cr_assert_eq(send_pattern(p2, 23, 23, 0), 0);
		cr_assert_eq(shmring_abort(p), 0);
		ssize_t n = shmring_recv(c, rb, sizeof(rb), 0);
		cr_assert_eq(n, 23, "%s: message after an aborted claim: %zd (%s)", M, n, t_err(n));
		n = shmring_recv(c, rb, sizeof(rb), 0);
		cr_assert_eq(n, -EAGAIN, "%s: %zd", M, n);
		shmring_close(p2);
	}
	shmring_close(c);
	shmring_close(p);
}

/* ---- Roles ------------------------------------------------------------------------- */

MODE_TEST(messages, roles_are_enforced, TMO)
{
	T_MODE;
	shmring *p, *c, *o = NULL;
	t_pair(mode, 16384, 512, &p, &c);
	int rc = shmring_open_fd(shmring_fd(p), SHMRING_OBSERVER, &o);
	cr_assert_eq(rc, 0, "%s: open observer: %d (%s)", M, rc, t_err(rc));
	char buf[64];
	void *b = (void *)0x1;
	const void *m = (const void *)0x1;
	size_t len = 5;
	struct iovec v = { buf, sizeof(buf) };

	/* A consumer cannot produce. */
	rc = shmring_send(c, "x", 1, 0);
	cr_assert_eq(rc, -EPERM, "%s: send on a consumer: %d (%s)", M, rc, t_err(rc));
	rc = shmring_sendv(c, &v, 1, 0);
	cr_assert_eq(rc, -EPERM, "%s: sendv on a consumer: %d (%s)", M, rc, t_err(rc));
	rc = shmring_claim(c, 1, &b, 0);
	cr_assert_eq(rc, -EPERM, "%s: claim on a consumer: %d (%s)", M, rc, t_err(rc));
	rc = shmring_commit(c, 0);
	cr_assert(rc == -EPERM || rc == -EINVAL, "%s: commit on a consumer: %d (%s)", M, rc,
		  t_err(rc));
	rc = shmring_abort(c);
	cr_assert(rc == -EPERM || rc == -EINVAL, "%s: abort on a consumer: %d (%s)", M, rc,
		  t_err(rc));

	/* A producer cannot consume. */
	cr_assert_eq(shmring_send(p, "y", 1, 0), 0);
	ssize_t n = shmring_recv(p, buf, sizeof(buf), 0);
	cr_assert_eq(n, -EPERM, "%s: recv on a producer: %zd (%s)", M, n, t_err(n));
	rc = shmring_recvv(p, &v, 1, 0);
	cr_assert_eq(rc, -EPERM, "%s: recvv on a producer: %d (%s)", M, rc, t_err(rc));
	rc = shmring_peek(p, &m, &len, 0);
	cr_assert_eq(rc, -EPERM, "%s: peek on a producer: %d (%s)", M, rc, t_err(rc));
	rc = shmring_release(p);
	cr_assert(rc == -EPERM || rc == -EINVAL, "%s: release on a producer: %d (%s)", M, rc,
		  t_err(rc));

	/* An observer can only stat. */
	rc = shmring_send(o, "x", 1, 0);
	cr_assert_eq(rc, -EPERM, "%s: send on an observer: %d (%s)", M, rc, t_err(rc));
	rc = shmring_claim(o, 1, &b, 0);
	cr_assert_eq(rc, -EPERM, "%s: claim on an observer: %d (%s)", M, rc, t_err(rc));
	n = shmring_recv(o, buf, sizeof(buf), 0);
	cr_assert_eq(n, -EPERM, "%s: recv on an observer: %zd (%s)", M, n, t_err(n));
	rc = shmring_peek(o, &m, &len, 0);
	cr_assert_eq(rc, -EPERM, "%s: peek on an observer: %d (%s)", M, rc, t_err(rc));
	rc = shmring_recvv(o, &v, 1, 0);
	cr_assert_eq(rc, -EPERM, "%s: recvv on an observer: %d (%s)", M, rc, t_err(rc));
	n = shmring_read(o, buf, sizeof(buf), 0);
	cr_assert(n == -EPERM || n == -EOPNOTSUPP, "%s: read on an observer: %zd (%s)", M, n,
		  t_err(n));
	n = shmring_write(o, buf, 1, 0);
	cr_assert(n == -EPERM || n == -EOPNOTSUPP, "%s: write on an observer: %zd (%s)", M, n,
		  t_err(n));
	cr_assert(b == (void *)0x1 && m == (const void *)0x1 && len == 5,
		  "%s: out-params written on failure", M);
	struct shmring_stat st = t_stat(o);
	cr_assert_eq(st.sent, 1);

	/* Streams and messages do not mix. */
	n = shmring_write(p, buf, 1, 0);
	cr_assert_eq(n, -EOPNOTSUPP, "%s: write on a message ring: %zd (%s)", M, n, t_err(n));
	n = shmring_read(c, buf, sizeof(buf), 0);
	cr_assert_eq(n, -EOPNOTSUPP, "%s: read on a message ring: %zd (%s)", M, n, t_err(n));
	n = shmring_recv(c, buf, sizeof(buf), 0);
	cr_assert_eq(n, 1, "%s: the message survived all that: %zd (%s)", M, n, t_err(n));

	/* Both roles on one handle. */
	shmring *pc = NULL;
	shmring_close(c);
	if (!t_multi_prod(mode))
		shmring_close(p);
	rc = shmring_open_fd(shmring_fd(o), SHMRING_PRODUCER | SHMRING_CONSUMER, &pc);
	cr_assert_eq(rc, 0, "%s: open as producer|consumer: %d (%s)", M, rc, t_err(rc));
	cr_assert_eq(send_pattern(pc, 33, 33, 0), 0);
	RECV_EXPECT(pc, 33, 33, 0);
	shmring_close(pc);
	if (t_multi_prod(mode))
		shmring_close(p);
	shmring_close(o);
}

/* ---- Signals ----------------------------------------------------------------------- */

static volatile sig_atomic_t got_signal;
static void on_usr1(int sig)
{
	(void)sig;
	got_signal = 1;
}

MODE_TEST(messages, a_signal_ends_a_wait_with_eintr, TMO)
{
	T_MODE;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);

	/* The default spin, none (sleep at once), busy-polling and a spin of
	 * 10 s: in the last two the signal comes in the spin, which has no
	 * system call for the kernel to interrupt (wait.c, sigguard_*). */
	static const int64_t spins[] = { 1, 0, -1, 10 * SEC };
	static const char *spin_names[] = { "default", "0", "busy-poll", "10 s" };
	for (int variant = 0; variant < 8; variant++) {
		int kind = variant % 4, on_send = variant / 4;
		shmring *p, *c;
		t_pair(mode, 4096, 1024, &p, &c);
		if (spins[kind] != 1) {
			shmring_set_spin(p, spins[kind]);
			shmring_set_spin(c, spins[kind]);
		}
		if (on_send)
			while (send_pattern(p, 1024, 0, 0) == 0) {
			}
		volatile int *done = t_shared(4096);
		pid_t parent = getpid();
		got_signal = 0;
		pid_t pid = t_fork();
		if (pid == 0) {
			/* A signal that lands just outside the sleep (as it can for
			 * read(2)) does not end the wait: repeat it every 50 ms. */
			for (int i = 0; i < 60 && !*done; i++) {
				t_sleep_ms(50);
				if (!*done)
					kill(parent, SIGUSR1);
			}
			/* If the wait did not end, end it the normal way after 3 s. */
			if (!*done) {
				char b[1024];
				if (on_send)
					shmring_recv(c, b, sizeof(b), 0);
				else
					shmring_send(p, "late", 4, 0);
			}
			_exit(0);
		}
		char b[1024];
		int64_t t0 = t_now();
		long rc = on_send ? shmring_send(p, b, 1024, -1)
				  : shmring_recv(c, b, sizeof(b), -1);
		int64_t dt = t_now() - t0;
		*done = 1;
		t_reap_ok(pid, 10, "signaller");
		cr_assert(got_signal, "%s: the signal did not arrive", M);
		cr_assert_eq(rc, -EINTR, "%s: %s(-1, spin %s) interrupted by a signal: %ld (%s)", M,
			     on_send ? "send" : "recv", spin_names[kind], rc, t_err(rc));
		cr_assert_lt(dt, 2 * SEC, "%s: the signal ended the wait only after %.3f s", M,
			     dt / 1e9);
		munmap((void *)done, 4096);
		shmring_close(c);
		shmring_close(p);
	}
	signal(SIGUSR1, SIG_DFL);
}

/* A signal with no handler (SIGWINCH, ignored by default) ends no wait,
 * in a spin as in a sleep, though the spin blocks it for a while (wait.c,
 * sigguard_*): the consumer gets the message sent after the signals. */
Test(messages, a_signal_without_a_handler_does_not_end_a_wait, TMO)
{
	signal(SIGWINCH, SIG_DFL);
	static const int64_t spins[] = { -1, 10 * SEC, 0 };
	for (int kind = 0; kind < 3; kind++) {
		shmring *p, *c;
		t_pair(SHMRING_SPSC, 4096, 1024, &p, &c);
		shmring_set_spin(c, spins[kind]);
		pid_t parent = getpid();
		pid_t pid = t_fork();
		if (pid == 0) {
			for (int i = 0; i < 6; i++) {
				t_sleep_ms(50);
				kill(parent, SIGWINCH);
			}
			t_sleep_ms(50);
			_exit(shmring_send(p, "late", 4, 0) == 0 ? 0 : 1);
		}
		char b[64];
		long rc = shmring_recv(c, b, sizeof(b), 5 * SEC);
		t_reap_ok(pid, 10, "signaller");
		cr_assert_eq(rc, 4, "spin %lld: recv after signals with no handler: %ld (%s)",
			     (long long)spins[kind], rc, t_err(rc));
		sigset_t pending;
		sigpending(&pending);
		cr_assert_eq(sigismember(&pending, SIGWINCH), 0, "spin %lld: SIGWINCH left pending",
			     (long long)spins[kind]);
		shmring_close(c);
		shmring_close(p);
	}
}

/* A signal left at its default action keeps it in a long spin: the guard
 * that blocks caught signals there (wait.c) must not block SIGTERM, SIGINT
 * or SIGTSTP with no handler. Found by review: a busy-polling consumer
 * could then be stopped by SIGKILL alone. */
Test(messages, a_signal_with_no_handler_keeps_its_default_action_in_a_spin, TMO)
{
	static const int64_t spins[] = { -1, 10 * SEC };
	for (int kind = 0; kind < 2; kind++) {
		shmring *p, *c;
		t_pair(SHMRING_SPSC, 4096, 1024, &p, &c);
		shmring_set_spin(c, spins[kind]);
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			char b[64];
			shmring_recv(c, b, sizeof(b), -1);
			_exit(3); /* not reached: SIGTERM ends the process */
		}
		t_sleep_ms(100); /* past the 10 ms guard */
		int64_t t0 = t_now();
		kill(pid, SIGTERM);
		int st = 0;
		pid_t w = 0;
		while ((w = waitpid(pid, &st, WNOHANG)) == 0 && t_now() - t0 < 2 * SEC)
			t_sleep_ms(5);
		if (w == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
		cr_assert(w == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
			  "spin %lld: SIGTERM with no handler did not end the process (status %#x)",
			  (long long)spins[kind], st);
		shmring_close(c);
		shmring_close(p);
	}
}

/* ---- pollfd ------------------------------------------------------------------------ */

static int readable(int fd, int timeout_ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int k;
	do
		k = poll(&pf, 1, timeout_ms);
	while (k < 0 && errno == EINTR);
	return k > 0 && (pf.revents & POLLIN);
}

/* "Not readable once we have tried": readiness may be spurious right after a
 * change, so try the call, then poll again. */
static int settles_unreadable(shmring *r, int fd, int consumer)
{
	for (int i = 0; i < 3; i++) {
		if (!readable(fd, 0))
			return 1;
		char b[4096];
		long rc = consumer ? shmring_recv(r, b, sizeof(b), 0) : 0;
		if (consumer && rc != -EAGAIN)
			return 0;
		t_sleep_ms(5);
	}
	return !readable(fd, 0);
}

MODE_TEST(messages, pollfd_reports_readiness, TMO)
{
	T_MODE;
	const size_t max = 512;
	shmring *p, *c;
	t_pair(mode, 4096, max, &p, &c);
	int cfd = shmring_pollfd(c);
	cr_assert_geq(cfd, 0, "%s: consumer pollfd: %d (%s)", M, cfd, t_err(cfd));
	int pfd = shmring_pollfd(p);
	cr_assert_geq(pfd, 0, "%s: producer pollfd: %d (%s)", M, pfd, t_err(pfd));

	cr_assert(settles_unreadable(c, cfd, 1), "%s: empty ring's consumer stays readable", M);
	cr_assert(readable(pfd, 1000), "%s: producer of an empty ring not readable", M);

	/* A message: the consumer becomes readable. */
	cr_assert_eq(send_pattern(p, 10, 10, 0), 0);
	cr_assert(readable(cfd, 1000), "%s: consumer not readable with a message queued", M);
	RECV_EXPECT(c, 10, 10, 0);
	cr_assert(settles_unreadable(c, cfd, 1), "%s: drained consumer stays readable", M);

	/* Full: the producer is not readable; one message out, it is. */
	size_t n = 0;
	while (send_pattern(p, max, n, 0) == 0)
		n++;
	int still = 0;
	for (int i = 0; i < 3 && (still = readable(pfd, 0)); i++) {
		cr_assert_eq(send_pattern(p, max, 999, 0), -EAGAIN);
		t_sleep_ms(5);
	}
	cr_assert(!still, "%s: producer of a full ring stays readable", M);
	RECV_EXPECT(c, max, 0, 0);
	cr_assert(readable(pfd, 1000), "%s: producer not readable after room came back", M);

	for (size_t i = 1; i < n; i++)
		RECV_EXPECT(c, max, i, 0);
	cr_assert(settles_unreadable(c, cfd, 1), "%s: drained consumer stays readable", M);
	shmring_close(c);
	shmring_close(p);
}

/* A ring shared by fork. The parent's consumer is armed (its last call said
 * -EAGAIN); the child, like a pipe user, may first close the end it does not
 * use (its share of the consumer); then it sends and closes. The parent, which
 * makes no call in between, must see its pollfd turn readable. */
MODE_TEST(messages, pollfd_works_across_fork, TMO)
{
	T_MODE;
	for (int closes = 0; closes < 2; closes++) {
		const char *how = closes ? "child closed its inherited consumer share"
					 : "child kept its inherited consumer share";
		shmring *p, *c;
		t_pair(mode, 4096, 512, &p, &c);
		int cfd = shmring_pollfd(c);
		cr_assert_geq(cfd, 0, "%s: consumer pollfd: %d (%s)", M, cfd, t_err(cfd));
		cr_assert(settles_unreadable(c, cfd, 1), "%s: empty ring's consumer stays readable",
			  M);
		char b[64];
		cr_assert_eq(shmring_recv(c, b, sizeof(b), 0), -EAGAIN); /* armed */
		cr_assert(!readable(cfd, 0), "%s: readable with nothing to read", M);
		int ready[2], go[2];
		t_pipe(ready);
		t_pipe(go);
		pid_t pid = t_fork();
		if (pid == 0) {
			if (closes)
				shmring_close(c);
			t_put(ready[1], 'r');
			if (t_get(go[0], 5000) != 'g')
				_exit(2);
			int r2 = send_pattern(p, 20, 20, 0);
			CHILD_CHECK(r2 == 0, r2, 0);
			shmring_close(p);
			t_sleep_ms(3000);
			_exit(0);
		}
		cr_assert_eq(t_get(ready[0], 5000), 'r');
		t_put(go[1], 'g');
		/* Readiness may be spurious right after a change of state: poll,
		 * try with timeout 0, poll again; the message within 2 s. */
		static char rb[64];
		ssize_t got = -EAGAIN;
		int polls = 0;
		int64_t t1 = t_now();
		while (got == -EAGAIN && t_now() - t1 < 2 * SEC) {
			if (!readable(cfd, 100))
				continue;
			polls++;
			got = shmring_recv(c, rb, sizeof(rb), 0);
		}
		t_kill(pid);
		cr_assert_eq(
			got, 20,
			"%s (%s): the child's message: %zd (%s) after %d readable polls in 2 s", M,
			how, got, t_err(got), polls);
		cr_assert_eq(t_check(rb, 20, 20), -1);
		close(ready[0]);
		close(ready[1]);
		close(go[0]);
		close(go[1]);
		shmring_close(p);
		shmring_close(c);
	}
}

/* A batch entry with a length and no buffer: the batch ends before it, and
 * one that starts with it is -EINVAL (it was a NULL dereference). */
MODE_TEST(messages, a_batch_entry_without_a_buffer_is_einval, .timeout = 20)
{
	T_MODE;
	shmring *p, *c;
	t_pair(mode, 4096, 64, &p, &c);
	char a[8] = "one", b[8] = "two", in[2][64];
	struct iovec v[3] = { { NULL, 3 }, { a, 3 }, { b, 3 } };
	cr_assert_eq(shmring_sendv(p, v, 3, 0), -EINVAL, "%s: sendv, first entry NULL", M);
	v[0] = (struct iovec){ a, 3 };
	v[1] = (struct iovec){ NULL, 3 };
	cr_assert_eq(shmring_sendv(p, v, 3, 0), 1, "%s: sendv stops before the NULL entry", M);
	cr_assert_eq(shmring_send(p, b, 3, 0), 0);
	struct iovec r[2] = { { NULL, 64 }, { in[1], 64 } };
	cr_assert_eq(shmring_recvv(c, r, 2, 0), -EINVAL, "%s: recvv, first entry NULL", M);
	r[0] = (struct iovec){ in[0], 64 };
	r[1] = (struct iovec){ NULL, 64 };
	cr_assert_eq(shmring_recvv(c, r, 2, 0), 1, "%s: recvv stops before the NULL entry", M);
	cr_assert_eq(memcmp(in[0], "one", 3), 0);
	cr_assert_eq(shmring_recv(c, in[1], 64, 0), 3, "%s: the second message is still there", M);
	shmring_close(c);
	shmring_close(p);
}

/* Timeouts and spins up to INT64_MAX: no signed overflow (the sanitizer
 * build fails on one), and they mean "as long as it takes". */
Test(messages, the_largest_timeouts_and_spins_do_not_overflow, .timeout = 20)
{
	shmring *e[2];
	cr_assert_eq(shmring_pipe(e, NULL), 0);
	cr_assert_eq(shmring_write(e[1], "x", 1, INT64_MAX), 1);
	cr_assert_eq(shmring_write(e[1], "y", 1, INT64_MAX - 1), 1);
	char buf[4];
	cr_assert_eq(shmring_read(e[0], buf, sizeof(buf), INT64_MAX), 2);
	cr_assert_eq(shmring_set_spin(e[0], INT64_MAX), 0);
	ssize_t k = shmring_read(e[0], buf, sizeof(buf), MS); /* spins to the deadline */
	cr_assert(k == -ETIMEDOUT || k == -EAGAIN, "an empty read: %zd", k);
	cr_assert_eq(shmring_write(e[1], "z", 1, 0), 1);
	cr_assert_eq(shmring_read(e[0], buf, sizeof(buf), INT64_MAX), 1);
	shmring_close(e[0]);
	shmring_close(e[1]);
}
