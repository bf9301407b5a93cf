// Image and image-shaped inputs: PNG/JPEG decoded and preprocessed (resize,
// channel order, grey, scaling, mean/std) into C-major [C, H, W]; nested JSON
// arrays [C][H][W] and [1][C][H][W]; the errors for each way it can go wrong.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { parseInput } from '../../extension/engine/input';
import { parsePreprocessing, preprocessingFromSidecar } from '../../extension/engine/image';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';
import { flat } from './formats-helpers';
import { expectDtdError } from '../helpers/errors';

/** A PNG from rows of [r, g, b] pixels. */
function png(pixels: number[][][], alpha = 255): Uint8Array {
  const h = pixels.length;
  const w = pixels[0].length;
  const img = new PNG({ width: w, height: h });
  pixels.forEach((row, y) => row.forEach(([r, g, b], x) => img.data.set([r, g, b, alpha], (y * w + x) * 4)));
  return new Uint8Array(PNG.sync.write(img));
}

function badInput(fn: () => unknown, ...fragments: string[]): void {
  expectDtdError(fn, 'bad-input', ...fragments);
}

const px = [
  [[10, 20, 30], [40, 50, 60]],
  [[70, 80, 90], [100, 110, 120]],
];

test('PNG at the model size: RGB planes, C-major, scaled to 0..1', () => {
  const x = parseInput(png(px), 'img.png', 12, { shape: [3, 2, 2] });
  assert.deepEqual(Array.from(x), [10, 40, 70, 100, 20, 50, 80, 110, 30, 60, 90, 120].map((v) => v / 255));
});

test('PNG: BGR order, 0..255 scale, per-channel mean/std', () => {
  const x = parseInput(png(px), 'img.png', 12, { shape: [3, 2, 2], preprocessing: { channelOrder: 'bgr', scale: '0..255', mean: [1, 2, 3], std: [2, 4, 8] } });
  assert.deepEqual(Array.from(x), [
    ...[30, 60, 90, 120].map((v) => (v - 1) / 2),
    ...[20, 50, 80, 110].map((v) => (v - 2) / 4),
    ...[10, 40, 70, 100].map((v) => (v - 3) / 8),
  ]);
  const y = parseInput(png(px), 'img.png', 12, { shape: [3, 2, 2], preprocessing: { scale: '-1..1' } });
  assert.equal(y[0], 10 / 127.5 - 1);
});

test('PNG → one channel: BT.601 luma or the average', () => {
  const luma = parseInput(png(px), 'img.png', 4, { shape: [1, 2, 2], preprocessing: { scale: '0..255' } });
  px.flat().forEach(([r, g, b], i) => assert.ok(Math.abs(luma[i] - (0.299 * r + 0.587 * g + 0.114 * b)) < 1e-12));
  const avg = parseInput(png(px), 'img.png', 4, { shape: [1, 2, 2], preprocessing: { scale: '0..255', grayscale: 'average' } });
  px.flat().forEach(([r, g, b], i) => assert.ok(Math.abs(avg[i] - (r + g + b) / 3) < 1e-12));
});

test('bilinear resize with half-pixel centres: upscale 2→4 and downscale 4→2', () => {
  // One row [0, 255] → 4 columns: sources −0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1).
  const up = parseInput(png([[[0, 0, 0], [255, 255, 255]]]), 'up.png', 4, { shape: [1, 1, 4], preprocessing: { scale: '0..255', grayscale: 'average' } });
  assert.deepEqual(Array.from(up).map((v) => Math.round(v * 1e9) / 1e9), [0, 63.75, 191.25, 255]);
  // 4 → 2: sources 0.5 and 2.5, the mean of each pair.
  const down = parseInput(png([[[0, 0, 0], [100, 100, 100], [200, 200, 200], [250, 250, 250]]]), 'down.png', 2, { shape: [1, 1, 2], preprocessing: { scale: '0..255', grayscale: 'average' } });
  assert.deepEqual(Array.from(down).map((v) => Math.round(v * 1e9) / 1e9), [50, 225]);
  badInput(() => parseInput(png(px), 'img.png', 9, { shape: [1, 3, 3], preprocessing: { resize: 'none' } }), 'img.png', 'the image is 2×2 but the model takes 3×3');
});

test('JPEG: a flat colour decodes to that colour (within JPEG rounding)', () => {
  const w = 16;
  const h = 8;
  const data = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([200, 100, 50, 255], i * 4);
  const bytes = new Uint8Array(jpeg.encode({ width: w, height: h, data }, 100).data);
  const x = parseInput(bytes, 'photo.jpg', 3 * 4 * 8, { shape: [3, 4, 8], preprocessing: { scale: '0..255' } });
  const plane = 32;
  for (let i = 0; i < plane; i++) {
    assert.ok(Math.abs(x[i] - 200) <= 3 && Math.abs(x[plane + i] - 100) <= 3 && Math.abs(x[2 * plane + i] - 50) <= 3, `pixel ${i}: ${x[i]}, ${x[plane + i]}, ${x[2 * plane + i]}`);
  }
});

