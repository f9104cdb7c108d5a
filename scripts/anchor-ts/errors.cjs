#!/usr/bin/env node
// Translates failed transactions' logs with the official TypeScript Anchor client, exactly as
// `program.methods.<ix>().rpc()` does when a send fails: the web3.js SendTransactionError goes
// through @anchor-lang/core's `translateError(err, parseIdlErrors(idl))`.
// stdin: JSON {"cases": [{"logs": [...]}, ...]}
// stdout: JSON [{"kind": "AnchorError"|..., "code", "number", "message", "program"}, ...]
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { AnchorError, parseIdlErrors, translateError, web3 } = require('@anchor-lang/core');

const idl = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'idl', 'ml_agent.json')));
const idlErrors = parseIdlErrors(idl);
const input = JSON.parse(fs.readFileSync(0, 'utf8'));

const out = input.cases.map(({ logs }) => {
  const sendError = new web3.SendTransactionError({
    action: 'send',
    signature: '',
    transactionMessage: 'Transaction simulation failed',
    logs,
  });
  const err = translateError(sendError, idlErrors);
  if (!(err instanceof AnchorError)) {
    return { kind: err.constructor.name, message: String(err.message) };
  }
  return {
    kind: 'AnchorError',
    code: err.error.errorCode.code,
    number: err.error.errorCode.number,
    message: err.error.errorMessage,
    program: err.program.toBase58(),
  };
});
process.stdout.write(JSON.stringify(out));
