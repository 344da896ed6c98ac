//! The network itself: what stellar-core checks when a transaction is submitted, the queue
//! (one pending transaction per source account), and closing a ledger (fees charged, sequence
//! numbers used, operations applied: classic ones here, Soroban ones by the host in enforcing
//! mode, fees refunded).

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signer as _, SigningKey, Verifier, VerifyingKey};
use soroban_env_host::budget::Budget;
use soroban_env_host::fees::{
    compute_rent_fee, compute_transaction_resource_fee, LedgerEntryRentChange, TransactionResources,
};
use soroban_env_host::xdr::{
    AccountEntry, AccountEntryExt, AccountEntryExtensionV1, AccountEntryExtensionV1Ext,
    AccountEntryExtensionV2, AccountEntryExtensionV2Ext, AccountEntryExtensionV3, AccountId,
    AlphaNum12, AlphaNum4, Asset, ChangeTrustAsset, ChangeTrustOp, ChangeTrustResult,
    ContractDataDurability, ContractEvent, ContractEventBody, ContractEventType, CreateAccountOp,
    CreateAccountResult, DecoratedSignature, DiagnosticEvent, ExtendFootprintTtlResult,
    ExtensionPoint, FeeBumpTransaction, FeeBumpTransactionEnvelope, FeeBumpTransactionExt,
    FeeBumpTransactionInnerTx, Hash, InnerTransactionResult, InnerTransactionResultExt,
    InnerTransactionResultPair, InnerTransactionResultResult, InvokeHostFunctionResult,
    InvokeHostFunctionSuccessPreImage, LedgerEntry, LedgerEntryChange, LedgerEntryChanges,
    LedgerEntryData, LedgerEntryExt, LedgerKey, LedgerKeyAccount, LedgerKeyTrustLine, Liabilities,
    Memo, MuxedAccount, Operation, OperationBody, OperationMetaV2, OperationResult,
    OperationResultTr, PaymentOp, PaymentResult, Preconditions, PublicKey, RestoreFootprintResult,
    ScVal, SequenceNumber, SignatureHint, SignerKey, SorobanTransactionData,
    SorobanTransactionDataExt, SorobanTransactionMetaExt, SorobanTransactionMetaExtV1,
    SorobanTransactionMetaV2, String32, Thresholds, TimeBounds, TimePoint, Transaction,
    TransactionEnvelope, TransactionExt, TransactionMeta, TransactionMetaV4, TransactionResult,
    TransactionResultExt, TransactionResultResult, TransactionV1Envelope, TrustLineAsset,
    TrustLineEntry, TrustLineEntryExt, TtlEntry, Uint256, VecM,
};
use soroban_env_host::{Host, ModuleCache};
use soroban_simulation::NetworkConfig;

use crate::config::{self, *};
use crate::state::{self, b64, durability, key_of, sha256, xdr_bytes, State, Stored, TxRecord};

/// Trustline flag: the issuer lets the holder hold and move the asset.
const AUTHORIZED_FLAG: u32 = 1;
/// Account flag: the issuer must authorise each trustline.
const AUTH_REQUIRED_FLAG: u32 = 1;

/// A transaction as this network sees it: the (inner) transaction, its signatures, and the
/// fee-bump wrapper if any.
#[derive(Clone, Debug)]
pub struct TxView {
    pub envelope: TransactionEnvelope,
    pub hash: [u8; 32],
    pub inner_hash: [u8; 32],
    pub tx: Transaction,
    pub signatures: Vec<DecoratedSignature>,
    pub fee_bump: Option<FeeBump>,
    pub size: u32,
}

#[derive(Clone, Debug)]
pub struct FeeBump {
    pub fee_source: AccountId,
    pub fee: i64,
    pub signatures: Vec<DecoratedSignature>,
}

impl TxView {
    pub fn parse(envelope: TransactionEnvelope, network_id: [u8; 32]) -> Result<Self, String> {
        let hash = envelope.hash(network_id).map_err(|e| e.to_string())?;
        let size = xdr_bytes(&envelope).len() as u32;
        let (tx, signatures, fee_bump, inner_hash) = match &envelope {
            TransactionEnvelope::TxV0(v0) => (
                Transaction::from(&v0.tx),
                v0.signatures.to_vec(),
                None,
                hash,
            ),
            TransactionEnvelope::Tx(v1) => (v1.tx.clone(), v1.signatures.to_vec(), None, hash),
            TransactionEnvelope::TxFeeBump(fb) => {
                let FeeBumpTransactionInnerTx::Tx(inner) = &fb.tx.inner_tx;
                let inner_hash = inner.hash(network_id).map_err(|e| e.to_string())?;
                (
                    inner.tx.clone(),
                    inner.signatures.to_vec(),
                    Some(FeeBump {
                        fee_source: account_of(&fb.tx.fee_source),
                        fee: fb.tx.fee,
                        signatures: fb.signatures.to_vec(),
                    }),
                    inner_hash,
                )
            }
        };
        Ok(TxView {
            envelope,
            hash,
            inner_hash,
            tx,
            signatures,
            fee_bump,
            size,
        })
    }

    pub fn source(&self) -> AccountId {
        account_of(&self.tx.source_account)
    }

    pub fn fee_source(&self) -> AccountId {
        self.fee_bump
            .as_ref()
            .map(|fb| fb.fee_source.clone())
            .unwrap_or_else(|| self.source())
    }

    pub fn soroban_data(&self) -> Option<&SorobanTransactionData> {
        match &self.tx.ext {
            TransactionExt::V1(data) => Some(data),
            TransactionExt::V0 => None,
        }
    }

    pub fn resource_fee(&self) -> i64 {
        self.soroban_data().map_or(0, |d| d.resource_fee)
    }

    pub fn full_fee(&self) -> i64 {
        self.fee_bump
            .as_ref()
            .map_or(self.tx.fee as i64, |fb| fb.fee)
    }

    /// Operations the inclusion fee is counted over (a fee bump counts as one more).
    pub fn fee_ops(&self) -> i64 {
        self.tx.operations.len() as i64 + i64::from(self.fee_bump.is_some())
    }

    pub fn inclusion_fee(&self) -> i64 {
        self.full_fee() - self.resource_fee()
    }

    /// What the fee source pays before the refund: the declared resource fee and the inclusion
    /// fee at the ledger's base fee (no surge pricing on a network this quiet).
    pub fn fee_charged_upfront(&self) -> i64 {
        self.resource_fee() + self.inclusion_fee().min(BASE_FEE * self.fee_ops())
    }

