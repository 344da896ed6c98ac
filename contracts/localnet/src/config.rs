//! The network's settings: the values stellar-core keeps in its `ConfigSetting` ledger entries
//! (fees, limits, TTLs), the Soroban host's cost model, and the classic constants.
//!
//! Source of the values: pubnet's `ConfigSetting` entries as stellar/quickstart records them for
//! its mainnet profile (local/core/etc/config-settings/mainnet.json), which agree with the
//! snapshot of Mainnet's fees and limits that soroban-sdk 27.0.6 ships for `env.cost_estimate()`
//! (testutils/cost_estimate.rs, "made on 2026-07-10"), so the local network charges what
//! `make contract-costs` estimates. The rent rate per KB is not a setting: it follows the size of
//! the live Soroban state along the curve the settings give (`rent_fee1_kb_soroban_state_size_low`
//! -17,000, `..._high` 10,000 at the 3 GB target, growth factor 5,000 past it). The local network
//! takes the state at the target, where the rate is 10,000 stroops per KB (soroban-sdk's estimate
//! uses 12,000, a deliberate over-estimate); `--soroban-state-size` moves it.

use sha2::{Digest, Sha256};
use soroban_env_host::budget::Budget;
use std::sync::atomic::{AtomicI64, Ordering};

use soroban_env_host::fees::{
    compute_rent_write_fee_per_1kb, FeeConfiguration, RentFeeConfiguration,
    RentWriteFeeConfiguration,
};
use soroban_env_host::xdr::{
    ContractCostParamEntry, ContractCostParams, ContractCostType, ExtensionPoint,
};
use soroban_env_host::LedgerInfo;
use soroban_simulation::NetworkConfig;

/// The ledger protocol (soroban-env-host 27's).
pub const PROTOCOL_VERSION: u32 = 27;
/// Stroops per operation: the minimum inclusion fee, as on pubnet.
pub const BASE_FEE: i64 = 100;
/// Stroops of reserve per account and per sub-entry (0.5 XLM), as on pubnet.
pub const BASE_RESERVE: i64 = 5_000_000;
/// All the lumens there are (100 billion XLM), held by the root account at genesis.
pub const TOTAL_COINS: i64 = 1_000_000_000_000_000_000;
/// What friendbot gives a new account: 10,000 XLM, as testnet's does.
pub const FRIENDBOT_STARTING_BALANCE: i64 = 100_000_000_000;
/// Transactions a ledger takes at most (pubnet's classic limit is 1,000 operations).
pub const MAX_TX_SET_SIZE: u32 = 1_000;

// Mainnet's Soroban fees (stroops), 2026-07-10.
pub const FEE_PER_INSTRUCTION_INCREMENT: i64 = 7; // per 10,000 instructions
pub const FEE_PER_DISK_READ_ENTRY: i64 = 1_563;
pub const FEE_PER_WRITE_ENTRY: i64 = 2_500;
pub const FEE_PER_DISK_READ_1KB: i64 = 447;
pub const FEE_PER_WRITE_1KB: i64 = 875;
pub const FEE_PER_HISTORICAL_1KB: i64 = 4_059;
pub const FEE_PER_CONTRACT_EVENT_1KB: i64 = 5_000;
pub const FEE_PER_TRANSACTION_SIZE_1KB: i64 = 406;
pub const RENT_FEE_1KB_STATE_SIZE_LOW: i64 = -17_000;
pub const RENT_FEE_1KB_STATE_SIZE_HIGH: i64 = 10_000;
pub const STATE_RENT_FEE_GROWTH_FACTOR: u32 = 5_000;
pub const STATE_TARGET_SIZE_BYTES: i64 = 3_000_000_000;
pub const PERSISTENT_RENT_RATE_DENOMINATOR: i64 = 1_215;
pub const TEMPORARY_RENT_RATE_DENOMINATOR: i64 = 2_430;

// Mainnet's per-transaction limits, 2026-07-10.
pub const TX_MAX_INSTRUCTIONS: u32 = 400_000_000;
pub const TX_MEMORY_LIMIT: u32 = 41_943_040;
pub const TX_MAX_DISK_READ_ENTRIES: u32 = 200;
pub const TX_MAX_WRITE_ENTRIES: u32 = 200;
pub const TX_MAX_FOOTPRINT_ENTRIES: u32 = 400;
pub const TX_MAX_DISK_READ_BYTES: u32 = 200_000;
pub const TX_MAX_WRITE_BYTES: u32 = 132_096;
pub const TX_MAX_CONTRACT_EVENTS_SIZE_BYTES: u32 = 16_384;
pub const TX_MAX_SIZE_BYTES: u32 = 132_096;

// Mainnet's state archival settings (ledgers of about 5 s).
pub const MIN_PERSISTENT_TTL: u32 = 2_073_600; // 120 days
pub const MIN_TEMPORARY_TTL: u32 = 17_280; // 1 day
pub const MAX_ENTRY_TTL: u32 = 3_110_400; // 180 days

