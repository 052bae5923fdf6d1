/* SPDX-License-Identifier: MIT */
/*
 * test_threaded.c - threads in one process, each with its own handle: a
 * million stamped messages through every mode (and 2x2 threads on MPMC), with
 * the default spin and with spin 0 so that the futex path runs on nearly
 * every message; several writer threads of one byte stream (they share its
 * last record); and sleepers woken by a close from another thread.
 *
 * No fork here: this executable carries the ctest label `threaded` and also
 * runs under ThreadSanitizer (where it runs a tenth of the messages). For that
 * reason it is a plain program, not a Criterion one: Criterion cannot start
 * under ThreadSanitizer ("Could not initialize inheritable arena",
 * Snaipe/Criterion#274). Each case has a watchdog (alarm) in place of
 * Criterion's .timeout; the exit status is 0 when every case passed.
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>

/* The case running now, for failure messages and the watchdog. */
static char current[160];

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "[FAIL] timed out (watchdog): ";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	w = write(2, current, strlen(current));
	w = write(2, "\n", 1);
	(void)w;
	_exit(2);
}

/* Check `cond`; on failure print the case, the place and the values, and
 * return 1 from the case. */
#define CHECK(cond, ...)                                                                       \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "[FAIL] %s: %s:%d: %s: ", current, __FILE__, __LINE__, \
				#cond);                                                        \
			fprintf(stderr, __VA_ARGS__);                                          \
			fputc('\n', stderr);                                                   \
			return 1;                                                              \
		}                                                                              \
	} while (0)

#if defined(__SANITIZE_THREAD__)
#define SCALE 10
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SCALE 10
#endif
#endif
#ifndef SCALE
#define SCALE 1
#endif

#define MAX_MSG 256

struct tparam {
	enum shmring_mode mode;
	int P, C;
	int64_t spin; /* 1 = leave the default */
	uint32_t total;
};

struct shared {
	const struct tparam *tp;
	uint32_t per;
	atomic_uchar *counts; /* [P][per] */
	atomic_ullong received;
	atomic_int failed;
	char why[256];
	pthread_mutex_t lock;
};

struct worker {
	struct shared *sh;
	shmring *r;
	uint32_t id;
	pthread_t th;
};

static void fail(struct shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct shared *sh, const char *fmt, ...)
{
	pthread_mutex_lock(&sh->lock);
	if (!atomic_load(&sh->failed)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(sh->why, sizeof(sh->why), fmt, ap);
		va_end(ap);
		atomic_store(&sh->failed, 1);
	}
	pthread_mutex_unlock(&sh->lock);
}

static size_t len_of(uint32_t id, uint32_t seq)
{
	return T_STAMP_MIN + (size_t)(t_mix(((uint64_t)id << 32) | seq) % 48);
}

