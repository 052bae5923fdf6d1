/* SPDX-License-Identifier: MIT */
/*
 * segment.c - shared-memory objects: name checks, geometry, create (POSIX shm,
 * memfd, huge pages), open with complete validation, map and unmap.
 *
 * Everything read from an object is hostile input until validated here; what
 * passes is copied into the handle and never re-read from the segment.
 */
#include "internal.h"

#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

#define SR_NAME_MAX 200
#define SR_CAP_MIN ((uint64_t)256)
#define SR_CAP_MAX ((uint64_t)1 << 40)
#define SR_HUGE_PAGE ((uint64_t)2 << 20)
#define SR_INIT_WAIT_NS (100 * 1000 * 1000LL) /* how long open waits for a creator */

int shmring__validate_name(const char *name, char *out, size_t outsz)
{
	if (!name)
		return -EINVAL;
	size_t len = strnlen(name, SR_NAME_MAX + 1);
	if (len > SR_NAME_MAX)
		return -EINVAL;
	const char *base = name[0] == '/' ? name + 1 : name;
	if (*base == '\0' || strchr(base, '/') || !strcmp(base, ".") || !strcmp(base, ".."))
		return -EINVAL;
	if ((size_t)snprintf(out, outsz, "/%s", base) >= outsz)
		return -EINVAL;
	return 0;
}

static uint64_t pow2_ceil(uint64_t x)
{
	uint64_t p = 1;
	while (p < x)
		p <<= 1;
	return p;
}

static uint64_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	return ps > 0 ? (uint64_t)ps : 4096;
}

/* The private geometry the creator decides from a config. */
struct geometry {
	uint32_t mode, flags;
	uint64_t capacity, max_msg, slot_size, nslots, data_off, total;
	mode_t perm;
};

/* The spill after the area (layout.h): message rings only. */
static uint64_t spill(uint32_t mode, uint32_t flags, uint64_t max_msg)
{
	bool messages = (mode == SHMRING_SPSC || mode == SHMRING_MPSC) && !(flags & SHMRING_STREAM);
	return messages ? SR_SPILL(max_msg) : 0;
}

/* A stream's largest record: a quarter of its area, at most
 * SR_STREAM_CHUNK_MAX (layout.h). */
static uint64_t stream_chunk(uint64_t area)
{
	return area / 4 < SR_STREAM_CHUNK_MAX ? area / 4 : SR_STREAM_CHUNK_MAX;
}

