/**
 * The budget race, through the real chat API: for each kind of cap (agent, user, anonymous pool,
 * organization credits), 500 chat requests are sent at once against a cap that pays for only a
 * fifth of them, and the benchmark proves what the budgets promise: spend never goes over the cap,
 * not even for an instant, the counters equal the LLM-call records, and no reservation is left.
 *
 * Run alone: `npm run bench -- budget-race` (or `node --experimental-strip-types bench/budget-race.ts`,
 * which prints the section instead of writing docs/benchmarks.md).
 */
import { randomBytes } from 'node:crypto';
import { createDeps, type RunningServer, startServer } from '@mcpstack/chat/bootstrap';
import type { Env } from '@mcpstack/chat/env';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { type ApiCall, apiClient, requestOk } from '@mcpstack/test-support/api';
import { outputPricedModel } from '@mcpstack/test-support/models';
import { redisVersion } from '@mcpstack/test-support/redis';
import {
  type ChatTenant,
  createIdentitySecret,
  organizationPath,
  seedTenant,
  setAgentBudget,
  uniqueSlug,
} from '@mcpstack/test-support/tenants';
import { SignJWT } from 'jose';
import { Agent, request } from 'undici';
import { z } from 'zod';
import type { BudgetScope } from '../services/chat/src/domain/budgets/meter.ts';
import { budgetPeriod } from '../services/chat/src/domain/budgets/periods.ts';
import { type Pool, startCapSampler } from './support/cap-sampler.ts';
import { describeMachine, type Machine, measuredOn } from './support/machine.ts';
import { origin } from './support/processes.ts';
import { type BenchmarkResult, type Check, checkList, mark, passed, table } from './support/report.ts';
import { type BenchDeps, benchEnv, removeKeysAfterClose } from './support/service.ts';
import { formatInteger, formatMs, formatUsd, sleep } from './support/stats.ts';

export const heading = 'Budget race';

const requestsPerScope = 500;
/** The cap pays for this many answers at their actual cost: most of the 500 must be refused. */
const answersTheCapPays = 100;
/** The user race: this many signed users share the requests, each against their own cap. */
const userCount = 5;
/** `[long]` makes the local model answer until `maxOutputTokens` cuts it: every answer costs the same. */
const question = '[long] Tell me everything about monthly budgets.';
const maxOutputTokens = 256;
/** The organization's free grant: large enough that credits never bind except in the credits race. */
const freeCreditsUsd = 100;

/**
 * The model the races use: priced almost only on output, so a burst can spend the cap down to its
 * last cents. An operator can price a model this way with MCPSTACK_MODEL_CATALOG.
 */
const raceModel = outputPricedModel('bench-output-priced', 10);
/** A real list price, where the reservation is several times the cost: the last race shows what that does. */
const listPricedModel = 'gpt-4.1-mini';

interface RaceSpec {
  scope: BudgetScope;
  label: string;
  model: string;
}

const races: readonly RaceSpec[] = [
  { scope: 'agent', label: '`agent`', model: raceModel.id },
  { scope: 'user', label: '`user`', model: raceModel.id },
  { scope: 'anonymous', label: '`anonymous`', model: raceModel.id },
  { scope: 'credits', label: '`credits`', model: raceModel.id },
  { scope: 'agent', label: `\`agent\`, ${listPricedModel} list prices`, model: listPricedModel },
];

interface World {
  env: Env;
  deps: BenchDeps;
  running: RunningServer;
  model: LocalModel;
  http: Agent;
  /** The management API, as the operator unless a call says otherwise. */
  api: ApiCall;
}

/** An organization with an admin key, one agent and an embed key, made through the management API. */
function createTenant(world: World, name: string, model: string): Promise<ChatTenant> {
  return seedTenant(world.api, {
    organization: { name: `Bench ${name}`, slug: uniqueSlug(`bench-${name}`) },
    agent: { name: `Bench ${name}`, model, instructions: 'Answer the visitor.', maxOutputTokens },
    embedKey: { name: 'bench', allowedOrigins: [origin] },
  });
}

