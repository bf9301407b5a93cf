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
  IMAGE_EXTENSIONS,
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
import { runMethodText, type RunRecord, type RunStore } from '../runStore';
import { inputValueCount, type InputChoice, type InputSource } from './inputSource';
import type { Notifier } from './notifier';

/** The rules a method takes, from the rule registry (protocol/rules.ts), plus a per-layer example. */
export function ruleItems(method: Method): { rule: string; detail: string }[] {
  const items: { rule: string; detail: string }[] = rulesFor(method).map((r) => ({ rule: r.name, detail: `${ruleUsage(r)}: ${r.summary}` }));
  items.push({ rule: 'layer1=zB=0,1;*=z+', detail: 'Per layer: the zB box rule at the pixels ([0, 1]), z+ above.' });
  return items;
}

// Shown as a QuickPick `detail`, one line that ellipsizes: each fits the widget (≤ 70 characters) and says what the method does.
const METHOD_DETAILS: Record<Method, { description: string; detail: string }> = {
  'train-free': { description: 'fast', detail: 'Each layer’s analytic root; the relevance above is held constant.' },
  'full-backward': { description: 'a root tree, slower', detail: 'The relevance above is the real function; roots searched per layer.' },
  lrp: { description: 'for comparison', detail: 'Layer-wise relevance propagation with zennit’s rules.' },
};

