/**
 * What a resend of a delivery that is being sent right now answers: the attempt in flight is
 * the one the endpoint gets, and making the delivery due again under it would be lost when
 * that attempt is recorded. Both stores refuse it the same way while the sender's lease
 * lasts; once it has expired (the sender died) the resend is taken.
 */
import { ConflictError } from '../core/errors.js';

export function beingSent(msgId: string, endpointId: string): ConflictError {
  return new ConflictError(
    `message ${msgId} is being sent to endpoint ${endpointId} right now: resend it once that attempt is recorded`,
  );
}
