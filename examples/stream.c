/* SPDX-License-Identifier: MIT */
/*
 * stream.c - one-way message throughput between two processes: shmring
 * against pipe(2).
 *
 * A producer process streams fixed-size messages to a consumer process, the
 * two pinned to two CPUs, for a fixed time; then the producer closes its end
 * and the consumer runs until it sees the end of the stream (-EPIPE from the
 * ring, end of file from the pipe). The first 8 bytes of each message are its
 * sequence number, which the consumer checks, so a lost, repeated, reordered
 * or torn message stops the run with an error. The rate reported is what the
 * consumer received, divided by the time from "go" to the end of the stream;
 * the producer's own count must match it exactly.
 *
 * Transports:
 *   ring        an SPSC anonymous ring, default wait; shmring_send / recv of
 *               one message at a time, timeout -1
 *   ring-batch  the same ring, shmring_sendv / recvv of up to 32 messages
 *   pipe        pipe(2), write / read of exactly one message's bytes (the
 *               reader loops until it has the whole message): the baseline
 *
 * Each process holds only the role it uses. The consumer (the parent)
 * creates the ring as a consumer; the forked producer attaches to it as a
 * producer through the descriptor, then closes the consumer role it
 * inherited, just as it closes the read end of the pipe. That is what lets
 * the consumer see -EPIPE when the producer closes.
 *
 * Rounds, each running every transport once in an order rotated from round
 * to round, give medians that survive a noisy machine.
 *
 *   stream_throughput [--size N] [--seconds S] [--rounds R] [--cpus A,B]
 *                     [--transports ring,ring-batch,pipe] [--json] [-v]
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET, F_GETPIPE_SZ */
#include <shmring.h>

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#define PROG "stream_throughput"
#include "common.h"

enum transport { T_RING, T_BATCH, T_PIPE, T_COUNT };
static const char *const tname[T_COUNT] = { "ring", "ring-batch", "pipe" };

#define BATCH 32

static struct {
	size_t size;
	double seconds;
	unsigned rounds, timeout;
	int cpu[2]; /* consumer, producer */
	bool want[T_COUNT];
	bool json, verbose;
} opt = {
	.size = 64,
	.seconds = 2,
	.rounds = 5,
	.timeout = 60,
	.cpu = { -1, -1 },
};

/* ---- Errors and signals (die, fail: common.h) -------------------------------
 * main_pid is the consumer; the producer is its forked child.
 */

static void on_sigalrm(int sig)
{
	static const char msg[] = "stream_throughput: no progress before --timeout expired "
				  "(a lost end of stream or a hang)\n";
	ssize_t rc = write(STDERR_FILENO, msg, sizeof msg - 1);

	(void)sig;
	(void)rc;
	_exit(1);
}

/* ---- Pipes and control ----------------------------------------------------- */

static void xclose(int fd)
{
	if (close(fd) != 0)
		die("close", -errno);
}

static void write_full(int fd, const void *buf, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t k = write(fd, (const char *)buf + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("write", -errno);
		done += (size_t)k;
	}
}

/* Reads exactly n bytes: true, or false at an end of file before the first
 * byte. An end of file inside the n bytes is a torn message: an error. */
static bool read_full(int fd, void *buf, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t k = read(fd, (char *)buf + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("read", -errno);
		if (k == 0 && done == 0)
			return false;
		if (k == 0)
			fail("end of file after %zu of %zu bytes", done, n);
		done += (size_t)k;
	}
	return true;
}

static void check_seq(const void *msg, size_t len, uint64_t want)
{
	uint64_t seq;

	if (len != opt.size)
		fail("message %" PRIu64 " is %zu bytes, sent %zu", want, len, opt.size);
	memcpy(&seq, msg, sizeof seq);
	if (seq != want)
		fail("received sequence number %" PRIu64 ", expected %" PRIu64, seq, want);
}

/* ---- Producer (the child) -------------------------------------------------- */

/* The producer stops at the first clock check past its deadline; reading the
 * clock once every CHECK messages keeps it off the per-message cost. */
#define CHECK 256

