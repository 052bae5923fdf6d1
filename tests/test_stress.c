/* SPDX-License-Identifier: MIT */
/*
 * test_stress.c - many processes, one ring: exactly-once and per-producer
 * order under preemption.
 *
 * For each mode, P producer and C consumer processes (SPSC 1x1, MPSC 3x1,
 * SPMC 1x3, MPMC 3x3: more processes than cores, so that preemption lands
 * inside claim/commit and peek/release windows). Producers send stamped
 * messages (producer id, sequence, length, checksum, payload derived from id
 * and sequence) of varying length through send, sendv and claim/commit;
 * consumers receive through recv, recvv and peek/release, check each message
 * whole, check that each producer's sequence only increases, and count every
 * (producer, sequence) in a shared array. The parent then proves that each
 * was received exactly once.
 *
 * Three waiting styles: the default spin-then-sleep, spin 0 (every wait goes
 * to the futex), and busy-polling (spin -1). SHMRING_LONG=1 runs 20 times
 * as many messages.
 */
#include "common.h"

#include <stdatomic.h>

enum wait_style { W_DEFAULT, W_FUTEX, W_BUSY };

struct stress_param {
	enum shmring_mode mode;
	int P, C;
	enum wait_style wait;
	uint32_t per_producer; /* messages per producer (before SHMRING_LONG) */
};

struct stress_shared {
	atomic_uint ready;
	atomic_uint go;
	atomic_ullong received;
	atomic_uchar counts[]; /* [P][N] times (p, seq) arrived */
};

#define MAX_MSG 512
#define CAPACITY 16384

static const char *wait_name(enum wait_style w)
{
	return w == W_DEFAULT ? "default spin" : w == W_FUTEX ? "spin 0" : "busy-poll";
}

static int long_run(void)
{
	const char *e = getenv("SHMRING_LONG");
	return e && *e && strcmp(e, "0") != 0;
}

static size_t len_of(uint32_t id, uint32_t seq)
{
	uint64_t r = t_mix(((uint64_t)id << 32) | seq);
	/* Mostly small, sometimes up to max_msg. */
	if (r & 1)
		return T_STAMP_MIN + (size_t)((r >> 8) % 64);
	return T_STAMP_MIN + (size_t)((r >> 8) % (MAX_MSG - T_STAMP_MIN + 1));
}

static void barrier(struct stress_shared *sh, unsigned n)
{
	atomic_fetch_add(&sh->ready, 1);
	int64_t t0 = t_now();
	while (atomic_load(&sh->ready) < n) {
		CHILD_CHECK(t_now() - t0 < 20 * SEC, atomic_load(&sh->ready), n);
		t_sleep_ms(1);
	}
}

static int64_t tmo_of(enum wait_style w)
{
	return w == W_FUTEX ? 30 * SEC : -1;
}

static void producer(shmring *o, struct stress_shared *sh, const struct stress_param *sp,
		     uint32_t id, uint32_t N)
{
	shmring *p = NULL;
	int rc = shmring_open_fd(shmring_fd(o), SHMRING_PRODUCER, &p);
	CHILD_CHECK(rc == 0, rc, id);
	shmring_close(o);
	if (sp->wait != W_DEFAULT) {
		rc = shmring_set_spin(p, sp->wait == W_FUTEX ? 0 : -1);
		CHILD_CHECK(rc == 0, rc, 0);
	}
	barrier(sh, (unsigned)(sp->P + sp->C));
	static char bufs[8][MAX_MSG];
	uint64_t rng = 0x9e37 * (id + 1);
	int64_t tmo = tmo_of(sp->wait);
	uint32_t seq = 0;
	while (seq < N) {
		unsigned api = (unsigned)(t_rand(&rng) % 4);
		if (api == 0) { /* sendv of up to 8 */
			struct iovec v[8];
			int n = 1 + (int)(t_rand(&rng) % 8);
			if ((uint32_t)n > N - seq)
				n = (int)(N - seq);
			for (int k = 0; k < n; k++) {
				size_t len = len_of(id, seq + (uint32_t)k);
				t_stamp_make(bufs[k], len, id, seq + (uint32_t)k);
				v[k] = (struct iovec){ bufs[k], len };
			}
			rc = shmring_sendv(p, v, n, tmo);
			CHILD_CHECKF(rc >= 1 && rc <= n, rc, seq, "sendv(%d) of seq %u: %d (%s)", n,
				     seq, rc, t_err(rc));
			seq += (uint32_t)rc;
		} else if (api == 1) { /* claim / commit */
			size_t len = len_of(id, seq);
			void *w = NULL;
			size_t want = len + (size_t)(t_rand(&rng) % (MAX_MSG - len + 1));
			rc = shmring_claim(p, want, &w, tmo);
			CHILD_CHECKF(rc == 0, rc, seq, "claim(%zu) of seq %u: %d (%s)", want, seq,
				     rc, t_err(rc));
			t_stamp_make(w, len, id, seq);
			rc = shmring_commit(p, len);
			CHILD_CHECKF(rc == 0, rc, seq, "commit of seq %u: %d (%s)", seq, rc,
				     t_err(rc));
			seq++;
		} else {
			size_t len = len_of(id, seq);
			t_stamp_make(bufs[0], len, id, seq);
			rc = shmring_send(p, bufs[0], len, tmo);
			CHILD_CHECKF(rc == 0, rc, seq, "send of seq %u: %d (%s)", seq, rc,
				     t_err(rc));
			seq++;
		}
	}
	shmring_close(p);
	_exit(0);
}

