// The protocol package: everything that crosses a process boundary or is shared
// by more than one program (engine + command line, extension host, webview,
// HTML report). Messages, result and option types, defaults, formats, the root
// checks' vocabulary, the webview's HTML shell and the text sanitiser. Nothing
// here imports vscode, the DOM or Node modules.

export * from './result';
export * from './rules';
export * from './audit';
export * from './image';
export * from './messages';
export * from './defaults';
export * from './formats';
export * from './html';
export * from './checks';
export * from './migrate';
export * from './pages';
export * from './provenance';
export * from './limits';
export * from './text';
export * from './fileRules';
export * from './dataset';
