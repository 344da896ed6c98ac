//! Stellar RPC's JSON-RPC 2.0 methods (the ones stellar-sdk's SorobanServer calls), with the
//! result shapes the public RPC answers, friendbot, and the `kazi_*` test switches.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use soroban_env_host::e2e_invoke::{RecordingInvocationAuthMode, RecordingInvocationAuthParams};
use soroban_env_host::xdr::{
    AccountId, LedgerEntryData, LedgerKey, LedgerKeyAccount, OperationBody, PublicKey,
    TransactionEnvelope, TtlEntry, Uint256,
};
use soroban_simulation::simulation::{
    simulate_extend_ttl_op, simulate_restore_op, SimulationAdjustmentConfig,
    SimulationAdjustmentFactor,
};

use crate::config::{self, PROTOCOL_VERSION};
use crate::http::{query_value, Reply, Request};
use crate::node::{Node, Submitted, TxView};
use crate::soroban::{all_keys, Snapshot};
use crate::state::{b64, from_b64, sha256, xdr_bytes, TxRecord};

/// Ledgers of history the RPC answers for (stellar-rpc's default: a day).
pub const RETENTION_WINDOW: u32 = 17_280;
const MAX_LEDGER_ENTRIES_KEYS: usize = 200;
const MAX_EVENTS_LIMIT: usize = 10_000;
const DEFAULT_EVENTS_LIMIT: usize = 100;

pub struct Shared {
    pub node: Mutex<Node>,
    /// Notified at every ledger close.
    pub closed: Condvar,
    pub state_path: PathBuf,
    pub port: u16,
}

struct RpcError {
    code: i64,
    message: String,
}

fn invalid_params(message: impl Into<String>) -> RpcError {
    RpcError {
        code: -32602,
        message: message.into(),
    }
}

type Outcome = Result<Value, RpcError>;

