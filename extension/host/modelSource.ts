// Where a model's bytes come from: the model file, its optional sidecar
// (protocol/formats.ts sidecarNameFor) and, for a TF.js model.json, the weight
// shards it names, all read with workspace.fs (so remote and virtual
// workspaces work) and refused before reading when larger than
// dtdLens.maxModelSizeMB. The engine parses; this module only reads.

import * as vscode from 'vscode';
import { EngineError, type ModelPayload } from '../engineClient';
import { baseName, readSettings, sidecarUriFor } from '../config';

/** Reads the model (size-checked), its optional sidecar and its TF.js shards. */
export async function readModel(uri: vscode.Uri): Promise<ModelPayload> {
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
  const sidecar = await readSidecar(uri);
  const files = baseName(uri).toLowerCase() === 'model.json' ? await readShards(uri, modelBytes, limit - stat.size) : undefined;
  // Uint8Array from workspace.fs may be a view on a bigger buffer: copy to send exactly the file.
  return { fileName: uri.fsPath || uri.path, modelBytes: new Uint8Array(modelBytes), sidecar, files };
}

/** The parsed sidecar next to the model, or undefined when there is none (the common case). */
async function readSidecar(model: vscode.Uri): Promise<unknown> {
  const sidecarUri = sidecarUriFor(model);
  let bytes: Uint8Array;
  try {
    bytes = await vscode.workspace.fs.readFile(sidecarUri);
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new EngineError('bad-model', `${baseName(sidecarUri)}: not valid JSON (${e instanceof Error ? e.message : String(e)}).`);
  }
}

/**
 * The weight shards a TF.js model.json names, read next to it. Only plain relative
 * names inside the model's folder are read (the engine checks again); the shards
 * count toward dtdLens.maxModelSizeMB.
 */
async function readShards(uri: vscode.Uri, manifestBytes: Uint8Array, budget: number): Promise<Record<string, Uint8Array>> {
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
