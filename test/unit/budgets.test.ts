// Hostile files, time and finiteness (issue 12, items 5 and 6): random-input
// searches that end within a budget and say what to do, deep narrow networks
// whose root checks stay within a work budget, the engine watchdog that counts
// progress in work done, and non-finite results that fail instead of passing
// as "ok".

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { drawRandomInput, explain, loadModel, randomInput, type Network } from '../../extension/engine/index';
import { isDtdError } from '../../extension/engine/errors';
import { drawInputs, searchInputs } from '../../extension/engine/audit';
import { aboutCount } from '../../extension/engine/assemble';
import { NetMats } from '../../extension/engine/forward';
import { TypedOps } from '../../extension/engine/ops/typed';
import { explainBatch, trainFreeRoots } from '../../extension/engine/explainBatch';
import { ProgressWatchdog, type WatchdogClock } from '../../extension/engineWatchdog';
import { LIMITS } from '../../extension/protocol';
import { CONV_FIXTURES_DIR, REPO } from '../helpers/fixtures';

const CLI = path.join(REPO, 'dist', 'cli.js');
const tmp = mkdtempSync(path.join(tmpdir(), 'dtd-budgets-'));
const CNN = path.join(CONV_FIXTURES_DIR, 'cnn1x8_maxpool_avgpool_seed0.onnx');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(() => {
  if (!existsSync(CLI)) spawnSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
});

/** A JSON network of `depth` layers `width` wide (one output, linear), every weight `w`. */
function chainJson(depth: number, width: number, w: number | ((l: number, j: number, i: number) => number), inputSize = width): string {
  const at = typeof w === 'number' ? () => w : w;
  const layers = Array.from({ length: depth }, (_, l) => {
    const nIn = l === 0 ? inputSize : width;
    const nOut = l === depth - 1 ? 1 : width;
    return {
      name: `dense${l + 1}`,
      in_features: nIn,
      out_features: nOut,
      weight: Array.from({ length: nOut }, (_, j) => Array.from({ length: nIn }, (_, i) => at(l, j, i))),
      bias: new Array(nOut).fill(0),
      activation: l === depth - 1 ? 'linear' : 'relu',
    };
  });
  return JSON.stringify({ network: { input_size: inputSize, layers } });
}

function chain(depth: number, width: number, w: number | ((l: number, j: number, i: number) => number), file = 'chain.json'): Network {
  return loadModel(new TextEncoder().encode(chainJson(depth, width, w)), file);
}

describe('random inputs end within a budget', () => {
  const cnn = () => loadModel(new Uint8Array(readFileSync(CNN)), CNN);

  test('an output that is never positive: the message names the file, the outputs that were positive and --output', () => {
    let err: unknown;
    try {
      randomInput(cnn(), { seed: 0, explainedOutput: 0 });
    } catch (e) {
      err = e;
    }
    assert.ok(isDtdError(err), String(err));
    assert.equal(err.code, 'bad-input');
    assert.match(err.message, /cnn1x8_maxpool_avgpool_seed0\.onnx/);
    assert.match(err.message, new RegExp(`in ${LIMITS.randomInputDraws} draws`));
    assert.match(err.message, /Outputs above 0 in these draws: 7 \(100 %\), 8 /);
    assert.match(err.message, /--output K/);
  });

  test('the draws stop at the time limit too (a fake clock: every draw that misses takes half a second)', () => {
    let t = 0;
    const s = searchInputs(cnn(), 1, 0, 0, 0, { now: () => (t += 500) });
    assert.equal(s.inputs.length, 0);
    assert.equal(s.stoppedBy, 'time');
    assert.equal(s.draws, 2 * LIMITS.randomInputSeconds);
  });

  test('no output asked: the output most often largest is explained, with a warning', () => {
    const d = drawRandomInput(cnn(), { seed: 0 });
    assert.equal(d.explainedOutput, 7);
    assert.match(d.warning ?? '', /Output 0 was never above 0 .* output 7 is explained instead/);
    // Deterministic for a seed.
    assert.deepEqual(Array.from(drawRandomInput(cnn(), { seed: 0 }).x), Array.from(d.x));
  });

  test('the audit\'s draws name the file and say how many inputs were found', () => {
    assert.throws(
      () => drawInputs(cnn(), 5, 0, 0, 0, { maxRejected: 200 }),
      (e: Error) => isDtdError(e) && /cnn1x8_maxpool_avgpool_seed0\.onnx: only 0 of 5 random inputs with output 0 above 0 in 200 draws.*--output K/.test(e.message),
    );
  });

  test('an output that is positive is drawn as before (same seed, same input)', () => {
    const d = drawRandomInput(cnn(), { seed: 3, explainedOutput: 8 });
    assert.equal(d.explainedOutput, 8);
    assert.equal(d.warning, undefined);
  });

  test('CLI: --output 0 ends quickly with exit 2 and the advice; without --output it explains output 7 and says so', () => {
    const asked = cli(['explain', CNN, '--random-input', '--output', '0', '--quiet']);
    assert.equal(asked.code, 2, asked.err);
    assert.match(asked.err, /cnn1x8_maxpool_avgpool_seed0\.onnx: no random input with output 0 above 0 .*--output K/);
    const json = path.join(tmp, 'fallback.json');
    const fallback = cli(['explain', CNN, '--random-input', '--json', json]);
    assert.equal(fallback.code, 0, fallback.err);
    assert.match(fallback.out, /Explained output 7/);
    assert.match(fallback.out, /Warning: Output 0 was never above 0/);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(r.explainedOutput, 7);
    assert.match(r.warnings[0], /output 7 is explained instead/);
  });
});

