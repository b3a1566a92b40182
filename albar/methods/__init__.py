"""Training methods, by the name a run entry gives in `method:`.

`build_method(run)` takes a validated run entry (schema defaults filled) and passes every key except
`name`, `method` and `training` to the method's constructor, so a parameter the method does not know
is an error naming the run, and the defaults live only in benchmark/schemas/config/runs.schema.yaml.
"""

from __future__ import annotations

from albar.methods.actorcutmix import ActorCutMix
from albar.methods.albar import Albar, AlbarStillMix
from albar.methods.augment import BackgroundErasing, Fame, Mixup, Vanilla
from albar.methods.base import Method, MethodContext, StepResult
from albar.methods.sdn import Sdn
from albar.methods.stillmix import StillMix, StillMixRandom, stillmix_batch
from albar.methods.videomix import VideoMix

METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (
        Vanilla,
        Albar,
        StillMix,
        StillMixRandom,
        AlbarStillMix,
        BackgroundErasing,
        Fame,
        Mixup,
        VideoMix,
        ActorCutMix,
        Sdn,
    )
}
RUN_KEYS = ("name", "method", "training")

__all__ = [
    "METHODS",
    "Method",
    "MethodContext",
    "StepResult",
    "build_method",
    "method_params",
    "stillmix_batch",
]


def method_params(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in RUN_KEYS}


def build_method(run: dict) -> Method:
    """The method object of a run entry; unknown methods or parameters are errors naming the run."""
    name = run.get("method")
    if name not in METHODS:
        raise ValueError(
            f"run {run.get('name')!r}: unknown method {name!r}; one of {sorted(METHODS)}"
        )
    try:
        return METHODS[name](**method_params(run))
    except TypeError as error:
        raise ValueError(f"run {run.get('name')!r} (method {name}): {error}") from error
