/* SPDX-License-Identifier: MIT */
/*
 * transports.c - the registry: every transport the harness knows, in the
 * order the tables list them. A transport whose library was not found at
 * build time is absent, and bench_not_built says why.
 */
#include "bench.h"

#include <string.h>

extern const struct transport tp_floor, tp_futex, tp_ring_spin, tp_ring, tp_ring_block,
	tp_ring_zc, tp_ring_batch, tp_stream, tp_pipe, tp_unix, tp_unix_dgram, tp_unix_seqpacket,
	tp_tcp, tp_eventfd, tp_mq, tp_sysv_msg, tp_boost_mq, tp_dpdk, tp_ck, tp_memcpy, tp_zmq,
	tp_bridge, tp_bridge_thread;

const struct transport *const bench_transports[] = {
	&tp_floor,    &tp_futex,      &tp_ring_spin,      &tp_ring,
	&tp_ring_block,
	&tp_ring_zc,  &tp_ring_batch, &tp_stream,         &tp_pipe,
	&tp_unix,     &tp_unix_dgram, &tp_unix_seqpacket, &tp_tcp,
	&tp_eventfd,  &tp_mq,         &tp_sysv_msg,
#ifdef BENCH_HAVE_BOOST
	&tp_boost_mq,
#endif
#ifdef BENCH_HAVE_DPDK
	&tp_dpdk,
#endif
#ifdef BENCH_HAVE_CK
	&tp_ck,
#endif
#ifdef BENCH_HAVE_ZMQ
	&tp_zmq,
#endif
#ifdef BENCH_HAVE_BRIDGE
	&tp_bridge,
	&tp_bridge_thread,
#endif
	&tp_memcpy,
};

const unsigned bench_ntransports = sizeof(bench_transports) / sizeof(bench_transports[0]);

const char *const bench_not_built[][2] = {
#ifndef BENCH_HAVE_BOOST
	{ "boost-mq",
	  "not built: no Boost.Interprocess (libboost-dev) or C++ compiler, or SHMRING_BENCH_BOOST=OFF" },
#endif
#ifndef BENCH_HAVE_DPDK
	{ "dpdk",
	  "not built: no DPDK (libdpdk-dev, pkg-config libdpdk), or SHMRING_BENCH_DPDK=OFF" },
#endif
#ifndef BENCH_HAVE_CK
	{ "ck", "not built: no Concurrency Kit (libck-dev, ck_ring.h), or SHMRING_BENCH_CK=OFF" },
#endif
#ifndef BENCH_HAVE_ZMQ
	{ "zmq",
	  "not built: no ZeroMQ (libzmq3-dev, pkg-config libzmq), or SHMRING_BENCH_ZMQ=OFF" },
#endif
#ifndef BENCH_HAVE_BRIDGE
#define NO_BRIDGE \
	"not built: no shmring_bridge (bridge/ needs ZeroMQ, libzmq3-dev; SHMRING_BUILD_BRIDGE)"
	{ "bridge", NO_BRIDGE },
	{ "bridge-thread", NO_BRIDGE },
#undef NO_BRIDGE
#endif
	{ NULL, NULL },
};

const struct transport *bench_find_transport(const char *name)
{
	for (unsigned i = 0; i < bench_ntransports; i++)
		if (strcmp(bench_transports[i]->name, name) == 0)
			return bench_transports[i];
	return NULL;
}
