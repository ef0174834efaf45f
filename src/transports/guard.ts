// The last line of defence of a transport: an exception in a message handler becomes an
// error reply, is logged once (a flood of the same failure does not flood the log), and
// the process keeps serving.
const logged = new Set<string>();
/** Distinct failures remembered; past this the log says nothing new. */
const MAX_LOGGED = 100;

/** Logs `error` the first time this transport sees its message; returns the text a reply carries. */
export function reportHandlerFailure(transport: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const key = `${transport}: ${message}`;
  if (!logged.has(key) && logged.size < MAX_LOGGED) {
    logged.add(key);
    console.error(`tfbend ${transport}: a message handler failed (logged once):`, error);
  }
  return `internal error while handling the message: ${message.slice(0, 200)}`;
}
