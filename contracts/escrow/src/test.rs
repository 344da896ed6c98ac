//! Unit tests: one group per entry point, each with its exact authorisation tree, its events,
//! real token balances through a Stellar Asset Contract, and every error path.

extern crate std;

use soroban_sdk::testutils::storage::{Instance as _, Persistent as _};
use soroban_sdk::testutils::{
    Address as _, AuthorizedFunction, AuthorizedInvocation, Events as _, Ledger as _, MockAuth,
    MockAuthInvoke, MuxedAddress as _,
};
use soroban_sdk::{vec, Address, BytesN, IntoVal, MuxedAddress, Symbol, Val};

use crate::storage::EXTEND_TO;
use crate::testutil::{new_account, Setup};
use crate::{Config, Error, Escrow, EscrowContract, Status};

/// The one authorisation the last call needed: `who` signed `contract.function(args)` with
/// these sub-invocations.
fn auth(
    who: &Address,
    contract: &Address,
    function: &str,
    args: soroban_sdk::Vec<Val>,
    sub_invocations: std::vec::Vec<AuthorizedInvocation>,
) -> (Address, AuthorizedInvocation) {
    (
        who.clone(),
        invocation(contract, function, args, sub_invocations),
    )
}

fn invocation(
    contract: &Address,
    function: &str,
    args: soroban_sdk::Vec<Val>,
    sub_invocations: std::vec::Vec<AuthorizedInvocation>,
) -> AuthorizedInvocation {
    AuthorizedInvocation {
        function: AuthorizedFunction::Contract((
            contract.clone(),
            Symbol::new(contract.env(), function),
            args,
        )),
        sub_invocations,
    }
}

/// Only `who` signs the next call to `function(args)` (no sub-invocations).
fn only_signer(s: &Setup, who: &Address, function: &str, args: soroban_sdk::Vec<Val>) {
    s.env.mock_auths(&[MockAuth {
        address: who,
        invoke: &MockAuthInvoke {
            contract: &s.contract,
            fn_name: function,
            args,
            sub_invokes: &[],
        },
    }]);
}

/// Everything the contract knows and holds, to check that a refused call changed nothing.
fn state(s: &Setup, reference: &Symbol) -> (Option<Escrow>, [i128; 4]) {
    let escrow = s.client().try_get(reference).ok().and_then(|r| r.ok());
    (
        escrow,
        [
            s.balance(&s.contract),
            s.balance(&s.funder),
            s.balance(&s.worker),
            s.balance(&s.fee_account),
        ],
    )
}

/// Asserts the call was refused with exactly `error` and changed nothing.
macro_rules! assert_refused {
    ($s:expr, $reference:expr, $call:expr, $error:expr) => {{
        let before = state(&$s, &$reference);
        let result = $call;
        assert_eq!(result, Err(Ok($error)));
        assert_eq!(
            state(&$s, &$reference),
            before,
            "a refused call changed state"
        );
    }};
}

fn last_event(s: &Setup) -> (soroban_sdk::Vec<Val>, Val) {
    let events = s.env.events().all().filter_by_contract(&s.contract);
    let all = events.events();
    assert_eq!(all.len(), 1, "each write emits exactly one event");
    let body = match &all[0].body {
        soroban_sdk::xdr::ContractEventBody::V0(v0) => v0.clone(),
    };
    let topics: soroban_sdk::Vec<Val> = soroban_sdk::Vec::from_iter(
        &s.env,
        body.topics
            .iter()
            .map(|t| soroban_sdk::TryIntoVal::try_into_val(t, &s.env).unwrap()),
    );
    let data: Val = soroban_sdk::TryIntoVal::try_into_val(&body.data, &s.env).unwrap();
    (topics, data)
}

fn assert_event(s: &Setup, name: &str, reference: &Symbol, data: soroban_sdk::Vec<Val>) {
    let (topics, got) = last_event(s);
    let want_topics: soroban_sdk::Vec<Val> =
        (Symbol::new(&s.env, name), reference.clone()).into_val(&s.env);
    assert_eq!(topics, want_topics);
    let got: soroban_sdk::Vec<Val> = got.into_val(&s.env);
    assert_eq!(got, data);
}

// ---------------------------------------------------------------------------------------------
// Constructor and configuration

#[test]
fn constructor_keeps_the_configuration() {
    let s = Setup::new(250);
    assert_eq!(
        s.client().config(),
        Config {
            admin: s.admin.clone(),
            operator: s.operator.clone(),
            arbiter: s.arbiter.clone(),
            token: s.token.clone(),
            fee_account: s.fee_account.clone(),
            fee_bps: 250,
        }
    );
    let ttl = s
        .env
        .as_contract(&s.contract, || s.env.storage().instance().get_ttl());
    assert_eq!(ttl, EXTEND_TO);
}

