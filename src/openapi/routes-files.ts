/**
 * @module openapi/routes-files
 * The route table of the files routes (files, listings, tar archives): each route's
 * validators' schemas, what it answers and its error codes, as in routes-sandboxes.ts.
 */
import { z } from "zod";
import * as R from "../response-schemas";
import * as S from "../schemas";
import { INPUT, JSON_BODY, type Operation, PATHS, SANDBOX } from "./operation";

const FILE_PATH = "The file's path inside the workspace root, without its leading slash; `/`s separate its segments";
const DIR_PATH = "A directory inside the workspace root, without its leading slash (none: the workspace root)";
const TAR_TYPES = { "application/x-tar": { kind: "binary" as const }, "application/gzip": { kind: "binary" as const } };

export const fileOperations: Operation[] = [
  {
    operationId: "readFile",
    method: "get",
    path: "/sandboxes/:projectId/files/*",
    tag: "Files",
    summary: "Read a file: JSON (utf8 or base64), or raw bytes with `Accept: application/octet-stream`",
    auth: "bearer",
    params: S.ProjectParamSchema,
    wildcard: FILE_PATH,
    query: S.ReadFileQuerySchema,
    headers: [{ name: "Accept", description: "`application/octet-stream` for the raw bytes", schema: z.string() }],
    responses: {
      200: {
        description: "The file",
        json: R.FileContentSchema,
        media: { "application/octet-stream": { kind: "binary" } },
      },
    },
    errors: [
      ...INPUT,
      ...PATHS,
      ...SANDBOX,
      "FILE_NOT_FOUND",
      "IS_A_DIRECTORY",
      "FILE_READ_FAILED",
      "PAYLOAD_TOO_LARGE",
    ],
  },
  {
    operationId: "writeFile",
    method: "put",
    path: "/sandboxes/:projectId/files/*",
    tag: "Files",
    summary: "Write a file (parents created): JSON `{content, encoding?}` or raw bytes",
    auth: "bearer",
    params: S.ProjectParamSchema,
    wildcard: FILE_PATH,
    body: {
      required: true,
      json: S.WriteFileBodySchema,
      media: { "application/octet-stream": { kind: "binary" }, "text/plain": { kind: "text" } },
    },
    responses: { 200: { description: "Written", json: R.FileWrittenSchema } },
    errors: [
      ...JSON_BODY,
      ...PATHS,
      ...SANDBOX,
      "INVALID_BASE64",
      "IS_A_DIRECTORY",
      "NOT_A_DIRECTORY",
      "FILE_WRITE_FAILED",
      "CONFLICT",
    ],
  },
  {
    operationId: "deletePath",
    method: "delete",
    path: "/sandboxes/:projectId/files/*",
    tag: "Files",
    summary: "Delete a file, or a directory with everything in it",
    auth: "bearer",
    params: S.ProjectParamSchema,
    wildcard: FILE_PATH,
    responses: { 200: { description: "Deleted", json: R.PathDeletedSchema } },
    errors: [...INPUT, ...PATHS, ...SANDBOX, "FILE_NOT_FOUND", "FILE_DELETE_FAILED"],
  },
  {
    operationId: "listFiles",
    method: "get",
    path: "/sandboxes/:projectId/ls",
    tag: "Files",
    summary: "List a directory (recursively with `recursive=true`)",
    auth: "bearer",
    params: S.ProjectParamSchema,
    query: S.ListQuerySchema,
    responses: { 200: { description: "The entries", json: R.ListingSchema } },
    errors: [...INPUT, ...PATHS, ...SANDBOX, "FILE_NOT_FOUND", "NOT_A_DIRECTORY"],
  },
  ...[
    { suffix: "", path: "/sandboxes/:projectId/archive", root: true },
    { suffix: "Dir", path: "/sandboxes/:projectId/archive/*", root: false },
  ].flatMap(({ suffix, path, root }): Operation[] => [
    {
      operationId: `extractArchive${suffix}`,
      method: "put",
      path,
      tag: "Files",
      summary: `Extract a tar or tar.gz into ${root ? "the workspace root" : "a directory"} (all or nothing)`,
      auth: "bearer",
      params: S.ProjectParamSchema,
      ...(root ? {} : { wildcard: DIR_PATH }),
      body: {
        required: true,
        media: {
          ...TAR_TYPES,
          "application/x-gzip": { kind: "binary" },
          "application/octet-stream": { kind: "binary" },
        },
      },
      responses: { 200: { description: "Extracted", json: R.ArchiveExtractedSchema } },
      errors: [
        ...INPUT,
        ...PATHS,
        ...SANDBOX,
        "UNSUPPORTED_MEDIA_TYPE",
        "PAYLOAD_TOO_LARGE",
        "INVALID_ARCHIVE",
        "NOT_A_DIRECTORY",
        "CONFLICT",
        "FILE_WRITE_FAILED",
      ],
    },
    {
      operationId: `packArchive${suffix}`,
      method: "get",
      path,
      tag: "Files",
      summary: `Download ${root ? "the workspace" : "a directory"} as tar (\`format=tar.gz\`: compressed)`,
      auth: "bearer",
      params: S.ProjectParamSchema,
      ...(root ? {} : { wildcard: DIR_PATH }),
      query: S.ArchiveQuerySchema,
      responses: {
        200: {
          description: "The archive",
          media: TAR_TYPES,
          headers: { "Content-Disposition": 'attachment; filename="<dir>.tar" (or .tar.gz)' },
        },
      },
      errors: [
        ...INPUT,
        ...PATHS,
        ...SANDBOX,
        "FILE_NOT_FOUND",
        "NOT_A_DIRECTORY",
        "FILE_READ_FAILED",
        "PAYLOAD_TOO_LARGE",
      ],
    },
  ]),
];
