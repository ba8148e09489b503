"""LiveStudio benchmarks: `python -m bench [--quick] [encode|fanout|latency]`.

Each benchmark prints a table and writes JSON to bench/results/<name>.json. Timings are
never asserted anywhere: they depend on the machine. See docs/performance.md.
"""
