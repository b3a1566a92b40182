"""Build the static review gallery: `results/<dataset>/review/<tracker>/index.html` plus previews.

One self-contained HTML page (styles, script and the video table inlined, so it opens from the file
system with no server) and one small WebP *sprite* per video and mask source: the preview frames side
by side, each with the mask outline (and a light tint, so leaks show) and the prompt boxes drawn on
it. The page animates a sprite with CSS steps and loads it only when its card scrolls into view, so
a 1,000-video gallery costs the table plus the sprites on screen. The detail view draws single
frames of the same sprite on a canvas, where the reviewer clicks retrack prompts.

Sprites are rebuilt only when their inputs change (video file, mask file, boxes, settings), so the
gallery rule stays cheap after a retrack that touched a handful of videos. The reports' pieces
(a contact sheet of the worst previews and the QC distributions per mask source) are written here too.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from benchmark.atomic import atomic_path, write_text_atomic
from benchmark.manifest import read_boxes, read_manifest
from benchmark.masks import MaskFileError, mask_path, read_actor_masks
from benchmark.review.decisions import read_decisions
from benchmark.table_files import read_qc
from benchmark.video import VideoReadError, open_video

# qc.csv's numeric columns (docs/contracts.md) and which end is "worst" when sorting worst-first:
# "asc" = low values are bad (e.g. IoU with truth), "desc" = high values are bad (e.g. leaks).
QC_COLUMNS = {
    "iou_gt_mean": "asc",
    "leak_gt": "desc",
    "leak_context_gt": "desc",
    "mean_score": "asc",
    "box_fill_mean": "desc",
    "max_area_jump": "desc",
    "empty_frames": "desc",
    "area_mean": "asc",
    "frames": "asc",
}
OUTLINE = np.array([40, 255, 90], dtype=np.float32)
BOX = (255, 214, 0)
STORAGE_PREFIX = "albar-review/v1"
SPRITE_VERSION = 1  # bump when the drawing changes, so every sprite is redrawn


@dataclass(frozen=True)
class GallerySettings:
    """`review.gallery` of the config (defaults live in review.schema.yaml)."""

    preview_frames: int
    preview_size: int
    quality: int
    compare: tuple[str, ...]
    fps: float
    report_samples: int

    @classmethod
    def from_config(cls, gallery: dict) -> GallerySettings:
        return cls(
            preview_frames=int(gallery["preview_frames"]),
            preview_size=int(gallery["preview_size"]),
            quality=int(gallery["quality"]),
            compare=tuple(gallery["compare"]),
            fps=float(gallery["fps"]),
            report_samples=int(gallery["report_samples"]),
        )


def preview_frame_indices(num_frames: int, count: int) -> list[int]:
    """`count` frame indices evenly spaced over 0..num_frames-1, ends included (all frames if fewer)."""
    if num_frames <= count:
        return list(range(num_frames))
    if count == 1:
        return [0]
    # integer rounding (not Python's banker's round) so the page and this agree exactly
    return [(2 * i * (num_frames - 1) + (count - 1)) // (2 * (count - 1)) for i in range(count)]


def preview_size(width: int, height: int, longest: int) -> tuple[int, int]:
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _outline(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inner, outer): pixels of `mask` (H, W) with a 4-neighbour outside it, and pixels outside it
    with a 4-neighbour inside. Drawn bright and dark, the pair shows on any background."""
    padded = np.pad(mask, 1, constant_values=False)
    up, down, left, right = padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]
    inner = mask & ~(up & down & left & right)
    outer = ~mask & (up | down | left | right)
    return inner, outer


