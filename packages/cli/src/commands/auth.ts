import type { Command } from 'commander';
import { createApiClient, unwrap } from '../client.ts';
import { configFile, removeStoredConfig, writeStoredConfig } from '../config.ts';
import { contextOf, examples } from '../context.ts';
import { UsageError } from '../errors.ts';
import { record } from '../output.ts';

export function registerAuth(program: Command): void {
  const auth = program
    .command('auth')
    .description('Log in with a service-account key, log out, see who you are')
    .addHelpText(
      'after',
      examples('mcpstack auth service-account login --key "$MCPSTACK_API_KEY"', 'mcpstack auth whoami'),
    );

  const serviceAccount = auth.command('service-account').description('Service-account keys (mcpstack_sk_…)');
  serviceAccount
    .command('login')
    .description(
      `Check a key against the API and store it (with its organization) in ${configFile()}, readable by you only (0600). The key is never printed.`,
    )
    .option('--key <key>', 'the service-account key; MCPSTACK_API_KEY when absent')
    .addHelpText(
      'after',
      examples(
        'mcpstack auth service-account login --key "$MCPSTACK_API_KEY"',
        'MCPSTACK_API_URL=https://agents.example.com mcpstack auth service-account login --key "$KEY"',
      ),
    )
    .action(async (options: { key?: string }, command: Command) => {
      const context = await contextOf(command, { needsKey: false });
      const key = options.key ?? process.env.MCPSTACK_API_KEY;
      if (!key) throw new UsageError('Pass --key <key> or set MCPSTACK_API_KEY');
      const api = createApiClient(context.settings.apiUrl, key);
      const caller = await unwrap(context.settings.apiUrl, api.GET('/api/v1/cli/whoami'));
      await writeStoredConfig({
        apiUrl: context.settings.apiUrl,
        apiKey: key,
        ...(caller.organizationId !== null && { organizationId: caller.organizationId }),
      });
      if (context.output.json) {
        context.show(caller);
        return;
      }
      const who =
        caller.type === 'operator'
          ? 'the operator'
          : `${caller.name} (${caller.roleKey}) in ${caller.organizationId}`;
      context.output.write(
        `Logged in to ${context.settings.apiUrl} as ${who}. Key stored in ${configFile()}.\n`,
      );
    });

  auth
    .command('logout')
    .description('Forget the stored key (MCPSTACK_API_KEY, when set, still applies)')
    .addHelpText('after', examples('mcpstack auth logout'))
    .action(async () => {
      const removed = await removeStoredConfig();
      process.stdout.write(removed ? `Logged out: removed ${configFile()}.\n` : 'Not logged in.\n');
    });

  auth
    .command('whoami')
    .description('Who the current key is: organization, key, role and permissions')
    .addHelpText('after', examples('mcpstack auth whoami', 'mcpstack auth whoami --json'))
    .action(async (_options: unknown, command: Command) => {
      const context = await contextOf(command);
      const caller = await context.call(context.api.GET('/api/v1/cli/whoami'));
      context.show(caller, () => record({ apiUrl: context.settings.apiUrl, ...caller }));
    });
}
