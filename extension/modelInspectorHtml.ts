// The "DTD Lens Model Inspector" page as pure functions: a ModelSummary in,
// an HTML string out (no vscode, no DOM), so unit tests and the screenshot
// script render exactly what the custom editor (modelEditor.ts) shows.
//
// The page shows the graph: one row per layer with what it reads (joins —
// add, concat — read several layers and are marked; a layer that reads
// anything but the layer right above it is a branch), its output shape, the
// kernel/stride/padding/dilation/groups of conv and pool layers, its
// activation in words and its parameters; the input shape on top; and the
// loader's notes as "What DTD Lens assumed". Everything from the file is data:
// names pass through the protocol's escapeName (the spelling the loader's notes
// use) and then HTML-escaping; the page runs only its own nonce'd script.

import type { LayerSummary, ModelSummary } from './protocol';
import { escapeName } from './protocol';

/** HTML-escapes text for element content and double- or single-quoted attributes. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A name from the file, as the page shows it (escapeName's spelling, HTML-escaped). */
function nameHtml(name: unknown): string {
  return esc(escapeName(name));
}

const isJoin = (kind: string) => kind === 'add' || kind === 'concat';

/** [C, H, W] → "C×H×W", [n] → "n". */
export function shapeText(shape: readonly number[] | undefined): string {
  return shape && shape.length ? shape.map((d) => String(d)).join('×') : '—';
}

const same = (v: readonly number[]) => v.every((x) => x === v[0]);

/** Conv/pool hyper-parameters in one line: "3×3 · s2 · p1 · g16" (dilation and groups only when not 1). */
export function hyperText(l: LayerSummary): string {
  if (!l.kernel) return '';
  const parts = [l.kernel.join('×')];
  if (l.stride) parts.push(`s${same(l.stride) ? l.stride[0] : l.stride.join('×')}`);
  // padding is [top, left, bottom, right]
  if (l.padding) parts.push(`p${same(l.padding) ? l.padding[0] : l.padding.join(',')}`);
  if (l.dilation && !l.dilation.every((d) => d === 1)) parts.push(`d${same(l.dilation) ? l.dilation[0] : l.dilation.join('×')}`);
  if (l.groups && l.groups > 1) parts.push(`g${l.groups}`);
  return parts.join(' · ');
}

/** What hyperText abbreviates, for the cell's tooltip. */
function hyperTitle(l: LayerSummary): string {
  if (!l.kernel) return '';
  const parts = [`kernel ${l.kernel.join('×')}`];
  if (l.stride) parts.push(`stride ${l.stride.join('×')}`);
  if (l.padding) parts.push(`padding ${l.padding.join(', ')} (top, left, bottom, right)`);
  if (l.dilation) parts.push(`dilation ${l.dilation.join('×')}`);
  if (l.groups) parts.push(`${l.groups} group${l.groups === 1 ? '' : 's'}`);
  return parts.join(', ');
}

/** The tensors layer `i` (0-based) reads: its `inputs`, or the previous layer's output (tensor i). */
export function inputsOf(l: LayerSummary, i: number): number[] {
  return l.inputs && l.inputs.length ? l.inputs : [i];
}

function tensorName(s: ModelSummary, t: number): string {
  return t === 0 ? 'input' : nameHtml(s.layers[t - 1]?.name ?? `tensor ${t}`);
}

/** How many layers read each tensor (index 0 = the input). */
function readers(s: ModelSummary): number[] {
  const n = new Array<number>(s.layers.length + 1).fill(0);
  s.layers.forEach((l, i) => {
    for (const t of inputsOf(l, i)) if (t >= 0 && t < n.length) n[t]++;
  });
  return n;
}

function readsCell(s: ModelSummary, l: LayerSummary, i: number): string {
  const ins = inputsOf(l, i);
  const chain = ins.length === 1 && ins[0] === i;
  if (chain) return `<td class="reads chain" data-reads="${ins.join(',')}"><span class="muted" title="the output of the layer above">← ${ins[0]}</span></td>`;
  const srcs = ins
    .map(
      (t) =>
        `<button type="button" class="src" data-target="${t}" title="go to ${t === 0 ? 'the input' : `layer ${t}`}">← ${t} <span class="src-name">${tensorName(s, t)}</span></button>`,
    )
    .join('');
  const cls = ins.length > 1 ? 'reads join-reads' : 'reads branch';
  return `<td class="${cls}" data-reads="${ins.join(',')}">${srcs}</td>`;
}

function kindCell(l: LayerSummary, ins: number[]): string {
  if (isJoin(l.kind) || ins.length > 1) {
    const what = l.kind === 'add' ? 'sums' : l.kind === 'concat' ? 'concatenates the channels of' : 'reads';
    const mark = l.kind === 'concat' ? '‖' : '⊕';
    return `<td class="kind"><span class="join-mark" title="join: ${what} ${ins.length} tensors">${mark} ${esc(l.kind)} · join of ${ins.length}</span></td>`;
  }
  return `<td class="kind">${esc(l.kind)}</td>`;
}

