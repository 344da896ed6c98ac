//! Replays the shared scenario files (`scenarios/*.json`, format in the README) against the
//! contract and a Stellar Asset Contract. The stellar service's `local` backend replays the
//! same files, so the two cannot drift.

extern crate std;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

use serde_json::{Map, Value};
use soroban_sdk::testutils::{Address as _, MuxedAddress as _};
use soroban_sdk::token::{StellarAssetClient, TokenClient};
use soroban_sdk::{Address, Env, MuxedAddress, Symbol};

use crate::testutil::{new_account, new_env};
use crate::{Error, Escrow, EscrowContract, EscrowContractClient, Status};

/// Minted to `funder` before the first step.
pub const FLOAT: i128 = 1_000_000;
const SCENARIO_KEYS: [&str; 3] = ["name", "fee_bps", "steps"];
const STEP_KEYS: [&str; 5] = ["call", "args", "error", "expect", "balances"];
const ACTORS: [&str; 5] = ["funder", "worker", "worker2", "fee_account", "contract"];

/// The constructor's arguments: admin, operator, arbiter, token, fee account, fee.
pub type DeployArgs = (Address, Address, Address, Address, Address, u32);

/// The scenario files, sorted by name.
pub fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// The error with this README name.
fn error_named(name: &str) -> Error {
    match name {
        "NotFound" => Error::NotFound,
        "AlreadyExists" => Error::AlreadyExists,
        "InvalidAmount" => Error::InvalidAmount,
        "OverFunded" => Error::OverFunded,
        "NotFunding" => Error::NotFunding,
        "NotFunded" => Error::NotFunded,
        "NoPayee" => Error::NoPayee,
        "Closed" => Error::Closed,
        "NotDisputed" => Error::NotDisputed,
        "InvalidSplit" => Error::InvalidSplit,
        "InvalidFee" => Error::InvalidFee,
        "InDispute" => Error::InDispute,
        other => panic!("unknown error name {other:?}"),
    }
}

/// The README name of a status.
fn status_name(status: Status) -> &'static str {
    match status {
        Status::Funding => "funding",
        Status::Funded => "funded",
        Status::Released => "released",
        Status::Refunded => "refunded",
        Status::Disputed => "disputed",
        Status::Resolved => "resolved",
    }
}

struct Replay<'a> {
    env: Env,
    contract: Address,
    token: Address,
    actors: BTreeMap<&'static str, Address>,
    references: Vec<Symbol>,
    file: &'a str,
}

