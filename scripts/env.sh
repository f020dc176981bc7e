# Shared build environment for every MASP script (sourced, not executed).
# Every cargo invocation of the project goes through these settings so that the
# node, the runtime's WASM and the tests share ONE build cache and ONE profile.

MASP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MASP_ROOT

# The build cache lives outside the clone so a fresh clone (CI) reuses it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/masp-target}"

# One profile for the node, the runtime and the tests.
export MASP_PROFILE=release
export MASP_BIN_DIR="$CARGO_TARGET_DIR/$MASP_PROFILE"

# The WASM runtime: if rustup could install the wasm targets, the builder uses
# the default toolchain; otherwise setup links Debian's toolchain as `debweb`
# (see scripts/setup) and we hand it to substrate-wasm-builder.
if [ -f "$CARGO_TARGET_DIR/.masp-wasm-toolchain" ]; then
  WASM_BUILD_TOOLCHAIN="$(cat "$CARGO_TARGET_DIR/.masp-wasm-toolchain")"
  if [ -n "$WASM_BUILD_TOOLCHAIN" ]; then
    export WASM_BUILD_TOOLCHAIN
    # Host functions are imported by the executor; Debian's lld needs to be told
    # that undefined symbols become imports.
    export WASM_BUILD_RUSTFLAGS="-C link-arg=--allow-undefined"
  fi
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"

# Print a step header.
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# The WASM builder looks for Cargo.lock next to the target dir; ours is outside
# the clone, so point it at the workspace (keeps the WASM on the locked versions).
export WASM_BUILD_WORKSPACE_HINT="$MASP_ROOT"

# frame-benchmarking-cli (inside polkadot-omni-node-lib) embeds a test runtime
# for `masp-node benchmark storage`, compiled to WASM on every cold build. We
# generate weights with masp-bencher (scripts/benchmark) and never run that
# subcommand, so its WASM is not built: the subcommand then says it has no
# runtime. Unset this to build it.
export SKIP_FRAME_STORAGE_ACCESS_TEST_RUNTIME_WASM_BUILD="${SKIP_FRAME_STORAGE_ACCESS_TEST_RUNTIME_WASM_BUILD-1}"
