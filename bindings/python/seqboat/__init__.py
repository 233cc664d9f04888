"""seqboat: Python binding of libseqboat (SeqBoat models on OpenCL devices).

Pure ctypes + numpy: nothing to compile. The shared library is looked up in
this order: $SEQBOAT_LIBRARY, next to this package, the source tree's build/
folder, then the system library path (ctypes.util.find_library('seqboat'),
i.e. an installed libdir known to the dynamic linker).

    import numpy as np, seqboat
    print([d.name for d in seqboat.devices()])
    with seqboat.Model("model.safetensors", device="0") as m:
        y = m.forward(np.zeros((2, 16, m.info.d_input), np.float32), lengths=[16, 9])

Every failure of the library raises SeqboatError carrying the status (number
and name, e.g. "SB_ERR_ARG") and the library's message. Bad arguments that
Python catches before calling the library (wrong rank, wrong dtype, wrong
number of lengths) raise SeqboatError with status SB_ERR_ARG as well.

Threads: a Model (and its Streams) is used by one thread at a time; different
Models may be used from different threads (the library releases the GIL
during every call, as ctypes does).
"""
import math
import types
import weakref

import numpy as np

from . import _lib

__all__ = ["SeqboatError", "Model", "Stream", "devices", "version", "library_path",
           "STATUS_NAMES", "export"]

STATUS_NAMES = {
    0: "SB_OK",
    100: "SB_ERR_ARG",
    101: "SB_ERR_STATE",
    200: "SB_ERR_IO",
    201: "SB_ERR_FORMAT",
    202: "SB_ERR_TENSOR",
    203: "SB_ERR_META",
    300: "SB_ERR_UNSUPPORTED",
    400: "SB_ERR_HOST_MEMORY",
    401: "SB_ERR_DEVICE_MEMORY",
    500: "SB_ERR_OPENCL",
    501: "SB_ERR_NO_DEVICE",
    502: "SB_ERR_BUILD",
    503: "SB_ERR_BLAS",
    900: "SB_ERR_INTERNAL",
}
SB_ERR_ARG = 100
SB_ERR_STATE = 101
SB_ERR_UNSUPPORTED = 300

_TASKS = {0: "classify", 1: "sequence", 2: "lm"}
_INT32_MIN, _INT32_MAX = -(2 ** 31), 2 ** 31 - 1

_LIB = None


def _l():
    global _LIB
    if _LIB is None:
        _LIB = _lib.load()
    return _LIB


def _s(b):
    return b.decode("utf-8", "replace") if b is not None else ""


class SeqboatError(RuntimeError):
    """A failed library call. Attributes: status (int), status_name
    ("SB_ERR_ARG", ...), status_string (the library's English text), message
    (the library's detail, e.g. which tensor or which length)."""

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = STATUS_NAMES.get(self.status, "SB_STATUS_%d" % self.status)
        try:
            self.status_string = _s(_l().sb_status_string(self.status))
        except OSError:
            self.status_string = self.status_name
        self.message = message
        super().__init__("%s (%s): %s" % (self.status_name, self.status_string, message))


def _check(status, message_fn):
    if status != 0:
        raise SeqboatError(status, message_fn())


def _arg_error(msg):
    return SeqboatError(SB_ERR_ARG, msg)


def export(module, path, **options):
    """Write an in-memory PyTorch SeqBoat module (the authors' SeqBoatModel) as
    a model file; needs torch. Options: task, mem_size, attention_activation,
    truncation, max_positions, check (default True), device, verbose. See
    seqboat.convert (which converts checkpoint files without torch)."""
    from .convert import export as _export
    return _export(module, path, **options)


def library_path():
    """The path of the loaded shared library."""
    return _l()._seqboat_path


def version():
    """The library's run-time version string, e.g. '0.1.0'."""
    return _s(_l().sb_version_string())


