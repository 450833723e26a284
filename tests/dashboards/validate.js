#!/usr/bin/env node
// Validates Grafana dashboard JSON files against JSON schemas generated
// from the TypeScript types of the pinned @grafana/schema package (with
// ts-json-schema-generator), using ajv.
//
//   node tests/dashboards/validate.js dashboards/*.json
//   node tests/dashboards/validate.js --no-cache FILE...   regenerate schemas
//
// Exit status: 0 when every file is valid, 1 when any is not, 2 for a
// usage or setup problem (missing node_modules: run tests/dashboards/setup.sh).
//
// What is checked, and against which type:
//   whole file          Dashboard     (raw/dashboard/x/types.gen.d.ts)
//   each row panel      RowPanel
//   each other panel    Panel; its type must be a core panel listed in
//                       PANEL_TYPES below (a panelcfg of @grafana/schema)
//   panel.options       that panel's Options (raw/composable/<p>/panelcfg)
//   fieldConfig.defaults.custom
//                       that panel's FieldConfig; must be absent or empty
//                       when the panel declares none
//   fieldConfig.overrides[].properties[]
//                       "custom.X": property X of the panel's FieldConfig;
//                       any other id: that property of the dashboard's
//                       FieldConfig (unit, color, mappings, thresholds, ...)
//   panel.targets[]     DataQuery (common types) plus the Prometheus query
//                       fields in PROM_QUERY_FIELDS (the Prometheus query
//                       type is not part of @grafana/schema)
// The Dashboard type alone leaves panel options, targets, custom field
// config and override values as `unknown`/`Record<string, unknown>`; the
// per-panel checks above are what make those parts strict. Transformation
// options and matcher options stay unchecked (typed `unknown` upstream).
//
// Generated schemas are cached in .cache/dashboard-schema/<key>/ at the
// repository root (gitignored), keyed by package-lock.json and this file's
// generator settings; DASHBOARD_SCHEMA_CACHE overrides the directory.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const HERE = __dirname;
const REPO = path.resolve(HERE, "..", "..");

function need(mod) {
  try {
    return require(require.resolve(mod, { paths: [HERE] }));
  } catch (e) {
    console.error(`validate.js: cannot load ${mod} (${e.code || e.message}); ` +
      "run: bash tests/dashboards/setup.sh");
    process.exit(2);
  }
}

// Grafana panel type id -> directory under raw/composable/ in @grafana/schema.
const PANEL_TYPES = {
  timeseries: "timeseries",
  stat: "stat",
  table: "table",
  bargauge: "bargauge",
  gauge: "gauge",
  piechart: "piechart",
  text: "text",
  "state-timeline": "statetimeline",
  "status-history": "statushistory",
  barchart: "barchart",
  histogram: "histogram",
  heatmap: "heatmap",
};

// Fields of Grafana's Prometheus query (PromQuery in the Prometheus data
// source), on top of the common DataQuery (refId, hide, queryType,
// datasource).
const PROM_QUERY_FIELDS = {
  expr: { type: "string", minLength: 1 },
  legendFormat: { type: "string" },
  instant: { type: "boolean" },
  range: { type: "boolean" },
  exemplar: { type: "boolean" },
  format: { enum: ["time_series", "table", "heatmap"] },
  interval: { type: "string" },
  intervalFactor: { type: "number" },
  editorMode: { enum: ["code", "builder"] },
};

const GEN_OPTIONS = { skipTypeCheck: true, expose: "export", topRef: true,
  jsDoc: "none", additionalProperties: false };

function schemaRoot() {
  const pkg = require.resolve("@grafana/schema/package.json", { paths: [HERE] });
  return path.join(path.dirname(pkg), "dist", "types");
}

