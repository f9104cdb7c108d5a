# Sourced by the scripts: where the toolchain pieces live. Override any of these in the env.
: "${ML_AGENT_CACHE:=$HOME/.cache/ml_agent}"
: "${ML_AGENT_RUSTC:=/usr/bin/rustc}"
: "${ML_AGENT_CARGO:=/usr/bin/cargo}"
export ML_AGENT_CACHE ML_AGENT_RUSTC ML_AGENT_CARGO
# sbpf-linker's default build finds LLVM at run time via the first libLLVM* on LD_LIBRARY_PATH;
# a directory holding only LLVM 22 keeps it from picking the LLVM 14/15 that Debian also ships.
export LD_LIBRARY_PATH="$ML_AGENT_CACHE/llvm22${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$ML_AGENT_CACHE/tools/bin:$HOME/.cargo/bin:$PATH"