def devices():
    """Every OpenCL device of every platform, in global index order (the
    index is a valid device selection)."""
    lib = _l()
    count = _lib.ctypes.c_int(0)
    _check(lib.sb_devices(None, 0, _lib.ctypes.byref(count)), lambda: _s(lib.sb_last_error()))
    n = count.value
    if n == 0:
        return []
    arr = (_lib.DeviceDesc * n)()
    arr[0].struct_size = _lib.ctypes.sizeof(_lib.DeviceDesc)
    _check(lib.sb_devices(arr, n, _lib.ctypes.byref(count)), lambda: _s(lib.sb_last_error()))
    out = []
    for d in arr[: min(n, count.value)]:
        out.append(types.SimpleNamespace(
            index=d.index, platform=_s(d.platform), platform_version=_s(d.platform_version),
            name=_s(d.name), vendor=_s(d.vendor), type=_s(d.type),
            opencl_c_version=_s(d.opencl_c_version), driver_version=_s(d.driver_version),
            compute_units=d.compute_units, global_mem_bytes=d.global_mem_bytes,
            local_mem_bytes=d.local_mem_bytes, max_alloc_bytes=d.max_alloc_bytes,
            max_work_group_size=d.max_work_group_size))
    return out


def _fptr(a):
    return a.ctypes.data_as(_lib._c_float_p) if a is not None else None


def _iptr(a):
    return a.ctypes.data_as(_lib._c_int32_p) if a is not None else None


def _as_int32(a, what):
    """Integer array-like -> C-contiguous int32, refusing values int32 cannot hold."""
    arr = np.asarray(a)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise _arg_error("%s must be integers, got dtype %s" % (what, arr.dtype))
    if arr.size and (arr.min() < _INT32_MIN or arr.max() > _INT32_MAX):
        raise _arg_error("%s hold values outside the int32 range" % what)
    return np.ascontiguousarray(arr, dtype=np.int32)


def _name(names, i):
    return names[i] if 0 <= i < len(names) else str(i)


def _as_f32(a, what):
    arr = np.asarray(a)
    if arr.size and not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise _arg_error("%s must be numbers, got dtype %s" % (what, arr.dtype))
    return np.ascontiguousarray(arr, dtype=np.float32)


# sb_precision (seqboat.h)
_PRECISIONS = {"f32": 0, "f16": 1, "bf16": 2}


