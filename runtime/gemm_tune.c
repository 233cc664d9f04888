/* gemm_tune.c - see gemm_tune.h. */
#if SEQBOAT_HAVE_CLBLAST
#include <clblast_c.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "gemm_tune.h"

/* The two CLBlast GEMM kernel families we carry parameters for: the indirect
 * Xgemm (large products; operands padded / transposed into its tiles) and
 * XgemmDirect (products under CLBlast's XGEMM_MIN_INDIRECT_SIZE, 384^3 by
 * default, and any shape it runs without padding). */
enum { FAM_XGEMM = 0, FAM_DIRECT, FAM_COUNT };
#define MAX_NPARAM 16

typedef struct family {
    const char *kernel; /* CLBlast kernel name */
    const char *env;    /* variable that overrides the table, on any device */
    int n;
    const char *names[MAX_NPARAM];
} family;

static const family families[FAM_COUNT] = {
    {"Xgemm", "SEQBOAT_GEMM_XGEMM", 16,
     {"GEMMK", "MWG", "NWG", "KWG", "MDIMC", "NDIMC", "MDIMA", "NDIMB", "KWI", "VWM", "VWN",
      "STRM", "STRN", "SA", "SB", "KREG"}},
    {"XgemmDirect", "SEQBOAT_GEMM_XGEMM_DIRECT", 10,
     {"WGD", "MDIMCD", "NDIMCD", "MDIMAD", "NDIMBD", "KWID", "VWMD", "VWND", "PADA", "PADB"}},
};

typedef struct tune_entry {
    const char *name;   /* for reports */
    const char *prefix; /* device name starts with this */
    size_t values[FAM_COUNT][MAX_NPARAM]; /* all zero: leave that family to CLBlast */
} tune_entry;

/* PoCL's CPU device (device names "pthread-<cpu>"). Xgemm: start from a random
 * search of `clblast_tuner_xgemm -precision 32 -m 512 -n 512 -k 512` (PoCL 3.1,
 * 2-core AVX-512 Xeon), then a hand search on the model's GEMM shapes
 * (bench/sgemm_compare.sh with SEQBOAT_GEMM_XGEMM: 8192x514x512, 4096x2176x512,
 * 4096x512x1024 and 1024^3), where deeper K tiles (KWG 128) and 8-wide vectors
 * in both directions won: about 59 / 71 / 70 / 78 GFLOP/s there, against 17-29
 * with CLBlast's defaults and 45-58 with the 512^3 search's best. XgemmDirect:
 * a hand search on short-sequence shapes (128x514x512, 32x2176x512) and the
 * skinny encoder / decoder products (4096x512x16, 4096x16x512): 20-35, 10-13
 * GFLOP/s there against 11-13, 5 with CLBlast's defaults. */
static const tune_entry table[] = {
    {"pocl-cpu-v3", "pthread-",
     {/* GEMMK MWG NWG KWG MDIMC NDIMC MDIMA NDIMB KWI VWM VWN STRM STRN SA SB KREG */
      {0, 128, 64, 128, 16, 8, 16, 8, 2, 8, 8, 0, 0, 1, 1, 1},
      /* WGD MDIMCD NDIMCD MDIMAD NDIMBD KWID VWMD VWND PADA PADB */
      {32, 4, 4, 4, 4, 2, 8, 8, 1, 1}}},
};

#define MAX_DONE 64
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static cl_device_id done[MAX_DONE];
static const char *done_name[MAX_DONE]; /* entry applied (static strings) */
static int n_done;
static int disabled; /* sb_gemm_tune_set_enabled(0); under done_lock */

void sb_gemm_tune_set_enabled(int on) {
    pthread_mutex_lock(&done_lock);
    disabled = !on;
    pthread_mutex_unlock(&done_lock);
}

static const tune_entry *find(const char *device_name) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strncmp(device_name, table[i].prefix, strlen(table[i].prefix))) return &table[i];
    return NULL;
}

const char *sb_gemm_tune_entry(const char *device_name) {
    const tune_entry *t = device_name ? find(device_name) : NULL;
    return t ? t->name : NULL;
}