function layerRow(s: ModelSummary, l: LayerSummary, i: number, nReaders: number[]): string {
  const k = i + 1;
  const ins = inputsOf(l, i);
  const join = isJoin(l.kind) || ins.length > 1;
  const branch = !join && !!l.inputs && !(ins.length === 1 && ins[0] === i);
  const cls = ['layer', join ? 'join' : '', branch ? 'branch' : ''].filter(Boolean).join(' ');
  const readBy = nReaders[k] > 1 ? ` <span class="fork" title="${nReaders[k]} layers read this output">(read by ${nReaders[k]})</span>` : '';
  const hyper = hyperText(l);
  const act = l.activationText ?? l.activation;
  const label = `layer ${k}, ${escapeName(l.name)}, ${l.kind}${join ? ', join' : ''}`;
  return `<tr id="layer-${k}" class="${cls}" data-layer="${k}" data-kind="${esc(l.kind)}" tabindex="-1" aria-label="${esc(label)}">
  <td class="num idx">${k}</td><th scope="row" class="name">${nameHtml(l.name)}</th>${kindCell(l, ins)}
  ${readsCell(s, l, i)}
  <td class="num shape" data-shape="${esc(shapeText(l.outShape))}">${esc(shapeText(l.outShape ?? [l.outFeatures]))}${readBy}</td>
  <td class="hyper"${hyper ? ` title="${esc(hyperTitle(l))}"` : ''}>${esc(hyper)}</td>
  <td class="act">${esc(act)}</td>
  <td class="num params">${l.parameters.toLocaleString('en-US')}</td>
</tr>`;
}

/** The body of the inspector page for a model the engine loaded. */
export function inspectorBodyHtml(s: ModelSummary): string {
  const total = s.layers.reduce((n, l) => n + l.parameters, 0);
  const nReaders = readers(s);
  const joins = s.layers.filter((l, i) => isJoin(l.kind) || inputsOf(l, i).length > 1).length;
  const inputShape = s.inputShape && s.inputShape.length ? s.inputShape : [s.inputSize];
  const inputFork = nReaders[0] > 1 ? ` <span class="fork" title="${nReaders[0]} layers read the input">(read by ${nReaders[0]})</span>` : '';
  const rows = s.layers.map((l, i) => layerRow(s, l, i, nReaders)).join('\n');
  const notes = s.notes ?? [];
  const assumed = notes.length
    ? `<ul>${notes.map((n) => `<li>${esc(String(n))}</li>`).join('')}</ul>`
    : '<p class="muted">The loader reported no assumptions: the file states every layer and activation DTD Lens uses.</p>';
  return `<p class="summary" data-testid="summary">${esc(s.format)} model · input ${esc(shapeText(inputShape))} · output ${s.outputSize} ·
  ${s.layers.length} layers${joins ? ` (${joins} join${joins === 1 ? '' : 's'})` : ''} · ${total.toLocaleString('en-US')} parameters · <span class="ok">every layer is supported</span></p>
<p class="input-shape" data-testid="input-shape">Input: <strong>${esc(shapeText(inputShape))}</strong>${s.inputShape && s.inputShape.length === 3 ? ' (C×H×W)' : ''} · ${s.inputSize.toLocaleString('en-US')} values</p>
<section class="assumed" aria-labelledby="assumed-h" data-testid="assumed">
<h2 id="assumed-h">What DTD Lens assumed</h2>
${assumed}
</section>
<p><button id="explain" type="button">Explain Output…</button></p>
<div class="table-wrap" role="region" aria-labelledby="layers-caption" tabindex="0">
<table class="layers" data-testid="layers">
<caption id="layers-caption">Layers in the order DTD Lens runs them. Tensor 0 is the input, tensor k the output of layer k. ↑/↓ move between rows; a “←” button goes to the layer it names.</caption>
<thead><tr><th scope="col" class="num">#</th><th scope="col">layer</th><th scope="col">kind</th><th scope="col">reads</th><th scope="col" class="num">output</th><th scope="col">kernel · stride · padding</th><th scope="col">activation</th><th scope="col" class="num">parameters</th></tr></thead>
<tbody>
<tr id="layer-0" class="input-row" data-layer="0" tabindex="0" aria-label="tensor 0, the input">
  <td class="num idx">0</td><th scope="row" class="name">input</th><td class="kind muted">input</td><td class="reads"></td>
  <td class="num shape" data-shape="${esc(shapeText(inputShape))}">${esc(shapeText(inputShape))}${inputFork}</td><td></td><td></td><td class="num"></td>
</tr>
${rows}
</tbody>
</table>
</div>`;
}

