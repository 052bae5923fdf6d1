/* SPDX-License-Identifier: MIT */
/*
 * cmd_bridge.c - `shmring bridge out RING ENDPOINT` and `shmring bridge in
 * ENDPOINT RING`: a ring carried to a ring on another host over ZeroMQ, by
 * the shmring_bridge library (bridge/). Built only when ZeroMQ is found;
 * the library and ZeroMQ are linked into this command, never into libshmring.
 *
 *     host A:  shmring bridge out feed tcp://hostB:5555
 *     host B:  shmring bridge in tcp://0.0.0.0:5555 feed
 *
 * Each runs until end of stream (every producer of the near ring gone and
 * the ring drained, then the marker crosses and IN closes its producer) or a
 * signal (SIGINT, SIGTERM, SIGHUP), logging connections, sessions, gaps and
 * a summary on standard error.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmring_bridge.h"

static const char bridge_help[] =
	"Usage: shmring bridge out RING ENDPOINT [OPTIONS]\n"
	"       shmring bridge in ENDPOINT RING [OPTIONS]\n"
	"\n"
	"Carry a ring's messages to a ring on another host, over ZeroMQ.\n"
	"\n"
	"  out  attach to RING as its consumer and send every message to ENDPOINT\n"
	"  in   receive from ENDPOINT and produce every message into RING (which\n"
	"       must exist: shmring create)\n"
	"\n"
	"  host A:  shmring bridge out feed tcp://hostB:5555\n"
	"  host B:  shmring bridge in tcp://*:5555 feed\n"
	"\n"
	"ENDPOINT is ZeroMQ's: tcp://HOST:PORT or ipc://PATH. `in` binds and `out`\n"
	"connects, either may start first, and the connecting side reconnects by\n"
	"itself; a host of * always binds, and a leading @ (bind) or > (connect) says\n"
	"it outright.\n"
	"\n"
	"Order is kept, and a slow far consumer makes the near producers wait, as a\n"
	"slow local one would. Every message carries a sequence number: what a\n"
	"broken connection or a restarted side loses is logged and counted in the far\n"
	"ring's `dropped` (shmring stat). When every producer of RING has gone and it\n"
	"is drained, `out` sends an end-of-stream marker; `in` then closes its\n"
	"producer, so the far consumers see end of file, and both exit. Nothing is\n"
	"stored on disk: messages in flight when a side dies are lost (and counted).\n"
	"\n"
	"Options:\n"
	"  --hwm N            ZeroMQ queue length, in messages (default 1000)\n"
	"  --batch N          most messages per ring call (default 1024)\n"
	"  --sockbuf SIZE     kernel socket buffers (K, M suffixes; default: the\n"
	"                     system's, autotuned)\n"
	"  --spin SECONDS     spin this long on an empty (out) or full (in) ring\n"
	"                     before sleeping (default 0: sleep at once)\n"
	"  --busy-poll        spin on the ring, never sleep (a spare core needed)\n"
	"  --linger SECONDS   out: at end of stream, wait at most this long for `in`\n"
	"                     to confirm the marker (default: as long as it takes)\n"
	"  --state NAME       the shared-memory object that remembers where the stream\n"
	"                     stands, so that a restarted side counts what was lost\n"
	"                     (default RING.bridge-out or RING.bridge-in; removed at\n"
	"                     end of stream)\n"
	"  --no-state         keep nothing: a restarted in counts no gap, a restarted\n"
	"                     out starts a new session (losses logged, not counted)\n"
	"  --print-endpoint   print the endpoint as ZeroMQ resolved it (the real port\n"
	"                     of tcp://HOST:*) on standard output, then go on\n"
	"  -q, --quiet        log only warnings and errors\n"
	"  -h, --help         this help\n"
	"\n"
	"Exit status: 0 at end of stream or when stopped by a signal, 1 on an error,\n"
	"2 on a usage error.\n";

static const char *verb = "bridge";
static bool quiet;
static shmring_bridge *running;

static void on_signal(int sig)
{
	(void)sig;
	shmring_bridge_stop(running); /* an atomic store: async-signal-safe */
}

static void log_line(void *arg, enum shmring_bridge_level lvl, const char *line)
{
	(void)arg;
	if (quiet && lvl == SHMRING_BRIDGE_INFO)
		return;
	struct timespec ts;
	struct tm tm;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "shmring %s: %s.%03ld %s%s\n", verb, when, ts.tv_nsec / 1000000,
		lvl == SHMRING_BRIDGE_ERROR  ? "error: "
		: lvl == SHMRING_BRIDGE_WARN ? "warning: "
					     : "",
		line);
}

