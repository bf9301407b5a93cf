// Runs one hostile case (generate.ts) the way a user would — `node dist/cli.js
// explain <model> … --quiet --json -` — or, for the IPC family, talks to the
// engine child (dist/engine.js) the way the extension host does; each under a
// time limit, an address-space cap (prlimit --as, else `ulimit -v`) and, when
// strace is installed, `strace -f -e trace=open,openat,openat2` to list every
// file the process opened. judge() says what was wrong with the outcome.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SECRET, MARKUP_NAMES, type HostileCase } from './generate';

export interface RunOptions {
  repo: string;
  timeoutMs: number;
  memMb: number;
  strace: boolean;
  /** Where strace logs go (one per case). */
  scratch: string;
}

export interface Outcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  ms: number;
  stdout: string;
  /** stdout bytes, also past the captured part. */
  stdoutBytes: number;
  stderr: string;
  /** Successful opens: [path as opened, real path]. */
  opens: [string, string][];
  /** IPC cases: what went wrong in the conversation. */
  ipcProblems?: string[];
}

const STDOUT_CAP = 64 * 1024 * 1024;
const STDERR_CAP = 1024 * 1024;
/** A result on stdout larger than this is not a sane result. */
export const RESULT_BOUND = 32 * 1024 * 1024;
/** An error message longer than this is not one line a person reads. */
export const MESSAGE_BOUND = 2000;

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** The wrapper: memory cap, then strace, then the command. */
function wrap(opts: RunOptions, log: string, cmd: string[]): string[] {
  const trace = opts.strace ? ['strace', '-f', '-qq', '-e', 'trace=open,openat,openat2', '-o', log] : [];
  const bytes = opts.memMb * 1024 * 1024;
  if (have('prlimit')) return ['prlimit', `--as=${bytes}`, '--', ...trace, ...cmd];
  return ['bash', '-c', `ulimit -v ${opts.memMb * 1024} && exec "$@"`, 'hostile', ...trace, ...cmd];
}

function collect(child: ChildProcess, out: { stdout: Buffer[]; stdoutBytes: number; stderr: Buffer[]; stderrBytes: number }): void {
  child.stdout?.on('data', (d: Buffer) => {
    if (out.stdoutBytes < STDOUT_CAP) out.stdout.push(d);
    out.stdoutBytes += d.length;
  });
  child.stderr?.on('data', (d: Buffer) => {
    if (out.stderrBytes < STDERR_CAP) out.stderr.push(d);
    out.stderrBytes += d.length;
  });
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

export async function runCase(c: HostileCase, opts: RunOptions): Promise<Outcome> {
  const log = path.join(opts.scratch, `${c.id}.strace`);
  const started = Date.now();
  const io = { stdout: [] as Buffer[], stdoutBytes: 0, stderr: [] as Buffer[], stderrBytes: 0 };
  let child: ChildProcess;
  let ipcProblems: string[] | undefined;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const cmd = c.ipc
      ? wrap(opts, log, [process.execPath, path.join(opts.repo, 'dist', 'engine.js')])
      : wrap(opts, log, [process.execPath, path.join(opts.repo, 'dist', 'cli.js'), 'explain', c.model, ...c.args, '--quiet', '--json', '-']);
    child = spawn(cmd[0], cmd.slice(1), {
      cwd: c.dir,
      detached: true,
      stdio: c.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
      serialization: c.ipc ? 'advanced' : 'json',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: c.dir, LANG: 'C.UTF-8' },
    });
    collect(child, io);
    child.on('error', () => resolve({ code: null, signal: null }));
    // After 'exit', wait for stdout and stderr to end (they are complete only then); not 'close',
    // which with an IPC channel may never come once the channel is gone.
    const streamsDone = Promise.all([child.stdout, child.stderr].map((s) => new Promise<void>((r) => (!s || s.closed ? r() : s.once('close', () => r())))));
    child.on('exit', (code, signal) => {
      const grace = setTimeout(() => resolve({ code, signal }), 2000);
      void streamsDone.then(() => {
        clearTimeout(grace);
        resolve({ code, signal });
      });
    });
    timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, opts.timeoutMs);
  });
  if (c.ipc) {
    ipcProblems = await ipcConversation(c, child!, opts.timeoutMs - 500).catch((e) => [`the conversation failed: ${(e as Error).message}`]);
    if (child!.connected) child!.disconnect();
  }
  const { code, signal } = await done;
  clearTimeout(timer);
  const outcome: Outcome = {
    exitCode: code,
    signal,
    timedOut,
    ms: Date.now() - started,
    stdout: Buffer.concat(io.stdout).toString('utf8'),
    stdoutBytes: io.stdoutBytes,
    stderr: Buffer.concat(io.stderr).toString('utf8'),
    opens: opts.strace ? readOpens(log, c.dir) : [],
    ipcProblems,
  };
  fs.rmSync(log, { force: true });
  return outcome;
}

