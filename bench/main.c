/* SPDX-License-Identifier: MIT */
/*
 * main.c - shmring-bench's command line, the idle check, the rounds (every
 * transport once per round, the order rotated from round to round) and the
 * medians over rounds; run.c measures, report.c prints.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <sched.h>
#include <shmring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TP 64
#define MAX_SIZES 32
#define MAX_ROUNDS 100

static const char *const default_transports[] = {
	"floor", "ring-spin", "ring", "ring-block", "stream",
	"pipe",  "unix",      "tcp",  "eventfd",    "mq",
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmring-bench [all|latency|throughput|list] [options]\n"
		"\n"
		"  all (the default)  latency at 64 B and 4 KiB, throughput at 64 B and 64 KiB, of\n"
		"                     floor ring-spin ring ring-block stream pipe unix tcp eventfd mq;\n"
		"                     writes DIR/results.txt, .json and .png (under a minute)\n"
		"  latency            ping-pong between two pinned processes: one-way percentiles\n"
		"  throughput         one-way stream for a fixed time: messages/s, bytes/s\n"
		"  list               the transports, and the ones this build left out\n"
		"\n"
		"options:\n"
		"  --transports a,b,...  transports (names from `list`, or `all`, or `default`);\n"
		"                        pipe is added as the baseline unless --no-baseline\n"
		"  --sizes 64,4K,...     message sizes, 8 B to 64 MiB (K and M are binary)\n"
		"  --lat-sizes, --thr-sizes   the same, for one benchmark of `all`\n"
		"  --iters N             latency: round trips per measurement, at most (100000)\n"
		"  --seconds S           throughput: measured time; latency: time cap (0.15)\n"
		"  --warmup S            warm-up before each measurement (0.03)\n"
		"  --cpus A,B            CPUs of the two processes (0,1); --cpus A: one core\n"
		"  --rate N              send at N messages/s, latency measured from the intended\n"
		"                        send time (no coordinated omission)\n"
		"  --rounds R            rounds, medians reported (3; 5 with --long)\n"
		"  --long                the measurement campaign: 5 rounds, 1000000 iters, 2 s\n"
		"  --batch N             messages per sendv/recvv for ring-batch (32)\n"
		"  --json                JSON lines on stdout instead of the table\n"
		"  --plot FILE.png       draw the results (gnuplot)\n"
		"  --out DIR             write results.txt, results.json, results.png there\n"
		"                        (`all`: ./bench-results by default)\n"
		"  --no-baseline         do not add pipe\n"
		"  --no-idle-check       skip the 0.5 s look at /proc/stat\n"
		"  -v, --verbose         progress on stderr\n");
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "shmring-bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* A whole decimal number in [lo, hi] for option opt, or die. */
static long long parse_num(const char *opt, const char *s, long long lo, long long hi)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno || v < lo || v > hi)
		die("bad %s '%s' (a whole number, %lld to %lld)", opt, s, lo, hi);
	return v;
}

static int parse_sizes(const char *arg, size_t *out)
{
	char *dup = strdup(arg), *save = NULL;
	int n = 0;
	for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t v;
		if (bench_parse_size(tok, &v) < 0)
			die("bad size '%s'", tok);
		if (v < 8)
			die("size %zu: sizes start at 8 bytes (the sequence stamp)", v);
		if (v > ((size_t)64 << 20))
			die("size %zu: at most 64 MiB", v);
		if (n == MAX_SIZES)
			die("too many sizes");
		out[n++] = v;
	}
	free(dup);
	if (!n)
		die("no sizes in '%s'", arg);
	return n;
}

/* A transport by name: a built one, or a not-built one (kept, to be reported
 * as skipped), or an error. */
struct tp_ref {
	const char *name;
	const struct transport *t; /* NULL: not built */
	const char *why;
};

static bool add_tp(struct tp_ref *v, int *n, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (strcmp(v[i].name, name) == 0)
			return true;
	if (*n == MAX_TP)
		die("too many transports");
	const struct transport *t = bench_find_transport(name);
	if (t) {
		v[(*n)++] = (struct tp_ref){ t->name, t, NULL };
		return true;
	}
	for (int i = 0; bench_not_built[i][0]; i++)
		if (strcmp(bench_not_built[i][0], name) == 0) {
			v[(*n)++] = (struct tp_ref){ bench_not_built[i][0], NULL,
						     bench_not_built[i][1] };
			return true;
		}
	return false;
}

