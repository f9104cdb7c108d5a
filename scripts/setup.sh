#!/usr/bin/env bash
# One-time, idempotent setup of everything ml_agent needs, from registries only:
#   Debian apt  : rustc-web, cargo-web, rust-web-src (Rust 1.96 + std source), libllvm22,
#                 llvm-22-dev (to build sbpf-linker against LLVM 22)
#   crates.io   : sbpf-linker 0.2.6 (relinks upstream BPF into SBPF v3, and v0 for LiteSVM)
#   npm         : @solana/surfpool-linux-x64-gnu 1.5.0 (local validator), pinned in package-lock
#   PyPI        : the SDK and its test tools, pinned in requirements-lock.txt
# Re-running it skips what is already in place. Set ML_AGENT_SKIP_PY=1 to leave Python alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { echo "setup: $*" >&2; }
die() { echo "setup: FAILED: $*" >&2; exit 1; }

# --- Debian packages -------------------------------------------------------------------------
apt_pkgs=(rustc-web cargo-web rust-web-src libllvm22 llvm-22-dev jq)  # jq: docs/first-model.md
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: this setup targets Debian 12 (bookworm)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  step "installing Debian packages: ${missing[*]} (bookworm-security)"
  $SUDO apt-get update -qq || die "apt-get update failed (is bookworm-security in the apt sources?)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
else
  step "Debian packages present: ${apt_pkgs[*]}"
fi
"$ML_AGENT_RUSTC" --version | grep -q "^rustc 1\.9[6-9]" \
  || die "$ML_AGENT_RUSTC is not Rust >= 1.96 (got: $("$ML_AGENT_RUSTC" --version))"
[ -f /usr/lib/rustlib/src/rust/library/core/Cargo.toml ] || die "rust-web-src did not install the std source"

# --- LLVM 22 for sbpf-linker -----------------------------------------------------------------
llvm_so=$(ls /usr/lib/x86_64-linux-gnu/libLLVM.so.22.1 /usr/lib/llvm-22/lib/libLLVM.so.22.1 2>/dev/null | head -n1 || true)
[ -n "$llvm_so" ] || die "libLLVM.so.22.1 not found (package libllvm22)"
mkdir -p "$ML_AGENT_CACHE/llvm22"
ln -sf "$llvm_so" "$ML_AGENT_CACHE/llvm22/libLLVM.so.22.1"

# --- sbpf-linker ------------------------------------------------------------------------------
# 0.2.6's default build wants LLVM 23 through rustc's LLVM proxy; its `llvm-22` feature links
# Debian's libLLVM 22 instead (llvm-sys 221 is in its lock file). Own root, so the version in use
# is always the one scripts/env.sh puts first on PATH.
v="$ML_AGENT_SBPF_LINKER_VERSION"
linker_root="$ML_AGENT_CACHE/sbpf-linker-$v"
linker_version() { { "$linker_root/bin/sbpf-linker" --version 2>&1 || true; } | head -n1; }
if [ "$(linker_version)" = "sbpf-linker $v" ]; then
  step "sbpf-linker $v present"
else
  step "building sbpf-linker $v from crates.io against LLVM 22 (about 3 minutes)"
  RUSTC="$ML_AGENT_RUSTC" RUSTFLAGS="-L /usr/lib/llvm-22/lib" LLVM_SYS_221_PREFIX=/usr/lib/llvm-22 \
    "$ML_AGENT_CARGO" install sbpf-linker --version "$v" --locked \
    --no-default-features --features bpf-linker/llvm-22 --root "$linker_root" >&2 \
    || die "cargo install sbpf-linker $v failed"
fi
[ "$(linker_version)" = "sbpf-linker $v" ] || die "sbpf-linker $v does not run (got: $(linker_version))"
"$linker_root/bin/sbpf-linker" --version 2>&1 | grep -q "^LLVM 22\." \
  || die "sbpf-linker $v is not linked against LLVM 22 ($("$linker_root/bin/sbpf-linker" --version 2>&1 | tr '\n' ' '))"

# --- host Rust tools for tests (rustfmt, clippy) ----------------------------------------------
for t in "cargo fmt" "cargo clippy"; do
  $t --version >/dev/null 2>&1 || die "'$t' is missing: install the rustfmt and clippy components of the host toolchain"
done

# --- Surfpool (npm) ---------------------------------------------------------------------------
command -v node >/dev/null || die "node not found (Node.js >= 18 is needed to run Surfpool)"
if [ -f node_modules/@solana/surfpool-linux-x64-gnu/package.json ] \
   && [ -f node_modules/@anchor-lang/core/package.json ]; then
  step "npm packages present (Surfpool, @anchor-lang/core)"
else
  step "installing Surfpool and @anchor-lang/core from npm (package-lock.json)"
  npm ci --no-audit --no-fund >&2 || die "npm ci failed"
fi

# --- Python -----------------------------------------------------------------------------------
if [ "${ML_AGENT_SKIP_PY:-0}" != 1 ]; then
  if python3 -c "import client, solders, anchorpy, numpy, pytest, sklearn, onnx, matplotlib" >/dev/null 2>&1 \
     && pip show ml-agent >/dev/null 2>&1 && command -v ml-agent >/dev/null; then
    step "Python packages present"
  else
    step "installing Python packages (pip, pinned by requirements-lock.txt)"
    python3 -m pip install -q -c requirements-lock.txt -e ".[dev,sklearn,onnx,plot]" >&2 \
      || die "pip install failed"
  fi
fi

# --- the program ------------------------------------------------------------------------------
so_files=(target/deploy/ml_agent.so target/deploy/ml_agent-sbpf-v0.so)
stale=0
for so in "${so_files[@]}"; do
  if [ ! -f "$so" ] || [ -n "$(find programs Cargo.toml Cargo.lock .cargo -newer "$so" -type f 2>/dev/null | head -n1)" ]; then
    stale=1
  fi
done
if [ "$stale" = 1 ]; then
  step "building the program"
  bash scripts/build-program.sh >&2
fi
step "ready"
