// Dataset runs: many inputs explained in one engine call (`dtd-lens explain
// MODEL --inputs FILE|DIR`, VS Code's Explain Output on a folder of images or
// a file with several inputs). The light per-input record, the summary over
// the set and the gallery's payload (the standalone HTML gallery and the VS
// Code panel draw the same data with webview/gallery.ts).

import type { ImagePreprocessing } from './image';
import type { ExplainResult, LayerDiagnostics } from './result';

/** `--output argmax`: each input explains its own largest output. */
export const ARGMAX_OUTPUT = 'argmax' as const;
export type DatasetOutput = number | typeof ARGMAX_OUTPUT;

/** One input of a dataset run with what `--light` keeps: the input relevance and the diagnostics. */
export interface DatasetItem {
  /** Position in the dataset (row of the file, or place of the image in the folder's sorted names). */
  inputIndex: number;
  /** The image's file name, or "row N" for a row of a file. */
  inputName: string;
  explainedOutput: number;
  explainedValue: number;
  status: ExplainResult['status'];
  statusCode: ExplainResult['statusCode'];
  message: string | null;
  warnings: string[];
  /** Relevance of every input value (C-major NCHW for image models), or null when the run failed before it. */
  inputRelevance: number[] | null;
  diagnostics: { layers: LayerDiagnostics[] };
}

/** A full dataset line: one input's result as a single run gives it, with its place in the dataset. */
export type DatasetResult = { inputIndex: number; inputName: string } & ExplainResult;

/** What the summary says about the whole set. */
export interface DatasetSummary {
  inputs: number;
  ok: number;
  failed: number;
  /** Mean of f(x) over the inputs. */
  meanExplainedValue: number;
  /** Mean |R| of every input value over the inputs that have an input relevance. */
  meanAbsRelevance: number[];
  /** Largest |Σ R_input − f(x)| over the set. */
  maxConservationError: number;
  /** Inputs whose roots were checked (train-free, full-backward). */
  inputsWithRootChecks: number;
  /** Of those, inputs with at least one root outside its region. */
  inputsWithRootsOutside: number;
  /** How often each output was explained (argmax), by output index. */
  outputCounts: Record<string, number>;
}

/** One item of the gallery: what it draws and sorts by. */
export interface GalleryItem {
  inputIndex: number;
  inputName: string;
  explainedOutput: number;
  explainedValue: number;
  status: ExplainResult['status'];
  message: string | null;
  /** Σ R_input − f(x) (null when there is no input relevance). */
  conservationError: number | null;
  /** Roots outside their region, all layers together, of rootsChecked. */
  rootsOutside: number;
  rootsChecked: number;
  /** The input (drawn as the image) and its relevance (the heatmap), rounded for drawing. */
  input: number[];
  inputRelevance: number[] | null;
}

export interface GalleryPayload {
  title: string;
  model: { name: string; format: string };
  method: string;
  rule: string;
  backend: string;
  precision: string;
  /** The input's [C, H, W] when it is an image; null draws a vector as a square or a strip. */
  shape: number[] | null;
  summary: DatasetSummary;
  items: GalleryItem[];
  /** Items left out of the gallery past LIMITS.galleryItems (the summary covers them). */
  omitted: number;
  /** True in VS Code: clicking an item asks the host to open its full explanation. */
  interactive: boolean;
}

/** The id of the gallery's JSON data block. */
export const GALLERY_DATA_ID = 'dtd-gallery-data';

/** Gallery → host (VS Code): open the full explanation of one item; the page drew its items. */
export type GalleryToHost = { type: 'openItem'; inputIndex: number } | { type: 'galleryRendered'; items: number };

/** What a dataset request reads in the engine: one file of several inputs, or the images of a folder (bytes read by the host). */
export type DatasetSpec =
  | { kind: 'file'; fileName: string; bytes: Uint8Array; preprocessing?: ImagePreprocessing }
  | { kind: 'images'; folder: string; files: { name: string; bytes: Uint8Array }[]; preprocessing?: ImagePreprocessing };

/** The engine's reply to a dataset request: the gallery and, for each drawn item, the exact input (to explain it alone). */
export interface DatasetReply {
  gallery: GalleryPayload;
  inputs: number[][];
}

/** Rounds for drawing: 4 significant digits keep a heatmap exact to the eye and the page small. */
export function roundForDrawing(v: ArrayLike<number>): number[] {
  return Array.from(v, (x) => (x === 0 || !Number.isFinite(x) ? 0 : Number(x.toPrecision(4))));
}

/** An entry of a dataset folder as the lister sees it (without following links). */
export interface FolderEntry {
  name: string;
  kind: 'file' | 'folder' | 'symlink' | 'other';
}

/**
 * The rule for a folder of images (the command line and the host list it; the
 * engine decodes): only plain PNG/JPEG files, taken in sorted (code-point) order
 * of their names; hidden names (".DS_Store") are skipped; a symbolic link, a
 * sub-folder, a device or a file of another kind is refused, naming it.
 * Returns the image names, or the problem in words.
 */
export function datasetFolderImages(entries: readonly FolderEntry[], imageExtensions: readonly string[]): { names: string[] } | { problem: string } {
  const names: string[] = [];
  const refused = (what: string, list: string[]) => `${what}: ${list.slice(0, 3).map((n) => JSON.stringify(n.length > 80 ? `${n.slice(0, 80)}…` : n)).join(', ')}${list.length > 3 ? ` and ${list.length - 3} more` : ''}`;
  const links: string[] = [], folders: string[] = [], others: string[] = [], notImages: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.kind === 'symlink') links.push(e.name);
    else if (e.kind === 'folder') folders.push(e.name);
    else if (e.kind === 'other') others.push(e.name);
    else if (!imageExtensions.some((x) => e.name.toLowerCase().endsWith(x))) notImages.push(e.name);
    else names.push(e.name);
  }
  const problems: string[] = [];
  if (links.length) problems.push(refused('symbolic links, which a dataset folder may not hold', links));
  if (folders.length) problems.push(refused('sub-folders', folders));
  if (others.length) problems.push(refused('entries that are not regular files', others));
  if (notImages.length) problems.push(refused(`files that are not images (${imageExtensions.join(', ')})`, notImages));
  if (problems.length) return { problem: `holds ${problems.join('; ')}. A dataset folder holds only PNG or JPEG files.` };
  if (!names.length) return { problem: 'holds no PNG or JPEG images.' };
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { names };
}
