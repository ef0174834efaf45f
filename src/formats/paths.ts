// Paths confined to a folder: links resolved before the check, and writes that never follow
// a link swapped in after it.
import { lstatSync, realpathSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { BendingError } from "../errors.js";
import { replaceFile, type FileContents } from "./replace-file.js";

/** Whether `path` is `root` or lies below it (both absolute, links already resolved). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`));
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The real path of `path` (relative to `base`) if it lies inside one of `roots`, else a
 * BendingError. Links are resolved through the deepest part of the path that exists, so a
 * folder or file that is a link pointing outside is refused, and so is a dangling link
 * (it would create a file wherever it points). `what` names the path in errors.
 */
export function confinedPath(path: string, roots: string[], base: string, what = `path '${path}'`): string {
  if (typeof path !== "string" || path === "") throw new BendingError(`${what} is empty`);
  if (path.includes("\0")) throw new BendingError(`${what} contains a NUL character`);
  const candidate = resolve(base, path);
  let existing = candidate;
  const rest: string[] = [];
  while (!exists(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    rest.unshift(basename(existing));
    existing = parent;
  }
  let real: string;
  try {
    real = join(realpathSync(existing), ...rest);
  } catch {
    throw new BendingError(`${what} goes through a link whose target does not exist`);
  }
  for (const root of roots) {
    let rootReal = resolve(root);
    try {
      rootReal = realpathSync(root);
    } catch {
      // a root that does not exist yet holds nothing but itself
    }
    if (isInside(rootReal, real)) return real;
  }
  throw new BendingError(`${what} is outside the ${roots.length > 1 ? "allowed folders" : `folder ${roots[0]}`}`);
}

/**
 * Replaces a file at a path that `confinedPath` returned, atomically (see replace-file.ts): a
 * link swapped in for the file between the check and the write is refused, never followed.
 */
export async function writeFileNoFollow(path: string, data: FileContents): Promise<void> {
  try {
    await replaceFile(path, data, { links: "refuse" });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new BendingError(`'${path}' became a link; not written`);
    throw new BendingError(`cannot write '${path}': ${code ?? (e as Error).message}`);
  }
}
