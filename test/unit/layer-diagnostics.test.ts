// Per-layer diagnostics: layerDiagnostics (one run) and the batched sums of a
// dataset run (dataset.ts batchSums → layerDiagnostic) give the records of the
// definition: Σ R, Σ of the negative R, both in index order, and the root counts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { REPO } from '../helpers/fixtures';
import { layerDiagnostics } from '../../extension/engine/assemble';
import { explainDataset } from '../../extension/engine/dataset';
import { parseInputRows } from '../../extension/engine/input';
import { loadModel } from '../../extension/engine/index';
import { isConserved, type DatasetItem, type RootInfo } from '../../extension/protocol';

const CNN = path.join(REPO, 'test', 'fixtures', 'conv', 'cnn1x8_maxpool_avgpool_seed0.onnx');
const ROWS = path.join(REPO, 'test', 'fixtures', 'dataset', 'cnn1x8_rows.npy');

function root(hasRoot: boolean, checks: { inRegion: boolean; inDomain: boolean; relevanceZero: boolean } | null): RootInfo {
  return { layer: 1, unit: 0, hasRoot, root: null, relevanceAtInput: 0, relevanceAtRoot: null, checks } as unknown as RootInfo;
}

describe('layer diagnostics', () => {
  test('layerDiagnostics gives the sum, negative mass (NaN skipped as before) and root counts of the definition', () => {
    const net = loadModel(new Uint8Array(readFileSync(CNN)), CNN);
    const rel: (number[] | null)[] = [[0.1, -0.2, 0.3, -1e-17, 0.4], null, [Number.NaN, -1, 2], [3]];
    rel.length = net.layers.length + 1;
    for (let i = 0; i < rel.length; i++) if (rel[i] === undefined) rel[i] = [0.5, -0.25];
    const roots: RootInfo[][] = [[root(true, { inRegion: true, inDomain: false, relevanceZero: true }), root(false, null), root(true, { inRegion: false, inDomain: true, relevanceZero: false }), root(true, null)]];
    const got = layerDiagnostics(net, rel, roots, 0.6);
    const want = rel.flatMap((r, i) => {
      if (!r) return [];
      const s = r.reduce((a, v) => a + v, 0);
      const rs = i < roots.length ? roots[i].filter((q) => q.hasRoot && q.checks) : [];
      return [{
        index: i,
        name: i === 0 ? 'input' : net.layers[i - 1].name,
        relevanceSum: s,
        explainedValue: 0.6,
        conservationError: s - 0.6,
        conserved: isConserved(s, 0.6),
        negativeMass: r.reduce((a, v) => a + (v < 0 ? v : 0), 0),
        rootsTotal: rs.length,
        rootsInRegion: rs.filter((q) => q.checks!.inRegion).length,
        rootsInDomain: rs.filter((q) => q.checks!.inDomain).length,
        rootsWithZeroRelevance: rs.filter((q) => q.checks!.relevanceZero).length,
      }];
    });
    assert.deepEqual(got, want);
    assert.deepEqual([got[0].rootsTotal, got[0].rootsInRegion, got[0].rootsInDomain, got[0].rootsWithZeroRelevance], [2, 1, 1, 1]);
  });

  for (const method of ['lrp', 'train-free'] as const) {
    test(`a light dataset run (${method}, batches of 3): each item's input diagnostics are exactly those of its own input relevance`, async () => {
      const net = loadModel(new Uint8Array(readFileSync(CNN)), CNN);
      const rows = parseInputRows(new Uint8Array(readFileSync(ROWS)), ROWS, net.inputSize, { shape: net.inputShape });
      const items: DatasetItem[] = [];
      await explainDataset(net, { names: rows.map((_, i) => `row ${i + 1}`), rows, source: ROWS }, { method, rule: method === 'lrp' ? 'epsilon' : 'z+', explainedOutput: 'argmax' }, { light: true, batchSize: 3, onItem: (it) => items.push(it) });
      assert.equal(items.length, rows.length);
      for (const it of items) {
        assert.ok(it.inputRelevance, `${it.inputName}: input relevance`);
        const d0 = it.diagnostics.layers[0];
        assert.equal(d0.index, 0);
        assert.equal(d0.relevanceSum, it.inputRelevance.reduce((a, v) => a + v, 0), `${it.inputName}: Σ R(input)`);
        assert.equal(d0.negativeMass, it.inputRelevance.reduce((a, v) => a + (v < 0 ? v : 0), 0), `${it.inputName}: negative mass`);
        assert.equal(d0.conservationError, d0.relevanceSum - it.explainedValue);
        assert.deepEqual(it.diagnostics.layers.map((d) => d.index), Array.from({ length: net.layers.length + 1 }, (_, i) => i));
        assert.deepEqual(it.diagnostics.layers.map((d) => d.name), ['input', ...net.layers.map((l) => l.name)]);
      }
    });
  }
});
