//! The runtime side of the VM: the instruction meter, the syscalls the program imports and their
//! compute-unit prices (Agave's execution-cost table).

use crate::input::{ClockJson, RentJson};
use base64::Engine;
use sha2::{Digest, Sha256};
use solana_sbpf::{
    declare_builtin_function,
    error::EbpfError,
    memory_region::{AccessType, HostBuffer, MemoryMapping},
    program::{BuiltinFunctionDefinition, BuiltinProgram},
    vm::ContextObject,
};
use std::{collections::BTreeMap, ptr::NonNull};

pub type Error = Box<dyn std::error::Error>;

// Agave's execution costs (program-runtime `SVMTransactionExecutionCost::default()`).
const SYSCALL_BASE_COST: u64 = 100;
const LOG_64_UNITS: u64 = 100;
const LOG_PUBKEY_UNITS: u64 = 100;
const SHA256_BASE_COST: u64 = 85;
const SHA256_BYTE_COST: u64 = 1;
const SHA256_MAX_SLICES: u64 = 20_000;
const MEM_OP_BASE_COST: u64 = 10;
const CPI_BYTES_PER_UNIT: u64 = 250;
const CREATE_PROGRAM_ADDRESS_UNITS: u64 = 1500;
const SYSVAR_BASE_COST: u64 = 100;
const INVOKE_UNITS: u64 = 1000;
const MAX_RETURN_DATA: u64 = 1024;
const MAX_SEEDS: usize = 16;
const MAX_SEED_LEN: usize = 32;
const PDA_MARKER: &[u8] = b"ProgramDerivedAddress";
const RENT_ID: &str = "SysvarRent111111111111111111111111111111111";
const CLOCK_ID: &str = "SysvarC1ock11111111111111111111111111111111";

#[derive(Default, Clone, Copy)]
pub struct SyscallStat {
    pub calls: u64,
    pub cu: u64,
}

/// One syscall invocation: the index of its `call` in the instruction trace and what it cost.
pub struct SyscallEvent {
    pub insn_index: u64,
    pub name: &'static str,
    pub cu: u64,
}

pub struct Ctx {
    pub mapping: MemoryMapping,
    pub limit: u64,
    pub remaining: u64,
    /// Instructions charged by the VM so far (1 CU each).
    pub insns: u64,
    pub syscall_cu: u64,
    pub syscalls: BTreeMap<&'static str, SyscallStat>,
    pub events: Vec<SyscallEvent>,
    pub logs: Vec<String>,
    pub return_data: Vec<u8>,
    pub program_id: [u8; 32],
    pub rent: RentJson,
    pub clock: ClockJson,
    pub echo_logs: bool,
}

impl ContextObject for Ctx {
    fn consume(&mut self, amount: u64) {
        self.insns += amount;
        self.remaining = self.remaining.saturating_sub(amount);
    }
    fn get_remaining(&self) -> u64 {
        self.remaining
    }
    fn active_mapping_ptr(&mut self) -> NonNull<MemoryMapping> {
        NonNull::from_mut(&mut self.mapping)
    }
}

impl Ctx {
    fn begin(&mut self, name: &'static str) {
        self.syscalls.entry(name).or_default().calls += 1;
        // The VM charged the instructions up to and including this `call` before the syscall ran.
        self.events.push(SyscallEvent {
            insn_index: self.insns.saturating_sub(1),
            name,
            cu: 0,
        });
    }

    /// `consume_checked`: charge `cost`, or fail with the meter drained.
    fn charge(&mut self, cost: u64) -> Result<(), Error> {
        let take = cost.min(self.remaining);
        self.remaining -= take;
        self.syscall_cu += take;
        let ev = self.events.last_mut().expect("charge outside a syscall");
        ev.cu += take;
        self.syscalls.get_mut(ev.name).unwrap().cu += take;
        if take < cost {
            return Err("Computational budget exceeded".into());
        }
        Ok(())
    }

    fn log(&mut self, line: String) {
        if self.echo_logs {
            eprintln!("{line}");
        }
        self.logs.push(line);
    }

    fn host(&self, access: AccessType, addr: u64, len: u64) -> Result<HostBuffer, Error> {
        let r: Result<HostBuffer, EbpfError> = self.mapping.map(access, addr, len).into();
        Ok(r?)
    }

