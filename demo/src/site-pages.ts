import type { HtmlTagDescriptor } from 'vite';

/** The pages of the sample website (demo/site/), in the order of its nav. */
const pages = [
  { href: '/', label: 'Launcher bubble' },
  { href: '/inline.html', label: 'Inline' },
  { href: '/account.html', label: 'Signed-in user' },
];

/**
 * What every page of the sample website shares, added by the demo's Vite plugin as it serves the
 * page (the pages are templates already: it writes the keys into them): the charset, the viewport,
 * site.css and the nav between the pages. A page holds its title and its own content.
 */
export const sharedPageTags: HtmlTagDescriptor[] = [
  { tag: 'meta', attrs: { charset: 'utf-8' }, injectTo: 'head-prepend' },
  {
    tag: 'meta',
    attrs: { name: 'viewport', content: 'width=device-width, initial-scale=1' },
    injectTo: 'head-prepend',
  },
  { tag: 'link', attrs: { rel: 'stylesheet', href: '/site.css' }, injectTo: 'head' },
  {
    tag: 'nav',
    children: pages.map(({ href, label }) => `<a href="${href}">${label}</a>`).join(' · '),
    injectTo: 'body-prepend',
  },
];
