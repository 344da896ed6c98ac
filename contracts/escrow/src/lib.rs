//! Kazi Trust escrow contract.
//!
//! One deployed contract holds many escrows, keyed by the platform's escrow reference (a
//! `Symbol` such as `ESCROW_7K3M9QXA`). Each escrow keeps its own recorded balance; the
//! contract never reads its token balance to decide anything, so tokens sent to it directly
//! unlock nothing. The interface (entry points, auth, error numbers, events) is the crate's
//! `README.md`; the stellar service's `local` backend follows the same page.
#![no_std]

mod errors;
mod events;
mod storage;

#[cfg(test)]
mod test;
#[cfg(test)]
mod test_props;
#[cfg(test)]
mod test_scenarios;
#[cfg(test)]
mod test_wasm;
#[cfg(test)]
mod testutil;

use soroban_sdk::{contract, contractimpl, token, Address, BytesN, Env, MuxedAddress, Symbol};

pub use crate::errors::Error;
use crate::storage::{has_escrow, read_config, read_escrow, write_config, write_escrow};
pub use crate::storage::{Config, Escrow, Status};

/// The largest fee, in basis points (10 %).
pub const MAX_FEE_BPS: u32 = 1_000;
const BPS_DENOMINATOR: u64 = 10_000;

/// The escrow contract.
#[contract]
pub struct EscrowContract;

#[contractimpl]
impl EscrowContract {
    /// Deploys the contract with its fixed configuration (kept in instance storage).
    ///
    /// `admin` may upgrade, `operator` authorises every write but `resolve`, `arbiter`
    /// resolves disputes, `token` is the Stellar Asset Contract held, `fee_account` receives
    /// the fee on release and `fee_bps` is that fee in basis points (at most 1,000, else
    /// `InvalidFee`).
    pub fn __constructor(
        env: Env,
        admin: Address,
        operator: Address,
        arbiter: Address,
        token: Address,
        fee_account: Address,
        fee_bps: u32,
    ) -> Result<(), Error> {
        if fee_bps > MAX_FEE_BPS {
            return Err(Error::InvalidFee);
        }
        write_config(
            &env,
            &Config {
                admin,
                operator,
                arbiter,
                token,
                fee_account,
                fee_bps,
            },
        );
        Ok(())
    }

    /// Creates an escrow of `amount` that `funder` will pay in; status `funding`, funded 0.
    ///
    /// Auth: operator. Errors: `InvalidAmount` (amount ≤ 0, or the funder is this contract,
    /// whose tokens belong to the other escrows), `AlreadyExists`.
    pub fn create(env: Env, reference: Symbol, funder: Address, amount: i128) -> Result<(), Error> {
        let config = read_config(&env)?;
        config.operator.require_auth();
        if amount <= 0 || funder == env.current_contract_address() {
            return Err(Error::InvalidAmount);
        }
        if has_escrow(&env, &reference) {
            return Err(Error::AlreadyExists);
        }
        let escrow = Escrow {
            funder: funder.clone(),
            amount,
            funded: 0,
            payee: None,
            payee_id: None,
            released: 0,
            fee: 0,
            refunded: 0,
            status: Status::Funding,
        };
        write_escrow(&env, &reference, &escrow);
        events::Created {
            reference,
            funder,
            amount,
        }
        .publish(&env);
        Ok(())
    }

    /// Pays `amount` from the funder into the escrow: `funded += amount`, and the status
    /// becomes `funded` once it reaches the escrow's amount. Partial fundings add up, never
    /// past the amount.
    ///
    /// Auth: operator, and the funder whose tokens move (normally the operator itself, whose
    /// one signature then covers the token transfer too).
    /// Errors: `NotFound`, `InvalidAmount`, `NotFunding`, `OverFunded`.
    pub fn fund(env: Env, reference: Symbol, amount: i128) -> Result<(), Error> {
        let config = read_config(&env)?;
        config.operator.require_auth();
        let mut escrow = read_escrow(&env, &reference)?;
        if amount <= 0 {
            return Err(Error::InvalidAmount);
        }
        if escrow.status != Status::Funding {
            return Err(Error::NotFunding);
        }
        let funded = escrow
            .funded
            .checked_add(amount)
            .filter(|total| *total <= escrow.amount)
            .ok_or(Error::OverFunded)?;
        if escrow.funder != config.operator {
            escrow.funder.require_auth();
        }
        escrow.funded = funded;
        if funded == escrow.amount {
            escrow.status = Status::Funded;
        }
        write_escrow(&env, &reference, &escrow);
        token::TokenClient::new(&env, &config.token).transfer(
            &escrow.funder,
            env.current_contract_address(),
            &amount,
        );
        events::Funded {
            reference,
            amount,
            funded,
        }
        .publish(&env);
        Ok(())
    }

