/** Types of bin/own-package.mjs, for the tests that import it. */
export function initialize(data: { src: string; dist: string }): void;
export function resolve(
  specifier: string,
  context: object,
  nextResolve: (specifier: string, context: object) => Promise<{ url: string; format?: string | null | undefined }>,
): Promise<{ url: string; format?: string | null | undefined }>;
