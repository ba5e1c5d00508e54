import { LRUCache } from 'lru-cache';
import type { AgentRecord } from '../../storage/records.ts';
import type { ModelTool } from './model/model-client.ts';

/**
 * What a process last saw of an agent: enough to send a turn's writes and first hold behind its
 * admission, before the agent's record comes back (every piece is checked against what comes back).
 */
export interface AgentSighting {
  agent: AgentRecord;
  resetDayOfMonthUtc: number;
  tools: readonly ModelTool[];
}

/** Roughly what a sighting keeps in memory (its instructions and tool schemas dominate). */
const sightingBytes = (sighting: AgentSighting) =>
  1024 + 2 * sighting.agent.instructions.length + 2048 * sighting.tools.length;

/**
 * What this process last saw of agents and conversations, to forecast a turn's first hold before
 * the turn's reads come back, so the hold goes out in their round trip instead of one of its own
 * (`startTurn`). A forecast is never trusted: the reserve script checks the reset day it assumes,
 * and the turn holds again with the exact bound when the forecast falls short. Bounded: the entries
 * used longest ago go first (agents: at most 64 MiB of them, roughly).
 */
export class HoldForecast {
  readonly #agents: LRUCache<string, AgentSighting>;
  /** The request bytes of a conversation's last turn, with room for its answer. */
  readonly #conversations: LRUCache<string, number>;

  constructor(capacity = 10_000, agentBytes = 64 * 1024 * 1024) {
    this.#agents = new LRUCache({ max: capacity, maxSize: agentBytes, sizeCalculation: sightingBytes });
    this.#conversations = new LRUCache({ max: capacity });
  }

  agent(organizationId: string, agentId: string): AgentSighting | undefined {
    return this.#agents.get(`${organizationId}\u0000${agentId}`);
  }

  sawAgent(organizationId: string, agentId: string, sighting: AgentSighting): void {
    this.#agents.set(`${organizationId}\u0000${agentId}`, sighting);
  }

  /** The bytes a conversation's next first request stands at, without its new message; undefined when unseen. */
  conversationBytes(organizationId: string, conversationId: string): number | undefined {
    return this.#conversations.get(`${organizationId}\u0000${conversationId}`);
  }

  /**
   * After a turn: its first request's bytes and its stored answer's; the answer counts twice, since
   * tool results go back to the model as JSON inside a string, where every quote is escaped again.
   */
  sawTurn(
    organizationId: string,
    conversationId: string,
    firstRequestBytes: number,
    answerBytes: number,
  ): void {
    this.#conversations.set(`${organizationId}\u0000${conversationId}`, firstRequestBytes + 2 * answerBytes);
  }
}
