// The run flow: which model, which input, which output, which method/rule/root
// finder (quick picks, defaults from the settings), then the engine run under
// `window.withProgress` with Cancel, and the result into the visualizer and the
// Recent Runs tree. Also the commands built on finished runs: re-run with
// another rule, compare two runs, export. Every step can be given up front
// (command arguments, the test API) so the same code runs without pickers.

import * as vscode from 'vscode';
import { EngineClient, EngineError, type ModelPayload } from './engineClient';
import { RESULT_SCHEMA, type HostToWebview, type InputSpec, type InspectReply, type WireAuditOptions, type WireExplainOptions } from './protocol';
import type { AuditResult } from './protocol';
import type { ExplainResult, Method, ModelSummary, RootFinderName } from './protocol';
import { baseName, INPUT_FILES_TEXT, isModelFile, MODEL_FILES_TEXT, readSettings, sidecarUriFor, toWireOptions } from './config';
import { DEFAULT_MIN_OUTPUT, INPUT_DIALOG_FILTERS, INPUT_GLOB, METHODS, MODEL_DIALOG_FILTERS, MODEL_GLOB, ROOT_FINDERS, SIDECAR_SUFFIX } from './protocol';
import { newRunId, type RunInput, type RunRecord, type RunStore } from './runStore';
import type { Visualizers } from './visualizer';
import { formatMs } from './runsTree';

/** How to pick the input without asking. */
export type InputChoice =
  | { kind: 'random'; seed?: number }
  | { kind: 'file'; uri: string | vscode.Uri }
  | { kind: 'values'; values: number[]; label?: string }
  | { kind: 'last' };

/** Everything a run can be told up front; what is missing is asked (or taken from the settings with `useDefaults`). */
export type AuditOutcome =
  | { status: 'ok'; audit: AuditResult; csv: string; durationMs: number }
  | { status: 'dismissed' | 'cancelled' }
  | { status: 'error'; error: { code: string; message: string } };

export interface ExplainRequest {
  input?: InputChoice;
  explainedOutput?: number;
  method?: Method;
  rule?: string;
  rootFinder?: RootFinderName;
  options?: Partial<WireExplainOptions>;
  /** Take method, rule and root finder from the settings without asking. */
  useDefaults?: boolean;
}

export type RunOutcomeStatus = 'ok' | 'failed' | 'cancelled' | 'error' | 'dismissed';

export interface RunOutcome {
  status: RunOutcomeStatus;
  runId?: string;
  result?: ExplainResult;
  error?: { code: string; message: string };
  durationMs?: number;
}

export interface Notice {
  level: 'info' | 'warning' | 'error';
  message: string;
  actions: string[];
  at: number;
}

export const RULE_ITEMS: { rule: string; detail: string }[] = [
  { rule: 'z+', detail: 'Search direction a ⊙ 1[w ≥ 0]: for ReLU inputs (≥ 0); conservative and positive (= LRP-α1β0 without biases).' },
  { rule: 'w2', detail: 'Search direction w: for unbounded inputs; roots may leave a ≥ 0.' },
  { rule: 'x', detail: 'Search direction a (LRP-0); gradient × input when biases are 0.' },
  { rule: 'gamma', detail: 'Between x and z+: a ⊙ (1 + γ·1[w ≥ 0]), γ = 0.25.' },
  { rule: 'zB', detail: 'Box rule for pixel-like inputs: the root stays in [l, h] (default [0, 1]).' },
  { rule: 'pinv', detail: 'Layer rule: one root for the whole layer, pinv(W)·R.' },
  { rule: '0', detail: 'The origin as root: kept for parity with the research code; not a valid DTD root.' },
];

/** zennit's rules for --method lrp. */
export const LRP_RULE_ITEMS: { rule: string; detail: string }[] = [
  { rule: 'zplus', detail: 'z⁺ (α1β0): positive contributions only.' },
  { rule: 'epsilon=1e-6', detail: 'ε rule: a ⊙ Wᵀ(R / (z + ε·sign z)).' },
  { rule: 'gamma=0.25', detail: 'zennit’s generalised γ rule.' },
  { rule: 'alpha2beta1', detail: 'α = 2, β = 1.' },
  { rule: 'wsquare', detail: 'w² rule (does not depend on the input).' },
  { rule: 'layer1=zbox=0,1;*=zplus', detail: 'zB box rule at the pixels ([0, 1]), z⁺ above.' },
];

export interface FlowDeps {
  engine: EngineClient;
  store: RunStore;
  visualizers: Visualizers;
  log: vscode.LogOutputChannel;
  state: vscode.Memento;
}

const LAST_INPUT_KEY = 'dtdLens.lastInput';
const PANEL_RUN_KEY = 'dtdLens.panelRun';

export interface ProgressEvent {
  runId: string;
  stage: string;
  fraction?: number;
  at: number;
}

export class RunFlow {
  readonly notices: Notice[] = [];
  /** Progress the engine reported, newest last (bounded); tests read it through the API. */
  readonly progressEvents: ProgressEvent[] = [];
  private active: vscode.CancellationTokenSource | undefined;
  /** The run the visualizer panel shows (for exports and restore). */
  panelRunId: string | undefined;

