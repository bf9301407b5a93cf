// Every question the host asks (quick picks, input boxes, file dialogs): which
// model, which input, which output, which method / rule / root finder, which
// stored run(s), the audit's and the export's options. Formats, globs and
// dialog filters come from protocol/formats.ts, the lists from
// protocol/defaults.ts. A picker returns undefined when the user dismisses it.

import * as vscode from 'vscode';
import { baseName, INPUT_FILES_TEXT, isModelFile, MODEL_FILES_TEXT, readSettings } from '../config';
import {
  DEFAULT_RULE,
  INPUT_DIALOG_FILTERS,
  INPUT_GLOB,
  METHODS,
  MODEL_DIALOG_FILTERS,
  MODEL_GLOB,
  RESULT_SCHEMA,
  ROOT_FINDERS,
  ruleUsage,
  rulesFor,
  SIDECAR_SUFFIX,
  type InspectReply,
  type Method,
  type RootFinderName,
} from '../protocol';
import type { RunRecord, RunStore } from '../runStore';
import type { InputChoice, InputSource } from './inputSource';
import type { Notifier } from './notifier';

/** The rules a method takes, from the rule registry (protocol/rules.ts), plus a per-layer example. */
export function ruleItems(method: Method): { rule: string; detail: string }[] {
  const items: { rule: string; detail: string }[] = rulesFor(method).map((r) => ({ rule: r.name, detail: `${ruleUsage(r)}: ${r.summary}` }));
  items.push({ rule: 'layer1=zB=0,1;*=z+', detail: 'Per layer: the zB box rule at the pixels ([0, 1]), z+ above.' });
  return items;
}

const METHOD_DETAILS: Record<Method, string> = {
  'train-free': 'Each layer with its rule’s analytic root; the upper relevance is held constant. Fast.',
  'full-backward': 'The upper relevance is the real function of the layers above; roots are searched numerically; the result is a tree.',
  lrp: 'Layer-wise relevance propagation with zennit’s rules (z+, epsilon, gamma, alpha2beta1, w2, zB), for comparison.',
};

/** Rules the audit offers, all picked at first. */
const AUDIT_RULES = ['z+', 'w2', 'x', 'gamma=0.25'];
const AUDIT_DEFAULT_INPUTS = 1000;

// ── model ────────────────────────────────────────────────────────────────

/** A model file shown in the active editor (text or custom editor), if any. */
export function activeModelUri(): vscode.Uri | undefined {
  const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
  const input = tab?.input;
  const uri = input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText ? input.uri : vscode.window.activeTextEditor?.document.uri;
  return uri && isModelFile(uri) ? uri : undefined;
}

/** The model in the active editor, else one from the workspace, else a file dialog. */
export async function pickModel(): Promise<vscode.Uri | undefined> {
  const active = activeModelUri();
  if (active) return active;
  const files = await vscode.workspace.findFiles(MODEL_GLOB, '**/node_modules/**', 500);
  if (files.length === 0) {
    const picked = await vscode.window.showOpenDialog({ title: 'DTD Lens: choose a model to explain', canSelectMany: false, filters: MODEL_DIALOG_FILTERS });
    return picked?.[0];
  }
  files.sort((a, b) => a.path.localeCompare(b.path));
  const pick = await vscode.window.showQuickPick(
    files.map((uri) => ({ label: baseName(uri), description: vscode.workspace.asRelativePath(uri, true), uri })),
    { title: 'DTD Lens: which model?', placeHolder: `A model file from the workspace (${MODEL_FILES_TEXT})`, matchOnDescription: true },
  );
  return pick?.uri;
}

// ── input ────────────────────────────────────────────────────────────────

/** Random (the seed setting or another), the last-used input when it fits, or a file. */
export async function pickInput(inputSize: number | undefined, inputs: InputSource): Promise<InputChoice | undefined> {
  const settings = readSettings();
  type Item = vscode.QuickPickItem & { choice?: InputChoice; action?: 'seed' | 'file' };
  const items: Item[] = [
    { label: `$(symbol-event) Random input, seed ${settings.seed}`, detail: 'A random non-negative input whose explained output is > 0 (setting dtdLens.seed).', choice: { kind: 'random', seed: settings.seed } },
    { label: '$(symbol-number) Random input with another seed…', action: 'seed' },
  ];
  const last = inputs.last();
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
  return pickInputFile();
}

