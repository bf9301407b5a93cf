// The feature-map view in headless Chromium, on results the real engine computes
// from the conv fixtures' ONNX files and the graph fixtures: channels drawn as relevance
// thumbnails with channel-to-channel flows, the "+ N more" toggle, joins, and
// concepts: clicking a channel (or Enter on it) posts a 'concept' request, the
// answer (computed here by the engine's explainConcepts, as the host would) is
// drawn as a pinned conditional heatmap with the channels that feed it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { explain, loadModel } from '../../extension/engine';
import { explainConcepts } from '../../extension/engine/concepts';
import type { Network } from '../../extension/engine/network';
import type { ExplainResult, HostToWebview, WebviewToHost } from '../../extension/protocol';
import { CONV_FIXTURES_DIR, FIXTURES_DIR, loadFixture } from '../helpers/fixtures';
import { loadResidualFixture, residualNetFromFixture } from '../helpers/residual';
import { flat } from '../helpers/conv';
import { launch, openWebview, type WebviewPage } from './harness';

async function fixtureResult(dir: string, name: string, method: 'train-free' | 'lrp' = 'train-free'): Promise<{ net: Network; result: ExplainResult }> {
  const fx = loadFixture(name, dir);
  const net = loadModel(new Uint8Array(readFileSync(join(dir, `${name}.onnx`))), `${name}.onnx`);
  const result = await explain(net, flat(fx.input.x), { method, rule: method === 'lrp' ? 'epsilon' : 'z+', explainedOutput: fx.explanations[0].explained_output });
  return { net, result };
}

/** Answers the webview's concept requests as the host does (the engine recomputes for the shown result). */
async function answerConcepts(w: WebviewPage, net: Network, result: ExplainResult, seen: number): Promise<number> {
  const asked = (await w.posted()).filter((m): m is Extract<WebviewToHost, { type: 'concept' }> => m.type === 'concept').slice(seen);
  for (const m of asked) {
    const [concept] = explainConcepts(net, result.input, { method: result.method, rule: result.method === 'lrp' ? 'epsilon' : 'z+', explainedOutput: result.explainedOutput }, m.layer, [m.channel]);
    await w.send({ type: 'concept', requestId: m.requestId, concept } satisfies HostToWebview, false);
  }
  return seen + asked.length;
}

