/* SPDX-License-Identifier: MIT */
/*
 * bridge - a ring carried over ZeroMQ by the bridge library, end to end
 * between the two benchmark processes:
 *
 *   side A -> ring -> [bridge OUT] -> ZeroMQ, loopback TCP -> [bridge IN] -> ring -> side B
 *
 * and the same from B to A for latency (throughput uses A -> B only). Each
 * bridge is its own process, forked by the runner at setup and ended when
 * the sides close their rings (end of stream crosses, and every bridge exits
 * by itself). The two CPUs of the run stand for the two hosts: a bridge
 * pins itself to the CPU of the side it serves (OUT beside the sender, IN
 * beside the receiver), as the side publishes it at init, before it makes
 * its ZeroMQ context, whose I/O thread inherits it. `zmq` gets the same
 * placement: each side's context, I/O thread included, on that side's CPU,
 * and the same ZeroMQ queues and allocator settings (zmq_common.h).
 *
 * The rings are anonymous SPSC rings as in `ring` (shared by fork); the
 * sides wait on them without spinning (shmring_set_spin(0)), as the bridges
 * do by default: on a machine with few cores, spinning ends would take the
 * CPUs that ZeroMQ's I/O threads need. Compare with `zmq` (the same ZeroMQ
 * sockets without the rings and bridges).
 *
 * `bridge-thread` hosts each bridge in a thread of the side it serves
 * instead of a process of its own (the bridge library embedded in the
 * application): the same loops, rings, sockets and placement, without the
 * two process switches per message one way that bridge processes cost (on
 * this project's VM a switch between processes on one CPU costs twice one
 * between threads: 6.3 against 3.2 us a hop).
 *
 * Knobs for experiments (environment): BENCH_BRIDGE_SPIN_NS (the bridges'
 * spin_ns: 0 default, > 0 spin, -1 busy-poll), BENCH_BRIDGE_END_SPIN_NS (the
 * sides' shmring_set_spin, default 0), BENCH_BRIDGE_BATCH (the bridges'
 * batch), BENCH_BRIDGE_DEBUG=1 (each bridge prints its counters, context
 * switches and CPU time at exit).
 */
#define _GNU_SOURCE
#include "shmring_common.h"
#include "zmq_common.h"

#include <shmring_bridge.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { NEAR = 0, FAR = 1 }; /* per direction: the sender's ring, the receiver's */

