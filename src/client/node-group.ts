/**
 * A client's view of its node group: one {@link NodeLink} per node URL it was given, which of them
 * takes writes now (the writer: a primary, a Raft leader), and how it learns of a new one.
 *
 * Discovery asks every node for its `status` over the links already open, reads each answer with
 * the mode's {@link NodeGroupPolicy}, and picks the one node that says it is the writer of the
 * newest term any node reported ({@link chooseWriter}). The client never goes back: the newest term
 * it has seen (in a status, a write's acknowledgement or a read's position) is a floor, and a node
 * that writes in an older term is never chosen, even when it is the only writer that answers (it is
 * fenced or deposed, or about to be, and a write it takes would be discarded). Discovery needs no
 * help from the nodes beyond `status`, so it trusts no single node's word about the others.
 *
 * Not guaranteed: a writer at a URL the client was not given is never found (list every node that
 * may take writes).
 */
import { ConcordError } from "../errors.js";
import type { NodeLink } from "./node-link.js";
import type { NodeGroupPolicy, NodeReport } from "./policy.js";

/** The outcome of {@link chooseWriter}. */
export interface WriterChoice {
  /** The node that takes writes, when exactly one reports itself the writer of `term`. */
  readonly writer: NodeReport | undefined;
  /** The newest term known: the floor, or a newer one a node reported. */
  readonly term: number;
  /** Why no node was chosen (for error messages), when none was. */
  readonly why: string;
}

/**
 * Picks the writer among `reports` (pure): the one node that reports itself the writer of the
 * newest term among `floor` and every report. None when no node writes in that term (it is being
 * elected or promoted, or its node did not answer) or when two claim it (two promotions from the
 * same epoch: an operator's mistake that no client should paper over). `words` name the writer and
 * the term in the reason.
 */
export function chooseWriter(reports: readonly NodeReport[], floor: number, words: NodeGroupPolicy["words"]): WriterChoice {
  const term = reports.reduce((max, r) => Math.max(max, r.term), floor);
  const writers = reports.filter((r) => r.writer && r.term === term);
  if (writers.length === 1) return { writer: writers[0], term, why: "" };
  if (writers.length > 1) return { writer: undefined, term, why: `${writers.map((r) => `${r.id} (${r.url})`).join(" and ")} all claim to lead ${words.term} ${term}` };
  const older = reports.filter((r) => r.writer && r.term < term);
  const seen = older.length === 0 ? "" : `; ${older.map((r) => `${r.id} leads the older ${words.term} ${r.term}`).join(", ")}, so it is not chosen`;
  return { writer: undefined, term, why: `no node that answered leads ${words.term} ${term}, the newest known${seen}` };
}

/** Options of a {@link NodeGroup}. */
export interface NodeGroupOptions {
  /** Every node's URL; writes go to the first until a node says otherwise. */
  readonly urls: readonly string[];
  readonly policy: NodeGroupPolicy;
  /** Opens the link to one node. The group owns the links it opens. */
  readonly link: (url: string) => NodeLink;
  /** Hears each change of writer, after it. MUST NOT throw. */
  readonly onWriterChange: (writer: NodeLink) => void;
}

/** The links to every node, and where writes go (see the module comment). */
export class NodeGroup {
  /** Every node's link, in the order of `urls`. */
  readonly links: readonly NodeLink[];
  readonly policy: NodeGroupPolicy;
  readonly #onWriterChange: (writer: NodeLink) => void;
  #writer: NodeLink;
  /** The term the writer leads, once learned. */
  #writerTerm: number | undefined;
  /** The newest term seen anywhere: the client-side fence. */
  #termSeen = 0;
  #discovering: Promise<WriterChoice> | undefined;
  #nextRead = 0;

  constructor(o: NodeGroupOptions) {
    this.links = o.urls.map((url) => o.link(url));
    this.#writer = this.links[0]!;
    this.policy = o.policy;
    this.#onWriterChange = o.onWriterChange;
  }

  /** The link writes go to now. */
  get writer(): NodeLink {
    return this.#writer;
  }

  /** The term {@link writer} leads, once a status or a write's acknowledgement told it. */
  get writerTerm(): number | undefined {
    return this.#writerTerm;
  }

  /**
   * True when a term newer than the writer's is known (or any term, while the writer's is not):
   * discover before writing there.
   */
  get writerOutdated(): boolean {
    return (this.#writerTerm ?? 0) < this.#termSeen;
  }

  /** The link to `url` (a normalized URL of `nodes`), if any. */
  find(url: string): NodeLink | undefined {
    return this.links.find((l) => l.url === url);
  }

  /** A position's term was seen (in a read): a writer of that term exists. */
  observeTerm(term: number): void {
    this.#termSeen = Math.max(this.#termSeen, term);
  }

  /** `link` acknowledged a write in `term`: it led that term then. */
  acknowledged(link: NodeLink, term: number): void {
    this.observeTerm(term);
    if (link === this.#writer) this.#writerTerm = Math.max(this.#writerTerm ?? 0, term);
  }

  /**
   * Asks every node's status (within `timeoutMs`) and adopts the writer {@link chooseWriter}
   * picks. Concurrent calls share one round of questions. Resolves with the choice (its `writer`
   * undefined when none); never rejects.
   */
  discover(timeoutMs: number): Promise<WriterChoice> {
    this.#discovering ??= this.#probe(timeoutMs).finally(() => (this.#discovering = undefined));
    return this.#discovering;
  }

  /**
   * The link a read goes to: the writer, or the other nodes in turn, skipping those known down or
   * silent (a request to them timed out: `NodeLink.silent`) while another is neither.
   */
  readLink(read: "writer" | "others"): NodeLink {
    const others = this.links.filter((l) => l !== this.#writer);
    if (read === "writer" || others.length === 0) return this.#writer;
    const n = others.length;
    for (let i = 0; i < n; i++) {
      const link = others[(this.#nextRead + i) % n]!;
      if (link.state !== "down" && !link.silent) {
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

  async #probe(timeoutMs: number): Promise<WriterChoice> {
    const answers = await Promise.allSettled(this.links.map((l) => l.request({ type: "status" }, timeoutMs)));
    const reports: NodeReport[] = [];
    answers.forEach((a, i) => {
      if (a.status !== "fulfilled" || a.value.type !== "status") return;
      const report = this.policy.report(this.links[i]!.url, a.value.status);
      if (report !== undefined) reports.push(report);
    });
    const choice = chooseWriter(reports, this.#termSeen, this.policy.words);
    this.#termSeen = choice.term;
    const chosen = choice.writer === undefined ? undefined : this.find(choice.writer.url);
    if (chosen === undefined) return choice;
    this.#writerTerm = choice.term;
    if (chosen !== this.#writer) {
      this.#writer = chosen;
      this.#onWriterChange(chosen);
    }
    return choice;
  }

  /** The `Unavailable` of a write no node can take now (discovery found no writer). */
  noWriter(choice: WriterChoice, cause: unknown): ConcordError {
    return new ConcordError("Unavailable", `no ${this.policy.words.writer} to write to: ${choice.why}; the write was not sent, so it was not applied`, { outcome: "not-applied" }, { cause });
  }
}
