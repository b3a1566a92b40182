"""Convolution and BatchNorm with a fast second derivative, for ALBAR's gradient penalty on CPU.

The penalty differentiates ∂(Σ logits)/∂x̄ once more (double backprop). PyTorch's own second
derivatives of these two layers are slow on CPU: a convolution's (`_convolution_double_backward`)
gets the weight term as a convolution whose kernel is the whole feature map (on the default
model's first two layers slower than the layer's own forward; perf/README_training.md), and
BatchNorm's (`batchnorm_double_backward`) is some thirty separate full-size tensor operations.
`fast_second_order()` is a context manager for a forward pass: inside it, `conv1d/2d/3d` and
training-mode `batch_norm` calls build autograd nodes whose first backward is PyTorch's own kernel
and whose backward-of-backward is written out here with the ordinary convolution kernels (input
and weight gradients) and a handful of fused per-channel reductions (BatchNorm, derived below).
A Conv3d whose input is one frame expanded over time (stride 0 along T, as ALBAR's static clip
is passed) runs as one 2-D convolution per distinct set of temporal taps, forward and weight
gradient. Same maths as PyTorch's nodes — results agree to float rounding
(tests/test_albar_fast_penalty.py).

Other calls, autocast (e.g. bf16 on CUDA), string paddings, BatchNorm without affine parameters
or in eval mode fall through to PyTorch unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.overrides import TorchFunctionMode

_CONVS = {torch.conv1d: 1, torch.conv2d: 2, torch.conv3d: 3}


def _tuple(value, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,) * n


def _will_execute(tensor: torch.Tensor) -> bool:
    """Whether the running backward needs a gradient for `tensor` (False for the penalty's
    autograd.grad with respect to the static clip alone: the weights' gradients are skipped)."""
    try:
        node = torch.autograd.graph.get_gradient_edge(tensor).node
        return bool(torch._C._will_engine_execute_node(node))
    except (RuntimeError, ValueError):  # not inside a backward we can ask: compute it
        return True


class _ConvSpec:
    __slots__ = ("stride", "padding", "dilation", "groups", "dims")

    def __init__(self, dims: int, stride, padding, dilation, groups: int) -> None:
        self.dims = dims
        self.stride = _tuple(stride, dims)
        self.padding = _tuple(padding, dims)
        self.dilation = _tuple(dilation, dims)
        self.groups = groups

    def conv(self, x: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
        return torch.ops.aten.convolution(
            x, weight, bias, self.stride, self.padding, self.dilation, False,
            (0,) * self.dims, self.groups,
        )  # fmt: skip

    def backward(self, grad_out, x, weight, mask, bias_sizes=None):
        return torch.ops.aten.convolution_backward(
            grad_out, x, weight, bias_sizes, self.stride, self.padding, self.dilation, False,
            (0,) * self.dims, self.groups, mask,
        )  # fmt: skip


def _time_constant(x: torch.Tensor, spec: _ConvSpec) -> bool:
    """A (B, C, T, H, W) clip that is one frame expanded over time (stride 0 along T)."""
    return spec.dims == 3 and x.shape[2] > 1 and x.stride(2) == 0


def _tap_groups(spec: _ConvSpec, frames: int, taps: int) -> list[tuple[int, ...]]:
    """For each output time, the temporal kernel taps that fall inside the clip (not padding)."""
    stride, pad, dil = spec.stride[0], spec.padding[0], spec.dilation[0]
    out_frames = (frames + 2 * pad - dil * (taps - 1) - 1) // stride + 1
    return [
        tuple(j for j in range(taps) if 0 <= t * stride - pad + j * dil < frames)
        for t in range(out_frames)
    ]


def _index(positions) -> slice | list[int]:
    """A slice (a view, no copy) when the positions are evenly spaced, else the list."""
    positions = list(positions)
    step = positions[1] - positions[0] if len(positions) > 1 else 1
    if step > 0 and positions == list(range(positions[0], positions[-1] + 1, step)):
        return slice(positions[0], positions[-1] + 1, step)
    return positions


def _conv2d_args(spec: _ConvSpec) -> tuple:
    return spec.stride[1:], spec.padding[1:], spec.dilation[1:]


def _time_constant_conv(x, weight, bias, spec):
    """Conv3d of a clip that repeats one frame f: output time t is a 2-D convolution of f with
    the sum of the temporal taps that land inside the clip, so each distinct tap set is one 2-D
    convolution (3 instead of 8 frame-convolutions of 3 taps for the default model's first layer)."""
    frame = x[:, :, 0]
    groups = _tap_groups(spec, x.shape[2], weight.shape[2])
    stride, padding, dilation = _conv2d_args(spec)
    planes = {}
    for taps in dict.fromkeys(groups):
        kernel = weight[:, :, _index(taps)].sum(2) if taps else torch.zeros_like(weight[:, :, 0])
        planes[taps] = torch.ops.aten.convolution(
            frame, kernel, bias, stride, padding, dilation, False, (0, 0), spec.groups
        )
    return torch.stack([planes[taps] for taps in groups], dim=2)


def _time_constant_weight_grad(grad_out, x, weight, spec):
    """∂/∂w of `_time_constant_conv`: tap j's gradient is the 2-D weight gradient of f with the
    output gradient summed over the output times whose tap j lands inside the clip."""
    frame = x[:, :, 0]
    groups = _tap_groups(spec, x.shape[2], weight.shape[2])
    stride, padding, dilation = _conv2d_args(spec)
    grads = []
    for j in range(weight.shape[2]):
        times = [t for t, taps in enumerate(groups) if j in taps]
        if not times:
            grads.append(torch.zeros_like(weight[:, :, j]))
            continue
        summed = grad_out[:, :, _index(times)].sum(2)
        grads.append(
            torch.ops.aten.convolution_backward(
                summed, frame, weight[:, :, j], None, stride, padding, dilation, False,
                (0, 0), spec.groups, [False, True, False],
            )[1]
        )  # fmt: skip
    return torch.stack(grads, dim=2)


class _ConvInputGrad(torch.autograd.Function):
    """grad_x = Jᵀ grad_out of a convolution; its own derivative: conv(ggx, w) and the weight
    gradient with ggx as the input (the operator is bilinear in grad_out and w)."""

    @staticmethod
    def forward(ctx, grad_out, weight, x, spec):
        ctx.save_for_backward(grad_out, weight, x)
        ctx.spec = spec
        return spec.backward(grad_out, x, weight, [True, False, False])[0]

    @staticmethod
    @once_differentiable
    def backward(ctx, ggx):
        grad_out, weight, x = ctx.saved_tensors
        spec = ctx.spec
        need_go, need_w = ctx.needs_input_grad[:2]
        g_go = spec.conv(ggx, weight) if need_go else None
        g_w = spec.backward(grad_out, ggx, weight, [False, True, False])[1] if need_w else None
        return g_go, g_w, None, None


class _ConvWeightGrad(torch.autograd.Function):
    """grad_w of a convolution (bilinear in x and grad_out); derivative by the same two kernels."""

    @staticmethod
    def forward(ctx, x, grad_out, weight, spec):
        ctx.save_for_backward(x, grad_out, weight)
        ctx.spec = spec
        return spec.backward(grad_out, x, weight, [False, True, False])[1]

    @staticmethod
    @once_differentiable
    def backward(ctx, ggw):
        x, grad_out, weight = ctx.saved_tensors
        spec = ctx.spec
        need_x, need_go = ctx.needs_input_grad[:2]
        g_x = spec.backward(grad_out, x, ggw, [True, False, False])[0] if need_x else None
        g_go = spec.conv(x, ggw) if need_go else None
        return g_x, g_go, None, None


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, spec):
        ctx.save_for_backward(x, weight)
        ctx.spec = spec
        ctx.bias_sizes = None if bias is None else list(bias.shape)
        # the static clip is a leaf: once the penalty's gradient is taken its requires_grad is
        # switched off, and the final backward then skips this (largest) input gradient
        ctx.leaf = x if x.is_leaf else None
        ctx.time_constant = _time_constant(x, spec)
        if ctx.time_constant:
            return _time_constant_conv(x, weight, bias, spec)
        return spec.conv(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        spec = ctx.spec
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if ctx.leaf is not None and not ctx.leaf.requires_grad:
            need_x = False
        if not torch.is_grad_enabled():  # a plain backward: PyTorch's kernel, as without us
            if not (need_x or need_w or need_b):
                return None, None, None, None
            if ctx.time_constant and need_w:
                gw = _time_constant_weight_grad(grad_out, x, weight, spec)
                gx, _, gb = spec.backward(
                    grad_out, x, weight, [need_x, False, need_b], ctx.bias_sizes
                )
                return gx, gw, gb, None
            gx, gw, gb = spec.backward(
                grad_out, x, weight, [need_x, need_w, need_b], ctx.bias_sizes
            )
            return gx, gw, gb, None
        # create_graph=True: nodes that know their own derivative
        gx = _ConvInputGrad.apply(grad_out, weight, x, spec) if need_x else None
        gw = (
            _ConvWeightGrad.apply(x, grad_out, weight, spec)
            if need_w and _will_execute(weight)
            else None
        )
        gb = grad_out.sum([0, *range(2, grad_out.ndim)]) if need_b else None
        return gx, gw, gb, None


def _bn_shape(x: torch.Tensor) -> tuple[list[int], list[int]]:
    dims = [0, *range(2, x.ndim)]
    view = [1, x.shape[1]] + [1] * (x.ndim - 2)
    return dims, view


class _BatchNormBackward(torch.autograd.Function):
    """(gx, gγ, gβ) of training-mode BatchNorm, with a hand-derived second derivative.

    Per channel, over its N = B·T·H·W values, x̂ = (x − μ)·r, r = (σ² + ε)^-½, and
    P(a) = a − mean(a) − x̂·mean(a·x̂) (the projection BatchNorm's backward applies):
        gx = γ r P(gy),  gγ = Σ gy x̂,  gβ = Σ gy.
    With upstream gradients v (for gx), uγ and uβ, using ∂(Σ a x̂)/∂x = r P(a):
        ∂/∂gy = γ r P(v) + x̂ uγ + uβ
        ∂/∂γ  = r D,  D = Σ v P(gy)
        ∂/∂x  = −(γ r²/N)·[x̂ D + P(gy) Σ v x̂ + P(v) Σ gy x̂] + uγ r P(gy)
    Expanded, each is a per-channel combination of x̂, gy and v plus a constant, so the whole
    second derivative is five per-channel sums and five fused multiply-adds over the tensor.
    """

    @staticmethod
    def forward(ctx, grad_y, x, weight, mean, invstd, eps):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(grad_y, x, weight, mean, invstd)
        return torch.ops.aten.native_batch_norm_backward(
            grad_y, x, weight, None, None, mean, invstd, True, eps, [True, True, True]
        )

    @staticmethod
    @once_differentiable
    def backward(ctx, v, u_w, u_b):
        grad_y, x, weight, mean, invstd = ctx.saved_tensors
        need_gy, need_x, need_w = ctx.needs_input_grad[:3]
        dims, view = _bn_shape(x)
        n = x.numel() // x.shape[1]
        r, gamma = invstd, weight
        xhat = torch.addcmul((-mean * r).view(view), x, r.view(view))  # (x − μ)·r
        mean_g = grad_y.sum(dims) / n
        s_gx = (grad_y * xhat).sum(dims)  # Σ gy x̂
        zero = torch.zeros_like(r)
        if v is not None:
            mean_v = v.sum(dims) / n
            s_vx = (v * xhat).sum(dims)  # Σ v x̂
            d = (v * grad_y).sum(dims) - n * mean_g * mean_v - s_vx * s_gx / n  # Σ v P(gy)
        else:
            mean_v = s_vx = d = zero
        u_w = zero if u_w is None else u_w
        u_b = zero if u_b is None else u_b

        def combine(const, c_xhat, c_gy, c_v):  # const + c_xhat·x̂ + c_gy·gy + c_v·v
            out = torch.addcmul(const.view(view), xhat, c_xhat.view(view))
            if c_gy is not None:
                out.addcmul_(grad_y, c_gy.view(view))
            if v is not None:
                out.addcmul_(v, c_v.view(view))
            return out

        g_gy = g_x = g_w = None
        if need_gy:  # γ r P(v) + x̂ uγ + uβ
            g_gy = combine(u_b - gamma * r * mean_v, u_w - gamma * r * s_vx / n, None, gamma * r)
        if need_x:  # k·[x̂ (D − 2 Σvx̂ Σgyx̂ / N) + Σvx̂ gy + Σgyx̂ v − Σvx̂ mean(gy) − Σgyx̂ mean(v)]
            k = -gamma * r * r / n  # ... + uγ r (gy − mean(gy) − x̂ Σgyx̂ / N)
            ur = u_w * r
            g_x = combine(
                -k * (s_vx * mean_g + s_gx * mean_v) - ur * mean_g,
                k * (d - 2 * s_vx * s_gx / n) - ur * s_gx / n,
                k * s_vx + ur,
                k * s_gx,
            )
        if need_w:
            g_w = r * d
        return g_gy, g_x, g_w, None, None, None


class _BatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps):
        out, mean, invstd = torch.ops.aten.native_batch_norm(
            x, weight, bias, running_mean, running_var, True, momentum, eps
        )
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        return out

    @staticmethod
    def backward(ctx, grad_y):
        x, weight, mean, invstd = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if not torch.is_grad_enabled():
            gx, gw, gb = torch.ops.aten.native_batch_norm_backward(
                grad_y, x, weight, None, None, mean, invstd, True, ctx.eps, [need_x, need_w, need_b]
            )
        else:
            gx, gw, gb = _BatchNormBackward.apply(grad_y, x, weight, mean, invstd, ctx.eps)
        return (
            (gx if need_x else None),
            (gw if need_w else None),
            (gb if need_b else None),
            None,
            None,
            None,
            None,
        )


class _FastSecondOrder(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _CONVS:
            routed = _conv(_CONVS[func], *args, **kwargs)
        elif func is F.batch_norm:
            routed = _batch_norm(*args, **kwargs)
        else:
            routed = None
        return func(*args, **kwargs) if routed is None else routed


def _conv(dims, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if isinstance(padding, str) or x.ndim != dims + 2:
        return None
    return _Conv.apply(x, weight, bias, _ConvSpec(dims, stride, padding, dilation, groups))


def _batch_norm(
    x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    if not training or weight is None or bias is None:
        return None
    return _BatchNorm.apply(x, weight, bias, running_mean, running_var, momentum, eps)


@contextmanager
def fast_second_order(enabled: bool = True) -> Iterator[None]:
    """Route the convolutions and training-mode BatchNorms of a forward pass through the nodes
    above (a no-op when not `enabled`, or under autocast, where PyTorch's casts must apply)."""
    if not enabled or torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda"):
        yield
        return
    with _FastSecondOrder():
        yield
