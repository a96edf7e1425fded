/**
 * @module test/worker/entry
 * The Worker entry for the `workers` test project: the real app, with the Sandbox
 * Durable Object class replaced by the stand-in (no Docker, so no container):
 * the SDK's own Sandbox over a stood-in container runtime (see standin-sandbox.ts).
 */
export { default } from "../../src/index";
export { StandInSandbox as Sandbox } from "./standin-sandbox";
