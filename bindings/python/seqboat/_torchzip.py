"""Reading PyTorch checkpoints (torch.save since 1.6: a zip archive holding
data.pkl and one raw file per storage) without torch and without running
anything from the file.

The pickle is read by an Unpickler whose find_class knows a short allow-list:
the rebuild functions torch writes for tensors and parameters, the storage
type names, collections.OrderedDict and a few plain containers. Every name in
the allow-list maps to a function of this module (never to the real torch or
Python object of that name); any other global -- os.system, builtins.eval,
torch.load, ... -- stops the read with CheckpointError before it is called.
Objects the pickle builds cannot be given state (BUILD) either, with one
exception: fairseq checkpoints hold their options as an argparse.Namespace
(GLOBAL argparse.Namespace, an empty tuple, NEWOBJ, BUILD with a dict), which
is read into Namespace, a plain dict -- that exact shape and nothing else
(no call, no other class, state set once, str keys). Tensors come
back as TensorRef: a storage reference, offset, shape and strides, read from
the archive only when asked for.

    with Checkpoint("ckpt.pth") as ck:      # ck.obj: dicts/lists with TensorRef leaves
        arr = ck.obj["model"]["encoder.weight"].numpy()
"""
import collections
import io
import os
import pickle
import pickletools
import sys
import zipfile

import numpy as np


class CheckpointError(ValueError):
    """The file is not a checkpoint this reader accepts; the message says why."""


# storage type name -> (numpy dtype, safetensors-style dtype name)
_STORAGE_DTYPES = {
    "FloatStorage": (np.dtype("<f4"), "float32"),
    "DoubleStorage": (np.dtype("<f8"), "float64"),
    "HalfStorage": (np.dtype("<f2"), "float16"),
    "BFloat16Storage": (np.dtype("<u2"), "bfloat16"),  # raw bits, widened on request
    "LongStorage": (np.dtype("<i8"), "int64"),
    "IntStorage": (np.dtype("<i4"), "int32"),
    "ShortStorage": (np.dtype("<i2"), "int16"),
    "CharStorage": (np.dtype("i1"), "int8"),
    "ByteStorage": (np.dtype("u1"), "uint8"),
    "BoolStorage": (np.dtype("?"), "bool"),
    "ComplexFloatStorage": (np.dtype("<c8"), "complex64"),
    "ComplexDoubleStorage": (np.dtype("<c16"), "complex128"),
}


class _Sealed:
    """Objects handed to the pickle: no state may be set on them (BUILD)."""
    __slots__ = ()

    def __setstate__(self, state):
        raise pickle.UnpicklingError("the pickle tries to set state on %r" % (self,))


class _StorageType(_Sealed):
    __slots__ = ("name", "dtype", "dtype_name")

    def __init__(self, name):
        object.__setattr__(self, "name", name)
        dt, dn = _STORAGE_DTYPES[name]
        object.__setattr__(self, "dtype", dt)
        object.__setattr__(self, "dtype_name", dn)

    def __repr__(self):
        return "torch.%s" % self.name


class _Storage(_Sealed):
    """One storage of the archive: key, element type and element count."""
    __slots__ = ("reader", "key", "stype", "numel")

    def __init__(self, reader, key, stype, numel):
        for k, v in (("reader", reader), ("key", key), ("stype", stype), ("numel", numel)):
            object.__setattr__(self, k, v)

    def __repr__(self):
        return "storage %s (%s, %d elements)" % (self.key, self.stype.dtype_name, self.numel)


class TensorRef(_Sealed):
    """A tensor of the checkpoint, not read yet. dtype_name is torch's dtype
    without the 'torch.' (float32, float16, bfloat16, int64, ...)."""
    __slots__ = ("storage", "offset", "shape", "stride")

    def __init__(self, storage, offset, shape, stride):
        for k, v in (("storage", storage), ("offset", offset), ("shape", shape),
                     ("stride", stride)):
            object.__setattr__(self, k, v)

    @property
    def dtype_name(self):
        return self.storage.stype.dtype_name

    def __repr__(self):
        return "tensor(%s, shape %s)" % (self.dtype_name, list(self.shape))

    def numpy(self):
        """The tensor as a new C-contiguous numpy array in native byte order
        (bfloat16 comes back as its raw uint16 bits; see to_float32)."""
        st = self.storage
        data = st.reader.storage_bytes(st)
        base = np.frombuffer(data, dtype=st.stype.dtype, count=st.numel)
        n = 1
        for s in self.shape:
            n *= s
        if n == 0:
            return np.zeros(self.shape, dtype=st.stype.dtype.newbyteorder("="))
        last = self.offset + sum((s - 1) * d for s, d in zip(self.shape, self.stride))
        if self.offset < 0 or last >= st.numel or any(d < 0 for d in self.stride):
            raise CheckpointError("%r reaches outside its %r" % (self, st))
        it = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.shape, strides=[d * it for d in self.stride],
            writeable=False)
        # np.array, not ascontiguousarray: a 0-d tensor stays 0-d
        return np.array(view, dtype=st.stype.dtype.newbyteorder("="), order="C")

    def to_float32(self):
        """float32/float16/bfloat16 tensors as float32; None for other dtypes."""
        a = self.numpy()
        name = self.dtype_name
        if name == "float32":
            return a
        if name == "float16":
            return a.astype(np.float32)
        if name == "bfloat16":
            return np.asarray(a.astype(np.uint32) << 16).view(np.float32)
        return None