static uint64_t produce(enum transport t, shmring *r, int fd, unsigned char *buf)
{
	const uint64_t end = now_ns() + (uint64_t)(opt.seconds * 1e9);
	struct iovec iov[BATCH];
	uint64_t seq = 0, next_check = CHECK;

	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf + (size_t)i * opt.size;
		iov[i].iov_len = opt.size;
	}
	for (;;) {
		if (seq >= next_check) {
			if (now_ns() >= end)
				return seq;
			next_check = seq + CHECK;
		}
		if (t == T_RING) {
			int rc;
			memcpy(buf, &seq, sizeof seq);
			while ((rc = shmring_send(r, buf, opt.size, -1)) == -EINTR)
				;
			if (rc < 0)
				die("shmring_send", rc);
			seq++;
		} else if (t == T_BATCH) {
			int rc;
			/* Messages the last call did not take go first, renumbered. */
			for (uint64_t i = 0; i < BATCH; i++) {
				uint64_t s = seq + i;
				memcpy(iov[i].iov_base, &s, sizeof s);
			}
			while ((rc = shmring_sendv(r, iov, BATCH, -1)) == -EINTR)
				;
			if (rc < 0)
				die("shmring_sendv", rc);
			if (rc == 0 || rc > BATCH)
				fail("shmring_sendv with no timeout returned %d", rc);
			seq += (uint64_t)rc;
		} else {
			memcpy(buf, &seq, sizeof seq);
			write_full(fd, buf, opt.size);
			seq++;
		}
	}
}

/* ---- Consumer (the parent) ------------------------------------------------- */

static uint64_t consume(enum transport t, shmring *r, int fd, unsigned char *buf)
{
	struct iovec iov[BATCH];
	uint64_t seq = 0, next_alarm = 0;

	for (;;) {
		if (seq >= next_alarm) { /* progress: re-arm the watchdog */
			alarm(opt.timeout);
			next_alarm = seq + 65536;
		}
		if (t == T_RING) {
			ssize_t n;
			while ((n = shmring_recv(r, buf, opt.size, -1)) == -EINTR)
				;
			if (n == -EPIPE)
				return seq;
			if (n < 0)
				die("shmring_recv", n);
			check_seq(buf, (size_t)n, seq++);
		} else if (t == T_BATCH) {
			int k;
			for (int i = 0; i < BATCH; i++) {
				iov[i].iov_base = buf + (size_t)i * opt.size;
				iov[i].iov_len = opt.size;
			}
			while ((k = shmring_recvv(r, iov, BATCH, -1)) == -EINTR)
				;
			if (k == -EPIPE)
				return seq;
			if (k < 0)
				die("shmring_recvv", k);
			if (k == 0 || k > BATCH)
				fail("shmring_recvv with no timeout returned %d", k);
			for (int i = 0; i < k; i++)
				check_seq(iov[i].iov_base, iov[i].iov_len, seq++);
		} else {
			if (!read_full(fd, buf, opt.size))
				return seq;
			check_seq(buf, opt.size, seq++);
		}
	}
}

struct result {
	uint64_t msgs;
	double secs;
	uint64_t wakeups; /* futex wakes the ring issued (rings only) */
	double late;      /* seconds from the producer's deadline to its close */
	double eos;       /* seconds from the producer's close to the end of stream */
};

/* Runs one transport once. */
static struct result measure(enum transport t, unsigned char *buf)
{
	struct shmring_config cfg = { .mode = SHMRING_SPSC };
	shmring *r = NULL;
	int data[2] = { -1, -1 }, up[2], down[2]; /* control: producer -> consumer, back */
	uint64_t sent, received, t0, t1;
	uint64_t report[2]; /* from the producer: messages sent, time of its close */
	char byte = 'g';
	int rc, status;
	pid_t pid;

	current = tname[t];
	if (opt.size > SHMRING_DEFAULT_MAX_MSG) {
		cfg.max_msg = opt.size;
		cfg.capacity = 4 * opt.size > SHMRING_DEFAULT_CAPACITY ? 4 * opt.size
								       : SHMRING_DEFAULT_CAPACITY;
	}
	if (t == T_PIPE) {
		if (pipe(data) != 0)
			die("pipe", -errno);
	} else if ((rc = shmring_create_anon(&cfg, SHMRING_CONSUMER, &r)) < 0) {
		die("shmring_create_anon", rc);
	}
	if (pipe(up) != 0 || pipe(down) != 0)
		die("pipe", -errno);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork", -errno);

	if (pid == 0) {
		shmring *p = NULL;

		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
			die("prctl", -errno);
		if (getppid() != main_pid) /* the consumer died before prctl */
			_exit(1);
		pin(opt.cpu[1]); /* no watchdog here: this process dies with the consumer */
		xclose(up[0]);
		xclose(down[1]);
		if (t == T_PIPE) {
			xclose(data[0]);
		} else {
			if ((rc = shmring_open_fd(shmring_fd(r), SHMRING_PRODUCER, &p)) < 0)
				die("shmring_open_fd", rc);
			if ((rc = shmring_close(r)) < 0) /* the inherited consumer role */
				die("shmring_close", rc);
		}
		write_full(up[1], &byte, 1); /* ready */
		if (!read_full(down[0], &byte, 1))
			_exit(1); /* the consumer gave up */
		report[0] = produce(t, p, data[1], buf);
		report[1] = now_ns();
		if (t == T_PIPE)
			xclose(data[1]);
		else if ((rc = shmring_close(p)) < 0)
			die("shmring_close", rc);
		write_full(up[1], report, sizeof report);
		_exit(0);
	}