  constructor(private readonly deps: FlowDeps) {
    this.panelRunId = deps.state.get<string>(PANEL_RUN_KEY);
  }

  // ── notifications (recorded, so tests can see what the user saw) ──────
  notify(level: Notice['level'], message: string, ...actions: string[]): Thenable<string | undefined> {
    this.notices.push({ level, message, actions, at: Date.now() });
    this.deps.log[level === 'warning' ? 'warn' : level](`shown to the user: ${message}`);
    const show = level === 'error' ? vscode.window.showErrorMessage : level === 'warning' ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    return show(message, ...actions);
  }

  private reportError(e: unknown, context: string): { code: string; message: string } {
    const code = e instanceof EngineError ? e.code : 'internal';
    const message = e instanceof Error ? e.message : String(e);
    if (code === 'cancelled') return { code, message };
    const engineFailure = e instanceof EngineError ? e.isEngineFailure : true;
    if (engineFailure) {
      void this.notify('error', `DTD Lens: ${context}: ${message}`, 'Show Log').then((choice) => {
        if (choice === 'Show Log') this.deps.log.show();
      });
    } else {
      void this.notify('error', `DTD Lens: ${message}`);
    }
    return { code, message };
  }

  cancelActive(): boolean {
    if (!this.active) return false;
    this.active.cancel();
    return true;
  }

  // ── model ──────────────────────────────────────────────────────────────
  async pickModel(): Promise<vscode.Uri | undefined> {
    const active = activeModelUri();
    if (active) return active;
    const files = await vscode.workspace.findFiles(MODEL_GLOB, '**/node_modules/**', 500);
    if (files.length === 0) {
      const picked = await vscode.window.showOpenDialog({
        title: 'DTD Lens: choose a model to explain',
        canSelectMany: false,
        filters: MODEL_DIALOG_FILTERS,
      });
      return picked?.[0];
    }
    files.sort((a, b) => a.path.localeCompare(b.path));
    const pick = await vscode.window.showQuickPick(
      files.map((uri) => ({ label: baseName(uri), description: vscode.workspace.asRelativePath(uri, true), uri })),
      { title: 'DTD Lens: which model?', placeHolder: `A model file from the workspace (${MODEL_FILES_TEXT})`, matchOnDescription: true },
    );
    return pick?.uri;
  }

  /** Reads the model (size-checked) and its optional sidecar with workspace.fs. */
  async readModel(uri: vscode.Uri): Promise<ModelPayload> {
    const settings = readSettings(uri);
    const stat = await vscode.workspace.fs.stat(uri);
    if (stat.type & vscode.FileType.Directory) throw new EngineError('bad-model', `${baseName(uri)} is a folder, not a model file.`);
    const limit = settings.maxModelSizeMB * 1024 * 1024;
    if (stat.size > limit) {
      throw new EngineError(
        'too-large',
        `${baseName(uri)} is ${(stat.size / 1048576).toFixed(1)} MB, more than the limit of ${settings.maxModelSizeMB} MB (setting dtdLens.maxModelSizeMB).`,
      );
    }
    const modelBytes = await vscode.workspace.fs.readFile(uri);
    let sidecar: unknown;
    const sidecarUri = sidecarUriFor(uri);
    let sidecarBytes: Uint8Array | undefined;
    try {
      sidecarBytes = await vscode.workspace.fs.readFile(sidecarUri);
    } catch {
      sidecarBytes = undefined; // no sidecar: the common case
    }
    if (sidecarBytes) {
      try {
        sidecar = JSON.parse(new TextDecoder().decode(sidecarBytes));
      } catch (e) {
        throw new EngineError('bad-model', `${baseName(sidecarUri)}: not valid JSON (${e instanceof Error ? e.message : String(e)}).`);
      }
    }
    const files = baseName(uri).toLowerCase() === 'model.json' ? await this.readShards(uri, modelBytes, limit - stat.size) : undefined;
    // Uint8Array from workspace.fs may be a view on a bigger buffer: copy to send exactly the file.
    return { fileName: uri.fsPath || uri.path, modelBytes: new Uint8Array(modelBytes), sidecar, files };
  }

