// Results whose size follows the views, not the network (issue 13): the command line's --json and --html of a
// VGG-16-shaped network at 3×224×224 (test/fixtures/real/big/vgg16_w16.onnx, narrow: tools/real-models/make_vgg16.py)
// stay under LIMITS.resultViewBytes with large layers summarized, and --full-tensors still writes every value.
// Also: the tfjs-wasm heap estimate that refuses (or moves off wasm) a float32 run its 4 GB heap cannot hold.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { REAL_MODELS_DIR, REPO } from '../helpers/fixtures';
import { LIMITS, splitResultWithin, jsonBytes, type ExplainResult } from '../../extension/protocol';
import { opsFor, wasmHeapBytes } from '../../extension/engine/ops/select';
import type { Network } from '../../extension/engine/network';
import { isDtdError } from '../../extension/engine/errors';

const CLI = path.join(REPO, 'dist', 'cli.js');
const MODEL = path.join(REAL_MODELS_DIR, 'big', 'vgg16_w16.onnx');
const expected = JSON.parse(readFileSync(path.join(REAL_MODELS_DIR, 'big', 'vgg16_w16.expected.json'), 'utf8')) as { output: number[] };
const tmp = mkdtempSync(path.join(tmpdir(), 'dtd-bounded-'));
const input = path.join(tmp, 'x.json');
writeFileSync(input, JSON.stringify(Array.from({ length: 3 * 224 * 224 }, (_, i) => ((i * 7919) % 1000) / 1000)));
const best = expected.output.indexOf(Math.max(...expected.output));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(() => {
  if (!existsSync(CLI)) spawnSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

const sum = (v: readonly number[]) => v.reduce((a, b) => a + b, 0);

describe('bounded results (VGG-16-shaped network at 3×224×224)', () => {
  const boundedFile = path.join(tmp, 'bounded.json');
  const fullFile = path.join(tmp, 'full.json');
  let bounded: ExplainResult;
  let full: ExplainResult;
  before(() => {
    const common = ['explain', MODEL, '--input', input, '--method', 'lrp', '--output', String(best), '--precision', 'float32', '--quiet'];
    const a = run([...common, '--json', boundedFile, '--html', path.join(tmp, 'bounded.html')]);
    assert.equal(a.code, 0, a.err);
    const b = run([...common, '--json', fullFile, '--full-tensors']);
    assert.equal(b.code, 0, b.err);
    bounded = JSON.parse(readFileSync(boundedFile, 'utf8')) as ExplainResult;
    full = JSON.parse(readFileSync(fullFile, 'utf8')) as ExplainResult;
  });

  test("the network is the one torch wrote: f(x) equals torch's float32 output for the fixed input within 1e-5", () => {
    assert.ok(Math.abs(full.explainedValue - expected.output[best]) <= 1e-5, `${full.explainedValue} vs ${expected.output[best]}`);
  });

  test('--json stays under LIMITS.resultViewBytes while the full result is larger, and says what it left out', () => {
    const size = statSync(boundedFile).size;
    assert.ok(statSync(fullFile).size > LIMITS.resultViewBytes, `the full result (${statSync(fullFile).size} bytes) must exceed the bound for this test to mean anything`);
    assert.ok(size <= LIMITS.resultViewBytes, `bounded result ${size} bytes`);
    assert.ok(statSync(path.join(tmp, 'bounded.html')).size <= LIMITS.resultViewBytes + 2 * 1024 * 1024, 'the HTML report embeds the bounded result');
    assert.ok(bounded.warnings.some((w) => /--full-tensors/.test(w) && /summarized/.test(w)), bounded.warnings.join('\n'));
    assert.ok(!full.warnings.some((w) => /--full-tensors/.test(w)));
    assert.equal(full.paged, undefined);
  });

  test('a summarized layer keeps its sums and map; the full values are what --full-tensors writes', () => {
    const tensors = bounded.paged!.tensors;
    const keys = Object.keys(tensors);
    assert.ok(keys.includes('activations:1') && keys.includes('relevance:1'), keys.join(', '));
    for (const key of keys) {
      const [kind, l] = key.split(':') as ['activations' | 'preActivations' | 'relevance', string];
      assert.deepEqual((bounded[kind] as number[][])[Number(l)], [], `${key} is left out of the bounded result`);
      const values = (full[kind] as number[][])[Number(l)];
      assert.equal(values.length, tensors[key].size, key);
      const s = sum(values);
      assert.ok(Math.abs(tensors[key].sum - s) <= 1e-6 * Math.max(1, sum(values.map(Math.abs))), `${key}: summary sum ${tensors[key].sum} vs full ${s}`);
      assert.equal(sum(tensors[key].map.values).toPrecision(6), tensors[key].sum.toPrecision(6), `${key}: the map adds up to the sum`);
    }
    // What stays inline is the same in both.
    bounded.relevance.forEach((r, l) => {
      if (r && r.length) assert.deepEqual(r, full.relevance[l], `relevance ${l}`);
    });
    assert.equal(bounded.explainedValue, full.explainedValue);
    assert.deepEqual(bounded.diagnostics.layers.length, full.diagnostics.layers.length);
  });

  test('splitResultWithin meets a smaller bound by summarizing more (down to smaller maps)', () => {
    for (const max of [8 * 1024 * 1024, 4 * 1024 * 1024]) {
      const { view, bytes, limit } = splitResultWithin(full, null, max);
      assert.ok(bytes <= max, `${bytes} > ${max} (inline limit ${limit})`);
      assert.equal(jsonBytes(view), bytes);
    }
    // Below what the views need (every layer's smallest map, the flows, the diagnostics) it returns its smallest view, measured.
    const floor = splitResultWithin(full, null, 64 * 1024);
    assert.equal(floor.limit, 64);
    assert.equal(floor.mapValues, LIMITS.summaryMapValues / 16);
    assert.equal(jsonBytes(floor.view), floor.bytes);
    assert.ok(floor.bytes > 64 * 1024 && floor.bytes < 4 * 1024 * 1024, String(floor.bytes));
    // A result within the bound is split as splitResult splits it (nothing smaller than needed).
    const roomy = splitResultWithin(full, null, 1024 * 1024 * 1024);
    assert.equal(roomy.limit, LIMITS.inlineLayerValues);
  });
});

describe('the tfjs-wasm heap estimate', () => {
  // A network is only read here for its sizes: 16M-unit layers (the layer size limit) with no weights.
  const units = LIMITS.layerUnits;
  const big = { inputSize: units, layers: Array.from({ length: 3 }, () => ({ kind: 'avgpool2d', outFeatures: units })) } as unknown as Network;
  const small = { inputSize: 784, layers: [{ kind: 'dense', outFeatures: 10, weight: new Float64Array(7840) }] } as unknown as Network;

  test('counts the layers\' batch tensors and the weights with their parts', () => {
    assert.ok(wasmHeapBytes(big) > LIMITS.wasmHeapMB * 1024 * 1024);
    assert.equal(wasmHeapBytes(small), (784 * 16 + 7840 * 6 + 10 * 16) * 4);
  });

  test('--backend wasm is refused before any work when the estimate is past LIMITS.wasmHeapMB; auto moves to typed float32 with a warning', async () => {
    const warnings: string[] = [];
    await assert.rejects(opsFor(big, 'float32', 'wasm', warnings), (e: unknown) => isDtdError(e) && e.code === 'too-costly' && /heap/.test(e.message) && /--precision float64/.test(e.message));
    const ops = await opsFor(big, 'float32', 'auto', warnings);
    if (ops.backend === 'tfjs-wasm') assert.fail('auto kept tfjs-wasm');
    assert.equal(ops.precision, 'float32');
    if ((await opsFor(small, 'float32', 'auto', [])).backend === 'tfjs-wasm') assert.equal(warnings.length, 1, 'a warning says why float32 left tfjs-wasm');
    const ok = await opsFor(small, 'float32', 'wasm', []);
    assert.equal(ok.backend, 'tfjs-wasm');
  });
});
