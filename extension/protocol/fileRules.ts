// What both readers of files (the extension host for the editor, the engine
// for the command line) decide the same way: which sibling names are allowed,
// how a file that is not a regular file is called, why a read failed, and how
// a byte limit is written in a message. Pure functions: no Node, no vscode.

/** True when `name` is a plain relative path: no absolute path, drive, URL, NUL or "..". */
export function isPlainRelativeName(name: string): boolean {
  return (
    name.length > 0 &&
    !name.includes('\0') &&
    !/^[a-z][a-z0-9+.-]*:/i.test(name) &&
    !name.startsWith('/') &&
    !name.startsWith('\\') &&
    !name.split(/[\\/]/).some((s) => s === '..')
  );
}

/** The parts of a file's status that say what it is (Node's fs.Stats has them). */
export interface FileKindProbe {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
  isSymbolicLink(): boolean;
}

/** What a non-regular file is, in words. */
export function fileKindText(st: FileKindProbe): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** Why a read failed, from a Node errno code or a vscode FileSystemError code. */
export function unreadableReason(code: unknown): string {
  return code === 'ENOENT' || code === 'FileNotFound' ? 'no such file'
    : code === 'EISDIR' || code === 'FileIsADirectory' ? 'it is a folder'
    : code === 'EACCES' || code === 'EPERM' || code === 'NoPermissions' ? 'permission denied'
    : code === 'ELOOP' ? 'a loop of symbolic links'
    : typeof code === 'string' ? code
    : 'unreadable';
}

const MB = 1024 * 1024;

/** "12 MB", "4 KB", "100 bytes": a limit for messages. */
export function formatBytes(n: number): string {
  if (n >= MB) return `${+(n / MB).toFixed(1)} MB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}
