/*
 * h2_mem.c: a per-worker allocator for nghttp2 (see h2_mem.h).
 *
 * Blocks carry no header: a small request is rounded up to a size glibc
 * serves exactly (16k + 8 usable bytes, the natural rounding of its
 * chunks, so nothing is spent beyond what malloc itself would take), and
 * on free malloc_usable_size() names the class.  A block whose usable
 * size is not of that form (a large one, or any under a sanitizer's
 * allocator, which reports the size asked for) goes back to free().
 */
#include "h2_mem.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Class k (1..GW_H2_MEM_NCLASS) holds blocks of 16k + 8 usable bytes. */
static size_t
class_size(unsigned k)
{
	return (size_t)k * GW_H2_MEM_CLASS + 8;
}

/* The class a request of `size` bytes takes, 0 for a large one. */
static unsigned
class_for(size_t size)
{
	if (size > class_size(GW_H2_MEM_NCLASS))
		return 0;
	return size <= 24 ? 1 :
	    (unsigned)((size - 8 + GW_H2_MEM_CLASS - 1) / GW_H2_MEM_CLASS);
}

/* The class a block of usable size `usable` belongs to, or 0. */
static unsigned
class_of_block(size_t usable)
{
	unsigned k;

	if (usable < 24 || (usable - 8) % GW_H2_MEM_CLASS != 0)
		return 0;
	k = (unsigned)((usable - 8) / GW_H2_MEM_CLASS);
	return k <= GW_H2_MEM_NCLASS ? k : 0;
}

static void *
mem_alloc(struct gw_h2_mem *m, size_t size)
{
	unsigned k = class_for(size);
	void *p;

	if (k == 0)
		return malloc(size);
	if ((p = m->free[k]) != NULL) {
		memcpy(&m->free[k], p, sizeof(void *));
		m->n[k]--;
		return p;
	}
	return malloc(class_size(k));
}

static void
mem_free(struct gw_h2_mem *m, void *p)
{
	unsigned k;

	if (p == NULL)
		return;
	k = class_of_block(malloc_usable_size(p));
	if (k == 0 || m->n[k] >= GW_H2_MEM_KEEP) {
		free(p);
		return;
	}
	memcpy(p, &m->free[k], sizeof(void *));
	m->free[k] = p;
	m->n[k]++;
}

static void *
nv_malloc(size_t size, void *ud)
{
	return mem_alloc(ud, size);
}

static void
nv_free(void *p, void *ud)
{
	mem_free(ud, p);
}

static void *
nv_calloc(size_t n, size_t size, void *ud)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if ((p = mem_alloc(ud, n * size)) != NULL)
		memset(p, 0, n * size);
	return p;
}

static void *
nv_realloc(void *p, size_t size, void *ud)
{
	struct gw_h2_mem *m = ud;
	size_t have;
	void *q;

	if (p == NULL)
		return mem_alloc(m, size);
	have = malloc_usable_size(p);
	if (size <= have)
		return p;
	if (class_of_block(have) == 0)
		return realloc(p, size);
	if ((q = mem_alloc(m, size)) == NULL)
		return NULL;
	memcpy(q, p, have);
	mem_free(m, p);
	return q;
}

void
gw_h2_mem_init(struct gw_h2_mem *m)
{
	memset(m, 0, sizeof(*m));
	m->mem.mem_user_data = m;
	m->mem.malloc = nv_malloc;
	m->mem.free = nv_free;
	m->mem.calloc = nv_calloc;
	m->mem.realloc = nv_realloc;
}

void
gw_h2_mem_fini(struct gw_h2_mem *m)
{
	unsigned k;
	void *p;

	for (k = 1; k <= GW_H2_MEM_NCLASS; k++) {
		while ((p = m->free[k]) != NULL) {
			memcpy(&m->free[k], p, sizeof(void *));
			free(p);
		}
		m->n[k] = 0;
	}
}