def _ints(v, what):
    if not isinstance(v, (tuple, list)) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                   for i in v):
        raise pickle.UnpicklingError("%s must be a tuple of ints, got %r" % (what, type(v)))
    return tuple(v)


class Namespace(dict):
    """fairseq's 'args' (an argparse.Namespace) read as a plain dict of its
    attributes. The pickle may only create one (GLOBAL argparse.Namespace,
    an empty argument tuple, NEWOBJ) and give it its attributes once (BUILD
    with a dict of str keys): _prescan and this class enforce that shape."""
    __slots__ = ("_built",)

    def __new__(cls, *args):
        if args:
            raise pickle.UnpicklingError("argparse.Namespace created with arguments")
        self = dict.__new__(cls)
        self._built = False
        return self

    def __init__(self, *args):
        # NEWOBJ calls __new__ only; a call (REDUCE) runs __init__ and is refused
        raise pickle.UnpicklingError("the pickle calls argparse.Namespace; fairseq's args "
                                     "are created with NEWOBJ")

    def __setstate__(self, state):
        if self._built:
            raise pickle.UnpicklingError("the pickle sets state on an argparse.Namespace twice")
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise pickle.UnpicklingError("the state of an argparse.Namespace must be a dict "
                                         "with str keys, got %s" % type(state).__name__)
        self._built = True
        dict.update(self, state)

    def __reduce__(self):  # pragma: no cover - never pickled again
        return (dict, (dict(self),))

    def __repr__(self):
        return "Namespace(%s)" % dict.__repr__(self)


def _rebuild_tensor(storage, storage_offset, size, stride, *rest):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor rebuilt from %r, not from a storage" % (storage,))
    if not isinstance(storage_offset, int):
        raise pickle.UnpicklingError("tensor storage offset is not an int")
    size = _ints(size, "tensor size")
    stride = _ints(stride, "tensor stride")
    if len(size) != len(stride) or any(s < 0 for s in size):
        raise pickle.UnpicklingError("tensor size %s and stride %s disagree" % (size, stride))
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    if not isinstance(data, TensorRef):
        raise pickle.UnpicklingError("a parameter rebuilt from %r, not from a tensor" % (data,))
    return data


def _ordered_dict(*args):
    return collections.OrderedDict(*args)


def _codecs_encode(text, encoding="utf-8"):
    # protocol 2 writes bytes objects as _codecs.encode(str, 'latin1')
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode only for latin1 text")
    return text.encode("latin1")


def _plain(kind):
    def make(*args):
        return kind(*args)
    return make


class _Allowed(_Sealed):
    """A callable the pickle may name: this module's function, not the original."""
    __slots__ = ("qualname", "fn")

    def __init__(self, qualname, fn):
        object.__setattr__(self, "qualname", qualname)
        object.__setattr__(self, "fn", fn)

    def __call__(self, *args):
        return self.fn(*args)

    def __repr__(self):
        return self.qualname


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "set"): _plain(set),
    ("builtins", "frozenset"): _plain(frozenset),
    ("_codecs", "encode"): _codecs_encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f, reader):
        super().__init__(f)
        self._reader = reader

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) == ("argparse", "Namespace"):
            return Namespace  # _prescan allowed it only as GLOBAL + () + NEWOBJ
        fn = _ALLOWED.get((module, name))
        if fn is None:
            raise CheckpointError(
                "refusing to load: the checkpoint's pickle names the global '%s.%s', which is "
                "not on the allow-list of a state_dict checkpoint (tensors, parameters, "
                "storages, OrderedDict, plain containers); nothing from the file was run. "
                "If the file is trusted, re-save only the weights: "
                "torch.save({'model': model.state_dict()}, path) (a fairseq checkpoint: "
                "torch.save({'args': ck['args'], 'model': ck['model']}, path))" % (module, name))
        return _Allowed("%s.%s" % (module, name), fn)

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[2], str)
                or not isinstance(pid[4], int) or pid[4] < 0):
            raise CheckpointError("unexpected persistent id in the pickle: %r" % (pid,))
        return self._reader.storage(pid[2], pid[1], pid[4])


