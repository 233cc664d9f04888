/* test_arena.c - the activation memory planner: an exact hand-solved schedule,
 * randomized schedules checked for overlap / alignment / bounds, several
 * arenas, bad arguments, and the device arenas holding data across steps. */
#include <string.h>
#include "testutil.h"
#include "../runtime/arena.h"
#include "../runtime/model.h"
#include "../runtime/safetensors.h"

/* ---- helpers ---------------------------------------------------------------- */

typedef struct tbuf {
    size_t bytes;
    int first, last;
} tbuf;

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* max over steps of the sum of live sizes: a lower bound of any layout */
static size_t live_bound(const tbuf *b, int n) {
    int i, s, steps = 0;
    size_t best = 0;
    for (i = 0; i < n; i++)
        if (b[i].last + 1 > steps) steps = b[i].last + 1;
    for (s = 0; s < steps; s++) {
        size_t sum = 0;
        for (i = 0; i < n; i++)
            if (b[i].first <= s && s <= b[i].last) sum += b[i].bytes;
        if (sum > best) best = sum;
    }
    return best;
}

static sb_plan *make_plan(const tbuf *b, int n, size_t align, size_t max_alloc) {
    sb_plan *p = NULL;
    int i;
    TU_OK(sb_plan_create(align, max_alloc, &p, &tu_err));
    for (i = 0; i < n; i++) {
        char name[32];
        int id;
        snprintf(name, sizeof name, "buf%d", i);
        id = sb_plan_add(p, name, b[i].bytes, b[i].first, b[i].last, &tu_err);
        ck_assert_msg(id == i, "add %d returned %d: %s", i, id, tu_err.msg);
    }
    return p;
}

/* Every invariant of a solved plan: aligned, inside its arena, arenas within
 * max_alloc, no two intersecting lifetimes overlapping in one arena, and the
 * peak between the live lower bound and the sum of aligned sizes. */
static void check_plan(const sb_plan *p, const tbuf *b, int n, size_t align, size_t max_alloc,
                       const char *what) {
    int i, j, na = sb_plan_n_arenas(p);
    size_t peak = sb_plan_peak(p), sum_arenas = 0, sum_aligned = 0, lb = live_bound(b, n);
    int *ar = (int *)malloc((size_t)n * sizeof *ar);
    size_t *off = (size_t *)malloc((size_t)n * sizeof *off);
    ck_assert(ar && off);
    ck_assert_msg(na >= 1 && na <= SB_ARENA_MAX, "%s: %d arenas", what, na);
    for (i = 0; i < na; i++) {
        size_t ab = sb_plan_arena_bytes(p, i);
        ck_assert_msg(ab > 0 && ab <= max_alloc, "%s: arena %d has %zu bytes (max %zu)", what, i,
                      ab, max_alloc);
        sum_arenas += ab;
    }
    ck_assert_msg(sum_arenas == peak, "%s: peak %zu != sum of arenas %zu", what, peak, sum_arenas);
    for (i = 0; i < n; i++) {
        sb_plan_slot(p, i, &ar[i], &off[i]);
        ck_assert_msg(ar[i] >= 0 && ar[i] < na, "%s: buffer %d in arena %d", what, i, ar[i]);
        ck_assert_msg(off[i] % align == 0, "%s: buffer %d offset %zu not aligned to %zu", what, i,
                      off[i], align);
        ck_assert_msg(off[i] + b[i].bytes <= sb_plan_arena_bytes(p, ar[i]),
                      "%s: buffer %d [%zu, %zu) beyond arena %d (%zu bytes)", what, i, off[i],
                      off[i] + b[i].bytes, ar[i], sb_plan_arena_bytes(p, ar[i]));
        sum_aligned += (b[i].bytes + align - 1) / align * align;
    }
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++) {
            int live = b[i].first <= b[j].last && b[j].first <= b[i].last;
            int mem = ar[i] == ar[j] && off[i] < off[j] + b[j].bytes && off[j] < off[i] + b[i].bytes;
            ck_assert_msg(!(live && mem),
                          "%s: buffers %d [%zu,+%zu) steps %d..%d and %d [%zu,+%zu) steps %d..%d "
                          "overlap",
                          what, i, off[i], b[i].bytes, b[i].first, b[i].last, j, off[j],
                          b[j].bytes, b[j].first, b[j].last);
        }
    ck_assert_msg(peak >= lb, "%s: peak %zu below the live lower bound %zu", what, peak, lb);
    ck_assert_msg(peak <= sum_aligned, "%s: peak %zu above the sum of aligned sizes %zu", what,
                  peak, sum_aligned);
    free(ar);
    free(off);
}

