// Builds the demo app `concord serve` serves at / (demo/web/) into dist/demo/: the page and its
// stylesheet copied, its script bundled for browsers by esbuild from the BUILT package (run after
// tsc), resolved the way an app's bundler resolves `concord-store`, so the bundle is what an app
// would ship. Prints the bundle's size.
import { copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}dist/demo/`;
mkdirSync(out, { recursive: true });
for (const file of ["index.html", "style.css"]) copyFileSync(`${root}demo/web/${file}`, `${out}${file}`);
const result = await build({
  entryPoints: [`${root}demo/web/app.ts`],
  outfile: `${out}app.js`,
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  // The package itself, as built in dist/ (its package.json's `browser` field applies), not src/.
  alias: { "concord-store": root.replace(/\/$/, "") },
  tsconfigRaw: { compilerOptions: {} },
  metafile: true,
  logLevel: "warning",
});
const bytes = Object.entries(result.metafile.outputs).find(([name]) => name.endsWith("app.js"))?.[1].bytes ?? 0;
process.stdout.write(`demo: dist/demo/app.js ${(bytes / 1024).toFixed(1)} KiB\n`);
