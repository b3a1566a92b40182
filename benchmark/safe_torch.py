"""Load PyTorch files a user may have downloaded (checkpoints, weight files, frame banks) without
running code, and say in one line what is wrong with one that does not load.

`torch.load(..., weights_only=False)` unpickles whatever the file names, so a crafted checkpoint runs
`os.system` the moment it is opened. Every PyTorch file the project reads therefore goes through
`load_torch_file`, which uses `weights_only=True` with no extra allow-list: our own checkpoints hold
only tensors and plain Python data (dicts, lists, tuples, strings, numbers, None), so a file that
asks for any other global is refused before anything of it runs. The error names the file, the
refused global and what to do — never the multi-line torch text, whose advice to retry with
`weights_only=False` is exactly what must not be done with a file of unknown origin.
`tensor_state_dict` then checks that a weight file's values really are tensors, so a state dict
holding strings or numbers is a one-line error naming the file instead of an AttributeError deep in
`load_state_dict`.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

from benchmark.atomic import write_bytes_atomic

_GLOBAL = re.compile(r"GLOBAL\s+([\w.]+)")
MESSAGE_DETAIL_CHARS = 160


def save_torch_file(obj: object, path: str | os.PathLike) -> None:
    """`torch.save` with the same bytes for the same object, written atomically.

    torch.save names the records inside its zip after the file it writes to, so saving straight to
    a temporary file (with its random name) gives every save other bytes; saving to a buffer gives
    the fixed record name `archive` whatever the destination."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(path, buffer.getvalue())


class TorchFileError(ValueError):
    """A PyTorch file is refused or unreadable; the message names it and says what to do."""


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if len(text) > MESSAGE_DETAIL_CHARS:
        text = text[: MESSAGE_DETAIL_CHARS - 1] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def load_torch_file(
    path: str | os.PathLike,
    *,
    what: str,
    fix: str,
    error: type[Exception] = TorchFileError,
) -> object:
    """`torch.load(path, map_location="cpu", weights_only=True)` with one-line errors.

    `what` names the file's role ("training checkpoint", "SAM checkpoint"), `fix` says what to do
    ("retrain the run"); both go into the message. Raises `error` (default `TorchFileError`) for a
    missing, refused or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found; {fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as caught:
        found = _GLOBAL.search(str(caught))
        if found:
            raise error(
                f"{path}: refused to load — this {what} asks to run or build {found.group(1)}, "
                "which a file of tensors and plain data never needs, so it is not what it claims "
                f"to be or has been tampered with (do not load it with weights_only=False); {fix}"
            ) from None
        raise error(f"{path}: not a readable {what} ({_one_line(caught)}); {fix}") from None
    except (
        RuntimeError,
        OSError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        MemoryError,
        UnicodeDecodeError,
        zipfile.BadZipFile,
    ) as caught:  # truncated, corrupt or not a torch file at all: all mean the same to the user
        raise error(f"{path}: not a readable {what} ({_one_line(caught)}); {fix}") from None


def tensor_state_dict(
    state: object,
    path: str | os.PathLike,
    *,
    what: str,
    fix: str,
    error: type[Exception] = TorchFileError,
) -> dict[str, torch.Tensor]:
    """`state` itself if it is a dict of str -> tensor; else `error` naming the file and first bad entry."""
    if not isinstance(state, dict):
        raise error(
            f"{path}: expected a {what} (a dict of tensors), found {type(state).__name__}; {fix}"
        )
    bad = [(k, v) for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        key, value = bad[0]
        raise error(
            f"{path}: {len(bad)} of {len(state)} entries of this {what} are not named tensors "
            f"(first: {str(key)[:80]!r} holds {type(value).__name__}); {fix}"
        )
    return state