/** The body while the engine loads the model. */
export function loadingHtml(fileName: string): string {
  return `<p class="muted">Loading ${nameHtml(fileName)} in the DTD Lens engine…</p>`;
}

/** The body when the engine refused or could not read the model. */
export function errorHtml(heading: string, message: string): string {
  return `<div class="error" role="alert"><h2>${esc(heading)}</h2><p>${esc(message)}</p></div>`;
}

/** The whole page: a strict CSP (nonce'd style and script only), theme colours from VS Code's CSS variables. */
export function inspectorPageHtml(cspSource: string, nonce: string, title: string, body: string): string {
  const csp = `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src ${cspSource} data:`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${nameHtml(title)}</title>
<style nonce="${esc(nonce)}">
  body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size, 13px); color: var(--vscode-foreground); padding: 0 20px 20px; }
  h1 { font-size: 1.4em; font-weight: 600; }
  h2 { font-size: 1.1em; font-weight: 600; margin: 0 0 4px; }
  .table-wrap { overflow: auto; max-width: 100%; }
  .table-wrap:focus-visible, tr:focus-visible, button:focus-visible { outline: 1px solid var(--vscode-focusBorder, #0078d4); outline-offset: -1px; }
  table { border-collapse: collapse; margin-top: 8px; }
  caption { text-align: left; caption-side: top; color: var(--vscode-descriptionForeground, inherit); padding-bottom: 4px; }
  th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--vscode-panel-border, #8884); vertical-align: top; }
  thead th { font-weight: 600; position: sticky; top: 0; background: var(--vscode-editor-background); }
  tbody th { font-weight: normal; font-family: var(--vscode-editor-font-family, monospace); }
  tr:focus { background: var(--vscode-list-focusBackground, #8882); }
  tr.join { background: var(--vscode-editor-inactiveSelectionBackground, #8881); }
  tr.join td.kind, tr.join th.name { font-weight: 600; }
  .join-mark { color: var(--vscode-textLink-foreground, #3794ff); white-space: nowrap; }
  .fork { color: var(--vscode-descriptionForeground, inherit); font-size: .9em; margin-left: 4px; white-space: nowrap; }
  td.reads button.src { display: block; white-space: nowrap; background: none; border: none; padding: 0 2px; margin: 0; color: var(--vscode-textLink-foreground, #3794ff); cursor: pointer; font: inherit; text-align: left; }
  td.reads button.src:hover { text-decoration: underline; background: none; }
  .src-name { font-family: var(--vscode-editor-font-family, monospace); }
  .num { text-align: right; font-variant-numeric: tabular-nums; }
  td.shape, td.hyper { white-space: nowrap; }
  .ok { color: var(--vscode-testing-iconPassed, #3a3); }
  .muted { color: var(--vscode-descriptionForeground, inherit); opacity: .85; }
  .assumed { border-left: 3px solid var(--vscode-editorInfo-foreground, #3794ff); padding: 4px 12px; margin: 12px 0; background: var(--vscode-textBlockQuote-background, transparent); }
  .assumed ul { margin: 4px 0; padding-left: 20px; }
  .error { border-left: 3px solid var(--vscode-errorForeground, #e51400); padding: 2px 12px; }
  .error h2 { color: var(--vscode-errorForeground, #e51400); }
  #explain { background: var(--vscode-button-background); color: var(--vscode-button-foreground); border: none; padding: 6px 14px; cursor: pointer; }
  #explain:hover { background: var(--vscode-button-hoverBackground); }
</style></head>
<body>
<h1>${nameHtml(title)}</h1>
${body}
<script nonce="${esc(nonce)}">
  const vscode = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : { postMessage() {} };
  document.getElementById('explain')?.addEventListener('click', () => vscode.postMessage({ type: 'explain' }));
  const rows = () => Array.from(document.querySelectorAll('table.layers tbody tr'));
  const go = (row) => {
    if (!row) return;
    for (const r of rows()) r.tabIndex = r === row ? 0 : -1;
    row.focus();
    row.scrollIntoView({ block: 'nearest' });
  };
  document.querySelector('table.layers')?.addEventListener('click', (ev) => {
    const b = ev.target instanceof Element ? ev.target.closest('button.src') : null;
    if (b) go(document.getElementById('layer-' + b.getAttribute('data-target')));
  });
  document.querySelector('table.layers tbody')?.addEventListener('keydown', (ev) => {
    const all = rows();
    const row = ev.target instanceof Element ? ev.target.closest('tr') : null;
    const i = all.indexOf(row);
    if (i < 0 || ev.target !== row) return;
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: all.length - 1, PageDown: i + 10, PageUp: i - 10 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    go(all[Math.max(0, Math.min(all.length - 1, to))]);
  });
</script>
</body></html>`;
}
