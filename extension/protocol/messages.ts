// The one protocol module: every message between the extension host and the
// engine child process, and between the host and the webview. Discriminated
// unions per direction; requests carry an id and replies name it. Both ends
// validate what they receive with the guards at the bottom.

import type { AuditOptions, AuditResult } from './audit';
import type { DatasetReply, DatasetSpec } from './dataset';
import type { ImagePreprocessing } from './image';
import { LIMITS } from './limits';
import { isPageKey } from './pages';
import { RESULT_SCHEMA, type Baselines, type ConceptHeatmap, type ExplainOptions, type ExplainResult, type ModelSummary, type Precision, type Progress, type TensorSummary } from './result';

/** Options that can cross a process boundary (no callbacks, no signals). */
export type WireExplainOptions = Omit<ExplainOptions, 'onProgress' | 'signal'>;

/** Files that belong to a model besides its main file (TF.js weight shards), by their name relative to it. */
export type ModelFiles = Record<string, Uint8Array>;

/**
 * A model as it crosses to the engine: bytes only, never parsed by the host. The
 * sidecar `<model>.dtd.json` goes as its bytes (the engine parses it, bounded);
 * files the model names next to itself are asked for by the engine ('needFiles')
 * once it has parsed the model, and the host answers with 'files'.
 */
export interface WireModel {
  fileName: string;
  modelBytes: Uint8Array;
  sidecarBytes?: Uint8Array;
  files?: ModelFiles;
}

/** Audit options that can cross a process boundary. */
export type WireAuditOptions = Omit<AuditOptions, 'onProgress' | 'signal'>;

/** How the engine gets its input vector. */
export type InputSpec =
  | { kind: 'values'; values: number[] }
  | { kind: 'file'; fileName: string; bytes: Uint8Array; preprocessing?: ImagePreprocessing }
  | { kind: 'random'; seed: number; minOutput: number };

// ── host → engine ──────────────────────────────────────────────────────────
export type HostToEngine =
  /** `pagesFile`: where the engine writes the result's pages (protocol/pages.ts); the reply is then the small view. */
  | ({ type: 'explain'; id: number; input: InputSpec; options: WireExplainOptions; pagesFile?: string } & WireModel)
  | ({ type: 'inspect'; id: number; input?: InputSpec } & WireModel)
  | ({ type: 'audit'; id: number; options: WireAuditOptions } & WireModel)
  /** A dataset run (a folder of images, a file of several inputs): light records in batches, answered with the gallery. `argmax`: each input explains its largest output (options.explainedOutput is then ignored). */
  | ({ type: 'dataset'; id: number; inputs: DatasetSpec; options: WireExplainOptions; argmax?: boolean } & WireModel)
  /** The answer to 'needFiles': the files the host could read (a missing one is left out), or why it refused. */
  | { type: 'files'; id: number; files: ModelFiles; error?: { code: string; message: string } }
  | { type: 'cancel'; id: number }
  | { type: 'ping'; id: number }
  /** Concepts (CRP): the conditional heatmaps of `channels` of tensor `layer`, for the same model, input and options as a shown run. */
  | ({ type: 'concepts'; id: number; input: InputSpec; options: WireExplainOptions; layer: number; channels: number[]; modelSha256?: string | null } & WireModel)
  /**
   * Baselines on demand: the comparison baselines of a shown run, for the same model (checked by SHA-256), input,
   * explained output, precision and backend. `pagesFile`: the run's page file, where the engine adds the pages of
   * large baseline tensors (the reply then carries their summaries, as a result's view does).
   */
  | ({ type: 'baselines'; id: number; input: InputSpec; options: WireExplainOptions; modelSha256?: string | null; pagesFile?: string } & WireModel);

/** The engine's answer to 'baselines': what the host merges into the stored run and the webview into what it shows. */
export interface BaselinesReply {
  /** null: none could be computed (the warnings say why). Large tensors are [] with their summary in `tensors`. */
  baselines: Baselines | null;
  /** Summaries of the tensors cut to pages, by page key ('baseline:zplus:3'): merged into the result's paged.tensors. */
  tensors: Record<string, TensorSummary>;
  /** Baselines left out (not finite), in words: added to the result's warnings. */
  warnings: string[];
  backend: string;
  precision: Precision;
  /** Engine time, ms (the result's timings.baselines). */
  ms: number;
}

// ── engine → host ──────────────────────────────────────────────────────────
/** The levels of a log message: the names of the host's LogOutputChannel methods it may call. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
}

export interface InspectReply {
  model: ModelSummary;
  /** Output values for the input, when one was given. */
  outputs?: number[];
  input?: number[];
}