static int parse_transports(const char *arg, struct tp_ref *v)
{
	char *dup = strdup(arg), *save = NULL;
	int n = 0;
	for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "all") == 0) {
			for (unsigned i = 0; i < bench_ntransports; i++)
				add_tp(v, &n, bench_transports[i]->name);
			for (int i = 0; bench_not_built[i][0]; i++)
				add_tp(v, &n, bench_not_built[i][0]);
		} else if (strcmp(tok, "default") == 0) {
			for (size_t i = 0;
			     i < sizeof(default_transports) / sizeof(*default_transports); i++)
				add_tp(v, &n, default_transports[i]);
		} else if (!add_tp(v, &n, tok)) {
			die("unknown transport '%s' (see: shmring-bench list)", tok);
		}
	}
	free(dup);
	if (!n)
		die("no transports in '%s'", arg);
	return n;
}

static void list_transports(void)
{
	printf("%-15s %-11s %s\n", "transport", "benchmarks", "what it is");
	for (unsigned i = 0; i < bench_ntransports; i++) {
		const struct transport *t = bench_transports[i];
		char caps[32];
		snprintf(caps, sizeof(caps), "%s%s%s", t->caps & TP_LAT ? "lat" : "",
			 (t->caps & TP_LAT) && (t->caps & TP_THR) ? "," : "",
			 t->caps & TP_THR ? "thr" : "");
		printf("%-15s %-11s %s\n", t->name, caps, t->desc);
	}
	for (int i = 0; bench_not_built[i][0]; i++)
		printf("%-15s %-11s %s\n", bench_not_built[i][0], "-", bench_not_built[i][1]);
}

/* ---- the machine ---- */

struct cpustat {
	unsigned long long busy, total, steal;
};

static int read_stat(struct cpustat *s, int max)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[512];
	int n = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		int cpu;
		unsigned long long v[10] = { 0 };
		if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9')
			continue;
		if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 9 ||
		    cpu < 0 || cpu >= max)
			continue;
		/* user nice system idle iowait irq softirq steal */
		unsigned long long total = 0;
		for (int i = 0; i < 8; i++)
			total += v[i];
		s[cpu].total = total;
		s[cpu].busy = total - v[3] - v[4];
		s[cpu].steal = v[7];
		if (cpu + 1 > n)
			n = cpu + 1;
	}
	fclose(f);
	return n;
}

static void idle_check(struct run_info *ri)
{
	struct cpustat a[IDLE_MAX_CPUS] = { { 0 } }, b[IDLE_MAX_CPUS] = { { 0 } };
	int na = read_stat(a, IDLE_MAX_CPUS);
	struct timespec ts = { 0, 500 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	int nb = read_stat(b, IDLE_MAX_CPUS);
	int n = na < nb ? na : nb;
	if (!n)
		return;
	ri->idle_checked = true;
	ri->idle = true;
	ri->ncpu_sampled = n;
	for (int i = 0; i < n; i++) {
		double dt = (double)(b[i].total - a[i].total);
		ri->busy[i] = dt > 0 ? (double)(b[i].busy - a[i].busy) / dt : 0;
		ri->steal[i] = dt > 0 ? (double)(b[i].steal - a[i].steal) / dt : 0;
		if ((i == ri->o->cpu[0] || i == ri->o->cpu[1]) && ri->busy[i] > 0.10)
			ri->idle = false;
	}
}

static void machine(struct run_info *ri)
{
	snprintf(ri->version, sizeof(ri->version), "%d.%d.%d", SHMRING_VERSION_MAJOR,
		 SHMRING_VERSION_MINOR, SHMRING_VERSION_PATCH);
	snprintf(ri->cpu_model, sizeof(ri->cpu_model), "unknown CPU");
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && c) {
			c++;
			while (*c == ' ' || *c == '\t')
				c++;
			c[strcspn(c, "\n")] = 0;
			snprintf(ri->cpu_model, sizeof(ri->cpu_model), "%s", c);
			break;
		}
	}
	if (f)
		fclose(f);
	ri->ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(ri->kernel, sizeof(ri->kernel), "%s %s", u.release, u.machine);
	time_t now = time(NULL);
	struct tm tm;
	strftime(ri->date, sizeof(ri->date), "%Y-%m-%d %H:%M:%S %Z", localtime_r(&now, &tm));
	ri->clock = bench_clock_name();
	int64_t t0 = bench_now(), t = 0;
	for (int i = 0; i < 100000; i++)
		t += bench_now();
	ri->timer_ns = (double)(bench_now() - t0) / 100000;
	(void)t;
}

/* ---- medians ---- */