/* ---- (a) a hand-solved schedule --------------------------------------------- */

/* One block of a small model, steps 0..9, sizes in bytes (all multiples of the
 * alignment 64, so alignment adds nothing):
 *
 *   id name     bytes first last
 *    0 x         1024   0    9   residual stream
 *    1 norm      1024   0    1
 *    2 qkv       3072   1    3
 *    3 gate       512   1    5
 *    4 attn      1024   3    4
 *    5 proj      1024   4    5
 *    6 res1      1024   5    7
 *    7 ffn_up    4096   6    7
 *    8 ffn_dn    1024   7    8
 *    9 out       1024   8    9
 *
 * Live bytes per step:
 *   s0 x+norm                  = 1024+1024            = 2048
 *   s1 x+norm+qkv+gate         = 1024+1024+3072+512   = 5632
 *   s2 x+qkv+gate              = 1024+3072+512        = 4608
 *   s3 x+qkv+gate+attn         = 1024+3072+512+1024   = 5632
 *   s4 x+gate+attn+proj        = 1024+512+1024+1024   = 3584
 *   s5 x+gate+proj+res1        = 1024+512+1024+1024   = 3584
 *   s6 x+res1+ffn_up           = 1024+1024+4096       = 6144
 *   s7 x+res1+ffn_up+ffn_dn    = 1024+1024+4096+1024  = 7168
 *   s8 x+ffn_dn+out            = 1024+1024+1024       = 3072
 *   s9 x+out                   = 1024+1024            = 2048
 * So no layout can use less than 7168 bytes (step 7). This layout reaches it:
 *   ffn_up [0,4096)  qkv [0,3072)  x [4096,5120)  norm [3072,4096)
 *   attn [3072,4096) proj [0,1024) res1 [5120,6144) ffn_dn [6144,7168)
 *   out [5120,6144)  gate [6144,6656)
 * (check: every pair sharing bytes has disjoint steps: ffn_up 6-7 vs qkv 1-3,
 * norm 0-1, attn 3-4, proj 4-5, gate 1-5, out 8-9 vs res1 5-7 ...).
 * Hence the optimal peak is exactly 7168, against 14848 without reuse. */
START_TEST(test_hand_schedule) {
    static const tbuf b[10] = {
        {1024, 0, 9}, {1024, 0, 1}, {3072, 1, 3}, {512, 1, 5}, {1024, 3, 4},
        {1024, 4, 5}, {1024, 5, 7}, {4096, 6, 7}, {1024, 7, 8}, {1024, 8, 9},
    };
    sb_plan *p = make_plan(b, 10, 64, (size_t)1 << 30);
    size_t sum = 0;
    int i;
    for (i = 0; i < 10; i++) sum += b[i].bytes;
    ck_assert_uint_eq(sum, 14848);
    ck_assert_uint_eq(live_bound(b, 10), 7168);
    ck_assert_uint_eq(sb_plan_peak(p), 0); /* unsolved */
    TU_OK(sb_plan_solve(p, &tu_err));
    check_plan(p, b, 10, 64, (size_t)1 << 30, "hand");
    ck_assert_int_eq(sb_plan_n_arenas(p), 1);
    ck_assert_uint_eq(sb_plan_peak(p), 7168);
    sb_plan_free(p);
}
END_TEST

/* ---- (b) randomized schedules ----------------------------------------------- */

#define RND_N 200
#define RND_STEPS 60

