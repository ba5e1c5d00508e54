import { type ComponentChild, h as createElement, type VNode } from 'preact';

/** `createElement` for the few plain elements used here, typed as plain vnodes. */
const h = (type: string, props: Record<string, unknown> | null, ...children: ComponentChild[]): VNode =>
  createElement(type, props, ...children) as VNode;

/**
 * A small, safe Markdown renderer for answers: it builds Preact vnodes, so model and tool text
 * only ever becomes text nodes (Preact escapes it; nothing goes through innerHTML). Raw HTML in
 * the text is shown as text. Links are kept only for absolute http(s) and mailto URLs and open in
 * a new tab with `rel="noopener noreferrer"`; any other URL (javascript:, data:, relative) leaves
 * its text alone. Images become links to them. Unclosed fences (a stream in progress) run to the
 * end, so a code block looks right while it arrives.
 *
 * Supported: paragraphs and line breaks, headings, `-`/`*`/`+` and numbered lists (nested by
 * indentation), block quotes, fenced code, horizontal rules, `code`, **bold**,
 * *italic* / _italic_, [links](https://…) and bare https:// links.
 */
export function renderMarkdown(text: string): VNode[] {
  return blocks(text.replace(/\r\n?/g, '\n').split('\n'));
}

const fence = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const heading = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const rule = /^ {0,3}([-*_])( *\1){2,}\s*$/;
const quote = /^ {0,3}> ?/;
const item = /^( *)([-*+]|\d{1,9}[.)])\s+(.*)$/;

/** Whether a line starts a block other than a paragraph (so it ends the paragraph before it). */
const startsBlock = (line: string) =>
  fence.test(line) || heading.test(line) || rule.test(line) || quote.test(line) || item.test(line);

function blocks(lines: string[]): VNode[] {
  const out: VNode[] = [];
  let index = 0;
  while (index < lines.length) {
    const line = lines[index] ?? '';
    const fenced = fence.exec(line);
    if (fenced) {
      const marker = fenced[1] ?? '```';
      const body: string[] = [];
      index += 1;
      while (index < lines.length && !(lines[index] ?? '').trimStart().startsWith(marker)) {
        body.push(lines[index] ?? '');
        index += 1;
      }
      index += 1;
      out.push(codeBlock(body.join('\n'), fenced[2]));
      continue;
    }
    if (line.trim() === '') {
      index += 1;
      continue;
    }
    const title = heading.exec(line);
    if (title) {
      const level = Math.min(6, (title[1] ?? '#').length + 2);
      out.push(h(`h${level}`, null, inline(title[2] ?? '')));
      index += 1;
      continue;
    }
    if (rule.test(line)) {
      out.push(h('hr', null));
      index += 1;
      continue;
    }
    if (quote.test(line)) {
      const body: string[] = [];
      while (index < lines.length && quote.test(lines[index] ?? '')) {
        body.push((lines[index] ?? '').replace(quote, ''));
        index += 1;
      }
      out.push(h('blockquote', null, blocks(body)));
      continue;
    }
    const first = item.exec(line);
    if (first) {
      index = list(lines, index, first, out);
      continue;
    }
    const paragraph: string[] = [];
    while (index < lines.length) {
      const next = lines[index] ?? '';
      if (next.trim() === '' || (paragraph.length > 0 && startsBlock(next))) break;
      paragraph.push(next.trim());
      index += 1;
    }
    out.push(h('p', null, inline(paragraph.join('\n'))));
  }
  return out;
}

function codeBlock(code: string, language: string | undefined): VNode {
  return h('pre', null, h('code', language ? { 'data-lang': language } : null, code));
}

/** A list starting at `start`; returns the index after it. Items indented deeper nest. */
function list(lines: string[], start: number, first: RegExpExecArray, out: VNode[]): number {
  const indent = (first[1] ?? '').length;
  const ordered = /\d/.test(first[2] ?? '');
  const items: VNode[] = [];
  let index = start;
  while (index < lines.length) {
    const match = item.exec(lines[index] ?? '');
    if (!match || (match[1] ?? '').length !== indent || /\d/.test(match[2] ?? '') !== ordered) break;
    const body = [match[3] ?? ''];
    index += 1;
    // The item's own lines: anything indented past the marker, and blank lines between them.
    while (index < lines.length) {
      const next = lines[index] ?? '';
      const nested = item.exec(next);
      if (nested && (nested[1] ?? '').length <= indent) break;
      if (next.trim() === '') {
        const after = lines[index + 1] ?? '';
        if (!/^\s/.test(after) || after.trim() === '') break;
      } else if (!/^\s/.test(next) && !nested) {
        // A lazy continuation line of the item's paragraph.
        if (startsBlock(next)) break;
      }
      body.push(next.replace(new RegExp(`^ {0,${indent + 4}}`), ''));
      index += 1;
    }
    const content = body.length === 1 ? inline(body[0] ?? '') : blocks(body);
    items.push(h('li', null, content));
  }
  out.push(h(ordered ? 'ol' : 'ul', null, items));
  return index;
}

/** An absolute http(s) or mailto URL, normalized; `null` for anything else. */
export function safeUrl(raw: string): string | null {
  try {
    const url = new URL(raw.trim());
    return url.protocol === 'https:' || url.protocol === 'http:' || url.protocol === 'mailto:'
      ? url.href
      : null;
  } catch {
    return null;
  }
}

function link(href: string, children: ComponentChild): VNode {
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, children);
}

// One alternation per inline form; the first that matches at the earliest position wins.
const inlinePattern =
  /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|(\*\*|__)(?=\S)([\s\S]*?\S)\3|(\*|_)(?=[^\s*_])([\s\S]*?[^\s])\5|(!?)\[([^\]\n]*)\]\(\s*<?([^\s()<>]+(?:\([^\s()<>]*\))?)>?(?:\s+["'][^"'\n]*["'])?\s*\)|(https?:\/\/[^\s<>]*[^\s<>.,;:!?'")\]*_~])|\n/g;

const wordChar = /[\p{L}\p{N}]/u;

/** Inline Markdown to vnodes and strings (strings become text nodes). */
export function inline(text: string): ComponentChild[] {
  const out: ComponentChild[] = [];
  const pattern = new RegExp(inlinePattern.source, 'g');
  let last = 0;
  let match = pattern.exec(text);
  while (match !== null) {
    const at = match.index;
    const [whole] = match;
    // `_` inside a word (snake_case names) is not emphasis.
    if ((match[3] === '__' || match[5] === '_') && wordChar.test(text.charAt(at - 1))) {
      pattern.lastIndex = at + 1;
      match = pattern.exec(text);
      continue;
    }
    if (at > last) out.push(text.slice(last, at));
    if (match[1]) out.push(h('code', null, (match[2] ?? '').replace(/^ (.*) $/, '$1')));
    else if (match[3]) out.push(h('strong', null, inline(match[4] ?? '')));
    else if (match[5]) out.push(h('em', null, inline(match[6] ?? '')));
    else if (match[8] !== undefined) {
      const href = safeUrl(match[9] ?? '');
      const label = match[7] ? match[8] || href || '' : inline(match[8]);
      out.push(href ? link(href, label) : match[7] ? match[8] : label);
    } else if (match[10]) {
      const href = safeUrl(match[10]);
      out.push(href ? link(href, match[10]) : match[10]);
    } else out.push(h('br', null));
    last = at + whole.length;
    match = pattern.exec(text);
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
