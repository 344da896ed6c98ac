//! Storage layout and the TTL rule.
//!
//! The configuration lives in instance storage; each escrow is one persistent entry keyed by
//! its reference (the `Symbol` itself) holding a compact [`Stored`] vector. Rule: every write extends the written escrow entry and the instance (and so
//! the contract code) to [`EXTEND_TO`] ledgers whenever they are below [`THRESHOLD`].

use soroban_sdk::{contracttype, Address, Env, Symbol};

use crate::errors::Error;

/// Ledgers in a day at about five seconds a ledger.
pub const DAY_IN_LEDGERS: u32 = 17_280;
/// What the TTL of a written entry is extended to: about 120 days.
pub const EXTEND_TO: u32 = 120 * DAY_IN_LEDGERS;
/// Below this TTL a write extends the entry (so at most one extension a day per entry).
pub const THRESHOLD: u32 = EXTEND_TO - DAY_IN_LEDGERS;

/// Instance storage keys. (An escrow's persistent entry is keyed by its reference alone: the
/// persistent key space holds nothing else.)
#[contracttype(export = false)]
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum DataKey {
    /// The deployment's [`Config`] (instance storage).
    Config,
}

/// The deployment's configuration, fixed by the constructor.
#[contracttype]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Config {
    /// May upgrade the contract.
    pub admin: Address,
    /// Authorises every write but `resolve`.
    pub operator: Address,
    /// Resolves disputes.
    pub arbiter: Address,
    /// The Stellar Asset Contract the escrows hold.
    pub token: Address,
    /// Receives the platform fee on release.
    pub fee_account: Address,
    /// The fee in basis points (at most 1,000).
    pub fee_bps: u32,
}

/// Where an escrow is in its life. Encoded as a `u32`.
#[contracttype]
#[derive(Copy, Clone, Debug, Eq, PartialEq)]
#[repr(u32)]
pub enum Status {
    /// Created; collecting funds.
    Funding = 0,
    /// Fully funded.
    Funded = 1,
    /// Paid to the payee (less the fee). Closed.
    Released = 2,
    /// Paid back to the funder. Closed.
    Refunded = 3,
    /// Frozen until the arbiter resolves it.
    Disputed = 4,
    /// Split by the arbiter. Closed.
    Resolved = 5,
}

impl Status {
    /// Whether the escrow has paid out (released, refunded or resolved).
    pub fn is_closed(self) -> bool {
        matches!(self, Status::Released | Status::Refunded | Status::Resolved)
    }
}

/// One escrow and its own recorded balance.
///
/// Invariant: `funded = held + released + fee + refunded`, where `held` is `funded` while the
/// escrow is open (`funding`, `funded`, `disputed`) and 0 once it is closed.
#[contracttype]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Escrow {
    /// Whose tokens fund the escrow and receive a refund.
    pub funder: Address,
    /// The agreed amount.
    pub amount: i128,
    /// What has been paid in so far (at most `amount`).
    pub funded: i128,
    /// The payee's address, once assigned.
    pub payee: Option<Address>,
    /// The payee's mux id, if it was assigned as a muxed address.
    pub payee_id: Option<u64>,
    /// What the payee received (net of the fee).
    pub released: i128,
    /// What the fee account received.
    pub fee: i128,
    /// What went back to the funder.
    pub refunded: i128,
    /// Where the escrow is in its life.
    pub status: Status,
}

impl Escrow {
    /// What the escrow still holds: `funded` while open, 0 once closed.
    pub fn held(&self) -> i128 {
        if self.status.is_closed() {
            0
        } else {
            self.funded
        }
    }
}

/// Extends the instance (configuration and contract code) TTL.
pub fn extend_instance(env: &Env) {
    env.storage().instance().extend_ttl(THRESHOLD, EXTEND_TO);
}

/// Writes the configuration and extends the instance TTL.
pub fn write_config(env: &Env, config: &Config) {
    env.storage().instance().set(&DataKey::Config, config);
    extend_instance(env);
}

/// Reads the configuration.
pub fn read_config(env: &Env) -> Result<Config, Error> {
    env.storage()
        .instance()
        .get(&DataKey::Config)
        .ok_or(Error::NotFound)
}

/// One escrow as stored: an `ScVec` of its fields (no field names in the ledger entry) without
/// what can be derived from them. `(funder, amount, funded, payee, payee_id, released, status)`;
/// `fee` and `refunded` follow from `status`, `funded` and `released` (see [`Stored::escrow`]).
#[contracttype(export = false)]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Stored(
    pub Address,
    pub i128,
    pub i128,
    pub Option<Address>,
    pub Option<u64>,
    pub i128,
    pub Status,
);

impl Stored {
    /// The stored form of an escrow whose `fee` and `refunded` agree with its status: `fee` is
    /// `funded - released` once released (0 before), `refunded` is `funded` once refunded and
    /// `funded - released` once resolved (0 otherwise). Every entry point keeps to this.
    fn of(escrow: &Escrow) -> Stored {
        let stored = Stored(
            escrow.funder.clone(),
            escrow.amount,
            escrow.funded,
            escrow.payee.clone(),
            escrow.payee_id,
            escrow.released,
            escrow.status,
        );
        debug_assert_eq!(&stored.escrow(), escrow);
        stored
    }

    /// The escrow, with `fee` and `refunded` derived.
    fn escrow(&self) -> Escrow {
        let Stored(funder, amount, funded, payee, payee_id, released, status) = self.clone();
        let fee = match status {
            Status::Released => funded - released,
            _ => 0,
        };
        let refunded = match status {
            Status::Refunded => funded,
            Status::Resolved => funded - released,
            _ => 0,
        };
        Escrow {
            funder,
            amount,
            funded,
            payee,
            payee_id,
            released,
            fee,
            refunded,
            status,
        }
    }
}

/// Whether an escrow with this reference exists.
pub fn has_escrow(env: &Env, reference: &Symbol) -> bool {
    env.storage().persistent().has(reference)
}

/// Reads an escrow, or `NotFound`.
pub fn read_escrow(env: &Env, reference: &Symbol) -> Result<Escrow, Error> {
    env.storage()
        .persistent()
        .get::<Symbol, Stored>(reference)
        .map(|stored| stored.escrow())
        .ok_or(Error::NotFound)
}

/// Writes an escrow and extends its entry and the instance TTL.
pub fn write_escrow(env: &Env, reference: &Symbol, escrow: &Escrow) {
    let persistent = env.storage().persistent();
    persistent.set(reference, &Stored::of(escrow));
    persistent.extend_ttl(reference, THRESHOLD, EXTEND_TO);
    extend_instance(env);
}
