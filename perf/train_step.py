"""Step time and peak memory of an ALBAR step vs a plain step vs an official-style reference.

    python perf/train_step.py [--model tiny3d --frames 8 --size 48 --batch 16 --steps 20]
                              [--manifest results/synthetic/manifest.csv] [--device cuda --amp]
                              [--profile 3 --top 15] [--variants vanilla,albar,albar_old]

Four steps on the same model and batch, in one run, interleaved round by round so machine load
hits all of them alike:
- vanilla: cross-entropy on the motion clip (albar.methods vanilla);
- albar: `albar.losses.albar_objective` as training uses it (autocast on CUDA when --amp; one
  batched forward for motion and static clips when the model has no BatchNorm; the static pass
  with `albar.double_backprop`'s second derivatives);
- albar_old: the same with `fast_penalty=False`: PyTorch's own second derivatives of Conv3d and
  BatchNorm, the formulation before 2026-12-02;
- reference: written here in the official release's style — the static clip built by repeating the
  middle frame, two separate fp32 forward passes, entropy from log(softmax), the penalty by double
  backprop with the released reduction.
Each step's wall time and the process's CPU time (on a shared machine the CPU time is the steadier
figure: it leaves out the time the process waited for a core). With --profile N, torch.profiler's
top operators by self CPU time (and the autograd nodes by total CPU time) over N steps of each
variant, per step. Peak memory: CUDA max allocated, or on CPU the growth of the process's peak RSS
while stepping (each variant in its own process). With --manifest, the data loader's clips/s on the real
training videos (decoded and cached, as training does) beside the model's clips/s.
Prints a Markdown table and writes JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import statistics
import sys
import threading
import time

import torch
import torch.nn.functional as F

VARIANTS = ("vanilla", "albar", "albar_old", "reference")


def reference_step(model, clip, labels):
    """The official-style ALBAR loss: separate fp32 passes, log(softmax), released GP reduction."""
    frames = clip.shape[2]
    static = clip.detach()[:, :, frames // 2].unsqueeze(2).repeat(1, 1, frames, 1, 1)
    static.requires_grad_(True)
    logits = model(clip.float())
    static_logits = model(static.float())
    ce = F.cross_entropy(logits, labels)
    static_ce = F.cross_entropy(static_logits, labels)
    probs = torch.softmax(static_logits, 1)
    entropy = (probs * torch.log(probs)).sum(1).mean()
    (grad,) = torch.autograd.grad(static_logits.sum(), static, create_graph=True)
    gp = torch.sqrt(grad.pow(2).sum(dim=(1, 2, 3)) + 1e-12).mean()
    return ce - static_ce + 4.25 * entropy + 10.0 * gp


def make_step(variant, model, amp_dtype):
    from albar.losses import albar_objective

    device_type = next(model.parameters()).device.type

    def step(clip, labels):
        if variant == "vanilla":
            with torch.autocast(device_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                return F.cross_entropy(model(clip).float(), labels)
        if variant in ("albar", "albar_old"):
            with torch.autocast(device_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                return albar_objective(model, clip, labels, fast_penalty=variant == "albar")[0]
        return reference_step(model, clip, labels)

    return step


def setup(args):
    from albar.models import build_model

    torch.manual_seed(0)
    device = torch.device(args.device)
    model = build_model(args.model, num_classes=args.classes).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    clip = torch.randn(args.batch, 3, args.frames, args.size, args.size, generator=g).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        clip = clip.contiguous(memory_format=torch.channels_last_3d)
    labels = torch.randint(args.classes, (args.batch,), generator=g).to(device)
    return model, optimizer, clip, labels


def one_step(step, optimizer, clip, labels, cpu_times=None) -> float:
    if clip.is_cuda:
        torch.cuda.synchronize()
    started, cpu_started = time.perf_counter(), time.process_time()
    loss = step(clip, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if clip.is_cuda:
        torch.cuda.synchronize()
    if cpu_times is not None:
        cpu_times.append(time.process_time() - cpu_started)
    return time.perf_counter() - started


def time_variants(args) -> dict:
    model, optimizer, clip, labels = setup(args)
    amp = getattr(torch, args.amp_dtype) if args.amp and args.device == "cuda" else None
    steps = {v: make_step(v, model, amp) for v in args.variants}
    losses = {v: steps[v](clip, labels).item() for v in args.variants}
    for _ in range(args.warmup):
        for v in args.variants:
            one_step(steps[v], optimizer, clip, labels)
    times = {v: [] for v in args.variants}
    cpu = {v: [] for v in args.variants}
    for _ in range(args.steps):  # interleaved rounds
        for v in args.variants:
            times[v].append(one_step(steps[v], optimizer, clip, labels, cpu[v]))
    return {
        "median_s": {v: statistics.median(t) for v, t in times.items()},
        "median_cpu_s": {v: statistics.median(t) for v, t in cpu.items()},
        "loss_at_start": losses,
    }


def profile_variants(args) -> dict:
    """Per variant: the top operators by self CPU time and the autograd nodes by total CPU time,
    in ms per step, over `args.profile` steps after a warm-up."""
    from torch.profiler import ProfilerActivity, profile

    model, optimizer, clip, labels = setup(args)
    amp = getattr(torch, args.amp_dtype) if args.amp and args.device == "cuda" else None
    result = {}
    for variant in args.variants:
        if variant == "reference":
            continue
        step = make_step(variant, model, amp)
        for _ in range(args.warmup):
            one_step(step, optimizer, clip, labels)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.profile):
                one_step(step, optimizer, clip, labels)
        events = prof.key_averages()
        per_step = 1000.0 * args.profile  # profiler times are in us
        total = sum(e.self_cpu_time_total for e in events) / per_step
        ops = sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]
        nodes = [
            e
            for e in events
            if not e.key.startswith("autograd::engine")
            and "Backward" in e.key
            or e.key.startswith("Optimizer.step")
        ]
        nodes = sorted(nodes, key=lambda e: -e.cpu_time_total)[: args.top]
        result[variant] = {
            "self_cpu_ms_per_step": total,
            "ops": [(e.key, e.self_cpu_time_total / per_step, e.count / args.profile) for e in ops],
            "nodes": [(e.key, e.cpu_time_total / per_step, e.count / args.profile) for e in nodes],
        }
    return result


def print_profile(profiles: dict) -> None:
    for variant, prof in profiles.items():
        print(f"\n{variant}: {prof['self_cpu_ms_per_step']:.1f} ms self CPU per step (profiled)\n")
        print("| operator | self CPU ms/step | calls/step |")
        print("|---|---|---|")
        for name, ms, calls in prof["ops"]:
            print(f"| `{name}` | {ms:.1f} | {calls:g} |")
        print("\n| autograd node (and optimizer) | total CPU ms/step | calls/step |")
        print("|---|---|---|")
        for name, ms, calls in prof["nodes"]:
            print(f"| `{name}` | {ms:.1f} | {calls:g} |")


def _memory_worker(args, variant, queue) -> None:
    torch.set_num_threads(args.threads)
    model, optimizer, clip, labels = setup(args)
    amp = getattr(torch, args.amp_dtype) if args.amp and args.device == "cuda" else None
    step = make_step(variant, model, amp)
    one_step(step, optimizer, clip, labels)  # optimizer state and allocator pools exist now
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for _ in range(3):
            one_step(step, optimizer, clip, labels)
        queue.put(torch.cuda.max_memory_allocated() - base)
        return
    # CPU: sample the resident set size while stepping (the process's lifetime peak would be
    # the import of torch, not the step)
    base = _rss_bytes()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for _ in range(3):
        one_step(step, optimizer, clip, labels)
    stop.set()
    sampler.join()
    queue.put(peak[0] - base)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def peak_memory(args) -> dict:
    context = multiprocessing.get_context("spawn")
    peaks = {}
    for variant in args.variants:
        queue = context.Queue()
        process = context.Process(target=_memory_worker, args=(args, variant, queue))
        process.start()
        peaks[variant] = queue.get(timeout=600)
        process.join()
    return peaks


def loader_throughput(args) -> dict:
    from albar.data import (
        Augmentation,
        ClipSettings,
        EpochBatches,
        FrameReader,
        TrainClips,
        read_manifest_entries,
    )
    from albar.models import model_spec

    spec = model_spec(args.model)
    entries = read_manifest_entries(args.manifest, "train")
    aug = Augmentation(args.size, args.size, (0.5, 1.0), (0.75, 4 / 3), True, spec.mean, spec.std)
    reader = FrameReader(cache=True)
    dataset = TrainClips(entries, ClipSettings(args.frames, args.clip_stride), aug, 0, reader)
    started = time.perf_counter()
    for index in range(len(dataset)):
        reader.video(dataset.entries[index].path)
    decode_s = time.perf_counter() - started
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=EpochBatches(len(dataset), args.batch, 0), num_workers=0
    )
    started = time.perf_counter()
    clips = sum(batch[0].shape[0] for batch in loader)
    seconds = time.perf_counter() - started
    return {
        "videos": len(entries),
        "first_epoch_decode_s": decode_s,
        "cached_clips_per_s": clips / seconds,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny3d")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--clip-stride", type=int, default=2)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="autocast (CUDA only)")
    parser.add_argument("--amp-dtype", default="bfloat16", choices=["bfloat16", "float16"])
    parser.add_argument("--manifest", help="measure the data loader on this manifest's train split")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument(
        "--channels-last", action="store_true", help="model and clip channels_last_3d"
    )
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {VARIANTS}"
    )
    parser.add_argument("--profile", type=int, default=0, help="profile this many steps each")
    parser.add_argument("--top", type=int, default=15, help="operators per profile table")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    args.variants = tuple(args.variants.split(","))
    unknown = set(args.variants) - set(VARIANTS)
    if unknown or "vanilla" not in args.variants:
        parser.error(f"--variants: choose among {VARIANTS}, vanilla included")
    torch.set_num_threads(args.threads)
    figures = {
        "machine": f"{platform.machine()} {torch.get_num_threads()} thread(s), {args.device}",
        "setup": vars(args),
        **time_variants(args),
    }
    if not args.no_memory:
        figures["peak_bytes"] = peak_memory(args)
    if args.manifest:
        figures["loader"] = loader_throughput(args)
    if args.profile:
        figures["profile"] = profile_variants(args)
    median, cpu = figures["median_s"], figures["median_cpu_s"]
    print("| step | median ms | clips/s | x vanilla | CPU ms | CPU x vanilla | peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for v in args.variants:
        peak = figures.get("peak_bytes", {}).get(v)
        print(
            f"| {v} | {1000 * median[v]:.1f} | {args.batch / median[v]:.0f} | "
            f"{median[v] / median['vanilla']:.2f} | {1000 * cpu[v]:.1f} | "
            f"{cpu[v] / cpu['vanilla']:.2f} | {'' if peak is None else f'{peak / 2**20:.0f}'} |"
        )
    if args.profile:
        print_profile(figures["profile"])
    if "loader" in figures:
        loader = figures["loader"]
        print(
            f"data loader: {loader['cached_clips_per_s']:.0f} clips/s cached "
            f"(first epoch decodes {loader['videos']} videos in {loader['first_epoch_decode_s']:.1f} s)"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