    pub fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, Error> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let buf = self.host(AccessType::Load, addr, len)?;
        // SAFETY: the mapping returned a live region slice of exactly `len` bytes.
        Ok(unsafe { &*buf.ptr() }.to_vec())
    }

    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        let buf = self.host(AccessType::Store, addr, data.len() as u64)?;
        // SAFETY: as in `read`; the region is writable (map checked it for a Store).
        unsafe { (*buf.ptr_mut()).copy_from_slice(data) };
        Ok(())
    }

    /// An array of `&[u8]` in guest memory: (ptr: u64, len: u64) pairs.
    fn slices(&self, addr: u64, n: u64) -> Result<Vec<(u64, u64)>, Error> {
        let raw = self.read(addr, n.checked_mul(16).ok_or("slice count overflow")?)?;
        Ok(raw
            .chunks_exact(16)
            .map(|c| {
                (
                    u64::from_le_bytes(c[..8].try_into().unwrap()),
                    u64::from_le_bytes(c[8..].try_into().unwrap()),
                )
            })
            .collect())
    }

    fn mem_op(&mut self, n: u64) -> Result<(), Error> {
        self.charge(MEM_OP_BASE_COST.max(n / CPI_BYTES_PER_UNIT))
    }

    fn rent_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(17);
        v.extend_from_slice(&self.rent.lamports_per_byte_year.to_le_bytes());
        v.extend_from_slice(&self.rent.exemption_threshold.to_le_bytes());
        v.push(self.rent.burn_percent);
        v
    }

    fn clock_bytes(&self) -> Vec<u8> {
        let c = &self.clock;
        let mut v = Vec::with_capacity(40);
        v.extend_from_slice(&c.slot.to_le_bytes());
        v.extend_from_slice(&c.epoch_start_timestamp.to_le_bytes());
        v.extend_from_slice(&c.epoch.to_le_bytes());
        v.extend_from_slice(&c.leader_schedule_epoch.to_le_bytes());
        v.extend_from_slice(&c.unix_timestamp.to_le_bytes());
        v
    }

    fn seeds(&self, seeds_addr: u64, seeds_len: u64) -> Result<Vec<Vec<u8>>, Error> {
        if seeds_len as usize > MAX_SEEDS {
            return Err(
                "Could not create program address with signer seeds: max seeds exceeded".into(),
            );
        }
        let mut out = Vec::new();
        for (ptr, len) in self.slices(seeds_addr, seeds_len)? {
            if len as usize > MAX_SEED_LEN {
                return Err(
                    "Could not create program address with signer seeds: seed too long".into(),
                );
            }
            out.push(self.read(ptr, len)?);
        }
        Ok(out)
    }
}

/// `declare_builtin_function!` for a syscall over `Ctx` (written as a closure so that rustfmt
/// leaves the argument list in the shape the macro expects).
macro_rules! syscall {
    ($name:ident, |$ctx:ident, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident| { $($body:tt)* }) => {
        declare_builtin_function!(
            $name,
            fn rust(
                $ctx: &mut Ctx,
                $a: u64,
                $b: u64,
                $c: u64,
                $d: u64,
                $e: u64,
            ) -> Result<u64, Error> {
                $($body)*
            }
        );
    };
}

/// `Pubkey::create_program_address`: None when the hash lands on the ed25519 curve.
fn program_address(seeds: &[Vec<u8>], program_id: &[u8]) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    for s in seeds {
        h.update(s);
    }
    h.update(program_id);
    h.update(PDA_MARKER);
    let bytes: [u8; 32] = h.finalize().into();
    let on_curve = curve25519_dalek::edwards::CompressedEdwardsY(bytes)
        .decompress()
        .is_some();
    (!on_curve).then_some(bytes)
}

syscall!(SyscallLog, |ctx, addr, len, _c, _d, _e| {
    ctx.begin("sol_log_");
    ctx.charge(SYSCALL_BASE_COST.max(len))?;
    let bytes = ctx.read(addr, len)?;
    let s = String::from_utf8(bytes).map_err(|_| "invalid UTF-8 in sol_log_")?;
    ctx.log(format!("Program log: {s}"));
    Ok(0)
});

syscall!(SyscallLog64, |ctx, a, b, c, d, e| {
    ctx.begin("sol_log_64_");
    ctx.charge(LOG_64_UNITS)?;
    ctx.log(format!(
        "Program log: {a:#x}, {b:#x}, {c:#x}, {d:#x}, {e:#x}"
    ));
    Ok(0)
});

