/** What the processor does with a fire that cannot read a result it needs. */
import { UnreadableResultError } from '../model/errors.ts';
import { deadLetter, type Effect } from './effects.ts';

/**
 * Called with what the action of a trigger that has fired threw (`error`), and how many effects
 * there were before it (`mark`). When a stored result it reads cannot be read
 * (UnreadableResultError: a claim-checked object gone, damaged or out of reach), no retry would
 * read it either: the effects the action added are taken back, so that nothing of the fire is
 * carried out (no dispatch of part of a forEach, no acknowledgement), and the event is
 * dead-lettered with the reason instead. The fire's claim stays unacknowledged, as a crashed
 * claimer's does: the event put again once the object is back fires the trigger after the lease.
 * The other triggers the event fired keep their effects. Any other error is thrown on.
 */
export function takeBack(effects: Effect[], mark: number, event: unknown, error: unknown, fire: () => string): void {
  if (!(error instanceof UnreadableResultError)) throw error;
  effects.length = mark;
  effects.push(deadLetter(event, `${fire()} did not fire: ${error.message}. Nothing of it was carried out: restore the object and put this event again, or cancel the run`));
}
