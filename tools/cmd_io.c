/* SPDX-License-Identifier: MIT */
/*
 * cmd_io.c - `shmring put` (standard input to messages, as a producer) and
 * `shmring get` (messages to standard output, as a consumer), so that a shell
 * pipeline can go through a ring:
 *
 *     shmring put feed < lines.txt &        shmring get feed | wc -l
 *
 * put closes its producer at the end of its input; get sees end of file
 * (-EPIPE from shmring_recv once the ring is drained, as a pipe's reader sees
 * 0) and exits 0. On a stream ring (SHMRING_STREAM) both copy bytes, with
 * shmring_write and shmring_read, as cat would through a pipe. Both use the
 * public API only.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Report a failed open or transfer on `name`, with a hint for the errors
 * whose strerror says little here. Returns EXIT_FAIL. */
static int io_error(const char *cmd, const char *name, int err, bool producer)
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
	case -EPIPE:
		hint = "every consumer has gone";
		break;
	case -EACCES:
		hint = "no read and write permission on the ring";
		break;
	}
	if (!hint)
		return ring_error(cmd, name, err);
	fprintf(stderr, "shmring: %s ", cmd);
	put_name(stderr, name);
	fprintf(stderr, ": %s (%s)\n", strerror(-err), hint);
	return EXIT_FAIL;
}

/* The largest read or write of a stream copy. */
#define STREAM_CHUNK ((size_t)64 << 10)

/* ---- put ---- */

static const char put_help[] =
	"Usage: shmring put NAME [--raw SIZE]\n"
	"\n"
	"Attach to ring NAME as a producer and send standard input to it: one\n"
	"message per line, without its newline (an empty line is an empty message),\n"
	"or with --raw, chunks of SIZE bytes (the last one may be shorter). A full\n"
	"ring is waited on. At the end of input the producer closes, and a consumer\n"
	"that has drained the ring sees end of file. On a stream ring, the input is\n"
	"copied byte for byte, newlines included.\n"
	"\n"
	"A line longer than the ring's largest message is an error; so is a ring\n"
	"whose consumers have all gone.\n"
	"\n"
	"  --raw SIZE   binary chunks of SIZE bytes (K, M, G suffixes), at most the\n"
	"               ring's largest message (streams: the largest write)\n"
	"  -h, --help   this help\n";

/* Read up to n bytes, as many as there are before end of input. Returns
 * the count, or -errno. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Send stdin in chunks of `chunk` bytes. Returns an exit code. */
static int put_raw(shmring *r, const char *name, size_t chunk)
{
	char *buf = malloc(chunk);
	int rc = EXIT_OK;

	if (!buf)
		return io_error("put", name, -ENOMEM, true);
	for (;;) {
		ssize_t n = read_full(STDIN_FILENO, buf, chunk);
		if (n < 0) {
			errorf("put: standard input: %s", strerror((int)-n));
			rc = EXIT_FAIL;
			break;
		}
		if (n == 0)
			break;
		int err = shmring_send(r, buf, (size_t)n, -1);
		if (err < 0) {
			rc = io_error("put", name, err, true);
			break;
		}
		if ((size_t)n < chunk)
			break;
	}
	free(buf);
	return rc;
}

/* Copy stdin to a stream ring, forwarding each read as it arrives, in writes
 * of at most `chunk` bytes. Returns an exit code. */
static int put_stream(shmring *r, const char *name, size_t chunk)
{
	char *buf = malloc(chunk);
	int rc = EXIT_OK;

	if (!buf)
		return io_error("put", name, -ENOMEM, true);
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			errorf("put: standard input: %s", strerror(errno));
			rc = EXIT_FAIL;
			break;
		}
		if (n == 0)
			break;
		/* A blocking write moves everything, as write(2) to a pipe does. */
		for (ssize_t done = 0, w; done < n; done += w) {
			w = shmring_write(r, buf + done, (size_t)(n - done), -1);
			if (w < 0) {
				rc = io_error("put", name, (int)w, true);
				goto out;
			}
		}
	}
out:
	free(buf);
	return rc;
}

/* Send stdin line by line. Returns an exit code. */
static int put_lines(shmring *r, const char *name, size_t max_msg)
{
	char *line = NULL;
	size_t cap = 0;
	uint64_t lineno = 0;
	int rc = EXIT_OK;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		size_t len = (size_t)n;
		lineno++;
		if (len && line[len - 1] == '\n')
			len--;
		if (len > max_msg) {
			fprintf(stderr, "shmring: put ");
			put_name(stderr, name);
			fprintf(stderr,
				": line %llu is %zu bytes, more than the ring's largest message "
				"(%zu bytes): %s\n",
				(unsigned long long)lineno, len, max_msg, strerror(EMSGSIZE));
			rc = EXIT_FAIL;
			break;
		}
		int err = shmring_send(r, line, len, -1);
		if (err < 0) {
			rc = io_error("put", name, err, true);
			break;
		}
	}
	if (rc == EXIT_OK && ferror(stdin)) {
		errorf("put: standard input: %s", strerror(errno));
		rc = EXIT_FAIL;
	}
	free(line);
	return rc;
}

