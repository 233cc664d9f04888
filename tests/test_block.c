/* test_block.c - long causal sequences run block by block (model_block.c):
 * the EMA continued from a state (the block-row kernel: test_block_carry.c),
 * every causal fixture with tiny blocks (carried halos shorter and longer than
 * a block), and a streaming prefill that runs blocked. */
#include <stdlib.h>
#include <string.h>
#include "../runtime/model.h"
#include "../runtime/ops/ema.h"
#include "ref/ref_ema.h"
#include "../runtime/safetensors.h"
#include "testutil.h"

#define DATA SB_TEST_DATA_DIR "/"

/* EMA over a sequence split in two, the second part continued from the first
 * part's end state, equals the EMA over the whole. */
START_TEST(test_ema_state_in) {
    sb_rt *rt = tu_rt();
    const int D = 17, N = 4, L = 301, cut = 130;
    float delta[17 * 4], alpha[17 * 4], beta[17 * 4], gamma[17 * 4], omega[17];
    tu_fill(delta, D * N, 1, -1, 1);
    tu_fill(alpha, D * N, 2, -1, 1);
    tu_fill(beta, D * N, 3, -1, 1);
    tu_fill(gamma, D * N, 4, -1, 1);
    tu_fill(omega, D, 5, -1, 1);
    float *x = malloc(sizeof(float) * L * D), *want = malloc(sizeof(float) * L * D),
          *got = malloc(sizeof(float) * L * D), coef[3 * 17 * 4];
    tu_fill(x, (size_t)L * D, 6, -2, 2);
    int st0 = 0, len = L;
    sb_ref_ema(delta, alpha, beta, gamma, omega, D, N, 0, 0, 1, &st0, &len, x, want);
    sb_ema_coef_host(delta, alpha, beta, gamma, D, N, coef);
    cl_mem dc = tu_upload(rt, coef, sizeof coef), dom = tu_upload(rt, omega, sizeof omega);
    cl_mem dx = tu_upload(rt, x, sizeof(float) * L * D), dmx = tu_alloc(rt, sizeof(float) * L * D);
    cl_mem ds = tu_alloc(rt, sizeof(float) * D * N);
    sb_ema_coef p = {sb_view_all(dc), sb_view_all(dom), D, N, 0, 0};
    size_t scr = sb_op_ema_scratch_bytes(&p, 1, L);
    cl_mem dscr = tu_alloc(rt, scr);
    sb_buf none = sb_view_none(), state = sb_view_all(ds);
    for (int part = 0; part < 2; part++) {
        int s0 = 0, n = part ? L - cut : cut;
        sb_seqs seqs = {1, &s0, &n, n, n, none, none};
        sb_buf xb = sb_skip(sb_view_all(dx), (size_t)(part ? cut : 0) * D * 4), mb = sb_skip(sb_view_all(dmx), (size_t)(part ? cut : 0) * D * 4);
        TU_OK(sb_op_ema_ex(rt, &seqs, &p, xb, mb, sb_view_all(dscr), part ? state : none, state, &tu_err));
    }
    tu_download(rt, dmx, got, sizeof(float) * L * D);
    tu_check_close(got, want, (size_t)L * D, 1e-4f, 1e-4f, "ema continued from state");
    /* state_in is refused for a bidirectional layer */
    p.bidir = 1;
    int s0 = 0, n = 5;
    sb_seqs seqs = {1, &s0, &n, n, n, none, none};
    ck_assert_int_eq(sb_op_ema_ex(rt, &seqs, &p, sb_view_all(dx), sb_view_all(dmx), sb_view_all(dscr),
                                  state, none, &tu_err), SB_ERR_ARG);
    clReleaseMemObject(dc), clReleaseMemObject(dom), clReleaseMemObject(dx);
    clReleaseMemObject(dmx), clReleaseMemObject(ds), clReleaseMemObject(dscr);
    free(x), free(want), free(got);
    sb_rt_free(rt);
}
END_TEST