class _ZipReader:
    def __init__(self, path, zf):
        self.path = path
        self.zf = zf
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkl and "data.pkl" in names:
            pkl = ["data.pkl"]
        if len(pkl) != 1:
            raise CheckpointError(
                "%s is a zip archive but not a PyTorch checkpoint (no single <name>/data.pkl)"
                % path)
        self.pkl = pkl[0]
        self.prefix = self.pkl[: -len("data.pkl")]
        self.storages = {}
        bo = self.prefix + "byteorder"
        if bo in names:
            try:
                order = zf.read(bo).decode("ascii", "replace").strip()
            except Exception as exc:  # BadZipFile, NotImplementedError, ...
                raise CheckpointError("%s: cannot read %s: %s" % (path, bo, exc)) from None
            if order != "little":
                raise CheckpointError("%s: byte order '%s' is not supported (only little-endian)"
                                      % (path, order))

    def storage(self, key, stype, numel):
        s = self.storages.get(key)
        if s is None:
            s = _Storage(self, key, stype, numel)
            self.storages[key] = s
        return s

    def storage_bytes(self, st):
        name = "%sdata/%s" % (self.prefix, st.key)
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise CheckpointError("%s: storage %s is missing from the archive (%s)"
                                  % (self.path, st.key, name)) from None
        need = st.numel * st.stype.dtype.itemsize
        if info.file_size < need:
            raise CheckpointError("%s: storage %s holds %d bytes, %d needed for %d %s elements"
                                  % (self.path, st.key, info.file_size, need, st.numel,
                                     st.stype.dtype_name))
        try:
            with self.zf.open(info) as f:
                data = f.read(need)
        except Exception as exc:  # BadZipFile, zlib.error, NotImplementedError (method), ...
            raise CheckpointError("%s: cannot read storage %s: %s" % (self.path, st.key, exc)) \
                from None
        if len(data) != need:
            raise CheckpointError("%s: storage %s is truncated" % (self.path, st.key))
        return data


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_MAX_PICKLE = 256 << 20  # the pickle holds names and shapes; the data is in storages


def _describe_non_zip(path, head):
    n = int.from_bytes(head[:8], "little") if len(head) >= 9 else 0
    if 2 <= n < 100_000_000 and head[8:9] == b"{":
        return ("%s is a safetensors file, not a PyTorch checkpoint; seqboat loads safetensors "
                "model files directly" % path)
    if head[:1] == b"\x80":
        # legacy torch.save: pickle protocol 2 starting with LONG1 <magic number>
        if head[2:3] == b"\x8a" and int.from_bytes(head[4:4 + head[3]], "little") == _LEGACY_MAGIC:
            return ("%s is in PyTorch's legacy (pre-1.6) format, which this reader does not "
                    "accept; load it in a trusted PyTorch and torch.save it again (the zip "
                    "format is the default since 1.6)" % path)
        return "%s is a bare pickle, not a PyTorch zip checkpoint (torch.save since 1.6)" % path
    return "%s is not a PyTorch checkpoint (torch.save since 1.6 writes a zip archive)" % path


# Opcodes a state_dict pickle may use: data, containers, memo, globals (each
# then checked by find_class), calls (REDUCE), BUILD and persistent ids. Not:
# INST/OBJ/NEWOBJ_EX (instantiate a class), EXT* (copyreg registry), and the
# protocol-5 out-of-band buffers -- torch.save writes none of them. NEWOBJ is
# allowed in one place only: fairseq's argparse.Namespace (see _prescan).
_OPCODES = frozenset("""
    PROTO FRAME STOP MARK POP POP_MARK DUP PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET
    LONG_BINGET NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT
    BINFLOAT STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8
    BINBYTES SHORT_BINBYTES BINBYTES8 EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3 EMPTY_LIST LIST
    APPEND APPENDS EMPTY_DICT DICT SETITEM SETITEMS EMPTY_SET ADDITEMS FROZENSET GLOBAL
    STACK_GLOBAL REDUCE BUILD PERSID BINPERSID NEWOBJ""".split())

_MEMO_OPS = frozenset("PUT BINPUT LONG_BINPUT GET BINGET LONG_BINGET".split())
_MEMO_PUT = frozenset("PUT BINPUT LONG_BINPUT".split())


