//! Tests of the built wasm (`make contract`), and the cost report (`make contract-costs`).
//!
//! When the wasm is absent these tests print `SKIPPED: …` and pass, unless
//! `KAZI_REQUIRE_WASM=1`, when they fail.

extern crate std;

use std::path::PathBuf;
use std::println;
use std::vec::Vec;

use soroban_sdk::testutils::{
    Address as _, AuthorizedFunction, AuthorizedInvocation, Events as _, Ledger as _, MockAuth,
    MockAuthInvoke, MuxedAddress as _,
};
use soroban_sdk::token::StellarAssetClient;
use soroban_sdk::{Address, Env, IntoVal, MuxedAddress, Symbol};

use crate::test_scenarios::{replay, scenario_files, DeployArgs};
use crate::testutil::{new_account, new_env, Setup};
use crate::{EscrowContract, EscrowContractClient, Status};

/// Where `make contract` puts the wasm (`KAZI_ESCROW_WASM` overrides it).
pub fn wasm_path() -> PathBuf {
    match std::env::var_os("KAZI_ESCROW_WASM") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/wasm/wasm32v1-none/release/kazi_escrow.wasm"),
    }
}

/// The built wasm, or `None` (after saying so) when it is absent and not required.
fn wasm(test: &str) -> Option<Vec<u8>> {
    let path = wasm_path();
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            let required = std::env::var("KAZI_REQUIRE_WASM").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{test}: KAZI_REQUIRE_WASM=1 but {} cannot be read ({error}); build it with make contract",
                path.display()
            );
            println!(
                "SKIPPED: {test}: no wasm at {} ({error}) (build it with make contract)",
                path.display()
            );
            None
        }
    }
}

#[test]
fn wasm_full_lifecycle_with_a_stellar_asset() {
    let Some(bytes) = wasm("wasm_full_lifecycle_with_a_stellar_asset") else {
        return;
    };
    let s = Setup::with(250, |env, args| env.register(bytes.as_slice(), args));
    let client = s.client();
    let reference = s.reference("ESCROW_WASM0001");
    client.create(&reference, &s.funder, &10_000);
    client.fund(&reference, &4_000);
    client.fund(&reference, &6_000);
    client.assign(&reference, MuxedAddress::new(s.worker.clone(), 77));
    client.release(&reference);
    assert_eq!(
        s.env.auths(),
        std::vec![(
            s.operator.clone(),
            AuthorizedInvocation {
                function: AuthorizedFunction::Contract((
                    s.contract.clone(),
                    Symbol::new(&s.env, "release"),
                    (reference.clone(),).into_val(&s.env),
                )),
                sub_invocations: std::vec![],
            }
        )]
    );
    let escrow = client.get(&reference);
    assert_eq!(
        (
            escrow.funded,
            escrow.released,
            escrow.fee,
            escrow.payee_id,
            escrow.status
        ),
        (10_000, 9_750, 250, Some(77), Status::Released)
    );
    assert_eq!(s.balance(&s.worker), 9_750);
    assert_eq!(s.balance(&s.fee_account), 250);
    assert_eq!(s.balance(&s.contract), 0);
    assert_eq!(
        client.try_release(&reference),
        Err(Ok(crate::Error::Closed))
    );

    let disputed = s.funded_escrow("ESCROW_WASM0002", 1_000);
    client.dispute(&disputed);
    client.resolve(&disputed, &400, &600);
    let refunded = s.funded_escrow("ESCROW_WASM0003", 500);
    client.refund(&refunded);
    assert_eq!(s.balance(&s.worker), 9_750 + 400);
    assert_eq!(s.balance(&s.funder), 1_000_000 - 10_000 - 400);
    assert_eq!(s.balance(&s.contract), 0);
}

#[test]
fn wasm_replays_every_scenario_file() {
    let Some(bytes) = wasm("wasm_replays_every_scenario_file") else {
        return;
    };
    let register = |env: &Env, args: DeployArgs| env.register(bytes.as_slice(), args);
    for path in scenario_files() {
        replay(&path, &register);
    }
}