static void fixture_blocked(const char *name, int block, size_t chunk_budget) {
    char mp[512], ip[512];
    snprintf(mp, sizeof mp, DATA "%s.model.safetensors", name);
    snprintf(ip, sizeof ip, DATA "%s.io.safetensors", name);
    sb_model_impl *m = NULL;
    sb_rt_options o = {0};
    TU_OK(sb_model_impl_create(mp, &o, &m, &tu_err));
    m->block_tokens = block;
    m->chunk_budget = chunk_budget;
    sb_input in;
    TU_OK(sb_input_load(ip, &m->cfg, &in, &tu_err));
    ck_assert(sb_model_impl_blocked(m, in.B, in.L, in.lengths, NULL));
    sb_st_file *f = NULL;
    TU_OK(sb_st_open(ip, &f, &tu_err));
    const sb_tensor *ref = sb_st_find(f, "output");
    size_t n = ref->nbytes / 4;
    float *out = malloc(ref->nbytes);
    TU_OK(sb_model_impl_forward(m, in.B, in.L, in.x, in.ids, in.lengths, out, &tu_err));
    double num = 0, den = 0, mx = 0;
    const float *r = ref->data;
    for (size_t i = 0; i < n; i++) {
        double d = (double)out[i] - r[i];
        num += d * d;
        den += (double)r[i] * r[i];
        mx = fabs(d) > mx ? fabs(d) : mx;
    }
    ck_assert_msg(sqrt(num / den) <= 1e-4 && mx <= 2e-3, "%s block %d: rel L2 %g, max abs %g", name,
                  block, sqrt(num / den), mx);
    int tok = 0;
    for (int b = 0; b < in.B; b++) tok += in.lengths[b];
    ck_assert_int_eq(m->stats[0].tokens, tok); /* stats add up over blocks */
    free(out);
    sb_st_free(f);
    sb_input_free(&in);
    sb_model_impl_free(m);
}

START_TEST(test_causal_relu2_layernorm_blocks) {
    fixture_blocked("causal_relu2_layernorm", 7, 0);  /* W = 8: halo longer than a block */
}
END_TEST
/* One token per block: the most blocks (and launches) of any case; tagged
 * "large" (left to PoCL: slow where each launch costs most, rusticl and Oclgrind). */
START_TEST(test_causal_relu2_layernorm_one_token_blocks) {
    fixture_blocked("causal_relu2_layernorm", 1, 0);
}
END_TEST
START_TEST(test_causal_rotary_blocks) { fixture_blocked("causal_rotary", 10, 0); }
END_TEST
START_TEST(test_lm_tokens_blocks) { fixture_blocked("lm_tokens", 20, 0); }
END_TEST
START_TEST(test_sparse_router_blocks) { fixture_blocked("sparse_router", 9, 0); }
END_TEST
START_TEST(test_long_beyond_max_positions_blocks) {
    fixture_blocked("long_beyond_max_positions", 100, 0);
    fixture_blocked("long_beyond_max_positions", 100, 1); /* and chunked inside each block */
}
END_TEST

/* A stream whose prefill runs blocked continues exactly like the full forward. */
START_TEST(test_stream_prefill_blocked) {
    sb_model *m = NULL;
    ck_assert_int_eq(sb_model_load(DATA "lm_tokens.model.safetensors", NULL, &m), SB_OK);
    sb_input in;
    TU_OK(sb_input_load(DATA "lm_tokens.io.safetensors", &m->impl->cfg, &in, &tu_err));
    int L = in.L, V = m->impl->cfg.d_output;
    float *full = malloc(sizeof(float) * L * V), *st = malloc(sizeof(float) * L * V);
    ck_assert_int_eq(sb_model_forward(m, 1, L, NULL, in.ids, NULL, full), SB_OK);
    m->impl->block_tokens = 13;
    sb_stream *s = NULL;
    ck_assert_int_eq(sb_stream_open(m, &s), SB_OK);
    ck_assert_int_eq(sb_stream_feed_ids(s, in.ids, 40, st, NULL), SB_OK);
    for (int t = 40; t < L; t++) ck_assert_int_eq(sb_stream_step_id(s, in.ids[t], st + (size_t)t * V), SB_OK);
    tu_check_close(st, full, (size_t)L * V, 1e-4f, 1e-4f, "blocked prefill + steps");
    sb_stream_free(s);
    free(full), free(st);
    sb_input_free(&in);
    sb_model_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("block");
    TCase *t = tcase_create("block");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_ema_state_in);
    tcase_add_test(t, test_causal_relu2_layernorm_blocks);
    tcase_add_test(t, test_causal_rotary_blocks);
    tcase_add_test(t, test_lm_tokens_blocks);
    tcase_add_test(t, test_sparse_router_blocks);
    tcase_add_test(t, test_stream_prefill_blocked);
    suite_add_tcase(s, t);
    /* tag "large": sizes the Oclgrind CI step leaves out (scripts/ci_oclgrind.sh) */
    TCase *tl = tcase_create("large");
    tcase_set_tags(tl, "large");
    tcase_add_test(tl, test_causal_relu2_layernorm_one_token_blocks);
    tcase_set_timeout(tl, 600);
    tcase_add_test(tl, test_long_beyond_max_positions_blocks);
    suite_add_tcase(s, tl);
    return tu_run(s);
}