function chatBody(userToken?: string): string {
  return JSON.stringify({
    id: `conv-${randomBytes(8).toString('hex')}`,
    messages: [{ id: 'msg-1', role: 'user', parts: [{ type: 'text', text: question }] }],
    trigger: 'submit-message',
    visitorId: `visitor-${randomBytes(8).toString('hex')}`,
    ...(userToken === undefined ? {} : { userToken }),
  });
}

interface Outcome {
  status: number;
  text: string;
}

async function postChat(world: World, tenant: ChatTenant, body: string): Promise<Outcome> {
  try {
    const response = await request(`${world.running.url}/api/v1/chat`, {
      method: 'POST',
      dispatcher: world.http,
      headers: { authorization: `Bearer ${tenant.publicKey}`, origin, 'content-type': 'application/json' },
      body,
    });
    return { status: response.statusCode, text: await response.body.text() };
  } catch (error) {
    return { status: 0, text: String(error) };
  }
}

interface LlmCall {
  costMicros: number;
  inputTokens: number;
  outputTokens: number;
  visitorId: string | null;
  externalUserId: string | null;
}

async function llmCalls(world: World, tenant: ChatTenant): Promise<LlmCall[]> {
  await world.running.drainer.drainOnce({ reclaim: false });
  const page = await world.deps.history.listLlmCalls(tenant.organizationId, tenant.agentId, {
    limit: 1_000_000,
  });
  return page.data;
}

function poolsOf(
  world: World,
  scope: BudgetScope,
  tenant: ChatTenant,
  capMicros: number,
  users: string[],
): Pool[] {
  const keys = world.deps.keys.organization(tenant.organizationId);
  const spend = keys.agentSpend(tenant.agentId, budgetPeriod(new Date(), 1).id);
  const counter = (field: string) => ({ key: spend, field, fromBalance: false });
  const reserved = (field: string) => ({ key: keys.budgetReserved, field });
  switch (scope) {
    case 'agent':
      return [{ capMicros, spent: counter('agent'), reserved: reserved(`agent:${tenant.agentId}`) }];
    case 'anonymous':
      return [{ capMicros, spent: counter('anon'), reserved: reserved(`anon:${tenant.agentId}`) }];
    case 'user':
      return users.map((user) => ({
        capMicros,
        spent: counter(`u:${user}`),
        reserved: reserved(`user:${tenant.agentId}:${user}`),
      }));
    case 'credits':
      return [
        {
          capMicros,
          spent: { key: keys.credits, field: 'balance', fromBalance: true },
          reserved: reserved('credits'),
        },
      ];
  }
}

interface ScopeRun {
  spec: RaceSpec;
  capMicros: number;
  pools: number;
  answered: number;
  refused: number;
  spentMicros: number[];
  overshootMicros: number;
  reservationMicros: number | null;
  wallMs: number;
  checks: Check[];
}

