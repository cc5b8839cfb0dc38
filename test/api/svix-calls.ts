/** What the suites that drive Herald through the official `svix` client share. */
import { ApiException, BackgroundTaskStatus, type Svix } from 'svix';

/** The ApiException a call rejects with; fails the test if it succeeds or throws anything else. */
export async function failure(promise: Promise<unknown>): Promise<ApiException<unknown>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiException) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** Asks the API (not wall time) until the task is no longer running. */
export async function settled(svix: Svix, id: string) {
  for (let i = 0; i < 400; i++) {
    const task = await svix.backgroundTask.get(id);
    if (task.status !== BackgroundTaskStatus.Running) return task;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`task ${id} still running`);
}
