/*
 * ratelimit.c: GCRA buckets and the in-process limiter of
 * qos/ratelimit/router.
 *
 * The bucket is the "virtual scheduling" form of GCRA.  With T the time to
 * earn one token and C the capacity, the burst tolerance is
 * tau = (C - 1) * T and the only state is the theoretical arrival time
 * TAT.  A request at `now` is allowed iff max(TAT, now) - now <= tau; it
 * then sets TAT = max(TAT, now) + T.  max(TAT, now) is what makes the
 * arithmetic safe:
 *  - long idle: TAT far behind now counts as now, so at most C tokens
 *    are ever available;
 *  - clock going backwards: max(TAT, now) - now only grows when now
 *    shrinks, so an earlier `now` never sees more tokens than a later one;
 *  - a rejection writes nothing, so a flood of rejected requests does not
 *    push TAT (and the client's recovery) further away.
 * Times are biased to unsigned (t + 2^63) so that the zero state lies
 * before every int64 `now`: a fresh bucket is full at any time.
 *
 * Overflow: no TAT sum wraps or saturates, because two clamps keep every
 * one in range.  The burst is held to 2^62 ns worth of tokens (146 years
 * of refill: a burst of 1e12 at 1e12/s is untouched), so C * T <= 2^62;
 * and `now` is held to the horizon H = 2^64 - 1 - C * T, so the largest
 * TAT an allowed request writes, now + tau + T, is representable.  Past
 * the horizon (within C * T of INT64_MAX ns, 292 years of uptime) time
 * stands still: the bucket grants what it holds and refills no more.
 * Rather that than grant without counting.
 */
#define GW_LOG_MODULE "ratelimit"

#include <sys/random.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw.h"
#include "log.h"
#include "ratelimit.h"
#include "xmalloc.h"

#define RL_BIAS (UINT64_C(1) << 63)

/* Shards of the client table: a power of two, at most this many. */
#define RL_SHARDS_MAX 64
/* Entries looked at, from the least recently used, to find an idle one. */
#define RL_EVICT_SCAN 16
/* Entries a shard starts with; it doubles up to its cap. */
#define RL_SHARD_INITIAL 8
/* A shard's cap, so that entry indices fit in 32 bits with room for
 * RL_NONE. */
#define RL_SHARD_CAP_MAX (UINT32_C(1) << 24)
#define RL_DEFAULT_MAX_CLIENTS 100000
#define RL_NONE UINT32_MAX
#define RL_CACHELINE 64

/* --- time ---------------------------------------------------------------- */

/* Maps an int64 time to an order-preserving uint64: INT64_MIN -> 0. */
static inline uint64_t
rl_time(int64_t t)
{
	return (uint64_t)t ^ RL_BIAS;
}

/* A nonnegative duration as int64 ns, saturated. */
static inline int64_t
rl_duration(uint64_t d)
{
	return d > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d;
}

#define RL_BURST_SPAN (UINT64_C(1) << 62)

/*
 * What a take needs from a rate: T, tau and the horizon (above).  A
 * hand-made gw_rate with interval_ns < 1 or capacity 0 is read as 1, the
 * values gw_rate_make() never goes below.
 */
struct rl_params {
	uint64_t t;              /* ns per token, 1 .. INT64_MAX */
	uint64_t tau;            /* (C - 1) * T: the burst tolerance */
	uint64_t horizon;        /* the latest biased time that is exact */
};

static inline void
rl_params(const struct gw_rate *r, struct rl_params *p)
{
	uint64_t cap = r->capacity > 0 ? r->capacity : 1, span;

	p->t = r->interval_ns > 0 ? (uint64_t)r->interval_ns : 1;
	if (__builtin_mul_overflow(cap, p->t, &span) || span > RL_BURST_SPAN) {
		cap = RL_BURST_SPAN / p->t;
		if (cap == 0)
			cap = 1;
	}
	/* cap * T <= 2^62, or cap is 1 and T < 2^63: no overflow below. */
	p->tau = (cap - 1) * p->t;
	p->horizon = UINT64_MAX - (p->tau + p->t);
}

/* now, biased and held to the horizon. */
static inline uint64_t
rl_clock(const struct rl_params *p, int64_t now)
{
	uint64_t u = rl_time(now);

	return u < p->horizon ? u : p->horizon;
}

/* --- rates and buckets ---------------------------------------------------- */

