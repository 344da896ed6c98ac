//! Soroban operations, as stellar-core applies them: the footprint's entries loaded (archived
//! ones only if the transaction restores them), the host run in enforcing mode on the declared
//! instructions, the declared read/write bytes and the refundable fee enforced, the ledger
//! changes written back; and simulateTransaction's preflight.

use std::rc::Rc;

use soroban_env_host::e2e_invoke::{extract_rent_changes, invoke_host_function};
use soroban_env_host::fees::LedgerEntryRentChange;
use soroban_env_host::storage::{EntryWithLiveUntil, SnapshotSource};
use soroban_env_host::xdr::{
    AccountId, ContractDataDurability, ContractEvent, DiagnosticEvent, ExtendFootprintTtlResult,
    Hash, HostFunction, InvokeHostFunctionOp, InvokeHostFunctionResult, LedgerEntry,
    LedgerEntryType, LedgerKey, RestoreFootprintResult, ScErrorCode, ScErrorType, ScVal,
    SorobanTransactionData, SorobanTransactionDataExt, TtlEntry,
};
use soroban_env_host::HostError;

use crate::config::{self, TX_MAX_CONTRACT_EVENTS_SIZE_BYTES};
use crate::node::{
    events_fee, new_budget, non_refundable_fee, rent_fee, success_hash, Ctx, Node, TxView,
};
use crate::state::{durability, sha256, xdr_bytes, State, Stored};

fn persistent(key: &LedgerKey) -> bool {
    durability(key) == Some(ContractDataDurability::Persistent)
}

fn is_soroban_key(key: &LedgerKey) -> bool {
    matches!(key, LedgerKey::ContractData(_) | LedgerKey::ContractCode(_))
}

/// The host's size of an entry for rent: its XDR, plus the module's memory for code.
fn rent_size(entry: &LedgerEntry) -> u32 {
    let size = xdr_bytes(entry).len() as u32;
    soroban_env_host::e2e_invoke::entry_size_for_rent(
        &soroban_env_host::budget::Budget::default(),
        entry,
        size,
    )
    .unwrap_or(size)
}

