#!/usr/bin/env python3
"""Time the authors' PyTorch SeqBoat layer next to `seqboat bench`.

The reference is `standalone_seqboat.py` from a checkout of the authors'
repository that YOU provide (nothing of it is shipped here):

    pip install torch einops numpy
    seqboat bench --lengths 4096,32768 --shares 0.5 --methods sma \
        --save-model /tmp/bench.safetensors --json ours.json
    bench/reference_pytorch.py --reference-dir ~/src/SeqBoat \
        --model /tmp/bench.safetensors --json ours.json

It builds one `SeqBoatLayer` per layer of the model file with the same
hyper-parameters, loads the same weights from the safetensors file (strictly:
every tensor of the layer must be there), forces the same activation share as
`seqboat bench` (the router inputs are overwritten by a forward hook on
`hx_proj` with the same hash rule as runtime/ops/bench_force.h), and times the
layers alone (eval mode, no grad, CPU, --threads threads) on random input of
the same lengths. With --json it adds `ref_tokens_per_s`, `ref_ms`,
`ref_ratio` (our whole-forward tokens/s / the reference's layers-only tokens/s:
a conservative figure, ours includes the encoder, decoder and host copies) and
`ref_ratio_layers` (reference layer time / our layer time) to every matching
result row, plus a `reference` object in the header. Lengths whose L x L bias
(the reference builds one, about 17 bytes x L^2 at its peak) does not fit in
the available memory are recorded as skipped, not run (--force runs them).

This is a tool, not part of the test suite.
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import time

import numpy as np

DTYPES = {'F32': np.float32, 'I64': np.int64, 'I32': np.int32}


def read_safetensors(path):
    """(tensors as numpy arrays, metadata dict) of a safetensors file."""
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop('__metadata__', {}) or {}
    out = {}
    for name, t in header.items():
        a, b = t['data_offsets']
        arr = np.frombuffer(data[a:b], dtype=DTYPES[t['dtype']]).reshape(t['shape'])
        out[name] = arr.copy()
    return out, meta


def force_hash32(t):
    """The integer mix of runtime/ops/bench_force.h on a uint32 array."""
    x = t.astype(np.uint32)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7feb352d)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846ca68b)
    x ^= x >> np.uint32(16)
    return x


def force_mask(L, share):
    """Activated positions 0..L-1 at `share` (bool array), as in the library."""
    thr = 0 if not share > 0 else (1 << 24 if share >= 1 else int(share * 16777216.0 + 0.5))
    return (force_hash32(np.arange(L, dtype=np.uint32)) >> np.uint32(8)) < thr


def mem_available():
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def git_commit(d):
    try:
        return subprocess.run(['git', '-C', d, 'rev-parse', 'HEAD'], capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def build_layers(S, torch, tensors, meta):
    def b(k):
        return meta.get(k) == 'true'
    n_layers = int(meta['n_layers'])
    D = int(meta['d_model'])
    layers = []
    for i in range(n_layers):
        lay = S.SeqBoatLayer(D, int(meta['d_qk']), int(meta['d_hidden']), int(meta['d_ema']),
                             bidirectional=b('bidirectional'), window_size=int(meta['mem_size']),
                             truncation=(int(meta['truncation']) or None), prenorm=b('prenorm'),
                             norm_type=meta['norm_type'], max_positions=int(meta['max_positions']),
                             rel_pos_bias=meta['rel_pos_bias'],
                             attention_activation=meta['attention_activation'], dropout=0.0)
        pre = 'seq_layers.%d.' % i
        sd = {}
        for k in lay.state_dict().keys():
            arr = tensors.get(pre + k)
            if arr is None:
                raise SystemExit('model file has no tensor %s%s' % (pre, k))
            want = tuple(lay.state_dict()[k].shape)
            sd[k] = torch.from_numpy(arr.reshape(want) if arr.size == int(np.prod(want)) else arr)
        lay.load_state_dict(sd, strict=True)
        lay.eval()
        layers.append(lay)
    return layers, D


def time_reference(torch, layers, D, B, L, share, warmup, repeats, max_seconds):
    hooks = []
    if share is not None and share >= 0:
        on = torch.from_numpy(force_mask(L, share))

        def hook(mod, inp, out):  # out: B x L x (2 + D); positions along dim 1
            out = out.clone()
            out[..., 0] = 0.0
            out[..., 1] = torch.where(on, 1.0, -1.0).to(out.dtype)[None, :out.shape[1]]
            return out
        hooks = [lay.hx_proj.register_forward_hook(hook) for lay in layers]
    g = torch.Generator().manual_seed(1)
    x = torch.rand(L, B, D, generator=g) * 2 - 1
    times = []
    try:
        with torch.no_grad():
            for _ in range(warmup):
                y = x
                for lay in layers:
                    y = lay(y)
            t_start = time.perf_counter()
            for _ in range(repeats):
                t0 = time.perf_counter()
                y = x
                for lay in layers:
                    y = lay(y)
                times.append((time.perf_counter() - t0) * 1e3)
                if max_seconds and time.perf_counter() - t_start > max_seconds:
                    break
    finally:
        for h in hooks:
            h.remove()
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--reference-dir', required=True,
                    help='folder holding standalone_seqboat.py (a checkout you provide)')
    ap.add_argument('--model', required=True, help='model file (seqboat bench --save-model)')
    ap.add_argument('--json', help='our bench JSON: lengths/shares from it, ratios added to it')
    ap.add_argument('--out', help='write the updated JSON here (default: over --json)')
    ap.add_argument('--lengths', default='4096', help='without --json: comma-separated lengths')
    ap.add_argument('--share', type=float, default=0.5,
                    help='without --json: forced share (negative: the router)')
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--max-seconds', type=float, default=120)
    ap.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--force', action='store_true', help='run lengths that look too large for memory')
    a = ap.parse_args()

    sys.path.insert(0, os.path.abspath(a.reference_dir))
    try:
        import torch
        import standalone_seqboat as S
    except ImportError as ex:
        raise SystemExit('cannot import torch / einops / standalone_seqboat from %s: %s'
                         % (a.reference_dir, ex))
    torch.set_num_threads(a.threads)
    tensors, meta = read_safetensors(a.model)
    layers, D = build_layers(S, torch, tensors, meta)

    ours = None
    points = []  # (B, L, share)
    if a.json:
        with open(a.json) as f:
            ours = json.load(f)
        for r in ours['results']:
            if r.get('status') == 'ok' and r['method'] in ('sma', 'dense', 'model'):
                p = (r['B'], r['L'], r['share_target'])
                if p not in points:
                    points.append(p)
    else:
        for L in a.lengths.split(','):
            points.append((a.batch, int(L), a.share))

    avail = mem_available()
    results = []
    for B, L, share in points:
        need = 17.0 * L * L * B
        entry = {'B': B, 'L': L, 'share_target': share}
        if avail is not None and need > 0.8 * avail and not a.force:
            entry['status'] = ('skipped: the reference needs about %.1f GiB (L x L bias), %.1f GiB '
                               'available' % (need / 2**30, avail / 2**30))
        else:
            try:
                t = time_reference(torch, layers, D, B, L, share if share is not None else -1,
                                   a.warmup, a.repeats, a.max_seconds)
                med = statistics.median(t)
                entry.update(status='ok', repeats=len(t), ms_min=min(t), ms_median=med,
                             ms_max=max(t), tokens_per_s=B * L / (med * 1e-3))
            except (RuntimeError, MemoryError) as ex:
                entry['status'] = 'error: %s' % str(ex).split('\n')[0][:200]
        print('reference B=%d L=%d share=%s: %s' % (B, L, share, entry.get('status')) +
              (' %.1f ms, %.0f tokens/s' % (entry['ms_median'], entry['tokens_per_s'])
               if entry.get('status') == 'ok' else ''), flush=True)
        results.append(entry)

    ref = {'tool': 'bench/reference_pytorch.py', 'reference_dir': os.path.abspath(a.reference_dir),
           'reference_commit': git_commit(a.reference_dir), 'torch_version': torch.__version__,
           'threads': a.threads, 'model': a.model, 'timed': 'SeqBoatLayer stack only, eval, no grad',
           'results': results}
    if ours is None:
        out = a.out or 'reference.json'
        with open(out, 'w') as f:
            json.dump({'reference': ref}, f, indent=1)
        print('wrote', out)
        return
    for r in ours['results']:
        for e in results:
            if (e['B'], e['L'], e['share_target']) == (r['B'], r['L'], r['share_target']) \
                    and e['status'] == 'ok' and r.get('status') == 'ok' \
                    and r['method'] in ('sma', 'dense', 'model'):
                r['ref_tokens_per_s'] = e['tokens_per_s']
                r['ref_ms'] = e['ms_median']
                r['ref_ratio'] = r['tokens_per_s'] / e['tokens_per_s']
                if r.get('layer_ms'):
                    r['ref_ratio_layers'] = e['ms_median'] / r['layer_ms']
                print('  ours %s L=%d: %.0f tokens/s, reference %.0f: ratio %.2f (layers only %.2f)'
                      % (r['method'], r['L'], r['tokens_per_s'], e['tokens_per_s'], r['ref_ratio'],
                         r.get('ref_ratio_layers', 0)))
    ours['header']['reference'] = ref
    out = a.out or a.json
    with open(out, 'w') as f:
        json.dump(ours, f, indent=1)
    print('wrote', out)


if __name__ == '__main__':
    main()
