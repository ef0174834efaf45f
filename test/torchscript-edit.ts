// TorchScript files for tests: zips written entry by entry (zipOf, also for hostile archives),
// and a fixture with its code edited: read entry by entry, one code file rewritten, stored again.
import { readFileSync } from "node:fs";
import { crc32, deflateRawSync, inflateRawSync } from "node:zlib";

interface ZipEntry {
  name: string;
  data: Buffer;
}

/** Every entry of a zip (stored or deflated), in order. */
function readZip(bytes: Buffer): ZipEntry[] {
  let end = bytes.length - 22;
  while (end >= 0 && bytes.readUInt32LE(end) !== 0x06054b50) end--;
  if (end < 0) throw new Error("not a zip");
  const count = bytes.readUInt16LE(end + 10);
  let at = bytes.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    const method = bytes.readUInt16LE(at + 10);
    const size = bytes.readUInt32LE(at + 20);
    const nameLength = bytes.readUInt16LE(at + 28);
    const extra = bytes.readUInt16LE(at + 30) + bytes.readUInt16LE(at + 32);
    const local = bytes.readUInt32LE(at + 42);
    const name = bytes.subarray(at + 46, at + 46 + nameLength).toString();
    const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    const body = bytes.subarray(start, start + size);
    entries.push({ name, data: method === 8 ? inflateRawSync(body) : Buffer.from(body) });
    at += 46 + nameLength + extra;
  }
  return entries;
}

/** A zip of the given entries (deflated where asked), as torch.jit.save's reader sees it. */
export function zipOf(entries: { name: string; data: Uint8Array; deflate?: boolean }[], claimEntries?: number): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const { name, data, deflate } of entries) {
    const body = deflate ? deflateRawSync(data) : Buffer.from(data);
    const fileName = Buffer.from(name);
    const fields = (h: Buffer, at: number): void => {
      h.writeUInt16LE(20, at); // version needed
      h.writeUInt16LE(0, at + 2); // flags
      h.writeUInt16LE(deflate ? 8 : 0, at + 4);
      h.writeUInt32LE(0, at + 6); // time, date
      h.writeUInt32LE(crc32(data), at + 10);
      h.writeUInt32LE(body.length, at + 14);
      h.writeUInt32LE(data.length, at + 18);
      h.writeUInt16LE(fileName.length, at + 22);
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    fields(local, 4);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4); // version made by
    fields(entry, 6);
    entry.writeUInt32LE(offset, 42);
    locals.push(local, fileName, body);
    central.push(entry, fileName);
    offset += 30 + fileName.length + body.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(claimEntries ?? entries.length, 8);
  end.writeUInt16LE(claimEntries ?? entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * The TorchScript file `fixture` with its top-level code (`code/__torch__.py`) edited;
 * `edit` must change it (a fixture that no longer has the text edited fails loudly).
 */
export function editedTorchScript(fixture: string, edit: (source: string) => string): Buffer {
  const entries = readZip(readFileSync(fixture));
  const code = entries.find((e) => e.name.endsWith("/code/__torch__.py"));
  if (!code) throw new Error(`${fixture} has no code/__torch__.py`);
  const source = code.data.toString();
  const edited = edit(source);
  if (edited === source) throw new Error(`the edit of ${fixture} changed nothing`);
  code.data = Buffer.from(edited);
  return zipOf(entries);
}
