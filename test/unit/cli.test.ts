// The command line as a user runs it: the built bundle (dist/cli.js) in a
// child process, checking exit codes, messages and the JSON contract.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { fixtureFile, REPO } from '../helpers/fixtures';
import { SUPPORTED_MODEL_EXTENSIONS } from '../../extension/engine/loaders/index';
import { PNG } from 'pngjs';

const CLI = path.join(REPO, 'dist', 'cli.js');
const tmp = mkdtempSync(path.join(tmpdir(), 'dtd-cli-'));

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, timeout: 120_000, maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function expectUsageError(args: string[], pattern: RegExp) {
  const r = run(args);
  assert.equal(r.code, 2, `exit code for ${args.join(' ')}: ${r.code}\n${r.err}`);
  assert.match(r.err, pattern);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace for a user error');
}

before(() => {
  if (!existsSync(CLI)) spawnSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

describe('dtd-lens explain', () => {
  const onnx = fixtureFile('mlp3_seed1_notebook', 'onnx');
  const input = path.join(tmp, 'x.json');
  writeFileSync(input, JSON.stringify(JSON.parse(readFileSync(fixtureFile('mlp3_seed1_notebook', 'json'), 'utf8')).input));

  test('explains an ONNX model and writes the JSON contract (baselines with --baselines only)', () => {
    const out = path.join(tmp, 'r.json');
    const r = run(['explain', onnx, '--input', input, '--rule', 'z+', '--json', out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Explained output 0: f\(x\) = 0\.913413/);
    assert.match(r.out, /relevance at/);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    for (const key of ['explainedOutput', 'explainedValue', 'status', 'activations', 'relevance', 'roots', 'tree', 'baselines', 'diagnostics', 'backend', 'precision']) {
      assert.ok(key in j, `result lacks ${key}`);
    }
    assert.equal(j.activations.length, 4);
    assert.equal(j.relevance[0].length, 10);
    // Baselines only when asked: they cost most of an LRP run on a CNN.
    assert.equal(j.baselines, null);
    const asked = path.join(tmp, 'rb.json');
    assert.equal(run(['explain', onnx, '--input', input, '--rule', 'z+', '--baselines', '--json', asked, '--quiet']).code, 0);
    const b = JSON.parse(readFileSync(asked, 'utf8')).baselines;
    assert.equal(b.gradient.length, 10);
    assert.ok('zplus_zero_bias' in b.lrp);
    assert.ok(Math.abs(j.relevance[0].reduce((a: number, b: number) => a + b, 0) - j.explainedValue) < 1e-12);
  });

  test('--json - writes only JSON to stdout; full-backward with Metropolis–Hastings', () => {
    const r = run(['explain', onnx, '--random-input', '--seed', '3', '--method', 'full-backward', '--root-finder', 'metropolis-hastings', '--steps', '50', '--warmup', '10', '--chains', '4', '--json', '-']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.method, 'full-backward');
    assert.equal(j.rootFinder, 'metropolis-hastings');
    assert.ok(Array.isArray(j.tree) && j.tree.length > 0);
  });

  test('a result with a failed status exits 1 and says why', () => {
    const fx = fixtureFile('edge_dead_layer', 'json');
    const x = path.join(tmp, 'dead.json');
    writeFileSync(x, JSON.stringify(JSON.parse(readFileSync(fx, 'utf8')).input));
    const r = run(['explain', fx, '--input', x, '--rule', 'z+']);
    assert.equal(r.code, 1, r.err);
    assert.match(r.out, /Status: failed \(no-root\)/);
  });

  test('bad model files: truncated, random bytes, oversized safetensors header, NaN weights', () => {
    const bytes = readFileSync(onnx);
    const truncated = path.join(tmp, 'truncated.onnx');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expectUsageError(['explain', truncated, '--random-input'], /truncated\.onnx/);
    const random = path.join(tmp, 'random.onnx');
    writeFileSync(random, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251)));
    expectUsageError(['explain', random, '--random-input'], /random\.onnx/);
    const st = readFileSync(fixtureFile('mlp3_seed1_notebook', 'safetensors'));
    const big = Buffer.from(st);
    big.writeBigUInt64LE(BigInt(st.length * 10), 0);
    const oversized = path.join(tmp, 'oversized.safetensors');
    writeFileSync(oversized, big);
    expectUsageError(['explain', oversized, '--random-input'], /oversized\.safetensors/);
    // NaN weights: a JSON network with one NaN.
    const net = JSON.parse(readFileSync(fixtureFile('tiny_3_5_1_seed0', 'json'), 'utf8')).network;
    net.layers[0].weight[1][2] = 'NaN';
    const nanFile = path.join(tmp, 'nan.json');
    writeFileSync(nanFile, JSON.stringify({ network: net }));
    expectUsageError(['explain', nanFile, '--random-input'], /nan\.json.*(NaN|non-finite|finite)/s);
  });

  test('bad input and usage: wrong input length, unknown rule, unknown option, missing input', () => {
    const short = path.join(tmp, 'short.json');
    writeFileSync(short, JSON.stringify([1, 2, 3]));
    expectUsageError(['explain', onnx, '--input', short], /short\.json.*3 values.*10/s);
    expectUsageError(['explain', onnx, '--random-input', '--rule', 'zplux'], /Unknown rule 'zplux'\. Rules for method train-free: z\+ \(or zplus\)/);
    expectUsageError(['explain', onnx, '--random-input', '--rule', 'epsilon'], /Rule epsilon applies to method lrp only, not train-free/);
    expectUsageError(['explain', onnx, '--random-input', '--frobnicate'], /frobnicate/);
    expectUsageError(['explain', onnx], /--input FILE or --random-input/);
    expectUsageError(['explain', path.join(tmp, 'missing.onnx'), '--random-input'], /missing\.onnx.*no such file/);
    expectUsageError(['explain', onnx, '--random-input', '--output', '7'], /Output 7 does not exist/);
  });

  test('a CSV and a .npy input give the same result as JSON', () => {
    const x: number[] = JSON.parse(readFileSync(input, 'utf8')).x[0];
    const csv = path.join(tmp, 'x.csv');
    writeFileSync(csv, x.map((v) => v.toPrecision(17)).join(',') + '\n');
    const header = `{'descr': '<f8', 'fortran_order': False, 'shape': (${x.length},), }`;
    const pad = 64 - ((10 + header.length + 1) % 64);
    const h = header + ' '.repeat(pad % 64) + '\n';
    const npyBuf = Buffer.alloc(10 + h.length + 8 * x.length);
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(npyBuf, 0);
    npyBuf.writeUInt16LE(h.length, 8);
    npyBuf.write(h, 10, 'latin1');
    x.forEach((v, i) => npyBuf.writeDoubleLE(v, 10 + h.length + 8 * i));
    const npy = path.join(tmp, 'x.npy');
    writeFileSync(npy, npyBuf);
    const ref = JSON.parse(run(['explain', onnx, '--input', input, '--json', '-', '--quiet']).out);
    for (const f of [csv, npy]) {
      const r = run(['explain', onnx, '--input', f, '--json', '-', '--quiet']);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out).relevance, ref.relevance, `${path.basename(f)} differs from JSON input`);
    }
  });

  test('a PNG input on a conv model: preprocessing from the flags (scale, mean/std), bad flags are usage errors', () => {
    const model = path.join(REPO, 'test', 'fixtures', 'conv', 'cnn3x10_bn_gap_seed2.onnx');
    const png = new PNG({ width: 10, height: 10 });
    for (let i = 0; i < 100; i++) png.data.set([i * 2, 200 - i, (i * 7) % 256, 255], 4 * i);
    const img = path.join(tmp, 'img.png');
    writeFileSync(img, PNG.sync.write(png));
    const run01 = JSON.parse(run(['explain', model, '--input', img, '--quiet', '--json', '-']).out);
    const run255 = JSON.parse(run(['explain', model, '--input', img, '--scale', '0..255', '--quiet', '--json', '-']).out);
    const norm = JSON.parse(run(['explain', model, '--input', img, '--mean', '0.5,0.5,0.5', '--std', '0.25,0.25,0.25', '--quiet', '--json', '-']).out);
    // C-major: red channel first. Pixel 1 is (2, 199, 7).
    assert.deepEqual([run01.input[1], run01.input[101], run01.input[201]], [2 / 255, 199 / 255, 7 / 255]);
    assert.deepEqual([run255.input[1], run255.input[101], run255.input[201]], [2, 199, 7]);
    assert.ok(Math.abs(norm.input[101] - (199 / 255 - 0.5) / 0.25) < 1e-12);
    assert.deepEqual(run01.shapes[0], [3, 10, 10]);
    expectUsageError(['explain', model, '--input', img, '--scale', '0..9'], /--scale must be/);
    expectUsageError(['explain', model, '--input', img, '--std', '1,0,1'], /std must not contain 0/);
  });

  test('no arguments: explains the bundled seed example with both decompositions', () => {
    const r = run([]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /── train-free ──/);
    assert.match(r.out, /── full-backward \(Metropolis–Hastings roots\) ──/);
    assert.match(r.out, /f\(x\) = 0\.040998/);
  });

  test('the summary shows every loader note: a committed safetensors MLP says ReLU was assumed (stdout, or stderr with --json -)', () => {
    const st = path.join(REPO, 'test', 'fixtures', 'dtd', 'mlp3_seed1_notebook.safetensors');
    assert.ok(!existsSync(st.replace(/\.safetensors$/, '.dtd.json')), 'no sidecar next to it');
    const relu = 'Note: activations are not stored in a state dict: ReLU assumed after every hidden layer; give a sidecar with "layers" to say otherwise';
    const r = run(['explain', st, '--input', input]);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.includes(relu), r.out);
    assert.ok(r.out.includes('Note: the last layer is read without an activation (safetensors stores none;'), r.out);
    const j = run(['explain', st, '--input', input, '--json', '-']);
    assert.equal(j.code, 0, j.err);
    assert.ok(j.err.includes(relu), j.err);
    assert.deepEqual(JSON.parse(j.out).model.notes.length, 2);
    // An ONNX file stores its activations: no such note.
    assert.ok(!run(['explain', onnx, '--input', input]).out.includes('ReLU assumed'));
  });

  test('--help lists the commands and exits 0', () => {
    const r = run(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /dtd-lens explain <model>/);
  });

  test('--help names every model format the loaders read', () => {
    const r = run(['--help']);
    assert.equal(r.code, 0);
    const line = r.out.split('\n').find((l) => l.includes('dtd-lens explain <model>')) ?? '';
    assert.ok(line.endsWith(`model: ${SUPPORTED_MODEL_EXTENSIONS.join(', ')}`), line);
  });
});

