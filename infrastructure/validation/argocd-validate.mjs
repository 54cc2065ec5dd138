#!/usr/bin/env node
// Validates Argo CD manifests (Application, AppProject, ApplicationSet) offline against the CRD
// schemas shipped in @kubernetes-models/argo-cd, and rejects fields those schemas do not define:
// the CRDs accept unknown fields and the API server silently drops them, so a misspelt
// `automated` would quietly turn automated sync off.
//
//   node infrastructure/validation/argocd-validate.mjs FILE...
//
// FILE is YAML (.yaml/.yml, any number of documents) or JSON (.json: one document or an array).
// No YAML parser is installed for node here, so YAML files are converted to JSON by Python's
// PyYAML: $MLOPS_PYTHON, else the repository's .venv/bin/python, else python3.
//
// Prints one `FILE: Kind/name: /json/path: problem` line per problem. Exit status: 0 all valid,
// 1 problems found, 2 bad usage or unreadable input.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { AppProject, Application, ApplicationSet } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1";
// The raw compiled validators: the strict pass below needs to watch which fields they read.
import { validate as validateApplication } from "./node_modules/@kubernetes-models/argo-cd/_schemas/ArgoprojIoV1alpha1Application.mjs";
import { validate as validateAppProject } from "./node_modules/@kubernetes-models/argo-cd/_schemas/ArgoprojIoV1alpha1AppProject.mjs";
import { validate as validateApplicationSet } from "./node_modules/@kubernetes-models/argo-cd/_schemas/ArgoprojIoV1alpha1ApplicationSet.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const API_VERSION = "argoproj.io/v1alpha1";
const KINDS = {
  Application: { Model: Application, raw: validateApplication },
  AppProject: { Model: AppProject, raw: validateAppProject },
  ApplicationSet: { Model: ApplicationSet, raw: validateApplicationSet },
};

// Fields the compiled schemas leave out (the generator stripped every key named "description",
// properties included): accepted when they hold a string.
const SCHEMA_GAPS = {
  AppProject: [/^\/spec\/description$/, /^\/spec\/roles\/\d+\/description$/],
};

const YAML_TO_JSON = `
import json, sys
import yaml
out = {}
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as fh:
            out[path] = {"documents": [d for d in yaml.safe_load_all(fh) if d is not None]}
    except (OSError, yaml.YAMLError) as exc:
        out[path] = {"error": " ".join(str(exc).split())}
json.dump(out, sys.stdout, default=str)
`;

