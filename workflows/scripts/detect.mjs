// The local stand-in for the GPU job of workflows/hybrid.ts: reads the step event on stdin and
// prints its output as JSON on the last line of stdout (the same logic as the detect handler).
let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const { input } = JSON.parse(raw);
const labels = Array.isArray(input?.labels) ? input.labels : [];
console.log(JSON.stringify({ boxes: labels.length * 2, device: 'local script' }));
