# Input functions and params builders of the stage rules, kept apart from the rule files (Snakemake's
# lint asks rule files not to mix rules and functions). They read the stage constants (RESULTS,
# RUNS, BENCH, ...) when called: a params builder while its stage's rules are parsed, after that
# stage's constants; an input function when the DAG is built, after every rule file.
import os
import shlex

# Masks (masks.smk)


def masks_stage_json(tracking_keys=(), masks_keys=(), review_keys=(), tracker=None):
    """Only the config keys a masks job depends on, so a change reruns only the jobs it affects."""
    stage = {
        "results": config["results"],
        "seed": config["seed"],
        "n_shards": config["n_shards"],
        "on_error": config["on_error"],
        "dataset": {"name": DATASET},
        "tracking": {key: config["tracking"][key] for key in tracking_keys},
        "masks": {key: config["masks"][key] for key in masks_keys},
    }
    if review_keys:
        stage["review"] = {key: config["review"][key] for key in review_keys}
    if tracker is not None:
        stage["tracking"][tracker] = config["tracking"][tracker]
    return json.dumps(stage, sort_keys=True)


def review_files(wildcards):
    """The tracker's review decisions and prompts, where they exist (approvals freeze masks)."""
    folder = f"{config['review']['decisions_dir']}/{DATASET}"
    names = [f"{wildcards.tracker}.csv", f"{wildcards.tracker}.prompts.json"]
    return [f"{folder}/{name}" for name in names if os.path.exists(f"{folder}/{name}")]


def wants_gpu(device):
    """A job asks for GPUs when its device is cuda, or auto where the GPU rules run on GPU nodes
    (cluster.gpu_nodes: a SLURM GPU partition, a GPU machine)."""
    return device == "cuda" or (device == "auto" and config["cluster"]["gpu_nodes"])


def gpu_launcher(gpus):
    """How a job with `gpus` devices starts python: plainly without GPUs; else through the device
    pool (distinct devices for concurrent jobs on one machine), under torchrun for N > 1.
    """
    if gpus == 0:
        return "python"
    python = f"torchrun --standalone --nproc_per_node {gpus}" if gpus > 1 else "python"
    return f"python -m benchmark.devices --gpus {gpus} -- {python}"


def tracker_gpus(wildcards):
    settings = config["tracking"][wildcards.tracker]
    return int(
        TRACKER_REGISTRY[wildcards.tracker].uses_gpu and wants_gpu(settings["device"])
    )


def qc_shard_files(wildcards):
    shards = [LAYOUT.mask_shard(wildcards.source, shard) for shard in SHARDS]
    if wildcards.source == "truth":
        return shards
    return shards + [
        LAYOUT.mask_shard_skipped(wildcards.source, shard) for shard in SHARDS
    ]


def qc_truth_files(wildcards):
    """QC of another source compares with the truth, where the dataset has it."""
    if not HAS_TRUTH or wildcards.source == "truth":
        return []
    return [LAYOUT.mask_shard("truth", shard) for shard in SHARDS]


# Review (review.smk)


def review_decision_files(wildcards):
    """The decisions CSV and prompts JSON where they exist (none yet = nothing reviewed)."""
    return [path for path in (REVIEW_DECISIONS, REVIEW_PROMPTS) if os.path.exists(path)]


# Assembly (assembly.smk)


def assembly_json(bench_keys, sections=()):
    """Only the config a job depends on, so changing e.g. `crf` reruns items, not backgrounds."""
    data = {name: config[name] for name in ("results", "dataset", "seed", *sections)}
    data["benchmark"] = {key: BENCH[key] for key in bench_keys}
    return json.dumps(data, sort_keys=True)


def variant_items(wildcards):
    return [LAYOUT.items_csv(s) for s in ITEM_SETS if s.variant == wildcards.variant]


# Training and prediction (train.smk)


def run_config_json(wildcards):
    """Only this run's entry, the shared training section and the test clip: editing one run's
    parameters reruns that run's jobs only. The seed list becomes this job's seed, so adding a
    seed does not retrain the others."""
    seed = [int(wildcards.seed)]
    run = dict(RUNS[wildcards.run])
    run["training"] = {**run.get("training", {}), "seeds": seed}
    return json.dumps(
        {
            "runs": [run],
            "training": {**config["training"], "seeds": seed},
            "benchmark": {"test_clip": config["benchmark"]["test_clip"]},
        },
        sort_keys=True,
    )


def run_seeds_config_json(wildcards):
    """run_config_json for a job that trains all the run's seeds (cluster.seed_jobs: run);
    albar.train hands each seed the sections a job of that seed alone gets."""
    seeds = RUN_TRAINING[wildcards.run]["seeds"]
    run = dict(RUNS[wildcards.run])
    run["training"] = {**run.get("training", {}), "seeds": seeds}
    return json.dumps(
        {
            "runs": [run],
            "training": {**config["training"], "seeds": seeds},
            "benchmark": {"test_clip": config["benchmark"]["test_clip"]},
        },
        sort_keys=True,
    )