static int plan(const struct shmring_config *cfg, struct geometry *g)
{
	static const struct shmring_config defaults;
	if (!cfg)
		cfg = &defaults;
	for (size_t i = 0; i < sizeof(cfg->reserved) / sizeof(cfg->reserved[0]); i++)
		if (cfg->reserved[i])
			return -EINVAL;
	if ((unsigned)cfg->mode > SHMRING_MPMC)
		return -EINVAL;
	if (cfg->flags & ~(unsigned)(SHMRING_STREAM | SHMRING_HUGEPAGES | SHMRING_FENCE_FREE))
		return -EINVAL;
	if (cfg->perm & ~(mode_t)0777)
		return -EINVAL;
	uint64_t req = cfg->capacity ? cfg->capacity : SHMRING_DEFAULT_CAPACITY;
	if (req > SR_CAP_MAX)
		return -EINVAL;
	if (cfg->flags & SHMRING_STREAM) {
		/* A byte stream: one reader; one writer (SPSC) or several (MPSC).
		 * The area is twice the capacity and at least 32 KiB, so records
		 * of up to a quarter of it (at most 64 KiB) fit anywhere, a
		 * PIPE_BUF write always fits one record, and 15/16 of the
		 * capacity holds bytes whatever the record overheads. */
		if (cfg->mode != SHMRING_SPSC && cfg->mode != SHMRING_MPSC)
			return -EINVAL;
		if (req < SR_STREAM_MIN)
			return -EINVAL;
		uint64_t area = pow2_ceil(2 * req);
		if (area < SR_STREAM_AREA_MIN)
			area = SR_STREAM_AREA_MIN;
		uint64_t chunk = stream_chunk(area);
		g->mode = cfg->mode;
		g->flags = cfg->flags;
		g->perm = cfg->perm ? cfg->perm : 0600;
		g->max_msg = chunk - SR_REC_HDR; /* internal: streams have no max_msg */
		g->capacity = area;
		g->slot_size = g->nslots = 0;
		goto layout;
	}
	req = pow2_ceil(req < SR_CAP_MIN ? SR_CAP_MIN : req);
	uint64_t max_msg = cfg->max_msg;
	if (!max_msg)
		max_msg = req / 2 < SHMRING_DEFAULT_MAX_MSG ? req / 2 : SHMRING_DEFAULT_MAX_MSG;
	if (max_msg > req / 2)
		return -EINVAL;
	/* What the header's fields can hold (check_header refuses the rest as
	 * corrupt): a record's length is 32 bits, a slot ring's slot size and
	 * slot count are 32 bits each. */
	bool records = cfg->mode == SHMRING_SPSC || cfg->mode == SHMRING_MPSC;
	if (records && max_msg > SR_REC_MAX_LEN)
		return -EINVAL;

	g->mode = cfg->mode;
	g->flags = cfg->flags;
	g->perm = cfg->perm ? cfg->perm : 0600;
	g->max_msg = max_msg;
	if (records) {
		/* Any record of at most half the area fits in an empty ring
		 * wherever its head stands (before or after the wrap), so the
		 * area is at least twice the largest record. */
		uint64_t rec = SR_ALIGN8(SR_REC_HDR + max_msg);
		g->capacity = pow2_ceil(req > 2 * rec ? req : 2 * rec);
		g->slot_size = g->nslots = 0;
	} else {
		g->slot_size = (SR_SLOT_HDR + max_msg + 63) & ~(uint64_t)63;
		/* at least the storage asked for, in a power-of-two count of slots */
		g->nslots = pow2_ceil((req + g->slot_size - 1) / g->slot_size);
		if (g->nslots < 2) /* Vyukov's sequence numbers need two slots */
			g->nslots = 2;
		if (g->slot_size > UINT32_MAX || g->nslots > UINT32_MAX)
			return -EINVAL;
		g->capacity = g->nslots * g->slot_size;
	}
layout:;
	uint64_t ps = page_size();
	g->data_off = (SR_OFF_DATA_MIN + ps - 1) / ps * ps;
	g->total = g->data_off + g->capacity + spill(g->mode, g->flags, g->max_msg);
	if (g->flags & SHMRING_HUGEPAGES)
		g->total = (g->total + SR_HUGE_PAGE - 1) / SR_HUGE_PAGE * SR_HUGE_PAGE;
	return 0;
}

/* Huge pages are taken from the reserved pool; without one, say so clearly
 * rather than let a mapping fault later. */
static int hugepages_available(uint64_t bytes)
{
	FILE *f = fopen("/proc/meminfo", "re");
	if (!f)
		return -EOPNOTSUPP;
	char line[128];
	long long free_pages = -1, size_kb = 0;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Free: %lld", &free_pages);
		sscanf(line, "Hugepagesize: %lld kB", &size_kb);
	}
	fclose(f);
	if (free_pages < 0 || size_kb <= 0)
		return -EOPNOTSUPP;
	if ((uint64_t)free_pages * (uint64_t)size_kb * 1024 < bytes)
		return -ENOMEM;
	return 0;
}

static atomic_uint tmp_seq;

/* Give the finished object its name: link(2) fails with EEXIST on a taken
 * name (O_EXCL semantics, squatters included) and never replaces it. */
static int publish_name(const char *tmp, const char *path)
{
	char from[sizeof(SR_SHM_DIR) + 64], to[sizeof(SR_SHM_DIR) + SR_NAME_MAX + 2];
	snprintf(from, sizeof(from), SR_SHM_DIR "%s", tmp);
	snprintf(to, sizeof(to), SR_SHM_DIR "%s", path);
	if (link(from, to) < 0)
		return -errno;
	shm_unlink(tmp);
	return 0;
}

