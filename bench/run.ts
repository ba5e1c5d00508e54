/**
 * `npm run bench`: runs the benchmarks in order and rewrites their sections of docs/benchmarks.md,
 * keeping every section it does not own (other benchmarks write their own).
 *
 * `npm run bench -- budget-race` runs one (names: see `benchmarks` below); `-- --strict` also fails
 * on a missed performance target, not only on a broken invariant.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { runBudgetRace } from './budget-race.ts';
import { runChatLoad } from './chat-load.ts';
import { runChatOverhead } from './chat-overhead.ts';
import { runHistory } from './history.ts';
import { runLedgerPages } from './ledger-pages.ts';
import { runReserveSettle } from './reserve-settle.ts';
import type { Machine } from './support/machine.ts';
import { type BenchmarkResult, passed, replaceSections, table } from './support/report.ts';

const benchmarks: { name: string; run: (log: (line: string) => void) => Promise<BenchmarkResult> }[] = [
  { name: 'budget-race', run: runBudgetRace },
  { name: 'reserve-settle', run: runReserveSettle },
  { name: 'history', run: runHistory },
  { name: 'ledger-pages', run: runLedgerPages },
  { name: 'chat-overhead', run: runChatOverhead },
  { name: 'chat-load', run: runChatLoad },
];

const documentUrl = new URL('../docs/benchmarks.md', import.meta.url);

const intro = `# Benchmarks

The non-functional targets of the specification ("Non-functional targets"), measured by the
benchmarks in \`bench/\`, never by timed unit tests.

\`npm run bench\` runs every benchmark (the widget's in Chromium too) against the Redis at \`REDIS_URL\` (default
\`redis://127.0.0.1:6379\`) and rewrites its section below; \`npm run bench -- <name>\` runs one. Each
benchmark uses a key prefix of its own and removes its keys when it ends. The command exits non-zero
when an invariant fails; with \`-- --strict\`, also when a performance target is missed (figures from
a shared 2-core machine are noisy). Sections written by other benchmarks are kept as they are.
`;

function machineSection(machine: Machine): string {
  return [
    'Where the last `npm run bench` ran (each section also says when and where it was measured):',
    '',
    table(
      ['', ''],
      [
        ['CPUs (`nproc`)', String(machine.cpus)],
        ['CPU model', machine.cpuModel],
        ['RAM', `${machine.memoryGib} GiB`],
        ['Node', machine.node],
        ['Redis', machine.redis],
        ['Date (UTC)', machine.date],
      ],
    ),
  ].join('\n');
}

const args = process.argv.slice(2);
const strict = args.includes('--strict');
const names = args.filter((arg) => !arg.startsWith('--'));
/** The widget's size and launch benchmark runs in Chromium from its own package and writes its own section. */
const widgetBenchmark = 'widget';
const unknown = names.filter(
  (name) => name !== widgetBenchmark && !benchmarks.some((benchmark) => benchmark.name === name),
);
if (unknown.length > 0) {
  console.error(
    `Unknown benchmark ${unknown.join(', ')}; known: ${[...benchmarks.map((benchmark) => benchmark.name), widgetBenchmark].join(', ')}`,
  );
  process.exit(2);
}

const selected = benchmarks.filter((benchmark) => names.length === 0 || names.includes(benchmark.name));
const results: BenchmarkResult[] = [];
let failed = false;
if (names.length === 0 || names.includes(widgetBenchmark)) {
  // First, so the sections written below keep the one it writes.
  console.error(`${widgetBenchmark}: running (npm run bench -w @mcpstack/agent-sdk)`);
  const widget = spawnSync('npm', ['run', 'bench', '--silent', '-w', '@mcpstack/agent-sdk'], {
    stdio: 'inherit',
  });
  failed ||= widget.status !== 0;
  console.error(`${widgetBenchmark}: ${widget.status === 0 ? 'passed' : 'FAILED'}`);
}
for (const benchmark of selected) {
  const started = performance.now();
  console.error(`${benchmark.name}: running`);
  try {
    const result = await benchmark.run((line) => console.error(`  ${line}`));
    results.push(result);
    const ok = passed(result, strict);
    failed ||= !ok;
    for (const check of result.checks.filter((check) => !check.passed)) {
      console.error(`  ${check.target ? 'target missed' : 'FAILED'}: ${check.name} (${check.detail})`);
    }
    console.error(
      `${benchmark.name}: ${ok ? 'passed' : 'FAILED'} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  } catch (error) {
    failed = true;
    console.error(`${benchmark.name}: could not run:`, error);
  }
}

const last = results.at(-1);
if (last) {
  const current = existsSync(documentUrl) ? readFileSync(documentUrl, 'utf8') : intro;
  const sections = [
    { heading: 'Machine', body: machineSection(last.machine) },
    ...results.map((result) => ({ heading: result.heading, body: result.body })),
  ];
  mkdirSync(new URL('.', documentUrl), { recursive: true });
  writeFileSync(documentUrl, replaceSections(current, sections));
  console.error(
    `docs/benchmarks.md: rewrote ${sections.map((section) => `"${section.heading}"`).join(', ')}`,
  );
}
process.exitCode = failed ? 1 : 0;
