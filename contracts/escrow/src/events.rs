//! Events: one per state change, topics `(name, reference)`, data a vector of the fields in
//! the order the README lists them.

use soroban_sdk::{contractevent, Address, BytesN, Symbol};

/// An escrow was created: `created (funder, amount)`.
#[contractevent(data_format = "vec")]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Created {
    /// The escrow reference.
    #[topic]
    pub reference: Symbol,
    /// Whose tokens fund it.
    pub funder: Address,
    /// The agreed amount.
    pub amount: i128,
}

/// Tokens were paid in: `funded (amount, funded)`.
#[contractevent(data_format = "vec")]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Funded {
    /// The escrow reference.
    #[topic]
    pub reference: Symbol,
    /// This payment.
    pub amount: i128,
    /// The total paid in so far.
    pub funded: i128,
}

/// A payee was assigned: `assigned (payee, payee_id)`.
#[contractevent(data_format = "vec")]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Assigned {
    /// The escrow reference.
    #[topic]
    pub reference: Symbol,
    /// The payee's address.
    pub payee: Address,
    /// The payee's mux id, if any.
    pub payee_id: Option<u64>,
}

/// The escrow paid out to its payee: `released (payee, payee_id, net, fee)`.
#[contractevent(data_format = "vec")]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Released {
    /// The escrow reference.
    #[topic]
    pub reference: Symbol,
    /// The payee's address.
    pub payee: Address,
    /// The payee's mux id, if any: attributes the payout on chain.
    pub payee_id: Option<u64>,
    /// What the payee received.
    pub net: i128,
    /// What the fee account received.
    pub fee: i128,
}

/// The escrow paid everything back: `refunded (funder, amount)`.
#[contractevent(data_format = "vec")]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Refunded {
    /// The escrow reference.
    #[topic]
    pub reference: Symbol,
    /// Who got it back.
    pub funder: Address,
    /// How much.
    pub amount: i128,
}

/// The escrow is in dispute: `disputed ()`.
#[contractevent(data_format = "vec")]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Disputed {
    /// The escrow reference.
    #[topic]
    pub reference: Symbol,
}

/// The arbiter split the escrow: `resolved (to_payee, to_funder)`.
#[contractevent(data_format = "vec")]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Resolved {
    /// The escrow reference.
    #[topic]
    pub reference: Symbol,
    /// What the payee received.
    pub to_payee: i128,
    /// What the funder received.
    pub to_funder: i128,
}

/// The contract's code was replaced: `upgraded (wasm_hash)`, topic `(upgraded)`.
#[contractevent(data_format = "vec")]
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Upgraded {
    /// The new code's hash.
    pub wasm_hash: BytesN<32>,
}