static void random_schedule(tbuf *b, int n, uint32_t seed) {
    uint32_t s = seed;
    int i;
    for (i = 0; i < n; i++) {
        uint32_t r = lcg(&s) % 100, len;
        b[i].first = (int)(lcg(&s) % RND_STEPS);
        if (r < 70) len = 1 + lcg(&s) % 3;
        else if (r < 95) len = 1 + lcg(&s) % 20;
        else len = RND_STEPS;
        b[i].last = b[i].first + (int)len - 1;
        if (b[i].last >= RND_STEPS) b[i].last = RND_STEPS - 1;
        r = lcg(&s) % 100;
        if (r < 50) /* "tensor" sizes: rows x features x 4 */
            b[i].bytes = (size_t)(1 + lcg(&s) % 64) * (size_t)(64 << (lcg(&s) % 4)) * 4;
        else if (r < 90) /* arbitrary, often unaligned */
            b[i].bytes = 1 + lcg(&s) % 200000;
        else /* tiny */
            b[i].bytes = 1 + lcg(&s) % 40;
    }
}

START_TEST(test_random_schedules) {
    static const size_t aligns[4] = {4, 16, 128, 256};
    double worst = 0.0;
    int seed;
    for (seed = 1; seed <= 12; seed++) {
        tbuf b[RND_N];
        size_t align = aligns[seed % 4], lb;
        sb_plan *p, *q;
        char what[32];
        int i;
        random_schedule(b, RND_N, 0x5eed0000u + (uint32_t)seed);
        snprintf(what, sizeof what, "seed %d", seed);
        p = make_plan(b, RND_N, align, SIZE_MAX / 4);
        TU_OK(sb_plan_solve(p, &tu_err));
        check_plan(p, b, RND_N, align, SIZE_MAX / 4, what);
        ck_assert_int_eq(sb_plan_n_arenas(p), 1);
        lb = live_bound(b, RND_N);
        if ((double)sb_plan_peak(p) / (double)lb > worst)
            worst = (double)sb_plan_peak(p) / (double)lb;
        /* same input, same layout */
        q = make_plan(b, RND_N, align, SIZE_MAX / 4);
        TU_OK(sb_plan_solve(q, &tu_err));
        ck_assert_uint_eq(sb_plan_peak(q), sb_plan_peak(p));
        for (i = 0; i < RND_N; i++) {
            int a1, a2;
            size_t o1, o2;
            sb_plan_slot(p, i, &a1, &o1);
            sb_plan_slot(q, i, &a2, &o2);
            ck_assert(a1 == a2 && o1 == o2);
        }
        /* solving again gives the same too */
        TU_OK(sb_plan_solve(q, &tu_err));
        ck_assert_uint_eq(sb_plan_peak(q), sb_plan_peak(p));
        sb_plan_free(p);
        sb_plan_free(q);
    }
    /* quality: greedy by size should stay close to the lower bound */
    printf("random schedules: worst peak / live bound = %.4f\n", worst);
    ck_assert_msg(worst < 1.12, "planner peak is %.3fx the lower bound", worst);
}
END_TEST

/* The same random schedules under a max_alloc that forces several arenas. */
START_TEST(test_random_multi_arena) {
    int seed;
    for (seed = 1; seed <= 8; seed++) {
        tbuf b[RND_N];
        size_t align = 128, big = 0, single, max_alloc;
        sb_plan *p;
        char what[32];
        int i;
        random_schedule(b, RND_N, 0xa7e4a000u + (uint32_t)seed);
        for (i = 0; i < RND_N; i++)
            if (b[i].bytes > big) big = b[i].bytes;
        p = make_plan(b, RND_N, align, SIZE_MAX / 4);
        TU_OK(sb_plan_solve(p, &tu_err));
        single = sb_plan_peak(p);
        sb_plan_free(p);
        max_alloc = single / 3 > big ? single / 3 : big;
        snprintf(what, sizeof what, "multi seed %d", seed);
        p = make_plan(b, RND_N, align, max_alloc);
        TU_OK(sb_plan_solve(p, &tu_err));
        check_plan(p, b, RND_N, align, max_alloc, what);
        ck_assert_msg(sb_plan_n_arenas(p) >= 3, "%s: only %d arenas", what, sb_plan_n_arenas(p));
        sb_plan_free(p);
    }
}
END_TEST

/* ---- (c) arenas and limits -------------------------------------------------- */