/// One HTTP request.
pub fn handle(shared: &Shared, request: Request) -> Reply {
    // The unavailable fault answers every request but the test switches themselves.
    let switch = request.path == "/"
        && serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|v| {
                v.get("method")
                    .and_then(Value::as_str)
                    .map(|m| m.starts_with("kazi_"))
            })
            .unwrap_or(false);
    if !switch {
        let mut node = shared.node.lock().unwrap();
        if node.faults.unavailable > 0 {
            node.faults.unavailable -= 1;
            return Reply::Json(503, br#"{"error":"service unavailable (fault)"}"#.to_vec());
        }
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/") => jsonrpc(shared, &request.body),
        ("GET", "/friendbot") | ("POST", "/friendbot") => friendbot(shared, &request.query),
        // Not Stellar RPC's: a readiness check for process supervisors (scripts/run.py).
        ("GET", "/health") => Reply::Json(200, br#"{"status":"healthy"}"#.to_vec()),
        (_, "/") | (_, "/friendbot") => {
            Reply::Json(405, br#"{"error":"method not allowed"}"#.to_vec())
        }
        _ => Reply::Json(404, br#"{"error":"not found"}"#.to_vec()),
    }
}

fn error_response(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn jsonrpc(shared: &Shared, body: &[u8]) -> Reply {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return Reply::Json(
                200,
                error_response(Value::Null, -32700, "parse error")
                    .to_string()
                    .into_bytes(),
            )
        }
    };
    if let Some(method) = parsed.get("method").and_then(Value::as_str) {
        let mut node = shared.node.lock().unwrap();
        if let Some((target, count)) = node.faults.unavailable_for.clone() {
            if target == method && count > 0 {
                node.faults.unavailable_for = (count > 1).then(|| (target, count - 1));
                return Reply::Json(503, br#"{"error":"service unavailable (fault)"}"#.to_vec());
            }
        }
    }
    let mut lost = false;
    let answer = match parsed {
        Value::Array(calls) => {
            if calls.is_empty() {
                error_response(Value::Null, -32600, "invalid request: empty batch")
            } else {
                let answers: Vec<Value> = calls
                    .iter()
                    .filter_map(|call| one_call(shared, call, &mut lost))
                    .collect();
                Value::Array(answers)
            }
        }
        call => match one_call(shared, &call, &mut lost) {
            Some(answer) => answer,
            None => return Reply::Json(204, Vec::new()),
        },
    };
    if lost {
        return Reply::Drop;
    }
    Reply::Json(200, answer.to_string().into_bytes())
}

/// One call of a request: its answer, or None for a notification (no id).
fn one_call(shared: &Shared, call: &Value, lost: &mut bool) -> Option<Value> {
    let Value::Object(call) = call else {
        return Some(error_response(Value::Null, -32600, "invalid request"));
    };
    let id = call.get("id").cloned();
    let valid_id = matches!(
        id,
        None | Some(Value::Null | Value::String(_) | Value::Number(_))
    );
    let method = call.get("method").and_then(Value::as_str);
    if call.get("jsonrpc") != Some(&json!("2.0")) || method.is_none() || !valid_id {
        return Some(error_response(
            id.unwrap_or(Value::Null),
            -32600,
            "invalid request",
        ));
    }
    let params = match call.get("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => {
            return Some(error_response(
                id.unwrap_or(Value::Null),
                -32602,
                "invalid params: an object is expected",
            ))
        }
    };
    let outcome = dispatch(shared, method.unwrap(), &params, lost);
    let id = id?;
    Some(match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => error_response(id, e.code, &e.message),
    })
}

fn dispatch(shared: &Shared, method: &str, params: &Value, lost: &mut bool) -> Outcome {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match method {
        "getHealth" => get_health(shared),
        "getNetwork" => get_network(shared),
        "getVersionInfo" => Ok(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commitHash": "kazi-localnet",
            "buildTimestamp": "",
            "captiveCoreVersion": "none: soroban-env-host 27.0.1 in process",
            "protocolVersion": PROTOCOL_VERSION,
        })),
        "getLatestLedger" => get_latest_ledger(shared),
        "getLedgerEntries" => get_ledger_entries(shared, params),
        "getTransaction" => get_transaction(shared, params),
        "sendTransaction" => send_transaction(shared, params, lost),
        "simulateTransaction" => simulate_transaction(shared, params),
        "getEvents" => get_events(shared, params),
        "getFeeStats" => get_fee_stats(shared),
        "kazi_faults" => kazi_faults(shared, params),
        "kazi_skipLedgers" => kazi_skip_ledgers(shared, params),
        "kazi_closeLedger" => kazi_close_ledger(shared),
        _ => Err(RpcError {
            code: -32601,
            message: "method not found".into(),
        }),
    }));
    match result {
        Ok(outcome) => outcome,
        Err(_) => Err(RpcError {
            code: -32603,
            message: "internal error".into(),
        }),
    }
}

fn get_str<'a>(params: &'a Value, name: &str) -> Result<&'a str, RpcError> {
    params
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_params(format!("{name}: a string is required")))
}

fn get_u32(params: &Value, name: &str) -> Result<Option<u32>, RpcError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid_params(format!("{name}: a number is required"))),
    }
}

fn latest(node: &Node) -> (u32, String) {
    (
        node.state.latest.sequence,
        node.state.latest.close_time.to_string(),
    )
}

fn get_health(shared: &Shared) -> Outcome {
    let node = shared.node.lock().unwrap();
    Ok(json!({
        "status": "healthy",
        "latestLedger": node.state.latest.sequence,
        "oldestLedger": node.state.oldest_ledger,
        "ledgerRetentionWindow": RETENTION_WINDOW,
    }))
}

fn get_network(shared: &Shared) -> Outcome {
    let node = shared.node.lock().unwrap();
    Ok(json!({
        "friendbotUrl": format!("http://127.0.0.1:{}/friendbot", shared.port),
        "passphrase": node.state.passphrase,
        "protocolVersion": PROTOCOL_VERSION,
    }))
}

