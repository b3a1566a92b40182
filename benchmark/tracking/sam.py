"""Segment Anything tracker: every annotated frame is prompted with its boxes, the way the ALBAR
authors grounded SAMTrack, with the real `segment_anything` 1.0 code.

Per frame, one image-encoder pass serves every actor (`SamPredictor.predict_torch` with all boxes);
frames are batched through the encoder (`tracking.sam.batch_size`), under bf16 autocast on CUDA.
Each actor gets a two-pass refine: the best of the multimask output, then one more decoder pass fed
that mask's low-res logits. Frames inside a tube without a box are prompted with the previous mask's
box (`tubes.run_plan`); frames outside every tube are never encoded and stay empty. Reviewer points
are point prompts next to the box.

Checkpoints are user-supplied files (none ships with any package): `tracking.sam.checkpoint`, loaded
with `map_location="cpu"` and `weights_only=True`, checked against `tracking.sam.model_type` before
any video is read. `tiny_test` is a randomly initialised ~80k-parameter SAM with the same code path,
for tests and smoke runs (`python -m benchmark.tracking make-tiny-sam PATH`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from segment_anything import SamPredictor, sam_model_registry
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)
from segment_anything.utils.transforms import ResizeLongestSide

from benchmark.masks import ActorMasks
from benchmark.safe_torch import load_torch_file, save_torch_file, tensor_state_dict
from benchmark.tracking import TrackerSetupError, to_actor_masks
from benchmark.tracking.tubes import ActorPrompt, VideoPlan, run_plan

# The official release files (segment-anything README); the user downloads one and names its path.
RELEASE_CHECKPOINTS = {
    "vit_b": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
    "vit_l": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
    "vit_h": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
}
# Image-encoder width of each model type: how a checkpoint reveals which model it holds.
ENCODER_WIDTH = {"vit_b": 768, "vit_l": 1024, "vit_h": 1280, "tiny_test": 32}


def build_tiny_sam() -> Sam:
    """A ~80k-parameter SAM (64-pixel input) that runs the full segment-anything code path."""
    width = 32
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=64,
            patch_size=16,
            embed_dim=width,
            depth=2,
            num_heads=2,
            mlp_ratio=2.0,
            out_chans=width,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=2,
            global_attn_indexes=(1,),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=width, image_embedding_size=(4, 4), input_image_size=(64, 64), mask_in_chans=4
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer_dim=width,
            transformer=TwoWayTransformer(depth=1, embedding_dim=width, mlp_dim=64, num_heads=2),
            iou_head_depth=2,
            iou_head_hidden_dim=32,
        ),
    ).eval()


MODEL_BUILDERS = {
    "vit_b": sam_model_registry["vit_b"],
    "vit_l": sam_model_registry["vit_l"],
    "vit_h": sam_model_registry["vit_h"],
    "tiny_test": build_tiny_sam,
}


def save_tiny_sam(path: str | Path, seed: int = 0) -> str:
    """Write a randomly initialised `tiny_test` checkpoint (seeded); return its sha256."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = build_tiny_sam()
    finally:
        torch.random.set_rng_state(generator_state)
    save_torch_file(model.state_dict(), path)
    return file_sha256(path)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_hint(model_type: str) -> str:
    if model_type == "tiny_test":
        return (
            "create one with `python -m benchmark.tracking make-tiny-sam PATH` "
            "(random weights, for tests only)"
        )
    return f"download {RELEASE_CHECKPOINTS[model_type]}"


