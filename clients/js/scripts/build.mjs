// Builds the package's dist/ from the one source, the static file Django serves:
// dist/tickwire-client.js is that file byte for byte, dist/tickwire-client.d.ts the
// declarations TypeScript generates from its JSDoc (tsconfig.json; strict type-check of
// the source on the way). Run by `npm pack` (prepack) and `npm run build`.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const source = path.resolve(root, "../../tickwire/static/tickwire/tickwire-client.js");
const dist = path.join(root, "dist");

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  console.error("typescript is not installed: run `npm ci` in clients/js (make test does)");
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
const run = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.json")], {
  cwd: root,
  stdio: "inherit",
});
if (run.status !== 0) {
  console.error(`tsc failed (exit ${run.status}): the JSDoc of ${source} does not type-check`);
  process.exit(1);
}
copyFileSync(source, path.join(dist, "tickwire-client.js"));
readFileSync(path.join(dist, "tickwire-client.d.ts")); // written by tsc, or this throws
console.log(`built ${path.relative(root, dist)}/ from ${path.relative(root, source)}`);
