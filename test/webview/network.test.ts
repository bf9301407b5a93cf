// The network view in headless Chromium: nodes per layer, top-k flows, colour
// signs, inactive units, bins and their expansion, theme switching.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ExplainResult } from '../../extension/protocol';
import { engineResult } from './fixtures';
import { launch, openWebview, type WebviewPage } from './harness';

type Rgb = [number, number, number];
function parseRgb(s: string): Rgb {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(s);
  assert.ok(m, `not an rgb colour: ${s}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}
const dist = (a: Rgb, b: Rgb) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

async function palette(w: WebviewPage): Promise<{ positive: Rgb; negative: Rgb; background: Rgb }> {
  const p = await w.page.evaluate(() => {
    const cs = getComputedStyle(document.body);
    const probe = document.createElement('div');
    document.body.append(probe);
    const res: Record<string, string> = {};
    for (const v of ['--dtd-positive', '--dtd-negative', '--dtd-bg']) {
      probe.style.color = cs.getPropertyValue(v).trim();
      res[v] = getComputedStyle(probe).color;
    }
    probe.remove();
    return res;
  });
  return { positive: parseRgb(p['--dtd-positive']), negative: parseRgb(p['--dtd-negative']), background: parseRgb(p['--dtd-bg']) };
}

describe('network view', () => {
  let browser: Browser;
  let signed: ExplainResult;
  before(async () => {
    browser = await launch();
    signed = await engineResult('mlp3_seed0_testfull', { method: 'train-free' });
  });
  after(() => browser?.close());

  it('posts ready, then draws one node per unit and reports it in rendered', async () => {
    const w = await openWebview(browser);
    const ready = await w.waitFor('ready', 1);
    assert.equal(ready.length, 1);
    await w.send({ type: 'result', result: signed, settings: { topK: 3 } });
    const widths = signed.activations.map((a) => a.length);
    assert.deepEqual(widths, [10, 10, 10, 2]);
    for (let l = 0; l < widths.length; l++) assert.equal(await w.page.locator(`svg.network .node[data-layer="${l}"]`).count(), widths[l], `layer ${l}`);
    const rendered = (await w.posted()).filter((m) => m.type === 'rendered');
    assert.equal(rendered.length, 1);
    const s = (rendered[0] as { summary: { layers: number; nodesPerLayer: number[]; flows: number; renderMs: number } }).summary;
    assert.equal(s.layers, 4);
    assert.deepEqual(s.nodesPerLayer, widths);
    assert.equal(s.flows, await w.page.locator('svg.network path.flow').count());
    assert.ok(s.renderMs > 0);
    // The explained output is marked.
    assert.equal(await w.page.locator(`.node.explained[data-layer="3"]`).getAttribute('data-unit'), String(signed.explainedRow));
    assert.deepEqual(w.problems, []);
    await w.screenshot('network-mlp3-light');
  });

  it('draws exactly the top-k flows per upper unit, with the result\'s values', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: signed, settings: { topK: 3 } });
    const drawn = await w.page.$$eval('path.flow', (els) => els.map((e) => ({ layer: Number(e.getAttribute('data-layer')), from: e.getAttribute('data-from'), to: e.getAttribute('data-to'), value: Number(e.getAttribute('data-value')) })));
    let expectedTotal = 0;
    for (const f of signed.flows) {
      const byTo = new Map<number, typeof f.top>();
      for (const e of f.top) byTo.set(e.to, [...(byTo.get(e.to) ?? []), e]);
      for (const [to, list] of byTo) {
        const want = list
          .filter((e) => e.value !== 0)
          .sort((a, b) => Math.abs(b.value) - Math.abs(a.value))
          .slice(0, 3);
        const got = drawn.filter((d) => d.layer === f.layer && d.to === `${f.layer}:${to}`);
        assert.equal(got.length, want.length, `layer ${f.layer} unit ${to}`);
        assert.deepEqual(
          got.map((g) => `${g.from}=${g.value}`).sort(),
          want.map((e) => `${f.layer - 1}:${e.from}=${e.value}`).sort(),
        );
        expectedTotal += want.length;
      }
    }
    assert.ok(expectedTotal > 10);
    assert.equal(drawn.length, expectedTotal);
    // Positive flows in the positive colour, negative in the negative one.
    const pal = await palette(w);
    const colours = await w.page.$$eval('path.flow', (els) => els.map((e) => ({ v: Number(e.getAttribute('data-value')), stroke: e.getAttribute('stroke') ?? '' })));
    assert.ok(colours.some((c) => c.v < 0) && colours.some((c) => c.v > 0), 'needs flows of both signs');
    for (const c of colours) assert.deepEqual(parseRgb(c.stroke), c.v > 0 ? pal.positive : pal.negative);
    // Changing top-k redraws with fewer flows per unit.
    await w.page.fill('input.topk', '1');
    const before = (await w.posted()).filter((m) => m.type === 'rendered').length;
    await w.page.press('input.topk', 'Enter');
    await w.page.locator('input.topk').dispatchEvent('change');
    await w.waitFor('rendered', before + 1);
    const perUnit = await w.page.$$eval('path.flow', (els) => {
      const m = new Map<string, number>();
      for (const e of els) m.set(e.getAttribute('data-to') ?? '', (m.get(e.getAttribute('data-to') ?? '') ?? 0) + 1);
      return [...m.values()];
    });
    assert.ok(perUnit.length > 0 && perUnit.every((n) => n === 1));
  });

  it('colours nodes by the sign of their relevance and marks inactive units', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: signed });
    const pal = await palette(w);
    const nodes = await w.page.$$eval('svg.network .node', (els) =>
      els.map((e) => ({ layer: Number(e.getAttribute('data-layer')), unit: Number(e.getAttribute('data-unit')), rel: e.getAttribute('data-relevance'), fill: e.getAttribute('fill') ?? '', cls: e.getAttribute('class') ?? '', dash: e.getAttribute('stroke-dasharray') })),
    );
    let pos = 0;
    let neg = 0;
    for (const n of nodes) {
      const r = signed.relevance[n.layer]?.[n.unit] ?? null;
      assert.equal(n.rel, r === null ? 'null' : String(r), `relevance of ${n.layer}:${n.unit}`);
      if (r === null || r === 0) continue;
      const max = Math.max(...signed.relevance[n.layer]!.map(Math.abs));
      if (Math.abs(r) < 0.05 * max) continue; // near-neutral colours are not compared
      const c = parseRgb(n.fill);
      if (r > 0) {
        pos++;
        assert.ok(dist(c, pal.positive) < dist(c, pal.negative), `${n.layer}:${n.unit} R=${r} drawn ${n.fill}`);
      } else {
        neg++;
        assert.ok(dist(c, pal.negative) < dist(c, pal.positive), `${n.layer}:${n.unit} R=${r} drawn ${n.fill}`);
      }
    }
    assert.ok(pos > 3 && neg > 0, `needs both signs (pos ${pos}, neg ${neg})`);
    // Hidden units with activation 0 are drawn "off": dashed outline, class off.
    const offUnits = signed.activations.flatMap((a, l) => (l === 0 ? [] : a.map((v, u) => (v <= 0 ? `${l}:${u}` : null)).filter((x): x is string => x !== null)));
    assert.ok(offUnits.length > 0);
    const drawnOff = nodes.filter((n) => n.layer > 0 && n.cls.split(' ').includes('off')).map((n) => `${n.layer}:${n.unit}`);
    assert.deepEqual(drawnOff.sort(), offUnits.sort());
    for (const n of nodes.filter((x) => x.cls.includes('off'))) assert.ok(n.dash, 'off units have a dashed outline');
  });

  it('bins wide layers, keeps their sums, and expands on request (784-256-128-10)', async () => {
    const big = await engineResult('scale_784_256_128_10_seed0', { method: 'train-free' });
    const w = await openWebview(browser, { theme: 'vscode-dark' });
    await w.send({ type: 'result', result: big, settings: { topK: 5, imageShape: [28, 28] } });
    const counts = await Promise.all([0, 1, 2, 3].map((l) => w.page.locator(`.node[data-layer="${l}"]`).count()));
    assert.deepEqual(counts, [Math.ceil(784 / 13), 64, 64, 10]);
    // A bin's relevance is the sum over its units.
    const bins = await w.page.$$eval('.node.bin[data-layer="0"]', (els) => els.map((e) => ({ start: Number(e.getAttribute('data-unit')), end: Number(e.getAttribute('data-end')), rel: Number(e.getAttribute('data-relevance')) })));
    let covered = 0;
    for (const b of bins) {
      const want = big.relevance[0]!.slice(b.start, b.end).reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(b.rel - want) <= 1e-12 * Math.max(1, Math.abs(want)), `bin ${b.start}`);
      covered += b.end - b.start;
    }
    assert.equal(covered, 784);
    // At most top-k flows enter any drawn node.
    const maxIn = await w.page.$$eval('path.flow', (els) => {
      const m = new Map<string, number>();
      for (const e of els) m.set(e.getAttribute('data-to') ?? '', (m.get(e.getAttribute('data-to') ?? '') ?? 0) + 1);
      return Math.max(...m.values());
    });
    assert.equal(maxIn, 5);
    await w.screenshot('network-784-binned-dark');
    const n = (await w.posted()).filter((m) => m.type === 'rendered').length;
    await w.page.click('.expand-toggle[data-layer="0"]');
    await w.waitFor('rendered', n + 1);
    assert.equal(await w.page.locator('.node[data-layer="0"]').count(), 784);
    assert.equal(await w.page.locator('.node.bin[data-layer="0"]').count(), 0);
    await w.screenshot('network-784-input-expanded-dark');
    assert.deepEqual(w.problems, []);
  });

  it('follows the VS Code theme classes (light, dark, high contrast)', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: signed });
    const bgOf = () => w.page.getAttribute('svg.network rect.bg', 'fill');
    const fillOf = () => w.page.getAttribute(`.node[data-layer="0"][data-unit="0"]`, 'fill');
    const light = { bg: await bgOf(), fill: await fillOf() };
    assert.equal(light.bg, 'rgb(255, 255, 255)');
    const seen = new Set([light.fill]);
    for (const [cls, bg] of [
      ['vscode-dark', 'rgb(31, 31, 31)'],
      ['vscode-high-contrast', 'rgb(0, 0, 0)'],
    ] as const) {
      const n = (await w.posted()).filter((m) => m.type === 'rendered').length;
      await w.page.evaluate((c) => {
        document.body.className = c;
      }, cls);
      await w.waitFor('rendered', n + 1);
      assert.equal(await bgOf(), bg, cls);
      const fill = await fillOf();
      assert.ok(!seen.has(fill), `${cls}: node colour changes with the theme`);
      seen.add(fill);
      if (cls === 'vscode-high-contrast') {
        // High contrast: active units get an outline in the foreground colour.
        const stroke = await w.page.getAttribute(`.node:not(.off):not(.explained)`, 'stroke');
        assert.equal(stroke, 'rgb(255, 255, 255)');
      }
      await w.screenshot(`theme-${cls}`);
    }
  });
});