START_TEST(test_multi_arena_exact) {
    /* 6 buffers of 1000 bytes all live at once, align 64: each takes a 1024
     * slot; max_alloc 2100 holds two (0..1000, 1024..2024), so 3 arenas of
     * 2024 bytes. Then a 7th buffer live only at step 5 reuses a slot. */
    tbuf b[7];
    sb_plan *p;
    int i;
    for (i = 0; i < 6; i++) {
        b[i].bytes = 1000;
        b[i].first = 0;
        b[i].last = 4;
    }
    b[6].bytes = 2000;
    b[6].first = 5;
    b[6].last = 6;
    p = make_plan(b, 7, 64, 2100);
    TU_OK(sb_plan_solve(p, &tu_err));
    check_plan(p, b, 7, 64, 2100, "exact multi");
    ck_assert_int_eq(sb_plan_n_arenas(p), 3);
    for (i = 0; i < 3; i++) ck_assert_uint_eq(sb_plan_arena_bytes(p, i), 2024);
    ck_assert_uint_eq(sb_plan_peak(p), 3 * 2024);
    ck_assert_uint_eq(sb_plan_arena_bytes(p, 3), 0);
    sb_plan_free(p);
}
END_TEST

START_TEST(test_too_many_arenas) {
    /* 9 buffers live together, each needs its own arena: more than 8 */
    sb_plan *p = NULL;
    int i;
    TU_OK(sb_plan_create(16, 1000, &p, &tu_err));
    for (i = 0; i < SB_ARENA_MAX + 1; i++) ck_assert_int_eq(sb_plan_add(p, "big", 600, 0, 3, &tu_err), i);
    ck_assert_int_eq(sb_plan_solve(p, &tu_err), SB_ERR_DEVICE_MEMORY);
    ck_assert_msg(strstr(tu_err.msg, "big") != NULL, "message: %s", tu_err.msg);
    ck_assert_uint_eq(sb_plan_peak(p), 0);
    ck_assert_int_eq(sb_plan_n_arenas(p), 0);
    /* exactly 8 fit */
    sb_plan_free(p);
    TU_OK(sb_plan_create(16, 1000, &p, &tu_err));
    for (i = 0; i < SB_ARENA_MAX; i++) sb_plan_add(p, "big", 600, 0, 3, &tu_err);
    TU_OK(sb_plan_solve(p, &tu_err));
    ck_assert_int_eq(sb_plan_n_arenas(p), SB_ARENA_MAX);
    sb_plan_free(p);
}
END_TEST

START_TEST(test_buffer_over_max_alloc) {
    sb_plan *p = NULL;
    int a;
    size_t off;
    TU_OK(sb_plan_create(64, 4096, &p, &tu_err));
    ck_assert_int_eq(sb_plan_add(p, "small", 100, 0, 1, &tu_err), 0);
    ck_assert_int_eq(sb_plan_add(p, "huge_logits", 4097, 1, 2, &tu_err), 1);
    ck_assert_int_eq(sb_plan_solve(p, &tu_err), SB_ERR_DEVICE_MEMORY);
    ck_assert_msg(strstr(tu_err.msg, "huge_logits") && strstr(tu_err.msg, "4097") &&
                      strstr(tu_err.msg, "4096"),
                  "message should name the buffer and sizes: %s", tu_err.msg);
    sb_plan_slot(p, 0, &a, &off);
    ck_assert_int_eq(a, -1);
    /* exactly max_alloc is fine */
    sb_plan_free(p);
    TU_OK(sb_plan_create(64, 4096, &p, &tu_err));
    sb_plan_add(p, "fits", 4096, 0, 0, &tu_err);
    TU_OK(sb_plan_solve(p, &tu_err));
    ck_assert_uint_eq(sb_plan_peak(p), 4096);
    sb_plan_free(p);
}
END_TEST

/* ---- (d) bad arguments ------------------------------------------------------ */

