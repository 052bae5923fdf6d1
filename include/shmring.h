/* SPDX-License-Identifier: MIT */
/*
 * shmring.h - lock-free ring buffers in shared memory, between processes.
 *
 * The one public header of libshmring. The contract it implements is
 * ../shared/API.md; every name below keeps the meaning given there.
 *
 * Conventions (as in liburing and libuv):
 *  - Every fallible function returns 0 or a count on success and a negative
 *    errno on failure. Nothing sets errno as its way of reporting, nothing
 *    prints, nothing aborts on bad input. Out-parameters are written only on
 *    success.
 *  - timeout_ns is relative, on CLOCK_MONOTONIC: 0 = do not wait, < 0 = wait
 *    as long as it takes, > 0 = at most that long, then -ETIMEDOUT.
 *  - A signal handler that runs while a blocking call sleeps on its futex ends
 *    the call with -EINTR (or the partial count already moved, as read(2)
 *    does without SA_RESTART). While the call spins (the first spin_ns of a
 *    wait, all of it when busy-polling) a handler runs and the wait goes on:
 *    no system call is made there that the kernel could interrupt.
 *  - A shmring handle is process-local and used by one thread at a time.
 *
 * Compiles as C (C99 or later) and as C++.
 */
#ifndef SHMRING_H
#define SHMRING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMRING_BUILDING) && defined(__GNUC__)
#define SHMRING_API __attribute__((visibility("default")))
#else
#define SHMRING_API
#endif

#define SHMRING_VERSION_MAJOR 0
#define SHMRING_VERSION_MINOR 1
#define SHMRING_VERSION_PATCH 0

typedef struct shmring shmring; /* opaque, process-local handle */

/* Who may produce and consume at once. */
enum shmring_mode {
	SHMRING_SPSC = 0,
	SHMRING_MPSC,
	SHMRING_SPMC,
	SHMRING_MPMC,
};

/* Roles for shmring_create / shmring_open / shmring_open_fd (may be OR-ed). */
#define SHMRING_OBSERVER 0x0 /* read-only view: shmring_stat only */
#define SHMRING_PRODUCER 0x1
#define SHMRING_CONSUMER 0x2

/* shmring_config.flags */
#define SHMRING_STREAM 0x1    /* byte stream with pipe semantics, not messages */
#define SHMRING_HUGEPAGES 0x2 /* back the segment with huge pages */
/* No fence on the message path: a waker's check for sleepers costs a compiler
 * barrier instead of a locked instruction, and every sleep pays a
 * membarrier(2) instead (an inter-processor interrupt: microseconds on bare
 * metal, tens of them in a VM). For rings whose sides rarely sleep: a side
 * that has never slept costs no fence on any ring (shmring_set_spin). Where
 * membarrier is unavailable, the ring fences as usual. */
#define SHMRING_FENCE_FREE 0x4

/* Defaults of an all-zero config. */
#define SHMRING_DEFAULT_CAPACITY ((size_t)1 << 20) /* 1 MiB */
#define SHMRING_DEFAULT_MAX_MSG ((size_t)4096)     /* or capacity / 2 if smaller */
#define SHMRING_DEFAULT_SPIN_NS ((int64_t)50000)   /* 50 us, then sleep (0 where one CPU is online) */

/* Largest endpoint count on a multi side; single sides take one. */
#define SHMRING_MAX_ENDPOINTS 64

struct shmring_config { /* all-zero = sensible defaults */
	enum shmring_mode mode; /* default SHMRING_SPSC */
	size_t capacity;        /* bytes of storage, rounded up to a power of two; 0 = 1 MiB */
	size_t max_msg;         /* largest message; 0 = min(4 KiB, capacity / 2) */
	mode_t perm;            /* permission bits of the shm object; 0 = 0600 */
	unsigned flags;
	uint64_t reserved[4]; /* must be zero */
};

