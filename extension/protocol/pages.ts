// Results that stay small: what the views need travels in the result message,
// the rest is kept in pages (hexeditor-style) and read when the user opens it.
//   splitResult   the view (summary, per-layer relevance, roots with their checks, flows,
//                 diagnostics, the root tree's top level) and the pages: every tree node
//                 with its vectors and its children ('tree:' + path), the full values of
//                 layers larger than LIMITS.inlineLayerValues ('activations:3', …) and the
//                 root points of such layers ('roots:<layer>').
//   pageFileChunks the page file, as text chunks (never one giant string): the pages'
//                 JSON one after the other, then an index {key: [offset, length]} and a
//                 fixed-size footer naming where the index is. The engine writes it; the
//                 host reads a page with two bounded reads (footer + index, then the page).
//   jsonChunks    JSON of any result in chunks (the command line's --json).
// Pure: no Node, no DOM. Byte lengths are the caller's (UTF-8 as it writes).

import { LIMITS } from './limits';
import type { BaselinesReply } from './messages';
import type { Baselines, ExplainResult, LayerFlows, PagedParts, RootInfo, TensorSummary, TreeEntry, TreeEntrySummary, TreePage } from './result';

export const PAGES_SCHEMA = 'dtd-lens/pages@1' as const;
/** The footer: 'DTDPAGES1 ' + 14-digit index offset + ' ' + 14-digit index length + '\n'. */
export const PAGE_FOOTER_BYTES = 40;
const FOOTER = /^DTDPAGES1 (\d{14}) (\d{14})\n$/;

/** The page key of a root-tree node ('tree:' for the top, 'tree:layer1/root_3' for an entry). */
export function treePageKey(path: readonly string[]): string {
  return `tree:${path.join('/')}`;
}

// ── splitting a result ─────────────────────────────────────────────────────

