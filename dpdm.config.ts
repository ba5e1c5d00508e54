import { defineConfig } from 'dpdm';

/**
 * `npm run lint` fails on an import cycle between source files: a module of a cycle can run while
 * another is still half-initialized. `transform` drops type-only imports first, as TypeScript erases
 * them: `Deps` names the types of the objects it carries while every domain module names `Deps`, a
 * cycle of types only that never runs. `npm run lint:cycles` then checks the service once more with
 * type-only imports kept, less the edges out of `deps.ts`: a cycle of types elsewhere is a record
 * type in the wrong module (`LlmCallFilter` once lived in the history store, which imports the call).
 *
 * dpdm rather than madge or dependency-cruiser: those parse TypeScript with the project's own
 * `typescript` package, and TypeScript 7 has no JavaScript compiler API; dpdm brings its own.
 */
export default defineConfig({
  files: ['services/chat/src/**/*.ts', 'packages/*/src/**/*.{ts,tsx}'],
  transform: true,
  exitCode: 'circular:1',
  tree: false,
  // Unresolved `?inline` CSS and skipped node_modules: noise, not cycles.
  warning: false,
  progress: false,
});
