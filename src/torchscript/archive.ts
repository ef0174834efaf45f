// A TorchScript file (`torch.jit.save`): a zip with one root folder holding data.pkl,
// constants.pkl, code/**/*.py, data/<key> and constants/<key> storages, version and (newer
// torch) byteorder. yauzl reads the zip's directory; torch writes storages STORED and 64-byte
// aligned, so each one is read straight from the file into its own buffer (one copy) and
// tensors are views of it where their layout allows. (yauzl closes the descriptor it reads
// from, so storages are read through a second handle of our own.)
import { open, type FileHandle } from "node:fs/promises";
import yauzl from "yauzl";
import { BendingError } from "../errors.js";
import { unpickle, type Unpickled } from "./pickle.js";
import { decodeStorage, elementBytes, stridedView, type StorageRef, type TensorData } from "./storage.js";
import { ScriptTuple, type ScriptObject, type TorchScriptArchive } from "./values.js";

/** The newest `torch.jit.save` file format read (torch 2.x writes up to 10, in .data/version). */
const MAX_FORMAT_VERSION = 10;
/** Zip entries an archive may hold (torch writes one per storage and code file, plus a few). */
const MAX_ENTRIES = 50_000;
/** Bytes of code/ and of each pickle (both are small next to the storages). */
const MAX_CODE_BYTES = 16 << 20;
const MAX_PICKLE_BYTES = 64 << 20;
/** Bytes the whole read may allocate beyond the file's own size (deflated entries, expanded views). */
const BUDGET_SLACK = 256 << 20;

/** Deflate never expands more than ~1032:1; a larger claim is a corrupt directory. */
const MAX_DEFLATE_RATIO = 1032;

function openZip(file: string): Promise<Map<string, yauzl.Entry> & { zip: yauzl.ZipFile }> {
  return new Promise((resolve, reject) => {
    const broken = (err: Error) => reject(new BendingError(/End of central directory record signature not found/i.test(err.message)
      // a half-downloaded file: the zip's directory sits at its end
      ? `${file}: the zip's central directory is missing: the file is incomplete — download it again`
      : `${file} is not a readable TorchScript archive (zip): ${err.message}`));
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true, strictFileNames: true }, (err, zip) => {
      if (err || !zip) return broken(err ?? new Error("no zip"));
      const entries = Object.assign(new Map<string, yauzl.Entry>(), { zip });
      if (zip.entryCount > MAX_ENTRIES) {
        zip.close();
        return reject(new BendingError(`${file}: the archive has ${zip.entryCount} entries (at most ${MAX_ENTRIES})`));
      }
      zip.on("entry", (entry: yauzl.Entry) => {
        entries.set(entry.fileName, entry);
        zip.readEntry();
      });
      zip.on("end", () => resolve(entries));
      zip.on("error", broken);
      zip.readEntry();
    });
  });
}

class ArchiveReader {
  private readonly storages = new Map<string, { dtype: StorageRef["dtype"]; elements: TensorData }>();
  /** Bytes still allowed to be allocated: the file's size plus BUDGET_SLACK. */
  private budget: number;

  constructor(
    private readonly file: string,
    private readonly handle: FileHandle,
    private readonly zip: yauzl.ZipFile,
    private readonly entries: Map<string, yauzl.Entry>,
    readonly root: string,
    fileSize: number,
  ) {
    this.budget = fileSize + BUDGET_SLACK;
  }

  /** Counts `bytes` allocated for `name` against the archive's budget. */
  private spend(name: string, bytes: number, what: string): void {
    this.budget -= bytes;
    if (this.budget < 0) this.fail(name, `${what} (${bytes} bytes) exceeds what a file of this size may allocate; refusing it`);
  }

  has(name: string): boolean {
    return this.entries.has(`${this.root}/${name}`);
  }

  private fail(name: string, message: string): never {
    throw new BendingError(`${this.file}: ${this.root}/${name}: ${message}`);
  }

