//! The AES-256-GCM stage of the client alone, on one core: seals 1 MiB
//! chunks (the real chunk size, through `FileCipher`) for a few seconds and
//! prints GiB/s. `scripts/bench-client` runs it beside `openssl speed` on
//! the same chunk size.
//!
//! Usage: cargo run --release --example cipher_speed [SECONDS]

use masp_client::crypto::{FileCipher, PLAIN_CHUNK};
use std::time::{Duration, Instant};

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let cipher = FileCipher::new(&[7; 32], [9; 16], u64::MAX / 2);
    let mut buf: Vec<u8> = Vec::with_capacity(PLAIN_CHUNK + 16);
    buf.extend((0..PLAIN_CHUNK).map(|i| (i * 131 % 251) as u8));
    let run = Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut chunks = 0u64;
    while started.elapsed() < run {
        // Seal in place again (the last ciphertext is the next plaintext):
        // the cipher alone, no copies.
        buf.truncate(PLAIN_CHUNK);
        cipher.seal(chunks, &mut buf);
        chunks += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let gib = (chunks * PLAIN_CHUNK as u64) as f64 / (1u64 << 30) as f64;
    println!("{:.3}", gib / elapsed);
    eprintln!(
        "masp AES-256-GCM (ring), one core: {:.2} GiB/s ({chunks} chunks of {PLAIN_CHUNK} bytes)",
        gib / elapsed
    );
}
