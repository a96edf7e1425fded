/**
 * One stand-in runner API per test, for the runner's Node tests: started before
 * each test, closed after it together with the test's temp dirs. The returned
 * object stands for the current test's API, so a test file reads and sets
 * `api.store`, `api.putChunkDelayMs`, … as if it held the instance itself.
 */
import { afterEach, beforeEach } from "vitest";
import { cleanupTemp } from "./runner-fixtures.ts";
import { type StandinRunnerApi, startStandinRunnerApi } from "./standin-runner-api.ts";

export function useStandinRunnerApi(): StandinRunnerApi {
  let current: StandinRunnerApi | undefined;
  beforeEach(async () => {
    current = await startStandinRunnerApi();
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
    await cleanupTemp();
  });
  const instance = (): StandinRunnerApi => {
    if (!current) throw new Error("the stand-in runner API exists only inside a test");
    return current;
  };
  // Reads and writes (e.g. `api.putChunkDelayMs = 20`) go to this test's instance.
  return new Proxy({} as StandinRunnerApi, {
    get(_target, key) {
      const value: unknown = Reflect.get(instance(), key);
      return typeof value === "function" ? value.bind(current) : value;
    },
    set(_target, key, value) {
      return Reflect.set(instance(), key, value);
    },
  });
}