syscall!(SyscallLogComputeUnits, |ctx, _a, _b, _c, _d, _e| {
    ctx.begin("sol_log_compute_units_");
    ctx.charge(SYSCALL_BASE_COST)?;
    let remaining = ctx.remaining;
    ctx.log(format!("Program consumption: {remaining} units remaining"));
    Ok(0)
});

syscall!(SyscallLogPubkey, |ctx, addr, _b, _c, _d, _e| {
    ctx.begin("sol_log_pubkey");
    ctx.charge(LOG_PUBKEY_UNITS)?;
    let key = ctx.read(addr, 32)?;
    ctx.log(format!("Program log: {}", bs58::encode(key).into_string()));
    Ok(0)
});

syscall!(SyscallLogData, |ctx, addr, len, _c, _d, _e| {
    ctx.begin("sol_log_data");
    ctx.charge(SYSCALL_BASE_COST)?;
    let fields = ctx.slices(addr, len)?;
    ctx.charge(SYSCALL_BASE_COST.saturating_mul(fields.len() as u64))?;
    ctx.charge(fields.iter().map(|f| f.1).sum())?;
    let mut parts = Vec::new();
    for (ptr, n) in fields {
        parts.push(base64::engine::general_purpose::STANDARD.encode(ctx.read(ptr, n)?));
    }
    ctx.log(format!("Program data: {}", parts.join(" ")));
    Ok(0)
});

syscall!(SyscallSetReturnData, |ctx, addr, len, _c, _d, _e| {
    ctx.begin("sol_set_return_data");
    ctx.charge((len / CPI_BYTES_PER_UNIT).saturating_add(SYSCALL_BASE_COST))?;
    if len > MAX_RETURN_DATA {
        return Err(format!("return data too large ({len} > {MAX_RETURN_DATA})").into());
    }
    ctx.return_data = ctx.read(addr, len)?;
    Ok(0)
});

syscall!(SyscallGetReturnData, |ctx, addr, len, id_addr, _d, _e| {
    ctx.begin("sol_get_return_data");
    ctx.charge(SYSCALL_BASE_COST)?;
    let length = len.min(ctx.return_data.len() as u64);
    if length != 0 {
        ctx.charge((length + 32) / CPI_BYTES_PER_UNIT)?;
        let data = ctx.return_data[..length as usize].to_vec();
        ctx.write(addr, &data)?;
        let id = ctx.program_id;
        ctx.write(id_addr, &id)?;
    }
    Ok(ctx.return_data.len() as u64)
});

syscall!(SyscallSha256, |ctx, vals, n, result, _d, _e| {
    ctx.begin("sol_sha256");
    if n > SHA256_MAX_SLICES {
        return Err(format!("sol_sha256: {n} slices > {SHA256_MAX_SLICES}").into());
    }
    ctx.charge(SHA256_BASE_COST)?;
    let mut h = Sha256::new();
    for (ptr, len) in ctx.slices(vals, n)? {
        let bytes = ctx.read(ptr, len)?;
        ctx.charge(MEM_OP_BASE_COST.max(SHA256_BYTE_COST.saturating_mul(len / 2)))?;
        h.update(&bytes);
    }
    let digest: [u8; 32] = h.finalize().into();
    ctx.write(result, &digest)?;
    Ok(0)
});

syscall!(SyscallMemcpy, |ctx, dst, src, n, _d, _e| {
    ctx.begin("sol_memcpy_");
    ctx.mem_op(n)?;
    let overlap = src < dst.saturating_add(n) && dst < src.saturating_add(n);
    if n > 0 && overlap {
        return Err("Overlapping copy".into());
    }
    let bytes = ctx.read(src, n)?;
    ctx.write(dst, &bytes)?;
    Ok(0)
});

syscall!(SyscallMemmove, |ctx, dst, src, n, _d, _e| {
    ctx.begin("sol_memmove_");
    ctx.mem_op(n)?;
    let bytes = ctx.read(src, n)?;
    ctx.write(dst, &bytes)?;
    Ok(0)
});

syscall!(SyscallMemset, |ctx, dst, c, n, _d, _e| {
    ctx.begin("sol_memset_");
    ctx.mem_op(n)?;
    ctx.write(dst, &vec![c as u8; n as usize])?;
    Ok(0)
});

