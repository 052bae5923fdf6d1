/* SPDX-License-Identifier: MIT */
/*
 * zmq_common.h - what the zmq and bridge transports share, so that raw
 * ZeroMQ and the bridge are measured with the same queues and the same
 * allocator.
 */
#ifndef SHMRING_BENCH_ZMQ_COMMON_H
#define SHMRING_BENCH_ZMQ_COMMON_H

#include <malloc.h>
#include <stddef.h>

/*
 * ZeroMQ's queues (ZMQ_SNDHWM, ZMQ_RCVHWM, in messages) hold about what a
 * ring of the ring transports does (1 MiB), and at most ZeroMQ's default of
 * 1000 messages: 1000 up to 1 KiB, 256 at 4 KiB, 16 at 64 KiB. With the
 * default at every size, a 64 KiB stream kept 64 MiB queued on each side,
 * and every copy missed the caches.
 */
static inline int bench_zmq_hwm(size_t size)
{
	size_t n = ((size_t)1 << 20) / (size ? size : 1);
	return n < 4 ? 4 : n > 1000 ? 1000 : (int)n;
}

/*
 * ZeroMQ allocates each message larger than 33 bytes (malloc) in one thread
 * and frees it in another. glibc gives the top of its heap back to the kernel
 * once 128 KiB of it is free, so at 4 KiB and more nearly every message
 * was written into memory fresh from the kernel: a page fault per 4 KiB
 * (expensive in a VM), which measured the allocator, not ZeroMQ. A process
 * that streams large messages keeps its heap: no trimming, and no mmap() per
 * message up to 32 MiB. Each process of a ZeroMQ side (and each bridge)
 * calls this before its context starts.
 */
static inline void bench_zmq_keep_heap(void)
{
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
}

#endif /* SHMRING_BENCH_ZMQ_COMMON_H */