static void consumer(shmring *o, struct stress_shared *sh, const struct stress_param *sp,
		     uint32_t cid, uint32_t N)
{
	shmring *c = NULL;
	int rc = shmring_open_fd(shmring_fd(o), SHMRING_CONSUMER, &c);
	CHILD_CHECK(rc == 0, rc, cid);
	shmring_close(o);
	if (sp->wait != W_DEFAULT) {
		rc = shmring_set_spin(c, sp->wait == W_FUTEX ? 0 : -1);
		CHILD_CHECK(rc == 0, rc, 0);
	}
	barrier(sh, (unsigned)(sp->P + sp->C));
	int64_t last[8];
	for (int i = 0; i < 8; i++)
		last[i] = -1;
	static char bufs[8][MAX_MSG];
	uint64_t rng = 0x7f4a * (cid + 1);
	int64_t tmo = tmo_of(sp->wait);
	uint64_t mine = 0;
	for (;;) {
		unsigned api = (unsigned)(t_rand(&rng) % 4);
		const void *msgs[8];
		size_t lens[8];
		int n;
		int peeked = 0;
		if (api == 0) {
			struct iovec v[8];
			n = 1 + (int)(t_rand(&rng) % 8);
			for (int k = 0; k < n; k++)
				v[k] = (struct iovec){ bufs[k], MAX_MSG };
			rc = shmring_recvv(c, v, n, tmo);
			if (rc == -EPIPE)
				break;
			CHILD_CHECKF(rc >= 1 && rc <= n, rc, n, "recvv(%d): %d (%s)", n, rc,
				     t_err(rc));
			n = rc;
			for (int k = 0; k < n; k++) {
				msgs[k] = bufs[k];
				lens[k] = v[k].iov_len;
			}
		} else if (api == 1) {
			rc = shmring_peek(c, &msgs[0], &lens[0], tmo);
			if (rc == -EPIPE)
				break;
			CHILD_CHECKF(rc == 0, rc, 0, "peek: %d (%s)", rc, t_err(rc));
			n = 1;
			peeked = 1;
		} else {
			ssize_t k = shmring_recv(c, bufs[0], MAX_MSG, tmo);
			if (k == -EPIPE)
				break;
			CHILD_CHECKF(k >= 0, k, 0, "recv: %zd (%s)", k, t_err(k));
			msgs[0] = bufs[0];
			lens[0] = (size_t)k;
			n = 1;
		}
		for (int k = 0; k < n; k++) {
			uint32_t id, seq;
			CHILD_CHECKF(t_stamp_check(msgs[k], lens[k], &id, &seq) == 0, lens[k], k,
				     "consumer %u: torn or corrupt message of %zu bytes", cid,
				     lens[k]);
			CHILD_CHECKF(id < (uint32_t)sp->P && seq < N, id, seq,
				     "consumer %u: stamp (%u, %u) out of range", cid, id, seq);
			CHILD_CHECKF((int64_t)seq > last[id], seq, last[id],
				     "consumer %u: producer %u's seq %u after %lld: out of order",
				     cid, id, seq, (long long)last[id]);
			last[id] = seq;
			atomic_fetch_add_explicit(&sh->counts[(size_t)id * N + seq], 1,
						  memory_order_relaxed);
		}
		if (peeked) {
			rc = shmring_release(c);
			CHILD_CHECKF(rc == 0, rc, 0, "release: %d (%s)", rc, t_err(rc));
		}
		mine += (uint64_t)n;
	}
	atomic_fetch_add(&sh->received, mine);
	shmring_close(c);
	_exit(0);
}

