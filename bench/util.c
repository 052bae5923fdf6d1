/* SPDX-License-Identifier: MIT */
/*
 * util.c - small helpers for the harness and the transports: the clock,
 * shared allocations, cleanup registration, full reads and writes, number
 * formatting and parsing.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mqueue.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

struct ctl *bench_ctl;
bool bench_same_cpu;

int tp_fail(char *why, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, TP_WHY_MAX, fmt, ap);
	va_end(ap);
	return rc;
}

void *bench_shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void cleanup_add(int kind, int id, const char *name)
{
	if (!bench_ctl)
		return;
	int i = atomic_fetch_add(&bench_ctl->nclean, 1);
	if (i >= CLEAN_MAX)
		return;
	struct cleanup_entry *e = &bench_ctl->clean[i];
	e->id = id;
	if (name)
		snprintf(e->name, sizeof(e->name), "%s", name);
	e->kind = kind;
}

void bench_cleanup_sysv_msq(int id)
{
	cleanup_add(CLEAN_SYSV_MSQ, id, NULL);
}

void bench_cleanup_mq(const char *name)
{
	cleanup_add(CLEAN_MQ, 0, name);
}

void bench_cleanup_shm(const char *name)
{
	cleanup_add(CLEAN_SHM, 0, name);
}

int bench_sysv_rmid(int id)
{
	return msgctl(id, IPC_RMID, NULL) < 0 ? -errno : 0;
}

int bench_mq_unlink(const char *name)
{
	return mq_unlink(name) < 0 ? -errno : 0;
}

void bench_unique_name(char *buf, size_t len, const char *tag)
{
	static unsigned n;
	snprintf(buf, len, "/shmring-bench-%d-%u-%s", (int)getpid(), n++, tag);
}

void bench_yield(void)
{
	static unsigned n;
	if (++n % 16 == 0)
		sched_yield();
}

int bench_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

ssize_t bench_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EPIPE; /* the peer closed mid-stream */
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* ---- clock ---- */

double bench_tsc_ns;
uint64_t bench_tsc_base;
int64_t bench_ns_base;

int64_t bench_now_slow(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#if defined(__x86_64__)
static uint64_t rdtsc_fenced(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

static bool tsc_invariant(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
		return false;
	__get_cpuid(0x80000007u, &a, &b, &c, &d);
	return (d >> 8) & 1;
}
#endif

void bench_clock_init(void)
{
	bench_tsc_ns = 0;
#if defined(__x86_64__)
	const char *env = getenv("SHMRING_BENCH_CLOCK");
	if (env && strcmp(env, "monotonic") == 0)
		return;
	if (!tsc_invariant())
		return;
	/* Calibrate over 50 ms against CLOCK_MONOTONIC; each end pairs a clock
	 * read with a TSC read taken between two others, the closest pair
	 * out of a few. */
	int64_t t0 = 0, t1 = 0;
	uint64_t c0 = 0, c1 = 0;
	for (int end = 0; end < 2; end++) {
		int64_t best = INT64_MAX;
		for (int i = 0; i < 16; i++) {
			uint64_t a = rdtsc_fenced();
			int64_t t = bench_now_slow();
			uint64_t b = rdtsc_fenced();
			if ((int64_t)(b - a) < best) {
				best = (int64_t)(b - a);
				if (end == 0) {
					t0 = t;
					c0 = a + (b - a) / 2;
				} else {
					t1 = t;
					c1 = a + (b - a) / 2;
				}
			}
		}
		if (end == 0)
			while (bench_now_slow() - t0 < 50 * 1000 * 1000)
				;
	}
	if (c1 <= c0 || t1 <= t0)
		return;
	bench_tsc_base = c0;
	bench_ns_base = t0;
	bench_tsc_ns = (double)(t1 - t0) / (double)(c1 - c0);
#endif
}

const char *bench_clock_name(void)
{
	return bench_tsc_ns > 0 ? "TSC (invariant, calibrated against CLOCK_MONOTONIC)"
				: "CLOCK_MONOTONIC";
}

/* ---- formatting ---- */

void bench_fmt_size(char *buf, size_t len, size_t size)
{
	if (size >= (1u << 20) && size % (1u << 20) == 0)
		snprintf(buf, len, "%zuM", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(buf, len, "%zuK", size >> 10);
	else
		snprintf(buf, len, "%zu", size);
}

void bench_fmt_count(char *buf, size_t len, double v)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
}

void bench_fmt_bytes_rate(char *buf, size_t len, double v)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.2f GB/s", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.1f MB/s", v / 1e6);
	else
		snprintf(buf, len, "%.1f kB/s", v / 1e3);
}

/* "64", "4k", "4K", "4KiB", "64KB", "1M", "1MiB": binary multiples. */
int bench_parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9') /* strtoull takes "-1" and " 1" */
		return -EINVAL;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || errno)
		return -EINVAL;
	unsigned long long mul = 1;
	if (*end == 'k' || *end == 'K')
		mul = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1024 * 1024, end++;
	if (mul > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0 || strcmp(end, "b") == 0))
		end += strlen(end);
	else if (mul == 1 && (strcmp(end, "B") == 0 || strcmp(end, "b") == 0))
		end++;
	if (*end || v > SIZE_MAX / mul)
		return -EINVAL;
	*out = (size_t)(v * mul);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
