#!/usr/bin/env node
// Quickstart: upload a compiled model (.mlag) to ml_agent and run on-chain inference, with only
// the IDL and the official TypeScript Anchor client (@anchor-lang/core).
//
//   node examples/ts/quickstart.cjs --url http://127.0.0.1:8899 --keypair ~/.config/solana/id.json \
//     --model iris.mlag --features 5.1,3.5,1.4,0.2 [--ws-url ws://...] [--program-id <id>]
//     [--model-id <n>]
//
// Prints one JSON object: the model and weights addresses, the transactions sent, and the
// InferenceResult (class, confidence, outputs) that `infer` returned.
//
// Chunks are CHUNK_SIZE = 984 bytes, not the program's 1,012 maximum: @anchor-lang/core encodes
// instruction data into a fixed 1,000-byte buffer, and write_chunk's data is 8 (discriminator)
// + 4 (index) + 4 (length) + the chunk (docs/model-registry.md, "Chunk size").
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const anchor = require('@anchor-lang/core');

const { BN, web3 } = anchor;
const CHUNK_SIZE = 984;
const PAGE_CHUNKS = 9; // chunks per upload page (the program's PAGE_CHUNKS)

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      throw new Error(`bad arguments near ${argv[i]}; see the header of ${__filename}`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const k of ['url', 'keypair', 'model', 'features']) {
    if (!out[k]) throw new Error(`--${k} is required`);
  }
  return out;
}

const sha256 = (b) => crypto.createHash('sha256').update(b).digest();

