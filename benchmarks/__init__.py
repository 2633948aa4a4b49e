"""The benchmarks behind docs/benchmarks.md, each run from the repository root as a module:

    python -m benchmarks.quality     # make bench-quality: 2-D sets beside DDPM and flow matching
    python -m benchmarks.tables      # make bench-tables: scikit-learn's tables beside GMM, KDE
    python -m benchmarks.sequence    # make bench-sequence: lorenz and a seasonal CSV
    python -m benchmarks.series      # make bench-series: real series beside Holt-Winters, ARIMA
    python -m benchmarks.speed       # make bench-speed: against the machine's matmul peak
    python -m benchmarks.scale       # make bench-scale: 1 vs 2 processes

`common` holds what they share (the docs' sections, the host line, the CLI as a subprocess,
kept results) and is the one module that imports alternators_cli; `peers` holds the DDPM
and flow-matching peers of `quality`. No module imports a benchmark.
"""
