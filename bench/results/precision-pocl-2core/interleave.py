#!/usr/bin/env python3
"""Interleaved f32 / f16 / bf16 / int8 timing of one model (the weights'
storage, docs/PRECISION.md): the models are loaded side by side and timed in
turns (round r runs every storage once), so a noisy shared machine slows all
of them alike; the minimum over rounds is reported with its ratio to f32.

  interleave.py MODEL [--length L] [--steps N] [--rounds R]

forward: one sequence of L tokens (random inputs / ids), host wall clock.
decode: a stream after a prompt of 256 tokens, N single-token steps per round,
ms per token. Needs SEQBOAT_LIBRARY (or the source tree's build) and numpy."""
import argparse
import time

import numpy as np
import seqboat as sb

KINDS = (("f32", "f32", None), ("f16", "f16", None), ("bf16", "bf16", None), ("int8", "f32", "int8"))

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--length", type=int, default=2048)
ap.add_argument("--steps", type=int, default=64)
ap.add_argument("--rounds", type=int, default=7)
a = ap.parse_args()
models = {k: sb.Model(a.model, precision=p, weights=w) for k, p, w in KINDS}
info = models["f32"].info
rng = np.random.default_rng(1)
if info.d_input:
    x = rng.standard_normal((1, a.length, info.d_input)).astype(np.float32)
    prompt = x[0, :256]
    toks = [x[0, i % a.length] for i in range(a.steps)]
else:
    x = rng.integers(0, info.vocab_size, (1, a.length)).astype(np.int32)
    prompt = x[0, :256]
    toks = [int(x[0, i % a.length]) for i in range(a.steps)]
fwd = {k: [] for k in models}
dec = {k: [] for k in models}
streams = {k: m.stream() for k, m in models.items()}
for k, m in models.items():  # first use: kernel builds, plans
    m.forward(x)
    streams[k].feed(prompt)
for r in range(a.rounds):
    for k, m in models.items():
        t0 = time.perf_counter()
        m.forward(x)
        fwd[k].append((time.perf_counter() - t0) * 1e3)
        s = streams[k]
        s.reset()
        s.feed(prompt)
        t0 = time.perf_counter()
        for t in toks:
            s.step(t)
        dec[k].append((time.perf_counter() - t0) * 1e3 / a.steps)
print("model %s (D=%d, %d layers), forward L=%d, decode %d steps after 256, %d rounds, min over rounds"
      % (a.model, info.d_model, info.n_layers, a.length, a.steps, a.rounds))
for k in models:
    print("%-5s weights %8.3f MiB (%5.1f %%)  forward %8.2f ms (%.2fx f32)  decode %7.4f ms/token (%.2fx f32)"
          % (k, models[k].weight_bytes / 2**20, 100.0 * models[k].weight_bytes / models["f32"].weight_bytes,
             min(fwd[k]), min(fwd["f32"]) / min(fwd[k]), min(dec[k]), min(dec["f32"]) / min(dec[k])))
