// dtdLens.topK reaches the drawing: the host's settings.topK decides how many
// flows enter each unit (up to what the result carries), the default is the
// protocol's DEFAULT_TOP_K, and a restored view keeps the host's value unless
// the user chose another one in the toolbar.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { renderHtmlReport } from '../../extension/engine/report';
import { DEFAULT_TOP_K, type ExplainResult } from '../../extension/protocol';
import { engineResult } from './fixtures';
import { launch, openWebview, webviewBundle, webviewCss, type WebviewPage } from './harness';

/** Flow edges drawn into each unit, by "layer:unit". */
async function drawnInto(w: WebviewPage): Promise<Map<string, number>> {
  const tos = await w.page.$$eval('svg.network[data-pane="0"] path.flow', (els) => els.map((e) => e.getAttribute('data-to') ?? ''));
  const m = new Map<string, number>();
  for (const t of tos) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

/** Non-zero flows the result carries into each unit, by "layer:unit". */
function carried(r: ExplainResult): Map<string, number> {
  const m = new Map<string, number>();
  for (const f of r.flows ?? []) for (const e of f.top) if (e.value !== 0) m.set(`${f.layer}:${e.to}`, (m.get(`${f.layer}:${e.to}`) ?? 0) + 1);
  return m;
}

function assertTopK(drawn: Map<string, number>, want: Map<string, number>, k: number): void {
  for (const [unit, n] of want) assert.equal(drawn.get(unit) ?? 0, Math.min(k, n), `flows into ${unit} with top-k ${k}`);
  assert.equal([...drawn.keys()].filter((u) => !want.has(u)).length, 0, 'no flows into units the result has none for');
}

describe('top-k setting', () => {
  let browser: Browser;
  let r: ExplainResult;
  let want: Map<string, number>;
  before(async () => {
    browser = await launch();
    // 32-wide hidden layers, signed rule: every hidden unit of layers 2–5 carries 20 flows.
    r = await engineResult('deep6_w32_seed10', { method: 'train-free', rule: 'w2', topK: 20 });
    want = carried(r);
    assert.ok([...want.values()].filter((n) => n === 20).length >= 100, 'the fixture carries 20 flows into many units');
  });
  after(() => browser?.close());

  it('draws up to settings.topK = 20 flows into a unit, and 5 with topK = 5', async () => {
    assert.equal(DEFAULT_TOP_K, 20);
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r, settings: { topK: 20 } });
    const d20 = await drawnInto(w);
    assertTopK(d20, want, 20);
    assert.equal(Math.max(...d20.values()), 20, 'more than 8 flows enter a unit');
    assert.equal(await w.page.inputValue('input.topk'), '20');
    const rendered = (await w.posted()).filter((m) => m.type === 'rendered');
    assert.equal((rendered[0] as { summary: { flows: number } }).summary.flows, [...d20.values()].reduce((a, b) => a + b, 0));

    await w.send({ type: 'result', result: r, settings: { topK: 5 } });
    const d5 = await drawnInto(w);
    assertTopK(d5, want, 5);
    assert.equal(Math.max(...d5.values()), 5);
    assert.equal(await w.page.inputValue('input.topk'), '5');
    assert.deepEqual(w.problems, []);
  });

  it('draws DEFAULT_TOP_K flows when the host sends no settings', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r });
    assertTopK(await drawnInto(w), want, DEFAULT_TOP_K);
    assert.equal(await w.page.inputValue('input.topk'), String(DEFAULT_TOP_K));
  });

  it('a restored view follows the host\'s top-k unless the user chose one in the toolbar', async () => {
    // A state saved by an older webview (top-k 5, never touched by the user) with a message asking for 20.
    const stale = { ui: { v: 1, topK: 5, maxUnits: 64, expanded: [], selection: null, treePath: [], transform: null, compareMode: 'side', baseline: '' }, message: { type: 'result', result: r, settings: { topK: 20 } } };
    const w = await openWebview(browser, { state: stale });
    await w.waitFor('rendered', 1);
    assertTopK(await drawnInto(w), want, 20);
    // The user picks 7: a restore keeps it.
    await w.page.fill('input.topk', '7');
    await w.page.locator('input.topk').dispatchEvent('change');
    await w.waitFor('rendered', 2);
    assertTopK(await drawnInto(w), want, 7);
    await w.page.waitForFunction(() => (window as unknown as { __state?: { ui?: { topK?: number } } }).__state?.ui?.topK === 7);
    const saved = await w.page.evaluate(() => (window as unknown as { __state: unknown }).__state);
    const w2 = await openWebview(browser, { state: saved });
    await w2.waitFor('rendered', 1);
    assertTopK(await drawnInto(w2), want, 7);
    assert.equal(await w2.page.inputValue('input.topk'), '7');
    // A new run from the host brings its setting back.
    await w2.send({ type: 'result', result: r, settings: { topK: 20 } });
    assertTopK(await drawnInto(w2), want, 20);
  });

  it('the standalone report draws DEFAULT_TOP_K flows unless told otherwise', async () => {
    const js = await webviewBundle();
    const settingsOf = (html: string) => JSON.parse(/<script type="application\/json" id="dtd-report-data">([\s\S]*?)<\/script>/.exec(html)![1]).settings;
    assert.equal(settingsOf(renderHtmlReport(r, js, webviewCss())).topK, DEFAULT_TOP_K);
    assert.equal(settingsOf(renderHtmlReport(r, js, webviewCss(), { topK: 3 })).topK, 3);
  });
});
