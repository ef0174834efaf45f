// Files a user owns (renders, configs, exports, saves) are replaced, never rewritten in place:
// the new contents go to a temporary file beside the old one, are flushed to disk (fsync) and
// take its name in one rename. A write that fails midway (a full disk, a failing encoder) leaves
// the old file byte-identical and no temporary file behind; a reader sees the old file or the
// new one, never half of one.
import { randomBytes } from "node:crypto";
import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, openSync, readlinkSync, realpathSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { open, rename, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

export type FileContents = Uint8Array | string;

/** Writes the contents in pieces; a throw abandons the new file and keeps the old one. */
export type ContentsWriter = (write: (chunk: FileContents) => Promise<void>) => Promise<void>;

export interface ReplaceOptions {
  /**
   * A link at the path: "follow" replaces the file it points to (as fs.writeFile would),
   * "refuse" writes nothing and fails with ELOOP. Default "follow".
   */
  links?: "follow" | "refuse";
}

/** Create the temporary file only if nothing is there, and never through a link. */
const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

interface Destination {
  /** The file the rename replaces. */
  target: string;
  /** The old file's permission bits, kept by the new one; undefined when there is no old file. */
  mode: number | undefined;
  temp: string;
}

function linkError(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ELOOP: '${path}' is a link; not written`), { code: "ELOOP", path });
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Where the new file goes, the mode it keeps, and its temporary name beside it. */
function destination(path: string, links: "follow" | "refuse"): Destination {
  let target = resolve(path);
  if (isLink(target)) {
    if (links === "refuse") throw linkError(path);
    try {
      target = realpathSync(target);
    } catch {
      // a dangling link: writeFile would create the file it names
      target = resolve(dirname(target), readlinkSync(target));
    }
  }
  let mode: number | undefined;
  try {
    mode = lstatSync(target).mode & 0o7777;
  } catch {
    mode = undefined;
  }
  // unique per process and call, hidden, and short enough for any file name the target has
  const temp = join(dirname(target), `.${basename(target).slice(0, 180)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  return { target, mode, temp };
}

/** Makes the rename itself durable; some systems cannot open or sync a folder, and then it waits for the OS. */
function syncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(folder, constants.O_RDONLY);
    fsyncSync(fd);
  } catch {
    // best effort: the file's own contents are already on disk
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Checked again just before the rename: a link that appeared since is refused, not replaced. */
function checkStillNoLink(path: string, dest: Destination, links: "follow" | "refuse"): void {
  if (links === "refuse" && isLink(dest.target)) throw linkError(path);
}

/** Replaces the file at `path` with `contents` (or what `contents` writes), atomically. */
export async function replaceFile(path: string, contents: FileContents | ContentsWriter, options: ReplaceOptions = {}): Promise<void> {
  const links = options.links ?? "follow";
  const dest = destination(path, links);
  let handle: FileHandle | undefined;
  try {
    handle = await open(dest.temp, TEMP_FLAGS, dest.mode ?? 0o666);
    if (dest.mode !== undefined) await handle.chmod(dest.mode);
    const file = handle;
    if (typeof contents === "function") await contents((chunk) => file.writeFile(chunk));
    else await file.writeFile(contents);
    await file.sync();
    handle = undefined;
    await file.close();
    checkStillNoLink(path, dest, links);
    await rename(dest.temp, dest.target);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    removeQuietly(dest.temp);
    throw e;
  }
  syncFolder(dirname(dest.target));
}

/** replaceFile for callers that cannot wait (a synchronous API such as BendingConfig.save). */
export function replaceFileSync(path: string, contents: FileContents, options: ReplaceOptions = {}): void {
  const links = options.links ?? "follow";
  const dest = destination(path, links);
  let fd: number | undefined;
  try {
    fd = openSync(dest.temp, TEMP_FLAGS, dest.mode ?? 0o666);
    if (dest.mode !== undefined) fchmodSync(fd, dest.mode);
    writeFileSync(fd, contents);
    fsyncSync(fd);
    const opened = fd;
    fd = undefined;
    closeSync(opened);
    checkStillNoLink(path, dest, links);
    renameSync(dest.temp, dest.target);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // closing is all that is left to try
      }
    }
    removeQuietly(dest.temp);
    throw e;
  }
  syncFolder(dirname(dest.target));
}
