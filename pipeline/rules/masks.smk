# Masks: rectangles from the boxes, box-grounded trackers per shard, and QC of every mask source.
# Logic lives in benchmark.tracking (python -m benchmark.tracking --help); see CONTRACTS.md "Masks".
import os

BOX_MASK_SOURCES = config["masks"]["sources"]
TRACKERS = config["tracking"]["trackers"]
QC_SOURCES = (["truth"] if HAS_TRUTH else []) + BOX_MASK_SOURCES + TRACKERS
GPU_TRACKERS = ("sam", "sam2")


def masks_stage_json(tracking_keys=(), masks_keys=(), tracker=None):
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
    if tracker is not None:
        stage["tracking"][tracker] = config["tracking"][tracker]
    return json.dumps(stage, sort_keys=True)


def review_files(wildcards):
    """The tracker's review decisions and prompts, where they exist (approvals freeze masks)."""
    folder = f"{config['tracking']['reviews_dir']}/{DATASET}"
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


rule build_box_masks:
    input:
        manifest=f"{RESULTS}/manifest.csv",
        boxes=f"{RESULTS}/boxes.parquet",
    output:
        index=f"{RESULTS}/masks/{{box_source}}/shards/{{shard}}.csv",
        skipped=f"{RESULTS}/masks/{{box_source}}/shards/{{shard}}.skipped.csv",
    log:
        f"{LOGS}/build_box_masks/{{box_source}}/{{shard}}.log",
    wildcard_constraints:
        box_source="box_first|box_union",
    conda:
        "../../envs/data.yaml"
    threads: config["threads"]["default"]
    params:
        cfg=masks_stage_json(tracking_keys=["splits"]),
    shell:
        "python -m benchmark.tracking boxes --source {wildcards.box_source} "
        "--shard {wildcards.shard} --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


rule track_actors:
    input:
        manifest=f"{RESULTS}/manifest.csv",
        boxes=f"{RESULTS}/boxes.parquet",
        reviews=review_files,
    output:
        index=f"{RESULTS}/masks/{{tracker}}/shards/{{shard}}.csv",
        skipped=f"{RESULTS}/masks/{{tracker}}/shards/{{shard}}.skipped.csv",
    log:
        f"{LOGS}/track_actors/{{tracker}}/{{shard}}.log",
    benchmark:
        f"benchmarks/{DATASET}/track_actors/{{tracker}}/{{shard}}.tsv"
    wildcard_constraints:
        tracker="grabcut|sam2|sam",
    conda:
        "../../envs/data.yaml"
    threads: config["threads"]["track"]
    resources:
        gpu=tracker_gpus,
    params:
        cfg=lambda wildcards: masks_stage_json(
            tracking_keys=["splits", "force_rebuild", "reviews_dir"],
            tracker=wildcards.tracker,
        ),
    shell:
        "python -m benchmark.tracking track --tracker {wildcards.tracker} "
        "--shard {wildcards.shard} --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


rule qc_masks:
    input:
        shards=qc_shard_files,
        truth=qc_truth_files,
        manifest=f"{RESULTS}/manifest.csv",
        boxes=f"{RESULTS}/boxes.parquet",
    output:
        qc=f"{RESULTS}/masks/{{source}}/qc.csv",
        skipped=f"{RESULTS}/masks/{{source}}/skipped.csv",
    log:
        f"{LOGS}/qc_masks/{{source}}.log",
    wildcard_constraints:
        source="truth|box_first|box_union|grabcut|sam2|sam",
    conda:
        "../../envs/data.yaml"
    threads: config["threads"]["default"]
    params:
        cfg=masks_stage_json(masks_keys=["qc"]),
    shell:
        "python -m benchmark.tracking qc --source {wildcards.source} "
        "--config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


ALL_TARGETS += expand(f"{RESULTS}/masks/{{source}}/qc.csv", source=QC_SOURCES)
