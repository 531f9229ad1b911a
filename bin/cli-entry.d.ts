/** See cli-entry.js. */
export function compiledCli(root: string, env?: Record<string, string | undefined>): string | undefined;
/** See cli-entry.js. */
export const PACKED: string;
/** See cli-entry.js. */
export function dateInstalledBuild(root: string): boolean;
