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

/* Derives the rate of rate-per-every with a burst (0: ceil(rate)). */
struct gw_rate gw_rate_make(double rate, int64_t every_ns, uint64_t burst);

struct gw_bucket {
	uint64_t tat;            /* theoretical arrival time (ns), atomic */
};

/* A full bucket.  Any `now` works: the state starts at 0. */
void gw_bucket_init(struct gw_bucket *b);

/*
 * Takes one token at time now.  Returns true if allowed.  When not, sets
 * *retry_after_ns (if not NULL) to the time until one token is available.
 * A clock that goes backwards never grants extra tokens, and a long idle
 * period refills at most `capacity` tokens.  Thread-safe (lock-free).
 */
bool gw_bucket_take(struct gw_bucket *b, const struct gw_rate *r,
    int64_t now, int64_t *retry_after_ns);

/* Whether the bucket is full at now (its client may be forgotten). */
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

/* Every implementation embeds this first. */
struct gw_limiter {
	const struct gw_limiter_ops *ops;
};

/*
 * The in-process limiter.  max_clients bounds the per-client table (its
 * memory does not grow past it).  When the table is full, an idle client
 * (full bucket) is evicted, which loses nothing; if none is idle, new
 * clients share one overflow bucket at the client rate, so an active
 * client's budget is never reset.  Thread-safe: the table is split in
 * shards, each with its own lock, so no lock is shared by all requests.
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

/* Clients held in the table now (for tests and metrics). */
size_t gw_limiter_local_clients(struct gw_limiter *l);

#endif
