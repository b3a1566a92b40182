"""Reviewer mask inspection: a static gallery to check every video's masks, and the decisions that gate the benchmark.

- `gallery`: builds `results/<dataset>/review/<tracker>/index.html` (previews, QC, keyboard review).
- `decisions`: the decisions CSV and retrack prompts JSON (read, validate, write, merge).
- `server`: `serve` mode, loopback only, writes exactly the two decisions files.
- `gate`: the approved video set every benchmark variant is built from, and its summary.
- `retrack`: re-runs the tracker on exactly the videos marked `retrack`, with their prompts.

CLI: `python -m benchmark.review {build,serve,merge,gate,retrack} --help`.
"""
