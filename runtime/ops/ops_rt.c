/* ops_rt.c - an rt made ready for the ops (ops_rt.h). */
#include <stdlib.h>
#include "../gemm.h"
#include "../gemm_tune.h"
#include "../linear_tune.h"
#include "linear.h"
#include "ops_rt.h"

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
     * `seqboat tune` result if stored, then SEQBOAT_LINEAR. */
    sb_linear_params_default(&rt->dev, &rt->lin);
    sb_linear_tune_load(rt);
    SB_TRY(sb_linear_params_parse(getenv("SEQBOAT_LINEAR"), &rt->dev, &rt->lin, e));
    *out = rt;
    return SB_OK;
done:
    sb_rt_free(rt);
    return st;
}
