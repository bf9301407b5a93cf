// The model and input formats DTD Lens reads, by file name: the engine's loader
// table, the command line's help, the extension host's menus, pickers and file
// dialogs all use these lists (package.json's `when` clauses and custom-editor
// selectors are checked against them by test/unit/protocol.test.ts).

/** Model files by extension (lower case, with the dot). */
export const MODEL_EXTENSIONS = ['.onnx', '.safetensors', '.keras', '.h5', '.hdf5', '.pt', '.pth'] as const;
/** Model files recognised by their whole name (TensorFlow.js Layers models); other .json files are JSON networks only on the command line. */
export const MODEL_FILENAMES = ['model.json'] as const;
/** The engine also reads a JSON network (`.json`, the fixtures' format) given explicitly. */
export const JSON_MODEL_EXTENSION = '.json' as const;
/** Every extension the engine's loaders read (the loader table is typed by it). */
export type LoadableExtension = (typeof MODEL_EXTENSIONS)[number] | typeof JSON_MODEL_EXTENSION;

/** Input files by extension. */
export const INPUT_EXTENSIONS = ['.json', '.csv', '.npy', '.png', '.jpg', '.jpeg'] as const;
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;

/** The sidecar that describes a model a format does not fully store: `foo.safetensors` → `foo.dtd.json`. */
export const SIDECAR_SUFFIX = '.dtd.json';

export function sidecarNameFor(fileName: string): string {
  const slash = Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\'));
  const dot = fileName.lastIndexOf('.');
  const stem = dot > slash + 1 ? fileName.slice(0, dot) : fileName;
  return `${stem}${SIDECAR_SUFFIX}`;
}

/** The file's base name, without folders. */
export function baseNameOf(fileName: string): string {
  return fileName.slice(Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\')) + 1);
}

/** True when the file name is one the extension offers as a model (menus, pickers). */
export function isModelFileName(fileName: string): boolean {
  const name = baseNameOf(fileName).toLowerCase();
  return MODEL_EXTENSIONS.some((e) => name.endsWith(e)) || (MODEL_FILENAMES as readonly string[]).includes(name);
}

/** A workspace glob for every model file (findFiles). */
export const MODEL_GLOB = `**/{${[...MODEL_EXTENSIONS.map((e) => `*${e}`), ...MODEL_FILENAMES].join(',')}}`;
/** A workspace glob for every input file. */
export const INPUT_GLOB = `**/*.{${INPUT_EXTENSIONS.map((e) => e.slice(1)).join(',')}}`;
/** File-dialog filters (extensions without the dot). */
export const MODEL_DIALOG_FILTERS: Record<string, string[]> = {
  'Models (ONNX, safetensors, Keras, PyTorch, TF.js)': [...MODEL_EXTENSIONS.map((e) => e.slice(1)), 'json'],
};
export const INPUT_DIALOG_FILTERS: Record<string, string[]> = {
  'Inputs (JSON, CSV, .npy, PNG, JPEG)': INPUT_EXTENSIONS.map((e) => e.slice(1)),
};
/** The `when` clause for Explorer / editor-title menus (package.json must carry exactly this). */
export const MODEL_WHEN_CLAUSE = `(resourceExtname =~ /^\\.(${MODEL_EXTENSIONS.map((e) => e.slice(1)).join('|')})$/i || resourceFilename == ${MODEL_FILENAMES[0]})`;
/** Human-readable list for messages and help. */
export const MODEL_FORMATS_TEXT = `${MODEL_EXTENSIONS.join(', ')}, ${MODEL_FILENAMES.join(', ')} (TensorFlow.js) or a JSON network (.json)`;
