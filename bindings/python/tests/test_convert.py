"""seqboat.convert: PyTorch checkpoints -> model files, without torch.

The checkpoints in tests/data/convert were written by torch.save from the
authors' SeqBoatModel (tests/tools/make_convert_data.py); the others are made
here by ptwrite (torch's zip layout, no torch needed)."""
import collections
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import ptwrite
import sbtest

CDATA = os.path.join(sbtest.DATA, "convert")
PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = json.load(open(os.path.join(CDATA, "cases.json")))["cases"]
SPEC_KEYS = ("task", "d_input", "vocab_size", "d_output", "d_model", "n_layers", "d_qk",
             "d_hidden", "d_ema", "mem_size", "bidirectional", "prenorm", "norm_type",
             "rel_pos_bias", "attention_activation", "max_positions", "truncation")


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def convert(args, cwd=None, env=None, block_torch=True):
    """Run `python -m seqboat.convert ARGS` with torch made unimportable."""
    pre = "import sys; sys.modules['torch'] = None; " if block_torch else ""
    code = pre + "import runpy; runpy.run_module('seqboat.convert', run_name='__main__')"
    return subprocess.run([sys.executable, "-c", "import sys; " + code] + [str(a) for a in args],
                          cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=300)


def cli():
    path = os.environ.get("SEQBOAT_CLI", os.path.join(sbtest.ROOT, "build", "seqboat"))
    if not os.path.exists(path):
        pytest.skip("seqboat program not found (set SEQBOAT_CLI)")
    return path


def metadata(path):
    import struct
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


def read_checkpoint_arrays(path):
    """{name: float32/int64 array} of a committed checkpoint, through the converter's reader."""
    from seqboat._torchzip import Checkpoint
    from seqboat.convert import find_state_dict
    with Checkpoint(path) as ck:
        sd, _ = find_state_dict(ck.obj)
        return collections.OrderedDict((k, v.numpy()) for k, v in sd.items())


def leftovers(folder):
    return sorted(os.listdir(folder))


# ---------------------------------------------------------------------------
# the acceptance cases: the authors' model, converted and run with `seqboat run`

