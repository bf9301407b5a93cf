// Options and the result contract of `explain()`. The result is plain JSON
// (no typed arrays) because it crosses process boundaries and lands in files
// (`--json`) and in the webview. Indexing convention, everywhere:
//   activations[0] = the input x, activations[l] = output of layer l (after its activation)
//   relevance[0]   = relevance on the input, relevance[l] = relevance on layer l's units
//   roots[l-1]     = roots of layer l's units; they live in the space of activations[l-1]

import type { BACKENDS, METHODS, PRECISIONS, ROOT_FINDERS } from './defaults';
import type { CheckDefinitions } from './checks';
import type { RuleSpec } from './rules';

/** What the engine reads of an AbortSignal (the protocol has no DOM or Node types). */
export interface CancelSignal {
  readonly aborted: boolean;
}

/** 'lrp': layer-wise relevance propagation with zennit's rules (no roots; see baselines.ts). */
export type Method = (typeof METHODS)[number];
export type RootFinderName = (typeof ROOT_FINDERS)[number];
export type Precision = (typeof PRECISIONS)[number];
export type BackendName = (typeof BACKENDS)[number];

export interface MetropolisHastingsOptions {
  steps: number; // 1000
  warmup: number; // 100
  chains: number; // 1
  initScale: number; // 1e-6
  clampNonNegative: boolean; // true
  targetAcceptance: number; // 0.9
  minScale: number; // 1e-6
  maxScale: number; // 0.01
}

export interface InterpolationOptions {
  batchSize: number; // 50
  points: number; // 10
  refinementSteps: number; // 10
  initScale: number; // 1
  clampNonNegative: boolean;
}

export interface Progress {
  stage: string;
  /** 0..1 when known. */
  fraction?: number;
}

export interface ExplainOptions {
  explainedOutput?: number;
  method?: Method;
  /**
   * One rule for all layers, or one per layer (index 0 = layer1). Text form: "z+", "gamma=0.5", "zB=0,1",
   * per layer "layer1=zB=0,1;*=z+" (by name, 1-based index, type dense/conv, or '*'). The vocabulary and the
   * methods each rule applies to: protocol/rules.ts (zennit's spellings zplus, wsquare, zbox are aliases).
   */
  rule?: string | RuleSpec | RuleSpec[];
  /** Method 'lrp': leave the biases out of every rule (zennit's zero_params='bias'). Default false. */
  zeroBias?: boolean;
  rootFinder?: RootFinderName;
  metropolisHastings?: Partial<MetropolisHastingsOptions>;
  interpolation?: Partial<InterpolationOptions>;
  /** Sampled finders (Metropolis–Hastings, interpolation): the same-region search criterion, gradient isclose (default rtol 1e-3, atol 1e-5). */
  sameRegion?: Partial<{ rtol: number; atol: number }>;
  /** Hit-and-run sampling inside the exact region (root finder 'hit-and-run'). */
  hitAndRun?: Partial<{ steps: number; warmup: number; chains: number; maxStep: number }>;
  /** Full-backward: move each root by nudge·(a − r) toward the layer input (default 1e-9). */
  nudge?: number;
  seed?: number;
  precision?: Precision;
  backend?: BackendName;
  /** Train-free: fail (with values kept) when a unit does not pass on exactly its relevance (rule "0"). Default true. */
  checkConsistent?: boolean;
  /** Compute the gradient / LRP baselines (default false: DEFAULT_BASELINES; VS Code asks for them on demand). */
  baselines?: boolean;
  /** Full-backward: refuse when the estimated number of evaluations exceeds this (default 2e6). */
  maxCost?: number;
  /** Full-backward: the most tree entries kept in the result (default 20000). */
  maxTreeEntries?: number;
  /** Flows kept per upper unit in the result (default 8). */
  topK?: number;
  onProgress?: (p: Progress) => void;
  signal?: CancelSignal;
}

