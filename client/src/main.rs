//! `masp`: the MASP command line for Senders and Receivers.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use masp_client::{
    crypto,
    keys::{Identity, KeyFile},
    links, listings, ops, pipeline, relay, retrieval,
    shards::{Redundancy, ReplicaState},
    units,
};
use std::{
    fs::File,
    io::{BufRead, IsTerminal, Write},
    path::{Path, PathBuf},
    time::Instant,
};

/// MASP: rent encrypted storage from hosts, paying only for bytes x time
/// stored. Files are encrypted here; hosts see only ciphertext.
#[derive(Parser)]
#[command(name = "masp", version)]
struct Cli {
    /// Where the key file and local manifests live [default: $MASP_HOME,
    /// else ~/.masp].
    #[arg(long, global = true)]
    home: Option<PathBuf>,
    /// The chain node's RPC URL [default: $MASP_NODE, else
    /// ws://127.0.0.1:9944].
    #[arg(long, global = true)]
    node: Option<String>,
    /// No progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    /// Also trust the CA certificates (PEM) in this file for hosts'
    /// `https://` endpoints, besides the system's [default: $MASP_CA_FILE].
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
    /// The most a download pays a host per GiB it serves, in MASP; dearer
    /// hosts are not used [default: 5].
    #[arg(long, global = true)]
    max_egress_price: Option<String>,
    /// Reach hosts only through proxies, so no host sees this machine's
    /// address: `auto` (the chain's active proxies, best rated then
    /// cheapest first) or proxy accounts separated by commas, tried in
    /// order. Never falls back to a direct connection [default:
    /// $MASP_PROXY, else direct].
    #[arg(long, global = true, value_name = "auto|ACCOUNT[,ACCOUNT...]")]
    proxy: Option<String>,
    /// Proxies per connection with --proxy: 2 chains two, so neither knows
    /// both this machine's address and the host.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    hops: u8,
    /// The most paid a proxy per GiB it relays, in MASP; dearer proxies are
    /// not used [default: 1].
    #[arg(long, global = true)]
    max_relay_price: Option<String>,
    /// The local address connections to hosts and proxies leave from
    /// [default: $MASP_BIND, else the system's choice].
    #[arg(long, global = true)]
    bind: Option<std::net::IpAddr>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Your account and keys.
    #[command(subcommand)]
    Keys(Keys),
    /// Encrypts FILE the way `put` does and prints its Merkle root, without
    /// any network (writes the ciphertext to OUT if given).
    Seal {
        /// The file to encrypt.
        file: PathBuf,
        /// Where to write the ciphertext.
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Chunks (1 MiB each) sealed in parallel at a time.
        #[arg(long, default_value_t = 64)]
        batch: usize,
    },
    /// Stores FILE: cuts it into K+M shards (default 4+2: 1.5x the file,
    /// any 2 hosts may vanish), seals each under its own key, places them
    /// on chain (one contract and one host per shard), uploads every shard
    /// to its host and waits for their confirmations. Run it again to
    /// resume an interrupted upload.
    Put {
        /// The file.
        file: PathBuf,
        /// Layout, term, price and rating.
        #[command(flatten)]
        storing: Storing,
        /// Seconds to wait for matches, uploads and confirmations.
        #[arg(long, default_value_t = 300)]
        wait: u64,
        /// Stripes in flight (one chunk per host each).
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        /// The hosts to store on, one per stored shard in shard order,
        /// comma-separated account addresses (see `masp hosts`): each
        /// shard goes to its host's cheapest offer that takes it, instead
        /// of the market's cheapest hosts. All or nothing.
        #[arg(long, value_delimiter = ',', value_parser = parse_account)]
        hosts: Vec<masp_chain::AccountId32>,
    },
    /// Rebuilds the shards of file ID that were lost (contract gone) or
    /// whose host does not serve, from K others, on new hosts (none that
    /// holds or lost a shard of the file), for the rest of the file's term.
    /// Never needs the original file. Prints the bytes read and written.
    Repair {
        /// The file id (see `masp ls`).
        id: u64,
        /// Highest price accepted, MASP per GiB per epoch [default: what
        /// matching offers ask now].
        #[arg(long)]
        max_price: Option<String>,
        /// Lowest host rating accepted.
        #[arg(long, default_value_t = 0)]
        min_rating: u32,
        /// Seconds to wait for matches, uploads and confirmations.
        #[arg(long, default_value_t = 300)]
        wait: u64,
        /// Stripes in flight.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        /// Do not ask the hosts of live contracts whether they serve: only
        /// rebuild shards whose contract is gone.
        #[arg(long)]
        no_probe: bool,
    },
    /// Downloads file ID (see `masp ls`), or a listing you bought or opened
    /// (`--listing L`), checking every chunk, to OUT [default: its name, in
    /// the current directory].
    Get {
        /// The file id (yours).
        #[arg(required_unless_present = "listing", conflicts_with = "listing")]
        id: Option<u64>,
        /// A listing (see `masp listings`) instead of one of your files.
        #[arg(long)]
        listing: Option<u64>,
        /// Seconds to wait for the Sender's agent to deliver a bought key.
        #[arg(long, default_value_t = 60)]
        wait: u64,
        /// Where to write it.
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Chunks in flight.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
    },
    /// Lists your files: health (shards alive / stored, and how many are
    /// needed), contracts, paid so far, escrow left.
    Ls {
        /// One JSON array for scripts: id, name, size, k, m, alive, needed,
        /// stored, lost, contracts (contract, shard, host, state,
        /// last_epoch, paid, escrow).
        #[arg(long)]
        json: bool,
    },
    /// Lists file ID for Receivers: free (`--free`, the default), at a
    /// price (`--price 5`), or public (`--public`: the key goes on chain and
    /// anyone may read it). Keep `masp agent` running to hand keys to
    /// buyers.
    Share {
        /// The file id (see `masp ls`).
        id: u64,
        /// Free: any Receiver may open it (the key is sealed to each).
        #[arg(long, conflicts_with_all = ["price", "public"])]
        free: bool,
        /// The price in MASP (e.g. 5 or 0.25).
        #[arg(long)]
        price: Option<String>,
        /// Publish the file key on chain: free and readable by anyone.
        #[arg(long, conflicts_with = "to")]
        public: bool,
        /// Only this account may get it (a private grant).
        #[arg(long)]
        to: Option<String>,
        /// Stop selling after this long (e.g. 90m, 12h, 7d).
        #[arg(long)]
        expires: Option<String>,
        /// The most Receivers.
        #[arg(long)]
        max_buyers: Option<u32>,
        /// A short public description (at most 256 bytes).
        #[arg(long, default_value = "")]
        meta: String,
    },
    /// Closes listing L to new Receivers (those who have it keep it).
    Unshare {
        /// The listing id.
        listing: u64,
    },
    /// Lists what Senders share: id, Sender, price, sold, description.
    Listings {
        /// Only this Sender's.
        #[arg(long)]
        sender: Option<String>,
        /// Only yours.
        #[arg(long, conflicts_with = "sender")]
        mine: bool,
        /// Also closed ones.
        #[arg(long)]
        all: bool,
        /// Only those whose description contains this.
        #[arg(long)]
        search: Option<String>,
    },
    /// Buys listing L: its price is held until the Sender's key arrives
    /// (refunded if it does not in time).
    Buy {
        /// The listing id.
        listing: u64,
        /// The most you pay, in MASP [default: the listing's price].
        #[arg(long)]
        max_price: Option<String>,
    },
    /// Opens a free listing L (a purchase at no price).
    Open {
        /// The listing id.
        listing: u64,
    },
    /// Shows the chain that the key delivered for your purchase of L is
    /// wrong: refunds you and pays you the listing's deposit.
    Dispute {
        /// The listing id.
        listing: u64,
    },
    /// The Sender's service: delivers the file key to every buyer of your
    /// listings, as purchases arrive, and repairs your files whose shards
    /// are lost. Runs until stopped (systemd-friendly: logs to standard
    /// output/error, password from MASP_PASSWORD).
    Agent {
        /// Seconds between passes.
        #[arg(long, default_value_t = 6)]
        interval: u64,
        /// One pass, then exit.
        #[arg(long)]
        once: bool,
        /// Do not repair files that lost a shard (by default the agent
        /// rebuilds them on new hosts, as `masp repair` does).
        #[arg(long)]
        no_repair: bool,
    },
    /// Makes a host that will not serve you publish a piece of a file on
    /// chain within the chain's response period, or be slashed (you are
    /// paid). As the file's Sender, or as a Receiver with --listing.
    #[command(subcommand)]
    Challenge(Challenge),
    /// Your egress channels: what you hold for hosts that charge for the
    /// bytes they serve you.
    #[command(subcommand)]
    Egress(Egress),
    /// Prints temporary signed download links (one per chunk per replica)
    /// to file ID's ciphertext: for a Receiver, or for load tests.
    Link {
        /// The file id.
        id: u64,
        /// Seconds the links stay valid (at most 86400).
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Distinct links per chunk (each link works once).
        #[arg(long, default_value_t = 1)]
        copies: u32,
        /// The Receiver's address the links are issued to [default: you].
        /// Hosts serve such links only to requests that Receiver signs
        /// (`masp fetch`): a copied link is useless to anyone else.
        #[arg(long)]
        receiver: Option<String>,
    },
    /// Downloads the chunk behind a link a Sender issued to you (`masp
    /// link --receiver YOU`), signed as you. Writes the chunk's ciphertext.
    Fetch {
        /// The link.
        url: String,
        /// Where to write the chunk.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Removes file ID: cancels its contracts (unspent funds return).
    Rm {
        /// The file id.
        id: u64,
    },
    /// Registered hosts, best rated first: rating, cheapest price per GiB
    /// per epoch, capacity used, region, free deposit, endpoint.
    Hosts,
    /// The token sale (ICO): its status, your part, claiming your MASP.
    #[command(subcommand)]
    Sale(Sale),
    /// Insurance for your contracts: insurers' offers, buying cover, your
    /// covers. A claim needs no filing: the chain pays it when the market
    /// ends a covered contract as lost.
    #[command(subcommand)]
    Insurance(Insurance),
    /// What storing SIZE bytes (e.g. 100MiB) would cost now, each shard on
    /// its own host.
    Quote {
        /// Plaintext size, e.g. 32MiB.
        size: String,
        /// Layout, term, price and rating, as `masp put` takes them.
        #[command(flatten)]
        storing: Storing,
    },
}

/// How a file is to be stored: the flags `masp put` and `masp quote` share.
#[derive(clap::Args, Debug)]
struct Storing {
    /// K+M: K data shards, any K of which give the file back, and M
    /// parity shards, how many hosts may vanish [default: 4+2].
    #[arg(long, conflicts_with = "replicas")]
    shards: Option<String>,
    /// Instead of shards: N whole copies on N hosts, each sealed under
    /// its own key (the layout 1+(N-1)).
    #[arg(long)]
    replicas: Option<u32>,
    /// How long to store it, in epochs (1 epoch = 1 hour of blocks).
    #[arg(long)]
    duration: u32,
    /// Highest price accepted, MASP per GiB per epoch [default: what
    /// the cheapest matching offers ask now].
    #[arg(long)]
    max_price: Option<String>,
    /// Lowest host rating accepted (0..=1000000).
    #[arg(long, default_value_t = 0)]
    min_rating: u32,
}

impl Storing {
    /// The layout asked for (4+2 if none).
    fn redundancy(&self) -> Result<Redundancy> {
        Redundancy::from_args(self.shards.as_deref(), self.replicas)
    }