static void run_stress(const struct stress_param *sp)
{
	const char *M = t_mode(sp->mode);
	uint32_t N = sp->per_producer * (long_run() ? 20 : 1);
	size_t shlen = sizeof(struct stress_shared) + (size_t)sp->P * N;
	struct stress_shared *sh = t_shared(shlen);
	struct shmring_config cfg = t_cfg(sp->mode, CAPACITY, MAX_MSG);
	shmring *o = NULL;
	int rc = shmring_create_anon(&cfg, SHMRING_OBSERVER, &o);
	cr_assert_eq(rc, 0, "%s: create_anon: %d (%s)", M, rc, t_err(rc));

	pid_t kids[16];
	int nk = 0;
	for (int i = 0; i < sp->C; i++) {
		pid_t pid = t_fork();
		if (pid == 0)
			consumer(o, sh, sp, (uint32_t)i, N);
		kids[nk++] = pid;
	}
	for (int i = 0; i < sp->P; i++) {
		pid_t pid = t_fork();
		if (pid == 0)
			producer(o, sh, sp, (uint32_t)i, N);
		kids[nk++] = pid;
	}

	/* Watchdog: a generous budget per message, never a speed assertion. */
	double budget = 60.0 + (double)N * sp->P * (sp->wait == W_BUSY ? 2e-3 : 4e-4);
	int64_t deadline = t_now() + (int64_t)(budget * 1e9);
	int left = nk, failed = -1, status[16] = { 0 }, done[16] = { 0 };
	while (left > 0 && t_now() < deadline) {
		for (int i = 0; i < nk; i++) {
			if (done[i])
				continue;
			pid_t w = waitpid(kids[i], &status[i], WNOHANG);
			if (w == kids[i]) {
				done[i] = 1;
				left--;
				if ((!WIFEXITED(status[i]) || WEXITSTATUS(status[i]) != 0) &&
				    failed < 0)
					failed = i;
			}
		}
		if (failed >= 0)
			break;
		t_sleep_ms(5);
	}
	struct shmring_stat st = t_stat(o);
	for (int i = 0; i < nk; i++)
		if (!done[i])
			t_kill(kids[i]);
	if (failed >= 0) {
		const struct t_report *r = t_report_of(kids[failed]);
		cr_assert_fail(
			"%s %dx%d %s: %s %d failed (status %#x) at line %d: %s [a=%lld b=%lld];"
			" stat: dropped %llu sent %llu received %llu",
			M, sp->P, sp->C, wait_name(sp->wait),
			failed < sp->C ? "consumer" : "producer",
			failed < sp->C ? failed : failed - sp->C, status[failed], r ? r->line : 0,
			r ? r->what : "?", r ? r->a : 0, r ? r->b : 0,
			(unsigned long long)st.dropped, (unsigned long long)st.sent,
			(unsigned long long)st.received);
	}
	cr_assert_eq(left, 0,
		     "%s %dx%d %s: %d processes still running after %.0f s (hang): sent %llu "
		     "received %llu used %zu sleepers %u producers %u consumers %u",
		     M, sp->P, sp->C, wait_name(sp->wait), left, budget,
		     (unsigned long long)st.sent, (unsigned long long)st.received, st.used,
		     st.sleepers, st.producers, st.consumers);

	/* Exactly once, every one. */
	uint64_t total = (uint64_t)sp->P * N, missing = 0, dup = 0;
	long first_bad = -1;
	for (uint64_t i = 0; i < total; i++) {
		unsigned k = atomic_load_explicit(&sh->counts[i], memory_order_relaxed);
		if (k != 1 && first_bad < 0)
			first_bad = (long)i;
		missing += k == 0;
		dup += k > 1;
	}
	st = t_stat(o);
	cr_assert(
		missing == 0 && dup == 0,
		"%s %dx%d %s: %llu missing, %llu duplicated of %llu; first bad: producer %ld seq %ld"
		" (count %u); stat: dropped %llu sent %llu received %llu",
		M, sp->P, sp->C, wait_name(sp->wait), (unsigned long long)missing,
		(unsigned long long)dup, (unsigned long long)total, first_bad / (long)N,
		first_bad % (long)N,
		first_bad >= 0 ? (unsigned)atomic_load(&sh->counts[first_bad]) : 0u,
		(unsigned long long)st.dropped, (unsigned long long)st.sent,
		(unsigned long long)st.received);
	cr_assert_eq(atomic_load(&sh->received), total, "%s: consumers counted %llu of %llu", M,
		     (unsigned long long)atomic_load(&sh->received), (unsigned long long)total);

	cr_assert_eq(st.sent, total, "%s: stat.sent %llu vs %llu", M, (unsigned long long)st.sent,
		     (unsigned long long)total);
	cr_assert_eq(st.received, total, "%s: stat.received %llu vs %llu", M,
		     (unsigned long long)st.received, (unsigned long long)total);
	cr_assert_eq(st.dropped, 0, "%s: stat.dropped %llu with nobody killed", M,
		     (unsigned long long)st.dropped);
	cr_assert(st.producers == 0 && st.consumers == 0, "%s: %u producers %u consumers left", M,
		  st.producers, st.consumers);
	cr_assert_eq(st.used, 0, "%s: used %zu on a drained ring", M, st.used);
	shmring_close(o);
	munmap(sh, shlen);
}

#define SHAPES(W, n1, n3)                                                   \
	{ SHMRING_SPSC, 1, 1, W, 3 * (n1) }, { SHMRING_MPSC, 3, 1, W, n3 }, \
		{ SHMRING_SPMC, 1, 3, W, 3 * (n1) },                        \
	{                                                                   \
		SHMRING_MPMC, 3, 3, W, n3                                   \
	}

ParameterizedTestParameters(stress, exactly_once_in_order)
{
	static struct stress_param params[] = {
		SHAPES(W_DEFAULT, 333333, 333333),
		SHAPES(W_FUTEX, 100000, 100000),
		SHAPES(W_BUSY, 40000, 40000),
	};
	return cr_make_param_array(struct stress_param, params, sizeof(params) / sizeof(params[0]),
				   NULL);
}

ParameterizedTest(struct stress_param *sp, stress, exactly_once_in_order, .timeout = 3000)
{
	run_stress(sp);
}
