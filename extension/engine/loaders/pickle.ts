// A restricted unpickler for PyTorch state dicts. It interprets the pickle
// opcodes a tensor state dict uses (protocols 2 to 5) as data only: a GLOBAL
// resolves to an inert marker, and only these callables are "called", by code
// written here: collections.OrderedDict, torch._utils._rebuild_tensor(_v2),
// torch._utils._rebuild_parameter(_with_state), the torch.*Storage classes
// (named by persistent ids that point at archive/data/N, or in a legacy pre-1.6
// file at the raw storages after the pickles). Every other GLOBAL
// (os.system, builtins.eval, a user's nn.Module class, ...) is collected and
// the whole pickle is refused with one message naming them; nothing from the
// file is ever executed. Other opcodes (INST, OBJ, EXT*, PERSID text, ...) are
// refused as well. The VM is bounded (LIMITS.pickleStack, pickleMemo, pickleMarks,
// pickleItems): a pickle of 2×10⁸ NONE opcodes or a 500 000-item APPENDS is
// refused with a message instead of exhausting the heap or the call stack.

import { badModel, unsupported } from './common';
import { LIMITS, quoteName, quoteNames } from '../../protocol';
import { count } from '../budget';

export class PGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

export class PTuple {
  constructor(readonly items: unknown[]) {}
}

export class PDict {
  readonly entries = new Map<unknown, unknown>();
}

export class PStorage {
  constructor(readonly dtype: string, readonly key: string, readonly location: string, readonly numel: number) {}
}

export class PTensor {
  constructor(readonly storage: PStorage, readonly offset: number, readonly size: number[], readonly stride: number[]) {}
}

/** The result of calling something we refused (kept only so the VM can go on and list every refusal). */
class PRefused {
  constructor(readonly what: string) {}
}

/** torch.<X>Storage → safetensors-style dtype names. */
export const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

const ALLOWED_CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
]);

function isAllowedGlobal(g: PGlobal): boolean {
  return ALLOWED_CALLABLES.has(g.qualified) || (g.module === 'torch' && g.name in STORAGE_DTYPES);
}

const OPCODE_NAMES: Record<number, string> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x50: 'PERSID', 0x92: 'NEWOBJ_EX', 0x97: 'BYTEARRAY8', 0x98: 'NEXT_BUFFER', 0x99: 'READONLY_BUFFER',
  0x49: 'INT', 0x4c: 'LONG', 0x46: 'FLOAT', 0x53: 'STRING', 0x56: 'UNICODE', 0x64: 'DICT', 0x6c: 'LIST', 0x67: 'GET', 0x70: 'PUT',
};

/**
 * Runs the pickle and returns its top-level value. `fileName` names the model in messages,
 * `where` the pickle inside it (e.g. archive/data.pkl).
 */
export function unpickleStateDict(bytes: Uint8Array, fileName: string, where: string): unknown {
  return unpickleAt(bytes, fileName, where).value;
}

export interface Unpickled {
  /** The pickle's top-level value. */
  value: unknown;
  /** The byte after its STOP opcode (where the next pickle of a stream starts). */
  end: number;
  /** Every tensor storage its persistent ids named, in order. */
  storages: PStorage[];
}

/**
 * Runs the one pickle that starts at byte `start` of `bytes` (a legacy torch.save file is a
 * stream of pickles) and says where it ended.
 */
