// SPDX-License-Identifier: MIT
//
// test_cxx.cpp - the public header compiles as C++ and the library links and
// works from C++: an anonymous ring, one message there and back.
// A plain program (exit status 0 = pass), registered with ctest as `cxx`.

#include "shmring.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			std::fprintf(stderr, "test_cxx: %s:%d: check failed: %s\n", __FILE__, \
				     __LINE__, #cond);                                        \
			return 1;                                                             \
		}                                                                             \
	} while (0)

int main()
{
	alarm(30); // a hang is a failure too

	shmring_config cfg;
	std::memset(&cfg, 0, sizeof(cfg));
	cfg.mode = SHMRING_MPMC;
	cfg.capacity = 4096;

	shmring *p = nullptr;
	shmring *c = nullptr;
	int rc = shmring_create_anon(&cfg, SHMRING_PRODUCER, &p);
	if (rc != 0)
		std::fprintf(stderr, "test_cxx: shmring_create_anon: %d\n", rc);
	CHECK(rc == 0 && p != nullptr);
	rc = shmring_open_fd(shmring_fd(p), SHMRING_CONSUMER, &c);
	CHECK(rc == 0 && c != nullptr);

	static const char msg[] = "hello from C++";
	CHECK(shmring_send(p, msg, sizeof(msg), 0) == 0);
	char buf[64] = {};
	ssize_t n = shmring_recv(c, buf, sizeof(buf), 0);
	CHECK(n == static_cast<ssize_t>(sizeof(msg)));
	CHECK(std::memcmp(buf, msg, sizeof(msg)) == 0);
	CHECK(shmring_recv(c, buf, sizeof(buf), 0) == -EAGAIN);

	struct shmring_stat st; // "struct": the function shares the name, as stat(2) does
	CHECK(shmring_stat(c, &st) == 0);
	CHECK(st.mode == SHMRING_MPMC && st.sent == 1 && st.received == 1);
	CHECK(shmring_mode_name(SHMRING_MPMC) != nullptr);

	CHECK(shmring_close(c) == 0);
	CHECK(shmring_close(p) == 0);
	std::printf("test_cxx: ok\n");
	return 0;
}
