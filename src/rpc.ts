/**
 * @module rpc
 * `SandboxApi`: the API as typed methods for other Workers, over a service binding
 * to this named entrypoint (`{"binding": "SANDBOXES", "service": "sandbox-worker",
 * "entrypoint": "SandboxApi"}`). The binding is the credential: no bearer token.
 *
 * The methods are client.ts's, sent to the same Hono app in this isolate (no network
 * hop) built without the bearer check: the same validation, ensure step, limits and
 * codes as over HTTP. A refusal throws an Error whose message starts with the code
 * (`"SANDBOX_NOT_FOUND: …"`): Workers RPC keeps an error's message across the binding,
 * not its fields. Streams cross as NDJSON bytes (client.ts `readEvents` reads them).
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { SandboxApiError, type SandboxClient, sandboxClient } from "./client";
import { trustedApp } from "./worker-app";

export type { ExecInput, JobInput } from "./client";

/** RPC carries an error's message only: put the code in it. */
async function codeInMessage<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof SandboxApiError) throw new Error(`${err.code}: ${err.message}`);
    throw err;
  }
}

/**
 * The entrypoint. Each method is the client's of the same name (it `implements` the
 * client, so a method missing or typed apart fails to compile), sent to the trusted app.
 */
export class SandboxApi extends WorkerEntrypoint<Env> implements SandboxClient {
  #client: SandboxClient | undefined;

