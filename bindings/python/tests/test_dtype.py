"""Model files stored as f16 / bf16 (seqboat-convert --dtype, docs/CONVERT.md
"Storage dtype"): what is written, that the library loads it, and how far its
outputs are from the float32 model's on every fixture and reference case.

The limits are the measured figures with a margin (docs/CONVERT.md has the
table): relative L2 error of the whole output against the float32 model run
by the same library, 5e-3 for f16 and 3e-2 for bf16 (measured at most 1.1e-3
and 8.3e-3); when a router decision flips (the activated tokens per layer
differ from the float32 model's), 0.1 and 0.2 (measured at most 0.043 and
0.098)."""
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import sbtest

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT = {"f16": 5e-3, "bf16": 3e-2}
LIMIT_FLIP = {"f16": 0.1, "bf16": 0.2}
CODE = {"f16": "F16", "bf16": "BF16"}


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)), 8 + n


def restore(src, out, dtype, check=False):
    from seqboat import convert as C
    return C.convert(src, out, dtype=dtype, check=check)


def cli_convert(args):
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "seqboat.convert"] + [str(a) for a in args],
                          env=env, capture_output=True, text=True, timeout=300)


def bf16_reference(a):
    """bfloat16 bits of float32 values, nearest with ties to even, from the
    two candidates' distances (not by the converter's bit trick)."""
    u = a.astype("<f4").view("<u4").astype(np.int64)
    lo = u >> 16
    vals = [((c.astype("<u4")) << 16).view("<f4").astype(np.float64) for c in (lo, lo + 1)]
    x = a.astype(np.float64)
    d0, d1 = np.abs(x - vals[0]), np.abs(x - vals[1])
    pick = (d1 < d0) | ((d1 == d0) & (lo % 2 == 1))
    return np.where(pick, lo + 1, lo).astype("<u2")


# ---------------------------------------------------------------------------
# what is written

@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_stored_file(dtype, tmp_path):
    src = sbtest.model_path("bidir_softmax_batchnorm_classify")  # batchnorm: I64 counts too
    out = tmp_path / "m.safetensors"
    restore(src, out, dtype)
    h0, base0 = header(src)
    h1, base1 = header(out)
    assert h1["__metadata__"] == h0["__metadata__"]
    assert list(h1) == list(h0)  # tensor order kept
    raw0, raw1 = open(src, "rb").read(), open(out, "rb").read()
    n_float = n_int = 0
    for name, t in h0.items():
        if name == "__metadata__":
            continue
        u = h1[name]
        assert u["shape"] == t["shape"], name
        a0, b0 = t["data_offsets"]
        a1, b1 = u["data_offsets"]
        if t["dtype"] != "F32":  # integer tensors unchanged, bytes and all
            assert u["dtype"] == t["dtype"] and raw1[base1 + a1:base1 + b1] == raw0[base0 + a0:base0 + b0]
            n_int += 1
            continue
        assert u["dtype"] == CODE[dtype], name
        x = np.frombuffer(raw0[base0 + a0:base0 + b0], "<f4")
        bits = np.frombuffer(raw1[base1 + a1:base1 + b1], "<u2")
        want = x.astype("<f2").view("<u2") if dtype == "f16" else bf16_reference(x)
        assert np.array_equal(bits, want), name
        n_float += 1
    assert n_int >= 2 and n_float >= 30
    # the data region: 2 bytes per float, 8 per count
    d0, d1 = len(raw0) - base0, len(raw1) - base1
    assert d1 == d0 - sum(2 * int(np.prod(t["shape"])) for k, t in h0.items()
                          if k != "__metadata__" and t["dtype"] == "F32")
    # and stored again as f32 it is the original's values widened
    back = tmp_path / "b.safetensors"
    restore(out, back, "f32")
    got, ref = sbtest.read_safetensors(str(back)), sbtest.read_safetensors(str(out))
    assert all(np.array_equal(got[k], ref[k]) and got[k].dtype == ref[k].dtype for k in ref)


def test_f32_is_byte_identical(tmp_path):
    out = tmp_path / "m.safetensors"
    restore(sbtest.DEMO_MODEL, out, "f32")
    assert open(out, "rb").read() == open(sbtest.DEMO_MODEL, "rb").read()


