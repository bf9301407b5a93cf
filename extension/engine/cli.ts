// The command line: `dtd-lens explain <model> …` (and, with no arguments, the
// seed configuration of the research code). A thin shell around explain():
// parse flags, read files, print a summary, write JSON/HTML. Exit codes:
// 0 success, 1 a result whose status is 'failed', 2 bad usage or bad input.

import { writeJsonFile } from './pageFile';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { runsInProcess, superviseWithBoundedHeap } from './supervise';
import { DtdError, isDtdError } from './errors';
import { SUPPORTED_MODEL_EXTENSIONS, drawRandomInput, explain, loadModel, outputs, parseInput, sidecarNameFor } from './index';
import { explainDataset, galleryPayload, readImageFolder, type DatasetInputs } from './dataset';
import { parseInputRows } from './input';
import { renderGalleryHtml } from './galleryReport';
import type { Network } from './network';
import { renderHtmlReport } from './report';
import { PACKAGE_VERSION } from './version';
import { parsePreprocessing, preprocessingFromSidecar, type ImagePreprocessing } from './image';
import { AUDIT_USAGE, runAudit } from './cliAudit';
import { readConfined, readRegularFile } from './files';
import { parseSidecar } from './sidecar';
import { ARGMAX_OUTPUT, type DatasetItem, type DatasetOutput, type DatasetSummary, BACKENDS, DEFAULT_BACKEND, DEFAULT_BASELINES, DEFAULT_MAX_COST, DEFAULT_METHOD, DEFAULT_MH, DEFAULT_NUDGE, DEFAULT_PRECISION, DEFAULT_ROOT_FINDER, DEFAULT_TOP_K, describeValue, escapeName, type ExplainOptions, type ExplainResult, LIMITS, logText, METHODS, plainText, PRECISIONS, quoteName, type Progress, ROOT_FINDERS, RULE_PRESET_NAMES, RULES, rulesFor, ruleUsage, formatBytes, jsonBytes, splitResultWithin } from '../protocol';

const VERSION = PACKAGE_VERSION;

/** The --rule lines of the help, from the rule vocabulary (protocol/rules.ts). */
/** "a (default) | b | c" from a protocol list and its default. */
function choices(list: readonly string[], dflt: string): string {
  return list.map((x) => (x === dflt ? `${x} (default)` : x)).join(' | ');
}

const RULE_HELP = (() => {
  const pad = ' '.repeat(26);
  const aliases = RULES.flatMap((r) => r.aliases.filter((a) => /^[\x20-\x7e]+$/.test(a)).map((a) => `${a} = ${r.name}`));
  return [
    ...METHODS.map((m) => `${m}: ${rulesFor(m).map(ruleUsage).join(' | ')}`),
    'zB per channel: "zB=[l1 l2 l3],[h1 h2 h3]"; per layer: "layer1=zB=0,1;*=z+"',
    '(a layer by name or 1-based index, a type dense/conv, or * for the rest)',
    `lrp, zennit's named composites: ${RULE_PRESET_NAMES.join(' | ')}`,
    `other spellings: ${aliases.join(', ')}`,
  ]
    .map((line, i) => (i === 0 ? `  --rule R                ${line}` : pad + line))
    .join('\n');
})();

