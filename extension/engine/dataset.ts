// Dataset runs: many inputs explained in one engine call (`dtd-lens explain
// MODEL --inputs FILE|DIR`, VS Code's Explain Output on a folder of images).
//
// Reading: one file of several inputs (input.ts parseInputRows: an N-row .npy,
// CSV or a JSON array of inputs) or a folder of PNG/JPEG images (each decoded
// and preprocessed exactly as a single image: parseInput). The command line
// lists the folder here (confined, bounded reads: files.ts); VS Code's host
// lists it with workspace.fs and sends the bytes. Both apply the one folder
// rule of protocol/dataset.ts.
//
// Explaining: with `light` (input relevance + diagnostics per input), the
// train-free and LRP methods run in batches through the Ops interface
// (explainBatch + trainFreeRoots, lrpBatch); full-backward and full results run
// explain() per input (the one assembly of a result). The first input always
// goes through explain(), which validates the options once and names the
// backend; an input whose batched outcome is not plainly ok (no root, not
// finite, f(x) ≤ 0) is redone by explain() so its status and message are the
// single run's.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DtdError, throwIfCancelled } from './errors';
import { expandChannelBounds, explain } from './explain';
import { explainBatch, trainFreeRoots } from './explainBatch';
import { lrpBatch, resolveLrpRules } from './baselines';
import { forwardBatch, NetMats, outputs as outputs64 } from './forward';
import { explainedRow, outputSize, type Network } from './network';
import type { Mat, Ops } from './ops/ops';
import { getOps } from './ops/select';
import { parseRuleMap } from './rules';
import { layerDiagnostic } from './assemble';
import { parseInput, parseInputRows } from './input';
import { imageFormat } from './image';
import { readConfined } from './files';
import {
  ARGMAX_OUTPUT,
  type DatasetItem,
  type DatasetOutput,
  type DatasetSpec,
  type DatasetSummary,
  datasetFolderImages,
  DEFAULT_METHOD,
  type ExplainOptions,
  type ExplainResult,
  type FolderEntry,
  type GalleryItem,
  type GalleryPayload,
  IMAGE_EXTENSIONS,
  type ImagePreprocessing,
  LIMITS,
  type Progress,
  roundForDrawing,
  type RootInfo,
  type RuleSpec,
} from '../protocol';

/** Inputs of a dataset run, in order, with their names. */
export interface DatasetInputs {
  names: string[];
  rows: Float64Array[];
  /** What the inputs came from (a file or folder name), for messages and titles. */
  source: string;
}

function baseName(file: string): string {
  const parts = file.split(/[\\/]/).filter((p) => p !== '');
  return parts[parts.length - 1] ?? file;
}

function checkCount(n: number, source: string, inputSize: number): void {
  if (n > LIMITS.datasetInputs) throw new DtdError('bad-input', `${baseName(source)}: holds ${n} inputs; a dataset run takes at most ${LIMITS.datasetInputs}.`, source);
  if (n * inputSize > LIMITS.datasetValues) {
    throw new DtdError('bad-input', `${baseName(source)}: holds ${n} inputs of ${inputSize} values; a dataset run takes at most ${LIMITS.datasetValues.toExponential(0)} values.`, source);
  }
}

/** One image of a folder: a PNG or JPEG (by content), preprocessed exactly as a single image input. */
function imageRow(bytes: Uint8Array, name: string, net: Network, preprocessing?: ImagePreprocessing): Float64Array {
  if (!imageFormat(bytes)) throw new DtdError('bad-input', `${name}: is not a PNG or JPEG image (by its content); a dataset folder holds only images.`, name);
  return parseInput(bytes, name, net.inputSize, { shape: net.inputShape, preprocessing });
}

