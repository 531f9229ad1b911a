// Written by `joinflow import asl machine.asl.json`: the handler of every step of workflow.json.
// Import the machine again rather than editing this file.
import { aslHandler } from 'joinflow/asl';
import * as tasks from './tasks.ts';

export const handler = aslHandler(tasks);
