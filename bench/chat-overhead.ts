/**
 * What the chat service costs per streamed answer, against the floor of a Node relay: the same model
 * stream (a 31-piece answer) is relayed by a bare `node:http` relay (`support/bare-relay.ts`: parse
 * SSE, write SSE) and by the service (`POST /api/v1/chat`), each a process pinned to CPU 1 while the
 * model and this load generator run on CPU 0. Four phases:
 *
 * 1. CPU per answer (utime + stime from `/proc/<pid>/stat`) at 50 concurrent clients;
 * 2. time to first token added over calling the model directly, one stream at a time;
 * 3. 100 concurrent streams (≈ 5,000 pieces/s): added p99 and failures;
 * 4. 512 concurrent streams with pieces 100 ms apart: failures and the longest stall between pieces.
 *
 * Run alone: `npm run bench -- chat-overhead`. `BENCH_PROFILE=<dir>` also runs phase 1's load against
 * a service started with `--cpu-prof --cpu-prof-dir=<dir>` and prints `support/profile-summary.ts`'s
 * summary of it.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableServer, serverDatabase } from '@mcpstack/test-support/postgres';
import { Agent, request } from 'undici';
import { describeMachine, machineCpuSeconds, measuredOn } from './support/machine.ts';
import {
  createTenant,
  origin,
  type Running,
  redisVersionOf,
  type ServiceProcess,
  startBareRelayProcess,
  startModelProcess,
  startPrivateRedis,
  startServiceProcess,
  tasksetAvailable,
} from './support/processes.ts';
import { summarizeProfile } from './support/profile-summary.ts';
import type { BenchmarkResult, Check } from './support/report.ts';
import { checkList, table } from './support/report.ts';
import { formatInteger, formatMs, percentile } from './support/stats.ts';

export const heading = 'Chat overhead before the first token';

/** The local model echoes it in 31 pieces (rule 3 of its README: 23 words around the 8 of the question). */
const question = 'Hello! What can you do for me today?';
const answerPieces = 31;
const chunkDelayMs = 20;
const cpu = { clients: 50, answers: 400, warmup: 100 };
/** One at a time, the answers are cut at one piece (the first token is all that is timed), to fit the run. */
const sequential = { streams: 200, warmup: 20, maxTokens: 1 };
const loaded = { clients: 100, streams: 600 };
const wide = { clients: 512, streams: 1024, chunkDelayMs: 100, warmup: 100 };
const targets = { cpuRatio: 2.5, addedP50Ms: 1.5, addedP99Ms: 3, loadedAddedP99Ms: 50, maxGapMs: 1000 };
const serviceCpu = 1;
const loadCpu = 0;

/** Keep-alive connections, enough for every stream of the widest phase at once. */
const dispatcher = new Agent({ connections: 2048, keepAliveTimeout: 30_000 });

interface StreamResult {
  ok: boolean;
  status: number;
  /** The error body's `code`, when the status is not 200. */
  errorCode?: string;
  firstTokenMs: number | null;
  pieces: number;
  /** The longest time between two consecutive pieces of this stream. */
  maxGapMs: number;
}

type Client = () => Promise<StreamResult>;

/** A Chat Completions content delta (the role chunk's `"content":""` is not a piece). */
const isCompletionPiece = (line: string) => line.startsWith('data: {') && /"content":"[^"]/.test(line);
const isUiPiece = (line: string) => line.startsWith('data: {"type":"text-delta"');