int cmd_put(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "raw", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char file[NAME_MAX + 1];
	uint64_t raw = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (parse_size(optarg, &raw) < 0 || raw == 0 || raw > SIZE_MAX)
				return usage_error("put", "--raw wants a size >= 1, not '%s'",
						   optarg);
			break;
		case 'h':
			fputs(put_help, stdout);
			return EXIT_OK;
		default:
			return bad_option("put", argv, c);
		}
	}
	if (argc - optind != 1)
		return usage_error("put", argc == optind ? "a ring NAME is needed"
							 : "one ring NAME at a time");
	const char *name = argv[optind];
	if (ring_file_name(name, file, sizeof(file)) < 0)
		return usage_error("put", "invalid ring name '%s'", name);

	shmring *r;
	struct shmring_stat st;
	if ((rc = shmring_open(name, SHMRING_PRODUCER, &r)) < 0)
		return io_error("put", name, rc, true);
	if ((rc = shmring_stat(r, &st)) < 0) {
		shmring_close(r);
		return io_error("put", name, rc, true);
	}
	if (st.flags & SHMRING_STREAM) {
		rc = put_stream(r, name, raw ? (size_t)raw : STREAM_CHUNK);
	} else if (raw > st.max_msg) {
		fprintf(stderr, "shmring: put ");
		put_name(stderr, name);
		fprintf(stderr,
			": --raw %llu is more than the ring's largest message (%zu bytes)\n",
			(unsigned long long)raw, st.max_msg);
		rc = EXIT_FAIL;
	} else if (raw) {
		rc = put_raw(r, name, (size_t)raw);
	} else {
		rc = put_lines(r, name, st.max_msg);
	}
	shmring_close(r);
	return rc;
}

/* ---- get ---- */

static const char get_help[] =
	"Usage: shmring get NAME [--count N] [--timeout SECONDS] [--raw]\n"
	"\n"
	"Attach to ring NAME as a consumer and write its messages to standard\n"
	"output, each followed by a newline (or as they are, with --raw), until end\n"
	"of file: every producer that attached has closed or died and the ring is\n"
	"drained. A ring that no producer has attached to yet is waited on. From a\n"
	"stream ring, bytes are copied as they are, and --count counts bytes.\n"
	"\n"
	"  --count N          stop after N messages (streams: bytes)\n"
	"  --timeout SECONDS  give up SECONDS after starting (fractions allowed;\n"
	"                     0 takes only what is there); giving up is a failure\n"
	"  --raw              no newline after each message\n"
	"  -h, --help         this help\n"
	"\n"
	"Exit status 0 at end of file or after N messages, 1 on a timeout or error.\n";

/* One message (or, from a stream, up to cap bytes) into buf. Returns its
 * length, -EPIPE at end of file, or another negative errno. */
static ssize_t get_one(shmring *r, bool stream, void *buf, size_t cap, int64_t timeout_ns)
{
	if (!stream)
		return shmring_recv(r, buf, cap, timeout_ns);
	ssize_t n = shmring_read(r, buf, cap, timeout_ns);
	return n == 0 ? -EPIPE : n;
}

int cmd_get(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char file[NAME_MAX + 1];
	uint64_t count = 0, got = 0;
	int64_t timeout = -1;
	bool raw = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_count(optarg, &count) < 0 || count == 0)
				return usage_error("get", "--count wants a count >= 1, not '%s'",
						   optarg);
			break;
		case 't':
			if (parse_seconds(optarg, &timeout) < 0)
				return usage_error("get", "--timeout wants seconds >= 0, not '%s'",
						   optarg);
			break;
		case 'r':
			raw = true;
			break;
		case 'h':
			fputs(get_help, stdout);
			return EXIT_OK;
		default:
			return bad_option("get", argv, c);
		}
	}
	if (argc - optind != 1)
		return usage_error("get", argc == optind ? "a ring NAME is needed"
							 : "one ring NAME at a time");
	const char *name = argv[optind];
	if (ring_file_name(name, file, sizeof(file)) < 0)
		return usage_error("get", "invalid ring name '%s'", name);

	int64_t deadline = timeout >= 0 ? now_mono_ns() + timeout : 0;
	shmring *r;
	struct shmring_stat st;
	if ((rc = shmring_open(name, SHMRING_CONSUMER, &r)) < 0)
		return io_error("get", name, rc, false);
	if ((rc = shmring_stat(r, &st)) < 0) {
		shmring_close(r);
		return io_error("get", name, rc, false);
	}
	bool stream = st.flags & SHMRING_STREAM;
	size_t cap = stream ? STREAM_CHUNK : st.max_msg ? st.max_msg : 1;
	char *buf = malloc(cap);
	if (!buf) {
		shmring_close(r);
		return io_error("get", name, -ENOMEM, false);
	}

	rc = EXIT_OK;
	while (!count || got < count) {
		size_t want = stream && count && count - got < cap ? (size_t)(count - got) : cap;
		ssize_t n = get_one(r, stream, buf, want, 0);
		if (n == -EAGAIN) {
			/* Nothing there: hand what we have downstream before
			 * waiting, so that a live pipeline sees each message. */
			if (fflush(stdout) == EOF)
				break;
			int64_t wait = -1;
			if (timeout >= 0 && (wait = deadline - now_mono_ns()) < 0)
				wait = 0;
			n = get_one(r, stream, buf, want, wait);
		}
		if (n == -EPIPE)
			break; /* end of file */
		if (n == -EAGAIN || n == -ETIMEDOUT) {
			fprintf(stderr, "shmring: get ");
			put_name(stderr, name);
			fprintf(stderr, ": %s after %.3g s (%llu %s%s received)\n",
				strerror(ETIMEDOUT), (double)timeout / 1e9, (unsigned long long)got,
				stream ? "byte" : "message", got == 1 ? "" : "s");
			rc = EXIT_FAIL;
			break;
		}
		if (n < 0) {
			rc = io_error("get", name, (int)n, false);
			break;
		}
		got += stream ? (uint64_t)n : 1;
		fwrite(buf, 1, (size_t)n, stdout);
		if (!raw && !stream)
			putchar('\n');
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		errorf("get: standard output: %s", strerror(errno ? errno : EIO));
		rc = EXIT_FAIL;
	}
	free(buf);
	shmring_close(r);
	return rc;
}