fn get_latest_ledger(shared: &Shared) -> Outcome {
    let node = shared.node.lock().unwrap();
    let latest = &node.state.latest;
    Ok(json!({
        "id": latest.hash,
        "protocolVersion": PROTOCOL_VERSION,
        "sequence": latest.sequence,
        "closeTime": latest.close_time.to_string(),
        "headerXdr": latest.header_xdr,
        "metadataXdr": latest.metadata_xdr,
    }))
}

fn get_ledger_entries(shared: &Shared, params: &Value) -> Outcome {
    let keys = params
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_params("keys: a list is required"))?;
    if keys.is_empty() || keys.len() > MAX_LEDGER_ENTRIES_KEYS {
        return Err(invalid_params(format!(
            "keys: between 1 and {MAX_LEDGER_ENTRIES_KEYS} are allowed"
        )));
    }
    let mut parsed = Vec::new();
    for key in keys {
        let text = key
            .as_str()
            .ok_or_else(|| invalid_params("keys: strings are required"))?;
        let key: LedgerKey = from_b64(text)
            .map_err(|e| invalid_params(format!("cannot unmarshal key value {text}: {e}")))?;
        parsed.push((text.to_string(), key));
    }
    let node = shared.node.lock().unwrap();
    let ledger = node.state.latest.sequence;
    let mut entries = Vec::new();
    for (text, key) in parsed {
        if let LedgerKey::Ttl(ttl_key) = &key {
            // A TTL entry, as core keeps them beside the entry they belong to.
            if let Some((stored_key, stored)) = node.state.entries.iter().find(|(k, s)| {
                s.live_until.is_some() && sha256(&xdr_bytes(*k)) == ttl_key.key_hash.0
            }) {
                if node.state.live(stored_key, ledger + 1).is_some() {
                    let data = LedgerEntryData::Ttl(TtlEntry {
                        key_hash: ttl_key.key_hash.clone(),
                        live_until_ledger_seq: stored.live_until.unwrap_or_default(),
                    });
                    entries.push(json!({
                        "key": text,
                        "xdr": b64(&data),
                        "lastModifiedLedgerSeq": stored.entry.last_modified_ledger_seq,
                    }));
                }
            }
            continue;
        }
        let Some(stored) = node.state.live(&key, ledger + 1) else {
            continue;
        };
        let mut entry = json!({
            "key": text,
            "xdr": b64(&stored.entry.data),
            "lastModifiedLedgerSeq": stored.entry.last_modified_ledger_seq,
        });
        if let Some(until) = stored.live_until {
            entry["liveUntilLedgerSeq"] = json!(until);
        }
        entries.push(entry);
    }
    Ok(json!({"entries": entries, "latestLedger": ledger}))
}

fn tx_fields(record: &TxRecord) -> Value {
    json!({
        "status": if record.success { "SUCCESS" } else { "FAILED" },
        "txHash": record.hash,
        "applicationOrder": record.application_order,
        "feeBump": record.fee_bump,
        "envelopeXdr": record.envelope_xdr,
        "resultXdr": record.result_xdr,
        "resultMetaXdr": record.result_meta_xdr,
        "diagnosticEventsXdr": record.diagnostic_events_xdr,
        "events": {
            "transactionEventsXdr": [],
            "contractEventsXdr": record.contract_events_xdr,
        },
        "ledger": record.ledger,
        "createdAt": record.created_at.to_string(),
    })
}

fn get_transaction(shared: &Shared, params: &Value) -> Outcome {
    let hash = get_str(params, "hash")?.to_ascii_lowercase();
    if hash.len() != 64 || hex::decode(&hash).is_err() {
        return Err(invalid_params(format!(
            "unexpected hash length ({})",
            hash.len()
        )));
    }
    let node = shared.node.lock().unwrap();
    let state = &node.state;
    let mut answer = match state.txs.get(&hash) {
        Some(record) if record.ledger >= state.oldest_ledger => tx_fields(record),
        _ => json!({"status": "NOT_FOUND", "txHash": hash}),
    };
    answer["latestLedger"] = json!(state.latest.sequence);
    answer["latestLedgerCloseTime"] = json!(state.latest.close_time.to_string());
    answer["oldestLedger"] = json!(state.oldest_ledger);
    answer["oldestLedgerCloseTime"] = json!(state.oldest_close_time.to_string());
    Ok(answer)
}

