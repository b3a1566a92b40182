"""Load annotation pickles (UCF101-24 `pyannot.pkl`, `UCF101v2-GT.pkl`) without running foreign code.

A pickle can name any importable callable and call it while loading (`os.system` via REDUCE is the
classic), so `pickle.load` on a downloaded file is remote code execution. The annotation files only
hold dicts, lists, numbers, strings and numpy arrays / dtypes / scalars, so the unpickler here admits
exactly the numpy globals that rebuild those (under both their numpy 1 and numpy 2 module names,
and the Python 2 names of a few plain builtins) and refuses every other global with an error naming
the file and the refused global. Admitted numpy calls are bounded too: an array may not be declared
with more elements than its data holds (a crafted shape of 10**9 would otherwise allocate, or crash
Python, before any check), so a damaged or hostile file is a one-line `PickleLoadError`.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the admitted set; the message names the file and global."""


class PickleLoadError(ValueError):
    """The file is not a readable pickle (truncated, corrupt, not a pickle); the message names it."""


def _numpy_multiarray(name: str) -> Callable[[], object]:
    def resolve() -> object:
        # numpy 2 moved numpy.core to numpy._core; importing the old name warns, so go to the new
        # module first and only fall back on numpy 1.
        try:
            from numpy._core import multiarray
        except ImportError:  # numpy 1.x
            from numpy.core import multiarray
        return getattr(multiarray, name)

    return resolve


def _numpy_frombuffer() -> object:
    try:
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy 1.x
        from numpy.core.numeric import _frombuffer
    return _frombuffer


# numpy pickles an array as `_reconstruct(ndarray, (0,), b"b")` and then sets its real shape and
# data with BUILD, which checks the data's length against the shape. The shape handed to
# `_reconstruct` itself is allocated at once, so a crafted `(10**12,)` there would be a memory
# bomb: honest files never give more than one element, anything above this bound is refused.
RECONSTRUCT_MAX_ELEMENTS = 1 << 16


class _NdarrayType:
    """What `numpy.ndarray` resolves to inside an annotation pickle: accepted as the array type
    `_reconstruct` is asked to build, refused when called directly (`ndarray((10**12,))` would
    allocate whatever shape the file names; numpy's own pickles never call it)."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        raise ValueError("the pickle calls numpy.ndarray(...) directly, which numpy never writes")


_NDARRAY = _NdarrayType()


class _PendingArray(np.ndarray):
    """The array `_reconstruct` returns while unpickling: its `__setstate__` (BUILD) checks that
    the state's data really holds as many elements as its shape names before numpy allocates
    them (an object array of shape (10**9,) with a two-item list would allocate 8 GB first).
    `load_pickle` turns every one back into a plain ndarray before returning."""

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ValueError("array state is not numpy's (shape, dtype, fortran, data) tuple")
        shape, dtype, _, data = state[-4:]
        dims = shape if isinstance(shape, tuple) else (shape,)
        if not all(isinstance(d, int) and d >= 0 for d in dims):
            raise ValueError(f"array shape {str(shape)[:60]} is not a tuple of sizes")
        count = math.prod(dims)
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            held = len(data) if isinstance(data, list) else -1
        else:
            # bytes, or str for a Python 2 pickle read with encoding="latin1" (one char per byte)
            raw = isinstance(data, bytes | bytearray | str)
            held = len(data) // max(dtype.itemsize, 1) if raw else -1
        if held != count:
            raise ValueError(
                f"array of shape {str(shape)[:60]} holds data for {max(held, 0)} elements"
            )
        super().__setstate__(state)


def _plain_arrays(value: object) -> object:
    """`value` with every `_PendingArray` (in dicts, lists, tuples, sets) as a plain ndarray."""
    if isinstance(value, np.ndarray):
        return value.view(np.ndarray) if type(value) is _PendingArray else value
    if isinstance(value, dict):
        return {k: _plain_arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_arrays(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain_arrays(v) for v in value)
    return value


def _guarded_reconstruct(resolve: Callable[[], object]) -> Callable[[], object]:
    def guarded() -> object:
        reconstruct = resolve()

        def build(subtype: object, shape: object, dtype: object) -> object:
            if subtype is not _NDARRAY:
                raise ValueError(f"_reconstruct of {type(subtype).__name__}, not numpy.ndarray")
            dims = shape if isinstance(shape, tuple) else (shape,)
            if not all(isinstance(d, int) and d >= 0 for d in dims) or math.prod(dims) > (
                RECONSTRUCT_MAX_ELEMENTS
            ):
                raise ValueError(f"an array of shape {str(shape)[:60]} is declared before its data")
            return reconstruct(_PendingArray, shape, dtype)

        return build

    return guarded


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for `_codecs.encode`, which Python 3 pickles of `bytes` (protocols 0-2) call with
    `latin1`; any other codec is refused rather than handed to the codec registry."""
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise UnsafePickleError(f"refused _codecs.encode with codec {encoding!r} (only latin1)")
    return text.encode("latin1")


