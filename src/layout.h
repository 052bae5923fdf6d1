/* SPDX-License-Identifier: MIT */
/*
 * layout.h - the shared-memory layout of a ring, and nothing else.
 *
 * One shared-memory object per ring (POSIX shm, memfd, or huge pages):
 *
 *   0x0000  config line   magic, version, geometry, creator   read-only after init
 *   0x0100  producer line tail / enqueue position             written by producers
 *   0x0200  consumer line head / dequeue position             written by consumers
 *   0x0300  data wait     epoch + sleeper and armed masks (consumers wait)  both sides
 *   0x0400  room wait     epoch + sleeper and armed masks (producers wait)  both sides
 *   0x0500  totals        live-endpoint hints, folded counters, dropped   (rare writes)
 *   0x0600  sleep counts  threads asleep per endpoint (wait.c)    sleepers only
 *   0x1000  endpoint table, SR_EP_MAX entries of 64 bytes
 *   0x3000  data area     records (SPSC, MPSC) or slots (SPMC, MPMC), page aligned
 *
 * Positions are free-running 64-bit counters (bytes for record rings, slots
 * for slot rings), masked by capacity - 1 (or nslots - 1) to index the data
 * area. Unsigned subtraction gives the fill level correctly across the 2^64
 * wrap, because the fill level never exceeds the capacity; at 10^10 bytes/s
 * the counters themselves wrap only after 58 years.
 *
 * Only fixed-width types. Every word written by more than one party, or read
 * while another writes it, is _Atomic (see atomics.h). A peer may scribble on
 * any of it: readers copy a field once, check it, and use the copy.
 */
#ifndef SHMRING_LAYOUT_H
#define SHMRING_LAYOUT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "atomics.h"

#define SR_MAGIC UINT64_C(0x31474e49524d4853) /* "SHMRING1" little-endian */
#define SR_LAYOUT_VERSION 4u

#define SR_EP_PER_SIDE 64 /* endpoints on a multi side (the contract asks >= 64) */
#define SR_EP_MAX (2 * SR_EP_PER_SIDE)
#define SR_EP_CONS_BASE SR_EP_PER_SIDE /* producers 0..63, consumers 64..127 */

#define SR_OFF_PROD 0x100u
#define SR_OFF_CONS 0x200u
#define SR_OFF_DWAIT 0x300u
#define SR_OFF_RWAIT 0x400u
#define SR_OFF_TOTALS 0x500u
#define SR_OFF_NSLEEP 0x600u
#define SR_OFF_EP 0x1000u
#define SR_OFF_DATA_MIN 0x3000u /* the data area starts at or after this, page aligned */

struct sr_config_line {
	uint64_t magic;       /* 0x000 */
	sr_a32 version;       /* 0x008 0 while initialising; creator store-release, openers load-acquire */
	uint32_t header_size; /* 0x00c offset of the data area from the start (== data_off) */
	uint32_t mode;        /* 0x010 enum shmring_mode */
	uint32_t flags;       /* 0x014 SHMRING_STREAM, SHMRING_HUGEPAGES */
	uint64_t capacity;    /* 0x018 bytes of the data area in use (records: power of two) */
	uint64_t max_msg;     /* 0x020 largest message */
	uint64_t data_off;    /* 0x028 offset of the data area */
	uint64_t total_size;  /* 0x030 size of the object */
	uint32_t slot_size;   /* 0x038 slot rings: bytes per slot; record rings: 0 */
	uint32_t nslots;      /* 0x03c slot rings: slots (power of two); record rings: 0 */
	uint32_t ep_off;      /* 0x040 offset of the endpoint table */
	uint32_t ep_count;    /* 0x044 entries in it (SR_EP_MAX) */
	uint64_t ctime_ns;    /* 0x048 creation time, CLOCK_REALTIME */
	uint32_t creator_uid; /* 0x050 */
	uint32_t creator_pid; /* 0x054 */
	uint64_t reserved[21];/* 0x058 zero */
};

