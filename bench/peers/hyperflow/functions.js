// The no-op task of the peer benchmark. HyperFlow loads `functions.js` from the workflow
// directory (run-workflow.cjs copies this file there). It counts its calls so the driver can
// check that every task ran exactly once.
'use strict';

let calls = 0;

/** A HyperFlow process function that calls back at once with its (unchanged) output signals. */
function noop(ins, outs, context, cb) {
  calls += 1;
  cb(null, outs);
}

module.exports = { noop, calls: () => calls };
