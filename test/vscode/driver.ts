// A stand-in "VS Code executable" for @vscode/test-electron's runTests():
// accepts its Electron-style arguments, serves the real VS Code workbench with
// code-server (installed by test/vscode/setup.sh), opens it in headless
// Chromium with the smoke-test driver, lets the workbench run the extension
// tests in its real extension host, and exits with their code. After the
// in-host suite it runs the Playwright UI suite (ui.ts) against a fresh window
// of the same server. Started through test/vscode/code-server-test.sh.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, OUTPUT, openWorkbench, startCodeServer } from './codeServer';
import { runUiSuite } from './ui';

interface Args {
  extensionDevelopmentPath: string;
  extensionTestsPath: string;
  userDataDir: string;
  extensionsDir: string;
  folder: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const positional = argv.filter((a) => !a.startsWith('-'));
  const a = {
    extensionDevelopmentPath: get('extensionDevelopmentPath'),
    extensionTestsPath: get('extensionTestsPath'),
    userDataDir: get('user-data-dir'),
    extensionsDir: get('extensions-dir'),
    folder: positional[positional.length - 1],
  };
  for (const [k, v] of Object.entries(a)) if (!v) throw new Error(`driver: missing ${k} in arguments: ${argv.join(' ')}`);
  return a as Args;
}

function printHostLog(type: string, args: unknown[]): void {
  const text = (Array.isArray(args) ? args : [args]).map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
  if (type === 'error') process.stderr.write(`${text}\n`);
  else process.stdout.write(`${text}\n`);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(OUTPUT, { recursive: true });
  const started = Date.now();
  const server = await startCodeServer({ ...args, logFile: join(OUTPUT, 'code-server.log') });
  console.log(`driver: code-server on ${server.base} (log: test-output/code-server.log)`);
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const suiteTimeoutMs = Number(process.env.DTD_VSCODE_SUITE_TIMEOUT_MS ?? 600000);
    let code = 0;
    if (process.env.DTD_VSCODE_SKIP_HOST !== '1') {
      const payload: [string, string][] = [
        ['extensionDevelopmentPath', server.remote(args.extensionDevelopmentPath)],
        ['extensionTestsPath', server.remote(args.extensionTestsPath)],
      ];
      const { page, exit } = await openWorkbench(browser, server.url(args.folder, payload), printHostLog);
      const timeout = new Promise<number>((r) => setTimeout(() => r(-1), suiteTimeoutMs));
      code = await Promise.race([exit, timeout]);
      if (code === -1) {
        console.error(`driver: the in-host suite did not finish within ${suiteTimeoutMs / 1000} s`);
        await page.screenshot({ path: join(OUTPUT, 'screenshots', 'host-suite-timeout.png') }).catch(() => undefined);
        code = 1;
      }
      console.log(`driver: in-host suite exit code ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      await page.context().close();
    }
    if (process.env.DTD_VSCODE_SKIP_UI !== '1') {
      const uiCode = await runUiSuite({ browser, server, folder: args.folder, extensionDevelopmentPath: args.extensionDevelopmentPath, outputDir: OUTPUT });
      console.log(`driver: UI suite exit code ${uiCode}`);
      code = code || uiCode;
    }
    console.log(`driver: total ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return code;
  } finally {
    await browser?.close().catch(() => undefined);
    server.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