fn parse_envelope(params: &Value, network_id: [u8; 32]) -> Result<TxView, RpcError> {
    let text = get_str(params, "transaction")?;
    let envelope: TransactionEnvelope =
        from_b64(text).map_err(|e| invalid_params(format!("invalid_xdr: {e}")))?;
    TxView::parse(envelope, network_id).map_err(|e| invalid_params(format!("invalid_xdr: {e}")))
}

fn send_transaction(shared: &Shared, params: &Value, lost: &mut bool) -> Outcome {
    let mut node = shared.node.lock().unwrap();
    let view = parse_envelope(params, node.network_id)?;
    let hash = view.hash_hex();
    let outcome = node.submit(view);
    let (sequence, close_time) = latest(&node);
    let mut answer = json!({
        "hash": hash,
        "latestLedger": sequence,
        "latestLedgerCloseTime": close_time,
    });
    match outcome {
        Submitted::Pending => answer["status"] = json!("PENDING"),
        Submitted::Duplicate => answer["status"] = json!("DUPLICATE"),
        Submitted::TryAgainLater => answer["status"] = json!("TRY_AGAIN_LATER"),
        Submitted::Error(result) => {
            answer["status"] = json!("ERROR");
            answer["errorResultXdr"] = json!(b64(&result));
        }
    }
    // The lost-reply fault: processed as above, then the connection closes without an answer.
    if node.faults.lose_responses > 0 {
        node.faults.lose_responses -= 1;
        *lost = true;
    }
    Ok(answer)
}

