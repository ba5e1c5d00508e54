import { type ComponentChild, h } from 'preact';
import { describe, expect, it } from 'vitest';
import { renderMarkdown, safeUrl } from '../src/widget/markdown.ts';

/** Serializes vnodes as HTML, escaping text the way the DOM would show it. */
function html(node: ComponentChild): string {
  if (node === null || node === undefined || typeof node === 'boolean') return '';
  if (Array.isArray(node)) return node.map(html).join('');
  if (typeof node === 'string' || typeof node === 'number') {
    return String(node).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }
  if (typeof node !== 'object' || !('type' in node)) throw new Error(`not a vnode: ${JSON.stringify(node)}`);
  const { children, ...props } = node.props as Record<string, unknown> & { children?: ComponentChild };
  const attributes = Object.entries(props)
    .map(([name, value]) => ` ${name}="${String(value).replace(/"/g, '&quot;')}"`)
    .join('');
  return `<${String(node.type)}${attributes}>${html(children)}</${String(node.type)}>`;
}

const md = (text: string) => html(renderMarkdown(text));

describe('renderMarkdown', () => {
  it('renders the usual answer: paragraphs, emphasis, code, lists, headings, quotes', () => {
    expect(md('Hello **bold** and *em* and _em_ and `x < y`\nnext line\n\nSecond')).toBe(
      '<p>Hello <strong>bold</strong> and <em>em</em> and <em>em</em> and <code>x &lt; y</code><br></br>next line</p><p>Second</p>',
    );
    expect(md('## Title\n- one\n- two\n  - nested\n\n1. first\n2. second')).toBe(
      '<h4>Title</h4><ul><li>one</li><li><p>two</p><ul><li>nested</li></ul></li></ul><ol><li>first</li><li>second</li></ol>',
    );
    expect(md('> quoted *text*\n\n---')).toBe(
      '<blockquote><p>quoted <em>text</em></p></blockquote><hr></hr>',
    );
  });

  it('renders fenced code as text, and an unclosed fence (a stream in progress) to the end', () => {
    expect(md('```ts\nconst a = "<b>";\n```\nafter')).toBe(
      '<pre><code data-lang="ts">const a = "&lt;b&gt;";</code></pre><p>after</p>',
    );
    expect(md('```\nstill coming')).toBe('<pre><code>still coming</code></pre>');
  });

  it('keeps snake_case names whole', () => {
    expect(md('call get_order_status or list_products')).toBe(
      '<p>call get_order_status or list_products</p>',
    );
  });

  it('never turns model text into HTML', () => {
    const hostile =
      '<img src=x onerror=alert(1)><script>alert(2)</script> <a href="javascript:alert(3)">x</a>';
    const out = md(hostile);
    expect(out).toBe(`<p>${hostile.replace(/</g, '&lt;').replace(/>/g, '&gt;')}</p>`);
    // Every vnode made is one of the few plain elements the renderer knows.
    const types = new Set<string>();
    const walk = (node: ComponentChild): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object' && 'type' in node) {
        types.add(String(node.type));
        walk((node.props as { children?: ComponentChild }).children);
      }
    };
    walk(renderMarkdown(`${hostile}\n\n**[a](https://x.test)** \`c\`\n\n- l\n\n> q\n\n\`\`\`\nz\n\`\`\``));
    expect(
      [...types].every((type) =>
        ['p', 'strong', 'a', 'code', 'ul', 'li', 'blockquote', 'pre', 'br'].includes(type),
      ),
    ).toBe(true);
    expect(
      renderMarkdown(hostile).some((node) => (node.props as Record<string, unknown>).dangerouslySetInnerHTML),
    ).toBe(false);
  });

  it('links only http(s) and mailto URLs, opening in a new tab with rel="noopener noreferrer"', () => {
    expect(md('[Docs](https://example.com/a?b=1) and https://example.com/x.')).toBe(
      '<p><a href="https://example.com/a?b=1" target="_blank" rel="noopener noreferrer">Docs</a> and <a href="https://example.com/x" target="_blank" rel="noopener noreferrer">https://example.com/x</a>.</p>',
    );
    expect(md('[mail](mailto:help@example.com)')).toContain('href="mailto:help@example.com"');
    for (const url of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      'data:text/html,<b>x</b>',
      '/relative',
      'vbscript:x',
    ]) {
      const out = md(`[click](${url})`);
      expect(out, url).not.toContain('<a');
      expect(out, url).toContain('click');
    }
    expect(md('![alt text](https://example.com/i.png)')).toBe(
      '<p><a href="https://example.com/i.png" target="_blank" rel="noopener noreferrer">alt text</a></p>',
    );
  });

  it('accepts only absolute http(s) and mailto URLs in safeUrl', () => {
    expect(safeUrl(' https://a.test/x ')).toBe('https://a.test/x');
    expect(safeUrl('java\nscript:alert(1)')).toBeNull();
    expect(safeUrl('//evil.test')).toBeNull();
  });

  it('renders a vnode tree Preact can mount', () => {
    expect(() => h('div', null, renderMarkdown('# a\n\n*b*'))).not.toThrow();
  });
});
