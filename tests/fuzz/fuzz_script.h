/* SPDX-License-Identifier: MIT */
/*
 * fuzz_script.h - the input encodings of the script-driven fuzz targets
 * (fuzz_recv_scribble, fuzz_producer_corrupt_head), shared by the targets and
 * by the seed generator (gen_corpus.c), which writes inputs in this format.
 * Nothing here depends on the library's internals.
 *
 * fuzz_recv_scribble input:
 *   byte 0     ring kind (FZ_KIND_*, see fz_kind()) and size variant
 *   then steps, each an op byte (op % FZ_NOPS) followed by its arguments:
 *     FZ_SEND      sel                 producer: send a message of fz_len(sel)
 *     FZ_SENDV     n sel               producer: sendv of 1..4 messages
 *     FZ_CLAIM     sel                 producer: claim, fill the buffer
 *     FZ_COMMIT    sel                 producer: commit (sel picks the final length)
 *     FZ_ABORT                         producer: abort
 *     FZ_WRITE     sel                 producer: shmring_write
 *     FZ_RECV      sel                 consumer: recv into a buffer of fz_len(sel)
 *     FZ_RECVV     n sel               consumer: recvv into 1..4 buffers
 *     FZ_PEEK                          consumer: peek, read the message in place
 *     FZ_RELEASE                       consumer: release
 *     FZ_READ      sel                 consumer: shmring_read
 *     FZ_STAT      which               stat of the producer (even) or consumer (odd)
 *     FZ_SCRIB_RAW off16 val64         write 8 bytes at offset off16 (scaled to the object)
 *     FZ_SCRIB     field how val64     rewrite a named field (FZ_F_*) as `how` says (FZ_H_*)
 *     FZ_REOPEN    which               close the producer (even) or consumer (odd)
 *                                      handle and attach a new one through the fd
 *     FZ_POLL      which               shmring_pollfd of the producer (even) or
 *                                      consumer (odd), then poll(2) it; from then
 *                                      on each -EAGAIN re-arms it (poll.c)
 *   Missing argument bytes read as zero; the script ends with the input.
 *
 * fuzz_producer_corrupt_head input:
 *   byte 0     ring kind and size variant, as above
 *   byte 1     messages to send first (0..255, stops at the first -EAGAIN)
 *   byte 2     their length selector
 *   then steps as above, restricted to the producer's ops (FZ_SEND, FZ_SENDV,
 *   FZ_CLAIM, FZ_COMMIT, FZ_ABORT, FZ_WRITE, FZ_STAT, FZ_POLL) and FZ_SCRIB with the
 *   fields FZ_F_CONS_POS, FZ_F_PROD_POS, FZ_F_AT_HEAD, FZ_F_AT_TAIL,
 *   FZ_F_AT_TAIL_NEXT, FZ_F_LEN_AT_TAIL; other ops are read as FZ_SCRIB of
 *   the consumer position, so most inputs move the head.
 */
#ifndef SHMRING_FUZZ_SCRIPT_H
#define SHMRING_FUZZ_SCRIPT_H

#include <stdint.h>

enum fz_kind {
	FZ_KIND_SPSC = 0,
	FZ_KIND_MPSC,
	FZ_KIND_SPMC,
	FZ_KIND_MPMC,
	FZ_KIND_STREAM_SPSC,
	FZ_KIND_STREAM_MPSC,
	FZ_NKINDS
};

/* byte 0: kind = b % FZ_NKINDS, big = (b / FZ_NKINDS) & 1 */
static inline uint8_t fz_config_byte(enum fz_kind kind, int big)
{
	return (uint8_t)(kind + FZ_NKINDS * (big ? 1 : 0));
}

enum fz_op {
	FZ_SEND = 0,
	FZ_SENDV,
	FZ_CLAIM,
	FZ_COMMIT,
	FZ_ABORT,
	FZ_WRITE,
	FZ_RECV,
	FZ_RECVV,
	FZ_PEEK,
	FZ_RELEASE,
	FZ_READ,
	FZ_STAT,
	FZ_SCRIB_RAW,
	FZ_SCRIB,
	FZ_REOPEN,
	FZ_POLL,
	FZ_NOPS
};

/* Fields a FZ_SCRIB rewrites: an 8-byte word of the segment. */
enum fz_field {
	FZ_F_PROD_POS = 0, /* 0x100 tail / enqueue position */
	FZ_F_PROD_AUX,     /* 0x108 */
	FZ_F_CONS_POS,     /* 0x200 head / dequeue position */
	FZ_F_CONS_AUX,     /* 0x208 bytes read of the stream record at head */
	FZ_F_DWAIT,        /* 0x300 epoch | sleepers of the data wait */
	FZ_F_DWAIT_WANT,   /* 0x308 want of the data wait */
	FZ_F_RWAIT,        /* 0x400 */
	FZ_F_RWAIT_WANT,   /* 0x408 */
	FZ_F_LIVE,         /* 0x500 nprod | ncons */
	FZ_F_SEEN,         /* 0x508 prod_seen | cons_seen */
	FZ_F_EP_PROD_SG,   /* the producer's endpoint: sg | role */
	FZ_F_EP_PROD_RESV, /* ... resv_pos */
	FZ_F_EP_CONS_SG,   /* the consumer's endpoint: sg | role */
	FZ_F_EP_CONS_RESV, /* ... resv_pos */
	FZ_F_AT_HEAD,      /* records: the word at head; slots: seq of the head slot */
	FZ_F_AT_TAIL,      /* records: the word at tail; slots: seq of the tail slot */
	FZ_F_LEN_AT_HEAD,  /* records: the word after the head's; slots: len of the head slot */
	FZ_F_LEN_AT_TAIL,  /* records: the word after the tail's; slots: len of the tail slot */
	FZ_F_AT_TAIL_NEXT, /* records: the word 8 bytes past the tail; slots: seq of tail + 1 */
	FZ_F_HELD,         /* the record/slot of the outstanding claim (or peek) */
	FZ_F_CONFIG,       /* a word of the config line (val % 32 picks it) */
	FZ_NFIELDS
};

/* How FZ_SCRIB rewrites the field. */
enum fz_how {
	FZ_H_SET = 0,   /* = val */
	FZ_H_ADD,       /* += (int8_t)val (a small step either way) */
	FZ_H_XOR_BIT,   /* ^= 1 << (val % 64) */
	FZ_H_LAP,       /* += ((val % 5) - 2) * capacity (in positions) */
	FZ_H_ZERO,      /* = 0 */
	FZ_H_ONES,      /* = ~0 */
	FZ_H_COPY_TAIL, /* = the tail (producer position) + (int8_t)val */
	FZ_H_COPY_HEAD, /* = the head (consumer position) + (int8_t)val */
	FZ_NHOWS
};

/* Length selectors (fz_len): a byte picks 0, 1, max_msg, max_msg + 1 (too
 * long) or a spread of values in between; for streams, sizes around PIPE_BUF
 * and the chunk size. */

#endif /* SHMRING_FUZZ_SCRIPT_H */
