/* SPDX-License-Identifier: MIT */
/*
 * test_scribble.c - the segment is hostile input.
 *
 * Each trial runs in a process of its own: it creates a named ring, maps the
 * object a second time through /dev/shm (as a buggy or malicious peer would),
 * and forks a consumer that loops over recv, peek/release, recvv and stat with
 * timeout 0. The trial process itself produces (send, sendv, claim/commit/abort,
 * timeout 0) and, now and then, writes random values over random header fields
 * (config line, positions, wait words, totals, endpoint table) and over the
 * data area (record headers, slot sequence words and lengths).
 *
 * The only allowed results of any call are success with sane out-values or a
 * negative errno (-EBADMSG for ever after is fine). A crash (death by signal)
 * or a hang (past the watchdog) fails the test. SHMRING_LONG=1: 20x trials.
 */
#include "common.h"

#include "layout.h"

#define TRIALS 50 /* per mode */
#define TRIAL_BOUND_S 10.0
#define RUN_NS (40 * MS)

static int long_run(void)
{
	const char *e = getenv("SHMRING_LONG");
	return e && *e && strcmp(e, "0") != 0;
}

/* A return value that is a count/length in [0, hi] or a negative errno. */
#define SANE(rc, hi) ((rc) < 0 ? (rc) > -4096 : (rc) <= (long long)(hi))

struct geo {
	size_t max_msg;
	uint64_t data_off, data_len, map_len;
};

static uint64_t nasty(uint64_t *rng, uint64_t old, const struct geo *g)
{
	switch (t_rand(rng) % 10) {
	case 0:
		return 0;
	case 1:
		return ~(uint64_t)0;
	case 2:
		return t_rand(rng);
	case 3:
		return old ^ (1ull << (t_rand(rng) % 64));
	case 4:
		return old + 1 + t_rand(rng) % 8;
	case 5:
		return old - 1 - t_rand(rng) % 8;
	case 6:
		return old + g->data_len * (1 + t_rand(rng) % 3);
	case 7:
		return t_rand(rng) % (g->data_len + 64);
	case 8:
		return (uint64_t)1 << 63;
	default:
		return (uint32_t)t_rand(rng); /* upper half zero */
	}
}

static void scribble(unsigned char *m, const struct geo *g, uint64_t *rng, int slots)
{
	uint64_t off;
	switch (t_rand(rng) % 8) {
	case 0:
		off = (t_rand(rng) % 0x100) & ~7ull;
		break; /* config line */
	case 1:
		off = SR_OFF_PROD + ((t_rand(rng) % 2) ? 0 : 8);
		break; /* producer pos */
	case 2:
		off = SR_OFF_CONS + ((t_rand(rng) % 2) ? 0 : 8);
		break; /* consumer pos */
	case 3:
		off = (t_rand(rng) % 2 ? SR_OFF_DWAIT : SR_OFF_RWAIT);
		break; /* wait words */
	case 4:
		off = SR_OFF_TOTALS + (t_rand(rng) % 6) * 8;
		break; /* totals */
	case 5:        /* endpoint table: a live-looking entry's field */
		off = SR_OFF_EP + (t_rand(rng) % SR_EP_MAX) * 64 + (t_rand(rng) % 8) * 8;
		if (t_rand(rng) % 2)
			off = SR_OFF_EP + (t_rand(rng) % 2 ? 0 : SR_EP_CONS_BASE * 64) +
			      (t_rand(rng) % 8) * 8;
		break;
	default: /* data area: record headers, slot words */
		if (g->data_len < 8)
			return;
		off = g->data_off + ((t_rand(rng) % g->data_len) & ~7ull);
		break;
	}
	if (off + 8 > g->map_len)
		return;
	uint64_t *w = (uint64_t *)(m + off);
	uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED), v;
	if (off >= g->data_off && !slots && t_rand(rng) % 2) {
		/* A plausible record header with an implausible part. */
		static const uint32_t lens[] = { 0, 1, 8, 9, 4096, 0xffffffffu, 0x7fffffffu };
		uint32_t len = t_rand(rng) % 2 ? lens[t_rand(rng) % 7]
					       : (uint32_t)(t_rand(rng) % (g->data_len + 64));
		v = SR_REC_WORD(t_rand(rng) % 5, len, t_rand(rng) % 0x10000);
	} else {
		v = nasty(rng, old, g);
	}
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
}

