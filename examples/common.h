/* SPDX-License-Identifier: MIT */
/*
 * common.h - what the two measuring examples, pingpong.c and stream.c
 * (stream_throughput), share: errors that end the run with one line naming
 * the transport, the clock, CPU pinning and choice, a look at the machine
 * (CPU model, how idle it is), the --transports list and the median over
 * rounds. Public API only, like the examples themselves.
 *
 * The including file defines PROG (the program's name, a string literal)
 * first, sets main_pid to its own pid at the start of main(), and names the
 * transport being measured in `current`.
 */
#ifndef SHMRING_EXAMPLES_COMMON_H
#define SHMRING_EXAMPLES_COMMON_H

#ifndef PROG
#error "define PROG, the program's name, before including common.h"
#endif

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pid_t main_pid; /* the measuring process; its forked peer is the other */
static const char *volatile current = "setup"; /* transport being measured */

/* ---- Errors ----------------------------------------------------------------
 * Every failure ends the process with status 1 after one line on stderr that
 * names the transport. The forked peer leaves with _exit(): it must not
 * flush stdio buffers it inherited from the main process.
 */
static _Noreturn void leave(void)
{
	if (getpid() == main_pid)
		exit(1);
	_exit(1);
}

/* err is a negative errno, as every shmring call returns. */
static _Noreturn void die(const char *what, long err)
{
	fprintf(stderr, PROG ": %s: %s: %s (%ld)\n", current, what, strerror((int)-err), err);
	leave();
}

static _Noreturn __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": %s: ", current);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	leave();
}

/* ---- Time, CPUs, the machine ----------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime", -errno);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		die("sched_setaffinity", -errno);
}

/* The first line of `key` in a "key : value" file such as /proc/cpuinfo. */
static bool file_value(const char *path, const char *key, char *out, size_t n)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		size_t klen = strlen(key);

		if (strncmp(line, key, klen) != 0 || !colon ||
		    strspn(line + klen, " \t") != (size_t)(colon - line - (ptrdiff_t)klen))
			continue;
		colon += 1 + strspn(colon + 1, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(out, n, "%s", colon);
		found = true;
	}
	fclose(f);
	return found;
}

static void cpu_model(char *out, size_t n)
{
	if (!file_value("/proc/cpuinfo", "model name", out, n) &&
	    !file_value("/proc/cpuinfo", "Hardware", out, n) &&
	    !file_value("/proc/cpuinfo", "cpu model", out, n))
		snprintf(out, n, "unknown CPU");
	for (char *c = out; *c; c++) /* it goes into JSON as is */
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
			*c = ' ';
}

struct cpustat {
	unsigned long long total, idle, steal;
};

/* One line of /proc/stat: "cpu" (all CPUs) when cpu < 0, else "cpuN". */
static bool read_cpustat(int cpu, struct cpustat *st)
{
	char want[32], line[512];
	bool found = false;
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return false;
	if (cpu < 0)
		snprintf(want, sizeof want, "cpu ");
	else
		snprintf(want, sizeof want, "cpu%d ", cpu);
	while (!found && fgets(line, sizeof line, f)) {
		unsigned long long v[8] = { 0 };

		if (strncmp(line, want, strlen(want)) != 0)
			continue;
		if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 4)
			break;
		st->total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
		st->idle = v[3] + v[4]; /* idle + iowait */
		st->steal = v[7];
		found = true;
	}
	fclose(f);
	return found;
}

/* How idle the machine and the two chosen CPUs were over the last half second:
 * other load on the box shows up in the figures, so say how much there was.
 * Below 90% idle, warns that the `noisy` (tails, figures) will be noisy. */
