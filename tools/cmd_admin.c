/* SPDX-License-Identifier: MIT */
/*
 * cmd_admin.c - `shmring create` (a new named ring with no endpoints) and
 * `shmring rm` (unlink rings nobody uses; with --stale, every ring and every
 * leftover temporary object that no live process holds).
 *
 * "In use" is the kernel's answer, not the table's: a ring is in use while
 * any of its endpoint lock bytes is write-locked (peers.c), whatever its
 * endpoint table says, so that a corrupt table cannot talk us into removing
 * a ring that processes still hold. Observers take no lock and do not count.
 */
#include "cli.h"

#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- create ---- */

static const char create_help[] =
	"Usage: shmring create NAME [--mode MODE] [--capacity SIZE] [--max-msg SIZE]\n"
	"                      [--perm OCTAL] [--stream] [--hugepages]\n"
	"\n"
	"Make a new ring NAME (\"name\" or \"/name\") in /dev/shm, with no endpoints:\n"
	"producers and consumers attach later (shmring put, shmring get, programs).\n"
	"Fails if the name is taken. SIZE takes a K, M or G suffix (powers of 1024).\n"
	"\n"
	"  --mode MODE      spsc, mpsc, spmc or mpmc (default spsc)\n"
	"  --capacity SIZE  bytes of message storage, rounded up to a power of two\n"
	"                   (default 1M)\n"
	"  --max-msg SIZE   largest message (default 4K, at most capacity / 2)\n"
	"  --perm OCTAL     permission bits of the object (default 0600)\n"
	"  --stream         a byte stream with pipe semantics instead of messages\n"
	"                   (mode spsc or mpsc, capacity at least 4K, no --max-msg)\n"
	"  --hugepages      back the ring with huge pages\n"
	"  -h, --help       this help\n"
	"\n"
	"What the library does not support (huge pages for named rings, in this\n"
	"version) fails with its error.\n";

static int parse_mode(const char *s, enum shmring_mode *out)
{
	for (int m = SHMRING_SPSC; m <= SHMRING_MPMC; m++)
		if (!strcasecmp(s, shmring_mode_name((enum shmring_mode)m))) {
			*out = (enum shmring_mode)m;
			return 0;
		}
	return -EINVAL;
}

int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "max-msg", required_argument, NULL, 'x' },
		{ "perm", required_argument, NULL, 'p' },
		{ "stream", no_argument, NULL, 's' },
		{ "hugepages", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct shmring_config cfg = { 0 };
	char file[NAME_MAX + 1];
	uint64_t v;
	unsigned perm;
	int c;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_mode(optarg, &cfg.mode) < 0)
				return usage_error("create",
						   "unknown mode '%s' (spsc, mpsc, spmc, mpmc)",
						   optarg);
			break;
		case 'c':
		case 'x':
			if (parse_size(optarg, &v) < 0 || v > SIZE_MAX)
				return usage_error("create", "invalid size '%s' for %s", optarg,
						   c == 'c' ? "--capacity" : "--max-msg");
			if (c == 'c')
				cfg.capacity = (size_t)v;
			else
				cfg.max_msg = (size_t)v;
			break;
		case 'p':
			if (parse_perm(optarg, &perm) < 0)
				return usage_error("create",
						   "invalid permissions '%s' (octal, at most 0777)",
						   optarg);
			cfg.perm = (mode_t)perm;
			break;
		case 's':
			cfg.flags |= SHMRING_STREAM;
			break;
		case 'H':
			cfg.flags |= SHMRING_HUGEPAGES;
			break;
		case 'h':
			fputs(create_help, stdout);
			return EXIT_OK;
		default:
			return bad_option("create", argv, c);
		}
	}
	if (argc - optind != 1)
		return usage_error("create", argc == optind ? "a ring NAME is needed"
							    : "one ring NAME at a time");
	const char *name = argv[optind];
	if (ring_file_name(name, file, sizeof(file)) < 0)
		return usage_error("create", "invalid ring name '%s'", name);
	if ((cfg.flags & SHMRING_STREAM) && cfg.max_msg)
		return usage_error("create", "a stream has no largest message: no --max-msg");

	/* An observer: the ring is made and validated, and nobody attaches. */
	shmring *r;
	int rc = shmring_create(name, &cfg, SHMRING_OBSERVER, &r);
	if (rc == -EINVAL) {
		/* The contract's rules on sizes, the likely cause here. */
		fprintf(stderr, "shmring: create ");
		put_name(stderr, name);
		fprintf(stderr, ": %s (%s)\n", strerror(EINVAL),
			cfg.flags & SHMRING_STREAM
				? "a stream takes mode spsc or mpsc and a capacity of at least 4K"
				: "the largest message is at most half the capacity");
		return EXIT_FAIL;
	}
	if (rc < 0)
		return ring_error("create", name, rc);
	shmring_close(r);
	return EXIT_OK;
}

