"""The SAM 2 models the `sam2` tracker can build, their release checkpoints, and `tiny_test`.

A registry maps each `tracking.sam2.model` name to the config inside the `sam2` package (1.1.0, an
optional extra), the release file a user downloads and the trunk shape that identifies a checkpoint.
Every model is built with the package's own `build_sam2_video_predictor` (random weights), then the
user's checkpoint is loaded into it here: `torch.load(map_location="cpu", weights_only=True)`,
checked against the chosen model before any video is read, so a wrong file fails with a message
naming the file, the config and what the file holds. `tiny_test` is the official
`sam2.1_hiera_t.yaml` shrunk by hydra overrides (64-pixel input, a 5-block Hiera trunk, one memory
attention layer, 32 channels, ≈0.7 M parameters): randomly initialised, it runs the real
`SAM2VideoPredictor` code on a CPU in about a second per frame or less, for tests and smoke runs
only (`python -m benchmark.tracking make-tiny-sam2 PATH`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.safe_torch import load_torch_file, save_torch_file
from benchmark.tracking import TrackerSetupError

RELEASE_2_1 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
RELEASE_2_0 = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"
PIN = "sam2==1.1.0"
INSTALL_HINT = (
    f"install the optional extra (`SAM2_BUILD_CUDA=0 pip install --no-build-isolation {PIN}`, "
    "or `bash install.sh`); or track with `sam` or `grabcut`"
)

# What the package's builder adds with apply_postprocessing=True, minus `fill_hole_area=8`: that hole
# filling needs the optional CUDA extension (sam2._C) and is skipped with a warning without it, so
# masks would depend on how the package was built. `cleanup.fill_holes` does the same job for every
# tracker.
POSTPROCESSING = (
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
    "++model.binarize_mask_from_pts_for_mem_enc=true",
    "++model.fill_hole_area=0",
)

# tiny_test: sam2.1_hiera_t.yaml at 64 px. Hiera's feature maps are 16, 8, 4, 2 px (stride 4 patch
# embedding, three q-pool stages); a q-pool block needs a window of at least 2 and cannot be global,
# hence 5 blocks with the last one global. Widths: trunk 8 (64 at the last stage), model 32, memory 16.
TINY_TEST_OVERRIDES = (
    "++model.image_size=64",
    "model.image_encoder.trunk.embed_dim=8",
    "model.image_encoder.trunk.stages=[1,1,1,2]",
    "model.image_encoder.trunk.global_att_blocks=[4]",
    "model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[4,4]",
    "++model.image_encoder.trunk.window_spec=[8,4,4,2]",
    "model.image_encoder.neck.d_model=32",
    "model.image_encoder.neck.backbone_channel_list=[64,32,16,8]",
    "model.image_encoder.neck.position_encoding.num_pos_feats=32",
    "model.memory_attention.d_model=32",
    "model.memory_attention.num_layers=1",
    "model.memory_attention.layer.d_model=32",
    "model.memory_attention.layer.dim_feedforward=64",
    "model.memory_attention.layer.self_attention.embedding_dim=32",
    "model.memory_attention.layer.self_attention.feat_sizes=[4,4]",
    "model.memory_attention.layer.cross_attention.embedding_dim=32",
    "model.memory_attention.layer.cross_attention.feat_sizes=[4,4]",
    "model.memory_attention.layer.cross_attention.kv_in_dim=16",
    "model.memory_encoder.out_dim=16",
    "++model.memory_encoder.in_dim=32",
    "model.memory_encoder.position_encoding.num_pos_feats=16",
    "++model.memory_encoder.mask_downsampler.embed_dim=32",
    "model.memory_encoder.fuser.layer.dim=32",
    "model.memory_encoder.fuser.num_layers=1",
)
# Two biases make the random tiny model's masks testable. Its object-score head would say "absent"
# for about half the videos (SAM 2 then blanks the mask): biased to "present". Its mask logits are
# mostly negative (about 1% of pixels positive): a small bias on the hypernetworks' output gives
# masks over roughly a third of the frame, so boxes hold mask pixels and prompts move them. The
# masks still say nothing about quality.
TINY_TEST_OBJECT_BIAS = 4.0
TINY_TEST_MASK_BIAS = 0.15


@dataclass(frozen=True)
class Sam2Model:
    """One buildable SAM 2 model: its config in the sam2 package, its release file (None for
    tiny_test) and the trunk shape a checkpoint of it has (width, blocks, SAM 2.1 or 2)."""

    name: str
    config: str
    checkpoint: str | None
    trunk_width: int
    trunk_blocks: int
    release: str
    overrides: tuple[str, ...] = ()

    @property
    def url(self) -> str | None:
        if self.checkpoint is None:
            return None
        return (RELEASE_2_1 if self.release == "2.1" else RELEASE_2_0) + self.checkpoint

    @property
    def signature(self) -> tuple[str, int, int]:
        return (self.release, self.trunk_width, self.trunk_blocks)


def _official(release: str, size: str, letter: str, width: int, blocks: int) -> Sam2Model:
    prefix = "sam2.1" if release == "2.1" else "sam2"
    return Sam2Model(
        name=f"{prefix}_hiera_{size}",
        config=f"configs/{prefix}/{prefix}_hiera_{letter}.yaml",
        checkpoint=f"{prefix}_hiera_{size}.pt",
        trunk_width=width,
        trunk_blocks=blocks,
        release=release,
    )


# Trunk widths and block counts from the package's configs (stages [1,2,7,2], [1,2,11,2],
# Hiera's default [2,3,16,3], [2,6,36,4]); release files from the SAM 2 README.
SAM2_MODELS: dict[str, Sam2Model] = {
    model.name: model
    for release in ("2.1", "2")
    for model in (
        _official(release, "tiny", "t", 96, 12),
        _official(release, "small", "s", 96, 16),
        _official(release, "base_plus", "b+", 112, 24),
        _official(release, "large", "l", 144, 48),
    )
}
SAM2_MODELS["tiny_test"] = Sam2Model(
    name="tiny_test",
    config="configs/sam2.1/sam2.1_hiera_t.yaml",
    checkpoint=None,
    trunk_width=8,
    trunk_blocks=5,
    release="2.1",
    overrides=TINY_TEST_OVERRIDES,
)

PATCH_KEY = "image_encoder.trunk.patch_embed.proj.weight"


def require_package() -> None:
    """Raise `TrackerSetupError` unless the optional `sam2` package is importable."""
    if importlib.util.find_spec("sam2") is None:
        raise TrackerSetupError(
            f"the sam2 tracker needs the `sam2` package ({PIN}), which is not installed: "
            f"{INSTALL_HINT}"
        )


def model_spec(name: str) -> Sam2Model:
    if name not in SAM2_MODELS:
        raise TrackerSetupError(
            f"tracking.sam2.model {name!r} unknown; choose from {sorted(SAM2_MODELS)}"
        )
    return SAM2_MODELS[name]


def build_predictor(name: str, device: str | torch.device = "cpu", *, vos_optimized: bool = False):
    """`SAM2VideoPredictor` (or the compiled `SAM2VideoPredictorVOS`) of model `name` with random
    weights, built by the package's own builder from its config plus this module's overrides."""
    require_package()
    from sam2.build_sam import build_sam2_video_predictor

    spec = model_spec(name)
    predictor = build_sam2_video_predictor(
        spec.config,
        None,
        device=str(device),
        apply_postprocessing=False,
        hydra_overrides_extra=[*POSTPROCESSING, *spec.overrides],
        vos_optimized=vos_optimized,
    )
    if name == "tiny_test":
        decoder = predictor.sam_mask_decoder
        with torch.no_grad():
            decoder.pred_obj_score_head.layers[-1].bias.fill_(TINY_TEST_OBJECT_BIAS)
            for hypernetwork in decoder.output_hypernetworks_mlps:
                hypernetwork.layers[-1].bias.add_(TINY_TEST_MASK_BIAS)
    return predictor


def save_tiny_sam2(path: str | Path, seed: int = 0) -> str:
    """Write a randomly initialised `tiny_test` checkpoint (seeded, the release files' layout
    `{"model": state_dict}`); return its sha256."""
    from benchmark.tracking.sam import file_sha256

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        predictor = build_predictor("tiny_test", "cpu")
    finally:
        torch.random.set_rng_state(generator_state)
    save_torch_file({"model": predictor.state_dict()}, path)
    return file_sha256(path)


def download_hint(name: str) -> str:
    spec = model_spec(name)
    if spec.url is None:
        return (
            "create one with `python -m benchmark.tracking make-tiny-sam2 PATH` "
            "(random weights, for tests only)"
        )
    return f"download {spec.url}"


def checkpoint_signature(state: dict) -> tuple[str, int, int] | None:
    """(release, trunk width, trunk blocks) of a SAM 2 state dict, None when it is not one."""
    patch = state.get(PATCH_KEY)
    if not isinstance(patch, torch.Tensor):
        return None
    blocks = {
        int(key.split(".")[3])
        for key in state
        if key.startswith("image_encoder.trunk.blocks.") and key.split(".")[3].isdigit()
    }
    # SAM 2.1 configs add a learned "no object" memory embedding; SAM 2 checkpoints lack it.
    release = "2.1" if "no_obj_embed_spatial" in state else "2"
    return (release, int(patch.shape[0]), len(blocks))


def read_checkpoint(name: str, checkpoint: str | None) -> dict:
    """The state dict in `checkpoint`, checked to hold model `name`; raises `TrackerSetupError`
    (naming the key, the file, the config and what to download) when it is unset, missing,
    unreadable, not SAM 2 or another model."""
    spec = model_spec(name)
    where = f"tracking.sam2.checkpoint {checkpoint!r}"
    if checkpoint is None:
        raise TrackerSetupError(
            f"tracking.sam2.checkpoint is not set: the sam2 tracker needs SAM 2 weights for model "
            f"{name!r} — {download_hint(name)} and set tracking.sam2.checkpoint to its path (or "
            "track with `grabcut`, which needs no weights)"
        )
    path = Path(checkpoint)
    if not path.is_file():
        raise TrackerSetupError(
            f"{where} not found — {download_hint(name)} and set tracking.sam2.checkpoint to its path"
        )
    state = load_torch_file(
        path, what="PyTorch checkpoint", fix=download_hint(name), error=TrackerSetupError
    )
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # the release files' layout
    found = checkpoint_signature(state) if isinstance(state, dict) else None
    if found is None:
        raise TrackerSetupError(
            f"{where} is not a SAM 2 checkpoint (no {PATCH_KEY}); {download_hint(name)}"
        )
    if found != spec.signature:
        holds = [m.name for m in SAM2_MODELS.values() if m.signature == found]
        what = (
            holds[0] if holds else f"an unknown SAM {found[0]} model (trunk {found[1]}×{found[2]})"
        )
        raise TrackerSetupError(
            f"{where} holds {what}, but tracking.sam2.model is {name!r} (config {spec.config}): "
            f"set tracking.sam2.model to the checkpoint's model or {download_hint(name)}"
        )
    return state


def load_predictor(
    name: str, checkpoint: str | None, device: str | torch.device, *, vos_optimized: bool = False
):
    """Read and check `checkpoint` first (no model is built for a wrong file), then build model
    `name` and load it strictly; returns the predictor on `device`."""
    require_package()
    state = read_checkpoint(name, checkpoint)
    predictor = build_predictor(name, "cpu", vos_optimized=vos_optimized)
    try:
        predictor.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise TrackerSetupError(
            f"tracking.sam2.checkpoint {checkpoint!r} does not fit model {name!r} "
            f"(config {model_spec(name).config}): {str(error).splitlines()[0]}"
        ) from error
    return predictor.to(device).eval()