export function unpickleAt(bytes: Uint8Array, fileName: string, where: string, start = 0): Unpickled {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (problem: string) => badModel(fileName, `${where}: ${problem}`);
  const stack: unknown[] = [];
  const marks: number[] = [];
  // The memo: an array (dense MEMOIZE slots are fast; sparse BINPUT slots make it holey, still correct).
  const memo: unknown[] = [];
  let memoized = 0;
  const refused = new Map<string, PGlobal>();
  const storages: PStorage[] = [];
  let pos = start;
  const need = (n: number) => {
    if (pos + n > bytes.length) throw fail('the pickle ends early (truncated file).');
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const take = (n: number) => {
    if (n > bytes.length - pos) throw fail(`a string claims ${n} bytes but only ${bytes.length - pos} remain (truncated or corrupt).`);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const utf8 = (b: Uint8Array) => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      throw fail('a string is not valid UTF-8.');
    }
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw fail('a GLOBAL name is not terminated (truncated file).');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: unknown) => {
    if (stack.length >= LIMITS.pickleStack) throw fail(`the pickle puts more than ${count(LIMITS.pickleStack)} values on its stack; refused (hostile or corrupt).`);
    stack.push(v);
  };
  let items = 0;
  /** Counts values put into lists, tuples and dicts (LIMITS.pickleItems for the whole pickle). */
  const stored = (n: number) => {
    items += n;
    if (items > LIMITS.pickleItems) throw fail(`the pickle builds more than ${count(LIMITS.pickleItems)} values into lists, tuples and dicts; refused (hostile or too large for a state dict).`);
  };
  const memoize = (k: number, v: unknown) => {
    if (!(k in memo)) {
      if (memoized >= LIMITS.pickleMemo) throw fail(`the pickle memoizes more than ${count(LIMITS.pickleMemo)} values; refused (hostile or corrupt).`);
      memoized++;
    }
    memo[k] = v;
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) throw fail('the pickle pops from an empty stack (corrupt).');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) throw fail('the pickle closes a MARK that was never set (corrupt).');
    const out = stack.splice(m);
    stored(out.length);
    return out;
  };
  const top = () => {
    if (stack.length === 0) throw fail('the pickle reads an empty stack (corrupt).');
    return stack[stack.length - 1];
  };
  const global = (module: string, name: string) => {
    const g = new PGlobal(module, name);
    if (!isAllowedGlobal(g)) refused.set(g.qualified, g);
    push(g);
  };
  const toInt = (v: unknown, what: string): number => {
    if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
    throw fail(`${what} is ${describe(v)}, not an integer.`);
  };
  const ints = (v: unknown, what: string): number[] => {
    if (!(v instanceof PTuple)) throw fail(`${what} is ${describe(v)}, not a tuple.`);
    return v.items.map((x) => toInt(x, what));
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof PGlobal)) {
      if (fn instanceof PRefused) return fn;
      throw fail(`the pickle calls ${describe(fn)}, which is not a function.`);
    }
    if (!isAllowedGlobal(fn)) return new PRefused(fn.qualified);
    const a = args instanceof PTuple ? args.items : null;
    if (!a) throw fail(`${fn.qualified} is called with ${describe(args)} instead of a tuple of arguments.`);
    switch (fn.qualified) {
      case 'collections.OrderedDict': {
        const d = new PDict();
        if (a.length > 0 && Array.isArray(a[0])) for (const pair of a[0]) if (pair instanceof PTuple && pair.items.length === 2) d.entries.set(pair.items[0], pair.items[1]);
        return d;
      }
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = a;
        if (!(storage instanceof PStorage)) throw fail(`a tensor is rebuilt from ${describe(storage)} instead of a storage.`);
        return new PTensor(storage, toInt(offset, 'a tensor offset'), ints(size, 'a tensor size'), ints(stride, 'a tensor stride'));
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state': {
        if (!(a[0] instanceof PTensor)) throw fail(`a parameter wraps ${describe(a[0])} instead of a tensor.`);
        return a[0];
      }
      default:
        // Storage classes are only names inside persistent ids; calling one is not how state dicts use them.
        throw fail(`the pickle calls ${fn.qualified} directly, which a state dict never does.`);
    }
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: take(8); break; // FRAME: a length hint, the data follows inline
      case 0x2e: { // STOP
        if (refused.size > 0) throw refusal([...refused.values()], fileName);
        if (stack.length !== 1) throw fail(`the pickle stops with ${stack.length} values on its stack (corrupt).`);
        return { value: stack[0], end: pos, storages };
      }
      case 0x28: // MARK
        if (marks.length >= LIMITS.pickleMarks) throw fail(`the pickle nests more than ${count(LIMITS.pickleMarks)} MARKs; refused (hostile or corrupt).`);
        marks.push(stack.length);
        break;
      case 0x7d: push(new PDict()); break; // EMPTY_DICT
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(new PTuple([])); break; // EMPTY_TUPLE
      case 0x74: push(new PTuple(popMark())); break; // TUPLE
      case 0x85: stored(1); push(new PTuple([pop()])); break; // TUPLE1
      case 0x86: { stored(2); const b = pop(); const a = pop(); push(new PTuple([a, b])); break; } // TUPLE2
      case 0x87: { stored(3); const c = pop(); const b = pop(); const a = pop(); push(new PTuple([a, b, c])); break; } // TUPLE3
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: { // LONG1
        const n = u8();
        const b = take(n);
        let v = 0n;
        for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(b[k]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: need(8); push(view.getFloat64(pos, false)); pos += 8; break; // BINFLOAT
      case 0x58: push(utf8(take(u32()))); break; // BINUNICODE
      case 0x8c: push(utf8(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: { need(8); const n = Number(view.getBigUint64(pos, true)); pos += 8; push(utf8(take(n))); break; } // BINUNICODE8
      case 0x54: push(new TextDecoder('latin1').decode(take(u32()))); break; // BINSTRING
      case 0x55: push(new TextDecoder('latin1').decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: push(take(u32()).slice()); break; // BINBYTES
      case 0x43: push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x71: memoize(u8(), top()); break; // BINPUT
      case 0x72: memoize(u32(), top()); break; // LONG_BINPUT
      case 0x94: memoize(memoized, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!(k in memo)) throw fail(`the pickle reads memo slot ${k}, which was never written (corrupt).`);
        push(memo[k]);
        break;
      }
      case 0x63: { const module = line(); global(module, line()); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL needs two strings (corrupt).');
        global(module, name);
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); push(call(fn, args)); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); push(call(cls, args)); break; } // NEWOBJ
      case 0x62: pop(); break; // BUILD: state (OrderedDict._metadata, parameter state) is not needed
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        const d = top();
        stored(2);
        if (d instanceof PDict) d.entries.set(k, v);
        else if (!(d instanceof PRefused)) throw fail(`SETITEM on ${describe(d)} (corrupt).`);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = top();
        if (items.length % 2) throw fail('SETITEMS with an odd number of values (corrupt).');
        if (d instanceof PDict) for (let k = 0; k < items.length; k += 2) d.entries.set(items[k], items[k + 1]);
        else if (!(d instanceof PRefused)) throw fail(`SETITEMS on ${describe(d)} (corrupt).`);
        break;
      }
      case 0x61: { const v = pop(); const l = top(); stored(1); if (Array.isArray(l)) l.push(v); else if (!(l instanceof PRefused)) throw fail(`APPEND on ${describe(l)} (corrupt).`); break; } // APPEND
      case 0x65: { // APPENDS: one value at a time (push(...values) overflows the call stack for large batches)
        const values = popMark();
        const l = top();
        if (Array.isArray(l)) for (const v of values) l.push(v);
        else if (!(l instanceof PRefused)) throw fail(`APPENDS on ${describe(l)} (corrupt).`);
        break;
      }
      case 0x51: { // BINPERSID: ('storage', torch.XStorage, key, location, numel), legacy files add view_metadata
        const pid = pop();
        const t = pid instanceof PTuple ? pid.items : [];
        const [kind, type, key, location, numel, viewMetadata] = t;
        if (kind !== 'storage' || !(type instanceof PGlobal) || typeof key !== 'string') throw fail(`a persistent id is ${describe(pid)}, not a tensor storage.`);
        // (root key, offset, bytes): a storage view, written by PyTorch < 1.0 only when two storages overlapped.
        if (viewMetadata !== undefined && viewMetadata !== null) throw unsupported(fileName, `${where}: storage ${quoteName(key)} is a view into another storage (${describe(viewMetadata)}); DTD Lens reads storages saved whole: load and re-save the state dict with a recent PyTorch.`);
        if (!(type.module === 'torch' && type.name in STORAGE_DTYPES)) {
          refused.set(type.qualified, type);
          push(new PRefused(type.qualified));
          break;
        }
        const storage = new PStorage(STORAGE_DTYPES[type.name], key, typeof location === 'string' ? location : 'cpu', toInt(numel, 'a storage size'));
        storages.push(storage);
        push(storage);
        break;
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      default: {
        const name = OPCODE_NAMES[op];
        if (refused.size > 0) throw refusal([...refused.values()], fileName);
        throw fail(`pickle opcode ${name ?? `0x${op.toString(16).padStart(2, '0')}`} at byte ${at} is not one a tensor state dict uses; ${name ? 'refused' : 'the file is corrupt or not a PyTorch file'}.`);
      }
    }
  }
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PGlobal) return quoteName(v.qualified);
  if (v instanceof PTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof PDict) return 'a dict';
  if (v instanceof PTensor) return 'a tensor';
  if (v instanceof PStorage) return 'a storage';
  if (v instanceof PRefused) return `the result of ${v.what}`;
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === 'string') return quoteName(v, 40);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return 'an unexpected value';
}

/** One message for every global we refused: calls (os.system) or pickled objects/modules (__main__.Net). */
function refusal(globals: PGlobal[], fileName: string): Error {
  const classLike = (g: PGlobal) => /^[A-Z]/.test(g.name) || g.module.startsWith('torch.nn') || g.module === '__main__';
  const objects = globals.filter(classLike);
  const calls = globals.filter((g) => !classLike(g));
  const names = (gs: PGlobal[]) => quoteNames(gs.map((g) => g.qualified));
  const parts: string[] = [];
  if (calls.length) parts.push(`refused: the pickle asks to call ${names(calls)}; DTD Lens only reads tensor state dicts, a full pickled module could run arbitrary code`);
  if (objects.length) {
    parts.push(
      `refused: the pickle holds a full pickled module or object (${names(objects)}); unpickling it would run code from the file, so DTD Lens only reads tensor state dicts: save one with torch.save(model.state_dict(), path)`,
    );
  }
  // A pickled module is a format DTD Lens does not read; a call to anything else is hostile.
  return calls.length ? badModel(fileName, `${parts.join('. ')}.`) : unsupported(fileName, `${parts.join('. ')}.`);
}
