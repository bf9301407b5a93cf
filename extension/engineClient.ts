// The host side of the engine child process: one forked `dist/engine.js`
// reused across runs, typed requests with ids (extension/protocol.ts), progress
// events, cancellation, and recovery. A crash, a hang (no progress in work
// done for `timeoutSeconds` during a request) or a cancel the engine does not answer
// within 0.8 s (so that Cancel always ends a run within a second) kills the
// process; the next request forks a fresh one. Progress in work done is a
// progress message whose stage or fraction changed (engineWatchdog.ts).
// Everything the engine says goes to the LogOutputChannel, as plain text
// (protocol/text.ts: it quotes names from model files) at a validated level.
// A reply larger than LIMITS.resultBytes is refused.

import { fork, type ChildProcess } from 'node:child_process';
import type * as vscode from 'vscode';
import { approxBytes, type AuditResult, type BaselinesReply, type ConceptHeatmap, type DatasetReply, type DatasetSpec, describeValue, type EngineToHost, type ExplainResult, type HostToEngine, type InputSpec, type InspectReply, isEngineToHost, isLogLevel, LIMITS, logText, type ModelFiles, plainText, type Progress, type WireAuditOptions, type WireExplainOptions } from './protocol';
import { ProgressWatchdog } from './engineWatchdog';

/** Why a request failed. `code` is the engine's DtdError code, or one of the host's own. */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
  /** The engine process failed (not the model or the input): offer the log. */
  get isEngineFailure(): boolean {
    return this.code === 'engine-crashed' || this.code === 'engine-timeout' || this.code === 'internal';
  }
}

/** A model as the host read it: bytes only (the engine parses), and a reader for the files the engine asks for. */
export interface ModelPayload {
  fileName: string;
  modelBytes: Uint8Array;
  /** The sidecar `<model>.dtd.json`'s bytes, when there is one. */
  sidecarBytes?: Uint8Array;
  /**
   * Reads the files the engine names next to the model ('needFiles': TF.js weight
   * shards), confined to the model's folder and size-checked (host/modelSource.ts);
   * a missing file is left out; a refused one throws an EngineError.
   */
  readSiblings?: (names: string[]) => Promise<ModelFiles>;
}

/** The part of a payload that crosses to the engine (never the reader). */
function wireModel(model: ModelPayload): { fileName: string; modelBytes: Uint8Array; sidecarBytes?: Uint8Array } {
  return model.sidecarBytes ? { fileName: model.fileName, modelBytes: model.modelBytes, sidecarBytes: model.sidecarBytes } : { fileName: model.fileName, modelBytes: model.modelBytes };
}

export interface RequestOptions {
  onProgress?: (p: Progress) => void;
  /** Cancels the request; the engine is killed when it does not answer within `cancelGraceMs`. */
  token?: { isCancellationRequested: boolean; onCancellationRequested: (cb: () => void) => { dispose(): void } };
}

interface Pending {
  id: number;
  resolve: (v: unknown) => void;
  reject: (e: EngineError) => void;
  onProgress?: (p: Progress) => void;
  expect: 'result' | 'inspected' | 'audited' | 'pong' | 'concepts' | 'datasetDone' | 'baselines';
  watchdog?: ProgressWatchdog;
  cancelTimer?: NodeJS.Timeout;
  readSiblings?: ModelPayload['readSiblings'];
}

export interface EngineClientOptions {
  enginePath: string;
  log: vscode.LogOutputChannel;
  timeoutSeconds: () => number;
  cancelGraceMs?: number;
  /** The largest reply accepted from the engine (bytes, approximately); LIMITS.resultBytes unless a test says otherwise. */
  maxReplyBytes?: number;
}

/** Events the tests and the UI can observe. */
export interface EngineEvents {
  spawned: (pid: number) => void;
  exited: (pid: number, code: number | null, signal: string | null) => void;
}

export class EngineClient {
  private child: ChildProcess | undefined;
  private readyBackend: string | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: { [K in keyof EngineEvents]: EngineEvents[K][] } = { spawned: [], exited: [] };
  private disposed = false;
  /** How long the last cancellation took until the request settled (ms), for tests and the log. */
  lastCancelLatencyMs: number | undefined;
  /** How many engine processes this client has started. */
  spawnCount = 0;

