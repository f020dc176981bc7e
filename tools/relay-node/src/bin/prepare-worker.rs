//! The PVF prepare worker of the relay node: compiles a parachain's
//! validation function for a validator, in its own process. The node checks
//! that the worker's version equals its own (`polkadot_cli::NODE_VERSION`).

polkadot_node_core_pvf_common::decl_worker_main!(
    "prepare-worker",
    polkadot_node_core_pvf_prepare_worker::worker_entrypoint,
    polkadot_cli::NODE_VERSION,
    "masp-relay-node",
);