#[test]
fn constructor_accepts_the_largest_fee() {
    let s = Setup::new(1_000);
    assert_eq!(s.client().config().fee_bps, 1_000);
}

#[test]
#[should_panic(expected = "Error(Contract, #11)")]
fn constructor_refuses_a_fee_above_ten_percent() {
    Setup::new(1_001);
}

#[test]
fn error_numbers_are_the_interface() {
    let numbered = [
        (Error::NotFound, 1),
        (Error::AlreadyExists, 2),
        (Error::InvalidAmount, 3),
        (Error::OverFunded, 4),
        (Error::NotFunding, 5),
        (Error::NotFunded, 6),
        (Error::NoPayee, 7),
        (Error::Closed, 8),
        (Error::NotDisputed, 9),
        (Error::InvalidSplit, 10),
        (Error::InvalidFee, 11),
        (Error::InDispute, 12),
    ];
    for (error, n) in numbered {
        assert_eq!(error as u32, n);
    }
    let statuses = [
        (Status::Funding, 0),
        (Status::Funded, 1),
        (Status::Released, 2),
        (Status::Refunded, 3),
        (Status::Disputed, 4),
        (Status::Resolved, 5),
    ];
    for (status, n) in statuses {
        assert_eq!(status as u32, n);
    }
}

#[test]
fn escrow_and_status_encode_as_the_readme_says() {
    use soroban_sdk::xdr::{ScMap, ScVal};
    let s = Setup::new(0);
    let escrow = Escrow {
        funder: s.funder.clone(),
        amount: 5,
        funded: 0,
        payee: None,
        payee_id: Some(7),
        released: 0,
        fee: 0,
        refunded: 0,
        status: Status::Disputed,
    };
    let val: ScVal = (&escrow).try_into().unwrap();
    let ScVal::Map(Some(ScMap(entries))) = val else {
        panic!("Escrow is not an ScMap: {val:?}")
    };
    let keys: std::vec::Vec<std::string::String> = entries
        .iter()
        .map(|e| match &e.key {
            ScVal::Symbol(sym) => sym.to_utf8_string().unwrap(),
            other => panic!("key {other:?}"),
        })
        .collect();
    assert_eq!(
        keys,
        [
            "amount", "fee", "funded", "funder", "payee", "payee_id", "refunded", "released",
            "status"
        ]
    );
    let field = |name: &str| {
        entries
            .iter()
            .find(|e| e.key == ScVal::Symbol(name.try_into().unwrap()))
            .unwrap()
            .val
            .clone()
    };
    assert_eq!(field("status"), ScVal::U32(4));
    assert_eq!(field("payee"), ScVal::Void);
    assert_eq!(field("payee_id"), ScVal::U64(7));
    assert!(matches!(field("amount"), ScVal::I128(_)));
}

// ---------------------------------------------------------------------------------------------
// create

#[test]
fn create_needs_the_operator_and_records_a_funding_escrow() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_CREATE01");
    client.create(&reference, &s.funder, &1_000);
    assert_eq!(
        s.env.auths(),
        std::vec![auth(
            &s.operator,
            &s.contract,
            "create",
            (reference.clone(), s.funder.clone(), 1_000_i128).into_val(&s.env),
            std::vec![],
        )]
    );
    assert_event(
        &s,
        "created",
        &reference,
        vec![
            &s.env,
            s.funder.into_val(&s.env),
            1_000_i128.into_val(&s.env),
        ],
    );
    assert_eq!(
        client.get(&reference),
        Escrow {
            funder: s.funder.clone(),
            amount: 1_000,
            funded: 0,
            payee: None,
            payee_id: None,
            released: 0,
            fee: 0,
            refunded: 0,
            status: Status::Funding,
        }
    );
    assert_eq!(s.balance(&s.contract), 0);
}

#[test]
fn create_refuses_another_signer() {
    let s = Setup::new(0);
    let reference = s.reference("ESCROW_CREATE02");
    let args = (reference.clone(), s.funder.clone(), 1_000_i128).into_val(&s.env);
    only_signer(&s, &s.admin, "create", args);
    assert!(s
        .client()
        .try_create(&reference, &s.funder, &1_000)
        .is_err());
    assert_eq!(s.client().try_get(&reference), Err(Ok(Error::NotFound)));
    let args = (reference.clone(), s.funder.clone(), 1_000_i128).into_val(&s.env);
    only_signer(&s, &s.operator, "create", args);
    s.client().create(&reference, &s.funder, &1_000);
}

