/*
 * sockio.c: batched, optimistic writes and whole reads for plaintext
 * bufferevents (sockio.h says why and how).
 */
#define GW_LOG_MODULE "sockio"
#include "sockio.h"

#include <errno.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include "log.h"

static void sockio_read_cb(evutil_socket_t, short, void *);

static void
flush_queue(struct gw_sockio *s)
{
	struct gw_flusher *fl = s->fl;

	if (s->queued)
		return;
	/* Writing is libevent's until the output drains: a write now
	 * would only meet a full socket buffer. */
	if (bufferevent_get_enabled(s->bev) & EV_WRITE)
		return;
	s->queued = true;
	if (TAILQ_EMPTY(&fl->queue))
		event_active(fl->ev, EV_WRITE, 0);
	TAILQ_INSERT_TAIL(&fl->queue, s, entry);
}

static void
flush_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	(void)buf;
	if (info->n_added > 0)
		flush_queue(arg);
}

/* Writes one queued output.  The owner's callbacks may run from here and
 * free it (and others): s is off the queue by then. */
static void
flush_one(struct gw_sockio *s)
{
	struct bufferevent *bev = s->bev;
	struct evbuffer *out = bufferevent_get_output(bev);

	if (evbuffer_get_length(out) == 0)
		return;
	/* A socket bufferevent keeps the start of its output frozen so that
	 * only its own write drains it; this is such a write. */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0) {
		/* A full socket waits for writability; an error is found
		 * again by libevent's write, which tells the owner. */
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	bufferevent_trigger(bev, EV_WRITE, 0);
}

/*
 * Runs once per loop pass that queued something, after the callbacks
 * before it.  An output queued again while this runs (its write callback
 * produced more) goes to the tail and is written in this same run; the
 * socket buffer filling up ends that.
 */
static void
flusher_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_flusher *fl = arg;
	struct gw_sockio *s;

	(void)fd;
	(void)what;
	while ((s = TAILQ_FIRST(&fl->queue)) != NULL) {
		TAILQ_REMOVE(&fl->queue, s, entry);
		s->queued = false;
		flush_one(s);
	}
}

void
gw_flusher_init(struct gw_flusher *fl, struct event_base *base)
{
	TAILQ_INIT(&fl->queue);
	fl->ev = event_new(base, -1, 0, flusher_cb, fl);
}

void
gw_flusher_fini(struct gw_flusher *fl)
{
	if (fl->ev != NULL)
		event_free(fl->ev);
	fl->ev = NULL;
}

void
gw_sockio_attach(struct gw_sockio *s, struct gw_flusher *fl,
    struct bufferevent *bev, bool tls)
{
	short enabled;

