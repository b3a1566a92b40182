# Evaluation: every run × seed's prediction files scored against the built benchmark, then the
# results tables (csv / md / tex) and plots under tables/, wrapped for `snakemake --report`.
from pathlib import Path

from benchmark.metrics import (
    config_item_tables,
    config_prediction_files,
    config_training_records,
)
from benchmark.tables import table_outputs

TABLES = f"{RESULTS}/tables"
HAS_PAPER_COMPARISON = bool(config["evaluation"]["paper_comparison"])


rule summarise_results:
    input:
        manifest=f"{RESULTS}/manifest.csv",
        item_tables=config_item_tables(config, RESULTS),
        qc=expand(
            f"{RESULTS}/masks/{{variant}}/qc.csv",
            variant=config["benchmark"]["variants"],
        ),
        predictions=config_prediction_files(config, RESULTS),
        training=config_training_records(config, RESULTS),
    output:
        summary=report(
            f"{TABLES}/summary.csv",
            caption="../report/summary.rst",
            category="Results",
            subcategory="Tables",
        ),
        summary_md=f"{TABLES}/summary.md",
        summary_tex=f"{TABLES}/summary.tex",
        per_source=report(
            f"{TABLES}/per_source.csv",
            caption="../report/per_source.rst",
            category="Results",
            subcategory="Tables",
        ),
        per_source_md=f"{TABLES}/per_source.md",
        per_source_tex=f"{TABLES}/per_source.tex",
        leakage=report(
            f"{TABLES}/leakage.csv",
            caption="../report/leakage.rst",
            category="Results",
            subcategory="Tables",
        ),
        leakage_md=f"{TABLES}/leakage.md",
        leakage_tex=f"{TABLES}/leakage.tex",
        differences=report(
            f"{TABLES}/differences.csv",
            caption="../report/differences.rst",
            category="Results",
            subcategory="Tables",
        ),
        differences_md=f"{TABLES}/differences.md",
        differences_tex=f"{TABLES}/differences.tex",
        paper_comparison=(
            [
                report(
                    f"{TABLES}/paper_comparison.csv",
                    caption="../report/paper_comparison.rst",
                    category="Results",
                    subcategory="Tables",
                ),
                f"{TABLES}/paper_comparison.md",
                f"{TABLES}/paper_comparison.tex",
            ]
            if HAS_PAPER_COMPARISON
            else []
        ),
        scores=report(
            f"{TABLES}/scores_per_seed.csv",
            caption="../report/scores_per_seed.rst",
            category="Results",
            subcategory="Tables",
        ),
        scuba_vs_scufo=report(
            f"{TABLES}/scuba_vs_scufo.png",
            caption="../report/scuba_vs_scufo.rst",
            category="Results",
            subcategory="Plots",
        ),
        leakage_effect=report(
            f"{TABLES}/leakage_effect.png",
            caption="../report/leakage_effect.rst",
            category="Results",
            subcategory="Plots",
        ),
    log:
        f"{LOGS}/summarise_results.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: config["threads"]["default"]
    params:
        cfg=config_json(
            "results",
            "seed",
            "dataset",
            "runs",
            "training",
            "benchmark",
            "backgrounds",
            "evaluation",
        ),
    shell:
        "python -m benchmark.tables --config-json {params.cfg:q} --threads {threads} > {log} 2>&1"


# The rule's outputs and what benchmark.tables writes must name the same files.
if sorted(Path(f).name for f in rules.summarise_results.output) != sorted(
    table_outputs(HAS_PAPER_COMPARISON)
):
    raise ValueError(
        "evaluate.smk: summarise_results outputs differ from benchmark.tables"
    )

if config["train_and_score"]:
    ALL_TARGETS += rules.summarise_results.output
