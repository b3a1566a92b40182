"""The test clip: which frames of an item (or test video) a model sees at evaluation time.

One rule for every place that needs it — the benchmark's SCUFO frame choice, training's test view and
prediction — so the frozen SCUFO frame is always a frame the model is shown on the paired SCUBA item.

Rule (`benchmark.test_clip`: T frames at stride s from an item of n frames):
- the stride is s when the strided clip fits ((T−1)·s + 1 ≤ n), else the largest stride that fits,
  and 1 when even stride 1 does not fit. This is the ALBAR loader's rule (it halves stride 2 to 1 for
  short videos) rather than mmaction2's `out_of_bound_opt='loop'` used by StillMix, because looping
  wraps the clip back to the start of the action — a jump no video contains — and shows only
  n/s distinct frames when n < T·s (17 of 34 for T = 32, s = 2), while reducing the stride shows T
  distinct frames whenever n ≥ T;
- the clip is centred: start = (n − span) // 2 with span = (T−1)·stride + 1 (ALBAR starts at frame
  0; StillMix's single test clip is centred; see docs/protocols.md);
- an item shorter than T frames shows all n frames in order, then repeats its last frame (as both
  ALBAR's loader and our training sampler do): no frame is skipped.
"""

from __future__ import annotations

import numpy as np


def test_stride(num_frames: int, frames: int, stride: int) -> int:
    """The stride actually used for an item of `num_frames` frames (see the module rule)."""
    if num_frames < 1 or frames < 1 or stride < 1:
        raise ValueError(
            f"test clip needs positive sizes, got num_frames={num_frames}, frames={frames}, "
            f"stride={stride}"
        )
    if frames == 1:
        return stride
    return max(1, min(stride, (num_frames - 1) // (frames - 1)))


def test_clip_indices(num_frames: int, frames: int, stride: int) -> np.ndarray:
    """Item frame indices (int64, length `frames`) of the centred test clip of an n-frame item."""
    used = test_stride(num_frames, frames, stride)
    span = (frames - 1) * used + 1
    start = max(0, (num_frames - span) // 2)
    return np.minimum(start + used * np.arange(frames, dtype=np.int64), num_frames - 1)


# pytest would collect the public names above as tests (they start with "test_"); they are not.
test_stride.__test__ = False  # type: ignore[attr-defined]
test_clip_indices.__test__ = False  # type: ignore[attr-defined]
