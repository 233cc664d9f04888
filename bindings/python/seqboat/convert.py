"""Convert a PyTorch checkpoint of the authors' SeqBoat model into a seqboat
model file (SPEC section 4: safetensors, PyTorch state_dict names, the
hyper-parameters in the metadata).

    python -m seqboat.convert CHECKPOINT OUTPUT.safetensors [options]
    seqboat-convert CHECKPOINT OUTPUT.safetensors [options]     (installed script)

The checkpoint is read without torch (seqboat._torchzip: a restricted
unpickler; nothing from the file runs). The state_dict is found bare or under
'model', 'state_dict' or 'net'; 'module.' prefixes (DataParallel) are
stripped. Every hyper-parameter the weights determine is read from them; the
others come from the options, whose defaults are those of the reference's
SeqBoatModel. The file is written under a temporary name, loaded with the
library and run once on a short input (--no-check skips that), and only then
renamed to OUTPUT. On any error nothing is left at OUTPUT.

A fairseq checkpoint of the authors' paper models ({'args': Namespace,
'model': state_dict, ...}; docs/CONVERT.md, docs/FAIRSEQ.md) takes every
option from its args (seqboat._fairseq) and is written as model-file format
version 2; command-line options must then agree with the args.

--dtype f16 or bf16 stores the float weights in that dtype (seqboat._dtype;
integer tensors and metadata unchanged), and the check then also runs the
float32 model on the same input and bounds the difference. Given a seqboat
model file (.safetensors) instead of a checkpoint, the converter stores that
model again in the --dtype asked for.

From Python, with torch installed, seqboat.export(module, path, **options)
does the same for an nn.Module in memory.
"""
import argparse
import json
import os
import re
import struct
import sys
import tempfile

import numpy as np

from . import _dtype, _fairseq
from ._verify import (ConvertError, _check_dtype, _check_model, _check_model_file,  # noqa: F401
                     _read_output, _write_safetensors, _write_tmp)
from ._torchzip import Checkpoint, CheckpointError, TensorRef

__all__ = ["ConvertError", "DEFAULTS", "convert", "export", "main"]

# Options the weights cannot tell, with SeqBoatModel's own defaults
# (standalone_seqboat.py: mem_size=128, attention_activation='relu2',
# truncation=None, max_positions=1024; the model classifies).
DEFAULTS = {"mem_size": 128, "attention_activation": "relu2", "truncation": 0,
            "max_positions": 1024}
TASKS = ("classify", "sequence", "lm")
ACTIVATIONS = ("relu2", "softmax")
WRAPPERS = ("model", "state_dict", "net")
PREFIXES = ("module.", "_orig_mod.")
KEY_ORDER = ("task", "d_input", "vocab_size", "d_output", "d_model", "n_layers", "d_qk",
             "d_hidden", "d_ema", "mem_size", "bidirectional", "prenorm", "norm_type",
             "rel_pos_bias", "attention_activation", "max_positions", "truncation")


def _cli_name(key):
    return "--" + key.replace("_", "-")


# ---------------------------------------------------------------------------
# tensors of either origin: TensorRef (checkpoint) or numpy (export)

class _Tensor:
    __slots__ = ("shape", "dtype_name", "_get")

    def __init__(self, shape, dtype_name, get):
        self.shape = tuple(shape)
        self.dtype_name = dtype_name
        self._get = get

    def float32(self):
        return self._get()


def _from_ref(ref):
    def get():
        a = ref.to_float32()
        return a if a is not None else ref.numpy()
    return _Tensor(ref.shape, ref.dtype_name, get)


def _from_numpy(arr, dtype_name):
    return _Tensor(arr.shape, dtype_name, lambda: arr)


# ---------------------------------------------------------------------------
# finding the state_dict

def _is_state_dict(d):
    return (isinstance(d, dict) and len(d) > 0
            and all(isinstance(k, str) for k in d)
            and all(isinstance(v, TensorRef) for v in d.values()))


