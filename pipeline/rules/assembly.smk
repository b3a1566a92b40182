# Assembly: backgrounds, then SCUBA / SCUFO / Confl-FG items per variant and shard, items.csv, exports.
# The item sets and every path come from the layout registry (benchmark.layout).
from benchmark.layout import (
    ItemSet,
    config_bg_sources,
    config_item_sets,
    config_protocols,
)

BENCH = config["benchmark"]
VARIANTS = BENCH["variants"]
BG_SOURCES = config_bg_sources(config)
ASSEMBLY_PROTOCOLS = config_protocols(config)
ITEM_SETS = config_item_sets(config)
ITEMS_CSV = [LAYOUT.items_csv(item_set) for item_set in ITEM_SETS]
# one variant's sets as (protocol, source): the export lists of every variant
VARIANT_SETS = sorted({(s.protocol, s.bg_source) for s in ITEM_SETS})
# Exports are one job per format and variant, each a pool of threads over its items: they share the
# cores, so that all of them run side by side (on 2 cores: one thread each).
EXPORT_JOBS = len(VARIANTS) * max(
    1, BENCH["exports"]["mmaction2"] + BENCH["exports"]["albar"]
)
EXPORT_THREADS = max(1, config["threads"]["default"] // EXPORT_JOBS)


wildcard_constraints:
    variant=r"[a-z0-9_]+",
    bg_source=r"[a-z0-9_]+",


ITEM_KEYS = [
    "versions",
    "span",
    "item_format",
    "crf",
    "mp4_pix_fmt",
    "mp4_preset",
    "jpeg_quality",
    "jpeg_subsampling",
    "conflfg",
]


rule render_backgrounds:
    input:
        manifest=LAYOUT.manifest,
    output:
        table=LAYOUT.backgrounds_table("{bg_source}"),
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
        manifest=LAYOUT.manifest,
        boxes=LAYOUT.boxes,
        approved=LAYOUT.review_approved,
        masks=LAYOUT.mask_shard("{variant}", "{shard}"),
        backgrounds=[LAYOUT.backgrounds_table(source) for source in BG_SOURCES],
    output:
        table=LAYOUT.bench_shard("{variant}", "scuba", "{shard}"),
        skipped=LAYOUT.bench_shard("{variant}", "scuba", "{shard}", skipped=True),
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
        scuba=LAYOUT.bench_shard("{variant}", "scuba", "{shard}"),
        masks=LAYOUT.mask_shard("{variant}", "{shard}"),
    output:
        table=LAYOUT.bench_shard("{variant}", "scufo", "{shard}"),
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
        manifest=LAYOUT.manifest,
        boxes=LAYOUT.boxes,
        approved=LAYOUT.review_approved,
        # The static actor comes from a video of any shard, usable in every variant (so all
        # variants pick the same partner): every variant's masks of every shard, through their
        # QC's skip list (qc_masks needs every shard). The same dependency as naming each shard's
        # index, with one input per variant instead of one per variant and shard, so the DAG
        # grows linearly with n_shards, not quadratically.
        masks=[LAYOUT.mask_skipped(variant) for variant in VARIANTS],
        backgrounds=LAYOUT.backgrounds_table(BENCH["conflfg"]["background"]),
    output:
        table=LAYOUT.bench_shard("{variant}", "conflfg", "{shard}"),
        skipped=LAYOUT.bench_shard("{variant}", "conflfg", "{shard}", skipped=True),
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
        shards=[
            LAYOUT.bench_shard(variant, protocol, shard)
            for variant in VARIANTS
            for protocol in ASSEMBLY_PROTOCOLS
            for shard in SHARDS
        ],
    output:
        item_sets=ITEMS_CSV,
        skipped=LAYOUT.bench_skipped,
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
            LAYOUT.mmaction2_list(ItemSet(protocol, "{variant}", source))
            for protocol, source in VARIANT_SETS
        ],
    log:
        f"{LOGS}/export_mmaction2/{{variant}}.log",
    conda:
        "../../envs/data.yaml"
    threads: EXPORT_THREADS
    params:
        cfg=config_json("results", "dataset", "seed", "backgrounds", "benchmark"),
    shell:
        "python -m benchmark.exports export --format mmaction2 --variant {wildcards.variant}"
        " --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


rule export_albar:
    input:
        item_sets=variant_items,
    output:
        index=LAYOUT.albar_export_index("{variant}"),
    log:
        f"{LOGS}/export_albar/{{variant}}.log",
    conda:
        "../../envs/data.yaml"
    threads: EXPORT_THREADS
    params:
        cfg=config_json("results", "dataset", "seed", "backgrounds", "benchmark"),
    shell:
        "python -m benchmark.exports export --format albar --variant {wildcards.variant}"
        " --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


rule verify_albar_export:
    input:
        index=LAYOUT.albar_export_index("{variant}"),
    output:
        report=LAYOUT.export_verify("albar", "{variant}"),
    log:
        f"{LOGS}/verify_albar_export/{{variant}}.log",
    conda:
        "../../envs/data.yaml"
    threads: EXPORT_THREADS
    params:
        cfg=config_json("results", "dataset", "seed", "backgrounds", "benchmark"),
    shell:
        "python -m benchmark.exports verify --format albar --variant {wildcards.variant}"
        " --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


ALL_TARGETS += ITEMS_CSV
if BENCH["exports"]["mmaction2"]:
    ALL_TARGETS += expand(rules.export_mmaction2.output.lists, variant=VARIANTS)
if BENCH["exports"]["albar"]:
    ALL_TARGETS += [LAYOUT.export_verify("albar", variant) for variant in VARIANTS]
