/* ops_rt.c - an rt made ready for the ops (ops_rt.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../gemm.h"
#include "../gemm_tune.h"
#include "../linear_tune.h"
#include "linear.h"
#include "ops_rt.h"

static int pow2_16(int v) { return v == 1 || v == 2 || v == 4 || v == 8 || v == 16; }

/* SEQBOAT_ATTN: "reg", "reg:RQ,RVW,RNV" or "lds". */
static sb_status parse_attn(const char *v, sb_tuning *t, sb_err *e) {
    int a, b, c;
    char tail;
    if (!v || !*v) return SB_OK;
    if (!strcmp(v, "lds")) {
        t->attn = SB_TUNE_LDS;
        return SB_OK;
    }
    if (!strcmp(v, "reg")) {
        t->attn = SB_TUNE_REG;
        return SB_OK;
    }
    if (sscanf(v, "reg:%d,%d,%d%c", &a, &b, &c, &tail) == 3) {
        t->attn = SB_TUNE_REG;
        t->attn_tiles[0] = a, t->attn_tiles[1] = b, t->attn_tiles[2] = c;
        return SB_OK;
    }
    return sb_fail(e, SB_ERR_ARG, "SEQBOAT_ATTN=%s: expected reg, reg:RQ,RVW,RNV or lds", v);
}

/* SEQBOAT_EMA: "scan", "seq" or "seq:VW". */
static sb_status parse_ema(const char *v, sb_tuning *t, sb_err *e) {
    int w;
    char tail;
    if (!v || !*v) return SB_OK;
    if (!strcmp(v, "scan")) {
        t->ema = SB_TUNE_SCAN;
        return SB_OK;
    }
    if (!strcmp(v, "seq")) {
        t->ema = SB_TUNE_SEQ;
        t->ema_vw = 0;
        return SB_OK;
    }
    if (sscanf(v, "seq:%d%c", &w, &tail) == 1 && pow2_16(w)) {
        t->ema = SB_TUNE_SEQ;
        t->ema_vw = w;
        return SB_OK;
    }
    return sb_fail(e, SB_ERR_ARG, "SEQBOAT_EMA=%s: expected scan, seq or seq:VW (VW 1,2,4,8,16)", v);
}

/* SEQBOAT_ROWS: "vec" or "wg". */
static sb_status parse_rows(const char *v, sb_tuning *t, sb_err *e) {
    if (!v || !*v) return SB_OK;
    if (!strcmp(v, "vec")) t->rows = SB_TUNE_VEC;
    else if (!strcmp(v, "wg")) t->rows = SB_TUNE_WG;
    else return sb_fail(e, SB_ERR_ARG, "SEQBOAT_ROWS=%s: expected vec or wg", v);
    return SB_OK;
}

/* SEQBOAT_DECODE: "wg" or "split". */
static sb_status parse_decode(const char *v, sb_tuning *t, sb_err *e) {
    if (!v || !*v) return SB_OK;
    if (!strcmp(v, "wg")) t->decode = SB_TUNE_WG;
    else if (!strcmp(v, "split")) t->decode = SB_TUNE_SPLIT;
    else return sb_fail(e, SB_ERR_ARG, "SEQBOAT_DECODE=%s: expected wg or split", v);
    return SB_OK;
}

/* The choices a caller set in the struct, checked. */
static sb_status check_tuning(const sb_tuning *t, sb_err *e) {
    const int *a = t->attn_tiles;
    if (t->attn != SB_TUNE_AUTO && t->attn != SB_TUNE_REG && t->attn != SB_TUNE_LDS)
        return sb_fail(e, SB_ERR_ARG, "tuning.attn = %d: expected SB_TUNE_AUTO, _REG or _LDS", t->attn);
    if ((a[0] || a[1] || a[2]) &&
        (a[0] < 1 || a[0] > 32 || !pow2_16(a[1]) || a[2] < 1 || a[2] > 8))
        return sb_fail(e, SB_ERR_ARG,
                       "attention tiles %d,%d,%d: expected RQ 1..32, RVW 1/2/4/8/16, RNV 1..8", a[0],
                       a[1], a[2]);
    if (t->ema != SB_TUNE_AUTO && t->ema != SB_TUNE_SCAN && t->ema != SB_TUNE_SEQ)
        return sb_fail(e, SB_ERR_ARG, "tuning.ema = %d: expected SB_TUNE_AUTO, _SCAN or _SEQ", t->ema);
    if (t->ema_vw && !pow2_16(t->ema_vw))
        return sb_fail(e, SB_ERR_ARG, "tuning.ema_vw = %d: expected 0, 1, 2, 4, 8 or 16", t->ema_vw);
    if (t->rows != SB_TUNE_AUTO && t->rows != SB_TUNE_VEC && t->rows != SB_TUNE_WG)
        return sb_fail(e, SB_ERR_ARG, "tuning.rows = %d: expected SB_TUNE_AUTO, _VEC or _WG", t->rows);
    if (t->decode != SB_TUNE_AUTO && t->decode != SB_TUNE_WG && t->decode != SB_TUNE_SPLIT)
        return sb_fail(e, SB_ERR_ARG, "tuning.decode = %d: expected SB_TUNE_AUTO, _WG or _SPLIT",
                       t->decode);
    return SB_OK;
}

