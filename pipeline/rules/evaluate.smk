# Evaluation: every run × seed's prediction files scored against the built benchmark, then the
# results tables (csv / md / tex) and plots under tables/, wrapped for `snakemake --report`.
from benchmark.layout import config_item_sets, config_run_seeds, table_files

HAS_PAPER_COMPARISON = bool(config["evaluation"]["paper_comparison"])
SCORED_SETS = config_item_sets(config, iid=True)
SCORED_SEEDS = [
    (run, seed) for run, seeds in config_run_seeds(config).items() for seed in seeds
]
# The rule's outputs are the files benchmark.tables writes (benchmark.layout.table_files).
TABLE_OUTPUTS = {
    name.replace(".", "_"): table_output(name)
    for name in table_files(HAS_PAPER_COMPARISON)
}


rule summarise_results:
    input:
        manifest=LAYOUT.manifest,
        item_tables=[LAYOUT.items_csv(s) for s in SCORED_SETS if s.protocol != "iid"],
        qc=[LAYOUT.mask_qc(variant) for variant in config["benchmark"]["variants"]],
        predictions=[
            LAYOUT.prediction_file(run, seed, s)
            for run, seed in SCORED_SEEDS
            for s in SCORED_SETS
        ],
        training=[LAYOUT.training_record(run, seed) for run, seed in SCORED_SEEDS],
    output:
        **TABLE_OUTPUTS,
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


if config["train_and_score"]:
    ALL_TARGETS += rules.summarise_results.output
