"""Make the fairseq reference cases in tests/data/fairseq/ with the authors'
own fairseq modules (github renll/SeqBoat), imported at run time from a
checkout given on the command line. Nothing of that tree is copied here.

    python tests/fairseq/make_cases.py AUTHORS_TREE [OUT_DIR] [--only NAME ...]

AUTHORS_TREE is a checkout of renll/SeqBoat (the directory holding fairseq/);
OUT_DIR defaults to tests/data/fairseq. Needs torch, numpy, safetensors and
einops (the authors' code uses einops); fairseq itself is not installed: its
package __init__ pulls in hydra, omegaconf, compiled extensions and every model,
so this tool registers bare package objects for fairseq, fairseq.models and
fairseq.modules and imports only the module files the SeqBoat models use, with
light stand-ins for the few heavy imports those files name but these models
never call (S4D, the LRA baselines, fairseq's data iterators).

For each task it builds the model exactly as fairseq's train.py would (the
task's registered architecture function applied to the options of its script
in experiment/ or examples/seqboat/), with fewer layers and narrower widths
so the committed data stays small, and random weights (every parameter and
running statistic moved off its initial value so that each one matters).
It saves the checkpoint the way fairseq's checkpoint_utils does
(torch.save of {'args': Namespace, 'model': state_dict, ...}: zip, pickle
protocol 2), runs the authors' forward in eval mode at batch size 1 and writes
<name>.pt, <name>.io.safetensors (input[, input1], output) and cases.json.
"""
import argparse
import json
import math
import os
import sys
import types

import numpy as np
import torch
import torch.nn as nn
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


# ---------------------------------------------------------------------------
# importing the authors' module files without fairseq's package __init__

def _package(name, path=None):
    m = types.ModuleType(name)
    if path is not None:
        m.__path__ = [path]
    sys.modules[name] = m
    parent, _, leaf = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], leaf, m)
    return m


ARCHS = {}


def _register_model(name, dataclass=None):
    def deco(cls):
        return cls
    return deco


def _register_model_architecture(model, arch):
    def deco(fn):
        ARCHS[(model, arch)] = fn
        return fn
    return deco


class _FairseqEncoder(nn.Module):
    def __init__(self, dictionary):
        super().__init__()
        self.dictionary = dictionary


class _FairseqDecoder(nn.Module):
    def __init__(self, dictionary):
        super().__init__()
        self.dictionary = dictionary


