//! Erasure coding throughput ([`masp_client::erasure`]): encodes 256 MiB of
//! incompressible bytes as K+M shards (default 4+2), one stripe of K
//! plaintext chunks (1 MiB less a tag) at a time, on one core and then on every core, and rebuilds it
//! with the worst loss (the first M data chunks of every stripe). Prints
//! GB/s of file data (parity not counted) per core. A measurement, not a
//! test: the target is at least 2 GB/s per core for encoding.
//!
//! Usage: cargo run --release -p masp-client --example erasure_bench [MIB] [K+M]

use masp_client::{
    crypto::PLAIN_CHUNK as CHUNK_SIZE,
    erasure::{parse_shards, Layout},
};
use std::time::Instant;

/// Pseudo-random bytes: incompressible, like ciphertext.
fn bytes(len: usize) -> Vec<u8> {
    masp_proofs::sample_bytes(len, 1)
}

/// Bytes per second as "x.xx GB/s (y.yy GiB/s)".
fn rate(bytes: usize, secs: f64) -> String {
    let b = bytes as f64 / secs;
    format!("{:.2} GB/s ({:.2} GiB/s)", b / 1e9, b / (1u64 << 30) as f64)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(256);
    let (k, m) = match parse_shards(&args.next().unwrap_or_else(|| "4+2".into())) {
        Ok(km) => km,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let data = bytes(mib << 20);
    let layout = Layout::new(k, m, data.len() as u64).expect("a valid layout");
    let stripe_of = |s: usize| s as u64;
    let stripes: Vec<Vec<&[u8]>> = data
        .chunks(k * CHUNK_SIZE)
        .map(|s| s.chunks(CHUNK_SIZE).collect())
        .collect();
    // Warm up: the coder's tables and working space.
    layout.encode_stripe(0, &stripes[0]).expect("encodes");

    // One core, fresh parity buffers per stripe (`encode_stripe`).
    let started = Instant::now();
    for (i, s) in stripes.iter().enumerate() {
        layout.encode_stripe(stripe_of(i), s).expect("encodes");
    }
    let fresh = started.elapsed().as_secs_f64();

    // One core, parity buffers reused (`encode_stripe_into`), as a pipeline
    // that hashes and sends them would.
    let mut parity = Vec::new();
    let started = Instant::now();
    for (i, s) in stripes.iter().enumerate() {
        layout
            .encode_stripe_into(stripe_of(i), s, &mut parity)
            .expect("encodes");
    }
    let one = started.elapsed().as_secs_f64();

    // Every core: the stripes dealt out to one thread per core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = stripes.len().div_ceil(cores);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (g, group) in stripes.chunks(per).enumerate() {
            scope.spawn(move || {
                let mut parity = Vec::new();
                for (i, s) in group.iter().enumerate() {
                    layout
                        .encode_stripe_into(stripe_of(g * per + i), s, &mut parity)
                        .expect("encodes");
                }
            });
        }
    });
    let all = started.elapsed().as_secs_f64();

    // The parity to rebuild from (not timed).
    let parity: Vec<Vec<Vec<u8>>> = stripes
        .iter()
        .enumerate()
        .map(|(i, s)| layout.encode_stripe(stripe_of(i), s).expect("encodes"))
        .collect();

    // Rebuilding, one core: the first M data chunks of every stripe lost
    // (the most decoding a read can need).
    let started = Instant::now();
    let mut rebuilt = 0usize;
    for (stripe, (s, p)) in stripes.iter().zip(&parity).enumerate() {
        let lost = m.min(s.len());
        let given: Vec<(usize, &[u8])> = (lost..s.len())
            .map(|j| (j, s[j]))
            .chain(
                p.iter()
                    .take(lost)
                    .enumerate()
                    .map(|(i, c)| (k + i, &c[..])),
            )
            .collect();
        let back = layout
            .reconstruct_stripe(stripe as u64, &given)
            .expect("decodes");
        assert!(back[..lost].iter().zip(s).all(|(b, s)| b == s));
        rebuilt += s.iter().map(|c| c.len()).sum::<usize>();
    }
    let decode = started.elapsed().as_secs_f64();

    let size = data.len();
    println!("{:.3}", size as f64 / one / 1e9);
    eprintln!(
        "masp erasure coding {k}+{m}, {mib} MiB in {} stripes of {k} chunks:",
        stripes.len()
    );
    eprintln!("  encode, one core:        {}", rate(size, one));
    eprintln!("  (fresh parity buffers:   {})", rate(size, fresh));
    eprintln!(
        "  encode, {cores} cores:         {} in all, {} per core",
        rate(size, all),
        rate(size, all * cores as f64)
    );
    eprintln!(
        "  rebuild {m} lost data chunks per stripe, one core: {}",
        rate(rebuilt, decode)
    );
}
