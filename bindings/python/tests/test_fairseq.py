"""fairseq checkpoints of the authors' SeqBoat models (docs/FAIRSEQ.md).

tests/data/fairseq/<task>.pt were saved the way fairseq saves checkpoints,
from models built with the authors' own fairseq modules at each paper task's
options (tests/fairseq/make_cases.py); <task>.io.safetensors holds the input
and the authors' forward (eval mode, batch 1). Here, without torch: convert
with `python -m seqboat.convert`, check the model file, run it with
`seqboat run` and through the binding, and compare within SPEC section 6."""
import collections
import json
import math
import os
import subprocess

import numpy as np
import pytest

import ptwrite
import sbtest
from test_convert import convert

FDATA = os.path.join(sbtest.DATA, "fairseq")
CASES = {c["name"]: c for c in json.load(open(os.path.join(FDATA, "cases.json")))}
NAMES = ["listops", "imdb", "aan", "cifar10", "pathfinder", "pathx", "speech_commands", "enwik8",
         "variant_encoder", "variant_lm"]
LMS = ("enwik8", "variant_lm")

# what each task's script and architecture make of the contract (docs/FAIRSEQ.md 4)
EXPECT = {
    "listops": dict(task="classify", norm_type="layernorm", prenorm="false",
                    attention_activation="softmax", rel_pos_bias="simple", abs_pos="none",
                    mem_size="128", truncation="1024", max_positions="2002", pair="none",
                    vocab_size="20", d_input="0", d_output="10"),
    "imdb": dict(task="classify", norm_type="scalenorm", prenorm="false",
                 attention_activation="softmax", rel_pos_bias="local", abs_pos="none",
                 mem_size="128", truncation="1024", pair="none", d_input="0"),
    "aan": dict(task="classify", norm_type="scalenorm", prenorm="false",
                attention_activation="softmax", rel_pos_bias="simple", pair="nli",
                max_positions="4002", d_input="0"),
    "cifar10": dict(task="classify", norm_type="batchnorm", prenorm="true",
                    attention_activation="relu2", rel_pos_bias="simple", abs_pos="sinusoidal",
                    mem_size="128", truncation="1024", max_positions="1024", d_input="1",
                    vocab_size="0", d_output="10"),
    "pathfinder": dict(norm_type="batchnorm", prenorm="true", attention_activation="relu2",
                       rel_pos_bias="simple", abs_pos="sinusoidal", d_input="1", d_output="2"),
    "pathx": dict(norm_type="batchnorm", prenorm="true", attention_activation="relu2",
                  rel_pos_bias="simple", abs_pos="sinusoidal", mem_size="256",
                  truncation="16384", max_positions="16384", d_input="1"),
    "speech_commands": dict(norm_type="batchnorm", prenorm="true", attention_activation="relu2",
                            rel_pos_bias="local", abs_pos="sinusoidal", mem_size="128",
                            truncation="4000", d_input="1", d_output="10"),
    "enwik8": dict(task="lm", norm_type="layernorm", prenorm="true", bidirectional="false",
                   attention_activation="softmax", rel_pos_bias="rotary", mem_size="1024",
                   truncation="2048", max_positions="10384", vocab_size="256",
                   d_output="256", decoder_bias="false"),
    # options the paper's scripts never set
    "variant_encoder": dict(task="classify", norm_type="rmsnorm", prenorm="true",
                            attention_activation="relu2", rel_pos_bias="rotary", mem_size="64",
                            truncation="300", d_input="0", vocab_size="30"),
    "variant_lm": dict(task="lm", norm_type="scalenorm", prenorm="true", bidirectional="false",
                       attention_activation="relu2", rel_pos_bias="local", mem_size="64",
                       truncation="200", vocab_size="40", decoder_bias="false"),
}
for _k, _e in EXPECT.items():
    _e["seqboat.format_version"] = "2"
    if _k not in LMS:
        _e.update(bidirectional="true", head_layers="1", head_activation="gelu",
                  decoder_bias="false")


