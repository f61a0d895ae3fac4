/*
 * breaker.h: the circuit breaker of qos/circuit-breaker, one per backend.
 *
 * Closed -> open after more than max_errors consecutive errors within
 * `interval`; open rejects every request for `timeout`; then half-open
 * lets exactly one request through: its success closes the circuit, its
 * failure opens it again.  Time is passed in (monotonic ns).  Thread-safe:
 * one breaker is shared by all workers (a short mutex per breaker; only
 * requests to the same backend contend).
 *
 * Exactly:
 *  - closed: a success resets the error count.  An error starts a new run
 *    (count 1) when the count is 0 or when `interval` or more has passed
 *    since the first error of the current run; else it adds one.  The
 *    error that takes the count past max_errors opens the circuit.  So
 *    it opens at the (max_errors + 1)-th consecutive error if that comes
 *    less than `interval` after the first of them.  interval <= 0: errors
 *    never expire (a run ends only with a success).
 *  - open: allow() is false until `timeout` has passed since it opened
 *    (timeout <= 0 means 60s, as in KrakenD); then the next allow() moves
 *    to half-open and lets that one request (the probe) through.
 *  - half-open: allow() is false while the probe is out.  Its success
 *    closes the circuit, its failure opens it again for `timeout`.  A
 *    probe whose outcome has not come back after `timeout` is taken as
 *    lost (a caller that never recorded it) and one more probe goes,
 *    so a leaked probe cannot hold the backend shut forever.
 *  - every transition bumps a generation.  An outcome recorded with
 *    gw_breaker_record_gen() under an older generation than the current
 *    one is ignored: a slow success from before the circuit opened does
 *    not close it, a slow failure from before it closed again does not
 *    count against the new closed period.
 *  - a clock that goes backwards counts as no time passing.
 */
#ifndef GW_BREAKER_H
#define GW_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

enum gw_breaker_state {
	GW_BREAKER_CLOSED = 0,
	GW_BREAKER_OPEN,
	GW_BREAKER_HALF_OPEN,
};

struct gw_breaker;

/*
 * Called on every state change, from the thread that caused it, after the
 * breaker's lock is released (so it may call back into the breaker; two
 * changes racing on two threads may be reported out of order).
 */
typedef void (*gw_breaker_notify_cb)(void *arg, const char *name,
    enum gw_breaker_state from, enum gw_breaker_state to);

/* name is copied; it names the breaker in logs (NULL: cfg->name, else
 * "backend").  cfg is read only here.  Never NULL. */
struct gw_breaker *gw_breaker_create(const struct gw_breaker_config *cfg,
    const char *name);
void gw_breaker_destroy(struct gw_breaker *b);
void gw_breaker_set_notify(struct gw_breaker *b, gw_breaker_notify_cb cb,
    void *arg);

/*
 * Asks to send one request at now.  Returns true if it may go; then the
 * caller must call gw_breaker_record() exactly once with its outcome.
 * false: reject with 503 without touching the backend.
 */
bool gw_breaker_allow(struct gw_breaker *b, int64_t now);

/*
 * Records the outcome of a request that gw_breaker_allow() let through.
 * Without a generation it is taken as belonging to the current state,
 * except while open (nothing was let through then), when it is ignored;
 * so an outcome from before a trip that arrives while half-open is taken
 * as the probe's.  Requests that can outlive a state change (any proxied
 * one) should use the _gen pair below.
 */
void gw_breaker_record(struct gw_breaker *b, bool success, int64_t now);

/*
 * As gw_breaker_allow(); when it returns true, *gen is set to the
 * generation the request was let through under.
 */
bool gw_breaker_allow_gen(struct gw_breaker *b, int64_t now, uint64_t *gen);

/*
 * Records the outcome of a request let through under generation gen;
 * ignored if the breaker has changed state since.
 */
void gw_breaker_record_gen(struct gw_breaker *b, uint64_t gen, bool success,
    int64_t now);

/*
 * The state at now.  Like gobreaker's, it applies the timed transition:
 * an open circuit whose timeout has passed becomes half-open here (and
 * notifies), with the probe not yet sent.
 */
enum gw_breaker_state gw_breaker_state(struct gw_breaker *b, int64_t now);
/* "closed", "open", "half-open". */
const char *gw_breaker_state_name(enum gw_breaker_state s);
/* Transitions so far, by target state (for metrics). */
uint64_t gw_breaker_transitions(struct gw_breaker *b,
    enum gw_breaker_state to);

#endif
