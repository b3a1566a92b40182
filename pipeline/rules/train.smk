# Training and prediction: StillMix frame banks, one training job and one prediction job per run x seed.
import re

from albar.runs import (
    bank_hash,
    bank_relpath,
    bank_settings,
    check_run_masks,
    check_run_scenes,
    effective_training,
    find_run,
    run_mask_source,
    run_uses_bank,
    scene_labels_relpath,
)

RUNS = {run["name"]: run for run in config["runs"]}
find_run(config, config["runs"][0]["name"])  # fails early on repeated run names
RUN_TRAINING = {name: effective_training(config, run) for name, run in RUNS.items()}
RUN_SEEDS = [(name, seed) for name in RUNS for seed in RUN_TRAINING[name]["seeds"]]
for (
    _run
) in RUNS.values():  # mask sources and scene labels a run needs: fail before the DAG
    check_run_masks(config, _run)
    check_run_scenes(config, _run)
# every scene-label table a run uses, by file name: the run's scene settings are the job's params
SCENE_JOBS = {
    scene_labels_relpath(run).stem: {
        "source": run["scene_source"],
        "weights": run["scene_weights"],
        "arch": run["scene_arch"],
    }
    for run in RUNS.values()
    if scene_labels_relpath(run)
}
# every bank a run uses, by hash: the settings are the bank job's params (and rerun trigger)
BANK_JOBS = {
    bank_hash(bank_settings(run, RUN_TRAINING[name]["crop_size"])): {
        "settings": bank_settings(run, RUN_TRAINING[name]["crop_size"]),
        "num_classes": RUN_TRAINING[name]["num_classes"],
    }
    for name, run in RUNS.items()
    if run_uses_bank(run)
}
# the prediction sets: IID plus every variant x protocol x background source (Confl-FG: one source)
PRED_SETS = [
    f"{variant}/{protocol}-{source['name']}"
    for variant in config["benchmark"]["variants"]
    for protocol in ("scuba", "scufo")
    for source in config["backgrounds"]["sources"]
]
if config["benchmark"]["conflfg"]["enabled"]:
    PRED_SETS += [
        f"{variant}/conflfg-{config['benchmark']['conflfg']['background']}"
        for variant in config["benchmark"]["variants"]
    ]


wildcard_constraints:
    run="|".join(re.escape(name) for name in RUNS),
    seed=r"\d+",
    bank_hash=r"[0-9a-f]{12}",


rule build_stillmix_bank:
    input:
        manifest=f"{RESULTS}/manifest.csv",
    output:
        bank=f"{RESULTS}/runs/_stillmix_bank/{{bank_hash}}/seed{{seed}}/bank.pt",
    log:
        f"{LOGS}/build_stillmix_bank/{{bank_hash}}-seed{{seed}}.log",
    benchmark:
        f"{LOGS}/build_stillmix_bank/{{bank_hash}}-seed{{seed}}.benchmark.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=bank_gpus(),
    params:
        job=lambda wildcards: json.dumps(BANK_JOBS[wildcards.bank_hash], sort_keys=True),
        device=config["training"]["device"],
        launch=gpu_launcher(bank_gpus()),
    shell:
        "{params.launch} -m albar.bank --bank-json {params.job:q} --seed {wildcards.seed} "
        "--manifest {input.manifest} --out {output.bank} --device {params.device} "
        "--threads {threads} > {log} 2>&1"


rule label_scenes:
    input:
        manifest=f"{RESULTS}/manifest.csv",
        factors=scene_factor_files,
    output:
        labels=f"{RESULTS}/runs/_scene_labels/{{scene_key}}.csv",
    log:
        f"{LOGS}/label_scenes/{{scene_key}}.log",
    wildcard_constraints:
        scene_key=r"planted|places365-[0-9a-f]{12}",
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]["train"]
    params:
        args=scene_job_args,
    shell:
        "python -m albar.scenes --manifest {input.manifest} --out {output.labels} {params.args} "
        "--threads {threads} > {log} 2>&1"


rule train_model:
    input:
        manifest=f"{RESULTS}/manifest.csv",
        bank=run_bank,
        masks=run_mask_shards,
        scenes=run_scene_labels,
    output:
        checkpoint=f"{RESULTS}/runs/{{run}}/seed{{seed}}/checkpoint.pt",
        metrics=f"{RESULTS}/runs/{{run}}/seed{{seed}}/metrics.json",
        train_log=f"{RESULTS}/runs/{{run}}/seed{{seed}}/train.log",
    log:
        f"{LOGS}/train_model/{{run}}-seed{{seed}}.log",
    benchmark:
        f"{LOGS}/train_model/{{run}}-seed{{seed}}.benchmark.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=train_gpus,
    params:
        cfg=run_config_json,
        bank=lambda wildcards, input: f"--bank {input.bank}" if input.bank else "",
        extras=run_extra_args,
        out=lambda wildcards, output: os.path.dirname(output.checkpoint),
        launch=lambda wildcards: gpu_launcher(train_gpus(wildcards)),
        fail=injected_failure,
    shell:
        # --run-name, not --run: torchrun's own parser would take --run for its --run-path
        "{params.fail}{params.launch} -m albar.train --config-json {params.cfg:q} --run-name {wildcards.run} "
        "--seed {wildcards.seed} --manifest {input.manifest} --out {params.out} {params.bank} "
        "{params.extras} "
        "--threads {threads} > {log} 2>&1"


rule predict_items:
    input:
        checkpoint=f"{RESULTS}/runs/{{run}}/seed{{seed}}/checkpoint.pt",
        manifest=f"{RESULTS}/manifest.csv",
        item_tables=[f"{RESULTS}/bench/{name}/items.csv" for name in PRED_SETS],
    output:
        iid=f"{RESULTS}/runs/{{run}}/seed{{seed}}/pred/iid.csv",
        sets=[
            f"{RESULTS}/runs/{{run}}/seed{{seed}}/pred/{name}.csv"
            for name in PRED_SETS
        ],
    log:
        f"{LOGS}/predict_items/{{run}}-seed{{seed}}.log",
    benchmark:
        f"{LOGS}/predict_items/{{run}}-seed{{seed}}.benchmark.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]["predict"]
    resources:
        gpu=run_gpus,
    params:
        launch=lambda wildcards: gpu_launcher(run_gpus(wildcards)),
        cfg=json.dumps(
            {
                "benchmark": {"test_clip": config["benchmark"]["test_clip"]},
                "training": {"device": config["training"]["device"]},
            },
            sort_keys=True,
        ),
        out=lambda wildcards, output: os.path.dirname(output.iid),
        results=lambda wildcards, input: os.path.dirname(input.manifest),
    shell:
        "{params.launch} -m albar.predict --config-json {params.cfg:q} --checkpoint {input.checkpoint} "
        "--manifest {input.manifest} --results {params.results} --items {input.item_tables} "
        "--out {params.out} --threads {threads} > {log} 2>&1"


if config["train_and_score"]:
    ALL_TARGETS += [
        f"{RESULTS}/runs/{run}/seed{seed}/{name}"
        for run, seed in RUN_SEEDS
        for name in ["metrics.json", "pred/iid.csv"]
        + [f"pred/{s}.csv" for s in PRED_SETS]
    ]
