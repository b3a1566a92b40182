"""Run the project's Snakemake workflow from Python (tests, perf scripts, notebooks).

A thin wrapper over the Snakemake 9 API: the project's Snakefile, a working directory, config
overrides, cores. Equivalent to `snakemake -s <root>/Snakefile -d <workdir> --cores N --config ...`.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SNAKEFILE = PROJECT_ROOT / "Snakefile"


def run_workflow(
    workdir: str | os.PathLike,
    config: dict | None = None,
    *,
    configfiles: list[str | os.PathLike] | None = None,
    targets: list[str] | None = None,
    cores: int = 2,
    dryrun: bool = False,
    forceall: bool = False,
    quiet: bool = True,
    hooks: bool = False,
) -> None:
    """Build `targets` (default: `rule all`) in `workdir`; raises on any failed job.

    `hooks=False` skips the Snakefile's onsuccess hook (the HTML report), which tests rarely need.
    """
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        ExecutionSettings,
        OutputSettings,
        ResourceSettings,
    )

    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    output = OutputSettings(
        quiet={Quietness.PROGRESS, Quietness.RULES} if quiet else None, printshellcmds=not quiet
    )
    with SnakemakeApi(output) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=cores),
            config_settings=ConfigSettings(
                config=dict(config or {}),
                configfiles=[Path(p).resolve() for p in configfiles or []],
            ),
            snakefile=SNAKEFILE,
            workdir=workdir,
        )
        dag = workflow.dag(DAGSettings(targets=set(targets or []), forceall=forceall))
        dag.execute_workflow(
            executor="local",
            pseudo_executor="dryrun" if dryrun else None,
            execution_settings=ExecutionSettings(no_hooks=not hooks),
        )
