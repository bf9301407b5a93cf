// The layering of DESIGN.md §2 (scripts/check-imports.ts): a synthetic tree with one
// violation per rule must fail, naming each file and line; the real tree must pass.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import ts from 'typescript';
import { REPO } from '../helpers/fixtures';
import { checkFile, checkImports, formatViolation, programOf, type Program } from '../../scripts/check-imports';

const SCRIPT = path.join(REPO, 'scripts', 'check-imports.ts');

function runCli(root: string) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, root], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A mini repository: files written under a temporary root. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'dtd-layering-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  roots.push(root);
  return root;
}
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Everything the table allows: must pass. */
const CLEAN: Record<string, string> = {
  'package.json': '{"version":"0.0.0"}\n',
  'extension/protocol/index.ts': "export * from './result';\n",
  'extension/protocol/result.ts': 'export interface R { x: number }\n',
  'extension/engine/explain.ts': [
    "import * as fs from 'node:fs';",
    "import { readFileSync } from 'fs';",
    "import * as tf from '@tensorflow/tfjs-core';",
    "import type { R } from '../protocol';",
    "import { helper } from './ops/helper';",
    "import pkg from '../../package.json';",
    "export const x = [fs, readFileSync, tf, helper, pkg] as unknown as R;",
    '',
  ].join('\n'),
  'extension/engine/ops/helper.ts': "import { createRequire } from 'node:module';\nconst req = createRequire(__filename);\nexport const helper = () => req('@tensorflow/tfjs-node') as unknown;\n",
  'extension/extension.ts': "import * as vscode from 'vscode';\nimport { fork } from 'node:child_process';\nimport type { R } from './protocol';\nimport { run } from './runFlow';\nexport { vscode, fork, run };\nexport type { R };\n",
  'extension/runFlow.ts': "export const run = 1;\n",
  'webview/main.ts': "import { select } from 'd3';\nimport { scaleLinear } from 'd3-scale';\nimport type { R } from '../extension/protocol';\nimport { h } from './dom';\nexport { select, scaleLinear, h };\nexport type { R };\n",
  'webview/dom.ts': 'export const h = 1;\n',
};