/* The consumer victim: every call with timeout 0, every result checked. */
static void victim(shmring *p, const struct geo *g, uint64_t seed)
{
	shmring *c = NULL;
	int rc = shmring_open_fd(shmring_fd(p), SHMRING_CONSUMER, &c);
	shmring_close(p); /* our share of the producer role; the trial keeps its own */
	if (rc < 0) {
		CHILD_CHECK(rc > -4096, rc, 0);
		_exit(0);
	}
	uint64_t rng = seed ^ 0xabcdef;
	static char bufs[8][8192];
	int64_t end = t_now() + RUN_NS;
	volatile unsigned sink = 0;
	while (t_now() < end) {
		switch (t_rand(&rng) % 5) {
		case 0: {
			ssize_t n = shmring_recv(c, bufs[0], g->max_msg, 0);
			CHILD_CHECKF(SANE(n, g->max_msg), n, g->max_msg, "recv: %zd", n);
			break;
		}
		case 1: {
			const void *m = NULL;
			size_t len = 0;
			rc = shmring_peek(c, &m, &len, 0);
			CHILD_CHECKF(SANE(rc, 0), rc, 0, "peek: %d", rc);
			if (rc == 0) {
				CHILD_CHECKF(len <= g->max_msg, len, g->max_msg, "peek len %zu",
					     len);
				for (size_t i = 0; i < len; i++) /* touch every byte */
					sink += ((const unsigned char *)m)[i];
				rc = shmring_release(c);
				CHILD_CHECKF(SANE(rc, 0), rc, 0, "release: %d", rc);
			}
			break;
		}
		case 2: {
			struct iovec v[8];
			int n = 1 + (int)(t_rand(&rng) % 8);
			for (int k = 0; k < n; k++)
				v[k] = (struct iovec){ bufs[k], g->max_msg };
			rc = shmring_recvv(c, v, n, 0);
			CHILD_CHECKF(SANE(rc, n), rc, n, "recvv(%d): %d", n, rc);
			for (int k = 0; k < rc; k++)
				CHILD_CHECKF(v[k].iov_len <= g->max_msg, v[k].iov_len, k,
					     "recvv iov_len %zu", v[k].iov_len);
			break;
		}
		case 3: {
			struct shmring_stat st;
			rc = shmring_stat(c, &st);
			CHILD_CHECKF(SANE(rc, 0), rc, 0, "stat: %d", rc);
			break;
		}
		default: {
			/* A second consumer handle comes and goes (SC rings: -EBUSY). */
			shmring *c2 = NULL;
			rc = shmring_open_fd(shmring_fd(c), SHMRING_CONSUMER | (t_rand(&rng) & 1),
					     &c2);
			CHILD_CHECKF(SANE(rc, 0), rc, 0, "open_fd: %d", rc);
			if (rc == 0) {
				ssize_t n = shmring_recv(c2, bufs[1], g->max_msg, 0);
				CHILD_CHECKF(SANE(n, g->max_msg), n, 0, "recv on a new handle: %zd",
					     n);
				shmring_close(c2);
			}
			break;
		}
		}
	}
	shmring_close(c);
	_exit(0);
}

