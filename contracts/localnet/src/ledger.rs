//! Closing a ledger's books: its header (hashed and chained to the previous one), its close
//! meta (for getLatestLedger), the transactions and events it applied (for getTransaction,
//! getEvents and getFeeStats).

use soroban_env_host::xdr::{
    ContractEventBody, GeneralizedTransactionSet, Hash, LedgerCloseMeta, LedgerCloseMetaExt,
    LedgerCloseMetaV2, LedgerEntryChanges, LedgerHeader, LedgerHeaderExt, LedgerHeaderHistoryEntry,
    LedgerHeaderHistoryEntryExt, StellarValue, StellarValueExt, TimePoint, TransactionMeta,
    TransactionPhase, TransactionResult, TransactionResultMetaV1, TransactionResultPair,
    TransactionSetV1, VecM,
};

use crate::config::{BASE_FEE, BASE_RESERVE, MAX_TX_SET_SIZE, PROTOCOL_VERSION, TOTAL_COINS};
use crate::state::{b64, from_b64, sha256, xdr_bytes, EventRecord, LedgerRecord, State, TxRecord};

/// How many recent ledgers getFeeStats looks at.
const FEE_STATS_LEDGERS: usize = 50;

pub fn close(state: &mut State, sequence: u32, close_time: u64, records: Vec<TxRecord>) {
    let previous = hex_hash(&state.latest.hash);
    state.latest.sequence = sequence;
    state.latest.close_time = close_time;
    finish_ledger(state, previous, records);
}

fn hex_hash(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(bytes) = hex::decode(text) {
        if bytes.len() == 32 {
            out.copy_from_slice(&bytes);
        }
    }
    out
}

/// Writes the header, meta, transactions and events of `state.latest` (sequence and close time
/// already set).
pub fn finish_ledger(state: &mut State, previous: [u8; 32], records: Vec<TxRecord>) {
    let sequence = state.latest.sequence;
    let close_time = state.latest.close_time;
    let mut results = Vec::new();
    let mut processing = Vec::new();
    for record in &records {
        let result: TransactionResult = from_b64(&record.result_xdr).expect("our own XDR");
        let meta: TransactionMeta = from_b64(&record.result_meta_xdr).expect("our own XDR");
        let pair = TransactionResultPair {
            transaction_hash: Hash(hex_hash(&record.hash)),
            result,
        };
        results.push(pair.clone());
        processing.push(TransactionResultMetaV1 {
            ext: soroban_env_host::xdr::ExtensionPoint::V0,
            result: pair,
            fee_processing: LedgerEntryChanges::default(),
            tx_apply_processing: meta,
            post_tx_apply_fee_processing: LedgerEntryChanges::default(),
        });
    }
    let tx_set = GeneralizedTransactionSet::V1(TransactionSetV1 {
        previous_ledger_hash: Hash(previous),
        phases: vec![
            TransactionPhase::V0(VecM::default()),
            TransactionPhase::V0(VecM::default()),
        ]
        .try_into()
        .expect("two phases"),
    });
    let header = LedgerHeader {
        ledger_version: PROTOCOL_VERSION,
        previous_ledger_hash: Hash(previous),
        scp_value: StellarValue {
            tx_set_hash: Hash(sha256(&xdr_bytes(&tx_set))),
            close_time: TimePoint(close_time),
            upgrades: VecM::default(),
            ext: StellarValueExt::Basic,
        },
        tx_set_result_hash: Hash(sha256(&xdr_bytes(
            &TryInto::<VecM<TransactionResultPair>>::try_into(results).unwrap_or_default(),
        ))),
        bucket_list_hash: Hash(sha256(
            &state
                .entries
                .values()
                .flat_map(|s| xdr_bytes(&s.entry))
                .collect::<Vec<u8>>(),
        )),
        ledger_seq: sequence,
        total_coins: TOTAL_COINS,
        fee_pool: 0,
        inflation_seq: 0,
        id_pool: 0,
        base_fee: BASE_FEE as u32,
        base_reserve: BASE_RESERVE as u32,
        max_tx_set_size: MAX_TX_SET_SIZE,
        skip_list: [Hash([0; 32]), Hash([0; 32]), Hash([0; 32]), Hash([0; 32])],
        ext: LedgerHeaderExt::V0,
    };
    let hash = sha256(&xdr_bytes(&header));
    let meta = LedgerCloseMeta::V2(LedgerCloseMetaV2 {
        ext: LedgerCloseMetaExt::V0,
        ledger_header: LedgerHeaderHistoryEntry {
            hash: Hash(hash),
            header: header.clone(),
            ext: LedgerHeaderHistoryEntryExt::V0,
        },
        tx_set,
        tx_processing: processing.try_into().unwrap_or_default(),
        upgrades_processing: VecM::default(),
        scp_info: VecM::default(),
        total_byte_size_of_live_soroban_state: 0,
        evicted_keys: VecM::default(),
    });
    state.latest = LedgerRecord {
        sequence,
        close_time,
        hash: hex::encode(hash),
        header_xdr: b64(&header),
        metadata_xdr: b64(&meta),
    };

    let mut classic_fees = Vec::new();
    let mut soroban_fees = Vec::new();
    for record in records {
        if record.soroban {
            soroban_fees.push(record.inclusion_fee_per_op);
        } else {
            classic_fees.push(record.inclusion_fee_per_op);
        }
        if record.success {
            for (op_index, events) in record.contract_events_xdr.iter().enumerate() {
                for (event_index, xdr) in events.iter().enumerate() {
                    if let Some(event) = event_record(
                        &record,
                        sequence,
                        close_time,
                        op_index as u32,
                        event_index as u32,
                        xdr,
                    ) {
                        state.events.push(event);
                    }
                }
            }
        }
        state.txs.insert(record.hash.clone(), record);
    }
    state
        .fee_history
        .push((sequence, classic_fees, soroban_fees));
    if state.fee_history.len() > FEE_STATS_LEDGERS {
        state.fee_history.remove(0);
    }
}

/// The id stellar-rpc gives an event: the TOID of its operation (ledger, transaction's
/// application order, operation index) and its index within the operation.
pub fn event_id(ledger: u32, tx_order: u32, op_index: u32, event_index: u32) -> String {
    let toid = ((ledger as u64) << 32) | ((tx_order as u64) << 12) | op_index as u64;
    format!("{toid:019}-{event_index:010}")
}

fn event_record(
    record: &TxRecord,
    ledger: u32,
    close_time: u64,
    op_index: u32,
    event_index: u32,
    xdr: &str,
) -> Option<EventRecord> {
    let event: soroban_env_host::xdr::ContractEvent = from_b64(xdr).ok()?;
    let ContractEventBody::V0(body) = &event.body;
    let contract_id = event
        .contract_id
        .as_ref()
        .map(|id| stellar_strkey::Contract(id.0 .0).to_string())
        .unwrap_or_default();
    let event_type = match event.type_ {
        soroban_env_host::xdr::ContractEventType::System => "system",
        soroban_env_host::xdr::ContractEventType::Contract => "contract",
        soroban_env_host::xdr::ContractEventType::Diagnostic => "diagnostic",
    };
    Some(EventRecord {
        id: event_id(ledger, record.application_order, op_index, event_index),
        ledger,
        ledger_closed_at: close_time,
        contract_id,
        topics_xdr: body.topics.iter().map(b64).collect(),
        value_xdr: b64(&body.data),
        event_type: event_type.to_string(),
        operation_index: op_index,
        transaction_index: record.application_order,
        tx_hash: record.hash.clone(),
    })
}
