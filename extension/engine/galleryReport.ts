// The dataset gallery as one self-contained HTML file (`dtd-lens explain MODEL
// --inputs … --html gallery.html`): the gallery bundle (dist/gallery.js, from
// webview/gallery.ts) and its css inlined under the same nonce-based CSP as the
// single-result report, the payload as a JSON data block. Every value from a
// file (names, messages) is data: the page sets it as text, never as markup.

import { randomBytes } from 'node:crypto';
import { GALLERY_DATA_ID, type GalleryPayload, jsonForScript, plainText, webviewHtml } from '../protocol';

export function renderGalleryHtml(payload: GalleryPayload, galleryJs: string, css: string, nonce = randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '')): string {
  return webviewHtml({
    cspSource: '',
    nonce,
    scriptUri: '',
    styleUri: '',
    inlineScript: galleryJs,
    inlineStyle: css,
    dataBlocks: { [GALLERY_DATA_ID]: jsonForScript(payload) },
    bodyClass: 'vscode-light',
    title: plainText(payload.title, 300),
  });
}