static void trial(enum shmring_mode mode, uint64_t seed)
{
	uint64_t rng = seed;
	char name[128];
	snprintf(name, sizeof(name), "shmring-test-scribble-%d-0", (int)getpid());
	static const size_t caps[] = { 4096, 8192, 16384, 65536 };
	size_t cap = caps[t_rand(&rng) % 4];
	size_t max = 16 + (size_t)(t_rand(&rng) % (cap / 4));
	struct shmring_config cfg = t_cfg(mode, cap, max);
	shmring *p = NULL;
	int rc = shmring_create(name, &cfg, SHMRING_PRODUCER, &p);
	CHILD_CHECKF(rc == 0, rc, 0, "create: %d (%s)", rc, t_err(rc));

	char path[160];
	snprintf(path, sizeof(path), "/%s", name);
	int fd = shm_open(path, O_RDWR, 0);
	shm_unlink(path);
	CHILD_CHECK(fd >= 0, errno, 0);
	struct stat sb;
	CHILD_CHECK(fstat(fd, &sb) == 0, errno, 0);
	unsigned char *m = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				0);
	CHILD_CHECK(m != MAP_FAILED, errno, 0);
	close(fd);
	const struct sr_config_line *cl = (const struct sr_config_line *)m;
	struct geo g = { max, cl->data_off, (uint64_t)sb.st_size - cl->data_off,
			 (uint64_t)sb.st_size };
	CHILD_CHECK(g.data_off < (uint64_t)sb.st_size, g.data_off, sb.st_size);
	int slots = mode == SHMRING_SPMC || mode == SHMRING_MPMC;

	pid_t v = t_fork();
	if (v == 0)
		victim(p, &g, seed);

	static char buf[70000];
	int64_t end = t_now() + RUN_NS;
	unsigned scribbles = 0;
	while (t_now() < end) {
		if (t_rand(&rng) % 16 == 0) {
			scribble(m, &g, &rng, slots);
			scribbles++;
		}
		switch (t_rand(&rng) % 4) {
		case 0: {
			size_t len = t_rand(&rng) % 16 ? t_rand(&rng) % (max + 1) : max + 1;
			rc = shmring_send(p, buf, len, 0);
			CHILD_CHECKF(SANE(rc, 0), rc, len, "send(%zu): %d", len, rc);
			CHILD_CHECKF(len <= max || rc < 0, rc, len, "send(%zu > max_msg %zu): %d",
				     len, max, rc);
			break;
		}
		case 1: {
			struct iovec iov[4];
			int n = 1 + (int)(t_rand(&rng) % 4);
			for (int k = 0; k < n; k++)
				iov[k] = (struct iovec){ buf, t_rand(&rng) % (max + 1) };
			rc = shmring_sendv(p, iov, n, 0);
			CHILD_CHECKF(SANE(rc, n), rc, n, "sendv(%d): %d", n, rc);
			break;
		}
		case 2: {
			void *w = NULL;
			size_t len = t_rand(&rng) % (max + 1);
			rc = shmring_claim(p, len, &w, 0);
			CHILD_CHECKF(SANE(rc, 0), rc, len, "claim(%zu): %d", len, rc);
			if (rc == 0) {
				memset(w, 0x5c, len); /* must be inside our mapping */
				if (t_rand(&rng) % 4 == 0)
					rc = shmring_abort(p);
				else
					rc = shmring_commit(p, t_rand(&rng) % (len + 1));
				CHILD_CHECKF(SANE(rc, 0), rc, 0, "commit/abort: %d", rc);
			}
			break;
		}
		default: {
			struct shmring_stat st;
			rc = shmring_stat(p, &st);
			CHILD_CHECKF(SANE(rc, 0), rc, 0, "stat: %d", rc);
		}
		}
	}
	int st = 0;
	int done = t_reap(v, 5.0, &st);
	const struct t_report *r = t_report_of(v);
	if (!done)
		t_child_fail(__LINE__, scribbles, 0, "consumer victim hung (killed after 5 s)");
	if (WIFSIGNALED(st))
		t_child_fail(__LINE__, WTERMSIG(st), scribbles,
			     "consumer victim killed by signal %d", WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		t_child_fail(r ? r->line : 0, r ? r->a : 0, r ? r->b : 0, "consumer victim: %s",
			     r ? r->what : "?");
	/* Attaching to the scribbled ring is checked, not trusted. */
	shmring *x = NULL;
	rc = shmring_open_fd(shmring_fd(p), SHMRING_OBSERVER, &x);
	CHILD_CHECKF(SANE(rc, 0), rc, 0, "open_fd(observer) of a scribbled ring: %d", rc);
	if (rc == 0)
		shmring_close(x);
	shmring_close(p);
	_exit(0);
}

MODE_TEST(scribble, no_crash_no_hang_only_errnos, .timeout = 1800)
{
	T_MODE;
	int trials = TRIALS * (long_run() ? 20 : 1);
	/* SHMRING_SCRIBBLE_FIRST=k starts at trial k (to replay a failing seed). */
	const char *first = getenv("SHMRING_SCRIBBLE_FIRST");
	int t0 = first ? atoi(first) : 0;
	for (int t = t0; t < t0 + trials; t++) {
		uint64_t seed = t_mix(((uint64_t)mode << 32) | (uint64_t)t) | 1;
		pid_t pid = t_fork();
		if (pid == 0)
			trial(mode, seed);
		int st = 0;
		int done = t_reap(pid, TRIAL_BOUND_S, &st);
		char name[128];
		snprintf(name, sizeof(name), "/shmring-test-scribble-%d-0", (int)pid);
		shm_unlink(name);
		const struct t_report *r = t_report_of(pid);
		cr_assert(done, "%s: trial %d (seed %#llx) hung: killed after %.0f s", M, t,
			  (unsigned long long)seed, TRIAL_BOUND_S);
		cr_assert(!WIFSIGNALED(st),
			  "%s: trial %d (seed %#llx): producer/scribbler killed by "
			  "signal %d",
			  M, t, (unsigned long long)seed, WTERMSIG(st));
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "%s: trial %d (seed %#llx) failed at line %d: %s [a=%lld b=%lld]", M, t,
			  (unsigned long long)seed, r ? r->line : 0, r ? r->what : "?",
			  r ? r->a : 0, r ? r->b : 0);
		/* Keep the shared report table from filling up. */
		t_kids->n = 0;
	}
}

