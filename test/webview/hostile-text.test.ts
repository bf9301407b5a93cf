// Text from a model file is data in the webview too: layer and model names
// that look like HTML or command links are drawn as text (never parsed as
// markup), and the standalone report accepts window messages only from its
// own window, while the VS Code path keeps taking the host's messages.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { renderHtmlReport } from '../../extension/engine/report';
import type { ExplainResult } from '../../extension/protocol';
import { engineResult } from './fixtures';
import { launch, openWebview, ROOT, webviewBundle, webviewCss } from './harness';

const OUT = join(ROOT, 'test-output', 'webview');
const HTML_NAME = '<img src=x onerror="window.__pwned=1">';
const LINK_NAME = '[click](command:workbench.action.quit)';

function hostile(r: ExplainResult): ExplainResult {
  const copy = JSON.parse(JSON.stringify(r)) as ExplainResult;
  copy.model.name = `${HTML_NAME}.onnx`;
  copy.model.layers.forEach((l, i) => (l.name = i % 2 ? LINK_NAME : HTML_NAME));
  copy.diagnostics.layers.forEach((l, i) => (l.name = i % 2 ? LINK_NAME : HTML_NAME));
  copy.warnings = [...copy.warnings, `layer '${HTML_NAME}' ${LINK_NAME}`];
  return copy;
}

describe('hostile text in the webview and the report', () => {
  let browser: Browser;
  let r: ExplainResult;
  before(async () => {
    browser = await launch();
    r = hostile(await engineResult('mlp3_seed0_testfull', { method: 'train-free' }));
    mkdirSync(OUT, { recursive: true });
  });
  after(() => browser?.close());

  it('layer and model names that look like HTML or links are drawn as text', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r });
    const { page } = w;
    assert.equal(await page.locator('#app img').count(), 0, 'no element made from a name');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    const text = await page.locator('#app').innerText();
    assert.ok(text.includes(HTML_NAME) || text.includes(LINK_NAME), 'the names appear as text');
    assert.equal(await page.locator('#app a[href^="command:"]').count(), 0);
    assert.deepEqual(w.problems, []);
    await page.close();
  });

  it('the report ignores messages from other windows; its own still work', async () => {
    const file = join(OUT, 'report-hostile.html');
    writeFileSync(file, renderHtmlReport(r, await webviewBundle(), webviewCss()));
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    await page.goto(pathToFileURL(file).href);
    await page.locator('svg.network .node').first().waitFor();
    assert.equal(await page.locator('#app img').count(), 0);
    assert.equal(await page.title(), `DTD Lens report: ${HTML_NAME}.onnx`, 'the title is text');

    // Another window (a frame, an opener) or no window at all: ignored, silently.
    const state = await page.evaluate(() => {
      const frame = document.body.appendChild(document.createElement('iframe'));
      const clear = { type: 'clear' };
      window.dispatchEvent(new MessageEvent('message', { data: clear, source: frame.contentWindow, origin: window.origin }));
      window.dispatchEvent(new MessageEvent('message', { data: clear, source: null, origin: 'https://evil.example' }));
      window.dispatchEvent(new MessageEvent('message', { data: clear, source: window, origin: 'https://evil.example' }));
      frame.remove();
      return document.getElementById('app')!.getAttribute('data-state');
    });
    assert.notEqual(state, 'empty', 'the result is still shown');
    assert.ok((await page.locator('svg.network .node').count()) > 0);
    assert.equal(await page.locator('.errors *').count(), 0, 'no error shown for ignored messages');

    // The page's own message (as reportHost sends it) is accepted.
    await page.evaluate(() => window.postMessage({ type: 'clear' }, window.location.protocol === 'file:' ? '*' : window.origin));
    await page.waitForFunction(() => document.getElementById('app')!.getAttribute('data-state') === 'empty');
    assert.deepEqual(problems, []);
    await page.close();
  });
});
