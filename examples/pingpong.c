/* SPDX-License-Identifier: MIT */
/*
 * pingpong.c - one-way latency between two processes: shmring against pipe(2).
 *
 * Two processes pinned to two CPUs bounce one message back and forth. The
 * "ping" process (the parent) stamps a sequence number into the message,
 * sends it and waits for the echo; the "echo" process (a forked child)
 * checks the sequence number and sends the message back. One sample is one
 * round trip timed with CLOCK_MONOTONIC, halved: the one-way latency.
 *
 * Transports, all measured in the same run:
 *   ring-spin  two SPSC anonymous rings, one per direction, busy-polling
 *              (shmring_set_spin(r, -1)): the lowest latency, one CPU each
 *   ring       the same rings with the library's default wait (spin a while,
 *              then sleep on a futex)
 *   pipe       two pipe(2)s with blocking read/write: the baseline
 *
 * Machines are noisy, so the run is split into rounds. Each round runs every
 * transport once (fresh rings, fresh processes, a warm-up, then the samples),
 * in an order rotated from round to round; the table gives, for each
 * percentile, its median over the rounds.
 *
 * The rings are created before the fork with both roles and inherited by the
 * child, as pipe ends are. Each process then uses one direction of each ring
 * only: the ping process produces on ring 0 and consumes on ring 1, the echo
 * process the reverse, so no single-producer or single-consumer role is ever
 * used by two processes at once (API.md, "After fork()"). As each process
 * also keeps the roles it does not use, a dead peer never shows as -EPIPE
 * here: the ping process learns of it from SIGCHLD, and the echo process dies
 * with the ping process (PR_SET_PDEATHSIG). stream.c shows the other way:
 * each process holding only its own role.
 *
 * CPUs: 0 and 1 by default, else the first two this process may use. On a
 * one-CPU box both processes share it (with a warning); ring-spin is then
 * skipped unless asked for by name, since two busy-pollers on one CPU only
 * measure the scheduler's time slice, and the default run is 20,000 round
 * trips, since each waiting side spins out its spin budget before the other
 * side can run.
 *
 *   pingpong [--size N] [--iters N] [--warmup N] [--rounds R] [--cpus A,B]
 *            [--transports ring-spin,ring,pipe] [--timeout SEC] [--json] [-v]
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include <shmring.h>

#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#define PROG "pingpong"
#include "common.h"

enum transport { T_RING_SPIN, T_RING, T_PIPE, T_COUNT };
static const char *const tname[T_COUNT] = { "ring-spin", "ring", "pipe" };

enum { P50, P99, P999, NPCT };

static struct {
	size_t size;
	uint64_t iters, warmup;
	unsigned rounds, timeout;
	int cpu[2]; /* ping, echo */
	bool want[T_COUNT];
	bool json, verbose;
} opt = {
	.size = 64,
	.iters = 100000,
	.warmup = 10000,
	.rounds = 5,
	.timeout = 60,
	.cpu = { -1, -1 },
};

/* ---- Errors and signals (die, fail: common.h) -------------------------------
 * main_pid is the ping process; the echo process is its forked child.
 */
static void say(const char *s)
{
	ssize_t rc = write(STDERR_FILENO, s, strlen(s));
	(void)rc; /* nothing left to do if stderr is gone */
}

/* The echo process exits early only on an error it has already reported. */
static void on_sigchld(int sig)
{
	siginfo_t si;

	(void)sig;
	memset(&si, 0, sizeof si);
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0 &&
	    (si.si_code != CLD_EXITED || si.si_status != 0)) {
		say("pingpong: ");
		say(current);
		say(": the echo process failed\n");
		_exit(1);
	}
}

static void on_sigalrm(int sig)
{
	(void)sig;
	say("pingpong: ");
	say(current);
	say(": no progress before --timeout expired (a lost message or a hang)\n");
	_exit(1);
}

