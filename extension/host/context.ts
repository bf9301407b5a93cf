// What every command works with: the engine, the stored runs, the visualizers,
// the log, and the host's shared services (notifications, the engine runner,
// the input source, the run shown in the panel). extension.ts builds it once.

import type * as vscode from 'vscode';
import type { EngineClient } from '../engineClient';
import type { RunStore } from '../runStore';
import type { Visualizers } from '../visualizer';
import type { InputSource } from './inputSource';
import type { Notifier } from './notifier';
import type { EngineRunner } from './runner';
import type { ShownRun } from './shownRun';

export interface HostContext {
  engine: EngineClient;
  store: RunStore;
  visualizers: Visualizers;
  log: vscode.LogOutputChannel;
  notifier: Notifier;
  runner: EngineRunner;
  inputs: InputSource;
  shown: ShownRun;
}