/* A line written by one side only, padded so the two sides' hot words sit
 * 256 bytes apart (the adjacent-line prefetcher pulls 128-byte pairs). */
struct sr_pos_line {
	sr_a64 pos;       /* +0x00 records: byte position; slots: slot position */
	sr_a64 aux;       /* +0x08 streams: the producer line's names the last record
			   * reserved (a hint, ring_stream.c); the consumer line's
			   * holds the bytes read of the record at pos */
	uint64_t pad[30];
};

/* An event count (wait.c): sleepers announce themselves, then sleep on epoch.
 * The mask has a bit per endpoint of the side that waits here (consumers on
 * the data line, producers on the room line): set while that endpoint has a
 * thread asleep, so wakers load one word, and the reaper of a dead sleeper
 * clears its bit exactly (a count could not tell what the dead had added).
 * While `armed` reads zero, no endpoint of that side sleeps or polls here
 * (none has, or each gave its bit back after staying awake), and wakers skip
 * the handshake (wait.c, "Arming"). */
struct sr_wait_line {
	sr_a32 epoch;    /* +0x00 futex word: wakers add 1 before FUTEX_WAKE */
	uint32_t resv0;  /* +0x04 zero */
	sr_a32 want;     /* +0x08 a pollfd waits for the next transition (one-shot) */
	uint32_t resv1;  /* +0x0c zero */
	sr_a64 mask;     /* +0x10 bit (index % SR_EP_PER_SIDE): that endpoint may sleep */
	sr_a64 armed;    /* +0x18 same bits: that endpoint waits here, or did lately (wait.c) */
	uint64_t pad[28];
};

struct sr_totals_line {
	sr_a32 nprod;        /* +0x00 live producers (hint: dead ones are found by lock probe) */
	sr_a32 ncons;        /* +0x04 live consumers (hint) */
	sr_a32 prod_seen;    /* +0x08 a producer has attached once (sticky) */
	sr_a32 cons_seen;    /* +0x0c a consumer has attached once (sticky) */
	sr_a64 dropped;      /* +0x10 messages lost to dead peers */
	sr_a64 sent;         /* +0x18 counts folded in from freed endpoints */
	sr_a64 received;     /* +0x20 */
	sr_a64 wakeups;      /* +0x28 */
	sr_a32 full_fences;  /* +0x30 sticky: an endpoint attached that cannot make the
			      * waiter's heavy barrier (membarrier), so wakers fence
			      * fully too (wait.c) */
	sr_a32 closes;       /* +0x34 endpoints freed by a close so far (wait.c: a waiter
			      * looks at its peers again when it moves) */
	uint64_t pad[25];
};

#define SR_EP_FREE 0u
#define SR_EP_LIVE 1u
#define SR_EP_STATE(sg) ((uint32_t)(sg)&3u)
#define SR_EP_GEN(sg) ((uint32_t)(sg) >> 2)
#define SR_RESV_NONE UINT64_MAX

/* One endpoint (a producer or consumer role of a process and its forks).
 * Its owner holds an OFD write lock on byte `index` of the object for as long
 * as the role lives (peers.c): that lock, not the pid, is the liveness. */
struct sr_endpoint {
	sr_a32 sg;         /* 0x00 gen << 2 | state; owner store-release at attach, CAS at free */
	uint32_t role;     /* 0x04 SHMRING_PRODUCER or SHMRING_CONSUMER */
	uint32_t pid;      /* 0x08 informational: liveness is the lock */
	sr_a32 poll_pid;   /* 0x0c key (poll.c) of the pollfd that listens for it, 0 = none */
	uint64_t since_ns; /* 0x10 attach time, CLOCK_REALTIME */
	sr_a64 count;      /* 0x18 messages sent / received: owner only, relaxed */
	sr_a64 bytes;      /* 0x20 payload bytes moved: owner only, relaxed */
	sr_a64 wakeups;    /* 0x28 futex wakes issued by this endpoint: owner only */
	sr_a64 resv_pos;   /* 0x30 position reserved or held, SR_RESV_NONE: see ring_*.c */
	sr_a64 resv_size;  /* 0x38 size of that reservation (records) */
};

