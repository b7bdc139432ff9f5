/**
 * The client's view of its node group: one {@link NodeLink} per node URL it was given, which of
 * them takes writes now, and how it learns of a promotion (primary discovery).
 *
 * Discovery asks every node for its `status` (role, epoch, fenced) over the links already open and
 * picks the one node that says it is an unfenced primary of the newest epoch any node reported
 * ({@link choosePrimary}). The client never goes back: the newest epoch it has seen (in a status,
 * a write's acknowledgement or a read's position) is a floor, and a node leading an older epoch is
 * never chosen, even when it is the only primary that answers (it is fenced, or about to be, and a
 * write it takes would be discarded). Discovery needs no help from the nodes beyond `status`, so it
 * works with any node of this protocol version and trusts no single node's word about the others.
 *
 * Not guaranteed: a primary at a URL the client was not given is never found (list every node
 * that may be promoted in `nodes`); between a promotion and the old primary hearing of it, the old
 * primary still takes writes, and a `local` write it takes then is lost when it rejoins (what
 * `{ replicas: n }` is for).
 */
import { ConcordError } from "../errors.js";
import type { Json } from "../json.js";
import type { NodeLink } from "./node-link.js";

/** What one node said of itself in a `status` answer. */
export interface NodeReport {
  readonly url: string;
  readonly id: string;
  readonly role: "primary" | "replica";
  /** The newest epoch the node knows: the one it leads, or the one of the primary it follows. */
  readonly epoch: number;
  /** A primary that heard of a newer epoch (it refuses writes until it follows the new primary). */
  readonly fenced: boolean;
}

/** The outcome of {@link choosePrimary}. */
export interface PrimaryChoice {
  /** The node that takes writes, when exactly one unfenced primary leads `epoch`. */
  readonly primary: NodeReport | undefined;
  /** The newest epoch known: the floor, or a newer one a node reported. */
  readonly epoch: number;
  /** Why no node was chosen (for error messages), when none was. */
  readonly why: string;
}

/**
 * Picks the primary among `reports` (pure): the one node that reports itself an unfenced primary
 * of the newest epoch among `floor` and every report. None when no node leads that epoch (it is
 * being promoted, or its node did not answer) or when two claim it (two promotions from the same
 * epoch: an operator's mistake that no client should paper over).
 */
export function choosePrimary(reports: readonly NodeReport[], floor: number): PrimaryChoice {
  const epoch = reports.reduce((max, r) => Math.max(max, r.epoch), floor);
  const leaders = reports.filter((r) => r.role === "primary" && !r.fenced && r.epoch === epoch);
  if (leaders.length === 1) return { primary: leaders[0], epoch, why: "" };
  if (leaders.length > 1) return { primary: undefined, epoch, why: `${leaders.map((r) => `${r.id} (${r.url})`).join(" and ")} all claim to lead epoch ${epoch}` };
  const older = reports.filter((r) => r.role === "primary" && !r.fenced && r.epoch < epoch);
  const seen = older.length === 0 ? "" : `; ${older.map((r) => `${r.id} leads the older epoch ${r.epoch}`).join(", ")}, so it is not chosen`;
  return { primary: undefined, epoch, why: `no node that answered leads epoch ${epoch}, the newest known${seen}` };
}

/** The report in a node's `status` answer, or undefined when it has not the shape of a primary-mode node's. */
export function reportOf(url: string, status: Json): NodeReport | undefined {
  if (typeof status !== "object" || status === null || Array.isArray(status)) return undefined;
  const s = status as { readonly [key: string]: Json };
  const { id, role, epoch, fenced } = s;
  if (typeof id !== "string" || (role !== "primary" && role !== "replica") || typeof epoch !== "number" || typeof fenced !== "boolean") return undefined;
  return { url, id, role, epoch, fenced };
}

/** Options of a {@link NodeGroup}. */
export interface NodeGroupOptions {
  /** Where writes go until a node says otherwise. */
  readonly primary: string;
  readonly replicas: readonly string[];
  /** Opens the link to one node. The group owns the links it opens. */
  readonly link: (url: string) => NodeLink;
  /** Hears each change of primary, after it. MUST NOT throw. */
  readonly onPrimaryChange: (primary: NodeLink) => void;
}

