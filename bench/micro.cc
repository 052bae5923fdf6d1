// SPDX-License-Identifier: MIT
/*
 * micro.cc - shmring-micro: queue against queue, two threads of one process
 * pinned to two cores (--cpus A,B; default 0,1), google-benchmark.
 *
 * Each benchmark starts a producer thread on CPU A that pushes items stamped
 * 0, 1, 2, ... as fast as the queue takes them, until told to stop; the
 * benchmark's own thread, on CPU B, is the consumer: it pops items in batches
 * of 256 (KeepRunningBatch) and checks every stamp. Only the consumer counts,
 * so each transfer is counted once: items_per_second and bytes_per_second
 * are what went through the queue. Every queue holds about 4096 items and
 * everything busy-polls (shmring with shmring_set_spin(-1)).
 *
 * Contenders: shmring SPSC, MPSC and MPMC rings, each with copies
 * (send/recv) and zero copy (claim/commit, peek/release); liburcu's wfcqueue
 * (a linked queue, nodes from a fixed pool); ck_ring SPSC and MPMC;
 * rte_ring SP/SC and MP/MC (elements of the item's size, no EAL);
 * boost::lockfree::spsc_queue. Items of 8 and 64 bytes. MP/MC queues run
 * with one producer and one consumer: the cost of their multi-producer and
 * multi-consumer machinery, without contention.
 */
#include <shmring.h>

#include <benchmark/benchmark.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <thread>
#include <utility>

#ifdef MICRO_HAVE_DPDK
#include <rte_ring.h>
#include <rte_ring_elem.h>
#endif
#ifdef MICRO_HAVE_BOOST_LOCKFREE
#include <boost/lockfree/spsc_queue.hpp>
#endif

namespace
{

const unsigned kEntries = 4096;
const uint64_t kBatch = 256;
int g_cpu[2] = { 0, 1 };
int g_stop; // consumer -> producer, __atomic
int g_go;

inline void cpu_pause()
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

inline bool stopped()
{
	return __atomic_load_n(&g_stop, __ATOMIC_RELAXED);
}

bool pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

template <size_t N> struct Item {
	uint64_t seq;
	char pad[N - 8];
};
template <> struct Item<8> {
	uint64_t seq;
};

/*
 * The driver: Q has `bool produce()` (push until stopped(); false on error)
 * and `bool consume(uint64_t n, uint64_t *expect)` (pop n, check stamps).
 */
template <class Q> void drive(benchmark::State &state, Q &q, size_t item)
{
	if (!q.ok()) {
		state.SkipWithError(q.error().c_str());
		return;
	}
	__atomic_store_n(&g_stop, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&g_go, 0, __ATOMIC_RELAXED);
	bool prod_ok = true, pinned = true;
	std::thread prod([&] {
		if (!pin(g_cpu[0]))
			pinned = false;
		while (!__atomic_load_n(&g_go, __ATOMIC_ACQUIRE))
			cpu_pause();
		prod_ok = q.produce();
	});
	if (!pin(g_cpu[1]))
		pinned = false;
	uint64_t expect = 0;
	__atomic_store_n(&g_go, 1, __ATOMIC_RELEASE);
	while (state.KeepRunningBatch(kBatch)) {
		if (!q.consume(kBatch, &expect)) {
			state.SkipWithError("consumer: a stamp out of sequence, or a queue error");
			break;
		}
	}
	__atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
	prod.join();
	if (!prod_ok)
		state.SkipWithError("producer: queue error");
	if (!pinned)
		state.SkipWithError("cannot pin the threads to the CPUs of --cpus");
	state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * item));
}

/* ---- shmring ---- */

