// The model inspector page (extension/modelInspectorHtml.ts, drawn by the
// custom editor modelEditor.ts): one row per layer with what it reads — joins
// (add, concat) marked and naming their source layers — the output shape as
// C×H×W or n, conv/pool hyper-parameters in one line, the activation in words
// and the parameters; the input shape on top; the loader's notes as a visible
// "What DTD Lens assumed" list; and every text from the file escaped.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { esc, hyperText, inspectorBodyHtml, inspectorPageHtml, shapeText } from '../../extension/modelInspectorHtml';
import type { LayerSummary, ModelSummary } from '../../extension/protocol';
import { residualSummary } from '../helpers/graphSummary';

interface Row {
  layer: number;
  cls: string;
  kind: string;
  name: string;
  reads: string;
  /** The cell's text, tags stripped. */
  readsText: string;
  shape: string;
  hyper: string;
  act: string;
  params: string;
}

const text = (html: string) => html.replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').trim();

/** The rows of the layer table, read back from the HTML. */
function rows(html: string): Row[] {
  const out: Row[] = [];
  for (const m of html.matchAll(/<tr id="layer-(\d+)" class="([^"]*)"([^>]*)>([\s\S]*?)<\/tr>/g)) {
    const body = m[4];
    const cell = (cls: string) => body.match(new RegExp(`<t[dh][^>]*class="[^"]*\\b${cls}\\b[^"]*"[^>]*>([\\s\\S]*?)</t[dh]>`))?.[1] ?? '';
    const reads = body.match(/<td class="reads[^"]*" data-reads="([^"]*)"/)?.[1] ?? '';
    out.push({
      layer: Number(m[1]),
      cls: m[2],
      kind: text(cell('kind')),
      name: text(cell('name')),
      reads,
      readsText: text(cell('reads')),
      shape: text(cell('shape')),
      hyper: text(cell('hyper')),
      act: text(cell('act')),
      params: text(cell('params')),
    });
  }
  return out;
}

/** A hand-made summary of a small DenseNet-like graph (the shape a loader would give; no engine involved). */
function handMade(name = 'stem'): ModelSummary {
  const L = (l: Partial<LayerSummary> & Pick<LayerSummary, 'name' | 'kind'>): LayerSummary => ({ inFeatures: 0, outFeatures: 0, activation: 'linear', parameters: 0, ...l });
  return {
    name: 'dense.onnx',
    format: 'onnx',
    inputSize: 144,
    outputSize: 10,
    inputShape: [1, 12, 12],
    notes: ['Relu \'x\' applied twice', 'channels-last <converted> & "kept"'],
    layers: [
      L({ name, kind: 'conv2d', outShape: [4, 12, 12], kernel: [3, 3], stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], activation: 'relu', activationText: 'ReLU', parameters: 40 }),
      L({ name: 'b1', kind: 'conv2d', outShape: [4, 12, 12], kernel: [3, 3], stride: [1, 1], padding: [2, 2, 2, 2], dilation: [2, 2], groups: 4, activation: 'leakyrelu', activationText: 'LeakyReLU(0.1)', parameters: 40 }),
      L({ name: 'cat', kind: 'concat', inputs: [1, 2], outShape: [8, 12, 12] }),
      L({ name: 'b2', kind: 'conv2d', outShape: [4, 12, 12], kernel: [3, 3], stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], activation: 'clip', activationText: 'Clip[0, 6]', parameters: 292 }),
      L({ name: 'cat2', kind: 'concat', inputs: [1, 2, 4], outShape: [12, 12, 12] }),
      L({ name: 'pool', kind: 'maxpool2d', outShape: [12, 6, 6], kernel: [3, 2], stride: [2, 1], padding: [0, 1, 1, 0] }),
      L({ name: 'fc', kind: 'dense', outShape: [10], outFeatures: 10, parameters: 4330 }),
      L({ name: 'side', kind: 'dense', inputs: [4], outShape: [10], outFeatures: 10, parameters: 4330 }),
    ],
  };
}