    pub fn time_bounds(&self) -> Option<TimeBounds> {
        match &self.tx.cond {
            Preconditions::None => None,
            Preconditions::Time(tb) => Some(tb.clone()),
            Preconditions::V2(v2) => v2.time_bounds.clone(),
        }
    }

    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

pub fn account_of(muxed: &MuxedAccount) -> AccountId {
    match muxed {
        MuxedAccount::Ed25519(key) => AccountId(PublicKey::PublicKeyTypeEd25519(key.clone())),
        MuxedAccount::MuxedEd25519(m) => {
            AccountId(PublicKey::PublicKeyTypeEd25519(m.ed25519.clone()))
        }
    }
}

fn account_bytes(id: &AccountId) -> [u8; 32] {
    let PublicKey::PublicKeyTypeEd25519(Uint256(bytes)) = &id.0;
    *bytes
}

pub fn account_key(id: &AccountId) -> LedgerKey {
    LedgerKey::Account(LedgerKeyAccount {
        account_id: id.clone(),
    })
}

pub fn strkey_account(id: &AccountId) -> String {
    stellar_strkey::ed25519::PublicKey(account_bytes(id)).to_string()
}

/// Outcome codes before application, for a plain transaction or a fee bump's inner one.
#[derive(Clone, Debug)]
pub enum Refusal {
    Outer(TransactionResultResult),
    Inner(InnerTransactionResultResult),
}

/// Faults asked for by tests (`kazi_faults`).
#[derive(Default, Debug, Clone)]
pub struct Faults {
    /// sendTransaction calls whose transaction is accepted but whose answer is lost.
    pub lose_responses: u32,
    /// (how many of the next accepted transactions, ledgers each waits before it is applied)
    pub hold: Option<(u32, u32)>,
    /// Accepted transactions dropped from the queue at the next close, never applied (as core
    /// drops a transaction whose time bounds pass while it waits: txTOO_LATE).
    pub drop_next: u32,
    /// HTTP requests answered 503 before anything is read.
    pub unavailable: u32,
    /// (JSON-RPC method, how many of its calls) answered 503 without being processed.
    pub unavailable_for: Option<(String, u32)>,
}

#[derive(Clone, Debug)]
struct Pending {
    view: TxView,
    wait_ledgers: u32,
    drop: bool,
}

pub enum Submitted {
    Pending,
    Duplicate,
    TryAgainLater,
    Error(TransactionResult),
}

pub struct Node {
    pub state: State,
    /// Every live contract's parsed module, as stellar-core keeps them: an invocation pays to
    /// instantiate a cached module, not to parse it (uploads join the cache when their ledger
    /// closes; archived code leaves it).
    pub module_cache: ModuleCache,
    cached_modules: BTreeSet<Hash>,
    pub network: NetworkConfig,
    pub network_id: [u8; 32],
    pub close_interval_ms: u64,
    pub faults: Faults,
    queue: Vec<Pending>,
    pub dirty: bool,
    root: SigningKey,
}

/// Changes to entries made by a transaction not yet committed (None: removed).
type Changes = BTreeMap<LedgerKey, Option<Stored>>;

fn view_of<'a>(base: &'a State, changes: &'a Changes, key: &LedgerKey) -> Option<&'a Stored> {
    match changes.get(key) {
        Some(change) => change.as_ref(),
        None => base.get(key),
    }
}

impl Node {
    pub fn new(state: State, close_interval_ms: u64) -> Self {
        let network_id = config::network_id(&state.passphrase);
        // The root account's key is derived from the passphrase, as stellar-core's is.
        let root = SigningKey::from_bytes(&network_id);
        let mut node = Node {
            state,
            module_cache: ModuleCache::new(&Host::default()).expect("a module cache"),
            cached_modules: BTreeSet::new(),
            network: config::network_config(),
            network_id,
            close_interval_ms,
            faults: Faults::default(),
            queue: Vec::new(),
            dirty: false,
            root,
        };
        node.refresh_module_cache();
        node
    }

    /// Parses the live contract code not cached yet and drops what expired, between ledgers.
    pub fn refresh_module_cache(&mut self) {
        let next = self.latest_ledger() + 1;
        for stored in self.state.entries.values() {
            let LedgerEntryData::ContractCode(code) = &stored.entry.data else {
                continue;
            };
            let live = !stored.expired_at(next);
            if live && !self.cached_modules.contains(&code.hash) {
                let context = Host::default();
                match self.module_cache.parse_and_cache_module_simple(
                    &context,
                    PROTOCOL_VERSION,
                    code.code.as_slice(),
                ) {
                    Ok(()) => {
                        self.cached_modules.insert(code.hash.clone());
                    }
                    Err(e) => eprintln!(
                        "localnet: cannot cache module {}: {e:?}",
                        hex::encode(code.hash.0)
                    ),
                }
            } else if !live && self.cached_modules.remove(&code.hash) {
                let _ = self.module_cache.remove_module(&code.hash);
            }
        }
    }

    pub fn root_account(&self) -> AccountId {
        AccountId(PublicKey::PublicKeyTypeEd25519(Uint256(
            self.root.verifying_key().to_bytes(),
        )))
    }

    /// A brand-new network: ledger 1 with the root account holding every lumen.
    pub fn genesis(passphrase: &str, now: u64) -> State {
        let network_id = config::network_id(passphrase);
        let root = SigningKey::from_bytes(&network_id);
        let root_id = AccountId(PublicKey::PublicKeyTypeEd25519(Uint256(
            root.verifying_key().to_bytes(),
        )));
        let mut state = State {
            passphrase: passphrase.to_string(),
            entries: BTreeMap::new(),
            latest: state::LedgerRecord {
                sequence: 1,
                close_time: now,
                hash: hex::encode([0u8; 32]),
                header_xdr: String::new(),
                metadata_xdr: String::new(),
            },
            oldest_ledger: 1,
            oldest_close_time: now,
            txs: BTreeMap::new(),
            events: Vec::new(),
            fee_history: Vec::new(),
        };
        let entry = new_account_entry(root_id, TOTAL_COINS, 0, 1);
        state.entries.insert(
            key_of(&entry),
            Stored {
                entry,
                live_until: None,
            },
        );
        crate::ledger::finish_ledger(&mut state, [0u8; 32], Vec::new());
        state
    }

    pub fn latest_ledger(&self) -> u32 {
        self.state.latest.sequence
    }

    pub fn queued(&self, hash: &[u8; 32]) -> bool {
        self.queue.iter().any(|p| &p.view.hash == hash)
    }

    // --- submission --------------------------------------------------------------------------

    /// sendTransaction: the queue's rules, then core's validity checks against the last closed
    /// ledger.
    pub fn submit(&mut self, view: TxView) -> Submitted {
        if self.queued(&view.hash) {
            return Submitted::Duplicate;
        }
        // One transaction per source account in the queue at a time, as stellar-core's
        // TransactionQueue: a fee source may pay for several (a fee bump over channel accounts)
        // as long as its balance covers all their fees.
        let source = view.source();
        if self.queue.iter().any(|p| p.view.source() == source) {
            return Submitted::TryAgainLater;
        }
        let next = self.latest_ledger() + 1;
        let close_time = self.state.latest.close_time;
        if let Err(refusal) = self.check_valid(&view, &BTreeMap::new(), next, close_time, true) {
            return Submitted::Error(self.refused_result(&view, refusal));
        }
        let fee_source = view.fee_source();
        let queued_fees: i64 = self
            .queue
            .iter()
            .filter(|p| p.view.fee_source() == fee_source)
            .map(|p| p.view.fee_charged_upfront())
            .sum();
        let payer = view_of(&self.state, &BTreeMap::new(), &account_key(&fee_source))
            .map(|s| available_balance(as_account(&s.entry)))
            .unwrap_or_default();
        if payer - view.fee_charged_upfront() < queued_fees {
            let refusal = match view.fee_bump {
                Some(_) => Refusal::Outer(TransactionResultResult::TxInsufficientBalance),
                None => Refusal::Inner(InnerTransactionResultResult::TxInsufficientBalance),
            };
            return Submitted::Error(self.refused_result(&view, refusal));
        }
        let mut pending = Pending {
            view,
            wait_ledgers: 0,
            drop: false,
        };
        if let Some((count, ledgers)) = self.faults.hold {
            pending.wait_ledgers = ledgers;
            self.faults.hold = (count > 1).then(|| (count - 1, ledgers));
        }
        if self.faults.drop_next > 0 {
            self.faults.drop_next -= 1;
            pending.drop = true;
        }
        self.queue.push(pending);
        Submitted::Pending
    }