/** The links to every node, and where writes go (see the module comment). */
export class NodeGroup {
  /** Every node's link: `nodes.primary` first, then `nodes.replicas` in order. */
  readonly links: readonly NodeLink[];
  readonly #onPrimaryChange: (primary: NodeLink) => void;
  #primary: NodeLink;
  /** The epoch the primary leads, once learned. */
  #primaryEpoch: number | undefined;
  /** The newest epoch seen anywhere: the client-side fence. */
  #epochSeen = 0;
  #discovering: Promise<PrimaryChoice> | undefined;
  #nextRead = 0;

  constructor(o: NodeGroupOptions) {
    this.links = [o.primary, ...o.replicas].map((url) => o.link(url));
    this.#primary = this.links[0]!;
    this.#onPrimaryChange = o.onPrimaryChange;
  }

  /** The link writes go to now. */
  get primary(): NodeLink {
    return this.#primary;
  }

  /** The epoch {@link primary} leads, once a status or a write's acknowledgement told it. */
  get primaryEpoch(): number | undefined {
    return this.#primaryEpoch;
  }

  /**
   * True when an epoch newer than the primary's is known (or any epoch, while the primary's is
   * not): discover before writing there.
   */
  get primaryOutdated(): boolean {
    return (this.#primaryEpoch ?? 0) < this.#epochSeen;
  }

  /** The link to `url` (a normalized URL of `nodes`), if any. */
  find(url: string): NodeLink | undefined {
    return this.links.find((l) => l.url === url);
  }

  /** A position's epoch was seen (in a read): a primary of that epoch exists. */
  observeEpoch(epoch: number): void {
    this.#epochSeen = Math.max(this.#epochSeen, epoch);
  }

  /** `link` acknowledged a write in `epoch`: it led that epoch then. */
  acknowledged(link: NodeLink, epoch: number): void {
    this.observeEpoch(epoch);
    if (link === this.#primary) this.#primaryEpoch = Math.max(this.#primaryEpoch ?? 0, epoch);
  }

  /**
   * Asks every node's status (within `timeoutMs`) and adopts the primary {@link choosePrimary}
   * picks. Concurrent calls share one round of questions. Resolves with the choice (its
   * `primary` undefined when none); never rejects.
   */
  discover(timeoutMs: number): Promise<PrimaryChoice> {
    this.#discovering ??= this.#probe(timeoutMs).finally(() => (this.#discovering = undefined));
    return this.#discovering;
  }

  /** The link a read goes to: the primary, or the other nodes in turn (skipping those known down while another is not). */
  readLink(read: "primary" | "replica"): NodeLink {
    const others = this.links.filter((l) => l !== this.#primary);
    if (read === "primary" || others.length === 0) return this.#primary;
    const n = others.length;
    for (let i = 0; i < n; i++) {
      const link = others[(this.#nextRead + i) % n]!;
      if (link.state !== "down") {
        this.#nextRead = (this.#nextRead + i + 1) % n;
        return link;
      }
    }
    const link = others[this.#nextRead % n]!;
    this.#nextRead = (this.#nextRead + 1) % n;
    return link;
  }

  /** Closes every link (their pending requests reject with `Closed`). */
  close(): void {
    for (const l of this.links) l.close();
  }

  async #probe(timeoutMs: number): Promise<PrimaryChoice> {
    const answers = await Promise.allSettled(this.links.map((l) => l.request({ type: "status" }, timeoutMs)));
    const reports: NodeReport[] = [];
    answers.forEach((a, i) => {
      if (a.status !== "fulfilled" || a.value.type !== "status") return;
      const report = reportOf(this.links[i]!.url, a.value.status);
      if (report !== undefined) reports.push(report);
    });
    const choice = choosePrimary(reports, this.#epochSeen);
    this.#epochSeen = choice.epoch;
    const chosen = choice.primary === undefined ? undefined : this.find(choice.primary.url);
    if (chosen === undefined) return choice;
    this.#primaryEpoch = choice.epoch;
    if (chosen !== this.#primary) {
      this.#primary = chosen;
      this.#onPrimaryChange(chosen);
    }
    return choice;
  }
}

/** The `Unavailable` of a write no node can take now (discovery found no primary). */
export function noPrimary(choice: PrimaryChoice, cause: unknown): ConcordError {
  return new ConcordError("Unavailable", `no primary to write to: ${choice.why}; the write was not sent, so it was not applied`, { outcome: "not-applied" }, { cause });
}
