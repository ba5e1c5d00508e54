/**
 * `npm run size -w @mcpstack/console`: what the console's first page costs a browser, gzip, and a
 * failure (exit 1) past the budget. The first page is index.html plus every script and stylesheet
 * it names (its entry chunk and what that chunk preloads); the build runs this last.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

export const firstPageBudgetBytes = 60 * 1024;
const dist = new URL('../dist/', import.meta.url);

export function measureFirstPage(): {
  files: { name: string; rawBytes: number; gzipBytes: number }[];
  gzipBytes: number;
} {
  const html = readFileSync(new URL('index.html', dist), 'utf8');
  const named = [...html.matchAll(/(?:src|href)="\/console\/([^"]+)"/g)].map((match) => match[1]!);
  const files = ['index.html', ...named].map((name) => {
    const body = readFileSync(new URL(name, dist));
    return { name, rawBytes: body.length, gzipBytes: gzipSync(body, { level: 9 }).length };
  });
  return { files, gzipBytes: files.reduce((sum, file) => sum + file.gzipBytes, 0) };
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB`;
  const { files, gzipBytes } = measureFirstPage();
  for (const file of files)
    console.log(`  ${file.name}: ${kb(file.rawBytes)} raw, ${kb(file.gzipBytes)} gzip`);
  const assets = readdirSync(new URL('assets/', dist)).filter((name) => !name.endsWith('.map'));
  const line = `console first page: ${kb(gzipBytes)} gzip in ${files.length} files (budget ${kb(firstPageBudgetBytes)}; ${assets.length} assets built)`;
  if (gzipBytes > firstPageBudgetBytes) {
    console.error(`${line}: over budget by ${gzipBytes - firstPageBudgetBytes} bytes`);
    process.exit(1);
  }
  console.log(line);
}
