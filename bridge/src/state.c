/* SPDX-License-Identifier: MIT */
/*
 * state.c - each side's state object: where its stream stands, kept in a
 * small POSIX shared-memory object so that it survives a crash of the side.
 * It is what lets a restarted side count what the crash lost (the messages
 * in flight are gone: nothing is stored on disk, nothing is sent again).
 *
 * IN (object "RING.bridge-in" by default). The OUT side goes on with the
 * next sequence numbers; to count what was lost, a restarted IN must know
 * the sequence number its predecessor expected next. The object holds
 *
 *   session    the stream (OUT side) it belongs to
 *   next       the sequence number expected next, not counting `pending`
 *   pending    0, or the size of a batch of consecutive messages
 *              next .. next + pending - 1 being put into the ring right now
 *   mark       the ring's `sent` count (shmring_stat) when next was written
 *
 * Writes are plain stores into a MAP_SHARED page: a process killed at any
 * instruction leaves every store it made visible to its successor (the page
 * belongs to the object, not to the process). The only uncertainty is a
 * batch cut short by the kill: which of its messages reached the ring? The
 * ring's own count answers it when the bridge is the ring's only producer:
 * sent_now - mark of them did. A ring with other producers makes that
 * difference meaningless; it is then used only when it is not larger than
 * the batch, and otherwise the batch is counted as lost (logged as a guess).
 *
 * OUT (object "RING.bridge-out"). A restarted OUT goes on with the same
 * session, at the sequence number that follows the messages its predecessor
 * took from the ring, sent or not: those it took and did not send then show
 * up at IN as a gap, counted like any other. No write per message is needed:
 * OUT is its ring's only consumer (SPSC and MPSC rings take one), so
 *
 *   next_seq = next + (the ring's `received` count now - mark)
 *
 * where next and mark were written once, when the session began.
 *
 * The library bumps a ring's counts right after each message is published
 * or consumed, so a kill landing between the two (a few instructions) can
 * put one message on the wrong side of the line; everything else is exact.
 * Both objects name the ring they belong to (its creation time and creator
 * pid), so that a ring removed and created again does not inherit them.
 * Both are removed at end of stream.
 */
#include "bridge_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A record being rewritten as a whole (a new session, a gap): ignored by a
 * successor that finds it so. */
#define ST_REWRITING UINT64_MAX

#define ST_MAGIC_IN UINT64_C(0x314e494752425253)  /* "SRBRGIN1" little-endian */
#define ST_MAGIC_OUT UINT64_C(0x31554f4752425253) /* "SRBRGOU1" little-endian */
#define ST_VERSION 1u
#define ST_SIZE 4096u

struct br_state {
	uint64_t magic;
	uint32_t version, size;
	uint64_t ring_ctime_ns; /* the ring it belongs to */
	uint32_t ring_pid;
	uint32_t pad;
	_Atomic uint64_t session; /* 0: no stream yet */
	_Atomic uint64_t next;
	_Atomic uint64_t pending;
	_Atomic uint64_t mark;
};

static void st_store(_Atomic uint64_t *p, uint64_t v)
{
	/* Relaxed: nobody reads the object while we live (an IN side is alone
	 * on its ring), and a crash keeps every store already made. */
	atomic_store_explicit(p, v, memory_order_relaxed);
}

