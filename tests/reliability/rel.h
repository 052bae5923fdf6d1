/* SPDX-License-Identifier: MIT */
/*
 * rel.h - the common ground of the reliability suite (tests/reliability/):
 * run lengths, ring names that are unlinked even on failure, forked children
 * that die with their parent, shared memory for their reports, stamped
 * messages and the exactly-once bitmap, a dump of a ring's header for the
 * watchdogs, and the one-line figures each test prints at the end.
 *
 * Plain C, no test framework: every program here is a process tree whose
 * parent is the checker. A child never asserts; it writes its first failure
 * into shared memory (rel_child_fail) and ends with _exit(). The parent kills
 * and reaps every child before it returns, on success and on failure alike.
 *
 * Include it first: it defines _GNU_SOURCE before any system header.
 */
#ifndef SHMRING_REL_H
#define SHMRING_REL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"
#include "layout.h" /* the segment layout: the dump, the wraparound setup, the scribbler */

#define REL_UNUSED __attribute__((unused))
#define REL_MS ((int64_t)1000 * 1000)
#define REL_SEC ((int64_t)1000 * 1000 * 1000)

/* ---- Run lengths ------------------------------------------------------------ */

/* SHMRING_LONG=1 (./dev.sh test --long) runs the full counts. */
static inline bool rel_long(void)
{
	const char *e = getenv("SHMRING_LONG");
	return e && *e && strcmp(e, "0") != 0;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define REL_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define REL_SANITIZED 1
#endif
#endif
#ifndef REL_SANITIZED
#define REL_SANITIZED 0
#endif

/* Counts are cut by this divisor in a sanitizer build (the ASan stage runs
 * the whole suite again, slower, inside the same time budget). */
static inline uint64_t rel_scaled(uint64_t ci, uint64_t full)
{
	if (rel_long())
		return full;
	return REL_SANITIZED ? (ci / 4 ? ci / 4 : 1) : ci;
}

/* ---- Time and randomness ------------------------------------------------------ */

static inline int64_t rel_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * REL_SEC + ts.tv_nsec;
}

static inline void rel_sleep_ns(int64_t ns)
{
	struct timespec ts = {(time_t)(ns / REL_SEC), (long)(ns % REL_SEC)};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
	}
}

static inline void rel_sleep_ms(int ms)
{
	rel_sleep_ns((int64_t)ms * REL_MS);
}

static inline uint64_t rel_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* xorshift64*: decisions of the tests, seeded per process. */
static inline uint64_t rel_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : UINT64_C(0x9e3779b97f4a7c15);
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

static inline uint64_t rel_seed(uint64_t salt)
{
	return rel_mix((uint64_t)rel_now() ^ ((uint64_t)getpid() << 32) ^ salt) | 1;
}

/* Busy-wait about ns nanoseconds without a system call. */
static inline void rel_spin_ns(int64_t ns)
{
	int64_t end = rel_now() + ns;
	while (rel_now() < end) {
	}
}

/* ---- Figures ----------------------------------------------------------------- */

/* n with thousands separators; a few rotating buffers, for one printf. */
static inline const char *rel_commas(uint64_t n)
{
	static char bufs[32][32];
	static unsigned k;
	char *b = bufs[k++ % 32], tmp[32];
	int len = snprintf(tmp, sizeof(tmp), "%" PRIu64, n), o = 0;
	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			b[o++] = ',';
		b[o++] = tmp[i];
	}
	b[o] = '\0';
	return b;
}

/* The one line per test that goes into the README. Printed on stdout and,
 * when SHMRING_FIGURES_FILE names a file, appended to it (one write). */
static inline __attribute__((format(printf, 1, 2))) void rel_figure(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	line[n] = '\0';
	printf("FIGURES %s", line);
	fflush(stdout);
	const char *f = getenv("SHMRING_FIGURES_FILE");
	if (f && *f) {
		int fd = open(f, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			ssize_t w = write(fd, line, (size_t)n);
			(void)w;
			close(fd);
		}
	}
}

/* ---- Names, children, cleanup ------------------------------------------------- */

#define REL_MAX_NAMES 64
#define REL_MAX_KIDS 512

static pid_t rel_main_pid;
static char rel_names[REL_MAX_NAMES][128];
static int rel_nnames;
static pid_t rel_kids[REL_MAX_KIDS];
static int rel_nkids;

/* "shmring-test-<concern>-<pid>-<n>", remembered so that it is unlinked at
 * exit or on a fatal signal, whatever happened. */