/* tuning.linear as an SEQBOAT_LINEAR string (the one parser checks both). */
static sb_status linear_spec(const sb_tuning *t, char *buf, size_t n, sb_err *e) {
    const int *v = t->linear_tiles;
    const int tiles = v[0] || v[1] || v[2] || v[3] || v[4];
    buf[0] = 0;
    switch (t->linear) {
    case SB_TUNE_AUTO: break;
    case SB_TUNE_CLBLAST: snprintf(buf, n, "clblast"); break;
    case SB_TUNE_REG:
        if (tiles) snprintf(buf, n, "reg:%d,%d,%d", v[0], v[1], v[2]);
        else snprintf(buf, n, "reg");
        break;
    case SB_TUNE_LDS:
        if (tiles) snprintf(buf, n, "lds:%d,%d,%d,%d,%d", v[0], v[1], v[2], v[3], v[4]);
        else snprintf(buf, n, "lds");
        break;
    default:
        return sb_fail(e, SB_ERR_ARG, "tuning.linear = %d: expected SB_TUNE_AUTO, _CLBLAST, _REG or _LDS",
                       t->linear);
    }
    return SB_OK;
}

sb_status sb_ops_rt_tuning(sb_rt *rt, const sb_tuning *given, sb_err *e) {
    sb_status st = SB_OK;
    char spec[96];
    sb_tuning t;
    if (given) t = *given;
    else memset(&t, 0, sizeof t);
    SB_TRY(check_tuning(&t, e));
    SB_TRY(linear_spec(&t, spec, sizeof spec, e));
    SB_TRY(sb_linear_params_parse(spec, &rt->dev, &rt->lin, e));
    /* the environment overrides what the caller set */
    SB_TRY(sb_linear_params_parse(getenv("SEQBOAT_LINEAR"), &rt->dev, &rt->lin, e));
    SB_TRY(parse_attn(getenv("SEQBOAT_ATTN"), &t, e));
    SB_TRY(parse_ema(getenv("SEQBOAT_EMA"), &t, e));
    SB_TRY(parse_rows(getenv("SEQBOAT_ROWS"), &t, e));
    SB_TRY(parse_decode(getenv("SEQBOAT_DECODE"), &t, e));
    SB_TRY(check_tuning(&t, e));
    rt->tune = t;
done:
    return st;
}

sb_status sb_ops_rt_create(const sb_rt_options *opt, sb_rt **out, sb_err *e) {
    sb_status st = SB_OK;
    sb_rt *rt = NULL;
    *out = NULL;
    SB_TRY(sb_rt_create(opt, &rt, e));
    /* before any CLBlast use; sb_rt_free drops it last, after the context */
    sb_gemm_user_add();
    rt->release = sb_gemm_user_drop;
    /* Tuned CLBlast parameters for this device, if the library has some
     * (gemm_tune.h: speed only; bad user-given values are an error). */
    SB_TRY(sb_gemm_tune_apply(&rt->dev, NULL, e));
    /* The own GEMM's variant and tiles: device class, then this device's
     * `seqboat tune` result if stored, then the options' tuning, then
     * SEQBOAT_LINEAR; the other kernel choices from the options' tuning and
     * SEQBOAT_ATTN / SEQBOAT_EMA / SEQBOAT_ROWS. Read here, once. */
    sb_linear_params_default(&rt->dev, &rt->lin);
    sb_linear_tune_load(rt);
    SB_TRY(sb_ops_rt_tuning(rt, opt ? opt->tuning : NULL, e));
    *out = rt;
    return SB_OK;
done:
    sb_rt_free(rt);
    return st;
}