static void *producer(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t rng = 0x1234 + w->id;
	char bufs[4][MAX_MSG];
	uint32_t seq = 0;
	while (seq < sh->per && !atomic_load(&sh->failed)) {
		int rc;
		switch (t_rand(&rng) % 4) {
		case 0: {
			struct iovec v[4];
			int n = 1 + (int)(t_rand(&rng) % 4);
			if ((uint32_t)n > sh->per - seq)
				n = (int)(sh->per - seq);
			for (int k = 0; k < n; k++) {
				size_t len = len_of(w->id, seq + (uint32_t)k);
				t_stamp_make(bufs[k], len, w->id, seq + (uint32_t)k);
				v[k] = (struct iovec){ bufs[k], len };
			}
			rc = shmring_sendv(w->r, v, n, -1);
			if (rc < 1 || rc > n) {
				fail(sh, "producer %u: sendv(%d): %d (%s)", w->id, n, rc,
				     t_err(rc));
				goto out;
			}
			seq += (uint32_t)rc;
			break;
		}
		case 1: {
			void *b = NULL;
			size_t len = len_of(w->id, seq);
			rc = shmring_claim(w->r, MAX_MSG, &b, -1);
			if (rc == 0) {
				t_stamp_make(b, len, w->id, seq);
				rc = shmring_commit(w->r, len);
			}
			if (rc != 0) {
				fail(sh, "producer %u: claim/commit: %d (%s)", w->id, rc,
				     t_err(rc));
				goto out;
			}
			seq++;
			break;
		}
		default: {
			size_t len = len_of(w->id, seq);
			t_stamp_make(bufs[0], len, w->id, seq);
			rc = shmring_send(w->r, bufs[0], len, -1);
			if (rc != 0) {
				fail(sh, "producer %u: send: %d (%s)", w->id, rc, t_err(rc));
				goto out;
			}
			seq++;
		}
		}
	}
out:
	shmring_close(w->r); /* the last close is the consumers' end of file */
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t rng = 0x4321 + w->id;
	int64_t last[4] = { -1, -1, -1, -1 };
	char bufs[4][MAX_MSG];
	uint64_t mine = 0;
	for (;;) {
		const void *msgs[4];
		size_t lens[4];
		int n = 1, peeked = 0, rc;
		switch (t_rand(&rng) % 4) {
		case 0: {
			struct iovec v[4];
			n = 1 + (int)(t_rand(&rng) % 4);
			for (int k = 0; k < n; k++)
				v[k] = (struct iovec){ bufs[k], MAX_MSG };
			rc = shmring_recvv(w->r, v, n, -1);
			if (rc == -EPIPE)
				goto out;
			if (rc < 1 || rc > n) {
				fail(sh, "consumer %u: recvv(%d): %d (%s)", w->id, n, rc,
				     t_err(rc));
				goto out;
			}
			n = rc;
			for (int k = 0; k < n; k++) {
				msgs[k] = bufs[k];
				lens[k] = v[k].iov_len;
			}
			break;
		}
		case 1:
			rc = shmring_peek(w->r, &msgs[0], &lens[0], -1);
			if (rc == -EPIPE)
				goto out;
			if (rc != 0) {
				fail(sh, "consumer %u: peek: %d (%s)", w->id, rc, t_err(rc));
				goto out;
			}
			peeked = 1;
			break;
		default: {
			ssize_t k = shmring_recv(w->r, bufs[0], MAX_MSG, -1);
			if (k == -EPIPE)
				goto out;
			if (k < 0) {
				fail(sh, "consumer %u: recv: %zd (%s)", w->id, k, t_err(k));
				goto out;
			}
			msgs[0] = bufs[0];
			lens[0] = (size_t)k;
		}
		}
		for (int k = 0; k < n; k++) {
			uint32_t id, seq;
			if (t_stamp_check(msgs[k], lens[k], &id, &seq) != 0 ||
			    id >= (uint32_t)sh->tp->P || seq >= sh->per) {
				fail(sh, "consumer %u: torn message (%zu bytes)", w->id, lens[k]);
				goto out;
			}
			if ((int64_t)seq <= last[id]) {
				fail(sh, "consumer %u: producer %u seq %u after %lld", w->id, id,
				     seq, (long long)last[id]);
				goto out;
			}
			last[id] = seq;
			atomic_fetch_add_explicit(&sh->counts[(size_t)id * sh->per + seq], 1,
						  memory_order_relaxed);
		}
		if (peeked && (rc = shmring_release(w->r)) != 0) {
			fail(sh, "consumer %u: release: %d (%s)", w->id, rc, t_err(rc));
			goto out;
		}
		mine += (uint64_t)n;
	}
out:
	atomic_fetch_add(&sh->received, mine);
	shmring_close(w->r);
	return NULL;
}

static const struct tparam stream_cases[] = {
	{ SHMRING_SPSC, 1, 1, 1, 1000000 / SCALE },
	{ SHMRING_MPSC, 1, 1, 1, 1000000 / SCALE },
	{ SHMRING_SPMC, 1, 1, 1, 1000000 / SCALE },
	{ SHMRING_MPMC, 1, 1, 1, 1000000 / SCALE },
	{ SHMRING_MPSC, 2, 1, 1, 500000 / SCALE },
	{ SHMRING_SPMC, 1, 2, 1, 500000 / SCALE },
	{ SHMRING_MPMC, 2, 2, 1, 1000000 / SCALE },
	/* spin 0: every wait is a futex sleep */
	{ SHMRING_SPSC, 1, 1, 0, 200000 / SCALE },
	{ SHMRING_MPSC, 1, 1, 0, 200000 / SCALE },
	{ SHMRING_SPMC, 1, 1, 0, 200000 / SCALE },
	{ SHMRING_MPMC, 1, 1, 0, 200000 / SCALE },
	{ SHMRING_MPMC, 2, 2, 0, 200000 / SCALE },
};