const USAGE = `DTD Lens ${VERSION} — explain a ReLU network's output with the Deep Taylor Decomposition

Usage:
  dtd-lens                                   explain the bundled seed example (both decompositions)
  dtd-lens explain <model> [options]         model: ${SUPPORTED_MODEL_EXTENSIONS.join(', ')}
  dtd-lens audit <model> --inputs N [...]    root audit over N random inputs (see dtd-lens audit --help)

Input:
  --input FILE            JSON array / {"x": [...]} / nested [C][H][W], one-row CSV, float32/float64 .npy,
                          or a PNG/JPEG image (resized and normalised as the sidecar's "preprocessing" says,
                          or as --channel-order rgb|bgr --grayscale luma|average --scale 0..1|0..255|-1..1
                          --mean m1,m2,m3 --std s1,s2,s3 --resize bilinear|none say)
  --random-input          draw |N(0, I)| until the explained output exceeds --min-output (at most
                          ${LIMITS.randomInputDraws} draws and ${LIMITS.randomInputSeconds} s of draws that miss)
  --inputs FILE|DIR       a dataset: every input of an N-row .npy (N×features or N×C×H×W), an N-row CSV,
                          a JSON array of inputs, or a folder of PNG/JPEG images (sorted by name; only
                          plain image files; preprocessed as one image is), explained in one run, in
                          batches; --json writes JSON Lines (one result per input), --html a gallery
  --light                 with --inputs: keep only each input's relevance and diagnostics (train-free and
                          lrp then run batched; the fast way through a large set)
  --seed N                random seed (default 0; also seeds the root finders)
  --min-output T          threshold for --random-input (default 0)

What to explain:
  --output K|argmax       explained output index (default 0; with --random-input, when output 0 is never
                          positive, the output most often largest, with a warning); argmax: each input's
                          largest output
  --method M              ${choices(METHODS, DEFAULT_METHOD)}
${RULE_HELP}
  --zero-bias             lrp: leave the biases out of every rule
  --root-finder F         ${choices(ROOT_FINDERS, DEFAULT_ROOT_FINDER)}
  --chains N --steps N --warmup N     Metropolis–Hastings settings (${DEFAULT_MH.chains}, ${DEFAULT_MH.steps}, ${DEFAULT_MH.warmup})
  --nudge E               full-backward: move roots by E toward the input (default ${DEFAULT_NUDGE})
  --max-cost N            full-backward: refuse above N relevance evaluations (default ${DEFAULT_MAX_COST.toExponential(0).replace('+', '')})

Compute:
  --precision P           ${choices(PRECISIONS, DEFAULT_PRECISION)}
  --backend B             ${choices(BACKENDS, DEFAULT_BACKEND)}

Model files:
  --final-activation A    relu | linear: last-layer activation for .safetensors (default: sidecar, else linear)
  --max-model-size MB     read models up to MB megabytes, weight files included (default ${LIMITS.modelFileMB})
  (a sidecar <model>.dtd.json next to the model is read when present)

Output:
  --json FILE|-           write the full result as JSON ('-' = stdout); with --inputs, JSON Lines
  --html FILE             write a standalone HTML report (opens in any browser); with --inputs, a gallery
                          (input and heatmap per item, sortable, with a summary over the set)
  --full-tensors          write every value of every layer (by default a large layer is summarized, so that the
                          result stays under ${formatBytes(LIMITS.resultViewBytes)} whatever the network)
  --top-k N               flows kept per unit in the result and drawn in --html (default ${DEFAULT_TOP_K})
  --baselines             also compute the comparison baselines (gradient, gradient×input, 9 LRP variants)
  --quiet                 no summary
  -h, --help              this help
  --version               print the version

Exit codes: 0 success, 1 result with failed status, 2 bad usage or bad input.`;

function fail(message: string): never {
  throw new DtdError('bad-usage', message);
}

function int(v: string | undefined, name: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`${name} must be an integer ≥ ${min}, got '${v}'.`);
  return n;
}
function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) fail(`${name} must be a number, got '${v}'.`);
  return n;
}

/** The model size limit of the command line (MB) when --max-model-size does not say otherwise: the model and the files it names next to itself, together. */
const MODEL_LIMIT_MB = LIMITS.modelFileMB;

/** Reads a file the user named (an input): a regular file within the input limit. */
function readFile(file: string, what: string): Uint8Array {
  return readRegularFile(file, LIMITS.inputFileMB * 1024 * 1024, { what, code: 'bad-input' });
}

interface LoadedModel {
  net: Network;
  /** Image preprocessing from the sidecar's "preprocessing" key, if any. */
  preprocessing?: ImagePreprocessing;
}

/**
 * Reads the model (a regular file within the limit), its sidecar and the files it
 * names next to itself (engine/files.ts: confined to the model's real folder).
 */