static inline const char *rel_newname(const char *concern)
{
	static unsigned counter;
	if (rel_nnames == REL_MAX_NAMES) {
		fprintf(stderr, "rel: too many names\n");
		exit(1);
	}
	char *b = rel_names[rel_nnames++];
	snprintf(b, sizeof(rel_names[0]), "shmring-test-%s-%d-%u", concern, (int)getpid(),
		 counter++);
	return b;
}

/* Unlink one remembered name now (and forget it). */
static inline void rel_unlink(const char *name)
{
	for (int i = 0; i < rel_nnames; i++) {
		if (strcmp(rel_names[i], name))
			continue;
		shmring_unlink(rel_names[i]);
		memmove(rel_names[i], rel_names[rel_nnames - 1], sizeof(rel_names[0]));
		rel_nnames--;
		return;
	}
	shmring_unlink(name);
}

static inline void rel_forget_kid(pid_t pid)
{
	for (int i = 0; i < rel_nkids; i++)
		if (rel_kids[i] == pid) {
			rel_kids[i] = rel_kids[--rel_nkids];
			return;
		}
}

/* Kill and reap every child still known. Async-signal-safe. */
static inline void rel_kill_all(void)
{
	for (int i = 0; i < rel_nkids; i++)
		kill(rel_kids[i], SIGKILL);
	for (int i = 0; i < rel_nkids; i++) {
		int st;
		while (waitpid(rel_kids[i], &st, 0) < 0 && errno == EINTR) {
		}
	}
	rel_nkids = 0;
}

static inline void rel_cleanup(void)
{
	if (getpid() != rel_main_pid)
		return;
	rel_kill_all();
	for (int i = 0; i < rel_nnames; i++) {
		char path[160];
		snprintf(path, sizeof(path), "/%.150s", rel_names[i]);
		shm_unlink(path);
	}
	rel_nnames = 0;
}

static void rel_on_signal(int sig)
{
	static const char msg[] = "rel: fatal signal: killing children, unlinking rings\n";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	rel_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static const int rel_fatal_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGALRM, SIGQUIT, SIGABRT};

/* First call of every program: cleanup at exit and on fatal signals, and an
 * overall deadline (SIGALRM) well inside ctest's timeout. */
static inline void rel_init(unsigned deadline_s)
{
	rel_main_pid = getpid();
	setvbuf(stdout, NULL, _IOLBF, 0);
	atexit(rel_cleanup);
	for (size_t i = 0; i < sizeof(rel_fatal_signals) / sizeof(rel_fatal_signals[0]); i++)
		signal(rel_fatal_signals[i], rel_on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (deadline_s)
		alarm(deadline_s);
}

/* fork() a child that dies with its parent. In the child: default signal
 * handlers, no names or children of its own to clean up. */
static inline pid_t rel_fork(void)
{
	pid_t parent = getpid();
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "rel: fork: %s\n", strerror(errno));
		rel_cleanup();
		exit(1);
	}
	if (pid == 0) {
		alarm(0);
		for (size_t i = 0; i < sizeof(rel_fatal_signals) / sizeof(rel_fatal_signals[0]); i++)
			signal(rel_fatal_signals[i], SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
		rel_nkids = 0;
		rel_nnames = 0;
		return 0;
	}
	if (rel_nkids < REL_MAX_KIDS)
		rel_kids[rel_nkids++] = pid;
	return pid;
}

/* Wait for a child at most timeout_ms; SIGKILL it past that. Returns true
 * when it ended by itself; *status either way. */
static inline bool rel_reap(pid_t pid, int64_t timeout_ms, int *status)
{
	int64_t deadline = rel_now() + timeout_ms * REL_MS;
	bool ended = true;
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			*status = -1;
			break;
		}
		if (rel_now() > deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
			}
			ended = false;
			break;
		}
		rel_sleep_ns(REL_MS / 2);
	}
	rel_forget_kid(pid);
	return ended;
}

/* A readable account of a wait status. */
static inline const char *rel_status(int st)
{
	static char b[64];
	if (st == -1)
		snprintf(b, sizeof(b), "not a child");
	else if (WIFEXITED(st))
		snprintf(b, sizeof(b), "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(b, sizeof(b), "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(b, sizeof(b), "status 0x%x", st);
	return b;
}

static inline const char *rel_err(long rc)
{
	return rc >= 0 ? "ok" : strerror((int)-rc);
}

/* ---- Shared memory between the checker and its children ------------------------ */

static inline void *rel_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "rel: mmap(%zu shared bytes): %s\n", len, strerror(errno));
		exit(1);
	}
	return p;
}

/* The first failure of any child, for the parent to print. */
struct rel_report {
	atomic_int failed;
	int pid;
	char what[1000];
};

