/**
 * A pickle virtual machine that never runs Python code. It builds plain values (numbers, strings, arrays,
 * Maps) and resolves GLOBAL/STACK_GLOBAL only through a caller-supplied allow-list; anything not on the list
 * is refused by name before it could ever be "called". Callables on the list are TypeScript functions.
 *
 * Value model: None -> null, bool -> boolean, int -> number (bigint beyond 2^53), float -> number,
 * str -> string, bytes -> Uint8Array, list -> array, tuple -> frozen array, dict -> Map, set -> Set.
 */
import { CheckpointError } from './errors.ts';
import { decodeLong, PickleReader, rawUnicodeUnescape, safeNumber, unescapePython } from './pickle-reader.ts';

/** An allow-listed Python callable (class or function), implemented in TypeScript. */
export interface PickleCallable {
  readonly pickleGlobal: string; // "module.name"
  call(args: readonly unknown[]): unknown;
}

export interface UnpickleOptions {
  /** The allow-list: return the callable for module.name, or undefined to refuse it. */
  resolveGlobal(module: string, name: string): PickleCallable | undefined;
  /** Resolve a persistent id (torch storages); without it BINPERSID is refused. */
  persistentLoad?(pid: unknown): unknown;
  /** Named in refusal messages, e.g. "the torch allow-list (collections.OrderedDict, ...)". */
  allowListDescription?: string;
}

const MAX_LONG_BYTES = 1024; // LONG4 beyond this is a denial-of-service attempt, not a state_dict

function isCallable(value: unknown): value is PickleCallable {
  return typeof value === 'object' && value !== null && 'pickleGlobal' in value && 'call' in value;
}

function tuple(items: unknown[]): readonly unknown[] {
  return Object.freeze(items);
}

