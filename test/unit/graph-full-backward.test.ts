// Full-backward and the sampled root finders on graph networks: the graph
// becomes an exact chain that carries the live tensors (graphChain.ts). The
// chain computes the graph's function (value and gradient) exactly, signed
// skip tensors included (split into x⁺ and x⁻ through ReLU layers); the
// decomposition runs with every finder, its roots are checked, and its
// results are reported on the graph's tensors. The audit's full-backward rows
// run on graphs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explain } from '../../extension/engine/explain';
import { audit } from '../../extension/engine/audit';
import { forward } from '../../extension/engine/forward';
import { fullBackwardNetwork, graphChainBlocks } from '../../extension/engine/fullBackwardNet';
import { tensorFromChain } from '../../extension/engine/graphChain';
import { NetworkBuilder } from '../../extension/engine/loaders/builder';
import { isChain, type Network } from '../../extension/engine/network';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/**
 * x(5) → d1 ReLU (t1) → d2 linear (t2, signed) → d3 ReLU (t3) → add(t3, t2) (t4, signed: no ReLU)
 *      → d4 ReLU (t5) → concat(t5, t1) (t6) → d5 (t7, 3 outputs)
 * t2 crosses the ReLU layer d3 as a carried tensor that can be negative; t1 is carried across five layers.
 */
function residualMlp(seed = 3): Network {
  const r = rng(seed);
  const w = (n: number) => Float64Array.from({ length: n }, () => r());
  const b = new NetworkBuilder('residual-mlp', 5);
  b.dense('d1', w(30), w(6), 6, 5);
  b.relu('relu1');
  const t1 = b.current;
  b.dense('d2', w(36), w(6), 6, 6);
  const t2 = b.current;
  b.dense('d3', w(36), w(6), 6, 6);
  b.relu('relu3');
  b.add('add', [b.current, t2]);
  b.dense('d4', w(24), w(4), 4, 6);
  b.relu('relu4');
  b.concat('cat', [b.current, t1]);
  b.dense('d5', w(30), Float64Array.from([0.5, 0.3, 0.2]), 3, 10);
  return b.build('test');
}

test('graph as chain: the chain computes the graph’s outputs exactly, signed skips included', () => {
  const net = residualMlp();
  assert.equal(isChain(net), false);
  const r = rng(9);
  for (let k = 0; k < 20; k++) {
    const x = Float64Array.from({ length: 5 }, () => 2 * r());
    const fb = fullBackwardNetwork(net, 2e6, x);
    const blocks = graphChainBlocks(fb)!;
    assert.ok(blocks, 'a graph gets chain blocks');
    const g = forward(net, x), c = forward(fb, x);
    // Every graph tensor equals its blocks in the chain (x = x⁺ − x⁻ for split tensors).
    for (let t = 1; t <= net.layers.length; t++) {
      const v = tensorFromChain(blocks[t], t, c.act[t])!;
      v.forEach((val, i) => assert.ok(Math.abs(val - g.act[t][i]) <= 1e-12, `tensor ${t}[${i}]: ${val} vs ${g.act[t][i]}`));
    }
    // A signed tensor crossing a ReLU layer travels split in two parts.
    assert.ok(blocks[3].filter((q) => q.t === 2).length === 2, 'tensor 2 is split across the ReLU layer d3');
  }
});

test('full-backward with linear roots on a graph: relevance on every graph tensor, roots of weighted layers checked, a warning that says how', async () => {
  const net = residualMlp();
  const x = Float64Array.from([0.9, 0.2, 0.7, 0.4, 0.6]);
  const row = 1; // f = 0.573 > 0, and its unit has a z+ root
  const r = await explain(net, x, { method: 'full-backward', explainedOutput: row, baselines: false, maxCost: 3e7 });
  assert.equal(r.status, 'ok', r.message ?? '');
  assert.equal(r.relevance.length, net.layers.length + 1);
  net.layers.forEach((layer, i) => assert.equal(r.relevance[i + 1]?.length, layer.outFeatures, `relevance of tensor ${i + 1} has the graph tensor's size`));
  assert.equal(r.relevance[0]!.length, 5);
  assert.ok(r.relevance.every((v) => v === null || v.every(Number.isFinite)));
  const weighted = net.layers.map((l) => l.kind === 'dense');
  r.roots.forEach((layerRoots, i) => {
    if (!weighted[i]) assert.equal(layerRoots.length, 0, `${net.layers[i].kind} layers have no roots`);
    for (const q of layerRoots) {
      assert.ok(q.unit < net.layers[i].outFeatures);
      if (q.root) assert.equal(q.root.length, net.layers[i].inFeatures, 'the root is shown on the tensor the layer reads');
      if (q.hasRoot && q.relevanceAtInput > 0) assert.ok(q.checks, 'every root that decomposes relevance is checked');
    }
  });
  assert.ok(r.roots.flat().filter((q) => q.checks).length > 0);
  assert.ok(r.tree && r.tree.length > 0);
  assert.ok(r.warnings.some((w) => w.includes('decomposes it as a chain')), r.warnings.join('\n'));
  // The output layer's relevance sits on the explained unit.
  assert.equal(r.relevance[net.layers.length]![row], r.explainedValue);
});

test('sampled and exact root finders run on a graph', async () => {
  const net = residualMlp();
  const x = Float64Array.from([0.9, 0.2, 0.7, 0.4, 0.6]);
  for (const rootFinder of ['metropolis-hastings', 'interpolation', 'polytope'] as const) {
    const r = await explain(net, x, { method: 'full-backward', rootFinder, explainedOutput: 1, baselines: false, metropolisHastings: { steps: 200, chains: 2 } as never });
    // A finder may fail the way it fails on chains (no root, no positive relevance left); it must not break on the graph.
    assert.ok(r.status === 'ok' || r.statusCode === 'no-root' || r.statusCode === 'no-positive-relevance' || r.statusCode === 'signed-input', `${rootFinder}: ${r.status} ${r.statusCode} ${r.message}`);
    assert.ok(r.relevance.every((v) => v === null || v.every(Number.isFinite)), rootFinder);
    net.layers.forEach((layer, i) => {
      if (r.relevance[i + 1]) assert.equal(r.relevance[i + 1]!.length, layer.outFeatures, `${rootFinder}: tensor ${i + 1}`);
    });
  }
});

test('the audit runs its full-backward rows on a graph', async () => {
  const net = residualMlp();
  const res = await audit(net, { inputs: 4, explainedOutput: 0, methods: ['train-free', 'full-backward'], rules: ['z+'], maxCost: 3e7 });
  const fb = res.rows.find((row) => row.method === 'full-backward')!;
  assert.ok(fb, JSON.stringify(res.rows.map((q) => q.method)));
  assert.equal(fb.skipped, undefined, fb.skipped);
  assert.ok(fb.inputs - fb.failedInputs > 0, JSON.stringify(fb));
  assert.ok(fb.roots > 0, JSON.stringify(fb));
});
