import type { Command } from 'commander';
import { contextOf, examples, positiveInteger, usd, usdOrNone } from '../context.ts';
import { UsageError } from '../errors.ts';

interface BudgetOptions {
  monthlyUsd?: number | null;
  defaultUserUsd?: number | null;
  anonymousUsd?: number | null;
  resetDay?: number;
  enable?: boolean;
}

export function registerBudgets(program: Command): void {
  const budgets = program
    .command('budgets')
    .description("An agent's budget policy: monthly cap, default per-user cap, anonymous pool")
    .addHelpText(
      'after',
      examples(
        'mcpstack budgets get agent_…',
        'mcpstack budgets set agent_… --monthly-usd 500 --default-user-usd 5 --anonymous-usd 20',
      ),
    );

  budgets
    .command('get')
    .description('The policy and this month’s spend')
    .argument('<agentId>')
    .addHelpText('after', examples('mcpstack budgets get agent_…', 'mcpstack budgets get agent_… --json'))
    .action(async (agentId: string, _options: unknown, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const budget = await context.call(
        context.api.GET('/api/v1/organizations/{orgId}/agents/{agentId}/budget', {
          params: { path: { orgId, agentId } },
        }),
      );
      context.show(budget);
    });

  budgets
    .command('set')
    .description('Change the policy; only the fields given change ("none" removes a cap)')
    .argument('<agentId>')
    .option('--monthly-usd <usd>', 'cap on all traffic of the agent per month, or none', usdOrNone)
    .option('--default-user-usd <usd>', 'cap of each identified user without an override, or none', usdOrNone)
    .option('--anonymous-usd <usd>', 'one pool for all anonymous visitors, or none', usdOrNone)
    .option('--reset-day <day>', 'the day of the month the period starts (1-28, UTC)', positiveInteger)
    .option('--enable', 'apply the caps')
    .option('--disable', 'stop applying the caps (the credit balance still applies)')
    .addHelpText(
      'after',
      examples(
        'mcpstack budgets set agent_… --monthly-usd 500 --default-user-usd 5 --enable',
        'mcpstack budgets set agent_… --anonymous-usd none',
      ),
    )
    .action(async (agentId: string, options: BudgetOptions & { disable?: boolean }, command: Command) => {
      if (options.enable && options.disable) throw new UsageError('--enable and --disable: choose one');
      const body = {
        ...(options.monthlyUsd !== undefined && { monthlyBudgetUsd: options.monthlyUsd }),
        ...(options.defaultUserUsd !== undefined && { defaultUserBudgetUsd: options.defaultUserUsd }),
        ...(options.anonymousUsd !== undefined && { anonymousMonthlyBudgetUsd: options.anonymousUsd }),
        ...(options.resetDay !== undefined && { resetDayOfMonthUtc: options.resetDay }),
        ...(options.enable && { enabled: true }),
        ...(options.disable && { enabled: false }),
      };
      if (Object.keys(body).length === 0)
        throw new UsageError('Nothing to set: pass --monthly-usd, --enable, …');
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const budget = await context.call(
        context.api.PATCH('/api/v1/organizations/{orgId}/agents/{agentId}/budget', {
          params: { path: { orgId, agentId } },
          body,
        }),
      );
      context.show(budget);
    });
}

export function registerUsers(program: Command): void {
  const users = program
    .command('users')
    .description('Identified end users of an agent (the `sub` of the user tokens)')
    .addHelpText('after', examples('mcpstack users budget set user-42 --agent agent_… --monthly-usd 10'));
  const budget = users
    .command('budget')
    .description("A user's own monthly cap, replacing the agent's default")
    .addHelpText(
      'after',
      examples(
        'mcpstack users budget get user-42 --agent agent_…',
        'mcpstack users budget set user-42 --agent agent_… --monthly-usd 10',
        'mcpstack users budget remove user-42 --agent agent_…',
      ),
    );

  budget
    .command('get')
    .description("The user's cap, where it comes from, and this month's spend")
    .argument('<externalUserId>')
    .requiredOption('--agent <agentId>')
    .addHelpText('after', examples('mcpstack users budget get user-42 --agent agent_… --json'))
    .action(async (externalUserId: string, options: { agent: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const result = await context.call(
        context.api.GET(
          '/api/v1/organizations/{orgId}/agents/{agentId}/external-users/{externalUserId}/budget',
          {
            params: { path: { orgId, agentId: options.agent, externalUserId } },
          },
        ),
      );
      context.show(result);
    });

  budget
    .command('set')
    .description('Give the user a cap of their own')
    .argument('<externalUserId>')
    .requiredOption('--agent <agentId>')
    .requiredOption('--monthly-usd <usd>', "the user's monthly cap", usd)
    .addHelpText('after', examples('mcpstack users budget set user-42 --agent agent_… --monthly-usd 10'))
    .action(
      async (externalUserId: string, options: { agent: string; monthlyUsd: number }, command: Command) => {
        const context = await contextOf(command);
        const orgId = context.organizationId();
        const result = await context.call(
          context.api.PUT(
            '/api/v1/organizations/{orgId}/agents/{agentId}/external-users/{externalUserId}/budget',
            {
              params: { path: { orgId, agentId: options.agent, externalUserId } },
              body: { monthlyBudgetUsd: options.monthlyUsd },
            },
          ),
        );
        context.show(result);
      },
    );

  budget
    .command('remove')
    .description("Remove the user's own cap: the agent's default applies again")
    .argument('<externalUserId>')
    .requiredOption('--agent <agentId>')
    .addHelpText('after', examples('mcpstack users budget remove user-42 --agent agent_…'))
    .action(async (externalUserId: string, options: { agent: string }, command: Command) => {
      const context = await contextOf(command);
      const orgId = context.organizationId();
      const result = await context.call(
        context.api.DELETE(
          '/api/v1/organizations/{orgId}/agents/{agentId}/external-users/{externalUserId}/budget',
          { params: { path: { orgId, agentId: options.agent, externalUserId } } },
        ),
      );
      context.show(result ?? { externalUserId, removed: true });
    });
}