#[test]
fn create_refuses_bad_amounts_and_duplicates() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_CREATE03");
    for amount in [0, -1, i128::MIN] {
        assert_refused!(
            s,
            reference,
            client.try_create(&reference, &s.funder, &amount),
            Error::InvalidAmount
        );
    }
    client.create(&reference, &s.funder, &1_000);
    assert_refused!(
        s,
        reference,
        client.try_create(&reference, &s.funder, &5),
        Error::AlreadyExists
    );
    // InvalidAmount is checked before AlreadyExists.
    assert_refused!(
        s,
        reference,
        client.try_create(&reference, &s.funder, &0),
        Error::InvalidAmount
    );
}

#[test]
fn the_contract_cannot_fund_an_escrow_from_what_it_holds() {
    // Otherwise `fund` would move tokens from the contract to itself, recording money that
    // belongs to other escrows (the contract authorises its own transfers).
    let s = Setup::new(0);
    let client = s.client();
    let other = s.funded_escrow("ESCROW_SELF0001", 500);
    let reference = s.reference("ESCROW_SELF0002");
    assert_refused!(
        s,
        reference,
        client.try_create(&reference, &s.contract, &500),
        Error::InvalidAmount
    );
    assert_eq!(s.escrow(&other).funded, 500);
    assert_eq!(s.balance(&s.contract), 500);
}

#[test]
#[should_panic(expected = "Error(Contract, #3)")]
fn create_panics_invalid_amount() {
    let s = Setup::new(0);
    s.client()
        .create(&s.reference("ESCROW_PANIC03"), &s.funder, &0);
}

#[test]
#[should_panic(expected = "Error(Contract, #2)")]
fn create_panics_already_exists() {
    let s = Setup::new(0);
    let reference = s.reference("ESCROW_PANIC02");
    s.client().create(&reference, &s.funder, &10);
    s.client().create(&reference, &s.funder, &10);
}

// ---------------------------------------------------------------------------------------------
// fund

#[test]
fn fund_moves_the_funders_tokens_and_adds_up() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_FUND0001");
    client.create(&reference, &s.funder, &1_000);
    client.fund(&reference, &400);
    assert_eq!(
        s.env.auths(),
        std::vec![auth(
            &s.operator,
            &s.contract,
            "fund",
            (reference.clone(), 400_i128).into_val(&s.env),
            std::vec![invocation(
                &s.token,
                "transfer",
                (s.funder.clone(), s.contract.clone(), 400_i128).into_val(&s.env),
                std::vec![],
            )],
        )]
    );
    assert_event(
        &s,
        "funded",
        &reference,
        vec![&s.env, 400_i128.into_val(&s.env), 400_i128.into_val(&s.env)],
    );
    let escrow = client.get(&reference);
    assert_eq!((escrow.funded, escrow.status), (400, Status::Funding));
    assert_eq!(s.balance(&s.contract), 400);
    assert_eq!(s.balance(&s.funder), 999_600);

    client.fund(&reference, &600);
    let escrow = client.get(&reference);
    assert_eq!((escrow.funded, escrow.status), (1_000, Status::Funded));
    assert_eq!(s.balance(&s.contract), 1_000);
    assert_eq!(s.balance(&s.funder), 999_000);
}

#[test]
fn fund_by_a_funder_other_than_the_operator_needs_both() {
    let s = Setup::new(0);
    let client = s.client();
    let funder = Address::generate(&s.env);
    s.sac().mint(&funder, &500);
    let reference = s.reference("ESCROW_FUND0002");
    client.create(&reference, &funder, &500);
    client.fund(&reference, &500);
    assert_eq!(
        s.env.auths(),
        std::vec![
            auth(
                &s.operator,
                &s.contract,
                "fund",
                (reference.clone(), 500_i128).into_val(&s.env),
                std::vec![],
            ),
            auth(
                &funder,
                &s.contract,
                "fund",
                (reference.clone(), 500_i128).into_val(&s.env),
                std::vec![invocation(
                    &s.token,
                    "transfer",
                    (funder.clone(), s.contract.clone(), 500_i128).into_val(&s.env),
                    std::vec![],
                )],
            ),
        ]
    );
    assert_eq!(s.balance(&funder), 0);
    assert_eq!(s.balance(&s.contract), 500);
}

#[test]
fn fund_refuses_another_signer() {
    let s = Setup::new(0);
    let reference = s.reference("ESCROW_FUND0003");
    s.client().create(&reference, &s.funder, &1_000);
    only_signer(
        &s,
        &s.arbiter,
        "fund",
        (reference.clone(), 100_i128).into_val(&s.env),
    );
    let before = state(&s, &reference);
    assert!(s.client().try_fund(&reference, &100).is_err());
    assert_eq!(state(&s, &reference), before);
}

