/** CSS files imported for esbuild to bundle into page.css. */
declare module '*.css';