syscall!(SyscallMemcmp, |ctx, s1, s2, n, out, _e| {
    ctx.begin("sol_memcmp_");
    ctx.mem_op(n)?;
    let a = ctx.read(s1, n)?;
    let b = ctx.read(s2, n)?;
    let r = a
        .iter()
        .zip(&b)
        .find(|(x, y)| x != y)
        .map_or(0, |(x, y)| *x as i32 - *y as i32);
    ctx.write(out, &r.to_le_bytes())?;
    Ok(0)
});

syscall!(SyscallAbort, |ctx, _a, _b, _c, _d, _e| {
    ctx.begin("abort");
    Err("SBF program called abort()".into())
});

syscall!(SyscallPanic, |ctx, file, len, line, col, _e| {
    ctx.begin("sol_panic_");
    ctx.charge(len)?;
    let f = String::from_utf8_lossy(&ctx.read(file, len)?).to_string();
    Err(format!("SBF program panicked in {f} at {line}:{col}").into())
});

syscall!(SyscallCreateProgramAddress, |ctx, seeds, n, id, out, _e| {
    ctx.begin("sol_create_program_address");
    ctx.charge(CREATE_PROGRAM_ADDRESS_UNITS)?;
    let seeds = ctx.seeds(seeds, n)?;
    let program_id = ctx.read(id, 32)?;
    match program_address(&seeds, &program_id) {
        Some(addr) => {
            ctx.write(out, &addr)?;
            Ok(0)
        }
        None => Ok(1),
    }
});

syscall!(
    SyscallTryFindProgramAddress,
    |ctx, seeds, n, id, out, bump_out| {
        ctx.begin("sol_try_find_program_address");
        ctx.charge(CREATE_PROGRAM_ADDRESS_UNITS)?;
        let mut seeds = ctx.seeds(seeds, n)?;
        if seeds.len() >= MAX_SEEDS {
            return Err(
                "Could not create program address with signer seeds: max seeds exceeded".into(),
            );
        }
        let program_id = ctx.read(id, 32)?;
        let mut bump = u8::MAX;
        for _ in 0..u8::MAX {
            seeds.push(vec![bump]);
            if let Some(addr) = program_address(&seeds, &program_id) {
                ctx.write(out, &addr)?;
                ctx.write(bump_out, &[bump])?;
                return Ok(0);
            }
            seeds.pop();
            bump = bump.saturating_sub(1);
            ctx.charge(CREATE_PROGRAM_ADDRESS_UNITS)?;
        }
        Ok(1)
    }
);

syscall!(SyscallGetRentSysvar, |ctx, out, _b, _c, _d, _e| {
    ctx.begin("sol_get_rent_sysvar");
    // size_of::<Rent>() = 24 (u64, f64, u8 + padding).
    ctx.charge(SYSVAR_BASE_COST + 24)?;
    let mut bytes = ctx.rent_bytes();
    bytes.resize(24, 0);
    ctx.write(out, &bytes)?;
    Ok(0)
});

syscall!(SyscallGetClockSysvar, |ctx, out, _b, _c, _d, _e| {
    ctx.begin("sol_get_clock_sysvar");
    ctx.charge(SYSVAR_BASE_COST + 40)?;
    let bytes = ctx.clock_bytes();
    ctx.write(out, &bytes)?;
    Ok(0)
});

syscall!(SyscallGetSysvar, |ctx, id, out, offset, len, _e| {
    ctx.begin("sol_get_sysvar");
    // Agave: max(32 / cpi_bytes_per_unit, mem_op_base_cost) for the sysvar id = 10.
    let id_cost = MEM_OP_BASE_COST;
    let buf_cost = (len / CPI_BYTES_PER_UNIT).max(MEM_OP_BASE_COST);
    ctx.charge(SYSVAR_BASE_COST + id_cost + buf_cost)?;
    let id = bs58::encode(ctx.read(id, 32)?).into_string();
    let bytes = match id.as_str() {
        RENT_ID => ctx.rent_bytes(),
        CLOCK_ID => ctx.clock_bytes(),
        _ => return Ok(2), // SYSVAR_NOT_FOUND
    };
    let end = offset.checked_add(len).ok_or("offset overflow")?;
    if end > bytes.len() as u64 {
        return Ok(1); // OFFSET_LENGTH_EXCEEDS_SYSVAR
    }
    ctx.write(out, &bytes[offset as usize..end as usize])?;
    Ok(0)
});

