# Release: the bundle a third party downloads (benchmark.release; docs/publish.md), then the same
# verification they run. Off by default (config `release.enabled`).
from benchmark.release.bundle import ReleaseSettings
from benchmark.release.files import CHECKSUMS

RELEASE = ReleaseSettings.from_config(config)
RELEASE_DIR = LAYOUT.release_dir(RELEASE.name)
RELEASE_SETS = [s for s in ITEM_SETS if s.variant in RELEASE.variants]


rule build_release:
    input:
        manifest=LAYOUT.manifest,
        item_sets=[LAYOUT.items_csv(s) for s in RELEASE_SETS],
        qc=[LAYOUT.mask_qc(variant) for variant in RELEASE.variants],
        review=LAYOUT.review_summary,
        backgrounds=[LAYOUT.backgrounds_table(source) for source in BG_SOURCES],
        decisions=review_decision_files,
    output:
        # The checksum list stands for the whole folder (a directory() output would get
        # Snakemake's .snakemake_timestamp, a file the bundle does not list).
        checksums=RELEASE_DIR / CHECKSUMS,
        archive=[LAYOUT.release_archive(RELEASE.name)] if RELEASE.archive else [],
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
        checksums=RELEASE_DIR / CHECKSUMS,
    output:
        report=LAYOUT.release_verify(RELEASE.name),
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