fn simulate_transaction(shared: &Shared, params: &Value) -> Outcome {
    let node = shared.node.lock().unwrap();
    let view = parse_envelope(params, node.network_id)?;
    let sequence = node.state.latest.sequence;
    let mut answer = json!({"latestLedger": sequence});
    let ops = &view.tx.operations;
    if ops.len() != 1 {
        answer["error"] = json!("Transaction contains more than one operation");
        return Ok(answer);
    }
    let ledger = sequence + 1;
    let info = config::ledger_info(&node.state.passphrase, ledger, node.state.latest.close_time);
    let mut adjustment = SimulationAdjustmentConfig::default_adjustment();
    if let Some(leeway) = params
        .get("resourceConfig")
        .and_then(|c| c.get("instructionLeeway"))
        .and_then(Value::as_u64)
    {
        adjustment.instructions = SimulationAdjustmentFactor::new(1.0, leeway as u32);
    }
    let snapshot = Snapshot::of(&node.state, all_keys, ledger);
    let transaction_data = match &ops[0].body {
        OperationBody::InvokeHostFunction(op) => {
            let auth_mode = match params.get("authMode").and_then(Value::as_str) {
                Some("enforce") => RecordingInvocationAuthMode::Enforcing(op.auth.to_vec()),
                Some("record") => recording(true, params),
                Some("record_allow_nonroot") => recording(false, params),
                Some(other) => return Err(invalid_params(format!("unknown authMode {other:?}"))),
                None if !op.auth.is_empty() => {
                    RecordingInvocationAuthMode::Enforcing(op.auth.to_vec())
                }
                None => recording(true, params),
            };
            let source = view.source();
            let seed = sha256(&[view.hash.as_slice(), b"simulation"].concat());
            let simulated =
                crate::soroban::simulate_invoke(&node, &source, op, auth_mode, &adjustment, seed);
            let simulated = match simulated {
                Ok(s) => s,
                Err(e) => {
                    answer["error"] = json!(e);
                    return Ok(answer);
                }
            };
            answer["events"] = json!(simulated
                .diagnostic_events
                .iter()
                .map(b64)
                .collect::<Vec<_>>());
            answer["cost"] = json!({
                "cpuInsns": simulated.simulated_instructions.to_string(),
                "memBytes": simulated.simulated_memory.to_string(),
            });
            match &simulated.invoke_result {
                Err(e) => {
                    answer["error"] = json!(format!("HostError: {:?}", e.error));
                    return Ok(answer);
                }
                Ok(value) => {
                    answer["results"] = json!([{
                        "auth": simulated.auth.iter().map(b64).collect::<Vec<_>>(),
                        "xdr": b64(value),
                    }]);
                }
            }
            answer["stateChanges"] = Value::Array(
                simulated
                    .modified_entries
                    .iter()
                    .filter_map(|diff| {
                        let entry = diff.state_after.as_ref().or(diff.state_before.as_ref())?;
                        let key = crate::state::key_of(entry);
                        let kind = match (&diff.state_before, &diff.state_after) {
                            (None, Some(_)) => "created",
                            (Some(_), None) => "deleted",
                            _ => "updated",
                        };
                        let mut change = json!({"type": kind, "key": b64(&key)});
                        if let Some(before) = &diff.state_before {
                            change["before"] = json!(b64(before));
                        }
                        if let Some(after) = &diff.state_after {
                            change["after"] = json!(b64(after));
                        }
                        Some(change)
                    })
                    .collect(),
            );
            simulated.transaction_data
        }
        OperationBody::ExtendFootprintTtl(op) => {
            let Some(data) = view.soroban_data() else {
                answer["error"] = json!("ExtendFootprintTtl needs the transaction's footprint");
                return Ok(answer);
            };
            let keys = data.resources.footprint.read_only.to_vec();
            match simulate_extend_ttl_op(
                &snapshot,
                &node.network,
                &adjustment,
                &info,
                &keys,
                op.extend_to,
            ) {
                Ok(r) => Some(r.transaction_data),
                Err(e) => {
                    answer["error"] = json!(format!("{e:#}"));
                    return Ok(answer);
                }
            }
        }
        OperationBody::RestoreFootprint(_) => {
            let Some(data) = view.soroban_data() else {
                answer["error"] = json!("RestoreFootprint needs the transaction's footprint");
                return Ok(answer);
            };
            let keys = data.resources.footprint.read_write.to_vec();
            match simulate_restore_op(&snapshot, &node.network, &adjustment, &info, &keys) {
                Ok(r) => Some(r.transaction_data),
                Err(e) => {
                    answer["error"] = json!(format!("{e:#}"));
                    return Ok(answer);
                }
            }
        }
        _ => {
            answer["error"] = json!("Transaction contains unsupported operation type");
            return Ok(answer);
        }
    };
    if let Some(data) = transaction_data {
        answer["minResourceFee"] = json!(data.resource_fee.to_string());
        answer["transactionData"] = json!(b64(&data));
    }
    Ok(answer)
}

fn recording(disable_non_root_auth: bool, params: &Value) -> RecordingInvocationAuthMode {
    let use_address_v2 = params
        .get("useUpgradedAuth")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    RecordingInvocationAuthMode::Recording(RecordingInvocationAuthParams::new(
        disable_non_root_auth,
        use_address_v2,
    ))
}

fn topic_matches(filter: &[Value], topics: &[String]) -> bool {
    let mut i = 0;
    for (n, segment) in filter.iter().enumerate() {
        let Some(segment) = segment.as_str() else {
            return false;
        };
        if segment == "**" && n == filter.len() - 1 {
            return true;
        }
        let Some(topic) = topics.get(i) else {
            return false;
        };
        if segment != "*" && segment != topic {
            return false;
        }
        i += 1;
    }
    i == topics.len()
}