syscall!(SyscallRemainingComputeUnits, |ctx, _a, _b, _c, _d, _e| {
    ctx.begin("sol_remaining_compute_units");
    ctx.charge(SYSCALL_BASE_COST)?;
    Ok(ctx.remaining)
});

syscall!(SyscallGetStackHeight, |ctx, _a, _b, _c, _d, _e| {
    ctx.begin("sol_get_stack_height");
    ctx.charge(SYSCALL_BASE_COST)?;
    Ok(1)
});

syscall!(SyscallInvokeSignedC, |ctx, _a, _b, _c, _d, _e| {
    ctx.begin("sol_invoke_signed_c");
    ctx.charge(INVOKE_UNITS)?;
    Err("cross-program invocation is not supported by sbpf-profile".into())
});

syscall!(SyscallInvokeSignedRust, |ctx, _a, _b, _c, _d, _e| {
    ctx.begin("sol_invoke_signed_rust");
    ctx.charge(INVOKE_UNITS)?;
    Err("cross-program invocation is not supported by sbpf-profile".into())
});

pub fn register(loader: &mut BuiltinProgram<Ctx>) -> Result<(), String> {
    let reg = |name: &str, r: Result<(), solana_sbpf::elf::ElfError>| {
        r.map_err(|e| format!("registering {name}: {e}"))
    };
    reg("sol_log_", SyscallLog::register(loader, "sol_log_"))?;
    reg("sol_log_64_", SyscallLog64::register(loader, "sol_log_64_"))?;
    reg(
        "sol_log_compute_units_",
        SyscallLogComputeUnits::register(loader, "sol_log_compute_units_"),
    )?;
    reg(
        "sol_log_pubkey",
        SyscallLogPubkey::register(loader, "sol_log_pubkey"),
    )?;
    reg(
        "sol_log_data",
        SyscallLogData::register(loader, "sol_log_data"),
    )?;
    reg(
        "sol_set_return_data",
        SyscallSetReturnData::register(loader, "sol_set_return_data"),
    )?;
    reg(
        "sol_get_return_data",
        SyscallGetReturnData::register(loader, "sol_get_return_data"),
    )?;
    reg("sol_sha256", SyscallSha256::register(loader, "sol_sha256"))?;
    reg(
        "sol_memcpy_",
        SyscallMemcpy::register(loader, "sol_memcpy_"),
    )?;
    reg(
        "sol_memmove_",
        SyscallMemmove::register(loader, "sol_memmove_"),
    )?;
    reg(
        "sol_memset_",
        SyscallMemset::register(loader, "sol_memset_"),
    )?;
    reg(
        "sol_memcmp_",
        SyscallMemcmp::register(loader, "sol_memcmp_"),
    )?;
    reg("abort", SyscallAbort::register(loader, "abort"))?;
    reg("sol_panic_", SyscallPanic::register(loader, "sol_panic_"))?;
    reg(
        "sol_create_program_address",
        SyscallCreateProgramAddress::register(loader, "sol_create_program_address"),
    )?;
    reg(
        "sol_try_find_program_address",
        SyscallTryFindProgramAddress::register(loader, "sol_try_find_program_address"),
    )?;
    reg(
        "sol_get_rent_sysvar",
        SyscallGetRentSysvar::register(loader, "sol_get_rent_sysvar"),
    )?;
    reg(
        "sol_get_clock_sysvar",
        SyscallGetClockSysvar::register(loader, "sol_get_clock_sysvar"),
    )?;
    reg(
        "sol_get_sysvar",
        SyscallGetSysvar::register(loader, "sol_get_sysvar"),
    )?;
    reg(
        "sol_remaining_compute_units",
        SyscallRemainingComputeUnits::register(loader, "sol_remaining_compute_units"),
    )?;
    reg(
        "sol_get_stack_height",
        SyscallGetStackHeight::register(loader, "sol_get_stack_height"),
    )?;
    reg(
        "sol_invoke_signed_c",
        SyscallInvokeSignedC::register(loader, "sol_invoke_signed_c"),
    )?;
    reg(
        "sol_invoke_signed_rust",
        SyscallInvokeSignedRust::register(loader, "sol_invoke_signed_rust"),
    )?;
    Ok(())
}

/// What a `Program return:` log line would show.
pub fn return_line(program_id: &[u8; 32], data: &[u8]) -> String {
    format!(
        "Program return: {} {}",
        bs58::encode(program_id).into_string(),
        base64::engine::general_purpose::STANDARD.encode(data)
    )
}
