//! `masp`: the MASP command line for Senders and Receivers.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use masp_client::{
    crypto,
    keys::{Identity, KeyFile},
    pipeline,
};
use std::{
    fs::File,
    io::{BufRead, Write},
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
#[allow(dead_code)]
fn identity(cli: &Cli) -> Result<Identity> {
    let path = key_path(cli)?;
    let file = KeyFile::load(&path)?;
    Ok(file.open(&path, &password(false)?)?)
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
            eprintln!("Type or paste the secret phrase, then Enter:");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
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
                    Some((
                        std::io::BufWriter::with_capacity(8 << 20, f),
                        tmp,
                        o.clone(),
                    ))
                }
                None => None,
            };
            let started = Instant::now();
            let sealed = pipeline::seal(
                std::io::BufReader::with_capacity(8 << 20, input),
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
            if let Some((w, tmp, o)) = writer {
                let f = w.into_inner().map_err(|e| e.into_error())?;
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
