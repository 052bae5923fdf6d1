/* SPDX-License-Identifier: MIT */
/*
 * run.c - one measurement: one transport, one benchmark, one message size.
 *
 *   top-level ──fork──> runner (side A) ──fork──> peer (side B)
 *
 * The top-level process only waits (with a watchdog alarm) and cleans up, so
 * that a transport that crashes or hangs costs one measurement, not the run,
 * and leaves no process, descriptor or kernel object behind. The runner sets
 * the transport up (so both sides inherit it), forks the peer, and both pin
 * themselves, take their ends, meet at a barrier in the control page, warm
 * up, and measure:
 *
 *   latency     A stamps a message, sends it, waits for B's echo; one sample
 *               is (end - start) / 2, where start is the send time, or with
 *               --rate the time the send was *scheduled* for, so that a
 *               stall also counts against the messages that queued up
 *               behind it (coordinated omission).
 *   throughput  A streams stamped messages as fast as it can (or at --rate);
 *               B checks every sequence number, counts what it received in
 *               the measured window, then tells A to stop and drains the
 *               stream up to A's end marker.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- errors: the first one wins and is what the report shows ---- */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	int zero = 0;
	if (!atomic_compare_exchange_strong(&bench_ctl->err, &zero, 1))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(bench_ctl->errmsg, sizeof(bench_ctl->errmsg), fmt, ap);
	va_end(ap);
}

static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		fail("cannot pin to CPU %d: %s", cpu, strerror(errno));
		return -errno;
	}
	return 0;
}

static void barrier(void)
{
	atomic_fetch_add(&bench_ctl->ready, 1);
	while (atomic_load(&bench_ctl->ready) < 2) {
		bench_pause();
		if (bench_same_cpu)
			sched_yield();
	}
}

static void *alloc_buf(size_t size)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, size < 64 ? 64 : size))
		return NULL;
	memset(p, 0xa5, size); /* touch every page before timing */
	return p;
}

static long nvcsw(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw;
}

/* Wait for an absolute time: sleep while it is far, spin the last stretch. */
static void wait_until(int64_t t)
{
	int64_t now;
	while ((now = bench_now()) < t) {
		if (t - now > 200 * 1000) {
			int64_t ns = t - now - 100 * 1000;
			struct timespec ts = { ns / 1000000000, ns % 1000000000 };
			nanosleep(&ts, NULL);
		} else {
			bench_pause();
		}
	}
}

/* ---- message movers: copy or zero-copy, with the stamps checked ---- */

struct mover {
	const struct transport *t;
	void *st;
	size_t size;
	bool zc;
	void *out, *in; /* copy buffers */
};

static int send_seq(struct mover *m, uint64_t seq)
{
	int rc;
	if (m->zc) {
		void *p;
		if ((rc = m->t->claim(m->st, m->size, &p)) < 0) {
			fail("%s: claim: %s", m->t->name, strerror(-rc));
			return rc;
		}
		bench_stamp(p, m->size, seq);
		if ((rc = m->t->commit(m->st, m->size)) < 0) {
			fail("%s: commit: %s", m->t->name, strerror(-rc));
			return rc;
		}
		return 0;
	}
	bench_stamp(m->out, m->size, seq);
	if ((rc = m->t->send(m->st, m->out, m->size)) < 0)
		fail("%s: send: %s", m->t->name, strerror(-rc));
	return rc;
}

static int check_msg(struct mover *m, const void *msg, size_t len, uint64_t *seq)
{
	if (len != m->size) {
		fail("%s: received %zu bytes, expected %zu", m->t->name, len, m->size);
		return -EBADMSG;
	}
	if (bench_unstamp(msg, len, seq) < 0) {
		fail("%s: torn message: head and tail stamps disagree", m->t->name);
		return -EBADMSG;
	}
	return 0;
}

