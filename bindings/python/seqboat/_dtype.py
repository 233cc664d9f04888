"""The stored dtype of a model file's float weights (seqboat-convert --dtype).

A model file's float tensors may be F32, F16 or BF16 (SPEC section 4, as
extended in docs/CONVERT.md "Storage dtype"); the library widens F16 and BF16
to float32 exactly when it loads them. Here float32 weights become the stored
dtype: float16 by numpy's round-to-nearest-even cast, bfloat16 by
round-to-nearest-even on the float32 bits (numpy has no bfloat16). Integer
tensors (num_batches_tracked) and the metadata are never changed.

Also a minimal reader of an existing model file, so that one can be stored in
another dtype (seqboat-convert MODEL.safetensors OUT.safetensors --dtype f16).
"""
import json
import struct

import numpy as np

DTYPES = ("f32", "f16", "bf16")
CODES = {"f32": "F32", "f16": "F16", "bf16": "BF16"}

# The post-conversion check runs the same input through the model stored in
# the dtype and in float32; the relative L2 error of the outputs must stay
# within CHECK_REL_L2, or within CHECK_REL_L2_FLIP when a router decision came
# out otherwise (the activated tokens per layer differ: a token near the
# router's threshold moves its whole attention output). Measured on 31
# fixture and reference cases (docs/CONVERT.md "Storage dtype"): largest
# without a flip 1.1e-3 (f16) and 8.3e-3 (bf16); with one 0.043 and 0.098.
CHECK_REL_L2 = {"f16": 5e-3, "bf16": 3e-2}
CHECK_REL_L2_FLIP = {"f16": 0.1, "bf16": 0.2}

F16_MAX = 65504.0


class DtypeError(ValueError):
    pass


def bf16_bits(a):
    """float32 array -> uint16 bfloat16 bits, round to nearest even (finite inputs)."""
    u = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.astype("<u2")


def bf16_to_f32(bits):
    return (np.asarray(bits, dtype="<u2").astype("<u4") << 16).view("<f4")


def store(arrays, dtype):
    """{name: float32 / int64 array} -> ({name: array or ("BF16", uint16 bits)},
    note or None). Refuses a value the dtype cannot hold (inf after rounding)."""
    if dtype not in DTYPES:
        raise DtypeError("--dtype %s is not one of %s" % (dtype, ", ".join(DTYPES)))
    if dtype == "f32":
        return dict(arrays), None
    out, n, worst, where, zeroed, small = {}, 0, 0.0, "", 0, 0
    tiny = 2.0 ** -14 if dtype == "f16" else 2.0 ** -126  # smallest normal
    for name, a in arrays.items():
        if a.dtype != np.float32:
            out[name] = a
            continue
        if dtype == "f16":
            big = float(np.max(np.abs(a))) if a.size else 0.0
            if big >= 65520.0:  # rounds to inf
                raise DtypeError("tensor %s holds %g, beyond float16's largest value %g; store the "
                                 "model as --dtype bf16 or f32" % (name, big, F16_MAX))
            s = a.astype("<f2")
            back = s.astype(np.float32)
            out[name] = s
        else:
            s = bf16_bits(a)
            back = bf16_to_f32(s).reshape(a.shape)
            if not np.all(np.isfinite(back)):
                raise DtypeError("tensor %s holds a value beyond bfloat16's range; store the model "
                                 "as --dtype f32" % name)
            out[name] = ("BF16", s.reshape(a.shape))
        n += 1
        mag = np.abs(a.astype(np.float64))
        normal = mag >= tiny
        small += int(np.count_nonzero((~normal) & (a != 0)))
        zeroed += int(np.count_nonzero((back == 0) & (a != 0)))
        if np.any(normal):
            d = np.abs(back.astype(np.float64) - a)[normal]
            rel = float(np.max(d / mag[normal]))
            if rel > worst:
                worst, where = rel, name
    note = ("stored %d float tensor(s) as %s (round to nearest even): largest relative rounding "
            "error %.3g (%s)" % (n, CODES[dtype], worst, where or "-"))
    if small:
        note += ("; %d nonzero value(s) below %s's normal range (%g) kept with less precision, "
                 "%d of them became 0" % (small, CODES[dtype], tiny, zeroed))
    return out, note


def code_and_array(v):
    """(safetensors dtype code, little-endian array) of a value of store()."""
    if isinstance(v, tuple):
        return v
    code = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("<i8"): "I64",
            np.dtype("<i4"): "I32"}[v.dtype]
    return code, v


def agreement(got, want):
    """(relative L2 error, max abs error) of got against want."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    d = got - want
    w2 = float(np.sum(want * want))
    rel = float(np.sqrt(np.sum(d * d) / w2)) if w2 > 0 else float(np.sqrt(np.sum(d * d)))
    return rel, float(np.max(np.abs(d))) if d.size else 0.0


def is_safetensors(path):
    """True when the file starts as a safetensors file (length, then '{')."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= struct.unpack("<Q", head[:8])[0] <= 100 * 1000 * 1000


_READ = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4"}


def read_model_file(path):
    """(metadata, {name: float32 or integer array} in header order) of a model
    file; F16 and BF16 tensors are widened to float32 exactly."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise DtypeError("%s: the safetensors header runs past the end of the file" % path)
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DtypeError("%s: the safetensors header is not JSON (%s)" % (path, exc)) from None
    meta = header.pop("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(header, dict) or not isinstance(meta, dict):
        raise DtypeError("%s: not a safetensors model file" % path)
    base, out = 8 + n, {}
    for name, t in header.items():
        code = t.get("dtype") if isinstance(t, dict) else None
        if code not in _READ:
            raise DtypeError("%s: tensor %s has dtype %s; F32, F16, BF16, I64 or I32 can be "
                             "stored again" % (path, name, code))
        a, b = t["data_offsets"]
        shape = [int(d) for d in t["shape"]]
        dt = np.dtype(_READ[code])
        if not (0 <= a <= b <= len(raw) - base) or (b - a) != dt.itemsize * int(np.prod(shape)):
            raise DtypeError("%s: tensor %s: data_offsets [%d, %d] do not hold %s %s"
                             % (path, name, a, b, code, shape))
        arr = np.frombuffer(raw[base + a:base + b], dtype=dt).reshape(shape)
        if code == "BF16":
            arr = bf16_to_f32(arr).reshape(shape)
        elif code == "F16":
            arr = arr.astype("<f4")
        out[name] = arr.copy()  # C order; keeps a 0-d shape (ascontiguousarray would not)
    return {str(k): str(v) for k, v in meta.items()}, out
