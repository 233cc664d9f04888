/* arena.c - liveness-based activation memory planner (see arena.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"

#define SB_PLAN_NAME_MAX 64

typedef struct plan_buf {
    char name[SB_PLAN_NAME_MAX];
    size_t bytes;
    int first, last;
    int arena;                /* -1 until placed */
    size_t off;
} plan_buf;

struct sb_plan {
    size_t align, max_alloc;
    plan_buf *b;
    int n, cap;
    int solved;
    int n_arenas;
    size_t arena_bytes[SB_ARENA_MAX];
};

/* A byte range [off, end) occupied by an already placed, conflicting buffer. */
typedef struct span {
    size_t off, end;
} span;

sb_status sb_plan_create(size_t align, size_t max_alloc, sb_plan **out, sb_err *e) {
    sb_plan *p;
    if (!out) return sb_fail(e, SB_ERR_ARG, "sb_plan_create: out is NULL");
    *out = NULL;
    if (align < 4)
        return sb_fail(e, SB_ERR_ARG, "sb_plan_create: alignment %zu bytes is below 4", align);
    if (max_alloc == 0)
        return sb_fail(e, SB_ERR_ARG, "sb_plan_create: max_alloc is 0");
    p = (sb_plan *)calloc(1, sizeof *p);
    if (!p) return sb_fail(e, SB_ERR_HOST_MEMORY, "sb_plan_create: out of host memory");
    p->align = align;
    p->max_alloc = max_alloc;
    *out = p;
    return SB_OK;
}

void sb_plan_free(sb_plan *p) {
    if (!p) return;
    free(p->b);
    free(p);
}

static void plan_unsolve(sb_plan *p) {
    int i;
    p->solved = 0;
    p->n_arenas = 0;
    memset(p->arena_bytes, 0, sizeof p->arena_bytes);
    for (i = 0; i < p->n; i++) {
        p->b[i].arena = -1;
        p->b[i].off = 0;
    }
}

int sb_plan_add(sb_plan *p, const char *name, size_t bytes, int first, int last, sb_err *e) {
    plan_buf *b;
    const char *nm = name ? name : "";
    if (!p) {
        sb_fail(e, SB_ERR_ARG, "sb_plan_add: plan is NULL");
        return -1;
    }
    if (bytes == 0) {
        sb_fail(e, SB_ERR_ARG, "sb_plan_add: buffer '%s' has size 0", nm);
        return -1;
    }
    if (first < 0 || last < first) {
        sb_fail(e, SB_ERR_ARG, "sb_plan_add: buffer '%s' has bad lifetime [%d, %d]", nm, first,
                last);
        return -1;
    }
    if (p->n == p->cap) {
        int cap;
        plan_buf *nb;
        if (p->cap > INT_MAX / 2) {
            sb_fail(e, SB_ERR_ARG, "sb_plan_add: too many buffers (%d)", p->n);
            return -1;
        }
        cap = p->cap ? p->cap * 2 : 32;
        nb = (plan_buf *)realloc(p->b, (size_t)cap * sizeof *nb);
        if (!nb) {
            sb_fail(e, SB_ERR_HOST_MEMORY, "sb_plan_add: out of host memory (%d buffers)", cap);
            return -1;
        }
        p->b = nb;
        p->cap = cap;
    }
    b = &p->b[p->n];
    memset(b, 0, sizeof *b);
    strncpy(b->name, nm, SB_PLAN_NAME_MAX - 1);
    b->bytes = bytes;
    b->first = first;
    b->last = last;
    b->arena = -1;
    p->n++;
    plan_unsolve(p);
    return p->n - 1;
}

/* Placement orders tried by sb_plan_solve; the smallest peak wins (ties: the
 * earlier order). All end with the buffer id, so every order is total. */
enum { ORDER_SIZE, ORDER_AREA, ORDER_LONG, ORDER_COUNT };

typedef struct order_key {
    size_t bytes;
    double area;              /* bytes x steps */
    int first, len, id;
} order_key;

