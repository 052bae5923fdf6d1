/* SPDX-License-Identifier: MIT */
/*
 * common.h - helpers shared by the Criterion tests: unique ring names, the
 * four modes as test parameters, forked helper processes that report through
 * shared memory (a child never calls cr_assert), bounded reaping, handshake
 * pipes, rings with asserted setup. The framework-free part is testutil.h.
 *
 * Include it first: it defines _GNU_SOURCE before any system header.
 *
 * Rules every test follows (Criterion runs each test in a process of its own):
 *  - A forked child ends with _exit() and reports through t_child_fail() into
 *    a shared page; the parent reaps it with a bound (t_reap_ok) and asserts.
 *  - A child dies with its parent (PR_SET_PDEATHSIG), so a test that fails or
 *    times out leaves no process behind.
 *  - Named rings are called "shmring-test-<concern>-<pid>-<n>" and unlinked
 *    by the test that made them, early, whenever the name is no longer needed.
 */
#ifndef SHMRING_TEST_COMMON_H
#define SHMRING_TEST_COMMON_H

#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

/*
 * MODE_TEST(suite, name, .timeout = ...) { body using `mode` }
 * A Criterion parameterized test run once per mode; the body sees the mode
 * as the variable `mode` (through T_MODE) and names it in its messages.
 */
#define MODE_TEST(Suite, Name, ...)                                                            \
	ParameterizedTestParameters(Suite, Name)                                               \
	{                                                                                      \
		static enum shmring_mode modes[] = { SHMRING_SPSC, SHMRING_MPSC, SHMRING_SPMC, \
						     SHMRING_MPMC };                           \
		return cr_make_param_array(enum shmring_mode, modes, 4, NULL);                 \
	}                                                                                      \
	ParameterizedTest(enum shmring_mode *mode_p, Suite, Name, __VA_ARGS__)
#define T_MODE                                  \
	const enum shmring_mode mode = *mode_p; \
	const char *M T_UNUSED = t_mode(mode)

/* ---- Names ------------------------------------------------------------- */

/* "shmring-test-<concern>-<pid>-<n>", unique to this process. */
static inline const char *t_name(char *buf, size_t n, const char *concern)
{
	static unsigned counter;
	snprintf(buf, n, "shmring-test-%s-%d-%u", concern, (int)getpid(), counter++);
	return buf;
}

/* Names this test made, unlinked by t_unlink_all (a fixture's .fini) even
 * when the test fails. */
static char t_names[128][256];
static int t_nnames;

static inline const char *t_newname(const char *concern)
{
	cr_assert_lt(t_nnames, 128, "too many names");
	return t_name(t_names[t_nnames++], sizeof(t_names[0]), concern);
}

static inline T_UNUSED void t_unlink_all(void)
{
	for (int i = 0; i < t_nnames; i++) {
		char path[300];
		snprintf(path, sizeof(path), "/%.255s", t_names[i]);
		shm_unlink(path);
	}
	t_nnames = 0;
}

/* Map the object behind a named ring read-write, as a scribbling peer would. */
static inline void *t_map_named(const char *name, size_t *len, int *fdp)
{
	char path[300];
	snprintf(path, sizeof(path), "/%s", name[0] == '/' ? name + 1 : name);
	int fd = shm_open(path, O_RDWR, 0);
	cr_assert_geq(fd, 0, "shm_open(%s): %s", path, strerror(errno));
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0, "fstat: %s", strerror(errno));
	*len = (size_t)st.st_size;
	void *p = mmap(NULL, *len ? *len : 1, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(p, MAP_FAILED, "mmap %s (%zu bytes): %s", path, *len, strerror(errno));
	if (fdp)
		*fdp = fd;
	else
		close(fd);
	return p;
}

/* ---- Shared memory between a test and its children --------------------- */

static inline void *t_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED, "mmap(MAP_SHARED|MAP_ANONYMOUS, %zu): %s", len,
		      strerror(errno));
	return p;
}

/* ---- Forked children ---------------------------------------------------- */

struct t_report {
	int line;
	long long a, b;
	char what[200];
};

#define T_MAX_CHILDREN 256
struct t_children {
	struct t_report rep[T_MAX_CHILDREN];
	pid_t pid[T_MAX_CHILDREN];
	int n;
};

static struct t_children *t_kids; /* shared page of reports, made on first fork */
static struct t_report *t_rep;    /* in a child: its own report */

/* Fork a helper. In the child: returns 0; the child dies with its parent. */
static inline pid_t t_fork(void)
{
	if (!t_kids)
		t_kids = (struct t_children *)t_shared(sizeof(*t_kids));
	cr_assert_lt(t_kids->n, T_MAX_CHILDREN, "too many children: %d", t_kids->n);
	int slot = t_kids->n++;
	memset(&t_kids->rep[slot], 0, sizeof(t_kids->rep[slot]));
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
		t_rep = &t_kids->rep[slot];
		t_kids = NULL; /* a child that forks gets its own table */
		return 0;
	}
	t_kids->pid[slot] = pid;
	return pid;
}

