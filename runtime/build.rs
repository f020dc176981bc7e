//! Builds the runtime's WASM blob (`WASM_BINARY`) with substrate-wasm-builder.

#[cfg(all(feature = "std", feature = "metadata-hash"))]
fn main() {
    substrate_wasm_builder::WasmBuilder::init_with_defaults()
        .enable_metadata_hash(masp_symbol(), 12)
        .build();
}

#[cfg(all(feature = "std", feature = "metadata-hash"))]
fn masp_symbol() -> &'static str {
    "MASP"
}

#[cfg(all(feature = "std", not(feature = "metadata-hash")))]
fn main() {
    substrate_wasm_builder::WasmBuilder::build_using_defaults();
}

/// Compiling for WASM itself: nothing to build.
#[cfg(not(feature = "std"))]
fn main() {}