#[test]
fn wasm_upgrade_needs_the_admin_and_keeps_the_escrows() {
    let Some(bytes) = wasm("wasm_upgrade_needs_the_admin_and_keeps_the_escrows") else {
        return;
    };
    // Deployed natively, upgraded to the wasm: the code changes, the escrows stay.
    let s = Setup::new(0);
    let reference = s.funded_escrow("ESCROW_UPGRADE1", 300);
    let hash = s.env.deployer().upload_contract_wasm(bytes.as_slice());
    let args: soroban_sdk::Vec<soroban_sdk::Val> = (hash.clone(),).into_val(&s.env);
    for who in [&s.operator, &s.arbiter] {
        s.env.mock_auths(&[MockAuth {
            address: who,
            invoke: &MockAuthInvoke {
                contract: &s.contract,
                fn_name: "upgrade",
                args: args.clone(),
                sub_invokes: &[],
            },
        }]);
        assert!(s.client().try_upgrade(&hash).is_err());
    }
    s.env.mock_auths(&[MockAuth {
        address: &s.admin,
        invoke: &MockAuthInvoke {
            contract: &s.contract,
            fn_name: "upgrade",
            args: args.clone(),
            sub_invokes: &[],
        },
    }]);
    s.client().upgrade(&hash);
    let upgraded = s.env.events().all().filter_by_contract(&s.contract);
    let want: soroban_sdk::Vec<(
        Address,
        soroban_sdk::Vec<soroban_sdk::Val>,
        soroban_sdk::Val,
    )> = soroban_sdk::vec![
        &s.env,
        (
            s.contract.clone(),
            (Symbol::new(&s.env, "upgraded"),).into_val(&s.env),
            soroban_sdk::vec![&s.env, hash.clone()].into_val(&s.env),
        ),
    ];
    assert_eq!(upgraded, want);
    assert_eq!(
        s.env.auths(),
        std::vec![(
            s.admin.clone(),
            AuthorizedInvocation {
                function: AuthorizedFunction::Contract((
                    s.contract.clone(),
                    Symbol::new(&s.env, "upgrade"),
                    args,
                )),
                sub_invocations: std::vec![],
            }
        )]
    );
    s.env.mock_all_auths();
    s.client().release(&reference);
    assert_eq!(s.balance(&s.worker), 300);
    assert_eq!(s.escrow(&reference).status, Status::Released);
}

// ---------------------------------------------------------------------------------------------
// Cost report

struct Row {
    name: &'static str,
    cpu: u64,
    mem: u64,
    disk_reads: u32,
    mem_reads: u32,
    writes: u32,
    read_bytes: u32,
    write_bytes: u32,
    event_bytes: u32,
    fee: i64,
    /// instructions, disk reads, writes, read bytes, write bytes, events, persistent and
    /// temporary rent.
    fee_parts: [i64; 8],
}

fn measure(env: &Env, name: &'static str, call: impl FnOnce()) -> Row {
    call();
    let estimate = env.cost_estimate();
    let r = estimate.resources();
    let f = estimate.fee();
    Row {
        name,
        cpu: estimate.budget().cpu_instruction_cost(),
        mem: estimate.budget().memory_bytes_cost(),
        disk_reads: r.disk_read_entries,
        mem_reads: r.memory_read_entries,
        writes: r.write_entries,
        read_bytes: r.disk_read_bytes,
        write_bytes: r.write_bytes,
        event_bytes: r.contract_events_size_bytes,
        fee: f.total,
        fee_parts: [
            f.instructions,
            f.disk_read_entries,
            f.write_entries,
            f.disk_read_bytes,
            f.write_bytes,
            f.contract_events,
            f.persistent_entry_rent,
            f.temporary_entry_rent,
        ],
    }
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<22} {:>12} {:>11} {:>10} {:>9} {:>7} {:>10} {:>9} {:>8} {:>11}",
        "call",
        "cpu_insns",
        "mem_bytes",
        "disk_reads",
        "mem_reads",
        "writes",
        "read_bytes",
        "wr_bytes",
        "ev_bytes",
        "fee_stroops"
    );
    for r in rows {
        println!(
            "{:<22} {:>12} {:>11} {:>10} {:>9} {:>7} {:>10} {:>9} {:>8} {:>11}",
            r.name,
            r.cpu,
            r.mem,
            r.disk_reads,
            r.mem_reads,
            r.writes,
            r.read_bytes,
            r.write_bytes,
            r.event_bytes,
            r.fee
        );
    }
}