def find_state_dict(obj):
    """(state_dict, where) from what torch.save wrote: bare, or under one of
    WRAPPERS (also one level further down, e.g. {'model': {'state_dict': ...}})."""
    if _is_state_dict(obj):
        return obj, "the top level"
    if isinstance(obj, dict):
        for k in WRAPPERS:
            v = obj.get(k)
            if _is_state_dict(v):
                return v, "'%s'" % k
        for k in WRAPPERS:
            v = obj.get(k)
            if isinstance(v, dict):
                for k2 in WRAPPERS:
                    if _is_state_dict(v.get(k2)):
                        return v[k2], "'%s' / '%s'" % (k, k2)
        keys = [repr(k) for k in list(obj)[:12]]
        raise ConvertError(
            "no state_dict in the checkpoint: expected a dict of tensors, bare or under %s; "
            "the top-level keys are %s" % (" / ".join(repr(w) for w in WRAPPERS),
                                           ", ".join(keys) or "(none)"))
    raise ConvertError("no state_dict in the checkpoint: it holds a %s, not a dict of tensors"
                       % type(obj).__name__)


def strip_prefixes(names):
    """{new name: old name}, dropping 'module.' ('_orig_mod.') when every name has it."""
    mapping = {n: n for n in names}
    stripped = []
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if mapping and all(n.startswith(p) for n in mapping):
                mapping = {n[len(p):]: o for n, o in mapping.items()}
                stripped.append(p)
                changed = True
    return mapping, stripped


# ---------------------------------------------------------------------------
# hyper-parameters from the weights

def _shape(tensors, name, rank):
    t = tensors.get(name)
    if t is None:
        return None
    if len(t.shape) != rank:
        raise ConvertError("tensor %s has shape %s; a %d-D tensor was expected"
                           % (name, list(t.shape), rank))
    return t.shape


def _need(tensors, name, rank, why):
    s = _shape(tensors, name, rank)
    if s is None:
        raise ConvertError("tensor %s is missing (needed for %s)" % (name, why))
    return s