/* Receive one message and return its sequence number in *seq. */
static int recv_seq(struct mover *m, uint64_t *seq)
{
	int rc;
	if (m->zc) {
		const void *p;
		size_t len;
		if ((rc = m->t->peek(m->st, &p, &len)) < 0) {
			fail("%s: peek: %s", m->t->name, strerror(-rc));
			return rc;
		}
		if ((rc = check_msg(m, p, len, seq)) < 0)
			return rc;
		if ((rc = m->t->release(m->st)) < 0) {
			fail("%s: release: %s", m->t->name, strerror(-rc));
			return rc;
		}
		return 0;
	}
	ssize_t n = m->t->recv(m->st, m->in, m->size);
	if (n < 0) {
		fail("%s: recv: %s", m->t->name, strerror((int)-n));
		return (int)n;
	}
	return check_msg(m, m->in, (size_t)n, seq);
}

/* ---- latency ---- */

static int lat_client(struct mover *m, const struct options *o)
{
	struct hist *h = &bench_ctl->hist;
	uint64_t seq = 0, got;
	int rc;

	int64_t warm_end = bench_now() + (int64_t)(o->warmup * 1e9);
	do {
		for (int i = 0; i < 16; i++, seq++) {
			if ((rc = send_seq(m, seq)) < 0 || (rc = recv_seq(m, &got)) < 0)
				return rc;
			if (got != seq) {
				fail("%s: echo carried sequence %llu, sent %llu", m->t->name,
				     (unsigned long long)got, (unsigned long long)seq);
				return -EBADMSG;
			}
		}
	} while (bench_now() < warm_end);

	hist_reset(h);
	int64_t period = o->rate > 0 ? (int64_t)(1e9 / o->rate) : 0;
	int64_t start = bench_now();
	int64_t deadline = start + (int64_t)(o->seconds * 1e9);
	for (uint64_t i = 0; i < o->iters; i++, seq++) {
		int64_t t0;
		if (period) {
			t0 = start + (int64_t)i * period; /* the intended send time */
			wait_until(t0);
		} else {
			t0 = bench_now();
		}
		if ((rc = send_seq(m, seq)) < 0 || (rc = recv_seq(m, &got)) < 0)
			return rc;
		int64_t t1 = bench_now();
		if (got != seq) {
			fail("%s: echo carried sequence %llu, sent %llu", m->t->name,
			     (unsigned long long)got, (unsigned long long)seq);
			return -EBADMSG;
		}
		int64_t d = t1 - t0;
		hist_record(h, d > 0 ? (uint64_t)(d + 1) / 2 : 0);
		if (!period) {
			if (t1 >= deadline)
				break;
			continue;
		}
		/* Paced: the run ends when the schedule does, not the clock, so
		 * that the sends a stall held back are still made and measured
		 * from their intended times (coordinated omission). A transport
		 * that cannot keep the rate falls ever further behind: past the
		 * window and as much again (at most 5 s), the rest of the
		 * schedule is recorded as late as it already is, a floor. */
		int64_t next = start + (int64_t)(i + 1) * period;
		if (next >= deadline)
			break;
		int64_t window = deadline - start;
		if (t1 >= deadline + (window < 5000000000 ? window : 5000000000)) {
			for (uint64_t j = i + 1; j < o->iters; j++) {
				int64_t tj = start + (int64_t)j * period;
				if (tj >= deadline)
					break;
				hist_record(h, (uint64_t)(t1 - tj + 1) / 2);
			}
			break;
		}
	}
	return send_seq(m, BENCH_END_SEQ);
}