static int open_error(const char *name, int err, bool producer)
{
	const char *hint = NULL;
	switch (err) {
	case -EBUSY:
		hint = producer ? "the ring takes one producer, and it has one"
				: "the ring takes one consumer, and it has one";
		break;
	case -EUSERS:
		hint = "the ring's endpoint table is full";
		break;
	case -ENOENT:
		hint = "no such ring: make it first with `shmring create`";
		break;
	case -EACCES:
		hint = "no read and write permission on the ring";
		break;
	}
	if (!hint)
		return ring_error(verb, name, err);
	fprintf(stderr, "shmring: %s ", verb);
	put_name(stderr, name);
	fprintf(stderr, ": %s (%s)\n", strerror(-err), hint);
	return EXIT_FAIL;
}

static int parse_int_opt(const char *opt, const char *s, int *out, bool size)
{
	uint64_t v;
	int rc = size ? parse_size(s, &v) : parse_count(s, &v);
	if (rc < 0 || v == 0 || v > INT32_MAX)
		return usage_error(verb, "%s wants %s from 1 to %d, not '%s'", opt,
				   size ? "a size" : "a count", INT32_MAX, s);
	*out = (int)v;
	return 0;
}

int cmd_bridge(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hwm", required_argument, NULL, 'H' },
		{ "batch", required_argument, NULL, 'b' },
		{ "sockbuf", required_argument, NULL, 'B' },
		{ "spin", required_argument, NULL, 's' },
		{ "busy-poll", no_argument, NULL, 'P' },
		{ "linger", required_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 'S' },
		{ "no-state", no_argument, NULL, 'N' },
		{ "print-endpoint", no_argument, NULL, 'e' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct shmring_bridge_config cfg = { 0 };
	const char *state = NULL;
	bool no_state = false, print_ep = false;
	int64_t ns;
	int c, rc;

	if (argc >= 2 && (!strcmp(argv[1], "out") || !strcmp(argv[1], "in"))) {
		verb = !strcmp(argv[1], "out") ? "bridge out" : "bridge in";
		argc--;
		argv++;
	}
	while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			if ((rc = parse_int_opt("--hwm", optarg, &cfg.hwm, false)))
				return rc;
			break;
		case 'b':
			if ((rc = parse_int_opt("--batch", optarg, &cfg.batch, false)))
				return rc;
			break;
		case 'B':
			if ((rc = parse_int_opt("--sockbuf", optarg, &cfg.sockbuf, true)))
				return rc;
			break;
		case 's':
			if (parse_seconds(optarg, &ns) < 0)
				return usage_error(verb, "--spin wants seconds >= 0, not '%s'",
						   optarg);
			cfg.spin_ns = ns ? ns : SHMRING_BRIDGE_DEFAULT_SPIN_NS;
			break;
		case 'P':
			cfg.spin_ns = -1;
			break;
		case 'l':
			if (parse_seconds(optarg, &ns) < 0 || ns / 1000000 > INT32_MAX)
				return usage_error(verb, "--linger wants seconds >= 0, not '%s'",
						   optarg);
			cfg.linger_ms = ns / 1000000 ? (int)(ns / 1000000) : -1;
			break;
		case 'S':
			state = optarg;
			break;
		case 'N':
			no_state = true;
			break;
		case 'e':
			print_ep = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(bridge_help, stdout);
			return EXIT_OK;
		default:
			return bad_option(verb, argv, c);
		}
	}
	if (!strcmp(verb, "bridge"))
		return usage_error(
			verb, argc > 1 ? "'%s' is neither out nor in" : "out or in is needed%s",
			argc > 1 ? argv[1] : "");
	bool out = !strcmp(verb, "bridge out");
	if (argc - optind != 2)
		return usage_error(verb, out ? "wants RING ENDPOINT" : "wants ENDPOINT RING");
	const char *name = argv[optind + (out ? 0 : 1)];
	const char *endpoint = argv[optind + (out ? 1 : 0)];
	char file[NAME_MAX + 1], state_buf[NAME_MAX + 32];
	if (ring_file_name(name, file, sizeof(file)) < 0)
		return usage_error(verb, "invalid ring name '%s'", name);
	if (!*endpoint || *endpoint == '-')
		return usage_error(verb, "invalid endpoint '%s'", endpoint);
	if (!out && cfg.linger_ms)
		return usage_error(verb, "--linger is for `bridge out`");
	if (!no_state) {
		if (!state) {
			if (strlen(file) + 12 > NAME_MAX)
				return usage_error(verb, "the ring name is too long for the "
							 "default --state: give one");
			int n = snprintf(state_buf, sizeof(state_buf), "/%s.bridge-%s", file,
					 out ? "out" : "in");
			if (n < 0 || (size_t)n >= sizeof(state_buf))
				return usage_error(verb, "the ring name is too long for the "
							 "default --state: give one");
			state = state_buf;
		} else if (ring_file_name(state, state_buf, sizeof(state_buf)) < 0) {
			return usage_error(verb, "invalid --state name '%s'", state);
		}
		cfg.state = state;
	}
	cfg.log = log_line;

	shmring *r;
	if ((rc = shmring_open(name, out ? SHMRING_CONSUMER : SHMRING_PRODUCER, &r)) < 0)
		return open_error(name, rc, !out);
	shmring_bridge *b;
	rc = shmring_bridge_new(out ? SHMRING_BRIDGE_OUT : SHMRING_BRIDGE_IN, r, endpoint, &cfg,
				&b);
	if (rc < 0) {
		shmring_close(r);
		if (rc == -EOPNOTSUPP) {
			fprintf(stderr, "shmring: %s ", verb);
			put_name(stderr, name);
			fprintf(stderr, ": a stream ring cannot be bridged (message rings only)\n");
		} else if (rc == -ENODEV) {
			errorf("%s: %s: %s (a bound endpoint takes an address or an interface "
			       "name, not a host name: tcp://*:PORT, tcp://ADDRESS:PORT)",
			       verb, endpoint, strerror(-rc));
		} else if (rc == -EINVAL || rc == -EPROTONOSUPPORT || rc == -ENOENT ||
			   rc == -EADDRINUSE || rc == -EADDRNOTAVAIL) {
			errorf("%s: %s: %s", verb, endpoint, strerror(-rc));
		} else {
			errorf("%s: %s", verb, strerror(-rc));
		}
		return EXIT_FAIL;
	}
	if (print_ep) {
		char ep[512];
		if (shmring_bridge_endpoint(b, ep, sizeof(ep)) >= 0) {
			printf("%s\n", ep);
			fflush(stdout);
		}
	}

	/* Signals end the waits (no SA_RESTART) and stop the loop. */
	running = b;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = shmring_bridge_run(b);

	struct shmring_bridge_stats st;
	shmring_bridge_stats(b, &st);
	if (rc == -EINTR)
		log_line(NULL, SHMRING_BRIDGE_INFO, "stopped by a signal");
	if (out) {
		char m[200];
		snprintf(m, sizeof(m),
			 "sent %llu messages (%llu bytes) in %llu batches as session %08x, "
			 "%llu too large%s",
			 (unsigned long long)st.messages, (unsigned long long)st.bytes,
			 (unsigned long long)st.batches, st.session,
			 (unsigned long long)st.oversize,
			 st.eos ? ", then the end-of-stream marker" : "");
		log_line(NULL, st.oversize ? SHMRING_BRIDGE_WARN : SHMRING_BRIDGE_INFO, m);
	} else {
		char m[320];
		snprintf(m, sizeof(m),
			 "put %llu messages (%llu bytes) into the ring in %llu batches; "
			 "%llu gaps (%llu messages lost), %llu sessions (%llu replaced before "
			 "their end), %llu late, %llu rejected, %llu too large%s",
			 (unsigned long long)st.messages, (unsigned long long)st.bytes,
			 (unsigned long long)st.batches, (unsigned long long)st.gaps,
			 (unsigned long long)st.lost, (unsigned long long)st.sessions,
			 (unsigned long long)st.unended, (unsigned long long)st.late,
			 (unsigned long long)st.rejected, (unsigned long long)st.oversize,
			 st.eos ? "; end of stream" : "");
		log_line(NULL,
			 st.lost || st.rejected || st.oversize ? SHMRING_BRIDGE_WARN
							       : SHMRING_BRIDGE_INFO,
			 m);
	}
	shmring_bridge_close(b);
	running = NULL;
	return rc == 0 || rc == -EINTR ? EXIT_OK : EXIT_FAIL;
}
