// `dtd-lens audit <model> --inputs N …`: the research experiment as a
// command. Prints the table, writes CSV and JSON.

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { audit, auditCsv, auditTable } from './audit';
import type { Method, RootFinderName, SanityCheck } from '../protocol';
import { DtdError } from './errors';
import type { Network } from './network';

export const AUDIT_USAGE = `dtd-lens audit <model> [options]   the root audit of Sixt & Landgraf (TMLR 2022)

  --inputs N              number of random inputs |N(0, I)| (default 100)
  --min-output T          keep inputs whose explained output exceeds T (default 0)
  --output K              explained output (default 0)
  --rule R                a rule to audit; repeat for several (default: z+, w2, x, gamma)
  --method M              train-free | full-backward | both (default both)
  --root-finder F         full-backward root finder: linear (default, as the research code) | polytope | hit-and-run | metropolis-hastings | interpolation
  --seed S                random seed (default 0)
  --sanity LIST           comma list of randomization, random-logit, pixel-flipping
  --json FILE|-           the audit as JSON ('-' = stdout)
  --csv FILE              one row per rule and method`;

export async function runAudit(
  argv: string[],
  load: (file: string) => Network,
  progress: { onProgress: (p: { stage: string; fraction?: number }) => void; done: () => void },
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      inputs: { type: 'string' },
      'min-output': { type: 'string' },
      output: { type: 'string' },
      rule: { type: 'string', multiple: true },
      method: { type: 'string' },
      'root-finder': { type: 'string' },
      seed: { type: 'string' },
      sanity: { type: 'string' },
      json: { type: 'string' },
      csv: { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new DtdError('bad-usage', `audit needs exactly one model file (got ${positionals.length}). Try: dtd-lens audit model.onnx --inputs 1000`);
  const int = (v: string | undefined, name: string, dflt: number, min = 0) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new DtdError('bad-usage', `${name} must be an integer ≥ ${min}, got '${v}'.`);
    return n;
  };
  const method = values.method ?? 'both';
  if (!['train-free', 'full-backward', 'both'].includes(method)) throw new DtdError('bad-usage', `--method must be train-free, full-backward or both, got '${method}'.`);
  const finder = (values['root-finder'] ?? 'linear') as RootFinderName;
  if (!['linear', 'polytope', 'hit-and-run', 'metropolis-hastings', 'interpolation'].includes(finder)) throw new DtdError('bad-usage', `Unknown root finder '${finder}'.`);
  const sanity = (values.sanity ? values.sanity.split(',').map((s) => s.trim()).filter(Boolean) : []) as SanityCheck[];
  for (const s of sanity) if (!['randomization', 'random-logit', 'pixel-flipping'].includes(s)) throw new DtdError('bad-usage', `Unknown sanity check '${s}' (use randomization, random-logit, pixel-flipping).`);
  const minOutput = values['min-output'] === undefined ? 0 : Number(values['min-output']);
  if (!Number.isFinite(minOutput)) throw new DtdError('bad-usage', `--min-output must be a number, got '${values['min-output']}'.`);
  const net = load(positionals[0]);
  let result;
  try {
    result = await audit(net, {
      inputs: int(values.inputs, '--inputs', 100, 1),
      minOutput,
      explainedOutput: int(values.output, '--output', 0),
      rules: values.rule,
      methods: method === 'both' ? ['train-free', 'full-backward'] : [method as Method],
      rootFinder: finder,
      seed: int(values.seed, '--seed', 0),
      sanity,
      onProgress: progress.onProgress,
    });
  } finally {
    progress.done();
  }
  const table = auditTable(result);
  if (!values.quiet) (values.json === '-' ? process.stderr : process.stdout).write(table + '\n');
  if (values.json === '-') process.stdout.write(JSON.stringify(result) + '\n');
  else if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 1));
  if (values.csv) writeFileSync(values.csv, auditCsv(result));
  return 0;
}