    /// The result a refused transaction gets (sendTransaction's errorResultXdr).
    pub fn refused_result(&self, view: &TxView, refusal: Refusal) -> TransactionResult {
        let result = match (refusal, &view.fee_bump) {
            (Refusal::Outer(code), _) => code,
            (Refusal::Inner(code), Some(_)) => {
                TransactionResultResult::TxFeeBumpInnerFailed(InnerTransactionResultPair {
                    transaction_hash: Hash(view.inner_hash),
                    result: InnerTransactionResult {
                        fee_charged: view.fee_charged_upfront(),
                        result: code,
                        ext: InnerTransactionResultExt::V0,
                    },
                })
            }
            (Refusal::Inner(code), None) => outer_code(code),
        };
        TransactionResult {
            fee_charged: view.fee_charged_upfront(),
            result,
            ext: TransactionResultExt::V0,
        }
    }

    /// stellar-core's checkValid: fees, time bounds, accounts, sequence number, signatures,
    /// balance, Soroban resources. Returns the non-refundable resource fee of a Soroban
    /// transaction.
    fn check_valid(
        &self,
        view: &TxView,
        changes: &Changes,
        ledger: u32,
        close_time: u64,
        check_signatures: bool,
    ) -> Result<i64, Refusal> {
        use InnerTransactionResultResult as I;
        use TransactionResultResult as O;
        let tx = &view.tx;
        // The fee bump's own checks come first.
        if let Some(fb) = &view.fee_bump {
            if fb.fee < view.resource_fee() || view.inclusion_fee() < BASE_FEE * view.fee_ops() {
                return Err(Refusal::Outer(O::TxInsufficientFee));
            }
            if fb.fee < tx.fee as i64 {
                return Err(Refusal::Outer(O::TxInsufficientFee));
            }
            let Some(fee_source) = view_of(&self.state, changes, &account_key(&fb.fee_source))
            else {
                return Err(Refusal::Outer(O::TxNoAccount));
            };
            if check_signatures {
                let hash = view.hash;
                let mut used = vec![false; fb.signatures.len()];
                let account = as_account(&fee_source.entry);
                if !signed_enough(
                    &fb.signatures,
                    &mut used,
                    &hash,
                    account,
                    threshold(account, 0),
                ) {
                    return Err(Refusal::Outer(O::TxBadAuth));
                }
                if used.iter().any(|u| !u) {
                    return Err(Refusal::Outer(O::TxBadAuthExtra));
                }
            }
        }
        if tx.operations.is_empty() {
            return Err(Refusal::Inner(I::TxMissingOperation));
        }
        let soroban_ops = tx
            .operations
            .iter()
            .filter(|op| is_soroban(&op.body))
            .count();
        let data = view.soroban_data();
        if soroban_ops > 0 && (tx.operations.len() != 1 || data.is_none()) {
            return Err(Refusal::Inner(I::TxMalformed));
        }
        if soroban_ops == 0 && data.is_some() {
            return Err(Refusal::Inner(I::TxMalformed));
        }
        if view.fee_bump.is_none() {
            if (tx.fee as i64) < view.resource_fee() {
                return Err(Refusal::Inner(I::TxSorobanInvalid));
            }
            if view.inclusion_fee() < BASE_FEE * view.fee_ops() {
                return Err(Refusal::Inner(I::TxInsufficientFee));
            }
        }
        if let Some(tb) = view.time_bounds() {
            if tb.min_time.0 > close_time {
                return Err(Refusal::Inner(I::TxTooEarly));
            }
            if tb.max_time.0 != 0 && tb.max_time.0 < close_time {
                return Err(Refusal::Inner(I::TxTooLate));
            }
        }
        if let Preconditions::V2(v2) = &tx.cond {
            if let Some(lb) = &v2.ledger_bounds {
                if lb.min_ledger > ledger {
                    return Err(Refusal::Inner(I::TxTooEarly));
                }
                if lb.max_ledger != 0 && lb.max_ledger <= ledger {
                    return Err(Refusal::Inner(I::TxTooLate));
                }
            }
            if v2.min_seq_num.is_some()
                || v2.min_seq_age.0 != 0
                || v2.min_seq_ledger_gap != 0
                || !v2.extra_signers.is_empty()
            {
                return Err(Refusal::Inner(I::TxNotSupported));
            }
        }
        let Some(source) = view_of(&self.state, changes, &account_key(&view.source())) else {
            return Err(Refusal::Inner(I::TxNoAccount));
        };
        let source = as_account(&source.entry);
        if tx.seq_num.0 != source.seq_num.0 + 1 {
            return Err(Refusal::Inner(I::TxBadSeq));
        }
        if check_signatures {
            let mut used = vec![false; view.signatures.len()];
            let hash = view.inner_hash;
            if !signed_enough(
                &view.signatures,
                &mut used,
                &hash,
                source,
                threshold(source, 0),
            ) {
                return Err(Refusal::Inner(I::TxBadAuth));
            }
            for op in tx.operations.iter() {
                let op_source = op
                    .source_account
                    .as_ref()
                    .map(account_of)
                    .unwrap_or_else(|| view.source());
                let Some(account) = view_of(&self.state, changes, &account_key(&op_source)) else {
                    // The operation fails when applied (opNO_ACCOUNT); nothing to check here.
                    continue;
                };
                let account = as_account(&account.entry);
                let needed = threshold(account, op_threshold(&op.body));
                if !signed_enough(&view.signatures, &mut used, &hash, account, needed) {
                    return Err(Refusal::Inner(I::TxBadAuth));
                }
            }
            if used.iter().any(|u| !u) {
                return Err(Refusal::Inner(I::TxBadAuthExtra));
            }
        }
        // The fee source must be able to pay the whole fee above its reserve.
        let fee_source = view_of(&self.state, changes, &account_key(&view.fee_source()))
            .map(|s| as_account(&s.entry).clone());
        let Some(fee_source) = fee_source else {
            return Err(Refusal::Outer(TransactionResultResult::TxNoAccount));
        };
        if available_balance(&fee_source) < view.fee_charged_upfront() {
            return Err(match view.fee_bump {
                Some(_) => Refusal::Outer(O::TxInsufficientBalance),
                None => Refusal::Inner(I::TxInsufficientBalance),
            });
        }
        match data {
            Some(data) => self.check_soroban(view, data).map_err(Refusal::Inner),
            None => Ok(0),
        }
    }