/* ---- Lifecycle ---------------------------------------------------------- */

/* Make a new named ring ("name" or "/name") and attach with `role`.
 * -EEXIST if the name is taken; cfg may be NULL. */
SHMRING_API int shmring_create(const char *name, const struct shmring_config *cfg, int role,
			       shmring **out);
/* Attach to an existing named ring after validating it completely:
 * -ENOENT, -EBADMSG (not a ring), -EPROTO (other layout), -EAGAIN (creator
 * still initialising), -EBUSY (single side taken), -EUSERS (table full). */
SHMRING_API int shmring_open(const char *name, int role, shmring **out);
/* Give up this process's roles and free the handle. Never blocks, never unlinks. */
SHMRING_API int shmring_close(shmring *r);
/* Remove the name, like shm_unlink(3). */
SHMRING_API int shmring_unlink(const char *name);

/* A ring with no name (memfd, sealed), shared by fork() or by passing its fd. */
SHMRING_API int shmring_create_anon(const struct shmring_config *cfg, int role, shmring **out);
/* The handle's descriptor (close-on-exec, owned by the handle: dup() it to pass it on). */
SHMRING_API int shmring_fd(const shmring *r);
/* Attach to a ring through a descriptor (from SCM_RIGHTS, exec, ...). The fd
 * stays the caller's. */
SHMRING_API int shmring_open_fd(int fd, int role, shmring **out);

/* ---- Messages ----------------------------------------------------------- */

SHMRING_API int shmring_send(shmring *r, const void *msg, size_t len, int64_t timeout_ns);
SHMRING_API ssize_t shmring_recv(shmring *r, void *buf, size_t cap, int64_t timeout_ns);
SHMRING_API int shmring_sendv(shmring *r, const struct iovec *msgs, int n, int64_t timeout_ns);
SHMRING_API int shmring_recvv(shmring *r, struct iovec *bufs, int n, int64_t timeout_ns);

/* ---- Zero copy ---------------------------------------------------------- */

SHMRING_API int shmring_claim(shmring *r, size_t len, void **buf, int64_t timeout_ns);
SHMRING_API int shmring_commit(shmring *r, size_t len);
SHMRING_API int shmring_abort(shmring *r);
SHMRING_API int shmring_peek(shmring *r, const void **msg, size_t *len, int64_t timeout_ns);
SHMRING_API int shmring_release(shmring *r);

/* ---- Streams (pipe replacement) ----------------------------------------- */

SHMRING_API int shmring_pipe(shmring *ends[2], const struct shmring_config *cfg);
SHMRING_API ssize_t shmring_read(shmring *r, void *buf, size_t n, int64_t timeout_ns);
SHMRING_API ssize_t shmring_write(shmring *r, const void *buf, size_t n, int64_t timeout_ns);

/* ---- Waiting ------------------------------------------------------------ */

/* Spin up to spin_ns before sleeping; < 0 busy-polls, 0 sleeps at once. */
SHMRING_API int shmring_set_spin(shmring *r, int64_t spin_ns);
SHMRING_API int shmring_pollfd(shmring *r);

/* ---- Introspection ------------------------------------------------------ */

struct shmring_stat {
	enum shmring_mode mode;
	unsigned flags;
	size_t capacity, max_msg; /* capacity: the real storage, in bytes */
	size_t used;              /* bytes of storage in use now */
	uint64_t sent, received;  /* messages (bytes for streams) since creation */
	unsigned producers, consumers; /* live endpoints */
	unsigned sleepers;             /* threads asleep on the ring now */
	uint64_t wakeups;              /* futex wakes issued since creation */
	uint64_t dropped;              /* messages lost to dead peers */
	uint64_t reserved[8];          /* zero */
};

SHMRING_API int shmring_stat(const shmring *r, struct shmring_stat *st);
SHMRING_API const char *shmring_mode_name(enum shmring_mode mode);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_H */