/// Prints CPU, memory, ledger reads/writes and the estimated resource fee of every entry
/// point and of a whole lifecycle. Run by `make contract-costs`.
#[test]
#[ignore = "a report, not a test: make contract-costs"]
fn cost_report() {
    let bytes = wasm("cost_report");
    let env = new_env();
    env.mock_all_auths();
    let token = env
        .register_stellar_asset_contract_v2(Address::generate(&env))
        .address();
    // As in production: the operator's float account, the fee account and the workers are
    // Stellar accounts holding the asset on trustlines.
    let operator = new_account(&env, &token);
    let fee_account = new_account(&env, &token);
    let worker = new_account(&env, &token);
    let args: DeployArgs = (
        Address::generate(&env),
        operator.clone(),
        Address::generate(&env),
        token.clone(),
        fee_account,
        250,
    );
    let contract = match &bytes {
        Some(bytes) => env.register(bytes.as_slice(), args),
        None => env.register(EscrowContract, args),
    };
    StellarAssetClient::new(&env, &token).mint(&operator, &1_000_000_000);
    let client = EscrowContractClient::new(&env, &contract);
    let reference = |text: &str| Symbol::new(&env, text);
    let payee = MuxedAddress::new(worker.clone(), 4_242);

    let a = reference("ESCROW_COST0001");
    let lifecycle = [
        measure(&env, "create", || client.create(&a, &operator, &150_000)),
        measure(&env, "fund", || client.fund(&a, &150_000)),
        measure(&env, "assign (muxed)", || client.assign(&a, &payee)),
        measure(&env, "release (fee 2.5%)", || client.release(&a)),
    ];
    let b = reference("ESCROW_COST0002");
    client.create(&b, &operator, &90_000);
    let partial = measure(&env, "fund (partial)", || client.fund(&b, &40_000));
    let refund = measure(&env, "refund", || client.refund(&b));
    let c = reference("ESCROW_COST0003");
    client.create(&c, &operator, &80_000);
    client.fund(&c, &80_000);
    client.assign(&c, &payee);
    let dispute = measure(&env, "dispute", || client.dispute(&c));
    let resolve = measure(&env, "resolve (split)", || {
        client.resolve(&c, &50_000, &30_000)
    });
    let get = measure(&env, "get", || {
        client.get(&a);
    });
    let config = measure(&env, "config", || {
        client.config();
    });
    // The first write a day after the last one extends the instance and the contract's code
    // by that day (the TTL rule in storage.rs), paying their rent: once a day, whoever writes.
    env.ledger()
        .with_mut(|li| li.sequence_number += crate::storage::DAY_IN_LEDGERS + 1);
    let d = reference("ESCROW_COST0004");
    let daily = measure(&env, "create (a day later)", || {
        client.create(&d, &operator, &10_000)
    });
    let mut rows: Vec<Row> = lifecycle.into_iter().collect();
    rows.extend([partial, refund, dispute, resolve, get, config, daily]);
    if let Some(bytes) = &bytes {
        let hash = env.deployer().upload_contract_wasm(bytes.as_slice());
        rows.push(measure(&env, "upgrade", || client.upgrade(&hash)));
    }

    let kind = match &bytes {
        Some(bytes) => std::format!("wasm, {} bytes, {}", bytes.len(), wasm_path().display()),
        None => std::string::String::from(
            "native: not realistic (no VM, no wasm reads); build the wasm with make contract",
        ),
    };
    println!();
    println!("Kazi escrow contract costs ({kind})");
    println!("auth is mocked (no signature checks); fee = resource fee estimate in stroops (soroban-sdk mainnet snapshot), excluding the inclusion fee and transaction size");
    println!();
    print_rows(&rows);
    let lifecycle = &rows[..4];
    let sum = |f: fn(&Row) -> u64| lifecycle.iter().map(f).sum::<u64>();
    let fee: i64 = lifecycle.iter().map(|r| r.fee).sum();
    let nonce_rent: i64 = lifecycle.iter().map(|r| r.fee_parts[7]).sum();
    println!();
    println!(
        "lifecycle create → fund → assign → release (4 transactions): cpu_insns {}, mem_bytes {}, disk_reads {}, writes {}, read_bytes {}, write_bytes {}, fee {} stroops ({:.4} XLM; {} without the nonce rent)",
        sum(|r| r.cpu),
        sum(|r| r.mem),
        sum(|r| u64::from(r.disk_reads)),
        sum(|r| u64::from(r.writes)),
        sum(|r| u64::from(r.read_bytes)),
        sum(|r| u64::from(r.write_bytes)),
        fee,
        fee as f64 / 10_000_000.0,
        fee - nonce_rent
    );
    println!();
    println!("fee breakdown (stroops): instructions / disk reads / writes / read bytes / write bytes / events / persistent rent / temporary rent");
    println!("(temporary rent is the mocked signer's auth nonce with a long expiry: none when the operator is the transaction's source account)");
    for row in &rows {
        let parts: Vec<std::string::String> =
            row.fee_parts.iter().map(|p| std::format!("{p}")).collect();
        println!("{:<22} {}", row.name, parts.join(" / "));
    }
}
