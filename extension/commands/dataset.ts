// "DTD Lens: Explain a Dataset…" (palette; Explorer on a folder, a .npy, a
// .csv or a .json): every input of a folder of images or of a file of several
// inputs explained in one engine run (light records, batched), shown as the
// gallery (host/galleryPanel.ts); clicking an item explains that input alone
// and shows it in the normal visualizer (executeRun). The host only lists the
// folder and reads the files' bytes (bounded, as for one input file); the
// engine parses and decodes them.

import * as vscode from 'vscode';
import { baseName, readSettings, toWireOptions } from '../config';
import type { ModelPayload } from '../engineClient';
import { EngineError } from '../engineClient';
import { ARGMAX_OUTPUT, datasetFolderImages, type DatasetOutput, type DatasetReply, type DatasetSpec, type FolderEntry, IMAGE_EXTENSIONS, LIMITS, logText, type WireExplainOptions } from '../protocol';
import type { HostContext } from '../host/context';
import { openGalleryPanel } from '../host/galleryPanel';
import { readInputFile, readModel } from '../host/modelSource';
import { isCancellation, type ReportedError } from '../host/notifier';
import { pickMethodRuleFinder, pickModel } from '../host/pickers';
import { executeRun, type RunOutcome, type RunOutcomeStatus } from './explain';

export interface DatasetRequest {
  /** The model (else the active one, one from the workspace, or a dialog). */
  model?: vscode.Uri;
  /** One output for every input, or `argmax` (asked when not given). */
  output?: DatasetOutput;
  /** Method, rule and root finder from the settings without asking. */
  useDefaults?: boolean;
}

export interface DatasetOutcome {
  status: RunOutcomeStatus;
  reply?: DatasetReply;
  panel?: vscode.WebviewPanel;
  /** Explains one item alone in the visualizer: what a click on it in the gallery does. */
  openItem?(inputIndex: number): Promise<RunOutcome>;
  /** Resolves with the number of items once the gallery page has drawn them. */
  rendered?: Promise<number>;
  error?: ReportedError;
}

const MB = 1024 * 1024;
const DATASET_FILTERS = { 'Datasets (.npy, CSV, JSON)': ['npy', 'csv', 'json'] };

function entryKind(t: vscode.FileType): FolderEntry['kind'] {
  if (t & vscode.FileType.SymbolicLink) return 'symlink';
  if (t === vscode.FileType.Directory) return 'folder';
  if (t === vscode.FileType.File) return 'file';
  return 'other';
}

/** The dataset's bytes: the images of a folder (the one folder rule, protocol/dataset.ts) or one file. */
async function readDataset(uri: vscode.Uri): Promise<DatasetSpec> {
  const image = readSettings(uri).image;
  const st = await vscode.workspace.fs.stat(uri);
  if (!(st.type & vscode.FileType.Directory) || st.type & vscode.FileType.SymbolicLink) {
    return { kind: 'file', fileName: uri.fsPath || uri.path, bytes: await readInputFile(uri), preprocessing: image };
  }
  const listed = await vscode.workspace.fs.readDirectory(uri);
  const name = vscode.workspace.asRelativePath(uri, false);
  if (listed.length > LIMITS.datasetFolderEntries) throw new EngineError('bad-input', `${name}: holds more than ${LIMITS.datasetFolderEntries} entries; a dataset folder may hold at most that many.`);
  const images = datasetFolderImages(listed.map(([n, t]) => ({ name: n, kind: entryKind(t) })), IMAGE_EXTENSIONS);
  if ('problem' in images) throw new EngineError('bad-input', `${name}: ${images.problem}`);
  if (images.names.length > LIMITS.datasetInputs) throw new EngineError('bad-input', `${name}: holds ${images.names.length} images; a dataset run takes at most ${LIMITS.datasetInputs}.`);
  let budget = LIMITS.datasetFolderMB * MB;
  const files: { name: string; bytes: Uint8Array }[] = [];
  for (const n of images.names) {
    const bytes = await readInputFile(vscode.Uri.joinPath(uri, n));
    budget -= bytes.length;
    if (budget < 0) throw new EngineError('bad-input', `${name}: its images are larger than ${LIMITS.datasetFolderMB} MB together.`);
    files.push({ name: n, bytes });
  }
  return { kind: 'images', folder: uri.fsPath || uri.path, files, preprocessing: image };
}