describe('import boundaries', () => {
  test('files map to their program', () => {
    assert.equal(programOf('extension/protocol/result.ts'), 'protocol');
    assert.equal(programOf('extension/engine/loaders/onnx.ts'), 'engine');
    assert.equal(programOf('extension/runFlow.ts'), 'host');
    assert.equal(programOf('extension/host/panel.ts'), 'host');
    assert.equal(programOf('webview/main.ts'), 'webview');
    assert.equal(programOf('test/unit/cli.test.ts'), undefined);
  });

  test('a tree that keeps the layering passes', () => {
    const root = tree(CLEAN);
    const { files, violations } = checkImports(root);
    assert.equal(files, 8);
    assert.deepEqual(violations.map(formatViolation), []);
    const r = runCli(root);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /8 files checked, no violations/);
  });

  test('every kind of violation fails, naming the file and line', () => {
    const root = tree({
      ...CLEAN,
      // webview: Node builtins (import, bare name, dynamic import, require), vscode, engine, host, a Node-only package
      'webview/bad.ts': [
        '/// <reference types="node" />',
        "import { readFileSync } from 'node:fs';",
        "import * as path from 'path';",
        "import * as vscode from 'vscode';",
        "import { explain } from '../extension/engine/explain';",
        "import type { run } from '../extension/runFlow';",
        "const onnx = await import('onnx-proto');",
        "const os = require('os');",
        'export { readFileSync, path, vscode, explain, onnx, os };',
        'export type { run };',
        '',
      ].join('\n'),
      // engine: vscode (even type-only, even as an import type), the host, the webview, d3, DOM lib
      'extension/engine/bad.ts': [
        '/// <reference lib="dom" />',
        "import type * as vscode from 'vscode';",
        "export type W = typeof import('vscode').window;",
        "export { run } from '../runFlow';",
        "export * from '../../webview/dom';",
        "import { select } from 'd3';",
        'export type V = typeof vscode | typeof select;',
        '',
      ].join('\n'),
      // host: engine internals (static, dynamic, require), the webview, a package
      'extension/badHost.ts': [
        "import { explain } from './engine/explain';",
        "const m = import('./engine/ops/helper');",
        "import fs = require('./engine/explain');",
        "import { h } from '../webview/dom';",
        "import * as tf from '@tensorflow/tfjs-core';",
        'export { explain, m, fs, h, tf };',
        '',
      ].join('\n'),
      // protocol: anything but itself
      'extension/protocol/bad.ts': [
        "import { x } from '../engine/explain';",
        "import type { ExtensionContext } from 'vscode';",
        "import { inspect } from 'node:util';",
        "import { select } from 'd3';",
        "import pkg from '../../package.json';",
        "import { run } from '../runFlow';",
        'export { x, inspect, select, pkg, run };',
        'export type { ExtensionContext };',
        '',
      ].join('\n'),
    });
    const { violations } = checkImports(root);
    const got = violations.map((v) => `${v.file}:${v.line}: ${v.specifier}`);
    assert.deepEqual(got, [
      'extension/badHost.ts:1: ./engine/explain',
      'extension/badHost.ts:2: ./engine/ops/helper',
      'extension/badHost.ts:3: ./engine/explain',
      'extension/badHost.ts:4: ../webview/dom',
      'extension/badHost.ts:5: @tensorflow/tfjs-core',
      'extension/engine/bad.ts:1: dom',
      'extension/engine/bad.ts:2: vscode',
      'extension/engine/bad.ts:3: vscode',
      'extension/engine/bad.ts:4: ../runFlow',
      'extension/engine/bad.ts:5: ../../webview/dom',
      'extension/engine/bad.ts:6: d3',
      'extension/protocol/bad.ts:1: ../engine/explain',
      'extension/protocol/bad.ts:2: vscode',
      'extension/protocol/bad.ts:3: node:util',
      'extension/protocol/bad.ts:4: d3',
      'extension/protocol/bad.ts:5: ../../package.json',
      'extension/protocol/bad.ts:6: ../runFlow',
      'webview/bad.ts:1: node',
      'webview/bad.ts:2: node:fs',
      'webview/bad.ts:3: path',
      'webview/bad.ts:4: vscode',
      'webview/bad.ts:5: ../extension/engine/explain',
      'webview/bad.ts:6: ../extension/runFlow',
      'webview/bad.ts:7: onnx-proto',
      'webview/bad.ts:8: os',
    ]);
    // Each says why.
    const why = (file: string, line: number) => violations.find((v) => v.file === file && v.line === line)?.why ?? '';
    assert.match(why('webview/bad.ts', 2), /never imports Node modules/);
    assert.match(why('extension/engine/bad.ts', 2), /never imports vscode/);
    assert.match(why('extension/badHost.ts', 1), /never imports engine internals/);
    assert.match(why('extension/protocol/bad.ts', 1), /imports nothing but itself/);

    const r = runCli(root);
    assert.equal(r.code, 1);
    assert.match(r.err, /^webview\/bad\.ts:2: 'node:fs' → .*never imports Node modules/m);
    assert.match(r.err, /^extension\/engine\/bad\.ts:2: 'vscode' → /m);
    assert.match(r.err, /^extension\/protocol\/bad\.ts:1: '\.\.\/engine\/explain' → /m);
    assert.match(r.err, /25 imports break the layering/);
  });

  test('files outside the four programs are not checked', () => {
    assert.deepEqual(checkFile('test/unit/x.test.ts', "import * as vscode from 'vscode';\nimport 'node:fs';\n"), []);
  });

  test('the repository keeps the layering', () => {
    const { files, violations } = checkImports(REPO);
    assert.ok(files > 50, `only ${files} files found under ${REPO}`);
    assert.deepEqual(violations.map(formatViolation), []);
  });
});

/** A per-program tsconfig, parsed: its compiler options and the files it includes. */
function parsedConfig(program: Program): ts.ParsedCommandLine {
  const file = path.join(REPO, `tsconfig.${program}.json`);
  const host: ts.ParseConfigFileHost = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')) };
  const parsed = ts.getParsedCommandLineOfConfigFile(file, undefined, host);
  assert.ok(parsed, `${file} did not parse`);
  assert.deepEqual(parsed.errors, []);
  return parsed;
}