def header(path):
    import struct
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n).decode("utf-8"))


def cli():
    path = os.environ.get("SEQBOAT_CLI", os.path.join(sbtest.ROOT, "build", "seqboat"))
    if not os.path.exists(path):
        pytest.fail("the seqboat program is missing (build it, or set SEQBOAT_CLI)")
    return path


def case_io(name):
    return sbtest.read_safetensors(os.path.join(FDATA, name + ".io.safetensors"))


def model_inputs(name, io):
    """The authors' inputs in the contract's layout: ids [B,L] or values [B,L,1]."""
    x = io["input"]
    ins = [x if x.dtype == np.int64 else x[..., None].astype(np.float32)]
    if "input1" in io:
        ins.append(io["input1"])
    return ins


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """name -> converted model path (converted once per test run)."""
    d = tmp_path_factory.mktemp("fairseq")
    out = {}

    def get(name):
        if name not in out:
            p = d / (name + ".safetensors")
            r = convert([os.path.join(FDATA, name + ".pt"), p])
            assert r.returncode == 0, r.stderr
            assert "check: loaded on" in r.stdout, r.stdout
            out[name] = str(p)
        return out[name]
    return get


def read_checkpoint(name):
    """(args dict, OrderedDict of numpy arrays) of a committed case, read without torch."""
    from seqboat._torchzip import Checkpoint
    with Checkpoint(os.path.join(FDATA, name + ".pt")) as ck:
        args = dict(ck.obj["args"])
        sd = collections.OrderedDict((k, v.numpy()) for k, v in ck.obj["model"].items())
    return args, sd


# ---------------------------------------------------------------------------
# conversion and the authors' forward

@pytest.mark.parametrize("name", NAMES)
def test_metadata_and_tensors(name, converted):
    h = header(converted(name))
    md = h["__metadata__"]
    for k, v in EXPECT[name].items():
        assert md.get(k) == v, (k, md.get(k), v)
    args, sd = read_checkpoint(name)
    out = sbtest.read_safetensors(converted(name))
    n_layers = int(md["n_layers"])
    src = "decoder.layers.%d.slag_layer." if name in LMS else \
        "encoder.encoder.layers.%d.mega_layer."
    for i in range(n_layers):
        for k in ("move.delta", "move.gamma", "move.omega", "hx_proj.weight", "q_router.temp",
                  "mx_proj.bias", "gamma"):
            dst = "seq_layers.%d.%s" % (i, k.replace("move.", "ssm."))
            assert np.array_equal(out[dst], sd[src % i + k]), dst
    assert not any(k.startswith(("encoder.encoder.", "decoder.layers.", "classifier.",
                                 "sentence_projection")) for k in out)
    if name == "enwik8":
        E = sd["decoder.embed_tokens.weight"]
        D = E.shape[1]
        assert np.array_equal(out["embed_tokens.weight"], E * np.float32(math.sqrt(D)))
        assert np.array_equal(out["decoder.weight"], E)
        assert np.all(out["final_norm.norm.weight"] == 1) and not np.any(out["final_norm.norm.bias"])
        assert "decoder.bias" not in out
    elif name == "variant_lm":  # no embedding scale, untied output, affine scalenorm
        assert np.array_equal(out["embed_tokens.weight"], sd["decoder.embed_tokens.weight"])
        assert np.array_equal(out["decoder.weight"], sd["decoder.output_projection.weight"])
        assert np.array_equal(out["final_norm.norm.scalar"], sd["decoder.final_norm.norm.scalar"])
    else:
        assert np.array_equal(out["decoder.weight"], sd["sentence_projection_layer.weight"])
        assert np.array_equal(out["head.0.weight"], sd["classifier.0.0.weight"])
        if md["d_input"] == "1":
            assert out["encoder.weight"].shape == (int(md["d_model"]), 1)
        if md["abs_pos"] == "sinusoidal":
            assert np.array_equal(out["pos_emb.inv_freq"], sd["encoder.encoder.pos_emb.inv_freq"])
        assert ("final_norm.norm.running_mean" in out) == (md["norm_type"] == "batchnorm"
                                                           and md["prenorm"] == "true")