#[allow(clippy::too_many_arguments)]
pub fn invoke(
    node: &Node,
    ctx: &mut Ctx,
    view: &TxView,
    data: &SorobanTransactionData,
    op: &InvokeHostFunctionOp,
    source: &AccountId,
    close_time: u64,
    index: u32,
    events_out: &mut Vec<ContractEvent>,
    diagnostics: &mut Vec<DiagnosticEvent>,
    return_value: &mut Option<ScVal>,
    fees: &mut Option<(i64, i64)>,
) -> InvokeHostFunctionResult {
    let ledger = ctx.ledger;
    let resources = &data.resources;
    let archived: Vec<u32> = match &data.ext {
        SorobanTransactionDataExt::V0 => Vec::new(),
        SorobanTransactionDataExt::V1(ext) => ext.archived_soroban_entries.to_vec(),
    };
    let restored_live_until = ledger + config::MIN_PERSISTENT_TTL - 1;

    // The footprint's entries as the host is given them.
    let mut entries = Vec::new();
    let mut ttls = Vec::new();
    let mut read_bytes: u32 = 0;
    let footprint = &resources.footprint;
    let keys = footprint
        .read_write
        .iter()
        .enumerate()
        .map(|(i, k)| (k, Some(i as u32)))
        .chain(footprint.read_only.iter().map(|k| (k, None)));
    for (key, rw_index) in keys {
        let Some(stored) = ctx.get(key) else {
            continue;
        };
        let size = xdr_bytes(&stored.entry).len() as u32;
        let mut live_until = stored.live_until;
        if stored.expired_at(ledger) {
            if !persistent(key) {
                continue; // an expired temporary entry is gone
            }
            if !rw_index.is_some_and(|i| archived.contains(&i)) {
                return InvokeHostFunctionResult::EntryArchived;
            }
            live_until = Some(restored_live_until);
            read_bytes = read_bytes.saturating_add(size);
        } else if !is_soroban_key(key) {
            read_bytes = read_bytes.saturating_add(size);
        }
        entries.push(xdr_bytes(&stored.entry));
        ttls.push(match live_until {
            Some(until) => xdr_bytes(&TtlEntry {
                key_hash: Hash(sha256(&xdr_bytes(key))),
                live_until_ledger_seq: until,
            }),
            None => Vec::new(),
        });
    }
    if read_bytes > resources.disk_read_bytes {
        eprintln!(
            "localnet: {}: read {read_bytes} bytes from disk, {} declared",
            view.hash_hex(),
            resources.disk_read_bytes
        );
        return InvokeHostFunctionResult::ResourceLimitExceeded;
    }

    let budget = new_budget(&node.network, resources.instructions);
    let info = config::ledger_info(&node.state.passphrase, ledger, close_time);
    let mut seed_input = view.hash.to_vec();
    seed_input.extend_from_slice(&index.to_be_bytes());
    let seed = sha256(&seed_input);
    let auth: Vec<Vec<u8>> = op.auth.iter().map(xdr_bytes).collect();
    let mut diag = Vec::new();
    let outcome = invoke_host_function(
        &budget,
        true,
        xdr_bytes(&op.host_function),
        xdr_bytes(resources),
        &archived,
        xdr_bytes(source),
        auth.into_iter(),
        info,
        entries.into_iter(),
        ttls.into_iter(),
        seed.to_vec(),
        &mut diag,
        None,
        Some(node.module_cache.clone()),
    );
    diagnostics.extend(diag);
    let over_budget = |e: &HostError| {
        e.error.is_type(ScErrorType::Budget) && e.error.is_code(ScErrorCode::ExceededLimit)
    };
    let result = match outcome {
        Err(e) if over_budget(&e) => {
            eprintln!("localnet: {}: over its budget: {e:?}", view.hash_hex());
            return InvokeHostFunctionResult::ResourceLimitExceeded;
        }
        Err(_) => return InvokeHostFunctionResult::Trapped,
        Ok(result) => result,
    };
    let value_bytes = match result.encoded_invoke_result {
        Err(e) if over_budget(&e) => {
            eprintln!(
                "localnet: {}: over its budget: cpu {:?} of {}, mem {:?}: {e:?}",
                view.hash_hex(),
                budget.get_cpu_insns_consumed(),
                resources.instructions,
                budget.get_mem_bytes_consumed()
            );
            return InvokeHostFunctionResult::ResourceLimitExceeded;
        }
        Err(_) => return InvokeHostFunctionResult::Trapped,
        Ok(bytes) => bytes,
    };
    let value: ScVal = match crate::state::from_bytes(&value_bytes) {
        Ok(v) => v,
        Err(_) => return InvokeHostFunctionResult::Trapped,
    };
    let mut events = Vec::new();
    for bytes in &result.encoded_contract_events {
        match crate::state::from_bytes::<ContractEvent>(bytes) {
            Ok(event) => events.push(event),
            Err(_) => return InvokeHostFunctionResult::Trapped,
        }
    }
    let events_size: u32 = result
        .encoded_contract_events
        .iter()
        .map(|e| e.len() as u32)
        .sum::<u32>()
        + value_bytes.len() as u32;
    if events_size > TX_MAX_CONTRACT_EVENTS_SIZE_BYTES {
        return InvokeHostFunctionResult::ResourceLimitExceeded;
    }
    let written: u32 = result
        .ledger_changes
        .iter()
        .filter_map(|c| c.encoded_new_value.as_ref().map(|v| v.len() as u32))
        .sum();
    if written > resources.write_bytes {
        eprintln!(
            "localnet: {}: wrote {written} bytes, {} declared",
            view.hash_hex(),
            resources.write_bytes
        );
        return InvokeHostFunctionResult::ResourceLimitExceeded;
    }
    let rent = rent_fee(&extract_rent_changes(&result.ledger_changes), ledger);
    let events_fee = events_fee(events_size);
    let declared_refundable = data.resource_fee - non_refundable_fee(data, view.size);
    if rent + events_fee > declared_refundable {
        return InvokeHostFunctionResult::InsufficientRefundableFee;
    }

    // Write the changes back.
    for change in &result.ledger_changes {
        let Ok(key) = crate::state::from_bytes::<LedgerKey>(&change.encoded_key) else {
            return InvokeHostFunctionResult::Trapped;
        };
        let old = ctx.get(&key);
        if change.read_only {
            if let (Some(ttl), Some(mut stored)) = (&change.ttl_change, old) {
                if stored
                    .live_until
                    .is_some_and(|u| ttl.new_live_until_ledger > u)
                {
                    stored.live_until = Some(ttl.new_live_until_ledger);
                    ctx.put(stored.entry, stored.live_until);
                }
            }
            continue;
        }
        match &change.encoded_new_value {
            Some(bytes) => {
                let Ok(entry) = crate::state::from_bytes::<LedgerEntry>(bytes) else {
                    return InvokeHostFunctionResult::Trapped;
                };
                let live_until = change.ttl_change.as_ref().map(|t| t.new_live_until_ledger);
                let unchanged = old.as_ref().is_some_and(|o| {
                    o.live_until == live_until && xdr_bytes(&o.entry.data) == xdr_bytes(&entry.data)
                });
                if !unchanged {
                    ctx.put(entry, live_until);
                }
            }
            None => {
                if old.is_some() {
                    ctx.remove(&key);
                }
            }
        }
    }
    *fees = Some((rent, events_fee));
    *return_value = Some(value.clone());
    let hash = success_hash(value, &events);
    events_out.extend(events);
    InvokeHostFunctionResult::Success(hash)
}