class _FairseqEncoderModel(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder


class _FairseqLanguageModel(nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder


def import_authors(tree):
    fs = os.path.join(tree, "fairseq")
    if not os.path.isfile(os.path.join(fs, "modules", "seqboat_unit.py")):
        sys.exit("make_cases: %s does not hold the authors' fairseq tree "
                 "(fairseq/modules/seqboat_unit.py missing)" % tree)
    import importlib
    _package("fairseq", fs)
    _package("fairseq.data", os.path.join(fs, "data"))
    _package("fairseq.data.iterators")
    _package("fairseq.logging", os.path.join(fs, "logging"))
    meters = _package("fairseq.logging.meters")
    meters.safe_round = lambda n, d: round(n, d)
    _package("fairseq.options").eval_str_list = lambda x, type=float: x
    mods = _package("fairseq.modules", os.path.join(fs, "modules"))
    _package("fairseq.modules.multihead_attention").MultiheadAttention = None
    _package("fairseq.modules.s4d_layer").S4D = None  # SeqBoatUnit sets s4d = False
    _package("fairseq.modules.transformer_sentence_encoder").init_bert_params = None
    models = _package("fairseq.models", os.path.join(fs, "models"))
    models.register_model = _register_model
    models.register_model_architecture = _register_model_architecture
    models.FairseqEncoder = _FairseqEncoder
    models.FairseqEncoderModel = _FairseqEncoderModel
    models.FairseqLanguageModel = _FairseqLanguageModel
    models.FairseqIncrementalDecoder = _FairseqDecoder
    # LRA baselines model.py imports but the slag architectures never build
    for base, cls in (("transformer_lra_encoder", "TransformerLRAEncoder"),
                      ("luna_lra_encoder", "LunaLRAEncoder"),
                      ("lstm_lra_encoder", "LSTMLRAEncoder"),
                      ("flash_lra_encoder", "FlashLRAEncoder"),
                      ("mega_lra_encoder", "MegaLRAEncoder")):
        setattr(_package("fairseq.models.lra." + base), cls, None)
    _package("fairseq.models.speech_commands.mega_scraw_encoder").MegaSCRawEncoder = None
    _package("fairseq.models.lra", os.path.join(fs, "models", "lra"))
    _package("fairseq.models.speech_commands", os.path.join(fs, "models", "speech_commands"))

    imp = importlib.import_module
    gelu = imp("fairseq.modules.gelu")
    mods.gelu, mods.gelu_accurate = gelu.gelu, gelu.gelu_accurate
    imp("fairseq.utils")
    imp("fairseq.incremental_decoding_utils")
    for modname, names in (
            ("fairseq.modules.fairseq_dropout", ["FairseqDropout"]),
            ("fairseq.modules.layer_drop", ["LayerDropModuleList"]),
            ("fairseq.modules.real_number_embedding", ["RealNumberEmbedding"]),
            ("fairseq.modules.sequence_norm", ["SequenceNorm"]),
            ("fairseq.modules.seqboat_sentence_encoder_layer", ["SeqBoatSentenceEncoderLayer"]),
            ("fairseq.modules.adaptive_softmax", ["AdaptiveSoftmax"]),
            ("fairseq.modules.adaptive_input", ["AdaptiveInput"]),
            ("fairseq.modules.seqboat_layer", ["SeqBoatDecoderLayer", "SeqBoatEncoderLayer"])):
        m = imp(modname)
        for n in names:
            setattr(mods, n, getattr(m, n))
    lra = imp("fairseq.models.lra.model")
    sc = imp("fairseq.models.speech_commands.model")
    lm = imp("fairseq.models.seqboat_lm")
    return lra, sc, lm


# ---------------------------------------------------------------------------
# the tasks: the options of each script (experiment/run_*.sh and
# examples/seqboat/README.lm.md), then the size reductions of the case

class _Dictionary:
    """What the models read of a fairseq Dictionary: len() and the pad index."""

    def __init__(self, n, pad=1):
        self.n, self.pad_index = n, pad

    def __len__(self):
        return self.n

    def pad(self):
        return self.pad_index


LRA_COMMON = dict(dropout=0.0, attention_dropout=0.0, act_dropout=0.0, encoder_ffn_embed_dim=-1,
                  n_dim=16, activation_fn="silu", sen_rep_type="mp", rel_pos_bias="simple",
                  feature_dropout=False, use_p=False, act_bias=0.0, always_act=False,
                  local_pos=False, add_apos=False, use_nli=False, normalize_embedding=False,
                  init_temp_scale=0.3, encoder_normalize_before=False)

# name: (model, arch, script options, reduced sizes, input kind, lengths, vocab)
SMALL = dict(encoder_layers=2, encoder_embed_dim=16, encoder_hidden_dim=32, z_dim=8,
             classifier_out_dim=32)
TASKS = {
    "listops": ("lra", "slag_lra_listop", dict(
        input_type="text", encoder_layers=6, chunk_size=128, attention_activation_fn="softmax",
        norm_type="layernorm", init_temp_scale=0.3, max_update=90000),
        SMALL, "text", [1100], 20),
    "imdb": ("lra", "slag_lra_imdb", dict(
        input_type="text", encoder_layers=4, chunk_size=128, attention_activation_fn="softmax",
        norm_type="scalenorm", init_temp_scale=0.3, local_pos=True, max_update=25000),
        SMALL, "text", [700], 100),
    "aan": ("lra", "slag_lra_aan", dict(
        input_type="text", encoder_layers=6, chunk_size=128, attention_activation_fn="softmax",
        norm_type="scalenorm", use_nli=True, max_update=91960, init_temp_scale=0.3),
        SMALL, "text2", [330, 270], 100),
    "cifar10": ("lra", "slag_lra_cifar10", dict(
        input_type="image", pixel_normalization=[0.48, 0.24], encoder_layers=8, chunk_size=128,
        attention_activation_fn="relu2", norm_type="batchnorm", encoder_normalize_before=True,
        init_temp_scale=0.4, add_apos=True, max_update=180000),
        SMALL, "image", [1024], 0),
    "pathfinder": ("lra", "slag_lra_pf32", dict(
        input_type="image", pixel_normalization=[0.5, 0.5], encoder_layers=6, chunk_size=128,
        attention_activation_fn="relu2", norm_type="batchnorm", encoder_normalize_before=True,
        init_temp_scale=1.0, add_apos=True, max_update=250000),
        SMALL, "image", [1024], 0),
    "pathx": ("lra", "slag_lra_pf128_base", dict(
        input_type="image", pixel_normalization=[0.5, 0.5], encoder_layers=4, chunk_size=256,
        attention_activation_fn="relu2", norm_type="syncbatchnorm", encoder_normalize_before=True,
        init_temp_scale=1.0, add_apos=True, max_update=125000),
        SMALL, "image", [2048], 0),
    "speech_commands": ("sc_raw", "slag_sc_raw_base", dict(
        encoder_normalize_before=True, sentence_class_num=10, max_positions=16000, act_bias=0.0,
        truncation_length=4000, chunk_size=128, init_temp_scale=1.0, encoder_ffn_embed_dim=-1,
        attention_activation_fn="relu2", rel_pos_bias="simple", local_pos=True,
        max_update=250000),
        dict(encoder_layers=2, encoder_embed_dim=16, encoder_hidden_dim=32, z_dim=8,
             classifier_out_dim=32), "audio", [4500], 0),
    "enwik8": ("slag_lm", "slag_lm_enwik8_base_v2", dict(
        max_target_positions=10384, activation_fn="silu", attention_activation_fn="softmax",
        decoder_n_dim=16, decoder_chunk_size=1024, normalize_before=True,
        no_affine_final_norm=True, normalization_type="layernorm", rel_pos_bias="rotary",
        init_temp_scale=1.0, share_decoder_input_output_embed=True, dropout=0.15,
        attention_dropout=0.0, hidden_dropout=0.0, decoder_ffn_embed_dim=-1,
        tokens_per_sample=8192, slag_local=True, local_pos=False),
        dict(decoder_layers=2, decoder_embed_dim=32, decoder_hidden_dim=64, decoder_z_dim=16),
        "bytes", [3000], 256),
    # two variants beyond the paper's scripts, for the options those never set:
    # rmsnorm, rotary and relu2 in an encoder; scalenorm, local_pos, relu2, an
    # untied output and no embedding scale in the LM
    "variant_encoder": ("lra", "slag_lra_listop", dict(
        input_type="text", encoder_layers=6, chunk_size=64, attention_activation_fn="relu2",
        norm_type="rmsnorm", encoder_normalize_before=True, rel_pos_bias="rotary",
        truncation_length=300, init_temp_scale=0.3, max_update=1000),
        SMALL, "text", [500], 30),
    "variant_lm": ("slag_lm", "slag_lm", dict(
        max_target_positions=1024, activation_fn="silu", attention_activation_fn="relu2",
        decoder_n_dim=16, decoder_chunk_size=64, normalize_before=True,
        no_affine_final_norm=False, normalization_type="scalenorm", rel_pos_bias="simple",
        local_pos=True, init_temp_scale=1.0, share_decoder_input_output_embed=False,
        no_scale_embedding=True, dropout=0.0, attention_dropout=0.0, hidden_dropout=0.0,
        decoder_ffn_embed_dim=-1, truncation_length=200),
        dict(decoder_layers=2, decoder_embed_dim=16, decoder_hidden_dim=32, decoder_z_dim=8),
        "lmids", [400], 40),
}


def make_args(name):
    model, arch, script, small, kind, lengths, vocab = TASKS[name]
    ns = argparse.Namespace()
    if model == "lra":
        for k, v in LRA_COMMON.items():
            setattr(ns, k, v)
    if model == "sc_raw":
        for k in ("dropout", "attention_dropout", "act_dropout", "feature_dropout", "always_act",
                  "normalize_embedding"):
            setattr(ns, k, LRA_COMMON[k])
        ns.activation_fn = "silu"
    for k, v in script.items():
        setattr(ns, k, v)
    for k, v in small.items():
        setattr(ns, k, v)
    ns.arch = arch
    ns.task = {"lra": "lra-text" if script.get("input_type") == "text" else "lra-image",
               "sc_raw": "speech_commands", "slag_lm": "language_modeling"}[model]
    if model == "lra" and script.get("input_type") == "text" and name == "aan":
        ns.task = "lra-text"
    ARCHS[(model, arch)](ns)
    return ns


def build(name, lra, sc, lm):
    model, arch, script, small, kind, lengths, vocab = TASKS[name]
    args = make_args(name)
    task = types.SimpleNamespace(dictionary=_Dictionary(vocab), source_dictionary=_Dictionary(vocab))
    if model == "lra":
        net = lra.LRAModel.build_model(args, task)
    elif model == "sc_raw":
        net = sc.SCRawModel.build_model(args, task)
    else:
        net = lm.SeqBoatLanguageModel.build_model(args, task)
    return args, net


# ---------------------------------------------------------------------------
# random weights, inputs, the authors' forward

def randomize(net, gen, router_scale):
    """Move every parameter and running statistic off its initial value."""
    with torch.no_grad():
        for n, p in net.named_parameters():
            if n.endswith("q_router.temp"):
                continue  # keep the learned temperature of the initialization
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
            if n.endswith("hx_proj.weight"):
                p[:2].mul_(router_scale)  # router logits well apart from a tie
        for n, b in net.named_buffers():
            if n.endswith("running_mean"):
                b.copy_(0.2 * torch.randn(b.shape, generator=gen))
            elif n.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))
            elif n.endswith("num_batches_tracked"):
                b.fill_(1000)