static uint64_t st_load(_Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static uint64_t ring_sent(struct shmring_bridge *b)
{
	struct shmring_stat s;
	return shmring_stat(b->r, &s) == 0 ? s.sent : 0;
}

/* Open (creating it if need be) and map the object `name`, a state object
 * of this side (magic). Sets *fresh when it is new (and so zero). An object
 * of that name that is not a bridge's state of this side, a ring for one, is
 * refused (-EEXIST) and left as it is. */
static int map_state(struct shmring_bridge *b, const char *name, uint64_t magic, bool *fresh)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	bool created = fd >= 0;
	if (!created && errno == EEXIST)
		fd = shm_open(name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	/* One bridge per object: an OFD write lock, held while the bridge
	 * lives and dropped by the kernel however it ends. */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct stat sb;
	struct br_state *s = MAP_FAILED;
	int e = 0;
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		e = errno == EAGAIN || errno == EACCES ? EBUSY : errno;
	else if (fstat(fd, &sb) < 0)
		e = errno;
	else if (!S_ISREG(sb.st_mode))
		e = EINVAL;
	else if (sb.st_size != 0 && sb.st_size != ST_SIZE)
		e = EEXIST; /* not one of ours: a ring, or someone's data */
	else if (sb.st_size == 0 && ftruncate(fd, ST_SIZE) < 0)
		e = errno; /* new, or made by a side killed before it sized it */
	if (!e &&
	    (s = mmap(NULL, ST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
		e = errno;
	if (!e && sb.st_size == ST_SIZE && s->magic != magic) {
		/* All zero: made by a side killed before its first record. */
		const uint64_t *word = (const uint64_t *)s;
		for (size_t i = 0; i < ST_SIZE / 8 && !e; i++)
			if (word[i])
				e = EEXIST;
	}
	if (!e && !(b->state_name = strdup(name)))
		e = ENOMEM;
	if (e) {
		if (s != MAP_FAILED)
			munmap(s, ST_SIZE);
		if (created)
			shm_unlink(name);
		close(fd);
		if (e == EEXIST)
			br_log(b, SHMRING_BRIDGE_ERROR,
			       "state %s: an object of that name exists and is not this side's "
			       "bridge state (left as it is)",
			       name);
		return -e;
	}
	*fresh = sb.st_size == 0 || s->magic != magic;
	b->state = s;
	b->state_fd = fd;
	b->state_created = created;
	return 0;
}

/* Does the object belong to this ring, and to this side? */
static bool state_ours(struct shmring_bridge *b, uint64_t magic)
{
	struct br_state *s = b->state;
	return s->magic == magic && s->version == ST_VERSION && s->size == ST_SIZE &&
	       s->ring_ctime_ns == b->r->h->cfg.ctime_ns &&
	       s->ring_pid == b->r->h->cfg.creator_pid && st_load(&s->session);
}

static void state_reset(struct shmring_bridge *b, uint64_t magic)
{
	struct br_state *s = b->state;
	memset(s, 0, sizeof(*s));
	s->version = ST_VERSION;
	s->size = ST_SIZE;
	/* The ring's identity, from its validated, read-only config line. */
	s->ring_ctime_ns = b->r->h->cfg.ctime_ns;
	s->ring_pid = b->r->h->cfg.creator_pid;
	s->magic = magic;
}

int br_state_open(struct shmring_bridge *b, const char *name)
{
	struct br_state *s;
	bool fresh;
	int rc = map_state(b, name, ST_MAGIC_IN, &fresh);
	if (rc < 0)
		return rc;
	s = b->state;
	b->sent = ring_sent(b);
	if (!fresh && state_ours(b, ST_MAGIC_IN)) {
		uint32_t session = (uint32_t)st_load(&s->session);
		uint64_t next = st_load(&s->next), pending = st_load(&s->pending);
		uint64_t delta = b->sent - st_load(&s->mark);
		if (pending == ST_REWRITING) {
			br_log(b, SHMRING_BRIDGE_WARN,
			       "state %s was being rewritten when the previous in side stopped: "
			       "starting afresh (a gap before this point cannot be counted)",
			       name);
			goto afresh;
		}
		if (pending && delta <= pending) {
			if (delta)
				br_log(b, SHMRING_BRIDGE_INFO,
				       "the previous in side stopped while putting %llu messages "
				       "into the ring; %llu of them got there",
				       (unsigned long long)pending, (unsigned long long)delta);
			next += delta;
		} else if (pending) {
			br_log(b, SHMRING_BRIDGE_WARN,
			       "the previous in side stopped while putting %llu messages into "
			       "the ring, and the ring has other producers: which of them got "
			       "there is unknown; any that did not arrive again count as lost",
			       (unsigned long long)pending);
		}
		b->cur = 0;
		b->sess[0] = (struct br_session){ .id = session, .next = next, .used = ++b->tick };
		b->st.session = session;
		b->st.next_seq = next;
		b->st.sessions = 1;
		br_log(b, SHMRING_BRIDGE_INFO,
		       "resuming session %08x at sequence %llu (state %s): a gap after it "
		       "is what was lost while no in side ran",
		       session, (unsigned long long)next, name);
		st_store(&s->next, next);
		st_store(&s->pending, 0);
		st_store(&s->mark, b->sent);
		return 0;
	}
	if (!fresh && s->magic == ST_MAGIC_IN && st_load(&s->session))
		br_log(b, SHMRING_BRIDGE_INFO,
		       "state %s belonged to an earlier ring of that name: starting afresh", name);
afresh:
	state_reset(b, ST_MAGIC_IN);
	return 0;
}

int br_out_state_open(struct shmring_bridge *b, const char *name)
{
	struct shmring_stat st;
	bool fresh;
	int rc = map_state(b, name, ST_MAGIC_OUT, &fresh);
	if (rc < 0)
		return rc;
	if ((rc = shmring_stat(b->r, &st)) < 0)
		return rc;
	struct br_state *s = b->state;
	bool single = st.mode == SHMRING_SPSC || st.mode == SHMRING_MPSC;
	bool ours = !fresh && state_ours(b, ST_MAGIC_OUT);
	if (ours && !single) {
		br_log(b, SHMRING_BRIDGE_WARN,
		       "the ring takes several consumers (%s): a restarted out side cannot tell "
		       "what its predecessor took, and starts a new session",
		       shmring_mode_name(st.mode));
	} else if (ours) {
		uint64_t taken = st.received - st_load(&s->mark);
		b->st.session = (uint32_t)st_load(&s->session);
		b->st.next_seq = st_load(&s->next) + taken;
		br_log(b, SHMRING_BRIDGE_INFO,
		       "resuming session %08x at sequence %llu (state %s): what the previous "
		       "out side took from the ring and did not send shows up at the in side "
		       "as a gap",
		       b->st.session, (unsigned long long)b->st.next_seq, name);
		return 0;
	}
	if (!ours && !fresh && s->magic == ST_MAGIC_OUT && st_load(&s->session))
		br_log(b, SHMRING_BRIDGE_INFO,
		       "state %s belonged to an earlier ring of that name: starting afresh", name);
	state_reset(b, ST_MAGIC_OUT);
	st_store(&s->next, b->st.next_seq);
	st_store(&s->mark, st.received);
	st_store(&s->session, b->st.session);
	return 0;
}

void br_state_close(struct shmring_bridge *b, bool remove)
{
	if (b->state) {
		munmap(b->state, ST_SIZE);
		b->state = NULL;
	}
	if (b->state_name) {
		if (remove) /* while still locked: no other bridge has it open */
			shm_unlink(b->state_name);
		free(b->state_name);
		b->state_name = NULL;
	}
	if (b->state_fd >= 0) {
		close(b->state_fd);
		b->state_fd = -1;
	}
}

void br_state_begin(struct shmring_bridge *b, uint32_t session, uint64_t seq, uint64_t n)
{
	struct br_state *s = b->state;
	if (!s)
		return;
	if (st_load(&s->session) != session || st_load(&s->next) != seq ||
	    st_load(&s->mark) != b->sent)
		br_state_end(b, session, seq);
	st_store(&s->pending, n);
}

void br_state_end(struct shmring_bridge *b, uint32_t session, uint64_t next)
{
	struct br_state *s = b->state;
	if (!s)
		return;
	if (st_load(&s->pending) && st_load(&s->session) == session) {
		/* The end of a batch. In this order, a kill between any two
		 * stores leaves a record that counts the batch's messages as
		 * lost (mark moved, next not yet: the successor adds
		 * nothing) or exactly right, never one that hides a loss. */
		st_store(&s->mark, b->sent);
		st_store(&s->next, next);
		st_store(&s->pending, 0);
		return;
	}
	st_store(&s->pending, ST_REWRITING);
	st_store(&s->session, session);
	st_store(&s->next, next);
	st_store(&s->mark, b->sent);
	st_store(&s->pending, 0);
}