describe('feature maps and concepts', () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(() => browser?.close());

  it('draws a conv result as columns of channel thumbnails joined by channel flows, and a clicked channel as its conditional heatmap', async () => {
    const { net, result } = await fixtureResult(CONV_FIXTURES_DIR, 'cnn3x10_bn_gap_seed2');
    assert.ok(result.channelFlows?.length, 'the engine gave channel flows');
    const w = await openWebview(browser, { width: 1500, height: 1000 });
    await w.send({ type: 'result', result, settings: { topK: 4 } });
    const page = w.page;
    assert.equal(await page.locator('.feature-maps').isVisible(), true, 'feature maps shown');
    assert.equal(await page.locator('.panes').isVisible(), false, 'the units view is behind its tab');
    // One column per tensor; a conv column has one thumbnail per channel (≤ 10 channels: all shown), with the layer's name, kernel and shape.
    assert.equal(await page.locator('.fm-column').count(), result.activations.length);
    const shapes = result.shapes!;
    const t = shapes.findIndex((s, i) => i > 0 && s.length === 3 && result.model.layers[i - 1].kind === 'conv2d');
    const conv = result.model.layers[t - 1];
    const head = await page.locator(`.fm-column[data-tensor="${t}"] .fm-title`).textContent();
    assert.equal(head, `${conv.name} · ${conv.kernel!.join('×')} · ${shapes[t].join('×')}`);
    const C = shapes[t][0];
    const thumbs = page.locator(`.fm-column[data-tensor="${t}"] .fm-channel`);
    assert.equal(await thumbs.count(), Math.min(C, C <= 10 ? C : 8));
    const canvas = thumbs.first().locator('canvas');
    assert.equal(await canvas.getAttribute('width'), String(shapes[t][2]));
    assert.equal(await canvas.getAttribute('height'), String(shapes[t][1]));
    // Ordered by total relevance, largest first.
    const rel = await thumbs.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-relevance'))));
    for (let i = 1; i < rel.length; i++) assert.ok(rel[i - 1] >= rel[i], `order at ${i}`);
    // The thumbnails are coloured: a channel with relevance is not a flat neutral image.
    const distinct = await canvas.evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const set = new Set<string>();
      for (let i = 0; i < d.length; i += 4) set.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
      return set.size;
    });
    assert.ok(distinct > 1, `thumbnail has ${distinct} colours`);
    // Channel-to-channel flows into the conv layer, from the channels of the tensor it reads.
    const flows = page.locator(`.fm-flows path.fm-flow[data-layer="${t}"]`);
    assert.ok((await flows.count()) > 0, 'flows into the conv layer');
    const from = await flows.first().getAttribute('data-from');
    const to = await flows.first().getAttribute('data-to');
    assert.match(from!, new RegExp(`^${t - 1}:\\d+$`));
    assert.match(to!, new RegExp(`^${t}:\\d+$`));
    const [, c] = from!.split(':').map(Number);
    const [, d] = to!.split(':').map(Number);
    const entry = result.channelFlows!.find((f) => f.layer === t)!;
    assert.equal(Number(await flows.first().getAttribute('data-value')), entry.matrix[c][d]);
    await w.screenshot('feature-maps-cnn');

    // Click a channel: a concept request for exactly that channel; the answer is drawn as a heatmap at the input.
    const ch = Number(await thumbs.first().getAttribute('data-channel'));
    await thumbs.first().click();
    const req = (await w.waitFor('concept', 1))[0] as Extract<WebviewToHost, { type: 'concept' }>;
    assert.deepEqual([req.layer, req.channel], [t, ch]);
    assert.equal(await page.locator('.concept[data-state="loading"]').count(), 1);
    let seen = await answerConcepts(w, net, result, 0);
    await page.waitForSelector('.concept[data-state="ready"] canvas.concept-heat');
    const card = page.locator(`.concept[data-tensor="${t}"][data-channel="${ch}"]`);
    assert.equal(await card.locator('canvas').getAttribute('width'), String(shapes[0][2]));
    assert.ok((await card.locator('.feeder').count()) > 0, 'the channels feeding it are listed');
    assert.equal(await card.locator('.feeder').first().getAttribute('data-tensor'), String(t - 1));
    // Pin a second one with the keyboard: focus a channel of another layer and press Enter.
    const t2 = shapes.findIndex((s, i) => i > t && s.length === 3 && result.model.layers[i - 1].kind === 'conv2d');
    const second = page.locator(`.fm-column[data-tensor="${t2 > 0 ? t2 : t}"] .fm-channel`).nth(1);
    await second.focus();
    await page.keyboard.press('Enter');
    await w.waitFor('concept', 2);
    seen = await answerConcepts(w, net, result, seen);
    await page.waitForFunction(() => document.querySelectorAll('.concept[data-state="ready"]').length === 2);
    assert.equal(await page.locator('.concept').count(), 2, 'two concepts side by side');
    await w.screenshot('concepts-crp');
    // The units view is one click away, and back.
    await page.click('.view-modes .mode[data-mode="units"]');
    assert.equal(await page.locator('.panes').isVisible(), true);
    await page.click('.view-modes .mode[data-mode="maps"]');
    assert.equal(await page.locator('.panes').isVisible(), false);
    assert.deepEqual(w.problems, []);
    await w.page.close();
  });

  it('a graph network: joins read several tensors, skip flows come from the tensor they read, "+ N more" expands', async () => {
    // The graph IR from the fixture's node list (test/helpers/residual.ts: the loaders' NetworkBuilder).
    const fx = loadResidualFixture('res_basic_seed20');
    const { net } = residualNetFromFixture(fx, 'res_basic_seed20');
    const result = await explain(net, flat(fx.input.x), { method: 'lrp', rule: 'epsilon', explainedOutput: fx.explanations[0].explained_output });
    const w = await openWebview(browser, { width: 1500, height: 1000, theme: 'vscode-dark' });
    await w.send({ type: 'result', result, settings: { topK: 4 } });
    const page = w.page;
    const add = result.model.layers.findIndex((l) => l.kind === 'add') + 1;
    assert.ok(add > 0);
    assert.equal(await page.locator(`.fm-column.join[data-tensor="${add}"]`).count(), 1);
    const reads = result.model.layers[add - 1].inputs!;
    const sources = await page.locator(`path.fm-flow[data-layer="${add}"]`).evaluateAll((els) => [...new Set(els.map((e) => Number(e.getAttribute('data-from')!.split(':')[0])))].sort((a, b) => a - b));
    assert.deepEqual(sources, [...reads].sort((a, b) => a - b), 'the add draws flows from each tensor it reads');
    assert.ok((await page.locator(`path.fm-flow.skip[data-layer="${add}"]`).count()) > 0, 'the skip branch is marked');
    await w.screenshot('feature-maps-residual-dark');
    const wide = result.shapes!.findIndex((s) => s.length === 3 && s[0] > 10);
    assert.ok(wide > 0, 'a layer with more than 10 channels');
    {
      const col = page.locator(`.fm-column[data-tensor="${wide}"]`);
      assert.equal(await col.locator('.fm-channel').count(), 8);
      await col.locator('.fm-more').click();
      assert.equal(await page.locator(`.fm-column[data-tensor="${wide}"] .fm-channel`).count(), result.shapes![wide][0]);
    }
    assert.deepEqual(w.problems, []);
    await w.page.close();
  });

  it('an MLP result keeps the units view (no feature maps)', async () => {
    const fx = loadFixture('mlp3_seed0_testfull');
    const net = loadModel(new Uint8Array(readFileSync(join(FIXTURES_DIR, 'mlp3_seed0_testfull.json'))), 'mlp3.json');
    const result = await explain(net, fx.input.x[0], { rule: 'z+', explainedOutput: fx.explained_output });
    const w = await openWebview(browser);
    await w.send({ type: 'result', result, settings: { topK: 3 } });
    assert.equal(await w.page.locator('.feature-maps').isVisible(), false);
    assert.equal(await w.page.locator('.panes').isVisible(), true);
    await w.page.close();
  });
});
