/** The TriggerStore contract against the in-memory store (the reference implementation). */
import { createMemoryStore } from '../../src/adapters/local/memory-store.ts';
import { describeSizedJoinContract } from './sized-join.contract.ts';
import { describeTriggerStoreContract } from './trigger-store.contract.ts';

describeTriggerStoreContract('memory', async () => ({ store: createMemoryStore() }));
describeSizedJoinContract('memory', async () => ({ store: createMemoryStore() }));
