// Export (SVG, PNG, JSON) answering the host's 'export' message, comparisons
// with a shared colour scale, the image heatmap, the CSP shell and the
// standalone HTML report opened from file://.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { renderHtmlReport } from '../../extension/engine/report';
import type { ExplainResult } from '../../extension/protocol';
import { contentSecurityPolicy, webviewHtml } from '../../extension/protocol';
import { engineResult } from './fixtures';
import { launch, openWebview, ROOT, webviewBundle, webviewCss } from './harness';
import { crc32 } from 'node:zlib';
import { reproducibilityRecord } from '../../extension/protocol';

const OUT = join(ROOT, 'test-output', 'webview');

function pngSize(dataUrl: string): { width: number; height: number } {
  assert.match(dataUrl, /^data:image\/png;base64,/);
  const buf = Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
  assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.equal(buf.subarray(12, 16).toString('ascii'), 'IHDR');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

/** The text of a PNG's iTXt chunk with this keyword (uncompressed), read chunk by chunk with the CRC checked. */
function pngText(dataUrl: string, keyword: string): string | null {
  const buf = Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
  for (let at = 8; at < buf.length; ) {
    const len = buf.readUInt32BE(at);
    const type = buf.subarray(at + 4, at + 8).toString('ascii');
    const data = buf.subarray(at + 8, at + 8 + len);
    assert.equal(buf.readUInt32BE(at + 8 + len), crc32(buf.subarray(at + 4, at + 8 + len)), `${type} CRC`);
    if (type === 'iTXt' && data.subarray(0, keyword.length).toString('latin1') === keyword && data[keyword.length] === 0) {
      let p = keyword.length + 3; // NUL, compression flag, method
      p = data.indexOf(0, p) + 1; // language tag
      p = data.indexOf(0, p) + 1; // translated keyword
      return data.subarray(p).toString('utf8');
    }
    at += 12 + len;
  }
  return null;
}

describe('export, comparison, heatmap, report', () => {
  let browser: Browser;
  let r: ExplainResult;
  before(async () => {
    browser = await launch();
    // With its baselines (as a saved result that has them): the compare menu lists them.
    r = await engineResult('mlp3_seed0_testfull', { method: 'train-free', baselines: true });
    mkdirSync(OUT, { recursive: true });
  });
  after(() => browser?.close());

  it('answers export requests with valid SVG, PNG and JSON', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r });
    for (const [i, format] of (['svg', 'png', 'json'] as const).entries()) await w.send({ type: 'export', format, requestId: 10 + i }, false);
    const ex = (await w.waitFor('exported', 3)) as { requestId: number; format: string; data: string }[];
    const by = new Map(ex.map((e) => [e.format, e]));
    assert.deepEqual(ex.map((e) => [e.format, e.requestId]).sort(), [['json', 12], ['png', 11], ['svg', 10]]);
    const svg = by.get('svg')!.data;
    writeFileSync(join(OUT, 'export.svg'), svg);
    // Well-formed, standalone, with every node and flow of the view.
    const parsed = await w.page.evaluate((text) => {
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      return { error: doc.querySelector('parsererror')?.textContent ?? null, root: doc.documentElement.nodeName, ns: doc.documentElement.namespaceURI, nodes: doc.querySelectorAll('.node').length, flows: doc.querySelectorAll('path.flow').length, width: Number(doc.documentElement.getAttribute('width')), height: Number(doc.documentElement.getAttribute('height')) };
    }, svg);
    assert.equal(parsed.error, null);
    assert.equal(parsed.root, 'svg');
    assert.equal(parsed.ns, 'http://www.w3.org/2000/svg');
    assert.equal(parsed.nodes, 32);
    assert.equal(parsed.flows, await w.page.locator('svg.network path.flow').count());
    assert.ok(!/var\(--/.test(svg), 'colours are explicit, not theme variables');
    const size = pngSize(by.get('png')!.data);
    assert.deepEqual(size, { width: parsed.width * 2, height: parsed.height * 2 });
    writeFileSync(join(OUT, 'export.png'), Buffer.from(by.get('png')!.data.split(',')[1], 'base64'));
    assert.deepEqual(JSON.parse(by.get('json')!.data), JSON.parse(JSON.stringify(r)));
    // Every export says what made it: the SVG's <metadata> and the PNG's iTXt chunk hold the run's record.
    const want = [reproducibilityRecord(r)];
    assert.match(r.provenance.modelSha256 ?? '', /^[0-9a-f]{64}$/);
    const svgMeta = await w.page.evaluate((text) => new DOMParser().parseFromString(text, 'image/svg+xml').querySelector('metadata#dtd-lens-provenance')?.textContent ?? null, svg);
    assert.deepEqual(JSON.parse(svgMeta ?? 'null'), JSON.parse(JSON.stringify(want)));
    assert.deepEqual(JSON.parse(pngText(by.get('png')!.data, 'dtd-lens-provenance') ?? 'null'), JSON.parse(JSON.stringify(want)));
    // The toolbar buttons post unsolicited exports (requestId 0) for the host to save.
    await w.page.click('button.export-svg');
    const all = (await w.waitFor('exported', 4)) as { requestId: number; format: string }[];
    assert.deepEqual([all[3].requestId, all[3].format], [0, 'svg']);
  });

  it('compares two results side by side on one colour scale, and as a difference', async () => {
    const right: ExplainResult = JSON.parse(JSON.stringify(r));
    right.relevance = right.relevance.map((v) => (v ? v.map((x) => 2 * x) : v));
    const w = await openWebview(browser);
    await w.send({ type: 'compare', left: r, right });
    assert.equal(await w.page.locator('section.pane').count(), 2);
    const fills = async (pane: number) =>
      w.page.$$eval(`svg.network[data-pane="${pane}"] .node[data-layer="0"]`, (els) => els.map((e) => ({ fill: e.getAttribute('fill'), rel: Number(e.getAttribute('data-relevance')) })));
    const [a, b] = [await fills(0), await fills(1)];
    const iMax = r.relevance[0]!.reduce((best, v, i, arr) => (Math.abs(v) > Math.abs(arr[best]) ? i : best), 0);
    // Shared scale: the right pane's strongest unit is drawn stronger than the same unit on the left (half its value).
    assert.notEqual(a[iMax].fill, b[iMax].fill);
    const chroma = (c: string | null) => {
      const [x, y, z] = (c ?? '').match(/\d+/g)!.map(Number);
      return Math.max(x, y, z) - Math.min(x, y, z);
    };
    assert.ok(chroma(b[iMax].fill) > chroma(a[iMax].fill));
    await w.screenshot('compare-side-by-side');
    // Difference view: right − left = r.
    const n = (await w.posted()).filter((m) => m.type === 'rendered').length;
    await w.page.selectOption('select.compare-mode', 'diff');
    await w.waitFor('rendered', n + 1);
    assert.equal(await w.page.locator('section.pane').count(), 1);
    const diff = await w.page.$$eval('svg.network .node[data-layer="0"]', (els) => els.map((e) => Number(e.getAttribute('data-relevance'))));
    diff.forEach((d, i) => assert.ok(Math.abs(d - r.relevance[0]![i]) <= 1e-15 * Math.max(1, Math.abs(d)), `unit ${i}`));
    await w.screenshot('compare-difference');
  });

  it('compares with a baseline the result carries (gradient × input)', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r });
    const n = (await w.posted()).filter((m) => m.type === 'rendered').length;
    await w.page.selectOption('select.baseline', 'gradientTimesInput');
    await w.waitFor('rendered', n + 1);
    assert.equal(await w.page.locator('section.pane').count(), 2);
    const right = await w.page.$$eval('svg.network[data-pane="1"] .node[data-layer="0"]', (els) => els.map((e) => Number(e.getAttribute('data-relevance'))));
    assert.deepEqual(right, r.baselines!.gradientTimesInput);
    assert.equal(await w.page.locator('.ledger').count(), 2);
  });

  it('draws the input relevance over the image when a shape is known', async () => {
    const big = await engineResult('scale_784_256_128_10_seed0', { method: 'train-free' });
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: big, settings: { topK: 4, imageShape: [28, 28] } });
    assert.equal(await w.page.getAttribute('.heatmap', 'data-shape'), '28x28x1');
    assert.match((await w.page.textContent('.heatmap h3')) ?? '', /28×28 \(setting\)/);
    // The pixel of the most relevant input unit is the most saturated positive colour.
    const rel = big.relevance[0]!;
    const iMax = rel.reduce((best, v, i) => (v > rel[best] ? i : best), 0);
    const px = await w.page.evaluate((i) => {
      const c = document.querySelector('canvas.heat-relevance') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(i % 28, Math.floor(i / 28), 1, 1).data;
      return [c.width, c.height, d[0], d[1], d[2]];
    }, iMax);
    assert.deepEqual(px.slice(0, 2), [28, 28]);
    const nodeFill = await w.page.evaluate(() => getComputedStyle(document.body).getPropertyValue('--dtd-positive'));
    assert.ok(px[2] > px[4], `positive pixel is red-ish: ${px} (${nodeFill})`);
    await w.screenshot('heatmap-784');
    // No shape (10 inputs): no heatmap.
    await w.send({ type: 'result', result: r });
    assert.equal(await w.page.locator('.heatmap').count(), 0);
  });

  it('webviewHtml has a strict nonce CSP that blocks scripts without the nonce', async () => {
    const csp = contentSecurityPolicy('vscode-resource:', 'N0nce');
    assert.equal(csp, "default-src 'none'; img-src vscode-resource: data: blob:; style-src vscode-resource: 'nonce-N0nce'; font-src vscode-resource:; script-src 'nonce-N0nce'");
    const html = webviewHtml({ cspSource: 'file:', nonce: 'N0nce', scriptUri: './webview.js', styleUri: './webview.css' });
    assert.match(html, /<script nonce="N0nce" src="\.\/webview\.js"><\/script>/);
    assert.ok(!/<script(?![^>]*nonce)/.test(html.replace(/type="application\/json"/g, 'nonce')), 'every script carries the nonce');
    // Served as files, the way VS Code serves asWebviewUri resources, plus a script without nonce that must not run.
    const dir = join(OUT, 'csp');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'webview.js'), await webviewBundle());
    writeFileSync(join(dir, 'webview.css'), webviewCss());
    const evil = html.replace('</body>', '<script>window.__evil = 1;</script><img src="https://example.invalid/x.png"></body>');
    const prelude = `<script nonce="N0nce">window.__posted=[];window.acquireVsCodeApi=function(){return{postMessage:function(m){window.__posted.push(m)},getState:function(){},setState:function(){}}};</script>`;
    writeFileSync(join(dir, 'index.html'), evil.replace('<div id="app"', prelude + '<div id="app"'));
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (m) => m.type() === 'error' && violations.push(m.text()));
    await page.goto(pathToFileURL(join(dir, 'index.html')).href);
    await page.waitForFunction(() => (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'ready'));
    await page.evaluate((res) => window.postMessage({ type: 'result', result: res }, '*'), r as unknown as object);
    await page.waitForFunction(() => (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'rendered'));
    assert.equal(await page.evaluate(() => (window as unknown as { __evil?: number }).__evil), undefined, 'inline script without nonce is blocked');
    assert.ok(violations.some((v) => /Content Security Policy/.test(v)), 'the browser reports the blocked script/image');
    assert.equal(await page.locator('.node').count(), 32);
    // The stylesheet loaded through the CSP's style-src.
    assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('.toolbar')!).position), 'sticky');
    await page.close();
  });

  it('writes a standalone report that renders from file:// without a server', async () => {
    const fb = await engineResult('mlp3_seed0_testfull', { method: 'full-backward' });
    const js = await webviewBundle();
    for (const [name, input, panes] of [
      ['report.html', r, 1],
      ['report-compare.html', { left: r, right: fb }, 2],
    ] as const) {
      const html = renderHtmlReport(input, js, webviewCss());
      assert.ok(!/<script[^>]*\ssrc=/.test(html) && !/<link/.test(html), 'nothing external');
      const nonce = /'nonce-([A-Za-z0-9]+)'/.exec(html)?.[1];
      assert.ok(nonce && nonce.length >= 16);
      const file = join(OUT, name);
      writeFileSync(file, html);
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(String(e)));
      await page.goto(pathToFileURL(file).href);
      await page.locator('svg.network').first().waitFor();
      assert.equal(await page.locator('section.pane').count(), panes);
      assert.equal(await page.locator('svg.network[data-pane="0"] .node').count(), 32);
      assert.equal(await page.locator('.ledger').count(), panes);
      assert.deepEqual(problems, []);
      // The toolbar's export turns into a download.
      const download = page.waitForEvent('download');
      await page.click('button.export-json');
      const d = await download;
      assert.equal(d.suggestedFilename(), 'dtd-lens-report.json');
      await page.screenshot({ path: join(ROOT, 'test-output', 'screenshots', name.replace('.html', '.png')), fullPage: true });
      await page.close();
    }
  });
});
