/* SPDX-License-Identifier: MIT */
/*
 * bridge_test.c - end-to-end tests of `shmring bridge`: real rings in
 * /dev/shm, the real command for both sides, a producer and a consumer
 * process that stamp and check every message.
 *
 *   producer -> NEAR ring -> shmring bridge out -> ZeroMQ -> shmring bridge in -> FAR ring -> consumer
 *
 *   bridge_test SCENARIO TRANSPORT SHMRING [NS_OUT NS_IN ADDR]
 *
 * SCENARIO
 *   million       10^6 stamped messages (SHMRING_LONG=1: 10^7) of 16 to 128
 *                 bytes cross exactly once and in order; end of stream
 *                 reaches the consumer; both bridges exit 0; nothing dropped
 *   backpressure  the far consumer stalls: the near producer ends up blocked
 *                 (its ring full) and stays blocked, with the far ring full;
 *                 the consumer resumes and everything arrives, nothing lost
 *   restart_in    the consumer stalls a quarter of the way through, the
 *                 pipeline fills, IN is SIGKILLed and started again: the
 *                 stream resumes, the consumer sees a gap, and exactly that
 *                 many messages are counted in the far ring's `dropped`
 *   restart_out   the same with OUT killed and restarted: it resumes its
 *                 session, and what the dead one held is the counted gap
 *                 (the producer retries the -EPIPE it gets while OUT is down)
 *   eos           end of stream crosses with no message and with ten
 * TRANSPORT
 *   tcp    tcp://127.0.0.1, a port the kernel picks (IN binds port *)
 *   ipc    ipc:// in $TMPDIR
 *   netns  OUT runs in network namespace NS_OUT, IN in NS_IN, over
 *          tcp://ADDR:5555 (ADDR is IN's address on the veth pair that
 *          netns.sh made); nothing else is contacted
 *
 * Messages: [u64 seq][u32 len][u32 check][payload], payload byte i =
 * (seq * 31 + i) & 0xff, check = FNV-1a of seq, len and the payload. The
 * consumer checks the stamp, the length and the payload of every message,
 * that sequence numbers only grow, and counts the holes.
 *
 * Everything this test creates (rings shmring-test-bridge-<pid>-*, IN's
 * state object, the ipc socket, processes) is removed at exit, however it
 * ends. Exit 0 on success, 1 on failure, 77 when it cannot run here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"

#include <zmq.h>

#include "../src/wire.h"

/* ---- what the processes share ---- */

struct shared {
	_Atomic uint64_t produced;
	_Atomic uint64_t prod_waits; /* sends that found the near ring full */
	_Atomic int prod_blocked;    /* the producer is waiting for room now */
	_Atomic int prod_done;
	_Atomic uint64_t prod_epipe; /* sends refused while OUT was down */
	_Atomic uint64_t received;
	_Atomic uint64_t expect; /* the consumer's next expected seq */
	_Atomic uint64_t missing;
	_Atomic uint64_t gaps;
	_Atomic uint64_t stall_at; /* the consumer stalls when it has this many */
	_Atomic int stall;         /* parent -> consumer: do not read */
	_Atomic int stalled;       /* consumer -> parent: not reading */
	_Atomic int no_more;       /* parent -> consumer: the bridges are gone, -EPIPE is final */
	_Atomic int eof;           /* the consumer saw end of file */
	_Atomic int failed;
	char err[512];
};

static struct shared *sh;

/* ---- names, children, cleanup ---- */

static char near_name[128], far_name[128], state_name[160], out_state_name[160], ipc_path[256],
	logdir[256];
static const char *shmring_cmd, *transport, *ns_out, *ns_in, *addr;
static pid_t kids[16];
static int nkids;
static bool failed;