@pytest.mark.parametrize("case", CASES, ids=[c["checkpoint"] for c in CASES])
def test_reference_checkpoint(case, tmp_path):
    exe = cli()
    ckpt = os.path.join(CDATA, case["checkpoint"])
    out = tmp_path / "m.safetensors"
    r = convert([ckpt, out] + case["options"])
    assert r.returncode == 0, r.stderr
    md = metadata(out)
    m = case["model"]
    want = {"task": "classify", "d_input": m["d_input"], "d_output": m["d_output"],
            "d_model": m["d_model"], "n_layers": m["n_layers"], "d_qk": m["d_qk"],
            "d_hidden": 2 * m["d_model"], "d_ema": m["d_ema"],
            "mem_size": m.get("mem_size", 128),
            "bidirectional": m.get("bidirectional", True), "prenorm": m["prenorm"],
            "norm_type": m.get("norm_type", "batchnorm"),
            "rel_pos_bias": m.get("rel_pos_bias", "simple"),
            "attention_activation": m.get("attention_activation", "relu2"),
            "truncation": 0, "vocab_size": 0,
            # rotary: not in the weights, so the default (it does not change the outputs)
            "max_positions": m["max_positions"] if m.get("rel_pos_bias") != "rotary"
            else 1024}
    for k, v in want.items():
        v = ("true" if v else "false") if isinstance(v, bool) else str(v)
        assert md[k] == v, (k, md[k], v)
    assert "config" in r.stdout and "check: loaded on" in r.stdout, r.stdout
    if "dtype" in case:
        assert "note:" in r.stdout and case["dtype"].split(".")[1] in r.stdout, r.stdout
    res = tmp_path / "out.safetensors"
    p = subprocess.run([exe, "run", "--model", str(out), "--input",
                        os.path.join(CDATA, case["io"]), "--output", str(res)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    got = sbtest.read_safetensors(str(res))["output"]
    ref = sbtest.read_safetensors(os.path.join(CDATA, case["io"]))["output"]
    rel, mx = sbtest.agreement(got, ref)
    print("%s: relative L2 error %.3g, max abs error %.3g" % (case["checkpoint"], rel, mx))
    sbtest.assert_agree(got, ref, case["checkpoint"])


def test_layouts_give_the_same_file(tmp_path):
    """{'model': ...} and a bare 'module.'-prefixed state_dict convert byte for byte alike."""
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    assert convert([os.path.join(CDATA, "default.model.pth"), a, "--no-check"]).returncode == 0
    r = convert([os.path.join(CDATA, "default.module.pth"), b, "--no-check"])
    assert r.returncode == 0, r.stderr
    assert "prefix 'module.' stripped" in r.stdout
    assert a.read_bytes() == b.read_bytes()


# ---------------------------------------------------------------------------
# hostile pickles

PAYLOAD_MARK = "seqboat_convert_payload_ran"


def test_os_system_checkpoint_is_refused_and_payload_not_run(tmp_path):
    src = os.path.join(CDATA, "malicious_os_system.pth")
    # control: the payload is live -- an ordinary unpickler runs it (in a scratch folder)
    ctl = tmp_path / "control"
    ctl.mkdir()
    code = ("import pickle, zipfile, sys\n"
            "z = zipfile.ZipFile(sys.argv[1])\n"
            "data = z.read([n for n in z.namelist() if n.endswith('/data.pkl')][0])\n"
            "import io\n"
            "class U(pickle.Unpickler):\n"
            "    def persistent_load(self, pid): return None\n"
            "try:\n"
            "    U(io.BytesIO(data)).load()\n"
            "except Exception:\n"
            "    pass  # torch is not needed to get as far as the payload\n")
    subprocess.run([sys.executable, "-c", code, src], cwd=ctl, timeout=60)
    assert (ctl / PAYLOAD_MARK).exists(), "control: the committed payload did not run"
    # the converter: refused, nothing run, nothing written
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(src, work / "ckpt.pth")
    r = convert(["ckpt.pth", "out.safetensors"], cwd=work)
    assert r.returncode == 1
    assert "refusing to load" in r.stderr and "posix.system" in r.stderr, r.stderr
    assert "nothing from the file was run" in r.stderr
    assert not (work / PAYLOAD_MARK).exists()
    assert leftovers(work) == ["ckpt.pth"]


@pytest.mark.parametrize("module,name", [
    ("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
    ("builtins", "getattr"), ("builtins", "__import__"), ("subprocess", "Popen"),
    ("torch", "load"), ("torch.serialization", "load"), ("numpy.core.multiarray", "_reconstruct"),
    ("torch._utils", "_rebuild_from_type_v2"), ("copyreg", "_reconstructor")])
def test_other_globals_are_refused(tmp_path, module, name):
    mark = tmp_path / "ran"
    ck = tmp_path / "c.pth"
    sd = collections.OrderedDict(w=np.zeros(2, np.float32))
    ptwrite.write_checkpoint(ck, {"x": ptwrite.Global(module, name, ("touch %s" % mark,)),
                                  "model": sd})
    r = convert([ck, tmp_path / "o.safetensors"])
    assert r.returncode == 1
    assert "'%s.%s'" % (module, name) in r.stderr, r.stderr
    assert not mark.exists()
    assert not (tmp_path / "o.safetensors").exists()


def test_build_on_allowed_objects_is_refused(tmp_path):
    """State cannot be set on the allow-listed callables (e.g. their defaults)."""
    ck = tmp_path / "c.pth"
    g = ptwrite.Global("collections", "OrderedDict", None, state=(None, {"__defaults__": (1,)}))
    ptwrite.write_checkpoint(ck, {"x": g})
    r = convert([ck, tmp_path / "o.safetensors"])
    assert r.returncode == 1 and "malformed" in r.stderr and "set state" in r.stderr, r.stderr


@pytest.mark.parametrize("raw,needle", [
    (b"(cos\nsystem\nX\x04\x00\x00\x00trueo", "opcode OBJ"),
    (b"(X\x04\x00\x00\x00trueios\nsystem\n", "opcode INST"),
    (b"cos\nsystem\n)\x81", "opcode NEWOBJ"),
    (b"\x82\x01", "opcode EXT1"),
    (b"\x97", "opcode NEXT_BUFFER"),
    (b"Nr\xff\xff\xff\x7f", "memo index 2147483647"),  # would size the memo table by it
    (b"X\xff\xff\xff\x7f", "malformed"),  # a length beyond the data
])
def test_unneeded_opcodes_and_overruns_are_refused(tmp_path, raw, needle):
    ck = tmp_path / "c.pth"
    ptwrite.write_checkpoint(ck, {"x": ptwrite.Raw(raw), "model": _default_sd()})
    _expect_error(tmp_path, ck, needle)


def test_damaged_checkpoints_fail_cleanly(tmp_path):
    """Random damage to the archive or its pickle: ConvertError, never another exception."""
    import io
    import random
    from seqboat import convert as C
    src = open(os.path.join(CDATA, "variant.model.pth"), "rb").read()
    z = zipfile.ZipFile(io.BytesIO(src))
    pkl_name = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
    pkl = z.read(pkl_name)
    rng = random.Random(7)
    ck, out = tmp_path / "c.pth", tmp_path / "o.safetensors"
    for i in range(150):
        p = bytearray(pkl)
        for _ in range(rng.randint(1, 4)):
            p[rng.randrange(len(p))] = rng.randrange(256)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as w:
            for n in z.namelist():
                w.writestr(n, bytes(p) if n == pkl_name else z.read(n))
        data = bytearray(buf.getvalue())
        if i % 3 == 0:
            data[rng.randrange(len(data))] ^= 0xFF
        ck.write_bytes(bytes(data))
        try:
            C.convert(ck, out, mem_size=8, check=False)
        except C.ConvertError:
            pass


# ---------------------------------------------------------------------------
# bad input: a clear error, exit 1, no output file

def _default_sd():
    return read_checkpoint_arrays(os.path.join(CDATA, "default.model.pth"))


def _expect_error(tmp_path, ck, *needles, args=()):
    out = tmp_path / "out.safetensors"
    before = set(os.listdir(tmp_path))
    r = convert([ck, out] + list(args))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith("python -m seqboat.convert: error: "), r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)
    assert "Traceback" not in r.stderr
    assert set(os.listdir(tmp_path)) == before, "files left behind"
    return r.stderr


def test_truncated_checkpoint(tmp_path):
    data = open(os.path.join(CDATA, "default.model.pth"), "rb").read()
    for cut in (len(data) // 2, len(data) - 30, 100):
        ck = tmp_path / ("cut%d.pth" % cut)
        ck.write_bytes(data[:cut])
        _expect_error(tmp_path, ck, "not a readable zip archive")


def test_damaged_storage(tmp_path):
    ck = tmp_path / "c.pth"
    ptwrite.write_checkpoint(ck, {"model": _default_sd()}, storage_bytes={"3": b"\0" * 5})
    _expect_error(tmp_path, ck, "storage 3 holds 5 bytes")


def test_not_a_checkpoint(tmp_path):
    t = tmp_path / "notes.txt"
    t.write_text("hello\n")
    _expect_error(tmp_path, t, "is not a PyTorch checkpoint")
    e = tmp_path / "empty.pth"
    e.write_bytes(b"")
    _expect_error(tmp_path, e, "is empty")
    _expect_error(tmp_path, tmp_path / "absent.pth", "cannot read")
    st = tmp_path / "m.safetensors"  # not a model file: no seqboat metadata
    shutil.copy(sbtest.io_path("ragged_batch"), st)
    _expect_error(tmp_path, st, "is a safetensors file without the metadata of a seqboat model")
    shutil.copy(sbtest.model_path("ragged_batch"), st)  # a model file takes no options
    _expect_error(tmp_path, st, "--mem-size apply to checkpoints only", args=["--mem-size", "8"])
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
                       + b".")
    _expect_error(tmp_path, legacy, "legacy (pre-1.6) format")
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("a.txt", "x")
    _expect_error(tmp_path, z, "not a PyTorch checkpoint (no single <name>/data.pkl)")


def test_no_state_dict(tmp_path):
    ck = tmp_path / "c.pth"
    ptwrite.write_checkpoint(ck, {"epoch": 3, "acc": 1.0})
    _expect_error(tmp_path, ck, "no state_dict in the checkpoint", "'epoch'")


def test_missing_unknown_misshapen_tensors(tmp_path):
    sd = _default_sd()
    del sd["seq_layers.1.h_proj.bias"]
    ck = tmp_path / "missing.pth"
    ptwrite.write_checkpoint(ck, {"model": sd})
    _expect_error(tmp_path, ck, "missing tensor(s): seq_layers.1.h_proj.bias")

    sd = _default_sd()
    sd["seq_layers.0.q_router.weight_proj.weight"] = np.zeros((2, 16), np.float32)
    ck = tmp_path / "unknown.pth"
    ptwrite.write_checkpoint(ck, {"model": sd})
    _expect_error(tmp_path, ck, "unknown tensor(s): seq_layers.0.q_router.weight_proj.weight")

    sd = _default_sd()
    sd["seq_layers.1.mx_proj.weight"] = np.zeros((71, 16), np.float32)
    ck = tmp_path / "shape.pth"
    ptwrite.write_checkpoint(ck, {"model": sd})
    _expect_error(tmp_path, ck, "misshapen tensor(s): seq_layers.1.mx_proj.weight [71, 16] "
                                "(expected [72, 16])")

    sd = _default_sd()
    sd["seq_layers.0.ssm.gamma"] = np.zeros((20, 4), np.float32)
    ck = tmp_path / "ema.pth"
    ptwrite.write_checkpoint(ck, {"model": sd})
    _expect_error(tmp_path, ck, "seq_layers.0.ssm.gamma has shape [20, 4]", "2*d_model 32")

    sd = _default_sd()
    for k in [k for k in sd if k.startswith("seq_layers.1.")]:
        sd[k.replace("seq_layers.1.", "seq_layers.2.")] = sd.pop(k)
    ck = tmp_path / "gap.pth"
    ptwrite.write_checkpoint(ck, {"model": sd})
    _expect_error(tmp_path, ck, "layer 1 is missing")


def test_dtypes(tmp_path):
    sd = _default_sd()
    sd["decoder.weight"] = sd["decoder.weight"].astype(np.float64)
    ck = tmp_path / "f64.pth"
    ptwrite.write_checkpoint(ck, {"model": sd})
    _expect_error(tmp_path, ck, "tensor decoder.weight has dtype float64", "refused")

    sd = _default_sd()
    sd["encoder.bias"] = sd["encoder.bias"].astype(np.int32)
    ck = tmp_path / "i32.pth"
    ptwrite.write_checkpoint(ck, {"model": sd})
    _expect_error(tmp_path, ck, "tensor encoder.bias has dtype int32")

    # float16 and bfloat16 are widened exactly, with a note
    ref = _default_sd()
    sd = collections.OrderedDict()
    for i, (k, v) in enumerate(ref.items()):
        if v.dtype == np.float32:
            v = ptwrite.BF16(v) if i % 2 else v.astype(np.float16)
        sd[k] = v
    ck = tmp_path / "low.pth"
    ptwrite.write_checkpoint(ck, {"net": sd})
    out = tmp_path / "low.safetensors"
    r = convert([ck, out, "--no-check"])
    assert r.returncode == 0, r.stderr
    assert "note:" in r.stdout and "bfloat16 and float16" in r.stdout, r.stdout
    got = sbtest.read_safetensors(str(out))
    for i, (k, v) in enumerate(ref.items()):
        if v.dtype != np.float32:
            continue
        if i % 2:
            bits = ptwrite.BF16(v).bits.astype(np.uint32) << 16
            want = bits.view(np.float32).reshape(v.shape)
        else:
            want = v.astype(np.float16).astype(np.float32)
        assert got[k].dtype == np.float32 and np.array_equal(got[k], want), k


def test_nonfinite_values_refused(tmp_path):
    sd = _default_sd()
    sd["decoder.bias"][1] = np.nan
    ck = tmp_path / "nan.pth"
    ptwrite.write_checkpoint(ck, {"model": sd})
    _expect_error(tmp_path, ck, "decoder.bias holds NaN")


def test_contradicting_options(tmp_path):
    ck = os.path.join(CDATA, "default.model.pth")
    _expect_error(tmp_path, ck, "--task lm contradicts the weights", "encoder.weight [16, 3]",
                  args=["--task", "lm"])
    _expect_error(tmp_path, ck, "--max-positions 1024 contradicts the weights",
                  "seq_layers.0.rel_pos_bias.rel_pos_bias has 127 entries, i.e. max_positions 64",
                  args=["--max-positions", "1024"])
    _expect_error(tmp_path, ck, "--mem-size 0", args=["--mem-size", "0"])
    _expect_error(tmp_path, ck, "--truncation -1", args=["--truncation", "-1"])
    sd = sbtest.read_safetensors(sbtest.model_path("lm_tokens"))
    lm = tmp_path / "lm.pth"
    ptwrite.write_checkpoint(lm, sd)
    _expect_error(tmp_path, lm, "--task classify contradicts the weights",
                  "embed_tokens.weight [50, 16]", args=["--task", "classify"])
    # agreeing options are fine
    r = convert([ck, tmp_path / "ok.safetensors", "--no-check", "--max-positions", "64",
                 "--task", "classify"])
    assert r.returncode == 0, r.stderr


def test_check_failure_leaves_nothing(tmp_path):
    """Without a loadable library the check fails (no output); --no-check skips it."""
    ck = os.path.join(CDATA, "variant.model.pth")
    out = tmp_path / "m.safetensors"
    env = _env(SEQBOAT_LIBRARY=str(tmp_path / "nolib.so"))
    r = convert([ck, out, "--mem-size", "8"], env=env)
    assert r.returncode == 1 and "check failed" in r.stderr and "--no-check" in r.stderr, r.stderr
    assert leftovers(tmp_path) == []
    r = convert([ck, out, "--mem-size", "8", "--no-check"], env=env)
    assert r.returncode == 0, r.stderr
    assert "check:" not in r.stdout and leftovers(tmp_path) == ["m.safetensors"]


def test_unwritable_output(tmp_path):
    r = convert([os.path.join(CDATA, "variant.model.pth"), tmp_path / "no" / "m.safetensors"])
    assert r.returncode == 1 and "cannot write" in r.stderr and "Traceback" not in r.stderr
    assert leftovers(tmp_path) == []


def test_overwrites_atomically_and_refuses_self(tmp_path):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"old")
    r = convert([os.path.join(CDATA, "variant.model.pth"), out, "--no-check"])
    assert r.returncode == 0 and out.read_bytes()[:8] != b"old"
    assert leftovers(tmp_path) == ["m.safetensors"]
    ck = tmp_path / "c.pth"
    shutil.copy(os.path.join(CDATA, "variant.model.pth"), ck)
    r = convert([ck, ck])
    assert r.returncode == 1 and "overwrite the checkpoint" in r.stderr


# ---------------------------------------------------------------------------
# every fixture model as a checkpoint: the inferred config is the fixture's

FIXTURES = sbtest.case_names()


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_round_trip(name, tmp_path):
    src = sbtest.model_path(name)
    md = metadata(src)
    tensors = sbtest.read_safetensors(src)
    # DataParallel layout for half of them, {'state_dict': ...} for the rest
    if FIXTURES.index(name) % 2:
        obj = collections.OrderedDict(("module." + k, v) for k, v in tensors.items())
    else:
        obj = {"state_dict": collections.OrderedDict(tensors), "epoch": 1}
    ck = tmp_path / "c.pth"
    ptwrite.write_checkpoint(ck, obj)
    args = ["--mem-size", md["mem_size"], "--attention-activation", md["attention_activation"],
            "--truncation", md["truncation"]]
    if md["task"] == "sequence":
        args += ["--task", "sequence"]
    if md["rel_pos_bias"] == "rotary":
        args += ["--max-positions", md["max_positions"]]
    out = tmp_path / "m.safetensors"
    r = convert([ck, out, "--no-check"] + args)
    assert r.returncode == 0, r.stderr
    got = metadata(out)
    for k in SPEC_KEYS:
        assert got[k] == md[k], (k, got[k], md[k])
    back = sbtest.read_safetensors(str(out))
    assert list(back) == list(tensors)
    for k in tensors:
        assert back[k].dtype == tensors[k].dtype and np.array_equal(back[k], tensors[k]), k


def test_lm_checkpoint_runs(tmp_path, sb):
    """A token model (embed_tokens.weight) converted and run matches the fixture."""
    tensors = sbtest.read_safetensors(sbtest.model_path("lm_tokens"))
    md = metadata(sbtest.model_path("lm_tokens"))
    ck = tmp_path / "lm.pth"
    ptwrite.write_checkpoint(ck, {"model": collections.OrderedDict(tensors)})
    out = tmp_path / "lm.safetensors"
    r = convert([ck, out, "--mem-size", md["mem_size"]])
    assert r.returncode == 0, r.stderr
    assert metadata(out)["task"] == "lm"
    x, lengths, ref = sbtest.load_io("lm_tokens")
    with sb.Model(str(out)) as m:
        sbtest.assert_agree(m.forward(x, lengths), ref, "lm_tokens via checkpoint")


# ---------------------------------------------------------------------------
# the Python entry points

def test_convert_function_and_main(tmp_path, capsys):
    from seqboat import convert as C
    out = tmp_path / "m.safetensors"
    cfg = C.convert(os.path.join(CDATA, "variant.module.pth"), out, mem_size=8,
                    attention_activation="softmax", check=False)
    assert cfg["rel_pos_bias"] == "rotary" and cfg["max_positions"] == 1024
    assert cfg["bidirectional"] is False and cfg["norm_type"] == "layernorm"
    with pytest.raises(C.ConvertError, match="max_positions"):
        C.convert(os.path.join(CDATA, "default.model.pth"), out, max_positions=3, check=False)
    assert C.main([os.path.join(CDATA, "default.model.pth"), str(tmp_path / "x.safetensors"),
                   "--task", "lm"], prog="t") == 1
    assert "t: error: --task lm contradicts" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        C.main(["--help"])
    assert "--attention-activation" in capsys.readouterr().out


def test_export_without_torch():
    import importlib.util
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed (test_export covers it)")
    import seqboat
    from seqboat.convert import ConvertError
    with pytest.raises(ConvertError, match="needs torch"):
        seqboat.export(object(), "x.safetensors")


def _torch_model_from(arrays, layer_attrs):
    """An nn.Module tree with the given state_dict and the authors' layer attributes."""
    import torch
    root = torch.nn.Module()
    for name, a in arrays.items():
        parts = name.split(".")
        mod = root
        for p in parts[:-1]:
            if p not in mod._modules:
                mod.add_module(p, torch.nn.ModuleList() if p == "seq_layers"
                               else torch.nn.Module())
            mod = mod._modules[p]
        t = torch.from_numpy(np.array(a))
        if name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            mod.register_buffer(parts[-1], t)
        else:
            mod.register_parameter(parts[-1], torch.nn.Parameter(t, requires_grad=False))
    for lay in root.seq_layers:
        for k, v in layer_attrs.items():
            setattr(lay, k, v)
    return root


def test_export(tmp_path, sb):
    pytest.importorskip("torch")
    import seqboat
    from seqboat.convert import ConvertError
    arrays = read_checkpoint_arrays(os.path.join(CDATA, "variant.model.pth"))
    attrs = dict(window_size=8, attention_activation="softmax", truncation=None,
                 rel_pos_type="rotary", max_positions=64, local_pos=False)
    module = _torch_model_from(arrays, attrs)
    out = tmp_path / "e.safetensors"
    cfg = seqboat.export(module, out)
    assert cfg["mem_size"] == 8 and cfg["attention_activation"] == "softmax"
    assert cfg["max_positions"] == 64 and cfg["truncation"] == 0
    conv = tmp_path / "c.safetensors"
    r = convert([os.path.join(CDATA, "variant.model.pth"), conv, "--no-check", "--mem-size", "8",
                 "--attention-activation", "softmax", "--max-positions", "64"])
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == conv.read_bytes()
    with pytest.raises(ConvertError, match=r"mem_size=16 contradicts the module: "
                                           r"seq_layers\[0\]\.window_size = 8"):
        seqboat.export(module, tmp_path / "f.safetensors", mem_size=16)
    assert not (tmp_path / "f.safetensors").exists()


def test_installed_script(tmp_path):
    """pip installs the package with a seqboat-convert script (offline, no build isolation)."""
    import importlib.util
    if importlib.util.find_spec("setuptools") is None or importlib.util.find_spec("venv") is None:
        pytest.skip("setuptools or venv not available")
    venv = tmp_path / "venv"
    r = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip("cannot create a venv: %s" % r.stderr.strip()[-200:])
    vpy = str(venv / "bin" / "python")
    if subprocess.run([vpy, "-c", "import setuptools, numpy"], capture_output=True).returncode:
        pytest.skip("the venv sees no setuptools or numpy (a venv of a venv?)")
    src = tmp_path / "src"
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info",
                                                            "build"))
    r = subprocess.run([vpy, "-m", "pip", "install", "-q", "--no-index",
                        "--no-deps", "--no-build-isolation", str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    script = venv / "bin" / "seqboat-convert"
    assert script.exists()
    out = tmp_path / "m.safetensors"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    r = subprocess.run([str(script), os.path.join(CDATA, "variant.model.pth"), str(out),
                        "--mem-size", "8", "--attention-activation", "softmax", "--no-check"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert metadata(out)["attention_activation"] == "softmax"
    r = subprocess.run([str(script), "--help"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.startswith("usage: seqboat-convert"), r.stdout
