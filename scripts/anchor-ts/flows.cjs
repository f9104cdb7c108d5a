#!/usr/bin/env node
// The CLI's market and agent flows through @anchor-lang/core's `program.methods`, with the
// accounts resolved from the IDL (PDA seeds, relations, fixed addresses): only signers and
// accounts the IDL cannot derive are passed by hand. (The registry flow is
// examples/ts/quickstart.cjs.) Driven by tests/program/test_anchor_ts_flows.py.
//
// stdin: JSON {url, wsUrl, keypair: [64 bytes], mintA, mintB, userA, userB, model, weights,
//              agentId, setup (create_agent's AgentSetup, IDL field names), risk (RiskParams)}
// stdout: JSON {steps: [{name, passed: [account names given by hand], resolved: {name: address}}],
//               userLp, failure: {...}}
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const anchor = require('@anchor-lang/core');

const { BN, web3 } = anchor;
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const idl = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'idl', 'ml_agent.json')));
const payer = web3.Keypair.fromSecretKey(Uint8Array.from(input.keypair));
const connection = new web3.Connection(input.url, { commitment: 'confirmed', wsEndpoint: input.wsUrl });
const provider = new anchor.AnchorProvider(connection, new anchor.Wallet(payer), { commitment: 'confirmed' });
const program = new anchor.Program(idl, provider);
// The SPL Token program, as the IDL pins it (create_pool's token_program address).
const TOKEN_PROGRAM = new web3.PublicKey(
  idl.instructions.find((i) => i.name === 'create_pool').accounts.find((a) => a.name === 'token_program').address,
);
const idlErrors = anchor.parseIdlErrors(idl);
const me = payer.publicKey;
const pk = (s) => new web3.PublicKey(s);

const camel = (s) => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

/** A value in the IDL's JSON shape (snake_case fields, numbers) as @anchor-lang/core wants it. */
function toAnchor(ty, v) {
  if (['u64', 'i64', 'u128', 'i128'].includes(ty)) return new BN(String(v));
  if (ty === 'pubkey') return pk(v);
  if (typeof ty === 'string') return v;
  if (ty.array) return v.map((x) => toAnchor(ty.array[0], x));
  if (ty.vec) return v.map((x) => toAnchor(ty.vec, x));
  if (ty.option) return v == null ? null : toAnchor(ty.option, v);
  const def = idl.types.find((t) => t.name === ty.defined.name);
  return Object.fromEntries(def.type.fields.map((f) => [camel(f.name), toAnchor(f.type, v[f.name])]));
}

const steps = [];

/** Send what `builder` built, polling for confirmation; record what was passed by hand and
 *  what the IDL resolved. */
async function send(name, builder, passed, signers = []) {
  const resolved = await builder.pubkeys();
  const tx = await builder.transaction();
  const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash('confirmed');
  tx.recentBlockhash = blockhash;
  tx.feePayer = me;
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
  steps.push({
    name,
    passed,
    resolved: Object.fromEntries(Object.entries(resolved).filter(([, v]) => v).map(([k, v]) => [k, v.toBase58()])),
  });
}

/** An SPL token account for `mint` owned by `owner` (system create + InitializeAccount3). */
async function createTokenAccount(mint, owner) {
  const account = web3.Keypair.generate();
  const lamports = await connection.getMinimumBalanceForRentExemption(165);
  const init = new web3.TransactionInstruction({
    programId: TOKEN_PROGRAM,
    keys: [
      { pubkey: account.publicKey, isSigner: false, isWritable: true },
      { pubkey: mint, isSigner: false, isWritable: false },
    ],
    data: Buffer.concat([Buffer.from([18]), owner.toBuffer()]),
  });
  const tx = new web3.Transaction().add(
    web3.SystemProgram.createAccount({ fromPubkey: me, newAccountPubkey: account.publicKey, lamports, space: 165, programId: TOKEN_PROGRAM }),
    init,
  );
  await web3.sendAndConfirmTransaction(connection, tx, [payer, account], { commitment: 'confirmed' });
  return account.publicKey;
}

