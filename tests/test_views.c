/* test_views.c - buffer views (ops.h sb_buf) carry their length and every op
 * checks each view against what its kernels touch.
 *
 * For each op: all views exactly as long as the op needs must run (so no check
 * asks for more than the kernel touches); then each view in turn is made 4
 * bytes shorter and the op must refuse it with SB_ERR_ARG and a message naming
 * the op, the buffer, the view's length and the bytes needed - before
 * launching anything. Views sit at a non-zero offset of a larger allocation. */
#include <string.h>
#include "testutil.h"
#include "../runtime/ops/attn.h"
#include "../runtime/ops/ema.h"
#include "../runtime/ops/gate.h"
#include "../runtime/ops/linear.h"
#include "../runtime/ops/norm.h"

#define MAXV 12
#define LEAD 16 /* bytes before each view in its allocation */

/* The small shapes every case uses. */
enum { T = 5, B = 2, L = 3, D = 4, F = 2, N = 2 };
static const int starts[B] = {0, 3}, lens[B] = {3, 2};

typedef struct vcase {
    const char *op;                 /* the op's name in its messages */
    int n;                          /* views */
    const char *names[MAXV];        /* each view's name in the messages */
    size_t bytes[MAXV];             /* exact length the op needs */
    const int *ints[MAXV];          /* int contents (NULL = zeros) */
    sb_status (*run)(sb_rt *rt, sb_buf *v, sb_err *e);
} vcase;

static sb_seqs seqs_of(sb_buf d_start, sb_buf d_len) {
    sb_seqs s = {B, starts, lens, T, 3, d_start, d_len};
    return s;
}

/* ---- the calls ----------------------------------------------------------- */

static sb_status run_layernorm(sb_rt *rt, sb_buf *v, sb_err *e) {
    return sb_op_layernorm(rt, T, D, v[0], v[1], v[2], v[3], e);
}
static sb_status run_batchnorm(sb_rt *rt, sb_buf *v, sb_err *e) {
    return sb_op_batchnorm(rt, T, D, v[0], v[1], v[2], v[3], v[4], v[5], e);
}
static sb_status run_bias_act(sb_rt *rt, sb_buf *v, sb_err *e) {
    return sb_op_bias_act(rt, T, 3, 4, v[0], v[1], 1, e);
}
static sb_status run_embed(sb_rt *rt, sb_buf *v, sb_err *e) {
    return sb_op_embed(rt, T, D, v[0], v[1], v[2], e);
}
static sb_status run_pack(sb_rt *rt, sb_buf *v, sb_err *e) {
    sb_seqs s = seqs_of(v[0], v[1]);
    return sb_op_pack(rt, &s, L, F, v[2], v[3], e);
}
static sb_status run_unpack(sb_rt *rt, sb_buf *v, sb_err *e) {
    sb_seqs s = seqs_of(v[0], v[1]);
    return sb_op_unpack(rt, &s, L, F, v[2], v[3], e);
}
static sb_status run_mean_pool(sb_rt *rt, sb_buf *v, sb_err *e) {
    sb_seqs s = seqs_of(v[0], v[1]);
    return sb_op_mean_pool(rt, &s, D, v[2], v[3], e);
}
static sb_ema_coef ema_p(sb_buf coef, sb_buf omega) {
    sb_ema_coef p = {coef, omega, D, N, 0, 0};
    return p;
}
static sb_status run_ema(sb_rt *rt, sb_buf *v, sb_err *e) {
    sb_seqs s = seqs_of(sb_view_none(), sb_view_none());
    sb_ema_coef p = ema_p(v[2], v[3]);
    return sb_op_ema_ex(rt, &s, &p, v[0], v[1], v[4], v[5], v[6], e);
}
static const sb_attn_cfg ACFG = {4, 3, 2, 1, 0, 0, 8}; /* Z H W causal softmax rotary P */
#define AROW (4 + 2 * 3)
#define ACAP 3 /* ring slots: W + 1 */
static sb_status run_attn(sb_rt *rt, sb_buf *v, sb_err *e) {
    return sb_op_attn(rt, &ACFG, 2, 3, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], e);
}
static sb_status run_attn_step(sb_rt *rt, sb_buf *v, sb_err *e) {
    sb_attn_ring r = {v[0], v[1], v[2], ACAP, 0, 0};
    return sb_op_attn_step(rt, &ACFG, &r, 0, v[3], v[4], v[5], v[6], v[7], e);
}
static sb_status run_ring_append(sb_rt *rt, sb_buf *v, sb_err *e) {
    sb_attn_ring r = {v[0], v[1], v[2], ACAP, 0, 0};
    return sb_op_attn_ring_append(rt, &ACFG, &r, 2, v[3], v[4], v[5], v[6], e);
}
static sb_status run_gate(sb_rt *rt, sb_buf *v, sb_err *e) {
    sb_seqs s = seqs_of(v[7], sb_view_none());
    int h[B + 1];
    return sb_op_gate_compact(rt, &s, v[0], 4, 0.0f, v[1], v[2], v[3], v[4], v[5], h, v[6], e);
}
static sb_status run_gather(sb_rt *rt, sb_buf *v, sb_err *e) {
    return sb_op_gather_rows(rt, v[0], 3, v[1], 2, 3, v[2], 4, e);
}
static sb_status run_combine(sb_rt *rt, sb_buf *v, sb_err *e) {
    return sb_op_combine(rt, T, 3, v[0], 5, v[1], v[2], v[3], v[4], v[5], e);
}
static cl_mem lin_w; /* n = 3, k = 4 */
static sb_status run_linear(sb_rt *rt, sb_buf *v, sb_err *e) {
    sb_linear_w lw;
    sb_status st = sb_linear_prepare(rt, lin_w, NULL, 3, 4, &lw, e);
    if (st == SB_OK) st = sb_op_linear(rt, 2, v[0], 5, &lw, 0, v[1], 4, e);
    sb_linear_release(&lw);
    return st;
}