static int lat_server(struct mover *m)
{
	const struct transport *t = m->t;
	int rc;
	for (;;) {
		uint64_t seq;
		if (m->zc) {
			const void *p;
			void *q;
			size_t len;
			if ((rc = t->peek(m->st, &p, &len)) < 0) {
				fail("%s: peek: %s", t->name, strerror(-rc));
				return rc;
			}
			if ((rc = check_msg(m, p, len, &seq)) < 0)
				return rc;
			if (seq == BENCH_END_SEQ)
				return t->release(m->st);
			if ((rc = t->claim(m->st, len, &q)) < 0) {
				fail("%s: claim: %s", t->name, strerror(-rc));
				return rc;
			}
			memcpy(q, p, len);
			if ((rc = t->commit(m->st, len)) < 0 || (rc = t->release(m->st)) < 0) {
				fail("%s: commit/release: %s", t->name, strerror(-rc));
				return rc;
			}
			continue;
		}
		ssize_t n = t->recv(m->st, m->in, m->size);
		if (n < 0) {
			fail("%s: recv: %s", t->name, strerror((int)-n));
			return (int)n;
		}
		if ((rc = check_msg(m, m->in, (size_t)n, &seq)) < 0)
			return rc;
		if (seq == BENCH_END_SEQ)
			return 0;
		if ((rc = t->send(m->st, m->in, (size_t)n)) < 0) {
			fail("%s: send: %s", t->name, strerror(-rc));
			return rc;
		}
	}
}

/* ---- throughput ---- */

static int thr_producer(struct mover *m, const struct options *o)
{
	const struct transport *t = m->t;
	uint64_t seq = 0;
	int rc;
	long cs0 = nvcsw();
	int64_t period = o->rate > 0 ? (int64_t)(1e9 / o->rate) : 0;
	int64_t start = bench_now();

	if (t->sendv && o->batch > 1) {
		int n = o->batch;
		struct iovec v[n];
		for (int i = 0; i < n; i++) {
			v[i].iov_base = alloc_buf(m->size);
			v[i].iov_len = m->size;
			if (!v[i].iov_base) {
				fail("out of memory");
				return -ENOMEM;
			}
		}
		while (!atomic_load_explicit(&bench_ctl->stop, memory_order_relaxed)) {
			if (period)
				wait_until(start + (int64_t)seq * period);
			for (int i = 0; i < n; i++)
				bench_stamp(v[i].iov_base, m->size, seq + (uint64_t)i);
			int k = t->sendv(m->st, v, n);
			if (k < 0) {
				fail("%s: sendv: %s", t->name, strerror(-k));
				return k;
			}
			seq += (uint64_t)k;
		}
		bench_ctl->nvcsw[SIDE_A] = (uint64_t)(nvcsw() - cs0);
		return send_seq(m, BENCH_END_SEQ);
	}

	while (!atomic_load_explicit(&bench_ctl->stop, memory_order_relaxed)) {
		if (period)
			wait_until(start + (int64_t)seq * period);
		if ((rc = send_seq(m, seq++)) < 0)
			return rc;
	}
	bench_ctl->nvcsw[SIDE_A] = (uint64_t)(nvcsw() - cs0);
	return send_seq(m, BENCH_END_SEQ);
}