function python() {
  if (process.env.MLOPS_PYTHON) return process.env.MLOPS_PYTHON;
  const venv = resolve(HERE, "..", "..", ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}

/** { file: {documents} | {error} } for every input file. */
function load(files) {
  const loaded = {};
  const yamlFiles = files.filter((f) => /\.ya?ml$/i.test(f));
  if (yamlFiles.length > 0) {
    let out;
    try {
      out = execFileSync(python(), ["-c", YAML_TO_JSON, ...yamlFiles], {
        encoding: "utf-8",
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (err) {
      console.error(`cannot convert YAML with ${python()} (needs PyYAML): ${err.message.split("\n")[0]}`);
      process.exit(2);
    }
    Object.assign(loaded, JSON.parse(out));
  }
  for (const file of files.filter((f) => !/\.ya?ml$/i.test(f))) {
    try {
      const parsed = JSON.parse(readFileSync(file, "utf-8"));
      loaded[file] = { documents: Array.isArray(parsed) ? parsed : [parsed] };
    } catch (err) {
      loaded[file] = { error: err.message };
    }
  }
  return loaded;
}

function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * A copy of `value` whose objects are proxies recording which keys the validator reads.
 * The compiled validator reads every property its schema declares, so in an object it looked
 * into, a key it never read is not in the schema. Objects it never looks into (free-form
 * values such as Helm valuesObject or list-generator elements) and maps it enumerates
 * (labels, annotations) are not judged.
 */
function traced(value, path, trackers) {
  if (Array.isArray(value)) return value.map((item, i) => traced(item, `${path}/${i}`, trackers));
  if (!isPlainObject(value)) return value;
  const tracker = { path, keys: Object.keys(value), read: new Set(), enumerated: false };
  trackers.push(tracker);
  const copy = {};
  for (const [key, child] of Object.entries(value)) {
    copy[key] = traced(child, `${path}/${escapePointer(key)}`, trackers);
  }
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") tracker.read.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") tracker.read.add(key);
      return Reflect.has(target, key);
    },
    getOwnPropertyDescriptor(target, key) {
      if (typeof key === "string") tracker.read.add(key);
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    ownKeys(target) {
      tracker.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

function escapePointer(key) {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

function distance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

function unknownFields(doc, raw, gaps) {
  const trackers = [];
  raw(traced(doc, "", trackers));
  const problems = [];
  for (const t of trackers) {
    if (t.enumerated || t.read.size === 0) continue;
    const known = [...t.read].filter((k) => !t.keys.includes(k));
    for (const key of t.keys.filter((k) => !t.read.has(k))) {
      const path = `${t.path}/${escapePointer(key)}`;
      if (gaps.some((re) => re.test(path))) {
        if (typeof pointer(doc, path) !== "string") problems.push(`${path}: must be string`);
        continue;
      }
      const close = known
        .map((k) => [distance(key.toLowerCase(), k.toLowerCase()), k])
        .filter(([d]) => d <= 2)
        .sort((x, y) => x[0] - y[0]);
      const hint = close.length > 0 ? ` (did you mean "${close[0][1]}"?)` : "";
      problems.push(`${path}: unknown field${hint}`);
    }
  }
  return problems;
}

function pointer(doc, path) {
  return path
    .split("/")
    .slice(1)
    .reduce((node, part) => node?.[part.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
}

function schemaErrors(doc, Model) {
  try {
    new Model(doc).validate();
    return [];
  } catch (err) {
    if (!Array.isArray(err.errors)) throw err;
    return err.errors.map((e) => {
      const detail = e.params?.allowedValues ? ` (${e.params.allowedValues.join(", ")})` : "";
      return `${e.instancePath || "/"}: ${e.message}${detail}`;
    });
  }
}

function check(doc) {
  if (!isPlainObject(doc)) return { ref: "<document>", problems: ["/: not a mapping"] };
  const kind = doc.kind;
  const ref = `${kind ?? "<no kind>"}/${doc.metadata?.name ?? "<unnamed>"}`;
  if (!(kind in KINDS)) {
    return { ref, problems: [`/kind: not an Argo CD kind (${Object.keys(KINDS).join(", ")})`] };
  }
  if (doc.apiVersion !== API_VERSION) {
    return { ref, problems: [`/apiVersion: must be ${API_VERSION}`] };
  }
  const { Model, raw } = KINDS[kind];
  return { ref, problems: [...schemaErrors(doc, Model), ...unknownFields(doc, raw, SCHEMA_GAPS[kind] ?? [])] };
}

function main(argv) {
  const files = argv.slice(2);
  if (files.length === 0 || files.some((f) => f.startsWith("-"))) {
    console.error("usage: node argocd-validate.mjs FILE.yaml|FILE.json...");
    return 2;
  }
  const loaded = load(files);
  let documents = 0;
  let problems = 0;
  for (const file of files) {
    const entry = loaded[file];
    if (entry.error !== undefined) {
      console.log(`${file}: cannot read: ${entry.error}`);
      problems++;
      continue;
    }
    for (const doc of entry.documents) {
      documents++;
      const result = check(doc);
      for (const p of result.problems) console.log(`${file}: ${result.ref}: ${p}`);
      problems += result.problems.length;
    }
  }
  const verdict = problems === 0 ? "valid" : `${problems} problem(s)`;
  console.log(`${documents} Argo CD document(s) in ${files.length} file(s): ${verdict}`);
  return problems === 0 ? 0 : 1;
}

process.exitCode = main(process.argv);