static void init_header(struct sr_header *h, const struct geometry *g)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->cfg.magic = SR_MAGIC;
	h->cfg.header_size = (uint32_t)g->data_off;
	h->cfg.mode = g->mode;
	h->cfg.flags = g->flags;
	h->cfg.capacity = g->capacity;
	h->cfg.max_msg = g->max_msg;
	h->cfg.data_off = g->data_off;
	h->cfg.total_size = g->total;
	h->cfg.slot_size = (uint32_t)g->slot_size;
	h->cfg.nslots = (uint32_t)g->nslots;
	h->cfg.ep_off = SR_OFF_EP;
	h->cfg.ep_count = SR_EP_MAX;
	h->cfg.ctime_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	h->cfg.creator_uid = (uint32_t)geteuid();
	h->cfg.creator_pid = (uint32_t)getpid();
	for (unsigned i = 0; i < SR_EP_MAX; i++) {
		st_relaxed(&h->ep[i].resv_pos, SR_RESV_NONE);
		st_relaxed(&h->ep[i].resv_size, 0);
	}
	uint8_t *data = (uint8_t *)h + g->data_off;
	if (g->nslots)
		shmring__slot_init(h, data);
	else
		shmring__rec_init(h, data);
	/* The object is fresh, so every other word is already zero. Publish:
	 * pairs with the load-acquire of version in attach_fd(). */
	st_release(&h->cfg.version, SR_LAYOUT_VERSION);
}

int shmring__new(const struct shmring_config *cfg, const char *name, int role, shmring **out)
{
	struct geometry g;
	char path[SR_NAME_MAX + 2], tmp[64];
	int rc, fd;

	if (!out || (role & ~(SHMRING_PRODUCER | SHMRING_CONSUMER)))
		return -EINVAL;
	if (name && (rc = shmring__validate_name(name, path, sizeof(path))) < 0)
		return rc;
	if ((rc = plan(cfg, &g)) < 0)
		return rc;
	if (g.flags & SHMRING_HUGEPAGES) {
		if (name)
			return -EOPNOTSUPP; /* /dev/shm is not hugetlbfs: anonymous rings only */
		if ((rc = hugepages_available(g.total)) < 0)
			return rc;
	}

	if (name) {
		/* Build the ring under a private name and link it into place only
		 * when it is complete, so that nobody ever opens half a ring. */
		snprintf(tmp, sizeof(tmp), SR_TEMP_FORMAT, (int)getpid(),
			 (unsigned)atomic_fetch_add(&tmp_seq, 1));
		fd = shm_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, g.perm);
		if (fd < 0)
			return -errno;
		/* The umask must not loosen or tighten what the caller asked. */
		if (fchmod(fd, g.perm) < 0) {
			rc = -errno;
			goto fail;
		}
	} else {
		unsigned mfd = MFD_CLOEXEC | MFD_ALLOW_SEALING;
		if (g.flags & SHMRING_HUGEPAGES)
			mfd |= MFD_HUGETLB;
		fd = memfd_create("shmring", mfd);
		if (fd < 0)
			return errno == EINVAL && (g.flags & SHMRING_HUGEPAGES) ? -EOPNOTSUPP
										 : -errno;
	}
	if (ftruncate(fd, (off_t)g.total) < 0) {
		rc = -errno;
		goto fail;
	}
	if (!name && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = -errno;
		goto fail;
	}
	void *p = mmap(NULL, g.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	init_header(p, &g);
	munmap(p, g.total);

	/* Attach before the name appears: the creator's roles come first. */
	shmring *r;
	rc = shmring__attach_fd(fd, role, true, &r);
	fd = -1; /* the handle owns it now, or attach_fd closed it */
	if (rc < 0)
		goto fail;
	if (name && (rc = publish_name(tmp, path)) < 0) {
		shmring_close(r);
		goto fail;
	}
	*out = r;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (name)
		shm_unlink(tmp);
	return rc;
}

/* Check a header against the object's real size and owner. On success fill
 * *g with the geometry to use from then on; on failure say why. Also used by
 * the shmring command to print its verdict. */
int shmring__check_header(const struct sr_header *h, uint64_t real_size, uint32_t owner,
			  struct sr_geom *g, const char **why)
{
#define BAD(rc, reason)                                                                    \
	do {                                                                               \
		if (why)                                                                   \
			*why = (reason);                                                   \
		return (rc);                                                               \
	} while (0)
	struct sr_config_line c;
	if (real_size < sizeof(struct sr_header))
		BAD(-EBADMSG, "object smaller than a ring header");
	memcpy(&c, &h->cfg, sizeof(c)); /* one read of each field */
	c.version = ld_acquire(&h->cfg.version);