static int thr_consumer(struct mover *m, const struct options *o)
{
	const struct transport *t = m->t;
	struct ctl *c = bench_ctl;
	uint64_t expect = 0, n0 = 0, next_check = 0, step = m->size <= 4096 ? 64 : 1;
	int64_t t0 = 0, warm_end, end = 0;
	int phase = 0; /* 0 warm-up, 1 measuring, 2 draining */
	uint64_t w0 = 0, w1;
	long cs0 = nvcsw();
	int rc;
	bool batch = t->recvv && o->batch > 1;
	int nb = batch ? o->batch : 1;
	struct iovec v[nb];

	if (batch)
		for (int i = 0; i < nb; i++) {
			v[i].iov_base = alloc_buf(m->size);
			if (!v[i].iov_base) {
				fail("out of memory");
				return -ENOMEM;
			}
		}
	c->have_wakes = t->wakeups && t->wakeups(m->st, &w0) == 0;
	warm_end = bench_now() + (int64_t)(o->warmup * 1e9);

	for (;;) {
		int k = 1;
		uint64_t seq;
		bool done = false;
		if (batch) {
			for (int i = 0; i < nb; i++)
				v[i].iov_len = m->size;
			k = t->recvv(m->st, v, nb);
			if (k < 0) {
				fail("%s: recvv: %s", t->name, strerror(-k));
				return k;
			}
			for (int i = 0; i < k; i++) {
				if ((rc = check_msg(m, v[i].iov_base, v[i].iov_len, &seq)) < 0)
					return rc;
				if (seq == BENCH_END_SEQ) {
					done = true;
					k = i;
					break;
				}
				if (seq != expect) {
					fail("%s: received sequence %llu, expected %llu", t->name,
					     (unsigned long long)seq, (unsigned long long)expect);
					return -EBADMSG;
				}
				expect++;
			}
		} else {
			if ((rc = recv_seq(m, &seq)) < 0)
				return rc;
			if (seq == BENCH_END_SEQ) {
				done = true;
			} else if (seq != expect) {
				fail("%s: received sequence %llu, expected %llu", t->name,
				     (unsigned long long)seq, (unsigned long long)expect);
				return -EBADMSG;
			} else {
				expect++;
			}
		}
		if (done)
			break;
		(void)k;
		if (phase < 2 && expect >= next_check) {
			next_check = expect + step;
			int64_t now = bench_now();
			if (phase == 0 && now >= warm_end) {
				phase = 1;
				t0 = now;
				n0 = expect;
				end = now + (int64_t)(o->seconds * 1e9);
			} else if (phase == 1 && now >= end) {
				phase = 2;
				c->msgs = expect - n0;
				c->ns = now - t0;
				c->bytes = c->msgs * m->size;
				c->total_msgs = expect;
				if (c->have_wakes && t->wakeups(m->st, &w1) == 0)
					c->wakes = w1 - w0;
				c->nvcsw[SIDE_B] = (uint64_t)(nvcsw() - cs0);
				atomic_store(&c->stop, 1);
			}
		}
	}
	if (phase < 2) {
		fail("%s: the stream ended before the measurement did", t->name);
		return -EPIPE;
	}
	return 0;
}

/* ---- the two sides ---- */

static int side(const struct transport *t, void *st, int which, enum bench_kind kind, size_t size,
		const struct options *o)
{
	struct mover m = { .t = t, .st = st, .size = size };
	int rc;
	m.zc = t->claim && t->commit && t->peek && t->release;
	if (!m.zc) {
		m.out = alloc_buf(size);
		m.in = alloc_buf(size);
		if (!m.out || !m.in) {
			fail("out of memory for %zu-byte buffers", size);
			return -ENOMEM;
		}
	}
	if ((rc = pin(o->cpu[which])) < 0)
		return rc;
	if ((rc = t->init(st, which)) < 0) {
		fail("%s: init (side %c): %s", t->name, "AB"[which], strerror(-rc));
		return rc;
	}
	barrier();
	if (kind == BENCH_LAT)
		rc = which == SIDE_A ? lat_client(&m, o) : lat_server(&m);
	else
		rc = which == SIDE_A ? thr_producer(&m, o) : thr_consumer(&m, o);
	if (t->fini)
		t->fini(st, which);
	return rc;
}

static volatile sig_atomic_t peer_pid_local;

static void on_sigchld(int sig)
{
	(void)sig;
	int s, e = errno;
	if (peer_pid_local && waitpid(peer_pid_local, &s, WNOHANG) == peer_pid_local) {
		atomic_store(&bench_ctl->peer_status, s);
		atomic_store(&bench_ctl->peer_reaped, 1);
		if (!WIFEXITED(s) || WEXITSTATUS(s) != 0)
			_exit(3); /* the peer failed: its message is in the control page */
	}
	errno = e;
}