static void cleanup(void)
{
	for (int i = 0; i < nkids; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	for (int i = 0; i < nkids; i++)
		if (kids[i] > 0)
			waitpid(kids[i], NULL, 0);
	nkids = 0;
	if (near_name[0])
		shmring_unlink(near_name);
	if (far_name[0])
		shmring_unlink(far_name);
	if (state_name[0])
		shm_unlink(state_name);
	if (out_state_name[0])
		shm_unlink(out_state_name);
	if (ipc_path[0])
		unlink(ipc_path);
}

static void on_fatal(int sig)
{
	static const char msg[] = "bridge_test: time limit reached or interrupted: FAIL\n";
	if (sig == SIGALRM) {
		ssize_t w = write(2, msg, sizeof(msg) - 1);
		(void)w;
	}
	cleanup();
	_exit(1);
}

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s: ", ok ? "ok  " : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	if (!ok)
		failed = true;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("      ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void child_fail(const char *fmt, ...)
{
	int zero = 0;
	if (atomic_compare_exchange_strong(&sh->failed, &zero, 1)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(sh->err, sizeof(sh->err), fmt, ap);
		va_end(ap);
	}
	_exit(1);
}

static void add_kid(pid_t p)
{
	kids[nkids++] = p;
}

static void forget_kid(pid_t p)
{
	for (int i = 0; i < nkids; i++)
		if (kids[i] == p)
			kids[i] = -1;
}

/* Wait for a child for at most `secs`, or 2 s once a child has failed (the
 * stream will not finish then). Its wait status, or -1 on timeout. */
static int wait_kid(pid_t p, double secs)
{
	double end = now_s() + secs;
	int st;
	for (;;) {
		pid_t w = waitpid(p, &st, WNOHANG);
		if (w == p) {
			forget_kid(p);
			return st;
		}
		if (atomic_load(&sh->failed) && end > now_s() + 2)
			end = now_s() + 2;
		if (now_s() > end)
			return -1;
		sleep_ms(10);
	}
}

static const char *status_str(int st)
{
	static char buf[64];
	if (st < 0)
		return "still running";
	if (WIFEXITED(st))
		snprintf(buf, sizeof(buf), "exit %d", WEXITSTATUS(st));
	else
		snprintf(buf, sizeof(buf), "signal %d", WTERMSIG(st));
	return buf;
}

/* ---- message stamps ---- */

static uint32_t fnv(uint64_t seq, uint32_t len, const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 8; i++)
		h = (h ^ (uint8_t)(seq >> (8 * i))) * 16777619u;
	for (int i = 0; i < 4; i++)
		h = (h ^ (uint8_t)(len >> (8 * i))) * 16777619u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static size_t msg_len(uint64_t seq, size_t minlen, size_t maxlen)
{
	return minlen == maxlen ? minlen : minlen + (size_t)(seq * 37 % (maxlen - minlen + 1));
}

static void stamp(uint8_t *m, uint64_t seq, size_t len)
{
	uint32_t l = (uint32_t)len;
	for (size_t i = 16; i < len; i++)
		m[i] = (uint8_t)(seq * 31 + (i - 16));
	uint32_t c = fnv(seq, l, m + 16, len - 16);
	memcpy(m, &seq, 8);
	memcpy(m + 8, &l, 4);
	memcpy(m + 12, &c, 4);
}

/* 0 and *seq, or a reason. */
static const char *unstamp(const uint8_t *m, size_t len, uint64_t *seq)
{
	uint32_t l, c;
	if (len < 16)
		return "shorter than its stamp";
	memcpy(seq, m, 8);
	memcpy(&l, m + 8, 4);
	memcpy(&c, m + 12, 4);
	if (l != len)
		return "length differs from its stamp";
	if (fnv(*seq, l, m + 16, len - 16) != c)
		return "payload does not match its checksum";
	for (size_t i = 16; i < len; i++)
		if (m[i] != (uint8_t)(*seq * 31 + (i - 16)))
			return "payload corrupt";
	return NULL;
}

/* ---- producer and consumer processes ---- */

static pid_t start_producer(uint64_t n, size_t minlen, size_t maxlen)
{
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		exit(1);
	}
	if (p) {
		add_kid(p);
		return p;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	shmring *r;
	int rc = shmring_open(near_name, SHMRING_PRODUCER, &r);
	if (rc < 0)
		child_fail("producer: open %s: %s", near_name, strerror(-rc));
	enum { B = 32 };
	static uint8_t buf[B][4096];
	struct iovec v[B];
	for (uint64_t seq = 0; seq < n;) {
		int k = 0;
		for (; k < B && seq + (uint64_t)k < n; k++) {
			size_t len = msg_len(seq + (uint64_t)k, minlen, maxlen);
			stamp(buf[k], seq + (uint64_t)k, len);
			v[k].iov_base = buf[k];
			v[k].iov_len = len;
		}
		rc = shmring_sendv(r, v, k, 0);
		if (rc == -EAGAIN) {
			atomic_fetch_add(&sh->prod_waits, 1);
			atomic_store(&sh->prod_blocked, 1);
			rc = shmring_sendv(r, v, k, -1);
			atomic_store(&sh->prod_blocked, 0);
		}
		if (rc == -EPIPE) {
			/* The near ring's consumer (OUT) is gone: it is being
			 * restarted. A producer that rides that out retries. */
			atomic_fetch_add(&sh->prod_epipe, 1);
			sleep_ms(2);
			continue;
		}
		if (rc < 0)
			child_fail("producer: sendv at %" PRIu64 ": %s", seq, strerror(-rc));
		seq += (uint64_t)rc;
		atomic_store(&sh->produced, seq);
	}
	shmring_close(r); /* the end of the stream */
	atomic_store(&sh->prod_done, 1);
	_exit(0);
}

static pid_t start_consumer(uint64_t n)
{
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		exit(1);
	}
	if (p) {
		add_kid(p);
		return p;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	shmring *r;
	int rc = shmring_open(far_name, SHMRING_CONSUMER, &r);
	if (rc < 0)
		child_fail("consumer: open %s: %s", far_name, strerror(-rc));
	enum { B = 64 };
	static uint8_t buf[B][4096];
	struct iovec v[B];
	uint64_t expect = 0, received = 0;
	for (;;) {
		if (atomic_load(&sh->stall) || (received >= atomic_load(&sh->stall_at) &&
						atomic_exchange(&sh->stall, 1) == 0)) {
			atomic_store(&sh->stalled, 1);
			while (atomic_load(&sh->stall))
				sleep_ms(1);
			atomic_store(&sh->stalled, 0);
			atomic_store(&sh->stall_at, UINT64_MAX);
		}
		for (int i = 0; i < B; i++) {
			v[i].iov_base = buf[i];
			v[i].iov_len = sizeof(buf[i]);
		}
		int k = shmring_recvv(r, v, B, 100 * 1000 * 1000);
		if (k == -ETIMEDOUT || k == -EAGAIN || k == -EINTR)
			continue;
		if (k == -EPIPE) {
			/* End of file: final once the last message came, or
			 * once the bridges are gone; before that it is IN
			 * restarting (its producer role went with it). */
			if (expect >= n || atomic_load(&sh->no_more))
				break;
			sleep_ms(5);
			continue;
		}
		if (k < 0)
			child_fail("consumer: recvv after %" PRIu64 " messages: %s", received,
				   strerror(-k));
		for (int i = 0; i < k; i++) {
			uint64_t seq;
			const char *why = unstamp(buf[i], v[i].iov_len, &seq);
			if (why)
				child_fail("consumer: message %" PRIu64 " (after sequence %" PRIu64
					   "): %s",
					   received, expect, why);
			if (seq < expect)
				child_fail("consumer: sequence %" PRIu64 " after %" PRIu64
					   ": repeated or out of order",
					   seq, expect - 1);
			if (seq >= n)
				child_fail("consumer: sequence %" PRIu64 " was never sent", seq);
			if (seq > expect) {
				atomic_fetch_add(&sh->missing, seq - expect);
				atomic_fetch_add(&sh->gaps, 1);
			}
			expect = seq + 1;
			received++;
		}
		atomic_store(&sh->received, received);
		atomic_store(&sh->expect, expect);
	}
	atomic_store(&sh->eof, 1);
	shmring_close(r);
	_exit(0);
}

/* ---- the bridges ---- */

struct side {
	pid_t pid;
	char log[300];
};

static char in_ep[300], out_ep[300]; /* IN binds in_ep; OUT connects to out_ep */

/* Start `shmring bridge VERB A B EXTRA...`, in namespace ns when set. With
 * want_ep, read the endpoint it prints into out_ep. */
static void start_bridge(struct side *s, const char *verb, const char *a, const char *b,
			 const char *ns, bool want_ep, const char *const *extra)
{
	static int nlog;
	const char *argv[40];
	int n = 0, pfd[2] = { -1, -1 };
	if (ns) {
		argv[n++] = "ip";
		argv[n++] = "netns";
		argv[n++] = "exec";
		argv[n++] = ns;
	}
	argv[n++] = shmring_cmd;
	argv[n++] = "bridge";
	argv[n++] = verb;
	argv[n++] = a;
	argv[n++] = b;
	if (want_ep)
		argv[n++] = "--print-endpoint";
	for (int i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	snprintf(s->log, sizeof(s->log), "%s/%s-%d.log", logdir, verb, nlog++);
	if (want_ep && pipe2(pfd, O_CLOEXEC) < 0) {
		perror("pipe");
		exit(1);
	}
	fflush(NULL);
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		exit(1);
	}
	if (!p) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		if (want_ep)
			dup2(pfd[1], 1);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	add_kid(p);
	s->pid = p;
	if (!want_ep)
		return;
	close(pfd[1]);
	char line[256];
	size_t got = 0;
	double end = now_s() + 20;
	while (got < sizeof(line) - 1 && now_s() < end) {
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t k = read(pfd[0], line + got, 1);
		if (k <= 0)
			break;
		if (line[got] == '\n')
			break;
		got += (size_t)k;
	}
	line[got] = 0;
	close(pfd[0]);
	if (!got) {
		fprintf(stderr, "bridge_test: %s did not print its endpoint\n", verb);
		return;
	}
	snprintf(out_ep, sizeof(out_ep), "%s", line);
}

static void dump_log(const struct side *s, const char *title, bool all, const char *grep)
{
	FILE *f = fopen(s->log, "r");
	if (!f)
		return;
	char line[1024];
	bool head = false;
	while (fgets(line, sizeof(line), f)) {
		if (!all && (!grep || !strstr(line, grep)))
			continue;
		if (!head)
			printf("      --- %s (%s) ---\n", title, s->log);
		head = true;
		printf("      %s", line);
	}
	fclose(f);
}

static bool log_has(const struct side *s, const char *what)
{
	FILE *f = fopen(s->log, "r");
	if (!f)
		return false;
	char line[1024];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

/* ---- rings ---- */

static void make_ring(const char *name, size_t cap, size_t max_msg)
{
	struct shmring_config cfg = { .mode = SHMRING_SPSC, .capacity = cap, .max_msg = max_msg };
	shmring *r;
	int rc = shmring_create(name, &cfg, SHMRING_OBSERVER, &r);
	if (rc < 0) {
		fprintf(stderr, "bridge_test: create %s: %s\n", name, strerror(-rc));
		cleanup();
		exit(1);
	}
	shmring_close(r);
}

static bool ring_stat(const char *name, struct shmring_stat *st)
{
	shmring *r;
	if (shmring_open(name, SHMRING_OBSERVER, &r) < 0)
		return false;
	int rc = shmring_stat(r, st);
	shmring_close(r);
	return rc == 0;
}

static void fresh_rings(size_t near_cap, size_t far_cap, size_t max_msg)
{
	shmring_unlink(near_name);
	shmring_unlink(far_name);
	shm_unlink(state_name);
	shm_unlink(out_state_name);
	make_ring(near_name, near_cap, max_msg);
	make_ring(far_name, far_cap, max_msg);
	memset(sh, 0, sizeof(*sh));
	atomic_store(&sh->stall_at, UINT64_MAX);
}

/* IN, then OUT, on this test's transport. */
static void start_pair(struct side *in, struct side *out, const char *const *extra)
{
	const char *const none[] = { NULL };
	if (!extra)
		extra = none;
	bool tcp = !strcmp(transport, "tcp");
	start_bridge(in, "in", in_ep, far_name, ns_in, tcp, extra);
	if (tcp) {
		if (!out_ep[0]) {
			check(false, "IN printed the endpoint it bound");
			dump_log(in, "in", true, NULL);
			cleanup();
			exit(1);
		}
		snprintf(in_ep, sizeof(in_ep), "%s", out_ep); /* a restart rebinds that port */
	}
	start_bridge(out, "out", near_name, out_ep, ns_out, false, extra);
}

static bool wait_flag(_Atomic int *f, double secs)
{
	double end = now_s() + secs;
	while (!atomic_load(f)) {
		if (now_s() > end || atomic_load(&sh->failed))
			return false;
		sleep_ms(2);
	}
	return true;
}

/* Wait for the producer, the consumer and both bridges to finish. */
static void finish(pid_t prod, pid_t cons, struct side *in, struct side *out, double secs,
		   int *in_st, int *out_st)
{
	double end = now_s() + secs;
	int st = wait_kid(prod, end - now_s());
	check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer finished (%s)",
	      status_str(st));
	*out_st = wait_kid(out->pid, end - now_s());
	*in_st = wait_kid(in->pid, end - now_s());
	atomic_store(&sh->no_more, 1);
	st = wait_kid(cons, 10);
	check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "consumer finished (%s)",
	      status_str(st));
	if (atomic_load(&sh->failed))
		check(false, "%s", sh->err);
}

static bool exited0(int st)
{
	return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool gone(const char *name)
{
	int fd = shm_open(name, O_RDONLY, 0);
	if (fd >= 0)
		close(fd);
	return fd < 0 && errno == ENOENT;
}

/* Both sides removed their state objects (at end of stream). */
static bool state_gone(void)
{
	return gone(state_name) && gone(out_state_name);
}

/* ---- scenarios ---- */

static void scenario_million(void)
{
	uint64_t n = getenv("SHMRING_LONG") && atoi(getenv("SHMRING_LONG")) ? 10000000 : 1000000;
	struct side in, out;
	int in_st, out_st;
	fresh_rings(1 << 20, 1 << 20, 4096);
	start_pair(&in, &out, NULL);
	pid_t cons = start_consumer(n);
	double t0 = now_s();
	pid_t prod = start_producer(n, 16, 128);
	finish(prod, cons, &in, &out, 150, &in_st, &out_st);
	double dt = now_s() - t0;
	uint64_t got = atomic_load(&sh->received);
	check(got == n,
	      "received %" PRIu64 " of %" PRIu64 " messages, in order (%.2f s, %.0f msg/s)", got, n,
	      dt, (double)got / dt);
	check(atomic_load(&sh->missing) == 0, "no sequence number missing (%" PRIu64 ")",
	      atomic_load(&sh->missing));
	check(atomic_load(&sh->eof), "the consumer saw end of file after the last message");
	check(exited0(out_st), "bridge out exited 0 at end of stream (%s)", status_str(out_st));
	check(exited0(in_st), "bridge in exited 0 at end of stream (%s)", status_str(in_st));
	struct shmring_stat st = { 0 };
	bool okstat = ring_stat(far_name, &st);
	check(okstat && st.dropped == 0 && st.sent == n,
	      "far ring: %" PRIu64 " sent, dropped %" PRIu64, st.sent, st.dropped);
	check(state_gone(), "both bridges removed their state objects at end of stream");
	if (failed) {
		dump_log(&out, "out", true, NULL);
		dump_log(&in, "in", true, NULL);
	}
}

static void scenario_eos(void)
{
	for (int round = 0; round < 2; round++) {
		uint64_t n = round ? 10 : 0;
		struct side in, out;
		int in_st, out_st;
		fresh_rings(1 << 16, 1 << 16, 1024);
		start_pair(&in, &out, NULL);
		pid_t cons = start_consumer(n);
		sleep_ms(300); /* both bridges up, OUT connected or connecting */
		pid_t prod = start_producer(n, 16, 100);
		double t0 = now_s();
		bool eof = wait_flag(&sh->eof, 20);
		double dt = now_s() - t0;
		check(eof,
		      "%" PRIu64 " messages: the far consumer saw end of file %.3f s after "
		      "the near producer closed",
		      n, dt);
		finish(prod, cons, &in, &out, 20, &in_st, &out_st);
		check(atomic_load(&sh->received) == n && atomic_load(&sh->missing) == 0,
		      "%" PRIu64 " messages: all %" PRIu64 " arrived before end of file", n,
		      atomic_load(&sh->received));
		check(exited0(out_st), "bridge out exited 0 (%s)", status_str(out_st));
		check(exited0(in_st), "bridge in exited 0 (%s)", status_str(in_st));
		check(log_has(&out, "end of stream") && log_has(&in, "end of stream"),
		      "both bridges logged the end of stream");
		check(state_gone(), "both bridges removed their state objects");
		if (failed) {
			dump_log(&out, "out", true, NULL);
			dump_log(&in, "in", true, NULL);
			return;
		}
	}
}

static void scenario_backpressure(void)
{
	const uint64_t n = 6000;
	const size_t len = 1024, ringcap = 64 << 10;
	const char *const extra[] = { "--hwm", "16", "--sockbuf", "32K", NULL };
	struct side in, out;
	int in_st, out_st;
	fresh_rings(ringcap, ringcap, 2048);
	atomic_store(&sh->stall, 1); /* the far consumer does not read */
	start_pair(&in, &out, extra);
	pid_t cons = start_consumer(n);
	pid_t prod = start_producer(n, len, len);

	/* Blocked for good: the producer waits, and makes no progress for a
	 * whole second (it may block and resume while the pipeline fills). */
	uint64_t p1 = 0, p2 = 1;
	bool held = false;
	double end = now_s() + 40;
	while (!held && now_s() < end && !atomic_load(&sh->failed)) {
		if (!wait_flag(&sh->prod_blocked, end - now_s()))
			break;
		p1 = atomic_load(&sh->produced);
		sleep_ms(1000);
		p2 = atomic_load(&sh->produced);
		held = atomic_load(&sh->prod_blocked) && p2 == p1;
	}
	struct shmring_stat nst = { 0 }, fst = { 0 };
	ring_stat(near_name, &nst);
	ring_stat(far_name, &fst);
	check(held,
	      "the near producer is blocked on a full ring and made no progress for 1 s "
	      "(%" PRIu64 " then %" PRIu64 " messages sent)",
	      p1, p2);
	check(fst.used + 2 * (len + 64) > fst.capacity,
	      "the far ring is full (%zu of %zu bytes used)", fst.used, fst.capacity);
	check(nst.used + 2 * (len + 64) > nst.capacity,
	      "the near ring is full (%zu of %zu bytes used)", nst.used, nst.capacity);
	note("in flight between the rings: %" PRIu64 " messages (ZeroMQ queues, socket "
	     "buffers)",
	     nst.received - fst.sent);

	atomic_store(&sh->stall, 0);
	finish(prod, cons, &in, &out, 60, &in_st, &out_st);
	uint64_t got = atomic_load(&sh->received);
	check(got == n && atomic_load(&sh->missing) == 0,
	      "after the consumer resumed, all %" PRIu64 " of %" PRIu64 " arrived in order", got,
	      n);
	check(atomic_load(&sh->prod_waits) > 0, "the producer waited %" PRIu64 " times in all",
	      atomic_load(&sh->prod_waits));
	bool okstat = ring_stat(far_name, &fst);
	check(okstat && fst.dropped == 0, "far ring: dropped %" PRIu64, fst.dropped);
	check(exited0(out_st) && exited0(in_st), "both bridges exited 0 (out %s, in %s)",
	      status_str(out_st), status_str(in_st));
	if (failed) {
		dump_log(&out, "out", true, NULL);
		dump_log(&in, "in", true, NULL);
	}
}

static void scenario_restart_in(void)
{
	const uint64_t n = 300000;
	struct side in, out, in2;
	int in_st, out_st, st;
	fresh_rings(1 << 20, 1 << 16, 4096);
	atomic_store(&sh->stall_at, n / 4);
	start_pair(&in, &out, NULL);
	pid_t cons = start_consumer(n);
	pid_t prod = start_producer(n, 16, 128);

	bool stalled = wait_flag(&sh->stalled, 60);
	check(stalled, "the far consumer stalled after %" PRIu64 " messages",
	      atomic_load(&sh->received));
	sleep_ms(700); /* far ring full, IN blocked in it, ZeroMQ's queues filling */
	struct shmring_stat fst = { 0 };
	ring_stat(far_name, &fst);
	note("before the kill: the producer has sent %" PRIu64 ", the far ring holds %" PRIu64,
	     atomic_load(&sh->produced), fst.sent - atomic_load(&sh->received));
	kill(in.pid, SIGKILL);
	st = wait_kid(in.pid, 10);
	check(st >= 0 && WIFSIGNALED(st), "bridge in killed mid-stream (%s)", status_str(st));
	atomic_store(&sh->stall, 0); /* the consumer drains the far ring, then waits */
	sleep_ms(300);
	start_bridge(&in2, "in", in_ep, far_name, ns_in, false, NULL);

	finish(prod, cons, &in2, &out, 120, &in_st, &out_st);
	uint64_t got = atomic_load(&sh->received), miss = atomic_load(&sh->missing);
	check(atomic_load(&sh->expect) == n,
	      "the stream resumed: the last message (%" PRIu64 ") arrived", n - 1);
	check(got + miss == n, "received %" PRIu64 " + missing %" PRIu64 " = %" PRIu64, got, miss,
	      n);
	check(miss > 0, "the restart lost %" PRIu64 " messages in flight, in %" PRIu64 " gap(s)",
	      miss, atomic_load(&sh->gaps));
	bool okstat = ring_stat(far_name, &fst);
	check(okstat && fst.dropped == miss,
	      "far ring counts exactly them: dropped %" PRIu64 ", missing %" PRIu64, fst.dropped,
	      miss);
	check(log_has(&in2, "gap in session"), "the restarted IN logged the gap");
	check(exited0(out_st), "bridge out exited 0 at end of stream (%s)", status_str(out_st));
	check(exited0(in_st), "the restarted bridge in exited 0 at end of stream (%s)",
	      status_str(in_st));
	check(state_gone(), "both bridges removed their state objects at end of stream");
	dump_log(&in2, "restarted in", false, "session");
	if (failed) {
		dump_log(&out, "out", true, NULL);
		dump_log(&in, "in (killed)", true, NULL);
		dump_log(&in2, "in (restarted)", true, NULL);
	}
}

static void scenario_restart_out(void)
{
	const uint64_t n = 300000;
	struct side in, out, out2;
	int in_st, out_st, st;
	fresh_rings(1 << 20, 1 << 16, 4096);
	atomic_store(&sh->stall_at, n / 4);
	start_pair(&in, &out, NULL);
	pid_t cons = start_consumer(n);
	pid_t prod = start_producer(n, 16, 128);

	bool stalled = wait_flag(&sh->stalled, 60);
	check(stalled, "the far consumer stalled after %" PRIu64 " messages",
	      atomic_load(&sh->received));
	sleep_ms(700); /* the pipeline fills up to OUT, which blocks in ZeroMQ */
	struct shmring_stat nst = { 0 };
	ring_stat(near_name, &nst);
	note("before the kill: OUT has taken %" PRIu64 " messages from the near ring, the "
	     "consumer has %" PRIu64,
	     nst.received, atomic_load(&sh->received));
	kill(out.pid, SIGKILL);
	st = wait_kid(out.pid, 10);
	check(st >= 0 && WIFSIGNALED(st), "bridge out killed mid-stream (%s)", status_str(st));
	atomic_store(&sh->stall, 0);
	sleep_ms(300);
	start_bridge(&out2, "out", near_name, out_ep, ns_out, false, NULL);

	finish(prod, cons, &in, &out2, 120, &in_st, &out_st);
	uint64_t got = atomic_load(&sh->received), miss = atomic_load(&sh->missing);
	check(atomic_load(&sh->expect) == n,
	      "the stream resumed: the last message (%" PRIu64 ") arrived", n - 1);
	check(got + miss == n, "received %" PRIu64 " + missing %" PRIu64 " = %" PRIu64, got, miss,
	      n);
	check(miss > 0, "the restart lost %" PRIu64 " messages OUT held, in %" PRIu64 " gap(s)",
	      miss, atomic_load(&sh->gaps));
	struct shmring_stat fst = { 0 };
	bool okstat = ring_stat(far_name, &fst);
	check(okstat && fst.dropped == miss,
	      "far ring counts exactly them: dropped %" PRIu64 ", missing %" PRIu64, fst.dropped,
	      miss);
	check(log_has(&out2, "resuming session"), "the restarted OUT resumed its session");
	check(log_has(&in, "gap in session") && !log_has(&in, "replaces"),
	      "IN logged the gap in the same session");
	note("the near producer was refused %" PRIu64 " times (-EPIPE) while OUT was down",
	     atomic_load(&sh->prod_epipe));
	check(exited0(out_st), "the restarted bridge out exited 0 at end of stream (%s)",
	      status_str(out_st));
	check(exited0(in_st), "bridge in exited 0 at end of stream (%s)", status_str(in_st));
	check(state_gone(), "both bridges removed their state objects at end of stream");
	dump_log(&in, "in", false, "session");
	dump_log(&out2, "restarted out", false, "session");
	if (failed) {
		dump_log(&out, "out (killed)", true, NULL);
		dump_log(&out2, "out (restarted)", true, NULL);
		dump_log(&in, "in", true, NULL);
	}
}

/* ---- edges: what a review found, each in a few steps ---- */

/* Run `shmring bridge ARGS...` to its end (at most secs); its exit status. */
static int run_bridge(struct side *s, const char *verb, const char *a, const char *b,
		      const char *const *extra, double secs)
{
	start_bridge(s, verb, a, b, NULL, false, extra);
	return wait_kid(s->pid, secs);
}

/* Produce msgs[i] of len[i] bytes into the near ring, then close. */
static void produce(const char *name, int n, const void *const *msgs, const size_t *len)
{
	shmring *p;
	int rc = shmring_open(name, SHMRING_PRODUCER, &p);
	check(rc == 0, "open %s as producer (%s)", name, strerror(-rc));
	for (int i = 0; rc == 0 && i < n; i++) {
		int e = shmring_send(p, msgs[i], len[i], 10LL * 1000 * 1000 * 1000);
		check(e == 0, "send message %d (%zu bytes): %s", i, len[i], strerror(-e));
	}
	if (rc == 0)
		shmring_close(p);
}

/* Drain the far ring: the number of messages before end of stream (-EPIPE),
 * -1 when it did not end within secs. */
static long drain(const char *name, double secs)
{
	shmring *c;
	if (shmring_open(name, SHMRING_CONSUMER, &c) < 0)
		return -1;
	static char buf[1 << 16];
	long n = 0;
	double end = now_s() + secs;
	for (;;) {
		ssize_t k = shmring_recv(c, buf, sizeof(buf), 100 * 1000 * 1000);
		if (k >= 0) {
			n++;
			continue;
		}
		if (k == -EPIPE)
			break;
		if (now_s() > end) {
			n = -1;
			break;
		}
	}
	shmring_close(c);
	return n;
}

/* A foreign sender: one ZeroMQ message with the bridge's header per entry. */
struct frame {
	unsigned type;
	uint32_t session;
	uint64_t seq;
};

static void push_frames(const char *ep, const struct frame *f, int n)
{
	void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_PUSH);
	int linger = 5000;
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	check(zmq_connect(sock, ep) == 0, "connect a ZeroMQ sender to %s", ep);
	for (int i = 0; i < n; i++) {
		uint8_t m[WIRE_HDR + 8] = { 0 };
		wire_put(m, f[i].type, f[i].session, f[i].seq);
		zmq_send(sock, m, f[i].type == WIRE_DATA ? sizeof(m) : WIRE_HDR, 0);
	}
	zmq_close(sock); /* linger: delivered before it returns */
	zmq_ctx_term(ctx);
}

static void scenario_edges(void)
{
	const char *const nostate[] = { "--no-state", NULL };
	struct side in, out, in2;
	int st;

	/* 1. --state naming an object that is not a bridge's state (a ring
	 *    holding messages): refused, and the object left as it is. */
	fresh_rings(1 << 16, 1 << 16, 1024);
	const void *two[] = { "important 1", "important 2" };
	const size_t twolen[] = { 11, 11 };
	produce(near_name, 2, two, twolen);
	const char *const squat[] = { "--state", near_name, NULL };
	st = run_bridge(&in, "in", in_ep, far_name, squat, 20);
	check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0,
	      "bridge in --state <a ring> refuses to start (%s)", status_str(st));
	struct shmring_stat nst = { 0 };
	bool okstat = ring_stat(near_name, &nst);
	check(okstat && nst.sent == 2 && nst.received == 0,
	      "the ring named by --state is untouched: %" PRIu64 " messages in it", nst.sent);
	check(gone(state_name), "and no state object of its own was left");
	if (st < 0) { /* still running: end it, so that the next step starts clean */
		kill(in.pid, SIGKILL);
		wait_kid(in.pid, 10);
	}
	fresh_rings(1 << 16, 1 << 16, 1024);

	/* 2. A bridge that fails to start removes the state it made. */
	st = run_bridge(&in, "in", "foo://bar", far_name, NULL, 20);
	check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0, "bridge in foo://bar fails (%s)",
	      status_str(st));
	st = run_bridge(&out, "out", near_name, "foo://bar", NULL, 20);
	check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0, "bridge out foo://bar fails (%s)",
	      status_str(st));
	st = run_bridge(&in, "in", "tcp://127.0.0.1:99999", far_name, NULL, 20);
	check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0,
	      "bridge in tcp://127.0.0.1:99999 is refused (%s)", status_str(st));
	const char *const toobig[] = { "--batch", "65537", NULL };
	st = run_bridge(&in, "in", in_ep, far_name, toobig, 20);
	check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0,
	      "bridge in --batch 65537 is refused (%s)", status_str(st));
	check(state_gone(), "none left a state object behind");

	/* 3. A message larger than a ZeroMQ message the in side takes (16 MiB
	 *    with the header): counted as dropped on the far ring, and the
	 *    messages around it and the end of stream still cross. */
	fresh_rings(64u << 20, 1 << 16, 1024);
	shmring_unlink(near_name);
	make_ring(near_name, 64u << 20, 32u << 20);
	size_t big = (20u << 20);
	char *huge = calloc(1, big);
	const void *three[] = { "before", huge, "after" };
	const size_t threelen[] = { 6, big, 5 };
	start_pair(&in, &out, NULL);
	produce(near_name, 3, three, threelen);
	free(huge);
	long got = drain(far_name, 30);
	int out_st = wait_kid(out.pid, 20), in_st = wait_kid(in.pid, 20);
	struct shmring_stat fst = { 0 };
	ring_stat(far_name, &fst);
	check(got == 2 && fst.dropped == 1,
	      "a 20 MiB message: the 2 around it cross, it is counted as dropped (%ld "
	      "received, dropped %" PRIu64 "), and end of stream follows",
	      got, fst.dropped);
	check(exited0(out_st) && exited0(in_st), "both bridges exit 0 (%s, %s)", status_str(out_st),
	      status_str(in_st));
	check(log_has(&in, "larger than a bridge carries"), "in logged it");
	if (failed) {
		dump_log(&out, "out", true, NULL);
		dump_log(&in, "in", true, NULL);
	}

	/* 4. A fresh in side (no state) whose first news of a session is its
	 *    end marker joins it there: its predecessor delivered every
	 *    message, and none is counted as lost. */
	fresh_rings(1 << 16, 1 << 16, 1024);
	start_pair(&in, &out, nostate);
	shmring *p;
	check(shmring_open(near_name, SHMRING_PRODUCER, &p) == 0, "open the near ring");
	for (int i = 0; i < 100; i++)
		shmring_send(p, &i, sizeof(i), 10LL * 1000 * 1000 * 1000);
	for (int i = 0; i < 2000 && (!ring_stat(far_name, &fst) || fst.sent < 100); i++)
		sleep_ms(5);
	check(fst.sent == 100, "the first in side put all 100 messages into the far ring");
	kill(in.pid, SIGTERM);
	wait_kid(in.pid, 10);
	sleep_ms(300);    /* out has seen the connection go */
	shmring_close(p); /* end of stream: out sends its marker, and waits */
	start_bridge(&in2, "in", in_ep, far_name, NULL, false, nostate);
	got = drain(far_name, 30);
	out_st = wait_kid(out.pid, 20);
	in_st = wait_kid(in2.pid, 20);
	ring_stat(far_name, &fst);
	check(got == 100 && fst.dropped == 0,
	      "the restarted in side ends the stream and counts nothing: %ld received, "
	      "dropped %" PRIu64,
	      got, fst.dropped);
	check(exited0(out_st) && exited0(in_st), "both bridges exit 0 (%s, %s)", status_str(out_st),
	      status_str(in_st));
	if (failed) {
		dump_log(&out, "out", true, NULL);
		dump_log(&in2, "in (restarted)", true, NULL);
	}

	/* 5. A straggler of a session replaced long ago (forgotten from the in
	 *    side's table of 8) is late: dropped and counted, and it does not
	 *    take over from the live session, whose messages and end go on. */
	if (strcmp(transport, "ipc"))
		return; /* a foreign sender needs the endpoint up front */
	fresh_rings(1 << 16, 1 << 16, 1024);
	start_bridge(&in, "in", in_ep, far_name, NULL, false, nostate);
	struct frame f[14];
	int nf = 0;
	for (uint32_t id = 1; id <= 9; id++)
		f[nf++] = (struct frame){ WIRE_DATA, id, 0 };
	f[nf++] = (struct frame){ WIRE_DATA, 1, 1 }; /* the straggler */
	for (uint64_t q = 1; q <= 3; q++)
		f[nf++] = (struct frame){ WIRE_DATA, 9, q };
	f[nf++] = (struct frame){ WIRE_END, 9, 4 };
	push_frames(out_ep, f, nf);
	got = drain(far_name, 30);
	in_st = wait_kid(in.pid, 20);
	ring_stat(far_name, &fst);
	check(got == 12 && fst.dropped == 1,
	      "9 sessions' first messages and session 9's next 3 cross, the straggler of "
	      "session 1 is dropped and counted (%ld received, dropped %" PRIu64 ")",
	      got, fst.dropped);
	check(exited0(in_st), "session 9's end ends the stream: in exits 0 (%s)",
	      status_str(in_st));
	if (failed)
		dump_log(&in, "in", true, NULL);
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 7) {
		fprintf(stderr,
			"usage: %s million|backpressure|restart_in|restart_out|eos|edges tcp|ipc SHMRING\n"
			"       %s SCENARIO netns SHMRING NS_OUT NS_IN IN_ADDR\n",
			argv[0], argv[0]);
		return 2;
	}
	const char *scenario = argv[1];
	transport = argv[2];
	shmring_cmd = argv[3];
	setvbuf(stdout, NULL, _IOLBF, 0);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	int pid = getpid();
	snprintf(near_name, sizeof(near_name), "shmring-test-bridge-%d-near", pid);
	snprintf(far_name, sizeof(far_name), "shmring-test-bridge-%d-far", pid);
	snprintf(state_name, sizeof(state_name), "/%s.bridge-in", far_name);
	snprintf(out_state_name, sizeof(out_state_name), "/%s.bridge-out", near_name);
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(logdir, sizeof(logdir), "%s/shmring-bridge-test-%d", tmp, pid);
	if (mkdir(logdir, 0700) < 0) {
		perror(logdir);
		return 1;
	}

	if (!strcmp(transport, "tcp")) {
		snprintf(in_ep, sizeof(in_ep), "tcp://127.0.0.1:*");
	} else if (!strcmp(transport, "ipc")) {
		snprintf(ipc_path, sizeof(ipc_path), "%s/shmring-test-bridge-%d.sock", tmp, pid);
		snprintf(in_ep, sizeof(in_ep), "ipc://%s", ipc_path);
		snprintf(out_ep, sizeof(out_ep), "ipc://%s", ipc_path);
	} else if (!strcmp(transport, "netns") && argc == 7) {
		ns_out = argv[4];
		ns_in = argv[5];
		addr = argv[6];
		snprintf(in_ep, sizeof(in_ep), "tcp://%s:5555", addr);
		snprintf(out_ep, sizeof(out_ep), "tcp://%s:5555", addr);
	} else {
		fprintf(stderr, "bridge_test: unknown transport '%s'\n", transport);
		return 2;
	}
	if (access(shmring_cmd, X_OK) < 0) {
		fprintf(stderr, "bridge_test: %s: %s\n", shmring_cmd, strerror(errno));
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_fatal);
	signal(SIGTERM, on_fatal);
	signal(SIGALRM, on_fatal);
	alarm(170);
	atexit(cleanup);

	printf("bridge_test %s over %s%s%s (rings %s, %s)\n", scenario, transport,
	       ns_out ? ": out in " : "", ns_out ? ns_out : "", near_name, far_name);
	if (ns_out)
		printf("      in in %s at %s\n", ns_in, addr);
	if (!strcmp(scenario, "million"))
		scenario_million();
	else if (!strcmp(scenario, "backpressure"))
		scenario_backpressure();
	else if (!strcmp(scenario, "restart_in"))
		scenario_restart_in();
	else if (!strcmp(scenario, "restart_out"))
		scenario_restart_out();
	else if (!strcmp(scenario, "eos"))
		scenario_eos();
	else if (!strcmp(scenario, "edges"))
		scenario_edges();
	else {
		fprintf(stderr, "bridge_test: unknown scenario '%s'\n", scenario);
		return 2;
	}
	cleanup();
	if (!failed) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", logdir);
		if (system(cmd) != 0)
			fprintf(stderr, "bridge_test: could not remove %s\n", logdir);
	} else {
		printf("      logs kept in %s\n", logdir);
	}
	printf("%s\n", failed ? "FAILED" : "PASSED");
	return failed ? 1 : 0;
}