def infer_config(tensors, options, option_style="cli"):
    """(config, sources): every SPEC section 4 key, from the weights where they
    determine it, else from options (dict; None = not given), else DEFAULTS.
    sources[key] says where each value came from."""
    def opt_text(key, value):
        if option_style == "cli":
            return "%s %s" % (_cli_name(key), value)
        return "%s=%r" % (key, value)

    opts = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = set(opts) - set(DEFAULTS) - {"task"}
    if unknown:
        raise ConvertError("unknown option(s): %s" % ", ".join(sorted(unknown)))
    cfg, src = {}, {}

    # task, d_input / vocab_size, d_model
    enc = _shape(tensors, "encoder.weight", 2)
    emb = _shape(tensors, "embed_tokens.weight", 2)
    if enc is not None and emb is not None:
        raise ConvertError("the weights have both encoder.weight and embed_tokens.weight; "
                           "a SeqBoat model has one of them")
    if enc is None and emb is None:
        first = ", ".join(list(tensors)[:8])
        raise ConvertError("not a SeqBoat state_dict: neither encoder.weight nor "
                           "embed_tokens.weight is present (first tensors: %s)" % first)
    task = opts.get("task")
    if task is not None and task not in TASKS:
        raise ConvertError("%s: the task must be one of %s" % (opt_text("task", task),
                                                                ", ".join(TASKS)))
    if emb is not None:
        if task is not None and task != "lm":
            raise ConvertError("%s contradicts the weights: embed_tokens.weight %s makes it a "
                               "token model (task lm)" % (opt_text("task", task), list(emb)))
        cfg["task"], src["task"] = "lm", "weights (embed_tokens.weight)"
        cfg["vocab_size"], cfg["d_model"] = emb
        cfg["d_input"] = 0
        src["vocab_size"] = "weights (embed_tokens.weight)"
        src["d_model"] = "weights (embed_tokens.weight)"
        src["d_input"] = "unused by lm"
    else:
        if task == "lm":
            raise ConvertError("%s contradicts the weights: they have encoder.weight %s (a "
                               "classify or sequence model); an lm has embed_tokens.weight"
                               % (opt_text("task", task), list(enc)))
        cfg["task"] = task or "classify"
        src["task"] = "option" if task else "default (encoder.weight: SeqBoatModel classifies)"
        cfg["d_model"], cfg["d_input"] = enc
        cfg["vocab_size"] = 0
        src["d_model"] = src["d_input"] = "weights (encoder.weight)"
        src["vocab_size"] = "unused by %s" % cfg["task"]
    D = cfg["d_model"]
    dec = _need(tensors, "decoder.weight", 2, "d_output")
    cfg["d_output"] = dec[0]
    src["d_output"] = "weights (decoder.weight)"

    # layers
    idx = set()
    for n in tensors:
        m = re.match(r"seq_layers\.(\d+)\.", n)
        if m:
            idx.add(int(m.group(1)))
    if not idx:
        raise ConvertError("no seq_layers.<i>.* tensors: the state_dict has no SeqBoat layer")
    n_layers = max(idx) + 1
    gaps = sorted(set(range(n_layers)) - idx)
    if gaps:
        raise ConvertError("layer %d is missing: there are seq_layers.%d.* tensors but no "
                           "seq_layers.%d.*" % (gaps[0], n_layers - 1, gaps[0]))
    cfg["n_layers"], src["n_layers"] = n_layers, "weights (seq_layers.<i>)"
    p = "seq_layers.0."
    Z = _need(tensors, p + "gamma", 2, "d_qk")[1]
    cfg["d_qk"], src["d_qk"] = Z, "weights (%sgamma)" % p
    H = _need(tensors, p + "h_proj.weight", 2, "d_hidden")[1]
    cfg["d_hidden"], src["d_hidden"] = H, "weights (%sh_proj.weight)" % p
    K, N = _need(tensors, p + "ssm.gamma", 2, "d_ema and bidirectional")
    cfg["d_ema"], src["d_ema"] = N, "weights (%sssm.gamma)" % p
    if K == 2 * D:
        cfg["bidirectional"] = True
    elif K == D:
        cfg["bidirectional"] = False
    else:
        raise ConvertError("tensor %sssm.gamma has shape %s: its first dimension must be "
                           "d_model %d (causal) or 2*d_model %d (bidirectional)"
                           % (p, [K, N], D, 2 * D))
    src["bidirectional"] = "weights (%sssm.gamma has %d rows, d_model %d)" % (p, K, D)
    bn = (p + "norm.norm.running_mean") in tensors
    cfg["norm_type"] = "batchnorm" if bn else "layernorm"
    src["norm_type"] = "weights (%s running statistics)" % ("with" if bn else "no")
    cfg["prenorm"] = any(n.startswith("final_norm.") for n in tensors)
    src["prenorm"] = "weights (%s final_norm.*)" % ("with" if cfg["prenorm"] else "no")

    act = opts.get("attention_activation", DEFAULTS["attention_activation"])
    if act not in ACTIVATIONS:
        raise ConvertError("%s: the attention activation must be relu2 or softmax"
                           % opt_text("attention_activation", act))
    cfg["attention_activation"] = act
    for key, lo in (("mem_size", 1), ("truncation", 0), ("max_positions", 1)):
        v = opts.get(key)
        if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool)
                              or v < lo or v > 2 ** 31 - 1):
            raise ConvertError("%s: must be an integer %s %d" % (opt_text(key, v),
                                                                  ">=", lo))
    cfg["mem_size"] = int(opts.get("mem_size", DEFAULTS["mem_size"]))
    cfg["truncation"] = int(opts.get("truncation", DEFAULTS["truncation"]))
    for key in ("attention_activation", "mem_size", "truncation"):
        src[key] = "option" if key in opts else "default"

    table = _shape(tensors, p + "rel_pos_bias.rel_pos_bias", 1)
    if table is not None:
        cfg["rel_pos_bias"] = "simple"
        src["rel_pos_bias"] = "weights (%srel_pos_bias.rel_pos_bias present)" % p
        if table[0] % 2 != 1:
            raise ConvertError("tensor %srel_pos_bias.rel_pos_bias has %d entries; a table of "
                               "2*max_positions-1 (odd) entries was expected" % (p, table[0]))
        P = (table[0] + 1) // 2
        if "max_positions" in opts and opts["max_positions"] != P:
            raise ConvertError("%s contradicts the weights: %srel_pos_bias.rel_pos_bias has "
                               "%d entries, i.e. max_positions %d"
                               % (opt_text("max_positions", opts["max_positions"]), p,
                                  table[0], P))
        cfg["max_positions"] = P
        src["max_positions"] = "weights (%srel_pos_bias.rel_pos_bias: %d entries)" % (p, table[0])
    else:
        cfg["rel_pos_bias"] = "rotary"
        src["rel_pos_bias"] = "weights (no %srel_pos_bias table)" % p
        cfg["max_positions"] = int(opts.get("max_positions", DEFAULTS["max_positions"]))
        src["max_positions"] = "option" if "max_positions" in opts else "default"
    if cfg["rel_pos_bias"] == "rotary" and Z % 2:
        raise ConvertError("rotary position needs an even d_qk; %sgamma gives %d" % (p, Z))
    return {k: cfg[k] for k in KEY_ORDER}, src


