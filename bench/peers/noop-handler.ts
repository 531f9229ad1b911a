/** The no-op function step of the peer benchmark: returns at once, like HyperFlow's `noop`. */
export const handler = (): null => null;
