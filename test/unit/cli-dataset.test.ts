// Dataset runs from the command line as a user runs them (the built
// dist/cli.js in a child process): `explain MODEL --inputs FILE|DIR` on an
// N-row .npy, a CSV and a folder of images gives, per input, the numbers N
// single-input runs give; --light keeps only the light fields; --html writes a
// gallery whose items are the run's; hostile datasets get clear errors.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { PNG } from 'pngjs';
import { assertClose, fixtureFile, REPO } from '../helpers/fixtures';
import { GALLERY_DATA_ID, type DatasetItem, type DatasetResult, type GalleryPayload } from '../../extension/protocol';

const CLI = path.join(REPO, 'dist', 'cli.js');
const DATA = path.join(REPO, 'test', 'fixtures', 'dataset');
const CONV = path.join(REPO, 'test', 'fixtures', 'conv');
const tmp = mkdtempSync(path.join(tmpdir(), 'dtd-dataset-'));
const MLP = fixtureFile('mlp3_seed1_notebook', 'onnx');
const CNN = path.join(CONV, 'cnn1x8_maxpool_avgpool_seed0.onnx');

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000, maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function jsonl<T>(file: string): T[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as T);
}

/** The single-input run of the same model and options on one input file. */
function single(model: string, inputFile: string, args: string[]) {
  const r = run(['explain', model, '--input', inputFile, '--json', '-', '--quiet', ...args]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}

/** Rows of a .npy (float32 or float64, C order), read here independently of the engine. */
function npyRows(file: string): number[][] {
  const b = readFileSync(file);
  const hl = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + hl).toString('latin1');
  const shape = /\(([^)]*)\)/.exec(header)![1].split(',').filter((s) => s.trim()).map(Number);
  const f4 = header.includes('<f4');
  const n = shape.slice(1).reduce((a, c) => a * c, 1);
  const at = 10 + hl;
  return Array.from({ length: shape[0] }, (_, s) => Array.from({ length: n }, (_, i) => (f4 ? b.readFloatLE(at + 4 * (s * n + i)) : b.readDoubleLE(at + 8 * (s * n + i)))));
}

function writePng(file: string, w: number, h: number, pixel: (x: number, y: number) => [number, number, number]): void {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const [r, g, b] = pixel(x, y);
      const o = 4 * (y * w + x);
      png.data[o] = r;
      png.data[o + 1] = g;
      png.data[o + 2] = b;
      png.data[o + 3] = 255;
    }
  writeFileSync(file, PNG.sync.write(png));
}

/** The light fields of one input agree with a single run's result. */
function assertSameAsSingle(item: DatasetItem, want: { explainedOutput: number; explainedValue: number; relevance: number[][]; diagnostics: { layers: DatasetItem['diagnostics']['layers'] }; status: string }, what: string, rel = 1e-9, abs = 1e-12): void {
  assert.equal(item.explainedOutput, want.explainedOutput, `${what}: explained output`);
  assert.equal(item.status, want.status, `${what}: status`);
  assertClose([item.explainedValue], [want.explainedValue], rel, abs, `${what}: f(x)`);
  assertClose(item.inputRelevance, want.relevance[0], rel, abs, `${what}: input relevance`);
  assert.equal(item.diagnostics.layers.length, want.diagnostics.layers.length, `${what}: diagnostics layers`);
  item.diagnostics.layers.forEach((d, i) => {
    const w = want.diagnostics.layers[i];
    assert.equal(d.name, w.name);
    assertClose([d.relevanceSum, d.conservationError, d.negativeMass], [w.relevanceSum, w.conservationError, w.negativeMass], rel, abs, `${what}: diagnostics of ${d.name}`);
    assert.deepEqual([d.rootsTotal, d.rootsInRegion, d.rootsInDomain], [w.rootsTotal, w.rootsInRegion, w.rootsInDomain], `${what}: root counts of ${d.name}`);
  });
}

const LIGHT_KEYS = ['diagnostics', 'explainedOutput', 'explainedValue', 'inputIndex', 'inputName', 'inputRelevance', 'message', 'status', 'statusCode', 'warnings'];

