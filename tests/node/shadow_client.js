// A Node.js service sharing tbdash buckets, written from the README's "Calling the script
// from another language" alone: a tiny RESP client over `net` (no npm), SCRIPT LOAD then
// EVALSHA (EVAL on NOSCRIPT), and the replies parsed as documented, shadow fields included.
//
// usage: node shadow_client.js <port> <script path> <json: {key, default, steps: [[op, ...args]]}>
// prints one JSON object: {results: [...]}, each step's reply parsed.
'use strict';
const net = require('net');
const fs = require('fs');
const crypto = require('crypto');

const [port, scriptPath, planJson] = process.argv.slice(2);
const plan = JSON.parse(planJson);
const source = fs.readFileSync(scriptPath, 'utf8');
const sha = crypto.createHash('sha1').update(source).digest('hex');

function encode(args) {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const b = Buffer.from(String(a), 'utf8');
    out += `$${b.length}\r\n${b.toString('utf8')}\r\n`;
  }
  return out;
}

// Parses one RESP2 reply from buf at pos: [value, next pos], or null if incomplete.
function parse(buf, pos) {
  const end = buf.indexOf('\r\n', pos);
  if (end < 0) return null;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, end);
  if (type === '+') return [line, end + 2];
  if (type === '-') return [{ error: line }, end + 2];
  if (type === ':') return [Number(line), end + 2];
  if (type === '$') {
    const n = Number(line);
    if (n < 0) return [null, end + 2];
    if (buf.length < end + 2 + n + 2) return null;
    return [buf.toString('utf8', end + 2, end + 2 + n), end + 2 + n + 2];
  }
  if (type === '*') {
    const n = Number(line);
    if (n < 0) return [null, end + 2];
    const items = [];
    let p = end + 2;
    for (let i = 0; i < n; i++) {
      const r = parse(buf, p);
      if (r === null) return null;
      items.push(r[0]);
      p = r[1];
    }
    return [items, p];
  }
  throw new Error('unknown RESP type ' + type);
}

const socket = net.connect(Number(port), '127.0.0.1');
let pending = Buffer.alloc(0);
const waiting = [];
socket.on('data', (chunk) => {
  pending = Buffer.concat([pending, chunk]);
  for (;;) {
    if (!waiting.length) return;
    const r = parse(pending, 0);
    if (r === null) return;
    pending = pending.subarray(r[1]);
    waiting.shift()(r[0]);
  }
});
function call(...args) {
  return new Promise((resolve) => { waiting.push(resolve); socket.write(encode(args)); });
}

async function evalScript(key, argv) {
  let reply = await call('EVALSHA', sha, 1, key, ...argv);
  if (reply && reply.error && reply.error.startsWith('NOSCRIPT')) reply = await call('EVAL', source, 1, key, ...argv);
  return reply;
}

// "<max_tokens> <burst> <refill_count> <interval_us> <tokens> <anchor_us> <granted> <denied>" or ""
function shadowOf(text) {
  if (!text) return null;
  const [max_tokens, burst, refill_count, interval_us, tokens, anchor_us, granted, denied] = text.split(' ').map(Number);
  return { max_tokens, burst, refill_count, interval_us, tokens, anchor_us, granted, denied };
}

function parseReply(op, reply) {
  if (reply && reply.error) return { error: reply.error };
  if (op === 'acquire') {
    const f = reply.split(' ').map(Number);
    const out = { code: f[0], allowed: f[1] === 1, tokens: f[2], wait_us: f[3], ceiling: f[4], now_us: f[5] };
    out.shadow_allowed = f.length > 6 ? f[6] === 1 : null; // the seventh number: only with a shadow
    return out;
  }
  if (op === 'delete') return { deleted: reply === 1 };
  if (reply === null) return null; // missing bucket, or promote/discard without a shadow
  return {
    tokens: reply[2], max_tokens: reply[4], burst: reply[5], refill_count: reply[6], interval_us: reply[7],
    granted: reply[8], denied: reply[9], operator: reply[10], now_us: reply[11], anchor_us: reply[12],
    shadow: shadowOf(reply[15]),
  };
}

(async () => {
  await call('SCRIPT', 'LOAD', source);
  const results = [];
  let id = 0;
  for (const [op, ...args] of plan.steps) {
    let argv = [op, plan.default, ...args];
    if (op === 'acquire') argv = [op, plan.default, args[0], `node-${process.pid}-${id++}`, '1'];
    results.push(parseReply(op, await evalScript(plan.key, argv)));
  }
  process.stdout.write(JSON.stringify({ results }));
  socket.end();
})().catch((err) => { process.stderr.write(String(err.stack || err)); process.exit(1); });