/* P producer and C consumer threads, each with its own handle, stream
 * tp->total stamped messages; every one must arrive exactly once and each
 * producer's in order. */
static int stamped_stream_exactly_once_in_order(const struct tparam *tp)
{
	const char *M = t_mode(tp->mode);
	struct shared sh;
	memset(&sh, 0, sizeof(sh));
	pthread_mutex_init(&sh.lock, NULL);
	sh.tp = tp;
	sh.per = tp->total / (uint32_t)tp->P;
	sh.counts = calloc((size_t)tp->P * sh.per, 1);
	CHECK(sh.counts != NULL, "calloc");

	/* A small ring, so that it runs full and empty all the time. */
	struct shmring_config cfg = t_cfg(tp->mode, 8192, MAX_MSG);
	shmring *o = NULL;
	int rc = shmring_create_anon(&cfg, SHMRING_OBSERVER, &o);
	CHECK(rc == 0, "%s: create_anon: %d (%s)", M, rc, t_err(rc));
	struct worker w[8];
	int nw = 0;
	/* Every handle is opened before any thread starts: no early end of file. */
	for (int i = 0; i < tp->P + tp->C; i++, nw++) {
		int prod = i < tp->P;
		w[nw].sh = &sh;
		w[nw].id = (uint32_t)(prod ? i : i - tp->P);
		rc = shmring_open_fd(shmring_fd(o), prod ? SHMRING_PRODUCER : SHMRING_CONSUMER,
				     &w[nw].r);
		CHECK(rc == 0, "%s: open_fd: %d (%s)", M, rc, t_err(rc));
		if (tp->spin != 1)
			CHECK(shmring_set_spin(w[nw].r, tp->spin) == 0, "%s", M);
	}
	for (int i = 0; i < nw; i++)
		CHECK(pthread_create(&w[i].th, NULL, i < tp->P ? producer : consumer, &w[i]) == 0,
		      "pthread_create");
	for (int i = 0; i < nw; i++)
		pthread_join(w[i].th, NULL);

	CHECK(!atomic_load(&sh.failed), "%s %dx%d spin %lld: %s", M, tp->P, tp->C,
	      (long long)tp->spin, sh.why);
	uint64_t total = (uint64_t)tp->P * sh.per, missing = 0, dup = 0;
	for (uint64_t i = 0; i < total; i++) {
		unsigned k = atomic_load_explicit(&sh.counts[i], memory_order_relaxed);
		missing += k == 0;
		dup += k > 1;
	}
	CHECK(missing == 0 && dup == 0, "%s %dx%d: %llu missing, %llu duplicated of %llu", M, tp->P,
	      tp->C, (unsigned long long)missing, (unsigned long long)dup,
	      (unsigned long long)total);
	CHECK(atomic_load(&sh.received) == total, "%s: consumers counted %llu of %llu", M,
	      (unsigned long long)atomic_load(&sh.received), (unsigned long long)total);
	struct shmring_stat st;
	rc = shmring_stat(o, &st);
	CHECK(rc == 0, "%s: stat: %d", M, rc);
	CHECK(st.sent == total, "%s: stat.sent %llu vs %llu", M, (unsigned long long)st.sent,
	      (unsigned long long)total);
	CHECK(st.received == total, "%s: stat.received %llu vs %llu", M,
	      (unsigned long long)st.received, (unsigned long long)total);
	CHECK(st.used == 0, "%s: used %zu", M, st.used);
	shmring_close(o);
	free(sh.counts);
	pthread_mutex_destroy(&sh.lock);
	return 0;
}

/* ---- Writer threads of one byte stream ------------------------------------------ */

#define PIPE_WRITERS 3

struct pipe_writer {
	shmring *w;
	unsigned id, writes;
	long rc; /* 0, or the failed write's result */
};

/* Whole writes of 5 to PIPE_BUF bytes, stamped (t_stamp_write), most of
 * them short, so that they share records. */