before(() => {
  if (!existsSync(CLI) || !existsSync(path.join(REPO, 'dist', 'gallery.js'))) spawnSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

describe('dtd-lens explain --inputs', () => {
  const rows = npyRows(path.join(DATA, 'mlp10_rows.npy'));
  const rowFiles = rows.map((r, s) => {
    const f = path.join(tmp, `mlp-row${s}.json`);
    writeFileSync(f, JSON.stringify(r));
    return f;
  });

  test('an N-row .npy, train-free: --light and full JSON Lines equal N single-input runs', () => {
    const light = path.join(tmp, 'light.jsonl');
    const full = path.join(tmp, 'full.jsonl');
    const a = run(['explain', MLP, '--inputs', path.join(DATA, 'mlp10_rows.npy'), '--output', '1', '--light', '--json', light]);
    assert.equal(a.code, 0, a.err);
    assert.match(a.out, /5 inputs from mlp10_rows\.npy/);
    const b = run(['explain', MLP, '--inputs', path.join(DATA, 'mlp10_rows.npy'), '--output', '1', '--json', full, '--quiet']);
    assert.equal(b.code, 0, b.err);
    const withBaselines = path.join(tmp, 'full-baselines.jsonl');
    assert.equal(run(['explain', MLP, '--inputs', path.join(DATA, 'mlp10_rows.npy'), '--output', '1', '--baselines', '--json', withBaselines, '--quiet']).code, 0);
    assert.ok(jsonl<DatasetResult>(withBaselines).every((r) => r.baselines && r.baselines.gradient.length === 10), 'with --baselines every full line carries them');
    const items = jsonl<DatasetItem>(light);
    const results = jsonl<DatasetResult>(full);
    assert.equal(items.length, rows.length);
    assert.equal(results.length, rows.length);
    rows.forEach((_, s) => {
      const want = single(MLP, rowFiles[s], ['--output', '1']);
      assert.deepEqual(Object.keys(items[s]).sort(), LIGHT_KEYS, 'a light line holds only the light fields');
      assert.equal(items[s].inputIndex, s);
      assert.equal(items[s].inputName, `row ${s + 1}`);
      assertSameAsSingle(items[s], want, `light row ${s}`);
      // A full line is the single run's result, with its place in the set.
      assert.equal(results[s].inputIndex, s);
      assertClose(results[s].input, want.input, 0, 0, `full row ${s}: input`);
      want.relevance.forEach((r: number[] | null, l: number) => assertClose(results[s].relevance[l], r ?? [], 1e-12, 1e-15, `full row ${s}: relevance of layer ${l}`));
      assert.deepEqual(results[s].roots.map((q) => q.length), want.roots.map((q: unknown[]) => q.length));
      // Baselines only with --baselines, in a full line as in a single run.
      assert.equal(results[s].baselines, null);
      assert.equal(want.baselines, null);
    });
  });

  test('an N-row CSV with a header gives the same results as the .npy of the same rows', () => {
    const csv = path.join(tmp, 'csv.jsonl');
    const npy = path.join(tmp, 'npy.jsonl');
    for (const [src, out] of [['mlp10_rows.csv', csv], ['mlp10_rows.npy', npy]]) {
      const r = run(['explain', MLP, '--inputs', path.join(DATA, src), '--output', 'argmax', '--method', 'lrp', '--rule', 'epsilon', '--light', '--json', out, '--quiet']);
      assert.equal(r.code, 0, r.err);
    }
    const a = jsonl<DatasetItem>(csv);
    const b = jsonl<DatasetItem>(npy);
    assert.equal(a.length, 5);
    a.forEach((it, s) => {
      const want = single(MLP, rowFiles[s], ['--output', String(it.explainedOutput), '--method', 'lrp', '--rule', 'epsilon']);
      assertSameAsSingle(it, want, `csv row ${s}`);
      assert.deepEqual(it.inputRelevance, b[s].inputRelevance, `csv row ${s} = npy row ${s}`);
    });
    // argmax: the explained output is each input's largest.
    for (const it of a) assert.equal(it.explainedOutput, 1);
  });

  test('an N×C×H×W .npy through a CNN with LRP ε, argmax per input, equals single runs (float32 data read exactly)', () => {
    const out = path.join(tmp, 'cnn.jsonl');
    const r = run(['explain', CNN, '--inputs', path.join(DATA, 'cnn1x8_rows.npy'), '--output', 'argmax', '--method', 'lrp', '--rule', 'epsilon', '--light', '--json', out, '--quiet']);
    assert.equal(r.code, 0, r.err);
    const items = jsonl<DatasetItem>(out);
    const cnnRows = npyRows(path.join(DATA, 'cnn1x8_rows.npy'));
    assert.equal(items.length, cnnRows.length);
    items.forEach((it, s) => {
      const f = path.join(tmp, `cnn-row${s}.json`);
      writeFileSync(f, JSON.stringify(cnnRows[s]));
      const outs = run(['explain', CNN, '--input', f, '--output', 'argmax', '--method', 'lrp', '--rule', 'epsilon', '--json', '-', '--quiet']);
      assert.equal(outs.code, 0, outs.err);
      assertSameAsSingle(it, JSON.parse(outs.out), `cnn row ${s}`);
    });
  });

  test('a folder of images: sorted names, each preprocessed as a single image (resized too), equals single runs; --html gallery items match', () => {
    const dir = path.join(tmp, 'images');
    mkdirSync(dir);
    writePng(path.join(dir, 'b.png'), 8, 8, (x, y) => [x * 30, y * 30, 0]);
    writePng(path.join(dir, 'a.png'), 16, 16, (x, y) => [(x * y) % 256, 255 - x * 10, y * 5]);
    writePng(path.join(dir, 'c <img src=x onerror=alert(1)>.png'), 8, 8, (x, y) => [(x + y) % 2 ? 250 : 10, 0, 0]);
    writeFileSync(path.join(dir, '.DS_Store'), 'hidden files are skipped');
    const out = path.join(tmp, 'images.jsonl');
    const html = path.join(tmp, 'gallery.html');
    const r = run(['explain', CNN, '--inputs', dir, '--output', 'argmax', '--light', '--json', out, '--html', html]);
    assert.equal(r.code, 0, r.err);
    const items = jsonl<DatasetItem>(out);
    assert.deepEqual(items.map((i) => i.inputName), ['a.png', 'b.png', 'c <img src=x onerror=alert(1)>.png']);
    for (const it of items) {
      const want = single(CNN, path.join(dir, it.inputName), ['--output', String(it.explainedOutput)]);
      assertSameAsSingle(it, want, it.inputName);
    }
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<meta http-equiv="Content-Security-Policy" content="default-src 'none';/);
    assert.ok(!page.includes('<img src=x'), 'a file name is data, never markup');
    const block = new RegExp(`<script type="application/json" id="${GALLERY_DATA_ID}">(.*?)</script>`, 's').exec(page);
    assert.ok(block, 'the gallery carries its data block');
    const g = JSON.parse(block[1]) as GalleryPayload;
    assert.equal(g.items.length, 3);
    assert.equal(g.summary.inputs, 3);
    assert.deepEqual(g.shape, [1, 8, 8]);
    g.items.forEach((gi, s) => {
      assert.equal(gi.inputName, items[s].inputName);
      assert.equal(gi.explainedOutput, items[s].explainedOutput);
      assert.equal(gi.explainedValue, items[s].explainedValue);
      assertClose(gi.inputRelevance, items[s].inputRelevance!, 1e-3, 1e-12, `gallery heatmap of ${gi.inputName}`);
      assert.equal(gi.input.length, 64);
      const roots = items[s].diagnostics.layers.reduce((a, d) => a + d.rootsTotal - d.rootsInRegion, 0);
      assert.equal(gi.rootsOutside, roots);
    });
    const withOutside = items.filter((it) => it.diagnostics.layers.some((d) => d.rootsInRegion < d.rootsTotal)).length;
    assert.equal(g.summary.inputsWithRootsOutside, withOutside);
    const mean = Array.from({ length: 64 }, (_, i) => items.reduce((a, it) => a + Math.abs(it.inputRelevance![i]), 0) / 3);
    assertClose(g.summary.meanAbsRelevance, mean, 1e-3, 1e-12, 'mean |R| map');
    assert.match(r.out, /Roots outside their region: in \d+ of 3 inputs/);
  });

  test('full-backward runs input by input and equals single runs', () => {
    const out = path.join(tmp, 'fb.jsonl');
    const r = run(['explain', MLP, '--inputs', path.join(DATA, 'mlp10_rows.npy'), '--output', '1', '--method', 'full-backward', '--light', '--json', out, '--quiet']);
    assert.equal(r.code, 0, r.err);
    const items = jsonl<DatasetItem>(out);
    items.slice(0, 2).forEach((it, s) => assertSameAsSingle(it, single(MLP, rowFiles[s], ['--output', '1', '--method', 'full-backward']), `full-backward row ${s}`));
  });

  test('--json - writes JSON Lines to stdout and the summary to stderr', () => {
    const r = run(['explain', MLP, '--inputs', path.join(DATA, 'mlp10_rows.npy'), '--output', '1', '--light', '--json', '-']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 5);
    lines.forEach((l, s) => assert.equal(JSON.parse(l).inputIndex, s));
    assert.match(r.err, /5 inputs from/);
  });
});

describe('dtd-lens explain --inputs: hostile and wrong datasets get clear errors', () => {
  function expectError(args: string[], pattern: RegExp) {
    const r = run(args);
    assert.equal(r.code, 2, `exit code: ${r.code}\n${r.err}`);
    assert.match(r.err, pattern);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
    return r;
  }

  test('a folder holding a symbolic link is refused, naming it (even one to an image inside)', () => {
    const dir = path.join(tmp, 'with-link');
    mkdirSync(dir);
    writePng(path.join(dir, 'a.png'), 8, 8, () => [1, 2, 3]);
    symlinkSync('/etc/passwd', path.join(dir, 'secret.png'));
    symlinkSync(path.join(dir, 'a.png'), path.join(dir, 'b.png'));
    const r = expectError(['explain', CNN, '--inputs', dir], /with-link: holds symbolic links, which a dataset folder may not hold: "b\.png", "secret\.png"|with-link: holds symbolic links, which a dataset folder may not hold: "secret\.png", "b\.png"/);
    assert.doesNotMatch(r.err, /root:/, 'nothing of the link target is read');
  });

  test('a .npy whose header claims 10⁹ rows is refused before anything is allocated', () => {
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 10), }";
    const padded = header.padEnd(118, ' ') + '\n';
    const buf = Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]), Buffer.from([padded.length & 0xff, padded.length >> 8]), Buffer.from(padded, 'latin1'), Buffer.alloc(400)]);
    const f = path.join(tmp, 'huge.npy');
    writeFileSync(f, buf);
    expectError(['explain', MLP, '--inputs', f], /huge\.npy: holds 1000000000 inputs; a dataset run takes at most 100000/);
    // Within the count limit but more rows than the file holds: truncated, not allocated.
    const header2 = "{'descr': '<f8', 'fortran_order': False, 'shape': (90000, 10), }".padEnd(118, ' ') + '\n';
    writeFileSync(f, Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]), Buffer.from([header2.length & 0xff, 0]), Buffer.from(header2, 'latin1'), Buffer.alloc(80)]));
    expectError(['explain', MLP, '--inputs', f], /huge\.npy: is not a readable \.npy file: the data holds 80 bytes but shape \(90000, 10\)/);
  });

  test('a folder with non-image files, or a .png that is not an image, is refused naming the file', () => {
    const dir = path.join(tmp, 'mixed');
    mkdirSync(dir);
    writePng(path.join(dir, 'a.png'), 8, 8, () => [1, 2, 3]);
    writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
    expectError(['explain', CNN, '--inputs', dir], /mixed: holds files that are not images \(\.png, \.jpg, \.jpeg\): "notes\.txt"/);
    const dir2 = path.join(tmp, 'fake');
    mkdirSync(dir2);
    writeFileSync(path.join(dir2, 'x.png'), '[0.1, 0.2]');
    expectError(['explain', CNN, '--inputs', dir2], /x\.png: is not a PNG or JPEG image/);
    const dir3 = path.join(tmp, 'nested');
    mkdirSync(path.join(dir3, 'sub'), { recursive: true });
    expectError(['explain', CNN, '--inputs', dir3], /nested: holds sub-folders: "sub"/);
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty);
    expectError(['explain', CNN, '--inputs', empty], /empty: holds no PNG or JPEG images/);
  });

  test('rows of the wrong size, a single image file and bad flag combinations', () => {
    const f = path.join(tmp, 'bad.csv');
    writeFileSync(f, '1,2,3\n4,5,6\n');
    expectError(['explain', MLP, '--inputs', f], /bad\.csv: row 1 of values has 3 values but the model expects 10/);
    const npy = path.join(DATA, 'cnn1x8_rows.npy');
    expectError(['explain', MLP, '--inputs', npy], /cnn1x8_rows\.npy: the array's shape is \(4, 1, 8, 8\); a dataset \.npy is N×10/);
    const img = path.join(tmp, 'one.png');
    writePng(img, 8, 8, () => [0, 0, 0]);
    expectError(['explain', CNN, '--inputs', img], /one\.png: is one PNG image; a dataset run reads a folder of images/);
    expectError(['explain', MLP, '--input', f, '--light'], /--light .* needs --inputs/);
    expectError(['explain', MLP, '--inputs', npy, '--random-input'], /Give one of --input FILE, --inputs FILE\|DIR or --random-input/);
    expectError(['explain', MLP, '--inputs', path.join(DATA, 'mlp10_rows.npy'), '--output', '10'], /Output 10 does not exist/);
  });
});