function loadWithSidecar(file: string, finalActivation?: 'relu' | 'linear', limitMB: number = MODEL_LIMIT_MB): LoadedModel {
  const MODEL_LIMIT_BYTES = limitMB * 1024 * 1024;
  const limitHint = '--max-model-size MB raises it';
  const bytes = readRegularFile(file, MODEL_LIMIT_BYTES, { what: 'model', code: 'bad-input', limitHint });
  const sidecarName = sidecarNameFor(path.basename(file));
  const sidecarFile = path.join(path.dirname(file), sidecarName);
  const sidecarBytes = readConfined(file, sidecarName, LIMITS.sidecarBytes, { what: 'sidecar' });
  const sidecar = sidecarBytes ? parseSidecar(sidecarBytes, sidecarFile) : undefined;
  // TF.js weight shards: each use counts toward the model size limit (a shard listed twice is read twice).
  let budget = MODEL_LIMIT_BYTES - bytes.length;
  const names = new Set<string>();
  const readSibling = (name: string): Uint8Array => {
    names.add(name);
    if (names.size > LIMITS.siblingFiles) throw new DtdError('bad-model', `${path.basename(file)}: names more than ${LIMITS.siblingFiles} weight files.`, file);
    const shard = readConfined(file, name, MODEL_LIMIT_BYTES, { what: 'weight file', limitHint });
    if (!shard) throw new DtdError('bad-model', `${path.basename(file)}: needs its weight file ${quoteName(name)} next to it, which does not exist.`, file);
    budget -= shard.length;
    if (budget < 0) throw new DtdError('bad-model', `${path.basename(file)}: the model and its weight files are larger than the limit of ${limitMB} MB together (${limitHint}).`, file);
    return shard;
  };
  const net = loadModel(bytes, file, { sidecar, finalActivation, readSibling });
  return { net, preprocessing: preprocessingFromSidecar(sidecar, sidecarFile) };
}

/** A progress bar on stderr, shown only for runs that take longer than a second. */
function progressBar(enabled: boolean): { onProgress: (p: Progress) => void; done: () => void } {
  const start = Date.now();
  // The worker's stderr is a pipe to the supervisor, which says whether the user's stderr is a terminal.
  const tty = process.stderr.isTTY || process.env.DTD_LENS_STDERR_TTY === '1';
  let lastStage = '';
  let lastDraw = 0;
  let drawn = false;
  return {
    onProgress(p) {
      if (!enabled || Date.now() - start < 1000) return;
      const now = Date.now();
      if (tty) {
        if (now - lastDraw < 100 && p.stage === lastStage) return;
        const width = 30;
        const f = p.fraction ?? 0;
        const bar = '█'.repeat(Math.round(f * width)).padEnd(width, '░');
        process.stderr.write(`\r${bar} ${String(Math.round(f * 100)).padStart(3)}%  ${p.stage.slice(0, 60).padEnd(60)}`);
        drawn = true;
      } else if (p.stage !== lastStage && now - lastDraw >= 2000) {
        // Not a terminal (a log file, CI): a line at most every two seconds.
        process.stderr.write(`… ${p.stage}${p.fraction !== undefined ? ` (${Math.round(p.fraction * 100)}%)` : ''}\n`);
      } else {
        return;
      }
      lastStage = p.stage;
      lastDraw = now;
    },
    done() {
      if (drawn) process.stderr.write('\r' + ' '.repeat(100) + '\r');
    },
  };
}

const fmt = (v: number | null | undefined, d = 6) => (v === null || v === undefined || Number.isNaN(v) ? '—' : Math.abs(v) !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(3) : v.toFixed(d));

/** What the loader assumed or changed (network notes: activations assumed, softmax removed, BatchNorm folded, ...), one line each. */
export function noteLines(notes: readonly string[]): string[] {
  return notes.map((n) => `Note: ${plainText(n)}`);
}

