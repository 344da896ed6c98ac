//! A local Stellar network for Kazi Trust: the Soroban host (soroban-env-host 27.0.1, the one
//! the contract's soroban-sdk 27.0.6 builds against) running our wasm, behind Stellar RPC's
//! JSON-RPC methods. See README.md for what it enforces and what it leaves out.

pub mod config;
pub mod http;
pub mod ledger;
pub mod node;
pub mod rpc;
pub mod soroban;
pub mod state;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub use node::Node;
pub use rpc::Shared;

pub const DEFAULT_PASSPHRASE: &str = "Standalone Network ; February 2017";

pub struct Options {
    pub listen: String,
    pub passphrase: String,
    pub state_dir: PathBuf,
    pub ledger_close_ms: u64,
}

/// Loads the saved ledger (or makes genesis), binds, and returns the shared node and listener.
pub fn start(options: &Options) -> Result<(Arc<Shared>, TcpListener), String> {
    std::fs::create_dir_all(&options.state_dir)
        .map_err(|e| format!("{}: {e}", options.state_dir.display()))?;
    let state_path = options.state_dir.join("localnet-state.json");
    let state = match state::State::load(&state_path)? {
        Some(state) => {
            if state.passphrase != options.passphrase {
                return Err(format!(
                    "{} holds a ledger of another network ({:?}); remove it or use another --state-dir",
                    state_path.display(),
                    state.passphrase
                ));
            }
            state
        }
        None => Node::genesis(&options.passphrase, rpc::now()),
    };
    let listener =
        TcpListener::bind(&options.listen).map_err(|e| format!("{}: {e}", options.listen))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let node = Node::new(state, options.ledger_close_ms);
    let shared = Arc::new(Shared {
        node: Mutex::new(node),
        closed: Condvar::new(),
        state_path,
        port,
    });
    {
        let mut node = shared.node.lock().unwrap();
        rpc::save(&shared, &mut node).map_err(|e| format!("saving the ledger: {e}"))?;
    }
    Ok((shared, listener))
}

/// Closes a ledger every `ledger_close_ms`, saving the ledger when it changed (and every 100
/// ledgers, so a restart resumes close to where it stopped).
pub fn run_ledger_closer(shared: Arc<Shared>, ledger_close_ms: u64) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(ledger_close_ms));
        let mut node = shared.node.lock().unwrap();
        node.close_ledger(rpc::now());
        if node.dirty || node.state.latest.sequence % 100 == 0 {
            if let Err(e) = rpc::save(&shared, &mut node) {
                eprintln!("localnet: saving the ledger failed: {e}");
            }
        }
        drop(node);
        shared.closed.notify_all();
    });
}

pub fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let handler = move |request| rpc::handle(&shared, request);
    http::serve(listener, Arc::new(handler));
}

pub fn state_file(dir: &Path) -> PathBuf {
    dir.join("localnet-state.json")
}
