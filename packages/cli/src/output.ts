/** Where a command writes: stdout for results, stderr for notes and errors. */
export interface Output {
  json: boolean;
  write(text: string): void;
  note(text: string): void;
}

export const processOutput = (json: boolean): Output => ({
  json,
  write: (text) => process.stdout.write(text),
  note: (text) => process.stderr.write(text),
});

export type Column<Row> = readonly [header: string, value: (row: Row) => unknown];

export function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.map(cell).join(',') || '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value).replace(/\s+/g, ' ');
}

/** Columns of the scalar fields of the rows, in the order the API sends them. */
export function scalarColumns(rows: readonly Record<string, unknown>[]): Column<Record<string, unknown>>[] {
  const names: string[] = [];
  for (const row of rows) {
    for (const [name, value] of Object.entries(row)) {
      const scalar = value === null || ['string', 'number', 'boolean'].includes(typeof value);
      if (scalar && !names.includes(name)) names.push(name);
    }
  }
  return names.map((name) => [name, (row) => row[name]] as const);
}

export function table<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((row) => columns.map(([, value]) => cell(value(row))));
  const headers = columns.map(([header]) => header.toUpperCase());
  const widths = headers.map((header, index) =>
    Math.max(header.length, ...cells.map((line) => (line[index] ?? '').length)),
  );
  const render = (line: readonly string[]) =>
    `${line
      .map((text, index) => (index === line.length - 1 ? text : text.padEnd(widths[index] ?? 0)))
      .join('  ')}\n`;
  return render(headers) + cells.map(render).join('');
}

/** `name  value` lines for an object; nested objects as `parent.child`, lists on one line. */
export function record(value: Record<string, unknown>): string {
  const lines: [string, string][] = [];
  const walk = (object: Record<string, unknown>, prefix: string) => {
    for (const [name, entry] of Object.entries(object)) {
      const key = prefix + name;
      if (entry !== null && typeof entry === 'object' && !Array.isArray(entry)) {
        walk(entry as Record<string, unknown>, `${key}.`);
      } else lines.push([key, cell(entry)]);
    }
  };
  walk(value, '');
  const width = Math.max(0, ...lines.map(([key]) => key.length));
  return lines.map(([key, text]) => `${key.padEnd(width)}  ${text}\n`).join('');
}

/** The API's own JSON, for scripts: what `--json` prints, always. */
export function json(value: unknown): string {
  return `${JSON.stringify(value ?? null, null, 2)}\n`;
}
