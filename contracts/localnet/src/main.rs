//! `kazi-localnet [--port N] [--host H] [--state-dir DIR] [--ledger-close-ms MS]
//! [--network-passphrase P]`: a local Stellar network (see README.md).

use std::path::PathBuf;
use std::process::ExitCode;

use kazi_localnet::{run_ledger_closer, serve, start, Options, DEFAULT_PASSPHRASE};

fn usage() -> ExitCode {
    eprintln!(
        "usage: kazi-localnet [--host 127.0.0.1] [--port 8010] [--state-dir var/localnet] \
         [--ledger-close-ms 5000] [--network-passphrase '{DEFAULT_PASSPHRASE}'] \
         [--soroban-state-size 3000000000]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut host = "127.0.0.1".to_string();
    let mut port: u16 = std::env::var("LOCALNET_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8010);
    let mut state_dir = PathBuf::from("var/localnet");
    let mut ledger_close_ms: u64 = 5000;
    let mut passphrase = DEFAULT_PASSPHRASE.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next();
        match arg.as_str() {
            "--host" => match value() {
                Some(v) => host = v,
                None => return usage(),
            },
            "--port" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => port = v,
                None => return usage(),
            },
            "--state-dir" => match value() {
                Some(v) => state_dir = PathBuf::from(v),
                None => return usage(),
            },
            "--ledger-close-ms" => match value().and_then(|v| v.parse().ok()) {
                Some(v) if v >= 10 => ledger_close_ms = v,
                _ => return usage(),
            },
            "--soroban-state-size" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => kazi_localnet::config::set_soroban_state_size(v),
                None => return usage(),
            },
            "--network-passphrase" => match value() {
                Some(v) => passphrase = v,
                None => return usage(),
            },
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let options = Options {
        listen: format!("{host}:{port}"),
        passphrase,
        state_dir,
        ledger_close_ms,
    };
    let (shared, listener) = match start(&options) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("kazi-localnet: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let node = shared.node.lock().unwrap();
        println!(
            "kazi-localnet: {:?} on http://{} (ledger {}, a ledger every {} ms, state in {})",
            options.passphrase,
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            node.state.latest.sequence,
            ledger_close_ms,
            options.state_dir.display()
        );
    }
    run_ledger_closer(shared.clone(), ledger_close_ms);
    serve(shared, listener);
    ExitCode::SUCCESS
}