static void report_idle(const int cpu[2], const char *noisy, char *out, size_t n)
{
	const int which[3] = { -1, cpu[0], cpu[1] };
	int count = cpu[0] == cpu[1] ? 2 : 3;
	struct cpustat a[3], b[3];
	struct timespec half = { 0, 500000000 };
	double idle[3], steal = 0;

	for (int i = 0; i < count; i++)
		if (!read_cpustat(which[i], &a[i]))
			goto unknown;
	while (nanosleep(&half, &half) != 0)
		if (errno != EINTR)
			goto unknown;
	for (int i = 0; i < count; i++) {
		if (!read_cpustat(which[i], &b[i]) || b[i].total <= a[i].total)
			goto unknown;
		idle[i] = 100.0 * (double)(b[i].idle - a[i].idle) /
			  (double)(b[i].total - a[i].total);
		if (i == 0)
			steal = 100.0 * (double)(b[0].steal - a[0].steal) /
				(double)(b[0].total - a[0].total);
	}
	if (count == 2)
		snprintf(out, n, "%.1f%% overall, CPU%d %.1f%%, steal %.1f%% (/proc/stat, 0.5 s)",
			 idle[0], which[1], idle[1], steal);
	else
		snprintf(out, n,
			 "%.1f%% overall, CPU%d %.1f%%, CPU%d %.1f%%, steal %.1f%% "
			 "(/proc/stat, 0.5 s)",
			 idle[0], which[1], idle[1], which[2], idle[2], steal);
	if (idle[0] < 90.0)
		fprintf(stderr,
			PROG ": warning: the machine is only %.0f%% idle: expect noisy %s\n",
			idle[0], noisy);
	return;
unknown:
	snprintf(out, n, "unknown (/proc/stat unreadable)");
}

/* Pick the two CPUs into cpu[] (given: as the user gave them, checked). The
 * defaults 0 and 1 fall back to the first two CPUs this process may use, and
 * to one shared CPU on a one-CPU box. `shared`, when not NULL, says what
 * sharing one CPU costs, in the warning. */
static void choose_cpus(int cpu[2], bool given, const char *shared)
{
	cpu_set_t set;
	int first[2] = { -1, -1 }, found = 0;

	if (sched_getaffinity(0, sizeof set, &set) != 0)
		die("sched_getaffinity", -errno);
	if (given) {
		for (int i = 0; i < 2; i++)
			if (cpu[i] >= CPU_SETSIZE || !CPU_ISSET(cpu[i], &set))
				fail("--cpus: CPU %d is not available to this process", cpu[i]);
		if (cpu[0] == cpu[1])
			fprintf(stderr, PROG ": warning: both processes on CPU %d%s%s\n", cpu[0],
				shared ? ": " : "", shared ? shared : "");
		return;
	}
	for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
		if (CPU_ISSET(c, &set))
			first[found++] = c;
	if (found == 0)
		fail("no CPU in this process's affinity mask");
	if (CPU_ISSET(0, &set) && CPU_ISSET(1, &set)) {
		cpu[0] = 0;
		cpu[1] = 1;
	} else if (found == 2) {
		cpu[0] = first[0];
		cpu[1] = first[1];
	} else {
		cpu[0] = cpu[1] = first[0];
		fprintf(stderr,
			PROG ": warning: only one CPU (%d) is available: both processes share "
			     "it%s%s\n",
			first[0], shared ? ", and " : "", shared ? shared : "");
	}
}

/* ---- Options, report -------------------------------------------------------- */

/* A comma list of names out of names[0..count): want[] says which were
 * given. False for an unknown name or a list too long. */
static bool parse_transports(const char *s, const char *const *names, int count, bool *want)
{
	char copy[128];

	if (snprintf(copy, sizeof copy, "%s", s) >= (int)sizeof copy)
		return false;
	memset(want, 0, (size_t)count * sizeof *want);
	for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int t = 0;
		while (t < count && strcmp(tok, names[t]) != 0)
			t++;
		if (t == count)
			return false;
		want[t] = true;
	}
	return true;
}

/* Median of n values (n >= 1); sorts v. */
static double median(double *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double tmp = v[j];
			v[j] = v[j - 1];
			v[j - 1] = tmp;
		}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif /* SHMRING_EXAMPLES_COMMON_H */
