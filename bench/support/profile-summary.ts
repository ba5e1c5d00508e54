/**
 * Where a process's CPU time went, from a V8 `.cpuprofile` (`node --cpu-prof`): the functions with the
 * most self time and the share of each package. Shares are of the busy time (idle left out).
 *
 * `node --experimental-strip-types bench/support/profile-summary.ts <file.cpuprofile> [top]`
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { table } from './report.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The package (or part of Node) a script belongs to, by its URL. */
export function packageOf(url: string, functionName: string): string {
  if (url === '') {
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)') {
      return functionName;
    }
    return '(V8 builtins and native)';
  }
  if (url.startsWith('node:internal/webstreams/')) return 'node: web streams';
  if (url.startsWith('node:internal/streams/') || url === 'node:stream') return 'node: streams';
  if (/^node:(internal\/)?(net|_http|http|dns|tls|internal\/http)/.test(url)) return 'node: net and http';
  if (url.startsWith('node:internal/deps/undici')) return 'node: undici (fetch)';
  if (url.startsWith('node:')) return 'node: other internals';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/');
    const name = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? '?');
    return name.startsWith('@ai-sdk/') ? '@ai-sdk' : name;
  }
  if (url.includes('/services/chat/src/')) return 'our src (services/chat)';
  if (url.includes('/packages/')) return `our packages (${/\/packages\/([^/]+)/.exec(url)?.[1]})`;
  return 'other';
}

/** Milliseconds of self time per profile node: each sample is charged the interval up to the next. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const times = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  for (let index = 0; index < samples.length; index += 1) {
    const next = timeDeltas[index + 1] ?? 0;
    const id = samples[index] ?? 0;
    times.set(id, (times.get(id) ?? 0) + next / 1000);
  }
  return times;
}

export function summarizeProfile(path: string, top = 25): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const times = selfTimes(profile);
  const byFunction = new Map<string, { name: string; where: string; pkg: string; ms: number }>();
  const byPackage = new Map<string, number>();
  let busyMs = 0;
  for (const node of profile.nodes) {
    const ms = times.get(node.id) ?? 0;
    if (ms === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const pkg = packageOf(url, functionName);
    if (pkg !== '(idle)') busyMs += ms;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
    const short = url
      .replace(/^file:\/\/.*\/node_modules\//, '')
      .replace(/^file:\/\/.*\/(services|packages)\//, '$1/');
    const key = `${functionName}@${url}:${lineNumber}`;
    const entry = byFunction.get(key) ?? {
      name: functionName || '(anonymous)',
      where: url ? `${short}:${lineNumber + 1}` : '',
      pkg,
      ms: 0,
    };
    entry.ms += ms;
    byFunction.set(key, entry);
  }
  const share = (ms: number) => `${((100 * ms) / busyMs).toFixed(1)} %`;
  const functions = [...byFunction.values()]
    .filter((entry) => entry.pkg !== '(idle)')
    .sort((a, b) => b.ms - a.ms)
    .slice(0, top);
  const packages = [...byPackage.entries()].filter(([pkg]) => pkg !== '(idle)').sort((a, b) => b[1] - a[1]);
  const wallMs = (profile.endTime - profile.startTime) / 1000;
  return [
    `${path}: ${Math.round(wallMs)} ms profiled, ${Math.round(busyMs)} ms busy (${profile.samples.length} samples)`,
    '',
    `Top ${top} functions by self time (share of busy time):`,
    '',
    table(
      ['self', 'share', 'function', 'where', 'package'],
      functions.map((entry) => [
        `${entry.ms.toFixed(0)} ms`,
        share(entry.ms),
        entry.name,
        entry.where,
        entry.pkg,
      ]),
    ),
    '',
    'Self time per package:',
    '',
    table(
      ['package', 'self', 'share'],
      packages.map(([pkg, ms]) => [pkg, `${ms.toFixed(0)} ms`, share(ms)]),
    ),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(summarizeProfile(file, top ? Number(top) : 25));
}