	s->bev = NULL;
	s->queued = false;
	s->read_errno = 0;
	if (tls || fl == NULL || fl->ev == NULL)
		return;
	s->cb = evbuffer_add_cb(bufferevent_get_output(bev), flush_out_cb, s);
	if (s->cb == NULL)
		return;
	s->bev = bev;
	s->fl = fl;
	bufferevent_disable(bev, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		flush_queue(s);
	/* The bufferevent's read event calls us instead of libevent's read
	 * (flags as bufferevent_socket_new gives them); enabling, disabling
	 * and timeouts still go through the bufferevent. */
	enabled = bufferevent_get_enabled(bev);
	event_del(&bev->ev_read);
	s->libevent_readcb = event_get_callback(&bev->ev_read);
	event_assign(&bev->ev_read, bev->ev_base, bufferevent_getfd(bev),
	    EV_READ | EV_PERSIST | EV_FINALIZE, sockio_read_cb, s);
	if (enabled & EV_READ)
		bufferevent_enable(bev, EV_READ);
}

void
gw_sockio_detach(struct gw_sockio *s)
{
	short enabled;

	if (s->bev == NULL)
		return;
	if (s->queued)
		TAILQ_REMOVE(&s->fl->queue, s, entry);
	evbuffer_remove_cb_entry(bufferevent_get_output(s->bev), s->cb);
	/* The read event calls back into s: libevent's own callback goes
	 * back (the bufferevent's finalizer, too, expects its argument). */
	enabled = bufferevent_get_enabled(s->bev);
	event_del(&s->bev->ev_read);
	event_assign(&s->bev->ev_read, s->bev->ev_base,
	    bufferevent_getfd(s->bev), EV_READ | EV_PERSIST | EV_FINALIZE,
	    s->libevent_readcb, s->bev);
	if (enabled & EV_READ)
		bufferevent_enable(s->bev, EV_READ);
	s->queued = false;
	s->bev = NULL;
}

void
gw_sockio_enable(struct gw_sockio *s, struct bufferevent *bev, short what)
{
	if (s->bev != NULL)
		what &= ~EV_WRITE;
	if (what != 0)
		bufferevent_enable(bev, what);
}

void
gw_sockio_written(struct gw_sockio *s)
{
	if (s->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		bufferevent_disable(s->bev, EV_WRITE);
}

/*
 * Reads what the socket holds into the input: one readv into the room a
 * 4 KiB reservation gives (most messages fit; libevent rounds the room
 * up), and when that fills, one more into room for about `max` bytes in
 * all.  No FIONREAD first, unlike libevent.  Returns the bytes read, 0 at
 * end of file, -1 with errno on error (EAGAIN: nothing there).  An error
 * met after bytes were read is kept for the next call: the kernel
 * reports a reset once.
 */
static ssize_t
sockio_fill(struct gw_sockio *s, size_t max)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	int fd = bufferevent_getfd(s->bev);
	size_t want = GW_SOCKIO_FIRST_READ, room;
	ssize_t total = 0, r;
	struct evbuffer_iovec v[2];
	int i, n;

	if (s->read_errno != 0) {
		errno = s->read_errno;
		s->read_errno = 0;
		return -1;
	}
	/* The input's end is frozen for everyone but the bufferevent's
	 * own read; this is such a read. */
	evbuffer_unfreeze(in, 0);
	for (;;) {
		n = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);
		if (n <= 0) {
			r = -1;
			errno = ENOMEM;
			break;
		}
		for (room = 0, i = 0; i < n; i++)
			room += v[i].iov_len;
		r = readv(fd, (struct iovec *)v, n);
		if (r <= 0) {
			evbuffer_commit_space(in, v, 0);
			break;
		}
		total += r;
		for (i = 0; i < n; i++) {
			size_t take = (size_t)r < v[i].iov_len ? (size_t)r :
			    v[i].iov_len;

			v[i].iov_len = take;
			r -= (ssize_t)take;
		}
		evbuffer_commit_space(in, v, n);
		if ((size_t)total < room || want != GW_SOCKIO_FIRST_READ ||
		    max <= (size_t)total)
			break;
		want = max - (size_t)total;
	}
	evbuffer_freeze(in, 0);
	if (total > 0) {
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			s->read_errno = errno;
		return total;
	}
	return r;
}

/*
 * The read event of an attached bufferevent (its own ev_read, with this
 * callback in place of libevent's): the same outcomes as libevent's
 * read, reported the same way.
 */
static void
sockio_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_sockio *s = arg;
	struct bufferevent *bev = s->bev;
	short ev = BEV_EVENT_READING;
	ssize_t r;

	(void)fd;
	if (what & EV_TIMEOUT) {
		ev |= BEV_EVENT_TIMEOUT;
	} else {
		r = sockio_fill(s, GW_SOCKIO_READ_MAX);
		if (r > 0) {
			/* An error kept for later is reported on the next
			 * pass (the socket stays readable). */
			bufferevent_trigger(bev, EV_READ, 0);
			return;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		ev |= r == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR;
	}
	bufferevent_disable(bev, EV_READ);
	bufferevent_trigger_event(bev, ev, 0);
}

void
gw_sockio_read(struct gw_sockio *s, size_t max)
{
	if (s->bev != NULL)
		(void)sockio_fill(s, max);
}
