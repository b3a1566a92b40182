# Ingest: the dataset adapter writes the manifest, the boxes and (where the dataset has them) true masks.
HAS_TRUTH = config["dataset"]["kind"] in ("synthetic", "hmdb51", "ucf101_24_standin")


rule ingest_dataset:
    output:
        manifest=f"{RESULTS}/manifest.csv",
        boxes=f"{RESULTS}/boxes.parquet",
        skipped=f"{RESULTS}/ingest/skipped.csv",
        truth=(
            expand(f"{RESULTS}/masks/truth/shards/{{shard}}.csv", shard=SHARDS)
            if HAS_TRUTH
            else []
        ),
        # the planted factors (scene family, appearance, context shape) of every synthetic video
        factors=(
            f"{RESULTS}/synthetic_factors.csv"
            if config["dataset"]["kind"] == "synthetic"
            else []
        ),
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
