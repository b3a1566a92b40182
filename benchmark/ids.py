"""Identifiers, shards and seeds shared by every stage (docs/contracts.md, "Identifiers").

Everything that must be stable across processes, machines and Python versions lives here: video-id
sanitising, the crc32 shard of a video, and the per-item random generators. Python's `hash()` is
salted per process, so nothing here uses it.
"""

from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np

VIDEO_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class IdCollisionError(ValueError):
    """Two source names sanitise to the same video id."""


def sanitize_video_id(source_name: str) -> str:
    """Map a dataset's own name to a `video_id` (`[A-Za-z0-9_.-]+`).

    The last path component is kept (`Class/v_Class_g01_c01` -> `v_Class_g01_c01`), a video
    extension is dropped, and every run of other characters (or of underscores) becomes one
    underscore.
    """
    name = source_name.replace("\\", "/").rstrip("/").split("/")[-1]
    for ext in (".avi", ".mp4", ".mkv", ".webm", ".mov"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    # Runs of underscores collapse too: "__" separates a video id from a version in item ids.
    video_id = re.sub("_{2,}", "_", _UNSAFE.sub("_", name)).strip("_")
    if not video_id:
        raise ValueError(f"source name {source_name!r} leaves no usable characters for a video id")
    return video_id


def unique_video_ids(source_names: list[str]) -> list[str]:
    """Sanitise every name; raise `IdCollisionError` naming both sources if two ids collide."""
    seen: dict[str, str] = {}
    ids = []
    for name in source_names:
        video_id = sanitize_video_id(name)
        if video_id in seen and seen[video_id] != name:
            raise IdCollisionError(
                f"video names {seen[video_id]!r} and {name!r} both map to id {video_id!r}; "
                "rename one of the files"
            )
        if video_id in seen:
            raise IdCollisionError(f"video {name!r} is listed twice")
        seen[video_id] = name
        ids.append(video_id)
    return ids


def check_video_id(video_id: str) -> str:
    if not VIDEO_ID_PATTERN.match(video_id):
        raise ValueError(f"video_id {video_id!r} must match [A-Za-z0-9_.-]+")
    return video_id


def shard_of(video_id: str, n_shards: int) -> int:
    """Shard index of a video: crc32 of its id modulo the shard count."""
    return zlib.crc32(video_id.encode("utf-8")) % n_shards


def shard_name(shard: int) -> str:
    return f"shard-{shard:03d}"


def stable_digest(*parts: object) -> int:
    """A 64-bit integer digest of the parts' text, identical in every process and platform."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def item_rng(seed: int, stage: str, source: str, video_id: str, k: int = 0) -> np.random.Generator:
    """The generator for every random draw of one item (docs/contracts.md seeding scheme).

    `source` is a background source (or another stage-specific namespace), never a mask source:
    every variant must draw the same backgrounds.
    """
    digest = stable_digest(stage, source, video_id, k)
    return np.random.default_rng(np.random.SeedSequence([int(seed), digest]))


def item_id(video_id: str, k: int, static: bool = False) -> str:
    return f"{video_id}__{k}__static" if static else f"{video_id}__{k}"
