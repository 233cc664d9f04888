/* cli_devices.c - `seqboat devices`, `seqboat selftest`, `seqboat version`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

static const char devices_usage[] =
    "usage: seqboat devices\n"
    "  list every OpenCL platform and device with its limits, and mark the\n"
    "  default device (the one used without --device) with the reason\n";

static const struct option devices_opts[] = {
    {"help", no_argument, NULL, CLI_HELP},
    {NULL, 0, NULL, 0},
};

int cli_devices(int argc, char **argv) {
    cli_parser p;
    cli_parser_init(&p, "devices", devices_opts, argc, argv);
    for (int c; (c = cli_next(&p)) != CLI_END;) {
        if (c == CLI_HELP) return cli_help(devices_usage);
        return cli_usage_error(p.cmd);
    }
    int n = 0;
    if (sb_devices(NULL, 0, &n) != SB_OK) {
        fprintf(stderr, "seqboat devices: %s\n", sb_last_error());
        return 1;
    }
    if (n == 0) {
        printf("no OpenCL devices found\n");
        return 1;
    }
    sb_device_desc *d = calloc((size_t)n, sizeof *d);
    if (d) d[0].struct_size = sizeof *d;
    if (!d || sb_devices(d, n, &n) != SB_OK) {
        fprintf(stderr, "seqboat devices: %s\n", d ? sb_last_error() : "out of memory");
        free(d);
        return 1;
    }
    int def = -1;
    char why[512] = "";
    if (sb_device_default(&def, why, sizeof why) != SB_OK)
        snprintf(why, sizeof why, "none: %s", sb_last_error());
    for (int i = 0; i < n; i++) {
        printf("[%d] %s%s\n", d[i].index, d[i].name, d[i].index == def ? "  (default)" : "");
        printf("    platform:        %s (%s)\n", d[i].platform, d[i].platform_version);
        printf("    vendor:          %s\n", d[i].vendor);
        printf("    type:            %s\n", d[i].type);
        printf("    OpenCL C:        %s\n", d[i].opencl_c_version);
        printf("    driver:          %s\n", d[i].driver_version);
        printf("    compute units:   %u\n", d[i].compute_units);
        printf("    global memory:   %.0f MiB\n", mib(d[i].global_mem_bytes));
        printf("    local memory:    %.0f KiB\n", (double)d[i].local_mem_bytes / 1024.0);
        printf("    max allocation:  %.0f MiB\n", mib(d[i].max_alloc_bytes));
        printf("    max work-group:  %zu\n", d[i].max_work_group_size);
    }
    if (def >= 0)
        printf("default device: [%d] %s: %s\n", def, def < n ? d[def].name : "?", why);
    else
        printf("default device: %s\n", why);
    free(d);
    return def >= 0 ? 0 : 1;
}

static const char selftest_usage[] =
    "usage: seqboat selftest [--device D|all]\n"
    "  run CLBlast's GEMM (builds with CLBlast), the models' product and the LayerNorm\n"
    "  kernel on the device and compare with plain C\n"
    "  --device D   device index or name (default: SEQBOAT_DEVICE, else the default device\n"
    "               that `seqboat devices` marks); all: every device, one line each,\n"
    "               exit 1 if any fails\n";

enum { SELFTEST_DEVICE = 256 };
static const struct option selftest_opts[] = {
    {"device", required_argument, NULL, SELFTEST_DEVICE},
    {"help", no_argument, NULL, CLI_HELP},
    {NULL, 0, NULL, 0},
};

int cli_selftest(int argc, char **argv) {
    char report[1024];
    const char *dev = NULL;
    cli_parser p;
    cli_parser_init(&p, "selftest", selftest_opts, argc, argv);
    for (int c; (c = cli_next(&p)) != CLI_END;) {
        switch (c) {
        case SELFTEST_DEVICE: dev = p.arg; break;
        case CLI_HELP: return cli_help(selftest_usage);
        default: return cli_usage_error(p.cmd);
        }
    }
    if (dev && !strcmp(dev, "all")) {
        int n = 0, failed = 0;
        if (sb_devices(NULL, 0, &n) != SB_OK) {
            fprintf(stderr, "seqboat selftest: %s\n", sb_last_error());
            return 1;
        }
        if (n == 0) {
            fprintf(stderr, "seqboat selftest: no OpenCL devices found\n");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            char idx[16];
            snprintf(idx, sizeof idx, "%d", i);
            if (sb_selftest(idx, report, sizeof report) == SB_OK) {
                printf("[%d] ok: %s\n", i, report);
            } else {
                printf("[%d] FAILED: %s\n", i, sb_last_error());
                failed++;
            }
            fflush(stdout);
        }
        printf("selftest: %d of %d device(s) ok\n", n - failed, n);
        return failed ? 1 : 0;
    }
    if (sb_selftest(dev, report, sizeof report) != SB_OK) {
        fprintf(stderr, "seqboat selftest: %s\n", sb_last_error());
        return 1;
    }
    printf("%s\n", report);
    return 0;
}

static const char version_usage[] = "usage: seqboat version\n  print the library version\n";

static const struct option version_opts[] = {
    {"help", no_argument, NULL, CLI_HELP},
    {NULL, 0, NULL, 0},
};

int cli_version(int argc, char **argv) {
    cli_parser p;
    cli_parser_init(&p, "version", version_opts, argc, argv);
    for (int c; (c = cli_next(&p)) != CLI_END;) {
        if (c == CLI_HELP) return cli_help(version_usage);
        return cli_usage_error(p.cmd);
    }
    printf("seqboat %s\n", SB_VERSION_STRING);
    return 0;
}
