import { EnvError, parseEnv } from './env.ts';
import { startLocalModel } from './server.ts';

let options: ReturnType<typeof parseEnv>;
try {
  options = parseEnv(process.env);
} catch (error) {
  if (!(error instanceof EnvError)) throw error;
  process.stderr.write(`${error.message}\nSee packages/local-model/README.md.\n`);
  process.exit(78);
}

const model = await startLocalModel(options);
process.stdout.write(`local model listening: OPENAI_BASE_URL=${model.url}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    model.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`local model: shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  });
}
