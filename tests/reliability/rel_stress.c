/* SPDX-License-Identifier: MIT */
/*
 * rel_stress.c - many processes, one ring, every message accounted for.
 *
 *   rel_stress <case>      (rel_stress list: the cases)
 *
 * P producer and C consumer processes share a named ring. Producers send
 * stamped messages (producer, sequence, length, payload derived from both,
 * checksum) through send, sendv and claim/commit (and claim/abort, which
 * sends nothing); consumers take them through recv, recvv and peek/release.
 * Each consumer checks every message whole, checks that each producer's
 * sequence only grows in what it receives, and sets the message's bit in a
 * shared bitmap: a bit found set already is a duplicate. At the end the
 * parent proves exactly-once (every committed message's bit set, nothing
 * else), and committed = delivered + dropped from shmring_stat (dropped must
 * be 0: nobody dies here), and that the ring's own counters agree.
 *
 * A watchdog fails a run that makes no progress for 10 s and dumps the
 * header (positions, wait words, endpoint table) to stderr. SHMRING_LONG=1
 * runs the full counts (50M messages through SPSC, ...).
 */
#include "rel.h"

#define STALL_NS (10 * REL_SEC)

struct scase {
	const char *name;
	enum shmring_mode mode;
	int P, C;
	size_t capacity, max_msg;
	uint32_t lo, hi;            /* message lengths, header included */
	uint64_t ci, full;          /* messages in all (split among producers) */
	int wrap;                   /* start the positions just below 2^64 */
	int futex;                  /* 1: spin 0, random pauses; 2: spin 0.5 ms, bursts and
				     * rare pauses of 1-4 ms (wait.c's disarming); run to a
				     * wakeup count */
	uint64_t ci_wake, full_wake;/* sleep/wake cycles (shmring_stat.wakeups) */
	const char *what;
	int room;  /* tiny rings: exactly this many max-size messages fit (0: not checked) */
	int stall; /* watchdog self-test: the consumers are stopped (SIGSTOP) after 1 s */
};

