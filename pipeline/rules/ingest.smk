# Ingest: the dataset adapter writes the manifest, the boxes and (where the dataset has them) true masks.
from benchmark.datasets import ADAPTERS

ADAPTER = ADAPTERS[config["dataset"]["kind"]]  # what this dataset's adapter writes
HAS_TRUTH = ADAPTER.has_truth


rule ingest_dataset:
    output:
        manifest=LAYOUT.manifest,
        boxes=LAYOUT.boxes,
        skipped=LAYOUT.ingest_skipped,
        truth=(
            [LAYOUT.mask_shard("truth", shard) for shard in SHARDS]
            if HAS_TRUTH
            else []
        ),
        # the planted factors (scene family, appearance, context shape) of every synthetic video
        factors=LAYOUT.synthetic_factors if ADAPTER.has_factors else [],
    log:
        f"{LOGS}/ingest_dataset.log",
    conda:
        "../../envs/data.yaml"
    threads: config["threads"]["default"]
    params:
        cfg=config_json("results", "seed", "n_shards", "on_error", "dataset"),
    shell:
        "python -m benchmark.ingest --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


ALL_TARGETS += rules.ingest_dataset.output