    /// The declared Soroban resources: within the network's limits, and a resource fee that
    /// covers at least the non-refundable part they cost.
    fn check_soroban(
        &self,
        view: &TxView,
        data: &SorobanTransactionData,
    ) -> Result<i64, InnerTransactionResultResult> {
        let invalid = InnerTransactionResultResult::TxSorobanInvalid;
        let resources = &data.resources;
        let footprint = &resources.footprint;
        let entries = footprint.read_only.len() + footprint.read_write.len();
        let archived: &[u32] = match &data.ext {
            SorobanTransactionDataExt::V0 => &[],
            SorobanTransactionDataExt::V1(ext) => &ext.archived_soroban_entries,
        };
        if resources.instructions > TX_MAX_INSTRUCTIONS
            || resources.disk_read_bytes > TX_MAX_DISK_READ_BYTES
            || resources.write_bytes > TX_MAX_WRITE_BYTES
            || footprint.read_write.len() as u32 > TX_MAX_WRITE_ENTRIES
            || entries as u32 > TX_MAX_FOOTPRINT_ENTRIES
            || disk_read_entries(data) > TX_MAX_DISK_READ_ENTRIES
            || view.size > TX_MAX_SIZE_BYTES
            || data.resource_fee < 0
            || archived
                .iter()
                .any(|&i| i as usize >= footprint.read_write.len())
        {
            return Err(invalid);
        }
        let non_refundable = non_refundable_fee(data, view.size);
        if data.resource_fee < non_refundable {
            return Err(invalid);
        }
        Ok(non_refundable)
    }

    // --- closing a ledger ----------------------------------------------------------------------

    /// Closes the next ledger: every queued transaction whose turn has come is applied in the
    /// order it arrived. Returns whether anything was applied.
    pub fn close_ledger(&mut self, now: u64) -> bool {
        let sequence = self.latest_ledger() + 1;
        // The ledger's clock is the wall clock, never going back. (SCP makes each close time
        // strictly later; ledgers closing faster than a second apart here share a second, so
        // that time bounds set from the wall clock mean what they mean on a real network.)
        let close_time = now.max(self.state.latest.close_time);
        let mut applied = Vec::new();
        let mut keep = Vec::new();
        for mut pending in std::mem::take(&mut self.queue) {
            if pending.drop {
                eprintln!(
                    "localnet: dropped {} from the queue (fault)",
                    pending.view.hash_hex()
                );
                continue;
            }
            if pending.wait_ledgers > 0 {
                pending.wait_ledgers -= 1;
                keep.push(pending);
                continue;
            }
            applied.push(pending.view);
        }
        self.queue = keep;
        let mut records = Vec::new();
        for view in applied {
            // What core would not have put in the tx set: no longer valid at this close time.
            if let Err(refusal) =
                self.check_valid(&view, &BTreeMap::new(), sequence, close_time, false)
            {
                eprintln!(
                    "localnet: {} no longer valid at ledger {sequence}: {refusal:?}; dropped",
                    view.hash_hex()
                );
                continue;
            }
            let order = records.len() as u32 + 1;
            records.push(self.apply(&view, sequence, close_time, order));
        }
        let any = !records.is_empty();
        crate::ledger::close(&mut self.state, sequence, close_time, records);
        self.dirty |= any;
        self.refresh_module_cache();
        any
    }

    /// Moves the ledger on by `count` empty ledgers at once (tests: TTLs), its clock by
    /// `seconds_each` per ledger (0: the wall clock's).
    pub fn skip_ledgers(&mut self, count: u32, seconds_each: u64, now: u64) {
        let sequence = self.latest_ledger() + count;
        let close_time = (self.state.latest.close_time + seconds_each * count as u64).max(now);
        crate::ledger::close(&mut self.state, sequence, close_time, Vec::new());
        self.dirty = true;
        self.refresh_module_cache();
    }

    /// Applies one transaction that passed its checks: fee and sequence number first, then the
    /// operations (all or nothing), then the refund.
    fn apply(&mut self, view: &TxView, ledger: u32, close_time: u64, order: u32) -> TxRecord {
        let mut before = Vec::new();
        let fee_key = account_key(&view.fee_source());
        let charged = view.fee_charged_upfront();
        self.update_account(&fee_key, &mut before, ledger, |a| a.balance -= charged);
        let seq = view.tx.seq_num.clone();
        self.update_account(&account_key(&view.source()), &mut before, ledger, |a| {
            a.seq_num = seq.clone();
            record_sequence_change(a, ledger, close_time);
        });

        let mut changes: Changes = BTreeMap::new();
        let mut op_results = Vec::new();
        let mut op_metas = Vec::new();
        let mut contract_events: Vec<Vec<ContractEvent>> = Vec::new();
        let mut diagnostics: Vec<DiagnosticEvent> = Vec::new();
        let mut return_value = None;
        let mut success = true;
        let mut soroban_fees = None;
        for (index, op) in view.tx.operations.iter().enumerate() {
            let mut op_changes: Changes = BTreeMap::new();
            let source = op
                .source_account
                .as_ref()
                .map(account_of)
                .unwrap_or_else(|| view.source());
            let mut events = Vec::new();
            let result = if view_of(&self.state, &changes, &account_key(&source)).is_none() {
                OperationResult::OpNoAccount
            } else {
                self.apply_op(
                    view,
                    op,
                    &source,
                    ledger,
                    close_time,
                    index as u32,
                    &changes,
                    &mut op_changes,
                    &mut events,
                    &mut diagnostics,
                    &mut return_value,
                    &mut soroban_fees,
                )
            };
            let ok = op_succeeded(&result);
            op_results.push(result);
            if ok {
                op_metas.push(OperationMetaV2 {
                    ext: ExtensionPoint::V0,
                    changes: meta_changes(&self.state, &changes, &op_changes),
                    events: events.clone().try_into().unwrap_or_default(),
                });
                contract_events.push(events);
                changes.extend(op_changes);
            } else {
                success = false;
            }
        }
        if !success {
            changes.clear();
            op_metas.clear();
            contract_events.clear();
            return_value = None;
        }
        for (key, change) in &changes {
            match change {
                Some(stored) => {
                    self.state.entries.insert(key.clone(), stored.clone());
                }
                None => {
                    self.state.entries.remove(key);
                }
            }
        }

        // The refund: what was declared for the refundable part and not used.
        let mut after = Vec::new();
        let mut fee_charged = charged;
        let mut soroban_meta = None;
        if let Some(data) = view.soroban_data() {
            let non_refundable = non_refundable_fee(data, view.size);
            let declared_refundable = data.resource_fee - non_refundable;
            let (used, rent) = match (&soroban_fees, success) {
                (Some((rent, events)), true) => (rent + events, *rent),
                _ => (0, 0),
            };
            let refund = (declared_refundable - used).max(0);
            if refund > 0 {
                self.update_account(&fee_key, &mut after, ledger, |a| a.balance += refund);
            }
            fee_charged -= refund;
            soroban_meta = Some(SorobanTransactionMetaV2 {
                ext: SorobanTransactionMetaExt::V1(SorobanTransactionMetaExtV1 {
                    ext: ExtensionPoint::V0,
                    total_non_refundable_resource_fee_charged: non_refundable,
                    total_refundable_resource_fee_charged: used,
                    rent_fee_charged: rent,
                }),
                return_value: return_value.clone(),
            });
        }

        let op_results: VecM<OperationResult> = op_results.try_into().unwrap_or_default();
        let inner = if success {
            InnerTransactionResultResult::TxSuccess(op_results.clone())
        } else {
            InnerTransactionResultResult::TxFailed(op_results.clone())
        };
        let result = match view.fee_bump {
            Some(_) => {
                let pair = InnerTransactionResultPair {
                    transaction_hash: Hash(view.inner_hash),
                    result: InnerTransactionResult {
                        fee_charged: 0,
                        result: inner,
                        ext: InnerTransactionResultExt::V0,
                    },
                };
                if success {
                    TransactionResultResult::TxFeeBumpInnerSuccess(pair)
                } else {
                    TransactionResultResult::TxFeeBumpInnerFailed(pair)
                }
            }
            None => outer_code(inner),
        };
        let result = TransactionResult {
            fee_charged,
            result,
            ext: TransactionResultExt::V0,
        };
        let meta = TransactionMeta::V4(TransactionMetaV4 {
            ext: ExtensionPoint::V0,
            tx_changes_before: before.try_into().unwrap_or_default(),
            operations: op_metas.try_into().unwrap_or_default(),
            tx_changes_after: after.try_into().unwrap_or_default(),
            soroban_meta,
            events: VecM::default(),
            diagnostic_events: diagnostics.clone().try_into().unwrap_or_default(),
        });
        TxRecord {
            hash: view.hash_hex(),
            ledger,
            created_at: close_time,
            application_order: order,
            fee_bump: view.fee_bump.is_some(),
            success,
            envelope_xdr: b64(&view.envelope),
            result_xdr: b64(&result),
            result_meta_xdr: b64(&meta),
            diagnostic_events_xdr: diagnostics.iter().map(b64).collect(),
            contract_events_xdr: contract_events
                .iter()
                .map(|events| events.iter().map(b64).collect())
                .collect(),
            inclusion_fee_per_op: view.inclusion_fee() / view.fee_ops().max(1),
            soroban: view.soroban_data().is_some(),
        }
    }

