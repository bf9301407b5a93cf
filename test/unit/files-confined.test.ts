// Hostile files around a model (issue 12, items 1–2): nothing is read outside the
// model's real folder, and nothing that is not a regular file is read at all.
// Through the command line as a user runs it (dist/cli.js: one line, exit 2),
// through engine/files.ts directly, and through the engine child's 'needFiles'
// round trip (the host parses nothing: it sends bytes, the engine asks for shards).

import assert from 'node:assert/strict';
import { fork, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { fixtureFile, REPO } from '../helpers/fixtures';
import { readConfined, readRegularFile } from '../../extension/engine/files';
import { parseSidecar } from '../../extension/engine/sidecar';
import { isDtdError } from '../../extension/engine/errors';
import { LIMITS, isEngineToHost, isHostToEngine, type EngineToHost, type HostToEngine } from '../../extension/protocol';

const CLI = path.join(REPO, 'dist', 'cli.js');
const ENGINE = path.join(REPO, 'dist', 'engine.js');
const posix = process.platform !== 'win32';
const TFJS = path.join(REPO, 'test', 'models', 'tfjs', 'cnn3x10_bn_gap_seed2');
const SHARD = 'group1-shard1of1.bin';
const tmp = mkdtempSync(path.join(tmpdir(), 'dtd-files-'));

function run(args: string[]) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: Date.now() - started, signal: r.signal };
}

