/** See cli-entry.js. */
export function compiledCli(root: string, env?: Record<string, string | undefined>): string | undefined;