export function summary(r: ExplainResult): string {
  const lines: string[] = [];
  lines.push(`${escapeName(r.model.name)} (${r.model.format}): ${[r.model.inputSize, ...r.model.layers.map((l) => l.outFeatures)].join('-')}`);
  lines.push(
    `Explained output ${r.explainedOutput}${r.explainedRow !== r.explainedOutput ? ` (row ${r.explainedRow})` : ''}: f(x) = ${fmt(r.explainedValue)}   method ${r.method}, rule ${[...new Set(r.rules)].length === 1 ? r.rules[0] : r.rules.join(' | ')}, root finder ${r.rootFinder}`,
  );
  lines.push(`Compute: ${r.backend}, ${r.precision}${r.seed ? `, seed ${r.seed}` : ''}; ${fmt(r.timings.total ?? 0, 1)} ms`);
  lines.push(`Status: ${r.status}${r.status === 'failed' ? ` (${r.statusCode}) — ${plainText(r.message)}` : r.message ? ` — ${plainText(r.message)}` : ''}`);
  for (const w of r.warnings) lines.push(`Warning: ${plainText(w)}`);
  lines.push(...noteLines(r.model.notes));
  lines.push('');
  lines.push(`  ${'relevance at'.padEnd(14)} ${'sum'.padStart(12)} ${'sum − f(x)'.padStart(12)} ${'negative'.padStart(12)}   roots in region / total`);
  for (const d of r.diagnostics.layers) {
    if (d.index === r.relevance.length - 1) continue;
    const roots = d.rootsTotal ? `${d.rootsInRegion} / ${d.rootsTotal}${d.rootsInDomain < d.rootsTotal ? `  (${d.rootsTotal - d.rootsInDomain} outside the domain)` : ''}` : '—';
    lines.push(`  ${escapeName(d.name, 40).padEnd(14)} ${fmt(d.relevanceSum).padStart(12)} ${fmt(d.conservationError).padStart(12)} ${fmt(d.negativeMass).padStart(12)}   ${roots}`);
  }
  const rel = r.relevance[0];
  if (rel) {
    const top = rel
      .map((v, i) => ({ v, i }))
      .sort((a, b) => Math.abs(b.v) - Math.abs(a.v))
      .slice(0, 5)
      .map(({ v, i }) => `x[${i}]=${fmt(v, 4)}`);
    lines.push('');
    lines.push(`Largest input relevances: ${top.join('  ')}`);
  }
  if (r.tree) lines.push(`Root tree: ${r.tree.length} entries${r.treeTruncated ? ' (truncated)' : ''}`);
  if (r.diagnostics.cacheHits !== undefined) lines.push(`Region cache: ${r.diagnostics.cacheHits} hits, ${r.diagnostics.cacheMisses} misses`);
  return lines.join('\n');
}

function writeOutputs(results: ExplainResult[], json: string | undefined, html: string | undefined): void {
  const payload = results.length === 1 ? results[0] : results;
  // Streamed: a large result's JSON never becomes one string (engine/pageFile.ts).
  if (json) writeJsonFile(json, payload);
  if (html) {
    const dir = __dirname;
    const js = [path.join(dir, 'webview.js'), path.join(dir, '..', 'dist', 'webview.js')].find((f) => existsSync(f));
    const css = [path.join(dir, '..', 'media', 'webview.css')].find((f) => existsSync(f));
    if (!js) throw new DtdError('bad-usage', 'The HTML report needs the webview bundle (dist/webview.js): run `npm run build` first.');
    // The report draws as many flows per unit as the result keeps (its --top-k).
    const topK = Math.max(...results.map((r) => Number(r.options.topK) || DEFAULT_TOP_K));
    const page = renderHtmlReport(results.length === 1 ? results[0] : { left: results[0], right: results[1] }, readFileSync(js, 'utf8'), css ? readFileSync(css, 'utf8') : '', { topK });
    writeFileSync(html, page);
  }
}

