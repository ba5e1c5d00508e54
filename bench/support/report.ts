import { type Machine, measuredOn } from './machine.ts';

/**
 * One thing a benchmark checks. A failed invariant makes `npm run bench` exit non-zero; a missed
 * performance target only with `--strict`, since a shared 2-core machine makes throughput noisy.
 */
export interface Check {
  name: string;
  passed: boolean;
  detail: string;
  /** A performance target (met or missed) rather than an invariant (pass or fail). */
  target?: boolean;
}

/** What a benchmark hands the runner: its section of docs/benchmarks.md and whether it passed. */
export interface BenchmarkResult {
  machine: Machine;
  /** The `## ` heading of the section this benchmark owns. */
  heading: string;
  /** The section's markdown, below its heading. */
  body: string;
  checks: Check[];
}

export const passed = (result: BenchmarkResult, strict = false): boolean =>
  result.checks.every((check) => check.passed || (check.target === true && !strict));

export const mark = (ok: boolean): string => (ok ? 'pass' : '**FAIL**');

const markOf = (check: Check): string =>
  check.target ? (check.passed ? 'target met' : '**target missed**') : mark(check.passed);

/** A markdown table, padded the way the formatter (Biome) writes it, so a fresh run stays formatted. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const width = (text: string) => [...text].length;
  const widths = headers.map((header, column) =>
    Math.max(3, width(header), ...rows.map((row) => width(row[column] ?? ''))),
  );
  const pad = (text: string, size: number) => text + ' '.repeat(size - width(text));
  const line = (cells: readonly string[]) =>
    `| ${widths.map((size, column) => pad(cells[column] ?? '', size)).join(' | ')} |`;
  return [line(headers), line(widths.map((size) => '-'.repeat(size))), ...rows.map(line)].join('\n');
}

export function checkList(checks: readonly Check[]): string {
  return checks.map((check) => `- ${markOf(check)}: ${check.name} (${check.detail})`).join('\n');
}

/**
 * The body of a section whose benchmark runs alone as `npm run bench -- <name>`: that line, where
 * it was measured, then `parts` (what it did, its tables) and its checks, a blank line apart.
 */
export function sectionBody(
  name: string,
  machine: Machine,
  parts: readonly string[],
  checks: readonly Check[],
) {
  return [
    `Run alone: \`npm run bench -- ${name}\`.`,
    measuredOn(machine),
    ...parts,
    'Checks:',
    checkList(checks),
  ].join('\n\n');
}

/**
 * Replaces the named `## ` sections of a markdown document (appending those it lacks) and keeps
 * everything else as it was: other benchmarks own the other sections.
 */
export function replaceSections(
  document: string,
  sections: readonly { heading: string; body: string }[],
): string {
  const lines = document.replace(/\s+$/, '').split('\n');
  const preamble: string[] = [];
  const parts: { heading: string; lines: string[] }[] = [];
  let inFence = false;
  for (const line of lines) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    if (!inFence && line.startsWith('## ')) parts.push({ heading: line.slice(3).trim(), lines: [] });
    else (parts.at(-1)?.lines ?? preamble).push(line);
  }
  for (const section of sections) {
    const replacement = ['', ...section.body.trim().split('\n'), ''];
    const existing = parts.find((part) => part.heading === section.heading);
    if (existing) existing.lines = replacement;
    else parts.push({ heading: section.heading, lines: replacement });
  }
  const out = [...preamble];
  for (const part of parts) {
    while (out.length > 0 && out.at(-1)?.trim() === '') out.pop();
    out.push('', `## ${part.heading}`, ...part.lines);
  }
  return `${out.join('\n').trim()}\n`;
}