describe('the command line supervises its engine', () => {
  test('a model that needs more heap than the limit ends with one line and exit 2, not a V8 abort', () => {
    const r = spawnSync(process.execPath, [CLI, 'explain', fixtureFile('scale_784_256_128_10_seed0', 'json'), '--random-input'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, DTD_LENS_HEAP_MB: '16' } });
    assert.equal(r.status, 2, r.stderr);
    assert.deepEqual(r.stderr.trim().split('\n'), ['dtd-lens: the model needs more memory than the limit (16 MB); the engine stopped.']);
  });

  test('Ctrl-C (SIGINT) to the command line stops its engine too', async () => {
    // A long run, marked by an unusual seed so its worker can be found.
    const child = spawn(process.execPath, [CLI, 'explain', fixtureFile('mlp5_seed0_notebook', 'json'), '--random-input', '--seed', '987651', '--method', 'full-backward', '--root-finder', 'metropolis-hastings', '--chains', '500', '--steps', '100000'], { stdio: 'ignore' });
    const workerAlive = () => spawnSync('pgrep', ['-f', '--', 'seed 987651'], { encoding: 'utf8' }).stdout.split('\n').filter((p) => p && Number(p) !== child.pid).length > 0;
    const until = async (cond: () => boolean, ms: number) => {
      for (const end = Date.now() + ms; Date.now() < end && !cond(); ) await new Promise((r) => setTimeout(r, 50));
      return cond();
    };
    assert.ok(await until(workerAlive, 10_000), 'the worker started');
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.ok(await until(() => !workerAlive(), 5_000), 'the worker is gone after Ctrl-C');
  });
});