	alarm(opt.timeout);
	xclose(up[1]);
	xclose(down[0]);
	if (t == T_PIPE)
		xclose(data[1]);
	if (!read_full(up[0], &byte, 1))
		fail("the producer failed before it started");
	t0 = now_ns();
	write_full(down[1], &byte, 1); /* go */
	received = consume(t, r, data[0], buf);
	t1 = now_ns();
	alarm(0);

	struct shmring_stat st = { 0 };
	if (t == T_PIPE)
		xclose(data[0]);
	else if ((rc = shmring_stat(r, &st)) < 0)
		die("shmring_stat", rc);
	else if ((rc = shmring_close(r)) < 0)
		die("shmring_close", rc);
	if (!read_full(up[0], report, sizeof report))
		fail("the producer failed (the stream ended after %" PRIu64 " messages)", received);
	sent = report[0];
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid", -errno);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the producer failed (status 0x%x)", (unsigned)status);
	xclose(up[0]);
	xclose(down[1]);
	if (sent != received)
		fail("the producer sent %" PRIu64 " messages, the consumer received %" PRIu64, sent,
		     received);
	current = "setup";
	return (struct result){
		.msgs = received,
		.secs = (double)(t1 - t0) / 1e9,
		.wakeups = st.wakeups,
		.late = ((double)report[1] - (double)t0) / 1e9 - opt.seconds,
		.eos = ((double)t1 - (double)report[1]) / 1e9,
	};
}

/* ---- Options, report ------------------------------------------------------- */

static _Noreturn void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: stream_throughput [options]\n"
		"  --size N          message size in bytes, >= 8 (default 64)\n"
		"  --seconds S       streaming time per transport and round (default 2)\n"
		"  --rounds R        rounds; each runs every transport once (default 5)\n"
		"  --cpus A,B        CPUs of the consumer and the producer (default 0,1)\n"
		"  --transports L    comma list of ring, ring-batch, pipe (default all)\n"
		"  --timeout SEC     give up after SEC s without progress (default 60)\n"
		"  --json            one JSON object per line instead of the table\n"
		"  -v, --verbose     also print every round's figures: the ring's futex wakes,\n"
		"                    how late the producer stopped, and how long after its\n"
		"                    close the consumer saw the end of the stream\n");
	exit(status);
}

