# Training and prediction: StillMix frame banks, a training job per run (all its seeds) or per run x seed,
# a prediction job per run x seed; the prediction sets' test clips decoded once for all of them.
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
    seed_job_groups,
)
from benchmark.layout import IID, ItemSet, config_item_sets

RUNS = {run["name"]: run for run in config["runs"]}
find_run(config, config["runs"][0]["name"])  # fails early on repeated run names
RUN_TRAINING = {name: effective_training(config, run) for name, run in RUNS.items()}
RUN_SEEDS = [(name, seed) for name in RUNS for seed in RUN_TRAINING[name]["seeds"]]
# runs whose seeds one job trains in one process (cluster.seed_jobs: run), by their seed list;
# every other run gets a train_model job per seed
SEED_GROUPS = seed_job_groups(config, {n: t["seeds"] for n, t in RUN_TRAINING.items()})
ONE_SEED_RUNS = [n for n in RUNS if not any(n in runs for runs in SEED_GROUPS.values())]
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
# the prediction sets: IID, then every item set of the config (benchmark.layout)
PRED_SETS = config_item_sets(config, iid=True)
# Confl-FG last on the command line, as before the layout registry: the same command, so
# predictions made earlier are not rerun.
PREDICT_ITEM_TABLES = [
    LAYOUT.items_csv(s)
    for s in sorted(PRED_SETS[1:], key=lambda s: s.protocol == "conflfg")
]


wildcard_constraints:
    run="|".join(re.escape(name) for name in RUNS),
    seed=r"\d+",
    bank_hash=r"[0-9a-f]{12}",


rule build_stillmix_bank:
    input:
        manifest=LAYOUT.manifest,
    output:
        bank=LAYOUT.bank("{bank_hash}", "{seed}"),
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
        manifest=LAYOUT.manifest,
        factors=scene_factor_files,
    output:
        labels=LAYOUT.scene_labels("{scene_key}"),
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
        manifest=LAYOUT.manifest,
        bank=run_bank,
        masks=run_mask_shards,
        scenes=run_scene_labels,
    output:
        checkpoint=LAYOUT.checkpoint("{run}", "{seed}"),
        metrics=LAYOUT.training_record("{run}", "{seed}"),
        train_log=LAYOUT.train_log("{run}", "{seed}"),
    log:
        f"{LOGS}/train_model/{{run}}-seed{{seed}}.log",
    benchmark:
        f"{LOGS}/train_model/{{run}}-seed{{seed}}.benchmark.tsv"
    wildcard_constraints:
        run="|".join(re.escape(name) for name in ONE_SEED_RUNS) or "(?!)",
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


for _seeds, _runs in SEED_GROUPS.items():

    rule:
        name:
            "train_seeds_" + "_".join(map(str, _seeds))
        input:
            manifest=LAYOUT.manifest,
            banks=run_seed_bank_files,
            masks=run_mask_shards,
            scenes=run_scene_labels,
        output:
            checkpoints=[LAYOUT.checkpoint("{run}", s) for s in _seeds],
            metrics=[LAYOUT.training_record("{run}", s) for s in _seeds],
            train_logs=[LAYOUT.train_log("{run}", s) for s in _seeds],
        log:
            f"{LOGS}/train_seeds/{{run}}.log",
        benchmark:
            f"{LOGS}/train_seeds/{{run}}.benchmark.tsv"
        wildcard_constraints:
            run="|".join(re.escape(name) for name in _runs),
        conda:
            "../../envs/torch.yaml"
        threads: config["threads"]["train"]
        resources:
            gpu=train_gpus,
        params:
            cfg=run_seeds_config_json,
            seeds=" ".join(map(str, _seeds)),
            bank=run_seed_bank_argument,
            extras=run_extra_args,
            out=lambda wildcards: LAYOUT.runs_dir / wildcards.run,
            launch=lambda wildcards: gpu_launcher(train_gpus(wildcards)),
            fail=injected_failure,
        shell:
            "{params.fail}{params.launch} -m albar.train --config-json {params.cfg:q} "
            "--run-name {wildcards.run} --seed {params.seeds} --manifest {input.manifest} "
            "--out {params.out} {params.bank} {params.extras} --threads {threads} > {log} 2>&1"


# every prediction set's test clips, decoded once for all runs x seeds (albar.clip_cache), in the
# order of PREDICT_ITEM_TABLES after the IID set
CLIP_SETS = [PRED_SETS[0]] + sorted(
    PRED_SETS[1:], key=lambda s: s.protocol == "conflfg"
)
# config shared_test_clips false: every prediction job decodes its items itself (real-data sizes)
SHARED_CLIPS = (
    [LAYOUT.test_clips(s) for s in CLIP_SETS] if config["shared_test_clips"] else []
)


