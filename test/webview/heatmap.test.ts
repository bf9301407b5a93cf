// The input heatmap (webview/heatmap.ts, palettes.ts) in real Chromium, on results of the
// real engine: a 784-input MLP (torch 1.13 state dict, sidecar inputShape [1, 28, 28]) and a
// 3-channel CNN. The large heatmap and its colour bar (±max|R|), the hovered value, the
// opacity slider over the input image, zennit's palettes (colours as zennit.image.CMAPS
// defines them, written out here independently of palettes.ts), per-channel maps, the
// dtdLens.inputShape setting, PNG export, and a screenshot for the README.

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { explain, loadModel } from '../../extension/engine';
import { outputs } from '../../extension/engine/forward';
import type { ExplainResult, WebviewToHost } from '../../extension/protocol';
import { fmt } from '../../webview/dom';
import { CONV_FIXTURES_DIR, loadFixture } from '../helpers/fixtures';
import { launch, openWebview, ROOT, SCREENSHOTS, type WebviewPage } from './harness';

const TORCH = join(ROOT, 'test', 'fixtures', 'real', 'torch');
const bytes = (f: string) => new Uint8Array(readFileSync(f));

async function mlp784(withSidecar: boolean): Promise<ExplainResult> {
  const sidecar = withSidecar ? JSON.parse(readFileSync(join(TORCH, 'mlp784_zip.dtd.json'), 'utf8')) : undefined;
  const net = loadModel(bytes(join(TORCH, 'mlp784_zip.pt')), 'mlp784_zip.pt', { sidecar });
  // A digit-like input: a bright ring (a zero) on a dark background, normalised as MNIST pipelines do
  // ((x − 0.1307) / 0.3081), so the image is recognisable under the heatmap.
  const x = Array.from({ length: 784 }, (_, i) => {
    const r = Math.floor(i / 28) - 13.5;
    const c = (i % 28) - 13.5;
    const d = Math.hypot(r, c * 1.4);
    return ((d > 6 && d < 10 ? 1 : 0) - 0.1307) / 0.3081;
  });
  // The largest output (a positive logit, so z+ has relevance to spread).
  const y = outputs(net, x);
  const top = Array.from(y).reduce((b, v, i, a) => (v > a[b] ? i : b), 0);
  assert.ok(y[top] > 0, `positive output to explain: ${Array.from(y)}`);
  return explain(net, x, { rule: 'z+', method: 'train-free', explainedOutput: top });
}

const maxAbs = (v: number[]) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** The colour of pixel (col, row) of the n-th large heatmap canvas, as drawn (not through the opacity). */
function pixel(w: WebviewPage, i: number, n = 0): Promise<number[]> {
  return w.page.evaluate(
    ([i, n]) => {
      const c = document.querySelectorAll('canvas.heat-relevance')[n] as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(i % c.width, Math.floor(i / c.width), 1, 1).data;
      return [d[0], d[1], d[2]];
    },
    [i, n] as const,
  );
}

/** Moves the pointer to the centre of pixel (row, col) of the n-th large heatmap. */
async function hover(w: WebviewPage, row: number, col: number, size: number, n = 0): Promise<void> {
  const canvas = w.page.locator('canvas.heat-relevance').nth(n);
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  assert.ok(box);
  await w.page.mouse.move(box.x + ((col + 0.5) * box.width) / size, box.y + ((row + 0.5) * box.height) / size);
}