async function race(world: World, spec: RaceSpec, answerMicros: number): Promise<ScopeRun> {
  const { scope } = spec;
  const tenant = await createTenant(world, scope, spec.model);
  const admin = { organizationId: tenant.organizationId, token: tenant.adminKey };
  const totalCapMicros = answerMicros * answersTheCapPays;
  const users =
    scope === 'user' ? Array.from({ length: userCount }, (_, index) => `bench-user-${index}`) : [];
  const capMicros = scope === 'user' ? totalCapMicros / userCount : totalCapMicros;
  const capUsd = capMicros / 1_000_000;
  let tokens: string[] = [];

  switch (scope) {
    case 'agent':
      await setAgentBudget(world.api, admin, tenant.agentId, { enabled: true, monthlyBudgetUsd: capUsd });
      break;
    case 'anonymous':
      await setAgentBudget(world.api, admin, tenant.agentId, {
        enabled: true,
        monthlyBudgetUsd: 1000,
        anonymousMonthlyBudgetUsd: capUsd,
      });
      break;
    case 'user': {
      await setAgentBudget(world.api, admin, tenant.agentId, {
        enabled: true,
        monthlyBudgetUsd: 1000,
        defaultUserBudgetUsd: capUsd,
      });
      const secret = await createIdentitySecret(world.api, admin, tenant.agentId);
      const key = new TextEncoder().encode(secret);
      tokens = await Promise.all(
        users.map((user) =>
          new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject(user)
            .setAudience(tenant.agentId)
            .setIssuedAt()
            .setExpirationTime('10m')
            .sign(key),
        ),
      );
      break;
    }
    case 'credits':
      // Budgets stay off: the organization's balance alone is the cap.
      await requestOk(
        world.api,
        'POST',
        `${organizationPath(tenant.organizationId)}/ai-credits/adjustments`,
        {
          token: tenant.adminKey,
          body: {
            amountUsd: -(freeCreditsUsd * 1_000_000 - capMicros) / 1_000_000,
            reason: 'Budget race benchmark: leave only the cap',
          },
          status: 201,
        },
      );
      break;
  }

  const pools = poolsOf(world, scope, tenant, capMicros, users);
  const bodies = Array.from({ length: requestsPerScope }, (_, index) =>
    chatBody(tokens.length > 0 ? tokens[index % tokens.length] : undefined),
  );
  const modelCallsBefore = world.model.requests.length;
  const keys = world.deps.keys.organization(tenant.organizationId);
  const sampler = await startCapSampler({
    redisUrl: world.env.REDIS_URL,
    pools,
    reservationDataKey: keys.budgetReservationData,
  });
  const started = performance.now();
  const outcomes = await Promise.all(bodies.map((body) => postChat(world, tenant, body)));
  const wallMs = performance.now() - started;
  const samples = await sampler.stop();
  const modelCalls = world.model.requests.length - modelCallsBefore;

  // Reservations are checked first, the moment the last response ended: none may be left open.
  const [reserved, openReservations, reservationData] = await Promise.all([
    world.deps.redis.hgetall(keys.budgetReserved),
    world.deps.redis.zcard(keys.budgetReservations),
    world.deps.redis.hlen(keys.budgetReservationData),
  ]);

  let answered = 0;
  let refused = 0;
  let refusedForGood = 0;
  const others = new Map<string, number>();
  const other = (what: string) => others.set(what, (others.get(what) ?? 0) + 1);
  for (const outcome of outcomes) {
    if (outcome.status === 200) {
      if (outcome.text.includes('"type":"finish"') && !outcome.text.includes('"type":"error"')) answered++;
      else other('200 with an error part');
    } else if (outcome.status === 402 || outcome.status === 429) {
      // 402 budget_exceeded: the spend itself reached the cap; 429 budget_busy: answers still in
      // progress hold the rest (retry in a moment). Both refuse without a model call.
      const body = JSON.parse(outcome.text) as { error?: { code?: string; scope?: string } };
      const expected = outcome.status === 402 ? 'budget_exceeded' : 'budget_busy';
      if (body.error?.code === expected && body.error.scope === scope) {
        refused++;
        if (outcome.status === 402) refusedForGood++;
      } else other(`${outcome.status} ${body.error?.code}/${body.error?.scope}`);
    } else {
      other(`${outcome.status} ${outcome.text.slice(0, 120)}`);
    }
  }

  const period = budgetPeriod(new Date(), 1).id;
  const [spend, credits, calls] = await Promise.all([
    world.deps.redis.hgetall(keys.agentSpend(tenant.agentId, period)),
    world.deps.redis.hgetall(keys.credits),
    llmCalls(world, tenant),
  ]);
  // Drained now (llmCalls drains first): the ledger and the usage report read PostgreSQL.
  const [ledger, usage] = await Promise.all([
    world.deps.history
      .listLedger(tenant.organizationId, { types: null }, { limit: 1_000_000 })
      .then((page) => page.data),
    requestOk(
      world.api,
      'GET',
      `${organizationPath(tenant.organizationId)}/agents/${tenant.agentId}/usage`,
      { token: tenant.adminKey, status: 200 },
      z.object({ spendUsd: z.number(), llmCalls: z.number() }),
    ),
  ]);
  const counter = (field: string) => Number(spend[field] ?? 0);
  const sum = (list: readonly LlmCall[]) => list.reduce((total, call) => total + call.costMicros, 0);
  const recordsMicros = sum(calls);
  const ledgerSum = ledger.reduce((total, entry) => total + entry.amountMicros, 0);
  const usageDebits = ledger.filter((entry) => entry.type === 'usage');
  const balance = Number(credits.balance ?? 0);

  const spentMicros = pools.map((pool) =>
    pool.spent.fromBalance ? capMicros - balance : counter(pool.spent.field),
  );
  const overshootMicros = Math.max(0, ...spentMicros.map((spent) => spent - capMicros));

  // The scope's own counters against the records they sum.
  const scopeCounters: [string, number, number][] = [
    ['agent', counter('agent'), recordsMicros],
    ['credits spent', Number(credits.spent ?? 0), recordsMicros],
  ];
  if (scope !== 'user') {
    scopeCounters.push(['anon', counter('anon'), sum(calls.filter((call) => call.visitorId !== null))]);
  }
  for (const user of users) {
    scopeCounters.push([
      `u:${user}`,
      counter(`u:${user}`),
      sum(calls.filter((call) => call.externalUserId === user)),
    ]);
  }
  const counterMismatches = scopeCounters.filter(([, counted, recorded]) => counted !== recorded);
  const reservedLeft = Object.entries(reserved).filter(([, value]) => Number(value) !== 0);

  const checks: Check[] = [
    {
      name: 'overshoot = max(0, spend − cap) is 0',
      passed: overshootMicros === 0,
      detail: `spend ${spentMicros.map(formatUsd).join(', ')} of cap ${formatUsd(capMicros)}${pools.length > 1 ? ' each' : ''}`,
    },
    {
      name: 'spend + reserved ≤ cap at every sample during the race',
      passed: samples.overCap === 0 && samples.count > 0,
      detail: `${formatInteger(samples.count)} atomic samples, ${samples.overCap} over; peak ${(samples.peakUsedOfCap * 100).toFixed(1)} % of the cap`,
    },
    {
      name: 'counters = Σ costMicros of the LLM-call records',
      passed: counterMismatches.length === 0,
      detail:
        counterMismatches.length === 0
          ? `${scopeCounters.map(([name]) => name).join(', ')} all equal the records (${formatUsd(recordsMicros)}, ${calls.length} calls)`
          : counterMismatches
              .map(([name, counted, recorded]) => `${name} ${counted} ≠ ${recorded}`)
              .join('; '),
    },
    {
      name: 'ledger: usage debits = records, balance = Σ entries',
      passed:
        usageDebits.reduce((total, entry) => total - entry.amountMicros, 0) === recordsMicros &&
        usageDebits.length === calls.filter((call) => call.costMicros > 0).length &&
        ledgerSum === balance,
      detail: `${usageDebits.length} usage debits, balance ${formatUsd(balance)}, Σ entries ${formatUsd(ledgerSum)}`,
    },
    {
      name: 'usage API (PostgreSQL) = counters and records',
      passed: Math.round(usage.spendUsd * 1_000_000) === counter('agent') && usage.llmCalls === calls.length,
      detail: `spendUsd ${usage.spendUsd}, llmCalls ${usage.llmCalls}`,
    },
    {
      name: 'one model call per answer, none for a refusal',
      passed: answered === calls.length && modelCalls === calls.length,
      detail: `${answered} answers, ${calls.length} records, ${modelCalls} model calls`,
    },
    {
      name: 'every record is metered to its owner (signed user, else visitor)',
      passed: calls.every((call) =>
        scope === 'user'
          ? call.externalUserId !== null && users.includes(call.externalUserId) && call.visitorId === null
          : call.externalUserId === null && call.visitorId !== null,
      ),
      detail:
        scope === 'user' ? 'every record names one of the signed users' : 'every record names a visitor',
    },
    {
      name: 'no reservation left',
      passed: reservedLeft.length === 0 && reservationData === 0,
      detail:
        reservedLeft.length === 0 && reservationData === 0
          ? `${Object.keys(reserved).length} reserved fields all 0, reservations zset and data empty`
          : `left: ${JSON.stringify(Object.fromEntries(reservedLeft))}, ${openReservations} settled-hold tombstones (swept at expiry), ${reservationData} data`,
    },
    {
      name: 'every other answer is 402 budget_exceeded or 429 budget_busy naming the scope',
      passed: others.size === 0,
      detail:
        others.size === 0
          ? `${refusedForGood} × 402, ${refused - refusedForGood} × 429 busy, all ${scope}`
          : JSON.stringify(Object.fromEntries(others)),
    },
    {
      name: 'the cap was contested (some answered, most refused)',
      passed: answered > 0 && refused > answered,
      detail: `${answered} answered, ${refused} refused`,
    },
  ];

  return {
    spec,
    capMicros,
    pools: pools.length,
    answered,
    refused,
    spentMicros,
    overshootMicros,
    reservationMicros: samples.reservationMicros,
    wallMs,
    checks,
  };
}

