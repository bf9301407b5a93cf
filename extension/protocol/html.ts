// The webview's HTML shell with its Content Security Policy. Shared by the
// extension host (scriptUri/styleUri from `asWebviewUri`) and the standalone
// report writer (script and css inlined). No DOM and no Node imports: both
// sides call it as a plain string function.

export interface WebviewHtmlOptions {
  /** `webview.cspSource` in VS Code; '' for the standalone report. */
  cspSource: string;
  /** A fresh random nonce per page (base64 / alphanumeric). */
  nonce: string;
  /** URI of dist/webview.js; ignored when `inlineScript` is given. */
  scriptUri: string;
  /** URI of media/webview.css; ignored when `inlineStyle` is given. */
  styleUri: string;
  /** Report mode: the bundle itself, placed in a nonce'd inline script. */
  inlineScript?: string;
  /** Report mode: the css itself, placed in a nonce'd inline style. */
  inlineStyle?: string;
  /** Report mode: script run before the bundle (e.g. a fake `acquireVsCodeApi`). */
  preludeScript?: string;
  /** Non-executable JSON data blocks, by element id (read by the prelude). */
  dataBlocks?: Record<string, string>;
  /** Class put on <body> (report mode: the theme, e.g. 'vscode-light'). */
  bodyClass?: string;
  title?: string;
}

export function escapeHtmlAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Makes text safe inside <script>…</script>: no "</script", no "<!--" that could end or confuse the element. */
export function escapeScriptText(s: string): string {
  return s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** JSON safe inside a <script type="application/json"> block. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  const src = cspSource ? ` ${cspSource}` : '';
  return [
    "default-src 'none'",
    `img-src${src} data: blob:`,
    `style-src${src} 'nonce-${nonce}'`,
    `font-src${src}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

export function webviewHtml(opts: WebviewHtmlOptions): string {
  const nonce = escapeHtmlAttr(opts.nonce);
  const csp = escapeHtmlAttr(contentSecurityPolicy(opts.cspSource, opts.nonce));
  const style =
    opts.inlineStyle !== undefined
      ? `<style nonce="${nonce}">${opts.inlineStyle.replace(/<\/(style)/gi, '<\\/$1')}</style>`
      : `<link rel="stylesheet" nonce="${nonce}" href="${escapeHtmlAttr(opts.styleUri)}">`;
  const data = Object.entries(opts.dataBlocks ?? {})
    .map(([id, json]) => `<script type="application/json" id="${escapeHtmlAttr(id)}">${json}</script>`)
    .join('\n');
  const prelude = opts.preludeScript ? `<script nonce="${nonce}">${escapeScriptText(opts.preludeScript)}</script>` : '';
  const script =
    opts.inlineScript !== undefined
      ? `<script nonce="${nonce}">${escapeScriptText(opts.inlineScript)}</script>`
      : `<script nonce="${nonce}" src="${escapeHtmlAttr(opts.scriptUri)}"></script>`;
  const bodyClass = opts.bodyClass ? ` class="${escapeHtmlAttr(opts.bodyClass)}"` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtmlAttr(opts.title ?? 'DTD Lens')}</title>
${style}
</head>
<body${bodyClass}>
<div id="app" data-state="empty"><p class="empty">Waiting for a result…</p></div>
${data}
${prelude}
${script}
</body>
</html>
`;
}
