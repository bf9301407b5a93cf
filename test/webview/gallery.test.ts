// The dataset gallery page in headless Chromium: the file `dtd-lens explain
// … --inputs DIR --html` writes (opened from file://, under its own CSP), and
// the same page as VS Code's panel shows it (a fake acquireVsCodeApi records
// what a click posts). Sorting, the summary, names as text, no CSP violations.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { GALLERY_DATA_ID, type GalleryPayload, webviewHtml } from '../../extension/protocol';
import { launch, ROOT, SCREENSHOTS } from './harness';

const CLI = join(ROOT, 'dist', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'dtd-gallery-'));
const dir = join(tmp, 'images');
const html = join(tmp, 'gallery.html');
const HOSTILE = '<img src=x onerror=alert(1)> "name".png';
let browser: Browser;

function png(file: string, w: number, f: (x: number, y: number) => [number, number, number]): void {
  const img = new PNG({ width: w, height: w });
  for (let y = 0; y < w; y++)
    for (let x = 0; x < w; x++) {
      const o = 4 * (y * w + x);
      [img.data[o], img.data[o + 1], img.data[o + 2]] = f(x, y);
      img.data[o + 3] = 255;
    }
  writeFileSync(file, PNG.sync.write(img));
}

async function pageOf(content: string | null, url?: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(String(e)));
  if (url) await page.goto(url, { waitUntil: 'load' });
  else await page.setContent(content!, { waitUntil: 'load' });
  await page.waitForSelector('.gallery-item');
  return { page, problems };
}

before(async () => {
  if (!existsSync(join(ROOT, 'dist', 'gallery.js'))) spawnSync(process.execPath, [join(ROOT, 'esbuild.mjs')], { cwd: ROOT, stdio: 'inherit' });
  mkdirSync(dir);
  for (let k = 0; k < 6; k++) png(join(dir, `img${k}.png`), 10, (x, y) => [(x * 25 + k * 40) % 256, (y * 25 * k) % 256, ((x + y) * 12 + 80 * k) % 256]);
  png(join(dir, HOSTILE), 10, (x, y) => [x * 20, 0, y * 20]);
  const r = spawnSync(process.execPath, [CLI, 'explain', join(ROOT, 'test', 'models', 'keras', 'cnn3x10_bn_gap_seed2.keras'), '--inputs', dir, '--output', 'argmax', '--html', html, '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

function payloadOf(file: string): GalleryPayload {
  const m = new RegExp(`<script type="application/json" id="${GALLERY_DATA_ID}">(.*?)</script>`, 's').exec(readFileSync(file, 'utf8'));
  return JSON.parse(m![1]) as GalleryPayload;
}

describe('the dataset gallery page', () => {
  test('the --html file from file://: every item drawn, the summary, sorting by f(x) and by roots outside, names as text, no CSP violation', async () => {
    const data = payloadOf(html);
    const { page, problems } = await pageOf(null, `file://${html}`);
    assert.equal(await page.locator('.gallery-item').count(), data.items.length);
    assert.equal(await page.locator('.gallery-item canvas').count(), 2 * data.items.length, 'an input and a heatmap per item');
    assert.equal(await page.locator('.gallery-mean canvas').count(), 1, 'the mean |R| map');
    assert.match((await page.locator('.gallery-summary').innerText()).replace(/\s+/g, ' '), new RegExp(`Inputs ${data.items.length} \\(${data.summary.ok} ok`));
    // The hostile name is shown as text: no element was made of it.
    assert.equal(await page.locator('img').count(), 0);
    assert.ok((await page.locator('.gallery-name').allInnerTexts()).includes(HOSTILE));
    const fx = async () => (await page.locator('.gallery-fx').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value')))));
    await page.selectOption('#gallery-sort', 'fx-desc');
    const desc = await fx();
    assert.deepEqual(desc, [...desc].sort((a, b) => b - a), 'sorted by f(x), largest first');
    assert.deepEqual([...desc].sort(), data.items.map((i) => i.explainedValue).sort());
    await page.selectOption('#gallery-sort', 'outside-desc');
    const outside = await page.locator('.gallery-outside').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    assert.deepEqual(outside, [...outside].sort((a, b) => b - a), 'sorted by roots outside, most first');
    await page.selectOption('#gallery-sort', 'error-desc');
    const err = await page.locator('.gallery-err').evaluateAll((els) => els.map((e) => Math.abs(Number(e.getAttribute('data-value')))));
    assert.deepEqual(err, [...err].sort((a, b) => b - a), 'sorted by |conservation error|');
    // Standalone: a click shows the item's details on the page.
    await page.locator('.gallery-item').first().click();
    await page.waitForSelector('.gallery-detail');
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'gallery-standalone.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });

  test('in VS Code (interactive): a click on an item posts openItem with its index', async () => {
    const data = { ...payloadOf(html), interactive: true };
    const page = webviewHtml({
      cspSource: '',
      nonce: 'galnonce1',
      scriptUri: '',
      styleUri: '',
      inlineScript: readFileSync(join(ROOT, 'dist', 'gallery.js'), 'utf8'),
      inlineStyle: readFileSync(join(ROOT, 'media', 'gallery.css'), 'utf8'),
      preludeScript: 'window.__posted = []; window.acquireVsCodeApi = function () { return { postMessage: function (m) { window.__posted.push(m); } }; };',
      dataBlocks: { [GALLERY_DATA_ID]: JSON.stringify(data).replace(/</g, '\\u003c') },
    });
    const { page: p, problems } = await pageOf(page);
    await p.locator('.gallery-item').nth(3).click();
    const posted = (await p.evaluate(() => (window as unknown as { __posted: unknown[] }).__posted)) as { type: string; inputIndex?: number; items?: number }[];
    assert.deepEqual(posted[0], { type: 'galleryRendered', items: data.items.length });
    assert.deepEqual(posted[1], { type: 'openItem', inputIndex: data.items[3].inputIndex });
    assert.equal(await p.locator('.gallery-detail').count(), 0, 'VS Code opens the full explanation instead of details');
    await p.screenshot({ path: join(SCREENSHOTS, 'gallery-vscode.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });
});
