/* SPDX-License-Identifier: MIT */
/*
 * cmd_top.c - `shmring top`: a live view of rings, refreshed every interval:
 * messages in and out per second, payload bytes per second, fill, sleepers,
 * futex wakeups per second, live and dead endpoints.
 *
 * Rates are differences between two views (view.c) of the same ring (same
 * name and creation time) divided by the time between them. Message and
 * wakeup counts are monotonic: an endpoint that closes folds its counts into
 * the ring's totals. Bytes are counted only per endpoint (the totals line has
 * no byte total), so bytes/s sums, per producer entry that is alive in both
 * views with the same generation, what it moved in between; a producer that
 * closed during the interval takes its last bytes with it.
 *
 * A plain ANSI terminal is enough: the screen is cleared and redrawn each
 * interval, lines are cut to the terminal's width, and the keyboard is read
 * in non-canonical mode for `q`. With --once or --iterations N, or when
 * standard output is not a terminal, frames are printed one after the other
 * with no escape sequences.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char top_help[] =
	"Usage: shmring top [NAME...] [--once | --iterations N] [--interval SECONDS]\n"
	"\n"
	"Watch rings live: the named ones, or every ring in /dev/shm (rescanned at\n"
	"each refresh). Columns: IN/S and OUT/S (messages sent and received per\n"
	"second), BYTES/S (payload bytes sent per second), FILL, SLEEP (threads\n"
	"asleep on the ring), WAKE/S (futex wakeups per second), PROD, CONS and DEAD\n"
	"(live producers, live consumers, endpoints whose process died).\n"
	"\n"
	"Press q to quit (or interrupt). Works in any ANSI terminal.\n"
	"\n"
	"  --interval SECONDS  time between refreshes (default 1, fractions allowed)\n"
	"  --iterations N      print N refreshes to standard output and exit\n"
	"  --once              the same as --iterations 1\n"
	"  -h, --help          this help\n"
	"\n"
	"With --once or --iterations, and whenever standard output is not a\n"
	"terminal, frames are printed one after another, without escape sequences;\n"
	"every printed frame has rates (the first one is measured over one\n"
	"interval).\n";

/* What the previous view of a ring said, to take differences from. */
struct seen {
	char name[NAME_MAX + 1];
	bool live;         /* found in the latest pass */
	uint64_t ctime_ns; /* a ring deleted and created again is another ring */
	uint64_t sent, received, wakeups;
	uint32_t sg[SR_EP_CONS_BASE];
	uint64_t bytes[SR_EP_CONS_BASE];
};

