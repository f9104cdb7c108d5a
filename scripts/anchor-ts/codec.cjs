#!/usr/bin/env node
// Decodes/encodes with the official TypeScript Anchor client (@anchor-lang/core) and the
// committed IDL, to prove Anchor clients work with this program unchanged.
// stdin: JSON {"instruction": {"name", "args"}, "account": base64, "event": base64-of-log-data}
// stdout: JSON {"instruction": base64, "account": {...}, "event": {...}, "errors": {...}}
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { BorshCoder, EventParser } = require('@anchor-lang/core');

const idl = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'idl', 'ml_agent.json')));
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const coder = new BorshCoder(idl);

const plain = (v) => {
  if (v === null || v === undefined) return v;
  if (typeof v.toBase58 === 'function') return v.toBase58();
  if (typeof v.toString === 'function' && v.constructor && v.constructor.name === 'BN') return v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

const out = {};
if (input.instruction) {
  const args = { ...input.instruction.args };
  if (typeof args.payload === 'string') args.payload = Buffer.from(args.payload, 'base64');
  out.instruction = coder.instruction.encode(input.instruction.name, args).toString('base64');
}
if (input.account) {
  const data = Buffer.from(input.account.data, 'base64');
  out.account = plain(coder.accounts.decode(input.account.name, data));
}
if (input.event) {
  const ev = coder.events.decode(input.event);
  out.event = ev ? { name: ev.name, data: plain(ev.data) } : null;
}
out.errors = Object.fromEntries((idl.errors || []).map((e) => [e.code, e.name]));
process.stdout.write(JSON.stringify(out));
