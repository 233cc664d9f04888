/* arena.h - liveness-based activation memory planner.
 *
 * Contract
 *   - A plan is built on the host: declare every activation buffer with the
 *     schedule steps (op indices) between which it must keep its contents,
 *     then solve. Solving assigns each buffer an (arena, byte offset) such that
 *     two buffers whose step intervals [first, last] intersect never share a
 *     byte within the same arena. Buffers whose lifetimes are disjoint may reuse
 *     the same bytes; a buffer's contents are only guaranteed from its `first`
 *     step to its `last` step inclusive.
 *   - Offsets are multiples of `align`. Each arena is at most `max_alloc` bytes
 *     (the largest single device allocation); when the layout would exceed it,
 *     another arena is opened, up to SB_ARENA_MAX. A buffer larger than
 *     max_alloc, or a plan that needs more arenas, fails with
 *     SB_ERR_DEVICE_MEMORY naming the buffer and the sizes.
 *   - Algorithm (deterministic): greedy placement, run for three orders of
 *     the buffers (largest first; largest bytes x lifetime first; longest
 *     lifetime first; ties always by earlier first step, then lower id); the
 *     layout with the smallest peak wins (ties: the earlier order). For each
 *     buffer, the candidate places are the gaps between already placed
 *     buffers whose lifetimes intersect its own, in every open arena; the
 *     placement that grows its arena least wins, then the tightest gap (best
 *     fit), then the lower arena, then the lower offset. The same input always
 *     gives the same layout. Cost: O(orders x n^2 log n) for n buffers.
 *   - Sizes: an arena's size is the largest end (offset + bytes) placed in it;
 *     sb_plan_peak() is the sum of the arena sizes. Any valid layout needs at
 *     least max over steps of the sum of live sizes; the greedy result usually
 *     lands within a few percent of that bound.
 *   - Adding a buffer after sb_plan_solve() discards the solution (solve again).
 *     Queries on an unsolved plan return 0 / -1.
 *   - Ownership: the plan owns its copies of the names. An sb_arena owns its
 *     cl_mem objects (sb_arena_release). Neither is thread-safe; use one thread
 *     per plan / arena. sb_plan_free and sb_arena_release accept NULL.
 */
#ifndef SB_ARENA_H
#define SB_ARENA_H

#include "rt.h"
#include "ops/ops.h"

#define SB_ARENA_MAX 8

typedef struct sb_plan sb_plan; /* opaque */

/* align: offset alignment in bytes (>= 4; e.g. the device's mem_align_bytes).
 * max_alloc: the largest single device allocation (> 0). */
sb_status sb_plan_create(size_t align, size_t max_alloc, sb_plan **out, sb_err *e);
void sb_plan_free(sb_plan *p);

/* Declare a buffer of `bytes` (> 0) live from step `first` to step `last`
 * inclusive (0 <= first <= last). `name` (may be NULL) is copied, truncated
 * to 63 characters, and used in messages. Returns the buffer id (0, 1, 2, ...
 * in order of addition) or -1 with e set (SB_ERR_ARG, SB_ERR_HOST_MEMORY). */
int sb_plan_add(sb_plan *p, const char *name, size_t bytes, int first, int last, sb_err *e);

/* Assign arenas and offsets (see the contract above). */
sb_status sb_plan_solve(sb_plan *p, sb_err *e);

int sb_plan_count(const sb_plan *p);                  /* buffers added */
size_t sb_plan_peak(const sb_plan *p);                /* sum of arena sizes; 0 if unsolved */
int sb_plan_n_arenas(const sb_plan *p);               /* 0 if unsolved or empty */
size_t sb_plan_arena_bytes(const sb_plan *p, int a);  /* 0 if a is out of range */
/* Where buffer `id` lives; *arena = -1, *offset = 0 when unsolved or id is bad.
 * Either pointer may be NULL. */
void sb_plan_slot(const sb_plan *p, int id, int *arena, size_t *offset);

/* Device part: one cl_mem per arena of a solved plan. */
typedef struct sb_arena {
    cl_mem mem[SB_ARENA_MAX];
    size_t bytes[SB_ARENA_MAX];
    int n;
} sb_arena;

/* Allocate the arenas of solved plan p (SB_ERR_STATE if unsolved). On failure
 * *out holds nothing to release. An empty plan gives n = 0. */
sb_status sb_arena_alloc(sb_rt *rt, const sb_plan *p, sb_arena *out, sb_err *e);
/* Buffer `id` as a view of its planned bytes; the empty view for a bad id. */
sb_buf sb_arena_buf(const sb_arena *a, const sb_plan *p, int id);
/* Release the cl_mem objects and zero *a. */
void sb_arena_release(sb_arena *a);

#endif
