// Import-boundary check: the layering of DESIGN.md §2, enforced on every import.
//
//   protocol  extension/protocol/**   imports only itself (no packages, no Node, no vscode)
//   engine    extension/engine/**     engine, protocol, npm packages (not vscode), Node builtins
//   host      extension/** (the rest) host, protocol, vscode, Node builtins; never engine
//                                     internals (it forks dist/engine.js) nor the webview
//   webview   webview/**              webview, protocol, browser packages (d3); no Node, no vscode
//
// Every import form counts, type-only ones included (the protocol package owns every
// shared type): import/export … from, import x = require(), require(), import(),
// import('x') types, calls of a createRequire() result and /// <reference types|path|lib>.
// Globals (DOM in the engine, Node in the webview) are kept out by the per-program
// tsconfigs instead (tsconfig.{protocol,engine,host,webview}.json).
//
//   node --import tsx scripts/check-imports.ts [root]
//
// prints `file:line: 'specifier' → why` for each violation and exits 1 if there is one.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import ts from 'typescript';

export type Program = 'protocol' | 'engine' | 'host' | 'webview';

export interface Violation {
  /** Path relative to the root, with forward slashes. */
  file: string;
  line: number;
  specifier: string;
  why: string;
}

/** Folders that are scanned; a file's program is decided by programOf. */
const SCANNED = ['extension', 'webview'];
const SOURCE = /\.(ts|mts|cts|tsx)$/;

/** Which program a root-relative path belongs to (undefined: none of the four, e.g. test/). */
export function programOf(rel: string): Program | undefined {
  if (rel === 'extension/protocol' || rel.startsWith('extension/protocol/')) return 'protocol';
  if (rel === 'extension/engine' || rel.startsWith('extension/engine/')) return 'engine';
  if (rel.startsWith('extension/')) return 'host';
  if (rel === 'webview' || rel.startsWith('webview/')) return 'webview';
  return undefined;
}

interface Policy {
  /** Programs whose files it may import (relative imports). */
  programs: Program[];
  nodeBuiltins: boolean;
  vscode: boolean;
  /** npm packages (other than vscode) it may import; the reason quoted when one is refused. */
  packages: ((name: string) => boolean) | null;
  packagesWhy: string;
  /** Files outside the four programs it may import, root-relative (e.g. the manifest for the version). */
  rootFiles: string[];
  /** /// <reference lib="…"> it may use. */
  libs: (lib: string) => boolean;
}

const isD3 = (name: string) => name === 'd3' || name.startsWith('d3-');

export const POLICIES: Record<Program, Policy> = {
  protocol: {
    programs: ['protocol'],
    nodeBuiltins: false,
    vscode: false,
    packages: null,
    packagesWhy: 'the protocol package is shared by all three programs and imports nothing but itself',
    rootFiles: [],
    libs: (lib) => /^es/i.test(lib),
  },
  engine: {
    programs: ['engine', 'protocol'],
    nodeBuiltins: true,
    vscode: false,
    packages: (name) => !isD3(name),
    packagesWhy: 'the engine draws nothing: d3 belongs to the webview',
    rootFiles: ['package.json'],
    libs: (lib) => !/^dom/i.test(lib),
  },
  host: {
    programs: ['host', 'protocol'],
    nodeBuiltins: true,
    vscode: true,
    packages: null,
    packagesWhy: 'the host imports only vscode and Node builtins (it does no tensor math, reads no model formats and draws nothing)',
    rootFiles: ['package.json'],
    libs: (lib) => !/^dom/i.test(lib),
  },
  webview: {
    programs: ['webview', 'protocol'],
    nodeBuiltins: false,
    vscode: false,
    packages: isD3,
    packagesWhy: 'the webview is a browser page: only browser packages (d3) are bundled into it',
    rootFiles: [],
    libs: () => true,
  },
};

const PROGRAM_WHY: Record<Program, Partial<Record<Program, string>>> = {
  protocol: {
    engine: 'the protocol package imports nothing but itself',
    host: 'the protocol package imports nothing but itself',
    webview: 'the protocol package imports nothing but itself',
  },
  engine: {
    host: 'the engine never imports the extension host (it runs without VS Code)',
    webview: 'the engine never imports the webview (a browser page)',
  },
  host: {
    engine: 'the host never imports engine internals: it forks dist/engine.js and shares only the protocol package',
    webview: 'the host never imports the webview: it shares only the protocol package with it',
  },
  webview: {
    engine: 'the webview never imports the engine: results arrive as messages typed by the protocol package',
    host: 'the webview never imports the extension host: it talks to it with postMessage',
  },
};

const BUILTINS = new Set(builtinModules);

function isBuiltin(spec: string): boolean {
  if (spec.startsWith('node:')) return true;
  return BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0]);
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

interface Found {
  specifier: string;
  line: number;
  kind: 'module' | 'types' | 'path' | 'lib';
}

