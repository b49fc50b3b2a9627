/**
 * The library's dependencies run one way: model (and the other base folders) → engine → train → cli, with no
 * import loop and no module loaded by a computed path. Reads lib/src with TypeScript's own parser and
 * resolver; type-only imports count too (they are dependencies of the source even if erased at run time).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import ts from "typescript";
import { ROOT } from "../helpers";

const SRC = path.join(ROOT, "lib", "src");

function libProgram(): ts.Program {
  const configPath = path.join(ROOT, "lib", "tsconfig.json");
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, "\n")),
    },
  );
  assert.ok(parsed, configPath);
  return ts.createProgram({ rootNames: parsed.fileNames, options: { ...parsed.options, noEmit: true } });
}

const program = libProgram();
const checker = program.getTypeChecker();
const sources = program
  .getSourceFiles()
  .filter((f) => f.fileName.startsWith(SRC + path.sep) && !f.fileName.endsWith(".d.ts"));
const rel = (file: string) => path.relative(SRC, file).split(path.sep).join("/");

interface Found {
  /** Module → the modules of lib/src it imports (static imports and re-exports, type-only ones too, require/import() of literal paths). */
  imports: Map<string, Set<string>>;
  /** `require(x)` / `import(x)` whose x is not a known string: `file:line  code`. */
  computed: string[];
}

/** A module name that is known before run time: a string literal, or a type that is a union of string literals. */
function isKnownName(arg: ts.Expression): boolean {
  if (ts.isStringLiteralLike(arg)) return true;
  const type = checker.getTypeAtLocation(arg);
  const parts = type.isUnion() ? type.types : [type];
  return parts.every((t) => t.isStringLiteral() && !/^[./]/.test(t.value));
}

function scan(): Found {
  const imports = new Map<string, Set<string>>(),
    computed: string[] = [];
  for (const sf of sources) {
    const from = rel(sf.fileName),
      to = new Set<string>();
    imports.set(from, to);
    const add = (spec: string) => {
      const r = ts.resolveModuleName(spec, sf.fileName, program.getCompilerOptions(), ts.sys).resolvedModule;
      if (r && !r.isExternalLibraryImport && r.resolvedFileName.startsWith(SRC + path.sep))
        to.add(rel(r.resolvedFileName.replace(/\.d\.ts$/, ".ts")));
    };
    const visit = (node: ts.Node): void => {
      if (
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      )
        add(node.moduleSpecifier.text);
      else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
        const e = node.moduleReference.expression;
        if (ts.isStringLiteral(e)) add(e.text);
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
        const lit = node.argument.literal;
        if (ts.isStringLiteral(lit)) add(lit.text);
      } else if (
        ts.isCallExpression(node) &&
        (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
          (ts.isIdentifier(node.expression) && node.expression.text === "require"))
      ) {
        const arg = node.arguments[0];
        if (arg && ts.isStringLiteralLike(arg)) add(arg.text);
        else if (!arg || !isKnownName(arg)) {
          const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
          computed.push(`${from}:${line}  ${node.getText(sf)}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { imports, computed };
}

/** Strongly connected components with more than one member (or a self-loop): the import loops (Tarjan). */
function loops(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>(),
    low = new Map<string, number>(),
    stack: string[] = [],
    onStack = new Set<string>(),
    out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || graph.get(v)?.has(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** A module's part of the library: its top folder under lib/src (`engine`), or the file itself at the top (`errors.ts`). */
const partOf = (module: string) => module.split("/")[0];

/** Each part's place in the one-way chain; every part not named here is a base part (rank 0). */
const RANK: Record<string, number> = { engine: 1, train: 2, serve: 3, cli: 4, "index.ts": 5 };
const rank = (part: string) => RANK[part] ?? 0;

const found = scan();
const parts = new Map<string, Set<string>>();
const crossings: Array<{ from: string; to: string; via: string }> = [];
for (const [from, tos] of found.imports) {
  const a = partOf(from);
  if (!parts.has(a)) parts.set(a, new Set());
  for (const to of tos) {
    const b = partOf(to);
    if (a === b) continue;
    parts.get(a)!.add(b);
    crossings.push({ from: a, to: b, via: `${from} → ${to}` });
  }
}

test("the import graph of lib/src was read (sanity: the known seams are there)", () => {
  assert.ok(sources.length > 50, `${sources.length} source files`);
  const edges = [...found.imports.values()].reduce((n, s) => n + s.size, 0);
  assert.ok(edges > 2 * sources.length, `${edges} imports`);
  assert.ok(found.imports.get("index.ts")?.has("errors.ts"));
  const createRunner = [...(found.imports.get("train/createRunner.ts") ?? [])];
  assert.ok(
    createRunner.some((m) => m.startsWith("engine/")),
    "createRunner imports the engine statically",
  );
});

test("no module of lib/src is loaded by a computed path (require / import() take a literal or a union of package names)", () => {
  assert.deepEqual(found.computed, []);
});

test("no import loop between the modules of lib/src (type-only imports included)", () => {
  assert.deepEqual(loops(found.imports), []);
});

test("no import loop between the parts of lib/src (its folders and top-level files)", () => {
  assert.deepEqual(loops(parts), []);
});

test("dependencies run one way: base parts (model, data, weights, util, …) → engine → train → serve → cli → index.ts", () => {
  const upward = crossings.filter((c) => rank(c.from) < rank(c.to)).map((c) => c.via);
  assert.deepEqual(upward, []);
});