export type ResultStatusCode =
  | 'ok'
  | 'no-root' // no unit of some layer has a root: relevance cannot pass
  | 'no-positive-relevance' // full-backward: at some point no unit carries positive relevance
  | 'signed-input' // interpolation finder needs non-negative layer inputs
  | 'inconsistent' // a unit did not pass on its relevance (rule "0")
  | 'output-not-positive' // informative: f(x) ≤ 0, nothing to explain
  | 'non-finite'; // an activation or relevance overflowed to ±Infinity or became NaN: the message names the first layer

export interface RootChecks {
  /** |R_j(root)| ≤ tolerance·max(|R_j(a)|, tiny). */
  relevanceZero: boolean;
  /** Same ReLU pattern in all layers above as the layer input. */
  inRegion: boolean;
  /** ≥ 0 (ReLU activations) or inside the zB box. */
  inDomain: boolean;
  /** When the root is outside its region: the first constraint crossed from the layer input to the root, in words. */
  crossing?: string | null;
}

export interface RootInfo {
  /** Layer (1-based) whose unit this root belongs to; the root lives in activations[layer-1]. */
  layer: number;
  unit: number;
  /** False when the rule has no root for this unit (v·w = 0). */
  hasRoot: boolean;
  /** The root point; null when there is none, or when it was left out of the result to keep it small (hasRoot says which). */
  root: number[] | null;
  /** R_j at the layer input (what the root should remove). */
  relevanceAtInput: number;
  /** R_j evaluated at the root: ideally 0. Train-free: the unit's linear relevance model; full-backward: the real upper relevance. */
  relevanceAtRoot: number | null;
  /** Σ_i relevance passed from this unit to the layer input. */
  passedOn: number;
  /** R_j(a) − R_j(root) − ∇R_j(root)·(a − root). */
  taylorResidual: number | null;
  distance: number | null;
  checks: RootChecks | null;
  /** Polytope root finder: why the root is where it is. */
  certificate?: RootCertificateInfo;
}

/**
 * The polytope finder's certificate: 'zero' — the unit's relevance is 0 at the root, inside the
 * affine piece of the region; 'boundary' — the rule's line leaves the piece first, at the
 * `active` constraint; 'no-descent' — the relevance does not fall along the rule's line.
 */
export interface RootCertificateInfo {
  kind: 'zero' | 'boundary' | 'no-descent';
  /** The active constraint, in words (boundary roots). */
  active: string | null;
  /** Line parameter of the relevance's zero and of the piece's end (root = a − t·v). */
  tZero: number;
  tMax: number;
}

export interface TreeEntry {
  /** 1-based layer whose input the root lives in. */
  layer: number;
  /** Path from the top call, e.g. ["layer1","root_3","layer2","root_0"]. */
  path: string[];
  unit: number;
  root: number[];
  input: number[];
  /** R_j at the input of this call (what the root should remove). */
  relevanceAtInput: number;
  /** rel_j: gradient at the root ⊙ (input − root). */
  relevance: number[];
  /** Σ_i rel_j: the relevance this unit passes on to the layer below. */
  passedOn: number;
  /** R_j evaluated at the root (the unresolved relevance): ideally 0. */
  relevanceAtRoot: number;
  taylorResidual: number;
  gradient: number[];
  /** The upper relevance vector (every unit of this layer) at the input of this call, as given to the root finder. */
  upperRelevance: number[];
  /** The explained output computed from the root, and from the input of this call. */
  outputAtRoot: number;
  outputAtInput: number;
  preActivationAtRoot: number;
  gradAtRootIsZero: boolean;
  /** The same checks as a root's, decided by the engine (engine/checks.ts). */
  checks: RootChecks;
  /** Polytope root finder: why the root is where it is. */
  certificate?: RootCertificateInfo;
}

/** A tree entry without its vectors: what a list of children shows (the vectors are in the entry's page). */
export type TreeEntrySummary = Pick<TreeEntry, 'layer' | 'path' | 'unit' | 'relevanceAtInput' | 'passedOn' | 'relevanceAtRoot' | 'taylorResidual' | 'outputAtRoot' | 'outputAtInput' | 'preActivationAtRoot' | 'gradAtRootIsZero' | 'checks' | 'certificate'> & {
  /** |input − root|. */
  distance?: number;
  /** Entries directly below this one in the tree. */
  children?: number;
};

