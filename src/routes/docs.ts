/**
 * @module routes/docs
 * GET /openapi.json (the OpenAPI 3.1 document, generated from the route table) and
 * GET /docs (that document as a self-contained HTML page). Public, like /health: they
 * describe the API and hold nothing of any project's.
 */
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { openApiDocument } from "../openapi/document";
import { docsPage } from "../openapi/html";

export function docsRoutes({ version }: AppDeps): Hono {
  let page: string | undefined;
  return new Hono()
    .get("/openapi.json", (c) => c.json(openApiDocument(version)))
    .get("/docs", (c) => {
      page ??= docsPage(openApiDocument(version));
      return c.html(page);
    });
}