	if (c.magic != SR_MAGIC)
		BAD(-EBADMSG, "bad magic: not a shmring ring");
	if (c.version == 0)
		BAD(-EAGAIN, "version 0: creator still initialising");
	if (c.version != SR_LAYOUT_VERSION)
		BAD(-EPROTO, "unknown layout version");
	if (c.mode > SHMRING_MPMC ||
	    (c.flags & ~(uint32_t)(SHMRING_STREAM | SHMRING_HUGEPAGES | SHMRING_FENCE_FREE)))
		BAD(-EBADMSG, "unknown mode or flags");
	if (c.total_size != real_size)
		BAD(-EBADMSG, "total size does not match the object's size");
	if (c.data_off != c.header_size || c.data_off < SR_OFF_DATA_MIN || c.data_off % 4096 ||
	    c.data_off > real_size)
		BAD(-EBADMSG, "bad data offset");
	if (c.ep_off != SR_OFF_EP || c.ep_count != SR_EP_MAX)
		BAD(-EBADMSG, "bad endpoint table");
	if (c.creator_uid != owner)
		BAD(-EBADMSG, "creator uid does not own the object");
	uint64_t room = real_size - c.data_off;
	if (c.capacity == 0 || c.capacity > room || c.max_msg == 0)
		BAD(-EBADMSG, "capacity or max_msg out of range");
	if ((c.flags & SHMRING_STREAM) && c.mode != SHMRING_SPSC && c.mode != SHMRING_MPSC)
		BAD(-EBADMSG, "a stream with several readers");
	bool records = c.mode == SHMRING_SPSC || c.mode == SHMRING_MPSC;
	if (records) {
		if (c.slot_size || c.nslots || (c.capacity & (c.capacity - 1)) ||
		    c.capacity < SR_CAP_MIN || c.max_msg > SR_REC_MAX_LEN ||
		    2 * SR_ALIGN8(SR_REC_HDR + c.max_msg) > c.capacity)
			BAD(-EBADMSG, "bad record-ring geometry");
		if (spill(c.mode, c.flags, c.max_msg) > room - c.capacity)
			BAD(-EBADMSG, "no room for the spill after the area");
		/* A stream's writers count on plan()'s geometry: an atomic
		 * write of PIPE_BUF bytes fits one record of the largest size,
		 * which fits the area four times. A smaller one would make
		 * such a write wait forever. */
		if ((c.flags & SHMRING_STREAM) &&
		    (c.capacity < SR_STREAM_AREA_MIN ||
		     c.max_msg + SR_REC_HDR != stream_chunk(c.capacity)))
			BAD(-EBADMSG, "bad stream geometry");
		g->cap = c.capacity;
		g->end = c.capacity + spill(c.mode, c.flags, c.max_msg);
		g->slot_size = 0;
	} else {
		if (c.nslots < 2 || (c.nslots & (c.nslots - 1)) || c.slot_size % 8 ||
		    c.slot_size < SR_SLOT_HDR || c.max_msg > c.slot_size - SR_SLOT_HDR ||
		    (uint64_t)c.nslots * c.slot_size != c.capacity)
			BAD(-EBADMSG, "bad slot-ring geometry");
		g->cap = c.nslots;
		g->end = c.nslots;
		g->slot_size = c.slot_size;
	}
	g->mask = g->cap - 1;
	g->data_off = c.data_off;
	g->max_msg = c.max_msg;
	g->mode = c.mode;
	g->flags = c.flags;
	if (why)
		*why = "ok";
	return 0;
#undef BAD
}

/* Map the object between two inaccessible guard regions, so that a stray
 * access just past either end faults at once instead of reading a neighbour
 * (AddressSanitizer does not watch shared mappings). The guards are a page,
 * or a huge page for hugetlbfs objects, whose mappings must be aligned. */
