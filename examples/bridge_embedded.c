/* SPDX-License-Identifier: MIT */
/*
 * bridge_embedded - the bridge library inside the application, a thread per
 * bridge, instead of `shmring bridge` processes (README, "Across hosts"):
 *
 *   producer thread -> ring A -> OUT thread ==ZeroMQ, TCP==> IN thread -> ring B -> main
 *
 * On two hosts, the producer and its OUT thread run in one program and the
 * IN thread and the consumer in another, OUT connecting to IN's
 * tcp://HOST:PORT; the programs' own code still only sends into and
 * receives from a local ring. Embedded, a message crosses no process
 * boundary on its way into and out of ZeroMQ: on the development VM that
 * took the bridge from 1.5x raw ZeroMQ's latency to 1.2x (bench/README.md,
 * `bridge-thread`).
 *
 * Here both halves run in one process over loopback TCP, and the program
 * checks what a user would: every message crosses exactly once and in
 * order, and end of stream reaches the consumer (closing the producer ends
 * the OUT bridge, which tells IN, which closes ring B's producer: the
 * consumer sees -EPIPE once it has drained ring B).
 *
 *   bridge_embedded [N]     N messages (default 100000); exit 0 when all
 *                           arrived in order, 1 otherwise
 */
#include <shmring.h>
#include <shmring_bridge.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_MAX 64

static void die(const char *what, int rc)
{
	fprintf(stderr, "bridge_embedded: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	exit(1);
}

struct bridge_thread {
	shmring_bridge *b;
	int rc;
};

static void *run_bridge(void *arg)
{
	struct bridge_thread *t = arg;
	t->rc = shmring_bridge_run(t->b); /* until end of stream */
	return NULL;
}

struct producer {
	shmring *r;
	uint64_t n;
	int rc;
};

/* Messages "message <seq>", then the close that ends the stream. */
static void *produce(void *arg)
{
	struct producer *p = arg;
	char msg[MSG_MAX];
	p->rc = 0;
	for (uint64_t i = 0; i < p->n && p->rc == 0; i++) {
		int len = snprintf(msg, sizeof(msg), "message %" PRIu64, i);
		p->rc = shmring_send(p->r, msg, (size_t)len, -1); /* waits while A is full */
	}
	shmring_close(p->r);
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
	struct shmring_config cfg = { .mode = SHMRING_SPSC, .max_msg = MSG_MAX };
	shmring *a_prod, *a_cons, *b_prod, *b_cons;
	int rc;

	/* Ring A: the producer's end, and the consumer's end for OUT. Ring B:
	 * the producer's end for IN, and ours. Anonymous rings, a second
	 * handle each through the ring's descriptor. */
	if ((rc = shmring_create_anon(&cfg, SHMRING_PRODUCER, &a_prod)) < 0 ||
	    (rc = shmring_open_fd(shmring_fd(a_prod), SHMRING_CONSUMER, &a_cons)) < 0 ||
	    (rc = shmring_create_anon(&cfg, SHMRING_CONSUMER, &b_cons)) < 0 ||
	    (rc = shmring_open_fd(shmring_fd(b_cons), SHMRING_PRODUCER, &b_prod)) < 0)
		die("rings", rc);

	/* IN binds a port the kernel picks; OUT connects to it. Each bridge
	 * takes its ring handle over. */
	struct bridge_thread in = { 0 }, out = { 0 };
	char ep[256];
	if ((rc = shmring_bridge_new(SHMRING_BRIDGE_IN, b_prod, "tcp://127.0.0.1:*", NULL, &in.b)) <
	    0)
		die("bridge in", rc);
	if ((rc = shmring_bridge_endpoint(in.b, ep, sizeof(ep))) < 0)
		die("bridge in: endpoint", rc);
	if ((rc = shmring_bridge_new(SHMRING_BRIDGE_OUT, a_cons, ep, NULL, &out.b)) < 0)
		die("bridge out", rc);

	pthread_t tin, tout, tprod;
	struct producer prod = { .r = a_prod, .n = n };
	if ((rc = pthread_create(&tin, NULL, run_bridge, &in)) != 0 ||
	    (rc = pthread_create(&tout, NULL, run_bridge, &out)) != 0 ||
	    (rc = pthread_create(&tprod, NULL, produce, &prod)) != 0)
		die("pthread_create", rc);

	/* The consumer: ring B, until end of stream. */
	char buf[MSG_MAX + 1], want[MSG_MAX + 1];
	uint64_t got = 0;
	ssize_t len;
	int bad = 0;
	while ((len = shmring_recv(b_cons, buf, MSG_MAX, -1)) >= 0) {
		buf[len] = 0;
		snprintf(want, sizeof(want), "message %" PRIu64, got);
		if (strcmp(buf, want) != 0 && bad++ < 5)
			fprintf(stderr, "bridge_embedded: message %" PRIu64 " reads \"%s\"\n", got,
				buf);
		got++;
	}
	if (len != -EPIPE)
		die("receiving from ring B", (int)len);

	pthread_join(tprod, NULL);
	pthread_join(tout, NULL);
	pthread_join(tin, NULL);
	struct shmring_bridge_stats st_in;
	shmring_bridge_stats(in.b, &st_in);
	shmring_bridge_close(out.b);
	shmring_bridge_close(in.b);
	shmring_close(b_cons);

	printf("%" PRIu64 " of %" PRIu64 " messages crossed the bridge, %s; gaps %" PRIu64
	       "; bridges returned %d (out), %d (in); end of stream reached the consumer\n",
	       got, n, bad ? "NOT in order" : "in order", st_in.gaps, out.rc, in.rc);
	return prod.rc == 0 && got == n && !bad && !st_in.gaps && out.rc == 0 && in.rc == 0 ? 0 : 1;
}