describe('input heatmap', () => {
  let browser: Browser;
  let r: ExplainResult;
  before(async () => {
    browser = await launch();
    r = await mlp784(true);
  });
  after(() => browser?.close());

  it('a 784-MLP result with shapes[0] = [1, 28, 28] draws as a large 28×28 heatmap with a colour bar whose end labels are ±max|R|', async () => {
    assert.deepEqual(r.shapes?.[0], [1, 28, 28]);
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r, settings: { topK: 4 } });
    assert.equal(await w.page.getAttribute('.heatmap', 'data-shape'), '28x28x1');
    assert.match((await w.page.textContent('.heatmap h3')) ?? '', /28×28 \(result\)/);
    const size = await w.page.$eval('canvas.heat-relevance', (c) => {
      const el = c as HTMLCanvasElement;
      const b = el.getBoundingClientRect();
      return [el.width, el.height, Math.round(b.width), Math.round(b.height)];
    });
    assert.deepEqual(size, [28, 28, 336, 336], 'one canvas pixel per input, 12 px per unit on screen');
    const m = maxAbs(r.relevance[0]!);
    assert.ok(m > 0);
    const ends = await w.page.$$eval('svg.colorbar text.tick', (ts) => ts.map((t) => [t.getAttribute('class'), t.getAttribute('data-value'), t.textContent]));
    assert.deepEqual(ends[0], ['tick max', String(m), fmt(m)]);
    assert.deepEqual(ends[2], ['tick zero', '0', '0']);
    assert.deepEqual(ends[4], ['tick min', String(-m), fmt(-m)]);
    assert.equal(ends.length, 5);
    // The colour bar is as tall as the heatmap and its top slice is the palette's +end side (red for bwr).
    const bar = await w.page.$eval('svg.colorbar', (s) => [Number(s.getAttribute('height')), s.querySelector('rect')!.getAttribute('fill')]);
    assert.equal(bar[0], 336);
    assert.match(String(bar[1]), /^rgb\(255,\d+,\d+\)$/);
    // The most relevant input unit is drawn in the +end colour (bwr on a light theme: pure red).
    const rel = r.relevance[0]!;
    const iMax = rel.reduce((b, v, i) => (Math.abs(v) > Math.abs(rel[b]) ? i : b), 0);
    assert.deepEqual(await pixel(w, iMax), rel[iMax] > 0 ? [255, 0, 0] : [0, 0, 255]);
    assert.deepEqual(w.problems, []);
  });

  it('hovering a pixel shows its row, column, relevance (5 significant digits) and input value; arrow keys move the cursor', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r });
    const rel = r.relevance[0]!;
    const i = rel.reduce((b, v, k) => (Math.abs(v) > Math.abs(rel[b]) ? k : b), 0);
    const [row, col] = [Math.floor(i / 28), i % 28];
    await hover(w, row, col, 28);
    const text = (await w.page.textContent('.heat-readout')) ?? '';
    assert.ok(text.includes(`row ${row}, column ${col}`), text);
    assert.equal(await w.page.getAttribute('.heat-readout .heat-value', 'data-value'), String(rel[i]));
    assert.equal(await w.page.textContent('.heat-readout .heat-value'), fmt(rel[i]));
    assert.ok(/^-?\d\.\d{3}e[+-]\d+$|^-?[\d.]+$/.test(fmt(rel[i])) && fmt(rel[i]).replace(/^-?0?\.?0*|e.*$|\./g, '').length <= 5, `at most 5 significant digits: ${fmt(rel[i])}`);
    assert.equal(await w.page.textContent('.heat-readout .heat-input-value'), fmt(r.input[i]));
    // A different pixel: a different reading.
    await hover(w, 0, 0, 28);
    assert.ok(((await w.page.textContent('.heat-readout')) ?? '').includes('row 0, column 0'));
    assert.equal(await w.page.getAttribute('.heat-readout .heat-value', 'data-value'), String(rel[0]));
    // Keyboard: focus the image, then arrows.
    await w.page.focus('.heat-stack');
    await w.page.keyboard.press('ArrowRight');
    await w.page.keyboard.press('ArrowDown');
    assert.deepEqual([await w.page.getAttribute('.heat-readout', 'data-row'), await w.page.getAttribute('.heat-readout', 'data-col')], ['1', '1']);
    assert.equal(await w.page.getAttribute('.heat-readout .heat-value', 'data-value'), String(rel[29]));
    // The arrows stayed in the heatmap: no unit of the network view got selected.
    assert.equal((await w.posted()).filter((m) => m.type === 'select').length, 0);
  });

  it('the overlay slider changes the heatmap opacity over the input image (mouse and keyboard)', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r });
    const opacity = () => w.page.$eval('canvas.heat-relevance', (c) => getComputedStyle(c).opacity);
    assert.equal(await opacity(), '0.7');
    await w.page.fill('input.heat-opacity', '40');
    assert.equal(await opacity(), '0.4');
    assert.equal(await w.page.textContent('.heat-opacity-value'), '40 %');
    await w.page.focus('input.heat-opacity');
    await w.page.keyboard.press('ArrowRight');
    assert.equal(await opacity(), '0.45');
    // Under it, the input image: the ring's pixels are white, the background black (min–max).
    const px = await w.page.evaluate(() => {
      const c = document.querySelector('canvas.heat-input') as HTMLCanvasElement;
      const g = c.getContext('2d')!;
      return [[...g.getImageData(0, 0, 1, 1).data].slice(0, 3), [...g.getImageData(14, 6, 1, 1).data].slice(0, 3)];
    });
    assert.ok(r.input[6 * 28 + 14] > r.input[0], 'pixel (6, 14) is on the ring');
    assert.deepEqual(px, [[0, 0, 0], [255, 255, 255]]);
    // The next result keeps the chosen opacity.
    await w.send({ type: 'result', result: r });
    assert.equal(await opacity(), '0.45');
  });

  it("each palette maps −max, 0 and +max to the colours zennit's CMAPS define; the default follows the theme", async () => {
    // Expected colours from zennit.image.CMAPS sources (first, centre 0x80, last colour).
    const zennit: Record<string, [string, string, string]> = {
      bwr: ['0000ff', 'ffffff', 'ff0000'],
      coldnhot: ['00ffff', '000000', 'ffffff'],
      france: ['0055a4', 'ffffff', 'ef4135'],
      seismic: ['0000d0', 'd0d0d0', 'd00000'],
      coolio: ['00d0d0', 'd0d0d0', 'd000d0'],
      coleus: ['00d000', 'd0d0d0', 'd000d0'],
    };
    const rgb = (s: string) => [0, 2, 4].map((k) => parseInt(s.slice(k, k + 2), 16));
    // The relevance to draw: +2.5 at pixel 0, −2.5 at pixel 1, 0 elsewhere.
    const synthetic = structuredClone(r);
    synthetic.relevance[0] = Array.from({ length: 784 }, (_, i) => (i === 0 ? 2.5 : i === 1 ? -2.5 : 0));
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: synthetic });
    assert.equal(await w.page.getAttribute('.heatmap', 'data-palette'), 'bwr', 'light theme: bwr');
    const names = await w.page.$$eval('select.heat-palette option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    assert.deepEqual(names.filter((n) => n !== 'theme').sort(), Object.keys(zennit).sort());
    for (const [name, [neg, zero, pos]] of Object.entries(zennit)) {
      await w.page.selectOption('select.heat-palette', name);
      assert.equal(await w.page.getAttribute('.heatmap', 'data-palette'), name);
      assert.deepEqual(await pixel(w, 0), rgb(pos), `${name}: +max`);
      assert.deepEqual(await pixel(w, 1), rgb(neg), `${name}: −max`);
      assert.deepEqual(await pixel(w, 2), rgb(zero), `${name}: 0`);
    }
    // The theme palette: the theme's positive / negative colours, its neutral at 0.
    await w.page.selectOption('select.heat-palette', 'theme');
    const theme = await w.page.evaluate(() => {
      const probe = document.createElement('div');
      document.body.append(probe);
      const out: number[][] = [];
      for (const v of ['--dtd-positive', '--dtd-negative']) {
        probe.style.color = getComputedStyle(document.body).getPropertyValue(v).trim();
        out.push(getComputedStyle(probe).color.match(/\d+/g)!.slice(0, 3).map(Number));
      }
      return out;
    });
    assert.deepEqual(await pixel(w, 0), theme[0]);
    assert.deepEqual(await pixel(w, 1), theme[1]);
    // A dark theme's default is coldnhot (black at 0, as the background).
    const dark = await openWebview(browser, { theme: 'vscode-dark' });
    await dark.send({ type: 'result', result: synthetic });
    assert.equal(await dark.page.getAttribute('.heatmap', 'data-palette'), 'coldnhot');
    assert.deepEqual(await pixel(dark, 2), [0, 0, 0]);
    assert.deepEqual(w.problems, []);
  });

  it('dtdLens.inputShape draws a vector-input result as an image; a shape that does not fit is ignored with a note', async () => {
    const plain = await mlp784(false);
    assert.ok(!plain.shapes || plain.shapes[0].length === 1, 'no image shape from the model');
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: plain, settings: { topK: 4, inputShape: [1, 28, 28] } });
    assert.equal(await w.page.getAttribute('.heatmap', 'data-shape'), '28x28x1');
    assert.match((await w.page.textContent('.heatmap h3')) ?? '', /28×28 \(dtdLens\.inputShape\)/);
    assert.deepEqual(await w.page.$eval('canvas.heat-relevance', (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]), [28, 28]);
    await w.send({ type: 'result', result: plain, settings: { topK: 4, inputShape: [1, 28, 27] } });
    // 784 is a square: drawn as the assumed square, and the note says why the setting was not used.
    assert.match((await w.page.textContent('.heatmap h3')) ?? '', /assumed square/);
    assert.match((await w.page.textContent('.heat-shape-note')) ?? '', /dtdLens\.inputShape \[1, 28, 27\] has 756 values, but the input has 784: ignored/);
    // The model's own shape wins over the setting.
    await w.send({ type: 'result', result: r, settings: { topK: 4, inputShape: [4, 14, 14] } });
    assert.match((await w.page.textContent('.heatmap h3')) ?? '', /28×28 \(result\)/);
    assert.match((await w.page.textContent('.heat-shape-note')) ?? '', /model's own input shape is used/);
  });

  it('a 3-channel input: the Σ map, per-channel maps on a shared scale, the channel select and thumbnails', async () => {
    const fx = loadFixture('cnn3x10_bn_gap_seed2', CONV_FIXTURES_DIR);
    const net = loadModel(bytes(join(CONV_FIXTURES_DIR, 'cnn3x10_bn_gap_seed2.onnx')), 'cnn3x10_bn_gap_seed2.onnx');
    const x = (fx.input.x as unknown[]).flat(Infinity) as number[];
    const cr = await explain(net, x, { rule: 'z+', method: 'train-free', explainedOutput: fx.explanations?.[0]?.explained_output ?? 0 });
    assert.deepEqual(cr.shapes?.[0], [3, 10, 10]);
    const rel = cr.relevance[0]!;
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: cr });
    assert.equal(await w.page.getAttribute('.heatmap', 'data-shape'), '10x10x3');
    assert.deepEqual(await w.page.$$eval('select.heat-channel option', (os) => os.map((o) => (o as HTMLOptionElement).value)), ['sum', '0', '1', '2']);
    assert.equal(await w.page.locator('.heat-channels .heat-thumb-button').count(), 4);
    const sum = Array.from({ length: 100 }, (_, i) => rel[i] + rel[100 + i] + rel[200 + i]);
    const sumMax = maxAbs(sum);
    assert.equal(await w.page.getAttribute('svg.colorbar text.tick.max', 'data-value'), String(sumMax));
    await hover(w, 3, 4, 10);
    const sumShown = Number(await w.page.getAttribute('.heat-readout .heat-value', 'data-value'));
    assert.ok(Math.abs(sumShown - sum[34]) <= 1e-12 * Math.max(1, Math.abs(sum[34])), `Σ at (3,4): ${sumShown} vs ${sum[34]}`);
    assert.match((await w.page.textContent('.heat-readout')) ?? '', /Σ of 3 channels/);
    // Channel 1: its own values, on the scale shared by the channels.
    await w.page.selectOption('select.heat-channel', '1');
    const chMax = maxAbs(rel);
    assert.equal(await w.page.getAttribute('svg.colorbar text.tick.max', 'data-value'), String(chMax));
    await hover(w, 3, 4, 10);
    assert.equal(await w.page.getAttribute('.heat-readout .heat-value', 'data-value'), String(rel[100 + 34]));
    assert.match((await w.page.textContent('.heat-readout')) ?? '', /channel 1 ·/);
    // A thumbnail button selects its channel (keyboard: it is a button).
    await w.page.focus('.heat-thumb-button[data-channel="2"]');
    await w.page.keyboard.press('Enter');
    assert.equal(await w.page.inputValue('select.heat-channel'), '2');
    assert.equal(await w.page.getAttribute('canvas.heat-relevance', 'data-channel'), '2');
    assert.deepEqual(w.problems, []);
  });

  it('PNG button: the heatmap with its colour bar is exported through the toolbar export message, with provenance', async () => {
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: r });
    await w.page.click('button.heat-export');
    const [m] = (await w.waitFor('exported', 1)) as Extract<WebviewToHost, { type: 'exported' }>[];
    assert.equal(m.format, 'png');
    assert.equal(m.requestId, 0);
    const buf = Buffer.from(m.data.slice(m.data.indexOf(',') + 1), 'base64');
    assert.equal(buf.subarray(12, 16).toString('ascii'), 'IHDR');
    // 12 + 336 + 12 + 92 (colour bar) + 12 px wide, at pixel ratio 2.
    assert.equal(buf.readUInt32BE(16), 2 * (12 + 336 + 12 + 92 + 12));
    assert.ok(buf.includes(Buffer.from('dtd-lens-provenance')), 'provenance chunk');
    assert.ok(buf.includes(Buffer.from(r.provenance.engineVersion)), 'engine version in the provenance');
  });

  it('screenshot of the input heatmap with colour bar and overlay (docs/images/input-heatmap.png)', async () => {
    const w = await openWebview(browser, { width: 1300, height: 900 });
    await w.send({ type: 'result', result: r });
    await w.page.fill('input.heat-opacity', '65');
    const rel = r.relevance[0]!;
    const i = rel.reduce((b, v, k) => (Math.abs(v) > Math.abs(rel[b]) ? k : b), 0);
    await hover(w, Math.floor(i / 28), i % 28, 28);
    mkdirSync(SCREENSHOTS, { recursive: true });
    const path = join(SCREENSHOTS, 'input-heatmap.png');
    await w.page.locator('section.heatmap').screenshot({ path });
    if (process.env.DTD_UPDATE_DOCS_IMAGES) copyFileSync(path, join(ROOT, 'docs', 'images', 'input-heatmap.png'));
  });
});