def expected_shapes(cfg):
    """{tensor name: shape} of a model with this config, in state_dict order."""
    D, Z, H, N = cfg["d_model"], cfg["d_qk"], cfg["d_hidden"], cfg["d_ema"]
    K = 2 * D if cfg["bidirectional"] else D
    out = {}
    if cfg["task"] == "lm":
        out["embed_tokens.weight"] = (cfg["vocab_size"], D)
    else:
        out["encoder.weight"] = (D, cfg["d_input"])
        out["encoder.bias"] = (D,)

    def norm(prefix):
        out[prefix + "weight"] = (D,)
        out[prefix + "bias"] = (D,)
        if cfg["norm_type"] == "batchnorm":
            out[prefix + "running_mean"] = (D,)
            out[prefix + "running_var"] = (D,)
            out[prefix + "num_batches_tracked"] = ()

    for i in range(cfg["n_layers"]):
        p = "seq_layers.%d." % i
        out[p + "gamma"] = (2, Z)
        out[p + "beta"] = (2, Z)
        norm(p + "norm.norm.")
        for k in ("delta", "alpha", "beta"):
            out[p + "ssm." + k] = (K, N, 1)
        out[p + "ssm.gamma"] = (K, N)
        out[p + "ssm.omega"] = (D,)
        if cfg["rel_pos_bias"] == "simple":
            out[p + "rel_pos_bias.rel_pos_bias"] = (2 * cfg["max_positions"] - 1,)
        out[p + "q_router.temp"] = (1,)
        out[p + "mx_proj.weight"] = (Z + 2 * H, D)
        out[p + "mx_proj.bias"] = (Z + 2 * H,)
        out[p + "hx_proj.weight"] = (2 + D, D)
        out[p + "hx_proj.bias"] = (2 + D,)
        out[p + "h_proj.weight"] = (D, H)
        out[p + "h_proj.bias"] = (D,)
    if cfg["prenorm"]:
        norm("final_norm.norm.")
    out["decoder.weight"] = (cfg["d_output"], D)
    out["decoder.bias"] = (cfg["d_output"],)
    return out


def _listing(names, limit=6):
    names = list(names)
    s = ", ".join(names[:limit])
    return s + (" and %d more" % (len(names) - limit) if len(names) > limit else "")


def check_tensors(tensors, cfg):
    """ConvertError naming missing, unknown and misshapen tensors; else the
    expected {name: shape}."""
    want = expected_shapes(cfg)
    missing = [n for n in want if n not in tensors]
    unknown = [n for n in tensors if n not in want]
    bad = ["%s %s (expected %s)" % (n, list(tensors[n].shape), list(want[n]))
           for n in want if n in tensors and tuple(tensors[n].shape) != want[n]]
    problems = []
    what = ("%s model, d_model %d, %d layer(s), %s, %s norm, %s position"
            % (cfg["task"], cfg["d_model"], cfg["n_layers"],
               "bidirectional" if cfg["bidirectional"] else "causal", cfg["norm_type"],
               cfg["rel_pos_bias"]))
    if missing:
        problems.append("missing tensor(s): " + _listing(missing))
    if unknown:
        problems.append("unknown tensor(s): " + _listing(unknown))
    if bad:
        problems.append("misshapen tensor(s): " + _listing(bad, 4))
    if problems:
        raise ConvertError("the state_dict does not match a SeqBoat %s: %s"
                           % (what, "; ".join(problems)))
    return want


