"""What the workflow must know about each training method before torch is imported.

The method registry (`albar.methods.METHODS`) holds classes that import torch; the Snakefile's parse
must not. So each method's facts live here, by the name a run entry gives in `method:`, and the
method classes read theirs from here (`Method.__init_subclass__`): whether the method trains on the
StillMix frame bank (always, or only when a run key selects it), and whether it loads the training
videos' actor masks or pseudo scene labels with each clip. The rules ask these facts for a run's
inputs (bank, mask shards, scene labels) and `albar.runs` for its paths.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodSpec:
    """The torch-free description of one training method."""

    bank: bool = False  # trains on the StillMix frame bank (runs/_stillmix_bank/...)
    # a run key whose value "bank" turns the bank on (and any other value off), when the method
    # uses the bank only in one setting (albar_stillmix: stillmix_source bank | random)
    bank_switch: str | None = None
    actor_masks: bool = False  # loads the run's `actor_masks` source for its training videos
    scene_labels: bool = False  # loads pseudo scene labels (`scene_source`: planted | places365)

    def uses_bank(self, run: dict) -> bool:
        """Whether a run entry of this method trains on the bank (known from the config alone)."""
        if self.bank_switch is not None:
            return run.get(self.bank_switch) == "bank"
        return self.bank


METHOD_SPECS: dict[str, MethodSpec] = {
    "vanilla": MethodSpec(),
    "albar": MethodSpec(),
    "stillmix": MethodSpec(bank=True),
    "stillmix_random": MethodSpec(),  # frames of other videos of the batch, no bank
    "albar_stillmix": MethodSpec(bank=True, bank_switch="stillmix_source"),
    "be": MethodSpec(),
    "fame": MethodSpec(),
    "mixup": MethodSpec(),
    "videomix": MethodSpec(),
    "actorcutmix": MethodSpec(actor_masks=True),
    "sdn": MethodSpec(actor_masks=True, scene_labels=True),
}


def method_spec(run: dict) -> MethodSpec:
    """The spec of a run entry's method; an unknown method is an error naming the run."""
    name = run.get("method")
    if name not in METHOD_SPECS:
        raise ValueError(
            f"run {run.get('name')!r}: unknown method {name!r}; one of {sorted(METHOD_SPECS)}"
        )
    return METHOD_SPECS[name]
