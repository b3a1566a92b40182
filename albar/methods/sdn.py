"""SDN (Choi et al., NeurIPS 2019, "Why Can't I Dance in the Mall?"): scene-adversarial training and
the human-mask confusion loss, laid out as the release's full SDN model (`vt-vl-lab/SDN`).

Two terms beside the action cross-entropy, each on a head of its own behind a gradient-reversal
layer, so that the backbone receives the reversed gradient and the action head none of it:
1. scene adversary: a scene head (an MLP of `scene_hidden_layers` hidden layers on the features
   the action head sees, behind a reversal of scale `scene_alpha`) is trained on pseudo scene
   labels; the backbone gets the reversed gradient and unlearns what the head uses. Weight `w_scene`.
2. human-mask confusion: the same network sees the clip with its actor removed (mask pixels set to
   0, the normalised mean colour); its features go to a confusion head (an MLP of
   `mask_hidden_layers` hidden layers to the action classes, behind a reversal of scale
   `mask_alpha`: the release's `hm_mlp` with `alpha_hm`), whose prediction's negative entropy,
   −H(softmax), averaged over the clips that have an actor, is the loss (the release's `HLoss` in its
   maximisation form). Weight `w_mask`.
Loss = CE(action) + w_scene·CE(scene head(GRL(f)), scene) + w_mask·(−H(confusion head(GRL(f_removed)))).

The release's `--is_mask_adv` flag is `store_false` (default on) and its `main` runs the full model
only with it on, so the confusion loss always goes through `hm_mlp` there; putting it on the action
head itself (the earlier form of this module) makes the action head fight its own cross-entropy on
clips that differ only in the actor's pixels.

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
    """Gradient reversal, then `hidden` Linear+ReLU layers of the feature width, then `scenes`
    outputs. SDN uses it twice: for the scenes and (with the action classes) as the confusion head."""

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
    """Action CE + scene adversary and human-mask confusion, each through a gradient reversal."""

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
        mask_alpha: float,
        mask_hidden_layers: int,
    ) -> None:
        self.actor_masks, self.scene_source = actor_masks, scene_source
        self.scene_weights, self.scene_arch = scene_weights, scene_arch
        self.w_scene, self.w_mask = w_scene, w_mask
        self.scene_alpha, self.scene_hidden_layers = scene_alpha, scene_hidden_layers
        self.mask_alpha, self.mask_hidden_layers = mask_alpha, mask_hidden_layers
        self.heads: nn.ModuleDict | None = None

    def setup(self, context: MethodContext, bank: torch.Tensor | None = None) -> None:
        super().setup(context, bank)
        if context.feature_dim is None or context.num_scenes is None or context.head is None:
            raise ValueError("sdn needs the model's head, its feature width and the scene count")
        self.heads = nn.ModuleDict(
            {
                "scene": SceneHead(
                    context.feature_dim,
                    context.num_scenes,
                    self.scene_hidden_layers,
                    self.scene_alpha,
                ),
                "confusion": SceneHead(
                    context.feature_dim,
                    context.num_classes,
                    self.mask_hidden_layers,
                    self.mask_alpha,
                ),
            }
        )

    @property
    def scene_head(self) -> SceneHead:
        return self.heads["scene"]

    @property
    def confusion_head(self) -> SceneHead:
        return self.heads["confusion"]

    def trainable(self) -> nn.Module | None:
        return self.heads

    def step(self, model, clip, labels, generator, *, masks=None, scenes=None) -> StepResult:
        if masks is None or scenes is None:
            raise ValueError("sdn needs the actor masks and scene labels of the training clips")
        masks = masks.to(clip.dtype)
        has_actor = masks.flatten(1).amax(1) > 0  # (B,)
        captured: list[torch.Tensor] = []
        hook = head_module(model, self.context.head).register_forward_pre_hook(
            lambda module, inputs: captured.append(inputs[0])
        )
        try:
            logits = model(clip).float()
            if bool(has_actor.any()):
                # actor pixels at 0 = the mean colour; only the features are used (captured[1]):
                # the action head's own prediction on this clip is not in the loss
                model((clip * (1.0 - masks))[has_actor])
        finally:
            hook.remove()
        ce = F.cross_entropy(logits, labels)
        scene_logits = self.scene_head(_pooled(captured[0])).float()
        scene_ce = F.cross_entropy(scene_logits, scenes)
        neg_entropy = torch.zeros((), device=clip.device)
        if len(captured) > 1:
            neg_entropy = negative_entropy(self.confusion_head(_pooled(captured[1]))).mean()
        loss = ce + self.w_scene * scene_ce + self.w_mask * neg_entropy
        terms = {
            "ce": ce.detach(),
            "scene_ce": scene_ce.detach(),
            "scene_accuracy": accuracy(scene_logits, scenes),
            "neg_entropy": neg_entropy.detach(),
            "accuracy": accuracy(logits, labels),
        }
        return StepResult(loss, terms)