class Model:
    """A model file loaded onto one device or a list of devices.

    device: None (env SEQBOAT_DEVICE, else the first GPU, else the first
    device; a simulator only when nothing else exists), an index "0", a name substring "pthread", or a comma-separated
    list "0,1" that splits each batch across those devices.
    cache_dir: compiled-kernel cache folder, "off", or None (the default place).
    precision: how the weights are stored on the device: "f32" (default),
    "f16" or "bf16" (converted at load, computed in float; docs/PRECISION.md).
    weights: None (stored as `precision`) or "int8" (per-output-channel scales).
    """

    def __init__(self, path, device=None, cache_dir=None, profiling=False, precision="f32",
                 weights=None):
        lib = _l()
        self._h = None
        self._streams = weakref.WeakSet()
        opt = lib.sb_options_default()
        # keep the encoded strings alive for the duration of the call
        dev_b = str(device).encode() if device is not None else None
        cache_b = str(cache_dir).encode() if cache_dir is not None else None
        opt.device = dev_b
        opt.cache_dir = cache_b
        opt.profiling = 1 if profiling else 0
        if precision not in _PRECISIONS:
            raise _arg_error("precision must be one of %s, got %r" % (", ".join(_PRECISIONS), precision))
        if weights not in (None, "int8"):
            raise _arg_error("weights must be None or 'int8', got %r" % (weights,))
        opt.precision = _PRECISIONS[precision]
        opt.weights = 1 if weights == "int8" else 0
        h = _lib.ctypes.c_void_p()
        st = lib.sb_model_load(str(path).encode(), _lib.ctypes.byref(opt), _lib.ctypes.byref(h))
        _check(st, lambda: _s(lib.sb_last_error()))
        self._h = h
        self.path = str(path)
        self.info = self._read_info()

    # -- lifetime --------------------------------------------------------------
    def close(self):
        """Free the model (and any stream still open on it). Idempotent."""
        for s in list(self._streams):
            s.close()
        if self._h is not None and self._h.value:
            _l().sb_model_free(self._h)
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if self._h is None:
            raise SeqboatError(SB_ERR_STATE, "the model is closed")
        return self._h

    def _err(self):
        return _s(_l().sb_model_last_error(self._h))

    # -- queries ---------------------------------------------------------------
    @property
    def weight_bytes(self):
        """Device memory of the model's parameters in bytes, as stored
        (sb_model_weight_bytes): about half of f32's with precision "f16"."""
        return int(_l().sb_model_weight_bytes(self._handle()))

    def _read_info(self):
        lib = _l()
        i = _lib.ModelInfo(struct_size=_lib.ctypes.sizeof(_lib.ModelInfo))
        _check(lib.sb_model_get_info(self._handle(), _lib.ctypes.byref(i)), self._err)
        names = [f[0] for f in _lib.ModelInfo._fields_ if f[0] != "struct_size"]
        d = {n: getattr(i, n) for n in names}
        d["task"] = _TASKS.get(i.task, str(i.task))
        d["device"] = _s(i.device)
        for k in ("bidirectional", "prenorm"):
            d[k] = bool(d[k])
        d["norm_type"] = _name(("layernorm", "batchnorm", "scalenorm", "rmsnorm"), i.norm_type)
        d["attention_activation"] = _name(("relu2", "softmax"), i.attention_activation)
        d["rel_pos_bias"] = _name(("simple", "rotary", "local"), i.rel_pos_bias)
        # token ids in: lm, and (model-file version 2) classify/sequence with a vocabulary
        d["token_ids"] = i.task == 2 or (i.vocab_size > 0 and i.d_input == 0)
        # shorthands
        d["batchnorm"] = d["norm_type"] == "batchnorm"
        d["softmax"] = d["attention_activation"] == "softmax"
        d["rotary"] = d["rel_pos_bias"] == "rotary"
        return types.SimpleNamespace(**d)

    def layer_stats(self):
        """Per layer of the last forward: (valid tokens, activated tokens, ms)."""
        lib = _l()
        out = []
        for layer in range(self.info.n_layers):
            t, a, ms = _lib.ctypes.c_int(), _lib.ctypes.c_int(), _lib.ctypes.c_double()
            _check(lib.sb_model_layer_stats(self._handle(), layer, _lib.ctypes.byref(t),
                                            _lib.ctypes.byref(a), _lib.ctypes.byref(ms)),
                   lambda: "layer %d: %s" % (layer, self._err()))
            out.append((t.value, a.value, ms.value))
        return out

    # -- batch forward ---------------------------------------------------------
    def _batch(self, inputs, what):
        """(x, ids, B, L) of one batch input as the model reads it."""
        info = self.info
        if info.token_ids:
            ids = _as_int32(inputs, "token ids")
            if ids.ndim != 2:
                raise _arg_error("%s: this model reads token ids [batch, length], got shape %s"
                                 % (what, ids.shape))
            return None, ids, ids.shape[0], ids.shape[1]
        x = _as_f32(inputs, what)
        if x.ndim != 3 or x.shape[2] != info.d_input:
            raise _arg_error("%s input must be floats [batch, length, %d], got shape %s"
                             % (info.task, info.d_input, x.shape))
        return x, None, x.shape[0], x.shape[1]

    def _lengths(self, lengths, B, what="lengths"):
        if lengths is None:
            return None
        lens = _as_int32(lengths, what)
        if lens.shape != (B,):
            raise _arg_error("%s must have shape (%d,), got %s" % (what, B, lens.shape))
        return lens

    def forward_pair(self, inputs, inputs2, lengths=None, lengths2=None):
        """A pair model (metadata 'pair', e.g. the AAN retrieval task): two inputs
        per example through the same encoder; returns float32 [B, d_output]."""
        x, ids, B, L = self._batch(inputs, "inputs")
        x2, ids2, B2, L2 = self._batch(inputs2, "inputs2")
        if B2 != B:
            raise _arg_error("inputs2 has batch %d, inputs %d" % (B2, B))
        lens, lens2 = self._lengths(lengths, B), self._lengths(lengths2, B, "lengths2")
        if B > _INT32_MAX or L > _INT32_MAX or L2 > _INT32_MAX:
            raise _arg_error("batch %d x lengths %d, %d is too large" % (B, L, L2))
        out = np.zeros((B, self.info.d_output), dtype=np.float32)
        st = _l().sb_model_forward_pair(self._handle(), int(B), int(L), _fptr(x), _iptr(ids),
                                        _iptr(lens), int(L2), _fptr(x2), _iptr(ids2),
                                        _iptr(lens2), _fptr(out))
        _check(st, self._err)
        return out

    def forward(self, inputs, lengths=None):
        """Run a padded batch.

        inputs: integer token ids [B, L] for lm models and classify/sequence
        models with a vocabulary (info.token_ids); else floats [B, L, d_input]
        (converted to float32). A pair model takes forward_pair.
        lengths: B valid lengths (1..L), or None for all L.
        Returns float32 [B, L, d_output] (sequence, lm; zeros at padding) or
        [B, d_output] (classify).
        """
        info = self.info
        x, ids, B, L = self._batch(inputs, "inputs")
        lens = self._lengths(lengths, B)
        if B > _INT32_MAX or L > _INT32_MAX:
            raise _arg_error("batch %d x length %d is too large" % (B, L))
        shape = (B, info.d_output) if info.task == "classify" else (B, L, info.d_output)
        out = np.zeros(shape, dtype=np.float32)
        st = _l().sb_model_forward(self._handle(), int(B), int(L), _fptr(x), _iptr(ids),
                                   _iptr(lens), _fptr(out))
        _check(st, self._err)
        return out

    __call__ = forward

    def run_file(self, in_path, out_path):
        """SPEC section 5 files: reads `input` (+ `lengths`), writes `output`."""
        _check(_l().sb_model_run_file(self._handle(), str(in_path).encode(),
                                      str(out_path).encode()), self._err)

    # -- streaming -------------------------------------------------------------
    def stream(self):
        """A new Stream at position 0 (causal lm/sequence models only)."""
        return Stream(self)

    def generate(self, prompt, max_tokens=200, temperature=0.8, top_p=0.95, seed=1):
        """Sample bytes after `prompt` from a byte-level lm on a fresh stream
        (the same sampler and seed as `seqboat generate`). Returns the new bytes."""
        _check_byte_lm(self.info)
        with Stream(self) as s:
            return s.generate(prompt, max_tokens, temperature, top_p, seed)


