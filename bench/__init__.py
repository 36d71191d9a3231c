"""xray-guard benchmarks: `python -m bench` (`make bench`) measures each figure side by side in one run, prints a
table and writes BENCHMARKS.md.

One module per figure (cold start, package size, AWS calls per path, event latency, sweep, peak memory); each
module's docstring says what it measures and how. `bench.invoke` is the child program of the fresh-process
measurements, so this package imports nothing heavy.
"""