template <size_t N, shmring_mode Mode, bool ZC> class ShmringQ {
public:
	ShmringQ()
	{
		struct shmring_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		cfg.mode = Mode;
		size_t rec = (N + 8 + 7) & ~size_t(7), cap = 4096;
		while (cap < kEntries * rec)
			cap <<= 1;
		cfg.capacity = cap;
		cfg.max_msg = N;
		shmring *obs = nullptr;
		int rc = shmring_create_anon(&cfg, SHMRING_OBSERVER, &obs);
		if (rc == 0)
			rc = shmring_open_fd(shmring_fd(obs), SHMRING_PRODUCER, &p_);
		if (rc == 0)
			rc = shmring_open_fd(shmring_fd(obs), SHMRING_CONSUMER, &c_);
		if (rc == 0)
			rc = shmring_set_spin(p_, -1);
		if (rc == 0)
			rc = shmring_set_spin(c_, -1);
		if (obs)
			shmring_close(obs);
		if (rc < 0)
			err_ = std::string("shmring: ") + strerror(-rc);
	}
	~ShmringQ()
	{
		if (p_)
			shmring_close(p_);
		if (c_)
			shmring_close(c_);
	}
	bool ok() const
	{
		return err_.empty();
	}
	const std::string &error() const
	{
		return err_;
	}

	bool produce()
	{
		const int64_t tmo = 1000000; /* 1 ms, then look at the stop flag */
		Item<N> it;
		memset(&it, 0, sizeof(it));
		for (uint64_t seq = 0; !stopped(); seq++) {
			int rc;
			if (ZC) {
				void *buf;
				while ((rc = shmring_claim(p_, N, &buf, tmo)) == -ETIMEDOUT)
					if (stopped())
						return true;
				if (rc < 0)
					return false;
				memcpy(buf, &seq, 8); /* the item is built in place */
				if (shmring_commit(p_, N) < 0)
					return false;
			} else {
				it.seq = seq;
				while ((rc = shmring_send(p_, &it, N, tmo)) == -ETIMEDOUT)
					if (stopped())
						return true;
				if (rc < 0)
					return false;
			}
		}
		return true;
	}

	bool consume(uint64_t n, uint64_t *expect)
	{
		const int64_t tmo = 2000000000; /* a stalled producer is an error */
		uint64_t e = *expect;
		for (uint64_t i = 0; i < n; i++, e++) {
			uint64_t seq;
			if (ZC) {
				const void *m;
				size_t len;
				if (shmring_peek(c_, &m, &len, tmo) < 0 || len != N)
					return false;
				memcpy(&seq, m, 8);
				if (shmring_release(c_) < 0)
					return false;
			} else {
				Item<N> it;
				if (shmring_recv(c_, &it, N, tmo) != static_cast<ssize_t>(N))
					return false;
				seq = it.seq;
			}
			if (seq != e)
				return false;
		}
		*expect = e;
		return true;
	}

private:
	shmring *p_ = nullptr, *c_ = nullptr;
	std::string err_;
};

/* ---- rte_ring: elements of the item's size, on our own memory, no EAL ---- */
#ifdef MICRO_HAVE_DPDK
template <size_t N, bool Multi> class RteQ {
public:
	RteQ()
	{
		ssize_t mem = rte_ring_get_memsize_elem(N, kEntries);
		if (mem < 0) {
			err_ = "rte_ring_get_memsize_elem failed";
			return;
		}
		r_ = static_cast<struct rte_ring *>(
			aligned_alloc(128, (size_t(mem) + 127) & ~size_t(127)));
		if (!r_ || rte_ring_init(r_, Multi ? "micro-mpmc" : "micro-spsc", kEntries,
					 Multi ? 0 : RING_F_SP_ENQ | RING_F_SC_DEQ) < 0)
			err_ = "rte_ring_init failed";
	}
	~RteQ()
	{
		free(r_);
	}
	bool ok() const
	{
		return err_.empty();
	}
	const std::string &error() const
	{
		return err_;
	}

	bool produce()
	{
		Item<N> it;
		memset(&it, 0, sizeof(it));
		for (uint64_t seq = 0; !stopped(); seq++) {
			it.seq = seq;
			while ((Multi ? rte_ring_mp_enqueue_elem(r_, &it, N)
				      : rte_ring_sp_enqueue_elem(r_, &it, N)) != 0) {
				if (stopped())
					return true;
				cpu_pause();
			}
		}
		return true;
	}

	bool consume(uint64_t n, uint64_t *expect)
	{
		uint64_t e = *expect;
		Item<N> it;
		for (uint64_t i = 0; i < n; i++, e++) {
			while ((Multi ? rte_ring_mc_dequeue_elem(r_, &it, N)
				      : rte_ring_sc_dequeue_elem(r_, &it, N)) != 0)
				cpu_pause();
			if (it.seq != e)
				return false;
		}
		*expect = e;
		return true;
	}

private:
	struct rte_ring *r_ = nullptr;
	std::string err_;
};
#endif