#[test]
fn fund_refuses_every_bad_call_in_order() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_FUND0004");
    assert_refused!(
        s,
        reference,
        client.try_fund(&reference, &0),
        Error::NotFound
    );
    client.create(&reference, &s.funder, &1_000);
    for amount in [0, -5] {
        assert_refused!(
            s,
            reference,
            client.try_fund(&reference, &amount),
            Error::InvalidAmount
        );
    }
    client.fund(&reference, &400);
    assert_refused!(
        s,
        reference,
        client.try_fund(&reference, &601),
        Error::OverFunded
    );
    assert_refused!(
        s,
        reference,
        client.try_fund(&reference, &i128::MAX),
        Error::OverFunded
    );
    client.fund(&reference, &600);
    assert_refused!(
        s,
        reference,
        client.try_fund(&reference, &1),
        Error::NotFunding
    );
    client.assign(&reference, &s.worker);
    client.release(&reference);
    assert_refused!(
        s,
        reference,
        client.try_fund(&reference, &1),
        Error::NotFunding
    );
}

#[test]
#[should_panic(expected = "Error(Contract, #1)")]
fn fund_panics_not_found() {
    let s = Setup::new(0);
    s.client().fund(&s.reference("ESCROW_NOSUCH01"), &1);
}

#[test]
#[should_panic(expected = "Error(Contract, #4)")]
fn fund_panics_over_funded() {
    let s = Setup::new(0);
    let reference = s.reference("ESCROW_PANIC04");
    s.client().create(&reference, &s.funder, &10);
    s.client().fund(&reference, &11);
}

#[test]
#[should_panic(expected = "Error(Contract, #5)")]
fn fund_panics_not_funding() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_PANIC05", 10);
    s.client().fund(&reference, &1);
}

// ---------------------------------------------------------------------------------------------
// assign

#[test]
fn assign_records_a_muxed_payee_and_may_change() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_ASSIGN01");
    client.create(&reference, &s.funder, &1_000);
    let muxed = MuxedAddress::new(s.worker.clone(), 42);
    client.assign(&reference, &muxed);
    assert_eq!(
        s.env.auths(),
        std::vec![auth(
            &s.operator,
            &s.contract,
            "assign",
            (reference.clone(), muxed.clone()).into_val(&s.env),
            std::vec![],
        )]
    );
    assert_event(
        &s,
        "assigned",
        &reference,
        vec![
            &s.env,
            s.worker.into_val(&s.env),
            Some(42_u64).into_val(&s.env),
        ],
    );
    let escrow = client.get(&reference);
    assert_eq!(escrow.payee, Some(s.worker.clone()));
    assert_eq!(escrow.payee_id, Some(42));

    let worker2 = new_account(&s.env, &s.token);
    client.assign(&reference, &worker2);
    assert_event(
        &s,
        "assigned",
        &reference,
        vec![
            &s.env,
            worker2.into_val(&s.env),
            Option::<u64>::None.into_val(&s.env),
        ],
    );
    let escrow = client.get(&reference);
    assert_eq!(escrow.payee, Some(worker2.clone()));
    assert_eq!(escrow.payee_id, None);
}

#[test]
fn assign_refuses_another_signer() {
    let s = Setup::new(0);
    let reference = s.reference("ESCROW_ASSIGN02");
    s.client().create(&reference, &s.funder, &1_000);
    let payee: MuxedAddress = s.worker.clone().into();
    only_signer(
        &s,
        &s.admin,
        "assign",
        (reference.clone(), payee.clone()).into_val(&s.env),
    );
    assert!(s.client().try_assign(&reference, &payee).is_err());
    assert_eq!(s.escrow(&reference).payee, None);
}

#[test]
fn assign_refuses_unknown_closed_and_disputed_escrows() {
    let s = Setup::new(0);
    let client = s.client();
    let payee: MuxedAddress = s.worker.clone().into();
    let reference = s.reference("ESCROW_ASSIGN03");
    assert_refused!(
        s,
        reference,
        client.try_assign(&reference, &payee),
        Error::NotFound
    );
    let disputed = s.funded_escrow("ESCROW_ASSIGN04", 100);
    client.dispute(&disputed);
    assert_refused!(
        s,
        disputed,
        client.try_assign(&disputed, &payee),
        Error::InDispute
    );
    client.resolve(&disputed, &50, &50);
    assert_refused!(
        s,
        disputed,
        client.try_assign(&disputed, &payee),
        Error::Closed
    );
    let released = s.funded_escrow("ESCROW_ASSIGN05", 100);
    client.release(&released);
    assert_refused!(
        s,
        released,
        client.try_assign(&released, &payee),
        Error::Closed
    );
    let refunded = s.funded_escrow("ESCROW_ASSIGN06", 100);
    client.refund(&refunded);
    assert_refused!(
        s,
        refunded,
        client.try_assign(&refunded, &payee),
        Error::Closed
    );
}

#[test]
#[should_panic(expected = "Error(Contract, #12)")]
fn assign_panics_in_dispute() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_PANIC12", 10);
    s.client().dispute(&reference);
    s.client().assign(&reference, &s.worker);
}

// ---------------------------------------------------------------------------------------------
// release

