// The model inspector's page (extension/modelInspectorHtml.ts, shown by the
// custom editor) in real Chromium, under its own CSP: a residual network built
// by the engine shows its join rows and the loader's notes, its nonce'd script
// runs (the Explain button posts, ↑/↓ move between rows, a "←" source button
// focuses the layer it names), nothing from the file becomes markup, and the
// VS Code theme's colours are used. Saves test-output/screenshots/inspector-graph.png.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { inspectorBodyHtml, inspectorPageHtml } from '../../extension/modelInspectorHtml';
import { residualSummary } from '../helpers/graphSummary';
import { launch, SCREENSHOTS } from './harness';

/** Some of VS Code's Dark Modern theme colours, as the workbench sets them on a webview's <html>. */
const DARK: Record<string, string> = {
  '--vscode-font-family': 'system-ui, sans-serif',
  '--vscode-font-size': '13px',
  '--vscode-editor-font-family': 'monospace',
  '--vscode-foreground': '#cccccc',
  '--vscode-editor-background': '#1f1f1f',
  '--vscode-descriptionForeground': '#9d9d9d',
  '--vscode-panel-border': '#2b2b2b',
  '--vscode-textLink-foreground': '#4daafc',
  '--vscode-focusBorder': '#0078d4',
  '--vscode-button-background': '#0078d4',
  '--vscode-button-foreground': '#ffffff',
  '--vscode-button-hoverBackground': '#026ec1',
  '--vscode-testing-iconPassed': '#73c991',
  '--vscode-editorInfo-foreground': '#3794ff',
  '--vscode-textBlockQuote-background': '#2b2b2b',
  '--vscode-editor-inactiveSelectionBackground': '#3a3d41',
  '--vscode-list-focusBackground': '#04395e',
};

async function openPage(browser: Browser, body: string, title: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(String(e)));
  // A string, not a function: tsx's transform would add helpers the page does not have.
  await page.addInitScript(`
    window.__posted = [];
    window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m) });
    document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));
  `);
  // Served from a URL (not setContent) so the init script with the fake VS Code API runs before the page's own.
  const html = inspectorPageHtml('', 'n0nceN0nce', title, body);
  await page.route('http://inspector.test/', (route) => route.fulfill({ contentType: 'text/html; charset=utf-8', body: html }));
  await page.goto('http://inspector.test/', { waitUntil: 'load' });
  // The workbench sets the theme's variables on the webview's root; so does this test (CSSOM, allowed by the CSP).
  await page.evaluate((vars) => {
    for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);
    document.body.style.background = 'var(--vscode-editor-background)';
  }, DARK);
  return { page, problems };
}

describe('model inspector page in Chromium', () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(() => browser?.close());

  it('a residual network: join rows and their sources, the notes, keyboard navigation, Explain posts; theme colours', async () => {
    const s = residualSummary();
    const { page, problems } = await openPage(browser, inspectorBodyHtml(s), 'res_graph.onnx');
    // Joins: two adds and a concat, marked and visible.
    const joins = page.locator('tr.join');
    assert.deepEqual(await joins.evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-layer'), r.getAttribute('data-kind')])), [['4', 'add'], ['8', 'add'], ['10', 'concat']]);
    assert.deepEqual(await page.locator('#layer-8 td.reads button.src').allInnerTexts(), ['← 6 /block2/conv2/Conv', '← 7 /block2/downsample/0/Conv']);
    assert.ok(await page.locator('#layer-8 .join-mark').isVisible());
    // The notes: visible without a click, one item each.
    const notes = page.locator('section.assumed li');
    assert.equal(await notes.count(), s.notes.length);
    assert.ok(await notes.first().isVisible());
    assert.equal(await page.locator('section.assumed h2').innerText(), 'What DTD Lens assumed');
    assert.match(await page.locator('[data-testid=input-shape]').innerText(), /Input: 3×16×16 \(C×H×W\)/);

    // Keyboard: the first row is the one tab stop of the table body; ↓/End move the focus; a source button focuses its layer.
    await page.locator('#layer-0').focus();
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'layer-1');
    await page.keyboard.press('End');
    assert.equal(await page.evaluate(() => document.activeElement?.id), `layer-${s.layers.length}`);
    assert.deepEqual(await page.locator('tbody tr[tabindex="0"]').evaluateAll((r) => r.map((x) => x.id)), [`layer-${s.layers.length}`], 'roving tab stop');
    await page.locator('#layer-8 button.src[data-target="7"]').focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'layer-7', 'Enter on "← 7" goes to layer 7');

    // Explain posts to the host.
    await page.locator('#explain').click();
    assert.deepEqual(await page.evaluate(() => (window as unknown as { __posted: unknown[] }).__posted), [{ type: 'explain' }]);

    // Theme colours come from VS Code's variables.
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).color), 'rgb(204, 204, 204)');
    assert.equal(await page.locator('#layer-8 .join-mark').evaluate((e) => getComputedStyle(e).color), 'rgb(77, 170, 252)');
    // Everything fits a 1280 px editor: the table needs no horizontal scrolling.
    assert.ok(await page.locator('.table-wrap').evaluate((e) => e.scrollWidth <= e.clientWidth), 'the layer table fits the page width');
    await page.locator('#layer-0').focus();
    await page.evaluate(() => window.scrollTo(0, 0));
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'inspector-graph.png'), fullPage: true });
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('hostile layer names and notes stay text under the CSP', async () => {
    const IMG = '<img src=x onerror="window.__pwned=1">';
    const s = residualSummary({ '/block1/Add': IMG });
    s.notes.push(`note ${IMG}<script>window.__pwned=2</script>`);
    const { page, problems } = await openPage(browser, inspectorBodyHtml(s), `${IMG}.onnx`);
    assert.equal(await page.locator('img').count(), 0);
    assert.equal(await page.locator('script').count(), 1, 'only the page’s own script');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.equal(await page.locator('#layer-4 th.name').innerText(), '‹img src=x onerror="window.__pwned=1"›');
    assert.equal(await page.locator('section.assumed li').last().innerText(), `note ${IMG}<script>window.__pwned=2</script>`);
    assert.deepEqual(problems, []);
    await page.close();
  });
});