/** Run the pickle in `bytes` and return the value STOP leaves on the stack. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  try {
    return run(bytes, options);
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(`corrupt pickle: ${(error as Error).message}`);
  }
}

function run(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const r = new PickleReader(bytes);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) {
      throw new CheckpointError('corrupt pickle: stack underflow');
    }
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) {
      throw new CheckpointError('corrupt pickle: stack underflow');
    }
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const mark = marks.pop();
    if (mark === undefined) throw new CheckpointError('corrupt pickle: no MARK on the stack');
    return stack.splice(mark);
  };
  const memoGet = (index: number): unknown => {
    if (!memo.has(index)) throw new CheckpointError(`corrupt pickle: memo ${index} was never stored`);
    return memo.get(index);
  };
  const global = (module: string, name: string): PickleCallable => {
    const resolved = options.resolveGlobal(module, name);
    if (!resolved) {
      const allowed = options.allowListDescription ? `; allowed: ${options.allowListDescription}` : '';
      throw new CheckpointError(
        `refusing pickle global "${module}.${name}": the checkpoint asks to load code that is not on the allow-list${allowed}`,
      );
    }
    return resolved;
  };
  const call = (callable: unknown, args: unknown, opcode: string): unknown => {
    if (!isCallable(callable)) throw new CheckpointError(`corrupt pickle: ${opcode} on a value that is not callable`);
    if (!Array.isArray(args)) throw new CheckpointError(`corrupt pickle: ${opcode} arguments are not a tuple`);
    return callable.call(args);
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Map)) throw new CheckpointError('corrupt pickle: SETITEM(S) on a value that is not a dict');
    if (items.length % 2 !== 0) throw new CheckpointError('corrupt pickle: odd number of dict items');
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) {
      throw new CheckpointError('corrupt pickle: APPEND(S) on a value that is not a list');
    }
    target.push(...items);
  };
  const persistent = (pid: unknown): unknown => {
    if (!options.persistentLoad) throw new CheckpointError('refusing pickle persistent id: no loader for this file');
    return options.persistentLoad(pid);
  };

  for (;;) {
    const op = r.u8();
    switch (op) {
      case 0x80: // PROTO
        if (r.u8() > 5) throw new CheckpointError('unsupported pickle protocol (newer than 5)');
        break;
      case 0x95: // FRAME: a length prefix only; the opcodes that follow are read as usual
        r.take(8);
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;

      // numbers and constants
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(r.i32());
        break;
      case 0x4b: // BININT1
        stack.push(r.u8());
        break;
      case 0x4d: // BININT2
        stack.push(r.u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(r.take(r.u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = r.i32();
        if (n < 0 || n > MAX_LONG_BYTES) throw new CheckpointError(`refusing a ${n}-byte pickle integer`);
        stack.push(decodeLong(r.take(n)));
        break;
      }
      case 0x49: {
        // INT (text); "I01"/"I00" are protocol 0's True/False
        const text = r.line();
        stack.push(text === '01' ? true : text === '00' ? false : safeNumber(BigInt(text)));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(safeNumber(BigInt(r.line().replace(/L$/, ''))));
        break;
      case 0x47: // BINFLOAT (big-endian double)
        stack.push(r.f64be());
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number.parseFloat(r.line()));
        break;

      // strings and bytes
      case 0x58: // BINUNICODE
        stack.push(r.utf8(r.u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(r.utf8(r.u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(r.utf8(r.u64()));
        break;
      case 0x56: // UNICODE (raw-unicode-escape line)
        stack.push(rawUnicodeUnescape(r.line()));
        break;
      case 0x53: // STRING (quoted repr line)
        stack.push(unescapePython(r.line().slice(1, -1)));
        break;
      case 0x54: // BINSTRING (python 2 str: decode as latin-1 like encoding='latin1')
      case 0x55: {
        // SHORT_BINSTRING
        const raw = r.take(op === 0x54 ? r.i32() : r.u8());
        stack.push(Array.from(raw, (b) => String.fromCharCode(b)).join(''));
        break;
      }
      case 0x42: // BINBYTES
        stack.push(new Uint8Array(r.take(r.u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(new Uint8Array(r.take(r.u8())));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(new Uint8Array(r.take(r.u64())));
        break;

      // containers
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(tuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(tuple([pop(), b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(tuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const item = pop();
        appendItems(top(), [item]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const dict = new Map();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) throw new CheckpointError('corrupt pickle: ADDITEMS on a value that is not a set');
        for (const item of items) set.add(item);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;

      // memo
      case 0x70: // PUT (text)
        memo.set(Number(r.line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(r.u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(r.u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET (text)
        stack.push(memoGet(Number(r.line())));
        break;
      case 0x68: // BINGET
        stack.push(memoGet(r.u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(r.u32()));
        break;

      // globals and objects: only allow-listed TypeScript callables, never Python
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = r.line();
        stack.push(global(module, r.line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw new CheckpointError('corrupt pickle: STACK_GLOBAL needs two strings');
        }
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        stack.push(call(callable, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args) -- our allow-listed classes build the finished value directly
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) {
          throw new CheckpointError('unsupported pickle: NEWOBJ_EX with keyword arguments');
        }
        stack.push(call(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x69: {
        // INST "module\nname\n" with MARKed arguments
        const module = r.line();
        const callable = global(module, r.line());
        stack.push(call(callable, popMark(), 'INST'));
        break;
      }
      case 0x6f: {
        // OBJ: MARK cls args... OBJ
        const [cls, ...args] = popMark();
        stack.push(call(cls, args, 'OBJ'));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state). We only meet it on dicts (OrderedDict._metadata of a state_dict),
        // whose attributes carry nothing we need.
        pop();
        const target = top();
        if (!(target instanceof Map)) throw new CheckpointError('unsupported pickle: BUILD on a non-dict object');
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x50: // PERSID (text)
        stack.push(persistent(r.line()));
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        throw new CheckpointError('refusing pickle extension-registry opcode (EXT*): not used by state_dicts');
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        throw new CheckpointError('unsupported pickle: out-of-band buffers (protocol 5)');
      default:
        throw new CheckpointError(`corrupt pickle: unknown opcode 0x${op.toString(16)} at byte ${r.pos - 1}`);
    }
  }
}