  /**
   * The weight shards a TF.js model.json names, read next to it with workspace.fs. Only plain
   * relative names inside the model's folder are read (the engine checks again); the shards
   * count toward dtdLens.maxModelSizeMB.
   */
  private async readShards(uri: vscode.Uri, manifestBytes: Uint8Array, budget: number): Promise<Record<string, Uint8Array>> {
    let manifest: unknown;
    try {
      manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
    } catch (e) {
      throw new EngineError('bad-model', `${baseName(uri)}: not valid JSON (${e instanceof Error ? e.message : String(e)}).`);
    }
    const groups = (manifest as { weightsManifest?: { paths?: unknown }[] })?.weightsManifest;
    const names = Array.isArray(groups) ? groups.flatMap((g) => (Array.isArray(g?.paths) ? g.paths.filter((x): x is string => typeof x === 'string') : [])) : [];
    const files: Record<string, Uint8Array> = {};
    const folder = vscode.Uri.joinPath(uri, '..');
    for (const name of names) {
      if (name.startsWith('/') || name.includes('..') || /^[a-z]+:/i.test(name)) continue; // the engine refuses it with a message
      const shard = vscode.Uri.joinPath(folder, name);
      const st = await vscode.workspace.fs.stat(shard).then(
        (x) => x,
        () => undefined,
      );
      if (!st) continue; // the engine names the missing shard
      budget -= st.size;
      if (budget < 0) throw new EngineError('too-large', `${baseName(uri)} and its weight shards are larger than the limit (setting dtdLens.maxModelSizeMB).`);
      files[name] = new Uint8Array(await vscode.workspace.fs.readFile(shard));
    }
    return files;
  }

  async inspectModel(uri: vscode.Uri): Promise<ModelSummary> {
    const payload = await this.readModel(uri);
    const reply = await this.deps.engine.inspect(payload);
    return reply.model;
  }

  // ── input ──────────────────────────────────────────────────────────────
  private lastInput(): RunInput | undefined {
    return this.deps.state.get<RunInput>(LAST_INPUT_KEY);
  }

  private async inputSpecFor(choice: InputChoice): Promise<{ spec: InputSpec; label: string }> {
    const settings = readSettings();
    switch (choice.kind) {
      case 'random': {
        const seed = choice.seed ?? settings.seed;
        return { spec: { kind: 'random', seed, minOutput: DEFAULT_MIN_OUTPUT }, label: `random (seed ${seed})` };
      }
      case 'values':
        return { spec: { kind: 'values', values: choice.values }, label: choice.label ?? `${choice.values.length} values` };
      case 'last': {
        const last = this.lastInput();
        if (!last) throw new EngineError('bad-input', 'There is no last-used input yet.');
        return { spec: { kind: 'values', values: last.values }, label: last.label };
      }
      case 'file': {
        const uri = typeof choice.uri === 'string' ? vscode.Uri.parse(choice.uri) : choice.uri;
        const bytes = await vscode.workspace.fs.readFile(uri);
        const image = /\.(png|jpe?g)$/i.test(uri.path) ? readSettings(uri).image : undefined;
        return { spec: { kind: 'file', fileName: uri.fsPath || uri.path, bytes: new Uint8Array(bytes), preprocessing: image }, label: vscode.workspace.asRelativePath(uri, false) };
      }
    }
  }

  private async pickInput(inputSize: number | undefined): Promise<InputChoice | undefined> {
    const settings = readSettings();
    type Item = vscode.QuickPickItem & { choice?: InputChoice; action?: 'seed' | 'file' };
    const items: Item[] = [
      { label: `$(symbol-event) Random input, seed ${settings.seed}`, detail: 'A random non-negative input whose explained output is > 0 (setting dtdLens.seed).', choice: { kind: 'random', seed: settings.seed } },
      { label: '$(symbol-number) Random input with another seed…', action: 'seed' },
    ];
    const last = this.lastInput();
    if (last && (inputSize === undefined || last.values.length === inputSize)) {
      items.push({ label: `$(history) Last used: ${last.label}`, detail: preview(last.values), choice: { kind: 'last' } });
    }
    items.push({ label: '$(file) Input file from the workspace…', detail: `${INPUT_FILES_TEXT}: JSON (an array or {"x": …}), a one-row CSV, a float .npy, or an image`, action: 'file' });
    const pick = await vscode.window.showQuickPick(items, { title: 'DTD Lens: which input?', placeHolder: 'The input x whose output is explained' });
    if (!pick) return undefined;
    if (pick.choice) return pick.choice;
    if (pick.action === 'seed') {
      const text = await vscode.window.showInputBox({
        title: 'DTD Lens: random seed',
        value: String(settings.seed + 1),
        validateInput: (v) => (/^-?\d+$/.test(v.trim()) ? undefined : 'An integer, please.'),
      });
      return text === undefined ? undefined : { kind: 'random', seed: Number(text.trim()) };
    }
    const files = (await vscode.workspace.findFiles(INPUT_GLOB, `{**/node_modules/**,**/*${SIDECAR_SUFFIX},**/.vscode/**}`, 1000)).sort((a, b) => a.path.localeCompare(b.path));
    type FileItem = vscode.QuickPickItem & { uri?: vscode.Uri };
    const fileItems: FileItem[] = files.map((uri) => ({ label: baseName(uri), description: vscode.workspace.asRelativePath(uri, true), uri }));
    fileItems.push({ label: '$(folder-opened) Browse…' });
    const filePick = await vscode.window.showQuickPick(fileItems, { title: 'DTD Lens: input file', placeHolder: `An input file (${INPUT_FILES_TEXT})`, matchOnDescription: true });
    if (!filePick) return undefined;
    if (filePick.uri) return { kind: 'file', uri: filePick.uri };
    const browsed = await vscode.window.showOpenDialog({ title: 'DTD Lens: choose an input file', canSelectMany: false, filters: INPUT_DIALOG_FILTERS });
    return browsed?.[0] ? { kind: 'file', uri: browsed[0] } : undefined;
  }