  /** The entry's bytes, in a buffer of their own; `expected` (if given) is checked before reading. */
  async read(name: string, expected?: number, limit = Infinity): Promise<Uint8Array> {
    const entry = this.entries.get(`${this.root}/${name}`);
    if (!entry) this.fail(name, "missing from the archive");
    const size = entry.uncompressedSize;
    if (size > limit) this.fail(name, `holds ${size} bytes (at most ${limit} here)`);
    this.spend(name, size, "its content");
    if (expected !== undefined && size !== expected) this.fail(name, `expected ${expected} bytes, the archive holds ${size}`);
    if (entry.isEncrypted()) this.fail(name, "is encrypted");
    try {
      if (entry.compressionMethod === 0) {
        if (entry.compressedSize !== size) this.fail(name, `stored with ${entry.compressedSize} bytes for ${size}`);
        const { fileDataStart } = await this.zip.readLocalFileHeaderPromise(entry, { minimal: true });
        const bytes = new Uint8Array(size);
        for (let done = 0; done < size; ) {
          const { bytesRead } = await this.handle.read(bytes, done, size - done, fileDataStart + done);
          if (bytesRead === 0) this.fail(name, `expected ${size} bytes, the file ends after ${done}`);
          done += bytesRead;
        }
        return bytes;
      }
      if (entry.compressionMethod !== 8) this.fail(name, `uses zip compression method ${entry.compressionMethod} (stored or deflated only)`);
      if (size > entry.compressedSize * MAX_DEFLATE_RATIO + 1024) this.fail(name, `claims ${size} bytes from ${entry.compressedSize} compressed`);
      const stream = await this.zip.openReadStreamPromise(entry);
      const bytes = new Uint8Array(size);
      let done = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (done + chunk.byteLength > size) this.fail(name, `inflates past ${size} bytes`);
        bytes.set(chunk, done);
        done += chunk.byteLength;
      }
      if (done !== size) this.fail(name, `expected ${size} bytes, inflated ${done}`);
      return bytes;
    } catch (err) {
      if (err instanceof BendingError) throw err;
      return this.fail(name, `cannot be read: ${(err as Error).message}`);
    }
  }

  async text(name: string, limit = MAX_CODE_BYTES): Promise<string> {
    const bytes = await this.read(name, undefined, limit);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return this.fail(name, "is not UTF-8 text");
    }
  }

  /** Unpickles `name` and fills its tensors from the storages under `folder` (data/ or constants/). */
  async unpickle(name: string, folder: string): Promise<Unpickled["value"]> {
    const { value, pending } = unpickle(await this.read(name, undefined, MAX_PICKLE_BYTES), `${this.file}: ${this.root}/${name}`);
    for (const { tensor, storage, offset, stride } of pending) {
      const entry = `${folder}/${storage.key}`;
      const elements = await this.storage(entry, storage);
      const numel = tensor.shape.reduce((a, b) => a * b, 1);
      if (numel > elements.length) this.spend(entry, numel * elementBytes(storage.dtype), `a tensor of shape [${tensor.shape.join(", ")}] expanded from ${elements.length} elements`);
      tensor.data = stridedView(elements, offset, tensor.shape, stride, `${this.file}: ${this.root}/${entry}`);
      tensor.source = { entry, offset, stride };
    }
    return value;
  }

  private async storage(entry: string, ref: StorageRef): Promise<TensorData> {
    const known = this.storages.get(entry);
    if (known) {
      if (known.dtype !== ref.dtype || known.elements.length !== ref.numel) {
        this.fail(entry, `is referenced as ${ref.numel} ${ref.dtype} and as ${known.elements.length} ${known.dtype} elements`);
      }
      return known.elements;
    }
    const bytes = await this.read(entry, ref.numel * elementBytes(ref.dtype));
    const elements = decodeStorage(bytes, ref.dtype);
    this.storages.set(entry, { dtype: ref.dtype, elements });
    return elements;
  }
}

function rootFolder(file: string, names: Iterable<string>): string {
  const roots = new Set<string>();
  for (const name of names) {
    const slash = name.indexOf("/");
    if (slash <= 0) throw new BendingError(`${file}: the entry '${name}' lies outside the archive's root folder`);
    roots.add(name.slice(0, slash));
  }
  if (roots.size !== 1) throw new BendingError(`${file}: a TorchScript archive has one root folder; this one has ${roots.size} (${[...roots].slice(0, 4).join(", ")})`);
  return [...roots][0];
}

/** Reads a `torch.jit.save` file: module tree, constants, code and tensors. Runs nothing. */
export async function readTorchScriptArchive(path: string): Promise<TorchScriptArchive> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    throw new BendingError(`cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let zip: yauzl.ZipFile | undefined;
  try {
    const entries = await openZip(path);
    zip = entries.zip;
    const root = rootFolder(path, entries.keys());
    const archive = new ArchiveReader(path, handle, zip, entries, root, (await handle.stat()).size);
    if (archive.has("byteorder")) {
      const order = (await archive.text("byteorder")).trim();
      if (order !== "little") throw new BendingError(`${path}: ${root}/byteorder: the archive is ${order}-endian; tfbend reads little-endian archives only`);
    }
    const versionEntry = archive.has("version") ? "version" : ".data/version";
    const version = Number((await archive.text(versionEntry)).trim());
    if (!Number.isInteger(version)) throw new BendingError(`${path}: ${root}/${versionEntry}: not a version number`);
    if (version < 1 || version > MAX_FORMAT_VERSION) {
      throw new BendingError(`${path}: ${root}/${versionEntry}: file format version ${version}; tfbend reads versions 1 to ${MAX_FORMAT_VERSION} (torch up to 2.x)`);
    }
    const data = await archive.unpickle("data.pkl", "data");
    if (typeof data !== "object" || data === null || !("kind" in data) || data.kind !== "object") {
      throw new BendingError(`${path}: ${root}/data.pkl: holds no TorchScript module`);
    }
    const constants = await archive.unpickle("constants.pkl", "constants");
    if (!(constants instanceof ScriptTuple)) throw new BendingError(`${path}: ${root}/constants.pkl: is not a tuple`);
    const code = new Map<string, string>();
    let codeBytes = 0;
    const codePrefix = `${root}/code/`;
    for (const name of [...entries.keys()].sort()) {
      if (!name.startsWith(codePrefix) || !name.endsWith(".py")) continue;
      const source = await archive.text(name.slice(root.length + 1), MAX_CODE_BYTES - codeBytes);
      codeBytes += source.length;
      code.set(name.slice(codePrefix.length), source);
    }
    if (code.size === 0) throw new BendingError(`${path}: ${root}/code/: the archive holds no TorchScript code`);
    return { file: path, rootFolder: root, version, root: data as ScriptObject, constants: constants.items, code };
  } finally {
    zip?.close();
    await handle.close();
  }
}
