/* bench_table.c - the table `seqboat bench` prints (a header, one line per
 * row and its notes) and its reprint when a device's peak was measured again
 * during the sweep (see bench_table.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "bench_table.h"

void sb_bench_table_header(FILE *f) {
    fprintf(f, "timing: ms, tokens/s, GFLOP/s = host wall clock, unprofiled queue; roofs = seqboat peak (host wall "
            "clock around clFinish); phase shares = column 'split' (events: driver event profiling; wall: host "
            "clock, queue finished at every phase change)\n");
    fprintf(f, "%-3s %-14s %8s %5s %6s %27s %10s %7s %5s %5s %5s %5s %5s %5s %8s %7s %6s %5s %-19s %8s %5s %-6s\n",
            "dev", "method", "L", "share", "act", "ms min / median / max", "tokens/s", "GFLOP/s", "ema%",
            "gate%", "proj%", "attn%", "oth%", "gap%", "GEMM GF/s", "GB/s", "AI", "roof%",
            "roof% e/g/p/a/o", "peak MiB", "load", "split");
}

/* v with the given width and precision, or a dash when unavailable. */
static const char *num(char *buf, size_t cap, int width, int prec, double v) {
    if (isfinite(v)) snprintf(buf, cap, "%*.*f", width, prec, v);
    else snprintf(buf, cap, "%*s", width, "-");
    return buf;
}