#[test]
fn release_pays_the_payee_and_the_fee_once() {
    let s = Setup::new(250);
    let client = s.client();
    let reference = s.reference("ESCROW_RELEAS01");
    client.create(&reference, &s.funder, &1_001);
    client.fund(&reference, &1_001);
    client.assign(&reference, MuxedAddress::new(s.worker.clone(), 9));
    client.release(&reference);
    assert_eq!(
        s.env.auths(),
        std::vec![auth(
            &s.operator,
            &s.contract,
            "release",
            (reference.clone(),).into_val(&s.env),
            std::vec![],
        )]
    );
    // 1001 × 250 / 10000 = 25.025 → 25.
    assert_event(
        &s,
        "released",
        &reference,
        vec![
            &s.env,
            s.worker.into_val(&s.env),
            Some(9_u64).into_val(&s.env),
            976_i128.into_val(&s.env),
            25_i128.into_val(&s.env),
        ],
    );
    let escrow = client.get(&reference);
    assert_eq!(
        (escrow.released, escrow.fee, escrow.refunded, escrow.status),
        (976, 25, 0, Status::Released)
    );
    assert_eq!(s.balance(&s.worker), 976);
    assert_eq!(s.balance(&s.fee_account), 25);
    assert_eq!(s.balance(&s.contract), 0);
    // A second release fails with the contract's error and pays nothing.
    assert_refused!(s, reference, client.try_release(&reference), Error::Closed);
}

#[test]
fn release_without_a_fee_pays_everything_to_the_payee() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_RELEAS02", 700);
    s.client().release(&reference);
    assert_eq!(s.balance(&s.worker), 700);
    assert_eq!(s.balance(&s.fee_account), 0);
    let escrow = s.escrow(&reference);
    assert_eq!((escrow.released, escrow.fee), (700, 0));
}

#[test]
fn release_refuses_another_signer() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_RELEAS03", 700);
    for who in [
        s.admin.clone(),
        s.arbiter.clone(),
        Address::generate(&s.env),
    ] {
        only_signer(&s, &who, "release", (reference.clone(),).into_val(&s.env));
        let before = state(&s, &reference);
        assert!(s.client().try_release(&reference).is_err());
        assert_eq!(state(&s, &reference), before);
    }
}

#[test]
fn release_refuses_every_bad_call_in_order() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_RELEAS04");
    assert_refused!(
        s,
        reference,
        client.try_release(&reference),
        Error::NotFound
    );
    client.create(&reference, &s.funder, &100);
    client.fund(&reference, &50);
    client.assign(&reference, &s.worker);
    assert_refused!(
        s,
        reference,
        client.try_release(&reference),
        Error::NotFunded
    );
    let unassigned = s.reference("ESCROW_RELEAS05");
    client.create(&unassigned, &s.funder, &100);
    client.fund(&unassigned, &100);
    assert_refused!(
        s,
        unassigned,
        client.try_release(&unassigned),
        Error::NoPayee
    );
    client.dispute(&unassigned);
    assert_refused!(
        s,
        unassigned,
        client.try_release(&unassigned),
        Error::InDispute
    );
    client.resolve(&unassigned, &0, &100);
    assert_refused!(
        s,
        unassigned,
        client.try_release(&unassigned),
        Error::Closed
    );
}

#[test]
#[should_panic(expected = "Error(Contract, #6)")]
fn release_panics_not_funded() {
    let s = Setup::new(0);
    let reference = s.reference("ESCROW_PANIC06");
    s.client().create(&reference, &s.funder, &10);
    s.client().assign(&reference, &s.worker);
    s.client().release(&reference);
}

#[test]
#[should_panic(expected = "Error(Contract, #7)")]
fn release_panics_no_payee() {
    let s = Setup::new(0);
    let reference = s.reference("ESCROW_PANIC07");
    s.client().create(&reference, &s.funder, &10);
    s.client().fund(&reference, &10);
    s.client().release(&reference);
}

#[test]
#[should_panic(expected = "Error(Contract, #8)")]
fn release_panics_closed() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_PANIC08", 10);
    s.client().release(&reference);
    s.client().release(&reference);
}

// ---------------------------------------------------------------------------------------------
// refund

#[test]
fn refund_returns_everything_funded_once() {
    let s = Setup::new(300);
    let client = s.client();
    let reference = s.reference("ESCROW_REFUND01");
    client.create(&reference, &s.funder, &1_000);
    client.fund(&reference, &300);
    client.refund(&reference);
    assert_eq!(
        s.env.auths(),
        std::vec![auth(
            &s.operator,
            &s.contract,
            "refund",
            (reference.clone(),).into_val(&s.env),
            std::vec![],
        )]
    );
    assert_event(
        &s,
        "refunded",
        &reference,
        vec![&s.env, s.funder.into_val(&s.env), 300_i128.into_val(&s.env)],
    );
    let escrow = client.get(&reference);
    assert_eq!(
        (escrow.refunded, escrow.released, escrow.fee, escrow.status),
        (300, 0, 0, Status::Refunded)
    );
    assert_eq!(s.balance(&s.funder), 1_000_000);
    assert_eq!(s.balance(&s.contract), 0);
    assert_refused!(s, reference, client.try_refund(&reference), Error::Closed);
    assert_refused!(s, reference, client.try_release(&reference), Error::Closed);
}

