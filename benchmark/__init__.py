"""Building refined background/foreground bias benchmarks (SCUBA, SCUFO, Confl-FG) for video models.

The package is the data side of the project: dataset adapters, video I/O, actor masks, review,
backgrounds, compositing, metrics and tables. It never imports `albar`.
"""

__version__ = "0.1.0"
