import { type ErrorCode, SwitchboardError } from '../errors.js';

/** An error a connector throws to answer with a given HTTP status; the message goes to the sender. */
export class HttpError extends SwitchboardError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message);
  }
}

export function errorBody(code: string, message: string): { error: string; message: string } {
  return { error: code, message };
}
