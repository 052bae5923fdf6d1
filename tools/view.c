/* SPDX-License-Identifier: MIT */
/*
 * view.c - a read-only look at one object in /dev/shm.
 *
 * The command treats every object as hostile input, as the library does: the
 * object may be anybody's file, a ring being scribbled on, or one truncated
 * under our feet. So a look opens it O_RDONLY (never following a symlink,
 * never blocking on a FIFO), checks with fstat that it is a regular file,
 * copies the header and endpoint table once into private memory (word by
 * word with atomic loads, so that no counter is torn, and under a SIGBUS
 * guard, so that a truncation while we copy is a verdict, not a crash), and
 * hands the copy to the library's own validator, shmring__check_header().
 * Nothing here decides what a valid ring is.
 *
 * Liveness follows peers.c: the owner of endpoint i holds an OFD write lock on
 * byte i of the object. We ask the kernel with F_OFD_GETLK through our own
 * descriptor, which holds no lock, so any lock on the byte is somebody else's.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- the header copy ---- */

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_sigbus(int sig)
{
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	signal(sig, SIG_DFL); /* a fault outside a copy is a bug: die of it */
	raise(sig);
}

/* Copy the first sizeof(*out) bytes of the object (which fstat said it has)
 * into *out. Returns 0, -EBADMSG when the object shrank while we copied, or
 * the errno of mmap. */
static int copy_header(int fd, struct sr_header *out)
{
	const size_t len = sizeof(*out);
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	int rc = 0;

	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_jmp, 1) == 0) {
		bus_armed = 1;
		const sr_a64 *src = p;
		unsigned char *dst = (unsigned char *)out;
		for (size_t i = 0; i < len / 8; i++) {
			uint64_t w = ld_relaxed(&src[i]); /* untorn; no ordering needed */
			memcpy(dst + 8 * i, &w, 8);
		}
	} else {
		rc = -EBADMSG;
	}
	bus_armed = 0;
	sigaction(SIGBUS, &old, NULL);
	munmap(p, len);
	return rc;
}

/* ---- liveness ---- */

/* Is byte idx write-locked by an open file description other than ours?
 * A failed probe answers yes: never call a peer dead on a guess (peers.c
 * does the same). */
static bool byte_locked(int fd, unsigned idx)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = idx, .l_len = 1 };
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return true;
	return fl.l_type != F_UNLCK;
}

bool view_ep_alive(const struct view *v, unsigned i)
{
	return i < SR_EP_MAX && SR_EP_STATE(ld_relaxed(&v->h.ep[i].sg)) == SR_EP_LIVE &&
	       v->locked[i];
}

/* ---- a look ---- */

int view_open(const char *name, struct view *v)
{
	char path[sizeof(SHM_DIR) + NAME_MAX + 1];
	uint64_t magic = 0;
	int rc;

	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->kind = VIEW_OTHER;
	v->verdict = -EBADMSG;
	v->why = "not a regular file";
	if (strlen(name) > NAME_MAX || strchr(name, '/'))
		return -EINVAL;
	strcpy(v->name, name);
	snprintf(path, sizeof(path), SHM_DIR "/%s", name);

	/* Look before opening: opening a device node may do things. */
	if (lstat(path, &v->st) < 0)
		return -errno;
	if (!S_ISREG(v->st.st_mode))
		return 0;
	v->fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (v->fd < 0) {
		rc = -errno;
		return rc == -ELOOP ? 0 : rc; /* replaced by a symlink meanwhile */
	}
	if (fstat(v->fd, &v->st) < 0) {
		rc = -errno;
		view_close(v);
		return rc;
	}
	if (!S_ISREG(v->st.st_mode))
		return 0;

	uint64_t size = (uint64_t)v->st.st_size;
	if (size >= sizeof(v->h)) {
		rc = copy_header(v->fd, &v->h);
		if (rc == -EBADMSG) {
			v->why = "object shrank while being read";
			magic = v->h.cfg.magic;
			v->kind = magic == SR_MAGIC ? VIEW_CORRUPT : VIEW_OTHER;
			goto probe;
		}
		if (rc < 0) {
			view_close(v);
			return rc;
		}
	} else if (pread(v->fd, &magic, sizeof(magic), 0) == (ssize_t)sizeof(magic)) {
		/* Too small to hold a header: the magic alone says whether
		 * it was one of ours; the validator gives the reason. */
		v->h.cfg.magic = magic;
	}
	magic = v->h.cfg.magic;
	v->verdict = shmring__check_header(&v->h, size, (uint32_t)v->st.st_uid, &v->g, &v->why);
	if (v->verdict == 0)
		v->kind = VIEW_RING;
	else
		v->kind = magic == SR_MAGIC ? VIEW_CORRUPT : VIEW_OTHER;
probe:
	if (v->kind != VIEW_OTHER)
		for (unsigned i = 0; i < SR_EP_MAX; i++)
			v->locked[i] = byte_locked(v->fd, i);
	return 0;
}

