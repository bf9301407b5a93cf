// What the user is told: notifications (recorded, so the tests can see what the
// user saw) and errors turned into messages. An engine failure (crash, hang,
// internal error) offers the log; a bad model or input names the file.
// Every notification goes through notify(), which makes its text plain
// (protocol/text.ts): VS Code renders `[label](command:…)` in a notification
// as a clickable command link, and messages carry names from model files.

import * as vscode from 'vscode';
import { EngineError } from '../engineClient';
import { plainText } from '../protocol';

export interface Notice {
  level: 'info' | 'warning' | 'error';
  message: string;
  actions: string[];
  at: number;
}

export interface ReportedError {
  code: string;
  message: string;
}

export class Notifier {
  /** Every notification shown, oldest first. */
  readonly notices: Notice[] = [];

  constructor(private readonly log: vscode.LogOutputChannel) {}

  notify(level: Notice['level'], text: string, ...actions: string[]): Thenable<string | undefined> {
    const message = plainText(text);
    this.notices.push({ level, message, actions, at: Date.now() });
    this.log[level === 'warning' ? 'warn' : level](`shown to the user: ${message}`);
    const show = level === 'error' ? vscode.window.showErrorMessage : level === 'warning' ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    return show(message, ...actions);
  }

  /** Shows `e` (unless it is a cancellation) and returns it as a value for the command's outcome. */
  reportError(e: unknown, context: string): ReportedError {
    const code = e instanceof EngineError ? e.code : 'internal';
    const message = e instanceof Error ? e.message : String(e);
    if (code === 'cancelled') return { code, message };
    const engineFailure = e instanceof EngineError ? e.isEngineFailure : true;
    if (engineFailure) {
      void this.notify('error', `DTD Lens: ${context}: ${message}`, 'Show Log').then((choice) => {
        if (choice === 'Show Log') this.log.show();
      });
    } else {
      void this.notify('error', `DTD Lens: ${message}`);
    }
    return { code, message };
  }
}

export function isCancellation(e: unknown): boolean {
  return e instanceof EngineError && e.code === 'cancelled';
}
