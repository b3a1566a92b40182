# Review: the static gallery of every gated video's masks and the gate that turns reviewers'
# decisions into the video set of every benchmark variant. Retrack needs no rule here: the decisions
# and prompts are inputs of `track_actors` (masks.smk), so the next run re-tracks with the prompts
# (approved masks stay frozen) and the gallery shows the new masks; `python -m benchmark.review
# retrack` re-tracks exactly the videos marked retrack, for a quick look between workflow runs.
REVIEW = config["review"]
REVIEW_TRACKER = REVIEW["tracker"]
REVIEW_SOURCES = [REVIEW_TRACKER] + [
    source for source in REVIEW["gallery"]["compare"] if source != REVIEW_TRACKER
]
REVIEW_DECISIONS = f"{REVIEW['decisions_dir']}/{DATASET}/{REVIEW_TRACKER}.csv"
REVIEW_PROMPTS = f"{REVIEW['decisions_dir']}/{DATASET}/{REVIEW_TRACKER}.prompts.json"
# A video skipped by any stage leaves every variant: ingest's skips and those of every mask source
# a variant is built from (and of the reviewed tracker).
REVIEW_SKIP_FILES = [LAYOUT.ingest_skipped] + [
    LAYOUT.mask_skipped(source)
    for source in sorted(set(config["benchmark"]["variants"]) | {REVIEW_TRACKER})
]


rule build_review_gallery:
    input:
        manifest=LAYOUT.manifest,
        boxes=LAYOUT.boxes,
        qc=[LAYOUT.mask_qc(source) for source in REVIEW_SOURCES],
        decisions=review_decision_files,
    output:
        page=f"{RESULTS}/review/{REVIEW_TRACKER}/index.html",
        previews=report(
            f"{RESULTS}/review/{REVIEW_TRACKER}/sample_previews.jpg",
            caption="../report/review_previews.rst",
            category="Review",
        ),
        qc_plot=report(
            f"{RESULTS}/review/{REVIEW_TRACKER}/qc_distributions.png",
            caption="../report/review_qc.rst",
            category="Review",
        ),
    log:
        f"{LOGS}/build_review_gallery.log",
    benchmark:
        f"benchmarks/{DATASET}/build_review_gallery.tsv"
    conda:
        "../../envs/data.yaml"
    threads: config["threads"]["default"]
    params:
        cfg=config_json("results", "dataset", "review"),
    shell:
        "python -m benchmark.review build --config-json {params.cfg:q}"
        " --threads {threads} > {log} 2>&1"


rule gate_review:
    input:
        manifest=LAYOUT.manifest,
        qc=LAYOUT.mask_qc(REVIEW_TRACKER),
        skipped=REVIEW_SKIP_FILES,
        decisions=review_decision_files,
    output:
        approved=LAYOUT.review_approved,
        status=f"{RESULTS}/review/status.csv",
        summary=report(
            LAYOUT.review_summary,
            caption="../report/review_summary.rst",
            category="Review",
        ),
        summary_md=f"{RESULTS}/review/summary.md",
    log:
        f"{LOGS}/gate_review.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        cfg=config_json("results", "dataset", "review"),
    shell:
        "python -m benchmark.review gate --config-json {params.cfg:q}"
        " --skipped {input.skipped:q} --threads {threads} > {log} 2>&1"


ALL_TARGETS += [
    rules.build_review_gallery.output.page,
    rules.gate_review.output.approved,
]
