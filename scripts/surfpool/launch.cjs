#!/usr/bin/env node
// Starts an offline Surfpool local validator (the in-process Surfnet from the
// `@solana/surfpool-linux-x64-gnu` native addon) for the RPC tests and local runs.
//
// Protocol, relied on by client/chain/surfpool.py:
//   * stdout gets exactly ONE line, JSON: {"rpcUrl": ..., "wsUrl": ..., "payer": ...}
//     (`payer` is the base58 pubkey Surfnet pre-funds; its secret key is not printed).
//   * The validator then runs until SIGTERM, SIGINT or SIGHUP, or until stdin reaches EOF
//     when stdin is a pipe/socket/TTY: a parent that dies without cleaning up closes the
//     pipe, so no orphaned validator keeps running. With stdin from a file or /dev/null
//     (e.g. `node launch.cjs </dev/null &`) only the signals stop it.
//   * On stop it calls Surfnet.stop() and exits 0. Any failure goes to stderr, exit != 0.
//
// Config choices (defaults; each overridable by a flag, see --help):
//   offline: true                  never touches a remote cluster: tests stay hermetic and
//                                  work without network.
//   blockProductionMode: "clock"   blocks on a timer, so block height advances and recent
//                                  blockhashes expire as on a real cluster ("transaction"
//                                  mode only makes blocks on traffic, so a stale-blockhash
//                                  test would wait forever).
//   slotTimeMs: 50                 a transaction's status shows up within one slot, so a
//                                  send+confirm round trip is ~50-100 ms instead of ~400 ms.
//                                  Blockhashes then live 151 blocks ≈ 7.5 s (the client
//                                  re-signs expired ones); idle CPU stays ~1% of one core.
//   airdropSol (lamports!)         despite its name Surfnet treats this as lamports; it is
//                                  only passed when --airdrop-address is given.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const ADDON = '@solana/surfpool-linux-x64-gnu';
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_HINT = `run scripts/setup.sh (or just \`npm ci\` in ${REPO_ROOT})`;

const DEFAULTS = {
  slotTimeMs: 50,
  blockProductionMode: 'clock',
  airdropLamports: 100_000_000_000, // 100 SOL per listed address
};
const MODES = ['clock', 'transaction', 'manual'];

const USAGE = `usage: node scripts/surfpool/launch.cjs [options]

Starts an offline Surfpool validator, prints one JSON line
{"rpcUrl","wsUrl","payer"} and runs until SIGTERM/SIGINT or stdin EOF.

options:
  --slot-time-ms N              slot duration in ms (default ${DEFAULTS.slotTimeMs})
  --block-production-mode MODE  ${MODES.join('|')} (default ${DEFAULTS.blockProductionMode})
  --airdrop-address PUBKEY      fund this base58 address at startup (repeatable)
  --airdrop-lamports N          lamports for each --airdrop-address
                                (default ${DEFAULTS.airdropLamports})
  --log-events                  write Surfnet's events (clock, logs, transactions) to stderr
  -h, --help                    show this help
`;