  // ── output, method, rule, root finder ──────────────────────────────────
  private async pickOutput(reply: InspectReply): Promise<number | undefined> {
    const values = reply.outputs ?? [];
    if (values.length === 1) return 0;
    let best = 0;
    values.forEach((v, i) => (v > values[best] ? (best = i) : undefined));
    const items = values.map((v, i) => ({
      label: `Output ${i}`,
      description: `= ${fmt(v)}`,
      detail: v > 0 ? (i === best ? 'the largest output' : undefined) : 'not positive: nothing to explain (the result will say so)',
      index: i,
    }));
    const qp = vscode.window.createQuickPick<(typeof items)[number]>();
    qp.title = `DTD Lens: which output of ${reply.model.name}?`;
    qp.placeholder = 'The output neuron f(x) to decompose; values are for the chosen input';
    qp.items = items;
    qp.activeItems = [items[best]];
    return new Promise<number | undefined>((resolve) => {
      qp.onDidAccept(() => {
        resolve(qp.selectedItems[0]?.index ?? qp.activeItems[0]?.index);
        qp.hide();
      });
      qp.onDidHide(() => {
        resolve(undefined);
        qp.dispose();
      });
      qp.show();
    });
  }

  private async pickMethodRuleFinder(req: ExplainRequest): Promise<{ method: Method; rule: string; rootFinder: RootFinderName } | undefined> {
    const s = readSettings();
    let method = req.method ?? s.method;
    let rule = req.rule ?? s.rule;
    let rootFinder = req.rootFinder ?? s.rootFinder;
    if (req.useDefaults || (req.method && req.rule && (req.rootFinder || req.method === 'train-free'))) return { method, rule, rootFinder };
    const describe = (m: Method, r: string, f: RootFinderName) => `${m} · rule ${r}${m === 'full-backward' ? ` · root finder ${f}` : ''}`;
    const how = await vscode.window.showQuickPick(
      [
        { label: '$(play) Explain with the defaults', description: describe(method, rule, rootFinder), custom: false },
        { label: '$(settings-gear) Choose method, rule and root finder…', custom: true },
      ],
      { title: 'DTD Lens: how to explain?' },
    );
    if (!how) return undefined;
    if (!how.custom) return { method, rule, rootFinder };
    const m = await vscode.window.showQuickPick(
      METHODS.map((x) => ({
        label: x,
        description: x === method ? '(default)' : undefined,
        detail:
          x === 'train-free'
            ? 'Each layer with its rule’s analytic root; the upper relevance is held constant. Fast.'
            : x === 'lrp'
              ? 'Layer-wise relevance propagation with zennit’s rules (zplus, epsilon, gamma, alpha2beta1, wsquare, zbox), for comparison.'
              : 'The upper relevance is the real function of the layers above; roots are searched numerically; the result is a tree.',
      })),
      { title: 'DTD Lens: method' },
    );
    if (!m) return undefined;
    method = m.label as Method;
    if (method === 'lrp' && RULE_ITEMS.some((r) => rule === r.rule || rule.startsWith(`${r.rule}=`))) rule = 'zplus';
    const picked = await this.pickRule(rule, 'DTD Lens: rule', method === 'lrp' ? LRP_RULE_ITEMS : RULE_ITEMS);
    if (picked === undefined) return undefined;
    rule = picked;
    if (method === 'full-backward') {
      const f = await vscode.window.showQuickPick(
        ROOT_FINDERS.map((x) => ({ label: x, description: x === rootFinder ? '(default)' : undefined })),
        { title: 'DTD Lens: root finder' },
      );
      if (!f) return undefined;
      rootFinder = f.label as RootFinderName;
    }
    return { method, rule, rootFinder };
  }

  async pickRule(current: string, title = 'DTD Lens: rule', choices = RULE_ITEMS): Promise<string | undefined> {
    const items: (vscode.QuickPickItem & { rule?: string })[] = choices.map((r) => ({
      label: r.rule,
      description: r.rule === current ? '(current)' : undefined,
      detail: r.detail,
      rule: r.rule,
    }));
    items.push({ label: '$(edit) Custom or per-layer rule…', detail: 'e.g. gamma=0.5, zB=-1,1, or layer1=zB=0,1;*=z+' });
    const pick = await vscode.window.showQuickPick(items, { title, placeHolder: `current: ${current}` });
    if (!pick) return undefined;
    if (pick.rule) return pick.rule;
    const text = await vscode.window.showInputBox({
      title,
      value: current,
      prompt: 'One rule (z+, w2, x, gamma=0.5, zB=0,1, pinv, 0) or per layer: layer1=zB=0,1;*=z+',
      validateInput: (v) => (v.trim() ? undefined : 'A rule, please.'),
    });
    return text?.trim() || undefined;
  }

