"""The files of a release bundle on disk: the release error, file hashes, the staged folder (written
beside the target and renamed into place, so a failed build or import leaves nothing half done),
`SHA256SUMS` and the deterministic `.tar.gz` archive."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from benchmark.atomic import atomic_path, write_text_atomic

CHECKSUMS = "SHA256SUMS"
HASH_CHUNK = 1 << 20


class ReleaseError(ValueError):
    """A bundle cannot be built from these results; the message names the file and what to do."""


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Staging


@contextlib.contextmanager
def staged_folder(target: Path):
    """Yield a temporary folder beside `target`; on success it replaces `target` in one rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700; a bundle is for sharing
    try:
        yield staging
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _copy(source: Path, target: Path) -> None:
    """A real copy, never a hard link: editing the bundle must never touch the build."""
    if not source.is_file():
        raise ReleaseError(f"{source}: not found; rebuild the benchmark before releasing it")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")


# ---------------------------------------------------------------------------------------------
# Checksums


def bundle_files(root: Path) -> list[str]:
    """Every file under `root` as a sorted POSIX relative path (the checksum and archive order)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def write_checksums(root: Path) -> int:
    """`SHA256SUMS` over every other file, in `sha256sum` format (`<hex>  <path>`)."""
    lines = [
        f"{file_sha256(root / name)}  {name}\n" for name in bundle_files(root) if name != CHECKSUMS
    ]
    _write_text(root / CHECKSUMS, "".join(lines))
    return len(lines)


def read_checksums(path: Path) -> dict[str, str]:
    entries = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise ReleaseError(f"{path}: line {number} is not '<sha256>  <path>'")
        entries[name] = digest
    return entries


# ---------------------------------------------------------------------------------------------
# Deterministic archive


def _tar_entries(root: Path) -> Iterable[tuple[str, Path]]:
    """Directories and files under `root`, sorted, each named `<root name>/<relative path>`."""
    paths = sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix())
    yield root.name, root
    for path in paths:
        yield f"{root.name}/{path.relative_to(root).as_posix()}", path


def write_archive(root: Path, archive: Path, mtime: int) -> str:
    """A `.tar.gz` of `root` whose bytes depend only on the files' names and contents: sorted
    entries, owner 0:0 without names, one mode per kind, mtime `mtime`, gzip header mtime 0 and no
    file name. Returns its sha256."""
    with (
        atomic_path(archive) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, path in _tar_entries(root):
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = mtime
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, path.stat().st_size
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
    return file_sha256(archive)


def extract_archive(archive: str | os.PathLike, into: str | os.PathLike) -> Path:
    """Unpack a bundle archive (regular files and folders only, no links, nothing outside `into`)."""
    into = Path(into)
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            if not (member.isfile() or member.isdir()):
                raise ReleaseError(f"{archive}: entry {member.name!r} is not a file or folder")
        tar.extractall(into, members=members, filter="data")
    roots = {m.name.split("/")[0] for m in members}
    if len(roots) != 1:
        raise ReleaseError(f"{archive}: expected one top folder, found {sorted(roots)[:5]}")
    return into / roots.pop()


def write_verify_report(path: str | os.PathLike, report: dict) -> None:
    write_text_atomic(path, json.dumps(report, indent=2, sort_keys=True) + "\n")