/**
 * One answer on an agent of its own: what an answer costs with this model, to size the caps. With
 * `warmUp`, a burst of unbudgeted answers follows, so every race runs on a warm process.
 */
async function calibrate(world: World, model: string, warmUp: number): Promise<LlmCall> {
  const tenant = await createTenant(world, 'calibration', model);
  const outcome = await postChat(world, tenant, chatBody());
  if (outcome.status !== 200) throw new Error(`calibration chat: ${outcome.status} ${outcome.text}`);
  const [call] = await llmCalls(world, tenant);
  if (!call || call.costMicros <= 0) throw new Error('calibration: no LLM-call record with a cost');
  await Promise.all(Array.from({ length: warmUp }, () => postChat(world, tenant, chatBody())));
  return call;
}

export async function runBudgetRace(log: (line: string) => void = () => {}): Promise<BenchmarkResult> {
  const model = await startLocalModel();
  const env = benchEnv({
    OPENAI_BASE_URL: model.url,
    MCPSTACK_FREE_CREDITS_USD: String(freeCreditsUsd),
    MCPSTACK_MODEL_CATALOG: JSON.stringify([raceModel]),
  });
  const deps = createDeps(env);
  const running = await startServer(deps, 0, '127.0.0.1');
  const http = new Agent({ connections: requestsPerScope + 100 });
  const api = apiClient(running.url, env.MCPSTACK_ADMIN_TOKEN);
  const world: World = { env, deps, running, model, http, api };
  try {
    const machine = describeMachine(await redisVersion(deps.redis));
    const answers = new Map<string, LlmCall>();
    answers.set(raceModel.id, await calibrate(world, raceModel.id, 200));
    answers.set(listPricedModel, await calibrate(world, listPricedModel, 0));
    const runs: ScopeRun[] = [];
    for (const spec of races) {
      const answer = answers.get(spec.model);
      if (!answer) throw new Error(`no calibration for ${spec.model}`);
      const run = await race(world, spec, answer.costMicros);
      log(
        `budget race: ${spec.label}: ${run.answered} answered, ${run.refused} refused, spend ${run.spentMicros.map(formatUsd).join(', ')} of ${formatUsd(run.capMicros)}, overshoot ${formatUsd(run.overshootMicros)}, ${formatMs(run.wallMs)}${run.checks.every((check) => check.passed) ? '' : ' FAILED'}`,
      );
      runs.push(run);
    }
    // Let the last answers' conversation writes finish before the service stops.
    await sleep(300);
    return report(machine, answers, runs);
  } finally {
    await http.close();
    await running.close();
    await removeKeysAfterClose(env);
    await model.close();
  }
}

