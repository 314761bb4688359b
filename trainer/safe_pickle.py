"""Read PyTorch zip checkpoints WITHOUT executing pickled code and without the classes they name.

A torch checkpoint is a zip holding `<root>/data.pkl` plus raw tensor storages `<root>/data/<key>`.
This reader unpickles data.pkl with an allow-list: tensors are rebuilt from the raw storages as numpy
arrays, plain containers are kept, and classes from an allowed set of packages (Ultralytics modules,
torch.nn modules) become inert records of their pickled state: no constructor, method or function
from the file is ever called. Anything else (os.system, subprocess, builtins.exec/eval/getattr,
unknown classes) is refused with UnsafeFileError before it can run.

Accepted pickle structure (what `torch.save` writes for Ultralytics checkpoints, protocol 2):
    GLOBAL  collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter(_with_state),
            torch._tensor._rebuild_from_type_v2, torch.<Dtype>Storage, torch.Size, torch.<dtype>, torch.device,
            copyreg._reconstructor, builtins.set/frozenset/slice, pathlib paths, numpy scalars/arrays,
            and classes (CapWords names) under ultralytics.* and torch.nn.modules.*
    PERSID  ('storage', <Storage class>, key, location, numel)
    NEWOBJ/BUILD on the allowed classes (state = their __dict__)
"""
from __future__ import annotations

import _compat_pickle
import io
import pickle
import pickletools
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.runtime.errors import ModelFormatError, UnsafeFileError

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_, "UntypedStorage": np.uint8,
}
TORCH_DTYPES = {"float32", "float16", "float64", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"}
INERT_PACKAGES = ("ultralytics.", "torch.nn.modules.")


class InertObject:
    """Stand-in for an allowed foreign class: holds the constructor args and pickled state, runs nothing."""

    _origin = "?"

    def __init__(self, *args: Any, **kwargs: Any):
        self.args, self.kwargs, self.state = args, kwargs, {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], (dict, type(None))):
            state = {**(state[0] or {}), **(state[1] or {})}
        self.state = state if isinstance(state, dict) else {"_state": state}

    @property
    def class_name(self) -> str:
        return self._origin.rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        return f"<inert {self._origin}>"


class StorageMarker:
    def __init__(self, name: str):
        self.dtype = np.dtype(STORAGE_DTYPES[name])


def _rebuild_tensor(storage: np.ndarray, offset: int, size, stride, *_rest) -> np.ndarray:
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if any(s < 0 for s in size + stride) or offset < 0:
        raise ModelFormatError("corrupt tensor record (negative size, stride or offset)")
    last = offset + sum((s - 1) * st for s, st in zip(size, stride)) if all(size) else offset - 1
    if last >= storage.size:
        raise ModelFormatError(f"corrupt tensor record: needs element {last} of a {storage.size}-element storage")
    if not all(size):
        return np.zeros(size, dtype=storage.dtype)
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(st * storage.itemsize for st in stride), writeable=False
    )
    return np.array(view)


def _rebuild_parameter(data, *_rest):
    return data


def _rebuild_from_type(func, _new_type, args, _state):
    return func(*args)


def _reconstructor(cls, _base, _state):
    return cls() if isinstance(cls, type) and issubclass(cls, InertObject) else cls


def _numpy_scalar(dtype, data=None):
    return np.frombuffer(data, dtype=dtype)[0] if data is not None else dtype.type(0)


def _path(*parts):
    return "/".join(str(p) for p in parts)


SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch", "Size"): lambda *a: tuple(*a),
    ("torch", "device"): lambda *a: ":".join(str(x) for x in a),
    ("copyreg", "_reconstructor"): _reconstructor,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("pathlib", "PosixPath"): _path,
    ("pathlib", "WindowsPath"): _path,
    ("pathlib", "Path"): _path,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): lambda name, *_a: np.dtype(name) if isinstance(name, str) else np.dtype("float64"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose every global goes through the allow-list; storages come from the zip."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str, origin: str):
        super().__init__(io.BytesIO(data))
        self.archive, self.root, self.origin = archive, root, origin
        self.inert_types: dict[str, type] = {}
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module in _compat_pickle.IMPORT_MAPPING or (module, name) in _compat_pickle.NAME_MAPPING:
            # protocol-2 pickles name Python 2 modules (__builtin__.set); map them as pickle does
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageMarker(name)
        if module == "torch" and name in TORCH_DTYPES:
            return name
        if module.startswith(INERT_PACKAGES) and name[:1].isupper() and name.isidentifier():
            key = f"{module}.{name}"
            if key not in self.inert_types:
                self.inert_types[key] = type(name, (InertObject,), {"_origin": key})
            return self.inert_types[key]
        raise UnsafeFileError(
            f"{self.origin}: refusing to load: the file references {module}.{name}, which is not on edgeseg's "
            f"allow-list (loading it with plain pickle could run code)"
        )

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], StorageMarker)):
            raise UnsafeFileError(f"{self.origin}: unsupported persistent record {pid!r:.80}")
        _, marker, key, _location, numel = pid[:5]
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.root}/data/{key}")
            except KeyError:
                raise ModelFormatError(f"{self.origin}: tensor storage '{key}' is missing from the archive") from None
            if len(raw) < int(numel) * marker.dtype.itemsize:
                raise ModelFormatError(f"{self.origin}: tensor storage '{key}' is truncated")
            self.storages[key] = np.frombuffer(raw, dtype=marker.dtype, count=int(numel))
        return self.storages[key]


def _open_archive(path: Path) -> tuple[zipfile.ZipFile, str]:
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise ModelFormatError(f"{path}: not a PyTorch checkpoint (expected the zip format torch.save writes; file is truncated, corrupt or of another kind)")
    try:
        archive = zipfile.ZipFile(path)
        roots = [n[: -len("/data.pkl")] for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    except (zipfile.BadZipFile, OSError) as err:
        raise ModelFormatError(f"{path}: corrupt checkpoint archive ({err})") from None
    if len(roots) != 1:
        raise ModelFormatError(f"{path}: not a PyTorch checkpoint (no single data.pkl inside)")
    _check_sizes(archive, path)
    return archive, roots[0]


MAX_UNPACKED_BYTES = 2 << 30  # yolov8x-seg in FP32 with optimizer state is ~0.9 GB
MAX_DEFLATE_RATIO = 50  # torch.save stores members uncompressed; a highly compressed member is a bomb


def _check_sizes(archive: zipfile.ZipFile, path: Path) -> None:
    """Refuse archives whose members would unpack to far more than the file holds, before reading any."""
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    if total > MAX_UNPACKED_BYTES:
        archive.close()
        raise ModelFormatError(f"{path}: its members unpack to {total:,} bytes (limit {MAX_UNPACKED_BYTES:,}); refusing it")
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1):
            archive.close()
            raise ModelFormatError(f"{path}: member '{info.filename[:80]}' unpacks {info.compress_size:,} bytes into "
                                   f"{info.file_size:,}; refusing a compression bomb")


def pickle_globals(path: str | Path) -> set[str]:
    """The module.name of every global a checkpoint's pickle references, found statically (nothing runs)."""
    archive, root = _open_archive(Path(path))
    with archive:
        data = archive.read(f"{root}/data.pkl")
    found, strings = set(), []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                found.add(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.add(f"{strings[-2]}.{strings[-1]}")
            if isinstance(arg, str):
                strings.append(arg)
    except Exception as err:  # pickletools raises ValueError and friends on a malformed stream
        raise ModelFormatError(f"{path}: corrupt pickle inside checkpoint ({err})") from None
    return found


def safe_load(path: str | Path) -> Any:
    """Unpickle a torch zip checkpoint through the allow-list; tensors come back as numpy arrays."""
    path = Path(path)
    archive, root = _open_archive(path)
    with archive:
        try:
            data = archive.read(f"{root}/data.pkl")
            return RestrictedUnpickler(data, archive, root, str(path)).load()
        except (UnsafeFileError, ModelFormatError):
            raise
        except Exception as err:
            raise ModelFormatError(f"{path}: corrupt checkpoint ({type(err).__name__}: {err})") from None


def is_allowed_global(ref: str, allow_inert: bool) -> bool:
    """Whether `module.name` is on the allow-list (inert foreign classes only when `allow_inert`)."""
    module, _, name = ref.rpartition(".")
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    if (module, name) in SAFE_GLOBALS or (module == "torch" and (name in STORAGE_DTYPES or name in TORCH_DTYPES)):
        return True
    return allow_inert and module.startswith(INERT_PACKAGES) and name[:1].isupper() and name.isidentifier()