/** The inputs of a dataset request whose bytes were read elsewhere (VS Code's host). */
export function datasetFromSpec(spec: DatasetSpec, net: Network): DatasetInputs {
  if (spec.kind === 'file') {
    const rows = parseInputRows(spec.bytes, spec.fileName, net.inputSize, { shape: net.inputShape, preprocessing: spec.preprocessing });
    return { names: rows.map((_, i) => `row ${i + 1}`), rows, source: spec.fileName };
  }
  const listed = datasetFolderImages(spec.files.map((f) => ({ name: f.name, kind: 'file' })), IMAGE_EXTENSIONS);
  if ('problem' in listed) throw new DtdError('bad-input', `${baseName(spec.folder)}: ${listed.problem}`, spec.folder);
  checkCount(listed.names.length, spec.folder, net.inputSize);
  const byName = new Map(spec.files.map((f) => [f.name, f.bytes]));
  return { names: listed.names, rows: listed.names.map((n) => imageRow(byName.get(n)!, n, net, spec.preprocessing)), source: spec.folder };
}

/**
 * The command line's folder of images: listed without following links (at most
 * LIMITS.datasetFolderEntries entries), checked by the folder rule, each image read
 * confined to the folder (no symlink may lead out) within LIMITS.inputFileMB, all
 * together within LIMITS.datasetFolderMB, and decoded one at a time.
 */