def load_sam(model_type: str, checkpoint: str | None) -> tuple[Sam, str]:
    """Build `model_type` and load `checkpoint` into it; return (model on CPU, checkpoint sha256).

    Raises `TrackerSetupError` — naming the key to set and the file to download — when the path is
    unset or missing, the file is not a SAM state dict, or it holds another model type.
    """
    if model_type not in MODEL_BUILDERS:
        raise TrackerSetupError(
            f"tracking.sam.model_type {model_type!r} unknown; choose from {sorted(MODEL_BUILDERS)}"
        )
    if checkpoint is None:
        raise TrackerSetupError(
            f"tracking.sam.checkpoint is not set: the sam tracker needs SAM weights for "
            f"model_type {model_type!r} — {_download_hint(model_type)} and set "
            "tracking.sam.checkpoint to its path (or track with `grabcut`, which needs no weights)"
        )
    path = Path(checkpoint)
    if not path.is_file():
        raise TrackerSetupError(
            f"tracking.sam.checkpoint {str(path)!r} not found — {_download_hint(model_type)} and "
            "set tracking.sam.checkpoint to its path"
        )
    fix = f"{_download_hint(model_type)} and set tracking.sam.checkpoint to its path"
    state = load_torch_file(path, what="SAM checkpoint", fix=fix, error=TrackerSetupError)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    state = tensor_state_dict(state, path, what="SAM state dict", fix=fix, error=TrackerSetupError)
    key = "image_encoder.patch_embed.proj.weight"
    if key not in state or state[key].ndim == 0:
        raise TrackerSetupError(
            f"tracking.sam.checkpoint {str(path)!r} is not a Segment Anything checkpoint "
            f"(no {key}); {_download_hint(model_type)}"
        )
    width = int(state[key].shape[0])
    found = [name for name, w in ENCODER_WIDTH.items() if w == width]
    if model_type not in found:
        holds = found[0] if found else f"an unknown model (encoder width {width})"
        raise TrackerSetupError(
            f"tracking.sam.checkpoint {str(path)!r} holds {holds}, but tracking.sam.model_type is "
            f"{model_type!r}: set tracking.sam.model_type to {holds!r} or "
            f"{_download_hint(model_type)} and set tracking.sam.checkpoint to it"
        )
    model = MODEL_BUILDERS[model_type]()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise TrackerSetupError(
            f"tracking.sam.checkpoint {str(path)!r} does not fit model_type {model_type!r} ({error})"
        ) from error
    return model.eval(), file_sha256(path)


def resolve_device(requested: str, key: str) -> torch.device:
    from benchmark.devices import no_cuda_note, warn_cpu_fallback

    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        warn_cpu_fallback(key)
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise TrackerSetupError(f"{key} is 'cuda' but {no_cuda_note()}; set it to auto or cpu")
    return torch.device(requested)