/* ---- Time, CPUs, the machine (the rest: common.h) ------------------------ */

/* The cost of one clock_gettime(), which every sample includes once. */
static double clock_cost_ns(void)
{
	const int n = 100000;
	uint64_t t0 = now_ns();

	for (int i = 0; i < n; i++)
		(void)now_ns();
	return (double)(now_ns() - t0) / n;
}

/* ---- Transports ----------------------------------------------------------
 * A link is the pair of channels of one measurement: [0] carries ping -> echo,
 * [1] echo -> ping.
 */
struct link {
	enum transport t;
	shmring *ring[2];
	int pipe[2][2];
};

static void link_open(struct link *l, enum transport t)
{
	memset(l, 0, sizeof *l);
	l->t = t;
	if (t == T_PIPE) {
		for (int d = 0; d < 2; d++)
			if (pipe(l->pipe[d]) != 0)
				die("pipe", -errno);
		return;
	}

	struct shmring_config cfg = { .mode = SHMRING_SPSC };

	if (opt.size > SHMRING_DEFAULT_MAX_MSG) {
		cfg.max_msg = opt.size;
		cfg.capacity = 4 * opt.size > SHMRING_DEFAULT_CAPACITY ? 4 * opt.size
								       : SHMRING_DEFAULT_CAPACITY;
	}
	for (int d = 0; d < 2; d++) {
		int rc = shmring_create_anon(&cfg, SHMRING_PRODUCER | SHMRING_CONSUMER,
					     &l->ring[d]);
		if (rc < 0)
			die("shmring_create_anon", rc);
	}
}

/* After the fork: keep the pipe ends this side uses (so that a dead peer reads
 * as end of file) and set the ring wait policy. side 0 = ping, 1 = echo. */
static void link_side(struct link *l, int side)
{
	if (l->t == T_PIPE) {
		/* ping writes pipe 0 and reads pipe 1; echo the reverse */
		if (close(l->pipe[0][side == 0 ? 0 : 1]) != 0 ||
		    close(l->pipe[1][side == 0 ? 1 : 0]) != 0)
			die("close", -errno);
		return;
	}
	if (l->t == T_RING_SPIN)
		for (int d = 0; d < 2; d++) {
			int rc = shmring_set_spin(l->ring[d], -1);
			if (rc < 0)
				die("shmring_set_spin", rc);
		}
}

static void link_close(struct link *l, int side)
{
	if (l->t == T_PIPE) {
		if (close(l->pipe[0][side == 0 ? 1 : 0]) != 0 ||
		    close(l->pipe[1][side == 0 ? 0 : 1]) != 0)
			die("close", -errno);
		return;
	}
	for (int d = 0; d < 2; d++) {
		int rc = shmring_close(l->ring[d]);
		if (rc < 0)
			die("shmring_close", rc);
	}
}