/* n comma-separated unsigned integers of the family's env variable into v. */
static sb_status parse_env(const family *f, const char *text, size_t *v, sb_err *e) {
    const char *p = text;
    for (int i = 0; i < f->n; i++) {
        char *end;
        unsigned long x = strtoul(p, &end, 10);
        if (end == p || *p == '-' || (i < f->n - 1 ? *end != ',' : *end != '\0')) {
            char list[256] = "";
            for (int k = 0; k < f->n; k++) {
                strcat(list, f->names[k]);
                if (k + 1 < f->n) strcat(list, ",");
            }
            return sb_fail(e, SB_ERR_ARG, "%s='%.100s': expected %d comma-separated integers (%s)",
                           f->env, text, f->n, list);
        }
        v[i] = x;
        p = end + 1;
    }
    return SB_OK;
}

static int all_zero(const size_t *v, int n) {
    for (int i = 0; i < n; i++)
        if (v[i]) return 0;
    return 1;
}

sb_status sb_gemm_tune_apply(const sb_device_info *dev, int *applied, sb_err *e) {
    sb_status st = SB_OK;
    if (applied) *applied = 0;
    if (!dev) return sb_fail(e, SB_ERR_ARG, "sb_gemm_tune_apply: dev is NULL");
    const char *off = getenv("SEQBOAT_GEMM_TUNE");
    if (off && !strcmp(off, "off")) return SB_OK;
    pthread_mutex_lock(&done_lock);
    int skip = disabled;
    pthread_mutex_unlock(&done_lock);
    if (skip) return SB_OK;
    /* What to apply per family: the user's values, else the table's, else none. */
    const tune_entry *t = find(dev->name);
    size_t values[FAM_COUNT][MAX_NPARAM];
    int use[FAM_COUNT] = {0}, user = 0;
    for (int f = 0; f < FAM_COUNT; f++) {
        const char *cv = getenv(families[f].env);
        if (cv && *cv) {
            SB_TRY(parse_env(&families[f], cv, values[f], e));
            use[f] = user = 1;
        } else if (t && !all_zero(t->values[f], families[f].n)) {
            memcpy(values[f], t->values[f], sizeof values[f]);
            use[f] = 1;
        }
    }
    if (!use[FAM_XGEMM] && !use[FAM_DIRECT]) return SB_OK;
#if !SEQBOAT_HAVE_CLBLAST
    /* no CLBlast: the table has nothing to tune; the user's values cannot be honoured */
    if (user)
        st = sb_fail(e, SB_ERR_UNSUPPORTED,
                     "%s is set but this library was built without CLBlast (SEQBOAT_CLBLAST=OFF)",
                     getenv(families[FAM_XGEMM].env) && *getenv(families[FAM_XGEMM].env)
                         ? families[FAM_XGEMM].env : families[FAM_DIRECT].env);
    goto done;
#else
    pthread_mutex_lock(&done_lock);
    for (int i = 0; i < n_done; i++)
        if (done[i] == dev->device) goto unlock;
    for (int f = 0; f < FAM_COUNT; f++) {
        if (!use[f]) continue;
        CLBlastStatusCode s = CLBlastOverrideParameters(dev->device, families[f].kernel,
                                                        CLBlastPrecisionSingle, (size_t)families[f].n,
                                                        (const char **)families[f].names, values[f]);
        if (s != CLBlastSuccess) {
            /* The table's values only change speed: if CLBlast refuses them
             * the device keeps CLBlast's own. Values the user gave are an error. */
            if (user)
                st = sb_fail(e, SB_ERR_BLAS, "CLBlastOverrideParameters(%s) refused the values of "
                             "%s (status %d)", families[f].kernel, families[f].env, (int)s);
            goto unlock;
        }
    }
    if (n_done < MAX_DONE) {
        done_name[n_done] = user ? "user (SEQBOAT_GEMM_XGEMM*)" : t->name;
        done[n_done++] = dev->device;
    }
    if (applied) *applied = 1;
unlock:
    pthread_mutex_unlock(&done_lock);
#endif
done:
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
