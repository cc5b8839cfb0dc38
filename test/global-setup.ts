/** Builds `dist/` once before the tests, so process tests run the real `herald` command. */
import { execSync } from 'node:child_process';

export default function setup(): void {
  // Each project (sqlite, postgres) runs the global setup; one build serves both.
  const built = globalThis as { heraldBuilt?: boolean };
  if (built.heraldBuilt) return;
  built.heraldBuilt = true;
  execSync('npm run build', { stdio: 'inherit' });
}