/* A busy-polling consumer spins on a look at the one word a message changes
 * (wait.c) and runs the receive only when the look says yes, every 64th
 * turn, and at the liveness ticks. A slot sequence scribbled ahead of the
 * consumer's position is no message to the look, and the receive calls it
 * corrupt: a consumer spinning for ever must still return -EBADMSG, well
 * before the timeout (with neither the 64th turns nor the ticks it spins
 * until then). */
Test(scribble, a_spinning_consumer_finds_a_slot_sequence_scribbled_ahead, .timeout = 30)
{
	char name[128];
	snprintf(name, sizeof(name), "shmring-test-scribble-spin-%d", (int)getpid());
	struct shmring_config cfg = t_cfg(SHMRING_MPMC, 8, 64);
	shmring *p = NULL, *c = NULL;
	int rc = shmring_create(name, &cfg, SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0, "create: %s", t_err(rc));
	char path[160];
	snprintf(path, sizeof(path), "/%s", name);
	int fd = shm_open(path, O_RDWR, 0);
	rc = shmring_open(name, SHMRING_CONSUMER, &c);
	shm_unlink(path);
	cr_assert(fd >= 0 && rc == 0, "second mapping: fd %d, open: %s", fd, t_err(rc));
	struct stat sb;
	cr_assert_eq(fstat(fd, &sb), 0);
	unsigned char *m = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				0);
	close(fd);
	cr_assert_neq(m, MAP_FAILED);

	/* One message through, so that the consumer's position is not 0. */
	char buf[64] = "x";
	cr_assert_eq(shmring_send(p, buf, 1, 0), 0);
	cr_assert_eq(shmring_recv(c, buf, sizeof(buf), 0), 1);

	const struct sr_config_line *cl = (const struct sr_config_line *)m;
	uint64_t pos = __atomic_load_n((uint64_t *)(m + SR_OFF_CONS), __ATOMIC_RELAXED);
	cr_assert_eq(pos, 1);
	struct sr_slot *s =
		(struct sr_slot *)(m + cl->data_off + (pos & (cl->nslots - 1)) * cl->slot_size);
	/* A message is seq == pos + 1; pos + 5 reads as taken by another
	 * consumer, with the position not moved: corrupt. */
	__atomic_store_n((uint64_t *)&s->seq, pos + 5, __ATOMIC_RELEASE);

	cr_assert_eq(shmring_set_spin(c, -1), 0);
	int64_t t0 = t_now();
	ssize_t n = shmring_recv(c, buf, sizeof(buf), 2000 * MS);
	int64_t took = t_now() - t0;
	cr_expect_eq(n, -EBADMSG, "recv on a scribbled slot: %zd (%s) after %.3f s", n,
		     t_err((int)n), (double)took / 1e9);
	cr_expect_lt(took, 1000 * MS, "it took %.3f s", (double)took / 1e9);
	munmap(m, (size_t)sb.st_size);
	shmring_close(c);
	shmring_close(p);
}

/* A lap of padding written over the whole data area. An SP consumer zeroes
 * nothing it passes (ring_rec.c), so a receive that took the hostile padding
 * at its word went round the area for ever: no more than a lap lies between
 * head and tail, and passing more is corruption. Each call must come back at
 * once with -EBADMSG (an MP consumer, which zeroes what it passes, may also
 * find the ring empty after one lap); no call may spin. */
