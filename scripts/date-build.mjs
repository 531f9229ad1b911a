#!/usr/bin/env node
/**
 * Run by the `install` script after the native build: dates dist/.built of a packed build now,
 * since npm wrote src/ after it when it extracted the package (bin/cli-entry.js, dateInstalledBuild).
 * Not in the checkout itself (`npm install` there, INIT_CWD is the package): its build is redone
 * by `prepare`, and a stamp left by an `npm pack` must not make an edited src/ look built.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dateInstalledBuild } from '../bin/cli-entry.js';

const root = fileURLToPath(new URL('..', import.meta.url));
if (path.resolve(process.env.INIT_CWD ?? '') !== path.resolve(root)) dateInstalledBuild(root);
