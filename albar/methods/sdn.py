"""SDN (Choi et al., NeurIPS 2019, "Why Can't I Dance in the Mall?"): scene-adversarial training and
the human-mask confusion loss.

Two terms beside the action cross-entropy:
1. scene adversary: a scene head (an MLP of `scene_hidden_layers` hidden layers on the features
   the action head sees) behind a gradient-reversal layer is trained on pseudo scene labels; the
   reversal (scale `scene_alpha`) makes the backbone *remove* what the head uses, so the features
   carry no scene. Weight `w_scene`.
2. human-mask confusion: the same network on the clip with its actor removed (mask pixels set to
   0, the normalised mean colour) must be uncertain: the loss is the negative entropy of that
   prediction, −H(softmax(logits)), averaged over the clips that have an actor. Weight `w_mask`.
Loss = CE(action) + w_scene·CE(scene head(GRL(features)), scene) + w_mask·(−H(masked clip)).

The features are read with a forward pre-hook on the model's classification head (the registry's
`head_prefix`), so any registered model works unchanged. Pseudo scene labels come from
albar.scenes (the planted scene family on the synthetic data; a Places365 classifier on real data).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from albar.methods.base import Method, MethodContext, StepResult, accuracy


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward; the gradient flowing back is multiplied by −scale."""
    return _ReverseGradient.apply(x, scale)


def negative_entropy(logits: torch.Tensor) -> torch.Tensor:
    """(B, K) -> (B,) Σ p·log p (≤ 0; −log K at the uniform prediction)."""
    log_p = F.log_softmax(logits.float(), dim=1)
    return (log_p.exp() * log_p).sum(1)


class SceneHead(nn.Module):
    """Gradient reversal, then `hidden` Linear+ReLU layers of the feature width, then the scenes."""

    def __init__(self, features: int, scenes: int, hidden: int, alpha: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(hidden):
            layers += [nn.Linear(features, features), nn.ReLU(inplace=True)]
        self.mlp = nn.Sequential(*layers, nn.Linear(features, scenes))
        self.alpha = alpha

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, S)
        return self.mlp(reverse_gradient(features, self.alpha))


def head_module(model: nn.Module, head: str) -> nn.Module:
    """The model's classification head by its registry prefix ('fc.', 'head.', 'classifier.1.')."""
    model = model.module if hasattr(model, "module") else model
    modules = dict(model.named_modules())
    name = head.rstrip(".")
    if name not in modules:
        raise ValueError(f"model has no module {name!r} (its head); cannot read its features")
    return modules[name]


def feature_width(head: nn.Module) -> int:
    """Input width of a head (its first Linear or Conv layer)."""
    for module in head.modules():
        for attribute in ("in_features", "in_channels"):
            if hasattr(module, attribute):
                return int(getattr(module, attribute))
    raise ValueError(f"cannot tell the input width of head {head.__class__.__name__}")


def _pooled(features: torch.Tensor) -> torch.Tensor:
    """Head inputs as (B, D): conv heads see (B, D, T, H, W); pool what is left."""
    return features.flatten(2).mean(2) if features.ndim > 2 else features


class Sdn(Method):
    """Action CE + scene adversary through gradient reversal + human-mask confusion."""

    name = "sdn"

    def __init__(
        self,
        *,
        actor_masks: str,
        scene_source: str,
        scene_weights: str | None,
        scene_arch: str,
        w_scene: float,
        w_mask: float,
        scene_alpha: float,
        scene_hidden_layers: int,
    ) -> None:
        self.actor_masks, self.scene_source = actor_masks, scene_source
        self.scene_weights, self.scene_arch = scene_weights, scene_arch
        self.w_scene, self.w_mask = w_scene, w_mask
        self.scene_alpha, self.scene_hidden_layers = scene_alpha, scene_hidden_layers
        self.scene_head: SceneHead | None = None

    def setup(self, context: MethodContext, bank: torch.Tensor | None = None) -> None:
        super().setup(context, bank)
        if context.feature_dim is None or context.num_scenes is None or context.head is None:
            raise ValueError("sdn needs the model's head, its feature width and the scene count")
        self.scene_head = SceneHead(
            context.feature_dim, context.num_scenes, self.scene_hidden_layers, self.scene_alpha
        )

    def trainable(self) -> nn.Module | None:
        return self.scene_head

    def step(self, model, clip, labels, generator, *, masks=None, scenes=None) -> StepResult:
        if masks is None or scenes is None:
            raise ValueError("sdn needs the actor masks and scene labels of the training clips")
        captured: list[torch.Tensor] = []
        hook = head_module(model, self.context.head).register_forward_pre_hook(
            lambda module, inputs: captured.append(inputs[0])
        )
        try:
            logits = model(clip).float()
        finally:
            hook.remove()
        ce = F.cross_entropy(logits, labels)
        scene_logits = self.scene_head(_pooled(captured[0])).float()
        scene_ce = F.cross_entropy(scene_logits, scenes)
        masks = masks.to(clip.dtype)
        has_actor = masks.flatten(1).amax(1) > 0  # (B,)
        neg_entropy = torch.zeros((), device=clip.device)
        if bool(has_actor.any()):
            removed = clip * (1.0 - masks)  # actor pixels at 0 = the mean colour
            masked_logits = model(removed[has_actor]).float()
            neg_entropy = negative_entropy(masked_logits).mean()
        loss = ce + self.w_scene * scene_ce + self.w_mask * neg_entropy
        terms = {
            "ce": ce.detach(),
            "scene_ce": scene_ce.detach(),
            "scene_accuracy": accuracy(scene_logits, scenes),
            "neg_entropy": neg_entropy.detach(),
            "accuracy": accuracy(logits, labels),
        }
        return StepResult(loss, terms)