void sb_bench_table_row(FILE *f, const sb_bench_row *r) {
    char sh[16], meth[32];
    /* the method, with the weights' storage unless f32 ("decode/f16") */
    if (strcmp(r->precision, "f32") && r->precision[0]) snprintf(meth, sizeof meth, "%s/%s", r->method, r->precision);
    else snprintf(meth, sizeof meth, "%s", r->method);
    if (r->share_target < 0) snprintf(sh, sizeof sh, "router");
    else snprintf(sh, sizeof sh, "%.2f", r->share_target);
    if (strcmp(r->status, "ok") != 0) {
        fprintf(f, "%-3d %-14s %8d %5s %6s  %s\n", r->device_index, meth, r->L, sh, "", r->status);
        fflush(f);
        return;
    }
    if (!strcmp(r->method, "decode")) { /* ms per token, not per forward */
        char ms[64], roof[32] = "-";
        if (isfinite(r->roofline_pct)) snprintf(roof, sizeof roof, "%.1f%%", r->roofline_pct);
        snprintf(ms, sizeof ms, "%.2f / %.2f / %.2f", r->ms_min, r->ms_med, r->ms_max);
        fprintf(f, "%-3d %-14s %8d %5s %6.3f %27s %10.1f   (ms per token at position L, mean %.2f; "
                "prefill of L tokens %.0f ms, %.0f tokens/s; %.3g MB per step, AI %.3g, roof %s)\n",
                r->device_index, meth, r->L, sh, r->share, ms, r->tokens_per_s,
                r->tokens_per_s > 0 ? 1e3 / r->tokens_per_s : 0, r->prefill_ms,
                r->prefill_ms > 0 ? r->L / (r->prefill_ms * 1e-3) : 0, r->gbytes * 1e3, r->ai, roof);
        fflush(f);
        return;
    }
    double tot = r->unattributed_ms; /* NaN when the split is unavailable: every share a dash */
    for (int p = 0; p < SB_PHASE_COUNT; p++) tot += r->phase_ms[p];
    double pc[SB_PHASE_COUNT], gap = tot > 0 ? 100 * r->unattributed_ms / tot : NAN;
    for (int p = 0; p < SB_PHASE_COUNT; p++) pc[p] = tot > 0 ? 100 * r->phase_ms[p] / tot : NAN;
    char ms[64], b[16][24], roof[64];
    snprintf(ms, sizeof ms, "%.1f / %.1f / %.1f", r->ms_min, r->ms_med, r->ms_max);
    {
        static const int order[SB_PHASE_COUNT] = {SB_PHASE_EMA, SB_PHASE_GATE, SB_PHASE_PROJ,
                                                  SB_PHASE_ATTN, SB_PHASE_OTHER};
        size_t n = 0;
        for (int i = 0; i < SB_PHASE_COUNT; i++) {
            double v = r->phase_roofline_pct[order[i]];
            if (isfinite(v)) n += (size_t)snprintf(roof + n, sizeof roof - n, "%s%.0f", i ? "/" : "", v);
            else n += (size_t)snprintf(roof + n, sizeof roof - n, "%s-", i ? "/" : "");
            if (n >= sizeof roof) break;
        }
    }
    const char *src = !r->split_ok ? "-" : !strcmp(r->split_source, "events") ? "events" : "wall";
    fprintf(f, "%-3d %-14s %8d %5s %6.3f %27s %10.0f %7s %5s %5s %5s %5s %5s %5s %8s %7s %6s %5s %-19s %8.1f %5.1f %-6s\n",
            r->device_index, meth, r->L, sh, r->share, ms, r->tokens_per_s,
            num(b[0], 24, 7, 1, r->gflop_s), num(b[1], 24, 5, 1, pc[SB_PHASE_EMA]),
            num(b[2], 24, 5, 1, pc[SB_PHASE_GATE]), num(b[3], 24, 5, 1, pc[SB_PHASE_PROJ]),
            num(b[4], 24, 5, 1, pc[SB_PHASE_ATTN]), num(b[5], 24, 5, 1, pc[SB_PHASE_OTHER]),
            num(b[6], 24, 5, 1, gap), num(b[7], 24, 8, 1, r->gemm_gflop_s), num(b[8], 24, 7, 1, r->gb_s),
            num(b[9], 24, 6, 1, r->ai), num(b[10], 24, 5, 1, r->roofline_pct), roof,
            r->peak_bytes / 1048576.0, r->load_avg, src);
    if (!r->split_ok) fprintf(f, "    phase split unavailable: %s\n", r->split_note);
    else if (!strcmp(r->split_source, "wall-serialised"))
        fprintf(f, "    phase split: host wall clock, queue finished at every phase change: phases %.1f of %.1f ms "
                "(%.1f%%), unserialised median %.1f ms; driver events: %s\n",
                r->device_busy_ms, r->profiled_ms, 100 * r->device_busy_ms / r->profiled_ms, r->ms_med,
                r->events_note);
    else
        fprintf(f, "    phase split: driver events: phases %.1f of %.1f ms (%.1f%%)\n", r->device_busy_ms,
                r->profiled_ms, 100 * r->device_busy_ms / r->profiled_ms);
    if (r->roofline_note[0]) fprintf(f, "    roofline: %s\n", r->roofline_note);
    fflush(f);
}

int sb_bench_table_repeak(FILE *f, sb_bench_report *rep, const sb_bench_row *raw, const int *at, int n,
                          double gflops, double gbs) {
    int done = 0;
    for (int i = 0; i < n; i++) {
        if (at[i] < 0 || at[i] >= rep->n_rows) continue;
        sb_bench_row r = raw[i];
        snprintf(r.node, sizeof r.node, "%s", rep->rows[at[i]].node); /* stamped when it was added */
        r.rank = rep->rows[at[i]].rank;
        sb_bench_roofline(&r, gflops, gbs);
        rep->rows[at[i]] = r;
        done++;
    }
    if (!f || !done) return done;
    fprintf(f, "    the %d row(s) above, recomputed against the peak measured again (they supersede the lines "
            "printed above; the reports hold these):\n", done);
    sb_bench_table_header(f);
    for (int i = 0; i < n; i++)
        if (at[i] >= 0 && at[i] < rep->n_rows) sb_bench_table_row(f, &rep->rows[at[i]]);
    fprintf(f, "    (end of the recomputed rows; the rows below use the new peak)\n");
    fflush(f);
    return done;
}
