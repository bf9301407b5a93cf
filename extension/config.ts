// Reads the `dtdLens.*` settings and turns them into the engine's wire options.
// Every default and every closed list comes from the protocol package
// (protocol/defaults.ts, protocol/formats.ts): a setting that is missing or
// invalid falls back to the protocol's value, so the host, the engine and
// package.json agree (test/unit/protocol.test.ts checks package.json).

import * as vscode from 'vscode';
import {
  BACKENDS,
  DEFAULT_BACKEND,
  DEFAULT_ENGINE_TIMEOUT_SECONDS,
  DEFAULT_INTERPOLATION,
  DEFAULT_MAX_MODEL_SIZE_MB,
  DEFAULT_MAX_RECENT_RUNS,
  DEFAULT_METHOD,
  DEFAULT_MH,
  DEFAULT_PRECISION,
  DEFAULT_ROOT_FINDER,
  DEFAULT_RULE,
  DEFAULT_SAME_REGION,
  DEFAULT_SEED,
  DEFAULT_TOP_K,
  asInputShape,
  INPUT_EXTENSIONS,
  isModelFileName,
  METHODS,
  MODEL_EXTENSIONS,
  MODEL_FILENAMES,
  PRECISIONS,
  ROOT_FINDERS,
  type BackendName,
  type ImagePreprocessing,
  type InputShape,
  type Method,
  type Precision,
  type RootFinderName,
  type WireExplainOptions,
} from './protocol';

export interface Settings {
  method: Method;
  rule: string;
  rootFinder: RootFinderName;
  metropolisHastings: { steps: number; warmup: number; chains: number; initScale: number; targetAcceptance: number };
  interpolation: { batchSize: number; points: number; refinementSteps: number };
  rtol: number;
  atol: number;
  precision: Precision;
  backend: BackendName;
  seed: number;
  topK: number;
  engineTimeoutSeconds: number;
  maxModelSizeMB: number;
  maxRecentRuns: number;
  /** How image inputs become the model input (the model's sidecar "preprocessing" takes precedence). */
  image: ImagePreprocessing;
  /** dtdLens.inputShape: [C, H, W] the visualizer draws the input as when the model has no image shape (null: none given). */
  inputShape: InputShape | null;
}

// The image settings' choices: the protocol types them (ImagePreprocessing) but has no
// value lists; a field left undefined gets the engine's default.
const CHANNEL_ORDERS = ['rgb', 'bgr'] as const;
const GRAYSCALES = ['luma', 'average'] as const;
const SCALES = ['0..1', '0..255', '-1..1'] as const;
const RESIZES = ['bilinear', 'none'] as const;

function numbers(value: unknown): number[] | undefined {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'number' && Number.isFinite(v)) ? (value as number[]) : undefined;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T): T;
function oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | undefined;
function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback?: T): T | undefined {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

function num(value: unknown, fallback: number, min = -Infinity): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min ? value : fallback;
}