async function runExplain(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      input: { type: 'string' },
      inputs: { type: 'string' },
      light: { type: 'boolean' },
      'random-input': { type: 'boolean' },
      seed: { type: 'string' },
      'min-output': { type: 'string' },
      output: { type: 'string' },
      method: { type: 'string' },
      rule: { type: 'string' },
      'zero-bias': { type: 'boolean' },
      'root-finder': { type: 'string' },
      chains: { type: 'string' },
      steps: { type: 'string' },
      warmup: { type: 'string' },
      nudge: { type: 'string' },
      'max-cost': { type: 'string' },
      precision: { type: 'string' },
      backend: { type: 'string' },
      'final-activation': { type: 'string' },
      'channel-order': { type: 'string' },
      grayscale: { type: 'string' },
      scale: { type: 'string' },
      mean: { type: 'string' },
      std: { type: 'string' },
      resize: { type: 'string' },
      json: { type: 'string' },
      html: { type: 'string' },
      'top-k': { type: 'string' },
      quiet: { type: 'boolean' },
      baselines: { type: 'boolean' },
      'max-model-size': { type: 'string' },
      'full-tensors': { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) fail(`explain needs exactly one model file (got ${positionals.length}). Try: dtd-lens explain model.onnx --random-input`);
  const modelFile = positionals[0];
  const fa = values['final-activation'];
  if (fa !== undefined && fa !== 'relu' && fa !== 'linear') fail(`--final-activation must be relu or linear, got '${fa}'.`);
  const { net, preprocessing } = loadWithSidecar(modelFile, fa as 'relu' | 'linear' | undefined, int(values['max-model-size'], '--max-model-size', 1));
  const seed = int(values.seed, '--seed') ?? 0;
  const argmax = values.output === ARGMAX_OUTPUT;
  let explainedOutput = argmax ? undefined : int(values.output, '--output');
  if (values.inputs !== undefined && (values.input || values['random-input'])) fail('Give one of --input FILE, --inputs FILE|DIR or --random-input.');
  if (values.light && values.inputs === undefined) fail('--light keeps the light part of each result of a dataset run: it needs --inputs FILE|DIR.');
  let x: Float64Array;
  // A random input for an output that is never positive falls back to the output most often largest (when --output was not given).
  let drawWarning: string | undefined;
  if (values.input && values['random-input']) fail('Give either --input FILE or --random-input, not both.');
  // Image preprocessing: flags on the command line win over the model's sidecar.
  const flags: Record<string, unknown> = {};
  for (const [flag, key] of [['channel-order', 'channelOrder'], ['grayscale', 'grayscale'], ['scale', 'scale'], ['resize', 'resize']] as const) {
    if (values[flag] !== undefined) flags[key] = values[flag];
  }
  for (const key of ['mean', 'std'] as const) if (values[key] !== undefined) flags[key] = values[key]!.split(',').map((v) => Number(v.trim()));
  const fromFlags = parsePreprocessing(flags, (problem) => new DtdError('bad-usage', `Image preprocessing flags: ${problem.replace(/preprocessing\./g, '--').replace('channelOrder', 'channel-order')}`));
  const imagePre = Object.keys(fromFlags).length ? { ...preprocessing, ...fromFlags } : preprocessing;
  const options: ExplainOptions = {
    method: values.method as ExplainOptions['method'],
    rule: values.rule,
    zeroBias: values['zero-bias'],
    rootFinder: values['root-finder'] as ExplainOptions['rootFinder'],
    metropolisHastings: { chains: int(values.chains, '--chains', 1), steps: int(values.steps, '--steps', 1), warmup: int(values.warmup, '--warmup') },
    nudge: num(values.nudge, '--nudge'),
    maxCost: num(values['max-cost'], '--max-cost'),
    precision: values.precision as ExplainOptions['precision'],
    backend: values.backend as ExplainOptions['backend'],
    topK: int(values['top-k'], '--top-k', 1),
    seed,
    baselines: values.baselines ?? DEFAULT_BASELINES,
  };
  for (const k of Object.keys(options.metropolisHastings!) as (keyof typeof options.metropolisHastings)[]) {
    if (options.metropolisHastings![k!] === undefined) delete options.metropolisHastings![k!];
  }
  if (values.inputs !== undefined) {
    return runDataset(net, values.inputs, imagePre, { ...options, explainedOutput: argmax ? ARGMAX_OUTPUT : explainedOutput }, { light: !!values.light, json: values.json, html: values.html, quiet: !!values.quiet });
  }
  if (values.input) x = parseInput(readFile(values.input, 'input'), values.input, net.inputSize, { shape: net.inputShape, preprocessing: imagePre });
  else if (values['random-input']) {
    const draw = drawRandomInput(net, { seed, minOutput: num(values['min-output'], '--min-output') ?? 0, explainedOutput });
    x = draw.x;
    explainedOutput = draw.explainedOutput;
    drawWarning = draw.warning;
  } else fail('Say which input to explain: --input FILE or --random-input [--seed N] (or a dataset: --inputs FILE|DIR).');
  // argmax: the input's own largest output.
  if (argmax) explainedOutput = argmaxOf(outputs(net, x));
  options.explainedOutput = explainedOutput;
  const bar = progressBar(!values.quiet);
  // Ctrl-C keeps Node's default (the process ends at once): the engine's loops are synchronous, so a
  // SIGINT handler could only run after the work it was meant to stop.
  let result: ExplainResult;
  try {
    result = await explain(net, x, { ...options, onProgress: bar.onProgress });
  } finally {
    bar.done();
  }
  if (drawWarning) result.warnings.unshift(drawWarning);
  if (!values.quiet && values.json !== '-') process.stdout.write(summary(result) + '\n');
  else if (!values.quiet) process.stderr.write(summary(result) + '\n');
  // What --json and --html write: the result as the views draw it, within LIMITS.resultViewBytes (large layers
  // summarized, root trees paged and left out); --full-tensors writes every value (protocol/pages.ts).
  if ((values.json || values.html) && !values['full-tensors']) result = boundedResult(result);
  writeOutputs([result], values.json, values.html);
  return result.status === 'ok' ? 0 : 1;
}