/* ---- the table ------------------------------------------------------------ */

#define FL(n) ((size_t)(n) * sizeof(float))
#define IN(n) ((size_t)(n) * sizeof(int))
static const int cstart3[3] = {0, 2, 3}, cpos3[3] = {0, 1, 0}, cpos2[2] = {0, 1};

static vcase cases[] = {
    {"layernorm", 4, {"x", "weight", "bias", "y"}, {FL(T * D), FL(D), FL(D), FL(T * D)}, {0}, run_layernorm},
    {"batchnorm", 6, {"x", "running_mean", "running_var", "weight", "bias", "y"},
     {FL(T * D), FL(D), FL(D), FL(D), FL(D), FL(T * D)}, {0}, run_batchnorm},
    {"bias_act", 2, {"x", "bias"}, {FL(4 * 4 + 3), FL(3)}, {0}, run_bias_act},
    {"embed", 3, {"ids", "table", "y"}, {IN(T), FL(D), FL(T * D)}, {0}, run_embed},
    {"pack", 4, {"seqs->d_start", "seqs->d_len", "src", "dst"}, {IN(B), IN(B), FL(B * L * F), FL(T * F)},
     {starts, lens}, run_pack},
    {"unpack", 4, {"seqs->d_start", "seqs->d_len", "src", "dst"}, {IN(B), IN(B), FL(T * F), FL(B * L * F)},
     {starts, lens}, run_unpack},
    {"mean_pool", 4, {"seqs->d_start", "seqs->d_len", "x", "y"}, {IN(B), IN(B), FL(T * D), FL(B * D)},
     {starts, lens}, run_mean_pool},
    {"ema", 7, {"x", "mx", "coef", "omega", "scratch", "state_in", "state_out"},
     {FL(T * D), FL(T * D), FL(3 * D * N), FL(D), 0 /* set in the test */, FL(B * D * N), FL(B * D * N)},
     {0}, run_ema},
    {"attention", 8, {"cstart", "crow_pos", "s", "qk_gamma", "qk_beta", "rel_bias", "out", "scratch"},
     {IN(3), IN(3), FL(3 * AROW), FL(8), FL(8), FL(15), FL(3 * 3), 0 /* set in the test */},
     {cstart3, cpos3}, run_attn},
    {"attention step", 8, {"ring.k", "ring.v", "ring.pos", "s", "qk_gamma", "qk_beta", "rel_bias", "out"},
     {FL(ACAP * 4), FL(ACAP * 3), IN(ACAP), FL(AROW), FL(8), FL(8), FL(15), FL(3)}, {0}, run_attn_step},
    {"attention ring append", 7, {"ring.k", "ring.v", "ring.pos", "s", "crow_pos", "qk_gamma", "qk_beta"},
     {FL(ACAP * 4), FL(ACAP * 3), IN(ACAP), FL(2 * AROW), IN(2), FL(8), FL(8)},
     {NULL, NULL, NULL, NULL, cpos2}, run_ring_append},
    {"gate_compact", 8, {"u", "w", "cidx", "crow_tok", "crow_pos", "cstart", "scratch", "seqs->d_start"},
     {FL(4 * 4 + 2), FL(T), IN(T), IN(T), IN(T), IN(B + 1), 0 /* set in the test */, IN(B)},
     {NULL, NULL, NULL, NULL, NULL, NULL, NULL, starts}, run_gate},
    {"gather_rows", 3, {"src", "rows", "dst"}, {FL(3), IN(2), FL(4 + 3)}, {0}, run_gather},
    {"combine", 6, {"hx", "g", "w", "cidx", "res", "out"}, {FL(4 * 5 + 3), FL(3), FL(T), IN(T), FL(T * 3), FL(T * 3)},
     {0}, run_combine},
    {"linear", 2, {"a", "c"}, {FL(5 + 4), FL(4 + 3)}, {0}, run_linear},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* A buffer of bytes + LEAD + 16 bytes, zeros or the given ints at LEAD; the
 * view covers exactly `bytes` from LEAD. */
static cl_mem make(sb_rt *rt, size_t bytes, const int *ints, sb_buf *v) {
    const size_t all = LEAD + bytes + 16;
    unsigned char *h = calloc(1, all);
    ck_assert_ptr_nonnull(h);
    if (ints) memcpy(h + LEAD, ints, bytes);
    cl_mem m = tu_upload(rt, h, all);
    free(h);
    *v = sb_view(m, LEAD, bytes);
    return m;
}

START_TEST(short_view_refused) {
    vcase *c = &cases[_i];
    sb_rt *rt = tu_rt();
    cl_mem mem[MAXV];
    sb_buf v[MAXV];
    {
        static const float w12[12] = {0};
        lin_w = tu_upload(rt, w12, sizeof w12);
    }
    if (strcmp(c->op, "ema") == 0) {
        sb_ema_coef p = ema_p(sb_view_none(), sb_view_none());
        c->bytes[4] = sb_op_ema_scratch_bytes(&p, B, T);
    } else if (strcmp(c->op, "attention") == 0) {
        c->bytes[7] = sb_op_attn_scratch_bytes(rt, &ACFG, 2, 3);
    } else if (strcmp(c->op, "gate_compact") == 0) {
        c->bytes[6] = sb_op_compact_scratch_bytes(rt, T);
    }
    for (int i = 0; i < c->n; i++) {
        ck_assert_uint_gt(c->bytes[i], 4);
        mem[i] = make(rt, c->bytes[i], c->ints[i], &v[i]);
    }
    /* exact views run */
    sb_status st = c->run(rt, v, &tu_err);
    ck_assert_msg(st == SB_OK, "%s with exact views: %s", c->op, tu_err.msg);
    TU_OK(sb_rt_finish(rt, &tu_err));
    /* each one 4 bytes short is refused, naming the op, the buffer and both sizes */
    for (int i = 0; i < c->n; i++) {
        sb_buf keep = v[i];
        v[i] = sb_sub(keep, 0, keep.len - 4);
        sb_err e;
        sb_err_clear(&e);
        st = c->run(rt, v, &e);
        v[i] = keep;
        ck_assert_msg(st == SB_ERR_ARG, "%s: %s 4 bytes short gave status %d (%s)", c->op, c->names[i],
                      (int)st, e.msg);
        char want_op[64], want_name[64], have[64], need[64];
        snprintf(want_op, sizeof want_op, "%s: ", c->op);
        snprintf(want_name, sizeof want_name, "buffer %s is too short", c->names[i]);
        snprintf(have, sizeof have, "holds %zu bytes", c->bytes[i] - 4);
        snprintf(need, sizeof need, "touches %zu", c->bytes[i]);
        ck_assert_msg(strncmp(e.msg, want_op, strlen(want_op)) == 0, "%s: message '%s'", c->op, e.msg);
        ck_assert_msg(strstr(e.msg, want_name), "%s/%s: message '%s'", c->op, c->names[i], e.msg);
        ck_assert_msg(strstr(e.msg, have), "%s/%s: message '%s' lacks '%s'", c->op, c->names[i], e.msg, have);
        ck_assert_msg(strstr(e.msg, need), "%s/%s: message '%s' lacks '%s'", c->op, c->names[i], e.msg, need);
    }
    for (int i = 0; i < c->n; i++) clReleaseMemObject(mem[i]);
    clReleaseMemObject(lin_w);
    sb_rt_free(rt);
}
END_TEST

/* A weight shorter than n x k is refused when it is prepared. */
START_TEST(linear_prepare_short_weight) {
    sb_rt *rt = tu_rt();
    static const float w11[11] = {0};
    cl_mem w = tu_upload(rt, w11, sizeof w11);
    sb_linear_w lw;
    sb_err e;
    sb_err_clear(&e);
    ck_assert_int_eq(sb_linear_prepare(rt, w, NULL, 3, 4, &lw, &e), SB_ERR_ARG);
    ck_assert_msg(strstr(e.msg, "weight") && strstr(e.msg, "holds 44 bytes") && strstr(e.msg, "touches 48"),
                  "message '%s'", e.msg);
    clReleaseMemObject(w);
    sb_rt_free(rt);
}
END_TEST

/* Sub-views are clipped to their parent; no device needed. */
START_TEST(sub_views) {
    cl_mem fake = (cl_mem)(uintptr_t)0x1000; /* never dereferenced */
    sb_buf b = sb_view(fake, 8, 100);
    sb_buf s = sb_sub(b, 20, 30);
    ck_assert_uint_eq(s.off, 28);
    ck_assert_uint_eq(s.len, 30);
    s = sb_sub(b, 90, 30); /* past the end: clipped */
    ck_assert_uint_eq(s.off, 98);
    ck_assert_uint_eq(s.len, 10);
    s = sb_skip(b, 120); /* beyond the parent: empty */
    ck_assert_uint_eq(s.len, 0);
    s = sb_skip(b, 40);
    ck_assert_uint_eq(s.off, 48);
    ck_assert_uint_eq(s.len, 60);
    ck_assert_uint_eq(sb_rows_f32(0, 7, 3), 0);
    ck_assert_uint_eq(sb_rows_f32(3, 7, 3), (2 * 7 + 3) * 4);
    ck_assert_ptr_null(sb_view_none().mem);
    ck_assert_uint_eq(sb_view_all(NULL).len, 0);
    /* an empty view is refused by the check with its name */
    sb_err e;
    cl_ulong o;
    sb_err_clear(&e);
    ck_assert_int_eq(sb_ops_check_buf("op", "b", sb_skip(b, 120), 4, &o, &e), SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "op: buffer b is too short"));
    ck_assert_int_eq(sb_ops_check_buf("op", "b", sb_sub(b, 4, 8), 8, &o, &e), SB_OK);
    ck_assert_uint_eq(o, 3);
}
END_TEST