#[test]
fn refund_of_an_unfunded_escrow_moves_nothing() {
    let s = Setup::new(0);
    let reference = s.reference("ESCROW_REFUND02");
    s.client().create(&reference, &s.funder, &1_000);
    s.client().refund(&reference);
    let escrow = s.escrow(&reference);
    assert_eq!((escrow.refunded, escrow.status), (0, Status::Refunded));
    assert_eq!(s.balance(&s.funder), 1_000_000);
}

#[test]
fn refund_refuses_another_signer() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_REFUND03", 500);
    only_signer(
        &s,
        &s.funder.clone(),
        "release",
        (reference.clone(),).into_val(&s.env),
    );
    // The operator's signature for another function does not authorise a refund.
    let before = state(&s, &reference);
    assert!(s.client().try_refund(&reference).is_err());
    only_signer(
        &s,
        &s.arbiter,
        "refund",
        (reference.clone(),).into_val(&s.env),
    );
    assert!(s.client().try_refund(&reference).is_err());
    assert_eq!(state(&s, &reference), before);
}

#[test]
fn refund_refuses_unknown_disputed_and_closed_escrows() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_REFUND04");
    assert_refused!(s, reference, client.try_refund(&reference), Error::NotFound);
    let disputed = s.funded_escrow("ESCROW_REFUND05", 100);
    client.dispute(&disputed);
    assert_refused!(s, disputed, client.try_refund(&disputed), Error::InDispute);
    let released = s.funded_escrow("ESCROW_REFUND06", 100);
    client.release(&released);
    assert_refused!(s, released, client.try_refund(&released), Error::Closed);
}

// ---------------------------------------------------------------------------------------------
// dispute

#[test]
fn dispute_freezes_a_funded_escrow() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.funded_escrow("ESCROW_DISPUT01", 100);
    client.dispute(&reference);
    assert_eq!(
        s.env.auths(),
        std::vec![auth(
            &s.operator,
            &s.contract,
            "dispute",
            (reference.clone(),).into_val(&s.env),
            std::vec![],
        )]
    );
    assert_event(&s, "disputed", &reference, vec![&s.env]);
    assert_eq!(client.get(&reference).status, Status::Disputed);
    assert_eq!(s.balance(&s.contract), 100);
    for refused in [
        client.try_release(&reference),
        client.try_refund(&reference),
        client.try_dispute(&reference),
    ] {
        assert_eq!(refused, Err(Ok(Error::InDispute)));
    }
    assert_eq!(client.try_fund(&reference, &1), Err(Ok(Error::NotFunding)));
}

#[test]
fn dispute_refuses_another_signer() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_DISPUT02", 100);
    only_signer(
        &s,
        &s.arbiter,
        "dispute",
        (reference.clone(),).into_val(&s.env),
    );
    assert!(s.client().try_dispute(&reference).is_err());
    assert_eq!(s.escrow(&reference).status, Status::Funded);
}

#[test]
fn dispute_refuses_every_bad_call_in_order() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_DISPUT03");
    assert_refused!(
        s,
        reference,
        client.try_dispute(&reference),
        Error::NotFound
    );
    client.create(&reference, &s.funder, &100);
    assert_refused!(
        s,
        reference,
        client.try_dispute(&reference),
        Error::NotFunded
    );
    client.fund(&reference, &100);
    client.dispute(&reference);
    assert_refused!(
        s,
        reference,
        client.try_dispute(&reference),
        Error::InDispute
    );
    client.resolve(&reference, &0, &100);
    assert_refused!(s, reference, client.try_dispute(&reference), Error::Closed);
}

// ---------------------------------------------------------------------------------------------
// resolve

