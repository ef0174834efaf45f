// The unpickler for TorchScript's data.pkl and constants.pkl.
//
// Hand-written rather than a library: npm's pickle readers (pickleparser, jpickle, unpickle)
// turn tuples and lists into the same JS array, read LONG1 as unsigned, and build objects for any
// global they meet; TorchScript needs tuples kept apart and a strict allow-list. torch's C++
// pickler writes protocol 2 with a small set of opcodes; those are what this reads. Nothing named
// by a pickle is ever executed: allowed globals map to the few constructions below, any other
// global is refused.
import { BendingError } from "../errors.js";
import { STORAGE_CLASSES, emptyData, type PendingTensor, type StorageRef } from "./storage.js";
import { ScriptTuple, type ScriptObject, type ScriptValue, type StoredTensor } from "./values.js";

/** A global the pickle named and the allow-list accepted. */
class Global {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A tuple holding a global or a storage reference: only an argument, never a value. */
class RawTuple {
  constructor(readonly items: StackItem[]) {}
}

const MARK = Symbol("mark");
/** Open marks (nested tuples/lists being built); torch's pickles nest a few deep. */
const MAX_MARKS = 1000;
type StackItem = ScriptValue | Global | StorageRef | RawTuple | typeof MARK;

const JIT_LIST_BUILDERS = new Set(["build_intlist", "build_tensorlist", "build_doublelist", "build_boollist"]);

function allowed(module: string, name: string): boolean {
  if (module === "__torch__" || module.startsWith("__torch__.")) return true;
  if (module === "torch._utils") return name === "_rebuild_tensor_v2" || name === "_rebuild_parameter";
  if (module === "torch") return STORAGE_CLASSES.has(name) || name === "device";
  if (module === "collections") return name === "OrderedDict";
  if (module === "torch.jit._pickle") return JIT_LIST_BUILDERS.has(name) || name === "restore_type_tag";
  return false;
}

function isStorage(value: StackItem): value is StorageRef {
  return typeof value === "object" && value !== null && "kind" in value && value.kind === "storage";
}

function isTensor(value: StackItem): value is StoredTensor {
  return typeof value === "object" && value !== null && "kind" in value && value.kind === "tensor";
}

function isObject(value: StackItem): value is ScriptObject {
  return typeof value === "object" && value !== null && "kind" in value && value.kind === "object";
}

export interface Unpickled {
  value: ScriptValue;
  /** Tensors whose data the caller fills from their storages. */
  pending: PendingTensor[];
}

/** Unpickles `bytes`; `where` ("model.ts: archive/data.pkl") prefixes every error. */
export function unpickle(bytes: Uint8Array, where: string): Unpickled {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const pending: PendingTensor[] = [];
  const memo = new Map<number, StackItem>();
  let stack: StackItem[] = [];
  const marks: StackItem[][] = [];
  let pos = 0;

  const fail = (message: string): never => {
    throw new BendingError(`${where}: ${message}`);
  };
  const need = (n: number): number => {
    if (pos + n > bytes.byteLength) fail(`the pickle ends early (byte ${pos} of ${bytes.byteLength}, ${n} more needed)`);
    const at = pos;
    pos += n;
    return at;
  };
  const pop = (): StackItem => {
    if (stack.length === 0) fail(`the pickle pops an empty stack at byte ${pos}`);
    return stack.pop() as StackItem;
  };
  const top = (): StackItem => {
    if (stack.length === 0) fail(`the pickle reads an empty stack at byte ${pos}`);
    return stack[stack.length - 1];
  };
  const popMark = (): StackItem[] => {
    const items = stack;
    const previous = marks.pop();
    if (previous === undefined) fail(`the pickle closes a mark it never opened at byte ${pos}`);
    stack = previous as StackItem[];
    return items;
  };
  const value = (item: StackItem, what: string): ScriptValue => {
    if (item === MARK || item instanceof Global || item instanceof RawTuple || isStorage(item)) {
      fail(`${what} is not a value`);
    }
    return item as ScriptValue;
  };
  const text = (length: number): string => {
    const at = need(length);
    try {
      return utf8.decode(bytes.subarray(at, at + length));
    } catch {
      return fail(`a string at byte ${at} is not UTF-8`);
    }
  };
  const int = (n: number | bigint, at: number): number => {
    if (typeof n === "bigint") {
      if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) fail(`the integer ${n} at byte ${at} is beyond what tfbend reads exactly (2^53)`);
      return Number(n);
    }
    return n;
  };
  const tupleItems = (item: StackItem, what: string): StackItem[] => {
    if (!(item instanceof ScriptTuple) && !(item instanceof RawTuple)) return fail(`${what} is not a tuple`);
    return item.items;
  };
  const intList = (item: StackItem, what: string): number[] => {
    const items = tupleItems(item, what);
    if (!items.every((v) => typeof v === "number" && Number.isInteger(v) && v >= 0)) fail(`${what} is not a tuple of non-negative integers`);
    return items as number[];
  };