export function readSettings(scope?: vscode.Uri): Settings {
  const c = vscode.workspace.getConfiguration('dtdLens', scope);
  const std = numbers(c.get('image.std'));
  return {
    method: oneOf(c.get('method'), METHODS, DEFAULT_METHOD),
    rule: (c.get<string>('rule') ?? DEFAULT_RULE).trim() || DEFAULT_RULE,
    rootFinder: oneOf(c.get('rootFinder'), ROOT_FINDERS, DEFAULT_ROOT_FINDER),
    metropolisHastings: {
      steps: Math.round(num(c.get('metropolisHastings.steps'), DEFAULT_MH.steps, 1)),
      warmup: Math.round(num(c.get('metropolisHastings.warmup'), DEFAULT_MH.warmup, 0)),
      chains: Math.round(num(c.get('metropolisHastings.chains'), DEFAULT_MH.chains, 1)),
      initScale: num(c.get('metropolisHastings.initScale'), DEFAULT_MH.initScale, 0),
      targetAcceptance: num(c.get('metropolisHastings.targetAcceptance'), DEFAULT_MH.targetAcceptance, 0),
    },
    interpolation: {
      batchSize: Math.round(num(c.get('interpolation.batchSize'), DEFAULT_INTERPOLATION.batchSize, 1)),
      points: Math.round(num(c.get('interpolation.points'), DEFAULT_INTERPOLATION.points, 2)),
      refinementSteps: Math.round(num(c.get('interpolation.refinementSteps'), DEFAULT_INTERPOLATION.refinementSteps, 0)),
    },
    rtol: num(c.get('sameRegion.rtol'), DEFAULT_SAME_REGION.rtol, 0),
    atol: num(c.get('sameRegion.atol'), DEFAULT_SAME_REGION.atol, 0),
    precision: oneOf(c.get('precision'), PRECISIONS, DEFAULT_PRECISION),
    backend: oneOf(c.get('backend'), BACKENDS, DEFAULT_BACKEND),
    seed: Math.round(num(c.get('seed'), DEFAULT_SEED)),
    topK: Math.round(num(c.get('topK'), DEFAULT_TOP_K, 1)),
    engineTimeoutSeconds: num(c.get('engineTimeoutSeconds'), DEFAULT_ENGINE_TIMEOUT_SECONDS, 1),
    maxModelSizeMB: num(c.get('maxModelSizeMB'), DEFAULT_MAX_MODEL_SIZE_MB, 0),
    maxRecentRuns: Math.round(num(c.get('maxRecentRuns'), DEFAULT_MAX_RECENT_RUNS, 1)),
    image: {
      channelOrder: oneOf(c.get('image.channelOrder'), CHANNEL_ORDERS),
      grayscale: oneOf(c.get('image.grayscale'), GRAYSCALES),
      scale: oneOf(c.get('image.scale'), SCALES),
      mean: numbers(c.get('image.mean')),
      std: std?.every((v) => v !== 0) ? std : undefined,
      resize: oneOf(c.get('image.resize'), RESIZES),
    },
    inputShape: asInputShape(c.get('inputShape')),
  };
}

/** What a run asks for; anything left out comes from the settings. */
export interface RunChoices {
  explainedOutput: number;
  method?: Method;
  rule?: string;
  rootFinder?: RootFinderName;
  /** Extra engine options (tests use them for long runs). */
  options?: Partial<WireExplainOptions>;
}

export function toWireOptions(s: Settings, choices: RunChoices): WireExplainOptions {
  const method = choices.method ?? s.method;
  const rootFinder = choices.rootFinder ?? s.rootFinder;
  const base: WireExplainOptions = {
    explainedOutput: choices.explainedOutput,
    method,
    rule: choices.rule ?? s.rule,
    rootFinder,
    seed: s.seed,
    precision: s.precision,
    backend: s.backend,
    topK: s.topK,
  };
  if (method === 'full-backward' && rootFinder === 'metropolis-hastings') base.metropolisHastings = { ...s.metropolisHastings };
  if (method === 'full-backward' && rootFinder === 'interpolation') base.interpolation = { ...s.interpolation };
  if (method === 'full-backward' && (rootFinder === 'metropolis-hastings' || rootFinder === 'interpolation')) base.sameRegion = { rtol: s.rtol, atol: s.atol };
  const extra = choices.options ?? {};
  return {
    ...base,
    ...extra,
    metropolisHastings: extra.metropolisHastings ? { ...base.metropolisHastings, ...extra.metropolisHastings } : base.metropolisHastings,
    interpolation: extra.interpolation ? { ...base.interpolation, ...extra.interpolation } : base.interpolation,
  };
}

/** The model files the extension offers, for messages (protocol/formats.ts; a plain JSON network is a command-line format only). */
export const MODEL_FILES_TEXT = [...MODEL_EXTENSIONS, ...MODEL_FILENAMES].join(', ');
/** The input files, for messages. */
export const INPUT_FILES_TEXT = INPUT_EXTENSIONS.join(', ');

/** A file the extension offers as a model (protocol/formats.ts decides by name). */
export function isModelFile(uri: vscode.Uri): boolean {
  return isModelFileName(uri.path);
}

export function baseName(uri: vscode.Uri): string {
  const p = uri.path;
  return p.slice(p.lastIndexOf('/') + 1);
}