def make_input(name, gen):
    model, arch, script, small, kind, lengths, vocab = TASKS[name]
    if kind in ("text", "text2"):
        # ids 4.. (0-3 are fairseq's <s> <pad> </s> <unk>: no padding in the input)
        return [torch.randint(4, vocab, (1, n), generator=gen) for n in lengths]
    if kind == "lmids":
        return [torch.randint(4, vocab, (1, lengths[0]), generator=gen)]
    if kind == "image":
        mean, std = script["pixel_normalization"]
        pix = torch.randint(0, 256, (1, lengths[0]), generator=gen).float() / 255.0
        return [(pix - mean) / std]  # what the LRA image task feeds the model
    if kind == "audio":
        t = torch.arange(lengths[0]).float()
        wave = 0.5 * torch.sin(t * 0.05) + 0.2 * torch.randn(1, lengths[0], generator=gen)
        return [wave.reshape(1, -1)]
    raise ValueError(kind)


def router_margins(net, inputs, model):
    """Smallest |u1 - u0| over valid positions of every layer (hooks on hx_proj)."""
    got = []

    def hook(mod, inp, out):
        u = out[..., :2].detach()
        got.append(float((u[..., 1] - u[..., 0]).abs().min()))
    hs = [m.register_forward_hook(hook) for n, m in net.named_modules() if n.endswith("hx_proj")]
    try:
        forward(net, inputs, model)
    finally:
        for h in hs:
            h.remove()
    return min(got)