    /// The price limit in planck, if one was given.
    fn max_price(&self) -> Result<Option<u128>> {
        self.max_price.as_deref().map(units::parse_masp).transpose()
    }
}

#[derive(Subcommand)]
enum Sale {
    /// Phase, day and bonus, USD raised against the caps.
    Status,
    /// Your contributions and allocation.
    Me,
    /// Claims your allocation once the sale has succeeded.
    Claim,
}

#[derive(Subcommand)]
enum Insurance {
    /// Insurers' standing offers, cheapest premium first.
    Offers,
    /// Buys cover for CONTRACT (one of yours, see `masp ls --json`)
    /// from INSURER.
    Buy {
        /// The contract.
        contract: u64,
        /// The insurer's account.
        #[arg(long)]
        insurer: String,
        /// What a loss pays, in MASP.
        #[arg(long)]
        amount: String,
        /// The highest premium accepted per covered epoch, in percent of
        /// the cover (e.g. 0.5).
        #[arg(long, default_value = "1")]
        max_premium: String,
    },
    /// The covers of your contracts.
    Ls,
}

#[derive(Subcommand)]
enum Egress {
    /// Lists your payment channels with hosts (egress) and proxies
    /// (relay): payee, price, held, paid, closing.
    Ls,
    /// Closes your channels with HOST, a host or a proxy (every open one
    /// with --all): the payee
    /// has the chain's close period to redeem its last receipt, then
    /// `masp egress finish` returns the rest.
    Close {
        /// The host's address.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        host: Option<String>,
        /// Every open channel.
        #[arg(long)]
        all: bool,
    },
    /// Returns what is left in every closed channel whose close period is
    /// over.
    Finish,
}

#[derive(Subcommand)]
enum Challenge {
    /// Opens a challenge on CONTRACT (its id: `masp ls`, or the listing's
    /// contracts in `masp listings`) and waits for the outcome. Holds the
    /// chain's challenge deposit: returned in full if the host fails (and
    /// you are paid from its deposit), less a tenth if it answers.
    Open {
        /// The storage contract.
        contract: u64,
        /// The listing you read it through (as a Receiver).
        #[arg(long)]
        listing: Option<u64>,
        /// The 512-byte leaf the 4 KiB piece starts at [default: random].
        #[arg(long)]
        leaf: Option<u64>,
        /// Writes the answered ciphertext piece here.
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Returns once it is open (settle later with `masp challenge
        /// settle ID`).
        #[arg(long)]
        no_wait: bool,
    },
    /// Settles challenge ID once its deadline has passed unanswered: the
    /// host is slashed and the challenger paid. Anyone may.
    Settle {
        /// The challenge id.
        id: u64,
    },
    /// Shows challenge ID if it is still open.
    Status {
        /// The challenge id.
        id: u64,
    },
}

#[derive(Subcommand)]
enum Keys {
    /// Creates a new secret phrase and key file; prints the phrase once.
    New,
    /// Restores a key file from an existing phrase (read from standard input).
    Import,
    /// Prints the account address (no password needed).
    Show,
}

fn home(cli: &Cli) -> Result<PathBuf> {
    if let Some(h) = &cli.home {
        return Ok(h.clone());
    }
    if let Some(h) = std::env::var_os("MASP_HOME") {
        return Ok(h.into());
    }
    let base = std::env::var_os("HOME").context("set HOME or MASP_HOME (or pass --home)")?;
    Ok(Path::new(&base).join(".masp"))
}

fn key_path(cli: &Cli) -> Result<PathBuf> {
    Ok(home(cli)?.join("key.json"))
}

/// The key file's password: `MASP_PASSWORD`, or asked on the terminal
/// (twice for a new one).
fn password(confirm: bool) -> Result<zeroize::Zeroizing<String>> {
    if let Ok(p) = std::env::var("MASP_PASSWORD") {
        return Ok(p.into());
    }
    let p = rpassword::prompt_password("Password for the key file: ")?;
    if confirm {
        let again = rpassword::prompt_password("Repeat it: ")?;
        if again != p {
            bail!("the passwords differ; nothing was written");
        }
        if p.len() < 8 {
            bail!("use a password of at least 8 characters; nothing was written");
        }
    }
    Ok(p.into())
}

/// Opens the user's identity (asks for the password).
fn identity(cli: &Cli) -> Result<Identity> {
    let path = key_path(cli)?;
    let file = KeyFile::load(&path)?;
    Ok(file.open(&path, &password(false)?)?)
}

/// Prints how a challenge ended (and writes an answered piece to `out`).
fn print_outcome(id: u64, outcome: &retrieval::Outcome, out: Option<&Path>) -> Result<()> {
    match outcome {
        retrieval::Outcome::Answered { piece, to_host } => {
            println!(
                "Challenge {id} answered: the host published {} bytes, verified on chain; it earned {} of your deposit.",
                piece.len(),
                units::fmt_masp(*to_host)
            );
            if let Some(out) = out {
                masp_client::fsutil::write_atomic(out, piece, 0o644)
                    .with_context(|| format!("writing the piece to {}", out.display()))?;
                println!("The piece (ciphertext) is in {}.", out.display());
            }
        }
        retrieval::Outcome::Failed {
            slashed,
            to_challenger,
            to_sender,
        } => println!(
            "Challenge {id} failed: the host did not answer; {} of its deposit was slashed, {} paid to the challenger and {} to the file's Sender, and the challenge deposit returned.",
            units::fmt_masp(*slashed),
            units::fmt_masp(*to_challenger),
            units::fmt_masp(*to_sender)
        ),
        retrieval::Outcome::Dropped => println!(
            "Challenge {id} dropped: the contract ended before the deadline, or its host was already slashed for this outage; the deposit returned."
        ),
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Keys(Keys::New) => {
            let path = key_path(cli)?;
            if path.exists() {
                bail!(
                    "a key already exists at {}; move it away first",
                    path.display()
                );
            }
            let id = Identity::generate()?;
            let pw = password(true)?;
            KeyFile::seal(&id, &pw)?.create(&path)?;
            println!("Account: {}", id.address());
            println!("Key file: {}", path.display());
            println!();
            println!("Your secret phrase (shown once; write it down, keep it offline).");
            println!("It opens this account in polkadot.js apps and recovers every file:");
            println!();
            println!("  {}", id.phrase());
        }
        Command::Keys(Keys::Import) => {
            let path = key_path(cli)?;
            // Not echoed on a terminal; read as a line from a pipe.
            let line = zeroize::Zeroizing::new(if std::io::stdin().is_terminal() {
                rpassword::prompt_password("Secret phrase (not shown), then Enter: ")?
            } else {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                line
            });
            let id = Identity::from_phrase(line.trim())?;
            let pw = password(true)?;
            KeyFile::seal(&id, &pw)?.create(&path)?;
            println!("Account: {}", id.address());
            println!("Key file: {}", path.display());
        }
        Command::Keys(Keys::Show) => {
            let path = key_path(cli)?;
            println!("{}", KeyFile::load(&path)?.address);
        }
        Command::Put { .. }
        | Command::Get { .. }
        | Command::Repair { .. }
        | Command::Ls { .. }
        | Command::Share { .. }
        | Command::Unshare { .. }
        | Command::Listings { .. }
        | Command::Buy { .. }
        | Command::Open { .. }
        | Command::Dispute { .. }
        | Command::Challenge(_)
        | Command::Egress(_)
        | Command::Agent { .. }
        | Command::Link { .. }
        | Command::Fetch { .. }
        | Command::Rm { .. }
        | Command::Quote { .. }
        | Command::Hosts
        | Command::Sale(_)
        | Command::Insurance(_) => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(online(cli))?;
        }
        Command::Seal { file, out, batch } => {
            // A throwaway master key: `seal` measures and shows the format;
            // `put` uses the key of the user's phrase.
            let master: crypto::Key = rand::random();
            let file_id: crypto::FileId = rand::random();
            let input =
                File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
            let size = input.metadata()?.len();
            let mut writer = match out {
                Some(o) => {
                    let (f, tmp) = masp_client::fsutil::create_temp(o, 0o644)?;
                    // Chunks are written whole (1 MiB): no buffer, no copy.
                    Some((f, tmp, o.clone()))
                }
                None => None,
            };
            let started = Instant::now();
            let sealed = pipeline::seal(
                input,
                size,
                &master,
                file_id,
                *batch,
                |_, chunk| match &mut writer {
                    Some((w, _, _)) => w.write_all(chunk),
                    None => Ok(()),
                },
                |_| {},
            )?;
            let secs = started.elapsed().as_secs_f64();
            if let Some((f, tmp, o)) = writer {
                masp_client::fsutil::commit(f, &tmp, &o)?;
            }
            println!("size          {} bytes", sealed.size);
            println!("ciphertext    {} bytes", sealed.cipher_size);
            println!("chunks        {}", sealed.chunk_roots.len());
            println!("leaves        {}", sealed.leaf_count);
            println!("merkle root   0x{}", hex::encode(sealed.root));
            println!(
                "throughput    {:.1} MiB/s ({:.3} s)",
                size as f64 / (1 << 20) as f64 / secs.max(1e-9),
                secs
            );
        }
    }
    Ok(())
}