# ---------------------------------------------------------------------------
# safetensors

def _arrays(tensors, want, notes):
    """The tensors in file order as little-endian float32 (int64 for
    num_batches_tracked), refusing dtypes other than float32/16 and bfloat16."""
    out = {}
    widened = []
    for name in tensors:  # the state_dict's order
        t = tensors[name]
        dn = t.dtype_name
        if name.endswith("num_batches_tracked"):
            if dn not in ("int64", "int32", "int16", "int8", "uint8"):
                raise ConvertError("tensor %s has dtype %s; an integer count was expected"
                                   % (name, dn))
            out[name] = np.ascontiguousarray(t.float32(), dtype="<i8").reshape(want[name])
            continue
        if dn not in ("float32", "float16", "bfloat16"):
            raise ConvertError("tensor %s has dtype %s; seqboat models are float32 (float16 and "
                               "bfloat16 are converted), other dtypes are refused" % (name, dn))
        if dn != "float32":
            widened.append((name, dn))
        a = np.ascontiguousarray(t.float32(), dtype="<f4").reshape(want[name])
        if not np.all(np.isfinite(a)):
            raise ConvertError("tensor %s holds NaN or infinite values" % name)
        out[name] = a
    if widened:
        kinds = sorted({d for _, d in widened})
        notes.append("note: %d tensor(s) stored as %s were converted to float32 (exactly)"
                     % (len(widened), " and ".join(kinds)))
    return out


