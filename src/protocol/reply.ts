// What tfbend answers: a reply to every command, and the JSON messages a WebSocket
// client (the panel among them) receives for replies and for changes made elsewhere.
import type { Atom } from "./atoms.js";
import type { CommandEffect } from "./commands.js";

export interface Reply {
  command: string;
  ok: boolean;
  /** `ok <command> ...values` or `error <command> <message>` */
  values: Atom[];
  /** Structured metadata (weights, graph, controls) for Max dicts and JSON clients. */
  dict?: unknown;
  /** Set when this call's effect is not the command's declared one (a bare `method` is a query). */
  effect?: CommandEffect;
}

/** A reply as a WebSocket client receives it, with the id its request carried. */
export interface ReplyMessage extends Reply {
  type: "reply";
  id?: string | number;
}

/**
 * A change any client made (ok true: a command that announces), or an error nobody asked
 * for (ok false: the stream stopped), as every WebSocket client receives it.
 */
export interface EventMessage {
  type: "event";
  ok: boolean;
  command: string;
  values: Atom[];
}