  const reduce = (fn: StackItem, argsItem: StackItem): StackItem => {
    if (!(fn instanceof Global)) return fail(`REDUCE applies something that is not an allowed global`);
    const args = tupleItems(argsItem, `the arguments of ${fn.qualified}`);
    switch (fn.qualified) {
      case "torch._utils._rebuild_tensor_v2": {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        const [storage, offset, size, stride, requiresGrad] = args;
        if (!isStorage(storage)) return fail("a tensor without a storage");
        if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0) return fail("a tensor with a bad storage offset");
        const shape = intList(size, "a tensor's size");
        const strides = intList(stride, "a tensor's stride");
        if (shape.length !== strides.length) fail(`a tensor has ${shape.length} sizes and ${strides.length} strides`);
        const tensor: StoredTensor = { kind: "tensor", dtype: storage.dtype, shape, data: emptyData(storage.dtype), requiresGrad: requiresGrad === true };
        pending.push({ tensor, storage, offset, stride: strides });
        return tensor;
      }
      case "torch._utils._rebuild_parameter": {
        const [tensor, requiresGrad] = args;
        if (!isTensor(tensor)) return fail("_rebuild_parameter without a tensor");
        tensor.requiresGrad = requiresGrad === true;
        return tensor;
      }
      case "collections.OrderedDict": {
        const map = new Map<ScriptValue, ScriptValue>();
        if (args.length > 0) {
          if (!Array.isArray(args[0])) return fail("OrderedDict of something that is not a list of pairs");
          for (const pair of args[0]) {
            const [k, v] = tupleItems(pair, "an OrderedDict item");
            map.set(value(k, "an OrderedDict key"), value(v, "an OrderedDict value"));
          }
        }
        return map;
      }
      case "torch.jit._pickle.restore_type_tag":
        return value(args[0] ?? fail("restore_type_tag without a value"), "restore_type_tag's value");
      case "torch.device":
        if (typeof args[0] !== "string") return fail("torch.device of something that is not a string");
        return args[0];
      default:
        if (fn.module === "torch.jit._pickle" && JIT_LIST_BUILDERS.has(fn.name)) {
          if (!Array.isArray(args[0])) return fail(`${fn.name} of something that is not a list`);
          return value(args[0], `${fn.name}'s list`);
        }
        return fail(`REDUCE applies ${fn.qualified}, which builds nothing tfbend reads`);
    }
  };

  for (;;) {
    const opAt = need(1);
    const op = bytes[opAt];
    switch (op) {
      case 0x80: // PROTO
        if (bytes[need(1)] > 2) fail(`pickle protocol ${bytes[pos - 1]} (torch writes protocol 2)`);
        break;
      case 0x2e: {
        // STOP
        const result = value(pop(), "the pickle's result");
        if (stack.length !== 0 || marks.length !== 0) fail("the pickle leaves items on its stack");
        return { value: result, pending };
      }
      case 0x28: // MARK
        if (marks.length >= MAX_MARKS) fail(`the pickle nests more than ${MAX_MARKS} marks at byte ${opAt}`);
        marks.push(stack);
        stack = [];
        break;
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const lineEnd = (from: number): number => {
          const end = bytes.indexOf(0x0a, from);
          if (end < 0) fail(`an unterminated GLOBAL at byte ${opAt}`);
          return end;
        };
        const moduleEnd = lineEnd(pos);
        const module = new TextDecoder().decode(bytes.subarray(pos, moduleEnd));
        const nameEnd = lineEnd(moduleEnd + 1);
        const name = new TextDecoder().decode(bytes.subarray(moduleEnd + 1, nameEnd));
        pos = nameEnd + 1;
        if (!allowed(module, name)) fail(`the pickle names the global '${module}.${name}', which tfbend does not load (nothing was run)`);
        stack.push(new Global(module, name));
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(bytes[need(1)]);
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement of n bytes
        const n = bytes[need(1)];
        const at = need(n);
        let big = 0n;
        for (let i = n - 1; i >= 0; i--) big = (big << 8n) | BigInt(bytes[at + i]);
        if (n > 0 && bytes[at + n - 1] & 0x80) big -= 1n << BigInt(8 * n);
        stack.push(int(big, opAt));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(view.getUint32(need(4), true)));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new ScriptTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(new ScriptTuple([value(pop(), "a tuple item")]));
        break;
      case 0x86: {
        // TUPLE2
        const b = value(pop(), "a tuple item");
        stack.push(new ScriptTuple([value(pop(), "a tuple item"), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = value(pop(), "a tuple item");
        const b = value(pop(), "a tuple item");
        stack.push(new ScriptTuple([value(pop(), "a tuple item"), b, c]));
        break;
      }
      case 0x74: {
        // TUPLE: items since the mark; a persistent id may hold a storage class (a Global)
        const items = popMark();
        const raw = items.some((item) => item === MARK || item instanceof Global || item instanceof RawTuple || isStorage(item));
        stack.push(raw ? new RawTuple(items) : new ScriptTuple(items as ScriptValue[]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x61: {
        // APPEND
        const item = value(pop(), "a list item");
        const list = top();
        if (!Array.isArray(list)) fail(`APPEND to something that is not a list at byte ${opAt}`);
        (list as ScriptValue[]).push(item);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark().map((item) => value(item, "a list item"));
        const list = top();
        if (!Array.isArray(list)) fail(`APPENDS to something that is not a list at byte ${opAt}`);
        for (const item of items) (list as ScriptValue[]).push(item);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map<ScriptValue, ScriptValue>());
        break;
      case 0x73: {
        // SETITEM
        const v = value(pop(), "a dict value");
        const k = value(pop(), "a dict key");
        const dict = top();
        if (!(dict instanceof Map)) fail(`SETITEM on something that is not a dict at byte ${opAt}`);
        (dict as Map<ScriptValue, ScriptValue>).set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const dict = top();
        if (!(dict instanceof Map) || items.length % 2 !== 0) fail(`SETITEMS on something that is not a dict at byte ${opAt}`);
        for (let i = 0; i < items.length; i += 2) (dict as Map<ScriptValue, ScriptValue>).set(value(items[i], "a dict key"), value(items[i + 1], "a dict value"));
        break;
      }
      case 0x71: // BINPUT
        memo.set(bytes[need(1)], top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(view.getUint32(need(4), true), top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x68 ? bytes[need(1)] : view.getUint32(need(4), true);
        const item = memo.get(key);
        if (item === undefined) fail(`the pickle reads memo ${key}, which it never stored`);
        stack.push(item as StackItem);
        break;
      }
      case 0x51: {
        // BINPERSID: ('storage', torch.<T>Storage, key, location, numel)
        const pid = tupleItems(pop(), "a persistent id");
        const [tag, cls, key, , numel] = pid;
        if (tag !== "storage" || !(cls instanceof Global) || cls.module !== "torch" || !STORAGE_CLASSES.has(cls.name)) fail("a persistent id that is not a storage");
        if (typeof key !== "string" || !/^[A-Za-z0-9_.-]+$/.test(key)) fail(`a storage key ${JSON.stringify(key)} that is not a plain name`);
        if (typeof numel !== "number" || !Number.isInteger(numel) || numel < 0) fail(`storage ${String(key)} has no element count`);
        const dtype = STORAGE_CLASSES.get((cls as Global).name)!.dtype;
        const ref: StorageRef = { kind: "storage", dtype, key: key as string, numel: numel as number };
        stack.push(ref);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(reduce(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ: a __torch__ class, built with no arguments
        const args = tupleItems(pop(), "NEWOBJ arguments");
        const cls = pop();
        if (!(cls instanceof Global) || !(cls.module === "__torch__" || cls.module.startsWith("__torch__."))) return fail(`NEWOBJ of something that is not a __torch__ class`);
        if (args.length !== 0) fail(`NEWOBJ of ${cls.qualified} with arguments`);
        const object: ScriptObject = { kind: "object", className: cls.qualified, attributes: new Map() };
        stack.push(object);
        break;
      }
      case 0x62: {
        // BUILD: set an object's state
        const state = value(pop(), "an object's state");
        const object = top();
        if (!isObject(object)) return fail(`BUILD on something that is not a __torch__ object at byte ${opAt}`);
        if (state instanceof Map && [...state.keys()].every((k) => typeof k === "string")) {
          for (const [k, v] of state) object.attributes.set(k as string, v);
        } else {
          object.state = state;
        }
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")} at byte ${opAt}`);
    }
  }
}
