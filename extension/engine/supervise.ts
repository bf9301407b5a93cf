// The command line's supervisor: the work runs in a child Node with a bounded
// heap (LIMITS.engineHeapMB, as the VS Code engine process), so a model that
// needs more memory ends with one clear line instead of a V8 abort; the
// supervisor only starts it, passes its output through and reports how it
// ended. DTD_LENS_WORKER marks the child.
//
// Kept apart from cli.ts and importing only Node and protocol/limits, so that
// the launcher (cliLauncher.ts, dist/cli.js) starts the worker without loading
// the engine first: the supervising process costs a bare Node start.

import { spawn } from 'node:child_process';
import { LIMITS } from '../protocol/limits';

/** Whether this process is the worker (or was started with a heap bound of its own): it runs the command itself. */
export function runsInProcess(): boolean {
  return process.env.DTD_LENS_WORKER === '1' || process.execArgv.some((a) => a.startsWith('--max-old-space-size'));
}

/** Runs `script` with `args` in a child Node with a bounded heap; resolves to the exit code to give. */
export function superviseWithBoundedHeap(script: string, args: string[]): Promise<number> {
  const heapMB = Number(process.env.DTD_LENS_HEAP_MB) > 0 ? Number(process.env.DTD_LENS_HEAP_MB) : LIMITS.engineHeapMB; // tests lower it
  const child = spawn(process.execPath, [`--max-old-space-size=${heapMB}`, ...process.execArgv, script, ...args], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, DTD_LENS_WORKER: '1', ...(process.stderr.isTTY ? { DTD_LENS_STDERR_TTY: '1' } : {}) },
  });
  // The worker's messages and progress pass through as they come; V8's own report of a heap overflow
  // (from "<--- Last few GCs" on) does not: the supervisor says it in one line instead.
  let v8Report = false;
  child.stderr!.on('data', (chunk: Buffer) => {
    if (v8Report) return;
    const text = chunk.toString('utf8');
    const at = text.indexOf('<--- Last few GCs');
    if (at >= 0) {
      v8Report = true;
      if (at > 0) process.stderr.write(text.slice(0, at).replace(/\n+$/, '\n'));
    } else process.stderr.write(chunk);
  });
  // Ctrl-C and kill reach the worker too (a terminal signals the whole group; a parent process may signal only us).
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward(sig));
  return new Promise((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`dtd-lens: could not start the engine: ${e.message}\n`);
      resolve(3);
    });
    child.on('close', (code, signal) => {
      if (code !== null) return resolve(code);
      if (signal === 'SIGINT' || signal === 'SIGTERM' || signal === 'SIGHUP') return resolve(130);
      // V8 aborts (SIGABRT) when the heap limit is reached; SIGKILL is the kernel's out-of-memory killer.
      if (signal === 'SIGABRT' || signal === 'SIGKILL') {
        process.stderr.write(`dtd-lens: the model needs more memory than the limit (${heapMB >= 1024 ? `${(heapMB / 1024).toFixed(0)} GB` : `${heapMB} MB`}); the engine stopped.\n`);
        return resolve(2);
      }
      process.stderr.write(`dtd-lens: the engine stopped with signal ${signal}.\n`);
      resolve(3);
    });
  });
}