function distance(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

export function summarizeEntry(e: TreeEntry, children: number): TreeEntrySummary {
  return {
    layer: e.layer,
    path: e.path,
    unit: e.unit,
    relevanceAtInput: e.relevanceAtInput,
    passedOn: e.passedOn,
    relevanceAtRoot: e.relevanceAtRoot,
    taylorResidual: e.taylorResidual,
    outputAtRoot: e.outputAtRoot,
    outputAtInput: e.outputAtInput,
    preActivationAtRoot: e.preActivationAtRoot,
    gradAtRootIsZero: e.gradAtRootIsZero,
    checks: e.checks,
    ...(e.certificate ? { certificate: e.certificate } : {}),
    distance: Array.isArray(e.input) && Array.isArray(e.root) ? distance(e.input, e.root) : undefined,
    children,
  };
}

/** The tree's pages: one per node (the top is 'tree:'), each with the node's entry and its children's summaries. */
export function treePages(tree: readonly TreeEntry[]): Map<string, TreePage> {
  const kids = new Map<string, TreeEntry[]>();
  for (const e of tree) {
    const parent = e.path.slice(0, -2).join('/');
    let list = kids.get(parent);
    if (!list) kids.set(parent, (list = []));
    list.push(e);
  }
  const summaries = (key: string) => (kids.get(key) ?? []).map((c) => summarizeEntry(c, kids.get(c.path.join('/'))?.length ?? 0));
  const pages = new Map<string, TreePage>();
  pages.set(treePageKey([]), { entry: null, children: summaries('') });
  for (const e of tree) pages.set(treePageKey(e.path), { entry: e, children: summaries(e.path.join('/')) });
  return pages;
}

/** [C, H, W] of a tensor of `size` values: its shape when it has three dimensions, else a row [1, 1, size]. */
function chw(size: number, shape: readonly number[] | undefined): [number, number, number] {
  if (shape && shape.length === 3 && shape[0] * shape[1] * shape[2] === size) return [shape[0], shape[1], shape[2]];
  return [1, 1, size];
}

/** The downsampling factor that brings [C, H, W] to at most `maxValues` block values (C stays). */
export function mapFactor(C: number, H: number, W: number, maxValues: number = LIMITS.summaryMapValues): number {
  let f = 1;
  while (C * Math.ceil(H / f) * Math.ceil(W / f) > maxValues && (f < H || f < W)) f *= 2;
  return f;
}

/** Block index of unit u in the downsampled map. */
export function blockOf(u: number, shape: readonly number[], factor: number): number {
  const [C, H, W] = shape.length === 3 ? shape : [1, 1, shape[0]];
  void C;
  const c = Math.floor(u / (H * W));
  const rest = u - c * H * W;
  const y = Math.floor(rest / W);
  const x = rest - y * W;
  const h = Math.ceil(H / factor);
  const w = Math.ceil(W / factor);
  return c * h * w + Math.floor(y / factor) * w + Math.floor(x / factor);
}

export function summarizeTensor(values: ArrayLike<number>, shape?: readonly number[], maxMapValues: number = LIMITS.summaryMapValues): TensorSummary {
  const size = values.length;
  const [C, H, W] = chw(size, shape);
  const f = mapFactor(C, H, W, maxMapValues);
  const h = Math.ceil(H / f);
  const w = Math.ceil(W / f);
  const map = new Array<number>(C * h * w).fill(0);
  const channelSums = new Array<number>(C).fill(0);
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let c = 0; c < C; c++) {
    let cs = 0;
    for (let y = 0; y < H; y++) {
      const row = c * h * w + Math.floor(y / f) * w;
      const base = (c * H + y) * W;
      for (let x = 0; x < W; x++) {
        const v = values[base + x];
        cs += v;
        map[row + Math.floor(x / f)] += v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    channelSums[c] = cs;
    sum += cs;
  }
  return { size, shape: C === 1 && H === 1 ? [size] : [C, H, W], sum, min: size ? min : 0, max: size ? max : 0, channelSums, map: { shape: [C, h, w], factor: f, values: map } };
}

/**
 * Flows into or out of a summarized layer, between blocks of its map: per (lower block, upper block) the
 * summed flow, the k largest per upper block kept and the rest aggregated (as the engine does per unit).
 */
function blockFlows(f: LayerFlows, lower: { shape: number[]; factor: number } | null, upper: { shape: number[]; factor: number } | null, upperBlocks: number): LayerFlows {
  const lo = (u: number) => (lower ? blockOf(u, lower.shape, lower.factor) : u);
  const up = (u: number) => (upper ? blockOf(u, upper.shape, upper.factor) : u);
  const rest = new Array<number>(upperBlocks).fill(0);
  f.rest.forEach((v, j) => {
    if (v) rest[up(j)] += v;
  });
  const pairs = new Map<number, Map<number, number>>();
  for (const e of f.top) {
    const t = up(e.to);
    let m = pairs.get(t);
    if (!m) pairs.set(t, (m = new Map()));
    const s = lo(e.from);
    m.set(s, (m.get(s) ?? 0) + e.value);
  }
  const top: LayerFlows['top'] = [];
  for (const [t, m] of pairs) {
    const list = [...m].sort((p, q) => Math.abs(q[1]) - Math.abs(p[1]));
    for (const [s, v] of list.slice(0, f.k)) top.push({ from: s, to: t, value: v });
    for (const [, v] of list.slice(f.k)) rest[t] += v;
  }
  return { ...f, top, rest };
}

export interface SplitResult {
  view: ExplainResult;
  /** Page key → its value, in the order they are written. */
  pages: Map<string, unknown>;
}

type Cut = (key: string, values: number[], shape: readonly number[] | undefined) => number[];

/** Cuts a tensor larger than `limit` values: its summary goes to `tensors`, its values to `pages` under `key`, and it becomes []. */
function cutter(tensors: Record<string, TensorSummary>, pages: Map<string, unknown>, limit: number, maxMapValues: number): Cut {
  return (key, values, shape) => {
    if (values.length <= limit) return values;
    tensors[key] = summarizeTensor(values, shape, maxMapValues);
    pages.set(key, values);
    return [];
  };
}

/** The baselines with their large tensors cut ('baseline:gradient', 'baseline:<key>', 'baseline:<key>:<layer>'). */
function cutBaselines(b: Baselines, cut: Cut, shapes: readonly (readonly number[])[] | undefined): Baselines {
  const lrp: Baselines['lrp'] = {};
  for (const [k, v] of Object.entries(b.lrp)) {
    lrp[k] = { ...v, relevance: cut(`baseline:${k}`, v.relevance, shapes?.[0]), ...(v.perLayer ? { perLayer: v.perLayer.map((p, l) => cut(`baseline:${k}:${l}`, p, shapes?.[l])) } : {}) };
  }
  return { gradient: cut('baseline:gradient', b.gradient, shapes?.[0]), gradientTimesInput: cut('baseline:gradientTimesInput', b.gradientTimesInput, shapes?.[0]), lrp };
}

/**
 * Baselines computed on demand for a stored run (engine request 'baselines'), split as splitResult splits a
 * result's: the view (large tensors empty), their summaries (to merge into the run's paged.tensors) and the pages
 * (to add to the run's page file).
 */
export function splitBaselines(
  b: Baselines,
  shapes: readonly (readonly number[])[] | undefined,
  limit: number = LIMITS.inlineLayerValues,
  maxMapValues: number = LIMITS.summaryMapValues,
): { baselines: Baselines; tensors: Record<string, TensorSummary>; pages: Map<string, unknown> } {
  const tensors: Record<string, TensorSummary> = {};
  const pages = new Map<string, unknown>();
  return { baselines: cutBaselines(b, cutter(tensors, pages, limit, maxMapValues), shapes), tensors, pages };
}

/**
 * The result with baselines computed on demand (engine request 'baselines'): what the host stores for the run and
 * the webview draws. Their warnings join the result's, their time its timings, the summaries of their large tensors
 * its paged tensors (the pages are in the run's page file).
 */
export function withBaselines(result: ExplainResult, reply: Pick<BaselinesReply, 'baselines' | 'tensors' | 'warnings' | 'ms'>): ExplainResult {
  const cut = Object.keys(reply.tensors).length > 0;
  return {
    ...result,
    baselines: reply.baselines,
    warnings: [...result.warnings, ...reply.warnings.filter((w) => !result.warnings.includes(w))],
    timings: { ...result.timings, baselines: reply.ms },
    ...(cut ? { paged: { run: null, tree: null, roots: [], ...result.paged, tensors: { ...result.paged?.tensors, ...reply.tensors } } } : {}),
  };
}

/**
 * Splits a result into the view (what the message carries) and its pages. `run` names the stored run
 * whose page file will hold the pages (null: the pages are not kept). A result already split is returned as is.
 */
export function splitResult(result: ExplainResult, run: string | null, limit: number = LIMITS.inlineLayerValues, maxMapValues: number = LIMITS.summaryMapValues): SplitResult {
  const pages = new Map<string, unknown>();
  if (result.paged) return { view: { ...result, paged: { ...result.paged, run } }, pages };
  const tensors: Record<string, TensorSummary> = {};
  const shapes = result.shapes;
  const big = new Set<number>();
  result.activations.forEach((a, l) => {
    if (a.length > limit) big.add(l);
  });
  const cut = cutter(tensors, pages, limit, maxMapValues);
  const activations = result.activations.map((a, l) => cut(`activations:${l}`, a, shapes?.[l]));
  const preActivations = result.preActivations.map((z, i) => cut(`preActivations:${i}`, z, shapes?.[i + 1]));
  const relevance = result.relevance.map((r, l) => (r ? cut(`relevance:${l}`, r, shapes?.[l]) : r));
  const baselines: Baselines | null = result.baselines ? cutBaselines(result.baselines, cut, shapes) : null;
  // Roots: a layer whose output is summarized keeps its roots in a page; a layer whose root points are large leaves them out.
  const pagedRoots: number[] = [];
  const roots: RootInfo[][] = result.roots.map((list, i) => {
    const l = i + 1;
    if (big.has(l)) {
      pages.set(`rootInfo:${l}`, list);
      pagedRoots.push(l);
      return [];
    }
    const values = list.reduce((acc, r) => acc + (r.root?.length ?? 0), 0);
    if (values <= limit) return list;
    pages.set(`roots:${l}`, list.map((r) => r.root));
    pagedRoots.push(l);
    return list.map((r) => ({ ...r, root: null }));
  });
  const mapOf = (l: number) => {
    const s = tensors[`activations:${l}`];
    return s ? { shape: s.shape.length === 3 ? s.shape : [1, 1, s.size], factor: s.map.factor } : null;
  };
  const flows = result.flows.map((f) => {
    const lower = mapOf(f.from ?? f.layer - 1);
    const upper = mapOf(f.layer);
    if (!lower && !upper) return f;
    const upperBlocks = upper ? tensors[`activations:${f.layer}`].map.values.length : f.rest.length;
    return blockFlows(f, lower, upper, upperBlocks);
  });
  let tree: PagedParts['tree'] = null;
  if (result.tree) {
    for (const [k, v] of treePages(result.tree)) pages.set(k, v);
    tree = { entries: result.tree.length, top: (pages.get(treePageKey([])) as TreePage).children };
  }
  const paged: PagedParts = { run, tree, tensors, roots: pagedRoots };
  return { view: { ...result, activations, preActivations, relevance, baselines, roots, flows, tree: null, paged }, pages };
}

/** Bytes of `value`'s JSON (jsonChunks' text), counted chunk by chunk; stops counting past `stop`. */
export function jsonBytes(value: unknown, byteLength: (s: string) => number = (s) => s.length, stop = Infinity): number {
  let n = 0;
  for (const c of jsonChunks(value)) {
    n += byteLength(c);
    if (n > stop) break;
  }
  return n;
}

/**
 * splitResult with a bound on the view's JSON (LIMITS.resultViewBytes): the inline limit starts at
 * LIMITS.inlineLayerValues and is quartered until the view fits, then the summaries' maps are halved (down to 1/16),
 * so the result's size follows what the views show, not the network. `bytes` is the view's size as measured;
 * `limit` the inline limit used (a layer of more values is a page), `mapValues` the summaries' map size.
 */
export function splitResultWithin(
  result: ExplainResult,
  run: string | null,
  maxBytes: number = LIMITS.resultViewBytes,
  byteLength: (s: string) => number = (s) => s.length,
): SplitResult & { bytes: number; limit: number; mapValues: number } {
  const steps: [number, number][] = [];
  // Below a few dozen values a summary (sums, a map) saves nothing: the smallest inline limit tried is 64.
  for (let l: number = LIMITS.inlineLayerValues; ; l = Math.max(64, Math.floor(l / 4))) {
    steps.push([l, LIMITS.summaryMapValues]);
    if (l === 64) break;
  }
  for (let m = LIMITS.summaryMapValues / 2; m >= LIMITS.summaryMapValues / 16; m /= 2) steps.push([64, m]);
  let last: (SplitResult & { bytes: number; limit: number; mapValues: number }) | undefined;
  for (const [limit, mapValues] of steps) {
    const split = splitResult(result, run, limit, mapValues);
    const bytes = jsonBytes(split.view, byteLength, maxBytes);
    last = { ...split, bytes, limit, mapValues };
    if (bytes <= maxBytes) return last;
  }
  return { ...last!, bytes: jsonBytes(last!.view, byteLength) };
}

/** Whether a result leaves anything out (a tree or a large layer): only then does it need a page file. */
export function needsPages(result: ExplainResult): boolean {
  return splitResult(result, null).pages.size > 0;
}

// ── JSON in chunks ─────────────────────────────────────────────────────────

/** JSON.stringify's text of `value`, as chunks of about `size` characters (never one string for a large value). */
export function* jsonChunks(value: unknown, size = 1 << 16): Generator<string> {
  let buf = '';
  const parts: string[] = [];
  let pending = 0;
  const push = (s: string) => {
    parts.push(s);
    pending += s.length;
  };
  function* flush(force: boolean): Generator<string> {
    if (pending >= size || (force && pending > 0)) {
      buf = parts.join('');
      parts.length = 0;
      pending = 0;
      yield buf;
    }
  }
  function* walk(v: unknown, inArray: boolean): Generator<string> {
    if (v === null || typeof v !== 'object') {
      const s = typeof v === 'bigint' ? undefined : JSON.stringify(v);
      push(s === undefined ? (inArray ? 'null' : '') : s);
      return;
    }
    if (Array.isArray(v)) {
      // Arrays of numbers (most of a result): JSON.stringify in slices, native speed, never one large string.
      let numbers = true;
      for (let i = 0; i < v.length && numbers; i++) numbers = typeof v[i] === 'number';
      if (numbers) {
        const step = 8192;
        if (v.length <= step) push(JSON.stringify(v));
        else {
          push('[');
          for (let i = 0; i < v.length; i += step) {
            const t = JSON.stringify(v.slice(i, i + step));
            push(i ? `,${t.slice(1, -1)}` : t.slice(1, -1));
            if (pending >= size) yield* flush(false);
          }
          push(']');
        }
        return;
      }
      push('[');
      for (let i = 0; i < v.length; i++) {
        if (i) push(',');
        const x: unknown = v[i];
        if (typeof x === 'number') push(Number.isFinite(x) ? String(x) : 'null');
        else yield* walk(x, true);
        if (pending >= size) yield* flush(false);
      }
      push(']');
      return;
    }
    if (typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      push(JSON.stringify(v));
      return;
    }
    push('{');
    let first = true;
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
      push(`${first ? '' : ','}${JSON.stringify(k)}:`);
      first = false;
      yield* walk(x, false);
      if (pending >= size) yield* flush(false);
    }
    push('}');
  }
  yield* walk(value, false);
  yield* flush(true);
}

// ── the page file ──────────────────────────────────────────────────────────

export interface PageIndex {
  schema: typeof PAGES_SCHEMA;
  pages: Record<string, [number, number]>;
}

function footer(offset: number, length: number): string {
  return `DTDPAGES1 ${String(offset).padStart(14, '0')} ${String(length).padStart(14, '0')}\n`;
}

/**
 * The page file's text, chunk by chunk: the pages, the index, the footer. `byteLength` measures a chunk as it will
 * be written (UTF-8). `after`: the pages of an existing file, whose page data ends at `offset` (where its index
 * began): the chunks continue that file from there, and the new index lists its pages too (pages added to a run).
 */
export function* pageFileChunks(pages: Iterable<[string, unknown]>, byteLength: (s: string) => number, after?: { offset: number; pages: PageIndex['pages'] }): Generator<string> {
  let offset = after?.offset ?? 0;
  const index: PageIndex = { schema: PAGES_SCHEMA, pages: { ...after?.pages } };
  for (const [key, value] of pages) {
    const start = offset;
    for (const c of jsonChunks(value)) {
      offset += byteLength(c);
      yield c;
    }
    index.pages[key] = [start, offset - start];
  }
  const text = JSON.stringify(index);
  yield text;
  yield footer(offset, byteLength(text));
}

/** Where the index is, from the footer's text; a message when it is not a page file's footer. */
export function parsePageFooter(text: string, fileBytes: number): { offset: number; length: number } | string {
  const m = FOOTER.exec(text);
  if (!m) return 'it does not end with a DTD Lens page index';
  const offset = Number(m[1]);
  const length = Number(m[2]);
  if (offset + length + PAGE_FOOTER_BYTES !== fileBytes) return 'its index does not end where the file does';
  if (length > LIMITS.pageIndexBytes) return `its index has ${length} bytes (limit ${LIMITS.pageIndexBytes})`;
  return { offset, length };
}

/** The index, checked: every page lies before the index. A message when it is not one. */
export function parsePageIndex(text: string, dataBytes: number): PageIndex | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'its index is not valid JSON';
  }
  if (typeof v !== 'object' || v === null || (v as PageIndex).schema !== PAGES_SCHEMA) return 'its index is not a DTD Lens page index';
  const pages = (v as PageIndex).pages;
  if (typeof pages !== 'object' || pages === null || Array.isArray(pages)) return 'its index lists no pages';
  for (const [, r] of Object.entries(pages)) {
    if (!Array.isArray(r) || r.length !== 2 || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1]) || r[0] < 0 || r[1] < 0 || r[0] + r[1] > dataBytes) return 'its index names a page outside the file';
  }
  return v as PageIndex;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isNumbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' || x === null);