static void runner(const struct transport *t, enum bench_kind kind, size_t size,
		   const struct options *o)
{
	struct tp_env env = { .size = size, .kind = kind, .same_cpu = bench_same_cpu };
	char why[TP_WHY_MAX] = "";
	void *st = NULL;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	rc = t->setup(&st, &env, why);
	if (rc < 0) {
		snprintf(bench_ctl->errmsg, sizeof(bench_ctl->errmsg), "%s",
			 why[0] ? why : strerror(-rc));
		atomic_store(&bench_ctl->skip, 1);
		_exit(0);
	}

	if (t->caps & TP_LOCAL) {
		uint64_t msgs;
		int64_t ns;
		if (pin(o->cpu[SIDE_A]) < 0)
			_exit(2);
		if ((rc = t->local(st, o->warmup, &msgs, &ns)) < 0 ||
		    (rc = t->local(st, o->seconds, &msgs, &ns)) < 0) {
			fail("%s: %s", t->name, strerror(-rc));
			_exit(2);
		}
		bench_ctl->msgs = msgs;
		bench_ctl->ns = ns;
		bench_ctl->bytes = msgs * size;
		_exit(0);
	}

	pid_t me = getpid();
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);

	pid_t pid = fork();
	if (pid < 0) {
		fail("fork: %s", strerror(errno));
		_exit(2);
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		signal(SIGCHLD, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != me)
			_exit(1);
		rc = side(t, st, SIDE_B, kind, size, o);
		_exit(rc < 0 ? 2 : 0);
	}
	peer_pid_local = pid;
	atomic_store(&bench_ctl->peer_pid, pid);
	sigprocmask(SIG_SETMASK, &old, NULL);

	rc = side(t, st, SIDE_A, kind, size, o);
	if (rc < 0)
		kill(pid, SIGKILL);
	int s = 0;
	if (atomic_load(&bench_ctl->peer_reaped))
		_exit(rc < 0 ? 2 : 0);
	pid_t w = waitpid(pid, &s, 0);
	if (w == pid)
		atomic_store(&bench_ctl->peer_reaped, 1);
	if (w == pid && !rc && (!WIFEXITED(s) || WEXITSTATUS(s) != 0)) {
		if (!atomic_load(&bench_ctl->err))
			fail("%s: the peer process %s %d", t->name,
			     WIFSIGNALED(s) ? "was killed by signal" : "exited with status",
			     WIFSIGNALED(s) ? WTERMSIG(s) : WEXITSTATUS(s));
		_exit(3);
	}
	_exit(rc < 0 ? 2 : 0);
}

/* ---- the top-level side ---- */

volatile sig_atomic_t bench_runner_pid;

static volatile sig_atomic_t alarmed;
static void on_alarm(int sig)
{
	(void)sig;
	alarmed = 1;
}

void run_cleanup(struct ctl *c)
{
	int n = atomic_load(&c->nclean);
	if (n > CLEAN_MAX)
		n = CLEAN_MAX;
	for (int i = 0; i < n; i++) {
		struct cleanup_entry *e = &c->clean[i];
		switch (e->kind) {
		case CLEAN_SYSV_MSQ: {
			extern int bench_sysv_rmid(int id);
			bench_sysv_rmid(e->id);
			break;
		}
		case CLEAN_MQ: {
			extern int bench_mq_unlink(const char *name);
			bench_mq_unlink(e->name);
			break;
		}
		case CLEAN_SHM:
			shm_unlink(e->name);
			break;
		}
		e->kind = CLEAN_NONE;
	}
	atomic_store(&c->nclean, 0);
}

