// Baselines on demand: explain() leaves the comparison baselines out unless asked,
// and the engine request 'baselines' (baselineRequest.ts, through the child process
// as the extension host uses it) computes exactly what explain() would have carried
// with `baselines: true` — for the run's model, input, output, precision and backend —
// with progress per pass, cancellation between passes, no leaked tensors, and the
// pages of large baseline tensors added to the run's page file next to its own.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type * as vscode from 'vscode';
import { EngineClient, EngineError } from '../../extension/engineClient';
import { explainBaselines } from '../../extension/engine/baselineRequest';
import { isDtdError } from '../../extension/engine/errors';
import { explain } from '../../extension/engine/explain';
import { loadModel } from '../../extension/engine/loaders';
import { layerShapes, type Network } from '../../extension/engine/network';
import { addPages, writePageFile } from '../../extension/engine/pageFile';
import { readPage } from '../../extension/host/pageFile';
import { type Baselines, type ExplainOptions, isBaselinesReply, isHostToEngine, isHostToWebview, isWebviewToHost, type Progress, splitBaselines, splitResult, withBaselines } from '../../extension/protocol';
import { convFixtureFile, flat, loadConvFixture } from '../helpers/conv';
import { fixtureFile, loadFixture, REPO } from '../helpers/fixtures';

const CONV = 'cnn3x10_bn_gap_seed2';

function convCase(): { net: Network; bytes: Uint8Array; x: number[]; output: number } {
  const fx = loadConvFixture(CONV);
  const bytes = new Uint8Array(readFileSync(convFixtureFile(CONV, 'onnx')));
  return { net: loadModel(bytes, `${CONV}.onnx`), bytes, x: flat(fx.input.x), output: fx.explanations[0].explained_output };
}

function mlpCase(): { net: Network; x: number[]; output: number } {
  const name = 'mlp3_seed0_testfull';
  const fx = loadFixture(name);
  return { net: loadModel(new Uint8Array(readFileSync(fixtureFile(name, 'json'))), `${name}.json`), x: fx.input.x[0], output: fx.explained_output };
}

/** A JSON network of `depth` dense layers `width` wide (one linear output), weight w(l, j, i). */
function chain(depth: number, width: number, w: (l: number, j: number, i: number) => number): Network {
  const layers = Array.from({ length: depth }, (_, l) => {
    const nOut = l === depth - 1 ? 1 : width;
    return {
      name: `dense${l + 1}`,
      in_features: width,
      out_features: nOut,
      weight: Array.from({ length: nOut }, (_, j) => Array.from({ length: width }, (_, i) => w(l, j, i))),
      bias: new Array(nOut).fill(0),
      activation: l === depth - 1 ? 'linear' : 'relu',
    };
  });
  return loadModel(new TextEncoder().encode(JSON.stringify({ network: { input_size: width, layers } })), 'chain.json');
}

/** A value as it comes back from a page file (JSON: -0 reads as 0). */
const viaJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

describe('explain() without baselines unless asked', () => {
  test('the default result carries none and spends no time on them; baselines: true carries all of them', async () => {
    const { net, x, output } = convCase();
    const plain = await explain(net, x, { method: 'lrp', rule: 'epsilon', explainedOutput: output });
    assert.equal(plain.baselines, null);
    assert.equal(plain.timings.baselines, undefined);
    const full = await explain(net, x, { method: 'lrp', rule: 'epsilon', explainedOutput: output, baselines: true });
    assert.ok(full.baselines, 'asked: carried');
    // Gradient, gradient × input, 8 LRP rules and zennit's special-first-layer composite on a conv net.
    assert.equal(Object.keys(full.baselines.lrp).length, 9);
    assert.deepEqual(plain.relevance, full.relevance, 'the explanation itself does not change');
  });
});