/* Send one whole message on direction d. */
static void xsend(struct link *l, int d, const void *buf)
{
	if (l->t != T_PIPE) {
		int rc;
		while ((rc = shmring_send(l->ring[d], buf, opt.size, -1)) == -EINTR)
			;
		if (rc < 0)
			die("shmring_send", rc);
		return;
	}
	for (size_t done = 0; done < opt.size;) {
		ssize_t n = write(l->pipe[d][1], (const char *)buf + done, opt.size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("write", -errno);
		done += (size_t)n;
	}
}

/* Receive one whole message on direction d and check its sequence number. */
static void xrecv(struct link *l, int d, void *buf, uint64_t want_seq)
{
	uint64_t seq;

	if (l->t != T_PIPE) {
		ssize_t n;
		while ((n = shmring_recv(l->ring[d], buf, opt.size, -1)) == -EINTR)
			;
		if (n < 0)
			die("shmring_recv", n);
		if ((size_t)n != opt.size)
			fail("message %" PRIu64 " is %zd bytes, sent %zu", want_seq, n, opt.size);
	} else {
		for (size_t done = 0; done < opt.size;) {
			ssize_t n = read(l->pipe[d][0], (char *)buf + done, opt.size - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("read", -errno);
			if (n == 0)
				fail("end of file after %zu bytes of message %" PRIu64, done,
				     want_seq);
			done += (size_t)n;
		}
	}
	memcpy(&seq, buf, sizeof seq);
	if (seq != want_seq)
		fail("%s side received sequence number %" PRIu64 ", expected %" PRIu64,
		     d == 0 ? "echo" : "ping", seq, want_seq);
}

/* ---- One measurement: fresh link, fresh echo process ---------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static uint64_t percentile(const uint64_t *v, uint64_t n, double p)
{
	uint64_t rank = (uint64_t)(p * (double)n + 0.999999);

	return v[rank == 0 ? 0 : rank - 1];
}

static void echo_main(struct link *l, unsigned char *buf)
{
	const uint64_t total = opt.warmup + opt.iters;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		die("prctl", -errno);
	if (getppid() != main_pid) /* the ping process died before prctl */
		_exit(1);
	pin(opt.cpu[1]);
	link_side(l, 1); /* no watchdog here: this process dies with the ping process */
	for (uint64_t i = 0; i < total; i++) {
		xrecv(l, 0, buf, i);
		xsend(l, 1, buf);
	}
	link_close(l, 1);
	_exit(0);
}

/* Runs one transport once; writes its one-way percentiles (ns) to pct. */
static void measure(enum transport t, uint64_t *samples, unsigned char *buf, double pct[NPCT])
{
	struct link l;
	int status;
	pid_t pid;

	current = tname[t];
	link_open(&l, t);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork", -errno);
	if (pid == 0)
		echo_main(&l, buf);

	alarm(opt.timeout);
	link_side(&l, 0);
	for (uint64_t i = 0; i < opt.warmup + opt.iters; i++) {
		uint64_t t0, t1;

		memcpy(buf, &i, sizeof i);
		t0 = now_ns();
		xsend(&l, 0, buf);
		xrecv(&l, 1, buf, i);
		t1 = now_ns();
		if (i >= opt.warmup)
			samples[i - opt.warmup] = t1 - t0;
		if (i % 1024 == 1023) /* progress: re-arm the watchdog, outside t0..t1 */
			alarm(opt.timeout);
	}
	alarm(0);
	link_close(&l, 0);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid", -errno);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the echo process failed (status 0x%x)", (unsigned)status);

	qsort(samples, opt.iters, sizeof *samples, cmp_u64);
	pct[P50] = percentile(samples, opt.iters, 0.50) / 2.0;
	pct[P99] = percentile(samples, opt.iters, 0.99) / 2.0;
	pct[P999] = percentile(samples, opt.iters, 0.999) / 2.0;
	current = "setup";
}

/* ---- Options, report ------------------------------------------------------ */

static _Noreturn void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: pingpong [options]\n"
		"  --size N          message size in bytes, >= 8 (default 64)\n"
		"  --iters N         timed round trips per transport and round (default 100000)\n"
		"  --warmup N        untimed round trips first (default 10000)\n"
		"  --rounds R        rounds; each runs every transport once (default 5)\n"
		"  --cpus A,B        CPUs of the ping and the echo process (default 0,1)\n"
		"  --transports L    comma list of ring-spin, ring, pipe (default all)\n"
		"  --timeout SEC     give up after SEC s without 1024 round trips (default 60)\n"
		"  --json            one JSON object per line instead of the table\n"
		"  -v, --verbose     also print every round's figures\n");
	exit(status);
}