export type EngineToHost =
  | { type: 'ready'; backend: string; pid: number }
  | { type: 'progress'; id: number; progress: Progress }
  | { type: 'result'; id: number; result: ExplainResult }
  | { type: 'inspected'; id: number; reply: InspectReply }
  | { type: 'audited'; id: number; audit: AuditResult; csv: string }
  | { type: 'datasetDone'; id: number; reply: DatasetReply }
  | { type: 'error'; id: number; code: string; message: string }
  | { type: 'log'; level: LogLevel; message: string }
  | { type: 'pong'; id: number }
  | { type: 'concepts'; id: number; concepts: ConceptHeatmap[] }
  | { type: 'baselines'; id: number; reply: BaselinesReply }
  /** The model names files next to itself (TF.js weight shards): the host reads them, confined to the model's folder, and answers 'files'. */
  | { type: 'needFiles'; id: number; names: string[] };

// ── host → webview ─────────────────────────────────────────────────────────
/** Where a webview shows the visualizer: the editor panel, or the ~300 px side-bar view (its own compact layout). */
export type VisualizerView = 'sidebar' | 'panel';

export function isVisualizerView(v: unknown): v is VisualizerView {
  return v === 'sidebar' || v === 'panel';
}

export interface WebviewSettings {
  topK: number;
  /** Which webview this is (the host sets it per webview): the side bar draws its compact layout. */
  view?: VisualizerView;
  /** The host computes baselines on request ('baselines'): a result without them offers to compute them (VS Code; not a report file). */
  baselinesOnDemand?: boolean;
  theme?: 'light' | 'dark' | 'high-contrast';
  imageShape?: number[] | null;
  /** The dtdLens.inputShape setting, [C, H, W]: how to draw an input the model gives no image shape (the model's shapes[0] wins). */
  inputShape?: number[] | null;
}

export type HostToWebview =
  /** The host's answer to 'ready', before any content: which webview this is. */
  | { type: 'hello'; view: VisualizerView }
  | { type: 'result'; result: ExplainResult; settings?: WebviewSettings }
  | { type: 'compare'; left: ExplainResult; right: ExplainResult; settings?: WebviewSettings }
  | { type: 'audit'; audit: AuditResult }
  | { type: 'progress'; progress: Progress | null }
  | { type: 'export'; format: 'svg' | 'png' | 'json'; requestId: number }
  /** The answer to the webview's 'concept' request: the heatmap, or why there is none. */
  | { type: 'concept'; requestId: number; concept?: ConceptHeatmap; error?: string }
  /** The answer to the webview's 'page': the page's value, or why there is none. */
  | { type: 'page'; requestId: number; run: string; key: string; data?: unknown; error?: string }
  /**
   * Baselines computed on demand for stored run `run` (null: not a stored run): the answer to the webview's
   * 'baselines' request (its requestId), or 0 when another webview or the Compute Baselines command asked.
   * `show`: switch the comparison to the first baseline. `error`: why there are none (cancelled, failed).
   */
  | { type: 'baselines'; requestId: number; run: string | null; show: boolean; reply?: BaselinesReply; error?: string }
  | { type: 'clear' };

/** The standalone HTML report's data block (its id, and what it holds): the host messages' content, for a file. */
export const REPORT_DATA_ID = 'dtd-report-data';
export type ReportPayload = { result: ExplainResult; settings: WebviewSettings } | { left: ExplainResult; right: ExplainResult; settings: WebviewSettings };

// ── webview → host ─────────────────────────────────────────────────────────
export type WebviewToHost =
  | { type: 'ready' }
  /** `view`: the layout drawn (the side bar's compact one, or the panel's); `baseline`: the baseline drawn next to the result ('gradientTimesInput', 'lrp:<key>'), when one is. */
  | { type: 'rendered'; summary: { layers: number; nodesPerLayer: number[]; flows: number; renderMs: number; view?: VisualizerView; baseline?: string } }
  | { type: 'auditRendered'; rows: number; bars: number }
  | { type: 'select'; layer: number; unit: number }
  | { type: 'exported'; requestId: number; format: 'svg' | 'png' | 'json'; data: string }
  | { type: 'explain' }
  /** The audit view's own Save CSV / Save JSON buttons: the host saves the audit it showed. */
  | { type: 'saveAudit'; format: 'csv' | 'json' }
  /** The side bar's "Open in editor": the full visualizer panel for the run it shows (`run`: its stored run id, when known). */
  | { type: 'openInEditor'; run: string | null }
  /** Concepts (CRP): the conditional heatmap of channel `channel` of tensor `layer` of the shown result. */
  | { type: 'concept'; requestId: number; layer: number; channel: number }
  /** A page of a stored run (protocol/pages.ts): a root-tree node's children, a large layer's values. */
  | { type: 'page'; requestId: number; run: string; key: string }
  /** Baselines on demand for the shown result (`run`: its stored run id, when known): the user opened the comparison. */
  | { type: 'baselines'; requestId: number; run: string | null }
  /** The result just posted is drawn (its frame painted). */
  | { type: 'drawn' }
  | { type: 'error'; message: string };