/// The network id: the SHA-256 of the passphrase (what every signature covers).
pub fn network_id(passphrase: &str) -> [u8; 32] {
    Sha256::digest(passphrase.as_bytes()).into()
}

pub fn fee_configuration() -> FeeConfiguration {
    FeeConfiguration {
        fee_per_instruction_increment: FEE_PER_INSTRUCTION_INCREMENT,
        fee_per_disk_read_entry: FEE_PER_DISK_READ_ENTRY,
        fee_per_write_entry: FEE_PER_WRITE_ENTRY,
        fee_per_disk_read_1kb: FEE_PER_DISK_READ_1KB,
        fee_per_write_1kb: FEE_PER_WRITE_1KB,
        fee_per_historical_1kb: FEE_PER_HISTORICAL_1KB,
        fee_per_contract_event_1kb: FEE_PER_CONTRACT_EVENT_1KB,
        fee_per_transaction_size_1kb: FEE_PER_TRANSACTION_SIZE_1KB,
    }
}

/// The live Soroban state size the rent rate follows (bytes; `--soroban-state-size`).
static SOROBAN_STATE_SIZE: AtomicI64 = AtomicI64::new(STATE_TARGET_SIZE_BYTES);

pub fn set_soroban_state_size(bytes: i64) {
    SOROBAN_STATE_SIZE.store(bytes, Ordering::Relaxed);
}

/// Stroops of rent per KB (for the rent periods the denominators give), as the protocol computes
/// it from the live state size.
pub fn rent_fee_per_1kb() -> i64 {
    compute_rent_write_fee_per_1kb(
        SOROBAN_STATE_SIZE.load(Ordering::Relaxed),
        &RentWriteFeeConfiguration {
            state_target_size_bytes: STATE_TARGET_SIZE_BYTES,
            rent_fee_1kb_state_size_low: RENT_FEE_1KB_STATE_SIZE_LOW,
            rent_fee_1kb_state_size_high: RENT_FEE_1KB_STATE_SIZE_HIGH,
            state_size_rent_fee_growth_factor: STATE_RENT_FEE_GROWTH_FACTOR,
        },
    )
}

pub fn rent_fee_configuration() -> RentFeeConfiguration {
    RentFeeConfiguration {
        fee_per_write_1kb: FEE_PER_WRITE_1KB,
        fee_per_rent_1kb: rent_fee_per_1kb(),
        fee_per_write_entry: FEE_PER_WRITE_ENTRY,
        persistent_rent_rate_denominator: PERSISTENT_RENT_RATE_DENOMINATOR,
        temporary_rent_rate_denominator: TEMPORARY_RENT_RATE_DENOMINATOR,
    }
}

/// Pubnet's `ContractCostParamsCpuInstructions` (constant, linear in 1/128 units), one per cost
/// type in `ContractCostType` order (quickstart's mainnet.json). The memory model is the host's
/// own default: it bounds a transaction's memory (40 MB) and costs no fee.
pub const PUBNET_CPU_COST_PARAMS: [(i64, i64); 86] = [
    (4, 0),
    (434, 16),
    (42, 16),
    (44, 16),
    (295, 0),
    (60, 0),
    (221, 26),
    (331, 4369),
    (3636, 7013),
    (40256, 0),
    (377551, 4059),
    (417482, 45712),
    (41142, 634),
    (1945, 0),
    (6481, 5943),
    (711, 0),
    (2314804, 0),
    (4176, 0),
    (4716, 0),
    (4680, 0),
    (4256, 0),
    (884, 0),
    (1059, 502),
    (73077, 25410),
    (0, 540752),
    (0, 176363),
    (0, 29989),
    (0, 1061449),
    (0, 237336),
    (0, 328476),
    (0, 701845),
    (0, 429383),
    (0, 28),
    (43030, 0),
    (0, 7556),
    (0, 10711),
    (0, 3300),
    (0, 0),
    (0, 23038),
    (0, 42488),
    (0, 828974),
    (0, 297100),
    (0, 14),
    (1882, 0),
    (3000906, 0),
    (661, 0),
    (985, 0),
    (1934, 0),
    (730510, 0),
    (5921, 0),
    (1057822, 0),
    (92642, 0),
    (100742, 0),
    (7689, 0),
    (2458985, 0),
    (2347584, 94135478),
    (1020885, 0),
    (2638451, 6803),
    (25207, 0),
    (7873219, 0),
    (7663880, 298580871),
    (1856539, 0),
    (6315452, 7232),
    (10558948, 632860943),
    (1994, 0),
    (1155, 0),
    (74, 0),
    (332, 0),
    (691, 74558),
    (35421, 0),
    (344, 0),
    (476, 0),
    (904, 0),
    (2811, 0),
    (1706052, 0),
    (61, 0),
    (3623, 0),
    (1150435, 0),
    (5263916, 392472814),
    (2052, 0),
    (1133, 0),
    (74, 0),
    (332, 0),
    (755, 68930),
    (33151, 0),
    (1185193, 41568084),
];