async function pickDataset(): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({ title: 'DTD Lens: a folder of images, or a file of several inputs', canSelectFiles: true, canSelectFolders: true, canSelectMany: false, filters: DATASET_FILTERS });
  return picked?.[0];
}

async function pickDatasetOutput(): Promise<DatasetOutput | undefined> {
  const pick = await vscode.window.showQuickPick(
    [
      { label: 'Each input’s largest output (argmax)', out: ARGMAX_OUTPUT as DatasetOutput },
      { label: 'One output for every input…', out: undefined },
    ],
    { title: 'DTD Lens: which output of each input?' },
  );
  if (!pick) return undefined;
  if (pick.out !== undefined) return pick.out;
  const text = await vscode.window.showInputBox({ title: 'DTD Lens: output index', value: '0', validateInput: (v) => (/^\d+$/.test(v.trim()) ? undefined : 'A whole number, please.') });
  return text === undefined ? undefined : Number(text.trim());
}

export async function explainDatasetCommand(ctx: HostContext, extensionUri: vscode.Uri, uriArg?: vscode.Uri, req: DatasetRequest = {}): Promise<DatasetOutcome> {
  const source = uriArg ?? (await pickDataset());
  if (!source) return { status: 'dismissed' };
  const model = req.model ?? (await pickModel());
  if (!model) return { status: 'dismissed' };
  let payload: ModelPayload;
  let spec: DatasetSpec;
  try {
    payload = await readModel(model);
    spec = await readDataset(source);
  } catch (e) {
    return { status: 'error', error: ctx.notifier.reportError(e, `reading ${baseName(source)}`) };
  }
  const output = req.output ?? (await pickDatasetOutput());
  if (output === undefined) return { status: 'dismissed' };
  const how = await pickMethodRuleFinder({ useDefaults: req.useDefaults });
  if (!how) return { status: 'dismissed' };
  const options: WireExplainOptions = toWireOptions(readSettings(model), { explainedOutput: output === ARGMAX_OUTPUT ? 0 : output, ...how });
  let reply: DatasetReply;
  const started = Date.now();
  try {
    reply = await ctx.runner.run(`DTD Lens: ${baseName(model)} on ${baseName(source)}`, ({ token, onProgress }) => ctx.engine.dataset(payload, spec, options, output === ARGMAX_OUTPUT, { token, onProgress }), { exclusive: true });
  } catch (e) {
    if (isCancellation(e)) return { status: 'cancelled' };
    return { status: 'error', error: ctx.notifier.reportError(e, `explaining ${baseName(source)}`) };
  }
  const s = reply.gallery.summary;
  ctx.log.info(logText(`dataset ${baseName(source)}: ${s.inputs} inputs (${s.ok} ok) in ${Date.now() - started} ms through ${baseName(model)}, ${how.method}`));
  const openItem = (inputIndex: number): Promise<RunOutcome> => {
    const at = reply.gallery.items.findIndex((it) => it.inputIndex === inputIndex);
    if (at < 0) return Promise.resolve({ status: 'error', error: { code: 'bad-usage', message: `No item ${inputIndex} in the gallery.` } });
    const item = reply.gallery.items[at];
    return executeRun(ctx, model, payload, { kind: 'values', values: reply.inputs[at] }, `${baseName(source)}: ${item.inputName}`, { ...options, explainedOutput: item.explainedOutput });
  };
  let resolveRendered!: (n: number) => void;
  const rendered = new Promise<number>((r) => (resolveRendered = r));
  const panel = openGalleryPanel(extensionUri, reply.gallery, { onOpen: (i) => void openItem(i), onRendered: (n) => resolveRendered(n) });
  return { status: s.failed ? 'failed' : 'ok', reply, panel, openItem, rendered };
}
