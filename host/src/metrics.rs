//! Prometheus metrics of the daemon, served at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    /// Bytes of chunks stored.
    pub bytes_stored: IntGauge,
    /// Contracts known.
    pub contracts: IntGauge,
    /// Bytes of chunks served, by reader: `sender` (the contract's Sender's
    /// download tickets) or `receiver` (Receivers' own tickets).
    pub bytes_served: IntCounterVec,
    /// Bytes of chunks received.
    pub bytes_received: IntCounter,
    /// Chunk downloads whose bytes were read into the daemon first (not all
    /// in the page cache, or on a connection hyper serves) instead of being
    /// sent from the page cache with sendfile.
    pub download_disk_reads: IntCounter,
    /// HTTP requests by route and status.
    pub requests: IntCounterVec,
    /// HTTP request latency by route.
    pub latency: HistogramVec,
    /// Proofs by result (`ok`, `failed`).
    pub proofs: IntCounterVec,
    /// Retrieval challenges by result: `answered` (on chain, in time),
    /// `failed` (could not be built or was refused).
    pub retrievals: IntCounterVec,
    /// Receivers' reads by how their access was decided: `cache` (a
    /// recent answer), `chain` (asked), `refused` (not allowed),
    /// `unavailable` (the chain could not be asked).
    pub receiver_checks: IntCounterVec,
    /// Chunks found corrupt by a scrub or a proof.
    pub corrupt_chunks: IntCounter,
    /// HTTP connections open.
    pub connections: IntGauge,
    /// Connections refused because their peer address held too many.
    pub connections_refused: IntCounter,
    /// Failed accepts (e.g. out of file descriptors), each followed by a
    /// pause.
    pub accept_errors: IntCounter,
    /// Bytes served against egress receipts (the host charges for them).
    pub egress_bytes_charged: IntCounter,
    /// Planck paid to this host by redeemed egress receipts.
    pub egress_redeemed_planck: IntCounter,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("masp_host".into()), None).expect("static prefix is valid");
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("static metric");
            registry.register(Box::new(g.clone())).expect("unique");
            g
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("static metric");
            registry.register(Box::new(c.clone())).expect("unique");
            c
        };
        let bytes_stored = gauge("bytes_stored", "Bytes of chunks stored");
        let contracts = gauge("contracts", "Contracts known to this host");
        let bytes_received = counter("bytes_received_total", "Bytes of chunks received");
        let download_disk_reads = counter(
            "download_disk_reads_total",
            "Chunk downloads read into the daemon first instead of sent from the page cache",
        );
        let corrupt_chunks = counter("corrupt_chunks_total", "Chunks found corrupt");
        let connections = gauge("connections", "HTTP connections open");
        let connections_refused = counter(
            "connections_refused_total",
            "Connections refused: their peer address held too many",
        );
        let accept_errors = counter(
            "accept_errors_total",
            "Failed accepts (e.g. out of file descriptors), each followed by a pause",
        );
        let egress_bytes_charged = counter(
            "egress_bytes_charged_total",
            "Bytes served against egress receipts",
        );
        let egress_redeemed_planck = counter(
            "egress_redeemed_planck_total",
            "Planck paid to this host by redeemed egress receipts",
        );
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["route", "status"],
        )
        .expect("static metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("unique");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_seconds", "HTTP request latency").buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
            ]),
            &["route"],
        )
        .expect("static metric");
        registry
            .register(Box::new(latency.clone()))
            .expect("unique");
        let proofs = IntCounterVec::new(
            Opts::new("proofs_total", "Storage proofs by result"),
            &["result"],
        )
        .expect("static metric");
        registry.register(Box::new(proofs.clone())).expect("unique");
        let retrievals = IntCounterVec::new(
            Opts::new(
                "retrievals_total",
                "Retrieval challenges by result (answered, failed)",
            ),
            &["result"],
        )
        .expect("static metric");
        registry
            .register(Box::new(retrievals.clone()))
            .expect("unique");
        for result in ["answered", "failed"] {
            retrievals.with_label_values(&[result]);
        }
        let bytes_served = IntCounterVec::new(
            Opts::new(
                "bytes_served_total",
                "Bytes of chunks served, by reader (sender, receiver)",
            ),
            &["reader"],
        )
        .expect("static metric");
        registry
            .register(Box::new(bytes_served.clone()))
            .expect("unique");
        // Both series exist from the start (at 0).
        for reader in ["sender", "receiver"] {
            bytes_served.with_label_values(&[reader]);
        }
        let receiver_checks = IntCounterVec::new(
            Opts::new(
                "receiver_checks_total",
                "Receivers' reads by how access was decided (cache, chain, refused, unavailable)",
            ),
            &["result"],
        )
        .expect("static metric");
        registry
            .register(Box::new(receiver_checks.clone()))
            .expect("unique");
        Self {
            registry,
            bytes_stored,
            contracts,
            bytes_served,
            bytes_received,
            download_disk_reads,
            requests,
            latency,
            proofs,
            retrievals,
            receiver_checks,
            corrupt_chunks,
            connections,
            connections_refused,
            accept_errors,
            egress_bytes_charged,
            egress_redeemed_planck,
        }
    }

    /// Counts `bytes` of chunks served to a Receiver (`receiver`) or to the
    /// contract's Sender.
    pub fn served(&self, receiver: bool, bytes: u64) {
        let reader = if receiver { "receiver" } else { "sender" };
        self.bytes_served.with_label_values(&[reader]).inc_by(bytes);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