static const struct scase cases[] = {
	{"spsc", SHMRING_SPSC, 1, 1, 65536, 1024, 16, 1024, 3000000, 50000000, 0, 0, 0, 0,
	 "SPSC 1x1, 64 KiB ring", 0, 0},
	{"tiny1", SHMRING_SPSC, 1, 1, 256, 120, 88, 120, 300000, 5000000, 0, 0, 0, 0,
	 "SPSC 1x1, 256-byte ring, messages of 88..120 bytes: room for 1 at every wrap, 2 between", 0, 0},
	{"tiny2", SHMRING_SPSC, 1, 1, 256, 112, 112, 112, 300000, 5000000, 0, 0, 0, 0,
	 "SPSC 1x1, 256-byte ring, every message 112 bytes (records of 120, and the word the "
	 "producer keeps clear past its record): room for exactly 2", 2, 0},
	{"mpsc", SHMRING_MPSC, 4, 1, 16384, 512, 16, 512, 1600000, 20000000, 0, 0, 0, 0,
	 "MPSC 4x1, 16 KiB ring", 0, 0},
	{"spmc", SHMRING_SPMC, 1, 4, 16384, 240, 16, 240, 1600000, 20000000, 0, 0, 0, 0,
	 "SPMC 1x4, 64 slots", 0, 0},
	{"mpmc4", SHMRING_MPMC, 4, 4, 16384, 240, 16, 240, 1600000, 20000000, 0, 0, 0, 0,
	 "MPMC 4x4, 64 slots", 0, 0},
	{"mpmc8", SHMRING_MPMC, 8, 8, 512, 48, 16, 48, 400000, 10000000, 0, 0, 0, 0,
	 "MPMC 8x8 on a ring of 8 slots", 8, 0},
	{"slots2", SHMRING_MPMC, 2, 2, 256, 112, 16, 112, 200000, 5000000, 0, 0, 0, 0,
	 "MPMC 2x2 on a ring of 2 slots", 2, 0},
	{"wrap-spsc", SHMRING_SPSC, 1, 1, 4096, 200, 16, 200, 400000, 10000000, 1, 0, 0, 0,
	 "SPSC 1x1, positions started 3 laps below 2^64", 0, 0},
	{"wrap-mpsc", SHMRING_MPSC, 3, 1, 4096, 200, 16, 200, 400000, 10000000, 1, 0, 0, 0,
	 "MPSC 3x1, positions started 3 laps below 2^64", 0, 0},
	{"wrap-spmc", SHMRING_SPMC, 1, 3, 4096, 240, 16, 240, 400000, 10000000, 1, 0, 0, 0,
	 "SPMC 1x3, positions started 3 laps below 2^64", 0, 0},
	{"wrap-mpmc", SHMRING_MPMC, 3, 3, 4096, 240, 16, 240, 400000, 10000000, 1, 0, 0, 0,
	 "MPMC 3x3, positions started 3 laps below 2^64", 0, 0},
	{"futex-spsc", SHMRING_SPSC, 1, 1, 4096, 256, 16, 256, 20000000, 200000000, 0, 1, 100000,
	 1000000, "SPSC 1x1, spin 0, random pauses on both sides", 0, 0},
	{"futex-mpmc", SHMRING_MPMC, 2, 2, 4096, 240, 16, 240, 20000000, 200000000, 0, 1, 100000,
	 1000000, "MPMC 2x2, spin 0, random pauses on both sides", 0, 0},
	{"disarm-spsc", SHMRING_SPSC, 1, 1, 4096, 256, 16, 256, 20000000, 200000000, 0, 2, 1000,
	 10000, "SPSC 1x1, spin 0.5 ms, bursts and pauses: waiters disarm and arm again", 0, 0},
	{"disarm-mpmc", SHMRING_MPMC, 2, 2, 4096, 240, 16, 240, 20000000, 200000000, 0, 2, 1000,
	 10000, "MPMC 2x2, spin 0.5 ms, bursts and pauses: waiters disarm and arm again", 0, 0},
	{"watchdog", SHMRING_SPSC, 1, 1, 4096, 200, 16, 200, 100000000, 100000000, 0, 0, 0, 0,
	 "self-test: the consumer is stopped after 1 s; the watchdog must fail the run", 0, 1},
};
#define NCASES ((int)(sizeof(cases) / sizeof(cases[0])))

#define MAX_PROCS 16

struct shared {
	struct rel_report rep;
	atomic_int go;
	atomic_int stop;     /* futex cases: producers stop sending */
	atomic_int ready;
	atomic_ullong committed[MAX_PROCS]; /* per producer: send/commit returned 0 */
	atomic_ullong received[MAX_PROCS];  /* per consumer */
	atomic_ullong bytes[MAX_PROCS];
	atomic_ullong eagain[MAX_PROCS];
	atomic_ullong aborts;
};

static const struct scase *K;
static struct shared *S;
static atomic_ullong *bitmap;
static uint64_t per_prod; /* bits reserved per producer */
static const char *ring_name;

static void wait_go(void)
{
	atomic_fetch_add(&S->ready, 1);
	while (!atomic_load(&S->go))
		rel_sleep_ns(100 * 1000);
}

/* Pause for a random while: nothing, a yield, a short spin, or a sleep. */
static void pause_some(uint64_t *rs)
{
	if (K->futex == 2) { /* bursts of several ms (waiters disarm), then a sleep */
		if (rel_rand(rs) % 50000 == 0)
			rel_sleep_ns(1000000 + (int64_t)(rel_rand(rs) % 3000000));
		return;
	}
	uint64_t r = rel_rand(rs) % 100;
	if (r < 55)
		return;
	if (r < 75)
		sched_yield();
	else if (r < 92)
		rel_spin_ns((int64_t)(rel_rand(rs) % 20000));
	else
		rel_sleep_ns((int64_t)(rel_rand(rs) % 200000));
}