void run_measurement(const struct transport *t, enum bench_kind kind, size_t size,
		     const struct options *o, struct measurement *m)
{
	struct ctl *c = bench_ctl;
	memset(m, 0, sizeof(*m));
	memset(c, 0, sizeof(*c));

	if (!(t->caps & (kind == BENCH_LAT ? TP_LAT : TP_THR))) {
		m->status = M_SKIP;
		snprintf(m->why, sizeof(m->why), "%s only",
			 kind == BENCH_LAT ? "throughput" : "latency");
		return;
	}

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		m->status = M_ERROR;
		snprintf(m->why, sizeof(m->why), "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0)
		runner(t, kind, size, o);
	bench_runner_pid = pid;

	/* The watchdog: the run should take warmup + seconds; anything far
	 * beyond that is a hang (a lost wakeup, a deadlock). */
	unsigned limit = (unsigned)ceil(o->warmup + o->seconds) + 20;
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	alarmed = 0;
	alarm(limit);
	int s = 0;
	pid_t w;
	while ((w = waitpid(pid, &s, 0)) < 0 && errno == EINTR && !alarmed)
		;
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	pid_t peer = atomic_load(&c->peer_pid);
	if (w != pid) {
		kill(pid, SIGKILL);
		if (peer > 0)
			kill(peer, SIGKILL);
		waitpid(pid, &s, 0);
		m->status = M_ERROR;
		snprintf(m->why, sizeof(m->why), "timed out after %u s (hung?)%s%s", limit,
			 atomic_load(&c->err) ? ": " : "", atomic_load(&c->err) ? c->errmsg : "");
	}
	/* We are the subreaper: a peer that the runner did not reap (it died or
	 * was killed first) is our child now; end it and collect it. */
	if (peer > 0 && !atomic_load(&c->peer_reaped)) {
		kill(peer, SIGKILL);
		waitpid(peer, NULL, 0);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	bench_runner_pid = 0;
	run_cleanup(c);
	if (m->status == M_ERROR)
		return;

	if (atomic_load(&c->skip)) {
		m->status = M_SKIP;
		snprintf(m->why, sizeof(m->why), "%s", c->errmsg);
		return;
	}
	if (atomic_load(&c->err) || !WIFEXITED(s) || WEXITSTATUS(s) != 0) {
		m->status = M_ERROR;
		int ps = atomic_load(&c->peer_status);
		if (atomic_load(&c->err))
			snprintf(m->why, sizeof(m->why), "%s", c->errmsg);
		else if (atomic_load(&c->peer_reaped) && (!WIFEXITED(ps) || WEXITSTATUS(ps) != 0))
			snprintf(m->why, sizeof(m->why), "the peer process %s %d",
				 WIFSIGNALED(ps) ? "was killed by signal" : "exited with status",
				 WIFSIGNALED(ps) ? WTERMSIG(ps) : WEXITSTATUS(ps));
		else
			snprintf(m->why, sizeof(m->why), "the runner %s %d",
				 WIFSIGNALED(s) ? "was killed by signal" : "exited with status",
				 WIFSIGNALED(s) ? WTERMSIG(s) : WEXITSTATUS(s));
		return;
	}

	if (kind == BENCH_LAT) {
		struct hist *h = &c->hist;
		m->samples = h->count;
		m->p50 = hist_percentile(h, 50);
		m->p90 = hist_percentile(h, 90);
		m->p99 = hist_percentile(h, 99);
		m->p999 = hist_percentile(h, 99.9);
		m->p9999 = hist_percentile(h, 99.99);
		m->max = h->max;
		if (!h->count) {
			m->status = M_ERROR;
			snprintf(m->why, sizeof(m->why), "no samples");
		}
		return;
	}
	if (c->ns <= 0) {
		m->status = M_ERROR;
		snprintf(m->why, sizeof(m->why), "nothing measured");
		return;
	}
	m->msgs_per_s = (double)c->msgs * 1e9 / (double)c->ns;
	m->bytes_per_s = (double)c->bytes * 1e9 / (double)c->ns;
	if (c->total_msgs) {
		m->have_wakes = c->have_wakes;
		m->wakes_per_million = (double)c->wakes * 1e6 / (double)c->total_msgs;
		m->ctxsw_per_million = (double)(c->nvcsw[0] + c->nvcsw[1]) * 1e6 /
				       (double)c->total_msgs;
	}
}
