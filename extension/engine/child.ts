// The engine child process (bundled as dist/engine.js, forked by the extension
// host with `serialization: 'advanced'` so Uint8Array arrives intact). A thin
// shell around the library: validate a HostToEngine message, load the model,
// build the input, call explain()/summarizeModel(), reply with EngineToHost
// messages. Progress is throttled; 'cancel' aborts the request's signal, which
// the engine checks between steps (the host kills the process if that takes
// more than a second). Nothing here imports vscode.

import { approxBytes, ARGMAX_OUTPUT, baseNameOf, type BaselinesReply, type DatasetItem, describeValue, type EngineToHost, type HostToEngine, type InputSpec, isHostToEngine, LIMITS, type ModelFiles, type Progress, sidecarNameFor, splitBaselines, splitResultWithin, type WireModel } from '../protocol';
import { addPages, writePageFile } from './pageFile';
import { explainBaselines } from './baselineRequest';
import { hasSpatialLayers, layerShapes } from './network';
import { explain, outputs, randomInput, summarizeModel } from './index';
import { audit, auditCsv } from './audit';
import { explainConcepts } from './concepts';
import { datasetFromSpec, explainDataset, galleryPayload } from './dataset';
import { loadModel } from './loaders';
import { parseInput } from './input';
import { parsePreprocessing, preprocessingFromSidecar, type ImagePreprocessing } from './image';
import { isDtdError, DtdError } from './errors';
import type { Network } from './network';
import { parseSidecar } from './sidecar';

/** Minimum time between two progress messages of one request (a stage change is always sent). */
const PROGRESS_INTERVAL_MS = 100;

const running = new Map<number, AbortController>();
/** Requests waiting for the host's 'files' answer to their 'needFiles'. */
const awaitingFiles = new Map<number, { resolve: (files: ModelFiles) => void; reject: (e: Error) => void }>();

function send(msg: EngineToHost): void {
  if (process.send && process.connected) process.send(msg);
}

function log(level: Extract<EngineToHost, { type: 'log' }>['level'], message: string): void {
  send({ type: 'log', level, message });
}

function checkedPreprocessing(p: ImagePreprocessing | undefined): ImagePreprocessing | undefined {
  return p ? parsePreprocessing(p, (problem) => new DtdError('bad-usage', `Settings dtdLens.image.*: ${problem}`)) : undefined;
}

function buildInput(net: Network, spec: InputSpec, explainedOutput: number | undefined, sidecar?: unknown): Float64Array {
  switch (spec.kind) {
    case 'values': {
      if (!Array.isArray(spec.values) || spec.values.length !== net.inputSize) {
        throw new DtdError('bad-input', `The input has ${Array.isArray(spec.values) ? spec.values.length : 0} values but the model expects ${net.inputSize}.`);
      }
      const x = Float64Array.from(spec.values);
      if (!x.every(Number.isFinite)) throw new DtdError('bad-input', 'The input contains a value that is not a finite number.');
      return x;
    }
    case 'file':
      if (!(spec.bytes instanceof Uint8Array)) throw new DtdError('bad-input', `${spec.fileName}: the input file's bytes did not arrive.`);
      // The model's sidecar knows how it was trained; the user's settings are the fallback.
      return parseInput(spec.bytes, spec.fileName, net.inputSize, { shape: net.inputShape, preprocessing: preprocessingFromSidecar(sidecar) ?? checkedPreprocessing(spec.preprocessing) });
    case 'random':
      return randomInput(net, { seed: spec.seed, minOutput: spec.minOutput, explainedOutput });
    default:
      throw new DtdError('bad-usage', `Unknown input kind ${describeValue((spec as { kind?: unknown }).kind, 60)}.`);
  }
}