  // ── the run ────────────────────────────────────────────────────────────
  /** The command: asks for what `req` does not say, runs, shows the result. */
  async explainCommand(uriArg?: vscode.Uri, req: ExplainRequest = {}): Promise<RunOutcome> {
    const uri = uriArg ?? (await this.pickModel());
    if (!uri) return { status: 'dismissed' };
    if (!isModelFile(uri)) {
      const error = { code: 'unsupported', message: `${baseName(uri)} is not a model file DTD Lens reads (${MODEL_FILES_TEXT}).` };
      void this.notify('error', `DTD Lens: ${error.message}`);
      return { status: 'error', error };
    }
    let payload: ModelPayload;
    try {
      payload = await this.readModel(uri);
    } catch (e) {
      return { status: 'error', error: this.reportError(e, `reading ${baseName(uri)}`) };
    }

    let explainedOutput = req.explainedOutput;
    let inputSpec: InputSpec;
    let inputLabel: string;
    try {
      let choice = req.input;
      if (!choice) {
        // Ask the input first: the output picker shows the outputs for it.
        const summary = await withSpinner(`Loading ${baseName(uri)}…`, (token) => this.deps.engine.inspect(payload, undefined, { token }));
        choice = await this.pickInput(summary.model.inputSize);
        if (!choice) return { status: 'dismissed' };
      }
      ({ spec: inputSpec, label: inputLabel } = await this.inputSpecFor(choice));
      if (explainedOutput === undefined) {
        const reply = await withSpinner(`Computing the outputs of ${baseName(uri)}…`, (token) => this.deps.engine.inspect(payload, inputSpec, { token }));
        const picked = await this.pickOutput(reply);
        if (picked === undefined) return { status: 'dismissed' };
        explainedOutput = picked;
        // Explain exactly the input whose outputs were shown.
        if (reply.input) inputSpec = { kind: 'values', values: reply.input };
      }
    } catch (e) {
      if (e instanceof EngineError && e.code === 'cancelled') return { status: 'cancelled' };
      return { status: 'error', error: this.reportError(e, `loading ${baseName(uri)}`) };
    }
    const how = await this.pickMethodRuleFinder(req);
    if (!how) return { status: 'dismissed' };
    const options = toWireOptions(readSettings(uri), { explainedOutput, ...how, options: req.options });
    return this.run(uri, payload, inputSpec, inputLabel, options);
  }