static struct rel_report *rel_rep; /* set by the parent before forking */

static inline __attribute__((noreturn, format(printf, 1, 2))) void rel_child_fail(const char *fmt,
										   ...)
{
	if (rel_rep) {
		int expect = 0;
		if (atomic_compare_exchange_strong(&rel_rep->failed, &expect, 1)) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(rel_rep->what, sizeof(rel_rep->what), fmt, ap);
			va_end(ap);
			rel_rep->pid = getpid();
			atomic_store(&rel_rep->failed, 2);
		}
	}
	_exit(1);
}

static inline const char *rel_child_report(void)
{
	if (!rel_rep || !atomic_load(&rel_rep->failed))
		return "(no report)";
	for (int i = 0; i < 200 && atomic_load(&rel_rep->failed) != 2; i++)
		rel_sleep_ms(1);
	return rel_rep->what;
}

/* ---- Stamped messages ----------------------------------------------------------- */

/* A message: this header, then a payload derived from (producer, sequence).
 * Any change of any byte - a torn copy, a stale slot, a message delivered
 * twice into a reused buffer - fails rel_msg_check. */
struct rel_msg {
	uint32_t prod; /* producer id */
	uint32_t seq;  /* that producer's sequence number, from 0 */
	uint32_t len;  /* the whole message, header included */
	uint32_t sum;  /* over the three words above */
};
#define REL_MSG_MIN ((uint32_t)sizeof(struct rel_msg))

static inline uint32_t rel_msg_sum(uint32_t prod, uint32_t seq, uint32_t len)
{
	return (uint32_t)rel_mix(((uint64_t)prod << 40) ^ ((uint64_t)seq << 8) ^ len ^
				 UINT64_C(0x5eed5eed00000000));
}

static inline uint64_t rel_payload_word(uint32_t prod, uint32_t seq, size_t i)
{
	return rel_mix((((uint64_t)prod << 32) | seq) * UINT64_C(0x9e3779b97f4a7c15) + i);
}

static inline void rel_msg_make(void *buf, uint32_t len, uint32_t prod, uint32_t seq)
{
	struct rel_msg h = {prod, seq, len, rel_msg_sum(prod, seq, len)};
	memcpy(buf, &h, sizeof(h));
	uint8_t *p = (uint8_t *)buf + sizeof(h);
	size_t n = len - sizeof(h), i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w = rel_payload_word(prod, seq, i / 8);
		memcpy(p + i, &w, 8);
	}
	if (i < n) {
		uint64_t w = rel_payload_word(prod, seq, i / 8);
		memcpy(p + i, &w, n - i);
	}
}

/* 0 and the stamp when buf holds a whole message of exactly n bytes, else -1. */
static inline int rel_msg_check(const void *buf, size_t n, struct rel_msg *out)
{
	struct rel_msg h;
	if (n < sizeof(h))
		return -1;
	memcpy(&h, buf, sizeof(h));
	if (h.len != n || h.sum != rel_msg_sum(h.prod, h.seq, h.len))
		return -1;
	const uint8_t *p = (const uint8_t *)buf + sizeof(h);
	size_t m = n - sizeof(h), i = 0;
	for (; i + 8 <= m; i += 8) {
		uint64_t w = rel_payload_word(h.prod, h.seq, i / 8), g;
		memcpy(&g, p + i, 8);
		if (g != w)
			return -1;
	}
	if (i < m) {
		uint64_t w = rel_payload_word(h.prod, h.seq, i / 8), g = 0;
		memcpy(&g, p + i, m - i);
		if (memcmp(&g, &w, m - i))
			return -1;
	}
	if (out)
		*out = h;
	return 0;
}

/* The length of message (prod, seq), in [lo, hi]: mostly short, often long,
 * sometimes exactly hi. Deterministic, so a checker can recompute it. */
static inline uint32_t rel_msg_len(uint32_t prod, uint32_t seq, uint32_t lo, uint32_t hi)
{
	uint64_t r = rel_mix(((uint64_t)prod << 32) ^ seq ^ UINT64_C(0x1e6));
	if (hi <= lo)
		return lo;
	switch (r % 10) {
	case 0:
		return hi;
	case 1:
	case 2:
	case 3:
	case 4:
		return lo + (uint32_t)((r >> 8) % (hi - lo + 1));
	default: {
		uint32_t span = hi - lo < 64 ? hi - lo : 64;
		return lo + (uint32_t)((r >> 8) % (span + 1));
	}
	}
}

/* ---- The exactly-once bitmap ------------------------------------------------------ */

