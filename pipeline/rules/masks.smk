# Masks: rectangles from the boxes, box-grounded trackers per shard, and QC of every mask source.
# Logic lives in benchmark.tracking (python -m benchmark.tracking --help); see docs/contracts.md "Masks".
from benchmark.masks import BOX_SOURCES
from benchmark.tracking import TRACKERS as TRACKER_REGISTRY

BOX_MASK_SOURCES = config["masks"]["sources"]
TRACKERS = config["tracking"]["trackers"]
QC_SOURCES = (["truth"] if HAS_TRUTH else []) + BOX_MASK_SOURCES + TRACKERS
# the wildcards take exactly the names of the registries (rectangles, trackers)
TRACKER_NAMES = one_of(TRACKER_REGISTRY)
QC_SOURCE_NAMES = one_of(["truth", *BOX_SOURCES, *TRACKER_REGISTRY])


rule build_box_masks:
    input:
        manifest=LAYOUT.manifest,
        boxes=LAYOUT.boxes,
    output:
        index=LAYOUT.mask_shard("{box_source}", "{shard}"),
        skipped=LAYOUT.mask_shard_skipped("{box_source}", "{shard}"),
    log:
        f"{LOGS}/build_box_masks/{{box_source}}/{{shard}}.log",
    wildcard_constraints:
        box_source=one_of(BOX_SOURCES),
    conda:
        "../../envs/data.yaml"
    threads: 1  # one process reading boxes and writing RLEs: claiming more idles the cores it holds
    params:
        cfg=masks_stage_json(tracking_keys=["splits"]),
    shell:
        "python -m benchmark.tracking boxes --source {wildcards.box_source} "
        "--shard {wildcards.shard} --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


rule track_actors:
    input:
        manifest=LAYOUT.manifest,
        boxes=LAYOUT.boxes,
        reviews=review_files,
    output:
        index=LAYOUT.mask_shard("{tracker}", "{shard}"),
        skipped=LAYOUT.mask_shard_skipped("{tracker}", "{shard}"),
    log:
        f"{LOGS}/track_actors/{{tracker}}/{{shard}}.log",
    benchmark:
        f"benchmarks/{DATASET}/track_actors/{{tracker}}/{{shard}}.tsv"
    wildcard_constraints:
        tracker=TRACKER_NAMES,
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
        manifest=LAYOUT.manifest,
        boxes=LAYOUT.boxes,
    output:
        qc=LAYOUT.mask_qc("{source}"),
        skipped=LAYOUT.mask_skipped("{source}"),
    log:
        f"{LOGS}/qc_masks/{{source}}.log",
    wildcard_constraints:
        source=QC_SOURCE_NAMES,
    conda:
        "../../envs/data.yaml"
    threads: 1  # one process per mask source: the sources' QC jobs run side by side
    params:
        cfg=masks_stage_json(masks_keys=["qc"]),
    shell:
        "python -m benchmark.tracking qc --source {wildcards.source} "
        "--config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


ALL_TARGETS += [LAYOUT.mask_qc(source) for source in QC_SOURCES]