static void *pipe_writer(void *arg)
{
	struct pipe_writer *pw = arg;
	static _Thread_local char blk[PIPE_BUF];
	for (unsigned i = 0; i < pw->writes; i++) {
		size_t n = i % 16 ? 5 + (i * 31 + pw->id * 7) % 60
				  : 5 + (i * 977 + pw->id * 131) % (PIPE_BUF - 4);
		t_stamp_write(blk, n, pw->id, i);
		ssize_t k = shmring_write(pw->w, blk, n, -1);
		if (k != (ssize_t)n) {
			pw->rc = k < 0 ? (long)k : -EIO;
			break;
		}
	}
	shmring_close(pw->w);
	return NULL;
}

/* PIPE_WRITERS writer threads, each with its own handle, and the reader
 * here, on the smallest stream: every write whole, each writer's in order,
 * all of them, then end of file. */
static int pipe_writers_share_the_stream(int64_t spin)
{
	shmring *e[2];
	struct shmring_config cfg = { .capacity = 4096 };
	int rc = shmring_pipe(e, &cfg);
	CHECK(rc == 0, "shmring_pipe: %d (%s)", rc, t_err(rc));
	struct pipe_writer pw[PIPE_WRITERS];
	pthread_t th[PIPE_WRITERS];
	for (unsigned i = 0; i < PIPE_WRITERS; i++) {
		pw[i] = (struct pipe_writer){ .id = i, .writes = 600000 / SCALE };
		rc = i ? shmring_open_fd(shmring_fd(e[0]), SHMRING_PRODUCER, &pw[i].w)
		       : (pw[i].w = e[1], 0);
		CHECK(rc == 0, "open_fd: %d (%s)", rc, t_err(rc));
		CHECK(shmring_set_spin(pw[i].w, spin) == 0, "set_spin");
	}
	CHECK(shmring_set_spin(e[0], spin) == 0, "set_spin");
	for (unsigned i = 0; i < PIPE_WRITERS; i++)
		CHECK(pthread_create(&th[i], NULL, pipe_writer, &pw[i]) == 0, "pthread_create");

	static uint8_t buf[1 << 16];
	size_t have = 0;
	unsigned next[PIPE_WRITERS] = { 0 };
	uint64_t writes = 0;
	for (;;) {
		ssize_t k = shmring_read(e[0], buf + have, 1000, -1);
		CHECK(k >= 0, "read: %zd (%s)", k, t_err((int)k));
		if (k == 0)
			break;
		have += (size_t)k;
		char why[128];
		CHECK(t_stamped_writes(buf, &have, PIPE_WRITERS, next, &writes, why, sizeof(why)) ==
			      0,
		      "%s", why);
	}
	for (unsigned i = 0; i < PIPE_WRITERS; i++) {
		pthread_join(th[i], NULL);
		CHECK(pw[i].rc == 0, "writer %u: %ld (%s)", i, pw[i].rc, t_err((int)pw[i].rc));
		CHECK(next[i] == pw[i].writes, "writer %u: %u of %u writes read", i, next[i],
		      pw[i].writes);
	}
	CHECK(have == 0, "%zu stray bytes", have);
	struct shmring_stat st;
	CHECK(shmring_stat(e[0], &st) == 0, "stat");
	CHECK(st.used == 0 && st.dropped == 0, "used %zu, dropped %llu", st.used,
	      (unsigned long long)st.dropped);
	shmring_close(e[0]);
	return 0;
}

/* ---- A close from another thread wakes a sleeper -------------------------------- */

struct sleeper {
	shmring *r;
	int consume;
	atomic_int started;
	int64_t t_end;
	long rc;
};

static void *sleep_on_ring(void *arg)
{
	struct sleeper *s = arg;
	char b[512] = { 0 };
	atomic_store(&s->started, 1);
	s->rc = s->consume ? (long)shmring_recv(s->r, b, sizeof(b), -1)
			   : (long)shmring_send(s->r, b, sizeof(b), -1);
	s->t_end = t_now();
	return NULL;
}

/* A consumer asleep on an empty ring (or a producer on a full one) wakes
 * with -EPIPE at once when another thread closes the last peer handle. */
