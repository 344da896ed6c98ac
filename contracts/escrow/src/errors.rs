//! Typed errors, numbered exactly as the interface README (`Error(Contract, #n)`).

use soroban_sdk::contracterror;

/// Every way a call can be refused. The numbers are part of the interface: the stellar
/// service maps them to its error codes, so never renumber them.
#[contracterror]
#[derive(Copy, Clone, Debug, Eq, PartialEq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Error {
    /// No escrow with this reference (or no configuration).
    NotFound = 1,
    /// An escrow with this reference exists already.
    AlreadyExists = 2,
    /// An amount is zero or negative.
    InvalidAmount = 3,
    /// This funding would take the escrow past its amount.
    OverFunded = 4,
    /// The escrow is not collecting funds (status is not `funding`).
    NotFunding = 5,
    /// The escrow is not fully funded (status is not `funded`).
    NotFunded = 6,
    /// No payee has been assigned.
    NoPayee = 7,
    /// The escrow is closed: released, refunded or resolved.
    Closed = 8,
    /// Only a disputed escrow can be resolved.
    NotDisputed = 9,
    /// A resolution split is negative or does not add up to what is held.
    InvalidSplit = 10,
    /// The fee is above 1,000 basis points.
    InvalidFee = 11,
    /// The escrow is in dispute: only the arbiter can act on it.
    InDispute = 12,
}