def test_bf16_rounding():
    from seqboat import _dtype
    one = np.float32(1.0)
    ulp = np.float32(2.0 ** -7)
    x = np.array([1.0, 1 + ulp / 2, 1 + 3 * ulp / 2, 1 + ulp / 2 + 2.0 ** -20, -2.5, 3.0e38,
                  1e-40, -0.0], np.float32)
    got = _dtype.bf16_bits(x)
    assert list(got[:3]) == [0x3F80, 0x3F80, 0x3F82]  # ties to even, both ways
    assert got[3] == 0x3F81 and got[4] == 0xC020 and got[7] == 0x8000
    assert np.array_equal(got, bf16_reference(x))
    assert np.array_equal(_dtype.bf16_to_f32(got)[:1], [one])
    rng = np.random.default_rng(1)
    r = (rng.standard_normal(20000) * np.exp(rng.uniform(-30, 30, 20000))).astype(np.float32)
    assert np.array_equal(_dtype.bf16_bits(r), bf16_reference(r))


def test_out_of_range_is_refused(tmp_path):
    src = sbtest.model_path("ragged_batch")
    t = sbtest.read_safetensors(src)
    h, base = header(src)
    raw = bytearray(open(src, "rb").read())
    a, _ = h["decoder.bias"]["data_offsets"]
    raw[base + a:base + a + 4] = struct.pack("<f", 7.0e4)
    big = tmp_path / "big.safetensors"
    big.write_bytes(bytes(raw))
    r = cli_convert([big, tmp_path / "out.safetensors", "--dtype", "f16", "--no-check"])
    assert r.returncode == 1, r.stdout
    assert "tensor decoder.bias holds 70000, beyond float16's largest value 65504" in r.stderr
    assert "--dtype bf16" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["big.safetensors"], "files left behind"
    # bf16 holds it
    r = cli_convert([big, tmp_path / "out.safetensors", "--dtype", "bf16", "--no-check"])
    assert r.returncode == 0, r.stderr
    assert sbtest.read_safetensors(str(tmp_path / "out.safetensors"))["decoder.bias"][0] == 70144.0
    assert t["decoder.bias"].dtype == np.float32


# ---------------------------------------------------------------------------
# the library's outputs against the float32 model's

def _cases():
    names = [(n, sbtest.model_path(n), sbtest.io_path(n)) for n in sbtest.case_names()]
    extra = os.path.join(sbtest.DATA, "extra")
    with open(os.path.join(extra, "cases.json")) as f:
        for c in json.load(f):
            n = c["name"]
            names.append(("extra/" + n, os.path.join(extra, n + ".model.safetensors"),
                          os.path.join(extra, n + ".io.safetensors")))
    return names


CASES = _cases()


def _run(sb, model, io, out):
    with sb.Model(str(model)) as m:
        m.run_file(io, out)
        acts = [a for _, a, _ in m.layer_stats()]
    return sbtest.read_safetensors(str(out))["output"], acts


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_outputs_match_f32(sb, case, dtype, tmp_path):
    name, src, io = case
    m = tmp_path / "m.safetensors"
    restore(src, m, dtype)
    ref, acts_ref = _run(sb, src, io, tmp_path / "ref.safetensors")
    got, acts = _run(sb, m, io, tmp_path / "got.safetensors")
    rel, mx = sbtest.agreement(got, ref)
    flip = acts != acts_ref
    print("%s %s: relative L2 error %.3g, max abs error %.3g%s" % (
        name, dtype, rel, mx, " (router flip: %s vs %s)" % (acts, acts_ref) if flip else ""))
    assert rel > 0, "the %s model gave the float32 model's output exactly" % dtype
    lim = (LIMIT_FLIP if flip else LIMIT)[dtype]
    assert rel <= lim, "%s %s: relative L2 error %.3g > %g" % (name, dtype, rel, lim)


