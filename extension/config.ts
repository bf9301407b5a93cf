// Reads the `dtdLens.*` settings and turns them into the engine's wire options.
// One place for defaults, so the run flow, the re-run and the tests agree.

import * as vscode from 'vscode';
import type { ImagePreprocessing, WireExplainOptions } from './protocol';
import type { BackendName, Method, Precision, RootFinderName } from './protocol';

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
}

export const METHODS: readonly Method[] = ['train-free', 'full-backward', 'lrp'];
export const ROOT_FINDERS: readonly RootFinderName[] = ['linear', 'metropolis-hastings', 'interpolation', 'polytope', 'hit-and-run'];

function numbers(value: unknown): number[] | undefined {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'number' && Number.isFinite(v)) ? (value as number[]) : undefined;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T): T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

function num(value: unknown, fallback: number, min = -Infinity): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min ? value : fallback;
}

export function readSettings(scope?: vscode.Uri): Settings {
  const c = vscode.workspace.getConfiguration('dtdLens', scope);
  return {
    method: oneOf(c.get('method'), METHODS, 'train-free'),
    rule: (c.get<string>('rule') ?? 'z+').trim() || 'z+',
    rootFinder: oneOf(c.get('rootFinder'), ROOT_FINDERS, 'linear'),
    metropolisHastings: {
      steps: Math.round(num(c.get('metropolisHastings.steps'), 1000, 1)),
      warmup: Math.round(num(c.get('metropolisHastings.warmup'), 100, 0)),
      chains: Math.round(num(c.get('metropolisHastings.chains'), 1, 1)),
      initScale: num(c.get('metropolisHastings.initScale'), 1e-6, 0),
      targetAcceptance: num(c.get('metropolisHastings.targetAcceptance'), 0.9, 0),
    },
    interpolation: {
      batchSize: Math.round(num(c.get('interpolation.batchSize'), 50, 1)),
      points: Math.round(num(c.get('interpolation.points'), 10, 2)),
      refinementSteps: Math.round(num(c.get('interpolation.refinementSteps'), 10, 0)),
    },
    rtol: num(c.get('sameRegion.rtol'), 1e-3, 0),
    atol: num(c.get('sameRegion.atol'), 1e-5, 0),
    precision: oneOf(c.get('precision'), ['float64', 'float32'] as const, 'float64'),
    backend: oneOf(c.get('backend'), ['auto', 'tensorflow', 'wasm', 'cpu'] as const, 'auto'),
    seed: Math.round(num(c.get('seed'), 0)),
    topK: Math.round(num(c.get('topK'), 20, 1)),
    engineTimeoutSeconds: num(c.get('engineTimeoutSeconds'), 120, 1),
    maxModelSizeMB: num(c.get('maxModelSizeMB'), 200, 0),
    maxRecentRuns: Math.round(num(c.get('maxRecentRuns'), 20, 1)),
    image: {
      channelOrder: oneOf(c.get('image.channelOrder'), ['rgb', 'bgr'] as const, 'rgb'),
      grayscale: oneOf(c.get('image.grayscale'), ['luma', 'average'] as const, 'luma'),
      scale: oneOf(c.get('image.scale'), ['0..1', '0..255', '-1..1'] as const, '0..1'),
      mean: numbers(c.get('image.mean')),
      std: numbers(c.get('image.std'))?.every((v) => v !== 0) ? numbers(c.get('image.std')) : undefined,
      resize: oneOf(c.get('image.resize'), ['bilinear', 'none'] as const, 'bilinear'),
    },
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

/** Model files the extension offers: the formats whose loaders exist. Keep in step with the `when` clauses in package.json. */
export const MODEL_EXTENSIONS = ['.onnx', '.safetensors', '.keras', '.h5', '.pt', '.pth'] as const;
/** TensorFlow.js Layers models are recognised by their file name (any other .json is not a model). */
export const MODEL_FILENAMES = ['model.json'] as const;
export const MODEL_GLOB = '**/{*.onnx,*.safetensors,*.keras,*.h5,*.pt,*.pth,model.json}';
export const INPUT_GLOB = '**/*.{json,csv,npy,png,jpg,jpeg}';

export function isModelFile(uri: vscode.Uri): boolean {
  const p = uri.path.toLowerCase();
  const name = p.slice(p.lastIndexOf('/') + 1);
  return MODEL_EXTENSIONS.some((e) => p.endsWith(e)) || (MODEL_FILENAMES as readonly string[]).includes(name);
}

/** Mirrors the engine's `sidecarNameFor`: `foo.safetensors` → `foo.dtd.json` in the same folder. */
export function sidecarUriFor(model: vscode.Uri): vscode.Uri {
  const p = model.path;
  const slash = p.lastIndexOf('/');
  const dot = p.lastIndexOf('.');
  const stem = dot > slash + 1 ? p.slice(0, dot) : p;
  return model.with({ path: `${stem}.dtd.json` });
}

export function baseName(uri: vscode.Uri): string {
  const p = uri.path;
  return p.slice(p.lastIndexOf('/') + 1);
}