def metadata_of(cfg):
    md = {"seqboat.format_version": "1"}
    for k in KEY_ORDER:
        v = cfg[k]
        md[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return md


def convert_tensors(tensors, output, options=None, check=True, device=None, origin="",
                    option_style="cli", log=None, dtype="f32"):
    """The common path: {name: _Tensor} -> OUTPUT. Returns the config."""
    log = log or (lambda s: None)
    cfg, src = infer_config(tensors, options, option_style)
    want = check_tensors(tensors, cfg)
    notes = []
    arrays = _arrays(tensors, want, notes)
    for n in notes:
        log(n)
    _log_config(log, origin, cfg, src, KEY_ORDER)
    return _emit(arrays, metadata_of(cfg), cfg, output, check, device, log, _check_model, dtype)


def _log_config(log, origin, cfg, src, keys):
    log("config%s:" % origin)
    for k in keys:
        v = cfg[k]
        v = ("true" if v else "false") if isinstance(v, bool) else v
        log("  %-21s %-10s %s" % (k, v, src[k]))


def _emit(arrays, metadata, cfg, output, check, device, log, checker, dtype="f32"):
    """Write the file under a temporary name, check it with the library, rename."""
    output = os.fspath(output)
    try:
        stored, note = _dtype.store(arrays, dtype)
    except _dtype.DtypeError as exc:
        raise ConvertError(str(exc)) from None
    if note:
        log("note: " + note)
    tmp = _write_tmp(output, stored, metadata)
    try:
        if check:
            try:
                log(_check_dtype(tmp, arrays, metadata, cfg, device, checker, dtype, output))
            except ConvertError:
                raise
            except Exception as exc:  # SeqboatError, OSError (no library), ...
                raise ConvertError("check failed: the library could not load or run the "
                                   "converted model: %s (--no-check skips the check)" % exc) \
                    from None
        try:
            os.chmod(tmp, 0o644 & ~_umask())
            os.replace(tmp, output)
        except OSError as exc:
            raise ConvertError("cannot write %s: %s" % (output, exc.strerror or exc)) from None
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    log("wrote %s (%d tensors, %d bytes, float weights %s)"
        % (output, len(arrays), os.path.getsize(output), _dtype.CODES[dtype]))
    return cfg


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def convert(checkpoint, output, task=None, mem_size=None, attention_activation=None,
            truncation=None, max_positions=None, check=True, device=None, log=None,
            dictionary=None, dtype="f32"):
    """Convert a checkpoint file (or store a seqboat model file again in another
    dtype); returns the config written. Raises ConvertError."""
    if os.path.abspath(os.fspath(checkpoint)) == os.path.abspath(os.fspath(output)):
        raise ConvertError("the output would overwrite the checkpoint")
    if dtype not in _dtype.DTYPES:
        raise ConvertError("dtype %r is not one of %s" % (dtype, ", ".join(_dtype.DTYPES)))
    log = log or (lambda s: None)
    options = dict(task=task, mem_size=mem_size, attention_activation=attention_activation,
                   truncation=truncation, max_positions=max_positions)
    if _dtype.is_safetensors(checkpoint):
        given = [_cli_name(k) for k, v in options.items() if v is not None]
        if dictionary is not None:
            given.append("--dict")
        if given:
            raise ConvertError("%s: a seqboat model file is stored again as it is; %s apply to "
                               "checkpoints only" % (checkpoint, " ".join(given)))
        return restore(checkpoint, output, dtype, check, device, log)
    try:
        with Checkpoint(checkpoint) as ck:
            sd, where = find_state_dict(ck.obj)
            mapping, stripped = strip_prefixes(list(sd))
            if _fairseq.is_fairseq(ck.obj, mapping):
                tensors = {new: _from_ref(sd[old]) for new, old in mapping.items()}
                return convert_fairseq(ck.obj, tensors, output, options, check, device, log,
                                       dictionary, dtype)
            if dictionary is not None:
                raise ConvertError("--dict is for fairseq language-model checkpoints")
            tensors = {new: _from_ref(sd[old]) for new, old in mapping.items()}
            origin = " (state_dict at %s%s, %d tensors)" % (
                where, ", prefix %s stripped" % " ".join("'%s'" % s for s in stripped)
                if stripped else "", len(tensors))
            return convert_tensors(tensors, output, options, check, device, origin, "cli", log,
                                   dtype)
    except CheckpointError as exc:
        raise ConvertError(str(exc)) from None


# ---------------------------------------------------------------------------
# fairseq checkpoints (docs/FAIRSEQ.md): model-file contract version 2

def metadata_v2(cfg):
    md = {"seqboat.format_version": "2"}
    for k in _fairseq.KEY_ORDER_V2:
        v = cfg[k]
        md[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return md


def restore(path, output, dtype="f32", check=True, device=None, log=None):
    """A seqboat model file -> OUTPUT with its float weights stored as dtype;
    tensors, their order and the metadata otherwise as they are."""
    log = log or (lambda s: None)
    try:
        md, arrays = _dtype.read_model_file(path)
    except (OSError, _dtype.DtypeError) as exc:
        raise ConvertError(str(exc)) from None
    if "seqboat.format_version" not in md:
        raise ConvertError("%s is a safetensors file without the metadata of a seqboat model "
                           "file (seqboat.format_version), not a PyTorch checkpoint either"
                           % path)
    cfg = {"task": md.get("task", "?"), "pair": md.get("pair", "none")}
    for k in ("vocab_size", "d_input", "d_output"):
        try:
            cfg[k] = int(md.get(k, "0"))
        except ValueError:
            raise ConvertError("%s: metadata %s = %r is not an integer" % (path, k, md[k])) \
                from None
    log("model file %s (format version %s, %d tensors)"
        % (path, md.get("seqboat.format_version", "?"), len(arrays)))
    _emit(arrays, md, cfg, output, check, device, log, _check_model_file, dtype)
    return cfg


def convert_fairseq(obj, tensors, output, options=None, check=True, device=None, log=None,
                    dictionary=None, dtype="f32"):
    """A fairseq checkpoint dict (obj, with {name: _Tensor} tensors) -> OUTPUT.
    Every option comes from the checkpoint's args; a command-line option
    must agree with it. dictionary: the data's dict.txt, for an LM: written as
    the metadata token_bytes (seqboat generate). Returns the config written."""
    log = log or (lambda s: None)
    try:
        new, cfg, src = _fairseq.convert_config(obj, tensors)
        tb = None
        if dictionary is not None:
            if cfg["task"] != "lm":
                raise _fairseq.FairseqError("--dict is for language models; this checkpoint is "
                                            "a %s model" % cfg["task"])
            tb = _fairseq.token_bytes(_fairseq.read_dictionary(dictionary), cfg["vocab_size"],
                                      dictionary)
    except _fairseq.FairseqError as exc:
        raise ConvertError(str(exc)) from None
    for k, v in (options or {}).items():
        if v is None:
            continue
        if cfg.get(k) != v:
            raise ConvertError("%s %s contradicts the fairseq checkpoint, which gives %s %s (%s)"
                               % (_cli_name(k), v, k, cfg.get(k), src.get(k, "args")))
    notes = []
    arrays = _arrays(new, {k: t.shape for k, t in new.items()}, notes)
    for n in notes:
        log(n)
    args = obj.get("args") or {}
    _log_config(log, " (fairseq checkpoint, arch %s, %d tensors)"
                % (args.get("arch", "?"), len(tensors)), cfg, src, _fairseq.KEY_ORDER_V2)
    md = metadata_v2(cfg)
    if tb is not None:
        md["token_bytes"] = tb
        log("  %-21s %d of %d ids stand for a byte (%s)"
            % ("token_bytes", sum(1 for b in tb.split(",") if b != "-1"), cfg["vocab_size"],
               dictionary))
    return _emit(arrays, md, cfg, output, check, device, log, _check_model_file, dtype)


# ---------------------------------------------------------------------------
# export from an nn.Module

def _module_options(module):
    """(options the module's attributes determine, {key: attribute text})."""
    layers = getattr(module, "seq_layers", None)
    if layers is None or len(layers) == 0:
        return {}, {}
    lay = layers[0]
    got, where = {}, {}
    for key, attr, fn in (("mem_size", "window_size", int),
                          ("attention_activation", "attention_activation", str),
                          ("truncation", "truncation", lambda v: int(v or 0))):
        if hasattr(lay, attr):
            got[key] = fn(getattr(lay, attr))
            where[key] = "seq_layers[0].%s = %r" % (attr, getattr(lay, attr))
    if getattr(lay, "rel_pos_type", None) == "rotary" and hasattr(lay, "max_positions"):
        got["max_positions"] = int(lay.max_positions)
        where["max_positions"] = "seq_layers[0].max_positions = %r" % lay.max_positions
    if getattr(lay, "local_pos", False):
        raise ConvertError("seq_layers[0].local_pos is set; seqboat implements the global "
                           "relative position bias only")
    return got, where


def export(module, path, task=None, mem_size=None, attention_activation=None,
           truncation=None, max_positions=None, check=True, device=None, verbose=False,
           dtype="f32"):
    """Write an in-memory SeqBoat nn.Module (the authors' SeqBoatModel or one
    with the same state_dict names) as a seqboat model file. Hyper-parameters
    come from the weights, then from the module's layer attributes
    (window_size, attention_activation, truncation, max_positions), then from
    the keyword options (which must agree with both), then from DEFAULTS.
    Returns the config written. Raises ConvertError."""
    try:
        import torch
    except ImportError:
        raise ConvertError("seqboat.export needs torch; for a checkpoint file use "
                           "python -m seqboat.convert (no torch needed)") from None
    if not isinstance(module, torch.nn.Module):
        raise ConvertError("seqboat.export needs a torch.nn.Module, got %s"
                           % type(module).__name__)
    given = dict(task=task, mem_size=mem_size, attention_activation=attention_activation,
                 truncation=truncation, max_positions=max_positions)
    attrs, where = _module_options(module)
    options = dict(attrs)
    for k, v in given.items():
        if v is None:
            continue
        if k in attrs and attrs[k] != v:
            raise ConvertError("%s=%r contradicts the module: %s" % (k, v, where[k]))
        options[k] = v
    tensors = {}
    for name, t in module.state_dict().items():
        t = t.detach().cpu()
        dn = str(t.dtype).replace("torch.", "")
        if t.is_floating_point() and dn in ("float32", "float16", "bfloat16"):
            arr = t.float().contiguous().numpy()
        elif t.is_floating_point() or t.is_complex():
            arr = np.zeros(0)
        else:
            arr = t.contiguous().numpy()
        tensors[name] = _from_numpy(arr, dn)
        tensors[name].shape = tuple(t.shape)
    mapping, _ = strip_prefixes(list(tensors))
    tensors = {new: tensors[old] for new, old in mapping.items()}
    log = (lambda s: print(s)) if verbose else None
    return convert_tensors(tensors, path, options, check, device,
                           " (%s)" % type(module).__name__, "python", log, dtype)


# ---------------------------------------------------------------------------
# command line

def _parser(prog):
    p = argparse.ArgumentParser(
        prog=prog,
        description="Convert a PyTorch checkpoint of the authors' SeqBoat model (torch.save of "
                    "a state_dict, bare or under 'model', 'state_dict' or 'net', or a fairseq "
                    "checkpoint) into a seqboat "
                    "model file. torch is not needed and nothing in the checkpoint is run.",
        epilog="A fairseq checkpoint of the authors' paper models (args + model) takes every "
               "option from its args (docs/CONVERT.md); the options below must then agree. "
               "Otherwise, read from the weights: task (encoder.* or embed_tokens.weight), d_input, "
               "vocab_size, d_output, d_model, n_layers, d_qk, d_hidden, d_ema, bidirectional, "
               "norm_type, prenorm, rel_pos_bias and (simple bias) max_positions. An option "
               "that contradicts the weights is an error.")
    p.add_argument("checkpoint", help="the .pth/.pt file written by torch.save")
    p.add_argument("output", help="the model file to write (.safetensors)")
    p.add_argument("--mem-size", type=int, metavar="N",
                   help="attention window (SeqBoatModel mem_size; default %d)"
                   % DEFAULTS["mem_size"])
    p.add_argument("--attention-activation", choices=ACTIVATIONS,
                   help="default %s" % DEFAULTS["attention_activation"])
    p.add_argument("--truncation", type=int, metavar="N",
                   help="EMA kernel truncation, 0 = none (default 0)")
    p.add_argument("--task", choices=TASKS,
                   help="default: lm for embed_tokens.weight, else classify (SeqBoatModel "
                        "mean-pools); sequence keeps one output per position")
    p.add_argument("--max-positions", type=int, metavar="N",
                   help="rotary models only (default %d); with the simple bias it is read "
                        "from the table" % DEFAULTS["max_positions"])
    p.add_argument("--dict", metavar="DICT_TXT", dest="dictionary",
                   help="fairseq LM only: the data's dict.txt; the byte each id stands for is "
                        "written as metadata token_bytes, which seqboat generate reads")
    p.add_argument("--dtype", choices=_dtype.DTYPES, default="f32",
                   help="dtype the float weights are stored in (default f32; f16 and bf16 halve "
                        "the file, the library reads them as float32; integer tensors and the "
                        "metadata are unchanged). CHECKPOINT may also be a seqboat model file, "
                        "stored again in this dtype")
    p.add_argument("--no-check", action="store_true",
                   help="do not load the result with the library and run a short forward")
    p.add_argument("--device", help="device for the check (as seqboat run --device)")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    return p


def main(argv=None, prog=None):
    if prog is None:
        prog = "seqboat-convert" if os.path.basename(sys.argv[0]).startswith("seqboat-convert") \
            else "python -m seqboat.convert"
    args = _parser(prog).parse_args(argv)
    log = None if args.quiet else (lambda s: print(s, flush=True))
    try:
        convert(args.checkpoint, args.output, task=args.task, mem_size=args.mem_size,
                attention_activation=args.attention_activation, truncation=args.truncation,
                max_positions=args.max_positions, check=not args.no_check, device=args.device,
                log=log, dictionary=args.dictionary, dtype=args.dtype)
    except ConvertError as exc:
        print("%s: error: %s" % (prog, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
