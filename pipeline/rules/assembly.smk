# Assembly: backgrounds, then SCUBA / SCUFO / Confl-FG items per variant and shard, items.csv, exports.
BENCH = config["benchmark"]
VARIANTS = BENCH["variants"]
BG_SOURCES = [source["name"] for source in config["backgrounds"]["sources"]]
CONFLFG = BENCH["conflfg"]["enabled"]
ASSEMBLY_PROTOCOLS = ["scuba", "scufo"] + (["conflfg"] if CONFLFG else [])
ITEM_SETS = [
    (variant, protocol, source)
    for variant in VARIANTS
    for protocol in ASSEMBLY_PROTOCOLS
    for source in (
        [BENCH["conflfg"]["background"]] if protocol == "conflfg" else BG_SOURCES
    )
]
ITEMS_CSV = [
    f"{RESULTS}/bench/{variant}/{protocol}-{source}/items.csv"
    for variant, protocol, source in ITEM_SETS
]


wildcard_constraints:
    variant=r"[a-z0-9_]+",
    bg_source=r"[a-z0-9_]+",


ITEM_KEYS = [
    "versions",
    "span",
    "item_format",
    "crf",
    "mp4_pix_fmt",
    "jpeg_quality",
    "jpeg_subsampling",
    "conflfg",
]


rule render_backgrounds:
    input:
        manifest=f"{RESULTS}/manifest.csv",
    output:
        table=f"{RESULTS}/backgrounds/{{bg_source}}/backgrounds.csv",
    log:
        f"{LOGS}/render_backgrounds/{{bg_source}}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        cfg=assembly_json(["versions", "conflfg"], ("backgrounds",)),
    shell:
        "python -m benchmark.backgrounds --source {wildcards.bg_source}"
        " --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


rule composite_scuba:
    input:
        manifest=f"{RESULTS}/manifest.csv",
        boxes=f"{RESULTS}/boxes.parquet",
        approved=f"{RESULTS}/review/approved.csv",
        masks=f"{RESULTS}/masks/{{variant}}/shards/{{shard}}.csv",
        backgrounds=expand(
            f"{RESULTS}/backgrounds/{{bg_source}}/backgrounds.csv",
            bg_source=BG_SOURCES,
        ),
    output:
        table=f"{RESULTS}/bench/{{variant}}/shards/scuba/{{shard}}.csv",
        skipped=f"{RESULTS}/bench/{{variant}}/shards/scuba/{{shard}}.skipped.csv",
    log:
        f"{LOGS}/composite_scuba/{{variant}}-{{shard}}.log",
    benchmark:
        f"benchmarks/{DATASET}/composite_scuba/{{variant}}-{{shard}}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: config["threads"]["composite"]
    params:
        cfg=assembly_json(ITEM_KEYS, ("n_shards", "on_error", "backgrounds")),
    shell:
        "python -m benchmark.composite scuba --variant {wildcards.variant}"
        " --shard {wildcards.shard} --config-json {params.cfg:q} --threads {threads}"
        " > {log} 2>&1"


rule composite_scufo:
    input:
        scuba=f"{RESULTS}/bench/{{variant}}/shards/scuba/{{shard}}.csv",
        masks=f"{RESULTS}/masks/{{variant}}/shards/{{shard}}.csv",
    output:
        table=f"{RESULTS}/bench/{{variant}}/shards/scufo/{{shard}}.csv",
    log:
        f"{LOGS}/composite_scufo/{{variant}}-{{shard}}.log",
    benchmark:
        f"benchmarks/{DATASET}/composite_scufo/{{variant}}-{{shard}}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: config["threads"]["composite"]
    params:
        cfg=assembly_json(["test_clip", "scufo"], ("n_shards", "on_error")),
    shell:
        "python -m benchmark.composite scufo --variant {wildcards.variant}"
        " --shard {wildcards.shard} --config-json {params.cfg:q} --threads {threads}"
        " > {log} 2>&1"


