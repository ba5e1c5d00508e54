import type { ComponentChildren } from 'preact';

/** A column of a `Table`: its heading; `number` for figures, aligned right. */
export type Column = string | { heading: string; number: true };

/**
 * A table of the console: a heading row from `columns` (`false` leaves a column out, for a
 * column only some keys or some data have), then `children`, its rows.
 */
export function Table({
  columns,
  class: className,
  caption,
  children,
}: {
  columns: (Column | false)[];
  class?: string;
  /** Said to screen readers only. */
  caption?: string;
  children: ComponentChildren;
}) {
  return (
    <table class={className}>
      {caption && <caption class="visually-hidden">{caption}</caption>}
      <thead>
        <tr>
          {columns.map((column) =>
            column === false ? null : typeof column === 'string' ? (
              <th key={column} scope="col">
                {column}
              </th>
            ) : (
              <th key={column.heading} scope="col" class="number">
                {column.heading}
              </th>
            ),
          )}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}
