"""Learning: video backbones, the ALBAR objective, baseline methods, training and prediction.

`albar` reads the benchmark through its documented files (manifest.csv, items.csv) and decodes
pixels with the public `benchmark.video` readers; it never imports the benchmark's internals.
"""
