/*
 * breaker.h: the circuit breaker of qos/circuit-breaker, one per backend.
 *
 * Closed -> open after more than max_errors consecutive errors within
 * `interval`; open rejects every request for `timeout`; then half-open
 * lets exactly one request through: its success closes the circuit, its
 * failure opens it again.  Time is passed in (monotonic ns).  Thread-safe:
 * one breaker is shared by all workers (a short mutex per breaker; only
 * requests to the same backend contend).
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

/* Called on every state change (from the thread that caused it). */
typedef void (*gw_breaker_notify_cb)(void *arg, const char *name,
    enum gw_breaker_state from, enum gw_breaker_state to);

/* name is copied; it names the breaker in logs. */
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

/* Records the outcome of a request that gw_breaker_allow() let through. */
void gw_breaker_record(struct gw_breaker *b, bool success, int64_t now);

enum gw_breaker_state gw_breaker_state(struct gw_breaker *b, int64_t now);
const char *gw_breaker_state_name(enum gw_breaker_state s);
/* Transitions so far, by target state (for metrics). */
uint64_t gw_breaker_transitions(struct gw_breaker *b,
    enum gw_breaker_state to);

#endif