#[test]
fn resolve_splits_what_is_held_without_a_fee() {
    let s = Setup::new(1_000);
    let client = s.client();
    let reference = s.funded_escrow("ESCROW_RESOLV01", 1_000);
    client.dispute(&reference);
    client.resolve(&reference, &700, &300);
    assert_eq!(
        s.env.auths(),
        std::vec![auth(
            &s.arbiter,
            &s.contract,
            "resolve",
            (reference.clone(), 700_i128, 300_i128).into_val(&s.env),
            std::vec![],
        )]
    );
    assert_event(
        &s,
        "resolved",
        &reference,
        vec![&s.env, 700_i128.into_val(&s.env), 300_i128.into_val(&s.env)],
    );
    let escrow = client.get(&reference);
    assert_eq!(
        (escrow.released, escrow.fee, escrow.refunded, escrow.status),
        (700, 0, 300, Status::Resolved)
    );
    assert_eq!(s.balance(&s.worker), 700);
    assert_eq!(s.balance(&s.funder), 999_300);
    assert_eq!(s.balance(&s.fee_account), 0);
    assert_eq!(s.balance(&s.contract), 0);
    assert_refused!(
        s,
        reference,
        client.try_resolve(&reference, &700, &300),
        Error::NotDisputed
    );
}

#[test]
fn resolve_refuses_the_operator() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_RESOLV02", 100);
    s.client().dispute(&reference);
    only_signer(
        &s,
        &s.operator,
        "resolve",
        (reference.clone(), 100_i128, 0_i128).into_val(&s.env),
    );
    let before = state(&s, &reference);
    assert!(s.client().try_resolve(&reference, &100, &0).is_err());
    assert_eq!(state(&s, &reference), before);
    only_signer(
        &s,
        &s.arbiter,
        "resolve",
        (reference.clone(), 100_i128, 0_i128).into_val(&s.env),
    );
    s.client().resolve(&reference, &100, &0);
    assert_eq!(s.balance(&s.worker), 100);
}

#[test]
fn resolve_refuses_every_bad_call_in_order() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_RESOLV03");
    assert_refused!(
        s,
        reference,
        client.try_resolve(&reference, &0, &0),
        Error::NotFound
    );
    client.create(&reference, &s.funder, &100);
    client.fund(&reference, &100);
    assert_refused!(
        s,
        reference,
        client.try_resolve(&reference, &0, &100),
        Error::NotDisputed
    );
    client.dispute(&reference);
    for (to_payee, to_funder) in [
        (-1, 101),
        (101, -1),
        (50, 49),
        (50, 51),
        (i128::MAX, i128::MAX),
        (i128::MAX, i128::MIN),
    ] {
        assert_refused!(
            s,
            reference,
            client.try_resolve(&reference, &to_payee, &to_funder),
            Error::InvalidSplit
        );
    }
    assert_refused!(
        s,
        reference,
        client.try_resolve(&reference, &1, &99),
        Error::NoPayee
    );
    client.resolve(&reference, &0, &100);
    assert_eq!(s.balance(&s.funder), 1_000_000);
}

#[test]
#[should_panic(expected = "Error(Contract, #9)")]
fn resolve_panics_not_disputed() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_PANIC09", 10);
    s.client().resolve(&reference, &10, &0);
}

#[test]
#[should_panic(expected = "Error(Contract, #10)")]
fn resolve_panics_invalid_split() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_PANIC10", 10);
    s.client().dispute(&reference);
    s.client().resolve(&reference, &10, &1);
}

// ---------------------------------------------------------------------------------------------
// get, the balance rule, TTLs, upgrade

#[test]
fn get_needs_no_auth_and_refuses_unknown_references() {
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_GET00001", 10);
    s.env.set_auths(&[]);
    assert_eq!(s.client().get(&reference).funded, 10);
    assert!(s.env.auths().is_empty());
    assert_eq!(
        s.client().try_get(&s.reference("ESCROW_NOSUCH02")),
        Err(Ok(Error::NotFound))
    );
}

#[test]
fn tokens_sent_straight_to_the_contract_unlock_nothing() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_DONATE01");
    client.create(&reference, &s.funder, &1_000);
    client.assign(&reference, &s.worker);
    // Enough tokens arrive directly to cover the escrow, but it is not funded.
    s.token().transfer(&s.funder, &s.contract, &5_000);
    assert_refused!(
        s,
        reference,
        client.try_release(&reference),
        Error::NotFunded
    );
    assert_refused!(
        s,
        reference,
        client.try_dispute(&reference),
        Error::NotFunded
    );
    // A refund returns what the escrow recorded (nothing), never the donation.
    client.refund(&reference);
    assert_eq!(s.escrow(&reference).refunded, 0);
    assert_eq!(s.balance(&s.contract), 5_000);
    // A funded escrow pays out its own amount only.
    let other = s.funded_escrow("ESCROW_DONATE02", 300);
    client.release(&other);
    assert_eq!(s.balance(&s.worker), 300);
    assert_eq!(s.balance(&s.contract), 5_000);
}

