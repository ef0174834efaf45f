// Limits on everything a client can make the plugin hold: connections, handshakes,
// subscribers, commands per datagram and replies per second. Each transport takes its
// own values (its options) and declares them to the engine, which lists them in `status`.

/** The defaults, by the name `status` lists them under (`limit_<name>`). */
export const CLIENT_LIMITS = {
  /** OSC reply destinations following blocks and events; one more drops the one silent longest. */
  osc_subscribers: 64,
  /** Commands one OSC datagram (a bundle) may carry; the rest are refused with one error. */
  osc_commands_per_datagram: 32,
  /** Replies a client (an OSC reply address, a WebSocket) gets per second, in bursts of up to two seconds' worth; the excess is dropped and counted. */
  replies_per_second: 2000,
  /** Open WebSocket connections; one more is refused (HTTP 503). */
  ws_clients: 256,
  /** TCP connections that have not finished their HTTP request or WebSocket handshake; one more is closed. */
  ws_pending_handshakes: 32,
  /** How long a connection may take to send its HTTP request or handshake before it is closed (ms). */
  ws_handshake_ms: 5000,
  /** Connections to the Jitter-in port; one more is closed. */
  jitter_connections: 8,
  /** A Jitter-in connection that sends nothing for this long is closed (ms). */
  jitter_idle_ms: 30_000,
} as const;

export type ClientLimitName = keyof typeof CLIENT_LIMITS;
export type ClientLimits = Partial<Record<ClientLimitName, number>>;

/** Where a transport declares its limits (the engine, which lists them in `status`). */
export interface LimitsRegistry {
  declareLimits?(limits: ClientLimits): void;
}

/** A limit given in options, checked: a positive whole number (Infinity turns it off). */
export function limitValue(name: ClientLimitName, given: number | undefined): number {
  const value = given ?? CLIENT_LIMITS[name];
  if (!(value === Infinity || (Number.isInteger(value) && value > 0))) throw new RangeError(`limit ${name} must be a positive whole number, got ${value}`);
  return value;
}