describe('deep narrow networks stay within a cost', () => {
  test('train-free on 2500 layers of width 2: the lowest layers\' root checks are skipped with a warning, the rest checked', async () => {
    const L = 2500;
    const net = chain(L, 2, (_l, _j, i) => (i === 0 ? 0.6 : 0.4));
    const r = await explain(net, [1, 1]);
    assert.equal(r.status, 'ok', r.message ?? '');
    const skip = r.warnings.find((w) => w.startsWith('Root diagnostics skipped for the'));
    assert.ok(skip, JSON.stringify(r.warnings));
    assert.match(skip, /lowest layers \(dense1, dense2, …, dense\d+\).*limit 3e\+8 per input/);
    assert.equal(r.roots[0].length, 0, 'the lowest layer is not checked');
    assert.ok(r.roots[L - 1].length > 0 && r.roots[L - 1].every((q) => q.checks), 'the top layer is checked');
    // Relevance is conserved all the way down (the skip touches only the diagnostics).
    const sum = r.relevance[0]!.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - r.explainedValue) < 1e-9 * Math.abs(r.explainedValue));
  });

  test('300 layers of width 2 under a small budget: the cost estimate skips layers before any is re-run', () => {
    const net = chain(300, 2, (_l, _j, i) => (i === 0 ? 0.6 : 0.4));
    const ops = new TypedOps('float64');
    const mats = new NetMats(ops, net);
    const x = Float64Array.from([1, 1]);
    const b = explainBatch(mats, ops.matrix(1, 2, x), 0, net.layers.map(() => ({ name: 'z+' })));
    const rel = b.relevance.map((m) => ops.read(m));
    const warnings: string[] = [];
    const roots = trainFreeRoots(mats, [x], [rel], 0, net.layers.map(() => ({ name: 'z+' })), { inputNonNegative: [true], warnings, maxWorkPerInput: 1e6 });
    // One warning names the skipped layers; a layer at the edge of the budget may be sampled (said in a second warning).
    const skipped = warnings.filter((w) => w.startsWith('Root diagnostics skipped'));
    assert.equal(skipped.length, 1, warnings.join('\n'));
    assert.match(skipped[0], /Root diagnostics skipped for the 2\d\d lowest layers/);
    assert.ok(warnings.every((w) => w.startsWith('Root diagnostics skipped') || w.startsWith('Root checks sampled')), warnings.join('\n'));
    const checked = roots[0].filter((layer) => layer.length > 0).length;
    assert.ok(checked > 0 && checked < 300, `${checked} layers checked`);
    // Without the small budget, 300 layers are all checked.
    const all = trainFreeRoots(mats, [x], [rel], 0, net.layers.map(() => ({ name: 'z+' })), { inputNonNegative: [true], warnings: [] });
    assert.equal(all[0].filter((layer) => layer.length > 0).length, 300);
  });

  test('full-backward on a deep network: "more than 1.8e+308", never "Infinity"', async () => {
    const net = chain(600, 2, 0.5);
    await assert.rejects(explain(net, [1, 1], { method: 'full-backward' }), (e: Error) => {
      assert.match(e.message, /needs more than 1\.8e\+308 \(about 10\^\d+\) relevance evaluations/);
      assert.doesNotMatch(e.message, /Infinity/);
      return true;
    });
    assert.equal(aboutCount(Infinity), 'more than 1.8e+308');
    assert.equal(aboutCount(3e6), 'about 3.00e+6');
  });
});