/** One streamed request read to its end, timing the first piece and the gaps between pieces. */
async function readStream(
  url: string,
  headers: Record<string, string>,
  body: unknown,
  isPiece: (line: string) => boolean,
): Promise<StreamResult> {
  const started = performance.now();
  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    dispatcher,
  });
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    const errorCode = /"code":"([^"]+)"/.exec(text)?.[1] ?? 'no code';
    return { ok: false, status: response.statusCode, errorCode, firstTokenMs: null, pieces: 0, maxGapMs: 0 };
  }
  const decoder = new TextDecoder();
  let firstTokenMs: number | null = null;
  let pieces = 0;
  let lastPieceAt = 0;
  let maxGapMs = 0;
  let pending = '';
  let done = false;
  for await (const chunk of response.body) {
    const now = performance.now();
    const lines = (pending + decoder.decode(chunk, { stream: true })).split('\n');
    pending = lines.pop() ?? '';
    let found = 0;
    for (const line of lines) {
      if (isPiece(line)) found += 1;
      else if (line === 'data: [DONE]') done = true;
    }
    if (found === 0) continue;
    if (pieces === 0) firstTokenMs = now - started;
    else maxGapMs = Math.max(maxGapMs, now - lastPieceAt);
    lastPieceAt = now;
    pieces += found;
  }
  return {
    ok: response.statusCode === 200 && done,
    status: response.statusCode,
    firstTokenMs,
    pieces,
    maxGapMs,
  };
}

const uiMessages = () => ({
  id: `conv-${randomBytes(8).toString('hex')}`,
  messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: question }] }],
  visitorId: `visitor-${randomBytes(6).toString('hex')}`,
});

const directClient =
  (model: Running, maxTokens = 256): Client =>
  () =>
    readStream(
      `${model.url}/v1/chat/completions`,
      { authorization: 'Bearer bench' },
      {
        model: 'gpt-4.1-mini',
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: maxTokens,
        messages: [{ role: 'user', content: question }],
      },
      isCompletionPiece,
    );

const relayClient =
  (relay: Running, maxTokens = 256): Client =>
  () =>
    readStream(`${relay.url}/chat`, {}, { ...uiMessages(), maxOutputTokens: maxTokens }, isUiPiece);

/** The agent behind `publicKey` sets the cap (`maxOutputTokens`). */
const serviceClient =
  (service: ServiceProcess, publicKey: string): Client =>
  () =>
    readStream(
      `${service.url}/api/v1/chat`,
      { authorization: `Bearer ${publicKey}`, origin },
      uiMessages(),
      isUiPiece,
    );

interface Run {
  results: StreamResult[];
  failures: number;
  /** Why streams failed: reason → count. */
  reasons: Map<string, number>;
  wallMs: number;
}

function failureOf(result: StreamResult | Error): string | null {
  if (result instanceof Error)
    return `${(result as { code?: string }).code ?? result.name}: ${result.message}`;
  if (result.status !== 200) return `HTTP ${result.status} ${result.errorCode}`;
  if (!result.ok) return 'ended without [DONE]';
  if (result.firstTokenMs === null) return 'no text';
  return null;
}

/** Counts a stream in `run`: a result, or a failure with its reason. */
function record(run: Omit<Run, 'wallMs'>, result: StreamResult | Error) {
  const failure = failureOf(result);
  if (failure === null) run.results.push(result as StreamResult);
  else {
    run.failures += 1;
    run.reasons.set(failure, (run.reasons.get(failure) ?? 0) + 1);
  }
}

const failed = (run: Omit<Run, 'wallMs'>) =>
  run.failures === 0
    ? '0'
    : `${run.failures} (${[...run.reasons].map(([reason, count]) => `${reason}: ${count}`).join('; ')})`;

/** `total` streams with `concurrency` in flight at once (a closed loop: each client starts its next when one ends). */
async function runClients(concurrency: number, total: number, client: Client): Promise<Run> {
  const run = { results: [] as StreamResult[], failures: 0, reasons: new Map<string, number>() };
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        record(run, await client().catch((error: unknown) => toError(error)));
      }
    }),
  );
  return { ...run, wallMs: performance.now() - started };
}

const toError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));

const firstTokens = (run: Pick<Run, 'results'>) => run.results.map((result) => result.firstTokenMs ?? 0);
const p = (values: readonly number[], q: number) => percentile(values, q);
const pieceCounts = (runs: readonly Run[]) =>
  [...new Set(runs.flatMap((run) => run.results.map((result) => result.pieces)))].sort((a, b) => a - b);

const clockTicksPerSecond = (() => {
  const output = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim();
  return Number(output) > 0 ? Number(output) : 100;
})();

