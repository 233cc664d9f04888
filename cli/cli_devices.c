/* cli_devices.c - `seqboat devices`, `seqboat selftest`, option helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

const char *cli_opt(int argc, char **argv, const char *name) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], name)) return i + 1 < argc ? argv[i + 1] : NULL;
        size_t n = strlen(name);
        if (!strncmp(argv[i], name, n) && argv[i][n] == '=') return argv[i] + n + 1;
    }
    return NULL;
}

int cli_flag(int argc, char **argv, const char *name) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name)) return 1;
    return 0;
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

int cli_devices(int argc, char **argv) {
    (void)argc;
    (void)argv;
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
    if (!d || sb_devices(d, n, &n) != SB_OK) {
        fprintf(stderr, "seqboat devices: %s\n", d ? sb_last_error() : "out of memory");
        free(d);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        printf("[%d] %s\n", d[i].index, d[i].name);
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
    free(d);
    return 0;
}

int cli_selftest(int argc, char **argv) {
    char report[1024];
    const char *dev = cli_opt(argc, argv, "--device");
    if (sb_selftest(dev, report, sizeof report) != SB_OK) {
        fprintf(stderr, "seqboat selftest: %s\n", sb_last_error());
        return 1;
    }
    printf("%s\n", report);
    return 0;
}