/* ---- boost::lockfree::spsc_queue ---- */
#ifdef MICRO_HAVE_BOOST_LOCKFREE
template <size_t N> class BoostQ {
public:
	bool ok() const
	{
		return true;
	}
	const std::string &error() const
	{
		return err_;
	}

	bool produce()
	{
		Item<N> it;
		memset(&it, 0, sizeof(it));
		for (uint64_t seq = 0; !stopped(); seq++) {
			it.seq = seq;
			while (!q_->push(it)) {
				if (stopped())
					return true;
				cpu_pause();
			}
		}
		return true;
	}

	bool consume(uint64_t n, uint64_t *expect)
	{
		uint64_t e = *expect;
		Item<N> it;
		for (uint64_t i = 0; i < n; i++, e++) {
			while (!q_->pop(it))
				cpu_pause();
			if (it.seq != e)
				return false;
		}
		*expect = e;
		return true;
	}

private:
	typedef boost::lockfree::spsc_queue<Item<N>, boost::lockfree::capacity<kEntries>> queue;
	std::unique_ptr<queue> q_{ new queue };
	std::string err_;
};
#endif

/* ---- the C loops of micro_c.c (ck_ring, wfcqueue) ---- */

typedef int (*produce_fn)(void *, const int *);
typedef int (*consume_fn)(void *, uint64_t, uint64_t *);

class CQ {
public:
	CQ(void *q, void (*destroy)(void *), produce_fn p, consume_fn c, const char *what)
		: q_(q), destroy_(destroy), p_(p), c_(c)
	{
		if (!q_)
			err_ = std::string(what) + ": out of memory";
	}
	~CQ()
	{
		if (q_)
			destroy_(q_);
	}
	bool ok() const
	{
		return err_.empty();
	}
	const std::string &error() const
	{
		return err_;
	}
	bool produce()
	{
		return p_(q_, &g_stop) == 0;
	}
	bool consume(uint64_t n, uint64_t *expect)
	{
		return c_(q_, n, expect) == 0;
	}

private:
	void *q_;
	void (*destroy_)(void *);
	produce_fn p_;
	consume_fn c_;
	std::string err_;
};

} // namespace

extern "C" {
#ifdef MICRO_HAVE_CK
void *micro_ck_new(unsigned entries, size_t item);
void micro_ck_free(void *q);
int micro_ck_spsc_i8_produce(void *, const int *);
int micro_ck_spsc_i8_consume(void *, uint64_t, uint64_t *);
int micro_ck_spsc_i64_produce(void *, const int *);
int micro_ck_spsc_i64_consume(void *, uint64_t, uint64_t *);
int micro_ck_mpmc_i8_produce(void *, const int *);
int micro_ck_mpmc_i8_consume(void *, uint64_t, uint64_t *);
int micro_ck_mpmc_i64_produce(void *, const int *);
int micro_ck_mpmc_i64_consume(void *, uint64_t, uint64_t *);
#endif
#ifdef MICRO_HAVE_URCU
void *micro_wfcq_new(unsigned entries, size_t item);
void micro_wfcq_free(void *q);
int micro_wfcq_i8_produce(void *, const int *);
int micro_wfcq_i8_consume(void *, uint64_t, uint64_t *);
int micro_wfcq_i64_produce(void *, const int *);
int micro_wfcq_i64_consume(void *, uint64_t, uint64_t *);
#endif
}

namespace
{

/*
 * A queue object in cache lines of its own. On the consumer's stack it
 * shared a line with the consumer's own stack writes, and a producer that
 * reloads its handle from it around every opaque call (shmring's) missed on
 * each: shmring SPSC at 8 B ran at 51 or 125 M items/s depending only on
 * where ASLR put the main thread's stack (fixed by setarch -R, moved by the
 * size of the environment).
 */
template <class Q> class Own {
public:
	template <class... A> explicit Own(A &&...a)
	{
		void *m = nullptr;
		if (posix_memalign(&m, 128, (sizeof(Q) + 127) & ~size_t(127)) != 0)
			throw std::bad_alloc();
		q_ = new (m) Q(std::forward<A>(a)...);
	}
	~Own()
	{
		q_->~Q();
		free(q_);
	}
	Own(const Own &) = delete;
	Own &operator=(const Own &) = delete;
	Q &operator*()
	{
		return *q_;
	}

private:
	Q *q_;
};

template <class Q> void bench_q(benchmark::State &state, size_t item)
{
	Own<Q> q;
	drive(state, *q, item);
}

void reg(const std::string &name, std::function<void(benchmark::State &)> fn)
{
	benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kNanosecond);
}