#[test]
fn every_write_extends_the_escrow_and_the_instance() {
    let s = Setup::new(0);
    let client = s.client();
    let reference = s.reference("ESCROW_TTL00001");
    let ttls = || {
        s.env.as_contract(&s.contract, || {
            (
                s.env.storage().persistent().get_ttl(&reference),
                s.env.storage().instance().get_ttl(),
            )
        })
    };
    client.create(&reference, &s.funder, &100);
    assert_eq!(ttls(), (EXTEND_TO, EXTEND_TO));
    let mut steps: std::vec::Vec<std::boxed::Box<dyn Fn()>> = std::vec![
        std::boxed::Box::new(|| client.fund(&reference, &50)),
        std::boxed::Box::new(|| client.assign(&reference, &s.worker)),
        std::boxed::Box::new(|| client.fund(&reference, &50)),
        std::boxed::Box::new(|| client.dispute(&reference)),
        std::boxed::Box::new(|| client.resolve(&reference, &100, &0)),
    ];
    for step in steps.drain(..) {
        // Two days pass: both TTLs fall below the threshold, the write extends them again.
        s.env
            .ledger()
            .with_mut(|li| li.sequence_number += 2 * crate::storage::DAY_IN_LEDGERS);
        assert!(ttls().0 < EXTEND_TO);
        step();
        assert_eq!(ttls(), (EXTEND_TO, EXTEND_TO));
    }
}

#[test]
fn upgrade_needs_the_admin() {
    let s = Setup::new(0);
    let hash = BytesN::from_array(&s.env, &[7; 32]);
    for who in [s.operator.clone(), s.arbiter.clone()] {
        only_signer(&s, &who, "upgrade", (hash.clone(),).into_val(&s.env));
        let result = s.client().try_upgrade(&hash);
        let Err(Err(error)) = result else {
            panic!("upgrade by a non-admin was not refused by auth: {result:?}")
        };
        assert_eq!(
            error,
            soroban_sdk::InvokeError::Abort,
            "expected an auth failure"
        );
    }
    // The admin's signature passes auth; the unknown hash then fails in the host.
    only_signer(&s, &s.admin, "upgrade", (hash.clone(),).into_val(&s.env));
    assert!(s.client().try_upgrade(&hash).is_err());
}

#[test]
fn two_deployments_do_not_share_escrows() {
    // Two deployments do not share escrows.
    let s = Setup::new(0);
    let other = s.env.register(
        EscrowContract,
        (
            s.admin.clone(),
            s.operator.clone(),
            s.arbiter.clone(),
            s.token.clone(),
            s.fee_account.clone(),
            5_u32,
        ),
    );
    let reference = s.funded_escrow("ESCROW_TWICE001", 10);
    let other_client = crate::EscrowContractClient::new(&s.env, &other);
    assert_eq!(other_client.try_get(&reference), Err(Ok(Error::NotFound)));
    assert_eq!(other_client.config().fee_bps, 5);
}

#[test]
fn an_escrow_is_one_compact_persistent_entry_keyed_by_its_reference() {
    use crate::storage::Stored;
    let s = Setup::new(250);
    let client = s.client();
    let stored = |reference: &Symbol| -> Stored {
        s.env.as_contract(&s.contract, || {
            assert!(!s.env.storage().temporary().has(reference));
            let raw: Val = s.env.storage().persistent().get(reference).unwrap();
            // A vector of seven values, no field names.
            let fields: soroban_sdk::Vec<Val> = raw.into_val(&s.env);
            assert_eq!(fields.len(), 7);
            s.env.storage().persistent().get(reference).unwrap()
        })
    };
    // Released: the fee is derived from funded - released.
    let a = s.funded_escrow("ESCROW_STORE001", 10_000);
    client.release(&a);
    let escrow = s.escrow(&a);
    assert_eq!(
        (escrow.funded, escrow.released, escrow.fee, escrow.refunded),
        (10_000, 9_750, 250, 0)
    );
    assert_eq!(stored(&a).5, 9_750);
    // Refunded (partly funded): refunded = funded.
    let b = s.reference("ESCROW_STORE002");
    client.create(&b, &s.funder, &1_000);
    client.fund(&b, &400);
    client.refund(&b);
    let escrow = s.escrow(&b);
    assert_eq!(
        (escrow.funded, escrow.released, escrow.fee, escrow.refunded),
        (400, 0, 0, 400)
    );
    assert_eq!(stored(&b).6, Status::Refunded);
    // Resolved: refunded = funded - released, no fee.
    let c = s.funded_escrow("ESCROW_STORE003", 800);
    client.dispute(&c);
    client.resolve(&c, &300, &500);
    let escrow = s.escrow(&c);
    assert_eq!(
        (escrow.funded, escrow.released, escrow.fee, escrow.refunded),
        (800, 300, 0, 500)
    );
    // Open: nothing paid out.
    let d = s.funded_escrow("ESCROW_STORE004", 50);
    let escrow = s.escrow(&d);
    assert_eq!(
        (escrow.funded, escrow.released, escrow.fee, escrow.refunded),
        (50, 0, 0, 0)
    );
    assert_eq!(stored(&d).6, Status::Funded);
}