static uint64_t number(const char *name, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr,
			"pingpong: %s: expected a number from %" PRIu64 " to %" PRIu64
			", got '%s'\n",
			name, min, max, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	bool cpus_given = false, transports_given = false, iters_given = false,
	     warmup_given = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			usage(0);
		if (!strcmp(a, "--json")) {
			opt.json = true;
			continue;
		}
		if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			opt.verbose = true;
			continue;
		}
		if (!v)
			usage(2);
		i++;
		if (!strcmp(a, "--size"))
			opt.size = number(a, v, 8, 1u << 20);
		else if (!strcmp(a, "--iters")) {
			opt.iters = number(a, v, 1, 100000000);
			iters_given = true;
		} else if (!strcmp(a, "--warmup")) {
			opt.warmup = number(a, v, 0, 100000000);
			warmup_given = true;
		} else if (!strcmp(a, "--rounds"))
			opt.rounds = number(a, v, 1, 1000);
		else if (!strcmp(a, "--timeout"))
			opt.timeout = number(a, v, 1, 86400);
		else if (!strcmp(a, "--cpus")) {
			if (sscanf(v, "%d,%d", &opt.cpu[0], &opt.cpu[1]) != 2 || opt.cpu[0] < 0 ||
			    opt.cpu[1] < 0)
				usage(2);
			cpus_given = true;
		} else if (!strcmp(a, "--transports")) {
			if (!parse_transports(v, tname, T_COUNT, opt.want))
				usage(2);
			transports_given = true;
		} else
			usage(2);
	}
	main_pid = getpid();
	choose_cpus(opt.cpu, cpus_given, "every hop waits for the scheduler");
	if (!transports_given) {
		for (int t = 0; t < T_COUNT; t++)
			opt.want[t] = true;
		/* Two busy-pollers on one CPU only measure the scheduler's time
		 * slice: milliseconds a hop. Ask for it by name to see. */
		if (opt.cpu[0] == opt.cpu[1]) {
			opt.want[T_RING_SPIN] = false;
			fprintf(stderr, "pingpong: ring-spin skipped: busy-polling needs two CPUs "
					"(--transports ring-spin to run it anyway)\n");
		}
	}
	/* On one CPU a waiting side spins out its whole spin budget before the
	 * other can run: round trips take ~100 us, so take fewer of them. */
	if (opt.cpu[0] == opt.cpu[1] && !iters_given) {
		opt.iters = 20000;
		if (!warmup_given)
			opt.warmup = 2000;
		fprintf(stderr,
			"pingpong: one shared CPU: %" PRIu64 " round trips per run "
			"(--iters to change)\n",
			opt.iters);
	}

	enum transport order[T_COUNT];
	unsigned nt = 0;
	for (int t = 0; t < T_COUNT; t++)
		if (opt.want[t])
			order[nt++] = (enum transport)t;

	char model[256], idle[256], clocksrc[64] = "?";
	struct utsname uts;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t usable;

	if (uname(&uts) != 0)
		die("uname", -errno);
	if (sched_getaffinity(0, sizeof usable, &usable) != 0)
		die("sched_getaffinity", -errno);
	cpu_model(model, sizeof model);
	report_idle(opt.cpu, "tails", idle, sizeof idle);
	FILE *cs = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
	if (cs) {
		if (fgets(clocksrc, sizeof clocksrc, cs))
			clocksrc[strcspn(clocksrc, "\n")] = '\0';
		fclose(cs);
	}
	pin(opt.cpu[0]);
	double clock_ns = clock_cost_ns();

	if (opt.json) {
		printf("{\"bench\":\"machine\",\"cpu\":\"%s\",\"nproc\":%d,\"online\":%ld,"
		       "\"kernel\":\"%s %s\",\"cpus\":[%d,%d],\"clock_ns\":%.1f}\n",
		       model, CPU_COUNT(&usable), online, uts.release, uts.machine, opt.cpu[0],
		       opt.cpu[1], clock_ns);
	} else {
		printf("pingpong: one-way latency (round trip / 2) of %zu-byte messages between "
		       "two processes\n",
		       opt.size);
		printf("machine: %s, nproc %d (%ld online), Linux %s %s\n", model,
		       CPU_COUNT(&usable), online, uts.release, uts.machine);
		printf("idle:    %s\n", idle);
		printf("pinning: ping on CPU %d, echo on CPU %d\n", opt.cpu[0], opt.cpu[1]);
		printf("clock:   CLOCK_MONOTONIC (%s), %.0f ns a reading, in every sample once\n",
		       clocksrc, clock_ns);
		printf("run:     %u rounds x (%" PRIu64 " warm-up + %" PRIu64
		       " timed round trips) per transport, order rotated;\n"
		       "         each figure is the median over the rounds\n\n",
		       opt.rounds, opt.warmup, opt.iters);
	}
	fflush(stdout);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_sigchld;
	if (sigaction(SIGCHLD, &sa, NULL) != 0)
		die("sigaction", -errno);
	sa.sa_handler = on_sigalrm;
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		die("sigaction", -errno);
	sa.sa_handler = SIG_IGN; /* a dead reader is EPIPE, not a signal */
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		die("sigaction", -errno);

	uint64_t *samples = malloc(opt.iters * sizeof *samples);
	unsigned char *buf = malloc(opt.size);
	double(*res)[T_COUNT][NPCT] = calloc(opt.rounds, sizeof *res);
	if (!samples || !buf || !res)
		die("malloc", -ENOMEM);
	for (size_t i = 0; i < opt.size; i++)
		buf[i] = (unsigned char)i;

	for (unsigned r = 0; r < opt.rounds; r++)
		for (unsigned k = 0; k < nt; k++) {
			enum transport t = order[(r + k) % nt];

			measure(t, samples, buf, res[r][t]);
			if (opt.verbose && !opt.json)
				printf("  round %u %-10s p50 %8.0f  p99 %8.0f  p99.9 %8.0f ns\n",
				       r + 1, tname[t], res[r][t][P50], res[r][t][P99],
				       res[r][t][P999]);
		}
	if (opt.verbose && !opt.json)
		printf("\n");

	double med[T_COUNT][NPCT], lo[T_COUNT], hi[T_COUNT], col[1000];
	for (unsigned k = 0; k < nt; k++) {
		enum transport t = order[k];
		for (int p = 0; p < NPCT; p++) {
			for (unsigned r = 0; r < opt.rounds; r++)
				col[r] = res[r][t][p];
			med[t][p] = median(col, opt.rounds);
			if (p == P50) {
				lo[t] = col[0];
				hi[t] = col[opt.rounds - 1];
			}
		}
	}

	if (!opt.json)
		printf("%-10s %9s %9s %9s %9s   %s\n", "transport", "p50 ns", "p99 ns", "p99.9 ns",
		       "p50/pipe", "p50 over rounds");
	for (unsigned k = 0; k < nt; k++) {
		enum transport t = order[k];
		char ratio[32] = "-";

		if (opt.want[T_PIPE])
			snprintf(ratio, sizeof ratio, "%.3f", med[t][P50] / med[T_PIPE][P50]);
		if (opt.json)
			printf("{\"bench\":\"latency\",\"transport\":\"%s\",\"size\":%zu,"
			       "\"samples\":%" PRIu64 ",\"rounds\":%u,\"p50_ns\":%.1f,"
			       "\"p99_ns\":%.1f,\"p999_ns\":%.1f,\"p50_vs_pipe\":%s}\n",
			       tname[t], opt.size, opt.iters, opt.rounds, med[t][P50], med[t][P99],
			       med[t][P999], opt.want[T_PIPE] ? ratio : "null");
		else
			printf("%-10s %9.0f %9.0f %9.0f %9s   %.0f..%.0f\n", tname[t], med[t][P50],
			       med[t][P99], med[t][P999], ratio, lo[t], hi[t]);
	}
	free(samples);
	free(buf);
	free(res);
	return 0;
}
