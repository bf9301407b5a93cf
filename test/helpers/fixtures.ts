// Shared test helpers: where the golden fixtures live and tolerance checks
// that say which element failed.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');
/**
 * The golden fixtures: $DTD_FIXTURES_DIR, else the shared folder beside the
 * checkout (../shared/fixtures/dtd), else the copy vendored in test/fixtures
 * (so a clean clone on CI has them too).
 */
export const FIXTURES_DIR =
  process.env.DTD_FIXTURES_DIR ??
  [path.resolve(REPO, '..', 'shared', 'fixtures', 'dtd'), path.resolve(REPO, 'test', 'fixtures', 'dtd')].find((d) => existsSync(d)) ??
  path.resolve(REPO, 'test', 'fixtures', 'dtd');
export const CONV_FIXTURES_DIR = path.resolve(FIXTURES_DIR, '..', 'conv');
/** Graph networks (residual adds, concatenation, grouped convs; RESIDUAL.md), beside the other fixture folders. */
export const RESIDUAL_FIXTURES_DIR = path.resolve(FIXTURES_DIR, '..', 'residual');
/** Models written by the real exporters (tools/real-models/), committed with the repository. */
export const REAL_MODELS_DIR = path.resolve(REPO, 'test', 'fixtures', 'real');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Fixture = any;

/** The case names (JSON files) of a fixture folder, sorted. */
export function fixtureNames(dir = FIXTURES_DIR): string[] {
  assert.ok(existsSync(dir), `fixtures folder ${dir} is missing (set DTD_FIXTURES_DIR)`);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

const cache = new Map<string, Fixture>();
/** A fixture case, parsed once ("NaN"/"Infinity" strings become numbers, fixtures README §2). */
export function loadFixture(name: string, dir = FIXTURES_DIR): Fixture {
  const file = path.join(dir, `${name}.json`);
  let f = cache.get(file);
  if (!f) {
    f = JSON.parse(readFileSync(file, 'utf8'), (_k, v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v));
    cache.set(file, f);
  }
  return f;
}

export function fixtureFile(name: string, ext: string, dir = FIXTURES_DIR): string {
  return path.join(dir, `${name}.${ext}`);
}

/** |got − want| ≤ abs + rel·|want| elementwise, with a message naming the index. */
export function assertClose(got: ArrayLike<number> | null | undefined, want: ArrayLike<number>, rel: number, abs: number, what: string): void {
  assert.ok(got, `${what}: missing`);
  assert.equal(got.length, want.length, `${what}: length ${got.length} ≠ ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= abs + rel * Math.abs(want[i]))) {
      assert.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]} (|Δ| = ${d.toExponential(3)} > ${abs} + ${rel}·|want|)`);
    }
  }
}

export function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}