impl Replay<'_> {
    fn client(&self) -> EscrowContractClient<'_> {
        EscrowContractClient::new(&self.env, &self.contract)
    }

    fn actor(&self, name: &str) -> Address {
        self.actors
            .get(name)
            .unwrap_or_else(|| panic!("{}: unknown actor {name:?}", self.file))
            .clone()
    }

    fn actor_name(&self, address: &Address) -> String {
        self.actors
            .iter()
            .find(|(_, a)| *a == address)
            .map_or_else(|| std::format!("{address:?}"), |(name, _)| name.to_string())
    }

    fn balance(&self, who: &Address) -> i128 {
        TokenClient::new(&self.env, &self.token).balance(who)
    }

    /// Every actor's balance and every escrow seen so far: a refused step must not change it.
    fn world(&self) -> (Vec<i128>, Vec<Option<Escrow>>) {
        let balances = self.actors.values().map(|a| self.balance(a)).collect();
        let escrows = self
            .references
            .iter()
            .map(|r| self.client().try_get(r).ok().and_then(|r| r.ok()))
            .collect();
        (balances, escrows)
    }

    /// The escrow as the scenario names things.
    fn shown(&self, escrow: &Escrow) -> Map<String, Value> {
        let mut shown = Map::new();
        let int = |v: i128| Value::from(i64::try_from(v).expect("amount fits i64"));
        shown.insert("funder".into(), self.actor_name(&escrow.funder).into());
        shown.insert("amount".into(), int(escrow.amount));
        shown.insert("funded".into(), int(escrow.funded));
        shown.insert(
            "payee".into(),
            escrow
                .payee
                .as_ref()
                .map_or(Value::Null, |p| self.actor_name(p).into()),
        );
        shown.insert(
            "payee_id".into(),
            escrow.payee_id.map_or(Value::Null, Value::from),
        );
        shown.insert("released".into(), int(escrow.released));
        shown.insert("fee".into(), int(escrow.fee));
        shown.insert("refunded".into(), int(escrow.refunded));
        shown.insert("status".into(), status_name(escrow.status).into());
        shown
    }

    /// Adds the step's reference to those [`Replay::world`] looks at.
    fn note_reference(&mut self, args: &Map<String, Value>) {
        if let Some(text) = args.get("reference").and_then(Value::as_str) {
            let reference = Symbol::new(&self.env, text);
            if !self.references.contains(&reference) {
                self.references.push(reference);
            }
        }
    }

    /// Runs one call; `Ok(Some(escrow))` for `get`.
    fn call(&self, call: &str, args: &Map<String, Value>) -> Result<Option<Escrow>, Error> {
        let file = self.file;
        let text = |key: &str| -> String {
            args.get(key)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{file}: {call} needs a string {key:?}"))
                .to_string()
        };
        let int = |key: &str| -> i128 {
            let value = args
                .get(key)
                .unwrap_or_else(|| panic!("{file}: {call} needs {key:?}"));
            value
                .as_i64()
                .map(i128::from)
                .unwrap_or_else(|| panic!("{file}: {key} = {value} is not an integer"))
        };
        let allowed: &[&str] = match call {
            "create" => &["reference", "funder", "amount"],
            "fund" => &["reference", "amount"],
            "assign" => &["reference", "payee", "payee_id"],
            "resolve" => &["reference", "to_payee", "to_funder"],
            "release" | "refund" | "dispute" | "get" => &["reference"],
            other => panic!("{file}: unknown call {other:?}"),
        };
        for key in args.keys() {
            assert!(
                allowed.contains(&key.as_str()),
                "{file}: {call} has an unknown argument {key:?}"
            );
        }
        let reference = Symbol::new(&self.env, &text("reference"));
        let client = self.client();
        let result = match call {
            "create" => client
                .try_create(&reference, &self.actor(&text("funder")), &int("amount"))
                .map(|r| r.map(|()| None)),
            "fund" => client
                .try_fund(&reference, &int("amount"))
                .map(|r| r.map(|()| None)),
            "assign" => {
                let payee = self.actor(&text("payee"));
                let payee: MuxedAddress = match args.get("payee_id") {
                    None | Some(Value::Null) => payee.into(),
                    Some(id) => MuxedAddress::new(
                        payee,
                        id.as_u64()
                            .unwrap_or_else(|| panic!("{file}: payee_id {id} is not a u64")),
                    ),
                };
                client
                    .try_assign(&reference, &payee)
                    .map(|r| r.map(|()| None))
            }
            "release" => client.try_release(&reference).map(|r| r.map(|()| None)),
            "refund" => client.try_refund(&reference).map(|r| r.map(|()| None)),
            "dispute" => client.try_dispute(&reference).map(|r| r.map(|()| None)),
            "resolve" => client
                .try_resolve(&reference, &int("to_payee"), &int("to_funder"))
                .map(|r| r.map(|()| None)),
            "get" => client.try_get(&reference).map(|r| r.map(Some)),
            _ => unreachable!(),
        };
        match result {
            Ok(Ok(escrow)) => Ok(escrow),
            Err(Ok(error)) => Err(error),
            other => panic!("{file}: {call} did not return a contract result: {other:?}"),
        }
    }
}

