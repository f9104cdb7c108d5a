//! sbpf-profile: run one instruction of an SBPF v0 program in the Anza SBPF interpreter with
//! register tracing, and attribute every compute unit to a function and an instruction.
//!
//! Usage: sbpf-profile [--program ELF] [--json] [--annotate] [--full] [--top N] [--limit CU]
//!                     [--quiet] INPUT.json
//!
//! INPUT.json: {"program_id": base58, "instruction_data": hex, "accounts": [{"key", "owner",
//! "lamports", "data" (hex, or base64 with "data_encoding": "base64"), "is_signer",
//! "is_writable", "executable"}, ...]}; optional "compute_unit_limit", "rent", "clock".

mod input;
mod profile;
mod syscalls;

use input::{hex_encode, Input};
use profile::FuncStats;
use serde_json::json;
use solana_sbpf::{
    aligned_memory::AlignedMemory,
    ebpf,
    elf::Executable,
    memory_region::{MemoryMapping, MemoryRegion},
    program::{BuiltinProgram, SBPFVersion},
    static_analysis::Analysis,
    vm::{CallFrame, Config, EbpfVm, ExecutionMode},
};
use std::{collections::BTreeMap, fmt::Write as _, sync::Arc};
use syscalls::Ctx;

const HEAP_SIZE: usize = 32 * 1024;
/// Runs of at least this many never-executed instructions are folded in `--annotate`.
const FOLD_RUN: usize = 6;

struct Args {
    program: String,
    input: String,
    json: bool,
    annotate: bool,
    full: bool,
    top: usize,
    limit: Option<u64>,
    quiet: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: sbpf-profile [--program target/deploy/ml_agent.so] [--json] [--annotate] [--full] \
         [--top N] [--limit CU] [--quiet] INPUT.json"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        program: "target/deploy/ml_agent.so".into(),
        input: String::new(),
        json: false,
        annotate: false,
        full: false,
        top: 25,
        limit: None,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--program" => a.program = it.next().unwrap_or_else(|| usage()),
            "--json" => a.json = true,
            "--annotate" => a.annotate = true,
            "--full" => a.full = true,
            "--quiet" => a.quiet = true,
            "--top" => {
                a.top = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--limit" => {
                a.limit = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "-h" | "--help" => usage(),
            s if s.starts_with('-') => usage(),
            s => a.input = s.to_string(),
        }
    }
    if a.input.is_empty() {
        usage();
    }
    a
}

/// Agave's runtime configuration for SBPF v0 programs (loader v3), without direct mapping.
fn config() -> Config {
    Config {
        max_call_depth: 64,
        stack_frame_size: 4096,
        enable_address_translation: true,
        enable_stack_frame_gaps: true,
        instruction_meter_checkpoint_distance: 10_000,
        enable_instruction_meter: true,
        enable_symbol_and_section_labels: true,
        reject_broken_elfs: false,
        optimize_rodata: false,
        aligned_memory_mapping: true,
        enabled_sbpf_versions: SBPFVersion::V0..=SBPFVersion::V3,
    }
}

struct Run {
    trace: Vec<[u64; 12]>,
    ctx_insns: u64,
    syscall_cu: u64,
    syscalls: BTreeMap<&'static str, syscalls::SyscallStat>,
    events: Vec<syscalls::SyscallEvent>,
    logs: Vec<String>,
    return_data: Vec<u8>,
    result: Result<u64, String>,
    limit: u64,
}

