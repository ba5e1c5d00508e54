/**
 * An incremental parser of server-sent events (the WHATWG event-stream format) for the model's
 * stream: text in as it arrives from the socket, one callback per event's data. Lines may end in
 * LF, CRLF or CR; `:` lines are comments (keep-alives); a `data` field may span several lines;
 * fields other than `data` (`event`, `id`, `retry`) are not needed by the OpenAI protocol and are
 * skipped. It never allocates per character: it slices whole lines out of the buffer.
 */
export class SseParser {
  #buffer = '';
  #data: string | null = null;
  /** A CR ended the last chunk: a LF at the start of the next one belongs to it. */
  #pendingCr = false;
  readonly #onData: (data: string) => void;

  constructor(onData: (data: string) => void) {
    this.#onData = onData;
  }

  /** Feeds decoded text; complete events are delivered before this returns. */
  push(text: string): void {
    let chunk = text;
    if (this.#pendingCr) {
      this.#pendingCr = false;
      if (chunk.charCodeAt(0) === 10) chunk = chunk.slice(1);
    }
    const buffer = this.#buffer.length === 0 ? chunk : this.#buffer + chunk;
    let start = 0;
    const length = buffer.length;
    for (;;) {
      const lf = buffer.indexOf('\n', start);
      const cr = buffer.indexOf('\r', start);
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 < length) next = buffer.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
        else {
          next = cr + 1;
          this.#pendingCr = true;
        }
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else break;
      this.#line(buffer, start, end);
      start = next;
    }
    this.#buffer = start === 0 ? buffer : buffer.slice(start);
  }

  /** The stream ended: an event still being collected is dispatched (servers may omit the last blank line). */
  end(): void {
    if (this.#buffer.length > 0) {
      this.#line(this.#buffer, 0, this.#buffer.length);
      this.#buffer = '';
    }
    this.#dispatch();
  }

  #line(buffer: string, start: number, end: number): void {
    if (start === end) {
      this.#dispatch();
      return;
    }
    const first = buffer.charCodeAt(start);
    if (first === 58 /* : */) return;
    // `data:` with or without the one optional space after the colon.
    if (first === 100 && buffer.startsWith('data:', start)) {
      const valueStart = buffer.charCodeAt(start + 5) === 32 ? start + 6 : start + 5;
      const value = buffer.slice(valueStart, end);
      this.#data = this.#data === null ? value : `${this.#data}\n${value}`;
    }
  }

  #dispatch(): void {
    if (this.#data === null) return;
    const data = this.#data;
    this.#data = null;
    this.#onData(data);
  }
}