describe('finite or failed', () => {
  test('weights of 1e308: status failed, statusCode non-finite, the message names the layer', async () => {
    const net = chain(3, 3, 1e308, 'huge.json');
    // Baselines asked for: a forward pass that overflows gives none.
    const r = await explain(net, [1, 1, 1], { baselines: true });
    assert.equal(r.status, 'failed');
    assert.equal(r.statusCode, 'non-finite');
    assert.match(r.message!, /layer 'dense1' \(1 of 3\)/);
    assert.match(r.message!, /Infinity/);
    assert.equal(r.baselines, null);
  });

  test('float32 with weights 1e20: failed with the float64 hint; float64 explains the same network', async () => {
    const net = chain(3, 3, 1e20, 'big.json');
    const r = await explain(net, [1, 1, 1], { precision: 'float32', backend: 'cpu' });
    assert.ok(Number.isFinite(r.explainedValue));
    assert.equal(r.status, 'failed');
    assert.equal(r.statusCode, 'non-finite');
    assert.match(r.message!, /layer 'dense2' \(2 of 3\)/);
    assert.match(r.message!, /--precision float64/);
    const r64 = await explain(net, [1, 1, 1], { precision: 'float64' });
    assert.equal(r64.status, 'ok', r64.message ?? '');
  });

  test('float32, one layer of 1e20 weights with the w² rule: the relevance is NaN, failed at the input with the hint', async () => {
    const net = chain(1, 3, 1e20, 'w2.json');
    const r = await explain(net, [1, 1, 1], { precision: 'float32', backend: 'cpu', rule: 'w2' });
    assert.equal(r.statusCode, 'non-finite');
    assert.match(r.message!, /relevance is not finite at the input/);
    assert.match(r.message!, /float64/);
  });

  test('a baseline that overflows is dropped with a warning, the result stays ok', async () => {
    // Positive weights: z+ conserves, α2β1 doubles the relevance at every layer and overflows past ~1024 layers.
    const net = chain(1100, 2, (_l, _j, i) => (i === 0 ? 0.6 : 0.4));
    const r = await explain(net, [1, 1], { baselines: true });
    assert.equal(r.status, 'ok', r.message ?? '');
    const w = r.warnings.find((m) => m.startsWith('Baseline LRP alpha2_beta1 left out'));
    assert.ok(w, JSON.stringify(r.warnings));
    assert.ok(r.baselines && !('alpha2_beta1' in r.baselines.lrp) && 'zplus' in r.baselines.lrp);
  });

  test('CLI: Status: failed (non-finite) and exit 1', () => {
    const file = path.join(tmp, 'huge.json');
    writeFileSync(file, chainJson(3, 3, 1e308));
    const r = cli(['explain', file, '--random-input']);
    assert.equal(r.code, 1, r.err);
    assert.match(r.out, /Status: failed \(non-finite\) — The forward pass is not finite from layer 'dense1'/);
  });
});

