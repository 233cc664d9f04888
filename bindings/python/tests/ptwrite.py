"""Writing PyTorch-format checkpoints without torch, for the converter tests.

The layout is torch.save's (since 1.6): a zip archive, stored entries,
<name>/data.pkl (pickle protocol 2, tensors as torch._utils._rebuild_tensor_v2
calls on persistent storage ids), <name>/data/<key> (raw little-endian
storages), <name>/version, <name>/byteorder. The pickle is emitted opcode by
opcode, so a test can also write what torch never would (any global, a BUILD
on anything, a short storage).

    write_checkpoint(path, {"model": OrderedDict(name=np.ndarray, ...), "epoch": 3})
    write_checkpoint(path, {"x": Global("os", "system", ("true",))})   # a hostile call
"""
import collections
import struct
import zipfile

import numpy as np

_STORAGE = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
            np.dtype("float16"): "HalfStorage", np.dtype("int64"): "LongStorage",
            np.dtype("int32"): "IntStorage", np.dtype("int16"): "ShortStorage",
            np.dtype("int8"): "CharStorage", np.dtype("uint8"): "ByteStorage",
            np.dtype("bool"): "BoolStorage"}


class BF16:
    """A bfloat16 tensor given by float32 values (rounded to nearest even)."""

    def __init__(self, values):
        a = np.require(np.asarray(values, np.float32), requirements="C")
        u = a.view(np.uint32).astype(np.uint64)
        self.bits = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        self.shape = a.shape


class Global:
    """Pickles as GLOBAL module.name, called with args (REDUCE) unless args is None;
    state (not None) is applied with BUILD."""

    def __init__(self, module, name, args=None, state=None):
        self.module, self.name, self.args, self.state = module, name, args, state


class Raw:
    """Opcodes inserted as they are."""

    def __init__(self, data):
        self.data = data


class _Emitter:
    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.storages = []  # (key, bytes)

    def emit(self, obj):
        o = self.out
        if isinstance(obj, Raw):
            o += obj.data
        elif obj is None:
            o += b"N"
        elif obj is True:
            o += b"\x88"
        elif obj is False:
            o += b"\x89"
        elif isinstance(obj, int):
            if -2 ** 31 <= obj < 2 ** 31:
                o += b"J" + struct.pack("<i", obj)
            else:
                b = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True)
                o += b"\x8a" + bytes([len(b)]) + b
        elif isinstance(obj, float):
            o += b"G" + struct.pack(">d", obj)
        elif isinstance(obj, str):
            b = obj.encode("utf-8")
            o += b"X" + struct.pack("<I", len(b)) + b
        elif isinstance(obj, tuple):
            o += b"("
            for v in obj:
                self.emit(v)
            o += b"t"
        elif isinstance(obj, list):
            o += b"]("
            for v in obj:
                self.emit(v)
            o += b"e"
        elif isinstance(obj, collections.OrderedDict):
            self.glob("collections", "OrderedDict")
            o += b")R("
            for k, v in obj.items():
                self.emit(k)
                self.emit(v)
            o += b"u"
        elif isinstance(obj, dict):
            o += b"}("
            for k, v in obj.items():
                self.emit(k)
                self.emit(v)
            o += b"u"
        elif isinstance(obj, (np.ndarray, BF16)):
            self.tensor(obj)
        elif isinstance(obj, Global):
            self.glob(obj.module, obj.name)
            if obj.args is not None:
                self.emit(tuple(obj.args))
                o += b"R"
            if obj.state is not None:
                self.emit(obj.state)
                o += b"b"
        else:
            raise TypeError("cannot emit %r" % type(obj))

    def glob(self, module, name):
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    def tensor(self, a):
        if isinstance(a, BF16):
            stype, data, shape = "BFloat16Storage", a.bits.tobytes(), a.shape
        else:
            a = np.require(a, requirements="C")  # keeps 0-d arrays 0-d
            stype, shape = _STORAGE[a.dtype], a.shape
            data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        key = str(len(self.storages))
        numel = int(np.prod(shape)) if shape else 1
        self.storages.append((key, data))
        stride, s = [], 1
        for d in reversed(shape):
            stride.append(s)
            s *= d
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.out += b"("
        # persistent id: ('storage', torch.<Type>Storage, key, 'cpu', numel)
        self.out += b"("
        self.emit("storage")
        self.glob("torch", stype)
        self.emit(key)
        self.emit("cpu")
        self.emit(numel)
        self.out += b"tQ"
        self.emit(0)
        self.emit(tuple(int(d) for d in shape))
        self.emit(tuple(reversed(stride)))
        self.emit(False)
        self.emit(collections.OrderedDict())
        self.out += b"tR"


def pickle_bytes(obj):
    e = _Emitter()
    e.emit(obj)
    e.out += b"."
    return bytes(e.out), e.storages


def write_checkpoint(path, obj, name="archive", storage_bytes=None):
    """torch.save-format zip of obj. storage_bytes: {key: bytes} replacing storages."""
    pkl, storages = pickle_bytes(obj)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(name + "/data.pkl", pkl)
        z.writestr(name + "/byteorder", "little")
        for key, data in storages:
            if storage_bytes and key in storage_bytes:
                data = storage_bytes[key]
            z.writestr(name + "/data/" + key, data)
        z.writestr(name + "/version", "3\n")


class Namespace:
    """Pickles as fairseq saves its args: GLOBAL argparse.Namespace, an empty
    tuple, NEWOBJ, then BUILD with the attribute dict. raw_after (bytes) is
    inserted right after the GLOBAL, to write shapes fairseq never would."""

    def __init__(self, attrs, raw_after=b"", memo=True):
        self.attrs, self.raw_after, self.memo = attrs, raw_after, memo


def _emit_namespace(e, ns):
    e.glob("argparse", "Namespace")
    if ns.memo:
        e.out += b"q\x00"  # BINPUT 0, as torch.save's pickler memoizes the class
    e.out += ns.raw_after
    e.out += b")\x81"
    e.emit(dict(ns.attrs))
    e.out += b"b"


_plain_emit = _Emitter.emit


def _emit(self, obj):
    if isinstance(obj, Namespace):
        _emit_namespace(self, obj)
    else:
        _plain_emit(self, obj)


_Emitter.emit = _emit
