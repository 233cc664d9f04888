"""fairseq checkpoints of the authors' SeqBoat models (docs/FAIRSEQ.md): the
LRA and Speech Commands encoders (LRAModel / SCRawModel with layer_type slag)
and the language model (SeqBoatLanguageModel, enwik8).

A fairseq checkpoint is torch.save({'args': argparse.Namespace, 'model':
state_dict, ...}); _torchzip reads the Namespace as a plain dict. Every
hyper-parameter comes from 'args' and is checked against the tensor shapes;
an option the runtime does not implement is refused by its fairseq name.
The result is the model-file contract version 2 (docs/FAIRSEQ.md section 3):
{new tensor name: _Tensor-like} and the metadata config.
"""
import math
import re

import numpy as np

_ENCODER_PREFIX = "encoder.encoder."
_LAYER_RE = re.compile(r"^(encoder\.encoder\.layers|decoder\.layers)\.(\d+)\.(mega_layer|slag_layer)\.(.*)$")

NORMS = {"layernorm": "layernorm", "batchnorm": "batchnorm", "syncbatchnorm": "batchnorm",
         "scalenorm": "scalenorm", "rmsnorm": "rmsnorm"}

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # fairseq Dictionary ids 0..3

KEY_ORDER_V2 = ("task", "d_input", "vocab_size", "d_output", "d_model", "n_layers", "d_qk",
                "d_hidden", "d_ema", "mem_size", "bidirectional", "prenorm", "norm_type",
                "rel_pos_bias", "attention_activation", "max_positions", "truncation",
                "abs_pos", "head_layers", "d_head", "head_activation", "decoder_bias", "pair")


class FairseqError(ValueError):
    """A fairseq checkpoint that cannot become a seqboat model; the message says why."""


def is_fairseq(obj, state_dict):
    """A fairseq checkpoint: 'args' next to 'model', or fairseq's key layout."""
    if isinstance(obj, dict) and ("args" in obj or "cfg" in obj) and "model" in obj:
        return True
    return any(_LAYER_RE.match(k) for k in state_dict)


class _Arr:
    """A tensor made here (folded or reshaped): the _Tensor interface."""
    __slots__ = ("shape", "dtype_name", "_a")

    def __init__(self, arr, dtype_name="float32"):
        self._a = arr
        self.shape = tuple(arr.shape)
        self.dtype_name = dtype_name

    def float32(self):
        return self._a


class _Reshaped:
    __slots__ = ("shape", "dtype_name", "_t")

    def __init__(self, t, shape):
        self._t, self.shape, self.dtype_name = t, tuple(shape), t.dtype_name

    def float32(self):
        return np.asarray(self._t.float32()).reshape(self.shape)


class _Scaled:
    """t * float32(s), computed in float32 (the LM's sqrt(D) embedding scale)."""
    __slots__ = ("shape", "dtype_name", "_t", "_s")

    def __init__(self, t, s):
        self._t, self._s, self.shape, self.dtype_name = t, np.float32(s), t.shape, t.dtype_name

    def float32(self):
        return (np.asarray(self._t.float32(), np.float32) * self._s).astype(np.float32)


def _opt(args, name, default=None):
    return args.get(name, default)


