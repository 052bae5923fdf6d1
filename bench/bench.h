/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what the shmring-bench harness and its transports share: the
 * transport interface (one struct of function pointers per transport, each in
 * its own file under transports/), the payload stamps that let the receiver
 * verify every message, the clock, and the few helpers a transport needs
 * (spin-waiting politely, registering names for cleanup, saying why it cannot
 * run).
 *
 * Process model (run.c): the top-level process forks a "runner" per
 * measurement; the runner sets the transport up, forks the "peer", and the two
 * pin themselves to their cores. Side A (the runner) is the latency client
 * and the throughput producer; side B (the peer) echoes and consumes. Every
 * transport has two directions: A->B and B->A.
 */
#ifndef SHMRING_BENCH_H
#define SHMRING_BENCH_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { SIDE_A = 0, SIDE_B = 1 };
enum bench_kind { BENCH_LAT = 0, BENCH_THR = 1 };

/* transport.caps */
#define TP_LAT 0x1   /* can ping-pong */
#define TP_THR 0x2   /* can stream one way */
#define TP_LOCAL 0x4 /* runs in one process (no peer): memcpy */

/* What the harness tells a transport at setup. */
struct tp_env {
	size_t size;          /* every message is exactly this long (>= 8) */
	enum bench_kind kind; /* which benchmark will run */
	bool same_cpu;        /* both sides share one core: spin loops must yield */
};

/* Longest reason a transport gives for not running. */
#define TP_WHY_MAX 200

/*
 * One transport. All functions return 0 (or a length, for recv) on success
 * and a negative errno on failure. Sends and receives block until the whole
 * message has moved; a transport that busy-polls must call bench_relax() in
 * its loop.
 */
struct transport {
	const char *name;
	const char *desc;
	unsigned caps;

	/* In the runner, before fork: allocate the shared state for both
	 * directions and store it in *st. Return -EOPNOTSUPP (or another
	 * negative errno) with a reason in why[] when this transport cannot
	 * carry env->size or cannot run at all here: the harness reports
	 * "skipped: <why>". Named kernel objects that outlive the process must
	 * be registered with bench_cleanup_*() (or unlinked at once). */
	int (*setup)(void **st, const struct tp_env *env, char *why);
	/* In each process after fork, side SIDE_A or SIDE_B: take this side's
	 * ends (send on direction side, receive on the other). */
	int (*init)(void *st, int side);
	/* Blocking, whole messages. recv returns the message's length. */
	int (*send)(void *st, const void *msg, size_t len);
	ssize_t (*recv)(void *st, void *buf, size_t cap);

	/* Optional zero copy: build the message in place, read it in place. */
	int (*claim)(void *st, size_t len, void **buf);
	int (*commit)(void *st, size_t len);
	int (*peek)(void *st, const void **msg, size_t *len);
	int (*release)(void *st);

	/* Optional batches (throughput): return how many moved (>= 1). */
	int (*sendv)(void *st, const struct iovec *msgs, int n);
	int (*recvv)(void *st, struct iovec *bufs, int n);

	/* Optional: futex wakes issued so far on the ring this side receives
	 * from (shmring_stat().wakeups). */
	int (*wakeups)(void *st, uint64_t *out);

	/* Optional, TP_LOCAL only: run alone for `seconds`, count messages. */
	int (*local)(void *st, double seconds, uint64_t *msgs, int64_t *ns);

	/* In each process after its loop (may be NULL): close this side. */
	void (*fini)(void *st, int side);
};

/* The registry (transports.c). */
extern const struct transport *const bench_transports[];
extern const unsigned bench_ntransports;
const struct transport *bench_find_transport(const char *name);
/* Transports this build left out, and why (e.g. "DPDK not found at build
 * time"); NULL-terminated pairs of name, reason. */
extern const char *const bench_not_built[][2];

/* ---- helpers for transports (util.c) ---- */

/* Say why a transport cannot run: formats into why[TP_WHY_MAX], returns rc. */
int tp_fail(char *why, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Shared memory for both processes (MAP_SHARED | MAP_ANONYMOUS, zeroed, page
 * aligned). NULL on failure. Freed by exit. */
void *bench_shared_alloc(size_t len);

/* Kernel objects that survive their processes. Registered in the control
 * page; the top-level process removes them after the measurement, however
 * it ended. */
void bench_cleanup_sysv_msq(int id);
void bench_cleanup_mq(const char *name);
void bench_cleanup_shm(const char *name);
/* A name unique to this run: "/shmring-bench-<pid>-<n>-<tag>". */
void bench_unique_name(char *buf, size_t len, const char *tag);

/* Busy-wait step: a pause instruction, and a sched_yield() now and then
 * when both sides share one core (else the waiter burns its whole slice). */
extern bool bench_same_cpu;
static inline void bench_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}
static inline void bench_relax(void)
{
	bench_pause();
	if (bench_same_cpu) {
		extern void bench_yield(void);
		bench_yield();
	}
}

/* read()/write() until the whole buffer moved, restarting on EINTR. */
int bench_write_full(int fd, const void *buf, size_t len);
ssize_t bench_read_full(int fd, void *buf, size_t len);

/* ---- payload stamps ----
 * Sequence number in the first 8 bytes, its complement in the last 8 (when
 * the message is at least 16 bytes): a message that arrives torn, short,
 * out of order or twice fails the check. */
#define BENCH_END_SEQ UINT64_MAX /* the producer's last message */

static inline void bench_stamp(void *msg, size_t len, uint64_t seq)
{
	memcpy(msg, &seq, 8);
	if (len >= 16) {
		uint64_t x = ~seq;
		memcpy((char *)msg + len - 8, &x, 8);
	}
}

/* 0 and *seq, or -EBADMSG when the two stamps disagree. */
static inline int bench_unstamp(const void *msg, size_t len, uint64_t *seq)
{
	uint64_t s, x;
	memcpy(&s, msg, 8);
	if (len >= 16) {
		memcpy(&x, (const char *)msg + len - 8, 8);
		if (x != ~s)
			return -EBADMSG;
	}
	*seq = s;
	return 0;
}

/* ---- clock ----
 * bench_now() is CLOCK_MONOTONIC in nanoseconds, read through the TSC when it
 * is invariant (calibrated once by bench_clock_init, before any fork). */
void bench_clock_init(void);
const char *bench_clock_name(void);
extern double bench_tsc_ns; /* ns per tick, 0 when the TSC is not used */
extern uint64_t bench_tsc_base;
extern int64_t bench_ns_base;
int64_t bench_now_slow(void);
static inline int64_t bench_now(void)
{
#if defined(__x86_64__)
	if (bench_tsc_ns > 0) {
		uint32_t lo, hi;
		__asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
		uint64_t t = ((uint64_t)hi << 32) | lo;
		return bench_ns_base + (int64_t)((double)(t - bench_tsc_base) * bench_tsc_ns);
	}
#endif
	return bench_now_slow();
}

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_BENCH_H */