/** A clean refusal: exit 2, one line naming `name`, no stack, nothing of a secret target. */
function expectRefused(args: string[], name: string, why: RegExp) {
  const r = run(args);
  assert.equal(r.signal, null, `${args.join(' ')} hung (killed by ${r.signal})`);
  assert.equal(r.code, 2, `exit code: ${r.code}\n${r.err}${r.out}`);
  const lines = r.err.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.err}`);
  assert.ok(lines[0].includes(name), `names ${name}: ${lines[0]}`);
  assert.match(lines[0], why);
  assert.doesNotMatch(r.err, /root:|\/etc\/|passwd|bytes|\/dev\/zero/, `says nothing of the target: ${lines[0]}`);
  return lines[0];
}

/** A folder with the notebook ONNX model and a TF.js model, ready to be made hostile. */
function folder(name: string): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function tfjsModel(dir: string, paths: string[]): string {
  const doc = JSON.parse(readFileSync(path.join(TFJS, 'model.json'), 'utf8'));
  doc.weightsManifest[0].paths = paths;
  const file = path.join(dir, 'model.json');
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

before(() => {
  spawnSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

describe('the command line reads only regular files inside the model folder', { skip: !posix && 'symlinks and FIFOs: POSIX only' }, () => {
  test('a model that is a symlink to /dev/zero is refused at once, naming the file', () => {
    const dir = folder('zero');
    symlinkSync('/dev/zero', path.join(dir, 'zero.onnx'));
    expectRefused(['explain', path.join(dir, 'zero.onnx'), '--random-input'], 'zero.onnx', /a device, not a regular file/);
  });

  test('a model that is a FIFO is refused without hanging', () => {
    const dir = folder('fifo');
    const fifo = path.join(dir, 'pipe.onnx');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    expectRefused(['explain', fifo, '--random-input'], 'pipe.onnx', /named pipe \(FIFO\), not a regular file/);
  });

  test('a model symlinked to a regular file elsewhere is read (caches keep models as links)', () => {
    const dir = folder('linked-model');
    symlinkSync(fixtureFile('mlp3_seed1_notebook', 'onnx'), path.join(dir, 'm.onnx'));
    const r = run(['explain', path.join(dir, 'm.onnx'), '--random-input', '--seed', '1']);
    assert.equal(r.code, 0, r.err);
  });

  test('a sidecar that is a symlink out of the folder is refused, naming the sidecar only', () => {
    const dir = folder('sidecar-out');
    copyFileSync(fixtureFile('mlp3_seed1_notebook', 'safetensors'), path.join(dir, 'm.safetensors'));
    symlinkSync('/etc/passwd', path.join(dir, 'm.dtd.json'));
    expectRefused(['explain', path.join(dir, 'm.safetensors'), '--random-input'], 'm.dtd.json', /leads outside the model's folder/);
  });

  test('a sidecar that is a symlink to /dev/zero or a FIFO inside the folder is refused', () => {
    const dir = folder('sidecar-dev');
    copyFileSync(fixtureFile('mlp3_seed1_notebook', 'safetensors'), path.join(dir, 'm.safetensors'));
    copyFileSync(fixtureFile('mlp3_seed1_notebook', 'safetensors'), path.join(dir, 'f.safetensors'));
    symlinkSync('/dev/zero', path.join(dir, 'm.dtd.json'));
    assert.equal(spawnSync('mkfifo', [path.join(dir, 'f.dtd.json')]).status, 0);
    expectRefused(['explain', path.join(dir, 'm.safetensors'), '--random-input'], 'm.dtd.json', /leads outside the model's folder/);
    expectRefused(['explain', path.join(dir, 'f.safetensors'), '--random-input'], 'f.dtd.json', /named pipe \(FIFO\), not a regular file/);
  });

  test("a sidecar's JSON errors never quote its content; a deeply nested sidecar is refused before parsing", () => {
    const dir = folder('sidecar-bad');
    copyFileSync(fixtureFile('mlp3_seed1_notebook', 'safetensors'), path.join(dir, 'm.safetensors'));
    writeFileSync(path.join(dir, 'm.dtd.json'), 'root:x:0:0:root:/root:/bin/bash\n');
    const line = expectRefused(['explain', path.join(dir, 'm.safetensors'), '--random-input'], 'm.dtd.json', /not valid JSON/);
    assert.doesNotMatch(line, /bash|x:0/);
    copyFileSync(fixtureFile('mlp3_seed1_notebook', 'safetensors'), path.join(dir, 'd.safetensors'));
    writeFileSync(path.join(dir, 'd.dtd.json'), '['.repeat(100_000) + ']'.repeat(100_000));
    expectRefused(['explain', path.join(dir, 'd.safetensors'), '--random-input'], 'd.dtd.json', new RegExp(`nested more than ${LIMITS.sidecarDepth} levels deep`));
  });

  test('a regular sidecar inside the folder is read', () => {
    const dir = folder('sidecar-ok');
    copyFileSync(fixtureFile('mlp3_seed1_notebook', 'safetensors'), path.join(dir, 'm.safetensors'));
    writeFileSync(path.join(dir, 'm.dtd.json'), JSON.stringify({ finalActivation: 'bogus' }));
    // Read and parsed: its (wrong) content is what the message is about.
    expectRefused(['explain', path.join(dir, 'm.safetensors'), '--random-input'], 'm.dtd.json', /finalActivation must be "relu" or "linear"/);
    writeFileSync(path.join(dir, 'm.dtd.json'), JSON.stringify({ finalActivation: 'relu' }));
    const r = run(['explain', path.join(dir, 'm.safetensors'), '--random-input', '--seed', '1', '--json', '-']);
    assert.equal(r.code, 0, r.err);
  });

  test('TF.js shards: a symlink out of the folder, /dev/zero, a FIFO and a sub-folder linked to /etc are refused', () => {
    const out = folder('shard-out');
    symlinkSync('/etc/passwd', path.join(out, SHARD));
    expectRefused(['explain', tfjsModel(out, [SHARD]), '--random-input'], SHARD, /leads outside the model's folder/);

    const zero = folder('shard-zero');
    symlinkSync('/dev/zero', path.join(zero, SHARD));
    expectRefused(['explain', tfjsModel(zero, [SHARD]), '--random-input'], SHARD, /leads outside the model's folder/);

    const fifo = folder('shard-fifo');
    assert.equal(spawnSync('mkfifo', [path.join(fifo, SHARD)]).status, 0);
    expectRefused(['explain', tfjsModel(fifo, [SHARD]), '--random-input'], SHARD, /named pipe \(FIFO\), not a regular file/);

    const sub = folder('shard-subdir');
    symlinkSync('/etc', path.join(sub, 'weights'));
    expectRefused(['explain', tfjsModel(sub, ['weights/group']), '--random-input'], 'weights/group', /leads outside the model's folder/);
  });

  test('TF.js shards: a regular shard, also through a symlink that stays inside, is read', () => {
    const plain = folder('shard-ok');
    copyFileSync(path.join(TFJS, SHARD), path.join(plain, SHARD));
    assert.equal(run(['explain', tfjsModel(plain, [SHARD]), '--random-input', '--seed', '1']).code, 0);
    const inside = folder('shard-inside-link');
    mkdirSync(path.join(inside, 'blobs'));
    copyFileSync(path.join(TFJS, SHARD), path.join(inside, 'blobs', 'abc'));
    symlinkSync(path.join('blobs', 'abc'), path.join(inside, SHARD));
    const r = run(['explain', tfjsModel(inside, [SHARD]), '--random-input', '--seed', '1']);
    assert.equal(r.code, 0, r.err);
  });
});

describe('engine/files.ts', { skip: !posix && 'symlinks and FIFOs: POSIX only' }, () => {
  const refused = (fn: () => unknown, name: string, why: RegExp) =>
    assert.throws(fn, (e: unknown) => isDtdError(e) && e.message.startsWith(`${name}: `) && why.test(e.message) && !/passwd|\/etc|\/dev/.test(e.message));

  test('readConfined: missing → undefined; inside → bytes; out, device, FIFO, "../" → refused', () => {
    const dir = folder('api');
    const model = path.join(dir, 'm.onnx');
    writeFileSync(model, 'x');
    writeFileSync(path.join(dir, 'ok.bin'), 'hello');
    symlinkSync('/etc/hostname', path.join(dir, 'out.bin'));
    symlinkSync('/dev/zero', path.join(dir, 'zero.bin'));
    symlinkSync('/etc', path.join(dir, 'etc'));
    spawnSync('mkfifo', [path.join(dir, 'pipe.bin')]);
    assert.equal(readConfined(model, 'missing.bin', 100, { what: 'weight file' }), undefined);
    assert.equal(new TextDecoder().decode(readConfined(model, 'ok.bin', 100, { what: 'weight file' })), 'hello');
    refused(() => readConfined(model, 'ok.bin', 4, { what: 'weight file' }), 'ok.bin', /larger than the limit of 4 bytes/);
    refused(() => readConfined(model, 'out.bin', 100, { what: 'weight file' }), 'out.bin', /leads outside/);
    refused(() => readConfined(model, 'zero.bin', 100, { what: 'weight file' }), 'zero.bin', /leads outside/);
    refused(() => readConfined(model, 'etc/hostname', 100, { what: 'weight file' }), 'etc/hostname', /leads outside/);
    refused(() => readConfined(model, 'pipe.bin', 100, { what: 'weight file' }), 'pipe.bin', /named pipe/);
    // A name that is not plain may hold anything: the message names the model and quotes the name.
    refused(() => readConfined(model, '../m.onnx', 100, { what: 'weight file' }), 'm.onnx', /the weight file '\.\.\/m\.onnx' is not a plain name/);
    refused(() => readConfined(model, '/abs/x.bin', 100, { what: 'weight file' }), 'm.onnx', /the weight file '\/abs\/x\.bin' is not a plain name/);
  });

  test('readRegularFile: at most the limit, never trusting a size of 0', () => {
    const dir = folder('api-regular');
    writeFileSync(path.join(dir, 'big.json'), 'x'.repeat(1000));
    assert.equal(readRegularFile(path.join(dir, 'big.json'), 1000, { what: 'input' }).length, 1000);
    assert.throws(() => readRegularFile(path.join(dir, 'big.json'), 999, { what: 'input' }), /larger than the limit/);
    assert.throws(() => readRegularFile('/dev/zero', 1000, { what: 'model' }), /a device, not a regular file/);
    // /proc files are regular with a stat size of 0: the read is still bounded.
    if (process.platform === 'linux') assert.throws(() => readRegularFile('/proc/self/maps', 10, { what: 'input' }), /larger than the limit of 10 bytes/);
  });

  test('parseSidecar: size and depth bounds, no content in messages', () => {
    assert.deepEqual(parseSidecar(new TextEncoder().encode('{"finalActivation":"relu"}'), '/x/m.dtd.json'), { finalActivation: 'relu' });
    assert.throws(() => parseSidecar(new Uint8Array(LIMITS.sidecarBytes + 1).fill(0x20), 'm.dtd.json'), /m\.dtd\.json: the sidecar is larger than the limit/);
    assert.throws(() => parseSidecar(new TextEncoder().encode('{"a":"[[[[[[[[","b":' + '['.repeat(65) + ']'.repeat(65) + '}'), 'm.dtd.json'), /nested more than 64 levels deep/);
    // Brackets inside strings (escaped quotes too) do not count.
    assert.deepEqual(parseSidecar(new TextEncoder().encode(`{"a":"[[[[\\"${'['.repeat(80)}"}`), 'm.dtd.json'), { a: '[[[["' + '['.repeat(80) });
    assert.throws(
      () => parseSidecar(new TextEncoder().encode('secret-token-123'), 'm.dtd.json'),
      (e: unknown) => isDtdError(e) && e.message.startsWith('m.dtd.json: the sidecar is not valid JSON') && !e.message.includes('secret'),
    );
  });
});