fn get_events(shared: &Shared, params: &Value) -> Outcome {
    let node = shared.node.lock().unwrap();
    let state = &node.state;
    let (latest_ledger, oldest) = (state.latest.sequence, state.oldest_ledger);
    let pagination = params.get("pagination").cloned().unwrap_or(Value::Null);
    let cursor = pagination
        .get("cursor")
        .and_then(Value::as_str)
        .map(str::to_string);
    let limit = match pagination.get("limit") {
        None | Some(Value::Null) => DEFAULT_EVENTS_LIMIT,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 && (n as usize) <= MAX_EVENTS_LIMIT => n as usize,
            _ => {
                return Err(invalid_params(format!(
                    "limit must not exceed {MAX_EVENTS_LIMIT}"
                )))
            }
        },
    };
    let start = get_u32(params, "startLedger")?;
    let end = get_u32(params, "endLedger")?;
    if cursor.is_some() && (start.is_some() || end.is_some()) {
        return Err(invalid_params(
            "ledger ranges and cursor cannot both be set",
        ));
    }
    let start = match (&cursor, start) {
        (Some(_), _) => oldest,
        (None, Some(start)) => {
            if start < oldest || start > latest_ledger {
                return Err(invalid_params(format!(
                    "startLedger must be between the oldest ledger: {oldest} and the latest ledger: {latest_ledger}"
                )));
            }
            start
        }
        (None, None) => return Err(invalid_params("startLedger must be positive")),
    };
    let end = end.unwrap_or(latest_ledger + 1);
    if end <= start {
        return Err(invalid_params("endLedger must be after startLedger"));
    }
    let filters = match params.get("filters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(f)) if f.len() <= 5 => f.clone(),
        Some(_) => return Err(invalid_params("filters: at most 5 are allowed")),
    };
    let matches = |event: &crate::state::EventRecord| {
        filters.is_empty()
            || filters.iter().any(|filter| {
                let type_ok = match filter.get("type").and_then(Value::as_str) {
                    None => true,
                    Some(t) => t == event.event_type,
                };
                let contract_ok = match filter.get("contractIds").and_then(Value::as_array) {
                    None => true,
                    Some(ids) => {
                        ids.is_empty()
                            || ids.iter().any(|id| id.as_str() == Some(&event.contract_id))
                    }
                };
                let topics_ok = match filter.get("topics").and_then(Value::as_array) {
                    None => true,
                    Some(topics) => {
                        topics.is_empty()
                            || topics.iter().any(|t| {
                                t.as_array().is_some_and(|segments| {
                                    topic_matches(segments, &event.topics_xdr)
                                })
                            })
                    }
                };
                type_ok && contract_ok && topics_ok
            })
    };
    let mut events = Vec::new();
    for event in &state.events {
        if event.ledger < start.max(oldest) || event.ledger >= end {
            continue;
        }
        if cursor
            .as_ref()
            .is_some_and(|c| event.id.as_str() <= c.as_str())
        {
            continue;
        }
        if !matches(event) {
            continue;
        }
        events.push(event);
        if events.len() >= limit {
            break;
        }
    }
    let next_cursor = match events.last() {
        Some(last) if events.len() >= limit => last.id.clone(),
        _ => crate::ledger::event_id(end.min(latest_ledger + 1), 0, 0, 0),
    };
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({
                "type": e.event_type,
                "ledger": e.ledger,
                "ledgerClosedAt": iso8601(e.ledger_closed_at),
                "contractId": e.contract_id,
                "id": e.id,
                "operationIndex": e.operation_index,
                "transactionIndex": e.transaction_index,
                "txHash": e.tx_hash,
                "topic": e.topics_xdr,
                "value": e.value_xdr,
            })
        })
        .collect();
    Ok(json!({
        "events": events,
        "cursor": next_cursor,
        "latestLedger": latest_ledger,
        "oldestLedger": oldest,
        "latestLedgerCloseTime": state.latest.close_time.to_string(),
        "oldestLedgerCloseTime": state.oldest_close_time.to_string(),
    }))
}

