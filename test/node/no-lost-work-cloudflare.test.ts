/**
 * No lost work on any path, on the cloudflare backend (the suite: no-lost-work.suite.ts).
 */
import { cloudflareHarness, defineNoLostWorkSuite } from "./no-lost-work.suite.ts";

defineNoLostWorkSuite("cloudflare", cloudflareHarness);
