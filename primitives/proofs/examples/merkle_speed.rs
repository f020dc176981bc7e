//! Chunk roots per second on one core: the AVX-512 eight-way code
//! (`x8.rs`, used by `chunk_root` where the CPU has avx512f) against
//! `blake2b_simd`'s `hash_many` (AVX2, four at once), on the same 1 MiB
//! chunks, best of five runs of 256 MiB each; prints both and the ratio.
//! Issue 24 keeps the hand-written code only if it wins clearly.
//!
//! `cargo run --locked --release --workspace --example merkle_speed`

use std::time::Instant;

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let chunk: Vec<u8> = (0..masp_proofs::CHUNK_SIZE)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes()[7])
        .collect();
    assert_eq!(
        masp_proofs::chunk_root(&chunk),
        masp_proofs::chunk_root_portable(&chunk),
        "both give the same root"
    );
    let chunks = mib * (1 << 20) / masp_proofs::CHUNK_SIZE;
    let best = |f: fn(&[u8]) -> masp_proofs::Hash| {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let mut acc = 0u8;
            for _ in 0..chunks {
                acc ^= f(std::hint::black_box(&chunk))[0];
            }
            std::hint::black_box(acc);
            best = best.min(t.elapsed().as_secs_f64());
        }
        mib as f64 / best
    };
    let x8 = best(masp_proofs::chunk_root);
    let many = best(masp_proofs::chunk_root_portable);
    let avx512 = std::is_x86_feature_detected!("avx512f");
    println!("chunk roots, one core, {mib} MiB of 1 MiB chunks, best of 5:");
    println!(
        "  chunk_root ({}): {x8:.0} MiB/s",
        if avx512 {
            "AVX-512 x8.rs"
        } else {
            "no avx512f: hash_many"
        }
    );
    println!("  blake2b_simd hash_many:       {many:.0} MiB/s");
    println!("  x8 / hash_many: x{:.2}", x8 / many);
}