describe('the engine watchdog counts progress in work done', () => {
  /** A fake clock: `advance` runs the timers that fall due. */
  function fakeClock() {
    let t = 0;
    let timers: { at: number; fn: () => void; id: number }[] = [];
    let next = 1;
    const clock: WatchdogClock & { advance(ms: number): void } = {
      now: () => t,
      setTimeout: (fn, ms) => {
        timers.push({ at: t + ms, fn, id: next });
        return next++;
      },
      clearTimeout: (h) => {
        timers = timers.filter((x) => x.id !== h);
      },
      advance(ms) {
        const end = t + ms;
        for (;;) {
          const due = timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
          if (!due) break;
          timers = timers.filter((x) => x !== due);
          t = due.at;
          due.fn();
        }
        t = end;
      },
    };
    return clock;
  }

  test('repeated progress messages with the same stage and fraction do not re-arm it', () => {
    const clock = fakeClock();
    let expiredAt: number | undefined;
    const w = new ProgressWatchdog(30_000, () => (expiredAt = clock.now()), clock);
    w.start();
    assert.equal(w.progress({ stage: 'Checking roots', fraction: 0.5 }), true);
    for (let i = 0; i < 100 && expiredAt === undefined; i++) {
      clock.advance(1000);
      assert.equal(w.progress({ stage: 'Checking roots', fraction: 0.5 }), false);
    }
    assert.equal(expiredAt, 30_000, 'a hang is stopped after the timeout, not after the messages stop');
  });

  test('changing work re-arms it; stop() disarms it', () => {
    const clock = fakeClock();
    let expired = 0;
    const w = new ProgressWatchdog(10_000, () => expired++, clock);
    w.start();
    for (let i = 1; i <= 20; i++) {
      clock.advance(5000);
      assert.equal(w.progress({ stage: 'Full-backward decomposition', fraction: i / 100 }), true);
    }
    assert.equal(expired, 0, 'a run that keeps making progress is not stopped');
    clock.advance(5000);
    w.progress({ stage: 'Baselines' });
    clock.advance(9999);
    assert.equal(expired, 0);
    clock.advance(1);
    assert.equal(expired, 1);
    const v = new ProgressWatchdog(1000, () => expired++, clock);
    v.start();
    v.stop();
    clock.advance(5000);
    assert.equal(expired, 1);
  });
});

describe('big conv layers: root checks on a stated sample, never silently gone', () => {
  test('under a small work limit a conv layer is checked on a uniform sample; the sample is said and every sampled root is checked', async () => {
    const net = loadModel(readFileSync(path.join(CONV_FIXTURES_DIR, 'cnn3x10_bn_gap_seed2.onnx')), 'cnn3x10_bn_gap_seed2.onnx');
    const x = Array.from({ length: net.inputSize }, (_, i) => ((i * 37) % 101) / 101);
    const ops = new TypedOps('float64');
    const mats = new NetMats(ops, net);
    const rules = net.layers.map(() => ({ name: 'z+' as const }));
    const b = explainBatch(mats, ops.matrix(1, x.length, Float64Array.from(x)), 0, rules);
    const rel = b.relevance.map((m) => ops.read(m));
    const sampled: { layer: number; checked: number; of: number }[] = [];
    const warnings: string[] = [];
    const roots = trainFreeRoots(mats, [Float64Array.from(x)], [rel], 0, rules, { inputNonNegative: [true], warnings, maxWorkPerInput: 2e6, onSampled: (layer, checked, of) => sampled.push({ layer, checked, of }) });
    assert.ok(sampled.length > 0, `some layer is sampled: ${warnings.join(' | ')}`);
    for (const q of sampled) {
      assert.ok(q.checked > 0 && q.checked < q.of, JSON.stringify(q));
      assert.equal(roots[0][q.layer - 1].length, q.checked, 'one root per sampled unit');
      assert.ok(roots[0][q.layer - 1].every((r) => !r.hasRoot || r.checks), 'every sampled root is checked');
      const units = roots[0][q.layer - 1].map((r) => r.unit);
      assert.deepEqual(units, [...units].sort((p, r) => p - r));
      assert.equal(new Set(units).size, units.length, 'no unit twice');
    }
    assert.ok(warnings.some((w) => /^Root checks sampled \(uniformly, seed 0\).* \d+ of \d+ roots checked/.test(w)), warnings.join('\n'));
    // Same seed, same sample.
    const again = trainFreeRoots(mats, [Float64Array.from(x)], [rel], 0, rules, { inputNonNegative: [true], maxWorkPerInput: 2e6 });
    assert.deepEqual(again[0].map((l) => l.map((r) => r.unit)), roots[0].map((l) => l.map((r) => r.unit)));
    // explain() records the sample in the result.
    const r = await explain(net, x, { baselines: false });
    assert.equal(r.status, 'ok');
    assert.ok(!r.diagnostics.rootSampling || r.diagnostics.rootSampling.every((q) => q.checked <= q.units));
  });
});
