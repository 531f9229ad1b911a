/**
 * What writing a journal fact costs in JavaScript, whatever the store: 200,000 facts of 13
 * numbers (a step event's size), written (1) as the journal did in schema 3, pushed onto an array
 * and serialized with JSON.stringify; (2) concatenated into a string; (3) put into a Float64Array
 * and joined; (4) as the journal does now (schema 4), as variable-length integers into bytes
 * (journal-bytes.ts). Prints ns per fact for each, the last of 4 rounds.
 * Usage: node --import tsx bench/fact-encoding.ts
 */
import { ByteWriter } from '../src/adapters/local/journal-bytes.ts';

const N = 200_000;
const out: Record<string, number> = {};
for (let round = 0; round < 4; round++) {
  const t0 = performance.now();
  const arr: unknown[] = [];
  for (let i = 0; i < N; i++) arr.push(21, i, 0, 1, 0, i & 1023, 5, 7, 100 + (i % 1000), 1, -1, -1, i % 2 ? null : 0);
  const t1 = performance.now();
  const json = JSON.stringify(arr);
  const t2 = performance.now();
  let s = '';
  for (let i = 0; i < N; i++) s += `,21,${i},0,1,0,${i & 1023},5,7,${100 + (i % 1000)},1,-1,-1,${i % 2 ? 'null' : '0'}`;
  const flat = s.slice(1);
  flat.charCodeAt(0);
  const t3 = performance.now();
  let buf = new Float64Array(1024);
  let n = 0;
  const put = (x: number): void => {
    if (n === buf.length) {
      const b = new Float64Array(buf.length * 2);
      b.set(buf);
      buf = b;
    }
    buf[n++] = x;
  };
  for (let i = 0; i < N; i++) for (const x of [21, i, 0, 1, 0, i & 1023, 5, 7, 100 + (i % 1000), 1, -1, -1, 0]) put(x);
  const t4 = performance.now();
  const joined = buf.subarray(0, n).join(',');
  const t5 = performance.now();
  const w = new ByteWriter();
  for (let i = 0; i < N; i++) {
    w.u(21); w.u(i); w.u(0); w.u(1); w.s(0); w.s(i & 1023); w.u(5); w.u(7); w.s(100 + (i % 1000)); w.u(1); w.s(-1); w.s(-1);
    w.v(i % 2 ? null : 0);
  }
  const t6 = performance.now();
  const bytes = w.row('[');
  const t7 = performance.now();
  const ns = (ms: number) => Math.round((ms * 1e6) / N);
  Object.assign(out, {
    arrayPushNs: ns(t1 - t0), jsonStringifyNs: ns(t2 - t1), stringConcatNs: ns(t3 - t2), float64PutNs: ns(t4 - t3), float64JoinNs: ns(t5 - t4),
    varintPutNs: ns(t6 - t5), varintRowNs: ns(t7 - t6),
    bytesPerFact: Math.round((json.length / N) * 10) / 10, varintBytesPerFact: Math.round((bytes.length / N) * 10) / 10,
    checks: flat.length > 0 && joined.length > 0 && bytes.length > 0,
  });
}
process.stdout.write(`${JSON.stringify({ facts: N, valuesPerFact: 13, ...out })}\n`);