def render_sprite(
    frames: np.ndarray | None,
    foreground: np.ndarray,
    boxes: list[list[tuple[float, float, float, float]]],
    indices: list[int],
    size: tuple[int, int],
) -> Image.Image:
    """The preview strip of one video and mask source: len(indices) frames of `size` (pw, ph) side by side.

    `frames` (T, H, W, 3) uint8 (or a sequence of frames, None where a frame has no pixels), or
    None (no pixels: grey); `foreground` (T, H, W) bool (or a sequence of (H, W) masks); `boxes[t]`
    the prompt boxes of frame t in video pixels (x2/y2 exclusive).
    """
    pw, ph = size
    height, width = np.shape(foreground[0]) if len(foreground) else (1, 1)  # no frame: empty strip
    sx, sy = pw / width, ph / height
    strip = Image.new("RGB", (pw * len(indices), ph))
    for i, t in enumerate(indices):
        frame = frames[t] if frames is not None and t < len(frames) else None
        if frame is not None:
            tile = np.asarray(
                Image.fromarray(frame).resize((pw, ph), Image.BILINEAR), dtype=np.float32
            )
        else:
            tile = np.full((ph, pw, 3), 96.0, dtype=np.float32)
        mask = (
            np.asarray(
                Image.fromarray(foreground[t].astype(np.uint8) * 255).resize(
                    (pw, ph), Image.NEAREST
                )
            )
            > 127
        )
        tile[mask] = 0.78 * tile[mask] + 0.22 * OUTLINE  # tint: leaks into the background show
        inner, outer = _outline(mask)
        tile[outer] = 0.0
        tile[inner] = OUTLINE
        image = Image.fromarray(tile.round().astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for x1, y1, x2, y2 in boxes[t] if t < len(boxes) else []:
            draw.rectangle(
                [
                    math.floor(x1 * sx),
                    math.floor(y1 * sy),
                    math.ceil(x2 * sx) - 1,
                    math.ceil(y2 * sy) - 1,
                ],
                outline=BOX,
            )
        strip.paste(image, (i * pw, 0))
    return strip


def _file_key(path: Path) -> str | None:
    """The content digest of `path` (None when absent): the sprite cache key must not hold mtimes or
    absolute paths, or two builds of the same inputs would write different gallery files."""
    if not path.exists():
        return None
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class _Job:
    video_id: str
    video_path: Path | None
    num_frames: int
    width: int
    height: int
    sources: dict[str, Path]  # mask source -> mask file
    boxes: list[list[tuple[float, float, float, float]]]


def _render_job(job: _Job, settings: GallerySettings, previews: Path) -> dict[str, str]:
    """Render every out-of-date sprite of one video; returns {source: problem} for what failed."""
    problems: dict[str, str] = {}  # the video's problem first, then each source's
    mask_problems: dict[str, str] = {}
    masks_of = {}
    for source, path in job.sources.items():
        try:
            masks_of[source] = read_actor_masks(path)
        except MaskFileError as error:
            mask_problems[source] = str(error)
    indices_of = {
        source: preview_frame_indices(masks.num_frames, settings.preview_frames)
        for source, masks in masks_of.items()
    }
    wanted = {t for indices in indices_of.values() for t in indices}
    frames_at: dict[int, np.ndarray] = {}  # only the preview frames: memory does not grow with T
    if job.video_path is not None:
        try:
            with open_video(job.video_path) as (_, frames):
                for t, frame in enumerate(frames):
                    if t in wanted:
                        frames_at[t] = frame
        except VideoReadError as error:
            problems["video"] = str(error)
            frames_at = {}
    problems.update(mask_problems)
    for source, masks in masks_of.items():
        indices = indices_of[source]
        size = preview_size(masks.width, masks.height, settings.preview_size)
        sprite = render_sprite(
            [frames_at.get(t) for t in indices],
            [masks.frame_mask(t) for t in indices],
            [job.boxes[t] if t < len(job.boxes) else [] for t in indices],
            list(range(len(indices))),
            size,
        )
        with atomic_path(previews / source / f"{job.video_id}.webp") as tmp:
            sprite.save(
                tmp, "WEBP", quality=settings.quality, method=2
            )  # 3x faster than 4, ~5% larger
    return problems


def _numbers(row: pd.Series | None) -> list[float | None]:
    if row is None:
        return [None] * len(QC_COLUMNS)
    # read_qc types the cells (integers, floats, NaN for empty); each figure goes into the page
    # as a float rounded to 4 places, or null, whatever type its column has.
    values = []
    for column in QC_COLUMNS:
        value = row.get(column, None)
        values.append(None if value is None or pd.isna(value) else round(float(value), 4))
    return values


def _read_qc_optional(path: Path) -> pd.DataFrame | None:
    """A mask source's qc.csv through its schema (`read_qc`: empty figures NaN), or None."""
    return read_qc(path) if path.exists() else None


def build_gallery(
    results: str | os.PathLike,
    *,
    dataset: str,
    tracker: str,
    settings: GallerySettings,
    decisions_csv: str | os.PathLike,
    splits: list[str],
    threads: int = 1,
) -> dict:
    """Write `<results>/review/<tracker>/` (index.html, previews/, report pieces); return build stats."""
    started = time.perf_counter()
    results = Path(results)
    out = results / "review" / tracker
    previews = out / "previews"
    manifest = read_manifest(results / "manifest.csv")
    gated = (
        manifest[manifest["split"].isin(splits)]
        .sort_values(["label", "video_id"])
        .reset_index(drop=True)
    )
    boxes = read_boxes(results / "boxes.parquet", manifest)
    box_groups = {vid: part for vid, part in boxes.groupby("video_id", sort=False)}
    sources = [tracker, *[s for s in settings.compare if s != tracker]]
    qc_tables = {
        source: _read_qc_optional(results / "masks" / source / "qc.csv") for source in sources
    }
    if qc_tables[tracker] is None:
        raise FileNotFoundError(
            f"{results / 'masks' / tracker / 'qc.csv'}: qc.csv of the reviewed tracker not found; "
            "run tracking and QC first"
        )
    qc_rows = {
        source: ({} if table is None else {row["video_id"]: row for _, row in table.iterrows()})
        for source, table in qc_tables.items()
    }
    decision_set = read_decisions(decisions_csv, set(manifest["video_id"]))

    index_path = previews / "index.json"
    old_keys = json.loads(index_path.read_text()) if index_path.exists() else {}
    new_keys: dict[str, dict[str, str]] = {source: {} for source in sources}
    settings_key = [
        SPRITE_VERSION,
        settings.preview_frames,
        settings.preview_size,
        settings.quality,
    ]
    jobs: list[_Job] = []
    cards = []
    for video in gated.itertuples(index=False):
        vid = video.video_id
        video_path = Path(video.path) if video.path else None
        part = box_groups.get(vid)
        frame_boxes: list[list[tuple[float, float, float, float]]] = [
            [] for _ in range(int(video.num_frames))
        ]
        if part is not None:
            for row in part.itertuples(index=False):
                if row.frame < len(frame_boxes):
                    frame_boxes[row.frame].append((row.x1, row.y1, row.x2, row.y2))
        boxes_key = _digest(frame_boxes)
        present, stale, versions, missing = {}, {}, {}, []
        for source in sources:
            path = mask_path(results / "masks", source, vid)
            if not path.exists():
                missing.append(source)
                continue
            key = _digest(
                [
                    settings_key,
                    _file_key(video_path) if video_path else None,
                    _file_key(path),
                    boxes_key,
                ]
            )
            present[source] = path
            versions[source] = key[:8]
            new_keys[source][vid] = key
            sprite = previews / source / f"{vid}.webp"
            if old_keys.get(source, {}).get(vid) != key or not sprite.exists():
                stale[source] = path
        if stale:
            jobs.append(
                _Job(
                    vid,
                    video_path,
                    int(video.num_frames),
                    int(video.width),
                    int(video.height),
                    stale,
                    frame_boxes,
                )
            )
        pw, ph = preview_size(int(video.width), int(video.height), settings.preview_size)
        tracker_qc = qc_rows[tracker].get(vid)
        flags = [f for f in (tracker_qc["flags"] if tracker_qc is not None else "").split(";") if f]
        cards.append(
            {
                "id": vid,
                "label": int(video.label),
                "cls": video.label_name,
                "T": int(video.num_frames),
                "W": int(video.width),
                "H": int(video.height),
                "pw": pw,
                "ph": ph,
                "frames": preview_frame_indices(int(video.num_frames), settings.preview_frames),
                "sha": tracker_qc["mask_sha256"] if tracker_qc is not None else "",
                "flags": flags,
                "qc": {s: _numbers(qc_rows[s].get(vid)) for s in sources if vid in qc_rows[s]},
                "v": versions,
                "missing": missing,
                "novideo": video_path is None or not video_path.exists(),
            }
        )

    problems: dict[str, dict[str, str]] = {}
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for job, result in zip(
            jobs, pool.map(lambda j: _render_job(j, settings, previews), jobs), strict=True
        ):
            if result:
                problems[job.video_id] = result
    for vid, failed in problems.items():
        for source in failed:
            new_keys.get(source, {}).pop(vid, None)  # redraw next time
    previews.mkdir(parents=True, exist_ok=True)
    write_text_atomic(index_path, json.dumps(new_keys, sort_keys=True, indent=0) + "\n")

    decisions_file = str(decisions_csv)
    data = {
        "version": 1,
        "dataset": dataset,
        "tracker": tracker,
        "sources": sources,
        "decisions_file": decisions_file,
        "storage_key": f"{STORAGE_PREFIX}/{dataset}/{tracker}",
        "qc_columns": list(QC_COLUMNS),
        "worst": QC_COLUMNS,
        "flags": sorted({flag for card in cards for flag in card["flags"]}),
        "classes": [
            [int(lab), name]
            for lab, name in gated[["label", "label_name"]]
            .drop_duplicates()
            .itertuples(index=False)
        ],
        "fps": settings.fps,
        "videos": cards,
        "decisions": {vid: d.row() for vid, d in decision_set.decisions.items()},
        "prompts": decision_set.prompts,
        "problems": problems,
    }
    write_text_atomic(out / "index.html", render_page(data))
    write_contact_sheet(
        out / "sample_previews.jpg", cards, previews, tracker, settings.report_samples
    )
    plot_qc_distributions(out / "qc_distributions.png", qc_tables)
    stats = {
        "videos": len(cards),
        "sprites_drawn": sum(len(job.sources) for job in jobs),
        "problems": len(problems),
        "seconds": round(time.perf_counter() - started, 2),
        "settings": asdict(settings),
    }
    return stats


def _asset(name: str) -> str:
    return resources.files("benchmark.review").joinpath("assets", name).read_text(encoding="utf-8")


def render_page(data: dict) -> str:
    """index.html with the styles, the script and the data inlined (works from file://)."""
    # The JSON sits inside <script>: "</script>" would end it and "<!--" would switch the HTML
    # parser into script-data-escaped mode, where a later "<script" swallows the rest of the page
    # (a class name "<!--<script>" left 0 cards). JSON strings may spell any character as \uXXXX,
    # so <, > and & never appear raw; JSON.parse gives back the same text.
    payload = (
        json.dumps(data, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    page = _asset("index.html")
    for marker, text in (
        ("/*__STYLE__*/", _asset("gallery.css")),
        ("/*__SCRIPT__*/", _asset("gallery.js")),
        ("__DATA__", payload),
        ("__TITLE__", html.escape(f"Review: {data['dataset']} / {data['tracker']}")),
    ):
        page = page.replace(marker, text, 1)
    return page


def _worst_first(cards: list[dict], tracker: str) -> list[dict]:
    def key(card: dict) -> tuple:
        qc = card["qc"].get(tracker, [None] * len(QC_COLUMNS))
        iou = qc[0] if qc[0] is not None else 1.0
        return (-len(card["flags"]), iou, card["id"])

    return sorted(cards, key=key)


def write_contact_sheet(
    path: Path, cards: list[dict], previews: Path, tracker: str, count: int
) -> None:
    """A JPEG of the `count` worst previews (most flags, lowest IoU): four frames each, id and flags."""
    chosen = [c for c in _worst_first(cards, tracker) if tracker in c["v"]][:count]
    tile_w = max((c["pw"] for c in chosen), default=64)
    tile_h = max((c["ph"] for c in chosen), default=64)
    label_w = 220
    sheet = Image.new(
        "RGB", (label_w + 4 * tile_w, max(1, len(chosen)) * (tile_h + 4)), (255, 255, 255)
    )
    draw = ImageDraw.Draw(sheet)
    if not chosen:
        draw.text((4, 4), "no previews", fill=(0, 0, 0))
    for row, card in enumerate(chosen):
        y = row * (tile_h + 4)
        draw.text(
            (4, y + 4),
            f"{card['id']}\n{card['cls']}\n{';'.join(card['flags']) or 'no flags'}",
            fill=(0, 0, 0),
        )
        with Image.open(previews / tracker / f"{card['id']}.webp") as sprite:
            sprite.load()
            n = len(card["frames"])
            for k, i in enumerate(sorted({0, n // 3, (2 * n) // 3, n - 1})):
                tile = sprite.crop((i * card["pw"], 0, (i + 1) * card["pw"], card["ph"]))
                sheet.paste(tile, (label_w + k * tile_w, y))
    with atomic_path(path) as tmp:
        sheet.save(tmp, "JPEG", quality=85)


def plot_qc_distributions(path: Path, qc_tables: dict[str, pd.DataFrame | None]) -> None:
    """Histograms of every QC column, one colour per mask source (the reviewed tracker first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in QC_COLUMNS if c != "frames"]
    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.06, top=0.9, wspace=0.25, hspace=0.3)
    for ax, column in zip(axes.flat, columns, strict=True):
        plotted = False
        for source, table in qc_tables.items():
            if table is None or column not in table.columns:
                continue
            values = pd.to_numeric(table[column], errors="coerce").dropna()
            if values.empty:
                continue
            ax.hist(
                values, bins=20, histtype="step", linewidth=1.5, label=f"{source} (n={len(values)})"
            )
            plotted = True
        ax.set_title(column)
        if plotted:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle("QC distributions per mask source")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