struct gw_rate
gw_rate_make(double rate, int64_t every_ns, uint64_t burst)
{
	struct gw_rate r;
	double iv, c;

	if (every_ns <= 0)
		every_ns = GW_NS_PER_S;
	if (!(rate > 0)) {
		r.interval_ns = INT64_MAX;
		r.capacity = burst > 0 ? burst : 1;
		return r;
	}

	/* 0x1p63 is INT64_MAX + 1 exactly; doubles below it convert. */
	iv = (double)every_ns / rate;
	if (!(iv < 0x1p63))
		r.interval_ns = INT64_MAX;
	else if (iv < 1)
		r.interval_ns = 1;
	else
		r.interval_ns = (int64_t)llround(iv);

	if (burst > 0)
		r.capacity = burst;
	else {
		c = ceil(rate);
		if (!(c < 0x1p64))
			r.capacity = UINT64_MAX;
		else if (c < 1)
			r.capacity = 1;
		else
			r.capacity = (uint64_t)c;
	}
	return r;
}

void
gw_bucket_init(struct gw_bucket *b)
{
	__atomic_store_n(&b->tat, 0, __ATOMIC_RELAXED);
}

/*
 * The bucket guards no other memory, so relaxed ordering is enough: the
 * compare-and-swap alone makes concurrent takes exact (each successful
 * one moves TAT by exactly T from the value it read).
 */