class Stream:
    """Streaming decode on a model (constant work per token). Outputs are
    float32 [d_output] per token (logits for lm)."""

    def __init__(self, model):
        lib = _l()
        self._h = None
        h = _lib.ctypes.c_void_p()
        _check(lib.sb_stream_open(model._handle(), _lib.ctypes.byref(h)),
               lambda: _s(lib.sb_last_error()))
        self._h = h
        self.model = model
        model._streams.add(self)

    def close(self):
        if self._h is not None and self._h.value:
            _l().sb_stream_free(self._h)
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if self._h is None:
            raise SeqboatError(SB_ERR_STATE, "the stream is closed")
        return self._h

    def _err(self):
        return _s(_l().sb_stream_last_error(self._h))

    @property
    def position(self):
        """Tokens consumed so far."""
        return int(_l().sb_stream_position(self._handle()))

    def reset(self):
        _check(_l().sb_stream_reset(self._handle()), self._err)

    def layer_activity(self, layer):
        """(steps, activated) of a layer over steps since open/reset."""
        s, a = _lib.ctypes.c_long(), _lib.ctypes.c_long()
        _check(_l().sb_stream_layer_activity(self._handle(), int(layer), _lib.ctypes.byref(s),
                                             _lib.ctypes.byref(a)),
               lambda: "layer %d out of range or stream closed" % layer)
        return s.value, a.value

    def feed(self, inputs, return_all=False):
        """Feed n >= 1 tokens: ids [n] (lm) or floats [n, d_input]. Returns the
        last token's outputs [d_output], or all [n, d_output] when return_all."""
        info = self.model.info
        D = info.d_output
        if info.task == "lm":
            ids = _as_int32(inputs, "token ids").reshape(-1)
            n = ids.shape[0]
        else:
            x = _as_f32(inputs, "inputs")
            if x.ndim == 1:
                x = x.reshape(1, -1)
            if x.ndim != 2 or x.shape[1] != info.d_input:
                raise _arg_error("stream input must be floats [n, %d], got shape %s"
                                 % (info.d_input, x.shape))
            n = x.shape[0]
        if n < 1:
            raise _arg_error("feed needs at least one token")
        all_out = np.zeros((n, D), np.float32) if return_all else None
        last = np.zeros(D, np.float32)
        if info.task == "lm":
            st = _l().sb_stream_feed_ids(self._handle(), _iptr(ids), int(n), _fptr(all_out),
                                         _fptr(last))
        else:
            st = _l().sb_stream_feed(self._handle(), _fptr(x), int(n), _fptr(all_out), _fptr(last))
        _check(st, self._err)
        return all_out if return_all else last

    def step(self, token):
        """One token (an id for lm, floats [d_input] otherwise) -> [d_output]."""
        info = self.model.info
        out = np.zeros(info.d_output, np.float32)
        if info.task == "lm":
            tid = int(token)
            if tid < _INT32_MIN or tid > _INT32_MAX:
                raise _arg_error("token id %d is outside the int32 range" % tid)
            st = _l().sb_stream_step_id(self._handle(), tid, _fptr(out))
        else:
            x = _as_f32(token, "inputs").reshape(-1)
            if x.shape[0] != info.d_input:
                raise _arg_error("step input must be %d floats, got %d" % (info.d_input, x.shape[0]))
            st = _l().sb_stream_step(self._handle(), _fptr(x), _fptr(out))
        _check(st, self._err)
        return out

    def generate(self, prompt, max_tokens=200, temperature=0.8, top_p=0.95, seed=1):
        """Feed `prompt` (bytes or str) and sample up to max_tokens bytes:
        greedy when temperature <= 0, else softmax(logits / temperature) with
        nucleus top_p, random numbers from splitmix64(seed): the sampler of
        `seqboat generate`, so the same arguments give the same bytes.
        Needs a byte-level lm (vocab_size 256). Returns the sampled bytes."""
        _check_byte_lm(self.model.info)
        if isinstance(prompt, str):
            prompt = prompt.encode("utf-8")
        prompt = bytes(prompt) or b"\n"
        if max_tokens < 0 or temperature < 0 or not (0 < top_p <= 1):
            raise _arg_error("need max_tokens >= 0, temperature >= 0, 0 < top_p <= 1")
        logits = self.feed(np.frombuffer(prompt, dtype=np.uint8))
        rng = [int(seed) & _M64]
        out = bytearray()
        for i in range(int(max_tokens)):
            tid = _sample(logits, float(temperature), float(top_p), rng)
            out.append(tid)
            if i + 1 == max_tokens:
                break
            logits = self.step(tid)
        return bytes(out)