# (module, name) -> resolver. Everything a numpy array, dtype or numpy scalar pickles to, for
# protocols 0-5, written by numpy 1 or 2, from Python 2 or 3. Nothing that executes or imports.
_ADMITTED: dict[tuple[str, str], Callable[[], object]] = {
    ("numpy", "ndarray"): lambda: _NDARRAY,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _guarded_reconstruct(
        _numpy_multiarray("_reconstruct")
    ),
    ("numpy._core.multiarray", "_reconstruct"): _guarded_reconstruct(
        _numpy_multiarray("_reconstruct")
    ),
    ("numpy.core.multiarray", "scalar"): _numpy_multiarray("scalar"),
    ("numpy._core.multiarray", "scalar"): _numpy_multiarray("scalar"),
    ("numpy.core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("_codecs", "encode"): lambda: _latin1_encode,
}
# Plain data constructors that protocol 0-2 pickles reach through a global (Python 2 calls the
# module `__builtin__`).
for _module in ("builtins", "__builtin__"):
    for _name, _obj in (
        ("set", set),
        ("frozenset", frozenset),
        ("complex", complex),
        ("slice", slice),
    ):
        _ADMITTED[(_module, _name)] = lambda obj=_obj: obj


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, source: str, encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._source = source

    def find_class(self, module: str, name: str) -> object:
        resolver = _ADMITTED.get((module, name))
        if resolver is None:
            raise UnsafePickleError(
                f"{self._source}: refused global {module}.{name} — only numpy arrays, dtypes and "
                "scalars may appear in an annotation pickle; this file is not the expected "
                "annotation file (or has been tampered with), do not load it"
            )
        return resolver()


def load_pickle(path: str | os.PathLike, *, encoding: str = "ASCII") -> object:
    """Unpickle `path` admitting only numpy arrays / dtypes / scalars and plain Python data.

    `encoding` is how Python 2 `str` objects are decoded: `latin1` for Python 2 pickles holding
    numpy arrays (UCF101v2-GT.pkl); the default suits Python 3 pickles (pyannot.pkl).
    Raises `UnsafePickleError` for a refused global, `PickleLoadError` for an unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise PickleLoadError(f"{path}: annotation file not found; check the path in the config")
    data = path.read_bytes()
    try:
        return _plain_arrays(_RestrictedUnpickler(io.BytesIO(data), str(path), encoding).load())
    except UnsafePickleError as error:
        if str(error).startswith(str(path)):
            raise
        raise UnsafePickleError(f"{path}: {error}") from error
    except (
        pickle.UnpicklingError,
        EOFError,
        UnicodeDecodeError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        MemoryError,
        RecursionError,
    ) as error:
        raise PickleLoadError(
            f"{path}: not a readable pickle ({type(error).__name__}: "
            f"{' '.join(str(error).split())[:160]}); the file is "
            "truncated or corrupt — download it again"
        ) from error