rule composite_conflfg:
    input:
        manifest=f"{RESULTS}/manifest.csv",
        boxes=f"{RESULTS}/boxes.parquet",
        approved=f"{RESULTS}/review/approved.csv",
        # The static actor comes from a video of any shard, usable in every variant (so all
        # variants pick the same partner): every variant's masks of every shard, through their
        # QC's skip list (qc_masks needs every shard). The same dependency as naming each shard's
        # index, with one input per variant instead of one per variant and shard, so the DAG
        # grows linearly with n_shards, not quadratically (perf/README_standin.md).
        masks=expand(
            f"{RESULTS}/masks/{{variant}}/skipped.csv", variant=BENCH["variants"]
        ),
        backgrounds=f"{RESULTS}/backgrounds/{BENCH['conflfg']['background']}/backgrounds.csv",
    output:
        table=f"{RESULTS}/bench/{{variant}}/shards/conflfg/{{shard}}.csv",
        skipped=f"{RESULTS}/bench/{{variant}}/shards/conflfg/{{shard}}.skipped.csv",
    log:
        f"{LOGS}/composite_conflfg/{{variant}}-{{shard}}.log",
    benchmark:
        f"benchmarks/{DATASET}/composite_conflfg/{{variant}}-{{shard}}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: config["threads"]["composite"]
    params:
        cfg=assembly_json(
            ITEM_KEYS + ["variants"], ("n_shards", "on_error", "backgrounds")
        ),
    shell:
        "python -m benchmark.composite conflfg --variant {wildcards.variant}"
        " --shard {wildcards.shard} --config-json {params.cfg:q} --threads {threads}"
        " > {log} 2>&1"


rule collect_benchmark_items:
    input:
        shards=expand(
            f"{RESULTS}/bench/{{variant}}/shards/{{protocol}}/{{shard}}.csv",
            variant=VARIANTS,
            protocol=ASSEMBLY_PROTOCOLS,
            shard=SHARDS,
        ),
    output:
        item_sets=ITEMS_CSV,
        skipped=f"{RESULTS}/bench/skipped.csv",
    log:
        f"{LOGS}/collect_benchmark_items.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        cfg=config_json(
            "results", "dataset", "seed", "n_shards", "backgrounds", "benchmark"
        ),
    shell:
        "python -m benchmark.composite collect --config-json {params.cfg:q} > {log} 2>&1"


rule export_mmaction2:
    input:
        item_sets=variant_items,
    output:
        lists=[
            f"{RESULTS}/exports/mmaction2/{{variant}}/{protocol}-{source}.txt"
            for protocol, source in sorted({(p, s) for _, p, s in ITEM_SETS})
        ],
    log:
        f"{LOGS}/export_mmaction2/{{variant}}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        cfg=config_json("results", "dataset", "seed", "backgrounds", "benchmark"),
    shell:
        "python -m benchmark.exports export --format mmaction2 --variant {wildcards.variant}"
        " --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


rule export_albar:
    input:
        item_sets=variant_items,
    output:
        index=f"{RESULTS}/exports/albar/{{variant}}/index.csv",
    log:
        f"{LOGS}/export_albar/{{variant}}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        cfg=config_json("results", "dataset", "seed", "backgrounds", "benchmark"),
    shell:
        "python -m benchmark.exports export --format albar --variant {wildcards.variant}"
        " --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


rule verify_albar_export:
    input:
        index=f"{RESULTS}/exports/albar/{{variant}}/index.csv",
    output:
        report=f"{RESULTS}/exports/albar/{{variant}}/verify.json",
    log:
        f"{LOGS}/verify_albar_export/{{variant}}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        cfg=config_json("results", "dataset", "seed", "backgrounds", "benchmark"),
    shell:
        "python -m benchmark.exports verify --format albar --variant {wildcards.variant}"
        " --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


ALL_TARGETS += ITEMS_CSV
if BENCH["exports"]["mmaction2"]:
    ALL_TARGETS += expand(rules.export_mmaction2.output.lists, variant=VARIANTS)
if BENCH["exports"]["albar"]:
    ALL_TARGETS += expand(
        f"{RESULTS}/exports/albar/{{variant}}/verify.json", variant=VARIANTS
    )
