/** Management commands for people without an SDK: thin calls to a running Herald's API. */

/** Where the API is and how to authenticate. */
export interface ClientOptions {
  server: string;
  token: string | undefined;
}

/** An API call that failed; printed as the CLI's error. */
export class CliError extends Error {}

/** Calls the API and returns its JSON answer; throws {@link CliError} with a readable message. */
export async function call(
  options: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  if (!options.token) throw new CliError('no API token: pass --token or set HERALD_TOKEN');
  let response: Response;
  try {
    response = await fetch(new URL(`/api/v1${path}`, options.server), {
      method,
      headers: {
        authorization: `Bearer ${options.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (cause) {
    throw new CliError(`cannot reach Herald at ${options.server}: ${(cause as Error).cause ?? cause}`);
  }
  const text = await response.text();
  if (!response.ok) throw new CliError(`${method} ${path} failed with ${response.status}: ${text}`);
  return text === '' ? null : JSON.parse(text);
}

/** Prints a JSON answer. */
export function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
