/* SPDX-License-Identifier: MIT */
/*
 * fuzz_open.c - libFuzzer target: open/validate on a fuzzer-made segment.
 *
 * The input is a whole segment image. It is written into a memfd of exactly
 * its size, which is then attached with shmring_open_fd as an observer, a
 * consumer, a producer and both; every handle that opens runs a fixed, bounded
 * schedule of calls with timeout 0 (stat; send, sendv, claim/commit,
 * claim/abort; recv, recvv, peek/release; write/read for streams) checked
 * against the model of fuzz_common.h (with a pollfd armed, so that every
 * -EAGAIN also runs poll.c's re-arm), and is closed. Each attach sees what
 * the previous handles left (reaped endpoints, consumed records).
 *
 * The word creator_uid (offset 0x50) is stored XOR the running euid, so a
 * seed made by one user opens for another: 0 in the input means "ours", and
 * every other value still reaches the owner check.
 *
 * Seeds: real rings of each mode and streams, copied out of their memfd
 * (gen_corpus.c). The library maps the object between PROT_NONE guards
 * (segment.c, map_guarded), so an access past either end faults: any crash
 * is a bug. AddressSanitizer does not watch the shared mapping itself.
 */
#include "fuzz_common.h"

#define FZ_OPEN_MAX ((size_t)1 << 18) /* larger images only cost time */

static int image_fd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz_open", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	if (size >= offsetof(struct sr_config_line, creator_uid) + 4) {
		uint32_t uid;
		size_t at = offsetof(struct sr_config_line, creator_uid);
		memcpy(&uid, copy + at, 4);
		uid ^= (uint32_t)geteuid();
		memcpy(copy + at, &uid, 4);
	}
	size_t done = 0;
	while (done < size) {
		ssize_t n = write(fd, copy + done, size - done);
		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	free(copy);
	return fd;
}

/* A fixed schedule, bounded: every call takes timeout 0. */
static void exercise(struct fz_ep *e)
{
	static const uint8_t sels[] = { 0, 1, 2, 3, 4, 5, 6, 9, 77, 200 };
	fz_stat(e);
	fz_pollfd(e); /* armed: each -EAGAIN below re-arms it (poll.c) */
	/* consumer first: whatever the image holds */
	for (int i = 0; i < 4; i++)
		fz_recv(e, 2);
	fz_recvv(e, 3, 2);
	fz_peek(e);
	fz_recv(e, 2); /* -EBUSY during the peek */
	fz_release(e);
	fz_release(e); /* -EINVAL */
	fz_readop(e, 4);
	fz_readop(e, 0);
	/* then the producer */
	for (size_t i = 0; i < FZ_NELEM(sels); i++)
		fz_send(e, sels[i]);
	fz_sendv(e, 3, 2);
	fz_claim(e, 2);
	fz_send(e, 1); /* -EBUSY during the claim */
	fz_commit(e, 3);
	fz_claim(e, 4);
	fz_abort(e);
	fz_abort(e); /* -EINVAL */
	fz_write(e, 0);
	fz_write(e, 2);
	fz_write(e, 5);
	fz_stat(e);
	/* and what the producer left, back through the consumer */
	for (int i = 0; i < 6; i++)
		fz_recv(e, 2);
	fz_peek(e);
	fz_readop(e, 5);
	fz_stat(e);
	/* a claim and a peek left outstanding: close gives them back */
	fz_claim(e, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int roles[] = { SHMRING_OBSERVER, SHMRING_CONSUMER, SHMRING_PRODUCER,
				     SHMRING_PRODUCER | SHMRING_CONSUMER };
	if (size > FZ_OPEN_MAX)
		return -1; /* not added to the corpus */
	int fd = image_fd(data, size);
	for (size_t i = 0; i < FZ_NELEM(roles); i++) {
		struct fz_ep e;
		fz_open(&e, fd, roles[i]);
		if (!e.r)
			continue;
		exercise(&e);
		fz_close(&e);
	}
	close(fd);
	fz_fd_check();
	return 0;
}
