/* SPDX-License-Identifier: MIT */
/* hello_consumer.c - attach to "shmring-hello", print every message until the
 * producer has closed, then remove the ring. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <shmring.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(void)
{
	shmring *r;
	char buf[64];
	ssize_t n;
	int rc, tries = 0;

	/* Not created yet (-ENOENT) or still being initialised (-EAGAIN): retry for 5 s. */
	while ((rc = shmring_open("shmring-hello", SHMRING_CONSUMER, &r)) == -ENOENT ||
	       rc == -EAGAIN)
		if (++tries > 500 || nanosleep(&(struct timespec){ 0, 10000000 }, NULL) != 0)
			break;
	if (rc < 0) {
		fprintf(stderr, "hello_consumer: shmring_open: %s\n", strerror(-rc));
		return 1;
	}
	while ((n = shmring_recv(r, buf, sizeof buf, -1)) >= 0) /* -1: wait as long as it takes */
		printf("%.*s\n", (int)n, buf);
	if (n != -EPIPE) /* -EPIPE: the producer has closed and the ring is empty */
		fprintf(stderr, "hello_consumer: shmring_recv: %s\n", strerror((int)-n));
	rc = shmring_close(r);
	return shmring_unlink("shmring-hello") < 0 || rc < 0 || n != -EPIPE;
}