/** One page of the root tree: a node's full entry (null for the top) and its children without their vectors. */
export interface TreePage {
  entry: TreeEntry | null;
  children: TreeEntrySummary[];
}

/** A layer too large to carry inline (LIMITS.inlineLayerValues): what the views draw of it; the full values are a page. */
export interface TensorSummary {
  /** Values of the full tensor. */
  size: number;
  /** [C, H, W] (or [n] for a vector). */
  shape: number[];
  sum: number;
  min: number;
  max: number;
  /** Per channel, the sum of its values (C-major: channel c is values [c·H·W, (c+1)·H·W)). */
  channelSums: number[];
  /** The map downsampled by `factor` (block sums of factor×factor positions, the last blocks smaller), [C, h, w] C-major. */
  map: { shape: number[]; factor: number; values: number[] };
}

/**
 * What a result leaves out of its message and keeps in pages (protocol/pages.ts): the root tree below its top
 * level and the values of large layers. The host reads a page from the run's page file when the webview asks.
 */
export interface PagedParts {
  /** The stored run whose page file holds the pages (set by the host); null when the pages were not kept. */
  run: string | null;
  /** The root tree: its entry count, whether it was truncated, and the top level without vectors (page 'tree:' + path). */
  tree: { entries: number; top: TreeEntrySummary[] } | null;
  /** Summarized layers by page key ('activations:3', 'preActivations:2', 'relevance:3', 'baseline:zplus:3'); their arrays in the result are empty. */
  tensors: Record<string, TensorSummary>;
  /** Layers (1-based) whose roots' points are left out (RootInfo.root null with hasRoot true); page 'roots:<layer>'. */
  roots: number[];
}

/** Relevance flowing from lower unit `from` (in activations[layer-1]) into upper unit `to` of layer `layer`. */
export interface Flow {
  from: number;
  to: number;
  value: number;
}

export interface LayerFlows {
  /** 1-based layer: flows go from activations[from ?? layer-1]'s units to layer `layer`'s units. */
  layer: number;
  /** The tensor the layer reads when it is not the previous layer's output (graph networks). */
  from?: number;
  /** How many flows per upper unit are listed (the largest by |value|). */
  k: number;
  top: Flow[];
  /** rest[j]: the sum of upper unit j's flows that are not listed in `top` (aggregated). */
  rest: number[];
}

/**
 * Channel-to-channel relevance flows of one layer (Concept Relevance Propagation's attribution graph):
 * matrix[c][d] is what layer `layer` sends to channel c of tensor `from` when handed only the relevance of its
 * output channel d, summed over positions. A vector tensor has one channel per unit.
 */
export interface ChannelFlows {
  /** 1-based layer. */
  layer: number;
  /** The tensor it reads (0 = the input); a join has one entry per input. */
  from: number;
  matrix: number[][];
}

/** One channel's conditional heatmap (CRP): the input relevance that passes through that channel only. */
export interface ConceptHeatmap {
  /** The tensor (1..L, the output of layer `layer`) and its channel. */
  layer: number;
  channel: number;
  /** At the network input, flattened as activations[0]. */
  relevance: number[];
  /** The channel's relevance (sum over its positions). */
  channelRelevance: number;
}

export interface LayerDiagnostics {
  /** Index into relevance[] (0 = input). */
  index: number;
  name: string;
  relevanceSum: number;
  explainedValue: number;
  conservationError: number;
  /** |conservationError| within the tolerance of protocol/checks.ts (decided by the engine). */
  conserved: boolean;
  negativeMass: number;
  rootsTotal: number;
  rootsInRegion: number;
  rootsInDomain: number;
  rootsWithZeroRelevance: number;
}

export interface LrpBaseline {
  relevance: number[];
  sum: number;
  /** Relevance at the input of each layer (index 0 = network input), when computed. */
  perLayer?: number[][];
}

export interface Baselines {
  gradient: number[];
  gradientTimesInput: number[];
  /** Keys as the fixtures: zplus, zplus_zero_bias, epsilon_1e-6, epsilon_1e-6_zero_bias, gamma_0.25, gamma_0.25_zero_bias, alpha2_beta1, wsquare_zero_bias. */
  lrp: Record<string, LrpBaseline>;
}

