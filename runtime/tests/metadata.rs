//! The metadata our Rust chain clients (`masp-chain`, used by the `masp` CLI
//! and the `masp-host` daemon) are generated from is the runtime's own.
//!
//! `chain/metadata.scale` is committed so that subxt can generate typed calls,
//! storage queries and runtime API calls at compile time. When the runtime
//! changes, this test fails until the file is regenerated with
//! `MASP_UPDATE_METADATA=1 cargo test --release --workspace --test metadata`
//! (or `scripts/update-metadata`).

mod common;

use std::path::PathBuf;

use masp_runtime::Runtime;

/// The metadata version the clients are generated from.
const VERSION: u32 = 15;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../chain/metadata.scale")
}

#[test]
fn the_committed_client_metadata_is_the_runtimes() {
    // Metadata reads storage parameters' defaults: it needs externalities.
    let metadata = common::ext("development").execute_with(|| {
        Runtime::metadata_at_version(VERSION)
            .expect("the runtime serves metadata v15")
            .to_vec()
    });
    let path = committed_path();
    if std::env::var_os("MASP_UPDATE_METADATA").is_some() {
        let tmp = path.with_extension("scale.tmp");
        std::fs::write(&tmp, &metadata).expect("write metadata");
        std::fs::rename(&tmp, &path).expect("rename metadata");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == metadata,
        "{} is not the runtime's metadata v{VERSION} ({} vs {} bytes): regenerate it with \
         `MASP_UPDATE_METADATA=1 cargo test --release --workspace --test metadata`",
        path.display(),
        committed.len(),
        metadata.len()
    );
}
