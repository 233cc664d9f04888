/* multi.c - one model on several devices (see multi.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "multi.h"

int sb_multi_is_list(const char *spec, const char **eff) {
    if (!spec || !*spec) spec = getenv("SEQBOAT_DEVICE");
    if (spec && !*spec) spec = NULL;
    if (eff) *eff = spec;
    return spec && strchr(spec, ',') != NULL;
}

static int icontains(const char *hay, const char *needle, size_t n) {
    size_t h = strlen(hay);
    for (size_t i = 0; i + n <= h; i++) {
        size_t j = 0;
        while (j < n && tolower((unsigned char)hay[i + j]) == tolower((unsigned char)needle[j])) j++;
        if (j == n) return 1;
    }
    return 0;
}

sb_status sb_multi_resolve(const char *spec, int *index, int cap, int *n, sb_err *e) {
    sb_status st = SB_OK;
    sb_device_info *list = NULL;
    int nd = 0, k = 0;
    *n = 0;
    if (!spec || !*spec) SB_FAIL(SB_ERR_ARG, "empty device list");
    SB_TRY(sb_devices_list(&list, &nd, e));
    if (nd == 0)
        SB_FAIL(SB_ERR_NO_DEVICE, "no OpenCL device found (is an ICD such as pocl-opencl-icd installed?)");
    for (const char *p = spec;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *a = p, *b = p + len;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        size_t il = (size_t)(b - a);
        if (il == 0) SB_FAIL(SB_ERR_ARG, "device list '%s': item %d is empty", spec, k + 1);
        if (k == cap) SB_FAIL(SB_ERR_ARG, "device list '%s' names more than %d devices", spec, cap);
        char item[256];
        snprintf(item, sizeof item, "%.*s", (int)(il < 255 ? il : 255), a);
        int pick = -1, digits = 1;
        for (size_t i = 0; i < il; i++)
            if (!isdigit((unsigned char)a[i])) digits = 0;
        if (digits) {
            long v = strtol(item, NULL, 10);
            if (il > 9 || v >= nd)
                SB_FAIL(SB_ERR_NO_DEVICE, "device index %s out of range: %d device(s) found", item, nd);
            pick = (int)v;
            for (int j = 0; j < k; j++)
                if (index[j] == pick)
                    SB_FAIL(SB_ERR_ARG, "device list '%s' names device %d twice", spec, pick);
        } else {
            for (int i = 0; i < nd && pick < 0; i++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= index[j] == i;
                if (taken) continue;
                char all[800];
                snprintf(all, sizeof all, "%s %s %s %s", list[i].platform_name, list[i].name,
                         list[i].vendor, sb_device_type_string(list[i].type));
                if (icontains(all, a, il)) pick = i;
            }
            if (pick < 0)
                SB_FAIL(SB_ERR_NO_DEVICE, "device list '%s': no further OpenCL device matches '%s'",
                        spec, item);
        }
        index[k++] = pick;
        if (!end) break;
        p = end + 1;
    }
    *n = k;
done:
    free(list);
    return st;
}

void sb_multi_free(sb_multi *mm) {
    if (!mm) return;
    if (mm->dev)
        for (int i = 0; i < mm->n; i++) sb_model_impl_free(mm->dev[i]);
    free(mm->dev);
    free(mm->stats);
    free(mm);
}

/* Put "device i (name): " in front of e->msg. */
static void prefix_device(sb_err *e, int index, const char *name) {
    char head[320];
    if (name)
        snprintf(head, sizeof head, "device %d (%s): ", index, name);
    else
        snprintf(head, sizeof head, "device %d: ", index);
    size_t hl = strlen(head), ml = strlen(e->msg);
    if (hl + ml + 1 > sizeof e->msg) ml = sizeof e->msg - hl - 1;
    memmove(e->msg + hl, e->msg, ml);
    e->msg[hl + ml] = '\0';
    memcpy(e->msg, head, hl);
}