/* Overlapping input/output views are refused; disjoint views, views of other
 * buffers and (for the in-place form) the very same view pass. */
START_TEST(overlapping_views) {
    cl_mem fa = (cl_mem)(uintptr_t)0x1000, fb = (cl_mem)(uintptr_t)0x2000; /* never dereferenced */
    sb_err e;
    sb_err_clear(&e);
    const sb_buf a = sb_view(fa, 0, 64), tail = sb_view(fa, 60, 8), next = sb_view(fa, 64, 8);
    ck_assert_int_eq(sb_ops_apart("op", "a", a, "b", tail, &e), SB_ERR_INTERNAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "op: views a (bytes 0..64) and b (bytes 60..68) of one buffer overlap"));
    ck_assert_int_eq(sb_ops_apart("op", "a", a, "b", next, &e), SB_OK);
    ck_assert_int_eq(sb_ops_apart("op", "a", a, "b", sb_view(fb, 0, 64), &e), SB_OK);
    ck_assert_int_eq(sb_ops_apart("op", "a", a, "b", sb_view_none(), &e), SB_OK);
    ck_assert_int_eq(sb_ops_apart("op", "a", a, "b", a, &e), SB_ERR_INTERNAL);
    ck_assert_int_eq(sb_ops_apart_or_same("op", "a", a, "b", a, &e), SB_OK);
    ck_assert_int_eq(sb_ops_apart_or_same("op", "a", a, "b", sb_view(fa, 4, 64), &e), SB_ERR_INTERNAL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("views");
    TCase *tc = tcase_create("views");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sub_views);
    tcase_add_test(tc, overlapping_views);
    tcase_add_loop_test(tc, short_view_refused, 0, N_CASES);
    tcase_add_test(tc, linear_prepare_short_weight);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