static int a_close_in_another_thread_wakes_a_sleeper(enum shmring_mode mode)
{
	const char *M = t_mode(mode);
	static const int64_t spins[] = { 0, 1, -1 };
	for (int consume = 0; consume < 2; consume++)
		for (int s = 0; s < 3; s++) {
			shmring *p = NULL, *c = NULL;
			struct shmring_config cfg = t_cfg(mode, 4096, 512);
			int rc = shmring_create_anon(&cfg, SHMRING_PRODUCER, &p);
			CHECK(rc == 0, "%s: create_anon: %d (%s)", M, rc, t_err(rc));
			rc = shmring_open_fd(shmring_fd(p), SHMRING_CONSUMER, &c);
			CHECK(rc == 0, "%s: open_fd: %d (%s)", M, rc, t_err(rc));
			char b[512] = { 0 };
			if (!consume)
				while (shmring_send(p, b, sizeof(b), 0) == 0) {
				}
			struct sleeper sl;
			memset(&sl, 0, sizeof(sl));
			sl.r = consume ? c : p;
			sl.consume = consume;
			if (spins[s] != 1)
				shmring_set_spin(sl.r, spins[s]);
			pthread_t th;
			CHECK(pthread_create(&th, NULL, sleep_on_ring, &sl) == 0, "pthread_create");
			while (!atomic_load(&sl.started))
				t_sleep_ms(1);
			t_sleep_ms(100);
			int64_t t0 = t_now();
			shmring_close(consume ? p : c);
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_sec += 5;
			int jr = pthread_timedjoin_np(th, NULL, &dl);
			CHECK(jr == 0, "%s: %s (spin %lld) still asleep 5 s after the close", M,
			      consume ? "consumer" : "producer", (long long)spins[s]);
			CHECK(sl.rc == -EPIPE, "%s: %s (spin %lld) woke with %ld (%s)", M,
			      consume ? "consumer" : "producer", (long long)spins[s], sl.rc,
			      t_err(sl.rc));
			CHECK(sl.t_end - t0 < SEC / 2,
			      "%s: %s (spin %lld) woke %.3f s after the close", M,
			      consume ? "consumer" : "producer", (long long)spins[s],
			      (sl.t_end - t0) / 1e9);
			shmring_close(sl.r);
		}
	return 0;
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	int failed = 0, run = 0;
	for (size_t i = 0; i < sizeof(stream_cases) / sizeof(stream_cases[0]); i++) {
		const struct tparam *tp = &stream_cases[i];
		snprintf(
			current, sizeof(current),
			"threaded::stamped_stream_exactly_once_in_order(%s %dx%d spin %s, %u msgs)",
			t_mode(tp->mode), tp->P, tp->C, tp->spin == 1 ? "default" : "0", tp->total);
		int64_t t0 = t_now();
		alarm(240);
		int r = stamped_stream_exactly_once_in_order(tp);
		alarm(0);
		printf("[%s] %s: (%.2fs)\n", r ? "FAIL" : "PASS", current, (t_now() - t0) / 1e9);
		fflush(stdout);
		failed += r;
		run++;
	}
	static const int64_t pipe_spins[] = { 50000, 0 };
	for (int i = 0; i < 2; i++) {
		snprintf(current, sizeof(current),
			 "threaded::pipe_writers_share_the_stream(%d writers, spin %lld)",
			 PIPE_WRITERS, (long long)pipe_spins[i]);
		int64_t t0 = t_now();
		alarm(240);
		int r = pipe_writers_share_the_stream(pipe_spins[i]);
		alarm(0);
		printf("[%s] %s: (%.2fs)\n", r ? "FAIL" : "PASS", current, (t_now() - t0) / 1e9);
		fflush(stdout);
		failed += r;
		run++;
	}
	for (int m = 0; m < 4; m++) {
		snprintf(current, sizeof(current),
			 "threaded::a_close_in_another_thread_wakes_a_sleeper(%s)",
			 t_mode((enum shmring_mode)m));
		int64_t t0 = t_now();
		alarm(60);
		int r = a_close_in_another_thread_wakes_a_sleeper((enum shmring_mode)m);
		alarm(0);
		printf("[%s] %s: (%.2fs)\n", r ? "FAIL" : "PASS", current, (t_now() - t0) / 1e9);
		fflush(stdout);
		failed += r;
		run++;
	}
	printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d\n", run, run - failed,
	       failed);
	return failed ? 1 : 0;
}