async function main() {
  const mintA = pk(input.mintA);
  const mintB = pk(input.mintB);
  const userA = pk(input.userA);
  const userB = pk(input.userB);
  const models = [
    { pubkey: pk(input.model), isSigner: false, isWritable: false },
    { pubkey: pk(input.weights), isSigner: false, isWritable: false },
  ];

  // Market: pool, vaults and LP mint are PDAs of the mints; later the vaults and LP mint come
  // from the pool account (relations).
  const createPool = program.methods.createPool(30).accounts({ creator: me, mintA, mintB });
  await send('create_pool', createPool, ['creator', 'mintA', 'mintB']);
  const pool = pk(steps[0].resolved.pool);
  const lpMint = pk(steps[0].resolved.lpMint);
  const userLp = await createTokenAccount(lpMint, me);
  await send(
    'add_liquidity',
    program.methods.addLiquidity(new BN(50_000_000), new BN(50_000_000), new BN(1)).accounts({ user: me, pool, userA, userB, userLp }),
    ['user', 'pool', 'userA', 'userB', 'userLp'],
  );
  await send(
    'swap',
    program.methods.swap(new BN(100_000), new BN(1), true).accounts({ user: me, pool, userSrc: userA, userDst: userB }),
    ['user', 'pool', 'userSrc', 'userDst'],
  );
  await send(
    'remove_liquidity',
    program.methods.removeLiquidity(new BN(1_000), new BN(0), new BN(0)).accounts({ user: me, pool, userA, userB, userLp }),
    ['user', 'pool', 'userA', 'userB', 'userLp'],
  );

  // Price feed: the feed PDA comes from the publisher and the feed id argument.
  const feedId = Array.from({ length: 32 }, (_, i) => i + 1);
  await send('create_price_feed', program.methods.createPriceFeed(feedId, -6).accounts({ publisher: me }), ['publisher']);
  const feed = pk(steps[steps.length - 1].resolved.feed);
  await send('publish_price', program.methods.publishPrice(new BN(1_000_000), new BN(100)).accounts({ publisher: me, feed }), ['publisher', 'feed']);

  // Agent: agent PDA from the argument, its pool from the mints, its vaults from the agent.
  const agentId = new BN(input.agentId);
  const setup = toAnchor({ defined: { name: 'AgentSetup' } }, input.setup);
  await send(
    'create_agent',
    program.methods
      .createAgent(agentId, setup)
      .accounts({ authority: me, mintA, mintB, priceSource: pool })
      .remainingAccounts(models)
      .preInstructions([web3.ComputeBudgetProgram.setComputeUnitLimit({ units: 400_000 })]),
    ['authority', 'mintA', 'mintB', 'priceSource'],
  );
  const agent = pk(steps[steps.length - 1].resolved.agent);
  const risk = toAnchor({ defined: { name: 'RiskParams' } }, input.risk);
  await send('configure_agent', program.methods.configureAgent(risk).accounts({ authority: me, agent }), ['authority', 'agent']);
  await send(
    'deposit',
    program.methods.deposit(new BN(10_000_000), new BN(10_000_000)).accounts({ authority: me, agent, userA, userB }),
    ['authority', 'agent', 'userA', 'userB'],
  );
  // The crank: only the agent is given; pool, both pool vaults, both agent vaults and the price
  // source are read from the agent and the pool.
  for (let step = 0; step < 3; step++) {
    await send(
      'agent_step',
      program.methods
        .agentStep(new BN(step))
        .accounts({ agent })
        .remainingAccounts(models)
        .preInstructions([web3.ComputeBudgetProgram.setComputeUnitLimit({ units: 400_000 })]),
      ['agent'],
    );
  }
  await send('pause_agent', program.methods.pauseAgent().accounts({ authority: me, agent }), ['authority', 'agent']);
  await send('resume_agent', program.methods.resumeAgent().accounts({ authority: me, agent }), ['authority', 'agent']);
  await send(
    'withdraw',
    program.methods.withdraw(new BN(1_000), new BN(1_000)).accounts({ authority: me, agent, userA, userB }),
    ['authority', 'agent', 'userA', 'userB'],
  );
  // Feature history: its PDA comes from the agent; a step then passes it first among the
  // remaining accounts (the program requires it there), and the authority closes it.
  await send('init_agent_history', program.methods.initAgentHistory(2).accounts({ authority: me, agent }), ['authority', 'agent']);
  const history = pk(steps[steps.length - 1].resolved.history);
  await send(
    'agent_step',
    program.methods
      .agentStep(new BN(3))
      .accounts({ agent })
      .remainingAccounts([{ pubkey: history, isSigner: false, isWritable: true }, ...models])
      .preInstructions([web3.ComputeBudgetProgram.setComputeUnitLimit({ units: 400_000 })]),
    ['agent'],
  );
  await send('close_agent_history', program.methods.closeAgentHistory().accounts({ authority: me, agent }), ['authority', 'agent']);

  // A failure through the same path arrives as Anchor's typed error.
  let failure = null;
  try {
    await send(
      'swap',
      program.methods.swap(new BN(100_000), new BN('18446744073709551615'), true).accounts({ user: me, pool, userSrc: userA, userDst: userB }),
      ['user', 'pool', 'userSrc', 'userDst'],
    );
  } catch (err) {
    failure = err instanceof anchor.AnchorError
      ? { kind: 'AnchorError', code: err.error.errorCode.code, number: err.error.errorCode.number, program: err.program.toBase58() }
      : { kind: String(err && err.constructor && err.constructor.name), message: String(err) };
  }
  process.stdout.write(JSON.stringify({ steps, userLp: userLp.toBase58(), failure }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`flows: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
