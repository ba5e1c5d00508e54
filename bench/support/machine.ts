import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGib: number;
  node: string;
  redis: string;
  date: string;
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return match?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function describeMachine(redis: string): Machine {
  return {
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    memoryGib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    redis,
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
  };
}

/** One line naming where and when the figures of a section were measured. */
export const measuredOn = (machine: Machine): string =>
  `Measured ${machine.date} UTC on ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGib} GiB RAM, Node ${machine.node}, Redis ${machine.redis}.`;

/**
 * CPU seconds the whole machine (all cores) spent busy, and in total, from /proc/stat: to tell how
 * much of the machine other processes took while a benchmark ran. Null where /proc is missing.
 */
export function machineCpuSeconds(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
    const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
    // USER_HZ is 100 on Linux for every architecture Node runs on.
    return { busy: busy / 100, total: (busy + (idle ?? 0) + (iowait ?? 0)) / 100 };
  } catch {
    return null;
  }
}
