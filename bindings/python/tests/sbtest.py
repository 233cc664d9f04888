"""Helpers for the binding tests: a pure Python/numpy safetensors reader, the
fixture cases and the SPEC section 6 agreement check."""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")
HEADER = os.path.join(ROOT, "include", "seqboat.h")
DEMO_MODEL = os.path.join(ROOT, "models", "tiny-pystdlib.safetensors")

REL_L2_MAX = 1e-4
ABS_MAX = 2e-3

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """{name: numpy array} of a safetensors file (little-endian, copied out;
    F16 and BF16 widened to float32)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        if t["dtype"] in ("F16", "BF16"):  # widened to float32 exactly
            bits = np.frombuffer(raw[base + a:base + b], dtype="<u2").reshape(t["shape"])
            if t["dtype"] == "F16":
                out[name] = bits.view("<f2").astype(np.float32)
            else:
                out[name] = (bits.astype("<u4") << 16).view("<f4").astype(np.float32)
            continue
        dt = np.dtype(_DTYPES[t["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(raw[base + a:base + b], dtype=dt).reshape(t["shape"])
        out[name] = arr.astype(dt.newbyteorder("="))
    return out


def case_names():
    with open(os.path.join(DATA, "cases.json")) as f:
        return [c["name"] for c in json.load(f)]


def model_path(name):
    return os.path.join(DATA, name + ".model.safetensors")


def io_path(name):
    return os.path.join(DATA, name + ".io.safetensors")


def load_io(name):
    """(inputs, lengths [B] int32, reference output) of a case."""
    t = read_safetensors(io_path(name))
    x = t["input"]
    B, L = x.shape[0], x.shape[1]
    lengths = t["lengths"].astype(np.int32) if "lengths" in t else np.full(B, L, np.int32)
    return x, lengths, t["output"]


def agreement(got, want):
    """(relative L2 error, max abs error) over whole tensors."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.all(np.isfinite(got)), "non-finite output"
    d = got - want
    w2 = float(np.sum(want * want))
    rel = float(np.sqrt(np.sum(d * d) / w2)) if w2 > 0 else float(np.sqrt(np.sum(d * d)))
    return rel, float(np.max(np.abs(d))) if d.size else 0.0


def assert_agree(got, want, what):
    rel, mx = agreement(got, want)
    assert rel <= REL_L2_MAX and mx <= ABS_MAX, (
        "%s: relative L2 error %.3g (max %.0e), max abs error %.3g (max %.0e)"
        % (what, rel, REL_L2_MAX, mx, ABS_MAX))