static int cmp_size(const order_key *a, const order_key *b) {
    if (a->bytes != b->bytes) return a->bytes > b->bytes ? -1 : 1;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* largest first; ties: earlier first step, then lower id */
static int order_size(const void *pa, const void *pb) {
    return cmp_size((const order_key *)pa, (const order_key *)pb);
}

/* largest bytes x lifetime first, then as order_size */
static int order_area(const void *pa, const void *pb) {
    const order_key *a = (const order_key *)pa, *b = (const order_key *)pb;
    if (a->area != b->area) return a->area > b->area ? -1 : 1;
    return cmp_size(a, b);
}

/* longest lifetime first, then as order_size */
static int order_long(const void *pa, const void *pb) {
    const order_key *a = (const order_key *)pa, *b = (const order_key *)pb;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return cmp_size(a, b);
}

static int span_cmp(const void *pa, const void *pb) {
    const span *a = (const span *)pa, *b = (const span *)pb;
    if (a->off != b->off) return a->off < b->off ? -1 : 1;
    return (a->end > b->end) - (a->end < b->end);
}

/* Round x up to a multiple of align; 0 (with *ok = 0) when it would overflow. */
static size_t align_up(size_t x, size_t align, int *ok) {
    size_t r = x % align;
    if (r == 0) return x;
    if (x > SIZE_MAX - (align - r)) {
        *ok = 0;
        return 0;
    }
    return x + (align - r);
}

/* A candidate placement of one buffer. */
typedef struct cand {
    int arena;                /* -1: none yet */
    size_t off;
    size_t growth;            /* how much the arena grows */
    size_t waste;             /* unused bytes left in the chosen gap */
} cand;

static int cand_better(const cand *c, const cand *best) {
    if (best->arena < 0) return 1;
    if (c->growth != best->growth) return c->growth < best->growth;
    if (c->waste != best->waste) return c->waste < best->waste;
    if (c->arena != best->arena) return c->arena < best->arena;
    return c->off < best->off;
}

/* Find the best place for buffer `bi` in arena `a` and offer it to *best.
 * `placed` lists the ids placed so far; `sp` is scratch of at least n_placed. */
static void try_arena(const sb_plan *p, int bi, int a, const int *placed, int n_placed, span *sp,
                      cand *best) {
    const plan_buf *b = &p->b[bi];
    size_t top = p->arena_bytes[a], cursor = 0, lim = p->max_alloc;
    int i, ns = 0, ok;
    cand c;

    for (i = 0; i < n_placed; i++) {
        const plan_buf *o = &p->b[placed[i]];
        if (o->arena != a || o->first > b->last || b->first > o->last) continue;
        sp[ns].off = o->off;
        sp[ns].end = o->off + o->bytes;
        ns++;
    }
    qsort(sp, (size_t)ns, sizeof *sp, span_cmp);

    c.arena = a;
    for (i = 0; i <= ns; i++) {
        /* the gap [cursor, gap_end): before span i, or the tail up to top */
        size_t gap_end = i < ns ? sp[i].off : top;
        size_t off;
        ok = 1;
        off = align_up(cursor, p->align, &ok);
        if (ok && gap_end >= off && gap_end - off >= b->bytes) {
            c.off = off;
            c.growth = 0;
            c.waste = gap_end - off - b->bytes;
            if (cand_better(&c, best)) *best = c;
        }
        if (i < ns && sp[i].end > cursor) cursor = sp[i].end;
    }
    /* after everything that conflicts, growing the arena (a fit below top
     * was offered above as the tail gap) */
    ok = 1;
    c.off = align_up(cursor, p->align, &ok);
    if (ok && c.off <= lim && lim - c.off >= b->bytes && c.off + b->bytes > top) {
        c.growth = c.off + b->bytes - top;
        c.waste = 0;
        if (cand_better(&c, best)) *best = c;
    }
}

/* Place the buffers in the order of keys[] into a fresh layout of p. */
static sb_status place_all(sb_plan *p, const order_key *keys, int *placed, span *sp, sb_err *e) {
    int i;
    plan_unsolve(p);
    for (i = 0; i < p->n; i++) {
        int bi = keys[i].id, a;
        plan_buf *b = &p->b[bi];
        cand best;
        best.arena = -1;
        best.off = best.growth = best.waste = 0;
        for (a = 0; a < p->n_arenas; a++) try_arena(p, bi, a, placed, i, sp, &best);
        if (best.arena < 0) {
            if (p->n_arenas >= SB_ARENA_MAX)
                return sb_fail(e, SB_ERR_DEVICE_MEMORY,
                               "activation plan needs more than %d arenas of at most %zu bytes: "
                               "buffer '%s' (#%d, %zu bytes, steps %d..%d) does not fit",
                               SB_ARENA_MAX, p->max_alloc, b->name, bi, b->bytes, b->first,
                               b->last);
            best.arena = p->n_arenas++;
            best.off = 0;
        }
        b->arena = best.arena;
        b->off = best.off;
        if (b->off + b->bytes > p->arena_bytes[best.arena])
            p->arena_bytes[best.arena] = b->off + b->bytes;
        placed[i] = bi;
    }
    return SB_OK;
}

static size_t layout_peak(const sb_plan *p) {
    size_t s = 0;
    int a;
    for (a = 0; a < p->n_arenas; a++) s += p->arena_bytes[a];
    return s;
}

sb_status sb_plan_solve(sb_plan *p, sb_err *e) {
    static int (*const orders[ORDER_COUNT])(const void *, const void *) = {order_size, order_area,
                                                                           order_long};
    sb_status st = SB_OK, first_st = SB_OK;
    order_key *keys = NULL;
    int *placed = NULL, *best_arena = NULL;
    size_t *best_off = NULL, best_peak = 0, best_bytes[SB_ARENA_MAX];
    span *sp = NULL;
    int i, n, o, best_n_arenas = 0, have = 0;
    sb_err first_err;

    if (!p) return sb_fail(e, SB_ERR_ARG, "sb_plan_solve: plan is NULL");
    plan_unsolve(p);
    n = p->n;
    for (i = 0; i < n; i++) {
        if (p->b[i].bytes > p->max_alloc)
            SB_FAIL(SB_ERR_DEVICE_MEMORY,
                    "activation buffer '%s' (#%d) needs %zu bytes, more than the largest single "
                    "device allocation (%zu bytes)",
                    p->b[i].name, i, p->b[i].bytes, p->max_alloc);
    }
    if (n <= 0) {
        p->solved = 1;
        return SB_OK;
    }
    keys = (order_key *)malloc((size_t)n * sizeof *keys);
    placed = (int *)malloc((size_t)n * sizeof *placed);
    sp = (span *)malloc((size_t)n * sizeof *sp);
    best_arena = (int *)malloc((size_t)n * sizeof *best_arena);
    best_off = (size_t *)malloc((size_t)n * sizeof *best_off);
    if (!keys || !placed || !sp || !best_arena || !best_off)
        SB_FAIL(SB_ERR_HOST_MEMORY, "sb_plan_solve: out of host memory (%d buffers)", n);
    for (i = 0; i < n; i++) {
        keys[i].bytes = p->b[i].bytes;
        keys[i].first = p->b[i].first;
        keys[i].len = p->b[i].last - p->b[i].first + 1;
        keys[i].area = (double)p->b[i].bytes * (double)keys[i].len;
        keys[i].id = i;
    }
    for (o = 0; o < ORDER_COUNT; o++) {
        sb_status ost;
        qsort(keys, (size_t)n, sizeof *keys, orders[o]);
        ost = place_all(p, keys, placed, sp, o == 0 ? &first_err : NULL);
        if (ost != SB_OK) {
            if (o == 0) first_st = ost;
            continue;
        }
        if (!have || layout_peak(p) < best_peak) {
            have = 1;
            best_peak = layout_peak(p);
            best_n_arenas = p->n_arenas;
            memcpy(best_bytes, p->arena_bytes, sizeof best_bytes);
            for (i = 0; i < n; i++) {
                best_arena[i] = p->b[i].arena;
                best_off[i] = p->b[i].off;
            }
        }
    }
    if (!have) {
        /* every order failed: report the first (largest-first) order's reason */
        st = sb_fail(e, first_st, "%s", first_err.msg);
        goto done;
    }
    p->n_arenas = best_n_arenas;
    memcpy(p->arena_bytes, best_bytes, sizeof best_bytes);
    for (i = 0; i < n; i++) {
        p->b[i].arena = best_arena[i];
        p->b[i].off = best_off[i];
    }
    p->solved = 1;

done:
    if (st != SB_OK) plan_unsolve(p);
    free(keys);
    free(placed);
    free(sp);
    free(best_arena);
    free(best_off);
    return st;
}

int sb_plan_count(const sb_plan *p) { return p ? p->n : 0; }

size_t sb_plan_peak(const sb_plan *p) {
    size_t s = 0;
    int a;
    if (!p || !p->solved) return 0;
    for (a = 0; a < p->n_arenas; a++) s += p->arena_bytes[a];
    return s;
}

int sb_plan_n_arenas(const sb_plan *p) { return p && p->solved ? p->n_arenas : 0; }

size_t sb_plan_arena_bytes(const sb_plan *p, int a) {
    if (!p || !p->solved || a < 0 || a >= p->n_arenas) return 0;
    return p->arena_bytes[a];
}

void sb_plan_slot(const sb_plan *p, int id, int *arena, size_t *offset) {
    int ar = -1;
    size_t off = 0;
    if (p && p->solved && id >= 0 && id < p->n) {
        ar = p->b[id].arena;
        off = p->b[id].off;
    }
    if (arena) *arena = ar;
    if (offset) *offset = off;
}

sb_status sb_arena_alloc(sb_rt *rt, const sb_plan *p, sb_arena *out, sb_err *e) {
    sb_status st = SB_OK;
    int a;
    if (!out) return sb_fail(e, SB_ERR_ARG, "sb_arena_alloc: out is NULL");
    memset(out, 0, sizeof *out);
    if (!rt || !p) return sb_fail(e, SB_ERR_ARG, "sb_arena_alloc: rt or plan is NULL");
    if (!p->solved) return sb_fail(e, SB_ERR_STATE, "sb_arena_alloc: the plan is not solved");
    for (a = 0; a < p->n_arenas; a++) {
        char what[64];
        size_t bytes = p->arena_bytes[a];
        if ((cl_ulong)bytes > rt->dev.max_alloc)
            SB_FAIL(SB_ERR_DEVICE_MEMORY,
                    "activation arena %d needs %zu bytes, more than the device's largest "
                    "allocation (%llu bytes)",
                    a, bytes, (unsigned long long)rt->dev.max_alloc);
        snprintf(what, sizeof what, "activation arena %d", a);
        SB_TRY(sb_rt_alloc(rt, bytes, &out->mem[a], what, e));
        out->bytes[a] = bytes;
        out->n = a + 1;
    }
done:
    if (st != SB_OK) sb_arena_release(out);
    return st;
}

sb_buf sb_arena_buf(const sb_arena *a, const sb_plan *p, int id) {
    int ar;
    size_t off;
    if (!a || !p) return sb_view_none();
    sb_plan_slot(p, id, &ar, &off);
    if (ar < 0 || ar >= a->n) return sb_view_none();
    return sb_view(a->mem[ar], off, p->b[id].bytes);
}

void sb_arena_release(sb_arena *a) {
    int i;
    if (!a) return;
    for (i = 0; i < a->n && i < SB_ARENA_MAX; i++)
        if (a->mem[i]) clReleaseMemObject(a->mem[i]);
    memset(a, 0, sizeof *a);
}
