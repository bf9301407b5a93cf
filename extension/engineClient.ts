// The host side of the engine child process: one forked `dist/engine.js`
// reused across runs, typed requests with ids (extension/protocol.ts), progress
// events, cancellation, and recovery. A crash, a hang (no message for
// `timeoutSeconds` during a request) or a cancel the engine does not answer
// within 0.8 s (so that Cancel always ends a run within a second) kills the
// process; the next request forks a fresh one.
// Everything the engine says goes to the LogOutputChannel, as plain text
// (protocol/text.ts: it quotes names from model files) at a validated level.
// A reply larger than LIMITS.resultBytes is refused.

import { fork, type ChildProcess } from 'node:child_process';
import type * as vscode from 'vscode';
import {
  approxBytes,
  describeValue,
  isEngineToHost,
  isLogLevel,
  LIMITS,
  logText,
  plainText,
  type EngineToHost,
  type HostToEngine,
  type InputSpec,
  type InspectReply,
  type WireAuditOptions,
  type WireExplainOptions,
} from './protocol';
import type { ExplainResult, Progress } from './protocol';
import type { AuditResult } from './protocol';

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

export interface ModelPayload {
  fileName: string;
  modelBytes: Uint8Array;
  sidecar?: unknown;
  /** TF.js weight shards named by model.json, read next to it. */
  files?: Record<string, Uint8Array>;
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
  expect: 'result' | 'inspected' | 'audited' | 'pong';
  watchdog?: NodeJS.Timeout;
  cancelTimer?: NodeJS.Timeout;
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

  explain(model: ModelPayload, input: InputSpec, options: WireExplainOptions, req: RequestOptions = {}): Promise<ExplainResult> {
    const id = this.nextId++;
    return this.request<ExplainResult>({ type: 'explain', id, ...model, input, options }, 'result', req);
  }

  /** The root audit over random inputs (the research experiment); the reply carries the CSV too. */
  audit(model: ModelPayload, options: WireAuditOptions, req: RequestOptions = {}): Promise<{ audit: AuditResult; csv: string }> {
    const id = this.nextId++;
    return this.request<{ audit: AuditResult; csv: string }>({ type: 'audit', id, ...model, options }, 'audited', req);
  }

  inspect(model: ModelPayload, input?: InputSpec, req: RequestOptions = {}): Promise<InspectReply> {
    const id = this.nextId++;
    return this.request<InspectReply>({ type: 'inspect', id, ...model, input }, 'inspected', req);
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
      execArgv: [],
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
        const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
        this.failAll(new EngineError('engine-crashed', `The DTD Lens engine ${how} during the run. The next run starts a fresh engine.`));
      }
    });
    for (const cb of this.listeners.spawned) cb(pid);
    return child;
  }

  private request<T>(msg: HostToEngine, expect: Pending['expect'], req: RequestOptions): Promise<T> {
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
      const p: Pending = { id: msg.id, resolve: resolve as (v: unknown) => void, reject, onProgress: req.onProgress, expect };
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
    if (p.watchdog) clearTimeout(p.watchdog);
    const seconds = this.opts.timeoutSeconds();
    if (!(seconds > 0)) return;
    p.watchdog = setTimeout(() => {
      if (!this.pending.has(p.id)) return;
      this.opts.log.error(`request ${p.id}: no word from the engine for ${seconds} s; considering it hung`);
      this.kill(
        `The DTD Lens engine did not respond for ${seconds} seconds (setting dtdLens.engineTimeoutSeconds) and was stopped. The next run starts a fresh engine.`,
        'engine-timeout',
      );
    }, seconds * 1000);
  }

  private settle(id: number, fn: () => void): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (p.watchdog) clearTimeout(p.watchdog);
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
        this.armWatchdog(p);
        p.onProgress?.(m.progress);
        return;
      }
      case 'result':
      case 'inspected':
      case 'audited':
      case 'pong': {
        const p = this.pending.get(m.id);
        if (!p) return;
        if (p.expect !== m.type) {
          this.opts.log.error(`request ${m.id}: expected '${p.expect}', got '${m.type}'`);
          return;
        }
        const value = m.type === 'result' ? m.result : m.type === 'inspected' ? m.reply : m.type === 'audited' ? { audit: m.audit, csv: m.csv } : undefined;
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

