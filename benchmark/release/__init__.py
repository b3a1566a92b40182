"""Publish and reuse a benchmark: a self-contained, checksummed release bundle and its readers.

- `bundle`: `build_bundle` writes `<results>/<dataset>/release/<name>/` from a finished build (items,
  items.csv, masks, review, QC, background index, provenance, datasheet, `bundle.json`,
  `SHA256SUMS`) and optionally a deterministic `.tar.gz` of it; `files` holds what a bundle's files
  on disk need (hashes, the staged folder, `SHA256SUMS`, the archive), `provenance` its build date
  and versions.
- `verify`: `verify_bundle` is what a third party runs after downloading: checksums, pairs, counts,
  decoded frames and pixel hashes; every problem names its file.
- `albar.benchmark_clips.BenchmarkClips` (on the learning side, as it reuses the prediction code's
  clip reader) is the `torch.utils.data.Dataset` over a bundle or a `results/` folder.
- `importers`: the officially released ALBAR and StillMix layouts become items.csv-indexed folders
  that `python -m benchmark.scoring score` reads.

`python -m benchmark.release {build,verify,import-albar,import-stillmix}` is the command line.
"""

FORMAT_VERSION = 1
