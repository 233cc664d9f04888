/* gemm_tune.h - tuned CLBlast parameters that the library carries per device.
 *
 * CLBlast ships tuned parameters for many GPUs but none for PoCL's CPU device,
 * where its defaults reach only a small fraction of the machine. The table in
 * gemm_tune.c holds parameters for CLBlast's two GEMM kernels (Xgemm,
 * XgemmDirect) found with CLBlast's tuners (clblast_tuner_xgemm, Debian
 * package clblast-utils) and by hand on the model's shapes;
 * sb_gemm_tune_apply() hands the entry matching a device to
 * CLBlastOverrideParameters once per process and device. Parameters only
 * change speed, never results (CLBlast checks a kernel's parameters when it
 * builds it; tests/test_gemm_tune.c checks the GEMMs against plain C). If
 * CLBlast refuses the table's values the device keeps CLBlast's own.
 *
 * sb_ops_rt_create() applies them to its device, so every runtime uses them.
 * Env SEQBOAT_GEMM_TUNE=off leaves CLBlast's own choice; SEQBOAT_GEMM_XGEMM=
 * "GEMMK,MWG,NWG,KWG,MDIMC,NDIMC,MDIMA,NDIMB,KWI,VWM,VWN,STRM,STRN,SA,SB,KREG"
 * (16 integers, as clblast_tuner_xgemm prints them) and
 * SEQBOAT_GEMM_XGEMM_DIRECT="WGD,MDIMCD,NDIMCD,MDIMAD,NDIMBD,KWID,VWMD,VWND,
 * PADA,PADB" (10 integers, as clblast_tuner_xgemm_direct prints them) apply
 * those instead, on any device (for trying a tuner's result); malformed or
 * refused values are an error (SB_ERR_ARG, SB_ERR_BLAS). Thread-safe.
 */
#ifndef SB_GEMM_TUNE_H
#define SB_GEMM_TUNE_H
#include "rt.h"

/* Apply the table's (or the user's) parameters for dev (no-op when none
 * match, when parameters were applied to dev before in this process, or when
 * switched off). *applied (may be NULL) is 1 when this call applied some. */
sb_status sb_gemm_tune_apply(const sb_device_info *dev, int *applied, sb_err *e);
/* Process-wide switch (default on): 0 makes later sb_gemm_tune_apply calls
 * leave CLBlast's own parameters, like SEQBOAT_GEMM_TUNE=off. CLBlast keeps
 * parameters per device for the whole process, so set it before the first
 * runtime on a device is made (seqboat bench --no-gemm-tune, sgemm_compare
 * --untuned). Thread-safe. */
void sb_gemm_tune_set_enabled(int on);
/* Name of the entry applied to dev in this process, or NULL (CLBlast's own). */
const char *sb_gemm_tune_active(const sb_device_info *dev);
/* Name of the table entry for a device name, or NULL. */
const char *sb_gemm_tune_entry(const char *device_name);
#endif
