import { defineConfig } from 'vitest/config';

/**
 * The suites that run on each store (`HERALD_TEST_DB`, see test/store-under-test.ts): what
 * goes through the API, the dispatcher or `herald serve` (a new suite of these joins the list
 * once it opens its store with `openTestStore`). The rest run once, on SQLite:
 * test/core and test/verify touch no store, test/store runs its contract on both backends
 * itself, and standing-claim.test.ts and remote-store.test.ts test what only the SQLite
 * store has (standing claims; the dispatcher thread's transport).
 */
const ON_EACH_STORE = [
  'test/api/auth-parity.test.ts',
  'test/api/background-tasks.test.ts',
  'test/api/bad-input.test.ts',
  'test/api/deliver-at.test.ts',
  'test/api/endpoint-delivery-settings.test.ts',
  'test/api/endpoint-parity.test.ts',
  'test/api/event-type-schemas.test.ts',
  'test/api/event-types-parity.test.ts',
  'test/api/expunge.test.ts',
  'test/api/grafana-dashboard.test.ts',
  'test/api/headers.test.ts',
  'test/api/health-cors.test.ts',
  'test/api/health-liveness.test.ts',
  'test/api/json-depth.test.ts',
  'test/api/listen-limits.test.ts',
  'test/api/listener-endpoints.test.ts',
  'test/api/list-filters.test.ts',
  'test/api/list-pagination.test.ts',
  'test/api/message-tags.test.ts',
  'test/api/messages.test.ts',
  'test/api/metrics.test.ts',
  'test/api/queue-metrics.test.ts',
  'test/api/nul.test.ts',
  'test/api/operational-webhooks.test.ts',
  'test/api/payload-filters.test.ts',
  'test/api/resend-precheck.test.ts',
  'test/api/sdk-routes.test.ts',
  'test/api/svix-sdk.test.ts',
  'test/api/tenants.test.ts',
  'test/api/tracing.test.ts',
  'test/api/task-tracing.test.ts',
  'test/api/unknown-fields.test.ts',
  'test/cli/database.test.ts',
  'test/dashboard/dashboard.test.ts',
  'test/dashboard/failures-host.test.ts',
  'test/dashboard/manage.test.ts',
  'test/dashboard/search.test.ts',
  'test/store/listeners.test.ts',
  'test/delivery/dispatcher.test.ts',
  'test/delivery/header-values.test.ts',
  'test/delivery/receiver-faults.test.ts',
  'test/delivery/resilience.test.ts',
  'test/delivery/responses.test.ts',
  'test/delivery/throttle.test.ts',
  'test/delivery/wake-backoff.test.ts',
  'test/inbound/gateway.test.ts',
  'test/inbound/body-retention.test.ts',
  'test/store/retention.test.ts',
  'test/transform/transformations.test.ts',
  'test/store/upgrade.test.ts',
  'test/store/activity.test.ts',
  'test/store/resend.test.ts',
  'test/store/failures.test.ts',
  'test/api/failures.test.ts',
  'test/api/activity.test.ts',
  'test/api/activity-snapshots.test.ts',
  'test/api/event-type-schemas.test.ts',
  'test/api/app-name-search.test.ts',
  'test/api/search.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Each test file owns its SQLite files, PostgreSQL schemas and servers; files run in
    // parallel workers, both projects at once. Two workers even on two cores (Vitest's default
    // there is one): most files wait on sockets, child processes and PostgreSQL, not the CPU.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'sqlite', include: ['test/**/*.test.ts'], env: { HERALD_TEST_DB: 'sqlite' } },
      },
      {
        extends: true,
        test: { name: 'postgres', include: ON_EACH_STORE, env: { HERALD_TEST_DB: 'postgres' } },
      },
    ],
  },
});
