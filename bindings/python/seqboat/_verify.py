"""The converter's writing and checking (seqboat.convert): the safetensors
writer, the temporary file, and the check run of a converted model with the
library: one short forward (format version 1) or an input file through
run_file (version 2, as `seqboat run`); for a file stored as f16 or bf16 the
same input also runs through the float32 model and the outputs must agree
within seqboat._dtype's limits.
"""
import json
import os
import struct
import tempfile

import numpy as np

from . import _dtype


class ConvertError(ValueError):
    """A checkpoint or module that cannot become a seqboat model; the message says why."""


def _write_safetensors(f, tensors, metadata):
    header, off = {"__metadata__": metadata}, 0
    for name, v in tensors.items():
        code, arr = _dtype.code_and_array(v)
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [off, off + arr.nbytes]}
        off += arr.nbytes
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for v in tensors.values():
        f.write(_dtype.code_and_array(v)[1].tobytes(order="C"))


def _check_model(path, cfg, device):
    """Load the file with the library and run one short forward."""
    from . import Model
    rng = np.random.default_rng(0)
    L = 12
    lengths = [L, 5]
    with Model(path, device=device, cache_dir=None) as m:
        if cfg["task"] == "lm":
            x = rng.integers(0, cfg["vocab_size"], size=(2, L))
        else:
            x = rng.standard_normal((2, L, cfg["d_input"])).astype(np.float32)
        y = m.forward(x, lengths=lengths)
        dev = m.info.device
        acts = _activated(m)
    want = (2, cfg["d_output"]) if cfg["task"] == "classify" else (2, L, cfg["d_output"])
    if y.shape != want:
        raise ConvertError("check failed: a forward of the converted model gave shape %s, "
                           "not %s" % (list(y.shape), list(want)))
    if not np.all(np.isfinite(y)):
        raise ConvertError("check failed: a forward of the converted model gave non-finite "
                           "values")
    return "check: loaded on %s, forward of 2 sequences (lengths %s) -> %s, finite" % (
        dev, lengths, list(y.shape)), y, acts


def _write_tmp(output, arrays, metadata):
    """Write arrays to a new temporary file next to output; returns its path."""
    d = os.path.dirname(os.path.abspath(output))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(output) + ".", suffix=".tmp",
                                   dir=d)
    except OSError as exc:
        raise ConvertError("cannot write %s: %s" % (output, exc.strerror or exc)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            _write_safetensors(f, arrays, metadata)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        os.unlink(tmp)
        raise ConvertError("cannot write %s: %s" % (output, exc.strerror or exc)) from None
    return tmp


def _activated(m):
    """Activated tokens per layer of the model's last forward (the router's decisions)."""
    try:
        return [a for _, a, _ in m.layer_stats()]
    except Exception:  # an older library without the figures: no flip detection
        return None


def _check_dtype(tmp, arrays, metadata, cfg, device, checker, dtype, output):
    """The check of a file stored as dtype: its output against the float32
    model's on the same input, within _dtype.CHECK_REL_L2, or, when a router
    decision came out otherwise (activated tokens per layer differ), within
    _dtype.CHECK_REL_L2_FLIP."""
    msg, y, acts = checker(tmp, cfg, device)
    if dtype == "f32":
        return msg
    ref = _write_tmp(output, arrays, metadata)
    try:
        _, y32, acts32 = checker(ref, cfg, device)
    finally:
        os.unlink(ref)
    rel, mx = _dtype.agreement(y, y32)
    flip = acts is not None and acts32 is not None and acts != acts32
    lim = (_dtype.CHECK_REL_L2_FLIP if flip else _dtype.CHECK_REL_L2)[dtype]
    why = (" (a router decision flipped: activated tokens per layer %s, float32 %s)"
           % (acts, acts32)) if flip else ""
    if not rel <= lim:
        raise ConvertError("check failed: stored as %s, the model's output differs from the "
                           "float32 model's by a relative L2 error of %.3g (limit %g%s; max abs "
                           "error %.3g); store it as --dtype f32"
                           % (_dtype.CODES[dtype], rel, lim, why, mx))
    return "%s; against float32: relative L2 error %.3g (limit %g%s), max abs error %.3g" % (
        msg, rel, lim, why, mx)


def _check_model_file(path, cfg, device):
    """Load the file with the library and run one short input file through it
    (run_file: the same path as `seqboat run`, two inputs for a pair model)."""
    from . import Model
    rng = np.random.default_rng(0)
    L = 12
    d = os.path.dirname(os.path.abspath(path))
    io = {}
    tokens = cfg["vocab_size"] > 0 and cfg.get("d_input", 0) == 0
    for name, n in (("input", L), ("input2", L - 3)):
        if name == "input2" and cfg.get("pair", "none") == "none":
            break
        if tokens:
            io[name] = rng.integers(0, cfg["vocab_size"], size=(1, n)).astype("<i8")
        else:
            io[name] = rng.standard_normal((1, n, cfg["d_input"])).astype("<f4")
    fd, inp = tempfile.mkstemp(prefix=".seqboat-check.", suffix=".in.safetensors", dir=d)
    outp = inp[:-len(".in.safetensors")] + ".out.safetensors"
    try:
        with os.fdopen(fd, "wb") as f:
            _write_safetensors(f, io, {})
        with Model(path, device=device, cache_dir=None) as m:
            m.run_file(inp, outp)
            dev = m.info.device
            acts = _activated(m)
        y = _read_output(outp)
    finally:
        for q in (inp, outp):
            try:
                os.unlink(q)
            except OSError:
                pass
    want = (1, cfg["d_output"]) if cfg["task"] == "classify" else (1, L, cfg["d_output"])
    if y.shape != want:
        raise ConvertError("check failed: the converted model gave shape %s, not %s"
                           % (list(y.shape), list(want)))
    if not np.all(np.isfinite(y)):
        raise ConvertError("check failed: the converted model gave non-finite values")
    return "check: loaded on %s, ran an input file of %s -> %s, finite" % (
        dev, " and ".join(str(list(a.shape)) for a in io.values()), list(y.shape)), y, acts


def _read_output(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    h = json.loads(raw[8:8 + n].decode("utf-8"))["output"]
    if h["dtype"] != "F32":
        raise ConvertError("check failed: output dtype %s" % h["dtype"])
    a, b = h["data_offsets"]
    return np.frombuffer(raw[8 + n + a:8 + n + b], "<f4").reshape(h["shape"])