START_TEST(test_bad_args) {
    sb_plan *p = NULL;
    int a;
    size_t off;
    ck_assert_int_eq(sb_plan_create(2, 1024, &p, &tu_err), SB_ERR_ARG);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(sb_plan_create(64, 0, &p, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_plan_create(64, 1024, NULL, &tu_err), SB_ERR_ARG);
    TU_OK(sb_plan_create(64, 1024, &p, &tu_err));
    tu_err.status = SB_OK;
    ck_assert_int_eq(sb_plan_add(p, "zero", 0, 0, 1, &tu_err), -1);
    ck_assert_int_eq(tu_err.status, SB_ERR_ARG);
    ck_assert_msg(strstr(tu_err.msg, "zero") != NULL, "%s", tu_err.msg);
    tu_err.status = SB_OK;
    ck_assert_int_eq(sb_plan_add(p, "backwards", 16, 3, 2, &tu_err), -1);
    ck_assert_int_eq(tu_err.status, SB_ERR_ARG);
    tu_err.status = SB_OK;
    ck_assert_int_eq(sb_plan_add(p, "negative", 16, -1, 2, &tu_err), -1);
    ck_assert_int_eq(tu_err.status, SB_ERR_ARG);
    ck_assert_int_eq(sb_plan_add(NULL, "x", 16, 0, 0, &tu_err), -1);
    ck_assert_int_eq(sb_plan_solve(NULL, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_plan_count(p), 0);
    /* an empty plan solves to nothing */
    TU_OK(sb_plan_solve(p, &tu_err));
    ck_assert_uint_eq(sb_plan_peak(p), 0);
    ck_assert_int_eq(sb_plan_n_arenas(p), 0);
    /* a NULL name is fine; a bad id gives no slot; adding unsolves */
    ck_assert_int_eq(sb_plan_add(p, NULL, 16, 0, 0, &tu_err), 0);
    TU_OK(sb_plan_solve(p, &tu_err));
    ck_assert_uint_eq(sb_plan_peak(p), 16);
    sb_plan_slot(p, 1, &a, &off);
    ck_assert_int_eq(a, -1);
    sb_plan_slot(p, -1, &a, &off);
    ck_assert_int_eq(a, -1);
    ck_assert_int_eq(sb_plan_add(p, "late", 16, 0, 0, &tu_err), 1);
    ck_assert_uint_eq(sb_plan_peak(p), 0);
    sb_plan_slot(p, 0, &a, &off);
    ck_assert_int_eq(a, -1);
    TU_OK(sb_plan_solve(p, &tu_err));
    ck_assert_uint_eq(sb_plan_peak(p), 64 + 16);
    sb_plan_free(p);
    sb_plan_free(NULL);
    sb_arena_release(NULL);
}
END_TEST

/* ---- (e) device arenas ------------------------------------------------------ */

static unsigned char pattern(int id, size_t i) {
    return (unsigned char)(id * 37 + (int)(i * 13) + (int)(i >> 8) + 1);
}

START_TEST(test_device_arenas) {
    /* A 12-step schedule with odd sizes; max_alloc forces two arenas. At each
     * step, buffers born there are written, then every live buffer is read back
     * and must still hold its pattern (so a reuse bug shows as corruption). */
    static const tbuf b[] = {
        {40000, 0, 11}, {12345, 0, 2},  {30001, 1, 3},  {777, 1, 9},   {20000, 3, 5},
        {20000, 4, 6},  {9999, 5, 8},   {44444, 6, 7},  {20000, 7, 10}, {3, 8, 8},
        {25000, 9, 11}, {12345, 10, 11}, {30001, 2, 4},
    };
    const int n = (int)(sizeof b / sizeof b[0]);
    sb_rt *rt = tu_rt();
    size_t align = rt->dev.mem_align_bytes >= 4 ? rt->dev.mem_align_bytes : 4;
    size_t max_alloc = 100000, sum = 0;
    sb_plan *p;
    sb_arena ar;
    unsigned char *host, *got;
    int i, s;

    p = make_plan(b, n, align, max_alloc);
    TU_OK(sb_plan_solve(p, &tu_err));
    check_plan(p, b, n, align, max_alloc, "device");
    for (i = 0; i < n; i++) sum += b[i].bytes;
    ck_assert_msg(sb_plan_n_arenas(p) >= 2, "want several arenas, got %d", sb_plan_n_arenas(p));
    ck_assert_msg(sb_plan_peak(p) < sum, "plan reuses nothing: peak %zu, sum %zu",
                  sb_plan_peak(p), sum);

    TU_OK(sb_arena_alloc(rt, p, &ar, &tu_err));
    ck_assert_int_eq(ar.n, sb_plan_n_arenas(p));
    for (i = 0; i < ar.n; i++) ck_assert_uint_eq(ar.bytes[i], sb_plan_arena_bytes(p, i));
    host = (unsigned char *)malloc(44444);
    got = (unsigned char *)malloc(44444);
    ck_assert(host && got);
    for (s = 0; s < 12; s++) {
        for (i = 0; i < n; i++) {
            sb_buf d;
            size_t k;
            if (b[i].first != s) continue;
            d = sb_arena_buf(&ar, p, i);
            ck_assert_ptr_nonnull(d.mem);
            ck_assert_uint_eq(d.len, b[i].bytes); /* the view is the planned bytes */
            for (k = 0; k < b[i].bytes; k++) host[k] = pattern(i, k);
            TU_OK(sb_rt_write(rt, d.mem, d.off, b[i].bytes, host, &tu_err));
        }
        for (i = 0; i < n; i++) {
            sb_buf d;
            size_t k;
            if (b[i].first > s || s > b[i].last) continue;
            d = sb_arena_buf(&ar, p, i);
            TU_OK(sb_rt_read(rt, d.mem, d.off, b[i].bytes, got, &tu_err));
            for (k = 0; k < b[i].bytes; k++)
                ck_assert_msg(got[k] == pattern(i, k),
                              "step %d: buffer %d byte %zu is %u, want %u", s, i, k,
                              (unsigned)got[k], (unsigned)pattern(i, k));
        }
    }
    ck_assert_ptr_null(sb_arena_buf(&ar, p, n).mem);
    free(host);
    free(got);
    sb_arena_release(&ar);
    ck_assert_int_eq(ar.n, 0);
    sb_plan_free(p);
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_device_unsolved) {
    sb_rt *rt = tu_rt();
    sb_plan *p = NULL;
    sb_arena ar;
    TU_OK(sb_plan_create(64, 4096, &p, &tu_err));
    sb_plan_add(p, "a", 100, 0, 0, &tu_err);
    ck_assert_int_eq(sb_arena_alloc(rt, p, &ar, &tu_err), SB_ERR_STATE);
    ck_assert_int_eq(ar.n, 0);
    sb_plan_free(p);
    sb_rt_free(rt);
}
END_TEST

/* ---- (f) the model's activation plan ---------------------------------------
 * A forward over a fixture records, per step, the plan buffers it touched
 * (model.c's PB refuses a buffer at a step the plan's table does not give it,
 * so the forward itself fails on such an access). Buffers touched at one step
 * are live together: no two of them may share a byte. */

static int views_overlap(sb_buf a, sb_buf b) {
    return a.mem == b.mem && a.off < b.off + b.len && b.off < a.off + a.len;
}

static void check_touched(const char *name, const sb_fwd_plan *fp);

/* B sequences padded to L, of lengths 1..3 (float input): the padded input
 * is far larger than the packed activations, so the plan reuses its bytes. */
static void model_plan_padded(const char *name, int B, int L) {
    char mp[512];
    snprintf(mp, sizeof mp, SB_TEST_DATA_DIR "/%s.model.safetensors", name);
    sb_model_impl *m = NULL;
    sb_rt_options o = {0};
    TU_OK(sb_model_impl_create(mp, &o, &m, &tu_err));
    ck_assert_int_ne(m->cfg.task, SB_TASK_LM);
    const size_t F = (size_t)m->cfg.d_input;
    float *x = malloc(sizeof(float) * (size_t)B * L * F);
    float *out = malloc(sizeof(float) * (size_t)B * L * (size_t)m->cfg.d_output);
    int32_t *len = malloc(sizeof(int32_t) * (size_t)B);
    ck_assert(x && out && len);
    tu_fill(x, (size_t)B * L * F, 7, -1, 1);
    for (int b = 0; b < B; b++) len[b] = 1 + b % 3;
    TU_OK(sb_model_impl_forward(m, B, L, x, NULL, len, out, &tu_err));
    check_touched(name, &m->fp);
    free(x), free(out), free(len);
    sb_model_impl_free(m);
}

static void model_plan_disjoint(const char *name, int block, size_t chunk_budget) {
    char mp[512], ip[512];
    snprintf(mp, sizeof mp, SB_TEST_DATA_DIR "/%s.model.safetensors", name);
    snprintf(ip, sizeof ip, SB_TEST_DATA_DIR "/%s.io.safetensors", name);
    sb_model_impl *m = NULL;
    sb_rt_options o = {0};
    TU_OK(sb_model_impl_create(mp, &o, &m, &tu_err));
    m->block_tokens = block;
    m->chunk_budget = chunk_budget;
    sb_input in;
    TU_OK(sb_input_load(ip, &m->cfg, &in, &tu_err));
    size_t outn = (size_t)in.B * in.L * (size_t)m->cfg.d_output;
    float *out = malloc(sizeof(float) * outn);
    ck_assert_ptr_nonnull(out);
    TU_OK(sb_model_impl_forward(m, in.B, in.L, in.x, in.ids, in.lengths, out, &tu_err));
    check_touched(name, &m->fp);
    free(out);
    sb_input_free(&in);
    sb_model_impl_free(m);
}

static void check_touched(const char *name, const sb_fwd_plan *fp) {
    int pairs = 0;
    for (int s = 0; s < SB_STEP_COUNT; s++)
        for (int i = 0; i < B_COUNT; i++) {
            if (!(fp->touched[s] & (1u << i))) continue;
            ck_assert_msg(fp->steps[i] & (1u << s), "%s: buffer %s touched at step %d, not planned",
                          name, fp->name[i], s);
            const sb_buf bi = sb_arena_buf(&fp->arena, fp->plan, fp->id[i]);
            ck_assert_ptr_nonnull(bi.mem);
            for (int j = i + 1; j < B_COUNT; j++) {
                if (!(fp->touched[s] & (1u << j))) continue;
                const sb_buf bj = sb_arena_buf(&fp->arena, fp->plan, fp->id[j]);
                pairs++;
                ck_assert_msg(!views_overlap(bi, bj),
                              "%s: at step %d, live buffers '%s' (bytes %zu..%zu) and '%s' "
                              "(bytes %zu..%zu) share bytes",
                              name, s, fp->name[i], bi.off, bi.off + bi.len, fp->name[j], bj.off,
                              bj.off + bj.len);
            }
        }
    ck_assert_msg(pairs > 20, "%s: only %d pairs of buffers checked", name, pairs);
    ck_assert_msg(fp->touched[SB_STEP_INPUT] && fp->touched[SB_STEP_COMBINE], "%s: steps not recorded",
                  name);
}

START_TEST(test_model_plan_disjoint) {
    static const char *cases[] = {"causal_relu2_layernorm", "bidir_softmax_batchnorm_classify",
                                  "ragged_batch", "lm_tokens", "sparse_router", "truncated_ema",
                                  "causal_rotary"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) model_plan_disjoint(cases[i], 0, 0);
    model_plan_disjoint("ragged_batch", 0, 1);           /* GAU in chunks */
    model_plan_disjoint("causal_relu2_layernorm", 7, 0); /* blocks with a carried halo */
    model_plan_disjoint("causal_relu2_layernorm", 7, 1); /* both */
    model_plan_padded("bidir_softmax_batchnorm_classify", 16, 400);
    model_plan_padded("causal_relu2_layernorm", 16, 400);
}
END_TEST

static Suite *arena_suite(void) {
    Suite *s = suite_create("arena");
    TCase *host = tcase_create("host");
    TCase *dev = tcase_create("device");
    tcase_add_test(host, test_hand_schedule);
    tcase_add_test(host, test_random_schedules);
    tcase_add_test(host, test_random_multi_arena);
    tcase_add_test(host, test_multi_arena_exact);
    tcase_add_test(host, test_too_many_arenas);
    tcase_add_test(host, test_buffer_over_max_alloc);
    tcase_add_test(host, test_bad_args);
    tcase_add_test(dev, test_device_arenas);
    tcase_add_test(dev, test_device_unsolved);
    tcase_add_test(dev, test_model_plan_disjoint);
    suite_add_tcase(s, host);
    suite_add_tcase(s, dev);
    return s;
}

int main(void) { return tu_run(arena_suite()); }
