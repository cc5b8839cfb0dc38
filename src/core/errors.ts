/**
 * Herald's errors. Each subclass has a stable `code`; the API layer maps them to HTTP
 * responses in one place. The original error is kept as `cause`.
 */
export class HeraldError extends Error {
  /** Stable machine-readable code. */
  readonly code: string = 'herald_error';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input that breaks a rule; `field` names what is wrong. */
export class ValidationError extends HeraldError {
  override readonly code = 'validation';
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
  }
}

/** A looked-up thing does not exist. */
export class NotFoundError extends HeraldError {
  override readonly code = 'not_found';
}

/** The request conflicts with what is stored (duplicate uid or eventId). */
export class ConflictError extends HeraldError {
  override readonly code: string = 'conflict';
}

/** The endpoint is disabled, so what was asked would send nothing to it. */
export class EndpointDisabledError extends ConflictError {
  override readonly code = 'endpoint_disabled';
}

/** The message's payload is gone (expunged, or past its retention), so it cannot be sent again. */
export class PayloadGoneError extends ConflictError {
  override readonly code = 'missing_payload';
}

/** The store cannot be reached or failed; the request may be retried. */
export class StoreUnavailableError extends HeraldError {
  override readonly code = 'store_unavailable';
}

/** The component is shutting down and takes no new work. */
export class ShuttingDownError extends HeraldError {
  override readonly code = 'shutting_down';
}
