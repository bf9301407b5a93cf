// Minimal types for jsfive (a pure-JS, read-only HDF5 reader, which ships no types):
// only what loaders/keras.ts uses.
declare module 'jsfive' {
  export class Group {
    readonly keys: string[];
    readonly attrs: Record<string, unknown>;
    get(path: string): Group | Dataset | null;
  }
  export class Dataset {
    readonly shape: number[];
    readonly dtype: unknown;
    readonly value: ArrayLike<number> | unknown;
    readonly attrs: Record<string, unknown>;
  }
  export class File extends Group {
    constructor(buffer: ArrayBuffer, filename?: string);
  }
}
declare module 'jsfive' {
  /** Filter id → decoder (ArrayBuffer → ArrayBuffer); 1 is gzip. */
  export const Filters: Map<number, (buf: ArrayBuffer, itemsize: number, clientData?: unknown) => ArrayBuffer>;
}