/// RestoreFootprint: every archived persistent entry of the read-write footprint live again
/// for the minimum persistent TTL, its rent paid.
pub fn restore(
    _node: &Node,
    ctx: &mut Ctx,
    view: &TxView,
    data: &SorobanTransactionData,
    fees: &mut Option<(i64, i64)>,
) -> RestoreFootprintResult {
    let ledger = ctx.ledger;
    let footprint = &data.resources.footprint;
    if !footprint.read_only.is_empty() || footprint.read_write.iter().any(|k| !persistent(k)) {
        return RestoreFootprintResult::Malformed;
    }
    let live_until = ledger + config::MIN_PERSISTENT_TTL - 1;
    let mut changes = Vec::new();
    let (mut read, mut written) = (0u32, 0u32);
    for key in footprint.read_write.iter() {
        let Some(stored) = ctx.get(key) else { continue };
        if !stored.expired_at(ledger) {
            continue;
        }
        let size = xdr_bytes(&stored.entry).len() as u32;
        read += size;
        written += size;
        changes.push(LedgerEntryRentChange {
            is_persistent: true,
            is_code_entry: key.discriminant() == LedgerEntryType::ContractCode,
            old_size_bytes: 0,
            new_size_bytes: rent_size(&stored.entry),
            old_live_until_ledger: 0,
            new_live_until_ledger: live_until,
        });
        ctx.put(stored.entry, Some(live_until));
    }
    if read > data.resources.disk_read_bytes || written > data.resources.write_bytes {
        return RestoreFootprintResult::ResourceLimitExceeded;
    }
    let rent = rent_fee(&changes, ledger);
    if rent > data.resource_fee - non_refundable_fee(data, view.size) {
        return RestoreFootprintResult::InsufficientRefundableFee;
    }
    *fees = Some((rent, 0));
    RestoreFootprintResult::Success
}

