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