def densities(net, inputs, model):
    got = []

    def hook(mod, inp, out):
        u = out[..., :2].detach()
        got.append(float((u[..., 1] > u[..., 0]).float().mean()))
    hs = [m.register_forward_hook(hook) for n, m in net.named_modules() if n.endswith("hx_proj")]
    try:
        forward(net, inputs, model)
    finally:
        for h in hs:
            h.remove()
    return got


def forward(net, inputs, model):
    with torch.no_grad():
        if model == "slag_lm":
            x, _ = net(inputs[0], torch.tensor([inputs[0].shape[1]]))
            return x
        sample = {"net_input": {"src_tokens": inputs[0],
                                "src_lengths": torch.tensor([inputs[0].shape[1]])}}
        if len(inputs) > 1:
            sample["net_input1"] = {"src_tokens": inputs[1],
                                    "src_lengths": torch.tensor([inputs[1].shape[1]])}
        return net(sample)["encoder_out"]


def bits_per_byte(logits, ids):
    lp = torch.log_softmax(logits[0, :-1].double(), dim=-1)
    nll = -lp.gather(-1, ids[0, 1:, None]).squeeze(-1)
    return float(nll.sum() / math.log(2) / (ids.shape[1] - 1))


def enwik8_text(out):
    """A few KB of text: the committed enwik8.txt when there is one, else the
    start of the project's README (our own text)."""
    path = os.path.join(out, "enwik8.txt")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return f.read()
    with open(os.path.join(ROOT, "README.md"), "rb") as f:
        data = f.read()
    return data[:TASKS["enwik8"][5][0]]


