//! Benchmarks (frame-benchmarking v2): written after the tests.