// ── validation ─────────────────────────────────────────────────────────────
function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

export function isEngineToHost(v: unknown): v is EngineToHost {
  if (!isObj(v) || typeof v.type !== 'string') return false;
  switch (v.type) {
    case 'ready':
      return typeof v.backend === 'string';
    case 'progress':
      return typeof v.id === 'number' && isObj(v.progress);
    case 'result':
      return typeof v.id === 'number' && isObj(v.result);
    case 'inspected':
      return typeof v.id === 'number' && isObj(v.reply);
    case 'audited':
      return typeof v.id === 'number' && isAuditResult(v.audit) && typeof v.csv === 'string';
    case 'datasetDone':
      return typeof v.id === 'number' && isObj(v.reply) && isObj(v.reply.gallery) && Array.isArray(v.reply.gallery.items) && Array.isArray(v.reply.inputs);
    case 'error':
      return typeof v.id === 'number' && typeof v.message === 'string';
    case 'log':
      return typeof v.message === 'string';
    case 'pong':
      return typeof v.id === 'number';
    case 'concepts':
      return typeof v.id === 'number' && Array.isArray(v.concepts) && v.concepts.every(isConceptHeatmap);
    case 'baselines':
      return typeof v.id === 'number' && isBaselinesReply(v.reply);
    case 'needFiles':
      return typeof v.id === 'number' && Array.isArray(v.names) && v.names.length <= LIMITS.siblingFiles && v.names.every((n) => typeof n === 'string');
    default:
      return false;
  }
}

/** A name → bytes map of at most LIMITS.siblingFiles entries. */
function isModelFiles(v: unknown): v is ModelFiles {
  if (!isObj(v) || Array.isArray(v)) return false;
  const entries = Object.entries(v);
  return entries.length <= LIMITS.siblingFiles && entries.every(([, b]) => b instanceof Uint8Array);
}

/** The model part of a request: bytes only. */
function isWireModel(v: Record<string, unknown>): boolean {
  return (
    typeof v.fileName === 'string' &&
    v.modelBytes instanceof Uint8Array &&
    (v.sidecarBytes === undefined || v.sidecarBytes instanceof Uint8Array) &&
    (v.files === undefined || isModelFiles(v.files))
  );
}

export function isHostToEngine(v: unknown): v is HostToEngine {
  if (!isObj(v) || typeof v.type !== 'string' || !Number.isSafeInteger(v.id)) return false;
  switch (v.type) {
    case 'explain':
      return isWireModel(v) && isObj(v.input) && isObj(v.options) && (v.pagesFile === undefined || typeof v.pagesFile === 'string');
    case 'inspect':
      return isWireModel(v) && (v.input === undefined || isObj(v.input));
    case 'audit':
      return isWireModel(v) && isObj(v.options) && typeof v.options.inputs === 'number';
    case 'dataset':
      return isWireModel(v) && isObj(v.inputs) && isObj(v.options) && (v.argmax === undefined || typeof v.argmax === 'boolean');
    case 'files':
      return isModelFiles(v.files) && (v.error === undefined || (isObj(v.error) && typeof v.error.code === 'string' && typeof v.error.message === 'string'));
    case 'baselines':
      return isWireModel(v) && isObj(v.input) && isObj(v.options) && (v.modelSha256 === undefined || v.modelSha256 === null || typeof v.modelSha256 === 'string') && (v.pagesFile === undefined || typeof v.pagesFile === 'string');
    case 'concepts':
      return isWireModel(v) && isObj(v.input) && isObj(v.options) && Number.isSafeInteger(v.layer) && Array.isArray(v.channels) && v.channels.length <= LIMITS.conceptChannels && v.channels.every((c) => Number.isSafeInteger(c));
    case 'cancel':
    case 'ping':
      return true;
    default:
      return false;
  }
}

/** A conditional heatmap as it crosses a boundary. */
export function isConceptHeatmap(v: unknown): v is ConceptHeatmap {
  return isObj(v) && Number.isSafeInteger(v.layer) && Number.isSafeInteger(v.channel) && Array.isArray(v.relevance) && v.relevance.every((x) => typeof x === 'number') && typeof v.channelRelevance === 'number';
}

const isNumbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');

/** Baselines as they cross a boundary: number arrays where numbers are promised. */
export function isBaselines(v: unknown): v is Baselines {
  if (!isObj(v) || !isNumbers(v.gradient) || !isNumbers(v.gradientTimesInput) || !isObj(v.lrp) || Array.isArray(v.lrp)) return false;
  return Object.values(v.lrp).every(
    (b) => isObj(b) && isNumbers(b.relevance) && typeof b.sum === 'number' && (b.perLayer === undefined || (Array.isArray(b.perLayer) && b.perLayer.every(isNumbers))),
  );
}

