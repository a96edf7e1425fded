/**
 * @module runner/agents/index
 * The agent registry: name → Agent. `shell` ships with the jobs issue, `claude`
 * and `opencode` with issue 5; an agent without a file here answers AGENT_UNAVAILABLE.
 */
import type { AgentName } from "../../../src/shared/job-format.ts";
import { RunnerError } from "../errors.ts";
import { claudeAgent } from "./claude.ts";
import { opencodeAgent } from "./opencode.ts";
import { shellAgent } from "./shell.ts";
import type { Agent } from "./types.ts";

/** Error code for an agent this runner cannot run. */
export const AGENT_UNAVAILABLE = "AGENT_UNAVAILABLE";

const AGENTS: Partial<Record<AgentName, Agent>> = {
  shell: shellAgent,
  claude: claudeAgent,
  opencode: opencodeAgent,
};

/** The agent for `name`; throws AGENT_UNAVAILABLE if this runner has none. */
export function getAgent(name: string): Agent {
  const agent = Object.hasOwn(AGENTS, name) ? AGENTS[name as AgentName] : undefined;
  if (!agent) throw new RunnerError(AGENT_UNAVAILABLE, `Agent "${name}" is not available in this runner`);
  return agent;
}