/* poll_pid holds the key of the pollfd socket that listens for the endpoint:
 * the binder's pid and the endpoint it bound for. Never 0, and unique among
 * live processes (pids are below 2^22, indexes below 2^8). */
#define SR_POLL_KEY(idx, pid) (((uint32_t)(pid) << 8) | ((uint32_t)(idx)&0xffu))
#define SR_POLL_KEY_PID(key) ((uint32_t)(key) >> 8)

struct sr_header {
	struct sr_config_line cfg;      /* 0x000 */
	struct sr_pos_line prod;        /* 0x100 */
	struct sr_pos_line cons;        /* 0x200 */
	struct sr_wait_line dwait;      /* 0x300 */
	struct sr_wait_line rwait;      /* 0x400 */
	struct sr_totals_line totals;   /* 0x500 */
	sr_a32 nsleep[SR_EP_MAX];       /* 0x600 threads of endpoint i asleep (wait.c) */
	uint8_t reserved[0x1000 - 0x600 - 4 * SR_EP_MAX];
	struct sr_endpoint ep[SR_EP_MAX]; /* 0x1000 */
};

/* ---- Records (SPSC, MPSC) ----
 * A record is an 8-byte header word and its payload, 8-byte aligned. One that
 * starts near the end of the area runs on past it into the spill, a tail of
 * SR_SPILL(max_msg) bytes after the area, so that it stays contiguous; its
 * positions past the lap's end stay unused at the start of the area (they
 * read as zero on MP rings), and the next record starts where it ends, in
 * the next lap: no space is lost to padding at the wrap. (Streams keep no
 * spill: their records shrink to fit the end, or padding fills it.) The
 * header word: bits 0-31 length, 32-39 type, 40-63 owner tag (claimed only).
 * A zero header means "not written yet": an SP producer zeroes the word
 * past its record before it publishes the record; on MP rings the consumer
 * zeroes what it consumed before it publishes its head, so all free space
 * reads as zero (ring_rec.c). */
#define SR_REC_HDR 8u
#define SR_REC_CLAIMED 1u /* reserved by a producer (MPSC), length = claimed length */
#define SR_REC_MSG 2u     /* committed message, length = payload bytes */
#define SR_REC_PAD 3u     /* padding, length = bytes of the whole record */
#define SR_REC_WORD(type, len, tag)                                                          \
	(((uint64_t)(tag) << 40) | ((uint64_t)(type) << 32) | (uint64_t)(uint32_t)(len))
#define SR_REC_TYPE(w) ((uint32_t)((w) >> 32) & 0xffu)
#define SR_REC_LEN(w) ((uint32_t)(w))
#define SR_REC_TAG(w) ((uint32_t)((w) >> 40))
#define SR_TAG(idx, gen) (((uint32_t)(gen) & 0xffffu) << 8 | (uint32_t)(idx))
#define SR_TAG_IDX(tag) ((tag)&0xffu)
#define SR_TAG_GEN(tag) ((tag) >> 8)
#define SR_REC_MAX_LEN ((uint64_t)UINT32_MAX - 64)
/* The spill after the area of a message ring: its largest record, in pages. */
#define SR_SPILL(max_msg) (((uint64_t)(max_msg) + SR_REC_HDR + 4095) & ~(uint64_t)4095)

/* ---- Stream records (SHMRING_STREAM) ----
 * A byte stream is a record ring whose records grow: a writer reserves a
 * record of up to SR_STREAM_CHUNK_MAX bytes, and every writer appends to it
 * while it is open and the last reservation (the producer line's aux word
 * names it); the reader hands out bytes, and closes an open record it has
 * drained when another record waits behind it. The header word: bits 0-19
 * bytes written, 20-36 record size / 8, 37-39 type, 40-63 tag of the writer
 * that took it last.
 *   BUSY    a writer writes into it (its tag set): first bytes, or an append
 *   OPEN    any writer may append (by CAS on the word)
 *   CLOSED  no more appends; the reader passes it once drained
 *   PAD     padding, size = the whole record
 *   GIVING  a writer gives back the room the record does not use (its tag set) */
