// The dataset gallery in a webview panel (VS Code's side of webview/gallery.ts):
// the engine's gallery payload as a JSON data block under the nonce-based CSP
// (protocol/html.ts), the bundle dist/gallery.js and media/gallery.css. A click
// on an item posts {type: 'openItem', inputIndex}; the panel hands it to
// `onOpen`, which explains that input alone in the normal visualizer.

import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { GALLERY_DATA_ID, type GalleryPayload, jsonForScript, plainText, webviewHtml } from '../protocol';

export const GALLERY_VIEW_TYPE = 'dtdLens.gallery';

export interface GalleryPanelEvents {
  onOpen(inputIndex: number): void;
  /** The page drew its items (for tests and the log). */
  onRendered?(items: number): void;
}

export function openGalleryPanel(extensionUri: vscode.Uri, payload: GalleryPayload, events: GalleryPanelEvents): vscode.WebviewPanel {
  const panel = vscode.window.createWebviewPanel(GALLERY_VIEW_TYPE, plainText(`DTD Lens: ${payload.title}`, 120), { viewColumn: vscode.ViewColumn.Active }, {
    enableScripts: true,
    retainContextWhenHidden: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  });
  const webview = panel.webview;
  const nonce = randomBytes(16).toString('base64').replace(/[^A-Za-z0-9]/g, '');
  webview.html = webviewHtml({
    cspSource: webview.cspSource,
    nonce,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'gallery.js')).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'gallery.css')).toString(),
    dataBlocks: { [GALLERY_DATA_ID]: jsonForScript(payload) },
    title: plainText(payload.title, 300),
  });
  const known = new Set(payload.items.map((i) => i.inputIndex));
  panel.webview.onDidReceiveMessage((m: unknown) => {
    if (typeof m !== 'object' || m === null) return;
    const msg = m as { type?: unknown; inputIndex?: unknown; items?: unknown };
    // Only items the gallery holds: the page is data, its messages are checked.
    if (msg.type === 'openItem' && typeof msg.inputIndex === 'number' && known.has(msg.inputIndex)) events.onOpen(msg.inputIndex);
    else if (msg.type === 'galleryRendered' && typeof msg.items === 'number') events.onRendered?.(msg.items);
  });
  return panel;
}
