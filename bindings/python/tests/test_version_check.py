"""The binding refuses a libseqboat older than the struct layouts it mirrors
(_lib.MIN_VERSION_NUMBER), with a message naming the library and both versions.
The old library is the real one with its version call replaced."""
import ctypes
import os
import re

import pytest

import seqboat
from seqboat import _lib

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                      "include", "seqboat.h")


class _Fn:
    """A stand-in C function: restype / argtypes can be set, calls return value."""

    def __init__(self, value):
        self.value = value
        self.restype = self.argtypes = None

    def __call__(self):
        return self.value


class _Versioned:
    """The real library, except for what sb_version_number / _string return."""

    def __init__(self, real, number, text):
        self._real = real
        self.sb_version_number = _Fn(number)
        self.sb_version_string = _Fn(text)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _real_path():
    path = os.environ.get("SEQBOAT_LIBRARY")
    if not path:
        pytest.skip("SEQBOAT_LIBRARY not set (scripts/ci_python.sh sets it)")
    return path


def test_min_version_is_the_headers_or_older():
    m = re.search(r"#define SB_VERSION_MAJOR (\d+)\s+#define SB_VERSION_MINOR (\d+)\s+"
                  r"#define SB_VERSION_PATCH (\d+)", open(HEADER).read())
    header = int(m.group(1)) * 10000 + int(m.group(2)) * 100 + int(m.group(3))
    assert _lib.MIN_VERSION_NUMBER == 300  # 0.3.0: struct_size leads sb_device_desc, sb_model_info
    assert header >= _lib.MIN_VERSION_NUMBER


def test_check_version_verdicts():
    assert _lib.check_version(_Versioned(None, 300, b"0.3.0"), "x.so") is None
    assert _lib.check_version(_Versioned(None, 10203, b"1.2.3"), "x.so") is None
    why = _lib.check_version(_Versioned(None, 205, b"0.2.5"), "/old/libseqboat.so")
    assert "/old/libseqboat.so is libseqboat 0.2.5" in why
    assert "older than 0.3.0" in why and "struct_size" in why
    # the version string unreadable: the number spelled out
    broken = _Versioned(None, 102, None)
    broken.sb_version_string = None
    assert "libseqboat 0.1.2" in _lib.check_version(broken, "y.so")


def test_old_library_refused_with_a_clear_message(monkeypatch):
    path = _real_path()
    real_cdll = ctypes.CDLL
    monkeypatch.setattr(_lib.ctypes, "CDLL", lambda p: _Versioned(real_cdll(p), 200, b"0.2.0"))
    with pytest.raises(OSError) as exc:
        _lib.load()
    msg = str(exc.value)
    assert msg.startswith("libseqboat refused: ")
    assert "%s is libseqboat 0.2.0 (version number 200), older than 0.3.0" % path in msg
    assert "(SEQBOAT_LIBRARY)" in msg and "libseqboat.so >= 0.3.0" in msg
    # through the package: the first call that needs the library says the same
    monkeypatch.setattr(seqboat, "_LIB", None)
    with pytest.raises(OSError, match="older than 0.3.0"):
        seqboat.devices()


def test_refused_candidate_then_the_next(monkeypatch):
    """Without SEQBOAT_LIBRARY an old library is skipped for the next place."""
    path = _real_path()
    real_cdll = ctypes.CDLL
    calls = []

    def cdll(p):
        calls.append(p)
        lib = real_cdll(p)
        return _Versioned(lib, 209, b"0.2.9") if len(calls) == 1 else lib

    monkeypatch.setattr(_lib.ctypes, "CDLL", cdll)
    monkeypatch.setattr(_lib, "_candidates",
                        lambda: iter([(path, "next to the package"), (path, "build folder")]))
    lib = _lib.load()
    assert len(calls) == 2 and lib._seqboat_path == path
    assert _lib.check_version(lib, path) is None
    assert lib.sb_version_number() >= _lib.MIN_VERSION_NUMBER


def test_current_library_accepted():
    _real_path()
    lib = _lib.load()
    assert _lib.check_version(lib, lib._seqboat_path) is None