describe('the baselines request (engine library)', () => {
  const cases: [string, () => { net: Network; x: number[]; output: number }, ExplainOptions][] = [
    ['conv net, LRP, float64', convCase, { method: 'lrp', rule: 'epsilon' }],
    ['conv net, train-free, float64', convCase, { method: 'train-free', rule: 'z+' }],
    ['MLP, train-free, float64', mlpCase, { method: 'train-free', rule: 'z+' }],
    ['conv net, LRP, float32 (tfjs wasm)', convCase, { method: 'lrp', rule: 'epsilon', precision: 'float32', backend: 'wasm' }],
  ];
  for (const [what, make, options] of cases) {
    test(`${what}: equals what explain() carries with baselines: true, in the run's precision and backend`, async () => {
      const { net, x, output } = make();
      const eager = await explain(net, x, { ...options, explainedOutput: output, baselines: true });
      const got = await explainBaselines(net, x, { precision: options.precision, backend: options.backend, explainedOutput: output });
      assert.deepEqual(got.baselines, eager.baselines);
      assert.equal(got.backend, eager.backend);
      assert.equal(got.precision, eager.precision);
      assert.deepEqual(got.warnings, []);
      assert.ok(got.ms > 0);
    });
  }

  test('reports a stage per pass with growing fractions, and stops between passes when cancelled', async () => {
    const { net, x, output } = convCase();
    const seen: Progress[] = [];
    await explainBaselines(net, x, { explainedOutput: output, onProgress: (p) => seen.push(p) });
    assert.deepEqual(
      seen.map((p) => p.stage),
      ['Baselines: gradient', ...['zplus_zero_bias', 'zplus', 'epsilon_1e-6', 'epsilon_1e-6_zero_bias', 'gamma_0.25', 'gamma_0.25_zero_bias', 'alpha2_beta1', 'wsquare_zero_bias', 'wsquare_zplus_zero_bias'].map((k) => `Baselines: LRP ${k}`)],
    );
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].fraction! > seen[i - 1].fraction!, `fraction grows at ${i}`);
    // Cancelled at the third pass: the request rejects as cancelled, nothing half-done comes back.
    const controller = new AbortController();
    let passes = 0;
    await assert.rejects(
      explainBaselines(net, x, {
        explainedOutput: output,
        signal: controller.signal,
        onProgress: () => {
          if (++passes === 3) controller.abort();
        },
      }),
      (e: unknown) => isDtdError(e) && e.code === 'cancelled',
    );
    assert.equal(passes, 3, 'no pass started after the cancel');
  });

  test('an output that does not exist, an input of the wrong length: clear refusals', async () => {
    const { net, x } = convCase();
    await assert.rejects(explainBaselines(net, x, { explainedOutput: 99 }), (e: unknown) => isDtdError(e) && e.code === 'bad-usage' && /Output 99 does not exist/.test(e.message));
    await assert.rejects(explainBaselines(net, x.slice(1), {}), (e: unknown) => isDtdError(e) && e.code === 'bad-input');
  });

  test('a forward pass that is not finite gives no baselines and says why; a baseline that overflows is dropped with a warning', async () => {
    const got = await explainBaselines(chain(3, 3, () => 1e308), [1, 1, 1], {});
    assert.equal(got.baselines, null);
    assert.match(got.warnings.join(' '), /No baselines: the forward pass is not finite from layer 'dense1'/);
    // Positive weights: α2β1 doubles the relevance at every layer and overflows past ~1024 layers (as explain() drops it).
    const deep = chain(1100, 2, (_l, _j, i) => (i === 0 ? 0.6 : 0.4));
    const eager = await explain(deep, [1, 1], { baselines: true });
    const dropped = await explainBaselines(deep, [1, 1], {});
    assert.ok(dropped.baselines && !('alpha2_beta1' in dropped.baselines.lrp) && 'zplus' in dropped.baselines.lrp);
    assert.deepEqual(dropped.baselines, eager.baselines);
    assert.deepEqual(dropped.warnings, eager.warnings.filter((w) => w.startsWith('Baseline')));
    assert.match(dropped.warnings.join(' '), /Baseline LRP alpha2_beta1 left out/);
  });

  test('float32 requests free their tensors: 30 requests leave the live tensor count where it was', async () => {
    const { net, x, output } = convCase();
    await explainBaselines(net, x, { explainedOutput: output, precision: 'float32', backend: 'wasm' });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 30; i++) await explainBaselines(net, x, { explainedOutput: output, precision: 'float32', backend: 'wasm' });
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('baselines of a stored run: split, pages added, merged', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dtd-baselines-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("large baseline tensors go to the run's page file next to its own pages; the merged result reads them all", async () => {
    const { net, x, output } = convCase();
    const limit = 50; // small enough that layers and baselines of this net are cut
    const result = await explain(net, x, { method: 'lrp', rule: 'epsilon', explainedOutput: output });
    const { view, pages } = splitResult(result, 'r1-abc', limit, 64);
    assert.ok(pages.size > 0, 'the run has pages of its own');
    const file = path.join(dir, 'r1-abc.pages');
    writePageFile(file, pages);
    const b = (await explainBaselines(net, x, { explainedOutput: output })).baselines!;
    const split = splitBaselines(b, layerShapes(net), limit, 64);
    assert.ok(split.pages.size > 0 && Object.keys(split.tensors).every((k) => k.startsWith('baseline:')), 'baseline pages under baseline keys');
    addPages(file, split.pages);
    // Every page, the run's and the baselines', reads back from the one file.
    for (const [key, value] of [...pages, ...split.pages]) assert.deepEqual(await readPage(file, key), viaJson(value), key);
    // The merged view: cut tensors are [] with their summary in paged.tensors, the others inline.
    const merged = withBaselines(view, { baselines: split.baselines, tensors: split.tensors, warnings: ['w'], ms: 5 });
    assert.equal(merged.paged!.run, 'r1-abc');
    for (const k of Object.keys(view.paged!.tensors)) assert.ok(merged.paged!.tensors[k], `the run's summary ${k} kept`);
    for (const [k, s] of Object.entries(split.tensors)) assert.deepEqual(merged.paged!.tensors[k], s);
    assert.deepEqual(merged.baselines!.gradient, b.gradient.length > limit ? [] : b.gradient);
    assert.deepEqual(merged.warnings, [...view.warnings, 'w']);
    assert.equal(merged.timings.baselines, 5);
    // A run without a page file gets one holding the baseline pages only.
    const fresh = path.join(dir, 'r2-abc.pages');
    addPages(fresh, split.pages);
    for (const [key, value] of split.pages) assert.deepEqual(await readPage(fresh, key), viaJson(value), key);
  });

  test('the messages are validated at every boundary', () => {
    const b: Baselines = { gradient: [1], gradientTimesInput: [2], lrp: { zplus: { relevance: [3], sum: 3, perLayer: [[3]] } } };
    const reply = { baselines: b, tensors: {}, warnings: [], backend: 'typed-float64', precision: 'float64' as const, ms: 1 };
    assert.ok(isBaselinesReply(reply));
    assert.ok(!isBaselinesReply({ ...reply, baselines: { ...b, gradient: ['1'] } }), 'a string where a number is promised');
    assert.ok(!isBaselinesReply({ ...reply, precision: 'float16' }));
    assert.ok(isWebviewToHost({ type: 'baselines', requestId: 1, run: null }));
    assert.ok(isWebviewToHost({ type: 'baselines', requestId: 1, run: 'mk1-abc' }));
    assert.ok(!isWebviewToHost({ type: 'baselines', requestId: 1, run: '../x' }), 'a run id names files: only the store\'s shape passes');
    assert.ok(isHostToWebview({ type: 'baselines', requestId: 1, run: 'mk1-abc', show: true, reply }));
    assert.ok(isHostToWebview({ type: 'baselines', requestId: 1, run: null, show: false, error: 'cancelled' }));
    assert.ok(!isHostToWebview({ type: 'baselines', requestId: 1, run: null, show: false }), 'neither a reply nor an error');
    const wire = { type: 'baselines', id: 3, fileName: 'm.onnx', modelBytes: new Uint8Array(1), input: { kind: 'values', values: [1] }, options: {} };
    assert.ok(isHostToEngine(wire));
    assert.ok(isHostToEngine({ ...wire, modelSha256: null, pagesFile: '/tmp/x.pages' }));
    assert.ok(!isHostToEngine({ ...wire, pagesFile: 3 }));
  });
});

