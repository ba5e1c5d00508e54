/**
 * Styles a shadow root with `text`, after the sheets it has. A constructable stylesheet is not an
 * inline style: a CSP without 'unsafe-inline' allows it (Chrome 73, Firefox 101, Safari 16.4).
 * Older browsers get a `<style>` carrying the page's nonce, which a nonce-based CSP allows.
 */
export function addStyles(shadow: ShadowRoot, text: string, nonce?: string): void {
  if ((shadow as Partial<ShadowRoot>).adoptedStyleSheets) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(text);
    shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, sheet];
  } else {
    const style = document.createElement('style');
    if (nonce) style.nonce = nonce;
    style.textContent = text;
    shadow.append(style);
  }
}
