import type { ChatClient } from '../client/client.ts';
import type { WidgetEvents, WidgetOptions } from './widget.ts';

// What the launcher and the panel it loads say to each other. Neither file imports the other:
// the launcher reaches the panel through its loader (load-panel.ts, or load-panel.script.ts for the
// script tag), and both name these types from here.

/** What the launcher hands the panel it loads. */
export interface PanelHost {
  shadow: ShadowRoot;
  /** The `.root` element: the launcher keeps its classes (`open`, theme) and CSS variables. */
  root: HTMLElement;
  options: WidgetOptions;
  apiBase: string;
  inline: boolean;
  /** The launcher's `GET /api/v1/chat/config`, made at once: the panel's client reads its answer. */
  configResponse: Promise<Response>;
  emit<E extends keyof WidgetEvents>(event: E, payload: WidgetEvents[E]): void;
  close(): void;
}

/** The panel as the launcher drives it. */
export interface Panel {
  /** Renders again (the launcher's state changed: open, theme). */
  paint(): void;
  /** Moves focus to the message input. */
  focus(): void;
  identify(userToken: string | null): void;
  sendMessage(text: string): Promise<void>;
  destroy(): void;
  readonly client: ChatClient;
}

/** What the panel's file exports: `import('./panel.ts')` in the ESM build, `window.McpStackPanel` for the script tag. */
export interface PanelModule {
  mountPanel(host: PanelHost): Panel;
}
