/** A typed event emitter in a few lines; a throwing handler never breaks the chat or other handlers. */
export class Emitter<Events extends object> {
  private readonly handlers = new Map<keyof Events, Set<(payload: never) => void>>();

  on<E extends keyof Events>(event: E, handler: (payload: Events[E]) => void): () => void {
    const set = this.handlers.get(event) ?? new Set();
    this.handlers.set(event, set);
    set.add(handler as (payload: never) => void);
    return () => void set.delete(handler as (payload: never) => void);
  }

  emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    for (const handler of this.handlers.get(event) ?? []) {
      try {
        (handler as (payload: Events[E]) => void)(payload);
      } catch (error) {
        // Reported (to the console and window.onerror), not rethrown: a site's handler must not stop the widget.
        globalThis.reportError?.(error);
      }
    }
  }

  clear(): void {
    this.handlers.clear();
  }
}