static double number(const char *name, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max)) {
		fprintf(stderr,
			"stream_throughput: %s: expected a number from %g to %g, got '%s'\n", name,
			min, max, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	bool cpus_given = false;

	for (int t = 0; t < T_COUNT; t++)
		opt.want[t] = true;
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
			opt.size = (size_t)number(a, v, 8, 1 << 20);
		else if (!strcmp(a, "--seconds"))
			opt.seconds = number(a, v, 0.01, 3600);
		else if (!strcmp(a, "--rounds"))
			opt.rounds = (unsigned)number(a, v, 1, 1000);
		else if (!strcmp(a, "--timeout"))
			opt.timeout = (unsigned)number(a, v, 1, 86400);
		else if (!strcmp(a, "--cpus")) {
			if (sscanf(v, "%d,%d", &opt.cpu[0], &opt.cpu[1]) != 2 || opt.cpu[0] < 0 ||
			    opt.cpu[1] < 0)
				usage(2);
			cpus_given = true;
		} else if (!strcmp(a, "--transports")) {
			if (!parse_transports(v, tname, T_COUNT, opt.want))
				usage(2);
		} else
			usage(2);
	}
	main_pid = getpid();
	choose_cpus(opt.cpu, cpus_given, NULL);

	enum transport order[T_COUNT];
	unsigned nt = 0;
	for (int t = 0; t < T_COUNT; t++)
		if (opt.want[t])
			order[nt++] = (enum transport)t;

	char model[256], idle[256];
	struct utsname uts;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t usable;
	int probe[2], pipe_bytes;

	if (uname(&uts) != 0)
		die("uname", -errno);
	if (sched_getaffinity(0, sizeof usable, &usable) != 0)
		die("sched_getaffinity", -errno);
	if (pipe(probe) != 0)
		die("pipe", -errno);
	if ((pipe_bytes = fcntl(probe[0], F_GETPIPE_SZ)) < 0)
		die("fcntl(F_GETPIPE_SZ)", -errno);
	xclose(probe[0]);
	xclose(probe[1]);
	cpu_model(model, sizeof model);
	report_idle(opt.cpu, "figures", idle, sizeof idle);
	pin(opt.cpu[0]);

	size_t ring_bytes = opt.size > SHMRING_DEFAULT_MAX_MSG
				    ? (4 * opt.size > SHMRING_DEFAULT_CAPACITY
					       ? 4 * opt.size
					       : SHMRING_DEFAULT_CAPACITY)
				    : SHMRING_DEFAULT_CAPACITY;
	if (opt.json) {
		printf("{\"bench\":\"machine\",\"cpu\":\"%s\",\"nproc\":%d,\"online\":%ld,"
		       "\"kernel\":\"%s %s\",\"cpus\":[%d,%d]}\n",
		       model, CPU_COUNT(&usable), online, uts.release, uts.machine, opt.cpu[0],
		       opt.cpu[1]);
	} else {
		printf("stream_throughput: one-way stream of %zu-byte messages between two "
		       "processes\n",
		       opt.size);
		printf("machine: %s, nproc %d (%ld online), Linux %s %s\n", model,
		       CPU_COUNT(&usable), online, uts.release, uts.machine);
		printf("idle:    %s\n", idle);
		printf("pinning: consumer on CPU %d, producer on CPU %d\n", opt.cpu[0], opt.cpu[1]);
		printf("buffers: ring %zu KiB (requested), pipe %d KiB (system default)\n",
		       ring_bytes >> 10, pipe_bytes >> 10);
		printf("run:     %u rounds x %g s per transport, order rotated; each figure is "
		       "the median\n"
		       "         over the rounds of what the consumer received and checked\n\n",
		       opt.rounds, opt.seconds);
	}
	fflush(stdout);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_sigalrm;
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		die("sigaction", -errno);
	sa.sa_handler = SIG_IGN; /* a dead reader is EPIPE, not a signal */
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		die("sigaction", -errno);

	unsigned char *buf = calloc(BATCH, opt.size);
	double(*rate)[T_COUNT] = calloc(opt.rounds, sizeof *rate);
	if (!buf || !rate)
		die("calloc", -ENOMEM);

	for (unsigned r = 0; r < opt.rounds; r++)
		for (unsigned k = 0; k < nt; k++) {
			enum transport t = order[(r + k) % nt];
			struct result res = measure(t, buf);

			rate[r][t] = (double)res.msgs / res.secs;
			if (opt.verbose && !opt.json) {
				char wakes[48] = "";
				if (t != T_PIPE)
					snprintf(wakes, sizeof wakes, ", %" PRIu64 " futex wakes",
						 res.wakeups);
				printf("  round %u %-10s %11" PRIu64 " msgs in %.3f s = %12.0f "
				       "msgs/s (producer stopped %+.1f ms late, end of stream "
				       "seen %.0f us after its close%s)\n",
				       r + 1, tname[t], res.msgs, res.secs, rate[r][t],
				       res.late * 1e3, res.eos * 1e6, wakes);
			}
		}
	if (opt.verbose && !opt.json)
		printf("\n");

	double med[T_COUNT], lo[T_COUNT], hi[T_COUNT], col[1000];
	for (unsigned k = 0; k < nt; k++) {
		enum transport t = order[k];
		for (unsigned r = 0; r < opt.rounds; r++)
			col[r] = rate[r][t];
		med[t] = median(col, opt.rounds);
		lo[t] = col[0];
		hi[t] = col[opt.rounds - 1];
	}

	if (!opt.json)
		printf("%-10s %12s %10s %8s   %s\n", "transport", "msgs/s", "MB/s", "vs pipe",
		       "msgs/s over rounds");
	for (unsigned k = 0; k < nt; k++) {
		enum transport t = order[k];
		double mbs = med[t] * (double)opt.size / 1e6;
		char ratio[32] = "-";

		if (opt.want[T_PIPE])
			snprintf(ratio, sizeof ratio, "%.2f", med[t] / med[T_PIPE]);
		if (opt.json)
			printf("{\"bench\":\"throughput\",\"transport\":\"%s\",\"size\":%zu,"
			       "\"seconds\":%g,\"rounds\":%u,\"msgs_per_s\":%.0f,\"mb_per_s\":%.1f,"
			       "\"vs_pipe\":%s}\n",
			       tname[t], opt.size, opt.seconds, opt.rounds, med[t], mbs,
			       opt.want[T_PIPE] ? ratio : "null");
		else
			printf("%-10s %12.0f %10.1f %8s   %.0f..%.0f\n", tname[t], med[t], mbs,
			       ratio, lo[t], hi[t]);
	}
	free(buf);
	free(rate);
	return 0;
}
