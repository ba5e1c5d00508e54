/**
 * Guards that are not what these benchmarks measure, opened wide: every request of a race comes from
 * one IP and one key in the same second, which the rate limits (per IP, key and visitor) would refuse
 * with 429 long before the budget had a say, and the bench origin is not a verified domain.
 */
export const unmeasuredGuards = {
  MCPSTACK_REQUIRE_VERIFIED_DOMAINS: 'false',
  MCPSTACK_RATE_LIMIT_KEY_PER_MINUTE: '1000000',
  MCPSTACK_RATE_LIMIT_VISITOR_PER_MINUTE: '1000000',
  MCPSTACK_RATE_LIMIT_IP_PER_MINUTE: '1000000',
  MCPSTACK_RATE_LIMIT_API_KEY_PER_MINUTE: '1000000',
  MCPSTACK_MAX_STREAMS_PER_VISITOR: '1000',
  // History in an in-memory PGlite unless the bench is given a DATABASE_URL.
  MCPSTACK_DATA_DIR: 'memory://',
};
