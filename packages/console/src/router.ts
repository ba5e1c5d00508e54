import { useEffect, useState } from 'preact/hooks';

/**
 * A path router under `/console/`: the service answers index.html for every path below it, so
 * a page can be reloaded, bookmarked or be Stripe's return URL.
 */
export const base = '/console/';

export function currentPath(): string {
  const path = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : '';
  return path.replace(/\/+$/, '');
}

export function navigate(path: string): void {
  history.pushState(null, '', `${base}${path}`);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** The current path, and a count of visits that grows on every navigation (even to the same page). */
export function usePath(): { path: string; visit: number } {
  const [location, setLocation] = useState(() => ({ path: currentPath(), visit: 0 }));
  useEffect(() => {
    const update = () => setLocation((previous) => ({ path: currentPath(), visit: previous.visit + 1 }));
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return location;
}

/** A same-app link: a real `<a href>` (open in a new tab works), routed without a reload. */
export function onLinkClick(event: MouseEvent): void {
  const anchor = event.currentTarget as HTMLAnchorElement;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(anchor.getAttribute('href')!.slice(base.length));
}