/** CPU time (all threads, user + system) a process has used, in ms; null without /proc. */
function cpuMs(pid: number | undefined): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
  } catch {
    return null;
  }
}

interface CpuRun extends Run {
  relayCpuMs: number | null;
  modelCpuMs: number | null;
  machineBusy: number | null;
}

/** A closed-loop run and the CPU the relay (or service) and the model used during it. */
async function measureCpu(
  client: Client,
  relayPid: number | undefined,
  modelPid: number | undefined,
): Promise<CpuRun> {
  const relayBefore = relayPid === undefined ? null : cpuMs(relayPid);
  const modelBefore = cpuMs(modelPid);
  const machineBefore = machineCpuSeconds();
  const run = await runClients(cpu.clients, cpu.answers, client);
  const relayAfter = relayPid === undefined ? null : cpuMs(relayPid);
  const modelAfter = cpuMs(modelPid);
  const machineAfter = machineCpuSeconds();
  return {
    ...run,
    relayCpuMs: relayBefore !== null && relayAfter !== null ? relayAfter - relayBefore : null,
    modelCpuMs: modelBefore !== null && modelAfter !== null ? modelAfter - modelBefore : null,
    machineBusy:
      machineBefore && machineAfter
        ? (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)
        : null,
  };
}

/**
 * Pins this process (every thread) to `cpu` and returns how to undo it, or null when it cannot: the
 * load generator then shares both CPUs with everything else.
 */
function pinSelf(cpuIndex: number): (() => void) | null {
  const current = spawnSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' });
  const mask = /:\s*([0-9a-f]+)\s*$/i.exec(current.stdout ?? '')?.[1];
  if (current.status !== 0 || !mask) return null;
  const pinned = spawnSync('taskset', ['-a', '-p', '-c', String(cpuIndex), String(process.pid)], {
    stdio: 'ignore',
  });
  if (pinned.status !== 0) return null;
  return () => {
    spawnSync('taskset', ['-a', '-p', mask, String(process.pid)], { stdio: 'ignore' });
  };
}

/** Which commit was measured, and whether the service's code differs from it. */
function measuredCommit(): string {
  const git = (...args: string[]) =>
    spawnSync('git', args, {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    }).stdout?.trim() ?? '';
  const head = git('rev-parse', '--short', 'HEAD') || 'unknown';
  const lastChange = git('log', '-1', '--format=%h', '--', 'services', 'packages') || 'unknown';
  const dirty = git('status', '--porcelain', '--', 'services', 'packages') !== '';
  return `commit \`${head}\` (\`services/\` and \`packages/\` as of \`${lastChange}\`${dirty ? ', with uncommitted changes' : ''})`;
}

const formatCpu = (ms: number | null, answers: number) =>
  ms === null ? 'n/a' : `${(ms / answers).toFixed(2)} ms`;
const percent = (share: number | null) => (share === null ? 'n/a' : `${Math.round(share * 100)} %`);
const pair = (values: readonly number[]) => `${formatMs(p(values, 0.5))} / ${formatMs(p(values, 0.99))}`;