function fail(message, code = 1) {
  process.stderr.write(`surfpool launcher: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = { ...DEFAULTS, airdropAddresses: [], logEvents: false };
  const needValue = (flag, i) => {
    if (i + 1 >= argv.length) fail(`${flag} needs a value\n\n${USAGE}`, 2);
    return argv[i + 1];
  };
  const positiveInt = (flag, raw) => {
    if (!/^\d+$/.test(raw) || Number(raw) <= 0 || !Number.isSafeInteger(Number(raw))) {
      fail(`${flag} must be a positive integer, got ${JSON.stringify(raw)}`, 2);
    }
    return Number(raw);
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    switch (flag) {
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      case '--slot-time-ms':
        opts.slotTimeMs = positiveInt(flag, needValue(flag, i));
        i += 1;
        break;
      case '--block-production-mode': {
        const mode = needValue(flag, i);
        if (!MODES.includes(mode)) fail(`${flag} must be one of ${MODES.join(', ')}`, 2);
        opts.blockProductionMode = mode;
        i += 1;
        break;
      }
      case '--airdrop-address': {
        const addr = needValue(flag, i);
        // Base58 pubkeys are 32-44 chars; Surfnet would otherwise fail later with a vaguer error.
        if (!/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(addr)) {
          fail(`${flag} ${JSON.stringify(addr)} is not a base58 public key`, 2);
        }
        opts.airdropAddresses.push(addr);
        i += 1;
        break;
      }
      case '--log-events':
        opts.logEvents = true;
        break;
      case '--airdrop-lamports':
        opts.airdropLamports = positiveInt(flag, needValue(flag, i));
        i += 1;
        break;
      default:
        fail(`unknown argument ${JSON.stringify(flag)}\n\n${USAGE}`, 2);
    }
  }
  return opts;
}

function loadSurfnet() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`${ADDON} only ships a linux-x64 (glibc) build; this is ${process.platform}-${process.arch}`);
  }
  try {
    return require(ADDON).Surfnet;
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND') {
      fail(`${ADDON} is not installed under ${path.join(REPO_ROOT, 'node_modules')}: ${SETUP_HINT}`);
    }
    fail(`could not load ${ADDON}: ${err && err.message ? err.message : err}`);
  }
  return undefined; // unreachable: fail() exits
}

// Only a pipe/socket/TTY can signal "parent went away" by EOF; a file or /dev/null is at EOF
// from the start and would stop the validator immediately.
function stdinSignalsParentExit() {
  try {
    const st = fs.fstatSync(0);
    return st.isFIFO() || st.isSocket() || process.stdin.isTTY === true;
  } catch {
    return false; // stdin closed entirely (e.g. `<&-`)
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const Surfnet = loadSurfnet();

  const config = {
    offline: true,
    blockProductionMode: opts.blockProductionMode,
    slotTimeMs: opts.slotTimeMs,
  };
  if (opts.airdropAddresses.length > 0) {
    config.airdropAddresses = opts.airdropAddresses;
    config.airdropSol = opts.airdropLamports;
  }

  let surfnet;
  try {
    surfnet = Surfnet.startWithConfig(config);
  } catch (err) {
    fail(`Surfnet.startWithConfig(${JSON.stringify(config)}) failed: ${err && err.message ? err.message : err}`);
  }

  let stopping = false;
  const stop = (reason) => {
    if (stopping) return;
    stopping = true;
    try {
      surfnet.stop();
    } catch (err) {
      fail(`Surfnet.stop() failed after ${reason}: ${err && err.message ? err.message : err}`);
    }
    process.exit(0);
  };

  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => stop(sig));
  // A parent that stopped reading our stdout must not crash us with EPIPE before stop().
  process.stdout.on('error', () => {});

  process.stdout.write(
    `${JSON.stringify({ rpcUrl: surfnet.rpcUrl, wsUrl: surfnet.wsUrl, payer: surfnet.payer })}\n`,
  );

  // Surfnet queues events (clock updates, logs, processed transactions) for drainEvents().
  // Left undrained, the validator deadlocks after roughly 1,050 slots (measured with 1.5.0:
  // ~55 s at 50 ms slots, ~22 s at 20 ms; every RPC call then hangs); drained, it runs on.
  // Optionally mirror the events to stderr for debugging.
  let drainFailed = false;
  const drain = () => {
    try {
      const events = surfnet.drainEvents();
      if (opts.logEvents) {
        for (const event of events) {
          process.stderr.write(
            `${JSON.stringify(event, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
          );
        }
      }
    } catch (err) {
      if (!drainFailed) {
        drainFailed = true;
        process.stderr.write(
          `surfpool launcher: drainEvents() failed (the validator may stall): ${err && err.message ? err.message : err}\n`,
        );
      }
    }
  };
  setInterval(drain, 100);

  if (stdinSignalsParentExit()) {
    process.stdin.on('end', () => stop('stdin EOF'));
    process.stdin.on('close', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume(); // discard anything written to us; also keeps the event loop alive
  }
  // (The drain interval also keeps Node's loop alive when stdin is not watched: the native
  // validator runs on its own threads and would not.)
}

try {
  main();
} catch (err) {
  fail(`unexpected error: ${err && err.stack ? err.stack : err}`);
}
