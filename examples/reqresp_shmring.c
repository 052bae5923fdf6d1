/* SPDX-License-Identifier: MIT */
/*
 * reqresp_shmring.c - a parent asks, a child answers, over two shmring pipes.
 * examples/reqresp_pipe.c is the same program over pipe(2): the
 * README shows the diff between the two.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmring.h"

typedef shmring *end_t;
#define make_pipe(e) shmring_pipe((e), NULL)
#define put(e, buf, n) shmring_write((e), (buf), (n), -1)
#define get(e, buf, n) shmring_read((e), (buf), (n), -1)
#define done(e) shmring_close(e)

int main(void)
{
	end_t ask[2], answer[2];
	if (make_pipe(ask) < 0 || make_pipe(answer) < 0)
		return perror("pipe"), 1;
	if (fork() == 0) { /* child: squares what it is asked, until EOF */
		done(ask[1]);
		done(answer[0]);
		long x, y;
		while (get(ask[0], &x, sizeof(x)) == sizeof(x)) {
			y = x * x;
			put(answer[1], &y, sizeof(y));
		}
		_exit(0);
	}
	done(ask[0]);
	done(answer[1]);
	long sum = 0;
	for (long x = 1; x <= 100000; x++) {
		long y;
		if (put(ask[1], &x, sizeof(x)) != sizeof(x) ||
		    get(answer[0], &y, sizeof(y)) != sizeof(y) || y != x * x)
			return fprintf(stderr, "bad answer to %ld\n", x), 1;
		sum += y;
	}
	done(ask[1]); /* the child sees end of file and exits */
	wait(NULL);
	printf("sum of squares 1..100000 = %ld\n", sum);
	return 0;
}
