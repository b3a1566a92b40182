# Release: the bundle a third party downloads (benchmark.release; docs/publish.md), then the same
# verification they run. Off by default (config `release.enabled`).
from benchmark.release.bundle import ReleaseSettings

RELEASE = ReleaseSettings.from_config(config)
RELEASE_DIR = f"{RESULTS}/release/{RELEASE.name}"
RELEASE_SETS = [
    (variant, protocol, source)
    for variant, protocol, source in ITEM_SETS
    if variant in RELEASE.variants
]


rule build_release:
    input:
        manifest=f"{RESULTS}/manifest.csv",
        item_sets=[
            f"{RESULTS}/bench/{variant}/{protocol}-{source}/items.csv"
            for variant, protocol, source in RELEASE_SETS
        ],
        qc=expand(f"{RESULTS}/masks/{{variant}}/qc.csv", variant=RELEASE.variants),
        review=f"{RESULTS}/review/summary.csv",
        backgrounds=expand(
            f"{RESULTS}/backgrounds/{{bg_source}}/backgrounds.csv",
            bg_source=BG_SOURCES,
        ),
        decisions=review_decision_files,
    output:
        # The checksum list stands for the whole folder (a directory() output would get
        # Snakemake's .snakemake_timestamp, a file the bundle does not list).
        checksums=f"{RELEASE_DIR}/SHA256SUMS",
        archive=[f"{RELEASE_DIR}.tar.gz"] if RELEASE.archive else [],
    log:
        f"{LOGS}/build_release.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        # The whole resolved config: the bundle records it, so any change rebuilds the bundle.
        cfg=json.dumps(config, sort_keys=True),
    shell:
        "python -m benchmark.release build --config-json {params.cfg:q} > {log} 2>&1"


rule verify_release:
    input:
        checksums=f"{RELEASE_DIR}/SHA256SUMS",
    output:
        report=f"{RESULTS}/release/{RELEASE.name}.verify.json",
    log:
        f"{LOGS}/verify_release.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        bundle=lambda wildcards, input: os.path.dirname(input.checksums),
    shell:
        "python -m benchmark.release verify {params.bundle:q} --report {output.report:q}"
        " > {log} 2>&1"


if config["release"]["enabled"]:
    ALL_TARGETS += [
        rules.verify_release.output.report
    ] + rules.build_release.output.archive