/** Every module a source file names, with the 1-based line where it does. */
export function importsOf(fileName: string, text: string): Found[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const out: Found[] = [];
  const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const add = (lit: ts.Node | undefined) => {
    if (lit && ts.isStringLiteralLike(lit)) out.push({ specifier: lit.text, line: lineOf(lit.getStart(sf)), kind: 'module' });
  };
  for (const r of sf.typeReferenceDirectives) out.push({ specifier: r.fileName, line: lineOf(r.pos), kind: 'types' });
  for (const r of sf.referencedFiles) out.push({ specifier: r.fileName, line: lineOf(r.pos), kind: 'path' });
  for (const r of sf.libReferenceDirectives) out.push({ specifier: r.fileName, line: lineOf(r.pos), kind: 'lib' });

  // Names bound to createRequire(...) anywhere in the file: calls of them are requires too.
  const requireNames = new Set(['require']);
  const bindings = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isCallExpression(node.initializer)) {
      const callee = node.initializer.expression;
      const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : '';
      if (name === 'createRequire') requireNames.add(node.name.text);
    }
    ts.forEachChild(node, bindings);
  };
  bindings(sf);
  const isRequire = (e: ts.Expression) => ts.isIdentifier(e) && requireNames.has(e.text);

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      // import('x'), require('x'), req('x') and req.resolve('x') with req = createRequire(…)
      if (callee.kind === ts.SyntaxKind.ImportKeyword || isRequire(callee)) add(node.arguments[0]);
      else if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'resolve' && isRequire(callee.expression)) add(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  // One entry per module and line (req('node:fs') as typeof import('node:fs') names it twice).
  const seen = new Set<string>();
  return out.filter((f) => {
    const key = `${f.line}\0${f.kind}\0${f.specifier}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/** The violations of one file (rel: root-relative path), given its text. */
export function checkFile(rel: string, text: string): Violation[] {
  const program = programOf(rel);
  if (!program) return [];
  const policy = POLICIES[program];
  const out: Violation[] = [];
  for (const f of importsOf(rel, text)) {
    const v = (why: string) => out.push({ file: rel, line: f.line, specifier: f.specifier, why });
    if (f.kind === 'lib') {
      if (!policy.libs(f.specifier)) v(`the ${program} may not pull in lib "${f.specifier}" (the DOM belongs to the webview; the protocol package uses no environment at all)`);
      continue;
    }
    const relative = f.kind === 'path' || f.specifier.startsWith('./') || f.specifier.startsWith('../') || f.specifier === '.' || f.specifier === '..';
    if (relative) {
      const target = toPosix(path.posix.normalize(path.posix.join(path.posix.dirname(rel), f.specifier)));
      if (target.startsWith('../')) {
        v(`resolves outside the repository (${target})`);
        continue;
      }
      const to = programOf(target);
      if (to) {
        if (!policy.programs.includes(to)) v(PROGRAM_WHY[program][to] ?? `the ${program} may not import the ${to}`);
      } else if (!policy.rootFiles.includes(target)) {
        v(`${target} is outside the ${program}'s reach (it may import ${policy.programs.join(', ')}${policy.rootFiles.length ? ' and ' + policy.rootFiles.join(', ') : ''})`);
      }
      continue;
    }
    if (path.isAbsolute(f.specifier)) {
      v('absolute import paths are not portable');
      continue;
    }
    // A bare specifier: vscode, a Node builtin or an npm package (or @types via /// <reference types>).
    const name = f.kind === 'types' ? f.specifier.replace(/^@types\//, '') : packageName(f.specifier);
    if (name === 'vscode') {
      if (!policy.vscode) v(`the ${program} never imports vscode (${program === 'engine' ? 'it also runs as a command line, without VS Code' : program === 'webview' ? 'the webview is a browser page' : 'the protocol package is shared by all three programs'})`);
    } else if (f.kind === 'types' ? name === 'node' : isBuiltin(f.specifier)) {
      if (!policy.nodeBuiltins) v(`the ${program} never imports Node modules (${program === 'webview' ? 'the webview runs in a browser' : 'the protocol package is shared with the webview'})`);
    } else if (!policy.packages || !policy.packages(name)) {
      v(`npm package '${name}' is not allowed here: ${policy.packagesWhy}`);
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

function walk(dir: string, out: string[]): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries.sort()) {
    if (e === 'node_modules' || e.startsWith('.')) continue;
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (SOURCE.test(e)) out.push(p);
  }
}

/** Checks every source file of the four programs under root. */
export function checkImports(root: string): { files: number; violations: Violation[] } {
  const files: string[] = [];
  for (const d of SCANNED) walk(path.join(root, d), files);
  const violations: Violation[] = [];
  for (const f of files) violations.push(...checkFile(toPosix(path.relative(root, f)), readFileSync(f, 'utf8')));
  return { files: files.length, violations };
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}: '${v.specifier}' → ${v.why}`;
}

if (require.main === module) {
  const root = path.resolve(process.argv[2] ?? process.cwd());
  const { files, violations } = checkImports(root);
  for (const v of violations) console.error(formatViolation(v));
  if (violations.length) {
    console.error(`\n${violations.length} import${violations.length === 1 ? '' : 's'} break the layering (DESIGN.md §2); ${files} files checked.`);
    process.exit(1);
  }
  console.log(`Import boundaries: ${files} files checked, no violations.`);
}