    fn update_account(
        &mut self,
        key: &LedgerKey,
        meta: &mut Vec<LedgerEntryChange>,
        ledger: u32,
        update: impl FnOnce(&mut AccountEntry),
    ) {
        let Some(stored) = self.state.entries.get_mut(key) else {
            return;
        };
        meta.push(LedgerEntryChange::State(stored.entry.clone()));
        if let LedgerEntryData::Account(account) = &mut stored.entry.data {
            update(account);
        }
        stored.entry.last_modified_ledger_seq = ledger;
        meta.push(LedgerEntryChange::Updated(stored.entry.clone()));
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_op(
        &self,
        view: &TxView,
        op: &Operation,
        source: &AccountId,
        ledger: u32,
        close_time: u64,
        index: u32,
        tx_changes: &Changes,
        changes: &mut Changes,
        events: &mut Vec<ContractEvent>,
        diagnostics: &mut Vec<DiagnosticEvent>,
        return_value: &mut Option<ScVal>,
        soroban_fees: &mut Option<(i64, i64)>,
    ) -> OperationResult {
        let mut ctx = Ctx {
            base: &self.state,
            tx_changes,
            changes,
            ledger,
        };
        let tr = match &op.body {
            OperationBody::CreateAccount(o) => {
                OperationResultTr::CreateAccount(create_account(&mut ctx, source, o))
            }
            OperationBody::Payment(o) => OperationResultTr::Payment(payment(&mut ctx, source, o)),
            OperationBody::ChangeTrust(o) => {
                OperationResultTr::ChangeTrust(change_trust(&mut ctx, source, o))
            }
            OperationBody::InvokeHostFunction(o) => {
                let data = view.soroban_data().expect("checked: Soroban data");
                OperationResultTr::InvokeHostFunction(crate::soroban::invoke(
                    self,
                    &mut ctx,
                    view,
                    data,
                    o,
                    source,
                    close_time,
                    index,
                    events,
                    diagnostics,
                    return_value,
                    soroban_fees,
                ))
            }
            OperationBody::RestoreFootprint(_) => {
                let data = view.soroban_data().expect("checked: Soroban data");
                OperationResultTr::RestoreFootprint(crate::soroban::restore(
                    self,
                    &mut ctx,
                    view,
                    data,
                    soroban_fees,
                ))
            }
            OperationBody::ExtendFootprintTtl(o) => {
                let data = view.soroban_data().expect("checked: Soroban data");
                OperationResultTr::ExtendFootprintTtl(crate::soroban::extend(
                    self,
                    &mut ctx,
                    view,
                    data,
                    o.extend_to,
                    soroban_fees,
                ))
            }
            _ => return OperationResult::OpNotSupported,
        };
        OperationResult::OpInner(tr)
    }

    // --- friendbot ---------------------------------------------------------------------------

    /// A CreateAccount from the root account, signed by it, submitted like any transaction.
    pub fn friendbot_transaction(&self, destination: AccountId) -> TxView {
        let root = self.root_account();
        let seq = self
            .state
            .get(&account_key(&root))
            .map(|s| as_account(&s.entry).seq_num.0)
            .unwrap_or(0);
        let tx = Transaction {
            source_account: MuxedAccount::Ed25519(Uint256(account_bytes(&root))),
            fee: BASE_FEE as u32,
            seq_num: SequenceNumber(seq + 1),
            cond: Preconditions::Time(TimeBounds {
                min_time: TimePoint(0),
                max_time: TimePoint(self.state.latest.close_time + 300),
            }),
            memo: Memo::None,
            operations: vec![Operation {
                source_account: None,
                body: OperationBody::CreateAccount(CreateAccountOp {
                    destination,
                    starting_balance: FRIENDBOT_STARTING_BALANCE,
                }),
            }]
            .try_into()
            .expect("one operation"),
            ext: TransactionExt::V0,
        };
        let mut envelope = TransactionEnvelope::Tx(TransactionV1Envelope {
            tx,
            signatures: VecM::default(),
        });
        let hash = envelope.hash(self.network_id).expect("hash");
        let signature = self.root.sign(&hash);
        if let TransactionEnvelope::Tx(v1) = &mut envelope {
            v1.signatures = vec![DecoratedSignature {
                hint: SignatureHint(account_bytes(&root)[28..].try_into().expect("4 bytes")),
                signature: signature.to_bytes().to_vec().try_into().expect("64 bytes"),
            }]
            .try_into()
            .expect("one signature");
        }
        TxView::parse(envelope, self.network_id).expect("our own envelope")
    }

    /// Tests: the queue's length.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }
}

/// A fee bump of `inner` paid by `fee_source` (tests, and callers without their own SDK).
pub fn fee_bump(
    inner: TransactionV1Envelope,
    fee_source: &SigningKey,
    fee: i64,
    network_id: [u8; 32],
) -> TransactionEnvelope {
    let fee_source_bytes = fee_source.verifying_key().to_bytes();
    let tx = FeeBumpTransaction {
        fee_source: MuxedAccount::Ed25519(Uint256(fee_source_bytes)),
        fee,
        inner_tx: FeeBumpTransactionInnerTx::Tx(inner),
        ext: FeeBumpTransactionExt::V0,
    };
    let mut envelope = FeeBumpTransactionEnvelope {
        tx,
        signatures: VecM::default(),
    };
    let hash = envelope.hash(network_id).expect("hash");
    envelope.signatures = vec![sign_hash(fee_source, &hash)].try_into().expect("one");
    TransactionEnvelope::TxFeeBump(envelope)
}

pub fn sign_hash(key: &SigningKey, hash: &[u8; 32]) -> DecoratedSignature {
    let public = key.verifying_key().to_bytes();
    DecoratedSignature {
        hint: SignatureHint(public[28..].try_into().expect("4 bytes")),
        signature: key
            .sign(hash)
            .to_bytes()
            .to_vec()
            .try_into()
            .expect("64 bytes"),
    }
}

fn outer_code(code: InnerTransactionResultResult) -> TransactionResultResult {
    use InnerTransactionResultResult as I;
    use TransactionResultResult as O;
    match code {
        I::TxSuccess(r) => O::TxSuccess(r),
        I::TxFailed(r) => O::TxFailed(r),
        I::TxTooEarly => O::TxTooEarly,
        I::TxTooLate => O::TxTooLate,
        I::TxMissingOperation => O::TxMissingOperation,
        I::TxBadSeq => O::TxBadSeq,
        I::TxBadAuth => O::TxBadAuth,
        I::TxInsufficientBalance => O::TxInsufficientBalance,
        I::TxNoAccount => O::TxNoAccount,
        I::TxInsufficientFee => O::TxInsufficientFee,
        I::TxBadAuthExtra => O::TxBadAuthExtra,
        I::TxInternalError => O::TxInternalError,
        I::TxNotSupported => O::TxNotSupported,
        I::TxBadSponsorship => O::TxBadSponsorship,
        I::TxBadMinSeqAgeOrGap => O::TxBadMinSeqAgeOrGap,
        I::TxMalformed => O::TxMalformed,
        I::TxSorobanInvalid => O::TxSorobanInvalid,
        I::TxFrozenKeyAccessed => O::TxFrozenKeyAccessed,
    }
}

fn is_soroban(body: &OperationBody) -> bool {
    matches!(
        body,
        OperationBody::InvokeHostFunction(_)
            | OperationBody::ExtendFootprintTtl(_)
            | OperationBody::RestoreFootprint(_)
    )
}

fn op_succeeded(result: &OperationResult) -> bool {
    match result {
        OperationResult::OpInner(tr) => match tr {
            OperationResultTr::CreateAccount(r) => matches!(r, CreateAccountResult::Success),
            OperationResultTr::Payment(r) => matches!(r, PaymentResult::Success),
            OperationResultTr::ChangeTrust(r) => matches!(r, ChangeTrustResult::Success),
            OperationResultTr::InvokeHostFunction(r) => {
                matches!(r, InvokeHostFunctionResult::Success(_))
            }
            OperationResultTr::RestoreFootprint(r) => {
                matches!(r, RestoreFootprintResult::Success)
            }
            OperationResultTr::ExtendFootprintTtl(r) => {
                matches!(r, ExtendFootprintTtlResult::Success)
            }
            _ => false,
        },
        _ => false,
    }
}

/// Which threshold an operation needs (0 low, 1 medium, 2 high), as stellar-core sets them.
fn op_threshold(body: &OperationBody) -> usize {
    match body {
        OperationBody::SetOptions(_) | OperationBody::AccountMerge(_) => 2,
        OperationBody::AllowTrust(_)
        | OperationBody::BumpSequence(_)
        | OperationBody::SetTrustLineFlags(_)
        | OperationBody::ExtendFootprintTtl(_)
        | OperationBody::RestoreFootprint(_) => 0,
        _ => 1,
    }
}

/// The weight needed: the account's threshold (low, medium, high), and at least 1.
fn threshold(account: &AccountEntry, level: usize) -> u32 {
    let Thresholds(t) = &account.thresholds;
    (t[level + 1] as u32).max(1)
}

pub fn as_account(entry: &LedgerEntry) -> &AccountEntry {
    match &entry.data {
        LedgerEntryData::Account(a) => a,
        _ => panic!("not an account entry"),
    }
}

/// Whether the signatures carry `needed` weight of the account's signers (the master key and
/// its ed25519 signers); each signature that counts is marked used.
fn signed_enough(
    signatures: &[DecoratedSignature],
    used: &mut [bool],
    hash: &[u8; 32],
    account: &AccountEntry,
    needed: u32,
) -> bool {
    let mut signers: Vec<([u8; 32], u32)> = vec![(
        account_bytes(&account.account_id),
        account.thresholds.0[0] as u32,
    )];
    for signer in account.signers.iter() {
        if let SignerKey::Ed25519(Uint256(key)) = &signer.key {
            signers.push((*key, signer.weight));
        }
    }
    let mut weight = 0u32;
    for (key, signer_weight) in signers {
        if signer_weight == 0 {
            continue;
        }
        let Ok(verifying) = VerifyingKey::from_bytes(&key) else {
            continue;
        };
        for (i, signature) in signatures.iter().enumerate() {
            if signature.hint.0 != key[28..] {
                continue;
            }
            let Ok(bytes) = <[u8; 64]>::try_from(signature.signature.as_slice()) else {
                continue;
            };
            let sig = ed25519_dalek::Signature::from_bytes(&bytes);
            if verifying.verify(hash, &sig).is_ok() {
                used[i] = true;
                weight = weight.saturating_add(signer_weight);
                break;
            }
        }
    }
    weight >= needed
}

pub fn new_account_entry(id: AccountId, balance: i64, seq: i64, ledger: u32) -> LedgerEntry {
    LedgerEntry {
        last_modified_ledger_seq: ledger,
        data: LedgerEntryData::Account(AccountEntry {
            account_id: id,
            balance,
            seq_num: SequenceNumber(seq),
            num_sub_entries: 0,
            inflation_dest: None,
            flags: 0,
            home_domain: String32::default(),
            thresholds: Thresholds([1, 0, 0, 0]),
            signers: VecM::default(),
            ext: AccountEntryExt::V0,
        }),
        ext: LedgerEntryExt::V0,
    }
}

/// Where and when the account's sequence number last moved (AccountEntryExtensionV3), as core
/// records it since protocol 19: the entry grows by its extensions the first time.
pub fn record_sequence_change(account: &mut AccountEntry, ledger: u32, close_time: u64) {
    let v3 = AccountEntryExtensionV3 {
        ext: ExtensionPoint::V0,
        seq_ledger: ledger,
        seq_time: TimePoint(close_time),
    };
    let v1 = match &mut account.ext {
        AccountEntryExt::V1(v1) => v1,
        AccountEntryExt::V0 => {
            account.ext = AccountEntryExt::V1(AccountEntryExtensionV1 {
                liabilities: Liabilities {
                    buying: 0,
                    selling: 0,
                },
                ext: AccountEntryExtensionV1Ext::V0,
            });
            let AccountEntryExt::V1(v1) = &mut account.ext else {
                unreachable!()
            };
            v1
        }
    };
    match &mut v1.ext {
        AccountEntryExtensionV1Ext::V2(v2) => v2.ext = AccountEntryExtensionV2Ext::V3(v3),
        AccountEntryExtensionV1Ext::V0 => {
            v1.ext = AccountEntryExtensionV1Ext::V2(AccountEntryExtensionV2 {
                num_sponsored: 0,
                num_sponsoring: 0,
                signer_sponsoring_i_ds: VecM::default(),
                ext: AccountEntryExtensionV2Ext::V3(v3),
            })
        }
    }
}

fn min_balance(account: &AccountEntry) -> i64 {
    (2 + account.num_sub_entries as i64) * BASE_RESERVE
}

fn selling_liabilities(account: &AccountEntry) -> i64 {
    match &account.ext {
        AccountEntryExt::V0 => 0,
        AccountEntryExt::V1(v1) => v1.liabilities.selling,
    }
}

/// Lumens the account can spend: above its reserve and its offers' liabilities.
pub fn available_balance(account: &AccountEntry) -> i64 {
    account.balance - min_balance(account) - selling_liabilities(account)
}

/// Disk reads a Soroban transaction declares: its classic entries (Soroban's live state is
/// kept in memory) and the archived entries it restores.
pub fn disk_read_entries(data: &SorobanTransactionData) -> u32 {
    let footprint = &data.resources.footprint;
    let classic = footprint
        .read_only
        .iter()
        .chain(footprint.read_write.iter())
        .filter(|k| !matches!(k, LedgerKey::ContractData(_) | LedgerKey::ContractCode(_)))
        .count() as u32;
    let restored = match &data.ext {
        SorobanTransactionDataExt::V0 => 0,
        SorobanTransactionDataExt::V1(ext) => ext.archived_soroban_entries.len() as u32,
    };
    classic + restored
}

/// The non-refundable resource fee of the declared resources: what core charges whatever
/// happens.
pub fn non_refundable_fee(data: &SorobanTransactionData, tx_size: u32) -> i64 {
    let resources = TransactionResources {
        instructions: data.resources.instructions,
        disk_read_entries: disk_read_entries(data),
        write_entries: data.resources.footprint.read_write.len() as u32,
        disk_read_bytes: data.resources.disk_read_bytes,
        write_bytes: data.resources.write_bytes,
        contract_events_size_bytes: 0,
        transaction_size_bytes: tx_size,
    };
    compute_transaction_resource_fee(&resources, &config::fee_configuration()).0
}

/// The refundable fee of events and a return value of `size` bytes.
pub fn events_fee(size: u32) -> i64 {
    let resources = TransactionResources {
        instructions: 0,
        disk_read_entries: 0,
        write_entries: 0,
        disk_read_bytes: 0,
        write_bytes: 0,
        contract_events_size_bytes: size,
        transaction_size_bytes: 0,
    };
    compute_transaction_resource_fee(&resources, &config::fee_configuration()).1
}

pub fn rent_fee(changes: &[LedgerEntryRentChange], ledger: u32) -> i64 {
    compute_rent_fee(changes, &config::rent_fee_configuration(), ledger)
}

/// The entries an operation sees and changes.
pub struct Ctx<'a> {
    pub base: &'a State,
    pub tx_changes: &'a Changes,
    pub changes: &'a mut Changes,
    pub ledger: u32,
}

impl Ctx<'_> {
    pub fn get(&self, key: &LedgerKey) -> Option<Stored> {
        match self.changes.get(key) {
            Some(change) => change.clone(),
            None => view_of(self.base, self.tx_changes, key).cloned(),
        }
    }

