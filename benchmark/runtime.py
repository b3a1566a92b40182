"""Thread limits for a stage process: torch, OpenCV and OpenMP obey the rule's `threads`.

On a 2-core machine two jobs that each start a full OpenMP pool oversubscribe badly, so every CLI
calls `set_threads(n)` before doing any work (and rules also export OMP_NUM_THREADS).
"""

from __future__ import annotations

import contextlib
import os
import sys


def set_threads(threads: int) -> None:
    threads = max(1, int(threads))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    import cv2

    cv2.setNumThreads(threads)
    # torch reads OMP_NUM_THREADS when it loads, so the data-side stages need not pay its import
    # time (seconds) just to set a limit; a process that already loaded it is limited directly.
    torch = sys.modules.get("torch")
    if torch is None:
        return
    torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != threads:
        # Raises once a parallel region has run in this process; the intra-op limit still applies.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(threads)
