/* multi.h - one model on several devices: a batch is split by sequences.
 *
 * A device selection with commas ("0,1", "pthread,pthread", "1, gpu") names
 * several devices. One sb_model_impl is loaded per device (weights, kernels and
 * activation memory each on their own device). A forward splits the batch into
 * contiguous runs of sequences, balanced by valid-token count, runs each run on
 * its device concurrently (the caller's thread drives device 0, one pthread per
 * other device; a per-device model is only ever used by one thread at a time)
 * and writes each run's outputs straight into its rows of the caller's buffer.
 *
 * Outputs equal one-device outputs bit for bit on a given kind of device:
 * activations are packed per sequence and every op's result for a sequence
 * depends only on that sequence's rows, so which other sequences share a device
 * does not change any value (tests/test_multidevice.c checks this).
 */
#ifndef SB_MULTI_H
#define SB_MULTI_H
#include "model.h"

#define SB_MULTI_MAX_DEVICES 64

typedef struct sb_multi {
    int n;                   /* devices, >= 2 */
    int index[SB_MULTI_MAX_DEVICES]; /* global device indices */
    sb_model_impl **dev;     /* [n] per-device models; dev[0] also serves streams */
    sb_layer_stats *stats;   /* [n_layers] merged figures of the last forward */
    int used;                /* devices that took part in the last forward */
} sb_multi;

/* Does this selection name several devices (contains a comma)? NULL/"" are
 * read through env SEQBOAT_DEVICE first. Returns the effective string through
 * *eff (may be NULL) */
int sb_multi_is_list(const char *spec, const char **eff);

/* Resolve a comma-separated selection into distinct global device indices:
 * each item is a decimal index or a case-insensitive substring of
 * "platform device vendor type"; a substring picks the first matching device
 * not already picked, so "pthread,pthread" names two devices. */
sb_status sb_multi_resolve(const char *spec, int *index, int cap, int *n, sb_err *e);

/* Load the model file onto each device in index[0..n). */
sb_status sb_multi_create(const char *path, const sb_rt_options *base, const int *index, int n,
                          sb_multi **out, sb_err *e);
void sb_multi_free(sb_multi *mm);

/* Split B sequences (lengths or NULL = all L) into at most `parts` contiguous
 * runs balanced by token count; cut[0..k] are run boundaries (cut[0] = 0,
 * cut[k] = B), every run non-empty. Returns k = min(parts, B). */
int sb_multi_split(int B, int L, const int32_t *lengths, int parts, int *cut);

/* sb_model_impl_forward over the devices (same arguments and layout). */
sb_status sb_multi_forward(sb_multi *mm, int B, int L, const float *x, const int32_t *ids,
                           const int32_t *lengths, float *out, sb_err *e);

/* Plan every device for its share of a batch x length; *peak = the largest
 * per-device peak. */
sb_status sb_multi_plan(sb_multi *mm, int batch, int length, size_t *peak, sb_err *e);

/* "N devices: [i] name; [j] name" into buf. */
void sb_multi_describe(const sb_multi *mm, char *buf, size_t cap);
#endif