    pub fn put(&mut self, mut entry: LedgerEntry, live_until: Option<u32>) {
        entry.last_modified_ledger_seq = self.ledger;
        self.changes
            .insert(key_of(&entry), Some(Stored { entry, live_until }));
    }

    pub fn remove(&mut self, key: &LedgerKey) {
        self.changes.insert(key.clone(), None);
    }

    fn account(&self, id: &AccountId) -> Option<AccountEntry> {
        self.get(&account_key(id))
            .map(|s| as_account(&s.entry).clone())
    }

    fn put_account(&mut self, account: AccountEntry) {
        self.put(
            LedgerEntry {
                last_modified_ledger_seq: self.ledger,
                data: LedgerEntryData::Account(account),
                ext: LedgerEntryExt::V0,
            },
            None,
        );
    }

    fn trustline(&self, id: &AccountId, asset: &TrustLineAsset) -> Option<TrustLineEntry> {
        let key = LedgerKey::Trustline(LedgerKeyTrustLine {
            account_id: id.clone(),
            asset: asset.clone(),
        });
        self.get(&key).and_then(|s| match s.entry.data {
            LedgerEntryData::Trustline(t) => Some(t),
            _ => None,
        })
    }

    fn put_trustline(&mut self, line: TrustLineEntry) {
        self.put(
            LedgerEntry {
                last_modified_ledger_seq: self.ledger,
                data: LedgerEntryData::Trustline(line),
                ext: LedgerEntryExt::V0,
            },
            None,
        );
    }
}