/* ---- producer -------------------------------------------------------------------- */

static void producer(int id, uint64_t n)
{
	shmring *r = NULL;
	int rc = shmring_open(ring_name, SHMRING_PRODUCER, &r);
	if (rc < 0)
		rel_child_fail("producer %d: open: %d (%s)", id, rc, rel_err(rc));
	if (K->futex)
		shmring_set_spin(r, K->futex == 2 ? 500000 : 0);
	uint64_t rs = rel_seed((uint64_t)id * 7919), seq = 0;
	static uint8_t bufs[8][4096];
	wait_go();
	while (seq < n) {
		if (K->futex) {
			if (atomic_load_explicit(&S->stop, memory_order_relaxed))
				break;
			pause_some(&rs);
		}
		uint64_t pick = rel_rand(&rs) % 100;
		if (pick < 55) { /* send */
			uint32_t len = rel_msg_len((uint32_t)id, (uint32_t)seq, K->lo, K->hi);
			rel_msg_make(bufs[0], len, (uint32_t)id, (uint32_t)seq);
			rc = shmring_send(r, bufs[0], len, -1);
			if (rc != 0)
				rel_child_fail("producer %d: send seq %" PRIu64 " len %u: %d (%s)", id,
					       seq, len, rc, rel_err(rc));
			seq++;
		} else if (pick < 75) { /* sendv of 2..8 */
			struct iovec v[8];
			int k = 2 + (int)(rel_rand(&rs) % 7);
			if ((uint64_t)k > n - seq)
				k = (int)(n - seq);
			for (int i = 0; i < k; i++) {
				uint32_t len = rel_msg_len((uint32_t)id, (uint32_t)(seq + i), K->lo, K->hi);
				rel_msg_make(bufs[i], len, (uint32_t)id, (uint32_t)(seq + i));
				v[i].iov_base = bufs[i];
				v[i].iov_len = len;
			}
			rc = shmring_sendv(r, v, k, -1);
			if (rc < 1 || rc > k)
				rel_child_fail("producer %d: sendv of %d at seq %" PRIu64 ": %d (%s)", id,
					       k, seq, rc, rel_err(rc));
			seq += (uint64_t)rc;
		} else { /* claim / commit, sometimes an abort first */
			uint32_t len = rel_msg_len((uint32_t)id, (uint32_t)seq, K->lo, K->hi);
			void *buf = NULL;
			if (pick >= 95) {
				rc = shmring_claim(r, len, &buf, -1);
				if (rc != 0)
					rel_child_fail("producer %d: claim (to abort): %d (%s)", id, rc,
						       rel_err(rc));
				memset(buf, 0xa5, len); /* junk that must never be delivered */
				rc = shmring_abort(r);
				if (rc != 0)
					rel_child_fail("producer %d: abort: %d (%s)", id, rc, rel_err(rc));
				atomic_fetch_add_explicit(&S->aborts, 1, memory_order_relaxed);
			}
			/* Claim the largest size half the time: the commit then
			 * leaves padding (records) or a short slot behind. */
			size_t want = (rel_rand(&rs) & 1) ? K->max_msg : len;
			rc = shmring_claim(r, want, &buf, -1);
			if (rc != 0)
				rel_child_fail("producer %d: claim %zu: %d (%s)", id, want, rc, rel_err(rc));
			rel_msg_make(buf, len, (uint32_t)id, (uint32_t)seq);
			rc = shmring_commit(r, len);
			if (rc != 0)
				rel_child_fail("producer %d: commit %u: %d (%s)", id, len, rc, rel_err(rc));
			seq++;
		}
		atomic_store_explicit(&S->committed[id], seq, memory_order_relaxed);
	}
	shmring_close(r);
	_exit(0);
}