/// Replays one scenario file against a contract deployed by `register`.
pub fn replay(path: &Path, register: &dyn Fn(&Env, DeployArgs) -> Address) {
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let scenario: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let scenario = scenario.as_object().expect("a scenario is an object");
    for key in scenario.keys() {
        assert!(
            SCENARIO_KEYS.contains(&key.as_str()),
            "{file}: unknown key {key:?}"
        );
    }
    assert!(
        scenario.get("name").and_then(Value::as_str).is_some(),
        "{file}: no name"
    );
    let fee_bps = scenario
        .get("fee_bps")
        .map_or(0, |v| v.as_u64().expect("fee_bps is a number"));
    let fee_bps = u32::try_from(fee_bps).expect("fee_bps fits u32");

    let env = new_env();
    env.mock_all_auths();
    let token = env
        .register_stellar_asset_contract_v2(Address::generate(&env))
        .address();
    let mut actors = BTreeMap::new();
    for name in ["funder", "worker", "worker2", "fee_account"] {
        actors.insert(name, new_account(&env, &token));
    }
    // The operator is the funder: the platform's float account.
    let contract = register(
        &env,
        (
            Address::generate(&env),
            actors["funder"].clone(),
            Address::generate(&env),
            token.clone(),
            actors["fee_account"].clone(),
            fee_bps,
        ),
    );
    actors.insert("contract", contract.clone());
    StellarAssetClient::new(&env, &token).mint(&actors["funder"], &FLOAT);
    let mut replay = Replay {
        env,
        contract,
        token,
        actors,
        references: Vec::new(),
        file,
    };

    let steps = scenario
        .get("steps")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{file}: no steps"));
    for (index, step) in steps.iter().enumerate() {
        let where_ = std::format!("{file} step {index}: {step}");
        let step = step.as_object().expect("a step is an object");
        for key in step.keys() {
            assert!(
                STEP_KEYS.contains(&key.as_str()),
                "{where_}: unknown key {key:?}"
            );
        }
        if let Some(balances) = step.get("balances") {
            for (name, want) in balances.as_object().expect("balances is an object") {
                assert!(ACTORS.contains(&name.as_str()), "{where_}: actor {name}");
                let got = replay.balance(&replay.actor(name));
                let want = i128::from(want.as_i64().expect("a balance is an integer"));
                assert_eq!(got, want, "{where_}: balance of {name}");
            }
            continue;
        }
        let call = step
            .get("call")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{where_}: no call"));
        let empty = Map::new();
        let args = step
            .get("args")
            .map_or(&empty, |a| a.as_object().expect("args is an object"));
        replay.note_reference(args);
        let before = replay.world();
        let result = replay.call(call, args);
        if let Some(error) = step.get("error") {
            let error = error_named(error.as_str().expect("error is a name"));
            assert_eq!(result, Err(error), "{where_}");
            assert_eq!(
                replay.world(),
                before,
                "{where_}: a refused call changed something"
            );
            continue;
        }
        let escrow = result.unwrap_or_else(|e| panic!("{where_}: refused with {e:?}"));
        if let Some(expect) = step.get("expect") {
            assert_eq!(call, "get", "{where_}: expect is only for get");
            let escrow = escrow.expect("get returns the escrow");
            let shown = replay.shown(&escrow);
            for (field, want) in expect.as_object().expect("expect is an object") {
                let got = shown
                    .get(field)
                    .unwrap_or_else(|| panic!("{where_}: unknown field {field:?}"));
                assert_eq!(got, want, "{where_}: field {field}");
            }
        }
    }
}

/// The natively compiled contract.
fn native(env: &Env, args: DeployArgs) -> Address {
    env.register(EscrowContract, args)
}

#[test]
fn every_scenario_file_replays_against_the_contract() {
    let files = scenario_files();
    assert!(files.len() >= 8, "expected at least 8 scenario files");
    for path in &files {
        replay(path, &native);
    }
}

#[test]
fn the_scenarios_use_every_call_and_every_error_a_call_can_return() {
    let mut calls = std::collections::BTreeSet::new();
    let mut errors = std::collections::BTreeSet::new();
    for path in scenario_files() {
        let scenario: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("json");
        for step in scenario["steps"].as_array().expect("steps") {
            if let Some(call) = step.get("call").and_then(Value::as_str) {
                calls.insert(call.to_string());
            }
            if let Some(error) = step.get("error").and_then(Value::as_str) {
                errors.insert(error_named(error) as u32);
            }
        }
    }
    let want_calls = [
        "assign", "create", "dispute", "fund", "get", "refund", "release", "resolve",
    ];
    assert_eq!(
        calls.iter().map(String::as_str).collect::<Vec<_>>(),
        want_calls
    );
    // 11 (InvalidFee) comes only from the constructor, which a scenario cannot call: the
    // replayers deploy with the file's `fee_bps` before the first step.
    let want_errors: Vec<u32> = (1..=12).filter(|n| *n != 11).collect();
    assert_eq!(errors.into_iter().collect::<Vec<_>>(), want_errors);
}

#[test]
fn a_scenario_that_lies_fails() {
    let lie = r#"{"name": "lie", "fee_bps": 0, "steps": [
        {"call": "create", "args": {"reference": "ESCROW_LIE00001", "funder": "funder", "amount": 10}},
        {"call": "fund", "args": {"reference": "ESCROW_LIE00001", "amount": 10}},
        {"balances": {"contract": 11}}]}"#;
    let dir = std::env::temp_dir().join(std::format!("kazi-escrow-lie-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("lie.json");
    std::fs::write(&path, lie).expect("write");
    let caught = std::panic::catch_unwind(|| replay(&path, &native));
    std::fs::remove_dir_all(&dir).ok();
    assert!(caught.is_err(), "a wrong balance was not caught");
}
