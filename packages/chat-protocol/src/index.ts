/**
 * The chat API's wire contract, shared by the service (`services/chat`) and the widget
 * (`@mcpstack/agent-sdk`): what the chat reads answer, and the headers both sides name. Types and
 * constants only, with no imports, so the widget bundles a few strings and nothing else; the
 * service's zod schemas describe the same shapes in the OpenAPI document and are checked against
 * these types when it compiles.
 */

/** Carries the agent's publishable key on every chat request: `Bearer mcpstack_pk_…`. */
export const publishableKeyHeader = 'authorization';

/**
 * A signed-in user's token on the chat reads (GET, DELETE): a header, never the URL, which gets
 * logged. A message (POST) carries it in its body as `userToken`.
 */
export const userTokenHeader = 'x-mcpstack-user-token';

/** Why a user token was refused (expired, bad signature, …); the request went on as the visitor. */
export const userTokenProblemHeader = 'x-mcpstack-user-token-problem';

/** `true` on an answer while the organization's AI credits are below its low-balance threshold. */
export const creditsLowHeader = 'x-mcpstack-credits-low';

/** How long each stage of a chat turn took before its first byte (`limits;dur=0.41, …`). */
export const serverTimingHeader = 'server-timing';

/** The request's id, also in every error body: what to quote to the site's operator. */
export const requestIdHeader = 'x-request-id';

export const retryAfterHeader = 'retry-after';

export interface ChatTheme {
  /** A hex color, `#4f46e5`. */
  primaryColor: string;
  position: 'bottom-right' | 'bottom-left';
  colorScheme: 'light' | 'dark' | 'auto';
}

/** The agent's public settings: `GET /api/v1/chat/config`. */
export interface ChatConfig {
  agentId: string;
  name: string;
  welcomeMessage: string | null;
  starterPrompts: string[];
  theme: ChatTheme;
  limits: {
    /** The longest message the agent accepts. */
    maxMessageChars: number;
  };
  /** The agent shows visitors their budget meter. */
  showUsageToUsers: boolean;
  /** Percentages of each cap at which the widget warns. */
  budgetAlertThresholds: number[];
}

/**
 * The visitor's budget meter (`GET /api/v1/chat/budget`, and each answer's finish): a signed-in
 * user's own cap (else the agent's) in USD; for a guest only the share of the anonymous pool left.
 */
export interface VisitorBudget {
  scope: 'user' | 'agent' | 'anonymous';
  /** Null for anonymous visitors: they see only the share left. */
  limitUsd: number | null;
  spentUsd: number | null;
  remainingUsd: number | null;
  /** What is left of the cap, 0-100. */
  remainingPercent: number;
  resetsAt: string;
  /** The agent's alert thresholds (percent spent), where the widget warns. */
  warnAtPercent: number[];
}

/** `GET /api/v1/chat/budget`: null when no cap applies. */
export interface ChatBudget {
  budget: VisitorBudget | null;
}

/** `GET /api/v1/chat/conversations/{conversationId}/messages`: the messages are AI SDK UI messages. */
export interface ChatHistory<Message = unknown> {
  conversationId: string;
  title: string;
  messages: Message[];
}
