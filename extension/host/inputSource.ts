// Where the explained input comes from: a random draw (seeded), values given by
// a caller, the last-used input (kept in workspace state), or a file read with
// workspace.fs (JSON, CSV, .npy, or an image with the dtdLens.image.* settings).
// The engine parses the file; this module only reads it (a regular file within
// LIMITS.inputFileMB, modelSource.ts readInputFile).

import * as vscode from 'vscode';
import { EngineError } from '../engineClient';
import { readSettings } from '../config';
import { readInputFile } from './modelSource';
import { DEFAULT_MIN_OUTPUT, IMAGE_EXTENSIONS, type InputSpec } from '../protocol';

/** Value files larger than this are not read to count their values (the picker lists them as "size not known"). */
const COUNT_MAX_BYTES = 1 << 20;
import type { RunInput } from '../runStore';

/** How to pick the input without asking. */
export type InputChoice =
  | { kind: 'random'; seed?: number }
  | { kind: 'file'; uri: string | vscode.Uri }
  | { kind: 'values'; values: number[]; label?: string }
  | { kind: 'last' };

const LAST_INPUT_KEY = 'dtdLens.lastInput';

export class InputSource {
  constructor(private readonly state: vscode.Memento) {}

  /** The input of the last finished run, if any. */
  last(): RunInput | undefined {
    return this.state.get<RunInput>(LAST_INPUT_KEY);
  }

  remember(input: RunInput): Thenable<void> {
    return this.state.update(LAST_INPUT_KEY, input);
  }

  /** The engine's input spec for a choice, and a label for the run. */
  async specFor(choice: InputChoice): Promise<{ spec: InputSpec; label: string }> {
    switch (choice.kind) {
      case 'random': {
        const seed = choice.seed ?? readSettings().seed;
        return { spec: { kind: 'random', seed, minOutput: DEFAULT_MIN_OUTPUT }, label: `random (seed ${seed})` };
      }
      case 'values':
        return { spec: { kind: 'values', values: choice.values }, label: choice.label ?? `${choice.values.length} values` };
      case 'last': {
        const last = this.last();
        if (!last) throw new EngineError('bad-input', 'There is no last-used input yet.');
        return { spec: { kind: 'values', values: last.values }, label: last.label };
      }
      case 'file': {
        const uri = typeof choice.uri === 'string' ? vscode.Uri.parse(choice.uri) : choice.uri;
        const bytes = await readInputFile(uri);
        const path = uri.path.toLowerCase();
        const image = IMAGE_EXTENSIONS.some((e) => path.endsWith(e)) ? readSettings(uri).image : undefined;
        return {
          spec: { kind: 'file', fileName: uri.fsPath || uri.path, bytes, preprocessing: image },
          label: vscode.workspace.asRelativePath(uri, false),
        };
      }
    }
  }
}

/**
 * How many values an input file holds, when that is cheap and certain: a .npy's shape
 * (its header), a CSV's first row, a JSON array or {"x": …} / {"input": {"x": …}}
 * (flattened). Undefined for anything else, a file over 1 MB, or one that does not parse:
 * the engine reads it for real and says what is wrong.
 */
export async function inputValueCount(uri: vscode.Uri): Promise<number | undefined> {
  try {
    const stat = await vscode.workspace.fs.stat(uri);
    if (stat.type !== vscode.FileType.File || stat.size > COUNT_MAX_BYTES) return undefined;
    const path = uri.path.toLowerCase();
    if (!path.endsWith('.npy') && !path.endsWith('.csv') && !path.endsWith('.json')) return undefined;
    const bytes = await vscode.workspace.fs.readFile(uri);
    if (path.endsWith('.npy')) return npyCount(bytes);
    const text = new TextDecoder().decode(bytes);
    if (path.endsWith('.csv')) {
      const row = text.split(/\r?\n/).find((l) => l.trim() !== '');
      if (!row) return undefined;
      const cells = row.split(/[,;\s]+/).filter((c) => c !== '');
      return cells.length > 0 && cells.every((c) => Number.isFinite(Number(c))) ? cells.length : undefined;
    }
    return jsonCount(JSON.parse(text) as unknown, 0);
  } catch {
    return undefined;
  }
}

function jsonCount(v: unknown, depth: number): number | undefined {
  if (depth > 8) return undefined;
  if (Array.isArray(v)) {
    let n = 0;
    for (const x of v) {
      if (typeof x === 'number') n++;
      else {
        const k = jsonCount(x, depth + 1);
        if (k === undefined || !Array.isArray(x)) return undefined;
        n += k;
      }
    }
    return n;
  }
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    if ('x' in o) return jsonCount(o.x, depth + 1);
    if (typeof o.input === 'object' && o.input !== null && 'x' in (o.input as object)) return jsonCount((o.input as Record<string, unknown>).x, depth + 1);
  }
  return undefined;
}

/** The number of values of a .npy file from its header's shape, e.g. `'shape': (1, 10),`. */
function npyCount(bytes: Uint8Array): number | undefined {
  if (bytes.length < 10 || bytes[0] !== 0x93 || String.fromCharCode(...bytes.subarray(1, 6)) !== 'NUMPY') return undefined;
  const major = bytes[6];
  const headerLen = major === 1 ? bytes[8] | (bytes[9] << 8) : bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (bytes[11] << 24);
  const start = major === 1 ? 10 : 12;
  if (headerLen <= 0 || start + headerLen > bytes.length) return undefined;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const m = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!m) return undefined;
  const dims = m[1].split(',').map((d) => d.trim()).filter((d) => d !== '').map(Number);
  return dims.every((d) => Number.isSafeInteger(d) && d >= 0) ? dims.reduce((a, b) => a * b, 1) : undefined;
}
