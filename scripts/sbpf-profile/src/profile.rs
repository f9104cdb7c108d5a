//! Attribution of an instruction trace to functions, from its call/exit structure.

use crate::syscalls::SyscallEvent;
use solana_sbpf::ebpf;
use std::collections::BTreeMap;

#[derive(Default, Clone)]
pub struct FuncStats {
    pub entry: usize,
    /// Instructions executed with this function on top of the call stack.
    pub excl_insns: u64,
    /// CU of the syscalls this function called directly.
    pub excl_syscall_cu: u64,
    /// Instructions executed while this function was anywhere on the stack (a recursive
    /// activation is counted once).
    pub incl_insns: u64,
    pub incl_syscall_cu: u64,
    pub calls: u64,
    /// Executions per pc with this function on top of the stack (its exclusive instructions).
    pub pc_counts: BTreeMap<usize, u64>,
}

pub struct Profile {
    pub funcs: BTreeMap<usize, FuncStats>,
    pub max_depth: usize,
}

struct Frame {
    func: usize,
    start_insn: u64,
    start_syscall_cu: u64,
}

/// `internal_target(insn)`: the callee pc of a `call imm` that is a bpf-to-bpf call (None for a
/// syscall).
pub fn analyze(
    trace: &[[u64; 12]],
    text: &[u8],
    entry_pc: usize,
    internal_target: impl Fn(&ebpf::Insn) -> Option<usize>,
    events: &[SyscallEvent],
) -> Profile {
    let mut funcs: BTreeMap<usize, FuncStats> = BTreeMap::new();
    let mut stack = vec![Frame {
        func: entry_pc,
        start_insn: 0,
        start_syscall_cu: 0,
    }];
    funcs
        .entry(entry_pc)
        .or_insert_with(|| FuncStats {
            entry: entry_pc,
            ..Default::default()
        })
        .calls = 1;
    let mut max_depth = 1;
    let mut cum_sys = 0u64;
    let mut ev = events.iter().peekable();

    fn finish(
        funcs: &mut BTreeMap<usize, FuncStats>,
        stack: &[Frame],
        f: Frame,
        end: u64,
        cum_sys: u64,
    ) {
        if stack.iter().any(|g| g.func == f.func) {
            return; // an outer activation of the same function covers this span
        }
        let s = funcs.get_mut(&f.func).unwrap();
        s.incl_insns += end - f.start_insn;
        s.incl_syscall_cu += cum_sys - f.start_syscall_cu;
    }

    for (i, regs) in trace.iter().enumerate() {
        let pc = regs[11] as usize;
        let top = stack.last().unwrap().func;
        let stats = funcs.get_mut(&top).unwrap();
        stats.excl_insns += 1;
        *stats.pc_counts.entry(pc).or_default() += 1;
        while let Some(e) = ev.next_if(|e| e.insn_index <= i as u64) {
            stats.excl_syscall_cu += e.cu;
            cum_sys += e.cu;
        }
        if pc * ebpf::INSN_SIZE >= text.len() {
            continue;
        }
        let insn = ebpf::get_insn(text, pc);
        let callee = match insn.opc {
            ebpf::CALL_IMM => internal_target(&insn),
            ebpf::CALL_REG => trace.get(i + 1).map(|r| r[11] as usize),
            ebpf::EXIT => {
                if stack.len() > 1 {
                    let f = stack.pop().unwrap();
                    finish(&mut funcs, &stack, f, i as u64 + 1, cum_sys);
                }
                None
            }
            _ => None,
        };
        if let Some(target) = callee {
            stack.push(Frame {
                func: target,
                start_insn: i as u64 + 1,
                start_syscall_cu: cum_sys,
            });
            max_depth = max_depth.max(stack.len());
            funcs
                .entry(target)
                .or_insert_with(|| FuncStats {
                    entry: target,
                    ..Default::default()
                })
                .calls += 1;
        }
    }
    // Syscalls after the last traced instruction (none expected) go to the entrypoint.
    for e in ev {
        funcs.get_mut(&entry_pc).unwrap().excl_syscall_cu += e.cu;
        cum_sys += e.cu;
    }
    let end = trace.len() as u64;
    while let Some(f) = stack.pop() {
        finish(&mut funcs, &stack, f, end, cum_sys);
    }
    Profile { funcs, max_depth }
}