/// Ledger entry changes of one operation for its meta: state before, then after.
fn meta_changes(base: &State, tx_changes: &Changes, op_changes: &Changes) -> LedgerEntryChanges {
    let mut out = Vec::new();
    for (key, after) in op_changes {
        let before = view_of(base, tx_changes, key);
        match (before, after) {
            (None, Some(after)) => out.push(LedgerEntryChange::Created(after.entry.clone())),
            (Some(before), Some(after)) => {
                if before != after {
                    out.push(LedgerEntryChange::State(before.entry.clone()));
                    out.push(LedgerEntryChange::Updated(after.entry.clone()));
                }
            }
            (Some(before), None) => {
                out.push(LedgerEntryChange::State(before.entry.clone()));
                out.push(LedgerEntryChange::Removed(key.clone()));
            }
            (None, None) => {}
        }
        if let (Some(after), Some(_)) = (after, durability(key)) {
            if let Some(live_until) = after.live_until {
                let ttl = LedgerEntry {
                    last_modified_ledger_seq: after.entry.last_modified_ledger_seq,
                    data: LedgerEntryData::Ttl(TtlEntry {
                        key_hash: Hash(sha256(&xdr_bytes(key))),
                        live_until_ledger_seq: live_until,
                    }),
                    ext: LedgerEntryExt::V0,
                };
                out.push(LedgerEntryChange::Updated(ttl));
            }
        }
    }
    out.try_into().unwrap_or_default()
}

// --- classic operations ------------------------------------------------------------------------