/** Asks the host for files next to the model; settles with its 'files' answer, or on cancel. */
function requestFiles(id: number, names: string[], signal: AbortSignal): Promise<ModelFiles> {
  return new Promise<ModelFiles>((resolve, reject) => {
    if (signal.aborted) return reject(new DtdError('cancelled', 'The run was cancelled.'));
    const onAbort = () => {
      awaitingFiles.delete(id);
      reject(new DtdError('cancelled', 'The run was cancelled.'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    awaitingFiles.set(id, {
      resolve: (files) => {
        signal.removeEventListener('abort', onAbort);
        resolve(files);
      },
      reject: (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    });
    send({ type: 'needFiles', id, names });
  });
}

/**
 * Loads a request's model: parses the sidecar's bytes (bounded, sidecar.ts), then
 * the model. Files the model names next to itself (TF.js weight shards) are not
 * known before the model is parsed, and the host parses nothing: a first pass
 * records the names the loader asks for (answering with empty bytes), the host is
 * asked for them ('needFiles' → 'files', each read confined to the model's folder
 * and size-checked there), and the model is loaded again with them. A name the
 * host did not send is reported missing by the loader. At most LIMITS.siblingFiles
 * names in all, so the rounds end.
 */
async function loadRequested(msg: WireModel & { id: number }, signal: AbortSignal): Promise<{ net: Network; sidecar: unknown }> {
  const sidecar = msg.sidecarBytes ? parseSidecar(msg.sidecarBytes, sidecarNameFor(msg.fileName)) : undefined;
  const files: ModelFiles = Object.create(null) as ModelFiles;
  for (const [name, bytes] of Object.entries(msg.files ?? {})) files[name] = bytes;
  const asked = new Set<string>();
  for (;;) {
    const missing = new Set<string>();
    const readSibling = (name: string): Uint8Array | undefined => {
      if (Object.hasOwn(files, name)) return files[name];
      if (asked.has(name)) return undefined;
      missing.add(name);
      return new Uint8Array(0);
    };
    let net: Network | undefined;
    let error: unknown;
    try {
      net = loadModel(msg.modelBytes, msg.fileName, { sidecar, files, readSibling });
    } catch (e) {
      error = e;
    }
    if (missing.size === 0) {
      if (net) return { net, sidecar };
      throw error;
    }
    if (asked.size + missing.size > LIMITS.siblingFiles) {
      throw new DtdError('bad-model', `${msg.fileName.split(/[\\/]/).pop()}: names more than ${LIMITS.siblingFiles} weight files.`, msg.fileName);
    }
    for (const name of missing) asked.add(name);
    const got = await requestFiles(msg.id, [...missing], signal);
    for (const name of missing) if (Object.hasOwn(got, name) && got[name] instanceof Uint8Array) files[name] = got[name];
  }
}

function throttled(id: number): (p: Progress) => void {
  let last = 0;
  let lastStage = '';
  return (p) => {
    const now = Date.now();
    if (p.stage === lastStage && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    lastStage = p.stage;
    send({ type: 'progress', id, progress: { stage: p.stage, fraction: p.fraction } });
  };
}

/** Refuses a reply larger than LIMITS.resultBytes before it is sent (the host checks again). */
function checkReplySize(reply: unknown): void {
  const limit = LIMITS.resultBytes;
  if (approxBytes(reply, limit) > limit) {
    throw new DtdError('too-costly', `The result is larger than the ${Math.round(limit / 1024 / 1024)} MB DTD Lens sends to VS Code; explain a smaller model or input.`);
  }
}

function replyError(id: number, e: unknown): void {
  if (isDtdError(e)) {
    send({ type: 'error', id, code: e.code, message: e.message });
  } else {
    const err = e instanceof Error ? e : new Error(typeof e === 'string' ? e : describeValue(e));
    log('error', `request ${id}: internal error: ${err.stack ?? err.message}`);
    send({ type: 'error', id, code: 'internal', message: `Internal error in the DTD Lens engine: ${err.message}` });
  }
}

/**
 * One request's life: registered for Cancel while it runs, any error answered as an error reply, and unregistered
 * at the end. `work` gets the request's abort signal and sends its own reply.
 */
async function serve(id: number, work: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  try {
    await work(controller.signal);
  } catch (e) {
    replyError(id, e);
  } finally {
    running.delete(id);
  }
}

/** Refuses a follow-up request (concepts, baselines) when the model file changed since the run it belongs to. */
function checkUnchanged(msg: { modelSha256?: string | null; fileName: string }, net: { source: { sha256?: string | null } }, what: string): void {
  if (msg.modelSha256 && net.source.sha256 && msg.modelSha256 !== net.source.sha256) {
    throw new DtdError('bad-usage', `${msg.fileName.split(/[\\/]/).pop()} changed since this run: explain it again to ${what}.`);
  }
}

async function handle(msg: HostToEngine): Promise<void> {
  switch (msg.type) {
    case 'ping':
      send({ type: 'pong', id: msg.id });
      return;
    case 'cancel': {
      const controller = running.get(msg.id);
      if (controller) {
        log('info', `request ${msg.id}: cancelling`);
        controller.abort();
      }
      return;
    }
    case 'files': {
      const waiter = awaitingFiles.get(msg.id);
      if (!waiter) return;
      awaitingFiles.delete(msg.id);
      if (msg.error) waiter.reject(new DtdError('bad-model', msg.error.message));
      else waiter.resolve(msg.files);
      return;
    }
    case 'inspect':
      return serve(msg.id, async (signal) => {
        const { net, sidecar } = await loadRequested(msg, signal);
        const reply: Extract<EngineToHost, { type: 'inspected' }>['reply'] = { model: summarizeModel(net) };
        if (msg.input) {
          const x = buildInput(net, msg.input, undefined, sidecar);
          reply.input = Array.from(x);
          reply.outputs = Array.from(outputs(net, x));
        }
        checkReplySize(reply);
        send({ type: 'inspected', id: msg.id, reply });
      });
    case 'audit':
      return serve(msg.id, async (signal) => {
        const started = Date.now();
        const { net } = await loadRequested(msg, signal);
        const result = await audit(net, { ...msg.options, onProgress: throttled(msg.id), signal });
        log('info', `request ${msg.id}: audit of ${result.inputs} inputs in ${Date.now() - started} ms`);
        const csv = auditCsv(result);
        checkReplySize({ result, csv });
        send({ type: 'audited', id: msg.id, audit: result, csv });
      });
    case 'concepts':
      return serve(msg.id, async (signal) => {
        const { net, sidecar } = await loadRequested(msg, signal);
        checkUnchanged(msg, net, 'see its concepts');
        const x = buildInput(net, msg.input, msg.options.explainedOutput, sidecar);
        const concepts = explainConcepts(net, x, msg.options, msg.layer, msg.channels);
        checkReplySize(concepts);
        send({ type: 'concepts', id: msg.id, concepts });
      });
    case 'baselines':
      return serve(msg.id, async (signal) => {
        const onProgress = throttled(msg.id);
        onProgress({ stage: 'Loading the model', fraction: 0 });
        const { net, sidecar } = await loadRequested(msg, signal);
        checkUnchanged(msg, net, 'compare it with the baselines');
        const x = buildInput(net, msg.input, msg.options.explainedOutput, sidecar);
        const out = await explainBaselines(net, x, { ...msg.options, onProgress, signal });
        if (signal.aborted) throw new DtdError('cancelled', 'The run was cancelled.');
        let reply: BaselinesReply = { ...out, tensors: {} };
        // With the run's page file named, large baseline tensors go there (as explain's do) and the reply carries their summaries.
        if (out.baselines && msg.pagesFile !== undefined) {
          const split = splitBaselines(out.baselines, net.inputShape || hasSpatialLayers(net) ? layerShapes(net) : undefined);
          if (split.pages.size > 0) addPages(msg.pagesFile, split.pages);
          reply = { ...out, baselines: split.baselines, tensors: split.tensors };
        }
        log('info', `request ${msg.id}: baselines (${out.baselines ? Object.keys(out.baselines.lrp).length : 0} LRP variants) in ${Math.round(out.ms)} ms on ${out.backend}/${out.precision}`);
        checkReplySize(reply);
        send({ type: 'baselines', id: msg.id, reply });
      });
    case 'dataset':
      return serve(msg.id, async (signal) => {
        const started = Date.now();
        const onProgress = throttled(msg.id);
        onProgress({ stage: 'Loading the model', fraction: 0 });
        const { net, sidecar } = await loadRequested(msg, signal);
        // Images as a single image input is read: the sidecar's preprocessing, else the settings.
        const preprocessing = preprocessingFromSidecar(sidecar) ?? checkedPreprocessing(msg.inputs.preprocessing);
        if (msg.inputs.kind === 'images' && !(Array.isArray(msg.inputs.files) && msg.inputs.files.every((f) => f && typeof f.name === 'string' && f.bytes instanceof Uint8Array))) {
          throw new DtdError('bad-input', 'The images of the folder did not arrive.');
        }
        if (msg.inputs.kind === 'file' && !(msg.inputs.bytes instanceof Uint8Array)) throw new DtdError('bad-input', "The dataset file's bytes did not arrive.");
        const data = datasetFromSpec({ ...msg.inputs, preprocessing }, net);
        const items: DatasetItem[] = [];
        const { summary, first } = await explainDataset(net, data, { ...msg.options, explainedOutput: msg.argmax ? ARGMAX_OUTPUT : msg.options.explainedOutput, signal }, {
          light: true,
          onProgress,
          onItem: (item) => {
            if (items.length < LIMITS.galleryItems) items.push(item);
          },
        });
        const source = msg.inputs.kind === 'file' ? msg.inputs.fileName : msg.inputs.folder;
        const gallery = galleryPayload(first, items, data.rows, summary, `${first.model.name} on ${baseNameOf(source)}`, true, data.rows.length);
        const reply = { gallery, inputs: items.map((it) => Array.from(data.rows[it.inputIndex])) };
        log('info', `request ${msg.id}: dataset of ${data.rows.length} inputs in ${Date.now() - started} ms on ${first.backend}/${first.precision}`);
        checkReplySize(reply);
        send({ type: 'datasetDone', id: msg.id, reply });
      });
    case 'explain':
      return serve(msg.id, async (signal) => {
        const started = Date.now();
        const onProgress = throttled(msg.id);
        onProgress({ stage: 'Loading the model', fraction: 0 });
        const { net, sidecar } = await loadRequested(msg, signal);
        const x = buildInput(net, msg.input, msg.options.explainedOutput, sidecar);
        const result = await explain(net, x, { ...msg.options, onProgress, signal });
        if (signal.aborted) throw new DtdError('cancelled', 'The run was cancelled.');
        log('info', `request ${msg.id}: ${result.status} (${result.statusCode}) in ${Date.now() - started} ms on ${result.backend}/${result.precision}`);
        // With a page file named, the reply is the view: the root tree below its top level and large layers stay in the file (protocol/pages.ts).
        let reply = result;
        if (msg.pagesFile !== undefined) {
          // Within LIMITS.resultViewBytes whatever the network: more layers summarized when the view would be larger.
          const { view, pages } = splitResultWithin(result, null, LIMITS.resultViewBytes, (c) => Buffer.byteLength(c, 'utf8'));
          if (pages.size > 0) writePageFile(msg.pagesFile, pages);
          reply = view;
        }
        checkReplySize(reply);
        send({ type: 'result', id: msg.id, result: reply });
      });
  }
}

/** Every malformed message gets an error reply; describing it never throws (BigInt, cycles, deep nesting). */
function onMalformed(raw: unknown): void {
  let id = -1;
  try {
    const candidate = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined;
    if (typeof candidate === 'number' && Number.isSafeInteger(candidate)) id = candidate;
  } catch {
    /* keep -1 */
  }
  try {
    log('error', `malformed request: ${describeValue(raw, 200)}`);
  } catch {
    /* the reply below still goes out */
  }
  send({ type: 'error', id, code: 'bad-usage', message: 'The DTD Lens engine received a malformed request.' });
}

process.on('message', (raw: unknown) => {
  let valid = false;
  try {
    valid = isHostToEngine(raw);
  } catch {
    valid = false;
  }
  if (!valid) {
    onMalformed(raw);
    return;
  }
  handle(raw as HostToEngine).catch((e: unknown) => {
    const id = (raw as HostToEngine).id;
    running.delete(id);
    replyError(id, e);
  });
});

// The host went away (window closed, extension host crashed): nothing left to serve.
process.on('disconnect', () => process.exit(0));

process.on('uncaughtException', (e: unknown) => {
  const err = e instanceof Error ? e : new Error(describeValue(e));
  log('error', `uncaught exception: ${err.stack ?? err.message}`);
  for (const id of running.keys()) send({ type: 'error', id, code: 'internal', message: `Internal error in the DTD Lens engine: ${err.message}` });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 50);
});

send({ type: 'ready', backend: 'float64 (tfjs backend chosen per run)', pid: process.pid });
