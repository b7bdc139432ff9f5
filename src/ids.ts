/**
 * Branded identifiers (STYLE.md section 7): a `DocId` can't be passed where a `PeerId` is expected.
 * Brands cost nothing at run time; construct them only through the functions here.
 */

declare const brand: unique symbol;
/** `T` tagged with a compile-time-only brand `B`. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Names one replicated document (a keyspace). Non-empty, at most 255 UTF-16 code units. */
export type DocId = Brand<string, "DocId">;
/** Names one endpoint of a transport: a replica, a client connection or a server. */
export type PeerId = Brand<string, "PeerId">;

/** Brands a string as a {@link DocId}; validation is the caller's (storage adapters check names). */
export const asDocId = (s: string): DocId => s as DocId;
/** Brands a string as a {@link PeerId}. */
export const asPeerId = (s: string): PeerId => s as PeerId;
