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

/** Express 5 and the packages it runs on every request. */
const expressParts = new Set([
  'express',
  'router',
  'body-parser',
  'raw-body',
  'type-is',
  'content-type',
  'mime-types',
  'mime-db',
  'media-typer',
  'path-to-regexp',
  'vary',
  'statuses',
  'http-errors',
  'iconv-lite',
  'debug',
  'ms',
  'merge-descriptors',
  'finalhandler',
  'send',
  'serve-static',
  'qs',
  'on-finished',
  'encodeurl',
  'escape-html',
  'parseurl',
  'accepts',
  'negotiator',
  'fresh',
  'etag',
  'cookie',
  'cookie-signature',
  'depd',
  'setprototypeof',
  'content-disposition',
  'range-parser',
  'proxy-addr',
  'forwarded',
  'ipaddr.js',
  'once',
  'wrappy',
  'is-promise',
  'side-channel',
  'object-inspect',
  'get-intrinsic',
]);

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
  if (url.startsWith('wasm://')) return 'wasm (type stripping at startup)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/');
    const name = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? '?');
    if (name.startsWith('@ai-sdk/')) return '@ai-sdk';
    return expressParts.has(name) ? 'express (and its middleware)' : name;
  }
  if (url.includes('/services/chat/src/')) return 'our src (services/chat)';
  if (url.includes('/packages/')) return `our packages (${/\/packages\/([^/]+)/.exec(url)?.[1]})`;
  return 'other';
}

/**
 * Milliseconds of self time per profile node: samples × the median sampling interval. Not the time to
 * the next sample, as DevTools charges: when the process waits for its CPU (pinned, on a shared
 * machine) the sampler waits too, and one sample would be charged the whole wait.
 */
function selfTimes(profile: CpuProfile, window?: Window): { times: Map<number, number>; samples: number } {
  const deltas = Float64Array.from(profile.timeDeltas).sort();
  const intervalMs = (deltas[Math.floor(deltas.length / 2)] ?? 1000) / 1000;
  const times = new Map<number, number>();
  let at = profile.startTime;
  let samples = 0;
  for (const [index, id] of profile.samples.entries()) {
    at += profile.timeDeltas[index] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    times.set(id, (times.get(id) ?? 0) + intervalMs);
    samples += 1;
  }
  return { times, samples };
}

/**
 * A part of the profile to summarize, in microseconds of the monotonic clock that V8 stamps samples
 * with (`process.hrtime.bigint() / 1000n` in any process of the machine).
 */
export interface Window {
  fromUs: number;
  toUs: number;
}

export function summarizeProfile(path: string, top = 25, window?: Window): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const { times, samples } = selfTimes(profile, window);
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
  const wallMs = window
    ? (Math.min(window.toUs, profile.endTime) - Math.max(window.fromUs, profile.startTime)) / 1000
    : (profile.endTime - profile.startTime) / 1000;
  return [
    `${path}: ${Math.round(wallMs)} ms ${window ? 'in the window summarized' : 'profiled'}, ${samples} samples, ${Math.round(busyMs)} ms busy (samples × the median interval)`,
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