static void *map_guarded(int fd, size_t len, int prot, size_t *guard_out)
{
	static const size_t guards[2] = {4096, 2u << 20};
	for (int i = 0; i < 2; i++) {
		size_t g = guards[i];
		if (i == 0 && sysconf(_SC_PAGESIZE) > 0)
			g = (size_t)sysconf(_SC_PAGESIZE);
		size_t span = len + 3 * g; /* one guard of slack for alignment */
		uint8_t *res = mmap(NULL, span, PROT_NONE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (res == MAP_FAILED)
			return MAP_FAILED;
		uint8_t *at = (uint8_t *)(((uintptr_t)res + g + g - 1) & ~(uintptr_t)(g - 1));
		void *p = mmap(at, len, prot, MAP_SHARED | MAP_FIXED, fd, 0);
		if (p != MAP_FAILED) {
			/* keep exactly one guard on each side */
			if (at - g > res)
				munmap(res, (size_t)(at - g - res));
			uint8_t *end = at + ((len + g - 1) & ~(g - 1)) + g;
			if (end < res + span)
				munmap(end, (size_t)(res + span - end));
			*guard_out = g;
			return p;
		}
		int err = errno;
		munmap(res, span);
		if (err != EINVAL) {
			errno = err;
			return MAP_FAILED;
		}
	}
	errno = EINVAL;
	return MAP_FAILED;
}

static void unmap_guarded(void *p, size_t len, size_t guard)
{
	munmap((uint8_t *)p - guard, ((len + guard - 1) & ~(guard - 1)) + 2 * guard);
}

/* Spinning only pays when the peer can run meanwhile: a process allowed on a
 * single CPU would burn its peer's time slice, so it sleeps at once. */
/*
 * Spinning pays only when the peer can run at the same time on another CPU.
 * With one CPU online it cannot, and every spin would burn the time slice
 * the peer needs. A process pinned to one CPU still spins: its peer is
 * usually pinned to another (that is why people pin), and where it is not,
 * the spin is bounded and shmring_set_spin(r, 0) turns it off.
 */
static int64_t default_spin(void)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	return online >= 2 ? SHMRING_DEFAULT_SPIN_NS : 0;
}

int shmring__attach_fd(int fd, int role, bool owned, shmring **out)
{
	struct stat st;
	int rc;
	shmring *r = NULL;
	void *p = MAP_FAILED;
	size_t len = 0;

	if (!owned) {
		int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dup < 0)
			return -errno;
		fd = dup;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct sr_header) ||
	    (uint64_t)st.st_size > SIZE_MAX) {
		rc = -EBADMSG;
		goto fail;
	}
	int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
	if (role && acc != O_RDWR) {
		rc = -EACCES;
		goto fail;
	}
	len = (size_t)st.st_size;
	size_t guard = 0;
	p = map_guarded(fd, len, role ? PROT_READ | PROT_WRITE : PROT_READ, &guard);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto fail;
	}
	struct sr_header *h = p;
	/* A creator publishes version last; give one that is still at work a
	 * moment, then let the caller retry. */
	if (h->cfg.magic == SR_MAGIC && ld_acquire(&h->cfg.version) == 0) {
		int64_t until = shmring__now() + SR_INIT_WAIT_NS;
		while (ld_acquire(&h->cfg.version) == 0 && shmring__now() < until) {
			struct timespec ts = {0, 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		if (ld_acquire(&h->cfg.version) == 0) {
			rc = -EAGAIN;
			goto fail;
		}
	}
	struct sr_geom g;
	if ((rc = shmring__check_header(h, (uint64_t)st.st_size, (uint32_t)st.st_uid, &g,
					NULL)) < 0)
		goto fail;
	r->cap = g.cap;
	r->end = g.end;
	r->mask = g.mask;
	r->slot_size = g.slot_size;
	r->max_msg = g.max_msg;
	r->mode = g.mode;
	r->flags = g.flags;
	r->data = (uint8_t *)p + g.data_off;
	r->h = h;
	r->map_len = len;
	r->guard = guard;
	r->fd = fd;
	r->ops = (r->flags & SHMRING_STREAM) ? &shmring__stream_ops
		 : r->slot_size		     ? &shmring__slot_ops
					     : &shmring__rec_ops;
	r->sp_fast = r->ops == &shmring__rec_ops && r->mode == SHMRING_SPSC;
	r->poll_fd = r->poll_sock[0] = r->poll_sock[1] = r->send_sock = r->poll_tick = -1;
	r->poll_dev = (uint64_t)st.st_dev;
	r->poll_ino = (uint64_t)st.st_ino;
	r->spin_ns = default_spin();
	r->prod.idx = r->cons.idx = -1;
	r->prod.lock_fd = r->cons.lock_fd = -1;
	if ((rc = shmring__attach_roles(r, role)) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	if (r && r->send_sock > 0)
		close(r->send_sock);
	free(r);
	if (p != MAP_FAILED)
		unmap_guarded(p, len, guard);
	close(fd);
	return rc;
}

void shmring__unmap(shmring *r)
{
	unmap_guarded(r->h, r->map_len, r->guard);
	close(r->fd);
}