#define SR_STR_BUSY 1u
#define SR_STR_OPEN 2u
#define SR_STR_CLOSED 3u
#define SR_STR_PAD 4u
#define SR_STR_GIVING 5u
#define SR_STR_LEN_MAX ((1u << 20) - 1)
#define SR_STR_WORD(type, len, size, tag)                                                    \
	(((uint64_t)(tag) << 40) | ((uint64_t)(type) << 37) | ((uint64_t)((size) >> 3) << 20) |  \
	 (uint64_t)(len))
#define SR_STR_LEN(w) ((uint32_t)(w)&SR_STR_LEN_MAX)
#define SR_STR_SIZE(w) ((((w) >> 20) & 0x1ffffu) << 3)
#define SR_STR_TYPE(w) ((uint32_t)((w) >> 37) & 7u)
#define SR_STR_TAG(w) ((uint32_t)((w) >> 40))
#define SR_STREAM_MIN 4096u           /* PIPE_BUF: smaller streams are refused */
#define SR_STREAM_CHUNK_MAX (8u << 10) /* largest stream record: room comes back in these steps */
#define SR_STREAM_AREA_MIN (32u << 10) /* a stream's smallest area: four records of the largest */

/* ---- Slots (SPMC, MPMC) ----
 * Vyukov's bounded queue over fixed slots. seq == pos: free for the producer
 * of position pos; seq == pos + 1: holds the message of pos; the consumer of
 * pos frees it by storing pos + nslots. */
struct sr_slot {
	sr_a64 seq;  /* +0x00 see above: store-release by each side, load-acquire by the other */
	sr_a64 len;  /* +0x08 payload length, or SR_SLOT_SKIP; written before seq */
	/* +0x10 payload, max_msg bytes */
};
#define SR_SLOT_HDR 16u
#define SR_SLOT_SKIP UINT64_MAX /* aborted claim: consumers pass over it */

static_assert(sizeof(struct sr_config_line) == 0x100, "config line is 256 bytes");
static_assert(offsetof(struct sr_header, prod) == SR_OFF_PROD, "producer line offset");
static_assert(offsetof(struct sr_header, cons) == SR_OFF_CONS, "consumer line offset");
static_assert(offsetof(struct sr_header, dwait) == SR_OFF_DWAIT, "data wait offset");
static_assert(offsetof(struct sr_header, rwait) == SR_OFF_RWAIT, "room wait offset");
static_assert(offsetof(struct sr_header, totals) == SR_OFF_TOTALS, "totals offset");
static_assert(offsetof(struct sr_header, nsleep) == SR_OFF_NSLEEP, "sleep counts offset");
static_assert(sizeof(struct sr_wait_line) == 0x100, "a wait line is 256 bytes");
static_assert(SR_EP_PER_SIDE <= 64, "a side's endpoints fit a 64-bit sleeper mask");
static_assert(offsetof(struct sr_header, ep) == SR_OFF_EP, "endpoint table offset");
static_assert(sizeof(struct sr_header) == SR_OFF_DATA_MIN, "header size");
static_assert(SR_OFF_CONS - SR_OFF_PROD >= 128, "producer and consumer lines 128 bytes apart");
static_assert(sizeof(struct sr_endpoint) == 64, "an endpoint is one cache line");
static_assert(sizeof(struct sr_slot) == SR_SLOT_HDR, "slot header");
static_assert(offsetof(struct sr_config_line, version) == 0x8, "version offset");
static_assert(offsetof(struct sr_config_line, capacity) == 0x18, "capacity offset");
static_assert(offsetof(struct sr_config_line, ep_off) == 0x40, "ep_off offset");
static_assert(offsetof(struct sr_config_line, creator_pid) == 0x54, "creator offset");
static_assert(SR_EP_MAX <= 256, "tags hold an 8-bit endpoint index");

#endif /* SHMRING_LAYOUT_H */