class SamTracker:
    name = "sam"

    def __init__(self, settings: dict, *, seed: int, model: Sam | None = None) -> None:
        """Load `tracking.sam.checkpoint`; `model` (already built, e.g. random weights for a speed
        measurement) skips loading and is recorded as unsaved."""
        self.settings = settings
        self.seed = seed
        self.device = resolve_device(settings["device"], "tracking.sam.device")
        if model is None:
            model, self.checkpoint_sha256 = load_sam(settings["model_type"], settings["checkpoint"])
        else:
            self.checkpoint_sha256 = None
        self.model = model.to(self.device)
        self.predictor = SamPredictor(self.model)
        self.transform = ResizeLongestSide(self.model.image_encoder.img_size)
        self.bf16 = bool(settings["bf16"]) and self.device.type == "cuda"
        # Seconds in the image encoder vs. everything else, for perf/tracking_speed.py.
        self.encoder_seconds = 0.0

    def provenance(self) -> dict:
        return {
            "tracker": self.name,
            "model_type": self.settings["model_type"],
            "checkpoint": Path(self.settings["checkpoint"]).name
            if self.checkpoint_sha256
            else None,
            "checkpoint_sha256": self.checkpoint_sha256,
            "segment_anything": importlib.metadata.version("segment-anything"),
            "torch": torch.__version__,
            "device": self.device.type,
            "dtype": "bfloat16" if self.bf16 else "float32",
            "refine": self.settings["refine"],
            "cleanup": self.settings["cleanup"],
        }

    def _autocast(self):
        if self.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """(B, C, h, w) image embeddings of (B, H, W, 3) uint8 RGB frames, one encoder pass."""
        started = time.perf_counter()
        batch = torch.stack(
            [
                torch.as_tensor(self.transform.apply_image(frame), device=self.device).permute(
                    2, 0, 1
                )
                for frame in frames
            ]
        )  # (B, 3, h', w') resized so the long side is the encoder's input size
        with self._autocast():
            features = self.model.image_encoder(self.model.preprocess(batch.float()))
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.encoder_seconds += time.perf_counter() - started
        return features

    def _use_features(self, features: torch.Tensor, height: int, width: int) -> None:
        """Install one frame's embedding in the predictor, as `set_image` would have."""
        self.predictor.reset_image()
        self.predictor.features = features
        self.predictor.original_size = (height, width)
        self.predictor.input_size = tuple(
            self.transform.get_preprocess_shape(height, width, self.transform.target_length)
        )
        self.predictor.is_image_set = True

    @torch.inference_mode()
    def decode(
        self, prompts: list[ActorPrompt], height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Masks (A, H, W) bool and scores (A,) of actors sharing one point count, one batch."""
        size = (height, width)
        boxes = torch.as_tensor(
            np.stack([p.box for p in prompts]), dtype=torch.float, device=self.device
        )
        boxes = self.transform.apply_boxes_torch(boxes, size)
        coords = labels = None
        if len(prompts[0].points):
            coords = torch.as_tensor(
                np.stack([p.points for p in prompts]), dtype=torch.float, device=self.device
            )
            coords = self.transform.apply_coords_torch(coords, size)
            labels = torch.as_tensor(
                np.stack([p.labels for p in prompts]), dtype=torch.int, device=self.device
            )
        with self._autocast():
            masks, scores, low_res = self.predictor.predict_torch(
                coords, labels, boxes, multimask_output=True
            )
            best = scores.float().argmax(dim=1)  # (A,)
            rows = torch.arange(len(prompts), device=self.device)
            masks, scores = masks[rows, best], scores[rows, best]  # (A, H, W), (A,)
            if self.settings["refine"]:
                refined, refined_scores, _ = self.predictor.predict_torch(
                    coords,
                    labels,
                    boxes,
                    mask_input=low_res[rows, best][:, None],
                    multimask_output=False,
                )
                masks, scores = refined[:, 0], refined_scores[:, 0]
        return masks.cpu().numpy().astype(bool), scores.float().cpu().numpy()

    def track(self, plan: VideoPlan, frames: np.ndarray) -> ActorMasks:
        height, width = plan.height, plan.width
        needed = [t for t, prompts in enumerate(plan.frames) if prompts]
        batch_size = int(self.settings["batch_size"])
        cache: dict[int, torch.Tensor] = {}

        def segment(t: int, prompts: dict[int, ActorPrompt]) -> dict:
            if t not in cache:
                cache.clear()  # frames are visited in order: earlier embeddings are done with
                start = needed.index(t)
                chunk = needed[start : start + batch_size]
                features = self.encode(frames[chunk])
                cache.update({f: features[i : i + 1] for i, f in enumerate(chunk)})
            self._use_features(cache[t], height, width)
            # One decoder batch per point count (box-only actors together), since prompt tensors
            # must be rectangular; padding with "not a point" would change box-only results.
            groups: dict[int, list[ActorPrompt]] = {}
            for prompt in prompts.values():
                groups.setdefault(len(prompt.points), []).append(prompt)
            out = {}
            for group in groups.values():
                masks, scores = self.decode(group, height, width)
                for prompt, mask, score in zip(group, masks, scores, strict=True):
                    out[prompt.actor] = (mask, float(score))
            return out

        tracked = run_plan(plan, segment, self.settings["cleanup"])
        self.predictor.reset_image()
        return to_actor_masks(plan, tracked, self.name, self.provenance())


def build(settings: dict, *, seed: int) -> SamTracker:
    return SamTracker(settings, seed=seed)
