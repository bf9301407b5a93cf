// Hand-checkable networks, rule parsing and the decompositions' invariants,
// independent of the research fixtures.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { explain, parseRule, randomInput, resolveRules, type Network } from '../../extension/engine/index';
import { isDtdError } from '../../extension/engine/errors';
import { assertClose } from '../helpers/fixtures';

function dense(name: string, W: number[][], b: number[], activation: 'relu' | 'linear' = 'relu') {
  return { kind: 'dense' as const, name, inFeatures: W[0].length, outFeatures: W.length, weight: Float64Array.from(W.flat()), bias: Float64Array.from(b), activation };
}

/** The 3-3-1 network of the engine issue: f(x) = 0.65 at x = (1, 1, 2). */
const net331: Network = {
  inputSize: 3,
  layers: [
    dense('layer1', [[1, -0.5, 0.5], [-1, 2, 0.25], [-1, -1, 0.5]], [-0.25, -0.5, -0.5]),
    dense('layer2', [[1, -0.5, 0.8]], [-0.1]),
  ],
  outputSelection: null,
  source: { format: 'test', file: 'net331' },
  notes: [],
};
const x331 = [1, 1, 2];

describe('the hand-checkable 3-3-1 network', () => {
  test('f(x) = 0.65 and z+ gives (0.325, 0, 0.325)', async () => {
    const r = await explain(net331, x331, { rule: 'z+' });
    assert.equal(r.status, 'ok');
    assertClose([r.explainedValue], [0.65], 1e-15, 1e-15, 'f(x)');
    assertClose(r.relevance[0], [0.325, 0, 0.325], 1e-12, 1e-12, 'z+ input relevance');
    assertClose(r.relevance[1], [0.65, 0, 0], 1e-12, 1e-12, 'z+ hidden relevance');
  });
  test('zB [0, 2] at the input, z+ above, gives (0.26, 0.13, 0.26)', async () => {
    const r = await explain(net331, x331, { rule: 'layer1=zB=0,2;*=z+' });
    assert.deepEqual(r.rules, ['zB=0,2', 'z+']);
    assertClose(r.relevance[0], [0.26, 0.13, 0.26], 1e-12, 1e-12, 'zB input relevance');
    // The zB root stays in the box [0, 2]: v = a − l·1[w≥0] − h·1[w<0].
    const root = r.roots[0].find((q) => q.unit === 0)!;
    assert.ok(root.root!.every((v) => v >= -1e-12 && v <= 2 + 1e-12), `zB root ${root.root} leaves the box`);
    assert.ok(root.checks!.inDomain);
  });
  test('w2 at the input, z+ above, gives (0.433333, 0.108333, 0.108333)', async () => {
    const r = await explain(net331, x331, { rule: 'layer1=w2;layer2=z+' });
    assertClose(r.relevance[0], [0.65 * (2 / 3), 0.65 / 6, 0.65 / 6], 1e-12, 1e-12, 'w2 input relevance');
  });
  test('conservation holds for every rule with a root at each layer, and fails loudly for rule 0', async () => {
    for (const rule of ['z+', 'w2', 'x', 'gamma=0.5', 'zB=0,2']) {
      const r = await explain(net331, x331, { rule });
      for (const d of r.diagnostics.layers) assert.ok(Math.abs(d.conservationError) < 1e-12, `${rule}: layer ${d.name} loses ${d.conservationError}`);
    }
    const zero = await explain(net331, x331, { rule: '0' });
    assert.equal(zero.status, 'failed');
    assert.equal(zero.statusCode, 'inconsistent');
  });
  test('the pinv layer rule conserves relevance when W has full row rank', async () => {
    const r = await explain(net331, x331, { rule: 'pinv' });
    assert.equal(r.status, 'ok');
    for (const d of r.diagnostics.layers) assert.ok(Math.abs(d.conservationError) < 1e-10, `pinv: layer ${d.name} loses ${d.conservationError}`);
  });
  test('full-backward on the 3-3-1 network: z+ fails as the research code does, w2 works with an exact last Taylor step', async () => {
    // The z+ root of hidden unit 0 is (0.675, 1, 1.35); there the output is 0.6 − 0.58125 − 0.1 < 0: nothing left to decompose.
    const zplus = await explain(net331, x331, { method: 'full-backward', rule: 'z+' });
    assert.equal(zplus.status, 'failed');
    assert.equal(zplus.statusCode, 'no-positive-relevance');
    const r = await explain(net331, x331, { method: 'full-backward', rule: 'w2' });
    assert.equal(r.status, 'ok');
    for (const e of r.tree!) if (e.layer === 2) assert.ok(Math.abs(e.taylorResidual) < 1e-12);
    // The layer-1 roots' upper relevance is the true function computed above them.
    assert.ok(r.tree!.some((e) => e.layer === 1));
  });
  test('train-free root checks: the hinge root of the output unit has relevance 0 and stays in the region', async () => {
    const r = await explain(net331, x331, { rule: 'z+' });
    const top = r.roots[1][0];
    assert.equal(top.unit, 0);
    assert.ok(top.checks!.relevanceZero, `f(root) = ${top.relevanceAtRoot}`);
    assert.ok(Math.abs(top.relevanceAtRoot!) < 1e-12);
    assert.ok(top.distance! > 0);
  });
  test('flows: every upper unit keeps its top-k contributions and the rest is aggregated', async () => {
    const r = await explain(net331, x331, { rule: 'z+', topK: 1 });
    const f1 = r.flows[0];
    assert.equal(f1.k, 1);
    const unit0 = f1.top.filter((f) => f.to === 0);
    assert.equal(unit0.length, 1);
    // Unit 0 passes 0.65 on: 0.325 to x0 and 0.325 to x2 (z+): one listed, the other aggregated.
    assertClose([unit0[0].value + f1.rest[0]], [0.65], 1e-12, 1e-12, 'flows of unit 0');
  });
});