/* ---- rm ---- */

static const char rm_help[] =
	"Usage: shmring rm NAME... [--force]\n"
	"       shmring rm --stale [PATTERN...]\n"
	"\n"
	"Remove the named rings. A ring that a live process holds as a producer or\n"
	"consumer is refused, and so is an object that is not a ring, unless --force\n"
	"is given. Processes that have a ring open keep using it after its name is\n"
	"gone, as with any unlinked file.\n"
	"\n"
	"With --stale, remove every ring in /dev/shm that no live process holds (its\n"
	"producers and consumers are all closed or dead), and every temporary\n"
	"" TEMP_PREFIX "PID-N object whose creating process PID is dead, and print\n"
	"what was removed. PATTERNs (shell wildcards, quoted) restrict it to the\n"
	"names they match. Only your own objects are considered (root: everyone's).\n"
	"Rings of another layout version are left alone. A ring with no process\n"
	"attached counts as stale even when it still holds unread messages.\n"
	"\n"
	"  -f, --force   remove even rings in use, and objects that are not rings\n"
	"  --stale       remove what no live process holds\n"
	"  -h, --help    this help\n";

/* The pids of a view's live endpoints, for a message: "producer 12, consumer 34". */
static void holders(const struct view *v, char *buf, size_t sz)
{
	size_t n = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < SR_EP_MAX && n < sz; i++)
		if (view_ep_alive(v, i))
			n += (size_t)snprintf(buf + n, sz - n, "%s%s pid %u", n ? ", " : "",
					      i < SR_EP_CONS_BASE ? "producer" : "consumer",
					      v->h.ep[i].pid);
}

/* Remove one named ring, after the checks that --force skips. Returns an
 * exit code. */
static int rm_one(const char *name, bool force)
{
	char file[NAME_MAX + 1], who[256];
	struct view_stats s;
	struct view v;
	int rc;

	if (ring_file_name(name, file, sizeof(file)) < 0)
		return usage_error("rm", "invalid ring name '%s'", name);
	if ((rc = view_open(file, &v)) < 0)
		return ring_error("rm", name, rc);
	view_stats(&v, &s);
	holders(&v, who, sizeof(who));
	const char *refuse = NULL;
	char why[512];
	if (v.kind == VIEW_OTHER) {
		snprintf(why, sizeof(why), "not a ring: %s", v.why);
		refuse = why;
	} else if (v.verdict == -EPROTO) {
		refuse = "a ring of another layout version: cannot tell whether it is in use";
	} else if (s.holders) {
		snprintf(why, sizeof(why), "in use by %u endpoint%s%s%s%s", s.holders,
			 s.holders == 1 ? "" : "s", who[0] ? " (" : "", who, who[0] ? ")" : "");
		refuse = why;
	}
	view_close(&v);
	if (refuse && !force) {
		fprintf(stderr, "shmring: rm ");
		put_name(stderr, name);
		fprintf(stderr, ": %s; --force removes it anyway\n", refuse);
		return EXIT_FAIL;
	}
	if ((rc = shmring_unlink(name)) < 0)
		return ring_error("rm", name, rc);
	return EXIT_OK;
}

