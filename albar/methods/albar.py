"""ALBAR and ALBAR + StillMix as training methods (the objective itself is albar.losses)."""

from __future__ import annotations

from collections.abc import Sequence

from albar.losses import albar_objective
from albar.method_specs import METHOD_SPECS
from albar.methods.base import Method, StepResult
from albar.methods.stillmix import StillMix


class Albar(Method):
    """The ALBAR objective on every batch; weights and options from the run entry."""

    name = "albar"

    def __init__(
        self,
        *,
        w_ce: float,
        w_adv: float,
        w_ent: float,
        w_gp: float,
        gp_reduction: str,
        static_frame: str | int,
        adv_bound: float | str | None,
        plain_epochs: int,
    ) -> None:
        self.plain_epochs = plain_epochs
        self.epoch = 0
        self.weights = dict(
            w_ce=w_ce,
            w_adv=w_adv,
            w_ent=w_ent,
            w_gp=w_gp,
            gp_reduction=gp_reduction,
            static_frame=static_frame,
            adv_bound=adv_bound,
        )

    def current_weights(self, epoch: int) -> dict:
        """Before `plain_epochs` epochs have passed only the CE term is on (the static terms' weights
        are 0, so their passes are skipped); then the configured weights."""
        if epoch < self.plain_epochs:
            return {**self.weights, "w_adv": 0.0, "w_ent": 0.0, "w_gp": 0.0}
        return self.weights

    def step(self, model, clip, labels, generator) -> StepResult:
        weights = self.current_weights(self.epoch)
        loss, terms = albar_objective(model, clip, labels, generator=generator, **weights)
        return StepResult(loss, terms)


class AlbarStillMix(StillMix):
    """StillMix on the motion clips, the static clip from the clean clip, all in one batch order."""

    name = "albar_stillmix"

    def __init__(
        self,
        *,
        w_ce: float,
        w_adv: float,
        w_ent: float,
        w_gp: float,
        gp_reduction: str,
        static_frame: str | int,
        adv_bound: float | str | None,
        plain_epochs: int,
        prob_aug: float,
        alpha: Sequence[float],
        stillmix_source: str,
        bank: dict,
    ) -> None:
        super().__init__(prob_aug=prob_aug, alpha=alpha, bank=bank)
        if stillmix_source not in ("bank", "random"):
            raise ValueError(f"stillmix_source must be 'bank' or 'random', got {stillmix_source!r}")
        # the instance attribute shadows the class default: the random variant needs no bank
        self.uses_bank = METHOD_SPECS[self.name].uses_bank({"stillmix_source": stillmix_source})
        self.albar = Albar(
            w_ce=w_ce,
            w_adv=w_adv,
            w_ent=w_ent,
            w_gp=w_gp,
            gp_reduction=gp_reduction,
            static_frame=static_frame,
            adv_bound=adv_bound,
            plain_epochs=plain_epochs,
        )

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.albar.set_epoch(epoch)

    def step(self, model, clip, labels, generator) -> StepResult:
        mixed = self.mix(clip, labels, generator)
        loss, terms = albar_objective(
            model,
            mixed.clip,
            mixed.labels,
            static_clip=mixed.clean,
            generator=generator,
            **self.albar.current_weights(self.albar.epoch),
        )
        return StepResult(loss, terms)