fn execute(exe: &Executable<Ctx>, inp: &Input, limit: u64, echo: bool) -> Result<Run, String> {
    let cfg = exe.get_config().clone();
    let version = exe.get_sbpf_version();
    let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(cfg.stack_size());
    let stack_len = stack.len();
    let mut heap = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(HEAP_SIZE);
    let mut params = AlignedMemory::<{ ebpf::HOST_ALIGN }>::from_slice(&inp.serialize());
    let gap = if !version.manual_stack_frame_bump() && cfg.enable_stack_frame_gaps {
        cfg.stack_frame_size as u64
    } else {
        0
    };
    let regions = vec![
        exe.get_ro_region(),
        MemoryRegion::new_gapped(&mut stack, ebpf::MM_STACK_START, gap),
        MemoryRegion::new(&mut heap, ebpf::MM_HEAP_START),
        MemoryRegion::new(&mut params, ebpf::MM_INPUT_START),
    ];
    // SAFETY: the buffers behind the regions outlive the mapping (all live until this returns).
    let mapping = unsafe { MemoryMapping::new(regions, &cfg, version) }
        .map_err(|e| format!("memory mapping: {e}"))?;
    let mut ctx = Ctx {
        mapping,
        limit,
        remaining: limit,
        insns: 0,
        syscall_cu: 0,
        syscalls: BTreeMap::new(),
        events: Vec::new(),
        logs: Vec::new(),
        return_data: Vec::new(),
        program_id: inp.program_id,
        rent: inp.rent,
        clock: inp.clock,
        echo_logs: echo,
    };
    let mut call_frames = vec![CallFrame::default(); cfg.max_call_depth];
    let (trace, result) = {
        let mut vm = EbpfVm::new(exe.get_loader().clone(), version, &mut ctx, stack_len);
        vm.registers[1] = ebpf::MM_INPUT_START;
        let (_count, result) =
            vm.execute_program(exe, &mut ExecutionMode::Interpreted, &mut call_frames);
        let result: Result<u64, solana_sbpf::error::EbpfError> = result.into();
        (
            std::mem::take(&mut vm.register_trace),
            result.map_err(|e| e.to_string()),
        )
    };
    Ok(Run {
        trace,
        ctx_insns: ctx.insns,
        syscall_cu: ctx.syscall_cu,
        syscalls: ctx.syscalls,
        events: ctx.events,
        logs: ctx.logs,
        return_data: ctx.return_data,
        result,
        limit: ctx.limit,
    })
}

struct Func<'a> {
    name: String,
    stats: &'a FuncStats,
}

