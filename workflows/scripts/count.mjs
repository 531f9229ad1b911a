// Reads the step event on stdin; counts words or lines of input.text.
let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const { input } = JSON.parse(raw);
const text = String(input?.text ?? '');
const what = process.argv[2];
const count = what === 'lines' ? (text === '' ? 0 : text.split('\n').length) : text.split(/\s+/).filter(Boolean).length;
console.error(`counted ${count} ${what}`);
console.log(JSON.stringify({ [what]: count }));
