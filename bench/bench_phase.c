/* bench_phase.c - the phase split of a `seqboat bench` row (profiled
 * forwards checked against their wall time, else serialised wall-clock
 * forwards), its checks (sb_bench_split_check, sb_bench_over_peak) and the
 * row's rooflines (see bench.h). The timed forwards themselves: bench.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "bench.h"
#include "bench_internal.h"

/* ---- phase split ---------------------------------------------------------------------- */

sb_status sb_bench_phase_split(sb_model_impl *m, const sb_bench_run_opt *o, int n, const sb_bench_work *w,
                               const float *xin, const int32_t *idin, float *out, sb_bench_row *row,
                               sb_err *e) {
    sb_status st = SB_OK;
    const int B = o->B;
    /* phase split: separate profiled forwards, checked against their wall time;
     * serialised wall-clock forwards when the driver's events do not add up */
    for (int p = 0; p < SB_PHASE_COUNT; p++) row->phase_ms[p] = NAN;
    row->unattributed_ms = row->gemm_gflop_s = NAN;
    row->profiled_ms = row->device_span_ms = row->device_busy_ms = NAN;
    row->split_ok = 0;
    snprintf(row->split_note, sizeof row->split_note, "profiling off (--no-profile)");
    snprintf(row->split_source, sizeof row->split_source, "none");
    snprintf(row->events_note, sizeof row->events_note, "not tried");
    if (o->profile) {
        int np = n < 3 ? n : 3;
        if (o->max_seconds > 0 && 3 * row->ms_med > 1e3 * o->max_seconds) np = 1; /* long forwards */
        double phase[SB_PHASE_COUNT] = {0}, wall = 0, span = 0;
        int ev_ok = 0;
        if (o->phase_timing != SB_BENCH_TIMING_WALL) {
            SB_TRY(sb_rt_set_profiling(m->rt, 1, e));
            for (int i = 0; i < np; i++) {
                sb_rt_profile_reset(m->rt);
                double t0 = sb_bench_now_ms();
                st = sb_model_impl_forward(m, B, o->L, xin, idin, o->lengths, out, e);
                wall += sb_bench_now_ms() - t0;
                if (st != SB_OK) {
                    sb_rt_set_profiling(m->rt, 0, NULL);
                    goto done;
                }
                for (int p = 0; p < SB_PHASE_COUNT; p++) phase[p] += m->rt->phase_ms[p];
                if (m->rt->prof_last_ns > m->rt->prof_first_ns)
                    span += (double)(m->rt->prof_last_ns - m->rt->prof_first_ns) * 1e-6;
            }
            SB_TRY(sb_rt_set_profiling(m->rt, 0, e));
            double busy = 0;
            for (int p = 0; p < SB_PHASE_COUNT; p++) busy += phase[p] / np;
            row->profiled_ms = wall / np;
            row->device_span_ms = span / np;
            row->device_busy_ms = busy;
            ev_ok = sb_bench_split_check(row->profiled_ms, row->device_span_ms, busy, row->events_note,
                                         sizeof row->events_note);
            if (ev_ok) {
                for (int p = 0; p < SB_PHASE_COUNT; p++) row->phase_ms[p] = phase[p] / np;
                row->unattributed_ms = row->profiled_ms > busy ? row->profiled_ms - busy : 0;
                double gms = row->phase_ms[SB_PHASE_PROJ];
                row->gemm_gflop_s = gms > 0 ? w->gemm_flops / (gms * 1e6) : NAN;
                row->split_ok = 1;
                double rate;
                char why[200];
                int over = sb_bench_over_peak(row, o->peak_gflops, &rate, why, sizeof why);
                if (over >= 0 && over < SB_PHASE_COUNT + 1) { /* the forward's own rate is wall clock */
                    snprintf(row->events_note, sizeof row->events_note, "%s: the driver's event timestamps are "
                             "unusable", why);
                    ev_ok = 0;
                }
            }
            if (ev_ok) {
                snprintf(row->split_note, sizeof row->split_note, "ok");
                snprintf(row->split_source, sizeof row->split_source, "events");
            } else {
                for (int p = 0; p < SB_PHASE_COUNT; p++) row->phase_ms[p] = NAN;
                row->unattributed_ms = row->gemm_gflop_s = NAN;
                row->split_ok = 0;
                snprintf(row->split_note, sizeof row->split_note, "%s", row->events_note);
            }
        }
        if (!ev_ok && o->phase_timing != SB_BENCH_TIMING_EVENTS) {
            /* serialised wall clock: the queue is finished at every phase change */
            for (int p = 0; p < SB_PHASE_COUNT; p++) phase[p] = 0;
            wall = 0;
            for (int i = 0; i < np; i++) {
                SB_TRY(sb_rt_set_serial(m->rt, 1, e));
                double t0 = sb_bench_now_ms();
                st = sb_model_impl_forward(m, B, o->L, xin, idin, o->lengths, out, e);
                sb_rt_serial_flush(m->rt);
                wall += sb_bench_now_ms() - t0;
                for (int p = 0; p < SB_PHASE_COUNT; p++) phase[p] += m->rt->serial_ms[p];
                sb_status s2 = sb_rt_set_serial(m->rt, 0, st == SB_OK ? e : NULL);
                if (st == SB_OK) st = s2;
                if (st != SB_OK) goto done;
            }
            double busy = 0;
            for (int p = 0; p < SB_PHASE_COUNT; p++) {
                row->phase_ms[p] = phase[p] / np;
                busy += row->phase_ms[p];
            }
            row->profiled_ms = wall / np;
            row->device_span_ms = NAN; /* no driver clock */
            row->device_busy_ms = busy;
            row->unattributed_ms = row->profiled_ms > busy ? row->profiled_ms - busy : 0;
            double gms = row->phase_ms[SB_PHASE_PROJ];
            row->gemm_gflop_s = gms > 0 ? w->gemm_flops / (gms * 1e6) : NAN;
            row->split_ok = busy > 0;
            snprintf(row->split_note, sizeof row->split_note, "%s",
                     row->split_ok ? "ok" : "no phase time in the serialised forwards");
            snprintf(row->split_source, sizeof row->split_source, "wall-serialised");
            if (o->phase_timing == SB_BENCH_TIMING_WALL)
                snprintf(row->events_note, sizeof row->events_note, "not tried (--phase-timing wall)");
        }
    }
done:
    return st;
}

