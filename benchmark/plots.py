"""The results plots: SCUBA against SCUFO per run, and the leakage effect of each mask variant.

Drawn with matplotlib's Agg backend (no display needed) from the same rounded numbers as the tables,
so a plot never disagrees with a table. Written atomically like every other output.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmark.atomic import atomic_path  # noqa: E402

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
# Fixed metadata: PNGs of the same numbers are byte-identical from run to run.
PNG_METADATA = {"Software": None}


def _save(figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120, metadata=PNG_METADATA)
    plt.close(figure)
    return path


def plot_scuba_vs_scufo(
    summary: pd.DataFrame, path: str | os.PathLike, chance: float | None = None
) -> Path:
    """Avg SCUBA (↑) against Avg SCUFO (↓), one point per run, one marker per variant.

    The good corner is top left: the model still recognises the action on an unrelated background
    and no longer recognises it from a single frame. Error bars are the std over seeds.
    """
    figure, axis = plt.subplots(figsize=(6.4, 4.8))
    runs = list(dict.fromkeys(summary["run"]))
    colours = plt.get_cmap("tab10")
    for v, (variant, group) in enumerate(summary.groupby("variant", sort=False)):
        for _, line in group.iterrows():
            colour = colours(runs.index(line["run"]) % 10)
            axis.errorbar(
                line["scufo_avg"],
                line["scuba_avg"],
                xerr=line.get("scufo_avg_std", None),
                yerr=line.get("scuba_avg_std", None),
                marker=MARKERS[v % len(MARKERS)],
                color=colour,
                linestyle="none",
                capsize=2,
                label=f"{line['run']} ({variant})",
            )
    if chance is not None:
        axis.axvline(chance, color="grey", linestyle="--", linewidth=0.8)
        axis.axhline(chance, color="grey", linestyle="--", linewidth=0.8)
        axis.text(chance, 1, " chance", color="grey", fontsize=8, va="bottom")
    axis.set_xlabel("Avg SCUFO (%) — lower is better")
    axis.set_ylabel("Avg SCUBA (%) — higher is better")
    axis.set_xlim(-2, 102)
    axis.set_ylim(-2, 102)
    axis.set_title("Background vs foreground static bias")
    axis.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return _save(figure, path)


def plot_leakage_effect(leakage: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Per mask variant, each run's Avg SCUBA and Contra (grouped bars), with the variant's measured
    context-object leak in its label: box masks that leak class evidence inflate SCUBA."""
    variants = list(dict.fromkeys(leakage["variant"]))
    runs = list(dict.fromkeys(leakage["run"]))
    figure, axes = plt.subplots(1, 2, figsize=(9.6, 4.0), sharey=True)
    width = 0.8 / max(1, len(runs))
    positions = np.arange(len(variants))
    labels = []
    for variant in variants:
        leak = leakage.loc[leakage["variant"] == variant, "leak_context_gt"].iloc[0]
        labels.append(variant if pd.isna(leak) else f"{variant}\ncontext leak {leak:.2f}")
    colours = plt.get_cmap("tab10")
    for axis, metric, title in zip(
        axes, ("scuba_avg", "contra_avg"), ("Avg SCUBA (%)", "Contra (%)"), strict=True
    ):
        for r, run in enumerate(runs):
            values = [
                float(
                    leakage.loc[(leakage["variant"] == v) & (leakage["run"] == run), metric].iloc[0]
                )
                for v in variants
            ]
            axis.bar(
                positions + (r - (len(runs) - 1) / 2) * width,
                values,
                width,
                label=run,
                color=colours(r % 10),
            )
        axis.set_xticks(positions, labels, fontsize=8)
        axis.set_title(title)
        axis.set_ylim(0, 100)
    axes[0].legend(fontsize=7)
    figure.suptitle("Leakage effect of the mask variant")
    figure.tight_layout()
    return _save(figure, path)