/// A file as `masp ls --json` writes it.
fn file_json(f: &ops::FileLine) -> serde_json::Value {
    serde_json::json!({
        "id": f.file,
        "name": f.name,
        "size": f.size,
        "k": f.km.map(|km| km.0),
        "m": f.km.map(|km| km.1),
        "legacy": f.legacy,
        "alive": f.alive,
        "stored": f.stored,
        "needed": f.needed,
        "lost": f.lost,
        "contracts": f.contracts.iter().map(|c| serde_json::json!({
            "contract": c.contract,
            "shard": c.shard,
            "host": c.host.to_string(),
            "state": c.state.as_str(),
            "last_epoch": c.last_epoch,
            "paid": c.paid.to_string(),
            "escrow": c.escrow.to_string(),
        })).collect::<Vec<_>>(),
    })
}

/// `--ca-file`, else `MASP_CA_FILE`.
fn ca_file(cli: &Cli) -> Option<PathBuf> {
    cli.ca_file.clone().or_else(|| {
        std::env::var_os("MASP_CA_FILE")
            .filter(|v| !v.is_empty())
            .map(Into::into)
    })
}

/// An account address given on the command line.
fn parse_account(a: &str) -> Result<masp_chain::AccountId32> {
    a.parse::<masp_chain::AccountId32>()
        .map_err(|e| anyhow::anyhow!("{a:?} is not an account address: {e}"))
}

