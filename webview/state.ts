// The webview's state: what is on screen (the current result or comparison,
// the last host message), the UI state the user shaped (selection, expanded
// layers, top-k, zoom, comparison mode, baseline, root-tree path), and its
// persistence through VS Code's getState/setState so a hidden panel comes back
// as it was. The only module that talks to the VS Code API.

import type { BaselinesReply, ExplainResult, HostToWebview, WebviewSettings, WebviewToHost } from '../extension/protocol';
import { isHostToWebview, withBaselines } from '../extension/protocol';
import { defaultViewOptions } from './model';

export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
  /**
   * Whether a window message comes from this API's host. The standalone report
   * posts to its own window, so it accepts only those (reportHost.ts); absent
   * in VS Code, whose webview frame delivers the host's messages.
   */
  acceptsMessage?(event: MessageEvent): boolean;
}

export type Format = 'svg' | 'png' | 'json';

export interface Selection {
  pane: number;
  layer: number;
  unit: number;
}

export interface UiState {
  v: 1;
  /** Flows drawn per unit: the host's settings.topK unless the user changed it in the toolbar. */
  topK: number;
  /** The user set topK in the toolbar (kept over the host's setting when the state is restored). */
  topKByUser?: boolean;
  maxUnits: number;
  expanded: number[];
  selection: Selection | null;
  treePath: string[];
  transform: { k: number; x: number; y: number } | null;
  compareMode: 'side' | 'diff';
  /** Single result: compare with a baseline carried in the result ('' = none, 'gradientTimesInput', 'lrp:<key>'); baselines computed on demand too. */
  baseline: string;
}

interface Saved {
  ui: UiState;
  message?: HostToWebview;
}

export type Current =
  | { kind: 'single'; result: ExplainResult; settings?: WebviewSettings }
  | { kind: 'compare'; left: ExplainResult; right: ExplainResult; settings?: WebviewSettings };

type ResultMessage = Extract<HostToWebview, { type: 'result' | 'compare' }>;

/** Larger results are not kept in the state: the host re-sends them (its serializer knows the run). */
const MAX_STATE_CHARS = 8_000_000;

export function defaultUi(): UiState {
  return { v: 1, topK: defaultViewOptions.topK, maxUnits: defaultViewOptions.maxUnits, expanded: [], selection: null, treePath: [], transform: null, compareMode: 'side', baseline: '' };
}

/** settings.topK when it is a usable count (1–100), else null. */
export function topKOf(settings: WebviewSettings | undefined): number | null {
  const k = settings?.topK;
  return typeof k === 'number' && Number.isFinite(k) && k >= 1 ? Math.min(100, Math.round(k)) : null;
}

function isUi(v: unknown): v is UiState {
  return typeof v === 'object' && v !== null && (v as UiState).v === 1 && typeof (v as UiState).topK === 'number' && Array.isArray((v as UiState).expanded);
}

export class AppState {
  ui: UiState;
  current: Current | null = null;
  /** The last result, comparison or audit message: what a restored panel draws again. */
  lastMessage: HostToWebview | null = null;
  /** The message saved with the state, to draw before the host answers 'ready'. */
  readonly savedMessage: HostToWebview | null;
  private timer = 0;

  constructor(private readonly api: VsCodeApi) {
    const saved = api.getState() as Saved | undefined;
    this.ui = saved && isUi(saved.ui) ? { ...defaultUi(), ...saved.ui } : defaultUi();
    this.savedMessage = saved?.message && isHostToWebview(saved.message) ? saved.message : null;
  }

  post(m: WebviewToHost): void {
    this.api.postMessage(m);
  }

  /** Saves soon (selection and zoom change often). */
  save(): void {
    clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.saveNow(), 100);
  }

  saveNow(): void {
    const s: Saved = { ui: this.ui };
    if (this.lastMessage) {
      const text = JSON.stringify(this.lastMessage);
      if (text.length <= MAX_STATE_CHARS) s.message = this.lastMessage;
    }
    this.api.setState(s);
  }

  /** A result or comparison arrived (restoring: it came from the saved state). */
  setResult(m: ResultMessage, restoring: boolean): void {
    const prev = this.current;
    this.current = m.type === 'result' ? { kind: 'single', result: m.result, settings: m.settings } : { kind: 'compare', left: m.left, right: m.right, settings: m.settings };
    if (!restoring && prev) {
      // A new run: keep the preferences, drop what belonged to the old result.
      this.ui.selection = null;
      this.ui.treePath = [];
      this.ui.transform = null;
    }
    // The host's dtdLens.topK decides the drawing; a restored view keeps a top-k the user chose in the toolbar.
    const k = topKOf(m.settings);
    if (k !== null && (!restoring || !this.ui.topKByUser)) {
      this.ui.topK = k;
      this.ui.topKByUser = false;
    }
    this.lastMessage = m;
  }

  /**
   * Baselines computed on demand arrived for the single result shown: merged into it (and into the message a
   * restored webview draws again). `standIns` draws their summarized tensors from their maps (summaries.ts).
   */
  setBaselines(reply: BaselinesReply, standIns: (r: ExplainResult) => ExplainResult): void {
    const c = this.current;
    if (c?.kind !== 'single') return;
    const result = standIns(withBaselines(c.result, reply));
    this.current = { ...c, result };
    if (this.lastMessage?.type === 'result') this.lastMessage = { ...this.lastMessage, result };
  }

  /** An audit replaces the network view. */
  setAudit(m: Extract<HostToWebview, { type: 'audit' }>): void {
    this.current = null;
    this.lastMessage = m;
  }

  clear(): void {
    this.current = null;
    this.lastMessage = null;
    this.ui.selection = null;
    this.ui.treePath = [];
  }

  /** The user chose a top-k in the toolbar. */
  setTopK(k: number): void {
    this.ui.topK = k;
    this.ui.topKByUser = true;
  }

  toggleExpanded(layer: number): void {
    const i = this.ui.expanded.indexOf(layer);
    if (i >= 0) this.ui.expanded.splice(i, 1);
    else this.ui.expanded.push(layer);
    this.ui.transform = null;
  }
}