/** The result within LIMITS.resultViewBytes, with a warning saying what was left out and how to get it. */
function boundedResult(result: ExplainResult): ExplainResult {
  const byteLength = (c: string) => Buffer.byteLength(c, 'utf8');
  // A result that fits is written whole (its tree and every layer inline), as before.
  if (jsonBytes(result, byteLength, LIMITS.resultViewBytes) <= LIMITS.resultViewBytes) return result;
  const { view, pages, bytes } = splitResultWithin(result, null, LIMITS.resultViewBytes, byteLength);
  if (pages.size === 0) return result;
  const tensors = Object.keys(view.paged?.tensors ?? {}).length;
  const rootLayers = (view.paged?.roots ?? []).filter((l) => result.roots[l - 1]?.length).length;
  const parts = [tensors ? `${tensors} large tensor${tensors === 1 ? ' is' : 's are'} summarized (sums per channel and a downsampled map)` : '', view.paged?.tree ? 'the root tree keeps its top level' : '', rootLayers ? `the roots of ${rootLayers} layer${rootLayers === 1 ? '' : 's'} are left out` : ''].filter(Boolean);
  const kept = bytes <= LIMITS.resultViewBytes ? `kept under ${formatBytes(LIMITS.resultViewBytes)}` : `${formatBytes(bytes)} even with every layer summarized (the aim is ${formatBytes(LIMITS.resultViewBytes)})`;
  view.warnings = [...view.warnings, `The written result is ${kept}: ${parts.join('; ')}. --full-tensors writes every value.`];
  return view;
}

function argmaxOf(v: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < v.length; j++) if (v[j] > v[best]) best = j;
  return best;
}

/** Reads a dataset: a folder of images, or one file of several inputs. */
function readDataset(source: string, net: Network, preprocessing: ImagePreprocessing | undefined): DatasetInputs {
  let folder = false;
  try {
    folder = statSync(source).isDirectory();
  } catch {
    // readFile says why it cannot be read.
  }
  if (folder) return readImageFolder(source, net, preprocessing);
  const rows = parseInputRows(readFile(source, 'input'), source, net.inputSize, { shape: net.inputShape, preprocessing });
  return { names: rows.map((_, i) => `row ${i + 1}`), rows, source };
}

