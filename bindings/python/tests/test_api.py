"""Library loading, version, devices, and the ctypes mirror of seqboat.h."""
import ctypes
import os
import re
import subprocess
import sys

import pytest

import sbtest
from seqboat import _lib

_CTYPE = {"int": ctypes.c_int, "unsigned": ctypes.c_uint, "uint64_t": ctypes.c_uint64,
          "size_t": ctypes.c_size_t, "sb_task_kind": ctypes.c_int, "sb_norm_type": ctypes.c_int,
          "sb_attention_activation": ctypes.c_int, "sb_rel_pos_bias": ctypes.c_int}


# Structs nested in others: their own mirror (checked by the test below too).
_STRUCTS = {"sb_tuning": _lib.Tuning}


def _header():
    with open(sbtest.HEADER) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _struct_fields(name):
    """[(field, ctypes type)] of `typedef struct name { ... } name;` in seqboat.h."""
    m = re.search(r"typedef\s+struct\s+%s\s*\{(.*?)\}\s*%s\s*;" % (name, name), _header(), re.S)
    assert m, "struct %s not found in seqboat.h" % name
    fields = []
    for decl in m.group(1).split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        if decl.startswith("const char *"):
            fields.append((decl[len("const char *"):].strip(), ctypes.c_char_p))
            continue
        ctype, names = decl.split(" ", 1)
        for n in names.split(","):
            n = n.strip()
            arr = re.match(r"(\w+)\[(\d+)\]$", n)
            if arr:
                base = ctypes.c_char if ctype == "char" else _CTYPE[ctype]
                fields.append((arr.group(1), base * int(arr.group(2))))
            elif ctype in _STRUCTS:
                fields.append((n, _STRUCTS[ctype]))
            else:
                fields.append((n, _CTYPE[ctype]))
    return fields


@pytest.mark.parametrize("cname,pyclass", [("sb_device_desc", _lib.DeviceDesc),
                                           ("sb_tuning", _lib.Tuning),
                                           ("sb_options", _lib.Options),
                                           ("sb_model_info", _lib.ModelInfo)])
def test_structs_mirror_header(cname, pyclass):
    want = _struct_fields(cname)
    got = list(pyclass._fields_)
    assert [n for n, _ in got] == [n for n, _ in want], "%s fields differ from seqboat.h" % cname
    for (n, t1), (_, t2) in zip(got, want):
        assert ctypes.sizeof(t1) == ctypes.sizeof(t2) and t1._type_ == t2._type_ if hasattr(t1, "_type_") else t1 == t2, n


def test_status_names_mirror_header(sb):
    enum = dict((v, int(k)) for v, k in re.findall(r"\b(SB_(?:OK|ERR_\w+))\s*=\s*(\d+)", _header()))
    assert enum, "status enum not found"
    assert {v: k for k, v in sb.STATUS_NAMES.items()} == enum
    for code in enum.values():
        assert sb.SeqboatError(code, "x").status_string  # library has a string for each


def test_version_matches_header(sb):
    m = re.search(r'#define SB_VERSION_STRING "([^"]+)"', _header())
    assert sb.version() == m.group(1)


def test_library_is_the_one_asked_for(sb):
    want = os.environ.get("SEQBOAT_LIBRARY")
    if want:
        assert sb.library_path() == want


def test_devices(sb):
    devs = sb.devices()
    assert len(devs) >= 1
    for i, d in enumerate(devs):
        assert d.index == i
        assert d.name and d.platform
        assert d.type in ("GPU", "CPU", "accelerator", "other")
        assert d.compute_units >= 1 and d.global_mem_bytes > 0 and d.max_work_group_size >= 1


def test_bad_library_path_is_a_clear_oserror(tmp_path):
    code = ("import seqboat\n"
            "try:\n    seqboat.devices()\nexcept OSError as e:\n    print('OSERROR', e)\n")
    env = dict(os.environ, SEQBOAT_LIBRARY=str(tmp_path / "nope.so"),
               PYTHONPATH=os.pathsep.join([os.path.dirname(sbtest.HERE)] + sys.path))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "OSERROR" in r.stdout and "nope.so" in r.stdout and "SEQBOAT_LIBRARY" in r.stdout


def test_found_without_env_from_the_source_tree(tmp_path):
    # no SEQBOAT_LIBRARY: next to the package, then <root>/build, then the system path
    build_lib = os.path.join(sbtest.ROOT, "build", "libseqboat.so")
    if not os.path.exists(build_lib):
        pytest.skip("no build/libseqboat.so in the source tree")
    code = "import seqboat; print(seqboat.library_path()); print(len(seqboat.devices()))"
    env = {k: v for k, v in os.environ.items() if k != "SEQBOAT_LIBRARY"}
    env["PYTHONPATH"] = os.path.dirname(sbtest.HERE)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    path, n = r.stdout.split()
    assert os.path.samefile(path, build_lib) and int(n) >= 1
