/** Builds `dist/` once before the tests, so process tests run the real `herald` command. */
import { execSync } from 'node:child_process';

export default function setup(): void {
  execSync('npm run build', { stdio: 'inherit' });
}
