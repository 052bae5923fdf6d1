/* SPDX-License-Identifier: MIT */
/* hello_producer.c - create the ring "shmring-hello", send ten messages, close.
 * Run hello_consumer beside it (before or after: the messages wait in the ring). */
#include <shmring.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	shmring *r;
	char msg[32];
	int rc = shmring_create("shmring-hello", NULL, SHMRING_PRODUCER, &r);

	if (rc == -EEXIST) {
		fprintf(stderr,
			"shmring-hello exists (left by a crash?): rm /dev/shm/shmring-hello\n");
		return 1;
	}
	for (int i = 1; rc == 0 && i <= 10; i++) {
		int len = snprintf(msg, sizeof msg, "hello %d", i);
		rc = shmring_send(r, msg, (size_t)len, -1); /* -1: wait for room, however long */
	}
	if (rc < 0) {
		fprintf(stderr, "hello_producer: %s\n", strerror(-rc));
		return 1;
	}
	return shmring_close(r) < 0; /* the consumer sees -EPIPE once it has read all ten */
}