export function readImageFolder(dir: string, net: Network, preprocessing?: ImagePreprocessing): DatasetInputs {
  const entries: FolderEntry[] = [];
  let d: fs.Dir;
  try {
    d = fs.opendirSync(dir);
  } catch (e) {
    throw new DtdError('bad-input', `${baseName(dir)}: cannot list the folder (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, dir);
  }
  try {
    for (let e = d.readSync(); e; e = d.readSync()) {
      if (entries.length >= LIMITS.datasetFolderEntries) throw new DtdError('bad-input', `${baseName(dir)}: holds more than ${LIMITS.datasetFolderEntries} entries; a dataset folder may hold at most that many.`, dir);
      entries.push({ name: e.name, kind: e.isSymbolicLink() ? 'symlink' : e.isDirectory() ? 'folder' : e.isFile() ? 'file' : 'other' });
    }
  } finally {
    d.closeSync();
  }
  const listed = datasetFolderImages(entries, IMAGE_EXTENSIONS);
  if ('problem' in listed) throw new DtdError('bad-input', `${baseName(dir)}: ${listed.problem}`, dir);
  checkCount(listed.names.length, dir, net.inputSize);
  let budget = LIMITS.datasetFolderMB * 1024 * 1024;
  const rows = listed.names.map((name) => {
    // readConfined reads `name` next to the path given: the folder's own files, resolved inside its real path.
    const bytes = readConfined(path.join(dir, name), name, Math.min(budget, LIMITS.inputFileMB * 1024 * 1024), { what: 'image', code: 'bad-input', limitHint: `a dataset folder holds at most ${LIMITS.datasetFolderMB} MB of images, each at most ${LIMITS.inputFileMB} MB` });
    if (!bytes) throw new DtdError('bad-input', `${name}: disappeared while the folder was read.`, name);
    budget -= bytes.length;
    return imageRow(bytes, name, net, preprocessing);
  });
  return { names: listed.names, rows, source: dir };
}

export interface DatasetRunOptions {
  /** Keep only the input relevance and diagnostics per input (batched for train-free and LRP). */
  light: boolean;
  /** Inputs per engine batch (default 256). */
  batchSize?: number;
  onProgress?: (p: Progress) => void;
  /** Each input's record, in order; `full` is its whole result when not light. */
  onItem?: (item: DatasetItem, full: ExplainResult | null) => void;
}

export interface DatasetRun {
  summary: DatasetSummary;
  /** The first input's full result (model, method, rules, backend, precision of the run). */
  first: ExplainResult;
}

/** A full result's light record: its input relevance and diagnostics. */
export function lightItem(r: ExplainResult, inputIndex: number, inputName: string): DatasetItem {
  return {
    inputIndex,
    inputName,
    explainedOutput: r.explainedOutput,
    explainedValue: r.explainedValue,
    status: r.status,
    statusCode: r.statusCode,
    message: r.message,
    warnings: r.warnings,
    inputRelevance: r.relevance[0] ?? null,
    diagnostics: { layers: r.diagnostics.layers },
  };
}

/** The summary over the set, kept as the items pass. */
export class SummaryAccumulator {
  private n = 0;
  private ok = 0;
  private sumF = 0;
  private absR: Float64Array;
  private withR = 0;
  private maxErr = 0;
  private checked = 0;
  private outside = 0;
  private counts: Record<string, number> = {};
  constructor(inputSize: number) {
    this.absR = new Float64Array(inputSize);
  }
  add(item: DatasetItem): void {
    this.n++;
    if (item.status === 'ok') this.ok++;
    this.sumF += item.explainedValue;
    this.counts[item.explainedOutput] = (this.counts[item.explainedOutput] ?? 0) + 1;
    const R = item.inputRelevance;
    if (R && R.length === this.absR.length) {
      this.withR++;
      for (let i = 0; i < R.length; i++) this.absR[i] += Math.abs(R[i]);
    }
    const input = item.diagnostics.layers.find((d) => d.index === 0);
    if (input && Number.isFinite(input.conservationError)) this.maxErr = Math.max(this.maxErr, Math.abs(input.conservationError));
    const roots = rootCounts(item);
    if (roots.checked > 0) {
      this.checked++;
      if (roots.outside > 0) this.outside++;
    }
  }
  summary(): DatasetSummary {
    return {
      inputs: this.n,
      ok: this.ok,
      failed: this.n - this.ok,
      meanExplainedValue: this.n ? this.sumF / this.n : 0,
      meanAbsRelevance: Array.from(this.absR, (v) => (this.withR ? v / this.withR : 0)),
      maxConservationError: this.maxErr,
      inputsWithRootChecks: this.checked,
      inputsWithRootsOutside: this.outside,
      outputCounts: this.counts,
    };
  }
}

/** Roots checked and roots outside their region, all layers together. */
export function rootCounts(item: DatasetItem): { checked: number; outside: number } {
  let checked = 0;
  let outside = 0;
  for (const d of item.diagnostics.layers) {
    checked += d.rootsTotal;
    outside += d.rootsTotal - d.rootsInRegion;
  }
  return { checked, outside };
}

/** The output each input explains: the one asked, or its own largest (argmax, first on ties). */
function argmaxOf(values: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < values.length; j++) if (values[j] > values[best]) best = j;
  return best;
}

function checkOutput(net: Network, out: DatasetOutput | undefined): void {
  if (out === undefined || out === ARGMAX_OUTPUT) return;
  const nOut = outputSize(net);
  if (!Number.isInteger(out) || out < 0 || out >= nOut) throw new DtdError('bad-usage', `Output ${out} does not exist: ${net.source.file} has outputs 0..${nOut - 1}.`);
}

/**
 * Explains every input of `data` with `options` (one output for all, or
 * `argmax`: each input's largest). Items are passed to `run.onItem` in order;
 * returns the summary over the set.
 */
export async function explainDataset(net: Network, data: DatasetInputs, options: Omit<ExplainOptions, 'explainedOutput'> & { explainedOutput?: DatasetOutput }, run: DatasetRunOptions): Promise<DatasetRun> {
  const N = data.rows.length;
  if (N === 0) throw new DtdError('bad-input', `${baseName(data.source)}: holds no inputs.`, data.source);
  checkOutput(net, options.explainedOutput);
  const argmax = options.explainedOutput === ARGMAX_OUTPUT;
  const fixedOutput = argmax ? undefined : ((options.explainedOutput as number | undefined) ?? 0);
  const progress = run.onProgress ?? (() => {});
  const acc = new SummaryAccumulator(net.inputSize);
  const emit = (item: DatasetItem, full: ExplainResult | null) => {
    acc.add(item);
    run.onItem?.(item, full);
  };
  const single = async (s: number, k?: number): Promise<ExplainResult> => {
    const out = k ?? fixedOutput ?? argmaxOf(outputs64(net, data.rows[s]));
    // A light record has no baselines: they are not computed for it.
    const r = await explain(net, data.rows[s], { ...options, explainedOutput: out, onProgress: undefined, ...(run.light ? { baselines: false } : {}) });
    emit(lightItem(r, s, data.names[s]), run.light ? null : r);
    return r;
  };
  const tick = (done: number) => progress({ stage: `Explaining ${done} of ${N} inputs`, fraction: done / N });
  tick(0);
  // The first input through explain(): the options are checked once, and the result names the run's backend and rules.
  const first = await single(0);
  const method = options.method ?? DEFAULT_METHOD;
  const batched = run.light && (method === 'lrp' || method === 'train-free') && !(method === 'train-free' && first.rules.some((r) => r === '0'));
  if (!batched) {
    for (let s = 1; s < N; s++) {
      throwIfCancelled(options.signal);
      await single(s);
      tick(s + 1);
    }
    return { summary: acc.summary(), first };
  }
  const ops = await getOps(first.precision, options.backend ?? 'auto');
  const endScope = ops.beginScope();
  const mats = new NetMats(ops, net);
  try {
    const B = Math.max(1, run.batchSize ?? 256);
    const rules: RuleSpec[] | null = method === 'train-free' ? expandChannelBounds(net, parseRuleMap(options.rule, net.layers, method)) : null;
    const lrpRules = method === 'lrp' ? resolveLrpRules(options.rule as string | undefined, net, options.zeroBias ?? false) : null;
    for (let c0 = 1; c0 < N; c0 += B) {
      throwIfCancelled(options.signal);
      const c1 = Math.min(N, c0 + B);
      const idx = Array.from({ length: c1 - c0 }, (_, i) => c0 + i);
      const items = new Map<number, DatasetItem | 'redo'>();
      let outs: number[];
      if (rules) {
        outs = chunkOutputs(mats, data.rows, c0, c1, argmax, fixedOutput);
        // One batch per explained output (argmax may pick different ones).
        const groups = new Map<number, number[]>();
        outs.forEach((k, i) => groups.set(k, [...(groups.get(k) ?? []), c0 + i]));
        for (const [k, group] of groups) {
          const got = trainFreeGroup(mats, data, group, k, rules, first);
          group.forEach((s, i) => items.set(s, got[i]));
        }
      } else {
        // LRP takes a row per input: one forward pass picks the outputs (argmax) and feeds the backward pass.
        const got = lrpChunk(mats, data, idx, argmax ? null : (fixedOutput ?? 0), lrpRules!);
        outs = got.outputs;
        idx.forEach((s, i) => items.set(s, got.items[i]));
      }
      for (let s = c0; s < c1; s++) {
        const item = items.get(s)!;
        if (item === 'redo') await single(s, outs[s - c0]);
        else emit(item, null);
      }
      tick(c1);
    }
  } finally {
    mats.dispose();
    endScope();
  }
  return { summary: acc.summary(), first };
}

function matrixOf<M extends Mat>(ops: Ops<M>, rows: Float64Array[], idx: number[]): M {
  const n = rows[idx[0]].length;
  const all = new Float64Array(idx.length * n);
  idx.forEach((s, i) => all.set(rows[s], i * n));
  return ops.matrix(idx.length, n, all);
}

/** The output explained for each input of rows[c0..c1). */
function chunkOutputs<M extends Mat>(mats: NetMats<M>, rows: Float64Array[], c0: number, c1: number, argmax: boolean, fixed: number | undefined): number[] {
  if (!argmax) return new Array(c1 - c0).fill(fixed ?? 0);
  const { ops, net } = mats;
  const idx = Array.from({ length: c1 - c0 }, (_, i) => c0 + i);
  const X = matrixOf(ops, rows, idx);
  const fwd = forwardBatch(mats, X);
  const L = net.layers.length;
  const top = ops.read(fwd.act[L]);
  ops.dispose(X, ...fwd.pre, ...fwd.act.slice(1));
  const nL = net.layers[L - 1].outFeatures;
  const nOut = outputSize(net);
  return idx.map((_, i) => argmaxOf(Array.from({ length: nOut }, (_, k) => top[i * nL + explainedRow(net, k)])));
}

/**
 * Per input of a batch: the sum and negative mass of each relevance tensor (rel[l] is [B, n_l]), summed in index
 * order as layerDiagnostics does, and whether every value is finite (a finite sum says so; a sum that is not is
 * checked value by value, since finite values may overflow). One pass over the batch's matrices.
 */
interface BatchSums {
  sum: Float64Array[];
  neg: Float64Array[];
  finite: Uint8Array;
}
function batchSums(rel: Float64Array[], B: number): BatchSums {
  const finite = new Uint8Array(B).fill(1);
  const sums: Float64Array[] = [];
  const negs: Float64Array[] = [];
  for (const m of rel) {
    const n = m.length / B;
    const S = new Float64Array(B);
    const N = new Float64Array(B);
    for (let b = 0, o = 0; b < B; b++, o += n) {
      let s = 0;
      let neg = 0;
      for (let k = o, end = o + n; k < end; k++) {
        const v = m[k];
        s += v;
        if (v < 0) neg += v;
      }
      S[b] = s;
      N[b] = neg;
      if (s - s !== 0) {
        for (let k = o, end = o + n; k < end; k++) {
          if (!Number.isFinite(m[k])) {
            finite[b] = 0;
            break;
          }
        }
      }
    }
    sums.push(S);
    negs.push(N);
  }
  return { sum: sums, neg: negs, finite };
}

/** Input b's rows of the batch's [B, n_l] relevance matrices, as views. */
function rowViews(rel: Float64Array[], b: number, B: number): Float64Array[] {
  return rel.map((m) => {
    const n = m.length / B;
    return m.subarray(b * n, (b + 1) * n);
  });
}

function itemOf(data: DatasetInputs, s: number, k: number, fx: number, rel: Float64Array[], sums: BatchSums, b: number, B: number, roots: RootInfo[][], net: Network, warnings: string[]): DatasetItem {
  const n0 = rel[0].length / B;
  return {
    inputIndex: s,
    inputName: data.names[s],
    explainedOutput: k,
    explainedValue: fx,
    status: 'ok',
    statusCode: 'ok',
    message: null,
    warnings: [...warnings],
    inputRelevance: Array.from(rel[0].subarray(b * n0, (b + 1) * n0)),
    // The records layerDiagnostics would give for this input's rows, from the batch's sums.
    diagnostics: { layers: rel.map((_, l) => layerDiagnostic(net, l, sums.sum[l][b], sums.neg[l][b], l < roots.length ? roots[l] : [], fx)) },
  };
}

/** Train-free DTD of a group of inputs explaining output k, with their batched root checks. */
function trainFreeGroup<M extends Mat>(mats: NetMats<M>, data: DatasetInputs, idx: number[], k: number, rules: RuleSpec[], first: ExplainResult): (DatasetItem | 'redo')[] {
  const { ops, net } = mats;
  const L = net.layers.length;
  const row = explainedRow(net, k);
  const X = matrixOf(ops, data.rows, idx);
  const b = explainBatch(mats, X, row, rules);
  const rel = b.relevance.map((m) => ops.read(m));
  const top = ops.read(b.fwd.act[L]);
  const nL = net.layers[L - 1].outFeatures;
  const noRoot = b.noRootLayer;
  b.dispose();
  ops.dispose(X);
  const B = idx.length;
  const sums = batchSums(rel, B);
  const good = idx.map((_, i) => i).filter((i) => noRoot[i] === 0 && top[i * nL + row] > 0 && sums.finite[i] === 1);
  const warnings: string[] = [];
  const roots = good.length
    ? trainFreeRoots(mats, good.map((i) => data.rows[idx[i]]), good.map((i) => rowViews(rel, i, B)), row, rules, { inputNonNegative: good.map((i) => data.rows[idx[i]].every((v) => v >= 0)), warnings, keepRoots: false })
    : [];
  // The same warnings a single run gives (root checks skipped for a layer), not the batch's wording.
  const shared = first.warnings.filter((w) => w.startsWith('Root diagnostics skipped'));
  const out: (DatasetItem | 'redo')[] = idx.map(() => 'redo');
  good.forEach((i, g) => {
    out[i] = itemOf(data, idx[i], k, top[i * nL + row], rel, sums, i, B, roots[g], net, warnings.length ? shared : []);
  });
  return out;
}

/** LRP of a chunk of inputs, each explaining output `fixed` or its own largest (no roots). */
function lrpChunk<M extends Mat>(mats: NetMats<M>, data: DatasetInputs, idx: number[], fixed: number | null, lrpRules: ReturnType<typeof resolveLrpRules>): { outputs: number[]; items: (DatasetItem | 'redo')[] } {
  const { ops, net } = mats;
  const L = net.layers.length;
  const X = matrixOf(ops, data.rows, idx);
  const fwd = forwardBatch(mats, X);
  const top = ops.read(fwd.act[L]);
  const nL = net.layers[L - 1].outFeatures;
  const nOut = outputSize(net);
  const outputs = idx.map((_, i) => fixed ?? argmaxOf(Array.from({ length: nOut }, (_, k) => top[i * nL + explainedRow(net, k)])));
  const out = lrpBatch(mats, X, outputs.map((k) => explainedRow(net, k)), lrpRules, fwd);
  const rel = out.relevance.map((m) => ops.read(m));
  ops.dispose(X, ...fwd.pre, ...fwd.act.slice(1), ...out.relevance);
  const B = idx.length;
  const sums = batchSums(rel, B);
  const items = idx.map((s, i): DatasetItem | 'redo' => {
    const row = explainedRow(net, outputs[i]);
    // The start relevance on the last layer is one-hot(row)·f(x): f(x) is read from it.
    const fx = rel[L][i * nL + row];
    return fx > 0 && sums.finite[i] === 1 ? itemOf(data, s, outputs[i], fx, rel, sums, i, B, [], net, []) : 'redo';
  });
  return { outputs, items };
}

/** The gallery's payload: the first LIMITS.galleryItems items (input and heatmap rounded for drawing) and the summary over all. */
export function galleryPayload(first: ExplainResult, items: DatasetItem[], rows: Float64Array[], summary: DatasetSummary, title: string, interactive: boolean, total = items.length): GalleryPayload {
  const shown = items.slice(0, LIMITS.galleryItems);
  const galleryItems: GalleryItem[] = shown.map((it) => {
    const roots = rootCounts(it);
    const inputDiag = it.diagnostics.layers.find((d) => d.index === 0);
    return {
      inputIndex: it.inputIndex,
      inputName: it.inputName,
      explainedOutput: it.explainedOutput,
      explainedValue: it.explainedValue,
      status: it.status,
      message: it.message,
      conservationError: inputDiag && it.inputRelevance ? inputDiag.conservationError : null,
      rootsOutside: roots.outside,
      rootsChecked: roots.checked,
      input: roundForDrawing(rows[it.inputIndex]),
      inputRelevance: it.inputRelevance ? roundForDrawing(it.inputRelevance) : null,
    };
  });
  return {
    title,
    model: { name: first.model.name, format: first.model.format },
    method: first.method,
    rule: [...new Set(first.rules)].join(' | '),
    backend: first.backend,
    precision: first.precision,
    shape: first.model.inputShape ?? null,
    summary: { ...summary, meanAbsRelevance: roundForDrawing(summary.meanAbsRelevance) },
    items: galleryItems,
    omitted: total - galleryItems.length,
    interactive,
  };
}