// ---------- strace ----------

function unescapeStrace(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '\\') {
      bytes.push(...Buffer.from(s[i], 'utf8'));
      continue;
    }
    const n = s[++i];
    if (n === 'x') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (/[0-7]/.test(n)) {
      const m = /^[0-7]{1,3}/.exec(s.slice(i))![0];
      bytes.push(parseInt(m, 8));
      i += m.length - 1;
    } else bytes.push(({ n: 10, t: 9, r: 13, v: 11, f: 12 } as Record<string, number>)[n] ?? n.charCodeAt(0));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Successful open/openat/openat2 calls in a strace -f log, with their real paths. */
export function readOpens(log: string, cwd: string): [string, string][] {
  if (!fs.existsSync(log)) return [];
  const pending = new Map<string, string>();
  const out: [string, string][] = [];
  const record = (p: string, result: string) => {
    if (!/^\d+$/.test(result)) return; // -1 ENOENT …
    const abs = path.resolve(cwd, p);
    let real = abs;
    try {
      real = fs.realpathSync(abs);
    } catch {
      // gone or unreadable: judge the path as opened
    }
    out.push([abs, real]);
  };
  for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
    const call = /^(\d+)\s+(?:open|openat|openat2)\((?:[^"]*?,\s*)?"((?:[^"\\]|\\.)*)"(.*)$/.exec(line);
    if (call) {
      const [, pid, p, rest] = call;
      const path_ = unescapeStrace(p);
      if (rest.includes('<unfinished ...>')) pending.set(pid, path_);
      else {
        const r = /\)\s+=\s+(-?\d+)/.exec(rest);
        if (r) record(path_, r[1]);
      }
      continue;
    }
    const resumed = /^(\d+)\s+<\.\.\. (?:open|openat|openat2) resumed>.*\)\s+=\s+(-?\d+)/.exec(line);
    if (resumed && pending.has(resumed[1])) {
      record(pending.get(resumed[1])!, resumed[2]);
      pending.delete(resumed[1]);
    }
  }
  return out;
}

/** The runtime's own files: the repository's bundle and dependencies, the node binary, system libraries, /proc, /sys. */
export function allowedRoots(repo: string): string[] {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p;
    }
  };
  return [
    real(path.join(repo, 'dist')),
    real(path.join(repo, 'node_modules')),
    real(path.join(repo, 'package.json')),
    path.dirname(real(process.execPath)),
    '/proc', '/sys', '/lib', '/lib64', '/usr/lib', '/usr/lib64', '/usr/share/zoneinfo', '/usr/share/locale', '/usr/lib/locale',
    '/etc/ld.so.cache', '/etc/ld.so.preload', '/etc/localtime',
    // OpenSSL's configuration and CA bundle, which node loads at start-up.
    '/etc/ssl/openssl.cnf', '/usr/lib/ssl/openssl.cnf', '/etc/ssl/certs/ca-certificates.crt',
    '/dev/null', '/dev/urandom', '/dev/random', '/dev/tty', '/dev/pts', '/dev/ptmx',
  ];
}

function within(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
}

// ---------- IPC ----------

type Msg = { type?: string; id?: unknown; code?: string; message?: string };

async function ipcConversation(c: HostileCase, child: ChildProcess, budgetMs: number): Promise<string[]> {
  const problems: string[] = [];
  const inbox: Msg[] = [];
  let wake: (() => void) | undefined;
  child.on('message', (m: Msg) => {
    inbox.push(m);
    wake?.();
  });
  const deadline = Date.now() + budgetMs;
  /** Waits for a message matching `pred` (skipping log/progress/ready); undefined when the time is up or the child is gone. */
  const expect = async (pred: (m: Msg) => boolean, what: string): Promise<Msg | undefined> => {
    for (;;) {
      const i = inbox.findIndex(pred);
      if (i >= 0) return inbox.splice(i, 1)[0];
      if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null || !child.connected) {
        problems.push(`no reply: ${what}${child.exitCode !== null || child.signalCode ? ` (the engine exited: ${child.exitCode ?? child.signalCode})` : ''}`);
        return undefined;
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  const send = (m: unknown) => {
    try {
      child.send(m as never);
      return true;
    } catch (e) {
      problems.push(`could not send: ${(e as Error).message}`);
      return false;
    }
  };
  const answers = (id: number) => (m: Msg) => m.id === id && (m.type === 'error' || m.type === 'result' || m.type === 'pong' || m.type === 'inspected');
  const anyError = (m: Msg) => m.type === 'error';
  const modelBytes = new Uint8Array(fs.readFileSync(path.join(c.dir, 'm.onnx')));
  const checkMessage = (m: Msg | undefined, what: string) => {
    if (!m || typeof m.message !== 'string') return;
    if (m.message.length > MESSAGE_BOUND) problems.push(`${what}: the error message is ${m.message.length} characters long`);
    if (/\]\(command:/.test(m.message)) problems.push(`${what}: the error message carries a command link: ${m.message.slice(0, 200)}`);
    if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(m.message)) problems.push(`${what}: the error message carries control characters`);
  };
  await expect((m) => m.type === 'ready', 'ready');
  switch (c.ipc) {
    case 'bigint-id':
      send({ type: 'ping', id: 1n });
      await expect(anyError, 'a ping whose id is a BigInt');
      break;
    case 'cyclic-payload': {
      const o: Record<string, unknown> = { type: 'explain', id: 3 };
      o.self = o;
      send(o);
      await expect(anyError, 'a cyclic explain request without model bytes');
      break;
    }
    case 'bigint-in-options':
      send({ type: 'explain', id: 4, fileName: 'm.onnx', modelBytes, input: { kind: 'random', seed: 5n, minOutput: 0 }, options: { topK: 10n, seed: 1n } });
      await expect(answers(4), 'an explain request with BigInt options');
      break;
    case 'not-an-object':
      send('hello');
      await expect(anyError, 'a string message');
      send(42);
      await expect(anyError, 'a number message');
      send([1, 2, 3]);
      await expect(anyError, 'an array message');
      break;
    case 'unknown-type':
      send({ type: 'shutdown', id: 5 });
      await expect(answers(5), 'an unknown request type');
      break;
    case 'model-bytes-not-bytes':
      send({ type: 'explain', id: 6, fileName: 'm.onnx', modelBytes: 'AAAA', input: { kind: 'random', seed: 0 }, options: {} });
      await expect(answers(6), 'modelBytes as a string');
      send({ type: 'inspect', id: 7, fileName: 'm.onnx', modelBytes: new Map([[1, 2]]) });
      await expect(answers(7), 'modelBytes as a Map');
      break;
    case 'hostile-name-error': {
      const name = MARKUP_NAMES[0];
      send({ type: 'explain', id: 8, fileName: `${name}.onnx`, modelBytes: new Uint8Array(64), input: { kind: 'random', seed: 0 }, options: {} });
      checkMessage(await expect(answers(8), 'an explain request with a hostile file name'), 'hostile file name');
      send({ type: 'inspect', id: 9, fileName: 'm.json', modelBytes: new TextEncoder().encode(JSON.stringify({ input_size: 1, layers: [{ name, in_features: 1, out_features: 1, weight: [[1]], activation: name }] })) });
      checkMessage(await expect(answers(9), 'an inspect request with a hostile layer name'), 'hostile layer name');
      break;
    }
    case 'huge-file-name':
      send({ type: 'inspect', id: 10, fileName: `${'a'.repeat(10_000_000)}.onnx`, modelBytes: new Uint8Array(8) });
      checkMessage(await expect(answers(10), 'a 10 MB file name'), '10 MB file name');
      break;
    case 'deep-sidecar': {
      let sidecar: unknown = 0;
      for (let i = 0; i < 1000; i++) sidecar = { finalActivation: sidecar };
      send({ type: 'inspect', id: 11, fileName: 'm.onnx', modelBytes, sidecar });
      checkMessage(await expect(answers(11), 'a sidecar nested 1000 deep'), 'deep sidecar');
      break;
    }
    case 'flood-100':
      for (let i = 0; i < 100; i++) send({ type: 'ping', id: 1000 + i });
      for (let i = 0; i < 100; i++) if (!(await expect(answers(1000 + i), `ping ${i} of 100`))) break;
      break;
    default:
      problems.push(`unknown IPC script ${c.ipc}`);
  }
  // Still alive and answering?
  if (child.connected && send({ type: 'ping', id: 99 })) await expect(answers(99), 'the final ping (is the engine still alive?)');
  return problems;
}

// ---------- judging ----------

const RAW_INTERNAL = [
  'internal error', 'Internal error', '[object Object]', 'undefined)', '(undefined', 'Maximum call stack size exceeded', 'Cannot read properties of',
  'is not a function', 'is not iterable', 'Invalid array length', 'Array buffer allocation failed', 'Invalid typed array length', 'RangeError', 'TypeError',
  'ReferenceError', 'heap out of memory', 'NotImplementedError', 'Infinity relevance', 'about Infinity', 'NaN relevance',
];
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** Every number in a JSON value's `relevance`, flattened (null = NaN/±Infinity in JSON). */
function flatValues(v: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(v)) for (const x of v) flatValues(x, out);
  else out.push(v);
  return out;
}

const norm = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '');

