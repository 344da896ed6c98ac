//! Shared test fixtures: an environment, a Stellar Asset Contract, real Stellar accounts with
//! trustlines (muxed payees must be accounts) and a deployed escrow contract.

extern crate std;

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use soroban_sdk::testutils::{Address as _, EnvTestConfig};
use soroban_sdk::token::{StellarAssetClient, TokenClient};
use soroban_sdk::{xdr, Address, Env, Symbol, TryFromVal};

use crate::{Escrow, EscrowContract, EscrowContractClient};

/// A test environment that does not write snapshot files.
pub fn new_env() -> Env {
    Env::new_with_config(EnvTestConfig {
        capture_snapshot_at_drop: false,
    })
}

static NEXT_ACCOUNT: AtomicU64 = AtomicU64::new(1);

/// A fresh Stellar account (G-address) with a trustline to `token`, so that it can hold the
/// asset and be paid as a muxed address. Needs mocked auths (the trustline is authorised by
/// the account).
pub fn new_account(env: &Env, token: &Address) -> Address {
    let n = NEXT_ACCOUNT.fetch_add(1, Ordering::Relaxed);
    let mut key = [0x4b_u8; 32];
    key[..8].copy_from_slice(&n.to_be_bytes());
    let account_id = xdr::AccountId(xdr::PublicKey::PublicKeyTypeEd25519(xdr::Uint256(key)));
    let ledger_key = Rc::new(xdr::LedgerKey::Account(xdr::LedgerKeyAccount {
        account_id: account_id.clone(),
    }));
    let entry = Rc::new(xdr::LedgerEntry {
        data: xdr::LedgerEntryData::Account(xdr::AccountEntry {
            account_id: account_id.clone(),
            balance: 10_000_000,
            flags: 0,
            home_domain: Default::default(),
            inflation_dest: None,
            num_sub_entries: 0,
            seq_num: xdr::SequenceNumber(0),
            thresholds: xdr::Thresholds([1; 4]),
            signers: xdr::VecM::default(),
            ext: xdr::AccountEntryExt::V0,
        }),
        last_modified_ledger_seq: 0,
        ext: xdr::LedgerEntryExt::V0,
    });
    env.host()
        .add_ledger_entry(&ledger_key, &entry, None)
        .expect("account entry");
    let address =
        Address::try_from_val(env, &xdr::ScAddress::Account(account_id)).expect("account address");
    StellarAssetClient::new(env, token).trust(&address);
    address
}

/// A deployed escrow contract, its token and its roles.
pub struct Setup {
    pub env: Env,
    pub contract: Address,
    pub token: Address,
    pub admin: Address,
    pub operator: Address,
    pub arbiter: Address,
    pub fee_account: Address,
    pub funder: Address,
    pub worker: Address,
}

impl Setup {
    /// Deploys the natively compiled contract with `fee_bps`; the operator is also the funder
    /// (the platform's float account) and holds `1_000_000`. The roles are contract addresses
    /// (so that `mock_auths` can sign for them); the worker is a Stellar account, so that it
    /// can be paid as a muxed address. All auths are mocked.
    pub fn new(fee_bps: u32) -> Setup {
        Setup::with(fee_bps, |env, args| env.register(EscrowContract, args))
    }

    /// As [`Setup::new`], registering the contract with `register`.
    pub fn with(
        fee_bps: u32,
        register: impl FnOnce(&Env, (Address, Address, Address, Address, Address, u32)) -> Address,
    ) -> Setup {
        let env = new_env();
        env.mock_all_auths();
        let issuer_admin = Address::generate(&env);
        let token = env
            .register_stellar_asset_contract_v2(issuer_admin)
            .address();
        let admin = Address::generate(&env);
        let arbiter = Address::generate(&env);
        let operator = Address::generate(&env);
        let fee_account = Address::generate(&env);
        let worker = new_account(&env, &token);
        let contract = register(
            &env,
            (
                admin.clone(),
                operator.clone(),
                arbiter.clone(),
                token.clone(),
                fee_account.clone(),
                fee_bps,
            ),
        );
        StellarAssetClient::new(&env, &token).mint(&operator, &1_000_000);
        Setup {
            funder: operator.clone(),
            env,
            contract,
            token,
            admin,
            operator,
            arbiter,
            fee_account,
            worker,
        }
    }

    /// The escrow contract's client.
    pub fn client(&self) -> EscrowContractClient<'_> {
        EscrowContractClient::new(&self.env, &self.contract)
    }

    /// The token's client.
    pub fn token(&self) -> TokenClient<'_> {
        TokenClient::new(&self.env, &self.token)
    }

    /// The token's admin client (mint).
    pub fn sac(&self) -> StellarAssetClient<'_> {
        StellarAssetClient::new(&self.env, &self.token)
    }

    /// A token balance.
    pub fn balance(&self, who: &Address) -> i128 {
        self.token().balance(who)
    }

    /// A symbol reference.
    pub fn reference(&self, text: &str) -> Symbol {
        Symbol::new(&self.env, text)
    }

    /// Creates and fully funds an escrow of `amount`, assigned to the worker.
    pub fn funded_escrow(&self, text: &str, amount: i128) -> Symbol {
        let reference = self.reference(text);
        let client = self.client();
        client.create(&reference, &self.funder, &amount);
        client.fund(&reference, &amount);
        client.assign(&reference, &self.worker);
        reference
    }

    /// The escrow as stored.
    pub fn escrow(&self, reference: &Symbol) -> Escrow {
        self.client().get(reference)
    }
}