function cacheDir(noCache) {
  const lock = path.join(HERE, "package-lock.json");
  const key = crypto.createHash("sha256")
    .update(fs.readFileSync(lock))
    .update(JSON.stringify({ GEN_OPTIONS, PANEL_TYPES, v: 1 }))
    .digest("hex").slice(0, 16);
  const base = process.env.DASHBOARD_SCHEMA_CACHE ||
    path.join(REPO, ".cache", "dashboard-schema");
  const dir = path.join(base, key);
  if (noCache) fs.rmSync(dir, { recursive: true, force: true });
  if (!fs.existsSync(dir) && fs.existsSync(base)) {
    // Schemas of other package versions: stale.
    for (const old of fs.readdirSync(base)) {
      if (/^[0-9a-f]{16}$/.test(old)) {
        fs.rmSync(path.join(base, old), { recursive: true, force: true });
      }
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// Generates (or reads from the cache) the schema of `type` in `file`
// (relative to @grafana/schema's dist/types); null when the file does not
// declare that type.
function makeSchemaLoader(dir) {
  let tsj = null;
  const root = schemaRoot();
  return function load(name, file, type) {
    const cached = path.join(dir, `${name}.json`);
    if (fs.existsSync(cached)) {
      const s = JSON.parse(fs.readFileSync(cached, "utf8"));
      return s.absent ? null : s;
    }
    const src = path.join(root, file);
    const text = fs.readFileSync(src, "utf8");
    let schema = { absent: true };
    // Only a type this very file declares: the generator would otherwise
    // pick a same-named type from an imported module.
    if (new RegExp(`export (interface|type|declare enum) ${type}\\b`).test(text)) {
      tsj = tsj || need("ts-json-schema-generator");
      schema = tsj.createGenerator({ ...GEN_OPTIONS, path: src, type })
        .createSchema(type);
      schema.$id = name;
    }
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(schema, null, 1));
    fs.renameSync(tmp, cached);
    return schema.absent ? null : schema;
  };
}

function main(argv) {
  const noCache = argv.includes("--no-cache");
  const files = argv.filter((a) => a !== "--no-cache");
  if (files.length === 0 || files.some((f) => f.startsWith("-"))) {
    console.error("usage: node validate.js [--no-cache] DASHBOARD.json...");
    return 2;
  }
  const Ajv = need("ajv");
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const load = makeSchemaLoader(cacheDir(noCache));

  const dash = load("dashboard", "raw/dashboard/x/types.gen.d.ts", "Dashboard");
  ajv.addSchema(dash);
  const dataQuery = load("dataquery", "common/common.gen.d.ts", "DataQuery");
  const dqDef = dataQuery.definitions.DataQuery;
  const target = {
    ...dqDef,
    properties: { ...dqDef.properties, ...PROM_QUERY_FIELDS },
    additionalProperties: false,
  };
  const v = {
    dashboard: ajv.getSchema("dashboard"),
    panel: ajv.compile({ $ref: "dashboard#/definitions/Panel" }),
    row: ajv.compile({ $ref: "dashboard#/definitions/RowPanel" }),
    target: ajv.compile(target),
  };
  const fieldConfigProps = dash.definitions.FieldConfig.properties;
  const fcProp = {};
  const panelV = {};

  function panelValidators(type) {
    if (!(type in panelV)) {
      const dir = PANEL_TYPES[type];
      if (!dir) {
        panelV[type] = null;
      } else {
        const file = `raw/composable/${dir}/panelcfg/x/types.gen.d.ts`;
        const opts = load(`${dir}.Options`, file, "Options");
        const fc = load(`${dir}.FieldConfig`, file, "FieldConfig");
        if (!opts) throw new Error(`${file} declares no Options type`);
        ajv.addSchema(opts);
        if (fc) ajv.addSchema(fc);
        const custom = {};
        if (fc) {
          for (const k of Object.keys(fc.definitions.FieldConfig.properties || {})) {
            custom[k] = ajv.compile({
              $ref: `${dir}.FieldConfig#/definitions/FieldConfig/properties/${k}` });
          }
        }
        panelV[type] = {
          options: ajv.getSchema(`${dir}.Options`),
          custom: fc ? ajv.getSchema(`${dir}.FieldConfig`) : null,
          customProp: custom,
        };
      }
    }
    return panelV[type];
  }

  function fieldConfigProp(k) {
    if (!(k in fcProp)) {
      fcProp[k] = k in fieldConfigProps
        ? ajv.compile({ $ref: `dashboard#/definitions/FieldConfig/properties/${k}` })
        : null;
    }
    return fcProp[k];
  }

  let failed = 0;
  for (const file of files) {
    const errors = [];
    const report = (where, validate) => {
      for (const e of validate.errors || []) {
        const extra = e.params && e.params.additionalProperty
          ? ` '${e.params.additionalProperty}'` : "";
        const line = `${where}${e.instancePath}: ${e.message}${extra}`;
        if (!errors.includes(line)) errors.push(line);
      }
    };
    let doc;
    try {
      doc = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
      errors.push(`cannot read JSON: ${e.message}`);
    }
    let panels = 0;
    let targets = 0;
    if (doc !== undefined) {
      // Panels are checked one by one below, each against its own type
      // (Panel or RowPanel), which is stricter than the Dashboard's
      // anyOf and reports one branch instead of both.
      if (!v.dashboard(doc)) {
        v.dashboard.errors = v.dashboard.errors.filter(
          (e) => !/^\/panels\/\d+(\/|$)/.test(e.instancePath));
        report("", v.dashboard);
      }
      const all = [];
      (Array.isArray(doc.panels) ? doc.panels : []).forEach((p, i) => {
        all.push([`/panels/${i}`, p]);
        if (p && p.type === "row" && Array.isArray(p.panels)) {
          p.panels.forEach((q, j) => all.push([`/panels/${i}/panels/${j}`, q]));
        }
      });
      for (const [where, p] of all) {
        if (!p || typeof p !== "object") continue;
        panels++;
        if (p.type === "row") {
          if (!v.row(p)) report(where, v.row);
          continue;
        }
        if (!v.panel(p)) report(where, v.panel);
        const pv = panelValidators(p.type);
        if (!pv) {
          errors.push(`${where}/type: '${p.type}' is not a core panel type with a ` +
            `schema in @grafana/schema (allowed: ${Object.keys(PANEL_TYPES).join(", ")})`);
          continue;
        }
        if (!pv.options(p.options === undefined ? {} : p.options)) {
          report(`${where}/options`, pv.options);
        }
        const fc = p.fieldConfig || {};
        const custom = fc.defaults && fc.defaults.custom;
        if (custom !== undefined) {
          if (pv.custom) {
            if (!pv.custom(custom)) report(`${where}/fieldConfig/defaults/custom`, pv.custom);
          } else if (Object.keys(custom).length) {
            errors.push(`${where}/fieldConfig/defaults/custom: panel '${p.type}' ` +
              "declares no FieldConfig, custom must be empty");
          }
        }
        (Array.isArray(fc.overrides) ? fc.overrides : []).forEach((o, i) => {
          ((o && o.properties) || []).forEach((pr, j) => {
            const at = `${where}/fieldConfig/overrides/${i}/properties/${j}`;
            if (!pr || typeof pr.id !== "string") return; // Panel schema reports it
            let check;
            if (pr.id.startsWith("custom.")) {
              check = pv.customProp[pr.id.slice(7)];
            } else {
              check = fieldConfigProp(pr.id);
            }
            if (!check) {
              errors.push(`${at}/id: '${pr.id}' is not a field config property of ` +
                `'${p.type}'`);
            } else if (pr.value !== undefined && !check(pr.value)) {
              report(`${at}/value`, check);
            }
          });
        });
        (Array.isArray(p.targets) ? p.targets : []).forEach((t, i) => {
          targets++;
          if (!v.target(t)) report(`${where}/targets/${i}`, v.target);
        });
      }
    }
    if (errors.length) {
      failed++;
      console.log(`FAIL ${file}: ${errors.length} error(s)`);
      for (const e of errors) console.log(`  ${e}`);
    } else {
      console.log(`ok   ${file}: ${panels} panels, ${targets} queries valid`);
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