/// ExtendFootprintTtl: every live entry of the read-only footprint live until at least
/// `ledger + extend_to`, its rent paid.
pub fn extend(
    _node: &Node,
    ctx: &mut Ctx,
    view: &TxView,
    data: &SorobanTransactionData,
    extend_to: u32,
    fees: &mut Option<(i64, i64)>,
) -> ExtendFootprintTtlResult {
    let ledger = ctx.ledger;
    let footprint = &data.resources.footprint;
    if !footprint.read_write.is_empty()
        || footprint.read_only.iter().any(|k| durability(k).is_none())
        || extend_to > config::MAX_ENTRY_TTL - 1
    {
        return ExtendFootprintTtlResult::Malformed;
    }
    let target = ledger + extend_to;
    let mut changes = Vec::new();
    for key in footprint.read_only.iter() {
        let Some(stored) = ctx.get(key) else { continue };
        let Some(until) = stored.live_until else {
            continue;
        };
        if stored.expired_at(ledger) || until >= target {
            continue;
        }
        let size = rent_size(&stored.entry);
        changes.push(LedgerEntryRentChange {
            is_persistent: persistent(key),
            is_code_entry: key.discriminant() == LedgerEntryType::ContractCode,
            old_size_bytes: size,
            new_size_bytes: size,
            old_live_until_ledger: until,
            new_live_until_ledger: target,
        });
        ctx.put(stored.entry, Some(target));
    }
    let rent = rent_fee(&changes, ledger);
    if rent > data.resource_fee - non_refundable_fee(data, view.size) {
        return ExtendFootprintTtlResult::InsufficientRefundableFee;
    }
    *fees = Some((rent, 0));
    ExtendFootprintTtlResult::Success
}

/// The ledger as the simulation reads it: entries with their TTLs (expired persistent ones
/// included: the simulation marks them for restoration), expired temporary ones gone.
pub struct Snapshot {
    entries: std::collections::BTreeMap<LedgerKey, Stored>,
    ledger: u32,
}

impl Snapshot {
    pub fn of(state: &State, keys_for: impl Fn(&LedgerKey) -> bool, ledger: u32) -> Self {
        Snapshot {
            entries: state
                .entries
                .iter()
                .filter(|(k, _)| keys_for(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ledger,
        }
    }
}

impl SnapshotSource for Snapshot {
    fn get(&self, key: &Rc<LedgerKey>) -> Result<Option<EntryWithLiveUntil>, HostError> {
        let Some(stored) = self.entries.get(key.as_ref()) else {
            return Ok(None);
        };
        if stored.expired_at(self.ledger) && !persistent(key) {
            return Ok(None);
        }
        Ok(Some((Rc::new(stored.entry.clone()), stored.live_until)))
    }
}

/// What a host function touches, besides what the simulation looks up: nothing to pre-filter,
/// the whole (small) ledger is the snapshot.
pub fn all_keys(_: &LedgerKey) -> bool {
    true
}

pub fn host_function_name(hf: &HostFunction) -> &'static str {
    match hf {
        HostFunction::InvokeContract(_) => "invoke_contract",
        HostFunction::CreateContract(_) => "create_contract",
        HostFunction::UploadContractWasm(_) => "upload_wasm",
        HostFunction::CreateContractV2(_) => "create_contract_v2",
    }
}

/// Preflight of an InvokeHostFunction operation against the next ledger, as stellar-rpc's
/// simulateTransaction runs it (the simulation library, the network's settings, pubnet's
/// default adjustments).
pub fn simulate_invoke(
    node: &Node,
    source: &AccountId,
    op: &InvokeHostFunctionOp,
    auth_mode: soroban_env_host::e2e_invoke::RecordingInvocationAuthMode,
    adjustment: &soroban_simulation::simulation::SimulationAdjustmentConfig,
    seed: [u8; 32],
) -> Result<soroban_simulation::simulation::InvokeHostFunctionSimulationResult, String> {
    let ledger = node.state.latest.sequence + 1;
    let info = config::ledger_info(&node.state.passphrase, ledger, node.state.latest.close_time);
    let snapshot = Snapshot::of(&node.state, all_keys, ledger);
    soroban_simulation::simulation::simulate_invoke_host_function_op(
        Rc::new(snapshot),
        &node.network,
        adjustment,
        &info,
        op.host_function.clone(),
        auth_mode,
        source,
        seed,
        true,
    )
    .map_err(|e| format!("{e:#}"))
}
