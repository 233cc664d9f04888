"""Finding libseqboat and declaring its C functions for ctypes.

The structures below mirror include/seqboat.h field by field (the tests parse
the header and compare). Nothing here is compiled: only ctypes and the shared
library are needed.
"""
import ctypes
import ctypes.util
import os

# The oldest library whose structure layouts are those below, as
# sb_version_number() gives it (MAJOR * 10000 + MINOR * 100 + PATCH): 0.3.0,
# where sb_device_desc and sb_model_info got their leading struct_size (and
# sb_options its precision and weights). An older library would read these
# structures at the wrong offsets, so load() refuses it.
MIN_VERSION_NUMBER = 300


def _version_text(number):
    return "%d.%d.%d" % (number // 10000, number // 100 % 100, number % 100)


_c_int_p = ctypes.POINTER(ctypes.c_int)
_c_float_p = ctypes.POINTER(ctypes.c_float)
_c_int32_p = ctypes.POINTER(ctypes.c_int32)


class DeviceDesc(ctypes.Structure):
    """sb_device_desc (seqboat.h); struct_size is set in element 0 of the
    array before sb_devices (it gives every element's size)."""
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("index", ctypes.c_int),
        ("platform", ctypes.c_char * 256),
        ("platform_version", ctypes.c_char * 256),
        ("name", ctypes.c_char * 256),
        ("vendor", ctypes.c_char * 256),
        ("type", ctypes.c_char * 16),
        ("opencl_c_version", ctypes.c_char * 256),
        ("driver_version", ctypes.c_char * 256),
        ("compute_units", ctypes.c_uint),
        ("global_mem_bytes", ctypes.c_uint64),
        ("local_mem_bytes", ctypes.c_uint64),
        ("max_alloc_bytes", ctypes.c_uint64),
        ("max_work_group_size", ctypes.c_size_t),
    ]


class Tuning(ctypes.Structure):
    """sb_tuning (seqboat.h): kernel choices; all zero = the library's."""
    _fields_ = [
        ("linear", ctypes.c_int),
        ("linear_tiles", ctypes.c_int * 5),
        ("attn", ctypes.c_int),
        ("attn_tiles", ctypes.c_int * 3),
        ("ema", ctypes.c_int),
        ("ema_vw", ctypes.c_int),
        ("rows", ctypes.c_int),
        ("decode", ctypes.c_int),
    ]


class Options(ctypes.Structure):
    """sb_options (seqboat.h), the whole struct as this package's header has
    it: sb_options_default() returns it by value, so the sizes must agree."""
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("device", ctypes.c_char_p),
        ("cache_dir", ctypes.c_char_p),
        ("profiling", ctypes.c_int),
        ("tuning", Tuning),
        ("precision", ctypes.c_int),
        ("weights", ctypes.c_int),
    ]


class ModelInfo(ctypes.Structure):
    """sb_model_info (seqboat.h); struct_size is set before sb_model_get_info."""
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("task", ctypes.c_int),
        ("d_input", ctypes.c_int),
        ("vocab_size", ctypes.c_int),
        ("d_output", ctypes.c_int),
        ("d_model", ctypes.c_int),
        ("n_layers", ctypes.c_int),
        ("d_qk", ctypes.c_int),
        ("d_hidden", ctypes.c_int),
        ("d_ema", ctypes.c_int),
        ("mem_size", ctypes.c_int),
        ("max_positions", ctypes.c_int),
        ("truncation", ctypes.c_int),
        ("bidirectional", ctypes.c_int),
        ("prenorm", ctypes.c_int),
        ("norm_type", ctypes.c_int),
        ("attention_activation", ctypes.c_int),
        ("rel_pos_bias", ctypes.c_int),
        ("n_params", ctypes.c_uint64),
        ("device", ctypes.c_char * 256),
    ]


