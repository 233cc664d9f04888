"""Checkpoints of the authors' SeqBoatModel and their reference outputs, for
the converter tests (bindings/python/tests/test_convert.py). Needs torch, einops
and numpy and the authors' standalone_seqboat.py (renll/SeqBoat) on PYTHONPATH;
the tests themselves need none of that.

    PYTHONPATH=DIR_WITH_standalone_seqboat.py python3 tests/tools/make_convert_data.py tests/data/convert

Writes, for each case NAME (tiny dimensions, every parameter given a value
that matters, eval mode):
  NAME.model.pth          torch.save({'model': state_dict, 'acc': ..., 'epoch': ...})
                          (standalone_cifar.py's layout)
  NAME.module.pth         bare DataParallel state_dict: every key 'module.'-prefixed
  NAME.io.safetensors     input, lengths, output (the reference, one sequence at a time)
plus
  half.state_dict.pth     the 'default' model in float16 under 'state_dict'
  half.io.safetensors     its reference (the float16 weights widened to float32)
  bf16.net.pth            the 'variant' model in bfloat16 under 'net'
  bf16.io.safetensors     its reference
  malicious_os_system.pth torch.save of a dict whose pickle calls os.system(
                          'touch seqboat_convert_payload_ran') (relative to the cwd)
  cases.json              each case: file, conversion options, comparison
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

import standalone_seqboat as S

MODEL = dict(d_input=3, d_output=5, d_model=16, n_layers=2, d_qk=8, d_ema=4,
             max_positions=64)
CASES = [
    # SeqBoatModel's defaults: bidirectional, batchnorm, relu2, simple bias,
    # mem_size 128 (prenorm on, as the authors' CIFAR recipe recommends). L beyond
    # both max_positions and the window.
    dict(name="default", model=dict(MODEL, prenorm=True), options=[],
         B=2, L=300, lengths=[300, 211], seed=11),
    # causal, layernorm, softmax, rotary, post-norm
    dict(name="variant",
         model=dict(MODEL, d_output=4, mem_size=8, bidirectional=False, norm_type="layernorm",
                    attention_activation="softmax", rel_pos_bias="rotary", prenorm=False),
         options=["--mem-size", "8", "--attention-activation", "softmax"],
         B=2, L=60, lengths=[60, 23], seed=12),
]


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        code = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}[arr.dtype]
        b = arr.tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def randomize(model, g):
    """Values that make every path count (the defaults zero several biases)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if name.endswith("q_router.temp"):
                p.add_(0.3 * r)
            elif name.endswith("rel_pos_bias.rel_pos_bias"):
                p.copy_(0.5 * r)
            elif ".ssm." in name:
                continue  # the reference's own EMA initialisation is already generic
            elif name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * r)
            elif name.endswith(".bias"):
                p.copy_(0.1 * r)
            elif name.endswith(".weight") and p.dim() == 2:
                p.copy_(r / math.sqrt(p.shape[1]))
            elif name.endswith(".gamma"):
                p.copy_(r)
            elif name.endswith(".beta"):
                p.copy_(0.5 * r)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(0.5 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(m.running_var.shape, generator=g))
                m.num_batches_tracked.fill_(1234)
        for lay in model.seq_layers:
            lay.h_proj.weight.mul_(3.0)


def reference(model, x, lengths):
    """Outputs one sequence at a time, and the smallest router margin seen."""
    margins = []
    hooks = [lay.hx_proj.register_forward_hook(
        lambda m, i, o: margins.append(float((o[..., 1] - o[..., 0]).abs().min())))
        for lay in model.seq_layers]
    with torch.no_grad():
        y = torch.cat([model(x[b:b + 1, :n]) for b, n in enumerate(lengths)], 0)
    for h in hooks:
        h.remove()
    return y.numpy().astype(np.float32), min(margins)


class Payload:
    """Pickles as a call of os.system: what a hostile checkpoint does."""

    def __reduce__(self):
        return (os.system, ("touch seqboat_convert_payload_ran",))


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    info = []
    built = {}
    for c in CASES:
        torch.manual_seed(c["seed"])
        g = torch.Generator().manual_seed(c["seed"])
        model = S.SeqBoatModel(**c["model"], dropout=0.0)
        randomize(model, g)
        model.eval()
        x = torch.randn(c["B"], c["L"], c["model"]["d_input"], generator=g)
        y, margin = reference(model, x, c["lengths"])
        built[c["name"]] = (model, x, c)
        name = c["name"]
        torch.save({"model": model.state_dict(), "acc": 87.5, "epoch": 3},
                   os.path.join(outdir, name + ".model.pth"))
        torch.save(nn.DataParallel(model).state_dict(), os.path.join(outdir, name + ".module.pth"))
        save_safetensors(os.path.join(outdir, name + ".io.safetensors"),
                         {"input": x.numpy().astype(np.float32),
                          "lengths": np.array(c["lengths"], np.int64), "output": y})
        for layout in ("model", "module"):
            info.append({"checkpoint": "%s.%s.pth" % (name, layout), "io": name + ".io.safetensors",
                         "options": c["options"], "model": c["model"],
                         "min_router_margin": margin})
    for tag, src, dtype, wrapper in (("half", "default", torch.float16, "state_dict"),
                                     ("bf16", "variant", torch.bfloat16, "net")):
        model, x, c = built[src]
        low = {k: (v.to(dtype) if v.is_floating_point() else v)
               for k, v in model.state_dict().items()}
        # a fresh model: in eval mode the reference caches its EMA kernel
        model = S.SeqBoatModel(**c["model"], dropout=0.0)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in low.items()})
        model.eval()
        y, margin = reference(model, x, c["lengths"])
        torch.save({wrapper: low, "step": 10}, os.path.join(outdir, "%s.%s.pth" % (tag, wrapper)))
        save_safetensors(os.path.join(outdir, tag + ".io.safetensors"),
                         {"input": x.numpy().astype(np.float32),
                          "lengths": np.array(c["lengths"], np.int64), "output": y})
        info.append({"checkpoint": "%s.%s.pth" % (tag, wrapper), "io": tag + ".io.safetensors",
                     "options": c["options"], "model": c["model"], "dtype": str(dtype),
                     "min_router_margin": margin})
    model = built["variant"][0]
    torch.save({"epoch": Payload(), "model": model.state_dict()},
               os.path.join(outdir, "malicious_os_system.pth"))
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump({"made_with": "torch %s, standalone_seqboat.py of renll/SeqBoat (commit 5a34aed)"
                   % torch.__version__, "cases": info}, f, indent=1)
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
