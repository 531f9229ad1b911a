/**
 * The byte level of the journal's rows (journal-codec.ts): facts are written as variable-length
 * integers into a growing buffer instead of JSON numbers, which costs a few nanoseconds per
 * number instead of some thirty (bench/fact-encoding.ts) and a byte or two instead of three to
 * five. Three kinds of field:
 * - `u`: an unsigned integer (codes, name and object numbers, counts, sequence numbers, flags),
 *   7 bits per byte, low bits first;
 * - `s`: any number (times, attempts, items; -1 for "none"): an integer n in ±2^50 as 4n (n ≥ 0)
 *   or 4(-n) - 2 (n < 0) in a `u`; anything else as the `u` 1 and 8 bytes of float64;
 * - `v`: any JSON value: null, false, true and numbers inline (a tag, then an `s`), strings and
 *   objects by their number in the row's list of values, which is written as JSON. An object
 *   written twice into a row (a fan-in's collected outputs: the step's result, its event, the next
 *   task's results) is listed once.
 */
import { constants } from 'node:buffer';

/** Tags of a `v` field. */
const V = { Null: 0, False: 1, True: 2, Number: 3, Value: 4 } as const;
const MAX_INT = 2 ** 50;
const EMPTY = Buffer.alloc(0);
const { MAX_STRING_LENGTH } = constants;
/** The largest scratch buffer a row is written into (see {@link ByteWriter.row}). */
const SCRATCH_MAX = 1 << 24;
/** SQLite's largest blob (SQLITE_MAX_LENGTH). */
export const MAX_ROW_BYTES = 1_000_000_000;

export class ByteWriter {
  protected buf: Buffer;
  protected n = 0;
  /** Values written by number (strings, objects), as JSON with the row. */
  protected values: unknown[] = [];
  /** The objects in `values`, by identity, with their numbers. */
  #listed: Map<object, number> | undefined;

  /** `buf`: a buffer to write into (one a finished writer gave back), else a new one. */
  constructor(buf?: Buffer) {
    this.buf = buf ?? Buffer.allocUnsafe(256);
  }

  get length(): number {
    return this.n;
  }

