# Refined SCUBA / SCUFO / Confl-FG benchmarks and ALBAR, end to end.
# `snakemake --cores 2` runs the embedded planted-bias synthetic default; see README.md.
import os

from snakemake.utils import min_version

min_version("9.0")


report: "pipeline/report/workflow.rst"


configfile: os.path.join(workflow.basedir, "config", "default.yaml")


include: "pipeline/rules/common.smk"
include: "pipeline/rules/inputs.smk"
include: "pipeline/rules/ingest.smk"
include: "pipeline/rules/masks.smk"
include: "pipeline/rules/review.smk"
include: "pipeline/rules/assembly.smk"
include: "pipeline/rules/train.smk"
include: "pipeline/rules/evaluate.smk"
include: "pipeline/rules/release.smk"


rule all:
    default_target: True
    input:
        ALL_TARGETS,


onsuccess:
    if config["report"]["after_run"]:
        build_report()