export interface ModelSummary {
  name: string;
  format: string;
  inputSize: number;
  outputSize: number;
  layers: LayerSummary[];
  /** What the loader assumed or changed (activation not stored in the file, softmax removed, BatchNorm folded, constants folded, channels-last converted…). */
  notes: string[];
  /** The input's [C, H, W] when image-shaped. */
  inputShape?: number[];
}

/** One layer as the inspector and the CLI show it. Tensor 0 is the network input, tensor k the output of layer k. */
export interface LayerSummary {
  name: string;
  kind: string;
  inFeatures: number;
  outFeatures: number;
  /** 'relu' | 'linear' | 'leakyrelu' | 'clip' | 'sigmoid' | 'tanh' | 'elu'. */
  activation: string;
  /** The activation in words ("ReLU", "LeakyReLU(0.1)", "Clip[0, 6]", "none"). */
  activationText?: string;
  parameters: number;
  /** The tensors it reads (absent: the previous layer's output). Joins (add, concat) read several. */
  inputs?: number[];
  /** Output shape: [C, H, W] or [n]. */
  outShape?: number[];
  kernel?: number[];
  stride?: number[];
  /** [top, left, bottom, right]. */
  padding?: number[];
  dilation?: number[];
  groups?: number;
}

/** The result's schema: bumped when a field is renamed or changes meaning (stored runs of older schemas are upgraded by protocol/migrate.ts). */
export const RESULT_SCHEMA = 'dtd-lens/result@3' as const;

/** What makes a result reproducible besides its options: the engine and the exact model file. */
export interface Provenance {
  engineVersion: string;
  /** SHA-256 of the model file's bytes (hex); null for results upgraded from schema 1. */
  modelSha256: string | null;
}

export interface ExplainResult {
  schema: typeof RESULT_SCHEMA;
  provenance: Provenance;
  status: 'ok' | 'failed';
  statusCode: ResultStatusCode;
  /** Words a user understands; set whenever status is 'failed', sometimes as a warning otherwise. */
  message: string | null;
  model: ModelSummary;
  input: number[];
  explainedOutput: number;
  explainedRow: number;
  explainedValue: number;
  method: Method;
  rules: string[];
  rootFinder: RootFinderName;
  activations: number[][];
  preActivations: number[][];
  /**
   * shapes[l]: the shape of relevance[l] / activations[l] ([C, H, W] for image-shaped tensors, flattened C-major
   * (NCHW) in those arrays; [n] for vectors). Present for networks with conv/pooling layers or an image input.
   */
  shapes?: number[][];
  /** relevance[l] or null where the decomposition did not produce that layer (full-backward only gives the input). */
  relevance: (number[] | null)[];
  roots: RootInfo[][];
  /** Per layer (index l-1), the largest relevance flows per unit; rest aggregated. */
  flows: LayerFlows[];
  /** Train-free and LRP results of networks with image-shaped tensors: channel-to-channel flows per layer (see ChannelFlows). */
  channelFlows?: ChannelFlows[];
  /** The whole root tree (full-backward), or null; null in a paged result, whose tree is in `paged.tree` and its pages. */
  tree: TreeEntry[] | null;
  treeTruncated: boolean;
  /** Set when parts of the result are kept in pages instead of inline (results the extension stores and draws). */
  paged?: PagedParts;
  baselines: Baselines | null;
  diagnostics: {
    layers: LayerDiagnostics[];
    /** In words, what each root check tested (protocol/checks.ts). */
    checkDefinitions?: CheckDefinitions;
    /** Train-free root checks of big layers run on a uniform sample of units: how many of how many (1-based layer). */
    rootSampling?: { layer: number; checked: number; units: number }[];
    rootFinderStats?: Record<string, number>;
    cacheHits?: number;
    cacheMisses?: number;
    evaluations?: number;
  };
  backend: string;
  precision: Precision;
  seed: number;
  options: Record<string, unknown>;
  timings: Record<string, number>;
  warnings: string[];
}