fn main() {
    let args = parse_args();
    if let Err(e) = run(&args) {
        eprintln!("sbpf-profile: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let elf = std::fs::read(&args.program).map_err(|e| format!("{}: {e}", args.program))?;
    let text = std::fs::read_to_string(&args.input).map_err(|e| format!("{}: {e}", args.input))?;
    let inp = Input::parse(&text)?;
    let limit = args.limit.unwrap_or(inp.compute_unit_limit);

    let mut loader = BuiltinProgram::<Ctx>::new_loader(config());
    syscalls::register(&mut loader)?;
    let loader = Arc::new(loader);
    let exe =
        Executable::<Ctx>::load(&elf, loader.clone()).map_err(|e| format!("loading ELF: {e}"))?;
    if exe.get_sbpf_version() != SBPFVersion::V0 {
        eprintln!(
            "sbpf-profile: warning: ELF is {:?}, not SBPF v0",
            exe.get_sbpf_version()
        );
    }
    let (text_vaddr, text_bytes) = exe.get_text_bytes();
    // Address as llvm-objdump prints it (the ELF's own .text addresses).
    let elf_addr = |pc: usize| text_vaddr - ebpf::MM_REGION_SIZE + (pc * ebpf::INSN_SIZE) as u64;

    let run = execute(&exe, &inp, limit, !args.quiet && !args.json)?;
    let insns = run.trace.len() as u64;
    if insns != run.ctx_insns {
        eprintln!(
            "sbpf-profile: warning: trace has {insns} entries but the meter charged {} instructions",
            run.ctx_insns
        );
    }
    let total = insns + run.syscall_cu;

    // Functions: the entrypoint and every bpf-to-bpf call target the loader registered.
    let exe_registry = exe.get_function_registry();
    let mut names: BTreeMap<usize, String> = BTreeMap::new();
    for (_key, (name, pc)) in exe_registry.iter() {
        let n = String::from_utf8_lossy(name).to_string();
        names.insert(
            pc,
            if n.is_empty() {
                format!("function_{pc}")
            } else {
                n
            },
        );
    }
    let entry_pc = exe.get_entrypoint_instruction_offset();
    let internal = |insn: &ebpf::Insn| -> Option<usize> {
        if loader
            .get_function_registry()
            .lookup_by_key(insn.imm as u32)
            .is_some()
        {
            return None; // syscalls win in the interpreter
        }
        exe_registry
            .lookup_by_key(insn.imm as u32)
            .map(|(_, pc)| pc)
    };
    let prof = profile::analyze(&run.trace, text_bytes, entry_pc, internal, &run.events);

    let mut funcs: Vec<Func> = prof
        .funcs
        .values()
        .map(|s| Func {
            name: names
                .get(&s.entry)
                .cloned()
                .unwrap_or_else(|| format!("function_{}", s.entry)),
            stats: s,
        })
        .collect();
    funcs.sort_by(|a, b| {
        (b.stats.excl_insns + b.stats.excl_syscall_cu)
            .cmp(&(a.stats.excl_insns + a.stats.excl_syscall_cu))
            .then(a.stats.entry.cmp(&b.stats.entry))
    });

    let program_id = bs58::encode(inp.program_id).into_string();
    let consumed_line = format!(
        "Program {program_id} consumed {total} of {} compute units",
        run.limit
    );
    let result_desc = match &run.result {
        Ok(0) => "success (r0 = 0)".to_string(),
        Ok(r0) => format!(
            "program error: r0 = {r0} ({r0:#x}; the runtime reports a custom/builtin error)"
        ),
        Err(e) => format!("VM error: {e}"),
    };

    let annotation = if args.annotate {
        Some(annotate(&exe, &funcs, text_bytes, &elf_addr, args.full)?)
    } else {
        None
    };

    if args.json {
        let doc = json!({
            "program": args.program,
            "program_id": program_id,
            "instructions": insns,
            "syscall_cu": run.syscall_cu,
            "total_cu": total,
            "compute_unit_limit": run.limit,
            "syscalls": run.syscalls.iter().map(|(k, v)| (k.to_string(), json!({"calls": v.calls, "cu": v.cu}))).collect::<serde_json::Map<_, _>>(),
            "result": match &run.result {
                Ok(r0) => json!({"ok": *r0 == 0, "r0": r0}),
                Err(e) => json!({"ok": false, "error": e}),
            },
            "return_data_hex": hex_encode(&run.return_data),
            "logs": run.logs,
            "max_call_depth": prof.max_depth,
            "functions": funcs.iter().map(|f| json!({
                "name": f.name,
                "entry_pc": f.stats.entry,
                "entry_addr": format!("{:#x}", elf_addr(f.stats.entry)),
                "exclusive_instructions": f.stats.excl_insns,
                "exclusive_syscall_cu": f.stats.excl_syscall_cu,
                "inclusive_instructions": f.stats.incl_insns,
                "inclusive_cu": f.stats.incl_insns + f.stats.incl_syscall_cu,
                "calls": f.stats.calls,
            })).collect::<Vec<_>>(),
            "annotation": annotation,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        return Ok(());
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "sbpf-profile  {}  (SBPF {:?}, interpreter, register trace)",
        args.program,
        exe.get_sbpf_version()
    );
    let _ = writeln!(out, "result               : {result_desc}");
    let _ = writeln!(out, "instructions executed: {insns:>9}   (1 CU each)");
    let _ = writeln!(out, "syscall CU           : {:>9}", run.syscall_cu);
    for (name, s) in &run.syscalls {
        let _ = writeln!(
            out,
            "    {name:<30} {:>4} call{} {:>7} CU",
            s.calls,
            if s.calls == 1 { " " } else { "s" },
            s.cu
        );
    }
    let _ = writeln!(out, "total CU             : {total:>9}   ({consumed_line})");
    let _ = writeln!(
        out,
        "return data ({:>3} B)  : {}",
        run.return_data.len(),
        hex_encode(&run.return_data)
    );
    if !run.return_data.is_empty() {
        let _ = writeln!(
            out,
            "    {}",
            syscalls::return_line(&inp.program_id, &run.return_data)
        );
    }
    let _ = writeln!(
        out,
        "logs                 : {}",
        if run.logs.is_empty() { "(none)" } else { "" }
    );
    for l in &run.logs {
        let _ = writeln!(out, "    {l}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "functions by exclusive cost ({} executed, max call depth {}; excl = instructions with the \
         function on top of the stack, sys = CU of syscalls it made, incl = with callees)",
        funcs.len(),
        prof.max_depth
    );
    let _ = writeln!(
        out,
        "  {:>3} {:<18} {:>6} {:>8} {:>7} {:>6} {:>6} {:>7} {:>8} {:>6}",
        "#", "function", "pc", "addr", "excl", "excl%", "sys", "incl", "incl CU", "calls"
    );
    for (i, f) in funcs.iter().take(args.top).enumerate() {
        let s = f.stats;
        let _ = writeln!(
            out,
            "  {:>3} {:<18} {:>6} {:>8} {:>7} {:>5.1}% {:>6} {:>7} {:>8} {:>6}",
            i + 1,
            f.name,
            s.entry,
            format!("{:#x}", elf_addr(s.entry)),
            s.excl_insns,
            100.0 * (s.excl_insns + s.excl_syscall_cu) as f64 / total.max(1) as f64,
            s.excl_syscall_cu,
            s.incl_insns,
            s.incl_insns + s.incl_syscall_cu,
            s.calls
        );
    }
    if funcs.len() > args.top {
        let rest: u64 = funcs
            .iter()
            .skip(args.top)
            .map(|f| f.stats.excl_insns)
            .sum();
        let _ = writeln!(
            out,
            "      ... {} more functions, {rest} instructions",
            funcs.len() - args.top
        );
    }
    if let Some(ann) = annotation {
        let _ = writeln!(out);
        let _ = writeln!(out, "annotated disassembly (count = executions of the instruction; functions by exclusive cost)");
        for f in ann.as_array().unwrap() {
            let _ = writeln!(out);
            let _ = writeln!(out, "{}", f["header"].as_str().unwrap());
            for line in f["lines"].as_array().unwrap() {
                let _ = writeln!(out, "{}", line.as_str().unwrap());
            }
        }
    }
    print!("{out}");
    Ok(())
}

/// Per executed function (in `funcs` order): the instructions from its entry to the last one it
/// executed, disassembled, each with the number of times it ran with this function on top of the
/// call stack. (Spans come from the trace: the loader also registers `call` targets that are not
/// function starts, so "up to the next registered function" would cut functions short.)
fn annotate(
    exe: &Executable<Ctx>,
    funcs: &[Func],
    text: &[u8],
    elf_addr: &dyn Fn(usize) -> u64,
    full: bool,
) -> Result<serde_json::Value, String> {
    let analysis = Analysis::from_executable(exe).map_err(|e| format!("static analysis: {e}"))?;
    let called: std::collections::BTreeSet<usize> = funcs.iter().map(|f| f.stats.entry).collect();
    let mut out = Vec::new();
    for f in funcs {
        let s = f.stats;
        let first = s
            .pc_counts
            .keys()
            .next()
            .copied()
            .unwrap_or(s.entry)
            .min(s.entry);
        let last = s
            .pc_counts
            .keys()
            .next_back()
            .copied()
            .unwrap_or(s.entry)
            .max(s.entry);
        let count_at = |pc: usize| s.pc_counts.get(&pc).copied().unwrap_or(0);
        let mut lines: Vec<String> = Vec::new();
        let mut pc = first;
        let mut last_block = usize::MAX;
        while pc <= last {
            let count = count_at(pc);
            // Fold long runs of instructions this function never ran.
            if !full && count == 0 {
                let mut q = pc;
                while q <= last && count_at(q) == 0 {
                    q += 1;
                }
                if q - pc >= FOLD_RUN {
                    lines.push(format!(
                        "{:>9}  ... {} instructions not executed (pc {}..{}) ...",
                        "",
                        q - pc,
                        pc,
                        q - 1
                    ));
                    pc = q;
                    last_block = usize::MAX;
                    continue;
                }
            }
            if let Some(node) = analysis.cfg_nodes.get(&pc) {
                // The loader registers every `call` target, including ones that are only ever
                // reached by falling through; label those like plain blocks.
                let called = called.contains(&pc);
                let root = analysis.super_root;
                let jumped = node.sources.iter().any(|&b| b != last_block && b != root);
                let plain =
                    !analysis.functions.contains_key(&pc) && node.sources != vec![last_block];
                if pc != first && (called || jumped || plain) {
                    lines.push(format!("{:>9}  {}:", "", node.label));
                }
                // `instructions` indexes `analysis.instructions` (an lddw is one entry there).
                let tail = node
                    .instructions
                    .end
                    .checked_sub(1)
                    .map(|i| analysis.instructions[i].opc);
                last_block = if tail == Some(ebpf::JA) {
                    usize::MAX
                } else {
                    pc
                };
            }
            let mut insn = ebpf::get_insn(text, pc);
            if insn.opc == ebpf::LD_DW_IMM {
                ebpf::augment_lddw_unchecked(text, &mut insn);
            }
            let c = if count == 0 {
                ".".to_string()
            } else {
                count.to_string()
            };
            lines.push(format!(
                "{c:>9}  {pc:>6} {:>8}    {}",
                format!("{:#x}", elf_addr(pc)),
                analysis.disassemble_instruction(&insn, pc)
            ));
            pc += if insn.opc == ebpf::LD_DW_IMM { 2 } else { 1 };
        }
        let header = format!(
            "==== {} (pc {}, {:#x}): excl {} insns + {} syscall CU, incl {} CU, {} call{}; pc {}..{}",
            f.name,
            s.entry,
            elf_addr(s.entry),
            s.excl_insns,
            s.excl_syscall_cu,
            s.incl_insns + s.incl_syscall_cu,
            s.calls,
            if s.calls == 1 { "" } else { "s" },
            first,
            last
        );
        out.push(
            json!({"function": f.name, "entry_pc": s.entry, "header": header, "lines": lines}),
        );
    }
    Ok(serde_json::Value::Array(out))
}
