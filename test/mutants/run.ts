// Mutant runner: applies each mutant of mutants.ts, one at a time, to a
// temporary copy of the repository (never to the checkout itself), runs the
// test files that must catch it, and prints killed / survived. Exits 1 when a
// mutant survives, when a `find` string no longer occurs exactly once, or when
// the tests fail without any mutant (then "killed" would mean nothing).
//   npm run mutants                 all mutants
//   npm run mutants -- sampled      only mutants whose id contains "sampled"

import { spawn } from 'node:child_process';
import { cpSync, lstatSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { FIXTURES_DIR, REPO } from '../helpers/fixtures';
import { MUTANTS, type Mutant } from './mutants';

const TIMEOUT_MS = 120_000;
// Build outputs and test scratch (the VS Code suite leaves sockets in .test-tmp) are not copied.
const SKIP = new Set(['node_modules', '.git', 'dist', 'out', 'test-output', '.vscode-test', '.test-tmp']);

function occurrences(text: string, find: string): number {
  let n = 0;
  for (let i = text.indexOf(find); i >= 0; i = text.indexOf(find, i + 1)) n++;
  return n;
}

const temps: string[] = [];
function cleanup() {
  for (const t of temps.splice(0)) rmSync(t, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
process.on('SIGTERM', () => {
  cleanup();
  process.exit(143);
});

/** A copy of the working tree (sources, tests, fixtures) with node_modules linked, in a fresh temporary folder. */
function copyRepo(): string {
  const base = mkdtempSync(join(tmpdir(), 'dtd-mutants-'));
  temps.push(base);
  const dest = join(base, 'repo');
  cpSync(REPO, dest, {
    recursive: true,
    // Only folders and regular files: a socket or FIFO cannot be copied.
    filter: (src) => !SKIP.has(relative(REPO, src).split(/[\\/]/)[0]) && (() => { const st = lstatSync(src); return st.isDirectory() || st.isFile(); })(),
  });
  symlinkSync(realpathSync(join(REPO, 'node_modules')), join(dest, 'node_modules'), 'dir');
  return dest;
}

interface Run {
  ok: boolean;
  timedOut: boolean;
  firstFailure: string | null;
  seconds: number;
  output: string;
}

function runTests(cwd: string, tests: string[]): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...tests], {
      cwd,
      env: { ...process.env, DTD_FIXTURES_DIR: FIXTURES_DIR, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      // The first failing test (a leaf: the line after it is its error, not another test).
      const lines = output.split('\n');
      const idx = lines.findIndex((l, i) => /^\s*✖ /.test(l) && !/^\s*[✖✔▶]/.test(lines[i + 1] ?? ''));
      resolve({ ok: code === 0 && !timedOut, timedOut, firstFailure: idx >= 0 ? lines[idx].trim().replace(/ \([\d.]+ms\)$/, '') : null, seconds: (Date.now() - t0) / 1000, output });
    });
  });
}

async function main() {
  const filter = process.argv[2];
  const mutants = filter ? MUTANTS.filter((m) => m.id.includes(filter)) : MUTANTS;
  if (!mutants.length) throw new Error(`No mutant id contains '${filter}'.`);

  // The table is kept honest: every find string occurs exactly once in the current sources.
  const stale = mutants.filter((m) => occurrences(readFileSync(join(REPO, m.file), 'utf8'), m.find) !== 1);
  if (stale.length) {
    for (const m of stale) console.error(`mutant ${m.id}: its find string occurs ${occurrences(readFileSync(join(REPO, m.file), 'utf8'), m.find)} times in ${m.file} (must be exactly once); update test/mutants/mutants.ts`);
    process.exit(1);
  }

  const workers = Math.max(1, Math.min(4, Math.floor(cpus().length / 2), mutants.length));
  const copies = Array.from({ length: workers }, copyRepo);
  try {
    // Baseline: the tests pass on the unmutated copy.
    const suites = [...new Set(mutants.map((m) => m.tests.join(' ')))];
    for (const s of suites) {
      const r = await runTests(copies[0], s.split(' '));
      if (!r.ok) {
        console.error(`The tests fail without any mutant: ${s}\n${r.firstFailure ?? ''}\n${r.output.slice(-3000)}`);
        process.exit(1);
      }
      console.log(`baseline ok (${r.seconds.toFixed(1)} s): ${s}`);
    }

    const results = new Map<string, Run>();
    let next = 0;
    await Promise.all(
      copies.map(async (dir) => {
        for (let i = next++; i < mutants.length; i = next++) {
          const m: Mutant = mutants[i];
          const file = join(dir, m.file);
          const original = readFileSync(file, 'utf8');
          try {
            writeFileSync(file, original.replace(m.find, () => m.replace));
            results.set(m.id, await runTests(dir, m.tests));
          } finally {
            writeFileSync(file, original);
          }
          const r = results.get(m.id)!;
          console.log(`${r.ok ? 'SURVIVED' : 'killed  '}  ${m.id} (${r.seconds.toFixed(1)} s)`);
        }
      }),
    );

    const rows = mutants.map((m) => {
      const r = results.get(m.id)!;
      return [m.id, r.ok ? 'SURVIVED' : r.timedOut ? 'killed (timeout)' : 'killed', `${r.seconds.toFixed(1)} s`, r.ok ? m.description : (r.firstFailure ?? '(tests failed)').slice(0, 110)];
    });
    const head = ['mutant', 'outcome', 'time', 'description / first failing test'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
    console.log('\n' + [line(head), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n'));
    const survivors = rows.filter((r) => r[1] === 'SURVIVED').length;
    console.log(`\n${mutants.length - survivors} of ${mutants.length} mutants killed, ${survivors} survived.`);
    process.exitCode = survivors ? 1 : 0;
  } finally {
    cleanup();
  }
}

main().catch((e) => {
  cleanup();
  console.error(e);
  process.exit(1);
});