void view_close(struct view *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

/* Threads asleep on one wait line (consumers wait on data, producers on
 * room): the sleep counts of the endpoints whose mask bit is set and that a
 * process still holds (a waiter killed asleep leaves its bit behind until
 * its endpoint is taken over). */
unsigned view_sleepers(const struct view *v, bool data)
{
	const struct sr_header *h = &v->h;
	unsigned base = data ? SR_EP_CONS_BASE : 0, n = 0;
	uint64_t m = ld_relaxed(data ? &h->dwait.mask : &h->rwait.mask);
	for (unsigned b = 0; b < SR_EP_PER_SIDE; b++)
		if ((m >> b & 1) && v->locked[base + b])
			n += ld_relaxed(&h->nsleep[base + b]);
	return n;
}

void view_stats(const struct view *v, struct view_stats *s)
{
	const struct sr_header *h = &v->h;

	memset(s, 0, sizeof(*s));
	/* As shmring_stat() in api.c: the totals folded in by freed endpoints,
	 * plus the counts of the entries still LIVE (a dead owner's counts are
	 * folded only when its entry is reaped). */
	s->sent = ld_relaxed(&h->totals.sent);
	s->received = ld_relaxed(&h->totals.received);
	s->wakeups = ld_relaxed(&h->totals.wakeups);
	s->dropped = ld_relaxed(&h->totals.dropped);
	s->sleepers = view_sleepers(v, true) + view_sleepers(v, false);
	for (unsigned i = 0; i < SR_EP_MAX; i++) {
		const struct sr_endpoint *e = &h->ep[i];
		bool producer = i < SR_EP_CONS_BASE;
		s->holders += v->locked[i];
		if (SR_EP_STATE(ld_relaxed(&e->sg)) != SR_EP_LIVE)
			continue;
		if (producer)
			s->sent += ld_relaxed(&e->count);
		else
			s->received += ld_relaxed(&e->count);
		s->wakeups += ld_relaxed(&e->wakeups);
		if (!v->locked[i])
			s->dead++;
		else if (producer)
			s->producers++;
		else
			s->consumers++;
	}
	if (v->kind != VIEW_RING)
		return;
	/* Free-running positions: the unsigned difference is the fill level;
	 * clamp what a scribbler may have made larger. */
	uint64_t n = ld_relaxed(&h->prod.pos) - ld_relaxed(&h->cons.pos);
	if (v->g.slot_size) {
		s->capacity = v->g.cap * v->g.slot_size;
		s->used = (n > v->g.cap ? v->g.cap : n) * v->g.slot_size;
	} else {
		s->capacity = v->g.cap;
		s->used = n > v->g.cap ? v->g.cap : n;
	}
}

const char *view_status(const struct view *v)
{
	switch (v->verdict) {
	case 0:
		return "ok";
	case -EPROTO:
		return "unsupported";
	case -EAGAIN:
		return "initialising";
	default:
		return "corrupt";
	}
}

/* ---- the directory ---- */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int list_names(char ***out)
{
	DIR *d = opendir(SHM_DIR);
	char **names = NULL;
	int n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **more = realloc(names, (size_t)cap * sizeof(*names));
			if (!more)
				goto nomem;
			names = more;
		}
		if (!(names[n] = strdup(de->d_name)))
			goto nomem;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, (size_t)n, sizeof(*names), by_name);
	*out = names;
	return n;
nomem:
	closedir(d);
	names_free(names, n);
	return -ENOMEM;
}

void names_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