    /// Records who will be paid: the payee's address and its mux id, if it is a muxed
    /// address. The payee may change until the escrow is released.
    ///
    /// Auth: operator. Errors: `NotFound`, `Closed`, `InDispute`.
    pub fn assign(env: Env, reference: Symbol, payee: MuxedAddress) -> Result<(), Error> {
        let config = read_config(&env)?;
        config.operator.require_auth();
        let mut escrow = read_escrow(&env, &reference)?;
        check_open(&escrow)?;
        let address = payee.address();
        let payee_id = payee.id();
        escrow.payee = Some(address.clone());
        escrow.payee_id = payee_id;
        write_escrow(&env, &reference, &escrow);
        events::Assigned {
            reference,
            payee: address,
            payee_id,
        }
        .publish(&env);
        Ok(())
    }

    /// Pays a funded escrow out: `funded × fee_bps / 10,000` (rounded down) to the fee
    /// account, the rest to the payee. The escrow is marked `released` before any transfer.
    ///
    /// Auth: operator. Errors: `NotFound`, `Closed`, `InDispute`, `NotFunded`, `NoPayee`.
    pub fn release(env: Env, reference: Symbol) -> Result<(), Error> {
        let config = read_config(&env)?;
        config.operator.require_auth();
        let mut escrow = read_escrow(&env, &reference)?;
        check_open(&escrow)?;
        if escrow.status != Status::Funded {
            return Err(Error::NotFunded);
        }
        let payee = escrow.payee.clone().ok_or(Error::NoPayee)?;
        let fee = fee_of(escrow.funded, config.fee_bps).ok_or(Error::InvalidAmount)?;
        let net = escrow.funded.checked_sub(fee).ok_or(Error::InvalidAmount)?;
        escrow.released = net;
        escrow.fee = fee;
        escrow.status = Status::Released;
        write_escrow(&env, &reference, &escrow);

        let token = token::TokenClient::new(&env, &config.token);
        let contract = env.current_contract_address();
        if fee > 0 {
            token.transfer(&contract, &config.fee_account, &fee);
        }
        if net > 0 {
            token.transfer(&contract, &payee, &net);
        }
        events::Released {
            reference,
            payee,
            payee_id: escrow.payee_id,
            net,
            fee,
        }
        .publish(&env);
        Ok(())
    }

    /// Pays everything funded back to the funder; status `refunded`. The escrow is marked
    /// before the transfer.
    ///
    /// Auth: operator. Errors: `NotFound`, `Closed`, `InDispute`.
    pub fn refund(env: Env, reference: Symbol) -> Result<(), Error> {
        let config = read_config(&env)?;
        config.operator.require_auth();
        let mut escrow = read_escrow(&env, &reference)?;
        check_open(&escrow)?;
        let amount = escrow.funded;
        escrow.refunded = amount;
        escrow.status = Status::Refunded;
        write_escrow(&env, &reference, &escrow);
        if amount > 0 {
            token::TokenClient::new(&env, &config.token).transfer(
                &env.current_contract_address(),
                &escrow.funder,
                &amount,
            );
        }
        events::Refunded {
            reference,
            funder: escrow.funder,
            amount,
        }
        .publish(&env);
        Ok(())
    }

    /// Freezes a funded escrow until the arbiter resolves it; status `disputed`.
    ///
    /// Auth: operator. Errors: `NotFound`, `Closed`, `InDispute`, `NotFunded`.
    pub fn dispute(env: Env, reference: Symbol) -> Result<(), Error> {
        let config = read_config(&env)?;
        config.operator.require_auth();
        let mut escrow = read_escrow(&env, &reference)?;
        check_open(&escrow)?;
        if escrow.status != Status::Funded {
            return Err(Error::NotFunded);
        }
        escrow.status = Status::Disputed;
        write_escrow(&env, &reference, &escrow);
        events::Disputed { reference }.publish(&env);
        Ok(())
    }

    /// Splits what a disputed escrow holds between the payee and the funder (no fee);
    /// status `resolved`. The escrow is marked before the transfers.
    ///
    /// Auth: arbiter. Errors: `NotFound`, `NotDisputed`, `InvalidSplit` (either part < 0 or
    /// the sum ≠ funded), `NoPayee` (`to_payee` > 0 without a payee).
    pub fn resolve(
        env: Env,
        reference: Symbol,
        to_payee: i128,
        to_funder: i128,
    ) -> Result<(), Error> {
        let config = read_config(&env)?;
        config.arbiter.require_auth();
        let mut escrow = read_escrow(&env, &reference)?;
        if escrow.status != Status::Disputed {
            return Err(Error::NotDisputed);
        }
        if to_payee < 0 || to_funder < 0 || to_payee.checked_add(to_funder) != Some(escrow.funded) {
            return Err(Error::InvalidSplit);
        }
        if to_payee > 0 && escrow.payee.is_none() {
            return Err(Error::NoPayee);
        }
        escrow.released = to_payee;
        escrow.refunded = to_funder;
        escrow.status = Status::Resolved;
        write_escrow(&env, &reference, &escrow);

        let token = token::TokenClient::new(&env, &config.token);
        let contract = env.current_contract_address();
        if let (Some(payee), true) = (&escrow.payee, to_payee > 0) {
            token.transfer(&contract, payee, &to_payee);
        }
        if to_funder > 0 {
            token.transfer(&contract, &escrow.funder, &to_funder);
        }
        events::Resolved {
            reference,
            to_payee,
            to_funder,
        }
        .publish(&env);
        Ok(())
    }