function isSummary(v: unknown): v is TreeEntrySummary {
  return isObj(v) && Array.isArray(v.path) && v.path.every((p) => typeof p === 'string') && typeof v.unit === 'number' && typeof v.layer === 'number' && isObj(v.checks);
}

/** Whether a page's value has the shape its key promises (the webview checks what the host sends). */
export function isPageValue(key: string, v: unknown): boolean {
  if (key.startsWith('tree:')) {
    if (!isObj(v) || !Array.isArray(v.children) || !v.children.every(isSummary)) return false;
    if (v.entry === null) return true;
    const e: unknown = v.entry;
    if (!isObj(e) || !isSummary(e)) return false;
    const vectors = e as unknown as Record<string, unknown>;
    return ['root', 'input', 'relevance', 'gradient', 'upperRelevance'].every((k) => isNumbers(vectors[k]));
  }
  if (key.startsWith('roots:')) return Array.isArray(v) && v.every((r) => r === null || isNumbers(r));
  if (key.startsWith('rootInfo:')) return Array.isArray(v) && v.every((r) => isObj(r) && typeof r.unit === 'number');
  return isNumbers(v);
}

/** A page key the webview may ask for: 'tree:' + path, a tensor key, 'roots:<l>' or 'rootInfo:<l>' (bounded length, plain characters). */
export function isPageKey(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 4096 && /^(tree:[A-Za-z0-9_./-]*|(activations|preActivations|relevance|roots|rootInfo):\d+|baseline:[A-Za-z0-9_.+-]+(:\d+)?)$/.test(v);
}