# One job for every set: on the default's small sets a job's start-up (Python, torch) costs more
# than decoding its set, and a changed item list reruns every prediction job anyway.
rule cache_test_clips:
    input:
        manifest=LAYOUT.manifest,
        item_tables=PREDICT_ITEM_TABLES,
    output:
        clips=[LAYOUT.test_clips(s) for s in CLIP_SETS],
        index=[LAYOUT.test_clip_index(s) for s in CLIP_SETS],
    log:
        f"{LOGS}/cache_test_clips.log",
    benchmark:
        f"{LOGS}/cache_test_clips.benchmark.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]["predict"]
    params:
        cfg=json.dumps(
            {"benchmark": {"test_clip": config["benchmark"]["test_clip"]}},
            sort_keys=True,
        ),
        sets=lambda wildcards, input: " ".join(
            f"--set {s.name} {source}"
            for s, source in zip(CLIP_SETS, [input.manifest, *input.item_tables])
        ),
        results=lambda wildcards, input: os.path.dirname(input.manifest),
        out=lambda wildcards, output: os.path.dirname(output.clips[0]),  # iid.npy
    shell:
        "python -m albar.clip_cache --config-json {params.cfg:q} {params.sets} "
        "--results {params.results} --out {params.out} --threads {threads} > {log} 2>&1"


# what every prediction job passes: the benchmark's test clip and the device
PREDICT_CONFIG_JSON = json.dumps(
    {
        "benchmark": {"test_clip": config["benchmark"]["test_clip"]},
        "training": {"device": config["training"]["device"]},
    },
    sort_keys=True,
)
PREDICT_CLIP_INDEX = (
    [LAYOUT.test_clip_index(s) for s in CLIP_SETS] if SHARED_CLIPS else []
)


rule predict_items:
    input:
        checkpoint=LAYOUT.checkpoint("{run}", "{seed}"),
        manifest=LAYOUT.manifest,
        item_tables=PREDICT_ITEM_TABLES,
        clips=SHARED_CLIPS,
        clip_index=PREDICT_CLIP_INDEX,
    output:
        iid=LAYOUT.prediction_file("{run}", "{seed}", ItemSet(IID)),
        sets=[
            LAYOUT.prediction_file("{run}", "{seed}", s)
            for s in PRED_SETS
            if s.protocol != IID
        ],
    log:
        f"{LOGS}/predict_items/{{run}}-seed{{seed}}.log",
    benchmark:
        f"{LOGS}/predict_items/{{run}}-seed{{seed}}.benchmark.tsv"
    wildcard_constraints:
        run="|".join(re.escape(name) for name in ONE_SEED_RUNS) or "(?!)",
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]["predict"]
    resources:
        gpu=run_gpus,
    params:
        launch=lambda wildcards: gpu_launcher(run_gpus(wildcards)),
        cfg=PREDICT_CONFIG_JSON,
        out=lambda wildcards, output: os.path.dirname(output.iid),
        results=lambda wildcards, input: os.path.dirname(input.manifest),
        clips=clips_argument,
    shell:
        "{params.launch} -m albar.predict --config-json {params.cfg:q} --checkpoint {input.checkpoint} "
        "--manifest {input.manifest} --results {params.results} --items {input.item_tables} "
        "{params.clips} --out {params.out} --threads {threads} > {log} 2>&1"


# A run trained in one job for all its seeds is scored in one job too: each test item is
# decoded and transformed once for the run's seeds (the same files as a job per seed).
for _seeds, _runs in SEED_GROUPS.items():

    rule:
        name:
            "predict_seeds_" + "_".join(map(str, _seeds))
        input:
            checkpoints=[LAYOUT.checkpoint("{run}", s) for s in _seeds],
            manifest=LAYOUT.manifest,
            item_tables=PREDICT_ITEM_TABLES,
            clips=SHARED_CLIPS,
            clip_index=PREDICT_CLIP_INDEX,
        output:
            [path for s in _seeds for path in prediction_files("{run}", s)],
        log:
            f"{LOGS}/predict_seeds/{{run}}.log",
        benchmark:
            f"{LOGS}/predict_seeds/{{run}}.benchmark.tsv"
        wildcard_constraints:
            run="|".join(re.escape(name) for name in _runs),
        conda:
            "../../envs/torch.yaml"
        threads: config["threads"]["predict"]
        resources:
            gpu=run_gpus,
        params:
            launch=lambda wildcards: gpu_launcher(run_gpus(wildcards)),
            cfg=PREDICT_CONFIG_JSON,
            out=prediction_dirs(_seeds),
            results=lambda wildcards, input: os.path.dirname(input.manifest),
            clips=clips_argument,
        shell:
            "{params.launch} -m albar.predict --config-json {params.cfg:q} "
            "--checkpoint {input.checkpoints} --manifest {input.manifest} "
            "--results {params.results} --items {input.item_tables} {params.clips} "
            "--out {params.out} --threads {threads} > {log} 2>&1"


if config["train_and_score"]:
    ALL_TARGETS += [LAYOUT.training_record(run, seed) for run, seed in RUN_SEEDS]
    ALL_TARGETS += [
        LAYOUT.prediction_file(run, seed, s)
        for run, seed in RUN_SEEDS
        for s in PRED_SETS
    ]
