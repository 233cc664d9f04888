/* cli_tune.c - `seqboat tune`: measure the own GEMM's parameters on a device
 * (or all) for a model's products, store the winner in the cache folder
 * (runtime/linear_tune.h); later runs on that device use it automatically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "linear_tune.h"
#include "model_file.h"
#include "ops/linear.h"
#include "ops/ops_rt.h"

static void progress(void *user, int i, int n, const char *params, double ms) {
    (void)user;
    if (ms < 0) fprintf(stderr, "tune: [%d/%d] %-22s does not run here\n", i, n, params);
    else fprintf(stderr, "tune: [%d/%d] %-22s %9.2f ms\n", i, n, params, ms);
}

static int tune_one(const char *device, const sb_tune_shape *shapes, int n_shapes, int repeats) {
    sb_err e;
    sb_err_clear(&e);
    sb_rt *rt = NULL;
    sb_rt_options ro = {device, NULL, 0, NULL, 0};
    if (sb_ops_rt_create(&ro, &rt, &e) != SB_OK) {
        fprintf(stderr, "seqboat tune: %s\n", e.msg);
        return 1;
    }
    char path[1200], ps[64];
    fprintf(stderr, "tune: device %s (driver %s), %d shapes\n", rt->dev.name, rt->dev.driver_version,
            n_shapes);
    sb_linear_params best;
    double best_ms = 0, def_ms = 0;
    int rc = 0;
    if (sb_linear_tune_run(rt, shapes, n_shapes, repeats, progress, NULL, &best, &best_ms, &def_ms,
                           &e) != SB_OK ||
        sb_linear_tune_save(rt, &best, &e) != SB_OK) {
        fprintf(stderr, "seqboat tune: %s\n", e.msg);
        rc = 1;
    } else {
        sb_linear_tune_path(rt, path, sizeof path);
        sb_linear_params_string(&best, ps, sizeof ps);
        printf("%s: %s (%.2f ms; device-class default %.2f ms) -> %s\n", rt->dev.name, ps, best_ms,
               def_ms, path);
    }
    sb_rt_free(rt);
    return rc;
}

static const char tune_usage[] =
    "usage: seqboat tune [--device D|all] [--model M] [--rows N] [--repeats R]\n"
    "  measure the library's GEMM parameters on the device for the model's products\n"
    "  (default: the bench layer D=512 Z=128 H=1024) and store the fastest in the cache\n"
    "  folder (SEQBOAT_CACHE_DIR), keyed by device and driver; later runs use it\n"
    "  --device D    device index or name, or all (default: SEQBOAT_DEVICE, else the first\n"
    "                GPU, else the first device)\n"
    "  --model M     take D, Z, H from this model file\n"
    "  --rows N      rows of the products measured (default 2048)\n"
    "  --repeats R   timed runs per product and candidate, median (default 3)\n";

enum { TUNE_DEVICE = 256, TUNE_MODEL, TUNE_ROWS, TUNE_REPEATS };
static const struct option tune_opts[] = {
    {"device", required_argument, NULL, TUNE_DEVICE},
    {"model", required_argument, NULL, TUNE_MODEL},
    {"rows", required_argument, NULL, TUNE_ROWS},
    {"repeats", required_argument, NULL, TUNE_REPEATS},
    {"help", no_argument, NULL, CLI_HELP},
    {NULL, 0, NULL, 0},
};

int cli_tune(int argc, char **argv) {
    const char *device = NULL, *model = NULL;
    int m = 2048, repeats = 3;
    cli_parser p;
    cli_parser_init(&p, "tune", tune_opts, argc, argv);
    for (int c; (c = cli_next(&p)) != CLI_END;) {
        switch (c) {
        case TUNE_DEVICE: device = p.arg; break;
        case TUNE_MODEL: model = p.arg; break;
        case TUNE_ROWS:
            if (cli_parse_int(p.cmd, p.name, p.arg, 1, 1 << 20, &m)) return CLI_USAGE;
            break;
        case TUNE_REPEATS:
            if (cli_parse_int(p.cmd, p.name, p.arg, 1, 16, &repeats)) return CLI_USAGE;
            break;
        case CLI_HELP: return cli_help(tune_usage);
        default: return cli_usage_error(p.cmd);
        }
    }
    int D = 512, Z = 128, H = 1024;
    if (model) {
        sb_model_file *mf = NULL;
        sb_err e;
        sb_err_clear(&e);
        if (sb_model_file_load(model, &mf, &e) != SB_OK) {
            fprintf(stderr, "seqboat tune: %s\n", e.msg);
            return 1;
        }
        D = mf->cfg.d_model, Z = mf->cfg.d_qk, H = mf->cfg.d_hidden;
        sb_model_file_free(mf);
    }
    const sb_tune_shape shapes[] = {{m, D + 2, D, "hx_proj"},
                                    {m / 2 > 0 ? m / 2 : 1, Z + 2 * H, D, "mx_proj"},
                                    {m / 2 > 0 ? m / 2 : 1, D, H, "h_proj"}};
    if (device && !strcmp(device, "all")) {
        int n = 0, rc = 0;
        if (sb_devices(NULL, 0, &n) != SB_OK || n < 1) {
            fprintf(stderr, "seqboat tune: no OpenCL devices\n");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            char idx[16];
            snprintf(idx, sizeof idx, "%d", i);
            rc |= tune_one(idx, shapes, 3, repeats);
        }
        return rc;
    }
    return tune_one(device, shapes, 3, repeats);
}