bool
gw_bucket_take(struct gw_bucket *b, const struct gw_rate *r, int64_t now,
    int64_t *retry_after_ns)
{
	struct rl_params p;
	uint64_t u, tat, eff;

	rl_params(r, &p);
	u = rl_clock(&p, now);
	tat = __atomic_load_n(&b->tat, __ATOMIC_RELAXED);
	for (;;) {
		eff = tat > u ? tat : u;
		if (eff - u > p.tau) {
			/* One token is back when now reaches eff - tau. */
			if (retry_after_ns != NULL)
				*retry_after_ns = rl_duration(eff - u - p.tau);
			return false;
		}
		/* eff <= u + tau <= horizon + tau: eff + T fits. */
		if (__atomic_compare_exchange_n(&b->tat, &tat, eff + p.t, true,
		    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
		/* tat now holds the value another thread stored: retry. */
	}
}

bool
gw_bucket_full(const struct gw_bucket *b, const struct gw_rate *r,
    int64_t now)
{
	struct rl_params p;

	rl_params(r, &p);
	return __atomic_load_n(&b->tat, __ATOMIC_RELAXED) <= rl_clock(&p, now);
}

/*
 * Gives back one token taken by gw_bucket_take() a moment ago.  Exact
 * unless the bucket refilled completely between the take and the refund
 * while another request was taken (then that request's token is the one
 * returned): at most one token, and only when the two calls are
 * separated by more than T.  Lowering TAT below now is harmless: it is
 * read through max(TAT, now).
 */
static void
rl_bucket_refund(struct gw_bucket *b, const struct gw_rate *r)
{
	struct rl_params p;
	uint64_t tat, next;

	rl_params(r, &p);
	tat = __atomic_load_n(&b->tat, __ATOMIC_RELAXED);
	do {
		next = tat > p.t ? tat - p.t : 0;
	} while (!__atomic_compare_exchange_n(&b->tat, &tat, next, true,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

/* --- keyed hashing ------------------------------------------------------- */

static inline uint64_t
rl_rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t
rl_load_le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	    (uint64_t)p[7] << 56;
}

#define RL_SIPROUND do {						\
	v0 += v1; v1 = rl_rotl(v1, 13); v1 ^= v0; v0 = rl_rotl(v0, 32);	\
	v2 += v3; v3 = rl_rotl(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = rl_rotl(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = rl_rotl(v1, 17); v1 ^= v2; v2 = rl_rotl(v2, 32);	\
} while (0)

/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed PRF, so without the
 * key nobody can pick client strings that land in one chain or collide.
 */
static uint64_t
rl_siphash(const uint64_t k[2], const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t v0 = k[0] ^ UINT64_C(0x736f6d6570736575);
	uint64_t v1 = k[1] ^ UINT64_C(0x646f72616e646f6d);
	uint64_t v2 = k[0] ^ UINT64_C(0x6c7967656e657261);
	uint64_t v3 = k[1] ^ UINT64_C(0x7465646279746573);
	uint64_t m, last = (uint64_t)len << 56;
	size_t i, j, end = len - (len % 8);

	for (i = 0; i < end; i += 8) {
		m = rl_load_le64(p + i);
		v3 ^= m;
		RL_SIPROUND;
		RL_SIPROUND;
		v0 ^= m;
	}
	for (j = 0; j < len % 8; j++)
		last |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= last;
	RL_SIPROUND;
	RL_SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	RL_SIPROUND;
	RL_SIPROUND;
	RL_SIPROUND;
	RL_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t
rl_splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Fills the hash keys from the kernel's CSPRNG. */
static void
rl_seed(uint64_t *k, size_t n)
{
	unsigned char *p = (unsigned char *)k;
	size_t len = n * sizeof(*k), got = 0;
	struct timespec ts;
	uint64_t x;
	ssize_t r;
	size_t i;

	while (got < len) {
		r = getrandom(p + got, len - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == len)
		return;

	/*
	 * No getrandom(2) (a very old kernel or a seccomp filter): keys from
	 * the clock and addresses are guessable, so say so; limits still
	 * work, only the flooding defence is weaker.
	 */
	log_warn("getrandom failed (%s): client hash keys are predictable",
	    strerror(errno));
	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_sec * GW_NS_PER_S + (uint64_t)ts.tv_nsec;
	x ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)k;
	for (i = 0; i < n; i++)
		k[i] ^= rl_splitmix(&x);
}

/* --- the per-client table ------------------------------------------------ */

/*
 * One client.  Entries live in a per-shard array and link to each other
 * by index, so the array can grow by realloc without fixing pointers.
 */
struct rl_entry {
	uint64_t key[2];         /* keyed hashes of the client string */
	struct gw_bucket bucket; /* its budget */
	uint32_t chain;          /* next entry in the same hash chain */
	uint32_t newer, older;   /* LRU neighbours (RL_NONE at the ends) */
};

/*
 * A shard: a chained hash table of at most `cap` entries plus an LRU list
 * (most recent at `lru_newest`).  Every field is guarded by `lock`,
 * except `overflow`, which is only touched under the lock too but is
 * lock-free anyway.  Aligned so that two shards' locks never share a
 * cache line.
 */
struct rl_shard {
	pthread_mutex_t lock;
	struct rl_entry *entries; /* `alloc` slots, `n` used */
	uint32_t *heads;         /* nheads chain heads (RL_NONE: empty) */
	uint32_t nheads;         /* a power of two, >= n */
	uint32_t n;
	uint32_t alloc;
	uint32_t cap;            /* n never goes past it */
	uint32_t lru_newest;
	uint32_t lru_oldest;
	struct gw_bucket overflow; /* new clients while the shard is full
				      of active ones share it */
	uint64_t evictions;      /* idle entries reused (for tests) */
	uint64_t overflowed;     /* requests charged to `overflow` */
} __attribute__((aligned(RL_CACHELINE)));

/*
 * The limiter.  Everything but `endpoint` is written once at create; the
 * endpoint bucket, compare-and-swapped by every request, gets a cache
 * line of its own so that its traffic does not evict the rest.
 */
struct rl_local {
	struct gw_limiter base;  /* first: gw_limiter_* cast to this */
	struct gw_rate endpoint_rate;
	struct gw_rate client_rate;
	bool has_endpoint;       /* max_rate > 0 */
	bool has_client;         /* client_max_rate > 0 */
	uint64_t keys[4];        /* two SipHash keys: the entry key halves */
	struct rl_shard *shards; /* nshards; NULL without has_client */
	uint32_t nshards;        /* a power of two */
	struct gw_bucket endpoint /* all clients together */
	    __attribute__((aligned(RL_CACHELINE)));
};

static enum gw_rl_verdict rl_local_check(struct gw_limiter *, const char *,
    size_t, int64_t, int64_t *);
static void rl_local_destroy(struct gw_limiter *);

static const struct gw_limiter_ops rl_local_ops = {
	.check = rl_local_check,
	.destroy = rl_local_destroy,
};

/* aligned_alloc() that, like xmalloc(), never returns NULL. */
static void *
rl_aligned_calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(n, size, &total))
		total = SIZE_MAX;
	total = (total + RL_CACHELINE - 1) / RL_CACHELINE * RL_CACHELINE;
	p = aligned_alloc(RL_CACHELINE, total);
	if (p == NULL) {
		fprintf(stderr, "hanzo-gateway: out of memory allocating %zu "
		    "bytes\n", total);
		abort();
	}
	memset(p, 0, total);
	return p;
}

static inline uint32_t
rl_chain_of(const struct rl_shard *s, uint64_t key0)
{
	/* The low bits pick the chain; the shard comes from the high ones. */
	return (uint32_t)key0 & (s->nheads - 1);
}

static void
rl_lru_unlink(struct rl_shard *s, uint32_t i)
{
	struct rl_entry *e = &s->entries[i];

	if (e->newer != RL_NONE)
		s->entries[e->newer].older = e->older;
	else
		s->lru_newest = e->older;
	if (e->older != RL_NONE)
		s->entries[e->older].newer = e->newer;
	else
		s->lru_oldest = e->newer;
	e->newer = e->older = RL_NONE;
}

static void
rl_lru_push(struct rl_shard *s, uint32_t i)
{
	struct rl_entry *e = &s->entries[i];

	e->newer = RL_NONE;
	e->older = s->lru_newest;
	if (s->lru_newest != RL_NONE)
		s->entries[s->lru_newest].newer = i;
	s->lru_newest = i;
	if (s->lru_oldest == RL_NONE)
		s->lru_oldest = i;
}

static void
rl_chain_link(struct rl_shard *s, uint32_t i)
{
	uint32_t h = rl_chain_of(s, s->entries[i].key[0]);

	s->entries[i].chain = s->heads[h];
	s->heads[h] = i;
}

static void
rl_chain_unlink(struct rl_shard *s, uint32_t i)
{
	uint32_t *pp = &s->heads[rl_chain_of(s, s->entries[i].key[0])];

	while (*pp != i)
		pp = &s->entries[*pp].chain;
	*pp = s->entries[i].chain;
}

/* Doubles the chain heads (load factor stays <= 1) and rehashes. */
static void
rl_shard_grow_heads(struct rl_shard *s)
{
	uint32_t i;

	s->nheads *= 2;
	s->heads = xreallocarray(s->heads, s->nheads, sizeof(*s->heads));
	for (i = 0; i < s->nheads; i++)
		s->heads[i] = RL_NONE;
	for (i = 0; i < s->n; i++)
		rl_chain_link(s, i);
}

static uint32_t
rl_shard_find(const struct rl_shard *s, const uint64_t key[2])
{
	uint32_t i = s->heads[rl_chain_of(s, key[0])];

	while (i != RL_NONE) {
		if (s->entries[i].key[0] == key[0] &&
		    s->entries[i].key[1] == key[1])
			return i;
		i = s->entries[i].chain;
	}
	return RL_NONE;
}

/*
 * A slot for a new client: an unused one while the shard is under its
 * cap, else the first idle entry among the RL_EVICT_SCAN least recently
 * used (an idle entry's bucket is full, so forgetting it forgets
 * nothing).  Returns RL_NONE when every scanned entry is active.
 */
static uint32_t
rl_shard_slot(struct rl_shard *s, const struct gw_rate *r, int64_t now)
{
	uint32_t i, scanned;

	if (s->n < s->cap) {
		if (s->n == s->alloc) {
			s->alloc = s->alloc * 2 < s->cap ? s->alloc * 2 :
			    s->cap;
			s->entries = xreallocarray(s->entries, s->alloc,
			    sizeof(*s->entries));
		}
		/* Rehash before counting the new slot: it has no key yet. */
		if (s->n + 1 > s->nheads)
			rl_shard_grow_heads(s);
		return s->n++;
	}

	i = s->lru_oldest;
	for (scanned = 0; scanned < RL_EVICT_SCAN && i != RL_NONE; scanned++) {
		if (gw_bucket_full(&s->entries[i].bucket, r, now)) {
			rl_chain_unlink(s, i);
			rl_lru_unlink(s, i);
			s->evictions++;
			return i;
		}
		i = s->entries[i].newer;
	}
	return RL_NONE;
}

/* A new entry's bucket: full at now. */
static void
rl_entry_start(struct rl_entry *e, const struct gw_rate *r, int64_t now)
{
	struct rl_params p;

	rl_params(r, &p);
	__atomic_store_n(&e->bucket.tat, rl_clock(&p, now), __ATOMIC_RELAXED);
}

/* Takes one token from the client's bucket.  Called with no lock held. */
static bool
rl_client_take(struct rl_local *l, const char *client, size_t len,
    int64_t now, int64_t *retry_after_ns)
{
	struct rl_shard *s;
	struct rl_entry *e;
	uint64_t key[2];
	uint32_t i;
	bool ok;

	if (client == NULL)
		len = 0;
	key[0] = rl_siphash(&l->keys[0], len > 0 ? client : "", len);
	key[1] = rl_siphash(&l->keys[2], len > 0 ? client : "", len);
	s = &l->shards[(key[0] >> 32) & (l->nshards - 1)];

	pthread_mutex_lock(&s->lock);
	i = rl_shard_find(s, key);
	if (i == RL_NONE) {
		i = rl_shard_slot(s, &l->client_rate, now);
		if (i != RL_NONE) {
			e = &s->entries[i];
			e->key[0] = key[0];
			e->key[1] = key[1];
			/*
			 * Full at now rather than at all times: if the clock
			 * then steps back, this client is held to at most what
			 * the evicted one would have had.
			 */
			rl_entry_start(e, &l->client_rate, now);
			rl_chain_link(s, i);
		}
	} else
		rl_lru_unlink(s, i);
	if (i != RL_NONE) {
		rl_lru_push(s, i);
		ok = gw_bucket_take(&s->entries[i].bucket, &l->client_rate,
		    now, retry_after_ns);
	} else {
		s->overflowed++;
		ok = gw_bucket_take(&s->overflow, &l->client_rate, now,
		    retry_after_ns);
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static enum gw_rl_verdict
rl_local_check(struct gw_limiter *base, const char *client,
    size_t client_len, int64_t now, int64_t *retry_after_ns)
{
	struct rl_local *l = (struct rl_local *)base;

	if (retry_after_ns != NULL)
		*retry_after_ns = 0;
	if (l->has_endpoint && !gw_bucket_take(&l->endpoint,
	    &l->endpoint_rate, now, retry_after_ns))
		return GW_RL_ENDPOINT_LIMITED;
	if (l->has_client && !rl_client_take(l, client, client_len, now,
	    retry_after_ns)) {
		if (l->has_endpoint)
			rl_bucket_refund(&l->endpoint, &l->endpoint_rate);
		return GW_RL_CLIENT_LIMITED;
	}
	return GW_RL_PASS;
}

struct gw_limiter *
gw_limiter_local_create(const struct gw_ratelimit_config *cfg,
    size_t max_clients)
{
	struct rl_local *l;
	struct rl_shard *s;
	size_t per;
	uint32_t i, j;

	l = rl_aligned_calloc(1, sizeof(*l));
	l->base.ops = &rl_local_ops;
	gw_bucket_init(&l->endpoint);

	if (cfg->max_rate > 0) {
		l->has_endpoint = true;
		l->endpoint_rate = gw_rate_make(cfg->max_rate, cfg->every_ns,
		    cfg->capacity);
	}
	if (!(cfg->client_max_rate > 0))
		return &l->base;

	l->has_client = true;
	l->client_rate = gw_rate_make(cfg->client_max_rate, cfg->every_ns,
	    cfg->client_capacity);
	rl_seed(l->keys, GW_ARRAY_SIZE(l->keys));

	/*
	 * As many shards as fit with at least one entry each, so the total
	 * never exceeds max_clients (1 to 63 clients get fewer shards).
	 */
	if (max_clients == 0)
		max_clients = RL_DEFAULT_MAX_CLIENTS;
	l->nshards = 1;
	while (l->nshards < RL_SHARDS_MAX && l->nshards * 2 <= max_clients)
		l->nshards *= 2;
	per = max_clients / l->nshards;
	if (per > RL_SHARD_CAP_MAX)
		per = RL_SHARD_CAP_MAX;

	l->shards = rl_aligned_calloc(l->nshards, sizeof(*l->shards));
	for (i = 0; i < l->nshards; i++) {
		s = &l->shards[i];
		pthread_mutex_init(&s->lock, NULL);
		s->cap = (uint32_t)per;
		s->alloc = s->cap < RL_SHARD_INITIAL ? s->cap :
		    RL_SHARD_INITIAL;
		s->entries = xcalloc(s->alloc, sizeof(*s->entries));
		s->nheads = RL_SHARD_INITIAL;
		s->heads = xcalloc(s->nheads, sizeof(*s->heads));
		for (j = 0; j < s->nheads; j++)
			s->heads[j] = RL_NONE;
		s->lru_newest = s->lru_oldest = RL_NONE;
		gw_bucket_init(&s->overflow);
	}
	return &l->base;
}

static void
rl_local_destroy(struct gw_limiter *base)
{
	struct rl_local *l = (struct rl_local *)base;
	uint32_t i;

	for (i = 0; l->shards != NULL && i < l->nshards; i++) {
		pthread_mutex_destroy(&l->shards[i].lock);
		free(l->shards[i].entries);
		free(l->shards[i].heads);
	}
	free(l->shards);
	free(l);
}

size_t
gw_limiter_local_clients(struct gw_limiter *base)
{
	struct rl_local *l;
	size_t n = 0;
	uint32_t i;

	if (base == NULL || base->ops != &rl_local_ops)
		return 0;
	l = (struct rl_local *)base;
	for (i = 0; l->shards != NULL && i < l->nshards; i++) {
		pthread_mutex_lock(&l->shards[i].lock);
		n += l->shards[i].n;
		pthread_mutex_unlock(&l->shards[i].lock);
	}
	return n;
}
