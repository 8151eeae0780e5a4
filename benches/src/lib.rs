//! Shared fixtures for Skein's benchmarks (`benches/benches/*.rs` and the
//! reactor-bound `harness = false` binaries).