function isTensorSummary(v: unknown): v is TensorSummary {
  return isObj(v) && typeof v.size === 'number' && isNumbers(v.shape) && isNumbers(v.channelSums) && isObj(v.map) && isNumbers(v.map.shape) && typeof v.map.factor === 'number' && isNumbers(v.map.values);
}

/** The engine's 'baselines' answer, as the host and the webview receive it. */
export function isBaselinesReply(v: unknown): v is BaselinesReply {
  return (
    isObj(v) &&
    (v.baselines === null || isBaselines(v.baselines)) &&
    isObj(v.tensors) &&
    !Array.isArray(v.tensors) &&
    Object.values(v.tensors).every(isTensorSummary) &&
    Array.isArray(v.warnings) &&
    v.warnings.every((w) => typeof w === 'string') &&
    typeof v.backend === 'string' &&
    (v.precision === 'float64' || v.precision === 'float32') &&
    typeof v.ms === 'number'
  );
}

export function isWebviewToHost(v: unknown): v is WebviewToHost {
  if (!isObj(v) || typeof v.type !== 'string') return false;
  switch (v.type) {
    case 'ready':
    case 'explain':
    case 'drawn':
      return true;
    case 'page':
      return Number.isSafeInteger(v.requestId) && isRunId(v.run) && isPageKey(v.key);
    case 'openInEditor':
      return v.run === null || isRunId(v.run);
    case 'rendered':
      return isObj(v.summary);
    case 'auditRendered':
      return typeof v.rows === 'number' && typeof v.bars === 'number';
    case 'select':
      return typeof v.layer === 'number' && typeof v.unit === 'number';
    case 'exported':
      return typeof v.requestId === 'number' && typeof v.data === 'string';
    case 'saveAudit':
      return v.format === 'csv' || v.format === 'json';
    case 'concept':
      return Number.isSafeInteger(v.requestId) && Number.isSafeInteger(v.layer) && Number.isSafeInteger(v.channel);
    case 'baselines':
      return Number.isSafeInteger(v.requestId) && (v.run === null || isRunId(v.run));
    case 'error':
      return typeof v.message === 'string';
    default:
      return false;
  }
}

/** Minimal structural check of a result before the webview draws it. */
export function isExplainResult(v: unknown): v is ExplainResult {
  return (
    isObj(v) &&
    v.schema === RESULT_SCHEMA &&
    Array.isArray(v.activations) &&
    Array.isArray(v.relevance) &&
    Array.isArray(v.roots) &&
    typeof v.explainedValue === 'number' &&
    isObj(v.model)
  );
}

/** Structural check of an audit before the webview draws it. */
export function isAuditResult(v: unknown): v is AuditResult {
  return (
    isObj(v) &&
    v.schema === 'dtd-lens/audit@1' &&
    isObj(v.model) &&
    typeof v.inputs === 'number' &&
    Array.isArray(v.rows) &&
    v.rows.every((r) => isObj(r) && typeof r.rule === 'string' && typeof r.method === 'string' && typeof r.shareRootsOutside === 'number') &&
    isObj(v.definitions)
  );
}

export function isHostToWebview(v: unknown): v is HostToWebview {
  if (!isObj(v) || typeof v.type !== 'string') return false;
  switch (v.type) {
    case 'hello':
      return isVisualizerView(v.view);
    case 'result':
      return isExplainResult(v.result);
    case 'compare':
      return isExplainResult(v.left) && isExplainResult(v.right);
    case 'audit':
      return isAuditResult(v.audit);
    case 'progress':
      return v.progress === null || isObj(v.progress);
    case 'export':
      return (v.format === 'svg' || v.format === 'png' || v.format === 'json') && typeof v.requestId === 'number';
    case 'concept':
      return Number.isSafeInteger(v.requestId) && (v.concept === undefined || isConceptHeatmap(v.concept)) && (v.error === undefined || typeof v.error === 'string');
    case 'page':
      return typeof v.requestId === 'number' && typeof v.run === 'string' && typeof v.key === 'string' && (v.error === undefined || typeof v.error === 'string');
    case 'baselines':
      return (
        Number.isSafeInteger(v.requestId) &&
        (v.run === null || typeof v.run === 'string') &&
        typeof v.show === 'boolean' &&
        (v.reply === undefined || isBaselinesReply(v.reply)) &&
        (v.error === undefined || typeof v.error === 'string') &&
        (v.reply !== undefined) !== (v.error !== undefined)
      );
    case 'clear':
      return true;
    default:
      return false;
  }
}

/** A stored run's id as the host makes them (runStore.ts newRunId): it names files, so nothing else passes. */
export function isRunId(v: unknown): v is string {
  return typeof v === 'string' && /^[a-z0-9]{1,16}-[a-z0-9]{1,16}$/.test(v);
}