@pytest.mark.parametrize("name", [n for n in NAMES if n != "enwik8"])
def test_seqboat_run_matches_the_authors(name, converted, tmp_path):
    io = case_io(name)
    ins = model_inputs(name, io)
    feed = {"input": ins[0]}
    if len(ins) > 1:
        feed["input2"] = ins[1]
    inp, outp = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    from seqboat.convert import _write_safetensors
    with open(inp, "wb") as f:
        _write_safetensors(f, {k: np.ascontiguousarray(v) for k, v in feed.items()}, {})
    r = subprocess.run([cli(), "run", "--model", converted(name), "--input", str(inp),
                        "--output", str(outp)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    got = sbtest.read_safetensors(str(outp))["output"]
    sbtest.assert_agree(got, io["output"], name + " (seqboat run)")
    # and the prediction is the authors'
    assert int(np.argmax(got)) == int(np.argmax(io["output"]))


@pytest.mark.parametrize("name", [n for n in NAMES if n != "enwik8"])
def test_binding_matches_the_authors(sb, name, converted):
    io = case_io(name)
    ins = model_inputs(name, io)
    with sb.Model(converted(name)) as m:
        if len(ins) > 1:
            got = m.forward_pair(ins[0], ins[1])
            with pytest.raises(sb.SeqboatError):
                m.forward(ins[0])  # a pair model needs both inputs
        else:
            got = m.forward(ins[0])
    sbtest.assert_agree(got, io["output"], name + " (binding)")


def test_enwik8_logits_and_bits_per_byte(sb, converted):
    io = case_io("enwik8")
    ids = io["input"]
    with sb.Model(converted("enwik8")) as m:
        assert m.info.task == "lm" and m.info.vocab_size == 256
        logits = m.forward(ids)
    sbtest.assert_agree(logits[:, io["output_rows"]], io["output"], "enwik8 logits")
    z = logits[0, :-1].astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    nxt = lp[np.arange(ids.shape[1] - 1), ids[0, 1:]]
    assert np.max(np.abs(nxt - io["next_logprob"])) < 2e-3
    bpb = float(-nxt.sum() / math.log(2) / (ids.shape[1] - 1))
    want = CASES["enwik8"]["bits_per_byte"]
    assert round(bpb, 4) == want, (bpb, want)
    # the text the reference was computed on is the committed one
    with open(os.path.join(FDATA, "enwik8.txt"), "rb") as f:
        assert list(f.read()) == ids[0].tolist()


def test_enwik8_generate_streams(converted, tmp_path):
    """`seqboat generate` streams from the converted LM; greedy, its first byte
    is the argmax of the authors' logits after the prompt."""
    io = case_io("enwik8")
    ids = io["input"][0]
    rows = io["output_rows"]
    n = int(rows[4]) + 1  # a prompt ending where a reference row of logits is stored
    prompt = bytes(ids[:n].tolist())
    pf = tmp_path / "prompt.txt"
    pf.write_bytes(prompt)
    r = subprocess.run([cli(), "generate", "--model", converted("enwik8"), "--prompt-file",
                        str(pf), "--max-tokens", "16", "--temperature", "0"],
                       capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(prompt)
    gen = r.stdout[len(prompt):]
    assert len(gen) == 17 and gen.endswith(b"\n"), gen  # 16 bytes and the closing newline
    assert gen[0] == int(np.argmax(io["output"][0, 4]))


# ---------------------------------------------------------------------------
# refusals: options the runtime does not implement, malformed checkpoints

def rewrite(tmp_path, name, args_change=None, sd_change=None, namespace=None, obj=None):
    args, sd = read_checkpoint(name)
    if args_change:
        args.update(args_change)
    if sd_change:
        sd_change(sd)
    ck = tmp_path / (name + "-changed.pt")
    top = obj if obj is not None else {
        "args": namespace if namespace is not None else ptwrite.Namespace(args),
        "model": sd, "extra_state": {"epoch": 1}}
    ptwrite.write_checkpoint(ck, top)
    return ck


def refused(tmp_path, ck, *needles):
    out = tmp_path / "out.safetensors"
    r = convert([ck, out])
    assert r.returncode == 1, (r.stdout, r.stderr)
    for n in needles:
        assert n in r.stderr, (n, r.stderr)
    assert "Traceback" not in r.stderr
    assert not out.exists()
    return r.stderr


def test_rewritten_checkpoint_still_converts(tmp_path):
    """The control for the refusals below: an unchanged rewrite converts."""
    ck = rewrite(tmp_path, "imdb")
    r = convert([ck, tmp_path / "ok.safetensors", "--no-check"])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name,change,needle", [
    ("listops", {"attention_activation_fn": "laplace"}, "args.attention_activation_fn = 'laplace'"),
    ("listops", {"chunk_size": -1}, "args.chunk_size = -1"),
    ("listops", {"sen_rep_type": "cls"}, "args.sen_rep_type = 'cls'"),
    ("listops", {"act_bias": 0.5}, "args.act_bias = 0.5"),
    ("listops", {"rel_pos_bias": "t5"}, "args.rel_pos_bias = 't5'"),
    ("listops", {"always_act": True}, "args.always_act"),
    ("listops", {"normalize_embedding": True}, "args.normalize_embedding"),
    ("listops", {"norm_type": "groupnorm"}, "args.norm_type = 'groupnorm'"),
    ("listops", {"layer_type": "mega"}, "args.layer_type = 'mega'"),
    ("listops", {"use_p": True}, "args.use_p"),
    ("listops", {"classifier_activation_fn": "relu"}, "args.classifier_activation_fn = 'relu'"),
    ("listops", {"encoder_ffn_embed_dim": 64}, "args.encoder_ffn_embed_dim = 64"),
    ("enwik8", {"adaptive_softmax_cutoff": "20000,60000"}, "args.adaptive_softmax_cutoff"),
    ("enwik8", {"decoder_chunk_size": 0}, "args.decoder_chunk_size = 0"),
    ("enwik8", {"decoder_ffn_embed_dim": 1232}, "args.decoder_ffn_embed_dim = 1232"),
    ("enwik8", {"decoder_input_dim": 8}, "args.decoder_input_dim = 8"),
])
def test_unsupported_options_are_refused_by_name(tmp_path, name, change, needle):
    refused(tmp_path, rewrite(tmp_path, name, change), needle, "not supported")


def _drop(key):
    return lambda sd: sd.pop(key)


def _reshape(key, shape):
    def f(sd):
        sd[key] = np.zeros(shape, np.float32)
    return f


@pytest.mark.parametrize("name,change,args_change,needles", [
    ("imdb", _drop("encoder.encoder.layers.1.mega_layer.move.delta"), None,
     ["encoder.encoder.layers.1.mega_layer.move.delta is missing"]),
    ("imdb", _reshape("encoder.encoder.layers.0.mega_layer.rel_pos_bias.rel_pos_bias", (255,)),
     None, ["rel_pos_bias.rel_pos_bias has shape [255]", "6*chunk_size-1"]),
    ("listops", _reshape("encoder.encoder.layers.0.mega_layer.rel_pos_bias.rel_pos_bias", (99,)),
     None, ["has shape [99]", "max_positions 2002"]),
    ("cifar10", _drop("encoder.encoder.final_norm.norm.weight"), None, ["final_norm.norm.weight"]),
    ("cifar10", None, {"encoder_normalize_before": False}, ["final_norm"]),
    ("cifar10", None, {"add_apos": False}, ["pos_emb"]),
    ("aan", None, {"use_nli": False}, ["classifier reads 64 features"]),
    ("listops", _drop("sentence_projection_layer.weight"), None,
     ["sentence_projection_layer.weight is missing"]),
    ("listops", lambda sd: sd.__setitem__("encoder.encoder.extra.weight", np.zeros(2, np.float32)),
     None, ["unknown tensor", "encoder.encoder.extra.weight"]),
    ("listops", None, {"z_dim": 7}, ["args.z_dim = 7 contradicts the weights"]),
    ("listops", None, {"truncation_length": "long"}, ["args.truncation_length = 'long'"]),
    ("enwik8", _drop("decoder.embed_tokens.weight"), None, ["decoder.embed_tokens.weight"]),
    ("enwik8", None, {"share_decoder_input_output_embed": False},
     ["decoder.output_projection.weight"]),
])
def test_malformed_checkpoints_get_a_clear_error(tmp_path, name, change, args_change, needles):
    if name == "enwik8" and args_change and "share_decoder_input_output_embed" in args_change:
        # untied: the projection must be there; take it away
        def change(sd):
            sd.pop("decoder.output_projection.weight")
    refused(tmp_path, rewrite(tmp_path, name, args_change, change), *needles)


def test_checkpoint_without_args(tmp_path):
    _, sd = read_checkpoint("listops")
    ck = tmp_path / "noargs.pt"
    ptwrite.write_checkpoint(ck, {"args": None, "model": sd})
    refused(tmp_path, ck, "no 'args'")


def test_options_must_agree_with_args(tmp_path):
    r = convert([os.path.join(FDATA, "listops.pt"), tmp_path / "o.safetensors", "--no-check",
                 "--mem-size", "64"])
    assert r.returncode == 1 and "--mem-size 64 contradicts the fairseq checkpoint" in r.stderr
    r = convert([os.path.join(FDATA, "listops.pt"), tmp_path / "o.safetensors", "--no-check",
                 "--mem-size", "128", "--truncation", "1024"])
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------
# the Namespace: exactly fairseq's shape, nothing more

MARK = "seqboat_fairseq_payload_ran"


@pytest.mark.parametrize("raw,needle", [
    # a call on the class (REDUCE) instead of NEWOBJ
    (b"(X\x01\x00\x00\x00at", "argparse.Namespace"),
    # something between the class and its empty tuple
    (b"N0", "argparse.Namespace"),
])
def test_namespace_other_shapes_are_refused(tmp_path, raw, needle):
    args, sd = read_checkpoint("listops")
    ns = ptwrite.Namespace(args, raw_after=raw)
    refused(tmp_path, rewrite(tmp_path, "listops", namespace=ns), needle, "nothing from the file")


def test_newobj_on_other_classes_is_refused(tmp_path):
    _, sd = read_checkpoint("listops")
    for mod, cls in (("os", "system"), ("collections", "OrderedDict"), ("builtins", "object"),
                     ("subprocess", "Popen")):
        ck = tmp_path / ("%s.pt" % cls)
        raw = ptwrite.Raw(("c%s\n%s\n)\x81" % (mod, cls)).encode("latin1"))
        ptwrite.write_checkpoint(ck, {"args": raw, "model": sd})
        refused(tmp_path, ck, "opcode NEWOBJ", "nothing from the file was run")


def test_namespace_reached_through_the_memo_is_refused(tmp_path):
    """The class memoized by the GLOBAL cannot be fetched again and called."""
    _, sd = read_checkpoint("listops")
    mark = tmp_path / MARK
    raw = ptwrite.Raw(b"cargparse\nNamespace\nq\x00)\x81}b0h\x00(X\x04\x00\x00\x00truetR")
    ck = tmp_path / "memo.pt"
    ptwrite.write_checkpoint(ck, {"args": raw, "model": sd})
    err = refused(tmp_path, ck, "argparse.Namespace")
    assert not mark.exists()
    assert "malformed" in err or "refusing" in err


@pytest.mark.parametrize("state,needle", [
    (b"X\x03\x00\x00\x00abc", "must be a dict"),       # state that is not a dict
    (b"}(K\x01K\x02u", "str keys"),                   # non-str attribute names
])
def test_namespace_state_must_be_a_dict_of_names(tmp_path, state, needle):
    _, sd = read_checkpoint("listops")
    raw = ptwrite.Raw(b"cargparse\nNamespace\nq\x00)\x81" + state + b"b")
    ck = tmp_path / "state.pt"
    ptwrite.write_checkpoint(ck, {"args": raw, "model": sd})
    refused(tmp_path, ck, needle)


def test_namespace_state_set_twice_is_refused(tmp_path):
    _, sd = read_checkpoint("listops")
    raw = ptwrite.Raw(b"cargparse\nNamespace\nq\x00)\x81}b}b")
    ck = tmp_path / "twice.pt"
    ptwrite.write_checkpoint(ck, {"args": raw, "model": sd})
    refused(tmp_path, ck, "twice")


def test_other_globals_next_to_a_namespace_are_refused(tmp_path):
    args, sd = read_checkpoint("listops")
    mark = tmp_path / MARK
    bad = dict(args, evil=ptwrite.Global("os", "system", ("touch %s" % mark,)))
    ck = rewrite(tmp_path, "listops", namespace=ptwrite.Namespace(bad))
    refused(tmp_path, ck, "'os.system'", "nothing from the file was run")
    assert not mark.exists()


# ---------------------------------------------------------------------------
# --dict: the data's dict.txt of a byte-level LM, for seqboat generate

def write_dict(path, symbols):
    path.write_text("".join("%s %d\n" % (s, 100 - i % 50) for i, s in enumerate(symbols)))
    return path


def test_enwik8_dict_gives_token_bytes_and_generate_uses_them(tmp_path):
    # the case's ids are the byte values; a dictionary whose symbols 4..255 follow
    # the four specials describes exactly that (ids 0..3 are not bytes)
    d = write_dict(tmp_path / "dict.txt", [str(b) for b in range(4, 256)])
    model = tmp_path / "enwik8.safetensors"
    r = convert([os.path.join(FDATA, "enwik8.pt"), model, "--dict", d])
    assert r.returncode == 0, r.stderr
    assert "token_bytes" in r.stdout and "252 of 256 ids" in r.stdout, r.stdout
    tb = [int(v) for v in header(model)["__metadata__"]["token_bytes"].split(",")]
    assert tb == [-1] * 4 + list(range(4, 256))
    io = case_io("enwik8")
    ids, rows = io["input"][0], io["output_rows"]
    n = int(rows[6]) + 1
    prompt = bytes(ids[:n].tolist())
    pf = tmp_path / "prompt.txt"
    pf.write_bytes(prompt)
    g = subprocess.run([cli(), "generate", "--model", str(model), "--prompt-file", str(pf),
                        "--max-tokens", "8", "--temperature", "0"], capture_output=True,
                       timeout=600)
    assert g.returncode == 0, g.stderr
    assert g.stdout.startswith(prompt)
    logits = io["output"][0, 6].copy()
    logits[:4] = -np.inf  # ids that stand for no byte are never sampled
    assert g.stdout[len(prompt)] == int(np.argmax(logits))


@pytest.mark.parametrize("case,symbols,needle", [
    ("listops", ["32"], "--dict is for language models"),
    ("enwik8", ["a", "b", "<mask>"], "maps no id to a byte"),
    ("enwik8", [str(i % 256) for i in range(300)], "has 304 entries"),
])
def test_dict_refusals(tmp_path, case, symbols, needle):
    d = write_dict(tmp_path / "dict.txt", symbols)
    out = tmp_path / "o.safetensors"
    r = convert([os.path.join(FDATA, case + ".pt"), out, "--dict", d, "--no-check"])
    assert r.returncode == 1 and needle in r.stderr, r.stderr
    assert not out.exists()


def test_dict_malformed_line(tmp_path):
    d = tmp_path / "dict.txt"
    d.write_text("32 10\nno-count-here\n")
    r = convert([os.path.join(FDATA, "enwik8.pt"), tmp_path / "o.safetensors", "--dict", d])
    assert r.returncode == 1 and "line 2" in r.stderr, r.stderr
