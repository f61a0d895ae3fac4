/*
 * ratelimit.h: token-bucket rate limits for qos/ratelimit/router.
 *
 * Two layers:
 *  - gw_bucket: pure arithmetic, one bucket, time passed in (nanoseconds
 *    of a monotonic clock) so tests use literal timestamps.  It is a GCRA
 *    ("virtual scheduling") bucket: its whole state is one 64-bit
 *    theoretical arrival time, so it is updated with one compare-and-swap
 *    and is exact across threads without a lock.
 *  - gw_limiter: what a route holds: the endpoint-wide bucket (max_rate)
 *    plus a bounded, sharded table of per-client buckets
 *    (client_max_rate).  It is a table of operations so that a
 *    Redis-backed limiter is a second implementation of the same calls.
 */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* A rate: `capacity` requests at once, refilled at one per
 * `interval_ns` (= every / rate). */
struct gw_rate {
	int64_t interval_ns;     /* time to earn one token; >= 1 */
	uint64_t capacity;       /* burst; >= 1 */
};

/*
 * Derives the rate of `rate` requests per `every_ns` with a burst (0:
 * ceil(rate), at least 1).  interval_ns is every_ns / rate rounded to the
 * nearest nanosecond and clamped to [1, INT64_MAX], so a rate faster than
 * one per nanosecond is one per nanosecond (with its full burst) and a
 * vanishing rate is one per INT64_MAX ns.  every_ns <= 0 means 1s; a rate
 * that is not > 0 (0, negative, NaN) gives the slowest rate: callers test
 * for 0 ("no limit") before.
 */
struct gw_rate gw_rate_make(double rate, int64_t every_ns, uint64_t burst);

struct gw_bucket {
	/* Theoretical arrival time: the time (ns) at which the bucket is
	 * full again, stored biased by 2^63 (0 stands for INT64_MIN) so that
	 * the zero state is "full" at every int64 `now`.  Atomic. */
	uint64_t tat;
};

/* A full bucket.  Any `now` works: the state starts at 0. */
void gw_bucket_init(struct gw_bucket *b);

/*
 * Takes one token at time now.  Returns true if allowed.  When not, sets
 * *retry_after_ns (if not NULL) to the time until one token is available.
 * A clock that goes backwards never grants extra tokens, and a long idle
 * period refills at most `capacity` tokens.  Nothing overflows: a burst
 * is held to 2^62 ns worth of tokens (146 years of refill), and within
 * capacity * interval of INT64_MAX the clock stops (the bucket grants
 * what it holds, then never refills).  Thread-safe (lock-free).
 */
bool gw_bucket_take(struct gw_bucket *b, const struct gw_rate *r,
    int64_t now, int64_t *retry_after_ns);

/* Whether the bucket is full at now (its client may be forgotten: a new
 * bucket would grant exactly as much). */
bool gw_bucket_full(const struct gw_bucket *b, const struct gw_rate *r,
    int64_t now);

enum gw_rl_verdict {
	GW_RL_PASS = 0,
	GW_RL_CLIENT_LIMITED,    /* the client's budget: 429 */
	GW_RL_ENDPOINT_LIMITED,  /* the endpoint's max_rate: 503 */
};

struct gw_limiter;

struct gw_limiter_ops {
	enum gw_rl_verdict (*check)(struct gw_limiter *l, const char *client,
	    size_t client_len, int64_t now, int64_t *retry_after_ns);
	void (*destroy)(struct gw_limiter *l);
};

/*
 * Every implementation embeds this first.  check() tests the endpoint-wide
 * budget first, then the client's (so a 503 wins over a 429), and sets
 * *retry_after_ns (if not NULL) to the time until the limiting budget has
 * a token again, or to 0 on GW_RL_PASS.
 */
struct gw_limiter {
	const struct gw_limiter_ops *ops;
};

/*
 * The in-process limiter.  max_clients bounds the per-client table (its
 * memory does not grow past it; 0 means 100000).  When the table is full,
 * an idle client (full bucket) is evicted, which loses nothing; if none is
 * idle, new clients share one overflow bucket at the client rate, so an
 * active client's budget is never reset.  Thread-safe: the table is split
 * in shards, each with its own lock, so no lock is shared by all requests.
 *
 * A client is its key bytes (client, client_len), any length, an empty
 * key being one client like any other; the table keeps a 128-bit keyed
 * hash of the key (SipHash-2-4 under a random key), never the key itself,
 * so entries have a fixed size and chosen keys cannot be aimed at one hash
 * chain.  A request the client budget rejects gives its endpoint token
 * back, so a client hammering past its own limit does not spend the
 * endpoint's budget for everyone else.
 *
 * cfg is read only here (it need not outlive the limiter).  Never NULL;
 * with both rates 0 every request passes.
 */
struct gw_limiter *gw_limiter_local_create(
    const struct gw_ratelimit_config *cfg, size_t max_clients);

static inline enum gw_rl_verdict
gw_limiter_check(struct gw_limiter *l, const char *client, size_t client_len,
    int64_t now, int64_t *retry_after_ns)
{
	return l->ops->check(l, client, client_len, now, retry_after_ns);
}

static inline void
gw_limiter_destroy(struct gw_limiter *l)
{
	if (l != NULL)
		l->ops->destroy(l);
}

/* Clients held in the table now (for tests and metrics); 0 for a limiter
 * that is not a local one. */
size_t gw_limiter_local_clients(struct gw_limiter *l);

#endif