/* One bit per (producer, sequence), in shared memory: a consumer sets it
 * with fetch_or, and finds a duplicate when it was set already. */
static inline bool rel_bit_set(atomic_ullong *bm, uint64_t i)
{
	unsigned long long m = 1ull << (i % 64);
	return (atomic_fetch_or_explicit(&bm[i / 64], m, memory_order_relaxed) & m) != 0;
}

static inline bool rel_bit_get(atomic_ullong *bm, uint64_t i)
{
	return (atomic_load_explicit(&bm[i / 64], memory_order_relaxed) >> (i % 64)) & 1;
}

/* ---- Positions near the 2^64 wrap ---------------------------------------------------- */

/* Before any producer attaches to a fresh named ring, move its free-running
 * positions to just below 2^64, so that they wrap during the run. Record
 * rings: head = tail = 2^64 - laps * capacity - 8 * k (the data area is all
 * zero, which is an empty record ring wherever the head stands). Slot rings:
 * enqueue = dequeue = P and each slot's sequence word set to the position in
 * [P, P + nslots) that maps to it. Returns the position written. */
static inline uint64_t rel_set_positions_near_wrap(const char *name, unsigned laps, unsigned k)
{
	char path[160];
	snprintf(path, sizeof(path), "/%.150s", name);
	int fd = shm_open(path, O_RDWR, 0);
	if (fd < 0)
		return 0;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return 0;
	}
	uint8_t *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return 0;
	struct sr_header *h = (struct sr_header *)p;
	uint64_t pos;
	if (h->cfg.nslots == 0) {
		pos = 0 - (uint64_t)laps * h->cfg.capacity - 8u * k;
		atomic_store(&h->prod.pos, pos);
		atomic_store(&h->cons.pos, pos);
	} else {
		uint64_t n = h->cfg.nslots;
		pos = 0 - (uint64_t)laps * n - k;
		for (uint64_t q = pos; q != pos + n; q++) {
			struct sr_slot *s = (struct sr_slot *)(p + h->cfg.data_off +
								(q & (n - 1)) * h->cfg.slot_size);
			atomic_store(&s->seq, q);
		}
		atomic_store(&h->prod.pos, pos);
		atomic_store(&h->cons.pos, pos);
	}
	munmap(p, (size_t)st.st_size);
	return pos;
}

/* ---- The header dump of a watchdog ----------------------------------------------- */

/* Print what a stuck ring looks like: geometry, positions, wait words,
 * totals, every endpoint that is not free, and the words at head and tail.
 * Reads through its own read-only mapping; never trusts a field for an
 * access outside it. */
