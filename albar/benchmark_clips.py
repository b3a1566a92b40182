"""A `torch.utils.data.Dataset` over one set of a release bundle, a `results/<dataset>/` folder or
an imported benchmark, and the writer of the prediction files `benchmark.scoring score` reads.

It lives on the learning side (`albar`) because it reuses the prediction code's clip reader; it reads
the benchmark through its files (items.csv, bundle.json) and public helpers only.

Each item is the protocol's test clip, taken exactly as the workflow's prediction code takes it
(`albar.data.FrameReader` with `benchmark.clips.test_clip_indices`): T frames at stride s centred in
the item (a shorter stride when the item is too short for s, all its frames when it is shorter
than T); a SCUFO item is its one stored frame
repeated T times. Labels come from the set's `items.csv`. Scoring a torchvision model:

    import torch, torchvision
    from albar.benchmark_clips import BenchmarkClips, benchmark_sets, write_predictions
    weights = torchvision.models.video.R3D_18_Weights.KINETICS400_V1
    model, prep = torchvision.models.video.r3d_18(weights=weights).eval(), weights.transforms()
    for name in benchmark_sets("ucf101_bench"):              # e.g. "sam/scuba-stripe"
        data = BenchmarkClips("ucf101_bench", name, transform=prep)
        with torch.inference_mode():
            probs = torch.cat([model(x).softmax(1) for x, _, _ in torch.utils.data.DataLoader(data, 8)])
        write_predictions("my_runs/r3d/seed0", name, data.item_ids, probs.numpy(), data.static)

(Kinetics-400 classes are not UCF101's: fine-tune the head first; the example shows the plumbing.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from albar.data import ClipSettings, DataError, FrameReader, read_item_entries
from albar.predict import check_prediction_ids, prediction_frame
from benchmark import table_files
from benchmark.atomic import write_text_atomic
from benchmark.clips import test_clip_indices
from benchmark.layout import ItemSet, LayoutError, evaluation_sets
from benchmark.release.bundle import BUNDLE_JSON
from benchmark.scoring import discover_benchmark


def benchmark_sets(root: str | os.PathLike) -> list[str]:
    """Every set of a bundle / results folder as `<variant>/<protocol>-<source>`, in table order."""
    found = discover_benchmark(root)
    sets = evaluation_sets(
        found["variants"], found["bg_sources"], found["conflfg_sources"], iid=False
    )
    return [s.name for s in sets if s.items_path(root).is_file()]


def parse_set(name: str) -> ItemSet:
    """`<variant>/<protocol>-<source>` -> ItemSet."""
    try:
        item_set = ItemSet.from_name(name)
    except LayoutError:
        item_set = None
    if item_set is None or item_set.protocol == "iid":
        raise DataError(f"set {name!r} is not <variant>/<scuba|scufo|conflfg>-<source>")
    return item_set


def bundle_test_clip(root: str | os.PathLike) -> ClipSettings | None:
    """The test clip recorded in a bundle's bundle.json (None for a results/ folder)."""
    path = Path(root) / BUNDLE_JSON
    if not path.is_file():
        return None
    clip = json.loads(path.read_text(encoding="utf-8"))["test_clip"]
    return ClipSettings(int(clip["frames"]), int(clip["stride"]))


class BenchmarkClips(torch.utils.data.Dataset):
    """(clip, label, item_id) for every item of one set.

    `clip` is `transform((T, 3, H, W) uint8 tensor)` — torchvision's video layout, so a
    torchvision weights' `transforms()` fits — or that tensor itself without a transform.
    `clip_settings` defaults to the bundle's recorded test clip; a results/ or imported folder
    records none, so pass `benchmark.test_clip` (or `ClipSettings`) there.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        set_name: str,
        *,
        clip_settings: ClipSettings | dict | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.root = Path(root)
        self.set = parse_set(set_name)
        if isinstance(clip_settings, dict):
            clip_settings = ClipSettings(int(clip_settings["frames"]), int(clip_settings["stride"]))
        clip_settings = clip_settings or bundle_test_clip(self.root)
        if clip_settings is None:
            raise DataError(
                f"{self.root}: no bundle.json test clip; pass clip_settings (the config's "
                "benchmark.test_clip)"
            )
        self.clip = clip_settings
        self.entries, _ = read_item_entries(self.set.items_path(self.root), self.root)
        self.transform = transform
        self.reader = FrameReader(cache=False)

    @property
    def name(self) -> str:
        return self.set.name

    @property
    def item_ids(self) -> list[str]:
        return [e.key for e in self.entries]

    @property
    def static(self) -> list[bool]:
        """Per item: a SCUFO (static) item, whose prediction row carries static_max_prob."""
        return [e.static for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        entry = self.entries[index]
        frames = self.reader.clip(
            entry, lambda n: test_clip_indices(n, self.clip.frames, self.clip.stride).tolist()
        )  # (T,H,W,3)
        clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # (T, 3, H, W)
        if self.transform is not None:
            clip = self.transform(clip)
        return clip, entry.label, entry.key


def write_predictions(
    seed_dir: str | os.PathLike,
    set_name: str,
    item_ids: Sequence[str],
    probs: np.ndarray,
    static: Sequence[bool],
) -> Path:
    """`<seed_dir>/pred/<variant>/<protocol>-<source>.csv` in the layout `score` reads; also
    writes `<seed_dir>/metrics.json` if absent (edit its method / epochs / steps)."""
    path = parse_set(set_name).prediction_path(seed_dir)
    check_prediction_ids(list(item_ids), item_ids, str(path))
    table_files.write_predictions(path, prediction_frame(list(item_ids), np.asarray(probs), static))
    record = Path(seed_dir) / "metrics.json"
    if not record.exists():
        write_text_atomic(
            record, json.dumps({"method": "external", "epochs": 0, "steps": 0}) + "\n"
        )
    return path