sb_status sb_multi_create(const char *path, const sb_rt_options *base, const int *index, int n,
                          sb_multi **out, sb_err *e) {
    sb_status st = SB_OK;
    sb_multi *mm = NULL;
    *out = NULL;
    if (n < 2 || n > SB_MULTI_MAX_DEVICES)
        return sb_fail(e, SB_ERR_ARG, "a multi-device model needs 2..%d devices, not %d",
                       SB_MULTI_MAX_DEVICES, n);
    mm = calloc(1, sizeof *mm);
    if (!mm) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
    mm->n = n;
    mm->dev = calloc((size_t)n, sizeof *mm->dev);
    if (!mm->dev) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < n; i++) {
        sb_rt_options o = {0};
        char sel[32];
        if (base) o = *base;
        snprintf(sel, sizeof sel, "%d", index[i]);
        o.device = sel;
        mm->index[i] = index[i];
        st = sb_model_impl_create(path, &o, &mm->dev[i], e);
        if (st != SB_OK) {
            if (st < 200 || st >= 300) /* file errors are the same on every device */
                prefix_device(e, index[i], NULL);
            goto done;
        }
    }
    mm->stats = calloc((size_t)mm->dev[0]->cfg.n_layers, sizeof *mm->stats);
    if (!mm->stats) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    *out = mm;
    return SB_OK;
done:
    sb_multi_free(mm);
    return st;
}

int sb_multi_split(int B, int L, const int32_t *lengths, int parts, int *cut) {
    int k = parts < B ? parts : B;
    if (k < 1) k = 1;
    double total = 0;
    for (int b = 0; b < B; b++) total += lengths ? lengths[b] : L;
    cut[0] = 0;
    int c = 0;
    double pre = 0; /* tokens in sequences [0, c) */
    for (int p = 1; p < k; p++) {
        double target = total * p / k;
        int lo = cut[p - 1] + 1, hi = B - (k - p);
        while (c < lo) {
            pre += lengths ? lengths[c] : L;
            c++;
        }
        /* advance while the next boundary is at least as close to the target */
        while (c < hi) {
            double next = pre + (lengths ? lengths[c] : L);
            double dn = next - target, dc = pre - target;
            if ((dn < 0 ? -dn : dn) > (dc < 0 ? -dc : dc)) break;
            pre = next;
            c++;
        }
        cut[p] = c;
    }
    cut[k] = B;
    return k;
}

/* Argument checks with indices of the whole batch (the per-device forward
 * would report indices within its part). */
static sb_status check_batch(const sb_config *c, int B, int L, const float *x, const int32_t *ids,
                             const int32_t *lengths, const float *out, sb_err *e) {
    if (B < 1 || L < 1) return sb_fail(e, SB_ERR_ARG, "batch %d x length %d: both must be >= 1", B, L);
    if (!out) return sb_fail(e, SB_ERR_ARG, "output pointer is NULL");
    if (sb_config_token_input(c) && !ids)
        return sb_fail(e, SB_ERR_ARG, "this is an lm model: token ids are required");
    if (!sb_config_token_input(c) && !x)
        return sb_fail(e, SB_ERR_ARG, "this is a %s model: float input is required",
                       sb_task_name(c->task));
    if ((size_t)B * (size_t)L > (size_t)1 << 31)
        return sb_fail(e, SB_ERR_ARG, "batch %d x length %d is too large", B, L);
    for (int b = 0; b < B; b++) {
        int n = lengths ? lengths[b] : L;
        if (n < 1 || n > L)
            return sb_fail(e, SB_ERR_ARG, "lengths[%d] = %d is outside 1..L (L = %d)", b, n, L);
        if (sb_config_token_input(c))
            for (int t = 0; t < n; t++) {
                int32_t id = ids[(size_t)b * L + t];
                if (id < 0 || id >= c->vocab_size)
                    return sb_fail(e, SB_ERR_ARG,
                                   "token id %d at [%d, %d] is outside the vocabulary 0..%d", id, b,
                                   t, c->vocab_size - 1);
            }
    }
    return SB_OK;
}

typedef struct job {
    sb_model_impl *m;
    int B, L;
    const float *x;
    const int32_t *ids, *lengths;
    float *out;
    sb_status st;
    sb_err err;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    sb_err_clear(&j->err);
    j->st = sb_model_impl_forward(j->m, j->B, j->L, j->x, j->ids, j->lengths, j->out, &j->err);
    return NULL;
}

