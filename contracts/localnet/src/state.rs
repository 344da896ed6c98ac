//! The ledger: its entries (with their TTLs), its header fields, the transactions it applied and
//! the events they emitted; saved as JSON (XDR in base64) so a restart keeps it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use soroban_env_host::xdr::{
    ContractDataDurability, LedgerEntry, LedgerEntryData, LedgerKey, LedgerKeyAccount,
    LedgerKeyContractCode, LedgerKeyContractData, LedgerKeyTrustLine, Limits, ReadXdr, WriteXdr,
};

pub const XDR_LIMITS: Limits = Limits {
    depth: 500,
    len: 4 * 1024 * 1024,
};

pub fn b64<T: WriteXdr>(value: &T) -> String {
    value.to_xdr_base64(Limits::none()).expect("XDR encoding")
}

pub fn from_b64<T: ReadXdr>(text: &str) -> Result<T, String> {
    T::from_xdr_base64(text, XDR_LIMITS).map_err(|e| format!("{e}"))
}

pub fn xdr_bytes<T: WriteXdr>(value: &T) -> Vec<u8> {
    value.to_xdr(Limits::none()).expect("XDR encoding")
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The key of an entry (the entry types this network keeps).
pub fn key_of(entry: &LedgerEntry) -> LedgerKey {
    match &entry.data {
        LedgerEntryData::Account(a) => LedgerKey::Account(LedgerKeyAccount {
            account_id: a.account_id.clone(),
        }),
        LedgerEntryData::Trustline(t) => LedgerKey::Trustline(LedgerKeyTrustLine {
            account_id: t.account_id.clone(),
            asset: t.asset.clone(),
        }),
        LedgerEntryData::ContractData(d) => LedgerKey::ContractData(LedgerKeyContractData {
            contract: d.contract.clone(),
            key: d.key.clone(),
            durability: d.durability,
        }),
        LedgerEntryData::ContractCode(c) => LedgerKey::ContractCode(LedgerKeyContractCode {
            hash: c.hash.clone(),
        }),
        other => panic!(
            "entries of type {:?} are not kept here",
            other.discriminant()
        ),
    }
}

/// Whether the entry has a TTL, and then whether it is persistent.
pub fn durability(key: &LedgerKey) -> Option<ContractDataDurability> {
    match key {
        LedgerKey::ContractData(d) => Some(d.durability),
        LedgerKey::ContractCode(_) => Some(ContractDataDurability::Persistent),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub entry: LedgerEntry,
    /// The last ledger it is live in (contract data and code only).
    pub live_until: Option<u32>,
}

impl Stored {
    pub fn expired_at(&self, ledger: u32) -> bool {
        self.live_until.is_some_and(|until| until < ledger)
    }
}

/// One applied transaction, as getTransaction answers it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TxRecord {
    pub hash: String,
    pub ledger: u32,
    pub created_at: u64,
    pub application_order: u32,
    pub fee_bump: bool,
    pub success: bool,
    pub envelope_xdr: String,
    pub result_xdr: String,
    pub result_meta_xdr: String,
    pub diagnostic_events_xdr: Vec<String>,
    pub contract_events_xdr: Vec<Vec<String>>,
    /// The inclusion fee it bid per operation (getFeeStats).
    pub inclusion_fee_per_op: i64,
    pub soroban: bool,
}

/// One contract event, as getEvents answers it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: String,
    pub ledger: u32,
    pub ledger_closed_at: u64,
    pub contract_id: String,
    pub topics_xdr: Vec<String>,
    pub value_xdr: String,
    pub event_type: String,
    pub operation_index: u32,
    pub transaction_index: u32,
    pub tx_hash: String,
}

/// A closed ledger's header fields.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LedgerRecord {
    pub sequence: u32,
    pub close_time: u64,
    pub hash: String,
    pub header_xdr: String,
    pub metadata_xdr: String,
}

pub struct State {
    pub passphrase: String,
    pub entries: BTreeMap<LedgerKey, Stored>,
    pub latest: LedgerRecord,
    /// The oldest ledger whose transactions and events are still answered for.
    pub oldest_ledger: u32,
    pub oldest_close_time: u64,
    pub txs: BTreeMap<String, TxRecord>,
    pub events: Vec<EventRecord>,
    /// (ledger, close time, inclusion fees per op of its classic and Soroban transactions)
    pub fee_history: Vec<(u32, Vec<i64>, Vec<i64>)>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    passphrase: String,
    latest: LedgerRecord,
    oldest_ledger: u32,
    oldest_close_time: u64,
    entries: Vec<(String, Option<u32>)>,
    txs: Vec<TxRecord>,
    events: Vec<EventRecord>,
}

impl State {
    pub fn get(&self, key: &LedgerKey) -> Option<&Stored> {
        self.entries.get(key)
    }

    /// The entry as a transaction in `ledger` sees it: expired temporary entries are gone.
    pub fn live(&self, key: &LedgerKey, ledger: u32) -> Option<&Stored> {
        let stored = self.entries.get(key)?;
        if stored.expired_at(ledger) && durability(key) == Some(ContractDataDurability::Temporary) {
            return None;
        }
        Some(stored)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let saved = Saved {
            passphrase: self.passphrase.clone(),
            latest: self.latest.clone(),
            oldest_ledger: self.oldest_ledger,
            oldest_close_time: self.oldest_close_time,
            entries: self
                .entries
                .values()
                .map(|s| (b64(&s.entry), s.live_until))
                .collect(),
            txs: self.txs.values().cloned().collect(),
            events: self.events.clone(),
        };
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&serde_json::to_vec(&saved)?)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, path)
    }

    pub fn load(path: &Path) -> Result<Option<State>, String> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let saved: Saved =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut entries = BTreeMap::new();
        for (xdr, live_until) in saved.entries {
            let entry: LedgerEntry = from_b64(&xdr)?;
            entries.insert(key_of(&entry), Stored { entry, live_until });
        }
        let mut fee_history = Vec::new();
        let mut txs = BTreeMap::new();
        for tx in saved.txs {
            txs.insert(tx.hash.clone(), tx);
        }
        fee_history.clear();
        Ok(Some(State {
            passphrase: saved.passphrase,
            entries,
            latest: saved.latest,
            oldest_ledger: saved.oldest_ledger,
            oldest_close_time: saved.oldest_close_time,
            txs,
            events: saved.events,
            fee_history,
        }))
    }
}

pub fn from_bytes<T: ReadXdr>(bytes: &[u8]) -> Result<T, String> {
    T::from_xdr(bytes, XDR_LIMITS).map_err(|e| format!("{e}"))
}
