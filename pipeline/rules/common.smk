# Config validation (schema defaults filled in), paths, shards and shared input functions.
import json
import re
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod

# The packages import from the project root even when they are not installed (e.g. on a cluster
# node with only the conda env of a rule).
PROJECT_ROOT = Path(workflow.main_snakefile).resolve().parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmark.config import validate_config
from benchmark.ids import shard_name
from benchmark.layout import ResultsLayout

validate_config(config, "config")

DATASET = config["dataset"]["name"]
RESULTS = f"{config['results']}/{DATASET}"
# Every result file's path comes from the layout registry (benchmark.layout), here and in packages.
LAYOUT = ResultsLayout(RESULTS)
LOGS = f"logs/{DATASET}"
SHARDS = [shard_name(k) for k in range(config["n_shards"])]
# Rules run `python -m <package>`: this interpreter's folder goes first on PATH, unless each rule
# brings its own conda env (which then provides `python`).
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    shell.prefix(f'export PATH="{Path(sys.executable).parent}:$PATH"; ')
# Every stage's rule file appends the files `rule all` must build.
ALL_TARGETS = []


wildcard_constraints:
    shard=r"shard-\d{3}",
    dataset=r"[A-Za-z0-9_.-]+",


def one_of(names):
    """A wildcard constraint matching exactly one of `names` (longest first, escaped)."""
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))


def config_json(*sections):
    """The named config sections as JSON, for a rule's `params` (and so its rerun trigger)."""
    return json.dumps({name: config[name] for name in sections}, sort_keys=True)


def build_report():
    """`snakemake --report` with this run's effective config (called after a successful run)."""
    import subprocess

    import yaml

    resolved = Path(RESULTS) / ".report-config.yaml"
    resolved.write_text(yaml.safe_dump(dict(config), sort_keys=True))
    report_file = Path(RESULTS) / config["report"]["path"]
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(Path(workflow.main_snakefile).resolve()),
        "--configfile",
        str(resolved),
        "--report",
        str(report_file),
        "--nolock",
        "--cores",
        "1",
    ]
    print(f"building the HTML report: {report_file}")
    subprocess.run(command, check=True)
