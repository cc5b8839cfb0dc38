/**
 * web/shared/api-types.ts cannot drift from the routes: the types are generated again here
 * from the OpenAPI document of a Herald built in-process, and must equal the committed file.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateApiTypes, TYPES_COMMAND, TYPES_PATH } from '../../scripts/portal-api-types.js';

describe("the portal's API types", () => {
  it(`are what \`${TYPES_COMMAND}\` writes`, async () => {
    const committed = readFileSync(new URL(`../../${TYPES_PATH}`, import.meta.url), 'utf8');
    expect(
      committed === (await generateApiTypes()),
      `${TYPES_PATH} is out of date: run \`${TYPES_COMMAND}\` and commit the result`,
    ).toBe(true);
  });
});