# (name, restype, argtypes)
_SIGNATURES = [
    ("sb_status_string", ctypes.c_char_p, [ctypes.c_int]),
    ("sb_version_number", ctypes.c_uint, []),
    ("sb_version_string", ctypes.c_char_p, []),
    ("sb_last_error", ctypes.c_char_p, []),
    ("sb_devices", ctypes.c_int, [ctypes.POINTER(DeviceDesc), ctypes.c_int, _c_int_p]),
    ("sb_options_default", Options, []),
    ("sb_model_load", ctypes.c_int,
     [ctypes.c_char_p, ctypes.POINTER(Options), ctypes.POINTER(ctypes.c_void_p)]),
    ("sb_model_free", None, [ctypes.c_void_p]),
    ("sb_model_last_error", ctypes.c_char_p, [ctypes.c_void_p]),
    ("sb_model_get_info", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ModelInfo)]),
    ("sb_model_weight_bytes", ctypes.c_uint64, [ctypes.c_void_p]),
    ("sb_model_forward", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, _c_float_p, _c_int32_p, _c_int32_p, _c_float_p]),
    ("sb_model_forward_pair", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, _c_float_p, _c_int32_p, _c_int32_p,
      ctypes.c_int, _c_float_p, _c_int32_p, _c_int32_p, _c_float_p]),
    ("sb_model_run_file", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
    ("sb_model_layer_stats", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_int, _c_int_p, _c_int_p, ctypes.POINTER(ctypes.c_double)]),
    ("sb_stream_open", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]),
    ("sb_stream_free", None, [ctypes.c_void_p]),
    ("sb_stream_reset", ctypes.c_int, [ctypes.c_void_p]),
    ("sb_stream_last_error", ctypes.c_char_p, [ctypes.c_void_p]),
    ("sb_stream_position", ctypes.c_long, [ctypes.c_void_p]),
    ("sb_stream_feed_ids", ctypes.c_int,
     [ctypes.c_void_p, _c_int32_p, ctypes.c_int, _c_float_p, _c_float_p]),
    ("sb_stream_feed", ctypes.c_int,
     [ctypes.c_void_p, _c_float_p, ctypes.c_int, _c_float_p, _c_float_p]),
    ("sb_stream_step_id", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int32, _c_float_p]),
    ("sb_stream_step", ctypes.c_int, [ctypes.c_void_p, _c_float_p, _c_float_p]),
    ("sb_stream_layer_activity", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_long), ctypes.POINTER(ctypes.c_long)]),
]


def _candidates():
    """Where to look, in order: $SEQBOAT_LIBRARY; next to the package; the
    source tree's build folder; the system's library path (installed libdir)."""
    env = os.environ.get("SEQBOAT_LIBRARY")
    if env:
        yield env, "SEQBOAT_LIBRARY"
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (here, os.path.dirname(here)):
        yield os.path.join(d, "libseqboat.so"), "next to the package"
    root = os.path.normpath(os.path.join(here, "..", "..", ".."))
    yield os.path.join(root, "build", "libseqboat.so"), "build folder"
    found = ctypes.util.find_library("seqboat")
    if found:
        yield found, "system library path"


def check_version(lib, path):
    """None when the library at `path` is at least MIN_VERSION_NUMBER, else the
    reason to refuse it (its sb_version_number() / sb_version_string())."""
    try:
        number = int(lib.sb_version_number())
    except (AttributeError, TypeError, ValueError) as exc:
        return "%s has no usable sb_version_number (%s)" % (path, exc)
    if number >= MIN_VERSION_NUMBER:
        return None
    try:
        text = lib.sb_version_string()
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    except (AttributeError, TypeError, ValueError):
        text = _version_text(number)
    return ("%s is libseqboat %s (version number %d), older than %s, the version whose "
            "struct layouts (sb_device_desc and sb_model_info with a leading struct_size) "
            "this binding mirrors" % (path, text, number, _version_text(MIN_VERSION_NUMBER)))


def load():
    tried = []
    old = []  # the libraries refused: why
    for path, why in _candidates():
        if why != "system library path" and not os.path.exists(path):
            tried.append("%s (%s: not found)" % (path, why))
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            tried.append("%s (%s: %s)" % (path, why, exc))
            if why == "SEQBOAT_LIBRARY":
                break
            continue
        vfn = getattr(lib, "sb_version_number", None)
        if vfn is not None:
            vfn.restype, vfn.argtypes = ctypes.c_uint, []
        sfn = getattr(lib, "sb_version_string", None)
        if sfn is not None:
            sfn.restype, sfn.argtypes = ctypes.c_char_p, []
        refuse = check_version(lib, path)
        if refuse is None:
            missing = [n for n, _, _ in _SIGNATURES if getattr(lib, n, None) is None]
            if missing:
                refuse = "%s lacks %s" % (path, ", ".join(missing))
        if refuse is not None:
            old.append("%s (%s)" % (refuse, why))
            if why == "SEQBOAT_LIBRARY":
                break
            continue
        for name, restype, argtypes in _SIGNATURES:
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        lib._seqboat_path = path
        return lib
    if old:
        raise OSError("libseqboat refused: " + "; ".join(old)
                      + ("; also tried: " + "; ".join(tried) if tried else "")
                      + ". Set SEQBOAT_LIBRARY to the path of a libseqboat.so >= %s."
                      % _version_text(MIN_VERSION_NUMBER))
    if not tried:
        tried.append("ctypes.util.find_library('seqboat') found nothing")
    raise OSError("cannot load libseqboat; tried: " + "; ".join(tried)
                  + ". Set SEQBOAT_LIBRARY to the path of libseqboat.so.")
