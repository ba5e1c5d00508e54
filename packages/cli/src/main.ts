import { Command, CommanderError } from 'commander';
import { registerAgents } from './commands/agents.ts';
import { registerApiKeys } from './commands/api-keys.ts';
import { registerAuth } from './commands/auth.ts';
import { registerBudgets, registerUsers } from './commands/budgets.ts';
import { registerCredits, registerReconcile } from './commands/credits.ts';
import { registerDomains, registerEmbedKeys } from './commands/embedding.ts';
import { registerOrg } from './commands/org.ts';
import { registerServers } from './commands/servers.ts';
import { registerUsage } from './commands/usage.ts';
import { examples } from './context.ts';
import { ApiRefusal, CommandFailure, exitCodes, UsageError } from './errors.ts';
import { version } from './version.ts';

export function createProgram(): Command {
  const program = new Command('mcpstack')
    .description(
      'The MCP Stack Agents command line: a thin client of the public REST API.\n\n' +
        'Configuration: MCPSTACK_API_URL (default http://localhost:8787), MCPSTACK_API_KEY (else the key stored by\n' +
        '`auth service-account login`), MCPSTACK_ORG_ID or --org (else the stored key’s organization).\n' +
        'Exit codes: 0 ok, 1 the API refused (its error code and message on stderr), 2 a usage error.',
    )
    .version(version)
    .option('--org <orgId>', 'the organization to act on (MCPSTACK_ORG_ID)')
    .option('--api-url <url>', 'the service URL (MCPSTACK_API_URL)')
    .option('--json', "print the API's own JSON instead of tables")
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureHelp({ showGlobalOptions: true })
    .addHelpText(
      'after',
      examples(
        'mcpstack auth service-account login --key "$MCPSTACK_API_KEY"',
        'mcpstack api-keys create --name automation-bot --role developer',
        'mcpstack servers list --json',
        'mcpstack budgets set agent_… --monthly-usd 500 --default-user-usd 5 --enable',
        'mcpstack credits ledger --csv --from 2025-01-01T00:00:00Z > ledger.csv',
      ),
    );
  registerAuth(program);
  registerOrg(program);
  registerApiKeys(program);
  registerServers(program);
  registerAgents(program);
  registerBudgets(program);
  registerUsers(program);
  registerEmbedKeys(program);
  registerDomains(program);
  registerUsage(program);
  registerCredits(program);
  registerReconcile(program);
  // A group without its subcommand (`mcpstack credits`) prints its help and is a usage error.
  for (const command of allCommands(program)) {
    if (command.commands.length > 0 && command !== program) {
      command.action(() => {
        command.outputHelp({ error: true });
        throw new UsageError(`${command.name()}: name a subcommand`);
      });
    }
  }
  return program;
}

function* allCommands(command: Command): Generator<Command> {
  yield command;
  for (const child of command.commands) yield* allCommands(child);
}

/** Runs one command line; answers the exit code (0 ok, 1 the API refused, 2 usage). */
export async function run(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv]);
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with 0; every other commander error is a usage error.
      return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n`);
      return exitCodes.usage;
    }
    if (error instanceof ApiRefusal) {
      const status = error.status === null ? '' : ` (HTTP ${error.status})`;
      process.stderr.write(`error: ${error.code}: ${error.message}${status}\n`);
      return exitCodes.refused;
    }
    if (error instanceof CommandFailure) {
      process.stderr.write(`error: ${error.message}\n`);
      return exitCodes.refused;
    }
    throw error;
  }
}