def _int_opt(args, name, default=None):
    v = args.get(name, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise FairseqError("args.%s is %r; an integer was expected" % (name, v))
    return v


def _refuse(name, value, why):
    raise FairseqError("args.%s = %r is not supported: %s" % (name, value, why))


def _shape(t):
    return tuple(t.shape)


def convert_config(obj, sd):
    """(tensors {name: tensor}, config {key: value}, sources {key: text}) for a
    fairseq checkpoint dict obj with state_dict sd ({name: TensorRef-like})."""
    if "args" not in obj or obj.get("args") is None:
        if "cfg" in obj:
            raise FairseqError("the checkpoint keeps its options under 'cfg' (a fairseq hydra "
                               "config), not 'args'; this converter reads fairseq's 'args' "
                               "Namespace only")
        raise FairseqError("the fairseq checkpoint has no 'args': the model's options (window, "
                           "truncation, norm, attention, position) cannot be read")
    args = obj["args"]
    if not isinstance(args, dict):
        raise FairseqError("the checkpoint's 'args' is a %s, not an argparse.Namespace"
                           % type(args).__name__)
    if any(k.startswith("decoder.layers.") for k in sd):
        return _lm(args, sd)
    if any(k.startswith(_ENCODER_PREFIX + "layers.") for k in sd):
        return _encoder(args, sd)
    first = ", ".join(list(sd)[:6])
    raise FairseqError("a fairseq checkpoint without SeqBoat layers (no encoder.encoder.layers.* "
                       "or decoder.layers.*; first tensors: %s)" % first)


# ---------------------------------------------------------------------------
# the parts both families share

def _layers(sd, prefix, unit):
    """{i: {suffix: tensor}} of the SeqBoat units; refuses other per-layer tensors."""
    layers = {}
    for k, t in sd.items():
        if not k.startswith(prefix):
            continue
        m = re.match(r"^(\d+)\.(.*)$", k[len(prefix):])
        if not m:
            raise FairseqError("tensor %s: expected %s<i>.%s.*" % (k, prefix, unit))
        i, rest = int(m.group(1)), m.group(2)
        if rest.startswith("nffn."):
            raise FairseqError("tensor %s: the layers have a normalized feed-forward block "
                               "(nffn, a positive ffn_embed_dim), which seqboat does not "
                               "implement" % k)
        if not rest.startswith(unit + "."):
            raise FairseqError("tensor %s: unknown part of a SeqBoat layer (expected %s<i>.%s.*)"
                               % (k, prefix, unit))
        layers.setdefault(i, {})[rest[len(unit) + 1:]] = (k, t)
    if not layers:
        raise FairseqError("no SeqBoat layer tensors under %s" % prefix)
    n = max(layers) + 1
    gaps = sorted(set(range(n)) - set(layers))
    if gaps:
        raise FairseqError("layer %d is missing: there are %s%d.* tensors but no %s%d.*"
                           % (gaps[0], prefix, n - 1, prefix, gaps[0]))
    return layers


def _common_options(args, sd, cfg, src, chunk_name):
    """mem_size, truncation, attention_activation, rel_pos_bias (local), norm_type."""
    W = _int_opt(args, chunk_name)
    if W is None or W <= 0:
        _refuse(chunk_name, W, "seqboat runs the windowed attention (a positive chunk size); "
                "without one the authors' code attends globally, with relu2 scaled by the "
                "number of valid keys")
    cfg["mem_size"], src["mem_size"] = W, "args.%s" % chunk_name
    T = args.get("truncation_length")
    if T is None:
        cfg["truncation"], src["truncation"] = 0, "args.truncation_length = None (none)"
    else:
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise FairseqError("args.truncation_length = %r: a positive integer or None was "
                               "expected" % (T,))
        cfg["truncation"], src["truncation"] = T, "args.truncation_length"
    act = args.get("attention_activation_fn")
    if act not in ("softmax", "relu2"):
        _refuse("attention_activation_fn", act, "seqboat implements softmax and relu2")
    cfg["attention_activation"], src["attention_activation"] = act, "args.attention_activation_fn"
    rel = args.get("rel_pos_bias", "simple")
    if rel not in ("simple", "rotary"):
        _refuse("rel_pos_bias", rel, "seqboat implements simple, rotary and local_pos")
    local = bool(args.get("local_pos", False))
    if local and rel == "simple":
        cfg["rel_pos_bias"] = "local"
        src["rel_pos_bias"] = "args.rel_pos_bias = 'simple' with args.local_pos"
    else:
        cfg["rel_pos_bias"] = rel
        src["rel_pos_bias"] = "args.rel_pos_bias" + (" (local_pos applies to simple only)"
                                                     if local else "")
    for name in ("act_bias",):
        v = args.get(name, 0.0)
        if v not in (0, 0.0, None):
            _refuse(name, v, "seqboat's router has no activation bias")
    if args.get("always_act", False):
        _refuse("always_act", True, "seqboat's layers always have the router (q_router)")
    if args.get("normalize_embedding", False):
        _refuse("normalize_embedding", True, "seqboat has no norm after the embedding")


def _norm_tensors(where, tensors_in, norm, D, affine=True):
    """The norm's tensors for the output, folding a non-affine norm; checks shapes."""
    got = dict(tensors_in)
    out = {}
    if not affine:
        if got:
            raise FairseqError("%s: a non-affine norm has no tensors, but %s are present"
                               % (where, ", ".join(sorted(got))))
        if norm == "batchnorm":
            raise FairseqError("%s: a non-affine batchnorm is not supported" % where)
        if norm == "layernorm":
            out["weight"] = _Arr(np.ones(D, np.float32))
            out["bias"] = _Arr(np.zeros(D, np.float32))
        elif norm == "scalenorm":
            out["scalar"] = _Arr(np.ones(1, np.float32))
        elif norm == "rmsnorm":
            out["weight"] = _Arr(np.ones(D, np.float32))
        return out
    want = {"layernorm": {"weight": (D,), "bias": (D,)},
            "batchnorm": {"weight": (D,), "bias": (D,), "running_mean": (D,),
                          "running_var": (D,), "num_batches_tracked": ()},
            "scalenorm": {"scalar": (1,)},
            "rmsnorm": {"weight": (D,)}}[norm]
    for k, shp in want.items():
        if k not in got:
            raise FairseqError("tensor %s%s is missing (a %s norm)" % (where, k, norm))
        t = got.pop(k)[1]
        if k == "scalar" and _shape(t) == ():
            t = _Reshaped(t, (1,))
        if _shape(t) != shp:
            raise FairseqError("tensor %s%s has shape %s; %s was expected"
                               % (where, k, list(t.shape), list(shp)))
        out[k] = t
    if got:
        raise FairseqError("unknown tensor(s) for a %s norm: %s"
                           % (norm, ", ".join(where + k for k in sorted(got))))
    return out


def _layer_tensors(i, parts, cfg, src_prefix):
    """seq_layers.<i>.* from one SeqBoat unit's {suffix: (name, tensor)}."""
    D, Z, H, N = cfg["d_model"], cfg["d_qk"], cfg["d_hidden"], cfg["d_ema"]
    W = cfg["mem_size"]
    K = 2 * D if cfg["bidirectional"] else D
    parts = dict(parts)
    norm_parts = {k[len("norm.norm."):]: v for k, v in parts.items() if k.startswith("norm.norm.")}
    for k in list(parts):
        if k.startswith("norm.norm."):
            del parts[k]
    want = {"gamma": (2, Z), "beta": (2, Z), "move.delta": (K, N, 1), "move.alpha": (K, N, 1),
            "move.beta": (K, N, 1), "move.gamma": (K, N), "move.omega": (D,),
            "q_router.temp": (1,), "mx_proj.weight": (Z + 2 * H, D), "mx_proj.bias": (Z + 2 * H,),
            "hx_proj.weight": (2 + D, D), "hx_proj.bias": (2 + D,), "h_proj.weight": (D, H),
            "h_proj.bias": (D,)}
    if cfg["rel_pos_bias"] == "simple":
        want["rel_pos_bias.rel_pos_bias"] = (2 * cfg["max_positions"] - 1,)
    elif cfg["rel_pos_bias"] == "local":
        want["rel_pos_bias.rel_pos_bias"] = (6 * W - 1,)
    out = {}
    p = "seq_layers.%d." % i
    for k, shp in want.items():
        if k not in parts:
            why = {"rel_pos_bias.rel_pos_bias": " (needed by rel_pos_bias %s)" % cfg["rel_pos_bias"],
                   "q_router.temp": " (the router)"}.get(k, "")
            raise FairseqError("tensor %s%s is missing%s" % (src_prefix % i, k, why))
        name, t = parts.pop(k)
        if _shape(t) != shp:
            extra = ""
            if k == "rel_pos_bias.rel_pos_bias":
                extra = (" (rel_pos_bias %s, %s)" % (cfg["rel_pos_bias"],
                         "6*chunk_size-1 entries" if cfg["rel_pos_bias"] == "local"
                         else "2*max_positions-1 entries, max_positions %d" % cfg["max_positions"]))
            elif k == "move.gamma":
                extra = (" (%s: %s rows)" % ("bidirectional" if cfg["bidirectional"] else "causal",
                                             "2*D" if cfg["bidirectional"] else "D"))
            raise FairseqError("tensor %s has shape %s; %s was expected%s"
                               % (name, list(t.shape), list(shp), extra))
        out[p + ("ssm." + k[5:] if k.startswith("move.") else k)] = t
    if parts:
        raise FairseqError("unknown tensor(s) in layer %d: %s"
                           % (i, ", ".join(v[0] for v in list(parts.values())[:6])))
    for k, t in _norm_tensors(src_prefix % i + "norm.norm.", norm_parts,
                              cfg["norm_type"], D).items():
        out[p + "norm.norm." + k] = t
    return out


def _unit_dims(first, where, args, names, cfg, src, bidirectional):
    """d_model, d_qk, d_hidden, d_ema from layer 0, checked against args."""
    def get(k):
        if k not in first:
            raise FairseqError("tensor %s0.%s is missing" % (where, k))
        return first[k][1]
    D = _shape(get("move.omega"))[0]
    Z = _shape(get("gamma"))[1]
    H = _shape(get("h_proj.weight"))[1]
    N = _shape(get("move.gamma"))[1]
    for key, val, arg in (("d_model", D, names[0]), ("d_hidden", H, names[1]),
                          ("d_qk", Z, names[2]), ("d_ema", N, names[3])):
        a = args.get(arg)
        if a is not None and a != val:
            raise FairseqError("args.%s = %r contradicts the weights (%s%d)" % (arg, a, key, val))
        cfg[key], src[key] = val, "weights (layer 0), = args.%s" % arg
    cfg["bidirectional"] = bidirectional
    src["bidirectional"] = ("encoder: bidirectional EMA (move.gamma rows 2*d_model)" if bidirectional
                            else "decoder: causal")
    return D


def _ordered(cfg):
    return {k: cfg[k] for k in KEY_ORDER_V2}


# ---------------------------------------------------------------------------
# LRA / Speech Commands encoders

def _encoder(args, sd):
    cfg, src = {"task": "classify"}, {"task": "fairseq encoder with a classifier"}
    lt = args.get("layer_type", "slag")
    if lt != "slag":
        _refuse("layer_type", lt, "only SeqBoat (slag) layers are converted")
    for name, bad in (("use_p", True),):
        if args.get(name, False) == bad:
            _refuse(name, bad, "the prediction comes from the pooled encoder output")
    rep = args.get("sen_rep_type", "mp")
    if rep != "mp":
        _refuse("sen_rep_type", rep, "seqboat classifies from the mean over valid positions (mp)")
    ffn = _int_opt(args, "encoder_ffn_embed_dim")
    if ffn is not None and ffn > 0:
        _refuse("encoder_ffn_embed_dim", ffn, "the normalized feed-forward block (nffn) is not "
                "implemented; the paper's scripts pass -1")
    _common_options(args, sd, cfg, src, "chunk_size")
    nt = args.get("norm_type")
    if nt not in NORMS:
        _refuse("norm_type", nt, "seqboat implements %s" % ", ".join(NORMS))
    cfg["norm_type"] = NORMS[nt]
    src["norm_type"] = "args.norm_type" + (" (syncbatchnorm = batchnorm at inference)"
                                           if nt == "syncbatchnorm" else "")
    cfg["prenorm"] = bool(args.get("encoder_normalize_before", False))
    src["prenorm"] = "args.encoder_normalize_before"
    P = _int_opt(args, "max_positions")
    if P is None or P < 1:
        raise FairseqError("args.max_positions = %r: a positive integer was expected" % (P,))
    cfg["max_positions"], src["max_positions"] = P, "args.max_positions"

    prefix = _ENCODER_PREFIX + "layers."
    layers = _layers(sd, prefix, "mega_layer")
    D = _unit_dims(layers[0], prefix, args,
                   ("encoder_embed_dim", "encoder_hidden_dim", "z_dim", "n_dim"), cfg, src, True)
    cfg["n_layers"], src["n_layers"] = len(layers), "weights (%s<i>)" % prefix
    if args.get("encoder_layers") not in (None, len(layers)):
        raise FairseqError("args.encoder_layers = %r but the state_dict has %d layer(s)"
                           % (args.get("encoder_layers"), len(layers)))

    out = {}
    used = set()

    def take(name):
        used.add(name)
        return sd[name]

    e = _ENCODER_PREFIX
    if e + "embed_tokens.embed.weight" in sd:
        t = take(e + "embed_tokens.embed.weight")
        if len(t.shape) != 2 or t.shape[1] != D:
            raise FairseqError("tensor %sembed_tokens.embed.weight has shape %s; [vocab, %d] "
                               "was expected" % (e, list(t.shape), D))
        out["embed_tokens.weight"] = t
        cfg["vocab_size"], cfg["d_input"] = t.shape[0], 0
        src["vocab_size"] = "weights (embed_tokens.embed.weight: token ids)"
        src["d_input"] = "token ids"
    elif e + "embed_tokens.weight" in sd:
        w, b = take(e + "embed_tokens.weight"), sd.get(e + "embed_tokens.bias")
        if b is None:
            raise FairseqError("tensor %sembed_tokens.bias is missing (a real-number embedding)" % e)
        take(e + "embed_tokens.bias")
        if _shape(w) != (D,) or _shape(b) != (D,):
            raise FairseqError("tensors %sembed_tokens.weight/bias have shapes %s, %s; [%d] was "
                               "expected (a real-number embedding)"
                               % (e, list(w.shape), list(b.shape), D))
        out["encoder.weight"] = _Reshaped(w, (D, 1))
        out["encoder.bias"] = b
        cfg["vocab_size"], cfg["d_input"] = 0, 1
        src["vocab_size"] = "unused (real-valued input)"
        src["d_input"] = "weights (embed_tokens.weight: one value per position)"
    else:
        raise FairseqError("no input embedding: neither %sembed_tokens.embed.weight (text) nor "
                           "%sembed_tokens.weight (pixels, audio)" % (e, e))

    has_pos = e + "pos_emb.scale" in sd or e + "pos_emb.inv_freq" in sd
    # SCRawModel's encoder always adds them; the LRA encoder with args.add_apos
    sc = args.get("task") == "speech_commands" or str(args.get("arch", "")).startswith(
        ("slag_sc_raw", "sc_raw"))
    apos = sc or bool(args.get("add_apos", False))
    if apos != has_pos:
        raise FairseqError("args say %s absolute positions but pos_emb.* is %s"
                           % ("sinusoidal" if apos else "no", "present" if has_pos else "absent"))
    if apos:
        if D % 2:
            raise FairseqError("sinusoidal positions need an even embedding dimension, not %d" % D)
        for k, shp in (("scale", (1,)), ("inv_freq", (D // 2,))):
            name = e + "pos_emb." + k
            if name not in sd:
                raise FairseqError("tensor %s is missing (args.add_apos)" % name)
            t = take(name)
            if k == "scale" and _shape(t) == ():
                t = _Reshaped(t, (1,))
            if _shape(t) != shp:
                raise FairseqError("tensor %s has shape %s; %s was expected"
                                   % (name, list(t.shape), list(shp)))
            out["pos_emb." + k] = t
        cfg["abs_pos"] = "sinusoidal"
        src["abs_pos"] = "speech commands encoder (always on)" if sc else "args.add_apos"
    else:
        cfg["abs_pos"], src["abs_pos"] = "none", "args.add_apos is off"

    for i in range(cfg["n_layers"]):
        for k, t in _layer_tensors(i, layers[i], cfg, prefix + "%d.mega_layer.").items():
            out[k] = t
        for _, (name, _) in layers[i].items():
            used.add(name)

    fn = {k[len(e + "final_norm.norm."):]: (k, sd[k]) for k in sd
          if k.startswith(e + "final_norm.norm.")}
    if cfg["prenorm"] != bool(fn):
        raise FairseqError("args.encoder_normalize_before is %s but final_norm.* is %s"
                           % (cfg["prenorm"], "present" if fn else "absent"))
    if fn:
        for k, t in _norm_tensors(e + "final_norm.norm.", fn, cfg["norm_type"], D).items():
            out["final_norm.norm." + k] = t
        used.update(v[0] for v in fn.values())

    # the head: classifier.<k>.0.{weight,bias} with gelu, sentence_projection_layer (no bias)
    act = args.get("classifier_activation_fn", "gelu")
    heads = sorted({int(m.group(1)) for m in (re.match(r"^classifier\.(\d+)\.0\.", k) for k in sd)
                    if m})
    nh = args.get("classifier_layers")
    if nh is not None and nh != len(heads):
        raise FairseqError("args.classifier_layers = %r but the state_dict has %d classifier "
                           "layer(s)" % (nh, len(heads)))
    if heads and act != "gelu":
        _refuse("classifier_activation_fn", act, "the head's activation is gelu")
    if heads != list(range(len(heads))):
        raise FairseqError("classifier layers %s: expected classifier.0 .. classifier.%d"
                           % (heads, len(heads) - 1))
    width = None
    for k in heads:
        w = sd.get("classifier.%d.0.weight" % k)
        b = sd.get("classifier.%d.0.bias" % k)
        if w is None or b is None:
            raise FairseqError("tensor classifier.%d.0.%s is missing"
                               % (k, "weight" if w is None else "bias"))
        used.update(("classifier.%d.0.weight" % k, "classifier.%d.0.bias" % k))
        if len(w.shape) != 2 or _shape(b) != (w.shape[0],) or (width and w.shape[1] != width):
            raise FairseqError("tensors classifier.%d.0.weight/bias have shapes %s, %s"
                               % (k, list(w.shape), list(b.shape)))
        if k == 0:
            F = w.shape[1]
        width = w.shape[0]
        out["head.%d.weight" % k], out["head.%d.bias" % k] = w, b
    if "sentence_projection_layer.weight" not in sd:
        raise FairseqError("tensor sentence_projection_layer.weight is missing (the classifier)")
    proj = take("sentence_projection_layer.weight")
    if "sentence_projection_layer.bias" in sd:
        raise FairseqError("tensor sentence_projection_layer.bias: the authors' projection has "
                           "no bias")
    if not heads:
        F = proj.shape[1] if len(proj.shape) == 2 else -1
    cfg["head_layers"], src["head_layers"] = len(heads), "weights (classifier.<k>.0)"
    cfg["d_head"] = width or 0
    src["d_head"] = "weights (classifier.0.0.weight)" if heads else "no head layers"
    cfg["head_activation"], src["head_activation"] = "gelu", "args.classifier_activation_fn"
    if len(proj.shape) != 2 or proj.shape[1] != (width or F):
        raise FairseqError("tensor sentence_projection_layer.weight has shape %s; [classes, %d] "
                           "was expected" % (list(proj.shape), width or F))
    out["decoder.weight"] = proj
    cfg["d_output"], src["d_output"] = proj.shape[0], "weights (sentence_projection_layer)"
    cfg["decoder_bias"], src["decoder_bias"] = False, "fairseq's projection has no bias"
    classes = args.get("sentence_class_num")
    if classes is not None and classes != cfg["d_output"]:
        raise FairseqError("args.sentence_class_num = %r contradicts the weights (%d classes)"
                           % (classes, cfg["d_output"]))
    nli = bool(args.get("use_nli", False))
    if F == D:
        if nli:
            raise FairseqError("args.use_nli is set but the classifier reads %d features, "
                               "one encoder output (d_model %d)" % (F, D))
        cfg["pair"], src["pair"] = "none", "weights (classifier input = d_model)"
    elif F == 4 * D and nli:
        cfg["pair"], src["pair"] = "nli", "args.use_nli, classifier input 4*d_model"
    elif F == 2 * D and not nli:
        cfg["pair"], src["pair"] = "concat", "classifier input 2*d_model (two inputs)"
    else:
        raise FairseqError("the classifier reads %d features: with d_model %d that is neither "
                           "one input (%d), two (%d) nor two with use_nli (%d)"
                           % (F, D, D, 2 * D, 4 * D))
    rest = [k for k in sd if k not in used]
    if rest:
        raise FairseqError("unknown tensor(s) in the fairseq state_dict: %s"
                           % ", ".join(rest[:6]))
    return _finish(out, cfg, src)


# ---------------------------------------------------------------------------
# the language model

def _lm(args, sd):
    cfg, src = {"task": "lm"}, {"task": "fairseq SeqBoat language model"}
    for name in ("adaptive_input", "tie_adaptive_weights"):
        if args.get(name, False):
            _refuse(name, True, "adaptive input embeddings are not implemented")
    if args.get("adaptive_softmax_cutoff") is not None:
        _refuse("adaptive_softmax_cutoff", args.get("adaptive_softmax_cutoff"),
                "the adaptive softmax is not implemented")
    ffn = _int_opt(args, "decoder_ffn_embed_dim")
    if ffn is not None and ffn > 0:
        _refuse("decoder_ffn_embed_dim", ffn, "the normalized feed-forward block (nffn) is not "
                "implemented; the paper's enwik8 run passes -1")
    _common_options(args, sd, cfg, src, "decoder_chunk_size")
    nt = args.get("normalization_type", "layernorm")
    if nt not in NORMS:
        _refuse("normalization_type", nt, "seqboat implements %s" % ", ".join(NORMS))
    cfg["norm_type"], src["norm_type"] = NORMS[nt], "args.normalization_type"
    cfg["prenorm"] = bool(args.get("normalize_before", False))
    src["prenorm"] = "args.normalize_before"
    P = _int_opt(args, "max_target_positions")
    if P is None or P < 1:
        raise FairseqError("args.max_target_positions = %r: a positive integer was expected"
                           % (P,))
    cfg["max_positions"], src["max_positions"] = P, "args.max_target_positions"
    prefix = "decoder.layers."
    layers = _layers(sd, prefix, "slag_layer")
    D = _unit_dims(layers[0], prefix, args, ("decoder_embed_dim", "decoder_hidden_dim",
                                             "decoder_z_dim", "decoder_n_dim"), cfg, src, False)
    cfg["n_layers"], src["n_layers"] = len(layers), "weights (%s<i>)" % prefix
    if args.get("decoder_layers") not in (None, len(layers)):
        raise FairseqError("args.decoder_layers = %r but the state_dict has %d layer(s)"
                           % (args.get("decoder_layers"), len(layers)))
    din = args.get("decoder_input_dim", D)
    if din != D or "decoder.project_in_dim.weight" in sd:
        _refuse("decoder_input_dim", din, "an input projection (project_in_dim) is not "
                "implemented; it must equal decoder_embed_dim %d" % D)
    used = set()
    out = {}
    if "decoder.embed_tokens.weight" not in sd:
        raise FairseqError("tensor decoder.embed_tokens.weight is missing")
    E = sd["decoder.embed_tokens.weight"]
    used.add("decoder.embed_tokens.weight")
    if len(E.shape) != 2 or E.shape[1] != D:
        raise FairseqError("tensor decoder.embed_tokens.weight has shape %s; [vocab, %d] was "
                           "expected" % (list(E.shape), D))
    V = E.shape[0]
    if args.get("no_scale_embedding", False):
        out["embed_tokens.weight"] = E
        src["vocab_size"] = "weights (decoder.embed_tokens.weight; args.no_scale_embedding)"
    else:
        out["embed_tokens.weight"] = _Scaled(E, math.sqrt(D))
        src["vocab_size"] = "weights (decoder.embed_tokens.weight, scaled by sqrt(%d) folded in)" % D
    cfg["vocab_size"], cfg["d_input"], src["d_input"] = V, 0, "unused by lm"
    for i in range(cfg["n_layers"]):
        out.update(_layer_tensors(i, layers[i], cfg, prefix + "%d.slag_layer."))
        used.update(name for name, _ in layers[i].values())
    fn = {k[len("decoder.final_norm.norm."):]: (k, sd[k]) for k in sd
          if k.startswith("decoder.final_norm.norm.")}
    affine = not args.get("no_affine_final_norm", False)
    if cfg["prenorm"]:
        for k, t in _norm_tensors("decoder.final_norm.norm.", fn, cfg["norm_type"], D,
                                  affine=affine).items():
            out["final_norm.norm." + k] = t
        used.update(v[0] for v in fn.values())
    elif fn:
        raise FairseqError("args.normalize_before is off but decoder.final_norm.* is present")
    share = bool(args.get("share_decoder_input_output_embed", False))
    if share:
        cfg["d_output"] = V
        src["d_output"] = "args.share_decoder_input_output_embed (tied to the embedding)"
        out["decoder.weight"] = E
        if "decoder.output_projection.weight" in sd:
            used.add("decoder.output_projection.weight")  # the same tensor (tied)
    else:
        if "decoder.output_projection.weight" not in sd:
            raise FairseqError("tensor decoder.output_projection.weight is missing (the output "
                               "projection is not tied)")
        Wo = sd["decoder.output_projection.weight"]
        used.add("decoder.output_projection.weight")
        if _shape(Wo) != (V, D):
            raise FairseqError("tensor decoder.output_projection.weight has shape %s; %s was "
                               "expected" % (list(Wo.shape), [V, D]))
        out["decoder.weight"] = Wo
        cfg["d_output"], src["d_output"] = V, "weights (decoder.output_projection.weight)"
    if "decoder.output_projection.bias" in sd:
        raise FairseqError("tensor decoder.output_projection.bias: the authors' output "
                           "projection has no bias")
    used.add("decoder.version")
    cfg["abs_pos"], src["abs_pos"] = "none", "the LM has no absolute positions"
    cfg["head_layers"], cfg["d_head"] = 0, 0
    src["head_layers"] = src["d_head"] = "lm"
    cfg["head_activation"], src["head_activation"] = "gelu", "unused"
    cfg["decoder_bias"], src["decoder_bias"] = False, "fairseq's output projection has no bias"
    cfg["pair"], src["pair"] = "none", "lm"
    rest = [k for k in sd if k not in used]
    if rest:
        raise FairseqError("unknown tensor(s) in the fairseq state_dict: %s" % ", ".join(rest[:6]))
    return _finish(out, cfg, src)


def _finish(out, cfg, src):
    if cfg["rel_pos_bias"] == "rotary" and cfg["d_qk"] % 2:
        raise FairseqError("rotary positions need an even z_dim; the weights give %d" % cfg["d_qk"])
    order = ["embed_tokens.weight", "encoder.weight", "encoder.bias", "pos_emb.scale",
             "pos_emb.inv_freq"]
    tensors = {k: out[k] for k in order if k in out}
    for i in range(cfg["n_layers"]):
        p = "seq_layers.%d." % i
        for k in sorted(k for k in out if k.startswith(p)):
            tensors[k] = out[k]
    for k in sorted(k for k in out if k.startswith("final_norm.")):
        tensors[k] = out[k]
    for k in sorted(k for k in out if k.startswith("head.")):
        tensors[k] = out[k]
    tensors["decoder.weight"] = out["decoder.weight"]
    assert len(tensors) == len(out), sorted(set(out) - set(tensors))
    return tensors, _ordered(cfg), src


def read_dictionary(path):
    """The symbols of a fairseq dict.txt in id order (the four specials first)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise FairseqError("cannot read the dictionary %s: %s" % (path, exc.strerror or exc))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FairseqError("the dictionary %s is not UTF-8 text (byte %d)" % (path, exc.start))
    syms = list(SPECIALS)
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        line = line.rstrip()
        if line.endswith(" #fairseq:overwrite"):
            line = line[:-len(" #fairseq:overwrite")]
        sym, sep, count = line.rpartition(" ")
        if not sep or not count.isdigit():
            raise FairseqError("the dictionary %s, line %d: expected '<symbol> <count>', got %r"
                               % (path, n, line[:60]))
        syms.append(sym)
    return syms


def token_bytes(symbols, vocab_size, path):
    """The metadata token_bytes (docs/FAIRSEQ.md 2.7): the byte each id stands
    for (a symbol that is a decimal 0..255, as enwik8's are), else -1."""
    if len(symbols) > vocab_size:
        raise FairseqError("the dictionary %s has %d entries (with the 4 specials) but the "
                           "embedding has %d rows" % (path, len(symbols), vocab_size))
    out = []
    for sym in symbols:
        b = int(sym) if sym.isdigit() and sym.isascii() and len(sym) <= 3 else -1
        out.append(b if 0 <= b <= 255 else -1)
    out += [-1] * (vocab_size - len(symbols))  # padding symbols fairseq adds (madeupword)
    if all(b < 0 for b in out):
        raise FairseqError("the dictionary %s maps no id to a byte (its symbols are not the "
                           "decimal byte values of a byte-level LM)" % path)
    return ",".join(str(b) for b in out)