struct top {
	char **names; /* the rings asked for, or NULL for all */
	int nnames;
	struct seen *seen;
	int nseen, capseen;
	int64_t last_ns; /* CLOCK_MONOTONIC of the previous pass, 0 before the first */
	bool escapes;    /* clear the screen, cut to its size */
	struct table t;
	int shown, hidden; /* rings in this frame, and those cut for lack of rows */
};

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static struct seen *seen_find(struct top *tp, const char *name)
{
	for (int i = 0; i < tp->nseen; i++)
		if (!strcmp(tp->seen[i].name, name))
			return &tp->seen[i];
	if (tp->nseen == tp->capseen) {
		int cap = tp->capseen ? 2 * tp->capseen : 16;
		struct seen *more = realloc(tp->seen, (size_t)cap * sizeof(*more));
		if (!more)
			return NULL;
		tp->seen = more;
		tp->capseen = cap;
	}
	struct seen *s = &tp->seen[tp->nseen++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	return s;
}

/* Forget the rings that were not found in the latest pass. */
static void seen_prune(struct top *tp)
{
	int n = 0;
	for (int i = 0; i < tp->nseen; i++)
		if (tp->seen[i].live) {
			tp->seen[n] = tp->seen[i];
			tp->seen[n++].live = false;
		}
	tp->nseen = n;
}

static const char *const top_head[] = { "NAME",  "MODE",   "IN/S", "OUT/S", "BYTES/S", "FILL",
					"SLEEP", "WAKE/S", "PROD", "CONS",  "DEAD" };
#define TOP_NCOL ((int)(sizeof(top_head) / sizeof(top_head[0])))

/* The per-second rate of a counter that went from `before` to `now` in dt
 * seconds. Counters never go back, but a scribbled one may: "-" then. */
static const char *rate(char buf[32], uint64_t now, uint64_t before, double dt)
{
	return fmt_rate(buf, now >= before ? (double)(now - before) / dt : -1);
}

/* One ring's row: rates against what `prev` saw dt seconds ago (none when
 * dt <= 0 or the ring is new), then remember this view in `prev`. */
static void top_row(struct top *tp, const struct view *v, struct seen *prev, double dt)
{
	char name[ESC_NAME_MAX], c[TOP_NCOL][32];
	struct view_stats s;

	esc_name(name, sizeof(name), v->name);
	view_stats(v, &s);
	bool rates = prev && dt > 0 && prev->ctime_ns == v->h.cfg.ctime_ns;
	uint64_t dbytes = 0;
	for (unsigned i = 0; i < SR_EP_CONS_BASE; i++) {
		const struct sr_endpoint *e = &v->h.ep[i];
		uint32_t sg = ld_relaxed(&e->sg);
		uint64_t b = ld_relaxed(&e->bytes);
		if (rates && SR_EP_STATE(sg) == SR_EP_LIVE && sg == prev->sg[i] &&
		    b >= prev->bytes[i])
			dbytes += b - prev->bytes[i];
		if (prev) {
			prev->sg[i] = sg;
			prev->bytes[i] = b;
		}
	}
	snprintf(c[1], 32, "%s", shmring_mode_name((enum shmring_mode)v->g.mode));
	if (rates) {
		rate(c[2], s.sent, prev->sent, dt);
		rate(c[3], s.received, prev->received, dt);
		rate(c[4], dbytes, 0, dt);
		rate(c[7], s.wakeups, prev->wakeups, dt);
	} else {
		strcpy(c[2], "-");
		strcpy(c[3], "-");
		strcpy(c[4], "-");
		strcpy(c[7], "-");
	}
	snprintf(c[5], 32, "%.1f%%",
		 s.capacity ? 100.0 * (double)s.used / (double)s.capacity : 0.0);
	snprintf(c[6], 32, "%u", s.sleepers);
	snprintf(c[8], 32, "%u", s.producers);
	snprintf(c[9], 32, "%u", s.consumers);
	snprintf(c[10], 32, "%u", s.dead);
	const char *cells[TOP_NCOL] = { name, c[1], c[2], c[3], c[4], c[5],
					c[6], c[7], c[8], c[9], c[10] };
	table_add(&tp->t, cells);
	if (prev) {
		prev->ctime_ns = v->h.cfg.ctime_ns;
		prev->sent = s.sent;
		prev->received = s.received;
		prev->wakeups = s.wakeups;
	}
}

/* Look at one ring for this frame. Named rings that are gone or broken get
 * a row saying so; unnamed ones that are not rings are skipped. */
static void top_one(struct top *tp, const char *file, bool named, double dt, int max_rows)
{
	struct view v;
	char name[ESC_NAME_MAX];
	int rc = view_open(file, &v);

	if (rc < 0 || v.kind == VIEW_OTHER) {
		if (named) {
			char why[128];
			if (rc < 0)
				snprintf(why, sizeof(why), "%s", strerror(-rc));
			else
				snprintf(why, sizeof(why), "not a ring: %s", v.why);
			table_add_span(&tp->t, esc_name(name, sizeof(name), file), why);
		}
		if (rc == 0)
			view_close(&v);
		return;
	}
	if (max_rows > 0 && tp->shown >= max_rows) {
		tp->hidden++;
	} else if (v.kind != VIEW_RING) {
		char why[256];
		snprintf(why, sizeof(why), "%s: %s", view_status(&v), v.why);
		table_add_span(&tp->t, esc_name(name, sizeof(name), file), why);
		tp->shown++;
	} else {
		struct seen *prev = seen_find(tp, file);
		if (prev)
			prev->live = true;
		top_row(tp, &v, prev, dt);
		tp->shown++;
	}
	view_close(&v);
}

/* Build one frame in tp->t. dt: seconds since the previous pass (0: none). */
static void top_pass(struct top *tp, double dt, int max_rows)
{
	table_init(&tp->t, TOP_NCOL, top_head, "llrrrrrrrrr");
	tp->shown = tp->hidden = 0;
	if (tp->names) {
		for (int i = 0; i < tp->nnames; i++)
			top_one(tp, tp->names[i], true, dt, max_rows);
	} else {
		char **names;
		int n = list_names(&names);
		for (int i = 0; i < n; i++)
			if (strncmp(names[i], TEMP_PREFIX, strlen(TEMP_PREFIX)))
				top_one(tp, names[i], false, dt, max_rows);
		if (n > 0)
			names_free(names, n);
	}
	seen_prune(tp);
}

static void top_print(struct top *tp, double interval, int width)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	if (!localtime_r(&now, &tm) || !strftime(when, sizeof(when), "%H:%M:%S", &tm))
		snprintf(when, sizeof(when), "?");
	/* On a terminal: home, overwrite each line and clear its rest, clear
	 * below the last one; no flicker from clearing the whole screen. */
	const char *eol = tp->escapes ? "\033[K\n" : "\n";
	if (tp->escapes)
		fputs("\033[H", stdout);
	printf("shmring top  %s  %d ring%s  every %.3gs%s%s", when, tp->shown + tp->hidden,
	       tp->shown + tp->hidden == 1 ? "" : "s", interval, tp->escapes ? "  (q quits)" : "",
	       eol);
	table_print(&tp->t, stdout, width, eol);
	if (tp->hidden)
		printf("(%d more not shown)%s", tp->hidden, eol);
	fputs(tp->escapes ? "\033[J" : "\n", stdout);
	fflush(stdout);
	table_free(&tp->t);
}