    /// Returns the escrow. Errors: `NotFound`.
    pub fn get(env: Env, reference: Symbol) -> Result<Escrow, Error> {
        read_escrow(&env, &reference)
    }

    /// Returns the deployment's configuration.
    pub fn config(env: Env) -> Result<Config, Error> {
        read_config(&env)
    }

    /// Replaces the contract's code with the uploaded Wasm of this hash. Auth: admin.
    pub fn upgrade(env: Env, wasm_hash: BytesN<32>) -> Result<(), Error> {
        let config = read_config(&env)?;
        config.admin.require_auth();
        storage::extend_instance(&env);
        env.deployer()
            .update_current_contract_wasm(wasm_hash.clone());
        events::Upgraded { wasm_hash }.publish(&env);
        Ok(())
    }
}

/// Refuses a closed (`Closed`) or disputed (`InDispute`) escrow.
fn check_open(escrow: &Escrow) -> Result<(), Error> {
    if escrow.status.is_closed() {
        return Err(Error::Closed);
    }
    if escrow.status == Status::Disputed {
        return Err(Error::InDispute);
    }
    Ok(())
}

/// `amount × fee_bps / 10,000` rounded down, for `0 ≤ amount` and `fee_bps ≤ MAX_FEE_BPS`
/// (`None` otherwise: impossible inputs). Computed as `q × fee_bps + r × fee_bps / 10,000` where
/// `amount = q × 10,000 + r`, the division done in 32-bit limbs with the wasm's own 64-bit
/// division: no 128-bit division or overflow-checked 128-bit multiplication routines in the
/// contract's code, whose size every day's TTL extension pays rent for. Cannot overflow:
/// `q × fee_bps < 2¹²⁷ / 10`.
fn fee_of(amount: i128, fee_bps: u32) -> Option<i128> {
    if amount < 0 || fee_bps > MAX_FEE_BPS {
        return None;
    }
    let n = amount as u128;
    let (mut q, mut r) = (0u128, 0u64);
    for shift in [96u32, 64, 32, 0] {
        // r < 10,000, so this is below 2⁴⁶.
        let limb = (r << 32) | u64::from((n >> shift) as u32);
        q = (q << 32) | u128::from(limb / BPS_DENOMINATOR);
        r = limb % BPS_DENOMINATOR;
    }
    let bps = u64::from(fee_bps);
    let whole = q.wrapping_mul(u128::from(bps));
    let part = u128::from(r * bps / BPS_DENOMINATOR);
    Some(whole.wrapping_add(part) as i128)
}

#[cfg(test)]
mod fee_tests {
    use super::fee_of;

    /// The plain formula, for comparison.
    fn reference(amount: i128, bps: u32) -> i128 {
        let bps = i128::from(bps);
        amount / 10_000 * bps + amount % 10_000 * bps / 10_000
    }

    #[test]
    fn the_fee_is_the_plain_formula_rounded_down() {
        let amounts = [
            0,
            1,
            9_999,
            10_000,
            10_001,
            150_000,
            123_456_789,
            i128::from(u64::MAX),
            i128::from(u64::MAX) + 1,
            1i128 << 96,
            (1i128 << 96) - 1,
            i128::MAX / 3,
            i128::MAX - 1,
            i128::MAX,
        ];
        for amount in amounts {
            for bps in [0, 1, 7, 250, 999, 1_000] {
                assert_eq!(
                    fee_of(amount, bps),
                    Some(reference(amount, bps)),
                    "{amount} {bps}"
                );
            }
        }
        assert_eq!(fee_of(10_000, 250), Some(250));
        assert_eq!(fee_of(-1, 250), None);
        assert_eq!(fee_of(10_000, 1_001), None);
    }

    proptest::proptest! {
        #[test]
        fn the_fee_agrees_with_the_plain_formula(amount in 0i128..=i128::MAX, bps in 0u32..=1_000) {
            proptest::prop_assert_eq!(fee_of(amount, bps), Some(reference(amount, bps)));
        }
    }
}
