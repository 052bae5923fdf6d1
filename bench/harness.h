/* SPDX-License-Identifier: MIT */
/*
 * harness.h - shmring-bench internals shared by main.c (command line, rounds,
 * medians), run.c (one measurement: fork, pin, warm up, measure), report.c
 * (table, JSON, plot) and util.c. Transports see only bench.h.
 */
#ifndef SHMRING_BENCH_HARNESS_H
#define SHMRING_BENCH_HARNESS_H

#include "bench.h"
#include "hist.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

/* Kernel objects to remove after a measurement, however it ended. */
enum cleanup_kind { CLEAN_NONE = 0, CLEAN_SYSV_MSQ, CLEAN_MQ, CLEAN_SHM };
#define CLEAN_MAX 8
struct cleanup_entry {
	int kind;
	int id;
	char name[96];
};

/* Options of one run (main.c fills them). */
struct options {
	int cpu[2];     /* side A, side B (equal: one core) */
	uint64_t iters; /* latency: samples per measurement (at most) */
	double seconds; /* throughput: measured time; latency: time cap */
	double warmup;  /* seconds of warm-up before each measurement */
	double rate;    /* latency: round trips per second (0: back to back) */
	int rounds;
	int batch; /* messages per sendv/recvv */
	bool verbose;
};

/* Outcome of one measurement. */
enum m_status { M_OK = 0, M_SKIP, M_ERROR };
struct measurement {
	enum m_status status;
	char why[320];
	/* latency */
	uint64_t samples;
	uint64_t p50, p90, p99, p999, p9999, max; /* ns, one way */
	/* throughput (what the consumer received in the measured window) */
	double msgs_per_s, bytes_per_s;
	/* system calls over the whole stream (ring transports only) */
	bool have_wakes;
	double wakes_per_million;
	double ctxsw_per_million; /* voluntary context switches, both sides */
};

/*
 * The control page: MAP_SHARED | MAP_ANONYMOUS, made by the top-level process
 * before it forks the runner, so all three processes see it.
 */
struct ctl {
	_Atomic int ready; /* sides that finished init */
	_Atomic int stop;  /* throughput: consumer -> producer, "send the end" */
	_Atomic int err;   /* first error wins the CAS 0 -> 1, then fills errmsg */
	char errmsg[256];
	_Atomic int skip; /* setup said the transport cannot run */
	_Atomic int peer_pid;
	_Atomic int peer_reaped; /* the runner collected its peer */
	_Atomic int peer_status; /* its wait status, when it did */
	/* throughput, written by the consumer */
	uint64_t msgs, bytes;
	int64_t ns;
	uint64_t total_msgs; /* whole stream, warm-up included */
	bool have_wakes;
	uint64_t wakes;    /* over the whole stream */
	uint64_t nvcsw[2]; /* voluntary context switches per side, whole stream */
	/* latency, written by the client */
	struct hist hist;
	/* cleanup list */
	_Atomic int nclean;
	struct cleanup_entry clean[CLEAN_MAX];
};

extern struct ctl *bench_ctl; /* set by main.c */

/* One cell of the report: a transport, a benchmark, a size, over rounds. */
struct result {
	enum bench_kind kind;
	const char *name; /* the transport */
	size_t size;
	int rounds; /* measured */
	int nok, nskip, nerr;
	struct measurement med; /* medians over the rounds that succeeded */
	char why[320];          /* the reason of the first skip or error */
	struct measurement *m;  /* each round's measurement (rounds of them) */
};

/* What the header says about the machine and the method. */
#define IDLE_MAX_CPUS 64
struct run_info {
	char version[32];
	char cpu_model[128];
	int ncpu;
	char kernel[256];
	char date[64];
	const char *clock;
	double timer_ns; /* cost of one bench_now() */
	int ncpu_sampled;
	double busy[IDLE_MAX_CPUS], steal[IDLE_MAX_CPUS];
	bool idle_checked, idle;
	const struct options *o;
	const char *command; /* latency, throughput, all */
	bool pipe_added;     /* pipe was not asked for: added as the baseline */
};

/* run.c */
extern volatile sig_atomic_t bench_runner_pid; /* the measurement under way, or 0 */
void run_measurement(const struct transport *t, enum bench_kind kind, size_t size,
		     const struct options *o, struct measurement *m);
void run_cleanup(struct ctl *c);

/* report.c */
void report_header(FILE *f, const struct run_info *ri);
void report_table(FILE *f, const struct result *r, int n, const struct run_info *ri);
void report_json(FILE *f, const struct result *r, int n, const struct run_info *ri);
/* Draw with gnuplot; data files go beside the PNG. 0, or -1 with err set. */
int report_plot(const char *png, const struct result *r, int n, const struct run_info *ri,
		char *err, size_t errlen);

/* util.c */
void bench_fmt_size(char *buf, size_t len, size_t size);    /* "64", "4K", "1M" */
void bench_fmt_count(char *buf, size_t len, double v);      /* "12.3M" */
void bench_fmt_bytes_rate(char *buf, size_t len, double v); /* "1.23 GB/s" */
int bench_parse_size(const char *s, size_t *out);
double bench_median(double *v, int n);

#endif /* SHMRING_BENCH_HARNESS_H */
