/**
 * The options of a durable state dir (openDurableState, and the row and journal stores behind
 * it), in a module that imports no better-sqlite3: the package's type declarations of
 * openDurableState reach these, and a TypeScript user of the package has no @types/better-sqlite3.
 */

/** How hard a commit is made durable. */
export type SyncMode = 'normal' | 'full';

/** Options of a state dir: openDurableState's, and its two stores'. */
export type SqliteStateOptions = {
  /** Directory of the state file; created if missing. */
  dir: string;
  /**
   * `normal` (default): a commit survives a crash of the process, not necessarily a power loss
   * or OS crash (the last commits may then be lost, the file stays consistent). `full`: fsync
   * on every commit, surviving power loss too, at a large cost in commits per second.
   */
  sync?: SyncMode;
  /** How long a write waits for another connection's lock before failing; default 5000 ms. */
  busyTimeoutMs?: number;
  /**
   * Most pages the state database may have (SQLite's max_page_count; a page is 4 KiB): past it,
   * a commit fails as on a full disk (SQLITE_FULL). For tests of that case; default: no limit.
   */
  maxPages?: number;
};