/** What each full-backward root finder does (one line each; the root finder and audit pickers). */
export const ROOT_FINDER_DETAILS: Record<RootFinderName, string> = {
  linear: 'The rule’s analytic roots, differentiated through (as the research code).',
  'metropolis-hastings': 'Random walk inside the local linear region (sampled).',
  interpolation: 'Random directions bisected to the region’s edge (inputs ≥ 0).',
  polytope: 'Exact roots on the rule’s line inside the region (fast).',
  'hit-and-run': 'Samples the region’s polytope without rejections (exact).',
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

/** What the input picker knows of the model: its input size and, for an image model, its [C, H, W]. */
export interface InputFit {
  inputSize?: number;
  inputShape?: number[];
}

/**
 * Random (the seed setting or another), the last-used input when it fits, or a file.
 * `focusLast` (Re-run) puts the focus on the last-used input instead of the random one.
 */
export async function pickInput(fit: InputFit, inputs: InputSource, focusLast = false): Promise<InputChoice | undefined> {
  const settings = readSettings();
  type Item = vscode.QuickPickItem & { choice?: InputChoice; action?: 'seed' | 'file' };
  const items: Item[] = [
    { label: `$(symbol-event) Random input, seed ${settings.seed}`, detail: 'A random non-negative input whose explained output is > 0 (setting dtdLens.seed).', choice: { kind: 'random', seed: settings.seed } },
    { label: '$(symbol-number) Random input with another seed…', action: 'seed' },
  ];
  const last = inputs.last();
  const lastItem: Item | undefined =
    last && (fit.inputSize === undefined || last.values.length === fit.inputSize) ? { label: `$(history) Last used: ${last.label}`, detail: preview(last.values), choice: { kind: 'last' } } : undefined;
  if (lastItem) items.push(lastItem);
  items.push({ label: '$(file) Input file from the workspace…', detail: inputFilesText(fit), action: 'file' });
  const pick = await new Promise<Item | undefined>((resolve) => {
    const qp = vscode.window.createQuickPick<Item>();
    qp.title = 'DTD Lens: which input?';
    qp.placeholder = 'The input x whose output is explained';
    qp.items = items;
    if (focusLast && lastItem) qp.activeItems = [lastItem];
    qp.onDidAccept(() => {
      resolve(qp.activeItems[0]);
      qp.hide();
    });
    qp.onDidHide(() => {
      resolve(undefined);
      qp.dispose();
    });
    qp.show();
  });
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
  return pickInputFile(fit);
}

/** What the input files can be, for this model: images only for an image model. */
function inputFilesText(fit: InputFit): string {
  const image = isImageModel(fit);
  return `JSON (an array or {"x": …}), a one-row CSV, a float .npy${image ? ', or an image' : ''}${fit.inputSize !== undefined ? ` with ${fit.inputSize} values` : ''}${image ? '' : ' (images: image models only)'}`;
}

function isImageModel(fit: InputFit): boolean {
  return (fit.inputShape?.length ?? 0) === 3;
}

/** The workspace's input files that can fit the model: images for image models only, value files whose size is known and right or unknown. */
async function pickInputFile(fit: InputFit): Promise<InputChoice | undefined> {
  const found = (await vscode.workspace.findFiles(INPUT_GLOB, `{**/node_modules/**,**/*${SIDECAR_SUFFIX},**/.vscode/**}`, 1000)).sort((a, b) => a.path.localeCompare(b.path));
  const image = isImageModel(fit);
  const isImage = (uri: vscode.Uri) => IMAGE_EXTENSIONS.some((e) => uri.path.toLowerCase().endsWith(e));
  type FileItem = vscode.QuickPickItem & { uri?: vscode.Uri };
  const items: FileItem[] = [];
  for (const uri of found) {
    if (isImage(uri)) {
      if (image) items.push({ label: baseName(uri), description: vscode.workspace.asRelativePath(uri, true), uri });
      continue;
    }
    const n = fit.inputSize === undefined ? undefined : await inputValueCount(uri);
    if (n !== undefined && n !== fit.inputSize) continue;
    items.push({ label: baseName(uri), description: `${vscode.workspace.asRelativePath(uri, true)}${n === undefined && fit.inputSize !== undefined ? ' · size not known until read' : ''}`, uri });
  }
  items.push({ label: '$(folder-opened) Browse…', detail: INPUT_FILES_TEXT });
  const wanted = `${fit.inputSize !== undefined ? `${fit.inputSize} values` : 'values'}: JSON, CSV, .npy${image ? ' or an image' : ''}`;
  const pick = await vscode.window.showQuickPick(items, { title: 'DTD Lens: input file', placeHolder: `Input files that fit the model (${wanted})`, matchOnDescription: true });
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
    METHODS.map((x) => ({ label: x, description: `${METHOD_DETAILS[x].description}${x === method ? ' (default)' : ''}`, detail: METHOD_DETAILS[x].detail })),
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
      ROOT_FINDERS.map((x) => ({ label: x, description: x === rootFinder ? '(default)' : undefined, detail: ROOT_FINDER_DETAILS[x] })),
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
  // Two single picks, so that Enter accepts each (a multi-select pick's Enter is easy to take for a tick).
  const item = (r: RunRecord) => ({ label: `${r.modelName} · output ${r.explainedOutput}`, description: `${r.rule} · ${runMethodText(r)}`, detail: r.input.label, id: r.id });
  const first = await vscode.window.showQuickPick(done.map(item), { title: 'DTD Lens: compare which explanation? (1 of 2)', placeHolder: 'The left one' });
  if (!first) return undefined;
  const second = await vscode.window.showQuickPick(
    done.filter((r) => r.id !== first.id).map(item),
    { title: `DTD Lens: compare with which explanation? (2 of 2)`, placeHolder: `The right one, beside ${first.label} (${first.description})` },
  );
  return second ? [first.id, second.id] : undefined;
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

/** Which output the audit explains (over its random inputs); a single output is taken without asking. */
export async function pickAuditOutput(modelName: string, outputSize: number): Promise<number | undefined> {
  if (outputSize <= 1) return 0;
  const pick = await vscode.window.showQuickPick(
    Array.from({ length: outputSize }, (_, i) => ({ label: `Output ${i}`, detail: 'audited over random inputs where this output is positive', index: i })),
    { title: `DTD Lens: audit which output of ${modelName}?`, placeHolder: 'The output neuron whose explanations are audited' },
  );
  return pick?.index;
}

export async function pickAuditRootFinder(): Promise<RootFinderName | undefined> {
  const pick = await vscode.window.showQuickPick(
    [
      { label: 'polytope', detail: ROOT_FINDER_DETAILS.polytope, f: 'polytope' as const },
      { label: 'linear', detail: `${ROOT_FINDER_DETAILS.linear} Exponential in depth.`, f: 'linear' as const },
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