/* In a child: record what failed and exit 1 (never cr_assert in a child). */
static inline T_UNUSED __attribute__((noreturn, format(printf, 4, 5))) void
t_child_fail(int line, long long a, long long b, const char *fmt, ...)
{
	if (t_rep) {
		t_rep->line = line;
		t_rep->a = a;
		t_rep->b = b;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(t_rep->what, sizeof(t_rep->what), fmt, ap);
		va_end(ap);
	}
	_exit(1);
}

/* In a child: check `cond`; on failure report a and b (as long long) and exit. */
#define CHILD_CHECK(cond, a, b)                                                              \
	do {                                                                                 \
		if (!(cond))                                                                 \
			t_child_fail(__LINE__, (long long)(a), (long long)(b), "%s", #cond); \
	} while (0)
#define CHILD_CHECKF(cond, a, b, ...)                                                        \
	do {                                                                                 \
		if (!(cond))                                                                 \
			t_child_fail(__LINE__, (long long)(a), (long long)(b), __VA_ARGS__); \
	} while (0)

/*
 * Wait for a child at most timeout_s seconds; kill it (SIGKILL) past that.
 * Returns 1 and *status when it ended by itself, 0 when it had to be killed.
 */
static inline int t_reap(pid_t pid, double timeout_s, int *status)
{
	int64_t deadline = t_now() + (int64_t)(timeout_s * 1e9);
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return 1;
		if (w < 0 && errno != EINTR) {
			*status = -1;
			return 1;
		}
		if (t_now() > deadline)
			break;
		t_sleep_ms(2);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
	}
	return 0;
}

static inline const struct t_report *t_report_of(pid_t pid)
{
	if (!t_kids)
		return NULL;
	for (int i = 0; i < t_kids->n; i++)
		if (t_kids->pid[i] == pid)
			return &t_kids->rep[i];
	return NULL;
}

/* Kill a child (if still running) and reap it. */
static inline void t_kill(pid_t pid)
{
	int st;
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
}

/* Reap a child with a bound and assert that it exited 0, printing its report. */
#define t_reap_ok(pid, timeout_s, who)                                                             \
	do {                                                                                       \
		int st_ = 0;                                                                       \
		pid_t pid_ = (pid);                                                                \
		int done_ = t_reap(pid_, (timeout_s), &st_);                                       \
		const struct t_report *r_ = t_report_of(pid_);                                     \
		cr_assert(done_, "%s: child %d did not finish within %.1f s (killed)", (who),      \
			  (int)pid_, (double)(timeout_s));                                         \
		cr_assert(!WIFSIGNALED(st_), "%s: child %d killed by signal %d", (who), (int)pid_, \
			  WTERMSIG(st_));                                                          \
		cr_assert(WIFEXITED(st_) && WEXITSTATUS(st_) == 0,                                 \
			  "%s: child failed (exit %d) at line %d: %s [a=%lld b=%lld]", (who),      \
			  WIFEXITED(st_) ? WEXITSTATUS(st_) : -1, r_ ? r_->line : 0,               \
			  r_ ? r_->what : "?", r_ ? r_->a : 0, r_ ? r_->b : 0);                    \
	} while (0)

/* ---- Pipes for "I am ready" handshakes ---------------------------------- */

static inline void t_pipe(int fds[2])
{
	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
}

static inline int t_put(int fd, char c)
{
	ssize_t n;
	do
		n = write(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/* Read one byte within timeout_ms: the byte, or -1 on timeout/EOF. */
static inline int t_get(int fd, int timeout_ms)
{
	int64_t deadline = t_now() + (int64_t)timeout_ms * MS;
	for (;;) {
		int left = (int)((deadline - t_now()) / MS);
		if (left < 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int k = poll(&p, 1, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		unsigned char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		return n == 1 ? c : -1;
	}
}

/* ---- Rings -------------------------------------------------------------- */

/* An anonymous ring with a producer handle and a separate consumer handle. */
static inline void t_pair(enum shmring_mode m, size_t capacity, size_t max_msg, shmring **p,
			  shmring **c)
{
	struct shmring_config cfg = t_cfg(m, capacity, max_msg);
	int rc = shmring_create_anon(&cfg, SHMRING_PRODUCER, p);
	cr_assert_eq(rc, 0, "%s: shmring_create_anon(cap %zu, max_msg %zu): %d (%s)", t_mode(m),
		     capacity, max_msg, rc, strerror(-rc));
	rc = shmring_open_fd(shmring_fd(*p), SHMRING_CONSUMER, c);
	cr_assert_eq(rc, 0, "%s: shmring_open_fd(consumer): %d (%s)", t_mode(m), rc, strerror(-rc));
}

static inline struct shmring_stat t_stat(const shmring *r)
{
	struct shmring_stat st;
	memset(&st, 0, sizeof(st));
	int rc = shmring_stat(r, &st);
	cr_assert_eq(rc, 0, "shmring_stat: %d (%s)", rc, strerror(-rc));
	return st;
}

#endif /* SHMRING_TEST_COMMON_H */