/* Wait until `until` (CLOCK_MONOTONIC ns). Returns 1 when the user asked to
 * quit (q, or a signal), else 0. Reads the keyboard when `keys`. */
static int top_wait(int64_t until, bool keys)
{
	for (;;) {
		if (stop)
			return 1;
		int64_t left = until - now_mono_ns();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		int ms = (int)((left + 999999) / 1000000);
		int n = poll(&p, keys ? 1 : 0, ms);
		if (n > 0 && (p.revents & POLLIN)) {
			char ch;
			ssize_t got = read(STDIN_FILENO, &ch, 1);
			if (got == 1 && (ch == 'q' || ch == 'Q'))
				return 1;
			if (got <= 0)
				keys = false; /* end of input: stop watching it */
		} else if (n > 0) {
			keys = false; /* POLLHUP or POLLERR */
		}
	}
}

/* Take the rings named on the command line, checking each once, so that a
 * typo is an error rather than a row saying "No such file" forever. Returns
 * an exit code. */
static int top_names(struct top *tp, int n, char **names)
{
	tp->names = calloc((size_t)n, sizeof(char *));
	if (!tp->names) {
		errorf("top: %s", strerror(ENOMEM));
		return EXIT_FAIL;
	}
	tp->nnames = n;
	for (int i = 0; i < n; i++) {
		char file[NAME_MAX + 1];
		struct view v;
		int rc;

		if (ring_file_name(names[i], file, sizeof(file)) < 0)
			return usage_error("top", "invalid ring name '%s'", names[i]);
		if ((rc = view_open(file, &v)) < 0)
			return ring_error("top", names[i], rc);
		enum view_kind kind = v.kind;
		const char *why = v.why;
		view_close(&v);
		if (kind == VIEW_OTHER) {
			fprintf(stderr, "shmring: top ");
			put_name(stderr, names[i]);
			fprintf(stderr, ": not a ring: %s\n", why);
			return EXIT_FAIL;
		}
		if (!(tp->names[i] = strdup(file))) {
			errorf("top: %s", strerror(ENOMEM));
			return EXIT_FAIL;
		}
	}
	return EXIT_OK;
}

int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, '1' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t iterations = 0; /* 0: until q */
	int64_t interval = 1000000000;
	struct top tp = { 0 };
	int c, rc = EXIT_OK;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case '1':
			iterations = 1;
			break;
		case 'n':
			if (parse_count(optarg, &iterations) < 0 || iterations == 0)
				return usage_error(
					"top", "--iterations wants a count >= 1, not '%s'", optarg);
			break;
		case 'd':
			if (parse_seconds(optarg, &interval) < 0 || interval < 10000000)
				return usage_error("top",
						   "--interval wants seconds >= 0.01, not '%s'",
						   optarg);
			break;
		case 'h':
			fputs(top_help, stdout);
			return EXIT_OK;
		default:
			return bad_option("top", argv, c);
		}
	}

	if (optind < argc && (rc = top_names(&tp, argc - optind, argv + optind)) != EXIT_OK)
		goto out;

	bool batch = iterations || !isatty(STDOUT_FILENO);
	bool keys = !batch && isatty(STDIN_FILENO);
	struct termios saved, raw;
	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART: poll returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (keys && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		keys = false;
	}
	tp.escapes = !batch;

	if (tp.escapes)
		fputs("\033[H\033[2J", stdout); /* once; frames overwrite each other */
	double secs = (double)interval / 1e9;
	int64_t t0 = now_mono_ns(), last = t0;
	uint64_t printed = 0;
	for (uint64_t pass = 0;; pass++) {
		int width = 0, rows = 0;
		struct winsize ws;
		if (tp.escapes && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
			width = ws.ws_col;
			rows = ws.ws_row > 3 ? ws.ws_row - 3 : 1;
		}
		int64_t now = now_mono_ns();
		top_pass(&tp, pass ? (double)(now - last) / 1e9 : 0, rows);
		last = now;
		/* In batch mode the first pass only takes the baseline. */
		if (pass || !batch) {
			top_print(&tp, secs, width);
			printed++;
		} else {
			table_free(&tp.t);
		}
		if (iterations && printed >= iterations)
			break;
		if (top_wait(t0 + (int64_t)(pass + 1) * interval, keys))
			break;
	}
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (ferror(stdout)) {
		errorf("top: standard output: %s", strerror(EIO));
		rc = EXIT_FAIL;
	}
out:
	if (tp.names)
		names_free(tp.names, tp.nnames);
	free(tp.seen);
	return rc;
}