/** Q16.16 as the program expects: round(x * 65536), halves up. */
const toQ16 = (x) => Math.floor(x * 65536 + 0.5);

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const keyPath = args.keypair.replace(/^~/, os.homedir());
  const payer = web3.Keypair.fromSecretKey(Uint8Array.from(JSON.parse(fs.readFileSync(keyPath))));
  // web3.js assumes the websocket is on the RPC port + 1; Surfpool and others say otherwise.
  const connection = new web3.Connection(args.url, {
    commitment: 'confirmed',
    wsEndpoint: args['ws-url'],
  });
  const provider = new anchor.AnchorProvider(connection, new anchor.Wallet(payer), {
    commitment: 'confirmed',
  });
  const idl = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'idl', 'ml_agent.json')));
  if (args['program-id']) idl.address = args['program-id'];
  const program = new anchor.Program(idl, provider);
  const authority = payer.publicKey;

  // The model file, cut into chunks, each pinned by its SHA-256; the root pins them all.
  const data = fs.readFileSync(args.model);
  const chunks = [];
  for (let at = 0; at < data.length; at += CHUNK_SIZE) chunks.push(data.subarray(at, at + CHUNK_SIZE));
  const hashes = chunks.map(sha256);
  const params = {
    formatVersion: 0,
    arch: { kind: 0, weightBits: 0, layers: 0, inputs: 0, outputs: 0, params: 0 },
    modelSize: new BN(data.length),
    chunkSize: CHUNK_SIZE,
    modelSha256: [...sha256(data)],
    chunkRoot: [...sha256(Buffer.concat(hashes))],
  };
  const modelId = new BN(args['model-id'] || crypto.randomInt(1, 2 ** 47));
  const idlErrors = anchor.parseIdlErrors(idl);
  const sent = [];

  // Send what `program.methods` built (accounts resolved from the IDL) and wait for it by
  // polling its status. (`.rpc()` waits on a websocket signature subscription instead, which
  // timed out on Surfpool in our runs.) A program error becomes Anchor's typed AnchorError.
  async function send(name, builder, signers = []) {
    const tx = await builder.transaction();
    const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash('confirmed');
    tx.recentBlockhash = blockhash;
    tx.feePayer = payer.publicKey;
    tx.sign(payer, ...signers);
    let signature;
    try {
      signature = await connection.sendRawTransaction(tx.serialize());
    } catch (err) {
      throw anchor.translateError(err, idlErrors);
    }
    for (;;) {
      const status = (await connection.getSignatureStatuses([signature])).value[0];
      if (status && status.err) throw new Error(`${name} failed: ${JSON.stringify(status.err)}`);
      if (status && ['confirmed', 'finalized'].includes(status.confirmationStatus)) break;
      if ((await connection.getBlockHeight('confirmed')) > lastValidBlockHeight) {
        throw new Error(`${name}: blockhash expired before confirmation (${signature})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    sent.push({ name, signature });
  }

  // 1. The weights account (system program; its size is in the ModelWeights docs), then
  //    create_model claims it. `model` and `systemProgram` come from the IDL.
  const weights = web3.Keypair.generate();
  const n = chunks.length;
  const dataOffset = (224 + 32 * n + Math.ceil(n / 8) + 7) & ~7;
  const space = dataOffset + data.length;
  const lamports = await connection.getMinimumBalanceForRentExemption(space);
  const create = program.methods
    .createModel(modelId, params)
    .accounts({ authority, weights: weights.publicKey })
    .preInstructions([
      web3.SystemProgram.createAccount({
        fromPubkey: authority,
        newAccountPubkey: weights.publicKey,
        lamports,
        space,
        programId: program.programId,
      }),
    ]);
  const model = (await create.pubkeys()).model;
  await send('create_model', create, [weights]);

  // 2. Upload pages: open (page PDA from the args), write each chunk, commit them all.
  const pages = [];
  for (let p = 0; p * PAGE_CHUNKS < n; p++) {
    const first = p * PAGE_CHUNKS;
    const open = program.methods
      .openPage(weights.publicKey, p, new BN(data.length), CHUNK_SIZE, hashes.slice(first, first + PAGE_CHUNKS).map((h) => [...h]))
      .accounts({ authority });
    const page = (await open.pubkeys()).page;
    await send('open_page', open);
    for (let i = first; i < Math.min(n, first + PAGE_CHUNKS); i++) {
      // `page` is a PDA of its own stored fields (the IDL's seeds say how): passed by hand.
      await send('write_chunk', program.methods.writeChunk(i, chunks[i]).accounts({ authority, page }));
    }
    pages.push(page);
  }
  const remaining = pages.map((pubkey) => ({ pubkey, isSigner: false, isWritable: true }));
  await send('commit_pages', program.methods.commitPages().accounts({ authority, weights: weights.publicKey }).remainingAccounts(remaining));

  // 3. Finalize (the program re-hashes the file) and activate.
  const cu = web3.ComputeBudgetProgram.setComputeUnitLimit({ units: 1_400_000 });
  await send('finalize_version', program.methods.finalizeVersion().accounts({ authority, model, weights: weights.publicKey }).preInstructions([cu]));
  await send('activate_version', program.methods.activateVersion().accounts({ authority, model, weights: weights.publicKey, previousWeights: null }));

  // 4. Inference: `.view()` simulates and decodes the InferenceResult return data.
  const header = await program.account.modelHeader.fetch(model);
  const features = args.features.split(',').map((x) => toQ16(Number(x)));
  const result = await program.methods
    .infer(features, 0)
    // `features` is infer's optional features account (inputs read from an account, flags bit
    // 1); Anchor clients pass null for an optional account they do not use.
    .accounts({ model, weights: header.activeWeights, features: null })
    .view();

  process.stdout.write(
    JSON.stringify({
      programId: program.programId.toBase58(),
      model: model.toBase58(),
      weights: weights.publicKey.toBase58(),
      chunkSize: CHUNK_SIZE,
      chunks: n,
      pages: pages.map((p) => p.toBase58()),
      status: header.status,
      sent,
      features,
      result: {
        class: result.class,
        confidenceQ16: result.confidenceQ16,
        outputs: result.outputs.map((o) => o.toString()),
      },
    }) + '\n',
  );
}

main().catch((err) => {
  // Anchor's typed error when the program failed (AnchorError: name, number, message).
  const e = err && err.error && err.error.errorCode ? `${err.error.errorCode.code}: ${err.error.errorMessage}` : String(err && err.stack ? err.stack : err);
  process.stderr.write(`quickstart: ${e}\n`);
  process.exit(1);
});
