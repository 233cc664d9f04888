/* cli_peak.c - `seqboat peak`: the measured peaks of one device or all
 * (fp32 FMA rate, global-memory bandwidth, host<->device transfer, launch
 * latency), cached per device and driver. The measurement is bench/peak.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "peak.h"

static const char peak_usage[] =
    "usage: seqboat peak [options]\n"
    "  --device D|all   device selection (index or name) or every device\n"
    "  --json FILE      write {\"devices\": [...]} to FILE\n"
    "  --fresh          measure again and rewrite the cache\n"
    "  --no-cache       measure; read and write no cache file\n"
    "  --quiet          no progress lines on stderr\n"
    "Results are cached per device and driver in the program-cache folder\n"
    "(SEQBOAT_CACHE_DIR, else $XDG_CACHE_HOME/seqboat or ~/.cache/seqboat).\n"
    "See bench/README.md (seqboat peak).\n";

enum { P_DEVICE = 256, P_JSON, P_FRESH, P_NO_CACHE, P_QUIET };

static const struct option peak_options[] = {
    {"device", required_argument, NULL, P_DEVICE},
    {"json", required_argument, NULL, P_JSON},
    {"fresh", no_argument, NULL, P_FRESH},
    {"no-cache", no_argument, NULL, P_NO_CACHE},
    {"quiet", no_argument, NULL, P_QUIET},
    {"help", no_argument, NULL, CLI_HELP},
    {NULL, 0, NULL, 0},
};

int cli_peak(int argc, char **argv) {
    const char *device = NULL, *json = NULL;
    int cache = SB_PEAK_CACHE_USE, quiet = 0;
    cli_parser cp;
    cli_parser_init(&cp, "peak", peak_options, argc, argv);
    for (int k; (k = cli_next(&cp)) != CLI_END;) {
        switch (k) {
        case P_DEVICE: device = cp.arg; break;
        case P_JSON: json = cp.arg; break;
        case P_FRESH: cache = SB_PEAK_CACHE_REFRESH; break;
        case P_NO_CACHE: cache = SB_PEAK_CACHE_OFF; break;
        case P_QUIET: quiet = 1; break;
        case CLI_HELP: return cli_help(peak_usage);
        default: return cli_usage_error(cp.cmd);
        }
    }
    sb_err e;
    sb_err_clear(&e);
    sb_device_info *devs = NULL;
    int n = 0, rc = 0;
    if (device && !strcmp(device, "all")) {
        if (sb_devices_list(&devs, &n, &e) != SB_OK) {
            fprintf(stderr, "seqboat peak: %s\n", e.msg);
            return 1;
        }
    } else {
        devs = malloc(sizeof *devs);
        if (!devs || sb_device_select(device, devs, &e) != SB_OK) {
            fprintf(stderr, "seqboat peak: %s\n", devs ? e.msg : "out of memory");
            free(devs);
            return 1;
        }
        n = 1;
    }
    sb_peak *p = calloc((size_t)(n ? n : 1), sizeof *p);
    if (!p) {
        free(devs);
        return 1;
    }
    printf("%-3s %-34s %-12s %10s %6s %9s %9s %9s %8s %8s %9s %s\n", "dev", "device", "driver",
           "fp32 GF/s", "width", "copy GB/s", "read GB/s", "mem GB/s", "h2d GB/s", "d2h GB/s",
           "launch us", "source");
    for (int i = 0; i < n; i++) {
        char spec[16];
        snprintf(spec, sizeof spec, "%d", devs[i].index);
        if (sb_peak_get(spec, cache, !quiet, &p[i], &e) != SB_OK) {
            snprintf(p[i].status, sizeof p[i].status, "error: %.240s", e.msg);
            p[i].index = devs[i].index;
            snprintf(p[i].name, sizeof p[i].name, "%s", devs[i].name);
            snprintf(p[i].driver, sizeof p[i].driver, "%s", devs[i].driver_version);
            printf("%-3d %-34.34s %-12.12s %s\n", devs[i].index, devs[i].name, devs[i].driver_version,
                   p[i].status);
            rc = 1;
            continue;
        }
        char wd[16];
        snprintf(wd, sizeof wd, "%dx%d", p[i].fp32_width, p[i].fp32_accumulators);
        printf("%-3d %-34.34s %-12.12s %10.1f %6s %9.1f %9.1f %9.1f %8.2f %8.2f %9.1f %s\n", p[i].index,
               p[i].name, p[i].driver, p[i].fp32_gflops, wd, p[i].copy_gbs, p[i].read_gbs,
               p[i].bandwidth_gbs, p[i].h2d_gbs, p[i].d2h_gbs, p[i].launch_us,
               p[i].cached ? "cache" : "measured");
        const sb_peak *q = &p[i];
        printf("    spread over %d rounds (min / median / max): fp32 %.1f / %.1f / %.1f GFLOP/s, copy %.1f / %.1f / "
               "%.1f GB/s, read %.1f / %.1f / %.1f GB/s\n",
               q->rounds, q->fp32_spread[0], q->fp32_spread[1], q->fp32_spread[2], q->copy_spread[0],
               q->copy_spread[1], q->copy_spread[2], q->read_spread[0], q->read_spread[1], q->read_spread[2]);
        if (q->host_copy_gbs > 0 || q->host_read_gbs > 0)
            printf("    host bound (%d threads, same bytes): copy %.1f / %.1f / %.1f GB/s, read %.1f / %.1f / %.1f "
                   "GB/s; device bandwidth %.1f GB/s %s\n",
                   q->host_threads, q->host_copy_spread[0], q->host_copy_spread[1], q->host_copy_spread[2],
                   q->host_read_spread[0], q->host_read_spread[1], q->host_read_spread[2], q->bandwidth_gbs,
                   q->bw_capped ? "(capped to the host bound)" : "(within the host bound)");
        printf("    buffers %.0f MiB, last-level cache %.1f MiB (%s); timing: %s\n", q->buffer_mib, q->llc_mib,
               q->llc_source[0] ? q->llc_source : "unknown", q->timing[0] ? q->timing : "host wall clock");
        if (q->recheck[0]) printf("    %s\n", q->recheck);
        if (q->note[0]) printf("    note: %s\n", q->note);
        fflush(stdout);
    }
    if (json && sb_peak_write_json(p, n, json, &e) != SB_OK) {
        fprintf(stderr, "seqboat peak: %s\n", e.msg);
        rc = 1;
    }
    free(p);
    free(devs);
    return rc;
}