/* ---- phase-split check and rooflines ------------------------------------------------ */

int sb_bench_split_check(double wall_ms, double span_ms, double busy_ms, char *why, size_t cap) {
    if (!(wall_ms > 0) || !(span_ms > 0) || !(busy_ms > 0)) {
        snprintf(why, cap, "no usable profiled device time (span %.3g ms, kernels %.3g ms)", span_ms, busy_ms);
        return 0;
    }
    if (span_ms > 1.05 * wall_ms + 0.05) {
        snprintf(why, cap, "device timeline %.3g ms longer than the wall time %.3g ms: the driver's "
                 "event timestamps are unusable", span_ms, wall_ms);
        return 0;
    }
    if (busy_ms > 1.02 * span_ms + 0.05) {
        snprintf(why, cap, "kernel times %.3g ms exceed their span %.3g ms on an in-order queue: the "
                 "driver's event timestamps are unusable", busy_ms, span_ms);
        return 0;
    }
    if (span_ms < 0.5 * wall_ms) {
        snprintf(why, cap, "profiled device time spans %.2g%% of the wall time (%.3g of %.3g ms): the "
                 "driver's event timestamps do not account for the forward", 100 * span_ms / wall_ms,
                 span_ms, wall_ms);
        return 0;
    }
    if (busy_ms < 0.9 * wall_ms) {
        snprintf(why, cap, "profiled phases sum to %.3g%% of the wall time (%.4g of %.4g ms, more than 10 %% "
                 "off): the driver's event timestamps do not account for the forward",
                 100 * busy_ms / wall_ms, busy_ms, wall_ms);
        return 0;
    }
    snprintf(why, cap, "ok");
    return 1;
}

static const char *const phase_label[SB_PHASE_COUNT] = {"other", "ema", "gate", "proj", "attn"};

void sb_bench_row_init(sb_bench_row *r) {
    memset(r, 0, sizeof *r);
    for (int p = 0; p < SB_PHASE_COUNT; p++)
        r->phase_ms[p] = r->phase_ai[p] = r->phase_gflop_s[p] = r->phase_roofline_pct[p] = NAN;
    r->unattributed_ms = r->gemm_gflop_s = NAN;
    r->profiled_ms = r->device_span_ms = r->device_busy_ms = NAN;
    r->ai = r->roofline_bound = r->roofline_pct = NAN;
    snprintf(r->split_note, sizeof r->split_note, "not measured");
    snprintf(r->precision, sizeof r->precision, "f32");
    snprintf(r->split_source, sizeof r->split_source, "none");
    snprintf(r->events_note, sizeof r->events_note, "not tried");
}

int sb_bench_over_peak(const sb_bench_row *r, double gflops, double *rate, char *why, size_t cap) {
    double dummy;
    if (!rate) rate = &dummy;
    *rate = NAN;
    if (why && cap) why[0] = '\0';
    if (!(gflops > 0) || !isfinite(gflops)) return -1;
    if (r->split_ok) {
        for (int p = 0; p < SB_PHASE_COUNT; p++) {
            double g = r->phase_ms[p] > 0 ? r->phase_gflop[p] / (r->phase_ms[p] * 1e-3) : NAN;
            if (g > gflops) {
                *rate = g;
                if (why) snprintf(why, cap, "%s at %.4g GFLOP/s would exceed the measured fp32 peak %.4g GFLOP/s",
                                  phase_label[p], g, gflops);
                return p;
            }
        }
        if (r->gemm_gflop_s > gflops) {
            *rate = r->gemm_gflop_s;
            if (why) snprintf(why, cap, "GEMM at %.4g GFLOP/s would exceed the measured fp32 peak %.4g GFLOP/s",
                              r->gemm_gflop_s, gflops);
            return SB_PHASE_COUNT;
        }
    }
    double fw = r->ms_med > 0 ? r->gflop / (r->ms_med * 1e-3) : NAN;
    if (fw > gflops) {
        *rate = fw;
        if (why) snprintf(why, cap, "the forward at %.4g GFLOP/s (wall clock) exceeds the measured fp32 peak "
                          "%.4g GFLOP/s", fw, gflops);
        return SB_PHASE_COUNT + 1;
    }
    return -1;
}

