/* gemm_tune.c - see gemm_tune.h. */
#include <clblast_c.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "gemm_tune.h"

#define XGEMM_NPARAM 16

typedef struct tune_entry {
    const char *name;       /* for reports */
    const char *prefix;     /* device name starts with this */
    const char *kernel;     /* CLBlast kernel family */
    size_t values[XGEMM_NPARAM];
} tune_entry;

static const char *const xgemm_names[XGEMM_NPARAM] = {
    "GEMMK", "MWG", "NWG", "KWG", "MDIMC", "NDIMC", "MDIMA", "NDIMB",
    "KWI", "VWM", "VWN", "STRM", "STRN", "SA", "SB", "KREG"};

/* PoCL's CPU device (device names "pthread-<cpu>"). Start: a random search of
 * `clblast_tuner_xgemm -precision 32 -m 512 -n 512 -k 512` (PoCL 3.1, 2-core
 * AVX-512 Xeon); then a hand search around it on the model's GEMM shapes
 * (bench/sgemm_compare.sh with SEQBOAT_GEMM_XGEMM: 8192x514x512, 4096x2176x512,
 * 4096x512x1024 and 1024^3), where deeper K tiles (KWG 128) and 8-wide vectors
 * in both directions won: about 59 / 71 / 70 / 78 GFLOP/s there, against 17-29
 * with CLBlast's defaults and 45-58 with the 512^3 search's best. */
static const tune_entry table[] = {
    {"pocl-cpu-xgemm-v2", "pthread-", "Xgemm",
     /* GEMMK MWG NWG KWG MDIMC NDIMC MDIMA NDIMB KWI VWM VWN STRM STRN SA SB KREG */
     {0, 128, 64, 128, 16, 8, 16, 8, 2, 8, 8, 0, 0, 1, 1, 1}},
};

#define MAX_DONE 64
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static cl_device_id done[MAX_DONE];
static const char *done_name[MAX_DONE]; /* entry applied (static strings) */
static int n_done;

static const tune_entry *find(const char *device_name) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strncmp(device_name, table[i].prefix, strlen(table[i].prefix))) return &table[i];
    return NULL;
}

const char *sb_gemm_tune_entry(const char *device_name) {
    const tune_entry *t = device_name ? find(device_name) : NULL;
    return t ? t->name : NULL;
}

sb_status sb_gemm_tune_apply(const sb_device_info *dev, int *applied, sb_err *e) {
    sb_status st = SB_OK;
    if (applied) *applied = 0;
    if (!dev) return sb_fail(e, SB_ERR_ARG, "sb_gemm_tune_apply: dev is NULL");
    const char *env = getenv("SEQBOAT_GEMM_TUNE");
    if (env && !strcmp(env, "off")) return SB_OK;
    const tune_entry *t = find(dev->name);
    tune_entry custom;
    const char *cv = getenv("SEQBOAT_GEMM_XGEMM");
    if (cv && *cv) { /* 16 comma-separated values in xgemm_names order, for any device */
        memset(&custom, 0, sizeof custom);
        custom.name = "SEQBOAT_GEMM_XGEMM"; /* a static string: kept in done_name */
        custom.kernel = "Xgemm";
        const char *p = cv;
        for (int i = 0; i < XGEMM_NPARAM; i++) {
            char *end;
            unsigned long v = strtoul(p, &end, 10);
            if (end == p || (i < XGEMM_NPARAM - 1 ? *end != ',' : *end != '\0'))
                return sb_fail(e, SB_ERR_ARG, "SEQBOAT_GEMM_XGEMM='%.100s': expected %d comma-separated "
                               "integers (GEMMK,MWG,NWG,KWG,MDIMC,NDIMC,MDIMA,NDIMB,KWI,VWM,VWN,STRM,"
                               "STRN,SA,SB,KREG)", cv, XGEMM_NPARAM);
            custom.values[i] = v;
            p = end + 1;
        }
        t = &custom;
    }
    if (!t) return SB_OK;
    pthread_mutex_lock(&done_lock);
    for (int i = 0; i < n_done; i++)
        if (done[i] == dev->device) goto unlock;
    CLBlastStatusCode s = CLBlastOverrideParameters(dev->device, t->kernel, CLBlastPrecisionSingle,
                                                    XGEMM_NPARAM, (const char **)xgemm_names,
                                                    t->values);
    if (s != CLBlastSuccess) {
        st = sb_fail(e, SB_ERR_BLAS, "CLBlastOverrideParameters(%s, %s) failed with status %d",
                     t->kernel, t->name, (int)s);
        goto unlock;
    }
    if (n_done < MAX_DONE) {
        done_name[n_done] = t->name;
        done[n_done++] = dev->device;
    }
    if (applied) *applied = 1;
unlock:
    pthread_mutex_unlock(&done_lock);
    return st;
}

const char *sb_gemm_tune_active(const sb_device_info *dev) {
    const char *name = NULL;
    if (!dev) return NULL;
    pthread_mutex_lock(&done_lock);
    for (int i = 0; i < n_done; i++)
        if (done[i] == dev->device) name = done_name[i];
    pthread_mutex_unlock(&done_lock);
    return name;
}