/* ---- consumer -------------------------------------------------------------------- */

struct ccheck {
	int id;
	int64_t last[MAX_PROCS];
	uint64_t n, bytes;
};

static void take(struct ccheck *c, const void *m, size_t len, const char *how)
{
	struct rel_msg h;
	if (rel_msg_check(m, len, &h) < 0) {
		struct rel_msg g = {0};
		memcpy(&g, m, len < sizeof(g) ? len : sizeof(g));
		rel_child_fail("consumer %d: torn or foreign message from %s: %zu bytes, header "
			       "prod %u seq %u len %u sum %#x",
			       c->id, how, len, g.prod, g.seq, g.len, g.sum);
	}
	if (h.prod >= (uint32_t)K->P || h.seq >= per_prod)
		rel_child_fail("consumer %d: message from unknown producer %u seq %u (%s)", c->id,
			       h.prod, h.seq, how);
	if ((int64_t)h.seq <= c->last[h.prod])
		rel_child_fail("consumer %d: producer %u out of order: seq %u after %" PRId64 " (%s)",
			       c->id, h.prod, h.seq, c->last[h.prod], how);
	c->last[h.prod] = h.seq;
	if (rel_bit_set(bitmap, (uint64_t)h.prod * per_prod + h.seq))
		rel_child_fail("consumer %d: duplicate: producer %u seq %u delivered twice (%s)",
			       c->id, h.prod, h.seq, how);
	c->n++;
	c->bytes += len;
}

static void consumer(int id)
{
	shmring *r = NULL;
	int rc = shmring_open(ring_name, SHMRING_CONSUMER, &r);
	if (rc < 0)
		rel_child_fail("consumer %d: open: %d (%s)", id, rc, rel_err(rc));
	if (K->futex)
		shmring_set_spin(r, K->futex == 2 ? 500000 : 0);
	struct ccheck c = {.id = id};
	for (int i = 0; i < MAX_PROCS; i++)
		c.last[i] = -1;
	uint64_t rs = rel_seed((uint64_t)id * 104729 + 1);
	static uint8_t bufs[8][4096];
	wait_go();
	for (;;) {
		if (K->futex)
			pause_some(&rs);
		uint64_t pick = rel_rand(&rs) % 100;
		if (pick < 55) {
			ssize_t n = shmring_recv(r, bufs[0], K->max_msg, -1);
			if (n == -EPIPE)
				break;
			if (n < 0)
				rel_child_fail("consumer %d: recv: %zd (%s)", id, n, rel_err(n));
			take(&c, bufs[0], (size_t)n, "recv");
		} else if (pick < 80) {
			struct iovec v[8];
			int k = 1 + (int)(rel_rand(&rs) % 8);
			for (int i = 0; i < k; i++) {
				v[i].iov_base = bufs[i];
				v[i].iov_len = K->max_msg;
			}
			rc = shmring_recvv(r, v, k, -1);
			if (rc == -EPIPE)
				break;
			if (rc < 1 || rc > k)
				rel_child_fail("consumer %d: recvv of %d: %d (%s)", id, k, rc, rel_err(rc));
			for (int i = 0; i < rc; i++)
				take(&c, v[i].iov_base, v[i].iov_len, "recvv");
		} else {
			const void *m = NULL;
			size_t len = 0;
			rc = shmring_peek(r, &m, &len, -1);
			if (rc == -EPIPE)
				break;
			if (rc != 0)
				rel_child_fail("consumer %d: peek: %d (%s)", id, rc, rel_err(rc));
			if (len > K->max_msg)
				rel_child_fail("consumer %d: peek length %zu > max_msg %zu", id, len,
					       K->max_msg);
			take(&c, m, len, "peek");
			rc = shmring_release(r);
			if (rc != 0)
				rel_child_fail("consumer %d: release: %d (%s)", id, rc, rel_err(rc));
		}
		atomic_store_explicit(&S->received[id], c.n, memory_order_relaxed);
	}
	atomic_store(&S->received[id], c.n);
	atomic_store(&S->bytes[id], c.bytes);
	shmring_close(r);
	_exit(0);
}

