# Masks: rectangles from the boxes, box-grounded trackers per shard, and QC of every mask source.
# Logic lives in benchmark.tracking (python -m benchmark.tracking --help); see docs/contracts.md "Masks".
BOX_MASK_SOURCES = config["masks"]["sources"]
TRACKERS = config["tracking"]["trackers"]
QC_SOURCES = (["truth"] if HAS_TRUTH else []) + BOX_MASK_SOURCES + TRACKERS
GPU_TRACKERS = ("sam", "sam2")


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
            tracking_keys=["splits", "force_rebuild"],
            review_keys=["decisions_dir"],
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
