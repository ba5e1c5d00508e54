/** The package version, replaced at build time (see vite.config.ts). */
declare const __SDK_VERSION__: string;

/** Vite's `?inline` CSS import: the processed, minified stylesheet as a string. */
declare module '*.css?inline' {
  const css: string;
  export default css;
}
