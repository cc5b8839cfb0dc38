/**
 * The management commands' HTTP client: thin calls to a running Herald's `/api/v1`, whose
 * failures become one line saying what is wrong and what to do.
 */

/** Where the API is and how to authenticate. */
export interface ClientOptions {
  server: string;
  token: string | undefined;
}

/** A failure the CLI prints as its error, in words a person can act on. */
export class CliError extends Error {}

/** An API answer: its parsed JSON body (`null` when empty) and its headers. */
export interface Answer<T> {
  body: T;
  headers: Headers;
}

/** What a request carries besides its method and path. */
export interface RequestParts {
  body?: unknown;
  /** Query parameters; an array repeats the name, `undefined` leaves it out. */
  query?: Record<string, string | readonly string[] | undefined>;
}

/** Calls the API; throws {@link CliError} unless it answers 2xx. */
export async function request<T = unknown>(
  options: ClientOptions,
  method: string,
  path: string,
  parts: RequestParts = {},
): Promise<Answer<T>> {
  if (!options.token)
    throw new CliError(
      'no API token: set HERALD_TOKEN or pass --token (herald serve prints one on its first start)',
    );
  const url = apiUrl(options.server, path);
  for (const [name, value] of Object.entries(parts.query ?? {})) {
    for (const v of typeof value === 'string' ? [value] : (value ?? [])) url.searchParams.append(name, v);
  }
  const { body } = parts;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${options.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw unreachable(options.server, error);
  }
  const text = await response.text();
  if (!response.ok) throw new CliError(refusal(response.status, text));
  return { body: (text === '' ? null : JSON.parse(text)) as T, headers: response.headers };
}

/** Calls the API and returns its JSON answer; see {@link request}. */
export async function call<T = unknown>(
  options: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  return (await request<T>(options, method, path, body === undefined ? {} : { body })).body;
}

function apiUrl(server: string, path: string): URL {
  try {
    return new URL(`${server.replace(/\/+$/, '')}/api/v1${path}`);
  } catch (cause) {
    throw new CliError(`--server ${server} is not a URL; pass one like http://127.0.0.1:8071`, { cause });
  }
}

/** Why fetch could not reach Herald, in one line. */
function unreachable(server: string, error: unknown): CliError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED')
    return new CliError(`no Herald at ${server}: start it with \`npx herald serve\` or pass --server`, {
      cause: error,
    });
  return new CliError(`cannot reach Herald at ${server}: ${cause?.message ?? String(error)}`, {
    cause: error,
  });
}

/** What a non-2xx answer means for the person at the terminal. */
function refusal(status: number, text: string): string {
  let detail = text.trim() || `status ${status}`;
  try {
    const body = JSON.parse(text) as { detail?: unknown };
    if (typeof body.detail === 'string') detail = body.detail;
    // A 422 lists each problem as {loc, msg}; msg already names the field.
    else if (Array.isArray(body.detail))
      detail = body.detail.map((d: { msg?: string }) => d.msg ?? JSON.stringify(d)).join('; ');
  } catch {
    // Not JSON (a proxy's error page): its text is the detail.
  }
  if (status === 401) return 'the token was refused: set HERALD_TOKEN or pass --token';
  if (status === 403) return `this token may not do that: ${detail}`;
  if (status === 422) return `Herald refused the input: ${detail}`;
  if (status >= 500)
    return `Herald failed (${status}): ${detail}; its log (stderr of herald serve) says more`;
  // 404, 409, 413: Herald's own words name the thing and, where there is one, the way out.
  return detail;
}
