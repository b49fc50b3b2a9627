// ESLint (flat config): typescript-eslint's recommended type-checked rules for the TypeScript (lib/src,
// test, bench; each file is checked against its nearest tsconfig.json: lib/tsconfig.json for the library,
// the root tsconfig.json for tests and benchmarks), ESLint's plain recommended rules for the Node scripts.
// eslint-config-prettier comes last and turns off every rule that Prettier's formatting would fight.
// Tests and benchmarks import the built package, so their typed lint needs lib/dist (`npm run build` first,
// as `npm test` does). `npm run lint` fixes what it can; `npm run lint:check` (part of `npm test`) only reports.
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import { defineConfig, globalIgnores } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig(
  globalIgnores(["**/dist/", "**/node_modules/", "build/", "data/", "notebooks/", "test/fixtures/", "bench/results/"]),
  {
    // Every eslint-disable comment must suppress a real report (and says why after "--").
    linterOptions: { reportUnusedDisableDirectives: "error" },
  },
  {
    files: ["**/*.{js,mjs,cjs}"],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  {
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs" },
  },
  {
    files: ["**/*.ts"],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test()/describe() return promises that the runner itself awaits and reports; calling
      // them at the top level of a test file is the documented usage, not a forgotten promise.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            {
              from: "package",
              package: "node:test",
              name: ["test", "it", "describe", "suite", "only", "skip", "todo"],
            },
          ],
        },
      ],
    },
  },
  prettier,
);