/// Seconds since the epoch as `2024-01-31T12:00:00Z`.
pub fn iso8601(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn distribution(mut fees: Vec<i64>, ledgers: usize) -> Value {
    let count = fees.len();
    if fees.is_empty() {
        fees.push(config::BASE_FEE);
    }
    fees.sort_unstable();
    let pick =
        |p: usize| fees[((fees.len() * p).div_ceil(100)).clamp(1, fees.len()) - 1].to_string();
    let mut mode = (fees[0], 0usize);
    let mut run = (fees[0], 0usize);
    for &fee in &fees {
        run = if fee == run.0 {
            (fee, run.1 + 1)
        } else {
            (fee, 1)
        };
        if run.1 > mode.1 {
            mode = run;
        }
    }
    json!({
        "max": fees[fees.len() - 1].to_string(),
        "min": fees[0].to_string(),
        "mode": mode.0.to_string(),
        "p10": pick(10), "p20": pick(20), "p30": pick(30), "p40": pick(40), "p50": pick(50),
        "p60": pick(60), "p70": pick(70), "p80": pick(80), "p90": pick(90), "p95": pick(95),
        "p99": pick(99),
        "transactionCount": count.to_string(),
        "ledgerCount": ledgers,
    })
}

fn get_fee_stats(shared: &Shared) -> Outcome {
    let node = shared.node.lock().unwrap();
    let history = &node.state.fee_history;
    let classic: Vec<i64> = history
        .iter()
        .flat_map(|(_, c, _)| c.iter().copied())
        .collect();
    let soroban: Vec<i64> = history
        .iter()
        .flat_map(|(_, _, s)| s.iter().copied())
        .collect();
    Ok(json!({
        "sorobanInclusionFee": distribution(soroban, history.len()),
        "inclusionFee": distribution(classic, history.len()),
        "latestLedger": node.state.latest.sequence,
    }))
}

// --- test switches ---------------------------------------------------------------------------

fn kazi_faults(shared: &Shared, params: &Value) -> Outcome {
    let mut node = shared.node.lock().unwrap();
    if let Some(n) = get_u32(params, "loseResponses")? {
        node.faults.lose_responses = n;
    }
    if let Some(hold) = params.get("holdTransactions") {
        let count = get_u32(hold, "count")?.unwrap_or(1);
        let ledgers = get_u32(hold, "ledgers")?
            .ok_or_else(|| invalid_params("holdTransactions.ledgers is required"))?;
        node.faults.hold = (count > 0 && ledgers > 0).then_some((count, ledgers));
    }
    if let Some(n) = get_u32(params, "dropTransactions")? {
        node.faults.drop_next = n;
    }
    if let Some(n) = get_u32(params, "unavailable")? {
        node.faults.unavailable = n;
    }
    if let Some(spec) = params.get("unavailableFor") {
        let method = get_str(spec, "method")?.to_string();
        let count = get_u32(spec, "count")?.unwrap_or(1);
        node.faults.unavailable_for = (count > 0).then_some((method, count));
    }
    if params.get("forgetHistory").and_then(Value::as_bool) == Some(true) {
        // The RPC's history now starts at the latest ledger: older transactions are NOT_FOUND.
        let (sequence, close_time) = (node.state.latest.sequence, node.state.latest.close_time);
        node.state.oldest_ledger = sequence;
        node.state.oldest_close_time = close_time;
        node.dirty = true;
    }
    let faults = node.faults.clone();
    Ok(json!({
        "loseResponses": faults.lose_responses,
        "holdTransactions": faults.hold.map(|(c, l)| json!({"count": c, "ledgers": l})),
        "dropTransactions": faults.drop_next,
        "unavailable": faults.unavailable,
        "unavailableFor": faults.unavailable_for.map(|(m, c)| json!({"method": m, "count": c})),
        "queued": node.queue_len(),
    }))
}

fn kazi_skip_ledgers(shared: &Shared, params: &Value) -> Outcome {
    let count = get_u32(params, "count")?.ok_or_else(|| invalid_params("count is required"))?;
    if count == 0 {
        return Err(invalid_params("count must be positive"));
    }
    let mut node = shared.node.lock().unwrap();
    let seconds = get_u32(params, "secondsEach")?.map(u64::from).unwrap_or(0);
    node.skip_ledgers(count, seconds, now());
    let _ = save(shared, &mut node);
    shared.closed.notify_all();
    Ok(
        json!({"sequence": node.state.latest.sequence, "closeTime": node.state.latest.close_time.to_string()}),
    )
}

fn kazi_close_ledger(shared: &Shared) -> Outcome {
    let mut node = shared.node.lock().unwrap();
    node.close_ledger(now());
    let _ = save(shared, &mut node);
    shared.closed.notify_all();
    Ok(json!({"sequence": node.state.latest.sequence}))
}

pub fn save(shared: &Shared, node: &mut Node) -> std::io::Result<()> {
    node.state.save(&shared.state_path)?;
    node.dirty = false;
    Ok(())
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// --- friendbot -------------------------------------------------------------------------------

fn problem(status: u16, title: &str, detail: &str, extras: Value) -> Reply {
    let body = json!({
        "type": format!("https://stellar.org/horizon-errors/{}", title.to_lowercase().replace(' ', "_")),
        "title": title,
        "status": status,
        "detail": detail,
        "extras": extras,
    });
    Reply::Json(status, body.to_string().into_bytes())
}

/// testnet's friendbot: `GET /friendbot?addr=G...` creates the account with 10,000 XLM from the
/// root account, by a transaction like any other, and answers once it is in a ledger.
fn friendbot(shared: &Shared, query: &str) -> Reply {
    let Some(address) = query_value(query, "addr") else {
        return problem(400, "Bad Request", "addr is required", json!({}));
    };
    let Ok(key) = stellar_strkey::ed25519::PublicKey::from_string(&address) else {
        return problem(
            400,
            "Bad Request",
            "addr is not a valid account address",
            json!({}),
        );
    };
    let destination = AccountId(PublicKey::PublicKeyTypeEd25519(Uint256(key.0)));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut node = shared.node.lock().unwrap();
    if node
        .state
        .get(&LedgerKey::Account(LedgerKeyAccount {
            account_id: destination.clone(),
        }))
        .is_some()
    {
        return problem(
            400,
            "Bad Request",
            "account already funded to starting balance",
            json!({"result_codes": {"transaction": "tx_failed", "operations": ["op_already_exists"]}}),
        );
    }
    let hash = loop {
        let view = node.friendbot_transaction(destination.clone());
        let hash = view.hash_hex();
        match node.submit(view) {
            Submitted::Pending | Submitted::Duplicate => break hash,
            Submitted::TryAgainLater if Instant::now() < deadline => {
                node = shared
                    .closed
                    .wait_timeout(node, Duration::from_millis(200))
                    .unwrap()
                    .0;
            }
            Submitted::TryAgainLater => {
                return problem(503, "Timeout", "friendbot is busy; try again", json!({}))
            }
            Submitted::Error(result) => {
                return problem(
                    400,
                    "Transaction Failed",
                    "friendbot's transaction was refused",
                    json!({"result_xdr": b64(&result)}),
                )
            }
        }
    };
    loop {
        if let Some(record) = node.state.txs.get(&hash) {
            let record = record.clone();
            if !record.success {
                return problem(
                    400,
                    "Transaction Failed",
                    "friendbot's transaction failed",
                    json!({"result_xdr": record.result_xdr}),
                );
            }
            let body = json!({
                "hash": record.hash,
                "ledger": record.ledger,
                "successful": true,
                "envelope_xdr": record.envelope_xdr,
                "result_xdr": record.result_xdr,
                "result_meta_xdr": record.result_meta_xdr,
            });
            return Reply::Json(200, body.to_string().into_bytes());
        }
        if Instant::now() >= deadline {
            return problem(
                504,
                "Timeout",
                "friendbot's transaction is still pending",
                json!({"hash": hash}),
            );
        }
        node = shared
            .closed
            .wait_timeout(node, Duration::from_millis(200))
            .unwrap()
            .0;
    }
}
