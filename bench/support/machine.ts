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