  /** Runs the engine on a prepared request with progress, cancel, storage and display. */
  async run(uri: vscode.Uri, payload: ModelPayload, input: InputSpec, inputLabel: string, options: WireExplainOptions): Promise<RunOutcome> {
    const record: RunRecord = {
      id: newRunId(),
      modelUri: uri.toString(),
      modelName: baseName(uri),
      explainedOutput: options.explainedOutput ?? 0,
      explainedValue: null,
      method: options.method ?? 'train-free',
      rule: typeof options.rule === 'string' ? options.rule : JSON.stringify(options.rule),
      rootFinder: options.rootFinder ?? 'linear',
      status: 'running',
      message: null,
      startedAt: Date.now(),
      durationMs: null,
      input: { label: inputLabel, values: input.kind === 'values' ? input.values : [] },
      options,
    };
    await this.deps.store.add(record);
    this.deps.log.info(`run ${record.id}: ${record.modelName}, output ${record.explainedOutput}, ${record.method}, rule ${record.rule}, input ${inputLabel}`);
    const cts = new vscode.CancellationTokenSource();
    this.active?.cancel();
    this.active = cts;
    const title = `DTD Lens: ${record.modelName}, output ${record.explainedOutput}`;
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title, cancellable: true },
        async (progress, token) => {
          const sub = token.onCancellationRequested(() => cts.cancel());
          let reported = 0;
          try {
            return await this.deps.engine.explain(payload, input, options, {
              token: cts.token,
              onProgress: (p) => {
                this.progressEvents.push({ runId: record.id, stage: p.stage, fraction: p.fraction, at: Date.now() });
                if (this.progressEvents.length > 500) this.progressEvents.splice(0, this.progressEvents.length - 500);
                const pct = p.fraction !== undefined ? Math.max(0, Math.min(100, Math.round(p.fraction * 100))) : undefined;
                const increment = pct !== undefined && pct > reported ? pct - reported : undefined;
                if (increment) reported = pct!;
                progress.report({ message: pct !== undefined ? `${p.stage} (${pct} %)` : p.stage, increment });
                this.deps.visualizers.progress(p);
              },
            });
          } finally {
            sub.dispose();
          }
        },
      );
      const durationMs = Date.now() - record.startedAt;
      const status = result.status === 'ok' ? 'ok' : 'failed';
      await this.deps.store.update(
        record.id,
        { status, durationMs, explainedValue: result.explainedValue, message: result.message, input: { label: inputLabel, values: result.input } },
        result,
      );
      await this.deps.state.update(LAST_INPUT_KEY, { label: inputLabel, values: result.input } satisfies RunInput);
      for (const w of result.warnings) this.deps.log.warn(`run ${record.id}: ${w}`);
      this.deps.log.info(`run ${record.id}: ${result.status} (${result.statusCode}) in ${formatMs(durationMs)}, backend ${result.backend}, ${result.precision}`);
      this.showResult(record.id, result);
      if (result.status !== 'ok' && result.message) void this.notify('warning', `DTD Lens: ${result.message}`);
      return { status, runId: record.id, result, durationMs };
    } catch (e) {
      const durationMs = Date.now() - record.startedAt;
      if (e instanceof EngineError && e.code === 'cancelled') {
        await this.deps.store.update(record.id, { status: 'cancelled', durationMs, message: 'Cancelled.' });
        this.deps.visualizers.progress(null);
        vscode.window.setStatusBarMessage('DTD Lens: run cancelled', 4000);
        return { status: 'cancelled', runId: record.id, durationMs, error: { code: 'cancelled', message: e.message } };
      }
      const error = this.reportError(e, `explaining ${record.modelName}`);
      await this.deps.store.update(record.id, { status: 'error', durationMs, message: error.message });
      this.deps.visualizers.progress(null);
      return { status: 'error', runId: record.id, durationMs, error };
    } finally {
      if (this.active === cts) this.active = undefined;
      cts.dispose();
    }
  }

  showResult(runId: string, result: ExplainResult): void {
    const run = this.deps.store.get(runId);
    const title = run ? `DTD Lens: ${run.modelName} · ${run.explainedOutput}` : 'DTD Lens';
    this.panelRunId = runId;
    void this.deps.state.update(PANEL_RUN_KEY, runId);
    this.deps.visualizers.showEverywhere({ type: 'result', result, settings: this.deps.visualizers.settings() }, { title });
  }

  async openRun(runId: string): Promise<boolean> {
    const result = await this.deps.store.result(runId);
    if (!result) {
      void this.notify('warning', 'DTD Lens: this run has no stored result (it failed, was cancelled, or its file was removed).');
      return false;
    }
    this.showResult(runId, result);
    return true;
  }

  /** The visualizer's Re-run button: explain the shown run's model again, asking input, output and method. */
  async explainAgain(target: 'panel' | 'view'): Promise<RunOutcome> {
    const id = target === 'panel' ? (this.panelRunId ?? this.deps.store.latest()?.id) : this.deps.store.latest()?.id;
    const run = id ? this.deps.store.get(id) : undefined;
    return this.explainCommand(run ? vscode.Uri.parse(run.modelUri) : undefined);
  }

  /** Content for a panel restored after a reload. */
  async restoreContent(): Promise<HostToWebview | undefined> {
    const id = this.panelRunId ?? this.deps.store.latest()?.id;
    if (!id) return undefined;
    const result = await this.deps.store.result(id);
    return result ? { type: 'result', result, settings: this.deps.visualizers.settings() } : undefined;
  }

  // ── commands on finished runs ──────────────────────────────────────────
  private async pickRun(title: string, preferred?: string): Promise<RunRecord | undefined> {
    const done = this.deps.store.all().filter((r) => r.status === 'ok' || r.status === 'failed');
    if (preferred) {
      const r = this.deps.store.get(preferred);
      if (r) return r;
    }
    if (done.length === 0) {
      void this.notify('info', 'DTD Lens: no explanation yet. Run "DTD Lens: Explain Output…" first.');
      return undefined;
    }
    if (done.length === 1) return done[0];
    const pick = await vscode.window.showQuickPick(
      done.map((r) => ({ label: `${r.modelName} · output ${r.explainedOutput}`, description: `${r.rule} · ${r.method}`, detail: `${r.input.label} · ${new Date(r.startedAt).toLocaleString()}`, run: r })),
      { title },
    );
    return pick?.run;
  }

  async rerunWithRule(runId?: string, rule?: string): Promise<RunOutcome> {
    const run = await this.pickRun('DTD Lens: re-run which explanation?', runId ?? this.panelRunId);
    if (!run) return { status: 'dismissed' };
    const newRule = rule ?? (await this.pickRule(run.rule, `DTD Lens: re-run ${run.modelName} · output ${run.explainedOutput} with rule…`));
    if (!newRule) return { status: 'dismissed' };
    const uri = vscode.Uri.parse(run.modelUri);
    let payload: ModelPayload;
    try {
      payload = await this.readModel(uri);
    } catch (e) {
      return { status: 'error', error: this.reportError(e, `reading ${run.modelName}`) };
    }
    const options = { ...run.options, rule: newRule };
    return this.run(uri, payload, { kind: 'values', values: run.input.values }, run.input.label, options);
  }

  async compare(leftId?: string, rightId?: string): Promise<boolean> {
    let ids = leftId && rightId ? [leftId, rightId] : undefined;
    if (!ids) {
      const done = this.deps.store.all().filter((r) => r.status === 'ok' || r.status === 'failed');
      if (done.length < 2) {
        void this.notify('info', 'DTD Lens: comparing needs two finished explanations; run "Explain Output…" or "Re-run with Another Rule…" first.');
        return false;
      }
      const qp = await vscode.window.showQuickPick(
        done.map((r) => ({ label: `${r.modelName} · output ${r.explainedOutput}`, description: `${r.rule} · ${r.method}`, detail: r.input.label, id: r.id })),
        { title: 'DTD Lens: compare which two explanations?', canPickMany: true, placeHolder: 'Pick exactly two' },
      );
      if (!qp) return false;
      if (qp.length !== 2) {
        void this.notify('warning', `DTD Lens: pick exactly two explanations to compare (you picked ${qp.length}).`);
        return false;
      }
      ids = qp.map((p) => p.id);
    }
    const [left, right] = await Promise.all(ids.map((id) => this.deps.store.result(id)));
    if (!left || !right) {
      void this.notify('warning', 'DTD Lens: one of the runs has no stored result.');
      return false;
    }
    const [l, r] = ids.map((id) => this.deps.store.get(id));
    this.deps.visualizers.showInPanel(
      { type: 'compare', left, right, settings: this.deps.visualizers.settings() },
      `DTD Lens: ${l?.rule ?? 'left'} vs ${r?.rule ?? 'right'}`,
    );
    this.panelRunId = undefined;
    return true;
  }

  // ── root audit ─────────────────────────────────────────────────────────
  /**
   * `DTD Lens: Audit Roots…`: the research experiment on the chosen model
   * (random inputs, per rule and method: roots outside the region, …), drawn
   * as a chart in the visualizer panel, with CSV/JSON export. Options given by
   * a caller (tests, other commands) skip the questions.
   */
  async auditCommand(uriArg?: vscode.Uri, req: Partial<WireAuditOptions> & { saveTo?: vscode.Uri } = {}): Promise<AuditOutcome> {
    const uri = uriArg ?? (await this.pickModel());
    if (!uri) return { status: 'dismissed' };
    let payload: ModelPayload;
    try {
      payload = await this.readModel(uri);
    } catch (e) {
      return { status: 'error', error: this.reportError(e, `reading ${baseName(uri)}`) };
    }
    let inputs = req.inputs;
    if (inputs === undefined) {
      const text = await vscode.window.showInputBox({
        title: `DTD Lens: audit ${baseName(uri)}`,
        prompt: 'How many random inputs |N(0, I)| (with a positive explained output)?',
        value: '1000',
        validateInput: (v) => (/^[1-9]\d{0,5}$/.test(v.trim()) ? undefined : 'A whole number from 1 to 999999'),
      });
      if (!text) return { status: 'dismissed' };
      inputs = Number(text.trim());
    }
    let rules = req.rules;
    if (!rules) {
      const picks = await vscode.window.showQuickPick(
        ['z+', 'w2', 'x', 'gamma=0.25'].map((r) => ({ label: r, picked: true })),
        { title: 'DTD Lens: rules to audit', canPickMany: true },
      );
      if (!picks || picks.length === 0) return { status: 'dismissed' };
      rules = picks.map((p) => p.label);
    }
    let rootFinder = req.rootFinder;
    if (!rootFinder) {
      const pick = await vscode.window.showQuickPick(
        [
          { label: 'polytope', description: 'exact roots inside the region (fast)', f: 'polytope' as const },
          { label: 'linear', description: "the rule's analytic roots, as the research code (exponential in depth)", f: 'linear' as const },
        ],
        { title: 'DTD Lens: root finder for the full-backward rows' },
      );
      if (!pick) return { status: 'dismissed' };
      rootFinder = pick.f;
    }
    const settings = readSettings(uri);
    const options: WireAuditOptions = {
      inputs,
      rules,
      rootFinder,
      methods: req.methods,
      seed: req.seed ?? settings.seed,
      minOutput: req.minOutput,
      explainedOutput: req.explainedOutput,
      sanity: req.sanity ?? ['randomization', 'random-logit', 'pixel-flipping'],
    };
    const cts = new vscode.CancellationTokenSource();
    this.active?.cancel();
    this.active = cts;
    const started = Date.now();
    try {
      const { audit, csv } = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `DTD Lens: auditing ${baseName(uri)}`, cancellable: true },
        async (progress, token) => {
          const sub = token.onCancellationRequested(() => cts.cancel());
          try {
            return await this.deps.engine.audit(payload, options, {
              token: cts.token,
              onProgress: (p) => progress.report({ message: p.fraction !== undefined ? `${p.stage} (${Math.round(p.fraction * 100)} %)` : p.stage }),
            });
          } finally {
            sub.dispose();
          }
        },
      );
      const durationMs = Date.now() - started;
      this.deps.log.info(`audit of ${baseName(uri)}: ${audit.inputs} inputs, ${audit.rows.length} rows in ${formatMs(durationMs)}`);
      this.deps.visualizers.showInPanel({ type: 'audit', audit }, `DTD Lens: audit of ${baseName(uri)}`);
      this.panelRunId = undefined;
      const stem = `${baseName(uri).replace(/\.[^.]+$/, '')}-audit`;
      if (req.saveTo) {
        await vscode.workspace.fs.writeFile(req.saveTo, new TextEncoder().encode(req.saveTo.path.endsWith('.csv') ? csv : JSON.stringify(audit, null, 1)));
      } else {
        void this.notify('info', `DTD Lens: audit of ${audit.inputs} inputs done in ${formatMs(durationMs)}.`, 'Save CSV', 'Save JSON').then(async (choice) => {
          if (!choice) return;
          const ext = choice === 'Save CSV' ? 'csv' : 'json';
          const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
          const target = await vscode.window.showSaveDialog({ title: 'DTD Lens: save the audit', defaultUri: folder ? vscode.Uri.joinPath(folder, `${stem}.${ext}`) : undefined, filters: { [ext.toUpperCase()]: [ext] } });
          if (target) await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(ext === 'csv' ? csv : JSON.stringify(audit, null, 1)));
        });
      }
      return { status: 'ok', audit, csv, durationMs };
    } catch (e) {
      if (e instanceof EngineError && e.code === 'cancelled') return { status: 'cancelled' };
      return { status: 'error', error: this.reportError(e, `auditing ${baseName(uri)}`) };
    } finally {
      if (this.active === cts) this.active = undefined;
      cts.dispose();
    }
  }

  async exportRun(runId?: string, format?: 'json' | 'svg' | 'png', target?: vscode.Uri): Promise<vscode.Uri | undefined> {
    const run = await this.pickRun('DTD Lens: export which explanation?', runId ?? this.panelRunId);
    if (!run) return undefined;
    const result = await this.deps.store.result(run.id);
    if (!result) {
      void this.notify('warning', 'DTD Lens: this run has no stored result to export.');
      return undefined;
    }
    const fmtPick =
      format ??
      (
        await vscode.window.showQuickPick(
          [
            { label: 'JSON', description: `the full result (${RESULT_SCHEMA})`, f: 'json' as const },
            { label: 'SVG', description: 'the drawing, as vector graphics', f: 'svg' as const },
            { label: 'PNG', description: 'the drawing, as an image', f: 'png' as const },
          ],
          { title: 'DTD Lens: export as' },
        )
      )?.f;
    if (!fmtPick) return undefined;
    const stem = `${run.modelName.replace(/\.[^.]+$/, '')}-output${run.explainedOutput}-${run.rule.replace(/[^A-Za-z0-9+=.,-]/g, '_')}`;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const uri =
      target ??
      (await vscode.window.showSaveDialog({
        title: 'DTD Lens: export explanation',
        defaultUri: folder ? vscode.Uri.joinPath(folder, `${stem}.${fmtPick}`) : undefined,
        filters: { [fmtPick.toUpperCase()]: [fmtPick] },
      }));
    if (!uri) return undefined;
    try {
      let bytes: Uint8Array;
      if (fmtPick === 'json') {
        bytes = new TextEncoder().encode(JSON.stringify(result, null, 1));
      } else {
        if (this.panelRunId !== run.id || !this.deps.visualizers.panelOpen) {
          await this.showAndWaitRendered(run.id, result);
        }
        const data = await this.deps.visualizers.exportFromPanel(fmtPick);
        bytes = decodeExport(data);
      }
      await vscode.workspace.fs.writeFile(uri, bytes);
      this.deps.log.info(`exported run ${run.id} as ${fmtPick} to ${uri.toString()} (${bytes.length} bytes)`);
      void this.notify('info', `DTD Lens: exported to ${vscode.workspace.asRelativePath(uri)}.`);
      return uri;
    } catch (e) {
      void this.notify('error', `DTD Lens: export failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  /** Set by the extension: resolves when the panel reports it drew something after `since`. */
  waitForPanelRender: (since: number, timeoutMs: number) => Promise<unknown> = () => Promise.resolve();

  private async showAndWaitRendered(runId: string, result: ExplainResult): Promise<void> {
    const since = Date.now();
    this.showResult(runId, result);
    await this.waitForPanelRender(since, 20000);
  }
}

/** A short cancellable progress notification around an engine request. */
function withSpinner<T>(title: string, fn: (token: vscode.CancellationToken) => Promise<T>): Promise<T> {
  return Promise.resolve(
    vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `DTD Lens: ${title}`, cancellable: true }, (_p, token) => fn(token)),
  );
}

/** A model file shown in the active editor (text or custom editor), if any. */
export function activeModelUri(): vscode.Uri | undefined {
  const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
  const input = tab?.input;
  const uri =
    input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText
      ? input.uri
      : vscode.window.activeTextEditor?.document.uri;
  return uri && isModelFile(uri) ? uri : undefined;
}

function decodeExport(data: string): Uint8Array {
  const m = /^data:[^,]*?(;base64)?,/.exec(data);
  if (!m) return new TextEncoder().encode(data);
  const body = data.slice(m[0].length);
  return m[1] ? new Uint8Array(Buffer.from(body, 'base64')) : new TextEncoder().encode(decodeURIComponent(body));
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(4) : v.toFixed(4);
}

function preview(values: number[]): string {
  const head = values.slice(0, 6).map(fmt).join(', ');
  return `[${head}${values.length > 6 ? `, … (${values.length} values)` : ''}]`;
}
