// The engine's IPC as the extension host uses it (child_process.fork with
// `serialization: 'advanced'`, like engineClient.ts): every malformed message
// gets an error reply and the engine keeps serving (a BigInt or a cyclic
// payload used to make the describing JSON.stringify throw). And the host's
// side: a log level is validated before it indexes the Output channel, and an
// engine reply larger than LIMITS.resultBytes is refused with a clear error.

import assert from 'node:assert/strict';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type * as vscode from 'vscode';
import { EngineClient, EngineError } from '../../extension/engineClient';
import { approxBytes, LIMITS, type EngineToHost } from '../../extension/protocol';
import { REPO } from '../helpers/fixtures';

const ENGINE = path.join(REPO, 'dist', 'engine.js');

before(() => {
  if (!existsSync(ENGINE)) spawnSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

describe('the engine child answers every malformed message', () => {
  let child: ChildProcess;
  const received: EngineToHost[] = [];
  const waiters: (() => void)[] = [];

  before(async () => {
    child = fork(ENGINE, [], { serialization: 'advanced', stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] });
    child.on('message', (m) => {
      received.push(m as EngineToHost);
      for (const w of waiters.splice(0)) w();
    });
    await next((m) => m.type === 'ready');
  });

  after(() => {
    child.kill('SIGKILL');
  });

  function next(pred: (m: EngineToHost) => boolean, timeoutMs = 10_000): Promise<EngineToHost> {
    const start = received.length;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching reply within ${timeoutMs} ms; got ${JSON.stringify(received.slice(start).map((m) => m.type))}`)), timeoutMs);
      const check = () => {
        const hit = received.slice(start).find(pred);
        if (hit) {
          clearTimeout(t);
          resolve(hit);
        } else waiters.push(check);
      };
      check();
    });
  }

  async function expectErrorReply(msg: unknown, id: number): Promise<void> {
    const reply = next((m) => m.type === 'error' && m.id === id);
    child.send(msg as object);
    const m = await reply;
    assert.equal(m.type, 'error');
    assert.equal(child.exitCode, null, 'the engine is still running');
  }

  async function expectAlive(id: number): Promise<void> {
    const pong = next((m) => m.type === 'pong' && m.id === id);
    child.send({ type: 'ping', id });
    await pong;
  }

  test('a BigInt id or BigInt fields', async () => {
    await expectErrorReply({ type: 'explain', id: 10n }, -1);
    await expectErrorReply({ type: 'nonsense', id: 11, payload: 2n ** 200n }, 11);
    await expectAlive(12);
  });

  test('a cyclic payload', async () => {
    const cyclic: Record<string, unknown> = { type: 'nonsense', id: 20 };
    cyclic.self = cyclic;
    cyclic.list = [cyclic, new Map([[1n, cyclic]])];
    await expectErrorReply(cyclic, 20);
    await expectAlive(21);
  });

  test('deep nesting, a huge array, typed arrays, a string, a number, an array', async () => {
    let deep: unknown = 0;
    for (let i = 0; i < 1_000; i++) deep = { d: deep };
    await expectErrorReply({ type: 'explain', id: 30, deep }, 30);
    await expectErrorReply({ type: 'inspect', id: 31, fileName: 7, modelBytes: new Float64Array(4), big: new Array(1e5).fill(1) }, 31);
    await expectErrorReply('explain', -1);
    await expectErrorReply(42, -1);
    await expectErrorReply([{ type: 'ping', id: 1 }], -1);
    await expectErrorReply({ type: 'ping', id: 1.5 }, -1);
    await expectAlive(32);
  });

  test('a well-formed request with bad contents gets an error, not a crash', async () => {
    const model = { type: 'explain', fileName: 'm.json', modelBytes: new Uint8Array([123, 125]), options: {} };
    await expectErrorReply({ ...model, id: 40, input: { kind: 'values', values: [1n, 2n] } }, 40);
    await expectErrorReply({ ...model, id: 41, input: { kind: 10n } }, 41);
    const cyclicOptions: Record<string, unknown> = {};
    cyclicOptions.self = cyclicOptions;
    await expectErrorReply({ ...model, id: 42, input: { kind: 'values', values: [1] }, options: cyclicOptions }, 42);
    await expectAlive(43);
  });

  test('the malformed-request log line is a bounded description', async () => {
    const log = next((m) => m.type === 'log' && /malformed request/.test(m.message) && /50n/.test(m.message));
    child.send({ type: 'explain', id: 50n, text: 'x'.repeat(1e6) });
    const m = await log;
    assert.ok(m.type === 'log' && m.message.length < 400, `${m.type === 'log' ? m.message.length : 0} chars`);
  });
});

describe('the host side (EngineClient) against a scripted engine', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'dtd-ipc-'));
  const fake = path.join(tmp, 'fake-engine.js');
  // A stand-in engine: bad log levels, a link in a log line, and a reply over the size limit.
  writeFileSync(
    fake,
    `process.on('message', (m) => {
      if (m.type === 'ping') {
        for (const level of ['show', 'dispose', 'clear', 'constructor', '__proto__', 42]) process.send({ type: 'log', level, message: 'level ' + String(level) });
        process.send({ type: 'log', level: 'info', message: 'a [link](command:workbench.action.quit)\\nforged line\\u001b[2K' });
        process.send({ type: 'pong', id: m.id });
      } else if (m.type === 'inspect') {
        process.send({ type: 'inspected', id: m.id, reply: { model: { name: 'x' }, outputs: new Array(200000).fill(0.5) } });
      } else if (m.type === 'audit') {
        process.send({ type: 'error', id: m.id, code: 'bad-model', message: 'm.onnx: node [click](command:workbench.action.quit) is bad\\u0007' });
      }
    });
    process.on('disconnect', () => process.exit(0));
    process.send({ type: 'ready', backend: 'fake', pid: process.pid });`,
  );

  const lines: { level: string; text: string }[] = [];
  const calls: string[] = [];
  const logger = new Proxy(
    {},
    {
      get(_t, prop: string) {
        return (text: string) => {
          calls.push(prop);
          lines.push({ level: prop, text });
        };
      },
    },
  ) as vscode.LogOutputChannel;
  const client = new EngineClient({ enginePath: fake, log: logger, timeoutSeconds: () => 30, maxReplyBytes: 1_000_000 });
  after(() => client.dispose());

  test('unknown log levels are logged as info, never call another method of the channel', async () => {
    await client.ping();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      calls.filter((c) => !['trace', 'debug', 'info', 'warn', 'error'].includes(c)),
      [],
      'only the channel’s log methods were called',
    );
    for (const level of ['show', 'dispose', 'clear', 'constructor', '__proto__', '42']) assert.ok(lines.some((l) => l.level === 'info' && l.text.endsWith(`level ${level}`)), level);
    const link = lines.find((l) => l.text.includes('forged line'))!;
    assert.ok(!/\]\(command:/.test(link.text), link.text);
    assert.match(link.text, /\n {4}forged line$/, 'a continuation line is indented');
  });

  test('an error message from the engine reaches the host as plain text', async () => {
    await assert.rejects(client.audit({ fileName: 'm.onnx', modelBytes: new Uint8Array(1) }, { inputs: 1 } as never), (e: unknown) => {
      assert.ok(e instanceof EngineError);
      assert.equal(e.code, 'bad-model');
      assert.ok(!/\]\(command:/.test(e.message), e.message);
      assert.ok(!/\u0007/.test(e.message));
      return true;
    });
  });

  test('a reply over the limit (LIMITS.resultBytes in VS Code) is refused with a clear error', async () => {
    await assert.rejects(client.inspect({ fileName: 'm.onnx', modelBytes: new Uint8Array(1) }), (e: unknown) => {
      assert.ok(e instanceof EngineError);
      assert.equal(e.code, 'too-costly');
      assert.match(e.message, /larger than the \d+ MB/);
      return true;
    });
    await client.ping();
  });

  test('the limit itself is sane: a typical result is far below it', () => {
    assert.ok(LIMITS.resultBytes >= 64 * 1024 * 1024);
    assert.ok(approxBytes({ activations: [new Array(10_000).fill(1)] }) < LIMITS.resultBytes / 100);
  });
});