test('image errors: vector model, truncated PNG and JPEG, 2-channel model, huge PNG, bad preprocessing', () => {
  badInput(() => parseInput(png(px), 'img.png', 12), 'img.png: is a PNG image, but the model takes a vector of 12 values');
  const p = png(px);
  badInput(() => parseInput(p.slice(0, 40), 'cut.png', 12, { shape: [3, 2, 2] }), 'cut.png: is not a readable PNG image');
  const data = new Uint8Array(8 * 8 * 4).fill(128);
  const j = new Uint8Array(jpeg.encode({ width: 8, height: 8, data }, 90).data);
  badInput(() => parseInput(j.slice(0, 30), 'cut.jpg', 12, { shape: [3, 2, 2] }), 'cut.jpg: is not a readable JPEG image');
  badInput(() => parseInput(png(px), 'img.png', 8, { shape: [2, 2, 2] }), "the model's input has 2 channels");
  // A header claiming 100000 × 100000 pixels is refused before anything is inflated.
  const huge = png(px);
  new DataView(huge.buffer).setUint32(16, 100000);
  new DataView(huge.buffer).setUint32(20, 100000);
  badInput(() => parseInput(huge, 'huge.png', 12, { shape: [3, 2, 2] }), 'huge.png: the PNG is 100000×100000 pixels, more than the 50 megapixels');
  badInput(() => parseInput(png(px), 'img.png', 12, { shape: [3, 2, 2], preprocessing: { mean: [1, 2] } }), 'preprocessing.mean has 2 values but the model');
  const fail = (m: string) => new Error(m);
  assert.throws(() => parsePreprocessing({ scale: '0..100' }, fail), /preprocessing\.scale must be "0\.\.1" or "0\.\.255" or "-1\.\.1" \(got "0\.\.100"\)/);
  assert.throws(() => parsePreprocessing({ normalize: true }, fail), /unknown keys "normalize"/);
  assert.throws(() => parsePreprocessing({ std: [1, 0, 1] }, fail), /must not contain 0/);
  assert.deepEqual(parsePreprocessing({ mean: 0.5, channelOrder: 'bgr' }, fail), { mean: [0.5], channelOrder: 'bgr' });
});

test('the sidecar "preprocessing" of the normalised conv fixture reproduces its input from the raw pixels u', () => {
  const fx = JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, 'cnn3x10_signed_maxpool_floor_seed4.json'), 'utf8'));
  const sidecar = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', 'models', 'conv', 'cnn3x10_signed_maxpool_floor_seed4.dtd.json'), 'utf8'));
  const pre = preprocessingFromSidecar(sidecar)!;
  assert.deepEqual(pre, { scale: '0..1', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  // u is float32 in [0, 1): not 8-bit pixels, so check the normalisation on 8-bit pixels made from it instead.
  const u = fx.input.u[0] as number[][][];
  const pixels = u[0].map((row, y) => row.map((_, x) => [0, 1, 2].map((c) => Math.round(u[c][y][x] * 255))));
  const x = parseInput(png(pixels), 'u.png', 300, { shape: [3, 10, 10], preprocessing: pre });
  for (let c = 0; c < 3; c++) for (let i = 0; i < 100; i++) {
    const v = pixels[Math.floor(i / 10)][i % 10][c];
    assert.ok(Math.abs(x[c * 100 + i] - (v / 255 - pre.mean![c]) / pre.std![c]) < 1e-12);
  }
});

test('nested JSON arrays: [C][H][W], [1][C][H][W], fixture input.x; wrong shapes say what is expected', () => {
  const chw = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]];
  const t = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  assert.deepEqual(Array.from(parseInput(t(chw), 'a.json', 8, { shape: [2, 2, 2] })), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(Array.from(parseInput(t([chw]), 'a.json', 8, { shape: [2, 2, 2] })), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(Array.from(parseInput(t({ x: [chw] }), 'a.json', 8, { shape: [2, 2, 2] })), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(Array.from(parseInput(t([1, 2, 3, 4, 5, 6, 7, 8]), 'a.json', 8, { shape: [2, 2, 2] })), [1, 2, 3, 4, 5, 6, 7, 8]);
  const hwc = [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]; // [2][2][3]
  badInput(() => parseInput(t(hwc), 'hwc.json', 12, { shape: [3, 2, 2] }), 'hwc.json: is a nested array of shape [2, 2, 3], but the model takes [C, H, W] = [3, 2, 2]', 'looks channels-last');
  badInput(() => parseInput(t(chw), 'v.json', 8), 'is a nested array of shape [2, 2, 2], but the model takes a vector of values');
  badInput(() => parseInput(t([[[1, 2], [3]], [[4, 5], [6, 7]]]), 'r.json', 8, { shape: [2, 2, 2] }), 'ragged');
  const file = path.join(CONV_FIXTURES_DIR, 'cnn3x10_bn_gap_seed2.json');
  const fx = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.deepEqual(Array.from(parseInput(new Uint8Array(fs.readFileSync(file)), file, 300, { shape: [3, 10, 10] })), flat(fx.input.x));
});