/** Type errors of one snippet compiled as a file of the program (under the repository, so node_modules resolve). */
function snippetErrors(program: Program, dir: string, code: string): string[] {
  const { options } = parsedConfig(program);
  const file = path.join(REPO, dir, `__layering_probe_${process.pid}.ts`);
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  host.readFile = (f) => (path.resolve(f) === file ? code : read(f));
  const exists = host.fileExists.bind(host);
  host.fileExists = (f) => path.resolve(f) === file || exists(f);
  const prog = ts.createProgram([file], { ...options, noUnusedLocals: false }, host);
  return ts.getPreEmitDiagnostics(prog).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
}

describe('per-program tsconfigs', () => {
  const programs: Program[] = ['protocol', 'engine', 'host', 'webview'];
  const configs = new Map(programs.map((p) => [p, parsedConfig(p)]));
  const rel = (f: string) => path.relative(REPO, f).split(path.sep).join('/');

  test('every source file is type-checked by the tsconfig of its program', () => {
    const sources: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(path.join(REPO, d), { withFileTypes: true })) {
        if (e.isDirectory()) walk(`${d}/${e.name}`);
        else if (/\.ts$/.test(e.name)) sources.push(`${d}/${e.name}`);
      }
    };
    walk('extension');
    walk('webview');
    const missing = sources.filter((f) => !configs.get(programOf(f)!)!.fileNames.map(rel).includes(f));
    assert.deepEqual(missing, []);
  });

  test('each program takes in only its own folders and the protocol package', () => {
    for (const [p, c] of configs) {
      const stray = c.fileNames.map(rel).filter((f) => programOf(f) !== p && programOf(f) !== 'protocol');
      assert.deepEqual(stray, [], `tsconfig.${p}.json`);
    }
  });

  test('the protocol package type-checks on its own (no DOM, no Node, no packages)', () => {
    const { options, fileNames } = configs.get('protocol')!;
    const prog = ts.createProgram(fileNames, options);
    const errs = ts.getPreEmitDiagnostics(prog).map((d) => {
      const where = d.file && d.start !== undefined ? `${rel(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
      return where + ts.flattenDiagnosticMessageText(d.messageText, ' ');
    });
    assert.deepEqual(errs, []);
  });

  test('the engine has Node but no DOM', () => {
    assert.deepEqual(snippetErrors('engine', 'extension/engine', 'export const a = process.argv.length + Buffer.byteLength("x");\n'), []);
    const errs = snippetErrors('engine', 'extension/engine', 'export const t = document.title;\n');
    assert.ok(errs.some((e) => /Cannot find name 'document'/.test(e)), errs.join('\n'));
  });

  test('the webview has the DOM but no Node', () => {
    assert.deepEqual(snippetErrors('webview', 'webview', 'export const t = document.title;\n'), []);
    const errs = snippetErrors('webview', 'webview', "export const a = process.argv;\nexport const b = typeof require;\nimport { readFileSync } from 'node:fs';\nexport { readFileSync };\n");
    assert.ok(errs.some((e) => /Cannot find name 'process'/.test(e)), errs.join('\n'));
    assert.ok(errs.some((e) => /Cannot find name 'require'/.test(e)), errs.join('\n'));
    assert.ok(errs.some((e) => /Cannot find module 'node:fs'/.test(e)), errs.join('\n'));
  });

  test('the protocol package has neither', () => {
    const errs = snippetErrors('protocol', 'extension/protocol', 'export const t = document.title;\nexport const a = process.argv;\n');
    assert.ok(errs.some((e) => /Cannot find name 'document'/.test(e)), errs.join('\n'));
    assert.ok(errs.some((e) => /Cannot find name 'process'/.test(e)), errs.join('\n'));
  });

  test('the host has Node and vscode but no DOM', () => {
    assert.deepEqual(snippetErrors('host', 'extension', "import * as vscode from 'vscode';\nexport const a = [vscode.window, process.argv];\n"), []);
    const errs = snippetErrors('host', 'extension', 'export const t = document.title;\n');
    assert.ok(errs.some((e) => /Cannot find name 'document'/.test(e)), errs.join('\n'));
  });
});