/* The pid in a temporary object's name ".shmring-new-PID-N", or -1. */
static pid_t temp_pid(const char *name)
{
	int pid, end = 0;
	unsigned seq;
	if (strncmp(name, TEMP_PREFIX, strlen(TEMP_PREFIX)) ||
	    sscanf(name + strlen(TEMP_PREFIX), "%d-%u%n", &pid, &seq, &end) != 2 ||
	    name[strlen(TEMP_PREFIX) + (size_t)end] != '\0' || pid <= 0)
		return -1;
	return pid;
}

static bool matches(const char *name, char **pat, int npat)
{
	if (npat == 0)
		return true;
	for (int i = 0; i < npat; i++)
		if (fnmatch(pat[i], name, 0) == 0)
			return true;
	return false;
}

static int unlink_file(const char *file)
{
	char path[sizeof(SHM_DIR) + NAME_MAX + 1];
	snprintf(path, sizeof(path), SHM_DIR "/%s", file);
	return unlink(path) < 0 ? -errno : 0;
}

/* Decide about one object for --stale. Returns 1 when it is stale and says
 * why in `how`, 0 when it stays. */
static int stale(const char *file, uid_t me, char *how, size_t sz)
{
	struct view_stats s;
	struct view v;
	pid_t pid = temp_pid(file);

	if (pid > 0) {
		struct stat st;
		char path[sizeof(SHM_DIR) + NAME_MAX + 1];
		snprintf(path, sizeof(path), SHM_DIR "/%s", file);
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (me && st.st_uid != me))
			return 0;
		/* Another user's live process answers EPERM: alive. */
		if (kill(pid, 0) == 0 || errno != ESRCH)
			return 0;
		snprintf(how, sz, "temporary object of dead process %d", (int)pid);
		return 1;
	}
	if (view_open(file, &v) < 0)
		return 0;
	int rc = 0;
	if (v.kind != VIEW_OTHER && (!me || v.st.st_uid == me) && v.verdict != -EPROTO &&
	    v.verdict != -EAGAIN) {
		view_stats(&v, &s);
		if (s.holders == 0) {
			rc = 1;
			if (v.kind == VIEW_CORRUPT)
				snprintf(how, sz, "corrupt: %s", v.why);
			else if (s.used)
				snprintf(how, sz, "%llu bytes of messages unread",
					 (unsigned long long)s.used);
			else
				snprintf(how, sz, "empty");
		}
	}
	view_close(&v);
	return rc;
}

static int rm_stale(char **pat, int npat)
{
	char **names, how[256];
	uid_t me = geteuid();
	int rc = EXIT_OK;

	int n = list_names(&names);
	if (n < 0) {
		errorf("rm: cannot read " SHM_DIR ": %s", strerror(-n));
		return EXIT_FAIL;
	}
	for (int i = 0; i < n; i++) {
		if (!matches(names[i], pat, npat) || !stale(names[i], me, how, sizeof(how)))
			continue;
		int err = unlink_file(names[i]);
		if (err == -ENOENT)
			continue; /* somebody else cleaned it meanwhile */
		if (err < 0) {
			rc = ring_error("rm", names[i], err);
			continue;
		}
		printf("removed ");
		put_name(stdout, names[i]);
		printf(" (%s)\n", how);
	}
	names_free(names, n);
	if (fflush(stdout) == EOF)
		rc = EXIT_FAIL;
	return rc;
}

int cmd_rm(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "stale", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool force = false, stale_mode = false;
	char file[NAME_MAX + 1];
	int c, rc = EXIT_OK;

	while ((c = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 's':
			stale_mode = true;
			break;
		case 'h':
			fputs(rm_help, stdout);
			return EXIT_OK;
		default:
			return bad_option("rm", argv, c);
		}
	}
	if (stale_mode) {
		if (force)
			return usage_error("rm", "--stale and --force do not mix");
		return rm_stale(argv + optind, argc - optind);
	}
	if (optind == argc)
		return usage_error("rm", "a ring NAME (or --stale) is needed");
	/* Check every name before removing anything. */
	for (int i = optind; i < argc; i++)
		if (ring_file_name(argv[i], file, sizeof(file)) < 0)
			return usage_error("rm", "invalid ring name '%s'", argv[i]);
	for (int i = optind; i < argc; i++)
		if (rm_one(argv[i], force) != EXIT_OK)
			rc = EXIT_FAIL;
	return rc;
}