fn create_account(ctx: &mut Ctx, source: &AccountId, op: &CreateAccountOp) -> CreateAccountResult {
    if op.starting_balance <= 0 || &op.destination == source {
        return CreateAccountResult::Malformed;
    }
    if ctx.account(&op.destination).is_some() {
        return CreateAccountResult::AlreadyExist;
    }
    if op.starting_balance < 2 * BASE_RESERVE {
        return CreateAccountResult::LowReserve;
    }
    let Some(mut from) = ctx.account(source) else {
        return CreateAccountResult::Underfunded;
    };
    if available_balance(&from) < op.starting_balance {
        return CreateAccountResult::Underfunded;
    }
    from.balance -= op.starting_balance;
    ctx.put_account(from);
    // A new account's sequence number starts at the ledger's number shifted by 32 bits.
    let entry = new_account_entry(
        op.destination.clone(),
        op.starting_balance,
        (ctx.ledger as i64) << 32,
        ctx.ledger,
    );
    ctx.put(entry, None);
    CreateAccountResult::Success
}

fn trustline_asset(asset: &Asset) -> Option<(TrustLineAsset, AccountId)> {
    match asset {
        Asset::Native => None,
        Asset::CreditAlphanum4(a) => {
            Some((TrustLineAsset::CreditAlphanum4(a.clone()), a.issuer.clone()))
        }
        Asset::CreditAlphanum12(a) => Some((
            TrustLineAsset::CreditAlphanum12(a.clone()),
            a.issuer.clone(),
        )),
    }
}

fn payment(ctx: &mut Ctx, source: &AccountId, op: &PaymentOp) -> PaymentResult {
    if op.amount <= 0 {
        return PaymentResult::Malformed;
    }
    let destination = account_of(&op.destination);
    if ctx.account(&destination).is_none() {
        return PaymentResult::NoDestination;
    }
    match trustline_asset(&op.asset) {
        None => {
            let Some(mut from) = ctx.account(source) else {
                return PaymentResult::Underfunded;
            };
            if available_balance(&from) < op.amount {
                return PaymentResult::Underfunded;
            }
            if &destination == source {
                return PaymentResult::Success;
            }
            from.balance -= op.amount;
            ctx.put_account(from);
            let mut dest_account = ctx.account(&destination).expect("exists");
            match dest_account.balance.checked_add(op.amount) {
                Some(balance) => dest_account.balance = balance,
                None => return PaymentResult::LineFull,
            }
            ctx.put_account(dest_account);
            PaymentResult::Success
        }
        Some((asset, issuer)) => {
            if ctx.account(&issuer).is_none() && (&issuer == source || issuer == destination) {
                return PaymentResult::NoIssuer;
            }
            // The issuer issues and burns; anyone else needs an authorised trustline.
            if source != &issuer {
                let Some(mut line) = ctx.trustline(source, &asset) else {
                    return PaymentResult::SrcNoTrust;
                };
                if line.flags & AUTHORIZED_FLAG == 0 {
                    return PaymentResult::SrcNotAuthorized;
                }
                if line.balance < op.amount {
                    return PaymentResult::Underfunded;
                }
                line.balance -= op.amount;
                ctx.put_trustline(line);
            }
            if destination != issuer {
                let Some(mut line) = ctx.trustline(&destination, &asset) else {
                    return PaymentResult::NoTrust;
                };
                if line.flags & AUTHORIZED_FLAG == 0 {
                    return PaymentResult::NotAuthorized;
                }
                match line.balance.checked_add(op.amount) {
                    Some(balance) if balance <= line.limit => line.balance = balance,
                    _ => return PaymentResult::LineFull,
                }
                ctx.put_trustline(line);
            }
            PaymentResult::Success
        }
    }
}

fn change_trust(ctx: &mut Ctx, source: &AccountId, op: &ChangeTrustOp) -> ChangeTrustResult {
    let (asset, issuer) = match &op.line {
        ChangeTrustAsset::CreditAlphanum4(a) => (
            TrustLineAsset::CreditAlphanum4(AlphaNum4 {
                asset_code: a.asset_code.clone(),
                issuer: a.issuer.clone(),
            }),
            a.issuer.clone(),
        ),
        ChangeTrustAsset::CreditAlphanum12(a) => (
            TrustLineAsset::CreditAlphanum12(AlphaNum12 {
                asset_code: a.asset_code.clone(),
                issuer: a.issuer.clone(),
            }),
            a.issuer.clone(),
        ),
        ChangeTrustAsset::Native | ChangeTrustAsset::PoolShare(_) => {
            return ChangeTrustResult::Malformed
        }
    };
    if op.limit < 0 {
        return ChangeTrustResult::Malformed;
    }
    if &issuer == source {
        return ChangeTrustResult::SelfNotAllowed;
    }
    let Some(mut account) = ctx.account(source) else {
        return ChangeTrustResult::Malformed;
    };
    match ctx.trustline(source, &asset) {
        Some(mut line) => {
            if op.limit == 0 {
                if line.balance != 0 {
                    return ChangeTrustResult::InvalidLimit;
                }
                ctx.remove(&LedgerKey::Trustline(LedgerKeyTrustLine {
                    account_id: source.clone(),
                    asset,
                }));
                account.num_sub_entries -= 1;
                ctx.put_account(account);
                return ChangeTrustResult::Success;
            }
            if op.limit < line.balance {
                return ChangeTrustResult::InvalidLimit;
            }
            line.limit = op.limit;
            ctx.put_trustline(line);
            ChangeTrustResult::Success
        }
        None => {
            if op.limit == 0 {
                return ChangeTrustResult::InvalidLimit;
            }
            let Some(issuer_account) = ctx.account(&issuer) else {
                return ChangeTrustResult::NoIssuer;
            };
            account.num_sub_entries += 1;
            if available_balance(&account) < 0 {
                return ChangeTrustResult::LowReserve;
            }
            ctx.put_account(account);
            let flags = if issuer_account.flags & AUTH_REQUIRED_FLAG == 0 {
                AUTHORIZED_FLAG
            } else {
                0
            };
            ctx.put_trustline(TrustLineEntry {
                account_id: source.clone(),
                asset,
                balance: 0,
                limit: op.limit,
                flags,
                ext: TrustLineEntryExt::V0,
            });
            ChangeTrustResult::Success
        }
    }
}

/// The success hash of an invocation: SHA-256 of its return value and events.
pub fn success_hash(return_value: ScVal, events: &[ContractEvent]) -> Hash {
    let preimage = InvokeHostFunctionSuccessPreImage {
        return_value,
        events: events.to_vec().try_into().unwrap_or_default(),
    };
    Hash(sha256(&xdr_bytes(&preimage)))
}

pub fn contract_event_is_contract(event: &ContractEvent) -> bool {
    matches!(event.type_, ContractEventType::Contract)
        && matches!(event.body, ContractEventBody::V0(_))
}

pub fn temporary(key: &LedgerKey) -> bool {
    durability(key) == Some(ContractDataDurability::Temporary)
}

pub fn new_budget(network: &NetworkConfig, instructions: u32) -> Budget {
    Budget::try_from_configs(
        instructions as u64,
        network.tx_memory_limit as u64,
        network.cpu_cost_params.clone(),
        network.memory_cost_params.clone(),
    )
    .expect("budget from the network's cost model")
}