static void lap_of_padding(enum shmring_mode mode, int call)
{
	static const char *calls[] = { "recv", "recvv", "peek" };
	char name[128];
	snprintf(name, sizeof(name), "shmring-test-scribble-padlap-%d", (int)getpid());
	struct shmring_config cfg = t_cfg(mode, 8192, 64);
	shmring *c = NULL;
	int rc = shmring_create(name, &cfg, SHMRING_CONSUMER, &c);
	cr_assert_eq(rc, 0, "create: %s", t_err(rc));
	size_t len;
	unsigned char *m = t_map_named(name, &len, NULL);
	shmring_unlink(name);
	const struct sr_config_line *cl = (const struct sr_config_line *)m;
	uint64_t *w = (uint64_t *)(m + cl->data_off);
	for (uint64_t i = 0; i < cl->capacity / 8; i++)
		__atomic_store_n(&w[i], SR_REC_WORD(SR_REC_PAD, 8, 0), __ATOMIC_RELEASE);

	char buf[64];
	struct iovec v[4];
	for (int i = 0; i < 4; i++)
		v[i] = (struct iovec){ buf, sizeof(buf) };
	const void *msg;
	size_t n;
	int64_t t0 = t_now();
	long got = call == 0   ? (long)shmring_recv(c, buf, sizeof(buf), 0)
		   : call == 1 ? (long)shmring_recvv(c, v, 4, 0)
			       : (long)shmring_peek(c, &msg, &n, 0);
	int64_t took = t_now() - t0;
	if (mode == SHMRING_SPSC)
		cr_expect_eq(got, -EBADMSG, "%s %s over a lap of padding: %ld (%s)", t_mode(mode),
			     calls[call], got, t_err((int)got));
	else
		cr_expect(got == -EBADMSG || got == -EAGAIN,
			  "%s %s over a lap of padding: %ld (%s)", t_mode(mode), calls[call], got,
			  t_err((int)got));
	cr_expect_lt(took, 1000 * MS, "%s %s took %.3f s", t_mode(mode), calls[call],
		     (double)took / 1e9);
	munmap(m, len);
	shmring_close(c);
}

Test(scribble, a_lap_of_padding_is_corrupt_not_a_spin, .timeout = 30)
{
	for (int call = 0; call < 3; call++) {
		lap_of_padding(SHMRING_SPSC, call);
		lap_of_padding(SHMRING_MPSC, call);
	}
}

/* A stream's producer line names its last record (prod.aux), a hint the
 * writers take only when the header there says OPEN and the record ends at
 * the tail. Here the hint points into the payload of the record at 0, at
 * bytes that look like an open record's header, as a lap-old hint or a
 * scribble could: the next write must not land there, and every byte must
 * come out as written (last_record's look at the tail stops it; the test
 * fails without). A scribbler that also spells the size that ends exactly
 * at the tail gets the next write into those bytes (found by review): no
 * look tells them from a record's header, and they are the scribbler's to
 * change anyway, as every byte of the data area is. */
Test(scribble, a_stream_does_not_append_where_a_bad_hint_points, .timeout = 30)
{
	char name[128];
	snprintf(name, sizeof(name), "shmring-test-scribble-hint-%d", (int)getpid());
	struct shmring_config cfg = { .capacity = 4096, .flags = SHMRING_STREAM };
	shmring *c = NULL, *p = NULL;
	int rc = shmring_create(name, &cfg, SHMRING_CONSUMER, &c);
	cr_assert_eq(rc, 0, "create: %s", t_err(rc));
	rc = shmring_open(name, SHMRING_PRODUCER, &p);
	cr_assert_eq(rc, 0, "open: %s", t_err(rc));
	size_t len;
	unsigned char *m = t_map_named(name, &len, NULL);
	shmring_unlink(name);

	unsigned char out[64], in[128];
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (unsigned char)(i * 7 + 1);
	uint64_t fake = SR_STR_WORD(SR_STR_OPEN, 0, 64, 0x123);
	memcpy(out + 16, &fake, 8); /* the word at position 8 + 16 */
	cr_assert_eq(shmring_write(p, out, sizeof(out), 0), (ssize_t)sizeof(out));
	uint64_t *aux = (uint64_t *)(m + SR_OFF_PROD + 8);
	cr_assert_eq(__atomic_load_n(aux, __ATOMIC_RELAXED), 0, "the first record is at 0");
	__atomic_store_n(aux, 24, __ATOMIC_RELAXED);
	cr_assert_eq(shmring_write(p, "xyz", 3, 0), 3);

	size_t got = 0;
	while (got < sizeof(out) + 3) {
		ssize_t k = shmring_read(c, in + got, sizeof(in) - got, 0);
		cr_assert_gt(k, 0, "read after %zu bytes: %zd (%s)", got, k, t_err((int)k));
		got += (size_t)k;
	}
	cr_assert_eq(memcmp(in, out, sizeof(out)), 0, "the first write came out changed");
	cr_assert_eq(memcmp(in + sizeof(out), "xyz", 3), 0, "the second write came out changed");
	cr_assert_eq(shmring_read(c, in, sizeof(in), 0), -EAGAIN);
	struct shmring_stat st;
	cr_assert_eq(shmring_stat(c, &st), 0);
	cr_assert_eq(st.dropped, 0);
	munmap(m, len);
	shmring_close(p);
	shmring_close(c);
}