def save_checkpoint(path, args, net):
    state = net.state_dict()  # tied tensors keep sharing one storage, as in fairseq
    ck = {"args": args, "model": state, "optimizer_history": [
        {"criterion_name": "CrossEntropyCriterion", "optimizer_name": "Adam",
         "lr_scheduler_state": {"best": None}, "num_updates": 0}],
          "extra_state": {"epoch": 1}, "last_optimizer_state": None}
    # fairseq's checkpoint_utils.torch_persistent_save: torch.save, default protocol 2
    torch.save(ck, path)


def make_case(name, out, lra, sc, lm, seed):
    model = TASKS[name][0]
    for attempt in range(20):
        torch.manual_seed(seed + attempt)
        gen = torch.Generator().manual_seed(seed + attempt)
        args, net = build(name, lra, sc, lm)
        randomize(net, gen, router_scale=30.0)
        net.eval()
        if name == "enwik8":
            ids = torch.tensor(list(enwik8_text(out)), dtype=torch.long).reshape(1, -1)
            inputs = [ids]
        else:
            inputs = make_input(name, gen)
        margin = router_margins(net, inputs, model)
        dens = densities(net, inputs, model)
        if margin > 2e-3 and all(0.1 < d < 0.9 for d in dens):
            break
    else:
        raise SystemExit("make_cases: %s: no seed gave a router margin above 2e-3 with "
                         "a mixed density" % name)
    y = forward(net, inputs, model)
    save_checkpoint(os.path.join(out, name + ".pt"), args, net)
    io = {"input": inputs[0].numpy().astype(np.int64 if inputs[0].dtype == torch.long
                                             else np.float32)}
    if len(inputs) > 1:
        io["input1"] = inputs[1].numpy().astype(np.int64)
    if name == "enwik8":
        # [1, L, 256] logits are 3 MB: keep every 25th row, and the log-probability
        # the model gives each next byte (what bits per byte is made of)
        rows = np.arange(0, y.shape[1], 25)
        io["output_rows"] = rows.astype(np.int64)
        io["output"] = y[:, rows].numpy().astype(np.float32)
        lp = torch.log_softmax(y[0, :-1].double(), dim=-1)
        io["next_logprob"] = lp.gather(-1, inputs[0][0, 1:, None]).squeeze(-1).numpy()
    else:
        io["output"] = y.numpy().astype(np.float32)
    entry = {"name": name, "arch": args.arch, "seed": seed + attempt,
             "input_shapes": [list(t.shape) for t in inputs], "output_shape": list(y.shape),
             "router_margin": round(margin, 6), "density": [round(d, 4) for d in dens]}
    if name == "enwik8":
        bpb = bits_per_byte(y, inputs[0])
        entry["bits_per_byte"] = round(bpb, 4)
        entry["bits_per_byte_full"] = bpb
        with open(os.path.join(out, "enwik8.txt"), "wb") as f:
            f.write(bytes(inputs[0][0].tolist()))
    path = os.path.join(out, name + ".io.safetensors")
    save_file(io, path, metadata={"source": "the authors' fairseq forward, eval mode, batch 1"})
    os.chmod(path, 0o644)
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tree", help="checkout of renll/SeqBoat (holding fairseq/)")
    ap.add_argument("out", nargs="?", default=os.path.join(ROOT, "tests", "data", "fairseq"))
    ap.add_argument("--only", nargs="*", default=None, help="case names (default: all)")
    ap.add_argument("--seed", type=int, default=19)
    a = ap.parse_args()
    sys.path.insert(0, a.tree)
    lra, sc, lm = import_authors(a.tree)
    os.makedirs(a.out, exist_ok=True)
    jpath = os.path.join(a.out, "cases.json")
    cases = {}
    if os.path.exists(jpath):
        with open(jpath) as f:
            cases = {c["name"]: c for c in json.load(f)}
    for name in (a.only or list(TASKS)):
        e = make_case(name, a.out, lra, sc, lm, a.seed)
        cases[name] = e
        print(json.dumps(e))
    with open(jpath, "w") as f:
        json.dump([cases[n] for n in TASKS if n in cases], f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