/** The dataset's summary, for the terminal. */
export function datasetSummaryText(s: DatasetSummary, head: ExplainResult, source: string, seconds: number): string {
  const lines: string[] = [];
  lines.push(`${escapeName(head.model.name)} (${head.model.format}): ${s.inputs} inputs from ${escapeName(path.basename(source))}`);
  lines.push(`Method ${head.method}, rule ${[...new Set(head.rules)].join(' | ')}; ${head.backend}, ${head.precision}; ${seconds.toFixed(2)} s`);
  const outs = Object.entries(s.outputCounts).sort((a, b) => b[1] - a[1]);
  lines.push(`Explained output${outs.length === 1 ? ` ${outs[0][0]}` : `s ${outs.slice(0, 5).map(([k, n]) => `${k} (${n}×)`).join(', ')}${outs.length > 5 ? ', …' : ''}`}; mean f(x) = ${fmt(s.meanExplainedValue)}`);
  lines.push(`Status: ${s.ok} ok, ${s.failed} failed`);
  lines.push(`Largest |Σ R(input) − f(x)|: ${fmt(s.maxConservationError)}`);
  lines.push(s.inputsWithRootChecks ? `Roots outside their region: in ${s.inputsWithRootsOutside} of ${s.inputsWithRootChecks} inputs (${fmt((100 * s.inputsWithRootsOutside) / s.inputsWithRootChecks, 1)} %)` : 'Roots: none checked (this method has no root points)');
  return lines.join('\n');
}

/** Characters of JSON Lines gathered before a write. */
const JSONL_CHUNK_CHARS = 1 << 20;

/** Writes all of `text` to `fd` (writeSync may write less than asked, e.g. to a pipe). */
function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}

/** `explain MODEL --inputs FILE|DIR`: every input in one run; JSON Lines, a gallery, a summary. */
async function runDataset(net: Network, source: string, preprocessing: ImagePreprocessing | undefined, options: Omit<ExplainOptions, 'explainedOutput'> & { explainedOutput?: DatasetOutput }, out: { light: boolean; json?: string; html?: string; quiet: boolean }): Promise<number> {
  const t0 = performance.now();
  const data = readDataset(source, net, preprocessing);
  const bar = progressBar(!out.quiet);
  // JSON Lines as the items come (a file, or stdout with '-'): memory stays bounded by the batch.
  const fd = out.json === '-' ? 1 : out.json ? openSync(out.json, 'w') : undefined;
  const items: DatasetItem[] = [];
  let failed = 0;
  // Lines are gathered and written about a megabyte at a time (one system call per line cost more than the writing).
  let pending: string[] = [];
  let pendingChars = 0;
  const flush = () => {
    if (fd === undefined || !pending.length) return;
    const text = pending.join('');
    pending = [];
    pendingChars = 0;
    writeAll(fd, text);
  };
  try {
    const { summary: s, first } = await explainDataset(net, data, options, {
      light: out.light,
      onProgress: bar.onProgress,
      onItem: (item, full) => {
        if (item.status !== 'ok') failed++;
        if (fd !== undefined) {
          const line = JSON.stringify(full ? { inputIndex: item.inputIndex, inputName: item.inputName, ...full } : item) + '\n';
          pending.push(line);
          pendingChars += line.length;
          if (pendingChars >= JSONL_CHUNK_CHARS) flush();
        }
        if (out.html && items.length < LIMITS.galleryItems) items.push(item);
      },
    });
    flush();
    bar.done();
    if (out.html) {
      const dir = __dirname;
      const js = [path.join(dir, 'gallery.js'), path.join(dir, '..', 'dist', 'gallery.js')].find((f) => existsSync(f));
      const css = [path.join(dir, '..', 'media', 'gallery.css')].find((f) => existsSync(f));
      if (!js) throw new DtdError('bad-usage', 'The HTML gallery needs the gallery bundle (dist/gallery.js): run `npm run build` first.');
      const payload = galleryPayload(first, items, data.rows, s, `DTD Lens: ${plainText(first.model.name, 80)} on ${plainText(path.basename(source), 80)}`, false, data.rows.length);
      writeFileSync(out.html, renderGalleryHtml(payload, readFileSync(js, 'utf8'), css ? readFileSync(css, 'utf8') : ''));
    }
    const text = datasetSummaryText(s, first, source, (performance.now() - t0) / 1000);
    if (!out.quiet) (out.json === '-' ? process.stderr : process.stdout).write(text + '\n');
  } finally {
    bar.done();
    // The lines of the inputs done so far reach the file even when a later input stops the run.
    try {
      flush();
    } finally {
      if (fd !== undefined && fd !== 1) closeSync(fd);
    }
  }
  return failed ? 1 : 0;
}

