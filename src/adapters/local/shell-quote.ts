/** A word as a POSIX shell needs it to read it back unchanged: for commands shown to the user, never run through a shell. */
export function shellQuote(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  // Control characters would break the line it is shown on: ANSI-C quoting shows them escaped.
  if (/[\x00-\x1f\x7f]/.test(arg)) return `$'${arg.replace(/[\\']/g, '\\$&').replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))}'`;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
