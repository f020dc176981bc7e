//! The PVF execute worker of the relay node: runs a parachain's validation
//! function for a validator, in its own process. The node checks that the
//! worker's version equals its own (`polkadot_cli::NODE_VERSION`).

polkadot_node_core_pvf_common::decl_worker_main!(
    "execute-worker",
    polkadot_node_core_pvf_execute_worker::worker_entrypoint,
    polkadot_cli::NODE_VERSION,
    "masp-relay-node",
);