/** What is wrong with an outcome (empty: a good outcome). */
export function judge(c: HostileCase, o: Outcome, repo: string): string[] {
  const problems: string[] = [];
  const stderr = o.stderr.trimEnd();
  const first = stderr.split('\n')[0]?.slice(0, 240) ?? '';
  // Reads outside the model's folder (and the runtime's own files).
  // A path opened through the model's folder must stay in it (a link there to /dev/urandom is not the
  // runtime's own /dev/urandom); anything else must be one of the runtime's own files.
  const home = fs.realpathSync(c.dir);
  const runtime = allowedRoots(repo);
  const bad = o.opens.filter(([opened, real]) => (within(opened, c.dir) || within(opened, home) ? !within(real, home) : !within(real, home) && !runtime.some((r) => within(real, r))));
  for (const [opened, real] of bad.slice(0, 5)) problems.push(`read outside the model's folder: ${opened}${real !== opened ? ` → ${real}` : ''}`);
  const leak = [o.stdout, o.stderr].some((s) => s.includes(SECRET) || s.includes('root:x:0:0'));
  if (leak) problems.push(`the output shows the content of a file outside the model's folder: ${first}`);
  if (CONTROL.test(o.stderr)) problems.push(`control or bidi characters in the output: ${JSON.stringify(first.slice(0, 160))}`);
  if (/\]\((command|https?|file):/i.test(o.stderr)) problems.push(`a markdown link in the output: ${first.slice(0, 200)}`);

  if (o.timedOut) return [`timeout (${Math.round(o.ms / 1000)} s)`, ...problems];
  if (o.signal) return [`killed by ${o.signal}${first ? `: ${first}` : ''}`, ...problems];
  if (c.ipc) {
    problems.push(...(o.ipcProblems ?? []));
    if (o.exitCode !== 0) problems.push(`the engine exited with ${o.exitCode}${first ? `: ${first}` : ''}`);
    return problems;
  }
  if (o.exitCode === null || ![0, 1, 2].includes(o.exitCode)) return [`exit ${o.exitCode}: ${first}`, ...problems];

  if (o.exitCode === 2) {
    const lines = stderr.split('\n');
    if (lines.length !== 1 || !stderr) problems.push(`exit 2 with ${stderr ? lines.length : 0} lines on stderr: ${first}`);
    const line = lines[0] ?? '';
    const names = [path.basename(c.model), ...(c.input ? [path.basename(c.input)] : []), ...fs.readdirSync(c.dir)];
    // The model, the input, a file next to them, or a path inside the model's folder (a shard's).
    if (!line.includes(c.dir) && !names.some((n) => line.includes(n) || norm(line).includes(norm(n)))) problems.push(`the message does not name the file: ${line.slice(0, 200)}`);
    if (/\n\s+at .+:\d+:\d+|at .+\(.+:\d+:\d+\)/.test(stderr)) problems.push(`a stack trace: ${first}`);
    for (const f of RAW_INTERNAL) if (line.includes(f)) problems.push(`raw internal text "${f}": ${line.slice(0, 200)}`);
    if (line.length > MESSAGE_BOUND) problems.push(`a message of ${line.length} characters`);
  } else {
    if (/internal error|\n\s+at .+:\d+:\d+/.test(stderr)) problems.push(`exit ${o.exitCode} with an internal error on stderr: ${first}`);
    if (o.stdoutBytes > RESULT_BOUND) problems.push(`a result of ${(o.stdoutBytes / 1024 / 1024).toFixed(0)} MB (bound ${RESULT_BOUND / 1024 / 1024} MB)`);
    else {
      let r: { status?: string; explainedValue?: unknown; relevance?: unknown; message?: unknown } | undefined;
      try {
        r = JSON.parse(o.stdout);
      } catch {
        problems.push(`exit ${o.exitCode} without a JSON result on stdout (${o.stdoutBytes} bytes)`);
      }
      if (r) {
        const want = o.exitCode === 0 ? 'ok' : 'failed';
        if (r.status !== want) problems.push(`exit ${o.exitCode} but the result's status is ${JSON.stringify(r.status)}`);
        if (r.status === 'ok') {
          if (typeof r.explainedValue !== 'number' || !Number.isFinite(r.explainedValue)) problems.push(`"ok" with f(x) = ${JSON.stringify(r.explainedValue)}`);
          const rel = flatValues(r.relevance);
          const badRel = rel.filter((v) => typeof v !== 'number' || !Number.isFinite(v)).length;
          if (badRel) problems.push(`"ok" with ${badRel} of ${rel.length} relevances not finite (null in JSON)`);
        } else if (typeof r.message !== 'string' || !r.message) problems.push('a failed result without a message');
      }
    }
  }
  if (c.family === 'control' && o.exitCode !== 0) problems.push(`a valid file did not explain (exit ${o.exitCode}): ${first}`);
  return problems;
}

/** One short line: what happened. */
export function describeOutcome(o: Outcome): string {
  const first = o.stderr.trimEnd().split('\n')[0]?.slice(0, 160) ?? '';
  if (o.timedOut) return `timeout after ${(o.ms / 1000).toFixed(0)} s`;
  if (o.signal) return `signal ${o.signal}${first ? ` (${first})` : ''}`;
  if (o.ipcProblems?.length) return `ipc: ${o.ipcProblems[0]}`;
  return `exit ${o.exitCode}${first ? `: ${first}` : ''}`;
}