static void summarise(struct result *r)
{
	double v[MAX_ROUNDS];
	int k;
	r->nok = r->nskip = r->nerr = 0;
	r->why[0] = 0;
	for (int i = 0; i < r->rounds; i++) {
		const struct measurement *m = &r->m[i];
		if (m->status == M_OK) {
			r->nok++;
			continue;
		}
		if (m->status == M_SKIP)
			r->nskip++;
		else
			r->nerr++;
		if (!r->why[0] || (m->status == M_ERROR && r->nerr == 1))
			snprintf(r->why, sizeof(r->why), "%s", m->why);
	}
	memset(&r->med, 0, sizeof(r->med));
	if (!r->nok)
		return;
#define MEDIAN(field)                                                                 \
	do {                                                                          \
		k = 0;                                                                \
		for (int i = 0; i < r->rounds; i++)                                   \
			if (r->m[i].status == M_OK)                                   \
				v[k++] = (double)r->m[i].field;                       \
		r->med.field = (__typeof__(r->med.field))llround(bench_median(v, k)); \
	} while (0)
	MEDIAN(samples);
	MEDIAN(p50);
	MEDIAN(p90);
	MEDIAN(p99);
	MEDIAN(p999);
	MEDIAN(p9999);
	MEDIAN(max);
#undef MEDIAN
#define MEDIAN_D(field)                                 \
	do {                                            \
		k = 0;                                  \
		for (int i = 0; i < r->rounds; i++)     \
			if (r->m[i].status == M_OK)     \
				v[k++] = r->m[i].field; \
		r->med.field = bench_median(v, k);      \
	} while (0)
	MEDIAN_D(msgs_per_s);
	MEDIAN_D(bytes_per_s);
	r->med.have_wakes = r->m[0].have_wakes;
	for (int i = 0; i < r->rounds; i++)
		if (r->m[i].status == M_OK)
			r->med.have_wakes = r->m[i].have_wakes;
	if (r->med.have_wakes) {
		MEDIAN_D(wakes_per_million);
		MEDIAN_D(ctxsw_per_million);
	}
#undef MEDIAN_D
	r->med.status = M_OK;
}

/* Ctrl-C or kill: end the measurement's processes, remove what they made
 * (SysV queues outlive everyone), then die of the same signal. */
static void on_fatal_signal(int sig)
{
	pid_t r = bench_runner_pid;
	if (r > 0)
		kill(r, SIGKILL);
	if (bench_ctl) {
		pid_t p = atomic_load(&bench_ctl->peer_pid);
		if (r > 0 && p > 0 && !atomic_load(&bench_ctl->peer_reaped))
			kill(p, SIGKILL);
		while (waitpid(-1, NULL, 0) > 0)
			;
		run_cleanup(bench_ctl);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static FILE *open_out(const char *dir, const char *file, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", dir, file);
	FILE *f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	return f;
}

static bool cpu_allowed(int cpu)
{
	cpu_set_t set;
	if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof(set), &set) < 0)
		return false;
	return CPU_ISSET(cpu, &set);
}