export async function runChatOverhead(log: (line: string) => void = () => {}): Promise<BenchmarkResult> {
  // Before pinning this process, which would make it see one CPU.
  const machine = describeMachine(await redisVersionOf());
  const pinning = availableParallelism() >= 2 && tasksetAvailable();
  const relayPin = pinning ? { cpu: serviceCpu } : {};
  const loadPin = pinning ? { cpu: loadCpu } : {};
  const unpinSelf = pinning ? pinSelf(loadCpu) : null;
  // The service's Redis is the benchmark's own (what is measured is the service, not the machine's
  // shared Redis queueing behind other work), pinned beside it on its CPU: measured side by side,
  // Redis on the load CPU made the service's first token slower (its round trips then wait on the
  // model and the load generator). BENCH_REDIS_ON_LOAD_CPU=1 puts it there.
  const redisBeside = process.env.BENCH_REDIS_ON_LOAD_CPU !== '1';
  const redis = await startPrivateRedis(redisBeside ? relayPin : loadPin);
  const sharedRedisUrl = process.env.REDIS_URL;
  process.env.REDIS_URL = redis.url;
  // The history drains to a PostgreSQL server, as in production (an embedded PGlite would run its
  // inserts in the service's own process and CPU).
  const server = await availableServer();
  const database = server ? await serverDatabase(server, 'mcpstack_bench') : null;
  const historyEnv: Record<string, string> = database ? { DATABASE_URL: database.url } : {};
  const historyNote = database
    ? " The service drains its history to a PostgreSQL database of its own on the machine's server."
    : ' **No PostgreSQL server answered**: the service keeps its history in an embedded PGlite, whose inserts run in its own process (about 2 ms of CPU per answer more).';
  const pinningNote = pinning
    ? `The bare relay and the service run pinned to CPU ${serviceCpu} (\`taskset -c ${serviceCpu}\`, one at a time), with the service's Redis (a \`redis-server\` of the benchmark's own) ${redisBeside ? 'on the same CPU' : `on CPU ${loadCpu} (\`BENCH_REDIS_ON_LOAD_CPU=1\`)`}; the model runs on CPU ${loadCpu}, and the load generator (this benchmark's process) ${unpinSelf ? `on CPU ${loadCpu} too (\`taskset -a -p\`)` : 'unpinned (`taskset -p` on it failed)'}.`
    : `**Not pinned**: ${availableParallelism() < 2 ? 'fewer than 2 CPUs' : '`taskset` (util-linux) is missing'}, so every process shares every CPU.`;
  log((pinningNote + historyNote).replaceAll('`', '').replaceAll('**', ''));

  const model = await startModelProcess({ chunkDelayMs, ...loadPin });
  const slowModel = await startModelProcess({ chunkDelayMs: wide.chunkDelayMs, ...loadPin });
  // Each service's stop removes the keys it wrote.
  const stops: (() => Promise<unknown>)[] = [model.stop, slowModel.stop];
  const startService = async (modelUrl: string, nodeFlags: string[] = []) => {
    const service = await startServiceProcess(modelUrl, historyEnv, { ...relayPin, nodeFlags });
    stops.push(service.stop);
    return service;
  };
  const startRelay = async (modelUrl: string) => {
    const relay = await startBareRelayProcess(modelUrl, relayPin);
    stops.push(relay.stop);
    return relay;
  };
  try {
    const checks: Check[] = [];
    let relay = await startRelay(model.url);
    let service = await startService(model.url);
    const tenant = await createTenant(service);
    const cappedTenant = await createTenant(service, { maxOutputTokens: sequential.maxTokens });
    const direct = directClient(model);
    const viaRelay = relayClient(relay);
    const viaService = serviceClient(service, tenant.publicKey);

    // (1) CPU per answer at 50 concurrent clients, after warming each path (connections, JIT).
    for (const client of [direct, viaRelay, viaService]) await runClients(cpu.clients, cpu.warmup, client);
    const cpuDirect = await measureCpu(direct, undefined, model.child.pid);
    const cpuRelay = await measureCpu(viaRelay, relay.child.pid, model.child.pid);
    const cpuService = await measureCpu(viaService, service.child.pid, model.child.pid);
    const perAnswer = (run: CpuRun) => (run.relayCpuMs === null ? null : run.relayCpuMs / cpu.answers);
    const relayPerAnswer = perAnswer(cpuRelay);
    const servicePerAnswer = perAnswer(cpuService);
    const ratio =
      relayPerAnswer !== null && servicePerAnswer !== null && relayPerAnswer > 0
        ? servicePerAnswer / relayPerAnswer
        : null;
    log(
      `(1) CPU per answer at ${cpu.clients} clients: bare relay ${formatCpu(cpuRelay.relayCpuMs, cpu.answers)}, service ${formatCpu(cpuService.relayCpuMs, cpu.answers)} (${ratio === null ? 'n/a' : `${ratio.toFixed(1)}×`}); pieces per answer ${pieceCounts([cpuDirect, cpuRelay, cpuService]).join(', ')}`,
    );
    const cpuRows = [
      ['the model, called directly', cpuDirect, null] as const,
      ['a bare `node:http` relay', cpuRelay, cpuRelay.relayCpuMs] as const,
      ['**the service**', cpuService, cpuService.relayCpuMs] as const,
    ].map(([name, run, relayMs]) => [
      name,
      relayMs === null ? '(none)' : `**${formatCpu(relayMs, cpu.answers)}**`,
      relayMs === null || relayPerAnswer === null || relayPerAnswer === 0
        ? ''
        : `${(relayMs / cpu.answers / relayPerAnswer).toFixed(1)}×`,
      formatCpu(run.modelCpuMs, cpu.answers),
      pair(firstTokens(run)),
      `${(run.wallMs / 1000).toFixed(1)} s`,
      percent(run.machineBusy),
      pieceCounts([run]).join(', '),
      failed(run),
    ]);
    checks.push({
      name: `every answer of phase 1 has ${answerPieces} pieces and none failed`,
      passed:
        [cpuDirect, cpuRelay, cpuService].every((run) => run.failures === 0) &&
        pieceCounts([cpuDirect, cpuRelay, cpuService]).join() === String(answerPieces),
      detail: `pieces per answer: ${pieceCounts([cpuDirect, cpuRelay, cpuService]).join(', ')}; failed: ${cpuDirect.failures + cpuRelay.failures + cpuService.failures}`,
    });
    checks.push({
      name: `service CPU per ${answerPieces}-piece answer ≤ ${targets.cpuRatio}× the bare relay's`,
      passed: ratio !== null && ratio <= targets.cpuRatio,
      detail:
        ratio === null
          ? 'no /proc: CPU not measured'
          : `${servicePerAnswer?.toFixed(2)} ms vs ${relayPerAnswer?.toFixed(2)} ms: ${ratio.toFixed(2)}×`,
      target: true,
    });

    // (2) Added time to first token, one stream at a time; the three paths take turns, so drift hits all.
    const sequentialClients = [
      directClient(model, sequential.maxTokens),
      relayClient(relay, sequential.maxTokens),
      serviceClient(service, cappedTenant.publicKey),
    ];
    const sequentialRuns = sequentialClients.map(() => ({
      results: [] as StreamResult[],
      failures: 0,
      reasons: new Map<string, number>(),
    }));
    for (let index = 0; index < sequential.warmup + sequential.streams; index += 1) {
      for (const [which, client] of sequentialClients.entries()) {
        const result = await client().catch((error: unknown) => toError(error));
        if (index >= sequential.warmup) record(sequentialRuns[which]!, result);
      }
    }
    const [sequentialDirect, sequentialRelay, sequentialService] = sequentialRuns.map(firstTokens) as [
      number[],
      number[],
      number[],
    ];
    const added = (through: number[], q: number) => p(through, q) - p(sequentialDirect, q);
    log(
      `(2) added first token, one at a time: service p50 ${formatMs(added(sequentialService, 0.5))} p99 ${formatMs(added(sequentialService, 0.99))}; bare relay p50 ${formatMs(added(sequentialRelay, 0.5))} p99 ${formatMs(added(sequentialRelay, 0.99))}`,
    );
    const sequentialRows = [
      ['the model, called directly', sequentialDirect, failed(sequentialRuns[0]!)],
      ['a bare `node:http` relay', sequentialRelay, failed(sequentialRuns[1]!)],
      ['**the service**', sequentialService, failed(sequentialRuns[2]!)],
    ].map(([name, times, failures], index) => [
      name as string,
      `${formatMs(p(times as number[], 0.5))} / ${formatMs(p(times as number[], 0.99))}`,
      index === 0
        ? ''
        : `${formatMs(added(times as number[], 0.5))} / ${formatMs(added(times as number[], 0.99))}`,
      failures as string,
    ]);
    const sequentialFailures = sequentialRuns.reduce((sum, run) => sum + run.failures, 0);
    checks.push({
      name: 'no failed stream one at a time',
      passed: sequentialFailures === 0,
      detail: `${sequentialFailures} of ${3 * sequential.streams} failed`,
    });
    checks.push({
      name: `added time to first token one stream at a time: p50 ≤ ${targets.addedP50Ms} ms`,
      passed: added(sequentialService, 0.5) <= targets.addedP50Ms,
      detail: `p50 ${formatMs(added(sequentialService, 0.5))}`,
      target: true,
    });
    checks.push({
      name: `added time to first token one stream at a time: p99 ≤ ${targets.addedP99Ms} ms`,
      passed: added(sequentialService, 0.99) <= targets.addedP99Ms,
      detail: `p99 ${formatMs(added(sequentialService, 0.99))}`,
      target: true,
    });

    // (3) 100 concurrent streams, pieces 20 ms apart (≈ 5,000 pieces/s when the paths keep up).
    const loadedRuns = [] as Run[];
    for (const client of [direct, viaRelay, viaService]) {
      loadedRuns.push(await runClients(loaded.clients, loaded.streams, client));
    }
    const [loadedDirect, loadedRelay, loadedService] = loadedRuns as [Run, Run, Run];
    const loadedAdded = (run: Run, q: number) => p(firstTokens(run), q) - p(firstTokens(loadedDirect), q);
    log(
      `(3) ${loaded.clients} concurrent: service added p99 ${formatMs(loadedAdded(loadedService, 0.99))}, failed ${loadedService.failures}; bare relay added p99 ${formatMs(loadedAdded(loadedRelay, 0.99))}`,
    );
    const loadedRows = [
      ['the model, called directly', loadedDirect],
      ['a bare `node:http` relay', loadedRelay],
      ['**the service**', loadedService],
    ].map(([name, run], index) => {
      const times = firstTokens(run as Run);
      const pieces = (run as Run).results.reduce((sum, result) => sum + result.pieces, 0);
      return [
        name as string,
        `${formatMs(p(times, 0.5))} / ${formatMs(p(times, 0.95))} / ${formatMs(p(times, 0.99))}`,
        index === 0
          ? ''
          : `${formatMs(loadedAdded(run as Run, 0.5))} / ${formatMs(loadedAdded(run as Run, 0.99))}`,
        formatInteger(pieces / ((run as Run).wallMs / 1000)),
        failed(run as Run),
      ];
    });
    checks.push({
      name: `${loaded.clients} concurrent streams, service on one CPU: added p99 ≤ ${targets.loadedAddedP99Ms} ms`,
      passed: loadedAdded(loadedService, 0.99) <= targets.loadedAddedP99Ms,
      detail: `p99 ${formatMs(loadedAdded(loadedService, 0.99))}`,
      target: true,
    });
    checks.push({
      name: `${loaded.clients} concurrent streams: 0 failures`,
      passed: loadedRuns.every((run) => run.failures === 0),
      detail: `${loadedService.failures} of ${loaded.streams} through the service failed (bare relay ${loadedRelay.failures}, direct ${loadedDirect.failures})`,
      target: true,
    });

    // (4) 512 concurrent streams with pieces 100 ms apart, against a model that paces them so.
    await relay.stop();
    await service.stop();
    relay = await startRelay(slowModel.url);
    service = await startService(slowModel.url);
    const wideTenant = await createTenant(service);
    const wideClients = [
      directClient(slowModel),
      relayClient(relay),
      serviceClient(service, wideTenant.publicKey),
    ];
    await runClients(wide.warmup, wide.warmup, wideClients[2]!);
    const wideRuns = [] as Run[];
    for (const client of wideClients) wideRuns.push(await runClients(wide.clients, wide.streams, client));
    const [, , wideService] = wideRuns as [Run, Run, Run];
    const maxGap = (run: Run) => Math.max(0, ...run.results.map((result) => result.maxGapMs));
    const stalled = (run: Run) => run.results.filter((result) => result.maxGapMs > targets.maxGapMs).length;
    log(
      `(4) ${wide.clients} concurrent, pieces ${wide.chunkDelayMs} ms apart: service failed ${wideService.failures}, longest gap ${formatMs(maxGap(wideService))}, ${stalled(wideService)} streams stalled > 1 s`,
    );
    const wideRows = [
      ['the model, called directly', wideRuns[0]!],
      ['a bare `node:http` relay', wideRuns[1]!],
      ['**the service**', wideService],
    ].map(([name, run]) => {
      const typed = run as Run;
      const gaps = typed.results.map((result) => result.maxGapMs);
      return [
        name as string,
        pair(firstTokens(typed)),
        `${formatMs(p(gaps, 0.5))} / ${formatMs(p(gaps, 0.99))} / ${formatMs(maxGap(typed))}`,
        String(stalled(typed)),
        `${(typed.wallMs / 1000).toFixed(1)} s`,
        failed(typed),
      ];
    });
    checks.push({
      name: `${wide.clients} concurrent streams, pieces ${wide.chunkDelayMs} ms apart: 0 failures`,
      passed: wideRuns.every((run) => run.failures === 0),
      detail: `${wideService.failures} of ${wide.streams} through the service failed (bare relay ${wideRuns[1]!.failures}, direct ${wideRuns[0]!.failures})`,
      target: true,
    });
    checks.push({
      name: `${wide.clients} concurrent streams: no stream stalled more than 1 s between pieces`,
      passed: maxGap(wideService) <= targets.maxGapMs,
      detail: `longest gap ${formatMs(maxGap(wideService))}, ${stalled(wideService)} of ${wideService.results.length} streams had one over 1 s`,
      target: true,
    });
    checks.push({
      name: `every answer of phases 3 and 4 has ${answerPieces} pieces`,
      passed: pieceCounts([...loadedRuns, ...wideRuns]).join() === String(answerPieces),
      detail: `pieces per answer: ${pieceCounts([...loadedRuns, ...wideRuns]).join(', ')}`,
    });

    const profileDir = process.env.BENCH_PROFILE;
    if (profileDir) await profileService(resolve(profileDir), model, startService, log);

    const body = [
      'Run alone: `npm run bench -- chat-overhead`. With `BENCH_PROFILE=<dir>`, it also runs phase (1) against a service started with `--cpu-prof` and prints where its time went (`bench/support/profile-summary.ts`).',
      '',
      `${measuredOn(machine)} Service at ${measuredCommit()}.`,
      '',
      'Method (the machine is shared, so the targets are ratios to the bare relay, or differences to the direct model, measured in the same run):',
      '',
      `- The local model streams a ${answerPieces}-piece answer, pieces ${chunkDelayMs} ms apart (it echoes \`${question}\` in ${answerPieces} pieces), read three ways: **direct** (\`POST /v1/chat/completions\`); through a **bare relay** (\`bench/support/bare-relay.ts\`: \`node:http\`, a keep-alive agent to the model, parse its SSE, write one \`text-delta\` event per piece: the floor of a Node relay here); through **the service** (\`POST /api/v1/chat\` with an embed key, a new visitor and conversation each, an agent without tools: one step). Each runs as a process of its own.`,
      `- ${pinningNote}${historyNote}`,
      `- CPU per answer: utime + stime of the relay's or service's process (all threads) from \`/proc/<pid>/stat\` (${clockTicksPerSecond} ticks/s) over ${cpu.answers} answers, divided by ${cpu.answers}.`,
      "- Time to first token: to the first piece of text. Added = the path's percentile − the direct percentile. Clients are undici with keep-alive connections.",
      '',
      `**(1) CPU per answer**, ${cpu.clients} concurrent clients, ${cpu.answers} answers each path (after ${cpu.warmup} to warm up):`,
      '',
      table(
        [
          'path',
          'relay CPU per answer',
          '× bare relay',
          'model CPU per answer',
          'first token p50 / p99',
          'wall',
          'machine busy',
          'pieces',
          'failed',
        ],
        cpuRows,
      ),
      '',
      `**(2) Added time to first token, one stream at a time**: ${sequential.streams} streams per path, the three paths taking turns (after ${sequential.warmup} each to warm up); these answers are cut at ${sequential.maxTokens} piece, since only the first is timed:`,
      '',
      table(['path', 'first token p50 / p99', 'added p50 / p99', 'failed'], sequentialRows),
      '',
      "The bare relay's added time shows how much of the service's is this machine's noise in this run.",
      '',
      `**(3) ${loaded.clients} concurrent streams**, ${loaded.streams} per path, pieces ${chunkDelayMs} ms apart:`,
      '',
      table(['path', 'first token p50 / p95 / p99', 'added p50 / p99', 'pieces/s', 'failed'], loadedRows),
      '',
      `**(4) ${wide.clients} concurrent streams**, ${wide.streams} per path, pieces ${wide.chunkDelayMs} ms apart (a model, relay and service of their own, the service warmed with ${wide.warmup} answers); a stream's gap is the longest time between two of its pieces:`,
      '',
      table(
        [
          'path',
          'first token p50 / p99',
          'gap p50 / p99 / max',
          'streams with a gap > 1 s',
          'wall',
          'failed',
        ],
        wideRows,
      ),
      '',
      checkList(checks),
      '',
      beforeTheRewrite,
    ].join('\n');
    return { machine, heading, body, checks };
  } finally {
    for (const stop of stops.reverse()) await stop();
    await redis.stop();
    await database?.drop();
    if (sharedRedisUrl === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = sharedRedisUrl;
    unpinSelf?.();
  }
}

/**
 * The service before its stream path was rewritten (the AI SDK's streamText and UI message stream),
 * measured with this benchmark on the same machine: kept as the baseline the rewrite is judged by.
 */
const beforeTheRewrite = [
  '**Before the stream-path rewrite** (commit `37f82e6`, `streamText` + `pipeUIMessageStreamToResponse`; measured 2026-12-01 14:41 UTC with this benchmark on this machine, the shared Redis then):',
  '',
  table(
    ['figure', 'before', 'bare relay in the same run'],
    [
      ['service CPU per 31-piece answer', '14.45 ms (7.0×; 5.1–7.0× over five runs)', '2.05 ms'],
      ['added first token, one stream at a time, p50 / p99', '5.01 ms / 28.04 ms', '0.66 ms / 40.29 ms'],
      ['100 concurrent streams: added p99, failed', '1257 ms, 0', '13.50 ms'],
      [
        '512 concurrent streams at 100 ms: longest gap, streams stalled > 1 s',
        '1888 ms, 699 of 1024',
        '497 ms, 0',
      ],
    ],
  ),
].join('\n');

/**
 * Phase 1's service load again, against a service started with `--cpu-prof`: the profile (written
 * when the service exits) covers its whole life, the summary only the measured load (not the start
 * or the warm-up); it goes to the log and to `summary.txt` beside the profile.
 */
async function profileService(
  dir: string,
  model: Running,
  startService: (modelUrl: string, nodeFlags?: string[]) => Promise<ServiceProcess>,
  log: (line: string) => void,
) {
  mkdirSync(dir, { recursive: true });
  const service = await startService(model.url, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const tenant = await createTenant(service);
  const client = serviceClient(service, tenant.publicKey);
  await runClients(cpu.clients, cpu.warmup, client);
  const microseconds = () => Number(process.hrtime.bigint() / 1000n);
  const fromUs = microseconds();
  const run = await runClients(cpu.clients, cpu.answers, client);
  const toUs = microseconds();
  await service.stop();
  const newest = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => join(dir, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!newest) {
    log(`profile: no .cpuprofile in ${dir}`);
    return;
  }
  const summary = `${cpu.answers} answers at ${cpu.clients} clients, after ${cpu.warmup} to warm up (${run.failures} failed); the summary covers the ${cpu.answers}\n${summarizeProfile(newest, 25, { fromUs, toUs })}`;
  writeFileSync(join(dir, 'summary.txt'), `${summary}\n`);
  for (const line of summary.split('\n')) log(line);
}
