// SPDX-License-Identifier: MIT
/*
 * boost-mq - Boost.Interprocess message_queue, one per direction, 10 deep,
 * max_msg_size = the message size. The queues live in POSIX shared memory
 * (/dev/shm/<name>), with a process-shared mutex and condition variables for
 * blocking. Made before fork; the names are removed as soon as both exist
 * (the mapping stays), so nothing is left in /dev/shm. C++, with a C
 * interface: the transport struct is extern "C".
 */
#include "../bench.h"

#include <boost/interprocess/ipc/message_queue.hpp>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <sys/mman.h>

namespace bip = boost::interprocess;

namespace
{

const unsigned kDepth = 10;

struct st {
	bip::message_queue *q[2];
	bip::message_queue *tx, *rx;
};

int setup(void **stp, const struct tp_env *env, char *why)
{
	st *s = new (std::nothrow) st();
	if (!s)
		return tp_fail(why, -ENOMEM, "out of memory");
	for (int d = 0; d < 2; d++) {
		char name[96];
		bench_unique_name(name, sizeof(name), d ? "bmq1" : "bmq0");
		bench_cleanup_shm(name);      /* as shm_open() sees it: with the slash */
		const char *bname = name + 1; /* Boost adds the slash itself */
		try {
			s->q[d] = new bip::message_queue(bip::create_only, bname, kDepth,
							 env->size);
		} catch (const std::exception &e) {
			bip::message_queue::remove(bname);
			return tp_fail(why, -EIO,
				       "boost::interprocess::message_queue(%u x %zu): %s", kDepth,
				       env->size, e.what());
		}
		bip::message_queue::remove(bname);
	}
	*stp = s;
	return 0;
}

int init(void *p, int side)
{
	st *s = static_cast<st *>(p);
	s->tx = s->q[side];
	s->rx = s->q[1 - side];
	return 0;
}

int send_(void *p, const void *msg, size_t len)
{
	try {
		static_cast<st *>(p)->tx->send(msg, len, 0);
	} catch (const std::exception &) {
		return -EIO;
	}
	return 0;
}

ssize_t recv_(void *p, void *buf, size_t cap)
{
	try {
		bip::message_queue::size_type got = 0;
		unsigned prio = 0;
		static_cast<st *>(p)->rx->receive(buf, cap, got, prio);
		return static_cast<ssize_t>(got);
	} catch (const std::exception &) {
		return -EIO;
	}
}

} // namespace

extern "C" const struct transport tp_boost_mq;
const struct transport tp_boost_mq = {
	"boost-mq",
	"Boost.Interprocess message_queue per direction, 10 deep",
	TP_LAT | TP_THR,
	setup,
	init,
	send_,
	recv_,
	nullptr,
	nullptr,
	nullptr,
	nullptr, // zero copy
	nullptr,
	nullptr, // batches
	nullptr, // wakeups
	nullptr, // local
	nullptr, // fini
};
