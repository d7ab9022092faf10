"""fwstart's benchmarks: python -m bench [--quick]. See bench/RESULTS.md."""