/// The host's cost model (CPU and memory per cost type), as the protocol upgrade installs it in
/// the `ContractCostParams*` settings: read back from the host's own default budget by charging
/// each cost type with input 0 (the constant term) and then 128 (adds the linear term, which is
/// kept in 1/128 units).
pub fn cost_params() -> (ContractCostParams, ContractCostParams) {
    let mut cpu = Vec::new();
    let mut mem = Vec::new();
    for ty in ContractCostType::variants() {
        let budget = Budget::default();
        if budget.charge(ty, Some(0)).is_err() {
            // A constant model: it takes no input.
            let budget = Budget::default();
            budget
                .charge(ty, None)
                .expect("charging the default budget");
            let (cpu0, mem0) = consumed(&budget);
            cpu.push(entry(cpu0, 0));
            mem.push(entry(mem0, 0));
            continue;
        }
        let (cpu0, mem0) = consumed(&budget);
        // The largest input (128, or less for the dearest types, whose cost would pass the
        // default budget's limit) that can be charged: the linear term, in 1/128 units, is
        // (cost - constant) * 128 / input, exact for 128.
        let mut input = 128u64;
        loop {
            let budget = Budget::default();
            if budget.charge(ty, Some(input)).is_ok() || input == 1 {
                let (cpu1, mem1) = consumed(&budget);
                cpu.push(entry(cpu0, (cpu1 - cpu0) * 128 / input));
                mem.push(entry(mem0, (mem1 - mem0) * 128 / input));
                break;
            }
            input /= 2;
        }
    }
    (
        ContractCostParams(cpu.try_into().expect("cost types")),
        ContractCostParams(mem.try_into().expect("cost types")),
    )
}

pub fn pubnet_cpu_cost_params() -> ContractCostParams {
    ContractCostParams(
        PUBNET_CPU_COST_PARAMS
            .iter()
            .map(|&(c, l)| entry(c as u64, l as u64))
            .collect::<Vec<_>>()
            .try_into()
            .expect("cost types"),
    )
}

fn consumed(budget: &Budget) -> (u64, u64) {
    (
        budget.get_cpu_insns_consumed().expect("budget"),
        budget.get_mem_bytes_consumed().expect("budget"),
    )
}

fn entry(const_term: u64, linear_term: u64) -> ContractCostParamEntry {
    ContractCostParamEntry {
        ext: ExtensionPoint::V0,
        const_term: const_term as i64,
        linear_term: linear_term as i64,
    }
}

/// What the simulation needs of the settings.
pub fn network_config() -> NetworkConfig {
    let (_, memory_cost_params) = cost_params();
    let cpu_cost_params = pubnet_cpu_cost_params();
    NetworkConfig {
        fee_configuration: fee_configuration(),
        rent_fee_configuration: rent_fee_configuration(),
        tx_max_instructions: TX_MAX_INSTRUCTIONS as i64,
        tx_memory_limit: TX_MEMORY_LIMIT,
        cpu_cost_params,
        memory_cost_params,
        min_temp_entry_ttl: MIN_TEMPORARY_TTL,
        min_persistent_entry_ttl: MIN_PERSISTENT_TTL,
        max_entry_ttl: MAX_ENTRY_TTL,
    }
}

/// The host's view of the ledger being closed (or simulated).
pub fn ledger_info(passphrase: &str, sequence: u32, timestamp: u64) -> LedgerInfo {
    LedgerInfo {
        protocol_version: PROTOCOL_VERSION,
        sequence_number: sequence,
        timestamp,
        network_id: network_id(passphrase),
        base_reserve: BASE_RESERVE as u32,
        min_temp_entry_ttl: MIN_TEMPORARY_TTL,
        min_persistent_entry_ttl: MIN_PERSISTENT_TTL,
        max_entry_ttl: MAX_ENTRY_TTL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pubnets_cost_model_has_one_entry_per_cost_type() {
        assert_eq!(
            PUBNET_CPU_COST_PARAMS.len(),
            ContractCostType::variants().len()
        );
    }

    #[test]
    fn the_rent_rate_follows_the_state_size_curve() {
        assert_eq!(rent_fee_per_1kb(), RENT_FEE_1KB_STATE_SIZE_HIGH);
    }

    #[test]
    fn the_memory_model_read_back_charges_what_the_hosts_default_charges() {
        let (cpu, mem) = cost_params();
        let rebuilt = Budget::try_from_configs(u64::MAX / 4, u64::MAX / 4, cpu, mem).unwrap();
        for ty in ContractCostType::variants() {
            let constant = Budget::default().charge(ty, Some(0)).is_err();
            if !constant && Budget::default().charge(ty, Some(128)).is_err() {
                continue; // read back from a smaller input: approximate (no contract uses it)
            }
            for input in [0u64, 1, 7, 100, 128] {
                let input = (!constant).then_some(input);
                let default = Budget::default();
                if default.charge(ty, input).is_err() {
                    continue;
                }
                let before = consumed(&rebuilt);
                rebuilt.charge(ty, input).unwrap();
                let after = consumed(&rebuilt);
                assert_eq!(
                    after.1 - before.1,
                    consumed(&default).1,
                    "{ty:?} with input {input:?}"
                );
            }
        }
    }
}