describe("the engine child asks for a model's files ('needFiles'); the host sends bytes only", () => {
  test('the protocol: sidecar bytes, not parsed values; files are name → bytes', () => {
    const base = { type: 'inspect', id: 1, fileName: 'm.safetensors', modelBytes: new Uint8Array(1) };
    assert.ok(isHostToEngine(base));
    assert.ok(isHostToEngine({ ...base, sidecarBytes: new Uint8Array(2) }));
    assert.ok(!isHostToEngine({ ...base, sidecarBytes: { finalActivation: 'relu' } }), 'a parsed sidecar is refused');
    assert.ok(!isHostToEngine({ ...base, files: { a: 'text' } }));
    assert.ok(isHostToEngine({ type: 'files', id: 1, files: { a: new Uint8Array(1) } }));
    assert.ok(!isHostToEngine({ type: 'files', id: 1, files: { a: [1, 2] } }));
    assert.ok(isEngineToHost({ type: 'needFiles', id: 1, names: ['a.bin'] }));
    assert.ok(!isEngineToHost({ type: 'needFiles', id: 1, names: [1] }));
    assert.ok(!isEngineToHost({ type: 'needFiles', id: 1, names: Array.from({ length: LIMITS.siblingFiles + 1 }, (_, i) => `${i}`) }));
  });

  test('model.json → needFiles with the shard names → files → inspected; a missing shard is named; a sidecar arrives as bytes', async () => {
    const child = fork(ENGINE, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    const seen: EngineToHost[] = [];
    const waiters: ((m: EngineToHost) => void)[] = [];
    child.on('message', (m: EngineToHost) => {
      seen.push(m);
      for (const w of waiters.splice(0)) w(m);
    });
    const next = (pred: (m: EngineToHost) => boolean) =>
      new Promise<EngineToHost>((resolve) => {
        const hit = seen.find(pred);
        if (hit) return resolve(hit);
        const wait = (m: EngineToHost) => (pred(m) ? resolve(m) : waiters.push(wait));
        waiters.push(wait);
      });
    const send = (m: HostToEngine) => child.send(m);
    try {
      const modelBytes = new Uint8Array(readFileSync(path.join(TFJS, 'model.json')));
      send({ type: 'inspect', id: 1, fileName: '/somewhere/model.json', modelBytes });
      const ask = await next((m) => m.type === 'needFiles' && m.id === 1);
      assert.deepEqual(ask.type === 'needFiles' && ask.names, [SHARD]);
      send({ type: 'files', id: 1, files: { [SHARD]: new Uint8Array(readFileSync(path.join(TFJS, SHARD))) } });
      const ok = await next((m) => (m.type === 'inspected' || m.type === 'error') && m.id === 1);
      assert.equal(ok.type, 'inspected', JSON.stringify(ok));

      send({ type: 'inspect', id: 2, fileName: '/somewhere/model.json', modelBytes });
      await next((m) => m.type === 'needFiles' && m.id === 2);
      send({ type: 'files', id: 2, files: {} });
      const missing = await next((m) => m.type === 'error' && m.id === 2);
      assert.match(missing.type === 'error' ? missing.message : '', new RegExp(`needs its weight file '${SHARD}'`));

      send({ type: 'inspect', id: 3, fileName: '/somewhere/model.json', modelBytes });
      await next((m) => m.type === 'needFiles' && m.id === 3);
      send({ type: 'files', id: 3, files: {}, error: { code: 'bad-model', message: `${SHARD}: refused by the host.` } });
      const refusedByHost = await next((m) => m.type === 'error' && m.id === 3);
      assert.match(refusedByHost.type === 'error' ? refusedByHost.message : '', /refused by the host/);

      const st = new Uint8Array(readFileSync(fixtureFile('mlp3_seed1_notebook', 'safetensors')));
      send({ type: 'inspect', id: 4, fileName: '/x/m.safetensors', modelBytes: st, sidecarBytes: new TextEncoder().encode('root:x:0:0') });
      const bad = await next((m) => m.type === 'error' && m.id === 4);
      assert.match(bad.type === 'error' ? bad.message : '', /^m\.dtd\.json: the sidecar is not valid JSON/);
      assert.doesNotMatch(bad.type === 'error' ? bad.message : '', /root/);
      send({ type: 'inspect', id: 5, fileName: '/x/m.safetensors', modelBytes: st, sidecarBytes: new TextEncoder().encode('{"finalActivation":"relu"}') });
      const good = await next((m) => (m.type === 'inspected' || m.type === 'error') && m.id === 5);
      assert.equal(good.type, 'inspected', JSON.stringify(good));
      assert.ok(!seen.some((m) => m.type === 'needFiles' && (m.id === 4 || m.id === 5)), 'no files asked for a safetensors model');
    } finally {
      child.kill();
    }
  });
});