def _namespace_newobj(ops, k):
    """ops[k] is NEWOBJ: True when it reads GLOBAL 'argparse Namespace',
    an optional memo put, EMPTY_TUPLE, NEWOBJ."""
    j = k - 1
    if j < 0 or ops[j][0].name != "EMPTY_TUPLE":
        return False
    j -= 1
    if j >= 0 and ops[j][0].name in _MEMO_PUT:
        j -= 1
    return j >= 0 and ops[j][0].name == "GLOBAL" and ops[j][1] == "argparse Namespace"


def _prescan(path, data):
    """Parse every opcode (pickletools: nothing built, nothing called) before
    unpickling: refuses opcodes outside _OPCODES and lengths that overrun the
    data (which the unpickler would otherwise allocate first)."""
    def refuse(name, pos):
        raise CheckpointError(
            "refusing to load: the checkpoint's pickle uses the opcode %s (at byte %d), "
            "which a state_dict checkpoint does not need; nothing from the file was run"
            % (name, pos))

    try:
        ops = list(pickletools.genops(data))
        for k, (op, arg, pos) in enumerate(ops):
            if op.name not in _OPCODES:
                refuse(op.name, pos)
            if op.name == "NEWOBJ" and not _namespace_newobj(ops, k):
                refuse("NEWOBJ", pos)
            if op.name == "GLOBAL" and arg == "argparse Namespace":
                rest = [o[0].name for o in ops[k + 1:k + 4]]
                if rest[:1] and rest[0] in _MEMO_PUT:
                    rest = rest[1:]
                if rest[:2] != ["EMPTY_TUPLE", "NEWOBJ"]:
                    raise CheckpointError(
                        "refusing to load: the checkpoint's pickle uses argparse.Namespace (at "
                        "byte %d) otherwise than fairseq saves its 'args' (GLOBAL, an empty "
                        "argument tuple, NEWOBJ, BUILD); nothing from the file was run" % pos)
            # memo indices are given out in order: one past the count of opcodes is wrong
            # (and the unpickler would size its memo table by it)
            if op.name in _MEMO_OPS and not (isinstance(arg, int) and 0 <= arg <= len(ops)):
                raise CheckpointError("%s: the checkpoint's pickle is malformed: memo index %r "
                                      "at byte %d" % (path, arg, pos))
    except CheckpointError:
        raise
    except Exception as exc:  # ValueError: truncated argument, unknown opcode, no STOP
        raise CheckpointError("%s: the checkpoint's pickle is malformed: %s" % (path, exc)) \
            from None


class Checkpoint:
    """An open checkpoint: .obj is what torch.save wrote, with TensorRef in place
    of tensors (readable until close()). A context manager.

    Raises CheckpointError for a file that is not a zip checkpoint, is cut
    short or damaged, or whose pickle names anything outside the allow-list."""

    def __init__(self, path):
        path = os.fspath(path)
        self.path = path
        try:
            with open(path, "rb") as f:
                head = f.read(64)
        except OSError as exc:
            raise CheckpointError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
        if not head:
            raise CheckpointError("%s is empty" % path)
        if not head.startswith(b"PK"):
            raise CheckpointError(_describe_non_zip(path, head))
        try:
            zf = zipfile.ZipFile(path)
        except Exception as exc:  # BadZipFile, NotImplementedError (zip version), OSError, ...
            raise CheckpointError("%s is not a readable zip archive (truncated or damaged?): %s"
                                  % (path, exc)) from None
        try:
            self._reader = _ZipReader(path, zf)
            self.obj = self._load()
        except BaseException:
            zf.close()
            raise

    def _load(self):
        r = self._reader
        size = r.zf.getinfo(r.pkl).file_size
        if size > _MAX_PICKLE:
            raise CheckpointError("%s: %s is %d bytes; a state_dict's pickle is far smaller"
                                  % (self.path, r.pkl, size))
        try:
            data = r.zf.read(r.pkl)
        except Exception as exc:  # BadZipFile, zlib.error, NotImplementedError (method), ...
            raise CheckpointError("%s: cannot read %s: %s" % (self.path, r.pkl, exc)) from None
        _prescan(self.path, data)
        try:
            return _RestrictedUnpickler(io.BytesIO(data), r).load()
        except CheckpointError:
            raise
        except RecursionError:
            raise CheckpointError("%s: the pickle nests too deeply" % self.path) from None
        except Exception as exc:  # malformed pickle: UnpicklingError, EOFError, TypeError, ...
            raise CheckpointError("%s: the checkpoint's pickle is malformed: %s: %s"
                                  % (self.path, type(exc).__name__, exc)) from None

    def close(self):
        self._reader.zf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":  # pragma: no cover - a debugging aid
    with Checkpoint(sys.argv[1]) as ck:
        print(ck.obj)