static void note_add(sb_bench_row *r, const char *what) {
    size_t n = strlen(r->roofline_note);
    snprintf(r->roofline_note + n, sizeof r->roofline_note - n, "%s%s", n ? "; " : "", what);
}


void sb_bench_roofline(sb_bench_row *r, double gflops, double gbs) {
    char buf[200];
    const int have_peak = gflops > 0 && gbs > 0;
    r->roofline_note[0] = '\0';
    r->ai = r->gbytes > 0 ? r->gflop / r->gbytes : NAN;
    for (int p = 0; p < SB_PHASE_COUNT; p++) {
        r->phase_ai[p] = r->phase_gbytes[p] > 0 ? r->phase_gflop[p] / r->phase_gbytes[p] : NAN;
        r->phase_gflop_s[p] = r->phase_roofline_pct[p] = NAN;
    }
    r->roofline_bound = r->roofline_pct = NAN;
    if (!have_peak) note_add(r, "no measured peak");
    /* rates from the phase split; one above the fp32 peak means the timestamps lie */
    if (r->split_ok) {
        for (int p = 0; p < SB_PHASE_COUNT; p++)
            r->phase_gflop_s[p] = r->phase_ms[p] > 0 ? r->phase_gflop[p] / (r->phase_ms[p] * 1e-3) : NAN;
        if (have_peak) {
            int bad = -1;
            for (int p = 0; p < SB_PHASE_COUNT; p++)
                if (r->phase_gflop_s[p] > gflops) bad = p;
            if (bad >= 0 || r->gemm_gflop_s > gflops) {
                snprintf(r->split_note, sizeof r->split_note,
                         "%s at %.4g GFLOP/s would exceed the measured fp32 peak %.4g GFLOP/s: %s",
                         bad >= 0 ? phase_label[bad] : "GEMM",
                         bad >= 0 ? r->phase_gflop_s[bad] : r->gemm_gflop_s, gflops,
                         strcmp(r->split_source, "wall-serialised")
                             ? "the driver's event timestamps are unusable"
                             : "a serialised wall-clock phase beat the peak (the peak is low or the work "
                               "model counts more than runs)");
                r->split_ok = 0;
                for (int p = 0; p < SB_PHASE_COUNT; p++) r->phase_ms[p] = r->phase_gflop_s[p] = NAN;
                r->unattributed_ms = r->gemm_gflop_s = NAN;
            }
        }
    }
    if (!have_peak) return;
    /* never a figure above the measured peak */
    if (r->gflop_s > gflops) {
        snprintf(buf, sizeof buf, "forward %.4g GFLOP/s above the measured fp32 peak (work model "
                 "counts more than runs)", r->gflop_s);
        note_add(r, buf);
        r->gflop_s = NAN;
    }
    if (r->gb_s > gbs) {
        snprintf(buf, sizeof buf, "modelled %.4g GB/s above the measured bandwidth (operands reused "
                 "from caches)", r->gb_s);
        note_add(r, buf);
        r->gb_s = NAN;
    }
    r->roofline_bound = sb_roofline_bound(r->ai, gflops, gbs);
    /* decode rows: the work model is the mean step's, so is the time (steps are bimodal) */
    const double ms = !strcmp(r->method, "decode") && r->tokens_per_s > 0 ? 1e3 / r->tokens_per_s : r->ms_med;
    double pct = ms > 0 ? sb_roofline_pct(r->gflop / (ms * 1e-3), r->ai, gflops, gbs) : NAN;
    if (pct > 100) {
        snprintf(buf, sizeof buf, "forward above its roofline (%.0f%%): working set in caches", pct);
        note_add(r, buf);
        pct = NAN;
    }
    r->roofline_pct = pct;
    int over = 0;
    for (int p = 0; p < SB_PHASE_COUNT && r->split_ok; p++) {
        double q = sb_roofline_pct(r->phase_gflop_s[p], r->phase_ai[p], gflops, gbs);
        if (q > 100) {
            over++;
            q = NAN;
        }
        r->phase_roofline_pct[p] = q;
    }
    if (over) {
        snprintf(buf, sizeof buf, "%d phase(s) above their roofline (working set in caches): withheld", over);
        note_add(r, buf);
    }
}