def test_demo_model_bits_per_byte(sb, tmp_path):
    """The demo LM's held-out bits per byte (models/tiny-pystdlib.eval) as f16 and bf16."""
    ev = sbtest.read_safetensors(os.path.join(sbtest.ROOT, "models", "tiny-pystdlib.eval.safetensors"))
    tok = ev["tokens"]

    def bpb(path):
        tot, cnt = 0.0, 0
        with sb.Model(str(path)) as m:
            for i in range(0, tok.shape[0], 4):
                t = tok[i:i + 4]
                lg = m.forward(t).astype(np.float64)
                lg -= lg.max(-1, keepdims=True)
                lp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
                nll = -np.take_along_axis(lp[:, :-1], t[:, 1:, None], -1)[..., 0]
                tot, cnt = tot + nll.sum(), cnt + nll.size
        return tot / cnt / np.log(2)

    ref = bpb(sbtest.DEMO_MODEL)
    h, _ = header(os.path.join(sbtest.ROOT, "models", "tiny-pystdlib.eval.safetensors"))
    assert abs(ref - float(h["__metadata__"]["heldout_bits_per_byte"])) < 1e-3
    for dtype, lim in (("f16", 1e-3), ("bf16", 5e-3)):
        m = tmp_path / (dtype + ".safetensors")
        restore(sbtest.DEMO_MODEL, m, dtype)
        got = bpb(m)
        print("demo model %s: %.5f bits per byte (float32 %.5f), %d bytes (float32 %d)"
              % (dtype, got, ref, os.path.getsize(m), os.path.getsize(sbtest.DEMO_MODEL)))
        assert abs(got - ref) <= lim, (dtype, got, ref)
        assert os.path.getsize(m) < 0.51 * os.path.getsize(sbtest.DEMO_MODEL)


# ---------------------------------------------------------------------------
# the command line: a checkpoint, a fairseq checkpoint, inspect

@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_checkpoint_with_dtype(dtype, tmp_path):
    cdata = os.path.join(sbtest.DATA, "convert")
    out = tmp_path / "m.safetensors"
    r = cli_convert([os.path.join(cdata, "default.model.pth"), out, "--dtype", dtype])
    assert r.returncode == 0, r.stderr
    assert "against float32: relative L2 error" in r.stdout, r.stdout
    assert "float weights %s" % CODE[dtype] in r.stdout
    h, _ = header(out)
    dts = {t["dtype"] for k, t in h.items() if k != "__metadata__"}
    assert CODE[dtype] in dts and "F32" not in dts, dts
    exe = os.environ.get("SEQBOAT_CLI", os.path.join(sbtest.ROOT, "build", "seqboat"))
    if not os.path.exists(exe):
        pytest.skip("seqboat program not found (set SEQBOAT_CLI)")
    io = os.path.join(cdata, "default.io.safetensors")
    res = tmp_path / "out.safetensors"
    p = subprocess.run([exe, "run", "--model", str(out), "--input", io, "--output", str(res)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rel, _ = sbtest.agreement(sbtest.read_safetensors(str(res))["output"],
                              sbtest.read_safetensors(io)["output"])
    assert 0 < rel <= LIMIT_FLIP[dtype], rel
    p = subprocess.run([exe, "inspect", "--model", str(out)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    n = int(p.stdout.split("parameters: ")[1].split()[0])
    assert "weights stored in %d bytes" % (2 * n) in p.stdout, p.stdout
    assert "tensor bytes by dtype: %s %d" % (CODE[dtype], 2 * n) in p.stdout, p.stdout
    assert ("decoder.weight" in p.stdout and " %-4s [" % CODE[dtype] in p.stdout), p.stdout


@pytest.mark.parametrize("name", ["listops", "aan", "speech_commands"])
def test_fairseq_with_dtype(sb, name, tmp_path):
    """The authors' reference outputs, from their checkpoints converted as f16."""
    fdata = os.path.join(sbtest.DATA, "fairseq")
    out = tmp_path / "m.safetensors"
    r = cli_convert([os.path.join(fdata, name + ".pt"), out, "--dtype", "f16"])
    assert r.returncode == 0, r.stderr
    assert "against float32" in r.stdout
    io = sbtest.read_safetensors(os.path.join(fdata, name + ".io.safetensors"))
    x = io["input"]
    x = x if x.dtype == np.int64 else x[..., None].astype(np.float32)
    with sb.Model(str(out)) as m:
        got = m.forward_pair(x, io["input1"]) if "input1" in io else m.forward(x)
    rel, mx = sbtest.agreement(got, io["output"])
    print("%s f16 against the authors: relative L2 error %.3g, max abs error %.3g" % (name, rel, mx))
    assert rel <= LIMIT["f16"]
    assert int(np.argmax(got)) == int(np.argmax(io["output"]))