static inline void rel_dump_fd(int fd, const char *title)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(struct sr_header)) {
		fprintf(stderr, "dump %s: object too small or gone\n", title);
		return;
	}
	size_t len = (size_t)st.st_size;
	const uint8_t *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "dump %s: mmap: %s\n", title, strerror(errno));
		return;
	}
	const struct sr_header *h = (const struct sr_header *)p;
	const struct sr_config_line *c = &h->cfg;
	fprintf(stderr, "---- header of %s (%zu bytes)\n", title, len);
	fprintf(stderr,
		"cfg: magic %016" PRIx64 " version %u mode %u flags %#x capacity %" PRIu64
		" max_msg %" PRIu64 " data_off %" PRIu64 " total %" PRIu64
		" slot_size %u nslots %u creator pid %u uid %u\n",
		c->magic, (unsigned)atomic_load(&((struct sr_config_line *)c)->version), c->mode,
		c->flags, c->capacity, c->max_msg, c->data_off, c->total_size, c->slot_size,
		c->nslots, c->creator_pid, c->creator_uid);
	uint64_t tail = atomic_load((sr_a64 *)&h->prod.pos), head = atomic_load((sr_a64 *)&h->cons.pos);
	fprintf(stderr,
		"positions: prod %" PRIu64 " (%#" PRIx64 ") cons %" PRIu64 " (%#" PRIx64
		") aux %" PRIu64 " fill %" PRId64 "\n",
		tail, tail, head, head, (uint64_t)atomic_load((sr_a64 *)&h->cons.aux),
		(int64_t)(tail - head));
	fprintf(stderr,
		"data wait: epoch %u sleeper mask %#" PRIx64 " want %u; room wait: epoch %u sleeper "
		"mask %#" PRIx64 " want %u\n",
		atomic_load((sr_a32 *)&h->dwait.epoch), (uint64_t)atomic_load((sr_a64 *)&h->dwait.mask),
		atomic_load((sr_a32 *)&h->dwait.want), atomic_load((sr_a32 *)&h->rwait.epoch),
		(uint64_t)atomic_load((sr_a64 *)&h->rwait.mask), atomic_load((sr_a32 *)&h->rwait.want));
	const struct sr_totals_line *t = &h->totals;
	fprintf(stderr,
		"totals: nprod %u ncons %u prod_seen %u cons_seen %u dropped %" PRIu64
		" sent %" PRIu64 " received %" PRIu64 " wakeups %" PRIu64 "\n",
		atomic_load((sr_a32 *)&t->nprod), atomic_load((sr_a32 *)&t->ncons),
		atomic_load((sr_a32 *)&t->prod_seen), atomic_load((sr_a32 *)&t->cons_seen),
		(uint64_t)atomic_load((sr_a64 *)&t->dropped), (uint64_t)atomic_load((sr_a64 *)&t->sent),
		(uint64_t)atomic_load((sr_a64 *)&t->received),
		(uint64_t)atomic_load((sr_a64 *)&t->wakeups));
	for (unsigned i = 0; i < SR_EP_MAX; i++) {
		const struct sr_endpoint *e = &h->ep[i];
		uint32_t sg = atomic_load((sr_a32 *)&e->sg);
		uint64_t resv = atomic_load((sr_a64 *)&e->resv_pos);
		if (sg == 0 && resv == SR_RESV_NONE)
			continue;
		fprintf(stderr,
			"ep %3u: %s gen %u role %u pid %u poll_pid %u count %" PRIu64
			" wakeups %" PRIu64 " resv_pos %" PRId64 " resv_size %" PRIu64 "\n",
			i, SR_EP_STATE(sg) == SR_EP_LIVE ? "LIVE" : "free", SR_EP_GEN(sg), e->role,
			e->pid, SR_POLL_KEY_PID(atomic_load((sr_a32 *)&e->poll_pid)),
			(uint64_t)atomic_load((sr_a64 *)&e->count),
			(uint64_t)atomic_load((sr_a64 *)&e->wakeups), (int64_t)resv,
			(uint64_t)atomic_load((sr_a64 *)&e->resv_size));
	}
	uint64_t off = c->data_off;
	if (off >= sizeof(struct sr_header) && off < len) {
		const uint8_t *d = p + off;
		size_t room = len - off;
		if (c->nslots && c->slot_size && (c->nslots & (c->nslots - 1)) == 0) {
			uint64_t n = c->nslots;
			for (uint64_t q = head - 1; q != head + (n < 12 ? n : 12); q++) {
				uint64_t at = (q & (n - 1)) * c->slot_size;
				if (at + 16 > room)
					break;
				fprintf(stderr, "slot pos %" PRId64 " [%" PRIu64 "]: seq %" PRId64
						" len %" PRId64 "\n",
					(int64_t)q, q & (n - 1),
					(int64_t)atomic_load((sr_a64 *)(d + at)),
					(int64_t)atomic_load((sr_a64 *)(d + at + 8)));
			}
		} else if (c->capacity && (c->capacity & (c->capacity - 1)) == 0) {
			uint64_t m = c->capacity - 1;
			uint64_t at = head & m & ~(uint64_t)7;
			fprintf(stderr, "words from head [%" PRIu64 "]:", at);
			for (int i = 0; i < 8 && at + 8 * (uint64_t)i + 8 <= room; i++)
				fprintf(stderr, " %016" PRIx64, atomic_load((sr_a64 *)(d + at + 8 * i)));
			fprintf(stderr, "\n");
		}
	}
	fprintf(stderr, "----\n");
	munmap((void *)p, len);
}

static inline void rel_dump(const char *name)
{
	char path[160];
	snprintf(path, sizeof(path), "/%.150s", name);
	int fd = shm_open(path, O_RDONLY, 0);
	if (fd < 0) {
		fprintf(stderr, "dump %s: %s\n", name, strerror(errno));
		return;
	}
	rel_dump_fd(fd, name);
	close(fd);
}

/* ---- /dev/shm --------------------------------------------------------------------- */

/* Does /dev/shm hold an entry whose name starts with prefix? Copies the first
 * such name into out. */
#include <dirent.h>
static inline int rel_shm_count(const char *prefix, char *out, size_t outsz)
{
	DIR *d = opendir("/dev/shm");
	int n = 0;
	if (!d)
		return 0;
	struct dirent *e;
	size_t pl = strlen(prefix);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, pl))
			continue;
		if (n++ == 0 && out)
			snprintf(out, outsz, "%.100s", e->d_name);
	}
	closedir(d);
	return n;
}

#endif /* SHMRING_REL_H */