struct bst {
	shmring *obs[2][2]; /* [direction][NEAR|FAR], observer handles until init */
	int fd[2][2];
	pid_t pid[2][2]; /* the bridges: [direction][OUT=0 | IN=1] */
	int ndir;
	bool threads; /* bridge-thread: the bridges are threads of the sides */
	pthread_t tid[2]; /* this side's bridge threads (OUT of its direction, IN of the other) */
	struct bthread {
		struct bst *s;
		int d;
		enum shmring_bridge_dir dir;
		shmring *r;
		shmring_bridge *b; /* while it runs, under lock: for fini's stop */
		_Atomic bool done;
	} bt[2];
	pthread_mutex_t lock;
	int nthreads;
	int hwm; /* the bridges' ZeroMQ queues, as zmq's (zmq_common.h) */
	int64_t spin;
	shmring *tx, *rx; /* this side's ends */
	/* Shared with the bridge processes. */
	struct bshared {
		char ep[2][256];      /* IN's bound endpoint, per direction */
		_Atomic int ready[2]; /* 1: ep[d] is set; -1: IN failed */
		cpu_set_t cpus[2];    /* each side's CPUs, once it is pinned */
		_Atomic int pinned[2];
	} * sh;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Wait (at most 20 s) for *flag to become non-zero; returns it, or 0. */
static int wait_flag(_Atomic int *flag)
{
	int v;
	for (int i = 0; !(v = atomic_load(flag)) && i < 20000; i++)
		sleep_ms(1);
	return v;
}

static int bridge_open(struct bst *s, int d, enum shmring_bridge_dir dir, shmring **r)
{
	return shmring_open_fd(s->fd[d][dir == SHMRING_BRIDGE_OUT ? NEAR : FAR],
			       dir == SHMRING_BRIDGE_OUT ? SHMRING_CONSUMER : SHMRING_PRODUCER, r);
}

static void set_running(struct bst *s, shmring_bridge **running, shmring_bridge *b)
{
	if (!running)
		return;
	pthread_mutex_lock(&s->lock);
	*running = b;
	pthread_mutex_unlock(&s->lock);
}

/* One bridge on ring handle r, until end of stream: 0, or the step that
 * failed (3-7, a process's exit status). *running, if given, holds the
 * bridge while it runs (under s->lock). */
static int bridge_run(struct bst *s, int d, enum shmring_bridge_dir dir, shmring *r,
		      shmring_bridge **running)
{
	if (dir == SHMRING_BRIDGE_OUT && wait_flag(&s->sh->ready[d]) <= 0) {
		shmring_close(r);
		return 7;
	}
	shmring_bridge *b;
	int rc;
	const char *ep = dir == SHMRING_BRIDGE_IN ? "tcp://127.0.0.1:*" : s->sh->ep[d];
	struct shmring_bridge_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.hwm = s->hwm;
	bench_zmq_keep_heap();
	const char *e = getenv("BENCH_BRIDGE_SPIN_NS");
	if (e && *e)
		cfg.spin_ns = strtoll(e, NULL, 10);
	if ((e = getenv("BENCH_BRIDGE_BATCH")) && *e)
		cfg.batch = atoi(e);
	if ((rc = shmring_bridge_new(dir, r, ep, &cfg, &b)) < 0) {
		if (dir == SHMRING_BRIDGE_IN)
			atomic_store(&s->sh->ready[d], -1);
		shmring_close(r); /* still ours (shmring_bridge.h) */
		return 4;
	}
	if (dir == SHMRING_BRIDGE_IN) {
		shmring_bridge_endpoint(b, s->sh->ep[d], sizeof(s->sh->ep[d]));
		atomic_store(&s->sh->ready[d], 1);
	}
	set_running(s, running, b);
	rc = shmring_bridge_run(b);
	if (getenv("BENCH_BRIDGE_DEBUG")) {
		struct shmring_bridge_stats bs;
		struct rusage ru;
		shmring_bridge_stats(b, &bs);
		getrusage(s->threads ? RUSAGE_THREAD : RUSAGE_SELF, &ru);
		fprintf(stderr,
			"bridge %s dir %d: %llu msgs, %llu batches, %.1f per batch; nvcsw %ld nivcsw %ld; cpu %.3f s\n",
			dir == SHMRING_BRIDGE_OUT ? "out" : "in", d,
			(unsigned long long)bs.messages, (unsigned long long)bs.batches,
			bs.batches ? (double)bs.messages / (double)bs.batches : 0.0, ru.ru_nvcsw,
			ru.ru_nivcsw,
			(double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
				(double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	}
	set_running(s, running, NULL);
	shmring_bridge_close(b);
	return rc < 0 ? 5 : 0;
}

/* The body of a bridge process. Never returns. */
static _Noreturn void bridge_proc(struct bst *s, int d, enum shmring_bridge_dir dir)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Beside the side it serves: the sender of direction d is side d. */
	int side = dir == SHMRING_BRIDGE_OUT ? d : 1 - d;
	if (wait_flag(&s->sh->pinned[side]) <= 0)
		_exit(6);
	sched_setaffinity(0, sizeof(cpu_set_t), &s->sh->cpus[side]);
	shmring *r;
	if (bridge_open(s, d, dir, &r) < 0)
		_exit(3);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			if (s->obs[i][j])
				shmring_close(s->obs[i][j]);
	_exit(bridge_run(s, d, dir, r, NULL));
}

static void *bridge_thread(void *arg)
{
	struct bthread *t = arg;
	int rc = bridge_run(t->s, t->d, t->dir, t->r, &t->b);
	atomic_store(&t->done, true);
	return (void *)(intptr_t)rc;
}

static int start_bridge(struct bst *s, int d, enum shmring_bridge_dir dir)
{
	fflush(NULL);
	pid_t p = fork();
	if (p < 0)
		return -errno;
	if (p == 0)
		bridge_proc(s, d, dir);
	s->pid[d][dir == SHMRING_BRIDGE_OUT ? 0 : 1] = p;
	return 0;
}

static void stop_bridges(struct bst *s, int sig)
{
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < 2; k++)
			if (s->pid[d][k] > 0) {
				if (sig)
					kill(s->pid[d][k], sig);
				waitpid(s->pid[d][k], NULL, 0);
				s->pid[d][k] = 0;
			}
}

static int setup_common(void **stp, const struct tp_env *env, char *why, bool threads)
{
	struct bst *s = calloc(1, sizeof(*s));
	if (!s || !(s->sh = bench_shared_alloc(sizeof(*s->sh))))
		return tp_fail(why, -ENOMEM, "out of memory");
	const char *e = getenv("BENCH_BRIDGE_END_SPIN_NS");
	s->spin = e && *e ? strtoll(e, NULL, 10) : 0;
	s->ndir = env->kind == BENCH_LAT ? 2 : 1;
	s->hwm = bench_zmq_hwm(env->size);
	struct shmring_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.mode = SHMRING_SPSC;
	cfg.capacity = srt_capacity(env->size);
	cfg.max_msg = env->size;
	for (int d = 0; d < s->ndir; d++)
		for (int k = 0; k < 2; k++) {
			int rc = shmring_create_anon(&cfg, SHMRING_OBSERVER, &s->obs[d][k]);
			if (rc < 0)
				return tp_fail(why, rc, "shmring_create_anon: %s", strerror(-rc));
			s->fd[d][k] = shmring_fd(s->obs[d][k]);
		}
	s->threads = threads;
	pthread_mutex_init(&s->lock, NULL); /* per process: used after the fork only */
	for (int d = 0; d < s->ndir && !s->threads; d++) {
		int rc = start_bridge(s, d, SHMRING_BRIDGE_IN);
		if (rc == 0)
			rc = start_bridge(s, d, SHMRING_BRIDGE_OUT);
		if (rc < 0) {
			stop_bridges(s, SIGKILL);
			return tp_fail(why, rc, "fork: %s", strerror(-rc));
		}
	}
	*stp = s;
	return 0;
}

static int setup(void **stp, const struct tp_env *env, char *why)
{
	return setup_common(stp, env, why, false);
}

static int setup_threads(void **stp, const struct tp_env *env, char *why)
{
	return setup_common(stp, env, why, true);
}

static int init(void *st, int side)
{
	struct bst *s = st;
	int rc, d_tx = side, d_rx = 1 - side;
	/* Where the harness pinned us: our bridges go there too. */
	if (sched_getaffinity(0, sizeof(cpu_set_t), &s->sh->cpus[side]) < 0)
		return -errno;
	atomic_store(&s->sh->pinned[side], 1);
	if (d_tx < s->ndir &&
	    (rc = shmring_open_fd(s->fd[d_tx][NEAR], SHMRING_PRODUCER, &s->tx)) < 0)
		return rc;
	if (d_rx < s->ndir &&
	    (rc = shmring_open_fd(s->fd[d_rx][FAR], SHMRING_CONSUMER, &s->rx)) < 0)
		return rc;
	/* Threads: this side hosts the OUT of what it sends and the IN of
	 * what it receives; their handles opened now, while the fds are. */
	s->nthreads = 0;
	for (int k = 0; s->threads && k < 2; k++) {
		int d = k == 0 ? d_tx : d_rx;
		enum shmring_bridge_dir dir = k == 0 ? SHMRING_BRIDGE_OUT : SHMRING_BRIDGE_IN;
		struct bthread *t = &s->bt[s->nthreads];
		if (d >= s->ndir)
			continue;
		*t = (struct bthread){ .s = s, .d = d, .dir = dir };
		if ((rc = bridge_open(s, d, dir, &t->r)) < 0)
			return rc;
		if ((rc = pthread_create(&s->tid[s->nthreads], NULL, bridge_thread, t)) != 0) {
			shmring_close(t->r);
			return -rc;
		}
		s->nthreads++;
	}
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < 2; k++)
			if (s->obs[d][k]) {
				shmring_close(s->obs[d][k]);
				s->obs[d][k] = NULL;
			}
	if ((s->tx && (rc = shmring_set_spin(s->tx, s->spin)) < 0) ||
	    (s->rx && (rc = shmring_set_spin(s->rx, s->spin)) < 0))
		return rc;
	/* Both INs bound (else the first messages wait in OUT's queue for the
	 * connection, inside the warm-up, which is harmless but slow). */
	for (int d = 0; d < s->ndir; d++)
		if (wait_flag(&s->sh->ready[d]) <= 0)
			return -EIO;
	return 0;
}

static int send_(void *st, const void *msg, size_t len)
{
	struct bst *s = st;
	return s->tx ? shmring_send(s->tx, msg, len, -1) : -EPERM;
}

static ssize_t recv_(void *st, void *buf, size_t cap)
{
	struct bst *s = st;
	return s->rx ? shmring_recv(s->rx, buf, cap, -1) : -EPERM;
}

static void fini(void *st, int side)
{
	struct bst *s = st;
	if (s->tx)
		shmring_close(s->tx); /* end of stream: the bridges finish */
	if (s->rx)
		shmring_close(s->rx);
	s->tx = s->rx = NULL;
	/* End of stream crosses and the bridge threads end, as the processes
	 * do; an IN holding messages for a consumer that has closed would
	 * not: after the processes' grace period, stop it. */
	for (int i = 0; i < s->nthreads; i++) {
		for (int k = 0; k < 300 && !atomic_load(&s->bt[i].done); k++)
			sleep_ms(10);
		pthread_mutex_lock(&s->lock);
		if (s->bt[i].b)
			shmring_bridge_stop(s->bt[i].b); /* any thread (shmring_bridge.h) */
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->tid[i], NULL);
	}
	s->nthreads = 0;
	if (side != SIDE_A)
		return;
	/* The runner forked the bridges: give them a moment to see end of
	 * stream (B may still be closing its ends), then make sure. */
	for (int i = 0; i < 300; i++) {
		bool alive = false;
		for (int d = 0; d < 2; d++)
			for (int k = 0; k < 2; k++)
				if (s->pid[d][k] > 0) {
					if (waitpid(s->pid[d][k], NULL, WNOHANG) == s->pid[d][k])
						s->pid[d][k] = 0;
					else
						alive = true;
				}
		if (!alive)
			return;
		sleep_ms(10);
	}
	stop_bridges(s, SIGKILL);
}

const struct transport tp_bridge = {
	.name = "bridge",
	.desc = "ring -> bridge out -> ZeroMQ (loopback TCP) -> bridge in -> ring, a process each",
	.caps = TP_LAT | TP_THR,
	.setup = setup,
	.init = init,
	.send = send_,
	.recv = recv_,
	.fini = fini,
};

const struct transport tp_bridge_thread = {
	.name = "bridge-thread",
	.desc = "bridge with each bridge in a thread of the side it serves (the library "
		"embedded), not a process",
	.caps = TP_LAT | TP_THR,
	.setup = setup_threads,
	.init = init,
	.send = send_,
	.recv = recv_,
	.fini = fini,
};
