// Rewrites a zip (a torch.jit.save archive) with some entries' contents replaced: every other
// entry keeps its name, compression, timestamps and compressed bytes as they are in the source;
// replaced entries are stored uncompressed. Entry data starts on a 64-byte boundary, as
// PyTorch's writer aligns storages (padding in an extra field, id "FB", as PyTorch's). The new
// file is written beside the target, flushed to disk and renamed over it, so a reader never
// sees a half-written file. (No zip64: archives and offsets stay under 4 GiB.)
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { basename, dirname, join } from "node:path";
import yauzl from "yauzl";
import { BendingError } from "../errors.js";

/** PyTorch aligns each entry's data to this many bytes. */
const ALIGNMENT = 64;
const PADDING_FIELD_ID = 0x4246; // "FB"
const LIMIT_32 = 0xffffffff;

function readEntries(file: string): Promise<{ zip: yauzl.ZipFile; entries: yauzl.Entry[] }> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: false }, (err, zip) => {
      if (err || !zip) return reject(new BendingError(`${file} is not a readable zip: ${err?.message ?? "no zip"}`));
      const entries: yauzl.Entry[] = [];
      zip.on("entry", (entry: yauzl.Entry) => {
        entries.push(entry);
        zip.readEntry();
      });
      zip.on("end", () => resolve({ zip, entries }));
      zip.on("error", (e: Error) => reject(new BendingError(`${file}: ${e.message}`)));
      zip.readEntry();
    });
  });
}

async function streamBytes(zip: yauzl.ZipFile, entry: yauzl.Entry, decompress: boolean): Promise<AsyncIterable<Buffer>> {
  // yauzl accepts `decompress` only on deflated entries; a stored entry's bytes are its contents
  const options = entry.compressionMethod === 0 ? {} : { decompress };
  return (await zip.openReadStreamPromise(entry, options as yauzl.ZipFileOptions)) as unknown as AsyncIterable<Buffer>;
}

/** The entry's name as raw bytes (names are written back exactly as the source has them). */
function nameBytes(entry: yauzl.Entry): Buffer {
  const raw = entry.fileName as unknown as Buffer | string;
  return typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
}

class Output {
  position = 0;
  constructor(readonly handle: FileHandle) {}
  async write(bytes: Uint8Array): Promise<void> {
    for (let done = 0; done < bytes.byteLength; ) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.byteLength - done, this.position + done);
      done += bytesWritten;
    }
    this.position += bytes.byteLength;
  }
}

interface Written {
  name: Buffer;
  entry: yauzl.Entry;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  offset: number;
}

function localHeader(name: Buffer, method: number, entry: yauzl.Entry, crc: number, compressedSize: number, size: number, at: number): Buffer {
  // padding so that the data after this header starts on an ALIGNMENT boundary
  const base = at + 30 + name.length + 4;
  const pad = (ALIGNMENT - (base % ALIGNMENT)) % ALIGNMENT;
  const header = Buffer.alloc(30 + name.length + 4 + pad);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(Math.max(entry.versionNeededToExtract, 20), 4);
  header.writeUInt16LE(entry.generalPurposeBitFlag & ~0x0008 & 0xffff, 6); // sizes are in the header: no data descriptor
  header.writeUInt16LE(method, 8);
  header.writeUInt16LE(entry.lastModFileTime, 10);
  header.writeUInt16LE(entry.lastModFileDate, 12);
  header.writeUInt32LE(crc >>> 0, 14);
  header.writeUInt32LE(compressedSize, 18);
  header.writeUInt32LE(size, 22);
  header.writeUInt16LE(name.length, 26);
  header.writeUInt16LE(4 + pad, 28);
  name.copy(header, 30);
  header.writeUInt16LE(PADDING_FIELD_ID, 30 + name.length);
  header.writeUInt16LE(pad, 32 + name.length);
  header.fill("Z", 34 + name.length);
  return header;
}