describe('networks that end without a ReLU, and output selections', () => {
  const linearTop: Network = { ...net331, layers: [net331.layers[0], dense('layer2', [[1, -0.5, 0.8], [-1, 0.5, 0.2]], [-0.1, 0.3], 'linear')], outputSelection: { start: 1, stop: 2 } };
  test('explains the selected row of a linear last layer', async () => {
    const r = await explain(linearTop, x331, { rule: 'z+', explainedOutput: 0 });
    assert.equal(r.explainedRow, 1);
    assertClose([r.explainedValue], [-1.25 + 0.5 + 0.3], 1e-12, 1e-12, 'linear output');
    assert.ok(r.warnings.some((w) => /≤ 0/.test(w)));
  });
  test('an output that does not exist is a usage error', async () => {
    await assert.rejects(explain(linearTop, x331, { explainedOutput: 1 }), (e: unknown) => isDtdError(e) && e.code === 'bad-usage' && /outputs 0\.\.0/.test(e.message));
  });
});

describe('rules and inputs', () => {
  test('rule text parses, per layer too', () => {
    assert.deepEqual(parseRule('gamma=0.5'), { name: 'gamma', gamma: 0.5 });
    assert.deepEqual(parseRule('zB=-1,1'), { name: 'zB', low: -1, high: 1 });
    assert.deepEqual(resolveRules('layer1=zB=0,1;*=z+', 3, ['layer1', 'layer2', 'layer3']).map((r) => r.name), ['zB', 'z+', 'z+']);
    assert.throws(() => parseRule('zplux'), /Unknown rule 'zplux'/);
    assert.throws(() => parseRule('zB=2,1'), /LOW ≤ HIGH/);
    assert.throws(() => resolveRules('layer1=z+', 2, ['layer1', 'layer2']), /No rule for 'layer2'/);
    assert.throws(() => resolveRules('layer7=z+;*=w2', 2, ['layer1', 'layer2']), /layer7/);
  });
  test('wrong input length and non-finite input are clear errors', async () => {
    await assert.rejects(explain(net331, [1, 2]), (e: unknown) => isDtdError(e) && e.code === 'bad-input' && /2 values but net331 expects 3/.test(e.message));
    await assert.rejects(explain(net331, [1, NaN, 2]), (e: unknown) => isDtdError(e) && e.code === 'bad-input' && /finite/.test(e.message));
  });
  test('random inputs are reproducible for a seed and have a positive output', () => {
    const a = randomInput(net331, { seed: 7 });
    const b = randomInput(net331, { seed: 7 });
    const c = randomInput(net331, { seed: 8 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.ok(a.every((v) => v >= 0));
  });
  test('sampled root finders are reproducible for a seed', async () => {
    const opts = { method: 'full-backward' as const, rootFinder: 'metropolis-hastings' as const, metropolisHastings: { steps: 50, warmup: 10, chains: 4 }, baselines: false };
    const a = await explain(net331, x331, { ...opts, seed: 3 });
    const b = await explain(net331, x331, { ...opts, seed: 3 });
    assert.deepEqual(a.relevance, b.relevance);
    assert.deepEqual(a.tree, b.tree);
  });
  test('a cancelled run stops with a cancellation error', async () => {
    const ctrl = new AbortController();
    ctrl.abort();
    await assert.rejects(
      explain(net331, x331, { method: 'full-backward', rootFinder: 'metropolis-hastings', metropolisHastings: { steps: 100000, warmup: 100000 }, signal: ctrl.signal }),
      (e: unknown) => isDtdError(e) && e.code === 'cancelled',
    );
  });
});