  #grow(k: number): void {
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(b, 0, 0, this.n);
    this.buf = b;
  }

  /** An unsigned integer below 2^53. */
  u(x: number): void {
    if (this.n + 8 > this.buf.length) this.#grow(8);
    const b = this.buf;
    let n = this.n;
    if (x < 0x80) b[n++] = x;
    else if (x < 0x10000000) {
      while (x >= 0x80) {
        b[n++] = (x & 0x7f) | 0x80;
        x >>>= 7;
      }
      b[n++] = x;
    } else {
      while (x >= 0x80) {
        b[n++] = (x % 0x80) | 0x80;
        x = Math.floor(x / 0x80);
      }
      b[n++] = x;
    }
    this.n = n;
  }

  /** Any number. */
  s(x: number): void {
    if (Number.isInteger(x) && x <= MAX_INT && x >= -MAX_INT) {
      this.u(x >= 0 ? x * 4 : -x * 4 - 2);
      return;
    }
    this.u(1);
    if (this.n + 8 > this.buf.length) this.#grow(8);
    this.buf.writeDoubleLE(x, this.n);
    this.n += 8;
  }

  /** Any JSON value (undefined, and numbers JSON cannot write, read back as null, as in JSON). */
  v(x: unknown): void {
    if (x === null || x === undefined) this.u(V.Null);
    else if (typeof x === 'number') {
      if (Number.isFinite(x)) {
        this.u(V.Number);
        this.s(x);
      } else this.u(V.Null);
    } else if (x === false) this.u(V.False);
    else if (x === true) this.u(V.True);
    else {
      this.u(V.Value);
      if (typeof x === 'object') {
        const listed = (this.#listed ??= new Map());
        const i = listed.get(x);
        if (i !== undefined) {
          this.u(i);
          return;
        }
        listed.set(x, this.values.length);
      }
      this.u(this.values.length);
      this.values.push(x);
    }
  }

  /**
   * A value (an object) of its own, as a `v` field: never shared with another field of the row,
   * so that it may be replaced before the row is written ({@link replaceValue}). Returns its number.
   */
  own(x: object): number {
    const i = this.values.length;
    this.u(V.Value);
    this.u(i);
    this.values.push(x);
    return i;
  }

  /** Replaces value `i`, written by {@link own}. */
  replaceValue(i: number, x: unknown): void {
    this.values[i] = x;
  }

  /** The value numbered `i`. */
  value(i: number): unknown {
    return this.values[i];
  }

  /** Sets these bits of the one-byte field at `at` (written by `u` with a value below 128). */
  setBits(at: number, bits: number): void {
    this.buf[at]! |= bits;
  }

  /** Drops what was written from `at` on (and values from `values` on). */
  truncate(at: number, values: number): void {
    this.n = at;
    if (this.#listed) for (const [x, i] of this.#listed) if (i >= values) this.#listed.delete(x);
    this.values.length = values;
  }

  get valueCount(): number {
    return this.values.length;
  }

  /**
   * The row: a format byte (1), the length of `head` in bytes, `head` (UTF-8), then the facts.
   * `head` is JSON and ends with the list of values. With `scratch`, the row is written into
   * its buffer (grown when too small): valid until the next row is written into it. A row over
   * 16 MiB gets a buffer of its own, let go with the row: the scratch buffer is kept for the
   * process's life, and would keep a large input's or output's size.
   *
   * Values too large together for one JavaScript string (about 512 MB of JSON) make a row of
   * format 2: `head` ends with the number of values, and each value follows it as its own JSON
   * (its length in bytes, then the text), before the facts.
   */
  row(headBeforeValues: string, scratch?: { buf: Buffer }): Buffer {
    // The head is written in two pieces, not joined into one string: measuring or writing a
    // joined one would copy the values' JSON once more (a large input's or output's size).
    let values: string | undefined;
    let parts: Buffer[] | undefined;
    try {
      values = JSON.stringify(this.values);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
    }
    // The head is read back as one string: past the longest, the values go one by one.
    if (values === undefined || headBeforeValues.length + values.length + 1 > MAX_STRING_LENGTH) {
      values = `${this.values.length}`;
      parts = this.values.map((x, i) => {
        try {
          return Buffer.from(JSON.stringify(x), 'utf8');
        } catch (e) {
          if (e instanceof RangeError) throw new Error(`value ${i} of the row (a step's output, input or collected results) is too large to write as JSON (over about 512 MB)`, { cause: e });
          throw e;
        }
      });
    }
    const hl = Buffer.byteLength(headBeforeValues) + Buffer.byteLength(values) + 1;
    let size = 1 + varintLength(hl) + hl + this.n;
    if (parts) for (const p of parts) size += varintLength(p.length) + p.length;
    if (size > MAX_ROW_BYTES) throw new Error(`the row is ${size} bytes, over SQLite's ${MAX_ROW_BYTES} (its values are too large to keep)`);
    let out: Buffer;
    if (!scratch || size > SCRATCH_MAX) out = Buffer.allocUnsafe(size);
    else {
      if (scratch.buf.length < size) scratch.buf = Buffer.allocUnsafe(Math.max(size, scratch.buf.length * 2));
      out = scratch.buf.subarray(0, size);
    }
    out[0] = parts ? 2 : 1;
    let at = writeVarint(out, 1, hl);
    at += out.write(headBeforeValues, at, 'utf8');
    at += out.write(values, at, 'utf8');
    out[at++] = 0x5d; // ]
    if (parts) {
      for (const p of parts) {
        at = writeVarint(out, at, p.length);
        at += p.copy(out, at);
      }
    }
    this.buf.copy(out, at, 0, this.n);
    return out;
  }

  /**
   * Forgets everything written and gives back the buffer, for another writer to reuse (unless a
   * big row grew it past 64 KiB); nothing may be written here after.
   */
  release(): Buffer | undefined {
    const buf = this.buf;
    this.n = 0;
    this.values = [];
    this.#listed = undefined;
    this.buf = EMPTY;
    return buf.length > 1 << 16 ? undefined : buf;
  }
}

function writeVarint(out: Buffer, at: number, x: number): number {
  while (x >= 0x80) {
    out[at++] = (x % 0x80) | 0x80;
    x = Math.floor(x / 0x80);
  }
  out[at++] = x;
  return at;
}

function varintLength(x: number): number {
  let k = 1;
  while (x >= 0x80) {
    x = Math.floor(x / 0x80);
    k++;
  }
  return k;
}

/** The head and facts of a binary row (see {@link ByteWriter.row}). */
export function splitRow(row: Uint8Array): { head: unknown[]; facts: ByteReader } {
  const format = row[0];
  if (format !== 1 && format !== 2) throw new Error(`journal row: unknown format ${format ?? '(empty)'}`);
  const text = (from: number, length: number): string => Buffer.from(row.buffer, row.byteOffset + from, length).toString('utf8');
  let [hl, at] = readVarint(row, 1);
  const head = JSON.parse(text(at, hl)) as unknown[];
  at += hl;
  if (format === 2) {
    const values: unknown[] = new Array(head[head.length - 1] as number);
    for (let i = 0; i < values.length; i++) {
      let length: number;
      [length, at] = readVarint(row, at);
      values[i] = JSON.parse(text(at, length));
      at += length;
    }
    head[head.length - 1] = values;
  }
  return { head, facts: new ByteReader(row, at, head[head.length - 1] as unknown[]) };
}

function readVarint(row: Uint8Array, at: number): [number, number] {
  let x = 0;
  for (let shift = 0; ; shift += 7) {
    if (at >= row.length) throw new Error(`journal row: a length runs past the end (byte ${at})`);
    const b = row[at++]!;
    x += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [x, at];
  }
}

/** Reads the fields a {@link ByteWriter} wrote, in order. */
export class ByteReader {
  readonly #b: Uint8Array;
  #at: number;
  readonly #values: unknown[];

  constructor(b: Uint8Array, at: number, values: unknown[]) {
    this.#b = b;
    this.#at = at;
    this.#values = values;
  }

  get at(): number {
    return this.#at;
  }

  more(): boolean {
    return this.#at < this.#b.length;
  }

  u(): number {
    const b = this.#b;
    let x = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.#at >= b.length) throw new Error(`journal row: a field runs past the end (byte ${this.#at})`);
      const c = b[this.#at++]!;
      x += (c & 0x7f) * 2 ** shift;
      if (c < 0x80) return x;
    }
  }

  s(): number {
    const v = this.u();
    if (v === 1) {
      const b = this.#b;
      const x = Buffer.from(b.buffer, b.byteOffset + this.#at, 8).readDoubleLE(0);
      this.#at += 8;
      return x;
    }
    return v % 4 === 0 ? v / 4 : -(v + 2) / 4;
  }

  v(): unknown {
    const tag = this.u();
    switch (tag) {
      case V.Null:
        return null;
      case V.False:
        return false;
      case V.True:
        return true;
      case V.Number:
        return this.s();
      case V.Value: {
        const i = this.u();
        if (i >= this.#values.length) throw new Error(`journal row: value ${i} of ${this.#values.length} (byte ${this.#at})`);
        return this.#values[i];
      }
      default:
        throw new Error(`journal row: unknown value tag ${tag} (byte ${this.#at - 1})`);
    }
  }
}
