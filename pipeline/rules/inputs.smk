# Input functions and params builders of the stage rules, kept apart from the rule files (Snakemake's
# lint asks rule files not to mix rules and functions). They read the stage constants (RESULTS,
# RUNS, BENCH, ...) when called: a params builder while its stage's rules are parsed, after that
# stage's constants; an input function when the DAG is built, after every rule file.
import os

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


def tracker_gpus(wildcards):
    settings = config["tracking"][wildcards.tracker]
    return int(wildcards.tracker in GPU_TRACKERS and settings["device"] == "cuda")


def qc_shard_files(wildcards):
    shards = expand(
        f"{RESULTS}/masks/{wildcards.source}/shards/{{shard}}.csv", shard=SHARDS
    )
    if wildcards.source == "truth":
        return shards
    return shards + [path.replace(".csv", ".skipped.csv") for path in shards]


def qc_truth_files(wildcards):
    """QC of another source compares with the truth, where the dataset has it."""
    if not HAS_TRUTH or wildcards.source == "truth":
        return []
    return expand(f"{RESULTS}/masks/truth/shards/{{shard}}.csv", shard=SHARDS)


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
    return [
        f"{RESULTS}/bench/{variant}/{protocol}-{source}/items.csv"
        for variant, protocol, source in ITEM_SETS
        if variant == wildcards.variant
    ]


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


def run_bank(wildcards):
    run = RUNS[wildcards.run]
    if not run_uses_bank(run):
        return []
    return f"{RESULTS}/runs/{bank_relpath(config, run, int(wildcards.seed))}"


def run_gpus(wildcards):
    return 1 if RUN_TRAINING[wildcards.run]["device"] == "cuda" else 0