fn node_url(cli: &Cli) -> String {
    cli.node
        .clone()
        .or_else(|| std::env::var("MASP_NODE").ok())
        .unwrap_or_else(|| "ws://127.0.0.1:9944".into())
}

async fn online(cli: &Cli) -> Result<()> {
    let url = node_url(cli);
    let chain = masp_chain::connect(&url).await?;
    // Read-only commands: no key needed.
    match &cli.command {
        Command::Hosts => {
            let list = masp_client::roles::hosts(&chain).await?;
            if list.is_empty() {
                println!("No hosts registered.");
            }
            for h in list {
                println!(
                    "{}  rating {:>5.1}%  {:>14}/GiB/epoch  used {} of {}  {}  deposit {}  {} contract(s)  {}",
                    h.account,
                    h.rating as f64 / 10_000.0,
                    h.price.map(units::fmt_masp).unwrap_or_else(|| "no offer".into()),
                    units::fmt_bytes(h.used),
                    units::fmt_bytes(h.capacity),
                    h.region,
                    units::fmt_masp(h.free_deposit),
                    h.contracts,
                    h.endpoint
                );
            }
            return Ok(());
        }
        Command::Sale(Sale::Status) => {
            for line in masp_client::roles::sale_status(&chain).await? {
                println!("{line}");
            }
            return Ok(());
        }
        Command::Insurance(Insurance::Offers) => {
            let list = masp_client::roles::insurance_offers(&chain).await?;
            if list.is_empty() {
                println!("No insurance offers.");
            }
            for o in list {
                println!(
                    "{}  premium {:.4}% per epoch  cover up to {}  hosts rated >= {:.1}%  free capital {}",
                    o.insurer,
                    o.premium_ppb as f64 / 1e7,
                    units::fmt_masp(o.max_cover),
                    o.min_rating as f64 / 10_000.0,
                    units::fmt_masp(o.free_capital)
                );
            }
            return Ok(());
        }
        _ => {}
    }
    if let Command::Quote { size, storing } = &cli.command {
        let size = units::parse_size(size)?;
        let (redundancy, duration) = (storing.redundancy()?, storing.duration);
        let q = ops::quote(
            &chain,
            size,
            redundancy,
            duration,
            storing.max_price()?,
            storing.min_rating,
        )
        .await?;
        let (lines, total, unmatched) = (q.lines, q.total, q.unmatched);
        println!(
            "{} for {duration} epochs as {redundancy}: {} shard(s) of at most {} each on as \
             many hosts, {} stored in all:",
            units::fmt_bytes(size),
            q.shards,
            units::fmt_bytes(q.shard_size),
            units::fmt_bytes(q.stored)
        );
        for (host, price, cost) in &lines {
            println!(
                "  {host}  {}/GiB/epoch  term {}",
                units::fmt_masp(*price),
                units::fmt_masp(*cost)
            );
        }
        println!("total at most {}", units::fmt_masp(total));
        if unmatched > 0 {
            println!(
                "{unmatched} shard(s) would find no host now: no other offer matches (try \
                 fewer shards, e.g. --shards 2+1, or --replicas N)"
            );
        }
        return Ok(());
    }
    let bind = match cli.bind {
        Some(b) => Some(b),
        None => match std::env::var("MASP_BIND") {
            Ok(v) if !v.trim().is_empty() => Some(
                v.trim()
                    .parse()
                    .map_err(|e| anyhow::anyhow!("MASP_BIND={v:?}: not an IP address: {e}"))?,
            ),
            _ => None,
        },
    };
    let mut ctx = ops::Ctx {
        chain,
        node_url: url,
        chain_type: Default::default(),
        net: masp_client::hostapi::HostNet::new(ca_file(cli).as_deref())?.with_bind(bind),
        id: identity(cli)?,
        home: home(cli)?,
        progress: !cli.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        max_egress_price: match &cli.max_egress_price {
            Some(p) => units::parse_masp(p).context("--max-egress-price")?,
            None => masp_client::egress::DEFAULT_MAX_EGRESS_PRICE,
        },
    };
    let proxy = cli.proxy.clone().or_else(|| {
        std::env::var("MASP_PROXY")
            .ok()
            .filter(|v| !v.trim().is_empty())
    });
    let Some(proxy) = proxy else {
        return dispatch(cli, &ctx).await;
    };
    let opts = relay::RelayOptions {
        choice: relay::ProxyChoice::parse(&proxy)?,
        hops: usize::from(cli.hops),
        max_price: match &cli.max_relay_price {
            Some(p) => units::parse_masp(p).context("--max-relay-price")?,
            None => relay::DEFAULT_MAX_RELAY_PRICE,
        },
        bytes: relay_bytes(&cli.command),
        bind,
    };
    let relays = relay::prepare(&ctx, &opts).await.context("--proxy")?;
    ctx.net = ctx.net.clone().with_relays(relays.clone());
    let receipts = relays.spawn_receipts();
    let result = dispatch(cli, &ctx).await;
    // The last receipts while the per-proxy senders still run (an entry
    // carrying an exit's last receipt keeps getting its own), then stop.
    relays.flush().await;
    receipts.abort();
    for p in relays.proxies() {
        if p.relayed() > 0 || p.failed() {
            let settled = match p.settled() {
                0 => String::new(),
                n => format!(", and {n} more it counted, paid"),
            };
            eprintln!(
                "proxy {} ({}): {} bytes relayed ({}){settled}{}",
                p.account,
                p.endpoint,
                p.relayed(),
                units::fmt_bytes(p.relayed()),
                if p.failed() { ", failed" } else { "" }
            );
        }
    }
    relays.report_failures(&ctx).await;
    result
}

