/**
 * No lost work on any path, on the local backend (the suite: no-lost-work.suite.ts).
 */
import { defineNoLostWorkSuite, localHarness } from "./no-lost-work.suite.ts";

defineNoLostWorkSuite("local", localHarness);
