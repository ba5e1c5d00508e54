/**
 * Watches caps while a race runs, from a worker thread with its own Redis connection, so that it
 * keeps sampling while the main thread (which runs the service) is saturated: every sample reads
 * each pool's spend and reservations in one MULTI, and spent + reserved must never exceed the cap.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createRedis } from '../../services/chat/src/storage/redis.ts';

/** One pool of money a cap guards, as Redis holds it. */
export interface Pool {
  capMicros: number;
  /** Where the settled spend is; for credits the balance, and spent = the cap − balance. */
  spent: { key: string; field: string; fromBalance: boolean };
  reserved: { key: string; field: string };
}

export interface Samples {
  count: number;
  /** The most any pool held at one instant, spent + reserved, relative to its cap (1 = the cap). */
  peakUsedOfCap: number;
  /** Samples where some pool's spent + reserved was over its cap: must stay 0. */
  overCap: number;
  /** One reservation's amount, read from the reservation data while the race runs. */
  reservationMicros: number | null;
}

interface Job {
  redisUrl: string;
  pools: Pool[];
  reservationDataKey: string;
}

export interface CapSampler {
  stop(): Promise<Samples>;
}

/** Starts sampling; `stop` ends it and returns what was seen. */
export async function startCapSampler(job: Job): Promise<CapSampler> {
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return {
    stop: () =>
      new Promise<Samples>((resolve, reject) => {
        worker.once('message', (samples: Samples) => {
          void worker.terminate().then(() => resolve(samples), reject);
        });
        worker.once('error', reject);
        worker.postMessage('stop');
      }),
  };
}

async function sample(job: Job): Promise<void> {
  const redis = createRedis({ url: job.redisUrl, cluster: false });
  const samples: Samples = { count: 0, peakUsedOfCap: 0, overCap: 0, reservationMicros: null };
  let stopping = false;
  parentPort?.once('message', () => {
    stopping = true;
  });
  await redis.ping();
  parentPort?.postMessage('ready');
  while (!stopping) {
    const multi = redis.multi();
    for (const pool of job.pools) {
      multi.hget(pool.spent.key, pool.spent.field).hget(pool.reserved.key, pool.reserved.field);
    }
    if (samples.reservationMicros === null) multi.hrandfield(job.reservationDataKey, 1, 'WITHVALUES');
    const replies = (await multi.exec()) ?? [];
    let over = false;
    job.pools.forEach((pool, index) => {
      const value = Number(replies[2 * index]?.[1] ?? 0);
      const spent = pool.spent.fromBalance ? pool.capMicros - value : value;
      const used = spent + Number(replies[2 * index + 1]?.[1] ?? 0);
      samples.peakUsedOfCap = Math.max(samples.peakUsedOfCap, used / pool.capMicros);
      over ||= used > pool.capMicros;
    });
    if (over) samples.overCap++;
    const held = replies[2 * job.pools.length]?.[1] as string[] | undefined;
    if (held?.[1]) samples.reservationMicros = (JSON.parse(held[1]) as { a: number }).a;
    samples.count++;
    // About a thousand samples a second: enough to catch a reservation held over the cap (held for
    // as long as its model call runs), without taking a core from the service under test.
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await redis.quit();
  parentPort?.postMessage(samples);
}

if (!isMainThread && parentPort) await sample(workerData as Job);