_M64 = (1 << 64) - 1


def _check_byte_lm(info):
    if info.task != "lm" or info.vocab_size != 256:
        raise SeqboatError(SB_ERR_UNSUPPORTED,
                           "generate needs a byte-level lm (task lm, vocab_size 256); "
                           "this model is %s with vocab_size %d" % (info.task, info.vocab_size))


def _splitmix64(state):
    state[0] = (state[0] + 0x9E3779B97F4A7C15) & _M64
    z = state[0]
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _sample(logits, temperature, top_p, rng):
    """The CLI's sampler, step for step (float32 probabilities, double sums)."""
    best = int(np.argmax(logits))
    if temperature <= 0:
        return best
    diff = (logits - logits[best]).astype(np.float32)
    p = [float(np.float32(math.exp(float(d) / temperature))) for d in diff]
    total = 0.0
    for v in p:
        total += v
    order = sorted(range(len(p)), key=lambda i: (-p[i], i))
    acc, n = 0.0, 0
    while n < len(p):
        acc += p[order[n]] / total
        n += 1
        if acc >= top_p:
            break
    r = float(_splitmix64(rng) >> 11) * (1.0 / 9007199254740992.0) * acc
    c = 0.0
    for i in range(n):
        c += p[order[i]] / total
        if r < c:
            return order[i]
    return order[n - 1]
