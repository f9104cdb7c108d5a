# Sourced by the scripts: where the toolchain pieces live. Override any of these in the env.
: "${ML_AGENT_CACHE:=$HOME/.cache/ml_agent}"
: "${ML_AGENT_RUSTC:=/usr/bin/rustc}"
: "${ML_AGENT_CARGO:=/usr/bin/cargo}"
# sbpf-linker 0.2.6 emits SBPF v3 (and v0 on request); built against Debian's LLVM 22 by setup.sh.
ML_AGENT_SBPF_LINKER_VERSION=0.2.6
export ML_AGENT_CACHE ML_AGENT_RUSTC ML_AGENT_CARGO ML_AGENT_SBPF_LINKER_VERSION
# The linker links libLLVM.so.22.1 dynamically (ldd finds Debian's); this directory, holding only
# LLVM 22, keeps anything that probes LD_LIBRARY_PATH from picking the LLVM 14/15 Debian also ships.
export LD_LIBRARY_PATH="$ML_AGENT_CACHE/llvm22${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$ML_AGENT_CACHE/sbpf-linker-$ML_AGENT_SBPF_LINKER_VERSION/bin:$ML_AGENT_CACHE/tools/bin:$HOME/.cargo/bin:$PATH"
