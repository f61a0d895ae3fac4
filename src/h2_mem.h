/*
 * h2_mem.h: the allocator nghttp2 sessions of one worker use.
 *
 * nghttp2 allocates and frees small objects on every stream (the stream,
 * its outbound items, header buffers), bursts of them at a time: more
 * than glibc's per-thread cache holds, so most went through the arena's
 * bins.  A worker keeps freed blocks of up to about GW_H2_MEM_MAX bytes
 * in lists by size class (at most GW_H2_MEM_KEEP a class) and hands them
 * out again; larger blocks go to malloc.  Blocks are plain malloc blocks
 * (h2_mem.c says how free finds the class), so a session costs no more
 * memory than with malloc itself.
 *
 * A cache belongs to one worker thread; after the worker has stopped, the
 * thread tearing it down may use it too (sessions freed at teardown).
 */
#ifndef GW_H2_MEM_H
#define GW_H2_MEM_H

#include <stddef.h>

#include <nghttp2/nghttp2.h>

#define GW_H2_MEM_CLASS 16       /* bytes per size class */
#define GW_H2_MEM_MAX 1024       /* larger blocks: malloc and free */
#define GW_H2_MEM_KEEP 512       /* blocks kept per class */
#define GW_H2_MEM_NCLASS (GW_H2_MEM_MAX / GW_H2_MEM_CLASS)

struct gw_h2_mem {
	void *free[GW_H2_MEM_NCLASS + 1];
	unsigned n[GW_H2_MEM_NCLASS + 1];
	nghttp2_mem mem;         /* what nghttp2 is given */
};

void gw_h2_mem_init(struct gw_h2_mem *m);
/* Frees the kept blocks (the sessions using m are gone). */
void gw_h2_mem_fini(struct gw_h2_mem *m);

#endif