async function pickInputFile(): Promise<InputChoice | undefined> {
  const files = (await vscode.workspace.findFiles(INPUT_GLOB, `{**/node_modules/**,**/*${SIDECAR_SUFFIX},**/.vscode/**}`, 1000)).sort((a, b) => a.path.localeCompare(b.path));
  type FileItem = vscode.QuickPickItem & { uri?: vscode.Uri };
  const items: FileItem[] = files.map((uri) => ({ label: baseName(uri), description: vscode.workspace.asRelativePath(uri, true), uri }));
  items.push({ label: '$(folder-opened) Browse…' });
  const pick = await vscode.window.showQuickPick(items, { title: 'DTD Lens: input file', placeHolder: `An input file (${INPUT_FILES_TEXT})`, matchOnDescription: true });
  if (!pick) return undefined;
  if (pick.uri) return { kind: 'file', uri: pick.uri };
  const browsed = await vscode.window.showOpenDialog({ title: 'DTD Lens: choose an input file', canSelectMany: false, filters: INPUT_DIALOG_FILTERS });
  return browsed?.[0] ? { kind: 'file', uri: browsed[0] } : undefined;
}

// ── output, method, rule, root finder ────────────────────────────────────

/** The output neuron to explain, the largest preselected; a single output is taken without asking. */
export function pickOutput(reply: InspectReply): Promise<number | undefined> {
  const values = reply.outputs ?? [];
  if (values.length === 1) return Promise.resolve(0);
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

export interface HowToExplain {
  method: Method;
  rule: string;
  rootFinder: RootFinderName;
}

/**
 * Method, rule and root finder: what `given` says, the rest from the settings, either at
 * once (`useDefaults`, or everything given) or after "Explain with the defaults / Choose…".
 */
export async function pickMethodRuleFinder(given: Partial<HowToExplain> & { useDefaults?: boolean }): Promise<HowToExplain | undefined> {
  const s = readSettings();
  let method = given.method ?? s.method;
  let rule = given.rule ?? s.rule;
  let rootFinder = given.rootFinder ?? s.rootFinder;
  if (given.useDefaults || (given.method && given.rule && (given.rootFinder || given.method === 'train-free'))) return { method, rule, rootFinder };
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
    METHODS.map((x) => ({ label: x, description: x === method ? '(default)' : undefined, detail: METHOD_DETAILS[x] })),
    { title: 'DTD Lens: method' },
  );
  if (!m) return undefined;
  method = m.label;
  // One rule vocabulary for every method; a rule the chosen method does not take falls back to the default.
  if (!ruleItems(method).some((r) => rule === r.rule || rule.startsWith(`${r.rule}=`) || rule.includes(';'))) rule = DEFAULT_RULE;
  const picked = await pickRule(rule, 'DTD Lens: rule', ruleItems(method));
  if (picked === undefined) return undefined;
  rule = picked;
  if (method === 'full-backward') {
    const f = await vscode.window.showQuickPick(
      ROOT_FINDERS.map((x) => ({ label: x, description: x === rootFinder ? '(default)' : undefined })),
      { title: 'DTD Lens: root finder' },
    );
    if (!f) return undefined;
    rootFinder = f.label;
  }
  return { method, rule, rootFinder };
}