/** `npm start`: the seed notebook's configuration, both decompositions, Metropolis–Hastings for full-backward. */
async function runDefault(): Promise<number> {
  const file = [path.join(__dirname, '..', 'media', 'examples', 'seed-notebook.json')].find((f) => existsSync(f));
  if (!file) throw new DtdError('internal', 'The bundled example media/examples/seed-notebook.json is missing.');
  const example = JSON.parse(readFileSync(file, 'utf8')) as { input: { x: number[][] }; explained_output: number; description: string };
  const net = loadModel(new Uint8Array(readFileSync(file)), file);
  const x = example.input.x[0];
  process.stdout.write(`${example.description}\n\n`);
  const results: ExplainResult[] = [];
  for (const method of ['train-free', 'full-backward'] as const) {
    const bar = progressBar(true);
    const r = await explain(net, x, {
      rule: 'z+',
      method,
      rootFinder: method === 'full-backward' ? 'metropolis-hastings' : 'linear',
      explainedOutput: example.explained_output,
      onProgress: bar.onProgress,
    });
    bar.done();
    results.push(r);
    process.stdout.write(`── ${method}${method === 'full-backward' ? ' (Metropolis–Hastings roots)' : ''} ──\n${summary(r)}\n\n`);
  }
  process.stdout.write('Explain your own model: dtd-lens explain model.onnx --random-input --rule z+ (see --help).\n');
  return results.every((r) => r.status === 'ok') ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  try {
    if (argv.length === 0) return await runDefault();
    const [cmd, ...rest] = argv;
    if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (cmd === '--version') {
      process.stdout.write(VERSION + '\n');
      return 0;
    }
    if (cmd === 'audit') {
      if (rest.includes('-h') || rest.includes('--help')) {
        process.stdout.write(AUDIT_USAGE + '\n');
        return 0;
      }
      const quiet = rest.includes('--quiet');
      const load = (f: string) => {
        const { net } = loadWithSidecar(f);
        // The audit's table has no place for them: the loader's notes go to stderr before it.
        if (!quiet && net.notes.length) process.stderr.write(noteLines(net.notes).join('\n') + '\n');
        return net;
      };
      return await runAudit(rest, load, progressBar(!quiet));
    }
    if (cmd === 'explain') {
      if (rest.includes('-h') || rest.includes('--help')) {
        process.stdout.write(USAGE + '\n');
        return 0;
      }
      return await runExplain(rest);
    }
    fail(`Unknown command '${cmd}'. Use 'dtd-lens explain <model> …', 'dtd-lens audit <model> …' or 'dtd-lens --help'.`);
  } catch (e) {
    if (isDtdError(e)) {
      process.stderr.write(`dtd-lens: ${e.message}\n`);
      return e.code === 'cancelled' ? 130 : e.code === 'internal' ? 3 : 2;
    }
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`dtd-lens: ${(e as Error).message}\nTry 'dtd-lens --help'.\n`);
      return 2;
    }
    process.stderr.write(`dtd-lens: internal error: ${logText((e as Error)?.stack ?? describeValue(e))}\n`);
    return 3;
  }
}

// Run directly (`node --import tsx extension/engine/cli.ts`, dist/cliEngine.js): the same supervision as the
// launcher (dist/cli.js), with this file as the worker.
if (require.main === module) {
  const args = process.argv.slice(2);
  if (runsInProcess()) {
    main(args).then((code) => {
      process.exitCode = code;
    });
  } else {
    void superviseWithBoundedHeap(__filename, args).then((code) => {
      process.exitCode = code;
    });
  }
}
