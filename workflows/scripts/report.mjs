// Merges the predecessors' counts.
let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const { results } = JSON.parse(raw);
console.log(JSON.stringify({ ...results.words, ...results.lines }));