/* ---- the checker -------------------------------------------------------------------- */

static uint64_t progress(void)
{
	uint64_t p = 0;
	for (int i = 0; i < K->P; i++)
		p += atomic_load_explicit(&S->committed[i], memory_order_relaxed);
	for (int i = 0; i < K->C; i++)
		p += atomic_load_explicit(&S->received[i], memory_order_relaxed);
	return p;
}

static int run(const struct scase *k)
{
	K = k;
	uint64_t total = rel_scaled(k->ci, k->full);
	/* at least 100,000 sleep/wake cycles, sanitizer or not */
	uint64_t wake_target = k->futex ? (rel_long() ? k->full_wake : k->ci_wake) : 0;
	per_prod = (total + (uint64_t)k->P - 1) / (uint64_t)k->P;
	S = rel_shared(sizeof(*S));
	rel_rep = &S->rep;
	size_t bm_bytes = (size_t)((per_prod * (uint64_t)k->P + 63) / 64 * 8);
	bitmap = rel_shared(bm_bytes);

	ring_name = rel_newname("stress");
	struct shmring_config cfg = {.mode = k->mode, .capacity = k->capacity, .max_msg = k->max_msg};
	shmring *obs = NULL;
	int rc = shmring_create(ring_name, &cfg, SHMRING_OBSERVER, &obs);
	if (rc < 0) {
		fprintf(stderr, "FAIL %s: create %s: %d (%s)\n", k->name, ring_name, rc, rel_err(rc));
		return 1;
	}
	struct shmring_stat st0;
	shmring_stat(obs, &st0);
	/* How many messages of the largest size fit, on an anonymous twin. */
	int fit = 0;
	{
		shmring *twin = NULL;
		static uint8_t big[4096];
		if (shmring_create_anon(&cfg, SHMRING_PRODUCER, &twin) == 0) {
			while (fit < 100000 && shmring_send(twin, big, k->hi, 0) == 0)
				fit++;
			shmring_close(twin);
		}
		if (k->room && fit != k->room) {
			fprintf(stderr, "FAIL %s: %d messages of %u bytes fit in the ring, want %d\n",
				k->name, fit, k->hi, k->room);
			return 1;
		}
	}
	uint64_t start_pos = 0;
	if (k->wrap) {
		start_pos = rel_set_positions_near_wrap(ring_name, 3, 5);
		if (!start_pos) {
			fprintf(stderr, "FAIL %s: could not set positions near 2^64\n", k->name);
			return 1;
		}
	}
	printf("%s: %s; %s messages of %u..%u bytes, %d producer(s) x %d consumer(s); ring %zu "
	       "bytes (max_msg %zu), %d messages of %u bytes fit\n",
	       k->name, k->what, rel_commas(per_prod * (uint64_t)k->P), k->lo, k->hi, k->P, k->C,
	       st0.capacity, st0.max_msg, fit, k->hi);
	if (k->wrap)
		printf("  start position %#" PRIx64 " (2^64 - %" PRIu64 ")\n", start_pos,
		       (uint64_t)0 - start_pos);

	pid_t pids[2 * MAX_PROCS];
	int np = 0;
	for (int i = 0; i < k->C; i++) {
		pid_t p = rel_fork();
		if (p == 0)
			consumer(i);
		pids[np++] = p;
	}
	for (int i = 0; i < k->P; i++) {
		pid_t p = rel_fork();
		if (p == 0)
			producer(i, per_prod);
		pids[np++] = p;
	}
	int64_t t0 = rel_now(), last_change = t0;
	while (atomic_load(&S->ready) < np && rel_now() - t0 < 30 * REL_SEC &&
	       !atomic_load(&S->rep.failed))
		rel_sleep_ms(1);
	atomic_store(&S->go, 1);
	t0 = rel_now();
	last_change = t0;
	uint64_t last = 0;
	int alive = np, failed = 0;
	bool stopped = false;
	int status[2 * MAX_PROCS];
	bool done[2 * MAX_PROCS] = {0};
	while (alive > 0) {
		rel_sleep_ms(20);
		for (int i = 0; i < np; i++) {
			if (done[i])
				continue;
			pid_t w = waitpid(pids[i], &status[i], WNOHANG);
			if (w == pids[i]) {
				done[i] = true;
				alive--;
				rel_forget_kid(pids[i]);
				if (!WIFEXITED(status[i]) || WEXITSTATUS(status[i]) != 0)
					failed = 1;
			}
		}
		if (failed || atomic_load(&S->rep.failed))
			break;
		if (k->futex && !atomic_load(&S->stop)) {
			struct shmring_stat st;
			shmring_stat(obs, &st);
			if (st.wakeups >= wake_target)
				atomic_store(&S->stop, 1);
		}
		uint64_t p = progress();
		int64_t now = rel_now();
		if (k->stall && !stopped && now - t0 > REL_SEC) {
			for (int i = 0; i < k->C; i++)
				kill(pids[i], SIGSTOP);
			stopped = true;
		}
		if (p != last) {
			last = p;
			last_change = now;
		} else if (now - last_change > STALL_NS) {
			fprintf(stderr, "FAIL %s: no progress for 10 s (%s messages committed + received)\n",
				k->name, rel_commas(p));
			for (int i = 0; i < k->P; i++)
				fprintf(stderr, "  producer %d: %" PRIu64 " committed\n", i,
					(uint64_t)atomic_load(&S->committed[i]));
			for (int i = 0; i < k->C; i++)
				fprintf(stderr, "  consumer %d: %" PRIu64 " received\n", i,
					(uint64_t)atomic_load(&S->received[i]));
			rel_dump(ring_name);
			rel_kill_all();
			return 1;
		}
	}
	if (failed || atomic_load(&S->rep.failed)) {
		fprintf(stderr, "FAIL %s: %s\n", k->name, rel_child_report());
		for (int i = 0; i < np; i++)
			if (done[i] && (!WIFEXITED(status[i]) || WEXITSTATUS(status[i]) != 0))
				fprintf(stderr, "  child %d (%s %d): %s\n", (int)pids[i],
					i < k->C ? "consumer" : "producer", i < k->C ? i : i - k->C,
					rel_status(status[i]));
		rel_dump(ring_name);
		rel_kill_all();
		return 1;
	}
	double secs = (double)(rel_now() - t0) / 1e9;

	/* Exactly once: every committed (producer, seq) has its bit; none beyond. */
	uint64_t committed = 0, delivered = 0, lost = 0, extra = 0, bytes = 0;
	for (int i = 0; i < k->C; i++) {
		delivered += atomic_load(&S->received[i]);
		bytes += atomic_load(&S->bytes[i]);
	}
	for (int p = 0; p < k->P; p++) {
		uint64_t c = atomic_load(&S->committed[p]);
		committed += c;
		for (uint64_t s = 0; s < per_prod; s++) {
			bool b = rel_bit_get(bitmap, (uint64_t)p * per_prod + s);
			if (s < c && !b) {
				if (lost++ < 10)
					fprintf(stderr, "FAIL %s: lost: producer %d seq %" PRIu64 "\n",
						k->name, p, s);
			} else if (s >= c && b) {
				if (extra++ < 10)
					fprintf(stderr,
						"FAIL %s: delivered but never committed: producer %d "
						"seq %" PRIu64 "\n",
						k->name, p, s);
			}
		}
	}
	struct shmring_stat st;
	shmring_stat(obs, &st);
	int bad = lost || extra;
	if (committed != delivered + st.dropped) {
		fprintf(stderr,
			"FAIL %s: committed %" PRIu64 " != delivered %" PRIu64 " + dropped %" PRIu64 "\n",
			k->name, committed, delivered, (uint64_t)st.dropped);
		bad = 1;
	}
	if (st.dropped) {
		fprintf(stderr, "FAIL %s: dropped %" PRIu64 " with no peer dead\n", k->name,
			(uint64_t)st.dropped);
		bad = 1;
	}
	if (st.sent != committed || st.received != delivered) {
		fprintf(stderr,
			"FAIL %s: stat sent %" PRIu64 " received %" PRIu64 ", the checker counted %" PRIu64
			" committed and %" PRIu64 " delivered\n",
			k->name, (uint64_t)st.sent, (uint64_t)st.received, committed, delivered);
		bad = 1;
	}
	if (st.producers || st.consumers || st.used) {
		fprintf(stderr, "FAIL %s: after every close: %u producers, %u consumers, %zu bytes used\n",
			k->name, st.producers, st.consumers, st.used);
		bad = 1;
	}
	if (!k->futex && committed != per_prod * (uint64_t)k->P) {
		fprintf(stderr, "FAIL %s: %" PRIu64 " committed, %" PRIu64 " planned\n", k->name,
			committed, per_prod * (uint64_t)k->P);
		bad = 1;
	}
	if (k->futex && st.wakeups < wake_target) {
		fprintf(stderr, "FAIL %s: %" PRIu64 " wakeups, %" PRIu64 " wanted\n", k->name,
			(uint64_t)st.wakeups, wake_target);
		bad = 1;
	}
	if (k->wrap) {
		char path[160];
		snprintf(path, sizeof(path), "/%s", ring_name);
		int fd = shm_open(path, O_RDONLY, 0);
		uint64_t end_pos = 0;
		if (fd >= 0) {
			struct sr_header hh;
			if (pread(fd, &hh, sizeof(hh), 0) == (ssize_t)sizeof(hh))
				end_pos = hh.prod.pos;
			close(fd);
		}
		printf("  end position %#" PRIx64 "\n", end_pos);
		if (end_pos >= start_pos || end_pos == 0) {
			fprintf(stderr, "FAIL %s: the positions did not wrap (start %#" PRIx64
					", end %#" PRIx64 ")\n",
				k->name, start_pos, end_pos);
			bad = 1;
		}
	}
	if (bad)
		rel_dump(ring_name);
	shmring_close(obs);
	rel_unlink(ring_name);
	printf("%s: %.1f s, %s messages (%s bytes), %s aborted claims, %s wakeups, %s dropped\n",
	       k->name, secs, rel_commas(delivered), rel_commas(bytes),
	       rel_commas(atomic_load(&S->aborts)), rel_commas(st.wakeups), rel_commas(st.dropped));
	if (k->futex)
		rel_figure("stress %s: %s messages checked, %s sleep/wake cycles, %s lost, %s "
			   "duplicated (%s)",
			   k->name, rel_commas(delivered), rel_commas(st.wakeups), rel_commas(lost),
			   rel_commas(extra), k->what);
	else
		rel_figure("stress %s: %s messages checked, %s lost, %s duplicated (%s)", k->name,
			   rel_commas(delivered), rel_commas(lost), rel_commas(extra), k->what);
	munmap(bitmap, bm_bytes);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc != 2 || !strcmp(argv[1], "list")) {
		for (int i = 0; i < NCASES; i++)
			printf("%-12s %s\n", cases[i].name, cases[i].what);
		return argc == 2 ? 0 : 2;
	}
	rel_init(rel_long() ? 3300 : 900);
	for (int i = 0; i < NCASES; i++)
		if (!strcmp(argv[1], cases[i].name))
			return run(&cases[i]);
	fprintf(stderr, "rel_stress: unknown case '%s' (rel_stress list)\n", argv[1]);
	return 2;
}