  get #api(): SandboxClient {
    this.#client ??= sandboxClient(async (req) => await trustedApp(this.env).fetch(req, this.env, this.ctx));
    return this.#client;
  }

  createSandbox(...args: Parameters<SandboxClient["createSandbox"]>): ReturnType<SandboxClient["createSandbox"]> {
    return codeInMessage(this.#api.createSandbox(...args)) as ReturnType<SandboxClient["createSandbox"]>;
  }
  getSandbox(...args: Parameters<SandboxClient["getSandbox"]>): ReturnType<SandboxClient["getSandbox"]> {
    return codeInMessage(this.#api.getSandbox(...args)) as ReturnType<SandboxClient["getSandbox"]>;
  }
  listSandboxes(...args: Parameters<SandboxClient["listSandboxes"]>): ReturnType<SandboxClient["listSandboxes"]> {
    return codeInMessage(this.#api.listSandboxes(...args)) as ReturnType<SandboxClient["listSandboxes"]>;
  }
  deleteSandbox(...args: Parameters<SandboxClient["deleteSandbox"]>): ReturnType<SandboxClient["deleteSandbox"]> {
    return codeInMessage(this.#api.deleteSandbox(...args)) as ReturnType<SandboxClient["deleteSandbox"]>;
  }
  exec(...args: Parameters<SandboxClient["exec"]>): ReturnType<SandboxClient["exec"]> {
    return codeInMessage(this.#api.exec(...args)) as ReturnType<SandboxClient["exec"]>;
  }
  execStream(...args: Parameters<SandboxClient["execStream"]>): ReturnType<SandboxClient["execStream"]> {
    return codeInMessage(this.#api.execStream(...args)) as ReturnType<SandboxClient["execStream"]>;
  }
  readFile(...args: Parameters<SandboxClient["readFile"]>): ReturnType<SandboxClient["readFile"]> {
    return codeInMessage(this.#api.readFile(...args)) as ReturnType<SandboxClient["readFile"]>;
  }
  writeFile(...args: Parameters<SandboxClient["writeFile"]>): ReturnType<SandboxClient["writeFile"]> {
    return codeInMessage(this.#api.writeFile(...args)) as ReturnType<SandboxClient["writeFile"]>;
  }
  deletePath(...args: Parameters<SandboxClient["deletePath"]>): ReturnType<SandboxClient["deletePath"]> {
    return codeInMessage(this.#api.deletePath(...args)) as ReturnType<SandboxClient["deletePath"]>;
  }
  listFiles(...args: Parameters<SandboxClient["listFiles"]>): ReturnType<SandboxClient["listFiles"]> {
    return codeInMessage(this.#api.listFiles(...args)) as ReturnType<SandboxClient["listFiles"]>;
  }
  startProcess(...args: Parameters<SandboxClient["startProcess"]>): ReturnType<SandboxClient["startProcess"]> {
    return codeInMessage(this.#api.startProcess(...args)) as ReturnType<SandboxClient["startProcess"]>;
  }
  listProcesses(...args: Parameters<SandboxClient["listProcesses"]>): ReturnType<SandboxClient["listProcesses"]> {
    return codeInMessage(this.#api.listProcesses(...args)) as ReturnType<SandboxClient["listProcesses"]>;
  }
  getProcess(...args: Parameters<SandboxClient["getProcess"]>): ReturnType<SandboxClient["getProcess"]> {
    return codeInMessage(this.#api.getProcess(...args)) as ReturnType<SandboxClient["getProcess"]>;
  }
  killProcess(...args: Parameters<SandboxClient["killProcess"]>): ReturnType<SandboxClient["killProcess"]> {
    return codeInMessage(this.#api.killProcess(...args)) as ReturnType<SandboxClient["killProcess"]>;
  }
  processLogs(...args: Parameters<SandboxClient["processLogs"]>): ReturnType<SandboxClient["processLogs"]> {
    return codeInMessage(this.#api.processLogs(...args)) as ReturnType<SandboxClient["processLogs"]>;
  }
  exposePort(...args: Parameters<SandboxClient["exposePort"]>): ReturnType<SandboxClient["exposePort"]> {
    return codeInMessage(this.#api.exposePort(...args)) as ReturnType<SandboxClient["exposePort"]>;
  }
  listPorts(...args: Parameters<SandboxClient["listPorts"]>): ReturnType<SandboxClient["listPorts"]> {
    return codeInMessage(this.#api.listPorts(...args)) as ReturnType<SandboxClient["listPorts"]>;
  }
  unexposePort(...args: Parameters<SandboxClient["unexposePort"]>): ReturnType<SandboxClient["unexposePort"]> {
    return codeInMessage(this.#api.unexposePort(...args)) as ReturnType<SandboxClient["unexposePort"]>;
  }
  snapshot(...args: Parameters<SandboxClient["snapshot"]>): ReturnType<SandboxClient["snapshot"]> {
    return codeInMessage(this.#api.snapshot(...args)) as ReturnType<SandboxClient["snapshot"]>;
  }
  listSnapshots(...args: Parameters<SandboxClient["listSnapshots"]>): ReturnType<SandboxClient["listSnapshots"]> {
    return codeInMessage(this.#api.listSnapshots(...args)) as ReturnType<SandboxClient["listSnapshots"]>;
  }
  restore(...args: Parameters<SandboxClient["restore"]>): ReturnType<SandboxClient["restore"]> {
    return codeInMessage(this.#api.restore(...args)) as ReturnType<SandboxClient["restore"]>;
  }
  createJob(...args: Parameters<SandboxClient["createJob"]>): ReturnType<SandboxClient["createJob"]> {
    return codeInMessage(this.#api.createJob(...args)) as ReturnType<SandboxClient["createJob"]>;
  }
  getJob(...args: Parameters<SandboxClient["getJob"]>): ReturnType<SandboxClient["getJob"]> {
    return codeInMessage(this.#api.getJob(...args)) as ReturnType<SandboxClient["getJob"]>;
  }
  listJobs(...args: Parameters<SandboxClient["listJobs"]>): ReturnType<SandboxClient["listJobs"]> {
    return codeInMessage(this.#api.listJobs(...args)) as ReturnType<SandboxClient["listJobs"]>;
  }
  cancelJob(...args: Parameters<SandboxClient["cancelJob"]>): ReturnType<SandboxClient["cancelJob"]> {
    return codeInMessage(this.#api.cancelJob(...args)) as ReturnType<SandboxClient["cancelJob"]>;
  }
  jobEvents(...args: Parameters<SandboxClient["jobEvents"]>): ReturnType<SandboxClient["jobEvents"]> {
    return codeInMessage(this.#api.jobEvents(...args)) as ReturnType<SandboxClient["jobEvents"]>;
  }
  followJob(...args: Parameters<SandboxClient["followJob"]>): ReturnType<SandboxClient["followJob"]> {
    return codeInMessage(this.#api.followJob(...args)) as ReturnType<SandboxClient["followJob"]>;
  }
}
