/* SPDX-License-Identifier: MIT */
/*
 * reqresp_pipe.c - a parent asks, a child answers, over two pipes.
 * examples/reqresp_shmring.c is the same program over shmring_pipe: the
 * README shows the diff between the two.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int end_t;
#define make_pipe(e) pipe(e)
#define put(e, buf, n) write((e), (buf), (n))
#define get(e, buf, n) read((e), (buf), (n))
#define done(e) close(e)

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