def run_seed_banks(wildcards):
    """The StillMix bank of every seed of the run, in seed order (none when it uses no bank); seeds
    that share a bank (the run's bank.seed) name the same file."""
    run = RUNS[wildcards.run]
    if not run_uses_bank(run):
        return []
    seeds = RUN_TRAINING[wildcards.run]["seeds"]
    return [LAYOUT.runs_dir / bank_relpath(config, run, seed) for seed in seeds]


def run_seed_bank_argument(wildcards):
    """`--bank <one file per seed>` of a run's training job ("" when it uses no bank)."""
    banks = run_seed_banks(wildcards)
    return f"--bank {' '.join(map(str, banks))}" if banks else ""


def run_seed_bank_files(wildcards):
    """The run's distinct bank files (the training job's input)."""
    return sorted(set(run_seed_banks(wildcards)))


def run_bank(wildcards):
    run = RUNS[wildcards.run]
    if not run_uses_bank(run):
        return []
    return LAYOUT.runs_dir / bank_relpath(config, run, int(wildcards.seed))


def run_gpus(wildcards):
    """Prediction: one GPU when the run's device asks for one."""
    return int(wants_gpu(RUN_TRAINING[wildcards.run]["device"]))


def train_gpus(wildcards):
    """Training: cluster.train_gpus GPUs (DDP under torchrun) when the run's device asks for GPUs."""
    return run_gpus(wildcards) * config["cluster"]["train_gpus"]


def bank_gpus():
    return int(wants_gpu(config["training"]["device"]))


def injected_failure(wildcards):
    """TEST ONLY (cluster.inject_failure): the named run's training jobs fail before training."""
    if wildcards.run != config["cluster"]["inject_failure"]:
        return ""
    return "echo 'injected failure (cluster.inject_failure)' >&2; exit 1; "


def run_mask_shards(wildcards):
    """The shard indexes of the run's actor_masks source (its training videos' masks)."""
    source = run_mask_source(RUNS[wildcards.run])
    if source is None:
        return []
    return [LAYOUT.mask_shard(source, shard) for shard in SHARDS]


def run_scene_labels(wildcards):
    relpath = scene_labels_relpath(RUNS[wildcards.run])
    return [] if relpath is None else LAYOUT.runs_dir / relpath


def run_extra_args(wildcards):
    """--masks / --scenes of the methods that load actor masks or scene labels with each clip."""
    run = RUNS[wildcards.run]
    args = []
    if run_mask_source(run):
        args.append(f"--masks {LAYOUT.masks_dir(run_mask_source(run))}")
    if scene_labels_relpath(run):
        args.append(f"--scenes {LAYOUT.runs_dir / scene_labels_relpath(run)}")
    return " ".join(args)


def scene_factor_files(wildcards):
    """Planted scene labels read the synthetic generator's factors table."""
    if SCENE_JOBS[wildcards.scene_key]["source"] == "planted":
        return LAYOUT.synthetic_factors
    return []


def scene_job_args(wildcards):
    job = SCENE_JOBS[wildcards.scene_key]
    if job["source"] == "planted":
        return f"--source planted --factors {LAYOUT.synthetic_factors}"
    device = "cuda" if config["training"]["device"] == "cuda" else "cpu"
    return (
        f"--source places365 --weights {shlex.quote(job['weights'])} --arch {job['arch']} "
        f"--device {device}"
    )


# Evaluation (evaluate.smk)


def table_output(name):
    """One file under tables/: the csv tables and the plots go into the HTML report with their
    caption, pipeline/report/<stem>.rst."""
    path = LAYOUT.tables_dir / name
    if not name.endswith((".csv", ".png")):
        return path
    subcategory = "Plots" if name.endswith(".png") else "Tables"
    caption = f"../report/{Path(name).stem}.rst"
    return report(path, caption=caption, category="Results", subcategory=subcategory)


# prediction jobs (PRED_SETS and CLIP_SETS are defined in train.smk, before these are called)


def prediction_files(run, seed):
    """Every prediction file of one run x seed: IID first, then the benchmark sets."""
    return [LAYOUT.prediction_file(run, seed, ItemSet(IID))] + [
        LAYOUT.prediction_file(run, seed, s) for s in PRED_SETS if s.protocol != IID
    ]


def prediction_dirs(seeds):
    """The --out folders of a run's seeds (a params function for the run's wildcard)."""
    return lambda wildcards: " ".join(
        os.path.dirname(LAYOUT.prediction_file(wildcards.run, s, ItemSet(IID)))
        for s in seeds
    )


def clips_argument(wildcards, input):
    return f"--clips {os.path.dirname(input.clips[0])}" if input.clips else ""