const usdRange = (values: readonly number[]) => {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low === high ? formatUsd(low) : `${formatUsd(low)} to ${formatUsd(high)}`;
};

function report(machine: Machine, answers: Map<string, LlmCall>, runs: ScopeRun[]): BenchmarkResult {
  const checks = runs.flatMap((run) =>
    run.checks.map((check) => ({ ...check, name: `${run.spec.label}: ${check.name}` })),
  );
  const each = (run: ScopeRun) => (run.pools > 1 ? ` (each of ${run.pools} users)` : '');
  const summary = table(
    [
      'race',
      'requests',
      'answered (200)',
      'refused (402 / 429 busy)',
      'cap',
      'spend',
      'overshoot',
      'left under the cap',
      'reservation ÷ cost',
      'wall time',
    ],
    runs.map((run) => {
      const cost = answers.get(run.spec.model)?.costMicros ?? Number.NaN;
      return [
        run.spec.label,
        String(requestsPerScope),
        String(run.answered),
        String(run.refused),
        `${formatUsd(run.capMicros)}${each(run)}`,
        usdRange(run.spentMicros),
        formatUsd(run.overshootMicros),
        usdRange(run.spentMicros.map((spent) => run.capMicros - spent)),
        run.reservationMicros === null ? 'not sampled' : `${(run.reservationMicros / cost).toFixed(2)}`,
        formatMs(run.wallMs),
      ];
    }),
  );
  const invariants = table(
    ['invariant', ...runs.map((run) => run.spec.label)],
    (runs[0]?.checks ?? []).map((check, index) => [
      check.name,
      ...runs.map((run) => mark(run.checks[index]?.passed ?? false)),
    ]),
  );
  const raceAnswer = answers.get(raceModel.id);
  const listAnswer = answers.get(listPricedModel);
  const listRun = runs.find((run) => run.spec.model === listPricedModel);
  const body = [
    'Run alone: `npm run bench -- budget-race`.',
    '',
    measuredOn(machine),
    '',
    `For each kind of cap, ${requestsPerScope} chat requests are sent at once (undici, ${requestsPerScope + 100} connections) to \`POST /api/v1/chat\` of the service started in-process (port 0, its own Redis key prefix), with the local model as its model server and one Redis. Organizations, keys, agents, embed keys, budgets, identity secrets and credit adjustments are all made through the API; rate limits and domain verification are opened wide (they are not what is measured). Every answer costs the same: the question asks for a long answer, which \`maxOutputTokens\` (${maxOutputTokens}) cuts. Each cap pays for ${answersTheCapPays} answers at that cost, measured on a calibration agent first:`,
    '',
    `- \`agent\`: \`monthlyBudgetUsd\`; every request is a new anonymous visitor.`,
    `- \`user\`: \`defaultUserBudgetUsd\` of ${answersTheCapPays / userCount} answers; the requests are split between ${userCount} users signed in with HS256 tokens (\`sub\`, \`aud\` = the agent, \`exp\` 10 min) made with the agent's rotated identity secret.`,
    `- \`anonymous\`: \`anonymousMonthlyBudgetUsd\`, the one pool every visitor shares; every request is a new visitor.`,
    `- \`credits\`: budgets off; the organization's balance is debited (\`POST …/ai-credits/adjustments\`) down to the cap.`,
    '',
    `The first four races use a model priced almost only on output (${raceModel.outputUsdPerMillionTokens} USD per million output tokens, ${raceModel.inputUsdPerMillionTokens} per million input, set through \`MCPSTACK_MODEL_CATALOG\`), so that a reservation, the upper bound of an answer's cost, is within a few percent of its actual cost (${raceAnswer ? formatUsd(raceAnswer.costMicros) : '?'}): the burst spends the cap down to less than two answers. The last race repeats the \`agent\` race at ${listPricedModel}'s list prices, where an answer costs ${listAnswer ? formatUsd(listAnswer.costMicros) : '?'} and its reservation ${listRun?.reservationMicros ? formatUsd(listRun.reservationMicros) : '?'}: a reservation bounds the input by the bytes of the exact request sent to the model plus 256, and the output by \`maxOutputTokens\`, at list prices, which for a short question is above what it uses: under a burst, open reservations fill the cap before spend does, and those requests are answered 429 \`budget_busy\` (retry in a moment) rather than 402.`,
    '',
    summary,
    '',
    'Invariants, checked in Redis right after the last response ("samples" are atomic MULTI reads of the spend and reservation counters, about one a millisecond from a worker thread with its own connection, throughout the race). The benchmark was checked against a broken reserve script (an off-by-one, `used > cap` instead of `used + amount > cap`): the sampled invariant failed in all five races and the overshoot in the `agent` race.',
    '',
    invariants,
    '',
    '<details><summary>Each check with its figures</summary>',
    '',
    checkList(checks),
    '',
    '</details>',
  ].join('\n');
  return { machine, heading, body, checks };
}

if (import.meta.main) {
  const result = await runBudgetRace((line) => console.error(line));
  console.log(`## ${result.heading}\n\n${result.body}`);
  if (!passed(result)) process.exitCode = 1;
}
