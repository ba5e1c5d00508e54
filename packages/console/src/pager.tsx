import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';

/** Where a reader is in a cursor-paged list: the cursor of the page shown, and the way back to the first. */
export interface Cursors {
  /** The cursor of the page shown; `undefined` on the first. */
  cursor: string | undefined;
  /** The page shown, counting from 1. */
  page: number;
  /** Back to the first page (the filters changed). */
  first(): void;
  back(): void;
  forward(nextCursor: string): void;
}

export function useCursors(): Cursors {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  return {
    cursor: cursors.at(-1),
    page: cursors.length,
    first: () => setCursors([undefined]),
    back: () => setCursors(cursors.slice(0, -1)),
    forward: (nextCursor) => setCursors([...cursors, nextCursor]),
  };
}

/** The buttons under a paged table: back (none on the first page), what is shown, and on (none on the last). */
export function Pager({
  label,
  cursors,
  nextCursor,
  back,
  forward,
  children,
}: {
  label: string;
  cursors: Cursors;
  /** The answer's `nextCursor`: `null` on the last page. */
  nextCursor: string | null;
  back: string;
  forward: string;
  children: ComponentChildren;
}) {
  return (
    <nav class="pager" aria-label={label}>
      <button type="button" class="secondary" disabled={cursors.page === 1} onClick={() => cursors.back()}>
        {back}
      </button>
      <span>{children}</span>
      <button
        type="button"
        class="secondary"
        disabled={!nextCursor}
        onClick={() => nextCursor && cursors.forward(nextCursor)}
      >
        {forward}
      </button>
    </nav>
  );
}