/** One of the listed rules, or a custom / per-layer rule typed in. */
export async function pickRule(current: string, title = 'DTD Lens: rule', choices = ruleItems('train-free')): Promise<string | undefined> {
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

// ── stored runs ──────────────────────────────────────────────────────────

function finishedRuns(store: RunStore): RunRecord[] {
  return store.all().filter((r) => r.status === 'ok' || r.status === 'failed');
}

/** The preferred run when it exists, the only finished run, or one picked from the finished runs. */
export async function pickRun(store: RunStore, notifier: Notifier, title: string, preferred?: string): Promise<RunRecord | undefined> {
  if (preferred) {
    const r = store.get(preferred);
    if (r) return r;
  }
  const done = finishedRuns(store);
  if (done.length === 0) {
    void notifier.notify('info', 'DTD Lens: no explanation yet. Run "DTD Lens: Explain Output…" first.');
    return undefined;
  }
  if (done.length === 1) return done[0];
  const pick = await vscode.window.showQuickPick(
    done.map((r) => ({ label: `${r.modelName} · output ${r.explainedOutput}`, description: `${r.rule} · ${r.method}`, detail: `${r.input.label} · ${new Date(r.startedAt).toLocaleString()}`, run: r })),
    { title },
  );
  return pick?.run;
}

/** Exactly two finished runs (their ids), or undefined (with a message when there are too few or the pick is not two). */
export async function pickTwoRuns(store: RunStore, notifier: Notifier): Promise<[string, string] | undefined> {
  const done = finishedRuns(store);
  if (done.length < 2) {
    void notifier.notify('info', 'DTD Lens: comparing needs two finished explanations; run "Explain Output…" or "Re-run with Another Rule…" first.');
    return undefined;
  }
  const picks = await vscode.window.showQuickPick(
    done.map((r) => ({ label: `${r.modelName} · output ${r.explainedOutput}`, description: `${r.rule} · ${r.method}`, detail: r.input.label, id: r.id })),
    { title: 'DTD Lens: compare which two explanations?', canPickMany: true, placeHolder: 'Pick exactly two' },
  );
  if (!picks) return undefined;
  if (picks.length !== 2) {
    void notifier.notify('warning', `DTD Lens: pick exactly two explanations to compare (you picked ${picks.length}).`);
    return undefined;
  }
  return [picks[0].id, picks[1].id];
}

// ── audit ────────────────────────────────────────────────────────────────

export function pickAuditInputs(modelName: string): Thenable<number | undefined> {
  return vscode.window
    .showInputBox({
      title: `DTD Lens: audit ${modelName}`,
      prompt: 'How many random inputs |N(0, I)| (with a positive explained output)?',
      value: String(AUDIT_DEFAULT_INPUTS),
      validateInput: (v) => (/^[1-9]\d{0,5}$/.test(v.trim()) ? undefined : 'A whole number from 1 to 999999'),
    })
    .then((text) => (text ? Number(text.trim()) : undefined));
}

export async function pickAuditRules(): Promise<string[] | undefined> {
  const picks = await vscode.window.showQuickPick(
    AUDIT_RULES.map((r) => ({ label: r, picked: true })),
    { title: 'DTD Lens: rules to audit', canPickMany: true },
  );
  return picks && picks.length > 0 ? picks.map((p) => p.label) : undefined;
}

export async function pickAuditRootFinder(): Promise<RootFinderName | undefined> {
  const pick = await vscode.window.showQuickPick(
    [
      { label: 'polytope', description: 'exact roots inside the region (fast)', f: 'polytope' as const },
      { label: 'linear', description: "the rule's analytic roots, as the research code (exponential in depth)", f: 'linear' as const },
    ],
    { title: 'DTD Lens: root finder for the full-backward rows' },
  );
  return pick?.f;
}

// ── export ───────────────────────────────────────────────────────────────

export type ExportFormat = 'json' | 'svg' | 'png';

export async function pickExportFormat(): Promise<ExportFormat | undefined> {
  const pick = await vscode.window.showQuickPick(
    [
      { label: 'JSON', description: `the full result (${RESULT_SCHEMA})`, f: 'json' as const },
      { label: 'SVG', description: 'the drawing, as vector graphics', f: 'svg' as const },
      { label: 'PNG', description: 'the drawing, as an image', f: 'png' as const },
    ],
    { title: 'DTD Lens: export as' },
  );
  return pick?.f;
}

/** A save dialog in the first workspace folder, proposing `stem.ext`. */
export function pickSaveTarget(title: string, stem: string, ext: string): Thenable<vscode.Uri | undefined> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  return vscode.window.showSaveDialog({ title, defaultUri: folder ? vscode.Uri.joinPath(folder, `${stem}.${ext}`) : undefined, filters: { [ext.toUpperCase()]: [ext] } });
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(4) : v.toFixed(4);
}

function preview(values: number[]): string {
  const head = values.slice(0, 6).map(fmt).join(', ');
  return `[${head}${values.length > 6 ? `, … (${values.length} values)` : ''}]`;
}