function centralRecord(w: Written): Buffer {
  const record = Buffer.alloc(46 + w.name.length);
  record.writeUInt32LE(0x02014b50, 0);
  record.writeUInt16LE(w.entry.versionMadeBy, 4);
  record.writeUInt16LE(Math.max(w.entry.versionNeededToExtract, 20), 6);
  record.writeUInt16LE(w.entry.generalPurposeBitFlag & ~0x0008 & 0xffff, 8);
  record.writeUInt16LE(w.method, 10);
  record.writeUInt16LE(w.entry.lastModFileTime, 12);
  record.writeUInt16LE(w.entry.lastModFileDate, 14);
  record.writeUInt32LE(w.crc >>> 0, 16);
  record.writeUInt32LE(w.compressedSize, 20);
  record.writeUInt32LE(w.size, 24);
  record.writeUInt16LE(w.name.length, 28);
  // extra field and comment: none; disk 0; attributes as the source has them
  record.writeUInt16LE(w.entry.internalFileAttributes, 36);
  record.writeUInt32LE(w.entry.externalFileAttributes >>> 0, 38);
  record.writeUInt32LE(w.offset, 42);
  w.name.copy(record, 46);
  return record;
}

/**
 * Copies the zip `source` to `target`, replacing the contents of the entries named in
 * `replace` (full names, root folder included) by what `replace` returns for the entry's
 * current bytes, and leaving out the entries named in `drop` (when there are such entries).
 * Every other entry is copied as its compressed bytes. Atomic: temp + fsync + rename.
 */
export async function rewriteZip(source: string, target: string, replace: Map<string, (old: Uint8Array) => Uint8Array>, drop: ReadonlySet<string> = new Set()): Promise<void> {
  const { zip, entries } = await readEntries(source);
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${Date.now()}.tmp`);
  let handle: FileHandle | null = null;
  try {
    handle = await open(temp, "wx", 0o644);
    const out = new Output(handle);
    const written: Written[] = [];
    const pending = new Set(replace.keys());
    for (const entry of entries) {
      const name = nameBytes(entry);
      const text = name.toString("utf8");
      if (drop.has(text)) continue;
      const offset = out.position;
      const change = replace.get(text);
      if (change !== undefined) {
        pending.delete(text);
        const old = new Uint8Array(entry.uncompressedSize);
        let at = 0;
        for await (const chunk of await streamBytes(zip, entry, true)) {
          old.set(chunk, at);
          at += chunk.byteLength;
        }
        const data = change(old);
        const crc = crc32(data);
        await out.write(localHeader(name, 0, entry, crc, data.byteLength, data.byteLength, offset));
        await out.write(data);
        written.push({ name, entry, method: 0, crc, compressedSize: data.byteLength, size: data.byteLength, offset });
      } else {
        await out.write(localHeader(name, entry.compressionMethod, entry, entry.crc32, entry.compressedSize, entry.uncompressedSize, offset));
        for await (const chunk of await streamBytes(zip, entry, false)) await out.write(chunk);
        written.push({ name, entry, method: entry.compressionMethod, crc: entry.crc32, compressedSize: entry.compressedSize, size: entry.uncompressedSize, offset });
      }
      if (out.position > LIMIT_32) throw new BendingError(`${target}: the archive would pass 4 GiB (zip64 is not written)`);
    }
    if (pending.size > 0) throw new BendingError(`${source}: no entry ${[...pending].join(", ")} to replace`);
    const directoryStart = out.position;
    for (const w of written) await out.write(centralRecord(w));
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(written.length, 8);
    end.writeUInt16LE(written.length, 10);
    end.writeUInt32LE(out.position - directoryStart, 12);
    end.writeUInt32LE(directoryStart, 16);
    if (written.length > 0xffff || out.position > LIMIT_32) throw new BendingError(`${target}: too many entries or bytes for a zip without zip64`);
    await out.write(end);
    await handle.sync();
    await handle.close();
    handle = null;
    await rename(temp, target);
    // the rename itself reaches the disk with the folder's entry
    const folder = await open(dirname(target), "r");
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await rm(temp, { force: true });
    if (e instanceof BendingError) throw e;
    throw new BendingError(`cannot write ${target}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    zip.close();
  }
}
