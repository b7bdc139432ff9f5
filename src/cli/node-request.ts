/**
 * Where `concord promote` and `concord admin` send their one request: a node's client endpoint
 * (`<url>/client`), from the URL a flag gave.
 */
import { UsageError } from "./flags.js";

/** `<url>/client` for a node's base URL; a {@link UsageError} naming `--<flag>` for anything but ws:// or wss://host:port. */
export function clientEndpoint(url: string, flag: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--${flag} must be a URL such as ws://127.0.0.1:5002, got ${JSON.stringify(url)}`);
  }
  if ((parsed.protocol !== "ws:" && parsed.protocol !== "wss:") || (parsed.pathname !== "/" && parsed.pathname !== "") || parsed.search !== "") {
    throw new UsageError(`--${flag} must be a node's base URL, ws://host:port (or wss://), got ${JSON.stringify(url)}`);
  }
  return `${parsed.protocol}//${parsed.host}/client`;
}