int main(int argc, char **argv)
{
	const char *cmd = "all";
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argv++;
		argc--;
	}
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "list") == 0) {
		list_transports();
		return 0;
	}
	bool all = strcmp(cmd, "all") == 0;
	if (!all && strcmp(cmd, "latency") && strcmp(cmd, "throughput")) {
		usage(stderr);
		die("unknown command '%s'", cmd);
	}

	struct options o = { .cpu = { 0, 1 }, .batch = 32 };
	struct tp_ref tps[MAX_TP];
	int ntp = 0, nlat = 0, nthr = 0;
	size_t lat_sizes[MAX_SIZES], thr_sizes[MAX_SIZES];
	bool json = false, lng = false, baseline = true, check_idle = true, cpus_given = false;
	const char *plot = NULL, *out = NULL;
	double seconds = -1, warmup = -1;
	long long iters = -1;
	int rounds = -1;

	enum { O_LAT = 256, O_THR, O_WARM, O_BATCH, O_NOBASE, O_NOIDLE, O_OUT };
	static const struct option lo[] = {
		{ "transports", required_argument, NULL, 't' },
		{ "sizes", required_argument, NULL, 's' },
		{ "lat-sizes", required_argument, NULL, O_LAT },
		{ "thr-sizes", required_argument, NULL, O_THR },
		{ "iters", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "warmup", required_argument, NULL, O_WARM },
		{ "cpus", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "rounds", required_argument, NULL, 'R' },
		{ "long", no_argument, NULL, 'L' },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "json", no_argument, NULL, 'j' },
		{ "plot", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, O_OUT },
		{ "no-baseline", no_argument, NULL, O_NOBASE },
		{ "no-idle-check", no_argument, NULL, O_NOIDLE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "t:s:n:S:c:r:R:Ljp:vh", lo, NULL)) != -1) {
		char *end;
		switch (c) {
		case 't':
			ntp = parse_transports(optarg, tps);
			break;
		case 's':
			nlat = parse_sizes(optarg, lat_sizes);
			nthr = parse_sizes(optarg, thr_sizes);
			break;
		case O_LAT:
			nlat = parse_sizes(optarg, lat_sizes);
			break;
		case O_THR:
			nthr = parse_sizes(optarg, thr_sizes);
			break;
		case 'n':
			iters = parse_num("--iters", optarg, 1, LLONG_MAX);
			break;
		case 'S':
			seconds = strtod(optarg, &end);
			if (*end || !(seconds > 0) || seconds > 3600)
				die("bad --seconds '%s'", optarg);
			break;
		case O_WARM:
			warmup = strtod(optarg, &end);
			if (*end || !(warmup >= 0) || warmup > 600)
				die("bad --warmup '%s'", optarg);
			break;
		case 'c': { /* A or A,B */
			char a[32];
			const char *comma = strchr(optarg, ',');
			size_t la = comma ? (size_t)(comma - optarg) : strlen(optarg);
			if (la >= sizeof(a))
				die("bad --cpus '%s'", optarg);
			memcpy(a, optarg, la);
			a[la] = 0;
			o.cpu[0] = (int)parse_num("--cpus", a, 0, CPU_SETSIZE - 1);
			o.cpu[1] = comma ? (int)parse_num("--cpus", comma + 1, 0, CPU_SETSIZE - 1)
					 : o.cpu[0];
			cpus_given = true;
			break;
		}
		case 'r':
			/* A period of at least 1 ns (1e9/s); inf, nan and 0 are no rate */
			o.rate = strtod(optarg, &end);
			if (end == optarg || *end || !isfinite(o.rate) || !(o.rate > 0) ||
			    o.rate > 1e9)
				die("bad --rate '%s' (messages per second, more than 0, at most 1e9)",
				    optarg);
			break;
		case 'R':
			rounds = (int)parse_num("--rounds", optarg, 1, MAX_ROUNDS);
			break;
		case 'L':
			lng = true;
			break;
		case O_BATCH:
			o.batch = (int)parse_num("--batch", optarg, 1, 1024);
			break;
		case 'j':
			json = true;
			break;
		case 'p':
			plot = optarg;
			break;
		case O_OUT:
			out = optarg;
			break;
		case O_NOBASE:
			baseline = false;
			break;
		case O_NOIDLE:
			check_idle = false;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		die("unexpected argument '%s'", argv[optind]);

	o.rounds = rounds > 0 ? rounds : lng ? 5 : 3;
	o.iters = iters > 0 ? (uint64_t)iters : lng ? 1000000 : 100000;
	o.seconds = seconds > 0 ? seconds : lng ? 2.0 : 0.15;
	o.warmup = warmup >= 0 ? warmup : lng ? 0.5 : 0.03;
	/* A paced run sends at least 100 messages in its window: fewer make no
	 * percentiles, and a throughput consumer looks at the clock only every
	 * 64 messages. */
	if (o.rate > 0 && o.rate * o.seconds < 100)
		die("--rate %g sends %.0f messages in %g s: at least 100 are needed (a higher "
		    "rate, or more --seconds)",
		    o.rate, o.rate * o.seconds, o.seconds);
	if (!ntp)
		ntp = parse_transports("default", tps);
	bool do_lat = all || strcmp(cmd, "latency") == 0;
	bool do_thr = all || strcmp(cmd, "throughput") == 0;
	if (!nlat) {
		lat_sizes[0] = 64;
		lat_sizes[1] = 4096;
		nlat = 2;
	}
	if (!nthr) {
		thr_sizes[0] = 64;
		thr_sizes[1] = 65536;
		nthr = 2;
	}
	if (!do_lat)
		nlat = 0;
	if (!do_thr)
		nthr = 0;
	if (all && !out)
		out = "bench-results";

	struct run_info ri = { .o = &o, .command = cmd };
	if (baseline && !bench_find_transport("pipe"))
		baseline = false;
	bool have_pipe = false;
	for (int i = 0; i < ntp; i++)
		have_pipe |= strcmp(tps[i].name, "pipe") == 0;
	if (baseline && !have_pipe) {
		add_tp(tps, &ntp, "pipe");
		ri.pipe_added = true;
	}

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (!cpus_given && ncpu < 2)
		o.cpu[1] = o.cpu[0];
	if (!cpus_given && !cpu_allowed(o.cpu[1]))
		o.cpu[1] = o.cpu[0];
	for (int i = 0; i < 2; i++)
		if (!cpu_allowed(o.cpu[i]))
			die("CPU %d is not available to this process", o.cpu[i]);
	bench_same_cpu = o.cpu[0] == o.cpu[1];

	/* Everything below forks: the clock is calibrated once, here, and the
	 * control page is shared by every process. */
	bench_clock_init();
	machine(&ri);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	bench_ctl = bench_shared_alloc(sizeof(struct ctl));
	if (!bench_ctl)
		die("cannot map the control page: %s", strerror(errno));
	struct sigaction sa = { .sa_handler = on_fatal_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (out && mkdir(out, 0777) < 0 && errno != EEXIST)
		die("%s: %s", out, strerror(errno));
	char path[4096], png[4096];
	bool plot_asked = plot != NULL; /* else a missing gnuplot is only a warning */
	if (!plot && out) {
		snprintf(png, sizeof(png), "%s/results.png", out);
		plot = png;
	}

	if (check_idle)
		idle_check(&ri);
	if (!json) {
		report_header(stdout, &ri);
		fflush(stdout);
	}

	/* The cells, in report order: benchmark, size, transport. */
	int ncell = ntp * (nlat + nthr);
	struct result *res = calloc((size_t)ncell, sizeof(*res));
	struct measurement *ms = calloc((size_t)ncell * (size_t)o.rounds, sizeof(*ms));
	if (!res || !ms)
		die("out of memory");
	int k = 0;
	for (int b = 0; b < 2; b++) {
		int ns = b == BENCH_LAT ? nlat : nthr;
		size_t *sizes = b == BENCH_LAT ? lat_sizes : thr_sizes;
		for (int s = 0; s < ns; s++)
			for (int t = 0; t < ntp; t++, k++) {
				res[k].kind = (enum bench_kind)b;
				res[k].name = tps[t].name;
				res[k].size = sizes[s];
				res[k].rounds = o.rounds;
				res[k].m = &ms[(size_t)k * (size_t)o.rounds];
			}
	}

	bool tty = isatty(2);
	for (int round = 0; round < o.rounds; round++) {
		k = 0;
		for (int b = 0; b < 2; b++) {
			int ns = b == BENCH_LAT ? nlat : nthr;
			for (int s = 0; s < ns; s++, k += ntp) {
				for (int j = 0; j < ntp; j++) {
					int t = (j + round) % ntp; /* rotated each round */
					struct result *r = &res[k + t];
					struct measurement *m = &r->m[round];
					if (!tps[t].t) {
						m->status = M_SKIP;
						snprintf(m->why, sizeof(m->why), "%s", tps[t].why);
						continue;
					}
					if (o.verbose || tty) {
						char sz[16];
						bench_fmt_size(sz, sizeof(sz), r->size);
						fprintf(stderr, "%s[round %d/%d] %-10s %-15s %5s%s",
							tty ? "\r\033[K" : "", round + 1, o.rounds,
							b == BENCH_LAT ? "latency" : "throughput",
							r->name, sz, tty ? "" : "\n");
					}
					run_measurement(tps[t].t, (enum bench_kind)b, r->size, &o,
							m);
					if (o.verbose && m->status == M_ERROR)
						fprintf(stderr, "%s  error: %s\n", tty ? "\n" : "",
							m->why);
				}
			}
		}
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	for (int i = 0; i < ncell; i++)
		summarise(&res[i]);

	if (json)
		report_json(stdout, res, ncell, &ri);
	else
		report_table(stdout, res, ncell, &ri);
	if (out) {
		FILE *f = open_out(out, "results.txt", path, sizeof(path));
		report_header(f, &ri);
		report_table(f, res, ncell, &ri);
		fclose(f);
		f = open_out(out, "results.json", path, sizeof(path));
		report_json(f, res, ncell, &ri);
		fclose(f);
	}
	int rc = 0;
	if (plot) {
		char err[256];
		if (report_plot(plot, res, ncell, &ri, err, sizeof(err)) < 0) {
			fprintf(stderr, "shmring-bench: plot: %s\n", err);
			if (plot_asked)
				rc = 1;
			plot = NULL;
		}
	}
	if (!json) {
		if (out)
			printf("\nwritten: %s/results.txt, %s/results.json%s%s\n", out, out,
			       plot ? ", " : "", plot ? plot : "");
		else if (plot)
			printf("\nwritten: %s\n", plot);
	}
	for (int i = 0; i < ncell; i++)
		if (res[i].nerr)
			rc = 1;
	free(ms);
	free(res);
	return rc;
}