/// Bytes each proxy's allowance should cover for `command`: three times a
/// file put (its shards' overhead, retries), else 1 GiB.
fn relay_bytes(command: &Command) -> u64 {
    const GIB: u64 = 1 << 30;
    match command {
        Command::Put { file, .. } => std::fs::metadata(file)
            .map(|m| m.len().saturating_mul(3).saturating_add(64 << 20))
            .unwrap_or(GIB),
        _ => GIB,
    }
}

async fn dispatch(cli: &Cli, ctx: &ops::Ctx) -> Result<()> {
    match &cli.command {
        Command::Put {
            file,
            storing,
            wait,
            parallel,
            hosts,
        } => {
            let opts = masp_client::shards::PutOptions {
                redundancy: storing.redundancy()?,
                duration: storing.duration,
                max_price: storing.max_price()?,
                min_rating: storing.min_rating,
                wait: std::time::Duration::from_secs(*wait),
                parallel: *parallel,
                hosts: hosts.clone(),
            };
            let started = Instant::now();
            let s = masp_client::shards::put(ctx, file, &opts).await?;
            let secs = started.elapsed().as_secs_f64();
            let layout = if s.k == 1 {
                format!("{} replicas", s.m + 1)
            } else {
                format!("{}+{} shards", s.k, s.m)
            };
            println!(
                "Stored {} ({}) as file {}{}: {layout}, {} on {} hosts ({:.2}x)",
                file.display(),
                units::fmt_bytes(s.size),
                s.file,
                if s.resumed { " (resumed)" } else { "" },
                units::fmt_bytes(s.stored),
                s.placed.len(),
                s.stored as f64 / s.size.max(1) as f64
            );
            eprintln!(
                "Uploaded {} in {:.2} s ({:.1} MiB/s, sealing included)",
                units::fmt_bytes(s.stored),
                s.upload_time.as_secs_f64(),
                s.stored as f64 / (1 << 20) as f64 / s.upload_time.as_secs_f64().max(1e-9)
            );
            let mut total = 0u128;
            for p in &s.placed {
                println!(
                    "  shard {}  contract {}  host {}  {}/GiB/epoch  term {}",
                    p.shard,
                    p.contract,
                    p.host,
                    units::fmt_masp(p.price),
                    units::fmt_masp(p.cost)
                );
                total = total.saturating_add(p.cost);
            }
            if !s.unplaced.is_empty() {
                println!(
                    "  shard(s) {:?} found no host: `masp repair {}` places them",
                    s.unplaced, s.file
                );
            }
            println!(
                "total cost at most {} (paid per proven epoch); {:.1} s",
                units::fmt_masp(total),
                secs
            );
            println!("get it back with: masp get {}", s.file);
        }
        Command::Repair {
            id,
            max_price,
            min_rating,
            wait,
            parallel,
            no_probe,
        } => {
            let opts = masp_client::shards::RepairOptions {
                max_price: max_price.as_deref().map(units::parse_masp).transpose()?,
                min_rating: *min_rating,
                wait: std::time::Duration::from_secs(*wait),
                parallel: *parallel,
                probe: !*no_probe,
            };
            let started = Instant::now();
            let r = masp_client::shards::repair(ctx, *id, &opts).await?;
            let secs = started.elapsed().as_secs_f64();
            if r.rebuilt.is_empty() && r.unplaced.is_empty() {
                println!(
                    "File {id} needs no repair: {}/{} shards alive (needs {}).",
                    r.alive, r.stored, r.needed
                );
            }
            for b in &r.rebuilt {
                println!(
                    "Rebuilt shard {} on host {} (contract {}{})",
                    b.shard,
                    b.host,
                    b.contract,
                    b.old
                        .map(|o| format!(", replacing contract {o}"))
                        .unwrap_or_default()
                );
            }
            for c in &r.cancelled {
                println!("Cancelled contract {c} (its host did not serve; unspent escrow returned)");
            }
            for h in &r.down {
                println!("Host {h} did not answer: no shard was placed on it");
            }
            if !r.unplaced.is_empty() {
                println!(
                    "Shard(s) {:?} found no host: run `masp repair {id}` again later",
                    r.unplaced
                );
            }
            println!(
                "Repair of file {id}: read {} ({} B), wrote {} ({} B) in {:.1} s; {}/{} shards \
                 alive (needs {})",
                units::fmt_bytes(r.bytes_read),
                r.bytes_read,
                units::fmt_bytes(r.bytes_written),
                r.bytes_written,
                secs,
                r.alive,
                r.stored,
                r.needed
            );
        }
        Command::Get {
            id,
            listing,
            wait,
            out,
            parallel,
        } => {
            let started = Instant::now();
            let (path, size) = match (id, listing) {
                (_, Some(l)) => {
                    listings::get(
                        ctx,
                        *l,
                        out.as_deref(),
                        *parallel,
                        std::time::Duration::from_secs(*wait),
                    )
                    .await?
                }
                (Some(id), None) => ops::get(ctx, *id, out.as_deref(), *parallel).await?,
                (None, None) => bail!("name a file id or --listing L"),
            };
            let secs = started.elapsed().as_secs_f64();
            println!(
                "Wrote {} ({}, verified) in {:.1} s",
                path.display(),
                units::fmt_bytes(size),
                secs
            );
        }
        Command::Ls { json } => {
            let files = ops::ls(ctx).await?;
            if *json {
                let list: Vec<serde_json::Value> = files.iter().map(file_json).collect();
                println!("{}", serde_json::Value::Array(list));
                return Ok(());
            }
            if files.is_empty() {
                println!("no files");
            }
            for f in files {
                let live = || f.contracts.iter().filter(|c| c.state.is_live());
                let paid: u128 = live().map(|c| c.paid).sum();
                let left: u128 = live().map(|c| c.escrow).sum();
                let (kind, what) = match f.km {
                    Some((1, m)) => (format!("{} replicas", m + 1), "replica"),
                    Some((k, m)) => (format!("{k}+{m} shards"), "shard"),
                    None => ("?".to_string(), "contract"),
                };
                let mut state = if live().next().is_none() {
                    "ended".to_string()
                } else {
                    match f.needed {
                        Some(n) => format!("{}/{} (needs {n})", f.alive, f.stored),
                        None => format!("{}/{} confirmed", f.alive, f.stored),
                    }
                };
                let completed = f
                    .contracts
                    .iter()
                    .filter(|c| c.state == ReplicaState::Completed)
                    .count();
                if completed > 0 {
                    state += &format!("; {completed} {what}(s) completed their term");
                }
                if !f.lost.is_empty() {
                    state += &format!(
                        "; {} {what}(s) LOST before the end of the term (its host failed its \
                         proofs or never confirmed the upload): repair with `masp repair {}`{}",
                        f.lost.len(),
                        f.file,
                        if f.legacy {
                            " (stored by an older masp: get it and put it again)"
                        } else {
                            ""
                        }
                    );
                }
                println!(
                    "{:>6}  {:<30}  {:>10}  {kind}  {}  paid {}  escrow {}",
                    f.file,
                    f.name.as_deref().unwrap_or("?"),
                    f.size.map(units::fmt_bytes).unwrap_or_else(|| "?".into()),
                    state,
                    units::fmt_masp(paid),
                    units::fmt_masp(left)
                );
            }
        }
        Command::Link {
            id,
            ttl,
            copies,
            receiver,
        } => {
            let receiver = receiver
                .as_deref()
                .map(|a| {
                    a.parse::<masp_chain::AccountId32>()
                        .map(|a| a.0)
                        .map_err(|e| anyhow::anyhow!("--receiver {a:?} is not an address: {e}"))
                })
                .transpose()?;
            let links = links::links(
                ctx,
                *id,
                std::time::Duration::from_secs(*ttl),
                *copies,
                receiver,
            )
            .await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for l in links {
                writeln!(out, "{l}")?;
            }
        }
        Command::Fetch { url, out } => {
            let chunk = links::fetch_link(ctx, url).await?;
            masp_client::fsutil::write_atomic(out, &chunk, 0o644)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("Wrote {} bytes of ciphertext to {}.", chunk.len(), out.display());
        }
        Command::Share {
            id,
            free: _,
            price,
            public,
            to,
            expires,
            max_buyers,
            meta,
        } => {
            let opts = listings::ShareOptions {
                price: price
                    .as_deref()
                    .map(units::parse_masp)
                    .transpose()?
                    .unwrap_or(0),
                public: *public,
                to: to.as_deref().map(parse_account).transpose()?,
                expires_in: expires.as_deref().map(listings::parse_expiry).transpose()?,
                max_buyers: *max_buyers,
                meta: meta.clone(),
            };
            let s = listings::share(ctx, *id, &opts).await?;
            let kind = if opts.public {
                "public (the key is on chain)".to_string()
            } else if opts.price == 0 {
                "free".to_string()
            } else {
                units::fmt_masp(opts.price)
            };
            println!(
                "Listed file {id} as listing {}: {kind}; contracts {:?}; manifest on {} host(s)",
                s.listing, s.contracts, s.hosts_with_manifest
            );
            if !opts.public {
                println!("Keep `masp agent` running: it hands the key to each Receiver.");
            }
            println!("Receivers: masp get --listing {}", s.listing);
        }
        Command::Unshare { listing } => {
            listings::unshare(ctx, *listing).await?;
            println!("Listing {listing} takes no new Receivers; those who have it keep it.");
        }
        Command::Listings {
            sender,
            mine,
            all,
            search,
        } => {
            let sender = match (sender, mine) {
                (Some(s), _) => Some(parse_account(s)?),
                (None, true) => Some(ctx.me()),
                (None, false) => None,
            };
            let lines = listings::listings(ctx, sender.as_ref(), !*all, search.as_deref()).await?;
            if lines.is_empty() {
                println!("no listings");
            }
            for l in lines {
                println!(
                    "{:>6}  {}  {:>12}  sold {:<4} {}{}  {}",
                    l.id,
                    l.listing.sender,
                    l.price(),
                    l.listing.sold,
                    if l.listing.closed { "closed " } else { "" },
                    match &l.listing.terms.to {
                        Some(to) => format!("for {to}"),
                        None => String::new(),
                    },
                    l.meta()
                );
            }
        }
        Command::Buy { listing, max_price } => {
            let max = match max_price {
                Some(p) => units::parse_masp(p)?,
                None => listings::listing(ctx, *listing).await?.terms.price,
            };
            let b = listings::buy(ctx, *listing, max).await?;
            println!(
                "Bought listing {listing} for {} (held until the Sender's key arrives{}).",
                units::fmt_masp(b.price),
                b.deadline
                    .map(|d| format!("; refunded if it is not on chain by block {d}"))
                    .unwrap_or_default()
            );
            println!("Download it with: masp get --listing {listing}");
        }
        Command::Open { listing } => {
            let b = listings::buy(ctx, *listing, 0).await?;
            println!(
                "Opened listing {listing}{}.",
                b.deadline
                    .map(|d| format!(" (the Sender's key is due by block {d})"))
                    .unwrap_or_default()
            );
            println!("Download it with: masp get --listing {listing}");
        }
        Command::Dispute { listing } => {
            let refunded = listings::dispute(ctx, *listing).await?;
            println!(
                "The wrong key was shown on chain: {} refunded, and the listing's deposit paid to you.",
                units::fmt_masp(refunded)
            );
        }
        Command::Challenge(Challenge::Open {
            contract,
            listing,
            leaf,
            out,
            no_wait,
        }) => {
            let o = retrieval::open(ctx, *contract, *listing, *leaf).await?;
            println!(
                "Challenge {} opened: host {} must publish leaves {}..{} of contract {contract} by block {}.",
                o.id,
                o.host,
                o.first_leaf,
                o.first_leaf + u64::from(o.leaves),
                o.deadline
            );
            if *no_wait {
                println!("Settle it after block {} with: masp challenge settle {}", o.deadline, o.id);
                return Ok(());
            }
            let outcome = retrieval::wait(ctx, &o, std::time::Duration::from_secs(3)).await?;
            print_outcome(o.id, &outcome, out.as_deref())?;
        }
        Command::Egress(Egress::Ls) => {
            let list = masp_client::egress::channels(ctx).await?;
            if list.is_empty() {
                println!("No egress or relay channels.");
            }
            for c in list {
                println!(
                    "channel {:>4}  {} {}  {}/GiB  held {}  paid {} for {}{}",
                    c.id,
                    match c.service {
                        masp_primitives::egress::Service::Egress => "host ",
                        masp_primitives::egress::Service::Relay => "proxy",
                    },
                    c.host,
                    units::fmt_masp(c.price),
                    units::fmt_masp(c.held),
                    units::fmt_masp(c.paid),
                    units::fmt_bytes(c.bytes_paid),
                    c.closes_at
                        .map(|b| format!("  closing: finish from block {b}"))
                        .unwrap_or_default()
                );
            }
        }
        Command::Egress(Egress::Close { host, all: _ }) => {
            let host = host
                .as_deref()
                .map(|a| {
                    a.parse::<masp_chain::AccountId32>()
                        .map_err(|e| anyhow::anyhow!("{a:?} is not an address: {e}"))
                })
                .transpose()?;
            let closed = masp_client::egress::close(ctx, host).await?;
            if closed.is_empty() {
                println!("No open egress channels.");
            }
            for (h, at) in closed {
                println!("Closing the channel with {h}: `masp egress finish` from block {at} returns the rest.");
            }
        }
        Command::Egress(Egress::Finish) => {
            let (done, waiting) = masp_client::egress::finish(ctx).await?;
            for (h, refunded) in &done {
                println!("Closed the channel with {h}: {} returned.", units::fmt_masp(*refunded));
            }
            for (h, at) in &waiting {
                println!("The channel with {h} can be finished from block {at}.");
            }
            if done.is_empty() && waiting.is_empty() {
                println!("No closing egress channels.");
            }
        }
        Command::Challenge(Challenge::Settle { id }) => {
            let outcome = retrieval::settle(ctx, *id).await?;
            print_outcome(*id, &outcome, None)?;
        }
        Command::Challenge(Challenge::Status { id }) => match retrieval::status(ctx, *id).await? {
            Some((contract, deadline, challenger)) => println!(
                "Challenge {id} on contract {contract} (opened by {challenger}) is open: the host must answer by block {deadline}."
            ),
            None => println!("Challenge {id} is not open (answered, settled, or never opened)."),
        },
        Command::Agent {
            interval,
            once,
            no_repair,
        } => {
            // Logs (one line each, to standard output: journald-friendly);
            // RUST_LOG filters them.
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .with_writer(std::io::stdout)
                .init();
            tracing::info!(
                "delivering keys for the listings of {}{}",
                ctx.me(),
                if *no_repair {
                    ""
                } else {
                    ", and repairing its files that lose a shard"
                }
            );
            let n = listings::agent(
                ctx,
                std::time::Duration::from_secs(*interval),
                *once,
                !*no_repair,
            )
            .await?;
            if *once {
                println!("masp agent: {n} key(s) delivered");
            }
        }
        Command::Rm { id } => {
            let released = ops::rm(ctx, *id).await?;
            println!(
                "Removed file {id}; {} of escrow returned",
                units::fmt_masp(released)
            );
        }
        Command::Sale(Sale::Me) => match masp_client::roles::sale_me(ctx).await? {
            Some(lines) => lines.iter().for_each(|l| println!("{l}")),
            None => println!("You have not contributed to the sale."),
        },
        Command::Sale(Sale::Claim) => {
            let amount = masp_client::roles::sale_claim(ctx).await?;
            println!("Claimed {}.", units::fmt_masp(amount));
        }
        Command::Insurance(Insurance::Buy {
            contract,
            insurer,
            amount,
            max_premium,
        }) => {
            let pct: f64 = max_premium
                .trim()
                .trim_end_matches('%')
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=100.0).contains(p))
                .ok_or_else(|| anyhow::anyhow!("--max-premium {max_premium:?}: a percentage, 0 to 100"))?;
            let amount = units::parse_masp(amount).context("--amount")?;
            masp_client::roles::insurance_buy(
                ctx,
                *contract,
                parse_account(insurer)?,
                amount,
                (pct * 1e7).round() as u32,
            )
            .await?;
            println!(
                "Contract {contract} is covered for {} by {insurer}.",
                units::fmt_masp(amount)
            );
        }
        Command::Insurance(Insurance::Ls) => {
            let list = masp_client::roles::insurance_covers(ctx).await?;
            if list.is_empty() {
                println!("None of your contracts is covered.");
            }
            for c in list {
                println!(
                    "contract {}  insurer {}  host {}  cover {}  premium {}/epoch  epochs {}..{}  held {}",
                    c.contract,
                    c.insurer,
                    c.host,
                    units::fmt_masp(c.amount),
                    units::fmt_masp(c.epoch_premium),
                    c.epochs.0,
                    c.epochs.1,
                    units::fmt_masp(c.held)
                );
            }
        }
        _ => unreachable!("offline and read-only commands are handled before"),
    }
    Ok(())
}