  constructor(private readonly opts: EngineClientOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get backend(): string | undefined {
    return this.readyBackend;
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  on<K extends keyof EngineEvents>(event: K, cb: EngineEvents[K]): { dispose(): void } {
    this.listeners[event].push(cb);
    return { dispose: () => (this.listeners[event] = this.listeners[event].filter((c) => c !== cb) as never) };
  }

  /** With `pagesFile`, the engine writes the result's pages there and replies with the view (protocol/pages.ts). */
  explain(model: ModelPayload, input: InputSpec, options: WireExplainOptions, req: RequestOptions = {}, pagesFile?: string): Promise<ExplainResult> {
    const id = this.nextId++;
    return this.request<ExplainResult>({ type: 'explain', id, ...wireModel(model), input, options, ...(pagesFile !== undefined ? { pagesFile } : {}) }, 'result', req, model.readSiblings);
  }

  /** The root audit over random inputs (the research experiment); the reply carries the CSV too. */
  audit(model: ModelPayload, options: WireAuditOptions, req: RequestOptions = {}): Promise<{ audit: AuditResult; csv: string }> {
    const id = this.nextId++;
    return this.request<{ audit: AuditResult; csv: string }>({ type: 'audit', id, ...wireModel(model), options }, 'audited', req, model.readSiblings);
  }

  /** Concepts (CRP): conditional heatmaps of `channels` of tensor `layer`, recomputed for a run's model, input and options. */
  concepts(model: ModelPayload, input: InputSpec, options: WireExplainOptions, layer: number, channels: number[], modelSha256: string | null, req: RequestOptions = {}): Promise<ConceptHeatmap[]> {
    const id = this.nextId++;
    return this.request<ConceptHeatmap[]>({ type: 'concepts', id, ...wireModel(model), input, options, layer, channels, modelSha256 }, 'concepts', req, model.readSiblings);
  }

  /** Baselines on demand for a run's model, input and options (precision, backend, output); large tensors go to `pagesFile`. */
  baselines(model: ModelPayload, input: InputSpec, options: WireExplainOptions, modelSha256: string | null, pagesFile: string | undefined, req: RequestOptions = {}): Promise<BaselinesReply> {
    const id = this.nextId++;
    return this.request<BaselinesReply>({ type: 'baselines', id, ...wireModel(model), input, options, modelSha256, ...(pagesFile !== undefined ? { pagesFile } : {}) }, 'baselines', req, model.readSiblings);
  }

  /** A dataset run: light records of every input in batches, answered with the gallery and the drawn inputs' values. */
  dataset(model: ModelPayload, inputs: DatasetSpec, options: WireExplainOptions, argmax: boolean, req: RequestOptions = {}): Promise<DatasetReply> {
    const id = this.nextId++;
    return this.request<DatasetReply>({ type: 'dataset', id, ...wireModel(model), inputs, options, argmax }, 'datasetDone', req, model.readSiblings);
  }

  inspect(model: ModelPayload, input?: InputSpec, req: RequestOptions = {}): Promise<InspectReply> {
    const id = this.nextId++;
    return this.request<InspectReply>({ type: 'inspect', id, ...wireModel(model), input }, 'inspected', req, model.readSiblings);
  }

  ping(timeoutMs = 5000): Promise<number> {
    const id = this.nextId++;
    const start = Date.now();
    return new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new EngineError('engine-timeout', `The DTD Lens engine did not answer a ping within ${timeoutMs} ms.`)), timeoutMs);
      this.request<void>({ type: 'ping', id }, 'pong', {}).then(
        () => {
          clearTimeout(t);
          resolve(Date.now() - start);
        },
        (e: unknown) => {
          clearTimeout(t);
          reject(e);
        },
      );
    });
  }

  /** Kills the engine (tests, "engine hung", shutdown); pending requests fail with `reason`. */
  kill(reason = 'The DTD Lens engine was stopped.', code = 'engine-crashed'): void {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    this.readyBackend = undefined;
    this.opts.log.warn(`engine pid ${child.pid}: stopping (${reason})`);
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    this.failAll(new EngineError(code, reason));
  }

  dispose(): void {
    this.disposed = true;
    this.kill('VS Code is shutting down the DTD Lens extension.');
  }

  private ensureChild(): ChildProcess {
    if (this.disposed) throw new EngineError('engine-crashed', 'The DTD Lens extension has been deactivated.');
    if (this.child && this.child.connected) return this.child;
    const { log } = this.opts;
    // ELECTRON_RUN_AS_NODE: under desktop VS Code, process.execPath is Electron; this makes it a plain Node.
    const child = fork(this.opts.enginePath, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      // A bounded heap (protocol/limits.ts): a model that needs more fails in the engine, never in the host.
      execArgv: [`--max-old-space-size=${LIMITS.engineHeapMB}`],
    });
    this.child = child;
    this.spawnCount++;
    const pid = child.pid ?? -1;
    log.info(`engine pid ${pid}: started (${this.opts.enginePath})`);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => logLines(d, (l) => log.info(`engine ${pid}: ${logText(l)}`)));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => logLines(d, (l) => log.warn(`engine ${pid} stderr: ${logText(l)}`)));
    child.on('message', (m: unknown) => this.onMessage(child, m));
    child.on('error', (err) => log.error(`engine pid ${pid}: ${err.message}`));
    child.on('exit', (code, signal) => {
      log.info(`engine pid ${pid}: exited (code ${code}, signal ${signal})`);
      for (const cb of this.listeners.exited) cb(pid, code, signal);
      if (this.child === child) {
        this.child = undefined;
        this.readyBackend = undefined;
        // V8 aborts (SIGABRT) at the engine's heap limit; SIGKILL without our kill is the system's out-of-memory killer.
        const outOfMemory = signal === 'SIGABRT' || signal === 'SIGKILL';
        const how = outOfMemory ? `stopped: the model needs more memory than the limit (${(LIMITS.engineHeapMB / 1024).toFixed(0)} GB)` : signal ? `was killed (${signal})` : `exited with code ${code}`;
        this.failAll(new EngineError('engine-crashed', `The DTD Lens engine ${how} during the run. The next run starts a fresh engine.`));
      }
    });
    for (const cb of this.listeners.spawned) cb(pid);
    return child;
  }

  private request<T>(msg: HostToEngine, expect: Pending['expect'], req: RequestOptions, readSiblings?: ModelPayload['readSiblings']): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (req.token?.isCancellationRequested) {
        reject(new EngineError('cancelled', 'The run was cancelled.'));
        return;
      }
      let child: ChildProcess;
      try {
        child = this.ensureChild();
      } catch (e) {
        reject(e instanceof EngineError ? e : new EngineError('engine-crashed', `Could not start the DTD Lens engine: ${String(e)}`));
        return;
      }
      const p: Pending = { id: msg.id, resolve: resolve as (v: unknown) => void, reject, onProgress: req.onProgress, expect, readSiblings };
      this.pending.set(msg.id, p);
      this.armWatchdog(p);
      const sub = req.token?.onCancellationRequested(() => this.cancel(p));
      const settle = () => sub?.dispose();
      const origResolve = p.resolve;
      const origReject = p.reject;
      p.resolve = (v) => {
        settle();
        origResolve(v);
      };
      p.reject = (e) => {
        settle();
        origReject(e);
      };
      try {
        child.send(msg, (err) => {
          if (err) this.settle(p.id, () => p.reject(new EngineError('engine-crashed', `Could not send the request to the DTD Lens engine: ${err.message}`)));
        });
      } catch (e) {
        this.settle(p.id, () => p.reject(new EngineError('engine-crashed', `Could not send the request to the DTD Lens engine: ${String(e)}`)));
      }
    });
  }

  private cancel(p: Pending): void {
    if (!this.pending.has(p.id) || p.cancelTimer) return;
    const started = Date.now();
    const grace = this.opts.cancelGraceMs ?? 800;
    this.opts.log.info(`request ${p.id}: cancel requested`);
    const child = this.child;
    try {
      child?.send({ type: 'cancel', id: p.id } satisfies HostToEngine);
    } catch {
      /* the exit handler reports it */
    }
    const origReject = p.reject;
    const origResolve = p.resolve;
    p.reject = (e) => {
      this.lastCancelLatencyMs = Date.now() - started;
      this.opts.log.info(`request ${p.id}: settled ${this.lastCancelLatencyMs} ms after the cancel`);
      origReject(e.code === 'engine-crashed' ? new EngineError('cancelled', 'The run was cancelled.') : e);
    };
    p.resolve = (v) => {
      this.lastCancelLatencyMs = Date.now() - started;
      origResolve(v);
    };
    p.cancelTimer = setTimeout(() => {
      if (!this.pending.has(p.id)) return;
      this.opts.log.warn(`request ${p.id}: the engine did not stop within ${grace} ms of the cancel; killing it`);
      this.kill('The run was cancelled (the engine was stopped).', 'cancelled');
    }, grace);
  }

  private armWatchdog(p: Pending): void {
    p.watchdog?.stop();
    const seconds = this.opts.timeoutSeconds();
    if (!(seconds > 0)) return;
    // Time since the last progress in work done: repeated progress messages do not keep a hung engine alive.
    p.watchdog = new ProgressWatchdog(seconds * 1000, () => {
      if (!this.pending.has(p.id)) return;
      this.opts.log.error(`request ${p.id}: no progress from the engine for ${seconds} s; considering it hung`);
      this.kill(
        `The DTD Lens engine made no progress for ${seconds} seconds (setting dtdLens.engineTimeoutSeconds) and was stopped. The next run starts a fresh engine.`,
        'engine-timeout',
      );
    });
    p.watchdog.start();
  }

  /**
   * Reads the files the engine asked for (through the payload's reader: confined,
   * size-checked) and sends them. A refusal fails the request here, with the
   * host's message, and tells the engine to stop.
   */
  private async answerNeedFiles(child: ChildProcess, p: Pending, names: string[]): Promise<void> {
    this.opts.log.info(`request ${p.id}: the engine asks for ${names.length} file(s) next to the model`);
    let files: ModelFiles = {};
    let error: EngineError | undefined;
    try {
      if (p.readSiblings) files = await p.readSiblings(names);
    } catch (e) {
      error = e instanceof EngineError ? e : new EngineError('bad-model', e instanceof Error ? e.message : String(e));
    }
    if (!this.pending.has(p.id) || child !== this.child) return; // settled (cancelled, crashed) while reading
    this.armWatchdog(p);
    try {
      const msg: HostToEngine = error ? { type: 'files', id: p.id, files: {}, error: { code: error.code, message: error.message } } : { type: 'files', id: p.id, files };
      child.send(msg);
    } catch (e) {
      if (!error) error = new EngineError('engine-crashed', `Could not send the model's files to the DTD Lens engine: ${String(e)}`);
    }
    if (error) {
      const err = error;
      this.settle(p.id, () => p.reject(err));
    }
  }

  private settle(id: number, fn: () => void): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.watchdog?.stop();
    if (p.cancelTimer) clearTimeout(p.cancelTimer);
    fn();
  }

  private failAll(err: EngineError): void {
    for (const id of [...this.pending.keys()]) {
      const p = this.pending.get(id)!;
      this.settle(id, () => p.reject(err));
    }
  }

  private onMessage(child: ChildProcess, raw: unknown): void {
    if (child !== this.child) return; // a stale process that is being killed
    if (!isEngineToHost(raw)) {
      this.opts.log.error(`engine sent a malformed message: ${logText(describeValue(raw, 300))}`);
      return;
    }
    const m: EngineToHost = raw;
    switch (m.type) {
      case 'ready':
        this.readyBackend = m.backend;
        this.opts.log.info(`engine pid ${m.pid}: ready (backend ${m.backend})`);
        return;
      case 'log':
        // The level indexes the channel: only a known one (never 'show', 'dispose', …).
        this.opts.log[isLogLevel(m.level) ? m.level : 'info'](`engine: ${logText(m.message)}`);
        return;
      case 'progress': {
        const p = this.pending.get(m.id);
        if (!p) return;
        p.watchdog?.progress(m.progress);
        p.onProgress?.(m.progress);
        return;
      }
      case 'needFiles': {
        const p = this.pending.get(m.id);
        if (!p) return;
        void this.answerNeedFiles(child, p, m.names);
        return;
      }
      case 'result':
      case 'inspected':
      case 'audited':
      case 'concepts':
      case 'baselines':
      case 'datasetDone':
      case 'pong': {
        const p = this.pending.get(m.id);
        if (!p) return;
        if (p.expect !== m.type) {
          this.opts.log.error(`request ${m.id}: expected '${p.expect}', got '${m.type}'`);
          return;
        }
        const value = m.type === 'result' ? m.result : m.type === 'inspected' ? m.reply : m.type === 'audited' ? { audit: m.audit, csv: m.csv } : m.type === 'concepts' ? m.concepts : m.type === 'datasetDone' || m.type === 'baselines' ? m.reply : undefined;
        const limit = this.opts.maxReplyBytes ?? LIMITS.resultBytes;
        if (value !== undefined && approxBytes(value, limit) > limit) {
          const mb = Math.round(limit / 1024 / 1024);
          this.opts.log.error(`request ${m.id}: the engine's reply is larger than ${mb} MB; refused`);
          this.settle(m.id, () => p.reject(new EngineError('too-costly', `The result is larger than the ${mb} MB DTD Lens accepts from the engine; explain a smaller model or input.`)));
          return;
        }
        this.settle(m.id, () => p.resolve(value));
        return;
      }
      case 'error': {
        const p = this.pending.get(m.id);
        const level = m.code === 'internal' ? 'error' : 'info';
        const code = plainText(m.code, 40);
        this.opts.log[level](`request ${m.id}: ${code}: ${logText(m.message)}`);
        if (!p) return;
        this.settle(m.id, () => p.reject(new EngineError(code, plainText(m.message))));
        return;
      }
    }
  }
}

function logLines(chunk: string, out: (line: string) => void): void {
  for (const line of chunk.split(/\r?\n/)) if (line.trim()) out(line);
}

