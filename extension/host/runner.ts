// The one way the host runs engine work that a person waits for: a
// notification with progress and Cancel (window.withProgress), a cancellation
// source linked to it, and, for exclusive work (explain, audit), "one at a
// time": a new exclusive task cancels the one before, and cancelActive()
// cancels the current one (the API and the tests use it). Progress the engine
// reports is shown as "stage (n %)" with a growing bar; runs that name a run
// id also record it (tests read it through the API). The title and the
// progress text are made plain (protocol/text.ts): a progress notification
// renders `[label](command:…)` links like any other, and titles name files.

import * as vscode from 'vscode';
import { plainText, type Progress } from '../protocol';

export interface ProgressEvent {
  runId: string;
  stage: string;
  fraction?: number;
  at: number;
}

/** What a task gets: the token to hand to the engine and the progress callback. */
export interface TaskControl {
  token: vscode.CancellationToken;
  onProgress: (p: Progress) => void;
}

export interface TaskOptions {
  /** Cancel the current exclusive task and become the one cancelActive() cancels. */
  exclusive: boolean;
  /** Record the engine's progress under this run id. */
  runId?: string;
  /** Also told of every progress event (e.g. the visualizers' progress bar). */
  onProgress?: (p: Progress) => void;
}

const MAX_PROGRESS_EVENTS = 500;

export class EngineRunner {
  /** Progress the engine reported for runs, newest last (bounded). */
  readonly progressEvents: ProgressEvent[] = [];
  private active: vscode.CancellationTokenSource | undefined;

  /** Cancels the current exclusive task; false when there is none. */
  cancelActive(): boolean {
    if (!this.active) return false;
    this.active.cancel();
    return true;
  }

  async run<T>(title: string, task: (control: TaskControl) => Promise<T>, opts: TaskOptions): Promise<T> {
    const cts = new vscode.CancellationTokenSource();
    if (opts.exclusive) {
      this.active?.cancel();
      this.active = cts;
    }
    try {
      return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: plainText(title, 200), cancellable: true }, async (progress, token) => {
        const sub = token.onCancellationRequested(() => cts.cancel());
        let reported = 0;
        const onProgress = (p: Progress): void => {
          if (opts.runId !== undefined) this.record(opts.runId, p);
          const pct = p.fraction !== undefined ? Math.max(0, Math.min(100, Math.round(p.fraction * 100))) : undefined;
          const increment = pct !== undefined && pct > reported ? pct - reported : undefined;
          if (increment) reported = pct!;
          const stage = plainText(p.stage, 200);
          progress.report({ message: pct !== undefined ? `${stage} (${pct} %)` : stage, increment });
          opts.onProgress?.(p);
        };
        try {
          return await task({ token: cts.token, onProgress });
        } finally {
          sub.dispose();
        }
      });
    } finally {
      if (this.active === cts) this.active = undefined;
      cts.dispose();
    }
  }

  private record(runId: string, p: Progress): void {
    this.progressEvents.push({ runId, stage: p.stage, fraction: p.fraction, at: Date.now() });
    if (this.progressEvents.length > MAX_PROGRESS_EVENTS) this.progressEvents.splice(0, this.progressEvents.length - MAX_PROGRESS_EVENTS);
  }
}