template <size_t N> void register_size()
{
	std::string s = "/" + std::to_string(N);
	reg("shmring_spsc" + s,
	    [](benchmark::State &st) { bench_q<ShmringQ<N, SHMRING_SPSC, false>>(st, N); });
	reg("shmring_spsc_zc" + s,
	    [](benchmark::State &st) { bench_q<ShmringQ<N, SHMRING_SPSC, true>>(st, N); });
	reg("shmring_mpsc" + s,
	    [](benchmark::State &st) { bench_q<ShmringQ<N, SHMRING_MPSC, false>>(st, N); });
	reg("shmring_mpsc_zc" + s,
	    [](benchmark::State &st) { bench_q<ShmringQ<N, SHMRING_MPSC, true>>(st, N); });
	reg("shmring_mpmc" + s,
	    [](benchmark::State &st) { bench_q<ShmringQ<N, SHMRING_MPMC, false>>(st, N); });
	reg("shmring_mpmc_zc" + s,
	    [](benchmark::State &st) { bench_q<ShmringQ<N, SHMRING_MPMC, true>>(st, N); });
#ifdef MICRO_HAVE_URCU
	reg("urcu_wfcqueue" + s, [](benchmark::State &st) {
		Own<CQ> q(micro_wfcq_new(kEntries, N), micro_wfcq_free,
		     N == 8 ? micro_wfcq_i8_produce : micro_wfcq_i64_produce,
		     N == 8 ? micro_wfcq_i8_consume : micro_wfcq_i64_consume, "wfcqueue");
		drive(st, *q, N);
	});
#endif
#ifdef MICRO_HAVE_CK
	reg("ck_ring_spsc" + s, [](benchmark::State &st) {
		Own<CQ> q(micro_ck_new(kEntries, N), micro_ck_free,
		     N == 8 ? micro_ck_spsc_i8_produce : micro_ck_spsc_i64_produce,
		     N == 8 ? micro_ck_spsc_i8_consume : micro_ck_spsc_i64_consume, "ck_ring");
		drive(st, *q, N);
	});
	reg("ck_ring_mpmc" + s, [](benchmark::State &st) {
		Own<CQ> q(micro_ck_new(kEntries, N), micro_ck_free,
		     N == 8 ? micro_ck_mpmc_i8_produce : micro_ck_mpmc_i64_produce,
		     N == 8 ? micro_ck_mpmc_i8_consume : micro_ck_mpmc_i64_consume, "ck_ring");
		drive(st, *q, N);
	});
#endif
#ifdef MICRO_HAVE_DPDK
	reg("rte_ring_sp_sc" + s, [](benchmark::State &st) { bench_q<RteQ<N, false>>(st, N); });
	reg("rte_ring_mp_mc" + s, [](benchmark::State &st) { bench_q<RteQ<N, true>>(st, N); });
#endif
#ifdef MICRO_HAVE_BOOST_LOCKFREE
	reg("boost_spsc_queue" + s, [](benchmark::State &st) { bench_q<BoostQ<N>>(st, N); });
#endif
}

} // namespace

int main(int argc, char **argv)
{
	/* Our one option, --cpus A,B, is taken out before google-benchmark
	 * sees the rest. */
	int out = 1;
	for (int i = 1; i < argc; i++) {
		const char *v = nullptr;
		if (strncmp(argv[i], "--cpus=", 7) == 0)
			v = argv[i] + 7;
		else if (strcmp(argv[i], "--cpus") == 0 && i + 1 < argc)
			v = argv[++i];
		if (v) {
			/* A or A,B: whole numbers, nothing else */
			char *end;
			errno = 0;
			long a = strtol(v, &end, 10), b = a;
			bool ok = end != v && !errno && (*end == 0 || *end == ',');
			if (ok && *end == ',') {
				const char *w = end + 1;
				b = strtol(w, &end, 10);
				ok = end != w && !errno && *end == 0;
			}
			if (!ok || a < 0 || b < 0 || a >= CPU_SETSIZE || b >= CPU_SETSIZE) {
				fprintf(stderr, "shmring-micro: bad --cpus '%s' (A or A,B)\n", v);
				return 2;
			}
			g_cpu[0] = (int)a;
			g_cpu[1] = (int)b;
			continue;
		}
		argv[out++] = argv[i];
	}
	argc = out;
	argv[argc] = nullptr;

	register_size<8>();
	register_size<64>();
	benchmark::AddCustomContext("producer_cpu", std::to_string(g_cpu[0]));
	benchmark::AddCustomContext("consumer_cpu", std::to_string(g_cpu[1]));
	benchmark::AddCustomContext("queue_capacity",
				    "about 4096 items (shmring: 4096 x record size)");
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