sb_status sb_multi_forward(sb_multi *mm, int B, int L, const float *x, const int32_t *ids,
                           const int32_t *lengths, float *out, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &mm->dev[0]->cfg;
    job *jobs = NULL;
    pthread_t *th = NULL;
    char *started = NULL;
    int cut[SB_MULTI_MAX_DEVICES + 1];
    SB_TRY(check_batch(c, B, L, x, ids, lengths, out, e));
    int k = sb_multi_split(B, L, lengths, mm->n, cut);
    jobs = calloc((size_t)k, sizeof *jobs);
    th = calloc((size_t)k, sizeof *th);
    started = calloc((size_t)k, 1);
    if (!jobs || !th || !started) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    size_t F = sb_config_token_input(c) ? 0 : (size_t)c->d_input;
    size_t per = (c->task == SB_TASK_CLASSIFY ? 1 : (size_t)L) * (size_t)c->d_output;
    for (int p = 0; p < k; p++) {
        size_t b0 = (size_t)cut[p];
        job *j = &jobs[p];
        j->m = mm->dev[p];
        j->B = cut[p + 1] - cut[p];
        j->L = L;
        j->x = x ? x + b0 * (size_t)L * F : NULL;
        j->ids = ids ? ids + b0 * (size_t)L : NULL;
        j->lengths = lengths ? lengths + b0 : NULL;
        j->out = out + b0 * per;
    }
    /* devices 1.. on their own threads, device 0 on this one; a thread that
     * cannot be started runs here afterwards */
    for (int p = 1; p < k; p++) started[p] = pthread_create(&th[p], NULL, run_job, &jobs[p]) == 0;
    run_job(&jobs[0]);
    for (int p = 1; p < k; p++) {
        if (started[p])
            pthread_join(th[p], NULL);
        else
            run_job(&jobs[p]);
    }
    for (int p = 0; p < k; p++) {
        if (jobs[p].st != SB_OK) {
            *e = jobs[p].err;
            e->status = jobs[p].st;
            prefix_device(e, mm->index[p], mm->dev[p]->rt->dev.name);
            st = jobs[p].st;
            goto done;
        }
    }
    for (int l = 0; l < c->n_layers; l++) {
        sb_layer_stats s = {0, 0, 0.0};
        for (int p = 0; p < k; p++) {
            const sb_layer_stats *d = &mm->dev[p]->stats[l];
            s.tokens += d->tokens;
            s.activated += d->activated;
            if (d->ms > s.ms) s.ms = d->ms;
        }
        mm->stats[l] = s;
    }
    mm->used = k;
done:
    free(jobs);
    free(th);
    free(started);
    return st;
}

sb_status sb_multi_plan(sb_multi *mm, int batch, int length, size_t *peak, sb_err *e) {
    sb_status st = SB_OK;
    int k = batch < mm->n ? batch : mm->n;
    int share = (batch + k - 1) / k;
    size_t best = 0;
    for (int p = 0; p < k; p++) {
        size_t pk = 0;
        st = sb_model_impl_plan(mm->dev[p], share * length, share, (size_t)share * length, &pk, e);
        if (st != SB_OK) {
            prefix_device(e, mm->index[p], mm->dev[p]->rt->dev.name);
            return st;
        }
        if (pk > best) best = pk;
    }
    if (peak) *peak = best;
    return SB_OK;
}

void sb_multi_describe(const sb_multi *mm, char *buf, size_t cap) {
    size_t n = 0;
    if (!cap) return;
    buf[0] = '\0';
    int k = snprintf(buf, cap, "%d devices:", mm->n);
    if (k < 0) return;
    n = (size_t)k < cap ? (size_t)k : cap - 1;
    for (int i = 0; i < mm->n && n + 1 < cap; i++) {
        k = snprintf(buf + n, cap - n, "%s [%d] %s", i ? ";" : "", mm->index[i],
                     mm->dev[i]->rt->dev.name);
        if (k < 0) return;
        n += (size_t)k < cap - n ? (size_t)k : cap - n - 1;
    }
}
