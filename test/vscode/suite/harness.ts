// A minimal sequential test runner for the extension host (mocha is not a
// dependency): `test(name, fn, timeoutMs)` registers, `runAll()` runs them in
// order, prints one line per test to the console (streamed to the driver),
// writes test-output/vscode-host-results.json and rejects when any failed.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Case {
  name: string;
  fn: () => Promise<void> | void;
  timeoutMs: number;
}

const cases: Case[] = [];
/** Numbers a test wants reported (cancel latency, run times …). */
export const measurements: Record<string, number> = {};

export function test(name: string, fn: () => Promise<void> | void, timeoutMs = 60000): void {
  cases.push({ name, fn, timeoutMs });
}

export async function runAll(outputDir: string): Promise<void> {
  const results: { name: string; ok: boolean; ms: number; error?: string }[] = [];
  const only = process.env.DTD_VSCODE_GREP ? new RegExp(process.env.DTD_VSCODE_GREP) : undefined;
  const started = Date.now();
  for (const c of cases) {
    if (only && !only.test(c.name)) continue;
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(c.fn),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${c.timeoutMs} ms`)), c.timeoutMs))),
      ]);
      results.push({ name: c.name, ok: true, ms: Date.now() - t0 });
      console.log(`  ✔ ${c.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
      results.push({ name: c.name, ok: false, ms: Date.now() - t0, error });
      console.error(`  ✖ ${c.name} (${Date.now() - t0} ms)\n${indent(error)}`);
    } finally {
      clearTimeout(timer);
    }
  }
  const failed = results.filter((r) => !r.ok);
  const totalMs = Date.now() - started;
  console.log(`in-host suite: ${results.length - failed.length} passed, ${failed.length} failed, ${(totalMs / 1000).toFixed(1)} s`);
  if (Object.keys(measurements).length) console.log(`measurements: ${JSON.stringify(measurements)}`);
  mkdirSync(outputDir, { recursive: true });
  writeFileSync(join(outputDir, 'vscode-host-results.json'), JSON.stringify({ totalMs, results, measurements }, null, 2));
  if (failed.length) throw new Error(`${failed.length} of ${results.length} in-host tests failed: ${failed.map((f) => f.name).join('; ')}`);
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
}