describe('model inspector page', () => {
  test('hyper-parameters in one line: kernel · stride · padding, dilation and groups only when not 1', () => {
    const base = { name: 'c', kind: 'conv2d', inFeatures: 0, outFeatures: 0, activation: 'linear', parameters: 0 };
    assert.equal(hyperText({ ...base, kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 16 }), '3×3 · s2 · p1 · g16');
    assert.equal(hyperText({ ...base, kernel: [1, 1], stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1] }), '1×1 · s1 · p0');
    assert.equal(hyperText({ ...base, kernel: [3, 2], stride: [2, 1], padding: [0, 1, 1, 0] }), '3×2 · s2×1 · p0,1,1,0');
    assert.equal(hyperText({ ...base, kernel: [3, 3], stride: [1, 1], padding: [2, 2, 2, 2], dilation: [2, 2], groups: 1 }), '3×3 · s1 · p2 · d2');
    assert.equal(hyperText({ ...base, kind: 'dense' }), '');
    assert.equal(shapeText([16, 8, 8]), '16×8×8');
    assert.equal(shapeText([10]), '10');
  });

  test('a hand-made graph: rows in order with shapes, joins marked and naming their sources, branches, input shape, notes escaped', () => {
    const html = inspectorBodyHtml(handMade());
    const r = rows(html);
    assert.deepEqual(
      r.map((x) => [x.layer, x.name, x.shape]),
      [[0, 'input', '1×12×12'], [1, 'stem', '4×12×12 (read by 3)'], [2, 'b1', '4×12×12 (read by 2)'], [3, 'cat', '8×12×12'], [4, 'b2', '4×12×12 (read by 2)'], [5, 'cat2', '12×12×12'], [6, 'pool', '12×6×6'], [7, 'fc', '10'], [8, 'side', '10']],
    );
    // Joins: marked on the row and in the kind cell, reading several named layers.
    const joins = r.filter((x) => /\bjoin\b/.test(x.cls));
    assert.deepEqual(joins.map((x) => x.layer), [3, 5]);
    assert.equal(joins[0].reads, '1,2');
    assert.equal(joins[0].readsText, '← 1 stem← 2 b1');
    assert.match(joins[0].kind, /‖ concat · join of 2/);
    assert.equal(joins[1].reads, '1,2,4');
    assert.match(joins[1].kind, /join of 3/);
    // A layer that reads anything but the layer above is a branch and names its source; a chain layer does not.
    const side = r.find((x) => x.layer === 8)!;
    assert.match(side.cls, /\bbranch\b/);
    assert.equal(side.readsText, '← 4 b2');
    const fc = r.find((x) => x.layer === 7)!;
    assert.equal(fc.cls, 'layer');
    assert.equal(fc.reads, '6');
    // Hyper-parameters and activations in words.
    assert.deepEqual(
      r.slice(1).map((x) => [x.hyper, x.act]),
      [['3×3 · s1 · p1', 'ReLU'], ['3×3 · s1 · p2 · d2 · g4', 'LeakyReLU(0.1)'], ['', 'linear'], ['3×3 · s1 · p1', 'Clip[0, 6]'], ['', 'linear'], ['3×2 · s2×1 · p0,1,1,0', 'linear'], ['', 'linear'], ['', 'linear']],
    );
    assert.equal(r.find((x) => x.layer === 7)!.params, '4,330');
    // Input shape on top, and the summary line.
    assert.match(text(html.match(/<p class="input-shape"[\s\S]*?<\/p>/)![0]), /^Input: 1×12×12 \(C×H×W\) · 144 values$/);
    assert.match(text(html.match(/<p class="summary"[\s\S]*?<\/p>/)![0]), /onnx model · input 1×12×12 · output 10 · 8 layers \(2 joins\) · 9,032 parameters · every layer is supported/);
    // The notes: a visible list under its heading, escaped.
    const assumed = html.match(/<section class="assumed"[\s\S]*?<\/section>/)![0];
    assert.match(assumed, /<h2 id="assumed-h">What DTD Lens assumed<\/h2>/);
    assert.deepEqual([...assumed.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]), ['Relu &#39;x&#39; applied twice', 'channels-last &lt;converted&gt; &amp; &quot;kept&quot;']);
    assert.ok(!/\bhidden\b|<details/.test(assumed), 'the notes are not hidden');
  });

  test('a residual network built by the engine: add joins read the block input, the projection skip is a branch, the loader notes are listed', () => {
    const s = residualSummary();
    const html = inspectorBodyHtml(s);
    const r = rows(html);
    assert.equal(r.length, s.layers.length + 1);
    const byName = (n: string) => r.find((x) => x.name === n)!;
    const add1 = byName('/block1/Add');
    assert.match(add1.cls, /\bjoin\b/);
    assert.equal(add1.readsText, '← 3 /block1/conv2/Conv← 1 /conv1/Conv');
    assert.match(add1.kind, /⊕ add · join of 2/);
    assert.equal(add1.shape, '8×16×16 (read by 2)');
    assert.equal(add1.act, 'ReLU');
    const add2 = byName('/block2/Add');
    assert.equal(add2.readsText, '← 6 /block2/conv2/Conv← 7 /block2/downsample/0/Conv');
    const ds = byName('/block2/downsample/0/Conv');
    assert.match(ds.cls, /\bbranch\b/);
    assert.equal(ds.readsText, '← 4 /block1/Add');
    assert.equal(ds.hyper, '1×1 · s2 · p0');
    assert.equal(byName('/dw/Conv').hyper, '3×3 · s1 · p1 · g16');
    assert.equal(byName('/block2/conv1/Conv').hyper, '3×3 · s2 · p1');
    assert.match(byName('/cat/Concat').kind, /concat · join of 2/);
    assert.equal(byName('/cat/Concat').shape, '32×8×8');
    assert.equal(byName('/avgpool/GlobalAveragePool').hyper, '8×8 · s8 · p0');
    assert.equal(byName('/fc/Gemm').shape, '10');
    assert.equal(r[0].shape, '3×16×16');
    const notes = [...html.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]);
    assert.equal(notes.length, s.notes.length);
    assert.ok(notes.some((n) => /BatchNormalization &#39;\/bn1\/BatchNormalization&#39; folded into &#39;\/conv1\/Conv&#39;/.test(n)));
    assert.ok(notes.some((n) => /Softmax .* removed/.test(n)));
  });

  test('a model without notes says the loader assumed nothing', () => {
    const s = { ...handMade(), notes: [] };
    assert.match(inspectorBodyHtml(s), /What DTD Lens assumed<\/h2>\s*<p class="muted">The loader reported no assumptions/);
  });

  test('hostile names are text: no element, no attribute breaks out, the page keeps one nonce’d script', () => {
    const IMG = '<img src=x onerror=alert(1)>';
    const ATTR = 'x" onmouseover="alert(1)';
    const s = residualSummary({ '/block1/Add': IMG, '/conv1/Conv': ATTR });
    s.notes.push(`layer ${IMG} <script>alert(2)</script>`);
    const body = inspectorBodyHtml(s);
    const page = inspectorPageHtml('vscode-resource:', 'N0nce', `${IMG}.onnx`, body);
    assert.ok(!/<img/i.test(page), 'no <img> element');
    assert.ok(!/ onmouseover="/i.test(page), 'no attribute made from a name');
    assert.equal(page.match(/<script/gi)!.length, 1, 'only the page’s own script');
    assert.match(page, /<script nonce="N0nce">/);
    assert.match(page, /script-src 'nonce-N0nce'/);
    // The names are still shown (in escapeName's spelling, as the loader's notes quote them), in the row and where joins name them.
    const r = rows(body);
    assert.equal(r.find((x) => x.layer === 4)!.name, '‹img src=x onerror=alert（1）›');
    assert.equal(r.find((x) => x.layer === 1)!.name, 'x&quot; onmouseover=&quot;alert（1）');
    assert.match(r.find((x) => x.layer === 7)!.readsText, /← 4 ‹img src=x onerror=alert（1）›/);
    assert.match(page, /<title>‹img src=x onerror=alert（1）›\.onnx<\/title>/);
    assert.match(body, /<li>layer &lt;img src=x onerror=alert\(1\)&gt; &lt;script&gt;alert\(2\)&lt;\/script&gt;<\/li>/);
    assert.equal(esc(`<a href='x'>&"`), '&lt;a href=&#39;x&#39;&gt;&amp;&quot;');
  });
});