describe('the baselines request through the engine process (EngineClient → dist/engine.js)', () => {
  const ENGINE = path.join(REPO, 'dist', 'engine.js');
  const quiet = new Proxy({}, { get: () => () => undefined }) as vscode.LogOutputChannel;
  let client: EngineClient;
  let dir: string;
  before(() => {
    // The engine bundle as the extension forks it, built from this tree.
    const b = spawnSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    client = new EngineClient({ enginePath: ENGINE, log: quiet, timeoutSeconds: () => 60 });
    dir = mkdtempSync(path.join(tmpdir(), 'dtd-baselines-ipc-'));
  });
  after(() => {
    client?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test("answers with what explain() carries for the run's options, with progress; refuses a changed model file", async () => {
    const { net, bytes, x, output } = convCase();
    const sha = createHash('sha256').update(bytes).digest('hex');
    const options = { method: 'lrp' as const, rule: 'epsilon', explainedOutput: output, precision: 'float64' as const };
    const eager = await explain(net, x, { ...options, baselines: true });
    const stages: string[] = [];
    const reply = await client.baselines({ fileName: `${CONV}.onnx`, modelBytes: bytes }, { kind: 'values', values: x }, options, sha, path.join(dir, 'run.pages'), { onProgress: (p) => stages.push(p.stage) });
    assert.deepEqual(reply.baselines, eager.baselines, 'small tensors stay inline');
    assert.deepEqual(reply.tensors, {});
    assert.equal(reply.backend, eager.backend);
    assert.ok(stages.includes('Baselines: gradient') && stages.includes('Baselines: LRP wsquare_zplus_zero_bias'), `progress: ${stages.join(', ')}`);
    await assert.rejects(
      client.baselines({ fileName: `${CONV}.onnx`, modelBytes: bytes }, { kind: 'values', values: x }, options, 'f'.repeat(64), undefined),
      (e: unknown) => e instanceof EngineError && /changed since this run/.test(e.message),
    );
  });

  test('Cancel stops the request between passes without killing the engine', async () => {
    const { bytes, x, output } = convCase();
    const pid = client.pid;
    let cancel: () => void = () => {};
    const token = {
      isCancellationRequested: false,
      onCancellationRequested: (cb: () => void) => {
        cancel = () => {
          token.isCancellationRequested = true;
          cb();
        };
        return { dispose() {} };
      },
    };
    const started = Date.now();
    await assert.rejects(
      client.baselines({ fileName: `${CONV}.onnx`, modelBytes: bytes }, { kind: 'values', values: x }, { explainedOutput: output }, null, undefined, {
        token,
        onProgress: (p) => {
          if (p.stage.startsWith('Baselines: LRP')) cancel();
        },
      }),
      (e: unknown) => e instanceof EngineError && e.code === 'cancelled',
    );
    assert.ok(Date.now() - started < 5000);
    assert.equal(client.pid, pid, 'the engine answered the cancel itself (it was not killed)');
    assert.ok(client.lastCancelLatencyMs !== undefined && client.lastCancelLatencyMs < 800, `settled ${client.lastCancelLatencyMs} ms after the cancel`);
  });
});
